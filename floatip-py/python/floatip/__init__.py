"""floatip: floating-IP pod networking on Linux, node side.

A *floating IP* is an address of the physical LAN that follows a pod from
node to node. floatip wires it the routed ("pure L3") way: a veth pair per
pod and no bridge; the pod end holds the floating IP and a default route via
the LAN gateway, the host end a /32 route and proxy ARP, the uplink a proxy
neighbour entry.

This package binds the Rust library of the same name:

* :class:`FloatingIp` -- a validated spec with ``attach``/``detach``/``check``;
* :class:`Host` -- the host namespace kept open, for an agent that wires
  many pods (the same verbs, without reopening it on every call), and what
  is attached on it read back from floatip's owner marks (``list``,
  :class:`Attachment`) and cleaned up (``gc``);
* :class:`Netns` -- create/open/delete named network namespaces (no fork);
* :class:`Handle` -- one rtnetlink socket per namespace: links, veth pairs,
  addresses, routes, neighbour and proxy entries;
* :class:`Announcer` -- gratuitous ARP / unsolicited NA from raw frames,
  blocking or in the background (:class:`BackgroundAnnounce`);
* :class:`ProbeOptions` -- the optional conflict probe before attach
  announces (``FloatingIp(..., conflict_probe=...)``);
* frozen result values (:class:`Link`, :class:`Address`, :class:`Route`,
  :class:`Neighbour`, :class:`Attached`, :class:`Drift`, :class:`Attachment`);
* exceptions deriving from :class:`FloatipError` (an ``OSError``).

Every call that waits on the kernel releases the GIL; every object is safe
to share between threads. See ``docs/python.md``.
"""

from floatip._floatip import (
    DEFAULT_ROUTE_PROTOCOL,
    DEFAULT_RULE_PRIORITY,
    DEFAULT_TABLE_BASE,
    NUD_FAILED,
    NUD_INCOMPLETE,
    NUD_PERMANENT,
    NUD_REACHABLE,
    NUD_STALE,
    PROTO_BOOT,
    PROTO_STATIC,
    RTN_UNICAST,
    SCOPE_LINK,
    SCOPE_UNIVERSE,
    TABLE_MAIN,
    TOMBSTONE_GROUP,
    Address,
    AlreadyExistsError,
    AnnounceOptions,
    AnnounceReport,
    Announcer,
    Attached,
    Attachment,
    BackgroundAnnounce,
    ConflictError,
    Drift,
    FloatingIp,
    FloatipError,
    Handle,
    Host,
    InvalidArgumentError,
    KernelTimeoutError,
    Link,
    Neighbour,
    Netns,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    ProbeOptions,
    ReannounceReport,
    Reannouncer,
    Route,
    WatchReport,
    Watcher,
    __version__,
    default_table,
)

__all__ = [
    "Address",
    "AlreadyExistsError",
    "AnnounceOptions",
    "AnnounceReport",
    "Announcer",
    "Attached",
    "Attachment",
    "BackgroundAnnounce",
    "ConflictError",
    "DEFAULT_ROUTE_PROTOCOL",
    "TOMBSTONE_GROUP",
    "DEFAULT_RULE_PRIORITY",
    "DEFAULT_TABLE_BASE",
    "default_table",
    "Drift",
    "FloatingIp",
    "FloatipError",
    "Handle",
    "Host",
    "InvalidArgumentError",
    "KernelTimeoutError",
    "Link",
    "NUD_FAILED",
    "NUD_INCOMPLETE",
    "NUD_PERMANENT",
    "NUD_REACHABLE",
    "NUD_STALE",
    "Neighbour",
    "Netns",
    "NotFoundError",
    "NotSupportedError",
    "PROTO_BOOT",
    "PROTO_STATIC",
    "PermissionDeniedError",
    "ProbeOptions",
    "RTN_UNICAST",
    "Route",
    "SCOPE_LINK",
    "SCOPE_UNIVERSE",
    "TABLE_MAIN",
    "ReannounceReport",
    "Reannouncer",
    "WatchReport",
    "Watcher",
    "__version__",
]

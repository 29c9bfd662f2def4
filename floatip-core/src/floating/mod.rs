//! Floating IPs: attach, detach and check a pod's floating address.
//!
//! The routed ("pure L3") dataplane, per pod (see `docs/guide.md` for the
//! kernel reasons behind every step):
//!
//! | where | what |
//! |---|---|
//! | pod netns | veth end holding the floating IP, up; `lo` up; default route via the gateway |
//! | host netns | the other veth end, up, no address; `IP/32 dev <host veth> scope link` |
//! | host netns | `neigh.<host veth>.proxy_delay=0`, then `conf.<host veth>.proxy_arp=1` |
//! | host netns | `neigh.<uplink>.proxy_delay=0` and `ip neigh add proxy IP dev <uplink>` (or blanket `proxy_arp` on the uplink) |
//! | host netns | `net.ipv4.ip_forward=1` |
//!
//! IPv6 follows the same pattern with NDP: a `/128` host route, `forwarding`
//! and `proxy_ndp` with per-address proxy entries (the kernel answers NDP for
//! proxied addresses only through such entries), the pod address added with
//! `nodad` and `noprefixroute` so that all its traffic goes through the host.
//!
//! Bridge mode instead enslaves the host veth to an existing bridge: no host
//! route, no proxy ARP; the pod is directly on the LAN's layer 2.
//!
//! [`FloatingIp::attach`] is all or nothing: every step records how to undo
//! itself, and a failure undoes the steps done so far in reverse.

//!
//! Every host-side object an attach makes carries an owner mark
//! ([`mark`]), so that detach removes only what is this attachment's, and
//! [`Host::list`](crate::Host::list) and [`Host::gc`](crate::Host::gc) can
//! read what is attached from the kernel alone.
//!
//! The files show the design: [`spec`] the validated spec (data, no I/O),
//! [`mark`] the owner marks, `attach` the steps with their undo log,
//! `detach`, `check` and `inventory` (list and GC). The verbs run on a
//! [`Host`](crate::Host).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use crate::announce::AnnounceStop;
use crate::conntrack;
use crate::error::{Error, Result};
use crate::link::Link;
use crate::lock::{Kind, Lock, Stripe};
use crate::name::IfName;
use crate::netlink::Handle;
use crate::netns::Netns;
use crate::route::{Route, RouteFilter};

pub(crate) mod attach;
mod check;
mod detach;
mod inventory;
pub mod mark;
mod policy;
mod reannounce;
pub mod spec;

pub use attach::Attached;
pub use check::Drift;
pub(crate) use detach::{flush_retired, Teardown};
pub use inventory::{Attachment, AttachmentState};
pub use mark::{OwnerMark, RulePlan, TOMBSTONE_GROUP};
pub use reannounce::{ReannounceReport, Reannouncer};
pub use spec::{
    default_table, FloatingAddr, FloatingIp, FloatingIpBuilder, Input, Mode, NetnsRef, UplinkArp,
    DEFAULT_RULE_PRIORITY, DEFAULT_TABLE_BASE,
};

/// Where a verb runs: the host side, open, and the namespace the calling
/// thread returns to after each visit elsewhere. A [`Host`](crate::Host)
/// makes one per call.
pub(crate) struct Site<'a> {
    /// The calling thread's namespace.
    pub(crate) home: &'a Netns,
    pub(crate) host_ns: &'a Netns,
    /// The host namespace's nsfs inode: the key of its announcements.
    pub(crate) host_ino: u64,
    pub(crate) host: &'a Handle,
    /// A second socket in the host namespace, opened on first use: for
    /// dumps that run beside `host`'s (see `inventory`).
    pub(crate) aux: &'a crate::netlink::Lazy<Handle>,
    /// The calling thread is in the host namespace already.
    pub(crate) in_host: bool,
    /// The host namespace's conntrack handle, opened on first use.
    pub(crate) conntrack: &'a conntrack::Lazy,
    /// The single-round announcement senders the `Host` keeps.
    pub(crate) senders: &'a crate::announce::SenderPool,
}

impl Site<'_> {
    /// Deletes the host's conntrack entries of `ips` (none when the kernel
    /// has no conntrack); how many it deleted.
    pub(crate) fn flush_conntrack(&self, ips: &[IpAddr]) -> Result<usize> {
        conntrack::flush_host(self.conntrack, self.host_ns, Some(self.home), self.in_host, ips)
    }

    /// The attachment's lock, then its IPs' locks, in the one global order
    /// (so two attaches never wait for each other's second lock).
    pub(crate) fn lock(&self, spec: &FloatingIp) -> Result<Vec<Lock>> {
        let mut stripes = vec![Stripe::of(Kind::Attachment, &spec.attachment_id)];
        stripes.extend(spec.addrs().map(|a| Stripe::of(Kind::Ip, &a.address.addr().to_string())));
        Lock::acquire_all(stripes)
    }

    /// The pod namespace of a spec if it exists, refused when it is the
    /// host namespace itself (by whatever name or path).
    pub(crate) fn pod_netns(&self, spec: &FloatingIp) -> Result<Option<(Netns, u64)>> {
        let ns = match spec.pod_netns.open() {
            Ok(ns) => ns,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(with_what(e, "pod netns")),
        };
        let ino = ns.inode()?;
        if ino == self.host_ino {
            return Err(same_netns(spec));
        }
        Ok(Some((ns, ino)))
    }
}

pub(super) fn same_netns(spec: &FloatingIp) -> Error {
    Error::invalid(
        "pod netns",
        &spec.pod_netns,
        "is the host namespace: the floating IP and a default route would land on the host's own interfaces",
    )
}

/// The background announcements of attachments made in this process, by
/// (host namespace inode, attachment id): detach stops its attachment's
/// rounds, so that an IP no longer attached here is never announced from
/// here (a stale announcement is how split brain starts).
static ANNOUNCEMENTS: Mutex<Option<HashMap<(u64, String), AnnounceStop>>> = Mutex::new(None);

pub(super) fn register_announcement(host_ino: u64, id: &str, stop: AnnounceStop) {
    let mut map = ANNOUNCEMENTS.lock().unwrap_or_else(PoisonError::into_inner);
    let map = map.get_or_insert_with(HashMap::new);
    map.retain(|_, s| s.is_live());
    if let Some(old) = map.insert((host_ino, id.to_owned()), stop) {
        old.stop();
    }
}

pub(super) fn stop_announcement(host_ino: u64, id: &str) {
    let mut map = ANNOUNCEMENTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(s) = map.as_mut().and_then(|m| m.remove(&(host_ino, id.to_owned()))) {
        s.stop();
    }
}

pub(super) fn conflict(object: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Conflict { object: object.into(), reason: reason.into() }
}

/// `None` when the link does not exist.
pub(super) fn link_opt(h: &Handle, name: &IfName) -> Result<Option<Link>> {
    match h.link_get(name.clone()) {
        Ok(l) => Ok(Some(l)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) fn ignore_missing(r: Result<()>) -> Result<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

pub(super) fn ignore_exists(r: Result<()>) -> Result<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.is_already_exists() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether the kernel has IPv6 at all: a node booted with `ipv6.disable=1`
/// has no `/proc/sys/net/ipv6` in any namespace, so there is no IPv6 to
/// turn off on a host veth (and an IPv6 floating IP fails when its first
/// IPv6 sysctl is missing).
///
/// A kernel that has IPv6 keeps it (the module cannot be unloaded), so a
/// "yes" is remembered for the process; a "no" is asked again, since
/// `modprobe ipv6` may come later.
pub(super) fn ipv6_enabled() -> bool {
    use std::sync::atomic::{AtomicBool, Ordering};
    static SEEN: AtomicBool = AtomicBool::new(false);
    if SEEN.load(Ordering::Relaxed) {
        return true;
    }
    let yes = std::path::Path::new("/proc/sys/net/ipv6").exists();
    if yes {
        SEEN.store(true, Ordering::Relaxed);
    }
    yes
}

/// The main table's default route of one family, read from the (small)
/// pod namespace's route list: a lookup of some probe address could hit a
/// prefix route instead, whatever address were chosen.
pub(super) fn default_route(h: &Handle, v6: bool) -> Result<Option<Route>> {
    let f = RouteFilter { ipv4: Some(!v6), ..Default::default() };
    Ok(h.routes(f)?.into_iter().find(|r| r.dst.len() == 0))
}

/// What a conntrack flush did, in the words of `Attached::changes` and
/// detach's list: `None` when it deleted nothing.
pub(super) fn conntrack_change(ips: &[IpAddr], deleted: usize) -> Option<String> {
    let list: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
    let of = match ips.len() {
        0..=4 => list.join(" "),
        n => format!("{n} IPs"),
    };
    (deleted > 0).then(|| format!("conntrack -D of {of}: {deleted} entries"))
}

/// Prefixes an error's object with what role the object plays.
pub(super) fn with_what(e: Error, what: &str) -> Error {
    e.with_object(|o| format!("{what} {o}"))
}

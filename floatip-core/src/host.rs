//! [`Host`]: the host side of a node, opened once and kept across verbs.

use std::collections::HashSet;
use std::fmt;

use crate::conntrack;
use crate::error::{Error, Result};
use crate::floating::mark::DEFAULT_PROTOCOL;
use crate::floating::{Attached, Attachment, Drift, FloatingIp, NetnsRef, Site, Teardown};
use crate::netlink::Handle;
use crate::netns::{current_inode, Netns};
use crate::reaper::Reaper;
use crate::watch::Watcher;

/// The host network namespace of a node, held open: the namespace, a
/// netlink socket in it, and the namespace of the thread that opened it
/// (its *home*). A node agent that wires pods all day opens one `Host` and
/// calls its verbs; they do what [`FloatingIp::attach`],
/// [`FloatingIp::detach`], [`FloatingIp::detach_many`] and
/// [`FloatingIp::check`] do, all or nothing alike, except that
/// [`Host::detach`] leaves the veth's delete to the `Host`'s reaper (see
/// there).
///
/// Why: each of those `FloatingIp` verbs opens the caller's namespace
/// (a lookup in `/proc`), the host namespace and a fresh netlink socket
/// with its options, and closes them again: 25-50 µs, 1-3% of an
/// attach, and most of what floatip adds to the kernel's own cost (see
/// `docs/performance.md`). A `Host` pays that once.
///
/// ```no_run
/// use floatip::{floating::FloatingIp, Host};
/// # fn main() -> floatip::Result<()> {
/// // The agent runs in the host namespace: the host is where it is.
/// let host = Host::current()?;
/// for (i, ip) in ["10.0.0.100/23", "10.0.0.101/23"].into_iter().enumerate() {
///     let fip = FloatingIp::builder(format!("default/web-{i}"), "eth1")
///         .create_pod_netns(format!("web-{i}"))
///         .ipv4(ip, "10.0.0.1")
///         .build()?;
///     host.attach(&fip)?;
///     assert!(host.check(&fip)?.is_empty());
/// }
/// # Ok(()) }
/// ```
///
/// **Which namespace.** A spec's [`host_netns`](FloatingIp::host_netns)
/// must be this `Host`'s namespace, or a verb fails with
/// [`ErrorKind::InvalidInput`](crate::ErrorKind) before any change. The same
/// [`NetnsRef`] as the one the `Host` was opened with passes at no cost;
/// another name or path for the same namespace passes after one `open` and
/// `fstat`; [`NetnsRef::Current`] (a spec's default) passes when the
/// calling thread is in this `Host`'s namespace.
///
/// **Threads.** `Host` is `Send` and `Sync`: its verbs may run on any
/// thread, several at once (the socket is shared under a lock, one request
/// at a time). Each verb first reads which namespace the calling thread is
/// in (a `readlink`, ~5 µs). A thread in the `Host`'s home namespace, the
/// usual case, returns there after each visit to a pod's namespace; a
/// thread anywhere else has its own namespace opened for the call and goes
/// back to it, as with the `FloatingIp` verbs.
pub struct Host {
    /// As opened, for messages and for the cheap spec check.
    netns_ref: NetnsRef,
    ns: Netns,
    ino: u64,
    handle: Handle,
    /// The opening thread's namespace.
    home: Netns,
    home_ino: u64,
    /// The route protocol that [`Host::list`] and [`Host::gc`] read as
    /// floatip's mark.
    route_protocol: u8,
    /// Deletes the tombstones of [`Host::detach`] in batches; `None` for
    /// the `Host` of a one-off verb, which detaches synchronously.
    reaper: Option<Reaper>,
    /// The host namespace's conntrack handle, opened by the first verb
    /// that flushes entries.
    conntrack: conntrack::Lazy,
    /// A second socket in the host namespace, opened by the first verb
    /// that reads the node's attachments (`list`, `gc`, the watcher's
    /// passes), whose dumps run side by side.
    aux: crate::netlink::Lazy<Handle>,
    /// The sockets its single-round announcements go out on, kept (see
    /// `SenderPool`); shared with the `Host`s it reopens for its threads.
    senders: std::sync::Arc<crate::announce::SenderPool>,
}

/// One verb's view of where the calling thread is.
struct Call<'a> {
    host: &'a Host,
    home: Home<'a>,
    /// The calling thread is in the host namespace: its `/proc/sys` files
    /// can be opened without a visit.
    in_host: bool,
}

enum Home<'a> {
    /// The thread is in the `Host`'s home namespace.
    Kept(&'a Netns),
    /// Elsewhere: its namespace, opened for this call.
    Opened(Netns),
}

impl Call<'_> {
    /// The namespace the calling thread returns to after each visit.
    fn home(&self) -> &Netns {
        match &self.home {
            Home::Kept(ns) => ns,
            Home::Opened(ns) => ns,
        }
    }

    fn site(&self) -> Site<'_> {
        Site {
            home: self.home(),
            host_ns: &self.host.ns,
            host_ino: self.host.ino,
            host: &self.host.handle,
            in_host: self.in_host,
            conntrack: &self.host.conntrack,
            aux: &self.host.aux,
            senders: &self.host.senders,
        }
    }
}

impl Host {
    /// Opens the host namespace `netns` (a name, a path, or the calling
    /// thread's), a netlink socket in it, and the calling thread's
    /// namespace as home.
    ///
    /// It starts the host's *reaper*, a thread with a socket of its own
    /// that deletes the veths [`Host::detach`] retires, in batches; its
    /// first pass deletes the tombstones a killed process left.
    pub fn open(netns: NetnsRef) -> Result<Host> {
        let mut host = Self::open_bare(netns)?;
        let own = if host.ino == host.home_ino {
            Handle::open_here(host.ns.describe())?
        } else {
            Handle::in_netns_from(&host.ns, Some(&host.home))?
        };
        host.reaper = Some(Reaper::start(own, host.ns.try_clone()?)?);
        Ok(host)
    }

    /// [`Host::open`] without a reaper: for the one-off verbs and the CNI
    /// plugin, whose detaches are synchronous or reaped by the next call.
    pub(crate) fn open_bare(netns: NetnsRef) -> Result<Host> {
        let home = Netns::current()?;
        let home_ino = home.inode()?;
        // The current namespace is home itself: no second lookup in /proc.
        let ns = match &netns {
            NetnsRef::Current => home.try_clone()?,
            r => r.open()?,
        };
        let ino = ns.inode()?;
        let handle =
            if ino == home_ino { Handle::open_here(ns.describe())? } else { Handle::in_netns_from(&ns, Some(&home))? };
        Ok(Host {
            netns_ref: netns,
            ns,
            ino,
            handle,
            home,
            home_ino,
            route_protocol: DEFAULT_PROTOCOL,
            reaper: None,
            conntrack: conntrack::Lazy::default(),
            aux: Default::default(),
            senders: Default::default(),
        })
    }

    /// The route protocol [`Host::list`] and [`Host::gc`] take as
    /// floatip's mark, for specs built with
    /// [`route_protocol`](crate::floating::FloatingIpBuilder::route_protocol)
    /// (default [`DEFAULT_PROTOCOL`]).
    /// Fails with `InvalidInput` for 0-4, the kernel's own protocols: a
    /// GC by one of those would remove the node's own routes.
    pub fn with_route_protocol(mut self, protocol: u8) -> Result<Host> {
        if protocol <= 4 {
            return Err(Error::invalid("route protocol", protocol, "0-4 are the kernel's"));
        }
        self.route_protocol = protocol;
        Ok(self)
    }

    /// [`Host::open`] of the calling thread's namespace: for an agent that
    /// runs in the host namespace, as node agents do.
    pub fn current() -> Result<Host> {
        Self::open(NetnsRef::Current)
    }

    /// The namespace, as it was given to [`Host::open`].
    pub fn netns_ref(&self) -> &NetnsRef {
        &self.netns_ref
    }

    /// The host namespace.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// The netlink handle in the host namespace, for anything else the
    /// agent does there (`ip link`, `ip route`...).
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// [`FloatingIp::attach`] on this host.
    pub fn attach(&self, spec: &FloatingIp) -> Result<Attached> {
        spec.attach_at(&self.call(&[spec])?.site(), Default::default())
    }

    /// Test hook (feature `test-hooks`): [`Host::attach`] with step `n`
    /// failing, as [`FloatingIp::attach_failing_at`]; with `rollback`, the
    /// rollback's first undo fails too (it is logged and not done, as an
    /// undo the kernel refused would be). Not for production use.
    #[cfg(feature = "test-hooks")]
    pub fn attach_failing_at(&self, spec: &FloatingIp, n: usize, rollback: bool) -> Result<Attached> {
        let inject = crate::floating::attach::Inject { step: Some(n), rollback };
        spec.attach_at(&self.call(&[spec])?.site(), inject)
    }

    /// [`FloatingIp::detach`] on this host, with the veth's delete off the
    /// critical path. The detach returns once the node has stopped serving
    /// the pod: the uplink's proxy entries, the host routes and the pod's
    /// rules are gone, and the host veth is down and in the link group
    /// [`TOMBSTONE_GROUP`](crate::floating::mark::TOMBSTONE_GROUP): a
    /// *tombstone*, which no packet crosses and no verb takes for a live
    /// attachment. The host's reaper deletes the tombstones in one batch
    /// shortly after ([`REAP_DELAY`](crate::reaper::REAP_DELAY), or at
    /// once when [`REAP_BATCH`](crate::reaper::REAP_BATCH) wait);
    /// [`Host::flush`] waits for it, and dropping the `Host` does too.
    /// Why: deleting a veth waits inside the kernel for RCU grace periods
    /// (15-25 ms here) per request, whatever the number of veths.
    ///
    /// The conntrack entries of the spec's IPs (with
    /// [`conntrack_flush`](FloatingIp::conntrack_flush), routed mode) are
    /// left to the same pass, which deletes those of every IP retired since
    /// the last one with one dump of the table (a dump walks the kernel's
    /// whole conntrack hash: see `docs/announce.md`, "Conntrack").
    ///
    /// An attach that finds a tombstone holding its names deletes it first
    /// (a re-attach right after a detach works, and waits for that one
    /// delete). A tombstone's pod end stays in the pod namespace until the
    /// delete, or until the namespace goes (the kernel then deletes the
    /// pair itself). For a delete before returning, [`Host::detach_sync`].
    ///
    /// ```no_run
    /// # fn main() -> floatip::Result<()> {
    /// # let spec = floatip::FloatingIp::builder("default/web-0", "eth1").ipv4("10.0.0.100/23", "10.0.0.1").build()?;
    /// let host = floatip::Host::current()?;
    /// host.detach(&spec)?; // about a millisecond: the pod is unreachable here now
    /// host.flush()?;       // the veth is deleted
    /// # Ok(()) }
    /// ```
    pub fn detach(&self, spec: &FloatingIp) -> Result<Vec<String>> {
        let how = if self.reaper.is_some() { Teardown::Tombstone } else { Teardown::Now };
        let d = spec.detach_at(&self.call(&[spec])?.site(), how, self.reaper.is_some())?;
        if let Some(r) = &self.reaper {
            if d.tombstoned {
                r.tombstoned();
            }
            r.retired_ips(d.conntrack_later);
        }
        Ok(d.removed)
    }

    /// [`Host::detach`] that deletes the host veth before it returns (as
    /// [`FloatingIp::detach`] does), a tombstone of the spec's veth too.
    pub fn detach_sync(&self, spec: &FloatingIp) -> Result<Vec<String>> {
        Ok(spec.detach_at(&self.call(&[spec])?.site(), Teardown::Now, false)?.removed)
    }

    /// The CNI plugin's detach: a tombstone, left for a later batch.
    #[cfg(feature = "cni")]
    pub(crate) fn detach_tombstone(&self, spec: &FloatingIp) -> Result<Vec<String>> {
        Ok(spec.detach_at(&self.call(&[spec])?.site(), Teardown::Tombstone, false)?.removed)
    }

    /// The CNI plugin's exit: every tombstone of the host is deleted, in
    /// one batch, by a forked child that outlives the plugin, so that the
    /// runtime does not wait for the RCU grace periods of the delete.
    #[cfg(feature = "cni")]
    pub(crate) fn reap_in_child(self) -> Result<()> {
        self.handle.link_del_group_in_child(crate::floating::TOMBSTONE_GROUP)
    }

    /// The CNI plugin's start: the tombstones earlier calls left (a killed
    /// one's, say), deleted now in one batch; one request when there are
    /// none.
    #[cfg(feature = "cni")]
    pub(crate) fn reap_now(&self) -> Result<bool> {
        crate::reaper::reap(&self.handle)
    }

    /// Waits until the reaper has deleted every tombstone that
    /// [`Host::detach`] made before this call (and any other in the host
    /// namespace at that moment), and the conntrack entries of the IPs
    /// those detaches retired; then the kernel's state is what synchronous
    /// detaches leave. Returns the first failure of a reaper
    /// pass since the last `flush`. Immediate when nothing is pending.
    pub fn flush(&self) -> Result<()> {
        match &self.reaper {
            Some(r) => r.flush(),
            None => Ok(()),
        }
    }

    /// Sets the reaper's pace: a pass deletes the tombstones `delay` after
    /// the first of them (default [`REAP_DELAY`](crate::reaper::REAP_DELAY)),
    /// or at once when `batch` of them wait (default
    /// [`REAP_BATCH`](crate::reaper::REAP_BATCH)). A longer delay makes
    /// fewer, larger batches: each holds the kernel's RTNL lock a little
    /// longer, and a batch costs about what one delete does.
    pub fn with_reap_pace(self, delay: std::time::Duration, batch: usize) -> Host {
        if let Some(r) = &self.reaper {
            r.set_pace(delay, batch);
        }
        self
    }

    /// [`FloatingIp::detach_many`] on this host: every spec must be on it.
    pub fn detach_many(&self, specs: &[FloatingIp]) -> Result<Vec<String>> {
        let refs: Vec<&FloatingIp> = specs.iter().collect();
        FloatingIp::detach_many_at(&self.call(&refs)?.site(), &refs)
    }

    /// [`FloatingIp::check`] on this host.
    pub fn check(&self, spec: &FloatingIp) -> Result<Vec<Drift>> {
        spec.check_at(&self.call(&[spec])?.site())
    }

    /// The attachments on this host, read back from floatip's owner marks
    /// alone (no state files: a fresh process sees what an earlier one
    /// attached), each complete or partial, and the orphans: floatip's
    /// proxy entries and routes with no marked veth behind them. Three
    /// dumps (links, routes, proxy entries), whatever the count.
    ///
    /// ```no_run
    /// # fn main() -> floatip::Result<()> {
    /// for a in floatip::Host::current()?.list()? {
    ///     println!("{:?} {:?} {}", a.attachment_id, a.ips, a.state);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> Result<Vec<Attachment>> {
        self.call(&[])?.site().list(self.route_protocol)
    }

    /// Garbage collection with CNI 1.1 GC semantics: removes every
    /// floatip-marked veth whose attachment id is not in `valid` (its
    /// routes and the pod end go with it), floatip's proxy entries that no
    /// valid attachment claims, and floatip's routes that lead to no
    /// marked veth. Veths are deleted in one batch. An attachment whose
    /// attach or detach holds its lock at that moment is left for the next
    /// GC. Objects without floatip's marks are never touched. Returns what
    /// it removed.
    pub fn gc<'v>(&self, valid: impl IntoIterator<Item = &'v str>) -> Result<Vec<String>> {
        let valid: HashSet<&str> = valid.into_iter().collect();
        self.call(&[])?.site().gc(self.route_protocol, &valid)
    }

    /// Repairs, now, what the node can take from the owner marks alone:
    /// host routes and proxy entries of the attachments here that an
    /// uplink flap, a re-created uplink or a hand deleted, and the LAN
    /// interface's `proxy_delay` / `proxy_ndp`. It never announces (an IP
    /// is announced only by the attach that puts it here) and never
    /// touches a veth's own state. Returns the repairs, in `ip` words.
    /// [`Host::watch`] runs it on every relevant kernel event.
    pub fn reconcile(&self) -> Result<Vec<String>> {
        self.call(&[])?.site().reconcile(self.route_protocol)
    }

    /// Starts a [`Watcher`]: a thread that subscribes to this namespace's
    /// rtnetlink link, neighbour and route groups and runs
    /// [`Host::reconcile`] after each burst of relevant events (a link
    /// changed or went, a floatip route or a proxy entry was deleted), and
    /// once at start; and, since the kernel does not notify proxy-entry
    /// changes, a full pass every [`DEFAULT_RECHECK`](crate::watch::DEFAULT_RECHECK)
    /// (5 s). No busy loop: it sleeps in `recv`. After a socket overrun
    /// (`ENOBUFS`) it makes a full pass. Stop it with [`Watcher::stop`].
    ///
    /// ```no_run
    /// # fn main() -> floatip::Result<()> {
    /// let host = floatip::Host::current()?;
    /// let watcher = host.watch()?;
    /// // ... the agent attaches and detaches pods ...
    /// let report = watcher.stop()?;
    /// println!("{} repairs", report.repairs);
    /// # Ok(()) }
    /// ```
    pub fn watch(&self) -> Result<Watcher> {
        self.watch_every(crate::watch::DEFAULT_RECHECK)
    }

    /// [`Host::watch`] with a full pass every `recheck` (at least 10 ms).
    pub fn watch_every(&self, recheck: std::time::Duration) -> Result<Watcher> {
        self.watch_with(recheck, crate::watch::RCVBUF)
    }

    /// Test hook (feature `test-hooks`): [`Host::watch_every`] with an
    /// event socket of a receive buffer of `bytes` (at least the kernel's
    /// minimum), so that a test can make it overrun (`ENOBUFS`).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn watch_with_rcvbuf(&self, recheck: std::time::Duration, bytes: usize) -> Result<Watcher> {
        self.watch_with(recheck, bytes)
    }

    fn watch_with(&self, recheck: std::time::Duration, rcvbuf: usize) -> Result<Watcher> {
        let own = self.reopen()?;
        let recheck = recheck.max(std::time::Duration::from_millis(10));
        Watcher::start(&self.ns, self.route_protocol, recheck, rcvbuf, move || own.reconcile())
    }

    /// Starts a [`Reannouncer`](crate::floating::Reannouncer): a thread with a `Host` of its own that
    /// sends one announcement round (`opts`, as one round: gratuitous ARP
    /// per [`AnnounceOptions::arp`](crate::announce::AnnounceOptions::arp), unsolicited NA) for the IPs of every
    /// routed-mode attachment that is complete here, at once and then
    /// every `every` (at least 10 ms), for networks whose switches forget
    /// a MAC's port before the neighbours forget the IP's MAC. An
    /// attachment whose attach or detach is running is left for the next
    /// pass, and each is read again under its lock first: an IP being
    /// detached is never announced. A pass costs a [`Host::list`] and one
    /// request per attachment.
    ///
    /// ```no_run
    /// # fn main() -> floatip::Result<()> {
    /// use floatip::announce::AnnounceOptions;
    /// let host = floatip::Host::current()?;
    /// let r = host.reannounce(std::time::Duration::from_secs(30), AnnounceOptions::default())?;
    /// // ... the agent runs ...
    /// println!("{} announcements", r.stop().announced);
    /// # Ok(()) }
    /// ```
    pub fn reannounce(
        &self,
        every: std::time::Duration,
        opts: crate::announce::AnnounceOptions,
    ) -> Result<crate::floating::Reannouncer> {
        if every < std::time::Duration::from_millis(10) {
            return Err(Error::invalid(
                "re-announce period",
                format!("{} ms", every.as_millis()),
                "shorter than 10 ms",
            ));
        }
        let own = self.reopen()?;
        let protocol = self.route_protocol;
        crate::floating::Reannouncer::start(every, move |report| {
            own.call(&[])?.site().reannounce_pass(protocol, &opts, report)
        })
    }

    /// The route protocol taken as floatip's mark.
    pub fn route_protocol(&self) -> u8 {
        self.route_protocol
    }

    /// Another `Host` of the same namespace, with its own socket, for the
    /// calling thread (or a thread it starts).
    fn reopen(&self) -> Result<Host> {
        let home = Netns::current()?;
        let home_ino = home.inode()?;
        let ns = self.ns.try_clone()?;
        let handle = if self.ino == home_ino {
            Handle::open_here(ns.describe())?
        } else {
            Handle::in_netns_from(&ns, Some(&home))?
        };
        Ok(Host {
            netns_ref: self.netns_ref.clone(),
            ns,
            ino: self.ino,
            handle,
            home,
            home_ino,
            route_protocol: self.route_protocol,
            reaper: None,
            conntrack: conntrack::Lazy::default(),
            aux: Default::default(),
            senders: self.senders.clone(),
        })
    }

    /// The view of a thread that opened this `Host` a moment ago: it is
    /// home, no need to look.
    fn fresh_call(&self) -> Call<'_> {
        Call { host: self, home: Home::Kept(&self.home), in_host: self.home_ino == self.ino }
    }

    /// Where the calling thread is, and a check that every spec is on this
    /// host; nothing is changed before it passes.
    fn call(&self, specs: &[&FloatingIp]) -> Result<Call<'_>> {
        let here = current_inode()?;
        let mut checked: Vec<&NetnsRef> = Vec::new();
        for s in specs {
            let r = &s.host_netns;
            if checked.contains(&r) {
                continue;
            }
            let same = match r {
                NetnsRef::Current => here == self.ino,
                r if *r == self.netns_ref => true,
                r => r.open()?.inode()? == self.ino,
            };
            if !same {
                return Err(Error::invalid(
                    "host netns",
                    r,
                    format!("the spec's host namespace is not this Host's ({})", self.describe_for(here)),
                ));
            }
            checked.push(r);
        }
        let home = if here == self.home_ino { Home::Kept(&self.home) } else { Home::Opened(Netns::current()?) };
        Ok(Call { host: self, home, in_host: here == self.ino })
    }

    fn describe_for(&self, here: u64) -> String {
        match &self.netns_ref {
            NetnsRef::Current if here != self.home_ino => format!("{}, where the Host was opened", self.netns_ref),
            r => r.to_string(),
        }
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host").field("netns", &self.netns_ref).field("inode", &self.ino).finish()
    }
}

/// The verbs of a spec on its own, each through a [`Host`] opened for the
/// call: for a one-off tool or a CNI plugin. An agent keeps a `Host`.
impl FloatingIp {
    /// Wires the pod's floating IP(s): every step of the dataplane, in a
    /// safe order, all or nothing. Attaching the same spec again changes
    /// nothing and succeeds. A spec that conflicts with what is there (the IP
    /// routed to another interface, a name taken by another link or
    /// attachment) fails with [`ErrorKind::Conflict`](crate::ErrorKind)
    /// before any change; of two attachments asking for one IP at once,
    /// exactly one wins (both hold the IP's lock in turn).
    ///
    /// Each call opens the host namespace and a netlink socket in it; a
    /// node agent that attaches many pods keeps a [`Host`] and calls
    /// [`Host::attach`] instead.
    pub fn attach(&self) -> Result<Attached> {
        let host = Host::open_bare(self.host_netns.clone())?;
        self.attach_at(&host.fresh_call().site(), Default::default())
    }

    /// Test hook (feature `test-hooks`): like [`FloatingIp::attach`], but
    /// step `n` (counting from 0) fails with an injected error, so tests
    /// can prove the rollback of every step. Not for production use.
    #[cfg(feature = "test-hooks")]
    pub fn attach_failing_at(&self, n: usize) -> Result<Attached> {
        let host = Host::open_bare(self.host_netns.clone())?;
        let inject = crate::floating::attach::Inject { step: Some(n), rollback: false };
        self.attach_at(&host.fresh_call().site(), inject)
    }

    /// Removes what attach made, and only what is this attachment's: the
    /// host veth when its owner mark names this attachment and this pod
    /// namespace (and with it the pod end, its addresses and routes, the
    /// host routes and the veth's sysctls), floatip's proxy entries on the
    /// uplink for IPs that no other veth serves, and the pod namespace if
    /// attach created it. A veth of another attachment, or of another
    /// sandbox of this one (a DEL that came late), is left alone, and so
    /// is a veth when this spec's pod namespace is gone. Shared settings
    /// (`ip_forward`, IPv6 `forwarding`, the uplink's `proxy_delay` /
    /// `proxy_ndp`, blanket `proxy_arp`) stay. Stops the attachment's
    /// background announcement. With
    /// [`conntrack_flush`](FloatingIp::conntrack_flush) (routed mode's
    /// default), deletes the host's conntrack entries of the IPs, unless
    /// the veth there is another sandbox's. Succeeds when parts are already gone: a
    /// half-attached pod, a deleted pod netns. Returns what it removed.
    ///
    /// Synchronous: the veth is deleted before it returns (15-25 ms of RCU
    /// grace periods in the kernel). A kept [`Host`]'s
    /// [`detach`](Host::detach) returns in about a millisecond and leaves
    /// the delete to a batch.
    pub fn detach(&self) -> Result<Vec<String>> {
        let host = Host::open_bare(self.host_netns.clone())?;
        Ok(self.detach_at(&host.fresh_call().site(), Teardown::Now, false)?.removed)
    }

    /// Detaches many pods at once, as a node drain does, letting the kernel
    /// batch the expensive part. Deleting one veth waits for RCU grace
    /// periods (15-25 ms on this machine class); deleting them one by one
    /// pays that per pod. Here the host veths of each host namespace are
    /// put in one fresh link group and deleted with a single
    /// `ip link del group N`, which the kernel unregisters as one batch.
    /// Ownership, proxy entries and created pod namespaces are handled as
    /// by [`FloatingIp::detach`]. Idempotent like it, also when members
    /// vanish meanwhile; returns what it removed.
    pub fn detach_many(specs: &[FloatingIp]) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        let mut hosts: Vec<&NetnsRef> = Vec::new();
        for s in specs {
            if !hosts.contains(&&s.host_netns) {
                hosts.push(&s.host_netns);
            }
        }
        for host_ref in hosts {
            let group: Vec<&FloatingIp> = specs.iter().filter(|s| &s.host_netns == host_ref).collect();
            let host = Host::open_bare(host_ref.clone())?;
            removed.extend(FloatingIp::detach_many_at(&host.fresh_call().site(), &group)?);
        }
        Ok(removed)
    }

    /// Reads the state back and lists every difference from the spec, like
    /// CNI CHECK; empty when all is well.
    pub fn check(&self) -> Result<Vec<Drift>> {
        let host = Host::open_bare(self.host_netns.clone())?;
        self.check_at(&host.fresh_call().site())
    }
}

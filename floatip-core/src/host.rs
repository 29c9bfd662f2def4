//! [`Host`]: the host side of a node, opened once and kept across verbs.

use std::fmt;

use crate::error::{Error, Result};
use crate::floating::{Attached, Drift, FloatingIp, NetnsRef};
use crate::netlink::Handle;
use crate::netns::{current_inode, Netns};

/// The host network namespace of a node, held open: the namespace, a
/// netlink socket in it, and the namespace of the thread that opened it
/// (its *home*). A node agent that wires pods all day opens one `Host` and
/// calls its verbs; they do exactly what [`FloatingIp::attach`],
/// [`FloatingIp::detach`], [`FloatingIp::detach_many`] and
/// [`FloatingIp::check`] do, all or nothing alike.
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
}

/// One verb's view of where the calling thread is.
pub(crate) struct Call<'a> {
    pub(crate) host: &'a Host,
    home: Home<'a>,
    /// The calling thread is in the host namespace: its `/proc/sys` files
    /// can be opened without a visit.
    pub(crate) in_host: bool,
}

enum Home<'a> {
    /// The thread is in the `Host`'s home namespace.
    Kept(&'a Netns),
    /// Elsewhere: its namespace, opened for this call.
    Opened(Netns),
}

impl Call<'_> {
    /// The namespace the calling thread returns to after each visit.
    pub(crate) fn home(&self) -> &Netns {
        match &self.home {
            Home::Kept(ns) => ns,
            Home::Opened(ns) => ns,
        }
    }
}

impl Host {
    /// Opens the host namespace `netns` (a name, a path, or the calling
    /// thread's), a netlink socket in it, and the calling thread's
    /// namespace as home.
    pub fn open(netns: NetnsRef) -> Result<Host> {
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
        Ok(Host { netns_ref: netns, ns, ino, handle, home, home_ino })
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
        spec.attach_with(&self.call(&[spec])?, None)
    }

    /// Test hook: [`Host::attach`] with step `n` failing, as
    /// [`FloatingIp::attach_failing_at`]. Not for production use.
    #[doc(hidden)]
    pub fn attach_failing_at(&self, spec: &FloatingIp, n: usize) -> Result<Attached> {
        spec.attach_with(&self.call(&[spec])?, Some(n))
    }

    /// [`FloatingIp::detach`] on this host.
    pub fn detach(&self, spec: &FloatingIp) -> Result<Vec<String>> {
        self.call(&[spec])?;
        spec.detach_with(&self.handle)
    }

    /// [`FloatingIp::detach_many`] on this host: every spec must be on it.
    pub fn detach_many(&self, specs: &[FloatingIp]) -> Result<Vec<String>> {
        let refs: Vec<&FloatingIp> = specs.iter().collect();
        self.call(&refs)?;
        FloatingIp::detach_many_with(&self.handle, &refs)
    }

    /// [`FloatingIp::check`] on this host.
    pub fn check(&self, spec: &FloatingIp) -> Result<Vec<Drift>> {
        spec.check_with(&self.call(&[spec])?)
    }

    /// The view of a thread that opened this `Host` a moment ago: it is
    /// home, no need to look.
    pub(crate) fn fresh_call(&self) -> Call<'_> {
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

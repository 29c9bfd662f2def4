//! Announcing moved floating IPs: gratuitous ARP and unsolicited Neighbor
//! Advertisements written as raw frames.
//!
//! After a floating IP moves, LAN neighbours and switches keep sending to
//! the old node until their caches age out. The new node tells them at once.
//! The original design ran `arping -c 2 -A -I <uplink> <ip>`, which needs the
//! `arping` binary, the host-wide `ip_nonlocal_bind=1` sysctl (arping binds
//! to the floating IP), and blocks about a second per address. floatip builds
//! the frames itself ([`crate::wire::garp`]) and sends them on an AF_PACKET
//! socket created inside the uplink's namespace and bound to its ifindex: no
//! address on the interface, no `ip_nonlocal_bind`, no external binary, and
//! one `sendmmsg(2)` per batch of frames, so a node failure that moves
//! hundreds of addresses announces them all in one round.
//!
//! What Linux receivers accept (`arp_process()` / `arp_is_garp()` in
//! `net/ipv4/arp.c`): a frame with sender IP == target IP (and, for a reply,
//! target MAC == sender MAC) is gratuitous and updates an existing entry at
//! once, even within `locktime`. A reply with target MAC ff:ff:ff:ff:ff:ff is
//! *not* gratuitous and is ignored within `locktime`. With the default
//! `arp_accept=0` no entry is created, only refreshed. Devices differ (some
//! honour only requests, some only replies), so the default sends both each
//! round. For IPv6 an unsolicited NA needs Override=1 to replace a cached
//! link-layer address (`ndisc_recv_na()` in `net/ipv6/ndisc.c`); the
//! kernel's own proxied NAs have O=0 and never do. See `docs/announce.md`.
//!
//! ```no_run
//! use floatip::announce::{AnnounceOptions, Announcer};
//! use floatip::Netns;
//! # fn main() -> floatip::Result<()> {
//! let host = Netns::current()?;
//! let a = Announcer::new(&host, "bond1")?;
//! let ips = ["10.0.0.100".parse().unwrap(), "2001:db8::100".parse().unwrap()];
//! // First round now, the other two in the background, one second apart.
//! let bg = a.spawn(&ips, AnnounceOptions::default())?;
//! // ... later, or never: the sender stops by itself after the last round.
//! let report = bg.wait()?;
//! assert_eq!(report.rounds, 3);
//! # Ok(()) }
//! ```

use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::name::IntoIfName;
use crate::netlink::Handle;
use crate::netns::Netns;
use crate::sys;
use crate::wire::garp::{self, ArpForm, GarpOptions, NaOptions};
use crate::wire::Mac;

/// Which ARP frames each round carries for an IPv4 address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArpMode {
    /// A gratuitous request (sender IP = target IP, target MAC zero).
    Request,
    /// A gratuitous reply (target MAC = sender MAC).
    Reply,
    /// A request then a reply, each round: what every receiver accepts.
    #[default]
    Both,
}

/// How to announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AnnounceOptions {
    /// Rounds to send (default 3). The first is sent at once.
    pub count: u32,
    /// Time between rounds (default 1 s).
    pub interval: Duration,
    /// ARP forms per round for IPv4 addresses.
    pub arp: ArpMode,
    /// Requests carry ff:ff:ff:ff:ff:ff instead of zero as target MAC, as
    /// `arping -U` does; some devices want it. Replies always carry the
    /// sender's MAC.
    pub broadcast_target_mac: bool,
    /// Set the Router flag in Neighbor Advertisements.
    pub na_router: bool,
    /// IPv6 source of Neighbor Advertisements: `None` uses the announced
    /// address itself (as the kernel does), or give the uplink's link-local.
    pub na_source: Option<std::net::Ipv6Addr>,
    /// The MAC to announce; default the interface's own.
    pub mac: Option<Mac>,
}

crate::setters::setters!(AnnounceOptions {
    count: u32,
    interval: Duration,
    arp: ArpMode,
    broadcast_target_mac: bool,
    na_router: bool,
    na_source: Option<std::net::Ipv6Addr>,
    mac: Option<Mac>,
});

impl Default for AnnounceOptions {
    fn default() -> Self {
        AnnounceOptions {
            count: 3,
            interval: Duration::from_secs(1),
            arp: ArpMode::Both,
            broadcast_target_mac: false,
            na_router: false,
            na_source: None,
            mac: None,
        }
    }
}

/// What a sender did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AnnounceReport {
    /// Rounds sent.
    pub rounds: u32,
    /// Frames sent, over all rounds.
    pub frames: u64,
}

/// Slot size for one frame in the prebuilt batch (an NA is 86 bytes).
const SLOT: usize = 96;
/// `sendmmsg` takes at most `UIO_MAXIOV` (1024) messages per call.
const BATCH: usize = 1024;

/// An AF_PACKET socket bound to one interface of one namespace, sending
/// announcement frames.
#[derive(Debug)]
pub struct Announcer {
    /// Always `Some` until drop, which may hand the socket to a child.
    sock: Option<socket2::Socket>,
    ifindex: u32,
    ifname: String,
    mac: Mac,
}

/// Close announcement sockets in a forked child (see
/// [`close_sockets_in_child`]).
static CLOSE_IN_CHILD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// For a short-lived process (a CNI plugin): from now on an
/// [`Announcer`]'s socket is closed in a forked child that exits at once,
/// not by this process. The last close of an `AF_PACKET` socket waits for
/// an RCU grace period (`packet_release()` → `synchronize_net()`, ~10 ms
/// measured here), and a process's exit waits for its closes: without this
/// a plugin that announced exits ~10 ms later. Not for a long-lived
/// process: each close leaves a child for init to reap only once this
/// process has exited.
pub fn close_sockets_in_child(on: bool) {
    CLOSE_IN_CHILD.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether [`close_sockets_in_child`] is on.
pub(crate) fn closing_in_child() -> bool {
    CLOSE_IN_CHILD.load(std::sync::atomic::Ordering::Relaxed)
}

impl Drop for Announcer {
    fn drop(&mut self) {
        if let Some(s) = self.sock.take() {
            if CLOSE_IN_CHILD.load(std::sync::atomic::Ordering::Relaxed) {
                sys::close_in_child(std::os::fd::OwnedFd::from(s));
            }
        }
    }
}

impl Announcer {
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.sock.as_ref().expect("the socket lives until drop").as_fd()
    }

    /// Opens a sender on interface `ifname` of `netns`: looks up its index
    /// and MAC, creates the socket inside the namespace (the calling thread
    /// enters it only for the `socket()` call) and binds it to the index.
    pub fn new(netns: &Netns, ifname: impl IntoIfName) -> Result<Announcer> {
        let name = ifname.into_ifname()?;
        let link = Handle::in_netns(netns)?.link_get(&name)?;
        let mac = link.mac.ok_or_else(|| Error::invalid("interface", &name, "has no MAC address"))?;
        Self::with_link(netns, link.index, &link.name, mac)
    }

    /// Opens a sender when index and MAC are already known.
    pub fn with_link(netns: &Netns, ifindex: u32, ifname: &str, mac: Mac) -> Result<Announcer> {
        let object = || format!("dev {ifname} in {}", netns.describe());
        let sock = {
            let _inside = netns.enter()?;
            // Protocol 0: the socket sends only and never queues frames it
            // would otherwise receive.
            socket2::Socket::new(socket2::Domain::PACKET, socket2::Type::RAW, None)
                .map_err(|e| Error::io("socket(AF_PACKET)", object(), e))?
        };
        sys::packet_bind(sock.as_fd(), ifindex).map_err(|e| Error::io("bind(AF_PACKET)", object(), e))?;
        Ok(Announcer { sock: Some(sock), ifindex, ifname: ifname.to_owned(), mac })
    }

    /// The interface's MAC, announced unless the options give another.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// The interface index the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Builds one round's frames for `ips`, back to back in `SLOT`-byte
    /// slots, and their lengths. Every address is checked before anything
    /// is sent.
    fn build(&self, ips: &[IpAddr], opts: &AnnounceOptions) -> Result<(Vec<u8>, Vec<usize>)> {
        let mac = opts.mac.unwrap_or(self.mac);
        let forms: &[ArpForm] = match opts.arp {
            ArpMode::Request => &[ArpForm::Request],
            ArpMode::Reply => &[ArpForm::Reply],
            ArpMode::Both => &[ArpForm::Request, ArpForm::Reply],
        };
        let n: usize = ips.iter().map(|ip| if ip.is_ipv4() { forms.len() } else { 1 }).sum();
        let mut buf = vec![0u8; n * SLOT];
        let mut lens = Vec::with_capacity(n);
        let mut slots = buf.chunks_mut(SLOT);
        let bad = |ip: &IpAddr, e: crate::wire::WireError| Error::invalid("announce address", ip, e.to_string());
        for ip in ips {
            match ip {
                IpAddr::V4(v4) => {
                    for form in forms {
                        let o = GarpOptions {
                            form: *form,
                            broadcast_target_mac: opts.broadcast_target_mac,
                            ..Default::default()
                        };
                        let slot = slots.next().expect("one slot per frame");
                        lens.push(garp::build_garp(slot, mac, *v4, &o).map_err(|e| bad(ip, e))?);
                    }
                }
                IpAddr::V6(v6) => {
                    let o = NaOptions { router: opts.na_router, src_addr: opts.na_source, ..Default::default() };
                    let slot = slots.next().expect("one slot per frame");
                    lens.push(garp::build_unsolicited_na(slot, mac, *v6, &o).map_err(|e| bad(ip, e))?);
                }
            }
        }
        Ok((buf, lens))
    }

    fn send_built(&self, buf: &[u8], lens: &[usize]) -> Result<u64> {
        let frames: Vec<&[u8]> = buf.chunks(SLOT).zip(lens).map(|(s, l)| &s[..*l]).collect();
        let mut sent = 0;
        let mut stalls = 0;
        while sent < frames.len() {
            let end = (sent + BATCH).min(frames.len());
            match sys::send_frames(self.fd(), &frames[sent..end]) {
                Ok(0) => return Err(self.err(std::io::Error::from_raw_os_error(libc::EIO))),
                Ok(n) => {
                    sent += n;
                    stalls = 0;
                }
                // A full device queue: give it a moment, a bounded number
                // of times.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOBUFS) | Some(libc::EAGAIN)) && stalls < 100 => {
                    stalls += 1;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.err(e)),
            }
        }
        Ok(sent as u64)
    }

    fn err(&self, e: std::io::Error) -> Error {
        Error::io("sendmmsg(AF_PACKET)", format!("announce on dev {}", self.ifname), e)
    }

    /// Sends frames built elsewhere (e.g. with [`crate::wire`]) as they are:
    /// for tests and for forms this module does not build.
    pub fn send_raw(&self, frames: &[&[u8]]) -> Result<u64> {
        let mut sent = 0;
        while sent < frames.len() {
            let end = (sent + BATCH).min(frames.len());
            sent += sys::send_frames(self.fd(), &frames[sent..end]).map_err(|e| self.err(e))?;
        }
        Ok(sent as u64)
    }

    /// Sends one round for every address now: for IPv4 the ARP forms of
    /// [`AnnounceOptions::arp`], for IPv6 one unsolicited NA. Returns the
    /// number of frames sent.
    pub fn send_round(&self, ips: &[IpAddr], opts: &AnnounceOptions) -> Result<u64> {
        let (buf, lens) = self.build(ips, opts)?;
        self.send_built(&buf, &lens)
    }

    /// Sends every round, blocking until the last (`count - 1` intervals).
    pub fn announce(&self, ips: &[IpAddr], opts: &AnnounceOptions) -> Result<AnnounceReport> {
        let (buf, lens) = self.build(ips, opts)?;
        let mut r = AnnounceReport::default();
        for i in 0..opts.count {
            if i > 0 {
                std::thread::sleep(opts.interval);
            }
            r.frames += self.send_built(&buf, &lens)?;
            r.rounds += 1;
        }
        Ok(r)
    }

    /// Sends the first round now, before returning (so a caller knows the
    /// LAN has been told), and the remaining rounds from a background thread
    /// that owns the sender. The returned handle stops it or waits for it;
    /// dropping the handle lets the rounds finish on their own.
    pub fn spawn(self, ips: &[IpAddr], opts: AnnounceOptions) -> Result<BackgroundAnnounce> {
        self.start(ips, opts, None)
    }

    /// The background part only, for a caller that has just sent the first
    /// round itself (`first`): the next round goes one interval from now,
    /// and the final report counts `first` too.
    pub(crate) fn spawn_after_first(
        self,
        ips: &[IpAddr],
        opts: AnnounceOptions,
        first: AnnounceReport,
    ) -> Result<BackgroundAnnounce> {
        self.start(ips, opts, Some(first))
    }

    fn start(self, ips: &[IpAddr], opts: AnnounceOptions, first: Option<AnnounceReport>) -> Result<BackgroundAnnounce> {
        let (buf, lens) = self.build(ips, &opts)?;
        let mut report = AnnounceReport::default();
        match first {
            Some(r) => report = r,
            None if opts.count > 0 => {
                report.frames = self.send_built(&buf, &lens)?;
                report.rounds = 1;
            }
            None => {}
        }
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("floatip-announce-{}", self.ifname))
            .spawn(move || -> Result<AnnounceReport> {
                let (lock, cv) = &*stop2;
                let mut next = Instant::now() + opts.interval;
                while report.rounds < opts.count {
                    // Wait for the next round, or for stop().
                    let mut stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
                    loop {
                        if *stopped {
                            return Ok(report);
                        }
                        let now = Instant::now();
                        if now >= next {
                            break;
                        }
                        stopped = cv.wait_timeout(stopped, next - now).unwrap_or_else(|p| p.into_inner()).0;
                    }
                    drop(stopped);
                    // Logged here too: a caller that dropped the handle
                    // never sees the error it would return.
                    report.frames += self.send_built(&buf, &lens).inspect_err(|e| {
                        log::warn!(
                            "announce round {} of {} on {} failed: {}",
                            report.rounds + 1,
                            opts.count,
                            self.ifname,
                            crate::error::Report(e)
                        )
                    })?;
                    report.rounds += 1;
                    next += opts.interval;
                }
                Ok(report)
            })
            .map_err(|e| Error::io("spawn announce thread", "announce", e))?;
        Ok(BackgroundAnnounce { stop, thread: Some(thread) })
    }
}

/// Senders kept for reuse, per interface index: a kept
/// [`Host`](crate::Host)'s single-round announcements (an attach's first
/// round, each pass of its re-announcer) go out on one of these instead of
/// a socket opened and closed again. Why: the last close of an
/// `AF_PACKET` socket waits for an RCU grace period (`packet_release()`
/// calls `synchronize_net()`: 4-13 ms measured here), which an attach that
/// announces one round would otherwise pay every time (a node taking over
/// 1,000 pods: seconds).
#[derive(Debug, Default)]
pub(crate) struct SenderPool(Mutex<std::collections::HashMap<u32, Vec<Announcer>>>);

/// Senders kept per interface: as many as attaches announce at once.
const POOL_PER_LINK: usize = 8;

impl SenderPool {
    /// Sends one round of `opts` for `ips` on interface `ifindex`
    /// (`ifname`, in `netns`) from `mac`, on a kept sender when there is
    /// one, and keeps the sender for the next round. A kept sender that
    /// fails (its interface re-created, say) is replaced by a new one.
    pub(crate) fn send_round(
        &self,
        netns: &Netns,
        ifindex: u32,
        ifname: &str,
        mac: Mac,
        ips: &[IpAddr],
        opts: &AnnounceOptions,
    ) -> Result<u64> {
        let round = AnnounceOptions { count: 1, mac: Some(mac), ..*opts };
        let kept = self.take(ifindex).and_then(|a| a.send_round(ips, &round).ok().map(|f| (a, f)));
        let (a, frames) = match kept {
            Some(x) => x,
            None => {
                let a = Announcer::with_link(netns, ifindex, ifname, mac)?;
                let f = a.send_round(ips, &round)?;
                (a, f)
            }
        };
        self.put(a);
        Ok(frames)
    }

    /// A kept sender for interface `ifindex`, if there is one.
    fn take(&self, ifindex: u32) -> Option<Announcer> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&ifindex)?.pop()
    }

    /// Keeps `a` for the next announcement on its interface (beyond
    /// [`POOL_PER_LINK`] of them it is closed).
    fn put(&self, a: Announcer) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let kept = map.entry(a.ifindex).or_default();
        if kept.len() < POOL_PER_LINK {
            kept.push(a);
        }
    }
}

/// The owned background part of an announcement
/// ([`Announcer::spawn`]). Stop it, wait for it, or drop it to let it
/// finish its rounds on its own.
#[derive(Debug)]
pub struct BackgroundAnnounce {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<Result<AnnounceReport>>>,
}

/// A weak stop switch for a [`BackgroundAnnounce`] held elsewhere: detach
/// uses it to stop its attachment's rounds, whoever owns the handle.
#[derive(Debug)]
pub(crate) struct AnnounceStop(std::sync::Weak<(Mutex<bool>, Condvar)>);

impl AnnounceStop {
    /// Stops the rounds before the next one (if they still run).
    pub(crate) fn stop(&self) {
        if let Some(s) = self.0.upgrade() {
            *s.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
            s.1.notify_all();
        }
    }

    /// False once both the sender thread and its handle are gone.
    pub(crate) fn is_live(&self) -> bool {
        self.0.strong_count() > 0
    }
}

impl BackgroundAnnounce {
    /// A switch that stops these rounds from elsewhere.
    pub(crate) fn stopper(&self) -> AnnounceStop {
        AnnounceStop(Arc::downgrade(&self.stop))
    }

    /// True once the last round was sent (or the sender stopped or failed).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stops before the next round and returns what was sent, or the error
    /// a round met.
    pub fn stop(mut self) -> Result<AnnounceReport> {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
        self.join()
    }

    /// Waits for the last round and returns what was sent, or the error a
    /// round met.
    pub fn wait(mut self) -> Result<AnnounceReport> {
        self.join()
    }

    fn join(&mut self) -> Result<AnnounceReport> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(p)) => std::panic::resume_unwind(p),
            None => Ok(AnnounceReport::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_to_three_rounds_of_both() {
        let o = AnnounceOptions::default();
        assert_eq!((o.count, o.interval, o.arp), (3, Duration::from_secs(1), ArpMode::Both));
    }
}

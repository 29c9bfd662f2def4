//! [`Watcher`]: repairs a node's attachments when the kernel says
//! something changed (an uplink flap, a re-created uplink, a deleted route
//! or proxy entry).
//!
//! Why: `ip link set UPLINK down` flushes every proxy entry on it
//! (`neigh_ifdown()` → `pneigh_ifdown()` in `net/core/neighbour.c`), and
//! re-creating a bond or VLAN starts it with default settings. Nothing
//! re-adds them unless something watches rtnetlink. The watcher subscribes
//! to the link, neighbour and IPv4/IPv6 route and rule groups of the host namespace,
//! and after each burst of relevant events runs
//! [`Host::reconcile`](crate::Host::reconcile), which
//! reads the owner marks and repairs from them alone.
//!
//! Events are not enough: the kernel sends no notification when a proxy
//! entry is added or deleted (`neigh_add()` / `neigh_delete()` return
//! early for `NTF_PROXY`; seen with `ip monitor neigh` on 6.18, silent
//! while `ip neigh del proxy` ran). So the watcher also makes a full pass
//! every `recheck` interval ([`DEFAULT_RECHECK`] unless set): three dumps,
//! about a millisecond per hundred attachments.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netlink_packet_core::NetlinkBuffer;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};

use crate::error::{Error, Result};
use crate::netns::Netns;

/// `RTNLGRP_LINK`, `RTNLGRP_NEIGH`, `RTNLGRP_IPV4_ROUTE`,
/// `RTNLGRP_IPV4_RULE`, `RTNLGRP_IPV6_ROUTE`, `RTNLGRP_IPV6_RULE`
/// (`<linux/rtnetlink.h>`).
const GROUPS: [u32; 6] = [1, 3, 7, 8, 11, 19];
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_DELROUTE: u16 = 25;
const RTM_DELNEIGH: u16 = 29;
const RTM_DELRULE: u16 = 33;
const NTF_PROXY: u8 = 0x08;
/// How often an idle watcher looks at its stop flag.
const IDLE: Duration = Duration::from_millis(100);
/// A burst of events is over after this much quiet...
const QUIET: Duration = Duration::from_millis(2);
/// ... or, under a steady stream, after this long.
const BURST_MAX: Duration = Duration::from_millis(50);
/// How often a watcher makes a full pass without any event.
pub const DEFAULT_RECHECK: Duration = Duration::from_secs(5);
/// Room for bursts: a flap of an uplink with 1,000 proxy entries.
pub(crate) const RCVBUF: usize = 4 << 20;

/// What a watcher did, returned by [`Watcher::stop`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchReport {
    /// Reconcile passes run (one at start, one per burst of events).
    pub passes: u64,
    /// Objects repaired.
    pub repairs: u64,
    /// Times the socket overran (`ENOBUFS`): events were lost, and a full
    /// pass followed.
    pub overruns: u64,
    /// For each pass that repaired something: from the first event of its
    /// burst to the end of the repair.
    pub latencies: Vec<Duration>,
}

/// A running watcher: a thread of its own with its own
/// [`Host`](crate::Host). Stop it with [`Watcher::stop`]; dropping it stops
/// it too.
#[derive(Debug)]
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<WatchReport>>>,
}

impl Watcher {
    /// Starts watching `netns`: `pass` (a reconcile, which the thread
    /// owns) runs once at start, after each burst of relevant events, and
    /// every `recheck`. The event socket is subscribed before the first
    /// pass, so no change between the two is missed. Routes of `protocol`
    /// are the ones whose deletion counts; the event socket asks for a
    /// receive buffer of `rcvbuf` bytes ([`RCVBUF`] but in tests).
    pub(crate) fn start<F>(netns: &Netns, protocol: u8, recheck: Duration, rcvbuf: usize, pass: F) -> Result<Watcher>
    where
        F: FnMut() -> Result<Vec<String>> + Send + 'static,
    {
        let what = netns.describe();
        let sock = netns
            .run(|| -> std::io::Result<Socket> {
                let mut s = Socket::new(NETLINK_ROUTE)?;
                s.bind_auto()?;
                for g in GROUPS {
                    s.add_membership(g)?;
                }
                Ok(s)
            })?
            .map_err(|e| Error::io("subscribe to rtnetlink groups", &what, e))?;
        let sref = socket2::SockRef::from(&sock);
        sref.set_cloexec(true).map_err(|e| Error::io("fcntl(FD_CLOEXEC)", &what, e))?;
        // As large as rmem_max allows; an overrun is survived anyway.
        let _ = sref.set_recv_buffer_size(rcvbuf);
        sref.set_read_timeout(Some(IDLE.min(recheck))).map_err(|e| Error::io("setsockopt(SO_RCVTIMEO)", &what, e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let what_thread = what.clone();
        let thread = std::thread::Builder::new()
            .name("floatip-watch".into())
            .spawn(move || run(&what_thread, &sock, &flag, protocol, recheck, pass))
            .map_err(|e| Error::io("spawn watcher thread", what, e))?;
        Ok(Watcher { stop, thread: Some(thread) })
    }

    /// True while the watcher thread runs (it ends on [`Watcher::stop`] or
    /// on an error it cannot go on after).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the watcher (within 100 ms) and returns what it did, or the
    /// error that ended it.
    pub fn stop(mut self) -> Result<WatchReport> {
        self.finish()
    }

    fn finish(&mut self) -> Result<WatchReport> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(p)) => std::panic::resume_unwind(p),
            None => Ok(WatchReport::default()),
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if self.thread.is_some() {
            if let Err(e) = self.finish() {
                log::warn!("watcher ended with: {err}", err = crate::error::Report(&e));
            }
        }
    }
}

fn run(
    what: &str,
    sock: &Socket,
    stop: &AtomicBool,
    protocol: u8,
    recheck: Duration,
    mut pass: impl FnMut() -> Result<Vec<String>>,
) -> Result<WatchReport> {
    let mut report = WatchReport::default();
    let sref = socket2::SockRef::from(sock);
    let set_timeout = |t: Duration| sref.set_read_timeout(Some(t));
    let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
    // The first pass, at once: whatever happened before the watcher
    // started (the socket was subscribed already, so nothing after it is
    // missed).
    let mut burst: Option<Instant> = Some(Instant::now());
    let mut first = true; // the first pass runs before any stop is looked at
    let mut last_pass = Instant::now();
    while first || !stop.load(Ordering::Relaxed) {
        if burst.is_none() && last_pass.elapsed() >= recheck {
            burst = Some(Instant::now());
        }
        buf.clear();
        let got = if first {
            first = false;
            Err(std::io::Error::from(std::io::ErrorKind::WouldBlock))
        } else if burst.is_none_or(|t| t.elapsed() < BURST_MAX) {
            sock.recv(&mut buf, 0)
        } else {
            Err(std::io::Error::from(std::io::ErrorKind::WouldBlock)) // a long burst: pass now
        };
        match got {
            Ok(n) => {
                if relevant(&buf[..n.min(buf.len())], protocol) && burst.is_none() {
                    burst = Some(Instant::now());
                    let _ = set_timeout(QUIET);
                }
                continue;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                report.overruns += 1;
                burst.get_or_insert_with(Instant::now);
                let _ = set_timeout(QUIET);
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(Error::io("recv rtnetlink events", what, e)),
        }
        let Some(start) = burst.take() else { continue };
        let _ = set_timeout(IDLE.min(recheck));
        report.passes += 1;
        last_pass = Instant::now();
        match pass() {
            Ok(done) if !done.is_empty() => {
                report.repairs += done.len() as u64;
                report.latencies.push(start.elapsed());
            }
            Ok(_) => {}
            Err(e) => {
                // A device in the middle of being re-created, say: try
                // again after the next quiet spell.
                log::warn!("reconcile failed, retrying: {err}", err = crate::error::Report(&e));
                burst = Some(Instant::now());
                let _ = set_timeout(IDLE.min(recheck));
            }
        }
    }
    Ok(report)
}

/// Whether a batch of notifications can mean a broken attachment: a link
/// changed or went, a route of floatip's protocol or a proxy entry was
/// deleted. The neighbour cache's own churn (ARP traffic) is not.
fn relevant(buf: &[u8], protocol: u8) -> bool {
    let mut off = 0;
    while off < buf.len() {
        let Ok(m) = NetlinkBuffer::new_checked(&buf[off..]) else { return true };
        let len = m.length() as usize;
        let payload = m.payload();
        let hit = match m.message_type() {
            // A deleted rule (rare: host network managers that flush
            // foreign rules do it) is always worth a pass.
            RTM_NEWLINK | RTM_DELLINK | RTM_DELRULE => true,
            // struct rtmsg: rtm_protocol is byte 5.
            RTM_DELROUTE => payload.get(5) == Some(&protocol),
            // struct ndmsg: ndm_flags is byte 10.
            RTM_DELNEIGH => payload.get(10).is_some_and(|f| f & NTF_PROXY != 0),
            _ => false,
        };
        if hit {
            return true;
        }
        off += (len + 3) & !3;
        if len == 0 {
            break;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u16, payload: &[u8]) -> Vec<u8> {
        let len = 16 + payload.len();
        let mut v = Vec::new();
        v.extend_from_slice(&(len as u32).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(&[0; 10]);
        v.extend_from_slice(payload);
        v.resize((len + 3) & !3, 0);
        v
    }

    #[test]
    fn which_events_wake_the_watcher() {
        let mut route = [0u8; 12];
        route[5] = 70;
        assert!(relevant(&msg(RTM_DELROUTE, &route), 70));
        assert!(!relevant(&msg(RTM_DELROUTE, &route), 71));
        let mut neigh = [0u8; 12];
        assert!(!relevant(&msg(RTM_DELNEIGH, &neigh), 70), "ARP cache churn");
        neigh[10] = NTF_PROXY;
        assert!(relevant(&msg(RTM_DELNEIGH, &neigh), 70));
        assert!(relevant(&msg(RTM_NEWLINK, &[0; 16]), 70));
        let mut two = msg(28, &[0; 12]);
        two.extend(msg(RTM_DELLINK, &[0; 16]));
        assert!(relevant(&two, 70));
        assert!(!relevant(&msg(28, &[0; 12]), 70));
    }
}

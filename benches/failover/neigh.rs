//! The peer's neighbour cache, watched and read: a thread subscribed to
//! the namespace's rtnetlink neighbour group records when each watched
//! IP's entry first names a given MAC (the new node's) and whether it was
//! deleted before that; and the machine's ARP table counters.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use floatip::{Mac, Netns};
use floatip_benches::harness::Stoppable;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};

/// `RTNLGRP_NEIGH`.
const RTNLGRP_NEIGH: u32 = 3;

/// What the monitor saw for one watched IP after the arming.
#[derive(Debug, Clone, Copy, Default)]
pub struct Watched {
    /// The first time its entry named the MAC, from the arming.
    pub switched: Option<Duration>,
    /// Its entry was deleted (by the kernel's garbage collection: nothing
    /// else deletes entries here) before it named the MAC.
    pub deleted_before: bool,
}

/// What the monitor thread hands back: per watched IP, and the overruns.
type Seen = Result<(Vec<Watched>, u64), String>;

/// A running monitor.
pub struct Monitor {
    // First: dropped, the thread is stopped and joined before the rest goes.
    thread: Stoppable<(Vec<Watched>, u64)>,
    switched: Arc<AtomicUsize>,
    arm_tx: mpsc::Sender<Instant>,
}

impl Monitor {
    /// Subscribes, inside `ns`, to neighbour events, watching `ips` for
    /// `mac`.
    pub fn start(ns: &Netns, ips: &[Ipv4Addr], mac: Mac) -> Result<Monitor, String> {
        let sock = ns
            .run(|| -> std::io::Result<Socket> {
                let mut s = Socket::new(NETLINK_ROUTE)?;
                s.bind_auto()?;
                s.add_membership(RTNLGRP_NEIGH)?;
                Ok(s)
            })
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("subscribe to neighbour events in {}: {e}", ns.describe()))?;
        let sref = socket2::SockRef::from(&sock);
        // A burst of announcements for 1,000 IPs is a few thousand events.
        let _ = sref.set_recv_buffer_size(4 << 20);
        sref.set_read_timeout(Some(Duration::from_millis(20))).map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
        let index: HashMap<Ipv4Addr, usize> = ips.iter().enumerate().map(|(i, ip)| (*ip, i)).collect();
        let switched = Arc::new(AtomicUsize::new(0));
        let (arm_tx, arm_rx) = mpsc::channel();
        let c = switched.clone();
        let thread = Stoppable::spawn("fip-neigh", "monitor", move |s| run(sock, index, mac, s, c, arm_rx))?;
        Ok(Monitor { thread, switched, arm_tx })
    }

    /// Counts from `t0` on (events already received after `t0` count).
    pub fn arm(&self, t0: Instant) {
        let _ = self.arm_tx.send(t0);
    }

    /// Watched IPs whose entry named the MAC since the arming.
    pub fn switched(&self) -> usize {
        self.switched.load(Ordering::Relaxed)
    }

    /// Stops it: per watched IP what it saw, and the socket overruns
    /// (events lost: then some switches are missing).
    pub fn stop(self) -> Seen {
        self.thread.stop()
    }
}

/// One event for a watched IP: deleted, or (re)written with this MAC.
#[derive(Clone, Copy)]
enum Ev {
    Del,
    Mac(Option<Mac>),
}

fn event(m: &NeighbourMessage) -> Option<(Ipv4Addr, Option<Mac>)> {
    let mut ip = None;
    let mut mac = None;
    for a in &m.attributes {
        match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => ip = Some(*a),
            NeighbourAttribute::LinkLayerAddress(l) if l.len() == 6 => {
                mac = Some(Mac(l.as_slice().try_into().expect("length checked")))
            }
            _ => {}
        }
    }
    Some((ip?, mac))
}

fn run(
    sock: Socket,
    index: HashMap<Ipv4Addr, usize>,
    mac: Mac,
    stop: Arc<AtomicBool>,
    switched: Arc<AtomicUsize>,
    arm_rx: mpsc::Receiver<Instant>,
) -> Seen {
    let mut seen: Vec<(Instant, usize, Ev)> = Vec::new();
    let mut out = vec![Watched::default(); index.len()];
    let mut t0: Option<Instant> = None;
    let mut overruns = 0;
    let mut buf: Vec<u8> = Vec::with_capacity(256 << 10);
    let apply = |out: &mut Vec<Watched>, t0: Instant, at: Instant, i: usize, ev: Ev| -> bool {
        if at < t0 || out[i].switched.is_some() {
            return false;
        }
        match ev {
            Ev::Del => out[i].deleted_before = true,
            Ev::Mac(m) if m == Some(mac) => {
                out[i].switched = Some(at - t0);
                return true;
            }
            Ev::Mac(_) => {}
        }
        false
    };
    while !stop.load(Ordering::Relaxed) {
        if let Ok(t) = arm_rx.try_recv() {
            t0 = Some(t);
            out.iter_mut().for_each(|w| *w = Watched::default());
            let n = seen.iter().filter(|(at, i, ev)| apply(&mut out, t, *at, *i, *ev)).count();
            switched.store(n, Ordering::SeqCst);
        }
        buf.clear();
        match sock.recv(&mut buf, 0) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                overruns += 1;
                continue;
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("recv neighbour events: {e}")),
        }
        let at = Instant::now();
        let mut off = 0;
        while off + 16 <= buf.len() {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().expect("4 bytes")) as usize;
            if len < 16 || off + len > buf.len() {
                break;
            }
            if let Ok(m) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[off..off + len]) {
                let ev = match &m.payload {
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(n)) => {
                        event(n).map(|(ip, mac)| (ip, Ev::Mac(mac)))
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelNeighbour(n)) => {
                        event(n).map(|(ip, _)| (ip, Ev::Del))
                    }
                    _ => None,
                };
                if let Some((ip, ev)) = ev {
                    if let Some(&i) = index.get(&ip) {
                        seen.push((at, i, ev));
                        if let Some(t) = t0 {
                            if apply(&mut out, t, at, i, ev) {
                                switched.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                }
            }
            off += (len + 3) & !3;
        }
    }
    Ok((out, overruns))
}

/// The MAC each of `ips` has in `ns`'s neighbour cache on `ifname` (one
/// dump), `None` for no entry or one without an address.
pub fn macs(ns: &Netns, ifname: &str, ips: &[Ipv4Addr]) -> Result<Vec<Option<Mac>>, String> {
    let h = floatip::Handle::in_netns(ns).map_err(|e| e.to_string())?;
    let i = h.link_get(ifname).map_err(|e| e.to_string())?.index;
    let table: HashMap<IpAddr, Option<Mac>> =
        h.neighbours(Some(i)).map_err(|e| e.to_string())?.into_iter().map(|n| (n.ip, n.mac)).collect();
    Ok(ips.iter().map(|ip| table.get(&IpAddr::V4(*ip)).copied().flatten()).collect())
}

/// The counters of the machine's one IPv4 neighbour table
/// (`/proc/net/stat/arp_cache`: every namespace's entries count against
/// `net.ipv4.neigh.default.gc_thresh*`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ArpCache {
    /// Entries now, all namespaces.
    pub entries: u64,
    /// Forced garbage collections (the table at `gc_thresh2` or more).
    pub forced_gc_runs: u64,
    /// Allocations refused (the table at `gc_thresh3`).
    pub table_fulls: u64,
}

impl ArpCache {
    /// Reads the counters (summed over CPUs).
    pub fn read() -> ArpCache {
        let text = std::fs::read_to_string("/proc/net/stat/arp_cache").unwrap_or_default();
        let mut lines = text.lines();
        let names: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
        let col = |n: &str| names.iter().position(|x| *x == n);
        let mut c = ArpCache::default();
        for (row, line) in lines.enumerate() {
            let v: Vec<u64> = line.split_whitespace().map(|x| u64::from_str_radix(x, 16).unwrap_or(0)).collect();
            let get = |n: &str| col(n).and_then(|i| v.get(i).copied()).unwrap_or(0);
            if row == 0 {
                c.entries = get("entries");
            }
            c.forced_gc_runs += get("forced_gc_runs");
            c.table_fulls += get("table_fulls");
        }
        c
    }

    /// The counters' growth since `before` (entries: the value now).
    pub fn since(&self, before: &ArpCache) -> ArpCache {
        ArpCache {
            entries: self.entries,
            forced_gc_runs: self.forced_gc_runs - before.forced_gc_runs.min(self.forced_gc_runs),
            table_fulls: self.table_fulls - before.table_fulls.min(self.table_fulls),
        }
    }
}

//! The conflict probe: before a floating IP is announced here, ask the LAN
//! whether another node still holds it (RFC 5227 for IPv4, the probe of
//! Duplicate Address Detection for IPv6), and refuse to take it if so.
//!
//! A floating IP moves because its old node is gone, or is believed gone.
//! An old node that comes back, a detach that never ran, or an IPAM that
//! handed the address out twice leaves a "zombie" that still answers for
//! the address; announcing it then splits the LAN's traffic between two
//! nodes (some neighbours follow the announcement, others the zombie's
//! next answer). The probe finds such a node before anything is announced.
//!
//! Per address and round: for IPv4 an ARP probe (sender IP `0.0.0.0`,
//! [`crate::wire::probe::build_arp_probe`]) and, with
//! [`ProbeOptions::ask_proxies`], an ordinary request from the
//! interface's own address in the subnet (Linux answers a probe only for
//! an address it holds itself, never through a proxy entry or
//! `proxy_arp`, which is how a floatip node holds a floating IP); for
//! IPv6 a DAD Neighbor Solicitation, which proxies do answer. Meanwhile
//! AF_PACKET sockets bound to the interface read ARP and NDP and stop at
//! the first claim by another MAC ([`crate::wire::probe::find_conflict`]).
//! See `docs/announce.md` ("Conflict probe") for the timing and its cost.
//!
//! ```no_run
//! use floatip::probe::{ProbeOptions, Prober};
//! use floatip::Netns;
//! # fn main() -> floatip::Result<()> {
//! let host = Netns::current()?;
//! let p = Prober::new(&host, "bond1")?;
//! let r = p.probe(&["10.0.0.100".parse().unwrap()], &ProbeOptions::default())?;
//! match r.conflict {
//!     Some(c) => println!("{c}"), // 02:00:00:00:0b:01 claims 10.0.0.100 (ARP reply)
//!     None => println!("clear after {:?}", r.elapsed),
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::name::IntoIfName;
use crate::netlink::Handle;
use crate::netns::Netns;
use crate::prefix::IpPrefix;
use crate::sys;
use crate::wire::ipv6::{multicast_mac, solicited_node};
use crate::wire::probe::{self as wire, Conflict, ARP_PROBE_FRAME_LEN, DAD_NS_FRAME_LEN};
use crate::wire::Mac;

/// How to probe: `count` rounds `interval` apart (the first at once), then
/// listen `wait` more; a claim ends the probe at once.
///
/// The default, 2 rounds 50 ms apart and 100 ms of listening after the
/// second, costs 150 ms per attach when nobody answers. RFC 5227 asks for
/// 3 probes 1-2 s apart and a 2 s wait (about 5 s in all), sized for
/// hosts that pick an address once and keep it; a pod cannot wait that
/// long, and on a LAN a holder answers within a millisecond (a floatip
/// node with `proxy_delay=0` at once). Two rounds survive one lost frame;
/// the wait leaves a slow or busy holder 100 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ProbeOptions {
    /// Rounds of probes (default 2), 1..=100.
    pub count: u32,
    /// Time between rounds (default 50 ms), at most 10 s.
    pub interval: Duration,
    /// Listening after the last round (default 100 ms), at most 10 s.
    pub wait: Duration,
    /// IPv4: each round also sends an ordinary ARP request for the
    /// address from the interface's own IPv4 address in its subnet, when
    /// it has one (default on). Proxy entries and `proxy_arp` answer such
    /// a request, never an RFC 5227 probe: without it a floatip node that
    /// still holds the IP goes unseen. Turn it off on a LAN whose router
    /// answers every request by proxy (private VLANs, "local proxy ARP"),
    /// which would look like a conflict for every address.
    pub ask_proxies: bool,
}

crate::setters::setters!(ProbeOptions { count: u32, interval: Duration, wait: Duration, ask_proxies: bool });

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            count: 2,
            interval: Duration::from_millis(50),
            wait: Duration::from_millis(100),
            ask_proxies: true,
        }
    }
}

impl ProbeOptions {
    /// How long a probe that finds nothing takes: `(count - 1) × interval
    /// + wait`.
    pub fn window(&self) -> Duration {
        self.interval.saturating_mul(self.count.saturating_sub(1)) + self.wait
    }

    /// Checks the bounds of each field.
    pub fn validate(&self) -> Result<()> {
        if !(1..=100).contains(&self.count) {
            return Err(Error::invalid("conflict probe count", self.count, "must be 1..=100"));
        }
        let max = Duration::from_secs(10);
        if self.interval > max {
            return Err(Error::invalid(
                "conflict probe interval",
                format!("{} ms", self.interval.as_millis()),
                "at most 10 s",
            ));
        }
        if self.wait > max {
            return Err(Error::invalid("conflict probe wait", format!("{} ms", self.wait.as_millis()), "at most 10 s"));
        }
        Ok(())
    }
}

/// What a probe did and found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeReport {
    /// Rounds sent (fewer than asked when a claim ended the probe).
    pub rounds: u32,
    /// Frames sent, over all rounds.
    pub frames: u64,
    /// From the first frame sent to the end of listening.
    pub elapsed: Duration,
    /// The first claim by another MAC, if any.
    pub conflict: Option<Conflict>,
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.elapsed.as_secs_f64() * 1e3;
        match &self.conflict {
            Some(c) => write!(f, "conflict after {} round(s), {ms:.1} ms: {c}", self.rounds),
            None => write!(f, "clear after {} round(s) of {} frame(s), {ms:.1} ms", self.rounds, self.frames),
        }
    }
}

/// Slot size for one probe frame (a DAD probe is 78 bytes).
const SLOT: usize = 80;
const _: () = assert!(ARP_PROBE_FRAME_LEN <= SLOT && DAD_NS_FRAME_LEN <= SLOT);

/// A classic BPF instruction: code, jump if true, jump if false, k.
type Insn = (u16, u8, u8, u32);

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const LD_B_ABS: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
/// The ancillary load "is a VLAN tag present" (`<linux/filter.h>`).
const VLAN_TAG_PRESENT: u32 = (libc::SKF_AD_OFF + libc::SKF_AD_VLAN_TAG_PRESENT) as u32;

/// ARP sockets pass every frame but VLAN-tagged ones: a socket on a VLAN's
/// parent gets, with their tag moved to the metadata, the frames of a VLAN
/// that has no device here (`__netif_receive_skb_core()`), which are
/// another LAN's.
const ARP_FILTER: [Insn; 4] = [
    (LD_W_ABS, 0, 0, VLAN_TAG_PRESENT),
    (JEQ_K, 0, 1, 0),
    (RET_K, 0, 0, 256), // keep 256 bytes: ARP is 42
    (RET_K, 0, 0, 0),
];

/// IPv6 sockets pass only untagged ICMPv6 Neighbor Solicitations and
/// Advertisements right after the fixed header (next header at byte 20 of
/// the frame, ICMPv6 type at 54): not the rest of a busy uplink's IPv6.
const NDP_FILTER: [Insn; 9] = [
    (LD_W_ABS, 0, 0, VLAN_TAG_PRESENT),
    (JEQ_K, 0, 5, 0),
    (LD_B_ABS, 0, 0, 20),
    (JEQ_K, 0, 3, 58), // ICMPv6
    (LD_B_ABS, 0, 0, 54),
    (JEQ_K, 2, 0, 135), // Neighbor Solicitation
    (JEQ_K, 1, 0, 136), // Neighbor Advertisement
    (RET_K, 0, 0, 0),
    (RET_K, 0, 0, 256),
];

fn filter(prog: &[Insn]) -> Vec<socket2::SockFilter> {
    prog.iter().map(|&(code, jt, jf, k)| socket2::SockFilter::new(code, jt, jf, k)).collect()
}

/// Probes addresses on one interface of one namespace.
#[derive(Debug)]
pub struct Prober {
    netns: Netns,
    ifindex: u32,
    ifname: String,
    mac: Mac,
    own: Vec<Mac>,
    lan_addresses: Vec<IpPrefix>,
}

/// Frames back to back in `SLOT`-byte slots, and their lengths.
type Frames = (Vec<u8>, Vec<usize>);

/// One listening socket and the frames it sends.
struct Port {
    sock: socket2::Socket,
    frames: Vec<u8>,
    lens: Vec<usize>,
}

impl Prober {
    /// A prober on interface `ifname` of `netns`: looks up its index, its
    /// MAC (the probes' sender) and its IPv4 addresses (the senders of
    /// [`ProbeOptions::ask_proxies`] requests).
    pub fn new(netns: &Netns, ifname: impl IntoIfName) -> Result<Prober> {
        let name = ifname.into_ifname()?;
        let h = Handle::in_netns(netns)?;
        let link = h.link_get(&name)?;
        let mac = link.mac.ok_or_else(|| Error::invalid("interface", &name, "has no MAC address"))?;
        let addrs = h.addrs(Some(link.index))?.into_iter().map(|a| a.prefix).filter(IpPrefix::is_ipv4).collect();
        Ok(Self::with_link(netns, link.index, &link.name, mac)?.lan_addresses(addrs))
    }

    /// A prober when index and MAC are already known; without IPv4
    /// addresses ([`Prober::lan_addresses`]) it sends probes only.
    pub fn with_link(netns: &Netns, ifindex: u32, ifname: &str, mac: Mac) -> Result<Prober> {
        if !mac.is_valid_source() {
            return Err(Error::invalid("conflict probe mac", mac, "not a unicast MAC address"));
        }
        Ok(Prober {
            netns: netns.try_clone()?,
            ifindex,
            ifname: ifname.to_owned(),
            mac,
            own: vec![mac],
            lan_addresses: Vec::new(),
        })
    }

    /// More MACs of this node whose claims are not conflicts: the MAC
    /// announced instead of the interface's, or in bridge mode the pod's
    /// (whose kernel answers for its own address on a re-attach).
    pub fn own_macs(mut self, macs: impl IntoIterator<Item = Mac>) -> Self {
        for m in macs {
            if !self.own.contains(&m) {
                self.own.push(m);
            }
        }
        self
    }

    /// The interface's IPv4 addresses with their prefix lengths: a probed
    /// address's request ([`ProbeOptions::ask_proxies`]) goes from the one
    /// whose subnet holds it.
    pub fn lan_addresses(mut self, addrs: Vec<IpPrefix>) -> Self {
        self.lan_addresses = addrs;
        self
    }

    /// The probes' sender MAC.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// Probes `ips` and returns what it found; a conflict is in
    /// [`ProbeReport::conflict`], not an error (see
    /// [`Prober::require_clear`]). Blocks for [`ProbeOptions::window`]
    /// when nobody claims an address, less when someone does.
    pub fn probe(&self, ips: &[IpAddr], opts: &ProbeOptions) -> Result<ProbeReport> {
        opts.validate()?;
        let (arp, ndp) = self.build(ips, opts)?;
        let mut ports = self.open(arp, ndp, ips)?;
        let r = self.run(&mut ports, ips, opts);
        dispose(ports.into_iter().map(|p| p.sock).collect());
        r
    }

    /// [`Prober::probe`], with a claim by another MAC as an
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) error that names
    /// the address and the MAC.
    pub fn require_clear(&self, ips: &[IpAddr], opts: &ProbeOptions) -> Result<ProbeReport> {
        let r = self.probe(ips, opts)?;
        match r.conflict {
            Some(c) => Err(Error::Conflict {
                object: format!("floating ip {}", c.ip),
                reason: format!(
                    "{} claims it on dev {} ({}), seen by the conflict probe: another node holds the address or is \
                     taking it; detach it there first",
                    c.mac, self.ifname, c.claim
                ),
            }),
            None => Ok(r),
        }
    }

    /// One round's frames: ARP (probe and maybe request per IPv4 address)
    /// and NDP (a DAD probe per IPv6 address), each in `SLOT`-byte slots.
    fn build(&self, ips: &[IpAddr], opts: &ProbeOptions) -> Result<(Frames, Frames)> {
        if ips.is_empty() {
            return Err(Error::invalid("conflict probe", "", "no address to probe"));
        }
        let bad = |ip: &IpAddr, e: crate::wire::WireError| Error::invalid("conflict probe address", ip, e.to_string());
        let (mut arp, mut ndp) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
        let mut slot = [0u8; SLOT];
        for ip in ips {
            match ip {
                IpAddr::V4(v4) => {
                    let n = wire::build_arp_probe(&mut slot, self.mac, *v4).map_err(|e| bad(ip, e))?;
                    push(&mut arp, &slot, n);
                    if let Some(from) = opts.ask_proxies.then(|| self.sender_for(*v4)).flatten() {
                        let n = wire::build_arp_request(&mut slot, self.mac, from, *v4).map_err(|e| bad(ip, e))?;
                        push(&mut arp, &slot, n);
                    }
                }
                IpAddr::V6(v6) => {
                    let n = wire::build_dad_ns(&mut slot, self.mac, *v6).map_err(|e| bad(ip, e))?;
                    push(&mut ndp, &slot, n);
                }
            }
        }
        Ok((arp, ndp))
    }

    /// The interface address whose subnet holds `ip` (not `ip` itself).
    fn sender_for(&self, ip: Ipv4Addr) -> Option<Ipv4Addr> {
        self.lan_addresses.iter().find_map(|p| match p.addr() {
            IpAddr::V4(a) if a != ip && p.contains(IpAddr::V4(ip)) => Some(a),
            _ => None,
        })
    }

    /// The listening sockets, bound before the first frame goes out so
    /// that no answer is missed: one for ARP, one for NDP, as needed.
    fn open(&self, arp: Frames, ndp: Frames, ips: &[IpAddr]) -> Result<Vec<Port>> {
        let object = || format!("conflict probe on dev {} in {}", self.ifname, self.netns.describe());
        let wanted: Vec<_> = [(arp, libc::ETH_P_ARP), (ndp, libc::ETH_P_IPV6)]
            .into_iter()
            .filter(|((_, lens), _)| !lens.is_empty())
            .collect();
        let socks = {
            let _inside = self.netns.enter()?;
            // Protocol 0 until bound: no frame from another interface is
            // queued in between.
            wanted
                .iter()
                .map(|_| socket2::Socket::new(socket2::Domain::PACKET, socket2::Type::RAW, None))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(|e| Error::io("socket(AF_PACKET)", object(), e))?
        };
        let mut ports = Vec::new();
        for (((frames, lens), proto), sock) in wanted.into_iter().zip(socks) {
            let fd = sock.as_fd();
            let filtered = match proto {
                libc::ETH_P_ARP => sock.attach_filter(&filter(&ARP_FILTER)),
                _ => sock.attach_filter(&filter(&NDP_FILTER)),
            };
            filtered.map_err(|e| Error::io("setsockopt(SO_ATTACH_FILTER)", object(), e))?;
            if proto == libc::ETH_P_IPV6 {
                // Another node's DAD probe goes to the target's
                // solicited-node group, which a NIC filters out unless
                // someone joined it.
                for ip in ips.iter().filter_map(|i| match i {
                    IpAddr::V6(a) => Some(*a),
                    _ => None,
                }) {
                    sys::packet_add_multicast(fd, self.ifindex, multicast_mac(solicited_node(ip)).0)
                        .map_err(|e| Error::io("setsockopt(PACKET_ADD_MEMBERSHIP)", object(), e))?;
                }
            }
            sys::packet_bind_protocol(fd, self.ifindex, proto as u16)
                .map_err(|e| Error::io("bind(AF_PACKET)", object(), e))?;
            ports.push(Port { sock, frames, lens });
        }
        Ok(ports)
    }

    fn run(&self, ports: &mut [Port], ips: &[IpAddr], opts: &ProbeOptions) -> Result<ProbeReport> {
        let start = Instant::now();
        let deadline = start + opts.window();
        let mut next = start;
        let mut report = ProbeReport { rounds: 0, frames: 0, elapsed: Duration::ZERO, conflict: None };
        let mut buf = [0u8; 256];
        loop {
            let now = Instant::now();
            if report.rounds < opts.count && now >= next {
                for p in ports.iter() {
                    report.frames += self.send(p)?;
                }
                report.rounds += 1;
                next += opts.interval;
                continue;
            }
            let until = if report.rounds < opts.count { next.min(deadline) } else { deadline };
            let fds: Vec<BorrowedFd<'_>> = ports.iter().map(|p| p.sock.as_fd()).collect();
            let ready = sys::poll_readable(&fds, until.saturating_duration_since(now))
                .map_err(|e| Error::io("poll(AF_PACKET)", format!("conflict probe on dev {}", self.ifname), e))?;
            for (fd, _) in fds.iter().zip(ready).filter(|(_, r)| *r) {
                while let Some((n, kind)) = sys::recv_frame(*fd, &mut buf).map_err(|e| {
                    Error::io("recvfrom(AF_PACKET)", format!("conflict probe on dev {}", self.ifname), e)
                })? {
                    // Frames this host sends are never a conflict (sockets
                    // bound to one protocol do not see them anyway; only
                    // ETH_P_ALL taps do).
                    if kind == libc::PACKET_OUTGOING {
                        continue;
                    }
                    if let Some(c) = wire::find_conflict(&buf[..n.min(buf.len())], ips, &self.own) {
                        report.conflict = Some(c);
                        report.elapsed = start.elapsed();
                        return Ok(report);
                    }
                }
            }
            if report.rounds >= opts.count && Instant::now() >= deadline {
                report.elapsed = start.elapsed();
                return Ok(report);
            }
        }
    }

    fn send(&self, p: &Port) -> Result<u64> {
        let frames: Vec<&[u8]> = p.frames.chunks(SLOT).zip(&p.lens).map(|(s, l)| &s[..*l]).collect();
        let mut sent = 0;
        while sent < frames.len() {
            match sys::send_frames(p.sock.as_fd(), &frames[sent..]) {
                Ok(0) => break,
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::io("sendmmsg(AF_PACKET)", format!("conflict probe on dev {}", self.ifname), e))
                }
            }
        }
        Ok(sent as u64)
    }
}

fn push((buf, lens): &mut Frames, slot: &[u8; SLOT], n: usize) {
    buf.extend_from_slice(slot);
    lens.push(n);
}

/// Closes the probe's sockets off the caller's path: the last close of an
/// AF_PACKET socket waits for an RCU grace period (`packet_release()` →
/// `synchronize_net()`, ~10 ms here), which would add to every attach. In
/// a short-lived process that closes sockets in a child
/// ([`crate::announce::close_sockets_in_child`]) they go the same way;
/// otherwise a short-lived thread closes them (or, should it not start,
/// this one).
fn dispose(socks: Vec<socket2::Socket>) {
    if crate::announce::closing_in_child() {
        for s in socks {
            sys::close_in_child(std::os::fd::OwnedFd::from(s));
        }
        return;
    }
    let _ = std::thread::Builder::new().name("floatip-probe-close".into()).spawn(move || drop(socks));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_window() {
        let o = ProbeOptions::default();
        assert_eq!(
            (o.count, o.interval, o.wait, o.ask_proxies),
            (2, Duration::from_millis(50), Duration::from_millis(100), true)
        );
        assert_eq!(o.window(), Duration::from_millis(150));
        let one = ProbeOptions { count: 1, wait: Duration::from_millis(30), ..o };
        assert_eq!(one.window(), Duration::from_millis(30));
        assert!(o.validate().is_ok());
        assert!(ProbeOptions { count: 0, ..o }.validate().is_err());
        assert!(ProbeOptions { count: 101, ..o }.validate().is_err());
        assert!(ProbeOptions { wait: Duration::from_secs(11), ..o }.validate().is_err());
        assert!(ProbeOptions { interval: Duration::from_secs(11), ..o }.validate().is_err());
    }

    #[test]
    fn filters_jump_inside_the_program() {
        // What the kernel's filter check (`bpf_check_classic()`) insists on:
        // every jump lands inside the program and the last instruction
        // returns. Checked here without a socket.
        for prog in [&ARP_FILTER[..], &NDP_FILTER[..]] {
            for (i, (code, jt, jf, _)) in prog.iter().enumerate() {
                if u32::from(*code) & 0x07 == libc::BPF_JMP {
                    assert!(i + 1 + usize::from(*jt) < prog.len() && i + 1 + usize::from(*jf) < prog.len(), "{i}");
                }
            }
            assert_eq!(u32::from(prog[prog.len() - 1].0) & 0x07, libc::BPF_RET);
        }
    }
}

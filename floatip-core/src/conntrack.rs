//! Connection tracking: deleting a namespace's conntrack entries of an
//! address, through ctnetlink (`NETLINK_NETFILTER`, subsystem
//! `NFNL_SUBSYS_CTNETLINK`), as `conntrack -D` does.
//!
//! A floating IP that leaves a node, or arrives on one where it lived
//! before, leaves entries behind in the host's connection tracking table:
//! flows of the IP's earlier life and their NAT bindings (a Service DNAT to
//! the pod, an SNAT from it). Until they time out (UDP 30-120 s, an
//! established TCP flow 5 days by default) the kernel keeps matching new
//! packets of the same 5-tuple against them, with the old NAT decision.
//! Detach and attach delete them ([`FloatingIp`](crate::FloatingIp), the
//! `conntrack_flush` option), as Calico does for a pod's IP
//! (projectcalico/calico#4152).
//!
//! How: first the namespace's entry count (`IPCTNL_MSG_CT_GET_STATS`, what
//! `conntrack -C` asks; a few microseconds): an empty table has nothing to
//! delete. Otherwise one dump of the table, both families at once, the
//! entries whose original or reply tuple has one of the addresses as its
//! source or destination picked here, and each deleted by its original
//! tuple (and its zone). A delete that finds the entry gone (it expired
//! meanwhile) is fine. This works on every kernel with ctnetlink.
//!
//! The dump is the cost: the kernel walks its whole conntrack hash, which
//! all namespaces share (`nf_conntrack_buckets`, 262,144 buckets here),
//! whatever the namespace holds (`ctnetlink_dump_table()` in
//! `net/netfilter/nf_conntrack_netlink.c`): about 12 ms on this machine
//! class, plus a few microseconds per entry of the namespace. So the
//! families are dumped together (one walk, not two), and a table with no
//! entry is not walked at all. The kernel's own filtered delete (a
//! `CTA_FILTER` without a tuple, newer kernels) would walk the same hash,
//! once per address and direction: one filter cannot say "source *or*
//! destination", and a kernel that does not know the attribute takes such
//! a request for a flush of the whole table.
//!
//! A kernel without connection tracking has nothing to delete: when
//! `nf_conntrack` is neither built in nor loaded (`/sys/module/nf_conntrack`
//! is missing), [`Conntrack::flush_addrs`] returns 0 without asking the
//! kernel, so that it never makes the kernel load a module; when
//! `NETLINK_NETFILTER` or ctnetlink is missing (`socket()` fails with
//! `EPROTONOSUPPORT`, the dump with `EINVAL`, nfnetlink's answer for a
//! subsystem it does not have), it returns 0 too.
//!
//! ```no_run
//! use floatip::conntrack::Conntrack;
//! use floatip::Netns;
//! # fn main() -> floatip::Result<()> {
//! let host = Netns::open("hostA")?;
//! let ct = Conntrack::in_netns(&host)?;     // like `ip netns exec hostA conntrack ...`
//! let n = ct.flush_addr("10.0.0.100".parse().unwrap())?;
//! println!("deleted {n} conntrack entries of 10.0.0.100");
//! # Ok(()) }
//! ```

use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;

use netlink_packet_core::{
    parse_ip, DecodeError, DefaultNla, NlaBuffer, NlasIterator, Parseable, NLM_F_ACK, NLM_F_DUMP,
};
use netlink_packet_netfilter::conntrack::{ConntrackAttribute, ConntrackMessage, ProtoTuple, Tuple};
use netlink_packet_netfilter::{NetfilterHeader, NetfilterMessage, NetfilterProtoFamily};
use netlink_sys::protocols::NETLINK_NETFILTER;

use crate::error::{Error, Result};
use crate::netlink::{Conn, Expect, Reply};
use crate::netns::Netns;

// <linux/netfilter/nfnetlink.h>, <linux/netfilter/nfnetlink_conntrack.h>.
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET_STATS: u8 = 5;
const NFNETLINK_V0: u8 = 0;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_ZONE: u16 = 18;
const CTA_TUPLE_IP: u16 = 1;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
const CTA_STATS_GLOBAL_ENTRIES: u16 = 1;

const OP_STATS: &str = "IPCTNL_MSG_CT_GET_STATS";
const OP_DUMP: &str = "IPCTNL_MSG_CT_GET (dump)";
const OP_DELETE: &str = "IPCTNL_MSG_CT_DELETE";

/// One ctnetlink socket bound to the namespace it was opened in: that
/// namespace's connection tracking table. Requests from several threads
/// are serialised; a `Conntrack` is `Send + Sync`.
#[derive(Debug)]
pub struct Conntrack {
    conn: Mutex<Conn>,
    netns: String,
}

impl Conntrack {
    /// A handle for the calling thread's current namespace.
    pub fn new() -> Result<Conntrack> {
        Self::open_here("current netns".into())
    }

    /// A handle whose socket lives in `netns`: the calling thread enters
    /// the namespace only for the `socket()` call.
    pub fn in_netns(netns: &Netns) -> Result<Conntrack> {
        Self::in_netns_from(netns, None)
    }

    /// [`Conntrack::in_netns`], returning the thread to `home`.
    pub(crate) fn in_netns_from(netns: &Netns, home: Option<&Netns>) -> Result<Conntrack> {
        let _inside = netns.enter_from(home)?;
        Self::open_here(netns.describe())
    }

    pub(crate) fn open_here(netns: String) -> Result<Conntrack> {
        let conn = Conn::open(NETLINK_NETFILTER, "socket(NETLINK_NETFILTER)", &netns)?;
        Ok(Conntrack { conn: Mutex::new(conn), netns })
    }

    /// The namespace this handle talks to, for messages.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Deletes every entry whose original or reply tuple has `ip` as its
    /// source or destination; returns how many it deleted. See
    /// [`Conntrack::flush_addrs`].
    pub fn flush_addr(&self, ip: IpAddr) -> Result<usize> {
        self.flush_addrs(&[ip])
    }

    /// Deletes every entry whose original or reply tuple has one of `ips`
    /// as its source or destination, with one dump of the table (none when
    /// the namespace has no entry at all); returns how many it deleted.
    /// Entries that expire meanwhile are skipped. Equivalent to `conntrack
    /// -D -s IP`, `-d IP`, `-r IP` and `-q IP` (orig source and
    /// destination, reply source and destination) for each IP.
    ///
    /// A kernel without connection tracking (or without ctnetlink) has
    /// nothing to delete: 0, logged at debug level.
    pub fn flush_addrs(&self, ips: &[IpAddr]) -> Result<usize> {
        if ips.is_empty() {
            return Ok(0);
        }
        if !kernel_tracks_connections() {
            log::debug!("no nf_conntrack in this kernel: no conntrack entries to delete");
            return Ok(0);
        }
        // An empty table needs no walk. A kernel that cannot tell (no
        // IPCTNL_MSG_CT_GET_STATS) is asked by the dump.
        if let Ok(0) = self.count() {
            return Ok(0);
        }
        let entries = match self.dump(ips) {
            Ok(e) => e,
            Err(e) if unavailable(&e) => {
                log::debug!("conntrack not available in {}: {}", self.netns, crate::error::Report(&e));
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        let mut deleted = 0;
        for e in &entries {
            match self.delete(e) {
                Ok(()) => deleted += 1,
                // Expired (or deleted by someone else) since the dump.
                Err(err) if err.is_not_found() => {}
                Err(err) => return Err(err),
            }
        }
        Ok(deleted)
    }

    /// How many entries the namespace's table holds (`conntrack -C`).
    pub fn count(&self) -> Result<u32> {
        let object = || format!("conntrack table in {}", self.netns);
        let msg = NetfilterMessage::new(
            NetfilterHeader::new(NetfilterProtoFamily::Unspec, NFNETLINK_V0, 0),
            ConntrackMessage::Other { message_type: IPCTNL_MSG_CT_GET_STATS, attributes: Vec::new() },
        );
        // The kernel marks its one reply NLM_F_MULTI without an NLMSG_DONE
        // after it (`ctnetlink_stat_ct_fill_info()`): asked with NLM_F_ACK,
        // the ack ends the answer.
        let replies = self.lock().exchange(OP_STATS, &object, msg, NLM_F_ACK, Expect::Ack)?;
        let bad = |detail: &str| Error::Protocol { op: OP_STATS, detail: detail.into() };
        let r = replies.first().ok_or_else(|| bad("no reply"))?;
        for nla in NlasIterator::new(r.payload.get(4..).ok_or_else(|| bad("short reply"))?) {
            let nla = nla.map_err(|e| bad(&e.to_string()))?;
            if nla.kind() == CTA_STATS_GLOBAL_ENTRIES {
                let v: [u8; 4] = nla.value().try_into().map_err(|_| bad("CTA_STATS_GLOBAL_ENTRIES is not 4 bytes"))?;
                return Ok(u32::from_be_bytes(v));
            }
        }
        Err(bad("no CTA_STATS_GLOBAL_ENTRIES"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Conn> {
        // Stale replies after a panic are skipped by sequence number.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entries of the table (both families: one walk of the kernel's
    /// hash) that have one of `ips` as a source or destination.
    fn dump(&self, ips: &[IpAddr]) -> Result<Vec<Entry>> {
        let object = || format!("conntrack table in {}", self.netns);
        let msg = NetfilterMessage::new(
            NetfilterHeader::new(NetfilterProtoFamily::Unspec, NFNETLINK_V0, 0),
            ConntrackMessage::Get(Vec::new()),
        );
        let replies = self.lock().exchange(OP_DUMP, &object, msg, NLM_F_DUMP, Expect::Dump)?;
        let mut out = Vec::new();
        for r in &replies {
            match Entry::parse_if(r, |e| ips.iter().any(|ip| e.involves(*ip))) {
                Ok(Some(e)) => out.push(e),
                Ok(None) => {}
                Err(e) => return Err(Error::Protocol { op: OP_DUMP, detail: e.to_string() }),
            }
        }
        Ok(out)
    }

    /// Deletes one entry by its original tuple (`conntrack -D` with the
    /// entry's protocol, addresses and ports), in its zone.
    fn delete(&self, e: &Entry) -> Result<()> {
        let object = || format!("{e} in {}", self.netns);
        let mut attrs = vec![ConntrackAttribute::CtaTupleOrig(e.orig.clone())];
        if let Some(z) = e.zone {
            attrs.push(ConntrackAttribute::Other(DefaultNla::new(CTA_ZONE, z.to_be_bytes().to_vec())));
        }
        let msg = NetfilterMessage::new(header(e.v4), ConntrackMessage::Delete(attrs));
        self.lock().exchange(OP_DELETE, &object, msg, NLM_F_ACK, Expect::Ack).map(drop)
    }
}

/// The header of a request about one family's entries.
fn header(v4: bool) -> NetfilterHeader {
    let family = if v4 { NetfilterProtoFamily::IPv4 } else { NetfilterProtoFamily::IPv6 };
    NetfilterHeader::new(family, NFNETLINK_V0, 0)
}

/// Whether the kernel has connection tracking: `nf_conntrack`, built in or
/// loaded, is in `/sys/module` (it has module parameters, so it is listed
/// even when built in). Without a sysfs to look at, assume it has.
///
/// A yes is kept for the life of the process (a loaded `nf_conntrack` is
/// rarely unloaded, and a dump then fails as "unavailable"); a no is
/// looked up again each time, since the module can be loaded any moment.
fn kernel_tracks_connections() -> bool {
    static SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SEEN.load(std::sync::atomic::Ordering::Relaxed) {
        return true;
    }
    let modules = std::path::Path::new("/sys/module");
    let yes = !modules.is_dir() || modules.join("nf_conntrack").exists();
    if yes {
        SEEN.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    yes
}

/// Whether an error of opening the socket or of the dump means "this
/// kernel has no conntrack to talk to": no `NETLINK_NETFILTER`
/// (`EPROTONOSUPPORT`), or no ctnetlink subsystem behind it (nfnetlink
/// answers `EINVAL`, `nfnetlink_rcv_msg()` in `net/netfilter/nfnetlink.c`;
/// the dump request has no attributes that could be invalid), or a table
/// the kernel says is not there (`ENOENT`, `EOPNOTSUPP`).
pub(crate) fn unavailable(e: &Error) -> bool {
    matches!(
        (e, e.errno()),
        (
            Error::Io { .. } | Error::Netlink { .. },
            Some(libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT | libc::EINVAL | libc::ENOENT | libc::EOPNOTSUPP)
        )
    )
}

/// The host namespace's conntrack handle, opened on first use and kept.
pub(crate) type Lazy = crate::netlink::Lazy<Conntrack>;

impl crate::netlink::OpenIn for Conntrack {
    fn open_here(netns: String) -> Result<Self> {
        Conntrack::open_here(netns)
    }
    fn in_netns_from(netns: &Netns, home: Option<&Netns>) -> Result<Self> {
        Conntrack::in_netns_from(netns, home)
    }
}

/// Deletes the entries of `ips` in the host namespace through `lazy`, for
/// attach and detach: a kernel without conntrack (or ctnetlink) has
/// nothing to delete, which is logged at debug level, not an error.
pub(crate) fn flush_host(lazy: &Lazy, ns: &Netns, home: Option<&Netns>, in_ns: bool, ips: &[IpAddr]) -> Result<usize> {
    if ips.is_empty() {
        return Ok(0);
    }
    if !kernel_tracks_connections() {
        log::debug!("no nf_conntrack in this kernel: no conntrack entries to delete");
        return Ok(0);
    }
    match lazy.get(ns, home, in_ns) {
        Ok(ct) => ct.flush_addrs(ips),
        Err(e) if unavailable(&e) => {
            log::debug!("conntrack not available in {}: {}", ns.describe(), crate::error::Report(&e));
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

/// One entry of the dump: what selecting and deleting it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    v4: bool,
    /// The original tuple as the kernel gave it (addresses, protocol and
    /// ports or ICMP id, and a directional zone if any): what the delete
    /// sends back.
    orig: Vec<Tuple>,
    /// The zone (`CTA_ZONE`), when not the default one.
    zone: Option<u16>,
    /// (source, destination) of the original and of the reply direction.
    orig_addrs: (Option<IpAddr>, Option<IpAddr>),
    reply_addrs: (Option<IpAddr>, Option<IpAddr>),
}

impl Entry {
    /// Reads an `IPCTNL_MSG_CT_NEW` message of a dump and keeps it if
    /// `keep` says so. Only the addresses and the zone are read at first,
    /// without allocating (a busy table's dump has many entries and few
    /// are wanted); the original tuple is parsed with
    /// `netlink-packet-netfilter` for the entries kept. `None` for other
    /// messages and for entries not kept.
    fn parse_if(r: &Reply, keep: impl Fn(&Entry) -> bool) -> std::result::Result<Option<Entry>, DecodeError> {
        if r.kind != (NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW) {
            return Ok(None);
        }
        let v4 = match NetfilterHeader::parse(&r.payload)?.family {
            NetfilterProtoFamily::IPv4 => true,
            NetfilterProtoFamily::IPv6 => false,
            _ => return Ok(None),
        };
        let mut e = Entry { v4, orig: Vec::new(), zone: None, orig_addrs: (None, None), reply_addrs: (None, None) };
        let mut orig = None;
        for nla in NlasIterator::new(&r.payload[4..]) {
            let nla = nla?;
            match nla.kind() {
                CTA_TUPLE_ORIG => {
                    e.orig_addrs = addrs(nla.value())?;
                    orig = Some(nla);
                }
                CTA_TUPLE_REPLY => e.reply_addrs = addrs(nla.value())?,
                CTA_ZONE => {
                    let v = nla.value();
                    if v.len() >= 2 {
                        e.zone = Some(u16::from_be_bytes([v[0], v[1]]));
                    }
                }
                _ => {}
            }
        }
        let Some(orig) = orig else { return Ok(None) };
        if !keep(&e) {
            return Ok(None);
        }
        if let ConntrackAttribute::CtaTupleOrig(t) = ConntrackAttribute::parse(&orig)? {
            e.orig = t;
        }
        Ok(Some(e))
    }

    /// Whether `ip` is the source or destination of either direction.
    fn involves(&self, ip: IpAddr) -> bool {
        let (a, b) = self.orig_addrs;
        let (c, d) = self.reply_addrs;
        [a, b, c, d].contains(&Some(ip))
    }
}

/// The (source, destination) addresses in the value of a `CTA_TUPLE_*`
/// attribute (its `CTA_TUPLE_IP`).
fn addrs(tuple: &[u8]) -> std::result::Result<(Option<IpAddr>, Option<IpAddr>), DecodeError> {
    let (mut src, mut dst) = (None, None);
    for t in NlasIterator::new(tuple) {
        let t: NlaBuffer<&[u8]> = t?;
        if t.kind() != CTA_TUPLE_IP {
            continue;
        }
        for a in NlasIterator::new(t.value()) {
            let a = a?;
            match a.kind() {
                CTA_IP_V4_SRC | CTA_IP_V6_SRC => src = Some(parse_ip(a.value())?),
                CTA_IP_V4_DST | CTA_IP_V6_DST => dst = Some(parse_ip(a.value())?),
                _ => {}
            }
        }
    }
    Ok((src, dst))
}

/// The original direction as `conntrack -L` would start it:
/// `udp src=10.0.0.7 dst=10.96.0.10 sport=40000 dport=53`.
impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mut proto, mut sport, mut dport) = (None, None, None);
        for t in &self.orig {
            if let Tuple::Proto(p) = t {
                for x in p {
                    match x {
                        ProtoTuple::Protocol(n) => proto = Some(u8::from(*n)),
                        ProtoTuple::SourcePort(n) => sport = Some(*n),
                        ProtoTuple::DestinationPort(n) => dport = Some(*n),
                        _ => {}
                    }
                }
            }
        }
        match proto {
            Some(6) => f.write_str("conntrack tcp")?,
            Some(17) => f.write_str("conntrack udp")?,
            Some(1) => f.write_str("conntrack icmp")?,
            Some(58) => f.write_str("conntrack icmpv6")?,
            Some(n) => write!(f, "conntrack proto {n}")?,
            None => f.write_str("conntrack")?,
        }
        let show = |a: Option<IpAddr>| a.map_or_else(|| "?".to_owned(), |a| a.to_string());
        write!(f, " src={} dst={}", show(self.orig_addrs.0), show(self.orig_addrs.1))?;
        if let (Some(s), Some(d)) = (sport, dport) {
            write!(f, " sport={s} dport={d}")?;
        }
        if let Some(z) = self.zone {
            write!(f, " zone={z}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    /// An `IPCTNL_MSG_CT_NEW` message of a dump (6.18), captured with
    /// `strace -e trace=recvmsg -x conntrack -L` in a fresh namespace after
    /// `conntrack -I -p udp -s 10.0.0.7 -d 10.96.0.10 --sport 40000
    /// --dport 53 -r 10.0.0.100 -q 10.0.0.7 --reply-port-src 53
    /// --reply-port-dst 40000 -t 60 -u SEEN_REPLY` (a DNAT from a
    /// Service-like address to the pod): the bytes after the netlink
    /// header (len 192, `NFNL_SUBSYS_CTNETLINK<<8|IPCTNL_MSG_CT_NEW`,
    /// `NLM_F_MULTI`).
    #[rustfmt::skip]
    const UDP_DNAT_ENTRY: &[u8] = &[
        // nfgenmsg: AF_INET, NFNETLINK_V0, res_id 0
        0x02, 0x00, 0x00, 0x00,
        // CTA_TUPLE_ORIG (NLA_F_NESTED), len 52
        0x34, 0x00, 0x01, 0x80,
        //   CTA_TUPLE_IP (nested), len 20
        0x14, 0x00, 0x01, 0x80,
        //     CTA_IP_V4_SRC 10.0.0.7
        0x08, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x07,
        //     CTA_IP_V4_DST 10.96.0.10
        0x08, 0x00, 0x02, 0x00, 0x0a, 0x60, 0x00, 0x0a,
        //   CTA_TUPLE_PROTO (nested), len 28
        0x1c, 0x00, 0x02, 0x80,
        //     CTA_PROTO_NUM 17 (udp)
        0x05, 0x00, 0x01, 0x00, 0x11, 0x00, 0x00, 0x00,
        //     CTA_PROTO_SRC_PORT 40000
        0x06, 0x00, 0x02, 0x00, 0x9c, 0x40, 0x00, 0x00,
        //     CTA_PROTO_DST_PORT 53
        0x06, 0x00, 0x03, 0x00, 0x00, 0x35, 0x00, 0x00,
        // CTA_TUPLE_REPLY (nested), len 52: the same layout
        0x34, 0x00, 0x02, 0x80,
        0x14, 0x00, 0x01, 0x80,
        //     CTA_IP_V4_SRC 10.0.0.100 (the DNAT target)
        0x08, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x64,
        //     CTA_IP_V4_DST 10.0.0.7
        0x08, 0x00, 0x02, 0x00, 0x0a, 0x00, 0x00, 0x07,
        0x1c, 0x00, 0x02, 0x80,
        0x05, 0x00, 0x01, 0x00, 0x11, 0x00, 0x00, 0x00,
        //     ports 53 -> 40000
        0x06, 0x00, 0x02, 0x00, 0x00, 0x35, 0x00, 0x00,
        0x06, 0x00, 0x03, 0x00, 0x9c, 0x40, 0x00, 0x00,
        // CTA_STATUS 0x0a (SEEN_REPLY | CONFIRMED)
        0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x0a,
        // CTA_MARK 0
        0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
        // CTA_ID
        0x08, 0x00, 0x0c, 0x00, 0xa8, 0x19, 0x3b, 0xbe,
        // CTA_USE 1
        0x08, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x01,
        // CTA_TIMEOUT 59 s
        0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x3b,
        // CTA_SYNPROXY (nested), len 28: ISN, ITS, TSOFF all 0
        0x1c, 0x00, 0x18, 0x80,
        0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    fn reply(payload: &[u8]) -> Reply {
        Reply { kind: NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW, payload: payload.to_vec() }
    }

    #[test]
    fn parses_tuples_and_selects_by_any_address() {
        let e = Entry::parse_if(&reply(UDP_DNAT_ENTRY), |_| true).unwrap().unwrap();
        assert!(e.v4);
        assert_eq!(e.zone, None);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(e.orig_addrs, (Some(ip("10.0.0.7")), Some(ip("10.96.0.10"))));
        assert_eq!(e.reply_addrs, (Some(ip("10.0.0.100")), Some(ip("10.0.0.7"))));
        // The DNAT target appears only in the reply tuple.
        assert!(e.involves(ip("10.0.0.100")));
        assert!(e.involves(ip("10.96.0.10")));
        assert!(!e.involves(ip("10.0.0.101")));
        assert_eq!(e.to_string(), "conntrack udp src=10.0.0.7 dst=10.96.0.10 sport=40000 dport=53");
    }

    #[test]
    fn delete_sends_the_original_tuple_back() {
        let e = Entry::parse_if(&reply(UDP_DNAT_ENTRY), |_| true).unwrap().unwrap();
        let msg = NetfilterMessage::new(
            header(true),
            ConntrackMessage::Delete(vec![ConntrackAttribute::CtaTupleOrig(e.orig.clone())]),
        );
        let mut buf = vec![0; msg.buffer_len()];
        msg.emit(&mut buf);
        // nfgenmsg, then CTA_TUPLE_ORIG byte for byte as the kernel sent it.
        assert_eq!(buf, UDP_DNAT_ENTRY[..4 + 52]);
    }

    #[test]
    fn zone_is_read_and_other_messages_are_skipped() {
        let mut with_zone = UDP_DNAT_ENTRY.to_vec();
        // CTA_ZONE 7
        with_zone.extend_from_slice(&[0x06, 0x00, 0x12, 0x00, 0x00, 0x07, 0x00, 0x00]);
        let e = Entry::parse_if(&reply(&with_zone), |_| true).unwrap().unwrap();
        assert_eq!(e.zone, Some(7));
        assert!(e.to_string().ends_with(" zone=7"));
        let other = Reply { kind: 0x0103, payload: UDP_DNAT_ENTRY.to_vec() };
        assert_eq!(Entry::parse_if(&other, |_| true).unwrap(), None);
        // Not kept: not parsed further.
        assert_eq!(Entry::parse_if(&reply(UDP_DNAT_ENTRY), |_| false).unwrap(), None);
        // Truncated: an error, never a panic.
        for n in 4..UDP_DNAT_ENTRY.len() {
            let _ = Entry::parse_if(&reply(&UDP_DNAT_ENTRY[..n]), |_| true);
        }
    }

    #[test]
    fn unavailable_errors() {
        let io = |errno| Error::io("socket(NETLINK_NETFILTER)", "x", std::io::Error::from_raw_os_error(errno));
        assert!(unavailable(&io(libc::EPROTONOSUPPORT)));
        let nl = |errno| Error::netlink(OP_DUMP, "x", errno, None);
        assert!(unavailable(&nl(libc::EINVAL)));
        assert!(!unavailable(&nl(libc::EPERM)));
        assert!(!unavailable(&Error::Timeout { op: OP_DUMP, object: "x".into(), timeout_ms: 1 }));
        assert!(!unavailable(&Error::invalid("x", "y", "z")));
    }
}

//! The floor: what the kernel alone costs for one pod.
//!
//! The requests are encoded before the clock starts and replayed on bare
//! `NETLINK_ROUTE` sockets (`netlink-sys`), the pod namespace is made with
//! the raw system calls `ip netns add` uses (`open(O_EXCL)`, `unshare`,
//! bind mount, `setns` back), sysctls are plain `open`/`pread`/`pwrite`.
//! No validation, no lookups by the harness, no error mapping, no undo
//! log: the only logic left is reading an ifindex out of a reply and
//! patching it into later requests at a known offset.
//!
//! Two variants:
//! - `floor`: the very requests floatip sends for a new pod, in its order,
//!   lookups and conflict checks included (the `RTM_GET*` requests whose
//!   answers floatip needs, the dumps of the uplink's addresses, of table T
//!   and of the rules, and the count of the host's conntrack entries that
//!   tells floatip there is nothing to flush), and the same sysctl reads. `floatip / floor` is then
//!   the library's own overhead. Two answers steer it as they steer
//!   floatip: table T's routes are added only when the dump of table T
//!   finds none, and released at teardown only when the rule dump finds no
//!   rule of floatip's protocol looking the table up.
//! - `floor-min`: only the requests that change state. It asks the kernel
//!   for fixed ifindexes (`ifi_index` in the veth's `RTM_NEWLINK`, as `ip
//!   link add ... index N` does) so it needs no lookup at all, skips the
//!   shared sysctls that are already set, and adds table T's routes with
//!   its first pod and deletes them with its last (it counts its pods). The
//!   cheapest way to that state.
//!
//! Both run on a thread that lives in the host namespace and keep one host
//! socket open for the whole run; the pod's socket is created while the
//! thread is inside the freshly unshared pod namespace.

use std::ffi::CString;
use std::fs::OpenOptions;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleHeader, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage as Rt};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::lab::{self, NsThread, Pod, GATEWAY, PREFIX_LEN, PROTO, RULE_PRIORITY, UPLINK};
use crate::methods::{Live, Method};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWROUTE: u16 = 24;
const RTM_NEWRULE: u16 = 32;
/// `(NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS`.
const CT_GET_STATS: u16 = (1 << 8) | 5;
/// Rule attributes the floor reads in a dump (`linux/fib_rules.h`).
const FRA_TABLE: u16 = 15;
const FRA_PROTOCOL: u16 = 21;
/// Placeholders encoded where a value is known only at run time; replaced
/// at their byte offsets before the request is sent.
const HOST_IFINDEX: u32 = 0x7ea0_0101;
const POD_IFINDEX: u32 = 0x7ea0_0202;
const NETNS_FD: u32 = 0x7ea0_0303;
/// `floor-min` asks for these ifindexes: host veth `BASE + k`, pod `eth0` 2
/// (a fresh namespace holds only `lo`, ifindex 1).
const MIN_HOST_IFINDEX_BASE: u32 = 100_000;
const MIN_POD_IFINDEX: u32 = 2;

/// What a request expects back.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// An ack with error code 0.
    Ack,
    /// A reply message; remember the ifindex in it (`ifi_index`, bytes 20..24).
    Reply(Save),
    /// An error with this errno (a lookup that finds nothing).
    Errno(i32),
    /// A dump: every part read up to `NLMSG_DONE`; what its answer decides.
    Dump(Note),
}

/// What a dump's answer decides for the steps marked `cond` after it, as
/// floatip decides it.
#[derive(Clone, Copy, Debug)]
enum Note {
    /// Nothing: read through (floatip reads these answers for checks that
    /// pass in the lab).
    Nothing,
    /// Table T holds no route (or does not exist yet: `ENOENT`): the table
    /// routes that follow are added.
    NoRoute,
    /// No rule of floatip's protocol looks table T up any more: the
    /// table's routes that follow are released.
    NoRuleOfTable,
}

/// Where to keep an ifindex read from a reply.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Save {
    Nothing,
    Host,
    Pod,
}

#[derive(Clone, Copy, Debug)]
enum Sock {
    Host,
    Pod,
    /// The host namespace's `NETLINK_NETFILTER` socket (conntrack).
    Conntrack,
}

/// One step of the replay.
enum Step {
    Netlink {
        sock: Sock,
        bytes: Vec<u8>,
        patches: Vec<(usize, u32)>,
        expect: Expect,
        /// Sent only when the last deciding dump said so.
        cond: bool,
    },
    /// `ip netns del`: `umount2` + `unlink`.
    DeleteNetns(CString),
    /// open O_RDWR, pread; pwrite when the value differs (floatip's
    /// `sysctl_replace`).
    SysctlReplace { path: String, value: &'static str },
    /// open O_WRONLY, write.
    SysctlWrite { path: String, value: &'static str },
}

fn encode(msg: Rt, flags: u16, seq: u32) -> Vec<u8> {
    let mut h = NetlinkHeader::default();
    h.flags = NLM_F_REQUEST | flags;
    h.sequence_number = seq;
    let mut m = NetlinkMessage::new(h, NetlinkPayload::InnerMessage(msg));
    m.finalize();
    let mut b = vec![0; m.buffer_len()];
    m.serialize(&mut b);
    b
}

/// The 4-byte-aligned offsets of the placeholders in `bytes`.
fn placeholders(bytes: &[u8]) -> Vec<(usize, u32)> {
    let mut v = Vec::new();
    for off in (0..bytes.len().saturating_sub(3)).step_by(4) {
        let x = u32::from_ne_bytes(bytes[off..off + 4].try_into().unwrap());
        if matches!(x, HOST_IFINDEX | POD_IFINDEX | NETNS_FD) {
            v.push((off, x));
        }
    }
    v
}

struct Builder {
    steps: Vec<Step>,
    seq: u32,
}

impl Builder {
    fn nl(&mut self, sock: Sock, msg: Rt, flags: u16, expect: Expect) {
        self.push(sock, msg, flags, expect, false);
    }
    /// A request sent only when the last deciding dump said so.
    fn nl_if(&mut self, sock: Sock, msg: Rt, flags: u16, expect: Expect) {
        self.push(sock, msg, flags, expect, true);
    }
    fn push(&mut self, sock: Sock, msg: Rt, flags: u16, expect: Expect, cond: bool) {
        self.seq += 1;
        let bytes = encode(msg, flags, self.seq);
        let patches = placeholders(&bytes);
        self.steps.push(Step::Netlink { sock, bytes, patches, expect, cond });
    }
    /// attach's conntrack check: `IPCTNL_MSG_CT_GET_STATS` (how many
    /// entries the host's table holds; with none there is nothing to
    /// flush), asked with an ack as floatip asks it: one reply, then the
    /// ack.
    fn conntrack_count(&mut self) {
        self.seq += 1;
        let mut bytes = Vec::with_capacity(20);
        bytes.extend_from_slice(&20u32.to_ne_bytes());
        bytes.extend_from_slice(&CT_GET_STATS.to_ne_bytes());
        bytes.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        bytes.extend_from_slice(&self.seq.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 0]); // nfgenmsg: AF_UNSPEC, version 0, res_id 0
        self.steps.push(Step::Netlink {
            sock: Sock::Conntrack,
            bytes,
            patches: Vec::new(),
            expect: Expect::Dump(Note::Nothing),
            cond: false,
        });
    }
}

fn link_by_name(name: &str) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_owned()));
    m.attributes.push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    m
}

fn link_up(index: u32) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.change_mask = LinkFlags::Up;
    m.header.flags = LinkFlags::Up;
    m
}

fn set_alias(index: u32, alias: String) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes.push(LinkAttribute::IfAlias(alias));
    m
}

fn veth(pod: &Pod, index: u32, peer_index: u32) -> LinkMessage {
    // Both MACs given in the create message, as floatip does.
    let mac = |role: u8| vec![0x02, role, 0, 0, (pod.k >> 8) as u8, pod.k as u8];
    let mut peer = LinkMessage::default();
    peer.header.index = peer_index;
    peer.attributes.push(LinkAttribute::Address(mac(b'p')));
    peer.attributes.push(LinkAttribute::Mtu(1500));
    peer.attributes.push(LinkAttribute::NetNsFd(NETNS_FD as RawFd));
    peer.attributes.push(LinkAttribute::IfName("eth0".into()));
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes.push(LinkAttribute::Address(mac(b'h')));
    m.attributes.push(LinkAttribute::Mtu(1500));
    m.attributes.push(LinkAttribute::IfName(pod.host_if.clone()));
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
    ]));
    m
}

fn route(dst: Ipv4Addr, len: u8, gateway: Option<Ipv4Addr>, oif: u32) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header = RouteHeader {
        address_family: AddressFamily::Inet,
        destination_prefix_length: len,
        table: 254,
        // The host route carries floatip's mark; the pod's default route
        // is `ip route`'s usual boot.
        protocol: if gateway.is_some() { RouteProtocol::Boot } else { RouteProtocol::from(PROTO) },
        scope: if gateway.is_some() { RouteScope::Universe } else { RouteScope::Link },
        kind: RouteType::Unicast,
        flags: RouteFlags::empty(),
        ..Default::default()
    };
    if len > 0 {
        m.attributes.push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
    }
    if let Some(gw) = gateway {
        m.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(gw)));
    }
    m.attributes.push(RouteAttribute::Oif(oif));
    m.attributes.push(RouteAttribute::Table(254));
    m
}

/// Table T's routes as floatip adds them (`del`: as it deletes them, with
/// the protocol and scope left open): the subnet on the uplink, or the
/// default via the gateway.
fn table_route(default: bool, uplink: u32, del: bool) -> RouteMessage {
    let subnet: floatip::IpPrefix = lab::SUBNET.parse().unwrap();
    let mut m = RouteMessage::default();
    m.header = RouteHeader {
        address_family: AddressFamily::Inet,
        destination_prefix_length: if default { 0 } else { subnet.len() },
        table: 252, // RT_TABLE_COMPAT: the id is in RTA_TABLE
        protocol: if del { RouteProtocol::Unspec } else { RouteProtocol::from(PROTO) },
        scope: match (del, default) {
            (true, _) => RouteScope::NoWhere,
            (false, true) => RouteScope::Universe,
            (false, false) => RouteScope::Link,
        },
        kind: RouteType::Unicast,
        flags: RouteFlags::empty(),
        ..Default::default()
    };
    if default {
        m.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(GATEWAY.parse().unwrap())));
    } else {
        let IpAddr::V4(net) = subnet.network().addr() else { unreachable!("an IPv4 subnet") };
        m.attributes.push(RouteAttribute::Destination(RouteAddress::Inet(net)));
    }
    m.attributes.push(RouteAttribute::Oif(uplink));
    m.attributes.push(RouteAttribute::Table(lab::table()));
    m
}

/// The dump of table T (IPv4), of floatip's routes only with `protocol`.
fn table_dump(protocol: u8) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = AddressFamily::Inet;
    m.header.protocol = RouteProtocol::from(protocol);
    m.attributes.push(RouteAttribute::Table(lab::table()));
    m
}

/// Rule `i` (0, 1, 2) of the pod's three, as floatip encodes it (for add
/// and for delete alike): `from IP lookup main suppress_prefixlength 0`,
/// `from IP lookup T`, `from all blackhole`, all `iif` the host veth.
fn rule(pod: &Pod, i: u32) -> RuleMessage {
    let table = match i {
        0 => Some(254),
        1 => Some(lab::table()),
        _ => None,
    };
    let mut m = RuleMessage::default();
    m.header = RuleHeader {
        family: AddressFamily::Inet,
        src_len: if table.is_some() { 32 } else { 0 },
        table: match table {
            Some(t) if t < 256 => t as u8,
            Some(_) => 252,
            None => 0,
        },
        action: if table.is_some() { RuleAction::ToTable } else { RuleAction::Blackhole },
        ..Default::default()
    };
    let a = &mut m.attributes;
    a.push(RuleAttribute::Priority(RULE_PRIORITY + i));
    if table.is_some() {
        a.push(RuleAttribute::Source(IpAddr::V4(pod.ip)));
    }
    a.push(RuleAttribute::Iifname(pod.host_if.clone()));
    if let Some(t) = table {
        a.push(RuleAttribute::Table(t));
    }
    if i == 0 {
        a.push(RuleAttribute::SuppressPrefixLen(0));
    }
    a.push(RuleAttribute::Protocol(RouteProtocol::from(PROTO)));
    m
}

/// The dump of the IPv4 rules.
fn rule_dump() -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = AddressFamily::Inet;
    m
}

/// The dump of one link's addresses (the uplink's: floatip checks it has
/// one in the gateway's subnet).
fn addr_dump(index: u32) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.index = index;
    m
}

fn fibmatch(ip: Ipv4Addr) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = AddressFamily::Inet;
    m.header.destination_prefix_length = 32;
    m.header.flags = RouteFlags::FibMatch;
    m.attributes.push(RouteAttribute::Destination(RouteAddress::Inet(ip)));
    m
}

fn addr(pod: &Pod, index: u32) -> AddressMessage {
    let bits = 32 - u32::from(PREFIX_LEN);
    let brd = Ipv4Addr::from(u32::from(pod.ip) | ((1u32 << bits) - 1));
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.prefix_len = PREFIX_LEN;
    m.header.index = index;
    m.header.scope = AddressScope::Universe;
    m.attributes.push(AddressAttribute::Local(IpAddr::V4(pod.ip)));
    m.attributes.push(AddressAttribute::Address(IpAddr::V4(pod.ip)));
    m.attributes.push(AddressAttribute::Broadcast(brd));
    m
}

fn proxy(index: u32, ip: Ipv4Addr, get: bool) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.ifindex = index;
    m.header.kind = RouteType::Unspec;
    m.header.flags = NeighbourFlags::Proxy;
    if !get {
        m.header.state = NeighbourState::from(0x80); // NUD_PERMANENT
    }
    m.attributes.push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
    if !get {
        m.attributes.push(NeighbourAttribute::Protocol(RouteProtocol::from(PROTO)));
    }
    m
}

/// The steps of one pod's setup, after the pod namespace exists (`first`:
/// floor-min's first pod, which adds table T's routes).
fn setup_steps(pod: &Pod, uplink_index: u32, min: bool, first: bool, conntrack: bool) -> Vec<Step> {
    let gw: Ipv4Addr = GATEWAY.parse().unwrap();
    let create = NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
    let mut b = Builder { steps: Vec::new(), seq: 0 };
    let conf = |what: &str, dev: &str, param: &str| format!("/proc/sys/net/ipv4/{what}/{dev}/{param}");
    let v6conf = |dev: &str, param: &str| format!("/proc/sys/net/ipv6/conf/{dev}/{param}");
    if min {
        let host = MIN_HOST_IFINDEX_BASE + pod.k as u32;
        b.nl(Sock::Host, Rt::NewLink(veth(pod, host, MIN_POD_IFINDEX)), create, Expect::Ack);
        b.nl(Sock::Host, Rt::SetLink(set_alias(host, lab::alias(pod))), NLM_F_ACK, Expect::Ack);
        b.nl(Sock::Pod, Rt::SetLink(link_up(MIN_POD_IFINDEX)), NLM_F_ACK, Expect::Ack);
        b.nl(Sock::Pod, Rt::NewAddress(addr(pod, MIN_POD_IFINDEX)), create, Expect::Ack);
        b.nl(Sock::Pod, Rt::NewRoute(route(Ipv4Addr::UNSPECIFIED, 0, Some(gw), MIN_POD_IFINDEX)), create, Expect::Ack);
        b.steps.push(Step::SysctlWrite { path: v6conf(&pod.host_if, "disable_ipv6"), value: "1" });
        b.nl(Sock::Host, Rt::SetLink(link_up(host)), NLM_F_ACK, Expect::Ack);
        b.steps.push(Step::SysctlWrite { path: conf("neigh", &pod.host_if, "proxy_delay"), value: "0" });
        b.steps.push(Step::SysctlWrite { path: conf("conf", &pod.host_if, "proxy_arp"), value: "1" });
        b.nl(Sock::Host, Rt::NewRoute(route(pod.ip, 32, None, host)), create, Expect::Ack);
        if first {
            for default in [false, true] {
                b.nl(Sock::Host, Rt::NewRoute(table_route(default, uplink_index, false)), create, Expect::Ack);
            }
        }
        for i in 0..3 {
            b.nl(Sock::Host, Rt::NewRule(rule(pod, i)), create, Expect::Ack);
        }
        b.nl(Sock::Host, Rt::NewNeighbour(proxy(uplink_index, pod.ip, false)), create, Expect::Ack);
        b.nl(Sock::Pod, Rt::SetLink(link_up(1)), NLM_F_ACK, Expect::Ack);
        return b.steps;
    }
    // floatip's attach for a new pod, request for request (attach.rs; the
    // order as strace shows it).
    b.nl(Sock::Host, Rt::GetLink(link_by_name(UPLINK)), 0, Expect::Reply(Save::Nothing));
    b.nl(Sock::Host, Rt::GetLink(link_by_name(&pod.host_if)), 0, Expect::Errno(libc::ENODEV));
    // Routed IPv4 needs an uplink address in the gateway's subnet.
    b.nl(Sock::Host, Rt::GetAddress(addr_dump(uplink_index)), NLM_F_DUMP, Expect::Dump(Note::Nothing));
    b.nl(Sock::Host, Rt::GetRoute(fibmatch(pod.ip)), 0, Expect::Reply(Save::Nothing));
    b.nl(Sock::Host, Rt::NewLink(veth(pod, 0, 0)), create, Expect::Ack);
    b.nl(Sock::Host, Rt::GetLink(link_by_name(&pod.host_if)), 0, Expect::Reply(Save::Host));
    b.nl(Sock::Host, Rt::SetLink(set_alias(HOST_IFINDEX, lab::alias(pod))), NLM_F_ACK, Expect::Ack);
    b.nl(Sock::Pod, Rt::GetLink(link_by_name("eth0")), 0, Expect::Reply(Save::Pod));
    b.nl(Sock::Pod, Rt::SetLink(link_up(POD_IFINDEX)), NLM_F_ACK, Expect::Ack);
    b.nl(Sock::Pod, Rt::NewAddress(addr(pod, POD_IFINDEX)), create, Expect::Ack);
    b.nl(Sock::Pod, Rt::NewRoute(route(Ipv4Addr::UNSPECIFIED, 0, Some(gw), POD_IFINDEX)), create, Expect::Ack);
    b.steps.push(Step::SysctlReplace { path: v6conf(&pod.host_if, "disable_ipv6"), value: "1" });
    b.nl(Sock::Host, Rt::SetLink(link_up(HOST_IFINDEX)), NLM_F_ACK, Expect::Ack);
    b.steps.push(Step::SysctlReplace { path: conf("neigh", &pod.host_if, "proxy_delay"), value: "0" });
    b.steps.push(Step::SysctlReplace { path: conf("conf", &pod.host_if, "proxy_arp"), value: "1" });
    b.steps.push(Step::SysctlReplace { path: conf("conf", &pod.host_if, "forwarding"), value: "1" });
    b.nl(Sock::Host, Rt::NewRoute(route(pod.ip, 32, None, HOST_IFINDEX)), create, Expect::Ack);
    b.steps.push(Step::SysctlReplace { path: "/proc/sys/net/ipv4/ip_forward".into(), value: "1" });
    b.steps.push(Step::SysctlReplace { path: conf("conf", UPLINK, "forwarding"), value: "1" });
    b.steps.push(Step::SysctlReplace { path: conf("neigh", UPLINK, "proxy_delay"), value: "0" });
    // Table T (under floatip's table lock): one dump, the routes only when
    // missing; then the pod's three rules.
    b.nl(Sock::Host, Rt::GetRoute(table_dump(0)), NLM_F_DUMP, Expect::Dump(Note::NoRoute));
    for default in [false, true] {
        b.nl_if(Sock::Host, Rt::NewRoute(table_route(default, uplink_index, false)), create, Expect::Ack);
    }
    for i in 0..3 {
        b.nl(Sock::Host, Rt::NewRule(rule(pod, i)), create, Expect::Ack);
    }
    b.nl(Sock::Host, Rt::GetNeighbour(proxy(uplink_index, pod.ip, true)), 0, Expect::Errno(libc::ENOENT));
    b.nl(Sock::Host, Rt::NewNeighbour(proxy(uplink_index, pod.ip, false)), create, Expect::Ack);
    // The IP came here: its conntrack entries from before are stale (none
    // in the lab, so the count is all floatip asks).
    if conntrack {
        b.conntrack_count();
    }
    b.nl(Sock::Pod, Rt::GetLink(link_by_name("lo")), 0, Expect::Reply(Save::Nothing));
    b.nl(Sock::Pod, Rt::SetLink(link_up(1)), NLM_F_ACK, Expect::Ack);
    b.steps
}

/// The steps of one pod's teardown, its namespace's deletion included
/// (`last`: floor-min's last pod, which deletes table T's routes).
fn teardown_steps(pod: &Pod, uplink_index: u32, min: bool, last: bool) -> Vec<Step> {
    let mut b = Builder { steps: Vec::new(), seq: 0 };
    let del_link = |index: u32| {
        let mut m = LinkMessage::default();
        m.header.index = index;
        Rt::DelLink(m)
    };
    let netns = CString::new(format!("/run/netns/{}", pod.netns)).unwrap();
    if min {
        b.nl(Sock::Host, del_link(MIN_HOST_IFINDEX_BASE + pod.k as u32), NLM_F_ACK, Expect::Ack);
        for i in 0..3 {
            b.nl(Sock::Host, Rt::DelRule(rule(pod, i)), NLM_F_ACK, Expect::Ack);
        }
        b.nl(Sock::Host, Rt::DelNeighbour(proxy(uplink_index, pod.ip, false)), NLM_F_ACK, Expect::Ack);
        b.steps.push(Step::DeleteNetns(netns));
        if last {
            for default in [true, false] {
                b.nl(Sock::Host, Rt::DelRoute(table_route(default, uplink_index, true)), NLM_F_ACK, Expect::Ack);
            }
        }
        return b.steps;
    }
    // floatip's detach: look the veth up (its mark), delete it; delete the
    // veth's three rules (named by its mark: no dump); look the uplink up, its proxy
    // entry (whose protocol it checks) and whether another veth still
    // serves the IP, delete the entry; delete the pod namespace; then
    // (under the table lock) dump the rules again and, when none of
    // floatip's looks table T up any more, dump T's routes and delete them
    // (default first: the dump's order).
    b.nl(Sock::Host, Rt::GetLink(link_by_name(&pod.host_if)), 0, Expect::Reply(Save::Host));
    b.nl(Sock::Host, del_link(HOST_IFINDEX), NLM_F_ACK, Expect::Ack);
    for i in 0..3 {
        b.nl(Sock::Host, Rt::DelRule(rule(pod, i)), NLM_F_ACK, Expect::Ack);
    }
    b.nl(Sock::Host, Rt::GetLink(link_by_name(UPLINK)), 0, Expect::Reply(Save::Nothing));
    b.nl(Sock::Host, Rt::GetNeighbour(proxy(uplink_index, pod.ip, true)), 0, Expect::Reply(Save::Nothing));
    b.nl(Sock::Host, Rt::GetRoute(fibmatch(pod.ip)), 0, Expect::Reply(Save::Nothing));
    b.nl(Sock::Host, Rt::DelNeighbour(proxy(uplink_index, pod.ip, false)), NLM_F_ACK, Expect::Ack);
    b.steps.push(Step::DeleteNetns(netns));
    b.nl(Sock::Host, Rt::GetRule(rule_dump()), NLM_F_DUMP, Expect::Dump(Note::NoRuleOfTable));
    b.nl_if(Sock::Host, Rt::GetRoute(table_dump(PROTO)), NLM_F_DUMP, Expect::Dump(Note::Nothing));
    for default in [true, false] {
        b.nl_if(Sock::Host, Rt::DelRoute(table_route(default, uplink_index, true)), NLM_F_ACK, Expect::Ack);
    }
    b.steps
}

/// Whether a message of a dump counts for `note`: a route (`NoRoute`), or
/// a rule of floatip's protocol that looks table T up (`NoRuleOfTable`).
fn counts(note: Note, msg: &[u8]) -> bool {
    let kind = u16::from_ne_bytes([msg[4], msg[5]]);
    match note {
        Note::Nothing => false,
        Note::NoRoute => kind == RTM_NEWROUTE,
        Note::NoRuleOfTable => {
            if kind != RTM_NEWRULE {
                return false;
            }
            // The attributes after the 16-byte header and the 12-byte
            // `fib_rule_hdr`.
            let (mut table, mut proto, mut off) = (None, None, 28);
            while off + 4 <= msg.len() {
                let len = u16::from_ne_bytes([msg[off], msg[off + 1]]) as usize;
                let ty = u16::from_ne_bytes([msg[off + 2], msg[off + 3]]) & 0x3fff;
                if len < 4 || off + len > msg.len() {
                    break;
                }
                let v = &msg[off + 4..off + len];
                match ty {
                    FRA_TABLE if v.len() >= 4 => table = Some(u32::from_ne_bytes(v[..4].try_into().unwrap())),
                    FRA_PROTOCOL if !v.is_empty() => proto = Some(v[0]),
                    _ => {}
                }
                off += (len + 3) & !3;
            }
            table == Some(lab::table()) && proto == Some(PROTO)
        }
    }
}

fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// A bare `NETLINK_NETFILTER` socket in the calling thread's namespace,
/// when the kernel has `nf_conntrack` (floatip asks nothing otherwise).
fn conntrack_socket() -> Result<Option<Socket>, String> {
    if !std::path::Path::new("/sys/module/nf_conntrack").exists() {
        return Ok(None);
    }
    let mut s = Socket::new(netlink_sys::protocols::NETLINK_NETFILTER).map_err(|e| format!("socket: {e}"))?;
    s.bind_auto().map_err(|e| format!("bind: {e}"))?;
    s.set_ext_ack(true).map_err(|e| format!("ext_ack: {e}"))?;
    s.set_cap_ack(true).map_err(|e| format!("cap_ack: {e}"))?;
    Ok(Some(s))
}

/// A bare rtnetlink socket in the calling thread's namespace, with the
/// options floatip sets that change what the kernel does (extended acks,
/// capped acks, strict checking of get requests).
fn socket() -> Result<Socket, String> {
    let mut s = Socket::new(NETLINK_ROUTE).map_err(|e| format!("socket: {e}"))?;
    s.bind_auto().map_err(|e| format!("bind: {e}"))?;
    s.set_ext_ack(true).map_err(|e| format!("ext_ack: {e}"))?;
    s.set_cap_ack(true).map_err(|e| format!("cap_ack: {e}"))?;
    s.set_netlink_get_strict_chk(true).map_err(|e| format!("strict_chk: {e}"))?;
    Ok(s)
}

/// The floor's state, owned by its namespace thread between calls.
struct State {
    host_fd: OwnedFd,
    host: Socket,
    /// As floatip opens it once per `Host`, when the kernel has conntrack.
    conntrack: Option<Socket>,
    uplink_index: u32,
    buf: Vec<u8>,
    tx: Vec<u8>,
}

impl State {
    fn exchange(&mut self, pod: Option<&Socket>, sock: Sock, req: &[u8], expect: Expect) -> Result<u32, String> {
        let s = match sock {
            Sock::Host => &self.host,
            Sock::Pod => pod.ok_or("no pod socket")?,
            Sock::Conntrack => self.conntrack.as_ref().ok_or("no conntrack socket")?,
        };
        s.send_to(req, &SocketAddr::new(0, 0), 0).map_err(|e| format!("send: {e}"))?;
        self.buf.clear();
        let n = s.recv(&mut self.buf, 0).map_err(|e| format!("recv: {e}"))?;
        let b = &self.buf[..n];
        if n < 20 {
            return Err(format!("short answer ({n} bytes)"));
        }
        let kind = u16::from_ne_bytes([b[4], b[5]]);
        let code = if kind == NLMSG_ERROR { i32::from_ne_bytes(b[16..20].try_into().unwrap()) } else { 0 };
        match expect {
            Expect::Ack if kind == NLMSG_ERROR && code == 0 => Ok(0),
            Expect::Errno(e) if kind == NLMSG_ERROR && code == -e => Ok(0),
            Expect::Reply(_) if kind != NLMSG_ERROR && n >= 24 => Ok(u32::from_ne_bytes(b[20..24].try_into().unwrap())),
            _ => Err(format!(
                "expected {expect:?}, got type {kind} code {code} ({})",
                std::io::Error::from_raw_os_error(-code)
            )),
        }
    }

    /// Sends a dump request and reads every part of the answer up to
    /// `NLMSG_DONE`; returns whether no message counted for `note` (a
    /// missing table, `ENOENT`, holds no route).
    fn dump(&mut self, pod: Option<&Socket>, sock: Sock, req: &[u8], note: Note) -> Result<bool, String> {
        let s = match sock {
            Sock::Host => &self.host,
            Sock::Pod => pod.ok_or("no pod socket")?,
            Sock::Conntrack => self.conntrack.as_ref().ok_or("no conntrack socket")?,
        };
        s.send_to(req, &SocketAddr::new(0, 0), 0).map_err(|e| format!("send: {e}"))?;
        let mut none = true;
        loop {
            self.buf.clear();
            let n = s.recv(&mut self.buf, 0).map_err(|e| format!("recv: {e}"))?;
            let mut off = 0;
            while off + 16 <= n {
                let b = &self.buf[off..n];
                let len = u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize;
                if len < 16 || len > b.len() {
                    return Err(format!("bad message length {len} in a dump"));
                }
                let kind = u16::from_ne_bytes([b[4], b[5]]);
                if kind == NLMSG_DONE || kind == NLMSG_ERROR {
                    let code = if len >= 20 { i32::from_ne_bytes(b[16..20].try_into().unwrap()) } else { 0 };
                    return match (code, note) {
                        (0, _) => Ok(none),
                        (c, Note::NoRoute) if c == -libc::ENOENT => Ok(true),
                        (c, _) => Err(format!("dump failed: {}", std::io::Error::from_raw_os_error(-c))),
                    };
                }
                if counts(note, &b[..len]) {
                    none = false;
                }
                off += (len + 3) & !3;
            }
        }
    }

    fn replay(&mut self, steps: &[Step], pod: Option<&Socket>, netns_fd: u32) -> Result<(), String> {
        let mut tx = std::mem::take(&mut self.tx);
        let r = self.replay_with(&mut tx, steps, pod, netns_fd);
        self.tx = tx;
        r
    }

    fn replay_with(
        &mut self,
        tx: &mut Vec<u8>,
        steps: &[Step],
        pod: Option<&Socket>,
        netns_fd: u32,
    ) -> Result<(), String> {
        let (mut host_idx, mut pod_idx) = (0u32, 0u32);
        // What the last deciding dump said: send the `cond` requests.
        let mut go = true;
        for step in steps {
            match step {
                Step::Netlink { cond: true, .. } if !go => {}
                Step::Netlink { sock, bytes, patches, expect, .. } => {
                    let req: &[u8] = if patches.is_empty() {
                        bytes
                    } else {
                        tx.clear();
                        tx.extend_from_slice(bytes);
                        for &(off, what) in patches {
                            let v = match what {
                                HOST_IFINDEX => host_idx,
                                POD_IFINDEX => pod_idx,
                                _ => netns_fd,
                            };
                            tx[off..off + 4].copy_from_slice(&v.to_ne_bytes());
                        }
                        &tx[..]
                    };
                    let named = |e: String| format!("{}: {e}", step_name(bytes));
                    if let Expect::Dump(note) = expect {
                        let none = self.dump(pod, *sock, req, *note).map_err(named)?;
                        if !matches!(note, Note::Nothing) {
                            go = none;
                        }
                        continue;
                    }
                    let idx = self.exchange(pod, *sock, req, *expect).map_err(named)?;
                    match expect {
                        Expect::Reply(Save::Host) => host_idx = idx,
                        Expect::Reply(Save::Pod) => pod_idx = idx,
                        _ => {}
                    }
                }
                Step::DeleteNetns(path) => State::delete_netns(path)?,
                Step::SysctlReplace { path, value } => {
                    let f = OpenOptions::new().read(true).write(true).open(path).map_err(|e| format!("{path}: {e}"))?;
                    let mut b = [0u8; 64];
                    let n = f.read_at(&mut b, 0).map_err(|e| format!("{path}: {e}"))?;
                    if b[..n].trim_ascii_end() != value.as_bytes() {
                        f.write_at(value.as_bytes(), 0).map_err(|e| format!("{path}: {e}"))?;
                    }
                }
                Step::SysctlWrite { path, value } => {
                    let f = OpenOptions::new().write(true).open(path).map_err(|e| format!("{path}: {e}"))?;
                    f.write_at(value.as_bytes(), 0).map_err(|e| format!("{path}: {e}"))?;
                }
            }
        }
        Ok(())
    }

    /// `ip netns add`, done with the raw system calls, leaving the thread
    /// back in the host namespace; returns the pod namespace's fd and a
    /// socket created inside it.
    fn create_netns(&self, path: &CString) -> Result<(OwnedFd, Socket), String> {
        const THREAD_NS: &std::ffi::CStr = c"/proc/thread-self/ns/net";
        // SAFETY (this block): every pointer is a NUL-terminated string
        // alive for the call; fds returned are owned right away.
        #[allow(unsafe_code)]
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC, 0);
            if fd < 0 {
                return Err(os_err("create netns file"));
            }
            libc::close(fd);
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                let e = os_err("unshare");
                libc::unlink(path.as_ptr());
                return Err(e);
            }
            let inside = (|| {
                if libc::mount(
                    THREAD_NS.as_ptr(),
                    path.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(os_err("bind mount netns"));
                }
                let nsfd = libc::open(THREAD_NS.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
                if nsfd < 0 {
                    return Err(os_err("open netns"));
                }
                let nsfd = OwnedFd::from_raw_fd(nsfd);
                Ok((nsfd, socket()?))
            })();
            if libc::setns(self.host_fd.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                eprintln!("floor: cannot return to the host namespace: {}; aborting", os_err("setns"));
                std::process::abort();
            }
            if inside.is_err() {
                libc::umount2(path.as_ptr(), libc::MNT_DETACH);
                libc::unlink(path.as_ptr());
            }
            inside
        }
    }

    fn delete_netns(path: &CString) -> Result<(), String> {
        // SAFETY: NUL-terminated path alive for both calls.
        #[allow(unsafe_code)]
        unsafe {
            if libc::umount2(path.as_ptr(), libc::MNT_DETACH) != 0 {
                return Err(os_err("umount netns"));
            }
            if libc::unlink(path.as_ptr()) != 0 {
                return Err(os_err("unlink netns"));
            }
        }
        Ok(())
    }
}

fn step_name(bytes: &[u8]) -> String {
    let kind = u16::from_ne_bytes([bytes[4], bytes[5]]);
    let name = match kind {
        16 => "RTM_NEWLINK",
        17 => "RTM_DELLINK",
        18 => "RTM_GETLINK",
        19 => "RTM_SETLINK",
        20 => "RTM_NEWADDR",
        22 => "RTM_GETADDR",
        24 => "RTM_NEWROUTE",
        25 => "RTM_DELROUTE",
        26 => "RTM_GETROUTE",
        28 => "RTM_NEWNEIGH",
        29 => "RTM_DELNEIGH",
        30 => "RTM_GETNEIGH",
        32 => "RTM_NEWRULE",
        33 => "RTM_DELRULE",
        34 => "RTM_GETRULE",
        CT_GET_STATS => "IPCTNL_MSG_CT_GET_STATS",
        _ => "RTM_?",
    };
    name.to_owned()
}

/// The floor as a [`Method`].
pub struct Floor {
    name: &'static str,
    min: bool,
    thread: Rc<NsThread>,
    state: Option<State>,
    /// floor-min's pods, to know its first and last.
    live: Live,
}

impl Floor {
    /// A floor run by `thread`, which lives in the host namespace (`min`:
    /// the state-changing requests only).
    pub fn new(thread: Rc<NsThread>, min: bool) -> Result<Floor, String> {
        let state = thread.run(|| -> Result<State, String> {
            // SAFETY: NUL-terminated constant path; the fd is owned at once.
            #[allow(unsafe_code)]
            let host_fd = unsafe {
                let fd = libc::open(c"/proc/thread-self/ns/net".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(os_err("open host netns"));
                }
                OwnedFd::from_raw_fd(fd)
            };
            let mut st = State {
                host_fd,
                host: socket()?,
                conntrack: conntrack_socket()?,
                uplink_index: 0,
                buf: Vec::with_capacity(64 * 1024),
                tx: Vec::with_capacity(1024),
            };
            let mut b = Builder { steps: Vec::new(), seq: 0 };
            b.nl(Sock::Host, Rt::GetLink(link_by_name(UPLINK)), 0, Expect::Reply(Save::Nothing));
            let Step::Netlink { bytes, .. } = &b.steps[0] else { unreachable!() };
            st.uplink_index = st.exchange(None, Sock::Host, bytes, Expect::Reply(Save::Nothing))?;
            Ok(st)
        })?;
        Ok(Floor {
            name: if min { "floor-min" } else { "floor" },
            min,
            thread,
            state: Some(state),
            live: Live::default(),
        })
    }
}

impl Method for Floor {
    fn name(&self) -> &'static str {
        self.name
    }

    fn setup(&mut self, pod: &Pod) -> Result<Duration, String> {
        let mut st = self.state.take().ok_or("floor state lost")?;
        let steps = setup_steps(pod, st.uplink_index, self.min, self.live.none(), st.conntrack.is_some());
        let path = CString::new(format!("/run/netns/{}", pod.netns)).unwrap();
        let (st, r) = self.thread.run(move || {
            let t = Instant::now();
            let r = (|| {
                let (nsfd, pod_sock) = st.create_netns(&path)?;
                st.replay(&steps, Some(&pod_sock), nsfd.as_raw_fd() as u32)?;
                drop(pod_sock);
                drop(nsfd);
                Ok(t.elapsed())
            })();
            (st, r)
        });
        self.state = Some(st);
        if r.is_ok() {
            self.live.up();
        }
        r
    }

    fn teardown(&mut self, pod: &Pod) -> Result<Duration, String> {
        let mut st = self.state.take().ok_or("floor state lost")?;
        let last = self.live.down();
        // Encoded before the clock starts, like the setup's.
        let steps = teardown_steps(pod, st.uplink_index, self.min, last);
        let (st, r) = self.thread.run(move || {
            let t = Instant::now();
            let r = st.replay(&steps, None, 0).map(|()| t.elapsed());
            (st, r)
        });
        self.state = Some(st);
        r
    }

    fn forget_pods(&mut self) -> Result<(), String> {
        self.live.clear();
        Ok(())
    }
}

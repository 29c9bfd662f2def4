//! Builders for the frames that move a floating IP to a new MAC address:
//! gratuitous ARP for IPv4 and unsolicited Neighbor Advertisements for
//! IPv6, and [`classify`] to read such frames back from a capture.
//!
//! The builders write one complete Ethernet frame (no FCS) into the
//! caller's buffer and return its length; they never allocate and never
//! panic. They check the addresses they are given and return
//! [`WireError::Malformed`] for ones that must not be announced, and
//! [`WireError::Truncated`] when the buffer is too short.
//!
//! # Which gratuitous ARP Linux believes
//!
//! A Linux receiver (`net/ipv4/arp.c`, `arp_process` and `arp_is_garp`)
//! first looks up a neighbour entry for the sender IP `sip`. It then calls
//! a frame gratuitous when
//!
//! ```text
//! is_garp = tip == sip
//! if is_garp && op == REPLY:  is_garp = tha != NULL && memcmp(tha, sha, addr_len) == 0
//! if is_garp:                 is_garp = inet_addr_type_dev_table(sip) == RTN_UNICAST
//! ```
//!
//! that is: sender IP equals target IP; for a **reply**, the target MAC
//! must also equal the sender MAC; and `sip` must be a unicast address in
//! the receiver's routing table. A request is gratuitous whatever its
//! target MAC holds. What that buys:
//!
//! * an existing entry is overwritten by any ARP from `sip` once its
//!   `locktime` (1 s by default) has passed, but **within** `locktime`
//!   only by a gratuitous frame (`override = time_after(now, updated +
//!   locktime) || is_garp`). So a reply whose target MAC is broadcast or
//!   zero is ignored for a second after the entry last changed, while the
//!   forms built here are not;
//! * with `arp_accept` on, a gratuitous frame also creates a missing
//!   entry (by default, `arp_accept = 0`, it only updates existing ones);
//! * requests and replies not addressed to the receiver's own MAC (a
//!   broadcast reply) leave the entry `STALE`, not `REACHABLE`;
//! * `drop_gratuitous_arp = 1` drops every frame with `sip == tip`.
//!
//! Checked on Linux 6.18 by sending these builders' frames over a veth
//! into a namespace whose entry for the IP had just been set (so within
//! `locktime`) to another MAC: the request form and the reply form both
//! replaced it at once, while the same reply with `tha` broadcast left it
//! alone (and replaced it only when sent after `locktime`).
//!
//! Hence the reply form here **always** carries `tha = sha`, and the
//! request form defaults to `tha = 00:00:00:00:00:00`, as RFC 5227's ARP
//! Announcement and the kernel's own `arp_notify` frames do; some devices
//! want `ff:ff:ff:ff:ff:ff` there instead, which is what iputils
//! `arping -U` sends ([`GarpOptions::broadcast_target_mac`]).
//!
//! # Unsolicited Neighbor Advertisements
//!
//! [`build_unsolicited_na`] writes what the kernel itself sends with
//! `ndisc_notify = 1` (RFC 4861 section 7.2.6): to all-nodes `ff02::1`
//! (`33:33:00:00:00:01`), hop limit 255, S = 0, O = 1, R as chosen, the
//! target's link-layer address in the TLLA option. A receiver that has an
//! entry for the target replaces its link-layer address (because O = 1)
//! and marks the entry `STALE`; one without an entry ignores it. (Checked
//! the same way on Linux 6.18, with the target and with a link-local
//! address as IPv6 source.)

use std::net::{Ipv4Addr, Ipv6Addr};

use super::arp::{ArpPacket, ArpRepr, Operation, PACKET_LEN as ARP_LEN};
use super::ethernet::{EtherType, EthernetFrame, EthernetRepr, HEADER_LEN, MIN_FRAME_LEN};
use super::icmpv6::{
    NaFlags, NeighborAdvertPacket, NeighborAdvertRepr, NA_HEADER_LEN, NDP_HOP_LIMIT, TLLA_OPTION_LEN,
    TYPE_NEIGHBOR_ADVERT,
};
use super::ipv6::{Ipv6Packet, Ipv6Repr, HEADER_LEN as IPV6_HEADER_LEN, NEXT_HEADER_ICMPV6};
use super::{Mac, WireError};

/// Length of a gratuitous ARP frame from [`build_garp`]: 14 + 28 bytes
/// padded with zeros to the Ethernet minimum of 60.
pub const GARP_FRAME_LEN: usize = MIN_FRAME_LEN;

/// Length of an unsolicited NA frame from [`build_unsolicited_na`]:
/// 14 (Ethernet) + 40 (IPv6) + 24 (NA) + 8 (TLLA option) = 86.
pub const UNSOLICITED_NA_FRAME_LEN: usize = HEADER_LEN + IPV6_HEADER_LEN + NA_HEADER_LEN + TLLA_OPTION_LEN;

/// The IPv6 all-nodes multicast address `ff02::1`.
pub const IPV6_ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The Ethernet address of `ff02::1`: `33:33` and the low 32 bits of the
/// group (RFC 2464 section 7).
pub const ALL_NODES_MAC: Mac = Mac([0x33, 0x33, 0, 0, 0, 1]);

/// Which ARP operation a gratuitous ARP uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ArpForm {
    /// Request (op 1), target MAC zero or broadcast. The default: every
    /// Linux receiver treats it as gratuitous.
    #[default]
    Request,
    /// Reply (op 2) with target MAC = sender MAC, the only reply form that
    /// Linux treats as gratuitous.
    Reply,
}

/// Options for [`build_garp`]. `Default` gives a request with target MAC
/// zero and the Ethernet source equal to the announced MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GarpOptions {
    /// Request or reply.
    pub form: ArpForm,
    /// Request form only: put `ff:ff:ff:ff:ff:ff` in the target MAC
    /// instead of `00:00:00:00:00:00` (what `arping -U` does; some devices
    /// want it). Ignored for the reply form, whose target MAC is always
    /// the sender MAC.
    pub broadcast_target_mac: bool,
    /// Ethernet source address, when it must differ from the announced
    /// MAC (e.g. sending from another port of a bond or bridge). `None`
    /// uses the announced MAC.
    pub eth_src: Option<Mac>,
}

/// Options for [`build_unsolicited_na`]. `Default` gives R = 0, IPv6
/// source = the target address, Ethernet source = the announced MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NaOptions {
    /// Set the Router flag (the sender is a router for this address).
    pub router: bool,
    /// IPv6 source address, e.g. the interface's link-local address.
    /// `None` uses the target address itself, as the kernel does. It must
    /// be an address of the sending interface; multicast and `::` are
    /// refused.
    pub src_addr: Option<Ipv6Addr>,
    /// Ethernet source address, when it must differ from the announced
    /// MAC. `None` uses the announced MAC.
    pub eth_src: Option<Mac>,
}

/// The ARP content of the gratuitous ARP that [`build_garp`] writes:
/// sender MAC = `mac`, sender IP = target IP = `ip`, and a target MAC of
/// zero, broadcast (request form, per options) or `mac` (reply form).
pub fn garp_repr(mac: Mac, ip: Ipv4Addr, opts: &GarpOptions) -> ArpRepr {
    let (operation, target_mac) = match opts.form {
        ArpForm::Request if opts.broadcast_target_mac => (Operation::Request, Mac::BROADCAST),
        ArpForm::Request => (Operation::Request, Mac::ZERO),
        ArpForm::Reply => (Operation::Reply, mac),
    };
    ArpRepr { operation, source_mac: mac, source_ip: ip, target_mac, target_ip: ip }
}

/// Writes a gratuitous ARP frame announcing that `ip` is at `mac` into
/// `buf` and returns its length, [`GARP_FRAME_LEN`] (60).
///
/// Ethernet destination broadcast, source `opts.eth_src` or `mac`; ARP as
/// [`garp_repr`]; zero padding to 60 bytes. Bytes of `buf` past 60 are
/// left alone.
///
/// Errors: `Malformed("garp mac not unicast")` if `mac` is multicast or
/// zero, `Malformed("eth source mac not unicast")` likewise for
/// `opts.eth_src`, `Malformed("garp ip not unicast")` if `ip` is
/// unspecified, broadcast, multicast or loopback; `Truncated` if `buf` is
/// shorter than 60 bytes.
pub fn build_garp(buf: &mut [u8], mac: Mac, ip: Ipv4Addr, opts: &GarpOptions) -> Result<usize, WireError> {
    if !mac.is_valid_source() {
        return Err(WireError::Malformed("garp mac not unicast"));
    }
    let eth_src = opts.eth_src.unwrap_or(mac);
    if !eth_src.is_valid_source() {
        return Err(WireError::Malformed("eth source mac not unicast"));
    }
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback() {
        return Err(WireError::Malformed("garp ip not unicast"));
    }
    let frame = buf.get_mut(..GARP_FRAME_LEN).ok_or(WireError::Truncated)?;
    frame.fill(0);
    let eth = EthernetRepr { src_addr: eth_src, dst_addr: Mac::BROADCAST, ethertype: EtherType::ARP };
    eth.emit(&mut EthernetFrame::new_unchecked(&mut *frame));
    let arp = garp_repr(mac, ip, opts);
    arp.emit(&mut ArpPacket::new_unchecked(&mut frame[HEADER_LEN..HEADER_LEN + ARP_LEN]));
    Ok(GARP_FRAME_LEN)
}

/// [`build_garp`] with default options: a gratuitous ARP request with
/// target MAC zero.
pub fn build_garp_request(buf: &mut [u8], mac: Mac, ip: Ipv4Addr) -> Result<usize, WireError> {
    build_garp(buf, mac, ip, &GarpOptions::default())
}

/// [`build_garp`] in the reply form: op 2, target MAC = sender MAC.
pub fn build_garp_reply(buf: &mut [u8], mac: Mac, ip: Ipv4Addr) -> Result<usize, WireError> {
    let opts = GarpOptions { form: ArpForm::Reply, ..GarpOptions::default() };
    build_garp(buf, mac, ip, &opts)
}

/// Writes an unsolicited Neighbor Advertisement announcing that `target`
/// is at `mac` into `buf` and returns its length,
/// [`UNSOLICITED_NA_FRAME_LEN`] (86).
///
/// Ethernet `33:33:00:00:00:01` from `opts.eth_src` or `mac`; IPv6 from
/// `opts.src_addr` or `target` to `ff02::1`, hop limit 255, next header
/// 58; ICMPv6 type 136 code 0 with O = 1, S = 0, R = `opts.router`, the
/// target, the TLLA option (type 2, length 1) holding `mac`, and the
/// checksum. Bytes of `buf` past 86 are left alone.
///
/// Errors: `Malformed("na mac not unicast")` if `mac` is multicast or
/// zero, `Malformed("eth source mac not unicast")` likewise for
/// `opts.eth_src`, `Malformed("na target not unicast")` if `target` is
/// unspecified, multicast or loopback, `Malformed("na source not
/// unicast")` if `opts.src_addr` is unspecified or multicast; `Truncated`
/// if `buf` is shorter than 86 bytes.
pub fn build_unsolicited_na(buf: &mut [u8], mac: Mac, target: Ipv6Addr, opts: &NaOptions) -> Result<usize, WireError> {
    if !mac.is_valid_source() {
        return Err(WireError::Malformed("na mac not unicast"));
    }
    let eth_src = opts.eth_src.unwrap_or(mac);
    if !eth_src.is_valid_source() {
        return Err(WireError::Malformed("eth source mac not unicast"));
    }
    if target.is_unspecified() || target.is_multicast() || target.is_loopback() {
        return Err(WireError::Malformed("na target not unicast"));
    }
    let src_addr = opts.src_addr.unwrap_or(target);
    if src_addr.is_unspecified() || src_addr.is_multicast() {
        return Err(WireError::Malformed("na source not unicast"));
    }
    let frame = buf.get_mut(..UNSOLICITED_NA_FRAME_LEN).ok_or(WireError::Truncated)?;

    let eth = EthernetRepr { src_addr: eth_src, dst_addr: ALL_NODES_MAC, ethertype: EtherType::IPV6 };
    eth.emit(&mut EthernetFrame::new_unchecked(&mut *frame));

    let na = NeighborAdvertRepr {
        flags: NaFlags::new(opts.router, false, true),
        target_addr: target,
        target_ll_addr: Some(mac),
    };
    let ip = Ipv6Repr {
        src_addr,
        dst_addr: IPV6_ALL_NODES,
        next_header: NEXT_HEADER_ICMPV6,
        // 32: na.buffer_len() with the TLLA option.
        payload_len: (NA_HEADER_LEN + TLLA_OPTION_LEN) as u16,
        hop_limit: NDP_HOP_LIMIT,
    };
    let ip_bytes = &mut frame[HEADER_LEN..];
    ip.emit(&mut Ipv6Packet::new_unchecked(&mut *ip_bytes));
    na.emit(&ip, &mut NeighborAdvertPacket::new_unchecked(&mut ip_bytes[IPV6_HEADER_LEN..]));
    Ok(UNSOLICITED_NA_FRAME_LEN)
}

/// An ARP frame read by [`classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpFrame {
    /// The Ethernet header.
    pub eth: EthernetRepr,
    /// The ARP packet.
    pub arp: ArpRepr,
}

impl ArpFrame {
    /// The announced (sender) IP address.
    pub fn ip(&self) -> Ipv4Addr {
        self.arp.source_ip
    }

    /// The announced (sender) MAC address.
    pub fn mac(&self) -> Mac {
        self.arp.source_mac
    }

    /// Whether the Ethernet source equals the ARP sender MAC.
    pub fn eth_src_matches_sender(&self) -> bool {
        self.eth.src_addr == self.arp.source_mac
    }

    /// Whether a Linux receiver's `arp_is_garp` would call this frame
    /// gratuitous (see the [module docs](self)): `sip == tip`, for a
    /// reply also `tha == sha`, and `sip` unicast. The receiver decides
    /// "unicast" from its routing table; here it means not unspecified,
    /// broadcast, multicast or loopback.
    pub fn is_linux_garp(&self) -> bool {
        let a = &self.arp;
        let ip = a.source_ip;
        a.is_gratuitous()
            && (a.operation == Operation::Request || a.target_mac == a.source_mac)
            && !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback())
    }
}

/// A Neighbor Advertisement frame read by [`classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NaFrame {
    /// The Ethernet header.
    pub eth: EthernetRepr,
    /// The IPv6 header.
    pub ip: Ipv6Repr,
    /// The Neighbor Advertisement (checksum and RFC 4861 checks passed).
    pub na: NeighborAdvertRepr,
}

impl NaFrame {
    /// The advertised address.
    pub fn target(&self) -> Ipv6Addr {
        self.na.target_addr
    }

    /// R, S, O flags.
    pub fn flags(&self) -> NaFlags {
        self.na.flags
    }

    /// The Target Link-Layer Address option, if any.
    pub fn tlla(&self) -> Option<Mac> {
        self.na.target_ll_addr
    }
}

/// What [`classify`] found in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Announcement {
    /// An Ethernet/IPv4 ARP request or reply with sender IP = target IP.
    /// [`ArpFrame::is_linux_garp`] tells whether Linux would treat it as
    /// gratuitous (a reply also needs target MAC = sender MAC).
    GratuitousArp(ArpFrame),
    /// Any other Ethernet/IPv4 ARP request or reply.
    Arp(ArpFrame),
    /// A valid Neighbor Advertisement with S = 0.
    UnsolicitedNa(NaFrame),
    /// A valid Neighbor Advertisement with S = 1.
    SolicitedNa(NaFrame),
    /// Anything else: another EtherType (VLAN-tagged frames included),
    /// IPv6 that is not ICMPv6 right after the fixed header, or an ICMPv6
    /// message that is not a Neighbor Advertisement.
    Other {
        /// The frame's EtherType.
        ethertype: EtherType,
    },
}

/// Tells what a captured Ethernet frame (no FCS, padding allowed) is.
///
/// Never panics, whatever the bytes. Errors: `Truncated` for a frame
/// shorter than its headers say; for ARP, the errors of
/// [`ArpRepr::parse`] (e.g. `Unsupported` for non-Ethernet/IPv4); for
/// IPv6, `Malformed("ipv6 version")`; for a Neighbor Advertisement, the
/// errors of [`NeighborAdvertRepr::parse`] (`Malformed("icmpv6 checksum")`,
/// `Malformed("ndp hop limit")`, ...).
pub fn classify(frame: &[u8]) -> Result<Announcement, WireError> {
    let eth_frame = EthernetFrame::new_checked(frame)?;
    let eth = EthernetRepr::parse(&eth_frame)?;
    match eth.ethertype {
        EtherType::ARP => {
            let packet = ArpPacket::new_checked(eth_frame.payload())?;
            let arp = ArpRepr::parse(&packet)?;
            let found = ArpFrame { eth, arp };
            Ok(if arp.is_gratuitous() { Announcement::GratuitousArp(found) } else { Announcement::Arp(found) })
        }
        EtherType::IPV6 => {
            let packet = Ipv6Packet::new_checked(eth_frame.payload())?;
            let ip = Ipv6Repr::parse(&packet)?;
            let icmp = packet.payload();
            if ip.next_header != NEXT_HEADER_ICMPV6 || icmp.first() != Some(&TYPE_NEIGHBOR_ADVERT) {
                return Ok(Announcement::Other { ethertype: eth.ethertype });
            }
            let na = NeighborAdvertRepr::parse(&ip, &NeighborAdvertPacket::new_checked(icmp)?)?;
            let found = NaFrame { eth, ip, na };
            Ok(if na.flags.is_solicited() {
                Announcement::SolicitedNa(found)
            } else {
                Announcement::UnsolicitedNa(found)
            })
        }
        ethertype => Ok(Announcement::Other { ethertype }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::golden::{ARPING_A, ARPING_U, KERNEL_ARP_NOTIFY, KERNEL_ROUTER_NA, KERNEL_UNSOL_NA};

    // Golden frames captured from real tools on a veth pair between two
    // network namespaces (Linux 6.18, iputils arping 20221126):
    //   ip netns add fipwire-a; ip netns add fipwire-b
    //   ip link add w0 netns fipwire-a type veth peer name w1 netns fipwire-b
    //   ip -n fipwire-a link set w0 address 02:00:00:00:00:0a up
    //   ip -n fipwire-b link set w1 up
    //   ip -n fipwire-a addr add 10.0.0.100/24 dev w0
    //   ip netns exec fipwire-b tcpdump -i w1 -w x.pcap ... &
    //   <command named on each constant>
    //   tcpdump -r x.pcap -xx -e -n
    // veth does not pad short frames, so the ARP captures are 42 bytes;
    // our builders pad to 60 with zeros, which is the only difference.
    //
    // What the tools chose: `arping -U` (request) sets the target MAC to
    // ff:ff:ff:ff:ff:ff; `arping -A` (reply) sets it to its own MAC, the
    // same choice as our reply form; the kernel's `arp_notify` request
    // sets it to zero, the same as our default request form.

    /// Our NA with a link-local source different from the (global)
    /// target. No tool sends this form, so the bytes were written by hand
    /// field by field, the checksum computed separately (a few lines of
    /// Python over the pseudo-header), and a pcap of exactly these bytes
    /// decoded by tcpdump 4.99.3 `-vv`: "fe80::ff:fe00:a > ff02::1:
    /// [icmp6 sum ok] ICMP6, neighbor advertisement, length 32, tgt is
    /// 2001:db8::100, Flags [override], destination link-address option
    /// (2), length 8 (1): 02:00:00:00:00:0a".
    const OUR_NA_LL_SOURCE: [u8; 86] = [
        0x33, 0x33, 0x00, 0x00, 0x00, 0x01, // eth dst: all-nodes multicast
        0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // eth src
        0x86, 0xdd, // ethertype: IPv6
        0x60, 0x00, 0x00, 0x00, // version 6, tc 0, flow 0
        0x00, 0x20, 0x3a, 0xff, // payload 32, next header 58, hop limit 255
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // src fe80::ff:fe00:a
        0x00, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x0a, //
        0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // dst ff02::1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, //
        0x88, 0x00, 0x28, 0x52, // ICMPv6 type 136, code 0, checksum 0x2852
        0x20, 0x00, 0x00, 0x00, // flags O; reserved
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, // target 2001:db8::100
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, //
        0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // TLLA option
    ];

    const IP4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
    const MAC_A: Mac = Mac([0x02, 0, 0, 0, 0, 0x0a]);
    const MAC_C: Mac = Mac([0x02, 0, 0, 0, 0, 0x0c]);
    const MAC_E: Mac = Mac([0x02, 0, 0, 0, 0, 0x0e]);

    fn padded(bytes: &[u8; 42]) -> [u8; 60] {
        let mut out = [0u8; 60];
        out[..42].copy_from_slice(bytes);
        out
    }

    fn ip6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn default_request_equals_kernel_arp_notify() {
        let mut buf = [0xaau8; 64];
        let n = build_garp_request(&mut buf, MAC_C, IP4).unwrap();
        assert_eq!(n, GARP_FRAME_LEN);
        assert_eq!(buf[..n], padded(&KERNEL_ARP_NOTIFY));
        assert_eq!(buf[60..], [0xaa; 4], "bytes past the frame untouched");
    }

    #[test]
    fn broadcast_tha_request_equals_arping_u() {
        let mut buf = [0u8; 60];
        let opts = GarpOptions { broadcast_target_mac: true, ..GarpOptions::default() };
        assert_eq!(build_garp(&mut buf, MAC_A, IP4, &opts), Ok(60));
        assert_eq!(buf, padded(&ARPING_U));
    }

    #[test]
    fn reply_equals_arping_a() {
        let mut buf = [0xffu8; 60];
        assert_eq!(build_garp_reply(&mut buf, MAC_A, IP4), Ok(60));
        assert_eq!(buf, padded(&ARPING_A));
        // The broadcast-target option does not apply to replies.
        let opts = GarpOptions { form: ArpForm::Reply, broadcast_target_mac: true, eth_src: None };
        let mut again = [0u8; 60];
        build_garp(&mut again, MAC_A, IP4, &opts).unwrap();
        assert_eq!(again, buf);
    }

    #[test]
    fn eth_src_option_changes_only_eth_src() {
        let other = Mac([0x02, 0, 0, 0, 0, 0x99]);
        let opts = GarpOptions { eth_src: Some(other), ..GarpOptions::default() };
        let mut buf = [0u8; 60];
        build_garp(&mut buf, MAC_C, IP4, &opts).unwrap();
        let mut expected = padded(&KERNEL_ARP_NOTIFY);
        expected[6..12].copy_from_slice(&other.0);
        assert_eq!(buf, expected);
        match classify(&buf) {
            Ok(Announcement::GratuitousArp(f)) => {
                assert!(!f.eth_src_matches_sender());
                assert_eq!((f.ip(), f.mac()), (IP4, MAC_C));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn default_na_equals_kernel_unsolicited_na() {
        let mut buf = [0u8; 100];
        let n = build_unsolicited_na(&mut buf, MAC_A, ip6("2001:db8::100"), &NaOptions::default()).unwrap();
        assert_eq!(n, UNSOLICITED_NA_FRAME_LEN);
        assert_eq!(buf[..n], KERNEL_UNSOL_NA);
        assert_eq!(buf[n..], [0; 14]);
    }

    #[test]
    fn router_na_equals_kernel_router_na() {
        let opts = NaOptions { router: true, ..NaOptions::default() };
        let mut buf = [0u8; 86];
        build_unsolicited_na(&mut buf, MAC_E, ip6("fe80::ff:fe00:c"), &opts).unwrap();
        assert_eq!(buf, KERNEL_ROUTER_NA);
    }

    #[test]
    fn na_with_link_local_source() {
        let opts = NaOptions { src_addr: Some(ip6("fe80::ff:fe00:a")), ..NaOptions::default() };
        let mut buf = [0u8; 86];
        build_unsolicited_na(&mut buf, MAC_A, ip6("2001:db8::100"), &opts).unwrap();
        assert_eq!(buf, OUR_NA_LL_SOURCE);
        let ours = classify(&buf).unwrap();
        let Announcement::UnsolicitedNa(f) = ours else { panic!("{ours:?}") };
        assert_eq!(f.ip.src_addr, ip6("fe80::ff:fe00:a"));
        assert_eq!(f.target(), ip6("2001:db8::100"));
    }

    #[test]
    fn classify_golden_arp() {
        let expect_garp = |bytes: &[u8], op: Operation, tha: Mac, linux: bool| {
            let got = classify(bytes).unwrap();
            let Announcement::GratuitousArp(f) = got else { panic!("{got:?}") };
            assert_eq!(f.arp.operation, op);
            assert_eq!(f.ip(), IP4);
            assert_eq!(f.arp.target_mac, tha);
            assert_eq!(f.eth.dst_addr, Mac::BROADCAST);
            assert!(f.eth_src_matches_sender());
            assert_eq!(f.is_linux_garp(), linux);
        };
        expect_garp(&ARPING_U, Operation::Request, Mac::BROADCAST, true);
        expect_garp(&ARPING_A, Operation::Reply, MAC_A, true);
        expect_garp(&KERNEL_ARP_NOTIFY, Operation::Request, Mac::ZERO, true);
        expect_garp(&padded(&ARPING_A), Operation::Reply, MAC_A, true);

        // A reply whose target MAC is broadcast (what some tools send) is
        // still sip == tip, but Linux does not treat it as gratuitous.
        let mut bcast_reply = ARPING_A;
        bcast_reply[32..38].copy_from_slice(&[0xff; 6]);
        expect_garp(&bcast_reply, Operation::Reply, Mac::BROADCAST, false);

        // sip != tip: an ordinary request.
        let mut who_has = ARPING_U;
        who_has[41] = 1;
        let got = classify(&who_has).unwrap();
        assert!(matches!(got, Announcement::Arp(f) if f.arp.target_ip == Ipv4Addr::new(10, 0, 0, 1)));
    }

    #[test]
    fn classify_golden_na() {
        for (bytes, flags, target, mac) in [
            (&KERNEL_UNSOL_NA, NaFlags::OVERRIDE, "2001:db8::100", MAC_A),
            (&KERNEL_ROUTER_NA, NaFlags::ROUTER | NaFlags::OVERRIDE, "fe80::ff:fe00:c", MAC_E),
        ] {
            let got = classify(bytes).unwrap();
            let Announcement::UnsolicitedNa(f) = got else { panic!("{got:?}") };
            assert_eq!(f.flags(), flags);
            assert_eq!(f.target(), ip6(target));
            assert_eq!(f.tlla(), Some(mac));
            assert_eq!(f.eth.dst_addr, ALL_NODES_MAC);
            assert_eq!(f.ip.dst_addr, IPV6_ALL_NODES);
        }
    }

    #[test]
    fn classify_errors_and_others() {
        assert_eq!(classify(&[]), Err(WireError::Truncated));
        assert_eq!(classify(&ARPING_U[..41]), Err(WireError::Truncated));
        assert_eq!(classify(&KERNEL_UNSOL_NA[..85]), Err(WireError::Truncated));

        let mut bad_sum = KERNEL_UNSOL_NA;
        bad_sum[57] ^= 0x01; // a target byte
        assert_eq!(classify(&bad_sum), Err(WireError::Malformed("icmpv6 checksum")));

        let mut hop64 = KERNEL_UNSOL_NA;
        hop64[21] = 64;
        assert_eq!(classify(&hop64), Err(WireError::Malformed("ndp hop limit")));

        let mut udp = KERNEL_UNSOL_NA;
        udp[20] = 17;
        assert_eq!(classify(&udp), Ok(Announcement::Other { ethertype: EtherType::IPV6 }));

        let mut ns = KERNEL_UNSOL_NA;
        ns[54] = 135;
        assert_eq!(classify(&ns), Ok(Announcement::Other { ethertype: EtherType::IPV6 }));

        let mut ipv4 = ARPING_U;
        ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(classify(&ipv4), Ok(Announcement::Other { ethertype: EtherType::IPV4 }));

        let mut rarp = ARPING_U;
        rarp[21] = 3;
        assert_eq!(classify(&rarp), Err(WireError::Unsupported("arp operation")));
    }

    #[test]
    fn classify_solicited_na() {
        // Turn the kernel NA into a solicited one sent to a unicast address.
        let mut buf = KERNEL_UNSOL_NA;
        buf[38..54].copy_from_slice(&ip6("2001:db8::1").octets());
        buf[58] |= 0x40;
        let (head, icmp) = buf[14..].split_at_mut(40);
        let _ = head;
        NeighborAdvertPacket::new_unchecked(icmp).fill_checksum(&ip6("2001:db8::100"), &ip6("2001:db8::1"));
        let got = classify(&buf).unwrap();
        assert!(matches!(got, Announcement::SolicitedNa(f) if f.flags().is_solicited()));
    }

    #[test]
    fn builders_refuse_bad_input() {
        let mut buf = [0u8; 100];
        let mcast = Mac([0x01, 0, 0x5e, 0, 0, 1]);
        assert_eq!(build_garp_request(&mut buf, mcast, IP4), Err(WireError::Malformed("garp mac not unicast")));
        assert_eq!(build_garp_request(&mut buf, Mac::ZERO, IP4), Err(WireError::Malformed("garp mac not unicast")));
        let opts = GarpOptions { eth_src: Some(Mac::BROADCAST), ..GarpOptions::default() };
        assert_eq!(build_garp(&mut buf, MAC_A, IP4, &opts), Err(WireError::Malformed("eth source mac not unicast")));
        for ip in ["0.0.0.0", "255.255.255.255", "224.0.0.1", "127.0.0.1"] {
            assert_eq!(
                build_garp_request(&mut buf, MAC_A, ip.parse().unwrap()),
                Err(WireError::Malformed("garp ip not unicast"))
            );
        }
        assert_eq!(build_garp_request(&mut buf[..59], MAC_A, IP4), Err(WireError::Truncated));

        let t = ip6("2001:db8::100");
        assert_eq!(
            build_unsolicited_na(&mut buf, mcast, t, &NaOptions::default()),
            Err(WireError::Malformed("na mac not unicast"))
        );
        for bad in ["::", "ff02::1", "::1"] {
            assert_eq!(
                build_unsolicited_na(&mut buf, MAC_A, ip6(bad), &NaOptions::default()),
                Err(WireError::Malformed("na target not unicast"))
            );
        }
        for bad in ["::", "ff02::2"] {
            let opts = NaOptions { src_addr: Some(ip6(bad)), ..NaOptions::default() };
            assert_eq!(
                build_unsolicited_na(&mut buf, MAC_A, t, &opts),
                Err(WireError::Malformed("na source not unicast"))
            );
        }
        let opts = NaOptions { eth_src: Some(mcast), ..NaOptions::default() };
        assert_eq!(
            build_unsolicited_na(&mut buf, MAC_A, t, &opts),
            Err(WireError::Malformed("eth source mac not unicast"))
        );
        assert_eq!(build_unsolicited_na(&mut buf[..85], MAC_A, t, &NaOptions::default()), Err(WireError::Truncated));
    }

    #[test]
    fn constants() {
        assert_eq!(UNSOLICITED_NA_FRAME_LEN, 86);
        assert_eq!(GARP_FRAME_LEN, 60);
        assert_eq!(IPV6_ALL_NODES, ip6("ff02::1"));
        let o = IPV6_ALL_NODES.octets();
        assert_eq!(ALL_NODES_MAC.0[2..], o[12..]);
    }
}

//! Conflict probes, sans-IO: the frames that ask the LAN whether another
//! node holds an address, and [`find_conflict`], which reads a received
//! frame and says whether it shows one.
//!
//! # IPv4: RFC 5227
//!
//! An **ARP probe** (RFC 5227 §2.1.1) is an ARP request, broadcast, with
//! the prober's MAC as sender hardware address, sender IP `0.0.0.0`, target
//! MAC zero and target IP the address probed. The zero sender IP keeps
//! receivers' caches clean should the address turn out to be taken. A host
//! that holds the address as one of its own answers with a reply (Linux:
//! the `sip == 0` case of `arp_process()` in `net/ipv4/arp.c`, which
//! answers only when the target is `RTN_LOCAL`, so **not** for proxy
//! entries or `proxy_arp`).
//!
//! A node that holds a floating IP the way floatip does (a proxy entry on
//! its uplink, or blanket `proxy_arp`) answers only an ordinary request,
//! `who-has IP tell SENDER` with a real sender address:
//! [`build_arp_request`]. Its sender should be the prober's own address in
//! the subnet, which the receivers may cache (correctly).
//!
//! [`find_conflict`] follows RFC 5227 §2.1.1 for what counts: any ARP
//! packet whose sender IP is the probed address, from a MAC that is not
//! the prober's; or another host's probe for the same address (sender IP
//! `0.0.0.0`, target the address, another MAC).
//!
//! # IPv6: Duplicate Address Detection
//!
//! A **DAD probe** (RFC 4862 §5.4.2) is a Neighbor Solicitation from `::`
//! to the target's solicited-node multicast group, hop limit 255, without
//! a source link-layer address: byte for byte what the kernel sends with
//! `enhanced_dad=0` ([`build_dad_ns`]). A node holding the address
//! answers with a Neighbor Advertisement to all-nodes; so does a node that
//! proxies it (`ndisc_recv_ns()` in `net/ipv6/ndisc.c` takes the proxy
//! path before its `dad` branch). A conflict is an NA for the address, a
//! DAD probe for it, or a Neighbor Solicitation sent from it, by a MAC
//! that is not the prober's.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::arp::{ArpPacket, ArpRepr, Operation, PACKET_LEN as ARP_LEN};
use super::ethernet::{EtherType, EthernetFrame, EthernetRepr, HEADER_LEN, MIN_FRAME_LEN};
use super::icmpv6::{
    NeighborAdvertPacket, NeighborAdvertRepr, NeighborSolicitPacket, NeighborSolicitRepr, NDP_HOP_LIMIT, NS_HEADER_LEN,
    TYPE_NEIGHBOR_ADVERT, TYPE_NEIGHBOR_SOLICIT,
};
use super::ipv6::{
    multicast_mac, solicited_node, Ipv6Packet, Ipv6Repr, HEADER_LEN as IPV6_HEADER_LEN, NEXT_HEADER_ICMPV6,
};
use super::{Mac, WireError};

/// Length of an ARP probe or request from [`build_arp_probe`] and
/// [`build_arp_request`]: 14 + 28 bytes padded to the Ethernet minimum.
pub const ARP_PROBE_FRAME_LEN: usize = MIN_FRAME_LEN;

/// Length of a DAD probe from [`build_dad_ns`]: 14 (Ethernet) + 40 (IPv6)
/// + 24 (Neighbor Solicitation, no option) = 78.
pub const DAD_NS_FRAME_LEN: usize = HEADER_LEN + IPV6_HEADER_LEN + NS_HEADER_LEN;

/// The ARP content of an RFC 5227 probe for `ip` from `mac`: a request with
/// sender IP `0.0.0.0`, target MAC zero, target IP `ip`.
pub fn arp_probe_repr(mac: Mac, ip: Ipv4Addr) -> ArpRepr {
    ArpRepr {
        operation: Operation::Request,
        source_mac: mac,
        source_ip: Ipv4Addr::UNSPECIFIED,
        target_mac: Mac::ZERO,
        target_ip: ip,
    }
}

fn check_unicast_v4(ip: Ipv4Addr, what: &'static str) -> Result<(), WireError> {
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback() {
        return Err(WireError::Malformed(what));
    }
    Ok(())
}

fn write_arp(buf: &mut [u8], arp: &ArpRepr) -> Result<usize, WireError> {
    if !arp.source_mac.is_valid_source() {
        return Err(WireError::Malformed("probe mac not unicast"));
    }
    let frame = buf.get_mut(..ARP_PROBE_FRAME_LEN).ok_or(WireError::Truncated)?;
    frame.fill(0);
    let eth = EthernetRepr { src_addr: arp.source_mac, dst_addr: Mac::BROADCAST, ethertype: EtherType::ARP };
    eth.emit(&mut EthernetFrame::new_unchecked(&mut *frame));
    arp.emit(&mut ArpPacket::new_unchecked(&mut frame[HEADER_LEN..HEADER_LEN + ARP_LEN]));
    Ok(ARP_PROBE_FRAME_LEN)
}

/// Writes an RFC 5227 ARP probe for `ip` from `mac` into `buf` and returns
/// its length, [`ARP_PROBE_FRAME_LEN`] (60): Ethernet broadcast from
/// `mac`, ARP as [`arp_probe_repr`], zero padding. Bytes past 60 are left
/// alone.
///
/// Errors: `Malformed("probe mac not unicast")` if `mac` is multicast or
/// zero, `Malformed("probe ip not unicast")` if `ip` is unspecified,
/// broadcast, multicast or loopback; `Truncated` if `buf` is shorter than
/// 60 bytes.
pub fn build_arp_probe(buf: &mut [u8], mac: Mac, ip: Ipv4Addr) -> Result<usize, WireError> {
    check_unicast_v4(ip, "probe ip not unicast")?;
    write_arp(buf, &arp_probe_repr(mac, ip))
}

/// Writes an ordinary ARP request, `who-has target tell sender`, from `mac`
/// into `buf` and returns its length (60): what proxy ARP answers, unlike
/// a probe. Target MAC zero, Ethernet broadcast.
///
/// Errors: as [`build_arp_probe`], and `Malformed("probe sender ip not
/// unicast")` for such a `sender`, `Malformed("probe sender ip is the
/// target")` when the two are equal (that would be a gratuitous ARP).
pub fn build_arp_request(buf: &mut [u8], mac: Mac, sender: Ipv4Addr, target: Ipv4Addr) -> Result<usize, WireError> {
    check_unicast_v4(target, "probe ip not unicast")?;
    check_unicast_v4(sender, "probe sender ip not unicast")?;
    if sender == target {
        return Err(WireError::Malformed("probe sender ip is the target"));
    }
    let arp = ArpRepr {
        operation: Operation::Request,
        source_mac: mac,
        source_ip: sender,
        target_mac: Mac::ZERO,
        target_ip: target,
    };
    write_arp(buf, &arp)
}

/// Writes a Duplicate Address Detection probe for `target` from `mac` into
/// `buf` and returns its length, [`DAD_NS_FRAME_LEN`] (78): Ethernet to
/// the solicited-node group's MAC (`33:33:ff` and the target's low 24
/// bits) from `mac`; IPv6 from `::` to `ff02::1:ffXX:XXXX`, hop limit 255;
/// ICMPv6 type 135 with the target and no option. Bytes past 78 are left
/// alone.
///
/// Errors: `Malformed("probe mac not unicast")`, `Malformed("probe target
/// not unicast")` if `target` is unspecified, multicast or loopback;
/// `Truncated` if `buf` is shorter than 78 bytes.
pub fn build_dad_ns(buf: &mut [u8], mac: Mac, target: Ipv6Addr) -> Result<usize, WireError> {
    if !mac.is_valid_source() {
        return Err(WireError::Malformed("probe mac not unicast"));
    }
    if target.is_unspecified() || target.is_multicast() || target.is_loopback() {
        return Err(WireError::Malformed("probe target not unicast"));
    }
    let frame = buf.get_mut(..DAD_NS_FRAME_LEN).ok_or(WireError::Truncated)?;
    let group = solicited_node(target);
    let eth = EthernetRepr { src_addr: mac, dst_addr: multicast_mac(group), ethertype: EtherType::IPV6 };
    eth.emit(&mut EthernetFrame::new_unchecked(&mut *frame));
    let ip = Ipv6Repr {
        src_addr: Ipv6Addr::UNSPECIFIED,
        dst_addr: group,
        next_header: NEXT_HEADER_ICMPV6,
        payload_len: NS_HEADER_LEN as u16,
        hop_limit: NDP_HOP_LIMIT,
    };
    let ns = NeighborSolicitRepr { target_addr: target, source_ll_addr: None };
    let ip_bytes = &mut frame[HEADER_LEN..];
    ip.emit(&mut Ipv6Packet::new_unchecked(&mut *ip_bytes));
    ns.emit(&ip, &mut NeighborSolicitPacket::new_unchecked(&mut ip_bytes[IPV6_HEADER_LEN..]));
    Ok(DAD_NS_FRAME_LEN)
}

/// What a received frame claims about a probed address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Claim {
    /// An ARP reply or request with the address as sender IP: a host
    /// answering for it (its own address or a proxy) or announcing it.
    Arp(Operation),
    /// Another host's ARP probe for the address: it wants it too.
    ArpProbe,
    /// A Neighbor Advertisement for the address.
    NeighborAdvert,
    /// Another host's DAD probe for the address.
    DadProbe,
    /// A Neighbor Solicitation sent from the address: a host using it.
    NeighborSolicitFrom,
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Claim::Arp(Operation::Reply) => "ARP reply",
            Claim::Arp(Operation::Request) => "ARP request from it",
            Claim::ArpProbe => "its own ARP probe for it",
            Claim::NeighborAdvert => "Neighbor Advertisement",
            Claim::DadProbe => "its own DAD probe for it",
            Claim::NeighborSolicitFrom => "Neighbor Solicitation from it",
        })
    }
}

/// Another MAC's claim on a probed address, read from one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Conflict {
    /// The probed address.
    pub ip: IpAddr,
    /// Who claims it: the ARP sender MAC; for NDP the target (NA) or
    /// source (NS) link-layer address, else the Ethernet source.
    pub mac: Mac,
    /// How.
    pub claim: Claim,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} claims {} ({})", self.mac, self.ip, self.claim)
    }
}

/// Reads a received Ethernet frame (no FCS, padding allowed) and returns
/// the conflict it shows for one of `ips`, if any: a claim (see [`Claim`])
/// by a MAC not in `own` (the prober's own MACs).
///
/// Frames of other kinds, about other addresses, or that break their
/// protocol's rules (a bad ICMPv6 checksum, hop limit other than 255) show
/// nothing: `None`. Never panics.
pub fn find_conflict(frame: &[u8], ips: &[IpAddr], own: &[Mac]) -> Option<Conflict> {
    let eth_frame = EthernetFrame::new_checked(frame).ok()?;
    let eth = EthernetRepr::parse(&eth_frame).ok()?;
    let other = |mac: Mac| !own.contains(&mac);
    match eth.ethertype {
        EtherType::ARP => {
            let arp = ArpRepr::parse(&ArpPacket::new_checked(eth_frame.payload()).ok()?).ok()?;
            let sender = IpAddr::V4(arp.source_ip);
            if ips.contains(&sender) && other(arp.source_mac) {
                return Some(Conflict { ip: sender, mac: arp.source_mac, claim: Claim::Arp(arp.operation) });
            }
            let target = IpAddr::V4(arp.target_ip);
            if arp.source_ip.is_unspecified()
                && arp.operation == Operation::Request
                && ips.contains(&target)
                && other(arp.source_mac)
            {
                return Some(Conflict { ip: target, mac: arp.source_mac, claim: Claim::ArpProbe });
            }
            None
        }
        EtherType::IPV6 => {
            let packet = Ipv6Packet::new_checked(eth_frame.payload()).ok()?;
            let ip = Ipv6Repr::parse(&packet).ok()?;
            if ip.next_header != NEXT_HEADER_ICMPV6 {
                return None;
            }
            let icmp = packet.payload();
            match icmp.first() {
                Some(&TYPE_NEIGHBOR_ADVERT) => {
                    let na = NeighborAdvertRepr::parse(&ip, &NeighborAdvertPacket::new_checked(icmp).ok()?).ok()?;
                    let target = IpAddr::V6(na.target_addr);
                    let mac = na.target_ll_addr.unwrap_or(eth.src_addr);
                    (ips.contains(&target) && other(mac)).then_some(Conflict {
                        ip: target,
                        mac,
                        claim: Claim::NeighborAdvert,
                    })
                }
                Some(&TYPE_NEIGHBOR_SOLICIT) => {
                    let ns = NeighborSolicitRepr::parse(&ip, &NeighborSolicitPacket::new_checked(icmp).ok()?).ok()?;
                    let source = IpAddr::V6(ip.src_addr);
                    let target = IpAddr::V6(ns.target_addr);
                    let mac = ns.source_ll_addr.unwrap_or(eth.src_addr);
                    if ips.contains(&source) && other(mac) {
                        Some(Conflict { ip: source, mac, claim: Claim::NeighborSolicitFrom })
                    } else if ip.src_addr.is_unspecified() && ips.contains(&target) && other(mac) {
                        Some(Conflict { ip: target, mac, claim: Claim::DadProbe })
                    } else {
                        None
                    }
                }
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::garp::{build_garp_reply, build_garp_request, build_unsolicited_na, NaOptions};
    use crate::wire::golden::{ARPING_A, ARPING_D, KERNEL_DAD_NS, KERNEL_UNSOL_NA};
    use crate::wire::icmpv6::NaFlags;

    const IP4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
    const MAC_A: Mac = Mac([0x02, 0, 0, 0, 0, 0x0a]);
    const MAC_B: Mac = Mac([0x02, 0, 0, 0, 0x0b, 0x01]);

    fn ip6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn v4() -> [IpAddr; 1] {
        [IpAddr::V4(IP4)]
    }

    fn v6() -> [IpAddr; 1] {
        [IpAddr::V6(ip6("2001:db8::100"))]
    }

    #[test]
    fn arp_probe_equals_arping_d_but_for_the_target_mac() {
        let mut buf = [0xaau8; 64];
        assert_eq!(build_arp_probe(&mut buf, MAC_A, IP4), Ok(ARP_PROBE_FRAME_LEN));
        // arping -D puts ff:ff:ff:ff:ff:ff in the target MAC (bytes
        // 32..38); RFC 5227 §2.1.1 says SHOULD be zero, which we write.
        let mut expected = [0u8; 60];
        expected[..42].copy_from_slice(&ARPING_D);
        expected[32..38].fill(0);
        assert_eq!(buf[..60], expected);
        assert_eq!(buf[60..], [0xaa; 4], "bytes past the frame untouched");
        let arp = ArpRepr::parse(&ArpPacket::new_checked(&buf[14..]).unwrap()).unwrap();
        assert_eq!(arp, arp_probe_repr(MAC_A, IP4));
    }

    #[test]
    fn arp_request_asks_with_a_real_sender() {
        let mut buf = [0u8; 60];
        let sender = Ipv4Addr::new(10, 0, 0, 2);
        assert_eq!(build_arp_request(&mut buf, MAC_A, sender, IP4), Ok(60));
        let arp = ArpRepr::parse(&ArpPacket::new_checked(&buf[14..]).unwrap()).unwrap();
        assert_eq!(
            arp,
            ArpRepr {
                operation: Operation::Request,
                source_mac: MAC_A,
                source_ip: sender,
                target_mac: Mac::ZERO,
                target_ip: IP4
            }
        );
        assert_eq!(buf[..12], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 0x0a]);
        assert_eq!(
            build_arp_request(&mut buf, MAC_A, IP4, IP4),
            Err(WireError::Malformed("probe sender ip is the target"))
        );
        assert_eq!(
            build_arp_request(&mut buf, MAC_A, Ipv4Addr::UNSPECIFIED, IP4),
            Err(WireError::Malformed("probe sender ip not unicast"))
        );
    }

    #[test]
    fn dad_ns_equals_the_kernels() {
        let mut buf = [0xeeu8; 80];
        assert_eq!(build_dad_ns(&mut buf, MAC_A, ip6("2001:db8::100")), Ok(DAD_NS_FRAME_LEN));
        assert_eq!(buf[..78], KERNEL_DAD_NS);
        assert_eq!(buf[78..], [0xee; 2]);
    }

    #[test]
    fn builders_refuse_bad_input() {
        let mut buf = [0u8; 100];
        let mcast = Mac([0x01, 0, 0x5e, 0, 0, 1]);
        assert_eq!(build_arp_probe(&mut buf, mcast, IP4), Err(WireError::Malformed("probe mac not unicast")));
        assert_eq!(build_arp_probe(&mut buf, Mac::ZERO, IP4), Err(WireError::Malformed("probe mac not unicast")));
        for bad in ["0.0.0.0", "255.255.255.255", "224.0.0.1", "127.0.0.1"] {
            assert_eq!(
                build_arp_probe(&mut buf, MAC_A, bad.parse().unwrap()),
                Err(WireError::Malformed("probe ip not unicast"))
            );
        }
        assert_eq!(build_arp_probe(&mut buf[..59], MAC_A, IP4), Err(WireError::Truncated));
        assert_eq!(
            build_dad_ns(&mut buf, mcast, ip6("2001:db8::1")),
            Err(WireError::Malformed("probe mac not unicast"))
        );
        for bad in ["::", "ff02::1", "::1"] {
            assert_eq!(build_dad_ns(&mut buf, MAC_A, ip6(bad)), Err(WireError::Malformed("probe target not unicast")));
        }
        assert_eq!(build_dad_ns(&mut buf[..77], MAC_A, ip6("2001:db8::1")), Err(WireError::Truncated));
    }

    /// A reply to a probe, as Linux sends it (`arp_send_dst(ARPOP_REPLY,
    /// ..., tip, sha, dev_addr, sha)`): unicast to the prober, sender the
    /// address, target IP 0.0.0.0.
    fn reply_to_probe(from: Mac, to: Mac) -> [u8; 60] {
        let mut buf = [0u8; 60];
        let arp = ArpRepr {
            operation: Operation::Reply,
            source_mac: from,
            source_ip: IP4,
            target_mac: to,
            target_ip: Ipv4Addr::UNSPECIFIED,
        };
        EthernetRepr { src_addr: from, dst_addr: to, ethertype: EtherType::ARP }
            .emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
        arp.emit(&mut ArpPacket::new_unchecked(&mut buf[14..42]));
        buf
    }

    #[test]
    fn arp_claims() {
        let own = [MAC_A];
        let c = find_conflict(&reply_to_probe(MAC_B, MAC_A), &v4(), &own).unwrap();
        assert_eq!(c, Conflict { ip: IpAddr::V4(IP4), mac: MAC_B, claim: Claim::Arp(Operation::Reply) });
        assert_eq!(c.to_string(), "02:00:00:00:0b:01 claims 10.0.0.100 (ARP reply)");
        // Our own frames (a bridge-mode pod answering with its own MAC).
        assert_eq!(find_conflict(&reply_to_probe(MAC_A, MAC_A), &v4(), &own), None);
        // Another address.
        assert_eq!(find_conflict(&reply_to_probe(MAC_B, MAC_A), &[IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5))], &own), None);
        // A gratuitous ARP from another node.
        let mut garp = [0u8; 60];
        build_garp_request(&mut garp, MAC_B, IP4).unwrap();
        assert_eq!(find_conflict(&garp, &v4(), &own).map(|c| c.claim), Some(Claim::Arp(Operation::Request)));
        build_garp_reply(&mut garp, MAC_B, IP4).unwrap();
        assert_eq!(find_conflict(&garp, &v4(), &own).map(|c| c.mac), Some(MAC_B));
        assert_eq!(find_conflict(&ARPING_A, &v4(), &own), None, "arping -A from 02:00:00:00:00:0a: ours");
        // Another node's probe for the address; arping's has tha broadcast.
        let mut d = ARPING_D;
        d[22..28].copy_from_slice(&MAC_B.0);
        assert_eq!(find_conflict(&d, &v4(), &own).map(|c| (c.claim, c.mac)), Some((Claim::ArpProbe, MAC_B)));
        assert_eq!(find_conflict(&ARPING_D, &v4(), &own), None, "our own probe");
        // Someone asking for the address is no claim.
        let mut ask = [0u8; 60];
        build_arp_request(&mut ask, MAC_B, Ipv4Addr::new(10, 0, 0, 1), IP4).unwrap();
        assert_eq!(find_conflict(&ask, &v4(), &own), None);
    }

    #[test]
    fn ndp_claims() {
        let own = [MAC_A];
        let t = ip6("2001:db8::100");
        // An NA for the target from another node (the kernel's answer to a
        // DAD probe: all-nodes, S=0, with TLLA).
        let mut na = [0u8; 86];
        build_unsolicited_na(&mut na, MAC_B, t, &NaOptions::default()).unwrap();
        assert_eq!(
            find_conflict(&na, &v6(), &own),
            Some(Conflict { ip: IpAddr::V6(t), mac: MAC_B, claim: Claim::NeighborAdvert })
        );
        // A proxy's answer has O=0 and names the proxy's MAC: same claim.
        let mut o0 = na;
        o0[58] &= !NaFlags::OVERRIDE.bits();
        NeighborAdvertPacket::new_unchecked(&mut o0[54..]).fill_checksum(&t, &ip6("ff02::1"));
        assert_eq!(find_conflict(&o0, &v6(), &own).map(|c| c.mac), Some(MAC_B));
        // Ours (KERNEL_UNSOL_NA is from MAC_A), or a bad checksum: nothing.
        assert_eq!(find_conflict(&KERNEL_UNSOL_NA, &v6(), &own), None);
        na[60] ^= 1;
        assert_eq!(find_conflict(&na, &v6(), &own), None);
        // Another node's DAD probe for the target.
        let mut dad = [0u8; 78];
        build_dad_ns(&mut dad, MAC_B, t).unwrap();
        assert_eq!(find_conflict(&dad, &v6(), &own).map(|c| (c.claim, c.mac)), Some((Claim::DadProbe, MAC_B)));
        assert_eq!(find_conflict(&KERNEL_DAD_NS, &v6(), &own), None, "our own probe");
        assert_eq!(find_conflict(&dad, &v4(), &own), None, "not an address we probe");
    }

    #[test]
    fn ns_from_the_address_is_a_claim_and_ns_for_it_is_not() {
        let own = [MAC_A];
        let t = ip6("2001:db8::100");
        let ns = |src: Ipv6Addr| {
            let mut buf = [0u8; 86];
            let gw = ip6("2001:db8::1");
            let ip = Ipv6Repr {
                src_addr: src,
                dst_addr: solicited_node(gw),
                next_header: NEXT_HEADER_ICMPV6,
                payload_len: 32,
                hop_limit: 255,
            };
            EthernetRepr { src_addr: MAC_B, dst_addr: multicast_mac(solicited_node(gw)), ethertype: EtherType::IPV6 }
                .emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
            ip.emit(&mut Ipv6Packet::new_unchecked(&mut buf[14..]));
            NeighborSolicitRepr { target_addr: gw, source_ll_addr: Some(MAC_B) }
                .emit(&ip, &mut NeighborSolicitPacket::new_unchecked(&mut buf[54..]));
            buf
        };
        let c = find_conflict(&ns(t), &v6(), &own).unwrap();
        assert_eq!((c.claim, c.mac), (Claim::NeighborSolicitFrom, MAC_B));
        assert_eq!(find_conflict(&ns(ip6("2001:db8::7")), &v6(), &own), None);
    }

    #[test]
    fn junk_shows_nothing() {
        let ips = [v4()[0], v6()[0]];
        for len in 0..78 {
            assert_eq!(find_conflict(&KERNEL_DAD_NS[..len], &ips, &[]), None);
        }
        let mut udp = KERNEL_UNSOL_NA;
        udp[20] = 17;
        assert_eq!(find_conflict(&udp, &ips, &[]), None);
        let mut ipv4 = ARPING_D;
        ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(find_conflict(&ipv4, &ips, &[]), None);
        let mut rarp = ARPING_D;
        rarp[21] = 3;
        assert_eq!(find_conflict(&rarp, &ips, &[]), None);
    }
}

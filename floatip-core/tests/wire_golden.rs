//! Properties of `floatip::wire` through its public API only:
//!
//! * no parser, view or `classify` panics, on random bytes or on golden
//!   frames with random damage (bounded: 2000 cases a property);
//! * every representation survives emit -> parse unchanged;
//! * the `garp` builders produce what `classify` reads back, and the
//!   frames captured from arping and the kernel (see the unit tests in
//!   `src/wire/`, which name the commands) come out of the builders byte
//!   for byte.

use std::net::{Ipv4Addr, Ipv6Addr};

use floatip::wire::arp::{ArpPacket, ArpRepr, Operation};
use floatip::wire::ethernet::{EtherType, EthernetFrame, EthernetRepr};
use floatip::wire::garp::{
    build_garp, build_garp_reply, build_unsolicited_na, classify, Announcement, ArpForm, GarpOptions, NaOptions,
    GARP_FRAME_LEN, UNSOLICITED_NA_FRAME_LEN,
};
use floatip::wire::icmpv6::{NaFlags, NeighborAdvertPacket, NeighborAdvertRepr};
use floatip::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use floatip::wire::{Mac, WireError};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// `ip netns exec fipwire-a arping -c 1 -A -I w0 10.0.0.100`, captured on
/// the veth peer with tcpdump (iputils 20221126, Linux 6.18): an
/// unsolicited reply with target MAC = sender MAC.
const ARPING_A: [u8; 42] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // eth dst: broadcast
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // eth src
    0x08, 0x06, // ethertype: ARP
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, // Ethernet/IPv4, hlen 6, plen 4
    0x00, 0x02, // op: reply
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // sha
    0x0a, 0x00, 0x00, 0x64, // sip: 10.0.0.100
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // tha = sha
    0x0a, 0x00, 0x00, 0x64, // tip: 10.0.0.100
];

/// The kernel's unsolicited NA for 2001:db8::100 after DAD with
/// `net.ipv6.conf.w0.ndisc_notify=1` (same capture setup).
const KERNEL_UNSOL_NA: [u8; 86] = [
    0x33, 0x33, 0x00, 0x00, 0x00, 0x01, // eth dst: all-nodes
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // eth src
    0x86, 0xdd, // ethertype: IPv6
    0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, // v6, len 32, ICMPv6, hop 255
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, // src 2001:db8::100
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, //
    0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // dst ff02::1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, //
    0x88, 0x00, 0xf7, 0x23, 0x20, 0x00, 0x00, 0x00, // NA, checksum, flags O
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, // target 2001:db8::100
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, //
    0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // TLLA option
];

fn config() -> Config {
    Config { cases: 2000, failure_persistence: None, ..Config::default() }
}

fn any_mac() -> impl Strategy<Value = Mac> {
    any::<[u8; 6]>().prop_map(Mac)
}

fn any_v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn any_v6() -> impl Strategy<Value = Ipv6Addr> {
    prop_oneof![
        any::<u128>().prop_map(Ipv6Addr::from),
        // Bias towards the interesting prefixes.
        any::<u64>().prop_map(|low| Ipv6Addr::from((0xfe80u128 << 112) | u128::from(low))),
        any::<u8>().prop_map(|low| Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, u16::from(low))),
        Just(Ipv6Addr::UNSPECIFIED),
        Just(Ipv6Addr::LOCALHOST),
    ]
}

/// Reads every field of every view over `bytes`, checked, and parses every
/// representation: none of it may panic.
fn poke_everything(bytes: &[u8]) {
    let _ = classify(bytes);
    if let Ok(f) = EthernetFrame::new_checked(bytes) {
        let _ = (f.dst_addr(), f.src_addr(), f.ethertype(), f.payload().len());
        let _ = EthernetRepr::parse(&f);
    }
    if let Ok(p) = ArpPacket::new_checked(bytes) {
        let _ = (p.hardware_type(), p.protocol_type(), p.hardware_len());
        let _ = (p.protocol_len(), p.operation(), p.source_hardware_addr());
        let _ = (p.source_protocol_addr(), p.target_hardware_addr());
        let _ = p.target_protocol_addr();
        let _ = ArpRepr::parse(&p);
    }
    if let Ok(p) = Ipv6Packet::new_checked(bytes) {
        let _ = (p.version(), p.traffic_class(), p.flow_label(), p.payload_len());
        let _ = (p.next_header(), p.hop_limit(), p.src_addr(), p.dst_addr());
        let _ = p.payload().len();
        if let Ok(ip) = Ipv6Repr::parse(&p) {
            if let Ok(na) = NeighborAdvertPacket::new_checked(p.payload()) {
                let _ = NeighborAdvertRepr::parse(&ip, &na);
            }
        }
    }
    if let Ok(p) = NeighborAdvertPacket::new_checked(bytes) {
        let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.flags());
        let _ = (p.target_addr(), p.options().len());
        let ip = Ipv6Repr {
            src_addr: Ipv6Addr::UNSPECIFIED,
            dst_addr: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
            next_header: 58,
            payload_len: 0,
            hop_limit: 255,
        };
        let _ = p.verify_checksum(&ip.src_addr, &ip.dst_addr);
        let _ = NeighborAdvertRepr::parse(&ip, &p);
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn nothing_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..160)) {
        poke_everything(&bytes);
    }

    #[test]
    fn nothing_panics_on_damaged_golden_frames(
        which in 0usize..2,
        flips in prop::collection::vec((0usize..86, any::<u8>()), 0..6),
        cut in 0usize..=86,
    ) {
        let mut frame = if which == 0 { ARPING_A.to_vec() } else { KERNEL_UNSOL_NA.to_vec() };
        for (at, byte) in flips {
            if let Some(b) = frame.get_mut(at) {
                *b = byte;
            }
        }
        frame.truncate(cut);
        poke_everything(&frame);
    }

    #[test]
    fn setters_after_new_checked_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 40..120),
        len in any::<u16>(),
    ) {
        let mut bytes = bytes;
        let usable = 40 + usize::from(len).min(bytes.len() - 40);
        let mut_len = u16::try_from(usable - 40).unwrap();
        bytes[4..6].copy_from_slice(&mut_len.to_be_bytes());
        let mut p = Ipv6Packet::new_checked(&mut bytes[..]).unwrap();
        p.set_payload_len(len);
        prop_assert!(p.payload().len() <= p.as_ref().len() - 40);
        let _ = p.payload_mut().len();
    }

    #[test]
    fn ethernet_round_trip(src in any_mac(), dst in any_mac(), et in any::<u16>()) {
        let repr = EthernetRepr { src_addr: src, dst_addr: dst, ethertype: EtherType(et) };
        let mut buf = [0u8; 14];
        repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
        let parsed = EthernetRepr::parse(&EthernetFrame::new_checked(&buf[..]).unwrap());
        prop_assert_eq!(parsed, Ok(repr));
    }

    #[test]
    fn arp_round_trip(
        reply in any::<bool>(),
        source_mac in any_mac(),
        source_ip in any_v4(),
        target_mac in any_mac(),
        target_ip in any_v4(),
    ) {
        let repr = ArpRepr {
            operation: if reply { Operation::Reply } else { Operation::Request },
            source_mac,
            source_ip,
            target_mac,
            target_ip,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()), Ok(repr));
    }

    #[test]
    fn ipv6_round_trip(
        src in any_v6(),
        dst in any_v6(),
        next_header in any::<u8>(),
        hop_limit in any::<u8>(),
        payload_len in 0u16..64,
    ) {
        let repr = Ipv6Repr { src_addr: src, dst_addr: dst, next_header, payload_len, hop_limit };
        let mut buf = vec![0u8; repr.buffer_len() + usize::from(payload_len)];
        repr.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
        prop_assert_eq!(Ipv6Repr::parse(&Ipv6Packet::new_checked(&buf[..]).unwrap()), Ok(repr));
    }

    #[test]
    fn na_round_trip(
        src in any_v6(),
        dst in any_v6(),
        flag_bits in 0u8..8,
        target in any_v6(),
        tlla in proptest::option::of(any_mac()),
    ) {
        let repr = NeighborAdvertRepr {
            flags: NaFlags::from_bits_truncate(flag_bits << 5),
            target_addr: target,
            target_ll_addr: tlla,
        };
        let ip = Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: 58,
            payload_len: u16::try_from(repr.buffer_len()).unwrap(),
            hop_limit: 255,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&ip, &mut NeighborAdvertPacket::new_unchecked(&mut buf[..]));
        let parsed = NeighborAdvertRepr::parse(&ip, &NeighborAdvertPacket::new_checked(&buf[..]).unwrap());
        if target.is_multicast() {
            prop_assert_eq!(parsed, Err(WireError::Malformed("na target multicast")));
        } else if repr.flags.is_solicited() && dst.is_multicast() {
            prop_assert_eq!(parsed, Err(WireError::Malformed("na solicited to multicast")));
        } else {
            prop_assert_eq!(parsed, Ok(repr));
        }
        // Any other hop limit is refused.
        let hop64 = Ipv6Repr { hop_limit: 64, ..ip };
        let parsed = NeighborAdvertRepr::parse(&hop64, &NeighborAdvertPacket::new_checked(&buf[..]).unwrap());
        prop_assert_eq!(parsed, Err(WireError::Malformed("ndp hop limit")));
    }

    #[test]
    fn garp_builds_what_classify_reads(
        mac in any_mac(),
        ip in any_v4(),
        reply in any::<bool>(),
        broadcast_target_mac in any::<bool>(),
        eth_src in proptest::option::of(any_mac()),
    ) {
        let opts = GarpOptions {
            form: if reply { ArpForm::Reply } else { ArpForm::Request },
            broadcast_target_mac,
            eth_src,
        };
        let mut buf = [0u8; 64];
        let valid = mac.is_valid_source()
            && eth_src.is_none_or(|m| m.is_valid_source())
            && !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback());
        match build_garp(&mut buf, mac, ip, &opts) {
            Ok(n) => {
                prop_assert!(valid);
                prop_assert_eq!(n, GARP_FRAME_LEN);
                prop_assert!(buf[42..60].iter().all(|&b| b == 0));
                let Ok(Announcement::GratuitousArp(f)) = classify(&buf[..n]) else {
                    return Err(TestCaseError::fail("not a gratuitous ARP"));
                };
                prop_assert!(f.is_linux_garp());
                prop_assert_eq!(f.ip(), ip);
                prop_assert_eq!(f.mac(), mac);
                prop_assert_eq!(f.eth.src_addr, eth_src.unwrap_or(mac));
                prop_assert_eq!(f.eth.dst_addr, Mac::BROADCAST);
                let expected_tha = match (reply, broadcast_target_mac) {
                    (true, _) => mac,
                    (false, true) => Mac::BROADCAST,
                    (false, false) => Mac::ZERO,
                };
                prop_assert_eq!(f.arp.target_mac, expected_tha);
            }
            Err(e) => {
                prop_assert!(!valid);
                prop_assert!(matches!(e, WireError::Malformed(_)));
            }
        }
    }

    #[test]
    fn na_builds_what_classify_reads(
        mac in any_mac(),
        target in any_v6(),
        router in any::<bool>(),
        src_addr in proptest::option::of(any_v6()),
        eth_src in proptest::option::of(any_mac()),
    ) {
        let opts = NaOptions { router, src_addr, eth_src };
        let mut buf = [0u8; 90];
        match build_unsolicited_na(&mut buf, mac, target, &opts) {
            Ok(n) => {
                prop_assert_eq!(n, UNSOLICITED_NA_FRAME_LEN);
                let Ok(Announcement::UnsolicitedNa(f)) = classify(&buf[..n]) else {
                    return Err(TestCaseError::fail("not an unsolicited NA"));
                };
                prop_assert_eq!(f.target(), target);
                prop_assert_eq!(f.tlla(), Some(mac));
                prop_assert_eq!(f.flags(), NaFlags::new(router, false, true));
                prop_assert_eq!(f.ip.src_addr, src_addr.unwrap_or(target));
                prop_assert_eq!(f.ip.hop_limit, 255);
                prop_assert_eq!(f.eth.src_addr, eth_src.unwrap_or(mac));
                prop_assert_eq!(f.eth.dst_addr, Mac([0x33, 0x33, 0, 0, 0, 1]));
            }
            Err(e) => {
                let src = src_addr.unwrap_or(target);
                prop_assert!(
                    !mac.is_valid_source()
                        || !eth_src.unwrap_or(mac).is_valid_source()
                        || target.is_unspecified()
                        || target.is_multicast()
                        || target.is_loopback()
                        || src.is_unspecified()
                        || src.is_multicast()
                );
                prop_assert!(matches!(e, WireError::Malformed(_)));
            }
        }
    }

    #[test]
    fn mac_text_round_trip(mac in any_mac()) {
        prop_assert_eq!(mac.to_string().parse::<Mac>().ok(), Some(mac));
    }

    #[test]
    fn mac_parse_never_panics(s in "\\PC{0,24}") {
        let _ = s.parse::<Mac>();
    }
}

#[test]
fn builders_reproduce_captured_frames() {
    let mac = Mac([0x02, 0, 0, 0, 0, 0x0a]);

    let mut buf = [0u8; GARP_FRAME_LEN];
    build_garp_reply(&mut buf, mac, Ipv4Addr::new(10, 0, 0, 100)).unwrap();
    assert_eq!(buf[..42], ARPING_A);
    assert_eq!(buf[42..], [0; 18]);

    let mut buf = [0u8; UNSOLICITED_NA_FRAME_LEN];
    let target = "2001:db8::100".parse().unwrap();
    build_unsolicited_na(&mut buf, mac, target, &NaOptions::default()).unwrap();
    assert_eq!(buf, KERNEL_UNSOL_NA);
}

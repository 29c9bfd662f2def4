//! The IPv6 fixed header (RFC 8200 section 3).
//!
//! Extension headers are not followed: [`Ipv6Repr::next_header`] is the
//! protocol of whatever comes right after the 40-byte header.

use std::net::Ipv6Addr;

use super::{Mac, WireError};

/// Length of the IPv6 fixed header.
pub const HEADER_LEN: usize = 40;

/// Next Header value of ICMPv6.
pub const NEXT_HEADER_ICMPV6: u8 = 58;

mod field {
    use std::ops::Range;

    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
}

/// A read/write view of an IPv6 packet held in a buffer.
///
/// The buffer may be longer than the packet (Ethernet padding):
/// [`Ipv6Packet::payload`] stops at the Payload Length. See the
/// [module contract](super) for `new_checked`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Ipv6Packet<T> {
        Ipv6Packet { buffer }
    }

    /// Wraps a buffer and checks that it holds the fixed header and the
    /// payload it announces; no accessor panics afterwards.
    pub fn new_checked(buffer: T) -> Result<Ipv6Packet<T>, WireError> {
        let packet = Ipv6Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` if the buffer is shorter than 40 bytes plus the
    /// Payload Length.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < HEADER_LEN + usize::from(self.payload_len()) {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// Gives back the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn first_word(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::VER_TC_FLOW];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// IP version (must be 6).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        ((self.first_word() >> 20) & 0xff) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0x000f_ffff
    }

    /// Payload Length: bytes after the fixed header.
    pub fn payload_len(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Next Header.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// Hop Limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer.as_ref(), field::SRC_ADDR.start)
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer.as_ref(), field::DST_ADDR.start)
    }

    /// The payload: Payload Length bytes after the header, without any
    /// trailing padding. (If a setter later raises the Payload Length past
    /// the buffer, this stops at the end of the buffer rather than panic.)
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        let end = (HEADER_LEN + usize::from(self.payload_len())).min(buf.len());
        &buf[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets version 6, the traffic class and the flow label (only its low
    /// 20 bits are used).
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let word = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        self.buffer.as_mut()[field::VER_TC_FLOW].copy_from_slice(&word.to_be_bytes());
    }

    /// Sets the Payload Length.
    pub fn set_payload_len(&mut self, value: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the Next Header.
    pub fn set_next_header(&mut self, value: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = value;
    }

    /// Sets the Hop Limit.
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value;
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// The payload, writable (same bounds as [`Ipv6Packet::payload`]).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        let buf = self.buffer.as_mut();
        let end = end.min(buf.len());
        &mut buf[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv6Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The IPv6 fixed header. Traffic class and flow label are not kept
/// (emitted as zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next Header (58 for ICMPv6).
    pub next_header: u8,
    /// Payload Length.
    pub payload_len: u16,
    /// Hop Limit (255 for Neighbor Discovery).
    pub hop_limit: u8,
}

impl Ipv6Repr {
    /// Reads the fixed header.
    ///
    /// Errors: `Truncated` if the buffer is shorter than the header plus
    /// payload; `Malformed("ipv6 version")` if the version is not 6.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Ipv6Repr, WireError> {
        packet.check_len()?;
        if packet.version() != 6 {
            return Err(WireError::Malformed("ipv6 version"));
        }
        Ok(Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload_len(),
            hop_limit: packet.hop_limit(),
        })
    }

    /// Bytes written by [`Ipv6Repr::emit`]: the 40-byte header only (the
    /// whole packet is `buffer_len() + payload_len`).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 40-byte header (traffic class and flow label zero);
    /// leaves the payload alone.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv6Packet<T>) {
        packet.set_version_tc_flow(0, 0);
        packet.set_payload_len(self.payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }
}

/// The solicited-node multicast group of `addr`, `ff02::1:ffXX:XXXX` with
/// the address's low 24 bits (RFC 4291 section 2.7.1): where a Neighbor
/// Solicitation for `addr` is sent, and what a node holding `addr` joins.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15]])
}

/// The Ethernet address of an IPv6 multicast group: `33:33` and the
/// group's low 32 bits (RFC 2464 section 7).
pub fn multicast_mac(group: Ipv6Addr) -> Mac {
    let o = group.octets();
    Mac([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

fn addr_at(buf: &[u8], at: usize) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&buf[at..at + 16]);
    Ipv6Addr::from(octets)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The IPv6 header of the kernel's unsolicited Neighbor Advertisement
    // for 2001:db8::100, captured with
    //   ip netns exec fipwire-a sysctl -w net.ipv6.conf.w0.ndisc_notify=1
    //   ip netns exec fipwire-b tcpdump -i w1 -w k.pcap 'icmp6 and ip6[40]==136' &
    //   ip -n fipwire-a addr add 2001:db8::100/64 dev w0
    //   tcpdump -r k.pcap -xx -e -n
    // (full frame and setup in icmpv6.rs and garp.rs tests), followed by
    // its 32-byte ICMPv6 payload and 4 bytes of made-up padding.
    const KERNEL_NA_IPV6: [u8; 76] = [
        0x60, 0x00, 0x00, 0x00, // version 6, traffic class 0, flow label 0
        0x00, 0x20, // payload length 32
        0x3a, // next header: ICMPv6 (58)
        0xff, // hop limit 255
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, // src: 2001:db8::100
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, //
        0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // dst: ff02::1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, //
        0x88, 0x00, 0xf7, 0x23, 0x20, 0x00, 0x00, 0x00, // ICMPv6 NA (payload)
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, //
        0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, //
        0xde, 0xad, 0xbe, 0xef, // padding, not part of the packet
    ];

    fn expected() -> Ipv6Repr {
        Ipv6Repr {
            src_addr: "2001:db8::100".parse().unwrap(),
            dst_addr: "ff02::1".parse().unwrap(),
            next_header: NEXT_HEADER_ICMPV6,
            payload_len: 32,
            hop_limit: 255,
        }
    }

    #[test]
    fn golden_header_parse_and_emit() {
        let packet = Ipv6Packet::new_checked(&KERNEL_NA_IPV6[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&packet), Ok(expected()));
        assert_eq!(packet.payload(), &KERNEL_NA_IPV6[40..72]);
        assert_eq!((packet.traffic_class(), packet.flow_label()), (0, 0));

        let mut out = [0u8; HEADER_LEN];
        expected().emit(&mut Ipv6Packet::new_unchecked(&mut out[..]));
        assert_eq!(out[..], KERNEL_NA_IPV6[..HEADER_LEN]);
    }

    #[test]
    fn truncated_header_or_payload() {
        for len in 0..72 {
            assert_eq!(Ipv6Packet::new_checked(&KERNEL_NA_IPV6[..len]).err(), Some(WireError::Truncated), "len {len}");
        }
        assert!(Ipv6Packet::new_checked(&KERNEL_NA_IPV6[..72]).is_ok());
    }

    #[test]
    fn wrong_version_is_malformed() {
        let mut b = KERNEL_NA_IPV6;
        b[0] = 0x45;
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p), Err(WireError::Malformed("ipv6 version")));
    }

    #[test]
    fn tc_flow_and_clamped_payload() {
        let mut b = KERNEL_NA_IPV6;
        let mut p = Ipv6Packet::new_checked(&mut b[..]).unwrap();
        p.set_version_tc_flow(0xab, 0x12345);
        assert_eq!((p.version(), p.traffic_class(), p.flow_label()), (6, 0xab, 0x12345));
        p.set_payload_len(u16::MAX);
        assert_eq!(p.payload().len(), 76 - HEADER_LEN);
        assert_eq!(p.payload_mut().len(), 76 - HEADER_LEN);
    }

    #[test]
    fn solicited_node_groups() {
        let a: Ipv6Addr = "2001:db8::100".parse().unwrap();
        assert_eq!(solicited_node(a), "ff02::1:ff00:100".parse::<Ipv6Addr>().unwrap());
        assert_eq!(multicast_mac(solicited_node(a)), Mac([0x33, 0x33, 0xff, 0x00, 0x01, 0x00]));
        let b: Ipv6Addr = "fe80::30da:8cff:fec7:eefe".parse().unwrap();
        assert_eq!(solicited_node(b), "ff02::1:ffc7:eefe".parse::<Ipv6Addr>().unwrap());
        assert_eq!(multicast_mac("ff02::1".parse().unwrap()), Mac([0x33, 0x33, 0, 0, 0, 1]));
    }
}

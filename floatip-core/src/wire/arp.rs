//! ARP (RFC 826) for Ethernet and IPv4 only.
//!
//! The view [`ArpPacket`] reads the fixed Ethernet/IPv4 layout (28 bytes:
//! 8 bytes of header, then sender MAC, sender IP, target MAC, target IP).
//! [`ArpRepr::parse`] checks that the packet really is Ethernet/IPv4
//! (hardware type 1, protocol type 0x0800, lengths 6 and 4) and is a
//! request or a reply; anything else is [`WireError::Unsupported`].

use std::net::Ipv4Addr;

use super::ethernet::{mac_at, EtherType};
use super::{Mac, WireError};

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

/// ARP hardware type for Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;

mod field {
    use std::ops::Range;

    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    // The rest assumes hlen = 6, plen = 4.
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// An ARP operation this module handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `who-has` request, opcode 1.
    Request,
    /// `is-at` reply, opcode 2.
    Reply,
}

impl Operation {
    /// The opcode on the wire.
    pub const fn code(self) -> u16 {
        match self {
            Operation::Request => 1,
            Operation::Reply => 2,
        }
    }

    /// The operation for an opcode, or `None` for anything but 1 and 2
    /// (RARP, InARP, ...).
    pub const fn from_code(code: u16) -> Option<Operation> {
        match code {
            1 => Some(Operation::Request),
            2 => Some(Operation::Reply),
            _ => None,
        }
    }
}

/// A read/write view of an ARP packet, laid out for Ethernet/IPv4.
///
/// The address getters read the Ethernet/IPv4 offsets whatever the length
/// fields say; use [`ArpRepr::parse`] to know the packet really is
/// Ethernet/IPv4. See the [module contract](super) for `new_checked`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> ArpPacket<T> {
        ArpPacket { buffer }
    }

    /// Wraps a buffer and checks that it holds the 28 bytes of an
    /// Ethernet/IPv4 ARP packet; no accessor panics afterwards. Longer
    /// buffers (Ethernet padding) are fine.
    pub fn new_checked(buffer: T) -> Result<ArpPacket<T>, WireError> {
        let packet = ArpPacket::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` if the buffer is shorter than [`PACKET_LEN`].
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < PACKET_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// Gives back the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, range: std::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    fn ipv4_at(&self, range: std::ops::Range<usize>) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[range];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Hardware type (1 for Ethernet).
    pub fn hardware_type(&self) -> u16 {
        self.u16_at(field::HTYPE)
    }

    /// Protocol type (0x0800 for IPv4).
    pub fn protocol_type(&self) -> EtherType {
        EtherType(self.u16_at(field::PTYPE))
    }

    /// Hardware address length (6 for Ethernet).
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length (4 for IPv4).
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Raw opcode (1 request, 2 reply); see [`Operation::from_code`].
    pub fn operation(&self) -> u16 {
        self.u16_at(field::OPER)
    }

    /// Sender hardware address (`sha`).
    pub fn source_hardware_addr(&self) -> Mac {
        mac_at(self.buffer.as_ref(), field::SHA.start)
    }

    /// Sender protocol address (`sip`).
    pub fn source_protocol_addr(&self) -> Ipv4Addr {
        self.ipv4_at(field::SPA)
    }

    /// Target hardware address (`tha`).
    pub fn target_hardware_addr(&self) -> Mac {
        mac_at(self.buffer.as_ref(), field::THA.start)
    }

    /// Target protocol address (`tip`).
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        self.ipv4_at(field::TPA)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, value: u16) {
        self.buffer.as_mut()[field::HTYPE].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, value: EtherType) {
        self.buffer.as_mut()[field::PTYPE].copy_from_slice(&value.0.to_be_bytes());
    }

    /// Sets the hardware address length. The view's layout does not move.
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value;
    }

    /// Sets the protocol address length. The view's layout does not move.
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value;
    }

    /// Sets the raw opcode.
    pub fn set_operation(&mut self, value: u16) {
        self.buffer.as_mut()[field::OPER].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the sender hardware address.
    pub fn set_source_hardware_addr(&mut self, addr: Mac) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&addr.0);
    }

    /// Sets the sender protocol address.
    pub fn set_source_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&addr.octets());
    }

    /// Sets the target hardware address.
    pub fn set_target_hardware_addr(&mut self, addr: Mac) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&addr.0);
    }

    /// Sets the target protocol address.
    pub fn set_target_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&addr.octets());
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for ArpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// An Ethernet/IPv4 ARP request or reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Request or reply.
    pub operation: Operation,
    /// Sender hardware address (`sha`).
    pub source_mac: Mac,
    /// Sender protocol address (`sip`).
    pub source_ip: Ipv4Addr,
    /// Target hardware address (`tha`).
    pub target_mac: Mac,
    /// Target protocol address (`tip`).
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Reads an Ethernet/IPv4 request or reply.
    ///
    /// Errors: `Truncated` under 28 bytes; `Unsupported` for a hardware
    /// type other than 1, a protocol type other than 0x0800, lengths other
    /// than 6/4, or an opcode other than 1/2.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<ArpRepr, WireError> {
        packet.check_len()?;
        if packet.hardware_type() != HTYPE_ETHERNET {
            return Err(WireError::Unsupported("arp hardware type"));
        }
        if packet.protocol_type() != EtherType::IPV4 {
            return Err(WireError::Unsupported("arp protocol type"));
        }
        if packet.hardware_len() != 6 {
            return Err(WireError::Unsupported("arp hardware length"));
        }
        if packet.protocol_len() != 4 {
            return Err(WireError::Unsupported("arp protocol length"));
        }
        let operation = Operation::from_code(packet.operation()).ok_or(WireError::Unsupported("arp operation"))?;
        Ok(ArpRepr {
            operation,
            source_mac: packet.source_hardware_addr(),
            source_ip: packet.source_protocol_addr(),
            target_mac: packet.target_hardware_addr(),
            target_ip: packet.target_protocol_addr(),
        })
    }

    /// Bytes written by [`ArpRepr::emit`]: always 28.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes all 28 bytes of the packet.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ArpPacket<T>) {
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(EtherType::IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation.code());
        packet.set_source_hardware_addr(self.source_mac);
        packet.set_source_protocol_addr(self.source_ip);
        packet.set_target_hardware_addr(self.target_mac);
        packet.set_target_protocol_addr(self.target_ip);
    }

    /// Whether the sender announces its own address: `sip == tip`
    /// (the first test of Linux's `arp_is_garp`; see
    /// [`garp`](super::garp) for the whole rule).
    pub fn is_gratuitous(&self) -> bool {
        self.source_ip == self.target_ip
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ethernet::{EthernetFrame, EthernetRepr, HEADER_LEN};
    use crate::wire::golden::{ARPING_A, ARPING_U, KERNEL_ARP_NOTIFY};

    const IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
    const MAC_A: Mac = Mac([0x02, 0, 0, 0, 0, 0x0a]);
    const MAC_C: Mac = Mac([0x02, 0, 0, 0, 0, 0x0c]);

    fn check_golden(bytes: &[u8; 42], eth_src: Mac, expected: ArpRepr) {
        let frame = EthernetFrame::new_checked(&bytes[..]).unwrap();
        let eth = EthernetRepr::parse(&frame).unwrap();
        assert_eq!(eth, EthernetRepr { src_addr: eth_src, dst_addr: Mac::BROADCAST, ethertype: EtherType::ARP });
        let packet = ArpPacket::new_checked(frame.payload()).unwrap();
        assert_eq!(ArpRepr::parse(&packet), Ok(expected));

        let mut out = [0u8; 42];
        eth.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
        expected.emit(&mut ArpPacket::new_unchecked(&mut out[HEADER_LEN..]));
        assert_eq!(&out, bytes);
    }

    #[test]
    fn golden_arping_unsolicited_request() {
        check_golden(
            &ARPING_U,
            MAC_A,
            ArpRepr {
                operation: Operation::Request,
                source_mac: MAC_A,
                source_ip: IP,
                target_mac: Mac::BROADCAST,
                target_ip: IP,
            },
        );
    }

    #[test]
    fn golden_arping_unsolicited_reply() {
        check_golden(
            &ARPING_A,
            MAC_A,
            ArpRepr { operation: Operation::Reply, source_mac: MAC_A, source_ip: IP, target_mac: MAC_A, target_ip: IP },
        );
    }

    #[test]
    fn golden_kernel_arp_notify() {
        check_golden(
            &KERNEL_ARP_NOTIFY,
            MAC_C,
            ArpRepr {
                operation: Operation::Request,
                source_mac: MAC_C,
                source_ip: IP,
                target_mac: Mac::ZERO,
                target_ip: IP,
            },
        );
    }

    #[test]
    fn view_reads_raw_fields() {
        let p = ArpPacket::new_checked(&ARPING_A[HEADER_LEN..]).unwrap();
        assert_eq!(p.hardware_type(), 1);
        assert_eq!(p.protocol_type(), EtherType::IPV4);
        assert_eq!((p.hardware_len(), p.protocol_len()), (6, 4));
        assert_eq!(p.operation(), 2);
        assert_eq!(p.into_inner().len(), 28);
    }

    #[test]
    fn padded_packet_parses() {
        let mut padded = [0u8; 46];
        padded[..28].copy_from_slice(&ARPING_U[HEADER_LEN..]);
        let p = ArpPacket::new_checked(&padded[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p).unwrap().operation, Operation::Request);
    }

    #[test]
    fn short_is_truncated() {
        for len in 0..PACKET_LEN {
            let p = ArpPacket::new_unchecked(&ARPING_U[HEADER_LEN..HEADER_LEN + len]);
            assert_eq!(p.check_len(), Err(WireError::Truncated));
            assert_eq!(ArpRepr::parse(&p), Err(WireError::Truncated));
        }
    }

    #[test]
    fn other_links_and_ops_are_unsupported() {
        let base: [u8; 28] = ARPING_U[HEADER_LEN..].try_into().unwrap();
        let cases: [(usize, u8, &str); 5] = [
            (1, 6, "arp hardware type"),    // IEEE 802
            (3, 0xdd, "arp protocol type"), // 0x08dd
            (4, 8, "arp hardware length"),
            (5, 16, "arp protocol length"),
            (7, 3, "arp operation"), // RARP request
        ];
        for (at, value, what) in cases {
            let mut b = base;
            b[at] = value;
            let p = ArpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(ArpRepr::parse(&p), Err(WireError::Unsupported(what)));
        }
    }

    #[test]
    fn gratuitous_means_sip_equals_tip() {
        let p = ArpPacket::new_checked(&ARPING_U[HEADER_LEN..]).unwrap();
        let mut repr = ArpRepr::parse(&p).unwrap();
        assert!(repr.is_gratuitous());
        repr.target_ip = Ipv4Addr::new(10, 0, 0, 1);
        assert!(!repr.is_gratuitous());
    }
}

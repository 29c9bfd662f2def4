//! Ethernet II frames: destination, source, EtherType, payload.
//!
//! Frames here carry no frame check sequence: the kernel adds and strips
//! it, and neither `AF_PACKET` sockets nor pcap captures show it. A frame
//! handed to a real Ethernet NIC must be at least [`MIN_FRAME_LEN`] bytes;
//! shorter frames are legal in a buffer (captures on a veth show 42-byte
//! ARP frames, unpadded) and parse fine.

use std::fmt;

use super::{Mac, WireError};

/// Length of the Ethernet II header: destination, source, EtherType.
pub const HEADER_LEN: usize = 14;

/// Minimum length of an Ethernet frame on the wire, without the 4-byte FCS
/// (64 bytes with it). Shorter frames are padded with zeros to this length.
pub const MIN_FRAME_LEN: usize = 60;

/// An EtherType (or, below 0x0600, an IEEE 802.3 length), as on the wire.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EtherType(pub u16);

impl EtherType {
    /// IPv4, 0x0800.
    pub const IPV4: EtherType = EtherType(0x0800);
    /// ARP, 0x0806.
    pub const ARP: EtherType = EtherType(0x0806);
    /// IEEE 802.1Q VLAN tag, 0x8100.
    pub const VLAN: EtherType = EtherType(0x8100);
    /// IPv6, 0x86DD.
    pub const IPV6: EtherType = EtherType(0x86dd);
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:04x}", self.0)
    }
}

impl fmt::Debug for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            EtherType::IPV4 => "IPV4",
            EtherType::ARP => "ARP",
            EtherType::VLAN => "VLAN",
            EtherType::IPV6 => "IPV6",
            _ => return write!(f, "EtherType(0x{:04x})", self.0),
        };
        write!(f, "EtherType::{name}")
    }
}

mod field {
    use std::ops::{Range, RangeFrom};

    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: RangeFrom<usize> = 14..;
}

/// A read/write view of an Ethernet II frame held in a buffer.
///
/// See the [module contract](super) for `new_unchecked` / `new_checked`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> EthernetFrame<T> {
        EthernetFrame { buffer }
    }

    /// Wraps a buffer and checks that it holds at least the 14-byte
    /// header; no accessor panics afterwards.
    pub fn new_checked(buffer: T) -> Result<EthernetFrame<T>, WireError> {
        let frame = EthernetFrame::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// `Err(Truncated)` if the buffer is shorter than the header.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// Gives back the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC address.
    pub fn dst_addr(&self) -> Mac {
        mac_at(self.buffer.as_ref(), field::DESTINATION.start)
    }

    /// Source MAC address.
    pub fn src_addr(&self) -> Mac {
        mac_at(self.buffer.as_ref(), field::SOURCE.start)
    }

    /// EtherType.
    pub fn ethertype(&self) -> EtherType {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        EtherType(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Everything after the header, padding included.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC address.
    pub fn set_dst_addr(&mut self, addr: Mac) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    /// Sets the source MAC address.
    pub fn set_src_addr(&mut self, addr: Mac) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Sets the EtherType.
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&ethertype.0.to_be_bytes());
    }

    /// Everything after the header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for EthernetFrame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The header of an Ethernet II frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Source MAC address.
    pub src_addr: Mac,
    /// Destination MAC address.
    pub dst_addr: Mac,
    /// EtherType of the payload.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header. Every header value is legal, so the only error is
    /// `Truncated`, for a view (made with `new_unchecked`) over a buffer
    /// shorter than the header.
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<EthernetRepr, WireError> {
        frame.check_len()?;
        Ok(EthernetRepr { src_addr: frame.src_addr(), dst_addr: frame.dst_addr(), ethertype: frame.ethertype() })
    }

    /// Bytes written by [`EthernetRepr::emit`]: the 14-byte header.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header; leaves the payload alone.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut EthernetFrame<T>) {
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
    }
}

/// Reads six bytes at `at` as a MAC address. Callers have checked lengths.
pub(crate) fn mac_at(buf: &[u8], at: usize) -> Mac {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&buf[at..at + 6]);
    Mac(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Ethernet header of a frame captured with
    //   ip netns exec fipwire-b tcpdump -i w1 -w arp.pcap -c 2 arp
    // while `ip netns exec fipwire-a arping -c 1 -U -I w0 10.0.0.100` ran
    // on the veth peer (iputils arping 20221126, kernel 6.18), read back
    // with `tcpdump -r arp.pcap -xx -e -n`.
    const ARPING_U_HEADER: [u8; 14] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination: broadcast
        0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // source: w0's MAC
        0x08, 0x06, // EtherType: ARP
    ];

    #[test]
    fn golden_header_parse_and_emit() {
        let frame = EthernetFrame::new_checked(&ARPING_U_HEADER[..]).unwrap();
        let repr = EthernetRepr::parse(&frame).unwrap();
        let expected = EthernetRepr {
            src_addr: Mac([0x02, 0, 0, 0, 0, 0x0a]),
            dst_addr: Mac::BROADCAST,
            ethertype: EtherType::ARP,
        };
        assert_eq!(repr, expected);
        assert!(frame.payload().is_empty());

        let mut out = [0u8; HEADER_LEN];
        expected.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
        assert_eq!(out, ARPING_U_HEADER);
        assert_eq!(expected.buffer_len(), HEADER_LEN);
    }

    #[test]
    fn short_buffers_are_truncated() {
        for len in 0..HEADER_LEN {
            let buf = vec![0u8; len];
            assert_eq!(EthernetFrame::new_checked(&buf[..]).err(), Some(WireError::Truncated));
        }
    }

    #[test]
    fn setters_and_payload() {
        let mut buf = [0u8; MIN_FRAME_LEN];
        let mut frame = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        frame.set_ethertype(EtherType::IPV6);
        frame.payload_mut()[0] = 0x60;
        assert_eq!(frame.ethertype(), EtherType::IPV6);
        assert_eq!(frame.payload().len(), MIN_FRAME_LEN - HEADER_LEN);
        assert_eq!(buf[12..15], [0x86, 0xdd, 0x60]);
    }

    #[test]
    fn ethertype_formatting() {
        assert_eq!(EtherType::ARP.to_string(), "0x0806");
        assert_eq!(format!("{:?}", EtherType::IPV6), "EtherType::IPV6");
        assert_eq!(format!("{:?}", EtherType(0x88cc)), "EtherType(0x88cc)");
    }
}

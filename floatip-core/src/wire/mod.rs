//! Sans-IO frame types for gratuitous ARP and unsolicited IPv6 Neighbor
//! Advertisements, and for the conflict probes sent before them (RFC 5227
//! ARP probes, DAD Neighbor Solicitations).
//!
//! Nothing in this module does I/O or allocates: every type either reads a
//! byte buffer that the caller owns or writes into one. The sender (an
//! `AF_PACKET` socket elsewhere in the crate) calls the builders in
//! [`garp`], which write a complete Ethernet frame into a `&mut [u8]` and
//! return its length; tests and captures go the other way with
//! [`garp::classify`]. The prober uses [`probe`]'s builders and reads
//! what comes back with [`probe::find_conflict`].
//!
//! # The packet/representation contract
//!
//! The layout follows smoltcp's `wire` module. Each protocol has two kinds
//! of type:
//!
//! * a **view** over a buffer, `XxxPacket<T: AsRef<[u8]>>` (for Ethernet,
//!   [`EthernetFrame`]), with getters for each header field and, when
//!   `T: AsMut<[u8]>`, setters. Field offsets live in a private `mod field`.
//!   * `new_unchecked(buffer)` wraps the buffer without looking at it; the
//!     getters and setters may then panic if the buffer is too short.
//!   * `new_checked(buffer)` wraps it and calls `check_len()`, which returns
//!     [`WireError::Truncated`] when the buffer is shorter than the fixed
//!     header (plus, where the header states a length, than that length).
//!     **Once `new_checked` has succeeded, no getter or setter of the view
//!     panics**, whatever bytes the buffer holds and whatever is later
//!     written through the setters. Views do not judge field values:
//!     a view over an ARP packet with a hardware type of 6 reads happily.
//! * a **representation**, `XxxRepr`, a plain value with the meaning of the
//!   packet:
//!   * `XxxRepr::parse(&view)` validates the field values and returns the
//!     value, or [`WireError::Malformed`] (the packet breaks its protocol's
//!     rules) or [`WireError::Unsupported`] (legal, but not something this
//!     module handles, such as ARP over something other than
//!     Ethernet/IPv4);
//!   * `repr.buffer_len()` is the number of bytes `emit` writes;
//!   * `repr.emit(&mut view)` writes every field it owns into a view whose
//!     buffer is at least `buffer_len()` long (it panics otherwise, like
//!     smoltcp; the [`garp`] builders check lengths first and never panic).
//!
//! Parsing then emitting gives back the same bytes for every field the
//! representation owns; fields that a receiver must ignore (reserved bits,
//! IPv6 traffic class and flow label, Ethernet padding) are written as zero.

pub mod arp;
pub mod ethernet;
pub mod garp;
#[cfg(test)]
mod golden;
pub mod icmpv6;
pub mod ipv6;
pub mod probe;

use std::fmt;
use std::str::FromStr;

pub use arp::{ArpPacket, ArpRepr, Operation};
pub use ethernet::{EtherType, EthernetFrame, EthernetRepr};
pub use garp::{
    build_garp, build_garp_reply, build_garp_request, build_unsolicited_na, classify, Announcement, ArpForm, ArpFrame,
    GarpOptions, NaFrame, NaOptions,
};
pub use icmpv6::{
    NaFlags, NdPacket, NeighborAdvertPacket, NeighborAdvertRepr, NeighborSolicitPacket, NeighborSolicitRepr,
};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use probe::{build_arp_probe, build_arp_request, build_dad_ns, find_conflict, Claim, Conflict};

/// An IEEE 802 MAC address (EUI-48).
///
/// Displays and parses as six colon-separated pairs of hex digits,
/// `aa:bb:cc:dd:ee:ff` (lowercase on output; either case on input).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    /// The all-zero address `00:00:00:00:00:00` ("unknown" in ARP).
    pub const ZERO: Mac = Mac([0; 6]);

    /// Reads a MAC address from the first six bytes of `bytes`, or `None`
    /// if `bytes` is not exactly six bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Option<Mac> {
        <[u8; 6]>::try_from(bytes).ok().map(Mac)
    }

    /// The six bytes of the address.
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Whether the group bit (least significant bit of the first byte) is
    /// set. The broadcast address is multicast too.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether the address is an individual (unicast) address: the group
    /// bit is clear. The all-zero address counts as unicast here; check
    /// [`Mac::is_zero`] too where that matters.
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// Whether this is `ff:ff:ff:ff:ff:ff`.
    pub fn is_broadcast(&self) -> bool {
        *self == Mac::BROADCAST
    }

    /// Whether this is `00:00:00:00:00:00`.
    pub fn is_zero(&self) -> bool {
        *self == Mac::ZERO
    }

    /// Whether the address is a usable interface address: unicast and not
    /// all zero.
    pub fn is_valid_source(&self) -> bool {
        self.is_unicast() && !self.is_zero()
    }
}

impl From<[u8; 6]> for Mac {
    fn from(bytes: [u8; 6]) -> Mac {
        Mac(bytes)
    }
}

impl From<Mac> for [u8; 6] {
    fn from(mac: Mac) -> [u8; 6] {
        mac.0
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mac({self})")
    }
}

impl FromStr for Mac {
    type Err = crate::Error;

    /// Parses exactly `xx:xx:xx:xx:xx:xx` (two hex digits per group, either
    /// case). Anything else is an [`InvalidInput`](crate::ErrorKind::InvalidInput)
    /// error naming the value.
    fn from_str(s: &str) -> Result<Mac, crate::Error> {
        let err = || crate::Error::invalid("MAC address", s, "not six colon-separated pairs of hex digits");
        let mut out = [0u8; 6];
        let mut groups = s.split(':');
        for byte in out.iter_mut() {
            let group = groups.next().ok_or_else(err)?;
            if group.len() != 2 || !group.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(err());
            }
            *byte = u8::from_str_radix(group, 16).map_err(|_| err())?;
        }
        if groups.next().is_some() {
            return Err(err());
        }
        Ok(Mac(out))
    }
}

/// Why a buffer could not be read as, or written as, a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer is shorter than the header or than a length the header
    /// states (when parsing), or too short for the frame (when building).
    Truncated,
    /// The bytes break the protocol's rules (bad checksum, hop limit other
    /// than 255 on an NDP message, zero-length option, ...), or a builder
    /// was given an address it must not send. The text names the field.
    Malformed(&'static str),
    /// Legal on the wire, but not handled here (ARP for a link or protocol
    /// other than Ethernet/IPv4, an ICMPv6 message other than a Neighbor
    /// Advertisement, ...). The text names the field.
    Unsupported(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => f.write_str("truncated frame"),
            WireError::Malformed(what) => write!(f, "malformed frame: {what}"),
            WireError::Unsupported(what) => write!(f, "unsupported frame: {what}"),
        }
    }
}

impl std::error::Error for WireError {}

/// The Internet checksum (RFC 1071) helpers shared by the protocols here.
pub(crate) mod checksum {
    /// Adds `data` as big-endian 16-bit words (a trailing odd byte is padded
    /// with zero) to the running 32-bit sum `acc`, folding carries so the
    /// sum never overflows.
    pub(crate) fn add(mut acc: u32, data: &[u8]) -> u32 {
        let mut chunks = data.chunks_exact(2);
        for pair in &mut chunks {
            acc += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
            acc = (acc & 0xffff) + (acc >> 16);
        }
        if let [last] = chunks.remainder() {
            acc += u32::from(u16::from_be_bytes([*last, 0]));
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc
    }

    /// Folds a running sum into the 16-bit one's complement sum (not yet
    /// complemented).
    pub(crate) fn fold(mut acc: u32) -> u16 {
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        // The loop leaves acc <= 0xffff.
        acc as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_display_and_parse_round_trip() {
        let mac = Mac([0x02, 0x00, 0x00, 0xab, 0xcd, 0x0a]);
        assert_eq!(mac.to_string(), "02:00:00:ab:cd:0a");
        assert_eq!("02:00:00:ab:cd:0a".parse::<Mac>().unwrap(), mac);
        assert_eq!("02:00:00:AB:CD:0A".parse::<Mac>().unwrap(), mac);
        assert_eq!(format!("{mac:?}"), "Mac(02:00:00:ab:cd:0a)");
        assert_eq!(Mac::BROADCAST.to_string(), "ff:ff:ff:ff:ff:ff");
        assert_eq!(Mac::ZERO.to_string(), "00:00:00:00:00:00");
    }

    #[test]
    fn mac_parse_rejects_bad_syntax() {
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:0a:0b",
            "2:00:00:00:00:0a",
            "002:00:00:00:00:0a",
            "02-00-00-00-00-0a",
            "02:00:00:00:00:0g",
            "02:00:00:00:00:+a",
            "02:00:00:00:00:0a:",
            "02::00:00:00:00:0a",
        ] {
            assert_eq!(bad.parse::<Mac>().map_err(|e| e.kind()), Err(crate::ErrorKind::InvalidInput), "{bad:?}");
        }
    }

    #[test]
    fn mac_kinds() {
        assert!(Mac::BROADCAST.is_multicast());
        assert!(!Mac::BROADCAST.is_unicast());
        assert!(Mac::BROADCAST.is_broadcast());
        assert!(Mac([0x33, 0x33, 0, 0, 0, 1]).is_multicast());
        assert!(Mac([0x02, 0, 0, 0, 0, 1]).is_unicast());
        assert!(Mac([0x02, 0, 0, 0, 0, 1]).is_valid_source());
        assert!(Mac::ZERO.is_unicast());
        assert!(Mac::ZERO.is_zero());
        assert!(!Mac::ZERO.is_valid_source());
        assert_eq!(Mac::from_bytes(&[1, 2, 3, 4, 5, 6]), Some(Mac([1, 2, 3, 4, 5, 6])));
        assert_eq!(Mac::from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn error_messages_are_lowercase() {
        assert_eq!(WireError::Truncated.to_string(), "truncated frame");
        assert_eq!(WireError::Malformed("icmpv6 checksum").to_string(), "malformed frame: icmpv6 checksum");
        assert_eq!(WireError::Unsupported("arp hardware type").to_string(), "unsupported frame: arp hardware type");
        let boxed: Box<dyn std::error::Error> = Box::new(WireError::Truncated);
        assert_eq!(boxed.to_string(), "truncated frame");
    }

    #[test]
    fn checksum_rfc1071_example() {
        // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let sum = checksum::fold(checksum::add(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]));
        assert_eq!(sum, 0xddf2);
        // Odd length pads with zero.
        assert_eq!(checksum::fold(checksum::add(0, &[0x12])), 0x1200);
    }
}

//! ICMPv6 Neighbor Advertisements (RFC 4861 section 4.4), Neighbor
//! Solicitations (section 4.3) and the ICMPv6 checksum (RFC 4443 section
//! 2.3, RFC 8200 section 8.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type 136  |     Code 0    |          Checksum             |
//! |R|S|O|                     Reserved                            |
//! |                    Target Address (16 bytes)                  |
//! |   Options: Target Link-Layer Address = type 2, len 1, MAC ... |
//! ```
//!
//! [`NeighborAdvertRepr::parse`] applies the receiver checks of RFC 4861
//! section 7.1.2 that can be made from the packet alone: hop limit 255,
//! valid checksum, code 0, length 24 or more, target not multicast,
//! Solicited flag clear when sent to a multicast address, and no option of
//! length zero.
//!
//! A Neighbor Solicitation has the same layout with the flags byte
//! reserved and, as its option, the Source Link-Layer Address (type 1).
//! [`NeighborSolicitRepr::parse`] applies the checks of section 7.1.1,
//! including those of a Duplicate Address Detection probe (IPv6 source
//! `::`): sent to a solicited-node multicast address, and without a source
//! link-layer address.

use std::fmt;
use std::net::Ipv6Addr;
use std::ops::BitOr;

use super::ethernet::mac_at;
use super::ipv6::{Ipv6Repr, NEXT_HEADER_ICMPV6};
use super::{checksum, Mac, WireError};

/// ICMPv6 type of a Neighbor Solicitation.
pub const TYPE_NEIGHBOR_SOLICIT: u8 = 135;
/// ICMPv6 type of a Neighbor Advertisement.
pub const TYPE_NEIGHBOR_ADVERT: u8 = 136;
/// Length of a Neighbor Solicitation or Advertisement without options.
pub const ND_HEADER_LEN: usize = 24;
/// Length of a Neighbor Advertisement without options.
pub const NA_HEADER_LEN: usize = ND_HEADER_LEN;
/// NDP option type: Source Link-Layer Address.
pub const OPT_SOURCE_LL_ADDR: u8 = 1;
/// NDP option type: Target Link-Layer Address.
pub const OPT_TARGET_LL_ADDR: u8 = 2;
/// Length of a Target Link-Layer Address option for Ethernet (len field 1).
pub const TLLA_OPTION_LEN: usize = 8;
/// Hop limit that every Neighbor Discovery message carries (and that a
/// receiver insists on, proving the sender is on-link).
pub const NDP_HOP_LIMIT: u8 = 255;

mod field {
    use std::ops::{Range, RangeFrom};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Flags byte (R S O and 5 reserved bits) plus 3 reserved bytes.
    pub const FLAGS_RESERVED: Range<usize> = 4..8;
    pub const TARGET: Range<usize> = 8..24;
    pub const OPTIONS: RangeFrom<usize> = 24..;
}

/// The R, S and O flags of a Neighbor Advertisement, as the top three bits
/// of the flags byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NaFlags(u8);

impl NaFlags {
    /// No flag set.
    pub const EMPTY: NaFlags = NaFlags(0);
    /// R: the sender is a router.
    pub const ROUTER: NaFlags = NaFlags(0x80);
    /// S: sent in response to a Neighbor Solicitation.
    pub const SOLICITED: NaFlags = NaFlags(0x40);
    /// O: override an existing cache entry's link-layer address.
    pub const OVERRIDE: NaFlags = NaFlags(0x20);

    /// Flags from the three booleans.
    pub const fn new(router: bool, solicited: bool, override_: bool) -> NaFlags {
        let mut bits = 0;
        if router {
            bits |= 0x80;
        }
        if solicited {
            bits |= 0x40;
        }
        if override_ {
            bits |= 0x20;
        }
        NaFlags(bits)
    }

    /// Flags from the flags byte on the wire; the five reserved bits are
    /// dropped.
    pub const fn from_bits_truncate(byte: u8) -> NaFlags {
        NaFlags(byte & 0xe0)
    }

    /// The flags byte (reserved bits zero).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag in `other` is set here.
    pub const fn contains(self, other: NaFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// R flag.
    pub const fn is_router(self) -> bool {
        self.contains(NaFlags::ROUTER)
    }

    /// S flag.
    pub const fn is_solicited(self) -> bool {
        self.contains(NaFlags::SOLICITED)
    }

    /// O flag.
    pub const fn is_override(self) -> bool {
        self.contains(NaFlags::OVERRIDE)
    }
}

impl BitOr for NaFlags {
    type Output = NaFlags;

    fn bitor(self, rhs: NaFlags) -> NaFlags {
        NaFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for NaFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NaFlags(")?;
        let mut first = true;
        for (flag, name) in [(NaFlags::ROUTER, "R"), (NaFlags::SOLICITED, "S"), (NaFlags::OVERRIDE, "O")] {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

/// The ICMPv6 checksum of `message` (the whole ICMPv6 message as it stands,
/// checksum field included) with the IPv6 pseudo-header for `src`, `dst`,
/// upper-layer length `message.len()` and next header 58.
///
/// With the checksum field zeroed, the result is the value to store; over
/// a message whose checksum is right, the result is 0.
pub fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, message: &[u8]) -> u16 {
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    let mut acc = checksum::add(0, &src.octets());
    acc = checksum::add(acc, &dst.octets());
    acc = checksum::add(acc, &len.to_be_bytes());
    acc = checksum::add(acc, &[0, 0, 0, NEXT_HEADER_ICMPV6]);
    acc = checksum::add(acc, message);
    !checksum::fold(acc)
}

/// A read/write view of an ICMPv6 Neighbor Discovery message with the
/// layout that Neighbor Solicitations and Neighbor Advertisements share:
/// type, code, checksum, four bytes of flags (NA) or reserved (NS), the
/// 16-byte target address, then options.
///
/// [`NeighborAdvertPacket`] and [`NeighborSolicitPacket`] name this view
/// for the message a caller means; the getters do not check the type
/// field. The buffer must be exactly the ICMPv6 message (the IPv6
/// payload), since the checksum covers all of it. See the [module
/// contract](super) for `new_checked`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NdPacket<T: AsRef<[u8]>> {
    buffer: T,
}

/// A Neighbor Advertisement (type 136): an [`NdPacket`] whose flags byte
/// holds R, S and O.
pub type NeighborAdvertPacket<T> = NdPacket<T>;

/// A Neighbor Solicitation (type 135): an [`NdPacket`] whose flags byte is
/// reserved.
pub type NeighborSolicitPacket<T> = NdPacket<T>;

impl<T: AsRef<[u8]>> NdPacket<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> NdPacket<T> {
        NdPacket { buffer }
    }

    /// Wraps a buffer and checks that it holds the 24-byte fixed part; no
    /// accessor panics afterwards.
    pub fn new_checked(buffer: T) -> Result<NdPacket<T>, WireError> {
        let packet = NdPacket::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` if the buffer is shorter than 24 bytes.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < ND_HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// Gives back the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// ICMPv6 type (135 for a Neighbor Solicitation, 136 for a Neighbor
    /// Advertisement).
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// ICMPv6 code (0).
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field as stored.
    pub fn checksum(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// R, S, O flags of an advertisement (reserved bits dropped; in a
    /// solicitation the byte is reserved).
    pub fn flags(&self) -> NaFlags {
        NaFlags::from_bits_truncate(self.buffer.as_ref()[field::FLAGS_RESERVED.start])
    }

    /// Target Address: the address advertised, resolved or (in a Duplicate
    /// Address Detection probe) claimed.
    pub fn target_addr(&self) -> Ipv6Addr {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&self.buffer.as_ref()[field::TARGET]);
        Ipv6Addr::from(octets)
    }

    /// The options area: everything after the fixed 24 bytes.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS]
    }

    /// Whether the checksum is right for a packet from `src` to `dst`.
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        icmpv6_checksum(src, dst, self.buffer.as_ref()) == 0
    }

    /// The receiver checks of RFC 4861 sections 7.1.1 and 7.1.2 that both
    /// messages share, for a message of type `msg_type` in the IPv6 packet
    /// whose header is `ip`; returns the target address. `multicast_target`
    /// names the error for a multicast target.
    fn check_fixed(&self, ip: &Ipv6Repr, msg_type: u8, multicast_target: &'static str) -> Result<Ipv6Addr, WireError> {
        self.check_len()?;
        if ip.next_header != NEXT_HEADER_ICMPV6 {
            return Err(WireError::Unsupported("ipv6 next header"));
        }
        if self.msg_type() != msg_type {
            return Err(WireError::Unsupported("icmpv6 type"));
        }
        if ip.hop_limit != NDP_HOP_LIMIT {
            return Err(WireError::Malformed("ndp hop limit"));
        }
        if !self.verify_checksum(&ip.src_addr, &ip.dst_addr) {
            return Err(WireError::Malformed("icmpv6 checksum"));
        }
        if self.msg_code() != 0 {
            return Err(WireError::Malformed("icmpv6 code"));
        }
        let target_addr = self.target_addr();
        if target_addr.is_multicast() {
            return Err(WireError::Malformed(multicast_target));
        }
        Ok(target_addr)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NdPacket<T> {
    /// Sets the ICMPv6 type.
    pub fn set_msg_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::TYPE] = value;
    }

    /// Sets the ICMPv6 code.
    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the flags and zeroes the 29 reserved bits (a solicitation
    /// takes `NaFlags::default()`: all 32 bits reserved, zero).
    pub fn set_flags(&mut self, flags: NaFlags) {
        self.buffer.as_mut()[field::FLAGS_RESERVED].copy_from_slice(&[flags.bits(), 0, 0, 0]);
    }

    /// Sets the Target Address.
    pub fn set_target_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::TARGET].copy_from_slice(&addr.octets());
    }

    /// The options area, writable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::OPTIONS]
    }

    /// Computes the checksum over the whole buffer for a packet from `src`
    /// to `dst` and stores it.
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let sum = icmpv6_checksum(src, dst, self.buffer.as_ref());
        self.set_checksum(sum);
    }

    /// Writes a whole message of type `msg_type` with `flags`, `target`
    /// and at most one link-layer address option `ll` (its option type and
    /// the MAC) into the first `len` bytes, with the checksum for `ip`'s
    /// addresses.
    fn emit_fixed(
        &mut self,
        ip: &Ipv6Repr,
        len: usize,
        msg_type: u8,
        flags: NaFlags,
        target: Ipv6Addr,
        ll: Option<(u8, Mac)>,
    ) {
        let mut exact = NdPacket::new_unchecked(&mut self.buffer.as_mut()[..len]);
        exact.set_msg_type(msg_type);
        exact.set_msg_code(0);
        exact.set_flags(flags);
        exact.set_target_addr(target);
        if let Some((kind, mac)) = ll {
            let opt = exact.options_mut();
            opt[0] = kind;
            opt[1] = 1; // length in units of 8 bytes
            opt[2..8].copy_from_slice(&mac.0);
        }
        exact.fill_checksum(&ip.src_addr, &ip.dst_addr);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for NdPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A Neighbor Advertisement, with at most the Target Link-Layer Address
/// option (other options are skipped on parse and not emitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighborAdvertRepr {
    /// R, S, O flags.
    pub flags: NaFlags,
    /// The address being advertised.
    pub target_addr: Ipv6Addr,
    /// The Target Link-Layer Address option, if present.
    pub target_ll_addr: Option<Mac>,
}

impl NeighborAdvertRepr {
    /// Reads and validates a Neighbor Advertisement that arrived in the
    /// IPv6 packet whose header is `ip` (its addresses enter the checksum,
    /// its hop limit must be 255).
    ///
    /// Errors, in the order checked:
    /// * `Truncated`: under 24 bytes;
    /// * `Unsupported("ipv6 next header")` / `Unsupported("icmpv6 type")`:
    ///   not ICMPv6, or not type 136;
    /// * `Malformed("ndp hop limit")`: hop limit other than 255;
    /// * `Malformed("icmpv6 checksum")`;
    /// * `Malformed("icmpv6 code")`: code other than 0;
    /// * `Malformed("na target multicast")`;
    /// * `Malformed("na solicited to multicast")`: S set, destination
    ///   multicast;
    /// * `Malformed("ndp option length")`: an option of length 0 or one
    ///   running past the end;
    /// * `Unsupported("tlla length")`: a Target Link-Layer Address option
    ///   that is not 8 bytes (not Ethernet).
    pub fn parse<T: AsRef<[u8]>>(
        ip: &Ipv6Repr,
        packet: &NeighborAdvertPacket<T>,
    ) -> Result<NeighborAdvertRepr, WireError> {
        let target_addr = packet.check_fixed(ip, TYPE_NEIGHBOR_ADVERT, "na target multicast")?;
        let flags = packet.flags();
        if flags.is_solicited() && ip.dst_addr.is_multicast() {
            return Err(WireError::Malformed("na solicited to multicast"));
        }
        let target_ll_addr = find_tlla(packet.options())?;
        Ok(NeighborAdvertRepr { flags, target_addr, target_ll_addr })
    }

    /// Bytes written by [`NeighborAdvertRepr::emit`]: 24, plus 8 with the
    /// Target Link-Layer Address option.
    pub const fn buffer_len(&self) -> usize {
        match self.target_ll_addr {
            Some(_) => NA_HEADER_LEN + TLLA_OPTION_LEN,
            None => NA_HEADER_LEN,
        }
    }

    /// Writes the message into the first `buffer_len()` bytes of the
    /// packet, with the checksum for a packet from `ip.src_addr` to
    /// `ip.dst_addr`. (Only the addresses of `ip` are used; the IPv6
    /// header is the caller's, and must say hop limit 255.)
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, ip: &Ipv6Repr, packet: &mut NeighborAdvertPacket<T>) {
        let len = self.buffer_len();
        let ll = self.target_ll_addr.map(|mac| (OPT_TARGET_LL_ADDR, mac));
        packet.emit_fixed(ip, len, TYPE_NEIGHBOR_ADVERT, self.flags, self.target_addr, ll);
    }
}

/// Walks the NDP options (type, length in 8-byte units, data) and returns
/// the first Target Link-Layer Address; other option types are skipped as
/// RFC 4861 section 4.6 asks.
fn find_tlla(options: &[u8]) -> Result<Option<Mac>, WireError> {
    find_ll_addr(options, OPT_TARGET_LL_ADDR, "tlla length")
}

/// The first link-layer address option of type `kind` (source or target)
/// among the NDP options; `Unsupported(wrong_len)` when it is not 8 bytes
/// (not Ethernet).
fn find_ll_addr(mut options: &[u8], kind: u8, wrong_len: &'static str) -> Result<Option<Mac>, WireError> {
    let mut found = None;
    while !options.is_empty() {
        let (this, units) = match options {
            [this, units, ..] => (*this, usize::from(*units)),
            _ => return Err(WireError::Malformed("ndp option length")),
        };
        let len = units * 8;
        if len == 0 || len > options.len() {
            return Err(WireError::Malformed("ndp option length"));
        }
        if this == kind && found.is_none() {
            if len != TLLA_OPTION_LEN {
                return Err(WireError::Unsupported(wrong_len));
            }
            found = Some(mac_at(options, 2));
        }
        options = &options[len..];
    }
    Ok(found)
}

/// Length of a Neighbor Solicitation without options.
pub const NS_HEADER_LEN: usize = ND_HEADER_LEN;
/// Length of a Source Link-Layer Address option for Ethernet.
pub const SLLA_OPTION_LEN: usize = 8;

/// A Neighbor Solicitation, with at most the Source Link-Layer Address
/// option (other options, such as a DAD nonce, are skipped on parse and
/// not emitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighborSolicitRepr {
    /// The address being resolved, or claimed by a DAD probe.
    pub target_addr: Ipv6Addr,
    /// The Source Link-Layer Address option, if present (never in a DAD
    /// probe).
    pub source_ll_addr: Option<Mac>,
}

impl NeighborSolicitRepr {
    /// Reads and validates a Neighbor Solicitation that arrived in the IPv6
    /// packet whose header is `ip`.
    ///
    /// Errors, in the order checked:
    /// * `Truncated`: under 24 bytes;
    /// * `Unsupported("ipv6 next header")` / `Unsupported("icmpv6 type")`:
    ///   not ICMPv6, or not type 135;
    /// * `Malformed("ndp hop limit")`: hop limit other than 255;
    /// * `Malformed("icmpv6 checksum")`;
    /// * `Malformed("icmpv6 code")`: code other than 0;
    /// * `Malformed("ns target multicast")`;
    /// * `Malformed("ndp option length")`: an option of length 0 or one
    ///   running past the end;
    /// * `Unsupported("slla length")`: a Source Link-Layer Address option
    ///   that is not 8 bytes (not Ethernet);
    /// * for a DAD probe (source `::`): `Malformed("dad ns not to
    ///   solicited-node")` when the destination is not a solicited-node
    ///   multicast address, `Malformed("dad ns with slla")` when it
    ///   carries a source link-layer address.
    pub fn parse<T: AsRef<[u8]>>(
        ip: &Ipv6Repr,
        packet: &NeighborSolicitPacket<T>,
    ) -> Result<NeighborSolicitRepr, WireError> {
        let target_addr = packet.check_fixed(ip, TYPE_NEIGHBOR_SOLICIT, "ns target multicast")?;
        let source_ll_addr = find_ll_addr(packet.options(), OPT_SOURCE_LL_ADDR, "slla length")?;
        if ip.src_addr.is_unspecified() {
            if !is_solicited_node(&ip.dst_addr) {
                return Err(WireError::Malformed("dad ns not to solicited-node"));
            }
            if source_ll_addr.is_some() {
                return Err(WireError::Malformed("dad ns with slla"));
            }
        }
        Ok(NeighborSolicitRepr { target_addr, source_ll_addr })
    }

    /// Bytes written by [`NeighborSolicitRepr::emit`]: 24, plus 8 with the
    /// Source Link-Layer Address option.
    pub const fn buffer_len(&self) -> usize {
        match self.source_ll_addr {
            Some(_) => NS_HEADER_LEN + SLLA_OPTION_LEN,
            None => NS_HEADER_LEN,
        }
    }

    /// Writes the message into the first `buffer_len()` bytes of the
    /// packet, with the checksum for a packet from `ip.src_addr` to
    /// `ip.dst_addr` (only the addresses of `ip` are used).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, ip: &Ipv6Repr, packet: &mut NeighborSolicitPacket<T>) {
        let len = self.buffer_len();
        let ll = self.source_ll_addr.map(|mac| (OPT_SOURCE_LL_ADDR, mac));
        packet.emit_fixed(ip, len, TYPE_NEIGHBOR_SOLICIT, NaFlags::default(), self.target_addr, ll);
    }
}

/// Whether `addr` is a solicited-node multicast address, `ff02::1:ffXX:XXXX`
/// (RFC 4291 section 2.7.1).
fn is_solicited_node(addr: &Ipv6Addr) -> bool {
    let o = addr.octets();
    o[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff][..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::golden;
    use crate::wire::ipv6::{Ipv6Packet, HEADER_LEN as IPV6_HEADER_LEN};

    // Golden Neighbor Advertisements sent by the kernel (Linux 6.18),
    // captured on a veth pair between namespaces:
    //   ip netns add fipwire-a; ip netns add fipwire-b
    //   ip link add w0 netns fipwire-a type veth peer name w1 netns fipwire-b
    //   ip -n fipwire-a link set w0 address 02:00:00:00:00:0a up
    //   ip -n fipwire-b link set w1 up
    //   ip netns exec fipwire-a sysctl -w net.ipv6.conf.w0.ndisc_notify=1
    //   ip netns exec fipwire-b tcpdump -i w1 -w k.pcap 'arp or (icmp6 and ip6[40]==136)' &
    //   ip -n fipwire-a addr add 2001:db8::100/64 dev w0
    //   tcpdump -r k.pcap -xx -e -n -vv
    // Only the IPv6 packet is kept here (the Ethernet header is in the
    // garp.rs tests).

    /// `golden::KERNEL_UNSOL_NA` without its 14-byte Ethernet header.
    const KERNEL_UNSOL_NA: &[u8] = golden::KERNEL_UNSOL_NA.split_at(14).1;

    /// `golden::KERNEL_ROUTER_NA` without its 14-byte Ethernet header.
    const KERNEL_ROUTER_NA: &[u8] = golden::KERNEL_ROUTER_NA.split_at(14).1;

    fn split(bytes: &[u8]) -> (Ipv6Repr, &[u8]) {
        let ip = Ipv6Packet::new_checked(bytes).unwrap();
        let repr = Ipv6Repr::parse(&ip).unwrap();
        (repr, &bytes[IPV6_HEADER_LEN..])
    }

    fn check_golden(bytes: &[u8], expected: NeighborAdvertRepr) {
        let (ip, icmp) = split(bytes);
        let packet = NeighborAdvertPacket::new_checked(icmp).unwrap();
        assert!(packet.verify_checksum(&ip.src_addr, &ip.dst_addr));
        assert_eq!(NeighborAdvertRepr::parse(&ip, &packet), Ok(expected));

        assert_eq!(expected.buffer_len(), icmp.len());
        let mut out = [0u8; 32];
        expected.emit(&ip, &mut NeighborAdvertPacket::new_unchecked(&mut out[..]));
        assert_eq!(&out[..], icmp);
    }

    #[test]
    fn golden_kernel_unsolicited_na() {
        check_golden(
            KERNEL_UNSOL_NA,
            NeighborAdvertRepr {
                flags: NaFlags::OVERRIDE,
                target_addr: "2001:db8::100".parse().unwrap(),
                target_ll_addr: Some(Mac([0x02, 0, 0, 0, 0, 0x0a])),
            },
        );
    }

    #[test]
    fn golden_kernel_router_na() {
        check_golden(
            KERNEL_ROUTER_NA,
            NeighborAdvertRepr {
                flags: NaFlags::ROUTER | NaFlags::OVERRIDE,
                target_addr: "fe80::ff:fe00:c".parse().unwrap(),
                target_ll_addr: Some(Mac([0x02, 0, 0, 0, 0, 0x0e])),
            },
        );
    }

    fn parse_modified(f: impl FnOnce(&mut Ipv6Repr, &mut [u8])) -> Result<NeighborAdvertRepr, WireError> {
        let (mut ip, icmp) = split(KERNEL_UNSOL_NA);
        let mut icmp = icmp.to_vec();
        f(&mut ip, &mut icmp);
        NeighborAdvertRepr::parse(&ip, &NeighborAdvertPacket::new_checked(&icmp[..])?)
    }

    /// Recomputes the checksum after a change, so that a later check fires.
    fn refill(ip: &Ipv6Repr, icmp: &mut [u8]) {
        NeighborAdvertPacket::new_unchecked(icmp).fill_checksum(&ip.src_addr, &ip.dst_addr);
    }

    #[test]
    fn validation_errors() {
        assert_eq!(parse_modified(|_, b| b[2] ^= 1), Err(WireError::Malformed("icmpv6 checksum")));
        assert_eq!(
            parse_modified(|ip, _| ip.src_addr = "2001:db8::101".parse().unwrap()),
            Err(WireError::Malformed("icmpv6 checksum"))
        );
        assert_eq!(parse_modified(|ip, _| ip.hop_limit = 64), Err(WireError::Malformed("ndp hop limit")));
        assert_eq!(parse_modified(|ip, _| ip.next_header = 17), Err(WireError::Unsupported("ipv6 next header")));
        assert_eq!(
            parse_modified(|ip, b| {
                b[0] = TYPE_NEIGHBOR_SOLICIT;
                refill(ip, b)
            }),
            Err(WireError::Unsupported("icmpv6 type"))
        );
        assert_eq!(
            parse_modified(|ip, b| {
                b[1] = 1;
                refill(ip, b)
            }),
            Err(WireError::Malformed("icmpv6 code"))
        );
        assert_eq!(
            parse_modified(|ip, b| {
                b[8] = 0xff;
                refill(ip, b)
            }),
            Err(WireError::Malformed("na target multicast"))
        );
        assert_eq!(
            parse_modified(|ip, b| {
                b[4] |= 0x40;
                refill(ip, b)
            }),
            Err(WireError::Malformed("na solicited to multicast"))
        );
        assert_eq!(
            parse_modified(|ip, b| {
                b[25] = 0;
                refill(ip, b)
            }),
            Err(WireError::Malformed("ndp option length"))
        );
        assert_eq!(
            parse_modified(|ip, b| {
                b[25] = 2;
                refill(ip, b)
            }),
            Err(WireError::Malformed("ndp option length"))
        );
    }

    #[test]
    fn options_skip_unknown_and_reject_odd_tlla() {
        let mac = Mac([2, 0, 0, 0, 0, 1]);
        // Nonce option (type 14, 8 bytes), then the TLLA.
        let mut opts = [14, 1, 1, 2, 3, 4, 5, 6, 2, 1, 2, 0, 0, 0, 0, 1];
        assert_eq!(find_tlla(&opts), Ok(Some(mac)));
        assert_eq!(find_tlla(&opts[..8]), Ok(None));
        assert_eq!(find_tlla(&[]), Ok(None));
        assert_eq!(find_tlla(&opts[..1]), Err(WireError::Malformed("ndp option length")));
        opts[9] = 2; // TLLA claiming 16 bytes: runs past the end
        assert_eq!(find_tlla(&opts), Err(WireError::Malformed("ndp option length")));
        let ib = [2u8, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(find_tlla(&ib), Err(WireError::Unsupported("tlla length")));
    }

    #[test]
    fn reserved_bits_are_ignored_then_zeroed() {
        let (ip, icmp) = split(KERNEL_UNSOL_NA);
        let mut icmp = icmp.to_vec();
        icmp[4] |= 0x1f;
        icmp[7] = 0x55;
        refill(&ip, &mut icmp);
        let packet = NeighborAdvertPacket::new_checked(&icmp[..]).unwrap();
        let repr = NeighborAdvertRepr::parse(&ip, &packet).unwrap();
        assert_eq!(repr.flags, NaFlags::OVERRIDE);
        let mut out = [0u8; 32];
        repr.emit(&ip, &mut NeighborAdvertPacket::new_unchecked(&mut out[..]));
        assert_eq!(&out[..], &KERNEL_UNSOL_NA[IPV6_HEADER_LEN..]);
    }

    #[test]
    fn na_without_option_round_trips() {
        let (ip, _) = split(KERNEL_UNSOL_NA);
        let repr = NeighborAdvertRepr {
            flags: NaFlags::new(true, false, true),
            target_addr: "2001:db8::1".parse().unwrap(),
            target_ll_addr: None,
        };
        assert_eq!(repr.buffer_len(), 24);
        // A longer buffer: emit only touches the first 24 bytes.
        let mut out = [0xeeu8; 40];
        repr.emit(&ip, &mut NeighborAdvertPacket::new_unchecked(&mut out[..]));
        assert_eq!(out[24..], [0xee; 16]);
        let packet = NeighborAdvertPacket::new_checked(&out[..24]).unwrap();
        assert_eq!(NeighborAdvertRepr::parse(&ip, &packet), Ok(repr));
    }

    #[test]
    fn flags_helpers() {
        let f = NaFlags::new(true, true, false);
        assert!(f.is_router() && f.is_solicited() && !f.is_override());
        assert_eq!(f.bits(), 0xc0);
        assert_eq!(NaFlags::from_bits_truncate(0xff).bits(), 0xe0);
        assert_eq!(format!("{:?}", NaFlags::ROUTER | NaFlags::OVERRIDE), "NaFlags(R|O)");
        assert_eq!(format!("{:?}", NaFlags::EMPTY), "NaFlags()");
    }

    #[test]
    fn short_na_is_truncated() {
        let (ip, icmp) = split(KERNEL_UNSOL_NA);
        for len in 0..NA_HEADER_LEN {
            let p = NeighborAdvertPacket::new_unchecked(&icmp[..len]);
            assert_eq!(p.check_len(), Err(WireError::Truncated));
            assert_eq!(NeighborAdvertRepr::parse(&ip, &p), Err(WireError::Truncated));
        }
    }

    /// `golden::KERNEL_DAD_NS` without its Ethernet header: the kernel's
    /// DAD probe for 2001:db8::100 (no options).
    const KERNEL_DAD_NS: &[u8] = golden::KERNEL_DAD_NS.split_at(14).1;

    fn ns_modified(f: impl FnOnce(&mut Ipv6Repr, &mut Vec<u8>)) -> Result<NeighborSolicitRepr, WireError> {
        let (mut ip, icmp) = split(KERNEL_DAD_NS);
        let mut icmp = icmp.to_vec();
        f(&mut ip, &mut icmp);
        NeighborSolicitRepr::parse(&ip, &NeighborSolicitPacket::new_checked(&icmp[..])?)
    }

    fn ns_refill(ip: &Ipv6Repr, icmp: &mut [u8]) {
        NeighborSolicitPacket::new_unchecked(icmp).fill_checksum(&ip.src_addr, &ip.dst_addr);
    }

    #[test]
    fn golden_kernel_dad_ns() {
        let (ip, icmp) = split(KERNEL_DAD_NS);
        assert!(ip.src_addr.is_unspecified());
        let packet = NeighborSolicitPacket::new_checked(icmp).unwrap();
        assert_eq!((packet.msg_type(), packet.msg_code(), packet.checksum()), (135, 0, 0x4aef));
        let expected = NeighborSolicitRepr { target_addr: "2001:db8::100".parse().unwrap(), source_ll_addr: None };
        assert_eq!(NeighborSolicitRepr::parse(&ip, &packet), Ok(expected));
        assert_eq!(expected.buffer_len(), icmp.len());
        let mut out = [0xeeu8; 24];
        expected.emit(&ip, &mut NeighborSolicitPacket::new_unchecked(&mut out[..]));
        assert_eq!(&out[..], icmp);
        assert_eq!(packet.into_inner().len(), 24);
    }

    #[test]
    fn ns_with_source_link_layer_address_round_trips() {
        // An ordinary NS (not DAD): from a unicast source, with SLLA.
        let (mut ip, _) = split(KERNEL_DAD_NS);
        ip.src_addr = "2001:db8::7".parse().unwrap();
        ip.payload_len = 32;
        let repr = NeighborSolicitRepr {
            target_addr: "2001:db8::100".parse().unwrap(),
            source_ll_addr: Some(Mac([2, 0, 0, 0, 7, 1])),
        };
        assert_eq!(repr.buffer_len(), 32);
        let mut out = [0u8; 32];
        repr.emit(&ip, &mut NeighborSolicitPacket::new_unchecked(&mut out[..]));
        assert_eq!(out[24..], [1, 1, 2, 0, 0, 0, 7, 1]);
        let packet = NeighborSolicitPacket::new_checked(&out[..]).unwrap();
        assert_eq!(NeighborSolicitRepr::parse(&ip, &packet), Ok(repr));
        // Unknown options (a DAD nonce, type 14) are skipped.
        let mut nonce = KERNEL_DAD_NS[40..].to_vec();
        nonce.extend_from_slice(&[14, 1, 1, 2, 3, 4, 5, 6]);
        let (ip, _) = split(KERNEL_DAD_NS);
        ns_refill(&ip, &mut nonce);
        let parsed = NeighborSolicitRepr::parse(&ip, &NeighborSolicitPacket::new_checked(&nonce[..]).unwrap());
        assert_eq!(parsed.map(|r| r.source_ll_addr), Ok(None));
    }

    #[test]
    fn ns_validation_errors() {
        assert_eq!(ns_modified(|_, b| b[2] ^= 1), Err(WireError::Malformed("icmpv6 checksum")));
        assert_eq!(ns_modified(|ip, _| ip.hop_limit = 1), Err(WireError::Malformed("ndp hop limit")));
        assert_eq!(ns_modified(|ip, _| ip.next_header = 6), Err(WireError::Unsupported("ipv6 next header")));
        let refilled = |f: fn(&mut Vec<u8>)| {
            ns_modified(|ip, b| {
                f(b);
                ns_refill(ip, b)
            })
        };
        assert_eq!(refilled(|b| b[0] = TYPE_NEIGHBOR_ADVERT), Err(WireError::Unsupported("icmpv6 type")));
        assert_eq!(refilled(|b| b[1] = 3), Err(WireError::Malformed("icmpv6 code")));
        assert_eq!(refilled(|b| b[8] = 0xff), Err(WireError::Malformed("ns target multicast")));
        assert_eq!(refilled(|b| b.extend_from_slice(&[1, 0])), Err(WireError::Malformed("ndp option length")));
        assert_eq!(
            refilled(|b| b.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
            Err(WireError::Unsupported("slla length"))
        );
        // DAD rules: no SLLA, and to the solicited-node group.
        assert_eq!(
            refilled(|b| b.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 1])),
            Err(WireError::Malformed("dad ns with slla"))
        );
        assert_eq!(
            ns_modified(|ip, b| {
                ip.dst_addr = "ff02::1".parse().unwrap();
                ns_refill(ip, b)
            }),
            Err(WireError::Malformed("dad ns not to solicited-node"))
        );
        for len in 0..NS_HEADER_LEN {
            let (ip, icmp) = split(KERNEL_DAD_NS);
            let p = NeighborSolicitPacket::new_unchecked(&icmp[..len]);
            assert_eq!(NeighborSolicitRepr::parse(&ip, &p), Err(WireError::Truncated));
        }
    }
}

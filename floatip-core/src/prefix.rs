//! IP addresses with a prefix length, as `ip addr` writes them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::{Error, Result};

/// An address with a prefix length, such as `10.0.0.100/23` (an interface
/// address) or `10.0.0.100/32` (a host route). The address keeps its host
/// bits, as `ip addr add` does; [`IpPrefix::network`] clears them.
///
/// ```
/// use floatip::IpPrefix;
/// let p: IpPrefix = "10.0.0.100/23".parse().unwrap();
/// assert_eq!(p.len(), 23);
/// assert_eq!(p.network().to_string(), "10.0.0.0/23");
/// assert!(p.contains("10.0.1.1".parse().unwrap()));
/// assert!("10.0.0.1/33".parse::<IpPrefix>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

impl IpPrefix {
    /// Checks that `len` fits the address family (32 for IPv4, 128 for IPv6).
    pub fn new(addr: IpAddr, len: u8) -> Result<Self> {
        let max = max_len(&addr);
        if len > max {
            return Err(Error::invalid("prefix length", format!("{addr}/{len}"), format!("longer than {max} bits")));
        }
        Ok(IpPrefix { addr, len })
    }

    /// The single-address prefix: `/32` for IPv4, `/128` for IPv6.
    pub fn host(addr: IpAddr) -> Self {
        IpPrefix { addr, len: max_len(&addr) }
    }

    /// The address, host bits included.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for IPv4.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// True when the prefix covers exactly one address.
    pub fn is_host(&self) -> bool {
        self.len == max_len(&self.addr)
    }

    /// The prefix with its host bits cleared (`10.0.0.100/23` → `10.0.0.0/23`).
    pub fn network(&self) -> IpPrefix {
        IpPrefix { addr: mask(self.addr, self.len), len: self.len }
    }

    /// The IPv4 broadcast address of the prefix (`None` for IPv6, /31 and /32).
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        match self.addr {
            IpAddr::V4(a) if self.len < 31 => {
                let host = u32::MAX >> self.len;
                Some(Ipv4Addr::from(u32::from(a) | host))
            }
            _ => None,
        }
    }

    /// True when `ip` is inside this prefix (and of the same family).
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.len) == mask(self.addr, self.len)
    }
}

fn max_len(addr: &IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl fmt::Debug for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for IpPrefix {
    type Err = Error;
    /// Parses `ADDR/LEN`; a bare address means a host prefix.
    fn from_str(s: &str) -> Result<Self> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| Error::invalid("ip prefix", s, "not an IPv4 or IPv6 address"))?;
        match l {
            None => Ok(IpPrefix::host(addr)),
            Some(l) => {
                let len: u8 = l.parse().map_err(|_| Error::invalid("ip prefix", s, "prefix length is not a number"))?;
                IpPrefix::new(addr, len)
            }
        }
    }
}

impl TryFrom<&str> for IpPrefix {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_math() {
        let p: IpPrefix = "10.0.0.100/23".parse().unwrap();
        assert_eq!(p.network().to_string(), "10.0.0.0/23");
        assert_eq!(p.broadcast(), Some("10.0.1.255".parse().unwrap()));
        assert!(p.contains("10.0.1.200".parse().unwrap()));
        assert!(!p.contains("10.0.2.1".parse().unwrap()));
        assert!(!p.contains("::1".parse().unwrap()));
        assert!("10.0.0.1".parse::<IpPrefix>().unwrap().is_host());
        let v6: IpPrefix = "2001:db8::100/64".parse().unwrap();
        assert_eq!(v6.network().to_string(), "2001:db8::/64");
        assert_eq!(v6.broadcast(), None);
        assert!("0.0.0.0/0".parse::<IpPrefix>().unwrap().contains("1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn rejects() {
        for bad in ["10.0.0.1/33", "::1/129", "10.0.0.1/x", "10.0.0/8", "", "/8", "10.0.0.1/-1"] {
            assert!(bad.parse::<IpPrefix>().is_err(), "{bad}");
        }
    }
}

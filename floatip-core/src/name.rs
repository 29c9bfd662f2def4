//! Validated names: interface names and namespace names.
//!
//! A name is checked once, when the value is built, so a bad name can never
//! reach a netlink message or a `/proc/sys` path: an unchecked interface name
//! such as `../../..` would turn a sysctl write into a write anywhere in /proc.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// `IFNAMSIZ - 1`: the longest interface name the kernel accepts.
pub const IFNAME_MAX: usize = 15;

/// A kernel network interface name that passed the kernel's own rules
/// (`dev_valid_name()` in `net/core/dev.c`): 1 to 15 bytes, not `.` or `..`,
/// and no `/`, `:`, NUL or whitespace.
///
/// ```
/// use floatip::IfName;
/// assert!(IfName::new("vh-pod1").is_ok());
/// assert!(IfName::new("../../..").is_err());
/// assert!(IfName::new("a-name-of-16-byt").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfName(String);

impl IfName {
    /// Validates `name` by the kernel's rules.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let bad = |reason: &str| Err(Error::invalid("interface name", &name, reason));
        if name.is_empty() {
            return bad("empty");
        }
        if name.len() > IFNAME_MAX {
            return bad("longer than 15 bytes");
        }
        if name == "." || name == ".." {
            return bad("`.` and `..` are not interface names");
        }
        // `%` makes the kernel treat the name as a template (`fip%d`
        // becomes `fip0`, `dev_alloc_name()` in net/core/dev.c): the link
        // would not be found again by the name that was asked for.
        if let Some(c) = name.chars().find(|c| matches!(c, '/' | ':' | '%' | '\0') || c.is_whitespace()) {
            return Err(Error::invalid("interface name", &name, format!("contains {c:?}")));
        }
        Ok(IfName(name))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl FromStr for IfName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        IfName::new(s)
    }
}

impl TryFrom<&str> for IfName {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self> {
        IfName::new(s)
    }
}

impl TryFrom<String> for IfName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        IfName::new(s)
    }
}

impl AsRef<str> for IfName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Anything that can name an interface: `&str` and `String` are validated,
/// an [`IfName`] already is.
pub trait IntoIfName {
    /// Converts, validating if needed.
    fn into_ifname(self) -> Result<IfName>;
}

impl IntoIfName for IfName {
    fn into_ifname(self) -> Result<IfName> {
        Ok(self)
    }
}

impl IntoIfName for &IfName {
    fn into_ifname(self) -> Result<IfName> {
        Ok(self.clone())
    }
}

impl IntoIfName for &str {
    fn into_ifname(self) -> Result<IfName> {
        IfName::new(self)
    }
}

impl IntoIfName for String {
    fn into_ifname(self) -> Result<IfName> {
        IfName::new(self)
    }
}

/// Validates a named-namespace name as `ip netns add` does
/// (`is_valid_netns_name()` in iproute2 `ip/ipnetns.c`): not empty, at most
/// 255 bytes, not `.` or `..`, no `/` and no NUL. The name becomes a file
/// under `/run/netns`, so nothing else is allowed to escape that directory.
pub fn validate_netns_name(name: &str) -> Result<()> {
    let bad = |reason: &str| Err(Error::invalid("netns name", name, reason));
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 255 {
        return bad("longer than 255 bytes");
    }
    if name == "." || name == ".." {
        return bad("`.` and `..` are not namespace names");
    }
    if name.contains('/') || name.contains('\0') {
        return bad("contains '/' or NUL");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn kernel_rules() {
        for ok in ["eth0", "a", "vh-0123456789ab", "bond1.100", "x_y-z@"] {
            assert!(IfName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "a\tb", "a\0b", "0123456789abcdef", "../../.."] {
            let e = IfName::new(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
        }
        // 15 bytes counted in bytes, not characters.
        assert!(IfName::new("ééééééé").is_ok()); // 14 bytes
        assert!(IfName::new("éééééééé").is_err()); // 16 bytes
    }

    #[test]
    fn netns_names() {
        assert!(validate_netns_name("fip-pod-1").is_ok());
        for bad in ["", ".", "..", "a/b", "../x", "a\0"] {
            assert!(validate_netns_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_netns_name(&"x".repeat(256)).is_err());
    }
}

//! Per-namespace sysctls under `/proc/sys/net`.
//!
//! `/proc/sys/net/...` resolves against the network namespace of the thread
//! that opens the file, and an open file stays bound to that namespace. So
//! floatip opens the file while its thread is inside the target namespace
//! (for the `open()` only) and reads or writes through the descriptor after.
//! A key can only be built from validated parts, so no interface name can
//! turn into a path outside `/proc/sys/net/`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use crate::error::{Error, Result};
use crate::name::IfName;
use crate::netns::Netns;

/// A sysctl under `net.`, e.g. `net.ipv4.conf.vh0.proxy_arp`.
///
/// ```
/// use floatip::{IfName, SysctlKey};
/// let k = SysctlKey::ipv4_conf(&IfName::new("vh0").unwrap(), "proxy_arp").unwrap();
/// assert_eq!(k.to_string(), "net.ipv4.conf.vh0.proxy_arp");
/// assert_eq!(k.path().to_str(), Some("/proc/sys/net/ipv4/conf/vh0/proxy_arp"));
/// // A VLAN device name keeps its dot, as sysctl(8) writes it with a slash.
/// let v = SysctlKey::parse("net.ipv4.conf.bond1/100.proxy_arp").unwrap();
/// assert_eq!(v.path().to_str(), Some("/proc/sys/net/ipv4/conf/bond1.100/proxy_arp"));
/// assert!(SysctlKey::parse("net.ipv4.conf.../../x.y").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SysctlKey {
    /// `/proc/sys/net/...`, built from validated parts (none holds a `/`):
    /// one allocation per key, and no work to open it.
    path: String,
}

const PROC_SYS: &str = "/proc/sys";

fn check_param(param: &str) -> Result<()> {
    if param.is_empty() || !param.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err(Error::invalid("sysctl parameter", param, "only a-z, 0-9 and '_' are allowed"));
    }
    Ok(())
}

impl SysctlKey {
    fn per_dev(family: &str, table: &str, dev: &IfName, param: &str) -> Result<Self> {
        check_param(param)?;
        Ok(Self::from_parts(&["net", family, table, dev.as_str(), param]))
    }

    fn from_parts(parts: &[&str]) -> Self {
        let mut path = String::with_capacity(PROC_SYS.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>());
        path.push_str(PROC_SYS);
        for p in parts {
            path.push('/');
            path.push_str(p);
        }
        SysctlKey { path }
    }

    /// `net.ipv4.ip_forward`.
    pub fn ipv4_forward() -> Self {
        Self::from_parts(&["net", "ipv4", "ip_forward"])
    }

    /// `net.ipv4.conf.DEV.PARAM` (`proxy_arp`, `forwarding`, `arp_accept`...).
    /// `DEV` may also be `all` or `default`.
    pub fn ipv4_conf(dev: &IfName, param: &str) -> Result<Self> {
        Self::per_dev("ipv4", "conf", dev, param)
    }

    /// `net.ipv4.neigh.DEV.PARAM` (`proxy_delay`, `locktime`...).
    pub fn ipv4_neigh(dev: &IfName, param: &str) -> Result<Self> {
        Self::per_dev("ipv4", "neigh", dev, param)
    }

    /// `net.ipv6.conf.DEV.PARAM` (`forwarding`, `proxy_ndp`...).
    pub fn ipv6_conf(dev: &IfName, param: &str) -> Result<Self> {
        Self::per_dev("ipv6", "conf", dev, param)
    }

    /// `net.ipv6.neigh.DEV.PARAM` (`proxy_delay`...).
    pub fn ipv6_neigh(dev: &IfName, param: &str) -> Result<Self> {
        Self::per_dev("ipv6", "neigh", dev, param)
    }

    /// Parses a dotted key as sysctl(8) writes it: `/` inside a part stands
    /// for a `.` in a device name (`net.ipv4.conf.eth0/100.rp_filter`). Only
    /// keys under `net.` are accepted; each part must be a valid interface
    /// name or parameter.
    pub fn parse(key: &str) -> Result<Self> {
        let mut parts = Vec::new();
        for raw in key.split('.') {
            let part = raw.replace('/', ".");
            // A part is a directory or file name under /proc/sys/net: not
            // empty, `.` or `..`, and no `/` (after the swap), NUL or
            // whitespace. (Not the 15-byte interface-name rule: parameters
            // such as `ip_nonlocal_bind` are longer.)
            let ok = !part.is_empty()
                && part != "."
                && part != ".."
                && part.len() <= 255
                && !part.contains(|c: char| c == '/' || c == '\0' || c.is_whitespace());
            if !ok {
                return Err(Error::invalid("sysctl key", key, format!("bad part {raw:?}")));
            }
            parts.push(part);
        }
        if parts.first().map(String::as_str) != Some("net") || parts.len() < 2 {
            return Err(Error::invalid("sysctl key", key, "only keys under net. are supported"));
        }
        check_param(parts.last().expect("len checked"))
            .map_err(|_| Error::invalid("sysctl key", key, "bad parameter name"))?;
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        Ok(Self::from_parts(&parts))
    }

    /// The file under `/proc/sys`.
    pub fn path(&self) -> &Path {
        Path::new(&self.path)
    }
}

impl fmt::Display for SysctlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rel = &self.path[PROC_SYS.len() + 1..];
        let shown: Vec<String> = rel.split('/').map(|p| p.replace('.', "/")).collect();
        f.write_str(&shown.join("."))
    }
}

impl fmt::Debug for SysctlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Netns {
    /// `ip netns exec NS sysctl -n KEY`: reads a sysctl of this namespace,
    /// trimmed of its trailing newline.
    pub fn sysctl_get(&self, key: &SysctlKey) -> Result<String> {
        self.sysctl_get_from(key, None)
    }

    /// [`Netns::sysctl_get`], returning the thread to `home` (see
    /// [`Netns::enter_from`]).
    pub(crate) fn sysctl_get_from(&self, key: &SysctlKey, home: Option<&Netns>) -> Result<String> {
        let object = || format!("{key} in {}", self.describe());
        let mut f = {
            let _inside = self.enter_from(home)?;
            OpenOptions::new().read(true).open(key.path()).map_err(|e| Error::io("read sysctl", object(), e))?
        };
        let mut s = String::new();
        f.read_to_string(&mut s).map_err(|e| Error::io("read sysctl", object(), e))?;
        Ok(s.trim_end().to_owned())
    }

    /// Sets a sysctl and returns its previous value, with one open of the
    /// file (`O_RDWR`, positioned reads and writes): what a caller that may
    /// have to restore the value needs, at half the cost of get + set.
    /// Nothing is written when the value is already `value`.
    pub fn sysctl_replace(&self, key: &SysctlKey, value: &str) -> Result<String> {
        self.sysctl_replace_from(key, value, None)
    }

    /// [`Netns::sysctl_replace`], returning the thread to `home` (see
    /// [`Netns::enter_from`]).
    pub(crate) fn sysctl_replace_from(&self, key: &SysctlKey, value: &str, home: Option<&Netns>) -> Result<String> {
        let f = self.open_sysctls(&[key], home)?.pop().expect("one file per key");
        self.sysctl_replace_file(&f, key, value)
    }

    /// Opens several sysctl files of this namespace for reading and
    /// writing in one visit (one `setns` there and back for all of them).
    /// Fails before anything is written if any key is missing.
    pub(crate) fn open_sysctls(&self, keys: &[&SysctlKey], home: Option<&Netns>) -> Result<Vec<File>> {
        let _inside = self.enter_from(home)?;
        self.open_sysctls_here(keys)
    }

    /// [`Netns::open_sysctls`] for a caller that knows its thread is in
    /// this namespace already: no `setns` at all.
    pub(crate) fn open_sysctls_here(&self, keys: &[&SysctlKey]) -> Result<Vec<File>> {
        keys.iter()
            .map(|key| {
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(key.path())
                    .map_err(|e| Error::io("open sysctl", format!("{key} in {}", self.describe()), e))
            })
            .collect()
    }

    /// Sets a sysctl through a file from [`Netns::open_sysctls`] and returns
    /// the previous value; writes nothing when it already has `value`.
    pub(crate) fn sysctl_replace_file(&self, f: &File, key: &SysctlKey, value: &str) -> Result<String> {
        use std::os::unix::fs::FileExt;
        let object = || format!("{key}={value} in {}", self.describe());
        if value.contains('\n') {
            return Err(Error::invalid("sysctl value", value, "contains a newline"));
        }
        let mut buf = [0u8; 256];
        let n = f.read_at(&mut buf, 0).map_err(|e| Error::io("read sysctl", object(), e))?;
        let old = String::from_utf8_lossy(&buf[..n]).trim_end().to_owned();
        if old != value {
            // Offset 0: with the default sysctl_writes_strict=1 a write at a
            // non-zero offset is ignored for numeric entries.
            f.write_at(value.as_bytes(), 0).map_err(|e| Error::io("write sysctl", object(), e))?;
        }
        Ok(old)
    }

    /// `ip netns exec NS sysctl -w KEY=VALUE` for this namespace only.
    pub fn sysctl_set(&self, key: &SysctlKey, value: &str) -> Result<()> {
        let object = || format!("{key}={value} in {}", self.describe());
        if value.contains('\n') {
            return Err(Error::invalid("sysctl value", value, "contains a newline"));
        }
        let mut f = {
            let _inside = self.enter()?;
            OpenOptions::new().write(true).open(key.path()).map_err(|e| Error::io("write sysctl", object(), e))?
        };
        f.write_all(value.as_bytes()).map_err(|e| Error::io("write sysctl", object(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn keys() {
        let dev = IfName::new("vh0").unwrap();
        assert_eq!(SysctlKey::ipv4_neigh(&dev, "proxy_delay").unwrap().to_string(), "net.ipv4.neigh.vh0.proxy_delay");
        assert_eq!(
            SysctlKey::ipv6_conf(&dev, "proxy_ndp").unwrap().path(),
            PathBuf::from("/proc/sys/net/ipv6/conf/vh0/proxy_ndp")
        );
        assert_eq!(SysctlKey::ipv4_forward().to_string(), "net.ipv4.ip_forward");
        // Parameter names may be longer than an interface name.
        assert_eq!(
            SysctlKey::parse("net.ipv4.ip_nonlocal_bind").unwrap().path(),
            PathBuf::from("/proc/sys/net/ipv4/ip_nonlocal_bind")
        );
        assert!(SysctlKey::parse("net.ipv6.conf.all.accept_ra_rt_info_max_plen").is_ok());
        let v = IfName::new("up.100").unwrap();
        let k = SysctlKey::ipv4_conf(&v, "proxy_arp").unwrap();
        assert_eq!(k.to_string(), "net.ipv4.conf.up/100.proxy_arp");
        assert_eq!(SysctlKey::parse(&k.to_string()).unwrap(), k);
    }

    #[test]
    fn nothing_escapes_proc_sys_net() {
        let dev = IfName::new("vh0").unwrap();
        for bad in ["../x", "a/b", "", "A", "x y", "x\n"] {
            assert!(SysctlKey::ipv4_conf(&dev, bad).is_err(), "{bad:?}");
        }
        for bad in
            ["net.ipv4.conf.../../../x.y", "kernel.hostname", "net..x", "net", "net.ipv4.conf.a b.x", "", "net.ipv4.X"]
        {
            assert!(SysctlKey::parse(bad).is_err(), "{bad:?}");
        }
        // `..` as a device name is refused by IfName before it gets here.
        assert!(IfName::new("..").is_err());
    }
}

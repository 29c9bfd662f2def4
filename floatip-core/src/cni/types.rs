//! The JSON a CNI plugin speaks: results, errors and their codes.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind};

/// The CNI versions `floatip-cni` speaks, oldest first.
pub const SUPPORTED_VERSIONS: [&str; 3] = ["0.4.0", "1.0.0", "1.1.0"];

/// Error codes: the spec's (below 100) and floatip's own (100 and up).
///
/// | code | meaning |
/// |---|---|
/// | 1 | incompatible CNI version (unsupported `cniVersion`, STATUS/GC before 1.1.0) |
/// | 3 | container unknown (CHECK of an interface the `prevResult` does not have) |
/// | 4 | invalid environment (`CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_IFNAME`, `CNI_NETNS`, `CNI_PATH`, `CNI_ARGS`; a `CNI_NETNS` that is the plugin's own namespace) |
/// | 6 | the configuration on stdin is not JSON (or not an object) |
/// | 7 | invalid network configuration; floatip's [`ErrorKind::InvalidInput`] |
/// | 11 | try again later: a lock held by another attach or detach past `lockWaitMs`; [`ErrorKind::TimedOut`] |
/// | 50 | STATUS: the uplink (or its VLAN device, or the bridge) is missing or down |
/// | 100 | [`ErrorKind::Conflict`]: the floating IP or a name is another attachment's |
/// | 101 | [`ErrorKind::NotFound`]: e.g. the uplink does not exist |
/// | 102 | [`ErrorKind::PermissionDenied`] |
/// | 103 | [`ErrorKind::NotSupported`]: e.g. a VLAN on a kernel without 8021q |
/// | 104 | [`ErrorKind::AlreadyExists`] |
/// | 105 | any other kernel or system error ([`ErrorKind::Other`]) |
/// | 110 | CHECK found the kernel different from `prevResult` and the config (`details` lists every difference) |
/// | 120 | the delegated IPAM plugin failed without a CNI error of its own, or gave an unreadable result |
///
/// An IPAM plugin's own CNI error is passed on with its code.
pub mod code {
    /// Incompatible CNI version.
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    /// Container unknown or does not exist.
    pub const UNKNOWN_CONTAINER: u32 = 3;
    /// Invalid necessary environment variables.
    pub const BAD_ENVIRONMENT: u32 = 4;
    /// Failed to decode content.
    pub const DECODE: u32 = 6;
    /// Invalid network configuration.
    pub const INVALID_CONFIG: u32 = 7;
    /// Try again later.
    pub const TRY_AGAIN_LATER: u32 = 11;
    /// STATUS: the plugin cannot serve ADD.
    pub const NOT_AVAILABLE: u32 = 50;
    /// floatip: a conflict with what is there.
    pub const CONFLICT: u32 = 100;
    /// floatip: something needed does not exist.
    pub const NOT_FOUND: u32 = 101;
    /// floatip: permission denied.
    pub const PERMISSION_DENIED: u32 = 102;
    /// floatip: the kernel does not support the request.
    pub const NOT_SUPPORTED: u32 = 103;
    /// floatip: an object exists already.
    pub const ALREADY_EXISTS: u32 = 104;
    /// floatip: any other kernel or system error.
    pub const OTHER: u32 = 105;
    /// CHECK found drift.
    pub const DRIFT: u32 = 110;
    /// The delegated IPAM plugin failed without a CNI error.
    pub const IPAM: u32 = 120;
}

/// The CNI code of a floatip error kind (see [`code`]).
pub fn code_of(kind: ErrorKind) -> u32 {
    match kind {
        ErrorKind::InvalidInput => code::INVALID_CONFIG,
        ErrorKind::TimedOut => code::TRY_AGAIN_LATER,
        ErrorKind::Conflict => code::CONFLICT,
        ErrorKind::NotFound => code::NOT_FOUND,
        ErrorKind::PermissionDenied => code::PERMISSION_DENIED,
        ErrorKind::NotSupported => code::NOT_SUPPORTED,
        ErrorKind::AlreadyExists => code::ALREADY_EXISTS,
        _ => code::OTHER,
    }
}

/// A CNI error: what the plugin prints on stdout when it fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniError {
    /// The code ([`code`]).
    pub code: u32,
    /// A short message.
    pub msg: String,
    /// More detail: floatip's error text, kind and errno.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl CniError {
    /// An error with `code` and `msg`.
    pub fn new(code: u32, msg: impl Into<String>) -> CniError {
        CniError { code, msg: msg.into(), details: String::new() }
    }

    /// With `details`.
    pub fn details(mut self, details: impl Into<String>) -> CniError {
        self.details = details.into();
        self
    }

    /// A floatip error during `what` (`attach 3f2a/eth0`): its text as
    /// `msg`, its kind, operation and errno as `details`.
    pub fn floatip(what: &str, e: &Error) -> CniError {
        let errno = e.errno().map(|n| format!(", errno {n}")).unwrap_or_default();
        CniError {
            code: code_of(e.kind()),
            msg: format!("floatip {what}: {}", crate::error::Report(e)),
            details: format!("kind {}, op {}{errno}", e.kind(), e.op()),
        }
    }

    /// The error as CNI JSON for `cni_version`.
    pub fn to_json(&self, cni_version: &str) -> Value {
        let mut v = serde_json::json!({ "cniVersion": cni_version, "code": self.code, "msg": self.msg });
        if !self.details.is_empty() {
            v["details"] = Value::String(self.details.clone());
        }
        v
    }
}

impl fmt::Display for CniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CNI error {}: {}", self.code, self.msg)?;
        if !self.details.is_empty() {
            write!(f, " ({})", self.details)?;
        }
        Ok(())
    }
}

impl std::error::Error for CniError {}

/// One interface of a result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Its MAC (`02:..`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// The namespace path for an interface inside the sandbox; empty on
    /// the host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
}

/// One address of a result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// `"4"` or `"6"`: in 0.4.0 results only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The index in `interfaces` of the interface holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
    /// The address with its prefix length (`10.0.0.100/23`).
    pub address: String,
    /// The gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// One route of a result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteEntry {
    /// The destination prefix (`0.0.0.0/0`).
    pub dst: String,
    /// The next hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
}

/// DNS settings, passed through from the IPAM result or the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// Name servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// The local domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// resolv.conf options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        self == &Dns::default()
    }
}

/// A CNI result (ADD's output, `prevResult`, an IPAM plugin's answer).
/// Fields the plugin does not know (a chained plugin's) are ignored when
/// read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniResult {
    /// The version it is written in.
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// Interfaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    /// Addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    /// Routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteEntry>,
    /// DNS.
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
}

impl CniResult {
    /// Reads a result (any supported version) from JSON.
    pub fn from_json(v: &Value) -> Result<CniResult, serde_json::Error> {
        CniResult::deserialize(v)
    }

    /// The result written for `cni_version`: 0.4.0 gives every address its
    /// `version`, 1.0.0 and later have none.
    pub fn to_json(&self, cni_version: &str) -> Value {
        let mut r = self.clone();
        r.cni_version = cni_version.to_owned();
        let old = cni_version.starts_with("0.");
        for ip in &mut r.ips {
            ip.version = match old {
                true => Some(if ip.address.contains(':') { "6" } else { "4" }.to_owned()),
                false => None,
            };
        }
        serde_json::to_value(&r).expect("a result serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_by_version() {
        let r = CniResult {
            interfaces: vec![Interface { name: "eth0".into(), mac: "02:00:00:00:00:01".into(), sandbox: "/x".into() }],
            ips: vec![IpConfig {
                interface: Some(0),
                address: "10.0.0.100/23".into(),
                gateway: Some("10.0.0.1".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let old = r.to_json("0.4.0");
        assert_eq!(old["ips"][0]["version"], "4");
        assert_eq!(old["cniVersion"], "0.4.0");
        let new = r.to_json("1.1.0");
        assert!(new["ips"][0].get("version").is_none());
        assert!(new.get("dns").is_none() && new.get("routes").is_none());
        assert_eq!(CniResult::from_json(&new).unwrap().ips, r.ips);
        // Chained plugins' fields are ignored.
        let mut extra = new.clone();
        extra["interfaces"][0]["socketPath"] = "/s".into();
        extra["custom"] = 1.into();
        assert_eq!(CniResult::from_json(&extra).unwrap().interfaces, r.interfaces);
    }

    #[test]
    fn errors_carry_codes() {
        let e = Error::Conflict { object: "route 10.0.0.100/32".into(), reason: "taken".into() };
        let c = CniError::floatip("attach a/eth0", &e);
        assert_eq!(c.code, code::CONFLICT);
        let j = c.to_json("1.0.0");
        assert_eq!(j["code"], 100);
        assert!(j["msg"].as_str().unwrap().contains("taken"), "{j}");
        assert!(j["details"].as_str().unwrap().contains("kind conflict"), "{j}");
        assert_eq!(code_of(ErrorKind::TimedOut), 11);
        assert_eq!(code_of(ErrorKind::InvalidInput), 7);
    }
}

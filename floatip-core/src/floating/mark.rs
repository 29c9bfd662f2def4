//! Owner marks: how an object in the kernel says which attachment it
//! belongs to, so that the kernel alone is the record of what is attached
//! (no state files). Data and parsing only, no I/O.
//!
//! | object | mark | seen with |
//! |---|---|---|
//! | host veth | `IFLA_IFALIAS` = `floatip/1 id=ID ns=INODE [lan=IF] [ip=A,B] [pod=KEY]` | `ip -d link show` (`alias ...`) |
//! | host routes | route protocol ([`DEFAULT_PROTOCOL`] unless configured) | `ip route` (`proto 70`) |
//! | uplink proxy entries | `NDA_PROTOCOL`, the same number (kernel 5.0+) | `ip neigh show proxy` (`proto 70`) |
//! | policy rules, table routes | `FRA_PROTOCOL` / route protocol, the same number; rules name the host veth (`iif`) | `ip rule` (`proto 70`), `ip route show table T` |
//! | a detached veth awaiting its delete (a *tombstone*) | link group [`TOMBSTONE_GROUP`], down, its alias kept | `ip -d link show group 1179930445` |
//!
//! Routed mode with policy routing or anti-spoofing adds to the alias the
//! rules' table and first priority (`table=T prio=P`, `spoof=drop` with
//! anti-spoofing) and the gateways with their subnet lengths
//! (`gw=10.0.0.1/23`): what reconcile needs to put deleted rules and table
//! routes back from the kernel's state alone.
//!
//! The alias names the attachment (`id`), the pod namespace it was made for
//! (`ns`, the namespace's nsfs inode: a later sandbox of the same pod has
//! another), the LAN interface that holds its proxy entries (routed mode
//! only: a bridge-mode veth has no `lan`), its floating IPs and, when it
//! fits in the kernel's 255 bytes, the pod key. The leading `floatip/1` is
//! the format's version: a mark of another version is never parsed as
//! this one, and an object whose alias is not a mark is never floatip's.

use std::fmt;
use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::lock::fnv1a;
use crate::name::IfName;
use crate::prefix::IpPrefix;
use crate::wire::Mac;

/// The mark format this version writes and reads.
pub const MARK_VERSION: u32 = 1;

/// The route protocol number (and `NDA_PROTOCOL`) floatip marks its host
/// routes and proxy entries with, unless a spec sets another: 70, which
/// neither the kernel (0-4) nor iproute2's `rt_protos` list assigns.
pub const DEFAULT_PROTOCOL: u8 = 70;

/// The link group of *tombstones*: host veths that a detach has taken out
/// of service (down, their routes, rules and proxy entries gone) and whose
/// delete is left to a batch (`ip link del group TOMBSTONE_GROUP`, see
/// [`Host::detach`](crate::Host::detach)). A link in this group is never
/// a live attachment: `list` reports it as
/// [`AttachmentState::Tombstone`](crate::floating::AttachmentState),
/// reconcile leaves it alone, and GC deletes it. The value spells `FTOM`;
/// like the route protocol, it is one of floatip's marks, and no other
/// tool's links belong in it.
pub const TOMBSTONE_GROUP: u32 = 0x4654_4f4d;

/// The kernel's limit on an interface alias (`IFALIASZ` - 1).
const ALIAS_MAX: usize = 255;

/// Longest attachment id: a CNI container id (64 hex digits) and an
/// interface name, with room to spare, and short enough that every mark
/// fits in an alias.
pub const ATTACHMENT_ID_MAX: usize = 128;

/// The owner mark of one attachment's host veth.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OwnerMark {
    /// The attachment (CNI: container id and interface name).
    pub attachment_id: String,
    /// The nsfs inode of the pod namespace the veth was made for.
    pub pod_netns_inode: u64,
    /// Routed mode: the LAN interface holding the proxy entries.
    pub lan: Option<IfName>,
    /// The floating IPs.
    pub ips: Vec<IpAddr>,
    /// The pod key, when it fitted.
    pub pod_key: Option<String>,
    /// Routed mode: the policy rules the attachment has.
    pub rules: Option<RulePlan>,
    /// Routed mode with policy routing: each family's gateway, with the
    /// floating subnet's prefix length (`10.0.0.1/23`).
    pub gateways: Vec<IpPrefix>,
}

/// Which policy rules an attachment has, per floating IP (all with the
/// host veth as `iif`):
///
/// | priority | rule | when |
/// |---|---|---|
/// | `priority` | `from IP lookup main suppress_prefixlength 0` | policy routing (`table` is not main) |
/// | `priority + 1` | `from IP lookup TABLE` | policy routing, or anti-spoofing alone (`lookup main`) |
/// | `priority + 2` | `from all blackhole` | anti-spoofing |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RulePlan {
    /// The table of the LAN interface; [`crate::route::TABLE_MAIN`] when
    /// policy routing is off and only anti-spoofing asks for rules.
    pub table: u32,
    /// The first rule's priority.
    pub priority: u32,
    /// Anti-spoofing: the veth's traffic from any other source is dropped.
    pub spoof: bool,
}

impl RulePlan {
    /// Whether egress goes by the LAN interface's own table.
    pub fn policy_routing(&self) -> bool {
        self.table != crate::route::TABLE_MAIN
    }
}

impl OwnerMark {
    /// The alias text. The pod key is left out when the whole would not
    /// fit in 255 bytes (the spec's validation guarantees the rest does).
    pub fn to_alias(&self) -> String {
        let mut s = format!("floatip/{MARK_VERSION} id={} ns={}", self.attachment_id, self.pod_netns_inode);
        if let Some(l) = &self.lan {
            s.push_str(&format!(" lan={l}"));
        }
        if !self.ips.is_empty() {
            let ips: Vec<String> = self.ips.iter().map(|i| i.to_string()).collect();
            s.push_str(&format!(" ip={}", ips.join(",")));
        }
        if let Some(r) = &self.rules {
            s.push_str(&format!(" table={} prio={}", r.table, r.priority));
            if r.spoof {
                s.push_str(" spoof=drop");
            }
        }
        if !self.gateways.is_empty() {
            let gws: Vec<String> = self.gateways.iter().map(|g| g.to_string()).collect();
            s.push_str(&format!(" gw={}", gws.join(",")));
        }
        if let Some(k) = &self.pod_key {
            if s.len() + 5 + k.len() <= ALIAS_MAX {
                s.push_str(&format!(" pod={k}"));
            }
        }
        s
    }

    /// Reads an alias back; `None` when it is not a mark of this version
    /// (a foreign alias, or a mark floatip cannot vouch for).
    pub fn parse(alias: &str) -> Option<OwnerMark> {
        let mut words = alias.split(' ');
        if words.next()? != format!("floatip/{MARK_VERSION}") {
            return None;
        }
        let (mut id, mut ino, mut lan, mut ips, mut pod) = (None, None, None, Vec::new(), None);
        let (mut table, mut prio, mut spoof, mut gateways) = (None, None, false, Vec::new());
        for w in words {
            let (k, v) = w.split_once('=')?;
            match k {
                "id" => id = Some(v.to_owned()),
                "ns" => ino = Some(v.parse().ok()?),
                "lan" => lan = Some(IfName::new(v).ok()?),
                "ip" => ips = v.split(',').map(|i| i.parse().ok()).collect::<Option<Vec<IpAddr>>>()?,
                "pod" => pod = Some(v.to_owned()),
                "table" => table = Some(v.parse().ok()?),
                "prio" => prio = Some(v.parse().ok()?),
                "spoof" => spoof = v == "drop",
                "gw" => gateways = v.split(',').map(|g| g.parse().ok()).collect::<Option<Vec<IpPrefix>>>()?,
                _ => {} // a later minor addition: ignored
            }
        }
        let rules = match (table, prio) {
            (Some(table), Some(priority)) => Some(RulePlan { table, priority, spoof }),
            (None, None) => None,
            _ => return None, // half a plan: not a mark this version wrote
        };
        Some(OwnerMark { attachment_id: id?, pod_netns_inode: ino?, lan, ips, pod_key: pod, rules, gateways })
    }

    /// The longest alias a spec can produce without its pod key: the
    /// inode at its widest.
    pub(crate) fn worst_len(&self) -> usize {
        OwnerMark { pod_netns_inode: u64::MAX, pod_key: None, ..self.clone() }.to_alias().len()
    }
}

impl fmt::Display for OwnerMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_alias())
    }
}

/// Checks an attachment id or pod key: printable ASCII without spaces (the
/// alias is split on them), at most `max` bytes.
pub(crate) fn validate_word(what: &'static str, s: &str, max: usize) -> Result<()> {
    if s.is_empty() {
        return Err(Error::invalid(what, s, "empty"));
    }
    if s.len() > max {
        return Err(Error::invalid(what, s, format!("longer than {max} bytes")));
    }
    if let Some(c) = s.chars().find(|c| !c.is_ascii_graphic() || *c == ',') {
        return Err(Error::invalid(what, s, format!("contains {c:?} (printable ASCII, no spaces or commas)")));
    }
    Ok(())
}

/// A locally administered unicast MAC derived from the attachment id, one
/// per role (`b'h'` host end, `b'p'` pod end): the same attachment gets the
/// same MACs on every attach, and they are given in the create message,
/// which udev's `MACAddressPolicy=persistent` leaves alone (it rewrites
/// only MACs the kernel chose at random, `addr_assign_type` 0).
pub fn derived_mac(attachment_id: &str, role: u8) -> Mac {
    let mut key = attachment_id.as_bytes().to_vec();
    key.push(role);
    let h = fnv1a(&key).to_be_bytes();
    // Locally administered (bit 1 set), unicast (bit 0 clear).
    Mac([(h[0] & 0xfc) | 0x02, h[1], h[2], h[3], h[4], h[5]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark() -> OwnerMark {
        OwnerMark {
            attachment_id: "0123abcd/eth0".into(),
            pod_netns_inode: 4026532301,
            lan: Some(IfName::new("up0.100").unwrap()),
            ips: vec!["10.0.0.100".parse().unwrap(), "2001:db8::100".parse().unwrap()],
            pod_key: Some("default/web-0".into()),
            rules: None,
            gateways: vec![],
        }
    }

    #[test]
    fn alias_round_trip() {
        let m = mark();
        let a = m.to_alias();
        assert_eq!(
            a,
            "floatip/1 id=0123abcd/eth0 ns=4026532301 lan=up0.100 ip=10.0.0.100,2001:db8::100 pod=default/web-0"
        );
        assert_eq!(OwnerMark::parse(&a), Some(m));
        let bare = OwnerMark { lan: None, ips: vec![], pod_key: None, ..mark() };
        assert_eq!(OwnerMark::parse(&bare.to_alias()), Some(bare));
        let ruled = OwnerMark {
            rules: Some(RulePlan { table: 4587522, priority: 2000, spoof: true }),
            gateways: vec!["10.0.0.1/23".parse().unwrap(), "2001:db8::1/64".parse().unwrap()],
            ..mark()
        };
        let a = ruled.to_alias();
        assert!(a.contains(" table=4587522 prio=2000 spoof=drop gw=10.0.0.1/23,2001:db8::1/64 pod="), "{a}");
        assert_eq!(OwnerMark::parse(&a), Some(ruled));
        assert_eq!(OwnerMark::parse("floatip/1 id=x ns=1 table=5"), None);
    }

    #[test]
    fn foreign_aliases_are_not_marks() {
        for a in
            ["", "uplink to rack 3", "floatip/2 id=x ns=1", "floatip/1 ns=1", "floatip/1 id=x ns=y", "floatip/1 id=x"]
        {
            assert_eq!(OwnerMark::parse(a), None, "{a:?}");
        }
    }

    #[test]
    fn long_pod_keys_are_dropped_not_truncated() {
        let m = OwnerMark { pod_key: Some("k".repeat(250)), ..mark() };
        let a = m.to_alias();
        assert!(a.len() <= 255);
        assert_eq!(OwnerMark::parse(&a).unwrap().pod_key, None);
    }

    #[test]
    fn derived_macs_are_stable_local_unicast() {
        let h = derived_mac("a/eth0", b'h');
        assert_eq!(h, derived_mac("a/eth0", b'h'));
        assert_ne!(h, derived_mac("a/eth0", b'p'));
        assert_ne!(h, derived_mac("b/eth0", b'h'));
        for m in [h, derived_mac("", b'p')] {
            assert_eq!(m.0[0] & 0x03, 0x02, "{m}");
        }
    }

    #[test]
    fn words() {
        assert!(validate_word("attachment id", "abc/eth0", 128).is_ok());
        assert!(validate_word("attachment id", "", 128).is_err());
        assert!(validate_word("attachment id", "a b", 128).is_err());
        assert!(validate_word("attachment id", "a,b", 128).is_err());
        assert!(validate_word("attachment id", "é", 128).is_err());
        assert!(validate_word("attachment id", &"x".repeat(129), 128).is_err());
    }
}

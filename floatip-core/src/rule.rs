//! Policy routing rules: `ip rule add|del|show` (`RTM_NEWRULE`,
//! `RTM_DELRULE`, `RTM_GETRULE`).
//!
//! A rule matches packets by source and destination prefix and input
//! interface, and then either looks a route up in a table or drops the
//! packet (`blackhole`). The kernel tries rules by ascending priority; the
//! table `local` (rule 0) comes first, `main` (32766) and `default` (32767)
//! last.
//!
//! ```no_run
//! use floatip::{Handle, Rule, IpPrefix};
//! let h = Handle::new()?;
//! // ip rule add priority 2000 from 10.0.0.100 iif vh1 lookup main suppress_prefixlength 0 proto 70
//! let r = Rule::lookup(2000, floatip::route::TABLE_MAIN)
//!     .from("10.0.0.100/32".parse::<IpPrefix>()?)
//!     .iif("vh1")
//!     .suppress_prefixlength(0)
//!     .protocol(70);
//! h.rule_add(&r)?;
//! assert!(h.rules(true)?.contains(&r));
//! h.rule_del(&r)?;
//! # Ok::<(), floatip::Error>(())
//! ```

use std::fmt;
use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::route::RouteProtocol;
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleHeader, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage as Rt};

use crate::error::{Error, Result};
use crate::netlink::Handle;
use crate::prefix::IpPrefix;

/// What a rule does with a packet it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuleKind {
    /// `lookup TABLE`.
    Lookup(u32),
    /// `blackhole`: drop silently.
    Blackhole,
}

/// One policy routing rule of one address family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Rule {
    /// IPv4 (`true`) or IPv6.
    pub ipv4: bool,
    /// `priority N`.
    pub priority: u32,
    /// `from PREFIX`; `None` is `from all`.
    pub src: Option<IpPrefix>,
    /// `to PREFIX`; `None` is `to all`.
    pub dst: Option<IpPrefix>,
    /// `iif NAME`.
    pub iif: Option<String>,
    /// `lookup T` or `blackhole`.
    pub kind: RuleKind,
    /// `suppress_prefixlength N`: a lookup result with a prefix this short
    /// or shorter is ignored (0: ignore only the default route).
    pub suppress_prefixlength: Option<u32>,
    /// `proto N` (`FRA_PROTOCOL`, kernel 4.17+): who installed it.
    pub protocol: u8,
}

impl Rule {
    /// `ip rule add priority PRIORITY lookup TABLE` (IPv4 until
    /// [`Rule::from`] or [`Rule::family`] says otherwise).
    pub fn lookup(priority: u32, table: u32) -> Rule {
        Rule {
            ipv4: true,
            priority,
            src: None,
            dst: None,
            iif: None,
            kind: RuleKind::Lookup(table),
            suppress_prefixlength: None,
            protocol: 0,
        }
    }

    /// `ip rule add priority PRIORITY blackhole`.
    pub fn blackhole(priority: u32) -> Rule {
        Rule { kind: RuleKind::Blackhole, ..Rule::lookup(priority, 0) }
    }

    /// The address family: IPv4 (`true`) or IPv6.
    pub fn family(mut self, ipv4: bool) -> Rule {
        self.ipv4 = ipv4;
        self
    }

    /// `from PREFIX` (and the family of the prefix).
    pub fn from(mut self, src: IpPrefix) -> Rule {
        self.ipv4 = src.is_ipv4();
        self.src = Some(src);
        self
    }

    /// `to PREFIX` (and the family of the prefix).
    pub fn to(mut self, dst: IpPrefix) -> Rule {
        self.ipv4 = dst.is_ipv4();
        self.dst = Some(dst);
        self
    }

    /// `iif NAME`.
    pub fn iif(mut self, name: impl Into<String>) -> Rule {
        self.iif = Some(name.into());
        self
    }

    /// `suppress_prefixlength N`.
    pub fn suppress_prefixlength(mut self, n: u32) -> Rule {
        self.suppress_prefixlength = Some(n);
        self
    }

    /// `proto N`.
    pub fn protocol(mut self, protocol: u8) -> Rule {
        self.protocol = protocol;
        self
    }

    fn validate(&self) -> Result<()> {
        for p in [self.src, self.dst].into_iter().flatten() {
            if p.is_ipv4() != self.ipv4 {
                return Err(Error::invalid("rule", self, "a prefix of the other address family"));
            }
        }
        Ok(())
    }

    fn message(&self) -> RuleMessage {
        let mut m = RuleMessage::default();
        let (action, table) = match self.kind {
            RuleKind::Lookup(t) => (RuleAction::ToTable, Some(t)),
            RuleKind::Blackhole => (RuleAction::Blackhole, None),
        };
        m.header = RuleHeader {
            family: if self.ipv4 { AddressFamily::Inet } else { AddressFamily::Inet6 },
            dst_len: self.dst.map_or(0, |p| p.len()),
            src_len: self.src.map_or(0, |p| p.len()),
            table: match table {
                Some(t) if t < 256 => t as u8,
                Some(_) => 252, // RT_TABLE_COMPAT: the real id is in FRA_TABLE
                None => 0,
            },
            action,
            ..Default::default()
        };
        let a = &mut m.attributes;
        a.push(RuleAttribute::Priority(self.priority));
        if let Some(p) = self.src {
            a.push(RuleAttribute::Source(p.network().addr()));
        }
        if let Some(p) = self.dst {
            a.push(RuleAttribute::Destination(p.network().addr()));
        }
        if let Some(i) = &self.iif {
            a.push(RuleAttribute::Iifname(i.clone()));
        }
        if let Some(t) = table {
            a.push(RuleAttribute::Table(t));
        }
        if let Some(n) = self.suppress_prefixlength {
            a.push(RuleAttribute::SuppressPrefixLen(n));
        }
        if self.protocol != 0 {
            a.push(RuleAttribute::Protocol(RouteProtocol::from(self.protocol)));
        }
        m
    }

    fn from_message(m: RuleMessage) -> Option<Rule> {
        let h = &m.header;
        let ipv4 = match h.family {
            AddressFamily::Inet => true,
            AddressFamily::Inet6 => false,
            _ => return None,
        };
        let (mut src, mut dst, mut table) = (None::<IpAddr>, None::<IpAddr>, u32::from(h.table));
        let mut r = Rule::lookup(0, 0).family(ipv4);
        for a in m.attributes {
            match a {
                RuleAttribute::Priority(p) => r.priority = p,
                RuleAttribute::Source(ip) => src = Some(ip),
                RuleAttribute::Destination(ip) => dst = Some(ip),
                RuleAttribute::Iifname(n) => r.iif = Some(n),
                RuleAttribute::Table(t) => table = t,
                // The kernel reports the "no suppression" default as
                // 0xffffffff (-1); only a real limit is one.
                RuleAttribute::SuppressPrefixLen(n) if n != u32::MAX => r.suppress_prefixlength = Some(n),
                RuleAttribute::Protocol(p) => r.protocol = u8::from(p),
                _ => {}
            }
        }
        r.src = src.and_then(|ip| IpPrefix::new(ip, h.src_len).ok());
        r.dst = dst.and_then(|ip| IpPrefix::new(ip, h.dst_len).ok());
        r.kind = match h.action {
            RuleAction::ToTable => RuleKind::Lookup(table),
            RuleAction::Blackhole => RuleKind::Blackhole,
            _ => return None, // goto, nop, unreachable, prohibit: not floatip's
        };
        Some(r)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}: from ", if self.ipv4 { "" } else { "-6 " }, self.priority)?;
        match self.src {
            Some(p) => write!(f, "{p}")?,
            None => f.write_str("all")?,
        }
        if let Some(p) = self.dst {
            write!(f, " to {p}")?;
        }
        if let Some(i) = &self.iif {
            write!(f, " iif {i}")?;
        }
        match self.kind {
            RuleKind::Lookup(t) => write!(f, " lookup {t}")?,
            RuleKind::Blackhole => f.write_str(" blackhole")?,
        }
        if let Some(n) = self.suppress_prefixlength {
            write!(f, " suppress_prefixlength {n}")?;
        }
        if self.protocol != 0 {
            write!(f, " proto {}", self.protocol)?;
        }
        Ok(())
    }
}

impl Handle {
    /// `ip rule add RULE`: fails with `AlreadyExists` if an identical rule
    /// is there (`NLM_F_EXCL`; the kernel compares every attribute given).
    pub fn rule_add(&self, rule: &Rule) -> Result<()> {
        rule.validate()?;
        self.ack(
            "RTM_NEWRULE",
            || format!("rule {rule} in {}", self.netns()),
            Rt::NewRule(rule.message()),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `ip rule del RULE`: `NotFound` if no rule matches all of it.
    pub fn rule_del(&self, rule: &Rule) -> Result<()> {
        rule.validate()?;
        self.ack("RTM_DELRULE", || format!("rule {rule} in {}", self.netns()), Rt::DelRule(rule.message()), 0)
    }

    /// `ip [-6] rule show`: the rules of one family that look a table up or
    /// blackhole (the kinds [`Rule`] describes), in the kernel's order.
    pub fn rules(&self, ipv4: bool) -> Result<Vec<Rule>> {
        let mut m = RuleMessage::default();
        m.header.family = if ipv4 { AddressFamily::Inet } else { AddressFamily::Inet6 };
        let v = self.dump(
            "RTM_GETRULE",
            || format!("dump {} rules in {}", if ipv4 { "IPv4" } else { "IPv6" }, self.netns()),
            Rt::GetRule(m),
        )?;
        Ok(v.into_iter()
            .filter_map(|r| match r {
                Rt::NewRule(m) => Rule::from_message(m),
                _ => None,
            })
            .collect())
    }
}

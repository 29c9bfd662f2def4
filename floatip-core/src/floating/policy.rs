//! Source policy routing and anti-spoofing for routed pods: which rules
//! and table routes a [`RulePlan`] means (data), and the upkeep of the
//! table that the pods of one LAN interface share.
//!
//! Per floating IP, with the host veth as `iif` (as `ip rule` prints them,
//! default priorities, table T of LAN interface `up0`):
//!
//! ```text
//! 2000: from 10.0.0.100 iif vh1 lookup main suppress_prefixlength 0 proto 70
//! 2001: from 10.0.0.100 iif vh1 lookup T proto 70
//! 2002: from all iif vh1 blackhole proto 70
//! ```
//!
//! and in table T, once per LAN interface: `10.0.0.0/23 dev up0 proto 70
//! scope link` and `default via 10.0.0.1 dev up0 proto 70`. The first rule
//! keeps whatever the main table routes *specifically* (other pods' /32s,
//! an overlay, Service backends after DNAT); only what would fall to the
//! main table's default route goes by the floating subnet's gateway. The
//! third drops what the pod sends from any other source. Traffic to the
//! host itself and link-local NDP never get here: the `local` table (rule
//! 0) answers them first.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::conflict;
use super::mark::RulePlan;
use crate::error::Result;
use crate::lock::{Kind, Lock, Stripe};
use crate::netlink::Handle;
use crate::prefix::IpPrefix;
use crate::route::{Route, RouteFilter, TABLE_MAIN};
use crate::rule::{Rule, RuleKind};

/// The rules of `plan` for the floating IPs `ips` on host veth `veth`.
pub(super) fn pod_rules(plan: &RulePlan, veth: &str, ips: &[IpAddr], protocol: u8) -> Vec<Rule> {
    let mut out = Vec::new();
    for ip in ips {
        let from = IpPrefix::host(*ip);
        if plan.policy_routing() {
            out.push(
                Rule::lookup(plan.priority, TABLE_MAIN)
                    .from(from)
                    .iif(veth)
                    .suppress_prefixlength(0)
                    .protocol(protocol),
            );
        }
        out.push(Rule::lookup(plan.priority + 1, plan.table).from(from).iif(veth).protocol(protocol));
    }
    if plan.spoof {
        let families: BTreeSet<bool> = ips.iter().map(|i| i.is_ipv4()).collect();
        for v4 in families.into_iter().rev() {
            out.push(Rule::blackhole(plan.priority + 2).family(v4).iif(veth).protocol(protocol));
        }
    }
    out
}

/// Table T's routes for each gateway (with its subnet length).
pub(super) fn table_routes(table: u32, lan_index: u32, gateways: &[IpPrefix], protocol: u8) -> Vec<Route> {
    let mut out = Vec::new();
    for g in gateways {
        out.push(Route::to(g.network()).dev(lan_index).table(table).protocol(protocol));
        out.push(Route::default_via(g.addr()).dev(lan_index).table(table).protocol(protocol));
    }
    out
}

/// Makes sure table `table` has `routes`: one dump of the table, then the
/// missing ones added (none, for every pod but a LAN interface's first).
/// A route to the same destination that is there already must be the same
/// (two floating subnets with different gateways cannot share one table's
/// default route). Returns the routes added, in `ip` words, with their
/// family. Call under the table's lock. Never undone route by route: the
/// table serves every pod of the LAN interface.
pub(super) fn ensure_table(h: &Handle, table: u32, routes: &[Route]) -> Result<Vec<(String, bool)>> {
    let mut added = Vec::new();
    for v4 in [true, false] {
        let want: Vec<&Route> = routes.iter().filter(|r| r.dst.is_ipv4() == v4).collect();
        if want.is_empty() {
            continue;
        }
        let have = h.routes(RouteFilter { ipv4: Some(v4), table: Some(table), ..Default::default() })?;
        for r in want {
            match have.iter().find(|x| x.dst == r.dst) {
                Some(_) if has_route(&have, r) => {}
                Some(x) => {
                    return Err(conflict(
                        format!("route {} table {table}", r.dst),
                        format!("table {table} has {x}: give this floating subnet a table of its own (route_table)"),
                    ))
                }
                None => {
                    super::ignore_exists(h.route_add(r))?;
                    added.push((route_words(r), v4));
                }
            }
        }
    }
    Ok(added)
}

/// The lock of policy table `table`: its routes, and the rules that look it
/// up, change under it.
pub(super) fn table_lock(table: u32) -> Result<Lock> {
    Lock::acquire(Stripe::of(Kind::Table, &table.to_string()))
}

/// Whether `have` (a table's routes) holds a route like `r`: same
/// destination, gateway and device, whoever made it.
pub(super) fn has_route(have: &[Route], r: &Route) -> bool {
    have.iter().any(|x| x.dst == r.dst && x.gateway == r.gateway && x.oif == r.oif)
}

/// Removes floatip's routes (protocol `protocol`) from each table of
/// `tables` that no rule of floatip's looks up any more: the last pod of a
/// LAN interface is gone. Takes the tables' locks (the caller holds none),
/// so a concurrent attach either sees the routes gone and adds them again,
/// or has its rule in place before the check.
pub(super) fn release_tables(h: &Handle, tables: &BTreeSet<(bool, u32)>, protocol: u8) -> Result<Vec<String>> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let _locks = Lock::acquire_all(tables.iter().map(|(_, t)| Stripe::of(Kind::Table, &t.to_string())).collect())?;
    let mut done = Vec::new();
    for v4 in [true, false] {
        let mine: Vec<u32> = tables.iter().filter(|(f, _)| *f == v4).map(|(_, t)| *t).collect();
        if mine.is_empty() {
            continue;
        }
        let used: BTreeSet<u32> = h
            .rules(v4)?
            .into_iter()
            .filter(|r| r.protocol == protocol)
            .filter_map(|r| match r.kind {
                RuleKind::Lookup(t) => Some(t),
                RuleKind::Blackhole => None,
            })
            .collect();
        for t in mine.into_iter().filter(|t| !used.contains(t) && *t != TABLE_MAIN) {
            let f = RouteFilter { ipv4: Some(v4), table: Some(t), protocol: Some(protocol), ..Default::default() };
            for r in h.routes(f)? {
                if super::ignore_missing(h.route_del(&r))? {
                    done.push(format!("ip route del {}", route_words(&r)));
                }
            }
        }
    }
    Ok(done)
}

/// The tables (by family) that `rules` look up, main aside.
pub(super) fn tables_of(rules: &[Rule]) -> BTreeSet<(bool, u32)> {
    rules
        .iter()
        .filter_map(|r| match r.kind {
            RuleKind::Lookup(t) if t != TABLE_MAIN => Some((r.ipv4, t)),
            _ => None,
        })
        .collect()
}

/// A route in `ip route` words, with its table and protocol.
pub(super) fn route_words(r: &Route) -> String {
    let mut s = match r.dst.len() {
        0 => "default".to_string(),
        _ => r.dst.to_string(),
    };
    if let Some(g) = r.gateway {
        s.push_str(&format!(" via {g}"));
    }
    if let Some(o) = r.oif {
        s.push_str(&format!(" dev ifindex {o}"));
    }
    s.push_str(&format!(" table {} proto {}", r.table, r.protocol));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_of_a_plan() {
        let ips: Vec<IpAddr> = vec!["10.0.0.100".parse().unwrap(), "2001:db8::100".parse().unwrap()];
        let plan = RulePlan { table: 4587522, priority: 2000, spoof: true };
        let words: Vec<String> = pod_rules(&plan, "vh1", &ips, 70).iter().map(|r| r.to_string()).collect();
        assert_eq!(
            words,
            [
                "2000: from 10.0.0.100/32 iif vh1 lookup 254 suppress_prefixlength 0 proto 70",
                "2001: from 10.0.0.100/32 iif vh1 lookup 4587522 proto 70",
                "-6 2000: from 2001:db8::100/128 iif vh1 lookup 254 suppress_prefixlength 0 proto 70",
                "-6 2001: from 2001:db8::100/128 iif vh1 lookup 4587522 proto 70",
                "2002: from all iif vh1 blackhole proto 70",
                "-6 2002: from all iif vh1 blackhole proto 70",
            ]
        );
        // Anti-spoofing alone: the pod's own source looks up main.
        let only = RulePlan { table: TABLE_MAIN, priority: 100, spoof: true };
        let words: Vec<String> = pod_rules(&only, "vh1", &ips[..1], 70).iter().map(|r| r.to_string()).collect();
        assert_eq!(
            words,
            ["101: from 10.0.0.100/32 iif vh1 lookup 254 proto 70", "102: from all iif vh1 blackhole proto 70"]
        );
        assert_eq!(tables_of(&pod_rules(&plan, "vh1", &ips, 70)).len(), 2);
        assert!(tables_of(&pod_rules(&only, "vh1", &ips, 70)).is_empty());
    }

    #[test]
    fn routes_of_a_table() {
        let g: IpPrefix = "10.0.0.1/23".parse().unwrap();
        let r = table_routes(7, 3, &[g], 70);
        let words: Vec<String> = r.iter().map(route_words).collect();
        assert_eq!(
            words,
            ["10.0.0.0/23 dev ifindex 3 table 7 proto 70", "default via 10.0.0.1 dev ifindex 3 table 7 proto 70"]
        );
    }
}

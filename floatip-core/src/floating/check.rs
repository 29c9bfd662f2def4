//! Check: read the state back and report every difference from the spec,
//! like CNI CHECK.

use std::fmt;

use super::mark::RulePlan;
use super::spec::{FloatingIp, Mode, UplinkArp};
use super::{default_route, link_opt, policy, OwnerMark, Site};
use crate::error::Result;
use crate::name::IfName;
use crate::netlink::Handle;
use crate::route::RouteFilter;
use crate::sysctl::SysctlKey;

/// One difference between a spec and what is in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Drift {
    /// Where: `host`, `pod` or `uplink`.
    pub place: &'static str,
    /// What should be there, in `ip`/`sysctl` words.
    pub expected: String,
    /// What was found instead.
    pub found: String,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: expected {}, found {}", self.place, self.expected, self.found)
    }
}

impl FloatingIp {
    /// Check on `site`.
    pub(crate) fn check_at(&self, site: &Site<'_>) -> Result<Vec<Drift>> {
        let mut d = Vec::new();
        let mut drift = |place, expected: String, found: String| d.push(Drift { place, expected, found });
        let (host_ns, host, home) = (site.host_ns, site.host, Some(site.home));
        let hv = &self.host_ifname;
        let host_if = link_opt(host, hv)?;
        match &host_if {
            None => drift("host", format!("veth {hv}"), "no such link".into()),
            Some(l) if l.group == super::TOMBSTONE_GROUP => {
                drift("host", format!("veth {hv}"), "a tombstone (detached, its delete pending)".into())
            }
            Some(l) if !l.up => drift("host", format!("{hv} up"), "down".into()),
            Some(_) => {}
        }
        let lan_name = self.lan_ifname();
        let lan = link_opt(host, &lan_name)?;
        let mtu = self.mtu.or(lan.as_ref().map(|l| l.mtu));
        if let (Some(h), Some(m)) = (&host_if, mtu) {
            if h.mtu != m {
                drift("host", format!("{hv} mtu {m}"), format!("mtu {}", h.mtu));
            }
        }
        let pod = site.pod_netns(self)?;
        if pod.is_none() {
            drift("pod", format!("{}", self.pod_netns), "no such namespace".into());
        }
        if let (Some(l), Some((_, ino))) = (&host_if, &pod) {
            // The mark as a whole, but for the pod key: a spec may name the
            // pod differently and still be this attachment.
            let found_mark = l.alias.as_deref().and_then(OwnerMark::parse);
            let want = self.owner_mark(*ino);
            if found_mark.map(|m| OwnerMark { pod_key: want.pod_key.clone(), ..m }).as_ref() != Some(&want) {
                let want = want.to_alias();
                let found = match l.alias.as_deref().map(|a| (a, OwnerMark::parse(a))) {
                    Some((_, Some(m))) if m.attachment_id != self.attachment_id => {
                        format!("attachment {}'s veth", m.attachment_id)
                    }
                    Some((a, _)) => format!("alias {a:?}"),
                    None => "no alias".into(),
                };
                drift("host", format!("{hv} alias {want:?}"), found);
            }
        }
        let pod_ns = pod.map(|(ns, _)| ns);
        let pod = pod_ns.as_ref().map(|ns| Handle::in_netns_from(ns, home)).transpose()?;
        if let Some(pod) = &pod {
            match link_opt(pod, &self.pod_ifname)? {
                None => drift("pod", format!("link {}", self.pod_ifname), "no such link".into()),
                Some(p) => {
                    if !p.up {
                        drift("pod", format!("{} up", self.pod_ifname), "down".into());
                    }
                    if let Some(m) = mtu.filter(|m| *m != p.mtu) {
                        drift("pod", format!("{} mtu {m}", self.pod_ifname), format!("mtu {}", p.mtu));
                    }
                    if let Some(h) = &host_if {
                        if p.link != Some(h.index) {
                            drift(
                                "pod",
                                format!("{} paired with {hv}", self.pod_ifname),
                                p.link.map_or("no peer".into(), |l| format!("peer ifindex {l}")),
                            );
                        }
                    }
                    let addrs = pod.addrs(Some(p.index))?;
                    for a in self.addrs() {
                        if !addrs.iter().any(|x| x.prefix == a.address) {
                            drift("pod", format!("address {} on {}", a.address, self.pod_ifname), "missing".into());
                        }
                        match default_route(pod, !a.address.is_ipv4())? {
                            Some(r) if r.gateway == Some(a.gateway) => {}
                            Some(r) => drift("pod", format!("default via {}", a.gateway), format!("{r}")),
                            None => drift("pod", format!("default via {}", a.gateway), "no default route".into()),
                        }
                    }
                }
            }
        }
        if let Some(lo) = pod.as_ref().map(|p| p.link_get("lo")).transpose()? {
            if !lo.up {
                drift("pod", "lo up".into(), "down".into());
            }
        }
        match &self.mode {
            Mode::Bridge(br) => {
                let b = link_opt(host, br)?;
                if let (Some(h), Some(b)) = (&host_if, &b) {
                    if h.master != Some(b.index) {
                        drift(
                            "host",
                            format!("{hv} master {br}"),
                            h.master.map_or("no master".into(), |m| format!("master ifindex {m}")),
                        );
                    }
                } else if b.is_none() {
                    drift("host", format!("bridge {br}"), "no such link".into());
                }
            }
            Mode::Routed => {
                if lan.is_none() {
                    drift("uplink", format!("link {lan_name}"), "no such link".into());
                }
                let want = |key: SysctlKey, v: &str, d: &mut Vec<Drift>| -> Result<()> {
                    match host_ns.sysctl_get_from(&key, home) {
                        Ok(x) if x == v => {}
                        Ok(x) => d.push(Drift { place: "host", expected: format!("{key}={v}"), found: x }),
                        Err(e) if e.is_not_found() => {} // its link is missing: reported above
                        Err(e) => return Err(e),
                    }
                    Ok(())
                };
                for a in self.addrs() {
                    let ip = a.address.addr();
                    match host.route_get_fibmatch(ip) {
                        Ok(r)
                            if r.dst == a.host_prefix()
                                && r.oif.is_some()
                                && r.oif == host_if.as_ref().map(|l| l.index) => {}
                        Ok(r) => drift("host", format!("route {} dev {hv}", a.host_prefix()), format!("{r}")),
                        Err(e) if e.is_unreachable() || e.is_not_found() => {
                            drift("host", format!("route {} dev {hv}", a.host_prefix()), "no route".into())
                        }
                        Err(e) => return Err(e),
                    }
                    let proxied_by_entry = !a.address.is_ipv4() || self.uplink_arp == UplinkArp::ProxyEntry;
                    if let (Some(l), true) = (&lan, proxied_by_entry) {
                        if host.neigh_proxy_get(l.index, ip)?.is_none() {
                            drift("uplink", format!("proxy {ip} dev {lan_name}"), "missing".into());
                        }
                    }
                }
                if let (Some(plan), Some(l)) = (self.rule_plan(), &lan) {
                    self.check_rules(host, &plan, l.index, &mut d)?;
                }
                if self.ipv4.is_some() {
                    want(SysctlKey::ipv4_forward(), "1", &mut d)?;
                    want(SysctlKey::ipv4_conf(&lan_name, "forwarding")?, "1", &mut d)?;
                    if self.ipv6.is_none() && super::ipv6_enabled() {
                        want(SysctlKey::ipv6_conf(hv, "disable_ipv6")?, "1", &mut d)?;
                    }
                    want(SysctlKey::ipv4_neigh(hv, "proxy_delay")?, "0", &mut d)?;
                    want(SysctlKey::ipv4_conf(hv, "proxy_arp")?, "1", &mut d)?;
                    want(SysctlKey::ipv4_neigh(&lan_name, "proxy_delay")?, "0", &mut d)?;
                    if self.uplink_arp == UplinkArp::ProxyArp {
                        want(SysctlKey::ipv4_conf(&lan_name, "proxy_arp")?, "1", &mut d)?;
                    }
                }
                if let Some(a) = &self.ipv6 {
                    let all = IfName::new("all").expect("valid");
                    want(SysctlKey::ipv6_conf(&all, "forwarding")?, "1", &mut d)?;
                    want(SysctlKey::ipv6_conf(&lan_name, "forwarding")?, "1", &mut d)?;
                    want(SysctlKey::ipv6_conf(hv, "accept_dad")?, "0", &mut d)?;
                    want(SysctlKey::ipv6_neigh(hv, "proxy_delay")?, "0", &mut d)?;
                    want(SysctlKey::ipv6_conf(hv, "proxy_ndp")?, "1", &mut d)?;
                    want(SysctlKey::ipv6_neigh(&lan_name, "proxy_delay")?, "0", &mut d)?;
                    want(SysctlKey::ipv6_conf(&lan_name, "proxy_ndp")?, "1", &mut d)?;
                    if let Some(h) = &host_if {
                        if host.neigh_proxy_get(h.index, a.gateway)?.is_none() {
                            d.push(Drift {
                                place: "host",
                                expected: format!("proxy {} dev {hv}", a.gateway),
                                found: "missing".into(),
                            });
                        }
                    }
                }
            }
        }
        Ok(d)
    }

    /// The pod's policy rules (exactly those: a stray rule of floatip's on
    /// this veth is drift too) and its LAN interface's table routes.
    fn check_rules(&self, host: &Handle, plan: &RulePlan, lan_if: u32, d: &mut Vec<Drift>) -> Result<()> {
        let hv = self.host_ifname.as_str();
        let ips: Vec<_> = self.addrs().map(|a| a.address.addr()).collect();
        let want = policy::pod_rules(plan, hv, &ips, self.route_protocol);
        let mut found = Vec::new();
        for v4 in [true, false] {
            if self.addrs().any(|a| a.address.is_ipv4() == v4) {
                found.extend(host.rules(v4)?.into_iter().filter(|r| r.iif.as_deref() == Some(hv)));
            }
        }
        for r in &want {
            if !found.contains(r) {
                d.push(Drift { place: "host", expected: format!("rule {r}"), found: "missing".into() });
            }
        }
        for r in found.iter().filter(|r| r.protocol == self.route_protocol && !want.contains(r)) {
            d.push(Drift { place: "host", expected: format!("no other rule on {hv}"), found: format!("rule {r}") });
        }
        if plan.policy_routing() {
            let gws = self.gateways();
            let have = host.routes(RouteFilter { table: Some(plan.table), ..Default::default() })?;
            for r in policy::table_routes(plan.table, lan_if, &gws, self.route_protocol) {
                if !policy::has_route(&have, &r) {
                    d.push(Drift {
                        place: "host",
                        expected: format!("route {}", policy::route_words(&r)),
                        found: "missing".into(),
                    });
                }
            }
        }
        Ok(())
    }
}

//! What is attached on a node, read back from the owner marks alone (no
//! state files): [`Host::list`](crate::Host::list) and
//! [`Host::gc`](crate::Host::gc).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;

use super::detach::group_delete;
use super::{ignore_missing, policy, OwnerMark, Site, TOMBSTONE_GROUP};
use crate::error::Result;
use crate::link::Link;
use crate::lock::{Kind, Lock, Stripe};
use crate::name::IfName;
use crate::neighbour::Neighbour;
use crate::netlink::Handle;
use crate::netns::Netns;
use crate::prefix::IpPrefix;
use crate::route::{Route, RouteFilter};
use crate::rule::Rule;
use crate::sysctl::SysctlKey;
use crate::wire::Mac;

/// How complete an attachment found on the node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttachmentState {
    /// Every host-side object is there.
    Complete,
    /// The marked veth is there, something else is missing (see
    /// [`Attachment::missing`]): an attach that was interrupted, an uplink
    /// flap that flushed a proxy entry, a deleted route.
    Partial,
    /// A floatip object whose attachment is gone: a proxy entry or route
    /// with floatip's protocol and no marked veth behind it.
    Orphaned,
    /// A host veth that a detach retired (down, in
    /// [`TOMBSTONE_GROUP`](super::TOMBSTONE_GROUP), nothing routed to it)
    /// and whose delete is pending: not attached, whatever its mark says.
    Tombstone,
}

impl fmt::Display for AttachmentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttachmentState::Complete => "complete",
            AttachmentState::Partial => "partial",
            AttachmentState::Orphaned => "orphaned",
            AttachmentState::Tombstone => "tombstone",
        })
    }
}

/// One attachment (or orphan) on the node, as [`Host::list`](crate::Host::list)
/// reads it from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attachment {
    /// The attachment id from the veth's mark; `None` for an orphan, whose
    /// owner the kernel no longer tells.
    pub attachment_id: Option<String>,
    /// The pod key, when the mark holds it.
    pub pod_key: Option<String>,
    /// The floating IPs.
    pub ips: Vec<IpAddr>,
    /// The host veth (name, index, MAC), when there is one.
    pub host_veth: Option<(String, u32, Option<Mac>)>,
    /// The LAN interface of its proxy entries (routed mode).
    pub lan: Option<String>,
    /// The pod namespace's nsfs inode, from the mark.
    pub pod_netns_inode: Option<u64>,
    /// The name under `/run/netns` of that namespace, if it has one.
    pub pod_netns_name: Option<String>,
    /// The host's id for the veth peer's namespace (`IFLA_LINK_NETNSID`).
    pub peer_netnsid: Option<i32>,
    /// Complete, partial or orphaned.
    pub state: AttachmentState,
    /// What is missing, in `ip` words (empty when complete).
    pub missing: Vec<String>,
}

/// One thing a marked attachment lacks.
enum Missing {
    Up(String),
    Peer(String),
    Master(String),
    Lan(IfName),
    Route { ip: IpAddr, dev: String, index: u32 },
    Proxy { ip: IpAddr, lan: IfName, index: u32 },
    Rule(Rule),
    TableRoute(Route),
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Up(d) => write!(f, "ip link set {d} up"),
            Missing::Peer(d) => write!(f, "{d}'s peer in the pod namespace"),
            Missing::Master(d) => write!(f, "ip link set {d} master BRIDGE"),
            Missing::Lan(l) => write!(f, "link {l}"),
            Missing::Route { ip, dev, .. } => write!(f, "ip route add {} dev {dev}", IpPrefix::host(*ip)),
            Missing::Proxy { ip, lan, .. } => write!(f, "ip neigh add proxy {ip} dev {lan}"),
            Missing::Rule(r) => write!(f, "ip rule add {r}"),
            Missing::TableRoute(r) => write!(f, "ip route add {}", policy::route_words(r)),
        }
    }
}

/// What the kernel holds of floatip's: the links, routes, proxy entries
/// and rules, and the routes of the tables the marks name.
struct Found {
    marked: Vec<(Link, OwnerMark)>,
    routes: Vec<Route>,
    proxies: Vec<Neighbour>,
    links: Vec<Link>,
    /// Retired veths awaiting their delete: never live attachments.
    tombstones: Vec<Link>,
    /// floatip's rules (by protocol), both families.
    rules: Vec<Rule>,
    /// The routes of each policy table a mark names.
    tables: HashMap<u32, Vec<Route>>,
    /// The names under `/run/netns` by nsfs inode, when asked for.
    names: HashMap<u64, String>,
}

/// What the second socket dumps while the first dumps the links.
struct Others {
    routes: Vec<Route>,
    proxies: Vec<Neighbour>,
    rules: Vec<Rule>,
    names: HashMap<u64, String>,
}

impl Site<'_> {
    /// Reads the node's floatip objects; `names` also reads the names of
    /// the namespaces under `/run/netns` (for [`list`](Self::list)).
    ///
    /// The link dump is most of the time at scale: for every veth the
    /// kernel looks up the id of its peer's namespace in the host's id
    /// table by a linear walk (`__peernet2id()`, `net/core/net_namespace.c`),
    /// so a dump of N pods' veths costs O(N²), ~6 ms of 8 at 1,000 pods.
    /// The other dumps, on the `Host`'s second socket, and the `stat`s of
    /// `/run/netns` run on a second thread meanwhile.
    fn found(&self, protocol: u8, names: bool) -> Result<Found> {
        let aux = self.aux.get(self.host_ns, Some(self.home), self.in_host)?;
        let (links, others) = std::thread::scope(|s| {
            let beside = std::thread::Builder::new().name("floatip-dumps".into());
            match beside.spawn_scoped(s, || Self::others(aux, protocol, names)) {
                Ok(others) => {
                    let links = self.host.links();
                    (links, others.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                }
                // No thread to be had (a process at its limit): one after
                // the other.
                Err(_) => (self.host.links(), Self::others(aux, protocol, names)),
            }
        });
        let (links, Others { routes, proxies, rules, names }) = (links?, others?);
        let (tombstones, live): (Vec<&Link>, Vec<&Link>) =
            links.iter().filter(|l| l.kind.as_deref() == Some("veth")).partition(|l| l.group == TOMBSTONE_GROUP);
        let tombstones = tombstones.into_iter().cloned().collect();
        let marked: Vec<(Link, OwnerMark)> =
            live.into_iter().filter_map(|l| Some((l.clone(), OwnerMark::parse(l.alias.as_deref()?)?))).collect();
        let mut tables = HashMap::new();
        for (_, m) in &marked {
            if let Some(t) = m.rules.filter(|r| r.policy_routing()).map(|r| r.table) {
                if let std::collections::hash_map::Entry::Vacant(e) = tables.entry(t) {
                    e.insert(self.host.routes(RouteFilter { table: Some(t), ..Default::default() })?);
                }
            }
        }
        Ok(Found { marked, routes, proxies, links, tombstones, rules, tables, names })
    }

    /// The dumps of floatip's routes, proxy entries and rules through
    /// `h`, and the namespace names if asked.
    fn others(h: &Handle, protocol: u8, names: bool) -> Result<Others> {
        let routes = h.routes(RouteFilter { protocol: Some(protocol), ..Default::default() })?;
        let proxies = h.neigh_proxies(None)?.into_iter().filter(|n| n.protocol == protocol).collect();
        let mut rules = h.rules(true)?;
        if super::ipv6_enabled() {
            rules.extend(h.rules(false)?);
        }
        rules.retain(|r| r.protocol == protocol);
        let names = if names { netns_names() } else { HashMap::new() };
        Ok(Others { routes, proxies, rules, names })
    }

    /// What each marked attachment lacks.
    fn missing(&self, f: &Found, protocol: u8) -> Vec<Vec<Missing>> {
        let by_name: HashMap<&str, &Link> = f.links.iter().map(|l| (l.name.as_str(), l)).collect();
        // Indexes: at 1,000 pods a scan per lookup is a million comparisons.
        let routes: HashSet<(IpPrefix, Option<u32>)> = f.routes.iter().map(|r| (r.dst, r.oif)).collect();
        let proxies: HashSet<(IpAddr, u32)> = f.proxies.iter().map(|p| (p.ip, p.index)).collect();
        let rules: HashSet<&Rule> = f.rules.iter().collect();
        let mut proxy_arp: HashMap<String, bool> = HashMap::new();
        let mut out = Vec::with_capacity(f.marked.len());
        for (l, m) in &f.marked {
            let mut missing = Vec::new();
            if !l.up {
                missing.push(Missing::Up(l.name.clone()));
            }
            if l.link_netnsid.is_none() {
                missing.push(Missing::Peer(l.name.clone()));
            }
            match &m.lan {
                None if l.master.is_none() => missing.push(Missing::Master(l.name.clone())),
                None => {}
                Some(lan) => {
                    let lan_if = by_name.get(lan.as_str());
                    if lan_if.is_none() {
                        missing.push(Missing::Lan(lan.clone()));
                    }
                    for ip in &m.ips {
                        let host = IpPrefix::host(*ip);
                        if !routes.contains(&(host, Some(l.index))) {
                            missing.push(Missing::Route { ip: *ip, dev: l.name.clone(), index: l.index });
                        }
                        let Some(u) = lan_if else { continue };
                        let entry = proxies.contains(&(*ip, u.index));
                        // IPv4 may be answered by blanket proxy_arp on the
                        // LAN interface instead of an entry.
                        let blanket =
                            ip.is_ipv4() && *proxy_arp.entry(lan.to_string()).or_insert_with(|| self.proxy_arp_on(lan));
                        if !entry && !blanket {
                            missing.push(Missing::Proxy { ip: *ip, lan: lan.clone(), index: u.index });
                        }
                    }
                    if let Some(plan) = &m.rules {
                        for r in policy::pod_rules(plan, &l.name, &m.ips, protocol) {
                            if !rules.contains(&r) {
                                missing.push(Missing::Rule(r));
                            }
                        }
                        if let (true, Some(u)) = (plan.policy_routing(), lan_if) {
                            let have = f.tables.get(&plan.table).map(Vec::as_slice).unwrap_or_default();
                            for r in policy::table_routes(plan.table, u.index, &m.gateways, protocol) {
                                if !policy::has_route(have, &r) {
                                    missing.push(Missing::TableRoute(r));
                                }
                            }
                        }
                    }
                }
            }
            out.push(missing);
        }
        out
    }

    /// Every attachment with floatip's marks on this host, and every orphan.
    pub(crate) fn list(&self, protocol: u8) -> Result<Vec<Attachment>> {
        let f = self.found(protocol, true)?;
        let names = &f.names;
        let by_index: HashMap<u32, &Link> = f.links.iter().map(|l| (l.index, l)).collect();
        let mut out = Vec::new();
        let claimed_ips: HashSet<IpAddr> = f.marked.iter().flat_map(|(_, m)| m.ips.iter().copied()).collect();
        let claimed_oifs: HashSet<u32> = f.marked.iter().map(|(l, _)| l.index).collect();
        for ((l, m), missing) in f.marked.iter().zip(self.missing(&f, protocol)) {
            let missing: Vec<String> = missing.iter().map(|x| x.to_string()).collect();
            out.push(Attachment {
                attachment_id: Some(m.attachment_id.clone()),
                pod_key: m.pod_key.clone(),
                ips: m.ips.clone(),
                host_veth: Some((l.name.clone(), l.index, l.mac)),
                lan: m.lan.as_ref().map(|l| l.to_string()),
                pod_netns_inode: Some(m.pod_netns_inode),
                pod_netns_name: names.get(&m.pod_netns_inode).cloned(),
                peer_netnsid: l.link_netnsid,
                state: if missing.is_empty() { AttachmentState::Complete } else { AttachmentState::Partial },
                missing,
            });
        }
        for l in &f.tombstones {
            let m = l.alias.as_deref().and_then(OwnerMark::parse);
            out.push(Attachment {
                attachment_id: m.as_ref().map(|m| m.attachment_id.clone()),
                pod_key: m.as_ref().and_then(|m| m.pod_key.clone()),
                ips: m.as_ref().map(|m| m.ips.clone()).unwrap_or_default(),
                host_veth: Some((l.name.clone(), l.index, l.mac)),
                lan: m.as_ref().and_then(|m| m.lan.as_ref()).map(|l| l.to_string()),
                pod_netns_inode: m.as_ref().map(|m| m.pod_netns_inode),
                pod_netns_name: m.as_ref().and_then(|m| names.get(&m.pod_netns_inode).cloned()),
                peer_netnsid: l.link_netnsid,
                state: AttachmentState::Tombstone,
                missing: Vec::new(),
            });
        }
        for r in &f.routes {
            if r.oif.is_some_and(|o| !claimed_oifs.contains(&o)) {
                let dev = r.oif.map(|o| (by_index.get(&o).map(|l| l.name.clone()).unwrap_or_default(), o));
                out.push(orphan(vec![r.dst.addr()], dev));
            }
        }
        for p in &f.proxies {
            if !claimed_ips.contains(&p.ip) {
                let mut o = orphan(vec![p.ip], None);
                o.lan = by_index.get(&p.index).map(|l| l.name.clone());
                out.push(o);
            }
        }
        // Rules of a veth that is gone (they outlive it), one orphan per
        // interface name.
        let marked_names: HashSet<&str> = f.marked.iter().map(|(l, _)| l.name.as_str()).collect();
        let mut orphan_rules: Vec<(&str, Vec<IpAddr>)> = Vec::new();
        for r in &f.rules {
            let Some(iif) = r.iif.as_deref().filter(|i| !marked_names.contains(i)) else { continue };
            let i = match orphan_rules.iter().position(|(n, _)| *n == iif) {
                Some(i) => i,
                None => {
                    orphan_rules.push((iif, Vec::new()));
                    orphan_rules.len() - 1
                }
            };
            if let Some(ip) = r.src.map(|p| p.addr()).filter(|ip| !orphan_rules[i].1.contains(ip)) {
                orphan_rules[i].1.push(ip);
            }
        }
        for (iif, ips) in orphan_rules {
            let note = format!("link {iif} (its rules remain)");
            // The same IP's orphaned route or proxy entry: one orphan.
            match out.iter_mut().find(|o| o.state == AttachmentState::Orphaned && o.ips.iter().any(|i| ips.contains(i)))
            {
                Some(o) => o.missing.push(note),
                None => {
                    let mut o = orphan(ips, None);
                    o.missing = vec![note];
                    out.push(o);
                }
            }
        }
        Ok(out)
    }

    /// Repairs what the node itself can take from attachments that are
    /// here: host routes and proxy entries that a flap, a re-created
    /// uplink or a hand deleted, and the LAN interface's `proxy_delay`
    /// (and IPv6 `proxy_ndp`), which a re-created device has at their
    /// defaults. Everything it needs is in the marks. It never announces:
    /// an IP is announced only by the attach that puts it here. Returns
    /// the repairs, in `ip` words.
    pub(crate) fn reconcile(&self, protocol: u8) -> Result<Vec<String>> {
        let f = self.found(protocol, false)?;
        let mut done = Vec::new();
        let mut lans_set: HashSet<(String, bool)> = HashSet::new();
        let mut tables_done: HashSet<(u32, IpPrefix)> = HashSet::new();
        let mut rules_done: HashSet<Rule> = HashSet::new();
        let mut failed: Option<crate::error::Error> = None;
        for ((l, m), missing) in f.marked.iter().zip(self.missing(&f, protocol)) {
            if !missing.iter().any(|x| {
                matches!(x, Missing::Route { .. } | Missing::Proxy { .. } | Missing::Rule(_) | Missing::TableRoute(_))
            }) {
                continue;
            }
            // Under the attachment's lock, and only if its veth is still
            // the one listed: a detach that ran meanwhile must not have its
            // proxy entry brought back (the node would answer ARP for an IP
            // that is no longer here). Busy: the next pass.
            let Some(_lock) = Lock::try_acquire(Stripe::of(Kind::Attachment, &m.attachment_id))? else { continue };
            match self.host.link_get_index(l.index) {
                // Not retired meanwhile: a tombstone's routes stay gone.
                Ok(now) if now.alias == l.alias && now.group != TOMBSTONE_GROUP => {}
                Ok(_) => continue,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            }
            for x in &missing {
                let made = (|| -> Result<bool> {
                    Ok(match x {
                        Missing::Route { ip, index, .. } => {
                            let r = Route::to(IpPrefix::host(*ip)).dev(*index).protocol(protocol);
                            super::ignore_exists(self.host.route_add(&r))?
                        }
                        Missing::Proxy { ip, lan, index } => {
                            self.lan_settings(lan, ip.is_ipv4(), &mut lans_set, &mut done)?;
                            // Missing in the dump just made; an add of an entry
                            // that came back meanwhile succeeds silently
                            // (`pneigh_create()` returns the existing one).
                            super::ignore_exists(self.host.neigh_proxy_add_protocol(*index, *ip, protocol))?
                        }
                        Missing::Rule(r) if rules_done.insert(r.clone()) => {
                            super::ignore_exists(self.host.rule_add(r))?
                        }
                        // Shared by the LAN interface's pods: once per pass.
                        Missing::TableRoute(r) if tables_done.insert((r.table, r.dst)) => {
                            let _table = policy::table_lock(r.table)?;
                            super::ignore_exists(self.host.route_add(r))?
                        }
                        _ => false, // the veth's own state: its attach repairs it
                    })
                })();
                match made {
                    Ok(true) => {
                        log::info!("reconcile: {x} (attachment {})", m.attachment_id);
                        done.push(format!("{x}"));
                    }
                    Ok(false) => {}
                    // One repair the kernel refuses now (a route through a
                    // link that is still down, say) does not hold up the
                    // others: the rest of the pass goes on, and the pass
                    // reports the failure so that the watcher tries again.
                    Err(e) => {
                        log::warn!(
                            "reconcile: {x} (attachment {}) failed: {}",
                            m.attachment_id,
                            crate::error::Report(&e)
                        );
                        failed.get_or_insert(e);
                    }
                }
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(done)
    }

    /// The LAN interface's settings the proxy entries rely on, once per
    /// interface and family per pass: a re-created uplink has defaults.
    fn lan_settings(
        &self,
        lan: &IfName,
        v4: bool,
        seen: &mut HashSet<(String, bool)>,
        done: &mut Vec<String>,
    ) -> Result<()> {
        if !seen.insert((lan.to_string(), v4)) {
            return Ok(());
        }
        let keys = if v4 {
            vec![(SysctlKey::ipv4_neigh(lan, "proxy_delay")?, "0")]
        } else {
            vec![(SysctlKey::ipv6_neigh(lan, "proxy_delay")?, "0"), (SysctlKey::ipv6_conf(lan, "proxy_ndp")?, "1")]
        };
        for (k, v) in keys {
            if self.host_ns.sysctl_replace_from(&k, v, Some(self.home))? != v {
                log::info!("reconcile: sysctl -w {k}={v}");
                done.push(format!("sysctl -w {k}={v}"));
            }
        }
        Ok(())
    }

    fn proxy_arp_on(&self, lan: &IfName) -> bool {
        SysctlKey::ipv4_conf(lan, "proxy_arp")
            .and_then(|k| self.host_ns.sysctl_get_from(&k, Some(self.home)))
            .is_ok_and(|v| v == "1")
    }

    /// CNI GC on this host: removes every floatip-marked object whose
    /// attachment is not in `valid`, and every orphan. Veths go in batches
    /// (one group delete); an attachment whose attach or detach is running
    /// right now (its lock is held) is skipped. Objects without floatip's
    /// mark are never touched.
    pub(crate) fn gc(&self, protocol: u8, valid: &HashSet<&str>) -> Result<Vec<String>> {
        let _drain = Lock::acquire(Stripe::of(Kind::Drain, ""))?;
        let f = self.found(protocol, false)?;
        let mut locks: HashMap<Stripe, Lock> = HashMap::new();
        let mut victims: Vec<&Link> = Vec::new();
        let mut kept_oifs: HashSet<u32> = HashSet::new();
        let mut kept_ips: HashSet<(u32, IpAddr)> = HashSet::new();
        let lan_index = |lan: &IfName| f.links.iter().find(|l| l.name == lan.as_str()).map(|l| l.index);
        for (l, m) in &f.marked {
            let stripe = Stripe::of(Kind::Attachment, &m.attachment_id);
            // A stripe this GC holds already (another victim's) is not busy.
            let keep = valid.contains(m.attachment_id.as_str())
                || (!locks.contains_key(&stripe)
                    && match Lock::try_acquire(stripe)? {
                        Some(lock) => {
                            locks.insert(stripe, lock);
                            false
                        }
                        None => true, // attach or detach running: next GC
                    });
            if keep {
                kept_oifs.insert(l.index);
                if let Some(i) = m.lan.as_ref().and_then(lan_index) {
                    kept_ips.extend(m.ips.iter().map(|ip| (i, *ip)));
                }
            } else {
                victims.push(l);
            }
        }
        let mut removed = Vec::new();
        if let Some((gid, n)) = group_delete(self.host, &victims)? {
            let names: Vec<&str> = victims.iter().map(|l| l.name.as_str()).collect();
            removed.push(format!("ip link del group {gid} ({n} veths: {})", names.join(" ")));
        }
        // Tombstones are dead already, whatever their attachment: one
        // batch of their own group.
        if !f.tombstones.is_empty() && crate::reaper::reap(self.host)? {
            let names: Vec<&str> = f.tombstones.iter().map(|l| l.name.as_str()).collect();
            removed.push(format!("ip link del group {TOMBSTONE_GROUP} (tombstones: {})", names.join(" ")));
        }
        for p in &f.proxies {
            if !kept_ips.contains(&(p.index, p.ip)) && ignore_missing(self.host.neigh_proxy_del(p.index, p.ip))? {
                removed.push(format!("ip neigh del proxy {} dev ifindex {}", p.ip, p.index));
            }
        }
        // Rules of victims, and of veths that are gone (orphans).
        let live: HashSet<&str> = f.links.iter().map(|l| l.name.as_str()).collect();
        let doomed: HashSet<&str> =
            victims.iter().copied().chain(f.tombstones.iter()).map(|l| l.name.as_str()).collect();
        let mut touched = BTreeSet::new();
        for r in &f.rules {
            let Some(iif) = r.iif.as_deref() else { continue };
            if (doomed.contains(iif) || !live.contains(iif)) && ignore_missing(self.host.rule_del(r))? {
                touched.extend(policy::tables_of(std::slice::from_ref(r)));
                removed.push(format!("ip rule del {r}"));
            }
        }
        removed.extend(policy::release_tables(self.host, &touched, protocol)?);
        let gone: HashSet<u32> = victims.iter().map(|l| l.index).collect();
        for r in &f.routes {
            // A victim's routes went with its veth.
            let Some(oif) = r.oif else { continue };
            if !kept_oifs.contains(&oif) && !gone.contains(&oif) && ignore_missing(self.host.route_del(r))? {
                removed.push(format!("ip route del {} dev ifindex {oif} proto {protocol}", r.dst));
            }
        }
        drop(locks);
        Ok(removed)
    }
}

fn orphan(ips: Vec<IpAddr>, dev: Option<(String, u32)>) -> Attachment {
    Attachment {
        attachment_id: None,
        pod_key: None,
        ips,
        host_veth: dev.map(|(d, i)| (d, i, None)),
        lan: None,
        pod_netns_inode: None,
        pod_netns_name: None,
        peer_netnsid: None,
        state: AttachmentState::Orphaned,
        missing: Vec::new(),
    }
}

/// The names under `/run/netns` by the inode of the namespace mounted on
/// each (a `stat` of a bind-mounted namespace file shows the nsfs inode).
fn netns_names() -> HashMap<u64, String> {
    let mut out = HashMap::new();
    for name in Netns::list().unwrap_or_default() {
        if let Ok(m) = fs::metadata(std::path::Path::new("/run/netns").join(&name)) {
            out.insert(m.ino(), name);
        }
    }
    out
}

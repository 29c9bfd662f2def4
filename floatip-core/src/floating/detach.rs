//! Detach: remove what is this attachment's, and nothing else.
//!
//! Runtimes call DEL more than once and late: after a node reboot the
//! kubelet can send DEL(old sandbox), ADD(new), DEL(old) (kubernetes#44100).
//! So a detach removes the host veth only when its owner mark names this
//! attachment *and* this pod namespace, and a proxy entry only when it is
//! floatip's (by protocol) and no other veth serves its IP.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::mark::TOMBSTONE_GROUP;
use super::spec::{FloatingIp, Mode, NetnsRef, UplinkArp};
use super::{conflict, conntrack_change, ignore_missing, link_opt, policy, stop_announcement, OwnerMark, Site};
use crate::error::Result;
use crate::link::Link;
use crate::lock::{Kind, Lock, Stripe};
use crate::netlink::Handle;
use crate::netns::Netns;
use crate::prefix::IpPrefix;
use crate::rule::Rule;

/// The host veth of a spec's name, judged.
enum Veth {
    /// There is none.
    Absent,
    /// This attachment's, in this pod namespace: detach removes it.
    Mine(Link),
    /// Another attachment's or another sandbox's: left alone.
    Foreign(Link),
}

/// How many attachments a drain locks at once: each lock is an open file,
/// and processes often have 1,024 of them.
const DRAIN_CHUNK: usize = 256;

/// How a detach disposes of the host veth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Teardown {
    /// Deleted before the detach returns (15-25 ms of RCU grace periods
    /// inside the kernel).
    Now,
    /// Retired: down and in [`TOMBSTONE_GROUP`], its routes, rules and
    /// proxy entries gone; a later batch deletes it.
    Tombstone,
}

/// What a detach did.
pub(crate) struct Detached {
    /// What it removed, in `ip` words.
    pub(crate) removed: Vec<String>,
    /// It left a tombstone for a batch to delete.
    pub(crate) tombstoned: bool,
    /// The IPs whose conntrack entries are left for the batch to delete
    /// (when the detach was asked to defer them).
    pub(crate) conntrack_later: Vec<IpAddr>,
}

impl FloatingIp {
    /// Detach on `site`, holding the attachment's and its IPs' locks. With
    /// `defer_conntrack` (a kept `Host`'s tombstone detach, routed mode)
    /// the IPs whose conntrack entries are stale are returned for the
    /// reaper's batch instead of flushed here.
    pub(crate) fn detach_at(&self, site: &Site<'_>, how: Teardown, defer_conntrack: bool) -> Result<Detached> {
        let _locks = site.lock(self)?;
        let pod = site.pod_netns(self)?;
        let veth = self.veth_fate(site, pod.as_ref())?;
        // The rounds of this attachment's IPs stop, unless the veth there
        // is another sandbox's (a late DEL of an old one): the new one's
        // announcement, registered under the same id, goes on.
        if !matches!(veth, Veth::Foreign(_)) {
            stop_announcement(site.host_ino, &self.attachment_id);
        }
        let mut removed = Vec::new();
        let mut tombstoned = false;
        if let Veth::Mine(l) = &veth {
            let tomb = l.group == TOMBSTONE_GROUP;
            match how {
                // A tombstone already (a repeated DEL): the batch has it.
                Teardown::Tombstone if tomb => {}
                Teardown::Tombstone => {
                    // Down first: the kernel flushes the veth's routes and
                    // nothing crosses it any more; the proxy entries and
                    // rules go next, while the veth still holds its name.
                    if ignore_missing(site.host.link_set_down_group(l.index, TOMBSTONE_GROUP))? {
                        removed.push(format!("ip link set {} down group {TOMBSTONE_GROUP}", self.host_ifname));
                        tombstoned = true;
                    }
                }
                Teardown::Now => {
                    if ignore_missing(site.host.link_del(l.index))? {
                        removed.push(format!("ip link del {}", self.host_ifname));
                    }
                }
            }
        }
        let mut rules = HostRules::default();
        removed.extend(self.detach_rest(site.host, &veth, pod.as_ref(), &mut rules)?);
        removed.extend(rules.release(site.host, self.route_protocol)?);
        // The veth is retired or gone: nothing of this node serves the IPs
        // any more, and their conntrack entries are stale. Deleting them
        // walks the kernel's whole conntrack hash (docs/announce.md,
        // "Conntrack"), so a kept Host leaves it to its reaper, which does
        // it once for a whole batch of detaches.
        let ips = self.conntrack_ips(site.host, &veth)?;
        let conntrack_later = match defer_conntrack && self.mode == Mode::Routed {
            true => ips,
            false => {
                removed.extend(conntrack_change(&ips, site.flush_conntrack(&ips)?));
                Vec::new()
            }
        };
        Ok(Detached { removed, tombstoned, conntrack_later })
    }

    /// The IPs whose conntrack entries a detach deletes: none when the
    /// spec says so or when the veth there is another's (a late DEL of an
    /// old sandbox must not cut the new one's flows); all when it is this
    /// attachment's (attach refused to route an IP another veth serves);
    /// with no veth (a repeated detach), those that no other veth serves.
    fn conntrack_ips(&self, host: &Handle, veth: &Veth) -> Result<Vec<IpAddr>> {
        if !self.conntrack_flush {
            return Ok(Vec::new());
        }
        let mut ips = Vec::new();
        for a in self.addrs() {
            let ip = a.address.addr();
            match veth {
                Veth::Foreign(_) => {}
                Veth::Mine(_) => ips.push(ip),
                Veth::Absent => {
                    if !served(host, ip, None)? {
                        ips.push(ip);
                    }
                }
            }
        }
        Ok(ips)
    }

    /// Whether the veth named like this spec's is this attachment's.
    fn veth_fate(&self, site: &Site<'_>, pod: Option<&(Netns, u64)>) -> Result<Veth> {
        let Some(l) = link_opt(site.host, &self.host_ifname)? else { return Ok(Veth::Absent) };
        if l.kind.as_deref() != Some("veth") {
            return Err(conflict(format!("dev {}", self.host_ifname), "exists but is not a veth: not removing it"));
        }
        let mine = match (l.alias.as_deref().and_then(OwnerMark::parse), pod) {
            // Marked: this attachment's if made for this pod namespace.
            (Some(m), Some((_, ino))) => m.attachment_id == self.attachment_id && m.pod_netns_inode == *ino,
            // The pod namespace is gone, yet the veth exists: its peer
            // lives in another, live namespace (a later sandbox). Never
            // removed here; `Host::gc` removes it once it is invalid.
            (Some(_), None) => false,
            // Unmarked (made before marks, or a crash between creating and
            // marking it): this attachment's only if it is the peer of the
            // pod interface in the pod namespace.
            (None, Some((ns, _))) => {
                let pod = Handle::in_netns_from(ns, Some(site.home))?;
                link_opt(&pod, &self.pod_ifname)?.is_some_and(|p| p.link == Some(l.index) && l.link == Some(p.index))
            }
            (None, None) => false,
        };
        Ok(if mine { Veth::Mine(l) } else { Veth::Foreign(l) })
    }

    /// What detach removes besides the veth: the uplink's proxy entries
    /// (floatip's, for IPs no other veth serves) and a pod namespace that
    /// attach created. Nothing when the veth there is another's: its
    /// entries serve it.
    fn detach_rest(
        &self,
        host: &Handle,
        veth: &Veth,
        pod: Option<&(Netns, u64)>,
        rules: &mut HostRules,
    ) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        if let Veth::Foreign(l) = veth {
            // The pod namespace of this spec, created by attach, holds no
            // veth of this attachment: remove it unless the other veth's
            // mark names it.
            let named = l.alias.as_deref().and_then(OwnerMark::parse).map(|m| m.pod_netns_inode);
            if pod.is_some_and(|(_, ino)| Some(*ino) == named) {
                return Ok(removed);
            }
        } else if self.mode == Mode::Routed {
            // The veth's rules (they name it, and outlive it): whatever
            // table they look up, the attach that made them may have had
            // other settings than this spec.
            let table = self.rule_plan().filter(|p| p.policy_routing()).map(|p| p.table);
            // The veth's own mark says which rules its attach made: deleted
            // by name, no dump of the host's rules. Otherwise (no veth, or
            // one without a plan) they are found by their `iif`.
            let known =
                match veth {
                    Veth::Mine(l) => l.alias.as_deref().and_then(OwnerMark::parse).and_then(|m| {
                        m.rules.map(|plan| policy::pod_rules(&plan, &l.name, &m.ips, self.route_protocol))
                    }),
                    _ => None,
                };
            let by_mark = known.is_some();
            if let Some(known) = known {
                removed.extend(rules.remove_known(host, known)?);
            }
            for v4 in [true, false] {
                if self.addrs().any(|a| a.address.is_ipv4() == v4) {
                    if !by_mark {
                        removed.extend(rules.remove_iif(host, v4, self.host_ifname.as_str(), self.route_protocol)?);
                    }
                    // The spec's own table too: an attach killed between
                    // filling it and adding its rules left routes no rule
                    // uses (released only if that is still so).
                    if let Some(t) = table {
                        rules.touched.insert((v4, t));
                    }
                }
            }
            if let Some(lan) = link_opt(host, &self.lan_ifname())? {
                let mut ips: Vec<IpAddr> = self.addrs().map(|a| a.address.addr()).collect();
                if self.uplink_arp == UplinkArp::ProxyArp {
                    ips.retain(|ip| !ip.is_ipv4());
                }
                // A retired veth's routes are gone already; should a kernel
                // keep one (as `linkdown`), it still serves no one.
                let own = match veth {
                    Veth::Mine(l) => Some(l.index),
                    _ => None,
                };
                for ip in ips {
                    match host.neigh_proxy_get(lan.index, ip)? {
                        Some(e) if e.protocol == self.route_protocol && !served(host, ip, own)? => {}
                        _ => continue,
                    }
                    if ignore_missing(host.neigh_proxy_del(lan.index, ip))? {
                        removed.push(format!("ip neigh del proxy {ip} dev {}", lan.name));
                    }
                }
            }
        }
        // Also when it did not open: it may be the empty placeholder of a
        // create that was killed before it mounted the namespace.
        if let (NetnsRef::Name(n), true) = (&self.pod_netns, self.create_pod_netns) {
            if ignore_missing(Netns::delete(n))? {
                removed.push(format!("ip netns del {n}"));
            }
        }
        Ok(removed)
    }

    /// Detach many on `site`, letting the kernel batch the expensive part:
    /// the veths that are these attachments' go in one fresh link group,
    /// deleted with one `ip link del group N`. Members that vanish meanwhile
    /// are skipped; the rest is always cleaned.
    pub(crate) fn detach_many_at(site: &Site<'_>, specs: &[&FloatingIp]) -> Result<Vec<String>> {
        let mut order: Vec<&FloatingIp> = specs.to_vec();
        order.sort_by(|a, b| a.attachment_id.cmp(&b.attachment_id));
        order.dedup_by(|a, b| a.attachment_id == b.attachment_id);
        // One drain at a time per host: the group id is chosen and used
        // under this lock, so threads and processes never share one.
        let _drain = Lock::acquire(Stripe::of(Kind::Drain, ""))?;
        let mut removed = Vec::new();
        for chunk in order.chunks(DRAIN_CHUNK) {
            // Attachment locks in the one global order, each stripe once.
            let _locks =
                Lock::acquire_all(chunk.iter().map(|s| Stripe::of(Kind::Attachment, &s.attachment_id)).collect())?;
            let mut fates = Vec::with_capacity(chunk.len());
            for s in chunk {
                let pod = site.pod_netns(s)?;
                let fate = s.veth_fate(site, pod.as_ref())?;
                if !matches!(fate, Veth::Foreign(_)) {
                    stop_announcement(site.host_ino, &s.attachment_id);
                }
                fates.push((fate, pod));
            }
            let mine: Vec<&Link> = fates
                .iter()
                .filter_map(|(f, _)| match f {
                    Veth::Mine(l) => Some(l),
                    _ => None,
                })
                .collect();
            if let Some((gid, n)) = group_delete(site.host, &mine)? {
                removed.push(format!("ip link del group {gid} ({n} veths)"));
            }
            let mut rules = HostRules::default();
            for ((fate, pod), s) in fates.iter().zip(chunk.iter()) {
                removed.extend(s.detach_rest(site.host, fate, pod.as_ref(), &mut rules)?);
            }
            for p in chunk.iter().map(|s| s.route_protocol).collect::<BTreeSet<u8>>() {
                removed.extend(rules.release(site.host, p)?);
            }
            // The chunk's stale conntrack entries, with one dump for all.
            let mut ips = Vec::new();
            for ((fate, _), s) in fates.iter().zip(chunk.iter()) {
                ips.extend(s.conntrack_ips(site.host, fate)?);
            }
            removed.extend(conntrack_change(&ips, site.flush_conntrack(&ips)?));
        }
        Ok(removed)
    }
}

/// The host's rules, dumped once per family for a whole detach or drain,
/// and the tables whose rules it removed.
#[derive(Default)]
pub(super) struct HostRules {
    v4: Option<Vec<Rule>>,
    v6: Option<Vec<Rule>>,
    /// Tables (by family) that lost a rule: released at the end if no rule
    /// of floatip's uses them any more.
    touched: BTreeSet<(bool, u32)>,
}

impl HostRules {
    /// Removes floatip's rules (protocol `protocol`) whose `iif` is `iif`.
    pub(super) fn remove_iif(&mut self, host: &Handle, v4: bool, iif: &str, protocol: u8) -> Result<Vec<String>> {
        let slot = if v4 { &mut self.v4 } else { &mut self.v6 };
        let all = match slot {
            Some(v) => v,
            None => slot.insert(host.rules(v4)?),
        };
        let mut removed = Vec::new();
        let (gone, kept): (Vec<Rule>, Vec<Rule>) =
            std::mem::take(all).into_iter().partition(|r| r.protocol == protocol && r.iif.as_deref() == Some(iif));
        *all = kept;
        self.touched.extend(policy::tables_of(&gone));
        for r in gone {
            if ignore_missing(host.rule_del(&r))? {
                removed.push(format!("ip rule del {r}"));
            }
        }
        Ok(removed)
    }

    /// Removes `known` rules (from a veth's mark) without a dump; one that
    /// is gone already is fine.
    pub(super) fn remove_known(&mut self, host: &Handle, known: Vec<Rule>) -> Result<Vec<String>> {
        self.touched.extend(policy::tables_of(&known));
        let mut removed = Vec::new();
        for r in known {
            if ignore_missing(host.rule_del(&r))? {
                removed.push(format!("ip rule del {r}"));
            }
        }
        Ok(removed)
    }

    /// Empties the touched tables that no rule uses any more.
    pub(super) fn release(&mut self, host: &Handle, protocol: u8) -> Result<Vec<String>> {
        policy::release_tables(host, &std::mem::take(&mut self.touched), protocol)
    }
}

/// The reaper's part of kept-Host detaches: deletes the conntrack entries
/// of `ips` (retired by detaches since its last pass) with one dump,
/// holding the IPs' locks, and only of those that no veth serves again by
/// now: an attach that brought an IP back meanwhile flushed it itself, and
/// the entries are its new pod's.
pub(crate) fn flush_retired(
    host: &Handle,
    ct: &crate::conntrack::Lazy,
    host_ns: &Netns,
    ips: &[IpAddr],
) -> Result<usize> {
    let mut ips = ips.to_vec();
    ips.sort();
    ips.dedup();
    let _locks = Lock::acquire_all(ips.iter().map(|ip| Stripe::of(Kind::Ip, &ip.to_string())).collect())?;
    let mut stale = Vec::with_capacity(ips.len());
    for ip in ips {
        if !served(host, ip, None)? {
            stale.push(ip);
        }
    }
    crate::conntrack::flush_host(ct, host_ns, None, false, &stale)
}

/// Whether a host route for exactly `ip` still leads somewhere other than
/// `own` (the veth being detached): another veth serves the IP.
fn served(host: &Handle, ip: IpAddr, own: Option<u32>) -> Result<bool> {
    match host.route_get_fibmatch(ip) {
        Ok(r) => Ok(r.dst == IpPrefix::host(ip) && r.oif.is_some() && r.oif != own),
        Err(e) if e.is_unreachable() || e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Deletes `links` as one batch: moves them to a link group nobody uses
/// and deletes the group (the caller holds the host's drain lock). Links
/// that vanished meanwhile are skipped. Returns the group and how many
/// went, `None` when there was nothing to delete.
pub(super) fn group_delete(host: &Handle, links: &[&Link]) -> Result<Option<(u32, usize)>> {
    if links.is_empty() {
        return Ok(None);
    }
    // A group id nobody uses: one dump per batch, not per pod.
    let used: Vec<u32> = host.links()?.iter().map(|l| l.group).collect();
    let mut gid = 0x4650_0000 | (std::process::id() & 0xffff);
    while used.contains(&gid) || gid == TOMBSTONE_GROUP {
        gid = gid.wrapping_add(0x1_0000).max(1);
    }
    let mut n = 0;
    for l in links {
        if ignore_missing(host.link_set_group(l.index, gid))? {
            n += 1;
        }
    }
    if n == 0 {
        return Ok(None);
    }
    ignore_missing(host.link_del_group(gid))?;
    Ok(Some((gid, n)))
}

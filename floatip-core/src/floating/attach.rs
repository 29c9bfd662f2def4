//! Attach: the steps of the dataplane in a safe order, each recording how
//! to undo itself, and the rollback that undoes them when a later one fails.

use std::fmt;
use std::net::IpAddr;

use super::mark::{RulePlan, TOMBSTONE_GROUP};
use super::spec::{FloatingAddr, FloatingIp, Mode, NetnsRef, UplinkArp};
use super::{
    conflict, conntrack_change, default_route, ignore_exists, ignore_missing, ipv6_enabled, link_opt, policy,
    register_announcement, with_what, OwnerMark, Site,
};
use crate::address::AddrOptions;
use crate::announce::{AnnounceOptions, AnnounceReport, Announcer, BackgroundAnnounce};
use crate::error::{Error, Result};
use crate::link::{Link, VethSpec};
use crate::name::IfName;
use crate::netlink::Handle;
use crate::netns::Netns;
use crate::prefix::IpPrefix;
use crate::probe::{ProbeOptions, ProbeReport, Prober};
use crate::route::Route;
use crate::rule::Rule;
use crate::sysctl::SysctlKey;
use crate::wire::Mac;

/// What [`FloatingIp::attach`] did, step by step.
#[derive(Debug)]
#[non_exhaustive]
pub struct Attached {
    /// The attachment made.
    pub attachment_id: String,
    /// The owner mark on the host veth (`ip -d link show`: `alias`).
    pub mark: OwnerMark,
    /// Host-side veth index.
    pub host_ifindex: u32,
    /// Pod-side veth index.
    pub pod_ifindex: u32,
    /// The host veth's MAC (what the pod sees as its gateway's MAC in
    /// routed mode).
    pub host_mac: Option<Mac>,
    /// The LAN-facing interface index (uplink or its VLAN).
    pub uplink_ifindex: u32,
    /// The uplink's MAC: what LAN neighbours learn for the floating IP.
    pub uplink_mac: Option<Mac>,
    /// Each change made, in order, as an `ip`/`sysctl` command would say it.
    /// Empty when everything was already in place.
    pub changes: Vec<String>,
    /// What was announced before attach returned (the first round), in
    /// words; empty when announcing is off. Not a state change: attaching
    /// again announces again, which is harmless and what a retry wants.
    pub announced: Vec<String>,
    /// The announcement's remaining rounds, running in the background (its
    /// first round was sent before attach returned). Wait for it, stop it,
    /// or drop it to let it finish on its own.
    pub announcement: Option<BackgroundAnnounce>,
    /// What the conflict probe did, when the spec asked for one (it found
    /// no conflict, or attach would have failed).
    pub probe: Option<ProbeReport>,
}

impl fmt::Display for Attached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.probe {
            writeln!(f, "conflict probe: {p}")?;
        }
        for c in self.changes.iter().chain(&self.announced) {
            writeln!(f, "{c}")?;
        }
        Ok(())
    }
}

/// An undo action recorded by a step of attach.
enum Undo {
    DeleteNetns(String),
    DeleteHostLink(IfName),
    Sysctl {
        in_pod: bool,
        key: SysctlKey,
        old: String,
    },
    DeleteProxy {
        index: u32,
        ip: IpAddr,
    },
    DeleteRoute {
        in_pod: bool,
        route: Route,
    },
    DeleteAddr {
        index: u32,
        prefix: IpPrefix,
    },
    DeleteRule(Rule),
    /// An MTU this attach changed (drift repaired on an existing veth).
    SetMtu {
        in_pod: bool,
        index: u32,
        mtu: u32,
    },
    /// Table routes this attach added: removed again if, once the rules
    /// are undone, no rule of floatip's uses the table.
    ReleaseTable {
        table: u32,
        ipv4: bool,
        protocol: u8,
    },
}

/// What preflight found, for the steps.
struct Preflight {
    uplink: Link,
    /// The LAN-facing interface (the uplink, or its VLAN device; `None`
    /// when the VLAN device is still to be made).
    lan: Option<Link>,
    /// A link of the host veth's name (judged ours by preflight).
    existing: Option<Link>,
    /// Routed IPv4: the LAN interface has an address in the gateway's
    /// subnet (`true` when there is nothing to ask).
    lan_has_address: bool,
}

/// The host namespace's sysctls of one attach, by when they are written.
#[derive(Default)]
struct HostSysctls {
    /// Before the host veth comes up.
    before_up: Vec<(SysctlKey, &'static str)>,
    /// The host veth's own, after link up.
    veth: Vec<(SysctlKey, &'static str)>,
    /// Shared by every pod on the host (forwarding, the uplink's).
    shared: Vec<(SysctlKey, &'static str)>,
}

/// How long an attach waits for the pod's link to be operationally up
/// before announcing it.
const OPER_UP_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// The live objects a verb works on.
struct Ctx<'a> {
    /// Where the verb runs (for the host's conntrack handle).
    site: &'a Site<'a>,
    /// The calling thread's namespace: every visit to the host or pod
    /// namespace returns here.
    home: &'a Netns,
    host_ns: &'a Netns,
    host_ino: u64,
    host: &'a Handle,
    /// The calling thread is in the host namespace already.
    in_host: bool,
    /// Announcement senders kept across attaches.
    senders: &'a crate::announce::SenderPool,
    pod_ns: Option<Netns>,
    pod_ino: u64,
    pod: Option<Handle>,
    /// Each undo, with the index of its change in `changes`.
    undo: Vec<(usize, Undo)>,
    changes: Vec<String>,
    announced: Vec<String>,
    inject: Inject,
    step: usize,
}

/// Failures a test makes happen (the `test-hooks` feature's
/// `attach_failing_at`): none in a normal attach.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Inject {
    /// This step (counting from 0) fails.
    pub(crate) step: Option<usize>,
    /// The rollback's first undo fails too (and is not done), as an undo
    /// the kernel refuses would.
    pub(crate) rollback: bool,
}

impl Ctx<'_> {
    /// Whether this attach brought the floating IPs here: it created the
    /// host veth or a host route of an IP. An attach that found them in
    /// place (a retry, a restarted agent re-attaching) did not, and the
    /// conntrack entries there are the live pod's.
    fn brought_ips_here(&self) -> bool {
        self.undo.iter().any(|(_, u)| matches!(u, Undo::DeleteHostLink(_) | Undo::DeleteRoute { in_pod: false, .. }))
    }

    fn pod(&self) -> &Handle {
        self.pod.as_ref().expect("pod handle opened before pod steps")
    }
    fn pod_ns(&self) -> &Netns {
        self.pod_ns.as_ref().expect("pod netns opened before pod steps")
    }

    /// Waits until the pod's link `index` is operationally up, at most
    /// [`OPER_UP_WAIT`]; then goes on either way (the pod is wired, only
    /// its first packets may be lost). The kernel's link watcher usually
    /// gets there within a few hundred microseconds (a veth's carrier
    /// event is urgent), so the first look is at once and the pauses
    /// between looks double from 50 µs to at most 3.2 ms: a few requests
    /// when all is well, and few more on a loaded node.
    fn wait_oper_up(&self, index: u32) -> Result<()> {
        let t = std::time::Instant::now();
        let mut pause = std::time::Duration::from_micros(50);
        while !self.pod().link_oper_up(index)? {
            if t.elapsed() >= OPER_UP_WAIT {
                log::warn!(
                    "pod link {index} not operationally up after {} ms; announcing anyway",
                    OPER_UP_WAIT.as_millis()
                );
                break;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_micros(3200));
        }
        Ok(())
    }

    /// Marks the start of a step; a test can make step N fail here.
    /// `what` is formatted only then.
    fn step(&mut self, what: impl fmt::Display) -> Result<()> {
        let n = self.step;
        self.step += 1;
        if self.inject.step == Some(n) {
            return Err(Error::io(
                "injected failure",
                format!("step {n} ({what})"),
                std::io::Error::from_raw_os_error(libc::EIO),
            ));
        }
        Ok(())
    }

    fn done(&mut self, change: String, undo: Option<Undo>) {
        if let Some(u) = undo {
            self.undo.push((self.changes.len(), u));
        }
        self.changes.push(change);
    }

    /// Writes a sysctl unless it already has `value`; records the old value.
    fn sysctl(&mut self, in_pod: bool, key: SysctlKey, value: &'static str) -> Result<()> {
        self.sysctls(in_pod, vec![(key, value)], false)
    }

    /// Writes several sysctls of one namespace, in order, opening all their
    /// files in one visit to the namespace; each records its old value,
    /// unless `shared`: settings that serve every pod on the host
    /// (forwarding, the uplink's) are ensured and never written back, as a
    /// concurrent attach of another pod may rely on them already.
    /// Nothing is written if any file is missing.
    fn sysctls(&mut self, in_pod: bool, items: Vec<(SysctlKey, &'static str)>, shared: bool) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        for (key, _) in &items {
            self.step(format_args!("sysctl {key}"))?;
        }
        let ns = if in_pod { self.pod_ns() } else { self.host_ns };
        let keys: Vec<&SysctlKey> = items.iter().map(|(k, _)| k).collect();
        let files = match in_pod || !self.in_host {
            true => ns.open_sysctls(&keys, Some(self.home))?,
            false => ns.open_sysctls_here(&keys)?,
        };
        for ((key, value), f) in items.into_iter().zip(files) {
            let ns = if in_pod { self.pod_ns() } else { self.host_ns };
            let old = ns.sysctl_replace_file(&f, &key, value)?;
            if old != value {
                let undo = (!shared).then(|| Undo::Sysctl { in_pod, key: key.clone(), old });
                self.done(format!("sysctl -w {key}={value}"), undo);
            }
        }
        Ok(())
    }

    fn rollback(&mut self) {
        while let Some((what, u)) = self.undo.pop() {
            let r = match u {
                // A test's injected failure: this undo is refused (not done).
                _ if std::mem::take(&mut self.inject.rollback) => {
                    Err(Error::io("injected failure", "rollback", std::io::Error::from_raw_os_error(libc::EIO)))
                }
                Undo::DeleteNetns(n) => {
                    self.pod = None;
                    self.pod_ns = None;
                    Netns::delete(&n)
                }
                Undo::DeleteHostLink(n) => self.host.link_del_by_name(&n),
                Undo::Sysctl { in_pod, key, old } => {
                    let ns = if in_pod { self.pod_ns.as_ref() } else { Some(self.host_ns) };
                    match ns {
                        Some(ns) => ns.sysctl_set(&key, &old),
                        None => Ok(()),
                    }
                }
                Undo::DeleteProxy { index, ip } => self.host.neigh_proxy_del(index, ip),
                Undo::DeleteRoute { in_pod, route } => match (in_pod, self.pod.as_ref()) {
                    (true, Some(p)) => p.route_del(&route),
                    (true, None) => Ok(()),
                    (false, _) => self.host.route_del(&route),
                },
                Undo::DeleteAddr { index, prefix } => match self.pod.as_ref() {
                    Some(p) => p.addr_del(index, prefix),
                    None => Ok(()),
                },
                Undo::DeleteRule(r) => self.host.rule_del(&r),
                Undo::SetMtu { in_pod, index, mtu } => match (in_pod, self.pod.as_ref()) {
                    (true, Some(p)) => p.link_set_mtu(index, mtu),
                    (true, None) => Ok(()),
                    (false, _) => self.host.link_set_mtu(index, mtu),
                },
                Undo::ReleaseTable { table, ipv4, protocol } => {
                    policy::release_tables(self.host, &[(ipv4, table)].into_iter().collect(), protocol).map(|_| ())
                }
            };
            // Objects that went away with an earlier undo (a route or a
            // sysctl of a deleted veth) are fine; anything else is reported
            // but does not stop the rest of the rollback.
            if let Err(e) = r {
                if !e.is_not_found() {
                    let what = self.changes.get(what).map(String::as_str).unwrap_or("?");
                    log::warn!("rollback of `{what}` failed: {err}", err = crate::error::Report(&e));
                }
            }
        }
    }
}

impl FloatingIp {
    /// Attach on `site`, holding the attachment's and its IPs' locks: two
    /// attaches of one attachment, or of two attachments that want the same
    /// IP, run one after the other, and the second sees what the first made.
    pub(crate) fn attach_at<'s>(&self, site: &'s Site<'s>, inject: Inject) -> Result<Attached> {
        if let (Some(a), false) = (&self.ipv6, ipv6_enabled()) {
            return Err(Error::io(
                "attach",
                format!("IPv6 floating IP {} (the kernel has no IPv6: booted with ipv6.disable=1)", a.address),
                std::io::Error::from_raw_os_error(libc::EAFNOSUPPORT),
            ));
        }
        let _locks = site.lock(self)?;
        let mut cx = Ctx {
            site,
            home: site.home,
            host_ns: site.host_ns,
            host_ino: site.host_ino,
            host: site.host,
            in_host: site.in_host,
            senders: site.senders,
            pod_ns: None,
            pod_ino: 0,
            pod: None,
            undo: Vec::new(),
            changes: Vec::new(),
            announced: Vec::new(),
            inject,
            step: 0,
        };
        match self.attach_steps(&mut cx) {
            Ok(a) => Ok(a),
            Err(e) => {
                cx.rollback();
                Err(e)
            }
        }
    }

    /// Checks that fail before anything is changed.
    fn preflight(&self, cx: &Ctx, pod_ns_exists: bool) -> Result<Preflight> {
        let uplink = cx.host.link_get(self.uplink.clone()).map_err(|e| with_what(e, "uplink"))?;
        // The LAN-facing interface as it is now: the uplink, or its VLAN
        // device (`None`: not made yet).
        let lan = match self.vlan {
            None => Some(uplink.clone()),
            Some(vid) => {
                let v = link_opt(cx.host, &self.lan_ifname())?;
                if let Some(v) = &v {
                    if v.kind.as_deref() != Some("vlan") || v.vlan_id != Some(vid) || v.link != Some(uplink.index) {
                        return Err(conflict(
                            format!("dev {}", self.lan_ifname()),
                            format!("exists but is not VLAN {vid} of {}", self.uplink),
                        ));
                    }
                }
                v
            }
        };
        if let Mode::Bridge(br) = &self.mode {
            let b = cx.host.link_get(br.clone()).map_err(|e| with_what(e, "bridge"))?;
            if b.kind.as_deref() != Some("bridge") {
                return Err(conflict(format!("dev {br}"), "is not a bridge"));
            }
        }
        let mut existing = link_opt(cx.host, &self.host_ifname)?;
        // A tombstone holding the name (a re-attach right after a detach):
        // it is dead already, and its delete was only deferred; this
        // attach waits for that one delete (the pod end goes with it).
        if let Some(l) = existing.as_ref().filter(|l| l.group == TOMBSTONE_GROUP) {
            ignore_missing(cx.host.link_del(l.index))?;
            existing = None;
        }
        if let Some(l) = &existing {
            // Ours only if its mark (when it has one) names this attachment
            // and this pod namespace, and it is a veth whose peer is the pod
            // interface.
            if let Some(m) = l.alias.as_deref().and_then(OwnerMark::parse) {
                if m.attachment_id != self.attachment_id {
                    return Err(conflict(
                        format!("dev {}", self.host_ifname),
                        format!("belongs to attachment {}", m.attachment_id),
                    ));
                }
                if m.pod_netns_inode != cx.pod_ino {
                    return Err(conflict(
                        format!("dev {}", self.host_ifname),
                        format!(
                            "belongs to another sandbox of attachment {} (pod netns inode {}, not {}): detach that first",
                            m.attachment_id, m.pod_netns_inode, cx.pod_ino
                        ),
                    ));
                }
            }
            let pod_if = match (pod_ns_exists, cx.pod.as_ref()) {
                (true, Some(p)) => link_opt(p, &self.pod_ifname)?,
                _ => None,
            };
            let paired = l.kind.as_deref() == Some("veth")
                && pod_if.as_ref().is_some_and(|p| p.link == Some(l.index) && l.link == Some(p.index));
            if !paired {
                return Err(conflict(
                    format!("dev {}", self.host_ifname),
                    format!(
                        "a link of that name exists and is not the veth peer of {} in {}",
                        self.pod_ifname, self.pod_netns
                    ),
                ));
            }
        } else if let (true, Some(p)) = (pod_ns_exists, cx.pod.as_ref()) {
            let pod_if = link_opt(p, &self.pod_ifname)?;
            // The pod end of another veth's tombstone: deleted as above.
            let tomb = match pod_if
                .as_ref()
                .filter(|p| p.kind.as_deref() == Some("veth"))
                .and_then(|p| p.link.map(|i| (p, i)))
            {
                Some((p, peer)) => match cx.host.link_get_index(peer) {
                    Ok(h) if h.group == TOMBSTONE_GROUP && h.link == Some(p.index) => Some(h.index),
                    Ok(_) => None,
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            if let Some(t) = tomb {
                ignore_missing(cx.host.link_del(t))?;
            } else if pod_if.is_some() {
                return Err(conflict(
                    format!("dev {} in {}", self.pod_ifname, self.pod_netns),
                    "the pod already has a link of that name",
                ));
            }
        }
        let mut lan_has_address = true;
        if let (Mode::Routed, Some(a)) = (&self.mode, &self.ipv4) {
            // The host resolves the gateway on the LAN interface with ARP,
            // whose sender address the kernel takes from that interface or,
            // failing that, from any other (`inet_select_addr()`): without
            // an address in the floating subnet it would ARP from another
            // subnet, which switches and gateways may drop.
            lan_has_address = match &lan {
                Some(l) => {
                    cx.host.addrs(Some(l.index))?.iter().any(|x| x.prefix.is_ipv4() && x.prefix.contains(a.gateway))
                }
                None => false,
            };
            if !lan_has_address && self.lan_address.is_none() {
                return Err(Error::invalid(
                    "lan interface",
                    self.lan_ifname(),
                    format!(
                        "has no IPv4 address in the subnet of the gateway {}: the host would ARP for it from another subnet; \
                         add one, or give the spec a lan_address",
                        a.gateway
                    ),
                ));
            }
        }
        if self.mode == Mode::Routed {
            for a in self.addrs() {
                let ip = a.address.addr();
                match cx.host.route_get_fibmatch(ip) {
                    Ok(r) if r.dst.is_host() && r.dst.addr() == ip && r.oif != existing.as_ref().map(|l| l.index) => {
                        return Err(conflict(
                            format!("route {}", a.host_prefix()),
                            format!("already routed to {} in {}", oif_text(cx.host, r.oif), self.host_netns),
                        ));
                    }
                    Ok(_) => {}
                    Err(e) if e.is_unreachable() || e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(Preflight { uplink, lan, existing, lan_has_address })
    }

    fn attach_steps(&self, cx: &mut Ctx) -> Result<Attached> {
        // The pod namespace: open, or create (undo: delete).
        let mut pod_ns_exists = true;
        let mut pod_handle = None;
        let pod_ns = match (&self.pod_netns, self.create_pod_netns) {
            // Create first (O_EXCL), open when it exists: a new pod, the
            // common case, costs no failed lookup.
            (NetnsRef::Name(n), true) => {
                cx.step("create pod netns")?;
                match Netns::create_then(n, Some(cx.home), Handle::open_here) {
                    Ok((ns, h)) => {
                        pod_ns_exists = false;
                        cx.done(format!("ip netns add {n}"), Some(Undo::DeleteNetns(n.clone())));
                        pod_handle = Some(h);
                        ns
                    }
                    Err(e) if e.is_already_exists() => Netns::open(n)?,
                    Err(e) => return Err(e),
                }
            }
            (r, _) => r.open().map_err(|e| with_what(e, "pod netns"))?,
        };
        cx.pod_ino = pod_ns.inode()?;
        if cx.pod_ino == cx.host_ino {
            return Err(super::same_netns(self));
        }
        cx.pod = Some(match pod_handle {
            Some(h) => h,
            None => Handle::in_netns_from(&pod_ns, Some(cx.home))?,
        });
        cx.pod_ns = Some(pod_ns);

        let Preflight { uplink, lan, existing, lan_has_address } = self.preflight(cx, pod_ns_exists)?;

        // The LAN-facing interface: the uplink, or its VLAN (created if missing).
        let lan = match lan {
            Some(l) => l,
            None => {
                let vid = self.vlan.expect("only a VLAN device can be missing");
                let name = self.lan_ifname();
                cx.step("create vlan")?;
                cx.host.vlan_add(&name, uplink.index, vid)?;
                // Shared by every pod on the VLAN: a rollback leaves it
                // (a concurrent attach may be using it already).
                cx.done(format!("ip link add link {} name {name} type vlan id {vid}", self.uplink), None);
                let l = cx.host.link_get(name)?;
                cx.step("vlan up")?;
                cx.host.link_set_up(l.index)?;
                l
            }
        };
        // The veths take the LAN interface's MTU (a VLAN's, not its
        // parent's) unless the spec says otherwise.
        let mtu = self.mtu.unwrap_or(lan.mtu);
        if let (Mode::Routed, Some(p), Some(_)) = (&self.mode, self.lan_address, &self.ipv4) {
            // Preflight looked: none in the subnet (or no device yet).
            if !lan_has_address {
                cx.step("lan address")?;
                // Shared by every pod of the interface, like a VLAN device
                // floatip creates: never undone.
                if ignore_exists(cx.host.addr_add(lan.index, p, AddrOptions::default()))? {
                    cx.done(format!("ip addr add {p} dev {}", lan.name), None);
                }
            }
        }

        // The conflict probe, when asked for: after the LAN interface is
        // settled (a VLAN device and LAN address are shared and never
        // undone, and the ARP request to proxies needs that address), and
        // before anything of this attachment answers for the IP on the LAN
        // (the proxy entry, blanket proxy_arp, in bridge mode the pod's
        // address on the bridge). So whatever answers is another node, and
        // a conflict leaves nothing of this attachment to undo but a pod
        // netns it created.
        let probe = match &self.conflict_probe {
            Some(opts) => Some(self.probe(cx, &lan, opts)?),
            None => None,
        };

        // The veth pair, the pod end created directly in the pod netns with
        // both MACs given at creation (udev may rewrite a MAC set later).
        let host_if = match existing {
            Some(l) => l,
            None => {
                cx.step("create veth")?;
                let spec = VethSpec {
                    name: self.host_ifname.clone(),
                    mac: Some(self.host_mac),
                    peer: self.pod_ifname.clone(),
                    peer_mac: Some(self.pod_mac),
                    peer_netns: cx.pod_ns.as_ref(),
                    mtu: Some(mtu),
                };
                cx.host.veth_add(&spec)?;
                cx.done(
                    format!(
                        "ip link add {} mtu {mtu} type veth peer name {} {}",
                        self.host_ifname, self.pod_ifname, self.pod_netns
                    ),
                    Some(Undo::DeleteHostLink(self.host_ifname.clone())),
                );
                cx.host.link_get(self.host_ifname.clone())?
            }
        };
        // The owner mark, right after creation (the kernel ignores an alias
        // in the create message); also on a veth adopted without one.
        let mark = self.owner_mark(cx.pod_ino);
        let alias = mark.to_alias();
        if host_if.alias.as_deref() != Some(alias.as_str()) {
            cx.step("mark host veth")?;
            cx.host.link_set_alias(host_if.index, &alias)?;
            cx.done(format!("ip link set {} alias \"{alias}\"", self.host_ifname), None);
        }
        // An existing veth whose MTU drifted (set by hand, or a LAN
        // interface whose MTU changed since): both ends back to it.
        if host_if.mtu != mtu {
            cx.step("host veth mtu")?;
            cx.host.link_set_mtu(host_if.index, mtu)?;
            cx.done(
                format!("ip link set {} mtu {mtu}", self.host_ifname),
                Some(Undo::SetMtu { in_pod: false, index: host_if.index, mtu: host_if.mtu }),
            );
        }
        let pod_if = cx.pod().link_get(self.pod_ifname.clone())?;
        if pod_if.mtu != mtu {
            cx.step("pod veth mtu")?;
            cx.pod().link_set_mtu(pod_if.index, mtu)?;
            cx.done(
                format!("ip -n POD link set {} mtu {mtu}", self.pod_ifname),
                Some(Undo::SetMtu { in_pod: true, index: pod_if.index, mtu: pod_if.mtu }),
            );
        }

        // Pod side. The peer could not be set up in the creation message
        // (ENOTCONN): RTM_SETLINK from a socket inside the pod netns.
        if self.ipv6.is_some() {
            // DAD on a point-to-point veth's link-local address is pointless
            // and, while it runs (1-2 s), the address is unusable: NDP
            // between the two ends goes unanswered. Off before link up.
            cx.sysctl(true, SysctlKey::ipv6_conf(&self.pod_ifname, "accept_dad")?, "0")?;
        }
        if !pod_if.up {
            cx.step("pod veth up")?;
            cx.pod().link_set_up(pod_if.index)?;
            cx.done(format!("ip -n POD link set {} up", self.pod_ifname), None);
        }
        let routed = self.mode == Mode::Routed;
        for a in self.addrs() {
            let v6 = !a.address.is_ipv4();
            // IPv6: nodad, or the pod waits 1-2 s for DAD. In routed mode
            // also noprefixroute: the host answers NDP only for proxied
            // addresses, so every destination must go via the gateway.
            let opts = AddrOptions { nodad: v6, noprefixroute: v6 && routed };
            cx.step("pod address")?;
            if ignore_exists(cx.pod().addr_add(pod_if.index, a.address, opts))? {
                cx.done(
                    format!(
                        "ip -n POD addr add {} dev {}{}",
                        a.address,
                        self.pod_ifname,
                        if v6 { " nodad" } else { "" }
                    ),
                    Some(Undo::DeleteAddr { index: pod_if.index, prefix: a.address }),
                );
            }
            let mut dflt = Route::default_via(a.gateway).dev(pod_if.index);
            if v6 && routed {
                dflt = dflt.onlink();
            }
            cx.step("pod default route")?;
            if ignore_exists(cx.pod().route_add(&dflt))? {
                cx.done(
                    format!("ip -n POD route add default via {} dev {}", a.gateway, self.pod_ifname),
                    Some(Undo::DeleteRoute { in_pod: true, route: dflt }),
                );
            } else {
                let r = default_route(cx.pod(), v6)?;
                if r.as_ref().and_then(|r| r.gateway) != Some(a.gateway) {
                    return Err(conflict(
                        format!("default route in {}", self.pod_netns),
                        match r.and_then(|r| r.gateway) {
                            Some(g) => format!("exists via {g}, not via {}", a.gateway),
                            None => format!("exists without a gateway, not via {}", a.gateway),
                        },
                    ));
                }
            }
        }

        // Host side: what must precede link up, the link up, the veth's own
        // settings, then (routed mode) routes, shared settings and proxy
        // entries. The order is also the kernel's best: link up queues work
        // that takes the RTNL lock at once (linkwatch), and the sysctl
        // writes in between let it run before the next request needs that
        // lock. With every sysctl before link up instead, `perf` in the
        // compare harness showed the route add right after link up
        // spinning on the lock (`mutex_spin_on_owner`), and the attach's
        // kernel time ~7% above the same requests in this order.
        let sys = self.host_sysctls(routed)?;
        cx.sysctls(false, sys.before_up, false)?;
        if !host_if.up {
            cx.step("host veth up")?;
            cx.host.link_set_up(host_if.index)?;
            cx.done(format!("ip link set {} up", self.host_ifname), None);
        }
        cx.sysctls(false, sys.veth, false)?;
        match &self.mode {
            Mode::Bridge(br) => {
                let b = cx.host.link_get(br.clone())?;
                if host_if.master != Some(b.index) {
                    cx.step("enslave to bridge")?;
                    cx.host.link_set_master(host_if.index, Some(b.index))?;
                    cx.done(format!("ip link set {} master {br}", self.host_ifname), None);
                }
            }
            Mode::Routed => self.routed_host_steps(cx, host_if.index, &lan, sys.shared)?,
        }
        // With the IPs routed here and before the LAN is told: entries of
        // an earlier life of the IPs on this node (their flows and NAT
        // bindings) go, so that the pod's traffic starts from a clean
        // table. Not undone by a rollback: deleting stale entries is
        // idempotent, and what was deleted was stale either way.
        if self.conntrack_flush && cx.brought_ips_here() {
            let ips: Vec<IpAddr> = self.addrs().map(|a| a.address.addr()).collect();
            cx.step("conntrack flush")?;
            let n = cx.site.flush_conntrack(&ips)?;
            if let Some(c) = conntrack_change(&ips, n) {
                cx.done(c, None);
            }
        }
        // Tell the LAN: the first round now (a failure here rolls back), the
        // rest in the background once attach has succeeded.
        let announcer = match &self.announce {
            Some(opts) if opts.count > 0 => {
                let (ifindex, ifname, mac) = match &self.mode {
                    Mode::Routed => (lan.index, lan.name.clone(), opts.mac.or(lan.mac)),
                    Mode::Bridge(br) => {
                        let b = cx.host.link_get(br)?;
                        (b.index, b.name, opts.mac.or(pod_if.mac))
                    }
                };
                let mac = mac.ok_or_else(|| Error::invalid("announce", &ifname, "the interface has no MAC address"))?;
                let ips: Vec<IpAddr> = self.addrs().map(|a| a.address.addr()).collect();
                cx.step("announce")?;
                // Not before the pod can answer: its end went up first,
                // while the host end was down, and transmits only once the
                // link watcher has seen the carrier. Announced earlier, the
                // first ARP reply the pod sends is dropped and the host
                // asks again a second later (seen in 1 of ~30 attaches on a
                // busy machine).
                cx.wait_oper_up(pod_if.index)?;
                let first = AnnounceOptions { count: 1, mac: Some(mac), ..*opts };
                // A single round goes out on a sender the Host keeps (its
                // socket's close would wait for an RCU grace period); more
                // rounds on a socket of their own, which the background
                // sender closes off this path.
                let (own, frames) = if opts.count == 1 {
                    (None, cx.senders.send_round(cx.host_ns, ifindex, &ifname, mac, &ips, &first)?)
                } else {
                    let a = Announcer::with_link(cx.host_ns, ifindex, &ifname, mac)?;
                    let f = a.send_round(&ips, &first)?;
                    (Some(a), f)
                };
                let list: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
                cx.announced.push(format!(
                    "announce {} from dev {ifname} ({mac}), round 1 of {}",
                    list.join(" "),
                    opts.count
                ));
                Some((own, ips, AnnounceOptions { mac: Some(mac), ..*opts }, AnnounceReport { rounds: 1, frames }))
            }
            _ => None,
        };
        // lo last: bringing it up cannot be undone exactly (the kernel adds
        // 127.0.0.1/8 and a qdisc that stay when it goes down), so no step
        // that could fail and roll back comes after it.
        let lo = cx.pod().link_get("lo")?;
        if !lo.up {
            cx.step("pod lo up")?;
            cx.pod().link_set_up(lo.index)?;
            cx.done("ip -n POD link set lo up".into(), None);
        }
        // The remaining rounds: the first was sent already, so the
        // background sender starts one interval from now.
        let announcement = match announcer {
            Some((Some(a), ips, opts, first)) if opts.count > 1 => {
                let bg = a.spawn_after_first(&ips, opts, first)?;
                register_announcement(cx.host_ino, &self.attachment_id, bg.stopper());
                Some(bg)
            }
            _ => None,
        };
        Ok(Attached {
            attachment_id: self.attachment_id.clone(),
            mark,
            announcement,
            probe,
            announced: std::mem::take(&mut cx.announced),
            host_ifindex: host_if.index,
            pod_ifindex: pod_if.index,
            host_mac: host_if.mac,
            uplink_ifindex: lan.index,
            uplink_mac: lan.mac,
            changes: std::mem::take(&mut cx.changes),
        })
    }

    /// The conflict probe on the interface the announcement goes out of
    /// (routed: the LAN interface; bridge: the bridge), from its MAC. This
    /// node's other MACs (the announced one, in bridge mode the pod's and
    /// the host veth's: on a re-attach the pod's kernel answers for its own
    /// address) are not conflicts.
    fn probe(&self, cx: &mut Ctx, lan: &Link, opts: &ProbeOptions) -> Result<ProbeReport> {
        let dev = match &self.mode {
            Mode::Routed => lan.clone(),
            Mode::Bridge(br) => cx.host.link_get(br)?,
        };
        let mac =
            dev.mac.ok_or_else(|| Error::invalid("conflict probe", &dev.name, "the interface has no MAC address"))?;
        let mut own: Vec<Mac> = self.announce.and_then(|a| a.mac).into_iter().collect();
        if let Mode::Bridge(_) = self.mode {
            own.extend([self.pod_mac, self.host_mac]);
        }
        let v4 = match (opts.ask_proxies, &self.ipv4) {
            (true, Some(_)) => {
                cx.host.addrs(Some(dev.index))?.into_iter().map(|a| a.prefix).filter(|p| p.is_ipv4()).collect()
            }
            _ => Vec::new(),
        };
        let ips: Vec<IpAddr> = self.addrs().map(|a| a.address.addr()).collect();
        cx.step("conflict probe")?;
        let p = Prober::with_link(cx.host_ns, dev.index, &dev.name, mac)?.own_macs(own).lan_addresses(v4);
        p.require_clear(&ips, opts)
    }

    /// The host namespace's sysctls, in the order they must be written.
    fn host_sysctls(&self, routed: bool) -> Result<HostSysctls> {
        let hv = &self.host_ifname;
        let lan = self.lan_ifname();
        let mut v = Vec::new();
        let mut out = HostSysctls::default();
        if self.ipv6.is_some() {
            // DAD on a point-to-point veth is pointless, and while it runs
            // NDP between the two ends goes unanswered.
            v.push((SysctlKey::ipv6_conf(hv, "accept_dad")?, "0"));
        } else if routed && ipv6_enabled() {
            // An IPv4-only pod needs no IPv6 on its host veth. Left on, each
            // host veth adds a link-local and a multicast route that the
            // kernel keeps under one prefix node per table, so every new pod
            // costs more than the last (measured: the 1000th attach 1.6x
            // the first; flat with this). Off before link up, so those
            // routes are never made.
            v.push((SysctlKey::ipv6_conf(hv, "disable_ipv6")?, "1"));
        }
        out.before_up = v;
        if !routed {
            return Ok(out);
        }
        let (veth, shared) = (&mut out.veth, &mut out.shared);
        if self.ipv4.is_some() {
            // proxy_delay before proxy_arp: the reverse order has crashed
            // older kernels, and a delay would hold the pod's first ARP.
            veth.push((SysctlKey::ipv4_neigh(hv, "proxy_delay")?, "0"));
            veth.push((SysctlKey::ipv4_conf(hv, "proxy_arp")?, "1"));
            // Proxy ARP answers only with forwarding on the receiving side.
            // `ip_forward` turns it on for every device, but a writer that
            // cannot take RTNL at once sets the value, puts the old one back
            // and restarts (`devinet_sysctl_forward()` in
            // `net/ipv4/devinet.c`): a concurrent attach can read the 1 in
            // between, skip its own write and return before any device
            // forwards. The devices this pod depends on are written too;
            // such a write returns only once the kernel applied it.
            veth.push((SysctlKey::ipv4_conf(hv, "forwarding")?, "1"));
            shared.push((SysctlKey::ipv4_forward(), "1"));
            shared.push((SysctlKey::ipv4_conf(&lan, "forwarding")?, "1"));
            shared.push((SysctlKey::ipv4_neigh(&lan, "proxy_delay")?, "0"));
            if self.uplink_arp == UplinkArp::ProxyArp {
                shared.push((SysctlKey::ipv4_conf(&lan, "proxy_arp")?, "1"));
            }
        }
        if self.ipv6.is_some() {
            let all = IfName::new("all").expect("valid");
            veth.push((SysctlKey::ipv6_neigh(hv, "proxy_delay")?, "0"));
            veth.push((SysctlKey::ipv6_conf(hv, "proxy_ndp")?, "1"));
            shared.push((SysctlKey::ipv6_conf(&all, "forwarding")?, "1"));
            // The LAN interface answers NDP for proxy entries only while it
            // forwards itself (`ndisc_recv_ns()` reads the receiving
            // device's `forwarding`): `all.forwarding` sets it on every
            // device once, this keeps it when it was turned off since.
            shared.push((SysctlKey::ipv6_conf(&lan, "forwarding")?, "1"));
            shared.push((SysctlKey::ipv6_neigh(&lan, "proxy_delay")?, "0"));
            shared.push((SysctlKey::ipv6_conf(&lan, "proxy_ndp")?, "1"));
        }
        Ok(out)
    }

    /// Routes, shared settings and proxy entries of the routed mode.
    fn routed_host_steps(
        &self,
        cx: &mut Ctx,
        host_if: u32,
        lan_link: &Link,
        shared: Vec<(SysctlKey, &'static str)>,
    ) -> Result<()> {
        let hv = &self.host_ifname;
        let lan = self.lan_ifname();
        let lan_if = lan_link.index;
        if let Some(a) = &self.ipv4 {
            self.host_route(cx, a, host_if)?;
        }
        if self.ipv6.is_some() {
            self.keep_router_advertisements(cx)?;
        }
        // Forwarding and the uplink's settings, shared by every pod: before
        // the proxy entries that make the uplink answer for this one.
        cx.sysctls(false, shared, true)?;
        // The pod's egress rules (and its LAN interface's table), before
        // the proxy entries draw the LAN's traffic here.
        if let Some(plan) = self.rule_plan() {
            self.policy_rules(cx, &plan, lan_if)?;
        }
        if let Some(a) = &self.ipv4 {
            if self.uplink_arp == UplinkArp::ProxyEntry {
                self.proxy_entry(cx, lan_if, &lan, a.address.addr())?;
            }
        }
        if let Some(a) = &self.ipv6 {
            // The pod resolves its gateway through the host veth: the kernel
            // answers NDP only for proxy entries, so one for the gateway.
            self.proxy_entry(cx, host_if, hv, a.gateway)?;
            self.host_route(cx, a, host_if)?;
            self.proxy_entry(cx, lan_if, &lan, a.address.addr())?;
        }
        Ok(())
    }

    /// The table of the LAN interface (ensured, shared) and the pod's
    /// rules (undone by a rollback), under the table's lock.
    fn policy_rules(&self, cx: &mut Ctx, plan: &RulePlan, lan_if: u32) -> Result<()> {
        let ips: Vec<IpAddr> = self.addrs().map(|a| a.address.addr()).collect();
        let rules = policy::pod_rules(plan, self.host_ifname.as_str(), &ips, self.route_protocol);
        let _table = match plan.policy_routing() {
            true => Some(policy::table_lock(plan.table)?),
            false => None,
        };
        if plan.policy_routing() {
            let routes = policy::table_routes(plan.table, lan_if, &self.gateways(), self.route_protocol);
            cx.step("policy table")?;
            let added = policy::ensure_table(cx.host, plan.table, &routes)?;
            let mut families = Vec::new();
            for (r, v4) in added {
                // Shared with the LAN interface's other pods, so not undone
                // route by route: the table is released (emptied if no
                // rule uses it) once this attach's rules are undone.
                let first = !families.contains(&v4);
                families.push(v4);
                let undo =
                    first.then_some(Undo::ReleaseTable { table: plan.table, ipv4: v4, protocol: self.route_protocol });
                cx.done(format!("ip route add {r}"), undo);
            }
        }
        for r in rules {
            cx.step("policy rule")?;
            if ignore_exists(cx.host.rule_add(&r))? {
                cx.done(format!("ip rule add {r}"), Some(Undo::DeleteRule(r)));
            }
        }
        Ok(())
    }

    /// Before IPv6 forwarding is turned on (first on the node, or again on
    /// a LAN interface where it was turned off): every interface that
    /// accepts router advertisements (`accept_ra=1`) is told to keep doing
    /// so while forwarding (`accept_ra=2`). Otherwise turning on
    /// `all.forwarding` stops RAs there and the kernel purges the routes
    /// they taught (`addrconf_fixup_forwarding()` ->
    /// `rt6_purge_dflt_routers()`), often the node's own default route.
    /// Shared, never undone. Host veths are left alone: a pod must not
    /// teach the host routes.
    fn keep_router_advertisements(&self, cx: &mut Ctx) -> Result<()> {
        let all = IfName::new("all").expect("valid");
        let forwards = |dev: &IfName| -> Result<bool> {
            Ok(cx.host_ns.sysctl_get_from(&SysctlKey::ipv6_conf(dev, "forwarding")?, Some(cx.home))? == "1")
        };
        if forwards(&all)? && forwards(&self.lan_ifname())? {
            return Ok(());
        }
        let names: Vec<String> = {
            let _inside = match cx.in_host {
                true => None,
                false => Some(cx.host_ns.enter_from(Some(cx.home))?),
            };
            let dir = "/proc/sys/net/ipv6/conf";
            std::fs::read_dir(dir)
                .map_err(|e| Error::io("list", dir, e))?
                .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
                .collect()
        };
        for n in names {
            if n == "all" || n == "default" || n == self.host_ifname.as_str() {
                continue;
            }
            let Ok(dev) = IfName::new(&n) else { continue };
            let get =
                |p: &str| SysctlKey::ipv6_conf(&dev, p).and_then(|k| cx.host_ns.sysctl_get_from(&k, Some(cx.home)));
            // Gone meanwhile, or IPv6 off there: nothing to keep.
            match (get("accept_ra"), get("disable_ipv6")) {
                (Ok(ra), Ok(off)) if ra == "1" && off == "0" => {}
                _ => continue,
            }
            cx.step("keep router advertisements")?;
            let key = SysctlKey::ipv6_conf(&dev, "accept_ra")?;
            match cx.host_ns.sysctl_replace_from(&key, "2", Some(cx.home)) {
                Ok(old) if old != "2" => cx.done(format!("sysctl -w {key}=2"), None),
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn host_route(&self, cx: &mut Ctx, a: &FloatingAddr, host_if: u32) -> Result<()> {
        let r = Route::to(a.host_prefix()).dev(host_if).protocol(self.route_protocol);
        cx.step("host route")?;
        if ignore_exists(cx.host.route_add(&r))? {
            cx.done(
                format!(
                    "ip route add {} dev {} scope link proto {}",
                    a.host_prefix(),
                    self.host_ifname,
                    self.route_protocol
                ),
                Some(Undo::DeleteRoute { in_pod: false, route: r }),
            );
        } else {
            // There already: fine only if it leads to this attachment's veth.
            let found = cx.host.route_get_fibmatch(a.address.addr())?;
            if found.dst != a.host_prefix() || found.oif != Some(host_if) {
                return Err(conflict(
                    format!("route {}", a.host_prefix()),
                    format!("exists and leads to {}, not {}", oif_text(cx.host, found.oif), self.host_ifname),
                ));
            }
        }
        Ok(())
    }

    fn proxy_entry(&self, cx: &mut Ctx, index: u32, dev: &IfName, ip: IpAddr) -> Result<()> {
        cx.step("proxy entry")?;
        // The kernel accepts a duplicate proxy add silently: look first, so
        // that a rollback only removes an entry this attach made.
        if cx.host.neigh_proxy_get(index, ip)?.is_some() {
            return Ok(());
        }
        cx.host.neigh_proxy_add_protocol(index, ip, self.route_protocol)?;
        cx.done(
            format!("ip neigh add proxy {ip} dev {dev} protocol {}", self.route_protocol),
            Some(Undo::DeleteProxy { index, ip }),
        );
        Ok(())
    }
}

/// An output interface for messages: its name when it still exists.
fn oif_text(h: &Handle, oif: Option<u32>) -> String {
    match oif {
        Some(i) => match h.link_get_index(i) {
            Ok(l) => format!("dev {}", l.name),
            Err(_) => format!("ifindex {i}"),
        },
        None => "no device".into(),
    }
}

//! Floating IPs: attach, detach and check a pod's floating address.
//!
//! The routed ("pure L3") dataplane, per pod (see `docs/guide.md` for the
//! kernel reasons behind every step):
//!
//! | where | what |
//! |---|---|
//! | pod netns | veth end holding the floating IP, up; `lo` up; default route via the gateway |
//! | host netns | the other veth end, up, no address; `IP/32 dev <host veth> scope link` |
//! | host netns | `neigh.<host veth>.proxy_delay=0`, then `conf.<host veth>.proxy_arp=1` |
//! | host netns | `neigh.<uplink>.proxy_delay=0` and `ip neigh add proxy IP dev <uplink>` (or blanket `proxy_arp` on the uplink) |
//! | host netns | `net.ipv4.ip_forward=1` |
//!
//! IPv6 follows the same pattern with NDP: a `/128` host route, `forwarding`
//! and `proxy_ndp` with per-address proxy entries (the kernel answers NDP for
//! proxied addresses only through such entries), the pod address added with
//! `nodad` and `noprefixroute` so that all its traffic goes through the host.
//!
//! Bridge mode instead enslaves the host veth to an existing bridge: no host
//! route, no proxy ARP; the pod is directly on the LAN's layer 2.
//!
//! [`FloatingIp::attach`] is all or nothing: every step records how to undo
//! itself, and a failure undoes the steps done so far in reverse.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::address::AddrOptions;
use crate::announce::{AnnounceOptions, AnnounceReport, Announcer, BackgroundAnnounce};
use crate::error::{Error, Result};
use crate::host::{Call, Host};
use crate::link::{Link, VethSpec};
use crate::name::{validate_netns_name, IfName};
use crate::netlink::Handle;
use crate::netns::Netns;
use crate::prefix::IpPrefix;
use crate::route::{Route, RouteFilter};
use crate::sysctl::SysctlKey;
use crate::wire::Mac;

/// Which network namespace, by reference: resolved when a verb runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetnsRef {
    /// The calling thread's namespace.
    Current,
    /// A named namespace under `/run/netns`.
    Name(String),
    /// A path such as `/proc/PID/ns/net` or `/var/run/netns/X`.
    Path(PathBuf),
}

impl NetnsRef {
    pub(crate) fn open(&self) -> Result<Netns> {
        match self {
            NetnsRef::Current => Netns::current(),
            NetnsRef::Name(n) => Netns::open(n),
            NetnsRef::Path(p) => Netns::open_path(p),
        }
    }
}

impl fmt::Display for NetnsRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetnsRef::Current => f.write_str("current netns"),
            NetnsRef::Name(n) => write!(f, "netns {n}"),
            NetnsRef::Path(p) => write!(f, "netns {}", p.display()),
        }
    }
}

/// How LAN neighbours' ARP/NDP requests for the pod's address get answered
/// by the host's uplink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UplinkArp {
    /// A proxy neighbour entry for exactly the pod's address
    /// (`ip neigh add proxy IP dev UPLINK`): the precise tool.
    #[default]
    ProxyEntry,
    /// Blanket `proxy_arp=1` on the uplink, as the original write-up did.
    /// It answers for *every* address the host routes elsewhere (overlay
    /// pod CIDRs, other pods). IPv6 has no blanket form: proxy entries are
    /// used for IPv6 either way.
    ProxyArp,
}

/// Routed (the default) or bridge mode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// Pure L3: no bridge; the host routes the pod's traffic.
    #[default]
    Routed,
    /// The host veth is enslaved to this existing bridge.
    Bridge(IfName),
}

/// One floating address of a pod and the LAN gateway of its subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloatingAddr {
    /// The floating IP with the LAN's prefix length (`10.0.0.100/23`).
    pub address: IpPrefix,
    /// The LAN gateway (`10.0.0.1`); for IPv6 also a link-local address.
    pub gateway: IpAddr,
}

impl FloatingAddr {
    /// Checks the address against its gateway and subnet.
    pub fn new(address: IpPrefix, gateway: IpAddr) -> Result<Self> {
        let ip = address.addr();
        let bad = |reason: &str| Err(Error::invalid("floating ip", format!("{address} via {gateway}"), reason));
        if ip.is_ipv4() != gateway.is_ipv4() {
            return bad("address and gateway are of different families");
        }
        if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() {
            return bad("not a unicast address");
        }
        if ip == gateway {
            return bad("the floating IP equals the gateway");
        }
        match ip {
            IpAddr::V4(v4) => {
                if v4.is_broadcast() {
                    return bad("not a unicast address");
                }
                if !address.contains(gateway) {
                    return bad("the gateway is outside the prefix");
                }
                if address.len() <= 30 {
                    if ip == address.network().addr() {
                        return bad("the floating IP is the network address of its prefix");
                    }
                    if Some(v4) == address.broadcast() {
                        return bad("the floating IP is the broadcast address of its prefix");
                    }
                }
            }
            IpAddr::V6(v6) => {
                if v6.segments()[0] & 0xffc0 == 0xfe80 {
                    return bad("a link-local address cannot float");
                }
                let IpAddr::V6(gw) = gateway else { unreachable!("families checked") };
                let gw_link_local = gw.segments()[0] & 0xffc0 == 0xfe80;
                if !gw_link_local && !address.contains(gateway) {
                    return bad("the gateway is neither in the prefix nor link-local");
                }
                if address.len() < 127 && ip == address.network().addr() {
                    return bad("the floating IP is the subnet-router anycast address of its prefix");
                }
            }
        }
        Ok(FloatingAddr { address, gateway })
    }

    fn host_prefix(&self) -> IpPrefix {
        IpPrefix::host(self.address.addr())
    }
}

/// A validated floating-IP spec. Build it with [`FloatingIp::builder`].
///
/// ```no_run
/// use floatip::floating::FloatingIp;
/// # fn main() -> floatip::Result<()> {
/// let fip = FloatingIp::builder("default/web-0", "eth1")
///     .pod_netns_path("/var/run/netns/cni-1234")
///     .ipv4("10.0.0.100/23", "10.0.0.1")
///     .build()?;
/// let done = fip.attach()?;      // all or nothing
/// println!("{done}");
/// assert!(fip.check()?.is_empty());
/// fip.detach()?;                 // idempotent
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloatingIp {
    /// The key the default interface names derive from (`namespace/pod`).
    pub pod_key: String,
    /// The pod's namespace.
    pub pod_netns: NetnsRef,
    /// Create the pod namespace (by name) if missing; detach deletes it.
    pub create_pod_netns: bool,
    /// The host side's namespace (default: the current one).
    pub host_netns: NetnsRef,
    /// The IPv4 floating address, if any.
    pub ipv4: Option<FloatingAddr>,
    /// The IPv6 floating address, if any.
    pub ipv6: Option<FloatingAddr>,
    /// The uplink on the LAN (`bond1`).
    pub uplink: IfName,
    /// VLAN id: the uplink becomes `<uplink>.<vid>`, created if missing.
    pub vlan: Option<u16>,
    /// Host-side veth name (default `fip` + 12 hex digits of a hash of the key).
    pub host_ifname: IfName,
    /// Pod-side veth name (default `eth0`).
    pub pod_ifname: IfName,
    /// MTU of both veth ends (default: the uplink's).
    pub mtu: Option<u32>,
    /// MAC of the host end (default: kernel-chosen).
    pub host_mac: Option<Mac>,
    /// MAC of the pod end (default: kernel-chosen).
    pub pod_mac: Option<Mac>,
    /// How the uplink answers LAN ARP for the pod.
    pub uplink_arp: UplinkArp,
    /// Routed or bridge mode.
    pub mode: Mode,
    /// Announce the floating IPs after attach (gratuitous ARP, unsolicited
    /// NA): on by default in routed mode; `None` turns it off.
    pub announce: Option<AnnounceOptions>,
}

/// Builds a [`FloatingIp`]; [`FloatingIpBuilder::build`] validates it all
/// before anything touches the kernel.
#[derive(Debug, Clone)]
pub struct FloatingIpBuilder {
    pod_key: String,
    uplink: String,
    pod_netns: Option<NetnsRef>,
    create_pod_netns: bool,
    host_netns: NetnsRef,
    ipv4: Option<(String, String)>,
    ipv6: Option<(String, String)>,
    vlan: Option<u16>,
    host_ifname: Option<String>,
    pod_ifname: Option<String>,
    mtu: Option<u32>,
    host_mac: Option<Mac>,
    pod_mac: Option<Mac>,
    uplink_arp: UplinkArp,
    bridge: Option<String>,
    announce: Option<Option<AnnounceOptions>>,
}

impl FloatingIp {
    /// Starts a spec for the pod `pod_key` on the LAN behind `uplink`.
    pub fn builder(pod_key: impl Into<String>, uplink: impl Into<String>) -> FloatingIpBuilder {
        FloatingIpBuilder {
            pod_key: pod_key.into(),
            uplink: uplink.into(),
            pod_netns: None,
            create_pod_netns: false,
            host_netns: NetnsRef::Current,
            ipv4: None,
            ipv6: None,
            vlan: None,
            host_ifname: None,
            pod_ifname: None,
            mtu: None,
            host_mac: None,
            pod_mac: None,
            uplink_arp: UplinkArp::default(),
            bridge: None,
            announce: None,
        }
    }

    /// The default host-side interface name for a pod key: `fip` and 12 hex
    /// digits of its FNV-1a hash, 15 bytes in all.
    pub fn default_host_ifname(pod_key: &str) -> IfName {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in pod_key.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
        IfName::new(format!("fip{:012x}", h >> 16)).expect("15 valid bytes")
    }

    /// The interface that faces the LAN: the uplink, or its VLAN device.
    pub fn lan_ifname(&self) -> IfName {
        match self.vlan {
            Some(v) => IfName::new(format!("{}.{v}", self.uplink)).expect("checked in build"),
            None => self.uplink.clone(),
        }
    }

    fn addrs(&self) -> impl Iterator<Item = &FloatingAddr> {
        self.ipv4.iter().chain(self.ipv6.iter())
    }
}

impl FloatingIpBuilder {
    /// The pod namespace by path (`/proc/PID/ns/net`, `/var/run/netns/X`),
    /// as a CNI runtime passes it.
    pub fn pod_netns_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.pod_netns = Some(NetnsRef::Path(path.into()));
        self
    }
    /// The pod namespace by name (`/run/netns/NAME`).
    pub fn pod_netns_name(mut self, name: impl Into<String>) -> Self {
        self.pod_netns = Some(NetnsRef::Name(name.into()));
        self
    }
    /// Create the pod namespace by name if it does not exist (detach then
    /// deletes it).
    pub fn create_pod_netns(mut self, name: impl Into<String>) -> Self {
        self.pod_netns = Some(NetnsRef::Name(name.into()));
        self.create_pod_netns = true;
        self
    }
    /// The host side's namespace (default: the current one).
    pub fn host_netns(mut self, netns: NetnsRef) -> Self {
        self.host_netns = netns;
        self
    }
    /// The IPv4 floating address with prefix (`10.0.0.100/23`) and gateway.
    pub fn ipv4(mut self, address: impl Into<String>, gateway: impl Into<String>) -> Self {
        self.ipv4 = Some((address.into(), gateway.into()));
        self
    }
    /// The IPv6 floating address with prefix and gateway.
    pub fn ipv6(mut self, address: impl Into<String>, gateway: impl Into<String>) -> Self {
        self.ipv6 = Some((address.into(), gateway.into()));
        self
    }
    /// Put the pod on VLAN `vid` of the uplink.
    pub fn vlan(mut self, vid: u16) -> Self {
        self.vlan = Some(vid);
        self
    }
    /// The host-side veth name.
    pub fn host_ifname(mut self, name: impl Into<String>) -> Self {
        self.host_ifname = Some(name.into());
        self
    }
    /// The pod-side veth name (default `eth0`).
    pub fn pod_ifname(mut self, name: impl Into<String>) -> Self {
        self.pod_ifname = Some(name.into());
        self
    }
    /// MTU of the veth pair.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }
    /// MACs of the host and pod ends.
    pub fn macs(mut self, host: Option<Mac>, pod: Option<Mac>) -> Self {
        self.host_mac = host;
        self.pod_mac = pod;
        self
    }
    /// How the uplink answers ARP for the pod.
    pub fn uplink_arp(mut self, how: UplinkArp) -> Self {
        self.uplink_arp = how;
        self
    }
    /// Bridge mode: enslave the host veth to this existing bridge.
    pub fn bridge(mut self, bridge: impl Into<String>) -> Self {
        self.bridge = Some(bridge.into());
        self
    }

    /// How to announce after attach (default in routed mode: 3 rounds of a
    /// gratuitous ARP request and reply, or an unsolicited NA, 1 s apart;
    /// the first before attach returns, the rest in the background).
    pub fn announce(mut self, opts: AnnounceOptions) -> Self {
        self.announce = Some(Some(opts));
        self
    }
    /// Do not announce after attach.
    pub fn no_announce(mut self) -> Self {
        self.announce = Some(None);
        self
    }

    /// Validates everything and returns the spec. Nothing is changed.
    pub fn build(self) -> Result<FloatingIp> {
        if self.pod_key.is_empty() {
            return Err(Error::invalid("pod key", "", "empty"));
        }
        let uplink = IfName::new(self.uplink)?;
        let pod_netns = self.pod_netns.ok_or_else(|| Error::invalid("pod netns", "", "no pod namespace given"))?;
        if let NetnsRef::Name(n) = &pod_netns {
            validate_netns_name(n)?;
        }
        if let NetnsRef::Name(n) = &self.host_netns {
            validate_netns_name(n)?;
        }
        let parse = |(a, g): (String, String), v4: bool| -> Result<FloatingAddr> {
            let address: IpPrefix = a.parse()?;
            let gateway: IpAddr = g.parse().map_err(|_| Error::invalid("gateway", &g, "not an IP address"))?;
            if address.is_ipv4() != v4 {
                return Err(Error::invalid(
                    "floating ip",
                    &a,
                    if v4 { "not an IPv4 address" } else { "not an IPv6 address" },
                ));
            }
            FloatingAddr::new(address, gateway)
        };
        let ipv4 = self.ipv4.map(|p| parse(p, true)).transpose()?;
        let ipv6 = self.ipv6.map(|p| parse(p, false)).transpose()?;
        if ipv4.is_none() && ipv6.is_none() {
            return Err(Error::invalid("floating ip", "", "neither an IPv4 nor an IPv6 address given"));
        }
        if let Some(v) = self.vlan {
            if v == 0 || v > 4094 {
                return Err(Error::invalid("vlan id", v, "must be 1..=4094"));
            }
            IfName::new(format!("{uplink}.{v}"))
                .map_err(|_| Error::invalid("vlan id", v, format!("{uplink}.{v} is longer than 15 bytes")))?;
        }
        let host_ifname = match self.host_ifname {
            Some(n) => IfName::new(n)?,
            None => FloatingIp::default_host_ifname(&self.pod_key),
        };
        let pod_ifname = IfName::new(self.pod_ifname.unwrap_or_else(|| "eth0".into()))?;
        if host_ifname == uplink {
            return Err(Error::invalid("host interface name", &host_ifname, "is the uplink's name"));
        }
        if let Some(m) = self.mtu {
            if !(68..=65535).contains(&m) {
                return Err(Error::invalid("mtu", m, "must be 68..=65535"));
            }
        }
        for mac in [self.host_mac, self.pod_mac].into_iter().flatten() {
            if mac.0[0] & 1 == 1 || mac.0 == [0; 6] {
                return Err(Error::invalid("mac", mac, "not a unicast MAC address"));
            }
        }
        let mode = match self.bridge {
            Some(b) => Mode::Bridge(IfName::new(b)?),
            None => Mode::Routed,
        };
        // Routed mode announces by default; bridge mode leaves it to the
        // pod (its own MAC is what the LAN must learn) unless asked.
        let announce = self.announce.unwrap_or(match mode {
            Mode::Routed => Some(AnnounceOptions::default()),
            Mode::Bridge(_) => None,
        });
        if let Some(a) = &announce {
            if a.mac.is_some_and(|m| !m.is_valid_source()) {
                return Err(Error::invalid("announce mac", a.mac.unwrap_or_default(), "not a unicast MAC address"));
            }
        }
        Ok(FloatingIp {
            pod_key: self.pod_key,
            pod_netns,
            create_pod_netns: self.create_pod_netns,
            host_netns: self.host_netns,
            ipv4,
            ipv6,
            uplink,
            vlan: self.vlan,
            host_ifname,
            pod_ifname,
            mtu: self.mtu,
            host_mac: self.host_mac,
            pod_mac: self.pod_mac,
            uplink_arp: self.uplink_arp,
            mode,
            announce,
        })
    }
}

/// What [`FloatingIp::attach`] did, step by step.
#[derive(Debug)]
pub struct Attached {
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
}

impl fmt::Display for Attached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.changes.iter().chain(&self.announced) {
            writeln!(f, "{c}")?;
        }
        Ok(())
    }
}

/// One difference between a spec and what is in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// An undo action recorded by a step of attach.
enum Undo {
    DeleteNetns(String),
    DeleteHostLink(IfName),
    Sysctl { in_pod: bool, key: SysctlKey, old: String },
    DeleteProxy { index: u32, ip: IpAddr },
    DeleteRoute { in_pod: bool, route: Route },
    DeleteAddr { index: u32, prefix: IpPrefix },
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

/// The live objects a verb works on.
struct Ctx<'a> {
    /// The calling thread's namespace: every visit to the host or pod
    /// namespace returns here.
    home: &'a Netns,
    host_ns: &'a Netns,
    host: &'a Handle,
    /// The calling thread is in the host namespace already.
    in_host: bool,
    pod_ns: Option<Netns>,
    pod: Option<Handle>,
    /// Each undo, with the index of its change in `changes`.
    undo: Vec<(usize, Undo)>,
    changes: Vec<String>,
    announced: Vec<String>,
    fail_at: Option<usize>,
    step: usize,
}

impl Ctx<'_> {
    fn pod(&self) -> &Handle {
        self.pod.as_ref().expect("pod handle opened before pod steps")
    }
    fn pod_ns(&self) -> &Netns {
        self.pod_ns.as_ref().expect("pod netns opened before pod steps")
    }

    /// Marks the start of a step; a test can make step N fail here.
    /// `what` is formatted only then.
    fn step(&mut self, what: impl fmt::Display) -> Result<()> {
        let n = self.step;
        self.step += 1;
        if self.fail_at == Some(n) {
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
        self.sysctls(in_pod, vec![(key, value)])
    }

    /// Writes several sysctls of one namespace, in order, opening all their
    /// files in one visit to the namespace; each records its old value.
    /// Nothing is written if any file is missing.
    fn sysctls(&mut self, in_pod: bool, items: Vec<(SysctlKey, &'static str)>) -> Result<()> {
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
                self.done(format!("sysctl -w {key}={value}"), Some(Undo::Sysctl { in_pod, key, old }));
            }
        }
        Ok(())
    }

    fn rollback(&mut self) {
        while let Some((what, u)) = self.undo.pop() {
            let r = match u {
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
            };
            // Objects that went away with an earlier undo (a route or a
            // sysctl of a deleted veth) are fine; anything else is reported
            // but does not stop the rest of the rollback.
            if let Err(e) = r {
                if !e.is_not_found() {
                    let what = self.changes.get(what).map(String::as_str).unwrap_or("?");
                    eprintln!("floatip: rollback of `{what}` failed: {e}");
                }
            }
        }
    }
}

fn conflict(object: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Conflict { object: object.into(), reason: reason.into() }
}

/// `None` when the link does not exist.
fn link_opt(h: &Handle, name: &IfName) -> Result<Option<Link>> {
    match h.link_get(name.clone()) {
        Ok(l) => Ok(Some(l)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn ignore_missing(r: Result<()>) -> Result<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

fn ignore_exists(r: Result<()>) -> Result<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.is_already_exists() => Ok(false),
        Err(e) => Err(e),
    }
}

impl FloatingIp {
    /// Wires the pod's floating IP(s): every step of the dataplane, in a
    /// safe order, all or nothing. Attaching the same spec again changes
    /// nothing and succeeds. A spec that conflicts with what is there (the IP
    /// routed to another interface, a name taken by another link) fails with
    /// [`ErrorKind::Conflict`](crate::ErrorKind) before any change.
    ///
    /// Each call opens the host namespace and a netlink socket in it; a
    /// node agent that attaches many pods keeps a [`Host`] and calls
    /// [`Host::attach`] instead.
    pub fn attach(&self) -> Result<Attached> {
        self.attach_inner(None)
    }

    /// Test hook: like [`FloatingIp::attach`], but step `n` (counting from
    /// 0) fails with an injected error, so tests can prove the rollback of
    /// every step. Not for production use.
    #[doc(hidden)]
    pub fn attach_failing_at(&self, n: usize) -> Result<Attached> {
        self.attach_inner(Some(n))
    }

    fn attach_inner(&self, fail_at: Option<usize>) -> Result<Attached> {
        let host = Host::open(self.host_netns.clone())?;
        self.attach_with(&host.fresh_call(), fail_at)
    }

    /// Attach, with the host side already open.
    pub(crate) fn attach_with(&self, call: &Call<'_>, fail_at: Option<usize>) -> Result<Attached> {
        let mut cx = Ctx {
            home: call.home(),
            host_ns: call.host.netns(),
            host: call.host.handle(),
            in_host: call.in_host,
            pod_ns: None,
            pod: None,
            undo: Vec::new(),
            changes: Vec::new(),
            announced: Vec::new(),
            fail_at,
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
    fn preflight(&self, cx: &Ctx, pod_ns_exists: bool) -> Result<(Link, Option<Link>)> {
        let uplink = cx.host.link_get(self.uplink.clone()).map_err(|e| with_what(e, "uplink"))?;
        if let Some(vid) = self.vlan {
            if let Some(v) = link_opt(cx.host, &self.lan_ifname())? {
                if v.kind.as_deref() != Some("vlan") || v.vlan_id != Some(vid) || v.link != Some(uplink.index) {
                    return Err(conflict(
                        format!("dev {}", self.lan_ifname()),
                        format!("exists but is not VLAN {vid} of {}", self.uplink),
                    ));
                }
            }
        }
        if let Mode::Bridge(br) = &self.mode {
            let b = cx.host.link_get(br.clone()).map_err(|e| with_what(e, "bridge"))?;
            if b.kind.as_deref() != Some("bridge") {
                return Err(conflict(format!("dev {br}"), "is not a bridge"));
            }
        }
        let existing = link_opt(cx.host, &self.host_ifname)?;
        if let Some(l) = &existing {
            // Ours only if it is a veth whose peer is the pod interface.
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
            if link_opt(p, &self.pod_ifname)?.is_some() {
                return Err(conflict(
                    format!("dev {} in {}", self.pod_ifname, self.pod_netns),
                    "the pod already has a link of that name",
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
                            format!("already routed to ifindex {:?} in {}", r.oif, self.host_netns),
                        ));
                    }
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((uplink, existing))
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
                match Netns::create_with_handle(n, Some(cx.home)) {
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
        cx.pod = Some(match pod_handle {
            Some(h) => h,
            None => Handle::in_netns_from(&pod_ns, Some(cx.home))?,
        });
        cx.pod_ns = Some(pod_ns);

        let (uplink, existing) = self.preflight(cx, pod_ns_exists)?;
        let mtu = self.mtu.unwrap_or(uplink.mtu);

        // The LAN-facing interface: the uplink, or its VLAN (created if missing).
        let lan = match self.vlan {
            None => uplink,
            Some(vid) => match link_opt(cx.host, &self.lan_ifname())? {
                Some(l) => l,
                None => {
                    let name = self.lan_ifname();
                    cx.step("create vlan")?;
                    cx.host.vlan_add(&name, uplink.index, vid)?;
                    cx.done(
                        format!("ip link add link {} name {name} type vlan id {vid}", self.uplink),
                        Some(Undo::DeleteHostLink(name.clone())),
                    );
                    let l = cx.host.link_get(name)?;
                    cx.step("vlan up")?;
                    cx.host.link_set_up(l.index)?;
                    l
                }
            },
        };

        // The veth pair, the pod end created directly in the pod netns with
        // both MACs given at creation (udev may rewrite a MAC set later).
        let host_if = match existing {
            Some(l) => l,
            None => {
                cx.step("create veth")?;
                let spec = VethSpec {
                    name: self.host_ifname.clone(),
                    mac: self.host_mac,
                    peer: self.pod_ifname.clone(),
                    peer_mac: self.pod_mac,
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
        let pod_if = cx.pod().link_get(self.pod_ifname.clone())?;

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
                        format!("exists via {:?}, not via {}", r.and_then(|r| r.gateway), a.gateway),
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
        cx.sysctls(false, sys.before_up)?;
        if !host_if.up {
            cx.step("host veth up")?;
            cx.host.link_set_up(host_if.index)?;
            cx.done(format!("ip link set {} up", self.host_ifname), None);
        }
        cx.sysctls(false, sys.veth)?;
        match &self.mode {
            Mode::Bridge(br) => {
                let b = cx.host.link_get(br.clone())?;
                if host_if.master != Some(b.index) {
                    cx.step("enslave to bridge")?;
                    cx.host.link_set_master(host_if.index, Some(b.index))?;
                    cx.done(format!("ip link set {} master {br}", self.host_ifname), None);
                }
            }
            Mode::Routed => self.routed_host_steps(cx, host_if.index, lan.index, sys.shared)?,
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
                let a = Announcer::with_link(cx.host_ns, ifindex, &ifname, mac)?;
                let first = AnnounceOptions { count: 1, mac: Some(mac), ..*opts };
                let frames = a.send_round(&ips, &first)?;
                let list: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
                cx.announced.push(format!(
                    "announce {} from dev {ifname} ({mac}), round 1 of {}",
                    list.join(" "),
                    opts.count
                ));
                Some((a, ips, AnnounceOptions { mac: Some(mac), ..*opts }, AnnounceReport { rounds: 1, frames }))
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
            Some((a, ips, opts, first)) if opts.count > 1 => Some(a.spawn_after_first(&ips, opts, first)?),
            _ => None,
        };
        Ok(Attached {
            announcement,
            announced: std::mem::take(&mut cx.announced),
            host_ifindex: host_if.index,
            pod_ifindex: pod_if.index,
            host_mac: host_if.mac,
            uplink_ifindex: lan.index,
            uplink_mac: lan.mac,
            changes: std::mem::take(&mut cx.changes),
        })
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
            shared.push((SysctlKey::ipv4_forward(), "1"));
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
        lan_if: u32,
        shared: Vec<(SysctlKey, &'static str)>,
    ) -> Result<()> {
        let hv = &self.host_ifname;
        let lan = self.lan_ifname();
        if let Some(a) = &self.ipv4 {
            self.host_route(cx, a, host_if)?;
        }
        // Forwarding and the uplink's settings, shared by every pod: before
        // the proxy entries that make the uplink answer for this one.
        cx.sysctls(false, shared)?;
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

    fn host_route(&self, cx: &mut Ctx, a: &FloatingAddr, host_if: u32) -> Result<()> {
        let r = Route::to(a.host_prefix()).dev(host_if);
        cx.step("host route")?;
        if ignore_exists(cx.host.route_add(&r))? {
            cx.done(
                format!("ip route add {} dev {} scope link", a.host_prefix(), self.host_ifname),
                Some(Undo::DeleteRoute { in_pod: false, route: r }),
            );
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
        cx.host.neigh_proxy_add(index, ip)?;
        cx.done(format!("ip neigh add proxy {ip} dev {dev}"), Some(Undo::DeleteProxy { index, ip }));
        Ok(())
    }

    /// Removes what attach made: the host veth (and with it the pod end, its
    /// addresses and routes, the host /32 route and the veth's sysctls), the
    /// uplink's proxy entries, and the pod namespace if attach created it.
    /// Shared settings (`ip_forward`, IPv6 `forwarding`, the uplink's
    /// `proxy_delay`/`proxy_ndp`, blanket `proxy_arp`) stay. Succeeds when
    /// parts are already gone: a half-attached pod, a deleted pod netns.
    /// Returns what it removed.
    pub fn detach(&self) -> Result<Vec<String>> {
        self.detach_with(Host::open(self.host_netns.clone())?.handle())
    }

    /// Detach, with a handle in the host namespace.
    pub(crate) fn detach_with(&self, host: &Handle) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        if let Some(l) = link_opt(host, &self.host_ifname)? {
            if l.kind.as_deref() != Some("veth") {
                return Err(conflict(format!("dev {}", self.host_ifname), "exists but is not a veth: not removing it"));
            }
            if ignore_missing(host.link_del(l.index))? {
                removed.push(format!("ip link del {}", self.host_ifname));
            }
        }
        removed.extend(self.detach_rest(host)?);
        Ok(removed)
    }

    /// What detach removes besides the veth: the uplink's proxy entries and
    /// a pod namespace that attach created.
    fn detach_rest(&self, host: &Handle) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        if self.mode == Mode::Routed {
            if let Some(lan) = link_opt(host, &self.lan_ifname())? {
                let mut ips: Vec<IpAddr> = self.addrs().map(|a| a.address.addr()).collect();
                if self.uplink_arp == UplinkArp::ProxyArp {
                    ips.retain(|ip| !ip.is_ipv4());
                }
                for ip in ips {
                    if ignore_missing(host.neigh_proxy_del(lan.index, ip))? {
                        removed.push(format!("ip neigh del proxy {ip} dev {}", lan.name));
                    }
                }
            }
        }
        if let (NetnsRef::Name(n), true) = (&self.pod_netns, self.create_pod_netns) {
            if ignore_missing(Netns::delete(n))? {
                removed.push(format!("ip netns del {n}"));
            }
        }
        Ok(removed)
    }

    /// Detaches many pods at once, as a node drain does, letting the kernel
    /// batch the expensive part. Deleting one veth waits for RCU grace
    /// periods (15-25 ms on this machine class); deleting them one by one
    /// pays that per pod. Here the host veths of each host namespace are
    /// put in one fresh link group and deleted with a single
    /// `ip link del group N`, which the kernel unregisters as one batch.
    /// Proxy entries and created pod namespaces are removed as by
    /// [`FloatingIp::detach`]. Idempotent like it; returns what it removed.
    pub fn detach_many(specs: &[FloatingIp]) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        let mut hosts: Vec<&NetnsRef> = Vec::new();
        for s in specs {
            if !hosts.contains(&&s.host_netns) {
                hosts.push(&s.host_netns);
            }
        }
        for host_ref in hosts {
            let group: Vec<&FloatingIp> = specs.iter().filter(|s| &s.host_netns == host_ref).collect();
            let host = Host::open(host_ref.clone())?;
            removed.extend(Self::detach_many_with(host.handle(), &group)?);
        }
        Ok(removed)
    }

    /// Detach many, all on the host of `host`.
    pub(crate) fn detach_many_with(host: &Handle, group: &[&FloatingIp]) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        let mut members = Vec::new();
        for s in group {
            if let Some(l) = link_opt(host, &s.host_ifname)? {
                if l.kind.as_deref() != Some("veth") {
                    return Err(conflict(
                        format!("dev {}", s.host_ifname),
                        "exists but is not a veth: not removing it",
                    ));
                }
                members.push(l);
            }
        }
        if !members.is_empty() {
            // A group id nobody uses: one dump per drain, not per pod.
            let used: Vec<u32> = host.links()?.iter().map(|l| l.group).collect();
            let mut gid = 0x4650_0000 | (std::process::id() & 0xffff);
            while used.contains(&gid) {
                gid = gid.wrapping_add(0x1_0000).max(1);
            }
            for l in &members {
                host.link_set_group(l.index, gid)?;
            }
            host.link_del_group(gid)?;
            removed.push(format!("ip link del group {gid} ({} veths)", members.len()));
        }
        for s in group {
            removed.extend(s.detach_rest(host)?);
        }
        Ok(removed)
    }

    /// Reads the state back and lists every difference from the spec, like
    /// CNI CHECK; empty when all is well.
    pub fn check(&self) -> Result<Vec<Drift>> {
        self.check_with(&Host::open(self.host_netns.clone())?.fresh_call())
    }

    /// Check, with the host side already open.
    pub(crate) fn check_with(&self, call: &Call<'_>) -> Result<Vec<Drift>> {
        let mut d = Vec::new();
        let mut drift = |place, expected: String, found: String| d.push(Drift { place, expected, found });
        let (host_ns, host, home) = (call.host.netns(), call.host.handle(), Some(call.home()));
        let hv = &self.host_ifname;
        let host_if = link_opt(host, hv)?;
        match &host_if {
            None => drift("host", format!("veth {hv}"), "no such link".into()),
            Some(l) if !l.up => drift("host", format!("{hv} up"), "down".into()),
            Some(_) => {}
        }
        let pod_ns = match self.pod_netns.open() {
            Ok(ns) => Some(ns),
            Err(e) if e.is_not_found() => {
                drift("pod", format!("{}", self.pod_netns), "no such namespace".into());
                None
            }
            Err(e) => return Err(e),
        };
        let pod = pod_ns.as_ref().map(|ns| Handle::in_netns_from(ns, home)).transpose()?;
        if let Some(pod) = &pod {
            match link_opt(pod, &self.pod_ifname)? {
                None => drift("pod", format!("link {}", self.pod_ifname), "no such link".into()),
                Some(p) => {
                    if !p.up {
                        drift("pod", format!("{} up", self.pod_ifname), "down".into());
                    }
                    if let Some(h) = &host_if {
                        if p.link != Some(h.index) {
                            drift(
                                "pod",
                                format!("{} paired with {hv}", self.pod_ifname),
                                format!("peer ifindex {:?}", p.link),
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
                        drift("host", format!("{hv} master {br}"), format!("master ifindex {:?}", h.master));
                    }
                } else if b.is_none() {
                    drift("host", format!("bridge {br}"), "no such link".into());
                }
            }
            Mode::Routed => {
                let lan_name = self.lan_ifname();
                let lan = link_opt(host, &lan_name)?;
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
                        Err(e) if e.is_not_found() => {
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
                if self.ipv4.is_some() {
                    want(SysctlKey::ipv4_forward(), "1", &mut d)?;
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
                    want(SysctlKey::ipv6_conf(hv, "proxy_ndp")?, "1", &mut d)?;
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
}

/// Whether the kernel has IPv6 at all: a node booted with `ipv6.disable=1`
/// has no `/proc/sys/net/ipv6` in any namespace, so there is no IPv6 to
/// turn off on a host veth (and an IPv6 floating IP fails when its first
/// IPv6 sysctl is missing).
fn ipv6_enabled() -> bool {
    std::path::Path::new("/proc/sys/net/ipv6").exists()
}

/// The main table's default route of one family, read from the (small)
/// pod namespace's route list: a lookup of some probe address could hit a
/// prefix route instead, whatever address were chosen.
fn default_route(h: &Handle, v6: bool) -> Result<Option<Route>> {
    let f = RouteFilter { ipv4: Some(!v6), ..Default::default() };
    Ok(h.routes(f)?.into_iter().find(|r| r.dst.len() == 0))
}

/// Prefixes an error's object with what role the object plays.
fn with_what(e: Error, what: &str) -> Error {
    match e {
        Error::Netlink { op, object, errno, ext_ack } => {
            Error::Netlink { op, object: format!("{what} {object}"), errno, ext_ack }
        }
        Error::Io { op, object, source } => Error::Io { op, object: format!("{what} {object}"), source },
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn v4(a: &str, g: &str) -> Result<FloatingIp> {
        FloatingIp::builder("ns/pod", "up0").pod_netns_name("p").ipv4(a, g).build()
    }

    #[test]
    fn default_names_fit() {
        let n = FloatingIp::default_host_ifname("kube-system/coredns-5d78c9869d-abcde");
        assert_eq!(n.as_str().len(), 15);
        assert!(n.as_str().starts_with("fip"));
        assert_ne!(n, FloatingIp::default_host_ifname("kube-system/coredns-5d78c9869d-abcdf"));
        assert_eq!(v4("10.0.0.100/23", "10.0.0.1").unwrap().pod_ifname.as_str(), "eth0");
    }

    #[test]
    fn bad_addresses() {
        for (a, g) in [
            ("10.0.0.100/23", "10.0.2.1"),  // gateway outside the prefix
            ("10.0.0.1/23", "10.0.0.1"),    // ip == gateway
            ("10.0.0.0/23", "10.0.0.1"),    // network address
            ("10.0.1.255/23", "10.0.0.1"),  // broadcast
            ("10.0.0.100/33", "10.0.0.1"),  // prefix over 32
            ("10.0.0.100/23", "x"),         // not an address
            ("2001:db8::5/64", "10.0.0.1"), // family mismatch
            ("224.0.0.5/4", "224.0.0.1"),   // multicast
        ] {
            let e = v4(a, g).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{a} via {g}: {e}");
        }
        assert!(v4("10.0.0.100/31", "10.0.0.101").is_ok());
        let v6 = |a: &str, g: &str| FloatingIp::builder("k", "up0").pod_netns_name("p").ipv6(a, g).build();
        assert!(v6("2001:db8::100/64", "fe80::1").is_ok());
        assert!(v6("2001:db8::100/64", "2001:db8::1").is_ok());
        assert!(v6("2001:db8::100/64", "2001:db9::1").is_err());
        assert!(v6("2001:db8::/64", "2001:db8::1").is_err());
        assert!(v6("fe80::5/64", "fe80::1").is_err());
    }

    #[test]
    fn bad_spec() {
        let b = || FloatingIp::builder("k", "up0").pod_netns_name("p").ipv4("10.0.0.100/23", "10.0.0.1");
        assert!(b().vlan(0).build().is_err());
        assert!(b().vlan(4095).build().is_err());
        assert!(FloatingIp::builder("k", "uplink-long0")
            .pod_netns_name("p")
            .ipv4("10.0.0.100/23", "10.0.0.1")
            .vlan(4000)
            .build()
            .is_err());
        assert!(b().host_ifname("up0").build().is_err());
        assert!(b().host_ifname("../x").build().is_err());
        assert!(b().mtu(20).build().is_err());
        assert!(b().macs(Some(Mac([1, 0, 0, 0, 0, 1])), None).build().is_err());
        assert!(FloatingIp::builder("k", "up0").ipv4("10.0.0.100/23", "10.0.0.1").build().is_err(), "no pod netns");
        assert!(FloatingIp::builder("k", "up0").pod_netns_name("p").build().is_err(), "no address");
        assert!(FloatingIp::builder("", "up0").pod_netns_name("p").ipv4("10.0.0.100/23", "10.0.0.1").build().is_err());
        assert_eq!(b().vlan(100).build().unwrap().lan_ifname().as_str(), "up0.100");
    }
}

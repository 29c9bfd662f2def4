//! The validated floating-IP spec: data, checked before anything touches
//! the kernel. No I/O here.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use super::mark::{self, OwnerMark, RulePlan};
use crate::announce::AnnounceOptions;
use crate::error::{Error, Result};
use crate::lock::fnv1a;
use crate::name::{validate_netns_name, IfName};
use crate::netns::Netns;
use crate::prefix::IpPrefix;
use crate::probe::ProbeOptions;
use crate::wire::Mac;

/// Which network namespace, by reference: resolved when a verb runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

impl NetnsRef {
    /// The name or path as given (a path as text); `None` for
    /// [`NetnsRef::Current`].
    pub fn given(&self) -> Option<String> {
        match self {
            NetnsRef::Current => None,
            NetnsRef::Name(n) => Some(n.clone()),
            NetnsRef::Path(p) => Some(p.display().to_string()),
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
#[non_exhaustive]
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
#[non_exhaustive]
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

    pub(super) fn host_prefix(&self) -> IpPrefix {
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
    // What each field means is on its getter (the `impl` below).
    pub(crate) pod_key: String,
    pub(crate) attachment_id: String,
    pub(crate) route_protocol: u8,
    pub(crate) pod_netns: NetnsRef,
    pub(crate) create_pod_netns: bool,
    pub(crate) host_netns: NetnsRef,
    pub(crate) ipv4: Option<FloatingAddr>,
    pub(crate) ipv6: Option<FloatingAddr>,
    pub(crate) uplink: IfName,
    pub(crate) vlan: Option<u16>,
    pub(crate) host_ifname: IfName,
    pub(crate) pod_ifname: IfName,
    pub(crate) mtu: Option<u32>,
    pub(crate) host_mac: Mac,
    pub(crate) pod_mac: Mac,
    pub(crate) uplink_arp: UplinkArp,
    pub(crate) mode: Mode,
    pub(crate) announce: Option<AnnounceOptions>,
    pub(crate) conflict_probe: Option<ProbeOptions>,
    pub(crate) conntrack_flush: bool,
    pub(crate) policy_routing: bool,
    pub(crate) anti_spoofing: bool,
    pub(crate) route_table: Option<u32>,
    pub(crate) rule_priority: u32,
    pub(crate) lan_address: Option<IpPrefix>,
}

/// What the spec says, read back; [`FloatingIp::builder`] is the one way to
/// make (and change) a spec, so that each value is one `build()` accepted.
impl FloatingIp {
    /// The pod (`namespace/pod`), kept in the owner mark when it fits.
    pub fn pod_key(&self) -> &str {
        &self.pod_key
    }

    /// The attachment this spec makes: what the owner marks name, what
    /// detach and GC go by, and what the default host interface name and
    /// MACs derive from. CNI: the container id and interface name. Default:
    /// the pod key.
    pub fn attachment_id(&self) -> &str {
        &self.attachment_id
    }

    /// The route protocol number (and `NDA_PROTOCOL`) of the host routes
    /// and proxy entries (default [`mark::DEFAULT_PROTOCOL`]).
    pub fn route_protocol(&self) -> u8 {
        self.route_protocol
    }

    /// The pod's namespace.
    pub fn pod_netns(&self) -> &NetnsRef {
        &self.pod_netns
    }

    /// Create the pod namespace (by name) if missing; detach deletes it.
    pub fn create_pod_netns(&self) -> bool {
        self.create_pod_netns
    }

    /// The host side's namespace (default: the current one).
    pub fn host_netns(&self) -> &NetnsRef {
        &self.host_netns
    }

    /// The IPv4 floating address, if any.
    pub fn ipv4(&self) -> Option<&FloatingAddr> {
        self.ipv4.as_ref()
    }

    /// The IPv6 floating address, if any.
    pub fn ipv6(&self) -> Option<&FloatingAddr> {
        self.ipv6.as_ref()
    }

    /// The uplink on the LAN (`bond1`).
    pub fn uplink(&self) -> &IfName {
        &self.uplink
    }

    /// VLAN id: the uplink becomes `<uplink>.<vid>`, created if missing.
    pub fn vlan(&self) -> Option<u16> {
        self.vlan
    }

    /// Host-side veth name (default `fip` + 12 hex digits of a hash of the
    /// attachment id).
    pub fn host_ifname(&self) -> &IfName {
        &self.host_ifname
    }

    /// Pod-side veth name (default `eth0`).
    pub fn pod_ifname(&self) -> &IfName {
        &self.pod_ifname
    }

    /// MTU of both veth ends (default: the uplink's).
    pub fn mtu(&self) -> Option<u32> {
        self.mtu
    }

    /// MAC of the host end (default: derived from the attachment id,
    /// [`mark::derived_mac`]).
    pub fn host_mac(&self) -> Mac {
        self.host_mac
    }

    /// MAC of the pod end (default: derived from the attachment id).
    pub fn pod_mac(&self) -> Mac {
        self.pod_mac
    }

    /// How the uplink answers LAN ARP for the pod.
    pub fn uplink_arp(&self) -> UplinkArp {
        self.uplink_arp
    }

    /// Routed or bridge mode.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// Announce the floating IPs after attach (gratuitous ARP, unsolicited
    /// NA): on by default in routed mode; `None` turns it off.
    pub fn announce(&self) -> Option<&AnnounceOptions> {
        self.announce.as_ref()
    }

    /// Probe the LAN for the floating IPs before taking them (RFC 5227 ARP
    /// probes, DAD Neighbor Solicitations), and fail with a
    /// [`Conflict`](crate::ErrorKind::Conflict) when another MAC claims
    /// one. `None` (the default): no probe. See
    /// [`FloatingIpBuilder::conflict_probe`].
    pub fn conflict_probe(&self) -> Option<&ProbeOptions> {
        self.conflict_probe.as_ref()
    }

    /// Delete the host namespace's conntrack entries of the floating IPs
    /// (original or reply tuple from or to them) when the IPs arrive here
    /// (attach, before announcing) and when they leave (detach), so that
    /// flows and NAT bindings of an earlier life of an IP do not linger
    /// ([`crate::conntrack`]). On by default in routed mode, where the
    /// host routes (and tracks) the pod's traffic; off in bridge mode.
    pub fn conntrack_flush(&self) -> bool {
        self.conntrack_flush
    }

    /// Routed mode: egress by the LAN interface's own table (source policy
    /// routing), so that pod traffic the main table would send out of its
    /// default route (a management interface, say) leaves by the floating
    /// subnet's gateway instead. On by default.
    pub fn policy_routing(&self) -> bool {
        self.policy_routing
    }

    /// Routed mode: the host drops what the pod sends from any source but
    /// its floating IPs. On by default.
    pub fn anti_spoofing(&self) -> bool {
        self.anti_spoofing
    }

    /// The LAN interface's table for policy routing (default
    /// [`default_table`] of the LAN interface). Pods of one LAN interface
    /// share it; never 0 or 253-255.
    pub fn route_table(&self) -> Option<u32> {
        self.route_table
    }

    /// The first of the three rule priorities of a floating IP (default
    /// [`DEFAULT_RULE_PRIORITY`]).
    pub fn rule_priority(&self) -> u32 {
        self.rule_priority
    }

    /// An IPv4 address (with its prefix length) for the LAN interface when
    /// it has none in the floating subnet: the host ARPs for the gateway
    /// with it. Shared by every pod on the interface; never removed.
    pub fn lan_address(&self) -> Option<IpPrefix> {
        self.lan_address
    }
}

/// The table ids floatip picks for policy routing start here (`70 << 16`):
/// the LAN interface's table is this plus 16 bits of a hash of its name
/// ([`default_table`]), far from the ids operators and other CNI plugins
/// use by hand (AWS VPC CNI: the ENI's index, below 256) and never one of
/// the kernel's (253-255).
pub const DEFAULT_TABLE_BASE: u32 = 70 << 16;

/// The default policy routing table of a LAN interface:
/// [`DEFAULT_TABLE_BASE`] + the low 16 bits of the FNV-1a hash of its name.
/// By name, not ifindex, so that it stays the same when the interface is
/// deleted and made again (a bond or VLAN re-created). Two LAN interfaces
/// whose names collide get a [`Conflict`](crate::ErrorKind::Conflict) at
/// attach that says to give one of them a table (`route_table`).
pub fn default_table(lan: &IfName) -> u32 {
    DEFAULT_TABLE_BASE + (fnv1a(lan.as_str().as_bytes()) & 0xffff) as u32
}

/// The first rule priority of a floating IP's policy rules (the next two
/// are used too): after the kernel's `local` rule (0), before `main`
/// (32766), clear of AWS VPC CNI (512, 1536) and Cilium (9, 20, 100, 111).
pub const DEFAULT_RULE_PRIORITY: u32 = 2000;

/// A builder argument: the typed value, or its text to be parsed (and
/// checked, with the other arguments) by [`FloatingIpBuilder::build`]. Both
/// forms go anywhere an `impl Into<Input<T>>` is asked for:
/// `.ipv4("10.0.0.100/23", "10.0.0.1")` and `.ipv4(prefix, gateway)` alike,
/// with `prefix: IpPrefix` and `gateway: IpAddr` (or `Ipv4Addr`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input<T> {
    /// A value already of its type.
    Value(T),
    /// Text that `build()` parses, as `ip` would.
    Text(String),
}

impl<T> From<&str> for Input<T> {
    fn from(s: &str) -> Self {
        Input::Text(s.to_owned())
    }
}

impl<T> From<String> for Input<T> {
    fn from(s: String) -> Self {
        Input::Text(s)
    }
}

impl<T> From<&String> for Input<T> {
    fn from(s: &String) -> Self {
        Input::Text(s.clone())
    }
}

/// `Input::Value` from a value of each type a builder argument takes.
macro_rules! value_input {
    ($($from:ty => $t:ty: $conv:expr),* $(,)?) => {
        $(impl From<$from> for Input<$t> {
            fn from(v: $from) -> Self {
                Input::Value($conv(v))
            }
        })*
    };
}

value_input! {
    IfName => IfName: std::convert::identity,
    &IfName => IfName: Clone::clone,
    IpPrefix => IpPrefix: std::convert::identity,
    IpAddr => IpAddr: std::convert::identity,
    std::net::Ipv4Addr => IpAddr: IpAddr::from,
    std::net::Ipv6Addr => IpAddr: IpAddr::from,
}

impl<T: fmt::Display> fmt::Display for Input<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Value(v) => v.fmt(f),
            Input::Text(s) => f.write_str(s),
        }
    }
}

/// How the text form of a builder argument is parsed, with the error a
/// bad one gets.
trait FromText: Sized {
    fn from_text(s: String) -> Result<Self>;
}

impl FromText for IfName {
    fn from_text(s: String) -> Result<Self> {
        IfName::new(s)
    }
}

impl FromText for IpPrefix {
    fn from_text(s: String) -> Result<Self> {
        s.parse()
    }
}

/// Builder arguments of this type are gateways.
impl FromText for IpAddr {
    fn from_text(s: String) -> Result<Self> {
        s.parse().map_err(|_| Error::invalid("gateway", &s, "not an IP address"))
    }
}

/// The value of a builder argument, its text parsed.
fn resolve<T: FromText>(input: Input<T>) -> Result<T> {
    match input {
        Input::Value(v) => Ok(v),
        Input::Text(s) => T::from_text(s),
    }
}

/// Builds a [`FloatingIp`]; [`FloatingIpBuilder::build`] validates it all
/// before anything touches the kernel.
#[derive(Debug, Clone)]
pub struct FloatingIpBuilder {
    pod_key: String,
    attachment_id: Option<String>,
    route_protocol: u8,
    uplink: Input<IfName>,
    pod_netns: Option<NetnsRef>,
    create_pod_netns: bool,
    host_netns: NetnsRef,
    ipv4: Option<(Input<IpPrefix>, Input<IpAddr>)>,
    ipv6: Option<(Input<IpPrefix>, Input<IpAddr>)>,
    vlan: Option<u16>,
    host_ifname: Option<Input<IfName>>,
    pod_ifname: Option<Input<IfName>>,
    mtu: Option<u32>,
    host_mac: Option<Mac>,
    pod_mac: Option<Mac>,
    uplink_arp: UplinkArp,
    bridge: Option<Input<IfName>>,
    announce: Option<Option<AnnounceOptions>>,
    conflict_probe: Option<ProbeOptions>,
    conntrack_flush: Option<bool>,
    policy_routing: bool,
    anti_spoofing: bool,
    route_table: Option<u32>,
    rule_priority: u32,
    lan_address: Option<Input<IpPrefix>>,
}

impl FloatingIp {
    /// Starts a spec for the pod `pod_key` on the LAN behind `uplink`.
    pub fn builder(pod_key: impl Into<String>, uplink: impl Into<Input<IfName>>) -> FloatingIpBuilder {
        FloatingIpBuilder {
            pod_key: pod_key.into(),
            attachment_id: None,
            route_protocol: mark::DEFAULT_PROTOCOL,
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
            conflict_probe: None,
            conntrack_flush: None,
            policy_routing: true,
            anti_spoofing: true,
            route_table: None,
            rule_priority: DEFAULT_RULE_PRIORITY,
            lan_address: None,
        }
    }

    /// The default host-side interface name for an attachment id (by
    /// default the pod key): `fip` and 12 hex digits of its FNV-1a hash,
    /// 15 bytes in all.
    pub fn default_host_ifname(attachment_id: &str) -> IfName {
        IfName::new(format!("fip{:012x}", fnv1a(attachment_id.as_bytes()) >> 16)).expect("15 valid bytes")
    }

    /// The policy rules this spec asks for; `None` in bridge mode or with
    /// policy routing and anti-spoofing both off.
    pub fn rule_plan(&self) -> Option<RulePlan> {
        if self.mode != Mode::Routed || !(self.policy_routing || self.anti_spoofing) {
            return None;
        }
        let table = match self.policy_routing {
            true => self.route_table.unwrap_or_else(|| default_table(&self.lan_ifname())),
            false => crate::route::TABLE_MAIN,
        };
        Some(RulePlan { table, priority: self.rule_priority, spoof: self.anti_spoofing })
    }

    /// The owner mark of this attachment's host veth, for a pod namespace
    /// of nsfs inode `pod_netns_inode`.
    pub fn owner_mark(&self, pod_netns_inode: u64) -> OwnerMark {
        let rules = self.rule_plan();
        OwnerMark {
            rules,
            gateways: match rules {
                Some(r) if r.policy_routing() => self.gateways(),
                _ => Vec::new(),
            },
            attachment_id: self.attachment_id.clone(),
            pod_netns_inode,
            lan: match self.mode {
                Mode::Routed => Some(self.lan_ifname()),
                Mode::Bridge(_) => None,
            },
            ips: self.addrs().map(|a| a.address.addr()).collect(),
            pod_key: Some(self.pod_key.clone()),
        }
    }

    /// The interface that faces the LAN: the uplink, or its VLAN device.
    pub fn lan_ifname(&self) -> IfName {
        match self.vlan {
            Some(v) => IfName::new(format!("{}.{v}", self.uplink)).expect("checked in build"),
            None => self.uplink.clone(),
        }
    }

    /// Each floating address's gateway with the floating subnet's prefix
    /// length (`10.0.0.1/23`), IPv4 first: what a LAN interface's policy
    /// table routes by.
    pub fn gateways(&self) -> Vec<IpPrefix> {
        self.addrs()
            .map(|a| IpPrefix::new(a.gateway, a.address.len()).expect("same family, checked in build"))
            .collect()
    }

    /// The floating addresses, IPv4 first.
    pub fn addrs(&self) -> impl Iterator<Item = &FloatingAddr> {
        self.ipv4.iter().chain(self.ipv6.iter())
    }
}

impl FloatingIpBuilder {
    /// The attachment id (CNI: `CONTAINER_ID/IFNAME`); default: the pod
    /// key. Printable ASCII without spaces or commas, at most 128 bytes.
    pub fn attachment_id(mut self, id: impl Into<String>) -> Self {
        self.attachment_id = Some(id.into());
        self
    }
    /// Routed mode: source policy routing through the LAN interface's
    /// table (default on). See [`FloatingIp::policy_routing`].
    pub fn policy_routing(mut self, on: bool) -> Self {
        self.policy_routing = on;
        self
    }
    /// Routed mode: drop what the pod sends from other sources (default
    /// on). See [`FloatingIp::anti_spoofing`].
    pub fn anti_spoofing(mut self, on: bool) -> Self {
        self.anti_spoofing = on;
        self
    }
    /// The policy routing table of the LAN interface (default
    /// [`default_table`]); 0 and 253-255 are refused.
    pub fn route_table(mut self, table: u32) -> Self {
        self.route_table = Some(table);
        self
    }
    /// The first of the three policy rule priorities (default
    /// [`DEFAULT_RULE_PRIORITY`]): 1..=32763, so that all three come
    /// before the `main` rule (32766).
    pub fn rule_priority(mut self, priority: u32) -> Self {
        self.rule_priority = priority;
        self
    }
    /// An IPv4 address for the LAN interface (`"10.0.0.4/23"`), added when
    /// the interface has none in the floating subnet. Needed on a VLAN
    /// device floatip creates: the host ARPs for the gateway with it.
    pub fn lan_address(mut self, address: impl Into<Input<IpPrefix>>) -> Self {
        self.lan_address = Some(address.into());
        self
    }
    /// The route protocol number that marks the host routes and proxy
    /// entries as floatip's (default 70; 0-4 belong to the kernel).
    pub fn route_protocol(mut self, protocol: u8) -> Self {
        self.route_protocol = protocol;
        self
    }
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
    pub fn ipv4(mut self, address: impl Into<Input<IpPrefix>>, gateway: impl Into<Input<IpAddr>>) -> Self {
        self.ipv4 = Some((address.into(), gateway.into()));
        self
    }
    /// The IPv6 floating address with prefix and gateway.
    pub fn ipv6(mut self, address: impl Into<Input<IpPrefix>>, gateway: impl Into<Input<IpAddr>>) -> Self {
        self.ipv6 = Some((address.into(), gateway.into()));
        self
    }
    /// Put the pod on VLAN `vid` of the uplink.
    pub fn vlan(mut self, vid: u16) -> Self {
        self.vlan = Some(vid);
        self
    }
    /// The host-side veth name.
    pub fn host_ifname(mut self, name: impl Into<Input<IfName>>) -> Self {
        self.host_ifname = Some(name.into());
        self
    }
    /// The pod-side veth name (default `eth0`).
    pub fn pod_ifname(mut self, name: impl Into<Input<IfName>>) -> Self {
        self.pod_ifname = Some(name.into());
        self
    }
    /// MTU of the veth pair.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }
    /// MACs of the host and pod ends (`None`: derived from the attachment
    /// id, stable across re-attaches).
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
    pub fn bridge(mut self, bridge: impl Into<Input<IfName>>) -> Self {
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
    /// Delete the host's conntrack entries of the floating IPs on attach
    /// and detach (default: on in routed mode, off in bridge mode). See
    /// [`FloatingIp::conntrack_flush`].
    pub fn conntrack_flush(mut self, on: bool) -> Self {
        self.conntrack_flush = Some(on);
        self
    }

    /// Probe the LAN for the floating IPs before taking them (off by
    /// default): per round an RFC 5227 ARP probe (sender IP `0.0.0.0`) and
    /// an ordinary request from the LAN interface's address (what a proxy
    /// entry answers) for the IPv4 address, a DAD Neighbor Solicitation
    /// (source `::`) for the IPv6 one. Another MAC's answer, or its own
    /// probe for the address, fails the attach with
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) naming the
    /// address and that MAC, with the attach undone. It costs
    /// [`ProbeOptions::window`] per attach (150 ms by default) when nobody
    /// answers. The probe runs before anything of the attachment answers
    /// for the address on the LAN: see `docs/announce.md`.
    ///
    /// ```no_run
    /// use floatip::probe::ProbeOptions;
    /// use floatip::{ErrorKind, FloatingIp};
    /// # fn main() -> floatip::Result<()> {
    /// let spec = FloatingIp::builder("default/web-0", "bond1")
    ///     .pod_netns_path("/var/run/netns/cni-1234")
    ///     .ipv4("10.0.0.100/23", "10.0.0.1")
    ///     .conflict_probe(ProbeOptions::default()) // 2 rounds 50 ms apart, 150 ms in all
    ///     .build()?;
    /// match spec.attach() {
    ///     // "conflict on floating ip 10.0.0.100: 02:00:00:00:0b:01 claims it on dev bond1 (ARP reply), ..."
    ///     Err(e) if e.kind() == ErrorKind::Conflict => eprintln!("{e}"),
    ///     r => drop(r?),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn conflict_probe(mut self, opts: ProbeOptions) -> Self {
        self.conflict_probe = Some(opts);
        self
    }

    /// Validates everything and returns the spec. Nothing is changed.
    pub fn build(self) -> Result<FloatingIp> {
        mark::validate_word("pod key", &self.pod_key, usize::MAX)?;
        let attachment_id = self.attachment_id.unwrap_or_else(|| self.pod_key.clone());
        mark::validate_word("attachment id", &attachment_id, mark::ATTACHMENT_ID_MAX)?;
        if self.route_protocol <= 4 {
            return Err(Error::invalid(
                "route protocol",
                self.route_protocol,
                "0-4 are the kernel's (unspec, redirect, kernel, boot, static)",
            ));
        }
        let uplink = resolve(self.uplink)?;
        let pod_netns = self.pod_netns.ok_or_else(|| Error::invalid("pod netns", "", "no pod namespace given"))?;
        if let NetnsRef::Name(n) = &pod_netns {
            validate_netns_name(n)?;
        }
        if let NetnsRef::Name(n) = &self.host_netns {
            validate_netns_name(n)?;
        }
        // The pod namespace must not be the host's. Said the same way here;
        // other names and paths for it are caught by inode when a verb runs.
        let own = |r: &NetnsRef| match r {
            NetnsRef::Current => true,
            NetnsRef::Path(p) => ["/proc/self/ns/net", "/proc/thread-self/ns/net"].iter().any(|s| p.as_path() == *s),
            NetnsRef::Name(_) => false,
        };
        if pod_netns == self.host_netns || (own(&pod_netns) && own(&self.host_netns)) {
            return Err(Error::invalid("pod netns", &pod_netns, "is the host namespace"));
        }
        let parse = |(a, g): (Input<IpPrefix>, Input<IpAddr>), v4: bool| -> Result<FloatingAddr> {
            let address = resolve(a)?;
            let gateway = resolve(g)?;
            if address.is_ipv4() != v4 {
                return Err(Error::invalid(
                    "floating ip",
                    address,
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
            Some(n) => resolve(n)?,
            None => FloatingIp::default_host_ifname(&attachment_id),
        };
        let pod_ifname = resolve(self.pod_ifname.unwrap_or_else(|| "eth0".into()))?;
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
            Some(b) => Mode::Bridge(resolve(b)?),
            None => Mode::Routed,
        };
        // Routed mode announces by default; bridge mode leaves it to the
        // pod (its own MAC is what the LAN must learn) unless asked.
        let announce = self.announce.unwrap_or(match mode {
            Mode::Routed => Some(AnnounceOptions::default()),
            Mode::Bridge(_) => None,
        });
        // Routed mode: the host routes the pod's traffic, so its conntrack
        // table holds the pod's flows. Bridge mode: bridged frames reach
        // conntrack only through br_netfilter, so nothing by default.
        let conntrack_flush = self.conntrack_flush.unwrap_or(mode == Mode::Routed);
        if let Some(a) = &announce {
            if a.mac.is_some_and(|m| !m.is_valid_source()) {
                return Err(Error::invalid("announce mac", a.mac.unwrap_or_default(), "not a unicast MAC address"));
            }
        }
        if let Some(p) = &self.conflict_probe {
            p.validate()?;
        }
        if let Some(t) = self.route_table {
            if t == 0 || (253..=255).contains(&t) {
                return Err(Error::invalid(
                    "route table",
                    t,
                    "0 is unspec and 253-255 are the kernel's default, main and local tables",
                ));
            }
        }
        if !(1..=32763).contains(&self.rule_priority) {
            return Err(Error::invalid(
                "rule priority",
                self.rule_priority,
                "must be 1..=32763: its three rules must come after local (0) and before main (32766)",
            ));
        }
        let lan_address = match self.lan_address {
            None => None,
            Some(a) => {
                let p = resolve(a)?;
                let gw = ipv4.as_ref().map(|f| f.gateway);
                if !p.is_ipv4() || p.is_host() || gw.is_some_and(|g| !p.contains(g)) || Some(p.addr()) == gw {
                    return Err(Error::invalid(
                        "lan address",
                        p,
                        "must be an IPv4 address with a prefix length, in the subnet of the IPv4 gateway and not the gateway",
                    ));
                }
                if ipv4.as_ref().is_some_and(|f| f.address.addr() == p.addr()) {
                    return Err(Error::invalid("lan address", p, "is the floating IP"));
                }
                Some(p)
            }
        };
        let spec = FloatingIp {
            policy_routing: self.policy_routing,
            anti_spoofing: self.anti_spoofing,
            route_table: self.route_table,
            rule_priority: self.rule_priority,
            lan_address,
            host_mac: self.host_mac.unwrap_or_else(|| mark::derived_mac(&attachment_id, b'h')),
            pod_mac: self.pod_mac.unwrap_or_else(|| mark::derived_mac(&attachment_id, b'p')),
            attachment_id,
            route_protocol: self.route_protocol,
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
            uplink_arp: self.uplink_arp,
            mode,
            announce,
            conflict_probe: self.conflict_probe,
            conntrack_flush,
        };
        let worst = spec.owner_mark(0).worst_len();
        if worst > 255 {
            return Err(Error::invalid(
                "attachment id",
                &spec.attachment_id,
                format!("its owner mark would take {worst} bytes, over the kernel's 255 for an interface alias"),
            ));
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn typed_and_text_arguments_build_the_same_spec() {
        let text = FloatingIp::builder("default/web", "up0")
            .pod_netns_name("pod")
            .ipv4("10.0.0.100/23", "10.0.0.1")
            .host_ifname("fipweb")
            .lan_address("10.0.0.4/23")
            .build()
            .unwrap();
        let typed = FloatingIp::builder("default/web", IfName::new("up0").unwrap())
            .pod_netns_name("pod")
            .ipv4("10.0.0.100/23".parse::<IpPrefix>().unwrap(), std::net::Ipv4Addr::new(10, 0, 0, 1))
            .host_ifname(IfName::new("fipweb").unwrap())
            .lan_address("10.0.0.4/23".parse::<IpPrefix>().unwrap())
            .build()
            .unwrap();
        assert_eq!(text, typed);
        // A typed value still goes through build()'s checks.
        let e = FloatingIp::builder("k", "up0")
            .pod_netns_name("pod")
            .ipv4("2001:db8::1/64".parse::<IpPrefix>().unwrap(), "10.0.0.1")
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }

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
        assert!(b().host_ifname("fip%d").build().is_err(), "a name template");
        assert!(b().conflict_probe(ProbeOptions { count: 0, ..Default::default() }).build().is_err());
        assert_eq!(b().build().unwrap().conflict_probe, None, "off by default");
        let p = ProbeOptions { count: 3, ..Default::default() };
        assert_eq!(b().conflict_probe(p).build().unwrap().conflict_probe, Some(p));
        assert!(b().attachment_id("a b").build().is_err());
        assert!(b().route_protocol(2).build().is_err());
        assert!(
            FloatingIp::builder("k", "up0")
                .ipv4("10.0.0.100/23", "10.0.0.1")
                .pod_netns_path("/proc/self/ns/net")
                .build()
                .is_err(),
            "pod netns is the host's"
        );
        assert!(FloatingIp::builder("k", "up0")
            .ipv4("10.0.0.100/23", "10.0.0.1")
            .pod_netns_name("h")
            .host_netns(NetnsRef::Name("h".into()))
            .build()
            .is_err());
    }

    #[test]
    fn identity_defaults() {
        let b = || FloatingIp::builder("ns/pod", "up0").pod_netns_name("p").ipv4("10.0.0.100/23", "10.0.0.1");
        let a = b().build().unwrap();
        assert_eq!(a.attachment_id, "ns/pod");
        assert_eq!(a.host_ifname, FloatingIp::default_host_ifname("ns/pod"));
        assert_eq!(a.host_mac, mark::derived_mac("ns/pod", b'h'));
        let c = b().attachment_id("c0ffee/eth0").build().unwrap();
        assert_ne!(c.host_ifname, a.host_ifname);
        assert_ne!(c.pod_mac, a.pod_mac);
        let m = Mac([2, 0, 0, 0, 0, 9]);
        assert_eq!(b().macs(Some(m), None).build().unwrap().host_mac, m);
        assert_eq!(a.owner_mark(7).lan.unwrap().as_str(), "up0");
        assert_eq!(a.owner_mark(7).rules.unwrap().table, default_table(&IfName::new("up0").unwrap()));
        assert!(b().attachment_id("x".repeat(128)).build().is_ok());
    }

    #[test]
    fn conntrack_flush_defaults_by_mode() {
        let b = || FloatingIp::builder("ns/pod", "up0").pod_netns_name("p").ipv4("10.0.0.100/23", "10.0.0.1");
        assert!(b().build().unwrap().conntrack_flush, "routed: on");
        assert!(!b().conntrack_flush(false).build().unwrap().conntrack_flush);
        assert!(!b().bridge("br0").build().unwrap().conntrack_flush, "bridge: off");
        assert!(b().bridge("br0").conntrack_flush(true).build().unwrap().conntrack_flush);
    }
}

//! Results as plain frozen values: `Link`, `Address`, `Route`, `Neighbour`.
//!
//! Each is an immutable, hashable value whose attributes are Python values
//! (`int`, `str`, `ipaddress` objects), never a netlink message.

use std::net::IpAddr;

use floatip::{IpPrefix, Mac};
use pyo3::prelude::*;

use crate::args::{interface_obj, mac_text, network_obj, IpArg, PrefixArg};

fn opt<T: std::fmt::Debug>(v: &Option<T>) -> String {
    match v {
        Some(v) => format!("{v:?}"),
        None => "None".into(),
    }
}

fn opt_text(v: Option<impl std::fmt::Display>) -> String {
    match v {
        Some(v) => format!("'{v}'"),
        None => "None".into(),
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// A network interface as the kernel reports it (``ip -d link show``).
#[pyclass(frozen, eq, hash, module = "floatip", name = "Link")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PyLink {
    index: u32,
    name: String,
    mac: Option<Mac>,
    mtu: u32,
    up: bool,
    kind: Option<String>,
    master: Option<u32>,
    link: Option<u32>,
    link_netnsid: Option<i32>,
    vlan_id: Option<u16>,
}

impl From<floatip::Link> for PyLink {
    fn from(l: floatip::Link) -> Self {
        PyLink {
            index: l.index,
            name: l.name,
            mac: l.mac,
            mtu: l.mtu,
            up: l.up,
            kind: l.kind,
            master: l.master,
            link: l.link,
            link_netnsid: l.link_netnsid,
            vlan_id: l.vlan_id,
        }
    }
}

#[pymethods]
impl PyLink {
    /// Interface index, unique within the namespace.
    #[getter]
    fn index(&self) -> u32 {
        self.index
    }
    /// Interface name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }
    /// Hardware address ``aa:bb:cc:dd:ee:ff``, or None.
    #[getter]
    fn mac(&self) -> Option<String> {
        mac_text(self.mac)
    }
    /// MTU in bytes.
    #[getter]
    fn mtu(&self) -> u32 {
        self.mtu
    }
    /// Administratively up (``IFF_UP``).
    #[getter]
    fn up(&self) -> bool {
        self.up
    }
    /// Link kind (``veth``, ``bridge``, ``vlan``...), None for devices
    /// without one (loopback, physical NICs).
    #[getter]
    fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }
    /// Index of the bridge (or other controller) it is enslaved to.
    #[getter]
    fn master(&self) -> Option<u32> {
        self.master
    }
    /// ``IFLA_LINK``: the peer's index for a veth, the parent for a VLAN.
    #[getter]
    fn link(&self) -> Option<u32> {
        self.link
    }
    /// ``IFLA_LINK_NETNSID``: set when ``link`` lives in another namespace.
    #[getter]
    fn link_netnsid(&self) -> Option<i32> {
        self.link_netnsid
    }
    /// VLAN id, for ``vlan`` links.
    #[getter]
    fn vlan_id(&self) -> Option<u16> {
        self.vlan_id
    }
    fn __repr__(&self) -> String {
        format!(
            "Link(index={}, name={:?}, mac={}, mtu={}, up={}, kind={}, master={}, link={}, link_netnsid={}, vlan_id={})",
            self.index,
            self.name,
            opt_text(self.mac),
            self.mtu,
            py_bool(self.up),
            opt(&self.kind),
            opt(&self.master),
            opt(&self.link),
            opt(&self.link_netnsid),
            opt(&self.vlan_id)
        )
    }
}

/// An address on an interface (``ip addr show``).
#[pyclass(frozen, eq, hash, module = "floatip", name = "Address")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PyAddress {
    index: u32,
    prefix: IpPrefix,
    scope: u8,
    flags: u32,
    nodad: bool,
    tentative: bool,
}

impl From<floatip::Address> for PyAddress {
    fn from(a: floatip::Address) -> Self {
        PyAddress {
            index: a.index,
            prefix: a.prefix,
            scope: a.scope,
            flags: a.flags,
            nodad: a.nodad(),
            tentative: a.tentative(),
        }
    }
}

#[pymethods]
impl PyAddress {
    /// Interface index.
    #[getter]
    fn index(&self) -> u32 {
        self.index
    }
    /// The address with its prefix length: ``IPv4Interface`` or
    /// ``IPv6Interface`` (``.ip``, ``.network``).
    #[getter]
    fn address<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        interface_obj(py, &self.prefix)
    }
    /// Scope (``RT_SCOPE_*``): 0 global, 253 link, 254 host.
    #[getter]
    fn scope(&self) -> u8 {
        self.scope
    }
    /// ``IFA_F_*`` flags.
    #[getter]
    fn flags(&self) -> u32 {
        self.flags
    }
    /// Added with ``nodad`` (IPv6).
    #[getter]
    fn nodad(&self) -> bool {
        self.nodad
    }
    /// IPv6 duplicate address detection still running.
    #[getter]
    fn tentative(&self) -> bool {
        self.tentative
    }
    fn __repr__(&self) -> String {
        format!(
            "Address(index={}, address='{}', scope={}, flags={:#x}, nodad={}, tentative={})",
            self.index,
            self.prefix,
            self.scope,
            self.flags,
            py_bool(self.nodad),
            py_bool(self.tentative)
        )
    }
}

/// A route, both as a request (``Route(dst, gateway=..., oif=...)``) and as
/// the kernel reports it (``ip route show``).
///
/// ``Route("10.0.0.100/32", oif=7)`` is ``10.0.0.100/32 dev <ifindex 7>
/// scope link``; ``Route.default_via("10.0.0.1", oif=2)`` is ``default via
/// 10.0.0.1 dev <ifindex 2>``. The destination's host bits are cleared.
#[pyclass(frozen, eq, hash, module = "floatip", name = "Route")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PyRoute {
    dst: IpPrefix,
    gateway: Option<IpAddr>,
    oif: Option<u32>,
    table: u32,
    protocol: u8,
    scope: Option<u8>,
    kind: u8,
    metric: Option<u32>,
    onlink: bool,
}

impl From<floatip::Route> for PyRoute {
    fn from(r: floatip::Route) -> Self {
        PyRoute {
            dst: r.dst.network(),
            gateway: r.gateway,
            oif: r.oif,
            table: r.table,
            protocol: r.protocol,
            scope: r.scope,
            kind: r.kind,
            metric: r.priority,
            onlink: r.onlink,
        }
    }
}

impl PyRoute {
    /// The core's route for a request.
    pub(crate) fn to_core(&self) -> floatip::Route {
        let mut r = floatip::Route::to(self.dst).table(self.table).protocol(self.protocol);
        r.gateway = self.gateway;
        r.oif = self.oif;
        r.scope = self.scope;
        r.kind = self.kind;
        r.priority = self.metric;
        r.onlink = self.onlink;
        r
    }
}

#[pymethods]
impl PyRoute {
    /// A unicast route to ``dst`` (``str`` or ``ipaddress`` network,
    /// interface or address) in the main table, protocol ``boot`` (as ``ip
    /// route add`` marks it). ``scope=None`` picks link scope without a
    /// gateway and universe with one, as ``ip route add`` does.
    #[new]
    // Literal defaults (254 = TABLE_MAIN, 3 = PROTO_BOOT, 1 = RTN_UNICAST), so
    // that the signature Python sees shows them; a test checks they agree.
    #[pyo3(signature = (dst, *, gateway=None, oif=None, table=254, protocol=3, scope=None, kind=1, metric=None, onlink=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        dst: PrefixArg,
        gateway: Option<IpArg>,
        oif: Option<u32>,
        table: u32,
        protocol: u8,
        scope: Option<u8>,
        kind: u8,
        metric: Option<u32>,
        onlink: bool,
    ) -> Self {
        PyRoute {
            dst: dst.0.network(),
            gateway: gateway.map(|g| g.0),
            oif,
            table,
            protocol,
            scope,
            kind,
            metric,
            onlink,
        }
    }

    /// ``default via GATEWAY [dev OIF]``: ``0.0.0.0/0`` or ``::/0`` by the
    /// gateway's family.
    #[staticmethod]
    #[pyo3(signature = (gateway, *, oif=None))]
    fn default_via(gateway: IpArg, oif: Option<u32>) -> Self {
        let mut r = floatip::Route::default_via(gateway.0);
        r.oif = oif;
        PyRoute::from(r)
    }

    /// Destination: ``IPv4Network`` or ``IPv6Network``
    /// (``0.0.0.0/0`` for the default route).
    #[getter]
    fn dst<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        network_obj(py, &self.dst)
    }
    /// Next hop (``via``): ``IPv4Address``/``IPv6Address`` or None.
    #[getter]
    fn gateway(&self) -> Option<IpAddr> {
        self.gateway
    }
    /// Output interface index (``dev``), or None.
    #[getter]
    fn oif(&self) -> Option<u32> {
        self.oif
    }
    /// Routing table (254 is main).
    #[getter]
    fn table(&self) -> u32 {
        self.table
    }
    /// ``RTPROT_*``: who installed it (3 boot, 4 static...).
    #[getter]
    fn protocol(&self) -> u8 {
        self.protocol
    }
    /// ``RT_SCOPE_*`` (0 universe, 253 link); None in a request means "as
    /// ``ip route add`` picks".
    #[getter]
    fn scope(&self) -> Option<u8> {
        self.scope
    }
    /// ``RTN_*`` route type (1 unicast).
    #[getter]
    fn kind(&self) -> u8 {
        self.kind
    }
    /// Metric (``metric N``), or None.
    #[getter]
    fn metric(&self) -> Option<u32> {
        self.metric
    }
    /// ``onlink``: the gateway is on the link without a prefix route.
    #[getter]
    fn onlink(&self) -> bool {
        self.onlink
    }
    fn __repr__(&self) -> String {
        format!(
            "Route(dst='{}', gateway={}, oif={}, table={}, protocol={}, scope={}, kind={}, metric={}, onlink={})",
            self.dst,
            opt_text(self.gateway),
            opt(&self.oif),
            self.table,
            self.protocol,
            opt(&self.scope),
            self.kind,
            opt(&self.metric),
            py_bool(self.onlink)
        )
    }
}

/// A neighbour entry (``ip neigh show``) or proxy entry (``ip neigh show
/// proxy``).
#[pyclass(frozen, eq, hash, module = "floatip", name = "Neighbour")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PyNeighbour {
    index: u32,
    ip: IpAddr,
    mac: Option<Mac>,
    state: u16,
    proxy: bool,
}

impl From<floatip::Neighbour> for PyNeighbour {
    fn from(n: floatip::Neighbour) -> Self {
        PyNeighbour { index: n.index, ip: n.ip, mac: n.mac, state: n.state, proxy: n.proxy }
    }
}

#[pymethods]
impl PyNeighbour {
    /// Interface index.
    #[getter]
    fn index(&self) -> u32 {
        self.index
    }
    /// The neighbour's IP: ``IPv4Address`` or ``IPv6Address``.
    #[getter]
    fn ip(&self) -> IpAddr {
        self.ip
    }
    /// Its link-layer address ``aa:bb:cc:dd:ee:ff``, when resolved (proxy
    /// entries have none).
    #[getter]
    fn mac(&self) -> Option<String> {
        mac_text(self.mac)
    }
    /// ``NUD_*`` state bits (see the ``NUD_*`` constants).
    #[getter]
    fn state(&self) -> u16 {
        self.state
    }
    /// A proxy entry: the kernel answers ARP/NDP for ``ip`` on this link.
    #[getter]
    fn proxy(&self) -> bool {
        self.proxy
    }
    fn __repr__(&self) -> String {
        format!(
            "Neighbour(index={}, ip='{}', mac={}, state={:#x}, proxy={})",
            self.index,
            self.ip,
            opt_text(self.mac),
            self.state,
            py_bool(self.proxy)
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn literal_defaults_agree_with_the_core() {
        use floatip::route::{PROTO_BOOT, RTN_UNICAST, TABLE_MAIN};
        assert_eq!((TABLE_MAIN, PROTO_BOOT, RTN_UNICAST), (254, 3, 1));
    }
}

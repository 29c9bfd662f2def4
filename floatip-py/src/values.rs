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
    /// Interface index, unique within the namespace.
    #[pyo3(get)]
    index: u32,
    /// Interface name.
    #[pyo3(get)]
    name: String,
    mac: Option<Mac>,
    /// MTU in bytes.
    #[pyo3(get)]
    mtu: u32,
    /// Administratively up (``IFF_UP``).
    #[pyo3(get)]
    up: bool,
    /// Link kind (``veth``, ``bridge``, ``vlan``...), None for devices
    /// without one (loopback, physical NICs).
    #[pyo3(get)]
    kind: Option<String>,
    /// Index of the bridge (or other controller) it is enslaved to.
    #[pyo3(get)]
    master: Option<u32>,
    /// ``IFLA_LINK``: the peer's index for a veth, the parent for a VLAN.
    #[pyo3(get)]
    link: Option<u32>,
    /// ``IFLA_LINK_NETNSID``: set when ``link`` lives in another namespace.
    #[pyo3(get)]
    link_netnsid: Option<i32>,
    /// VLAN id, for ``vlan`` links.
    #[pyo3(get)]
    vlan_id: Option<u16>,
    /// ``IFLA_IFALIAS`` (``ip link set dev LINK alias TEXT``), or None:
    /// where floatip keeps its owner mark on a host veth.
    #[pyo3(get)]
    alias: Option<String>,
    /// ``IFLA_GROUP``, the link group (``ip link set dev LINK group N``;
    /// 0 is every link's default). floatip's tombstones are in
    /// ``TOMBSTONE_GROUP``.
    #[pyo3(get)]
    group: u32,
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
            alias: l.alias,
            group: l.group,
        }
    }
}

#[pymethods]
impl PyLink {
    /// Hardware address ``aa:bb:cc:dd:ee:ff``, or None.
    #[getter]
    fn mac(&self) -> Option<String> {
        mac_text(self.mac)
    }
    fn __repr__(&self) -> String {
        format!(
            "Link(index={}, name={:?}, mac={}, mtu={}, up={}, kind={}, master={}, link={}, link_netnsid={}, vlan_id={}, \
             alias={}, group={})",
            self.index,
            self.name,
            opt_text(self.mac),
            self.mtu,
            py_bool(self.up),
            opt(&self.kind),
            opt(&self.master),
            opt(&self.link),
            opt(&self.link_netnsid),
            opt(&self.vlan_id),
            opt(&self.alias),
            self.group
        )
    }
}

/// An address on an interface (``ip addr show``).
#[pyclass(frozen, eq, hash, module = "floatip", name = "Address")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PyAddress {
    /// Interface index.
    #[pyo3(get)]
    index: u32,
    prefix: IpPrefix,
    /// Scope (``RT_SCOPE_*``): 0 global, 253 link, 254 host.
    #[pyo3(get)]
    scope: u8,
    /// ``IFA_F_*`` flags.
    #[pyo3(get)]
    flags: u32,
    /// Added with ``nodad`` (IPv6).
    #[pyo3(get)]
    nodad: bool,
    /// IPv6 duplicate address detection still running.
    #[pyo3(get)]
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
    /// The address with its prefix length: ``IPv4Interface`` or
    /// ``IPv6Interface`` (``.ip``, ``.network``).
    #[getter]
    fn address<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        interface_obj(py, &self.prefix)
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
    /// Next hop (``via``): ``IPv4Address``/``IPv6Address`` or None.
    #[pyo3(get)]
    gateway: Option<IpAddr>,
    /// Output interface index (``dev``), or None.
    #[pyo3(get)]
    oif: Option<u32>,
    /// Routing table (254 is main).
    #[pyo3(get)]
    table: u32,
    /// ``RTPROT_*``: who installed it (3 boot, 4 static...).
    #[pyo3(get)]
    protocol: u8,
    /// ``RT_SCOPE_*`` (0 universe, 253 link); None in a request means "as
    /// ``ip route add`` picks".
    #[pyo3(get)]
    scope: Option<u8>,
    /// ``RTN_*`` route type (1 unicast).
    #[pyo3(get)]
    kind: u8,
    /// Metric (``metric N``), or None.
    #[pyo3(get)]
    metric: Option<u32>,
    /// ``onlink``: the gateway is on the link without a prefix route.
    #[pyo3(get)]
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
    /// Interface index.
    #[pyo3(get)]
    index: u32,
    /// The neighbour's IP: ``IPv4Address`` or ``IPv6Address``.
    #[pyo3(get)]
    ip: IpAddr,
    mac: Option<Mac>,
    /// ``NUD_*`` state bits (see the ``NUD_*`` constants).
    #[pyo3(get)]
    state: u16,
    /// A proxy entry: the kernel answers ARP/NDP for ``ip`` on this link.
    #[pyo3(get)]
    proxy: bool,
    /// ``NDA_PROTOCOL``: who made the entry (``ip neigh ... protocol N``,
    /// kernel 5.0+); 0 when unset. floatip's proxy entries carry its route
    /// protocol (``DEFAULT_ROUTE_PROTOCOL`` unless a spec sets another).
    #[pyo3(get)]
    protocol: u8,
}

impl From<floatip::Neighbour> for PyNeighbour {
    fn from(n: floatip::Neighbour) -> Self {
        PyNeighbour { index: n.index, ip: n.ip, mac: n.mac, state: n.state, proxy: n.proxy, protocol: n.protocol }
    }
}

#[pymethods]
impl PyNeighbour {
    /// Its link-layer address ``aa:bb:cc:dd:ee:ff``, when resolved (proxy
    /// entries have none).
    #[getter]
    fn mac(&self) -> Option<String> {
        mac_text(self.mac)
    }
    fn __repr__(&self) -> String {
        format!(
            "Neighbour(index={}, ip='{}', mac={}, state={:#x}, proxy={}, protocol={})",
            self.index,
            self.ip,
            opt_text(self.mac),
            self.state,
            py_bool(self.proxy),
            self.protocol
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

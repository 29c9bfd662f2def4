//! `Handle`: one rtnetlink socket bound to a namespace, with the `ip link`,
//! `ip addr`, `ip route` and `ip neigh` verbs.

use std::sync::Arc;
use std::time::Duration;

use floatip::{AddrOptions, Handle, RouteFilter, VethSpec};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::args::{IpArg, LinkArg, MacArg, NameArg, NetnsArg, PrefixArg};
use crate::closable::Closable;
use crate::errors::{invalid, to_pyerr};
use crate::gil::without_gil;
use crate::values::{PyAddress, PyLink, PyNeighbour, PyRoute};

/// One rtnetlink socket bound to a network namespace, like ``ip -n NS``.
///
/// ``Handle()`` talks to the calling thread's namespace, ``Handle(netns)``
/// to another: a ``Netns``, a name under ``/run/netns`` or a path. The
/// socket stays in that namespace whatever thread uses it later. Requests
/// from several threads are serialised; a handle is safe to share. Every
/// request waits at most ``timeout`` seconds for the kernel (default 5)
/// and then raises ``KernelTimeoutError``.
///
/// Links are given by index (``int``) or by name (``str``: one
/// ``RTM_GETLINK`` lookup by name first). Each method names the ``ip``
/// command it equals. A context manager closes the socket on exit.
#[pyclass(frozen, module = "floatip", name = "Handle")]
pub(crate) struct PyHandle {
    inner: Closable<Handle>,
    /// The namespace the handle talks to, as messages name it
    /// (``netns NAME``, ``netns PATH`` or ``current netns``).
    #[pyo3(get)]
    netns: String,
}

impl PyHandle {
    /// A list verb for one link (resolved by name if given) or all, with
    /// the GIL released, its items converted to the Python value class.
    fn list_of<T, U: From<T>>(
        &self,
        py: Python<'_>,
        link: Option<LinkArg>,
        verb: fn(&Handle, Option<u32>) -> floatip::Result<Vec<T>>,
    ) -> PyResult<Vec<U>>
    where
        T: Send,
    {
        let h = self.h()?;
        without_gil(py, || verb(&h, link.as_ref().map(|l| l.index(&h)).transpose()?))
            .map(|v| v.into_iter().map(U::from).collect())
    }

    fn h(&self) -> PyResult<Arc<Handle>> {
        self.inner.get()
    }
}

fn addr_opts(nodad: bool, noprefixroute: bool) -> AddrOptions {
    AddrOptions::default().nodad(nodad).noprefixroute(noprefixroute)
}

impl PyHandle {
    /// A Python `Handle` owning `h`.
    pub(crate) fn wrap(h: Handle) -> Self {
        let netns = h.netns().to_owned();
        PyHandle { inner: Closable::new(h, "Handle"), netns }
    }
}

#[pymethods]
impl PyHandle {
    /// Opens a handle in ``netns`` (None: the calling thread's namespace),
    /// with a per-request ``timeout`` in seconds.
    #[new]
    #[pyo3(signature = (netns=None, *, timeout=None))]
    fn new(py: Python<'_>, netns: Option<NetnsArg>, timeout: Option<f64>) -> PyResult<Self> {
        let timeout = timeout.map(|t| duration(py, t)).transpose()?;
        let h = without_gil(py, || {
            let h = match &netns {
                None => Handle::new()?,
                Some(n) => Handle::in_netns(&*n.open()?)?,
            };
            if let Some(t) = timeout {
                h.set_timeout(t)?;
            }
            Ok(h)
        })?;
        Ok(PyHandle::wrap(h))
    }

    /// True once ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Closes the socket (idempotent); a request running in another thread
    /// finishes first.
    fn close(&self, py: Python<'_>) {
        self.inner.close(py);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    /// Sets how long each request waits for the kernel, in seconds.
    fn set_timeout(&self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        let (h, t) = (self.h()?, duration(py, seconds)?);
        without_gil(py, || h.set_timeout(t))
    }

    // ---- ip link -------------------------------------------------------

    /// ``ip link show dev LINK``: one link, looked up in the kernel by name
    /// or index (never by dumping every link). ``NotFoundError`` if none.
    fn link_get(&self, py: Python<'_>, link: LinkArg) -> PyResult<PyLink> {
        let h = self.h()?;
        without_gil(py, || match &link {
            LinkArg::Index(i) => h.link_get_index(*i),
            LinkArg::Name(n) => h.link_get(n),
        })
        .map(PyLink::from)
    }

    /// ``ip link show``: every link in the namespace.
    fn links(&self, py: Python<'_>) -> PyResult<Vec<PyLink>> {
        let h = self.h()?;
        without_gil(py, || h.links()).map(|v| v.into_iter().map(PyLink::from).collect())
    }

    /// ``ip link add NAME [address MAC] [mtu MTU] type veth peer name PEER
    /// [address PEER_MAC] [netns PEER_NETNS]``: one request; the peer is
    /// created directly inside ``peer_netns``. The peer cannot be set up in
    /// the same request (the kernel refuses): use a handle in its namespace.
    #[pyo3(signature = (name, peer, *, mac=None, peer_mac=None, peer_netns=None, mtu=None))]
    #[allow(clippy::too_many_arguments)]
    fn veth_add(
        &self,
        py: Python<'_>,
        name: NameArg,
        peer: NameArg,
        mac: Option<MacArg>,
        peer_mac: Option<MacArg>,
        peer_netns: Option<NetnsArg>,
        mtu: Option<u32>,
    ) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || {
            let ns = peer_netns.as_ref().map(NetnsArg::open).transpose()?;
            let mut spec = VethSpec::new(name.0, peer.0);
            spec.mac = mac.map(|m| m.0);
            spec.peer_mac = peer_mac.map(|m| m.0);
            spec.peer_netns = ns.as_deref();
            spec.mtu = mtu;
            h.veth_add(&spec)
        })
    }

    /// ``ip link add link PARENT name NAME type vlan id VID``. On a kernel
    /// without 8021q: ``NotSupportedError``.
    fn vlan_add(&self, py: Python<'_>, name: NameArg, parent: LinkArg, vid: u16) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.vlan_add(&name.0, parent.index(&h)?, vid))
    }

    /// ``ip link add NAME type bridge``.
    fn bridge_add(&self, py: Python<'_>, name: NameArg) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.bridge_add(&name.0))
    }

    /// ``ip link set dev LINK master BRIDGE`` (``nomaster`` with None).
    fn link_set_master(&self, py: Python<'_>, link: LinkArg, master: Option<LinkArg>) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || {
            let m = master.as_ref().map(|m| m.index(&h)).transpose()?;
            h.link_set_master(link.index(&h)?, m)
        })
    }

    /// ``ip link set dev LINK up``.
    fn link_set_up(&self, py: Python<'_>, link: LinkArg) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.link_set_up(link.index(&h)?))
    }

    /// ``ip link set dev LINK down``.
    fn link_set_down(&self, py: Python<'_>, link: LinkArg) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.link_set_down(link.index(&h)?))
    }

    /// ``ip link set dev LINK mtu MTU``.
    fn link_set_mtu(&self, py: Python<'_>, link: LinkArg, mtu: u32) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.link_set_mtu(link.index(&h)?, mtu))
    }

    /// ``ip link set dev LINK netns NETNS``: moves the link into another
    /// namespace.
    fn link_set_netns(&self, py: Python<'_>, link: LinkArg, netns: NetnsArg) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || {
            let ns = netns.open()?;
            h.link_set_netns(link.index(&h)?, &ns)
        })
    }

    /// ``ip link del dev LINK``. Deleting one end of a veth deletes both.
    /// ``ip link set dev LINK group GROUP``.
    fn link_set_group(&self, py: Python<'_>, link: LinkArg, group: u32) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.link_set_group(link.index(&h)?, group))
    }

    /// ``ip link set dev LINK down group GROUP``, in one request.
    fn link_set_down_group(&self, py: Python<'_>, link: LinkArg, group: u32) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.link_set_down_group(link.index(&h)?, group))
    }

    /// ``ip link del group GROUP``: every link of the group in one request
    /// (the kernel unregisters them as one batch). Group 0, every link's
    /// default, is refused.
    fn link_del_group(&self, py: Python<'_>, group: u32) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.link_del_group(group))
    }

    fn link_del(&self, py: Python<'_>, link: LinkArg) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || match &link {
            LinkArg::Index(i) => h.link_del(*i),
            LinkArg::Name(n) => h.link_del_by_name(n),
        })
    }

    // ---- ip addr -------------------------------------------------------

    /// ``ip addr add PREFIX dev LINK [nodad] [noprefixroute]``.
    /// ``AlreadyExistsError`` if the address is there.
    #[pyo3(signature = (link, prefix, *, nodad=false, noprefixroute=false))]
    fn addr_add(
        &self,
        py: Python<'_>,
        link: LinkArg,
        prefix: PrefixArg,
        nodad: bool,
        noprefixroute: bool,
    ) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.addr_add(link.index(&h)?, prefix.0, addr_opts(nodad, noprefixroute)))
    }

    /// ``ip addr replace PREFIX dev LINK``: adds, or updates the existing one.
    #[pyo3(signature = (link, prefix, *, nodad=false, noprefixroute=false))]
    fn addr_replace(
        &self,
        py: Python<'_>,
        link: LinkArg,
        prefix: PrefixArg,
        nodad: bool,
        noprefixroute: bool,
    ) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.addr_replace(link.index(&h)?, prefix.0, addr_opts(nodad, noprefixroute)))
    }

    /// ``ip addr del PREFIX dev LINK``. ``NotFoundError`` if not there.
    fn addr_del(&self, py: Python<'_>, link: LinkArg, prefix: PrefixArg) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.addr_del(link.index(&h)?, prefix.0))
    }

    /// ``ip addr show [dev LINK]``: addresses of one link or all, both
    /// families.
    #[pyo3(signature = (link=None))]
    fn addrs(&self, py: Python<'_>, link: Option<LinkArg>) -> PyResult<Vec<PyAddress>> {
        self.list_of(py, link, Handle::addrs)
    }

    // ---- ip route ------------------------------------------------------

    /// ``ip route add ROUTE``: ``AlreadyExistsError`` if an identical route
    /// is there.
    fn route_add(&self, py: Python<'_>, route: &PyRoute) -> PyResult<()> {
        let (h, r) = (self.h()?, route.to_core());
        without_gil(py, || h.route_add(&r))
    }

    /// ``ip route replace ROUTE``.
    fn route_replace(&self, py: Python<'_>, route: &PyRoute) -> PyResult<()> {
        let (h, r) = (self.h()?, route.to_core());
        without_gil(py, || h.route_replace(&r))
    }

    /// ``ip route del ROUTE`` (any scope matches, as with iproute2).
    /// ``NotFoundError`` if no route matches.
    fn route_del(&self, py: Python<'_>, route: &PyRoute) -> PyResult<()> {
        let (h, r) = (self.h()?, route.to_core());
        without_gil(py, || h.route_del(&r))
    }

    /// ``ip route get fibmatch IP``: the table entry the kernel would use.
    /// ``NotFoundError`` when nothing routes it.
    fn route_get_fibmatch(&self, py: Python<'_>, ip: IpArg) -> PyResult<PyRoute> {
        let h = self.h()?;
        without_gil(py, || h.route_get_fibmatch(ip.0)).map(PyRoute::from)
    }

    /// ``ip [-4|-6] route show [table T] [dev D]``: unicast routes of one
    /// table (main by default); ``family`` is 4 or ``socket.AF_INET``, 6 or
    /// ``socket.AF_INET6``, or None for both.
    #[pyo3(signature = (*, family=None, table=None, oif=None))]
    fn routes(
        &self,
        py: Python<'_>,
        family: Option<u8>,
        table: Option<u32>,
        oif: Option<LinkArg>,
    ) -> PyResult<Vec<PyRoute>> {
        let ipv4 = match family {
            None => None,
            // 4 and 6 as `ip -4`/`ip -6` say it; AF_INET (2) and AF_INET6
            // (10) as `socket` and pyroute2 do.
            Some(4) | Some(2) => Some(true),
            Some(6) | Some(10) => Some(false),
            Some(f) => {
                return Err(to_pyerr(
                    py,
                    invalid("address family", f, "must be 4 or socket.AF_INET, 6 or socket.AF_INET6, or None"),
                ))
            }
        };
        let h = self.h()?;
        without_gil(py, || {
            let oif = oif.as_ref().map(|l| l.index(&h)).transpose()?;
            h.routes(RouteFilter::default().ipv4(ipv4).table(table).oif(oif))
        })
        .map(|v| v.into_iter().map(PyRoute::from).collect())
    }

    // ---- ip neigh ------------------------------------------------------

    /// ``ip neigh add IP lladdr MAC dev LINK nud permanent``.
    fn neigh_add(&self, py: Python<'_>, link: LinkArg, ip: IpArg, mac: MacArg) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.neigh_add(link.index(&h)?, ip.0, mac.0))
    }

    /// ``ip neigh replace IP lladdr MAC dev LINK nud permanent``.
    fn neigh_replace(&self, py: Python<'_>, link: LinkArg, ip: IpArg, mac: MacArg) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.neigh_replace(link.index(&h)?, ip.0, mac.0))
    }

    /// ``ip neigh del IP dev LINK``.
    fn neigh_del(&self, py: Python<'_>, link: LinkArg, ip: IpArg) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.neigh_del(link.index(&h)?, ip.0))
    }

    /// ``ip neigh add proxy IP dev LINK``: the kernel answers ARP (with
    /// forwarding on) or NDP (with ``proxy_ndp``) for ``ip`` on this link.
    /// Adding an existing proxy entry succeeds (the kernel does not report
    /// it).
    fn neigh_proxy_add(&self, py: Python<'_>, link: LinkArg, ip: IpArg) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.neigh_proxy_add(link.index(&h)?, ip.0))
    }

    /// ``ip neigh get proxy IP dev LINK``: the proxy entry, or None.
    fn neigh_proxy_get(&self, py: Python<'_>, link: LinkArg, ip: IpArg) -> PyResult<Option<PyNeighbour>> {
        let h = self.h()?;
        without_gil(py, || h.neigh_proxy_get(link.index(&h)?, ip.0)).map(|n| n.map(PyNeighbour::from))
    }

    /// ``ip neigh del proxy IP dev LINK``. ``NotFoundError`` if none.
    fn neigh_proxy_del(&self, py: Python<'_>, link: LinkArg, ip: IpArg) -> PyResult<()> {
        let h = self.h()?;
        without_gil(py, || h.neigh_proxy_del(link.index(&h)?, ip.0))
    }

    /// ``ip neigh show [dev LINK]``: neighbour cache entries, both families.
    #[pyo3(signature = (link=None))]
    fn neighbours(&self, py: Python<'_>, link: Option<LinkArg>) -> PyResult<Vec<PyNeighbour>> {
        self.list_of(py, link, Handle::neighbours)
    }

    /// ``ip neigh show proxy [dev LINK]``: proxy entries, both families.
    #[pyo3(signature = (link=None))]
    fn neigh_proxies(&self, py: Python<'_>, link: Option<LinkArg>) -> PyResult<Vec<PyNeighbour>> {
        self.list_of(py, link, Handle::neigh_proxies)
    }

    fn __repr__(&self) -> String {
        let state = if self.closed() { ", closed" } else { "" };
        format!("Handle({:?}{state})", self.netns)
    }
}

/// Seconds as a `Duration`: finite, positive.
fn duration(py: Python<'_>, seconds: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| to_pyerr(py, invalid("timeout", seconds, "must be a positive number of seconds")))
}

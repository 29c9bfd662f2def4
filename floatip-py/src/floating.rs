//! `FloatingIp`: a pod's floating address, with attach, detach and check;
//! `Attached`, `Drift` and `Attachment`, what the verbs and `Host.list`
//! return.

use std::net::IpAddr;
use std::path::PathBuf;

use floatip::announce::AnnounceOptions;
use floatip::floating::{Attached, Attachment, Drift, FloatingIp, Mode, NetnsRef, UplinkArp};
use floatip::IpPrefix;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyTuple};

use crate::announce::{PyAnnounceOptions, PyBackgroundAnnounce};
use crate::args::{address_text, interface_obj, mac_text, prefix_text, MacArg, NetnsArg};
use crate::errors::{invalid, to_pyerr};
use crate::gil::without_gil;
use crate::probe::PyProbeOptions;

/// A validated floating-IP spec for one pod: the routed ("pure L3")
/// dataplane by default, or bridge mode with ``bridge=``.
///
/// The keyword arguments mirror the Rust builder. ``attachment_id`` names
/// the attachment (CNI: ``CONTAINER_ID/IFNAME``; default: the pod key): the
/// owner mark on the host veth names it, detach and ``Host.gc`` go by it,
/// and the default host interface name and both MACs derive from it.
/// ``route_protocol`` is the route protocol number (and ``NDA_PROTOCOL``)
/// that marks the host routes and proxy entries as floatip's (default
/// ``DEFAULT_ROUTE_PROTOCOL``, 70; 0-4 are the kernel's). Exactly one of
/// ``pod_netns_path`` (as ``CNI_NETNS`` gives it), ``pod_netns_name`` or
/// ``create_pod_netns`` (a name: created by attach if missing, deleted by
/// detach) names the pod's namespace; ``host_netns`` is the host side's
/// (a ``Netns``, a name, a path; default: the calling thread's). ``ipv4``
/// and ``ipv6`` are ``(address_with_prefix, gateway)`` pairs, as ``str``
/// or ``ipaddress`` objects (``("10.0.0.100/23", "10.0.0.1")``).
/// ``uplink_arp`` is ``"proxy_entry"`` (a proxy neighbour entry for exactly
/// the pod's address, the default) or ``"proxy_arp"`` (blanket
/// ``proxy_arp`` on the uplink).
///
/// Routed mode adds, per floating IP, source policy rules on the host (see
/// ``docs/guide.md``, "Topologies"): ``policy_routing`` (default True)
/// sends what the main table would route by its default route through the
/// floating subnet's gateway instead, via the LAN interface's table
/// ``route_table`` (default ``default_table(lan_ifname)``; never 0 or
/// 253-255); ``anti_spoofing`` (default True) drops what the pod sends from
/// any other source; ``rule_priority`` (default ``DEFAULT_RULE_PRIORITY``,
/// 2000) is the first of the three rule priorities. ``lan_address``
/// (``"10.0.0.4/23"``) is added to the LAN interface when it has no IPv4
/// address in the floating subnet (a VLAN device floatip creates): without
/// one, a routed IPv4 attach raises ``InvalidArgumentError``, as the host
/// would ARP for the gateway from another subnet.
///
/// ``conntrack_flush`` (default None: True in routed mode, False in bridge
/// mode) deletes the host's conntrack entries of the floating IPs when
/// attach brings them here (before announcing) and when detach takes them
/// away, so that flows and NAT bindings of an earlier life of an IP do not
/// linger (``docs/announce.md``, "Conntrack").
///
/// Everything is validated when the object is made, before anything
/// touches the kernel: a bad value raises ``InvalidArgumentError``.
#[pyclass(frozen, eq, module = "floatip", name = "FloatingIp")]
#[derive(PartialEq)]
pub(crate) struct PyFloatingIp {
    spec: FloatingIp,
}

impl PyFloatingIp {
    /// The validated spec.
    pub(crate) fn spec(&self) -> &FloatingIp {
        &self.spec
    }
}

fn pair(obj: &Bound<'_, PyAny>, family: &str) -> PyResult<(String, String)> {
    let t = obj.cast::<PyTuple>().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!("{family} must be a tuple (address_with_prefix, gateway)"))
    })?;
    if t.len() != 2 {
        return Err(to_pyerr(
            obj.py(),
            invalid("floating ip", family, "expected a pair (address_with_prefix, gateway)"),
        ));
    }
    Ok((prefix_text(&t.get_item(0)?)?, address_text(&t.get_item(1)?)?))
}

#[pymethods]
impl PyFloatingIp {
    /// Builds and validates the spec; nothing is changed.
    #[new]
    #[pyo3(signature = (
        pod_key, uplink, *, attachment_id=None, route_protocol=None, pod_netns_path=None, pod_netns_name=None,
        create_pod_netns=None, host_netns=None, ipv4=None, ipv6=None, vlan=None, host_ifname=None, pod_ifname=None,
        mtu=None, host_mac=None, pod_mac=None, uplink_arp="proxy_entry", bridge=None, announce=None,
        conflict_probe=None, policy_routing=true, anti_spoofing=true, route_table=None, rule_priority=None, lan_address=None,
        conntrack_flush=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        pod_key: String,
        uplink: String,
        attachment_id: Option<String>,
        route_protocol: Option<u8>,
        pod_netns_path: Option<PathBuf>,
        pod_netns_name: Option<String>,
        create_pod_netns: Option<String>,
        host_netns: Option<NetnsArg>,
        ipv4: Option<Bound<'_, PyAny>>,
        ipv6: Option<Bound<'_, PyAny>>,
        vlan: Option<u16>,
        host_ifname: Option<String>,
        pod_ifname: Option<String>,
        mtu: Option<u32>,
        host_mac: Option<MacArg>,
        pod_mac: Option<MacArg>,
        uplink_arp: &str,
        bridge: Option<String>,
        announce: Option<Bound<'_, PyAny>>,
        conflict_probe: Option<Bound<'_, PyAny>>,
        policy_routing: bool,
        anti_spoofing: bool,
        route_table: Option<u32>,
        rule_priority: Option<u32>,
        lan_address: Option<Bound<'_, PyAny>>,
        conntrack_flush: Option<bool>,
    ) -> PyResult<Self> {
        let err = |e| to_pyerr(py, e);
        let given = [pod_netns_path.is_some(), pod_netns_name.is_some(), create_pod_netns.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(err(invalid(
                "pod netns",
                "",
                "give only one of pod_netns_path, pod_netns_name, create_pod_netns",
            )));
        }
        let mut b = FloatingIp::builder(pod_key, uplink);
        if let Some(id) = attachment_id {
            b = b.attachment_id(id);
        }
        if let Some(p) = route_protocol {
            b = b.route_protocol(p);
        }
        if let Some(p) = pod_netns_path {
            b = b.pod_netns_path(p);
        }
        if let Some(n) = pod_netns_name {
            b = b.pod_netns_name(n);
        }
        if let Some(n) = create_pod_netns {
            b = b.create_pod_netns(n);
        }
        if let Some(h) = host_netns {
            b = b.host_netns(h.netns_ref());
        }
        if let Some(v) = ipv4 {
            let (a, g) = pair(&v, "ipv4")?;
            b = b.ipv4(a, g);
        }
        if let Some(v) = ipv6 {
            let (a, g) = pair(&v, "ipv6")?;
            b = b.ipv6(a, g);
        }
        if let Some(v) = vlan {
            b = b.vlan(v);
        }
        if let Some(n) = host_ifname {
            b = b.host_ifname(n);
        }
        if let Some(n) = pod_ifname {
            b = b.pod_ifname(n);
        }
        if let Some(m) = mtu {
            b = b.mtu(m);
        }
        b = b.macs(host_mac.map(|m| m.0), pod_mac.map(|m| m.0));
        b = b.uplink_arp(match uplink_arp {
            "proxy_entry" => UplinkArp::ProxyEntry,
            "proxy_arp" => UplinkArp::ProxyArp,
            other => return Err(err(invalid("uplink_arp", other, "must be \"proxy_entry\" or \"proxy_arp\""))),
        });
        if let Some(br) = bridge {
            b = b.bridge(br);
        }
        b = b.policy_routing(policy_routing).anti_spoofing(anti_spoofing);
        if let Some(t) = route_table {
            b = b.route_table(t);
        }
        if let Some(p) = rule_priority {
            b = b.rule_priority(p);
        }
        if let Some(a) = lan_address {
            b = b.lan_address(prefix_text(&a)?);
        }
        if let Some(on) = conntrack_flush {
            b = b.conntrack_flush(on);
        }
        // None: the mode's default (routed announces, bridge does not);
        // True: the default options; False: off; or AnnounceOptions.
        if let Some(a) = announce {
            if let Ok(o) = a.cast::<PyAnnounceOptions>() {
                b = b.announce(o.get().to_core());
            } else if let Ok(on) = a.cast::<PyBool>() {
                b = if on.is_true() { b.announce(AnnounceOptions::default()) } else { b.no_announce() };
            } else {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "announce must be None, a bool or AnnounceOptions, got {}",
                    a.get_type().name()?
                )));
            }
        }
        // None or False: no probe (the default); True: the default
        // options; or ProbeOptions.
        if let Some(p) = conflict_probe {
            if let Ok(o) = p.cast::<PyProbeOptions>() {
                b = b.conflict_probe(o.get().to_core());
            } else if let Ok(on) = p.cast::<PyBool>() {
                if on.is_true() {
                    b = b.conflict_probe(floatip::probe::ProbeOptions::default());
                }
            } else {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "conflict_probe must be None, a bool or ProbeOptions, got {}",
                    p.get_type().name()?
                )));
            }
        }
        b.build().map(|spec| PyFloatingIp { spec }).map_err(err)
    }

    /// The default host-side interface name for an attachment id (by
    /// default the pod key): ``fip`` and 12 hex digits of a hash of the id
    /// (stable, 15 bytes).
    #[staticmethod]
    fn default_host_ifname(attachment_id: &str) -> String {
        FloatingIp::default_host_ifname(attachment_id).to_string()
    }

    /// Wires the pod's floating IP(s), all or nothing: a failing step
    /// undoes the steps done, and the error is raised. Attaching the same
    /// spec again changes nothing (``Attached.changes`` is empty). A
    /// conflict with what is there raises ``ConflictError`` before any
    /// change.
    fn attach(&self, py: Python<'_>) -> PyResult<PyAttached> {
        let a = without_gil(py, || self.spec.attach())?;
        PyAttached::new(py, a)
    }

    /// Removes what attach made, and only what is this attachment's: the
    /// host veth when its owner mark names this attachment and this pod
    /// namespace (with it the pod end and the host routes), floatip's
    /// proxy entries on the uplink for IPs no other veth serves, the pod
    /// namespace if attach created it. A veth of another attachment, or of
    /// a later sandbox of this one (a DEL that came late: this spec's pod
    /// namespace is gone or is another one), is left alone. Succeeds when
    /// parts are already gone. Returns what it removed, as ``ip`` commands.
    fn detach(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        without_gil(py, || self.spec.detach())
    }

    /// Detaches many pods at once, as a node drain does: the host veths of
    /// each host namespace go in one link-group delete, which the kernel
    /// unregisters as one batch (one by one, each veth waits ~20-35 ms
    /// for RCU; together they share the wait). Proxy entries and created
    /// pod namespaces go as with ``detach``. Idempotent; returns what it
    /// removed.
    #[staticmethod]
    fn detach_many(py: Python<'_>, fips: Vec<PyRef<'_, PyFloatingIp>>) -> PyResult<Vec<String>> {
        let specs: Vec<FloatingIp> = fips.iter().map(|f| f.spec.clone()).collect();
        without_gil(py, || FloatingIp::detach_many(&specs))
    }

    /// Reads the state back and returns every difference from the spec
    /// (CNI CHECK); empty when all is well.
    fn check(&self, py: Python<'_>) -> PyResult<Vec<PyDrift>> {
        without_gil(py, || self.spec.check()).map(|v| v.into_iter().map(PyDrift::from).collect())
    }

    /// The pod (``namespace/pod``), kept in the owner mark when it fits.
    #[getter]
    fn pod_key(&self) -> &str {
        self.spec.pod_key()
    }
    /// The attachment id: as given, or the pod key.
    #[getter]
    fn attachment_id(&self) -> &str {
        self.spec.attachment_id()
    }
    /// The route protocol number of the host routes and proxy entries.
    #[getter]
    fn route_protocol(&self) -> u8 {
        self.spec.route_protocol()
    }
    /// Whether routed egress goes by the LAN interface's table.
    #[getter]
    fn policy_routing(&self) -> bool {
        self.spec.policy_routing()
    }
    /// Whether the host drops what the pod sends from other sources.
    #[getter]
    fn anti_spoofing(&self) -> bool {
        self.spec.anti_spoofing()
    }
    /// Whether attach and detach delete the host's conntrack entries of
    /// the floating IPs.
    #[getter]
    fn conntrack_flush(&self) -> bool {
        self.spec.conntrack_flush()
    }
    /// The policy routing table (routed mode with policy routing), else
    /// None.
    #[getter]
    fn route_table(&self) -> Option<u32> {
        self.spec.rule_plan().filter(|p| p.policy_routing()).map(|p| p.table)
    }
    /// The first of the three rule priorities.
    #[getter]
    fn rule_priority(&self) -> u32 {
        self.spec.rule_priority()
    }
    /// The IPv4 address given for the LAN interface, else None.
    #[getter]
    fn lan_address(&self) -> Option<String> {
        self.spec.lan_address().map(|p| p.to_string())
    }
    /// The uplink on the LAN.
    #[getter]
    fn uplink(&self) -> &str {
        self.spec.uplink().as_str()
    }
    /// The LAN-facing interface: the uplink, or ``<uplink>.<vlan>``.
    #[getter]
    fn lan_ifname(&self) -> String {
        self.spec.lan_ifname().to_string()
    }
    /// The host-side veth name.
    #[getter]
    fn host_ifname(&self) -> &str {
        self.spec.host_ifname().as_str()
    }
    /// The pod-side veth name.
    #[getter]
    fn pod_ifname(&self) -> &str {
        self.spec.pod_ifname().as_str()
    }
    /// The pod namespace's name (given by ``pod_netns_name`` or
    /// ``create_pod_netns``), else None.
    #[getter]
    fn pod_netns_name(&self) -> Option<&str> {
        match &self.spec.pod_netns() {
            NetnsRef::Name(n) => Some(n),
            _ => None,
        }
    }
    /// The pod namespace's path (given by ``pod_netns_path``), else None.
    #[getter]
    fn pod_netns_path(&self) -> Option<PathBuf> {
        match &self.spec.pod_netns() {
            NetnsRef::Path(p) => Some(p.clone()),
            _ => None,
        }
    }
    /// True when attach creates the pod namespace and detach deletes it.
    #[getter]
    fn creates_pod_netns(&self) -> bool {
        self.spec.create_pod_netns()
    }
    /// The host side's namespace, by name or path; None for the calling
    /// thread's.
    #[getter]
    fn host_netns(&self) -> Option<String> {
        self.spec.host_netns().given()
    }
    /// ``(IPv4Interface, IPv4Address)``: the floating IPv4 address with
    /// the LAN's prefix, and the gateway; or None.
    #[getter]
    fn ipv4<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.spec.ipv4().as_ref().map(|a| addr_pair(py, &a.address, a.gateway)).transpose()
    }
    /// ``(IPv6Interface, IPv6Address)``, or None.
    #[getter]
    fn ipv6<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.spec.ipv6().as_ref().map(|a| addr_pair(py, &a.address, a.gateway)).transpose()
    }
    /// The VLAN id, or None.
    #[getter]
    fn vlan(&self) -> Option<u16> {
        self.spec.vlan()
    }
    /// The veth MTU, or None for the uplink's.
    #[getter]
    fn mtu(&self) -> Option<u32> {
        self.spec.mtu()
    }
    /// The host end's MAC: as given, or derived from the attachment id.
    #[getter]
    fn host_mac(&self) -> String {
        self.spec.host_mac().to_string()
    }
    /// The pod end's MAC: as given, or derived from the attachment id.
    #[getter]
    fn pod_mac(&self) -> String {
        self.spec.pod_mac().to_string()
    }
    /// ``"proxy_entry"`` or ``"proxy_arp"``.
    #[getter]
    fn uplink_arp(&self) -> &'static str {
        match self.spec.uplink_arp() {
            UplinkArp::ProxyEntry => "proxy_entry",
            UplinkArp::ProxyArp => "proxy_arp",
            // A later floatip's way, which this binding does not know.
            _ => "other",
        }
    }
    /// How attach announces the floating IPs, or None when it does not.
    #[getter]
    fn announce(&self) -> Option<PyAnnounceOptions> {
        self.spec.announce().cloned().map(PyAnnounceOptions::from_core)
    }
    /// How attach probes for a conflict first, or None when it does not
    /// (the default).
    #[getter]
    fn conflict_probe(&self) -> Option<PyProbeOptions> {
        self.spec.conflict_probe().cloned().map(PyProbeOptions::from_core)
    }
    /// The bridge in bridge mode; None in routed mode.
    #[getter]
    fn bridge(&self) -> Option<&str> {
        match &self.spec.mode() {
            Mode::Bridge(b) => Some(b.as_str()),
            _ => None,
        }
    }
    fn __repr__(&self) -> String {
        let s = &self.spec;
        let mut out = format!("FloatingIp({:?}, {:?}", s.pod_key(), s.uplink().as_str());
        if s.attachment_id() != s.pod_key() {
            out += &format!(", attachment_id={:?}", s.attachment_id());
        }
        if let Some(a) = &s.ipv4() {
            out += &format!(", ipv4=('{}', '{}')", a.address, a.gateway);
        }
        if let Some(a) = &s.ipv6() {
            out += &format!(", ipv6=('{}', '{}')", a.address, a.gateway);
        }
        out += &format!(", host_ifname={:?})", s.host_ifname().as_str());
        out
    }
}

fn addr_pair<'py>(py: Python<'py>, address: &IpPrefix, gateway: std::net::IpAddr) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, [interface_obj(py, address)?, gateway.into_pyobject(py)?])
}

/// What ``FloatingIp.attach`` did, and the announcement it started.
#[pyclass(frozen, module = "floatip", name = "Attached")]
pub(crate) struct PyAttached {
    inner: AttachedValue,
    announcement: Option<Py<PyBackgroundAnnounce>>,
}

struct AttachedValue {
    attachment_id: String,
    mark: String,
    host_ifindex: u32,
    pod_ifindex: u32,
    host_mac: Option<floatip::Mac>,
    uplink_ifindex: u32,
    uplink_mac: Option<floatip::Mac>,
    changes: Vec<String>,
    announced: Vec<String>,
}

impl PyAttached {
    pub(crate) fn new(py: Python<'_>, a: Attached) -> PyResult<Self> {
        let announcement = match a.announcement {
            Some(bg) => Some(Py::new(py, PyBackgroundAnnounce::wrap(Some(bg)))?),
            None => None,
        };
        Ok(PyAttached {
            announcement,
            inner: AttachedValue {
                attachment_id: a.attachment_id,
                mark: a.mark.to_alias(),
                host_ifindex: a.host_ifindex,
                pod_ifindex: a.pod_ifindex,
                host_mac: a.host_mac,
                uplink_ifindex: a.uplink_ifindex,
                uplink_mac: a.uplink_mac,
                changes: a.changes,
                announced: a.announced,
            },
        })
    }
}

#[pymethods]
impl PyAttached {
    /// The attachment made.
    #[getter]
    fn attachment_id(&self) -> &str {
        &self.inner.attachment_id
    }
    /// The owner mark on the host veth, as its alias text (``ip -d link
    /// show``: ``alias floatip/1 id=... ns=...``; ``Link.alias``).
    #[getter]
    fn mark(&self) -> &str {
        &self.inner.mark
    }
    /// Host-side veth index.
    #[getter]
    fn host_ifindex(&self) -> u32 {
        self.inner.host_ifindex
    }
    /// Pod-side veth index (in the pod namespace).
    #[getter]
    fn pod_ifindex(&self) -> u32 {
        self.inner.pod_ifindex
    }
    /// The host veth's MAC (the pod's gateway MAC in routed mode).
    #[getter]
    fn host_mac(&self) -> Option<String> {
        mac_text(self.inner.host_mac)
    }
    /// The LAN-facing interface's index (uplink or its VLAN).
    #[getter]
    fn uplink_ifindex(&self) -> u32 {
        self.inner.uplink_ifindex
    }
    /// The uplink's MAC: what LAN neighbours learn for the floating IP.
    #[getter]
    fn uplink_mac(&self) -> Option<String> {
        mac_text(self.inner.uplink_mac)
    }
    /// Each change made, in order, as an ``ip``/``sysctl`` command would
    /// say it; empty when everything was already in place.
    #[getter]
    fn changes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.inner.changes)
    }
    /// What was announced before attach returned (its first round), in
    /// words; empty when announcing is off.
    #[getter]
    fn announced<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.inner.announced)
    }
    /// The announcement's remaining rounds, running in the background;
    /// None when there are none.
    #[getter]
    fn announcement(&self, py: Python<'_>) -> Option<Py<PyBackgroundAnnounce>> {
        self.announcement.as_ref().map(|a| a.clone_ref(py))
    }
    fn __repr__(&self) -> String {
        let a = &self.inner;
        format!(
            "Attached(attachment_id={:?}, host_ifindex={}, pod_ifindex={}, host_mac={:?}, uplink_ifindex={}, \
             uplink_mac={:?}, changes=<{} changes>)",
            a.attachment_id,
            a.host_ifindex,
            a.pod_ifindex,
            mac_text(a.host_mac),
            a.uplink_ifindex,
            mac_text(a.uplink_mac),
            a.changes.len()
        )
    }
}

/// One difference between a spec and the kernel's state.
#[pyclass(frozen, eq, hash, module = "floatip", name = "Drift")]
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct PyDrift {
    /// Where: ``host``, ``pod`` or ``uplink``.
    #[pyo3(get)]
    place: &'static str,
    /// What should be there, in ``ip``/``sysctl`` words.
    #[pyo3(get)]
    expected: String,
    /// What was found instead.
    #[pyo3(get)]
    found: String,
}

impl From<Drift> for PyDrift {
    fn from(d: Drift) -> Self {
        PyDrift { place: d.place, expected: d.expected, found: d.found }
    }
}

#[pymethods]
impl PyDrift {
    fn __str__(&self) -> String {
        format!("{}: expected {}, found {}", self.place, self.expected, self.found)
    }
    fn __repr__(&self) -> String {
        format!("Drift(place={:?}, expected={:?}, found={:?})", self.place, self.expected, self.found)
    }
}

/// One attachment (or orphan) on a node, as ``Host.list`` reads it back
/// from floatip's owner marks alone: a fresh process sees what an earlier
/// one attached.
///
/// ``state`` is ``"complete"`` (every host-side object is there),
/// ``"partial"`` (the marked veth is there, something else is missing: see
/// ``missing``) or ``"orphaned"`` (a proxy entry or route with floatip's
/// protocol and no marked veth behind it; its owner is no longer known,
/// so ``attachment_id`` is None) or ``"tombstone"`` (a host veth that
/// ``Host.detach`` retired, down and in link group ``TOMBSTONE_GROUP``,
/// whose delete is pending: not attached, whatever its mark says).
#[pyclass(frozen, eq, hash, module = "floatip", name = "Attachment")]
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct PyAttachment {
    /// The attachment id from the veth's owner mark; None for an orphan.
    #[pyo3(get)]
    attachment_id: Option<String>,
    /// The pod key, when the mark holds it (it is left out of a mark it
    /// would not fit in).
    #[pyo3(get)]
    pod_key: Option<String>,
    ips: Vec<IpAddr>,
    /// The host veth's name; for an orphan route, its output interface's.
    #[pyo3(get)]
    host_ifname: Option<String>,
    /// The host veth's index, when known.
    #[pyo3(get)]
    host_ifindex: Option<u32>,
    mac: Option<floatip::Mac>,
    /// The LAN interface of its proxy entries (routed mode); None for a
    /// bridge-mode attachment.
    #[pyo3(get)]
    lan: Option<String>,
    /// The pod namespace's nsfs inode, from the mark (``os.stat`` of a
    /// ``/run/netns`` file shows it as ``st_ino``).
    #[pyo3(get)]
    pod_netns_inode: Option<u64>,
    /// The name under ``/run/netns`` of that namespace, if it has one.
    #[pyo3(get)]
    pod_netns_name: Option<String>,
    /// The host's id for the veth peer's namespace (``IFLA_LINK_NETNSID``);
    /// None when the peer is gone.
    #[pyo3(get)]
    peer_netnsid: Option<i32>,
    /// ``"complete"``, ``"partial"``, ``"orphaned"`` or ``"tombstone"``.
    #[pyo3(get)]
    state: String,
    missing: Vec<String>,
}

impl From<Attachment> for PyAttachment {
    fn from(a: Attachment) -> Self {
        let (host_ifname, host_ifindex, mac) = match a.host_veth {
            // The core gives an orphan route's interface by name with
            // index 0, which no interface has: "not known".
            Some((name, index, mac)) => (Some(name), (index != 0).then_some(index), mac),
            None => (None, None, None),
        };
        PyAttachment {
            attachment_id: a.attachment_id,
            pod_key: a.pod_key,
            ips: a.ips,
            host_ifname,
            host_ifindex,
            mac,
            lan: a.lan,
            pod_netns_inode: a.pod_netns_inode,
            pod_netns_name: a.pod_netns_name,
            peer_netnsid: a.peer_netnsid,
            state: a.state.to_string(),
            missing: a.missing,
        }
    }
}

#[pymethods]
impl PyAttachment {
    /// The floating IPs: ``IPv4Address``/``IPv6Address``, IPv4 first.
    #[getter]
    fn ips<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.ips)
    }
    /// The host veth's MAC ``aa:bb:cc:dd:ee:ff``, or None.
    #[getter]
    fn host_mac(&self) -> Option<String> {
        mac_text(self.mac)
    }
    /// What is missing, in ``ip`` words (``ip route add 10.0.0.100/32 dev
    /// fip...``); empty when complete.
    #[getter]
    fn missing<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.missing)
    }
    fn __repr__(&self) -> String {
        let ips = tuple_repr(self.ips.iter().map(|i| format!("'{i}'")));
        let missing = tuple_repr(self.missing.iter().map(|m| format!("{m:?}")));
        format!(
            "Attachment(attachment_id={}, state={:?}, ips={ips}, host_ifname={}, lan={}, pod_netns_name={}, \
             missing={missing})",
            opt_str(&self.attachment_id),
            self.state,
            opt_str(&self.host_ifname),
            opt_str(&self.lan),
            opt_str(&self.pod_netns_name),
        )
    }
}

/// A Python tuple literal of items already written as literals: ``()``,
/// ``('a',)``, ``('a', 'b')``.
fn tuple_repr(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.as_slice() {
        [one] => format!("({one},)"),
        all => format!("({})", all.join(", ")),
    }
}

/// A Python literal for an optional string: ``"text"`` or ``None``.
fn opt_str(v: &Option<String>) -> String {
    match v {
        Some(s) => format!("{s:?}"),
        None => "None".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprs_are_python_literals() {
        let t = |v: &[&str]| tuple_repr(v.iter().map(|s| format!("{s:?}")));
        assert_eq!(t(&[]), "()");
        assert_eq!(t(&["a"]), "(\"a\",)");
        assert_eq!(t(&["a", "b"]), "(\"a\", \"b\")");
        assert_eq!(opt_str(&None), "None");
        assert_eq!(opt_str(&Some("x/eth0".into())), "\"x/eth0\"");
    }
}

//! `Announcer`: gratuitous ARP and unsolicited Neighbor Advertisements,
//! blocking or in the background.

use std::sync::Arc;
use std::time::Duration;

use floatip::announce::{AnnounceOptions, AnnounceReport, Announcer, ArpMode, BackgroundAnnounce};
use floatip::Netns;
use pyo3::prelude::*;

use crate::args::{mac_text, IpArg, MacArg, NameArg, NetnsArg};
use crate::errors::{invalid, to_pyerr};
use crate::gil::without_gil;
use crate::running::Running;

/// How to announce: ``count`` rounds (the first at once), ``interval``
/// seconds apart; per round for each IPv4 address the ARP forms of ``arp``
/// (``"request"``, ``"reply"`` or ``"both"``, the default: what every
/// receiver accepts), for each IPv6 address one unsolicited NA with
/// Override set. ``broadcast_target_mac`` puts ff:ff:ff:ff:ff:ff in
/// requests (as ``arping -U``); ``na_router`` sets the Router flag;
/// ``na_source`` is the NA's IPv6 source (default: the announced address);
/// ``mac`` the MAC to announce (default: the interface's).
#[pyclass(frozen, eq, hash, module = "floatip", name = "AnnounceOptions")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PyAnnounceOptions {
    /// Rounds to send.
    #[pyo3(get)]
    count: u32,
    interval: Duration,
    /// ``"request"``, ``"reply"`` or ``"both"``.
    #[pyo3(get)]
    arp: &'static str,
    /// Requests carry a broadcast target MAC.
    #[pyo3(get)]
    broadcast_target_mac: bool,
    /// NAs carry the Router flag.
    #[pyo3(get)]
    na_router: bool,
    na_source: Option<std::net::Ipv6Addr>,
    mac: Option<floatip::Mac>,
}

impl PyAnnounceOptions {
    pub(crate) fn to_core(self) -> AnnounceOptions {
        AnnounceOptions::default()
            .count(self.count)
            .interval(self.interval)
            .arp(arp_mode(self.arp))
            .broadcast_target_mac(self.broadcast_target_mac)
            .na_router(self.na_router)
            .na_source(self.na_source)
            .mac(self.mac)
    }

    pub(crate) fn from_core(o: AnnounceOptions) -> Self {
        PyAnnounceOptions {
            count: o.count,
            interval: o.interval,
            arp: arp_name(o.arp),
            broadcast_target_mac: o.broadcast_target_mac,
            na_router: o.na_router,
            na_source: o.na_source,
            mac: o.mac,
        }
    }
}

fn arp_mode(name: &str) -> ArpMode {
    match name {
        "request" => ArpMode::Request,
        "reply" => ArpMode::Reply,
        _ => ArpMode::Both,
    }
}

fn arp_name(a: ArpMode) -> &'static str {
    match a {
        ArpMode::Request => "request",
        ArpMode::Reply => "reply",
        ArpMode::Both => "both",
        // A later floatip's form, which this binding does not know.
        _ => "other",
    }
}

#[pymethods]
impl PyAnnounceOptions {
    /// Validates the options; nothing is sent.
    #[new]
    #[pyo3(signature = (*, count=3, interval=1.0, arp="both", broadcast_target_mac=false, na_router=false, na_source=None, mac=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        count: u32,
        interval: f64,
        arp: &str,
        broadcast_target_mac: bool,
        na_router: bool,
        na_source: Option<IpArg>,
        mac: Option<MacArg>,
    ) -> PyResult<Self> {
        let err = |e| to_pyerr(py, e);
        let interval = Duration::try_from_secs_f64(interval)
            .map_err(|_| err(invalid("announce interval", interval, "must be a finite number of seconds >= 0")))?;
        let arp = match arp {
            "request" => "request",
            "reply" => "reply",
            "both" => "both",
            other => return Err(err(invalid("announce arp", other, "must be \"request\", \"reply\" or \"both\""))),
        };
        let na_source = match na_source.map(|a| a.0) {
            None => None,
            Some(std::net::IpAddr::V6(a)) => Some(a),
            Some(v4) => return Err(err(invalid("announce na_source", v4, "must be an IPv6 address"))),
        };
        if let Some(m) = mac {
            if !m.0.is_valid_source() {
                return Err(err(invalid("announce mac", m.0, "not a unicast MAC address")));
            }
        }
        Ok(PyAnnounceOptions {
            count,
            interval,
            arp,
            broadcast_target_mac,
            na_router,
            na_source,
            mac: mac.map(|m| m.0),
        })
    }
    /// Seconds between rounds.
    #[getter]
    fn interval(&self) -> f64 {
        self.interval.as_secs_f64()
    }
    /// The NAs' IPv6 source, or None for the announced address.
    #[getter]
    fn na_source(&self) -> Option<std::net::IpAddr> {
        self.na_source.map(std::net::IpAddr::V6)
    }
    /// The MAC announced, or None for the interface's.
    #[getter]
    fn mac(&self) -> Option<String> {
        mac_text(self.mac)
    }
    fn __repr__(&self) -> String {
        format!(
            "AnnounceOptions(count={}, interval={:?}, arp='{}', broadcast_target_mac={}, na_router={}, na_source={}, mac={})",
            self.count,
            self.interval.as_secs_f64(),
            self.arp,
            if self.broadcast_target_mac { "True" } else { "False" },
            if self.na_router { "True" } else { "False" },
            self.na_source.map(|a| format!("'{a}'")).unwrap_or_else(|| "None".into()),
            mac_text(self.mac).map(|m| format!("'{m}'")).unwrap_or_else(|| "None".into()),
        )
    }
}

/// What an announcement sent.
#[pyclass(frozen, eq, hash, module = "floatip", name = "AnnounceReport")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PyAnnounceReport {
    /// Rounds sent.
    #[pyo3(get)]
    rounds: u32,
    /// Frames sent, over all rounds.
    #[pyo3(get)]
    frames: u64,
}

impl From<AnnounceReport> for PyAnnounceReport {
    fn from(r: AnnounceReport) -> Self {
        PyAnnounceReport { rounds: r.rounds, frames: r.frames }
    }
}

#[pymethods]
impl PyAnnounceReport {
    fn __repr__(&self) -> String {
        format!("AnnounceReport(rounds={}, frames={})", self.rounds, self.frames)
    }
}

fn options(o: Option<&PyAnnounceOptions>) -> AnnounceOptions {
    o.map(|o| o.to_core()).unwrap_or_default()
}

fn ips(v: Vec<IpArg>) -> Vec<std::net::IpAddr> {
    v.into_iter().map(|a| a.0).collect()
}

/// A raw-frame sender (AF_PACKET) bound to one interface of one namespace.
///
/// ``Announcer(netns, "bond1")`` looks the interface up and opens the
/// socket inside ``netns`` (a ``Netns``, a name or a path; None: the
/// calling thread's). No address on the interface and no
/// ``ip_nonlocal_bind`` are needed. Safe to share between threads.
#[pyclass(frozen, module = "floatip", name = "Announcer")]
pub(crate) struct PyAnnouncer {
    sender: Announcer,
    netns: Arc<Netns>,
    /// The interface name.
    #[pyo3(get)]
    ifname: String,
}

#[pymethods]
impl PyAnnouncer {
    /// Opens a sender on ``ifname`` of ``netns``.
    #[new]
    fn new(py: Python<'_>, netns: Option<NetnsArg>, ifname: NameArg) -> PyResult<Self> {
        let (sender, netns) = without_gil(py, || {
            let ns = match &netns {
                Some(n) => n.open()?,
                None => Arc::new(Netns::current()?),
            };
            Ok((Announcer::new(&ns, &ifname.0)?, ns))
        })?;
        Ok(PyAnnouncer { sender, netns, ifname: ifname.0.to_string() })
    }
    /// The interface's MAC (announced unless the options give another).
    #[getter]
    fn mac(&self) -> String {
        self.sender.mac().to_string()
    }
    /// The interface index the socket is bound to.
    #[getter]
    fn ifindex(&self) -> u32 {
        self.sender.ifindex()
    }
    /// Sends one round for every address now; returns the frame count.
    #[pyo3(signature = (ips, options=None))]
    fn send_round(
        &self,
        py: Python<'_>,
        ips: Vec<IpArg>,
        options: Option<PyRef<'_, PyAnnounceOptions>>,
    ) -> PyResult<u64> {
        let (ips, o) = (self::ips(ips), self::options(options.as_deref()));
        without_gil(py, || self.sender.send_round(&ips, &o))
    }
    /// Sends every round, blocking (with the GIL released) until the last.
    #[pyo3(signature = (ips, options=None))]
    fn announce(
        &self,
        py: Python<'_>,
        ips: Vec<IpArg>,
        options: Option<PyRef<'_, PyAnnounceOptions>>,
    ) -> PyResult<PyAnnounceReport> {
        let (ips, o) = (self::ips(ips), self::options(options.as_deref()));
        without_gil(py, || self.sender.announce(&ips, &o)).map(PyAnnounceReport::from)
    }
    /// Sends the first round now, before returning, and the rest from a
    /// background thread (with a socket of its own). Returns its handle;
    /// dropping the handle lets the rounds finish on their own.
    #[pyo3(signature = (ips, options=None))]
    fn spawn(
        &self,
        py: Python<'_>,
        ips: Vec<IpArg>,
        options: Option<PyRef<'_, PyAnnounceOptions>>,
    ) -> PyResult<PyBackgroundAnnounce> {
        let (ips, o) = (self::ips(ips), self::options(options.as_deref()));
        let bg = without_gil(py, || {
            let own = Announcer::with_link(&self.netns, self.sender.ifindex(), &self.ifname, self.sender.mac())?;
            own.spawn(&ips, o)
        })?;
        Ok(PyBackgroundAnnounce::wrap(Some(bg)))
    }
    /// Sends frames built elsewhere as they are (complete Ethernet frames,
    /// e.g. from ``struct``), for tests and forms this class does not
    /// build; returns the number sent.
    fn send_raw(&self, py: Python<'_>, frames: Vec<Vec<u8>>) -> PyResult<u64> {
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        without_gil(py, || self.sender.send_raw(&refs))
    }
    fn __repr__(&self) -> String {
        format!("Announcer(dev={:?}, {}, mac='{}')", self.ifname, self.netns.describe(), self.sender.mac())
    }
}

/// The background part of an announcement. ``wait()`` for its last round,
/// ``stop()`` it before the next, or drop it to let it finish on its own.
/// Either call may be made once.
#[pyclass(frozen, module = "floatip", name = "BackgroundAnnounce")]
pub(crate) struct PyBackgroundAnnounce {
    inner: Running<BackgroundAnnounce>,
}

impl crate::running::Stop for BackgroundAnnounce {
    type Report = floatip::announce::AnnounceReport;
    fn stop(self) -> floatip::Result<Self::Report> {
        BackgroundAnnounce::stop(self)
    }
}

impl PyBackgroundAnnounce {
    pub(crate) fn wrap(bg: Option<BackgroundAnnounce>) -> Self {
        PyBackgroundAnnounce { inner: Running::new(bg, "this announcement was already waited for or stopped") }
    }
}

#[pymethods]
impl PyBackgroundAnnounce {
    /// True once the last round was sent, or the sender stopped or failed.
    #[getter]
    fn finished(&self) -> bool {
        self.inner.peek(|bg| bg.is_none_or(BackgroundAnnounce::is_finished))
    }
    /// Waits (GIL released) for the last round; returns what was sent, or
    /// raises the error a round met.
    fn wait(&self, py: Python<'_>) -> PyResult<PyAnnounceReport> {
        let bg = self.inner.take()?;
        without_gil(py, || bg.wait()).map(PyAnnounceReport::from)
    }
    /// Stops before the next round; returns what was sent.
    fn stop(&self, py: Python<'_>) -> PyResult<PyAnnounceReport> {
        let bg = self.inner.take()?;
        without_gil(py, || bg.stop()).map(PyAnnounceReport::from)
    }
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    /// Leaving a ``with`` block stops the rounds (unless ``wait()`` or
    /// ``stop()`` ran already); an exception from the block propagates,
    /// and so does the error a round met.
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.inner.exit(py)
    }
    fn __repr__(&self) -> String {
        format!("BackgroundAnnounce(finished={})", if self.finished() { "True" } else { "False" })
    }
}

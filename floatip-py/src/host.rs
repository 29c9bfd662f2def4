//! `Host`: the host side of a node, opened once and kept across verbs.

use floatip::floating::mark::DEFAULT_PROTOCOL;
use floatip::floating::{FloatingIp, NetnsRef};
use floatip::Host;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;

use std::sync::Arc;

use pyo3::types::PyTuple;

use crate::announce::PyAnnounceOptions;
use crate::args::NetnsArg;
use crate::closable::Closable;
use crate::errors::{invalid, to_pyerr};
use crate::floating::{PyAttached, PyAttachment, PyDrift, PyFloatingIp};
use crate::gil::without_gil;
use crate::handle::PyHandle;
use crate::watch::{PyReannouncer, PyWatcher};

/// The host network namespace of a node, held open with a netlink socket
/// in it: what a node agent keeps while it wires pods.
///
/// ``Host()`` is the calling thread's namespace (an agent that runs in the
/// host namespace, as node agents do); ``Host(netns)`` another one: a
/// ``Netns``, a name under ``/run/netns`` or a path. Its ``attach``,
/// ``detach``, ``detach_many`` and ``check`` do what the ``FloatingIp``
/// methods of the same names do, all or nothing alike, without opening the
/// host namespace and a socket on every call (25-50 µs each time). Its
/// ``list`` and ``gc`` read and clean up what is attached, from floatip's
/// owner marks alone; ``route_protocol`` is the protocol number they take
/// as floatip's (default ``DEFAULT_ROUTE_PROTOCOL``, 70), for specs built
/// with another ``route_protocol``.
///
/// A spec's ``host_netns`` must be this host's namespace: the same name or
/// path, another name for the same namespace, or ``None`` (the calling
/// thread's) when the calling thread is in it; otherwise the verb raises
/// ``InvalidArgumentError`` before any change. Safe to share between
/// threads; every call releases the GIL.
///
/// ``close()`` (or leaving a ``with Host() as h:`` block) releases the
/// socket and waits for the reaper to delete the pending tombstones; a
/// closed ``Host`` raises ``ValueError`` on use, like a closed file.
#[pyclass(frozen, module = "floatip", name = "Host")]
pub(crate) struct PyHost {
    inner: Closable<Host>,
    /// The namespace as given (a name or a path), kept for `netns` and
    /// `repr` after `close()`.
    netns: Option<String>,
    /// What `inner` was given: the core keeps it private.
    route_protocol: u8,
}

impl PyHost {
    /// The open host; `ValueError` once closed. Calls move it into their
    /// GIL-free closure, so that a last reference (the `Host` closed
    /// meanwhile) is dropped with the GIL released.
    fn host(&self) -> PyResult<Arc<Host>> {
        self.inner.get()
    }
}

#[pymethods]
impl PyHost {
    /// Opens the host namespace (default: the calling thread's) and a
    /// netlink socket in it. ``route_protocol`` (5-255) is what ``list``
    /// and ``gc`` read as floatip's mark. ``reap_delay`` (seconds, default
    /// 1.0) and ``reap_batch`` (default 256) set the reaper's pace: a pass
    /// deletes the tombstones ``detach`` leaves that long after the first,
    /// or at once when that many wait.
    #[new]
    #[pyo3(signature = (netns=None, *, route_protocol=None, reap_delay=None, reap_batch=None))]
    fn new(
        py: Python<'_>,
        netns: Option<NetnsArg>,
        route_protocol: Option<u8>,
        reap_delay: Option<f64>,
        reap_batch: Option<usize>,
    ) -> PyResult<Self> {
        let route_protocol = route_protocol.unwrap_or(DEFAULT_PROTOCOL);
        let delay = match reap_delay {
            None => floatip::reaper::REAP_DELAY,
            Some(s) => match std::time::Duration::try_from_secs_f64(s) {
                Ok(d) => d,
                Err(_) => return Err(to_pyerr(py, invalid("reap_delay", s, "must be a number of seconds, 0 or more"))),
            },
        };
        let batch = reap_batch.unwrap_or(floatip::reaper::REAP_BATCH);
        let r = netns.map(|n| n.netns_ref()).unwrap_or(NetnsRef::Current);
        // The core refuses 0-4: `gc` removes the routes and proxy entries
        // of this protocol that no marked veth claims, and with 2 (kernel)
        // or 0 (unset, what `ip neigh add proxy` makes) those would be the
        // node's own.
        let netns = r.given();
        without_gil(py, || Ok(Host::open(r)?.with_route_protocol(route_protocol)?.with_reap_pace(delay, batch)))
            .map(|h| PyHost { inner: Closable::new(h, "Host"), netns, route_protocol })
    }

    /// True once ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Closes the host (idempotent): waits, with the GIL released, for the
    /// reaper to delete the tombstones ``detach()`` left (as ``flush()``
    /// does, errors aside) and closes the netlink socket. Calls running in
    /// other threads finish first; ``Watcher`` and ``Reannouncer`` handles
    /// have hosts of their own and keep running until stopped.
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

    /// A ``Handle`` (its own netlink socket) in this host's namespace, for
    /// the lower-level verbs (links, addresses, routes, sysctls) beside
    /// the floating-IP ones.
    #[getter]
    fn handle(&self, py: Python<'_>) -> PyResult<PyHandle> {
        let h = self.host()?;
        let handle = without_gil(py, move || floatip::Handle::in_netns(h.netns()))?;
        Ok(PyHandle::wrap(handle))
    }

    /// The host namespace as given: a name or a path; None for the
    /// namespace that was current when the ``Host`` was made.
    #[getter]
    fn netns(&self) -> Option<String> {
        self.netns.clone()
    }

    /// The route protocol ``list`` and ``gc`` take as floatip's.
    #[getter]
    fn route_protocol(&self) -> u8 {
        self.route_protocol
    }

    /// ``FloatingIp.attach`` on this host.
    fn attach(&self, py: Python<'_>, fip: &PyFloatingIp) -> PyResult<PyAttached> {
        let spec = fip.spec();
        let h = self.host()?;
        let a = without_gil(py, move || h.attach(spec))?;
        PyAttached::new(py, a)
    }

    /// Test hook (cargo feature ``test-hooks``, which the test build turns
    /// on and the wheel does not): ``attach`` with step ``n`` failing and,
    /// with ``rollback``, the rollback's first undo failing too (logged,
    /// not done).
    #[cfg(feature = "test-hooks")]
    #[pyo3(signature = (fip, n, rollback=false))]
    fn _attach_failing_at(&self, py: Python<'_>, fip: &PyFloatingIp, n: usize, rollback: bool) -> PyResult<PyAttached> {
        let spec = fip.spec();
        let h = self.host()?;
        let a = without_gil(py, move || h.attach_failing_at(spec, n, rollback))?;
        PyAttached::new(py, a)
    }

    /// ``FloatingIp.detach`` on this host, with the veth's delete off the
    /// critical path: it returns once the node no longer serves the pod
    /// (proxy entries, routes and rules gone, the host veth down and a
    /// *tombstone* in link group ``TOMBSTONE_GROUP``), about a millisecond;
    /// the host's reaper thread deletes tombstones in batches. ``flush()``
    /// waits for it; ``detach_sync()`` deletes before returning.
    fn detach(&self, py: Python<'_>, fip: &PyFloatingIp) -> PyResult<Vec<String>> {
        let spec = fip.spec();
        let h = self.host()?;
        without_gil(py, move || h.detach(spec))
    }

    /// ``detach()`` that deletes the host veth before it returns (15-25 ms
    /// of RCU grace periods in the kernel), as ``FloatingIp.detach`` does.
    fn detach_sync(&self, py: Python<'_>, fip: &PyFloatingIp) -> PyResult<Vec<String>> {
        let spec = fip.spec();
        let h = self.host()?;
        without_gil(py, move || h.detach_sync(spec))
    }

    /// Waits until every tombstone that ``detach()`` made before the call
    /// is deleted; then the kernel's state is what synchronous detaches
    /// leave. Raises the first failure of a reaper pass since the last
    /// ``flush()``.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let h = self.host()?;
        without_gil(py, move || h.flush())
    }

    /// ``FloatingIp.detach_many`` on this host: every spec must be on it.
    fn detach_many(&self, py: Python<'_>, fips: Vec<PyRef<'_, PyFloatingIp>>) -> PyResult<Vec<String>> {
        let specs: Vec<FloatingIp> = fips.iter().map(|f| f.spec().clone()).collect();
        let h = self.host()?;
        without_gil(py, move || h.detach_many(&specs))
    }

    /// ``FloatingIp.check`` on this host.
    fn check(&self, py: Python<'_>, fip: &PyFloatingIp) -> PyResult<Vec<PyDrift>> {
        let spec = fip.spec();
        let h = self.host()?;
        without_gil(py, move || h.check(spec)).map(|v| v.into_iter().map(PyDrift::from).collect())
    }

    /// The attachments on this host, read back from the owner marks on
    /// the host veths (no state files), each ``"complete"`` or
    /// ``"partial"``, and the orphans: floatip's proxy entries and routes
    /// with no marked veth behind them. Three dumps, whatever the count.
    fn list(&self, py: Python<'_>) -> PyResult<Vec<PyAttachment>> {
        let h = self.host()?;
        without_gil(py, move || h.list()).map(|v| v.into_iter().map(PyAttachment::from).collect())
    }

    /// Garbage collection, as CNI 1.1 GC: removes every floatip-marked
    /// veth whose attachment id is not in ``valid`` (its routes and pod
    /// end go with it; all in one batch), floatip's proxy entries that no
    /// valid attachment claims and floatip's routes that lead to no marked
    /// veth. An attachment whose attach or detach is running at that
    /// moment is left for the next GC. Objects without floatip's marks are
    /// never touched. Returns what it removed, as ``ip`` commands.
    ///
    /// ``valid`` is any iterable of attachment ids, but not a ``str``
    /// itself (``TypeError``): its characters would be the valid ids, and
    /// every attachment would go.
    fn gc(&self, py: Python<'_>, valid: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        if valid.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "valid must be an iterable of attachment ids, not a str (its characters would be the ids)",
            ));
        }
        let ids = valid.try_iter()?.map(|id| id?.extract::<String>()).collect::<PyResult<Vec<String>>>()?;
        let h = self.host()?;
        without_gil(py, move || h.gc(ids.iter().map(String::as_str)))
    }

    /// Repairs now what the node can take from the owner marks alone:
    /// host routes and proxy entries of the attachments here that an
    /// uplink flap, a re-created uplink or a hand deleted, and the LAN
    /// interface's ``proxy_delay``/``proxy_ndp``. Never announces. Returns
    /// the repairs, as ``ip`` commands.
    fn reconcile(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let h = self.host()?;
        without_gil(py, move || h.reconcile())
    }

    /// Starts a ``Watcher``: a thread that runs ``reconcile`` after each
    /// burst of relevant rtnetlink events (a link changed, a floatip route
    /// or proxy entry was deleted) and, since the kernel does not notify
    /// proxy-entry changes, every ``recheck`` seconds (default 5).
    #[pyo3(signature = (recheck=None))]
    fn watch(&self, py: Python<'_>, recheck: Option<f64>) -> PyResult<PyWatcher> {
        let h = self.host()?;
        let w = match recheck {
            None => without_gil(py, move || h.watch())?,
            Some(s) if s.is_finite() && s > 0.0 => {
                without_gil(py, move || h.watch_every(std::time::Duration::from_secs_f64(s)))?
            }
            Some(s) => return Err(to_pyerr(py, invalid("recheck", s, "must be a positive number of seconds"))),
        };
        Ok(PyWatcher::wrap(w))
    }

    /// Starts a re-announcer: one announcement round (``options``, sent as
    /// one round; default ``AnnounceOptions()``) for the IPs of every
    /// routed-mode attachment complete on this host, at once and then every
    /// ``every`` seconds (at least 0.01), for networks whose switches forget
    /// a MAC's port before the neighbours forget the IP's MAC. An IP being
    /// detached is never announced.
    #[pyo3(signature = (every, options = None))]
    fn reannounce(
        &self,
        py: Python<'_>,
        every: f64,
        options: Option<PyRef<'_, PyAnnounceOptions>>,
    ) -> PyResult<PyReannouncer> {
        let d = match std::time::Duration::try_from_secs_f64(every) {
            Ok(d) if !d.is_zero() => d,
            _ => return Err(to_pyerr(py, invalid("every", every, "must be a positive number of seconds"))),
        };
        let opts = options.map(|o| o.to_core()).unwrap_or_default();
        let h = self.host()?;
        let r = without_gil(py, move || h.reannounce(d, opts))?;
        Ok(PyReannouncer::wrap(r))
    }

    fn __repr__(&self) -> String {
        let closed = if self.inner.is_closed() { " (closed)" } else { "" };
        self.repr_open() + closed
    }
}

impl PyHost {
    fn repr_open(&self) -> String {
        let p = match self.route_protocol {
            DEFAULT_PROTOCOL => String::new(),
            p => format!("route_protocol={p}"),
        };
        match (self.netns(), p.is_empty()) {
            (Some(n), true) => format!("Host('{n}')"),
            (Some(n), false) => format!("Host('{n}', {p})"),
            (None, true) => "Host()".to_owned(),
            (None, false) => format!("Host({p})"),
        }
    }
}

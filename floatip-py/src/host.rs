//! `Host`: the host side of a node, opened once and kept across verbs.

use floatip::floating::{FloatingIp, NetnsRef};
use floatip::Host;
use pyo3::prelude::*;

use crate::args::NetnsArg;
use crate::floating::{PyAttached, PyDrift, PyFloatingIp};
use crate::gil::without_gil;

/// The host network namespace of a node, held open with a netlink socket
/// in it: what a node agent keeps while it wires pods.
///
/// ``Host()`` is the calling thread's namespace (an agent that runs in the
/// host namespace, as node agents do); ``Host(netns)`` another one: a
/// ``Netns``, a name under ``/run/netns`` or a path. Its ``attach``,
/// ``detach``, ``detach_many`` and ``check`` do what the ``FloatingIp``
/// methods of the same names do, all or nothing alike, without opening the
/// host namespace and a socket on every call (25-50 µs each time).
///
/// A spec's ``host_netns`` must be this host's namespace: the same name or
/// path, another name for the same namespace, or ``None`` (the calling
/// thread's) when the calling thread is in it; otherwise the verb raises
/// ``InvalidArgumentError`` before any change. Safe to share between
/// threads; every call releases the GIL.
#[pyclass(frozen, module = "floatip", name = "Host")]
pub(crate) struct PyHost {
    inner: Host,
}

#[pymethods]
impl PyHost {
    /// Opens the host namespace (default: the calling thread's) and a
    /// netlink socket in it.
    #[new]
    #[pyo3(signature = (netns=None))]
    fn new(py: Python<'_>, netns: Option<NetnsArg>) -> PyResult<Self> {
        let r = netns.map(|n| n.netns_ref()).unwrap_or(NetnsRef::Current);
        without_gil(py, || Host::open(r)).map(|inner| PyHost { inner })
    }

    /// The host namespace as given: a name or a path; None for the
    /// namespace that was current when the ``Host`` was made.
    #[getter]
    fn netns(&self) -> Option<String> {
        match self.inner.netns_ref() {
            NetnsRef::Current => None,
            NetnsRef::Name(n) => Some(n.clone()),
            NetnsRef::Path(p) => Some(p.display().to_string()),
        }
    }

    /// ``FloatingIp.attach`` on this host.
    fn attach(&self, py: Python<'_>, fip: &PyFloatingIp) -> PyResult<PyAttached> {
        let spec = fip.spec();
        let a = without_gil(py, || self.inner.attach(spec))?;
        PyAttached::new(py, a)
    }

    /// ``FloatingIp.detach`` on this host.
    fn detach(&self, py: Python<'_>, fip: &PyFloatingIp) -> PyResult<Vec<String>> {
        let spec = fip.spec();
        without_gil(py, || self.inner.detach(spec))
    }

    /// ``FloatingIp.detach_many`` on this host: every spec must be on it.
    fn detach_many(&self, py: Python<'_>, fips: Vec<PyRef<'_, PyFloatingIp>>) -> PyResult<Vec<String>> {
        let specs: Vec<FloatingIp> = fips.iter().map(|f| f.spec().clone()).collect();
        without_gil(py, || self.inner.detach_many(&specs))
    }

    /// ``FloatingIp.check`` on this host.
    fn check(&self, py: Python<'_>, fip: &PyFloatingIp) -> PyResult<Vec<PyDrift>> {
        let spec = fip.spec();
        without_gil(py, || self.inner.check(spec)).map(|v| v.into_iter().map(PyDrift::from).collect())
    }

    fn __repr__(&self) -> String {
        match self.netns() {
            Some(n) => format!("Host('{n}')"),
            None => "Host()".to_owned(),
        }
    }
}

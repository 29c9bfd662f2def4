//! `Netns`: network namespaces, as `ip netns` sees them.

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;

use floatip::{Netns, SysctlKey};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::closable::Closable;
use crate::errors::to_pyerr;
use crate::gil::without_gil;

/// An open network namespace: a file descriptor that keeps it alive.
///
/// Create or open one with the static methods (``Netns.create("pod1")`` is
/// ``ip netns add pod1``). Using it as a context manager *closes the file
/// descriptor* on exit; it does not delete the namespace (``Netns.delete``
/// does, like ``ip netns del``). Safe to share between threads.
#[pyclass(frozen, module = "floatip", name = "Netns")]
pub(crate) struct PyNetns {
    /// `None` once closed. An `Arc` so that a call running with the GIL
    /// released keeps the descriptor open even if another thread closes it.
    inner: Closable<Netns>,
    /// The name, when opened or created by name; else None.
    #[pyo3(get)]
    name: Option<String>,
    path: PathBuf,
}

impl PyNetns {
    pub(crate) fn wrap(ns: Netns) -> PyNetns {
        let name = ns.name().map(str::to_owned);
        let path = ns.path().to_owned();
        PyNetns { inner: Closable::new(ns, "Netns"), name, path }
    }

    /// The open namespace; `ValueError` once closed.
    pub(crate) fn inner(&self) -> PyResult<Arc<Netns>> {
        self.inner.get()
    }
}

fn sysctl_key(py: Python<'_>, key: &str) -> PyResult<SysctlKey> {
    SysctlKey::parse(key).map_err(|e| to_pyerr(py, e))
}

#[pymethods]
impl PyNetns {
    /// Creates the named namespace ``/run/netns/NAME`` the way
    /// ``ip netns add NAME`` does, without forking. Raises
    /// ``AlreadyExistsError`` if the name is taken.
    #[staticmethod]
    fn create(py: Python<'_>, name: &str) -> PyResult<PyNetns> {
        without_gil(py, || Netns::create(name)).map(PyNetns::wrap)
    }

    /// Opens the named namespace ``/run/netns/NAME`` (as ``ip netns exec
    /// NAME`` finds it). Raises ``NotFoundError`` if there is none.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<PyNetns> {
        without_gil(py, || Netns::open(name)).map(PyNetns::wrap)
    }

    /// Opens a namespace by path (``/proc/PID/ns/net``, ``/var/run/netns/X``,
    /// as a CNI runtime passes ``CNI_NETNS``). The path must be a network
    /// namespace, or ``InvalidArgumentError`` is raised.
    #[staticmethod]
    fn open_path(py: Python<'_>, path: PathBuf) -> PyResult<PyNetns> {
        without_gil(py, || Netns::open_path(&path)).map(PyNetns::wrap)
    }

    /// The calling thread's current network namespace.
    #[staticmethod]
    fn current(py: Python<'_>) -> PyResult<PyNetns> {
        without_gil(py, Netns::current).map(PyNetns::wrap)
    }

    /// Deletes the named namespace like ``ip netns del NAME``: unmounts and
    /// removes ``/run/netns/NAME``; the namespace itself goes away when the
    /// last descriptor or process in it does. Raises ``NotFoundError`` if
    /// there is no such name.
    #[staticmethod]
    fn delete(py: Python<'_>, name: &str) -> PyResult<()> {
        without_gil(py, || Netns::delete(name))
    }

    /// The names under ``/run/netns``, sorted, as ``ip netns list`` shows
    /// them.
    #[staticmethod]
    fn list(py: Python<'_>) -> PyResult<Vec<String>> {
        without_gil(py, Netns::list)
    }

    /// The path it was opened from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// True once ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// The namespace's file descriptor (valid until ``close()``).
    fn fileno(&self) -> PyResult<i32> {
        Ok(self.inner()?.as_raw_fd())
    }

    /// Closes the descriptor (idempotent). A call running in another thread
    /// keeps its own reference until it returns.
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

    /// True when both refer to the same namespace (same nsfs inode).
    fn same_as(&self, py: Python<'_>, other: &PyNetns) -> PyResult<bool> {
        let (a, b) = (self.inner()?, other.inner()?);
        without_gil(py, || a.same_as(&b))
    }

    /// Reads a sysctl of this namespace (``ip netns exec NS sysctl -n
    /// KEY``), e.g. ``net.ipv4.conf.vh0.proxy_arp``. Only keys under
    /// ``net.`` are accepted; a device name with a dot is written with a
    /// slash, as sysctl(8) does (``net.ipv4.conf.bond1/100.proxy_arp``).
    fn sysctl_get(&self, py: Python<'_>, key: &str) -> PyResult<String> {
        let (ns, key) = (self.inner()?, sysctl_key(py, key)?);
        without_gil(py, || ns.sysctl_get(&key))
    }

    /// Writes a sysctl of this namespace only (``ip netns exec NS sysctl -w
    /// KEY=VALUE``). ``value`` may be a str or an int.
    fn sysctl_set(&self, py: Python<'_>, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let (ns, key) = (self.inner()?, sysctl_key(py, key)?);
        let value = sysctl_value(value)?;
        without_gil(py, || ns.sysctl_set(&key, &value))
    }

    /// Writes a sysctl of this namespace and returns its previous value,
    /// with one open of the file; nothing is written when it already has
    /// ``value``. What a caller that may have to restore the value needs.
    fn sysctl_replace(&self, py: Python<'_>, key: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
        let (ns, key) = (self.inner()?, sysctl_key(py, key)?);
        let value = sysctl_value(value)?;
        without_gil(py, || ns.sysctl_replace(&key, &value))
    }

    /// Calls ``func(*args, **kwargs)`` on a short-lived helper thread that
    /// has entered this namespace, and returns its result (or raises its
    /// exception). The calling thread never changes namespace; sockets the
    /// function opens belong to this namespace. Thread-local state of the
    /// caller is not visible inside ``func``.
    #[pyo3(signature = (func, /, *args, **kwargs))]
    fn run(
        &self,
        py: Python<'_>,
        func: Py<PyAny>,
        args: Py<PyTuple>,
        kwargs: Option<Py<PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let ns = self.inner()?;
        let result = without_gil(py, || {
            ns.run(|| Python::attach(|py| func.call(py, args.bind(py), kwargs.as_ref().map(|k| k.bind(py)))))
        })?;
        result
    }

    fn __repr__(&self) -> String {
        let state = if self.closed() { ", closed" } else { "" };
        match &self.name {
            Some(n) => format!("Netns(name={n:?}{state})"),
            None => format!("Netns(path={:?}{state})", self.path.display().to_string()),
        }
    }
}

/// A sysctl value given as a str or an int.
fn sysctl_value(value: &Bound<'_, PyAny>) -> PyResult<String> {
    match value.extract::<i64>() {
        Ok(i) => Ok(i.to_string()),
        Err(_) => value.extract(),
    }
}

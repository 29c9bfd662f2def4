//! `Watcher`: the reconcile thread of a `Host`, from Python.

use floatip::floating::{ReannounceReport, Reannouncer};
use floatip::{WatchReport, Watcher};
use pyo3::prelude::*;

use crate::running::{Running, Stop};

/// What a watcher did: reconcile passes, repairs, socket overruns, and for
/// each pass that repaired something the seconds from the first event of
/// its burst to the end of the repair.
#[pyclass(frozen, module = "floatip", name = "WatchReport", get_all)]
pub(crate) struct PyWatchReport {
    /// Reconcile passes run.
    passes: u64,
    /// Objects repaired.
    repairs: u64,
    /// Times the event socket overran (``ENOBUFS``); a full pass followed.
    overruns: u64,
    /// Seconds from event to repair, per repairing pass.
    latencies: Vec<f64>,
}

impl From<WatchReport> for PyWatchReport {
    fn from(r: WatchReport) -> Self {
        PyWatchReport {
            passes: r.passes,
            repairs: r.repairs,
            overruns: r.overruns,
            latencies: r.latencies.iter().map(|d| d.as_secs_f64()).collect(),
        }
    }
}

#[pymethods]
impl PyWatchReport {
    fn __repr__(&self) -> String {
        format!("WatchReport(passes={}, repairs={}, overruns={})", self.passes, self.repairs, self.overruns)
    }
}

/// A running watcher (``Host.watch()``): a thread that repairs this host's
/// attachments after uplink flaps and deleted routes or proxy entries.
/// ``stop()`` it (or use it as a context manager); it stops within 0.1 s.
#[pyclass(frozen, module = "floatip", name = "Watcher")]
pub(crate) struct PyWatcher {
    inner: Running<Watcher>,
}

impl PyWatcher {
    pub(crate) fn wrap(w: Watcher) -> Self {
        PyWatcher { inner: Running::new(Some(w), "this watcher was already stopped") }
    }
}

impl Stop for Watcher {
    type Report = WatchReport;
    fn stop(self) -> floatip::Result<WatchReport> {
        Watcher::stop(self)
    }
}

#[pymethods]
impl PyWatcher {
    /// True while the watcher thread runs.
    #[getter]
    fn running(&self) -> bool {
        self.inner.peek(|w| w.is_some_and(Watcher::is_running))
    }
    /// Stops the watcher (GIL released) and returns what it did, or raises
    /// the error that ended it. Once only.
    fn stop(&self, py: Python<'_>) -> PyResult<PyWatchReport> {
        self.inner.stop(py).map(PyWatchReport::from)
    }
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.inner.exit(py)
    }
    fn __repr__(&self) -> String {
        format!("Watcher(running={})", if self.running() { "True" } else { "False" })
    }
}

/// What a re-announcer did: passes, IP announcements and frames sent,
/// attachments skipped while their attach or detach ran, failed passes.
#[pyclass(frozen, module = "floatip", name = "ReannounceReport", get_all)]
pub(crate) struct PyReannounceReport {
    /// Passes made (one at start, then one per period).
    passes: u64,
    /// IP announcements sent (one IP once per pass).
    announced: u64,
    /// Frames sent.
    frames: u64,
    /// Attachments skipped because their lock was held.
    busy: u64,
    /// Passes that failed (logged; the next one tries again).
    failed: u64,
}

impl From<ReannounceReport> for PyReannounceReport {
    fn from(r: ReannounceReport) -> Self {
        PyReannounceReport {
            passes: r.passes,
            announced: r.announced,
            frames: r.frames,
            busy: r.busy,
            failed: r.failed,
        }
    }
}

#[pymethods]
impl PyReannounceReport {
    fn __repr__(&self) -> String {
        format!(
            "ReannounceReport(passes={}, announced={}, frames={}, busy={}, failed={})",
            self.passes, self.announced, self.frames, self.busy, self.failed
        )
    }
}

/// A running re-announcer (``Host.reannounce()``): a thread that sends one
/// announcement round for every complete routed-mode attachment of the
/// host, every period. ``stop()`` it (or use it as a context manager).
#[pyclass(frozen, module = "floatip", name = "Reannouncer")]
pub(crate) struct PyReannouncer {
    inner: Running<Reannouncer>,
}

impl PyReannouncer {
    pub(crate) fn wrap(r: Reannouncer) -> Self {
        PyReannouncer { inner: Running::new(Some(r), "this re-announcer was already stopped") }
    }
}

impl Stop for Reannouncer {
    type Report = ReannounceReport;
    fn stop(self) -> floatip::Result<ReannounceReport> {
        Ok(Reannouncer::stop(self))
    }
}

#[pymethods]
impl PyReannouncer {
    /// Stops it (GIL released, at once) and returns what it did. Once only.
    fn stop(&self, py: Python<'_>) -> PyResult<PyReannounceReport> {
        self.inner.stop(py).map(PyReannounceReport::from)
    }
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.inner.exit(py)
    }
    fn __repr__(&self) -> String {
        format!("Reannouncer(running={})", if self.inner.held() { "True" } else { "False" })
    }
}

//! The slot behind `Watcher`, `Reannouncer` and `BackgroundAnnounce`: the
//! handle of a background thread, held until the one call that may end it
//! (`stop()`, `wait()`, a context manager's exit) takes it out.

use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::gil::without_gil;

pub(crate) struct Running<T: Send> {
    slot: Mutex<Option<T>>,
    /// The `ValueError` message once the handle was taken.
    taken: &'static str,
}

impl<T: Send> Running<T> {
    pub(crate) fn new(handle: Option<T>, taken: &'static str) -> Self {
        Running { slot: Mutex::new(handle), taken }
    }

    fn lock(&self) -> MutexGuard<'_, Option<T>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Looks at the handle (`None` once taken) under the lock.
    pub(crate) fn peek<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        f(self.lock().as_ref())
    }

    /// True until the handle is taken.
    pub(crate) fn held(&self) -> bool {
        self.lock().is_some()
    }

    /// Takes the handle out; `ValueError` if it was taken before.
    pub(crate) fn take(&self) -> PyResult<T> {
        self.lock().take().ok_or_else(|| PyValueError::new_err(self.taken))
    }
}

/// Dropped by Python without `stop()`: the handle (whose drop may wait for
/// its thread, which may be logging through the GIL) goes with the GIL
/// released.
impl<T: Send> Drop for Running<T> {
    fn drop(&mut self) {
        let held = self.slot.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if held.is_some() {
            Python::attach(|py| crate::closable::drop_without_gil(py, held));
        }
    }
}

/// A background thread's handle that `stop()` ends, returning its report.
pub(crate) trait Stop: Send {
    type Report: Send;
    fn stop(self) -> floatip::Result<Self::Report>;
}

impl<T: Stop> Running<T> {
    /// `stop()`: takes the handle and stops it with the GIL released. Once
    /// only (`ValueError` after).
    pub(crate) fn stop(&self, py: Python<'_>) -> PyResult<T::Report> {
        let h = self.take()?;
        without_gil(py, || h.stop())
    }

    /// `__exit__`: stops it unless that was done already (taken under one
    /// lock, so a concurrent `stop()` cannot make it raise), and lets an
    /// exception from the `with` body propagate.
    pub(crate) fn exit(&self, py: Python<'_>) -> PyResult<bool> {
        let held = self.lock().take();
        if let Some(h) = held {
            without_gil(py, || h.stop())?;
        }
        Ok(false)
    }
}

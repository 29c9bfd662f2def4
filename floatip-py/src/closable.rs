//! The closable slot behind `Netns`, `Handle` and `Host`: a file-like
//! object that `close()` empties while a call running with the GIL
//! released keeps its own reference to what it uses until it returns.
//!
//! What the slot holds is dropped with the GIL released (on `close()` and
//! when Python frees the object): a `Host`'s drop waits for its reaper
//! thread, and that thread may be logging, which takes the GIL
//! (`pyo3-log`); dropping it with the GIL held could wait forever.

use std::sync::{Arc, RwLock};

use pyo3::exceptions::PyValueError;
use pyo3::{PyResult, Python};

pub(crate) struct Closable<T: Send + Sync> {
    slot: RwLock<Option<Arc<T>>>,
    /// The Python class name, for the error after `close()`.
    class: &'static str,
}

impl<T: Send + Sync> Closable<T> {
    pub(crate) fn new(value: T, class: &'static str) -> Self {
        Closable { slot: RwLock::new(Some(Arc::new(value))), class }
    }

    /// The open value; `ValueError` once closed, like a closed file.
    pub(crate) fn get(&self) -> PyResult<Arc<T>> {
        self.slot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| PyValueError::new_err(format!("operation on a closed {}", self.class)))
    }

    /// Empties the slot (idempotent), dropping what it held with the GIL
    /// released. A call running in another thread keeps its own reference
    /// until it returns.
    pub(crate) fn close(&self, py: Python<'_>) {
        let held = self.slot.write().unwrap_or_else(|p| p.into_inner()).take();
        drop_without_gil(py, held);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.slot.read().unwrap_or_else(|p| p.into_inner()).is_none()
    }
}

/// Drops `value` with the GIL released.
pub(crate) fn drop_without_gil<T: Send>(py: Python<'_>, value: T) {
    py.detach(move || drop(value));
}

impl<T: Send + Sync> Drop for Closable<T> {
    fn drop(&mut self) {
        let held = self.slot.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if held.is_some() {
            Python::attach(|py| drop_without_gil(py, held));
        }
    }
}

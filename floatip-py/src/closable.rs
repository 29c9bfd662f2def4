//! The closable slot behind `Netns` and `Handle`: a file-like object that
//! `close()` empties while a call running with the GIL released keeps its
//! own reference to what it uses until it returns.

use std::sync::{Arc, RwLock};

use pyo3::exceptions::PyValueError;
use pyo3::PyResult;

pub(crate) struct Closable<T> {
    slot: RwLock<Option<Arc<T>>>,
    /// The Python class name, for the error after `close()`.
    class: &'static str,
}

impl<T> Closable<T> {
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

    /// Empties the slot (idempotent).
    pub(crate) fn close(&self) {
        self.slot.write().unwrap_or_else(|p| p.into_inner()).take();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.slot.read().unwrap_or_else(|p| p.into_inner()).is_none()
    }
}

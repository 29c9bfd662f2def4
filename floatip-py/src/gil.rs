//! The one place that releases the GIL.
//!
//! Every call that may block on the kernel (a netlink request, a namespace
//! mount, a sysctl file, an announcement round) runs through
//! [`without_gil`], so other Python threads run meanwhile. The closure must
//! be `Send` (PyO3's `Ungil`): it cannot touch Python objects, which is what
//! makes releasing the GIL sound. Errors come back through the one mapping
//! table in [`crate::errors`].

use pyo3::prelude::*;

use crate::errors::to_pyerr;

/// Runs `work` with the GIL released and maps its error to the Python
/// exception class the table names.
pub(crate) fn without_gil<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    F: FnOnce() -> floatip::Result<T> + Send,
    T: Send,
{
    py.detach(work).map_err(|e| to_pyerr(py, e))
}

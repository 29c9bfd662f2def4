//! `floatip._floatip`: the native module of the Python package `floatip`.
//!
//! A thin PyO3 layer over the `floatip` crate. Arguments are converted and
//! validated with the GIL held ([`args`]); every call that may block on the
//! kernel runs through the one helper that releases the GIL ([`gil`]);
//! every `floatip::Error` becomes a Python exception through the one
//! mapping table ([`errors`]); results are frozen value classes
//! ([`values`], [`floating`]). Nothing here forks or changes the calling
//! thread's namespace.
#![deny(unsafe_code)]

mod announce;
mod args;
mod closable;
mod errors;
mod floating;
mod gil;
mod handle;
mod host;
mod netns;
mod probe;
mod running;
mod values;
mod watch;

use pyo3::prelude::*;

/// Native module of the ``floatip`` package; import ``floatip`` instead.
#[pymodule]
fn _floatip(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Log records to `logging`. Loggers are cached, levels are not: a
    // `logging` configuration made after the import applies at once (each
    // record that passes the Debug filter asks `isEnabledFor`, and floatip
    // logs rarely: failures and repairs). A logger set already (the module
    // imported again in a subinterpreter) is kept.
    let _ = pyo3_log::Logger::new(m.py(), pyo3_log::Caching::Loggers)?.install();
    errors::register(m)?;
    m.add_class::<netns::PyNetns>()?;
    m.add_class::<handle::PyHandle>()?;
    m.add_class::<values::PyLink>()?;
    m.add_class::<values::PyAddress>()?;
    m.add_class::<values::PyRoute>()?;
    m.add_class::<values::PyNeighbour>()?;
    m.add_class::<floating::PyFloatingIp>()?;
    m.add_class::<floating::PyAttached>()?;
    m.add_class::<floating::PyDrift>()?;
    m.add_class::<floating::PyAttachment>()?;
    m.add_class::<host::PyHost>()?;
    m.add_class::<watch::PyWatcher>()?;
    m.add_class::<watch::PyWatchReport>()?;
    m.add_class::<watch::PyReannouncer>()?;
    m.add_class::<watch::PyReannounceReport>()?;
    m.add_class::<announce::PyAnnounceOptions>()?;
    m.add_class::<announce::PyAnnounceReport>()?;
    m.add_class::<announce::PyAnnouncer>()?;
    m.add_class::<announce::PyBackgroundAnnounce>()?;
    m.add_class::<probe::PyProbeOptions>()?;
    #[cfg(feature = "test-hooks")]
    m.add_function(wrap_pyfunction!(errors::_exception_for, m)?)?;

    use floatip::neighbour::{NUD_FAILED, NUD_INCOMPLETE, NUD_PERMANENT, NUD_REACHABLE, NUD_STALE};
    use floatip::route::{PROTO_BOOT, PROTO_STATIC, RTN_UNICAST, SCOPE_LINK, SCOPE_UNIVERSE, TABLE_MAIN};
    m.add("TABLE_MAIN", TABLE_MAIN)?;
    m.add("PROTO_BOOT", PROTO_BOOT)?;
    m.add("PROTO_STATIC", PROTO_STATIC)?;
    m.add("SCOPE_UNIVERSE", SCOPE_UNIVERSE)?;
    m.add("SCOPE_LINK", SCOPE_LINK)?;
    m.add("RTN_UNICAST", RTN_UNICAST)?;
    m.add("NUD_INCOMPLETE", NUD_INCOMPLETE)?;
    m.add("NUD_REACHABLE", NUD_REACHABLE)?;
    m.add("NUD_STALE", NUD_STALE)?;
    m.add("NUD_FAILED", NUD_FAILED)?;
    m.add("NUD_PERMANENT", NUD_PERMANENT)?;
    m.add("DEFAULT_ROUTE_PROTOCOL", floatip::floating::mark::DEFAULT_PROTOCOL)?;
    m.add("TOMBSTONE_GROUP", floatip::floating::TOMBSTONE_GROUP)?;
    m.add("DEFAULT_RULE_PRIORITY", floatip::DEFAULT_RULE_PRIORITY)?;
    m.add("DEFAULT_TABLE_BASE", floatip::DEFAULT_TABLE_BASE)?;
    m.add_function(wrap_pyfunction!(default_table, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// The default policy routing table of a LAN interface:
/// ``DEFAULT_TABLE_BASE`` + 16 bits of a hash of its name (stable when the
/// interface is re-created).
#[pyfunction]
fn default_table(py: Python<'_>, lan_ifname: &str) -> PyResult<u32> {
    let n = floatip::IfName::new(lan_ifname).map_err(|e| errors::to_pyerr(py, e))?;
    Ok(floatip::default_table(&n))
}

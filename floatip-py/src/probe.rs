//! `ProbeOptions`: how `FloatingIp.attach` probes the LAN for its
//! addresses before taking them (the conflict probe).

use std::time::Duration;

use floatip::probe::ProbeOptions;
use pyo3::prelude::*;

use crate::errors::{invalid, to_pyerr};

/// How to probe for a conflict: ``count`` rounds (the first at once),
/// ``interval`` seconds apart, then ``wait`` seconds of listening; per
/// round an RFC 5227 ARP probe per IPv4 address (with ``ask_proxies``
/// also an ordinary request from the LAN interface's own address, which
/// proxy ARP answers) and a DAD Neighbor Solicitation per IPv6 address.
/// The defaults (2 rounds 50 ms apart, 0.1 s of listening) cost 0.15 s
/// per attach when nobody answers.
#[pyclass(frozen, eq, hash, module = "floatip", name = "ProbeOptions")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PyProbeOptions(ProbeOptions);

impl PyProbeOptions {
    pub(crate) fn to_core(self) -> ProbeOptions {
        self.0
    }

    pub(crate) fn from_core(o: ProbeOptions) -> Self {
        PyProbeOptions(o)
    }
}

fn seconds(py: Python<'_>, what: &'static str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| to_pyerr(py, invalid(what, s, "must be a finite number of seconds >= 0")))
}

#[pymethods]
impl PyProbeOptions {
    /// Validates the options; nothing is sent.
    #[new]
    #[pyo3(signature = (*, count=2, interval=0.05, wait=0.1, ask_proxies=true))]
    fn new(py: Python<'_>, count: u32, interval: f64, wait: f64, ask_proxies: bool) -> PyResult<Self> {
        let o = ProbeOptions::default()
            .count(count)
            .interval(seconds(py, "conflict probe interval", interval)?)
            .wait(seconds(py, "conflict probe wait", wait)?)
            .ask_proxies(ask_proxies);
        o.validate().map_err(|e| to_pyerr(py, e))?;
        Ok(PyProbeOptions(o))
    }
    /// Rounds of probes.
    #[getter]
    fn count(&self) -> u32 {
        self.0.count
    }
    /// Seconds between rounds.
    #[getter]
    fn interval(&self) -> f64 {
        self.0.interval.as_secs_f64()
    }
    /// Seconds of listening after the last round.
    #[getter]
    fn wait(&self) -> f64 {
        self.0.wait.as_secs_f64()
    }
    /// IPv4: also ask proxies with an ordinary ARP request.
    #[getter]
    fn ask_proxies(&self) -> bool {
        self.0.ask_proxies
    }
    /// Seconds a probe takes when nobody answers:
    /// ``(count - 1) * interval + wait``.
    #[getter]
    fn window(&self) -> f64 {
        self.0.window().as_secs_f64()
    }
    fn __repr__(&self) -> String {
        format!(
            "ProbeOptions(count={}, interval={:?}, wait={:?}, ask_proxies={})",
            self.0.count,
            self.0.interval.as_secs_f64(),
            self.0.wait.as_secs_f64(),
            if self.0.ask_proxies { "True" } else { "False" },
        )
    }
}

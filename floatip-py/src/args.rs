//! Arguments as Python callers give them, and results as Python values.
//!
//! Addresses and prefixes are accepted as `str` or as `ipaddress` objects;
//! anything else is a `TypeError`. The text is then parsed by floatip
//! itself, so a malformed value is an `InvalidArgumentError` (a
//! `ValueError`) from the same validation the Rust API uses, raised before
//! anything is sent to the kernel.

use std::net::IpAddr;
use std::path::PathBuf;

use floatip::{IfName, IpPrefix, Mac};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyInt, PyString, PyTuple};

use crate::errors::{invalid, to_pyerr};
use crate::netns::PyNetns;

static ADDRESS_TYPES: PyOnceLock<Py<PyTuple>> = PyOnceLock::new();
static PREFIX_TYPES: PyOnceLock<Py<PyTuple>> = PyOnceLock::new();
static IP_INTERFACE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static IP_NETWORK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn ipaddress_types<'py>(
    py: Python<'py>,
    cell: &PyOnceLock<Py<PyTuple>>,
    names: &[&str],
) -> PyResult<Bound<'py, PyTuple>> {
    let t = cell.get_or_try_init(py, || -> PyResult<Py<PyTuple>> {
        let m = py.import("ipaddress")?;
        let v = names.iter().map(|n| m.getattr(*n)).collect::<PyResult<Vec<_>>>()?;
        Ok(PyTuple::new(py, v)?.unbind())
    })?;
    Ok(t.bind(py).clone())
}

/// The text of `obj` if it is a `str` or an instance of one of `types`.
fn text_of(obj: &Bound<'_, PyAny>, types: &Bound<'_, PyTuple>, expected: &str) -> PyResult<String> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    if obj.is_instance(types.as_any())? {
        return Ok(obj.str()?.to_cow()?.into_owned());
    }
    Err(PyTypeError::new_err(format!("expected {expected}, got {}", obj.get_type().name()?)))
}

/// An IP address: `str`, `ipaddress.IPv4Address` or `ipaddress.IPv6Address`.
/// An `IPv4Interface` (a subclass of `IPv4Address`) is refused by the
/// parser: it carries a prefix, and silently dropping it would hide a
/// mistake.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IpArg(pub IpAddr);

impl<'a, 'py> FromPyObject<'a, 'py> for IpArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let s = address_text(&obj)?;
        s.parse().map(IpArg).map_err(|_| to_pyerr(obj.py(), invalid("ip address", &s, "not an IPv4 or IPv6 address")))
    }
}

/// The text of an address argument (`str`, `IPv4Address`, `IPv6Address`).
pub(crate) fn address_text(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let types = ipaddress_types(obj.py(), &ADDRESS_TYPES, &["IPv4Address", "IPv6Address"])?;
    text_of(obj, &types, "str, IPv4Address or IPv6Address")
}

/// The text of a prefix argument: `str` (`10.0.0.100/23`, or a bare address
/// for a host prefix) or any `ipaddress` address, interface or network.
pub(crate) fn prefix_text(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let types = ipaddress_types(
        obj.py(),
        &PREFIX_TYPES,
        &["IPv4Address", "IPv6Address", "IPv4Interface", "IPv6Interface", "IPv4Network", "IPv6Network"],
    )?;
    text_of(obj, &types, "str or an ipaddress address, interface or network")
}

/// An address with a prefix length: see [`prefix_text`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct PrefixArg(pub IpPrefix);

impl<'a, 'py> FromPyObject<'a, 'py> for PrefixArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let s = prefix_text(&obj)?;
        s.parse().map(PrefixArg).map_err(|e| to_pyerr(obj.py(), e))
    }
}

/// A MAC address: `"aa:bb:cc:dd:ee:ff"` or 6 `bytes`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MacArg(pub Mac);

impl<'a, 'py> FromPyObject<'a, 'py> for MacArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let py = obj.py();
        if let Ok(s) = obj.cast::<PyString>() {
            let s: &str = &s.to_cow()?;
            return s.parse().map(MacArg).map_err(|_| to_pyerr(py, invalid("mac", s, "expected aa:bb:cc:dd:ee:ff")));
        }
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Mac::from_bytes(b.as_bytes())
                .map(MacArg)
                .ok_or_else(|| to_pyerr(py, invalid("mac", format!("{:?}", b.as_bytes()), "expected 6 bytes")));
        }
        Err(PyTypeError::new_err(format!("expected a MAC as str or bytes, got {}", obj.get_type().name()?)))
    }
}

/// An interface name, validated by the kernel's rules.
#[derive(Debug, Clone)]
pub(crate) struct NameArg(pub IfName);

impl<'a, 'py> FromPyObject<'a, 'py> for NameArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let s: String = obj.extract()?;
        IfName::new(s).map(NameArg).map_err(|e| to_pyerr(obj.py(), e))
    }
}

/// A link, by index (`int`) or by name (`str`; costs one `RTM_GETLINK`
/// lookup by name when the call runs).
#[derive(Debug, Clone)]
pub(crate) enum LinkArg {
    Index(u32),
    Name(IfName),
}

impl<'a, 'py> FromPyObject<'a, 'py> for LinkArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if obj.is_instance_of::<PyInt>() {
            return Ok(LinkArg::Index(obj.extract()?));
        }
        if obj.is_instance_of::<PyString>() {
            return Ok(LinkArg::Name(obj.extract::<NameArg>()?.0));
        }
        Err(PyTypeError::new_err(format!(
            "expected a link as an index (int) or a name (str), got {}",
            obj.get_type().name()?
        )))
    }
}

impl LinkArg {
    /// The index, looking the name up in `h`'s namespace if needed. Call
    /// with the GIL released.
    pub(crate) fn index(&self, h: &floatip::Handle) -> floatip::Result<u32> {
        match self {
            LinkArg::Index(i) => Ok(*i),
            LinkArg::Name(n) => h.link_get(n).map(|l| l.index),
        }
    }
}

/// A namespace: a `Netns`, a name under `/run/netns` (a `str` without
/// `/`), or a path (`os.PathLike`, or a `str` with a `/`: a name never has
/// one).
#[derive(Debug, Clone)]
pub(crate) enum NetnsArg {
    Open(std::sync::Arc<floatip::Netns>),
    Name(String),
    Path(PathBuf),
}

impl<'a, 'py> FromPyObject<'a, 'py> for NetnsArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(ns) = obj.cast::<PyNetns>() {
            return Ok(NetnsArg::Open(ns.get().inner()?));
        }
        if let Ok(s) = obj.cast::<PyString>() {
            let s: &str = &s.to_cow()?;
            return Ok(if s.contains('/') { NetnsArg::Path(s.into()) } else { NetnsArg::Name(s.to_owned()) });
        }
        match obj.extract::<PathBuf>() {
            Ok(p) => Ok(NetnsArg::Path(p)),
            Err(_) => Err(PyTypeError::new_err(format!(
                "expected a Netns, a namespace name (str) or a path (os.PathLike), got {}",
                obj.get_type().name()?
            ))),
        }
    }
}

impl NetnsArg {
    /// The floating-IP spec's reference to this namespace (resolved when a
    /// verb runs).
    pub(crate) fn netns_ref(&self) -> floatip::floating::NetnsRef {
        use floatip::floating::NetnsRef;
        match self {
            NetnsArg::Open(ns) => match ns.name() {
                Some(n) => NetnsRef::Name(n.to_owned()),
                None => NetnsRef::Path(ns.path().to_owned()),
            },
            NetnsArg::Name(n) => NetnsRef::Name(n.clone()),
            NetnsArg::Path(p) => NetnsRef::Path(p.clone()),
        }
    }

    /// Opens it (a `Netns` given is shared, not reopened). Call with the
    /// GIL released.
    pub(crate) fn open(&self) -> floatip::Result<std::sync::Arc<floatip::Netns>> {
        match self {
            NetnsArg::Open(ns) => Ok(ns.clone()),
            NetnsArg::Name(n) => floatip::Netns::open(n).map(std::sync::Arc::new),
            NetnsArg::Path(p) => floatip::Netns::open_path(p).map(std::sync::Arc::new),
        }
    }
}

/// `ipaddress.ip_interface(text)`: an `IPv4Interface` or `IPv6Interface`.
pub(crate) fn interface_obj<'py>(py: Python<'py>, p: &IpPrefix) -> PyResult<Bound<'py, PyAny>> {
    IP_INTERFACE.import(py, "ipaddress", "ip_interface")?.call1((p.to_string(),))
}

/// `ipaddress.ip_network(text)` of the prefix with its host bits cleared.
pub(crate) fn network_obj<'py>(py: Python<'py>, p: &IpPrefix) -> PyResult<Bound<'py, PyAny>> {
    IP_NETWORK.import(py, "ipaddress", "ip_network")?.call1((p.network().to_string(),))
}

/// A MAC as Python sees it: lowercase `aa:bb:cc:dd:ee:ff`.
pub(crate) fn mac_text(m: Option<Mac>) -> Option<String> {
    m.map(|m| m.to_string())
}

//! Python exceptions for [`floatip::Error`]: the classes and the one table
//! that maps an error to its class.
//!
//! Every class derives from `FloatipError`, itself an `OSError`, and also
//! from the standard exception an `except` clause already catches for that
//! errno (`FileNotFoundError`, `FileExistsError`, ...), as pydantic-core and
//! cryptography do. `InvalidArgumentError` is both a `FloatipError` and a
//! `ValueError`: CPython allows `class X(OSError, ValueError)` because
//! `ValueError` adds no instance layout of its own (checked on 3.11), so
//! `except ValueError` and `except OSError` both catch invalid input.
//!
//! The classes are made with `type(name, bases, namespace)` when the module
//! is first imported (PyO3's `create_exception!` takes a single base).

use floatip::{Error, ErrorKind};
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyOSError, PyPermissionError, PyTimeoutError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule, PyTuple, PyType};

/// The Python exception classes of the module, one per variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExcClass {
    /// `FloatipError(OSError)`: the base, and anything without a narrower class.
    Base,
    /// `NotFoundError(FloatipError, FileNotFoundError)`.
    NotFound,
    /// `AlreadyExistsError(FloatipError, FileExistsError)`.
    AlreadyExists,
    /// `PermissionDeniedError(FloatipError, PermissionError)`.
    PermissionDenied,
    /// `KernelTimeoutError(FloatipError, TimeoutError)`.
    TimedOut,
    /// `NotSupportedError(FloatipError)`.
    NotSupported,
    /// `ConflictError(FloatipError)`.
    Conflict,
    /// `InvalidArgumentError(FloatipError, ValueError)`.
    InvalidArgument,
}

/// Every class, in creation order (the base first).
pub(crate) const ALL: [ExcClass; 8] = [
    ExcClass::Base,
    ExcClass::NotFound,
    ExcClass::AlreadyExists,
    ExcClass::PermissionDenied,
    ExcClass::TimedOut,
    ExcClass::NotSupported,
    ExcClass::Conflict,
    ExcClass::InvalidArgument,
];

/// THE mapping table: which Python class an error raises. Everything the
/// binding raises for a [`floatip::Error`] goes through here.
pub(crate) fn class_of(kind: ErrorKind) -> ExcClass {
    match kind {
        ErrorKind::NotFound => ExcClass::NotFound,
        ErrorKind::AlreadyExists => ExcClass::AlreadyExists,
        ErrorKind::PermissionDenied => ExcClass::PermissionDenied,
        ErrorKind::TimedOut => ExcClass::TimedOut,
        ErrorKind::NotSupported => ExcClass::NotSupported,
        ErrorKind::Conflict => ExcClass::Conflict,
        ErrorKind::InvalidInput => ExcClass::InvalidArgument,
        // ErrorKind::Other, and kinds a later floatip may add.
        _ => ExcClass::Base,
    }
}

impl ExcClass {
    /// The class name, as exported by `floatip`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ExcClass::Base => "FloatipError",
            ExcClass::NotFound => "NotFoundError",
            ExcClass::AlreadyExists => "AlreadyExistsError",
            ExcClass::PermissionDenied => "PermissionDeniedError",
            ExcClass::TimedOut => "KernelTimeoutError",
            ExcClass::NotSupported => "NotSupportedError",
            ExcClass::Conflict => "ConflictError",
            ExcClass::InvalidArgument => "InvalidArgumentError",
        }
    }

    fn doc(self) -> &'static str {
        match self {
            ExcClass::Base => {
                "Base of every floatip error; an OSError.\n\n\
                 ``errno`` is the errno behind the error (EINVAL for invalid input, EEXIST for a \
                 conflict, ETIMEDOUT for a timeout), ``strerror`` the whole message (what was being \
                 done, on what, and why), ``op`` the operation (``RTM_NEWROUTE``, ``write sysctl``, \
                 ``validate``, ...), ``ext_ack`` the kernel's extended-ack text or None."
            }
            ExcClass::NotFound => "The object does not exist (ENOENT, ENODEV, ESRCH, ...); also a FileNotFoundError.",
            ExcClass::AlreadyExists => "The object exists already (EEXIST); also a FileExistsError.",
            ExcClass::PermissionDenied => "The caller lacks the privilege (EPERM, EACCES); also a PermissionError.",
            ExcClass::TimedOut => "The kernel did not answer within the handle's timeout; also a TimeoutError.",
            ExcClass::NotSupported => "The kernel does not support the request (EOPNOTSUPP, e.g. VLANs without 8021q).",
            ExcClass::Conflict => {
                "What is there conflicts with the request (e.g. the floating IP is routed to another \
                 interface); nothing was changed. Not a FileExistsError: something *else* is there."
            }
            ExcClass::InvalidArgument => {
                "Input rejected before anything was changed (or EINVAL from the kernel); also a ValueError."
            }
        }
    }

    /// The standard exception the class also derives from, if any.
    fn std_base<'py>(self, py: Python<'py>) -> Option<Bound<'py, PyType>> {
        match self {
            ExcClass::Base => Some(py.get_type::<PyOSError>()),
            ExcClass::NotFound => Some(py.get_type::<PyFileNotFoundError>()),
            ExcClass::AlreadyExists => Some(py.get_type::<PyFileExistsError>()),
            ExcClass::PermissionDenied => Some(py.get_type::<PyPermissionError>()),
            ExcClass::TimedOut => Some(py.get_type::<PyTimeoutError>()),
            ExcClass::InvalidArgument => Some(py.get_type::<PyValueError>()),
            ExcClass::NotSupported | ExcClass::Conflict => None,
        }
    }
}

static CLASSES: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();

fn make_classes(py: Python<'_>) -> PyResult<Vec<Py<PyType>>> {
    let type_ = py.get_type::<PyType>();
    let mut made: Vec<Py<PyType>> = Vec::with_capacity(ALL.len());
    for c in ALL {
        let mut bases: Vec<Bound<'_, PyType>> = Vec::new();
        if c != ExcClass::Base {
            bases.push(made[0].bind(py).clone());
        }
        bases.extend(c.std_base(py));
        let ns = PyDict::new(py);
        ns.set_item("__module__", "floatip")?;
        ns.set_item("__doc__", c.doc())?;
        if c == ExcClass::Base {
            // Class-level defaults, so that instances made by user code
            // (`FloatipError(errno, text)`) have the attributes too.
            ns.set_item("op", "")?;
            ns.set_item("ext_ack", py.None())?;
        }
        let cls = type_.call1((c.name(), PyTuple::new(py, bases)?, ns))?;
        made.push(cls.cast_into::<PyType>()?.unbind());
    }
    Ok(made)
}

/// The class object for `c`.
pub(crate) fn class<'py>(py: Python<'py>, c: ExcClass) -> PyResult<Bound<'py, PyType>> {
    let all = CLASSES.get_or_try_init(py, || make_classes(py))?;
    let i = ALL.iter().position(|x| *x == c).expect("ALL lists every class");
    Ok(all[i].bind(py).clone())
}

/// Adds every class to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for c in ALL {
        m.add(c.name(), class(m.py(), c)?)?;
    }
    Ok(())
}

/// Turns a floatip error into the Python exception the table names, with
/// `errno`, `strerror` (the whole message), `op` and `ext_ack`.
pub(crate) fn to_pyerr(py: Python<'_>, e: Error) -> PyErr {
    match exception(py, &e) {
        Ok(exc) => PyErr::from_value(exc),
        Err(failed) => failed,
    }
}

fn exception<'py>(py: Python<'py>, e: &Error) -> PyResult<Bound<'py, PyAny>> {
    let cls = class(py, class_of(e.kind()))?;
    // The message and its cause (the errno's text), as one line.
    let message = floatip::error::Report(e).to_string();
    // OSError(errno, strerror) sets both attributes; without an errno, the
    // message alone (errno and strerror stay None).
    let exc = match e.errno() {
        Some(errno) => cls.call1((errno, message))?,
        None => cls.call1((message,))?,
    };
    exc.setattr("op", e.op())?;
    exc.setattr("ext_ack", e.ext_ack())?;
    Ok(exc)
}

/// An [`Error::Invalid`] raised by the binding's own argument checks, so that
/// it goes through the same table as the core's validation errors.
pub(crate) fn invalid(what: &'static str, value: impl std::fmt::Display, reason: impl Into<String>) -> Error {
    Error::Invalid { what, value: value.to_string(), reason: reason.into() }
}

/// Test hook for the mapping table: builds (does not raise) the exception
/// for an error of `variant` (`netlink`, `io`, `invalid`, `timeout`,
/// `conflict`, `protocol`) with `errno`, through [`to_pyerr`].
#[cfg(feature = "test-hooks")]
#[pyfunction]
#[pyo3(signature = (variant, errno=0))]
pub(crate) fn _exception_for(py: Python<'_>, variant: &str, errno: i32) -> PyResult<Py<PyAny>> {
    let e = match variant {
        "netlink" => Error::netlink("RTM_NEWLINK", "test", errno, Some("extended ack text".into())),
        "io" => {
            Error::Io { op: "write sysctl", object: "test".into(), source: std::io::Error::from_raw_os_error(errno) }
        }
        "invalid" => invalid("test value", "x", "rejected"),
        "timeout" => Error::Timeout { op: "RTM_GETLINK", object: "test".into(), timeout_ms: 1 },
        "conflict" => Error::Conflict { object: "test".into(), reason: "something else is there".into() },
        "protocol" => Error::Protocol { op: "RTM_GETLINK", detail: "test".into() },
        other => return Err(to_pyerr(py, invalid("error variant", other, "unknown"))),
    };
    Ok(to_pyerr(py, e).into_value(py).into_any())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table itself: every kind a caller can see, and its class.
    #[test]
    fn table() {
        let cases = [
            (ErrorKind::NotFound, ExcClass::NotFound),
            (ErrorKind::AlreadyExists, ExcClass::AlreadyExists),
            (ErrorKind::PermissionDenied, ExcClass::PermissionDenied),
            (ErrorKind::TimedOut, ExcClass::TimedOut),
            (ErrorKind::NotSupported, ExcClass::NotSupported),
            (ErrorKind::Conflict, ExcClass::Conflict),
            (ErrorKind::InvalidInput, ExcClass::InvalidArgument),
            (ErrorKind::Other, ExcClass::Base),
        ];
        for (kind, class) in cases {
            assert_eq!(class_of(kind), class, "{kind:?}");
        }
        // Every class but the base is reachable from some kind.
        for c in ALL.iter().skip(1) {
            assert!(cases.iter().any(|(_, x)| x == c), "{c:?} unreachable");
        }
    }

    /// From real errors (errno-based kinds come from the core's own errno
    /// table) to classes.
    #[test]
    fn errors_to_classes() {
        let nl = |errno| Error::netlink("RTM_NEWADDR", "x", errno, None);
        assert_eq!(class_of(nl(libc::EEXIST).kind()), ExcClass::AlreadyExists);
        assert_eq!(class_of(nl(libc::ENODEV).kind()), ExcClass::NotFound);
        assert_eq!(class_of(nl(libc::ESRCH).kind()), ExcClass::NotFound);
        assert_eq!(class_of(nl(libc::EPERM).kind()), ExcClass::PermissionDenied);
        assert_eq!(class_of(nl(libc::EOPNOTSUPP).kind()), ExcClass::NotSupported);
        assert_eq!(class_of(nl(libc::EINVAL).kind()), ExcClass::InvalidArgument);
        assert_eq!(class_of(nl(libc::EBUSY).kind()), ExcClass::Base);
        assert_eq!(class_of(invalid("x", "y", "z").kind()), ExcClass::InvalidArgument);
        let c = Error::Conflict { object: "route 10.0.0.100/32".into(), reason: "r".into() };
        assert_eq!(class_of(c.kind()), ExcClass::Conflict);
        let t = Error::Timeout { op: "RTM_GETLINK", object: "x".into(), timeout_ms: 5 };
        assert_eq!(class_of(t.kind()), ExcClass::TimedOut);
        let names: std::collections::HashSet<_> = ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), ALL.len(), "class names are unique");
    }
}

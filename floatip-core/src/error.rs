//! The one error type of the crate.
//!
//! Every failure keeps what was being done (the operation, e.g.
//! `RTM_NEWROUTE`), on what (the object, e.g. `10.0.0.100/32 dev vh0`), the
//! errno and, for netlink, the kernel's own extended-ack message. Callers
//! branch on [`Error::kind`], never on message text.

use std::fmt;
use std::io;

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is, independent of its wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The object does not exist (`ENOENT`, `ENODEV`, `ESRCH`, `EADDRNOTAVAIL`
    /// on delete, a missing namespace file).
    NotFound,
    /// The object exists already (`EEXIST`).
    AlreadyExists,
    /// The caller lacks the privilege (`EPERM`, `EACCES`).
    PermissionDenied,
    /// The kernel does not support the request (`EOPNOTSUPP`, unknown link
    /// kind such as `vlan` on a kernel without 8021q; `ENOPROTOOPT`, a socket
    /// option older than the kernel; `ENOTTY`, an unknown ioctl). See
    /// docs/testing.md for the kernel floor.
    NotSupported,
    /// Input rejected by floatip's validation, before any system call.
    InvalidInput,
    /// The kernel did not answer within the socket's read timeout.
    TimedOut,
    /// What is there conflicts with what was asked (e.g. the floating IP is
    /// already routed to another interface).
    Conflict,
    /// Anything else: see the errno and message.
    Other,
}

/// The kind in words (`not found`, `already exists`, ...), for messages.
impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::NotSupported => "not supported",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::TimedOut => "timed out",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Other => "other",
        })
    }
}

/// Where an [`Error`] came from: the kernel (netlink or a syscall) or
/// floatip's own validation.
///
/// By the standard library's convention, `Display` says what failed
/// (operation, object, and for netlink the kernel's own extended-ack text)
/// and the cause (the errno, as an [`io::Error`]) is the
/// [`source`](std::error::Error::source), not repeated in the message.
/// [`Report`] prints both on one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel refused a netlink request.
    #[error("{op} {object}{}", ext_ack_text(.ext_ack))]
    Netlink {
        /// The request, e.g. `RTM_NEWLINK`.
        op: &'static str,
        /// What the request was about, e.g. `veth vh0 peer eth0`.
        object: String,
        /// The kernel's extended-ack message, when it gave one.
        ext_ack: Option<String>,
        /// The errno the kernel returned, as an OS error.
        #[source]
        source: io::Error,
    },
    /// A system call (namespace, sysctl, socket) failed.
    #[error("{op} {object}")]
    Io {
        /// What was being done, e.g. `write sysctl`.
        op: &'static str,
        /// On what, e.g. `net.ipv4.conf.vh0.proxy_arp in netns pod1`.
        object: String,
        /// The underlying error, with its errno.
        #[source]
        source: io::Error,
    },
    /// Input rejected before anything was changed.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// What kind of value, e.g. `interface name`.
        what: &'static str,
        /// The value as given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The kernel did not answer in time.
    #[error("{op} {object}: no answer from the kernel within {timeout_ms} ms")]
    Timeout {
        /// The request.
        op: &'static str,
        /// What it was about.
        object: String,
        /// The timeout that expired.
        timeout_ms: u64,
    },
    /// The state found conflicts with the request; nothing was changed.
    #[error("conflict on {object}: {reason}")]
    Conflict {
        /// The object in conflict, e.g. `route 10.0.0.100/32`.
        object: String,
        /// What is there instead.
        reason: String,
    },
    /// A message from the kernel could not be understood.
    #[error("{op}: malformed netlink reply: {detail}")]
    Protocol {
        /// The request whose reply was malformed.
        op: &'static str,
        /// What was wrong.
        detail: String,
    },
}

fn ext_ack_text(ext: &Option<String>) -> String {
    match ext {
        Some(m) => format!(" (kernel: {m})"),
        None => String::new(),
    }
}

/// An error and all its causes on one line, `: `-separated, for a log line
/// or a message to a person:
/// `RTM_NEWROUTE 10.0.0.100/32 dev vh0 (kernel: Device not found): No such device (os error 19)`.
///
/// ```
/// use floatip::error::Report;
/// let e = floatip::IfName::new("a%d").unwrap_err();
/// println!("{}", Report(&e));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Report<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

/// For callers whose own errors are [`io::Error`]s: the kind follows
/// [`Error::kind`] (so `ENODEV` is [`io::ErrorKind::NotFound`], as floatip
/// classes it), and the floatip error, with its message and source, is
/// kept as the inner error.
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.kind() {
            ErrorKind::NotFound => io::ErrorKind::NotFound,
            ErrorKind::AlreadyExists => io::ErrorKind::AlreadyExists,
            ErrorKind::PermissionDenied => io::ErrorKind::PermissionDenied,
            ErrorKind::NotSupported => io::ErrorKind::Unsupported,
            ErrorKind::InvalidInput => io::ErrorKind::InvalidInput,
            ErrorKind::TimedOut => io::ErrorKind::TimedOut,
            ErrorKind::Conflict => io::ErrorKind::AlreadyExists,
            ErrorKind::Other => match &e {
                Error::Io { source, .. } | Error::Netlink { source, .. } => source.kind(),
                Error::Protocol { .. } => io::ErrorKind::InvalidData,
                _ => io::ErrorKind::Other,
            },
        };
        io::Error::new(kind, e)
    }
}

impl Error {
    /// The kind of failure, for matching without looking at text.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid { .. } => ErrorKind::InvalidInput,
            Error::Timeout { .. } => ErrorKind::TimedOut,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::Protocol { .. } => ErrorKind::Other,
            Error::Netlink { source, .. } | Error::Io { source, .. } => match source.raw_os_error() {
                Some(e) => kind_of_errno(e),
                None => match source.kind() {
                    io::ErrorKind::NotFound => ErrorKind::NotFound,
                    io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
                    io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
                    io::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
                    _ => ErrorKind::Other,
                },
            },
        }
    }

    /// The positive errno behind this error, if there is one. Validation
    /// errors report `EINVAL`, conflicts `EEXIST`, timeouts `ETIMEDOUT`.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Netlink { source, .. } | Error::Io { source, .. } => source.raw_os_error(),
            Error::Invalid { .. } => Some(libc::EINVAL),
            Error::Conflict { .. } => Some(libc::EEXIST),
            Error::Timeout { .. } => Some(libc::ETIMEDOUT),
            Error::Protocol { .. } => Some(libc::EPROTO),
        }
    }

    /// The kernel's extended-ack message, if it sent one.
    pub fn ext_ack(&self) -> Option<&str> {
        match self {
            Error::Netlink { ext_ack, .. } => ext_ack.as_deref(),
            _ => None,
        }
    }

    /// The operation that failed (`RTM_NEWLINK`, `write sysctl`, ...), or
    /// `validate` / `check` for errors raised before any system call.
    pub fn op(&self) -> &str {
        match self {
            Error::Netlink { op, .. } | Error::Io { op, .. } | Error::Timeout { op, .. } => op,
            Error::Protocol { op, .. } => op,
            Error::Invalid { .. } => "validate",
            Error::Conflict { .. } => "check",
        }
    }

    /// True for [`ErrorKind::NotFound`].
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// True when the kernel said there is no route (`ENETUNREACH`,
    /// `EHOSTUNREACH`), as `ip route get` of an unrouted address does.
    pub fn is_unreachable(&self) -> bool {
        matches!(self.errno(), Some(libc::ENETUNREACH | libc::EHOSTUNREACH))
    }

    /// True for [`ErrorKind::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        self.kind() == ErrorKind::AlreadyExists
    }

    pub(crate) fn invalid(what: &'static str, value: impl fmt::Display, reason: impl Into<String>) -> Self {
        Error::Invalid { what, value: value.to_string(), reason: reason.into() }
    }

    /// A netlink error: the kernel answered `errno` (positive) to `op` on
    /// `object`, with its extended-ack text if any. For code that speaks
    /// netlink beside floatip and wants one error type.
    pub fn netlink(op: &'static str, object: impl Into<String>, errno: i32, ext_ack: Option<String>) -> Self {
        Error::Netlink { op, object: object.into(), ext_ack, source: io::Error::from_raw_os_error(errno) }
    }

    /// The same error about `object` instead (a netlink or I/O error; other
    /// kinds are returned as they are).
    pub(crate) fn with_object(self, object: impl FnOnce(String) -> String) -> Self {
        match self {
            Error::Netlink { op, object: o, ext_ack, source } => {
                Error::Netlink { op, object: object(o), ext_ack, source }
            }
            Error::Io { op, object: o, source } => Error::Io { op, object: object(o), source },
            e => e,
        }
    }

    pub(crate) fn io(op: &'static str, object: impl Into<String>, source: io::Error) -> Self {
        Error::Io { op, object: object.into(), source }
    }
}

/// Maps an errno to the kind a caller branches on.
pub(crate) fn kind_of_errno(errno: i32) -> ErrorKind {
    match errno {
        libc::ENOENT | libc::ENODEV | libc::ESRCH | libc::EADDRNOTAVAIL | libc::ENXIO => ErrorKind::NotFound,
        libc::EEXIST | libc::ENOTEMPTY => ErrorKind::AlreadyExists,
        libc::EPERM | libc::EACCES => ErrorKind::PermissionDenied,
        // ENOPROTOOPT: a socket option this kernel does not know (e.g.
        // NETLINK_GET_STRICT_CHK before Linux 4.20); ENOTTY: an ioctl it does
        // not know (NS_GET_NSTYPE before 4.11).
        libc::EOPNOTSUPP | libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT | libc::ENOPROTOOPT | libc::ENOTTY => {
            ErrorKind::NotSupported
        }
        libc::EINVAL | libc::ERANGE => ErrorKind::InvalidInput,
        libc::ETIMEDOUT | libc::EAGAIN => ErrorKind::TimedOut,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_errno() {
        let e = |errno| Error::netlink("RTM_NEWLINK", "x", errno, None);
        assert_eq!(e(libc::EEXIST).kind(), ErrorKind::AlreadyExists);
        assert_eq!(e(libc::ENODEV).kind(), ErrorKind::NotFound);
        assert_eq!(e(libc::EPERM).kind(), ErrorKind::PermissionDenied);
        assert_eq!(e(libc::EOPNOTSUPP).kind(), ErrorKind::NotSupported);
        let io = |errno| Error::io("setsockopt(NETLINK_GET_STRICT_CHK)", "x", io::Error::from_raw_os_error(errno));
        assert_eq!(io(libc::ENOPROTOOPT).kind(), ErrorKind::NotSupported);
        assert_eq!(io(libc::ENOTTY).kind(), ErrorKind::NotSupported);
        assert_eq!(e(libc::EBUSY).kind(), ErrorKind::Other);
    }

    #[test]
    fn message_keeps_op_object_and_ext_ack() {
        let e = Error::netlink("RTM_NEWROUTE", "10.0.0.100/32 dev vh0", libc::ENODEV, Some("Device not found".into()));
        // The message does not repeat its source; the report has both.
        assert_eq!(e.to_string(), "RTM_NEWROUTE 10.0.0.100/32 dev vh0 (kernel: Device not found)");
        let source = std::error::Error::source(&e).expect("the errno is the source");
        assert_eq!(source.to_string(), io::Error::from_raw_os_error(libc::ENODEV).to_string());
        assert_eq!(
            Report(&e).to_string(),
            "RTM_NEWROUTE 10.0.0.100/32 dev vh0 (kernel: Device not found): No such device (os error 19)"
        );
        assert_eq!(e.errno(), Some(libc::ENODEV));
        assert_eq!(e.ext_ack(), Some("Device not found"));
    }

    #[test]
    fn io_error_display_leaves_the_source_to_source() {
        let e = Error::io("write sysctl", "net.ipv4.ip_forward", io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(e.to_string(), "write sysctl net.ipv4.ip_forward");
        assert_eq!(Report(&e).to_string(), "write sysctl net.ipv4.ip_forward: Permission denied (os error 13)");
    }

    #[test]
    fn into_io_error_keeps_kind_and_message() {
        let e: io::Error = Error::netlink("RTM_DELLINK", "vh0", libc::ENODEV, None).into();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let inner = e.get_ref().expect("the floatip error is inside");
        assert_eq!(inner.to_string(), "RTM_DELLINK vh0");
        let e: io::Error = Error::invalid("interface name", "a b", "contains ' '").into();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn unreachable_keeps_its_errno() {
        let e = Error::netlink("RTM_GETROUTE", "fibmatch 192.0.2.1", libc::ENETUNREACH, None);
        assert!(e.is_unreachable() && !e.is_not_found());
        assert_eq!(e.errno(), Some(libc::ENETUNREACH));
    }
}

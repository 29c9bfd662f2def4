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

/// Where an [`Error`] came from: the kernel (netlink or a syscall) or
/// floatip's own validation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel refused a netlink request.
    #[error("{op} {object}: {}{}", errno_text(*.errno), ext_ack_text(.ext_ack))]
    Netlink {
        /// The request, e.g. `RTM_NEWLINK`.
        op: &'static str,
        /// What the request was about, e.g. `veth vh0 peer eth0`.
        object: String,
        /// The positive errno the kernel returned.
        errno: i32,
        /// The kernel's extended-ack message, when it gave one.
        ext_ack: Option<String>,
    },
    /// A system call (namespace, sysctl, socket) failed.
    #[error("{op} {object}: {source}")]
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

fn errno_text(errno: i32) -> String {
    io::Error::from_raw_os_error(errno).to_string()
}

fn ext_ack_text(ext: &Option<String>) -> String {
    match ext {
        Some(m) => format!(" ({m})"),
        None => String::new(),
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
            Error::Netlink { errno, .. } => kind_of_errno(*errno),
            Error::Io { source, .. } => match source.raw_os_error() {
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
            Error::Netlink { errno, .. } => Some(*errno),
            Error::Io { source, .. } => source.raw_os_error(),
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

    /// True for [`ErrorKind::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        self.kind() == ErrorKind::AlreadyExists
    }

    pub(crate) fn invalid(what: &'static str, value: impl fmt::Display, reason: impl Into<String>) -> Self {
        Error::Invalid { what, value: value.to_string(), reason: reason.into() }
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
        let e = |errno| Error::Netlink { op: "RTM_NEWLINK", object: "x".into(), errno, ext_ack: None };
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
        let e = Error::Netlink {
            op: "RTM_NEWROUTE",
            object: "10.0.0.100/32 dev vh0".into(),
            errno: libc::ENODEV,
            ext_ack: Some("Device not found".into()),
        };
        assert_eq!(
            e.to_string(),
            "RTM_NEWROUTE 10.0.0.100/32 dev vh0: No such device (os error 19) (Device not found)"
        );
        assert_eq!(e.errno(), Some(libc::ENODEV));
        assert_eq!(e.ext_ack(), Some("Device not found"));
    }
}

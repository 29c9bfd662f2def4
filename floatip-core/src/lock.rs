//! Node-wide locks: `flock` on a fixed set of files under
//! `/run/floatip/lock`.
//!
//! Attach and detach of one attachment, and the claim of a floating IP, are
//! serialized across threads and processes with exclusive `flock` locks. A
//! lock belongs to an open file description, so two threads of one process
//! exclude each other just as two processes do, and the kernel drops it
//! when the holder dies: a crashed attach never leaves a lock behind.
//!
//! The files are *stripes*: an attachment id or an IP hashes to one of
//! [`ATTACHMENT_STRIPES`] or [`IP_STRIPES`] files, made once and never
//! removed. So the directory never grows (a file per attachment would need
//! creating and unlinking on every attach and detach, which costs a journal
//! commit where `/run` is not a tmpfs, and races with waiters), and two
//! unrelated attachments that share a stripe merely take turns. Every
//! locker takes attachment stripes before IP stripes, each kind in
//! ascending order, and never the same stripe twice: no two lockers can
//! wait for each other.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::sys;

/// Where the lock files live.
pub const LOCK_DIR: &str = "/run/floatip/lock";
/// Stripes for attachments.
pub const ATTACHMENT_STRIPES: u64 = 256;
/// Stripes for floating IPs.
pub const IP_STRIPES: u64 = 64;
/// Stripes for policy routing tables.
pub const TABLE_STRIPES: u64 = 16;

/// How long [`Lock`]s of this process wait, in ms; `u64::MAX`: for ever.
static WAIT_LIMIT_MS: AtomicU64 = AtomicU64::new(u64::MAX);

/// Bounds how long this process waits for each lock an attach or detach
/// takes (`None`, the default: for as long as it takes). With a bound, a
/// lock still held by another attach or detach when it runs out fails the
/// verb before any change with an `Io` error of op `flock` and errno
/// `EWOULDBLOCK`, whose [`kind`](crate::Error::kind) is
/// [`TimedOut`](crate::ErrorKind::TimedOut): a CNI plugin answers "try
/// again later" (code 11) instead of blocking its runtime. Process-wide:
/// for a short-lived tool such as `floatip-cni`, set once at start.
/// [`Host::gc`](crate::Host::gc) never waits either way.
pub fn set_wait_limit(limit: Option<Duration>) {
    let ms = limit.map_or(u64::MAX, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX - 1));
    WAIT_LIMIT_MS.store(ms, Ordering::Relaxed);
}

/// The bound set by [`set_wait_limit`], if any.
pub fn wait_limit() -> Option<Duration> {
    match WAIT_LIMIT_MS.load(Ordering::Relaxed) {
        u64::MAX => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

/// The lock file that serializes the attach and detach of attachment `id`
/// (one of [`ATTACHMENT_STRIPES`] under [`LOCK_DIR`]): for an operator
/// asking who holds it (`fuser`), and for tests.
pub fn attachment_lock_path(id: &str) -> PathBuf {
    Stripe::of(Kind::Attachment, id).path()
}

/// What a lock is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    /// An attachment's attach and detach (and GC, reconcile).
    Attachment,
    /// The claim of a floating IP.
    Ip,
    /// A host's batch deletes (`detach_many`, GC): their link group ids.
    Drain,
    /// A policy routing table shared by the pods of one LAN interface: its
    /// routes and the rules that use it change under this lock, so that
    /// the detach of its last pod and the attach of a new one do not
    /// cross. Taken last, and nothing is waited for while holding it.
    Table,
}

/// One lock file: which kind, which stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Stripe(Kind, u64);

impl Stripe {
    /// The stripe of `key` (an attachment id, an IP in text).
    pub(crate) fn of(kind: Kind, key: &str) -> Stripe {
        let n = match kind {
            Kind::Attachment => ATTACHMENT_STRIPES,
            Kind::Ip => IP_STRIPES,
            Kind::Drain => 1,
            Kind::Table => TABLE_STRIPES,
        };
        Stripe(kind, fnv1a(key.as_bytes()) % n)
    }

    fn path(&self) -> PathBuf {
        let kind = match self.0 {
            Kind::Attachment => "att",
            Kind::Ip => "ip",
            Kind::Drain => "drain",
            Kind::Table => "tbl",
        };
        Path::new(LOCK_DIR).join(format!("{kind}-{:02x}", self.1))
    }
}

/// FNV-1a, 64 bits: small, stable across versions and processes (the
/// standard library's hasher is neither promised to be).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// An exclusive lock, held until dropped.
#[derive(Debug)]
pub(crate) struct Lock {
    _file: File,
}

impl Lock {
    /// Waits for the lock of `stripe`, at most for the process's
    /// [`wait_limit`].
    pub(crate) fn acquire(stripe: Stripe) -> Result<Lock> {
        let Some(limit) = wait_limit() else {
            return Self::take(stripe, false).map(|l| l.expect("blocking lock"));
        };
        // Polled: a blocking flock cannot be given a deadline without a
        // signal. The pause grows from 1 ms to 16 ms, so a lock held for
        // the few ms of an attach is taken soon after it is released.
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(l) = Self::take(stripe, true)? {
                return Ok(l);
            }
            let waited = start.elapsed();
            if waited >= limit {
                return Err(Error::io(
                    "flock",
                    format!(
                        "{} (held by another attach or detach; waited {} ms)",
                        stripe.path().display(),
                        waited.as_millis()
                    ),
                    io::Error::from_raw_os_error(libc::EWOULDBLOCK),
                ));
            }
            std::thread::sleep(pause.min(limit - waited));
            pause = (pause * 2).min(Duration::from_millis(16));
        }
    }

    /// The lock of `stripe` if nobody holds it, `None` if somebody does.
    pub(crate) fn try_acquire(stripe: Stripe) -> Result<Option<Lock>> {
        Self::take(stripe, true)
    }

    /// Every stripe of `stripes` once, in the one global order.
    pub(crate) fn acquire_all(mut stripes: Vec<Stripe>) -> Result<Vec<Lock>> {
        stripes.sort();
        stripes.dedup();
        stripes.into_iter().map(Lock::acquire).collect()
    }

    fn take(stripe: Stripe, nonblock: bool) -> Result<Option<Lock>> {
        let path = stripe.path();
        let err = |op, e| Error::io(op, path.display().to_string(), e);
        let file = match open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(LOCK_DIR).map_err(|e| Error::io("create", LOCK_DIR, e))?;
                open(&path).map_err(|e| err("open lock", e))?
            }
            Err(e) => return Err(err("open lock", e)),
        };
        match sys::flock_exclusive(file.as_fd(), nonblock).map_err(|e| err("flock", e))? {
            true => Ok(Some(Lock { _file: file })),
            false => Ok(None),
        }
    }
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create(true).mode(0o600).custom_flags(libc::O_CLOEXEC).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_are_stable_and_bounded() {
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        let s = Stripe::of(Kind::Attachment, "c0ffee/eth0");
        assert_eq!(s, Stripe::of(Kind::Attachment, "c0ffee/eth0"));
        assert!(s.1 < ATTACHMENT_STRIPES);
        assert!(Stripe::of(Kind::Ip, "10.0.0.100").1 < IP_STRIPES);
        assert_eq!(Stripe::of(Kind::Drain, "x"), Stripe::of(Kind::Drain, "y"));
        assert_ne!(Stripe::of(Kind::Ip, "a").path(), Stripe::of(Kind::Attachment, "a").path());
        // Attachment stripes sort before IP stripes: the global order.
        assert!(Stripe(Kind::Attachment, 255) < Stripe(Kind::Ip, 0));
        assert_eq!(attachment_lock_path("c0ffee/eth0"), s.path());
    }
}

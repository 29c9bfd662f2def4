//! Node-wide locks: `flock` on files under `/run/floatip/lock`.
//!
//! Attach and detach of one attachment, and the claim of a floating IP, are
//! serialized across threads and processes with exclusive `flock` locks. A
//! lock belongs to an open file description, so two threads of one process
//! exclude each other just as two processes do, and the kernel drops it
//! when the holder dies: a crashed attach never leaves a lock behind.
//!
//! Each lock is keyed by the host namespace's inode and a name (the
//! attachment id, the IP), so attachments on different host namespaces
//! (the test lab's hosts) never wait for each other.
//!
//! An attachment's lock file is unlinked by the detach that holds it. A
//! waiter that opened the file before the unlink then holds a lock on a
//! file nobody else will open: after `flock` it checks that the path still
//! names its file, and starts over if not.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sys;

/// Where the lock files live (a tmpfs: they vanish at reboot).
pub const LOCK_DIR: &str = "/run/floatip/lock";

/// An exclusive lock, held until dropped.
#[derive(Debug)]
pub(crate) struct Lock {
    file: File,
    path: PathBuf,
}

/// The file name for a lock on `key` in the host namespace `host_ino`:
/// the kind, the inode and 16 hex digits of the key's FNV-1a hash (keys
/// are attachment ids and IPs, of any length and alphabet).
fn lock_path(kind: &str, host_ino: u64, key: &str) -> PathBuf {
    Path::new(LOCK_DIR).join(format!("{kind}-{host_ino}-{:016x}", fnv1a(key.as_bytes())))
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

impl Lock {
    /// Waits for the lock on `key`, whose file a holder may unlink.
    pub(crate) fn acquire(kind: &str, host_ino: u64, key: &str) -> Result<Lock> {
        Self::take(lock_path(kind, host_ino, key), false, true).map(|l| l.expect("blocking lock"))
    }

    /// Waits for the lock on `key`, whose file is never unlinked (an IP's,
    /// a host's drain): no need to check after `flock` that the path still
    /// names it.
    pub(crate) fn acquire_kept(kind: &str, host_ino: u64, key: &str) -> Result<Lock> {
        Self::take(lock_path(kind, host_ino, key), false, false).map(|l| l.expect("blocking lock"))
    }

    /// The lock on `key` if nobody holds it, `None` if somebody does.
    pub(crate) fn try_acquire(kind: &str, host_ino: u64, key: &str) -> Result<Option<Lock>> {
        Self::take(lock_path(kind, host_ino, key), true, true)
    }

    fn take(path: PathBuf, nonblock: bool, may_be_unlinked: bool) -> Result<Option<Lock>> {
        let err = |op, e| Error::io(op, path.display().to_string(), e);
        loop {
            let file = match open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir_all(LOCK_DIR).map_err(|e| Error::io("create", LOCK_DIR, e))?;
                    open(&path).map_err(|e| err("open lock", e))?
                }
                Err(e) => return Err(err("open lock", e)),
            };
            if !sys::flock_exclusive(file.as_fd(), nonblock).map_err(|e| err("flock", e))? {
                return Ok(None);
            }
            if !may_be_unlinked {
                return Ok(Some(Lock { file, path }));
            }
            // Still the file the path names? A detach may have unlinked it
            // while this thread waited.
            let held = file.metadata().map_err(|e| err("fstat lock", e))?;
            match fs::metadata(&path) {
                Ok(now) if (now.dev(), now.ino()) == (held.dev(), held.ino()) => {
                    return Ok(Some(Lock { file, path }));
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(err("stat lock", e)),
            }
        }
    }

    /// Removes the lock file while holding it (the attachment is gone);
    /// the lock is released when `self` drops.
    pub(crate) fn unlink(&self) {
        let _ = fs::remove_file(&self.path);
        let _ = &self.file;
    }
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create(true).mode(0o600).custom_flags(libc::O_CLOEXEC).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_distinct_files() {
        assert_ne!(lock_path("att", 1, "a"), lock_path("att", 1, "b"));
        assert_ne!(lock_path("att", 1, "a"), lock_path("att", 2, "a"));
        assert_ne!(lock_path("att", 1, "a"), lock_path("ip", 1, "a"));
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
    }
}

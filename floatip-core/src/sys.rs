//! The thin layer of raw system calls the rest of the crate needs.
//!
//! This is the only module allowed to use `unsafe`; each block says why it is
//! sound. Everything here is a one-to-one wrapper returning `io::Result`.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

fn cstr(path: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `setns(fd, CLONE_NEWNET)`: move the calling thread into the network
/// namespace `fd` refers to. Affects only the calling thread.
pub(crate) fn setns_net(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: setns takes a file descriptor and a flag; the fd is borrowed and
    // valid for the duration of the call. No memory is passed.
    check(unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) }).map(drop)
}

/// `unshare(CLONE_NEWNET)`: give the calling thread a fresh network namespace.
pub(crate) fn unshare_net() -> io::Result<()> {
    // SAFETY: unshare takes only a flag word.
    check(unsafe { libc::unshare(libc::CLONE_NEWNET) }).map(drop)
}

/// `mount(src, target, NULL, MS_BIND, NULL)`.
pub(crate) fn bind_mount(src: &Path, target: &Path) -> io::Result<()> {
    let (s, t) = (cstr(src)?, cstr(target)?);
    // SAFETY: both pointers are NUL-terminated strings that outlive the call;
    // fstype and data may be NULL for a bind mount.
    check(unsafe {
        libc::mount(s.as_ptr(), t.as_ptr(), std::ptr::null(), libc::MS_BIND | libc::MS_REC, std::ptr::null())
    })
    .map(drop)
}

/// `mount("", target, "none", flags, NULL)`: change the propagation type of
/// an existing mount (e.g. `MS_SHARED | MS_REC`).
pub(crate) fn set_propagation(target: &Path, flags: libc::c_ulong) -> io::Result<()> {
    let t = cstr(target)?;
    let none = c"none";
    let empty = c"";
    // SAFETY: all strings are NUL-terminated and live for the call.
    check(unsafe { libc::mount(empty.as_ptr(), t.as_ptr(), none.as_ptr(), flags, std::ptr::null()) }).map(drop)
}

/// `umount2(target, MNT_DETACH)`.
pub(crate) fn umount_detach(target: &Path) -> io::Result<()> {
    let t = cstr(target)?;
    // SAFETY: NUL-terminated string living for the call.
    check(unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) }).map(drop)
}

/// `ioctl(fd, NS_GET_NSTYPE)`: the `CLONE_NEW*` type of a namespace file, or
/// an error (ENOTTY) when `fd` is not a namespace file at all.
pub(crate) fn ns_get_type(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // NS_GET_NSTYPE = _IO(0xb7, 0x3) from <linux/nsfs.h>.
    const NS_GET_NSTYPE: libc::c_ulong = (0xb7 << 8) | 0x3;
    // SAFETY: NS_GET_NSTYPE takes no argument and returns an int.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _) })
}

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

/// `fstat(fd)`: the device and inode of an open file (for a namespace
/// file, the namespace's identity in nsfs).
pub(crate) fn fstat_dev_ino(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes one `struct stat` to the pointer, which points to
    // uninitialised memory of exactly that type; the fd is borrowed for the
    // call.
    check(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat returned success, so it filled the whole struct.
    let st = unsafe { st.assume_init() };
    Ok((st.st_dev, st.st_ino))
}

/// `flock(fd, LOCK_EX [| LOCK_NB])`: an exclusive advisory lock on an open
/// file, held by its open file description until that is closed (so the
/// kernel releases it when the process dies). `Ok(false)` when `nonblock`
/// and another holder has it.
pub(crate) fn flock_exclusive(fd: BorrowedFd<'_>, nonblock: bool) -> io::Result<bool> {
    let op = libc::LOCK_EX | if nonblock { libc::LOCK_NB } else { 0 };
    loop {
        // SAFETY: flock takes a file descriptor (borrowed, valid for the
        // call) and a flag word; no memory is passed.
        match check(unsafe { libc::flock(fd.as_raw_fd(), op) }) {
            Ok(_) => return Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
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

/// True when `fd` is a file of nsfs, the namespace file system (`fstatfs`
/// type `NSFS_MAGIC`, <linux/magic.h>): `/proc/PID/ns/*` and their bind
/// mounts.
pub(crate) fn is_nsfs(fd: BorrowedFd<'_>) -> io::Result<bool> {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs writes one `struct statfs` to the pointer, which
    // points to enough space for it, and the fd is borrowed for the call.
    check(unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstatfs returned success, so it filled the whole struct.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between targets
    Ok(st.f_type as i64 == NSFS_MAGIC)
}

/// `bind(fd, sockaddr_ll{ifindex})` with protocol 0 (send only).
pub(crate) fn packet_bind(fd: BorrowedFd<'_>, ifindex: u32) -> io::Result<()> {
    packet_bind_protocol(fd, ifindex, 0)
}

/// `bind(fd, sockaddr_ll{ifindex, protocol})`: from now on the socket
/// receives the frames of EtherType `protocol` (host order; 0 receives
/// none) that arrive on interface `ifindex`, and none from elsewhere.
pub(crate) fn packet_bind_protocol(fd: BorrowedFd<'_>, ifindex: u32, protocol: u16) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: the pointer and length describe `sll`, which lives for the call.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    })
    .map(drop)
}

/// `setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, {ifindex,
/// PACKET_MR_MULTICAST, mac})`: the interface accepts frames to the
/// multicast address `mac` while the socket is open (the kernel drops the
/// membership when it closes).
pub(crate) fn packet_add_multicast(fd: BorrowedFd<'_>, ifindex: u32, mac: [u8; 6]) -> io::Result<()> {
    // SAFETY: packet_mreq is plain old data; all-zero is a valid value.
    let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
    mr.mr_ifindex = ifindex as i32;
    mr.mr_type = libc::PACKET_MR_MULTICAST as u16;
    mr.mr_alen = 6;
    mr.mr_address[..6].copy_from_slice(&mac);
    // SAFETY: the pointer and length describe `mr`, which lives for the call.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            &mr as *const libc::packet_mreq as *const libc::c_void,
            std::mem::size_of::<libc::packet_mreq>() as u32,
        )
    })
    .map(drop)
}

/// `recvfrom(fd, buf, MSG_DONTWAIT)` on an AF_PACKET socket: the frame's
/// length (a frame longer than `buf` is cut to it) and its `sll_pkttype`
/// (`PACKET_HOST`, `PACKET_BROADCAST`, ..., `PACKET_OUTGOING` for one this
/// host sent), or `None` when nothing is queued.
pub(crate) fn recv_frame(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<(usize, u8)>> {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes, and `sll`
        // with `len` describes a writable sockaddr_ll; all outlive the call.
        let n = unsafe {
            libc::recvfrom(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                &mut sll as *mut libc::sockaddr_ll as *mut libc::sockaddr,
                &mut len,
            )
        };
        if n >= 0 {
            return Ok(Some((n as usize, sll.sll_pkttype)));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// `poll(fds, POLLIN, timeout)`: which of `fds` have something to read
/// (or an error to report), after waiting at most `timeout` (rounded up to
/// whole milliseconds). An interrupted wait returns none ready.
pub(crate) fn poll_readable(fds: &[BorrowedFd<'_>], timeout: std::time::Duration) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> =
        fds.iter().map(|f| libc::pollfd { fd: f.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structs that
    // outlives the call; the fds are borrowed for it.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

/// `sendmmsg(fd, frames)`: send many already-built frames in one system call
/// on a bound AF_PACKET socket. Returns how many were sent (the kernel may
/// stop early; the caller sends the rest).
pub(crate) fn send_frames(fd: BorrowedFd<'_>, frames: &[&[u8]]) -> io::Result<usize> {
    if frames.is_empty() {
        return Ok(0);
    }
    let mut iovs: Vec<libc::iovec> =
        frames.iter().map(|f| libc::iovec { iov_base: f.as_ptr() as *mut libc::c_void, iov_len: f.len() }).collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: mmsghdr is plain old data; all-zero is valid (no name,
            // no control data).
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov as *mut libc::iovec;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    // SAFETY: every mmsghdr points at one iovec in `iovs`, which points at a
    // frame borrowed from `frames`; all of them outlive the call, and the
    // kernel only reads the frame bytes.
    let n = check(unsafe { libc::sendmmsg(fd.as_raw_fd(), msgs.as_mut_ptr(), msgs.len() as u32, 0) })?;
    Ok(n as usize)
}

/// Closes `fd` in a forked child instead of here, for a short-lived
/// process whose exit would otherwise wait for the close: the last close
/// of an `AF_PACKET` socket waits for an RCU grace period
/// (`packet_release()` → `synchronize_net()`, ~10 ms). The child closes
/// every other descriptor first (so a runtime reading this process's
/// stdout sees EOF when this process exits), then `fd`, and exits; this
/// process's own copy then closes at once. The child is never waited for:
/// the caller is about to exit, and init reaps it. Falls back to closing
/// here if `fork` fails.
pub(crate) fn close_in_child(fd: std::os::fd::OwnedFd) {
    let raw = fd.as_raw_fd();
    // SAFETY: after fork the child runs only async-signal-safe calls
    // (close, close_range via syscall, _exit) on plain integers, so the
    // state other threads left behind (locks, allocator) is never touched.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            close_all_but(raw);
            libc::close(raw);
            libc::_exit(0);
        }
    }
    // Parent (or fork failed): drop our reference; with a child holding
    // the other one this does not wait.
    drop(fd);
}

/// Sends `msg` on the socket `fd` from a forked child, which then exits;
/// returns at once. The child closes every other descriptor first (so a
/// runtime reading this process's stdout sees EOF when this process
/// exits, whatever the child still waits for in the kernel), and is never
/// waited for. Sends it here if `fork` fails.
#[cfg(feature = "cni")]
pub(crate) fn send_in_child(fd: std::os::fd::OwnedFd, msg: &[u8]) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: after fork the child runs only async-signal-safe calls
    // (close, close_range via syscall, send, _exit) on plain integers and
    // a buffer allocated before the fork.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            close_all_but(raw);
            libc::send(raw, msg.as_ptr().cast(), msg.len(), 0);
            libc::_exit(0);
        }
    }
    if pid < 0 {
        // SAFETY: `msg` is a valid buffer of `msg.len()` bytes.
        check(unsafe { libc::send(raw, msg.as_ptr().cast(), msg.len(), 0) } as libc::c_int)?;
    }
    drop(fd);
    Ok(())
}

/// In a forked child: closes every descriptor but `keep`.
///
/// # Safety
/// Only for a child right after `fork`: it closes descriptors other code
/// may think it owns.
unsafe fn close_all_but(keep: libc::c_int) {
    for i in 0..3 {
        if i != keep {
            libc::close(i);
        }
    }
    // close_range(2) (5.9+) for the rest; a plain loop on older kernels,
    // where it fails with ENOSYS.
    let below = if keep > 3 { libc::syscall(libc::SYS_close_range, 3u32, (keep as u32) - 1, 0u32) } else { 0 };
    let above = libc::syscall(libc::SYS_close_range, keep.max(2) as u32 + 1, u32::MAX, 0u32);
    if below != 0 || above != 0 {
        for i in 3..4096 {
            if i != keep {
                libc::close(i);
            }
        }
    }
}

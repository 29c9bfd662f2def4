//! Network namespaces: create, open, delete, and do work inside one.
//!
//! `setns(2)` moves only the calling thread, and a netlink, AF_PACKET socket
//! or `/proc/sys/net` file stays bound to the namespace of the thread that
//! created or opened it. floatip uses that: it enters a namespace only for
//! the one system call that creates such an object (`Netns::enter`, a
//! guard that restores the thread's namespace on drop), so every later use
//! of the object lands in the right namespace whatever thread makes it.
//! Nothing forks: Python callers are threaded.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::name::validate_netns_name;
use crate::sys;

/// Where `ip netns add` keeps named namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// The calling thread's own network namespace.
const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// An open network namespace: a file descriptor that keeps it alive, and the
/// name or path it was opened by (for messages).
///
/// ```no_run
/// use floatip::Netns;
/// # fn main() -> floatip::Result<()> {
/// let pod = Netns::create("pod1")?;              // ip netns add pod1
/// let same = Netns::open("pod1")?;               // /run/netns/pod1
/// assert!(pod.same_as(&same)?);
/// let from_cni = Netns::open_path("/run/netns/pod1")?; // as CNI_NETNS gives it
/// let ifaces = pod.run(|| std::fs::read_to_string("/proc/net/dev"))?;
/// Netns::delete("pod1")?;                        // ip netns del pod1
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Netns {
    fd: OwnedFd,
    name: Option<String>,
    path: PathBuf,
}

impl Netns {
    /// The calling thread's current network namespace
    /// (`/proc/thread-self/ns/net`).
    pub fn current() -> Result<Netns> {
        Self::open_checked(Path::new(THREAD_NETNS), None)
    }

    /// Opens a named namespace, as `ip netns exec NAME` finds it:
    /// `/run/netns/NAME`.
    pub fn open(name: &str) -> Result<Netns> {
        validate_netns_name(name)?;
        Self::open_checked(&Path::new(NETNS_RUN_DIR).join(name), Some(name.to_owned()))
    }

    /// Opens a namespace by path: `/var/run/netns/X`, `/proc/PID/ns/net` as
    /// a CNI runtime passes it in `CNI_NETNS`. The path must really be a
    /// network namespace (checked with the `NS_GET_NSTYPE` ioctl), or the
    /// call fails with [`ErrorKind::InvalidInput`](crate::ErrorKind).
    pub fn open_path(path: impl AsRef<Path>) -> Result<Netns> {
        let path = path.as_ref();
        let name = match (path.parent(), path.file_name()) {
            (Some(dir), Some(f)) if dir == Path::new(NETNS_RUN_DIR) || dir == Path::new("/var/run/netns") => {
                f.to_str().map(str::to_owned)
            }
            _ => None,
        };
        Self::open_checked(path, name)
    }

    fn open_checked(path: &Path, name: Option<String>) -> Result<Netns> {
        let file = File::open(path).map_err(|e| Error::io("open netns", path.display().to_string(), e))?;
        let fd = OwnedFd::from(file);
        match sys::ns_get_type(fd.as_fd()) {
            Ok(t) if t == libc::CLONE_NEWNET => Ok(Netns { fd, name, path: path.to_owned() }),
            Ok(_) => Err(Error::invalid("netns path", path.display(), "a namespace, but not a network namespace")),
            // A namespace file whose type the kernel cannot tell: the ioctl
            // is older than this kernel (NS_GET_NSTYPE came in Linux 4.11).
            Err(e) if sys::is_nsfs(fd.as_fd()).unwrap_or(false) => {
                Err(Error::io("ioctl(NS_GET_NSTYPE, Linux 4.11+)", path.display().to_string(), e))
            }
            // An empty file that nothing is mounted on: what a create that
            // was killed between making the file and mounting the
            // namespace leaves. No namespace is there: NotFound, so that
            // detach and check treat it as missing and create reuses it.
            Err(_) if is_unmounted_placeholder(&fd) => Err(Error::io(
                "open netns",
                format!("{} (an empty file left by an interrupted create, no namespace mounted)", path.display()),
                io::Error::from_raw_os_error(libc::ENOENT),
            )),
            Err(_) => Err(Error::invalid("netns path", path.display(), "not a namespace file")),
        }
    }

    /// Creates a named namespace the way `ip netns add NAME` does
    /// (iproute2 `ip/ipnetns.c`): makes `/run/netns` a shared bind mount of
    /// itself (once), creates the empty file `/run/netns/NAME`, gives the
    /// calling thread a fresh namespace with `unshare(CLONE_NEWNET)`, bind
    /// mounts that thread's namespace onto the file, and moves the thread
    /// back. The namespace then lives as long as the mount (or any fd or
    /// process inside it). Fails with `AlreadyExists` if the name is taken.
    pub fn create(name: &str) -> Result<Netns> {
        Self::create_then(name, None, |_| Ok(())).map(|(ns, ())| ns)
    }

    /// [`Netns::create`], returning the thread to `home` (opened by the
    /// caller with [`Netns::current`]), and running `inside` while the
    /// thread is in the new namespace (with the namespace's description
    /// for messages): a netlink handle opened there needs no second visit.
    /// A failure of `inside` undoes the create.
    pub(crate) fn create_then<T>(
        name: &str,
        home: Option<&Netns>,
        inside: impl FnOnce(String) -> Result<T>,
    ) -> Result<(Netns, T)> {
        validate_netns_name(name)?;
        let run_dir = Path::new(NETNS_RUN_DIR);
        ensure_shared_run_dir(run_dir)?;
        let path = run_dir.join(name);
        let object = || format!("netns {name}");
        // O_EXCL: never take over somebody else's namespace file, except
        // the empty placeholder a killed create left (nothing mounted on
        // it): that one is reused, as `ip netns add` would fail on it
        // forever otherwise.
        match OpenOptions::new().read(true).write(true).create_new(true).mode(0o000).open(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && placeholder_at(&path) => {}
            Err(e) => return Err(Error::io("create netns", object(), e)),
        }
        let mut mounted_ok = false;
        let made = (|| {
            let opened;
            let back = match home {
                Some(h) => h.fd.as_fd(),
                None => {
                    opened = Netns::current()?;
                    opened.fd.as_fd()
                }
            };
            sys::unshare_net().map_err(|e| Error::io("unshare(CLONE_NEWNET)", object(), e))?;
            let mounted = sys::bind_mount(Path::new(THREAD_NETNS), &path);
            mounted_ok = mounted.is_ok();
            // The thread's own namespace file, while it is inside: the new
            // namespace for sure, no type check and no walk of the mount.
            let fd = match &mounted {
                Ok(()) => Some(File::open(THREAD_NETNS).map(OwnedFd::from)),
                Err(_) => None,
            };
            let made_inside = mounted.is_ok().then(|| inside(object()));
            // Return to the original namespace before anything else can run on
            // this thread; failing to do so would leave the caller's thread
            // in the new namespace.
            restore_or_abort(back);
            mounted.map_err(|e| Error::io("bind mount netns", object(), e))?;
            let fd = fd.expect("opened when mounted").map_err(|e| Error::io("open netns", object(), e))?;
            Ok((fd, made_inside.expect("run when mounted")?))
        })();
        match made {
            Ok((fd, h)) => Ok((Netns { fd, name: Some(name.to_owned()), path }, h)),
            Err(e) => {
                if mounted_ok {
                    let _ = sys::umount_detach(&path);
                }
                let _ = fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Deletes a named namespace as `ip netns del NAME` does: lazy unmount of
    /// `/run/netns/NAME`, then unlink. The namespace itself goes away when the
    /// last fd or process inside it does. `NotFound` if there is no such name.
    pub fn delete(name: &str) -> Result<()> {
        validate_netns_name(name)?;
        let path = Path::new(NETNS_RUN_DIR).join(name);
        let object = format!("netns {name}");
        if let Err(e) = sys::umount_detach(&path) {
            // EINVAL: the file exists but is not mounted (a half-created
            // namespace); unlink it all the same.
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(Error::io("umount netns", object, e));
            }
        }
        fs::remove_file(&path).map_err(|e| Error::io("delete netns", object, e))
    }

    /// The names under `/run/netns`, as `ip netns list` shows them.
    pub fn list() -> Result<Vec<String>> {
        let dir = match fs::read_dir(NETNS_RUN_DIR) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list netns", NETNS_RUN_DIR, e)),
        };
        let mut names: Vec<String> =
            dir.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).collect();
        names.sort();
        Ok(names)
    }

    /// The name, when opened or created by name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A short description for messages: `netns NAME` or `netns PATH`.
    pub fn describe(&self) -> String {
        match &self.name {
            Some(n) => format!("netns {n}"),
            None => format!("netns {}", self.path.display()),
        }
    }

    /// True when both handles refer to the same namespace (same nsfs inode).
    pub fn same_as(&self, other: &Netns) -> Result<bool> {
        Ok(self.ino()? == other.ino()?)
    }

    /// The namespace's inode number in nsfs: equal for two handles to the
    /// same namespace, and what `/proc/PID/ns/net` shows as `net:[N]`.
    pub fn inode(&self) -> Result<u64> {
        Ok(self.ino()?.1)
    }

    fn ino(&self) -> Result<(u64, u64)> {
        sys::fstat_dev_ino(self.fd.as_fd()).map_err(|e| Error::io("fstat netns", self.describe(), e))
    }

    /// Another handle to the same namespace.
    pub fn try_clone(&self) -> Result<Netns> {
        let fd = self.fd.try_clone().map_err(|e| Error::io("dup netns fd", self.describe(), e))?;
        Ok(Netns { fd, name: self.name.clone(), path: self.path.clone() })
    }

    /// Runs `f` on a short-lived helper thread that has entered this
    /// namespace; the caller's thread never changes namespace. A panic in
    /// `f` is propagated to the caller.
    pub fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        std::thread::scope(|s| {
            let h = s.spawn(|| -> Result<T> {
                sys::setns_net(self.fd.as_fd()).map_err(|e| Error::io("setns", self.describe(), e))?;
                Ok(f())
            });
            match h.join() {
                Ok(r) => r,
                Err(p) => std::panic::resume_unwind(p),
            }
        })
    }

    /// Moves the calling thread into this namespace until the guard drops.
    /// Used to create sockets and open `/proc/sys` files that must belong to
    /// this namespace; keep the guard for one such call only.
    pub(crate) fn enter(&self) -> Result<NetnsGuard<'static>> {
        let back = File::open(THREAD_NETNS).map_err(|e| Error::io("open netns", THREAD_NETNS, e))?;
        sys::setns_net(self.fd.as_fd()).map_err(|e| Error::io("setns", self.describe(), e))?;
        Ok(NetnsGuard { back: Back::Owned(OwnedFd::from(back)) })
    }

    /// Like [`Netns::enter`], returning to `home` (which the caller opened
    /// with [`Netns::current`] on this thread): for a sequence of short
    /// visits, it saves opening `/proc/thread-self/ns/net` each time.
    pub(crate) fn enter_from<'h>(&self, home: Option<&'h Netns>) -> Result<NetnsGuard<'h>> {
        let Some(home) = home else { return self.enter() };
        sys::setns_net(self.fd.as_fd()).map_err(|e| Error::io("setns", self.describe(), e))?;
        Ok(NetnsGuard { back: Back::Home(home.fd.as_fd()) })
    }
}

/// The inode number of the calling thread's network namespace, read from
/// the `net:[N]` link `/proc/thread-self/ns/net` (a readlink: about half
/// the cost of opening it, and no file descriptor).
pub(crate) fn current_inode() -> Result<u64> {
    let link = fs::read_link(THREAD_NETNS).map_err(|e| Error::io("readlink", THREAD_NETNS, e))?;
    link.to_str()
        .and_then(|s| s.strip_prefix("net:["))
        .and_then(|s| s.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::invalid("netns link", link.display(), "not of the form net:[N]"))
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Netns {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Returns the thread to its original namespace when dropped.
pub(crate) struct NetnsGuard<'h> {
    back: Back<'h>,
}

enum Back<'h> {
    /// The thread's namespace, opened on entry.
    Owned(OwnedFd),
    /// A namespace the caller holds open for a series of visits.
    Home(BorrowedFd<'h>),
}

impl Drop for NetnsGuard<'_> {
    fn drop(&mut self) {
        match &self.back {
            Back::Owned(fd) => restore_or_abort(fd.as_fd()),
            Back::Home(fd) => restore_or_abort(*fd),
        }
    }
}

/// setns back to `fd`. This cannot fail for a namespace fd we hold open; if
/// it ever did, the thread would keep running in a foreign namespace and send
/// its next packets or writes there. Aborting is the only safe answer.
fn restore_or_abort(fd: BorrowedFd<'_>) {
    if let Err(e) = sys::setns_net(fd) {
        eprintln!("floatip: cannot return thread to its network namespace: {e}; aborting");
        std::process::abort();
    }
}

/// An empty regular file that is not a namespace: a placeholder under
/// `/run/netns` whose bind mount never happened.
fn is_unmounted_placeholder(f: &OwnedFd) -> bool {
    // nsfs files are empty regular files too: not on nsfs, then.
    if sys::is_nsfs(f.as_fd()).unwrap_or(true) {
        return false;
    }
    let Ok(dup) = f.try_clone() else { return false };
    File::from(dup).metadata().is_ok_and(|m| m.is_file() && m.len() == 0)
}

fn placeholder_at(path: &Path) -> bool {
    match File::open(path) {
        Ok(f) => {
            let fd = OwnedFd::from(f);
            sys::ns_get_type(fd.as_fd()).is_err() && is_unmounted_placeholder(&fd)
        }
        Err(_) => false,
    }
}

/// Makes `/run/netns` a mount point with shared propagation, so that
/// namespace bind mounts made under it are seen by every mount namespace
/// (what `ip netns add` does).
fn ensure_shared_run_dir(dir: &Path) -> Result<()> {
    // Once per process is enough: it stays a shared mount point.
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    make_shared_run_dir(dir)?;
    DONE.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

fn make_shared_run_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io("create", dir.display().to_string(), e))?;
    let shared = libc::MS_SHARED | libc::MS_REC;
    match sys::set_propagation(dir, shared) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            // Not a mount point yet: bind it onto itself, then make it shared.
            sys::bind_mount(dir, dir)
                .and_then(|()| sys::set_propagation(dir, shared))
                .map_err(|e| Error::io("mount", dir.display().to_string(), e))
        }
        Err(e) => Err(Error::io("mount", dir.display().to_string(), e)),
    }
}

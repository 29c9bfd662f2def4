//! The comparison's lab: a host namespace with an uplink into a sink, the
//! pods' names and addresses, threads that live inside a namespace, and the
//! cleanup that runs on every way out (normal end, error, panic, Ctrl-C).
//!
//! Nothing here touches the root namespace's interfaces: the host side is a
//! namespace (`fipbench-<pid>-<n>-host`), its uplink `up0` is a veth whose
//! other end `sw0` sits in a sink namespace that plays the LAN gateway.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use floatip::{AddrOptions, IfName, Mac, Netns, VethSpec};
use netlab::TestNs;

/// Prefix of every namespace this harness creates; `tests/scripts/sweep-netns.sh`
/// deletes leftovers with it.
pub const PREFIX: &str = "fipbench";
/// The host's uplink.
pub const UPLINK: &str = "up0";
/// Its address on the LAN.
pub const HOST_ADDR: &str = "10.0.0.2/16";
/// The LAN gateway (in the sink namespace).
pub const GATEWAY: &str = "10.0.0.1";
/// Prefix length of the LAN the floating IPs belong to.
pub const PREFIX_LEN: u8 = 16;
/// The uplink's MAC, fixed so that dumps of different runs read alike.
pub const UPLINK_MAC: Mac = Mac([2, 0, 0, 0, 0x0a, 1]);
/// The floating subnet (the LAN), as the uplink's policy table routes it.
pub const SUBNET: &str = "10.0.0.0/16";
/// The first of the three rule priorities of a pod (floatip's default).
pub const RULE_PRIORITY: u32 = floatip::DEFAULT_RULE_PRIORITY;
/// Rules, table routes, host routes and proxy entries carry floatip's
/// protocol (its owner mark), whoever adds them.
pub const PROTO: u8 = floatip::floating::mark::DEFAULT_PROTOCOL;

/// The uplink's policy routing table T, shared by every pod:
/// `floatip::default_table("up0")`.
pub fn table() -> u32 {
    floatip::default_table(&IfName::new(UPLINK).expect("valid"))
}

/// The text of the three rules of one pod, as `ip rule` words after `add`
/// or `del` (floatip's, in its order): the pod's source keeps what the
/// main table routes specifically, the rest by table T, and anything else
/// the pod sends is dropped.
pub fn rule_words(pod: &Pod) -> [String; 3] {
    let (p, ip, vh, t) = (RULE_PRIORITY, pod.ip, &pod.host_if, table());
    [
        format!("priority {p} from {ip} iif {vh} lookup main suppress_prefixlength 0 proto {PROTO}"),
        format!("priority {} from {ip} iif {vh} lookup {t} proto {PROTO}", p + 1),
        format!("priority {} from all iif {vh} blackhole proto {PROTO}", p + 2),
    ]
}

/// The alias every method gives the host veth: about the length of
/// floatip's owner mark for this pod (a typical inode; its rule plan and
/// gateway included; ~20 bytes longer, as it names the pod namespace where
/// floatip's names `bench/vh<k>`), so that every method sends a like request. Not a mark
/// itself (`fipbench/1`, not `floatip/1`): the harness's `reset` detaches
/// every method's pods with floatip, which removes an unmarked veth paired
/// with the pod's `eth0`, but never one whose mark names another
/// attachment.
pub fn alias(pod: &Pod) -> String {
    format!(
        "fipbench/1 id={0} ns=4026532999 lan={UPLINK} ip={1} table={2} prio={RULE_PRIORITY} spoof=drop gw={GATEWAY}/{PREFIX_LEN} pod={0}",
        pod.netns,
        pod.ip,
        table()
    )
}

/// Table T's two routes, as `ip route` words after `add`, `replace` or
/// `del`: the subnet on the uplink and the default via the gateway.
pub fn table_route_words() -> [String; 2] {
    let t = table();
    [
        format!("{SUBNET} dev {UPLINK} table {t} proto {PROTO} scope link"),
        format!("default via {GATEWAY} dev {UPLINK} table {t} proto {PROTO}"),
    ]
}

/// Gives this process a mount namespace of its own with a tmpfs on
/// `/run/netns`, before any thread starts (`unshare(CLONE_NEWNS)` refuses a
/// multi-threaded caller).
///
/// Why: on a node `/run` is a tmpfs, but on this machine it is part of the
/// root ext4 file system, and there creating the empty file each named
/// namespace is bound to (what `ip netns add` does) slows from ~60 µs to
/// ~1.4 ms as namespaces are created and deleted by the thousand (ext4's
/// inode allocator skips recently deleted inodes, `recently_deleted()` in
/// `fs/ext4/ialloc.c`): a cost of this machine's file system, not of any
/// method, that would swamp the comparison. As a side effect the names are
/// visible only inside this process and its children (other tests neither
/// see them nor sweep them), and everything vanishes with the process even
/// when it is killed. Mounts are made slaves of the host's first, so
/// nothing done here propagates back.
pub fn private_run_netns() -> Result<(), String> {
    let err = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    std::fs::create_dir_all("/run/netns").map_err(|e| format!("mkdir /run/netns: {e}"))?;
    // SAFETY: plain system calls with NUL-terminated constant strings; the
    // process is still single-threaded.
    #[allow(unsafe_code)]
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(err("unshare(CLONE_NEWNS)"));
        }
        if libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_SLAVE | libc::MS_REC,
            std::ptr::null(),
        ) != 0
        {
            return Err(err("make / a slave mount"));
        }
        if libc::mount(
            c"fipbench".as_ptr(),
            c"/run/netns".as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            c"mode=0755".as_ptr().cast(),
        ) != 0
        {
            return Err(err("mount a tmpfs on /run/netns"));
        }
    }
    Ok(())
}

/// Set by SIGINT/SIGTERM; every loop checks it between pods.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Turns SIGINT and SIGTERM into a flag, so that a Ctrl-C ends the run
/// between two pods and the namespaces are deleted on the way out.
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_signal` only stores to an atomic, which is
        // async-signal-safe; the sigaction struct is zeroed plain data.
        #[allow(unsafe_code)]
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// `Err(FAILURE)`, said after `prog: `, when the process is not root (the
/// harnesses create network namespaces).
pub fn require_root(prog: &str) -> Result<(), ExitCode> {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("{prog}: needs root (it creates network namespaces)");
        return Err(ExitCode::FAILURE);
    }
    Ok(())
}

/// How every harness starts: its `parsed` arguments (when they are wrong,
/// the error after `prog: ` and exit status 2), then a private `/run/netns`
/// unless they ask for the machine's (`shared_run_netns`), then the signal
/// handlers.
pub fn start<A>(
    prog: &str,
    parsed: Result<A, String>,
    shared_run_netns: impl FnOnce(&A) -> bool,
) -> Result<A, ExitCode> {
    let a = parsed.map_err(|e| {
        eprintln!("{prog}: {e}");
        ExitCode::from(2)
    })?;
    if !shared_run_netns(&a) {
        private_run_netns().map_err(|e| {
            eprintln!("{prog}: {e}");
            ExitCode::FAILURE
        })?;
    }
    install_signal_handlers();
    Ok(a)
}

/// `Err` once a signal asked the run to stop.
pub fn check_stop() -> Result<(), String> {
    if STOP.load(Ordering::SeqCst) {
        Err("interrupted by a signal".into())
    } else {
        Ok(())
    }
}

/// One pod: its number, namespace, host-side veth and floating IP.
#[derive(Debug, Clone)]
pub struct Pod {
    /// 0-based pod number.
    pub k: usize,
    /// Its namespace name, `fipbench-<pid>-<k>-pod`.
    pub netns: String,
    /// Host-side veth, `vh<k>`.
    pub host_if: String,
    /// The floating IP (in 10.0.0.0/16, from 10.0.1.1 on).
    pub ip: Ipv4Addr,
}

impl Pod {
    /// The pod number `k` of this process.
    pub fn new(k: usize) -> Pod {
        let ip = Ipv4Addr::new(10, 0, 1 + (k / 250) as u8, 1 + (k % 250) as u8);
        assert!(k < 250 * 200, "pod number out of range");
        Pod { k, netns: format!("{PREFIX}-{}-{k}-pod", std::process::id()), host_if: format!("vh{k}"), ip }
    }

    /// `10.0.x.y/16`.
    pub fn cidr(&self) -> String {
        format!("{}/{PREFIX_LEN}", self.ip)
    }
}

/// The pods `0..n`.
pub fn pods(n: usize) -> Vec<Pod> {
    (0..n).map(Pod::new).collect()
}

/// Deletes every pod namespace of this process that is still there
/// (`fipbench-<pid>-*-pod`), as `ip netns del` would.
pub fn delete_pod_namespaces() -> usize {
    let mine = format!("{PREFIX}-{}-", std::process::id());
    let mut n = 0;
    for name in Netns::list().unwrap_or_default() {
        if name.starts_with(&mine) && name.ends_with("-pod") && Netns::delete(&name).is_ok() {
            n += 1;
        }
    }
    n
}

/// The host and the sink. Dropping it deletes both namespaces (and with
/// them the uplink and every host-side veth still there) and any pod
/// namespace of this process.
pub struct Lab {
    /// The sink: `sw0` holding the gateway address.
    pub sink: TestNs,
    /// The host (node) namespace: `up0` with 10.0.0.2/16.
    pub host: TestNs,
}

impl Lab {
    /// Builds the host and sink namespaces and the uplink between them.
    pub fn new() -> Lab {
        let sink = TestNs::with_prefix(PREFIX, "sink");
        let host = TestNs::with_prefix(PREFIX, "host");
        let h = host.handle();
        let mut v = VethSpec::new(IfName::new(UPLINK).unwrap(), IfName::new("sw0").unwrap());
        v.mac = Some(UPLINK_MAC);
        v.peer_mac = Some(Mac([2, 0, 0, 0, 1, 1]));
        v.peer_netns = Some(&sink.ns);
        h.veth_add(&v).expect("uplink veth");
        let up = h.link_get(UPLINK).unwrap().index;
        h.addr_add(up, HOST_ADDR.parse().unwrap(), AddrOptions::default()).unwrap();
        h.link_set_up(up).unwrap();
        h.link_set_up(1).unwrap();
        let s = sink.handle();
        let sw = s.link_get("sw0").unwrap().index;
        s.addr_add(sw, format!("{GATEWAY}/{PREFIX_LEN}").parse().unwrap(), AddrOptions::default()).unwrap();
        s.link_set_up(sw).unwrap();
        s.link_set_up(1).unwrap();
        Lab { sink, host }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let n = delete_pod_namespaces();
        if n > 0 {
            eprintln!("compare: deleted {n} pod namespaces left by an unfinished phase");
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// A thread that lives inside one namespace for its whole life and runs
/// the jobs it is given. Processes spawned from it start in that namespace
/// (a child inherits the network namespace of the thread that forks it),
/// which is how a node agent or CNI plugin running on the host starts `ip`.
pub struct NsThread {
    tx: Option<mpsc::Sender<Job>>,
    handle: Option<JoinHandle<()>>,
}

impl NsThread {
    /// Starts the thread and moves it into `ns`.
    pub fn new(ns: &Netns) -> NsThread {
        let fd = ns.try_clone().expect("dup netns fd");
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let handle = std::thread::spawn(move || {
            // SAFETY: setns takes an fd we own for the call and a flag.
            #[allow(unsafe_code)]
            let r = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            let ok = r == 0;
            let _ = ready_tx.send(if ok { Ok(()) } else { Err(std::io::Error::last_os_error()) });
            drop(fd);
            if !ok {
                return;
            }
            for job in rx {
                job();
            }
        });
        ready_rx.recv().expect("ns thread started").expect("setns into the lab namespace");
        NsThread { tx: Some(tx), handle: Some(handle) }
    }

    /// Runs `f` on the thread and returns its result.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (rtx, rrx) = mpsc::channel();
        self.tx
            .as_ref()
            .expect("running")
            .send(Box::new(move || {
                let _ = rtx.send(f());
            }))
            .expect("ns thread alive");
        match rrx.recv() {
            Ok(v) => v,
            Err(_) => panic!("a job on the namespace thread panicked"),
        }
    }
}

impl Drop for NsThread {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Busy and total jiffies of all CPUs, from `/proc/stat`.
pub fn cpu_jiffies() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = s.lines().next().unwrap_or("");
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// Network namespaces the kernel still holds, live or dying: the active
/// objects of the `net_namespace` slab cache.
fn netns_objects() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/slabinfo").ok()?;
    s.lines().find(|l| l.starts_with("net_namespace ")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
}

/// What [`settle`] saw.
#[derive(Debug, Clone, Copy)]
pub struct Settled {
    /// Wall time until the machine was idle.
    pub waited: Duration,
    /// CPU time (all cores) spent meanwhile, mostly the kernel's deferred
    /// work: namespace cleanup (`cleanup_net`), RCU callbacks.
    pub busy: Duration,
}

/// Waits until the kernel has finished the work a previous phase left
/// behind: it destroys deleted namespaces in the background (`cleanup_net`
/// on a workqueue, taking the RTNL lock that every request needs), and that
/// must not land in the next method's numbers. Done means: under 5% of all
/// CPUs busy for 100 ms and the count of network namespaces the kernel
/// holds (`net_namespace` objects in `/proc/slabinfo`) no longer falling.
/// Gives up after `max`.
pub fn settle(max: Duration) -> Settled {
    let t0 = Instant::now();
    let (b0, _) = cpu_jiffies();
    let mut objs = netns_objects();
    loop {
        let (b1, t1) = cpu_jiffies();
        std::thread::sleep(Duration::from_millis(100));
        let (b2, t2) = cpu_jiffies();
        let now = netns_objects();
        let busy = (b2 - b1) as f64 / (t2 - t1).max(1) as f64;
        let falling = matches!((objs, now), (Some(a), Some(b)) if b < a);
        objs = now;
        if (busy < 0.05 && !falling) || t0.elapsed() > max {
            let (b3, _) = cpu_jiffies();
            return Settled {
                waited: t0.elapsed(),
                // /proc/stat counts in USER_HZ ticks: 100 per second.
                busy: Duration::from_millis((b3 - b0) * 10),
            };
        }
    }
}

//! `compare churn`: pod churn side by side (the project's issue 16), and
//! the detach latency of a kept `Host`, tombstone against synchronous.
//!
//! ```text
//! compare churn [--workers 2,4] [--pods-per-worker P] [--reps R]
//!               [--detach-pods N] [--detach-reps D] [--methods a,b,...]
//!               [--cni-plugin PATH] [--ptp PATH] [--cni-announce]
//!               [--reap-pace DELAY_MS,BATCH]
//!               [--floatip-python PY] [--worker worker.py] [--out DIR]
//!               [--smoke] [--strict] [--shared-run-netns]
//! ```
//!
//! **Churn.** W workers (each `--workers` value in turn) on one host
//! namespace each loop over P pods: create the pod namespace
//! (`floatip::Netns::create`, what `ip netns add` does, the same call for
//! every method), wire the pod (10.0.x.y/16, gateway 10.0.0.1, the uplink
//! `up0` holding 10.0.0.2/16), unwire it, delete the namespace
//! (`Netns::delete`). Methods:
//! - `ptp`: the reference CNI plugin, a process per verb (ADD, then DEL
//!   with ADD's result as prevResult), static IPAM found through CNI_PATH;
//! - `floatip-cni`: the same with floatip's plugin (`"announce": false`
//!   unless `--cni-announce`, which asks for one round);
//! - `floatip`: W threads sharing one kept Rust `Host` (`host.attach`,
//!   `host.detach`, spec with `no_announce()`);
//! - `floatip-py`: W Python threads sharing one kept `floatip.Host`
//!   (`worker.py`'s `churn` request);
//! - `floatip-sync`: a control, `floatip` with `host.detach_sync` (the
//!   veth deleted before the detach returns, as before tombstones);
//! - `netns`: a control, the namespace's creation and deletion alone (no
//!   wiring): what they cost the workers (the kernel destroys a deleted
//!   namespace later, in the background).
//!
//! pods/s = W × P over the wall time from the workers' common start until
//! every worker is done *and* the teardown it left is finished: for
//! `floatip` and `floatip-py` `host.flush()` (the reaper has deleted every
//! tombstone), for `floatip-cni` the exit of the forked children that
//! delete its tombstones (this process is their subreaper). The rate at
//! the moment the last worker finished is reported too. Repetitions
//! interleave the methods, each starting with another one. The attach and
//! detach latency of every pod is kept (an exec's wall time for the
//! plugins, the verb's for the libraries, spec building included).
//!
//! After every run the host must be as before: no pod namespace of this
//! process left, no tombstone (`ip -j link show group TOMBSTONE_GROUP`),
//! the host's link list the initial one, no rule of floatip's or with an
//! `iif`, no route in table T, no proxy entry.
//!
//! **Detach latency.** N pods attached on the host with the kept Rust
//! `Host` (untimed), then detached one by one by one thread, with
//! `host.detach` (tombstone; then `host.flush()`, timed on its own) or
//! with `host.detach_sync`, and each pod namespace deleted right after its
//! detach (as a runtime does after DEL: the kernel's cleanup of the
//! namespace then deletes the veth pair too, in the background) or all of
//! them at the end (only the reaper deletes the tombstones): four kinds of
//! pass, each repetition in another order. `--reap-pace` sets the Rust
//! `Host`'s reaper pace (`Host::with_reap_pace`; the Python binding has
//! the default).
//!
//! A thread in the host namespace records the kernel's `RTM_DELLINK`
//! notifications: the tombstones deleted during each run, in batches
//! (notifications less than 2 ms apart), whoever deleted them (the reaper,
//! floatip-cni's child, or a deleted namespace's cleanup).
//!
//! Results: `DIR/churn.json` and a table on stdout. Exit status 1 when a
//! method failed or a check after a run found something left; with
//! `--strict` also when a target of the issue was missed.

use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use floatip::floating::{FloatingIp, TOMBSTONE_GROUP};
use floatip::{Host, Netns};
use floatip_benches::harness::{self, median, repo_root, Argv, Stoppable};
use serde_json::{json, Value};

use crate::lab::{self, check_stop, settle, Lab, NsThread, GATEWAY, PREFIX, PREFIX_LEN, UPLINK};
use crate::methods::PyWorker;
use crate::us;

/// The churn methods, in table order.
const METHODS: &[&str] = &["ptp", "floatip-cni", "floatip", "floatip-py", "floatip-sync", "netns"];

#[derive(Clone)]
struct Args {
    workers: Vec<usize>,
    per_worker: usize,
    reps: usize,
    detach_pods: usize,
    detach_reps: usize,
    methods: Vec<String>,
    cni_plugin: PathBuf,
    ptp: PathBuf,
    cni_announce: bool,
    /// The Rust `Host`'s reaper pace, when not the default.
    reap_pace: Option<(Duration, usize)>,
    floatip_python: PathBuf,
    worker: PathBuf,
    out: PathBuf,
    smoke: bool,
    strict: bool,
    shared_run_netns: bool,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let root = repo_root();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let mut a = Args {
        workers: vec![2, 4],
        per_worker: 30,
        reps: 3,
        detach_pods: 200,
        detach_reps: 2,
        methods: METHODS.iter().map(|s| s.to_string()).collect(),
        cni_plugin: target.join("release/floatip-cni"),
        ptp: PathBuf::from("/usr/lib/cni/ptp"),
        cni_announce: false,
        reap_pace: None,
        floatip_python: root.join(".venv/bin/python"),
        worker: root.join("benches/compare/worker.py"),
        out: root.join("target/compare"),
        smoke: false,
        strict: false,
        shared_run_netns: false,
    };
    let (mut workers, mut per_worker, mut reps, mut detach_pods, mut detach_reps) = (None, None, None, None, None);
    let mut argv = Argv::new(args.iter().cloned());
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--workers" => {
                let v = argv.value(&arg)?;
                workers = Some(v.split(',').map(|w| harness::num(w, &arg)).collect::<Result<Vec<_>, _>>()?);
            }
            "--pods-per-worker" => per_worker = Some(argv.num(&arg)?),
            "--reps" => reps = Some(argv.num(&arg)?),
            "--detach-pods" => detach_pods = Some(argv.num(&arg)?),
            "--detach-reps" => detach_reps = Some(argv.num(&arg)?),
            "--methods" => {
                a.methods = argv.value(&arg)?.split(',').filter(|m| !m.is_empty()).map(str::to_owned).collect()
            }
            "--cni-plugin" => a.cni_plugin = argv.path(&arg)?,
            "--ptp" => a.ptp = argv.path(&arg)?,
            "--cni-announce" => a.cni_announce = true,
            "--reap-pace" => {
                let v = argv.value(&arg)?;
                let (ms, batch) = v.split_once(',').ok_or("--reap-pace: DELAY_MS,BATCH")?;
                a.reap_pace = Some((Duration::from_millis(harness::num(ms, &arg)? as u64), harness::num(batch, &arg)?));
            }
            "--floatip-python" => a.floatip_python = argv.path(&arg)?,
            "--worker" => a.worker = argv.path(&arg)?,
            "--out" => a.out = argv.path(&arg)?,
            "--smoke" => a.smoke = true,
            "--strict" => a.strict = true,
            "--shared-run-netns" => a.shared_run_netns = true,
            "-h" | "--help" => harness::help(include_str!("churn.rs")),
            other => return Err(format!("unknown argument {other} (see compare churn --help)")),
        }
    }
    a.workers = workers.unwrap_or(if a.smoke { vec![2] } else { vec![2, 4] });
    a.per_worker = per_worker.unwrap_or(if a.smoke { 3 } else { 30 });
    a.reps = reps.unwrap_or(if a.smoke { 1 } else { 3 });
    a.detach_pods = detach_pods.unwrap_or(if a.smoke { 5 } else { 200 });
    a.detach_reps = detach_reps.unwrap_or(if a.smoke { 1 } else { 2 });
    if a.workers.is_empty() || a.workers.contains(&0) || a.per_worker == 0 || a.reps == 0 {
        return Err("--workers, --pods-per-worker and --reps must be at least 1".into());
    }
    if a.workers.iter().max().copied().unwrap_or(0) * a.per_worker > 200 * 250 {
        return Err("too many pods for the address plan (10.0.20.1 on)".into());
    }
    for m in &a.methods {
        if !METHODS.contains(&m.as_str()) {
            return Err(format!("unknown churn method {m}; methods: {}", METHODS.join(",")));
        }
    }
    Ok(a)
}

/// One churn pod: number `k` of a run (worker w's i-th is `w * P + i`).
#[derive(Debug, Clone)]
struct ChurnPod {
    netns: String,
    host_if: String,
    ip: Ipv4Addr,
    /// CNI_CONTAINERID.
    id: String,
}

impl ChurnPod {
    fn new(k: usize) -> ChurnPod {
        ChurnPod {
            netns: format!("{PREFIX}-{}-c{k}-pod", std::process::id()),
            host_if: format!("vc{k}"),
            ip: Ipv4Addr::new(10, 0, 20 + (k / 250) as u8, 1 + (k % 250) as u8),
            id: format!("churn{k}"),
        }
    }

    fn cidr(&self) -> String {
        format!("{}/{PREFIX_LEN}", self.ip)
    }

    /// The floatip spec (the pod namespace made by the worker).
    fn spec(&self) -> floatip::Result<FloatingIp> {
        pod_spec("churn", &self.netns, self.cidr(), &self.host_if)
    }
}

/// The spec of a pod keyed `KIND/HOST_IF` whose namespace `netns` is made
/// by whoever attaches it (not by floatip), not announced: the churn
/// workers' and the detach passes'.
fn pod_spec(kind: &str, netns: &str, cidr: String, host_if: &str) -> floatip::Result<FloatingIp> {
    FloatingIp::builder(format!("{kind}/{host_if}"), UPLINK)
        .pod_netns_name(netns)
        .ipv4(cidr, GATEWAY)
        .host_ifname(host_if)
        .no_announce()
        .build()
}

/// The pods of a run, per worker.
fn plan(workers: usize, per_worker: usize) -> Vec<Vec<ChurnPod>> {
    (0..workers).map(|w| (0..per_worker).map(|i| ChurnPod::new(w * per_worker + i)).collect()).collect()
}

/// What one method's run measured.
struct Run {
    /// Start to every worker done and the teardown finished.
    wall: Duration,
    /// Start to the last worker done.
    workers_done: Duration,
    /// After the workers: `flush()`, or the forked reapers' exit.
    drain: Duration,
    attach_us: Vec<f64>,
    detach_us: Vec<f64>,
    /// The check after the run.
    check: Value,
    /// The tombstone deletions the kernel announced meanwhile.
    deletions: Value,
    /// The share of both CPUs busy during the run (`/proc/stat`; any
    /// other work on the machine included).
    cpu_busy: f64,
}

/// How the Rust-side workers wire a pod.
enum Wire<'a> {
    Cni {
        exe: &'a Path,
        kind: &'static str,
        announce: bool,
    },
    /// `sync`: `detach_sync` (the `floatip-sync` control).
    Lib {
        host: &'a Host,
        sync: bool,
    },
    /// No wiring: the `netns` control.
    Nothing,
}

/// A wired pod, for its unwiring.
enum Wired {
    /// ADD's result, DEL's prevResult.
    Cni(Value),
    Lib(Box<FloatingIp>),
    Nothing,
}

/// The network configuration of `kind` for pod `p`.
fn cni_conf(kind: &str, announce: bool, p: &ChurnPod) -> Value {
    let ipam = json!({"type": "static", "addresses": [{"address": p.cidr(), "gateway": GATEWAY}]});
    match kind {
        "ptp" => json!({"cniVersion": "1.0.0", "name": "churn", "type": "ptp", "ipMasq": false, "ipam": ipam}),
        _ => json!({
            "cniVersion": "1.0.0", "name": "churn", "type": "floatip-cni", "uplink": UPLINK,
            "announce": if announce { json!({"rounds": 1}) } else { json!(false) },
            "ipam": ipam,
        }),
    }
}

/// Runs the plugin as a runtime does; its stdout.
fn cni_exec(exe: &Path, verb: &str, p: &ChurnPod, conf: &Value) -> Result<String, String> {
    let mut child = Command::new(exe)
        .env("CNI_COMMAND", verb)
        .env("CNI_CONTAINERID", &p.id)
        .env("CNI_NETNS", format!("/run/netns/{}", p.netns))
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", exe.display()))?;
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(conf.to_string().as_bytes()).map_err(|e| format!("write to {}: {e}", exe.display()))?;
    drop(stdin);
    let out = child.wait_with_output().map_err(|e| format!("wait for {}: {e}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{} {verb} {}: {}: {} {}",
            exe.display(),
            p.id,
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(stdout)
}

impl Wire<'_> {
    fn attach(&self, p: &ChurnPod) -> Result<Wired, String> {
        match self {
            Wire::Nothing => Ok(Wired::Nothing),
            Wire::Cni { exe, kind, announce } => {
                let out = cni_exec(exe, "ADD", p, &cni_conf(kind, *announce, p))?;
                let res: Value = serde_json::from_str(&out).map_err(|e| format!("{kind} ADD {}: {e}: {out}", p.id))?;
                Ok(Wired::Cni(res))
            }
            Wire::Lib { host, .. } => {
                let spec = p.spec().map_err(|e| e.to_string())?;
                host.attach(&spec).map_err(|e| format!("attach {}: {e}", p.host_if))?;
                Ok(Wired::Lib(Box::new(spec)))
            }
        }
    }

    fn detach(&self, p: &ChurnPod, w: Wired) -> Result<(), String> {
        match (self, w) {
            (Wire::Cni { exe, kind, announce }, Wired::Cni(prev)) => {
                let mut conf = cni_conf(kind, *announce, p);
                conf["prevResult"] = prev;
                cni_exec(exe, "DEL", p, &conf).map(drop)
            }
            (Wire::Lib { host, sync }, Wired::Lib(spec)) => {
                if *sync { host.detach_sync(&spec) } else { host.detach(&spec) }
                    .map(drop)
                    .map_err(|e| format!("detach {}: {e}", p.host_if))
            }
            (Wire::Nothing, Wired::Nothing) => Ok(()),
            _ => unreachable!("a pod is unwired the way it was wired"),
        }
    }
}

/// Moves the calling thread into `ns` for good.
fn enter(ns: &Netns) -> Result<(), String> {
    // SAFETY: setns with an fd the caller keeps open for the call.
    #[allow(unsafe_code)]
    let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if r != 0 {
        return Err(format!("setns into the host namespace: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Per pod: (attach µs, detach µs).
type Times = Vec<(f64, f64)>;

/// W threads in the host namespace, each churning its pods with `wire`;
/// returns the times and the start and end of the run.
fn churn_threads(lab: &Lab, wire: &Wire<'_>, plan: &[Vec<ChurnPod>]) -> Result<(Times, Instant, Instant), String> {
    let barrier = Barrier::new(plan.len() + 1);
    let host_ns = &lab.host.ns;
    std::thread::scope(|s| {
        let handles: Vec<_> = plan
            .iter()
            .map(|pods| {
                let barrier = &barrier;
                s.spawn(move || -> Result<Times, String> {
                    let entered = enter(host_ns);
                    barrier.wait();
                    entered?;
                    let mut times = Vec::with_capacity(pods.len());
                    for p in pods {
                        check_stop()?;
                        Netns::create(&p.netns).map(drop).map_err(|e| format!("create {}: {e}", p.netns))?;
                        let t0 = Instant::now();
                        let w = wire.attach(p)?;
                        let t1 = Instant::now();
                        wire.detach(p, w)?;
                        let t2 = Instant::now();
                        Netns::delete(&p.netns).map_err(|e| format!("delete {}: {e}", p.netns))?;
                        times.push((us(t1 - t0), us(t2 - t1)));
                    }
                    Ok(times)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let mut all = Vec::new();
        let mut first_err = None;
        for h in handles {
            match h.join() {
                Ok(Ok(t)) => all.extend(t),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert("a churn worker panicked".into());
                }
            }
        }
        let end = Instant::now();
        match first_err {
            Some(e) => Err(e),
            None => Ok((all, start, end)),
        }
    })
}

/// Makes this process the subreaper of its descendants: the children
/// that `floatip-cni` forks to delete its tombstones outlive the plugin
/// and become this process's, so that the run can wait for them.
fn become_subreaper() -> Result<(), String> {
    // SAFETY: prctl with integer arguments.
    #[allow(unsafe_code)]
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if r != 0 {
        return Err(format!("prctl(PR_SET_CHILD_SUBREAPER): {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// This process's child processes (from `/proc/*/stat`), but `known`.
fn children(known: &[u32]) -> Vec<i32> {
    let me = std::process::id();
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if known.contains(&pid) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // pid (comm) state ppid ...: comm may hold spaces and parentheses.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(me) {
            v.push(pid as i32);
        }
    }
    v
}

/// Waits for (and reaps) every child but `known`: the plugin's forked
/// reapers. Returns how many there were.
fn wait_orphans(known: &[u32], max: Duration) -> Result<usize, String> {
    let t = Instant::now();
    let mut reaped = 0;
    loop {
        let left = children(known);
        if left.is_empty() {
            return Ok(reaped);
        }
        for pid in left {
            let mut status = 0;
            // SAFETY: waitpid on a child of ours, with an out parameter.
            #[allow(unsafe_code)]
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                reaped += 1;
            }
        }
        if t.elapsed() > max {
            return Err(format!("children still running {} s after the run", max.as_secs()));
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// `ip -j -n NS ARGS...`, parsed.
fn ip_json(netns: &str, args: &[&str]) -> Result<Vec<Value>, String> {
    let out = Command::new("ip").args(["-j", "-n", netns]).args(args).output().map_err(|e| format!("spawn ip: {e}"))?;
    if !out.status.success() {
        return Err(format!("ip -n {netns} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str(&text) {
        Ok(Value::Array(v)) => Ok(v),
        Ok(other) => Ok(vec![other]),
        Err(e) => Err(format!("ip -j -n {netns} {}: {e}: {text}", args.join(" "))),
    }
}

/// The host's links, by name, as `ip -j link show` reads them.
fn host_links(lab: &Lab) -> Result<Vec<String>, String> {
    let mut v: Vec<String> = ip_json(&lab.host.name, &["link", "show"])?
        .iter()
        .filter_map(|l| l.get("ifname").and_then(Value::as_str).map(str::to_owned))
        .collect();
    v.sort();
    Ok(v)
}

/// The tombstones on the host: `ip -j link show group TOMBSTONE_GROUP`
/// (iproute2 prints an empty object for each link outside the group).
fn tombstones(lab: &Lab) -> Result<Vec<String>, String> {
    Ok(ip_json(&lab.host.name, &["link", "show", "group", &TOMBSTONE_GROUP.to_string()])?
        .iter()
        .filter_map(|l| l.get("ifname").and_then(Value::as_str).map(str::to_owned))
        .collect())
}

/// Pod namespaces of this process still there.
fn pod_namespaces() -> Vec<String> {
    let mine = format!("{PREFIX}-{}-", std::process::id());
    Netns::list().unwrap_or_default().into_iter().filter(|n| n.starts_with(&mine) && n.ends_with("-pod")).collect()
}

/// The check after a run: nothing of it may be left. The kernel deletes
/// a deleted namespace's devices in the background, so the links get a
/// few seconds to come back to the initial list; how long they took is
/// reported.
fn check_after(lab: &Lab, initial: &[String], what: &str) -> Result<Value, String> {
    let t = Instant::now();
    let netns = pod_namespaces();
    if !netns.is_empty() {
        return Err(format!("{what}: {} pod namespaces left: {}", netns.len(), netns.join(" ")));
    }
    let (tombs, links) = loop {
        let (tombs, links) = (tombstones(lab)?, host_links(lab)?);
        if (tombs.is_empty() && links == initial) || t.elapsed() > Duration::from_secs(5) {
            break (tombs, links);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let waited = t.elapsed();
    if !tombs.is_empty() {
        return Err(format!("{what}: {} tombstones left: {}", tombs.len(), tombs.join(" ")));
    }
    if links != initial {
        return Err(format!("{what}: host links {links:?}, initially {initial:?}"));
    }
    crate::no_policy_left(lab).map_err(|e| format!("{what}: {e}"))?;
    let proxies = lab.host.handle().neigh_proxies(None).map_err(|e| e.to_string())?;
    if !proxies.is_empty() {
        return Err(format!("{what}: {} proxy entries left", proxies.len()));
    }
    Ok(json!({
        "pod_namespaces_left": 0,
        "tombstones_left": 0,
        "host_links": links,
        "links_back_after_ms": waited.as_secs_f64() * 1e3,
    }))
}

/// The methods that can run, started: the kept Rust `Host` (on a thread in
/// the host namespace, as an agent keeps it) and the Python worker.
struct Methods {
    host: Option<Arc<Host>>,
    py: Option<PyWorker>,
    skipped: Vec<(String, String)>,
    active: Vec<&'static str>,
}

fn start(a: &Args, lab: &Lab, agent: &NsThread) -> Result<Methods, String> {
    let mut m = Methods { host: None, py: None, skipped: Vec::new(), active: Vec::new() };
    for &name in METHODS {
        if !a.methods.iter().any(|x| x == name) {
            continue;
        }
        let skip = match name {
            "ptp" if !a.ptp.is_file() => {
                Some(format!("{} missing (tests/scripts/install-deps.sh installs it)", a.ptp.display()))
            }
            "floatip-cni" if !a.cni_plugin.is_file() => Some(format!(
                "{} missing (cargo build --release -p floatip --features cni --bin floatip-cni)",
                a.cni_plugin.display()
            )),
            "floatip-py" => match PyWorker::start(
                "floatip-py",
                &a.floatip_python,
                &a.worker,
                "floatip",
                &lab.host.name,
                Some(agent),
            ) {
                Ok(w) => {
                    m.py = Some(w);
                    None
                }
                Err(e) => Some(e),
            },
            _ => None,
        };
        match skip {
            Some(why) => {
                println!("{name}: skipped: {why}");
                m.skipped.push((name.into(), why));
            }
            None => m.active.push(name),
        }
    }
    if m.active.contains(&"floatip") || m.active.contains(&"floatip-sync") || a.detach_pods > 0 {
        let want = lab.host.ns.inode().map_err(|e| e.to_string())?;
        let pace = a.reap_pace;
        m.host = Some(agent.run(move || -> Result<Arc<Host>, String> {
            let mut host = Host::current().map_err(|e| e.to_string())?;
            if let Some((delay, batch)) = pace {
                host = host.with_reap_pace(delay, batch);
            }
            if host.netns().inode().map_err(|e| e.to_string())? != want {
                return Err("the agent thread is not in the lab's host namespace".into());
            }
            Ok(Arc::new(host))
        })?);
    }
    Ok(m)
}

/// One method's churn run with W workers.
fn churn_once(
    a: &Args,
    lab: &Lab,
    m: &mut Methods,
    mon: &DelMonitor,
    name: &str,
    w: usize,
    initial: &[String],
) -> Result<Run, String> {
    let plan = plan(w, a.per_worker);
    mon.take(&[]);
    let (b0, t0) = lab::cpu_jiffies();
    let known: Vec<u32> = m.py.as_ref().map(|p| p.pid()).into_iter().collect();
    let (times, wall, workers_done, drain) = match name {
        "ptp" | "floatip-cni" => {
            let (exe, kind) = if name == "ptp" { (a.ptp.as_path(), "ptp") } else { (a.cni_plugin.as_path(), name) };
            let kind: &'static str = if kind == "ptp" { "ptp" } else { "floatip-cni" };
            let wire = Wire::Cni { exe, kind, announce: a.cni_announce };
            let (times, start, end) = churn_threads(lab, &wire, &plan)?;
            wait_orphans(&known, Duration::from_secs(30))?;
            let quiet = Instant::now();
            (times, quiet - start, end - start, quiet - end)
        }
        "netns" => {
            let (times, start, end) = churn_threads(lab, &Wire::Nothing, &plan)?;
            (times, end - start, end - start, Duration::ZERO)
        }
        "floatip" | "floatip-sync" => {
            let host = m.host.as_ref().expect("started");
            let wire = Wire::Lib { host, sync: name == "floatip-sync" };
            let (times, start, end) = churn_threads(lab, &wire, &plan)?;
            host.flush().map_err(|e| format!("flush: {e}"))?;
            let flushed = Instant::now();
            (times, flushed - start, end - start, flushed - end)
        }
        "floatip-py" => {
            let py = m.py.as_mut().expect("started");
            let pods: Vec<Vec<Value>> = plan
                .iter()
                .map(|ps| {
                    ps.iter().map(|p| json!({"netns": p.netns, "host_if": p.host_if, "ip": p.ip.to_string()})).collect()
                })
                .collect();
            let r = py.request(json!({"op": "churn", "workers": pods, "prefixlen": PREFIX_LEN}))?;
            let ns = |k: &str| r.get(k).and_then(Value::as_u64).ok_or_else(|| format!("floatip-py churn: no {k}"));
            let list = |k: &str| -> Result<Vec<f64>, String> {
                r.get(k)
                    .and_then(Value::as_array)
                    .map(|v| v.iter().filter_map(Value::as_f64).map(|x| x / 1e3).collect())
                    .ok_or_else(|| format!("floatip-py churn: no {k}"))
            };
            let (att, det) = (list("attach_ns")?, list("detach_ns")?);
            let times = att.into_iter().zip(det).collect();
            let d = |x: u64| Duration::from_nanos(x);
            (times, d(ns("wall_ns")?), d(ns("done_ns")?), d(ns("flush_ns")?))
        }
        _ => unreachable!("checked in parse_args"),
    };
    let (b1, t1) = lab::cpu_jiffies();
    let cpu_busy = (b1 - b0) as f64 / (t1 - t0).max(1) as f64;
    let check = check_after(lab, initial, &format!("{name} churn, W={w}"))?;
    let deletions = mon.take(&[]);
    let (attach_us, detach_us) = times.into_iter().unzip();
    Ok(Run { wall, workers_done, drain, attach_us, detach_us, check, deletions, cpu_busy })
}

/// The `q` quantile (nearest rank) of `v`.
fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

/// The detach latency of the kept `Host`: `n` pods attached, then detached
/// one by one with `host.detach` (and a timed `flush`) or `detach_sync`.
/// `netns_each`: each pod namespace is deleted right after its detach, as
/// a runtime does after DEL (the kernel then destroys the namespace, and
/// the veth pair with it, in the background, taking the RTNL lock the
/// next detaches need); otherwise all of them after the pass and the
/// flush, so that only the reaper deletes the tombstones.
/// A detach pass's times (µs), when each detach started, and the flush
/// after it (µs).
type Timed = (Vec<f64>, Vec<Instant>, Option<f64>);

/// What the detach passes share.
struct DetachLab<'a> {
    lab: &'a Lab,
    agent: &'a NsThread,
    host: &'a Arc<Host>,
    mon: &'a DelMonitor,
    initial: &'a [String],
    settle_max: Duration,
}

fn detach_pass(d: &DetachLab<'_>, n: usize, tombstone: bool, netns_each: bool) -> Result<Value, String> {
    let (lab, agent, host, mon, initial) = (d.lab, d.agent, d.host, d.mon, d.initial);
    let pods = lab::pods(n);
    let specs: Vec<FloatingIp> = pods
        .iter()
        .map(|p| pod_spec("detach", &p.netns, p.cidr(), &p.host_if).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let (h, ps, sp) = (host.clone(), pods.clone(), specs.clone());
    agent.run(move || -> Result<(), String> {
        for (p, s) in ps.iter().zip(&sp) {
            check_stop()?;
            Netns::create(&p.netns).map(drop).map_err(|e| format!("create {}: {e}", p.netns))?;
            h.attach(s).map_err(|e| format!("attach {}: {e}", p.host_if))?;
        }
        Ok(())
    })?;
    settle(d.settle_max);
    mon.take(&[]);
    let h = host.clone();
    let (times, starts, flush) = agent.run(move || -> Result<Timed, String> {
        let mut v = Vec::with_capacity(pods.len());
        let mut starts = Vec::with_capacity(pods.len());
        let delete = |p: &lab::Pod| Netns::delete(&p.netns).map_err(|e| format!("delete {}: {e}", p.netns));
        for (p, s) in pods.iter().zip(&specs) {
            check_stop()?;
            let t = Instant::now();
            if tombstone { h.detach(s) } else { h.detach_sync(s) }.map_err(|e| format!("detach {}: {e}", p.host_if))?;
            v.push(us(t.elapsed()));
            starts.push(t);
            if netns_each {
                delete(p)?;
            }
        }
        let flush = match tombstone {
            true => {
                let t = Instant::now();
                h.flush().map_err(|e| format!("flush: {e}"))?;
                Some(us(t.elapsed()))
            }
            false => None,
        };
        if !netns_each {
            pods.iter().try_for_each(delete)?;
        }
        Ok((v, starts, flush))
    })?;
    let what = format!(
        "{} ({})",
        if tombstone { "detach" } else { "detach_sync" },
        if netns_each { "netns del after each" } else { "netns del at the end" }
    );
    let check = check_after(lab, initial, &format!("{what} of {n} pods"))?;
    // The slow detaches, and whether the kernel was deleting devices (a
    // reaper batch, a namespace's cleanup) meanwhile.
    let slow_ops: Vec<(Instant, Duration)> = starts
        .iter()
        .zip(&times)
        .filter(|(_, &t)| t > 5000.0)
        .map(|(s, &t)| (*s, Duration::from_secs_f64(t / 1e6)))
        .collect();
    let deletions = mon.take(&slow_ops);
    let slow = slow_ops.len();
    println!(
        "{what:<40} {n} pods: median {:.3} ms, p99 {:.3} ms, max {:.3} ms, {slow} over 5 ms{}{}; tombstone batches {}",
        median(&times) / 1e3,
        quantile(&times, 0.99) / 1e3,
        quantile(&times, 1.0) / 1e3,
        if tombstone {
            format!(" ({} during a device deletion)", deletions["slow_during_a_deletion"])
        } else {
            String::new()
        },
        flush.map(|f| format!("; flush {:.1} ms", f / 1e3)).unwrap_or_default(),
        deletions["tombstone_batch_sizes"],
    );
    Ok(json!({
        "tombstone": tombstone, "netns_each": netns_each, "pods": n,
        "detach_us": times, "over_5ms": slow, "flush_us": flush, "check": check, "deletions": deletions,
    }))
}

/// The kinds of detach pass: (tombstone, netns_each), with their key in
/// `churn.json` and their label in the table.
const DETACH_KINDS: &[(bool, bool, &str, &str)] = &[
    (true, true, "tombstone", "host.detach (tombstone), netns del after each"),
    (false, true, "sync", "host.detach_sync, netns del after each"),
    (true, false, "tombstone_netns_at_end", "host.detach (tombstone), netns del at the end"),
    (false, false, "sync_netns_at_end", "host.detach_sync, netns del at the end"),
];

fn run_detach(
    a: &Args,
    lab: &Lab,
    agent: &NsThread,
    host: &Arc<Host>,
    mon: &DelMonitor,
    initial: &[String],
) -> Result<Value, String> {
    let settle_max = Duration::from_secs(if a.smoke { 1 } else { 5 });
    let d = DetachLab { lab, agent, host, mon, initial, settle_max };
    let mut passes = Vec::new();
    for rep in 0..a.detach_reps {
        // Every kind once a repetition, each repetition in another order.
        for j in 0..DETACH_KINDS.len() {
            let (tombstone, each, _, _) = DETACH_KINDS[(j + rep) % DETACH_KINDS.len()];
            settle(settle_max);
            passes.push(detach_pass(&d, a.detach_pods, tombstone, each)?);
        }
    }
    let mut out = serde_json::Map::new();
    out.insert("pods".into(), json!(a.detach_pods));
    out.insert("repetitions".into(), json!(a.detach_reps));
    for &(tomb, each, key, _) in DETACH_KINDS {
        let mine = |p: &&Value| p["tombstone"] == tomb && p["netns_each"] == each;
        let v: Vec<f64> = passes
            .iter()
            .filter(mine)
            .flat_map(|p| p["detach_us"].as_array().cloned().unwrap_or_default())
            .filter_map(|x| x.as_f64())
            .collect();
        let flush: Vec<f64> = passes.iter().filter(mine).filter_map(|p| p["flush_us"].as_f64()).collect();
        out.insert(
            key.into(),
            json!({
                "median_us": median(&v), "p99_us": quantile(&v, 0.99), "max_us": quantile(&v, 1.0),
                "samples": v.len(), "flush_us": flush,
            }),
        );
    }
    out.insert("passes".into(), Value::Array(passes));
    Ok(Value::Object(out))
}

/// A target of the issue, reported: `value` against `limit` (`at_least`:
/// the value must reach the limit; else stay under it).
struct Target {
    what: String,
    value: f64,
    limit: f64,
    at_least: bool,
}

impl Target {
    fn met(&self) -> bool {
        if self.at_least {
            self.value >= self.limit
        } else {
            self.value <= self.limit
        }
    }
}

fn run(a: &Args) -> Result<Vec<Target>, String> {
    std::fs::create_dir_all(&a.out).map_err(|e| format!("create {}: {e}", a.out.display()))?;
    let lab = Lab::new();
    println!("churn lab: host netns {}, sink netns {}", lab.host.name, lab.sink.name);
    let agent = NsThread::new(&lab.host.ns);
    let mut m = start(a, &lab, &agent)?;
    let mon = DelMonitor::start(&lab.host.ns)?;
    let initial = host_links(&lab)?;
    let settle_max = Duration::from_secs(if a.smoke { 1 } else { 5 });

    // Warm-up, unrecorded: one worker, two pods per method.
    for &name in &m.active.clone() {
        let warm = Args { per_worker: 2, ..a.clone() };
        churn_once(&warm, &lab, &mut m, &mon, name, 1, &initial).map_err(|e| format!("{name} warm-up: {e}"))?;
    }

    // runs[(method, W)] = the repetitions.
    let mut runs: Vec<(&'static str, usize, Vec<Run>)> = Vec::new();
    for &w in &a.workers {
        for &name in &m.active {
            runs.push((name, w, Vec::new()));
        }
    }
    let active = m.active.clone();
    for rep in 0..a.reps {
        for (wi, &w) in a.workers.iter().enumerate() {
            for j in 0..active.len() {
                let name = active[(j + rep + wi) % active.len()];
                let s = settle(settle_max);
                let r = churn_once(a, &lab, &mut m, &mon, name, w, &initial)?;
                let pods = (w * a.per_worker) as f64;
                println!(
                    "rep {}/{} W={w} {name:<11} {:>6.1} pods/s ({:>6.1} when the workers were done; drain {:>6.1} ms), \
                     attach p50 {:.2} ms p99 {:.2} ms, detach p50 {:.2} ms p99 {:.2} ms; CPUs {:.0}% busy; tombstone batches {}  \
                     (settled {:.1} s; links back after {:.0} ms)",
                    rep + 1,
                    a.reps,
                    pods / r.wall.as_secs_f64(),
                    pods / r.workers_done.as_secs_f64(),
                    r.drain.as_secs_f64() * 1e3,
                    median(&r.attach_us) / 1e3,
                    quantile(&r.attach_us, 0.99) / 1e3,
                    median(&r.detach_us) / 1e3,
                    quantile(&r.detach_us, 0.99) / 1e3,
                    r.cpu_busy * 100.0,
                    r.deletions["tombstone_batch_sizes"],
                    s.waited.as_secs_f64(),
                    r.check["links_back_after_ms"].as_f64().unwrap_or(f64::NAN),
                );
                runs.iter_mut().find(|(n, ww, _)| *n == name && *ww == w).expect("slot").2.push(r);
            }
        }
    }
    // The Python worker is done; its Host flushes on the way out.
    m.py = None;

    let detach = match (a.detach_pods, &m.host) {
        (0, _) | (_, None) => Value::Null,
        (_, Some(host)) => run_detach(a, &lab, &agent, host, &mon, &initial)?,
    };
    m.host = None;
    report(a, &m, &runs, &detach)
}

fn report(
    a: &Args,
    m: &Methods,
    runs: &[(&'static str, usize, Vec<Run>)],
    detach: &Value,
) -> Result<Vec<Target>, String> {
    let rate = |r: &Run, w: usize| (w * a.per_worker) as f64 / r.wall.as_secs_f64();
    let rate_done = |r: &Run, w: usize| (w * a.per_worker) as f64 / r.workers_done.as_secs_f64();
    let rate_of = |name: &str, w: usize| {
        runs.iter()
            .find(|(n, ww, _)| *n == name && *ww == w)
            .map(|(_, _, rs)| median(&rs.iter().map(|r| rate(r, w)).collect::<Vec<_>>()))
    };
    println!();
    println!(
        "churn: W workers × {} pods each (netns add, wire, unwire, netns del); pods/s: median of {} repetitions; \
         latencies: all pods of all repetitions",
        a.per_worker, a.reps
    );
    println!(
        "| method | W | pods/s | × ptp | attach p50 ms | attach p99 ms | detach p50 ms | detach p99 ms | drain ms | CPUs busy |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut out = Vec::new();
    let mut targets = Vec::new();
    for &w in &a.workers {
        let ptp = rate_of("ptp", w);
        for (name, ww, rs) in runs.iter().filter(|(_, ww, _)| *ww == w) {
            let r = rate_of(name, w).unwrap_or(f64::NAN);
            let att: Vec<f64> = rs.iter().flat_map(|r| r.attach_us.iter().copied()).collect();
            let det: Vec<f64> = rs.iter().flat_map(|r| r.detach_us.iter().copied()).collect();
            let drain: Vec<f64> = rs.iter().map(|r| r.drain.as_secs_f64() * 1e3).collect();
            let ratio = ptp.map(|p| r / p);
            println!(
                "| {name} | {w} | {r:.1} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.0}% |",
                ratio.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into()),
                median(&att) / 1e3,
                quantile(&att, 0.99) / 1e3,
                median(&det) / 1e3,
                quantile(&det, 0.99) / 1e3,
                median(&drain),
                median(&rs.iter().map(|r| r.cpu_busy * 100.0).collect::<Vec<_>>()),
            );
            let want = match *name {
                "floatip" | "floatip-py" => Some(5.0),
                "floatip-cni" => Some(2.0),
                _ => None,
            };
            if let (Some(limit), Some(x)) = (want, ratio) {
                targets.push(Target {
                    what: format!("churn W={w}: {name} pods/s / ptp"),
                    value: x,
                    limit,
                    at_least: true,
                });
            }
            out.push(json!({
                "method": name,
                "workers": ww,
                "pods_per_worker": a.per_worker,
                "pods_per_s": r,
                "over_ptp": ratio,
                "pods_per_s_per_rep": rs.iter().map(|r| rate(r, w)).collect::<Vec<_>>(),
                "pods_per_s_workers_done_per_rep": rs.iter().map(|r| rate_done(r, w)).collect::<Vec<_>>(),
                "wall_s_per_rep": rs.iter().map(|r| r.wall.as_secs_f64()).collect::<Vec<_>>(),
                "drain_ms_per_rep": drain,
                "attach_p50_us": median(&att),
                "attach_p99_us": quantile(&att, 0.99),
                "attach_max_us": quantile(&att, 1.0),
                "detach_p50_us": median(&det),
                "detach_p99_us": quantile(&det, 0.99),
                "attach_us": att,
                "detach_us": det,
                "checks": rs.iter().map(|r| r.check.clone()).collect::<Vec<_>>(),
                "deletions_per_rep": rs.iter().map(|r| r.deletions.clone()).collect::<Vec<_>>(),
                "cpu_busy_per_rep": rs.iter().map(|r| r.cpu_busy).collect::<Vec<_>>(),
            }));
        }
    }
    if detach.get("tombstone").is_some() {
        let g = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN) / 1e3;
        println!();
        println!("detach with a kept Host, {} pods one by one, {} repetitions:", detach["pods"], detach["repetitions"]);
        println!("| detach | median ms | p99 ms | max ms | flush ms |");
        println!("|---|---:|---:|---:|---:|");
        for &(tomb, _, key, label) in DETACH_KINDS {
            let v = &detach[key];
            let flush: Vec<String> = v["flush_us"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64)
                .map(|f| format!("{:.1}", f / 1e3))
                .collect();
            println!(
                "| {label} | {:.3} | {:.3} | {:.3} | {} |",
                g(v, "median_us"),
                g(v, "p99_us"),
                g(v, "max_us"),
                if tomb { flush.join(", ") } else { "-".into() }
            );
            if tomb {
                let which = if key.ends_with("at_end") { "netns del at the end" } else { "netns del after each" };
                targets.push(Target {
                    what: format!("detach (tombstone, {which}) median, ms"),
                    value: g(v, "median_us"),
                    limit: 1.0,
                    at_least: false,
                });
                targets.push(Target {
                    what: format!("detach (tombstone, {which}) p99, ms"),
                    value: g(v, "p99_us"),
                    limit: 5.0,
                    at_least: false,
                });
            }
        }
    }
    println!();
    println!("| target | measured | limit | |");
    println!("|---|---:|---:|---|");
    for t in &targets {
        println!(
            "| {} | {:.3} | {} {:.2} | {} |",
            t.what,
            t.value,
            if t.at_least { "≥" } else { "≤" },
            t.limit,
            if t.met() { "met" } else { "NOT met" }
        );
    }
    let results = json!({
        "smoke": a.smoke,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "pods_per_worker": a.per_worker,
        "workers": a.workers,
        "repetitions": a.reps,
        "reap_pace": a.reap_pace.map(|(d, b)| json!({"delay_ms": d.as_millis() as u64, "batch": b})),
        "cni_announce": if a.cni_announce { json!({"rounds": 1}) } else { json!(false) },
        "netns": "floatip::Netns::create / Netns::delete by the worker, every method",
        "skipped": m.skipped.iter().map(|(n, w)| json!({"method": n, "why": w})).collect::<Vec<_>>(),
        "churn": out,
        "detach": detach,
        "targets": targets.iter().map(|t| json!({"what": t.what, "value": t.value, "limit": t.limit, "at_least": t.at_least, "met": t.met()})).collect::<Vec<_>>(),
    });
    let path = a.out.join("churn.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results).unwrap() + "\n")
        .map_err(|e| format!("write {}: {e}", path.display()))?;
    println!("\nwrote {}", path.display());
    Ok(targets)
}

/// `compare churn ARGS...` (the arguments after `churn`).
pub fn main(args: &[String]) -> ExitCode {
    let a = match lab::start("compare churn", parse_args(args), |a| a.shared_run_netns) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if let Err(e) = become_subreaper() {
        eprintln!("compare churn: {e}");
        return ExitCode::FAILURE;
    }
    let t = Instant::now();
    match run(&a) {
        Ok(targets) => {
            println!("churn: done in {:.1} s", t.elapsed().as_secs_f64());
            let missed = targets.iter().filter(|t| !t.met()).count();
            if a.strict && missed > 0 {
                eprintln!("compare churn: {missed} target(s) not met");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compare churn: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A device deletion the kernel announced in the host namespace
/// (`RTM_DELLINK` on the link group of rtnetlink).
#[derive(Debug, Clone)]
struct Deletion {
    at: Instant,
    group: u32,
}

/// A thread in the host namespace that records every `RTM_DELLINK`: how
/// the tombstones go, in which batches (a `del group` of the reaper or of
/// floatip-cni's child, or the kernel's cleanup of a deleted pod
/// namespace, which deletes the veth pair with it: the two cannot be told
/// apart here, both batch).
struct DelMonitor {
    // First: dropped, the thread is stopped and joined before the rest goes.
    _thread: Stoppable<()>,
    seen: Arc<std::sync::Mutex<Vec<Deletion>>>,
}

impl DelMonitor {
    fn start(ns: &Netns) -> Result<DelMonitor, String> {
        let fd = ns.try_clone().map_err(|e| e.to_string())?;
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = Stoppable::spawn("fip-delmon", "deletion monitor", move |st2| {
            let sock = enter(&fd).and_then(|()| {
                let mut s = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)
                    .map_err(|e| format!("netlink socket: {e}"))?;
                // RTMGRP_LINK; a large buffer, so that a burst is not lost.
                s.bind(&netlink_sys::SocketAddr::new(0, 1)).map_err(|e| format!("bind RTMGRP_LINK: {e}"))?;
                let _ = s.set_rx_buf_sz(8 << 20);
                Ok(s)
            });
            let sock = match sock {
                Ok(s) => {
                    let _ = tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return Ok(());
                }
            };
            let mut buf = vec![0u8; 1 << 16];
            while !st2.load(std::sync::atomic::Ordering::Relaxed) {
                let mut pfd = libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                // SAFETY: poll on one valid pollfd; recv into a buffer we own.
                #[allow(unsafe_code)]
                let n = unsafe {
                    if libc::poll(&mut pfd, 1, 100) <= 0 {
                        continue;
                    }
                    libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0)
                };
                let at = Instant::now();
                if n <= 0 {
                    continue;
                }
                let mut found = Vec::new();
                let mut off = 0usize;
                let n = n as usize;
                while off + 16 <= n {
                    let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
                    let kind = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
                    if len < 16 || off + len > n {
                        break;
                    }
                    // RTM_DELLINK: nlmsghdr (16), ifinfomsg (16), attributes.
                    if kind == 17 {
                        let mut a = off + 32;
                        let mut group = 0;
                        while a + 4 <= off + len {
                            let alen = u16::from_ne_bytes(buf[a..a + 2].try_into().unwrap()) as usize;
                            let atype = u16::from_ne_bytes(buf[a + 2..a + 4].try_into().unwrap()) & 0x3fff;
                            if alen < 4 {
                                break;
                            }
                            // IFLA_GROUP
                            if atype == 27 && alen >= 8 {
                                group = u32::from_ne_bytes(buf[a + 4..a + 8].try_into().unwrap());
                            }
                            a += (alen + 3) & !3;
                        }
                        found.push(Deletion { at, group });
                    }
                    off += (len + 3) & !3;
                }
                if !found.is_empty() {
                    s2.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(found);
                }
            }
            Ok(())
        })?;
        rx.recv().map_err(|_| "the deletion monitor died".to_string())??;
        Ok(DelMonitor { _thread: thread, seen })
    }

    /// The tombstone deletions seen since the last call, as batches:
    /// notifications less than 10 ms apart are one batch (they are
    /// stamped when this thread reads them, so a batch's may spread). With
    /// `slow`, the intervals of slow operations: how many of them saw a
    /// device deletion (any, not only a tombstone's) while they ran. Waits
    /// 50 ms first, for the last notifications to arrive.
    fn take(&self, slow: &[(Instant, Duration)]) -> Value {
        std::thread::sleep(Duration::from_millis(50));
        let all = std::mem::take(&mut *self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let tombs: Vec<&Deletion> = all.iter().filter(|d| d.group == TOMBSTONE_GROUP).collect();
        let mut sizes: Vec<usize> = Vec::new();
        let mut last: Option<Instant> = None;
        for d in &tombs {
            match last {
                Some(l) if d.at.duration_since(l) < Duration::from_millis(10) => *sizes.last_mut().expect("one") += 1,
                _ => sizes.push(1),
            }
            last = Some(d.at);
        }
        let overlapping = slow
            .iter()
            .filter(|(t, d)| all.iter().any(|x| x.at >= *t && x.at <= *t + *d + Duration::from_millis(1)))
            .count();
        json!({
            "slow": slow.len(),
            "slow_during_a_deletion": overlapping,
            "deleted_links": all.len(),
            "tombstones_deleted": tombs.len(),
            "tombstone_batches": sizes.len(),
            "tombstone_batch_sizes": sizes,
        })
    }
}

//! One failover, start to end, in a LAN of namespaces of its own: hostA
//! holds N pods that the peer and the gateway know at hostA's MAC; hostA's
//! uplink goes down; one method attaches the N pods on hostB; the peer's
//! cache, its echoes and the final state say how long each pod was
//! unreachable.
//!
//! The LAN is `tests/netlab.rs`'s on a /16 (N = 1,000 pods do not fit the
//! test LAN's /23): a switch namespace with bridge `br0`, `gw`
//! (10.0.0.1), `hostA` (10.0.0.2), `hostB` (10.0.0.3), `peer` (10.0.0.7),
//! the same MACs. Pod k has 10.0.(1 + k / 250).(1 + k % 250)/16.
//!
//! **The machine's one ARP table.** Every namespace of a kernel shares one
//! IPv4 neighbour table, whose limits (`net.ipv4.neigh.default.gc_thresh2`
//! = 512: forced garbage collection of any namespace's entries older than
//! 5 s; `gc_thresh3` = 1,024: no more entries) belong to the root namespace
//! and to everyone else's work on the machine. A pod that answers costs
//! three entries (hostB's for the pod, the pod's for the gateway and for
//! hostB's address), and the peer needs one per pod: 200 pods answering at
//! once, the peer's and the gateway's entries included, fill the table.
//! So the run keeps its own entries well under 512:
//!
//! - the peer's and the gateway's entries for a *sample* of S pods (evenly
//!   spread, the first and the last included) are learned for real, by
//!   echoes to the pods on hostA; after the move the peer keeps echoing
//!   them (TTL 64): their first replies measure reachability directly;
//! - the entries for the other pods are written as the same entries
//!   (`nud reachable`, hostA's MAC), as plain entries while N ≤ the aging
//!   limit (200: they age and re-resolve like learned ones, which the
//!   no-announce method needs), else marked `extern_learn`, which keeps
//!   them out of the table's accounting and its garbage collection (a
//!   gratuitous ARP updates them as any other, but they do not age); the
//!   gateway's always so. The peer sends these pods echoes with TTL 1 (it
//!   keeps using the entries, as a peer that talks to the pods does, and
//!   hostB drops them at the first hop, so it never resolves the pod);
//! - the peer's neighbour events give, for every pod, when its entry first
//!   names hostB's MAC: with its attach's return, the time it became
//!   reachable;
//! - afterwards every pod answers an echo, checked 32 pods at a time with
//!   the entries that costs deleted after each batch.

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use floatip::announce::AnnounceOptions;
use floatip::floating::{FloatingIp, NetnsRef};
use floatip::{AddrOptions, Host, IfName, Mac, Netns, SysctlKey, VethSpec};
use netlab::TestNs;

use crate::lab::{check_stop, PREFIX};
use crate::neigh::{self, ArpCache, Monitor};
use crate::prober::Prober;

/// hostA's uplink MAC.
pub const HOST_A_MAC: Mac = Mac([2, 0, 0, 0, 0x0a, 1]);
/// hostB's uplink MAC.
pub const HOST_B_MAC: Mac = Mac([2, 0, 0, 0, 0x0b, 1]);
const GATEWAY: &str = "10.0.0.1";

/// How hostB gets the pods back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// floatip with a kept `Host`, announcing `rounds` rounds (the first
    /// before each attach returns).
    Floatip { rounds: u32 },
    /// floatip with a kept `Host` shared by `threads` threads of the agent
    /// that attach pods at once (one round each), as a node agent that
    /// starts several pods at a time does.
    FloatipThreads { threads: usize },
    /// The write-up's recipe, pod after pod: attach (floatip,
    /// `no_announce()`), then `arping -c 2 -A -I up0 IP`, waited for, with
    /// `ip_nonlocal_bind=1` on hostB.
    Recipe,
    /// The recipe's arpings started without waiting, one process per pod
    /// running alongside the next attaches.
    RecipeParallel,
    /// floatip without announcing: the peer finds the pods when its
    /// entries age out and it asks again.
    NoAnnounce,
}

impl Method {
    /// Its name in tables and results.
    pub fn name(&self) -> String {
        match self {
            Method::Floatip { rounds: 1 } => "floatip".into(),
            Method::Floatip { rounds } => format!("floatip-{rounds}rounds"),
            Method::FloatipThreads { threads } => format!("floatip-{threads}threads"),
            Method::Recipe => "recipe".into(),
            Method::RecipeParallel => "recipe-parallel".into(),
            Method::NoAnnounce => "no-announce".into(),
        }
    }

    /// Parses a name of [`Method::name`].
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "floatip" => Method::Floatip { rounds: 1 },
            "recipe" => Method::Recipe,
            "recipe-parallel" => Method::RecipeParallel,
            "no-announce" => Method::NoAnnounce,
            _ => {
                let rest = s.strip_prefix("floatip-")?;
                if let Some(t) = rest.strip_suffix("threads") {
                    Method::FloatipThreads { threads: t.parse().ok().filter(|t| *t > 0)? }
                } else {
                    Method::Floatip { rounds: rest.strip_suffix("rounds")?.parse().ok()? }
                }
            }
        })
    }
}

/// How a run is made.
#[derive(Debug, Clone)]
pub struct Config {
    /// Pods.
    pub n: usize,
    /// Pods whose reachability the peer measures with real echoes.
    pub sample: usize,
    /// Up to this N the peer's other entries are plain (they age).
    pub aging_max: usize,
    /// Give up this long after the first attach.
    pub bound: Duration,
    /// Echo period for the sample.
    pub period: Duration,
    /// A number for the namespace names of this run.
    pub run: usize,
}

/// Pod `k`'s floating IP.
pub fn pod_ip(k: usize) -> Ipv4Addr {
    assert!(k < 250 * 250, "pod number out of range");
    Ipv4Addr::new(10, 0, 1 + (k / 250) as u8, 1 + (k % 250) as u8)
}

/// The pods of the sample: `s` of `n`, evenly spread, first and last in.
pub fn sample(n: usize, s: usize) -> Vec<usize> {
    let s = s.clamp(1, n);
    if s == 1 {
        return vec![n - 1];
    }
    let mut v: Vec<usize> = (0..s).map(|i| i * (n - 1) / (s - 1)).collect();
    v.dedup();
    v
}

/// The LAN (see the module comment).
pub struct Lan {
    pub switch: TestNs,
    pub host_a: TestNs,
    pub host_b: TestNs,
    pub gw: TestNs,
    pub peer: TestNs,
}

impl Lan {
    pub fn new(tag: &str) -> Result<Lan, String> {
        let e = |x: floatip::Error| x.to_string();
        let mk = |t: &str| TestNs::with_prefix(PREFIX, &format!("{tag}{t}"));
        let lan = Lan { switch: mk("sw"), host_a: mk("hostA"), host_b: mk("hostB"), gw: mk("gw"), peer: mk("peer") };
        let sw = lan.switch.handle();
        sw.bridge_add(&IfName::new("br0").unwrap()).map_err(e)?;
        let br = sw.link_get("br0").map_err(e)?.index;
        sw.link_set_up(br).map_err(e)?;
        let members: [(&TestNs, &str, &str, &str, Mac); 4] = [
            (&lan.gw, "lan0", "p-gw", "10.0.0.1/16", Mac([2, 0, 0, 0, 1, 1])),
            (&lan.host_a, "up0", "p-a", "10.0.0.2/16", HOST_A_MAC),
            (&lan.host_b, "up0", "p-b", "10.0.0.3/16", HOST_B_MAC),
            (&lan.peer, "lan0", "p-peer", "10.0.0.7/16", Mac([2, 0, 0, 0, 7, 1])),
        ];
        for (ns, ifname, port, v4, mac) in members {
            let mut v = VethSpec::new(IfName::new(port).unwrap(), IfName::new(ifname).unwrap());
            v.peer_netns = Some(&ns.ns);
            v.peer_mac = Some(mac);
            sw.veth_add(&v).map_err(e)?;
            let p = sw.link_get(port).map_err(e)?.index;
            sw.link_set_master(p, Some(br)).map_err(e)?;
            sw.link_set_up(p).map_err(e)?;
            let h = ns.handle();
            let i = h.link_get(ifname).map_err(e)?.index;
            h.link_set_up(i).map_err(e)?;
            h.link_set_up(1).map_err(e)?;
            h.addr_add(i, v4.parse().map_err(e)?, AddrOptions::default()).map_err(e)?;
        }
        // The switch forwards frames only, not through its own iptables.
        let _ = lan.switch.exec(&["sh", "-c", "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables"]);
        Ok(lan)
    }
}

/// Pod `k`'s spec: the same pod key on both nodes, as after a
/// rescheduling; its namespace `<prefix>-<pid>-r<run><side><k>-pod` made by
/// the attach and deleted by the detach.
fn spec(host: NetnsRef, run: usize, side: char, k: usize, announce: Option<AnnounceOptions>) -> FloatingIp {
    let b = FloatingIp::builder(format!("default/fo-{k}"), "up0")
        .host_netns(host)
        .create_pod_netns(pod_netns(run, side, k))
        .ipv4(format!("{}/16", pod_ip(k)), GATEWAY);
    match announce {
        Some(o) => b.announce(o),
        None => b.no_announce(),
    }
    .build()
    .expect("a valid spec")
}

fn pod_netns(run: usize, side: char, k: usize) -> String {
    format!("{PREFIX}-{}-r{run}{side}{k}-pod", std::process::id())
}

/// Deletes the pod namespaces of run `run` on `side` that are still there.
fn delete_pods(run: usize, side: char) -> usize {
    let mine = format!("{PREFIX}-{}-r{run}{side}", std::process::id());
    Netns::list()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.starts_with(&mine) && n.ends_with("-pod"))
        .filter(|n| Netns::delete(n).is_ok())
        .count()
}

/// Writes `ips`' entries in `ns` (on `lan0`) naming `mac`, reachable, as
/// learned ones (`extern_learn`: kept out of the table's accounting).
fn write_entries(ns: &TestNs, ips: &[Ipv4Addr], mac: Mac, extern_learn: bool) -> Result<(), String> {
    use std::io::Write;
    if ips.is_empty() {
        return Ok(());
    }
    let flag = if extern_learn { " extern_learn" } else { "" };
    let text: String =
        ips.iter().map(|ip| format!("neigh replace {ip} lladdr {mac} dev lan0 nud reachable{flag}\n")).collect();
    let mut child = Command::new("ip")
        .args(["-n", &ns.name, "-batch", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("ip -batch: {e}"))?;
    child.stdin.take().expect("piped").write_all(text.as_bytes()).map_err(|e| format!("ip -batch: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("ip -batch: {e}"))?;
    if !out.status.success() {
        return Err(format!("ip -n {} -batch (neigh replace): {}", ns.name, String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

/// Echoes from `ns` to every one of `ips` until each answered, at most
/// `limit`; the ones that did not.
fn echo_all(ns: &Netns, ips: &[Ipv4Addr], id: u16, limit: Duration) -> Result<Vec<Ipv4Addr>, String> {
    let p = Prober::start(ns, ips.to_vec(), Duration::from_millis(20), 64, id)?;
    let t0 = p.arm()?;
    p.wait_all(t0, limit, || false);
    let r = p.stop()?;
    Ok(ips.iter().zip(r).filter(|(_, t)| t.first_reply.is_none()).map(|(ip, _)| *ip).collect())
}

/// What the agent on hostB did.
#[derive(Debug, Default)]
struct AgentOut {
    /// When each pod's attach returned, from t0; `None` for the pods it
    /// did not get to.
    attached: Vec<Option<Duration>>,
    /// From t0 until the last attach returned.
    attach_end: Option<Duration>,
    arping_failed: usize,
}

/// The node agent on hostB: a thread in hostB's namespace with a kept
/// `Host`, as an agent runs there.
fn agent(
    method: Method,
    n: usize,
    run: usize,
    ready: mpsc::Sender<()>,
    go: mpsc::Receiver<Instant>,
    stop: Arc<AtomicBool>,
    failed: Arc<AtomicBool>,
) -> Result<AgentOut, String> {
    let r = (|| {
        let host = Host::current().map_err(|e| e.to_string())?;
        let announce = match method {
            Method::Floatip { rounds } => Some(AnnounceOptions::default().count(rounds)),
            Method::FloatipThreads { .. } => Some(AnnounceOptions::default().count(1)),
            _ => None,
        };
        let specs: Vec<FloatingIp> = (0..n).map(|k| spec(NetnsRef::Current, run, 'b', k, announce)).collect();
        let _ = ready.send(());
        let t0 = go.recv().map_err(|_| "no start".to_string())?;
        let mut out = AgentOut { attached: vec![None; n], ..Default::default() };
        if let Method::FloatipThreads { threads } = method {
            // Threads started here are in hostB's namespace too.
            let next = std::sync::atomic::AtomicUsize::new(0);
            let attached = std::sync::Mutex::new(vec![None; n]);
            let error = std::sync::Mutex::new(None);
            std::thread::scope(|sc| {
                for _ in 0..threads {
                    sc.spawn(|| loop {
                        let k = next.fetch_add(1, Ordering::SeqCst);
                        if k >= n || stop.load(Ordering::Relaxed) {
                            break;
                        }
                        match host.attach(&specs[k]) {
                            Ok(_) => attached.lock().unwrap_or_else(|p| p.into_inner())[k] = Some(t0.elapsed()),
                            Err(e) => {
                                *error.lock().unwrap_or_else(|p| p.into_inner()) =
                                    Some(format!("attach of pod {k} on hostB: {e}"));
                                stop.store(true, Ordering::SeqCst);
                                break;
                            }
                        }
                    });
                }
            });
            if let Some(e) = error.into_inner().unwrap_or_else(|p| p.into_inner()) {
                return Err(e);
            }
            out.attached = attached.into_inner().unwrap_or_else(|p| p.into_inner());
            out.attach_end = out.attached.iter().all(Option::is_some).then(|| t0.elapsed());
            return Ok(out);
        }
        let mut children: Vec<Child> = Vec::new();
        for (k, s) in specs.iter().enumerate() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            host.attach(s).map_err(|e| format!("attach of pod {k} on hostB: {e}"))?;
            out.attached[k] = Some(t0.elapsed());
            let ip = pod_ip(k).to_string();
            let arping = || {
                let mut c = Command::new("arping");
                c.args(["-q", "-c", "2", "-A", "-I", "up0", &ip]).stdout(Stdio::null()).stderr(Stdio::null());
                c
            };
            match method {
                Method::Recipe if !arping().status().map_err(|e| format!("arping: {e}"))?.success() => {
                    out.arping_failed += 1;
                }
                Method::RecipeParallel => children.push(arping().spawn().map_err(|e| format!("arping: {e}"))?),
                _ => {}
            }
        }
        out.attach_end = out.attached.iter().all(Option::is_some).then(|| t0.elapsed());
        for mut c in children {
            if !c.wait().map_err(|e| format!("arping: {e}"))?.success() {
                out.arping_failed += 1;
            }
        }
        Ok(out)
    })();
    if r.is_err() {
        failed.store(true, Ordering::SeqCst);
    }
    r
}

/// What one run measured; durations from t0, the first attach's start.
#[derive(Debug, Default)]
pub struct Run {
    pub method: String,
    pub n: usize,
    pub bound: Duration,
    /// When each pod's attach returned (`None`: not attached in the bound).
    pub attached: Vec<Option<Duration>>,
    pub attach_end: Option<Duration>,
    /// The pods whose convergence is measured: all of them, or the sample
    /// when the method does not announce and the other pods' entries do
    /// not age (N over the aging limit).
    pub pods: Vec<usize>,
    /// Per measured pod: when the peer's entry first named hostB.
    pub switched: Vec<Option<Duration>>,
    /// Measured pods whose peer entry was deleted (garbage collection)
    /// before it named hostB.
    pub deleted_before_switch: usize,
    pub event_overruns: u64,
    /// Per measured pod: reachable from the peer, the later of its
    /// attach's return and its peer entry's switch.
    pub reachable: Vec<Option<Duration>>,
    /// The sample: pods, first echo reply, echoes sent before it.
    pub sample: Vec<usize>,
    pub sample_first_reply: Vec<Option<Duration>>,
    pub sample_echoes_before: Vec<u32>,
    /// At the end: the peer's and the gateway's entries naming hostB.
    pub peer_naming_b: usize,
    pub gw_naming_b: usize,
    pub gw_absent: usize,
    /// Measured pods that answered an echo after the run (checked when
    /// every one was reachable).
    pub verified: Option<usize>,
    pub arping_failed: usize,
    /// The machine's ARP table during the run.
    pub arp: ArpCache,
    /// The peer's other entries aged (plain) or not (`extern_learn`).
    pub bulk_ages: bool,
    /// Entries of this run marked `extern_learn` (outside the table's
    /// accounting).
    pub exempt: usize,
    /// From the sample's last learned reply to t0.
    pub seeded_before: Duration,
}

impl Run {
    /// Every measured pod reachable within the bound: when the last one
    /// became so.
    pub fn convergence(&self) -> Option<Duration> {
        if self.reachable.is_empty() {
            return None;
        }
        self.reachable.iter().copied().collect::<Option<Vec<_>>>().and_then(|v| v.into_iter().max())
    }
}

/// Deletes a run's pod namespaces (both nodes) on every way out.
struct PodsGuard(usize);

impl Drop for PodsGuard {
    fn drop(&mut self) {
        delete_pods(self.0, 'a');
        delete_pods(self.0, 'b');
    }
}

/// One failover with `method` (see the module comment).
pub fn run(method: Method, cfg: &Config) -> Result<Run, String> {
    let e = |x: floatip::Error| x.to_string();
    let n = cfg.n;
    let _guard = PodsGuard(cfg.run);
    let lan = Lan::new(&format!("r{}", cfg.run))?;
    let ips: Vec<Ipv4Addr> = (0..n).map(pod_ip).collect();
    let sample = sample(n, cfg.sample);
    let sample_ips: Vec<Ipv4Addr> = sample.iter().map(|&k| ips[k]).collect();
    let bulk_ips: Vec<Ipv4Addr> = (0..n).filter(|k| sample.binary_search(k).is_err()).map(|k| ips[k]).collect();
    let bulk_ages = n <= cfg.aging_max;
    let pods: Vec<usize> = if method == Method::NoAnnounce && !bulk_ages { sample.clone() } else { (0..n).collect() };
    let watched_ips: Vec<Ipv4Addr> = pods.iter().map(|&k| ips[k]).collect();

    // hostA holds the pods.
    let host_a = Host::open(NetnsRef::Name(lan.host_a.name.clone())).map_err(e)?;
    for k in 0..n {
        check_stop()?;
        host_a
            .attach(&spec(NetnsRef::Name(lan.host_a.name.clone()), cfg.run, 'a', k, None))
            .map_err(|x| format!("attach of pod {k} on hostA: {x}"))?;
    }
    // The peer and the gateway learn the sample's entries by talking to
    // the pods on hostA; the others are written as those are.
    for (obs, id) in [(&lan.peer, 0x6601), (&lan.gw, 0x6602)] {
        let lost = echo_all(&obs.ns, &sample_ips, id, Duration::from_secs(10))?;
        if !lost.is_empty() {
            return Err(format!("{}: pods on hostA that did not answer: {lost:?}", obs.name));
        }
    }
    let seeded = Instant::now();
    write_entries(&lan.peer, &bulk_ips, HOST_A_MAC, !bulk_ages)?;
    write_entries(&lan.gw, &bulk_ips, HOST_A_MAC, true)?;
    for obs in [&lan.peer, &lan.gw] {
        let m = neigh::macs(&obs.ns, "lan0", &ips)?;
        let wrong = m.iter().filter(|m| **m != Some(HOST_A_MAC)).count();
        if wrong > 0 {
            return Err(format!("{}: {wrong} of {n} entries do not name hostA before the failure", obs.name));
        }
    }

    // hostA fails. What it learned for the sample goes with it (its
    // entries for the pods, the pods' own): the machine's table is shared.
    let ha = lan.host_a.handle();
    ha.link_set_down(ha.link_get("up0").map_err(e)?.index).map_err(e)?;
    flush_neighbours(&lan.host_a.ns)?;
    for &k in &sample {
        flush_neighbours(&Netns::open(&pod_netns(cfg.run, 'a', k)).map_err(e)?)?;
    }

    // The peer keeps talking to every pod.
    let monitor = Monitor::start(&lan.peer.ns, &watched_ips, HOST_B_MAC)?;
    let prober = Prober::start(&lan.peer.ns, sample_ips.clone(), cfg.period, 64, 0x6603)?;
    let bulk = if bulk_ages && !bulk_ips.is_empty() {
        Some(Prober::start(&lan.peer.ns, bulk_ips.clone(), Duration::from_millis(200), 1, 0x6604)?)
    } else {
        None
    };
    if method == Method::Recipe || method == Method::RecipeParallel {
        let key = SysctlKey::parse("net.ipv4.ip_nonlocal_bind").map_err(e)?;
        lan.host_b.ns.sysctl_set(&key, "1").map_err(e)?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let hb = lan.host_b.open();
    let (s2, f2, run_no) = (stop.clone(), failed.clone(), cfg.run);
    let agent_thread = std::thread::spawn(move || {
        hb.run(move || agent(method, n, run_no, ready_tx, go_rx, s2, f2)).map_err(|x| x.to_string()).and_then(|r| r)
    });
    ready_rx.recv_timeout(Duration::from_secs(30)).map_err(|_| "the hostB agent did not start".to_string())?;
    std::thread::sleep(Duration::from_millis(200));
    let arp_before = ArpCache::read();

    // t0: the first attach on hostB starts.
    let t0 = prober.arm()?;
    monitor.arm(t0);
    let _ = go_tx.send(t0);
    let mut last_dump = Instant::now();
    loop {
        let sample_done = prober.replied() >= sample_ips.len();
        if (sample_done && monitor.switched() >= pods.len())
            || failed.load(Ordering::Relaxed)
            || t0.elapsed() >= cfg.bound
            || check_stop().is_err()
        {
            break;
        }
        // Events can be lost (an overrun): a dump now and then too.
        if sample_done && last_dump.elapsed() > Duration::from_millis(500) {
            last_dump = Instant::now();
            if neigh::macs(&lan.peer.ns, "lan0", &watched_ips)?.iter().all(|m| *m == Some(HOST_B_MAC)) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::SeqCst);
    let arp = ArpCache::read().since(&arp_before);
    let out = agent_thread.join().map_err(|_| "the hostB agent panicked".to_string())??;
    let probed = prober.stop()?;
    drop(bulk);
    let (watched, overruns) = monitor.stop()?;
    check_stop()?;

    let peer_end = neigh::macs(&lan.peer.ns, "lan0", &ips)?;
    let gw_end = neigh::macs(&lan.gw.ns, "lan0", &ips)?;
    let switched: Vec<Option<Duration>> = watched.iter().map(|w| w.switched).collect();
    let reachable = pods
        .iter()
        .zip(&switched)
        .map(|(&k, s)| match (out.attached[k], s) {
            (Some(a), Some(s)) => Some(a.max(*s)),
            _ => None,
        })
        .collect();
    let mut r = Run {
        method: method.name(),
        n,
        bound: cfg.bound,
        attached: out.attached.clone(),
        attach_end: out.attach_end,
        pods: pods.clone(),
        switched,
        deleted_before_switch: watched.iter().filter(|w| w.deleted_before).count(),
        event_overruns: overruns,
        reachable,
        sample: sample.clone(),
        sample_first_reply: probed.iter().map(|t| t.first_reply).collect(),
        sample_echoes_before: probed.iter().map(|t| t.sent).collect(),
        peer_naming_b: peer_end.iter().filter(|m| **m == Some(HOST_B_MAC)).count(),
        gw_naming_b: gw_end.iter().filter(|m| **m == Some(HOST_B_MAC)).count(),
        gw_absent: gw_end.iter().filter(|m| m.is_none()).count(),
        arping_failed: out.arping_failed,
        arp,
        bulk_ages,
        exempt: bulk_ips.len() * if bulk_ages { 1 } else { 2 },
        seeded_before: t0.saturating_duration_since(seeded),
        ..Default::default()
    };
    if r.convergence().is_some() && r.attach_end.is_some() {
        r.verified = Some(pods.len() - verify(&lan, cfg.run, &pods)?.len());
    }

    // Clean up: every pod detached on hostB (its namespace goes with it)
    // and the tombstones reaped; nothing of floatip's left there.
    let host_b = Host::open(NetnsRef::Name(lan.host_b.name.clone())).map_err(e)?;
    for k in (0..n).filter(|&k| r.attached[k].is_some()) {
        host_b
            .detach(&spec(NetnsRef::Name(lan.host_b.name.clone()), cfg.run, 'b', k, None))
            .map_err(|x| format!("detach of pod {k} on hostB: {x}"))?;
    }
    host_b.flush().map_err(e)?;
    let left = host_b.list().map_err(e)?;
    if !left.is_empty() {
        return Err(format!("hostB: {} attachments left after detach and flush", left.len()));
    }
    drop(host_b);
    drop(host_a);
    let stray = delete_pods(cfg.run, 'b');
    if stray > 0 {
        return Err(format!("{stray} pod namespaces of hostB left after detach"));
    }
    Ok(r)
}

/// Deletes the learned IPv4 neighbour entries of `ns` (`ip neigh flush
/// all`, proxy entries kept); those of `only` when given.
fn flush_neighbours_of(ns: &Netns, only: Option<&std::collections::HashSet<std::net::IpAddr>>) -> Result<(), String> {
    let h = floatip::Handle::in_netns(ns).map_err(|e| e.to_string())?;
    for nb in h.neighbours(None).map_err(|e| e.to_string())? {
        if !nb.proxy && nb.ip.is_ipv4() && only.is_none_or(|o| o.contains(&nb.ip)) {
            // Gone meanwhile is fine.
            let _ = h.neigh_del(nb.index, nb.ip);
        }
    }
    Ok(())
}

fn flush_neighbours(ns: &Netns) -> Result<(), String> {
    flush_neighbours_of(ns, None)
}

/// Every one of `pods` answers an echo from the peer now: 32 at a time, each batch's
/// new entries (hostB's for the pods, the pods' own) deleted after it, so
/// that the machine's table stays small. The pods that did not answer.
fn verify(lan: &Lan, run: usize, pods: &[usize]) -> Result<Vec<Ipv4Addr>, String> {
    let e = |x: floatip::Error| x.to_string();
    let mut lost = Vec::new();
    for (c, chunk) in pods.chunks(32).enumerate() {
        check_stop()?;
        let ips: Vec<Ipv4Addr> = chunk.iter().map(|&k| pod_ip(k)).collect();
        lost.extend(echo_all(&lan.peer.ns, &ips, 0x6610 + (c % 16) as u16, Duration::from_secs(3))?);
        let want: std::collections::HashSet<std::net::IpAddr> = ips.iter().map(|ip| (*ip).into()).collect();
        flush_neighbours_of(&lan.host_b.ns, Some(&want))?;
        for &k in chunk {
            flush_neighbours(&Netns::open(&pod_netns(run, 'b', k)).map_err(e)?)?;
        }
    }
    Ok(lost)
}

/// Waits until the kernel has destroyed the namespaces deleted before (its
/// `cleanup_net` work holds the RTNL lock that every attach needs): the
/// count of `net_namespace` objects stops falling for 300 ms. At most
/// `max`.
pub fn settle(max: Duration) -> Duration {
    let count = || -> Option<u64> {
        let s = std::fs::read_to_string("/proc/slabinfo").ok()?;
        s.lines().find(|l| l.starts_with("net_namespace ")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
    };
    let t = Instant::now();
    let mut last = count();
    let mut still = Instant::now();
    while t.elapsed() < max {
        std::thread::sleep(Duration::from_millis(50));
        let now = count();
        if now != last {
            last = now;
            still = Instant::now();
        } else if still.elapsed() >= Duration::from_millis(300) {
            break;
        }
    }
    t.elapsed()
}

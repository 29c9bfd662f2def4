//! `compare`: floatip side by side with what users run today, in one run on
//! one machine (the project's issue 6). See `docs/performance.md`.
//!
//! ```text
//! compare [--pods N] [--reps R] [--scale S] [--announce-ips A] [--smoke]
//!         [--out DIR] [--methods a,b,...] [--floatip-python PY]
//!         [--pyroute2-python PY] [--worker worker.py] [--strict]
//!         [--teardown-reps T] [--paired-reps P] [--shared-run-netns]
//! ```
//!
//! For `--reps` repetitions, every method sets up `--pods` pods (each in
//! its own namespace, the host side in a namespace too), the kernel state
//! is dumped and compared with the first method's, and the pods are torn
//! down: one by one with the method itself in the first `--teardown-reps`
//! repetitions (teardown waits for RCU and is slow), with one untimed
//! `detach_many` after that. Methods are interleaved: each repetition runs
//! every method once, starting with a different one each time, so machine
//! noise hits all of them alike. Then floatip is set up alternately with the
//! floor, and the Python binding with floatip, pod by pod (`--paired-reps`),
//! for the two ratios whose targets sit near 1. Then floatip alone attaches
//! `--scale` pods on one host (the cost curve), detaches them one by one,
//! attaches them again and detaches them with one `detach_many`, and a
//! third time (the target takes the per-pod median of the three passes);
//! one announcement round for
//! `--announce-ips` addresses is timed; and the pieces floatip adds to the
//! floor are timed. Results go to `DIR/results.json` (`DIR` is
//! `target/compare` by default); `plot.py` draws them.
//!
//! The process runs in a mount namespace of its own with a tmpfs on
//! `/run/netns` (see `lab::private_run_netns`; `--shared-run-netns` uses the
//! machine's `/run/netns` instead).
//!
//! `compare churn ...` runs the churn comparison instead (`churn.rs`,
//! `compare churn --help`).
//!
//! Exit status: 0 when every method ran and all states matched, 1 when a
//! method failed or the states differ, and with `--strict` also when a
//! performance target was missed.

mod churn;
mod floor;
mod lab;
mod methods;
mod state;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use floatip::announce::{AnnounceOptions, Announcer, ArpMode};
use floatip::floating::{FloatingIp, NetnsRef};
use floatip_benches::harness::{self, median, repo_root, Argv};
use serde_json::{json, Value};

use lab::{check_stop, pods, settle, Lab, Pod};
use methods::{floatip_spec, FloatipRust, IpBatch, Method, PyWorker, Recipe};
use state::Snapshot;

/// Every method, in table order.
const ALL: &[&str] = &["recipe", "ip-batch", "pyroute2", "floatip", "floatip-py", "floor", "floor-min"];

struct Args {
    pods: usize,
    reps: usize,
    teardown_reps: usize,
    paired_reps: usize,
    scale: usize,
    announce_ips: usize,
    smoke: bool,
    strict: bool,
    shared_run_netns: bool,
    out: PathBuf,
    methods: Vec<String>,
    floatip_python: PathBuf,
    pyroute2_python: PathBuf,
    worker: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let root = repo_root();
    let mut a = Args {
        pods: 200,
        reps: 12,
        teardown_reps: 5,
        paired_reps: 5,
        scale: 1000,
        announce_ips: 1000,
        smoke: false,
        strict: false,
        shared_run_netns: false,
        out: root.join("target/compare"),
        methods: ALL.iter().map(|s| s.to_string()).collect(),
        floatip_python: root.join(".venv/bin/python"),
        pyroute2_python: root.join("target/compare/venv/bin/python"),
        worker: root.join("benches/compare/worker.py"),
    };
    let (mut pods, mut reps, mut scale, mut teardown_reps, mut paired_reps) = (None, None, None, None, None);
    let mut argv = Argv::new(std::env::args().skip(1));
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--pods" => pods = Some(argv.num(&arg)?),
            "--reps" => reps = Some(argv.num(&arg)?),
            "--teardown-reps" => teardown_reps = Some(argv.num(&arg)?),
            "--paired-reps" => paired_reps = Some(argv.num(&arg)?),
            "--scale" => scale = Some(argv.num(&arg)?),
            "--announce-ips" => a.announce_ips = argv.num(&arg)?,
            "--smoke" => a.smoke = true,
            "--strict" => a.strict = true,
            "--shared-run-netns" => a.shared_run_netns = true,
            "--out" => a.out = argv.path(&arg)?,
            "--methods" => a.methods = argv.value(&arg)?.split(',').map(str::to_owned).collect(),
            "--floatip-python" => a.floatip_python = argv.path(&arg)?,
            "--pyroute2-python" => a.pyroute2_python = argv.path(&arg)?,
            "--worker" => a.worker = argv.path(&arg)?,
            "-h" | "--help" => harness::help(include_str!("main.rs")),
            other => return Err(format!("unknown argument {other} (see --help)")),
        }
    }
    if a.smoke {
        a.announce_ips = a.announce_ips.min(100);
    }
    a.pods = pods.unwrap_or(if a.smoke { 5 } else { 200 });
    a.reps = reps.unwrap_or(if a.smoke { 1 } else { 12 });
    a.teardown_reps = teardown_reps.unwrap_or(if a.smoke { 1 } else { 5 }).min(a.reps);
    a.paired_reps = paired_reps.unwrap_or(if a.smoke { 1 } else { 5 });
    a.scale = scale.unwrap_or(if a.smoke { 20 } else { 1000 });
    if a.pods == 0 || a.reps == 0 {
        return Err("--pods and --reps must be at least 1".into());
    }
    for m in &a.methods {
        if !ALL.contains(&m.as_str()) {
            return Err(format!("unknown method {m}; methods: {}", ALL.join(",")));
        }
    }
    if !a.methods.iter().any(|m| m == "floatip") {
        return Err("the floatip method is the reference of every ratio: keep it in --methods".into());
    }
    Ok(a)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// What one method measured: per repetition, per pod, in µs.
#[derive(Default)]
struct Measured {
    setup: Vec<Vec<f64>>,
    teardown: Vec<Vec<f64>>,
}

impl Measured {
    /// Median over repetitions of the mean per pod.
    fn setup_us(&self) -> f64 {
        median(&self.setup.iter().map(|r| mean(r)).collect::<Vec<_>>())
    }
    fn teardown_us(&self) -> f64 {
        median(&self.teardown.iter().map(|r| mean(r)).collect::<Vec<_>>())
    }
    /// Per pod k, the median over repetitions.
    fn per_pod(reps: &[Vec<f64>]) -> Vec<f64> {
        let n = reps.iter().map(Vec::len).min().unwrap_or(0);
        (0..n).map(|k| median(&reps.iter().map(|r| r[k]).collect::<Vec<_>>())).collect()
    }
}

struct Slot {
    name: &'static str,
    method: Option<Box<dyn Method>>,
    skipped: Option<String>,
    measured: Measured,
}

fn start_methods(a: &Args, lab: &Lab) -> Result<Vec<Slot>, String> {
    let mut slots = Vec::new();
    // The in-process methods (floatip and the floors) run on one thread
    // that lives in the host namespace, as one agent would: when they
    // alternate pod by pod, neither gets a CPU or a warm cache of its own.
    let agent = std::rc::Rc::new(lab::NsThread::new(&lab.host.ns));
    for &name in ALL {
        if !a.methods.iter().any(|m| m == name) {
            continue;
        }
        let host = &lab.host.name;
        let started: Result<Box<dyn Method>, String> = match name {
            "recipe" => Ok(Box::new(Recipe::new(lab::NsThread::new(&lab.host.ns)))),
            "ip-batch" => Ok(Box::new(IpBatch::new(lab::NsThread::new(&lab.host.ns)))),
            "pyroute2" => PyWorker::start("pyroute2", &a.pyroute2_python, &a.worker, "pyroute2", host, None)
                .map(|w| Box::new(w) as Box<dyn Method>),
            "floatip" => FloatipRust::new(agent.clone(), &lab.host.ns).map(|f| Box::new(f) as Box<dyn Method>),
            // Started inside the host namespace, as an agent runs there.
            "floatip-py" => PyWorker::start(
                "floatip-py",
                &a.floatip_python,
                &a.worker,
                "floatip",
                host,
                Some(&lab::NsThread::new(&lab.host.ns)),
            )
            .map(|w| Box::new(w) as Box<dyn Method>),
            "floor" => floor::Floor::new(agent.clone(), false).map(|f| Box::new(f) as Box<dyn Method>),
            "floor-min" => floor::Floor::new(agent.clone(), true).map(|f| Box::new(f) as Box<dyn Method>),
            _ => unreachable!("checked in parse_args"),
        };
        match started {
            Ok(m) => slots.push(Slot { name, method: Some(m), skipped: None, measured: Measured::default() }),
            // The binding may not be built yet: report it, run the rest.
            Err(e) if name == "floatip-py" => {
                println!("floatip-py: skipped: {e}");
                slots.push(Slot { name, method: None, skipped: Some(e), measured: Measured::default() });
            }
            Err(e) => return Err(format!("{name}: cannot start: {e}")),
        }
    }
    Ok(slots)
}

/// Sets up `pods` with `m`, returning the time of each (µs).
fn setup_all(m: &mut dyn Method, pods: &[Pod]) -> Result<Vec<f64>, String> {
    let mut v = Vec::with_capacity(pods.len());
    for p in pods {
        check_stop()?;
        v.push(us(m.setup(p).map_err(|e| format!("{} setup of pod {}: {e}", m.name(), p.k))?));
    }
    Ok(v)
}

fn teardown_all(m: &mut dyn Method, pods: &[Pod]) -> Result<Vec<f64>, String> {
    let mut v = Vec::with_capacity(pods.len());
    for p in pods {
        check_stop()?;
        v.push(us(m.teardown(p).map_err(|e| format!("{} teardown of pod {}: {e}", m.name(), p.k))?));
    }
    Ok(v)
}

/// The interleaved repetitions, with a state check after every setup.
fn run_reps(a: &Args, lab: &Lab, slots: &mut [Slot]) -> Result<(), String> {
    let all = pods(a.pods);
    let settle_max = Duration::from_secs(if a.smoke { 2 } else { 20 });
    // Warm-up: two pods per method, unrecorded (first-time paths, caches,
    // the shared sysctls' first write).
    let warm = &all[..a.pods.min(2)];
    for s in slots.iter_mut() {
        if let Some(m) = s.method.as_mut() {
            setup_all(m.as_mut(), warm)?;
            teardown_all(m.as_mut(), warm)?;
        }
    }
    let mut reference: Option<(&'static str, Snapshot)> = None;
    let active: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].method.is_some()).collect();
    for rep in 0..a.reps {
        for j in 0..active.len() {
            let i = active[(j + rep) % active.len()];
            let s = &mut slots[i];
            let m = s.method.as_mut().expect("active");
            settle(settle_max);
            let t = Instant::now();
            let setup = setup_all(m.as_mut(), &all)?;
            let took = t.elapsed();
            let snap = state::snapshot(lab, &all)?;
            match &reference {
                None => reference = Some((s.name, snap)),
                Some((rname, rsnap)) => {
                    if *rsnap != snap {
                        let dir = &a.out;
                        let _ = std::fs::write(dir.join(format!("state-{rname}.txt")), lines(rsnap));
                        let _ = std::fs::write(dir.join(format!("state-{}.txt", s.name)), lines(&snap));
                        let (only_ref, only_this) = state::diff(rsnap, &snap, 12);
                        return Err(format!(
                            "kernel state after {} differs from after {rname} (full dumps in {}/state-*.txt)\n  only after {rname}:\n    {}\n  only after {}:\n    {}",
                            s.name,
                            dir.display(),
                            only_ref.join("\n    "),
                            s.name,
                            only_this.join("\n    ")
                        ));
                    }
                }
            }
            settle(settle_max);
            if rep < a.teardown_reps {
                let t2 = Instant::now();
                let teardown = teardown_all(m.as_mut(), &all)?;
                println!(
                    "rep {:>2}/{} {:<10} setup {:>7.0} µs/pod  teardown {:>7.0} µs/pod  (state ok; {:.1} s + {:.1} s)",
                    rep + 1,
                    a.reps,
                    s.name,
                    mean(&setup),
                    mean(&teardown),
                    took.as_secs_f64(),
                    t2.elapsed().as_secs_f64()
                );
                s.measured.teardown.push(teardown);
            } else {
                reset(lab, &all)?;
                m.forget_pods()?;
                println!(
                    "rep {:>2}/{} {:<10} setup {:>7.0} µs/pod  (state ok; {:.1} s; reset with detach_many)",
                    rep + 1,
                    a.reps,
                    s.name,
                    mean(&setup),
                    took.as_secs_f64()
                );
            }
            s.measured.setup.push(setup);
        }
    }
    Ok(())
}

/// Removes `pods` whoever set them up (every method uses the same names),
/// quickly: one `detach_many`, untimed. Used where only setup is measured.
/// Checks that it left no rule and no route in table T behind.
fn reset(lab: &Lab, pods: &[Pod]) -> Result<(), String> {
    let host = NetnsRef::Name(lab.host.name.clone());
    let specs: Vec<FloatingIp> =
        pods.iter().map(|p| floatip_spec(p, host.clone())).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    FloatingIp::detach_many(&specs).map_err(|e| format!("reset: detach_many: {e}"))?;
    no_policy_left(lab).map_err(|e| format!("reset (detach_many of {} pods): {e}", pods.len()))
}

/// `Err` naming them when the host has a rule of floatip's protocol or
/// with an `iif` (either family), or a route in table T: what a removal
/// of every pod must not leave behind.
fn no_policy_left(lab: &Lab) -> Result<(), String> {
    let h = lab.host.handle();
    let e = |x: floatip::Error| x.to_string();
    let mut left = Vec::new();
    for v4 in [true, false] {
        for r in h.rules(v4).map_err(e)? {
            if r.protocol == lab::PROTO || r.iif.is_some() {
                left.push(format!("rule {r}"));
            }
        }
    }
    let t = lab::table();
    for r in h.routes(floatip::RouteFilter::default().ipv4(Some(true)).table(Some(t))).map_err(e)? {
        left.push(format!("route {} table {t}", r.dst));
    }
    match left.len() {
        0 => Ok(()),
        n => Err(format!("{n} left behind: {}", left.iter().take(6).cloned().collect::<Vec<_>>().join("; "))),
    }
}

/// Setup of two methods alternated pod by pod (pod 2k with one, 2k+1 with
/// the other, who goes first alternating too), so that machine noise hits
/// both alike even at the scale of a millisecond: the measurement for the
/// ratios whose targets sit near 1. Per repetition the ratio of the mean
/// setup times; the median over repetitions.
fn run_paired(a: &Args, lab: &Lab, slots: &mut [Slot], x: &str, y: &str) -> Result<Value, String> {
    let find = |n: &str| slots.iter().position(|s| s.name == n && s.method.is_some());
    let (Some(ix), Some(iy)) = (find(x), find(y)) else {
        return Ok(Value::Null);
    };
    let mut mx = slots[ix].method.take().expect("active");
    let mut my = slots[iy].method.take().expect("active");
    let settle_max = Duration::from_secs(if a.smoke { 2 } else { 20 });
    let r = (|| -> Result<Value, String> {
        let mut ratios = Vec::new();
        let (mut all_x, mut all_y) = (Vec::new(), Vec::new());
        for rep in 0..a.paired_reps {
            settle(settle_max);
            let (mut tx, mut ty) = (Vec::new(), Vec::new());
            let mut made = Vec::new();
            for k in 0..a.pods {
                check_stop()?;
                let (px, py) = (Pod::new(2 * k), Pod::new(2 * k + 1));
                let mut one = |m: &mut Box<dyn Method>, p: &Pod| -> Result<f64, String> {
                    let d = m.setup(p).map_err(|e| format!("{} setup of pod {}: {e}", m.name(), p.k))?;
                    made.push(p.clone());
                    Ok(us(d))
                };
                if (k + rep) % 2 == 0 {
                    tx.push(one(&mut mx, &px)?);
                    ty.push(one(&mut my, &py)?);
                } else {
                    ty.push(one(&mut my, &py)?);
                    tx.push(one(&mut mx, &px)?);
                }
            }
            reset(lab, &made)?;
            mx.forget_pods()?;
            my.forget_pods()?;
            ratios.push(mean(&tx) / mean(&ty));
            println!(
                "paired {}/{}: {x} {:.0} µs/pod, {y} {:.0} µs/pod, ratio {:.3}",
                rep + 1,
                a.paired_reps,
                mean(&tx),
                mean(&ty),
                mean(&tx) / mean(&ty)
            );
            all_x.push(mean(&tx));
            all_y.push(mean(&ty));
        }
        Ok(json!({
            "x": x, "y": y, "pods": a.pods, "repetitions": a.paired_reps,
            "x_setup_us_per_rep": all_x, "y_setup_us_per_rep": all_y,
            "ratio_per_rep": ratios, "ratio": median(&ratios),
        }))
    })();
    slots[ix].method = Some(mx);
    slots[iy].method = Some(my);
    r
}

fn lines(s: &Snapshot) -> String {
    s.iter().map(|l| format!("{l}\n")).collect()
}

/// floatip at scale: the attach curve over `n` pods on one host, one-by-one
/// detach, and `detach_many`.
fn run_scale(a: &Args, lab: &Lab) -> Result<Value, String> {
    let n = a.scale;
    let settle_max = Duration::from_secs(if a.smoke { 2 } else { 60 });
    let all = pods(n);
    let mut f = FloatipRust::new(std::rc::Rc::new(lab::NsThread::new(&lab.host.ns)), &lab.host.ns)?;
    let attach_curve = |f: &mut FloatipRust| -> Result<Vec<f64>, String> {
        settle(settle_max);
        setup_all(f, &all)
    };
    let curve_a = attach_curve(&mut f)?;
    settle(settle_max);
    let one_by_one = teardown_all(&mut f, &all)?;
    let after_one = settle(settle_max);
    let curve_b = attach_curve(&mut f)?;
    settle(settle_max);
    let bulk = f.detach_many(&all)?;
    let after_bulk = settle(settle_max);
    // Nothing may be left: no pod namespace, no host veth.
    let left_ns = lab::delete_pod_namespaces();
    let left_links =
        lab.host.handle().links().map_err(|e| e.to_string())?.iter().filter(|l| l.name.starts_with("vh")).count();
    if left_ns > 0 || left_links > 0 {
        return Err(format!("detach_many left {left_ns} pod namespaces and {left_links} host veths behind"));
    }
    no_policy_left(lab).map_err(|e| format!("detach_many of {n} pods: {e}"))?;
    // A third pass, the same again. A pass takes a few seconds, and a burst
    // of other work on this shared machine during one of them tilts that
    // pass's curve (seen: +25% over the last 300 pods of one pass, none in
    // the next); the per-pod median over three passes is what the target
    // is judged on, each pass's own ratio is reported too.
    let curve_c = attach_curve(&mut f);
    let reset_c = reset(lab, &all);
    let (curve_c, ()) = (curve_c?, reset_c?);
    // A control pass without policy routing and anti-spoofing (no rules,
    // no table T): how much of the curve's rise the host's rules make.
    // Reported, not a target.
    f.rules = false;
    let curve_ctl = attach_curve(&mut f);
    let reset_ctl = reset(lab, &all);
    let (curve_ctl, ()) = (curve_ctl?, reset_ctl?);
    f.rules = true;
    settle(settle_max);
    let curve_m: Vec<f64> = (0..n).map(|k| median(&[curve_a[k], curve_b[k], curve_c[k]])).collect();
    let window = (n / 10).clamp(1, 100);
    let first = |c: &[f64]| mean(&c[..window.min(c.len())]);
    let last = |c: &[f64]| mean(&c[c.len().saturating_sub(window)..]);
    let bulk_per_pod = us(bulk) / n as f64;
    let obo = mean(&one_by_one);
    println!(
        "scale {n} pods: attach, per-pod median of 3 passes: first {window} {:.0} µs, last {window} {:.0} µs \
         ({:.3}x; the passes alone {:.3}x, {:.3}x, {:.3}x)",
        first(&curve_m),
        last(&curve_m),
        last(&curve_m) / first(&curve_m),
        last(&curve_a) / first(&curve_a),
        last(&curve_b) / first(&curve_b),
        last(&curve_c) / first(&curve_c)
    );
    println!(
        "scale {n} pods, control pass without rules (policy_routing and anti_spoofing off): first {window} {:.0} µs, \
         last {window} {:.0} µs ({:.3}x)",
        first(&curve_ctl),
        last(&curve_ctl),
        last(&curve_ctl) / first(&curve_ctl)
    );
    println!(
        "detach {n} pods: one by one {obo:.0} µs/pod, detach_many {bulk_per_pod:.0} µs/pod ({:.3}x); \
         kernel background work after: {:.1} s wall / {:.1} s CPU (one by one), {:.1} s wall / {:.1} s CPU (bulk)",
        bulk_per_pod / obo,
        after_one.waited.as_secs_f64(),
        after_one.busy.as_secs_f64(),
        after_bulk.waited.as_secs_f64(),
        after_bulk.busy.as_secs_f64()
    );
    Ok(json!({
        "pods": n,
        "window": window,
        "attach_us": curve_a,
        "attach_second_pass_us": curve_b,
        "attach_last_over_first": last(&curve_a) / first(&curve_a),
        "attach_second_pass_last_over_first": last(&curve_b) / first(&curve_b),
        "attach_third_pass_us": curve_c,
        "attach_third_pass_last_over_first": last(&curve_c) / first(&curve_c),
        "attach_median_us": curve_m,
        "attach_median_first_mean_us": first(&curve_m),
        "attach_median_last_mean_us": last(&curve_m),
        "attach_median_last_over_first": last(&curve_m) / first(&curve_m),
        "attach_without_rules_us": curve_ctl,
        "attach_without_rules_last_over_first": last(&curve_ctl) / first(&curve_ctl),
        "detach_one_by_one_us": one_by_one,
        "detach_one_by_one_mean_us": obo,
        "detach_many_total_us": us(bulk),
        "detach_many_per_pod_us": bulk_per_pod,
        "bulk_over_one_by_one": bulk_per_pod / obo,
        "background_after_one_by_one": {"wall_s": after_one.waited.as_secs_f64(), "cpu_s": after_one.busy.as_secs_f64()},
        "background_after_bulk": {"wall_s": after_bulk.waited.as_secs_f64(), "cpu_s": after_bulk.busy.as_secs_f64()},
    }))
}

/// The lifecycle verbs at scale (`--scale` pods): `Host::list` of them
/// all; the watcher repairing an uplink flap (20 flaps: from link up until
/// every proxy entry is back, and the sink then reaching a pod); and
/// `Host::gc` of them all as orphans against removing the same objects one
/// by one (link del and proxy del per pod).
fn run_lifecycle(a: &Args, lab: &Lab) -> Result<Value, String> {
    let n = a.scale;
    let err = |e: floatip::Error| e.to_string();
    let all = pods(n);
    let mut f = FloatipRust::new(std::rc::Rc::new(lab::NsThread::new(&lab.host.ns)), &lab.host.ns)?;
    let host = floatip::Host::open(NetnsRef::Name(lab.host.name.clone())).map_err(err)?;
    let h = lab.host.handle();
    let uplink = h.link_get(lab::UPLINK).map_err(err)?.index;
    let costs_before = policy_costs(&h)?;
    // The first pod alone, pinged from the LAN; then all of them, and the
    // same pod pinged again: what the host's rules add to a forwarded
    // packet (the request from the LAN walks every pod rule, the reply
    // from pod 0 only its own).
    setup_all(&mut f, &all[..1])?;
    let rtt_before = ping_rtt_us(lab, all[0].ip);
    setup_all(&mut f, &all[1..])?;
    let rtt_after = ping_rtt_us(lab, all[0].ip);
    // The last pod's reply walks every other pod's first rule before its own.
    let rtt_last = ping_rtt_us(lab, all[n - 1].ip);
    let costs_after = policy_costs(&h)?;
    let mut list_us = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let l = host.list().map_err(err)?;
        list_us.push(us(t.elapsed()));
        let complete = l.iter().filter(|x| x.state == floatip::floating::AttachmentState::Complete).count();
        if complete != n {
            return Err(format!("list: {complete} of {n} attachments complete"));
        }
    }
    let proxies = |h: &floatip::Handle| h.neigh_proxies(Some(uplink)).map(|v| v.len()).map_err(err);
    let watcher = host.watch().map_err(err)?;
    let mut repair_us = Vec::new();
    for flap in 0..20 {
        h.link_set_down(uplink).map_err(err)?;
        h.link_set_up(uplink).map_err(err)?;
        let t = Instant::now();
        while proxies(&h)? < n {
            if t.elapsed() > Duration::from_secs(10) {
                return Err(format!("flap {flap}: proxy entries not back after 10 s"));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        repair_us.push(us(t.elapsed()));
        let pod = all[flap % n].ip.to_string();
        let ok = lab.sink.exec(&["ping", "-c", "1", "-W", "2", &pod]).status.success();
        if !ok {
            return Err(format!("flap {flap}: the sink cannot reach {pod} after the repair"));
        }
    }
    let report = watcher.stop().map_err(err)?;
    let watcher_us: Vec<f64> = report.latencies.iter().map(|d| us(*d)).collect();
    // GC of every attachment as an orphan (no valid one)...
    let t = Instant::now();
    let removed = host.gc([]).map_err(err)?;
    let gc = t.elapsed();
    if proxies(&h)? != 0 || removed.is_empty() {
        return Err("gc left proxy entries".into());
    }
    no_policy_left(lab).map_err(|e| format!("gc of {n} orphans: {e}"))?;
    lab::delete_pod_namespaces();
    // ... against removing the same objects one by one: the veth, its
    // three rules, the proxy entry, and table T's routes after the last.
    setup_all(&mut f, &all)?;
    let table = lab::table();
    let rules: Vec<Vec<floatip::Rule>> = all
        .iter()
        .map(|p| {
            let (from, prio) = (floatip::IpPrefix::host(IpAddr::V4(p.ip)), lab::RULE_PRIORITY);
            vec![
                floatip::Rule::lookup(prio, floatip::route::TABLE_MAIN)
                    .from(from)
                    .iif(p.host_if.as_str())
                    .suppress_prefixlength(0)
                    .protocol(lab::PROTO),
                floatip::Rule::lookup(prio + 1, table).from(from).iif(p.host_if.as_str()).protocol(lab::PROTO),
                floatip::Rule::blackhole(prio + 2).iif(p.host_if.as_str()).protocol(lab::PROTO),
            ]
        })
        .collect();
    let table_routes = h.routes(floatip::RouteFilter::default().ipv4(Some(true)).table(Some(table))).map_err(err)?;
    let t = Instant::now();
    for (p, rules) in all.iter().zip(&rules) {
        let l = h.link_get(p.host_if.as_str()).map_err(err)?;
        h.link_del(l.index).map_err(err)?;
        for r in rules {
            h.rule_del(r).map_err(err)?;
        }
        h.neigh_proxy_del(uplink, IpAddr::V4(p.ip)).map_err(err)?;
    }
    for r in &table_routes {
        h.route_del(r).map_err(err)?;
    }
    let one_by_one = t.elapsed();
    no_policy_left(lab).map_err(|e| format!("one-by-one removal of {n} pods: {e}"))?;
    lab::delete_pod_namespaces();
    settle(Duration::from_secs(if a.smoke { 2 } else { 60 }));
    let mx = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    println!(
        "policy rules: {} before the pods, {} with {n}: IPv4 rule dump (each detach makes one, under the table lock) {:.0} µs -> {:.0} µs; \
         route lookup through the rules (RTM_GETROUTE fibmatch, as attach's conflict check; every forwarded \
         packet walks the same list) {:.1} µs -> {:.1} µs",
        costs_before.rules,
        costs_after.rules,
        costs_before.rule_dump_us,
        costs_after.rule_dump_us,
        costs_before.lookup_us,
        costs_after.lookup_us
    );
    match (&rtt_before, &rtt_after, &rtt_last) {
        (Ok(b), Ok(a), Ok(l)) => println!(
            "ping from the LAN (2,000 echoes, no interval; mean RTT): pod 0 {b:.1} µs with 1 pod, {a:.1} µs with {n}; \
             pod {} {l:.1} µs",
            n - 1
        ),
        (b, a, l) => println!(
            "ping from the LAN: not measured ({:?} / {:?} / {:?})",
            b.as_ref().err(),
            a.as_ref().err(),
            l.as_ref().err()
        ),
    }
    println!(
        "lifecycle {n} pods: list {:.2} ms (median of 5); flap repair {:.1} ms median, {:.1} ms max over 20 (watcher: {} passes, {} repairs, pass latency median {:.1} ms); gc of {n} orphans {:.1} ms against {:.1} ms one by one ({:.3}x)",
        median(&list_us) / 1e3,
        median(&repair_us) / 1e3,
        mx(&repair_us) / 1e3,
        report.passes,
        report.repairs,
        median(&watcher_us) / 1e3,
        us(gc) / 1e3,
        us(one_by_one) / 1e3,
        us(gc) / us(one_by_one)
    );
    Ok(json!({
        "pods": n,
        "ping_rtt_us": {"pod0_one_pod": rtt_before.ok(), "pod0_all_pods": rtt_after.ok(), "last_pod_all_pods": rtt_last.ok()},
        "policy_costs": {
            "before": {"rules": costs_before.rules, "rule_dump_us": costs_before.rule_dump_us, "lookup_us": costs_before.lookup_us},
            "after": {"rules": costs_after.rules, "rule_dump_us": costs_after.rule_dump_us, "lookup_us": costs_after.lookup_us},
        },
        "list_us": list_us,
        "list_median_us": median(&list_us),
        "flap_repair_us": repair_us,
        "flap_repair_median_us": median(&repair_us),
        "flap_repair_max_us": mx(&repair_us),
        "watcher": {"passes": report.passes, "repairs": report.repairs, "overruns": report.overruns, "latency_us": watcher_us},
        "gc_us": us(gc),
        "one_by_one_us": us(one_by_one),
        "gc_over_one_by_one": us(gc) / us(one_by_one),
    }))
}

/// What the host's policy rules cost as they grow with the pods.
struct PolicyCosts {
    /// IPv4 rules on the host.
    rules: usize,
    /// One dump of them (median of 20), what each detach does twice.
    rule_dump_us: f64,
    /// One route lookup through them (median of 2,000 `RTM_GETROUTE`
    /// fibmatch requests for an address of the LAN that no pod has).
    lookup_us: f64,
}

/// The mean round trip of 2,000 pings without interval from the sink (the
/// LAN) to `ip`, from `ping`'s summary.
fn ping_rtt_us(lab: &Lab, ip: Ipv4Addr) -> Result<f64, String> {
    let ip = ip.to_string();
    let out = lab.sink.exec(&["ping", "-q", "-n", "-c", "2000", "-i", "0", "-W", "1", &ip]);
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("ping {ip}: {} {}", text.trim(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    // rtt min/avg/max/mdev = 0.031/0.045/0.210/0.010 ms
    let line = text.lines().find(|l| l.contains("min/avg/max")).ok_or("ping: no summary")?;
    let avg = line.split('=').nth(1).and_then(|v| v.trim().split('/').nth(1)).ok_or("ping: bad summary")?;
    avg.parse::<f64>().map(|ms| ms * 1e3).map_err(|e| format!("ping: {e}: {line}"))
}

fn policy_costs(h: &floatip::Handle) -> Result<PolicyCosts, String> {
    let err = |e: floatip::Error| e.to_string();
    let mut rules = 0;
    let mut dumps = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        rules = h.rules(true).map_err(err)?.len();
        dumps.push(us(t.elapsed()));
    }
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 250, 1));
    let mut lookups = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        h.route_get_fibmatch(ip).map_err(err)?;
        lookups.push(us(t.elapsed()));
    }
    Ok(PolicyCosts { rules, rule_dump_us: median(&dumps), lookup_us: median(&lookups) })
}

/// One announcement round (a gratuitous ARP request and reply per IP) for
/// `n` addresses from the uplink, and `arping` per address for contrast.
fn run_announce(a: &Args, lab: &Lab) -> Result<Value, String> {
    let n = a.announce_ips;
    if n == 0 {
        return Ok(Value::Null);
    }
    let ips: Vec<IpAddr> = (0..n as u32).map(|i| IpAddr::V4(Ipv4Addr::from(0x0a00_1000 + i))).collect();
    let ann = Announcer::new(&lab.host.ns, lab::UPLINK).map_err(|e| e.to_string())?;
    let opts = AnnounceOptions::default().count(1).arp(ArpMode::Both);
    let rounds = if a.smoke { 3 } else { 30 };
    let mut t = Vec::new();
    for i in 0..rounds + 3 {
        let s = Instant::now();
        let frames = ann.send_round(&ips, &opts).map_err(|e| e.to_string())?;
        if frames != 2 * n as u64 {
            return Err(format!("announce sent {frames} frames for {n} IPs"));
        }
        if i >= 3 {
            t.push(us(s.elapsed()));
        }
    }
    let round = median(&t);
    // arping as the write-up announces (`arping -c 2 -A -I UPLINK IP`): one
    // process per address, inside the host namespace, with the
    // ip_nonlocal_bind=1 it needs there. It sends its two replies a second
    // apart, so a few addresses suffice (none in a smoke run).
    let arping = if netlab::have("arping") && !a.smoke {
        let host = lab::NsThread::new(&lab.host.ns);
        let key = floatip::SysctlKey::parse("net.ipv4.ip_nonlocal_bind").map_err(|e| e.to_string())?;
        let old = lab.host.ns.sysctl_replace(&key, "1").map_err(|e| e.to_string())?;
        let count = 3;
        let per_ip = host.run(move || -> Result<Vec<f64>, String> {
            let mut v = Vec::new();
            for i in 0..count {
                let ip = format!("10.0.32.{}", i + 1);
                let s = Instant::now();
                let st = std::process::Command::new("arping")
                    .args(["-q", "-c", "2", "-A", "-I", lab::UPLINK, &ip])
                    .status()
                    .map_err(|e| format!("arping: {e}"))?;
                if !st.success() {
                    return Err(format!("arping {ip}: {st}"));
                }
                v.push(us(s.elapsed()));
            }
            Ok(v)
        });
        lab.host.ns.sysctl_set(&key, &old).map_err(|e| e.to_string())?;
        Some(median(&per_ip?))
    } else {
        None
    };
    println!(
        "announce {n} IPs, one round ({} frames): {round:.0} µs ({:.0} IPs/s){}",
        2 * n,
        n as f64 / (round / 1e6),
        match arping {
            Some(x) => format!("; arping -c 2 -A per IP: {:.2} s each, {:.0} s for {n}", x / 1e6, x * n as f64 / 1e6),
            None => "; arping not run".into(),
        }
    );
    Ok(json!({
        "ips": n,
        "frames": 2 * n,
        "round_us": round,
        "ips_per_s": n as f64 / (round / 1e6),
        "arping_per_ip_us": arping,
    }))
}

/// What the pieces around floatip's requests cost, each timed over many
/// calls: a `FloatingIp` verb opens the host side per call (`Host::open`:
/// the caller's namespace, the host namespace, a netlink socket), a kept
/// `Host` checks where the calling thread is (a readlink); entering a
/// namespace to open a socket or a sysctl, against doing it from a thread
/// that lives there (as the floor and an agent's `Host` do).
fn run_breakdown(lab: &Lab, iters: usize) -> Result<Value, String> {
    use floatip::{Handle, Netns, SysctlKey};
    let each = move |f: &mut dyn FnMut() -> Result<(), String>| -> Result<f64, String> {
        let t = Instant::now();
        for _ in 0..iters {
            f()?;
        }
        Ok(us(t.elapsed()) / iters as f64)
    };
    let e = |x: floatip::Error| x.to_string();
    let host = &lab.host.name;
    let hns = Netns::open(host).map_err(e)?;
    let key = SysctlKey::ipv4_forward();
    let cur = each(&mut || Netns::current().map(drop).map_err(e))?;
    let open = each(&mut || Netns::open(host).map(drop).map_err(e))?;
    let handle = each(&mut || Handle::in_netns(&hns).map(drop).map_err(e))?;
    let sysctl = each(&mut || hns.sysctl_replace(&key, "1").map(drop).map_err(e))?;
    // What each `FloatingIp` verb pays to open the host side, and what a
    // verb of a kept `Host` pays instead: one readlink to learn where the
    // calling thread is.
    let host_open = each(&mut || floatip::Host::open(NetnsRef::Name(host.clone())).map(drop).map_err(e))?;
    let thread_check =
        each(&mut || std::fs::read_link("/proc/thread-self/ns/net").map(drop).map_err(|x| x.to_string()))?;
    let inside = lab::NsThread::new(&lab.host.ns);
    let (raw_socket, raw_sysctl) = inside.run(move || -> Result<(f64, f64), String> {
        use std::os::unix::fs::FileExt;
        let sock = each(&mut || {
            let mut s = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE).map_err(|x| x.to_string())?;
            s.bind_auto().map(drop).map_err(|x| x.to_string())
        })?;
        let sysctl = each(&mut || {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/proc/sys/net/ipv4/ip_forward")
                .map_err(|x| x.to_string())?;
            let mut b = [0u8; 16];
            f.read_at(&mut b, 0).map(drop).map_err(|x| x.to_string())
        })?;
        Ok((sock, sysctl))
    })?;
    println!(
        "pieces (µs per call): Netns::current {cur:.1}, Netns::open {open:.1}, Handle::in_netns {handle:.1} \
         (a bare socket inside the namespace {raw_socket:.1}), sysctl_replace {sysctl:.1} (open+pread inside \
         {raw_sysctl:.1}); Host::open {host_open:.1} (per FloatingIp verb), thread check {thread_check:.1} (per Host verb)"
    );
    Ok(json!({
        "iterations": iters,
        "netns_current_us": cur,
        "netns_open_us": open,
        "handle_in_netns_us": handle,
        "bare_socket_inside_us": raw_socket,
        "sysctl_replace_us": sysctl,
        "bare_sysctl_read_inside_us": raw_sysctl,
        "host_open_us": host_open,
        "thread_check_us": thread_check,
    }))
}

/// One performance target: `value <= limit`.
struct Target {
    what: String,
    value: f64,
    limit: f64,
}

fn report(
    a: &Args,
    slots: &[Slot],
    paired: &[Value],
    scale: &Value,
    lifecycle: &Value,
    announce: &Value,
    breakdown: &Value,
) -> Result<Vec<Target>, String> {
    let get = |name: &str| slots.iter().find(|s| s.name == name && s.skipped.is_none() && !s.measured.setup.is_empty());
    let f = get("floatip").ok_or("floatip did not run")?;
    let (fs, ft) = (f.measured.setup_us(), f.measured.teardown_us());
    println!();
    println!(
        "{} pods; median over repetitions ({} for setup, {} for teardown) of the mean per pod:",
        a.pods, a.reps, a.teardown_reps
    );
    println!("| method | setup µs/pod | × floatip | teardown µs/pod | × floatip |");
    println!("|---|---:|---:|---:|---:|");
    let mut methods = serde_json::Map::new();
    for s in slots {
        if let Some(why) = &s.skipped {
            println!("| {} | skipped | | | |", s.name);
            methods.insert(s.name.into(), json!({"skipped": why}));
            continue;
        }
        let (su, tu) = (s.measured.setup_us(), s.measured.teardown_us());
        println!("| {} | {su:.0} | {:.2} | {tu:.0} | {:.2} |", s.name, su / fs, tu / ft);
        methods.insert(
            s.name.into(),
            json!({
                "setup_us_per_pod": su,
                "teardown_us_per_pod": tu,
                "setup_over_floatip": su / fs,
                "teardown_over_floatip": tu / ft,
                "setup_us_per_rep": s.measured.setup.iter().map(|r| mean(r)).collect::<Vec<_>>(),
                "teardown_us_per_rep": s.measured.teardown.iter().map(|r| mean(r)).collect::<Vec<_>>(),
                "setup_us_by_pod": Measured::per_pod(&s.measured.setup),
                "teardown_us_by_pod": Measured::per_pod(&s.measured.teardown),
                "pods": a.pods,
                "repetitions": s.measured.setup.len(),
                "teardown_repetitions": s.measured.teardown.len(),
            }),
        );
    }
    let mut targets = Vec::new();
    let mut ratio = |what: &str, num: f64, den: Option<f64>, limit: f64| {
        if let Some(d) = den {
            targets.push(Target { what: what.into(), value: num / d, limit });
        }
    };
    let setup_of = |n: &str| get(n).map(|s| s.measured.setup_us());
    ratio("setup: floatip / ip-batch", fs, setup_of("ip-batch"), 0.35);
    ratio("setup: floatip / pyroute2", fs, setup_of("pyroute2"), 0.35);
    ratio("setup: floatip / recipe", fs, setup_of("recipe"), 0.05);
    // The two targets near 1 are judged on the paired measurement (pod by
    // pod alternation) when it ran: block-to-block noise on a shared
    // 2-core machine is larger than their margin.
    let paired_ratio =
        |x: &str, y: &str| paired.iter().find(|p| p["x"] == x && p["y"] == y).and_then(|p| p["ratio"].as_f64());
    match paired_ratio("floatip", "floor") {
        Some(r) => ratio("setup: floatip / floor (paired)", r, Some(1.0), 1.1),
        None => ratio("setup: floatip / floor", fs, setup_of("floor"), 1.1),
    }
    match (paired_ratio("floatip-py", "floatip"), setup_of("floatip-py")) {
        (Some(r), _) => ratio("setup: floatip-py / floatip (paired)", r, Some(1.0), 1.1),
        (None, Some(py)) => ratio("setup: floatip-py / floatip", py, Some(fs), 1.1),
        (None, None) => {}
    }
    if let Some(x) = scale.get("bulk_over_one_by_one").and_then(Value::as_f64) {
        ratio("teardown: detach_many / one-by-one detach", x, Some(1.0), 0.1);
    }
    if let Some(x) = scale.get("attach_median_last_over_first").and_then(Value::as_f64) {
        let n = scale["pods"].as_u64().unwrap_or(0);
        let w = scale["window"].as_u64().unwrap_or(0);
        ratio(&format!("attach at scale: last {w} / first {w} of {n} (median of 3 passes)"), x, Some(1.0), 1.15);
    }
    if let Some(x) = lifecycle.get("list_median_us").and_then(Value::as_f64) {
        let n = lifecycle["pods"].as_u64().unwrap_or(0);
        // 20 ms for 1,000 attachments, in proportion for fewer.
        ratio(&format!("list of {n} attachments, ms"), x / 1e3, Some(1.0), 20.0 * n.max(1) as f64 / 1000.0);
    }
    if let Some(x) = lifecycle.get("flap_repair_max_us").and_then(Value::as_f64) {
        ratio("reconcile: uplink flap to repaired, max of 20, ms", x / 1e3, Some(1.0), 100.0);
    }
    if let Some(x) = lifecycle.get("gc_over_one_by_one").and_then(Value::as_f64) {
        ratio("gc of orphans / one-by-one removal", x, Some(1.0), 0.1);
    }
    println!();
    println!("| target | measured | limit | |");
    println!("|---|---:|---:|---|");
    for t in &targets {
        println!(
            "| {} | {:.3} | {:.2} | {} |",
            t.what,
            t.value,
            t.limit,
            if t.value <= t.limit { "met" } else { "NOT met" }
        );
    }
    let results = json!({
        "pods": a.pods,
        "repetitions": a.reps,
        "teardown_repetitions": a.teardown_reps,
        "smoke": a.smoke,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "methods": methods,
        "paired": paired,
        "scale": scale,
        "lifecycle": lifecycle,
        "announce": announce,
        "breakdown": breakdown,
        "targets": targets.iter().map(|t| json!({"what": t.what, "value": t.value, "limit": t.limit, "met": t.value <= t.limit})).collect::<Vec<_>>(),
    });
    let path = a.out.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results).unwrap() + "\n")
        .map_err(|e| format!("write {}: {e}", path.display()))?;
    println!("\nwrote {}", path.display());
    Ok(targets)
}

fn run(a: &Args) -> Result<Vec<Target>, String> {
    std::fs::create_dir_all(&a.out).map_err(|e| format!("create {}: {e}", a.out.display()))?;
    let lab = Lab::new();
    println!("lab: host netns {}, sink netns {}", lab.host.name, lab.sink.name);
    let r = run_in(a, &lab);
    if r.is_err() && !Path::new("/run/netns").join(&lab.host.name).exists() {
        // Without its name the host namespace lives on (the harness holds
        // it open), but nothing can find it by name any more.
        eprintln!(
            "compare: /run/netns/{} was deleted under the running harness: something swept \
             the fipbench-* namespaces of a live process",
            lab.host.name
        );
    }
    r
}

fn run_in(a: &Args, lab: &Lab) -> Result<Vec<Target>, String> {
    let mut slots = start_methods(a, lab)?;
    run_reps(a, lab, &mut slots)?;
    let mut paired = Vec::new();
    if a.paired_reps > 0 {
        for (x, y) in [("floatip", "floor"), ("floatip-py", "floatip")] {
            let p = run_paired(a, lab, &mut slots, x, y)?;
            if !p.is_null() {
                paired.push(p);
            }
        }
    }
    // The Python workers and the shell threads are done: stop them before
    // the floatip-only phases.
    for s in slots.iter_mut() {
        s.method = None;
    }
    let scale = if a.scale > 0 { run_scale(a, lab)? } else { Value::Null };
    let lifecycle = if a.scale > 0 { run_lifecycle(a, lab)? } else { Value::Null };
    let announce = run_announce(a, lab)?;
    let breakdown = run_breakdown(lab, if a.smoke { 20 } else { 500 })?;
    report(a, &slots, &paired, &scale, &lifecycle, &announce, &breakdown)
}

/// Prints floatip's warnings and errors to stderr, with the time since the
/// start (the watcher reports a failed reconcile pass only this way).
struct StderrLog(Instant);

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!("[{:9.3} s {}] {}", self.0.elapsed().as_secs_f64(), r.level(), r.args());
        }
    }
    fn flush(&self) {}
}

fn main() -> ExitCode {
    let _ =
        log::set_boxed_logger(Box::new(StderrLog(Instant::now()))).map(|()| log::set_max_level(log::LevelFilter::Warn));
    if let Err(code) = lab::require_root("compare") {
        return code;
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("churn") {
        return churn::main(&argv[1..]);
    }
    let a = match lab::start("compare", parse_args(), |a| a.shared_run_netns) {
        Ok(a) => a,
        Err(code) => return code,
    };
    match run(&a) {
        Ok(targets) => {
            let missed = targets.iter().filter(|t| t.value > t.limit).count();
            if a.strict && missed > 0 {
                eprintln!("compare: {missed} target(s) not met");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compare: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

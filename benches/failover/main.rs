//! `failover`: a node fails and its pods come back on another node, side
//! by side for the ways of announcing the move (issue 15, item 1). Run by
//! `benches/failover.sh` (and so by `make compare`); see the section
//! "Failover at scale" of `docs/announce.md`.
//!
//! ```text
//! failover [--pods N] [--scale] [--sweep N,N,...] [--methods a,b,...]
//!          [--reps R] [--sample S] [--aging-max A] [--bound SECS]
//!          [--recipe-bound SECS] [--no-announce-bound SECS]
//!          [--smoke] [--out DIR] [--shared-run-netns]
//! ```
//!
//! Every run builds a LAN of its own (`scenario.rs`): hostA holds N pods,
//! the peer's and the gateway's entries name hostA, hostA's uplink goes
//! down, and one method attaches the N pods on hostB, each pod's namespace
//! created by the attach. From the first attach (t0) it measures when each
//! pod became reachable from the peer (its attach returned and the peer's
//! entry names hostB), the time until every pod is (convergence), and, for
//! a sample of pods, the peer's echoes lost before the first reply.
//!
//! Methods: `floatip` (a kept `Host`, one announcement round per attach),
//! `floatip-3rounds` (the default three rounds), `floatip-Tthreads` (one
//! `Host`, T threads of the agent attaching at once), `recipe` (the write-up:
//! per pod, attach without announcing, then `arping -c 2 -A -I up0 IP`
//! with `ip_nonlocal_bind=1`, waited for), `recipe-parallel` (the same
//! arpings, not waited for), `no-announce` (floatip without announcing:
//! the peer finds the pods when its entries age out; cut off at
//! `--no-announce-bound`, 60 s).
//!
//! `--pods N` (200) for the side by side, `--reps R` (3) repetitions of
//! the fast methods (all but the recipe and no-announce), the
//! median reported; then floatip and recipe-parallel alone at every N of
//! `--sweep` (50,100,200) for the curve against N. `--scale`: N = 1,000,
//! sweep 50,100,200,500,1000, the recipe cut off at 300 s (it takes ~2 s
//! per pod). `--smoke`: N = 8, one repetition, a short no-announce bound:
//! a check (about half a minute) that the code paths run; exits non-zero
//! when floatip or the recipe did not converge.
//!
//! Results: `DIR/failover.json` (`DIR` is `target/compare`); `plot.py`
//! draws them. The process runs in a mount namespace of its own with a
//! tmpfs on `/run/netns`, as `compare` does.

// The comparison's lab: the private /run/netns, the signal handling, the
// start every harness shares.
#[allow(dead_code)]
#[path = "../compare/lab.rs"]
mod lab;
mod neigh;
mod prober;
mod scenario;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use floatip_benches::harness::{self, median, repo_root, Argv};
use serde_json::{json, Value};

use scenario::{Config, Method, Run};

struct Args {
    pods: usize,
    sweep: Vec<usize>,
    methods: Vec<Method>,
    reps: usize,
    sample: usize,
    aging_max: usize,
    bound: Duration,
    recipe_bound: Duration,
    no_announce_bound: Duration,
    smoke: bool,
    scale: bool,
    shared_run_netns: bool,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let root = repo_root();
    let mut argv = Argv::new(std::env::args().skip(1));
    let (mut pods, mut sweep, mut methods, mut reps, mut recipe_bound, mut na_bound) =
        (None, None, None, None, None, None);
    let mut a = Args {
        pods: 200,
        sweep: vec![],
        methods: vec![],
        reps: 3,
        sample: 32,
        aging_max: 200,
        bound: Duration::from_secs(60),
        recipe_bound: Duration::ZERO,
        no_announce_bound: Duration::ZERO,
        smoke: false,
        scale: false,
        shared_run_netns: false,
        out: root.join("target/compare"),
    };
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--pods" => pods = Some(argv.num(&arg)?),
            "--sweep" => {
                sweep = Some(
                    argv.value(&arg)?
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| harness::num(s, &arg))
                        .collect::<Result<Vec<_>, _>>()?,
                )
            }
            "--methods" => {
                let v = argv.value(&arg)?;
                methods = Some(
                    v.split(',')
                        .map(|m| Method::parse(m).ok_or_else(|| format!("unknown method {m}")))
                        .collect::<Result<Vec<_>, _>>()?,
                )
            }
            "--reps" => reps = Some(argv.num(&arg)?),
            "--sample" => a.sample = argv.num(&arg)?,
            "--aging-max" => a.aging_max = argv.num(&arg)?,
            "--bound" => a.bound = argv.secs(&arg)?,
            "--recipe-bound" => recipe_bound = Some(argv.secs(&arg)?),
            "--no-announce-bound" => na_bound = Some(argv.secs(&arg)?),
            "--smoke" => a.smoke = true,
            "--scale" => a.scale = true,
            "--shared-run-netns" => a.shared_run_netns = true,
            "--out" => a.out = argv.path(&arg)?,
            "-h" | "--help" => harness::help(include_str!("main.rs")),
            other => return Err(format!("unknown argument {other} (see --help)")),
        }
    }
    a.pods = pods.unwrap_or(if a.smoke {
        8
    } else if a.scale {
        1000
    } else {
        200
    });
    a.reps = reps.unwrap_or(if a.smoke { 1 } else { 3 }).max(1);
    a.sweep = sweep.unwrap_or(if a.smoke {
        vec![4]
    } else if a.scale {
        vec![50, 100, 200, 500, 1000]
    } else {
        vec![50, 100, 200]
    });
    a.methods = methods.unwrap_or_else(|| {
        ["floatip", "floatip-3rounds", "floatip-2threads", "recipe-parallel", "no-announce", "recipe"]
            .iter()
            .filter(|m| !a.smoke || **m != "floatip-3rounds")
            .map(|m| Method::parse(m).expect("known"))
            .collect()
    });
    // The recipe takes ~2 s per pod: its bound by default leaves it room
    // to finish up to 200 pods, and cuts it at 300 s at scale.
    a.recipe_bound = recipe_bound.unwrap_or_else(|| {
        let full = Duration::from_secs_f64(30.0 + 2.5 * a.pods as f64);
        if a.scale {
            full.min(Duration::from_secs(300))
        } else {
            full.min(Duration::from_secs(900))
        }
    });
    a.no_announce_bound = na_bound.unwrap_or(Duration::from_secs(if a.smoke { 2 } else { 60 }));
    if a.pods == 0 || a.pods > 10_000 || a.sweep.iter().any(|&n| n == 0 || n > 10_000) {
        return Err("pods: 1..=10000".into());
    }
    if !a.methods.contains(&Method::Floatip { rounds: 1 }) {
        return Err("the floatip method is the reference of every ratio: keep it in --methods".into());
    }
    Ok(a)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

fn opt_ms(d: Option<Duration>) -> Value {
    d.map_or(Value::Null, |d| json!(ms(d)))
}

/// A run's figures, printed and kept.
fn summarize(r: &Run) -> Value {
    let reach: Vec<f64> = r.reachable.iter().flatten().map(|d| ms(*d)).collect();
    let after_attach: Vec<f64> = r
        .pods
        .iter()
        .zip(&r.reachable)
        .filter_map(|(&k, reach)| Some(ms(reach.as_ref()?.saturating_sub(r.attached[k]?))))
        .collect();
    let attached = r.attached.iter().flatten().count();
    let first_attach = r.attached.first().copied().flatten();
    let lost: Vec<f64> = r
        .sample_first_reply
        .iter()
        .zip(&r.sample_echoes_before)
        .filter(|(f, _)| f.is_some())
        .map(|(_, s)| f64::from(*s))
        .collect();
    let sample_reply: Vec<f64> = r.sample_first_reply.iter().flatten().map(|d| ms(*d)).collect();
    // The sample's first reply against the pod's reachable time from the
    // events and the attach: the difference is the probe period plus the
    // round trip when the two agree.
    let lag: Vec<f64> = r
        .sample
        .iter()
        .zip(&r.sample_first_reply)
        .filter_map(|(k, f)| {
            let i = r.pods.iter().position(|p| p == k)?;
            Some(ms(*f.as_ref()?) - ms(*r.reachable[i].as_ref()?))
        })
        .collect();
    let conv = r.convergence();
    json!({
        "method": r.method,
        "pods": r.n,
        "measured_pods": r.pods.len(),
        "bound_ms": ms(r.bound),
        "converged": conv.is_some(),
        "convergence_ms": opt_ms(conv),
        "reachable_count": reach.len(),
        "attached": attached,
        "first_attach_ms": opt_ms(first_attach),
        "attach_end_ms": opt_ms(r.attach_end),
        "after_last_attach_ms": match (conv, r.attach_end) { (Some(c), Some(a)) => json!(ms(c.saturating_sub(a))), _ => Value::Null },
        "unreachable_since_t0_ms": {"median": median(&reach), "max": max(&reach)},
        "unreachable_after_own_attach_ms": {"median": median(&after_attach), "max": max(&after_attach)},
        "sample": {
            "pods": r.sample,
            "replied": sample_reply.len(),
            "first_reply_ms": r.sample_first_reply.iter().map(|d| opt_ms(*d)).collect::<Vec<_>>(),
            "echoes_before_reply": r.sample_echoes_before,
            "echoes_lost_median": median(&lost),
            "echoes_lost_max": max(&lost),
            "first_reply_minus_reachable_ms": {"median": median(&lag), "max": max(&lag)},
        },
        "reachable_ms": r.reachable.iter().map(|d| opt_ms(*d)).collect::<Vec<_>>(),
        "peer_entry_switched_ms": r.switched.iter().map(|d| opt_ms(*d)).collect::<Vec<_>>(),
        "measured": r.pods,
        "attached_ms": r.attached.iter().map(|d| opt_ms(*d)).collect::<Vec<_>>(),
        "peer_entries_naming_hostB": r.peer_naming_b,
        "gw_entries_naming_hostB": r.gw_naming_b,
        "gw_entries_absent": r.gw_absent,
        "deleted_before_switch": r.deleted_before_switch,
        "event_overruns": r.event_overruns,
        "verified_answering": r.verified,
        "arping_failed": r.arping_failed,
        "arp_table": {"entries_at_end": r.arp.entries, "of_which_extern_learn": r.exempt, "forced_gc_runs": r.arp.forced_gc_runs, "table_fulls": r.arp.table_fulls},
        "other_entries_age": r.bulk_ages,
        "seeded_before_t0_ms": ms(r.seeded_before),
    })
}

fn f(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.is_finite() => format!("{x:.0}"),
        _ => "-".into(),
    }
}

fn line(s: &Value) -> String {
    let conv = if s["converged"].as_bool() == Some(true) {
        f(&s["convergence_ms"])
    } else {
        format!("> {} ({} of {})", f(&s["bound_ms"]), s["reachable_count"], s["measured_pods"])
    };
    format!(
        "| {} | {} | {} | {} | {} / {} | {} / {} | {} / {} | {}/{} | {}/{} | {} |",
        s["method"].as_str().unwrap_or("?"),
        s["pods"],
        conv,
        f(&s["attach_end_ms"]),
        f(&s["unreachable_since_t0_ms"]["median"]),
        f(&s["unreachable_since_t0_ms"]["max"]),
        f(&s["unreachable_after_own_attach_ms"]["median"]),
        f(&s["unreachable_after_own_attach_ms"]["max"]),
        f(&s["sample"]["echoes_lost_median"]),
        f(&s["sample"]["echoes_lost_max"]),
        s["peer_entries_naming_hostB"],
        s["pods"],
        s["gw_entries_naming_hostB"],
        s["pods"],
        s["verified_answering"].as_u64().map_or("-".into(), |v| v.to_string()),
    )
}

const HEADER: &str = "| method | N | convergence ms | attach of all ms | per pod since t0 ms: median / max | \
                      after its attach ms: median / max | sample echoes lost: median / max | peer → hostB | \
                      gw → hostB | answering after |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn run_all(a: &Args) -> Result<(Value, bool), String> {
    std::fs::create_dir_all(&a.out).map_err(|e| format!("create {}: {e}", a.out.display()))?;
    let started = Instant::now();
    let load_start = loadavg();
    let mut run_no = 0;
    let mut one = |m: Method, n: usize| -> Result<Value, String> {
        lab::check_stop()?;
        run_no += 1;
        let bound = match m {
            Method::Recipe => a.recipe_bound,
            Method::NoAnnounce => a.no_announce_bound,
            _ => a.bound,
        };
        // The sample's echo period: fine where convergence takes
        // milliseconds, coarser for the methods that take seconds.
        let period = Duration::from_millis(match m {
            Method::Recipe | Method::NoAnnounce => 20,
            _ => 2,
        });
        let cfg = Config { n, sample: a.sample, aging_max: a.aging_max, bound, period, run: run_no };
        let settled = scenario::settle(Duration::from_secs(30));
        let t = Instant::now();
        let r = scenario::run(m, &cfg).map_err(|e| format!("{} with {n} pods: {e}", m.name()))?;
        let s = summarize(&r);
        println!("{}   ({:.1} s, settled {:.1} s before)", line(&s), t.elapsed().as_secs_f64(), settled.as_secs_f64());
        Ok(s)
    };
    println!(
        "failover: N = {}, sample {} pods, methods {}, load average {load_start}",
        a.pods,
        a.sample.min(a.pods),
        a.methods.iter().map(Method::name).collect::<Vec<_>>().join(",")
    );
    println!("{HEADER}");
    // The side by side at N: the fast methods repeated, interleaved.
    let mut runs: Vec<Value> = Vec::new();
    for rep in 0..a.reps {
        for m in &a.methods {
            let fast = !matches!(m, Method::Recipe | Method::NoAnnounce);
            if rep == 0 || fast {
                let mut s = one(*m, a.pods)?;
                s["repetition"] = json!(rep);
                runs.push(s);
            }
        }
    }
    // The curve against N.
    let mut sweep: Vec<Value> = Vec::new();
    for &n in a.sweep.iter().filter(|&&n| n != a.pods) {
        for m in [Method::Floatip { rounds: 1 }, Method::RecipeParallel] {
            if a.methods.contains(&m) {
                let mut s = one(m, n)?;
                s["repetition"] = json!(0);
                sweep.push(s);
            }
        }
    }
    // Per method at N: the median of its repetitions' convergence (an
    // unconverged run counts as its bound), and that repetition's figures.
    let mut by_method = serde_json::Map::new();
    for m in &a.methods {
        let mine: Vec<&Value> = runs.iter().filter(|s| s["method"] == m.name()).collect();
        let conv: Vec<f64> = mine
            .iter()
            .map(|s| s["convergence_ms"].as_f64().unwrap_or_else(|| s["bound_ms"].as_f64().unwrap_or(f64::NAN)))
            .collect();
        let med = median(&conv);
        let pick = mine.iter().zip(&conv).min_by(|a, b| (a.1 - med).abs().total_cmp(&(b.1 - med).abs()));
        let all_converged = mine.iter().all(|s| s["converged"] == true);
        by_method.insert(
            m.name(),
            json!({
                "convergence_ms_per_rep": conv,
                "convergence_ms_median": med,
                "all_converged": all_converged,
                "median_run": pick.map(|p| (*p.0).clone()),
            }),
        );
    }
    let conv_of = |name: &str| by_method.get(name).and_then(|v| v["convergence_ms_median"].as_f64());
    let converged = |name: &str| by_method.get(name).is_some_and(|v| v["all_converged"] == true);
    let fl = conv_of("floatip").unwrap_or(f64::NAN);
    println!();
    println!("N = {}: time to convergence, median over repetitions (ms):", a.pods);
    for (name, v) in &by_method {
        let c = v["convergence_ms_median"].as_f64().unwrap_or(f64::NAN);
        let bound = if v["all_converged"] == true { "" } else { " (not converged: the bound)" };
        println!("  {name:<16} {c:>10.0}{bound}   per repetition {}", v["convergence_ms_per_rep"]);
    }
    let mut ratios = serde_json::Map::new();
    for other in ["recipe", "recipe-parallel", "no-announce", "floatip-3rounds"] {
        if let Some(c) = conv_of(other) {
            // Against a method cut off at its bound the ratio is an upper
            // bound: the method needs longer than that.
            let upper = !converged(other);
            ratios.insert(format!("floatip/{other}"), json!({"ratio": fl / c, "upper_bound": upper}));
            println!("  floatip / {other:<16} {:.5}{}", fl / c, if upper { " (at most: it was cut off)" } else { "" });
        }
    }
    // The recipe's own pace, for the time it would need for all N.
    let recipe_estimate = by_method.get("recipe").and_then(|v| {
        let r = &v["median_run"];
        let done = r["reachable_count"].as_f64()?;
        let last = r["reachable_ms"].as_array()?.iter().filter_map(Value::as_f64).fold(0.0, f64::max);
        (done > 1.0).then(|| last / done * r["measured_pods"].as_f64().unwrap_or(0.0))
    });
    if let (Some(est), false) = (recipe_estimate, converged("recipe")) {
        println!("  recipe, at its pace: ~{:.0} s for all {} (floatip / that {:.5})", est / 1e3, a.pods, fl / est);
    }
    // The targets (issue 15): at 1,000 pods, ≤ 2 s from the first attach
    // and ≤ 1/100 of the recipe's time.
    let mut targets = Vec::new();
    let fl_converged = converged("floatip");
    targets.push(json!({"what": format!("floatip: convergence of {} pods, ms", a.pods), "value": fl, "limit": 2000.0,
        "applies": a.pods >= 1000, "met": fl_converged && fl <= 2000.0}));
    if let Some(c) = conv_of("recipe") {
        targets.push(json!({"what": "floatip / recipe", "value": fl / c, "limit": 0.01,
            "applies": a.pods >= 1000, "met": fl_converged && fl / c <= 0.01, "upper_bound": !converged("recipe")}));
    }
    println!();
    for t in &targets {
        println!(
            "target {}: {:.4} (limit {}) {}{}",
            t["what"].as_str().unwrap_or(""),
            t["value"].as_f64().unwrap_or(f64::NAN),
            t["limit"],
            if t["met"] == true { "met" } else { "NOT met" },
            if t["applies"] == true { "" } else { " (the target is for N = 1,000)" }
        );
    }
    let mut curve: Vec<Value> = Vec::new();
    for s in sweep.iter().chain(runs.iter().filter(|s| s["repetition"] == 0)) {
        curve.push(json!({"method": s["method"], "pods": s["pods"], "convergence_ms": s["convergence_ms"],
            "converged": s["converged"], "bound_ms": s["bound_ms"], "attach_end_ms": s["attach_end_ms"]}));
    }
    let smoke_ok = fl_converged && (!by_method.contains_key("recipe") || converged("recipe"));
    let results = json!({
        "date": std::process::Command::new("date").arg("-u").arg("+%Y-%m-%dT%H:%M:%SZ").output().ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()),
        "pods": a.pods,
        "sample": a.sample.min(a.pods),
        "aging_max": a.aging_max,
        "repetitions": a.reps,
        "smoke": a.smoke,
        "scale": a.scale,
        "bounds_ms": {"default": ms(a.bound), "recipe": ms(a.recipe_bound), "no_announce": ms(a.no_announce_bound)},
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "load_average": {"start": load_start, "end": loadavg()},
        "wall_s": started.elapsed().as_secs_f64(),
        "methods": by_method,
        "ratios": ratios,
        "recipe_estimate_ms": recipe_estimate,
        "targets": targets,
        "curve": curve,
        "runs": runs,
        "sweep": sweep,
    });
    let path = a.out.join("failover.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results).unwrap() + "\n")
        .map_err(|e| format!("write {}: {e}", path.display()))?;
    println!("\nwrote {} ({:.0} s in all)", path.display(), started.elapsed().as_secs_f64());
    Ok((results, smoke_ok))
}

fn main() -> ExitCode {
    if let Err(code) = lab::require_root("failover") {
        return code;
    }
    let a = match lab::start("failover", parse_args(), |a| a.shared_run_netns) {
        Ok(a) => a,
        Err(code) => return code,
    };
    match run_all(&a) {
        Ok((_, ok)) if a.smoke && !ok => {
            eprintln!("failover: FAILED: floatip or the recipe did not converge in the smoke run");
            ExitCode::FAILURE
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("failover: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

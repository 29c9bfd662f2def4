//! The ways to wire a pod that the harness puts side by side. Each one
//! builds the same state (checked by `state.rs`) and reports the time one
//! pod's setup or teardown took, its pod namespace's creation or deletion
//! included.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use std::rc::Rc;
use std::sync::Arc;

use floatip::floating::{FloatingIp, NetnsRef};
use floatip::Host;
use serde_json::{json, Value};

use crate::lab::{self, NsThread, Pod, GATEWAY, UPLINK};

/// One way of wiring pods.
pub trait Method {
    /// Short name, used in the table and in `results.json`.
    fn name(&self) -> &'static str;
    /// Creates the pod namespace and wires the pod; returns the time it took.
    fn setup(&mut self, pod: &Pod) -> Result<Duration, String>;
    /// Removes what setup made, the pod namespace included (and table T's
    /// routes with the last pod).
    fn teardown(&mut self, pod: &Pod) -> Result<Duration, String>;
    /// The harness removed every pod this method set up (one `detach_many`,
    /// which also emptied table T): a method that counts its pods to know
    /// which one is the last starts again from none.
    fn forget_pods(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// How many of its pods a method has, to know the last one's teardown
/// (which removes table T's routes, as floatip's detach does when no rule
/// looks the table up any more). Counted by the method, as an agent knows
/// its pods, rather than asked of the kernel.
#[derive(Default)]
pub struct Live(usize);

impl Live {
    /// One more pod set up.
    pub fn up(&mut self) {
        self.0 += 1;
    }
    /// One pod fewer; whether it was the last.
    pub fn down(&mut self) -> bool {
        self.0 = self.0.saturating_sub(1);
        self.0 == 0
    }
    /// None left (the harness removed them all).
    pub fn clear(&mut self) {
        self.0 = 0;
    }
    /// Whether there are none (the next setup is the first).
    pub fn none(&self) -> bool {
        self.0 == 0
    }
}

/// Runs `program args` with `input` on stdin; `Err` with its stderr when it
/// fails.
fn run(program: &str, args: &[&str], input: Option<&str>) -> Result<(), String> {
    let mut cmd = Command::new(program);
    cmd.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().map_err(|e| format!("spawn {program}: {e}"))?;
    if let Some(text) = input {
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(text.as_bytes()).map_err(|e| format!("write to {program}: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("wait for {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{program} {}: {}: {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The original write-up's script (`reference/k8s-floatingip-evolution.md`),
/// one `ip` process per step, run by bash inside the host namespace as the
/// write-up runs it on a node: host steps are plain `ip ...`, pod steps
/// `ip netns exec POD ip ...`, sysctls are bash's `echo N > /proc/sys/...`.
/// Added to the write-up so that the final state is floatip's routed mode:
/// `brd +` on the address (floatip sets the broadcast address), the host
/// veth's `proxy_delay=0` before its `proxy_arp=1`, the uplink's
/// `proxy_delay=0` and its proxy entry. Not run: `ip_nonlocal_bind` and
/// `arping` (announcing is measured on its own). The policy routing floatip
/// adds: table T's two routes with `ip route replace` (idempotent: a script
/// does not know whether it runs for the uplink's first pod) and the pod's
/// three rules with `ip rule add`; teardown deletes the rules, and table T's
/// routes with the last pod.
pub struct Recipe {
    host: NsThread,
    live: Live,
}

impl Recipe {
    /// Spawns its scripts from a thread inside the host namespace.
    pub fn new(host: NsThread) -> Recipe {
        Recipe { host, live: Live::default() }
    }

    /// The setup script of one pod.
    pub fn setup_script(pod: &Pod) -> String {
        let (ns, vh, ip, cidr) = (&pod.netns, &pod.host_if, pod.ip, pod.cidr());
        let [r0, r1, r2] = lab::rule_words(pod);
        let [t0, t1] = lab::table_route_words();
        format!(
            "set -e
ip netns add {ns}
ip link add dev {vh} type veth peer name eth0
ip link set dev eth0 netns {ns}
echo 1 > /proc/sys/net/ipv6/conf/{vh}/disable_ipv6
ip link set dev {vh} up
ip netns exec {ns} ip link set dev eth0 up
ip netns exec {ns} ip addr add {cidr} brd + dev eth0
ip link set dev {vh} alias \"{alias}\"
ip route add {ip}/32 dev {vh} proto 70
ip netns exec {ns} ip route add default via {GATEWAY} dev eth0
ip netns exec {ns} ip link set dev lo up
echo 1 > /proc/sys/net/ipv4/ip_forward
echo 0 > /proc/sys/net/ipv4/neigh/{vh}/proxy_delay
echo 1 > /proc/sys/net/ipv4/conf/{vh}/proxy_arp
echo 0 > /proc/sys/net/ipv4/neigh/{UPLINK}/proxy_delay
ip route replace {t0}
ip route replace {t1}
ip rule add {r0}
ip rule add {r1}
ip rule add {r2}
ip neigh add proxy {ip} dev {UPLINK} protocol 70
",
            alias = lab::alias(pod),
        )
    }

    /// The teardown script of one pod (`last`: the uplink's last pod, so
    /// table T's routes go too).
    pub fn teardown_script(pod: &Pod, last: bool) -> String {
        let [r0, r1, r2] = lab::rule_words(pod);
        let mut s = format!(
            "set -e\nip link del dev {}\nip rule del {r0}\nip rule del {r1}\nip rule del {r2}\n\
             ip neigh del proxy {} dev {UPLINK}\nip netns del {}\n",
            pod.host_if, pod.ip, pod.netns
        );
        if last {
            let [t0, t1] = lab::table_route_words();
            s.push_str(&format!("ip route del {t1}\nip route del {t0}\n"));
        }
        s
    }

    fn bash(&self, script: String) -> Result<Duration, String> {
        self.host.run(move || {
            let t = Instant::now();
            run("bash", &["-c", &script], None)?;
            Ok(t.elapsed())
        })
    }
}

impl Method for Recipe {
    fn name(&self) -> &'static str {
        "recipe"
    }
    fn setup(&mut self, pod: &Pod) -> Result<Duration, String> {
        let d = self.bash(Self::setup_script(pod))?;
        self.live.up();
        Ok(d)
    }
    fn teardown(&mut self, pod: &Pod) -> Result<Duration, String> {
        let last = self.live.down();
        self.bash(Self::teardown_script(pod, last))
    }
    fn forget_pods(&mut self) -> Result<(), String> {
        self.live.clear();
        Ok(())
    }
}

/// iproute2 batch mode, its fastest honest use per pod: three processes,
/// all started inside the host namespace.
/// 1. `ip -batch -` (host): `netns add`, the veth with its peer created
///    directly in the pod namespace, host veth up, the /32 route, the
///    uplink's proxy entry;
/// 2. `sh -c 'echo ... > /proc/sys/...'` (host): the four sysctls in one
///    process (`ip` has no sysctl command);
/// 3. `ip -n POD -batch -`: pod veth up, address, default route, `lo` up.
///
/// Table T's routes (`route replace`, idempotent) and the pod's three rules
/// (`rule add`) are in the host batch, before the proxy entry as floatip
/// orders them.
///
/// Teardown is one `ip -batch -`: `link del`, the three `rule del`, `neigh
/// del proxy`, `netns del`, and with the last pod table T's two `route del`.
pub struct IpBatch {
    host: NsThread,
    live: Live,
}

impl IpBatch {
    /// Spawns its processes from a thread inside the host namespace.
    pub fn new(host: NsThread) -> IpBatch {
        IpBatch { host, live: Live::default() }
    }

    /// The three commands of one pod's setup: host batch, sysctl script,
    /// pod batch.
    pub fn setup_commands(pod: &Pod) -> (String, String, String) {
        let (ns, vh, ip, cidr) = (&pod.netns, &pod.host_if, pod.ip, pod.cidr());
        let [r0, r1, r2] = lab::rule_words(pod);
        let [t0, t1] = lab::table_route_words();
        let host = format!(
            "netns add {ns}
link add {vh} type veth peer name eth0 netns {ns}
link set {vh} alias \"{alias}\"
link set {vh} up
route add {ip}/32 dev {vh} proto 70
route replace {t0}
route replace {t1}
rule add {r0}
rule add {r1}
rule add {r2}
neigh add proxy {ip} dev {UPLINK} protocol 70
",
            alias = lab::alias(pod),
        );
        let sysctl = format!(
            "echo 1 > /proc/sys/net/ipv6/conf/{vh}/disable_ipv6 && \
             echo 0 > /proc/sys/net/ipv4/neigh/{vh}/proxy_delay && \
             echo 1 > /proc/sys/net/ipv4/conf/{vh}/proxy_arp && \
             echo 1 > /proc/sys/net/ipv4/ip_forward && \
             echo 0 > /proc/sys/net/ipv4/neigh/{UPLINK}/proxy_delay"
        );
        let pod_batch = format!(
            "link set eth0 up
addr add {cidr} brd + dev eth0
route add default via {GATEWAY} dev eth0
link set lo up
"
        );
        (host, sysctl, pod_batch)
    }
}

impl Method for IpBatch {
    fn name(&self) -> &'static str {
        "ip-batch"
    }
    fn setup(&mut self, pod: &Pod) -> Result<Duration, String> {
        let (host, sysctl, pod_batch) = Self::setup_commands(pod);
        let ns = pod.netns.clone();
        self.host
            .run(move || {
                let t = Instant::now();
                run("ip", &["-batch", "-"], Some(&host))?;
                run("sh", &["-c", &sysctl], None)?;
                run("ip", &["-n", &ns, "-batch", "-"], Some(&pod_batch))?;
                Ok(t.elapsed())
            })
            .inspect(|_| self.live.up())
    }
    fn teardown(&mut self, pod: &Pod) -> Result<Duration, String> {
        let [r0, r1, r2] = lab::rule_words(pod);
        let mut batch = format!(
            "link del {}\nrule del {r0}\nrule del {r1}\nrule del {r2}\nneigh del proxy {} dev {UPLINK}\nnetns del {}\n",
            pod.host_if, pod.ip, pod.netns
        );
        if self.live.down() {
            let [t0, t1] = lab::table_route_words();
            batch.push_str(&format!("route del {t1}\nroute del {t0}\n"));
        }
        self.host.run(move || {
            let t = Instant::now();
            run("ip", &["-batch", "-"], Some(&batch))?;
            Ok(t.elapsed())
        })
    }
    fn forget_pods(&mut self) -> Result<(), String> {
        self.live.clear();
        Ok(())
    }
}

/// The spec floatip wires pod `pod` with: `create_pod_netns`, `.no_announce()`
/// (announcing is measured on its own), the host side in `host`.
pub fn floatip_spec(pod: &Pod, host: NetnsRef) -> floatip::Result<FloatingIp> {
    floatip_spec_with(pod, host, true)
}

/// The same, with (`rules`) or without floatip's policy routing and
/// anti-spoofing (the scale phase's control pass).
pub fn floatip_spec_with(pod: &Pod, host: NetnsRef, rules: bool) -> floatip::Result<FloatingIp> {
    // The same pod key as the Python worker's: a phase may detach with one
    // what it attached with the other.
    FloatingIp::builder(format!("bench/{}", pod.host_if), UPLINK)
        .host_netns(host)
        .create_pod_netns(pod.netns.clone())
        .ipv4(pod.cidr(), GATEWAY)
        .host_ifname(pod.host_if.clone())
        .policy_routing(rules)
        .anti_spoofing(rules)
        .no_announce()
        .build()
}

/// floatip from Rust, used as a node agent uses it: a thread that lives in
/// the host namespace keeps one [`Host`] (`Host::current()`), and per pod
/// builds the spec (host side: the current namespace) and calls
/// `host.attach`. Timed: build + attach, and `host.detach`.
pub struct FloatipRust {
    thread: Rc<NsThread>,
    host: Arc<Host>,
    specs: HashMap<usize, FloatingIp>,
    /// Policy routing and anti-spoofing on (floatip's defaults); off only
    /// in the scale phase's control pass.
    pub rules: bool,
}

impl FloatipRust {
    /// Opens the `Host` on `thread`, which lives in `host_ns`.
    pub fn new(thread: Rc<NsThread>, host_ns: &floatip::Netns) -> Result<FloatipRust, String> {
        let want = host_ns.inode().map_err(|e| e.to_string())?;
        let host = thread.run(move || -> Result<Arc<Host>, String> {
            let host = Host::current().map_err(|e| e.to_string())?;
            // Never wire pods from anywhere but the lab's host namespace.
            if host.netns().inode().map_err(|e| e.to_string())? != want {
                return Err("the floatip thread is not in the lab's host namespace".into());
            }
            Ok(Arc::new(host))
        })?;
        Ok(FloatipRust { thread, host, specs: HashMap::new(), rules: true })
    }

    /// Removes `pods` with one `host.detach_many`; returns its time.
    pub fn detach_many(&mut self, pods: &[Pod]) -> Result<Duration, String> {
        let specs: Vec<FloatingIp> = pods
            .iter()
            .map(|p| floatip_spec(p, NetnsRef::Current))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let host = self.host.clone();
        self.thread.run(move || {
            let t = Instant::now();
            host.detach_many(&specs).map_err(|e| format!("detach_many: {e}"))?;
            Ok(t.elapsed())
        })
    }
}

impl Method for FloatipRust {
    fn name(&self) -> &'static str {
        "floatip"
    }
    fn setup(&mut self, pod: &Pod) -> Result<Duration, String> {
        let (host, p, rules) = (self.host.clone(), pod.clone(), self.rules);
        let (d, f) = self.thread.run(move || -> Result<(Duration, FloatingIp), String> {
            let t = Instant::now();
            let f = floatip_spec_with(&p, NetnsRef::Current, rules).map_err(|e| e.to_string())?;
            host.attach(&f).map_err(|e| e.to_string())?;
            Ok((t.elapsed(), f))
        })?;
        self.specs.insert(pod.k, f);
        Ok(d)
    }
    fn teardown(&mut self, pod: &Pod) -> Result<Duration, String> {
        let f = match self.specs.remove(&pod.k) {
            Some(f) => f,
            None => floatip_spec(pod, NetnsRef::Current).map_err(|e| e.to_string())?,
        };
        let host = self.host.clone();
        self.thread.run(move || {
            // Until the veth is gone, like every other method's teardown:
            // the detach retires it, the flush waits for the reaper's
            // delete (the churn phase times the detach alone).
            let t = Instant::now();
            host.detach(&f).map_err(|e| e.to_string())?;
            host.flush().map_err(|e| e.to_string())?;
            Ok(t.elapsed())
        })
    }
}

/// A Python process running `worker.py` (pyroute2 or the floatip binding),
/// driven over stdin/stdout with one JSON object per line. The worker times
/// the library calls itself (`time.perf_counter_ns`), so the pipe between
/// the harness and the worker is not counted.
pub struct PyWorker {
    name: &'static str,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl PyWorker {
    /// Starts `python worker.py MODE` for the host namespace `host`, and
    /// waits for its hello (imports done, sockets open). With `inside`, the
    /// process is started from that thread, so in its namespace.
    pub fn start(
        name: &'static str,
        python: &Path,
        worker: &Path,
        mode: &str,
        host: &str,
        inside: Option<&NsThread>,
    ) -> Result<PyWorker, String> {
        let mut cmd = Command::new(python);
        cmd.arg(worker)
            .args([mode, "--host", host, "--uplink", UPLINK, "--gateway", GATEWAY])
            .args(["--subnet", lab::SUBNET, "--table", &lab::table().to_string()])
            .args(["--priority", &lab::RULE_PRIORITY.to_string(), "--proto", &lab::PROTO.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let spawned = match inside {
            Some(t) => t.run(move || cmd.spawn()),
            None => cmd.spawn(),
        };
        let mut child = spawned.map_err(|e| format!("spawn {}: {e}", python.display()))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut w = PyWorker { name, child, stdin, stdout };
        let hello = w.read()?;
        if hello.get("ok") != Some(&Value::Bool(true)) {
            return Err(format!("{name}: {}", hello.get("error").and_then(Value::as_str).unwrap_or("no hello")));
        }
        Ok(w)
    }

    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn read(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).map_err(|e| format!("{}: read: {e}", self.name))?;
        if n == 0 {
            return Err(format!("{}: the worker exited", self.name));
        }
        serde_json::from_str(&line).map_err(|e| format!("{}: bad reply {line:?}: {e}", self.name))
    }

    /// Sends one request and returns the reply.
    pub fn request(&mut self, req: Value) -> Result<Value, String> {
        writeln!(self.stdin, "{req}").map_err(|e| format!("{}: write: {e}", self.name))?;
        self.stdin.flush().map_err(|e| format!("{}: write: {e}", self.name))?;
        let r = self.read()?;
        if r.get("ok") == Some(&Value::Bool(true)) {
            Ok(r)
        } else {
            Err(format!("{}: {}", self.name, r.get("error").and_then(Value::as_str).unwrap_or("failed")))
        }
    }

    fn timed(&mut self, op: &str, pod: &Pod) -> Result<Duration, String> {
        let r = self.request(json!({
            "op": op, "k": pod.k, "netns": pod.netns, "host_if": pod.host_if,
            "ip": pod.ip.to_string(), "prefixlen": crate::lab::PREFIX_LEN,
        }))?;
        let ns = r.get("ns").and_then(Value::as_u64).ok_or_else(|| format!("{}: reply without time", self.name))?;
        Ok(Duration::from_nanos(ns))
    }
}

impl Method for PyWorker {
    fn name(&self) -> &'static str {
        self.name
    }
    fn setup(&mut self, pod: &Pod) -> Result<Duration, String> {
        self.timed("setup", pod)
    }
    fn teardown(&mut self, pod: &Pod) -> Result<Duration, String> {
        self.timed("teardown", pod)
    }
    fn forget_pods(&mut self) -> Result<(), String> {
        self.request(json!({"op": "forget"})).map(drop)
    }
}

impl Drop for PyWorker {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"op": "quit"}));
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! `floatip-cni` (issue 13), run exactly as a runtime runs a CNI plugin:
//! a process per verb, `CNI_*` in its environment, the configuration on
//! stdin, inside the host namespace of the LAN of namespaces (never the
//! root namespace). Debian's reference plugins (`/usr/lib/cni`) are the
//! IPAM and chained plugins, and rootful podman with its CNI backend is the
//! real runtime. Every test asserts state: addresses, routes, rules, MACs,
//! JSON fields.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use floatip::floating::FloatingIp;
use netlab::{have, Lan, TestNs};
use serde_json::{json, Value};

/// The plugin: `floatip-core/src/bin/floatip-cni.rs`, built by this
/// package under the name `fip-cni` so that cargo builds it for these
/// tests (a bin of another package is not built for them), and linked as
/// `floatip-cni` (the network configuration's `type`) into each test's
/// CNI_PATH folder.
const PLUGIN: &str = env!("CARGO_BIN_EXE_fip-cni");
/// Debian's containernetworking-plugins.
const REF: &str = "/usr/lib/cni";
const K8S_ARGS: &str = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0";

fn require_reference_plugins() {
    for p in ["static", "host-local", "portmap", "bandwidth", "tuning"] {
        assert!(
            Path::new(REF).join(p).exists(),
            "{REF}/{p} is missing: `make test` installs containernetworking-plugins (tests/scripts/install-deps.sh)"
        );
    }
}

/// A folder of one test: `bin/` (CNI_PATH's first entry, with
/// `floatip-cni`), host-local's data; removed on drop.
struct Dir {
    path: PathBuf,
}

impl Dir {
    fn new(tag: &str) -> Dir {
        let path = PathBuf::from(format!("/tmp/{}-{}-cni-{tag}", netlab::PREFIX, std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(path.join("bin")).unwrap();
        std::os::unix::fs::symlink(PLUGIN, path.join("bin/floatip-cni")).unwrap();
        Dir { path }
    }
    fn bin(&self) -> PathBuf {
        self.path.join("bin")
    }
    fn cni_path(&self) -> String {
        format!("{}:{REF}", self.bin().display())
    }
    /// An executable script in `bin/`.
    fn script(&self, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.bin().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// What one plugin process did.
#[derive(Debug)]
struct Run {
    status: i32,
    out: Value,
    stdout: String,
    stderr: String,
    ms: f64,
}

impl Run {
    fn ok(self) -> Value {
        assert_eq!(self.status, 0, "plugin failed: {} {}", self.stdout, self.stderr);
        self.out
    }
    /// The CNI error's code, after checking the error JSON's shape.
    fn code(&self) -> u64 {
        assert_ne!(self.status, 0, "expected an error, got {}", self.stdout);
        assert!(self.out["msg"].is_string(), "{}", self.stdout);
        assert!(self.out["cniVersion"].is_string(), "{}", self.stdout);
        self.out["code"].as_u64().unwrap_or_else(|| panic!("no code: {}", self.stdout))
    }
}

/// Runs `exe` as a runtime runs a plugin: in the host namespace `host`,
/// with exactly `env` (and PATH, which chained plugins need for iptables
/// and tc), `stdin` written and closed.
fn exec(host: &TestNs, exe: &Path, env: &[(&str, String)], stdin: &[u8]) -> Run {
    let mut cmd = Command::new("/usr/bin/nsenter");
    cmd.arg(format!("--net=/run/netns/{}", host.name))
        .arg(exe)
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let t = Instant::now();
    let mut child = cmd.spawn().expect("spawn the plugin");
    let mut pipe = child.stdin.take().unwrap();
    let _ = pipe.write_all(stdin);
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let out_json = if stdout.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}"))
    };
    // A plugin killed by a signal: say which (and the verb), not just -1.
    let stderr = match std::os::unix::process::ExitStatusExt::signal(&out.status) {
        Some(sig) => format!(
            "{} [killed by signal {sig}, CNI_COMMAND={}]",
            String::from_utf8_lossy(&out.stderr),
            env.iter().find(|(k, _)| *k == "CNI_COMMAND").map(|(_, v)| v.as_str()).unwrap_or("?")
        ),
        None => String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    Run { status: out.status.code().unwrap_or(-1), out: out_json, stdout, stderr, ms }
}

/// One container's attachment, as a runtime names it.
struct Pod<'a> {
    host: &'a TestNs,
    dir: &'a Dir,
    cid: String,
    ifname: String,
    netns: Option<String>,
    args: Option<String>,
    path: Option<String>,
}

impl<'a> Pod<'a> {
    fn new(host: &'a TestNs, dir: &'a Dir, cid: &str, netns: &TestNs) -> Pod<'a> {
        Pod {
            host,
            dir,
            cid: cid.to_owned(),
            ifname: "eth0".into(),
            netns: Some(format!("/run/netns/{}", netns.name)),
            args: None,
            path: Some(dir.cni_path()),
        }
    }
    fn env(&self, cmd: &str) -> Vec<(&'static str, String)> {
        let mut e = vec![("CNI_COMMAND", cmd.to_owned())];
        if matches!(cmd, "ADD" | "DEL" | "CHECK") {
            e.push(("CNI_CONTAINERID", self.cid.clone()));
            e.push(("CNI_IFNAME", self.ifname.clone()));
        }
        if let (Some(n), true) = (&self.netns, matches!(cmd, "ADD" | "DEL" | "CHECK")) {
            e.push(("CNI_NETNS", n.clone()));
        }
        if let Some(a) = &self.args {
            e.push(("CNI_ARGS", a.clone()));
        }
        if let Some(p) = &self.path {
            e.push(("CNI_PATH", p.clone()));
        }
        e
    }
    fn run(&self, cmd: &str, conf: &Value) -> Run {
        self.run_env(&self.env(cmd), conf.to_string().as_bytes())
    }
    fn run_env(&self, env: &[(&str, String)], stdin: &[u8]) -> Run {
        exec(self.host, &self.dir.bin().join("floatip-cni"), env, stdin)
    }
    fn id(&self) -> String {
        format!("{}/{}", self.cid, self.ifname)
    }
    fn host_veth(&self) -> String {
        FloatingIp::default_host_ifname(&self.id()).to_string()
    }
}

/// A network configuration: one announcement round (the default, 3
/// rounds 1 s apart, is measured once in `add_waits_for_the_default_announcement`).
fn conf(version: &str, extra: Value) -> Value {
    let mut c = json!({
        "cniVersion": version, "name": "floatnet", "type": "floatip-cni", "uplink": "up0",
        "announce": {"rounds": 1},
    });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn static_ipam(ip: &str) -> Value {
    json!({"type": "static", "addresses": [{"address": ip, "gateway": "10.0.0.1"}]})
}

fn with_prev(c: &Value, prev: &Value) -> Value {
    let mut c = c.clone();
    c["prevResult"] = prev.clone();
    c
}

/// The host holds nothing of `veth`/`ip`: no link, /32 route, proxy
/// entry or rule.
/// After DEL: nothing routes to the pod, and its veth, retired as a
/// tombstone, is deleted by the child DEL forked (at once, or soon after).
fn assert_clean(host: &TestNs, veth: &str, ip: &str) {
    let t = std::time::Instant::now();
    loop {
        let out = host.ip_raw(&format!("-j link show dev {veth}"));
        if !out.status.success() {
            break;
        }
        let l: Value = serde_json::from_slice(&out.stdout).unwrap();
        let group = floatip::floating::TOMBSTONE_GROUP.to_string();
        assert_eq!(l[0]["group"].as_str(), Some(group.as_str()), "{veth} is still there, not a tombstone: {l}");
        assert!(!l[0]["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{veth}: a tombstone up: {l}");
        assert!(t.elapsed() < std::time::Duration::from_secs(10), "{veth}: the tombstone was never deleted");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(host.ip_json(&format!("route show {ip}/32")).is_empty(), "route {ip}/32 is still there");
    let proxies = host.ip_json("neigh show proxy");
    assert!(!proxies.iter().any(|p| p["dst"] == ip), "proxy {ip}: {proxies:?}");
    let rules = host.ip_json("rule show");
    assert!(!rules.iter().any(|r| r["iif"] == veth || r["src"] == ip), "rules left: {rules:?}");
}

fn mac_of(ns: &TestNs, dev: &str) -> String {
    ns.ip_json(&format!("link show dev {dev}"))[0]["address"].as_str().unwrap().to_owned()
}

fn addrs_of(ns: &TestNs, dev: &str) -> Vec<String> {
    ns.ip_json(&format!("-4 addr show dev {dev}"))[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect()
}

/// ADD, CHECK, STATUS, DEL, VERSION in each cniVersion, the result's
/// fields checked against the kernel, and the LAN peer pinging the pod.
#[test]
fn every_verb_in_every_version() {
    require_reference_plugins();
    let lan = Lan::new("cniv");
    let dir = Dir::new("verbs");
    for (i, version) in ["0.4.0", "1.0.0", "1.1.0"].into_iter().enumerate() {
        let pod_ns = TestNs::new("cniv-pod");
        let ip = format!("10.0.0.{}", 110 + i);
        let mut pod = Pod::new(&lan.host_a, &dir, &format!("c0ffee{i:02}"), &pod_ns);
        pod.args = Some(K8S_ARGS.into());
        let c = conf(
            version,
            json!({"ipam": static_ipam(&format!("{ip}/23")), "dns": {"nameservers": ["10.0.0.53"], "search": ["lan"]}}),
        );
        let add = pod.run("ADD", &c);
        let add_ms = add.ms;
        let r = add.ok();
        let hv = pod.host_veth();
        assert_eq!(r["cniVersion"], version);
        let ifs = r["interfaces"].as_array().unwrap();
        assert_eq!(ifs.len(), 2, "{r}");
        assert_eq!(ifs[0]["name"], hv.as_str());
        assert_eq!(ifs[0]["mac"], mac_of(&lan.host_a, &hv).as_str(), "host veth MAC");
        assert!(ifs[0].get("sandbox").is_none(), "{r}");
        assert_eq!(ifs[1]["name"], "eth0");
        assert_eq!(ifs[1]["mac"], mac_of(&pod_ns, "eth0").as_str(), "sandbox MAC");
        assert_eq!(ifs[1]["sandbox"], format!("/run/netns/{}", pod_ns.name).as_str());
        let ips = r["ips"].as_array().unwrap();
        assert_eq!(ips.len(), 1, "{r}");
        assert_eq!(ips[0]["address"], format!("{ip}/23").as_str());
        assert_eq!(ips[0]["gateway"], "10.0.0.1");
        assert_eq!(ips[0]["interface"], 1);
        match version {
            "0.4.0" => assert_eq!(ips[0]["version"], "4"),
            _ => assert!(ips[0].get("version").is_none(), "{r}"),
        }
        assert_eq!(r["routes"], json!([{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}]));
        assert_eq!(r["dns"], json!({"nameservers": ["10.0.0.53"], "search": ["lan"]}));
        // The kernel agrees with the result.
        assert_eq!(addrs_of(&pod_ns, "eth0"), vec![format!("{ip}/23")]);
        let def = pod_ns.ip_json("route show default");
        assert_eq!((def[0]["gateway"].as_str(), def[0]["dev"].as_str()), (Some("10.0.0.1"), Some("eth0")));
        let alias = lan.host_a.ip_json(&format!("-d link show dev {hv}"))[0]["ifalias"].as_str().unwrap().to_owned();
        assert!(alias.contains(&format!("id={} ", pod.id())), "{alias}");
        assert!(alias.ends_with("pod=default/web-0"), "pod key from K8S_POD_*: {alias}");
        assert_eq!(lan.host_a.ip_json(&format!("route show {ip}/32"))[0]["protocol"], "70");
        assert!(lan.peer.ping(&ip), "{version}: the peer pings the floating IP");
        pod.run("CHECK", &with_prev(&c, &r)).ok();
        let status = pod.run("STATUS", &c);
        match version {
            "1.1.0" => assert_eq!(status.status, 0, "{}", status.stdout),
            _ => assert_eq!(status.code(), 1, "STATUS needs 1.1.0"),
        }
        let ver = pod.run("VERSION", &json!({"cniVersion": version})).ok();
        assert_eq!(ver, json!({"cniVersion": version, "supportedVersions": ["0.4.0", "1.0.0", "1.1.0"]}));
        let del = pod.run("DEL", &with_prev(&c, &r));
        let del_ms = del.ms;
        assert_eq!(del.status, 0, "{}", del.stdout);
        assert!(del.stdout.is_empty(), "DEL prints nothing: {}", del.stdout);
        assert_clean(&lan.host_a, &hv, &ip);
        assert!(!lan.peer.ping(&ip));
        // DEL again, with an empty prevResult, and without netns and
        // prevResult: still success.
        pod.run("DEL", &with_prev(&c, &r)).ok();
        pod.run("DEL", &with_prev(&c, &json!({"cniVersion": version}))).ok();
        let mut gone = Pod::new(&lan.host_a, &dir, &pod.cid, &pod_ns);
        gone.netns = None;
        gone.run("DEL", &c).ok();
        eprintln!("cni {version}: ADD {add_ms:.1} ms, DEL {del_ms:.1} ms (process per verb, static IPAM exec'd)");
    }
}

/// ADD waits for the announcement rounds before it exits; with floatip's
/// default (3 rounds, 1 s apart) the LAN sees all three before the
/// runtime gets the result.
#[test]
fn add_waits_for_the_default_announcement() {
    require_reference_plugins();
    assert!(have("tcpdump"), "tcpdump is missing: `make test` installs it");
    let lan = Lan::new("cnia");
    let dir = Dir::new("announce");
    let pod_ns = TestNs::new("cnia-pod");
    let pod = Pod::new(&lan.host_a, &dir, "a770cafe", &pod_ns);
    let mut c = conf("1.0.0", json!({"ipam": static_ipam("10.0.0.140/23")}));
    c.as_object_mut().unwrap().remove("announce");
    let cap = netlab::Capture::start(&lan.peer, "lan0", "arp");
    let add = pod.run("ADD", &c);
    let ms = add.ms;
    let r = add.ok();
    // Every frame was on the wire when the process ended: a request and
    // a reply per round.
    let lines = cap.decode_when(|l| l.iter().filter(|l| l.contains("10.0.0.140")).count() >= 6);
    let garps: Vec<&String> =
        lines.iter().filter(|l| l.contains("10.0.0.140") && l.contains(netlab::HOST_A_MAC)).collect();
    assert_eq!(garps.len(), 6, "3 rounds of request + reply: {lines:#?}");
    eprintln!("cni: ADD with the default announcement (3 rounds, 1 s apart): {ms:.0} ms");
    pod.run("DEL", &with_prev(&c, &r)).ok();
}

/// `"conflictProbe": true`: while an old node (hostB) still holds the IP,
/// ADD fails with code 100 naming hostB's MAC and changes nothing on hostA;
/// once hostB lets go, the same ADD succeeds.
#[test]
fn add_with_the_conflict_probe_refuses_a_held_ip() {
    require_reference_plugins();
    let lan = Lan::new("cnip");
    let dir = Dir::new("probe");
    let old_ns = TestNs::new("cnip-old");
    let old = floatip::FloatingIp::builder("default/old", "up0")
        .host_netns(floatip::floating::NetnsRef::Name(lan.host_b.name.clone()))
        .pod_netns_name(old_ns.name.clone())
        .ipv4("10.0.0.150/23", "10.0.0.1")
        .no_announce()
        .build()
        .unwrap();
    old.attach().unwrap();
    let pod_ns = TestNs::new("cnip-pod");
    let pod = Pod::new(&lan.host_a, &dir, "b0b0cafe", &pod_ns);
    let c = conf("1.1.0", json!({"ipam": static_ipam("10.0.0.150/23"), "conflictProbe": true}));
    let before = lan.host_a.snapshot() + &pod_ns.snapshot();
    let add = pod.run("ADD", &c);
    assert_eq!(add.code(), 100, "{}", add.stdout);
    let msg = add.out["msg"].as_str().unwrap();
    assert!(msg.contains(netlab::HOST_B_MAC) && msg.contains("10.0.0.150"), "{msg}");
    assert_eq!(lan.host_a.snapshot() + &pod_ns.snapshot(), before);
    old.detach().unwrap();
    let add = pod.run("ADD", &c);
    let ms = add.ms;
    let r = add.ok();
    assert!(lan.peer.ping("10.0.0.150"));
    eprintln!("cni: ADD with conflictProbe (clear): {ms:.0} ms");
    pod.run("DEL", &with_prev(&c, &r)).ok();
}

/// Every error code, from real runs of the binary; nothing changes on the
/// host for any of them.
#[test]
fn every_error_code() {
    require_reference_plugins();
    let lan = Lan::new("cnie");
    let dir = Dir::new("errors");
    let pod_ns = TestNs::new("cnie-pod");
    let pod = Pod::new(&lan.host_a, &dir, "e44o4", &pod_ns);
    let good = conf("1.1.0", json!({"ipam": static_ipam("10.0.0.120/23")}));
    let before = lan.host_a.snapshot();
    let code = |p: &Pod, cmd: &str, c: &Value| p.run(cmd, c).code();
    let env_without = |drop: &str| -> Vec<(&'static str, String)> {
        pod.env("ADD").into_iter().filter(|(k, _)| *k != drop).collect()
    };
    let stdin = good.to_string();
    // 4: the environment.
    for d in ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS", "CNI_PATH"] {
        assert_eq!(pod.run_env(&env_without(d), stdin.as_bytes()).code(), 4, "without {d}");
    }
    let mut e = pod.env("ADD");
    e[0].1 = "FROB".into();
    assert_eq!(pod.run_env(&e, stdin.as_bytes()).code(), 4, "unknown verb");
    let mut bad_args = Pod::new(&lan.host_a, &dir, "e44o4", &pod_ns);
    bad_args.args = Some("K8S_POD_NAME".into());
    assert_eq!(code(&bad_args, "ADD", &good), 4, "CNI_ARGS not K=V");
    let mut own = Pod::new(&lan.host_a, &dir, "e44o4", &pod_ns);
    own.netns = Some(format!("/run/netns/{}", lan.host_a.name));
    let r = own.run("ADD", &good);
    assert_eq!(r.code(), 4, "the plugin's own netns");
    assert!(r.out["msg"].as_str().unwrap().contains("own network namespace"), "{}", r.stdout);
    own.netns = Some("/proc/self/ns/net".into());
    assert_eq!(code(&own, "ADD", &good), 4, "/proc/self/ns/net is the plugin's own netns too");
    own.netns = Some("/run/netns/fipt-no-such-netns".into());
    assert_eq!(code(&own, "ADD", &good), 4, "a missing netns");
    // 6: not JSON.
    assert_eq!(pod.run_env(&pod.env("ADD"), b"{\"cniVersion\": ").code(), 6);
    assert_eq!(pod.run_env(&pod.env("ADD"), b"[]").code(), 6);
    // 1: versions.
    assert_eq!(code(&pod, "ADD", &conf("0.3.1", json!({"ipam": static_ipam("10.0.0.120/23")}))), 1);
    assert_eq!(code(&pod, "GC", &conf("1.0.0", json!({"cni.dev/valid-attachments": []}))), 1);
    // 7: the configuration.
    let mut no_uplink = good.clone();
    no_uplink.as_object_mut().unwrap().remove("uplink");
    for (what, c) in [
        ("no uplink", no_uplink),
        ("no addresses", conf("1.1.0", json!({}))),
        ("ips without a gateway", conf("1.1.0", json!({"runtimeConfig": {"ips": ["10.0.0.120/23"]}}))),
        (
            "bridge mode without a bridge",
            conf("1.1.0", json!({"mode": "bridge", "ipam": static_ipam("10.0.0.120/23")})),
        ),
        ("vlan 5000", conf("1.1.0", json!({"vlan": 5000, "ipam": static_ipam("10.0.0.120/23")}))),
        (
            "gateway outside the subnet",
            conf(
                "1.1.0",
                json!({"ipam": {"type": "static", "addresses": [{"address": "10.0.0.120/24", "gateway": "10.0.1.1"}]}}),
            ),
        ),
        (
            "an IPAM route other than the default",
            conf(
                "1.1.0",
                json!({"ipam": {"type": "static", "addresses": [{"address": "10.0.0.120/23", "gateway": "10.0.0.1"}], "routes": [{"dst": "172.16.0.0/12"}]}}),
            ),
        ),
        ("GC without valid attachments", conf("1.1.0", json!({}))),
        ("CHECK without prevResult", good.clone()),
    ] {
        let cmd = match what {
            "GC without valid attachments" => "GC",
            "CHECK without prevResult" => "CHECK",
            _ => "ADD",
        };
        let r = pod.run(cmd, &c);
        assert_eq!(r.code(), 7, "{what}: {}", r.stdout);
    }
    // 101: the uplink does not exist.
    let r = pod.run("ADD", &conf("1.1.0", json!({"uplink": "nope0", "ipam": static_ipam("10.0.0.120/23")})));
    assert_eq!(r.code(), 101, "{}", r.stdout);
    assert!(r.out["details"].as_str().unwrap().contains("kind not found"), "{}", r.stdout);
    // 50: STATUS with the uplink missing, then down.
    let r = pod.run("STATUS", &conf("1.1.0", json!({"uplink": "nope0"})));
    assert_eq!(r.code(), 50, "{}", r.stdout);
    // 120 and pass-through: a broken IPAM plugin, and one that fails
    // with a CNI error of its own (Debian's static on a bad address).
    dir.script("broken-ipam", "echo oops >&2; exit 1");
    let r = pod.run("ADD", &conf("1.1.0", json!({"ipam": {"type": "broken-ipam"}})));
    assert_eq!(r.code(), 120, "{}", r.stdout);
    let r = pod
        .run("ADD", &conf("1.0.0", json!({"ipam": {"type": "static", "addresses": [{"address": "10.0.0.300/23"}]}})));
    assert!(r.out["msg"].as_str().unwrap().starts_with("IPAM plugin static ADD"), "{}", r.stdout);
    assert_ne!(r.code(), 0);
    let r = pod.run("ADD", &conf("1.1.0", json!({"ipam": {"type": "no-such-ipam"}})));
    assert_eq!(r.code(), 7, "{}", r.stdout);
    assert_eq!(lan.host_a.snapshot(), before, "no error changed the host");

    let r = pod.run("ADD", &good).ok();

    // 11: the attachment's lock held elsewhere past lockWaitMs (ADD
    // again and DEL both take it).
    std::fs::create_dir_all(floatip::lock::LOCK_DIR).unwrap();
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(floatip::lock::attachment_lock_path(&pod.id()))
        .unwrap();
    // SAFETY: flock on a file this test opened.
    #[allow(unsafe_code)]
    let held = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(held, 0);
    let attached = lan.host_a.snapshot();
    let mut waiting = good.clone();
    waiting["lockWaitMs"] = 200.into();
    let l = pod.run("ADD", &waiting);
    assert_eq!(l.code(), 11, "{}", l.stdout);
    assert!(l.out["msg"].as_str().unwrap().contains("waited"), "{}", l.stdout);
    assert_eq!(code(&pod, "DEL", &with_prev(&waiting, &r)), 11, "DEL too");
    assert_eq!(lan.host_a.snapshot(), attached, "the locked-out verbs changed nothing");
    drop(lock);
    pod.run("ADD", &waiting).ok();
    // 100: another container asks for the same floating IP.
    let other_ns = TestNs::new("cnie-other");
    let other = Pod::new(&lan.host_a, &dir, "0th3r", &other_ns);
    let r2 = other.run("ADD", &good);
    assert_eq!(r2.code(), 100, "{}", r2.stdout);
    assert!(lan.peer.ping("10.0.0.120"), "the first pod is untouched");
    // The loser's DEL (the runtime cleans up after a failed ADD), with the
    // same IP in its configuration, removes nothing of the first pod's.
    other.run("DEL", &good).ok();
    other.run("DEL", &with_prev(&good, &r)).ok();
    assert!(lan.peer.ping("10.0.0.120"), "another container's DEL left the first pod alone");
    pod.run("CHECK", &with_prev(&good, &r)).ok();
    // 110: drift, and a prevResult that is not this attachment's.
    pod.run("CHECK", &with_prev(&good, &r)).ok();
    lan.host_a.ip("route del 10.0.0.120/32");
    let c = pod.run("CHECK", &with_prev(&good, &r));
    assert_eq!(c.code(), 110, "{}", c.stdout);
    assert!(c.out["details"].as_str().unwrap().contains("10.0.0.120/32"), "{}", c.stdout);
    pod.run("ADD", &good).ok(); // ADD again repairs
    pod.run("CHECK", &with_prev(&good, &r)).ok();
    let mut wrong = r.clone();
    wrong["interfaces"][1]["mac"] = "02:00:00:00:00:99".into();
    let c = pod.run("CHECK", &with_prev(&good, &wrong));
    assert_eq!(c.code(), 110, "{}", c.stdout);
    assert!(c.out["details"].as_str().unwrap().contains("02:00:00:00:00:99"), "{}", c.stdout);
    // 3: prevResult without this interface.
    let mut other_if = r.clone();
    other_if["interfaces"][1]["name"] = "net1".into();
    assert_eq!(code(&pod, "CHECK", &with_prev(&good, &other_if)), 3);
    // 50: STATUS with the uplink down.
    lan.host_a.ip("link set up0 down");
    let s = pod.run("STATUS", &good);
    assert_eq!(s.code(), 50, "{}", s.stdout);
    assert!(s.out["msg"].as_str().unwrap().contains("down"), "{}", s.stdout);
    lan.host_a.ip("link set up0 up");
    pod.run("STATUS", &good).ok();
    // 103: a VLAN on a kernel without 8021q (this machine's); where the
    // kernel has it, the VLAN device is made.
    let vlan_ns = TestNs::new("cnie-vlan");
    let v = Pod::new(&lan.host_a, &dir, "v1an", &vlan_ns);
    let vc = conf("1.1.0", json!({"vlan": 100, "lanAddress": "10.0.0.4/23", "ipam": static_ipam("10.0.0.121/23")}));
    let vr = v.run("ADD", &vc);
    if vr.status == 0 {
        assert!(netlab::kernel_must_have("8021q") || lan.host_a.ip_raw("link show up0.100").status.success());
        v.run("DEL", &with_prev(&vc, &vr.out)).ok();
    } else {
        assert!(!netlab::kernel_must_have("8021q"), "{}", vr.stdout);
        assert_eq!(vr.code(), 103, "{}", vr.stdout);
        eprintln!("cni: this kernel has no 8021q: a VLAN ADD answers 103 ({})", vr.out["msg"]);
    }
    pod.run("DEL", &with_prev(&good, &r)).ok();
    assert_clean(&lan.host_a, &pod.host_veth(), "10.0.0.120");
}

/// host-local hands out addresses and gets them back: after an ADD whose
/// attach fails (the address goes back at once) and after DEL; a 1.1.0
/// configuration works with Debian's 1.0.0 IPAM; and `runtimeConfig.ips`
/// without IPAM takes its gateway from the configuration.
#[test]
fn ipam_gets_its_addresses_back() {
    require_reference_plugins();
    let lan = Lan::new("cnii");
    let dir = Dir::new("ipam");
    let data = dir.path.join("host-local");
    let ipam = json!({"type": "host-local", "dataDir": data, "ranges": [[{"subnet": "10.0.0.0/23", "rangeStart": "10.0.0.130", "rangeEnd": "10.0.0.131", "gateway": "10.0.0.1"}]]});
    let c = conf("1.1.0", json!({ "ipam": ipam }));
    let reserved = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(data.join("floatnet"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.retain(|n| n.starts_with("10."));
        v.sort();
        v
    };
    let (p1, p2) = (TestNs::new("cnii-p1"), TestNs::new("cnii-p2"));
    let a = Pod::new(&lan.host_a, &dir, "h0571", &p1);
    let ra = a.run("ADD", &c).ok();
    assert_eq!(ra["cniVersion"], "1.1.0");
    assert_eq!(ra["ips"][0]["address"], "10.0.0.130/23");
    assert_eq!(ra["ips"][0]["gateway"], "10.0.0.1");
    assert_eq!(reserved(), vec!["10.0.0.130"]);
    assert!(lan.peer.ping("10.0.0.130"));
    // b's attach fails: its host veth's name is taken by a bridge.
    let b = Pod::new(&lan.host_a, &dir, "h0572", &p2);
    lan.host_a.ip(&format!("link add {} type bridge", b.host_veth()));
    let rb = b.run("ADD", &c);
    assert_eq!(rb.code(), 100, "{}", rb.stdout);
    assert_eq!(reserved(), vec!["10.0.0.130"], "the failed ADD gave 10.0.0.131 back");
    lan.host_a.ip(&format!("link del {}", b.host_veth()));
    let rb = b.run("ADD", &c).ok();
    assert_eq!(rb["ips"][0]["address"], "10.0.0.131/23");
    a.run("CHECK", &with_prev(&c, &ra)).ok();
    a.run("DEL", &with_prev(&c, &ra)).ok();
    assert_eq!(reserved(), vec!["10.0.0.131"], "DEL gave 10.0.0.130 back");
    b.run("DEL", &with_prev(&c, &rb)).ok();
    assert_eq!(reserved(), Vec::<String>::new());
    assert_clean(&lan.host_a, &a.host_veth(), "10.0.0.130");
    assert_clean(&lan.host_a, &b.host_veth(), "10.0.0.131");
    // No IPAM: the runtime's address, the configuration's gateway.
    let rc = conf("1.0.0", json!({"gateway": "10.0.0.1", "runtimeConfig": {"ips": ["10.0.0.132/23"]}}));
    let r = a.run("ADD", &rc).ok();
    assert_eq!(r["ips"], json!([{"address": "10.0.0.132/23", "gateway": "10.0.0.1", "interface": 1}]));
    assert!(lan.peer.ping("10.0.0.132"));
    // DEL without prevResult and runtimeConfig: the owner mark names the IP.
    a.run("DEL", &conf("1.0.0", json!({"gateway": "10.0.0.1"}))).ok();
    assert_clean(&lan.host_a, &a.host_veth(), "10.0.0.132");
}

/// GC with `cni.dev/valid-attachments`: what is not valid on this
/// network's LAN interface goes; a valid attachment and another
/// network's stay.
#[test]
fn gc_removes_what_is_not_valid_on_this_network() {
    let lan = Lan::new("cnig");
    let dir = Dir::new("gc");
    // A second network on another uplink of the same host, with a LAN
    // address that floatip adds.
    lan.host_a.ip("link add up1 type veth peer name up1p");
    lan.host_a.ip("link set up1 up");
    lan.host_a.ip("link set up1p up");
    let pods: Vec<TestNs> = (0..3).map(|i| TestNs::new(&format!("cnig-p{i}"))).collect();
    let a = conf("1.1.0", json!({"gateway": "10.0.0.1"}));
    let b = conf(
        "1.1.0",
        json!({"name": "other", "uplink": "up1", "gateway": "192.168.50.1", "lanAddress": "192.168.50.2/24"}),
    );
    let ids = ["9c0", "9c1", "9c2"];
    let mut results = Vec::new();
    for (i, ns) in pods.iter().enumerate() {
        let (mut c, ip) = match i {
            2 => (b.clone(), "192.168.50.10/24".to_owned()),
            _ => (a.clone(), format!("10.0.0.{}/23", 170 + i)),
        };
        c["runtimeConfig"] = json!({ "ips": [ip] });
        results.push(Pod::new(&lan.host_a, &dir, ids[i], ns).run("ADD", &c).ok());
    }
    assert_eq!(addrs_of(&lan.host_a, "up1"), vec!["192.168.50.2/24"], "lanAddress added");
    let p = Pod::new(&lan.host_a, &dir, "", &pods[0]);
    let mut gc = a.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "9c0", "ifname": "eth0"}]);
    p.run("GC", &gc).ok();
    let veth = |id: &str| FloatingIp::default_host_ifname(&format!("{id}/eth0")).to_string();
    let has = |id: &str| lan.host_a.ip_raw(&format!("link show dev {}", veth(id))).status.success();
    assert!(has("9c0"), "valid");
    assert!(!has("9c1"), "not valid on this network: removed");
    assert!(has("9c2"), "another network's attachment stays");
    assert_clean(&lan.host_a, &veth("9c1"), "10.0.0.171");
    assert!(lan.peer.ping("10.0.0.170"));
    // The other network's GC with nothing valid removes its own.
    let mut gc_b = b.clone();
    gc_b["cni.dev/valid-attachments"] = json!([]);
    p.run("GC", &gc_b).ok();
    assert!(!has("9c2") && has("9c0"));
    let c0 = Pod::new(&lan.host_a, &dir, "9c0", &pods[0]);
    c0.run("DEL", &with_prev(&a, &results[0])).ok();
    assert_clean(&lan.host_a, &veth("9c0"), "10.0.0.170");
}

/// A busybox httpd serving `index.html` in a namespace; stopped by its pid
/// on drop.
struct Httpd {
    child: Child,
    _root: Dir,
}

impl Httpd {
    fn start(ns: &TestNs, port: u16) -> Httpd {
        let root = Dir::new(&format!("www-{port}"));
        std::fs::write(root.path.join("index.html"), "hello from the pod\n").unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "busybox", "httpd", "-f", "-p", &port.to_string(), "-h"])
            .arg(&root.path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        Httpd { child, _root: root }
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET /index.html` from `ns` with busybox nc (Debian's static busybox
/// wget crashes writing to stdout): the body.
fn http_get(ns: &TestNs, host: &str, port: u16) -> String {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "busybox", "nc", "-w", "3", host, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"GET /index.html HTTP/1.0\r\n\r\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    match text.split_once("\r\n\r\n") {
        Some((_, body)) => body.to_owned(),
        None => format!("no HTTP answer: {text:?} {}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// A small libcni: a conflist run plugin by plugin as libcni does it
/// (`name` and `cniVersion` from the list, `runtimeConfig` from the
/// capabilities each plugin declares, ADD's result handed to the next
/// plugin as `prevResult`; CHECK and DEL, in reverse, get the final
/// result).
struct Chain<'a> {
    pod: &'a Pod<'a>,
    list: Value,
    runtime: Value,
}

impl Chain<'_> {
    fn conf_of(&self, plugin: &Value, prev: Option<&Value>) -> Value {
        let mut c = plugin.clone();
        c["name"] = self.list["name"].clone();
        c["cniVersion"] = self.list["cniVersion"].clone();
        if let Some(caps) = plugin["capabilities"].as_object() {
            for (cap, on) in caps {
                if on == true && !self.runtime[cap].is_null() {
                    c["runtimeConfig"][cap] = self.runtime[cap].clone();
                }
            }
        }
        if let Some(p) = prev {
            c["prevResult"] = p.clone();
        }
        c
    }
    fn exe(&self, plugin: &Value) -> PathBuf {
        let t = plugin["type"].as_str().unwrap();
        [self.pod.dir.bin(), PathBuf::from(REF)].into_iter().map(|d| d.join(t)).find(|p| p.exists()).unwrap()
    }
    fn run(&self, verb: &str, plugin: &Value, prev: Option<&Value>) -> Run {
        let c = self.conf_of(plugin, prev);
        exec(self.pod.host, &self.exe(plugin), &self.pod.env(verb), c.to_string().as_bytes())
    }
    fn plugins(&self) -> Vec<Value> {
        self.list["plugins"].as_array().unwrap().clone()
    }
    fn add(&self) -> Value {
        let mut prev: Option<Value> = None;
        for p in self.plugins() {
            let r = self.run("ADD", &p, prev.as_ref());
            assert_eq!(r.status, 0, "ADD {}: {} {}", p["type"], r.stdout, r.stderr);
            prev = Some(r.out);
        }
        prev.unwrap()
    }
    /// CHECK through the chain; `known` maps a plugin type to the start
    /// of a message its CHECK is known to fail with.
    fn check(&self, result: &Value, known: &[(&str, &str)]) {
        for p in self.plugins() {
            let r = self.run("CHECK", &p, Some(result));
            let bug = known.iter().find(|(t, _)| p["type"] == *t);
            match (r.status, bug) {
                (0, _) => {}
                (_, Some((t, msg))) if r.out["msg"].as_str().is_some_and(|m| m.starts_with(msg)) => {
                    eprintln!("cni: CHECK {t} failed with its known bug: {}", r.out["msg"]);
                }
                _ => panic!("CHECK {}: {} {}", p["type"], r.stdout, r.stderr),
            }
        }
    }
    fn del(&self, result: &Value) {
        for p in self.plugins().iter().rev() {
            let r = self.run("DEL", p, Some(result));
            assert_eq!(r.status, 0, "DEL {}: {} {}", p["type"], r.stdout, r.stderr);
        }
    }
}

/// floatip-cni chained with portmap, bandwidth and tuning (Debian's),
/// ADD → CHECK → DEL through the conflist with `prevResult` handed along,
/// and the LAN peer reaching a port-mapped httpd in the pod (dual stack).
/// Debian's portmap (1.1.1) fails its own CHECK whenever ip6tables works:
/// it looks for the container's IPv4 DNAT rules in ip6tables too
/// (containernetworking/plugins#819, fixed after 1.1.1); that one failure,
/// and only it, is accepted and reported.
#[test]
fn chained_with_portmap_bandwidth_and_tuning() {
    require_reference_plugins();
    assert!(have("iptables"), "iptables is missing: `make test` installs it");
    assert!(netlab::ipv6_available(), "this test needs IPv6 (see its doc comment); the kernel has none");
    let lan = Lan::new("cnic");
    let dir = Dir::new("chain");
    let pod_ns = TestNs::new("cnic-pod");
    let pod = Pod::new(&lan.host_a, &dir, "cha1n", &pod_ns);
    let list = json!({
        "cniVersion": "1.0.0", "name": "floatnet",
        "plugins": [
            {"type": "floatip-cni", "uplink": "up0", "announce": {"rounds": 1}, "ipam": {"type": "static", "addresses": [
                {"address": "10.0.0.160/23", "gateway": "10.0.0.1"},
                {"address": "2001:db8::160/64", "gateway": "2001:db8::1"},
            ]}},
            {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
            {"type": "bandwidth", "capabilities": {"bandwidth": true}},
            {"type": "tuning", "sysctl": {"net.core.somaxconn": "512"}},
        ],
    });
    let runtime = json!({
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
        "bandwidth": {"ingressRate": 100_000_000u64, "ingressBurst": 1_000_000u64, "egressRate": 100_000_000u64, "egressBurst": 1_000_000u64},
    });
    let chain = Chain { pod: &pod, list, runtime };
    let result = chain.add();
    let hv = pod.host_veth();
    // The chain's result is floatip's, handed along: the same interfaces
    // and address (bandwidth adds its ifb device).
    assert_eq!(result["ips"][0]["address"], "10.0.0.160/23");
    assert_eq!(result["ips"][1]["address"], "2001:db8::160/64");
    let names: Vec<&str> = result["interfaces"].as_array().unwrap().iter().filter_map(|i| i["name"].as_str()).collect();
    assert_eq!(&names[..2], &[hv.as_str(), "eth0"], "{result}");
    // Each plugin did its part on the host and in the pod.
    let nat = lan.host_a.exec(&["iptables", "-t", "nat", "-S"]);
    let nat = String::from_utf8_lossy(&nat.stdout);
    assert!(nat.contains("--dport 8080") && nat.contains("10.0.0.160:80"), "portmap's DNAT: {nat}");
    let qdisc = lan.host_a.ip_raw(&format!("link show dev {hv}"));
    assert!(qdisc.status.success());
    let tc = Command::new("tc").args(["-n", &lan.host_a.name, "-j", "qdisc", "show", "dev", &hv]).output().unwrap();
    let tc: Value = serde_json::from_slice(&tc.stdout).unwrap();
    assert!(tc.as_array().unwrap().iter().any(|q| q["kind"] == "tbf"), "bandwidth's tbf on {hv}: {tc}");
    assert_eq!(pod_ns.sysctl("net.core.somaxconn"), "512", "tuning in the pod");
    chain.check(&result, &[("portmap", "could not check ipv6 dnat")]);
    // The LAN peer reaches the pod's httpd through the host's port 8080.
    let _httpd = Httpd::start(&pod_ns, 80);
    assert_eq!(http_get(&lan.peer, "10.0.0.2", 8080), "hello from the pod\n", "through portmap's DNAT");
    assert_eq!(http_get(&lan.peer, "10.0.0.160", 80), "hello from the pod\n", "and on the floating IP itself");
    assert!(lan.peer.ping("2001:db8::160"), "the pod's IPv6 floating IP");
    chain.del(&result);
    assert_clean(&lan.host_a, &hv, "10.0.0.160");
    assert!(lan.host_a.ip_json("-6 route show 2001:db8::160/128").is_empty());
    let nat = lan.host_a.exec(&["iptables", "-t", "nat", "-S"]);
    assert!(!String::from_utf8_lossy(&nat.stdout).contains("10.0.0.160"), "portmap cleaned up");
    let links = lan.host_a.ip_json("link show");
    assert!(!links.iter().any(|l| l["ifname"].as_str().is_some_and(|n| n.starts_with("bwp"))), "{links:?}");
}

/// The kubelet after a node reboot: DEL(old sandbox) → ADD(new) →
/// DEL(old) (kubernetes#44100), each through the binary, with pings.
#[test]
fn kubelet_del_add_late_del() {
    require_reference_plugins();
    let lan = Lan::new("cnik");
    let dir = Dir::new("kubelet");
    let c = conf("1.0.0", json!({"ipam": static_ipam("10.0.0.150/23")}));
    let old_ns = TestNs::new("cnik-old");
    let new_ns = TestNs::new("cnik-new");
    let old_path = format!("/run/netns/{}", old_ns.name);
    let mut old = Pod::new(&lan.host_a, &dir, "01d5a4db0x", &old_ns);
    old.args = Some(K8S_ARGS.into());
    let mut new = Pod::new(&lan.host_a, &dir, "4e35a4db0x", &new_ns);
    new.args = Some(K8S_ARGS.into());
    let r_old = old.run("ADD", &c).ok();
    assert!(lan.peer.ping("10.0.0.150"));
    // The node reboots: the kubelet DELs the old sandbox, whose netns then goes.
    old.run("DEL", &with_prev(&c, &r_old)).ok();
    drop(old_ns);
    assert!(!lan.peer.ping("10.0.0.150"));
    let r_new = new.run("ADD", &c).ok();
    assert!(lan.peer.ping("10.0.0.150"), "after ADD(new)");
    // The late DEL(old): its netns path is gone; with and without prevResult.
    old.netns = Some(old_path);
    old.run("DEL", &with_prev(&c, &r_old)).ok();
    old.run("DEL", &c).ok();
    assert!(lan.peer.ping("10.0.0.150"), "after the late DEL(old)");
    new.run("CHECK", &with_prev(&c, &r_new)).ok();
    assert_eq!(lan.host_a.ip_json("neigh show proxy").len(), 1, "the proxy entry serves the new sandbox");
    new.run("DEL", &with_prev(&c, &r_new)).ok();
    assert_clean(&lan.host_a, &new.host_veth(), "10.0.0.150");
}

/// Rootful podman (Debian's 4.3) with its CNI backend, run in host A's
/// namespace (`docs/cni.md`, "Under podman", says why each setting is
/// needed): a container from a locally imported busybox image gets its
/// floating IP from floatip-cni, the LAN peer pings it, and `podman rm`
/// runs DEL and leaves the host clean.
#[test]
fn podman_runs_a_container_on_its_floating_ip() {
    require_reference_plugins();
    for t in ["podman", "runc", "nsenter"] {
        assert!(have(t), "{t} is missing: `make test` installs podman and runc (tests/scripts/install-deps.sh)");
    }
    let busybox = Path::new("/bin/busybox");
    assert!(busybox.exists(), "busybox is missing: `make test` installs busybox-static");
    let lan = Lan::new("cnip");
    let dir = Dir::new("podman");
    let d = &dir.path;
    for sub in ["net.d", "root", "runroot", "tmp", "rootfs/bin"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::copy(busybox, d.join("rootfs/bin/busybox")).unwrap();
    for a in ["sh", "sleep", "ping", "ip"] {
        std::os::unix::fs::symlink("busybox", d.join("rootfs/bin").join(a)).unwrap();
    }
    let tar =
        Command::new("tar").arg("-C").arg(d.join("rootfs")).arg("-cf").arg(d.join("rootfs.tar")).arg(".").status();
    assert!(tar.unwrap().success());
    let net = format!("{}-{}", netlab::PREFIX, std::process::id());
    std::fs::write(
        d.join("net.d/floatnet.conflist"),
        json!({
            "cniVersion": "1.0.0", "name": net,
            "plugins": [{"type": "floatip-cni", "uplink": "up0", "announce": {"rounds": 1}, "ipam": static_ipam("10.0.0.190/23")}],
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        d.join("containers.conf"),
        format!(
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
             [network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"{bin}\", \"{REF}\"]\nnetwork_config_dir = \"{d}/net.d\"\n\
             [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nruntime = \"runc\"\ntmp_dir = \"{d}/tmp\"\n",
            bin = dir.bin().display(),
            d = d.display()
        ),
    )
    .unwrap();
    let podman = |args: &[&str]| {
        let out = Command::new("/usr/bin/nsenter")
            .arg(format!("--net=/run/netns/{}", lan.host_a.name))
            .arg("podman")
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .args(["--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file"])
            .args(args)
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("TMPDIR", d.join("tmp"))
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = podman(&["import", &d.join("rootfs.tar").display().to_string(), "localhost/fipt-busybox"]);
    assert!(ok, "podman import: {err}");
    let name = format!("{net}-c1");
    /// Removes the container however the test ends.
    type Podman<'a> = dyn Fn(&[&str]) -> (bool, String, String) + 'a;
    struct Rm<'a>(&'a Podman<'a>, &'a str);
    impl Drop for Rm<'_> {
        fn drop(&mut self) {
            let _ = (self.0)(&["rm", "-f", "-t", "0", self.1]);
        }
    }
    let t = Instant::now();
    let (ok, cid, err) =
        podman(&["run", "-d", "--name", &name, "--network", &net, "localhost/fipt-busybox", "/bin/sleep", "600"]);
    let run_ms = t.elapsed().as_millis();
    let _rm = Rm(&podman, &name);
    assert!(ok, "podman run: {err}");
    let veth = FloatingIp::default_host_ifname(&format!("{cid}/eth0")).to_string();
    let (_, sandbox, _) = podman(&["inspect", &name, "--format", "{{.NetworkSettings.SandboxKey}}"]);
    assert!(sandbox.starts_with("/run/netns/") && Path::new(&sandbox).exists(), "{sandbox}");
    let alias = lan.host_a.ip_json(&format!("-d link show dev {veth}"))[0]["ifalias"].as_str().unwrap().to_owned();
    assert!(alias.contains(&format!("id={cid}/eth0 ")), "{alias}");
    let (_, addr, _) = podman(&["exec", &name, "ip", "addr", "show", "eth0"]);
    assert!(addr.contains("inet 10.0.0.190/23"), "{addr}");
    let (_, inspect, _) = podman(&["inspect", &name, "--format", "{{json .NetworkSettings.Networks}}"]);
    let inspect: Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(inspect[&net]["IPAddress"], "10.0.0.190", "podman read floatip-cni's result: {inspect}");
    assert_eq!(inspect[&net]["Gateway"], "10.0.0.1");
    assert!(lan.peer.ping("10.0.0.190"), "the LAN peer pings the container");
    let (ok, _, err) = podman(&["exec", &name, "ping", "-c", "1", "-W", "2", "10.0.0.7"]);
    assert!(ok, "the container pings the LAN peer: {err}");
    let t = Instant::now();
    let (ok, _, err) = podman(&["rm", "-f", "-t", "0", &name]);
    let rm_ms = t.elapsed().as_millis();
    assert!(ok, "podman rm: {err}");
    assert_clean(&lan.host_a, &veth, "10.0.0.190");
    assert!(!Path::new(&sandbox).exists(), "podman removed the container's netns {sandbox}");
    assert!(!lan.peer.ping("10.0.0.190"));
    let cache = Path::new("/var/lib/cni/results").join(format!("{net}-{cid}-eth0"));
    assert!(!cache.exists(), "libcni's cache entry is gone: {}", cache.display());
    eprintln!("cni: podman run {run_ms} ms, podman rm {rm_ms} ms");
}

/// A DEL killed after it retired its veth (a tombstone: down, in
/// `TOMBSTONE_GROUP`) and before its child deleted it: the next plugin
/// call, an ADD of another container, deletes it first.
#[test]
fn the_next_add_reaps_a_killed_dels_tombstone() {
    require_reference_plugins();
    let lan = Lan::new("cnit");
    let dir = Dir::new("tomb");
    let (p1, p2) = (TestNs::new("cnit-p1"), TestNs::new("cnit-p2"));
    let a = Pod::new(&lan.host_a, &dir, "70b0a", &p1);
    let ca = conf("1.0.0", json!({ "ipam": static_ipam("10.0.0.133/23") }));
    let ra = a.run("ADD", &ca).ok();
    // What the killed DEL left: its veth retired, nothing deleted.
    let group = floatip::floating::TOMBSTONE_GROUP;
    lan.host_a.ip(&format!("link set {} down group {group}", a.host_veth()));
    assert!(lan.host_a.ip(&format!("link show group {group}")).contains(&a.host_veth()));
    let b = Pod::new(&lan.host_a, &dir, "70b0b", &p2);
    let cb = conf("1.0.0", json!({ "ipam": static_ipam("10.0.0.134/23") }));
    let rb = b.run("ADD", &cb).ok();
    assert!(!lan.host_a.ip_raw(&format!("link show dev {}", a.host_veth())).status.success(), "the tombstone is left");
    assert_eq!(p1.ip("-br link show").lines().count(), 1, "its pod end went with it");
    assert!(lan.peer.ping("10.0.0.134"));
    // The retried DEL of the first finds nothing of its own and succeeds.
    a.run("DEL", &with_prev(&ca, &ra)).ok();
    b.run("DEL", &with_prev(&cb, &rb)).ok();
    assert_clean(&lan.host_a, &a.host_veth(), "10.0.0.133");
    assert_clean(&lan.host_a, &b.host_veth(), "10.0.0.134");
}

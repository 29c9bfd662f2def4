//! A CNI plugin on floatip: `floatip-cni` is [`main`], and this module is
//! what it is made of, for a Rust user who writes a plugin of their own:
//! [`Request`] (the environment and stdin, checked), [`NetConf`] (the
//! configuration), [`CniResult`] and [`CniError`] (the JSON, for cniVersion
//! 0.4.0, 1.0.0 and 1.1.0), [`ipam`] (a delegated IPAM plugin, exec'd as
//! the reference plugins do), [`run`] (the verbs on a [`Host`]) and
//! [`code_of`] (floatip's error kinds as CNI codes). Behind the cargo
//! feature `cni`.
//!
//! ```no_run
//! use floatip::cni::{Reply, Request};
//! let mut stdin = Vec::new();
//! std::io::Read::read_to_end(&mut std::io::stdin(), &mut stdin).unwrap();
//! let req = Request::from_env(&stdin);
//! let version = req.as_ref().map(|r| r.config.cni_version.clone()).unwrap_or_default();
//! match req.and_then(|r| floatip::cni::run(&r)) {
//!     Ok(Reply::Result(json)) => println!("{json}"),
//!     Ok(Reply::Nothing) => {}
//!     Err(e) => {
//!         println!("{}", e.to_json(&version));
//!         std::process::exit(1);
//!     }
//! }
//! ```
//!
//! How the verbs map to the library (`docs/cni.md` says more):
//!
//! | verb | floatip |
//! |---|---|
//! | ADD | IPAM ADD (or `runtimeConfig.ips`), [`FloatingIp::builder`] with `attachment_id` = `CNI_CONTAINERID/CNI_IFNAME`, [`Host::attach`], then the announcement's remaining rounds are waited for; on failure IPAM DEL |
//! | DEL | [`Host::detach`] of the IPs in `prevResult` (or the attachment's owner mark), IPAM DEL meanwhile |
//! | CHECK | [`Host::check`] against `prevResult` and the config, the MACs of `prevResult`'s interfaces, then IPAM CHECK |
//! | STATUS | the uplink (VLAN device, bridge) exists and is up, then IPAM STATUS |
//! | GC | [`Host::gc`] with `cni.dev/valid-attachments`, scoped to this network's LAN interface, then IPAM GC |
//! | VERSION | [`SUPPORTED_VERSIONS`] |

use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::Path;

use serde_json::Value;

use crate::error::Error;
use crate::floating::FloatingIp;
use crate::host::Host;
use crate::netns::Netns;
use crate::prefix::IpPrefix;

pub mod ipam;
mod request;
mod types;

pub use request::{Command, NetConf, Request, DEFAULT_LOCK_WAIT};
pub use types::{code, code_of, CniError, CniResult, Dns, Interface, IpConfig, RouteEntry, SUPPORTED_VERSIONS};

/// What a verb prints on success.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A JSON document (ADD's result, VERSION's answer).
    Result(Value),
    /// Nothing (DEL, CHECK, STATUS, GC).
    Nothing,
}

/// The plugin: reads the request from the environment and stdin, runs it,
/// prints the result or the error JSON on stdout. Returns the exit code
/// (0, or 1 with an error).
pub fn main() -> i32 {
    // What the library logs (a failed rollback step, a failed announcement
    // round) and the plugin's own warnings go to stderr, which runtimes keep
    // in their logs; stdout carries only the CNI result.
    let _ = log::set_logger(&STDERR_LOGGER).map(|()| log::set_max_level(log_level()));
    // A plugin is a short-lived process: its announcement socket's close
    // (an RCU grace period) must not delay its exit.
    crate::announce::close_sockets_in_child(true);
    SHORT_LIVED.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut stdin = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut stdin) {
        return print_error(&CniError::new(code::DECODE, format!("read stdin: {e}")), "1.1.0");
    }
    let req = Request::from_env(&stdin);
    let version = match &req {
        Ok(r) if !r.config.cni_version.is_empty() => r.config.cni_version.clone(),
        // The version the runtime asked for, when the request could not be
        // read as a whole.
        _ => serde_json::from_slice::<Value>(&stdin)
            .ok()
            .and_then(|v| v["cniVersion"].as_str().map(str::to_owned))
            .filter(|v| SUPPORTED_VERSIONS.contains(&v.as_str()))
            .unwrap_or_else(|| SUPPORTED_VERSIONS[2].to_owned()),
    };
    match req.and_then(|r| run(&r)) {
        Ok(Reply::Result(v)) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{v}");
            let _ = out.flush();
            0
        }
        Ok(Reply::Nothing) => 0,
        Err(e) => print_error(&e, &version),
    }
}

fn print_error(e: &CniError, version: &str) -> i32 {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", e.to_json(version));
    let _ = out.flush();
    1
}

/// Runs a request in the calling thread's namespace (the host's, where a
/// runtime runs its plugins).
pub fn run(req: &Request) -> Result<Reply, CniError> {
    if req.command != crate::cni::Command::Version {
        crate::lock::set_wait_limit(Some(req.config.lock_wait));
    }
    match req.command {
        Command::Version => {
            let asked = &req.config.cni_version;
            let v = match SUPPORTED_VERSIONS.contains(&asked.as_str()) {
                true => asked.as_str(),
                false => SUPPORTED_VERSIONS[2],
            };
            Ok(Reply::Result(serde_json::json!({ "cniVersion": v, "supportedVersions": SUPPORTED_VERSIONS })))
        }
        Command::Add => add(req).map(|r| Reply::Result(r.to_json(&req.config.cni_version))),
        Command::Del => del(req).map(|()| Reply::Nothing),
        Command::Check => check(req).map(|()| Reply::Nothing),
        Command::Status => status(req).map(|()| Reply::Nothing),
        Command::Gc => gc(req).map(|()| Reply::Nothing),
    }
}

/// Set by [`main`]: this process exits after one request, so the delete
/// of its tombstones is left to a forked child (see [`reap`]).
static SHORT_LIVED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The host, without a reaper thread: a plugin's detaches leave
/// tombstones that [`reap`] deletes.
fn host() -> Result<Host, CniError> {
    Host::open_bare(crate::floating::NetnsRef::Current).map_err(|e| CniError::floatip("open the host namespace", &e))
}

/// The plugin's logger: one line per record on stderr,
/// `floatip-cni: LEVEL target: message`.
struct StderrLogger;

static STDERR_LOGGER: StderrLogger = StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let _ = writeln!(std::io::stderr().lock(), "floatip-cni: {} {}: {}", r.level(), r.target(), r.args());
        }
    }

    fn flush(&self) {}
}

/// `FLOATIP_CNI_LOG` (`error`, `warn`, `info`, `debug`, `trace`, `off`):
/// the plugin's log level, `info` by default.
fn log_level() -> log::LevelFilter {
    std::env::var("FLOATIP_CNI_LOG").ok().and_then(|v| v.parse().ok()).unwrap_or(log::LevelFilter::Info)
}

/// Deletes the host's tombstones (this call's and earlier calls') in one
/// batch: from a forked child when this process is the plugin, so that
/// the runtime does not wait for the delete's RCU grace periods; here
/// otherwise (a long-lived caller of [`run`] would collect zombies). A
/// failure is reported on stderr and leaves the tombstones to the next
/// call or GC: the request itself has succeeded.
fn reap(host: Host) {
    let r = match SHORT_LIVED.load(std::sync::atomic::Ordering::Relaxed) {
        true => host.reap_in_child(),
        false => host.reap_now().map(drop),
    };
    if let Err(e) = r {
        log::warn!("deleting tombstones: {}", crate::error::Report(&e));
    }
}

fn bad_env(msg: impl Into<String>) -> CniError {
    CniError::new(code::BAD_ENVIRONMENT, msg)
}

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::new(code::INVALID_CONFIG, msg)
}

/// Opens `CNI_NETNS`, refusing the plugin's own namespace (code 4). `None`
/// when it does not exist.
fn pod_netns(path: &Path) -> Result<Option<Netns>, CniError> {
    let ns = match Netns::open_path(path) {
        Ok(ns) => ns,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(bad_env(format!("CNI_NETNS {}: {e}", path.display()))),
    };
    let own = Netns::current().and_then(|c| c.inode()).map_err(|e| CniError::floatip("open own netns", &e))?;
    let ino = ns.inode().map_err(|e| CniError::floatip("fstat CNI_NETNS", &e))?;
    if ino == own {
        return Err(bad_env(format!(
            "CNI_NETNS {} is the plugin's own network namespace (the host's): refusing to put a pod's address \
             and default route there",
            path.display()
        )));
    }
    Ok(Some(ns))
}

/// The addresses of a pod: at most one per family, each with its gateway.
#[derive(Debug, Default)]
struct Addrs {
    v4: Option<(IpPrefix, IpAddr)>,
    v6: Option<(IpPrefix, IpAddr)>,
    dns: types::Dns,
}

impl Addrs {
    fn push(&mut self, conf: &NetConf, a: IpPrefix, gw: Option<IpAddr>, from: &str) -> Result<(), CniError> {
        let fallback = if a.is_ipv4() { conf.gateway } else { conf.gateway6 };
        let key = if a.is_ipv4() { "gateway" } else { "gateway6" };
        let gw = gw.or(fallback).ok_or_else(|| {
            invalid(format!("{a} from {from} has no gateway: give the network configuration a \"{key}\""))
        })?;
        let slot = if a.is_ipv4() { &mut self.v4 } else { &mut self.v6 };
        if let Some((old, _)) = slot {
            return Err(invalid(format!(
                "{from} gives {old} and {a}: floatip-cni attaches one IPv4 and one IPv6 address per interface"
            )));
        }
        *slot = Some((a, gw));
        Ok(())
    }

    fn from_result(conf: &NetConf, r: &CniResult, from: &str) -> Result<Addrs, CniError> {
        let mut addrs = Addrs::default();
        for ip in &r.ips {
            let a: IpPrefix =
                ip.address.parse().map_err(|e| invalid(format!("{from}: address {:?}: {e}", ip.address)))?;
            let gw = ip
                .gateway
                .as_deref()
                .map(|g| {
                    g.parse::<IpAddr>().map_err(|_| invalid(format!("{from}: gateway {g:?} is not an IP address")))
                })
                .transpose()?;
            addrs.push(conf, a, gw, from)?;
        }
        for route in &r.routes {
            let dst: IpPrefix =
                route.dst.parse().map_err(|e| invalid(format!("{from}: route {:?}: {e}", route.dst)))?;
            let gw = if dst.is_ipv4() { addrs.v4.map(|a| a.1) } else { addrs.v6.map(|a| a.1) };
            let same_gw = route.gw.as_deref().is_none_or(|g| g.parse::<IpAddr>().ok() == gw);
            if dst.len() != 0 || !same_gw {
                return Err(invalid(format!(
                    "{from} asks for route {} via {}: floatip-cni gives the pod a default route via the gateway \
                     and nothing else (the host routes everything); drop the route from the IPAM configuration",
                    route.dst,
                    route.gw.as_deref().unwrap_or("-")
                )));
            }
        }
        addrs.dns = r.dns.clone();
        Ok(addrs)
    }
}

/// A spec of this request with `addrs`.
fn spec(req: &Request, addrs: &Addrs, netns: &Path, for_detach: bool) -> Result<FloatingIp, Error> {
    let c = &req.config;
    let mut b = FloatingIp::builder(req.pod_key(), &c.uplink)
        .attachment_id(req.attachment_id())
        .pod_netns_path(netns)
        .pod_ifname(&req.ifname);
    if let Some((a, g)) = addrs.v4 {
        b = b.ipv4(a.to_string(), g.to_string());
    }
    if let Some((a, g)) = addrs.v6 {
        b = b.ipv6(a.to_string(), g.to_string());
    }
    if let Some(v) = c.vlan {
        b = b.vlan(v);
    }
    if let Some(m) = c.mtu {
        b = b.mtu(m);
    }
    b = b.uplink_arp(c.uplink_arp);
    if let Some(br) = &c.bridge {
        b = b.bridge(br);
    }
    match c.announce {
        Some(Some(a)) => b = b.announce(a),
        Some(None) => b = b.no_announce(),
        None => {}
    }
    if let Some(p) = c.conflict_probe {
        b = b.conflict_probe(p);
    }
    if let Some(p) = c.policy_routing {
        b = b.policy_routing(p);
    }
    if let Some(p) = c.anti_spoofing {
        b = b.anti_spoofing(p);
    }
    if let Some(on) = c.conntrack_flush {
        b = b.conntrack_flush(on);
    }
    if let Some(t) = c.route_table {
        b = b.route_table(t);
    }
    if let Some(p) = c.rule_priority {
        b = b.rule_priority(p);
    }
    // Detach needs no LAN address (it never adds one), and its gateway may
    // be a stand-in (below).
    if let (Some(l), false) = (&c.lan_address, for_detach) {
        b = b.lan_address(l);
    }
    b.build()
}

/// ADD's addresses: from IPAM, or from `runtimeConfig.ips` / `args.cni.ips`.
fn add_addrs(req: &Request) -> Result<(Addrs, Option<String>), CniError> {
    let c = &req.config;
    if ipam::plugin(req).is_some() {
        let version = ipam::version_for(req)?.ok_or_else(|| {
            CniError::new(code::INCOMPATIBLE_VERSION, "the IPAM plugin speaks neither 1.1.0 nor 1.0.0".to_owned())
        })?;
        let r = ipam::exec(req, Command::Add, &version)?.unwrap_or_default();
        let addrs = Addrs::from_result(c, &r, "the IPAM result");
        return match addrs {
            Ok(a) if a.v4.is_none() && a.v6.is_none() => {
                let _ = ipam::exec(req, Command::Del, &version);
                Err(invalid("the IPAM result has no address"))
            }
            Ok(a) => Ok((a, Some(version))),
            Err(e) => {
                let _ = ipam::exec(req, Command::Del, &version);
                Err(e)
            }
        };
    }
    if c.ips.is_empty() {
        return Err(invalid(
            "no addresses: configure \"ipam\", or have the runtime pass runtimeConfig.ips (capability \"ips\") or \
             args.cni.ips",
        ));
    }
    let mut addrs = Addrs::default();
    for a in &c.ips {
        addrs.push(c, *a, None, "runtimeConfig.ips/args.cni.ips")?;
    }
    Ok((addrs, None))
}

fn add(req: &Request) -> Result<CniResult, CniError> {
    let netns = req.netns.as_deref().expect("checked at parse");
    if pod_netns(netns)?.is_none() {
        return Err(bad_env(format!("CNI_NETNS {} does not exist", netns.display())));
    }
    let host = host()?;
    // Tombstones a killed call left: deleted in one batch before this
    // attach (one request when there are none).
    if let Err(e) = host.reap_now() {
        log::warn!("deleting tombstones: {}", crate::error::Report(&e));
    }
    let (addrs, ipam_version) = add_addrs(req)?;
    let id = req.attachment_id();
    let done = spec(req, &addrs, netns, false)
        .map_err(|e| CniError::floatip(&format!("spec of {id}"), &e))
        .and_then(|s| host.attach(&s).map(|d| (s, d)).map_err(|e| CniError::floatip(&format!("attach {id}"), &e)));
    let (spec, mut done) = match done {
        Ok(d) => d,
        Err(e) => {
            // Nothing was attached (attach is all or nothing): the address
            // goes back to the pool.
            if let Some(v) = &ipam_version {
                if let Err(de) = ipam::exec(req, Command::Del, v) {
                    log::warn!("IPAM DEL after the failed ADD: {}", de.msg);
                }
            }
            return Err(e);
        }
    };
    // A plugin is a short-lived process: the rounds the configuration asks
    // for are sent before it exits, or the runtime would never see them.
    if let Some(bg) = done.announcement.take() {
        if let Err(e) = bg.wait() {
            log::warn!("{id}: a later announcement round failed: {}", crate::error::Report(&e));
        }
    }
    let mut r = CniResult {
        interfaces: vec![
            Interface {
                name: spec.host_ifname.to_string(),
                mac: done.host_mac.unwrap_or(spec.host_mac).to_string(),
                sandbox: String::new(),
            },
            Interface {
                name: spec.pod_ifname.to_string(),
                mac: spec.pod_mac.to_string(),
                sandbox: netns.display().to_string(),
            },
        ],
        dns: if addrs.dns.is_empty() { req.config.dns.clone() } else { addrs.dns.clone() },
        ..Default::default()
    };
    for (a, gw) in addrs.v4.iter().chain(addrs.v6.iter()) {
        r.ips.push(IpConfig {
            version: None,
            interface: Some(1),
            address: a.to_string(),
            gateway: Some(gw.to_string()),
        });
        let dst = if a.is_ipv4() { "0.0.0.0/0" } else { "::/0" };
        r.routes.push(RouteEntry { dst: dst.to_owned(), gw: Some(gw.to_string()) });
    }
    Ok(r)
}

/// The addresses DEL and CHECK go by: `prevResult`'s on this interface.
fn prev_addrs(req: &Request, prev: &CniResult) -> Result<Addrs, CniError> {
    let mine = prev.interfaces.iter().position(|i| i.name == req.ifname && !i.sandbox.is_empty());
    let ips: Vec<IpConfig> =
        prev.ips.iter().filter(|ip| ip.interface.is_none() || ip.interface == mine).cloned().collect();
    Addrs::from_result(&req.config, &CniResult { ips, ..Default::default() }, "prevResult")
}

/// A stand-in gateway for an address read back from an owner mark, which
/// keeps the IP but not its subnet: detach goes by the veth's mark and the
/// IPs, never by the prefix or the gateway.
fn stand_in(ip: IpAddr) -> (IpPrefix, IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let other = std::net::Ipv4Addr::from(u32::from(v4) ^ 1);
            (IpPrefix::new(ip, 31).expect("valid"), IpAddr::V4(other))
        }
        IpAddr::V6(_) => (IpPrefix::new(ip, 128).expect("valid"), "fe80::1".parse().expect("valid")),
    }
}

fn del(req: &Request) -> Result<(), CniError> {
    // A missing netns is fine (the sandbox is gone); the host's own is not.
    let gone = Path::new("/nonexistent/floatip-cni/netns");
    let netns = match req.netns.as_deref() {
        Some(p) => {
            pod_netns(p)?;
            p
        }
        None => gone,
    };
    let id = req.attachment_id();
    let host = host()?;
    let c = &req.config;
    let mut addrs = match &c.prev_result {
        Some(p) if !p.ips.is_empty() => prev_addrs(req, p)?,
        _ => Addrs::default(),
    };
    if addrs.v4.is_none() && addrs.v6.is_none() && ipam::plugin(req).is_none() && !c.ips.is_empty() {
        for a in &c.ips {
            let gw = if a.is_ipv4() { c.gateway } else { c.gateway6 };
            let (a, g) = match gw {
                Some(g) => (*a, g),
                None => stand_in(a.addr()),
            };
            addrs.push(c, a, Some(g), "runtimeConfig.ips")?;
        }
    }
    if addrs.v4.is_none() && addrs.v6.is_none() {
        // No prevResult: the attachment's owner mark tells its IPs.
        let found = host.list().map_err(|e| CniError::floatip("list", &e))?;
        if let Some(a) = found.iter().find(|a| a.attachment_id.as_deref() == Some(id.as_str())) {
            for ip in &a.ips {
                let (p, g) = stand_in(*ip);
                addrs.push(c, p, Some(g), "the owner mark")?;
            }
        }
    }
    let spec = match addrs.v4.is_some() || addrs.v6.is_some() {
        true => Some(spec(req, &addrs, netns, true).map_err(|e| CniError::floatip(&format!("spec of {id}"), &e))?),
        false => None,
    };
    // IPAM DEL runs while floatip detaches (the veth's delete waits for
    // RCU grace periods). The reference plugins release the address even
    // before they remove the interface; should the detach fail and the
    // address go to another pod meanwhile, that pod's attach finds the IP
    // routed here and fails with a conflict (100) until the runtime's
    // retried DEL has detached: never two pods on one IP.
    let release = match ipam::plugin(req) {
        Some(_) => {
            let v = ipam::version_for(req)?.unwrap_or_else(|| "1.0.0".to_owned());
            Some(ipam::start(req, Command::Del, &v)?)
        }
        None => None,
    };
    // The veth is retired (a tombstone), not deleted: the delete's RCU
    // grace periods are left to `reap`, off the runtime's critical path.
    let detached = spec.map(|s| host.detach_tombstone(&s).map_err(|e| CniError::floatip(&format!("detach {id}"), &e)));
    reap(host);
    let released = release.map(ipam::Running::finish);
    if let Some(Err(e)) = detached {
        return Err(e);
    }
    if let Some(Err(e)) = released {
        return Err(e);
    }
    Ok(())
}

fn check(req: &Request) -> Result<(), CniError> {
    let netns = req.netns.as_deref().expect("checked at parse");
    let id = req.attachment_id();
    let prev = req.config.prev_result.as_ref().ok_or_else(|| invalid("CHECK needs prevResult"))?;
    if pod_netns(netns)?.is_none() {
        return Err(bad_env(format!("CNI_NETNS {} does not exist", netns.display())));
    }
    let sandbox = prev.interfaces.iter().find(|i| i.name == req.ifname && !i.sandbox.is_empty()).ok_or_else(|| {
        CniError::new(code::UNKNOWN_CONTAINER, format!("prevResult has no interface {} in a sandbox", req.ifname))
    })?;
    let addrs = prev_addrs(req, prev)?;
    if addrs.v4.is_none() && addrs.v6.is_none() {
        return Err(invalid(format!("prevResult has no address on {}", req.ifname)));
    }
    let s = spec(req, &addrs, netns, false).map_err(|e| CniError::floatip(&format!("spec of {id}"), &e))?;
    let host = host()?;
    let mut drift: Vec<String> = host
        .check(&s)
        .map_err(|e| CniError::floatip(&format!("check {id}"), &e))?
        .iter()
        .map(|d| d.to_string())
        .collect();
    if sandbox.sandbox != netns.display().to_string() {
        drift.push(format!("prevResult: expected sandbox {}, found {}", netns.display(), sandbox.sandbox));
    }
    if !sandbox.mac.is_empty() && !sandbox.mac.eq_ignore_ascii_case(&s.pod_mac.to_string()) {
        drift.push(format!("prevResult: expected {} mac {}, found {}", req.ifname, s.pod_mac, sandbox.mac));
    }
    match prev.interfaces.iter().find(|i| i.name == s.host_ifname.as_str() && i.sandbox.is_empty()) {
        None => drift.push(format!("prevResult: expected host interface {}, found none", s.host_ifname)),
        Some(h) if !h.mac.is_empty() && !h.mac.eq_ignore_ascii_case(&s.host_mac.to_string()) => {
            drift.push(format!("prevResult: expected {} mac {}, found {}", s.host_ifname, s.host_mac, h.mac))
        }
        Some(_) => {}
    }
    if !drift.is_empty() {
        return Err(CniError::new(
            code::DRIFT,
            format!("CHECK {id}: {} difference(s), first: {}", drift.len(), drift[0]),
        )
        .details(drift.join("; ")));
    }
    if ipam::plugin(req).is_some() {
        let v = ipam::version_for(req)?.unwrap_or_else(|| "1.0.0".to_owned());
        ipam::exec(req, Command::Check, &v)?;
    }
    Ok(())
}

fn status(req: &Request) -> Result<(), CniError> {
    let c = &req.config;
    let host = host()?;
    let h = host.handle();
    let unavailable = |what: String| CniError::new(code::NOT_AVAILABLE, what);
    let up = |name: &str, role: &str, required: bool| -> Result<(), CniError> {
        match h.link_get(name) {
            Ok(l) if l.up => Ok(()),
            Ok(_) => Err(unavailable(format!("{role} {name} is down"))),
            Err(e) if e.is_not_found() && !required => Ok(()),
            Err(e) if e.is_not_found() => Err(unavailable(format!("{role} {name} does not exist"))),
            Err(e) => Err(CniError::floatip(&format!("ip link show {name}"), &e)),
        }
    };
    up(&c.uplink, "uplink", true)?;
    if c.vlan.is_some() {
        // ADD makes a missing VLAN device; one that is there must be up.
        up(&c.lan_ifname(), "VLAN device", false)?;
    }
    if let Some(b) = &c.bridge {
        up(b, "bridge", true)?;
    }
    if ipam::plugin(req).is_some() && ipam::version_for(req)?.as_deref() == Some("1.1.0") {
        ipam::exec(req, Command::Status, "1.1.0")?;
    }
    Ok(())
}

fn gc(req: &Request) -> Result<(), CniError> {
    let c = &req.config;
    let host = host()?;
    let mut valid: Vec<String> = c
        .valid_attachments
        .as_ref()
        .expect("checked at parse")
        .iter()
        .map(|(id, ifname)| format!("{id}/{ifname}"))
        .collect();
    // This network's attachments only: those of another LAN interface (or
    // mode) belong to another network, whose runtime GCs them.
    let lan = c.lan_ifname();
    let routed = c.bridge.is_none();
    for a in host.list().map_err(|e| CniError::floatip("list", &e))? {
        let ours = match routed {
            true => a.lan.as_deref() == Some(lan.as_str()),
            false => a.lan.is_none(),
        };
        if let (false, Some(id)) = (ours, a.attachment_id) {
            valid.push(id);
        }
    }
    let removed = host.gc(valid.iter().map(String::as_str)).map_err(|e| CniError::floatip("gc", &e))?;
    for r in removed {
        log::info!("GC: {r}");
    }
    if ipam::plugin(req).is_some() && ipam::version_for(req)?.as_deref() == Some("1.1.0") {
        ipam::exec(req, Command::Gc, "1.1.0")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_ins_build() {
        for ip in ["10.0.0.100", "10.0.0.101", "10.0.1.255", "2001:db8::", "2001:db8::100"] {
            let (p, g) = stand_in(ip.parse().unwrap());
            crate::floating::FloatingAddr::new(p, g).unwrap_or_else(|e| panic!("{ip}: {e}"));
        }
    }
}

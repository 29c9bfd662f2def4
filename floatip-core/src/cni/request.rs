//! A CNI request: the environment and the network configuration on stdin.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use super::types::{code, CniError, CniResult, Dns, SUPPORTED_VERSIONS};
use crate::announce::{AnnounceOptions, ArpMode};
use crate::floating::UplinkArp;
use crate::prefix::IpPrefix;
use crate::probe::ProbeOptions;

/// The CNI verb (`CNI_COMMAND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Attach the container to the network.
    Add,
    /// Detach it (idempotent).
    Del,
    /// Compare the kernel with `prevResult` and the config.
    Check,
    /// Can the plugin serve ADD now? (1.1.0)
    Status,
    /// Remove everything not in `cni.dev/valid-attachments`. (1.1.0)
    Gc,
    /// Which versions the plugin speaks.
    Version,
}

impl Command {
    /// Parses `CNI_COMMAND`.
    pub fn parse(s: &str) -> Option<Command> {
        Some(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "STATUS" => Command::Status,
            "GC" => Command::Gc,
            "VERSION" => Command::Version,
            _ => return None,
        })
    }

    /// As `CNI_COMMAND` says it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Status => "STATUS",
            Command::Gc => "GC",
            Command::Version => "VERSION",
        }
    }

    /// The verbs that name one attachment.
    fn per_container(&self) -> bool {
        matches!(self, Command::Add | Command::Del | Command::Check)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How `floatip-cni` wires the pod, from the network configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConf {
    /// `cniVersion`.
    pub cni_version: String,
    /// `name` of the network.
    pub name: String,
    /// `type` (the plugin's binary name).
    pub plugin_type: String,
    /// `uplink`: the LAN interface (or the VLAN's parent).
    pub uplink: String,
    /// `vlan`: the uplink's VLAN id, its device `<uplink>.<vid>` made if missing.
    pub vlan: Option<u16>,
    /// `mode: "bridge"` with `bridge`: the bridge to enslave the host veth
    /// to; `None` for routed mode (the default).
    pub bridge: Option<String>,
    /// `mtu` of the veth pair (default: the LAN interface's).
    pub mtu: Option<u32>,
    /// `uplinkArp`: `"proxyEntry"` (default) or `"proxyArp"`.
    pub uplink_arp: UplinkArp,
    /// `announce`: `false`, or `{rounds, intervalMs, arp, broadcastTargetMac,
    /// naRouter}`; `None` when off; absent: floatip's default (routed: 3
    /// rounds 1 s apart; bridge: off).
    pub announce: Option<Option<AnnounceOptions>>,
    /// `conflictProbe`: `true`, or `{probes, intervalMs, waitMs,
    /// askProxies}`; `None` (absent or `false`, the default): no probe.
    pub conflict_probe: Option<ProbeOptions>,
    /// `lanAddress`: an IPv4 address with prefix for a LAN interface that
    /// has none in the floating subnet (a VLAN device floatip makes).
    pub lan_address: Option<String>,
    /// `policyRouting` (default true).
    pub policy_routing: Option<bool>,
    /// `antiSpoofing` (default true).
    pub anti_spoofing: Option<bool>,
    /// `conntrackFlush` (default: true in routed mode, false in bridge
    /// mode): delete the host's conntrack entries of the IPs on ADD and DEL.
    pub conntrack_flush: Option<bool>,
    /// `routeTable` of the LAN interface.
    pub route_table: Option<u32>,
    /// `rulePriority`: the first of the three rule priorities.
    pub rule_priority: Option<u32>,
    /// `gateway`: the IPv4 gateway when the addresses come without one
    /// (`runtimeConfig.ips`, `args.cni.ips`, an IPAM result without it).
    pub gateway: Option<IpAddr>,
    /// `gateway6`: the same for IPv6 (may be link-local).
    pub gateway6: Option<IpAddr>,
    /// `lockWaitMs`: how long ADD and DEL wait for a lock held by another
    /// attach or detach before answering 11 (default 10 s).
    pub lock_wait: Duration,
    /// `ipam`, when addresses come from a delegated IPAM plugin.
    pub ipam: Option<Value>,
    /// `dns`, passed through when the IPAM result has none.
    pub dns: Dns,
    /// Addresses from `runtimeConfig.ips` and `args.cni.ips`, used when
    /// there is no `ipam` (an IPAM plugin reads them itself).
    pub ips: Vec<IpPrefix>,
    /// `prevResult`.
    pub prev_result: Option<CniResult>,
    /// GC's `cni.dev/valid-attachments`: (container id, ifname).
    pub valid_attachments: Option<Vec<(String, String)>>,
}

/// The default of [`NetConf::lock_wait`].
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(10);

/// One request as the runtime gave it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `CNI_COMMAND`.
    pub command: Command,
    /// `CNI_CONTAINERID` (empty for STATUS, GC, VERSION).
    pub container_id: String,
    /// `CNI_NETNS`, when given.
    pub netns: Option<PathBuf>,
    /// `CNI_IFNAME` (empty for STATUS, GC, VERSION).
    pub ifname: String,
    /// `CNI_ARGS` as given (`K=V;K2=V2`).
    pub args_raw: String,
    /// `CNI_ARGS` parsed.
    pub args: Vec<(String, String)>,
    /// `CNI_PATH` as given.
    pub path_raw: String,
    /// `CNI_PATH` split.
    pub path: Vec<PathBuf>,
    /// stdin, as read: what a delegated IPAM plugin gets.
    pub stdin: Vec<u8>,
    /// The configuration; for VERSION only `cni_version` is set.
    pub config: NetConf,
}

fn bad_env(msg: impl Into<String>) -> CniError {
    CniError::new(code::BAD_ENVIRONMENT, msg)
}

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::new(code::INVALID_CONFIG, msg)
}

impl Request {
    /// The request of this process: its environment and stdin.
    pub fn from_env(stdin: &[u8]) -> Result<Request, CniError> {
        Self::parse(|k| std::env::var(k).ok(), stdin)
    }

    /// A request from an environment lookup (`CNI_COMMAND`, ...) and the
    /// bytes on stdin. Fails with code 4 for the environment, 6 when stdin
    /// is not a JSON object, 1 for an unsupported `cniVersion` and 7 for
    /// an invalid configuration.
    pub fn parse(env: impl Fn(&str) -> Option<String>, stdin: &[u8]) -> Result<Request, CniError> {
        let get = |k: &str| env(k).filter(|v| !v.is_empty());
        let command = match get("CNI_COMMAND") {
            None => return Err(bad_env("CNI_COMMAND is not set")),
            Some(c) => Command::parse(&c).ok_or_else(|| bad_env(format!("unknown CNI_COMMAND {c:?}")))?,
        };
        let (mut container_id, mut ifname) = (String::new(), String::new());
        if command.per_container() {
            container_id = get("CNI_CONTAINERID").ok_or_else(|| bad_env("CNI_CONTAINERID is not set"))?;
            ifname = get("CNI_IFNAME").ok_or_else(|| bad_env("CNI_IFNAME is not set"))?;
        }
        let netns = get("CNI_NETNS").map(PathBuf::from);
        if netns.is_none() && matches!(command, Command::Add | Command::Check) {
            return Err(bad_env(format!("CNI_NETNS is not set (required for {command})")));
        }
        let path_raw = env("CNI_PATH").unwrap_or_default();
        if path_raw.is_empty() && command.per_container() {
            return Err(bad_env(format!("CNI_PATH is not set (required for {command})")));
        }
        let path = path_raw.split(':').filter(|p| !p.is_empty()).map(PathBuf::from).collect();
        let args_raw = env("CNI_ARGS").unwrap_or_default();
        let mut args = Vec::new();
        for pair in args_raw.split(';').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some((k, v)) if !k.is_empty() => args.push((k.to_owned(), v.to_owned())),
                _ => return Err(bad_env(format!("CNI_ARGS: {pair:?} is not KEY=VALUE"))),
            }
        }
        let v: Value = serde_json::from_slice(stdin)
            .map_err(|e| CniError::new(code::DECODE, format!("the network configuration on stdin is not JSON: {e}")))?;
        let Value::Object(obj) = v else {
            return Err(CniError::new(code::DECODE, "the network configuration on stdin is not a JSON object"));
        };
        let config = match command {
            Command::Version => NetConf::version_only(&obj)?,
            _ => NetConf::parse(&obj, command)?,
        };
        Ok(Request {
            command,
            container_id,
            netns,
            ifname,
            args_raw,
            args,
            path_raw,
            path,
            stdin: stdin.to_vec(),
            config,
        })
    }

    /// The attachment this request names: `CNI_CONTAINERID/CNI_IFNAME`.
    pub fn attachment_id(&self) -> String {
        format!("{}/{}", self.container_id, self.ifname)
    }

    /// The pod key: `K8S_POD_NAMESPACE/K8S_POD_NAME` from `CNI_ARGS` when
    /// both are there, else the container id.
    pub fn pod_key(&self) -> String {
        match (self.arg("K8S_POD_NAMESPACE"), self.arg("K8S_POD_NAME")) {
            (Some(ns), Some(pod)) if !ns.is_empty() && !pod.is_empty() => format!("{ns}/{pod}"),
            _ => self.container_id.clone(),
        }
    }

    /// A `CNI_ARGS` value.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Typed readers of a JSON object's fields, failing with code 7.
struct Fields<'a>(&'a Map<String, Value>, &'a str);

impl<'a> Fields<'a> {
    fn at(&self, key: &str) -> String {
        match self.1 {
            "" => key.to_owned(),
            p => format!("{p}.{key}"),
        }
    }
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }
    fn str(&self, key: &str) -> Result<Option<String>, CniError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(invalid(format!("{} must be a string, not {v}", self.at(key)))),
        }
    }
    fn bool(&self, key: &str) -> Result<Option<bool>, CniError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(invalid(format!("{} must be true or false, not {v}", self.at(key)))),
        }
    }
    fn uint(&self, key: &str, max: u64) -> Result<Option<u64>, CniError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n <= max => Ok(Some(n)),
                _ => Err(invalid(format!("{} must be a whole number 0..={max}, not {v}", self.at(key)))),
            },
        }
    }
    fn ip(&self, key: &str) -> Result<Option<IpAddr>, CniError> {
        self.str(key)?
            .map(|s| s.parse().map_err(|_| invalid(format!("{} {s:?} is not an IP address", self.at(key)))))
            .transpose()
    }
    fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, CniError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(v) => Err(invalid(format!("{} must be an object, not {v}", self.at(key)))),
        }
    }
}

fn check_version(v: &str) -> Result<(), CniError> {
    if SUPPORTED_VERSIONS.contains(&v) {
        return Ok(());
    }
    Err(CniError::new(
        code::INCOMPATIBLE_VERSION,
        format!("cniVersion {v:?} is not supported (floatip-cni speaks {})", SUPPORTED_VERSIONS.join(", ")),
    ))
}

impl NetConf {
    fn version_only(obj: &Map<String, Value>) -> Result<NetConf, CniError> {
        let f = Fields(obj, "");
        let mut c = NetConf::empty();
        c.cni_version = f.str("cniVersion")?.unwrap_or_default();
        Ok(c)
    }

    fn empty() -> NetConf {
        NetConf {
            cni_version: String::new(),
            name: String::new(),
            plugin_type: String::new(),
            uplink: String::new(),
            vlan: None,
            bridge: None,
            mtu: None,
            uplink_arp: UplinkArp::default(),
            announce: None,
            conflict_probe: None,
            lan_address: None,
            policy_routing: None,
            anti_spoofing: None,
            conntrack_flush: None,
            route_table: None,
            rule_priority: None,
            gateway: None,
            gateway6: None,
            lock_wait: DEFAULT_LOCK_WAIT,
            ipam: None,
            dns: Dns::default(),
            ips: Vec::new(),
            prev_result: None,
            valid_attachments: None,
        }
    }

    /// Reads the configuration of a `command` request.
    pub fn parse(obj: &Map<String, Value>, command: Command) -> Result<NetConf, CniError> {
        let f = Fields(obj, "");
        let mut c = NetConf::empty();
        c.cni_version = f.str("cniVersion")?.ok_or_else(|| invalid("cniVersion is missing"))?;
        check_version(&c.cni_version)?;
        if matches!(command, Command::Status | Command::Gc) && c.cni_version != "1.1.0" {
            return Err(CniError::new(
                code::INCOMPATIBLE_VERSION,
                format!("{command} needs cniVersion 1.1.0, the configuration says {}", c.cni_version),
            ));
        }
        c.name = f.str("name")?.ok_or_else(|| invalid("name is missing"))?;
        c.plugin_type = f.str("type")?.unwrap_or_default();
        c.uplink =
            f.str("uplink")?.ok_or_else(|| invalid("uplink is missing: the LAN interface of the floating IPs"))?;
        c.vlan = f.uint("vlan", 4094)?.map(|v| v as u16);
        let mode = f.str("mode")?;
        let bridge = f.str("bridge")?;
        c.bridge = match (mode.as_deref(), bridge) {
            (None | Some("routed"), None) => None,
            (Some("bridge"), Some(b)) => Some(b),
            (Some("bridge"), None) => return Err(invalid("mode \"bridge\" needs \"bridge\": the bridge's name")),
            (None | Some("routed"), Some(_)) => {
                return Err(invalid("\"bridge\" is given but mode is not \"bridge\""));
            }
            (Some(m), _) => return Err(invalid(format!("mode {m:?} is neither \"routed\" nor \"bridge\""))),
        };
        c.mtu = f.uint("mtu", 65535)?.map(|v| v as u32);
        c.uplink_arp = match f.str("uplinkArp")?.as_deref() {
            None | Some("proxyEntry") => UplinkArp::ProxyEntry,
            Some("proxyArp") => UplinkArp::ProxyArp,
            Some(o) => return Err(invalid(format!("uplinkArp {o:?} is neither \"proxyEntry\" nor \"proxyArp\""))),
        };
        c.announce = match f.get("announce") {
            None => None,
            Some(Value::Bool(false)) => Some(None),
            Some(Value::Bool(true)) => Some(Some(AnnounceOptions::default())),
            Some(Value::Object(o)) => Some(Some(announce(o)?)),
            Some(v) => return Err(invalid(format!("announce must be false or an object, not {v}"))),
        };
        c.conflict_probe = match f.get("conflictProbe") {
            None | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(ProbeOptions::default()),
            Some(Value::Object(o)) => Some(conflict_probe(o)?),
            Some(v) => return Err(invalid(format!("conflictProbe must be true, false or an object, not {v}"))),
        };
        c.lan_address = f.str("lanAddress")?;
        c.policy_routing = f.bool("policyRouting")?;
        c.anti_spoofing = f.bool("antiSpoofing")?;
        c.conntrack_flush = f.bool("conntrackFlush")?;
        c.route_table = f.uint("routeTable", u32::MAX as u64)?.map(|v| v as u32);
        c.rule_priority = f.uint("rulePriority", u32::MAX as u64)?.map(|v| v as u32);
        c.gateway = f.ip("gateway")?;
        c.gateway6 = f.ip("gateway6")?;
        if c.gateway.is_some_and(|g| !g.is_ipv4()) {
            return Err(invalid("gateway must be an IPv4 address (gateway6 is the IPv6 one)"));
        }
        if c.gateway6.is_some_and(|g| g.is_ipv4()) {
            return Err(invalid("gateway6 must be an IPv6 address"));
        }
        if let Some(ms) = f.uint("lockWaitMs", 3_600_000)? {
            c.lock_wait = Duration::from_millis(ms);
        }
        if let Some(ipam) = f.object("ipam")? {
            if !ipam.is_empty() {
                match Fields(ipam, "ipam").str("type")? {
                    Some(t) if !t.is_empty() && !t.contains('/') => {}
                    _ => return Err(invalid("ipam.type must name the IPAM plugin (a file in CNI_PATH)")),
                }
                c.ipam = Some(Value::Object(ipam.clone()));
            }
        }
        if let Some(d) = f.get("dns") {
            c.dns = serde_json::from_value(d.clone()).map_err(|e| invalid(format!("dns: {e}")))?;
        }
        let mut ips = Vec::new();
        if let Some(rc) = f.object("runtimeConfig")? {
            ips.extend(ip_list(&Fields(rc, "runtimeConfig"), "ips")?);
        }
        if let Some(cni) = f.object("args")?.map(|a| Fields(a, "args").object("cni")).transpose()?.flatten() {
            ips.extend(ip_list(&Fields(cni, "args.cni"), "ips")?);
        }
        ips.dedup();
        c.ips = ips;
        if let Some(p) = f.get("prevResult") {
            c.prev_result = Some(CniResult::from_json(p).map_err(|e| invalid(format!("prevResult: {e}")))?);
        }
        if command == Command::Gc {
            let va = f.get("cni.dev/valid-attachments").ok_or_else(|| {
                invalid("GC without cni.dev/valid-attachments: floatip-cni will not guess which attachments are valid")
            })?;
            let list = va.as_array().ok_or_else(|| invalid("cni.dev/valid-attachments must be a list"))?;
            let mut valid = Vec::new();
            for a in list {
                let (Some(id), Some(ifn)) = (a["containerID"].as_str(), a["ifname"].as_str()) else {
                    return Err(invalid(format!("cni.dev/valid-attachments: {a} lacks containerID or ifname")));
                };
                valid.push((id.to_owned(), ifn.to_owned()));
            }
            c.valid_attachments = Some(valid);
        }
        Ok(c)
    }

    /// The interface facing the LAN: the uplink or its VLAN device.
    pub fn lan_ifname(&self) -> String {
        match self.vlan {
            Some(v) => format!("{}.{v}", self.uplink),
            None => self.uplink.clone(),
        }
    }
}

fn announce(o: &Map<String, Value>) -> Result<AnnounceOptions, CniError> {
    let f = Fields(o, "announce");
    let mut a = AnnounceOptions::default();
    if let Some(n) = f.uint("rounds", 100)? {
        a.count = n as u32;
    }
    if let Some(ms) = f.uint("intervalMs", 60_000)? {
        a.interval = Duration::from_millis(ms);
    }
    a.arp = match f.str("arp")?.as_deref() {
        None | Some("both") => ArpMode::Both,
        Some("request") => ArpMode::Request,
        Some("reply") => ArpMode::Reply,
        Some(o) => return Err(invalid(format!("announce.arp {o:?} is not \"both\", \"request\" or \"reply\""))),
    };
    a.broadcast_target_mac = f.bool("broadcastTargetMac")?.unwrap_or(false);
    a.na_router = f.bool("naRouter")?.unwrap_or(false);
    Ok(a)
}

fn conflict_probe(o: &Map<String, Value>) -> Result<ProbeOptions, CniError> {
    let f = Fields(o, "conflictProbe");
    let mut p = ProbeOptions::default();
    if let Some(n) = f.uint("probes", 100)? {
        p.count = n as u32;
    }
    if let Some(ms) = f.uint("intervalMs", 10_000)? {
        p.interval = Duration::from_millis(ms);
    }
    if let Some(ms) = f.uint("waitMs", 10_000)? {
        p.wait = Duration::from_millis(ms);
    }
    if let Some(b) = f.bool("askProxies")? {
        p.ask_proxies = b;
    }
    p.validate().map_err(|e| invalid(format!("conflictProbe: {e}")))?;
    Ok(p)
}

fn ip_list(f: &Fields<'_>, key: &str) -> Result<Vec<IpPrefix>, CniError> {
    let Some(v) = f.get(key) else { return Ok(Vec::new()) };
    let list = v.as_array().ok_or_else(|| invalid(format!("{} must be a list of addresses", f.at(key))))?;
    list.iter()
        .map(|x| {
            let s = x.as_str().ok_or_else(|| invalid(format!("{}: {x} is not a string", f.at(key))))?;
            // An address without a prefix length is refused: the pod must
            // know its subnet, and so must the gateway check.
            match s.contains('/') {
                true => s.parse().map_err(|e| invalid(format!("{}: {s:?}: {e}", f.at(key)))),
                false => Err(invalid(format!("{}: {s:?} needs a prefix length (10.0.0.100/23)", f.at(key)))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    const CONF: &str = r#"{"cniVersion":"1.0.0","name":"lan","type":"floatip-cni","uplink":"up0"}"#;

    #[test]
    fn environment() {
        let base = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c0ffee"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", "/run/netns/x"),
            ("CNI_PATH", "/opt/cni/bin:/usr/lib/cni"),
            ("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0"),
        ];
        let r = Request::parse(env(&base), CONF.as_bytes()).unwrap();
        assert_eq!(r.attachment_id(), "c0ffee/eth0");
        assert_eq!(r.pod_key(), "default/web-0");
        assert_eq!(r.path.len(), 2);
        for drop in ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS", "CNI_PATH"] {
            let e: Vec<_> = base.iter().copied().filter(|(k, _)| *k != drop).collect();
            assert_eq!(Request::parse(env(&e), CONF.as_bytes()).unwrap_err().code, 4, "{drop}");
        }
        let mut bad = base;
        bad[5].1 = "novalue";
        assert_eq!(Request::parse(env(&bad), CONF.as_bytes()).unwrap_err().code, 4);
        assert_eq!(Request::parse(env(&base), b"{nope").unwrap_err().code, 6);
        assert_eq!(Request::parse(env(&base), b"[1]").unwrap_err().code, 6);
        let del = [("CNI_COMMAND", "DEL"), ("CNI_CONTAINERID", "c"), ("CNI_IFNAME", "eth0"), ("CNI_PATH", "/x")];
        let r = Request::parse(env(&del), CONF.as_bytes()).unwrap();
        assert_eq!((r.netns.clone(), r.pod_key()), (None, "c".to_owned()), "DEL needs no netns");
    }

    #[test]
    fn configuration() {
        let e = [("CNI_COMMAND", "STATUS")];
        let parse = |s: &str| Request::parse(env(&e), s.as_bytes()).map(|r| r.config);
        let c = |extra: &str| parse(&format!(r#"{{"cniVersion":"1.1.0","name":"n","uplink":"up0"{extra}}}"#));
        let ok = c(r#","vlan":100,"mode":"bridge","bridge":"br0","announce":{"rounds":1,"intervalMs":50,"arp":"reply"},"runtimeConfig":{"ips":["10.0.0.100/23"]},"gateway":"10.0.0.1""#).unwrap();
        assert_eq!((ok.vlan, ok.bridge.as_deref(), ok.lan_ifname().as_str()), (Some(100), Some("br0"), "up0.100"));
        let a = ok.announce.unwrap().unwrap();
        assert_eq!((a.count, a.interval, a.arp), (1, Duration::from_millis(50), ArpMode::Reply));
        assert_eq!(ok.ips, vec!["10.0.0.100/23".parse().unwrap()]);
        assert_eq!(c(r#","announce":false"#).unwrap().announce, Some(None));
        assert_eq!(ok.conflict_probe, None, "no conflict probe by default");
        assert_eq!(c(r#","conflictProbe":false"#).unwrap().conflict_probe, None);
        assert_eq!(c(r#","conflictProbe":true"#).unwrap().conflict_probe, Some(ProbeOptions::default()));
        let p = c(r#","conflictProbe":{"probes":3,"intervalMs":20,"waitMs":60,"askProxies":false}"#)
            .unwrap()
            .conflict_probe
            .unwrap();
        assert_eq!(
            p,
            ProbeOptions {
                count: 3,
                interval: Duration::from_millis(20),
                wait: Duration::from_millis(60),
                ask_proxies: false
            }
        );
        for bad in [
            r#","vlan":5000"#,
            r#","mode":"bridge""#,
            r#","mode":"l2""#,
            r#","bridge":"br0""#,
            r#","mtu":"big""#,
            r#","uplinkArp":"x""#,
            r#","announce":3"#,
            r#","conflictProbe":1"#,
            r#","conflictProbe":{"probes":0}"#,
            r#","conflictProbe":{"waitMs":60000}"#,
            r#","conflictProbe":{"askProxies":"yes"}"#,
            r#","gateway":"fe80::1""#,
            r#","runtimeConfig":{"ips":["10.0.0.100"]}"#,
            r#","ipam":{"dir":"/x"}"#,
        ] {
            assert_eq!(c(bad).unwrap_err().code, 7, "{bad}");
        }
        assert_eq!(parse(r#"{"cniVersion":"1.1.0","name":"n"}"#).unwrap_err().code, 7, "no uplink");
        assert_eq!(parse(r#"{"cniVersion":"0.3.1","name":"n","uplink":"u"}"#).unwrap_err().code, 1);
        assert_eq!(parse(r#"{"cniVersion":"1.0.0","name":"n","uplink":"u"}"#).unwrap_err().code, 1, "STATUS is 1.1");
    }
}

//! The kernel state after a method's setup, read back with iproute2's JSON
//! output (an independent reader) and normalized so that methods can be
//! compared line by line.
//!
//! Compared: every link of the host and of each pod with its name, kind,
//! admin state (`UP`), MTU, group, qdisc, txqlen, master and veth peer (as
//! `pod<k>/eth0` or `host/vh<k>`, checked by ifindex both ways); IPv4
//! addresses with prefix, broadcast, scope and flags; every IPv4 route of
//! every table with type, protocol, scope, source and next hop (the main
//! table's, and the policy table T's two routes); the host's policy rules of
//! both families (`ip rule`, `ip -6 rule`: priority, selectors, `iif`,
//! action, table, `suppress_prefixlength`, protocol), so that a method that
//! forgets a rule or marks it otherwise fails the check; the host's proxy
//! entries; and the host's `ip_forward`, `conf/*/proxy_arp`,
//! `neigh/*/proxy_delay` and `ipv6/conf/*/disable_ipv6`.
//!
//! Left out on purpose (they differ from run to run whoever configures the
//! pod, or are the kernel's own doing): MAC addresses, ifindexes and netns
//! ids (the peer check uses them but prints names), operational state and
//! carrier flags (`LOWER_UP`, `NO-CARRIER`, the routes' `linkdown`: the
//! kernel updates them asynchronously from its link watch, up to a second
//! after setup), counters, address lifetimes, and IPv6 (the link-local
//! addresses and routes the kernel adds by itself when a link comes up carry
//! the random MAC; no method configures IPv6 here).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::lab::{Lab, Pod};

/// A normalized dump: one line per fact, sorted.
pub type Snapshot = BTreeSet<String>;

/// `ip -4 -j -d [-n NS] -batch -` with `commands`, one JSON array per command.
fn ip_batch_json(netns: &str, commands: &[&str]) -> Result<Vec<Vec<Value>>, String> {
    ip_batch_json_family("-4", netns, commands)
}

/// The same with `family` (`-4` or `-6`).
fn ip_batch_json_family(family: &str, netns: &str, commands: &[&str]) -> Result<Vec<Vec<Value>>, String> {
    let mut child = Command::new("ip")
        .args([family, "-j", "-d", "-n", netns, "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn ip: {e}"))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all((commands.join("\n") + "\n").as_bytes())
        .map_err(|e| format!("write to ip: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("ip: {e}"))?;
    if !out.status.success() {
        return Err(format!("ip -n {netns} -batch: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut arrays = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(Value::Array(v)) => arrays.push(v),
            Ok(other) => arrays.push(vec![other]),
            Err(e) => return Err(format!("ip -j -n {netns}: {e}: {line}")),
        }
    }
    if arrays.len() != commands.len() {
        return Err(format!("ip -j -n {netns}: {} answers to {} commands: {text}", arrays.len(), commands.len()));
    }
    Ok(arrays)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("-")
}

fn n(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(-1)
}

/// `k=v` for every key of an object but `skip`, sorted, values compact.
fn kv(v: &Value, skip: &[&str]) -> String {
    let mut parts = Vec::new();
    if let Some(o) = v.as_object() {
        let sorted: BTreeMap<&String, &Value> = o.iter().collect();
        for (k, val) in sorted {
            if skip.contains(&k.as_str()) {
                continue;
            }
            let text = match val {
                Value::String(x) => x.clone(),
                Value::Array(a) => {
                    // Flags: drop the ones the kernel changes asynchronously.
                    let mut f: Vec<String> = a
                        .iter()
                        .map(|x| x.as_str().map(str::to_owned).unwrap_or_else(|| x.to_string()))
                        .filter(|x| !matches!(x.as_str(), "linkdown" | "LOWER_UP" | "NO-CARRIER" | "M-DOWN"))
                        .collect();
                    f.sort();
                    f.join(",")
                }
                other => other.to_string(),
            };
            parts.push(format!("{k}={text}"));
        }
    }
    parts.join(" ")
}

fn link_line(role: &str, l: &Value, peer: String) -> String {
    let flags: Vec<&str> =
        l.get("flags").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let kind = l.get("linkinfo").and_then(|i| i.get("info_kind")).and_then(Value::as_str).unwrap_or("-");
    format!(
        "{role} link {} kind={kind} up={} mtu={} group={} qdisc={} txqlen={} master={} peer={peer}",
        s(l, "ifname"),
        flags.contains(&"UP"),
        n(l, "mtu"),
        s(l, "group"),
        s(l, "qdisc"),
        n(l, "txqlen"),
        s(l, "master"),
    )
}

fn addr_lines(role: &str, links: &[Value], out: &mut Snapshot) {
    for l in links {
        for a in l.get("addr_info").and_then(Value::as_array).into_iter().flatten() {
            if s(a, "family") != "inet" {
                continue;
            }
            out.insert(format!(
                "{role} addr dev={} {}",
                s(l, "ifname"),
                kv(a, &["valid_life_time", "preferred_life_time"])
            ));
        }
    }
}

/// Reads the host and every pod in `pods` and returns the normalized dump.
pub fn snapshot(lab: &Lab, pods: &[Pod]) -> Result<Snapshot, String> {
    let mut out = Snapshot::new();
    let host = ip_batch_json(
        &lab.host.name,
        &["link show", "addr show", "route show table all", "neigh show proxy", "netns list-id", "rule show"],
    )?;
    let (host_links, host_addrs, host_routes, proxies, ids) = (&host[0], &host[1], &host[2], &host[3], &host[4]);
    let rules6 = ip_batch_json_family("-6", &lab.host.name, &["rule show"])?;
    for (fam, rules) in [("inet", &host[5]), ("inet6", &rules6[0])] {
        for r in rules {
            out.insert(format!("host rule {fam} {}", kv(r, &[])));
        }
    }
    let nsid: BTreeMap<i64, String> = ids.iter().map(|i| (n(i, "nsid"), s(i, "name").to_owned())).collect();
    let by_ns: BTreeMap<&str, &Pod> = pods.iter().map(|p| (p.netns.as_str(), p)).collect();
    let host_index: BTreeMap<String, i64> =
        host_links.iter().map(|l| (s(l, "ifname").to_owned(), n(l, "ifindex"))).collect();

    let mut pod_dumps = Vec::new();
    for p in pods {
        let d = ip_batch_json(&p.netns, &["link show", "addr show", "route show table all"])
            .map_err(|e| format!("pod{}: {e}", p.k))?;
        pod_dumps.push((p, d));
    }
    let pod_eth0: BTreeMap<&str, i64> = pod_dumps
        .iter()
        .filter_map(|(p, d)| {
            d[0].iter().find(|l| s(l, "ifname") == "eth0").map(|l| (p.netns.as_str(), n(l, "ifindex")))
        })
        .collect();

    for l in host_links {
        let peer = match l.get("link_netnsid").and_then(Value::as_i64) {
            None => l.get("link").and_then(Value::as_str).map(|x| format!("host/{x}")).unwrap_or_else(|| "-".into()),
            Some(id) => {
                let ns = nsid.get(&id).map(String::as_str).unwrap_or("?");
                if ns == lab.sink.name {
                    "sink".into()
                } else if let Some(p) = by_ns.get(ns) {
                    // The host veth of pod k must pair with pod k's eth0.
                    let idx = n(l, "link_index");
                    if pod_eth0.get(ns) == Some(&idx) {
                        format!("pod{}/eth0", p.k)
                    } else {
                        format!("pod{}/ifindex{idx}", p.k)
                    }
                } else {
                    format!("netns:{ns}")
                }
            }
        };
        out.insert(link_line("host", l, peer));
    }
    addr_lines("host", host_addrs, &mut out);
    for r in host_routes {
        out.insert(format!("host route {}", kv(r, &[])));
    }
    for p in proxies {
        out.insert(format!("host proxy {}", kv(p, &[])));
    }

    for (p, d) in &pod_dumps {
        let role = format!("pod{}", p.k);
        for l in &d[0] {
            let peer = match (s(l, "ifname"), l.get("link_index").and_then(Value::as_i64)) {
                ("eth0", Some(idx)) => {
                    if host_index.get(&p.host_if) == Some(&idx) {
                        format!("host/{}", p.host_if)
                    } else {
                        format!("host/ifindex{idx}")
                    }
                }
                (_, Some(idx)) => format!("ifindex{idx}"),
                _ => "-".into(),
            };
            out.insert(link_line(&role, l, peer));
        }
        addr_lines(&role, &d[1], &mut out);
        for r in &d[2] {
            out.insert(format!("{role} route {}", kv(r, &[])));
        }
    }

    // Sysctls, read by a shell inside the host namespace.
    let sh = Command::new("ip")
        .args(["netns", "exec", &lab.host.name, "sh", "-c"])
        .arg("cd /proc/sys/net && grep -H . ipv4/ip_forward ipv4/conf/*/proxy_arp ipv4/neigh/*/proxy_delay ipv6/conf/*/disable_ipv6")
        .output()
        .map_err(|e| format!("ip netns exec: {e}"))?;
    if !sh.status.success() {
        return Err(format!("read sysctls: {}", String::from_utf8_lossy(&sh.stderr).trim()));
    }
    for line in String::from_utf8_lossy(&sh.stdout).lines() {
        out.insert(format!("host sysctl {line}"));
    }
    Ok(out)
}

/// The lines only in `a` and only in `b`, at most `max` of each.
pub fn diff(a: &Snapshot, b: &Snapshot, max: usize) -> (Vec<String>, Vec<String>) {
    (a.difference(b).take(max).cloned().collect(), b.difference(a).take(max).cloned().collect())
}

//! `fip-probe`: floatip verbs from a process of their own, for the tests
//! that need another process (a fresh `Host` reading the marks, two
//! processes racing for one IP, an attach killed with SIGKILL).
//!
//! ```text
//! fip-probe list HOSTNS                    one line per attachment: ID STATE IPS
//! fip-probe attach HOSTNS PODNS ID IP      attach (pod netns exists); prints ok or conflict
//! fip-probe attach-create HOSTNS PODNS ID IP   attach, creating the pod netns
//! fip-probe churn HOSTNS TAG N START       N cycles on one kept Host: create a pod netns,
//!                                          attach 10.0.1.(START+i)/23, detach; prints ok N
//! fip-probe tombstones HOSTNS START PODNS...   attach 10.0.1.(START+i)/23 in each pod netns,
//!                                          detach (tombstones the reaper keeps for an hour),
//!                                          print ready, and sleep until killed
//! ```

use floatip::floating::{FloatingIp, NetnsRef};
use floatip::{ErrorKind, Host};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let host = |name: &str| Host::open(NetnsRef::Name(name.to_owned())).expect("open host netns");
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["list", h] => {
            let mut lines: Vec<String> = host(h)
                .list()
                .expect("list")
                .iter()
                .map(|a| {
                    let ips: Vec<String> = a.ips.iter().map(|i| i.to_string()).collect();
                    format!("{} {} {}", a.attachment_id.as_deref().unwrap_or("-"), a.state, ips.join(","))
                })
                .collect();
            lines.sort();
            for l in lines {
                println!("{l}");
            }
        }
        [verb @ ("attach" | "attach-create"), h, pod, id, ip] => {
            let b = FloatingIp::builder(*id, "up0").host_netns(NetnsRef::Name((*h).to_owned())).attachment_id(*id);
            let b = if *verb == "attach" { b.pod_netns_name(*pod) } else { b.create_pod_netns(*pod) };
            let spec = b.ipv4(*ip, "10.0.0.1").no_announce().build().expect("spec");
            match host(h).attach(&spec) {
                Ok(_) => println!("ok"),
                Err(e) if e.kind() == ErrorKind::Conflict => println!("conflict"),
                Err(e) => {
                    eprintln!("fip-probe: {e}");
                    std::process::exit(1);
                }
            }
        }
        ["churn", h, tag, n, start] => {
            let (n, start): (u32, u32) = (n.parse().expect("N"), start.parse().expect("START"));
            let host = host(h);
            for i in 0..n {
                let spec = FloatingIp::builder(format!("churn/{tag}-{i}"), "up0")
                    .host_netns(NetnsRef::Name((*h).to_owned()))
                    .create_pod_netns(format!("{h}-{tag}{i}"))
                    .ipv4(format!("10.0.1.{}/23", start + i), "10.0.0.1")
                    .no_announce()
                    .build()
                    .expect("spec");
                host.attach(&spec).unwrap_or_else(|e| panic!("attach {i}: {e}"));
                host.detach(&spec).unwrap_or_else(|e| panic!("detach {i}: {e}"));
            }
            host.flush().expect("flush");
            println!("ok {n}");
        }
        ["tombstones", h, start, pods @ ..] => {
            let start: u32 = start.parse().expect("START");
            let host = host(h).with_reap_pace(std::time::Duration::from_secs(3600), usize::MAX);
            for (i, pod) in pods.iter().enumerate() {
                let spec = FloatingIp::builder(format!("tomb/{i}"), "up0")
                    .host_netns(NetnsRef::Name((*h).to_owned()))
                    .pod_netns_name(*pod)
                    .ipv4(format!("10.0.1.{}/23", start + i as u32), "10.0.0.1")
                    .no_announce()
                    .build()
                    .expect("spec");
                host.attach(&spec).expect("attach");
                host.detach(&spec).expect("detach");
            }
            println!("ready");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(60));
            }
        }
        _ => {
            eprintln!("usage: fip-probe list HOSTNS | attach[-create] HOSTNS PODNS ID IP | churn HOSTNS TAG N START | tombstones HOSTNS START PODNS...");
            std::process::exit(2);
        }
    }
}

//! `fip-probe`: floatip verbs from a process of their own, for the tests
//! that need another process (a fresh `Host` reading the marks, two
//! processes racing for one IP, an attach killed with SIGKILL).
//!
//! ```text
//! fip-probe list HOSTNS                    one line per attachment: ID STATE IPS
//! fip-probe attach HOSTNS PODNS ID IP      attach (pod netns exists); prints ok or conflict
//! fip-probe attach-create HOSTNS PODNS ID IP   attach, creating the pod netns
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
        _ => {
            eprintln!("usage: fip-probe list HOSTNS | attach[-create] HOSTNS PODNS ID IP");
            std::process::exit(2);
        }
    }
}

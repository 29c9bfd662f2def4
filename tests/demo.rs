//! `make demo`: the floating-IP scenario end to end, in throwaway network
//! namespaces, told step by step. Ctrl-C at any point cleans up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use floatip::announce::{AnnounceOptions, Announcer};
use floatip::floating::{FloatingIp, NetnsRef};
use netlab::{Lan, TestNs, HOST_A_MAC, HOST_B_MAC};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Stops the demo (unwinding, so every namespace is deleted) after Ctrl-C.
fn checkpoint() {
    if INTERRUPTED.load(Ordering::SeqCst) {
        println!("\ninterrupted: removing the demo's namespaces");
        std::panic::resume_unwind(Box::new("interrupted"));
    }
}

fn say(s: &str) {
    checkpoint();
    println!("{s}");
}

fn ping(from: &TestNs, who: &str, dst: &str) -> bool {
    checkpoint();
    let ok = from.ping(dst);
    println!("    {who:<6} ping {dst:<12} {}", if ok { "reply" } else { "NO REPLY" });
    ok
}

/// Pings once a second-ish until a reply: (lost pings, time to the reply).
fn ping_until_reply(from: &TestNs, dst: &str, limit: Duration) -> (u32, Duration) {
    let t = Instant::now();
    let mut lost = 0;
    while !from.ping(dst) {
        checkpoint();
        lost += 1;
        if t.elapsed() > limit {
            break;
        }
    }
    (lost, t.elapsed())
}

fn arp(peer: &TestNs, ip: &str) -> String {
    let mac = peer.neigh_mac(ip).unwrap_or_else(|| "(none)".into());
    let who = match mac.as_str() {
        HOST_A_MAC => " = hostA's uplink",
        HOST_B_MAC => " = hostB's uplink",
        _ => "",
    };
    format!("{mac}{who}")
}

fn main() {
    // SAFETY: installing a handler that only stores to an atomic.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
    let r = std::panic::catch_unwind(run);
    // Namespaces are deleted by the drops inside `run`, also when it unwound.
    let left: Vec<String> =
        floatip::Netns::list().unwrap_or_default().into_iter().filter(|n| n.starts_with("fipdemo-")).collect();
    if !left.is_empty() {
        eprintln!("demo: namespaces left behind: {left:?}");
        std::process::exit(1);
    }
    match r {
        Ok(()) => println!("\ncleaned up: every demo namespace is gone."),
        Err(_) if INTERRUPTED.load(Ordering::SeqCst) => std::process::exit(130),
        Err(_) => std::process::exit(1),
    }
}

fn run() {
    say("floatip demo: a pod's floating IP 10.0.0.100/23 (gateway 10.0.0.1) moves between nodes.\n");
    say("1. The LAN, built from network namespaces (nothing touches this machine's own network):");
    let lan = Lan::with_prefix("fipdemo", "lan");
    say("      switch  bridge br0, one port per member");
    say("      gw      lan0 10.0.0.1/23   02:00:00:00:01:01");
    say(&format!("      hostA   up0  10.0.0.2/23   {HOST_A_MAC}"));
    say(&format!("      hostB   up0  10.0.0.3/23   {HOST_B_MAC}"));
    say("      peer    lan0 10.0.0.7/23   02:00:00:00:07:01  (a LAN neighbour talking to the pod)\n");

    say("2. Attach the pod on hostA, routed mode (veth, no bridge):");
    let pod_a = TestNs::with_prefix("fipdemo", "pod-on-A");
    let fa = FloatingIp::builder("default/web-0", "up0")
        .host_netns(NetnsRef::Name(lan.host_a.name.clone()))
        .pod_netns_name(pod_a.name.clone())
        .ipv4("10.0.0.100/23", "10.0.0.1")
        .no_announce()
        .build()
        .expect("valid spec");
    let t = Instant::now();
    let done = fa.attach().expect("attach on hostA");
    let took = t.elapsed();
    for c in &done.changes {
        say(&format!("      {}", c.replace("POD", &pod_a.name)));
    }
    say(&format!(
        "    attach took {:.2} ms; check() finds {} differences.\n",
        took.as_secs_f64() * 1e3,
        fa.check().unwrap().len()
    ));

    say("3. Traffic:");
    ping(&lan.peer, "peer", "10.0.0.100");
    ping(&pod_a, "pod", "10.0.0.1");
    ping(&pod_a, "pod", "10.0.0.7");
    say(&format!("    peer's ARP entry for 10.0.0.100: {}\n", arp(&lan.peer, "10.0.0.100")));

    say("4. hostA fails: the pod is detached there, hostA's uplink goes down, and the pod is attached on hostB.");
    fa.detach().expect("detach on hostA");
    lan.host_a.ip("link set up0 down");
    let pod_b = TestNs::with_prefix("fipdemo", "pod-on-B");
    let fb = FloatingIp::builder("default/web-0", "up0")
        .host_netns(NetnsRef::Name(lan.host_b.name.clone()))
        .pod_netns_name(pod_b.name.clone())
        .ipv4("10.0.0.100/23", "10.0.0.1")
        .no_announce() // first without, to show the problem
        .build()
        .expect("valid spec");
    fb.attach().expect("attach on hostB");
    say(&format!("    peer's ARP entry for 10.0.0.100:    {}", arp(&lan.peer, "10.0.0.100")));
    say(&format!("    gateway's ARP entry for 10.0.0.100: {}", arp(&lan.gw, "10.0.0.100")));
    say("    Both still send the pod's traffic to hostA, which is down:");
    ping(&pod_b, "pod", "10.0.0.1");
    let (lost, waited) = ping_until_reply(&lan.peer, "10.0.0.100", Duration::from_secs(4));
    say(&format!(
        "    without an announcement the peer lost {lost} pings in {:.1} s (until its ARP entry ages out: minutes on a real LAN).",
        waited.as_secs_f64()
    ));
    say(&format!("    peer's ARP entry for 10.0.0.100 now: {}\n", arp(&lan.peer, "10.0.0.100")));

    say("5. hostB announces 10.0.0.100: a gratuitous ARP request and reply from its uplink, raw frames on AF_PACKET:");
    let t0 = Instant::now();
    let announcer = Announcer::new(&lan.host_b.ns, "up0").expect("open AF_PACKET socket");
    let t = Instant::now();
    announcer.announce(&["10.0.0.100".parse().unwrap()], &AnnounceOptions::default().count(1)).expect("announce");
    say(&format!(
        "    sent in {:.0} µs (opening the socket took {:.0} µs)",
        t.elapsed().as_secs_f64() * 1e6,
        (t - t0).as_secs_f64() * 1e6
    ));
    say(&format!("    peer's ARP entry for 10.0.0.100:    {}", arp(&lan.peer, "10.0.0.100")));
    say(&format!("    gateway's ARP entry for 10.0.0.100: {}", arp(&lan.gw, "10.0.0.100")));
    ping(&lan.peer, "peer", "10.0.0.100");
    ping(&pod_b, "pod", "10.0.0.1");

    say("\n6. The same move again, back to hostA, with attach's own announcement (on by default):");
    fb.detach().expect("detach on hostB");
    lan.host_b.ip("link set up0 down");
    lan.host_a.ip("link set up0 up");
    let fa2 = FloatingIp::builder("default/web-0", "up0")
        .host_netns(NetnsRef::Name(lan.host_a.name.clone()))
        .pod_netns_name(pod_a.name.clone())
        .ipv4("10.0.0.100/23", "10.0.0.1")
        .build()
        .expect("valid spec");
    let done = fa2.attach().expect("attach on hostA");
    for a in &done.announced {
        say(&format!("      {a}"));
    }
    let (lost, waited) = ping_until_reply(&lan.peer, "10.0.0.100", Duration::from_secs(4));
    say(&format!("    peer's ARP entry for 10.0.0.100: {}", arp(&lan.peer, "10.0.0.100")));
    say(&format!(
        "    with the announcement the peer lost {lost} pings; its first ping got a reply after {:.0} ms.",
        waited.as_secs_f64() * 1e3
    ));
    if let Some(bg) = done.announcement {
        let r = bg.stop().expect("background rounds");
        say(&format!("    (background sender stopped after {} rounds, {} frames)", r.rounds, r.frames));
    }
    fa2.detach().expect("detach on hostA");
    say("\n7. Clean up: delete every namespace.");
    std::thread::sleep(Duration::from_millis(10));
}

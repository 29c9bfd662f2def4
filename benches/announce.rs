//! Announcement cost, side by side in one run:
//! - `announce/build_garp`: one frame into a buffer (sans-IO);
//! - `announce/floatip_1000_ips`: one round for 1,000 IPv4 addresses, a
//!   gratuitous request and a reply each (2,000 frames, `sendmmsg` batches),
//!   on a veth inside a namespace;
//! - `announce/arping_per_ip`: what users do today, one
//!   `arping -c 1 -U -I up0 IP` process per address, on the same veth (with
//!   `ip_nonlocal_bind=1` in that namespace, which arping needs). Multiply by
//!   1,000 for the same work.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use floatip::announce::{AnnounceOptions, Announcer, ArpMode};
use floatip::wire::garp::{build_garp, GarpOptions};
use floatip::wire::Mac;
use floatip::{IfName, VethSpec};
use netlab::TestNs;

fn announce(c: &mut Criterion) {
    let host = TestNs::with_prefix("fipbench", "ann-host");
    let sink = TestNs::with_prefix("fipbench", "ann-sink");
    let h = host.handle();
    let mut v = VethSpec::new(IfName::new("up0").unwrap(), IfName::new("v1").unwrap());
    v.peer_netns = Some(&sink.ns);
    v.mac = Some(Mac([2, 0, 0, 0, 0x0b, 1]));
    h.veth_add(&v).unwrap();
    h.link_set_up(h.link_get("up0").unwrap().index).unwrap();
    let s = sink.handle();
    s.link_set_up(s.link_get("v1").unwrap().index).unwrap();
    host.ns.sysctl_set(&floatip::SysctlKey::parse("net.ipv4.ip_nonlocal_bind").unwrap(), "1").unwrap();

    let ips: Vec<IpAddr> = (0..1000u32).map(|i| IpAddr::V4(Ipv4Addr::from(0x0a00_1000 + i))).collect();
    let a = Announcer::new(&host.ns, "up0").unwrap();
    let one_round = AnnounceOptions::default().count(1).arp(ArpMode::Both);

    let mut g = c.benchmark_group("announce");
    let mut buf = [0u8; 64];
    let mac = Mac([2, 0, 0, 0, 0x0b, 1]);
    g.bench_function("build_garp", |b| {
        b.iter(|| build_garp(&mut buf, mac, Ipv4Addr::new(10, 0, 0, 100), &GarpOptions::default()).unwrap())
    });
    g.sample_size(20);
    g.bench_function("floatip_1000_ips", |b| b.iter(|| assert_eq!(a.send_round(&ips, &one_round).unwrap(), 2000)));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(12));
    let mut n = 0usize;
    g.bench_function("arping_per_ip", |b| {
        b.iter_custom(|iters| {
            // The process starts inside the namespace: spawned from a helper
            // thread that entered it, so no `ip netns exec` is counted.
            host.ns
                .run(|| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        n += 1;
                        let ip = format!("10.0.{}.{}", 16 + n / 250, 1 + n % 250);
                        let st =
                            Command::new("arping").args(["-q", "-c", "1", "-U", "-I", "up0", &ip]).status().unwrap();
                        assert!(st.success());
                    }
                    t.elapsed()
                })
                .unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    targets = announce
}
criterion_main!(benches);

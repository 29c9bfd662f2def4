//! Attach + detach of one pod's floating IP into an existing pod namespace,
//! on the simulated LAN (host side in a namespace too). Reports time per pod.

use criterion::{criterion_group, criterion_main, Criterion};
use floatip::floating::{FloatingIp, NetnsRef};
use netlab::{Lan, TestNs};

fn attach_detach(c: &mut Criterion) {
    let lan = Lan::with_prefix("fipbench", "lan");
    let pod = TestNs::with_prefix("fipbench", "pod");
    let f = FloatingIp::builder("bench/pod", "up0")
        .host_netns(NetnsRef::Name(lan.host_a.name.clone()))
        .pod_netns_name(pod.name.clone())
        .ipv4("10.0.0.100/23", "10.0.0.1")
        // One round of announcement, sent inside attach: the background
        // rounds would pile up threads across iterations.
        .announce(floatip::announce::AnnounceOptions::default().count(1))
        .build()
        .unwrap();
    // Shared settings (ip_forward, the uplink's proxy_delay) are set once,
    // as on a node that already runs pods; each iteration is one pod.
    f.attach().unwrap();
    f.detach().unwrap();
    let mut g = c.benchmark_group("floating");
    g.sample_size(20);
    g.bench_function("attach_detach_ipv4", |b| {
        b.iter(|| {
            f.attach().unwrap();
            f.detach().unwrap();
        })
    });
    g.bench_function("attach_only_ipv4", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                let t = std::time::Instant::now();
                f.attach().unwrap();
                total += t.elapsed();
                f.detach().unwrap();
            }
            total
        })
    });
    // The same through a kept `Host` (what a node agent does): no host
    // namespace, caller namespace or socket opened per call.
    let host = floatip::Host::open(NetnsRef::Name(lan.host_a.name.clone())).unwrap();
    g.bench_function("attach_only_ipv4_kept_host", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                let t = std::time::Instant::now();
                host.attach(&f).unwrap();
                total += t.elapsed();
                host.detach(&f).unwrap();
            }
            total
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(5)).warm_up_time(std::time::Duration::from_secs(1));
    targets = attach_detach
}
criterion_main!(benches);

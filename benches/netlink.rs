//! Core round trips, each beside its bare-socket floor in the same run:
//! - `get_link/floatip` vs `get_link/floor`: `Handle::link_get` against the
//!   same RTM_GETLINK bytes replayed on a bare socket;
//! - `veth/create_delete`: `ip link add ... type veth peer ... netns POD` and
//!   `ip link del`, the peer created straight into another namespace.

use criterion::{criterion_group, criterion_main, Criterion};
use floatip::{IfName, VethSpec};
use floatip_benches::Floor;
use netlab::TestNs;

fn get_link(c: &mut Criterion) {
    let ns = TestNs::with_prefix("fipbench", "getlink");
    let h = ns.handle();
    let mut floor = Floor::get_link(&ns.ns, "lo");
    let mut g = c.benchmark_group("get_link");
    // Interleaved in one run: the machine is noisy, ratios are what count.
    g.bench_function("floatip", |b| b.iter(|| h.link_get("lo").unwrap()));
    g.bench_function("floor", |b| b.iter(|| floor.round_trip()));
    g.finish();
}

fn veth(c: &mut Criterion) {
    let host = TestNs::with_prefix("fipbench", "veth-host");
    let pod = TestNs::with_prefix("fipbench", "veth-pod");
    let h = host.handle();
    let mut spec = VethSpec::new(IfName::new("vb0").unwrap(), IfName::new("eth0").unwrap());
    spec.peer_netns = Some(&pod.ns);
    let name = IfName::new("vb0").unwrap();
    let mut g = c.benchmark_group("veth");
    g.sample_size(20);
    g.bench_function("create_delete", |b| {
        b.iter(|| {
            h.veth_add(&spec).unwrap();
            h.link_del_by_name(&name).unwrap();
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = get_link, veth
}
criterion_main!(benches);

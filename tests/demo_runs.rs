//! `make demo` is the main job: run it as a user would and check the story
//! it tells, so that it cannot rot.

use std::process::Command;

#[test]
fn demo_tells_the_whole_story_and_cleans_up() {
    netlab::require_root();
    let out = Command::new(env!("CARGO_BIN_EXE_demo")).output().expect("run the demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for expected in [
        "peer   ping 10.0.0.100   reply",
        "peer's ARP entry for 10.0.0.100: 02:00:00:00:0a:01 = hostA's uplink",
        "NO REPLY",
        "peer's ARP entry for 10.0.0.100:    02:00:00:00:0b:01 = hostB's uplink",
        "gateway's ARP entry for 10.0.0.100: 02:00:00:00:0b:01 = hostB's uplink",
        "with the announcement the peer lost 0 pings",
        "cleaned up: every demo namespace is gone.",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let left =
        String::from_utf8_lossy(&Command::new("ip").args(["netns", "list"]).output().unwrap().stdout).into_owned();
    assert!(!left.contains("fipdemo-"), "{left}");
}

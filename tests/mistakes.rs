//! Fail closed: every doubtful command line is a usage error, and every
//! failure names its real cause. The real binary against servers started
//! here, one mistake a row.

mod common;

use std::process::Command;

use common::{assert_fails, bin, run};

// ------------------------------------------------------- IPv6 switched off

/// Runs the probe in a network namespace of its own with only `lo`, IPv6
/// switched off on it: Docker's default network.
fn probe_without_ipv6(args: &[&str]) -> common::Run {
    let script = "ip link set lo up && echo 1 > /proc/sys/net/ipv6/conf/lo/disable_ipv6 && exec \"$@\"";
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "sh", "-c", script, "sh"]).arg(bin()).args(args);
    cmd.env_clear();
    run(cmd)
}

#[test]
#[ignore = "needs root, unshare and ip: make test-static"]
fn localhost_where_ipv6_is_off_names_the_refusal_on_127_0_0_1() {
    let r = probe_without_ipv6(&["http://localhost:8000/healthz"]);
    assert_fails(&r, &[], "localhost, IPv6 off");
    assert_eq!(
        r.stderr,
        "healthprobe: GET http://localhost:8000/healthz: connection refused: nothing is listening on 127.0.0.1:8000\n"
    );
    let r = probe_without_ipv6(&["--wait", "300ms", "--interval", "100ms", "http://app.localhost:8123/readyz"]);
    assert_fails(&r, &["still unhealthy after", "connection refused: nothing is listening on 127.0.0.1:8123"], "--wait");
    assert!(!r.stderr.contains("::1") && !r.stderr.contains("os error"), "{:?}", r.stderr);
    // Where no address can be reached at all, the line names them.
    let r = probe_without_ipv6(&["http://[::1]:8000/healthz"]);
    assert_fails(&r, &["[::1]:8000", "not available"], "::1 only, IPv6 off");
}

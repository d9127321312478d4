//! The systemd unit in dist/: `systemd-analyze verify` accepts it without a word, its
//! command line is one dnsleak understands, and it grants capture's and process attribution's
//! capabilities and no more.

use std::path::Path;
use std::process::Command;

use clap::Parser;
use dnsleak::cli::{Cli, Command as Sub};

fn unit() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/dnsleak.service");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The values of `key=` in the unit, in order.
fn values(unit: &str, key: &str) -> Vec<String> {
    unit.lines().filter_map(|l| l.strip_prefix(&format!("{key}="))).map(str::to_string).collect()
}

#[test]
fn the_command_line_is_a_headless_monitor_with_metrics() {
    let exec = values(&unit(), "ExecStart");
    assert_eq!(exec.len(), 1, "{exec:?}");
    let args: Vec<&str> = exec[0].split_whitespace().collect();
    assert_eq!(args[0], "/usr/local/bin/dnsleak");
    let cli = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{}: {e}", exec[0]));
    let Sub::Monitor(m) = cli.command else { panic!("not monitor: {}", exec[0]) };
    assert!(m.no_tui && m.json, "to the journal as NDJSON, never a dashboard");
    assert!(m.metrics.is_some_and(|a| a.ip().is_loopback()), "metrics on loopback only");
}

#[test]
fn it_is_hardened_and_holds_only_capture_and_attribution_capabilities() {
    let u = unit();
    let one = |k: &str| values(&u, k).join(" ");
    // Capture; eBPF process attribution; its /proc fallback (src/system/processes).
    let caps = "CAP_NET_RAW CAP_NET_ADMIN CAP_BPF CAP_PERFMON CAP_SYS_PTRACE CAP_DAC_READ_SEARCH";
    assert_eq!(one("CapabilityBoundingSet"), caps);
    assert_eq!(one("AmbientCapabilities"), caps);
    let filter = values(&u, "SystemCallFilter");
    assert_eq!(filter.last().map(String::as_str), Some("bpf perf_event_open"), "after the ~@debug line");
    assert_eq!(one("RestrictAddressFamilies"), "AF_PACKET AF_NETLINK AF_UNIX AF_INET AF_INET6");
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("DynamicUser", "yes"),
        ("Restart", "on-failure"),
        ("SuccessExitStatus", "1"),
    ] {
        assert_eq!(one(k), v, "{k}");
    }
}

#[test]
#[ignore = "tool: needs systemd-analyze (apt-get install systemd)"]
fn systemd_analyze_verify_accepts_the_unit() {
    let dir = std::env::temp_dir().join(format!("dnsleak-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // verify checks that ExecStart's program exists: point it at the binary just built.
    let path = dir.join("dnsleak.service");
    std::fs::write(&path, unit().replace("/usr/local/bin/dnsleak", env!("CARGO_BIN_EXE_dnsleak"))).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run systemd-analyze ({e}): apt-get install systemd"));
    let _ = std::fs::remove_dir_all(&dir);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "systemd-analyze verify: {said}");
}

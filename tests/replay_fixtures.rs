//! `dnsleak replay` on the real captures in fixtures/ (see fixtures/README.md): the verdicts the
//! README promises, the exit status, and the summary a person reads (insta snapshots).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_dnsleak");

fn replay(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("replay")
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// (iface, transport, verdict) -> messages or flows.
type Counts = BTreeMap<(String, String, String), u64>;

/// The counts from --json, and the exit status.
fn verdicts(file: &str) -> (Counts, Option<i32>) {
    let o = replay(&["--json", file]);
    let mut m = BTreeMap::new();
    for line in String::from_utf8(o.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["kind"] == "notice" || v["kind"] == "stats" {
            continue;
        }
        let key = |k: &str| v[k].as_str().unwrap_or("null").to_string();
        *m.entry((key("iface"), key("transport"), key("verdict"))).or_default() += 1;
    }
    (m, o.status.code())
}

fn expect(file: &str, status: i32, want: &[(&str, &str, &str, u64)]) {
    let (got, code) = verdicts(file);
    let want: Counts =
        want.iter().map(|(i, t, v, n)| ((i.to_string(), t.to_string(), v.to_string()), *n)).collect();
    assert_eq!(got, want, "{file}");
    assert_eq!(code, Some(status), "{file}");
}

#[test]
fn lan_leak() {
    expect("lan-leak.pcapng", 1, &[("wg0", "dns", "tunnel", 2), ("eth0", "dns", "leak", 2)]);
}

#[test]
fn split_route_leak() {
    expect("split-route-leak.pcapng", 1, &[("wg0", "dns", "tunnel", 2), ("eth0", "dns", "leak", 2)]);
}

#[test]
fn tcp_leak() {
    expect("tcp-leak.pcapng", 1, &[("eth0", "dns", "leak", 2)]);
}

#[test]
fn ipv6_leak() {
    expect("ipv6-leak.pcapng", 1, &[("wg0", "dns", "tunnel", 2), ("eth0", "dns", "leak", 2)]);
}

#[test]
fn stub_leak() {
    expect("stub-leak.pcapng", 1, &[("lo", "dns", "local", 2), ("eth0", "dns", "leak", 2)]);
}

#[test]
fn mdns_is_multicast_and_clean() {
    expect("mdns.pcapng", 0, &[("eth0", "mdns", "multicast", 1), ("eth0", "llmnr", "multicast", 1)]);
}

#[test]
fn tunnel_dies_then_comes_back() {
    expect("tunnel-dies.pcapng", 1, &[("wg0", "dns", "tunnel", 4), ("eth0", "dns", "leak", 2)]);
}

/// tunnel-dies.pcapng is dnsleak's own `--write` file: the dead wg0's interface statistics
/// block says when it went away, so replay knows no tunnel was up for the queries after it
/// (a merged dumpcap file without ISBs judged them "while tunnel wg0 is up").
#[test]
fn tunnel_dies_reasons_say_no_tunnel_is_up() {
    let o = replay(&["--json", "tunnel-dies.pcapng"]);
    let lines: Vec<serde_json::Value> =
        String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let about =
        |name: &str| -> Vec<&serde_json::Value> { lines.iter().filter(|v| v["qname"] == name).collect() };
    for (name, iface, verdict) in [
        ("before.example.com", "wg0", "tunnel"),
        ("while-down.example.com", "eth0", "leak"),
        ("after.example.com", "wg0", "tunnel"),
    ] {
        let got = about(name);
        assert_eq!(got.len(), 2, "{name}: {lines:#?}");
        for v in got {
            assert_eq!((v["iface"].as_str(), v["verdict"].as_str()), (Some(iface), Some(verdict)), "{v}");
        }
    }
    for v in about("while-down.example.com") {
        let reason = v["reason"].as_str().unwrap();
        assert!(reason.contains("no tunnel is up"), "{reason}");
        assert!(!reason.contains("while tunnel"), "{reason}");
    }
    let pos = |pred: &dyn Fn(&serde_json::Value) -> bool| lines.iter().position(pred).expect("present");
    let down = pos(&|v| v["notice"] == "tunnel_down");
    let failed = pos(&|v| v["notice"] == "kill_switch_failed");
    let leak = pos(&|v| v["qname"] == "while-down.example.com");
    let up = pos(&|v| v["notice"] == "tunnel_up");
    let after = pos(&|v| v["qname"] == "after.example.com");
    assert!(down < leak && leak < failed && failed < up && up < after, "{lines:#?}");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn summaries_read_well() {
    for file in ["lan-leak", "tunnel-dies", "stub-leak", "mdns", "demo"] {
        let o = replay(&[&format!("{file}.pcapng")]);
        assert!(matches!(o.status.code(), Some(0 | 1)));
        insta::assert_snapshot!(format!("fixture_{file}"), String::from_utf8(o.stdout).unwrap());
    }
}

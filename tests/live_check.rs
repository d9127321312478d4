//! `dnsleak check` in the namespace test network (root only): the system resolver on the LAN
//! leaks, the system resolver through the tunnel does not. And capture without privileges
//! says what is missing.

mod netns;
mod support;

use std::process::Command;
use std::time::Instant;

use netns::*;

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh)"]
fn check_says_leak_and_no_leak_in_two_set_ups() {
    let w = World::up();
    w.set_system_resolver(LAN_RESOLVER);
    let start = Instant::now();
    let out = w.run(DNSLEAK, &["check"]);
    let took = start.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("LEAK:"), "{text}");
    assert!(text.contains(&format!("{} to 192.0.2.1", w.lan)), "names the interface and resolver: {text}");
    assert_eq!(text.matches("(not seen on the wire)").count(), 0, "{text}");
    // The lookups are check's own (getaddrinfo in its lookup thread): grouped under its name.
    assert!(text.contains("  leaked by: dnsleak (pid "), "leaks grouped by program: {text}");
    // Each leak says why, the fix comes once per cause, and the namespace's resolv.conf
    // (which names the LAN resolver) stands beside what the lookups used.
    assert!(text.contains("      cause: lan_resolver: 192.0.2.1 is on "), "{text}");
    assert_eq!(text.matches("Why, and what to change (by cause):").count(), 1, "{text}");
    assert!(text.contains("  resolvers configured: 192.0.2.1"), "{text}");
    assert!(text.contains(&format!("  resolvers the check used: 192.0.2.1 ({})", w.lan)), "{text}");
    eprintln!("check took {took:?}");

    w.set_system_resolver(TUNNEL_RESOLVER);
    let out = w.run(DNSLEAK, &["check", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let last = lines.last().unwrap();
    assert_eq!(last["verdict"], "no_leak", "{text}");
    assert_eq!(last["configured"][""], serde_json::json!([TUNNEL_RESOLVER]), "{text}");
    assert_eq!(last["causes"], serde_json::json!([]), "{text}");
    let msgs: Vec<_> = lines.iter().filter(|v| v["kind"] == "query").collect();
    assert!(msgs.len() >= 4, "A and AAAA lookups seen: {text}");
    assert!(msgs.iter().all(|v| v["verdict"] == "tunnel" && v["iface"] == w.wg.as_str()), "{text}");
}

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh)"]
fn check_judges_from_the_wire_even_when_nothing_resolves() {
    let w = World::up();
    // Nobody answers at 203.0.113.9 (split route, via the LAN): the lookups fail, the queries
    // still left by the LAN.
    w.set_system_resolver("203.0.113.9");
    let out = w.run(DNSLEAK, &["check", "--timeout", "1.5"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("LEAK:") && text.contains("203.0.113.9"), "{text}");
}

#[test]
#[ignore = "root: runs dnsleak as nobody with setpriv"]
fn without_capture_privileges_monitor_says_what_is_missing_and_exits_2() {
    support::require_root("to drop to nobody with setpriv");
    support::require_tool("setpriv", "util-linux");
    // setpriv (util-linux) runs it as nobody with no capabilities.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
        .args([DNSLEAK, "monitor", "--json", "--duration", "1"])
        .output()
        .expect("setpriv");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("CAP_NET_RAW"), "{err}");
    assert!(err.contains("setcap cap_net_raw,cap_net_admin,cap_bpf,cap_perfmon=eip"), "{err}");
    assert!(out.stdout.is_empty(), "nothing started: {}", String::from_utf8_lossy(&out.stdout));
}

//! Live capture while the tunnel dies and comes back (root only), and `--write` files that
//! replay to the same verdicts.

mod netns;
mod support;

use std::time::Duration;

use netns::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh)"]
fn tunnel_killed_and_restarted_under_the_same_name() {
    let w = World::up();
    let page = w.dir.join("audit.html");
    let m = w.monitor(&["--report", page.to_str().unwrap()]);
    w.dig(&["@198.51.100.1", "before.example.com", "A"]);
    assert!(m.wait_for(WAIT, |l| has_exchange(l, "before.example.com")));
    w.tunnel_kill();
    // The monitor rereads the interfaces at least every second.
    assert!(m.wait_for(WAIT, |l| notices(l, "tunnel_down") >= 1), "no tunnel_down notice: {:#?}", m.lines());
    // Without the tunnel the same resolver is reached through the LAN's fallback route.
    w.dig(&["@198.51.100.1", "while-down.example.com", "A"]);
    assert!(m.wait_for(WAIT, |l| has_exchange(l, "while-down.example.com")));
    w.tunnel_start();
    assert!(m.wait_for(WAIT, |l| notices(l, "tunnel_up") >= 2), "no second tunnel_up: {:#?}", m.lines());
    w.dig(&["@198.51.100.1", "after.example.com", "A"]);
    assert!(m.wait_for(WAIT, |l| has_exchange(l, "after.example.com")));
    let (status, lines, err) = m.stop();
    let (lan, wg) = (w.lan.as_str(), w.wg.as_str());
    let verdicts = |n: &str| summary(&lines, n).into_iter().map(|(k, i, v, _)| (k, i, v)).collect::<Vec<_>>();
    let t = |k: &str, i: &str, v: &str| (k.to_string(), i.to_string(), v.to_string());
    assert_eq!(verdicts("before.example.com"), [t("query", wg, "tunnel"), t("response", wg, "tunnel")]);
    assert_eq!(verdicts("while-down.example.com"), [t("query", lan, "leak"), t("response", lan, "leak")]);
    assert_eq!(verdicts("after.example.com"), [t("query", wg, "tunnel"), t("response", wg, "tunnel")]);
    let down = about(&lines, "while-down.example.com")[0]["reason"].as_str().unwrap().to_string();
    assert!(down.contains("no tunnel is up"), "{down}");
    assert!(notices(&lines, "kill_switch_failed") >= 1, "{lines:#?}");
    // The order on the wire is kept: down notice, leak, up notice, tunnel again.
    let pos = |pred: &dyn Fn(&Value) -> bool| lines.iter().position(pred).unwrap();
    let down_at = pos(&|v| v["notice"] == "tunnel_down");
    let leak_at = pos(&|v| v["qname"] == "while-down.example.com");
    let up_at = lines.iter().rposition(|v| v["notice"] == "tunnel_up").unwrap();
    let after_at = pos(&|v| v["qname"] == "after.example.com");
    assert!(down_at < leak_at && leak_at < up_at && up_at < after_at, "{lines:#?}");
    assert_eq!(status.code(), Some(1), "{err}");
    // Two captures on the tunnel's name: the dead one and the new one.
    assert_eq!(err.matches(&format!("dnsleak: {wg}:")).count(), 2, "{err}");
    // monitor --report: the page, written when the monitor stopped, shows the outage.
    let html = std::fs::read_to_string(&page).expect("monitor --report wrote its page");
    for text in [
        "Leaking: 2 plaintext DNS messages",
        "while-down.example.com",
        "kill_switch_failed",
        "class=\"band-down\"",
    ] {
        assert!(html.contains(text), "the report lacks {text}");
    }
}

/// (kind, iface, verdict, transport, qname) of every message and flow, for comparing runs.
fn verdict_rows(lines: &[Value]) -> Vec<(String, String, String, String, String)> {
    let mut v: Vec<_> = lines
        .iter()
        .filter(|v| {
            ["query", "response", "encrypted", "malformed"].contains(&v["kind"].as_str().unwrap_or(""))
        })
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
            (s("kind"), s("iface"), s("verdict"), s("transport"), s("qname"))
        })
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh)"]
fn write_then_replay_gives_the_same_verdicts() {
    let w = World::up();
    let file = w.dir.join("session.pcapng");
    let m = w.monitor(&["--write", file.to_str().unwrap()]);
    w.dig(&["@198.51.100.1", "tunnel.write.example.com", "A"]);
    w.dig(&["+tcp", "@192.0.2.1", "tcp.write.example.com", "A"]);
    w.dig(&["@fd00:53::53", "v6.write.example.com", "AAAA"]);
    w.kdig(&["+https", "+tls-sni=cloudflare-dns.com", "@192.0.2.1", "doh.write.example.com", "A"]);
    w.dig(&["+timeout=1", "-p", "5353", "@224.0.0.251", "printer.local", "A"]);
    assert!(m.wait_for(WAIT, |l| has_exchange(l, "tunnel.write.example.com")));
    w.tunnel_kill();
    assert!(m.wait_for(WAIT, |l| notices(l, "tunnel_down") >= 1));
    w.dig(&["@198.51.100.1", "down.write.example.com", "A"]);
    let names = ["tcp.write.example.com", "v6.write.example.com", "down.write.example.com"];
    assert!(m.wait_for(WAIT, |l| names.iter().all(|n| has_exchange(l, n))
        && l.iter().any(|v| v["kind"] == "encrypted")
        && !about(l, "printer.local").is_empty()));
    let (status, live, err) = m.stop();
    assert_eq!(status.code(), Some(1), "{err}");
    let out = std::process::Command::new(DNSLEAK).args(["replay", "--json"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "replay exit: {}", String::from_utf8_lossy(&out.stderr));
    let replayed: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(verdict_rows(&replayed), verdict_rows(&live), "live and replay of its --write file disagree");
    assert!(verdict_rows(&live).len() >= 10);
    // The vanished tunnel has an interface statistics block with its end time.
    let tshark = std::process::Command::new("tshark")
        .args(["-r", file.to_str().unwrap(), "-T", "fields", "-e", "frame.interface_name"])
        .output();
    if let Ok(t) = tshark {
        let names = String::from_utf8_lossy(&t.stdout);
        assert!(names.lines().any(|n| n == w.wg), "tshark reads the file and its interface names: {names}");
    }
}

//! Live capture in a real namespace network (root only): every kind of traffic gets the
//! verdict it should, on the interface it used. See tests/netns/world.sh for the network.

mod netns;
mod support;

use std::time::Duration;

use netns::*;

const WAIT: Duration = Duration::from_secs(10);

fn s(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
    (a.into(), b.into(), c.into(), d.into())
}

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh)"]
fn dns_through_the_tunnel_udp_tcp_and_dot_is_tunnel() {
    let w = World::up();
    let m = w.monitor(&[]);
    w.dig(&["@198.51.100.1", "udp.tunnel.example.com", "A"]);
    w.dig(&["+tcp", "@198.51.100.1", "tcp.tunnel.example.com", "A"]);
    w.kdig(&["+tls", "@198.51.100.1", "dot.tunnel.example.com", "A"]);
    let ok = m.wait_for(WAIT, |l| {
        has_exchange(l, "udp.tunnel.example.com")
            && has_exchange(l, "tcp.tunnel.example.com")
            && l.iter().any(|v| v["kind"] == "encrypted" && v["transport"] == "dot")
    });
    let (status, lines, err) = m.stop();
    assert!(ok, "not all seen: {lines:#?}\n{err}");
    let wg = w.wg.as_str();
    assert_eq!(
        summary(&lines, "udp.tunnel.example.com"),
        [s("query", wg, "tunnel", "udp"), s("response", wg, "tunnel", "udp")]
    );
    assert_eq!(
        summary(&lines, "tcp.tunnel.example.com"),
        [s("query", wg, "tunnel", "tcp"), s("response", wg, "tunnel", "tcp")]
    );
    let dot: Vec<_> = lines.iter().filter(|v| v["kind"] == "encrypted").collect();
    assert_eq!(dot.len(), 1, "{dot:#?}");
    assert_eq!(dot[0]["verdict"], "tunnel");
    assert_eq!(dot[0]["iface"], wg);
    assert_eq!(dot[0]["dst"], TUNNEL_RESOLVER);
    assert!(!lines.iter().any(|v| v["verdict"] == "leak" || v["verdict"] == "bypass"), "{lines:#?}");
    assert_eq!(status.code(), Some(0), "no leak: exit 0\n{err}");
    assert!(err.contains("no leak or bypass seen"), "{err}");
}

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh)"]
fn lan_split_route_tcp_and_ipv6_leaks_are_reported() {
    let w = World::up();
    let m = w.monitor(&[]);
    w.dig(&["@192.0.2.1", "lan.leak.example.com", "A"]);
    w.dig(&["@203.0.113.53", "split.leak.example.com", "A"]);
    w.dig(&["+tcp", "@192.0.2.1", "tcp.leak.example.com", "A"]);
    w.dig(&["@fd00:53::53", "v6.leak.example.com", "AAAA"]);
    let names =
        ["lan.leak.example.com", "split.leak.example.com", "tcp.leak.example.com", "v6.leak.example.com"];
    let ok = m.wait_for(WAIT, |l| names.iter().all(|n| has_exchange(l, n)));
    let (status, lines, err) = m.stop();
    assert!(ok, "not all seen: {lines:#?}\n{err}");
    let lan = w.lan.as_str();
    for (name, proto) in [
        ("lan.leak.example.com", "udp"),
        ("split.leak.example.com", "udp"),
        ("tcp.leak.example.com", "tcp"),
        ("v6.leak.example.com", "udp"),
    ] {
        assert_eq!(
            summary(&lines, name),
            [s("query", lan, "leak", proto), s("response", lan, "leak", proto)],
            "{name}"
        );
    }
    let v6 = about(&lines, "v6.leak.example.com");
    assert_eq!(v6[0]["dst"], V6_RESOLVER);
    assert_eq!(about(&lines, "split.leak.example.com")[0]["dst"], SPLIT_RESOLVER);
    let reason = v6[0]["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("while tunnel {} is up", w.wg)), "{reason}");
    assert_eq!(status.code(), Some(1), "a leak: exit 1\n{err}");
    assert!(err.contains("LEAK"), "{err}");
}

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh)"]
fn loopback_stub_forwarding_on_the_lan_reports_local_and_leak_hops() {
    let w = World::up();
    w.stub(LAN_RESOLVER);
    let m = w.monitor(&[]);
    w.dig(&["@127.0.0.53", "stub.example.com", "A"]);
    let ok = m.wait_for(WAIT, |l| about(l, "stub.example.com").len() >= 4);
    let (status, lines, err) = m.stop();
    assert!(ok, "not all seen: {lines:#?}\n{err}");
    let mut got = summary(&lines, "stub.example.com");
    got.sort();
    let lan = w.lan.as_str();
    assert_eq!(
        got,
        [
            s("query", lan, "leak", "udp"),
            s("query", "lo", "local", "udp"),
            s("response", lan, "leak", "udp"),
            s("response", "lo", "local", "udp"),
        ]
    );
    assert_eq!(status.code(), Some(1));
}

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh)"]
fn dot_and_doh_around_the_tunnel_are_bypass() {
    let w = World::up();
    let m = w.monitor(&[]);
    w.kdig(&["+tls", "@192.0.2.1", "dot.bypass.example.com", "A"]);
    w.kdig(&["+https", "+tls-sni=cloudflare-dns.com", "@192.0.2.1", "doh.bypass.example.com", "A"]);
    let ok = m.wait_for(WAIT, |l| l.iter().filter(|v| v["kind"] == "encrypted").count() >= 2);
    let (status, lines, err) = m.stop();
    assert!(ok, "not all seen: {lines:#?}\n{err}");
    let flows: Vec<_> = lines.iter().filter(|v| v["kind"] == "encrypted").collect();
    let dot = flows.iter().find(|v| v["transport"] == "dot").expect("a DoT flow");
    let doh = flows.iter().find(|v| v["transport"] == "doh").expect("a DoH flow");
    for f in [dot, doh] {
        assert_eq!(f["verdict"], "bypass", "{f}");
        assert_eq!(f["iface"], w.lan.as_str());
        assert_eq!(f["dst"], LAN_RESOLVER);
    }
    assert_eq!(doh["sni"], "cloudflare-dns.com");
    assert_eq!(dot["dport"], 853);
    assert_eq!(doh["dport"], 443);
    assert_eq!(status.code(), Some(1));
}

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh)"]
fn mdns_and_llmnr_are_multicast_not_leaks() {
    let w = World::up();
    let m = w.monitor(&[]);
    w.dig(&["+timeout=1", "-p", "5353", "@224.0.0.251", "printer.local", "A"]);
    w.dig(&["+timeout=1", "-p", "5355", "@224.0.0.252", "fileserver", "A"]);
    let ok =
        m.wait_for(WAIT, |l| !about(l, "printer.local").is_empty() && !about(l, "fileserver").is_empty());
    let (status, lines, err) = m.stop();
    assert!(ok, "not all seen: {lines:#?}\n{err}");
    let lan = w.lan.as_str();
    assert_eq!(summary(&lines, "printer.local"), [s("query", lan, "multicast", "udp")]);
    assert_eq!(summary(&lines, "fileserver"), [s("query", lan, "multicast", "udp")]);
    assert_eq!(about(&lines, "printer.local")[0]["transport"], "mdns");
    assert_eq!(about(&lines, "fileserver")[0]["transport"], "llmnr");
    assert_eq!(status.code(), Some(0), "{err}");
}

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh)"]
fn fragmented_answers_are_reassembled_and_judged() {
    let w = World::up();
    let m = w.monitor(&[]);
    // big.test has a ~3 KB TXT set: over UDP it arrives in three IPv4 fragments.
    w.dig(&["+bufsize=4096", "+ignore", "@198.51.100.1", "big.test", "TXT"]);
    w.dig(&["+bufsize=4096", "+ignore", "@192.0.2.1", "big.test", "TXT"]);
    let ok =
        m.wait_for(WAIT, |l| about(l, "big.test").iter().filter(|v| v["kind"] == "response").count() >= 2);
    let (_, lines, err) = m.stop();
    assert!(ok, "not all seen: {lines:#?}\n{err}");
    let mut got = summary(&lines, "big.test");
    got.sort();
    let (lan, wg) = (w.lan.as_str(), w.wg.as_str());
    assert_eq!(
        got,
        [
            s("query", lan, "leak", "udp"),
            s("query", wg, "tunnel", "udp"),
            s("response", lan, "leak", "udp"),
            s("response", wg, "tunnel", "udp"),
        ]
    );
    for r in about(&lines, "big.test").iter().filter(|v| v["kind"] == "response") {
        assert_eq!(r["ancount"], 12, "every TXT record decoded from the reassembled answer: {r}");
    }
}

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh)"]
fn no_tui_prints_one_readable_line_per_event() {
    let w = World::up();
    let m = Monitor::start(w.client(DNSLEAK).args(["monitor", "--no-tui"]));
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let up = format!("tunnel {} is up", w.wg);
    assert!(
        m.wait_for(Duration::from_secs(15), |l| l.iter().any(|v| text(v).contains(&up))),
        "{}",
        m.stderr()
    );
    w.dig(&["@192.0.2.1", "lines.example.com", "A"]);
    assert!(m.wait_for(WAIT, |l| l.iter().filter(|v| text(v).contains("lines.example.com")).count() >= 2));
    let (status, lines, err) = m.stop();
    let query =
        lines.iter().map(text).find(|l| l.contains(" query ") && l.contains("lines.example.com")).unwrap();
    assert!(query.contains("leak"), "{query}");
    assert!(query.contains(&w.lan), "{query}");
    assert!(query.contains("udp/dns"), "{query}");
    assert!(query.contains("-> 192.0.2.1:53 A lines.example.com"), "{query}");
    assert!(query.contains(&format!("plaintext query to 192.0.2.1 left by {}", w.lan)), "{query}");
    assert!(!query.contains('\u{1b}'), "no colour when piped: {query}");
    assert_eq!(status.code(), Some(1), "{err}");
}

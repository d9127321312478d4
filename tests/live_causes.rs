//! Every leak and bypass gets its cause live (root only, in the namespace network of
//! tests/netns/world.sh): the LAN resolver, a split route, IPv6 around the IPv4-only tunnel,
//! the same name through the tunnel and outside it, a local stub forwarding upstream, DoT
//! around the tunnel, and the tunnel killed. The client's resolv.conf (mounted by `ip netns
//! exec`) names 192.0.2.1, so that resolver is configured and the others are not.

mod netns;
mod support;

use std::time::Duration;

use netns::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

#[test]
#[ignore = "root: network namespaces, wireguard-go, dnsmasq, unbound, dig, kdig (tests/netns/world.sh)"]
fn every_leak_and_bypass_gets_its_cause_live() {
    require_world();
    let w = World::up();
    w.set_system_resolver(LAN_RESOLVER);
    w.stub(LAN_RESOLVER);
    let (lan, wg) = (w.lan.as_str(), w.wg.as_str());
    let file = w.dir.join("causes.pcapng");
    let m = w.monitor(&["--write", file.to_str().unwrap()]);
    w.dig(&["@192.0.2.1", "lan.cause.example", "A"]);
    w.dig(&["@203.0.113.53", "split.cause.example", "A"]);
    w.dig(&["@fd00:53::53", "v6.cause.example", "AAAA"]);
    w.dig(&["@198.51.100.1", "par.cause.example", "A"]);
    w.dig(&["@192.0.2.1", "par.cause.example", "A"]);
    w.dig(&["@127.0.0.53", "stub.cause.example", "A"]);
    w.kdig(&["+tls", "@192.0.2.1", "dot.cause.example", "A"]);
    let names = ["lan.cause.example", "split.cause.example", "v6.cause.example", "stub.cause.example"];
    assert!(m.wait_for(WAIT, |l| names.iter().all(|n| has_exchange(l, n))
        && l.iter().any(|v| v["kind"] == "encrypted")
        && about(l, "par.cause.example").len() >= 4));
    w.tunnel_kill();
    assert!(m.wait_for(WAIT, |l| notices(l, "tunnel_down") >= 1));
    w.dig(&["@198.51.100.1", "down.cause.example", "A"]);
    assert!(m.wait_for(WAIT, |l| has_exchange(l, "down.cause.example")));
    let (_, lines, err) = m.stop();
    let check = |name: &str, cause: &str, detail: &str| {
        let v = cause_of(&lines, name);
        assert_eq!(v["cause"], cause, "{name}: {v:#}\n{err}");
        let d = v["cause_detail"].as_str().unwrap();
        assert!(d.starts_with(detail) || d.contains(detail), "{name}: {d}");
        assert!(!v["fix"].as_str().unwrap().is_empty());
    };
    check("lan.cause.example", "lan_resolver", &format!("192.0.2.1 is on {lan}'s network 192.0.2.0/24"));
    assert_eq!(cause_of(&lines, "lan.cause.example")["resolver_configured"], true);
    check(
        "split.cause.example",
        "split_route",
        &format!("route 203.0.113.0/24 via 192.0.2.1 dev {lan} takes it outside {wg}"),
    );
    assert_eq!(cause_of(&lines, "split.cause.example")["resolver_configured"], false);
    check("v6.cause.example", "ipv6_outside_tunnel", &format!("{wg} carries no IPv6"));
    check(
        "par.cause.example",
        "parallel_resolution",
        &format!("par.cause.example A was asked through {wg} "),
    );
    check(
        "stub.cause.example",
        "stub_upstream",
        "stub.cause.example A went to the local resolver 127.0.0.53 ",
    );
    check(
        "(flow)",
        "app_encrypted_dns",
        &format!("an application's own dot to 192.0.2.1 by {lan} around {wg}"),
    );
    check("down.cause.example", "tunnel_down", &format!("tunnel {wg} went down "));
    let lan_fix = cause_of(&lines, "lan.cause.example")["fix"].as_str().unwrap();
    assert!(lan_fix.contains("/etc/resolv.conf: nameserver"), "a static resolv.conf: {lan_fix}");

    // Its --write file replays with the same causes (the file records the interfaces'
    // prefixes; it records no routes, so a split route's words differ).
    let out = std::process::Command::new(DNSLEAK).args(["replay", "--json"]).arg(&file).output().unwrap();
    let replayed: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let causes = |l: &[Value]| -> Vec<(String, String, String)> {
        l.iter()
            .filter(|v| !v["cause"].is_null())
            .map(|v| {
                let name = v["qname"].as_str().or(v["sni"].as_str()).unwrap_or("(flow)").to_string();
                (name, v["kind"].as_str().unwrap().to_string(), v["cause"].as_str().unwrap().to_string())
            })
            .collect()
    };
    assert_eq!(causes(&replayed), causes(&lines), "live and the replay of its --write file disagree");
    let lan_replayed = cause_of(&replayed, "lan.cause.example")["cause_detail"].as_str().unwrap().to_string();
    assert_eq!(lan_replayed, format!("192.0.2.1 is on {lan}'s network 192.0.2.0/24"), "no prefix assumed");
}

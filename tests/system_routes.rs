//! Route decisions over rtnetlink in the namespace network of tests/netns/world.sh (root only):
//! each decision is what `ip route get` (and `ip route get fibmatch`) says, a wg-quick style
//! policy rule is honoured, a change of rules or routes is seen at once, and the families each
//! interface routes are right (the tunnel carries IPv4 only).

mod netns;
mod support;

use std::net::IpAddr;

use dnsleak::system::routes::Routes;
use dnsleak_core::{Family, RouteDecision, RouteKind};
use netns::*;
use serde_json::Value;

/// `ip -j route get [fibmatch] DST` in the client namespace, first entry.
fn ip_route_get(w: &World, fibmatch: bool, dst: &str) -> Value {
    let mut args = vec!["-j", "route", "get"];
    if fibmatch {
        args.push("fibmatch");
    }
    args.push(dst);
    let out = w.run("ip", &args);
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].clone()
}

/// Our decision agrees with iproute2's on the device, the gateway and the matching entry.
fn same_as_iproute2(w: &World, d: &RouteDecision) {
    let dst = d.dst.to_string();
    let get = ip_route_get(w, false, &dst);
    assert_eq!(d.dev.as_deref(), get["dev"].as_str(), "{dst}: {get}");
    assert_eq!(d.gateway.map(|g| g.to_string()).as_deref(), get["gateway"].as_str(), "{dst}: {get}");
    let fib = ip_route_get(w, true, &dst);
    let matched = match d.matched {
        Some(p) if p.is_default() => "default".to_string(),
        Some(p) => {
            let n = p.network();
            if n.prefix_len() == Family::of(&n.addr()).max_len() {
                n.addr().to_string()
            } else {
                n.to_string()
            }
        }
        None => panic!("{dst}: no fibmatch entry"),
    };
    assert_eq!(Some(matched.as_str()), fib["dst"].as_str(), "{dst}: {fib}");
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
#[ignore = "root: network namespaces, wireguard-go, dnsmasq, unbound (tests/netns/world.sh)"]
fn route_decisions_match_ip_route_get_and_follow_policy_rules() {
    require_world();
    let w = World::up();
    let (lan, wg) = (w.lan.clone(), w.wg.clone());
    // The sockets belong to the namespace they were opened in, whichever thread uses them.
    let mut r = w.in_client(|| Routes::open().expect("rtnetlink"));
    let decisions: Vec<RouteDecision> = [LAN_RESOLVER, TUNNEL_RESOLVER, SPLIT_RESOLVER, V6_RESOLVER]
        .iter()
        .map(|a| r.decide(ip(a)).unwrap())
        .collect();
    let families = r.link_routes().unwrap();
    for d in &decisions {
        same_as_iproute2(&w, d);
        assert_eq!(d.kind, RouteKind::Unicast);
    }
    assert!(decisions[0].on_link() && decisions[0].leaves_by(&lan), "{}", decisions[0]);
    assert!(decisions[1].on_link() && decisions[1].leaves_by(&wg), "{}", decisions[1]);
    assert_eq!(decisions[2].to_string(), format!("203.0.113.0/24 via 192.0.2.1 dev {lan}"));
    assert_eq!(decisions[3].to_string(), format!("default via fd00:1::1 dev {lan}"));
    let of = |name: &str| {
        families.iter().find(|l| l.iface == name).unwrap_or_else(|| panic!("{name}: {families:?}"))
    };
    assert!(of(&wg).v4 && of(&wg).default_v4 && !of(&wg).v6, "the tunnel carries IPv4 only: {:?}", of(&wg));
    assert!(of(&lan).v4 && of(&lan).v6 && of(&lan).default_v6, "{:?}", of(&lan));

    // wg-quick's shape: everything not marked 51820 looks in table 51820 first. The split
    // resolver's network goes into that table by the tunnel: the cached decision is dropped.
    let split = ip(SPLIT_RESOLVER);
    let before = r.decide(split).unwrap();
    assert!(before.leaves_by(&lan));
    let kernel_before = r.stats().kernel;
    assert!(r.changed(), "true at the first call");
    assert!(!r.changed(), "nothing changed since");
    for args in [
        vec!["route", "add", "203.0.113.0/24", "dev", wg.as_str(), "table", "51820"],
        vec!["rule", "add", "not", "fwmark", "51820", "table", "51820", "priority", "100"],
    ] {
        let out = w.run("ip", &args);
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // The notifications are queued before `ip` returns: no waiting needed.
    assert!(r.changed(), "the rule and route changes were announced");
    let after = r.decide(split).unwrap();
    same_as_iproute2(&w, &after);
    assert!(after.leaves_by(&wg), "{after}");
    assert_eq!((after.table, after.to_string()), (51820, format!("203.0.113.0/24 dev {wg} table 51820")));
    let stats = r.stats();
    assert_eq!(stats.kernel, kernel_before + 1, "asked the kernel again after the change: {stats:?}");
    assert!(stats.invalidations >= 1, "{stats:?}");
}

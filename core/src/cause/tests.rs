//! One test per cause (its words and its fix), the precedence between them, and replay's
//! assumptions, on the network of tests/netns/world.sh: eth0 192.0.2.10/24 with the LAN
//! resolver 192.0.2.1, wg0 (IPv4 only) with 198.51.100.1, a split route to 203.0.113.0/24.

use std::net::IpAddr;

use super::*;
use crate::dnsconfig::Manager;
use crate::net::IfaceAddr;
use crate::route::MAIN_TABLE;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn prefix(s: &str) -> Prefix {
    let (a, l) = s.split_once('/').unwrap();
    Prefix::new(ip(a), l.parse().unwrap()).unwrap()
}

fn up() -> Vec<IfaceName> {
    vec![IfaceName::new("wg0")]
}

const V4_ONLY: Families = Families::new(true, false);

fn eth0_addrs() -> Vec<IfaceAddr> {
    vec![IfaceAddr::new(ip("192.0.2.10"), Some(24)), IfaceAddr::new(ip("fd00:1::10"), Some(64))]
}

/// A query to `resolver` by eth0 while wg0 (IPv4) is up; tests change what they need.
fn leak<'a>(resolver: &str, addrs: &'a [IfaceAddr], tunnels: &'a [IfaceName]) -> Situation<'a> {
    let r = ip(resolver);
    let local = if r.is_ipv6() { ip("fd00:1::10") } else { ip("192.0.2.10") };
    Situation {
        verdict: Verdict::Leak,
        seen: Seen {
            iface: "eth0",
            resolver: r,
            transport: Transport::Dns,
            sni: None,
            question: Some(("www.example.com", 1)),
        },
        iface_addrs: addrs,
        local,
        tunnels: Tunnels { up: tunnels, seen: true, outage: None, carried: V4_ONLY, preferred: None },
        route: None,
        stub: None,
        parallel: None,
        ts: Ts::from_millis(10_000),
    }
}

/// A cause and its words, as an output shows them.
struct Explanation {
    cause: Cause,
    detail: String,
}

fn explain(s: &Situation<'_>) -> Explanation {
    let (cause, evidence) = decide(s, |_| Known::none());
    Explanation { cause, detail: Caused::new(cause, None, evidence).words(&s.seen) }
}

/// The advice for `s`, with `k` what the configuration says.
fn fix(s: &Situation<'_>, k: &Known) -> Advice {
    let (cause, evidence) = decide(s, |_| k.clone());
    Caused::new(cause, None, evidence).advice(&s.seen)
}

fn route(dst: &str, matched: &str, gw: Option<&str>, dev: &str, table: u32) -> RouteDecision {
    RouteDecision {
        dst: ip(dst),
        kind: RouteKind::Unicast,
        dev: Some(dev.into()),
        ifindex: 2,
        gateway: gw.map(ip),
        src: None,
        table,
        matched: Some(prefix(matched)),
    }
}

fn resolved() -> Known {
    Known { manager: Manager::SystemdResolved, tunnel_dns: vec![ip("198.51.100.1")] }
}

#[test]
fn no_tunnel_when_none_was_ever_seen() {
    let addrs = eth0_addrs();
    let mut s = leak("192.0.2.1", &addrs, &[]);
    s.tunnels.seen = false;
    let e = explain(&s);
    assert_eq!(e.cause, Cause::NoTunnel);
    assert_eq!(e.detail, "no tunnel interface has been seen; eth0 is not one (name yours with --tunnel)");
    assert!(fix(&s, &Known::none()).text.contains("--tunnel NAME"));
}

#[test]
fn tunnel_down_says_since_when_and_how_much_left() {
    let addrs = eth0_addrs();
    let outage = Outage { tunnel: "wg0".into(), since: Ts::from_millis(7_500), exposed: 3 };
    let mut s = leak("192.0.2.1", &addrs, &[]);
    s.tunnels.outage = Some(&outage);
    let e = explain(&s);
    assert_eq!(e.cause, Cause::TunnelDown);
    assert_eq!(e.detail, "tunnel wg0 went down 2.5 s before; leaks and bypasses since, this one included: 3");
    let just = Outage { since: Ts::from_millis(9_960), ..outage.clone() };
    s.tunnels.outage = Some(&just);
    assert!(explain(&s).detail.starts_with("tunnel wg0 went down 40 ms before;"), "{}", explain(&s).detail);
    let f = fix(&s, &resolved());
    assert!(f.text.contains("kill switch") && f.text.contains("(wg0)"), "{f}");
    assert!(f.commands[0].starts_with("PostUp = iptables -I OUTPUT ! -o %i"), "{f}");
}

#[test]
fn stub_upstream_names_the_stub_and_the_upstream() {
    let addrs = eth0_addrs();
    let tunnels = up();
    let mut s = leak("192.0.2.1", &addrs, &tunnels);
    s.stub = Some(Hit { via: ip("127.0.0.53"), ago_ns: 3_000_000 });
    let e = explain(&s);
    assert_eq!(e.cause, Cause::StubUpstream);
    assert_eq!(
        e.detail,
        "www.example.com A went to the local resolver 127.0.0.53 3 ms before: a stub forwarded it to 192.0.2.1 by eth0"
    );
    let f = fix(&s, &resolved());
    assert_eq!(
        f.commands,
        [
            "resolvectl dns wg0 198.51.100.1",
            "resolvectl domain wg0 '~.'",
            "resolvectl default-route eth0 false"
        ]
    );
    let plain = fix(&s, &Known::none());
    assert!(plain.commands[0].starts_with("dnsmasq: server=<the VPN's resolver>"), "{plain}");
}

#[test]
fn parallel_resolution_points_at_the_windows_policy() {
    let addrs = eth0_addrs();
    let tunnels = up();
    let mut s = leak("192.0.2.1", &addrs, &tunnels);
    s.parallel = Some(Hit { via: "wg0".into(), ago_ns: 1_000_000 });
    let e = explain(&s);
    assert_eq!(e.cause, Cause::ParallelResolution);
    assert_eq!(e.detail, "www.example.com A was asked through wg0 1 ms before, and by eth0 here");
    let f = fix(&s, &Known::none());
    assert!(f.commands.iter().any(|c| c.contains("DWORD DisableSmartNameResolution = 1")), "{f}");
    assert!(!f.to_string().contains('\\'), "no backslash: outputs escape them: {f}");
    assert!(
        f.commands.iter().any(|c| c.starts_with("systemd-resolved: resolvectl dns wg0")),
        "unknown manager: {f}"
    );
}

#[test]
fn ipv6_outside_an_ipv4_only_tunnel() {
    let addrs = eth0_addrs();
    let tunnels = up();
    let s = leak("fd00:53::53", &addrs, &tunnels);
    let e = explain(&s);
    assert_eq!(e.cause, Cause::Ipv6OutsideTunnel);
    assert_eq!(e.detail, "wg0 carries no IPv6 (no IPv6 address or route but link-local), so it left by eth0");
    let f = fix(&s, &Known { manager: Manager::NetworkManager, tunnel_dns: vec![] });
    assert!(f.commands.contains(&"sysctl -w net.ipv6.conf.eth0.disable_ipv6=1".to_string()), "{f}");
    assert!(f.commands.iter().any(|c| c.contains("ipv6.method disabled")), "{f}");
}

#[test]
fn ipv4_outside_an_ipv6_only_tunnel() {
    let addrs = eth0_addrs();
    let tunnels = up();
    let mut s = leak("192.0.2.53", &addrs, &tunnels);
    s.iface_addrs = &[];
    s.tunnels.carried = Families::new(false, true);
    let e = explain(&s);
    assert_eq!(e.cause, Cause::Ipv4OutsideTunnel);
    assert!(fix(&s, &Known::none()).commands[0].contains("0.0.0.0/0"));
}

/// Replay of a capture with no interface addresses and no message on the tunnel: nothing shows
/// which families the tunnel carries, so none is said to be outside it.
#[test]
fn no_family_is_outside_when_nothing_shows_the_tunnels_families() {
    let tunnels = up();
    let mut s = leak("fd00:1::1", &[], &tunnels);
    s.tunnels.carried = Families::default();
    assert_eq!(explain(&s).cause, Cause::LanResolver);
}

#[test]
fn lan_resolver_from_the_interface_prefix() {
    let addrs = eth0_addrs();
    let tunnels = up();
    let s = leak("192.0.2.1", &addrs, &tunnels);
    let e = explain(&s);
    assert_eq!(e.cause, Cause::LanResolver);
    assert_eq!(e.detail, "192.0.2.1 is on eth0's network 192.0.2.0/24");
    let f = fix(&s, &resolved());
    assert!(f.text.starts_with("192.0.2.1 is the local network's resolver"), "{f}");
    assert_eq!(f.commands[1], "resolvectl domain wg0 '~.'");
    let nm = fix(&s, &Known { manager: Manager::NetworkManager, tunnel_dns: vec![] });
    assert!(
        nm.commands[0].starts_with("nmcli connection modify <VPN connection> ipv4.dns-priority -50"),
        "{nm}"
    );
}

#[test]
fn lan_resolver_live_from_the_kernels_route() {
    let tunnels = up();
    let r = route("192.0.2.1", "192.0.2.0/24", None, "eth0", MAIN_TABLE);
    let mut s = leak("192.0.2.1", &[], &tunnels);
    s.route = Some(&r);
    assert_eq!(explain(&s).detail, "192.0.2.1 is on eth0's network 192.0.2.0/24");
}

/// Replay without prefixes: the message's own address with /24 assumed, and said.
#[test]
fn lan_resolver_on_replay_assumes_a_slash_24_and_says_so() {
    let tunnels = up();
    let s = leak("192.0.2.1", &[], &tunnels);
    let e = explain(&s);
    assert_eq!(e.cause, Cause::LanResolver);
    assert_eq!(
        e.detail,
        "192.0.2.1 is on eth0's network 192.0.2.0/24 (/24 assumed: the capture records no prefix)"
    );
    // A recorded prefix that does not hold the resolver is not overridden by the assumption.
    let narrow = [IfaceAddr::new(ip("192.0.2.10"), Some(28))];
    let s = leak("192.0.2.100", &narrow, &tunnels);
    assert_eq!(explain(&s).cause, Cause::SplitRoute);
}

#[test]
fn split_route_live_names_the_route() {
    let addrs = eth0_addrs();
    let tunnels = up();
    let r = route("203.0.113.53", "203.0.113.0/24", Some("192.0.2.1"), "eth0", MAIN_TABLE);
    let mut s = leak("203.0.113.53", &addrs, &tunnels);
    s.route = Some(&r);
    let e = explain(&s);
    assert_eq!(e.cause, Cause::SplitRoute);
    assert_eq!(e.detail, "route 203.0.113.0/24 via 192.0.2.1 dev eth0 takes it outside wg0");
    let f = fix(&s, &Known::none());
    assert_eq!(f.commands, ["ip route del 203.0.113.0/24 via 192.0.2.1 dev eth0"]);
}

#[test]
fn split_route_on_replay_says_no_route_is_recorded() {
    let addrs = eth0_addrs();
    let tunnels = up();
    let s = leak("203.0.113.53", &addrs, &tunnels);
    let e = explain(&s);
    assert_eq!(e.cause, Cause::SplitRoute);
    assert_eq!(
        e.detail,
        "it left by eth0 although wg0 carries IPv4 and 203.0.113.53 is not on eth0's network (no route recorded)"
    );
    assert!(fix(&s, &Known::none()).text.contains("ip route get 203.0.113.53"));
}

#[test]
fn app_encrypted_dns_is_a_bypass_with_its_path() {
    let addrs = eth0_addrs();
    let tunnels = up();
    let r = route("203.0.113.53", "203.0.113.0/24", Some("192.0.2.1"), "eth0", 100);
    let mut s = leak("203.0.113.53", &addrs, &tunnels);
    s.verdict = Verdict::Bypass;
    s.seen.transport = Transport::Doh;
    s.seen.sni = Some("dns.example");
    s.route = Some(&r);
    // A stub hit does not matter for a bypass.
    s.stub = Some(Hit { via: ip("127.0.0.53"), ago_ns: 1 });
    let e = explain(&s);
    assert_eq!(e.cause, Cause::AppEncryptedDns);
    assert_eq!(
        e.detail,
        "an application's own doh to 203.0.113.53 (dns.example) by eth0 around wg0; \
         route 203.0.113.0/24 via 192.0.2.1 dev eth0 table 100 takes it outside wg0"
    );
    let f = fix(&s, &resolved());
    assert!(f.text.contains("doh to dns.example"), "{f}");
    assert!(f.commands.iter().any(|c| c.contains("network.trr.mode = 5")), "{f}");
    assert!(f.commands.iter().any(|c| c.ends_with("198.51.100.1")), "{f}");
    let lan = leak("192.0.2.1", &addrs, &tunnels);
    let mut lan = Situation { verdict: Verdict::Bypass, ..lan };
    lan.seen.transport = Transport::Dot;
    assert!(explain(&lan).detail.ends_with("; 192.0.2.1 is on eth0's network 192.0.2.0/24"));
}

#[test]
fn a_bypass_while_the_tunnel_is_down_is_tunnel_down() {
    let addrs = eth0_addrs();
    let mut s = leak("203.0.113.53", &addrs, &[]);
    s.verdict = Verdict::Bypass;
    s.seen.transport = Transport::Dot;
    assert_eq!(explain(&s).cause, Cause::TunnelDown);
}

#[test]
fn unknown_when_the_kernel_routes_it_through_the_tunnel() {
    let addrs = eth0_addrs();
    let tunnels = up();
    let r = route("198.51.100.53", "0.0.0.0/0", None, "wg0", 51820);
    let mut s = leak("198.51.100.53", &addrs, &tunnels);
    s.route = Some(&r);
    let e = explain(&s);
    assert_eq!(e.cause, Cause::Unknown);
    assert_eq!(
        e.detail,
        "the kernel routes 198.51.100.53 by wg0 (default dev wg0 table 51820), yet it left by eth0: \
         a socket bound to eth0 or a firewall mark?"
    );
    assert!(fix(&s, &Known::none()).text.contains("ip route get 198.51.100.53"));
}

/// Each row wins over the ones after it.
#[test]
fn precedence_follows_the_table() {
    let addrs = eth0_addrs();
    let tunnels = up();
    // A stub hit and a parallel hit on an IPv6 LAN resolver: the stub wins, then parallel,
    // then the family, then the LAN.
    let mut s = leak("fd00:1::1", &addrs, &tunnels);
    s.stub = Some(Hit { via: ip("127.0.0.53"), ago_ns: 1 });
    s.parallel = Some(Hit { via: "wg0".into(), ago_ns: 1 });
    assert_eq!(explain(&s).cause, Cause::StubUpstream);
    s.stub = None;
    assert_eq!(explain(&s).cause, Cause::ParallelResolution);
    s.parallel = None;
    assert_eq!(explain(&s).cause, Cause::Ipv6OutsideTunnel);
    s.tunnels.carried = Families::new(true, true);
    assert_eq!(explain(&s).cause, Cause::LanResolver);
    // No tunnel up beats everything.
    s.tunnels.up = &[];
    s.stub = Some(Hit { via: ip("127.0.0.53"), ago_ns: 1 });
    assert_eq!(explain(&s).cause, Cause::TunnelDown);
}

#[test]
fn every_cause_has_words_and_advice() {
    let mut seen: Vec<&str> = Cause::ALL.iter().map(|c| c.as_str()).collect();
    seen.dedup();
    assert_eq!(seen.len(), 10);
    assert!(Cause::ALL.iter().all(|c| !c.short().is_empty() && c.short().len() <= 9));
    let addrs = eth0_addrs();
    let tunnels = up();
    let s = leak("192.0.2.1", &addrs, &tunnels);
    let lan = Proof::Lan { net: prefix("192.0.2.0/24"), assumed: false };
    for cause in Cause::ALL {
        let evidence = (cause != Cause::NoTunnel).then(|| Evidence {
            tunnel: Some("wg0".into()),
            proof: lan.clone(),
            known: resolved(),
            routed: false,
        });
        let c = Caused::new(cause, None, evidence);
        assert!(!c.advice(&s.seen).text.is_empty(), "{cause:?}");
        assert!(!c.words(&s.seen).is_empty(), "{cause:?}");
    }
}

#[test]
fn known_from_the_configuration_read() {
    use crate::dnsconfig::{DnsScope, DnsServer, NmDnsConfig, NmDnsEntry, ResolvedConfig, ResolverConfig};
    let c = ResolverConfig {
        resolved: Some(ResolvedConfig {
            links: vec![DnsScope {
                iface: "wg0".into(),
                servers: vec![DnsServer::plain(ip("198.51.100.1"))],
                ..Default::default()
            }],
            ..Default::default()
        }),
        network_manager: Some(NmDnsConfig {
            mode: "systemd-resolved".into(),
            entries: vec![NmDnsEntry {
                iface: Some("tun0".into()),
                servers: vec![ip("10.8.0.1")],
                vpn: true,
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(Known::from_config(&c, Some("wg0")).tunnel_dns, [ip("198.51.100.1")]);
    assert_eq!(Known::from_config(&c, Some("tun0")).tunnel_dns, [ip("10.8.0.1")]);
    assert_eq!(Known::from_config(&c, None).manager, Manager::SystemdResolved);
}

//! OS facts as JSON and as lines a person reads: interfaces with their prefixes, route
//! decisions, the families each interface routes, the resolver configuration. Used by the
//! `dnsleak facts` debug command (and, next, `check --json`'s configured resolvers). Every text
//! from the OS goes through `escape` before a terminal sees it; JSON escapes by itself.

use std::fmt::Write;

use serde_json::{json, Value};

use dnsleak_core::dnsconfig::{DnsScope, DnsServer, NmDnsConfig, ResolvConf, ResolvedConfig};
use dnsleak_core::{IfaceFacts, LinkRoutes, ResolverConfig, RouteDecision};

use super::escape::escape;

fn servers(s: &[DnsServer]) -> Vec<String> {
    s.iter().map(|d| d.to_string()).collect()
}

pub fn iface_json(f: &IfaceFacts, kind: &str) -> Value {
    json!({
        "name": f.name, "index": f.index, "kind": kind, "up": f.up,
        "addrs": f.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
    })
}

pub fn route_json(d: &RouteDecision) -> Value {
    json!({
        "dst": d.dst.to_string(),
        "route": d.to_string(),
        "kind": d.kind.word(),
        "dev": d.dev.as_deref(),
        "gateway": d.gateway.map(|g| g.to_string()),
        "src": d.src.map(|s| s.to_string()),
        "table": d.table,
        "matched": d.matched.map(|m| m.network().to_string()),
        "on_link": d.on_link(),
    })
}

pub fn link_routes_json(l: &LinkRoutes) -> Value {
    json!({"iface": l.iface.as_str(), "index": l.ifindex, "ipv4": l.v4, "ipv6": l.v6,
           "default_ipv4": l.default_v4, "default_ipv6": l.default_v6})
}

fn scope_json(s: &DnsScope) -> Value {
    json!({
        "iface": if s.iface.is_empty() { None } else { Some(s.iface.as_str()) },
        "index": s.ifindex,
        "servers": servers(&s.servers),
        "current": s.current.as_ref().map(|c| c.to_string()),
        "domains": s.domains,
        "routing_domains": s.routing_domains,
        "default_route": s.default_route,
        "dns_over_tls": s.dot.map(|d| d.as_str()),
    })
}

fn resolv_conf_json(r: &ResolvConf) -> Value {
    json!({
        "path": r.path, "target": r.target, "owner": r.owner.map(|m| m.as_str()),
        "nameservers": r.nameservers.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "search": r.search, "options": r.options, "ignored_lines": r.ignored,
    })
}

fn resolved_json(r: &ResolvedConfig) -> Value {
    json!({
        "global": scope_json(&r.global),
        "fallback": servers(&r.fallback),
        "links": r.links.iter().map(scope_json).collect::<Vec<_>>(),
        "resolv_conf_mode": r.resolv_conf_mode,
    })
}

fn nm_json(n: &NmDnsConfig) -> Value {
    json!({
        "mode": n.mode, "rc_manager": n.rc_manager,
        "entries": n.entries.iter().map(|e| json!({
            "iface": e.iface.as_deref(),
            "servers": e.servers.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "domains": e.domains, "priority": e.priority, "vpn": e.vpn,
        })).collect::<Vec<_>>(),
    })
}

/// The whole configuration, with what could not be read.
pub fn resolver_json(c: &ResolverConfig) -> Value {
    json!({
        "manager": c.manager().as_str(),
        "resolv_conf": c.resolv_conf.as_ref().map(resolv_conf_json),
        "systemd_resolved": c.resolved.as_ref().map(resolved_json),
        "network_manager": c.network_manager.as_ref().map(nm_json),
        "unread": c.unread.iter().map(|u| json!({"source": u.source.as_str(), "why": u.why})).collect::<Vec<_>>(),
    })
}

/// Configured server addresses per interface ("" for global or resolv.conf), as `check --json`
/// will report them.
pub fn configured_json(c: &ResolverConfig) -> Value {
    let mut m = serde_json::Map::new();
    for (iface, addr) in c.servers() {
        let key = iface.as_deref().unwrap_or("").to_string();
        if let Value::Array(v) = m.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
            v.push(Value::String(addr.to_string()));
        }
    }
    Value::Object(m)
}

fn scope_text(out: &mut String, label: &str, s: &DnsScope) {
    let _ = write!(out, "  {label}:");
    if !s.servers.is_empty() {
        let _ = write!(out, " servers {}", escape(&servers(&s.servers).join(" ")));
    }
    if let Some(c) = &s.current {
        let _ = write!(out, " (current {})", escape(&c.to_string()));
    }
    if !s.domains.is_empty() {
        let _ = write!(out, " domains {}", escape(&s.domains.join(" ")));
    }
    if !s.routing_domains.is_empty() {
        let r: Vec<String> = s.routing_domains.iter().map(|d| format!("~{d}")).collect();
        let _ = write!(out, " routing {}", escape(&r.join(" ")));
    }
    if let Some(d) = s.default_route {
        let _ = write!(out, " default-route {}", if d { "yes" } else { "no" });
    }
    if let Some(d) = s.dot {
        let _ = write!(out, " dns-over-tls {}", d.as_str());
    }
    out.push('\n');
}

/// The configuration as lines a person reads.
pub fn resolver_text(c: &ResolverConfig) -> String {
    let mut out = format!("resolver configuration (managed by {}):\n", c.manager());
    if let Some(r) = &c.resolv_conf {
        let link = r.target.as_ref().map(|t| format!(" -> {}", escape(t))).unwrap_or_default();
        let owner = r.owner.map(|m| m.as_str()).unwrap_or("unknown");
        let ns: Vec<String> = r.nameservers.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(out, "  {}{link} ({owner}): nameserver {}", escape(&r.path), ns.join(" "));
    }
    if let Some(r) = &c.resolved {
        scope_text(&mut out, "systemd-resolved global", &r.global);
        for l in &r.links {
            scope_text(&mut out, &format!("systemd-resolved {}", escape(&l.iface)), l);
        }
    }
    if let Some(n) = &c.network_manager {
        let _ = writeln!(
            out,
            "  NetworkManager: mode {}, resolv.conf {}",
            escape(&n.mode),
            escape(&n.rc_manager)
        );
        for e in &n.entries {
            let ns: Vec<String> = e.servers.iter().map(|a| a.to_string()).collect();
            let _ = writeln!(
                out,
                "  NetworkManager {}: servers {} priority {}{}",
                escape(e.iface.as_deref().unwrap_or("(global)")),
                ns.join(" "),
                e.priority,
                if e.vpn { " (VPN)" } else { "" }
            );
        }
    }
    for u in &c.unread {
        let _ = writeln!(out, "  {}: not read: {}", u.source.as_str(), escape(&u.why));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsleak_core::dnsconfig::{Manager, Source, Unread};

    fn config() -> ResolverConfig {
        ResolverConfig {
            resolv_conf: Some(ResolvConf {
                path: "/etc/resolv.conf".into(),
                owner: Some(Manager::Static),
                nameservers: vec!["192.0.2.1".parse().unwrap()],
                ..Default::default()
            }),
            resolved: Some(ResolvedConfig {
                links: vec![DnsScope {
                    ifindex: 5,
                    iface: "wg0\u{1b}[31m".into(),
                    servers: vec![DnsServer::plain("198.51.100.1".parse().unwrap())],
                    routing_domains: vec![".".into()],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            unread: vec![Unread {
                source: Source::NetworkManager,
                why: "NetworkManager is not running".into(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn text_escapes_what_the_os_says() {
        let t = resolver_text(&config());
        assert!(t.contains("systemd-resolved wg0\\x1b[31m: servers 198.51.100.1 routing ~."), "{t}");
        assert!(!t.contains('\u{1b}'));
        assert!(t.contains("NetworkManager: not read: NetworkManager is not running"), "{t}");
    }

    #[test]
    fn configured_servers_per_interface() {
        let v = configured_json(&config());
        assert_eq!(v[""], json!(["192.0.2.1"]));
        assert_eq!(v["wg0\u{1b}[31m"], json!(["198.51.100.1"]));
        let j = resolver_json(&config());
        assert_eq!(j["systemd_resolved"]["links"][0]["routing_domains"], json!(["."]));
        assert_eq!(j["unread"][0]["source"], "NetworkManager");
    }
}

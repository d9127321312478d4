//! systemd-resolved's configuration over D-Bus (org.freedesktop.resolve1, see
//! org.freedesktop.resolve1(5)): global and per-link DNS servers, search and routing domains,
//! the default-route flag, DNS-over-TLS and the server in use. Asked only when the name has an
//! owner, so that reading never starts (activates) the daemon.

use std::collections::BTreeSet;
use std::net::IpAddr;

use zbus::blocking::Connection;
use zbus::proxy::CacheProperties;
use zbus::zvariant::OwnedObjectPath;

use dnsleak_core::dnsconfig::{DnsScope, DnsServer, DotMode, ResolvedConfig};
use dnsleak_core::IfaceName;

use super::{cap_name, MAX_LIST};

pub const BUS_NAME: &str = "org.freedesktop.resolve1";
/// Links read at most.
const MAX_LINKS: usize = 256;

const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;

/// A server as the Manager lists it: (ifindex, family, address, port, TLS name).
type ServerEx = (i32, i32, Vec<u8>, u16, String);
/// A server as a Link lists it: (family, address, port, TLS name).
type LinkServerEx = (i32, Vec<u8>, u16, String);

#[zbus::proxy(
    interface = "org.freedesktop.resolve1.Manager",
    default_service = "org.freedesktop.resolve1",
    default_path = "/org/freedesktop/resolve1",
    gen_async = false
)]
trait Manager {
    #[zbus(property, name = "DNSEx")]
    fn dns_ex(&self) -> zbus::Result<Vec<ServerEx>>;
    #[zbus(property, name = "FallbackDNSEx")]
    fn fallback_dns_ex(&self) -> zbus::Result<Vec<ServerEx>>;
    #[zbus(property, name = "CurrentDNSServerEx")]
    fn current_dns_server_ex(&self) -> zbus::Result<ServerEx>;
    #[zbus(property, name = "Domains")]
    fn domains(&self) -> zbus::Result<Vec<(i32, String, bool)>>;
    #[zbus(property, name = "DNSOverTLS")]
    fn dns_over_tls(&self) -> zbus::Result<String>;
    #[zbus(property, name = "ResolvConfMode")]
    fn resolv_conf_mode(&self) -> zbus::Result<String>;
    fn get_link(&self, ifindex: i32) -> zbus::Result<OwnedObjectPath>;
}

#[zbus::proxy(
    interface = "org.freedesktop.resolve1.Link",
    default_service = "org.freedesktop.resolve1",
    gen_async = false
)]
trait Link {
    #[zbus(property, name = "DNSEx")]
    fn dns_ex(&self) -> zbus::Result<Vec<LinkServerEx>>;
    #[zbus(property, name = "CurrentDNSServerEx")]
    fn current_dns_server_ex(&self) -> zbus::Result<LinkServerEx>;
    #[zbus(property, name = "Domains")]
    fn domains(&self) -> zbus::Result<Vec<(String, bool)>>;
    #[zbus(property, name = "DefaultRoute")]
    fn default_route(&self) -> zbus::Result<bool>;
    #[zbus(property, name = "DNSOverTLS")]
    fn dns_over_tls(&self) -> zbus::Result<String>;
}

/// An address from its D-Bus family and bytes; `None` for anything malformed.
fn addr(family: i32, bytes: &[u8]) -> Option<IpAddr> {
    match (family, bytes.len()) {
        (AF_INET, 4) => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        (AF_INET6, 16) => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

fn server(family: i32, bytes: &[u8], port: u16, name: &str) -> Option<DnsServer> {
    Some(DnsServer {
        addr: addr(family, bytes)?,
        port: (port != 0).then_some(port),
        name: (!name.is_empty()).then(|| cap_name(name)),
    })
}

/// Splits resolved's (domain, routing-only) pairs into search and routing domains; a routing
/// domain is written as resolvectl writes it without the `~` (`.` for every name).
fn split_domains(domains: impl Iterator<Item = (String, bool)>, scope: &mut DnsScope) {
    for (d, routing_only) in domains.take(MAX_LIST) {
        let d = if d.is_empty() { ".".to_string() } else { cap_name(&d) };
        if routing_only {
            scope.routing_domains.push(d);
        } else {
            scope.domains.push(d);
        }
    }
}

/// Reads everything; `name_of` names an interface index (the OS's view).
pub fn read(conn: &Connection, name_of: &dyn Fn(u32) -> IfaceName) -> zbus::Result<ResolvedConfig> {
    let m = ManagerProxy::builder(conn).cache_properties(CacheProperties::No).build()?;
    let servers = m.dns_ex()?;
    let domains = m.domains()?;
    let mut cfg = ResolvedConfig {
        fallback: m
            .fallback_dns_ex()?
            .iter()
            .take(MAX_LIST)
            .filter_map(|s| server(s.1, &s.2, s.3, &s.4))
            .collect(),
        resolv_conf_mode: m.resolv_conf_mode().ok().map(|s| cap_name(&s)),
        ..Default::default()
    };
    cfg.global.servers = servers
        .iter()
        .filter(|s| s.0 == 0)
        .take(MAX_LIST)
        .filter_map(|s| server(s.1, &s.2, s.3, &s.4))
        .collect();
    split_domains(domains.iter().filter(|d| d.0 == 0).map(|d| (d.1.clone(), d.2)), &mut cfg.global);
    cfg.global.dot = DotMode::parse(&m.dns_over_tls()?);
    let cur = m.current_dns_server_ex()?;
    if cur.0 == 0 {
        cfg.global.current = server(cur.1, &cur.2, cur.3, &cur.4);
    }
    // Every link that has servers or domains, by index.
    let links: BTreeSet<u32> = servers
        .iter()
        .map(|s| s.0)
        .chain(domains.iter().map(|d| d.0))
        .filter(|&i| i > 0)
        .map(|i| i as u32)
        .take(MAX_LINKS)
        .collect();
    for ifindex in links {
        // A link that went away between the two calls is skipped, not an error.
        let Ok(path) = m.get_link(ifindex as i32) else { continue };
        let l = LinkProxy::builder(conn).path(path)?.cache_properties(CacheProperties::No).build()?;
        let mut scope = DnsScope { ifindex, iface: name_of(ifindex), ..Default::default() };
        scope.servers =
            l.dns_ex()?.iter().take(MAX_LIST).filter_map(|s| server(s.0, &s.1, s.2, &s.3)).collect();
        split_domains(l.domains()?.into_iter(), &mut scope);
        scope.default_route = l.default_route().ok();
        scope.dot = DotMode::parse(&l.dns_over_tls()?);
        scope.current = l.current_dns_server_ex().ok().and_then(|s| server(s.0, &s.1, s.2, &s.3));
        cfg.links.push(scope);
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_servers_and_domains_from_dbus_values() {
        assert_eq!(addr(AF_INET, &[192, 0, 2, 1]), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(addr(AF_INET, &[192, 0, 2]), None, "short");
        assert_eq!(addr(AF_INET6, &[0; 4]), None, "family and length disagree");
        let mut v6 = [0u8; 16];
        v6[0] = 0xfd;
        v6[15] = 1;
        assert_eq!(addr(AF_INET6, &v6), Some("fd00::1".parse().unwrap()));
        let s = server(AF_INET, &[203, 0, 113, 53], 853, "dns.example").unwrap();
        assert_eq!(s.to_string(), "203.0.113.53:853#dns.example");
        assert_eq!(server(AF_INET, &[203, 0, 113, 53], 0, "").unwrap().to_string(), "203.0.113.53");
        let mut scope = DnsScope::default();
        split_domains(
            [("corp.example".to_string(), false), (".".to_string(), true), ("".to_string(), true)]
                .into_iter(),
            &mut scope,
        );
        assert_eq!(scope.domains, ["corp.example"]);
        assert_eq!(scope.routing_domains, [".", "."]);
        assert!(scope.routes_everything());
    }
}

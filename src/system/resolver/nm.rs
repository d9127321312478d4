//! NetworkManager's DNS configuration over D-Bus (org.freedesktop.NetworkManager.DnsManager):
//! its mode (who it hands DNS to), how it writes resolv.conf, and one entry per connection
//! with name servers, domains, priority and whether the entry is a VPN's. Asked only when the
//! name has an owner, so that reading never starts the daemon.

use std::collections::HashMap;
use std::net::IpAddr;

use zbus::blocking::Connection;
use zbus::proxy::CacheProperties;
use zbus::zvariant::OwnedValue;

use dnsleak_core::dnsconfig::{NmDnsConfig, NmDnsEntry};
use dnsleak_core::IfaceName;

use super::{cap_name, MAX_LIST};

pub const BUS_NAME: &str = "org.freedesktop.NetworkManager";

#[zbus::proxy(
    interface = "org.freedesktop.NetworkManager.DnsManager",
    default_service = "org.freedesktop.NetworkManager",
    default_path = "/org/freedesktop/NetworkManager/DnsManager",
    gen_async = false
)]
trait DnsManager {
    #[zbus(property)]
    fn mode(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn rc_manager(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn configuration(&self) -> zbus::Result<Vec<HashMap<String, OwnedValue>>>;
}

/// One `Configuration` dictionary as an entry; keys of the wrong type are ignored.
pub fn entry(d: &HashMap<String, OwnedValue>) -> NmDnsEntry {
    let strings = |k: &str| -> Vec<String> {
        d.get(k)
            .and_then(|v| Vec::<String>::try_from(v.try_clone().ok()?).ok())
            .unwrap_or_default()
            .into_iter()
            .take(MAX_LIST)
            .collect()
    };
    NmDnsEntry {
        iface: d
            .get("interface")
            .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
            .map(|s| IfaceName::new(cap_name(&s))),
        servers: strings("nameservers")
            .iter()
            .filter_map(|s| s.split('%').next()?.parse::<IpAddr>().ok())
            .collect(),
        domains: strings("domains").iter().map(|s| cap_name(s)).collect(),
        priority: d.get("priority").and_then(|v| i32::try_from(v).ok()).unwrap_or(0),
        vpn: d.get("vpn").and_then(|v| bool::try_from(v).ok()).unwrap_or(false),
    }
}

pub fn read(conn: &Connection) -> zbus::Result<NmDnsConfig> {
    let p = DnsManagerProxy::builder(conn).cache_properties(CacheProperties::No).build()?;
    Ok(NmDnsConfig {
        mode: cap_name(&p.mode()?),
        rc_manager: cap_name(&p.rc_manager()?),
        entries: p.configuration()?.iter().take(MAX_LIST).map(entry).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::zvariant::Value;

    fn dict(pairs: Vec<(&str, Value<'static>)>) -> HashMap<String, OwnedValue> {
        pairs.into_iter().map(|(k, v)| (k.to_string(), OwnedValue::try_from(v).unwrap())).collect()
    }

    /// The shape NetworkManager 1.42 answers (fixtures/resolver/networkmanager-dbus.txt):
    /// nameservers as strings, an interface name, a priority, a VPN flag.
    #[test]
    fn entries_from_configuration_dictionaries() {
        let d = dict(vec![
            ("nameservers", Value::from(vec!["192.0.2.1", "fe80::1%eth0", "bogus"])),
            ("domains", Value::from(vec!["home.example"])),
            ("interface", Value::from("eth0")),
            ("priority", Value::from(100i32)),
            ("vpn", Value::from(false)),
        ]);
        let e = entry(&d);
        assert_eq!(e.iface.as_deref(), Some("eth0"));
        assert_eq!(e.servers, ["192.0.2.1".parse::<IpAddr>().unwrap(), "fe80::1".parse().unwrap()]);
        assert_eq!((e.domains.len(), e.priority, e.vpn), (1, 100, false));
        let vpn = entry(&dict(vec![("vpn", Value::from(true)), ("priority", Value::from("fifty"))]));
        assert!(vpn.vpn && vpn.iface.is_none() && vpn.priority == 0, "{vpn:?}");
    }
}

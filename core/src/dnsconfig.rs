//! What the system is configured to resolve with, as plain data: /etc/resolv.conf and who owns
//! it, systemd-resolved's global and per-link settings, NetworkManager's DNS configuration, and
//! what could not be read (said, never guessed). The shell reads them (src/system/resolver);
//! the core only asks questions of them: is this resolver configured, who manages DNS here.

use std::fmt;
use std::net::IpAddr;

use super::topology::IfaceName;

/// Which program is in charge of the system's DNS configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Manager {
    SystemdResolved,
    NetworkManager,
    /// Debian's resolvconf or openresolv.
    Resolvconf,
    /// A plain /etc/resolv.conf that no manager claims.
    Static,
    /// Nothing could be read.
    Unknown,
}

impl Manager {
    pub fn as_str(self) -> &'static str {
        match self {
            Manager::SystemdResolved => "systemd-resolved",
            Manager::NetworkManager => "NetworkManager",
            Manager::Resolvconf => "resolvconf",
            Manager::Static => "static",
            Manager::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// /etc/resolv.conf as read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvConf {
    pub path: String,
    /// Where the symbolic link points, when it is one.
    pub target: Option<String>,
    /// Who writes it, from the link's target or the file's own header comment.
    pub owner: Option<Manager>,
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
    /// Lines that were neither comments nor a known keyword, or over the caps.
    pub ignored: u32,
}

impl ResolvConf {
    /// Its only name servers are systemd-resolved's local stubs (127.0.0.53, 127.0.0.54).
    pub fn points_at_resolved_stub(&self) -> bool {
        !self.nameservers.is_empty() && self.nameservers.iter().all(is_resolved_stub)
    }
}

/// systemd-resolved's stub listeners.
pub fn is_resolved_stub(a: &IpAddr) -> bool {
    *a == IpAddr::from([127, 0, 0, 53]) || *a == IpAddr::from([127, 0, 0, 54])
}

/// DNS-over-TLS as systemd-resolved's DNSOverTLS= says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DotMode {
    No,
    Opportunistic,
    Yes,
}

impl DotMode {
    /// From resolved's D-Bus string ("" means unset: inherit the global setting).
    pub fn parse(s: &str) -> Option<DotMode> {
        match s {
            "no" => Some(DotMode::No),
            "opportunistic" => Some(DotMode::Opportunistic),
            "yes" => Some(DotMode::Yes),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DotMode::No => "no",
            DotMode::Opportunistic => "opportunistic",
            DotMode::Yes => "yes",
        }
    }
}

/// One configured DNS server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DnsServer {
    pub addr: IpAddr,
    /// 0 or `None`: the default port.
    pub port: Option<u16>,
    /// The TLS server name (`1.1.1.1#cloudflare-dns.com`).
    pub name: Option<String>,
}

impl DnsServer {
    pub fn plain(addr: IpAddr) -> DnsServer {
        DnsServer { addr, port: None, name: None }
    }
}

impl fmt::Display for DnsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.addr, self.port) {
            (IpAddr::V6(a), Some(p)) => write!(f, "[{a}]:{p}")?,
            (a, Some(p)) => write!(f, "{a}:{p}")?,
            (a, None) => write!(f, "{a}")?,
        }
        if let Some(n) = &self.name {
            write!(f, "#{n}")?;
        }
        Ok(())
    }
}

/// DNS settings of one scope: the global one, or one link (interface).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DnsScope {
    /// 0 for the global scope.
    pub ifindex: u32,
    /// The interface's name; empty for the global scope.
    pub iface: IfaceName,
    pub servers: Vec<DnsServer>,
    /// The server in use now.
    pub current: Option<DnsServer>,
    /// Search domains (also routing: names under them go to this scope).
    pub domains: Vec<String>,
    /// Routing-only domains (`~example.com`; `~.` routes every name here).
    pub routing_domains: Vec<String>,
    /// Whether names outside every routing domain may go here (resolved's DefaultRoute).
    pub default_route: Option<bool>,
    pub dot: Option<DotMode>,
}

impl DnsScope {
    /// `~.` is among its routing domains: every name is sent here.
    pub fn routes_everything(&self) -> bool {
        self.routing_domains.iter().any(|d| d == "." || d.is_empty())
    }
}

/// systemd-resolved's configuration, from org.freedesktop.resolve1.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedConfig {
    pub global: DnsScope,
    pub fallback: Vec<DnsServer>,
    /// Links with any DNS setting, by interface index.
    pub links: Vec<DnsScope>,
    /// How it handles /etc/resolv.conf: "stub", "static", "uplink", "foreign", "missing".
    pub resolv_conf_mode: Option<String>,
}

/// One entry of NetworkManager's DnsManager.Configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NmDnsEntry {
    pub iface: Option<IfaceName>,
    pub servers: Vec<IpAddr>,
    pub domains: Vec<String>,
    pub priority: i32,
    /// NetworkManager marks the entries of VPN connections (and WireGuard devices).
    pub vpn: bool,
}

/// NetworkManager's DNS configuration, from org.freedesktop.NetworkManager.DnsManager.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NmDnsConfig {
    /// "default", "dnsmasq", "systemd-resolved", "none".
    pub mode: String,
    /// How it writes resolv.conf: "symlink", "file", "resolvconf", "unmanaged"...
    pub rc_manager: String,
    pub entries: Vec<NmDnsEntry>,
}

/// Where a piece of configuration comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    ResolvConf,
    SystemdResolved,
    NetworkManager,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::ResolvConf => "/etc/resolv.conf",
            Source::SystemdResolved => "systemd-resolved",
            Source::NetworkManager => "NetworkManager",
        }
    }
}

/// A source that could not be read, and why ("systemd-resolved is not running").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    pub source: Source,
    pub why: String,
}

/// Everything read about the system's resolver configuration at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolverConfig {
    pub resolv_conf: Option<ResolvConf>,
    pub resolved: Option<ResolvedConfig>,
    pub network_manager: Option<NmDnsConfig>,
    pub unread: Vec<Unread>,
}

impl ResolverConfig {
    /// Whether anything at all was read.
    pub fn is_known(&self) -> bool {
        self.resolv_conf.is_some() || self.resolved.is_some() || self.network_manager.is_some()
    }

    /// Who is in charge: the owner of resolv.conf, except that systemd-resolved is in charge
    /// when resolv.conf sends everything to its stub, and when NetworkManager hands DNS to it.
    pub fn manager(&self) -> Manager {
        let owner = self.resolv_conf.as_ref().and_then(|r| r.owner);
        let stub = self.resolv_conf.as_ref().is_some_and(ResolvConf::points_at_resolved_stub);
        let nm_to_resolved = self.network_manager.as_ref().is_some_and(|n| n.mode == "systemd-resolved");
        if stub || (self.resolved.is_some() && (nm_to_resolved || owner == Some(Manager::SystemdResolved))) {
            return Manager::SystemdResolved;
        }
        match owner {
            Some(m) => m,
            None if self.network_manager.is_some() => Manager::NetworkManager,
            None if self.resolved.is_some() => Manager::SystemdResolved,
            None => Manager::Unknown,
        }
    }

    /// Every configured server address with the interface it is configured on (`None`: global
    /// or resolv.conf), in the order read, without repeats.
    pub fn servers(&self) -> Vec<(Option<IfaceName>, IpAddr)> {
        let mut out: Vec<(Option<IfaceName>, IpAddr)> = Vec::new();
        let mut add = |iface: Option<&IfaceName>, a: IpAddr| {
            let iface = iface.filter(|i| !i.is_empty()).cloned();
            if !out.iter().any(|(i, x)| *i == iface && *x == a) {
                out.push((iface, a));
            }
        };
        if let Some(r) = &self.resolv_conf {
            r.nameservers.iter().for_each(|a| add(None, *a));
        }
        if let Some(r) = &self.resolved {
            for s in std::iter::once(&r.global).chain(&r.links) {
                s.servers.iter().for_each(|d| add(Some(&s.iface), d.addr));
            }
        }
        if let Some(n) = &self.network_manager {
            for e in &n.entries {
                e.servers.iter().for_each(|a| add(e.iface.as_ref(), *a));
            }
        }
        out
    }

    /// Whether some configuration names `addr` as a DNS server: `None` when nothing was read
    /// (as on replay), so no answer can be given. resolved's fallback servers count: it uses
    /// them when nothing else is configured.
    pub fn configured(&self, addr: &IpAddr) -> Option<bool> {
        if !self.is_known() {
            return None;
        }
        let a = addr.to_canonical();
        let fallback = self.resolved.as_ref().is_some_and(|r| r.fallback.iter().any(|s| s.addr == a));
        Some(fallback || self.servers().iter().any(|(_, x)| x.to_canonical() == a))
    }

    /// The per-link scope of systemd-resolved for `iface`, if it has one.
    pub fn resolved_link(&self, iface: &str) -> Option<&DnsScope> {
        self.resolved.as_ref()?.links.iter().find(|l| l.iface == iface)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn scope(iface: &str, servers: &[&str]) -> DnsScope {
        DnsScope {
            ifindex: 3,
            iface: iface.into(),
            servers: servers.iter().map(|s| DnsServer::plain(ip(s))).collect(),
            ..Default::default()
        }
    }

    fn stub_conf() -> ResolvConf {
        ResolvConf {
            path: "/etc/resolv.conf".into(),
            target: Some("../run/systemd/resolve/stub-resolv.conf".into()),
            owner: Some(Manager::SystemdResolved),
            nameservers: vec![ip("127.0.0.53")],
            ..Default::default()
        }
    }

    #[test]
    fn nothing_read_means_no_answer() {
        let c = ResolverConfig::default();
        assert_eq!(c.configured(&ip("192.0.2.1")), None);
        assert_eq!(c.manager(), Manager::Unknown);
    }

    #[test]
    fn resolved_behind_its_stub() {
        let c = ResolverConfig {
            resolv_conf: Some(stub_conf()),
            resolved: Some(ResolvedConfig {
                links: vec![scope("eth0", &["192.0.2.1"]), scope("wg0", &["10.64.0.1", "fd00:64::1"])],
                fallback: vec![DnsServer::plain(ip("203.0.113.9"))],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(c.manager(), Manager::SystemdResolved);
        assert_eq!(c.configured(&ip("192.0.2.1")), Some(true));
        assert_eq!(c.configured(&ip("127.0.0.53")), Some(true));
        assert_eq!(c.configured(&ip("203.0.113.9")), Some(true), "fallback servers count");
        assert_eq!(c.configured(&ip("198.51.100.7")), Some(false));
        let s = c.servers();
        assert_eq!(s[0], (None, ip("127.0.0.53")));
        assert_eq!(s[2], (Some("wg0".into()), ip("10.64.0.1")));
        assert_eq!(c.resolved_link("wg0").unwrap().servers.len(), 2);
    }

    #[test]
    fn manager_from_owner_and_network_manager_mode() {
        let nm_file = ResolvConf {
            owner: Some(Manager::NetworkManager),
            nameservers: vec![ip("192.0.2.1")],
            ..Default::default()
        };
        let mut c = ResolverConfig { resolv_conf: Some(nm_file.clone()), ..Default::default() };
        assert_eq!(c.manager(), Manager::NetworkManager);
        c.network_manager = Some(NmDnsConfig { mode: "systemd-resolved".into(), ..Default::default() });
        assert_eq!(
            c.manager(),
            Manager::NetworkManager,
            "resolved is not running: NM's mode alone is no proof"
        );
        c.resolved = Some(ResolvedConfig::default());
        assert_eq!(c.manager(), Manager::SystemdResolved);
        let plain = ResolvConf { owner: Some(Manager::Static), ..nm_file };
        let s = ResolverConfig { resolv_conf: Some(plain), ..Default::default() };
        assert_eq!(s.manager(), Manager::Static);
        let only_nm = ResolverConfig { network_manager: Some(NmDnsConfig::default()), ..Default::default() };
        assert_eq!(only_nm.manager(), Manager::NetworkManager);
    }

    #[test]
    fn network_manager_entries_are_configured_per_interface() {
        let c = ResolverConfig {
            network_manager: Some(NmDnsConfig {
                mode: "default".into(),
                rc_manager: "file".into(),
                entries: vec![NmDnsEntry {
                    iface: Some("tun0".into()),
                    servers: vec![ip("10.8.0.1")],
                    vpn: true,
                    ..Default::default()
                }],
            }),
            ..Default::default()
        };
        assert_eq!(c.configured(&ip("10.8.0.1")), Some(true));
        assert_eq!(c.configured(&ip("::ffff:10.8.0.1")), Some(true), "IPv4-mapped");
        assert_eq!(c.servers(), [(Some("tun0".into()), ip("10.8.0.1"))]);
    }

    #[test]
    fn servers_and_scopes_read_as_resolvectl_writes_them() {
        let s = DnsServer { addr: ip("203.0.113.53"), port: Some(853), name: Some("dns.example".into()) };
        assert_eq!(s.to_string(), "203.0.113.53:853#dns.example");
        assert_eq!(
            DnsServer { addr: ip("fd00::1"), port: Some(5353), name: None }.to_string(),
            "[fd00::1]:5353"
        );
        let mut wg = scope("wg0", &[]);
        assert!(!wg.routes_everything());
        wg.routing_domains.push(".".into());
        assert!(wg.routes_everything());
        assert_eq!(DotMode::parse("opportunistic"), Some(DotMode::Opportunistic));
        assert_eq!(DotMode::parse(""), None);
    }
}

//! The advice for each cause, in one place: plain words, made concrete with what is known —
//! the interface, the resolver, the tunnel and its configured resolvers, the route, and the
//! program that manages DNS here (systemd-resolved, NetworkManager, resolvconf, a static file).

use std::net::IpAddr;

use crate::dnsconfig::{Manager, ResolverConfig};
use crate::net::Family;
use crate::route::{RouteKind, MAIN_TABLE};

use super::{Cause, Caused, Proof, Seen};

/// What the system's configuration says, for the advice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub manager: Manager,
    /// The resolvers configured on the tunnel (systemd-resolved's link, NetworkManager's VPN
    /// entry); empty when unknown.
    pub tunnel_dns: Vec<IpAddr>,
}

impl Known {
    /// Nothing known (replay).
    pub fn none() -> Known {
        Known { manager: Manager::Unknown, tunnel_dns: Vec::new() }
    }

    /// From the configuration read, for the tunnel named `tunnel`.
    pub fn from_config(c: &ResolverConfig, tunnel: Option<&str>) -> Known {
        let mut tunnel_dns: Vec<IpAddr> = Vec::new();
        if let Some(t) = tunnel {
            if let Some(l) = c.resolved_link(t) {
                tunnel_dns.extend(l.servers.iter().map(|s| s.addr));
            }
            if let Some(n) = &c.network_manager {
                for e in
                    n.entries.iter().filter(|e| e.iface.as_deref() == Some(t) || (e.vpn && e.iface.is_none()))
                {
                    tunnel_dns.extend(e.servers.iter().copied());
                }
            }
        }
        tunnel_dns.dedup();
        Known { manager: c.manager(), tunnel_dns }
    }
}

/// Advice: what to do, and the commands that do it here (empty when none fits).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Advice {
    pub text: String,
    pub commands: Vec<String>,
}

impl std::fmt::Display for Advice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)?;
        for c in &self.commands {
            write!(f, "\n  {c}")?;
        }
        Ok(())
    }
}

fn advice_of(text: String, commands: Vec<String>) -> Advice {
    Advice { text, commands }
}

/// The tunnel's resolvers as words for a command line.
fn tunnel_dns(k: &Known) -> String {
    if k.tunnel_dns.is_empty() {
        "<the VPN's resolver>".to_string()
    } else {
        k.tunnel_dns.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" ")
    }
}

/// The commands that send every name through the tunnel and none by `iface`, for the manager.
fn all_names_through(tunnel: &str, iface: &str, k: &Known) -> Vec<String> {
    let dns = tunnel_dns(k);
    match k.manager {
        Manager::SystemdResolved => vec![
            format!("resolvectl dns {tunnel} {dns}"),
            format!("resolvectl domain {tunnel} '~.'"),
            format!("resolvectl default-route {iface} false"),
        ],
        Manager::NetworkManager => vec![
            "nmcli connection modify <VPN connection> ipv4.dns-priority -50 ipv6.dns-priority -50".into(),
            "nmcli connection modify <LAN connection> ipv4.ignore-auto-dns yes ipv6.ignore-auto-dns yes"
                .into(),
            "nmcli connection up <VPN connection>".into(),
        ],
        Manager::Resolvconf => {
            vec![
                format!("echo 'nameserver {dns}' | resolvconf -a {tunnel}.vpn"),
                format!("resolvconf -d {iface}.dhclient"),
            ]
        }
        Manager::Static => vec![format!("/etc/resolv.conf: nameserver {dns} (and no other)")],
        // Nothing says what manages DNS here (a replay): the usual ways, each named.
        Manager::Unknown => vec![
            format!("systemd-resolved: resolvectl dns {tunnel} {dns}; resolvectl domain {tunnel} '~.'"),
            "NetworkManager: nmcli connection modify <VPN connection> ipv4.dns-priority -50".into(),
            format!("a static /etc/resolv.conf: nameserver {dns} (and no other)"),
        ],
    }
}

/// The advice for the cause `c` of the message `s`.
pub fn advice(c: &Caused, s: &Seen<'_>) -> Advice {
    let none = Known::none();
    let k = c.evidence().map_or(&none, |e| &e.known);
    let proof = c.evidence().map(|e| &e.proof);
    let iface = s.iface;
    let tunnel = c.tunnel().map(|t| t.as_str()).unwrap_or("<tunnel>");
    match c.cause {
        Cause::NoTunnel => advice_of(
            format!(
                "No VPN tunnel is up, so DNS leaves by {iface} in the clear. Connect the VPN; if it is connected, \
                 tell dnsleak its interface with --tunnel NAME."
            ),
            Vec::new(),
        ),
        Cause::TunnelDown => {
            let t = c.tunnel().map(|t| t.as_str()).unwrap_or("the tunnel");
            let when = match proof {
                Some(Proof::Outage { ago_ns, exposed }) => format!(
                    " {} before this message (leaks and bypasses since, this one included: {exposed})",
                    super::words::secs(*ago_ns)
                ),
                _ => String::new(),
            };
            advice_of(
                format!(
                    "The VPN ({t}) went down{when}, and DNS fell back to {iface}. Turn on the VPN client's kill \
                     switch (block traffic outside the tunnel while it is down); for wg-quick, in the [Interface] \
                     section:"
                ),
                vec![
                    "PostUp = iptables -I OUTPUT ! -o %i -m mark ! --mark $(wg show %i fwmark) -m addrtype ! --dst-type LOCAL -j REJECT".into(),
                    "PreDown = iptables -D OUTPUT ! -o %i -m mark ! --mark $(wg show %i fwmark) -m addrtype ! --dst-type LOCAL -j REJECT".into(),
                ],
            )
        }
        Cause::StubUpstream => stub_fix(s, k, tunnel, proof),
        Cause::ParallelResolution => {
            let mut commands = vec![
                "Windows: Group Policy > Computer Configuration > Administrative Templates > Network > DNS Client > \
                 Turn off smart multi-homed name resolution: Enabled"
                    .to_string(),
                "Windows (registry): key HKLM > SOFTWARE > Policies > Microsoft > Windows NT > DNSClient, \
                 DWORD DisableSmartNameResolution = 1"
                    .to_string(),
            ];
            commands.extend(all_names_through(tunnel, iface, k));
            advice_of(
                format!(
                    "The system asked the same name through {tunnel} and by {iface} at once (smart multi-homed name \
                     resolution). Make it ask only the tunnel's resolver:"
                ),
                commands,
            )
        }
        Cause::Ipv6OutsideTunnel | Cause::Ipv4OutsideTunnel => family_fix(s, k, tunnel, c.cause),
        Cause::LanResolver => advice_of(
            format!(
                "{} is the local network's resolver (handed out by DHCP); VPNs route the local network outside the \
                 tunnel. Send every name through {tunnel} (or turn on the VPN client's DNS leak protection):",
                s.resolver
            ),
            all_names_through(tunnel, iface, k),
        ),
        Cause::SplitRoute => split_fix(s, tunnel, proof),
        Cause::AppEncryptedDns => encrypted_fix(s, k, proof),
        Cause::Unknown => advice_of(
            format!(
                "No cause could be shown. See which program sent it and how it picks its route: `ip rule`, \
                 `ip route get {}`, and sockets bound to {iface} or carrying a firewall mark.",
                s.resolver
            ),
            Vec::new(),
        ),
    }
}

fn stub_fix(s: &Seen<'_>, k: &Known, tunnel: &str, proof: Option<&Proof>) -> Advice {
    let stub = match proof {
        Some(Proof::Stub(h)) => h.via.to_string(),
        _ => "the local stub".into(),
    };
    let text = format!(
        "The local resolver {stub} forwarded the question to {} by {}, outside the tunnel. Make the stub forward to \
         the tunnel's resolver only:",
        s.resolver, s.iface
    );
    let commands = match k.manager {
        Manager::SystemdResolved | Manager::NetworkManager | Manager::Resolvconf => {
            all_names_through(tunnel, s.iface, k)
        }
        Manager::Static | Manager::Unknown => {
            vec![format!("dnsmasq: server={} and no-resolv (or your stub's upstream setting)", tunnel_dns(k))]
        }
    };
    advice_of(text, commands)
}

fn family_fix(s: &Seen<'_>, k: &Known, tunnel: &str, cause: Cause) -> Advice {
    let (f, other, all, sysctl) = match cause {
        Cause::Ipv6OutsideTunnel => (Family::V6, "IPv4", "::/0", true),
        _ => (Family::V4, "IPv6", "0.0.0.0/0", false),
    };
    let name = f.name();
    let mut commands =
        vec![format!("WireGuard: give {tunnel} an {name} Address and add {all} to the peer's AllowedIPs")];
    if sysctl {
        commands.push(format!("sysctl -w net.ipv6.conf.{}.disable_ipv6=1", s.iface));
        if k.manager == Manager::NetworkManager {
            commands.push("nmcli connection modify <LAN connection> ipv6.method disabled".into());
        }
    }
    advice_of(
        format!(
            "{tunnel} carries {other} only, so {name} DNS goes around it by {}. Turn on the VPN's {name} leak \
             protection, carry {name} through the tunnel, or turn {name} off on {}:",
            s.iface, s.iface
        ),
        commands,
    )
}

fn split_fix(s: &Seen<'_>, tunnel: &str, proof: Option<&Proof>) -> Advice {
    let route = match proof {
        Some(Proof::Split { route, .. }) => route.as_ref(),
        _ => None,
    };
    let Some(r) = route.filter(|r| r.kind == RouteKind::Unicast) else {
        return advice_of(
            format!(
                "A route outside {tunnel} reaches {} (a split-tunnel exclusion or a more specific route). Find it \
                 with `ip route get {}` and remove it, or use a resolver inside the tunnel.",
                s.resolver, s.resolver
            ),
            Vec::new(),
        );
    };
    let mut del =
        format!("ip route del {}", r.matched.map(|m| m.network().to_string()).unwrap_or(r.dst.to_string()));
    if let Some(gw) = r.gateway {
        del.push_str(&format!(" via {gw}"));
    }
    if let Some(dev) = &r.dev {
        del.push_str(&format!(" dev {dev}"));
    }
    if r.table != MAIN_TABLE && r.table != 0 {
        del.push_str(&format!(" table {}", r.table));
    }
    advice_of(
        format!(
            "The route {r} sends {} outside {tunnel}. Remove that exclusion (in the VPN client's split-tunnel \
             settings, or by hand), or use a resolver inside the tunnel:",
            s.resolver
        ),
        vec![del],
    )
}

fn encrypted_fix(s: &Seen<'_>, k: &Known, proof: Option<&Proof>) -> Advice {
    let server = s.sni.map(str::to_string).unwrap_or_else(|| s.resolver.to_string());
    let lan = matches!(proof, Some(Proof::Encrypted { lan: Some(_), .. }));
    let mut commands = vec![
        "Firefox: Settings > Privacy & Security > DNS over HTTPS: Off (or about:config network.trr.mode = 5)".to_string(),
        "Chrome / Edge: Settings > Privacy and security > Security > Use secure DNS: Off (policy DnsOverHttpsMode = off)"
            .to_string(),
    ];
    if !k.tunnel_dns.is_empty() {
        commands
            .push(format!("or point the application's secure DNS at the VPN's resolver: {}", tunnel_dns(k)));
    }
    let path = if lan { " on the local network" } else { "" };
    advice_of(
        format!(
            "An application resolves names itself with {} to {server}{path}, around the tunnel. Turn its own \
             encrypted DNS off so the system's (the VPN's) resolver is used, or point it at the VPN's resolver:",
            s.transport.as_str()
        ),
        commands,
    )
}

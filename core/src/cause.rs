//! Why a leak or bypass happened: one cause from a closed vocabulary, the evidence in words
//! (`detail`), and the advice for this system (`fix`, in cause/fix.rs). Pure: every input is a
//! plain value the pipeline gathers (tunnel state, families the tunnels carry, the route the
//! kernel chose — live only —, the interface's networks, recent questions asked of a local
//! stub or through a tunnel), so the same packets give the same causes live and on replay.
//!
//! For a leak, the first row that applies wins: no_tunnel, tunnel_down, stub_upstream,
//! parallel_resolution, ipv6/ipv4_outside_tunnel, lan_resolver, split_route, unknown. For a
//! bypass: no_tunnel, tunnel_down, else app_encrypted_dns, with what routed it outside the
//! tunnel (the LAN, a split route) in the detail.

pub mod fix;
pub mod recent;
pub mod state;

#[cfg(test)]
mod tests;

use std::fmt::Write;
use std::net::IpAddr;

use crate::event::Transport;
use crate::frame::Ts;
use crate::net::{Family, IfaceAddr, Prefix};
use crate::route::{RouteDecision, RouteKind};
use crate::topology::IfaceName;
use crate::verdict::Verdict;

pub use fix::{fix, Advice, Known};
pub use recent::{Families, Hit, Outage, Recent, TunnelEvidence};
pub use state::{CauseLimits, Causes, Judgement};

/// Why a leak or bypass happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cause {
    NoTunnel,
    TunnelDown,
    StubUpstream,
    ParallelResolution,
    Ipv6OutsideTunnel,
    Ipv4OutsideTunnel,
    LanResolver,
    SplitRoute,
    AppEncryptedDns,
    Unknown,
}

impl Cause {
    pub const ALL: [Cause; 10] = [
        Cause::NoTunnel,
        Cause::TunnelDown,
        Cause::StubUpstream,
        Cause::ParallelResolution,
        Cause::Ipv6OutsideTunnel,
        Cause::Ipv4OutsideTunnel,
        Cause::LanResolver,
        Cause::SplitRoute,
        Cause::AppEncryptedDns,
        Cause::Unknown,
    ];

    /// The NDJSON word.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::NoTunnel => "no_tunnel",
            Cause::TunnelDown => "tunnel_down",
            Cause::StubUpstream => "stub_upstream",
            Cause::ParallelResolution => "parallel_resolution",
            Cause::Ipv6OutsideTunnel => "ipv6_outside_tunnel",
            Cause::Ipv4OutsideTunnel => "ipv4_outside_tunnel",
            Cause::LanResolver => "lan_resolver",
            Cause::SplitRoute => "split_route",
            Cause::AppEncryptedDns => "app_encrypted_dns",
            Cause::Unknown => "unknown",
        }
    }

    /// A short form for a table column (at most 9 characters).
    pub fn short(self) -> &'static str {
        match self {
            Cause::NoTunnel => "no tunnel",
            Cause::TunnelDown => "VPN down",
            Cause::StubUpstream => "stub",
            Cause::ParallelResolution => "parallel",
            Cause::Ipv6OutsideTunnel => "IPv6 out",
            Cause::Ipv4OutsideTunnel => "IPv4 out",
            Cause::LanResolver => "LAN DNS",
            Cause::SplitRoute => "split",
            Cause::AppEncryptedDns => "app DoH",
            Cause::Unknown => "?",
        }
    }
}

/// The tunnels at the moment of the message.
#[derive(Debug, Clone, Default)]
pub struct Tunnels<'a> {
    /// Tunnel interfaces that are up, by name.
    pub up: &'a [IfaceName],
    /// A tunnel interface has been seen at some time.
    pub seen: bool,
    /// The outage under way, when none is up after one was.
    pub outage: Option<&'a Outage>,
    /// The families the tunnels that are up carry (and whether anything shows it).
    pub carried: Families,
}

impl Tunnels<'_> {
    fn first(&self) -> Option<&IfaceName> {
        self.up.first()
    }

    fn is_tunnel(&self, name: &str) -> bool {
        self.up.iter().any(|t| t == name)
    }
}

/// Everything the cause of one leak or bypass depends on.
#[derive(Debug, Clone)]
pub struct Situation<'a> {
    pub verdict: Verdict,
    pub transport: Transport,
    /// The TLS server name of an encrypted flow.
    pub sni: Option<&'a str>,
    /// The question, for the words.
    pub question: Option<(&'a str, u16)>,
    /// The interface the message used, and its addresses.
    pub iface: &'a str,
    pub iface_addrs: &'a [IfaceAddr],
    /// This machine's side and the resolver's.
    pub local: IpAddr,
    pub resolver: IpAddr,
    pub tunnels: Tunnels<'a>,
    /// The kernel's route to the resolver (live only).
    pub route: Option<&'a RouteDecision>,
    /// The same question went to a loopback resolver within the window before.
    pub stub: Option<Hit<IpAddr>>,
    /// The same question went through a tunnel within the window before.
    pub parallel: Option<Hit<IfaceName>>,
    pub ts: Ts,
}

impl Situation<'_> {
    pub fn family(&self) -> Family {
        Family::of(&self.resolver.to_canonical())
    }
}

/// A cause and its evidence in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub cause: Cause,
    pub detail: String,
}

/// Whether the resolver is on a network directly attached to the interface: the network, and
/// whether its prefix was assumed (/24, /64) because nothing recorded it.
pub fn on_link(s: &Situation<'_>) -> Option<(Prefix, bool)> {
    let resolver = s.resolver.to_canonical();
    if let Some(r) = s.route {
        // The kernel knows: no gateway, by this interface.
        if !(r.on_link() && r.leaves_by(s.iface)) {
            return None;
        }
        let known = s.iface_addrs.iter().filter_map(IfaceAddr::subnet).find(|n| n.contains(&resolver));
        return Some((
            known.or(r.matched.filter(|m| !m.is_default())).unwrap_or_else(|| host(resolver)),
            false,
        ));
    }
    if let Some(net) = s.iface_addrs.iter().filter_map(IfaceAddr::subnet).find(|n| n.contains(&resolver)) {
        return Some((net, false));
    }
    if s.iface_addrs.iter().any(|a| a.prefix.is_some() && Family::of(&a.addr) == Family::of(&resolver)) {
        return None; // the prefixes are known and none holds it
    }
    // Nothing records a prefix: the message's own address with /24 or /64 assumed.
    let (net, assumed) = IfaceAddr::bare(s.local.to_canonical()).subnet_or_assumed();
    net.contains(&resolver).then_some((net, assumed))
}

fn host(a: IpAddr) -> Prefix {
    Prefix::new(a, Family::of(&a).max_len()).expect("a full-length prefix is valid")
}

/// Where the route to the resolver goes: `Some(true)` by a tunnel, `Some(false)` outside,
/// `None` when the kernel was not asked (replay) or gave no usable route.
fn route_via_tunnel(s: &Situation<'_>) -> Option<bool> {
    let r = s.route.filter(|r| r.kind == RouteKind::Unicast)?;
    Some(r.dev.as_deref().is_some_and(|d| s.tunnels.is_tunnel(d)))
}

fn question_words(s: &Situation<'_>) -> String {
    match s.question {
        Some((name, qtype)) => {
            format!("{} {}", if name.is_empty() { "." } else { name }, crate::names::qtype(qtype))
        }
        None => "the same question".to_string(),
    }
}

fn ms(ns: u64) -> String {
    format!("{} ms", ns / 1_000_000)
}

/// A duration as a person reads it: "40 ms", "2.5 s", "3 min".
fn secs(ns: u64) -> String {
    match ns {
        n if n < 1_000_000_000 => ms(n),
        n if n < 120_000_000_000 => format!("{:.1} s", n as f64 / 1e9),
        n => format!("{} min", n / 60_000_000_000),
    }
}

/// The leak's or bypass's cause, with its evidence in words.
pub fn explain(s: &Situation<'_>) -> Explanation {
    let (cause, detail) = if let Some(x) = tunnel_cause(s) {
        x
    } else if s.verdict == Verdict::Bypass {
        (Cause::AppEncryptedDns, encrypted_words(s))
    } else {
        leak_cause(s)
    };
    Explanation { cause, detail }
}

/// no_tunnel and tunnel_down, for leaks and bypasses alike.
fn tunnel_cause(s: &Situation<'_>) -> Option<(Cause, String)> {
    if !s.tunnels.up.is_empty() {
        return None;
    }
    if !s.tunnels.seen {
        let d =
            format!("no tunnel interface has been seen; {} is not one (name yours with --tunnel)", s.iface);
        return Some((Cause::NoTunnel, d));
    }
    let d = match s.tunnels.outage {
        Some(o) => format!(
            "tunnel {} went down {} before; leaks and bypasses since, this one included: {}",
            o.tunnel,
            secs(s.ts.since(o.since)),
            o.exposed.max(1)
        ),
        None => "no tunnel is up, after one was".to_string(),
    };
    Some((Cause::TunnelDown, d))
}

fn leak_cause(s: &Situation<'_>) -> (Cause, String) {
    let q = question_words(s);
    if let Some(h) = &s.stub {
        let d = format!(
            "{q} went to the local resolver {} {} before: a stub forwarded it to {} by {}",
            h.via,
            ms(h.ago_ns),
            s.resolver,
            s.iface
        );
        return (Cause::StubUpstream, d);
    }
    if let Some(h) = &s.parallel {
        let d = format!("{q} was asked through {} {} before, and by {} here", h.via, ms(h.ago_ns), s.iface);
        return (Cause::ParallelResolution, d);
    }
    let family = s.family();
    if s.tunnels.carried.shows_outside(family) {
        let cause = match family {
            Family::V6 => Cause::Ipv6OutsideTunnel,
            Family::V4 => Cause::Ipv4OutsideTunnel,
        };
        let tunnels = s.tunnels.up.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ");
        let f = family.name();
        let d = format!(
            "{tunnels} carries no {f} (no {f} address or route but link-local), so it left by {}",
            s.iface
        );
        return (cause, d);
    }
    if let Some(net) = on_link(s) {
        return (Cause::LanResolver, lan_words(s, net));
    }
    match route_via_tunnel(s) {
        Some(false) | None => (Cause::SplitRoute, split_words(s)),
        Some(true) => {
            let r = s.route.expect("route_via_tunnel found one");
            let d = format!(
                "the kernel routes {} by {} ({r}), yet it left by {}: a socket bound to {} or a firewall mark?",
                s.resolver,
                r.dev.as_deref().unwrap_or("?"),
                s.iface,
                s.iface
            );
            (Cause::Unknown, d)
        }
    }
}

fn lan_words(s: &Situation<'_>, (net, assumed): (Prefix, bool)) -> String {
    let mut d = format!("{} is on {}'s network {}", s.resolver, s.iface, net.network());
    if assumed {
        let _ = write!(d, " (/{} assumed: the capture records no prefix)", net.prefix_len());
    }
    d
}

fn split_words(s: &Situation<'_>) -> String {
    let tunnel = s.tunnels.first().map(|t| t.as_str()).unwrap_or("the tunnel");
    match s.route {
        Some(r) if r.kind == RouteKind::Unicast => format!("route {r} takes it outside {tunnel}"),
        Some(r) => format!("the kernel has no route to {} ({r}), yet it left by {}", s.resolver, s.iface),
        None => {
            let carries = if s.tunnels.carried.known {
                format!("{tunnel} carries {}", s.family().name())
            } else {
                format!("{tunnel} is up")
            };
            format!(
                "it left by {} although {carries} and {} is not on {}'s network (no route recorded)",
                s.iface, s.resolver, s.iface
            )
        }
    }
}

/// A bypass: what went around, and what routed it outside the tunnel.
fn encrypted_words(s: &Situation<'_>) -> String {
    let tunnel = s.tunnels.first().map(|t| t.as_str()).unwrap_or("the tunnel");
    let server = match s.sni {
        Some(n) => format!("{} ({n})", s.resolver),
        None => s.resolver.to_string(),
    };
    let mut d =
        format!("an application's own {} to {server} by {} around {tunnel}", s.transport.as_str(), s.iface);
    if let Some(net) = on_link(s) {
        let _ = write!(d, "; {}", lan_words(s, net));
    } else if let Some(r) =
        s.route.filter(|r| r.kind == RouteKind::Unicast && route_via_tunnel(s) == Some(false))
    {
        let _ = write!(d, "; route {r} takes it outside {tunnel}");
    }
    d
}

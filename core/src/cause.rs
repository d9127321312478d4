//! Why a leak or bypass happened: one cause from a closed vocabulary, the evidence for it, and
//! the advice for this system. Pure: every input is a plain value the pipeline gathers (tunnel
//! state, families the tunnels carry, the route the kernel chose — live only —, the
//! interface's networks, recent questions asked of a local stub or through a tunnel), so the
//! same packets give the same causes live and on replay.
//!
//! For a leak, the first row that applies wins: no_tunnel, tunnel_down, stub_upstream,
//! parallel_resolution, ipv6/ipv4_outside_tunnel, lan_resolver, split_route, unknown. For a
//! bypass: no_tunnel, tunnel_down, else app_encrypted_dns, with what routed it outside the
//! tunnel (the LAN, a split route) in the evidence.
//!
//! The hot path builds no text: `decide` keeps the evidence as data in a [`Caused`] (nothing
//! allocated for `no_tunnel`, one box otherwise); outputs ask for its words (`detail`) and its
//! advice (`fix`, cause/fix.rs) when they show them.

pub mod fix;
pub mod recent;
pub mod state;
mod words;

#[cfg(test)]
mod tests;

use std::net::IpAddr;

use crate::event::{Event, Transport};
use crate::frame::Ts;
use crate::net::{Family, IfaceAddr, Prefix};
use crate::route::{RouteDecision, RouteKind};
use crate::topology::IfaceName;
use crate::verdict::Verdict;

pub use fix::{Advice, Known};
pub use recent::{Families, Hit, Outage, Recent, TunnelEvidence};
pub use state::{CauseLimits, Causes};

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
    /// The tunnel the advice names when nothing more specific is known (the state picks the
    /// one that carries the message's family, holds a default route, has resolvers
    /// configured); `None`: the first that is up.
    pub preferred: Option<&'a IfaceName>,
}

impl Tunnels<'_> {
    fn first(&self) -> Option<&IfaceName> {
        self.preferred.or(self.up.first())
    }

    fn is_tunnel(&self, name: &str) -> bool {
        self.up.iter().any(|t| t == name)
    }
}

/// What the words and the advice take from the event itself.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// The interface the message used.
    pub iface: &'a str,
    /// The resolver's address (a query's destination, a response's source, a flow's server).
    pub resolver: IpAddr,
    pub transport: Transport,
    /// The TLS server name of an encrypted flow.
    pub sni: Option<&'a str>,
    /// The question, for the words.
    pub question: Option<(&'a str, u16)>,
}

impl<'a> Seen<'a> {
    /// The parts of a message or flow the words use; `None` for a notice.
    pub fn of(ev: &'a Event) -> Option<Seen<'a>> {
        let wire = ev.wire()?;
        let (resolver, _) = ev.resolver()?;
        Some(Seen {
            iface: &ev.iface_name,
            resolver,
            transport: wire.transport,
            sni: ev.sni(),
            question: ev.as_message().and_then(|m| m.question()).map(|q| (&*q.name, q.qtype)),
        })
    }
}

/// Everything the cause of one leak or bypass depends on.
#[derive(Debug, Clone)]
pub struct Situation<'a> {
    pub verdict: Verdict,
    pub seen: Seen<'a>,
    /// The interface's addresses.
    pub iface_addrs: &'a [IfaceAddr],
    /// This machine's side of the exchange.
    pub local: IpAddr,
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
        Family::of(&self.seen.resolver.to_canonical())
    }
}

/// A leak's or bypass's cause with its evidence: what the pipeline hands out on `Judged`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caused {
    pub cause: Cause,
    /// Whether a configuration names the resolver; `None` when none was read (replay).
    pub resolver_configured: Option<bool>,
    /// `None` when the event says it all (no tunnel was ever seen).
    evidence: Option<Box<Evidence>>,
}

/// What a cause's words and advice are made of, beyond the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The tunnel the words and the advice name: the one that went down, the one the name was
    /// asked through, else the one that should have carried it.
    pub tunnel: Option<IfaceName>,
    pub proof: Proof,
    /// What the system's configuration says (the manager, the tunnel's resolvers).
    pub known: Known,
    /// The kernel's route to the resolver was known when the cause was decided.
    pub routed: bool,
}

/// The cause-specific part of the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// The outage under way: when it started (before the message) and what left since.
    Outage { ago_ns: u64, exposed: u64 },
    /// No tunnel is up, after one was, and the outage is not known.
    Down,
    /// The question went to this local stub before.
    Stub(Hit<IpAddr>),
    /// The question went through this tunnel before.
    Parallel(Hit<IfaceName>),
    /// No tunnel that is up carries the message's family (the tunnels that are up).
    Family(Vec<IfaceName>),
    /// The resolver is on the interface's network (the prefix assumed or not).
    Lan { net: Prefix, assumed: bool },
    /// The route the kernel chose, or none known; whether the tunnel is known to carry the
    /// family.
    Split { route: Option<RouteDecision>, carries: bool },
    /// The kernel routes the resolver by a tunnel, yet it left outside.
    Against(RouteDecision),
    /// An application's own encrypted DNS, and what routed it outside (the LAN, a route).
    Encrypted { lan: Option<(Prefix, bool)>, route: Option<RouteDecision> },
}

impl Caused {
    /// A cause and its evidence, as the pipeline decided them.
    pub fn new(cause: Cause, resolver_configured: Option<bool>, evidence: Option<Evidence>) -> Caused {
        Caused { cause, resolver_configured, evidence: evidence.map(Box::new) }
    }

    pub fn evidence(&self) -> Option<&Evidence> {
        self.evidence.as_deref()
    }

    /// The tunnel the words and advice name, when one is.
    pub fn tunnel(&self) -> Option<&IfaceName> {
        self.evidence.as_ref()?.tunnel.as_ref()
    }

    /// The evidence in words ("192.0.2.1 is on eth0's network 192.0.2.0/24").
    pub fn words(&self, seen: &Seen<'_>) -> String {
        words::detail(self, seen)
    }

    /// The advice for this system.
    pub fn advice(&self, seen: &Seen<'_>) -> Advice {
        fix::advice(self, seen)
    }

    /// [`words`](Self::words) of the event it was decided for.
    pub fn detail(&self, ev: &Event) -> String {
        Seen::of(ev).map(|s| self.words(&s)).unwrap_or_default()
    }

    /// [`advice`](Self::advice) for the event it was decided for.
    pub fn fix(&self, ev: &Event) -> Advice {
        Seen::of(ev).map(|s| self.advice(&s)).unwrap_or_default()
    }

    /// Whether the words name the question (stub_upstream, parallel_resolution): outputs that
    /// keep words made once per cause and evidence key them by it too.
    pub fn words_use_question(&self) -> bool {
        self.evidence.as_ref().is_some_and(|e| matches!(e.proof, Proof::Stub(_) | Proof::Parallel(_)))
    }

    /// The cause depends on a route the kernel was not asked about yet (live: the shell asks
    /// and hands the answer in as `Fact::Route`).
    pub fn wants_route(&self) -> bool {
        matches!(self.cause, Cause::LanResolver | Cause::SplitRoute | Cause::Unknown | Cause::AppEncryptedDns)
            && self.evidence.as_ref().is_some_and(|e| !e.routed)
    }
}

/// Whether the resolver is on a network directly attached to the interface: the network, and
/// whether its prefix was assumed (/24, /64) because nothing recorded it.
pub fn on_link(s: &Situation<'_>) -> Option<(Prefix, bool)> {
    let resolver = s.seen.resolver.to_canonical();
    let known = || s.iface_addrs.iter().filter_map(IfaceAddr::subnet).find(|n| n.contains(&resolver));
    if let Some(r) = s.route {
        // The kernel knows: no gateway, by this interface.
        if !(r.on_link() && r.leaves_by(s.seen.iface)) {
            return None;
        }
        return Some((
            known().or(r.matched.filter(|m| !m.is_default())).unwrap_or_else(|| host(resolver)),
            false,
        ));
    }
    if let Some(net) = known() {
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

/// The leak's or bypass's cause and evidence; `known` is what the configuration says for the
/// advice (the pipeline gives `Known::none()` when nothing was read).
pub fn decide(
    s: &Situation<'_>,
    known: impl FnOnce(Option<&IfaceName>) -> Known,
) -> (Cause, Option<Evidence>) {
    let (cause, tunnel, proof) = if let Some(x) = tunnel_cause(s) {
        x
    } else if s.verdict == Verdict::Bypass {
        let route = s.route.filter(|r| r.kind == RouteKind::Unicast && route_via_tunnel(s) == Some(false));
        let proof = Proof::Encrypted { lan: on_link(s), route: route.cloned() };
        (Cause::AppEncryptedDns, s.tunnels.first().cloned(), Some(proof))
    } else {
        let (cause, tunnel, proof) = leak_cause(s);
        (cause, tunnel, Some(proof))
    };
    let evidence = proof.map(|proof| Evidence {
        known: known(tunnel.as_ref()),
        tunnel,
        proof,
        routed: s.route.is_some(),
    });
    (cause, evidence)
}

/// no_tunnel and tunnel_down, for leaks and bypasses alike.
fn tunnel_cause(s: &Situation<'_>) -> Option<(Cause, Option<IfaceName>, Option<Proof>)> {
    if !s.tunnels.up.is_empty() {
        return None;
    }
    if !s.tunnels.seen {
        return Some((Cause::NoTunnel, None, None));
    }
    let (tunnel, proof) = match s.tunnels.outage {
        Some(o) => {
            (Some(o.tunnel.clone()), Proof::Outage { ago_ns: s.ts.since(o.since), exposed: o.exposed.max(1) })
        }
        None => (None, Proof::Down),
    };
    Some((Cause::TunnelDown, tunnel, Some(proof)))
}

fn leak_cause(s: &Situation<'_>) -> (Cause, Option<IfaceName>, Proof) {
    let tunnel = s.tunnels.first().cloned();
    if let Some(h) = &s.stub {
        return (Cause::StubUpstream, tunnel, Proof::Stub(h.clone()));
    }
    if let Some(h) = &s.parallel {
        return (Cause::ParallelResolution, Some(h.via.clone()), Proof::Parallel(h.clone()));
    }
    let family = s.family();
    if s.tunnels.carried.shows_outside(family) {
        let cause = match family {
            Family::V6 => Cause::Ipv6OutsideTunnel,
            Family::V4 => Cause::Ipv4OutsideTunnel,
        };
        return (cause, tunnel, Proof::Family(s.tunnels.up.to_vec()));
    }
    if let Some((net, assumed)) = on_link(s) {
        return (Cause::LanResolver, tunnel, Proof::Lan { net, assumed });
    }
    match route_via_tunnel(s) {
        Some(false) | None => {
            let proof = Proof::Split { route: s.route.cloned(), carries: s.tunnels.carried.known };
            (Cause::SplitRoute, tunnel, proof)
        }
        Some(true) => {
            let r = s.route.expect("route_via_tunnel found one").clone();
            let by = r.dev.clone().or(tunnel);
            (Cause::Unknown, by, Proof::Against(r))
        }
    }
}

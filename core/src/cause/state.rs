//! The one entry point the pipeline calls: `Causes` keeps what the causes need between
//! messages (recent questions, tunnel evidence, the OS facts handed in) and gives each leak or
//! bypass its cause, evidence, fix and whether its resolver is configured. Facts come in as
//! plain data, in order with the frames (`set_*`); nothing here asks the OS.

use std::net::IpAddr;

use foldhash::HashMap;

use crate::config::HashSeeds;
use crate::dnsconfig::ResolverConfig;
use crate::event::{Event, EventKind, Judged, Message};
use crate::frame::Ts;
use crate::net::Family;
use crate::route::{LinkRoutes, RouteDecision};
use crate::topology::{IfaceKind, IfaceName, Topology};
use crate::verdict::Verdict;

use super::fix::Known;
use super::recent::{is_loopback_resolver, Hit, Recent, TunnelEvidence};
use super::{decide, Caused, Seen, Situation, Tunnels};

#[derive(Debug, Clone, Copy)]
pub struct CauseLimits {
    /// "Within the second before" for stub_upstream and parallel_resolution.
    pub window_ns: u64,
    /// Questions remembered per table.
    pub max_names: usize,
    /// Route decisions kept (a new one past this empties the table; the shell hands them
    /// again when it is asked).
    pub max_routes: usize,
}

impl Default for CauseLimits {
    fn default() -> Self {
        CauseLimits { window_ns: 1_000_000_000, max_names: 16_384, max_routes: 4_096 }
    }
}

/// What the causes keep between messages: the pipeline's one instance, fed every judged
/// message and every fact in order.
#[derive(Debug)]
pub struct Causes {
    stub: Recent<IpAddr>,
    tunnel: Recent<IfaceName>,
    evidence: TunnelEvidence,
    tunnel_seen: bool,
    tunnels_up: Vec<IfaceName>,
    link_routes: Vec<LinkRoutes>,
    routes: HashMap<IpAddr, RouteDecision>,
    max_routes: usize,
    config: Option<ResolverConfig>,
    /// `Known` per tunnel name, made from `config` when first needed (cleared when it changes).
    known: Vec<(Option<IfaceName>, Known)>,
}

/// What a message is to the causes, without its event.
struct Msg<'a> {
    query: bool,
    resolver: IpAddr,
    port: u16,
    question: Option<(&'a str, u16)>,
}

impl<'a> Msg<'a> {
    fn of(ev: &'a Event) -> Option<Msg<'a>> {
        let (resolver, port) = ev.resolver()?;
        let question = ev.as_message().and_then(Message::question).map(|q| (&*q.name, q.qtype));
        Some(Msg { query: ev.kind() == EventKind::Query, resolver, port, question })
    }
}

impl Causes {
    /// Names forgotten before their window was over, both tables (the tables were full).
    pub fn names_evicted(&self) -> u64 {
        self.stub.evicted + self.tunnel.evicted
    }

    /// Causes with the fixed default seeds (tests).
    pub fn new(limits: CauseLimits) -> Causes {
        Causes::seeded(limits, HashSeeds::default())
    }

    /// `seeds` key the recent-names tables: the pipeline's, so that a message's name is hashed
    /// once for the tracker and the causes.
    pub fn seeded(limits: CauseLimits, seeds: HashSeeds) -> Causes {
        Causes {
            stub: Recent::seeded(limits.window_ns, limits.max_names, seeds),
            tunnel: Recent::seeded(limits.window_ns, limits.max_names, seeds),
            evidence: TunnelEvidence::default(),
            tunnel_seen: false,
            tunnels_up: Vec::new(),
            link_routes: Vec::new(),
            routes: HashMap::default(),
            max_routes: limits.max_routes.max(1),
            config: None,
            known: Vec::new(),
        }
    }

    /// The interfaces changed at `ts`.
    pub(crate) fn set_topology(&mut self, topology: &Topology, ts: Ts) {
        self.tunnel_seen |= topology.iter().any(|i| i.kind == IfaceKind::Tunnel);
        let mut up: Vec<IfaceName> = topology.tunnels_up().map(|i| i.name.clone()).collect();
        up.sort();
        self.tunnels_up = up;
        self.evidence.topology_changed(topology, ts);
    }

    /// Which families each interface routes (live); replaces what was known.
    pub(crate) fn set_link_routes(&mut self, routes: Vec<LinkRoutes>) {
        self.link_routes = routes;
        self.routes.clear(); // routes changed: the decisions are old
    }

    /// The kernel's decision for one destination (live).
    pub(crate) fn set_route(&mut self, d: RouteDecision) {
        if self.routes.len() >= self.max_routes && !self.routes.contains_key(&d.dst) {
            self.routes.clear();
        }
        self.routes.insert(d.dst, d);
    }

    /// The resolver configuration read now (live).
    pub(crate) fn set_resolver_config(&mut self, c: ResolverConfig) {
        self.config = Some(c);
        self.known.clear();
    }

    /// The configuration last read, if any.
    pub fn resolver_config(&self) -> Option<&ResolverConfig> {
        self.config.as_ref()
    }

    /// Looks at every judged message in capture order; a leak or bypass gets its cause.
    #[cfg(test)]
    pub(crate) fn observe(&mut self, j: &Judged, topology: &Topology) -> Option<Caused> {
        let name_hash = self.stub.seeds().name_hash(j.event.qname().unwrap_or(""));
        self.observe_named(j, name_hash, topology)
    }

    /// [`observe`](Self::observe) with the keyed hash of the question's name
    /// (`HashSeeds::name_hash` with the seeds given to [`seeded`](Self::seeded)).
    pub(crate) fn observe_named(
        &mut self,
        j: &Judged,
        name_hash: u64,
        topology: &Topology,
    ) -> Option<Caused> {
        let ev = &j.event;
        if ev.kind() == EventKind::Malformed {
            return None;
        }
        let m = Msg::of(ev)?;
        match j.verdict? {
            Verdict::Tunnel => {
                self.evidence.seen_on_tunnel(ev.iface, Family::of(&m.resolver.to_canonical()));
                if let (true, Some((_, qtype))) = (m.query, m.question) {
                    self.tunnel.note_hashed(name_hash, qtype, ev.ts, ev.iface_name.clone());
                }
                None
            }
            Verdict::Local => {
                if let (true, Some((_, qtype))) = (m.query, m.question) {
                    if is_loopback_resolver(&m.resolver) && m.port == 53 {
                        self.stub.note_hashed(name_hash, qtype, ev.ts, m.resolver);
                    }
                }
                None
            }
            Verdict::Multicast => None,
            verdict @ (Verdict::Leak | Verdict::Bypass) => {
                if !self.tunnel_seen {
                    // The common case of a capture without a tunnel: nothing to look up.
                    let configured = self.config.as_ref().and_then(|c| c.configured(&m.resolver));
                    return Some(Caused::new(super::Cause::NoTunnel, configured, None));
                }
                self.evidence.exposed();
                let (stub, parallel) = match (verdict, m.question, self.tunnels_up.is_empty()) {
                    (Verdict::Leak, Some((_, qtype)), false) => (
                        self.stub.within_hashed(name_hash, qtype, ev.ts),
                        self.tunnel.within_hashed(name_hash, qtype, ev.ts),
                    ),
                    _ => (None, None),
                };
                Some(self.judge(ev, verdict, topology, stub, parallel))
            }
        }
    }

    /// The cause of a leak or bypass again, now that the route to its resolver is known (the
    /// shell asked the kernel after it was judged): only causes that depend on the route
    /// change; nothing is noted or counted a second time.
    pub(crate) fn complete(&mut self, j: &mut Judged, topology: &Topology) {
        let (Some(c), Some(verdict)) = (&j.cause, j.verdict) else { return };
        if !c.wants_route() {
            return;
        }
        let Some((resolver, _)) = j.event.resolver() else { return };
        if !self.routes.contains_key(&resolver) {
            return;
        }
        j.cause = Some(self.judge(&j.event, verdict, topology, None, None));
    }

    fn judge(
        &mut self,
        ev: &Event,
        verdict: Verdict,
        topology: &Topology,
        stub: Option<Hit<IpAddr>>,
        parallel: Option<Hit<IfaceName>>,
    ) -> Caused {
        let seen = Seen::of(ev).expect("a message or flow");
        let wire = ev.wire().expect("a message or flow");
        let local = if ev.kind() == EventKind::Response { wire.dst } else { wire.src };
        let resolver = seen.resolver;
        let family = Family::of(&resolver.to_canonical());
        let preferred = self.preferred(topology, family);
        let addrs = topology.get(ev.iface).map(|i| &i.facts.addrs[..]).unwrap_or(&[]);
        let s = Situation {
            verdict,
            seen,
            iface_addrs: addrs,
            local,
            tunnels: Tunnels {
                up: &self.tunnels_up,
                seen: self.tunnel_seen,
                outage: self.evidence.outage(),
                carried: self.evidence.carried(topology, &self.link_routes),
                preferred: preferred.as_ref(),
            },
            route: self.routes.get(&resolver),
            stub,
            parallel,
            ts: ev.ts,
        };
        let (config, known) = (&self.config, &mut self.known);
        let (cause, evidence) = decide(&s, |t| known_for(config, known, t));
        let resolver_configured = self.config.as_ref().and_then(|c| c.configured(&resolver));
        Caused::new(cause, resolver_configured, evidence)
    }

    /// The tunnel the advice should name when several are up: the one that carries `family`
    /// (addresses, routes, messages seen), then one with a default route of that family, then
    /// one with resolvers configured; ties go to the first by name.
    fn preferred(&self, topology: &Topology, family: Family) -> Option<IfaceName> {
        if self.tunnels_up.len() < 2 {
            return None;
        }
        let score = |name: &IfaceName| {
            let Some(t) = topology.tunnels_up().find(|t| t.name == *name) else { return 0 };
            let carries = self.evidence.families_of(t, &self.link_routes).carries(family);
            let default = self.link_routes.iter().any(|r| {
                (r.ifindex == t.facts.index && t.facts.index != 0 || r.iface == t.name)
                    && match family {
                        Family::V4 => r.default_v4,
                        Family::V6 => r.default_v6,
                    }
            });
            let dns = self
                .config
                .as_ref()
                .is_some_and(|c| !Known::from_config(c, Some(name)).tunnel_dns.is_empty());
            4 * u8::from(carries) + 2 * u8::from(default) + u8::from(dns)
        };
        let mut best: Option<(&IfaceName, u8)> = None;
        for t in &self.tunnels_up {
            let sc = score(t);
            if best.is_none_or(|(_, b)| sc > b) {
                best = Some((t, sc));
            }
        }
        best.map(|(t, _)| t.clone())
    }
}

/// What the configuration says for the advice about `tunnel`, kept per tunnel until the
/// configuration changes.
fn known_for(
    config: &Option<ResolverConfig>,
    cache: &mut Vec<(Option<IfaceName>, Known)>,
    tunnel: Option<&IfaceName>,
) -> Known {
    let Some(c) = config else { return Known::none() };
    if let Some((_, k)) = cache.iter().find(|(t, _)| t.as_ref() == tunnel) {
        return k.clone();
    }
    let k = Known::from_config(c, tunnel.map(|t| t.as_str()));
    if cache.len() < 16 {
        cache.push((tunnel.cloned(), k.clone()));
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Body, DnsHeader, DnsInfo, MessageKind, Question, Transport, Wire, L4};
    use crate::net::IfaceAddr;
    use crate::topology::{IfaceFacts, Overrides};
    use crate::verdict::{judge, Context};
    use crate::Cause;

    fn topo(wg_up: bool) -> Topology {
        let eth0 = IfaceFacts {
            name: "eth0".into(),
            up: true,
            has_mac: true,
            addrs: vec![IfaceAddr::new("192.0.2.10".parse().unwrap(), Some(24))],
            ..Default::default()
        };
        let wg0 = IfaceFacts {
            name: "wg0".into(),
            up: wg_up,
            addrs: vec![IfaceAddr::new("198.51.100.2".parse().unwrap(), Some(24))],
            ..Default::default()
        };
        let lo = IfaceFacts { name: "lo".into(), up: true, loopback: true, ..Default::default() };
        Topology::from_facts([(0, eth0), (1, wg0), (2, lo)], &Overrides::default())
    }

    fn query(ms: i64, iface: u32, name: &str, src: &str, dst: &str, qname: &str) -> Event {
        let wire = Wire {
            proto: L4::Udp,
            transport: Transport::Dns,
            src: src.parse().unwrap(),
            sport: 40000,
            dst: dst.parse().unwrap(),
            dport: 53,
            encap: None,
            provider: None,
        };
        let dns = Some(DnsInfo {
            header: DnsHeader::default(),
            question: Some(Question { name: qname.into(), qtype: 1, qclass: 1 }),
            payload: Box::new([]),
        });
        let body = Body::Message(Message { kind: MessageKind::Query, wire, dns, rtt_ns: None, owner: None });
        Event { ts: Ts::from_millis(ms), frame: 1, iface, iface_name: name.into(), body }
    }

    fn judged(e: Event, t: &Topology) -> Judged {
        let (verdict, reason) = judge(&e, &Context { topology: t, tunnel_seen: true });
        Judged { event: e, verdict, reason, cause: None }
    }

    /// Regression (#13, silence): the recent-names tables counted what a full table forgot,
    /// but nothing showed it. Both tables' evictions reach `names_evicted` (and from there
    /// `Stats::cause_names_evicted`, the summary's "Incomplete" lines and the stats line).
    #[test]
    fn regression_names_forgotten_by_a_full_table_are_counted() {
        let t = topo(true);
        let mut c = Causes::new(CauseLimits { max_names: 2, ..CauseLimits::default() });
        c.set_topology(&t, Ts(0));
        for i in 0..5 {
            let q = judged(
                query(1000 + i, 1, "wg0", "198.51.100.2", "198.51.100.1", &format!("n{i}.example")),
                &t,
            );
            c.observe(&q, &t);
            let s = judged(query(1000 + i, 2, "lo", "127.0.0.1", "127.0.0.53", &format!("s{i}.example")), &t);
            c.observe(&s, &t);
        }
        assert_eq!(c.names_evicted(), 6, "3 forgotten by each table of 2");
    }

    /// The stub's question on lo, then its upstream query by eth0: stub_upstream. The same
    /// name asked through wg0 first, then by eth0: parallel_resolution. A name never seen
    /// before to the LAN resolver: lan_resolver; with the configuration read, configured.
    #[test]
    fn causes_follow_the_messages_before() {
        let t = topo(true);
        let mut c = Causes::new(CauseLimits::default());
        c.set_topology(&t, Ts(0));
        let stub_q = judged(query(1000, 2, "lo", "127.0.0.1", "127.0.0.53", "stub.example"), &t);
        assert_eq!(c.observe(&stub_q, &t), None);
        let up = judged(query(1005, 0, "eth0", "192.0.2.10", "192.0.2.1", "STUB.example"), &t);
        let j = c.observe(&up, &t).unwrap();
        assert_eq!(j.cause, Cause::StubUpstream);
        assert_eq!(j.resolver_configured, None, "nothing read: unknown");
        let tun = judged(query(2000, 1, "wg0", "198.51.100.2", "198.51.100.1", "par.example"), &t);
        assert_eq!(c.observe(&tun, &t), None);
        let out = judged(query(2001, 0, "eth0", "192.0.2.10", "192.0.2.1", "par.example"), &t);
        assert_eq!(c.observe(&out, &t).unwrap().cause, Cause::ParallelResolution);
        c.set_resolver_config(ResolverConfig {
            resolv_conf: Some(crate::dnsconfig::ResolvConf {
                nameservers: vec!["192.0.2.1".parse().unwrap()],
                ..Default::default()
            }),
            ..Default::default()
        });
        let lan = judged(query(5000, 0, "eth0", "192.0.2.10", "192.0.2.1", "lan.example"), &t);
        let j = c.observe(&lan, &t).unwrap();
        assert_eq!(j.cause, Cause::LanResolver);
        assert_eq!(j.resolver_configured, Some(true));
        let other = judged(query(5001, 0, "eth0", "192.0.2.10", "192.0.2.99", "app.example"), &t);
        assert_eq!(c.observe(&other, &t).unwrap().resolver_configured, Some(false));
    }

    /// The tunnel goes down: the next leak is tunnel_down, counted against the outage; a route
    /// handed in as a fact completes a replay-style split_route into one that names the route.
    #[test]
    fn outages_and_route_facts() {
        let mut c = Causes::new(CauseLimits::default());
        let t = topo(true);
        c.set_topology(&t, Ts(0));
        let mut split = judged(query(1000, 0, "eth0", "192.0.2.10", "203.0.113.53", "s.example"), &t);
        split.cause = c.observe(&split, &t);
        let j = split.cause.as_ref().unwrap();
        assert_eq!(j.cause, Cause::SplitRoute);
        assert!(j.detail(&split.event).ends_with("(no route recorded)"), "{}", j.detail(&split.event));
        assert!(j.wants_route());
        let dst: IpAddr = "203.0.113.53".parse().unwrap();
        c.complete(&mut split, &t);
        assert!(split.cause.as_ref().unwrap().wants_route(), "no route handed in yet: unchanged");
        c.set_route(RouteDecision {
            dst,
            kind: crate::route::RouteKind::Unicast,
            dev: Some("eth0".into()),
            ifindex: 2,
            gateway: Some("192.0.2.1".parse().unwrap()),
            src: None,
            table: crate::route::MAIN_TABLE,
            matched: Some(crate::net::Prefix::new(dst, 24).unwrap()),
        });
        c.complete(&mut split, &t);
        let j = split.cause.as_ref().unwrap();
        assert!(!j.wants_route());
        assert_eq!(
            j.detail(&split.event),
            "route 203.0.113.0/24 via 192.0.2.1 dev eth0 takes it outside wg0"
        );
        let down = topo(false);
        c.set_topology(&down, Ts::from_millis(3000));
        let leak = judged(query(4000, 0, "eth0", "192.0.2.10", "192.0.2.1", "d.example"), &down);
        let j = c.observe(&leak, &down).unwrap();
        assert_eq!(j.cause, Cause::TunnelDown);
        assert_eq!(
            j.detail(&leak.event),
            "tunnel wg0 went down 1.0 s before; leaks and bypasses since, this one included: 1"
        );
    }

    /// With two tunnels up, the advice names the one that carries the message's family.
    #[test]
    fn the_advice_names_the_tunnel_that_carries_the_family() {
        let eth0 = IfaceFacts {
            name: "eth0".into(),
            up: true,
            has_mac: true,
            addrs: vec![IfaceAddr::new("fd00:1::10".parse().unwrap(), Some(64))],
            ..Default::default()
        };
        let a = IfaceFacts {
            name: "awg".into(),
            up: true,
            addrs: vec![IfaceAddr::new("198.51.100.2".parse().unwrap(), Some(24))],
            ..Default::default()
        };
        let b = IfaceFacts {
            name: "wg6".into(),
            up: true,
            addrs: vec![IfaceAddr::new("fd00:99::2".parse().unwrap(), Some(64))],
            ..Default::default()
        };
        let t = Topology::from_facts([(0, eth0), (1, a), (2, b)], &Overrides::default());
        let mut c = Causes::new(CauseLimits::default());
        c.set_topology(&t, Ts(0));
        let lan = judged(query(1000, 0, "eth0", "fd00:1::10", "fd00:1::1", "v6.example"), &t);
        let j = c.observe(&lan, &t).unwrap();
        assert_eq!(j.cause, Cause::LanResolver);
        assert_eq!(j.tunnel().map(|t| t.as_str()), Some("wg6"), "not the first by name");
        assert!(
            j.fix(&lan.event).commands.iter().any(|l| l.contains("resolvectl domain wg6")),
            "{}",
            j.fix(&lan.event)
        );
    }
}

//! The one entry point the pipeline calls: `Causes` keeps what the causes need between
//! messages (recent questions, tunnel evidence, the OS facts handed in) and gives each leak or
//! bypass its cause, evidence, fix and whether its resolver is configured. Facts come in as
//! plain data, in order with the frames (`set_*`); nothing here asks the OS.

use std::net::IpAddr;

use foldhash::HashMap;

use crate::dnsconfig::ResolverConfig;
use crate::event::{EventKind, Judged};
use crate::frame::Ts;
use crate::net::Family;
use crate::route::{LinkRoutes, RouteDecision};
use crate::topology::{IfaceKind, IfaceName, Topology};
use crate::verdict::Verdict;

use super::fix::{fix, Advice, Known};
use super::recent::{is_loopback_resolver, Recent, TunnelEvidence};
use super::{explain, Explanation, Situation, Tunnels};

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

/// What a leak or bypass gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub explanation: Explanation,
    pub fix: Advice,
    /// Whether a configuration names the resolver; `None` when none was read (replay).
    pub resolver_configured: Option<bool>,
}

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
}

impl Causes {
    pub fn new(limits: CauseLimits) -> Causes {
        Causes {
            stub: Recent::new(limits.window_ns, limits.max_names),
            tunnel: Recent::new(limits.window_ns, limits.max_names),
            evidence: TunnelEvidence::default(),
            tunnel_seen: false,
            tunnels_up: Vec::new(),
            link_routes: Vec::new(),
            routes: HashMap::default(),
            max_routes: limits.max_routes.max(1),
            config: None,
        }
    }

    /// The interfaces changed at `ts`.
    pub fn set_topology(&mut self, topology: &Topology, ts: Ts) {
        self.tunnel_seen |= topology.iter().any(|i| i.kind == IfaceKind::Tunnel);
        let mut up: Vec<IfaceName> = topology.tunnels_up().map(|i| i.name.clone()).collect();
        up.sort();
        self.tunnels_up = up;
        self.evidence.topology_changed(topology, ts);
    }

    /// Which families each interface routes (live); replaces what was known.
    pub fn set_link_routes(&mut self, routes: Vec<LinkRoutes>) {
        self.link_routes = routes;
        self.routes.clear(); // routes changed: the decisions are old
    }

    /// The kernel's decision for one destination (live).
    pub fn set_route(&mut self, d: RouteDecision) {
        if self.routes.len() >= self.max_routes && !self.routes.contains_key(&d.dst) {
            self.routes.clear();
        }
        self.routes.insert(d.dst, d);
    }

    /// The resolver configuration read now (live).
    pub fn set_resolver_config(&mut self, c: ResolverConfig) {
        self.config = Some(c);
    }

    /// Destinations of leaks and bypasses whose route is not known: what the shell should
    /// ask the kernel about (live).
    pub fn wants_route(&self, resolver: &IpAddr) -> bool {
        !self.routes.contains_key(resolver)
    }

    /// Looks at every judged message in capture order; a leak or bypass gets its judgement.
    pub fn observe(&mut self, j: &Judged, topology: &Topology) -> Option<Judgement> {
        let ev = &j.event;
        if !matches!(ev.kind, EventKind::Query | EventKind::Response | EventKind::Encrypted) {
            return None;
        }
        let (resolver, port) = ev.resolver();
        let question = ev.dns.as_ref().and_then(|d| d.question.as_ref()).map(|q| (&*q.name, q.qtype));
        match j.verdict? {
            Verdict::Tunnel => {
                self.evidence.seen_on_tunnel(ev.iface, Family::of(&resolver.to_canonical()));
                if let (EventKind::Query, Some((name, qtype))) = (ev.kind, question) {
                    self.tunnel.note(name, qtype, ev.ts, ev.iface_name.clone());
                }
                None
            }
            Verdict::Local => {
                if let (EventKind::Query, Some((name, qtype))) = (ev.kind, question) {
                    if is_loopback_resolver(&resolver) && port == 53 {
                        self.stub.note(name, qtype, ev.ts, resolver);
                    }
                }
                None
            }
            Verdict::Multicast => None,
            verdict @ (Verdict::Leak | Verdict::Bypass) => {
                self.evidence.exposed();
                Some(self.judge(j, verdict, question, topology))
            }
        }
    }

    /// The judgement of a leak or bypass again, after a fact it lacked came in (the route to
    /// its resolver): nothing is noted or counted a second time.
    pub fn rejudge(&mut self, j: &Judged, topology: &Topology) -> Option<Judgement> {
        let question = j.event.dns.as_ref().and_then(|d| d.question.as_ref()).map(|q| (&*q.name, q.qtype));
        match j.verdict? {
            verdict @ (Verdict::Leak | Verdict::Bypass) => Some(self.judge(j, verdict, question, topology)),
            _ => None,
        }
    }

    fn judge(
        &mut self,
        j: &Judged,
        verdict: Verdict,
        question: Option<(&str, u16)>,
        topology: &Topology,
    ) -> Judgement {
        let ev = &j.event;
        let (resolver, _) = ev.resolver();
        let local = if ev.kind == EventKind::Response { ev.dst } else { ev.src };
        let (stub, parallel) = match (verdict, question) {
            (Verdict::Leak, Some((name, qtype))) => {
                (self.stub.within(name, qtype, ev.ts), self.tunnel.within(name, qtype, ev.ts))
            }
            _ => (None, None),
        };
        let addrs = topology.get(ev.iface).map(|i| &i.facts.addrs[..]).unwrap_or(&[]);
        let s = Situation {
            verdict,
            transport: ev.transport,
            sni: ev.sni.as_deref(),
            question,
            iface: &ev.iface_name,
            iface_addrs: addrs,
            local,
            resolver,
            tunnels: Tunnels {
                up: &self.tunnels_up,
                seen: self.tunnel_seen,
                outage: self.evidence.outage(),
                carried: self.evidence.carried(topology, &self.link_routes),
            },
            route: self.routes.get(&resolver),
            stub,
            parallel,
            ts: ev.ts,
        };
        let explanation = explain(&s);
        let known = match &self.config {
            Some(c) => Known::from_config(c, self.tunnels_up.first().map(|t| t.as_str())),
            None => Known::none(),
        };
        let fix = fix(&explanation, &s, &known);
        let resolver_configured = self.config.as_ref().and_then(|c| c.configured(&resolver));
        Judgement { explanation, fix, resolver_configured }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{DnsHeader, DnsInfo, Event, Question, Transport, L4};
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
        Event {
            ts: Ts::from_millis(ms),
            frame: 1,
            iface,
            iface_name: name.into(),
            kind: EventKind::Query,
            proto: L4::Udp,
            transport: Transport::Dns,
            src: src.parse().unwrap(),
            sport: 40000,
            dst: dst.parse().unwrap(),
            dport: 53,
            encap: None,
            dns: Some(DnsInfo {
                header: DnsHeader::default(),
                question: Some(Question { name: qname.into(), qtype: 1, qclass: 1 }),
                payload: Box::new([]),
            }),
            sni: None,
            provider: None,
            malformed: None,
            rtt_ns: None,
            notice: None,
        }
    }

    fn judged(e: Event, t: &Topology) -> Judged {
        let (verdict, reason) = judge(&e, &Context { topology: t, tunnel_seen: true });
        Judged { event: e, verdict, reason, cause: None }
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
        assert_eq!(j.explanation.cause, Cause::StubUpstream);
        assert_eq!(j.resolver_configured, None, "nothing read: unknown");
        let tun = judged(query(2000, 1, "wg0", "198.51.100.2", "198.51.100.1", "par.example"), &t);
        assert_eq!(c.observe(&tun, &t), None);
        let out = judged(query(2001, 0, "eth0", "192.0.2.10", "192.0.2.1", "par.example"), &t);
        assert_eq!(c.observe(&out, &t).unwrap().explanation.cause, Cause::ParallelResolution);
        c.set_resolver_config(ResolverConfig {
            resolv_conf: Some(crate::dnsconfig::ResolvConf {
                nameservers: vec!["192.0.2.1".parse().unwrap()],
                ..Default::default()
            }),
            ..Default::default()
        });
        let lan = judged(query(5000, 0, "eth0", "192.0.2.10", "192.0.2.1", "lan.example"), &t);
        let j = c.observe(&lan, &t).unwrap();
        assert_eq!(j.explanation.cause, Cause::LanResolver);
        assert_eq!(j.resolver_configured, Some(true));
        let other = judged(query(5001, 0, "eth0", "192.0.2.10", "192.0.2.99", "app.example"), &t);
        assert_eq!(c.observe(&other, &t).unwrap().resolver_configured, Some(false));
    }

    /// The tunnel goes down: the next leak is tunnel_down, counted against the outage; a route
    /// handed in as a fact turns a replay-style split_route into one that names the route.
    #[test]
    fn outages_and_route_facts() {
        let mut c = Causes::new(CauseLimits::default());
        let t = topo(true);
        c.set_topology(&t, Ts(0));
        let split = judged(query(1000, 0, "eth0", "192.0.2.10", "203.0.113.53", "s.example"), &t);
        let j = c.observe(&split, &t).unwrap();
        assert_eq!(j.explanation.cause, Cause::SplitRoute);
        assert!(j.explanation.detail.ends_with("(no route recorded)"), "{}", j.explanation.detail);
        let dst: IpAddr = "203.0.113.53".parse().unwrap();
        assert!(c.wants_route(&dst));
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
        assert!(!c.wants_route(&dst));
        let j = c.observe(&split, &t).unwrap();
        assert_eq!(j.explanation.detail, "route 203.0.113.0/24 via 192.0.2.1 dev eth0 takes it outside wg0");
        let down = topo(false);
        c.set_topology(&down, Ts::from_millis(3000));
        let leak = judged(query(4000, 0, "eth0", "192.0.2.10", "192.0.2.1", "d.example"), &down);
        let j = c.observe(&leak, &down).unwrap();
        assert_eq!(j.explanation.cause, Cause::TunnelDown);
        assert!(
            j.explanation.detail
                == "tunnel wg0 went down 1.0 s before; leaks and bypasses since, this one included: 1",
            "{}",
            j.explanation.detail
        );
    }
}

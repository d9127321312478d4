//! The report's collector: a `Sink` that turns judged events into a bounded [`ReportData`].
//!
//! `seen` is the one place that reads a `Judged` for the report's own tables (the per-interface
//! lanes, the verdicts over time, causes, programs); the tables the summary also shows come from
//! `output::report::Report`. A change to the event's shape changes those two and nothing here.

use std::io;
use std::net::IpAddr;

use dnsleak_core::event::MessageKind;
use dnsleak_core::{
    Body, Caused, Event, Fact, FlowCarrier, IfaceKind, IfaceName, Judged, Notice, Ts, Verdict,
};

use super::bins::TimeBins;
use super::data::{
    CauseRow, EncryptedRow, Lane, Leaked, Origin, ReportData, LANE_ALL, LANE_BYPASS, LANE_LEAK,
};
use crate::counters::Counters;
use crate::output::report::{Report, ReportLimits};
use crate::output::Sink;

/// Caps of the report's own tables (the shared ones are `ReportLimits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub lanes: usize,
    /// Up/down changes kept per lane.
    pub changes: usize,
    /// Bins of each series over time.
    pub bins: usize,
    pub causes: usize,
    pub programs: usize,
    pub configured: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { lanes: 24, changes: 512, bins: 512, causes: 64, programs: 256, configured: 4096 }
    }
}

/// What the report reads from one judged event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    /// A DNS message or an encrypted flow.
    Traffic,
    Malformed,
    Notice,
}

/// One judged event as the report sees it.
struct Seen<'a> {
    ts: Ts,
    iface: &'a IfaceName,
    what: What,
    verdict: Option<Verdict>,
    exposure: bool,
    /// A tunnel that went down (false) or came up (true).
    tunnel_change: Option<(&'a IfaceName, bool)>,
    /// An encrypted DNS flow's protocol.
    encrypted: Option<FlowCarrier>,
    /// The cause of a leak or bypass, with its event (its words and fix are made only for
    /// the first of each cause).
    cause: Option<(&'a Caused, &'a Event)>,
    process: Option<&'a str>,
    configured: Option<(IpAddr, bool)>,
}

/// The adapter from the core's event to what the report reads.
fn seen(j: &Judged) -> Seen<'_> {
    let ev = &j.event;
    let what = match &ev.body {
        Body::Message(m) if matches!(m.kind, MessageKind::Malformed(_)) => What::Malformed,
        Body::Message(_) | Body::Flow(_) => What::Traffic,
        Body::Notice(_) => What::Notice,
    };
    let tunnel_change = match &ev.body {
        Body::Notice(Notice::TunnelDown { iface, .. }) => Some((iface, false)),
        Body::Notice(Notice::TunnelUp { iface }) => Some((iface, true)),
        _ => None,
    };
    let encrypted = match &ev.body {
        Body::Flow(f) => FlowCarrier::of(f.wire.transport, f.wire.proto),
        _ => None,
    };
    Seen {
        ts: ev.ts,
        iface: &ev.iface_name,
        what,
        verdict: j.verdict,
        exposure: j.is_exposure(),
        tunnel_change,
        encrypted,
        cause: j.cause.as_ref().map(|c| (c, ev)),
        process: ev.owner().and_then(|o| o.program()).map(|p| p.name.as_str()),
        configured: j.cause.as_ref().and_then(|c| Some((ev.resolver()?.0, c.resolver_configured?))),
    }
}

/// Collects the report while events pass (see the module comment).
pub struct Collector {
    limits: Limits,
    report: Report,
    counters: Counters,
    span: Option<(Ts, Ts)>,
    over_time: TimeBins<5>,
    lanes: Vec<Lane>,
    lane_bins: Vec<TimeBins<3>>,
    lanes_overflow: u64,
    last_lane: Option<usize>,
    /// Tunnels up or down as the last interfaces fact said, drawn from the next event's time
    /// (a fact carries no time of its own).
    pending: Option<Vec<(IfaceName, bool)>>,
    /// The last event time of the input being read (a file of a replay).
    input_last: Option<Ts>,
    causes: Vec<CauseRow>,
    causes_overflow: u64,
    programs: Vec<(String, u64)>,
    programs_overflow: u64,
    configured: Vec<(IpAddr, bool)>,
    /// One row per protocol seen (so at most five).
    encrypted: Vec<EncryptedRow>,
}

impl Default for Collector {
    fn default() -> Self {
        Collector::new(Limits::default(), ReportLimits::default())
    }
}

impl Collector {
    pub fn new(limits: Limits, shared: ReportLimits) -> Self {
        Collector {
            limits,
            report: Report::new(shared),
            counters: Counters::default(),
            span: None,
            over_time: TimeBins::new(limits.bins),
            lanes: Vec::new(),
            lane_bins: Vec::new(),
            lanes_overflow: 0,
            last_lane: None,
            pending: None,
            input_last: None,
            causes: Vec::new(),
            causes_overflow: 0,
            programs: Vec::new(),
            programs_overflow: 0,
            configured: Vec::new(),
            encrypted: Vec::new(),
        }
    }

    /// Counts one judged event.
    pub fn observe(&mut self, j: &Judged) {
        self.report.observe(j);
        let s = seen(j);
        self.span = Some(self.span.map_or((s.ts, s.ts), |(a, b)| (a.min(s.ts), b.max(s.ts))));
        self.input_last = Some(self.input_last.map_or(s.ts, |t| t.max(s.ts)));
        if let Some(states) = self.pending.take() {
            self.tunnel_states(&states, s.ts);
        }
        if let Some((iface, up)) = s.tunnel_change {
            self.tunnel_state(iface, s.ts, Some(up));
        }
        if s.what != What::Traffic {
            return;
        }
        if let Some(v) = s.verdict {
            self.over_time.add(s.ts.0, v as usize, 1);
            if let Some(protocol) = s.encrypted {
                self.encrypted_flow(protocol, v, s.ts);
            }
        }
        match self.lane(s.iface, None) {
            Some(i) => {
                let bins = &mut self.lane_bins[i];
                bins.add(s.ts.0, LANE_ALL, 1);
                match s.verdict {
                    Some(Verdict::Leak) => bins.add(s.ts.0, LANE_LEAK, 1),
                    Some(Verdict::Bypass) => bins.add(s.ts.0, LANE_BYPASS, 1),
                    _ => {}
                }
            }
            None => self.lanes_overflow += 1,
        }
        if let Some((addr, yes)) = s.configured {
            self.configured_resolver(addr, yes);
        }
        if s.exposure {
            self.exposure(&s);
        }
    }

    fn exposure(&mut self, s: &Seen<'_>) {
        if let Some((caused, ev)) = s.cause {
            let cause = caused.cause.as_str();
            let make = || CauseRow {
                cause: cause.to_string(),
                detail: Some(caused.detail(ev)),
                fix: Some(caused.fix(ev).to_string()),
                count: 0,
            };
            match upsert(&mut self.causes, self.limits.causes, |c| c.cause == cause, make) {
                Some(c) => c.count += 1,
                None => self.causes_overflow += 1,
            }
        }
        if let Some(p) = s.process {
            match upsert(&mut self.programs, self.limits.programs, |e| e.0 == p, || (p.to_string(), 0)) {
                Some(e) => e.1 += 1,
                None => self.programs_overflow += 1,
            }
        }
    }

    fn encrypted_flow(&mut self, protocol: FlowCarrier, verdict: Verdict, ts: Ts) {
        let make = || EncryptedRow { protocol, verdicts: [0; 5], first: ts };
        // Bounded by the protocols there are.
        if let Some(row) = upsert(&mut self.encrypted, usize::MAX, |r| r.protocol == protocol, make) {
            row.verdicts[verdict as usize] += 1;
            row.first = row.first.min(ts);
        }
    }

    fn configured_resolver(&mut self, addr: IpAddr, yes: bool) {
        if let Some(e) = upsert(&mut self.configured, self.limits.configured, |e| e.0 == addr, || (addr, yes))
        {
            e.1 = yes;
        }
    }

    /// The lane of `name`, made when there is room.
    fn lane(&mut self, name: &IfaceName, kind: Option<IfaceKind>) -> Option<usize> {
        if let Some(i) = self.last_lane.filter(|i| self.lanes[*i].name == *name) {
            return Some(i);
        }
        let i = match self.lanes.iter().position(|l| l.name == *name) {
            Some(i) => i,
            None if self.lanes.len() < self.limits.lanes => {
                self.lanes.push(Lane {
                    name: name.clone(),
                    kind,
                    changes: Vec::new(),
                    changes_dropped: 0,
                    bins: Vec::new(),
                });
                self.lane_bins.push(TimeBins::new(self.limits.bins));
                self.lanes.len() - 1
            }
            None => return None,
        };
        self.last_lane = Some(i);
        Some(i)
    }

    /// Tunnel `iface` is up, down or (None) not known from `ts` on: a change when it differs
    /// from what the lane says now.
    fn tunnel_state(&mut self, iface: &IfaceName, ts: Ts, state: Option<bool>) {
        let Some(i) = self.lane(iface, Some(IfaceKind::Tunnel)) else { return };
        let lane = &mut self.lanes[i];
        lane.kind = Some(IfaceKind::Tunnel);
        if lane.state() == state {
            return;
        }
        if lane.changes.len() < self.limits.changes {
            lane.changes.push((ts, state));
        } else {
            lane.changes_dropped += 1;
        }
    }

    /// The tunnels of an interfaces fact, from `ts`: a tunnel that was known and is no longer
    /// listed is gone (down).
    fn tunnel_states(&mut self, states: &[(IfaceName, bool)], ts: Ts) {
        let gone: Vec<IfaceName> = self
            .lanes
            .iter()
            .filter(|l| l.state().is_some() && !states.iter().any(|(n, _)| *n == l.name))
            .map(|l| l.name.clone())
            .collect();
        for name in &gone {
            self.tunnel_state(name, ts, Some(false));
        }
        for (name, up) in states {
            self.tunnel_state(name, ts, Some(*up));
        }
    }

    /// The input being read ended (one file of a replay): until the next one says otherwise,
    /// no tunnel's state is known, and the next input's interfaces are its own.
    pub fn end_of_input(&mut self) {
        self.pending = None;
        let Some(ts) = self.input_last.take() else { return };
        let known: Vec<IfaceName> =
            self.lanes.iter().filter(|l| l.state().is_some()).map(|l| l.name.clone()).collect();
        for name in &known {
            self.tunnel_state(name, ts, None);
        }
    }

    /// The report so far.
    pub fn data(&self, origin: Origin, notes: Vec<String>, generated: Option<Ts>) -> ReportData {
        let r = &self.report;
        let (leaked_distinct, saturated) = r.leaked_distinct();
        let (notices, notice_counts) = r.notices();
        let mut lanes = self.lanes.clone();
        for (lane, bins) in lanes.iter_mut().zip(&self.lane_bins) {
            lane.bins = bins.iter().collect();
            lane.kind = lane.kind.or_else(|| r.interfaces().iter().find(|i| i.name == lane.name)?.kind);
        }
        let mut programs = self.programs.clone();
        programs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut encrypted = self.encrypted.clone();
        encrypted.sort_by_key(|r| r.protocol as usize);
        let mut causes = self.causes.clone();
        causes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.cause.cmp(&b.cause)));
        ReportData {
            origin,
            notes,
            generated,
            span: self.span,
            counters: self.counters.clone(),
            interfaces: r.interfaces().to_vec(),
            lanes,
            lanes_overflow: self.lanes_overflow,
            over_time: self.over_time.iter().collect(),
            resolvers: r.resolvers().into_iter().cloned().collect(),
            resolvers_overflow: r.resolvers_overflow,
            configured: self.configured.clone(),
            leaked: Leaked {
                names: r.top_leaked(leaked_distinct),
                distinct: leaked_distinct,
                saturated,
                queries: r.leaked_queries,
            },
            flows: r.bypass_flows().to_vec(),
            flows_overflow: r.flows_overflow,
            encrypted,
            notices: notices.to_vec(),
            notice_counts: notice_counts.to_vec(),
            causes,
            causes_overflow: self.causes_overflow,
            programs,
            programs_overflow: self.programs_overflow,
            on_leak: None,
        }
    }
}

/// The entry of `v` that `is` finds, or a new one from `make` while `v` holds fewer than `cap`.
fn upsert<T>(
    v: &mut Vec<T>,
    cap: usize,
    is: impl Fn(&T) -> bool,
    make: impl FnOnce() -> T,
) -> Option<&mut T> {
    match v.iter().position(is) {
        Some(i) => v.get_mut(i),
        None if v.len() < cap => {
            v.push(make());
            v.last_mut()
        }
        None => None,
    }
}

impl Sink for Collector {
    /// The report counts names and verdicts; it never decodes answers.
    fn wants_payload(&self) -> bool {
        false
    }

    fn fact(&mut self, fact: &Fact) -> io::Result<()> {
        let Some(topology) = fact.interfaces() else { return Ok(()) };
        self.report.topology(topology);
        let tunnels = topology.iter().filter(|i| i.kind == IfaceKind::Tunnel);
        self.pending = Some(tunnels.take(self.limits.lanes).map(|i| (i.name.clone(), i.facts.up)).collect());
        Ok(())
    }

    fn event(&mut self, judged: &Judged, _file: Option<&str>) -> io::Result<()> {
        self.observe(judged);
        Ok(())
    }

    fn counters(&mut self, counters: &Counters) -> io::Result<()> {
        self.counters = counters.clone();
        Ok(())
    }

    fn finish(&mut self, counters: &Counters) -> io::Result<()> {
        self.counters = counters.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsleak_core::event::{Flow, Wire};
    use dnsleak_core::verdict::Reason;
    use dnsleak_core::{Event, IfaceFacts, Overrides, Topology, Transport, L4};

    fn notice(ts: i64, n: Notice) -> Judged {
        Judged::unjudged(Event::notice(Ts(ts), 1, 0, IfaceName::new("wg0"), n))
    }

    fn flow(ts: i64, iface: &str, verdict: Verdict) -> Judged {
        let mut j = notice(ts, Notice::UnknownLinkType { link: 0 });
        let addr = IpAddr::from([192, 0, 2, 1]);
        let wire = Wire {
            proto: L4::Tcp,
            transport: Transport::Dot,
            src: addr,
            sport: 40000,
            dst: addr,
            dport: 853,
            encap: None,
            provider: None,
        };
        j.event.body = Body::Flow(Flow { wire, sni: None, owner: None });
        j.event.iface_name = IfaceName::new(iface);
        j.verdict = Some(verdict);
        j.reason = Reason::Notice;
        j
    }

    #[test]
    fn tunnel_lanes_follow_the_topology_and_the_notices() {
        let mut c = Collector::default();
        let facts =
            |name: &str| IfaceFacts { name: name.into(), up: true, has_mac: true, ..Default::default() };
        let topo = Topology::from_facts([(0, facts("wg0")), (1, facts("eth0"))], &Overrides::default());
        c.fact(&Fact::Interfaces(topo)).unwrap();
        c.observe(&flow(10, "wg0", Verdict::Tunnel));
        c.observe(&notice(20, Notice::TunnelDown { iface: "wg0".into(), none_up: true }));
        c.observe(&flow(30, "eth0", Verdict::Bypass));
        c.observe(&notice(40, Notice::TunnelUp { iface: "wg0".into() }));
        let d = c.data(Origin::Live, Vec::new(), None);
        let wg = d.lanes.iter().find(|l| l.name == "wg0").unwrap();
        assert_eq!(wg.kind, Some(IfaceKind::Tunnel));
        // Up from the first event (the interfaces fact carries no time), down, up again.
        assert_eq!(wg.changes, vec![(Ts(10), Some(true)), (Ts(20), Some(false)), (Ts(40), Some(true))]);
        let eth = d.lanes.iter().find(|l| l.name == "eth0").unwrap();
        let counts: Vec<[u64; 3]> = eth.bins.iter().map(|b| b.counts).collect();
        assert_eq!(counts, vec![[1, 0, 1]]);
        assert_eq!(d.span, Some((Ts(10), Ts(40))));
        let bypass: u64 = d.over_time.iter().map(|b| b.counts[Verdict::Bypass as usize]).sum();
        assert_eq!(bypass, 1);
    }

    /// Regression: a tunnel first seen in the second file of a replay had no band before its
    /// first change, and a tunnel down at the end of one file stayed down through the next.
    #[test]
    fn tunnel_bands_follow_each_file_of_a_replay() {
        let facts = |name: &str, up: bool| IfaceFacts { name: name.into(), up, ..Default::default() };
        let fact = |ifaces: Vec<IfaceFacts>| {
            let topo = Topology::from_facts(
                ifaces.into_iter().enumerate().map(|(i, f)| (i as u32, f)),
                &Overrides::default(),
            );
            Fact::Interfaces(topo)
        };
        let mut c = Collector::default();
        // File one: wg0 up, then down.
        c.fact(&fact(vec![facts("wg0", true), facts("eth0", true)])).unwrap();
        c.observe(&flow(10, "eth0", Verdict::Leak));
        c.observe(&notice(20, Notice::TunnelDown { iface: "wg0".into(), none_up: true }));
        c.observe(&flow(30, "eth0", Verdict::Leak));
        c.end_of_input();
        // File two, later: wg0 up again, and a tunnel that file one did not have.
        c.fact(&fact(vec![facts("wg0", true), facts("tun1", false), facts("eth0", true)])).unwrap();
        c.observe(&flow(100, "eth0", Verdict::Tunnel));
        c.observe(&flow(120, "eth0", Verdict::Tunnel));
        c.end_of_input();
        let d = c.data(Origin::Live, Vec::new(), None);
        let lane = |n: &str| d.lanes.iter().find(|l| l.name == n).unwrap().changes.clone();
        assert_eq!(
            lane("wg0"),
            vec![
                (Ts(10), Some(true)),
                (Ts(20), Some(false)),
                (Ts(30), None),
                (Ts(100), Some(true)),
                (Ts(120), None)
            ]
        );
        assert_eq!(lane("tun1"), vec![(Ts(100), Some(false)), (Ts(120), None)]);
        assert!(lane("eth0").is_empty(), "physical interfaces have no bands");
    }

    /// The program behind each leak or bypass (the one a stub asked for, when forwarded).
    #[test]
    fn exposures_are_counted_by_program() {
        use dnsleak_core::{Attribution, Owner, Process};
        let p = |pid, name: &str| Process { pid, name: name.into(), exe: None, uid: None };
        let owned = |owner: Owner, verdict| {
            let mut j = flow(1, "eth0", verdict);
            if let Body::Flow(f) = &mut j.event.body {
                f.owner = Some(std::sync::Arc::new(owner));
            }
            j
        };
        let mut c = Collector::default();
        let dig = Owner { process: Attribution::Process(p(4242, "dig")), on_behalf_of: None };
        let via =
            Owner { process: Attribution::Process(p(77, "dnsmasq")), on_behalf_of: Some(p(1200, "firefox")) };
        for (o, v) in [
            (&dig, Verdict::Bypass),
            (&via, Verdict::Bypass),
            (&via, Verdict::Bypass),
            (&dig, Verdict::Tunnel),
        ] {
            c.observe(&owned(o.clone(), v));
        }
        let d = c.data(Origin::Live, Vec::new(), None);
        assert_eq!(d.programs, [("firefox".to_string(), 2), ("dig".to_string(), 1)]);
    }

    #[test]
    fn interfaces_beyond_the_lanes_are_counted() {
        let limits = Limits { lanes: 2, ..Limits::default() };
        let mut c = Collector::new(limits, ReportLimits::default());
        for i in 0..5 {
            c.observe(&flow(i, &format!("eth{i}"), Verdict::Leak));
        }
        let d = c.data(Origin::Live, Vec::new(), None);
        assert_eq!(d.lanes.len(), 2);
        assert_eq!(d.lanes_overflow, 3);
    }

    #[test]
    fn encrypted_flows_are_counted_by_protocol_and_verdict() {
        let mut c = Collector::default();
        let mut with = |ts: i64, transport: Transport, proto: L4, v: Verdict| {
            let mut j = flow(ts, "eth0", v);
            if let Body::Flow(f) = &mut j.event.body {
                (f.wire.transport, f.wire.proto) = (transport, proto);
            }
            c.observe(&j);
        };
        with(5, Transport::Doh, L4::Udp, Verdict::Bypass);
        with(3, Transport::Doh, L4::Tcp, Verdict::Tunnel);
        with(4, Transport::Doh, L4::Udp, Verdict::Tunnel);
        with(6, Transport::Dnscrypt, L4::Tcp, Verdict::Bypass);
        let d = c.data(Origin::Live, Vec::new(), None);
        let rows: Vec<_> = d.encrypted.iter().map(|r| (r.protocol, r.verdicts, r.first)).collect();
        assert_eq!(
            rows,
            vec![
                (FlowCarrier::Doh, [1, 0, 0, 0, 0], Ts(3)),
                (FlowCarrier::Doh3, [1, 0, 1, 0, 0], Ts(4)),
                (FlowCarrier::Dnscrypt, [0, 0, 1, 0, 0], Ts(6)),
            ]
        );
    }

    #[test]
    fn upsert_stops_at_its_cap() {
        let mut v: Vec<(u32, u64)> = Vec::new();
        for k in [1, 2, 1, 3, 2] {
            if let Some(e) = upsert(&mut v, 2, |e| e.0 == k, || (k, 0)) {
                e.1 += 1;
            }
        }
        assert_eq!(v, vec![(1, 2), (2, 2)]);
    }
}

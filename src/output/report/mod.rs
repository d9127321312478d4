//! Bounded aggregates behind the summary and the dashboard's interface and resolver panes (one
//! aggregation for both): per-interface verdict counts and state, resolvers seen (with their
//! response times when asked), leaked names (top N through a Space-Saving sketch), encrypted
//! flows that bypass the tunnel, notices. Every table has a cap, so memory stays flat whatever
//! the capture holds; what did not fit is counted, never silently lost.
//!
//! ```
//! use dnsleak::output::report::{Report, ReportLimits};
//! let mut report = Report::new(ReportLimits::default());
//! // for judged in events { report.observe(&judged); }
//! assert!(report.top_leaked(10).is_empty());
//! ```

mod merge;
mod space_saving;

use std::collections::VecDeque;
use std::net::IpAddr;

use self::space_saving::SpaceSaving;
use super::{causes::CauseTally, programs::Programs};
use crate::counters::CaptureCounters;
use dnsleak_core::event::{Body, Flow, Message, Wire};
use dnsleak_core::topology::Iface;
use dnsleak_core::{
    Event, EventKind, IfaceKind, IfaceName, Judged, Notice, Topology, Transport, Ts, Verdict, L4,
};

/// Seeded per process (names on the wire are chosen by whoever sends them) and fast.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Caps of every table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportLimits {
    pub interfaces: usize,
    pub resolvers: usize,
    /// Counters of the leaked-names sketch (the top N is exact when fewer distinct names than
    /// this were seen, and within `error` of the truth otherwise).
    pub names: usize,
    pub flows: usize,
    pub notices: usize,
    /// Response times kept per resolver for its median (0: none; the summary shows none).
    pub rtt_samples: usize,
}

impl Default for ReportLimits {
    fn default() -> Self {
        ReportLimits {
            interfaces: 1024,
            resolvers: 4096,
            names: 2048,
            flows: 1024,
            notices: 256,
            rtt_samples: 0,
        }
    }
}

/// Verdict counts, indexed as `Verdict::ALL`.
pub type VerdictCounts = [u64; 5];

/// One interface's counts and state, by name (a tunnel that comes back under its name is the
/// same row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceRow {
    pub name: IfaceName,
    /// From the topology, when it was given.
    pub kind: Option<IfaceKind>,
    /// Up in the latest topology (any interface of this name); true until a topology says.
    pub up: bool,
    /// Named by the latest topology (or never told of one).
    pub present: bool,
    pub verdicts: VerdictCounts,
    pub queries: u64,
    pub responses: u64,
    pub encrypted: u64,
    pub malformed: u64,
    /// Leaks and bypasses of messages and flows (not of malformed messages).
    pub exposures: u64,
    /// Frames captured on it (live capture only).
    pub packets: Option<u64>,
}

impl IfaceRow {
    /// DNS messages (queries, responses) and encrypted flows seen on it.
    pub fn messages(&self) -> u64 {
        self.queries + self.responses + self.encrypted
    }
}

/// A resolver as seen from one interface over one transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverRow {
    pub addr: IpAddr,
    pub port: u16,
    pub provider: Option<&'static str>,
    pub iface: IfaceName,
    pub transport: Transport,
    /// Queries sent to it (flows for encrypted transports).
    pub queries: u64,
    pub responses: u64,
    pub verdicts: VerdictCounts,
    /// The verdict of the latest message or flow.
    pub last_verdict: Option<Verdict>,
    /// The latest response times (at most `ReportLimits::rtt_samples`).
    rtts: VecDeque<u64>,
}

impl ResolverRow {
    /// Leaks and bypasses of messages to and from it, and of flows to it.
    pub fn exposures(&self) -> u64 {
        self.verdicts[Verdict::Leak as usize] + self.verdicts[Verdict::Bypass as usize]
    }

    /// Median of the response times kept.
    pub fn median_rtt_ns(&self) -> Option<u64> {
        if self.rtts.is_empty() {
            return None;
        }
        let mut v: Vec<u64> = self.rtts.iter().copied().collect();
        v.sort_unstable();
        Some(v[v.len() / 2])
    }

    /// The verdict that matters most for the row: leak or bypass if any was seen, else the most
    /// frequent one.
    pub fn verdict(&self) -> Option<Verdict> {
        worst(&self.verdicts)
    }
}

/// Leak or bypass if any, else the most frequent verdict.
pub fn worst(v: &VerdictCounts) -> Option<Verdict> {
    for bad in [Verdict::Leak, Verdict::Bypass] {
        if v[bad as usize] > 0 {
            return Some(bad);
        }
    }
    let (i, n) = v.iter().enumerate().max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)))?;
    (*n > 0).then(|| Verdict::ALL[i])
}

/// An encrypted-DNS flow that left outside the tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    pub ts: Ts,
    pub frame: u64,
    pub iface: IfaceName,
    pub client: IpAddr,
    pub server: IpAddr,
    pub port: u16,
    pub transport: Transport,
    /// UDP (QUIC, DNSCrypt) or TCP.
    pub proto: L4,
    pub sni: Option<Box<str>>,
    pub provider: Option<&'static str>,
}

/// A notice, as text, with when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRow {
    pub ts: Ts,
    pub frame: u64,
    pub code: &'static str,
    pub text: String,
}

/// A name with its estimated count; the true count lies in `count - error ..= count`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameCount {
    pub name: Box<str>,
    pub count: u64,
    pub error: u64,
}

/// The aggregates. Feed it every judged event with [`Report::observe`].
#[derive(Debug, Clone)]
pub struct Report {
    limits: ReportLimits,
    ifaces: Vec<IfaceRow>,
    /// Interface name -> its row (a file may declare thousands of interfaces).
    iface_index: HashMap<IfaceName, usize>,
    /// The topology as last seen, so that a change costs what changed; and per name, how
    /// many of its interfaces it holds and how many of those are up.
    last_topology: Option<Topology>,
    named: HashMap<IfaceName, (u32, u32)>,
    resolvers: Vec<ResolverRow>,
    /// (resolver, interface row, transport) -> resolver row.
    resolver_index: HashMap<(IpAddr, usize, Transport), usize>,
    /// The interface row of the last event (events come in runs from one interface).
    last_iface: Option<(IfaceName, usize)>,
    /// The resolver row of the last event (queries and responses alternate with one resolver).
    last_resolver: Option<((IpAddr, usize, Transport), usize)>,
    /// Events whose resolver did not fit the table.
    pub resolvers_overflow: u64,
    leaked: SpaceSaving,
    flows: Vec<FlowRow>,
    /// Bypassing flows beyond the table.
    pub flows_overflow: u64,
    notices: Vec<NoticeRow>,
    notice_counts: Vec<(&'static str, u64)>,
    /// Leaked queries counted (all of them, also those the sketch folded together).
    pub leaked_queries: u64,
    /// Leaks and bypasses by cause.
    pub causes: CauseTally,
    /// Leaked queries and bypassing flows by the program behind them.
    pub programs: Programs,
}

impl Report {
    pub fn new(limits: ReportLimits) -> Report {
        Report {
            limits,
            ifaces: Vec::new(),
            iface_index: HashMap::default(),
            last_topology: None,
            named: HashMap::default(),
            resolvers: Vec::new(),
            resolver_index: HashMap::default(),
            last_iface: None,
            last_resolver: None,
            resolvers_overflow: 0,
            leaked: SpaceSaving::new(limits.names),
            flows: Vec::new(),
            flows_overflow: 0,
            notices: Vec::new(),
            notice_counts: Vec::new(),
            leaked_queries: 0,
            causes: CauseTally::default(),
            programs: Programs::default(),
        }
    }

    /// Records what each interface is, and whether it is up and still there (call on every
    /// topology change). Only the interfaces that changed since the last call are looked at.
    pub fn topology(&mut self, topology: &Topology) {
        let Some(last) = self.last_topology.replace(topology.clone()) else {
            // The first: every row not named by it is gone.
            for row in &mut self.ifaces {
                (row.present, row.up) = (false, false);
            }
            for i in topology.iter() {
                self.iface_changed(None, Some(i));
            }
            return;
        };
        for (before, after) in last.changes(topology) {
            self.iface_changed(before, after);
        }
    }

    /// One interface added, changed or gone: its name's counts and row follow.
    fn iface_changed(&mut self, before: Option<&Iface>, after: Option<&Iface>) {
        if let Some(b) = before {
            let (present, up) = self.named.entry(b.name.clone()).or_default();
            *present = present.saturating_sub(1);
            *up = up.saturating_sub(u32::from(b.facts.up));
            self.settle(&b.name);
        }
        if let Some(a) = after {
            let (present, up) = self.named.entry(a.name.clone()).or_default();
            *present += 1;
            *up += u32::from(a.facts.up);
            if let Some(row) = self.iface_row(&a.name) {
                row.kind = Some(a.kind);
            }
            self.settle(&a.name);
        }
    }

    /// A name's row says whether the latest topology names it and has it up.
    fn settle(&mut self, name: &IfaceName) {
        let (present, up) = self.named.get(name).copied().unwrap_or_default();
        if present == 0 {
            self.named.remove(name);
        }
        if let Some(&i) = self.iface_index.get(name) {
            (self.ifaces[i].present, self.ifaces[i].up) = (present > 0, up > 0);
        }
    }

    /// Records each interface's captured frames (live capture).
    pub fn capture(&mut self, capture: &[CaptureCounters]) {
        for c in capture {
            if let Some(&i) = self.iface_index.get(c.iface.as_str()) {
                self.ifaces[i].packets = Some(c.received);
            }
        }
    }

    /// Counts one judged event.
    pub fn observe(&mut self, j: &Judged) {
        let ev = &j.event;
        let (kind, wire) = match &ev.body {
            Body::Notice(n) => return self.notice(ev, n),
            Body::Message(Message { wire, .. }) | Body::Flow(Flow { wire, .. }) => (ev.kind(), wire),
        };
        let iface = self.iface_index(&ev.iface_name);
        if let Some(row) = iface.and_then(|i| self.ifaces.get_mut(i)) {
            match kind {
                EventKind::Query => row.queries += 1,
                EventKind::Response => row.responses += 1,
                EventKind::Encrypted => row.encrypted += 1,
                _ => row.malformed += 1,
            }
            if let Some(v) = j.verdict {
                row.verdicts[v as usize] += 1;
            }
            row.exposures += u64::from(j.is_exposure());
        }
        if kind == EventKind::Malformed {
            return;
        }
        if j.is_exposure() {
            self.programs.observe(j);
            self.causes.observe(j);
        }
        self.resolver(j, kind, wire, iface.unwrap_or(usize::MAX));
        if j.verdict == Some(Verdict::Leak) && kind == EventKind::Query {
            self.leaked_queries += 1;
            if let Some(name) = ev.qname() {
                self.leaked.add(name);
            }
        }
        if let (Some(Verdict::Bypass), Some(flow)) = (j.verdict, ev.as_flow()) {
            self.flow(ev, flow);
        }
    }

    fn iface_row(&mut self, name: &IfaceName) -> Option<&mut IfaceRow> {
        let i = self.iface_index(name)?;
        self.ifaces.get_mut(i)
    }

    fn iface_index(&mut self, name: &IfaceName) -> Option<usize> {
        if let Some((last, i)) = &self.last_iface {
            if last == name {
                return Some(*i);
            }
        }
        let pos = match self.iface_index.get(name) {
            Some(&p) => p,
            None if self.ifaces.len() < self.limits.interfaces => {
                // Up and there until a topology says otherwise.
                let (present, up) = match self.last_topology {
                    None => (true, true),
                    Some(_) => self.named.get(name).map_or((false, false), |&(p, u)| (p > 0, u > 0)),
                };
                self.iface_index.insert(name.clone(), self.ifaces.len());
                self.ifaces.push(IfaceRow {
                    name: name.clone(),
                    kind: None,
                    up,
                    present,
                    verdicts: [0; 5],
                    queries: 0,
                    responses: 0,
                    encrypted: 0,
                    malformed: 0,
                    exposures: 0,
                    packets: None,
                });
                self.ifaces.len() - 1
            }
            None => return None,
        };
        self.last_iface = Some((name.clone(), pos));
        Some(pos)
    }

    fn resolver(&mut self, j: &Judged, kind: EventKind, wire: &Wire, iface: usize) {
        let ev = &j.event;
        let (addr, port) =
            if kind == EventKind::Response { (wire.src, wire.sport) } else { (wire.dst, wire.dport) };
        let key = (addr, iface, wire.transport);
        let cached = self.last_resolver.filter(|(k, _)| *k == key).map(|(_, i)| i);
        let idx = match cached.or_else(|| self.resolver_index.get(&key).copied()) {
            Some(i) => i,
            None if self.resolvers.len() < self.limits.resolvers => {
                self.resolvers.push(ResolverRow {
                    addr,
                    port,
                    provider: wire.provider,
                    iface: ev.iface_name.clone(),
                    transport: wire.transport,
                    queries: 0,
                    responses: 0,
                    verdicts: [0; 5],
                    last_verdict: None,
                    rtts: VecDeque::new(),
                });
                self.resolver_index.insert(key, self.resolvers.len() - 1);
                self.resolvers.len() - 1
            }
            None => {
                self.resolvers_overflow += 1;
                return;
            }
        };
        self.last_resolver = Some((key, idx));
        let row = &mut self.resolvers[idx];
        match kind {
            EventKind::Response => row.responses += 1,
            _ => row.queries += 1,
        }
        row.provider = row.provider.or(wire.provider);
        if let Some(v) = j.verdict {
            row.verdicts[v as usize] += 1;
        }
        row.last_verdict = j.verdict.or(row.last_verdict);
        let rtt = ev.as_message().and_then(|m| m.rtt_ns);
        if let (Some(rtt), 1..) = (rtt, self.limits.rtt_samples) {
            if row.rtts.len() >= self.limits.rtt_samples {
                row.rtts.pop_front();
            }
            row.rtts.push_back(rtt);
        }
    }

    fn flow(&mut self, ev: &Event, flow: &Flow) {
        if self.flows.len() >= self.limits.flows {
            self.flows_overflow += 1;
            return;
        }
        let w = &flow.wire;
        self.flows.push(FlowRow {
            ts: ev.ts,
            frame: ev.frame,
            iface: ev.iface_name.clone(),
            client: w.src,
            server: w.dst,
            port: w.dport,
            transport: w.transport,
            proto: w.proto,
            sni: flow.sni.clone(),
            provider: w.provider,
        });
    }

    fn notice(&mut self, ev: &Event, n: &Notice) {
        let code = n.code();
        match self.notice_counts.iter_mut().find(|(c, _)| *c == code) {
            Some((_, k)) => *k += 1,
            None => self.notice_counts.push((code, 1)),
        }
        if self.notices.len() < self.limits.notices {
            self.notices.push(NoticeRow { ts: ev.ts, frame: ev.frame, code, text: n.to_string() });
        }
    }

    /// Interfaces in the order they were first seen.
    pub fn interfaces(&self) -> &[IfaceRow] {
        &self.ifaces
    }

    /// Resolvers in the order they were first seen.
    pub fn resolver_rows(&self) -> &[ResolverRow] {
        &self.resolvers
    }

    /// Resolvers, most queried first.
    pub fn resolvers(&self) -> Vec<&ResolverRow> {
        let mut v: Vec<&ResolverRow> = self.resolvers.iter().collect();
        v.sort_by(|a, b| (b.queries + b.responses).cmp(&(a.queries + a.responses)).then(a.addr.cmp(&b.addr)));
        v
    }

    /// The `n` most leaked names, most first.
    pub fn top_leaked(&self, n: usize) -> Vec<NameCount> {
        self.leaked.top(n)
    }

    /// Distinct leaked names counted by the sketch (exact while below its capacity).
    pub fn leaked_distinct(&self) -> (usize, bool) {
        (self.leaked.len(), self.leaked.saturated)
    }

    /// Encrypted flows that bypassed the tunnel, in capture order.
    pub fn bypass_flows(&self) -> &[FlowRow] {
        &self.flows
    }

    /// Notices kept (the first `limits.notices`), and counts by code of all.
    pub fn notices(&self) -> (&[NoticeRow], &[(&'static str, u64)]) {
        (&self.notices, &self.notice_counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_prefers_exposure_then_majority() {
        assert_eq!(worst(&[10, 1, 0, 0, 0]), Some(Verdict::Leak));
        assert_eq!(worst(&[10, 0, 0, 3, 0]), Some(Verdict::Tunnel));
        assert_eq!(worst(&[0; 5]), None);
    }
}

//! What the dashboard knows, built from the judged events, topology and counters.
//!
//! The UI thread owns the model; the pipeline thread only queues updates for it
//! (`sink::Inbox`). Every table is bounded: the last `EVENT_CAP` events, `RESOLVER_CAP` resolvers,
//! `IFACE_CAP` interfaces, `SERIES_SECS` seconds of the chart, `RTT_SAMPLES` response times per
//! resolver. Updates are O(1) per event (plus a short scan of the resolver table).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::counters::Counters;
use crate::output::report::{IfaceRow, Report, ReportLimits};
use dnsleak_core::{EventKind, IfaceKind, Judged, Notice, ResolverConfig, Topology, Ts};

/// Events kept for browsing (newest win).
pub const EVENT_CAP: usize = 20_000;
/// Distinct (resolver, interface, transport) rows kept; more are only counted.
pub const RESOLVER_CAP: usize = 256;
/// Interfaces kept.
pub const IFACE_CAP: usize = 256;
/// Seconds of per-second counts kept for the chart.
pub const SERIES_SECS: usize = 600;
/// Response times kept per resolver for its median.
pub const RTT_SAMPLES: usize = 64;

/// The limits of the dashboard's interface and resolver tables (the summary's aggregation,
/// smaller; no leaked-name, flow or notice lists: the event list shows those).
const TABLES: ReportLimits = ReportLimits {
    interfaces: IFACE_CAP,
    resolvers: RESOLVER_CAP,
    names: 1,
    flows: 0,
    notices: 0,
    rtt_samples: RTT_SAMPLES,
};
/// Diagnostics of the capture side kept (the newest; all are counted).
pub const DIAGNOSTICS_CAP: usize = 8;
/// A leak episode ends after this long (trace time) without a leak or bypass.
pub const EPISODE_QUIET_NS: i64 = 60_000_000_000;

/// One event as kept for browsing.
#[derive(Debug, Clone)]
pub struct Row {
    /// Position in the whole stream (1-based), stable while the ring turns.
    pub seq: u64,
    /// The input file, when several are replayed.
    pub file: Option<Arc<str>>,
    pub judged: Judged,
}

/// Counts of one second of trace time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Second {
    pub sec: i64,
    /// DNS messages and encrypted flows.
    pub messages: u32,
    /// Leaks and bypasses.
    pub exposures: u32,
}

/// A run of leaks: from the first to the one after which `EPISODE_QUIET_NS` passed quietly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Episode {
    pub since: Ts,
    pub last: Ts,
    pub count: u64,
}

/// The answer to "am I safe right now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// Nothing seen yet.
    Waiting,
    /// A tunnel is up and nothing leaked lately.
    Safe,
    /// No tunnel interface is known: every DNS message outside loopback is a leak.
    NoTunnel,
    /// Tunnels are known and none is up.
    TunnelDown { since: Option<Ts> },
    /// Leaks or bypasses within the last minute.
    Leaking(Episode),
}

#[derive(Debug, Clone)]
pub struct Model {
    pub events: VecDeque<Row>,
    next_seq: u64,
    /// Interfaces and resolvers, aggregated as the summary aggregates them.
    pub tables: Report,
    pub series: VecDeque<Second>,
    pub counters: Counters,
    pub first_ts: Option<Ts>,
    pub last_ts: Option<Ts>,
    /// Leaks and bypasses in all.
    pub exposures: u64,
    pub episode: Option<Episode>,
    pub tunnel_down_since: Option<Ts>,
    /// What the capture side said (an interface it cannot open), the newest
    /// `DIAGNOSTICS_CAP`, and how many in all.
    pub diagnostics: VecDeque<String>,
    pub diagnostics_seen: u64,
    /// The resolver configuration as last read (live); `None` when none was handed in.
    pub configured: Option<Box<ResolverConfig>>,
    /// Bumped on every change, so the UI redraws only when something changed.
    pub version: u64,
    last_file: Option<Arc<str>>,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            events: VecDeque::new(),
            next_seq: 0,
            tables: Report::new(TABLES),
            series: VecDeque::new(),
            counters: Counters::default(),
            first_ts: None,
            last_ts: None,
            exposures: 0,
            episode: None,
            tunnel_down_since: None,
            diagnostics: VecDeque::new(),
            diagnostics_seen: 0,
            configured: None,
            version: 0,
            last_file: None,
        }
    }
}

impl Model {
    pub fn new() -> Self {
        Self::default()
    }

    /// Events seen in all (also those the ring no longer holds).
    pub fn events_seen(&self) -> u64 {
        self.next_seq
    }

    pub fn apply_topology(&mut self, topo: &Topology) {
        self.version += 1;
        self.tables.topology(topo);
        let (known, up) = self.tunnels().fold((0, 0), |(k, u), i| (k + 1, u + i.up as usize));
        if known > 0 && up == 0 {
            self.tunnel_down_since.get_or_insert(self.last_ts.unwrap_or_default());
        } else if up > 0 {
            self.tunnel_down_since = None;
        }
    }

    pub fn apply_resolvers(&mut self, config: Box<ResolverConfig>) {
        self.version += 1;
        self.configured = Some(config);
    }

    pub fn apply_diagnostic(&mut self, text: String) {
        self.version += 1;
        self.diagnostics_seen += 1;
        if self.diagnostics.len() >= DIAGNOSTICS_CAP {
            self.diagnostics.pop_front();
        }
        self.diagnostics.push_back(text);
    }

    pub fn apply_counters(&mut self, counters: &Counters) {
        self.version += 1;
        self.counters = counters.clone();
        self.tables.capture(&counters.capture);
    }

    pub fn apply_event(&mut self, judged: &Judged, file: Option<&str>) {
        self.version += 1;
        self.next_seq += 1;
        let ev = &judged.event;
        self.first_ts.get_or_insert(ev.ts);
        self.last_ts = Some(self.last_ts.map_or(ev.ts, |t| t.max(ev.ts)));
        let exposed = judged.is_exposure();
        let message = matches!(ev.kind(), EventKind::Query | EventKind::Response | EventKind::Encrypted);
        if exposed {
            self.exposures += 1;
            self.episode = Some(match self.episode {
                Some(e) if ev.ts.0.saturating_sub(e.last.0) <= EPISODE_QUIET_NS => {
                    Episode { since: e.since, last: e.last.max(ev.ts), count: e.count + 1 }
                }
                _ => Episode { since: ev.ts, last: ev.ts, count: 1 },
            });
        }
        if message {
            self.count_second(ev.ts, exposed);
        }
        self.tables.observe(judged);
        self.apply_notice(ev.as_notice(), ev.ts);
        let file = file.map(|f| match &self.last_file {
            Some(last) if **last == *f => last.clone(),
            _ => {
                let a: Arc<str> = Arc::from(f);
                self.last_file = Some(a.clone());
                a
            }
        });
        if self.events.len() >= EVENT_CAP {
            self.events.pop_front();
        }
        self.events.push_back(Row { seq: self.next_seq, file, judged: judged.clone() });
    }

    fn apply_notice(&mut self, notice: Option<&Notice>, ts: Ts) {
        match notice {
            Some(Notice::TunnelDown { none_up: true, .. }) => self.tunnel_down_since = Some(ts),
            Some(Notice::TunnelUp { .. }) => self.tunnel_down_since = None,
            _ => {}
        }
    }

    /// Empties the event list and the chart (`c`); counters and tables stay.
    pub fn clear_events(&mut self) {
        self.version += 1;
        self.events.clear();
        self.series.clear();
    }

    fn count_second(&mut self, ts: Ts, exposed: bool) {
        let sec = ts.0.div_euclid(1_000_000_000);
        let slot = match self.series.back() {
            Some(b) if b.sec == sec => self.series.back_mut(),
            // An older second (time went backwards): found by binary search, seconds are sorted.
            Some(b) if b.sec > sec => match self.series.binary_search_by_key(&sec, |s| s.sec) {
                Ok(at) => self.series.get_mut(at),
                Err(_) => None,
            },
            _ => {
                if self.series.len() >= SERIES_SECS {
                    self.series.pop_front();
                }
                self.series.push_back(Second { sec, messages: 0, exposures: 0 });
                self.series.back_mut()
            }
        };
        if let Some(s) = slot {
            s.messages = s.messages.saturating_add(1);
            s.exposures = s.exposures.saturating_add(exposed as u32);
        }
    }

    /// Tunnel interfaces present now, with whether each is up.
    pub fn tunnels(&self) -> impl Iterator<Item = &IfaceRow> {
        self.tables.interfaces().iter().filter(|i| i.kind == Some(IfaceKind::Tunnel) && i.present)
    }

    /// The state the header shows, at time `now`.
    pub fn safety(&self, now: Ts) -> Safety {
        if let Some(e) = self.episode {
            if now.0.saturating_sub(e.last.0) <= EPISODE_QUIET_NS {
                return Safety::Leaking(e);
            }
        }
        let (known, up) = self.tunnels().fold((0, 0), |(k, u), i| (k + 1, u + i.up as usize));
        if known > 0 && up == 0 {
            return Safety::TunnelDown { since: self.tunnel_down_since };
        }
        if known > 0 {
            return Safety::Safe;
        }
        if self.next_seq == 0 && self.tables.interfaces().is_empty() {
            return Safety::Waiting;
        }
        Safety::NoTunnel
    }

    /// Per-second counts for the `n` seconds ending at `now` (oldest first; missing seconds 0).
    pub fn last_seconds(&self, now: Ts, n: usize) -> Vec<Second> {
        let end = now.0.div_euclid(1_000_000_000);
        let start = end - n as i64 + 1;
        let mut out: Vec<Second> =
            (start..=end).map(|sec| Second { sec, messages: 0, exposures: 0 }).collect();
        for s in self.series.iter().rev() {
            if s.sec < start {
                break;
            }
            if let Some(slot) = out.get_mut((s.sec - start) as usize) {
                *slot = *s;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsleak_core::{IfaceFacts, Overrides};

    fn topo(ifaces: &[(u32, &str, bool)]) -> Topology {
        let facts = ifaces.iter().map(|&(id, name, up)| {
            (id, IfaceFacts { name: name.into(), up, has_mac: !name.starts_with("wg"), ..Default::default() })
        });
        Topology::from_facts(facts, &Overrides::default())
    }

    fn rows(m: &Model) -> Vec<(String, bool, bool)> {
        m.tables.interfaces().iter().map(|r| (r.name.to_string(), r.present, r.up)).collect()
    }

    /// A change is applied as what changed (issue #13: a file with thousands of interfaces),
    /// with the same result as applying the whole list.
    #[test]
    fn topology_changes_mark_rows_present_up_and_gone() {
        let mut m = Model::new();
        m.apply_topology(&topo(&[(0, "eth0", true), (1, "wg0", true)]));
        let row = |n: &str, p, u| (n.to_string(), p, u);
        assert_eq!(rows(&m), [row("eth0", true, true), row("wg0", true, true)]);
        m.apply_topology(&topo(&[(0, "eth0", true)]));
        assert_eq!(rows(&m), [row("eth0", true, true), row("wg0", false, false)]);
        assert!(m.tunnels().next().is_none());
        m.apply_topology(&topo(&[(0, "eth0", true), (1, "wg0", false), (2, "wg1", true)]));
        assert_eq!(rows(&m), [row("eth0", true, true), row("wg0", true, false), row("wg1", true, true)]);
        assert_eq!(m.tunnels().count(), 2);
    }
}

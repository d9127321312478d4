//! Prometheus metrics for `dnsleak monitor --metrics ADDR:PORT`.
//!
//! Two sides that share one lock, taken briefly:
//! - [`MetricsSink`] runs where every sink runs (the pipeline thread): each judged event adds
//!   to plain counts in a [`Tally`] it owns (no lock, no atomic operation per event), and every
//!   time counters arrive (each 100 ms live) and at the end it publishes a copy of the tally.
//! - [`Exposition`] is a prometheus-client `Collector` over the published copy: the HTTP thread
//!   (`output::metrics_http`) encodes it on each scrape, in the Prometheus text format.
//!
//! Every label value is bounded in number: interfaces (names from the OS or a capture) get a
//! label of their own for the first [`MAX_IFACE_LABELS`] names seen, the rest share `other`;
//! resolvers the same with [`MAX_RESOLVER_LABELS`] (the first ones that leak: a series must
//! keep its label for its counter to stay monotonic, so a later, busier resolver cannot take a
//! label back). Other labels come from closed vocabularies (verdict, transport, kind, reason,
//! notice code, where). Names from the OS are escaped (`output::escape`) before they become
//! label values, and the crate escapes what the text format needs.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::escape::escape;
use super::on_leak::HookStats;
use super::Sink;
use crate::counters::Counters;
use dnsleak_core::event::{Body, Malformed};
use dnsleak_core::{EventKind, Fact, IfaceKind, IfaceName, Judged, Topology, Transport, Ts, Verdict};

/// Interface names with a label of their own; later ones are counted under `other`.
pub const MAX_IFACE_LABELS: usize = 32;
/// Resolvers with a label of their own in `dnsleak_leaks_by_resolver_total`.
pub const MAX_RESOLVER_LABELS: usize = 20;
/// The label value shared by everything beyond a cap.
pub const OTHER: &str = "other";

/// Slot of the `other` label value.
const OTHER_SLOT: u16 = u16::MAX;

/// The first `cap` distinct keys, each with its label text; every later key maps to `other`.
#[derive(Debug, Clone)]
struct LabelTable<K> {
    keys: Vec<K>,
    texts: Vec<String>,
    cap: usize,
}

impl<K: PartialEq + Clone> LabelTable<K> {
    fn new(cap: usize) -> Self {
        LabelTable { keys: Vec::new(), texts: Vec::new(), cap }
    }

    fn slot(&mut self, key: &K, text: impl FnOnce() -> String) -> u16 {
        if let Some(i) = self.keys.iter().position(|k| k == key) {
            return i as u16;
        }
        if self.keys.len() >= self.cap {
            return OTHER_SLOT;
        }
        self.keys.push(key.clone());
        self.texts.push(text());
        (self.keys.len() - 1) as u16
    }

    fn text(&self, slot: u16) -> &str {
        self.texts.get(slot as usize).map_or(OTHER, String::as_str)
    }
}

/// One series of the message and flow counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey {
    iface: u16,
    kind: EventKind,
    verdict: Verdict,
    transport: Transport,
    /// Why it leaked, once events carry a cause (`None` leaves the label out).
    cause: Option<&'static str>,
}

/// Capture counters of one interface label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct CaptureTally {
    captured: u64,
    /// pipeline, kernel, interface.
    dropped: [u64; 3],
}

const DROP_PLACES: [&str; 3] = ["pipeline", "kernel", "interface"];

/// Everything the metrics say, as plain numbers.
#[derive(Debug, Clone)]
pub struct Tally {
    ifaces: LabelTable<IfaceName>,
    resolvers: LabelTable<IpAddr>,
    messages: BTreeMap<SeriesKey, u64>,
    flows: BTreeMap<SeriesKey, u64>,
    by_resolver: BTreeMap<(u16, Verdict), u64>,
    capture: BTreeMap<u16, CaptureTally>,
    malformed: Vec<(Malformed, u64)>,
    unanswered: u64,
    notices: BTreeMap<&'static str, u64>,
    tunnels: BTreeMap<u16, bool>,
    last_exposure: Option<Ts>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            ifaces: LabelTable::new(MAX_IFACE_LABELS),
            resolvers: LabelTable::new(MAX_RESOLVER_LABELS),
            messages: BTreeMap::new(),
            flows: BTreeMap::new(),
            by_resolver: BTreeMap::new(),
            capture: BTreeMap::new(),
            malformed: Vec::new(),
            unanswered: 0,
            notices: BTreeMap::new(),
            tunnels: BTreeMap::new(),
            last_exposure: None,
        }
    }
}

/// The cause of a leak or bypass (a closed vocabulary, `Cause::ALL`: a bounded label); other
/// verdicts have none and go without the label.
fn cause_of(judged: &Judged) -> Option<&'static str> {
    judged.cause.as_ref().map(|c| c.cause.as_str())
}

impl Tally {
    fn iface_slot(&mut self, name: &IfaceName) -> u16 {
        self.ifaces.slot(name, || escape(name).into_owned())
    }

    /// Counts one judged event.
    pub fn observe(&mut self, j: &Judged) {
        let ev = &j.event;
        let wire = match &ev.body {
            Body::Notice(n) => {
                *self.notices.entry(n.code()).or_default() += 1;
                return;
            }
            Body::Message(m) if m.malformed().is_some() => return,
            Body::Message(m) => &m.wire,
            Body::Flow(f) => &f.wire,
        };
        let Some(verdict) = j.verdict else { return };
        let kind = ev.kind();
        let iface = self.iface_slot(&ev.iface_name);
        let key = SeriesKey { iface, kind, verdict, transport: wire.transport, cause: cause_of(j) };
        let map = if kind == EventKind::Encrypted { &mut self.flows } else { &mut self.messages };
        *map.entry(key).or_default() += 1;
        if j.is_exposure() {
            let addr = ev.resolver().map_or(wire.dst, |(a, _)| a);
            let slot = self.resolvers.slot(&addr, || addr.to_string());
            *self.by_resolver.entry((slot, verdict)).or_default() += 1;
            self.last_exposure = Some(self.last_exposure.map_or(ev.ts, |t| t.max(ev.ts)));
        }
    }

    /// Which tunnel interfaces are up.
    pub fn topology(&mut self, topology: &Topology) {
        let mut up: BTreeMap<u16, bool> = BTreeMap::new();
        for i in topology.iter().filter(|i| i.kind == IfaceKind::Tunnel) {
            let slot = self.iface_slot(&i.name);
            *up.entry(slot).or_default() |= i.facts.up;
        }
        // A tunnel the topology no longer names is down.
        for (slot, was) in self.tunnels.iter_mut() {
            *was = up.get(slot).copied().unwrap_or(false);
        }
        self.tunnels.extend(up);
    }

    /// Takes the counters the pipeline and the captures keep.
    pub fn counters(&mut self, c: &Counters) {
        self.malformed = c.core.malformed.clone();
        self.malformed.sort();
        self.unanswered = c.core.pairs.unanswered;
        let mut now: BTreeMap<u16, CaptureTally> = BTreeMap::new();
        for cc in &c.capture {
            let slot = self.iface_slot(&IfaceName::new(&cc.iface));
            let t = now.entry(slot).or_default();
            t.captured += cc.received;
            t.dropped[0] += cc.dropped_pipeline;
            t.dropped[1] += cc.dropped_kernel;
            t.dropped[2] += cc.dropped_iface;
        }
        // Captures of vanished interfaces are forgotten after a while; a counter never goes
        // back.
        for (slot, t) in now {
            let old = self.capture.entry(slot).or_default();
            old.captured = old.captured.max(t.captured);
            for (o, n) in old.dropped.iter_mut().zip(t.dropped) {
                *o = (*o).max(n);
            }
        }
    }
}

/// Feeds a [`Tally`] from the pipeline thread and publishes it for the HTTP thread.
pub struct MetricsSink {
    tally: Tally,
    published: Arc<Mutex<Tally>>,
}

impl MetricsSink {
    /// A sink and the exposition it publishes to (`hooks`: the `--on-leak` counters, if any).
    pub fn new(hooks: Option<Arc<HookStats>>) -> (MetricsSink, Exposition) {
        let published = Arc::new(Mutex::new(Tally::default()));
        let sink = MetricsSink { tally: Tally::default(), published: published.clone() };
        (sink, Exposition { published, hooks })
    }

    fn publish(&self) {
        let mut p = self.published.lock().unwrap_or_else(|e| e.into_inner());
        p.clone_from(&self.tally);
    }
}

impl Sink for MetricsSink {
    fn fact(&mut self, fact: &Fact) -> std::io::Result<()> {
        if let Some(topology) = fact.interfaces() {
            self.tally.topology(topology);
            self.publish();
        }
        Ok(())
    }

    fn wants_payload(&self) -> bool {
        false
    }

    fn event(&mut self, judged: &Judged, _file: Option<&str>) -> std::io::Result<()> {
        self.tally.observe(judged);
        Ok(())
    }

    fn counters(&mut self, counters: &Counters) -> std::io::Result<()> {
        self.tally.counters(counters);
        self.publish();
        Ok(())
    }

    fn finish(&mut self, counters: &Counters) -> std::io::Result<()> {
        self.counters(counters)
    }
}

/// The published tally as a prometheus-client collector.
#[derive(Debug, Clone)]
pub struct Exposition {
    published: Arc<Mutex<Tally>>,
    hooks: Option<Arc<HookStats>>,
}

impl Exposition {
    /// A registry holding this collector, for the HTTP side to encode.
    pub fn registry(self) -> Registry {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        registry
    }

    /// The exposition as the Prometheus text format (version 0.0.4).
    pub fn text(registry: &Registry) -> String {
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, registry);
        out
    }
}

impl Collector for Exposition {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let t = self.published.lock().unwrap_or_else(|e| e.into_inner()).clone();
        encode_tally(&t, &mut enc)?;
        if let Some(h) = &self.hooks {
            let runs = h.snapshot();
            let series = runs.iter().map(|(result, n)| ([("result", *result)], *n));
            counter(&mut enc, "dnsleak_on_leak_runs", "--on-leak commands, by how they ended (succeeded, failed, dropped: not run because the queue was full)", series)?;
        }
        Ok(())
    }
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

fn counter<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in series {
        ConstCounter::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn series_labels<'a>(t: &'a Tally, k: &SeriesKey, with_kind: bool) -> Labels<'a> {
    let mut l = vec![("interface", t.ifaces.text(k.iface))];
    if with_kind {
        l.push(("kind", k.kind.as_str()));
    }
    l.push(("verdict", k.verdict.as_str()));
    l.push(("transport", k.transport.as_str()));
    if let Some(c) = k.cause {
        l.push(("cause", c));
    }
    l
}

fn encode_tally(t: &Tally, enc: &mut DescriptorEncoder) -> fmt::Result {
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    let mut m =
        enc.encode_descriptor("dnsleak_build_info", "dnsleak's version (always 1)", None, MetricType::Gauge)?;
    ConstGauge::new(1i64).encode(m.encode_family(&version)?)?;
    counter(
        enc,
        "dnsleak_dns_messages",
        "DNS messages (queries and responses) by interface, kind, verdict and transport",
        t.messages.iter().map(|(k, v)| (series_labels(t, k, true), *v)),
    )?;
    counter(
        enc,
        "dnsleak_encrypted_flows",
        "Encrypted DNS flows (DoT, DoH, DoQ) by interface, verdict and transport",
        t.flows.iter().map(|(k, v)| (series_labels(t, k, false), *v)),
    )?;
    counter(
        enc,
        "dnsleak_leaks_by_resolver",
        "Leaked messages and bypassing flows by resolver address (the first 20 resolvers seen leaking; later ones under \"other\")",
        t.by_resolver.iter().map(|((slot, v), n)| (vec![("resolver", t.resolvers.text(*slot)), ("verdict", v.as_str())], *n)),
    )?;
    counter(
        enc,
        "dnsleak_packets_captured",
        "Packets captured, by interface",
        t.capture.iter().map(|(slot, c)| ([("interface", t.ifaces.text(*slot))], c.captured)),
    )?;
    let dropped = t.capture.iter().flat_map(|(slot, c)| {
        DROP_PLACES
            .iter()
            .zip(c.dropped)
            .map(|(place, n)| ([("interface", t.ifaces.text(*slot)), ("where", place)], n))
    });
    counter(enc, "dnsleak_packets_dropped", "Packets dropped, by interface and where: pipeline (dnsleak fell behind), kernel (the capture buffer was full), interface (the driver)", dropped)?;
    counter(
        enc,
        "dnsleak_malformed_messages",
        "Messages on DNS ports that could not be decoded, by reason",
        t.malformed.iter().map(|(m, n)| ([("reason", m.as_str())], *n)),
    )?;
    let m = enc.encode_descriptor(
        "dnsleak_unanswered_queries",
        "Queries with no response within 5 s",
        None,
        MetricType::Counter,
    )?;
    ConstCounter::new(t.unanswered).encode(m)?;
    counter(
        enc,
        "dnsleak_notices",
        "Notices (tunnel_down, tunnel_up, kill_switch_failed, parallel_resolution, hijack, ...) by code",
        t.notices.iter().map(|(c, n)| ([("notice", *c)], *n)),
    )?;
    let mut m = enc.encode_descriptor(
        "dnsleak_tunnel_up",
        "Whether each tunnel interface is up (1) or down (0)",
        None,
        MetricType::Gauge,
    )?;
    for (slot, up) in &t.tunnels {
        ConstGauge::new(i64::from(*up)).encode(m.encode_family(&[("interface", t.ifaces.text(*slot))])?)?;
    }
    if let Some(ts) = t.last_exposure {
        let unit = Unit::Seconds;
        let m = enc.encode_descriptor(
            "dnsleak_last_leak_timestamp",
            "When the last leak or bypass was seen, in seconds since 1970",
            Some(&unit),
            MetricType::Gauge,
        )?;
        ConstGauge::new(ts.as_secs_f64()).encode(m)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;

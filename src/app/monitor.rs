//! `dnsleak monitor`: live capture on every interface into the dashboard, NDJSON or one line per
//! event, and the final summary on standard error when it ends (after the dashboard closes
//! too). `capture_into` is the capture session `check` runs as well.
//!
//! Threads: one per capture and the interface watcher (`capture::live`) -> one channel -> this
//! session on the caller's thread (core, sink, `--write`); with the dashboard, the session runs
//! on the dashboard's work thread and the UI thread draws.

mod record;

use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use crossbeam_channel::RecvTimeoutError;

use super::attribution::{self, Attribution, Started};
use super::config::{CaptureConfig, MonitorConfig, MonitorOutput};
use super::reorder::Reorder;
use super::service::{Discard, Service};
use crate::capture::live::{Live, Msg, Options};
use crate::cli::MonitorArgs;
use crate::counters::{Counters, OrderCounters};
use crate::output::causes::CauseTally;
use crate::output::escape::escape;
use crate::output::html::HtmlReport;
use crate::output::json::JsonSink;
use crate::output::lines::LinesSink;
use crate::output::programs::{self, Programs};
use crate::output::{Sink, Tee};
use crate::system::clock::wall_now;
use crate::system::resolver::Options as ResolverOptions;
use crate::system::routes::Routes;
use crate::system::{privilege, sandbox, signals};
use crate::tui::app::Source;
use crate::Outcome;
use dnsleak_core::process::{note, Recorded};
use dnsleak_core::{EventKind, Fact, Judged, Pipeline, Topology, Ts};
use record::Recording;

/// Counters go to the sink (and output is flushed) at least this often.
const COUNTERS_EVERY: Duration = Duration::from_millis(100);
/// After a stop (`--duration`, Ctrl-C), how long what the captures still hold is judged; the
/// rest is counted as dropped (issue #13).
const STOP_WITHIN: Duration = Duration::from_secs(1);
/// Diagnostics kept to print again after the dashboard closes.
const MAX_DIAGNOSTICS: usize = 32;

/// `dnsleak monitor`.
pub fn run(args: &MonitorArgs) -> anyhow::Result<Outcome> {
    let cfg = MonitorConfig::new(args)?;
    // Say what is missing before anything else starts.
    privilege::check()?;
    // The bounding set is per thread: shrink it here, before any thread (the dashboard's UI
    // thread included) starts, so every thread inherits it.
    sandbox::prepare().context("shrinking the capability bounding set")?;
    // Process attribution loads eBPF now, while CAP_BPF and CAP_PERFMON are still there.
    let procs = attribution::start(cfg.capture.processes)?;
    // Capabilities are per thread: drop what capture and the switch to `--user` do not need
    // here, before any other thread starts, so every thread inherits the smaller set. The
    // rest is given up once the first captures are open (`capture_into`).
    sandbox::keep_until_lock_down().context("dropping the capabilities capture does not need")?;
    // Created now: a path that cannot be written fails before the capture starts.
    let report = cfg.report.as_deref().map(HtmlReport::live).transpose()?;
    let started = Instant::now();
    // --metrics binds and --on-leak starts its runner before captures open and privileges drop.
    let dashboard_owns_terminal = cfg.output == MonitorOutput::Dashboard;
    let service = Service::start(&cfg.service, !dashboard_owns_terminal, &cfg.capture.sandbox)?;
    let captured = match cfg.output {
        MonitorOutput::Dashboard => return dashboard(cfg.capture, procs, service, report, started),
        MonitorOutput::Json => {
            let mut json = JsonSink::new(io::stdout());
            if let Some(every) = cfg.stats_every {
                json = json.with_stats_every(every);
            }
            headless(&cfg.capture, json, service, report, procs)?
        }
        MonitorOutput::Lines { color } => {
            headless(&cfg.capture, LinesSink::new(io::stdout(), color), service, report, procs)?
        }
        MonitorOutput::Nothing => headless(&cfg.capture, Discard, service, report, procs)?,
    };
    let _ = write!(io::stderr(), "{}", final_summary(&captured, started.elapsed()));
    Ok(Outcome::of(&captured.counters))
}

/// A capture session into `display`, the service and the report, until a signal (or
/// `--duration`).
fn headless(
    cfg: &CaptureConfig,
    display: impl Sink,
    service: Service,
    report: Option<HtmlReport>,
    procs: Started,
) -> anyhow::Result<Captured> {
    let stop = signals::install().context("installing the signal handlers")?;
    capture_reported(cfg, report, display, service, &stop, procs)
}

/// The dashboard over a capture session; once it closes, the diagnostics it showed and the
/// final summary on standard error.
fn dashboard(
    capture: CaptureConfig,
    procs: Started,
    service: Service,
    report: Option<HtmlReport>,
    started: Instant,
) -> anyhow::Result<Outcome> {
    let source = Source::Live { started: wall_now() };
    let hooks = service.hooks();
    let closed = crate::tui::run(source, None, move |sink, stop| {
        capture_reported(&capture, report, sink, service, stop, procs)
    })?;
    let Some(result) = closed.result else {
        bail!("the capture did not stop within a few seconds of closing the dashboard; its summary is lost")
    };
    let captured = result?;
    let mut err = io::stderr().lock();
    for text in &captured.diagnostics {
        let _ = writeln!(err, "dnsleak: {}", escape(text));
    }
    let _ = write!(err, "{}", final_summary(&captured, started.elapsed()));
    if let Some(h) = hooks {
        let _ = write!(err, "{}", h.line());
    }
    Ok(Outcome::of(&captured.counters))
}

/// `capture_into` the display, the service and the HTML report (`--report`), which is written
/// when the capture ends (also when it ends with an error, which the page then names), with
/// what `--on-leak` did: the session's end has stopped its runner.
fn capture_reported(
    cfg: &CaptureConfig,
    mut report: Option<HtmlReport>,
    display: impl Sink,
    service: Service,
    stop: &AtomicBool,
    procs: Started,
) -> anyhow::Result<Captured> {
    let hooks = service.hooks();
    let mut sinks = Tee(Tee(display, service), report.as_mut().map(|r| &mut r.collector));
    let captured = capture_into(cfg, &mut sinks, stop, procs);
    drop(sinks);
    if let Some(mut r) = report {
        r.on_leak = hooks.map(|h| h.counts());
        let notes = captured.as_ref().map(|c| c.diagnostics.clone()).unwrap_or_default();
        r.write(notes, captured.as_ref().err(), wall_now())?;
    }
    captured
}

/// What a capture session ends with.
#[derive(Debug, Default)]
pub struct Captured {
    pub counters: Counters,
    /// What the capture side said (the sink was told as it happened), the first
    /// `MAX_DIAGNOSTICS`.
    pub diagnostics: Vec<String>,
    /// Leaks and bypasses by program (process attribution).
    pub programs: Programs,
    /// Leaks and bypasses by cause, with the fix once per cause.
    pub causes: CauseTally,
}

/// What live capture opens: the interfaces asked for, and the resolver configuration read
/// from the system (the causes' input).
fn live_options(cfg: &CaptureConfig) -> Options {
    Options {
        interfaces: cfg.interfaces.clone(),
        overrides: cfg.judging.overrides.clone(),
        resolver: Some(ResolverOptions::default()),
    }
}

/// Captures until `stop` is set (or the configured duration passes), feeding `sink` on this
/// thread; then closes every capture, judges what they still held, and says the counters.
/// `procs`: process attribution, started before the capabilities were dropped.
pub fn capture_into(
    cfg: &CaptureConfig,
    sink: &mut dyn Sink,
    stop: &AtomicBool,
    procs: Started,
) -> anyhow::Result<Captured> {
    let mut core = cfg.judging.core_for(sink.wants_payload());
    core.attribute_processes = procs.attribution.is_some();
    privilege::check()?;
    let writer = cfg.write.as_deref().map(Recording::create).transpose()?;
    let opened = Live::open(live_options(cfg))?;
    // The first captures and the --write file are open: give up the rest before any capture
    // thread starts.
    sandbox::lock_down(&cfg.sandbox)?;
    if let Some(a) = &procs.attribution {
        a.locked_down();
    }
    let (mut live, topology) = opened.start()?;
    let deadline = cfg.duration.map(|d| Instant::now() + d);
    let mut s = Session {
        pipeline: Pipeline::new(core, Topology::new()),
        sink,
        writer,
        out: Vec::new(),
        number: 0,
        diagnostics: Vec::new(),
        procs: procs.attribution,
        notes: Vec::new(),
        programs: Programs::default(),
        routes: Routes::open().ok(),
        causes: CauseTally::default(),
        stop_by: None,
        dropped_at_stop: 0,
        order: OrderCounters::default(),
    };
    if let Some(note) = procs.note.or_else(|| s.procs.as_ref().and_then(Attribution::warning)) {
        s.handle(Msg::Diagnostic(note))?;
    }
    s.handle(Msg::Fact { fact: Fact::Interfaces(topology), ts: wall_now() })?;
    // Frames of all interfaces in capture order (`reorder` says why): the stub hop of
    // process attribution, and the causes, which look back at earlier messages (a stub's
    // question on lo before its upstream leak on eth0: stub_upstream).
    let mut hold = Some(Reorder::default());
    let mut last_tick = Instant::now();
    let running = || !stop.load(Ordering::Acquire) && deadline.is_none_or(|d| Instant::now() < d);
    while running() {
        let due = hold.as_ref().and_then(Reorder::next_due);
        let wait = due.map_or(COUNTERS_EVERY / 2, |d| d.saturating_duration_since(Instant::now()));
        match live.messages().recv_timeout(wait.min(COUNTERS_EVERY / 2)) {
            Ok(msg) => s.feed(&mut hold, msg)?,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(h) = &mut hold {
            // A backlog of due frames is judged frame by frame, not past a stop.
            while let Some(f) = h.pop_due(Instant::now()) {
                s.handle(Msg::Frame(f))?;
                if !running() {
                    break;
                }
            }
        }
        if last_tick.elapsed() >= COUNTERS_EVERY {
            s.tick(&live, hold.as_ref())?;
            last_tick = Instant::now();
        }
    }
    live.stop();
    let dropped_at_stop = s.judge_rest(&live, &mut hold)?;
    s.order = hold.as_ref().map(|h| h.counters).unwrap_or_default();
    s.pipeline.finish(&mut s.out);
    s.emit()?;
    if let Some(w) = &mut s.writer {
        w.flush()?;
    }
    let counters = Counters { dropped_at_stop, ..s.counters(&live) };
    s.sink.counters(&counters).context("writing output")?;
    s.sink.finish(&counters).context("writing output")?;
    Ok(Captured { counters, diagnostics: s.diagnostics, programs: s.programs, causes: s.causes })
}

/// After `live.stop()`: hands what arrives to `feed` until the channel closes or `within`
/// has passed; then counts the frames still coming as dropped (returned) without reading them.
fn drain(
    live: &Live,
    within: Duration,
    mut feed: impl FnMut(Msg) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let deadline = Instant::now() + within;
    loop {
        match live.messages().recv_deadline(deadline) {
            Ok(msg) => feed(msg)?,
            Err(RecvTimeoutError::Disconnected) => return Ok(0),
            Err(RecvTimeoutError::Timeout) => break,
        }
    }
    // The captures are stopping (each within its short drain window): what they still send
    // is only counted.
    Ok(live.messages().iter().filter(|m| matches!(m, Msg::Frame(_))).count() as u64)
}

/// The pipeline side: core, sink and `--write`, fed from the channel.
struct Session<'a> {
    pipeline: Pipeline,
    sink: &'a mut dyn Sink,
    writer: Option<Recording>,
    out: Vec<Judged>,
    number: u64,
    diagnostics: Vec<String>,
    procs: Option<Attribution>,
    /// The senders of the frame being written (`--write` with process attribution).
    notes: Vec<String>,
    programs: Programs,
    /// Route decisions for the causes; `None` when no netlink socket could be opened (the
    /// causes then go without routes, as on replay).
    routes: Option<Routes>,
    /// Leaks and bypasses by cause, for the final summary.
    causes: CauseTally,
    /// Once stopping: when judging ends; frames held past it are counted in `dropped_at_stop`.
    stop_by: Option<Instant>,
    dropped_at_stop: u64,
    /// The time-order stage's counts, as of the last tick.
    order: OrderCounters,
}

impl Session<'_> {
    /// A message from the captures: a frame waits in `hold` (when frames are reordered);
    /// anything else first lets every held frame go, so it stays after the frames before it.
    fn feed(&mut self, hold: &mut Option<Reorder>, msg: Msg) -> anyhow::Result<()> {
        match (hold, msg) {
            (Some(h), Msg::Frame(f)) => {
                h.push(f, Instant::now());
                Ok(())
            }
            (h, msg) => {
                if let Some(h) = h {
                    self.release(h)?;
                }
                self.handle(msg)
            }
        }
    }

    /// Every held frame, in capture order.
    /// Once every capture was told to stop: what they still hold arrives before the channel
    /// closes. A backlog gets a bounded time (a flood must not hold the stop for minutes):
    /// what is left after `STOP_WITHIN` is counted as dropped, unread; returns how many.
    fn judge_rest(&mut self, live: &Live, hold: &mut Option<Reorder>) -> anyhow::Result<u64> {
        self.stop_by = Some(Instant::now() + STOP_WITHIN);
        let unread = drain(live, STOP_WITHIN, |msg| self.feed(hold, msg))?;
        if let Some(h) = hold {
            self.release(h)?;
        }
        Ok(unread + self.dropped_at_stop)
    }

    /// Once stopping (`stop_by` passed), what is left is counted as dropped instead.
    fn release(&mut self, hold: &mut Reorder) -> anyhow::Result<()> {
        while let Some(f) = hold.pop() {
            if self.stop_by.is_some_and(|t| Instant::now() >= t) {
                self.dropped_at_stop += 1;
                continue;
            }
            self.handle(Msg::Frame(f))?;
        }
        Ok(())
    }

    fn handle(&mut self, msg: Msg) -> anyhow::Result<()> {
        match msg {
            Msg::Frame(mut f) => {
                self.number += 1;
                f.number = self.number;
                // The frame's socket facts were written before it was captured: in they go.
                if let Some(p) = &mut self.procs {
                    p.drain_into(&mut self.pipeline, &mut self.out);
                }
                let first = self.out.len();
                self.pipeline.process(f.as_ref(), &mut self.out);
                self.routes_for(first, f.ts);
                if let Some(w) = &mut self.writer {
                    self.notes.clear();
                    if self.procs.is_some() {
                        senders(&self.out[first..], &mut self.notes);
                    }
                    w.packet(f.iface, f.ts, f.orig_len, &f.data, &self.notes)?;
                }
            }
            Msg::Fact { fact, ts } => {
                if let (Some(topology), Some(w)) = (fact.interfaces(), &mut self.writer) {
                    w.interfaces(topology)?;
                }
                self.sink.fact(&fact).context("writing output")?;
                self.pipeline.apply(fact, ts, &mut self.out);
            }
            Msg::Closed(ended) => {
                if let Some(w) = &mut self.writer {
                    w.ends(&ended)?;
                }
            }
            Msg::Diagnostic(text) => {
                self.sink.diagnostic(&text).context("writing output")?;
                if self.diagnostics.len() < MAX_DIAGNOSTICS {
                    self.diagnostics.push(text);
                }
            }
        }
        self.emit()
    }

    /// The leaks among `out[from..]` whose cause wants the route to their resolver get it
    /// from the kernel (once per destination until routes change), handed in as a fact.
    fn routes_for(&mut self, from: usize, ts: Ts) {
        let Some(routes) = &mut self.routes else { return };
        let mut wanted: Vec<IpAddr> = Vec::new();
        for j in &self.out[from..] {
            if let (Some(c), Some((dst, _))) = (&j.cause, j.event.resolver()) {
                if c.wants_route() && !wanted.contains(&dst) {
                    wanted.push(dst);
                }
            }
        }
        for dst in wanted {
            if let Ok(d) = routes.decide(dst) {
                self.pipeline.apply(Fact::Route(d), ts, &mut self.out);
            }
        }
    }

    fn emit(&mut self) -> anyhow::Result<()> {
        for j in &self.out {
            self.causes.observe(j);
        }
        if self.procs.is_some() {
            for j in self.out.iter().filter(|j| j.is_exposure()) {
                self.programs.observe(j);
            }
        }
        self.sink.events(&mut self.out, None).context("writing output")
    }

    fn counters(&mut self, live: &Live) -> Counters {
        Counters {
            core: self.pipeline.stats(),
            capture: live.counters(),
            processes: self.procs.as_mut().map(Attribution::counters),
            order: self.order,
            ..Default::default()
        }
    }

    fn tick(&mut self, live: &Live, hold: Option<&Reorder>) -> anyhow::Result<()> {
        self.order = hold.map(|h| h.counters).unwrap_or_default();
        // Facts of the fallback scan come without frames: take them in now and then too.
        if let Some(p) = &mut self.procs {
            p.drain_into(&mut self.pipeline, &mut self.out);
        }
        self.pipeline.advance(wall_now());
        self.emit()?;
        if let Some(w) = &mut self.writer {
            w.flush()?;
        }
        let c = self.counters(live);
        self.sink.counters(&c).context("writing output")
    }
}

/// The sender of each outgoing message or flow among `events`, as `--write` records it beside
/// the packet that completed it.
fn senders(events: &[Judged], notes: &mut Vec<String>) {
    for j in events {
        let (Some(owner), Some(w)) = (j.event.owner(), j.event.wire()) else { continue };
        if !matches!(j.event.kind(), EventKind::Query | EventKind::Encrypted) {
            continue;
        }
        let r = Recorded {
            proto: w.proto.into(),
            src: std::net::SocketAddr::new(w.src, w.sport),
            dst: std::net::SocketAddr::new(w.dst, w.dport),
            owner: owner.clone(),
        };
        let mut text = String::new();
        note::write(&r, &mut text);
        notes.push(text);
    }
}

/// The summary printed on standard error when a monitor ends: what was captured and judged,
/// each capture's drops, the programs, and the leaks grouped by cause with the fix once per
/// cause.
pub fn final_summary(captured: &Captured, elapsed: Duration) -> String {
    use dnsleak_core::Verdict;
    let c = &captured.counters;
    let s = &c.core;
    let mut out = format!(
        "dnsleak: captured for {:.1} s: {} frames, {} DNS messages, {} encrypted flows, {} malformed, {} notices\n",
        elapsed.as_secs_f64(),
        s.frames,
        s.events_of(EventKind::Query) + s.events_of(EventKind::Response),
        s.events_of(EventKind::Encrypted),
        s.events_of(EventKind::Malformed),
        s.events_of(EventKind::Notice),
    );
    let verdicts: Vec<String> =
        Verdict::ALL.iter().map(|v| format!("{} {}", v, s.verdict_count(*v))).collect();
    out.push_str(&format!("dnsleak: verdicts: {}\n", verdicts.join(", ")));
    for cc in &c.capture {
        out.push_str(&format!(
            "dnsleak: {}: {} frames captured, dropped {} (pipeline full), {} (kernel), {} (interface)\n",
            escape(&cc.iface),
            cc.received,
            cc.dropped_pipeline,
            cc.dropped_kernel,
            cc.dropped_iface
        ));
    }
    if let Some(p) = &c.processes {
        let named = s.processes.as_ref().and_then(programs::coverage);
        let named = named.unwrap_or_else(|| "no outgoing message yet".to_string());
        out.push_str(&format!("dnsleak: programs ({}): {named}\n", p.method));
    }
    for d in crate::output::incomplete::dropped(c) {
        out.push_str(&format!("dnsleak: dropped: {} {}\n", d.count, d.why));
    }
    let (exposed, lost) = (s.exposures(), c.unjudged());
    out.push_str(&if exposed > 0 {
        format!("dnsleak: LEAK: {exposed} DNS messages or flows left outside the tunnel\n")
    } else if lost > 0 {
        format!("dnsleak: INCOMPLETE: no leak or bypass seen in what was judged, but {lost} packets, streams or datagrams were dropped before they were judged\n")
    } else {
        "dnsleak: no leak or bypass seen\n".to_string()
    });
    if let Some(by) = captured.programs.line() {
        out.push_str(&format!("dnsleak: leaked by: {by}\n"));
    }
    if !captured.causes.is_empty() {
        out.push_str("dnsleak: why, and what to change (by cause):\n");
        captured.causes.write(&mut out, "dnsleak: ");
    }
    out
}

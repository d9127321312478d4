//! Live capture: one libpcap capture per interface that is up, each on its own thread, handing
//! frames to the pipeline thread through one bounded channel (`try_send`: a capture thread
//! never waits; what it cannot hand over it counts). A watcher thread re-reads the interfaces
//! every `RESCAN`, opens captures on new ones, closes vanished ones (after their last frames
//! are in the channel) and sends the new topology through the same channel, so the pipeline
//! sees interface changes in order with the frames.
//!
//! Threads: capture (one per interface) -> channel -> pipeline (the caller's thread: core,
//! sink, `--write`). Counters have one writer each: the capture thread.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use pcap::{Active, Capture, Precision};

use crate::cli::{ColorChoice, MonitorArgs};
use crate::output::escape::escape;
use crate::output::lines::LinesSink;
use crate::output::pcapng::{linktype_of_dlt, IfaceEnd, PcapngWriter, SNAPLEN};
use crate::output::{CaptureCounters, Counters, Sink};
use crate::system::{interfaces, privilege, sandbox};
use crate::Outcome;
use dnsleak_core::{Config, Frame, IfaceFacts, IfaceId, Judged, LinkType, Overrides, Pipeline, Topology, Ts};

/// Frames waiting for the pipeline, across all interfaces.
pub const CHANNEL_CAPACITY: usize = 65_536;
/// How often the interfaces are re-read.
pub const RESCAN: Duration = Duration::from_millis(500);
/// Delivery delay: the kernel hands a filled-or-not block of packets over after at most this
/// many milliseconds (TPACKET_V3's block timeout).
///
/// Why not libpcap's immediate mode: on Linux it switches to TPACKET_V2, whose ring slots are
/// each as large as the snap length (64 KB when the interface does GRO/TSO), so a 32 MB ring
/// holds ~500 packets; in the test network it dropped 1,153 of a 4,000-packet burst (2,000
/// queries sent in 20 ms with their answers). TPACKET_V3 packs packets by their real size and
/// lost none, and a 1 ms block timeout keeps delivery as prompt as immediate mode in practice.
const READ_TIMEOUT_MS: i32 = 1;
/// Kernel buffer per capture.
const BUFFER_BYTES: i32 = 32 << 20;
/// Counters go to the sink (and output is flushed) at least this often.
const COUNTERS_EVERY: Duration = Duration::from_millis(100);
/// Vanished interfaces remembered (so late events still have a name).
const MAX_RETIRED: usize = 256;
/// Capture counters kept for ended captures.
const MAX_REGISTRY: usize = 512;

/// The BPF filter every capture gets: only what the core needs, and what carries it without
/// showing the ports.
/// - DNS, mDNS, LLMNR on UDP and TCP; DoT and DoQ (port 853) whole.
/// - TLS on TCP 443: connection set-up and tear-down (SYN, FIN, RST) and, from the client,
///   every segment that is not TLS application data (record type 0x17): the ClientHello and
///   its continuation segments pass, a download's data does not.
/// - QUIC on UDP 443: long-header packets only (Initial, Handshake: first byte's top bit).
/// - IPv4 fragments after the first (they carry no ports), IPv6 packets whose first
///   extension header is a fragment header, 6in4 (protocol 41), Teredo (UDP 3544).
pub const BPF_FILTER: &str = "port 53 or port 5353 or port 5355 or port 853 \
or (tcp port 443 and (tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0 \
or (tcp dst port 443 and tcp[((tcp[12] & 0xf0) >> 2)] != 0x17))) \
or (udp port 443 and udp[8] & 0x80 != 0) \
or udp port 3544 or ip proto 41 \
or (ip and ip[6:2] & 0x1fff != 0) or (ip6 and ip6[6] = 44)";

/// What crosses the channel, in order.
pub enum Msg {
    Frame(Frame),
    /// The interfaces changed at `ts`; `ended` lists captures that closed (for `--write`).
    Topology {
        topology: Topology,
        ts: Ts,
        ended: Vec<Ended>,
    },
}

/// A capture that closed: its interface, when, and libpcap's counts.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    pub id: IfaceId,
    pub start: Ts,
    pub end: Ts,
    pub received: u64,
    pub dropped: u64,
}

/// One capture's counters; each has one writer, the capture thread.
#[derive(Debug, Default)]
pub struct CaptureStats {
    pub received: AtomicU64,
    pub dropped_pipeline: AtomicU64,
    pub dropped_kernel: AtomicU64,
    pub dropped_iface: AtomicU64,
    pub done: AtomicBool,
}

/// Every capture of the session (bounded), for counter snapshots.
type Registry = Arc<Mutex<Vec<(IfaceId, String, Arc<CaptureStats>)>>>;

/// The wall clock as trace time (live frames carry the kernel's time, which is the same clock).
pub fn wall_now() -> Ts {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Ts::from_secs_nanos(d.as_secs() as i64, d.subsec_nanos())
}

/// Opens a capture on `name`: packets handed over within `READ_TIMEOUT_MS`, nanosecond time
/// stamps, the BPF filter.
pub fn open_capture(name: &str) -> Result<Capture<Active>, pcap::Error> {
    let mut cap = Capture::from_device(name)?
        .immediate_mode(false)
        .promisc(false)
        .snaplen(SNAPLEN as i32)
        .timeout(READ_TIMEOUT_MS)
        .buffer_size(BUFFER_BYTES)
        .precision(Precision::Nano)
        .open()?;
    cap.filter(BPF_FILTER, true)?;
    Ok(cap)
}

/// Reads one capture until `stop` is set or the interface goes away, then drains what the
/// kernel still holds.
fn capture_thread(
    cap: Capture<Active>,
    id: IfaceId,
    tx: Sender<Msg>,
    stats: Arc<CaptureStats>,
    stop: Arc<AtomicBool>,
) {
    let link = LinkType(linktype_of_dlt(cap.get_datalink().0 as u32));
    let mut cap = cap;
    let mut last_stats = Instant::now();
    while !stop.load(Ordering::Acquire) {
        match cap.next_packet() {
            Ok(p) => hand_over(&tx, &stats, id, link, &p),
            Err(pcap::Error::TimeoutExpired) => {}
            // Woken to stop (libpcap's poll waits for packets, not for the timeout), or the interface went away (ENETDOWN, ENXIO): the watcher notices.
            Err(_) => break,
        }
        if last_stats.elapsed() >= RESCAN {
            kernel_stats(&mut cap, &stats);
            last_stats = Instant::now();
        }
    }
    // Whatever the kernel captured before the stop is read too (`check` relies on it).
    if let Ok(mut cap) = cap.setnonblock() {
        while let Ok(p) = cap.next_packet() {
            hand_over(&tx, &stats, id, link, &p);
        }
        kernel_stats(&mut cap, &stats);
    }
    stats.done.store(true, Ordering::Release);
}

fn hand_over(tx: &Sender<Msg>, stats: &CaptureStats, id: IfaceId, link: LinkType, p: &pcap::Packet<'_>) {
    stats.received.fetch_add(1, Ordering::Relaxed);
    let ts = Ts::from_secs_nanos(p.header.ts.tv_sec, p.header.ts.tv_usec as u32);
    let frame = Frame { iface: id, ts, link, number: 0, orig_len: p.header.len, data: p.data.to_vec() };
    if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(Msg::Frame(frame)) {
        stats.dropped_pipeline.fetch_add(1, Ordering::Relaxed);
    }
}

fn kernel_stats(cap: &mut Capture<Active>, stats: &CaptureStats) {
    if let Ok(s) = cap.stats() {
        stats.dropped_kernel.store(s.dropped as u64, Ordering::Relaxed);
        stats.dropped_iface.store(s.if_dropped as u64, Ordering::Relaxed);
    }
}

/// A capture thread and its handles.
struct Running {
    stop: Arc<AtomicBool>,
    /// Wakes the thread from a blocking read (libpcap's timeout does not end an empty wait).
    wake: pcap::BreakLoop,
    thread: Option<JoinHandle<()>>,
    stats: Arc<CaptureStats>,
    started: Ts,
}

impl Running {
    /// Stops the thread and waits until its last frames are in the channel.
    fn close(mut self, id: IfaceId) -> Ended {
        self.stop.store(true, Ordering::Release);
        self.wake.breakloop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        Ended {
            id,
            start: self.started,
            end: wall_now(),
            received: self.stats.received.load(Ordering::Relaxed),
            dropped: self.stats.dropped_kernel.load(Ordering::Relaxed)
                + self.stats.dropped_pipeline.load(Ordering::Relaxed),
        }
    }
}

/// An interface the OS lists now.
struct Entry {
    id: IfaceId,
    facts: IfaceFacts,
    /// Whether it was to be captured when it appeared (up, and asked for).
    wanted: bool,
    run: Option<Running>,
    /// A capture opened but not started yet (it starts after the topology naming it is sent).
    pending: Option<Capture<Active>>,
}

/// Which interfaces to capture and how to classify them.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub interfaces: Vec<String>,
    pub overrides: Overrides,
    /// What to give up once the first captures are open.
    pub sandbox: sandbox::Options,
}

impl Options {
    fn wanted(&self, f: &IfaceFacts) -> bool {
        f.up && (self.interfaces.is_empty() || self.interfaces.iter().any(|n| n == &f.name))
    }
}

/// Keeps the set of captures in step with the OS's interfaces.
struct Watcher {
    opts: Options,
    tx: Sender<Msg>,
    next_id: IfaceId,
    entries: Vec<Entry>,
    retired: VecDeque<(IfaceId, IfaceFacts)>,
    /// Interfaces (name, index) that could not be opened: reported once, not retried.
    failed: Vec<(String, u32)>,
    registry: Registry,
}

impl Watcher {
    fn new(opts: Options, tx: Sender<Msg>) -> Self {
        Watcher {
            opts,
            tx,
            next_id: 0,
            entries: Vec::new(),
            retired: VecDeque::new(),
            failed: Vec::new(),
            registry: Arc::default(),
        }
    }

    fn topology(&self) -> Topology {
        let mut all: Vec<(IfaceId, IfaceFacts)> = self.retired.iter().cloned().collect();
        all.extend(self.entries.iter().map(|e| (e.id, e.facts.clone())));
        all.sort_by_key(|(id, _)| *id);
        Topology::from_facts(all, &self.opts.overrides)
    }

    /// Re-reads the interfaces. Closes captures of vanished interfaces (and of ones whose
    /// capture ended by itself), opens captures on new ones. Returns whether anything changed
    /// and the captures that closed.
    fn scan(&mut self) -> (bool, Vec<Ended>) {
        let os = interfaces::list();
        let mut ended = Vec::new();
        let mut changed = false;
        let mut i = 0;
        while i < self.entries.len() {
            let e = &mut self.entries[i];
            let now = os.iter().find(|f| f.name == e.facts.name && f.index == e.facts.index);
            let dead = e.run.as_ref().is_some_and(|r| r.stats.done.load(Ordering::Acquire));
            let keep = match now {
                Some(f) => !dead && self.opts.wanted(f) == e.wanted,
                None => false,
            };
            if keep {
                let f = now.cloned().unwrap_or_default();
                let fresh = IfaceFacts { link: e.facts.link, ..f };
                changed |= fresh != e.facts;
                e.facts = fresh;
                i += 1;
                continue;
            }
            let mut e = self.entries.remove(i);
            if let Some(run) = e.run.take() {
                ended.push(run.close(e.id));
            }
            e.facts.up = false;
            self.retired.push_back((e.id, e.facts));
            while self.retired.len() > MAX_RETIRED {
                self.retired.pop_front();
            }
            changed = true;
        }
        for f in os {
            if !self.entries.iter().any(|e| e.facts.name == f.name && e.facts.index == f.index) {
                self.add(f);
                changed = true;
            }
        }
        (changed, ended)
    }

    /// A new interface: a new id, and a capture opened (not started) when it is wanted.
    fn add(&mut self, mut facts: IfaceFacts) {
        let id = self.next_id;
        self.next_id += 1;
        let mut pending = None;
        let key = (facts.name.clone(), facts.index);
        let wanted = self.opts.wanted(&facts);
        if wanted && !self.failed.contains(&key) {
            match open_capture(&facts.name) {
                Ok(cap) => {
                    facts.link = Some(LinkType(linktype_of_dlt(cap.get_datalink().0 as u32)));
                    pending = Some(cap);
                }
                Err(err) => {
                    let why = escape(&format!("cannot capture on {}: {err}; it is not watched", facts.name))
                        .into_owned();
                    eprintln!("dnsleak: {why}");
                    self.failed.push(key);
                }
            }
        }
        // An interface that could not be opened is kept, not captured.
        self.entries.push(Entry { id, facts, wanted, run: None, pending });
    }

    /// Starts the threads of captures opened by the last scan.
    fn start_pending(&mut self) {
        for e in &mut self.entries {
            let Some(mut cap) = e.pending.take() else { continue };
            let wake = cap.breakloop_handle();
            let stats = Arc::new(CaptureStats::default());
            let stop = Arc::new(AtomicBool::new(false));
            let (id, tx, s2, st2) = (e.id, self.tx.clone(), stats.clone(), stop.clone());
            let thread = std::thread::Builder::new()
                .name(format!("capture-{}", e.facts.name))
                .spawn(move || capture_thread(cap, id, tx, s2, st2));
            match thread {
                Ok(t) => {
                    e.run = Some(Running {
                        stop,
                        wake,
                        thread: Some(t),
                        stats: stats.clone(),
                        started: wall_now(),
                    });
                    let mut reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
                    if reg.len() >= MAX_REGISTRY {
                        if let Some(pos) = reg.iter().position(|r| r.2.done.load(Ordering::Acquire)) {
                            reg.remove(pos);
                        }
                    }
                    reg.push((e.id, e.facts.name.clone(), stats));
                }
                Err(err) => {
                    eprintln!(
                        "dnsleak: {}",
                        escape(&format!("cannot start a capture thread for {}: {err}", e.facts.name))
                    )
                }
            }
        }
    }

    /// Whether an entry was opened for capture but has no thread yet.
    fn has_pending(&self) -> bool {
        self.entries.iter().any(|e| e.pending.is_some())
    }

    /// The watcher thread: rescan until told to stop, then close every capture.
    fn run(mut self, stop: Receiver<()>) {
        while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(RESCAN) {
            let (changed, ended) = self.scan();
            if changed {
                let msg = Msg::Topology { topology: self.topology(), ts: wall_now(), ended };
                if self.tx.send(msg).is_err() {
                    break;
                }
                self.start_pending();
            }
        }
        for e in &mut self.entries {
            e.pending = None;
            if let Some(run) = e.run.take() {
                run.close(e.id);
            }
        }
    }
}

/// The running capture machinery; dropping it stops every thread (draining the channel so
/// no thread stays blocked).
struct Live {
    rx: Receiver<Msg>,
    stop_tx: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    registry: Registry,
}

impl Live {
    /// Opens the first captures, drops privileges, starts the threads. Returns the first
    /// topology too.
    fn start(opts: Options) -> anyhow::Result<(Live, Topology)> {
        let (tx, rx) = bounded(CHANNEL_CAPACITY);
        let mut w = Watcher::new(opts.clone(), tx);
        w.scan();
        if !w.has_pending() {
            let names = if opts.interfaces.is_empty() {
                "no interface that is up could be opened".to_string()
            } else {
                format!(
                    "none of the interfaces asked for ({}) is up and could be opened",
                    opts.interfaces.join(", ")
                )
            };
            bail!("nothing to capture on: {names}; list the interfaces with `ip link` and pick them with -i NAME");
        }
        for name in &opts.interfaces {
            if !w.entries.iter().any(|e| &e.facts.name == name) {
                eprintln!(
                    "dnsleak: interface {} does not exist yet; it is captured when it appears",
                    escape(name)
                );
            }
        }
        // The first captures (and the --write file) are open: give up the rest.
        sandbox::lock_down(&opts.sandbox)?;
        let topology = w.topology();
        w.start_pending();
        let registry = w.registry.clone();
        let (stop_tx, stop_rx) = bounded(1);
        let thread = std::thread::Builder::new()
            .name("interfaces".into())
            .spawn(move || w.run(stop_rx))
            .context("starting the interface watcher thread")?;
        Ok((Live { rx, stop_tx: Some(stop_tx), thread: Some(thread), registry }, topology))
    }

    /// Tells the watcher to close every capture.
    fn stop(&mut self) {
        self.stop_tx.take();
    }

    fn counters(&self) -> Vec<CaptureCounters> {
        let reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        reg.iter()
            .map(|(_, name, s)| CaptureCounters {
                iface: name.clone(),
                received: s.received.load(Ordering::Relaxed),
                dropped_pipeline: s.dropped_pipeline.load(Ordering::Relaxed),
                dropped_kernel: s.dropped_kernel.load(Ordering::Relaxed),
                dropped_iface: s.dropped_iface.load(Ordering::Relaxed),
            })
            .collect()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop();
        while self.rx.recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The pipeline side: core, sink and `--write`, fed from the channel on the caller's thread.
struct Session<'a> {
    pipeline: Pipeline,
    sink: &'a mut dyn Sink,
    writer: Option<(PcapngWriter<BufWriter<File>>, String)>,
    out: Vec<Judged>,
    number: u64,
}

impl Session<'_> {
    fn handle(&mut self, msg: Msg) -> anyhow::Result<()> {
        match msg {
            Msg::Frame(mut f) => {
                self.number += 1;
                f.number = self.number;
                if let Some((w, path)) = &mut self.writer {
                    w.packet(f.iface, f.ts, f.orig_len, &f.data)
                        .with_context(|| format!("writing {path}"))?;
                }
                self.pipeline.process(f.as_ref(), &mut self.out);
            }
            Msg::Topology { topology, ts, ended } => {
                self.write_topology(&topology, &ended)?;
                self.sink.topology(&topology).context("writing output")?;
                self.pipeline.update_topology(topology, ts, &mut self.out);
            }
        }
        self.emit()
    }

    fn emit(&mut self) -> anyhow::Result<()> {
        self.sink.events(&mut self.out, None).context("writing output")
    }

    /// Interface blocks for interfaces new to the file (their id is their index in it), and an
    /// end-of-interface block for each capture that closed.
    fn write_topology(&mut self, topology: &Topology, ended: &[Ended]) -> anyhow::Result<()> {
        let Some((w, path)) = &mut self.writer else { return Ok(()) };
        let max = topology.iter().map(|i| i.id + 1).max().unwrap_or(0);
        for id in w.interfaces()..max {
            let (name, link) = match topology.get(id) {
                Some(i) => (i.name.to_string(), i.facts.link.unwrap_or(LinkType::ETHERNET)),
                None => (format!("if{id}"), LinkType::ETHERNET),
            };
            w.add_interface(&name, link).with_context(|| format!("writing {path}"))?;
        }
        for e in ended {
            let end = IfaceEnd {
                start: Some(e.start),
                end: e.end,
                received: Some(e.received),
                dropped: Some(e.dropped),
            };
            w.interface_end(e.id, end).with_context(|| format!("writing {path}"))?;
        }
        Ok(())
    }

    fn counters(&self, live: &Live) -> Counters {
        Counters { core: self.pipeline.stats(), capture: live.counters(), ..Default::default() }
    }

    fn tick(&mut self, live: &Live) -> anyhow::Result<()> {
        self.pipeline.advance(wall_now());
        self.emit()?;
        if let Some((w, path)) = &mut self.writer {
            w.flush().with_context(|| format!("writing {path}"))?;
        }
        let c = self.counters(live);
        self.sink.counters(&c).context("writing output")
    }
}

/// Creates the `--write` file and its section header.
fn create_writer(path: &Path) -> anyhow::Result<(PcapngWriter<BufWriter<File>>, String)> {
    let name = path.display().to_string();
    let file = File::create(path).map_err(|e| anyhow::anyhow!(privilege::explain_create_error(path, &e)))?;
    let w = PcapngWriter::new(BufWriter::new(file)).with_context(|| format!("writing {name}"))?;
    Ok((w, name))
}

pub fn options(args: &MonitorArgs) -> Options {
    Options {
        interfaces: args.interfaces.clone(),
        overrides: Overrides { tunnel: args.judge.tunnel.clone(), physical: args.judge.physical.clone() },
        sandbox: args.sandbox.options(),
    }
}

/// Captures until `stop` is set (or `--duration` passes), feeding `sink` from the pipeline
/// thread. The dashboard uses this for `monitor` on a terminal.
pub fn capture_into(args: &MonitorArgs, sink: &mut dyn Sink, stop: &AtomicBool) -> anyhow::Result<Counters> {
    // The bundled resolver list plus --doh-list, read before anything starts.
    let config = Config { keep_payload: sink.wants_payload(), ..crate::app::replay::config(&args.judge)? };
    privilege::check()?;
    let writer = args.write.as_deref().map(create_writer).transpose()?;
    let (mut live, topology) = Live::start(options(args))?;
    let deadline = args.duration.map(|s| Instant::now() + Duration::from_secs_f64(s.clamp(0.0, 1e9)));
    sink.topology(&topology).context("writing output")?;
    let mut s = Session {
        pipeline: Pipeline::new(config, Topology::new()),
        sink,
        writer,
        out: Vec::new(),
        number: 0,
    };
    s.write_topology(&topology, &[])?;
    s.pipeline.update_topology(topology, wall_now(), &mut s.out);
    s.emit()?;
    let mut last_tick = Instant::now();
    while !stop.load(Ordering::Acquire) && deadline.is_none_or(|d| Instant::now() < d) {
        match live.rx.recv_timeout(COUNTERS_EVERY / 2) {
            Ok(msg) => s.handle(msg)?,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last_tick.elapsed() >= COUNTERS_EVERY {
            s.tick(&live)?;
            last_tick = Instant::now();
        }
    }
    // Close every capture; what they still held arrives before the channel closes.
    live.stop();
    while let Ok(msg) = live.rx.recv() {
        s.handle(msg)?;
    }
    s.pipeline.finish(&mut s.out);
    s.emit()?;
    if let Some((w, path)) = &mut s.writer {
        w.flush().with_context(|| format!("writing {path}"))?;
    }
    let counters = s.counters(&live);
    s.sink.counters(&counters).context("writing output")?;
    s.sink.finish(&counters).context("writing output")?;
    Ok(counters)
}

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    SIGNALLED.store(true, Ordering::Release);
}

/// SIGINT and SIGTERM set a flag that ends the capture cleanly.
pub fn install_signal_handlers() -> &'static AtomicBool {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
    &SIGNALLED
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::env::var_os("NO_COLOR").is_none() && io::stdout().is_terminal(),
    }
}

/// `dnsleak monitor`.
pub fn monitor(args: &MonitorArgs) -> anyhow::Result<Outcome> {
    // Say what is missing before anything else starts.
    privilege::check()?;
    // The bounding set is per thread: shrink it here, before any thread (the dashboard's UI
    // thread included) starts, so every thread inherits it. The rest is given up once the
    // first captures are open (Live::start).
    sandbox::prepare().context("shrinking the capability bounding set")?;
    if !args.json && !args.no_tui && io::stdout().is_terminal() {
        return crate::tui::monitor(args);
    }
    let stop = install_signal_handlers();
    let started = Instant::now();
    let counters = if args.json {
        let mut sink = crate::output::json::JsonSink::new(io::stdout());
        capture_into(args, &mut sink, stop)?
    } else {
        let mut sink = LinesSink::new(io::stdout(), use_color(args.color));
        capture_into(args, &mut sink, stop)?
    };
    let _ = write!(io::stderr(), "{}", final_summary(&counters, started.elapsed()));
    Ok(Outcome::from_exposures(counters.core.exposures()))
}

/// The summary printed on standard error when a monitor ends.
pub fn final_summary(c: &Counters, elapsed: Duration) -> String {
    use dnsleak_core::{EventKind, Verdict};
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
    let exposed = s.exposures();
    out.push_str(&if exposed > 0 {
        format!("dnsleak: LEAK: {exposed} DNS messages or flows left outside the tunnel\n")
    } else {
        "dnsleak: no leak or bypass seen\n".to_string()
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_compiles_for_every_link_type_we_capture() {
        for link in
            [pcap::Linktype::ETHERNET, pcap::Linktype(12), pcap::Linktype::LINUX_SLL, pcap::Linktype::NULL]
        {
            let dead = Capture::dead(link).expect("a dead capture handle");
            dead.compile(BPF_FILTER, true).unwrap_or_else(|e| panic!("{link:?}: {e}"));
        }
    }

    #[test]
    fn filter_passes_dns_and_fragments_and_drops_https_data() {
        let dead = Capture::dead(pcap::Linktype(12)).unwrap();
        let prog = dead.compile(BPF_FILTER, true).unwrap();
        // IPv4 + UDP to port 53.
        let mut udp53 = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 2, 192, 0, 2, 1];
        udp53.extend_from_slice(&[0xc0, 0x00, 0, 53, 0, 8, 0, 0]);
        assert!(prog.filter(&udp53));
        // A later fragment (offset 185 * 8), no ports visible.
        let mut frag = udp53.clone();
        frag[6] = 0;
        frag[7] = 185;
        frag[20..].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(prog.filter(&frag));
        // TCP from 443 carrying application data (ACK only): filtered out.
        let mut tcp = vec![0x45, 0, 0, 45, 0, 0, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2];
        tcp.extend_from_slice(&[1, 187, 0xc0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 0, 0, 0, 0, 0, 0]);
        tcp.extend_from_slice(&[0x17, 3, 3, 0, 0]);
        assert!(!prog.filter(&tcp));
        // A ClientHello to 443: passes.
        let mut hello = tcp.clone();
        hello[20..24].copy_from_slice(&[0xc0, 0, 1, 187]);
        hello[40] = 0x16;
        assert!(prog.filter(&hello));
    }
}

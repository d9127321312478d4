//! Live capture: one libpcap capture per interface that is up, each on its own thread, handing
//! frames to the caller through one bounded channel (`try_send`: a capture thread never waits;
//! what it cannot hand over it counts). A watcher thread re-reads the interfaces every
//! `RESCAN`, opens captures on new ones, closes vanished ones (after their last frames are in
//! the channel) and sends the new interfaces as a `Fact` through the same channel, so the
//! pipeline sees interface changes in order with the frames.
//!
//! This module only produces: frames, facts, the captures that closed, and diagnostics (an
//! interface that cannot be opened). It prints nothing: while the dashboard owns the terminal
//! a line on standard error would scribble over it, so diagnostics travel in the channel and
//! the consumer shows them. Counters have one writer each: the capture thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use crossbeam_channel::{bounded, never, select, tick, Receiver, Sender, TrySendError};
use pcap::{Active, Capture, Precision};

use super::filter::BPF_FILTER;
use super::os_facts::OsFacts;
use crate::counters::CaptureCounters;
use crate::system::clock::wall_now;
use crate::system::interfaces;
use crate::system::resolver::Options as ResolverOptions;
use dnsleak_core::frame::SNAPLEN;
use dnsleak_core::{Fact, Frame, IfaceFacts, IfaceId, LinkType, Overrides, Topology, Ts};

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
/// After a stop, how long a capture keeps reading for what the kernel captured before it
/// (see `drain`): many periods of the kernel's block timer, whatever its tick.
const DRAIN_WINDOW: Duration = Duration::from_millis(50);
/// Kernel buffer per capture.
const BUFFER_BYTES: i32 = 32 << 20;
/// Vanished interfaces remembered (so late events still have a name).
const MAX_RETIRED: usize = 256;
/// Capture counters kept for ended captures.
const MAX_REGISTRY: usize = 512;

/// What crosses the channel, in order.
pub enum Msg {
    Frame(Frame),
    /// A fact about the machine, true from `ts`: today, the interfaces changed.
    Fact {
        fact: Fact,
        ts: Ts,
    },
    /// Captures that closed (sent right after the fact that says their interface went; their
    /// last frames are before it in the channel).
    Closed(Vec<Ended>),
    /// Something the consumer should say (an interface that cannot be captured).
    Diagnostic(String),
}

/// The LINKTYPE_ number a pcapng file carries for a libpcap DLT_ value (they differ for raw IP).
pub fn linktype_of_dlt(dlt: u32) -> u32 {
    match dlt {
        12 | 14 => LinkType::RAW.0,
        other => other,
    }
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

/// Reads one capture until `stop` is set or the interface goes away; after a stop, drains what
/// the kernel captured before it.
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
    let mut gone = false;
    while !stop.load(Ordering::Acquire) {
        match cap.next_packet() {
            Ok(p) => hand_over(&tx, &stats, id, link, &p),
            // No packet within the timeout, or woken by `breakloop` to stop (libpcap's poll
            // waits for packets, not for the timeout): the loop looks at the flag.
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => {}
            // The interface went away (ENETDOWN, ENXIO): the watcher notices.
            Err(_) => {
                gone = true;
                break;
            }
        }
        if last_stats.elapsed() >= RESCAN {
            kernel_stats(&mut cap, &stats);
            last_stats = Instant::now();
        }
    }
    if !gone {
        if let Ok(mut cap) = cap.setnonblock() {
            drain(&mut cap, &tx, &stats, id, link);
            kernel_stats(&mut cap, &stats);
        }
    }
    stats.done.store(true, Ordering::Release);
}

/// Reads what the kernel captured before a stop (`check` relies on it: its lookups end, then
/// it stops), on a capture put in non-blocking mode (with TPACKET_V3 a blocking read waits for
/// packets with no timeout at all: on a quiet interface it would never return).
///
/// TPACKET_V3 hands packets over a block at a time, when the block is full or when its timer
/// (`READ_TIMEOUT_MS`, rounded up to the kernel's timer tick) retires it; until then the block
/// is the kernel's and a read sees nothing of it. A drain that gave up at the first empty read
/// lost the packets of the last millisecond or so before the stop (the check's race: names
/// that resolved were reported "not seen on the wire"). So the drain keeps looking, a
/// millisecond apart, until a packet stamped at or after the stop arrives (blocks come in
/// order: everything before it was delivered) or `DRAIN_WINDOW`, many timer periods, has
/// passed.
fn drain(cap: &mut Capture<Active>, tx: &Sender<Msg>, stats: &CaptureStats, id: IfaceId, link: LinkType) {
    let stopped = wall_now();
    let deadline = Instant::now() + DRAIN_WINDOW;
    while Instant::now() < deadline {
        match cap.next_packet() {
            Ok(p) => {
                let after = packet_ts(&p) >= stopped;
                hand_over(tx, stats, id, link, &p);
                if after {
                    return;
                }
            }
            // Nothing the kernel has handed over yet: look again once its timer may have.
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => {
                std::thread::park_timeout(Duration::from_millis(1));
            }
            Err(_) => return,
        }
    }
}

fn packet_ts(p: &pcap::Packet<'_>) -> Ts {
    Ts::from_secs_nanos(p.header.ts.tv_sec, p.header.ts.tv_usec as u32)
}

fn hand_over(tx: &Sender<Msg>, stats: &CaptureStats, id: IfaceId, link: LinkType, p: &pcap::Packet<'_>) {
    stats.received.fetch_add(1, Ordering::Relaxed);
    let ts = packet_ts(p);
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
    /// Asks the thread to stop (it drains what the kernel holds, then ends).
    fn signal(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake.breakloop();
    }

    /// Stops the thread and waits until its last frames are in the channel.
    fn close(mut self, id: IfaceId) -> Ended {
        self.signal();
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
    /// Where the resolver configuration is read from; `None`: it is not read.
    pub resolver: Option<ResolverOptions>,
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
                    self.say(format!("cannot capture on {}: {err}; it is not watched", facts.name));
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
                    let text = format!("cannot start a capture thread for {}: {err}", e.facts.name);
                    let _ = self.tx.try_send(Msg::Diagnostic(text));
                }
            }
        }
    }

    /// Queues a diagnostic for the consumer (dropped, like a frame, if the channel is full).
    fn say(&self, text: String) {
        let _ = self.tx.try_send(Msg::Diagnostic(text));
    }

    /// Re-reads the interfaces and says what changed; false when the consumer is gone.
    fn rescan(&mut self) -> bool {
        let (changed, ended) = self.scan();
        if changed {
            let fact = Fact::Interfaces(self.topology());
            if self.tx.send(Msg::Fact { fact, ts: wall_now() }).is_err() {
                return false;
            }
            if !ended.is_empty() && self.tx.send(Msg::Closed(ended)).is_err() {
                return false;
            }
            self.start_pending();
        }
        true
    }

    /// Whether an entry was opened for capture but has no thread yet.
    fn has_pending(&self) -> bool {
        self.entries.iter().any(|e| e.pending.is_some())
    }

    /// The watcher thread: rescan until told to stop, then close every capture. The other
    /// OS facts travel the same way: the resolver configuration when it changes (its own
    /// watcher reads it) and the routes' families when the kernel says routes changed.
    fn run(mut self, stop: Receiver<()>, mut os: OsFacts) {
        let ticks = tick(RESCAN);
        let configs = os.resolver.as_ref().map_or_else(never, |w| w.configs().clone());
        loop {
            select! {
                recv(stop) -> _ => break,
                recv(configs) -> c => {
                    let Ok(c) = c else { continue };
                    if self.tx.send(Msg::Fact { fact: Fact::Resolvers(Box::new(c)), ts: wall_now() }).is_err() {
                        break;
                    }
                }
                recv(ticks) -> _ => {
                    if !self.rescan() || !os.routes_changed(&self.tx) {
                        break;
                    }
                }
            }
        }
        // Every capture drains at once, then each is waited for.
        for e in &mut self.entries {
            e.pending = None;
            if let Some(run) = &e.run {
                run.signal();
            }
        }
        for e in &mut self.entries {
            if let Some(run) = e.run.take() {
                run.close(e.id);
            }
        }
    }
}

/// The running capture machinery; dropping it stops every thread (draining the channel so
/// no thread stays blocked).
pub struct Live {
    rx: Receiver<Msg>,
    stop_tx: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    registry: Registry,
}

/// The first captures, open but not started: between [`Live::open`] and [`Opened::start`] the
/// caller gives up what it no longer needs (`system::sandbox::lock_down`), so every capture
/// thread starts with what is left.
pub struct Opened {
    w: Watcher,
    rx: Receiver<Msg>,
}

impl Live {
    /// Opens the first captures (this needs the privileges); starts nothing.
    pub fn open(opts: Options) -> anyhow::Result<Opened> {
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
                w.say(format!("interface {name} does not exist yet; it is captured when it appears"));
            }
        }
        Ok(Opened { w, rx })
    }
}

impl Opened {
    /// Starts the capture threads and the interface watcher. Returns the first interfaces too
    /// (the caller hands them to the pipeline before any frame).
    pub fn start(self) -> anyhow::Result<(Live, Topology)> {
        let Opened { mut w, rx } = self;
        let topology = w.topology();
        // The first OS facts go ahead of every frame. Read after the lock-down, as every
        // later reading is: what the sandbox refuses shows now.
        let mut os = OsFacts::open(&w.opts);
        os.first(&w.tx);
        w.start_pending();
        let registry = w.registry.clone();
        let (stop_tx, stop_rx) = bounded(1);
        let thread = std::thread::Builder::new()
            .name("interfaces".into())
            .spawn(move || w.run(stop_rx, os))
            .context("starting the interface watcher thread")?;
        Ok((Live { rx, stop_tx: Some(stop_tx), thread: Some(thread), registry }, topology))
    }
}

impl Live {
    /// What the captures sent, in order. After `stop`, the channel closes once every capture
    /// has handed over its last frames.
    pub fn messages(&self) -> &Receiver<Msg> {
        &self.rx
    }

    /// Tells the watcher to close every capture.
    pub fn stop(&mut self) {
        self.stop_tx.take();
    }

    /// Each capture's counters now.
    pub fn counters(&self) -> Vec<CaptureCounters> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ip_dlts_become_the_raw_linktype() {
        assert_eq!(linktype_of_dlt(12), 101);
        assert_eq!(linktype_of_dlt(14), 101);
        assert_eq!(linktype_of_dlt(1), 1);
    }
}

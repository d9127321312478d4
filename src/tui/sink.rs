//! The `Sink` that feeds the dashboard from the pipeline thread.
//!
//! The pipeline never waits on drawing: it appends updates to an `Inbox` whose lock the UI
//! thread holds only to swap the queue out (a pointer swap) at each frame, and applies them to
//! its own model outside the lock. The queue is bounded: past `INBOX_CAP` updates or
//! `INBOX_BYTES` of memory they hold (an event carries its message, up to 64 KiB; a topology
//! one pointer per interface), when the UI is more than a frame behind a flood, the sink waits
//! for the next swap — in replay that only
//! slows reading; in live capture the capture channel then fills and its drops are counted and
//! shown, never silent. With `--speed N` the sink paces events by their capture time.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::model::Model;
use crate::counters::Counters;
use crate::output::Sink;
use dnsleak_core::{Fact, Judged, ResolverConfig, Topology, Ts};

/// Updates queued at most between two frames.
pub const INBOX_CAP: usize = 65_536;
/// Bytes the queued updates may hold between two frames.
pub const INBOX_BYTES: usize = 64 << 20;
/// Longest sleep between checks of the stop flag while pacing or waiting for room.
const STEP: Duration = Duration::from_millis(50);

/// One change for the model.
pub enum Update {
    Event(Box<Judged>, Option<Arc<str>>),
    Topology(Box<Topology>),
    /// The resolver configuration as read now (live).
    Resolvers(Box<ResolverConfig>),
    Counters(Box<Counters>),
    Diagnostic(String),
}

impl Update {
    /// Roughly the memory the update holds.
    fn bytes(&self) -> usize {
        let own = std::mem::size_of::<Update>();
        own + match self {
            Update::Event(j, _) => {
                std::mem::size_of::<Judged>() + j.event.dns().map_or(0, |d| d.payload.len())
            }
            Update::Topology(t) => std::mem::size_of::<Topology>() + t.len() * std::mem::size_of::<usize>(),
            Update::Resolvers(_) => std::mem::size_of::<ResolverConfig>() + 4096,
            Update::Counters(c) => std::mem::size_of::<Counters>() + c.capture.len() * 64,
            Update::Diagnostic(text) => text.capacity(),
        }
    }
}

/// The queued updates and the bytes they hold.
#[derive(Default)]
struct Queue {
    updates: Vec<Update>,
    bytes: usize,
}

/// Updates on their way from the pipeline thread to the UI thread.
#[derive(Default)]
pub struct Inbox {
    queue: Mutex<Queue>,
    room: Condvar,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves every queued update into `model` (the lock is held only for the swap). Returns
    /// whether anything changed.
    pub fn drain_into(&self, model: &mut Model, spare: &mut Vec<Update>) -> bool {
        spare.clear();
        {
            let mut q = self.lock();
            std::mem::swap(&mut q.updates, spare);
            q.bytes = 0;
        }
        self.room.notify_all();
        let changed = !spare.is_empty();
        for u in spare.drain(..) {
            match u {
                Update::Event(j, file) => model.apply_event(&j, file.as_deref()),
                Update::Topology(t) => model.apply_topology(&t),
                Update::Resolvers(c) => model.apply_resolvers(c),
                Update::Counters(c) => model.apply_counters(&c),
                Update::Diagnostic(text) => model.apply_diagnostic(text),
            }
        }
        changed
    }

    pub fn push(&self, u: Update, stop: &AtomicBool) {
        let bytes = u.bytes();
        let mut q = self.lock();
        // One update larger than the whole budget still goes (alone).
        while (q.updates.len() >= INBOX_CAP || (q.bytes + bytes > INBOX_BYTES && !q.updates.is_empty()))
            && !stop.load(Ordering::Relaxed)
        {
            q = match self.room.wait_timeout(q, STEP) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        q.bytes += bytes;
        q.updates.push(u);
    }

    /// Updates queued now and the bytes they hold.
    pub fn queued(&self) -> (usize, usize) {
        let q = self.lock();
        (q.updates.len(), q.bytes)
    }
}

/// Playback at N times capture speed.
struct Pacer {
    speed: f64,
    start: Option<(Ts, Instant)>,
}

pub struct TuiSink {
    inbox: Arc<Inbox>,
    stop: Arc<AtomicBool>,
    /// Return an error from `event` once `stop` is set (replay: ends reading at once).
    abort_on_stop: bool,
    pacer: Option<Pacer>,
    last_file: Option<Arc<str>>,
}

impl TuiSink {
    pub fn new(inbox: Arc<Inbox>, stop: Arc<AtomicBool>, abort_on_stop: bool, speed: Option<f64>) -> Self {
        let pacer = speed.filter(|s| s.is_finite() && *s > 0.0).map(|speed| Pacer { speed, start: None });
        TuiSink { inbox, stop, abort_on_stop, pacer, last_file: None }
    }

    fn stopped(&self) -> io::Result<()> {
        if self.abort_on_stop && self.stop.load(Ordering::Relaxed) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "the dashboard was closed"));
        }
        Ok(())
    }

    /// Sleeps until the capture time `ts` is due at the playback speed.
    fn pace(&mut self, ts: Ts) -> io::Result<()> {
        let Some(pacer) = &mut self.pacer else { return Ok(()) };
        let (t0, w0) = *pacer.start.get_or_insert((ts, Instant::now()));
        let due = Duration::from_secs_f64((ts.since(t0) as f64 / 1e9 / pacer.speed).min(1e9));
        loop {
            let elapsed = w0.elapsed();
            if elapsed >= due || self.stop.load(Ordering::Relaxed) {
                return self.stopped();
            }
            std::thread::sleep((due - elapsed).min(STEP));
        }
    }

    /// The file name as a shared string, allocated once per file.
    fn file(&mut self, file: Option<&str>) -> Option<Arc<str>> {
        let f = file?;
        match &self.last_file {
            Some(last) if **last == *f => Some(last.clone()),
            _ => {
                let a: Arc<str> = Arc::from(f);
                self.last_file = Some(a.clone());
                Some(a)
            }
        }
    }
}

impl Sink for TuiSink {
    fn fact(&mut self, fact: &Fact) -> io::Result<()> {
        match fact {
            Fact::Interfaces(topology) => {
                self.inbox.push(Update::Topology(Box::new(topology.clone())), &self.stop)
            }
            Fact::Resolvers(config) => self.inbox.push(Update::Resolvers(config.clone()), &self.stop),
            _ => {}
        }
        Ok(())
    }

    fn event(&mut self, judged: &Judged, file: Option<&str>) -> io::Result<()> {
        self.stopped()?;
        self.pace(judged.event.ts)?;
        let file = self.file(file);
        self.inbox.push(Update::Event(Box::new(judged.clone()), file), &self.stop);
        Ok(())
    }

    fn counters(&mut self, counters: &Counters) -> io::Result<()> {
        self.inbox.push(Update::Counters(Box::new(counters.clone())), &self.stop);
        Ok(())
    }

    fn finish(&mut self, counters: &Counters) -> io::Result<()> {
        self.counters(counters)
    }

    /// Shown in the dashboard: a line on standard error would scribble over it.
    fn diagnostic(&mut self, text: &str) -> io::Result<()> {
        self.inbox.push(Update::Diagnostic(text.to_string()), &self.stop);
        Ok(())
    }
}

//! The `Sink` that feeds the dashboard's model from the pipeline thread.
//!
//! It never waits on the UI: it takes the model's lock with `try_lock`, and when the UI holds
//! it (only while copying a frame) it keeps what came in a short queue applied at the next
//! call. With `--speed N` it paces events by their capture time instead.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use super::model::{Model, Shared};
use crate::core::{Judged, Topology, Ts};
use crate::output::{Counters, Sink};

/// Beyond this many queued updates the sink waits for the lock (the UI holds it only to draw).
const PENDING_MAX: usize = 4096;
/// Longest sleep between checks of the stop flag while pacing.
const PACE_STEP: Duration = Duration::from_millis(50);

enum Pending {
    Event(Box<Judged>, Option<String>),
    Topology(Box<Topology>),
    Counters(Box<Counters>),
}

/// Playback at N times capture speed.
struct Pacer {
    speed: f64,
    start: Option<(Ts, Instant)>,
}

pub struct TuiSink {
    shared: Arc<Shared>,
    pending: Vec<Pending>,
    stop: Arc<AtomicBool>,
    /// Return an error from `event` once `stop` is set (replay: ends reading at once).
    abort_on_stop: bool,
    pacer: Option<Pacer>,
}

impl TuiSink {
    pub fn new(shared: Arc<Shared>, stop: Arc<AtomicBool>, abort_on_stop: bool, speed: Option<f64>) -> Self {
        let pacer = speed.filter(|s| s.is_finite() && *s > 0.0).map(|speed| Pacer { speed, start: None });
        TuiSink { shared, pending: Vec::new(), stop, abort_on_stop, pacer }
    }

    fn lock(&self, wait: bool) -> Option<MutexGuard<'_, Model>> {
        match self.shared.model.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) if wait => {
                Some(self.shared.model.lock().unwrap_or_else(|p| p.into_inner()))
            }
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Applies `update` (and whatever was queued) now if the lock is free, else queues it.
    fn offer(&mut self, update: Pending) {
        let wait = self.pending.len() >= PENDING_MAX;
        let pending = std::mem::take(&mut self.pending);
        let Some(mut model) = self.lock(wait) else {
            self.pending = pending;
            self.pending.push(update);
            return;
        };
        for p in pending.iter().chain(std::iter::once(&update)) {
            apply(&mut model, p);
        }
    }

    fn flush(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        if let Some(mut model) = self.lock(true) {
            for p in &pending {
                apply(&mut model, p);
            }
        }
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
        let mut flushed = false;
        loop {
            let elapsed = w0.elapsed();
            if elapsed >= due {
                return Ok(());
            }
            if !flushed {
                self.flush();
                flushed = true;
            }
            self.stopped()?;
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            std::thread::sleep((due - elapsed).min(PACE_STEP));
        }
    }
}

fn apply(model: &mut Model, p: &Pending) {
    match p {
        Pending::Event(j, file) => model.apply_event(j, file.as_deref()),
        Pending::Topology(t) => model.apply_topology(t),
        Pending::Counters(c) => model.apply_counters(c),
    }
}

impl Sink for TuiSink {
    fn topology(&mut self, topology: &Topology) -> io::Result<()> {
        self.offer(Pending::Topology(Box::new(topology.clone())));
        Ok(())
    }

    fn event(&mut self, judged: &Judged, file: Option<&str>) -> io::Result<()> {
        self.stopped()?;
        self.pace(judged.event.ts)?;
        if self.pending.is_empty() {
            if let Some(mut model) = self.lock(false) {
                model.apply_event(judged, file);
                return Ok(());
            }
        }
        self.offer(Pending::Event(Box::new(judged.clone()), file.map(str::to_owned)));
        Ok(())
    }

    fn counters(&mut self, counters: &Counters) -> io::Result<()> {
        self.offer(Pending::Counters(Box::new(counters.clone())));
        Ok(())
    }

    fn finish(&mut self, counters: &Counters) -> io::Result<()> {
        self.pending.push(Pending::Counters(Box::new(counters.clone())));
        self.flush();
        Ok(())
    }
}

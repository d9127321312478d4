//! A sink on its own thread: judged events travel to it in batches through a bounded channel,
//! so that writing NDJSON or counting the summary runs beside the pipeline instead of after it
//! on every frame.
//!
//! [`Background`] is itself a [`Sink`]: the pipeline's events are moved into a batch (never
//! cloned) by [`Sink::events`], and a batch is sent when it holds `BATCH` events or
//! `BATCH_BYTES` of messages (an event keeps its DNS message, up to 64 KiB), when the file
//! label changes, and before interface changes, counters and the end, so the sink sees exactly
//! the calls, in exactly the order, it would have seen on the pipeline's thread. The channel
//! holds `DEPTH` batches: a slow sink (a slow terminal, a full pipe) slows reading, and memory
//! stays bounded. When the sink fails (a closed pipe), its thread stops; the next call on this
//! side returns that error, and [`Background::join`] gives the sink back with it.

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::Sink;
use crate::counters::Counters;
use dnsleak_core::{Fact, Judged};

/// Batches in flight.
const DEPTH: usize = 8;
/// Events per batch.
const BATCH: usize = 512;
/// Bytes of DNS messages per batch.
const BATCH_BYTES: usize = 1 << 20;

enum Msg {
    Events(Vec<Judged>, Option<Arc<str>>),
    Fact(Box<Fact>),
    Counters(Box<Counters>),
    Finish(Box<Counters>),
}

/// A sink `S` running on its own thread.
pub struct Background<S: Sink + Send + 'static> {
    tx: Option<Sender<Msg>>,
    /// Emptied batches coming back for reuse.
    spare: Receiver<Vec<Judged>>,
    pending: Vec<Judged>,
    /// Bytes of DNS messages the pending events keep.
    pending_bytes: usize,
    label: Option<Arc<str>>,
    /// What the sink said before it moved to its thread.
    wants_payload: bool,
    thread: Option<JoinHandle<(S, io::Result<()>)>>,
    /// The sink and its result, once its thread has ended.
    done: Option<(S, io::Result<()>)>,
}

impl<S: Sink + Send + 'static> Background<S> {
    pub fn spawn(sink: S) -> io::Result<Self> {
        let (tx, rx) = bounded(DEPTH);
        let (spare_tx, spare) = bounded(DEPTH + 2);
        let wants_payload = sink.wants_payload();
        let thread = std::thread::Builder::new()
            .name("dnsleak-output".into())
            .spawn(move || run(sink, &rx, &spare_tx))?;
        Ok(Background {
            tx: Some(tx),
            spare,
            pending: Vec::with_capacity(BATCH),
            pending_bytes: 0,
            label: None,
            wants_payload,
            thread: Some(thread),
            done: None,
        })
    }

    /// Waits for the sink to take everything sent, and gives it back with its first error.
    pub fn join(mut self) -> (S, io::Result<()>) {
        self.stop();
        self.done.take().expect("the output thread gives its sink back")
    }

    /// Closes the channel and waits for the sink's thread (a panic there goes on here).
    fn stop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(done) => self.done = Some(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    }

    fn send(&mut self, msg: Msg) -> io::Result<()> {
        if let Some(tx) = &self.tx {
            if tx.send(msg).is_ok() {
                return Ok(());
            }
        }
        // The sink's thread stopped on an error: report that error (the original stays with
        // the sink for `join`).
        self.stop();
        Err(match &self.done {
            Some((_, Err(e))) => io::Error::new(e.kind(), e.to_string()),
            _ => io::Error::other("the output has stopped"),
        })
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let next = match self.spare.try_recv() {
            Ok(mut used) => {
                used.clear();
                used
            }
            Err(_) => Vec::with_capacity(BATCH),
        };
        let batch = std::mem::replace(&mut self.pending, next);
        self.pending_bytes = 0;
        self.send(Msg::Events(batch, self.label.clone()))
    }
}

fn payload_len(j: &Judged) -> usize {
    j.event.dns().map_or(0, |d| d.payload.len())
}

/// The sink's thread: applies every message in order until the end or the first error.
fn run<S: Sink>(mut sink: S, rx: &Receiver<Msg>, spare: &Sender<Vec<Judged>>) -> (S, io::Result<()>) {
    for msg in rx {
        let result = match msg {
            Msg::Events(batch, label) => {
                let r = batch.iter().try_for_each(|j| sink.event(j, label.as_deref()));
                // Back whole: the events are dropped on the thread that allocated them (freeing
                // across threads contends for the allocator's locks).
                let _ = spare.try_send(batch);
                r
            }
            Msg::Fact(f) => sink.fact(&f),
            Msg::Counters(c) => sink.counters(&c),
            Msg::Finish(c) => sink.finish(&c),
        };
        if result.is_err() {
            return (sink, result);
        }
    }
    (sink, Ok(()))
}

impl<S: Sink + Send + 'static> Sink for Background<S> {
    fn wants_payload(&self) -> bool {
        self.wants_payload
    }

    fn fact(&mut self, fact: &Fact) -> io::Result<()> {
        self.flush_pending()?;
        self.send(Msg::Fact(Box::new(fact.clone())))
    }

    fn event(&mut self, judged: &Judged, file: Option<&str>) -> io::Result<()> {
        self.events(&mut vec![judged.clone()], file)
    }

    fn events(&mut self, judged: &mut Vec<Judged>, file: Option<&str>) -> io::Result<()> {
        if self.label.as_deref() != file {
            self.flush_pending()?;
            self.label = file.map(Arc::from);
        }
        self.pending_bytes += judged.iter().map(payload_len).sum::<usize>();
        self.pending.append(judged);
        if self.pending.len() >= BATCH || self.pending_bytes >= BATCH_BYTES {
            self.flush_pending()?;
        }
        Ok(())
    }

    fn counters(&mut self, counters: &Counters) -> io::Result<()> {
        self.flush_pending()?;
        self.send(Msg::Counters(Box::new(counters.clone())))
    }

    fn finish(&mut self, counters: &Counters) -> io::Result<()> {
        self.flush_pending()?;
        self.send(Msg::Finish(Box::new(counters.clone())))
    }
}

impl<S: Sink + Send + 'static> Drop for Background<S> {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            // A panic of the sink was already reported by its thread; dropping must not panic.
            let _ = thread.join();
        }
    }
}

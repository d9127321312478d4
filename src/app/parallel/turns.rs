//! NDJSON of several files judged at once, written in file order without holding whole files
//! in memory.
//!
//! The file whose turn it is is written now; a file judged ahead of its turn keeps its lines in
//! a [`Spool`] until its turn comes (then the spool goes out first and the rest of the file
//! follows), or until it is done (then the collecting thread copies it out). A spool keeps
//! `SPOOL_MEMORY` in memory and the rest in a temporary file.
//!
//! With more than one worker, the turn's lines are not written by its worker alone: its events
//! wait in a short queue, in batches, and a worker whose spool is full, or that has no file to
//! judge, formats and writes them (in order: each batch has a sequence number) before it
//! spools any more of its own file. With two workers on files of the same size, the file
//! ahead of its turn would otherwise go whole through its spool (half of all NDJSON through a
//! temporary file); this way one core judges the turn's file while the other writes most of
//! it, and the file ahead is judged (and spilled) only while nothing is queued.
//!
//! The turn passes from a file to the next when the file is written whole; a file whose read
//! failed keeps the turn, so nothing after it is written (as a sequential replay stops there).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::counters::Counters;
use crate::output::json::Lines;
use crate::output::Sink;
use dnsleak_core::{Fact, Judged};

/// The memory of a chunk of lines (handed over to the output or the spool).
const CHUNK: usize = 256 << 10;
/// A chunk is handed over once it holds this much: the line that crosses it, or a batch of
/// `BATCH` lines, fits in what is left (lines average under 1 KiB), so a chunk is not grown,
/// which would copy it and, for one another thread allocated, wait on that thread's heap.
const FULL: usize = CHUNK - (64 << 10);
/// NDJSON a spool keeps in memory before it spills to a temporary file (per file judged ahead
/// of its turn: `replay -j N` keeps at most `N - 1` such files).
pub const SPOOL_MEMORY: usize = 2 << 20;
/// Chunks kept for reuse once written out (fresh memory costs a page fault per page): a
/// spool's memory and the batches being written.
const POOLED: usize = SPOOL_MEMORY / CHUNK + 8;
/// How long a worker with no file to judge waits for the turn's next batch (then it looks for
/// a file again).
const IDLE_WAIT: std::time::Duration = std::time::Duration::from_millis(2);
/// Events of the turn's file per batch in the queue.
const BATCH: usize = 256;

/// The output and whose turn it is.
pub struct Turns<W> {
    out: Mutex<Output<W>>,
    /// Signalled when a batch is written (`Output::next` moves on).
    written: Condvar,
    /// The file whose lines go straight out; changed only while `out` is locked.
    turn: AtomicUsize,
    /// Written-out chunks, for the next spool or batch.
    pool: Mutex<Vec<Vec<u8>>>,
    /// Where spools spill (`TMPDIR`, else /tmp).
    tmp: PathBuf,
    /// The turn's events waiting to be written, when there is more than one worker.
    queue: Option<Mutex<Queue>>,
    /// Signalled when a batch is queued.
    ready: Condvar,
    /// Batches the queue holds before the turn's worker writes the oldest itself.
    depth: usize,
}

/// The output, with the batches written ahead of their turn.
struct Output<W> {
    w: W,
    /// The sequence number of the next batch to write.
    next: u64,
    /// Batches formatted before the ones before them were written.
    /// At most one a worker: a short list, its memory kept (a map would allocate and free a
    /// node each time, and another thread's node means waiting on that thread's heap).
    waiting: Vec<(u64, Vec<u8>)>,
    /// The first write error: nothing more is written, and every writer is told.
    broken: Option<(io::ErrorKind, String)>,
    /// Workers waiting on `written` (a notification is a system call: none when nobody waits).
    waiting_writes: usize,
}

impl<W: Write> Output<W> {
    fn new(w: W) -> Self {
        Output { w, next: 0, waiting: Vec::new(), broken: None, waiting_writes: 0 }
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        if let Some((kind, what)) = &self.broken {
            return Err(io::Error::new(*kind, what.clone()));
        }
        self.w.write_all(b).inspect_err(|e| self.broken = Some((e.kind(), e.to_string())))
    }
}

/// The turn's events, in order.
#[derive(Default)]
struct Queue {
    batches: VecDeque<Batch>,
    /// Sequence numbers given out.
    issued: u64,
    /// Emptied batches (their events are dropped when the batch is reused).
    spare: Vec<Vec<Judged>>,
    /// Workers waiting on `ready` (a notification is a system call: none when nobody waits).
    idle: usize,
}

struct Batch {
    seq: u64,
    events: Vec<Judged>,
    label: Option<Arc<str>>,
}

impl<W: Write> Turns<W> {
    /// The output of `workers` workers.
    pub fn new(out: W, workers: usize) -> Self {
        Turns {
            out: Mutex::new(Output::new(out)),
            written: Condvar::new(),
            turn: AtomicUsize::new(0),
            pool: Mutex::new(Vec::new()),
            tmp: std::env::temp_dir(),
            queue: (workers > 1).then(Mutex::default),
            ready: Condvar::new(),
            depth: 2 * workers + 2,
        }
    }

    /// An empty chunk, reused when one is at hand.
    fn chunk(&self) -> Vec<u8> {
        let reused = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        reused.unwrap_or_else(|| Vec::with_capacity(CHUNK))
    }

    /// Keeps written-out chunks for reuse (up to `POOLED`).
    fn recycle(&self, chunks: impl IntoIterator<Item = Vec<u8>>) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        for mut c in chunks.into_iter().take(POOLED.saturating_sub(pool.len())) {
            c.clear();
            pool.push(c);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Output<W>> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_turn(&self, file: usize) -> bool {
        self.turn.load(Ordering::Acquire) == file
    }

    /// The collecting thread's part: `spool`, the whole of `file`'s lines (its turn has come:
    /// every file before it is written), goes out and the turn passes on (unless the file's
    /// read failed).
    pub fn write_spooled(&self, file: usize, spool: Spool, failed: bool) -> io::Result<()> {
        let mut out = self.lock();
        debug_assert!(self.is_turn(file));
        let chunks = spool.copy_to(&mut out, &self.tmp)?;
        if !failed {
            self.turn.store(file + 1, Ordering::Release);
        }
        drop(out);
        self.recycle(chunks);
        Ok(())
    }

    /// The output, once every file is written.
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|e| e.into_inner()).w
    }

    fn queue(&self) -> Option<MutexGuard<'_, Queue>> {
        self.queue.as_ref().map(|q| q.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// An empty batch for the turn's events.
    fn batch(&self) -> Vec<Judged> {
        let spare = self.queue().and_then(|mut q| q.spare.pop());
        spare.map_or_else(
            || Vec::with_capacity(BATCH),
            |mut b| {
                b.clear();
                b
            },
        )
    }

    /// Queues the turn's `events`; when the queue is full, writes its oldest batch here.
    fn submit(&self, events: Vec<Judged>, label: Option<Arc<str>>, lines: &mut Lines) -> io::Result<()> {
        let (oldest, idle) = {
            let Some(mut q) = self.queue() else { return Ok(()) };
            let seq = q.issued;
            q.issued += 1;
            q.batches.push_back(Batch { seq, events, label });
            ((q.batches.len() > self.depth).then(|| q.batches.pop_front()).flatten(), q.idle > 0)
        };
        if idle {
            self.ready.notify_one();
        }
        match oldest {
            Some(b) => self.write_batch(b, lines),
            None => Ok(()),
        }
    }

    /// Takes the oldest queued batch.
    fn pop(&self) -> Option<Batch> {
        self.queue()?.batches.pop_front()
    }

    /// Formats a batch and writes it in its place.
    fn write_batch(&self, b: Batch, lines: &mut Lines) -> io::Result<()> {
        let mut text = self.chunk();
        for j in &b.events {
            lines.push(&mut text, j, b.label.as_deref());
        }
        if let Some(mut q) = self.queue() {
            if q.spare.len() < self.depth + 2 {
                q.spare.push(b.events);
            }
        }
        let mut out = self.lock();
        if b.seq != out.next {
            out.waiting.push((b.seq, text));
            return Ok(());
        }
        let mut result = out.put(&text);
        let mut done = vec![text];
        out.next += 1;
        loop {
            let next = out.next;
            let Some(at) = out.waiting.iter().position(|(seq, _)| *seq == next) else { break };
            let (_, t) = out.waiting.swap_remove(at);
            result = result.and(out.put(&t));
            done.push(t);
            out.next += 1;
        }
        let waiters = out.waiting_writes > 0;
        drop(out);
        if waiters {
            self.written.notify_all();
        }
        self.recycle(done);
        result
    }

    /// A worker ahead of its turn (`me`), its spool's memory full, writes the turn's queued
    /// batches while there are any (then it judges its own file on, and spills). Waiting for
    /// the next batch instead would leave a core idle whenever judging is slower than writing.
    fn help(&self, me: usize, lines: &mut Lines) -> io::Result<()> {
        while !self.is_turn(me) {
            match self.pop() {
                Some(b) => self.write_batch(b, lines)?,
                None => break,
            }
        }
        Ok(())
    }

    /// A worker with no file to judge (none given out yet, or none left) writes the turn's
    /// next queued batch, when one comes within a moment.
    pub fn help_idle(&self, lines: &mut Lines) -> io::Result<()> {
        let Some(queue) = &self.queue else { return Ok(()) };
        let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.batches.is_empty() {
            q.idle += 1;
            q = self.ready.wait_timeout(q, IDLE_WAIT).unwrap_or_else(|e| e.into_inner()).0;
            q.idle -= 1;
        }
        let Some(b) = q.batches.pop_front() else { return Ok(()) };
        drop(q);
        self.write_batch(b, lines)
    }

    /// The turn's worker at the end of its file: writes what is queued, waits for the batches
    /// other workers are writing, and passes the turn on (unless the read `failed`).
    fn end_turn(&self, file: usize, failed: bool, lines: &mut Lines) -> io::Result<()> {
        let mut result = Ok(());
        while let Some(b) = self.pop() {
            result = result.and(self.write_batch(b, lines));
        }
        let issued = self.queue().map_or(0, |q| q.issued);
        let mut out = self.lock();
        while out.next < issued {
            out.waiting_writes += 1;
            out = self.written.wait(out).unwrap_or_else(|e| e.into_inner());
            out.waiting_writes -= 1;
        }
        if let Some((kind, what)) = &out.broken {
            result = result.and(Err(io::Error::new(*kind, what.clone())));
        }
        // Every batch is back: its events are dropped here, by the thread that made them. The
        // next file's worker would drop them otherwise, and a thread that frees what another
        // allocated waits on that thread's heap (then uses that memory, and so on, file after
        // file).
        if let Some(mut q) = self.queue() {
            q.spare.iter_mut().for_each(Vec::clear);
        }
        if !failed {
            self.turn.store(file + 1, Ordering::Release);
        }
        result
    }
}

/// One file's NDJSON, written by the worker that judges it: the sink of its pipeline.
pub struct FileOut<'a, W> {
    file: usize,
    turns: &'a Turns<W>,
    lines: Lines,
    buf: Vec<u8>,
    spool: Spool,
    /// Its turn came: lines go straight out (or to the queue).
    direct: bool,
    /// The turn's events not yet queued.
    pending: Vec<Judged>,
    label: Option<Arc<str>>,
}

impl<'a, W: Write> FileOut<'a, W> {
    pub fn new(file: usize, turns: &'a Turns<W>) -> Self {
        FileOut {
            file,
            turns,
            lines: Lines::default(),
            buf: Vec::with_capacity(CHUNK),
            spool: Spool::default(),
            direct: false,
            pending: Vec::new(),
            label: None,
        }
    }

    /// Whether its turn has come; when it just came, what was spooled and buffered goes out.
    fn take_turn(&mut self) -> io::Result<bool> {
        if !self.direct && self.turns.is_turn(self.file) {
            let mut out = self.turns.lock();
            let chunks = std::mem::take(&mut self.spool).copy_to(&mut out, &self.turns.tmp)?;
            self.direct = true;
            out.put(&self.buf)?;
            drop(out);
            self.buf.clear();
            self.turns.recycle(chunks);
        }
        Ok(self.direct)
    }

    /// Hands the buffered lines over: straight out once it is this file's turn (after what was
    /// spooled), to the spool before (after helping with the turn's batches once the spool's
    /// memory is full).
    fn hand_over(&mut self) -> io::Result<()> {
        if self.take_turn()? {
            self.turns.lock().put(&self.buf)?;
            self.buf.clear();
            return Ok(());
        }
        if self.spool.in_memory + self.buf.len() > SPOOL_MEMORY {
            self.turns.help(self.file, &mut self.lines)?;
            if self.take_turn()? {
                return self.hand_over();
            }
        }
        let full = std::mem::replace(&mut self.buf, self.turns.chunk());
        self.spool.push(full, &self.turns.tmp)
    }

    /// Queues the pending events of the turn.
    fn submit(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let next = self.turns.batch();
        let events = std::mem::replace(&mut self.pending, next);
        self.turns.submit(events, self.label.clone(), &mut self.lines)
    }

    /// The end of the file (or of what could be read): `None` when its lines are out (and,
    /// unless the read `failed`, the turn passed to the next file), else the spool holding all
    /// of them, for [`Turns::write_spooled`].
    pub fn finish(mut self, failed: bool) -> io::Result<Option<Spool>> {
        self.submit()?;
        self.hand_over()?;
        if !self.direct {
            return Ok(Some(std::mem::take(&mut self.spool)));
        }
        match self.turns.queue {
            Some(_) => self.turns.end_turn(self.file, failed, &mut self.lines)?,
            None if !failed => {
                let _out = self.turns.lock();
                self.turns.turn.store(self.file + 1, Ordering::Release);
            }
            None => {}
        }
        Ok(None)
    }

    fn label(&mut self, file: Option<&str>) -> Option<Arc<str>> {
        if self.label.as_deref() != file {
            self.label = file.map(Arc::from);
        }
        self.label.clone()
    }
}

impl<W: Write> Sink for FileOut<'_, W> {
    fn event(&mut self, judged: &Judged, file: Option<&str>) -> io::Result<()> {
        if self.direct && self.turns.queue.is_some() {
            // In order after the queued batches: one more (a copy: this event is borrowed).
            self.submit()?;
            let label = self.label(file);
            self.pending.push(judged.clone());
            let events = std::mem::take(&mut self.pending);
            return self.turns.submit(events, label, &mut self.lines);
        }
        self.lines.push(&mut self.buf, judged, file);
        if self.buf.len() >= FULL {
            self.hand_over()?;
        }
        Ok(())
    }

    /// The turn's events are queued in batches (moved, not copied) when other workers may
    /// help; otherwise each becomes a line here.
    fn events(&mut self, judged: &mut Vec<Judged>, file: Option<&str>) -> io::Result<()> {
        if judged.is_empty() {
            return Ok(());
        }
        if self.turns.queue.is_some() && self.take_turn()? {
            if self.label.as_deref() != file {
                self.submit()?;
                self.label(file);
            }
            // A run is taken whole (the pipeline gets an empty batch back); a long one (the end
            // of a file settles many events at once) in batches of `BATCH`.
            if self.pending.is_empty() && judged.len() <= BATCH {
                std::mem::swap(&mut self.pending, judged);
            }
            // One pass: draining a batch at a time would move the rest down each time.
            let mut rest = judged.drain(..);
            while rest.len() > 0 {
                let room = BATCH.saturating_sub(self.pending.len()).max(1);
                self.pending.extend(rest.by_ref().take(room));
                if self.pending.len() >= BATCH {
                    self.submit()?;
                }
            }
            if self.pending.len() >= BATCH {
                self.submit()?;
            }
            return Ok(());
        }
        let result = judged.iter().try_for_each(|j| self.event(j, file));
        judged.clear();
        result
    }

    fn fact(&mut self, _: &Fact) -> io::Result<()> {
        Ok(())
    }

    fn counters(&mut self, _: &Counters) -> io::Result<()> {
        Ok(())
    }
}

/// Chunks kept in memory up to `SPOOL_MEMORY` (moved in, never copied), the rest in an unnamed
/// temporary file (gone when closed), to be copied out in order.
#[derive(Default, Debug)]
pub struct Spool {
    memory: Vec<Vec<u8>>,
    in_memory: usize,
    file: Option<BufWriter<File>>,
}

impl Spool {
    /// Keeps `chunk`, past `SPOOL_MEMORY` in an unnamed temporary file in `dir`.
    fn push(&mut self, chunk: Vec<u8>, dir: &Path) -> io::Result<()> {
        if self.file.is_none() && self.in_memory + chunk.len() <= SPOOL_MEMORY {
            self.in_memory += chunk.len();
            self.memory.push(chunk);
            return Ok(());
        }
        if self.file.is_none() {
            let f = tempfile::tempfile_in(dir).map_err(|e| spill_error("create", dir, e))?;
            self.file = Some(BufWriter::with_capacity(CHUNK, f));
        }
        match &mut self.file {
            Some(f) => f.write_all(&chunk).map_err(|e| spill_error("write", dir, e)),
            None => Ok(()),
        }
    }

    /// Writes everything spooled to `out`, in order (`dir`: where `push` spilled, for errors);
    /// gives back the memory chunks (to reuse).
    fn copy_to<W: Write>(self, out: &mut Output<W>, dir: &Path) -> io::Result<Vec<Vec<u8>>> {
        for chunk in &self.memory {
            out.put(chunk)?;
        }
        let mut memory = self.memory;
        if let Some(f) = self.file {
            let mut f = f.into_inner().map_err(|e| spill_error("write", dir, e.into_error()))?;
            f.rewind().map_err(|e| spill_error("read back", dir, e))?;
            // Read back a chunk at a time (`io::copy` of a generic writer goes 8 KiB a read
            // and a write), into memory already written out.
            let mut buf = memory.pop().unwrap_or_default();
            buf.clear();
            buf.reserve(CHUNK);
            loop {
                let n = Read::by_ref(&mut f)
                    .take(CHUNK as u64)
                    .read_to_end(&mut buf)
                    .map_err(|e| spill_error("read back", dir, e))
                    .inspect_err(|e| out.broken = Some((e.kind(), e.to_string())))?;
                if n == 0 {
                    break;
                }
                out.put(&buf)?;
                buf.clear();
            }
            memory.push(buf);
        }
        Ok(memory)
    }
}

/// What failed when a spool spilled, and what to do about it.
fn spill_error(what: &str, dir: &Path, e: io::Error) -> io::Error {
    let why = format!(
        "cannot {what} a temporary file in {} for the NDJSON of a file judged ahead of its turn \
         ({e}): set TMPDIR to a writable directory with room (up to one file's NDJSON per \
         worker), or use -j 1",
        dir.display()
    );
    io::Error::new(e.kind(), why)
}

#[cfg(test)]
mod tests;

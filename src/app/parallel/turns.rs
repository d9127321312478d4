//! NDJSON of several files judged at once, written in file order without waiting: the file
//! whose turn it is writes straight to the output; a file judged ahead of its turn keeps its
//! lines in a [`Spool`] until its turn comes (then the spool goes out first and the rest of
//! the file follows directly), or until it is done (then the collecting thread copies it out).
//!
//! The turn passes from a file to the next when the file is written whole; a file whose read
//! failed keeps the turn, so nothing after it is written (as a sequential replay stops there).

use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Lines are handed over (to the output or the spool) in chunks of this size.
const CHUNK: usize = 256 << 10;
/// NDJSON a spool keeps in memory before it spills to a temporary file.
pub const SPOOL_MEMORY: usize = 32 << 20;
/// Chunks kept for reuse once written out (fresh memory costs a page fault per page: a
/// tenth of `-j 2`'s time went to them and to the temporary file).
const POOLED: usize = SPOOL_MEMORY / CHUNK;

/// The output and whose turn it is.
pub struct Turns<W> {
    out: Mutex<W>,
    /// The file whose lines go straight out; changed only while `out` is locked.
    turn: AtomicUsize,
    /// Written-out chunks, for the next spool.
    pool: Mutex<Vec<Vec<u8>>>,
}

impl<W: Write> Turns<W> {
    pub fn new(out: W) -> Self {
        Turns { out: Mutex::new(out), turn: AtomicUsize::new(0), pool: Mutex::new(Vec::new()) }
    }

    /// An empty chunk, reused when one is at hand.
    fn chunk(&self) -> Vec<u8> {
        let reused = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        reused.unwrap_or_else(|| Vec::with_capacity(CHUNK))
    }

    /// Keeps written-out chunks for reuse (up to `POOLED`).
    fn recycle(&self, chunks: Vec<Vec<u8>>) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        for mut c in chunks.into_iter().take(POOLED.saturating_sub(pool.len())) {
            c.clear();
            pool.push(c);
        }
    }

    fn lock(&self) -> MutexGuard<'_, W> {
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
        let chunks = spool.copy_to(&mut *out)?;
        if !failed {
            self.turn.store(file + 1, Ordering::Release);
        }
        drop(out);
        self.recycle(chunks);
        Ok(())
    }

    /// The output, once every file is written.
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

/// One file's NDJSON, written by the worker that judges it.
pub struct FileOut<'a, W> {
    file: usize,
    turns: &'a Turns<W>,
    buf: Vec<u8>,
    spool: Spool,
    /// Its turn came: lines go straight out.
    direct: bool,
}

impl<'a, W: Write> FileOut<'a, W> {
    pub fn new(file: usize, turns: &'a Turns<W>) -> Self {
        FileOut { file, turns, buf: Vec::with_capacity(CHUNK), spool: Spool::default(), direct: false }
    }

    /// Hands the buffered lines over: straight out once it is this file's turn (after what was
    /// spooled), to the spool before.
    fn hand_over(&mut self) -> io::Result<()> {
        if !self.direct && self.turns.is_turn(self.file) {
            let mut out = self.turns.lock();
            let chunks = std::mem::take(&mut self.spool).copy_to(&mut *out)?;
            self.direct = true;
            out.write_all(&self.buf)?;
            drop(out);
            self.turns.recycle(chunks);
        } else if self.direct {
            self.turns.lock().write_all(&self.buf)?;
        } else {
            let full = std::mem::replace(&mut self.buf, self.turns.chunk());
            return self.spool.push(full);
        }
        self.buf.clear();
        Ok(())
    }

    /// The end of the file (or of what could be read): `None` when its lines are out (and,
    /// unless the read `failed`, the turn passed to the next file), else the spool holding all
    /// of them, for [`Turns::write_spooled`].
    pub fn finish(mut self, failed: bool) -> io::Result<Option<Spool>> {
        self.hand_over()?;
        if !self.direct {
            return Ok(Some(std::mem::take(&mut self.spool)));
        }
        let out = self.turns.lock();
        if !failed {
            self.turns.turn.store(self.file + 1, Ordering::Release);
        }
        drop(out);
        Ok(None)
    }
}

impl<W: Write> Write for FileOut<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.hand_over()?;
        }
        Ok(data.len())
    }

    /// Nothing: the lines are handed over in chunks, and at [`FileOut::finish`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Chunks kept in memory up to `SPOOL_MEMORY` (moved in, never copied), the rest in an unnamed
/// temporary file (gone when closed), to be copied out in order.
#[derive(Default)]
pub struct Spool {
    memory: Vec<Vec<u8>>,
    in_memory: usize,
    file: Option<BufWriter<File>>,
}

impl Spool {
    fn push(&mut self, chunk: Vec<u8>) -> io::Result<()> {
        if self.file.is_none() && self.in_memory + chunk.len() <= SPOOL_MEMORY {
            self.in_memory += chunk.len();
            self.memory.push(chunk);
            return Ok(());
        }
        if self.file.is_none() {
            self.file = Some(BufWriter::with_capacity(CHUNK, tempfile::tempfile()?));
        }
        match &mut self.file {
            Some(f) => f.write_all(&chunk),
            None => Ok(()),
        }
    }

    /// Writes everything spooled to `out`, in order; gives back the memory chunks (to reuse).
    fn copy_to(self, out: &mut impl Write) -> io::Result<Vec<Vec<u8>>> {
        for chunk in &self.memory {
            out.write_all(chunk)?;
        }
        if let Some(f) = self.file {
            let mut f = f.into_inner().map_err(|e| e.into_error())?;
            f.rewind()?;
            io::copy(&mut f, out)?;
        }
        Ok(self.memory)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: usize) -> Vec<u8> {
        format!("{{\"line\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i % 300)).into_bytes()
    }

    #[test]
    fn a_spool_gives_back_what_it_took_in_order_across_the_spill() {
        let mut s = Spool::default();
        let mut want = Vec::new();
        let chunk: Vec<u8> = (0..=255u8).cycle().take(CHUNK).collect();
        for _ in 0..(SPOOL_MEMORY / CHUNK + 5) {
            s.push(chunk.clone()).unwrap();
            want.extend_from_slice(&chunk);
        }
        assert!(s.file.is_some(), "spilled to a file");
        let mut got = Vec::new();
        s.copy_to(&mut got).unwrap();
        assert!(got == want, "{} bytes back of {}", got.len(), want.len());
    }

    /// Three files written at once, interleaved: the output is each file whole, in order; the
    /// second switches to writing straight out when the first is done.
    #[test]
    fn files_come_out_whole_and_in_order_whoever_writes_first() {
        let turns = Turns::new(Vec::new());
        let mut outs: Vec<FileOut<'_, Vec<u8>>> = (0..3).map(|i| FileOut::new(i, &turns)).collect();
        let mut want: [Vec<u8>; 3] = Default::default();
        for i in 0..3000 {
            // The third file writes most, the first least.
            for (f, out) in outs.iter_mut().enumerate() {
                if i % (3 - f) == 0 {
                    let l = line(i * 10 + f);
                    out.write_all(&l).unwrap();
                    want[f].extend_from_slice(&l);
                }
            }
        }
        let mut outs = outs.into_iter();
        let (first, second, third) = (outs.next().unwrap(), outs.next().unwrap(), outs.next().unwrap());
        let third_spool = third.finish(false).unwrap().expect("not its turn: spooled");
        assert!(first.finish(false).unwrap().is_none(), "its turn from the start");
        assert!(second.finish(false).unwrap().is_none(), "its turn came before it ended");
        turns.write_spooled(2, third_spool, false).unwrap();
        assert!(turns.into_inner() == want.concat());
    }

    #[test]
    fn a_failed_file_keeps_the_turn() {
        let turns = Turns::new(Vec::new());
        let mut first = FileOut::new(0, &turns);
        let mut second = FileOut::new(1, &turns);
        first.write_all(b"first\n").unwrap();
        second.write_all(b"second\n").unwrap();
        assert!(first.finish(true).unwrap().is_none());
        let spool = second.finish(false).unwrap();
        assert!(spool.is_some(), "the second file never got the turn");
        assert_eq!(turns.into_inner(), b"first\n");
    }
}

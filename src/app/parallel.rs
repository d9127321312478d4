//! `dnsleak replay -j N FILE...`: files judged on N threads, output in file order.
//!
//! Each file stands alone (its own pipeline, as in a sequential replay), so files can be
//! judged at once. Workers take files in order from a queue; the calling thread takes their
//! results in file order and writes them:
//! - the summary: each worker counts its file into a `SummarySink` of its own, and the
//!   reports are merged in file order (`Report::merge`: the same as one report fed every event
//!   in order while no table overflows);
//! - NDJSON: each worker writes its file's lines into a [`Spool`] (memory up to `SPOOL_MEMORY`,
//!   then an unnamed temporary file), copied to standard output in file order.
//!
//! The output does not depend on N: `-j 1` runs the same code on one worker. Memory is
//! bounded: at most `2 N` files are given out ahead of the one being written (N judged, N
//! waiting), each holding one pipeline and its report or spool. A read error in a file ends
//! the replay after that file's output, as sequentially; files after it are not written and
//! their workers are stopped.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

use super::config::{ReplayConfig, ReplayOutput};
use super::replay::{self, FileDone, FileJob, Summarised};
use crate::capture::reader;
use crate::counters::Counters;
use crate::output::json::JsonSink;
use crate::output::summary::{SummaryOptions, SummarySink};
use crate::output::Sink;
use crate::Outcome;
use dnsleak_core::{Config, Fact, Judged, Overrides};

/// NDJSON a spool keeps in memory before it spills to a temporary file.
const SPOOL_MEMORY: usize = 8 << 20;

/// Whether `cfg` is replayed here: several files that stand alone (no `--continue`), into the
/// summary or NDJSON (the dashboard reads files one after the other; so does `--report`, whose
/// timeline takes every file's events in order).
pub fn applies(cfg: &ReplayConfig) -> bool {
    cfg.files.len() > 1
        && !cfg.carry
        && cfg.report.is_none()
        && !matches!(cfg.output, ReplayOutput::Dashboard { .. })
}

/// What a worker hands back: the file's results and its output.
struct Judged1 {
    done: FileDone,
    out: Out,
}

enum Out {
    Summary(Box<SummarySink>),
    Json(Spool),
}

/// The shared, read-only part of the work.
struct Work<'a> {
    files: &'a [PathBuf],
    config: Config,
    overrides: Overrides,
    json: bool,
    /// Set when the results are no longer wanted (an error, a closed pipe).
    stop: AtomicBool,
}

/// `replay` of several files without `--continue` or `--tui`.
pub fn run(cfg: &ReplayConfig) -> anyhow::Result<Outcome> {
    let json = matches!(cfg.output, ReplayOutput::Json);
    let work = Work {
        files: &cfg.files,
        // The summary never decodes answers; NDJSON does.
        config: cfg.judging.core_for(json),
        overrides: cfg.judging.overrides.clone(),
        json,
        stop: AtomicBool::new(false),
    };
    let jobs = cfg.jobs;
    let mut out = Output::new(json);
    let mut total = Counters::default();
    let result = std::thread::scope(|scope| -> anyhow::Result<()> {
        let (job_tx, job_rx) = bounded::<usize>(cfg.files.len().max(1));
        let (done_tx, done_rx) = unbounded::<(usize, Judged1)>();
        for i in 0..jobs {
            let (rx, tx, work) = (job_rx.clone(), done_tx.clone(), &work);
            std::thread::Builder::new()
                .name(format!("replay-{i}"))
                .spawn_scoped(scope, move || worker(work, &rx, &tx))
                .context("cannot start a replay thread")?;
        }
        drop(done_tx);
        let written = collect(&work, jobs, &job_tx, &done_rx, &mut out, &mut total);
        // Whatever happened, the workers stop taking files and end.
        work.stop.store(true, Ordering::Release);
        drop(job_tx);
        written
    });
    let opts = match cfg.output {
        ReplayOutput::Summary(opts) => Some(opts),
        _ => None,
    };
    out.finish(opts, &total, result.is_err())?;
    result?;
    Ok(Outcome::from_exposures(total.core.exposures()))
}

fn worker(work: &Work, jobs: &Receiver<usize>, done: &Sender<(usize, Judged1)>) {
    for i in jobs {
        if work.stop.load(Ordering::Acquire) {
            return;
        }
        let judged = judge(work, i);
        if done.send((i, judged)).is_err() {
            return;
        }
    }
}

/// One file into a summary or a spool of its own.
fn judge(work: &Work, i: usize) -> Judged1 {
    let path = &work.files[i];
    let name = reader::display_name(path);
    let label = (work.files.len() > 1).then_some(name.as_str());
    // The workers keep the cores busy: each reads its file itself (a reading thread per worker
    // would only add hand-overs).
    let job = FileJob {
        config: &work.config,
        overrides: &work.overrides,
        label,
        quiet: true,
        read_ahead: false,
        hash: false,
    };
    let base = Counters::default();
    if work.json {
        let mut sink = Stoppable { sink: JsonSink::new(Spool::default()), stop: &work.stop };
        let mut done = replay::judge_one(path, &job, &mut sink, &base);
        let mut spool = sink.sink.into_inner();
        if let Err(e) = spool.flush() {
            done.result = done.result.and(Err(e).context("writing NDJSON to a temporary file"));
        }
        Judged1 { done, out: Out::Json(spool) }
    } else {
        let mut sink = Stoppable { sink: SummarySink::new(), stop: &work.stop };
        let done = replay::judge_one(path, &job, &mut sink, &base);
        Judged1 { done, out: Out::Summary(Box::new(sink.sink)) }
    }
}

/// Gives out files (at most `2 jobs` ahead of the one written) and writes results in order.
fn collect(
    work: &Work,
    jobs: usize,
    job_tx: &Sender<usize>,
    done_rx: &Receiver<(usize, Judged1)>,
    out: &mut Output,
    total: &mut Counters,
) -> anyhow::Result<()> {
    let n = work.files.len();
    let ahead = 2 * jobs;
    let mut given = 0;
    let mut waiting: BTreeMap<usize, Judged1> = BTreeMap::new();
    for next in 0..n {
        while given < n && given < next + ahead {
            job_tx.send(given).context("the replay threads stopped")?;
            given += 1;
        }
        let judged = loop {
            if let Some(j) = waiting.remove(&next) {
                break j;
            }
            let (i, j) = done_rx.recv().context("a replay thread stopped before its file was judged")?;
            waiting.insert(i, j);
        };
        total.core.add(&judged.done.stats);
        total.bytes_read += judged.done.bytes_read;
        out.run.sources.extend(judged.done.source);
        out.run.notes.extend(judged.done.notes);
        out.write(judged.out)?;
        judged.done.result?;
    }
    Ok(())
}

/// Where results go, in file order.
struct Output {
    summary: Option<SummarySink>,
    stdout: BufWriter<io::Stdout>,
    run: Summarised,
}

impl Output {
    fn new(json: bool) -> Output {
        Output {
            summary: (!json).then(SummarySink::new),
            stdout: BufWriter::with_capacity(256 << 10, io::stdout()),
            run: Summarised::default(),
        }
    }

    fn write(&mut self, out: Out) -> anyhow::Result<()> {
        match (out, &mut self.summary) {
            (Out::Summary(s), Some(all)) => all.merge(&s),
            (Out::Json(spool), _) => spool.copy_to(&mut self.stdout)?,
            (Out::Summary(_), None) => {}
        }
        Ok(())
    }

    /// The summary (also after an error, when something was read), or the NDJSON's end.
    fn finish(mut self, opts: Option<SummaryOptions>, total: &Counters, failed: bool) -> anyhow::Result<()> {
        let (Some(mut summary), Some(opts)) = (self.summary.take(), opts) else {
            return Ok(self.stdout.flush()?);
        };
        summary.finish(total)?;
        if failed {
            self.run.notes.push(replay::ENDED_EARLY.into());
        }
        self.run.render(&summary, &opts, !failed)?;
        Ok(())
    }
}

/// A sink that fails once the replay no longer wants its file (the read then stops).
struct Stoppable<'a, S> {
    sink: S,
    stop: &'a AtomicBool,
}

impl<S: Sink> Stoppable<'_, S> {
    fn check(&self) -> io::Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "the replay stopped"));
        }
        Ok(())
    }
}

impl<S: Sink> Sink for Stoppable<'_, S> {
    fn fact(&mut self, fact: &Fact) -> io::Result<()> {
        self.sink.fact(fact)
    }
    fn wants_payload(&self) -> bool {
        self.sink.wants_payload()
    }
    fn event(&mut self, judged: &Judged, file: Option<&str>) -> io::Result<()> {
        self.sink.event(judged, file)
    }
    fn events(&mut self, judged: &mut Vec<Judged>, file: Option<&str>) -> io::Result<()> {
        self.check()?;
        self.sink.events(judged, file)
    }
    fn counters(&mut self, counters: &Counters) -> io::Result<()> {
        self.check()?;
        self.sink.counters(counters)
    }
    fn diagnostic(&mut self, text: &str) -> io::Result<()> {
        self.sink.diagnostic(text)
    }
}

/// Bytes kept in memory up to `SPOOL_MEMORY`, the rest in an unnamed temporary file (gone
/// when closed), to be copied out in order.
#[derive(Default)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<BufWriter<File>>,
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.file.is_none() && self.memory.len() + buf.len() <= SPOOL_MEMORY {
            self.memory.extend_from_slice(buf);
            return Ok(buf.len());
        }
        if self.file.is_none() {
            self.file = Some(BufWriter::with_capacity(256 << 10, tempfile::tempfile()?));
        }
        self.file.as_mut().map_or(Ok(0), |f| f.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl Spool {
    /// Writes everything spooled to `out`, in order.
    pub fn copy_to(self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(&self.memory)?;
        if let Some(f) = self.file {
            let mut f = f.into_inner().map_err(|e| e.into_error())?;
            f.rewind()?;
            io::copy(&mut f, out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_gives_back_what_it_took_in_order_across_the_spill() {
        let mut s = Spool::default();
        let line: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut want = Vec::new();
        for _ in 0..(SPOOL_MEMORY / 1000 + 50) {
            s.write_all(&line).unwrap();
            want.extend_from_slice(&line);
        }
        assert!(s.file.is_some(), "spilled to a file");
        s.flush().unwrap();
        let mut got = Vec::new();
        s.copy_to(&mut got).unwrap();
        assert!(got == want, "{} bytes back of {}", got.len(), want.len());
    }
}

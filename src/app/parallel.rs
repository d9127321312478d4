//! `dnsleak replay -j N FILE...`: files judged on N threads, output in file order.
//!
//! Each file stands alone (its own pipeline, as in a sequential replay), so files can be
//! judged at once. Workers take files in order from a queue; the calling thread takes their
//! results in file order:
//! - the summary: each worker counts its file into a `SummarySink` of its own, and the
//!   reports are merged in file order (`Report::merge`: the same as one report fed every event
//!   in order while no table overflows);
//! - NDJSON: the worker judging the file whose turn it is writes its lines straight to standard
//!   output; the others keep theirs in a spool (memory, then an unnamed temporary file) until
//!   their turn comes, or until they are done, when the calling thread copies them out
//!   ([`turns`]).
//!
//! On a terminal, one progress bar stands for all the files: the workers count what they read
//! into it, the calling thread the files written.
//!
//! The output does not depend on N: `-j 1` runs the same code on one worker. Memory is
//! bounded: at most `2 N` files are given out ahead of the one being written (N judged, N
//! waiting), each holding one pipeline and its report or spool. A read error in a file ends
//! the replay after that file's output, as sequentially; files after it are not written and
//! their workers are stopped.

mod turns;

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender, TryRecvError};

use self::turns::{FileOut, Spool, Turns};
use super::config::{ReplayConfig, ReplayOutput};
use super::replay::progress::Progress;
use super::replay::{self, FileDone, FileJob, Summarised};
use crate::capture::reader;
use crate::counters::Counters;
use crate::output::json::Lines;
use crate::output::summary::{SummaryOptions, SummarySink};
use crate::output::Sink;
use crate::Outcome;
use dnsleak_core::{Config, Fact, Judged, Overrides};

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
    /// NDJSON: written out already (`None`), or all of it spooled.
    Json(Option<Spool>),
}

/// The shared part of the work.
struct Work<'a, W> {
    files: &'a [PathBuf],
    config: Config,
    overrides: Overrides,
    /// NDJSON: the output, and whose turn it is to write.
    json: Option<Turns<W>>,
    /// Set when the results are no longer wanted (an error, a closed pipe).
    stop: AtomicBool,
    /// The progress bar, on a terminal.
    progress: Option<Progress>,
}

/// `replay` of several files without `--continue` or `--tui`, to standard output.
pub fn run(cfg: &ReplayConfig) -> anyhow::Result<Outcome> {
    match cfg.output {
        ReplayOutput::Summary(_) => run_to(cfg, BufWriter::with_capacity(256 << 10, io::stdout())),
        // NDJSON goes out in chunks of whole lines: standard output's line buffer passes each
        // straight to the kernel, where a `BufWriter` would copy every one that is smaller than
        // its buffer (the queued batches are) into it first.
        _ => run_to(cfg, io::stdout()),
    }
}

/// As [`run`], writing to `out`.
pub fn run_to<W: Write + Send>(cfg: &ReplayConfig, out: W) -> anyhow::Result<Outcome> {
    let summary = match cfg.output {
        ReplayOutput::Summary(opts) => Some(opts),
        _ => None,
    };
    let (json, mut out) = match summary {
        None => (Some(Turns::new(out, cfg.jobs)), None),
        Some(_) => (None, Some(out)),
    };
    let work = Work {
        files: &cfg.files,
        // The summary never decodes answers; NDJSON does.
        config: cfg.judging.core_for(json.is_some()),
        overrides: cfg.judging.overrides.clone(),
        json,
        stop: AtomicBool::new(false),
        progress: Progress::new(cfg.quiet, &cfg.files),
    };
    let mut results = Results::new();
    let result = std::thread::scope(|scope| -> anyhow::Result<()> {
        let (job_tx, job_rx) = bounded::<usize>(cfg.files.len().max(1));
        let (done_tx, done_rx) = unbounded::<(usize, Judged1)>();
        for i in 0..cfg.jobs {
            let (rx, tx, work) = (job_rx.clone(), done_tx.clone(), &work);
            std::thread::Builder::new()
                .name(format!("replay-{i}"))
                .spawn_scoped(scope, move || worker(work, &rx, &tx))
                .context("cannot start a replay thread")?;
        }
        drop(done_tx);
        let written = collect(&work, cfg.jobs, &job_tx, &done_rx, &mut results);
        // Whatever happened, the workers stop taking files and end.
        work.stop.store(true, Ordering::Release);
        drop(job_tx);
        written
    });
    if let Some(p) = &work.progress {
        p.finish();
    }
    let failed = result.is_err();
    match (work.json, &mut out, summary) {
        (Some(turns), _, _) => {
            // The final `stats` line, as the NDJSON of one file after another ends.
            let mut w = turns.into_inner();
            crate::output::stats_line::write(&mut w, &results.total, true)?;
            w.flush()?
        }
        (None, Some(w), Some(opts)) => results.render(w, opts, failed)?,
        _ => {}
    }
    result?;
    Ok(Outcome::of(&results.total))
}

fn worker<W: Write>(work: &Work<W>, jobs: &Receiver<usize>, done: &Sender<(usize, Judged1)>) {
    let mut lines = Lines::default();
    loop {
        let i = match (jobs.try_recv(), &work.json) {
            (Ok(i), _) => i,
            (Err(TryRecvError::Empty), Some(turns)) if !work.stop.load(Ordering::Acquire) => {
                // No file to judge yet, or none left: help write the turn's file. A write
                // error there reaches the turn's file, which reports it.
                let _ = turns.help_idle(&mut lines);
                continue;
            }
            (Err(TryRecvError::Empty), None) => match jobs.recv() {
                Ok(i) => i,
                Err(_) => return,
            },
            (Err(_), _) => return,
        };
        if work.stop.load(Ordering::Acquire) {
            return;
        }
        let judged = judge(work, i);
        if done.send((i, judged)).is_err() {
            return;
        }
    }
}

/// One file into a summary of its own, or NDJSON (straight out when its turn comes).
fn judge<W: Write>(work: &Work<W>, i: usize) -> Judged1 {
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
        progress: work.progress.as_ref(),
    };
    let base = Counters::default();
    if let Some(turns) = &work.json {
        let mut sink = Stoppable { sink: FileOut::new(i, turns), stop: &work.stop };
        let mut done = replay::judge_one(path, &job, &mut sink, &base);
        let spool = match sink.sink.finish(done.result.is_err()) {
            Ok(spool) => spool,
            Err(e) => {
                if done.result.is_ok() {
                    done.result = Err(e).context("writing NDJSON");
                }
                None
            }
        };
        Judged1 { done, out: Out::Json(spool) }
    } else {
        let mut sink = Stoppable { sink: SummarySink::new(), stop: &work.stop };
        let done = replay::judge_one(path, &job, &mut sink, &base);
        Judged1 { done, out: Out::Summary(Box::new(sink.sink)) }
    }
}

/// Gives out files (at most `2 jobs` ahead of the one written) and takes results in order.
fn collect<W: Write>(
    work: &Work<W>,
    jobs: usize,
    job_tx: &Sender<usize>,
    done_rx: &Receiver<(usize, Judged1)>,
    results: &mut Results,
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
        let failed = judged.done.result.is_err();
        match (judged.out, &work.json) {
            (Out::Json(Some(spool)), Some(turns)) => turns.write_spooled(next, spool, failed)?,
            (Out::Summary(s), None) => results.summary.merge(&s),
            _ => {}
        }
        results.add(judged.done)?;
        if let Some(p) = &work.progress {
            p.file_written();
        }
    }
    Ok(())
}

/// What the files gave, in file order: counters, the summary's lines.
struct Results {
    summary: SummarySink,
    total: Counters,
    run: Summarised,
}

impl Results {
    fn new() -> Results {
        Results { summary: SummarySink::new(), total: Counters::default(), run: Summarised::default() }
    }

    /// Adds a file's counters and lines; its read error ends the replay.
    fn add(&mut self, done: FileDone) -> anyhow::Result<()> {
        self.total.core.add(&done.stats);
        if done.stats.unjudged() > 0 {
            self.total.incomplete_files.push(done.input.name.clone());
        }
        self.total.bytes_read += done.bytes_read;
        self.total.order.add(&done.order);
        self.run.sources.extend(done.source);
        self.run.notes.extend(done.notes);
        done.result
    }

    /// The summary (also after an error, when something was read).
    fn render(&mut self, w: &mut dyn Write, opts: SummaryOptions, failed: bool) -> anyhow::Result<()> {
        self.summary.finish(&self.total)?;
        if failed {
            self.run.notes.push(replay::ENDED_EARLY.into());
        }
        self.run.render(w, &self.summary, &opts, !failed)?;
        Ok(w.flush()?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{ColorChoice, JudgeArgs, ReplayArgs};
    use crate::output::json::JsonSink;

    fn fixtures() -> Vec<PathBuf> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "pcapng"))
            .collect();
        v.sort();
        v
    }

    fn config(files: &[PathBuf], json: bool, jobs: u16) -> ReplayConfig {
        let args = ReplayArgs {
            files: files.to_vec(),
            judge: JudgeArgs::default(),
            json,
            tui: false,
            speed: None,
            top: 10,
            color: ColorChoice::Never,
            quiet: true,
            jobs: Some(jobs),
            continue_: false,
            report: None,
        };
        ReplayConfig::new(&args).unwrap()
    }

    /// The summary of files judged on several threads and merged is the summary of the same
    /// files judged one after the other on one thread (`replay::summary`, a single file's path),
    /// byte for byte; and so is the NDJSON (`replay::judge_files`).
    #[test]
    fn judged_apart_and_merged_is_judged_one_after_another() {
        let mut files = fixtures();
        assert!(files.len() >= 8, "{files:?}");
        files.extend(fixtures().into_iter().rev().take(3));
        let cfg = config(&files, false, 1);
        let ReplayOutput::Summary(opts) = cfg.output else { panic!("a summary") };
        let mut sequential = Vec::new();
        let want = replay::summary(&cfg, opts, &mut sequential).unwrap();
        for jobs in [1, 2, 3] {
            let mut parallel = Vec::new();
            let got = run_to(&config(&files, false, jobs), &mut parallel).unwrap();
            assert_eq!(got, want, "-j {jobs}: exit status");
            assert!(
                parallel == sequential,
                "-j {jobs}:\n{}\n--- one after another:\n{}",
                String::from_utf8_lossy(&parallel),
                String::from_utf8_lossy(&sequential)
            );
        }
        let cfg = config(&files, true, 1);
        let mut sequential = Vec::new();
        replay::judge_files(&cfg, &mut JsonSink::new(&mut sequential)).unwrap();
        for jobs in [1, 2, 3] {
            let mut parallel = Vec::new();
            run_to(&config(&files, true, jobs), &mut parallel).unwrap();
            assert!(parallel == sequential, "-j {jobs}: NDJSON differs");
        }
    }
}

//! Replay: capture files through the core, into the summary, NDJSON or the dashboard.
//!
//! Each file gets its own pipeline (interface ids, TCP streams and trace time are per file);
//! counters add up across files. With `--continue` the files are one rotated capture: one
//! pipeline is carried through them in name order. Several files that stand alone are judged
//! on every core by `app::parallel`, which runs [`judge_one`] on each. A read error stops at
//! the record that failed: every event before it has reached the sink, the counters include
//! it, and the error names the file and the byte offset.

use std::io;
use std::path::Path;

use anyhow::{bail, Context};

use super::config::{ReplayConfig, ReplayOutput};
use crate::capture::reader;
use crate::cli::ReplayArgs;
use crate::counters::{Counters, OrderCounters};
use crate::output::background::Background;
use crate::output::html::{Collector, HtmlReport, InputFile};
use crate::output::json::JsonSink;
use crate::output::summary::{Source, SummaryOptions, SummarySink};
use crate::output::{Sink, Tee};
use crate::system::clock::wall_now;
use crate::Outcome;
use dnsleak_core::{Config, Overrides, Stats};

/// Frames between progress and counter updates.
const TICK_FRAMES: u64 = 8192;

mod file;
pub(crate) mod progress;
#[cfg(test)]
mod tests;

use file::{Judging, OneFile};
use progress::Progress;

/// `dnsleak replay`.
pub fn run(args: &ReplayArgs) -> anyhow::Result<Outcome> {
    let cfg = ReplayConfig::new(args)?;
    // Several files that stand alone are judged on every core, written in file order.
    if super::parallel::applies(&cfg) {
        return super::parallel::run(&cfg);
    }
    match cfg.output {
        ReplayOutput::Summary(opts) => summary(&cfg, opts, &mut io::stdout().lock()),
        ReplayOutput::Json => json(&cfg),
        ReplayOutput::Dashboard { speed, after } => dashboard(cfg, speed, after),
    }
}

/// NDJSON on standard output. Writing it costs more than judging: it runs on a thread of its
/// own.
fn json(cfg: &ReplayConfig) -> anyhow::Result<Outcome> {
    let sink = JsonSink::new(io::BufWriter::with_capacity(256 << 10, io::stdout()));
    let mut sink = Background::spawn(sink).context("cannot start the output thread")?;
    let result = judge_inner(cfg, &mut sink, &mut Vec::new(), &mut Vec::new());
    let (_, written) = sink.join();
    let counters = result?;
    written?;
    Ok(Outcome::of(&counters))
}

/// The summary a person reads, written to `w`. Its counting is cheap: it stays on this thread
/// (a thread of its own would wait on the channel more than it works).
pub(crate) fn summary(
    cfg: &ReplayConfig,
    opts: SummaryOptions,
    w: &mut dyn io::Write,
) -> anyhow::Result<Outcome> {
    let mut sink = SummarySink::new();
    let mut run = Summarised::default();
    let result = judge_inner(cfg, &mut sink, &mut run.sources, &mut run.notes);
    if result.is_err() {
        run.notes.push(ENDED_EARLY.into());
    }
    run.render(w, &sink, &opts, result.is_ok())?;
    let counters = result?;
    Ok(Outcome::of(&counters))
}

/// The summary's note when a file could not be read to its end.
pub(crate) const ENDED_EARLY: &str =
    "the input ended early with an error (below): what was read before it is counted above.";

/// What the summary says beside the counts: the files and notes about them.
#[derive(Default)]
pub(crate) struct Summarised {
    pub sources: Vec<Source>,
    pub notes: Vec<String>,
}

impl Summarised {
    pub fn render(
        &self,
        w: &mut dyn io::Write,
        sink: &SummarySink,
        opts: &SummaryOptions,
        read_whole: bool,
    ) -> io::Result<()> {
        // A summary of nothing (no file could be read at all) would only hide the error.
        if read_whole || self.sources.iter().any(|s| s.interfaces > 0) {
            sink.render(w, opts, &self.sources, &self.notes)?;
        }
        Ok(())
    }
}

/// `replay --tui`: the dashboard over the files; once it closes, the summary of what was read
/// (what `replay` without `--tui` prints).
fn dashboard(cfg: ReplayConfig, speed: Option<f64>, after: SummaryOptions) -> anyhow::Result<Outcome> {
    let files: Vec<String> = cfg
        .files
        .iter()
        .map(|f| f.file_name().map_or_else(|| f.display().to_string(), |n| n.to_string_lossy().into_owned()))
        .collect();
    let source = crate::tui::app::Source::Replay { files: files.join(","), speed };
    let closed = crate::tui::run(source, speed, move |sink, _stop| {
        let mut summary = SummarySink::new();
        let mut run = Summarised::default();
        let result = judge_inner(&cfg, &mut Tee(sink, &mut summary), &mut run.sources, &mut run.notes);
        match result {
            Ok(_) => Ok((summary, run)),
            // Closed before the end: what was read is summarised.
            Err(e) if is_interrupted(&e) => {
                let note = "the dashboard was closed before the input was read to its end: what was read is counted above.";
                run.notes.push(note.into());
                Ok((summary, run))
            }
            // The dashboard shows the error; it is said again once the terminal is restored.
            Err(e) => Err(e),
        }
    })?;
    let Some(result) = closed.result else {
        bail!("the replay did not stop within a few seconds of closing the dashboard; its summary is lost")
    };
    let (sink, run) = result?;
    run.render(&mut io::stdout().lock(), &sink, &after, true)?;
    Ok(if closed.exposures > 0 { Outcome::Exposed } else { Outcome::of(&sink.counters) })
}

/// Whether judging stopped because the dashboard was closed (its sink says `Interrupted`).
fn is_interrupted(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::Interrupted))
}

/// Reads every file of `cfg` through the pipeline into `sink`, in order. Returns the final
/// counters; an error names the file and the byte offset or record where reading failed,
/// after every event before it reached the sink.
pub fn judge_files(cfg: &ReplayConfig, sink: &mut dyn Sink) -> anyhow::Result<Counters> {
    judge_inner(cfg, sink, &mut Vec::new(), &mut Vec::new())
}

fn judge_inner(
    cfg: &ReplayConfig,
    sink: &mut dyn Sink,
    sources: &mut Vec<Source>,
    notes: &mut Vec<String>,
) -> anyhow::Result<Counters> {
    let mut report = cfg.report.as_deref().map(HtmlReport::replay).transpose()?;
    let config = cfg.judging.core_for(sink.wants_payload());
    let several = cfg.files.len() > 1;
    let mut total = Counters::default();
    let mut result = Ok(());
    // --continue: one pipeline (and time order) through every file, settled after the last one.
    let mut carried = Judging::default();
    let mut settled = false;
    let mut carried_lost = 0;
    let mut read = 0;
    // Several files: one bar for all of them (one file has its own).
    let progress = several.then(|| Progress::new(cfg.quiet, &cfg.files)).flatten();
    for (i, path) in cfg.files.iter().enumerate() {
        read += 1;
        let name = reader::display_name(path);
        let job = FileJob {
            config: &config,
            overrides: &cfg.judging.overrides,
            label: several.then_some(&name),
            quiet: cfg.quiet || several,
            read_ahead: true,
            hash: report.is_some(),
            progress: progress.as_ref(),
        };
        let mut sink = reported(&mut *sink, &mut report);
        let done = if cfg.carry {
            let last = i + 1 == cfg.files.len();
            let (done, now) = judge_one_carried(path, &job, &mut sink, &total, &mut carried, last);
            settled |= now;
            // One pipeline through the files: the file that made its unjudged losses grow.
            let lost = carried.stats().unjudged();
            incomplete_in(&mut total, &name, std::mem::replace(&mut carried_lost, lost), lost);
            done
        } else {
            let done = judge_one(path, &job, &mut sink, &total);
            total.core.add(&done.stats);
            total.order.add(&done.order);
            incomplete_in(&mut total, &name, 0, done.stats.unjudged());
            done
        };
        total.bytes_read += done.bytes_read;
        sources.extend(done.source);
        notes.extend(done.notes);
        result = done.result;
        if let Some(r) = &mut report {
            // A carried pipeline goes on into the next file: so does what the report knows of
            // its interfaces.
            r.input_read(done.input, !cfg.carry);
        }
        if let Some(p) = &progress {
            p.file_written();
        }
        if result.is_err() {
            break;
        }
    }
    if let Some(p) = &progress {
        p.finish();
    }
    if let Some(r) = &mut report {
        // The files after an error are listed, not read.
        for path in &cfg.files[read..] {
            r.input_read(InputFile::not_read(reader::display_name(path)), true);
        }
    }
    if cfg.carry {
        if !settled {
            // A file that could not be opened ended the run before the pipeline was settled.
            let mut out = Vec::new();
            carried.settle(&mut out);
            reported(&mut *sink, &mut report).events(&mut out, None)?;
        }
        total.core = carried.stats();
        total.order = carried.order();
    }
    reported(&mut *sink, &mut report).finish(&total)?;
    if let Some(r) = report {
        r.write(notes.clone(), result.as_ref().err(), wall_now())?;
    }
    result.map(|()| total)
}

/// Names the file in `total.incomplete_files` when judging it dropped something before it was
/// judged (the unjudged losses went from `before` to `after`).
fn incomplete_in(total: &mut Counters, name: &str, before: u64, after: u64) {
    if after > before {
        total.incomplete_files.push(name.to_string());
    }
}

/// What one file is judged with.
pub(crate) struct FileJob<'a> {
    pub config: &'a Config,
    pub overrides: &'a Overrides,
    /// The name NDJSON gives the file (when several are replayed).
    pub label: Option<&'a str>,
    pub quiet: bool,
    /// Read the file on a thread of its own (not when every core already judges a file).
    pub read_ahead: bool,
    /// Hash the file as it is read (for `--report`'s audit trail).
    pub hash: bool,
    /// The one progress bar of several files, where the file counts what it reads (its own
    /// bar is off then: `quiet`).
    pub progress: Option<&'a Progress>,
}

/// What judging one file gave: its counters, its line in the summary and notes (when it could
/// be opened), and how the read ended.
pub(crate) struct FileDone {
    pub stats: Stats,
    pub bytes_read: u64,
    /// What the time-order stage did (files of several interfaces).
    pub order: OrderCounters,
    pub source: Option<Source>,
    pub notes: Vec<String>,
    /// The file's row in the report's audit trail (size and SHA-256 when `FileJob::hash`).
    pub input: InputFile,
    pub result: anyhow::Result<()>,
}

/// `sink` with the report's collector beside it (when `--report` was given).
fn reported<'a>(
    sink: &'a mut dyn Sink,
    report: &'a mut Option<HtmlReport>,
) -> Tee<&'a mut dyn Sink, Option<&'a mut Collector>> {
    Tee(sink, report.as_mut().map(|r| &mut r.collector))
}

/// One file through a pipeline of its own into `sink` (`total`: the counters before it, for
/// progress). The parallel replay runs this on several files at once.
pub(crate) fn judge_one(path: &Path, job: &FileJob, sink: &mut dyn Sink, total: &Counters) -> FileDone {
    let mut one = OneFile::new(job);
    let result = one.read(path, sink, total);
    one.done(path, result)
}

/// As [`judge_one`] with the pipeline and the frames held for time order `carried` from the
/// file before (`--continue`); they are settled after the `last` file (or a read error: then
/// this says true) and left in `carried`.
fn judge_one_carried(
    path: &Path,
    job: &FileJob,
    sink: &mut dyn Sink,
    total: &Counters,
    carried: &mut Judging,
    last: bool,
) -> (FileDone, bool) {
    let mut one = OneFile::new(job);
    one.judging = std::mem::take(carried);
    one.settle = last;
    let result = one.read(path, sink, total);
    *carried = std::mem::take(&mut one.judging);
    let settled = one.settled;
    (one.done(path, result), settled)
}

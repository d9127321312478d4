//! Replay: capture files through the core, into the summary, NDJSON or the dashboard.
//!
//! Each file gets its own pipeline (interface ids, TCP streams and trace time are per file);
//! counters add up across files. With `--continue` the files are one rotated capture: one
//! pipeline is carried through them in name order. Several files that stand alone are judged
//! on every core by `app::parallel`, which runs [`judge_one`] on each. A read error stops at
//! the record that failed: every event before it has reached the sink, the counters include
//! it, and the error names the file and the byte offset.

use std::io::{self, IsTerminal};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::config::{ReplayConfig, ReplayOutput};
use crate::capture::reader::{self, CaptureReader, FileDigest, FileIface, Format, Input, ReadSummary};
use crate::cli::ReplayArgs;
use crate::counters::Counters;
use crate::output::background::Background;
use crate::output::html::{Collector, HtmlReport, InputFile};
use crate::output::json::JsonSink;
use crate::output::summary::{Source, SummaryOptions, SummarySink};
use crate::output::{Sink, Tee};
use crate::system::clock::wall_now;
use crate::Outcome;
use dnsleak_core::process::note;
use dnsleak_core::{Config, Fact, IfaceId, IfaceKind, Judged, Overrides, Pipeline, Stats, Topology};

/// Frames between progress and counter updates.
const TICK_FRAMES: u64 = 8192;

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
    // --continue: one pipeline through every file, settled after the last one.
    let mut carried: Option<Pipeline> = None;
    let mut settled = false;
    let mut carried_lost = 0;
    let mut read = 0;
    for (i, path) in cfg.files.iter().enumerate() {
        read += 1;
        let name = reader::display_name(path);
        let job = FileJob {
            config: &config,
            overrides: &cfg.judging.overrides,
            label: several.then_some(&name),
            quiet: cfg.quiet,
            read_ahead: true,
            hash: report.is_some(),
        };
        let mut sink = reported(&mut *sink, &mut report);
        let done = if cfg.carry {
            let last = i + 1 == cfg.files.len();
            let (done, now) = judge_one_carried(path, &job, &mut sink, &total, &mut carried, last);
            settled |= now;
            // One pipeline through the files: the file that made its unjudged losses grow.
            let lost = carried.as_ref().map_or(0, |p| p.stats().unjudged());
            incomplete_in(&mut total, &name, std::mem::replace(&mut carried_lost, lost), lost);
            done
        } else {
            let done = judge_one(path, &job, &mut sink, &total);
            total.core.add(&done.stats);
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
        if result.is_err() {
            break;
        }
    }
    if let Some(r) = &mut report {
        // The files after an error are listed, not read.
        for path in &cfg.files[read..] {
            r.input_read(InputFile::not_read(reader::display_name(path)), true);
        }
    }
    if let Some(mut p) = carried.take() {
        if !settled {
            // A file that could not be opened ended the run before the pipeline was settled.
            let mut out = Vec::new();
            p.finish(&mut out);
            reported(&mut *sink, &mut report).events(&mut out, None)?;
        }
        total.core = p.stats();
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
}

/// What judging one file gave: its counters, its line in the summary and notes (when it could
/// be opened), and how the read ended.
pub(crate) struct FileDone {
    pub stats: Stats,
    pub bytes_read: u64,
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

/// As [`judge_one`] with the pipeline `carried` from the file before (`--continue`); the
/// pipeline is settled after the `last` file (or a read error: then this says true) and left
/// in `carried`.
fn judge_one_carried(
    path: &Path,
    job: &FileJob,
    sink: &mut dyn Sink,
    total: &Counters,
    carried: &mut Option<Pipeline>,
    last: bool,
) -> (FileDone, bool) {
    let mut one = OneFile::new(job);
    one.pipeline = carried.take();
    one.settle = last;
    let result = one.read(path, sink, total);
    *carried = one.pipeline.take();
    let settled = one.settled;
    (one.done(path, result), settled)
}

/// One file through one pipeline.
struct OneFile<'a> {
    config: Config,
    overrides: &'a Overrides,
    label: Option<&'a str>,
    quiet: bool,
    pipeline: Option<Pipeline>,
    out: Vec<Judged>,
    summary: Option<ReadSummary>,
    bytes_read: u64,
    /// The file could be opened (it gets a line in the summary).
    opened: bool,
    /// The file's interfaces as last described, and packets read (also when a read fails).
    ifaces: Vec<FileIface>,
    packets: u64,
    /// The core's view of `ifaces`, kept up to date change by change.
    topology: Topology,
    /// Whether the pipeline is settled at the end (always but for `--continue`'s files before
    /// the last), and whether it was.
    settle: bool,
    settled: bool,
    /// Whether the file is read on a thread of its own.
    read_ahead: bool,
    /// Compute the file's SHA-256 as it is read (for `--report`), and what that gave.
    hash: bool,
    digest: Option<std::io::Result<FileDigest>>,
}

impl<'a> OneFile<'a> {
    fn new(job: &FileJob<'a>) -> Self {
        OneFile {
            config: job.config.clone(),
            overrides: job.overrides,
            label: job.label,
            quiet: job.quiet,
            pipeline: None,
            out: Vec::new(),
            summary: None,
            bytes_read: 0,
            opened: false,
            ifaces: Vec::new(),
            packets: 0,
            topology: Topology::new(),
            settle: true,
            settled: false,
            read_ahead: job.read_ahead,
            hash: job.hash,
            digest: None,
        }
    }

    /// The file's results once read.
    fn done(&self, path: &Path, result: anyhow::Result<()>) -> FileDone {
        let name = reader::display_name(path);
        FileDone {
            stats: self.stats(),
            bytes_read: self.bytes_read,
            source: self.opened.then(|| self.source(&name)),
            notes: if self.opened {
                default_notes(&self.ifaces, self.overrides, self.label)
            } else {
                Vec::new()
            },
            input: self.input_file(&name, path),
            result,
        }
    }

    fn stats(&self) -> Stats {
        self.pipeline.as_ref().map(Pipeline::stats).unwrap_or_default()
    }

    fn read(&mut self, path: &Path, sink: &mut dyn Sink, total: &Counters) -> anyhow::Result<()> {
        let rdr = if self.hash { CaptureReader::open_hashed(path)? } else { CaptureReader::open(path)? };
        self.opened = true;
        let digest = rdr.digest();
        let progress = rdr.progress();
        let bar = progress_bar(self.quiet, rdr.total_bytes());
        let started = Instant::now();
        let mut frames = 0u64;
        let read_ahead = self.read_ahead;
        let body = |input: Input<'_>| {
            self.input(input, sink)?;
            frames += 1;
            if frames % TICK_FRAMES == 0 {
                let mut c = total.clone();
                c.core.add(&self.stats());
                c.bytes_read += progress.bytes();
                sink.counters(&c)?;
                if let Some(bar) = &bar {
                    tick(bar, progress.bytes(), c.core.frames, started.elapsed());
                }
            }
            Ok(())
        };
        // Read on a thread of its own, beside the pipeline; `replay -j` reads in its workers.
        let read = if read_ahead { crate::capture::ahead::for_each(rdr, body) } else { rdr.for_each(body) };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        self.bytes_read = progress.bytes();
        self.digest = digest.map(|d| d.finish(path));
        let flushed = self.flush_end(sink, read.is_err());
        match read {
            Ok(summary) => {
                self.summary = Some(summary);
                flushed
            }
            Err(e) => Err(e),
        }
    }

    fn input(&mut self, input: Input<'_>, sink: &mut dyn Sink) -> anyhow::Result<()> {
        match input {
            Input::Interfaces { ifaces, changed, ts } => {
                // The file's interface blocks become the same fact live capture reads from the
                // OS. What changed is applied, not every interface: a file may declare
                // thousands, and a copy of the topology shares what did not change.
                for i in changed.iter().filter_map(|&id| ifaces.get(id as usize)) {
                    self.topology.upsert(i.id, i.facts(), self.overrides);
                }
                let fact = Fact::Interfaces(self.topology.clone());
                sink.fact(&fact)?;
                match (&mut self.pipeline, fact) {
                    (Some(p), fact) => p.apply(fact, ts, &mut self.out),
                    (None, Fact::Interfaces(topology)) => {
                        self.pipeline = Some(Pipeline::new(self.config.clone(), topology))
                    }
                    (None, _) => {}
                }
                self.summary_ifaces(ifaces, changed);
            }
            Input::Frame(frame) => {
                self.packets += 1;
                if let Some(p) = &mut self.pipeline {
                    p.process(frame, &mut self.out);
                }
            }
            // Who sent the next frame's message, as dnsleak recorded it when it wrote the file.
            Input::Note { text, ts } => {
                if let (Some(p), Some(r)) = (&mut self.pipeline, note::parse(text)) {
                    p.apply(Fact::Recorded(r), ts, &mut self.out);
                }
            }
        }
        self.drain(sink)
    }

    /// Keeps the interfaces for the summary's notes even when the read fails later.
    fn summary_ifaces(&mut self, ifaces: &[FileIface], changed: &[IfaceId]) {
        for i in changed.iter().filter_map(|&id| ifaces.get(id as usize)) {
            let len = self.ifaces.len();
            match self.ifaces.get_mut(i.id as usize) {
                Some(slot) => *slot = i.clone(),
                None if i.id as usize == len => self.ifaces.push(i.clone()),
                None => {}
            }
        }
    }

    fn source(&self, name: &str) -> Source {
        match &self.summary {
            Some(s) => source(name, s),
            None => Source {
                name: name.to_string(),
                format: "read stopped early".into(),
                packets: self.packets,
                interfaces: self.ifaces.len(),
            },
        }
    }

    /// The file for the report's audit trail: what `source` says, and its size and SHA-256.
    fn input_file(&self, name: &str, path: &Path) -> InputFile {
        let source = self.source(name);
        let mut file = InputFile {
            name: source.name,
            format: source.format,
            packets: source.packets,
            ..Default::default()
        };
        match &self.digest {
            Some(Ok(d)) => {
                file.size = Some(d.bytes);
                file.sha256 = Some(d.hex());
                if !d.whole {
                    file.note = Some(format!(
                        "the SHA-256 of the first {} bytes only: the read stopped there, and standard input cannot be read again",
                        d.bytes
                    ));
                }
            }
            Some(Err(e)) => {
                file.note = Some(format!("not hashed: reading {} again failed: {e}", path.display()))
            }
            None if !self.opened => file.format = "could not be opened".into(),
            None => {}
        }
        file
    }

    fn drain(&mut self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        Ok(sink.events(&mut self.out, self.label)?)
    }

    /// End of the file (or of what could be read): pending queries and streams are settled
    /// (with `--continue`, only after the last file or a read error).
    fn flush_end(&mut self, sink: &mut dyn Sink, failed: bool) -> anyhow::Result<()> {
        if self.settle || failed {
            if let Some(p) = &mut self.pipeline {
                p.finish(&mut self.out);
                self.settled = true;
            }
        }
        self.drain(sink)
    }
}

fn progress_bar(quiet: bool, total: Option<u64>) -> Option<ProgressBar> {
    if quiet || !io::stderr().is_terminal() {
        return None;
    }
    let bar = match total {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let template = if total.is_some() {
        "{bar:30} {bytes}/{total_bytes} {msg} ({eta})"
    } else {
        "{spinner} {bytes} read {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    Some(bar)
}

fn tick(bar: &ProgressBar, bytes: u64, frames: u64, elapsed: Duration) {
    bar.set_position(bytes);
    let secs = elapsed.as_secs_f64().max(1e-3);
    bar.set_message(format!("{frames} packets, {:.0} packets/s", frames as f64 / secs));
}

fn source(name: &str, s: &ReadSummary) -> Source {
    let mut format = match s.format {
        Format::Pcap { nanos: false, big_endian: false } => "pcap".to_string(),
        Format::Pcap { nanos, big_endian } => format!(
            "pcap{}{}",
            if nanos { ", nanoseconds" } else { "" },
            if big_endian { ", big-endian" } else { "" }
        ),
        Format::Pcapng => "pcapng".to_string(),
    };
    if s.gzip {
        format.push_str(", gzip");
    }
    Source { name: name.to_string(), format, packets: s.packets, interfaces: s.ifaces.len() }
}

/// Says how an interface the file did not name was judged.
fn default_notes(ifaces: &[FileIface], overrides: &Overrides, file: Option<&str>) -> Vec<String> {
    let topology = reader::topology_of(ifaces, overrides);
    ifaces
        .iter()
        .filter(|i| !i.named)
        .filter(|i| !overrides.tunnel.contains(&i.name) && !overrides.physical.contains(&i.name))
        .take(4)
        .map(|i| {
            let kind = topology.get(i.id).map_or(IfaceKind::Other, |t| t.kind);
            format!(
                "{}the file does not name its interface, so it is called {} and judged {} from its link type ({}); say --tunnel {} or --physical {} if it is not.",
                file.map_or(String::new(), |f| format!("{}: ", crate::output::escape::escape(f))),
                i.name,
                kind.as_str(),
                i.link.name(),
                i.name,
                i.name
            )
        })
        .collect()
}

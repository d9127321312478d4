//! One capture file through one pipeline (or, with `--continue`, through the pipeline the file
//! before it left), with the time-order stage for files of several interfaces.

use std::io::{self, IsTerminal};
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget};

use super::progress::{self, Progress};
use super::{FileDone, FileJob, TICK_FRAMES};
use crate::capture::order::{self, TimeOrder};
use crate::capture::reader::{self, CaptureReader, FileDigest, FileIface, Format, Input, ReadSummary};
use crate::counters::{Counters, OrderCounters};
use crate::output::html::InputFile;
use crate::output::summary::Source;
use crate::output::Sink;
use dnsleak_core::process::note;
use dnsleak_core::{Config, Fact, IfaceId, IfaceKind, Judged, Overrides, Pipeline, Stats, Topology, Ts};

/// Judged events handed to the sink at once (a sink that takes a run whole moves no event).
const RUN: usize = 256;

/// What judges the frames, and what `--continue` carries from one file of a rotated capture
/// into the next: the pipeline; the frames the time-order stage still holds (an interface's
/// batch can straddle the boundary between two files, and the capture judged as one file would
/// sort them in); and the interfaces as the pipeline knows them (each file describes them
/// again: only what differs is a change, and a barrier for the time order).
#[derive(Default)]
pub(super) struct Judging {
    pipeline: Option<Pipeline>,
    /// Puts frames back in time order once the file describes more than one interface
    /// (dumpcap writes each interface's packets in batches); `None` for one interface.
    order: Option<TimeOrder>,
    /// The core's view of `known`, kept up to date change by change.
    topology: Topology,
    /// The interfaces as the pipeline was last told of them.
    known: Vec<FileIface>,
}

impl Judging {
    pub(super) fn stats(&self) -> Stats {
        self.pipeline.as_ref().map(Pipeline::stats).unwrap_or_default()
    }

    /// What the time-order stage did (nothing for a file of one interface).
    pub(super) fn order(&self) -> OrderCounters {
        self.order.as_ref().map(TimeOrder::counters).unwrap_or_default()
    }

    /// End of input: the frames still held are judged and the pipeline is settled, into `out`.
    pub(super) fn settle(&mut self, out: &mut Vec<Judged>) {
        if let Some(o) = &mut self.order {
            o.flush();
        }
        self.judge_released(out);
        if let Some(p) = &mut self.pipeline {
            p.finish(out);
        }
    }

    /// Judges the frames the time-order stage has released.
    fn judge_released(&mut self, out: &mut Vec<Judged>) {
        if let (Some(o), Some(p)) = (&mut self.order, &mut self.pipeline) {
            for f in o.released() {
                p.process(f.as_ref(), out);
            }
        }
    }
}

/// One file through one pipeline.
pub(super) struct OneFile<'a> {
    config: Config,
    overrides: &'a Overrides,
    label: Option<&'a str>,
    quiet: bool,
    pub(super) judging: Judging,
    out: Vec<Judged>,
    summary: Option<ReadSummary>,
    bytes_read: u64,
    /// The file could be opened (it gets a line in the summary).
    opened: bool,
    /// The file's interfaces as last described, and packets read (also when a read fails).
    ifaces: Vec<FileIface>,
    packets: u64,
    /// Whether the pipeline is settled at the end (always but for `--continue`'s files before
    /// the last), and whether it was.
    pub(super) settle: bool,
    pub(super) settled: bool,
    /// Whether the file is read on a thread of its own.
    read_ahead: bool,
    /// Compute the file's SHA-256 as it is read (for `--report`), and what that gave.
    hash: bool,
    digest: Option<std::io::Result<FileDigest>>,
    /// The bar of several files, and what this file added to it (bytes, packets).
    progress: Option<&'a Progress>,
    counted: (u64, u64),
}

impl<'a> OneFile<'a> {
    pub(super) fn new(job: &FileJob<'a>) -> Self {
        OneFile {
            config: job.config.clone(),
            overrides: job.overrides,
            label: job.label,
            quiet: job.quiet,
            judging: Judging::default(),
            out: Vec::new(),
            summary: None,
            bytes_read: 0,
            opened: false,
            ifaces: Vec::new(),
            packets: 0,
            settle: true,
            settled: false,
            read_ahead: job.read_ahead,
            hash: job.hash,
            digest: None,
            progress: job.progress,
            counted: (0, 0),
        }
    }

    /// The file's results once read.
    pub(super) fn done(&self, path: &Path, result: anyhow::Result<()>) -> FileDone {
        let name = reader::display_name(path);
        FileDone {
            stats: self.stats(),
            bytes_read: self.bytes_read,
            order: self.judging.order(),
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
        self.judging.stats()
    }

    pub(super) fn read(&mut self, path: &Path, sink: &mut dyn Sink, total: &Counters) -> anyhow::Result<()> {
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
                self.drain(sink)?;
                let mut c = total.clone();
                c.core.add(&self.stats());
                c.bytes_read += progress.bytes();
                sink.counters(&c)?;
                if let Some(bar) = &bar {
                    tick(bar, progress.bytes(), c.core.frames, started.elapsed());
                }
                self.count_read(progress.bytes());
            }
            Ok(())
        };
        // Read on a thread of its own, beside the pipeline; `replay -j` reads in its workers.
        let read = if read_ahead { crate::capture::ahead::for_each(rdr, body) } else { rdr.for_each(body) };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        self.bytes_read = progress.bytes();
        self.count_read(self.bytes_read);
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

    /// Adds what was read since the last time to the bar of several files (`bytes`: read so
    /// far).
    fn count_read(&mut self, bytes: u64) {
        if let Some(r) = self.progress {
            let (b, p) = self.counted;
            r.add(bytes.saturating_sub(b), self.packets.saturating_sub(p));
            self.counted = (bytes, self.packets);
        }
    }

    fn input(&mut self, input: Input<'_>, sink: &mut dyn Sink) -> anyhow::Result<()> {
        match input {
            Input::Interfaces { ifaces, changed, ts } => {
                remember(&mut self.ifaces, ifaces, changed);
                self.interfaces(ifaces, changed, ts, sink)?;
            }
            Input::Frame(frame) => {
                self.packets += 1;
                let j = &mut self.judging;
                match (&mut j.order, &mut j.pipeline) {
                    (Some(o), Some(_)) => {
                        o.push_ref(frame);
                        j.judge_released(&mut self.out);
                    }
                    (None, Some(p)) => p.process(frame, &mut self.out),
                    (_, None) => {}
                }
            }
            // Who sent the next frame's message, as dnsleak recorded it when it wrote the file.
            Input::Note { text, ts } => {
                if let (Some(p), Some(r)) = (&mut self.judging.pipeline, note::parse(text)) {
                    p.apply(Fact::Recorded(r), ts, &mut self.out);
                }
            }
        }
        self.drain_at(sink, false)
    }

    /// The file described interfaces (`changed`, as of `ts`): what differs from what the
    /// pipeline knows becomes the same fact live capture reads from the OS.
    fn interfaces(
        &mut self,
        ifaces: &[FileIface],
        changed: &[IfaceId],
        ts: Ts,
        sink: &mut dyn Sink,
    ) -> anyhow::Result<()> {
        let j = &mut self.judging;
        // The next file of a rotated capture describes the same interfaces again: that is no
        // change (a barrier here would judge the held frames before the capture as one file
        // would).
        let changed: Vec<IfaceId> = changed
            .iter()
            .copied()
            .filter(|&id| ifaces.get(id as usize) != j.known.get(id as usize))
            .collect();
        if changed.is_empty() && j.pipeline.is_some() {
            return Ok(());
        }
        remember(&mut j.known, ifaces, &changed);
        // What was seen before the change is judged and handed on first, in time order.
        if let Some(o) = &mut j.order {
            o.barrier(ts);
        }
        j.judge_released(&mut self.out);
        sink.events(&mut self.out, self.label)?;
        if ifaces.len() > 1 && j.order.is_none() {
            j.order = Some(TimeOrder::new(order::FILE_WINDOW));
        }
        // What changed is applied, not every interface: a file may declare thousands, and a
        // copy of the topology shares what did not change.
        for i in changed.iter().filter_map(|&id| ifaces.get(id as usize)) {
            j.topology.upsert(i.id, i.facts(), self.overrides);
        }
        let fact = Fact::Interfaces(j.topology.clone());
        sink.fact(&fact)?;
        match (&mut j.pipeline, fact) {
            (Some(p), fact) => p.apply(fact, ts, &mut self.out),
            (None, Fact::Interfaces(topology)) => {
                j.pipeline = Some(Pipeline::new(self.config.clone(), topology))
            }
            (None, _) => {}
        }
        Ok(())
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

    /// Hands the judged events on once there are `RUN` of them (a sink that takes runs whole
    /// then moves no event), or all of them when `all`.
    fn drain_at(&mut self, sink: &mut dyn Sink, all: bool) -> anyhow::Result<()> {
        if all || self.out.len() >= RUN {
            sink.events(&mut self.out, self.label)?;
        }
        Ok(())
    }

    fn drain(&mut self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        self.drain_at(sink, true)
    }

    /// End of the file (or of what could be read): pending queries and streams are settled
    /// (with `--continue`, only after the last file or a read error).
    fn flush_end(&mut self, sink: &mut dyn Sink, failed: bool) -> anyhow::Result<()> {
        // With `--continue`, the frames still held wait for the next file's.
        if (self.settle || failed) && self.judging.pipeline.is_some() {
            self.judging.settle(&mut self.out);
            self.settled = true;
        }
        self.drain(sink)
    }
}

/// Keeps `list` (interfaces by id) up to date with the `changed` ones of `ifaces`.
fn remember(list: &mut Vec<FileIface>, ifaces: &[FileIface], changed: &[IfaceId]) {
    for i in changed.iter().filter_map(|&id| ifaces.get(id as usize)) {
        let len = list.len();
        match list.get_mut(i.id as usize) {
            Some(slot) => *slot = i.clone(),
            None if i.id as usize == len => list.push(i.clone()),
            None => {}
        }
    }
}

fn progress_bar(quiet: bool, total: Option<u64>) -> Option<ProgressBar> {
    if quiet || !io::stderr().is_terminal() {
        return None;
    }
    Some(progress::bar(ProgressDrawTarget::stderr(), total))
}

fn tick(bar: &ProgressBar, bytes: u64, frames: u64, elapsed: Duration) {
    bar.set_position(bytes);
    bar.set_message(progress::packets(frames, elapsed));
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

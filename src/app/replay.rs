//! Replay: capture files through the core, into the summary, NDJSON or the dashboard.
//!
//! Each file gets its own pipeline (interface ids, TCP streams and trace time are per file);
//! counters add up across files. A read error stops at the record that failed: every event
//! before it has reached the sink, the counters include it, and the error names the file and
//! the byte offset.

use std::io::{self, IsTerminal};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::capture::reader::{self, CaptureReader, FileIface, Format, Input, ReadSummary};
use crate::cli::{ColorChoice, JudgeArgs, ReplayArgs};
use crate::output::background::Background;
use crate::output::json::JsonSink;
use crate::output::summary::{Source, SummaryOptions, SummarySink};
use crate::output::{Counters, Sink};
use crate::Outcome;
use dnsleak_core::resolvers::ResolverDb;
use dnsleak_core::{Config, IfaceKind, Judged, Overrides, Pipeline, Stats, Topology};

/// See `config`.
const REPLAY_MAX_TCP_FLOWS: usize = 4096;
/// Frames between progress and counter updates.
const TICK_FRAMES: u64 = 8192;

pub fn run(args: &ReplayArgs) -> anyhow::Result<Outcome> {
    if args.tui {
        return crate::tui::replay(args);
    }
    if args.json {
        // Writing NDJSON costs more than judging: it runs on a thread of its own.
        let sink = JsonSink::new(io::BufWriter::with_capacity(256 << 10, io::stdout()));
        let mut sink = Background::spawn(sink).context("cannot start the output thread")?;
        let result = judge_inner(args, &mut sink, &mut Vec::new(), &mut Vec::new());
        let (_, written) = sink.join();
        let counters = result?;
        written?;
        return Ok(Outcome::from_exposures(counters.core.exposures()));
    }
    // The summary's counting is cheap: it stays on this thread (a thread of its own would wait
    // on the channel more than it works).
    let mut sink = SummarySink::new();
    let mut sources = Vec::new();
    let mut notes = Vec::new();
    let result = judge_inner(args, &mut sink, &mut sources, &mut notes);
    let opts = SummaryOptions { top: args.top, color: use_color(args.color) };
    if result.is_err() {
        notes.push(
            "the input ended early with an error (below): what was read before it is counted above.".into(),
        );
    }
    // A summary of nothing (no file could be read at all) would only hide the error.
    if result.is_ok() || sources.iter().any(|s| s.interfaces > 0) {
        sink.render(&mut io::stdout().lock(), &opts, &sources, &notes)?;
    }
    let counters = result?;
    Ok(Outcome::from_exposures(counters.core.exposures()))
}

/// Colour on a terminal unless NO_COLOR is set, or as `--color` says.
pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

/// Reads every file of `args` through the pipeline into `sink`, in order. The dashboard's
/// `replay --tui` uses this too. Returns the final counters; an error names the file and the
/// byte offset or record where reading failed, after every event before it reached the sink.
pub fn judge_files(args: &ReplayArgs, sink: &mut dyn Sink) -> anyhow::Result<Counters> {
    judge_inner(args, sink, &mut Vec::new(), &mut Vec::new())
}

/// The pipeline configuration for `args`: the bundled resolver list plus `--doh-list`.
pub fn config(judge: &JudgeArgs) -> anyhow::Result<Config> {
    let mut config = Config::new();
    // DNS-over-TCP flows held at once: a file can hold any number of flows that never close,
    // and memory must stay flat; 4096 concurrent flows is far beyond a client's needs.
    config.tcp.max_flows = config.tcp.max_flows.min(REPLAY_MAX_TCP_FLOWS);
    if let Some(path) = &judge.doh_list {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the DoH list {}", path.display()))?;
        config.resolvers = with_doh_list(config.resolvers, &text)
            .with_context(|| format!("in the DoH list {}", path.display()))?;
    }
    Ok(config)
}

/// The bundled list plus the user's `--doh-list` entries (`host [provider]` a line).
fn with_doh_list(mut db: ResolverDb, text: &str) -> anyhow::Result<ResolverDb> {
    db.add_user_list(text)?;
    Ok(db)
}

fn judge_inner(
    args: &ReplayArgs,
    sink: &mut dyn Sink,
    sources: &mut Vec<Source>,
    notes: &mut Vec<String>,
) -> anyhow::Result<Counters> {
    let config = Config { keep_payload: sink.wants_payload(), ..config(&args.judge)? };
    let overrides = Overrides { tunnel: args.judge.tunnel.clone(), physical: args.judge.physical.clone() };
    let several = args.files.len() > 1;
    let mut total = Counters::default();
    let mut result = Ok(());
    for path in &args.files {
        let name = reader::display_name(path);
        let label = several.then_some(name.as_str());
        let mut one = OneFile::new(config.clone(), &overrides, label, args.quiet);
        result = one.read(path, sink, &total);
        total.core.add(&one.stats());
        total.bytes_read += one.bytes_read;
        if one.opened {
            sources.push(one.source(&name));
            notes.extend(default_notes(&one.ifaces, &overrides, several.then_some(name.as_str())));
        }
        if result.is_err() {
            break;
        }
    }
    sink.finish(&total)?;
    result.map(|()| total)
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
}

impl<'a> OneFile<'a> {
    fn new(config: Config, overrides: &'a Overrides, label: Option<&'a str>, quiet: bool) -> Self {
        OneFile {
            config,
            overrides,
            label,
            quiet,
            pipeline: None,
            out: Vec::new(),
            summary: None,
            bytes_read: 0,
            opened: false,
            ifaces: Vec::new(),
            packets: 0,
            topology: Topology::new(),
        }
    }

    fn stats(&self) -> Stats {
        self.pipeline.as_ref().map(Pipeline::stats).unwrap_or_default()
    }

    fn read(&mut self, path: &Path, sink: &mut dyn Sink, total: &Counters) -> anyhow::Result<()> {
        let rdr = CaptureReader::open(path)?;
        self.opened = true;
        let progress = rdr.progress();
        let bar = progress_bar(self.quiet, rdr.total_bytes());
        let started = Instant::now();
        let mut frames = 0u64;
        let read = crate::capture::ahead::for_each(rdr, |input| {
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
        });
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        self.bytes_read = progress.bytes();
        let flushed = self.flush_end(sink);
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
                // What changed, not every interface: a file may declare thousands.
                for i in changed.iter().filter_map(|&id| ifaces.get(id as usize)) {
                    self.topology.upsert(i.id, i.facts(), self.overrides);
                }
                sink.topology(&self.topology)?;
                let topology = self.topology.clone();
                match &mut self.pipeline {
                    Some(p) => p.update_topology(topology, ts, &mut self.out),
                    None => self.pipeline = Some(Pipeline::new(self.config.clone(), topology)),
                }
                self.summary_ifaces(ifaces, changed);
            }
            Input::Frame(frame) => {
                self.packets += 1;
                if let Some(p) = &mut self.pipeline {
                    p.process(frame, &mut self.out);
                }
            }
        }
        self.drain(sink)
    }

    /// Keeps the interfaces for the summary's notes even when the read fails later.
    fn summary_ifaces(&mut self, ifaces: &[FileIface], changed: &[dnsleak_core::IfaceId]) {
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

    fn drain(&mut self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        Ok(sink.events(&mut self.out, self.label)?)
    }

    /// End of the file (or of what could be read): pending queries and streams are settled.
    fn flush_end(&mut self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        if let Some(p) = &mut self.pipeline {
            p.finish(&mut self.out);
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
                file.map_or(String::new(), |f| format!("{f}: ")),
                i.name,
                kind.as_str(),
                i.link.name(),
                i.name,
                i.name
            )
        })
        .collect()
}

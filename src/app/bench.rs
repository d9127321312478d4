//! `dnsleak bench`: the decoder's speed on the user's capture (or a built-in mix), next to the
//! bare hickory-proto decode of the same DNS payloads.
//!
//! The capture is read into memory first (reading the file is not measured), then each
//! contender runs over it again and again for the time asked:
//! - dnsleak: frames -> judged events through `core::Pipeline` (link, IP, reassembly, TCP
//!   streams, DNS header and question, verdict, pairing), events dropped as they come;
//! - hickory `Message::from_vec`: the full decode of every DNS payload the pipeline found;
//! - hickory `BinDecoder`: the header and first question of the same payloads.
//!
//! The criterion bench (`benches/pipeline.rs`) reuses the same pieces.

pub mod mix;

use std::hint::black_box;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hickory_proto::op::{Header, Message, Query};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::config::BenchConfig;
use crate::capture::reader::{self, Input};
use crate::cli::BenchArgs;
use dnsleak_core::{Config, EventKind, Fact, FrameRef, IfaceId, Judged, LinkType, Pipeline, Topology, Ts};

/// Packets of the built-in mix `dnsleak bench` measures when no file is given.
pub const BUILTIN_PACKETS: u64 = 100_000;
/// Seed of the built-in mix.
pub const BUILTIN_SEED: u64 = 42;

/// Frames held in memory for timed loops, with the interface changes between them.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    data: Vec<u8>,
    frames: Vec<Rec>,
    /// (index of the first frame after the change, trace time, topology).
    changes: Vec<(usize, Ts, Topology)>,
}

#[derive(Debug, Clone, Copy)]
struct Rec {
    ts: Ts,
    iface: IfaceId,
    link: LinkType,
    orig_len: u32,
    start: usize,
    len: usize,
}

impl Capture {
    /// The built-in mix of `packets` packets (see [`mix`]).
    pub fn builtin(packets: u64, seed: u64) -> Capture {
        let m = mix::Mix::generate(packets, seed);
        let mut cap = Capture::default();
        cap.changes.push((0, Ts::ZERO, mix::topology()));
        for (ts, iface, link, data) in m.packets() {
            cap.push(ts, iface, link, data.len() as u32, data);
        }
        cap
    }

    /// Reads a capture file (pcap or pcapng, gzip or not) into memory.
    pub fn read(path: &Path) -> anyhow::Result<Capture> {
        let mut cap = Capture::default();
        reader::for_each_frame(path, |input| {
            match input {
                Input::Interfaces { ifaces, ts } => {
                    let topology = reader::topology_of(ifaces, &Default::default());
                    cap.changes.push((cap.frames.len(), ts, topology));
                }
                Input::Frame(f) => cap.push(f.ts, f.iface, f.link, f.orig_len, f.data),
                Input::Note { .. } => {}
            }
            Ok(())
        })?;
        Ok(cap)
    }

    fn push(&mut self, ts: Ts, iface: IfaceId, link: LinkType, orig_len: u32, data: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(data);
        self.frames.push(Rec { ts, iface, link, orig_len, start, len: data.len() });
    }

    pub fn packets(&self) -> usize {
        self.frames.len()
    }

    /// Bytes of all frames as captured.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// A pipeline with the capture's first interface facts and the default configuration.
    pub fn pipeline(&self) -> Pipeline {
        let topology = self.changes.first().map(|c| c.2.clone()).unwrap_or_default();
        Pipeline::new(Config::new(), topology)
    }

    /// Feeds every frame to `pipeline`, with trace time moved on by `shift` ns (so that passes
    /// after the first look like more traffic, not like time going backwards). `out` is cleared
    /// after every frame, as a sink that consumed the events would leave it.
    pub fn feed(&self, pipeline: &mut Pipeline, shift: i64, out: &mut Vec<Judged>) {
        let mut changes = self.changes.iter().skip(1).peekable();
        for (i, r) in self.frames.iter().enumerate() {
            while let Some((_, ts, topology)) = changes.next_if(|c| c.0 <= i) {
                pipeline.apply(Fact::Interfaces(topology.clone()), Ts(ts.0.saturating_add(shift)), out);
            }
            let frame = FrameRef {
                iface: r.iface,
                ts: Ts(r.ts.0.saturating_add(shift)),
                link: r.link,
                number: i as u64 + 1,
                orig_len: r.orig_len,
                data: &self.data[r.start..r.start + r.len],
            };
            pipeline.process(frame, out);
            out.clear();
        }
    }

    /// Trace time from the first frame to the last.
    pub fn span_ns(&self) -> i64 {
        match (self.frames.first(), self.frames.last()) {
            (Some(a), Some(b)) => b.ts.0.saturating_sub(a.ts.0).max(0),
            _ => 0,
        }
    }

    /// One pass through a fresh pipeline: how many DNS messages it found.
    pub fn run_once(&self) -> u64 {
        let mut p = self.pipeline();
        let mut out = Vec::new();
        self.feed(&mut p, 0, &mut out);
        p.finish(&mut out);
        dns_messages(&p)
    }

    /// The DNS payloads the pipeline decodes (queries, responses, and malformed messages whose
    /// header could be read), for the hickory baselines.
    pub fn dns_payloads(&self) -> Payloads {
        let mut p = self.pipeline();
        let mut payloads = Payloads::default();
        let mut out = Vec::new();
        let take = |out: &mut Vec<Judged>, payloads: &mut Payloads| {
            for j in out.drain(..) {
                if let Some(info) = j.event.dns() {
                    payloads.push(&info.payload);
                }
            }
        };
        for (i, r) in self.frames.iter().enumerate() {
            if let Some((_, ts, t)) = self.changes.iter().skip(1).find(|c| c.0 == i) {
                p.apply(Fact::Interfaces(t.clone()), *ts, &mut out);
            }
            let data = &self.data[r.start..r.start + r.len];
            let frame = FrameRef {
                iface: r.iface,
                ts: r.ts,
                link: r.link,
                number: i as u64 + 1,
                orig_len: r.orig_len,
                data,
            };
            p.process(frame, &mut out);
            take(&mut out, &mut payloads);
        }
        p.finish(&mut out);
        take(&mut out, &mut payloads);
        payloads
    }
}

/// DNS messages a pipeline has seen: queries, responses and malformed messages.
pub fn dns_messages(p: &Pipeline) -> u64 {
    let s = p.stats();
    s.events_of(EventKind::Query) + s.events_of(EventKind::Response) + s.events_of(EventKind::Malformed)
}

/// DNS payloads in one buffer.
#[derive(Debug, Clone, Default)]
pub struct Payloads {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Payloads {
    fn push(&mut self, p: &[u8]) {
        self.data.extend_from_slice(p);
        self.ends.push(self.data.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter()).map(|(s, &e)| &self.data[s..e])
    }

    /// Full hickory decode of every payload; returns how many decoded.
    pub fn hickory_full(&self) -> u64 {
        self.iter().map(|p| u64::from(black_box(Message::from_vec(black_box(p))).is_ok())).sum()
    }

    /// hickory's `BinDecoder` reading the header and first question of every payload; returns
    /// how many read.
    pub fn hickory_header_question(&self) -> u64 {
        self.iter().map(|p| u64::from(header_and_question(black_box(p)).is_some())).sum()
    }
}

/// The header and the first question (when there is one), with hickory's decoder.
pub fn header_and_question(p: &[u8]) -> Option<(Header, Option<Query>)> {
    let mut dec = BinDecoder::new(p);
    let header = Header::read(&mut dec).ok()?;
    let query = if header.counts.queries > 0 { Some(Query::read(&mut dec).ok()?) } else { None };
    Some(black_box((header, query)))
}

/// How fast one contender went.
#[derive(Debug, Clone, PartialEq)]
pub struct Speed {
    pub name: &'static str,
    /// DNS messages decoded per second.
    pub messages_per_s: f64,
    /// Frames per second (the pipeline only).
    pub packets_per_s: Option<f64>,
    /// Megabytes (10^6) of input per second: frames for the pipeline, payloads for hickory.
    pub mb_per_s: f64,
}

/// Measures the three contenders on `cap`, each for about `seconds`. They take turns, one
/// pass each per round, so that whatever else loads the machine slows all three alike.
pub fn measure_all(cap: &Capture, payloads: &Payloads, seconds: f64) -> Vec<Speed> {
    let budget = Duration::from_secs_f64(3.0 * seconds.max(0.0));
    let stride = cap.span_ns().saturating_add(3_600_000_000_000);
    let mut pipeline = cap.pipeline();
    let mut out = Vec::new();
    let mut time = [Duration::ZERO; 3];
    let mut passes = 0u64;
    let start = Instant::now();
    loop {
        let t = Instant::now();
        cap.feed(&mut pipeline, stride.saturating_mul(passes as i64), &mut out);
        time[0] += t.elapsed();
        let t = Instant::now();
        black_box(payloads.hickory_full());
        time[1] += t.elapsed();
        let t = Instant::now();
        black_box(payloads.hickory_header_question());
        time[2] += t.elapsed();
        passes += 1;
        if start.elapsed() >= budget {
            break;
        }
    }
    let secs = time.map(|t| t.as_secs_f64().max(1e-9));
    let dnsleak = Speed {
        name: "dnsleak: frames -> judged events",
        messages_per_s: dns_messages(&pipeline) as f64 / secs[0],
        packets_per_s: Some((passes * cap.packets() as u64) as f64 / secs[0]),
        mb_per_s: (passes * cap.bytes() as u64) as f64 / secs[0] / 1e6,
    };
    let baseline = |name, secs: f64| Speed {
        name,
        messages_per_s: (passes * payloads.len() as u64) as f64 / secs,
        packets_per_s: None,
        mb_per_s: (passes * payloads.bytes() as u64) as f64 / secs / 1e6,
    };
    vec![
        dnsleak,
        baseline("hickory Message::from_vec (full decode)", secs[1]),
        baseline("hickory BinDecoder: header + 1st question", secs[2]),
    ]
}

/// `1234567.8` -> `1,234,568`.
pub fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The table a person reads.
pub fn print_table(
    w: &mut dyn Write,
    what: &str,
    cap: &Capture,
    payloads: &Payloads,
    speeds: &[Speed],
) -> io::Result<()> {
    writeln!(
        w,
        "dnsleak bench: {what}: {} packets, {} DNS messages, {:.1} MB (measured in memory, one core)\n",
        thousands(cap.packets() as f64),
        thousands(payloads.len() as f64),
        cap.bytes() as f64 / 1e6
    )?;
    writeln!(
        w,
        "{:<44}{:>14}{:>14}{:>10}{:>12}",
        "decoder", "messages/s", "packets/s", "MB/s", "dnsleak is"
    )?;
    let ours = speeds.first().map_or(0.0, |s| s.messages_per_s);
    for (i, s) in speeds.iter().enumerate() {
        let pps = s.packets_per_s.map_or("-".to_string(), thousands);
        let ratio =
            if i == 0 { "-".to_string() } else { format!("{:.2}x", ours / s.messages_per_s.max(1e-9)) };
        writeln!(
            w,
            "{:<44}{:>14}{:>14}{:>10.1}{:>12}",
            s.name,
            thousands(s.messages_per_s),
            pps,
            s.mb_per_s,
            ratio
        )?;
    }
    writeln!(
        w,
        "\nAll three decode the same {} DNS payloads. \"dnsleak is\" = its messages/s divided by the\n\
         decoder's; MB/s counts whole frames for dnsleak and DNS payloads for hickory.",
        thousands(payloads.len() as f64)
    )
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let args = BenchConfig::new(args)?;
    let (what, cap) = match &args.file {
        Some(path) => {
            let cap = Capture::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            (reader::display_name(path), cap)
        }
        None => ("built-in mix".to_string(), Capture::builtin(BUILTIN_PACKETS, BUILTIN_SEED)),
    };
    let payloads = cap.dns_payloads();
    if payloads.is_empty() {
        anyhow::bail!("{what} holds no DNS message to measure; give a capture with DNS traffic, or no file for the built-in mix");
    }
    let speeds = measure_all(&cap, &payloads, args.seconds);
    let stdout = io::stdout();
    print_table(&mut stdout.lock(), &what, &cap, &payloads, &speeds)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
    }

    #[test]
    fn payloads_are_the_messages_the_pipeline_found() {
        let cap = Capture::builtin(2_000, 5);
        let payloads = cap.dns_payloads();
        assert_eq!(payloads.len() as u64, cap.run_once());
        assert!(payloads.len() > 1_000, "{} messages in 2000 packets", payloads.len());
        assert_eq!(payloads.hickory_full(), payloads.len() as u64, "the mix is valid DNS");
        assert_eq!(payloads.hickory_header_question(), payloads.len() as u64);
    }
}

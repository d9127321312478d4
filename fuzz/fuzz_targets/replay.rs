//! A whole capture file through `dnsleak replay`'s own path: the bytes are the file (pcap,
//! pcapng, or a gzip of either), read by the capture reader (header detection, interface
//! blocks and their changes, statistics blocks, packet comments, gzip decoding), judged by the
//! pipeline and written by the NDJSON and summary sinks. Asserts no panic, and output bounded
//! by the input (every event comes from a frame, and a frame is at most the file).
#![no_main]

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use clap::Parser;
use dnsleak::app::config::ReplayConfig;
use dnsleak::app::replay::judge_files;
use dnsleak::cli::{Cli, Command};
use dnsleak::output::json::JsonSink;
use dnsleak::output::summary::SummarySink;
use dnsleak::output::Tee;
use libfuzzer_sys::fuzz_target;

/// The file the input is written to, in memory (one per fuzzing process).
fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("dnsleak-fuzz-replay-{}.cap", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let file = path();
    std::fs::File::create(file).and_then(|mut f| f.write_all(data)).expect("writing the input file");
    let cli = Cli::try_parse_from(["dnsleak", "replay", "-q", "--json", file.to_str().unwrap()]).unwrap();
    let Command::Replay(args) = cli.command else { unreachable!() };
    let cfg = ReplayConfig::new(&args).unwrap();
    let mut sink = Tee(JsonSink::new(Vec::new()), SummarySink::new());
    // A read error (truncated, corrupt, not a capture) is an answer, not a failure.
    let _ = judge_files(&cfg, &mut sink);
    let json = sink.0.into_inner();
    // Each event line is bounded (names, answers and addresses are cut to their caps), and
    // there are at most a few events per frame, a frame is at least a record header.
    assert!(json.len() <= 64 * 1024 + data.len() * 512, "{} bytes of NDJSON from {} bytes", json.len(), data.len());
});

//! `dnsleak procs` (hidden, for debugging and the live tests): starts the process attributor
//! in this network namespace and prints every socket fact as one NDJSON line, then its
//! counters. The first line says which method is in use and its coverage.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::cli::ProcsArgs;
use crate::system::privilege;
use crate::system::processes::{Attributor, AttributorStats, Options};
use dnsleak_core::SocketOwner;

pub fn run(args: &ProcsArgs) -> anyhow::Result<()> {
    let stop = crate::system::signals::install().context("installing the signal handlers")?;
    let opts = Options { allow_ebpf: !args.no_ebpf, ..Options::default() };
    let mut attributor = Attributor::start(&opts).context("starting process attribution")?;
    privilege::keep_only_capture_caps()?;
    let mut out = std::io::stdout().lock();
    let ready = json!({
        "kind": "ready",
        "method": attributor.method().as_str(),
        "netns": attributor.netns(),
        "describe": attributor.describe(),
    });
    writeln!(out, "{ready}")?;
    out.flush()?;
    let end = args.duration.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut facts = Vec::new();
    loop {
        let done = stop.load(Ordering::Relaxed) || end.is_some_and(|e| Instant::now() >= e);
        facts.clear();
        attributor.drain(&mut facts);
        for f in &facts {
            writeln!(out, "{}", fact_json(f))?;
        }
        out.flush()?;
        if done {
            break;
        }
        // Polling a ring buffer: a short nap between drains, not a synchronisation.
        std::thread::sleep(Duration::from_millis(5));
    }
    writeln!(out, "{}", stats_json(&attributor.stats()))?;
    Ok(())
}

fn fact_json(f: &SocketOwner) -> serde_json::Value {
    json!({
        "kind": "socket",
        "proto": f.proto.as_str(),
        "local": f.local.to_string(),
        "remote": f.remote.to_string(),
        "pid": f.process.pid,
        "name": f.process.name.as_str(),
        "exe": f.process.exe.as_deref(),
        "uid": f.process.uid,
        "netns": f.netns,
        "ts": f.ts.as_secs_f64(),
    })
}

fn stats_json(s: &AttributorStats) -> serde_json::Value {
    json!({
        "kind": "stats",
        "records": s.records,
        "written": s.written,
        "lost": s.lost,
        "unowned": s.unowned,
        "foreign": s.foreign,
        "undecodable": s.undecodable,
        "execs": s.execs,
        "facts": s.facts,
        "unnamed": s.unnamed,
        "scans": s.scan.scans,
        "scan_sockets": s.scan.sockets,
        "scan_unowned": s.scan.unowned,
        "scan_facts": s.scan.facts,
        "scan_dropped": s.scan.dropped,
    })
}

//! What naming programs costs the live monitor, measured for real (root only): in a namespace
//! test network (tests/netns/world.sh), `dnsleak monitor --json` runs once with
//! `--processes ebpf` and once with `--processes off`, alternating, while one Python socket
//! sends a burst of 2,000 queries (the issue's burst). For each run it takes the CPU time all
//! the monitor's threads spent from the burst's start until the 2,000th query's event was
//! written (from `/proc/PID/task/*/schedstat`, nanoseconds), and it checks that with eBPF all
//! 2,000 queries named the sender. Prints the medians and their ratio (baseline: `off`, same
//! run). Replay does no look-ups, so its cost is the replay bench's.
//!
//! `sudo cargo bench --bench attribution` (about a minute; `DNSLEAK_BENCH_RUNS` sets the runs per
//! mode, 5 by default). Without root it fails and says so.

#[path = "../tests/netns/mod.rs"]
mod netns;
#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::Duration;

use netns::*;
use serde_json::Value;

const BURST: usize = 2000;

/// One connected UDP socket sends `n` queries to `host`, then prints its port.
const PY_BURST: &str = r#"
import socket, struct, sys
host, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.connect((host, 53))
for i in range(n):
    qn = b"".join(bytes([len(l)]) + l.encode() for l in ("q%d.%s.bench.test" % (i, tag)).split(".")) + b"\0"
    s.send(struct.pack(">HHHHHH", i & 0xffff, 0x0100, 1, 0, 0, 0) + qn + struct.pack(">HH", 1, 1))
print(s.getsockname()[1], flush=True)
"#;

/// Nanoseconds on CPU of every thread of `pid` so far.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

struct Run {
    cpu_ms: f64,
    named: usize,
}

fn one_run(w: &World, mode: &str, tag: &str) -> Run {
    let m = w.monitor(&["--processes", mode]);
    // Not synchronisation: start-up work (the eBPF load, the first interface and route reads)
    // is kept out of the measured window.
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ns(m.pid());
    let out = w
        .client("/usr/bin/python3")
        .args(["-c", PY_BURST, LAN_RESOLVER, &BURST.to_string(), tag])
        .stdin(Stdio::null())
        .output()
        .expect("python3");
    let port: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("the sender's port");
    let mine = |v: &Value| v["kind"] == "query" && v["sport"] == port && v["dst"] == LAN_RESOLVER;
    let all = m.wait_for(Duration::from_secs(30), |l| l.iter().filter(|v| mine(v)).count() >= BURST);
    let after = cpu_ns(m.pid());
    let (_, lines, err) = m.stop();
    assert!(all, "{mode}: fewer than {BURST} queries from port {port} reported; stderr: {err}");
    let named = lines.iter().filter(|v| mine(v) && v["process"]["name"] == "python3").count();
    Run { cpu_ms: (after - before) as f64 / 1e6, named }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    require_world();
    support::require_tool("python3", "python3");
    let runs: usize = std::env::var("DNSLEAK_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let w = World::up();
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let e = one_run(&w, "ebpf", &format!("e{i}"));
        assert_eq!(e.named, BURST, "with eBPF every query of the burst names python3");
        let o = one_run(&w, "off", &format!("o{i}"));
        println!("run {i}: ebpf {:.1} ms ({} named), off {:.1} ms", e.cpu_ms, e.named, o.cpu_ms);
        on.push(e.cpu_ms);
        off.push(o.cpu_ms);
    }
    let (e, o) = (median(on), median(off));
    println!(
        "attribution/burst_{BURST}: monitor CPU, median of {runs}: --processes ebpf {e:.1} ms, off {o:.1} ms, \
         ratio {:.2}x ({:.1} us more per query)",
        e / o,
        (e - o) * 1000.0 / BURST as f64
    );
}

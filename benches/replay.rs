//! Replay throughput and memory, against tshark on the same file in the same run.
//!
//! `cargo bench --bench replay` generates (not committed) a pcap of 1 M DNS packets: UDP
//! queries and responses over ~300 k distinct names, plus 10 % of packets in TCP flows that
//! open and send a query but never close. It then times `dnsleak replay FILE` (the summary),
//! `dnsleak replay --json FILE > /dev/null` and
//! `tshark -r FILE -Y dns -T fields -e dns.qry.name > /dev/null` (when tshark is installed),
//! prints the ratios (targets: summary >= 50x tshark, --json >= 15x), and measures the peak
//! resident memory of the summary run on 100 k and 1 M packets of the same mix (targets: under
//! 100 MB, and the 1 M peak within 1.5x of the 100 k peak). Criterion then keeps the timing
//! history of both replay modes. `DNSLEAK_BENCH_PACKETS` changes the size.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use dnsleak::app::bench::mix::Rng;

mod support;
use support::{best_of, mb, run, Cost};

const BIN: &str = env!("CARGO_BIN_EXE_dnsleak");
const DISTINCT_NAMES: u64 = 300_000;

/// A pcap writer (microseconds, Ethernet).
struct Pcap {
    w: BufWriter<File>,
    ts_us: u64,
    packets: u64,
}

impl Pcap {
    fn create(path: &Path) -> Pcap {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
        let mut h = Vec::new();
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&65535u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        w.write_all(&h).unwrap();
        Pcap { w, ts_us: 1_700_000_000_000_000, packets: 0 }
    }

    fn frame(&mut self, ip: &[u8]) {
        let len = (14 + ip.len()) as u32;
        let mut rec = Vec::with_capacity(16 + len as usize);
        rec.extend_from_slice(&((self.ts_us / 1_000_000) as u32).to_le_bytes());
        rec.extend_from_slice(&((self.ts_us % 1_000_000) as u32).to_le_bytes());
        rec.extend_from_slice(&len.to_le_bytes());
        rec.extend_from_slice(&len.to_le_bytes());
        rec.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
        rec.extend_from_slice(ip);
        self.w.write_all(&rec).unwrap();
        self.packets += 1;
        self.ts_us += 50;
    }
}

fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
    p[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(l4);
    p
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn tcp(sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

/// A query (or, with `answer`, its response) for name number `n`.
fn dns(id: u16, n: u64, answer: Option<[u8; 4]>) -> Vec<u8> {
    let mut m = Vec::with_capacity(80);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(if answer.is_some() { &[0x81, 0x80] } else { &[0x01, 0x00] });
    m.extend_from_slice(&[0, 1, 0, answer.is_some() as u8, 0, 0, 0, 0]);
    for label in [format!("host{n}"), format!("zone{}", n % 97), "example".into(), "com".into()] {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    if let Some(a) = answer {
        m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
        m.extend_from_slice(&a);
    }
    m
}

/// Writes `packets` packets of the mix.
fn generate(path: &Path, packets: u64) {
    let mut rng = Rng(42);
    let mut pcap = Pcap::create(path);
    let client = [192, 0, 2, 2];
    let resolver = [192, 0, 2, 1];
    let mut flow = 0u32;
    while pcap.packets < packets {
        // Three in four names uniform over the pool (~260 k distinct in 1 M packets), one in
        // four from a skewed head of 1000, so the top N has heavy hitters.
        let n = if rng.below(4) == 0 {
            let head = rng.below(1000) + 1;
            rng.below(head)
        } else {
            rng.below(DISTINCT_NAMES)
        };
        let id = rng.next_u64() as u16;
        let sport = 1024 + (rng.below(60_000) as u16);
        if rng.below(10) == 0 {
            // A TCP flow that opens, sends one query and never closes: SYN, then the data.
            flow += 1;
            let src = [10, (flow >> 16) as u8, (flow >> 8) as u8, flow as u8];
            pcap.frame(&ipv4(6, src, resolver, &tcp(sport, 53, 1000, 0x02, &[])));
            let q = dns(id, n, None);
            let mut data = (q.len() as u16).to_be_bytes().to_vec();
            data.extend_from_slice(&q);
            pcap.frame(&ipv4(6, src, resolver, &tcp(sport, 53, 1001, 0x18, &data)));
        } else {
            pcap.frame(&ipv4(17, client, resolver, &udp(sport, 53, &dns(id, n, None))));
            if pcap.packets < packets {
                let answer = Some([203, 0, 113, (n % 250) as u8]);
                pcap.frame(&ipv4(17, resolver, client, &udp(53, sport, &dns(id, n, answer))));
            }
        }
    }
    pcap.w.flush().unwrap();
}

fn capture(packets: u64) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("replay-bench-{packets}.pcap"));
    if !path.exists() {
        let tmp = path.with_extension("partial");
        generate(&tmp, packets);
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

fn dnsleak(args: &[&str], file: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("replay").args(args).arg(file).env("NO_COLOR", "1");
    c
}

fn tshark_available() -> bool {
    Command::new("tshark").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

fn line(what: &str, packets: u64, c: &Cost) {
    let pps = |d: Duration| packets as f64 / d.as_secs_f64();
    println!(
        "  {what:<16} wall {:>7.3} s ({:>9.0} packets/s)  cpu {:>7.3} s ({:>9.0} packets/s)  peak {:>6.1} MB",
        c.wall.as_secs_f64(),
        pps(c.wall),
        c.cpu.as_secs_f64(),
        pps(c.cpu),
        mb(c.peak_rss)
    );
}

/// The comparison the issue asks for, printed before criterion runs.
fn compare(packets: u64) {
    let big = capture(packets);
    let summary = best_of(3, || run(&mut dnsleak(&["-q"], &big)));
    let json = best_of(3, || run(&mut dnsleak(&["-q", "--json"], &big)));
    let page = big.with_extension("html");
    let page_arg = page.to_str().unwrap();
    let report = best_of(3, || run(&mut dnsleak(&["-q", "--report", page_arg], &big)));
    println!("replay bench: {packets} packets, {:.1} MB", mb(std::fs::metadata(&big).unwrap().len()));
    line("dnsleak summary", packets, &summary);
    line("dnsleak --json", packets, &json);
    line("dnsleak summary + --report", packets, &report);
    println!(
        "  --report: {:.1} MB page, {:.3} s wall more than the summary (targets < 5 MB, < 2 s)",
        mb(std::fs::metadata(&page).unwrap().len()),
        report.wall.as_secs_f64() - summary.wall.as_secs_f64()
    );
    if tshark_available() {
        let fields = ["-Y", "dns", "-T", "fields", "-e", "dns.qry.name"];
        let t = run(Command::new("tshark").arg("-r").arg(&big).args(fields));
        line("tshark", packets, &t);
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        println!(
            "  ratio to tshark, wall: summary {:.1}x, --json {:.1}x; cpu: summary {:.1}x, --json {:.1}x (targets 50x, 15x)",
            ratio(t.wall, summary.wall),
            ratio(t.wall, json.wall),
            ratio(t.cpu, summary.cpu),
            ratio(t.cpu, json.cpu)
        );
    } else {
        println!("  tshark not installed: no ratio");
    }
    let small_packets = (packets / 10).max(1);
    let small = run(&mut dnsleak(&["-q"], &capture(small_packets)));
    println!(
        "  peak memory of the summary: {:.1} MB at {packets} packets, {:.1} MB at {small_packets} (ratio {:.2}; targets < 100 MB, <= 1.5)",
        mb(summary.peak_rss),
        mb(small.peak_rss),
        summary.peak_rss as f64 / small.peak_rss.max(1) as f64
    );
}

fn bench(c: &mut Criterion) {
    let packets: u64 =
        std::env::var("DNSLEAK_BENCH_PACKETS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    compare(packets);
    let file = capture(packets);
    let mut g = c.benchmark_group("replay");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("summary", |b| b.iter(|| run(&mut dnsleak(&["-q"], &file))));
    g.bench_function("json", |b| b.iter(|| run(&mut dnsleak(&["-q", "--json"], &file))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Floods built in memory, written to capture files and replayed through the binary (issue
//! #13): what a flood pushes out of a bounded table is counted and said, a run that dropped
//! DNS before judging it never ends with "no leak" and exit 0, and memory stays bounded.
//! (Time per packet under each flood is measured in benches/tables.rs.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use dnsleak::output::pcapng::PcapngWriter;
use dnsleak_core::{LinkType, Ts};

/// Highest resident memory a replay below may reach (the debug build; the floods hold the
/// tables at their caps).
const MAX_RSS: u64 = 128 << 20;
const T0: i64 = 1_700_000_000_000_000_000;

/// A DNS query for `name` (A, recursion desired).
fn query(id: u16, name: &str) -> Vec<u8> {
    support::dns_message(id, false, name, 1, &[])
}

/// A pcapng file of raw IPv4 packets on a tunnel (`wg0`, interface 0) and `eth0`
/// (interface 1), one microsecond apart.
struct File {
    w: PcapngWriter<Vec<u8>>,
    n: i64,
}

const WG0: u32 = 0;
const ETH0: u32 = 1;

impl File {
    fn new() -> File {
        let mut w = PcapngWriter::new(Vec::new()).expect("in memory");
        w.add_interface("wg0", LinkType::RAW, &[]).expect("in memory");
        w.add_interface("eth0", LinkType::ETHERNET, &[]).expect("in memory");
        File { w, n: 0 }
    }

    /// An IPv4 packet on `iface` (in an Ethernet frame on eth0).
    fn packet(&mut self, iface: u32, p: &[u8]) {
        self.n += 1;
        let ts = Ts(T0 + self.n * 1_000);
        if iface == ETH0 {
            let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0];
            frame.extend_from_slice(p);
            self.w.packet(iface, ts, frame.len() as u32, &frame, &[]).expect("in memory");
        } else {
            self.w.packet(iface, ts, p.len() as u32, p, &[]).expect("in memory");
        }
    }

    fn write(self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.w.into_inner()).expect("a temporary file");
        path
    }
}

/// What a replay of one file gave.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Standard output kept whole up to this size; past it, only its last line.
const KEEP_STDOUT: u64 = 1 << 20;

/// Replays `file` through the binary; its highest resident memory (the kernel's VmHWM of the
/// child, read until it exits) must stay under `MAX_RSS`.
fn replay(dir: &Path, args: &[&str], file: &Path) -> Ran {
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_dnsleak"))
        .arg("replay")
        .args(args)
        .arg(file)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("the dnsleak binary runs");
    let status_file = format!("/proc/{}/status", child.id());
    let mut hwm_kib = 0u64;
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(kib) = std::fs::read_to_string(&status_file).ok().as_deref().and_then(vm_hwm_kib) {
            hwm_kib = hwm_kib.max(kib);
        }
        if let Some(status) = child.try_wait().expect("waiting for dnsleak") {
            break status;
        }
        assert!(Instant::now() < deadline, "dnsleak replay {args:?} still running after 300 s");
        // Not synchronisation: the sampling interval of the child's memory (the end is seen
        // by `try_wait`; VmHWM keeps the peak, so a sample late by 5 ms misses nothing).
        std::thread::sleep(Duration::from_millis(5));
    };
    eprintln!("replay {args:?} {}: VmHWM {} MiB", file.display(), hwm_kib >> 10);
    assert!(hwm_kib > 0, "the child's memory was read");
    assert!(hwm_kib << 10 < MAX_RSS, "{} MiB resident at most ({args:?})", hwm_kib >> 10);
    Ran {
        code: status.code().expect("an exit status"),
        stdout: tail(&out),
        stderr: std::fs::read_to_string(err).unwrap(),
    }
}

/// `VmHWM:  1234 kB` from /proc/PID/status.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The file's text, or only its last line when it is large.
fn tail(path: &Path) -> String {
    let text = std::fs::read(path).unwrap();
    if text.len() as u64 <= KEEP_STDOUT {
        return String::from_utf8(text).unwrap();
    }
    let body = text.strip_suffix(b"\n").unwrap_or(&text);
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    String::from_utf8(body[start..].to_vec()).unwrap()
}

/// A DNS-over-TCP query leaked on eth0, split in two segments with `flood` partial TCP flows
/// (each holding the start of a message) between them.
fn split_query_behind(flood: u16) -> File {
    let (client, resolver) = ([192, 0, 2, 10], [192, 0, 2, 53]);
    let mut msg = (query(7, "hidden-leak.example").len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(&query(7, "hidden-leak.example"));
    let mut f = File::new();
    f.packet(ETH0, &support::ipv4_tcp(client, 40_000, resolver, 53, 1, &msg[..12]));
    for i in 0..flood {
        let mut partial = 200u16.to_be_bytes().to_vec();
        partial.extend_from_slice(&[0x55; 10]);
        f.packet(ETH0, &support::ipv4_tcp([198, 51, 100, 7], 1024 + i, resolver, 53, 1, &partial));
    }
    f.packet(ETH0, &support::ipv4_tcp(client, 40_000, resolver, 53, 13, &msg[12..]));
    f
}

/// Issue #13: with 5,000 partial TCP flows between the two halves of a query (the table holds
/// 4,096), the replay said "No leak, no bypass" and exited 0. It must find the leak or say
/// the result is incomplete, naming the file, and exit 2.
#[test]
fn a_split_query_behind_5000_partial_flows_is_never_a_clean_result() {
    let dir = tempfile::tempdir().unwrap();
    let file = split_query_behind(5_000).write(dir.path(), "split-behind-flood.pcapng");
    let ran = replay(dir.path(), &[], &file);
    assert_ne!(ran.code, 0, "never clean: {}{}", ran.stdout, ran.stderr);
    assert!(!ran.stdout.contains("No leak, no bypass"), "{}", ran.stdout);
    if ran.code == 2 {
        assert!(ran.stderr.contains("result is incomplete"), "{}", ran.stderr);
        assert!(ran.stderr.contains("split-behind-flood.pcapng"), "names the file: {}", ran.stderr);
        assert!(ran.stdout.contains("INCOMPLETE"), "{}", ran.stdout);
        assert!(ran.stdout.contains("Incomplete: what was dropped and why:"), "{}", ran.stdout);
        assert!(
            ran.stdout.contains("DNS-over-TCP flows dropped holding part of a message"),
            "{}",
            ran.stdout
        );
    } else {
        assert_eq!(ran.code, 1, "{}{}", ran.stdout, ran.stderr);
    }
    // The same query without the flood is found: the file is a leak, not something else.
    let file = split_query_behind(0).write(dir.path(), "split.pcapng");
    let ran = replay(dir.path(), &[], &file);
    assert_eq!(ran.code, 1, "{}{}", ran.stdout, ran.stderr);
    assert!(!ran.stdout.contains("Incomplete"), "nothing dropped, nothing said: {}", ran.stdout);
}

/// The final NDJSON line is `{"kind":"stats",...}` with every counter: here, what the flood
/// pushed out.
#[test]
fn the_stats_line_carries_the_counters() {
    let dir = tempfile::tempdir().unwrap();
    let file = split_query_behind(5_000).write(dir.path(), "flood.pcapng");
    let ran = replay(dir.path(), &["--json"], &file);
    let last = ran.stdout.lines().last().expect("NDJSON lines");
    let v: serde_json::Value = serde_json::from_str(last).expect("JSON");
    assert_eq!((v["kind"].as_str(), v["final"].as_bool()), (Some("stats"), Some(true)), "{last}");
    assert_eq!(v["frames"], 5_002, "{last}");
    assert!(v["losses"]["tcp_flows_evicted_holding"].as_u64() > Some(900), "{last}");
    assert_eq!(v["tcp"]["flows_evicted"], v["tcp"]["evicted_holding"], "{last}");
    assert_eq!(v["incomplete"], true, "{last}");
    let named = v["incomplete_files"][0].as_str().unwrap_or_default();
    assert!(named.ends_with("flood.pcapng"), "{last}");
    assert!(v["unjudged"].as_u64() == v["losses"]["tcp_flows_evicted_holding"].as_u64(), "{last}");
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    let events = ran.stdout.lines().count() - 1;
    assert!(events >= 1, "the tables' notices at least");
    assert!(ran.stdout.contains(r#""notice":"table_full""#), "a notice when the table first fills");
}

/// Regression (#13, silence): the causes' table of recent questions counted what it forgot
/// when full (`cause_names_evicted`) but, alone of the bounded tables, raised no `table_full`
/// notice. 20,000 distinct names asked through the tunnel within a second fill it (16,384).
#[test]
fn regression_a_full_table_of_recent_questions_raises_its_notice_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = File::new();
    for i in 0..20_000u32 {
        let q = query(i as u16, &format!("n{i}.tunnel.example"));
        f.packet(WG0, &support::ipv4_udp([10, 2, 0, 2], 1024 + (i % 50_000) as u16, [10, 2, 0, 1], 53, &q));
    }
    let file = f.write(dir.path(), "names.pcapng");
    // All of the NDJSON (14 MB): the notice comes early.
    let ran = Command::new(env!("CARGO_BIN_EXE_dnsleak"))
        .args(["replay", "--json"])
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .expect("the dnsleak binary runs");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&ran.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    let full: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|v| v["notice"] == "table_full")
        .filter(|v| v["message"].as_str().unwrap_or_default().contains("recent questions the causes"))
        .collect();
    assert_eq!(full.len(), 1, "one notice, when the table first forgets: {full:?}");
    let stats = lines.last().expect("a stats line");
    let evicted = stats["losses"]["cause_names_evicted"].as_u64().unwrap_or_default();
    assert!(evicted >= 20_000 - 16_384, "{stats}");
    let err = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(0), "every name was judged (through the tunnel): {err}");
}

/// Issue #13: a million unanswered queries printed "Unanswered: 65536" and nothing of the
/// rest. Queries forgotten at the pending table's cap were judged: counted and said, not an
/// incomplete result.
#[test]
fn a_million_unanswered_queries_show_what_was_evicted() {
    const N: u32 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let mut f = File::new();
    let mut p = support::ipv4_udp([10, 2, 0, 2], 1024, [10, 2, 0, 1], 53, &query(1, "flood.example"));
    p[26..28].copy_from_slice(&[0, 0]); // no UDP checksum: the port and id change below
    for i in 0..N {
        p[20..22].copy_from_slice(&(1024 + (i >> 16) as u16).to_be_bytes());
        p[28..30].copy_from_slice(&(i as u16).to_be_bytes());
        f.packet(WG0, &p);
    }
    let file = f.write(dir.path(), "unanswered.pcapng");
    let ran = replay(dir.path(), &[], &file);
    assert_eq!(ran.code, 0, "forgotten queries were judged: {}{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("Incomplete: what was dropped and why:"), "{}", ran.stdout);
    assert!(!ran.stdout.contains("INCOMPLETE"), "{}", ran.stdout);
    let count = |after: &str| -> u64 {
        let line = ran
            .stdout
            .lines()
            .find(|l| l.contains(after))
            .unwrap_or_else(|| panic!("{after}: {}", ran.stdout));
        line.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line}"))
    };
    let evicted = count("queries forgotten before their answer");
    let unanswered: u64 = ran
        .stdout
        .split("Unanswered: ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", ran.stdout));
    assert_eq!(evicted + unanswered, u64::from(N), "{}", ran.stdout);
    assert!(evicted > u64::from(N) / 2, "{}", ran.stdout);
}

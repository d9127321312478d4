//! Helpers shared by the integration tests (each test file that needs them says `mod support;`).

#![allow(dead_code)]

pub mod tmux;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `shared/corpus` (the third-party captures and tshark's truth) beside the repository or any
/// directory above it: where CI's clone and every worktree find it. `DNSLEAK_CORPUS` names it
/// elsewhere (or, pointing at nothing, hides it).
pub fn find_corpus() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DNSLEAK_CORPUS") {
        let dir = PathBuf::from(dir);
        return dir.join("INDEX.tsv").exists().then_some(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/corpus"))
        .find(|p| p.join("INDEX.tsv").exists())
}

/// The corpus, for tests marked `#[ignore = "corpus: ..."]`: without it they fail, saying so.
pub fn corpus() -> PathBuf {
    find_corpus().unwrap_or_else(|| {
        panic!(
            "needs the corpus: shared/corpus (the third-party captures and tshark's truth) was not found \
             beside the repository or above it, nor at $DNSLEAK_CORPUS"
        )
    })
}

/// Whether `command` can be run (it is on the PATH).
pub fn have(command: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(command).is_file()))
}

/// Fails the test, naming the Debian package, unless `command` is installed.
pub fn require_tool(command: &str, package: &str) {
    assert!(have(command), "needs {package}: apt-get install {package} (`{command}` is not on the PATH)");
}

/// Fails the test, saying why, unless this process runs as root.
pub fn require_root(why: &str) {
    assert!(
        rustix::process::geteuid().is_root(),
        "needs root ({why}): run the tests as root, as CI does (.ci/test runs them with --include-ignored)"
    );
}

/// Calls `check` until it gives a value or `within` has passed: the one polling loop of these
/// tests (a short pause between looks, never a sleep standing in for a condition).
pub fn poll<T>(within: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if start.elapsed() >= within {
            return None;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// A DNS message as the wire carries it: header (id, QR from `response`, RD, and RA when a
/// response), one question for `name` of type `qtype`, class IN, and one A record per address
/// in `answers` (owner name by pointer to the question).
pub fn dns_message(id: u16, response: bool, name: &str, qtype: u16, answers: &[[u8; 4]]) -> Vec<u8> {
    let flags: u16 = if response { 0x8180 } else { 0x0100 };
    let mut p = Vec::with_capacity(64);
    for w in [id, flags, 1, answers.len() as u16, 0, 0] {
        p.extend_from_slice(&w.to_be_bytes());
    }
    for label in name.split('.').filter(|l| !l.is_empty()) {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    for a in answers {
        p.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4]);
        p.extend_from_slice(a);
    }
    p
}

/// An IPv4 packet carrying a TCP segment with PSH and ACK from `src:sport` to `dst:dport`
/// (etherparse, checksums included).
pub fn ipv4_tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ipv4(src, dst, 64).tcp(sport, dport, seq, 65_535).psh().ack(1);
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).expect("in memory");
    v
}

/// An IPv4 packet (no options, checksums left zero) carrying a UDP datagram from `src:sport`
/// to `dst:dport`, as raw-IP captures hold it.
pub fn ipv4_udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len() as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&(20 + udp_len).to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    for w in [sport, dport, udp_len, 0] {
        ip.extend_from_slice(&w.to_be_bytes());
    }
    ip.extend_from_slice(payload);
    ip
}

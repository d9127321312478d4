//! The report's audit trail and its per-file tunnel bands: the SHA-256 of every input is
//! computed as replay reads it (a file, a gzip file, standard input, a file whose read stopped
//! early) and equals the file's own; a replay of several files draws each file's tunnel states
//! in that file's time only.

mod report_common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use report_common::{fixture, replay_report, tmp_dir};
use scraper::{Html, Selector};
use sha2::{Digest, Sha256};

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("a valid selector")
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// (name, size, SHA-256, note) of each row of the page's input table.
fn inputs(html: &str) -> Vec<(String, String, String, String)> {
    let doc = Html::parse_document(html);
    let text = |e: scraper::ElementRef<'_>| e.text().collect::<String>();
    doc.select(&sel("#inputs tbody tr"))
        .map(|tr| {
            let cells: Vec<_> = tr.select(&sel("td")).collect();
            let note = tr.select(&sel("td.sha .muted")).map(text).collect::<String>();
            let sha = cells[4].text().next().unwrap_or("").to_string();
            (text(cells[0]), text(cells[3]), sha, note)
        })
        .collect()
}

fn size(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out} bytes")
}

#[test]
fn files_and_gzip_files_are_hashed_as_read() {
    let dir = tmp_dir("hash-files");
    let plain = std::fs::read(fixture("demo.pcapng")).unwrap();
    let gz = dir.join("demo.pcapng.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&plain).unwrap();
    let compressed = enc.finish().unwrap();
    std::fs::write(&gz, &compressed).unwrap();
    let html = replay_report(&dir, &[&fixture("demo.pcapng"), &gz], &[]);
    let rows = inputs(&html);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0].1.as_str(), rows[0].2.as_str()),
        (size(plain.len()).as_str(), sha256(&plain).as_str())
    );
    // gzip: the bytes of the file, as sha256sum would hash them.
    assert_eq!(
        (rows[1].1.as_str(), rows[1].2.as_str()),
        (size(compressed.len()).as_str(), sha256(&compressed).as_str())
    );
    assert!(rows.iter().all(|r| r.3.is_empty()), "{rows:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn standard_input_is_hashed_as_read() {
    let dir = tmp_dir("hash-stdin");
    let bytes = std::fs::read(fixture("demo.pcapng")).unwrap();
    let out = dir.join("r.html");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dnsleak"))
        .args(["replay", "--quiet", "--report"])
        .arg(&out)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run dnsleak");
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(1), "the demo leaks");
    let rows = inputs(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "standard input");
    assert_eq!(
        (rows[0].1.as_str(), rows[0].2.as_str()),
        (size(bytes.len()).as_str(), sha256(&bytes).as_str())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A corrupt record stops the read; the rest of the file is hashed from where the read
/// stopped, so the digest is still the whole file's.
#[test]
fn a_file_whose_read_stopped_is_hashed_whole() {
    let dir = tmp_dir("hash-corrupt");
    let mut bytes = std::fs::read(fixture("demo.pcapng")).unwrap();
    let at = enhanced_packet_block(&bytes, 10).expect("the demo has 10 packets");
    // The block's total length, beyond the 16 MiB the reader accepts.
    bytes[at + 4..at + 8].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    // Followed by 4 MiB, so that the stop is well before the end of the file.
    bytes.extend(std::iter::repeat_n(0u8, 4 << 20));
    let bad = dir.join("bad.pcapng");
    std::fs::write(&bad, &bytes).unwrap();
    let out = dir.join("r.html");
    let run = Command::new(env!("CARGO_BIN_EXE_dnsleak"))
        .args(["replay", "--quiet", "--report"])
        .arg(&out)
        .arg(&bad)
        .output()
        .expect("run dnsleak");
    assert_eq!(run.status.code(), Some(2), "{}", String::from_utf8_lossy(&run.stderr));
    let rows = inputs(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(
        (rows[0].1.as_str(), rows[0].2.as_str()),
        (size(bytes.len()).as_str(), sha256(&bytes).as_str())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Byte offset of the `n`th (1-based) Enhanced Packet Block of a little-endian pcapng.
fn enhanced_packet_block(b: &[u8], n: usize) -> Option<usize> {
    let (mut at, mut seen) = (0usize, 0usize);
    while at + 12 <= b.len() {
        let kind = u32::from_le_bytes(b[at..at + 4].try_into().ok()?);
        let len = u32::from_le_bytes(b[at + 4..at + 8].try_into().ok()?) as usize;
        if kind == 6 {
            seen += 1;
            if seen == n {
                return Some(at);
            }
        }
        at += len.max(12);
    }
    None
}

/// Regression: with several files, a tunnel's state ran on from one file into the next (a
/// tunnel down at the end of one file stayed down through the others), and one first seen in
/// a later file had no band before its first change. Each file now draws its own states, in
/// its own time, whatever the order of the files.
#[test]
fn tunnel_bands_stay_within_each_file() {
    let dir = tmp_dir("bands-multi");
    let (early, late) = (fixture("clean-tunnel.pcapng"), fixture("tunnel-dies.pcapng"));
    let bands = |files: &[&Path]| -> Vec<String> {
        let html = replay_report(&dir, files, &[]);
        let doc = Html::parse_document(&html);
        let mut v: Vec<String> = doc
            .select(&sel("#timeline rect.band-up title, #timeline rect.band-down title"))
            .map(|t| t.text().collect())
            .collect();
        v.sort();
        v
    };
    let forward = bands(&[&early, &late]);
    assert_eq!(forward, bands(&[&late, &early]), "the order of the files changes nothing");
    // clean-tunnel.pcapng is at 22:02, tunnel-dies.pcapng at 23:23: no band crosses the gap.
    assert!(forward.iter().all(|b| !(b.contains("from 22:") && b.contains("to 23:"))), "{forward:#?}");
    let up_early = forward.iter().filter(|b| b.contains(" up from 22:02:")).count();
    assert_eq!(up_early, 1, "the early file's tunnel is up from its start: {forward:#?}");
    let down: Vec<&String> = forward.iter().filter(|b| b.contains("DOWN")).collect();
    assert_eq!(down.len(), 1, "{forward:#?}");
    assert!(down[0].contains("from 23:23:"), "{down:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--continue`: the files are one rotated capture, so the tunnel's state runs on from one
/// file into the next (the opposite of separate files, above), and every file is listed.
#[test]
fn continued_files_carry_tunnel_bands_across() {
    let dir = tmp_dir("bands-continue");
    let files = [fixture("clean-tunnel.pcapng"), fixture("tunnel-dies.pcapng")];
    let html = replay_report(&dir, &[&files[0], &files[1]], &["--continue"]);
    assert_eq!(inputs(&html).len(), 2);
    let doc = Html::parse_document(&html);
    let bands: Vec<String> =
        doc.select(&sel("#timeline rect.band-up title")).map(|t| t.text().collect()).collect();
    assert!(bands.iter().any(|b| b.contains("from 22:02:") && b.contains("to 23:23:")), "{bands:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `-j` with `--report`: the report still covers every file, in order, the same page as
/// without `-j` (the report's timeline takes the files one after another).
#[test]
fn jobs_with_a_report_cover_every_file() {
    let dir = tmp_dir("jobs");
    let names = ["demo.pcapng", "tunnel-dies.pcapng", "quic-doq.pcapng", "dnscrypt.pcapng"];
    let files: Vec<_> = names.iter().map(|n| fixture(n)).collect();
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let parallel = replay_report(&dir, &paths, &["-j", "2"]);
    let rows = inputs(&parallel);
    let listed: Vec<&str> = rows.iter().map(|r| r.0.trim_start_matches("fixtures/")).collect();
    assert_eq!(listed, names, "{rows:?}");
    assert!(rows.iter().all(|r| r.2.len() == 64), "every file hashed: {rows:?}");
    let one = replay_report(&dir, &paths, &["-j", "1"]);
    assert_eq!(report_common::outline(&parallel), report_common::outline(&one));
    let _ = std::fs::remove_dir_all(&dir);
}

//! A gzip capture cut short: every packet before the cut is judged, wherever the cut is
//! (issue #13: a gzip file cut within its first 64 KiB of decompressed data printed no events;
//! the same bytes uncompressed gave 340).

mod support;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;

use dnsleak::capture::reader::{for_each_frame, Input};

/// A classic pcap (raw IP) of `n` DNS queries for names that do not compress well.
fn pcap(n: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for w in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, 101] {
        b.extend_from_slice(&w.to_le_bytes());
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in 0..n {
        let mut name = String::new();
        for _ in 0..24 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            name.push(char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[(seed % 36) as usize]));
        }
        let dns = support::dns_message(i as u16, false, &format!("{name}.example"), 1, &[]);
        let ip = support::ipv4_udp([192, 0, 2, 10], 40000, [192, 0, 2, 1], 53, &dns);
        for w in [1_700_000_000 + i, 0, ip.len() as u32, ip.len() as u32] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        b.extend_from_slice(&ip);
    }
    b
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Whole records in what a gzip decoder can give of `gz` (the oracle, without the reader).
fn whole_records(gz: &[u8]) -> u64 {
    let mut plain = Vec::new();
    let _ = flate2::read::MultiGzDecoder::new(gz).read_to_end(&mut plain);
    let (mut at, mut n) = (24, 0);
    while let Some(h) = plain.get(at..at + 16) {
        let caplen = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
        if plain.len() < at + 16 + caplen {
            break;
        }
        at += 16 + caplen;
        n += 1;
    }
    n
}

fn temp(name: &str, bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("dnsleak-gzip-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn frames_read(path: &std::path::Path) -> (u64, Option<String>) {
    let mut frames = 0;
    let result = for_each_frame(path, |input| {
        if let Input::Frame(_) = input {
            frames += 1;
        }
        Ok(())
    });
    (frames, result.err().map(|e| format!("{e:#}")))
}

#[test]
fn a_cut_gzip_gives_every_whole_packet_before_the_cut_wherever_it_is() {
    let plain = pcap(3_000);
    let gz = gzip(&plain);
    assert!(plain.len() > 3 * (64 << 10), "{} bytes: more than the reader's first look", plain.len());
    let mut cuts: Vec<usize> = (40..gz.len()).step_by(gz.len() / 97).collect();
    cuts.extend([gz.len() - 9, gz.len() - 1]);
    let mut checked_inside_first_look = 0;
    for cut in cuts {
        let path = temp(&format!("cut-{cut}.pcap.gz"), &gz[..cut]);
        let (frames, error) = frames_read(&path);
        let _ = std::fs::remove_file(&path);
        assert_eq!(frames, whole_records(&gz[..cut]), "cut at {cut} of {}", gz.len());
        let error = error.unwrap_or_else(|| panic!("cut at {cut}: no error"));
        assert!(error.contains("truncated"), "cut at {cut}: {error}");
        checked_inside_first_look += usize::from(frames > 0 && frames < 600);
    }
    assert!(checked_inside_first_look > 5, "cuts within the first 64 KiB decompressed");
}

/// Regression of the command as issue #13 ran it: the events before the cut are printed.
#[test]
fn replay_of_a_gzip_cut_in_its_first_64_kib_judges_the_packets_before_the_cut() {
    let gz = gzip(&pcap(3_000));
    // The cut where about 340 whole packets can be decompressed.
    let cut = (100..gz.len()).find(|&c| whole_records(&gz[..c]) >= 340).unwrap();
    let path = temp("first-64k.pcap.gz", &gz[..cut]);
    let out =
        Command::new(env!("CARGO_BIN_EXE_dnsleak")).args(["replay", "--json"]).arg(&path).output().unwrap();
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let queries = stdout.lines().filter(|l| l.contains("\"kind\":\"query\"")).count();
    assert_eq!(queries as u64, whole_records(&gz[..cut]), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "a cut file is still an error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));
}

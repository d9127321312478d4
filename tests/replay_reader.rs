//! The capture reader on every corpus file: packet counts as capinfos counts them, interface
//! names and times as tshark reports them, and hostile variants of real files.

use std::io::Write;
use std::path::{Path, PathBuf};

mod support;

use dnsleak::capture::reader::{for_each_frame, Format, Input};

use support::corpus;

/// (file, packets) from INDEX.tsv.
fn index() -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(corpus().join("INDEX.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[4].parse().unwrap())
        })
        .collect()
}

/// A frame read: (number, iface name, ts in ns).
type Seen = (u64, String, i64);

fn read_all(path: &Path) -> anyhow::Result<(Vec<Seen>, Format)> {
    let mut names: Vec<String> = Vec::new();
    let mut frames = Vec::new();
    let summary = for_each_frame(path, |input| {
        match input {
            Input::Interfaces { ifaces, .. } => names = ifaces.iter().map(|i| i.name.clone()).collect(),
            Input::Frame(f) => frames.push((f.number, names[f.iface as usize].clone(), f.ts.0)),
            Input::Note { .. } => {}
        }
        Ok(())
    })?;
    Ok((frames, summary.format))
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn every_corpus_capture_reads_to_its_end_with_capinfos_packet_count() {
    for (file, packets) in index() {
        let (frames, _) =
            read_all(&corpus().join("captures").join(&file)).unwrap_or_else(|e| panic!("{file}: {e:#}"));
        assert_eq!(frames.len() as u64, packets, "{file}");
        assert!(frames.iter().enumerate().all(|(i, f)| f.0 == i as u64 + 1), "{file}: frame numbers");
    }
}

/// Times and interface names of the truth rows (tshark's frame.time_epoch, iface).
#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_times_and_interface_names_match_tshark() {
    for (file, _) in index() {
        let truth = std::fs::read_to_string(corpus().join("truth").join(format!("{file}.tsv"))).unwrap();
        let (frames, _) = read_all(&corpus().join("captures").join(&file)).unwrap();
        for row in truth.lines().skip(1) {
            let f: Vec<&str> = row.split('\t').collect();
            let n: usize = f[0].parse().unwrap();
            let (secs, frac) = f[1].split_once('.').unwrap();
            let want = secs.parse::<i64>().unwrap() * 1_000_000_000 + frac.parse::<i64>().unwrap();
            let got = &frames[n - 1];
            assert_eq!(got.2, want, "{file} frame {n} time");
            if !f[2].is_empty() && f[2].parse::<u32>().is_err() {
                assert_eq!(got.1, f[2], "{file} frame {n} iface");
            }
        }
    }
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_formats_are_detected() {
    let c = corpus().join("captures");
    let (_, f) = read_all(&c.join("arkime__ipv6-gtp6.pcap")).unwrap();
    assert_eq!(f, Format::Pcap { nanos: true, big_endian: false });
    let (_, f) = read_all(&c.join("ndpi__fuzz-2006-06-26-2594.pcap")).unwrap();
    assert_eq!(f, Format::Pcap { nanos: false, big_endian: true });
    let (_, f) = read_all(&c.join("ndpi__wireguard.pcap")).unwrap();
    assert_eq!(f, Format::Pcapng);
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_gzip_reads_the_same_frames() {
    let src = corpus().join("captures/zeek__dns-edns-ecs.pcap");
    let dir = tempdir("gzip");
    let gz = dir.join("c.pcap.gz");
    let mut enc =
        flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(&std::fs::read(&src).unwrap()).unwrap();
    enc.finish().unwrap();
    assert_eq!(read_all(&gz).unwrap().0, read_all(&src).unwrap().0);
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_truncated_file_keeps_frames_before_the_cut_and_names_the_offset() {
    let src = std::fs::read(corpus().join("captures/zeek__dns-edns-ecs.pcap")).unwrap();
    let dir = tempdir("trunc");
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &src[..src.len() - 10]).unwrap();
    let mut n = 0;
    let err = for_each_frame(&cut, |i| {
        n += matches!(i, Input::Frame(_)) as u64;
        Ok(())
    })
    .unwrap_err();
    let msg = format!("{err:#}");
    assert_eq!(n, 88, "{msg}");
    assert!(msg.contains("cut.pcap") && msg.contains("truncated") && msg.contains("byte offset"), "{msg}");
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_absurd_record_length_is_refused_without_allocating_it() {
    let mut src = std::fs::read(corpus().join("captures/zeek__dns-edns-ecs.pcap")).unwrap();
    // First record header starts at 24: caplen at 32..36.
    src[32..36].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let dir = tempdir("absurd");
    let p = dir.join("absurd.pcap");
    std::fs::write(&p, &src).unwrap();
    let msg = format!("{:#}", for_each_frame(&p, |_| Ok(())).unwrap_err());
    assert!(msg.contains("byte offset 24") && msg.contains("2147483632"), "{msg}");
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("reader-{tag}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

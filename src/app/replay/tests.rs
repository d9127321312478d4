use std::path::{Path, PathBuf};

use super::*;
use crate::capture::reader::{CaptureReader, FileIface, Input};
use crate::cli::{Cli, Command};
use crate::output::json::JsonSink;
use crate::output::pcapng::PcapngWriter;
use dnsleak_core::Ts;

/// The configuration of `dnsleak replay --json --quiet -j 1 [--continue] FILES`, as parsed.
fn config(files: &[PathBuf], carry: bool) -> ReplayConfig {
    use clap::Parser;
    let mut argv: Vec<std::ffi::OsString> =
        ["dnsleak", "replay", "--json", "--quiet", "-j", "1"].into_iter().map(Into::into).collect();
    if carry {
        argv.push("--continue".into());
    }
    argv.extend(files.iter().map(|f| f.as_os_str().to_owned()));
    let Command::Replay(args) = Cli::parse_from(argv).command else { unreachable!("a replay") };
    ReplayConfig::new(&args).unwrap()
}

/// The events of `files` as NDJSON values without `frame` and `file` (they count and name
/// within each file).
fn events(files: &[PathBuf], carry: bool) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    judge_files(&config(files, carry), &mut JsonSink::new(&mut out)).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        // The events: the final `stats` line (bytes read differ) left out.
        .filter(|l| !l.starts_with(r#"{"kind":"stats""#))
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("frame");
            o.remove("file");
            v
        })
        .collect()
}

type Packet = (u32, Ts, u32, Vec<u8>);

fn read(path: &Path) -> (Vec<FileIface>, Vec<Packet>) {
    let (mut ifaces, mut packets) = (Vec::new(), Vec::new());
    CaptureReader::open(path)
        .unwrap()
        .for_each(|input| {
            match input {
                Input::Interfaces { ifaces: i, .. } => ifaces = i.to_vec(),
                Input::Frame(f) => packets.push((f.iface, f.ts, f.orig_len, f.data.to_vec())),
                Input::Note { .. } => {}
            }
            Ok(())
        })
        .unwrap();
    (ifaces, packets)
}

fn write(path: &Path, ifaces: &[FileIface], packets: &[Packet]) {
    let mut w = PcapngWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for i in ifaces {
        w.add_interface(&i.name, i.link, &i.addrs).unwrap();
    }
    for (iface, ts, orig_len, data) in packets {
        w.packet(*iface, *ts, *orig_len, data, &[]).unwrap();
    }
    w.flush().unwrap();
}

/// Regression: `--continue` flushed the time-order stage at the end of each file, so when a
/// batch of one interface's packets straddled two files of a ring (dumpcap writes each
/// interface's packets in batches), the frames of the first file were judged before older
/// ones of the second: a LAN leak came out before the tunnel traffic it follows, and the ring
/// did not read as the capture it was cut from. The stage now goes on into the next file with
/// the pipeline, and a file describing the same interfaces again is no barrier.
#[test]
fn continue_carries_the_time_order_across_a_cut_batch() {
    let whole = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.pcapng");
    let (ifaces, packets) = read(&whole);
    assert!(ifaces.len() > 1, "demo.pcapng has several interfaces");
    // Cut the capture where a packet is older than the one written before it.
    let cut = (1..packets.len())
        .find(|&i| packets[i].1 < packets[i - 1].1)
        .expect("demo.pcapng has interfaces written in batches");
    let dir = std::env::temp_dir().join(format!("dnsleak-cut-batch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let parts = [dir.join("ring_1.pcapng"), dir.join("ring_2.pcapng")];
    write(&parts[0], &ifaces, &packets[..cut]);
    write(&parts[1], &ifaces, &packets[cut..]);
    let (one, ring) = (events(&[whole], false), events(&parts, true));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(one.iter().any(|e| e["verdict"] == "leak"), "demo.pcapng has leaks");
    assert_eq!(ring, one, "--continue over the cut capture is the capture");
}

/// A frame older than one the time-order stage already released is judged at once (out of
/// order) and counted, and so is the whole stage's work.
#[test]
fn frames_out_of_time_order_are_counted() {
    let dir = std::env::temp_dir().join(format!("dnsleak-late-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("late.pcapng");
    let mut w = PcapngWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
    for name in ["eth0", "lo"] {
        w.add_interface(name, dnsleak_core::LinkType::ETHERNET, &[]).unwrap();
    }
    // eth0 at 10 s and 12 s (the first leaves the 1 s window), then lo at 9 s: late.
    for (iface, secs) in [(0, 10), (0, 12), (1, 9)] {
        w.packet(iface, Ts::from_millis(secs * 1000), 60, &[0; 60], &[]).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let mut out = Vec::new();
    let total = judge_files(&config(&[path], false), &mut JsonSink::new(&mut out)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(total.order, crate::counters::OrderCounters { frames: 3, late: 1, early: 0 });
}

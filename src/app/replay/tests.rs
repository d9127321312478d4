use std::path::{Path, PathBuf};

use super::*;
use crate::capture::reader::{CaptureReader, FileIface, Input};
use crate::cli::{ColorChoice, JudgeArgs, ReplayArgs};
use crate::output::json::JsonSink;
use crate::output::pcapng::PcapngWriter;
use dnsleak_core::Ts;

fn config(files: &[PathBuf], carry: bool) -> ReplayConfig {
    let args = ReplayArgs {
        files: files.to_vec(),
        judge: JudgeArgs::default(),
        json: true,
        tui: false,
        speed: None,
        top: 10,
        color: ColorChoice::Never,
        quiet: true,
        jobs: Some(1),
        continue_: carry,
        report: None,
    };
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

//! Read-ahead: a capture file read on its own thread, its frames handed to the caller's thread
//! in batches through a bounded channel, so that reading (system calls, gzip, the container
//! format) runs beside the pipeline instead of before it.
//!
//! The caller sees exactly what [`CaptureReader::for_each`] gives, in the same order: every
//! interface change and frame, then the reader's result, so a read error still comes after
//! every frame before the fault. A file can wait, so the reader blocks when the channel is full
//! (nothing is dropped, unlike live capture). Memory is bounded: `DEPTH` batches in flight,
//! each closed at `BATCH_BYTES` of what it holds (frame bytes and the interfaces it carries)
//! or `BATCH_FRAMES` items (one frame longer than that, at most `reader::MAX_RECORD`, makes a
//! batch of its own), and a batch buffer grown past `KEEP_BYTES` is given back instead of
//! reused.
//!
//! An interface change travels as the interfaces that changed, not the whole list: the
//! caller's side keeps its own copy of the list and applies each change to it, so a file
//! that declares thousands of interfaces, one per packet, costs what changed (issue #13: a
//! 753 KB file with 4,096 interfaces took 55 s and 1.14 GiB when every change copied them
//! all).

use std::ops::Range;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::reader::{CaptureReader, FileIface, Input, ReadSummary};
use dnsleak_core::{FrameRef, IfaceId, LinkType, Ts};

/// Batches in flight between the reader and the caller.
const DEPTH: usize = 4;
/// A batch is sent once it holds this many bytes of frames...
const BATCH_BYTES: usize = 256 << 10;
/// ...or this many frames and interface changes.
const BATCH_FRAMES: usize = 1024;
/// Batch buffers larger than this (after a huge frame) are dropped rather than reused.
const KEEP_BYTES: usize = 4 << 20;

/// What the reader handed out, in order, with frame bytes in the batch's buffer.
#[derive(Debug)]
enum Item {
    Frame {
        iface: IfaceId,
        ts: Ts,
        link: LinkType,
        number: u64,
        orig_len: u32,
        bytes: Range<usize>,
    },
    /// The interfaces added or changed (each with its id).
    Interfaces {
        changed: Vec<FileIface>,
        ts: Ts,
    },
    Note {
        bytes: Range<usize>,
        ts: Ts,
    },
}

#[derive(Debug, Default)]
struct Batch {
    bytes: Vec<u8>,
    items: Vec<Item>,
    /// Bytes the interfaces in `items` hold (counted against `BATCH_BYTES` with `bytes`).
    iface_bytes: usize,
}

/// Roughly what one interface costs in memory.
fn iface_size(i: &FileIface) -> usize {
    std::mem::size_of::<FileIface>()
        + i.name.capacity()
        + i.addrs.capacity() * std::mem::size_of::<std::net::IpAddr>()
}

impl Batch {
    fn full(&self) -> bool {
        self.bytes.len() + self.iface_bytes >= BATCH_BYTES || self.items.len() >= BATCH_FRAMES
    }

    fn push(&mut self, input: Input<'_>) {
        match input {
            Input::Frame(f) => {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(f.data);
                self.items.push(Item::Frame {
                    iface: f.iface,
                    ts: f.ts,
                    link: f.link,
                    number: f.number,
                    orig_len: f.orig_len,
                    bytes: start..self.bytes.len(),
                });
            }
            Input::Interfaces { ifaces, changed, ts } => {
                let changed: Vec<FileIface> =
                    changed.iter().filter_map(|&id| ifaces.get(id as usize)).cloned().collect();
                self.iface_bytes += changed.iter().map(iface_size).sum::<usize>();
                self.items.push(Item::Interfaces { changed, ts });
            }
            Input::Note { text, ts } => {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(text.as_bytes());
                self.items.push(Item::Note { bytes: start..self.bytes.len(), ts });
            }
        }
    }

    /// Hands every item to `f`, in order; `mirror` is the caller's copy of the interfaces,
    /// brought up to date by each change.
    fn replay(
        &mut self,
        mirror: &mut Mirror,
        f: &mut impl FnMut(Input<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        for item in &mut self.items {
            let input = match item {
                Item::Frame { iface, ts, link, number, orig_len, bytes } => Input::Frame(FrameRef {
                    iface: *iface,
                    ts: *ts,
                    link: *link,
                    number: *number,
                    orig_len: *orig_len,
                    data: &self.bytes[bytes.clone()],
                }),
                Item::Interfaces { changed, ts } => {
                    mirror.apply(changed);
                    Input::Interfaces { ifaces: &mirror.ifaces, changed: &mirror.changed, ts: *ts }
                }
                Item::Note { bytes, ts } => {
                    // Whole UTF-8 text when it went in; nothing else writes these bytes.
                    let text = std::str::from_utf8(&self.bytes[bytes.clone()]).unwrap_or_default();
                    Input::Note { text, ts: *ts }
                }
            };
            f(input)?;
        }
        Ok(())
    }

    fn clear(&mut self) {
        self.items.clear();
        self.bytes.clear();
        self.iface_bytes = 0;
        if self.bytes.capacity() > KEEP_BYTES {
            self.bytes = Vec::new();
        }
    }
}

/// The caller's copy of the file's interfaces.
#[derive(Debug, Default)]
struct Mirror {
    ifaces: Vec<FileIface>,
    /// The ids of the last change.
    changed: Vec<IfaceId>,
}

impl Mirror {
    /// Takes the changed interfaces (ids are dense: a new one is the next index).
    fn apply(&mut self, changed: &mut Vec<FileIface>) {
        self.changed.clear();
        for i in changed.drain(..) {
            let at = i.id as usize;
            self.changed.push(i.id);
            let len = self.ifaces.len();
            match self.ifaces.get_mut(at) {
                Some(slot) => *slot = i,
                None if at == len => self.ifaces.push(i),
                // Not from the reader (its ids are dense); ignored rather than trusted.
                None => {
                    self.changed.pop();
                }
            }
        }
    }
}

/// The caller stopped taking batches (its own error ends the read).
#[derive(Debug, thiserror::Error)]
#[error("the consumer of the capture stopped")]
struct ConsumerGone;

/// As [`CaptureReader::for_each`], with the file read on a thread of its own.
pub fn for_each(
    reader: CaptureReader,
    mut f: impl FnMut(Input<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<ReadSummary> {
    let (full_tx, full_rx) = bounded::<Batch>(DEPTH);
    let (empty_tx, empty_rx) = bounded::<Batch>(DEPTH + 2);
    std::thread::scope(|scope| {
        let read = std::thread::Builder::new()
            .name("dnsleak-read".into())
            .spawn_scoped(scope, move || read_ahead(reader, &full_tx, &empty_rx))
            .map_err(|e| anyhow::anyhow!("cannot start the reading thread: {e}"))?;
        let consumed = consume(&full_rx, &empty_tx, &mut f);
        // Dropping the receiver first unblocks a reader waiting on a full channel.
        drop(full_rx);
        let read = read.join().unwrap_or_else(|_| Err(anyhow::anyhow!("the reading thread panicked")));
        consumed?;
        read
    })
}

/// The caller's side: every batch through `f`, each empty batch back to the reader.
fn consume(
    full: &Receiver<Batch>,
    empty: &Sender<Batch>,
    f: &mut impl FnMut(Input<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut mirror = Mirror::default();
    for mut batch in full {
        batch.replay(&mut mirror, f)?;
        batch.clear();
        // The reader may have finished: then the batch is simply dropped.
        let _ = empty.try_send(batch);
    }
    Ok(())
}

/// The reader's side: fills batches (reusing the ones that came back) and sends them.
fn read_ahead(
    reader: CaptureReader,
    full: &Sender<Batch>,
    empty: &Receiver<Batch>,
) -> anyhow::Result<ReadSummary> {
    let mut batch = Batch::default();
    let summary = reader.for_each(|input| {
        batch.push(input);
        if batch.full() {
            let next = empty.try_recv().unwrap_or_default();
            full.send(std::mem::replace(&mut batch, next)).map_err(|_| ConsumerGone)?;
        }
        Ok(())
    });
    // What was read before the end (or the fault) goes out first; the result follows.
    if !batch.items.is_empty() && full.send(batch).is_err() {
        return Err(ConsumerGone.into());
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::reader::for_each_frame;

    /// Every input as owned values, for comparing two ways of reading a file.
    fn record(path: &std::path::Path, threaded: bool) -> (Vec<String>, String) {
        let mut seen = Vec::new();
        let mut f = |input: Input<'_>| {
            seen.push(match input {
                Input::Frame(fr) => {
                    format!("{} {} {:?} {} {:?}", fr.iface, fr.number, fr.ts, fr.orig_len, fr.data)
                }
                Input::Interfaces { ifaces, changed, ts } => format!("ifaces {ifaces:?} {changed:?} {ts:?}"),
                Input::Note { text, ts } => format!("note {text} {ts:?}"),
            });
            Ok(())
        };
        let result = if threaded {
            CaptureReader::open(path).and_then(|r| for_each(r, &mut f))
        } else {
            for_each_frame(path, &mut f)
        };
        (seen, format!("{:?}", result.map_err(|e| format!("{e:#}"))))
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
    }

    #[test]
    fn read_ahead_hands_out_what_the_reader_does() {
        for name in ["demo.pcapng", "tunnel-dies.pcapng", "clean-tunnel.pcapng"] {
            let (threaded, t_result) = record(&fixture(name), true);
            let (direct, d_result) = record(&fixture(name), false);
            assert!(threaded.len() > 5, "{name}: {} inputs", threaded.len());
            assert_eq!(threaded, direct, "{name}");
            assert_eq!(t_result, d_result, "{name}");
        }
    }

    /// A capture of `n` raw-IP frames of varying sizes (up to 3000 bytes), cut short when `cut`.
    fn many_frames(n: u32, cut: bool) -> std::path::PathBuf {
        use crate::output::pcapng::PcapngWriter;
        let mut w = PcapngWriter::new(Vec::new()).unwrap();
        let iface = w.add_interface("wg0", LinkType::RAW, &[]).unwrap();
        for i in 0..n {
            let data: Vec<u8> = (0..(i * 7919) % 3000).map(|j| (i + j) as u8).collect();
            w.packet(iface, Ts(i64::from(i)), data.len() as u32, &data, &[]).unwrap();
        }
        let mut b = w.into_inner();
        if cut {
            b.truncate(b.len() - 10);
        }
        let path =
            std::env::temp_dir().join(format!("dnsleak-ahead-{}-{n}-{cut}.pcapng", std::process::id()));
        std::fs::write(&path, b).unwrap();
        path
    }

    #[test]
    fn many_batches_arrive_whole_and_in_order() {
        for cut in [false, true] {
            let path = many_frames(5_000, cut);
            let (threaded, t_result) = record(&path, true);
            let (direct, d_result) = record(&path, false);
            let _ = std::fs::remove_file(&path);
            assert_eq!(threaded.len(), if cut { 5_000 } else { 5_001 }, "interfaces + frames");
            assert!(threaded == direct, "cut {cut}: the inputs differ");
            assert_eq!(t_result, d_result);
        }
    }

    #[test]
    fn a_read_error_comes_after_every_frame_before_it() {
        let bytes = std::fs::read(fixture("demo.pcapng")).unwrap();
        let cut = std::env::temp_dir().join(format!("dnsleak-ahead-cut-{}.pcapng", std::process::id()));
        std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
        let (threaded, t_result) = record(&cut, true);
        let (direct, d_result) = record(&cut, false);
        let _ = std::fs::remove_file(&cut);
        assert!(t_result.contains("truncated"), "{t_result}");
        assert_eq!((threaded, t_result), (direct, d_result));
    }

    #[test]
    fn an_error_of_the_caller_stops_the_reader() {
        let reader = CaptureReader::open(&fixture("demo.pcapng")).unwrap();
        let mut frames = 0;
        let result = for_each(reader, |input| {
            if let Input::Frame(_) = input {
                frames += 1;
                if frames == 3 {
                    anyhow::bail!("stop here");
                }
            }
            Ok(())
        });
        assert_eq!(result.unwrap_err().to_string(), "stop here");
        assert_eq!(frames, 3);
    }

    /// The capture of issue #13: `n` interfaces, each followed by an interface statistics block
    /// that ends it and by a packet on it (each packet brings an interface change).
    fn interface_per_packet(n: u32) -> std::path::PathBuf {
        use crate::output::pcapng::{IfaceEnd, PcapngWriter};
        let mut w = PcapngWriter::new(Vec::new()).unwrap();
        for i in 0..n {
            let id = w.add_interface(&format!("eth{i}"), LinkType::RAW, &[]).unwrap();
            let end = IfaceEnd { start: None, end: Ts(i64::from(i) * 1000), received: None, dropped: None };
            w.interface_end(id, end).unwrap();
            w.packet(id, Ts(i64::from(i) * 1000 + 1), 20, &[0x45; 20], &[]).unwrap();
        }
        let path =
            std::env::temp_dir().join(format!("dnsleak-ahead-ifaces-{}-{n}.pcapng", std::process::id()));
        std::fs::write(&path, w.into_inner()).unwrap();
        path
    }

    /// Regression (issue #13): every interface change handed over (and copied into a batch)
    /// the whole interface list: a 753 KB file with 4,096 interfaces took 55 s and 1.14 GiB.
    /// A change now carries what changed; the caller still sees the whole list, as the reader
    /// gives it.
    #[test]
    fn an_interface_change_carries_what_changed() {
        let path = interface_per_packet(4096);
        let (mut changes, mut carried, mut frames) = (0, 0, 0);
        let mut last: Vec<FileIface> = Vec::new();
        let reader = CaptureReader::open(&path).unwrap();
        let summary = for_each(reader, |input| {
            match input {
                Input::Interfaces { ifaces, changed, .. } => {
                    changes += 1;
                    carried += changed.len();
                    assert_eq!(changed.len(), 1, "{changed:?}");
                    assert!(changed.iter().all(|&id| ifaces[id as usize].id == id));
                    if changes == 4096 {
                        last = ifaces.to_vec();
                    }
                }
                Input::Frame(_) => frames += 1,
                Input::Note { .. } => {}
            }
            Ok(())
        })
        .unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!((changes, frames), (4096, 4096));
        // Interface i is new with packet i, and already ended by its ISB: one change each.
        assert_eq!(carried, 4096);
        assert_eq!(last, summary.ifaces, "the caller's list is the reader's");
        assert!(last.iter().all(|i| !i.up), "every interface was ended");
    }

    #[test]
    fn a_batch_counts_the_interfaces_it_holds() {
        let ifaces: Vec<FileIface> = (0..4096)
            .map(|i| FileIface {
                id: i,
                name: format!("a-long-interface-name-{i}"),
                named: true,
                link: LinkType::RAW,
                snaplen: 0,
                up: true,
                addrs: Vec::new(),
            })
            .collect();
        let all: Vec<IfaceId> = (0..4096).collect();
        let mut b = Batch::default();
        b.push(Input::Interfaces { ifaces: &ifaces, changed: &all, ts: Ts(0) });
        assert!(b.full(), "{} bytes of interfaces close the batch", b.iface_bytes);
        b.clear();
        assert_eq!(b.iface_bytes, 0);
    }

    #[test]
    fn batches_close_on_bytes_or_frames_and_big_buffers_are_not_kept() {
        let mut b = Batch::default();
        let data = vec![7u8; 1000];
        let frame = |n| {
            Input::Frame(FrameRef {
                iface: 0,
                ts: Ts(n),
                link: LinkType::RAW,
                number: n as u64,
                orig_len: 1000,
                data: &data,
            })
        };
        let mut n = 0;
        while !b.full() {
            n += 1;
            b.push(frame(n));
        }
        assert_eq!(b.bytes.len(), BATCH_BYTES.div_ceil(1000) * 1000);
        b.clear();
        let big = vec![0u8; KEEP_BYTES + 1];
        b.push(Input::Frame(FrameRef {
            iface: 0,
            ts: Ts(0),
            link: LinkType::RAW,
            number: 1,
            orig_len: 0,
            data: &big,
        }));
        assert!(b.full(), "one huge frame is a batch of its own");
        b.clear();
        assert_eq!(b.bytes.capacity(), 0, "a buffer grown past KEEP_BYTES is given back");
    }
}

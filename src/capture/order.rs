//! Frames of several interfaces in a file back in trace-time order before they are judged
//! (replay; live capture holds frames by arrival time in `app::reorder`).
//!
//! dumpcap writes each interface's packets in batches, so a local stub's question on `lo` can
//! come after the upstream query it caused on `eth0`, and the causes look back at earlier
//! messages. The stage holds frames for a window of trace time (core's `Reorder`: bounded in
//! frames and bytes; what came too late or had to go early is counted) and hands them on
//! oldest first. An interface change is a barrier: what was seen before it goes first. With
//! `replay --continue` the stage goes on into the next file of the rotated capture (a batch can
//! straddle two files), so the ring is judged as the capture it was cut from.
//!
//! A source with one interface needs none of this: replay engages the stage only for files
//! that describe more than one interface, so a single-interface file is judged straight from
//! the reader's buffer, without a copy.

use std::time::Duration;

use dnsleak_core::reorder::Reorder;
use dnsleak_core::{Frame, FrameRef, Ts};

use crate::counters::OrderCounters;

/// Files: dumpcap writes each interface's packets as its capture hands them over, in batches
/// up to a few hundred milliseconds apart (112 ms in fixtures/demo.pcapng).
pub const FILE_WINDOW: Duration = Duration::from_secs(1);
/// Frames held at most.
const MAX_FRAMES: usize = 65_536;
/// Bytes held at most.
const MAX_BYTES: usize = 64 << 20;

/// The stage: frames in, in any order within the window; frames out, oldest first.
pub struct TimeOrder {
    reorder: Reorder<Frame>,
    ready: Vec<Frame>,
}

impl TimeOrder {
    pub fn new(window: Duration) -> TimeOrder {
        let ns = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        TimeOrder { reorder: Reorder::new(ns, MAX_FRAMES, MAX_BYTES), ready: Vec::new() }
    }

    /// Takes a frame; what it releases is in `released()`.
    pub fn push(&mut self, f: Frame) {
        let (ts, bytes) = (f.ts, f.data.len());
        self.reorder.push(ts, f, bytes, &mut self.ready);
    }

    /// A copy of a borrowed frame (replay), taken.
    pub fn push_ref(&mut self, f: FrameRef<'_>) {
        self.push(Frame {
            iface: f.iface,
            ts: f.ts,
            link: f.link,
            number: f.number,
            orig_len: f.orig_len,
            data: f.data.to_vec(),
        });
    }

    /// Something true from `ts` comes next (an interface change): every frame seen at or
    /// before it is released.
    pub fn barrier(&mut self, ts: Ts) {
        self.reorder.release_through(ts, &mut self.ready);
    }

    /// End of input: everything is released.
    pub fn flush(&mut self) {
        self.reorder.flush(&mut self.ready);
    }

    /// The frames released so far, oldest first, taken out.
    pub fn released(&mut self) -> std::vec::Drain<'_, Frame> {
        self.ready.drain(..)
    }

    pub fn counters(&self) -> OrderCounters {
        OrderCounters { frames: self.reorder.frames, late: self.reorder.late, early: self.reorder.early }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsleak_core::LinkType;

    fn frame(iface: u32, ms: i64) -> Frame {
        Frame { iface, ts: Ts::from_millis(ms), link: LinkType::RAW, number: 0, orig_len: 1, data: vec![0] }
    }

    /// Two interfaces' batches, as dumpcap writes them: out in time order, each frame once.
    #[test]
    fn batches_of_two_interfaces_come_out_in_time_order() {
        let mut o = TimeOrder::new(Duration::from_millis(500));
        let mut got = Vec::new();
        for f in [frame(0, 100), frame(0, 150), frame(1, 90), frame(1, 120), frame(0, 800)] {
            o.push(f);
            got.extend(o.released().map(|f| (f.iface, f.ts)));
        }
        o.barrier(Ts::from_millis(700));
        got.extend(o.released().map(|f| (f.iface, f.ts)));
        o.flush();
        got.extend(o.released().map(|f| (f.iface, f.ts)));
        let ms: Vec<i64> = got.iter().map(|(_, t)| t.0 / 1_000_000).collect();
        assert_eq!(ms, [90, 100, 120, 150, 800]);
        assert_eq!(o.counters(), OrderCounters { frames: 5, late: 0, early: 0 });
    }
}

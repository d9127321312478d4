//! Live frames put back in capture-time order across interfaces, for process attribution's
//! stub hop.
//!
//! Each interface has its own capture thread, and their frames meet in one channel in the
//! order the threads got them (libpcap hands a block over every millisecond or so). A program
//! asking a local stub (`dig @127.0.0.53`, seen on `lo`) and the stub's upstream query (seen on
//! `eth0` a tenth of a millisecond later) can therefore reach the pipeline the wrong way round,
//! and the upstream query would go out without `on_behalf_of`. So, while programs are named,
//! each frame waits `HOLD` after it arrived and frames leave in capture-time order: a frame
//! leaves once a frame with the same or a later time has waited its `HOLD` (the watermark).
//! Nothing is dropped; a frame later than the watermark already passed leaves at once (out of
//! order, as before), and more than `MAX_HELD` frames waiting lets the earliest go early. Both
//! are counted (`OrderCounters`: the final summary and the `stats` line show them).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use dnsleak_core::{Frame, Ts};

use crate::counters::OrderCounters;

/// How long a frame waits for frames of other interfaces captured before it.
pub const HOLD: Duration = Duration::from_millis(20);
/// Frames held at most (at 100,000 frames a second, `HOLD` holds 2,000).
pub const MAX_HELD: usize = 16_384;

/// Frames waiting, earliest capture time first.
#[derive(Default)]
pub struct Reorder {
    held: BinaryHeap<Reverse<Held>>,
    /// When each frame arrived, and its time, in arrival order (for the watermark).
    arrivals: VecDeque<(Instant, Ts)>,
    /// Frames at or before this time may leave.
    watermark: Option<Ts>,
    /// The latest time of a frame that left.
    released: Option<Ts>,
    seq: u64,
    /// Frames held, frames that came after a later one had left, frames let go before their
    /// `HOLD` because `MAX_HELD` were waiting.
    pub counters: OrderCounters,
}

struct Held {
    ts: Ts,
    seq: u64,
    frame: Frame,
}

impl Held {
    fn key(&self) -> (Ts, u64) {
        (self.ts, self.seq)
    }
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl Reorder {
    /// A frame that arrived `now`.
    pub fn push(&mut self, frame: Frame, now: Instant) {
        self.counters.frames += 1;
        if self.released.is_some_and(|r| frame.ts < r) {
            self.counters.late += 1;
        }
        self.seq += 1;
        self.arrivals.push_back((now, frame.ts));
        self.held.push(Reverse(Held { ts: frame.ts, seq: self.seq, frame }));
    }

    /// The next frame that may leave `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<Frame> {
        while let Some(&(at, ts)) = self.arrivals.front() {
            let waited = now.saturating_duration_since(at) >= HOLD;
            if !waited && self.arrivals.len() <= MAX_HELD {
                break;
            }
            if !waited {
                self.counters.early += 1;
            }
            self.arrivals.pop_front();
            self.watermark = self.watermark.max(Some(ts));
        }
        let first = self.held.peek()?.0.ts;
        let due = self.watermark.is_some_and(|w| first <= w) || self.held.len() > MAX_HELD;
        due.then(|| self.pop())?
    }

    /// The earliest frame held, whether or not it is due (before a fact, and at the end).
    pub fn pop(&mut self) -> Option<Frame> {
        let f = self.held.pop()?.0.frame;
        self.watermark = self.watermark.max(Some(f.ts));
        self.released = self.released.max(Some(f.ts));
        if self.held.is_empty() {
            self.arrivals.clear();
        }
        Some(f)
    }

    /// When the earliest-arrived frame still waiting is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.arrivals.front().map(|&(at, _)| at + HOLD)
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsleak_core::LinkType;

    fn frame(iface: u32, ts: i64) -> Frame {
        Frame { iface, ts: Ts(ts), link: LinkType::ETHERNET, number: 0, orig_len: 0, data: Vec::new() }
    }

    fn drain(r: &mut Reorder, now: Instant) -> Vec<(u32, i64)> {
        std::iter::from_fn(|| r.pop_due(now)).map(|f| (f.iface, f.ts.0)).collect()
    }

    /// The stub's upstream query (eth0, later) arrives before the ask on lo: both leave in
    /// capture order once the first has waited its hold, and not before.
    #[test]
    fn an_earlier_frame_of_another_interface_arriving_later_leaves_first() {
        let t0 = Instant::now();
        let mut r = Reorder::default();
        r.push(frame(0, 1_000_110), t0);
        r.push(frame(2, 1_000_000), t0 + Duration::from_millis(2));
        assert_eq!(drain(&mut r, t0 + HOLD / 2), []);
        assert_eq!(r.next_due(), Some(t0 + HOLD));
        assert_eq!(drain(&mut r, t0 + HOLD), [(2, 1_000_000), (0, 1_000_110)]);
        assert!(r.is_empty() && r.next_due().is_none());
        assert_eq!(r.counters, OrderCounters { frames: 2, late: 0, early: 0 });
    }

    /// A frame before the watermark (later than the hold) leaves at once; later ones wait.
    #[test]
    fn a_frame_later_than_the_hold_leaves_at_once() {
        let t0 = Instant::now();
        let mut r = Reorder::default();
        r.push(frame(0, 500), t0);
        assert_eq!(drain(&mut r, t0 + HOLD), [(0, 500)]);
        let t1 = t0 + HOLD * 3;
        r.push(frame(2, 400), t1);
        r.push(frame(0, 600), t1);
        assert_eq!(drain(&mut r, t1), [(2, 400)]);
        assert_eq!(drain(&mut r, t1 + HOLD), [(0, 600)]);
        // 400 came after 500 had left: late, counted.
        assert_eq!(r.counters, OrderCounters { frames: 3, late: 1, early: 0 });
    }

    /// A flood never holds more than MAX_HELD frames: the earliest leave early.
    #[test]
    fn held_frames_are_bounded() {
        let t0 = Instant::now();
        let mut r = Reorder::default();
        let mut out = Vec::new();
        for i in 0..(MAX_HELD as i64 + 100) {
            r.push(frame(0, i), t0);
            out.extend(drain(&mut r, t0));
            assert!(r.len() <= MAX_HELD);
        }
        assert_eq!(out.len(), 100);
        assert!(out.windows(2).all(|w| w[0].1 < w[1].1));
        assert_eq!(r.counters.early, 100, "the frames let go before their hold are counted");
        out.extend(std::iter::from_fn(|| r.pop()).map(|f| (f.iface, f.ts.0)));
        assert_eq!(out.len(), MAX_HELD + 100);
    }
}

//! Puts frames from several interfaces back in time order, within a window of trace time.
//!
//! Each interface is captured on its own (a libpcap thread per interface live; dumpcap writes
//! each interface's packets in batches), so a local stub's question on lo can reach the
//! pipeline after the upstream query it caused on eth0. The causes look back at earlier
//! messages, so frames are held until no earlier one can still come: a frame is released once
//! a frame `window` later has arrived (or the clock says so), oldest first. Bounded: past `cap`
//! frames or `max_bytes` bytes held, the oldest goes at once (counted in `early`). A frame
//! older than one already released is released next, out of order (counted in `late`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::frame::Ts;

struct Held<T> {
    ts: Ts,
    seq: u64,
    bytes: usize,
    item: T,
}

impl<T> PartialEq for Held<T> {
    fn eq(&self, o: &Self) -> bool {
        (self.ts, self.seq) == (o.ts, o.seq)
    }
}
impl<T> Eq for Held<T> {}
impl<T> PartialOrd for Held<T> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Held<T> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.ts, self.seq).cmp(&(o.ts, o.seq))
    }
}

pub struct Reorder<T> {
    /// Frames that came in time order (most do: an interface's batch is), oldest first: they
    /// wait here without the heap's cost.
    sorted: VecDeque<Held<T>>,
    /// Frames that came before a later one still held (the other interface's batch).
    heap: BinaryHeap<Reverse<Held<T>>>,
    window_ns: u64,
    cap: usize,
    max_bytes: usize,
    bytes: usize,
    seq: u64,
    newest: Ts,
    released: Option<Ts>,
    /// Frames released before their time because too many (or too many bytes) were held.
    pub early: u64,
    /// Frames that came after a later one was released (they go out at once, out of order).
    pub late: u64,
    /// Frames that went through the stage.
    pub frames: u64,
}

impl<T> Reorder<T> {
    /// Holds frames for `window_ns` of trace time, at most `cap` frames and `max_bytes` bytes.
    pub fn new(window_ns: u64, cap: usize, max_bytes: usize) -> Self {
        Reorder {
            sorted: VecDeque::new(),
            heap: BinaryHeap::new(),
            window_ns,
            cap: cap.max(1),
            max_bytes,
            bytes: 0,
            seq: 0,
            newest: Ts(i64::MIN),
            released: None,
            early: 0,
            late: 0,
            frames: 0,
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.sorted.len() + self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty() && self.heap.is_empty()
    }

    /// Holds `item` (seen at `ts`, `bytes` long) and appends to `out`, oldest first, what can
    /// no longer be preceded by a frame still to come. A frame older than one already released
    /// goes out at once.
    pub fn push(&mut self, ts: Ts, item: T, bytes: usize, out: &mut Vec<T>) {
        self.frames += 1;
        if self.released.is_some_and(|r| ts < r) {
            self.late += 1;
            out.push(item);
            return;
        }
        self.seq += 1;
        let held = Held { ts, seq: self.seq, bytes, item };
        if self.sorted.back().is_none_or(|b| b.ts <= ts) {
            self.sorted.push_back(held);
        } else {
            self.heap.push(Reverse(held));
        }
        self.bytes += bytes;
        self.newest = self.newest.max(ts);
        while self.len() > self.cap || (self.bytes > self.max_bytes && self.len() > 1) {
            self.early += 1;
            self.pop(out);
        }
        let (newest, w) = (self.newest, self.window_ns);
        self.release(|t| t <= newest && newest.since(t) >= w, out);
    }

    /// Time passed without frames: releases what is a window older than `now`.
    pub fn advance(&mut self, now: Ts, out: &mut Vec<T>) {
        let w = self.window_ns;
        self.release(|t| t <= now && now.since(t) >= w, out);
    }

    /// Releases everything seen at or before `ts` (an interface change at `ts` comes next).
    pub fn release_through(&mut self, ts: Ts, out: &mut Vec<T>) {
        self.release(|t| t <= ts, out);
    }

    /// Releases everything (end of input).
    pub fn flush(&mut self, out: &mut Vec<T>) {
        while !self.is_empty() {
            self.pop(out);
        }
    }

    fn release(&mut self, ready: impl Fn(Ts) -> bool, out: &mut Vec<T>) {
        while let Some((ts, in_heap)) = self.oldest() {
            if !ready(ts) {
                break;
            }
            self.take(in_heap, out);
        }
    }

    /// The time of the oldest frame held, and whether it is in the heap.
    fn oldest(&self) -> Option<(Ts, bool)> {
        let s = self.sorted.front().map(|h| (h.ts, h.seq));
        let h = self.heap.peek().map(|Reverse(h)| (h.ts, h.seq));
        match (s, h) {
            (Some(s), Some(h)) => Some(if h < s { (h.0, true) } else { (s.0, false) }),
            (Some(s), None) => Some((s.0, false)),
            (None, Some(h)) => Some((h.0, true)),
            (None, None) => None,
        }
    }

    fn pop(&mut self, out: &mut Vec<T>) {
        if let Some((_, in_heap)) = self.oldest() {
            self.take(in_heap, out);
        }
    }

    /// Releases the oldest frame, found (by `oldest`) in the heap or the sorted run.
    fn take(&mut self, in_heap: bool, out: &mut Vec<T>) {
        let held = if in_heap { self.heap.pop().map(|Reverse(h)| h) } else { self.sorted.pop_front() };
        if let Some(h) = held {
            self.bytes -= h.bytes;
            self.released = Some(self.released.map_or(h.ts, |r| r.max(h.ts)));
            out.push(h.item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn frames_come_out_in_time_order_a_window_later() {
        let mut r = Reorder::new(10 * MS, 100, 1 << 20);
        let mut out = Vec::new();
        // eth0's upstream query (t=5) reaches us before lo's question (t=4).
        r.push(Ts::from_millis(5), "eth0", 1, &mut out);
        r.push(Ts::from_millis(4), "lo", 1, &mut out);
        assert!(out.is_empty(), "held: nothing is a window old yet");
        r.push(Ts::from_millis(15), "later", 1, &mut out);
        assert_eq!(out, ["lo", "eth0"]);
        r.advance(Ts::from_millis(24), &mut out);
        assert_eq!(out.len(), 2, "not yet a window old");
        r.advance(Ts::from_millis(25), &mut out);
        assert_eq!(out, ["lo", "eth0", "later"]);
        assert_eq!((r.late, r.early), (0, 0));
        r.push(Ts::from_millis(1), "very late", 1, &mut out);
        assert_eq!(out.last(), Some(&"very late"), "out at once");
        assert_eq!(r.late, 1);
        assert_eq!(r.frames, 4);
    }

    /// The stage as its doc comment says it, with a linear search for the oldest frame: the
    /// reference for the sorted run and the heap.
    struct Model {
        held: Vec<(Ts, u64, usize)>,
        seq: u64,
        newest: Ts,
        released: Option<Ts>,
        late: u64,
        early: u64,
    }

    impl Model {
        fn pop(&mut self, out: &mut Vec<usize>) {
            let at = (0..self.held.len()).min_by_key(|&i| (self.held[i].0, self.held[i].1)).unwrap();
            let (ts, _, item) = self.held.remove(at);
            self.released = Some(self.released.map_or(ts, |r| r.max(ts)));
            out.push(item);
        }

        fn push(&mut self, ts: Ts, item: usize, window: u64, cap: usize, out: &mut Vec<usize>) {
            if self.released.is_some_and(|r| ts < r) {
                self.late += 1;
                out.push(item);
                return;
            }
            self.seq += 1;
            self.held.push((ts, self.seq, item));
            self.newest = self.newest.max(ts);
            while self.held.len() > cap {
                self.early += 1;
                self.pop(out);
            }
            let newest = self.newest;
            while self
                .held
                .iter()
                .map(|h| h.0)
                .min()
                .is_some_and(|t| t <= newest && newest.since(t) >= window)
            {
                self.pop(out);
            }
        }
    }

    /// Two interfaces' batches, shuffled within and across batches, with ties, late frames and
    /// a cap: the same frames out in the same order as the reference, and the same counts.
    #[test]
    fn out_of_order_batches_come_out_as_the_reference_says() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for (window, cap) in [(10 * MS, 1_000), (3 * MS, 1_000), (50 * MS, 16)] {
            let mut r = Reorder::new(window, cap, usize::MAX);
            let mut m =
                Model { held: Vec::new(), seq: 0, newest: Ts(i64::MIN), released: None, late: 0, early: 0 };
            let (mut got, mut want) = (Vec::new(), Vec::new());
            let mut t = 0i64;
            for item in 0..5_000 {
                t += next(3) as i64 * MS as i64 / 2;
                // One frame in four from the other interface's batch, up to 12 ms back.
                let ts = if next(4) == 0 { Ts(t - next(12) as i64 * MS as i64) } else { Ts(t) };
                r.push(ts, item, 1, &mut got);
                m.push(ts, item, window, cap, &mut want);
            }
            r.flush(&mut got);
            while !m.held.is_empty() {
                m.pop(&mut want);
            }
            assert_eq!(got, want, "window {window}, cap {cap}");
            assert_eq!((r.late, r.early), (m.late, m.early), "window {window}, cap {cap}");
            assert!(r.late > 0 || window > 10 * MS, "the mix has late frames");
        }
    }

    #[test]
    fn held_frames_are_bounded_and_ties_keep_arrival_order() {
        let mut r = Reorder::new(1_000 * MS, 3, 1 << 20);
        let mut out = Vec::new();
        for i in 0..5 {
            r.push(Ts::from_millis(7), i, 1, &mut out);
        }
        assert_eq!(out, [0, 1], "the oldest go past the cap, in arrival order");
        assert_eq!((r.early, r.len()), (2, 3));
        r.release_through(Ts::from_millis(7), &mut out);
        assert_eq!(out, [0, 1, 2, 3, 4]);
        assert!(r.is_empty());
        // Bytes are bounded too: a frame past the byte cap pushes the oldest out.
        let mut r = Reorder::new(1_000 * MS, 100, 10);
        let mut out = Vec::new();
        r.push(Ts(1), 'a', 6, &mut out);
        r.push(Ts(2), 'b', 6, &mut out);
        assert_eq!((r.early, r.len(), r.bytes()), (1, 1, 6));
    }
}

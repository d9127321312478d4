//! DNS over TCP: per-flow stream reassembly and the 2-byte length prefix (RFC 1035 4.2.2,
//! RFC 7766). Handles segments split and merged, retransmissions, out-of-order segments, streams
//! whose start was not captured and gaps (resynchronising on the next plausible length prefix),
//! with per-flow and total memory caps and flows expired in trace time.
//!
//! Each direction of a connection is its own flow (`FlowKey`). Bytes are delivered in sequence
//! order; a hole is given up on (reported as `StreamItem::Gap`) when the other side acknowledged
//! bytes inside it (the capture lost them: they will never come), when it stays open longer than
//! the reorder window in trace time, or when the data waiting behind it exceeds the per-flow
//! budget. After a gap, and at the start of a stream seen without its SYN, the parser hunts for
//! a plausible length prefix: one whose following bytes read as a DNS header with sane counts and
//! a well-formed first question.
//!
//! The flow table never walks its flows: flows sit in an [`AgeMap`] by last segment, in three
//! lists (open and holding no bytes, open and holding bytes, closed), and flows with a hole in a
//! queue in the order the hole opened. Eviction (a closed flow first, else the least recently
//! seen; under the byte cap, the least recently seen flow that holds bytes), expiry and giving
//! up stale holes take the oldest in O(1) each. A flow that changes list without a segment of
//! its own (a hole given up on, a reset from the other side) goes to the young end of its new
//! list, so it may expire a little late, never early.

mod framing;

use std::collections::VecDeque;
use std::net::IpAddr;

use self::framing::{extract, Scan};
use crate::agemap::{AgeMap, Slot};
use crate::frame::Ts;
use crate::stats::TcpStats;
use crate::topology::IfaceId;

/// One direction of a TCP connection, as seen on one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub iface: IfaceId,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
}

impl FlowKey {
    /// The other direction of the same connection.
    pub fn reverse(&self) -> FlowKey {
        FlowKey { iface: self.iface, src: self.dst, sport: self.dport, dst: self.src, dport: self.sport }
    }
}

/// What the TCP header says of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    pub seq: u32,
    /// The acknowledgment number, when the ACK flag is set.
    pub ack: Option<u32>,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub payload: &'a [u8],
}

/// What a stream yields, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamItem<'a> {
    /// One whole DNS message (without its length prefix).
    Message(&'a [u8]),
    /// Bytes were lost (a hole that will not be filled, or skipped to resynchronise).
    Gap { lost: u64 },
}

#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    pub max_flows: usize,
    /// Bytes buffered in one direction of one flow (a DNS message is at most 65,537 bytes
    /// with its prefix; out-of-order data counts too).
    pub max_flow_bytes: usize,
    /// Bytes buffered over all flows.
    pub max_total_bytes: usize,
    /// A flow idle for this much trace time is dropped.
    pub idle_timeout_ns: u64,
    /// A hole in a stream not filled within this much trace time is given up on.
    pub reorder_window_ns: u64,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_flows: 16_384,
            max_flow_bytes: 160 * 1024,
            max_total_bytes: 64 << 20,
            idle_timeout_ns: 120_000_000_000,
            reorder_window_ns: 2_000_000_000,
        }
    }
}

/// A closed direction is kept this long (trace time) so that late retransmissions are
/// recognised as such rather than starting a new stream.
const CLOSED_LINGER_NS: u64 = 10_000_000_000;
/// Out-of-order segments held per flow before the hole in front of them is given up on.
const MAX_OOO_SEGMENTS: usize = 128;

/// `a` comes after `b` in sequence space (RFC 1982 style, modulo 2^32).
fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// One direction of a connection.
#[derive(Debug)]
struct Dir {
    /// Sequence number of the next byte expected in order.
    next_seq: u32,
    isn: Option<u32>,
    scan: Scan,
    /// In-order bytes not yet consumed: a partial message, or bytes being hunted through.
    buf: Vec<u8>,
    /// Out-of-order segments (start sequence number, bytes), sorted by start.
    ooo: Vec<(u32, Vec<u8>)>,
    ooo_bytes: usize,
    /// Highest sequence number the sender has shown (end of its data).
    high_seq: u32,
    hole_since: Option<Ts>,
    /// Highest acknowledgment the other side sent for this direction's bytes.
    peer_ack: Option<u32>,
    fin: bool,
    closed: bool,
    last_seen: Ts,
    generation: u64,
}

impl Dir {
    fn new(seg: &Segment<'_>, ts: Ts, generation: u64) -> Dir {
        let next_seq = if seg.syn { seg.seq.wrapping_add(1) } else { seg.seq };
        Dir {
            next_seq,
            isn: seg.syn.then_some(seg.seq),
            scan: Scan { synced: seg.syn, ..Scan::default() },
            buf: Vec::new(),
            ooo: Vec::new(),
            ooo_bytes: 0,
            high_seq: next_seq,
            hole_since: None,
            peer_ack: None,
            fin: false,
            closed: false,
            last_seen: ts,
            generation,
        }
    }

    fn held(&self) -> usize {
        self.buf.len() + self.ooo_bytes
    }

    fn has_hole(&self) -> bool {
        !self.ooo.is_empty() || seq_gt(self.high_seq, self.next_seq)
    }

    /// Frees the buffers, returning how many bytes they held.
    fn clear(&mut self) -> u64 {
        let held = self.held() as u64;
        self.buf = Vec::new();
        self.ooo = Vec::new();
        self.ooo_bytes = 0;
        held
    }
}

/// The flow table's lists.
const OPEN: usize = 0;
const HOLDING: usize = 1;
const CLOSED: usize = 2;

/// The list a flow belongs in.
fn list_of(dir: &Dir) -> usize {
    if dir.closed {
        CLOSED
    } else if dir.held() > 0 {
        HOLDING
    } else {
        OPEN
    }
}

/// A flow whose hole opened at `since`; stale once the flow is gone, replaced (another
/// generation) or its hole is no longer the one that opened then.
#[derive(Debug, Clone, Copy)]
struct HoleEntry {
    key: FlowKey,
    generation: u64,
    since: Ts,
}

/// Stream reassembly for every DNS-over-TCP flow.
#[derive(Debug, Default)]
pub struct TcpStreams {
    limits: TcpLimits,
    stats: TcpStats,
    /// By last segment, in the lists `OPEN`, `HOLDING` and `CLOSED`.
    flows: AgeMap<FlowKey, Dir, 3>,
    /// Flows with a hole, in the order the holes opened; stale entries are skipped.
    holes: VecDeque<HoleEntry>,
    next_generation: u64,
    /// Bytes buffered over all flows.
    total: usize,
}

impl TcpStreams {
    pub fn new(limits: TcpLimits) -> Self {
        TcpStreams { limits, ..TcpStreams::default() }
    }

    /// Feeds one segment; calls `sink` for each message (or gap) it completes, in stream order.
    pub fn segment(&mut self, ts: Ts, key: FlowKey, seg: &Segment<'_>, sink: &mut dyn FnMut(StreamItem<'_>)) {
        if let Some(ack) = seg.ack {
            self.note_ack(&key, ack, seg.rst);
        }
        let slot = match self.flows.find(&key) {
            Some(slot) => slot,
            // A flow starts with its SYN or its first data; bare ACKs, FINs and RSTs of
            // flows never seen create nothing.
            None if !seg.syn && (seg.payload.is_empty() || seg.rst) => return,
            None => {
                self.create(ts, key, seg);
                let Some(slot) = self.flows.find(&key) else { return };
                slot
            }
        };
        let Some(dir) = self.flows.value_mut(slot) else { return };
        let (before, hole_before) = (dir.held(), dir.hole_since);
        feed(dir, ts, seg, &self.limits, &mut self.stats, sink);
        let (after, hole, generation, list) = (dir.held(), dir.hole_since, dir.generation, list_of(dir));
        self.total = self.total.saturating_sub(before).saturating_add(after);
        self.flows.move_to(slot, list);
        if let Some(since) = hole.filter(|t| hole_before != Some(*t)) {
            self.note_hole(HoleEntry { key, generation, since });
        }
        while self.total > self.limits.max_total_bytes && self.evict_oldest(true) {}
    }

    /// Drops flows idle longer than the timeout at trace time `now` (the least recently seen of
    /// each list first; a trace whose time goes backwards keeps a flow until those seen before
    /// it have gone).
    pub fn expire(&mut self, now: Ts) {
        let idle = self.limits.idle_timeout_ns;
        for (list, limit) in [(OPEN, idle), (HOLDING, idle), (CLOSED, CLOSED_LINGER_NS.min(idle))] {
            while let Some((_, d)) = self.flows.oldest(list) {
                if now.since(d.last_seen) < limit {
                    break;
                }
                let Some((_, mut d)) = self.flows.pop_oldest(list) else { break };
                let held = d.clear();
                self.total = self.total.saturating_sub(held as usize);
                self.stats.bytes_lost += held;
                if !d.closed {
                    self.stats.flows_expired += 1;
                }
            }
        }
        self.compact_holes();
    }

    /// Gives up, at trace time `now`, on holes older than the reorder window (every hole when
    /// `now` is the end of time, `Ts(i64::MAX)`), delivering what waited behind them, oldest
    /// hole first. `sink` gets the flow, the trace time to give the items (`now`, or the flow's
    /// last packet at the end of time) and the item.
    pub fn flush_stale(&mut self, now: Ts, sink: &mut dyn FnMut(&FlowKey, Ts, StreamItem<'_>)) {
        let window = self.limits.reorder_window_ns;
        // Entries pushed while flushing wait for the next call.
        for _ in 0..self.holes.len() {
            let Some(&entry) = self.holes.front() else { break };
            let slot = self.flows.find(&entry.key).filter(|&s| {
                self.flows.value(s).is_some_and(|d| {
                    d.generation == entry.generation
                        && d.hole_since == Some(entry.since)
                        && !d.closed
                        && d.has_hole()
                })
            });
            if slot.is_some() && now.since(entry.since) < window {
                break;
            }
            self.holes.pop_front();
            if let Some(slot) = slot {
                self.flush_one(slot, entry.key, now, sink);
            }
        }
    }

    /// Gives up the stale holes of the flow at `slot`.
    fn flush_one(
        &mut self,
        slot: Slot,
        key: FlowKey,
        now: Ts,
        sink: &mut dyn FnMut(&FlowKey, Ts, StreamItem<'_>),
    ) {
        let Some(dir) = self.flows.value_mut(slot) else { return };
        let when = if now.0 == i64::MAX { dir.last_seen } else { now };
        let before = dir.held();
        give_up_holes(dir, now, &self.limits, &mut self.stats, &mut |item| sink(&key, when, item));
        if dir.fin && !dir.has_hole() {
            self.stats.bytes_lost += dir.clear();
            dir.closed = true;
        }
        let (after, hole, generation, list) = (dir.held(), dir.hole_since, dir.generation, list_of(dir));
        self.total = self.total.saturating_sub(before).saturating_add(after);
        if self.flows.list_of(slot) != list {
            self.flows.move_to(slot, list);
        }
        if let Some(since) = hole {
            self.note_hole(HoleEntry { key, generation, since });
        }
    }

    fn note_hole(&mut self, entry: HoleEntry) {
        self.holes.push_back(entry);
        self.compact_holes();
    }

    pub fn stats(&self) -> TcpStats {
        self.stats
    }

    /// Flows currently tracked (each direction counts once).
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Bytes currently buffered over all flows.
    pub fn buffered_bytes(&self) -> usize {
        self.total
    }

    fn create(&mut self, ts: Ts, key: FlowKey, seg: &Segment<'_>) {
        while self.flows.len() >= self.limits.max_flows.max(1) && self.evict_oldest(false) {}
        let generation = self.next_generation;
        self.next_generation += 1;
        self.flows.insert(key, Dir::new(seg, ts, generation), OPEN);
        self.stats.flows += 1;
    }

    /// Records what the other side acknowledged; a RST aborts the other direction too.
    fn note_ack(&mut self, key: &FlowKey, ack: u32, rst: bool) {
        let Some(slot) = self.flows.find(&key.reverse()) else { return };
        let Some(rev) = self.flows.value_mut(slot) else { return };
        if rev.peer_ack.is_none_or(|a| seq_gt(ack, a)) {
            rev.peer_ack = Some(ack);
        }
        if rst && !rev.closed {
            let held = rev.clear();
            rev.closed = true;
            self.total = self.total.saturating_sub(held as usize);
            self.stats.bytes_lost += held;
            self.flows.move_to(slot, CLOSED);
        }
    }

    /// Drops a flow to make room: with `holding` (over the byte cap), the least recently seen
    /// flow that buffers bytes; otherwise a closed flow (it only remembers where the stream
    /// ended), else the least recently seen. False when there is none.
    fn evict_oldest(&mut self, holding: bool) -> bool {
        let list = if holding {
            HOLDING
        } else if self.flows.list_len(CLOSED) > 0 {
            CLOSED
        } else {
            match self.flows.oldest_of(&[OPEN, HOLDING]) {
                Some(list) => list,
                None => return false,
            }
        };
        let Some((_, mut d)) = self.flows.pop_oldest(list) else { return false };
        let held = d.clear();
        self.total = self.total.saturating_sub(held as usize);
        self.stats.bytes_lost += held;
        self.stats.flows_evicted += 1;
        self.stats.evicted_holding += u64::from(held > 0);
        true
    }

    /// Forgets the hole entries of flows gone or changed once they outnumber the flows.
    fn compact_holes(&mut self) {
        if self.holes.len() > 2 * self.flows.len() + 64 {
            let flows = &self.flows;
            self.holes.retain(|h| {
                flows
                    .get(&h.key)
                    .is_some_and(|d| d.generation == h.generation && d.hole_since == Some(h.since))
            });
        }
    }
}

/// Processes one segment of one direction.
fn feed(
    dir: &mut Dir,
    ts: Ts,
    seg: &Segment<'_>,
    limits: &TcpLimits,
    stats: &mut TcpStats,
    sink: &mut dyn FnMut(StreamItem<'_>),
) {
    dir.last_seen = ts;
    if seg.syn && dir.isn != Some(seg.seq) {
        // A new connection on the same ports (or the SYN of a stream first seen without it):
        // start over at its sequence number.
        let held = dir.clear();
        stats.bytes_lost += held;
        *dir = Dir::new(seg, ts, dir.generation);
    }
    let data_seq = if seg.syn { seg.seq.wrapping_add(1) } else { seg.seq };
    if dir.closed {
        if !seg.payload.is_empty() {
            stats.retransmissions += 1;
        }
        return;
    }
    // Segments longer than the sequence space can describe do not occur; cut defensively.
    let payload = &seg.payload[..seg.payload.len().min(1 << 30)];
    let end = data_seq.wrapping_add(payload.len() as u32);
    if seq_gt(end, dir.high_seq) {
        dir.high_seq = end;
    }
    if !payload.is_empty() {
        accept(dir, ts, data_seq, payload, stats, sink);
    }
    if dir.has_hole() {
        dir.hole_since.get_or_insert(ts);
        give_up_holes(dir, ts, limits, stats, sink);
    } else {
        dir.hole_since = None;
    }
    enforce_flow_cap(dir, limits, stats, sink);
    dir.fin |= seg.fin;
    if seg.rst || (dir.fin && !dir.has_hole()) {
        stats.bytes_lost += dir.clear();
        dir.closed = true;
    }
}

/// Takes the segment's bytes: in order (delivered now), old (a retransmission) or ahead of a
/// hole (held).
fn accept(
    dir: &mut Dir,
    ts: Ts,
    seq: u32,
    payload: &[u8],
    stats: &mut TcpStats,
    sink: &mut dyn FnMut(StreamItem<'_>),
) {
    let rel = seq.wrapping_sub(dir.next_seq) as i32 as i64;
    let len = payload.len() as i64;
    if rel + len <= 0 {
        stats.retransmissions += 1;
        return;
    }
    if rel > 0 {
        hold(dir, ts, seq, payload, stats);
        return;
    }
    if rel < 0 {
        stats.retransmissions += 1;
    }
    let fresh = &payload[(-rel) as usize..];
    dir.next_seq = dir.next_seq.wrapping_add(fresh.len() as u32);
    if dir.buf.is_empty() && dir.ooo.is_empty() {
        // Fast path: parse straight from the segment, keep only an unfinished tail.
        let used = extract(&mut dir.scan, fresh, stats, sink);
        dir.buf.extend_from_slice(&fresh[used..]);
        return;
    }
    dir.buf.extend_from_slice(fresh);
    pull_in_order(dir, stats);
    consume_buf(dir, stats, sink);
}

/// Holds a segment that starts beyond a hole, keeping the list sorted and free of exact
/// duplicates.
fn hold(dir: &mut Dir, ts: Ts, seq: u32, payload: &[u8], stats: &mut TcpStats) {
    let base = dir.next_seq;
    let rel = |s: u32| s.wrapping_sub(base);
    let start = rel(seq);
    let pos = dir.ooo.partition_point(|(s, _)| rel(*s) < start);
    if let Some((s, d)) = dir.ooo.get(pos) {
        if rel(*s) == start && d.len() >= payload.len() {
            stats.retransmissions += 1;
            return;
        }
    }
    dir.ooo.insert(pos, (seq, payload.to_vec()));
    dir.ooo_bytes += payload.len();
    dir.hole_since.get_or_insert(ts);
}

/// Moves out-of-order segments that now continue the in-order bytes into `buf`.
fn pull_in_order(dir: &mut Dir, stats: &mut TcpStats) {
    while let Some((s, _)) = dir.ooo.first() {
        let rel = s.wrapping_sub(dir.next_seq) as i32 as i64;
        if rel > 0 {
            break;
        }
        let (_, data) = dir.ooo.remove(0);
        dir.ooo_bytes -= data.len();
        let skip = (-rel) as usize;
        if skip >= data.len() {
            stats.retransmissions += 1;
            continue;
        }
        if skip > 0 {
            stats.retransmissions += 1;
        }
        dir.buf.extend_from_slice(&data[skip..]);
        dir.next_seq = dir.next_seq.wrapping_add((data.len() - skip) as u32);
    }
}

/// Parses what `buf` holds and drops what was used.
fn consume_buf(dir: &mut Dir, stats: &mut TcpStats, sink: &mut dyn FnMut(StreamItem<'_>)) {
    let used = extract(&mut dir.scan, &dir.buf, stats, sink);
    dir.buf.drain(..used);
    if dir.buf.is_empty() && dir.buf.capacity() > 4096 {
        dir.buf = Vec::new();
    }
}

/// Gives up on holes that will not be filled: the other side acknowledged bytes in them, they
/// are older than the reorder window, or too much waits behind them.
fn give_up_holes(
    dir: &mut Dir,
    ts: Ts,
    limits: &TcpLimits,
    stats: &mut TcpStats,
    sink: &mut dyn FnMut(StreamItem<'_>),
) {
    while dir.has_hole() {
        let acked = dir.peer_ack.is_some_and(|a| seq_gt(a, dir.next_seq));
        let stale = dir.hole_since.is_some_and(|t| ts.since(t) >= limits.reorder_window_ns);
        let full = dir.held() > limits.max_flow_bytes || dir.ooo.len() > MAX_OOO_SEGMENTS;
        if !(acked || stale || full) {
            return;
        }
        let hole_end = dir.ooo.first().map_or(dir.high_seq, |(s, _)| *s);
        let hole = hole_end.wrapping_sub(dir.next_seq) as u64;
        let partial = dir.buf.len() as u64;
        dir.buf.clear();
        dir.next_seq = hole_end;
        dir.scan = Scan { synced: false, after_loss: true, skipped: 0 };
        stats.gaps += 1;
        stats.bytes_lost += hole + partial;
        sink(StreamItem::Gap { lost: hole + partial });
        pull_in_order(dir, stats);
        consume_buf(dir, stats, sink);
        dir.hole_since = dir.has_hole().then_some(ts);
    }
}

/// When the in-order bytes alone exceed the per-flow cap (a cap set below a message's size),
/// drops them and hunts for the next message.
fn enforce_flow_cap(
    dir: &mut Dir,
    limits: &TcpLimits,
    stats: &mut TcpStats,
    sink: &mut dyn FnMut(StreamItem<'_>),
) {
    if dir.held() <= limits.max_flow_bytes {
        return;
    }
    let lost = dir.clear();
    dir.scan = Scan { synced: false, after_loss: true, skipped: 0 };
    if dir.has_hole() {
        // The held segments are gone too: continue after the furthest byte seen.
        dir.next_seq = dir.high_seq;
    }
    dir.hole_since = None;
    stats.gaps += 1;
    stats.bytes_lost += lost;
    sink(StreamItem::Gap { lost });
}

#[cfg(test)]
mod tests;

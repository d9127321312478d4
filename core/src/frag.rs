//! IPv4 and IPv6 fragment reassembly with bounded memory and a timeout in trace time.
//!
//! Datagrams are keyed by (interface, IP version, source, destination, protocol, id); for IPv6
//! the protocol is left out of the key and taken from the fragment at offset 0, as RFC 8200
//! 4.5 says the Next Header of other fragments may differ.
//!
//! Rules:
//! - any fragment size, in any order; the datagram completes when the fragment without "more
//!   fragments" has been seen and every byte before its end is held;
//! - overlaps and duplicates: **first wins**. Bytes already held are kept and a later fragment
//!   only fills the holes it covers; every fragment that repeats or overlaps held bytes is
//!   counted in `overlaps` (so a rewrite of already-seen bytes can never change a message);
//! - `invalid` (the fragment is dropped, the datagram kept): a fragment ending past 65,535
//!   bytes, a second final fragment with a different end, data past the known end, a final
//!   fragment ending before data already held, or a datagram split in more holes than
//!   `MAX_HOLES`;
//! - memory: at most `max_datagrams` datagrams and `max_bytes` buffered; the oldest datagram is
//!   dropped (`evicted`) to make room;
//! - time: a datagram not complete `timeout_ns` of trace time after its first fragment is given
//!   up (`timed_out`); `expire(Ts(i64::MAX))` gives up everything still pending.
//!
//! Datagrams are kept in the order of their first fragment (an [`AgeMap`]), so eviction and
//! expiry take the oldest without looking at the others: O(1) per datagram however full the
//! table is.

use std::net::IpAddr;

use super::agemap::AgeMap;

use super::frame::Ts;
use super::ip::IpPacket;
use super::stats::FragStats;
use super::topology::IfaceId;

/// The largest datagram payload reassembled.
pub const MAX_DATAGRAM: usize = 65_535;
/// Separate runs of held bytes one datagram may have.
const MAX_HOLES: usize = 1024;

/// Memory and time limits of reassembly.
#[derive(Debug, Clone, Copy)]
pub struct FragLimits {
    /// Datagrams being reassembled at once.
    pub max_datagrams: usize,
    /// Bytes held over all datagrams.
    pub max_bytes: usize,
    /// A datagram not completed within this much trace time is given up.
    pub timeout_ns: u64,
}

impl Default for FragLimits {
    fn default() -> Self {
        FragLimits { max_datagrams: 4096, max_bytes: 16 << 20, timeout_ns: 30_000_000_000 }
    }
}

/// A completed datagram: the upper-layer payload of the whole datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    iface: IfaceId,
    src: IpAddr,
    dst: IpAddr,
    /// 0 for IPv6 (see the module notes).
    proto: u8,
    id: u32,
}

#[derive(Debug)]
struct Datagram {
    first: Ts,
    /// Upper-layer protocol (IPv6: from the offset-0 fragment, when seen).
    proto: Option<u8>,
    /// Bytes 0..len of the datagram as far as received (holes are zero until filled).
    data: Vec<u8>,
    /// Sorted, disjoint, non-adjacent runs of held bytes.
    held: Vec<(usize, usize)>,
    /// End of the datagram, once the last fragment was seen.
    end: Option<usize>,
}

/// What one fragment did to its datagram.
enum Push {
    Held,
    Invalid,
    Complete,
}

impl Datagram {
    fn push(&mut self, offset: usize, bytes: &[u8], more: bool) -> (Push, bool) {
        let end = offset + bytes.len();
        let beyond = self.end.is_some_and(|e| end > e);
        let bad_end = !more && (self.end.is_some_and(|e| e != end) || self.data.len() > end);
        if end > MAX_DATAGRAM || beyond || bad_end {
            return (Push::Invalid, false);
        }
        // Runs are sorted and disjoint, so their ends are sorted too: the runs that meet
        // [offset, end) are found by binary search, never by walking them all.
        let first = self.held.partition_point(|&(_, e)| e <= offset);
        let overlap = self.held.get(first).is_some_and(|&(s, _)| s < end);
        if self.held.len() >= MAX_HOLES && !overlap {
            return (Push::Invalid, false);
        }
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        // First wins: copy only into the holes of [offset, end).
        let mut pos = offset;
        for &(s, e) in self.held[first..].iter().take_while(|&&(s, _)| s < end) {
            if s > pos {
                self.data[pos..s].copy_from_slice(&bytes[pos - offset..s - offset]);
            }
            pos = pos.max(e);
        }
        if pos < end {
            self.data[pos..end].copy_from_slice(&bytes[pos - offset..]);
        }
        self.add_run(offset, end);
        if !more {
            self.end = Some(end);
        }
        let done = self.end.is_some_and(|e| self.held == [(0, e)] || e == 0);
        (if done { Push::Complete } else { Push::Held }, overlap)
    }

    /// Merges [s, e) into the held runs (the runs it touches are found by binary search).
    fn add_run(&mut self, s: usize, e: usize) {
        if s == e {
            return;
        }
        let from = self.held.partition_point(|&(_, b)| b < s);
        let to = self.held.partition_point(|&(a, _)| a <= e);
        let (mut s, mut e) = (s, e);
        if from < to {
            s = s.min(self.held[from].0);
            e = e.max(self.held[to - 1].1);
        }
        self.held.splice(from..to, [(s, e)]);
    }
}

#[derive(Debug, Default)]
pub struct Defrag {
    limits: FragLimits,
    stats: FragStats,
    /// In the order of their first fragment.
    pending: AgeMap<Key, Datagram>,
    bytes: usize,
}

impl Defrag {
    pub fn new(limits: FragLimits) -> Self {
        Defrag { limits, ..Default::default() }
    }

    /// Adds a fragment; returns the datagram when this fragment completes it.
    pub fn push(&mut self, ts: Ts, iface: IfaceId, pkt: &IpPacket<'_>) -> Option<Reassembled> {
        let frag = pkt.frag?;
        let v6 = pkt.src.is_ipv6();
        let key =
            Key { iface, src: pkt.src, dst: pkt.dst, proto: if v6 { 0 } else { pkt.proto }, id: frag.id };
        let offset = frag.offset as usize;
        if offset + pkt.payload.len() > MAX_DATAGRAM {
            self.stats.invalid += 1;
            return None;
        }
        if !self.pending.contains_key(&key) {
            let (want, max_d, max_b) =
                (offset + pkt.payload.len(), self.limits.max_datagrams, self.limits.max_bytes);
            self.evict_while(|s| s.pending.len() >= max_d || s.bytes + want > max_b);
            let d = Datagram { first: ts, proto: None, data: Vec::new(), held: Vec::new(), end: None };
            self.pending.insert(key, d, 0);
        }
        let d = self.pending.get_mut(&key)?;
        let before = d.data.len();
        let (result, overlap) = d.push(offset, pkt.payload, frag.more);
        if offset == 0 || !v6 {
            d.proto.get_or_insert(pkt.proto);
        }
        self.bytes = self.bytes + d.data.len() - before;
        self.stats.overlaps += u64::from(overlap);
        match result {
            Push::Held => {
                let max_b = self.limits.max_bytes;
                self.evict_while(|s| s.bytes > max_b);
                None
            }
            Push::Invalid => {
                self.stats.invalid += 1;
                None
            }
            Push::Complete => self.complete(key),
        }
    }

    fn complete(&mut self, key: Key) -> Option<Reassembled> {
        let d = self.pending.remove(&key)?;
        self.bytes -= d.data.len();
        self.stats.reassembled += 1;
        let mut payload = d.data;
        payload.truncate(d.end.unwrap_or(0));
        Some(Reassembled { src: key.src, dst: key.dst, proto: d.proto.unwrap_or(key.proto), payload })
    }

    /// Drops the oldest datagrams while `over` says the limits are exceeded.
    fn evict_while(&mut self, over: impl Fn(&Self) -> bool) {
        while !self.pending.is_empty() && over(self) {
            let Some((_, d)) = self.pending.pop_oldest(0) else { break };
            self.bytes -= d.data.len();
            self.stats.evicted += 1;
        }
    }

    /// Gives up datagrams older than the timeout at trace time `now`; at `Ts(i64::MAX)` (end
    /// of input) everything pending. Looks at the oldest only: a trace whose time goes
    /// backwards keeps a datagram until those before it have gone.
    pub fn expire(&mut self, now: Ts) {
        let timeout = self.limits.timeout_ns;
        while let Some((_, d)) = self.pending.oldest(0) {
            if now.0 != i64::MAX && now.since(d.first) <= timeout {
                break;
            }
            let Some((_, d)) = self.pending.pop_oldest(0) else { break };
            self.bytes -= d.data.len();
            self.stats.timed_out += 1;
        }
    }

    /// Datagrams being reassembled now, and the bytes they hold.
    pub fn pending(&self) -> (usize, usize) {
        (self.pending.len(), self.bytes)
    }

    pub fn stats(&self) -> FragStats {
        self.stats
    }
}

#[cfg(test)]
mod tests;

//! DNS over TCP: per-flow stream reassembly and the 2-byte length prefix (RFC 1035 4.2.2).
//! Handles segments split and merged, retransmissions, out-of-order segments, streams whose
//! start was not captured and gaps (resynchronising on the next plausible length prefix),
//! with per-flow and total memory caps and flows expired in trace time.

use std::net::IpAddr;

use super::frame::Ts;
use super::stats::TcpStats;
use super::topology::IfaceId;

/// One direction of a TCP connection, as seen on one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub iface: IfaceId,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
}

/// What the TCP header says of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    pub seq: u32,
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
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_flows: 16_384,
            max_flow_bytes: 160 * 1024,
            max_total_bytes: 64 << 20,
            idle_timeout_ns: 120_000_000_000,
        }
    }
}

#[derive(Debug, Default)]
pub struct TcpStreams {
    limits: TcpLimits,
    stats: TcpStats,
}

impl TcpStreams {
    pub fn new(limits: TcpLimits) -> Self {
        TcpStreams { limits, stats: TcpStats::default() }
    }

    /// Feeds one segment; calls `sink` for each message (or gap) it completes, in stream order.
    /// TODO(tcp helper): implement.
    pub fn segment(&mut self, ts: Ts, key: FlowKey, seg: &Segment<'_>, sink: &mut dyn FnMut(StreamItem<'_>)) {
        let _ = (ts, key, seg, sink, &self.limits);
    }

    /// Drops flows idle longer than the timeout at trace time `now`.
    pub fn expire(&mut self, now: Ts) {
        let _ = now;
    }

    pub fn stats(&self) -> TcpStats {
        self.stats
    }
}

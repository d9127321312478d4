//! IPv4 and IPv6 fragment reassembly with bounded memory and a timeout in trace time.

use std::net::IpAddr;

use super::frame::Ts;
use super::ip::IpPacket;
use super::stats::FragStats;
use super::topology::IfaceId;

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

#[derive(Debug, Default)]
pub struct Defrag {
    limits: FragLimits,
    stats: FragStats,
}

impl Defrag {
    pub fn new(limits: FragLimits) -> Self {
        Defrag { limits, stats: FragStats::default() }
    }

    /// Adds a fragment; returns the datagram when this fragment completes it.
    /// TODO(core-decode helper): implement.
    pub fn push(&mut self, ts: Ts, iface: IfaceId, pkt: &IpPacket<'_>) -> Option<Reassembled> {
        let _ = (ts, iface, pkt, &self.limits);
        None
    }

    /// Gives up datagrams older than the timeout at trace time `now`.
    pub fn expire(&mut self, now: Ts) {
        let _ = now;
    }

    pub fn stats(&self) -> FragStats {
        self.stats
    }
}

//! Counters of the pipeline. The pipeline is their one writer; readers take copies.

use super::event::{EventKind, Malformed};
use super::verdict::Verdict;

/// What a frame turned out to be. Every frame is counted in exactly one class, so the classes
/// add up to the frames read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FrameClass {
    /// Carried (part of) a plaintext DNS message on a DNS port.
    Dns,
    /// Belonged to an encrypted-DNS flow.
    Encrypted,
    /// An IP fragment held for reassembly (the frame that completes a datagram is counted by
    /// what the datagram carried).
    Fragment,
    /// Traffic that is not DNS: other IP traffic, and frames that carry no IP (ARP, LLDP, ...).
    Other,
    /// DNS on a DNS port that could not be decoded.
    Malformed,
    /// Cut short or broken below DNS (link, IP or transport header).
    Undecodable,
    /// A link type the core cannot decode.
    Unsupported,
}

impl FrameClass {
    pub const ALL: [FrameClass; 7] = [
        FrameClass::Dns,
        FrameClass::Encrypted,
        FrameClass::Fragment,
        FrameClass::Other,
        FrameClass::Malformed,
        FrameClass::Undecodable,
        FrameClass::Unsupported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FrameClass::Dns => "dns",
            FrameClass::Encrypted => "encrypted",
            FrameClass::Fragment => "fragment",
            FrameClass::Other => "other",
            FrameClass::Malformed => "malformed",
            FrameClass::Undecodable => "undecodable",
            FrameClass::Unsupported => "unsupported",
        }
    }
}

/// Reassembly counters (IP fragments).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FragStats {
    pub reassembled: u64,
    /// Datagrams given up when their timeout passed in trace time.
    pub timed_out: u64,
    /// Datagrams dropped to keep memory within its cap.
    pub evicted: u64,
    /// Fragments that overlapped or repeated data already held.
    pub overlaps: u64,
    /// Fragments rejected as inconsistent (beyond 64 KiB, conflicting ends).
    pub invalid: u64,
}

/// TCP stream counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpStats {
    pub flows: u64,
    /// Flows dropped to keep memory within its cap.
    pub flows_evicted: u64,
    pub flows_expired: u64,
    /// Holes in a stream (segments never seen), and the bytes they held.
    pub gaps: u64,
    pub bytes_lost: u64,
    /// Times the stream parser found its way back to a message boundary after a gap.
    pub resyncs: u64,
    pub retransmissions: u64,
}

/// Query/response pairing counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairStats {
    pub paired: u64,
    /// Queries with no response within the timeout (in trace time), or at the end of input.
    pub unanswered: u64,
    /// Responses with no query seen.
    pub unmatched_responses: u64,
    /// Pending queries dropped to keep memory within its cap.
    pub evicted: u64,
    /// Queries sent to a multicast group (LLMNR, one-shot mDNS) that no responder answered:
    /// silence is how those protocols say "no such name", so they are not `unanswered`.
    pub silent_multicast: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub frames: u64,
    pub bytes: u64,
    /// Frames by class, indexed as `FrameClass::ALL`.
    pub frame_classes: [u64; 7],
    /// Events by kind, indexed as `EventKind` order (query, response, encrypted, malformed, notice).
    pub events: [u64; 5],
    /// Verdicts, indexed as `Verdict::ALL`.
    pub verdicts: [u64; 5],
    /// Malformed messages by reason.
    pub malformed: Vec<(Malformed, u64)>,
    pub frag: FragStats,
    pub tcp: TcpStats,
    pub pairs: PairStats,
    /// Encrypted-DNS flow records dropped to keep that table within its cap.
    pub encrypted_flows_evicted: u64,
}

impl Stats {
    pub fn count_frame(&mut self, class: FrameClass, len: usize) {
        self.frames += 1;
        self.bytes += len as u64;
        self.frame_classes[class as usize] += 1;
    }

    pub fn frames_in(&self, class: FrameClass) -> u64 {
        self.frame_classes[class as usize]
    }

    pub fn count_event(&mut self, kind: EventKind, verdict: Option<Verdict>) {
        self.events[kind as usize] += 1;
        if let Some(v) = verdict {
            self.verdicts[v as usize] += 1;
        }
    }

    pub fn events_of(&self, kind: EventKind) -> u64 {
        self.events[kind as usize]
    }

    pub fn verdict_count(&self, v: Verdict) -> u64 {
        self.verdicts[v as usize]
    }

    pub fn count_malformed(&mut self, why: Malformed) {
        match self.malformed.iter_mut().find(|(m, _)| *m == why) {
            Some((_, n)) => *n += 1,
            None => self.malformed.push((why, 1)),
        }
    }

    /// Leaks plus bypasses.
    pub fn exposures(&self) -> u64 {
        self.verdict_count(Verdict::Leak) + self.verdict_count(Verdict::Bypass)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_add_up() {
        let mut s = Stats::default();
        for (i, c) in FrameClass::ALL.iter().enumerate() {
            for _ in 0..=i {
                s.count_frame(*c, 10);
            }
        }
        assert_eq!(s.frames, s.frame_classes.iter().sum::<u64>());
        assert_eq!(s.frames_in(FrameClass::Unsupported), 7);
        assert_eq!(s.bytes, 280);
    }

    #[test]
    fn malformed_by_reason() {
        let mut s = Stats::default();
        s.count_malformed(Malformed::PointerLoop);
        s.count_malformed(Malformed::PointerLoop);
        s.count_malformed(Malformed::ShortHeader);
        assert_eq!(s.malformed, vec![(Malformed::PointerLoop, 2), (Malformed::ShortHeader, 1)]);
    }
}

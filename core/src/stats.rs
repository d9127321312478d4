//! Counters of the pipeline. The pipeline is their one writer; readers take copies.

use super::event::{EventKind, Malformed, Transport, L4};
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
    /// Of those, flows that held part of a message (bytes never judged).
    pub evicted_holding: u64,
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
    /// Names not tracked for parallel resolution because the names table was full of names
    /// asked within the window.
    pub names_dropped: u64,
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
    /// Of those, DNSCrypt flows and learned magics (the DNSCrypt table's share).
    pub dnscrypt_flows_evicted: u64,
    /// Of those, flows evicted holding part of a ClientHello (TLS or QUIC Initial), never judged.
    pub encrypted_evicted_partial: u64,
    /// Which programs sent the outgoing messages: how many were attributed, and how (`None`
    /// when process attribution did not run).
    pub processes: Option<super::process::ProcessStats>,
    /// QUIC connections whose ClientHello could not be read whole (decided without a name).
    pub quic_given_up: u64,
    /// Names the causes forgot before their second was over (the recent-names tables for
    /// `stub_upstream` and `parallel_resolution` were full).
    pub cause_names_evicted: u64,
    /// Encrypted-DNS flows reported, by how they were carried, indexed as `FlowCarrier::ALL`.
    pub encrypted_flows: [u64; 5],
}

/// How an encrypted-DNS flow was carried: what the counters break encrypted flows down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowCarrier {
    /// DNS over TLS (TCP).
    Dot,
    /// DNS over HTTPS over TLS (TCP).
    Doh,
    /// DNS over HTTPS over HTTP/3 (QUIC).
    Doh3,
    /// DNS over QUIC.
    Doq,
    /// DNSCrypt (UDP or TCP).
    Dnscrypt,
}

impl FlowCarrier {
    pub const ALL: [FlowCarrier; 5] =
        [FlowCarrier::Dot, FlowCarrier::Doh, FlowCarrier::Doh3, FlowCarrier::Doq, FlowCarrier::Dnscrypt];

    /// The carrier of a flow with this transport, or None for plaintext transports.
    pub fn of(transport: Transport, proto: L4) -> Option<FlowCarrier> {
        Some(match (transport, proto) {
            (Transport::Dot, _) => FlowCarrier::Dot,
            (Transport::Doh, L4::Tcp) => FlowCarrier::Doh,
            (Transport::Doh, L4::Udp) => FlowCarrier::Doh3,
            (Transport::Doq, _) => FlowCarrier::Doq,
            (Transport::Dnscrypt, _) => FlowCarrier::Dnscrypt,
            (Transport::Dns | Transport::Mdns | Transport::Llmnr, _) => return None,
        })
    }

    /// The word outputs print.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowCarrier::Dot => "dot",
            FlowCarrier::Doh => "doh",
            FlowCarrier::Doh3 => "doh/h3",
            FlowCarrier::Doq => "doq",
            FlowCarrier::Dnscrypt => "dnscrypt",
        }
    }

    /// Whether the flow ran over QUIC.
    pub fn is_quic(self) -> bool {
        matches!(self, FlowCarrier::Doh3 | FlowCarrier::Doq)
    }
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

    /// Counts a reported encrypted-DNS flow by its carrier (plaintext transports are ignored).
    pub fn count_flow(&mut self, transport: Transport, proto: L4) {
        if let Some(c) = FlowCarrier::of(transport, proto) {
            self.encrypted_flows[c as usize] += 1;
        }
    }

    /// Encrypted-DNS flows reported over this carrier.
    pub fn flows_over(&self, carrier: FlowCarrier) -> u64 {
        self.encrypted_flows[carrier as usize]
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

    /// Adds another pipeline's counters (replay sums one pipeline per file). Every field is
    /// named, so a new counter cannot be forgotten here.
    pub fn add(&mut self, other: &Stats) {
        let Stats {
            frames,
            bytes,
            frame_classes,
            events,
            verdicts,
            malformed,
            frag: FragStats { reassembled, timed_out, evicted: frag_evicted, overlaps, invalid },
            tcp:
                TcpStats {
                    flows,
                    flows_evicted,
                    evicted_holding,
                    flows_expired,
                    gaps,
                    bytes_lost,
                    resyncs,
                    retransmissions,
                },
            pairs:
                PairStats { paired, unanswered, unmatched_responses, evicted, silent_multicast, names_dropped },
            encrypted_flows_evicted,
            dnscrypt_flows_evicted,
            encrypted_evicted_partial,
            processes,
            quic_given_up,
            cause_names_evicted,
            encrypted_flows,
        } = other;
        self.frames += frames;
        self.bytes += bytes;
        add_each(&mut self.frame_classes, frame_classes);
        add_each(&mut self.events, events);
        add_each(&mut self.verdicts, verdicts);
        for &(why, n) in malformed {
            match self.malformed.iter_mut().find(|(m, _)| *m == why) {
                Some((_, k)) => *k += n,
                None => self.malformed.push((why, n)),
            }
        }
        let f = &mut self.frag;
        f.reassembled += reassembled;
        f.timed_out += timed_out;
        f.evicted += frag_evicted;
        f.overlaps += overlaps;
        f.invalid += invalid;
        let t = &mut self.tcp;
        t.flows += flows;
        t.flows_evicted += flows_evicted;
        t.evicted_holding += evicted_holding;
        t.flows_expired += flows_expired;
        t.gaps += gaps;
        t.bytes_lost += bytes_lost;
        t.resyncs += resyncs;
        t.retransmissions += retransmissions;
        let p = &mut self.pairs;
        p.paired += paired;
        p.unanswered += unanswered;
        p.unmatched_responses += unmatched_responses;
        p.evicted += evicted;
        p.silent_multicast += silent_multicast;
        p.names_dropped += names_dropped;
        self.encrypted_flows_evicted += encrypted_flows_evicted;
        self.dnscrypt_flows_evicted += dnscrypt_flows_evicted;
        self.encrypted_evicted_partial += encrypted_evicted_partial;
        if let Some(p) = processes {
            self.processes.get_or_insert_with(Default::default).add(p);
        }
        self.quic_given_up += quic_given_up;
        self.cause_names_evicted += cause_names_evicted;
        add_each(&mut self.encrypted_flows, encrypted_flows);
    }
}

fn add_each<const N: usize>(into: &mut [u64; N], from: &[u64; N]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ProcessStats;

    /// Regression: replay summed files' counters in a copy of this struct's fields that
    /// missed the two added later (silent multicast queries, evicted encrypted flows).
    #[test]
    fn add_sums_every_counter() {
        let mut one = Stats::default();
        one.count_frame(FrameClass::Dns, 100);
        one.count_event(EventKind::Query, Some(Verdict::Leak));
        one.count_malformed(Malformed::PointerLoop);
        one.frag.reassembled = 1;
        one.tcp.resyncs = 2;
        one.pairs.silent_multicast = 3;
        one.encrypted_flows_evicted = 4;
        one.encrypted_evicted_partial = 2;
        one.dnscrypt_flows_evicted = 3;
        one.processes = Some(ProcessStats { attributed: 5, on_behalf_of: 1, ..Default::default() });
        one.quic_given_up = 5;
        one.count_flow(Transport::Doh, L4::Udp);
        let mut total = one.clone();
        total.add(&one);
        assert_eq!((total.frames, total.bytes, total.exposures()), (2, 200, 2));
        assert_eq!(total.malformed, vec![(Malformed::PointerLoop, 2)]);
        assert_eq!((total.frag.reassembled, total.tcp.resyncs), (2, 4));
        assert_eq!((total.pairs.silent_multicast, total.encrypted_flows_evicted), (6, 8));
        assert_eq!((total.encrypted_evicted_partial, total.dnscrypt_flows_evicted), (4, 6));
        let p = total.processes.unwrap();
        assert_eq!((p.attributed, p.on_behalf_of), (10, 2));
        assert_eq!((total.quic_given_up, total.flows_over(FlowCarrier::Doh3)), (10, 2));
    }

    #[test]
    fn flows_are_counted_by_carrier_and_plaintext_is_not() {
        let mut s = Stats::default();
        s.count_flow(Transport::Doh, L4::Tcp);
        s.count_flow(Transport::Doh, L4::Udp);
        s.count_flow(Transport::Doq, L4::Udp);
        s.count_flow(Transport::Dnscrypt, L4::Tcp);
        s.count_flow(Transport::Dnscrypt, L4::Udp);
        s.count_flow(Transport::Dns, L4::Udp);
        assert_eq!(s.encrypted_flows, [0, 1, 1, 1, 2]);
        let quic: Vec<_> = FlowCarrier::ALL.into_iter().filter(|c| c.is_quic()).collect();
        assert_eq!(quic, [FlowCarrier::Doh3, FlowCarrier::Doq]);
    }

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

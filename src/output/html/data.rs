//! What the report shows, as plain data: no events, no escaping, no layout. The collector fills
//! it; the renderer reads it. Every list is bounded, and what did not fit is counted beside it.

use std::net::IpAddr;

use dnsleak_core::{FlowCarrier, IfaceKind, IfaceName, Ts};

use super::bins::Bin;
use crate::counters::Counters;
use crate::output::report::{FlowRow, IfaceRow, NameCount, NoticeRow, ResolverRow};

/// Counters per lane bin: every DNS message and flow, leaks, bypasses.
pub const LANE_ALL: usize = 0;
pub const LANE_LEAK: usize = 1;
pub const LANE_BYPASS: usize = 2;

/// One input file, for the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputFile {
    pub name: String,
    /// "pcapng", "pcap, nanoseconds", "..., gzip".
    pub format: String,
    pub packets: u64,
    /// Bytes hashed: the whole file, or the part of standard input that was read.
    pub size: Option<u64>,
    /// SHA-256 of those bytes as lowercase hex (compressed bytes for gzip), as `sha256sum`
    /// prints it.
    pub sha256: Option<String>,
    /// Why there is no hash or it covers only part of the input, or what else went wrong.
    pub note: Option<String>,
}

impl InputFile {
    /// A file named but not read (a file before it could not be).
    pub fn not_read(name: String) -> InputFile {
        InputFile { name, format: "not read".into(), ..Default::default() }
    }
}

/// Where the events came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `dnsleak replay` of these files.
    Replay(Vec<InputFile>),
    /// `dnsleak monitor` on the live interfaces.
    Live,
}

/// One interface's row on the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    pub name: IfaceName,
    pub kind: Option<IfaceKind>,
    /// For tunnels: up (true), down (false) or not known (None: before its interfaces were
    /// seen, between the files of a replay) from this time on, in order of arrival.
    pub changes: Vec<(Ts, Option<bool>)>,
    pub changes_dropped: u64,
    /// Counts per bin, indexed by `LANE_ALL`, `LANE_LEAK`, `LANE_BYPASS`.
    pub bins: Vec<Bin<3>>,
}

impl Lane {
    /// Up, down or not known, as of the last change.
    pub fn state(&self) -> Option<bool> {
        self.changes.last().and_then(|c| c.1)
    }
}

/// A cause of exposure with its fix (filled when the events carry causes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CauseRow {
    pub cause: String,
    pub detail: Option<String>,
    pub fix: Option<String>,
    pub count: u64,
}

/// A carrier's usual short name, as an auditor knows it.
pub fn carrier_name(c: FlowCarrier) -> &'static str {
    match c {
        FlowCarrier::Dot => "DoT",
        FlowCarrier::Doh => "DoH",
        FlowCarrier::Doh3 => "DoH3",
        FlowCarrier::Doq => "DoQ",
        FlowCarrier::Dnscrypt => "DNSCrypt",
    }
}

/// What a carrier is, for a reader who does not know the short name.
pub fn carrier_what(c: FlowCarrier) -> &'static str {
    match c {
        FlowCarrier::Dot => "DNS over TLS (TCP, RFC 7858)",
        FlowCarrier::Doh => "DNS over HTTPS (HTTP/2 or 1.1 over TLS, TCP; RFC 8484)",
        FlowCarrier::Doh3 => "DNS over HTTPS on HTTP/3 (QUIC, UDP)",
        FlowCarrier::Doq => "DNS over QUIC (UDP, RFC 9250)",
        FlowCarrier::Dnscrypt => "DNSCrypt (its own encryption, UDP or TCP)",
    }
}

/// Encrypted DNS flows of one protocol, per verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedRow {
    pub protocol: FlowCarrier,
    /// Flows per verdict, indexed as `Verdict::ALL`.
    pub verdicts: [u64; 5],
    /// When the first one was seen.
    pub first: Ts,
}

/// What `monitor --on-leak` did, once its runner has stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnLeakCounts {
    pub episodes: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Not run: the queue was full, or the monitor was stopping.
    pub dropped: u64,
}

/// Leaked names: the most frequent, from a bounded sketch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leaked {
    /// Most first; counts are upper bounds within `error` of the truth.
    pub names: Vec<NameCount>,
    /// Distinct names the sketch counted, and whether it was full (then more were seen).
    pub distinct: usize,
    pub saturated: bool,
    /// Every leaked query, also those whose names the sketch folded together.
    pub queries: u64,
}

/// Everything the report shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportData {
    pub origin: Origin,
    /// Said under the banner: how interfaces were judged, an early end of input, ...
    pub notes: Vec<String>,
    /// Wall time the report was written, when the caller gives it.
    pub generated: Option<Ts>,
    /// First and last event time.
    pub span: Option<(Ts, Ts)>,
    pub counters: Counters,
    pub interfaces: Vec<IfaceRow>,
    pub lanes: Vec<Lane>,
    /// Events on interfaces beyond the lane table (counted, not drawn).
    pub lanes_overflow: u64,
    /// DNS messages and encrypted flows per verdict (`Verdict::ALL` order) over time.
    pub over_time: Vec<Bin<5>>,
    pub resolvers: Vec<ResolverRow>,
    pub resolvers_overflow: u64,
    /// Whether the system was configured to use a resolver, when the events say.
    pub configured: Vec<(IpAddr, bool)>,
    pub leaked: Leaked,
    pub flows: Vec<FlowRow>,
    pub flows_overflow: u64,
    /// Every encrypted DNS flow by carrier (at most one row per `FlowCarrier`), in that order.
    pub encrypted: Vec<EncryptedRow>,
    pub notices: Vec<NoticeRow>,
    pub notice_counts: Vec<(&'static str, u64)>,
    pub causes: Vec<CauseRow>,
    pub causes_overflow: u64,
    /// Exposures per program (when the events carry the process), most first.
    pub programs: Vec<(String, u64)>,
    pub programs_overflow: u64,
    /// `monitor --on-leak`'s commands, when it was given.
    pub on_leak: Option<OnLeakCounts>,
}

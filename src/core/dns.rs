//! DNS messages, decoded with hickory-proto. The hot path (`decode_fast`) reads the header and
//! the first question; `decode_full` reads answers and EDNS when an output asks.

use super::event::{DnsHeader, DnsInfo, Malformed};

/// Why a message is malformed, and its header when at least that much could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMessage {
    pub reason: Malformed,
    pub header: Option<DnsHeader>,
}

/// Header and first question. TODO(core-decode helper): implement with hickory-proto.
pub fn decode_fast(payload: &[u8]) -> Result<DnsInfo, BadMessage> {
    let _ = payload;
    Err(BadMessage { reason: Malformed::ShortHeader, header: None })
}

/// One answer record, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub name: String,
    pub rtype: u16,
    pub ttl: u32,
    /// A, AAAA, CNAME, PTR, TXT (and others hickory can print) as text.
    pub data: String,
}

/// EDNS(0) facts of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edns {
    pub udp_size: u16,
    pub dnssec_ok: bool,
    /// EDNS client subnet, as `address/source-prefix`.
    pub client_subnet: Option<String>,
    /// The full 12-bit RCODE (header RCODE plus the OPT record's high bits).
    pub rcode_ext: u16,
}

/// Everything an output may show beyond the hot path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FullMessage {
    pub answers: Vec<Answer>,
    pub edns: Option<Edns>,
}

/// Full decode of answers and EDNS. TODO(core-decode helper): implement with hickory-proto.
pub fn decode_full(payload: &[u8]) -> Result<FullMessage, Malformed> {
    let _ = payload;
    Err(Malformed::NotDns)
}

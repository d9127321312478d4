//! DNS messages, decoded with hickory-proto. The hot path (`decode_fast`) reads the header and
//! the first question; `decode_full` reads answers and EDNS when an output asks.
//!
//! What the hot path calls malformed (each reason bounded work, never a panic):
//! - fewer than 12 bytes: `ShortHeader` (no header);
//! - the first question's name or its type/class runs past the end: `Truncated`;
//! - a compression pointer outside the message or forward (hickory follows only pointers to
//!   bytes before the name that uses them, as RFC 1035 4.1.4 says): `BadPointer`; one that
//!   points at itself or back into the labels of the same name: `PointerLoop` (as only strictly
//!   backward pointers are followed, every chase terminates);
//! - a label length byte with top bits 01 or 10 (extended / reserved label types): `BadLabel`;
//! - a name of 255 bytes or more: `NameTooLong`;
//! - section counts the rest of the message cannot hold even with minimal entries (5 bytes per
//!   question, 11 per record): `BadCounts`.
//!
//! A malformed message keeps its header (when 12 bytes were there) and its first question (when
//! that was readable), so the event still says what was asked.

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData};
use hickory_proto::serialize::binary::{BinDecoder, DecodeError};

use super::event::{DnsHeader, DnsInfo, Malformed, Question};

/// Why a message is malformed, and its header when at least that much could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMessage {
    pub reason: Malformed,
    pub header: Option<DnsHeader>,
    /// The first question, when it was readable (the fault lies after it).
    pub question: Option<Question>,
}

const HEADER_LEN: usize = 12;
/// Smallest question: root name (1) + type (2) + class (2).
const MIN_QUESTION: u64 = 5;
/// Smallest record: root name (1) + type, class (4) + TTL (4) + RDLENGTH (2).
const MIN_RECORD: u64 = 11;

/// Header and first question, with the payload kept for `decode_full`.
pub fn decode_fast(payload: &[u8]) -> Result<DnsInfo, BadMessage> {
    let (header, question) = decode_head(payload)?;
    Ok(DnsInfo { header, question, payload: payload.into() })
}

/// Header and first question only (no copy of the payload).
pub fn decode_head(payload: &[u8]) -> Result<(DnsHeader, Option<Question>), BadMessage> {
    let mut dec = BinDecoder::new(payload);
    let header = read_header(&mut dec).ok_or(BadMessage {
        reason: Malformed::ShortHeader,
        header: None,
        question: None,
    })?;
    let bad = |reason, question| BadMessage { reason, header: Some(header), question };
    let question =
        if header.qdcount > 0 { Some(read_question(&mut dec).map_err(|r| bad(r, None))?) } else { None };
    let questions_left = u64::from(header.qdcount.saturating_sub(1));
    let records = u64::from(header.ancount) + u64::from(header.nscount) + u64::from(header.arcount);
    let needed = questions_left * MIN_QUESTION + records * MIN_RECORD;
    if needed > (payload.len() - dec.index()) as u64 {
        return Err(bad(Malformed::BadCounts, question));
    }
    Ok((header, question))
}

fn read_header(dec: &mut BinDecoder<'_>) -> Option<DnsHeader> {
    if dec.len() < HEADER_LEN {
        return None;
    }
    let mut words = [0u16; 6];
    for w in &mut words {
        *w = dec.read_u16().ok()?.unverified();
    }
    let [id, flags, qdcount, ancount, nscount, arcount] = words;
    Some(DnsHeader { id, flags, qdcount, ancount, nscount, arcount })
}

fn read_question(dec: &mut BinDecoder<'_>) -> Result<Question, Malformed> {
    let mut text = NameText::new();
    read_name(dec, &mut text)?;
    let qtype = dec.read_u16().map_err(|_| Malformed::Truncated)?.unverified();
    let qclass = dec.read_u16().map_err(|_| Malformed::Truncated)?.unverified();
    // One allocation of the exact size (the text was built on the stack).
    let name = match std::str::from_utf8(text.as_bytes()) {
        Ok(s) => Box::from(s),
        Err(_) => String::from_utf8_lossy(text.as_bytes()).into(),
    };
    Ok(Question { name, qtype, qclass })
}

/// A name's text built on the stack. `read_name` refuses names over 255 bytes on the wire, so
/// the text (labels joined by dots) always fits; the bounds below only make that certain.
pub(crate) struct NameText {
    buf: [u8; 256],
    len: usize,
}

impl NameText {
    pub(crate) fn new() -> Self {
        NameText { buf: [0; 256], len: 0 }
    }

    fn push(&mut self, b: u8) {
        self.extend_from_slice(&[b]);
    }

    fn extend_from_slice(&mut self, s: &[u8]) {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Reads a name with hickory's `BinDecoder`, with the rules and limits of hickory's own
/// `Name::read` (only pointers to bytes before the labels being read are followed; 63-byte
/// labels; 255-byte names), writing its text (labels joined by dots, no trailing dot) straight
/// into `text`: one pass, no intermediate `Name`. `tests::same_as_hickory_name_read` checks it
/// against `Name::read` on random messages.
fn read_name(dec: &mut BinDecoder<'_>, text: &mut NameText) -> Result<(), Malformed> {
    let total = dec.index() + dec.len();
    let mut jumped: Option<BinDecoder<'_>> = None;
    let mut name_start = dec.index();
    let mut limit: Option<usize> = None;
    let (mut labels, mut bytes) = (0usize, 0usize);
    loop {
        let d = match jumped.as_mut() {
            Some(j) => j,
            None => &mut *dec,
        };
        if limit.is_some_and(|l| d.index() >= l) {
            return Err(Malformed::PointerLoop);
        }
        let b = d.peek().ok_or(Malformed::Truncated)?.unverified();
        match b & 0xc0 {
            0x00 if b == 0 => {
                let _ = d.pop();
                break;
            }
            0x00 => {
                let label = d.read_character_data().map_err(|_| Malformed::Truncated)?.unverified();
                if labels + bytes + label.len() + 2 > Name::MAX_LENGTH {
                    return Err(Malformed::NameTooLong);
                }
                if labels > 0 {
                    text.push(b'.');
                }
                text.extend_from_slice(label);
                (labels, bytes) = (labels + 1, bytes + label.len());
            }
            0xc0 => {
                let at = d.index();
                let ptr = usize::from(d.read_u16().map_err(|_| Malformed::Truncated)?.unverified() & 0x3fff);
                if ptr >= name_start {
                    // At itself or back into this name's labels: a loop; else forward or past
                    // the end (RFC 1035 4.1.4: pointers go to a prior occurrence).
                    let looping = ptr <= at && ptr < total;
                    return Err(if looping { Malformed::PointerLoop } else { Malformed::BadPointer });
                }
                let next = d.clone(ptr as u16);
                (limit, name_start) = (Some(name_start), ptr);
                jumped = Some(next);
            }
            _ => return Err(Malformed::BadLabel),
        }
    }
    if labels.max(1) + bytes >= Name::MAX_LENGTH {
        return Err(Malformed::NameTooLong);
    }
    Ok(())
}

/// The name as text: labels joined by dots, no trailing dot, root as "". Label bytes are kept
/// as they are (a dot inside a label stays a dot); bytes that are not UTF-8 become U+FFFD.
pub fn name_text(name: &Name) -> Box<str> {
    let text_len = name.iter().map(|l| l.len() + 1).sum::<usize>().saturating_sub(1);
    let mut buf = Vec::with_capacity(text_len);
    for (i, label) in name.iter().enumerate() {
        if i > 0 {
            buf.push(b'.');
        }
        buf.extend_from_slice(label);
    }
    match String::from_utf8(buf) {
        Ok(s) => s.into_boxed_str(),
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into(),
    }
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

/// Full decode of answers and EDNS with hickory's `Message`.
pub fn decode_full(payload: &[u8]) -> Result<FullMessage, Malformed> {
    if payload.len() < HEADER_LEN {
        return Err(Malformed::ShortHeader);
    }
    let msg = Message::from_vec(payload).map_err(|e| full_error(&e))?;
    let answers =
        msg.answers.iter().map(|r| answer(&r.name, u16::from(r.record_type()), r.ttl, &r.data)).collect();
    let edns = msg.edns.as_ref().map(|e| {
        let client_subnet = match e.option(hickory_proto::rr::rdata::opt::EdnsCode::Subnet) {
            Some(hickory_proto::rr::rdata::opt::EdnsOption::Subnet(s)) => {
                Some(format!("{}/{}", s.addr(), s.source_prefix()))
            }
            _ => None,
        };
        Edns {
            udp_size: e.max_payload(),
            dnssec_ok: e.flags().dnssec_ok,
            client_subnet,
            rcode_ext: u16::from(msg.metadata.response_code),
        }
    });
    Ok(FullMessage { answers, edns })
}

fn answer(name: &Name, rtype: u16, ttl: u32, data: &RData) -> Answer {
    let data = match data {
        RData::A(a) => a.to_string(),
        RData::AAAA(a) => a.to_string(),
        RData::CNAME(n) => name_text(&n.0).into(),
        RData::PTR(n) => name_text(&n.0).into(),
        RData::NS(n) => name_text(&n.0).into(),
        RData::TXT(t) => {
            t.txt_data.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect::<Vec<_>>().join(" ")
        }
        other => other.to_string(),
    };
    Answer { name: name_text(name).into(), rtype, ttl, data }
}

fn full_error(e: &DecodeError) -> Malformed {
    match e {
        DecodeError::InsufficientBytes => Malformed::Truncated,
        DecodeError::PointerNotPriorToLabel { .. } => Malformed::BadPointer,
        DecodeError::LabelOverlapsWithOther { .. } => Malformed::PointerLoop,
        DecodeError::UnrecognizedLabelCode(_) | DecodeError::LabelBytesTooLong(_) => Malformed::BadLabel,
        DecodeError::DomainNameTooLong(_) => Malformed::NameTooLong,
        _ => Malformed::BadRdata,
    }
}

#[cfg(test)]
mod tests;

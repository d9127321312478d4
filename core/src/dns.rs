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
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, DecodeError};

use super::event::{DnsHeader, DnsInfo, Malformed, QName, Question};

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
    let header = read_header(payload).ok_or(BadMessage {
        reason: Malformed::ShortHeader,
        header: None,
        question: None,
    })?;
    let bad = |reason, question| BadMessage { reason, header: Some(header), question };
    let (question, end) = if header.qdcount > 0 {
        let (q, end) = read_question(payload, HEADER_LEN).map_err(|r| bad(r, None))?;
        (Some(q), end)
    } else {
        (None, HEADER_LEN)
    };
    let questions_left = u64::from(header.qdcount.saturating_sub(1));
    let records = u64::from(header.ancount) + u64::from(header.nscount) + u64::from(header.arcount);
    let needed = questions_left * MIN_QUESTION + records * MIN_RECORD;
    if needed > (payload.len() - end) as u64 {
        return Err(bad(Malformed::BadCounts, question));
    }
    Ok((header, question))
}

fn read_header(m: &[u8]) -> Option<DnsHeader> {
    let h: &[u8; HEADER_LEN] = m.get(..HEADER_LEN)?.try_into().ok()?;
    let w = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    Some(DnsHeader { id: w(0), flags: w(2), qdcount: w(4), ancount: w(6), nscount: w(8), arcount: w(10) })
}

/// The question at `at`: its name, type and class, and where it ends.
fn read_question(m: &[u8], at: usize) -> Result<(Question, usize), Malformed> {
    let mut span = Span::default();
    let end = read_name(m, at, &mut span)?;
    let (qtype, qclass) = type_and_class(m, end)?;
    let name = if span.split {
        // Labels reached through a pointer: joined on the stack.
        let mut text = NameText::new();
        read_name(m, at, &mut text)?;
        name_of(text.as_bytes())
    } else {
        name_of(&span.text(m))
    };
    Ok((Question { name, qtype, qclass }, end + 4))
}

/// A name's text from its bytes; those that are not UTF-8 become U+FFFD.
fn name_of(text: &[u8]) -> QName {
    match std::str::from_utf8(text) {
        Ok(s) => QName::from_str(s),
        Err(_) => QName::from_str(&String::from_utf8_lossy(text)),
    }
}

/// Where a name's labels lie when each follows the one before in the message (no pointer
/// between them, as in nearly every question): its text is then those bytes copied once, with
/// each length byte after the first turned into a dot.
#[derive(Debug, Default)]
struct Span {
    /// First byte of the first label, the first label's length, and the end of the last.
    start: usize,
    first_len: usize,
    end: usize,
    /// A label did not start where the one before ended.
    split: bool,
}

impl Labels for Span {
    fn label(&mut self, first: bool, at: usize, label: &[u8]) {
        if first {
            (self.start, self.first_len) = (at + 1, label.len());
        } else if at != self.end {
            self.split = true;
        }
        self.end = at + 1 + label.len();
    }
}

impl Span {
    fn text(&self, m: &[u8]) -> smallvec::SmallVec<[u8; 32]> {
        let Some(labels) = m.get(self.start..self.end) else { return Default::default() };
        let mut text = smallvec::SmallVec::from_slice(labels);
        // Each length byte after the first lies at the end of the label before it.
        let mut at = self.start + self.first_len;
        while at < self.end {
            let Some(dot) = text.get_mut(at - self.start) else { break };
            let len = usize::from(*dot);
            *dot = b'.';
            at += 1 + len;
        }
        text
    }
}

/// The two 16-bit words at `at` (a question's type and class).
fn type_and_class(m: &[u8], at: usize) -> Result<(u16, u16), Malformed> {
    let b = m.get(at..at + 4).ok_or(Malformed::Truncated)?;
    Ok((u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]])))
}

/// What `read_name` does with each label: write it into a `NameText`, or nothing (`Skip`).
pub(crate) trait Labels {
    /// `at` is where the label's length byte lies in the message.
    fn label(&mut self, first: bool, at: usize, label: &[u8]);
}

/// Labels read only to be skipped (validated all the same).
pub(crate) struct Skip;

impl Labels for Skip {
    fn label(&mut self, _: bool, _: usize, _: &[u8]) {}
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

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Labels for NameText {
    fn label(&mut self, first: bool, _: usize, label: &[u8]) {
        if !first && self.len < self.buf.len() {
            self.buf[self.len] = b'.';
            self.len += 1;
        }
        let n = label.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&label[..n]);
        self.len += n;
    }
}

/// Reads the name at `start` of message `m` with the rules and limits of hickory's own
/// `Name::read` (only pointers to bytes before the labels being read are followed; 63-byte
/// labels; 255-byte names), handing each label to `out`: one pass over the bytes, no
/// intermediate `Name`. Returns where the name ends in the message (after its first pointer,
/// if it has one). `tests::same_as_hickory_name_read` checks it against `Name::read` on random
/// messages: the same text, the same fault, the same end.
pub(crate) fn read_name(m: &[u8], start: usize, out: &mut impl Labels) -> Result<usize, Malformed> {
    let mut at = start;
    // Where the message continues once a pointer was followed.
    let mut end = None;
    let mut name_start = start;
    // Reading at or past this position again means a loop.
    let mut limit = usize::MAX;
    let (mut labels, mut bytes) = (0usize, 0usize);
    loop {
        if at >= limit {
            return Err(Malformed::PointerLoop);
        }
        let b = *m.get(at).ok_or(Malformed::Truncated)?;
        match b & 0xc0 {
            0x00 if b == 0 => {
                at += 1;
                break;
            }
            0x00 => {
                let len = usize::from(b);
                let label = m.get(at + 1..at + 1 + len).ok_or(Malformed::Truncated)?;
                if labels + bytes + len + 2 > Name::MAX_LENGTH {
                    return Err(Malformed::NameTooLong);
                }
                out.label(labels == 0, at, label);
                at += 1 + len;
                (labels, bytes) = (labels + 1, bytes + len);
            }
            0xc0 => {
                let p = m.get(at..at + 2).ok_or(Malformed::Truncated)?;
                let ptr = usize::from(u16::from_be_bytes([p[0], p[1]]) & 0x3fff);
                if ptr >= name_start {
                    // At itself or back into this name's labels: a loop; else forward or past
                    // the end (RFC 1035 4.1.4: pointers go to a prior occurrence).
                    let looping = ptr <= at && ptr < m.len();
                    return Err(if looping { Malformed::PointerLoop } else { Malformed::BadPointer });
                }
                end.get_or_insert(at + 2);
                (limit, name_start, at) = (name_start, ptr, ptr);
            }
            _ => return Err(Malformed::BadLabel),
        }
    }
    if labels.max(1) + bytes >= Name::MAX_LENGTH {
        return Err(Malformed::NameTooLong);
    }
    Ok(end.unwrap_or(at))
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

/// The answer section alone, record by record: the questions before it are walked with the
/// hot path's name reader, each answer is read by hickory's `Record` decoder, and the authority
/// and additional sections are not touched (no `Message` is built). This is what NDJSON's
/// `answers` and `TTLs` need for every response, at a fraction of `decode_full`'s cost. Stops
/// at the first record that does not decode, with the reason; work is bounded by the payload
/// (every question and record consumes bytes or fails).
pub fn for_each_answer(payload: &[u8], mut f: impl FnMut(&Record)) -> Result<(), Malformed> {
    let header = read_header(payload).ok_or(Malformed::ShortHeader)?;
    let mut at = HEADER_LEN;
    for _ in 0..header.qdcount {
        at = read_name(payload, at, &mut Skip)?;
        type_and_class(payload, at)?;
        at += 4;
    }
    let mut dec = BinDecoder::new(payload);
    dec.read_slice(at).map_err(|_| Malformed::Truncated)?;
    for _ in 0..header.ancount {
        let record = Record::read(&mut dec).map_err(|e| full_error(&e))?;
        f(&record);
    }
    Ok(())
}

fn answer(name: &Name, rtype: u16, ttl: u32, data: &RData) -> Answer {
    let mut text = String::new();
    rdata_text(data, &mut text);
    Answer { name: name_text(name).into(), rtype, ttl, data: text }
}

/// A record's data as text, appended to `out`: addresses, names (labels joined by dots, no
/// trailing dot), TXT strings joined by spaces, anything else as hickory prints it.
pub fn rdata_text(data: &RData, out: &mut String) {
    use std::fmt::Write as _;
    match data {
        RData::A(a) => ipv4_text(a.0, |t| out.push_str(t)),
        RData::AAAA(a) => {
            let _ = write!(out, "{a}");
        }
        RData::CNAME(n) => push_name(out, &n.0),
        RData::PTR(n) => push_name(out, &n.0),
        RData::NS(n) => push_name(out, &n.0),
        RData::TXT(t) => {
            for (i, s) in t.txt_data.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(&String::from_utf8_lossy(s));
            }
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// Dotted-quad text without the formatting machinery, piece by piece into `put` (answers and
/// NDJSON addresses: the most common text written after names).
pub fn ipv4_text(a: std::net::Ipv4Addr, mut put: impl FnMut(&str)) {
    let mut digits = itoa::Buffer::new();
    for (i, o) in a.octets().into_iter().enumerate() {
        if i > 0 {
            put(".");
        }
        put(digits.format(o));
    }
}

/// As `name_text`, appended to `out`.
fn push_name(out: &mut String, name: &Name) {
    for (i, label) in name.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(&String::from_utf8_lossy(label));
    }
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

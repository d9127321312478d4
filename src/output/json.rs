//! NDJSON: one object per DNS message, encrypted flow or notice, in capture order.
//!
//! Field names follow Zeek's dns.log where one exists (`ts`, `trans_id`, `rtt`, `qclass`,
//! `qtype`, `qtype_name`, `rcode`, `rcode_name`, `AA` `TC` `RD` `RA`, `answers`, `TTLs`).
//! Every line has `ts`, `frame`, `iface`, `kind`, `verdict`, `reason` (and `file` when several
//! files are replayed); messages and flows add `proto`, `transport`, `src`, `sport`, `dst`,
//! `dport`, `provider`; messages add the DNS header fields, the first question and, for
//! responses, `answers`/`TTLs` and `rtt`; flows add `sni`; malformed messages add `malformed`;
//! notices add `notice` (a code) and `message`. Messages and flows end with `process` and
//! `on_behalf_of` (`{"pid","name","exe","uid"}` or `null`) and `attribution` (`attributed`,
//! `unattributed`, `not_from_host`, or `null` when programs are not named): who sent it (a
//! response: its query's sender), and for whom when a local stub forwarded it. A field that does
//! not apply is `null`. Numbers are JSON numbers; `ts` and `rtt` are seconds. The last line is
//! `{"kind":"stats",...}` with every counter (`output::stats_line`).

use std::borrow::Cow;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use dnsleak_core::cause::Seen;
use dnsleak_core::event::{Body, Flow, Message};
use dnsleak_core::event::{DnsHeader, DnsInfo};
use dnsleak_core::{dns, names};
use dnsleak_core::{Judged, Owner, Process};

mod scratch;

use scratch::Scratch;

use super::escape::is_hidden_or_control;
use super::Sink;
use crate::counters::Counters;

/// A key as it is written after the first one: `,"name":` (built at compile time).
macro_rules! k {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}

/// Writes NDJSON lines to `W` (buffered by the caller or not: each line is built in memory and
/// written with one call).
pub struct JsonSink<W: Write> {
    out: W,
    line: Vec<u8>,
    lines: Lines,
    /// `--stats-interval`: how often a `stats` line is written, and when the next is due.
    stats_every: Option<(Duration, Instant)>,
}

impl<W: Write> JsonSink<W> {
    pub fn new(out: W) -> Self {
        JsonSink { out, line: Vec::with_capacity(1024), lines: Lines::default(), stats_every: None }
    }

    /// Writes a `stats` line (`"final":false`) with the counters every `every` (live capture);
    /// the final one is written at the end in any case.
    pub fn with_stats_every(mut self, every: Duration) -> Self {
        self.stats_every = Some((every, Instant::now() + every));
        self
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Sink for JsonSink<W> {
    fn event(&mut self, judged: &Judged, file: Option<&str>) -> io::Result<()> {
        self.line.clear();
        self.lines.push(&mut self.line, judged, file);
        self.out.write_all(&self.line)
    }

    fn counters(&mut self, counters: &Counters) -> io::Result<()> {
        if let Some((every, next)) = &mut self.stats_every {
            let now = Instant::now();
            if now >= *next {
                *next = now + *every;
                super::stats_line::write(&mut self.out, counters, false)?;
                self.out.flush()?;
            }
        }
        Ok(())
    }

    /// The final `stats` line, with every counter.
    fn finish(&mut self, counters: &Counters) -> io::Result<()> {
        super::stats_line::write(&mut self.out, counters, true)?;
        self.out.flush()
    }
}

/// A JSON object under construction. Keys come from `k!`: every key but the first (`ts`,
/// written by `new`) starts with its comma.
struct Obj<'a> {
    b: &'a mut Vec<u8>,
}

impl<'a> Obj<'a> {
    /// Opens the object with its first key, `ts`.
    fn new(b: &'a mut Vec<u8>, ts_ns: i64) -> Self {
        b.extend_from_slice(b"{\"ts\":");
        secs(b, ts_ns);
        Obj { b }
    }
    fn key(&mut self, k: &'static str) {
        self.b.extend_from_slice(k.as_bytes());
    }
    fn str(&mut self, k: &'static str, v: &str) {
        self.key(k);
        string(self.b, v);
    }
    /// One of our own words (verdicts, kinds, mnemonics): nothing in it needs escaping.
    fn word(&mut self, k: &'static str, v: &'static str) {
        debug_assert!(!v.bytes().any(|c| ESCAPED[c as usize]));
        self.key(k);
        self.b.push(b'"');
        self.b.extend_from_slice(v.as_bytes());
        self.b.push(b'"');
    }
    fn opt_word(&mut self, k: &'static str, v: Option<&'static str>) {
        match v {
            Some(v) => self.word(k, v),
            None => self.null(k),
        }
    }
    fn opt_str(&mut self, k: &'static str, v: Option<&str>) {
        match v {
            Some(v) => self.str(k, v),
            None => self.null(k),
        }
    }
    /// Already JSON (a cached string, an array).
    fn raw(&mut self, k: &'static str, json: &[u8]) {
        self.key(k);
        self.b.extend_from_slice(json);
    }
    fn num(&mut self, k: &'static str, v: u64) {
        self.key(k);
        self.b.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }
    fn addr(&mut self, k: &'static str, a: std::net::IpAddr) {
        self.key(k);
        self.b.push(b'"');
        match a {
            std::net::IpAddr::V4(v4) => dns::ipv4_text(v4, |t| self.b.extend_from_slice(t.as_bytes())),
            v6 => {
                let _ = write!(self.b, "{v6}");
            }
        }
        self.b.push(b'"');
    }
    fn bool(&mut self, k: &'static str, v: bool) {
        self.key(k);
        self.b.extend_from_slice(if v { b"true" } else { b"false" });
    }
    fn null(&mut self, k: &'static str) {
        self.key(k);
        self.b.extend_from_slice(b"null");
    }
    fn secs(&mut self, k: &'static str, ns: i64) {
        self.key(k);
        secs(self.b, ns);
    }
    fn end(self) {
        self.b.push(b'}');
    }
}

/// Nanoseconds as seconds with all nine decimals.
fn secs(b: &mut Vec<u8>, ns: i64) {
    if ns < 0 {
        b.push(b'-');
    }
    let a = ns.unsigned_abs();
    let mut digits = itoa::Buffer::new();
    b.extend_from_slice(digits.format(a / 1_000_000_000).as_bytes());
    b.push(b'.');
    // 1 followed by the nine digits, zero-padded; the 1 is dropped.
    b.extend_from_slice(&digits.format(1_000_000_000 + a % 1_000_000_000).as_bytes()[1..]);
}

/// Bytes that make a JSON string take the careful path: control characters, DEL, the quote and
/// the backslash, and the first bytes of the UTF-8 forms of the characters
/// `escape::is_hidden_or_control` lists (C1 controls: C2; U+061C: D8; U+180E: E1; bidi and
/// zero-width characters: E2; U+FEFF and U+FFF9..: EF). A table makes the common case (nothing
/// to escape) one load per byte.
static ESCAPED: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[0x7f] = true;
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[0xc2] = true;
    t[0xd8] = true;
    t[0xe1] = true;
    t[0xe2] = true;
    t[0xef] = true;
    t
};

/// A JSON string: quotes, backslashes and control characters escaped, and characters that
/// reorder or hide text (bidi controls, zero-width characters, C1 controls) written as
/// `\uXXXX`: legal JSON either way, but a log viewer shows them for what they are.
fn string(b: &mut Vec<u8>, s: &str) {
    b.push(b'"');
    let bytes = s.as_bytes();
    // Only bytes the table marks can start something to escape; they are never the middle of
    // a character (every marked byte is ASCII or a lead byte), so the rest is copied in runs.
    let mut start = 0;
    let mut i = 0;
    while let Some(at) = bytes[i..].iter().position(|&c| ESCAPED[c as usize]) {
        i += at;
        let Some(c) = s.get(i..).and_then(|rest| rest.chars().next()) else { break };
        let esc: &[u8] = match c {
            '"' => b"\\\"",
            '\\' => b"\\\\",
            '\n' => b"\\n",
            '\r' => b"\\r",
            '\t' => b"\\t",
            c if is_hidden_or_control(c) => b"",
            c => {
                i += c.len_utf8();
                continue;
            }
        };
        b.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            let _ = write!(b, "\\u{:04x}", c as u32);
        } else {
            b.extend_from_slice(esc);
        }
        i += c.len_utf8();
        start = i;
    }
    b.extend_from_slice(&bytes[start..]);
    b.push(b'"');
}

/// A JSON text another writer made (serde_json), with the characters `string` writes as
/// `\uXXXX` written so too. They can only be inside strings in valid JSON, where `\uXXXX`
/// means the same character.
pub fn harden(json: &str) -> Cow<'_, str> {
    if !json.chars().any(|c| c != '\n' && is_hidden_or_control(c)) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if c != '\n' && is_hidden_or_control(c) {
            let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// NDJSON lines without a sink, for writers that gather them in batches (`replay -j`): the
/// line `JsonSink` writes for each event, byte for byte.
#[derive(Default)]
pub struct Lines(Scratch);

impl Lines {
    /// Appends `j`'s line, with its newline, to `b`.
    pub fn push(&mut self, b: &mut Vec<u8>, j: &Judged, file: Option<&str>) {
        write_event_with(b, j, file, &mut self.0);
        b.push(b'\n');
    }
}

/// One event as a JSON object (without the newline).
pub fn write_event(b: &mut Vec<u8>, j: &Judged, file: Option<&str>) {
    write_event_with(b, j, file, &mut Scratch::default());
}

fn write_event_with(b: &mut Vec<u8>, j: &Judged, file: Option<&str>, scratch: &mut Scratch) {
    let ev = &j.event;
    let mut o = Obj::new(b, ev.ts.0);
    if let Some(f) = file {
        o.str(k!("file"), f);
    }
    o.num(k!("frame"), ev.frame);
    o.str(k!("iface"), &ev.iface_name);
    o.word(k!("kind"), ev.kind().as_str());
    o.opt_word(k!("verdict"), j.verdict.map(|v| v.as_str()));
    let wire = match &ev.body {
        Body::Notice(n) => {
            use std::fmt::Write as _;
            o.word(k!("reason"), n.code());
            o.word(k!("notice"), n.code());
            scratch.text.clear();
            let _ = write!(scratch.text, "{n}");
            o.str(k!("message"), &scratch.text);
            o.end();
            return;
        }
        Body::Message(Message { wire, .. }) | Body::Flow(Flow { wire, .. }) => wire,
    };
    o.raw(k!("reason"), scratch.reason(&j.reason));
    o.word(k!("proto"), wire.proto.as_str());
    o.word(k!("transport"), wire.transport.as_str());
    o.addr(k!("src"), wire.src);
    o.num(k!("sport"), wire.sport.into());
    o.addr(k!("dst"), wire.dst);
    o.num(k!("dport"), wire.dport.into());
    o.opt_str(k!("provider"), wire.provider);
    o.opt_word(k!("encap"), wire.encap.map(|e| e.as_str()));
    match &ev.body {
        Body::Flow(f) => o.opt_str(k!("sni"), f.sni.as_deref()),
        Body::Message(m) => {
            o.opt_word(k!("malformed"), m.malformed().map(|m| m.as_str()));
            dns_fields(&mut o, m.dns.as_ref(), m.is_response(), scratch);
            match m.rtt_ns {
                Some(ns) => o.secs(k!("rtt"), ns.min(i64::MAX as u64) as i64),
                None => o.null(k!("rtt")),
            }
        }
        Body::Notice(_) => {}
    }
    owner_fields(&mut o, ev.owner());
    cause_fields(&mut o, j, scratch);
    o.end();
}

/// `process`, `on_behalf_of` and `attribution`, after the DNS fields of a message or flow.
fn owner_fields(o: &mut Obj<'_>, owner: Option<&Owner>) {
    let Some(w) = owner else {
        for k in [k!("process"), k!("on_behalf_of"), k!("attribution")] {
            o.null(k);
        }
        return;
    };
    process(o, k!("process"), w.process.process());
    process(o, k!("on_behalf_of"), w.on_behalf_of.as_ref());
    o.word(k!("attribution"), w.process.as_str());
}

/// A process as `{"pid":..,"name":..,"exe":..,"uid":..}`, or `null`. Names and paths are
/// text a local user chose: escaped as every other string.
fn process(o: &mut Obj<'_>, k: &'static str, p: Option<&Process>) {
    let Some(p) = p else { return o.null(k) };
    o.key(k);
    o.b.extend_from_slice(b"{\"pid\":");
    o.b.extend_from_slice(itoa::Buffer::new().format(p.pid).as_bytes());
    o.b.extend_from_slice(b",\"name\":");
    string(o.b, &p.name);
    o.b.extend_from_slice(b",\"exe\":");
    match &p.exe {
        Some(e) => string(o.b, e),
        None => o.b.extend_from_slice(b"null"),
    }
    o.b.extend_from_slice(b",\"uid\":");
    match p.uid {
        Some(u) => o.b.extend_from_slice(itoa::Buffer::new().format(u).as_bytes()),
        None => o.b.extend_from_slice(b"null"),
    }
    o.b.push(b'}');
}

/// `cause`, `cause_detail`, `fix` and `resolver_configured`, the last fields of a message or
/// flow: `null` but for leaks and bypasses.
fn cause_fields(o: &mut Obj<'_>, j: &Judged, scratch: &mut Scratch) {
    let (Some(c), Some(seen)) = (&j.cause, Seen::of(&j.event)) else {
        for k in [k!("cause"), k!("cause_detail"), k!("fix"), k!("resolver_configured")] {
            o.null(k);
        }
        return;
    };
    o.word(k!("cause"), c.cause.as_str());
    let (detail, fix) = scratch.cause_words(c, &seen);
    o.raw(k!("cause_detail"), detail);
    o.raw(k!("fix"), fix);
    match c.resolver_configured {
        Some(v) => o.bool(k!("resolver_configured"), v),
        None => o.null(k!("resolver_configured")),
    }
}

fn dns_fields(o: &mut Obj<'_>, info: Option<&DnsInfo>, response: bool, scratch: &mut Scratch) {
    let Some(info) = info else {
        for k in DNS_KEYS {
            o.null(k);
        }
        return;
    };
    header_fields(o, &info.header);
    match &info.question {
        Some(q) => {
            o.str(k!("qname"), &q.name);
            o.num(k!("qtype"), q.qtype.into());
            o.str(k!("qtype_name"), &names::qtype(q.qtype));
            o.num(k!("qclass"), q.qclass.into());
            o.word(k!("qclass_name"), names::zeek_qclass(q.qclass));
        }
        None => {
            for k in [k!("qname"), k!("qtype"), k!("qtype_name"), k!("qclass"), k!("qclass_name")] {
                o.null(k);
            }
        }
    }
    if response && answers(&info.payload, scratch) {
        o.raw(k!("answers"), &scratch.answers);
        o.key(k!("TTLs"));
        o.b.push(b'[');
        let mut digits = itoa::Buffer::new();
        for (i, ttl) in scratch.ttls.iter().enumerate() {
            if i > 0 {
                o.b.push(b',');
            }
            o.b.extend_from_slice(digits.format(*ttl).as_bytes());
        }
        o.b.push(b']');
    } else {
        o.null(k!("answers"));
        o.null(k!("TTLs"));
    }
}

/// The answers of a response as a JSON array in `scratch.answers`, their TTLs in
/// `scratch.ttls`; false (both `null`) when the answer section does not decode.
fn answers(payload: &[u8], scratch: &mut Scratch) -> bool {
    let Scratch { text, ttls, answers, .. } = scratch;
    answers.clear();
    ttls.clear();
    answers.push(b'[');
    let walked = dns::for_each_answer(payload, |r| {
        if !ttls.is_empty() {
            answers.push(b',');
        }
        text.clear();
        dns::rdata_text(&r.data, text);
        string(answers, text);
        ttls.push(r.ttl);
    });
    answers.push(b']');
    walked.is_ok()
}

/// Every key `dns_fields` writes, for messages whose header could not be read.
const DNS_KEYS: [&str; 22] = [
    k!("trans_id"),
    k!("opcode"),
    k!("opcode_name"),
    k!("rcode"),
    k!("rcode_name"),
    k!("AA"),
    k!("TC"),
    k!("RD"),
    k!("RA"),
    k!("AD"),
    k!("CD"),
    k!("qdcount"),
    k!("ancount"),
    k!("nscount"),
    k!("arcount"),
    k!("qname"),
    k!("qtype"),
    k!("qtype_name"),
    k!("qclass"),
    k!("qclass_name"),
    k!("answers"),
    k!("TTLs"),
];

fn header_fields(o: &mut Obj<'_>, h: &DnsHeader) {
    o.num(k!("trans_id"), h.id.into());
    o.num(k!("opcode"), h.opcode().into());
    o.str(k!("opcode_name"), &names::opcode(h.opcode()));
    o.num(k!("rcode"), h.rcode().into());
    o.str(k!("rcode_name"), &names::rcode(h.rcode().into()));
    o.bool(k!("AA"), h.aa());
    o.bool(k!("TC"), h.tc());
    o.bool(k!("RD"), h.rd());
    o.bool(k!("RA"), h.ra());
    o.bool(k!("AD"), h.ad());
    o.bool(k!("CD"), h.cd());
    o.num(k!("qdcount"), h.qdcount.into());
    o.num(k!("ancount"), h.ancount.into());
    o.num(k!("nscount"), h.nscount.into());
    o.num(k!("arcount"), h.arcount.into());
}

#[cfg(test)]
mod tests;

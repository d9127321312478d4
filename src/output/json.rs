//! NDJSON: one object per DNS message, encrypted flow or notice, in capture order.
//!
//! Field names follow Zeek's dns.log where one exists (`ts`, `trans_id`, `rtt`, `qclass`,
//! `qtype`, `qtype_name`, `rcode`, `rcode_name`, `AA` `TC` `RD` `RA`, `answers`, `TTLs`).
//! Every line has `ts`, `frame`, `iface`, `kind`, `verdict`, `reason` (and `file` when several
//! files are replayed); messages and flows add `proto`, `transport`, `src`, `sport`, `dst`,
//! `dport`, `provider`; messages add the DNS header fields, the first question and, for
//! responses, `answers`/`TTLs` and `rtt`; flows add `sni`; malformed messages add `malformed`;
//! notices add `notice` (a code) and `message`. A field that does not apply is `null`.
//! Numbers are JSON numbers; `ts` and `rtt` are seconds.

use std::io::{self, Write};

use crate::core::dns;
use crate::core::event::{DnsHeader, DnsInfo};
use crate::core::{EventKind, Judged};

use super::{Counters, Sink};

/// Writes NDJSON lines to `W` (buffered by the caller or not: each line is built in memory and
/// written with one call).
pub struct JsonSink<W: Write> {
    out: W,
    line: Vec<u8>,
    scratch: String,
}

impl<W: Write> JsonSink<W> {
    pub fn new(out: W) -> Self {
        JsonSink { out, line: Vec::with_capacity(1024), scratch: String::with_capacity(256) }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Sink for JsonSink<W> {
    fn event(&mut self, judged: &Judged, file: Option<&str>) -> io::Result<()> {
        self.line.clear();
        write_event_with(&mut self.line, judged, file, &mut self.scratch);
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    fn finish(&mut self, _counters: &Counters) -> io::Result<()> {
        self.out.flush()
    }
}

/// A JSON object under construction.
struct Obj<'a> {
    b: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn new(b: &'a mut Vec<u8>) -> Self {
        b.push(b'{');
        Obj { b, first: true }
    }
    fn key(&mut self, k: &str) {
        if !self.first {
            self.b.push(b',');
        }
        self.first = false;
        self.b.push(b'"');
        self.b.extend_from_slice(k.as_bytes());
        self.b.extend_from_slice(b"\":");
    }
    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        string(self.b, v);
    }
    /// Text that may need escaping, formatted through a scratch buffer.
    fn text(&mut self, k: &str, v: impl std::fmt::Display, scratch: &mut String) {
        use std::fmt::Write as _;
        scratch.clear();
        let _ = write!(scratch, "{v}");
        self.key(k);
        string(self.b, scratch);
    }
    fn opt_str(&mut self, k: &str, v: Option<&str>) {
        match v {
            Some(v) => self.str(k, v),
            None => self.null(k),
        }
    }
    fn num(&mut self, k: &str, v: u64) {
        self.key(k);
        decimal(self.b, v, 1);
    }
    fn addr(&mut self, k: &str, a: std::net::IpAddr) {
        self.key(k);
        match a {
            std::net::IpAddr::V4(v4) => {
                self.b.push(b'"');
                for (i, o) in v4.octets().iter().enumerate() {
                    if i > 0 {
                        self.b.push(b'.');
                    }
                    decimal(self.b, *o as u64, 1);
                }
                self.b.push(b'"');
            }
            v6 => {
                let _ = write!(self.b, "\"{v6}\"");
            }
        }
    }
    fn bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.b.extend_from_slice(if v { b"true" } else { b"false" });
    }
    fn null(&mut self, k: &str) {
        self.key(k);
        self.b.extend_from_slice(b"null");
    }
    fn secs(&mut self, k: &str, ns: i64) {
        self.key(k);
        if ns < 0 {
            self.b.push(b'-');
        }
        let a = ns.unsigned_abs();
        decimal(self.b, a / 1_000_000_000, 1);
        self.b.push(b'.');
        decimal(self.b, a % 1_000_000_000, 9);
    }
    fn end(self) {
        self.b.push(b'}');
    }
}

/// `v` in decimal, zero-padded to at least `width` digits.
fn decimal(b: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    while v > 0 || digits.len() - i < width {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    b.extend_from_slice(&digits[i..]);
}

/// Bytes a JSON string escapes: control characters, DEL, the quote and the backslash. A table
/// makes the common case (nothing to escape) one load per byte.
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
    t
};

/// A JSON string: quotes, backslashes and control characters escaped.
fn string(b: &mut Vec<u8>, s: &str) {
    b.push(b'"');
    if !s.bytes().any(|c| ESCAPED[c as usize]) {
        b.extend_from_slice(s.as_bytes());
        b.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, c) in s.bytes().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        b.extend_from_slice(&s.as_bytes()[start..i]);
        if esc.is_empty() {
            let _ = write!(b, "\\u{:04x}", c);
        } else {
            b.extend_from_slice(esc);
        }
        start = i + 1;
    }
    b.extend_from_slice(&s.as_bytes()[start..]);
    b.push(b'"');
}

/// One event as a JSON object (without the newline).
pub fn write_event(b: &mut Vec<u8>, j: &Judged, file: Option<&str>) {
    write_event_with(b, j, file, &mut String::new());
}

fn write_event_with(b: &mut Vec<u8>, j: &Judged, file: Option<&str>, scratch: &mut String) {
    let ev = &j.event;
    let mut o = Obj::new(b);
    o.secs("ts", ev.ts.0);
    if let Some(f) = file {
        o.str("file", f);
    }
    o.num("frame", ev.frame);
    o.str("iface", &ev.iface_name);
    o.str("kind", ev.kind.as_str());
    o.opt_str("verdict", j.verdict.map(|v| v.as_str()));
    if let Some(n) = &ev.notice {
        o.str("reason", n.code());
        o.str("notice", n.code());
        o.text("message", n, scratch);
        o.end();
        return;
    }
    o.text("reason", &j.reason, scratch);
    o.str("proto", ev.proto.as_str());
    o.str("transport", ev.transport.as_str());
    o.addr("src", ev.src);
    o.num("sport", ev.sport.into());
    o.addr("dst", ev.dst);
    o.num("dport", ev.dport.into());
    o.opt_str("provider", ev.provider);
    o.opt_str("encap", ev.encap.map(|e| e.as_str()));
    if ev.kind == EventKind::Encrypted {
        o.opt_str("sni", ev.sni.as_deref());
    } else {
        o.opt_str("malformed", ev.malformed.map(|m| m.as_str()));
        dns_fields(&mut o, ev.dns.as_deref(), ev.kind == EventKind::Response);
        match ev.rtt_ns {
            Some(ns) => o.secs("rtt", ns.min(i64::MAX as u64) as i64),
            None => o.null("rtt"),
        }
    }
    o.end();
}

fn dns_fields(o: &mut Obj<'_>, info: Option<&DnsInfo>, response: bool) {
    let Some(info) = info else {
        for k in DNS_KEYS {
            o.null(k);
        }
        return;
    };
    header_fields(o, &info.header);
    match &info.question {
        Some(q) => {
            o.str("qname", &q.name);
            o.num("qtype", q.qtype.into());
            o.str("qtype_name", &type_name(q.qtype));
            o.num("qclass", q.qclass.into());
            o.str("qclass_name", class_name(q.qclass));
        }
        None => {
            for k in ["qname", "qtype", "qtype_name", "qclass", "qclass_name"] {
                o.null(k);
            }
        }
    }
    let full = if response { dns::decode_full(&info.payload).ok() } else { None };
    match full {
        Some(full) => {
            o.key("answers");
            list(o.b, full.answers.iter().map(|a| a.data.as_str()));
            o.key("TTLs");
            o.b.push(b'[');
            for (i, a) in full.answers.iter().enumerate() {
                let _ = write!(o.b, "{}{}", if i > 0 { "," } else { "" }, a.ttl);
            }
            o.b.push(b']');
        }
        None => {
            o.null("answers");
            o.null("TTLs");
        }
    }
}

/// Every key `dns_fields` writes, for messages whose header could not be read.
const DNS_KEYS: [&str; 22] = [
    "trans_id",
    "opcode",
    "opcode_name",
    "rcode",
    "rcode_name",
    "AA",
    "TC",
    "RD",
    "RA",
    "AD",
    "CD",
    "qdcount",
    "ancount",
    "nscount",
    "arcount",
    "qname",
    "qtype",
    "qtype_name",
    "qclass",
    "qclass_name",
    "answers",
    "TTLs",
];

fn header_fields(o: &mut Obj<'_>, h: &DnsHeader) {
    o.num("trans_id", h.id.into());
    o.num("opcode", h.opcode().into());
    o.str("opcode_name", &opcode_name(h.opcode()));
    o.num("rcode", h.rcode().into());
    o.str("rcode_name", &rcode_name(h.rcode()));
    o.bool("AA", h.aa());
    o.bool("TC", h.tc());
    o.bool("RD", h.rd());
    o.bool("RA", h.ra());
    o.bool("AD", h.ad());
    o.bool("CD", h.cd());
    o.num("qdcount", h.qdcount.into());
    o.num("ancount", h.ancount.into());
    o.num("nscount", h.nscount.into());
    o.num("arcount", h.arcount.into());
}

fn list<'s>(b: &mut Vec<u8>, items: impl Iterator<Item = &'s str>) {
    b.push(b'[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            b.push(b',');
        }
        string(b, s);
    }
    b.push(b']');
}

/// The mnemonic of a record type (RFC 3597 `TYPEnnn` when it has none).
pub fn type_name(t: u16) -> std::borrow::Cow<'static, str> {
    let name = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        24 => "SIG",
        25 => "KEY",
        28 => "AAAA",
        29 => "LOC",
        33 => "SRV",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        39 => "DNAME",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        53 => "SMIMEA",
        59 => "CDS",
        60 => "CDNSKEY",
        61 => "OPENPGPKEY",
        62 => "CSYNC",
        63 => "ZONEMD",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        _ => return format!("TYPE{t}").into(),
    };
    name.into()
}

fn class_name(c: u16) -> &'static str {
    // mDNS uses the top bit (unicast response / cache flush).
    match c & 0x7fff {
        1 => "C_INTERNET",
        3 => "C_CHAOS",
        4 => "C_HESIOD",
        254 => "C_NONE",
        255 => "C_ANY",
        _ => "C_OTHER",
    }
}

pub fn rcode_name(r: u8) -> std::borrow::Cow<'static, str> {
    let name = match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        11 => "DSOTYPENI",
        _ => return format!("RCODE{r}").into(),
    };
    name.into()
}

pub fn opcode_name(op: u8) -> std::borrow::Cow<'static, str> {
    let name = match op {
        0 => "QUERY",
        1 => "IQUERY",
        2 => "STATUS",
        4 => "NOTIFY",
        5 => "UPDATE",
        6 => "DSO",
        _ => return format!("OPCODE{op}").into(),
    };
    name.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_what_json_requires() {
        let mut b = Vec::new();
        string(&mut b, "a\"b\\c\n\x1b[2J\x7f é");
        assert_eq!(String::from_utf8(b).unwrap(), "\"a\\\"b\\\\c\\n\\u001b[2J\\u007f é\"");
    }

    #[test]
    fn decimals_and_addresses() {
        let mut b = Vec::new();
        for v in [0, 7, 10, 65535, u64::MAX] {
            b.clear();
            decimal(&mut b, v, 1);
            assert_eq!(String::from_utf8(b.clone()).unwrap(), v.to_string());
        }
        b.clear();
        decimal(&mut b, 42, 9);
        assert_eq!(b, b"000000042");
        let mut b = Vec::new();
        let mut o = Obj::new(&mut b);
        o.addr("a", "192.0.2.255".parse().unwrap());
        o.addr("b", "fd00::53".parse().unwrap());
        o.end();
        assert_eq!(String::from_utf8(b).unwrap(), "{\"a\":\"192.0.2.255\",\"b\":\"fd00::53\"}");
    }

    #[test]
    fn seconds_keep_nanoseconds() {
        let mut b = Vec::new();
        let mut o = Obj::new(&mut b);
        o.secs("ts", 1_700_000_000_123_456_789);
        o.secs("neg", -1_500_000_000);
        o.end();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["ts"].as_f64(), Some(1_700_000_000.123_456_8));
        assert_eq!(String::from_utf8(b).unwrap(), "{\"ts\":1700000000.123456789,\"neg\":-1.500000000}");
    }
}

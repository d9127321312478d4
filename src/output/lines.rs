//! One readable line per event, for `monitor --no-tui` (and `monitor` when no dashboard can
//! run): time, verdict, interface, transport, addresses, what was asked, the program behind
//! it, and why. Wire and OS text (names, SNI, program names) goes through `escape`, so it
//! cannot drive the terminal.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::escape::escape;
use super::time::hms_ms;
use super::Sink;
use crate::counters::Counters;
use dnsleak_core::event::{Body, Flow, Message};
use dnsleak_core::{EventKind, Judged, Verdict};

pub struct LinesSink<W: Write> {
    out: W,
    color: bool,
    line: String,
}

impl<W: Write> LinesSink<W> {
    pub fn new(out: W, color: bool) -> Self {
        LinesSink { out, color, line: String::with_capacity(256) }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Sink for LinesSink<W> {
    fn event(&mut self, judged: &Judged, _file: Option<&str>) -> io::Result<()> {
        self.line.clear();
        format_line(&mut self.line, judged, self.color);
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())
    }

    fn counters(&mut self, _counters: &Counters) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, _counters: &Counters) -> io::Result<()> {
        self.out.flush()
    }
}

fn paint(color: bool, v: Option<Verdict>) -> (&'static str, &'static str) {
    if !color {
        return ("", "");
    }
    let code = match v {
        Some(Verdict::Leak | Verdict::Bypass) => "\x1b[1;31m",
        Some(Verdict::Tunnel) => "\x1b[32m",
        Some(Verdict::Local | Verdict::Multicast) => "\x1b[2m",
        None => "\x1b[33m",
    };
    (code, "\x1b[0m")
}

/// One event as one line (no newline).
pub fn format_line(s: &mut String, j: &Judged, color: bool) {
    let e = &j.event;
    let (on, off) = paint(color, j.verdict);
    let kind = e.kind();
    let label = match (j.verdict, kind) {
        (Some(v), _) => v.as_str(),
        (None, EventKind::Malformed) => "malformed",
        (None, _) => "notice",
    };
    let _ = write!(s, "{} {on}{:<9}{off} {}", hms_ms(e.ts), label, escape(&e.iface_name));
    let w = match &e.body {
        Body::Notice(n) => {
            let _ = write!(s, "  {}", escape(&n.to_string()));
            return;
        }
        Body::Message(Message { wire, .. }) | Body::Flow(Flow { wire, .. }) => wire,
    };
    let (proto, transport) = (w.proto.as_str(), w.transport.as_str());
    let _ =
        write!(s, " {proto}/{transport} {} {}:{} -> {}:{}", kind.as_str(), w.src, w.sport, w.dst, w.dport);
    if let Some(enc) = w.encap {
        let _ = write!(s, " in {}", enc.as_str());
    }
    if let Some(q) = e.as_message().and_then(Message::question) {
        let name = if q.name.is_empty() { "." } else { &q.name };
        let _ = write!(s, " {} {}", dnsleak_core::names::qtype(q.qtype), escape(name));
    }
    if let Some(sni) = e.sni() {
        let _ = write!(s, " sni={}", escape(sni));
    }
    if let Some(p) = w.provider {
        let _ = write!(s, " ({p})");
    }
    if let Some(m) = e.as_message().and_then(Message::malformed) {
        let _ = write!(s, " malformed: {m}");
    }
    if let Some(o) = e.owner() {
        let _ = write!(s, " by {}", super::programs::owner_text(o));
    }
    if j.verdict.is_some() {
        let _ = write!(s, "  -- {}", j.reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_and_escape() {
        use dnsleak_core::{Event, IfaceName, Notice, Ts};
        let ev = Event::notice(
            Ts(0),
            1,
            0,
            IfaceName::new("wg\u{1b}0"),
            Notice::TunnelUp { iface: IfaceName::new("wg\u{1b}0") },
        );
        let j = Judged::unjudged(ev);
        let mut s = String::new();
        format_line(&mut s, &j, false);
        assert!(!s.contains('\u{1b}'), "{s}");
        assert!(s.contains("notice"), "{s}");
        assert!(s.contains("wg\\x1b0"), "{s}");
    }
}

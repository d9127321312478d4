//! Helpers of the HTML report's tests (`tests/report_html.rs`, `tests/report_browser.rs`).

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use scraper::{ElementRef, Html, Node};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// A fresh directory for one test.
pub fn tmp_dir(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// Runs `dnsleak replay --quiet --report DIR/report.html FILES EXTRA` and returns the page.
pub fn replay_report(dir: &Path, files: &[&Path], extra: &[&str]) -> String {
    let out = dir.join("report.html");
    let run = Command::new(env!("CARGO_BIN_EXE_dnsleak"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["replay", "--quiet", "--report"])
        .arg(&out)
        .args(extra)
        .args(files.iter().map(|f| f.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(f)))
        .output()
        .expect("run dnsleak");
    assert!(matches!(run.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&run.stderr));
    std::fs::read_to_string(&out).expect("the report was written")
}

/// The page as an indented outline: each element with its classes and id, its own text, and
/// each chart summarised (its elements counted by tag and class, its texts listed), without
/// coordinates. The time the report was made is left out.
pub fn outline(html: &str) -> String {
    let doc = Html::parse_document(html);
    let mut out = String::new();
    for el in doc.root_element().children().filter_map(ElementRef::wrap) {
        walk(el, 0, &mut out);
    }
    out
}

fn walk(el: ElementRef<'_>, depth: usize, out: &mut String) {
    let v = el.value();
    if matches!(v.name(), "style" | "head") {
        let _ = writeln!(out, "{}{}", "  ".repeat(depth), v.name());
        return;
    }
    let _ = write!(out, "{}{}", "  ".repeat(depth), v.name());
    if let Some(id) = v.id() {
        let _ = write!(out, "#{id}");
    }
    let mut classes: Vec<&str> = v.classes().collect();
    classes.sort_unstable();
    for c in classes {
        let _ = write!(out, ".{c}");
    }
    if v.name() == "svg" {
        let _ = writeln!(out, " {}", svg_summary(el));
        return;
    }
    let own: Vec<&str> = el
        .children()
        .filter_map(|c| match c.value() {
            Node::Text(t) => Some(t.trim()),
            _ => None,
        })
        .filter(|t| !t.is_empty())
        .collect();
    let mut text = own.join(" ");
    if let Some(at) = text.find(" on ").filter(|_| text.starts_with("Made by dnsleak")) {
        let end = text[at..].find(" UTC").map_or(text.len(), |e| at + e + 4);
        text.replace_range(at..end, " on <time of writing>");
    }
    if text.is_empty() {
        out.push('\n');
    } else {
        let _ = writeln!(out, ": {text}");
    }
    for c in el.children().filter_map(ElementRef::wrap) {
        walk(c, depth + 1, out);
    }
}

fn svg_summary(svg: ElementRef<'_>) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut texts = Vec::new();
    for el in svg.descendants().filter_map(ElementRef::wrap).skip(1) {
        let v = el.value();
        if v.name() == "text" {
            let own: String = el
                .children()
                .filter_map(|c| match c.value() {
                    Node::Text(t) => Some(t.to_string()),
                    _ => None,
                })
                .collect();
            texts.push(own.trim().to_string());
        }
        if v.name() == "title" {
            continue;
        }
        let mut classes: Vec<&str> = v.classes().collect();
        classes.sort_unstable();
        let key = std::iter::once(v.name()).chain(classes).collect::<Vec<_>>().join(".");
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => counts.push((key, 1)),
        }
    }
    let counts: Vec<String> = counts.iter().map(|(k, n)| format!("{k}×{n}")).collect();
    format!("[{}] texts: {}", counts.join(" "), texts.join(" | "))
}

/// Judged events made by hand, for the report's tests.
pub mod event {
    use std::net::IpAddr;

    use dnsleak_core::event::{DnsHeader, DnsInfo, Flow, Message, MessageKind, Question, Wire};
    use dnsleak_core::verdict::Reason;
    use dnsleak_core::{Body, Event, IfaceName, Judged, Notice, Transport, Ts, Verdict, L4};

    const T0: i64 = 1_795_557_751_000_000_000;

    fn wire(proto: L4, transport: Transport, dport: u16) -> Wire {
        Wire {
            proto,
            transport,
            src: IpAddr::from([192, 0, 2, 2]),
            sport: 40000,
            dst: IpAddr::from([192, 0, 2, 1]),
            dport,
            encap: None,
            provider: None,
        }
    }

    fn event(ts: i64, iface: &str, body: Body) -> Event {
        Event {
            ts: Ts(T0 + ts),
            frame: 1 + ts.unsigned_abs() % 1_000_000,
            iface: 1,
            iface_name: IfaceName::new(iface),
            body,
        }
    }

    /// A plaintext query for `name` that leaked by `iface`.
    pub fn leak(ts: i64, iface: &str, name: &str) -> Judged {
        let dns = DnsInfo {
            header: DnsHeader { id: 7, flags: 0x0100, qdcount: 1, ..Default::default() },
            question: Some(Question { name: name.into(), qtype: 1, qclass: 1 }),
            payload: Box::new([]),
        };
        let message = Message {
            kind: MessageKind::Query,
            wire: wire(L4::Udp, Transport::Dns, 53),
            dns: Some(dns),
            rtt_ns: None,
            owner: None,
        };
        let mut j = Judged::unjudged(event(ts, iface, Body::Message(message)));
        j.verdict = Some(Verdict::Leak);
        j.reason = Reason::Notice;
        j
    }

    /// A DoT flow that went around the tunnel by `iface`.
    pub fn bypass(ts: i64, iface: &str, sni: Option<&str>) -> Judged {
        let flow = Flow { wire: wire(L4::Tcp, Transport::Dot, 853), sni: sni.map(Into::into), owner: None };
        let mut j = Judged::unjudged(event(ts, iface, Body::Flow(flow)));
        j.verdict = Some(Verdict::Bypass);
        j.reason = Reason::Notice;
        j
    }

    /// `j` sent to (a flow: served by) `dst`.
    pub fn to(mut j: Judged, dst: IpAddr) -> Judged {
        match &mut j.event.body {
            Body::Message(Message { wire, .. }) | Body::Flow(Flow { wire, .. }) => wire.dst = dst,
            Body::Notice(_) => {}
        }
        j
    }

    /// A parallel-resolution notice for `name`.
    pub fn parallel(ts: i64, tunnel: &str, outside: &str, name: &str) -> Judged {
        let notice =
            Notice::ParallelResolution { name: name.into(), tunnel: tunnel.into(), outside: outside.into() };
        Judged::unjudged(Event::notice(Ts(T0 + ts), 1, 1, IfaceName::new(outside), notice))
    }
}

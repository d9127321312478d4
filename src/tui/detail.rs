//! The detail pane: everything known about one event, its verdict's reason, and the answers
//! (decoded only now, for this one event, by `core::dns::decode_full`).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::app::App;
use super::model::{Model, Row};
use super::text;
use crate::output::escape::escape;
use dnsleak_core::dns::{decode_full, FullMessage};
use dnsleak_core::event::{Body, Message};
use dnsleak_core::{Caused, Event, EventKind, IfaceKind};

fn field(name: &str, value: String) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{name:<10}"), Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)),
        Span::raw(value),
    ])
}

/// The lines of the detail pane for `row`.
pub fn lines(row: &Row, model: &Model) -> Vec<Line<'static>> {
    let j = &row.judged;
    let ev = &j.event;
    let mut out = Vec::new();
    let file = row.file.as_deref().map(|f| format!(" in {}", escape(f))).unwrap_or_default();
    out.push(field("event", format!("#{}, frame {}{file}", row.seq, ev.frame)));
    out.push(field("time", text::full_time(ev.ts)));
    let row = model.tables.interfaces().iter().find(|i| i.name == ev.iface_name);
    let kind = row.and_then(|i| i.kind).unwrap_or(IfaceKind::Other);
    out.push(field("interface", format!("{} ({})", escape(&ev.iface_name), kind.as_str())));
    let (verdict, style) = match (ev.kind(), j.verdict) {
        (EventKind::Notice, _) | (_, None) => ("notice".to_owned(), Style::new().fg(Color::Yellow)),
        (_, Some(v)) if j.is_exposure() => {
            (v.as_str().to_uppercase(), Style::new().fg(Color::Red).add_modifier(Modifier::BOLD))
        }
        (_, Some(v)) => (v.as_str().to_owned(), Style::new().fg(Color::Green)),
    };
    out.push(Line::from(vec![
        Span::styled(format!("{:<10}", "verdict"), Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)),
        Span::styled(verdict, style),
    ]));
    let (w, (raddr, rport)) = match (&ev.body, ev.wire(), ev.resolver()) {
        (Body::Notice(n), ..) => {
            out.push(field("notice", escape(&n.to_string()).into_owned()));
            return out;
        }
        (_, Some(w), Some(resolver)) => (w, resolver),
        _ => return out,
    };
    out.push(field("reason", escape(&j.reason.to_string()).into_owned()));
    if let Some(c) = &j.cause {
        out.push(Line::from(vec![
            Span::styled(
                format!("{:<10}", "cause"),
                Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            ),
            Span::styled(c.cause.as_str(), Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)),
        ]));
        out.push(field("evidence", escape(&c.detail(ev)).into_owned()));
    }
    let encap = w.encap.map(|e| format!(", inside {}", e.as_str())).unwrap_or_default();
    out.push(field(
        "kind",
        format!("{} over {}/{}{encap}", ev.kind().as_str(), w.transport.as_str(), w.proto.as_str()),
    ));
    out.push(field("from", sockaddr(w.src, w.sport)));
    out.push(field("to", sockaddr(w.dst, w.dport)));
    let provider = w.provider.map(|p| format!(" ({p})")).unwrap_or_default();
    out.push(field("resolver", format!("{}{provider}", sockaddr(raddr, rport))));
    if let Some(c) = &j.cause {
        let configured = match c.resolver_configured {
            Some(true) => "yes: the system's resolver configuration names it",
            Some(false) => "no: no configuration names it (a program with its own resolver?)",
            None => "unknown (the resolver configuration was not read)",
        };
        out.push(field("config", configured.into()));
    }
    if let Some(sni) = ev.sni() {
        out.push(field("sni", escape(sni).into_owned()));
    }
    if let Some(o) = ev.owner() {
        program_lines(o, &mut out);
    }
    if let Some(m) = ev.as_message() {
        if let Some(why) = m.malformed() {
            out.push(field("malformed", format!("{why} ({})", why.as_str())));
        }
        if let Some(rtt) = m.rtt_ns {
            out.push(field("rtt", text::rtt(rtt)));
        }
        dns_lines(m, &mut out);
    }
    // The fix last: it is the longest (commands to run), and the event's facts come first.
    if let Some(c) = &j.cause {
        fix_lines(c, ev, &mut out);
    }
    out
}

/// What to change, line by line (its commands hold names from the wire and the OS: each line
/// is escaped on its own, so the line breaks stay breaks).
fn fix_lines(c: &Caused, ev: &Event, out: &mut Vec<Line<'static>>) {
    let fix = c.fix(ev).to_string();
    for (i, l) in fix.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        out.push(field(if i == 0 { "fix" } else { "" }, escape(l).into_owned()));
    }
}

/// Who sent it, and for whom when a local stub forwarded it.
fn program_lines(o: &dnsleak_core::Owner, out: &mut Vec<Line<'static>>) {
    use dnsleak_core::Attribution;
    let sender = match &o.process {
        Attribution::Process(p) => text::process_detail(p),
        Attribution::Unknown => "unknown (no socket of this host was seen sending it)".into(),
        Attribution::NotFromThisHost => {
            "not from this host (forwarded, bridged or another namespace's)".into()
        }
    };
    out.push(field("program", sender));
    if let Some(p) = &o.on_behalf_of {
        out.push(field("for", format!("{} (asked the local stub above)", text::process_detail(p))));
    }
}

fn sockaddr(addr: std::net::IpAddr, port: u16) -> String {
    match addr {
        std::net::IpAddr::V6(a) => format!("[{a}]:{port}"),
        std::net::IpAddr::V4(a) => format!("{a}:{port}"),
    }
}

fn dns_lines(m: &Message, out: &mut Vec<Line<'static>>) {
    let Some(d) = m.dns.as_ref() else { return };
    if let Some(q) = &d.question {
        let name = if q.name.is_empty() { ".".into() } else { escape(&q.name) };
        out.push(field("question", format!("{name} {} {}", text::qtype(q.qtype), text::qclass(q.qclass))));
    }
    let h = &d.header;
    let flags: Vec<&str> =
        [(h.aa(), "AA"), (h.tc(), "TC"), (h.rd(), "RD"), (h.ra(), "RA"), (h.ad(), "AD"), (h.cd(), "CD")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
    out.push(field(
        "header",
        format!(
            "id {} opcode {} rcode {} flags [{}] qd {} an {} ns {} ar {}",
            h.id,
            h.opcode(),
            text::rcode(h.rcode() as u16),
            flags.join(" "),
            h.qdcount,
            h.ancount,
            h.nscount,
            h.arcount
        ),
    ));
    if !m.is_response() {
        return;
    }
    match decode_full(&d.payload) {
        Ok(full) => answer_lines(&full, out),
        Err(e) => out.push(field("answers", format!("could not decode: {e}"))),
    }
}

fn answer_lines(full: &FullMessage, out: &mut Vec<Line<'static>>) {
    if let Some(e) = &full.edns {
        let ecs =
            e.client_subnet.as_deref().map(|s| format!(", client subnet {}", escape(s))).unwrap_or_default();
        let dnssec = if e.dnssec_ok { ", DO" } else { "" };
        out.push(field(
            "edns",
            format!("udp size {}{dnssec}{ecs}, rcode {}", e.udp_size, text::rcode(e.rcode_ext)),
        ));
    }
    if full.answers.is_empty() {
        out.push(field("answers", "none".into()));
    }
    for (i, a) in full.answers.iter().enumerate() {
        let label = if i == 0 { "answers" } else { "" };
        out.push(field(
            label,
            format!("{} {} {} {}", escape(&a.name), text::qtype(a.rtype), a.ttl, escape(&a.data)),
        ));
    }
}

/// The detail pane of the selected event.
pub(super) fn render(app: &App, model: &Model, area: Rect, buf: &mut Buffer) {
    let Some(row) = app.current(model) else {
        let block = super::view::pane_block(" Detail (Esc back, ↑↓ other events) ".into(), true);
        Paragraph::new("No event selected.").block(block).render(area, buf);
        return;
    };
    let lines = lines(row, model);
    // A detail taller than the pane (a small terminal, a long fix) scrolls with PgUp/PgDn.
    let inner = super::view::pane_block(String::new(), true).inner(area);
    let (width, height) = (inner.width, inner.height);
    let rows: usize = lines.iter().map(|l| wrapped_rows(l, width)).sum();
    let max = u16::try_from(rows.saturating_sub(usize::from(height))).unwrap_or(u16::MAX);
    app.detail_page.set(height);
    app.detail_max.set(max);
    let scroll = app.detail_scroll.min(max);
    let title = if max == 0 {
        " Detail (Esc back, ↑↓ other events) ".to_string()
    } else {
        let last = (usize::from(scroll) + usize::from(height)).min(rows);
        format!(
            " Detail (Esc back, ↑↓ other events, PgUp PgDn scroll: rows {}-{last} of {rows}) ",
            scroll + 1
        )
    };
    Paragraph::new(lines)
        .block(super::view::pane_block(title, true))
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0))
        .render(area, buf);
}

/// Rows `line` takes wrapped at `width` word by word, as the paragraph wraps it (a word longer
/// than the width is cut). It errs on the side of a row too many (a word is measured with the
/// spaces after it), so the end of a detail can always be scrolled to.
fn wrapped_rows(line: &Line<'_>, width: u16) -> usize {
    let width = usize::from(width.max(1));
    let (mut rows, mut col) = (1, 0);
    for word in line.spans.iter().flat_map(|s| s.content.split_inclusive(' ')) {
        let w = Span::raw(word).width();
        if w == 0 {
            continue;
        }
        if col > 0 && col + w > width {
            rows += 1;
            col = 0;
        }
        rows += (col + w).saturating_sub(1) / width;
        col = (col + w - 1) % width + 1;
    }
    rows
}

//! Rendering: a pure function of the UI state and the model. Every piece of text that came
//! off the wire (names, SNI, interface and file names, notices, answers) goes through
//! `output::escape`, so it is shown, never interpreted by the terminal.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row as TRow, Sparkline, Table, Widget};

use super::app::{App, Listing, Pane, Progress, Source, VerdictFilter};
use super::model::{Model, Row, Safety};
use super::tables::{render_ifaces, render_resolvers};
use super::text;
use crate::output::escape::escape;
use crate::output::summary::flows_by_carrier;
use dnsleak_core::event::{Body, Message, MessageKind};
use dnsleak_core::{EventKind, IfaceKind, Judged, Notice, Verdict};

/// Terminals at least this wide and tall show every pane at once.
const WIDE_W: u16 = 120;
const WIDE_H: u16 = 34;

/// The whole dashboard, drawn from a state and a model.
pub struct Dashboard<'a> {
    pub app: &'a App,
    pub model: &'a Model,
}

impl Widget for Dashboard<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        render(self.app, self.model, area, buf);
    }
}

pub fn render(app: &App, model: &Model, area: Rect, buf: &mut Buffer) {
    let wide = area.width >= WIDE_W && area.height >= WIDE_H;
    let chart_h = if wide { 4 } else { 2 };
    let [banner, info, tabs, main, chart, counters, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(chart_h),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    // The filtered list, computed once per frame.
    let list = app.visible(model);
    render_banner(app, model, banner, buf);
    render_info(app, model, info, buf);
    render_tabs(app, model, list.len(), tabs, buf);
    if app.configured {
        super::configured::render(app, model, main, buf);
    } else if app.detail {
        super::detail::render(app, model, main, buf);
    } else if wide {
        let [top, bottom] =
            Layout::vertical([Constraint::Min(6), Constraint::Length(main.height / 3)]).areas(main);
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(bottom);
        render_events(app, model, &list, top, buf);
        render_resolvers(app, model, left, buf);
        render_ifaces(app, model, right, buf);
    } else {
        match app.pane {
            Pane::Events => render_events(app, model, &list, main, buf),
            Pane::Resolvers => render_resolvers(app, model, main, buf),
            Pane::Interfaces => render_ifaces(app, model, main, buf),
        }
    }
    render_chart(app, model, chart, buf);
    render_counters(model, counters, buf);
    render_keys(keys, buf);
    if app.help {
        render_help(area, buf);
    }
}

fn banner_text(model: &Model, safety: Safety) -> (String, Style) {
    let bold = Modifier::BOLD;
    match safety {
        Safety::Waiting => (
            " … WAITING: no DNS seen yet".into(),
            Style::new().fg(Color::White).bg(Color::DarkGray).add_modifier(bold),
        ),
        Safety::Safe => {
            let mut s = " ✔ SAFE: all DNS through the tunnel".to_owned();
            if let Some(e) = model.episode {
                s += &format!(" (earlier: {} leaked, last at {})", model.exposures, text::hms(e.last));
            }
            (s, Style::new().fg(Color::Black).bg(Color::Green).add_modifier(bold))
        }
        Safety::NoTunnel => (
            format!(" ? NO TUNNEL: no VPN interface seen ({} leaked in all)", model.exposures),
            Style::new().fg(Color::Black).bg(Color::Yellow).add_modifier(bold),
        ),
        Safety::TunnelDown { since } => {
            let since = since.map(|t| format!(" since {}", text::hms(t))).unwrap_or_default();
            (
                format!(" ▼ TUNNEL DOWN{since}: DNS is not protected"),
                Style::new().fg(Color::Black).bg(Color::Yellow).add_modifier(bold),
            )
        }
        Safety::Leaking(e) => (
            format!(
                " ✖ LEAKING since {}: {} leaked messages ({} in all)",
                text::hms(e.since),
                e.count,
                model.exposures
            ),
            Style::new().fg(Color::White).bg(Color::Red).add_modifier(bold),
        ),
    }
}

fn render_banner(app: &App, model: &Model, area: Rect, buf: &mut Buffer) {
    let (msg, style) = banner_text(model, model.safety(app.now));
    buf.set_style(area, style);
    let clock = format!("{} UTC ", text::hms(app.now));
    let room = area.width as usize;
    let msg = text::cut(&msg, room.saturating_sub(clock.len() + 1));
    Line::from(msg).style(style).render(area, buf);
    if room > clock.len() {
        let x = area.right() - clock.len() as u16;
        buf.set_string(x, area.y, &clock, style);
    }
}

fn render_info(app: &App, model: &Model, area: Rect, buf: &mut Buffer) {
    let mut spans: Vec<Span> = vec![Span::raw("tunnel: ")];
    // One entry per name: a tunnel that came back under its name is the same to a person.
    let mut tunnels: Vec<(&str, bool)> = Vec::new();
    for t in model.tunnels() {
        match tunnels.iter_mut().find(|(n, _)| *n == &*t.name) {
            Some(slot) => slot.1 |= t.up,
            None => tunnels.push((&t.name, t.up)),
        }
    }
    for (name, up) in tunnels.iter().take(4) {
        let (word, color) = if *up { ("up", Color::Green) } else { ("DOWN", Color::Red) };
        spans.push(Span::raw(format!("{} ", escape(name))));
        spans.push(Span::styled(format!("{word} "), Style::new().fg(color).add_modifier(Modifier::BOLD)));
    }
    if tunnels.is_empty() {
        spans.push(Span::styled("none ", Style::new().fg(Color::Yellow)));
    }
    spans.push(Span::raw("│ "));
    spans.push(source_status(app, model));
    spans.push(Span::raw(format!(" │ {} │ watching: ", running(app, model))));
    let watched: Vec<String> = model
        .tables
        .interfaces()
        .iter()
        .filter(|i| i.present && matches!(i.kind, None | Some(IfaceKind::Physical | IfaceKind::Other)))
        .map(|i| escape(&i.name).into_owned())
        .collect();
    spans.push(Span::raw(if watched.is_empty() { "-".to_owned() } else { watched.join(",") }));
    Line::from(spans).render(area, buf);
}

fn running(app: &App, model: &Model) -> String {
    match &app.source {
        Source::Live { started } => format!("running {}", text::span(app.now.since(*started))),
        Source::Replay { .. } => match (model.first_ts, model.last_ts) {
            (Some(a), Some(b)) => format!("span {}", text::span(b.since(a))),
            _ => "span -".to_owned(),
        },
    }
}

fn source_status(app: &App, model: &Model) -> Span<'static> {
    let c = &model.counters;
    let pct = c.bytes_total.filter(|t| *t > 0).map(|t| c.bytes_read.saturating_mul(100) / t);
    match (&app.progress, &app.source) {
        (Progress::Failed(e), _) => Span::styled(
            format!("error: {}", escape(e)),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        (Progress::Finished, Source::Replay { files, .. }) => Span::raw(format!("done: {}", escape(files))),
        (Progress::Finished, Source::Live { .. }) => {
            Span::styled("capture stopped", Style::new().fg(Color::Red))
        }
        (Progress::Running, Source::Live { .. }) => Span::raw("live"),
        (Progress::Running, Source::Replay { speed: Some(s), files }) => {
            Span::raw(format!("playing {} at x{s} {}%", escape(files), pct.unwrap_or(0)))
        }
        (Progress::Running, Source::Replay { files, .. }) => {
            let pct = pct.map(|p| format!("{p}%")).unwrap_or_else(|| format!("{} bytes", c.bytes_read));
            Span::styled(format!("reading {} {pct}", escape(files)), Style::new().fg(Color::Cyan))
        }
    }
}

fn render_tabs(app: &App, model: &Model, shown: usize, area: Rect, buf: &mut Buffer) {
    let mut spans = Vec::new();
    for p in Pane::ALL {
        let style = if p == app.pane && !app.detail {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::new().fg(Color::Gray)
        };
        spans.push(Span::styled(format!(" {} ", p.title()), style));
    }
    spans.push(Span::raw(format!(" {shown}/{} events", model.events.len())));
    if app.verdicts != VerdictFilter::All {
        spans.push(Span::styled(
            format!(" │ verdict: {}", app.verdicts.label()),
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ));
    }
    if !app.filter.is_empty() || app.editing.is_some() {
        let cursor = if app.editing.is_some() { "▏" } else { "" };
        spans.push(Span::styled(
            format!(" │ name: {}{cursor}", escape(&app.filter)),
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ));
    }
    if app.paused.is_some() {
        spans.push(Span::styled(" │ PAUSED", Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)));
    }
    Line::from(spans).render(area, buf);
}

/// How an event's verdict looks: words in capitals for exposures, so colour is not the only sign.
fn verdict_cell(j: &Judged) -> (String, Style) {
    match j.event.kind() {
        EventKind::Notice => ("notice".into(), Style::new().fg(Color::Yellow)),
        _ => verdict_look(j.verdict),
    }
}

pub(super) fn verdict_look(v: Option<Verdict>) -> (String, Style) {
    match v {
        None => (String::new(), Style::new()),
        Some(Verdict::Leak) => ("LEAK".into(), Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)),
        Some(Verdict::Bypass) => {
            ("BYPASS".into(), Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD))
        }
        Some(Verdict::Tunnel) => ("tunnel".into(), Style::new().fg(Color::Green)),
        Some(v) => (v.as_str().into(), Style::new().fg(Color::Blue)),
    }
}

fn kind_letter(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Query => "Q",
        EventKind::Response => "R",
        EventKind::Encrypted => "E",
        EventKind::Malformed => "M",
        EventKind::Notice => "N",
    }
}

/// The text of the name column: the question, the SNI, the notice, or why it is malformed.
pub fn name_text(j: &Judged) -> String {
    let m = match &j.event.body {
        Body::Notice(n) => return notice_short(n),
        Body::Flow(f) => {
            return f
                .sni
                .as_deref()
                .map_or_else(|| "(no server name seen)".into(), |s| escape(s).into_owned())
        }
        Body::Message(m) => m,
    };
    let name = m.question().map(|q| if q.name.is_empty() { "." } else { &*q.name });
    match (m.kind, name) {
        (MessageKind::Malformed(why), n) => format!("malformed: {why} {}", escape(n.unwrap_or(""))),
        (_, Some(n)) => escape(n).into_owned(),
        // A response without a question (mDNS announcements): name its first answer.
        (MessageKind::Response, None) => {
            let first = m.dns.as_ref().and_then(|d| dnsleak_core::dns::decode_full(&d.payload).ok());
            match first.as_ref().and_then(|f| f.answers.first()) {
                Some(a) => format!("{} (answer)", escape(&a.name)),
                None => "(no question)".into(),
            }
        }
        (_, None) => "(no question)".into(),
    }
}

/// A notice in a few words for the list (the detail pane has the full sentence).
fn notice_short(n: &Notice) -> String {
    match n {
        Notice::TunnelDown { iface, none_up: true } => format!("TUNNEL {} DOWN, none up", escape(iface)),
        Notice::TunnelDown { iface, .. } => format!("tunnel {} down", escape(iface)),
        Notice::TunnelUp { iface } => format!("tunnel {} up", escape(iface)),
        Notice::KillSwitchFailed { iface } => format!("KILL SWITCH FAILED on {}", escape(iface)),
        Notice::ParallelResolution { name, .. } => format!("parallel resolution of {}", escape(name)),
        Notice::Hijack { name, answered_from, .. } => {
            format!("hijack? {} from {answered_from}", escape(name))
        }
        Notice::UnknownLinkType { link } => format!("link type {link} unsupported"),
        Notice::TableFull { table, .. } => format!("TABLE FULL: {}, drops counted", table.as_str()),
    }
}

/// Which columns the events table has room for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cols {
    /// Under 96 columns: no resolver (it is in the detail and the resolvers pane).
    Narrow,
    /// The resolver, IPv4-sized.
    Medium,
    /// 120 columns and more: milliseconds, the cause, transport/protocol, full resolver.
    Wide,
}

impl Cols {
    fn for_width(w: u16) -> Cols {
        match w {
            120.. => Cols::Wide,
            96.. => Cols::Medium,
            _ => Cols::Narrow,
        }
    }
}

fn event_cells(row: &Row, cols: Cols, programs: bool) -> (Vec<Cell<'static>>, Style) {
    let wide = cols == Cols::Wide;
    let j = &row.judged;
    let ev = &j.event;
    let (verdict, vstyle) = verdict_cell(j);
    let msg = ev.as_message();
    let q = msg.and_then(Message::question);
    let rcode = match msg {
        Some(Message { kind: MessageKind::Response, dns: Some(d), .. }) => {
            text::rcode(d.header.rcode() as u16)
        }
        _ => String::new(),
    };
    let time = if wide { text::hms_ms(ev.ts) } else { text::hms(ev.ts) };
    let via = match ev.wire() {
        None => String::new(),
        Some(w) if wide => format!("{}/{}", w.transport.as_str(), w.proto.as_str()),
        Some(w) => w.transport.as_str().into(),
    };
    let kind = ev.kind();
    let mut cells = vec![
        Cell::from(time),
        Cell::from(escape(&ev.iface_name).into_owned()),
        Cell::from(kind_letter(kind)),
        Cell::from(verdict).style(vstyle),
    ];
    if wide {
        let why = j.cause.as_ref().map_or("", |c| c.cause.short());
        cells.push(Cell::from(why).style(vstyle));
    }
    cells.push(Cell::from(via));
    if cols != Cols::Narrow {
        cells.push(Cell::from(ev.resolver().map(|(addr, _)| addr.to_string()).unwrap_or_default()));
    }
    cells.push(Cell::from(name_text(j)));
    if programs {
        cells.push(Cell::from(ev.owner().map(text::program).unwrap_or_default()));
    }
    cells.push(Cell::from(q.map(|q| text::qtype(q.qtype)).unwrap_or_default()));
    cells.push(Cell::from(rcode));
    cells.push(Cell::from(msg.and_then(|m| m.rtt_ns).map(text::rtt).unwrap_or_default()));
    let style = match j.verdict {
        _ if j.is_exposure() => Style::new().add_modifier(Modifier::BOLD),
        _ if kind == EventKind::Malformed => Style::new().fg(Color::DarkGray),
        _ => Style::new(),
    };
    (cells, style)
}

/// Terminal width from which the events table has a program column (the name keeps at least
/// 26 columns; narrower, the program is in the detail pane).
const PROGRAM_COLUMN_FROM: u16 = 136;

/// Whether the events table has a program column: programs are named (live attribution, or
/// a file that recorded them) and the terminal is wide enough.
fn program_column(model: &Model, width: u16) -> bool {
    width >= PROGRAM_COLUMN_FROM && model.counters.core.processes.is_some()
}

fn event_widths(cols: Cols, programs: bool) -> Vec<Constraint> {
    let mut w = base_widths(cols);
    if programs {
        // Right after the name (index 7 with the cause column of wide tables; narrow tables
        // have no program column).
        w.insert(if cols == Cols::Wide { 8 } else { 7 }, Constraint::Length(14));
    }
    w
}

fn base_widths(cols: Cols) -> Vec<Constraint> {
    use Constraint::{Length, Min};
    if cols == Cols::Medium {
        return vec![
            Length(8),
            Length(7),
            Length(1),
            Length(9),
            Length(5),
            Length(15),
            Min(12),
            Length(5),
            Length(8),
            Length(7),
        ];
    }
    if cols == Cols::Wide {
        vec![
            Length(12),
            Length(10),
            Length(1),
            Length(9),
            Length(9),
            Length(9),
            Length(22),
            Min(16),
            Length(6),
            Length(8),
            Length(8),
        ]
    } else {
        vec![Length(8), Length(7), Length(1), Length(9), Length(5), Min(12), Length(5), Length(8), Length(7)]
    }
}

pub(super) fn pane_block(title: String, focused: bool) -> Block<'static> {
    let style = if focused { Style::new().fg(Color::Cyan) } else { Style::new().fg(Color::DarkGray) };
    Block::new()
        .borders(Borders::TOP)
        .border_style(style)
        .title(Span::styled(title, style.add_modifier(Modifier::BOLD)))
}

fn render_events(app: &App, model: &Model, list: &Listing<'_>, area: Rect, buf: &mut Buffer) {
    let cols = Cols::for_width(area.width);
    let block = pane_block(" Events (newest first) ".into(), app.pane == Pane::Events);
    let inner = block.inner(area);
    block.render(area, buf);
    if list.is_empty() {
        let msg = if model.events.is_empty() {
            "No DNS events yet."
        } else {
            "No event matches the filters (v: verdicts, /: name, Esc: clear the name)."
        };
        Paragraph::new(msg).style(Style::new().fg(Color::DarkGray)).render(inner, buf);
        return;
    }
    let rows_fit = (inner.height as usize).saturating_sub(1).max(1);
    app.page.set(rows_fit);
    let pos = app.position(list);
    let mut offset = app.offset.get().min(list.len().saturating_sub(1));
    if pos < offset {
        offset = pos;
    } else if pos >= offset + rows_fit {
        offset = pos + 1 - rows_fit;
    }
    app.offset.set(offset);
    let programs = program_column(model, area.width);
    let rows = (offset..list.len().min(offset + rows_fit)).filter_map(|i| list.get(i).map(|r| (i, r))).map(
        |(i, r)| {
            let (cells, mut style) = event_cells(r, cols, programs);
            if i == pos {
                style = style.add_modifier(Modifier::REVERSED);
            }
            TRow::new(cells).style(style)
        },
    );
    let mut header = vec!["time", "iface", "k", "verdict"];
    if cols == Cols::Wide {
        header.push("why");
    }
    header.push("via");
    if cols != Cols::Narrow {
        header.push("resolver");
    }
    header.push("name");
    if programs {
        header.push("program");
    }
    header.extend(["type", "rcode", "rtt"]);
    let header = TRow::new(header).style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    Table::new(rows, event_widths(cols, programs)).header(header).column_spacing(1).render(inner, buf);
}

fn render_chart(app: &App, model: &Model, area: Rect, buf: &mut Buffer) {
    let label_w = 18u16.min(area.width);
    let [labels, spark] = Layout::horizontal([Constraint::Length(label_w), Constraint::Min(0)]).areas(area);
    let secs = model.last_seconds(app.now, spark.width.max(1) as usize);
    let msgs: Vec<u64> = secs.iter().map(|s| s.messages as u64).collect();
    let leaks: Vec<u64> = secs.iter().map(|s| s.exposures as u64).collect();
    let (max_m, max_l) = (msgs.iter().copied().max().unwrap_or(0), leaks.iter().copied().max().unwrap_or(0));
    let half = area.height / 2;
    let [top_l, bot_l] = Layout::vertical([Constraint::Length(half), Constraint::Min(0)]).areas(labels);
    let [top_s, bot_s] = Layout::vertical([Constraint::Length(half), Constraint::Min(0)]).areas(spark);
    Paragraph::new(format!("DNS/s   max {max_m}")).style(Style::new().fg(Color::Cyan)).render(top_l, buf);
    Paragraph::new(format!("leaks/s max {max_l}")).style(Style::new().fg(Color::Red)).render(bot_l, buf);
    Sparkline::default().data(&msgs).max(max_m.max(1)).style(Style::new().fg(Color::Cyan)).render(top_s, buf);
    Sparkline::default().data(&leaks).max(max_l.max(1)).style(Style::new().fg(Color::Red)).render(bot_s, buf);
}

fn render_counters(model: &Model, area: Rect, buf: &mut Buffer) {
    use dnsleak_core::FrameClass;
    let c = &model.counters;
    let s = &c.core;
    let dns = s.events_of(EventKind::Query) + s.events_of(EventKind::Response);
    let unparsed = s.events_of(EventKind::Malformed)
        + s.frames_in(FrameClass::Undecodable)
        + s.frames_in(FrameClass::Unsupported);
    let pipeline: u64 = c.capture.iter().map(|x| x.dropped_pipeline).sum();
    let kernel: u64 = c.capture.iter().map(|x| x.dropped_kernel + x.dropped_iface).sum();
    let drop_style = if pipeline + kernel > 0 {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    };
    // Encrypted flows by carrier; QUIC connections judged without their ClientHello, and
    // flow records dropped at the table's cap.
    let mut detail = flows_by_carrier(s);
    if s.quic_given_up + s.encrypted_flows_evicted > 0 {
        let sep = if detail.is_empty() { "" } else { "; " };
        detail =
            format!("{detail}{sep}QUIC unread {}, evicted {}", s.quic_given_up, s.encrypted_flows_evicted);
    }
    let detail = if detail.is_empty() { detail } else { format!(" ({detail})") };
    let mut spans = vec![
        Span::raw(format!(
            "packets {} · DNS {dns} · encrypted {}{detail} · unparsed {unparsed} · ",
            s.frames,
            s.events_of(EventKind::Encrypted)
        )),
        Span::styled(format!("dropped: pipeline {pipeline}, kernel {kernel}"), drop_style),
    ];
    // What the bounded tables dropped (issue #13): never judged in red, judged as a count.
    let (unjudged, evicted) = (s.unjudged(), s.evicted_judged());
    if unjudged + evicted > 0 {
        let style =
            if unjudged > 0 { drop_style.fg(Color::Red).add_modifier(Modifier::BOLD) } else { drop_style };
        spans.push(Span::styled(format!(", tables: unjudged {unjudged}, evicted {evicted}"), style));
    }
    // Programs: the method in use and how much it named.
    if let Some(p) = &s.processes {
        let method = c.processes.as_ref().map_or("recorded", |x| x.method);
        spans.push(Span::raw(format!(" · {}", text::coverage(method, p))));
    }
    // What the capture side said (an interface it cannot open): counted, the latest shown.
    if let Some(last) = model.diagnostics.back() {
        let text = format!(" · warnings {}: {}", model.diagnostics_seen, escape(last));
        spans.push(Span::styled(text, Style::new().fg(Color::Yellow)));
    }
    Line::from(spans).render(area, buf);
}

fn render_keys(area: Rect, buf: &mut Buffer) {
    Line::from("q quit ? help Enter detail Tab pane r resolvers / name v verdict p pause c clear")
        .style(Style::new().fg(Color::DarkGray))
        .render(area, buf);
}

fn render_help(area: Rect, buf: &mut Buffer) {
    let lines = [
        "q, Ctrl-C     quit",
        "↑ ↓, j k      move the selection",
        "PgUp PgDn     a page up / down (scrolls a detail)",
        "g G           newest (follow) / oldest",
        "Enter         details of the selected event",
        "Esc           back (close detail, clear the name)",
        "Tab           next pane: events, resolvers, interfaces",
        "/             filter by name (Enter keeps, Esc cancels)",
        "v             verdicts: all, leak+bypass, tunnel, ...",
        "p             pause the list (counting goes on)",
        "c             clear the event list and the chart",
        "r             resolvers: configured vs seen, per interface",
        "?             this help",
        "",
        "k column: Q query, R response, E encrypted flow,",
        "          M malformed, N notice",
        "verdicts: tunnel, LEAK, BYPASS, local, multicast",
    ];
    let w = 60.min(area.width);
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = Rect::new(area.x + (area.width - w) / 2, area.y + (area.height - h) / 2, w, h);
    Clear.render(r, buf);
    let block =
        Block::bordered().title(" Help (? or Esc to close) ").border_style(Style::new().fg(Color::Cyan));
    Paragraph::new(lines.iter().map(|l| Line::from(*l)).collect::<Vec<_>>()).block(block).render(r, buf);
}

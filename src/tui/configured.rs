//! The view "resolvers: configured vs seen" (`r`): per interface, the DNS servers the system is
//! configured with (resolv.conf, systemd-resolved's links, NetworkManager's entries, as the
//! monitor read them) beside the resolvers its messages were seen going to. A resolver seen
//! that no configuration names is marked: the signature of a program with its own resolver.
//! Names from the OS and the wire are escaped.

use std::net::IpAddr;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::app::{App, Source};
use super::model::Model;
use super::view::pane_block;
use crate::output::escape::escape;
use crate::output::report::ResolverRow;
use dnsleak_core::{IfaceKind, ResolverConfig, Verdict};

/// The label of servers configured for no interface in particular.
const GLOBAL: &str = "(all interfaces)";

pub(super) fn render(app: &App, model: &Model, area: Rect, buf: &mut Buffer) {
    let block = pane_block(" Resolvers: configured vs seen (r or Esc back) ".into(), true);
    Paragraph::new(lines(app, model)).block(block).wrap(Wrap { trim: false }).render(area, buf);
}

fn label(name: &str) -> Span<'static> {
    Span::styled(format!("  {name:<11}"), Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD))
}

/// The lines of the view.
pub fn lines(app: &App, model: &Model) -> Vec<Line<'static>> {
    let config = model.configured.as_deref();
    let mut out = vec![header(app, config)];
    if let Some(c) = config {
        for u in &c.unread {
            out.push(Line::styled(
                format!("not read: {}: {}", u.source.as_str(), escape(&u.why)),
                Style::new().fg(Color::Yellow),
            ));
        }
    }
    let servers = config.map(ResolverConfig::servers).unwrap_or_default();
    // Interfaces: the configuration's global servers first, then the interfaces known, then
    // any other interface the configuration or the messages name.
    let mut names: Vec<(String, Option<IfaceKind>)> = Vec::new();
    let mut add = |name: &str, kind: Option<IfaceKind>| {
        if !names.iter().any(|(n, _)| n == name) {
            names.push((name.to_string(), kind));
        }
    };
    if servers.iter().any(|(i, _)| i.is_none()) {
        add(GLOBAL, None);
    }
    model.tables.interfaces().iter().filter(|i| i.present).for_each(|i| add(&i.name, i.kind));
    servers.iter().filter_map(|(i, _)| i.as_deref()).for_each(|i| add(i, None));
    model.tables.resolver_rows().iter().for_each(|r| add(&r.iface, None));
    for (name, kind) in &names {
        let iface = (name != GLOBAL).then_some(name.as_str());
        let configured: Vec<IpAddr> =
            servers.iter().filter(|(i, _)| i.as_deref() == iface).map(|(_, a)| *a).collect();
        let seen: Vec<&ResolverRow> =
            model.tables.resolver_rows().iter().filter(|r| Some(&*r.iface) == iface).collect();
        if configured.is_empty() && seen.is_empty() {
            continue;
        }
        let kind = kind.map(|k| format!(" ({})", k.as_str())).unwrap_or_default();
        let title = if iface.is_some() { escape(name).into_owned() } else { name.clone() };
        out.push(Line::styled(format!("{title}{kind}"), Style::new().add_modifier(Modifier::BOLD)));
        out.push(configured_line(config, &configured));
        out.push(seen_line(config, &seen));
    }
    if out.len() == 1 {
        out.push(Line::styled("No resolver configured or seen yet.", Style::new().fg(Color::DarkGray)));
    }
    out
}

/// Who manages DNS, or why nothing is known.
fn header(app: &App, config: Option<&ResolverConfig>) -> Line<'static> {
    match (config, &app.source) {
        (Some(c), _) if c.is_known() => Line::from(format!("DNS managed by {}", c.manager())),
        (Some(_), _) => {
            Line::styled("The resolver configuration could not be read:", Style::new().fg(Color::Yellow))
        }
        (None, Source::Replay { .. }) => Line::styled(
            "Configured: not known (a capture file does not record the system's resolver configuration).",
            Style::new().fg(Color::DarkGray),
        ),
        (None, Source::Live { .. }) => {
            Line::styled("Configured: not read yet.", Style::new().fg(Color::DarkGray))
        }
    }
}

fn configured_line(config: Option<&ResolverConfig>, servers: &[IpAddr]) -> Line<'static> {
    let text = match (config, servers) {
        (None, _) => "unknown".to_string(),
        (Some(_), []) => "none".to_string(),
        (Some(_), s) => s.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", "),
    };
    Line::from(vec![label("configured"), Span::raw(text)])
}

/// The resolvers seen from one interface: address, transport, messages, leaks; marked when no
/// configuration names them.
fn seen_line(config: Option<&ResolverConfig>, seen: &[&ResolverRow]) -> Line<'static> {
    let mut spans = vec![label("seen")];
    if seen.is_empty() {
        spans.push(Span::raw("none"));
    }
    for (i, r) in seen.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" · "));
        }
        let leaked = match r.exposures() {
            0 => String::new(),
            n => format!(", {n} leaked"),
        };
        let style = if r.exposures() > 0 { Style::new().fg(Color::Red) } else { Style::new() };
        spans.push(Span::styled(
            format!("{} {} ({} out, {} back{leaked})", r.addr, r.transport.as_str(), r.queries, r.responses),
            style,
        ));
        // mDNS and LLMNR go to multicast groups no configuration names.
        let multicast = r.verdict() == Some(Verdict::Multicast);
        if !multicast && config.and_then(|c| c.configured(&r.addr)) == Some(false) {
            spans.push(Span::styled(
                " NOT CONFIGURED (a program's own resolver?)",
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ));
        }
    }
    Line::from(spans)
}

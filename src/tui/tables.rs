//! The resolver and interface panes of the dashboard: `output::report`'s rows (the summary's
//! aggregation), drawn as tables with the selection kept in view.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Cell, Row as TRow, Table, Widget};

use super::app::{App, Pane};
use super::model::Model;
use super::text;
use super::view::{pane_block, verdict_look};
use crate::output::escape::escape;
use dnsleak_core::IfaceKind;

pub(super) fn render_resolvers(app: &App, model: &Model, area: Rect, buf: &mut Buffer) {
    let more = match model.tables.resolvers_overflow {
        0 => String::new(),
        n => format!(", {n} messages to resolvers beyond the table"),
    };
    let title = format!(" Resolvers ({}{more}) ", model.tables.resolver_rows().len());
    let block = pane_block(title, app.pane == Pane::Resolvers);
    let mut order: Vec<_> = model.tables.resolver_rows().iter().collect();
    order.sort_by(|a, b| b.exposures().cmp(&a.exposures()).then(b.queries.cmp(&a.queries)));
    let sel = app.resolver_sel.min(order.len().saturating_sub(1));
    let rows_fit = block.inner(area).height.saturating_sub(1) as usize;
    let skip = (sel + 1).saturating_sub(rows_fit.max(1));
    let rows = order.iter().enumerate().skip(skip).take(rows_fit).map(|(i, r)| {
        let (verdict, vstyle) = verdict_look(r.last_verdict);
        let leaks_style = if r.exposures() > 0 {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        let mut style = Style::new();
        if i == sel && app.pane == Pane::Resolvers {
            style = style.add_modifier(Modifier::REVERSED);
        }
        TRow::new(vec![
            Cell::from(r.addr.to_string()),
            Cell::from(escape(&r.iface).into_owned()),
            Cell::from(r.transport.as_str()),
            Cell::from(r.queries.to_string()),
            Cell::from(r.exposures().to_string()).style(leaks_style),
            Cell::from(r.median_rtt_ns().map(text::rtt).unwrap_or_else(|| "-".into())),
            Cell::from(verdict).style(vstyle),
            Cell::from(r.provider.unwrap_or("")),
        ])
        .style(style)
    });
    use Constraint::{Length, Min};
    let widths = [Min(15), Length(8), Length(5), Length(7), Length(6), Length(8), Length(9), Length(10)];
    let header = TRow::new(["resolver", "iface", "via", "queries", "leaks", "median", "verdict", "provider"])
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    Table::new(rows, widths).header(header).block(block).column_spacing(1).render(area, buf);
}

pub(super) fn render_ifaces(app: &App, model: &Model, area: Rect, buf: &mut Buffer) {
    let ifaces = model.tables.interfaces();
    let block = pane_block(format!(" Interfaces ({}) ", ifaces.len()), app.pane == Pane::Interfaces);
    let sel = app.iface_sel.min(ifaces.len().saturating_sub(1));
    let rows_fit = block.inner(area).height.saturating_sub(1) as usize;
    let skip = (sel + 1).saturating_sub(rows_fit.max(1));
    let rows = ifaces.iter().enumerate().skip(skip).take(rows_fit).map(|(i, r)| {
        let (state, sstyle) = match (r.present, r.up) {
            (false, _) => ("gone", Style::new().fg(Color::DarkGray)),
            (true, true) => ("up", Style::new().fg(Color::Green)),
            (true, false) => ("DOWN", Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)),
        };
        let leaks_style = if r.exposures > 0 {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        let mut style = Style::new();
        if i == sel && app.pane == Pane::Interfaces {
            style = style.add_modifier(Modifier::REVERSED);
        }
        TRow::new(vec![
            Cell::from(escape(&r.name).into_owned()),
            Cell::from(r.kind.unwrap_or(IfaceKind::Other).as_str()),
            Cell::from(state).style(sstyle),
            Cell::from(r.packets.map(|p| p.to_string()).unwrap_or_else(|| "-".into())),
            Cell::from(r.messages().to_string()),
            Cell::from(r.exposures.to_string()).style(leaks_style),
        ])
        .style(style)
    });
    use Constraint::{Length, Min};
    let widths = [Min(8), Length(8), Length(5), Length(9), Length(7), Length(6)];
    let header = TRow::new(["interface", "kind", "state", "packets", "DNS", "leaks"])
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    Table::new(rows, widths).header(header).block(block).column_spacing(1).render(area, buf);
}

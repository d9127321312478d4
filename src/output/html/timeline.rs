//! Geometry of the two charts over time: the per-interface timeline (tunnel bands, traffic,
//! leak and bypass marks, labelled notices) and DNS messages per verdict (one row per verdict,
//! each on its own scale, so ten leaks show beside a million tunnelled messages).

use dnsleak_core::{IfaceKind, Ts, Verdict};

use super::bins::{rebin, Nanos};
use super::chart::{clip, clock, count, px, Rect, Scale, Tick, CHART_W};
use super::data::{Lane, ReportData, LANE_ALL, LANE_BYPASS, LANE_LEAK};
use crate::output::escape::escape;

const PLOT_X0: f64 = 170.0;
const PLOT_X1: f64 = 985.0;
const LANE_H: f64 = 38.0;
const LANE_GAP: f64 = 6.0;
const LABEL_ROWS: usize = 3;
const LABEL_ROW_H: f64 = 15.0;
/// Above this many notices the timeline shows markers only (the table lists them all).
const MAX_LABELLED: usize = 40;
/// Above this many marks, counts are left to the tooltips.
const MAX_COUNTED_MARKS: usize = 20;

/// The timeline, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub height: f32,
    pub plot_x0: f32,
    pub plot_x1: f32,
    /// Top of the lanes and bottom of the last one (notice lines span them).
    pub lanes_top: f32,
    pub lanes_bottom: f32,
    pub axis_y: f32,
    pub ticks: Vec<Tick>,
    pub lanes: Vec<LaneView>,
    pub notices: Vec<NoticeMark>,
    /// "each column is 20 ms"
    pub resolution: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LaneView {
    pub y: f32,
    pub h: f32,
    pub label: String,
    pub full: String,
    pub sub: String,
    pub bands: Vec<Rect>,
    pub hist: Vec<Rect>,
    pub marks: Vec<Mark>,
}

/// A leak (circle) or bypass (diamond) mark; `r` grows with the count in its bin.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub x: f32,
    pub y: f32,
    pub r: f32,
    pub leak: bool,
    /// Bypass marks are diamonds: their outline.
    pub path: String,
    pub title: String,
    /// The count, written beside the mark (at `label_x`) when there are few marks and it is
    /// above one.
    pub label: Option<String>,
    pub label_x: f32,
}

/// A notice on the strip above the lanes.
#[derive(Debug, Clone, PartialEq)]
pub struct NoticeMark {
    pub x: f32,
    pub num: usize,
    /// `bad`, `warn`, `good` or `info`.
    pub severity: &'static str,
    /// Drawn across the lanes (tunnel down/up, kill switch failed).
    pub line: bool,
    pub title: String,
    pub label: Option<(f32, f32, String)>,
}

/// The notices in time order, numbered as the timeline and the table number them.
pub fn numbered(data: &ReportData) -> Vec<(usize, &crate::output::report::NoticeRow)> {
    let mut v: Vec<_> = data.notices.iter().collect();
    v.sort_by_key(|n| (n.ts, n.frame));
    v.into_iter().enumerate().map(|(i, n)| (i + 1, n)).collect()
}

pub fn severity(code: &str) -> &'static str {
    match code {
        "tunnel_down" | "kill_switch_failed" => "bad",
        "hijack" | "parallel_resolution" => "warn",
        "tunnel_up" => "good",
        _ => "info",
    }
}

/// The timeline of `data`, or None when nothing happened.
pub fn timeline(data: &ReportData) -> Option<Timeline> {
    let span = data.span?;
    let lanes: Vec<&Lane> = ordered_lanes(&data.lanes);
    if lanes.is_empty() {
        return None;
    }
    let scale = Scale::new(span, 80, PLOT_X0, PLOT_X1);
    let notices = numbered(data);
    // Notices are placed as if every label row were needed, then the strip shrinks to the rows
    // used.
    let full_top = 6.0 + 12.0 + LABEL_ROWS as f64 * LABEL_ROW_H + 14.0;
    let mut marks = notice_marks(&notices, &scale, full_top);
    let rows_used = marks
        .iter()
        .filter_map(|m| m.label.as_ref())
        .map(|l| ((full_top - 14.0 - f64::from(l.1)) / LABEL_ROW_H).round() as usize + 1)
        .max()
        .unwrap_or(0);
    let lanes_top = if notices.is_empty() { 6.0 } else { 6.0 + 12.0 + rows_used as f64 * LABEL_ROW_H + 14.0 };
    for l in marks.iter_mut().filter_map(|m| m.label.as_mut()) {
        l.1 = px(f64::from(l.1) - (full_top - lanes_top));
    }
    let marks_total: usize = lanes
        .iter()
        .map(|l| rebin(l.bins.iter().copied(), scale.t0, scale.width, scale.count))
        .map(|b| b.iter().filter(|c| c[LANE_LEAK] + c[LANE_BYPASS] > 0).count())
        .sum();
    let views: Vec<LaneView> = lanes
        .iter()
        .enumerate()
        .map(|(i, l)| lane_view(l, &scale, lanes_top + i as f64 * (LANE_H + LANE_GAP), span, marks_total))
        .collect();
    let lanes_bottom = lanes_top + views.len() as f64 * (LANE_H + LANE_GAP) - LANE_GAP;
    Some(Timeline {
        height: px(lanes_bottom + 30.0),
        plot_x0: px(PLOT_X0),
        plot_x1: px(PLOT_X1),
        lanes_top: px(lanes_top),
        lanes_bottom: px(lanes_bottom),
        axis_y: px(lanes_bottom + 20.0),
        ticks: scale.ticks(8),
        lanes: views,
        notices: marks,
        resolution: format!("each column is {}", duration(scale.width)),
    })
}

/// Tunnels first, then physical interfaces, others, loopback; in order of appearance within.
fn ordered_lanes(lanes: &[Lane]) -> Vec<&Lane> {
    let rank = |k: Option<IfaceKind>| match k {
        Some(IfaceKind::Tunnel) => 0,
        Some(IfaceKind::Physical) => 1,
        None | Some(IfaceKind::Other) => 2,
        Some(IfaceKind::Loopback) => 3,
    };
    let mut v: Vec<&Lane> = lanes.iter().collect();
    v.sort_by_key(|l| rank(l.kind));
    v
}

fn lane_view(l: &Lane, scale: &Scale, y: f64, span: (Ts, Ts), marks_total: usize) -> LaneView {
    let name = escape(&l.name).into_owned();
    let bins = rebin(l.bins.iter().copied(), scale.t0, scale.width, scale.count);
    let top = bins.iter().map(|c| c[LANE_ALL]).max().unwrap_or(0);
    let top_exposed = bins.iter().map(|c| c[LANE_LEAK].max(c[LANE_BYPASS])).max().unwrap_or(0).max(1);
    let total: u64 = bins.iter().map(|c| c[LANE_ALL]).sum();
    let exposed: u64 = bins.iter().map(|c| c[LANE_LEAK] + c[LANE_BYPASS]).sum();
    let bw = scale.bin_px();
    let mut hist = Vec::new();
    let mut marks = Vec::new();
    for (i, c) in bins.iter().enumerate().filter(|(_, c)| c[LANE_ALL] > 0) {
        let x = scale.x0 + i as f64 * bw;
        let h = (LANE_H - 8.0) * ((1.0 + c[LANE_ALL] as f64).ln() / (1.0 + top as f64).ln()).max(0.12);
        let title =
            format!("{} on {name}: {} DNS messages and flows", scale.bin_label(i), count(c[LANE_ALL]));
        hist.push(Rect::new(x, y + LANE_H - h, (bw - 0.6).max(0.8), h, "hist", title));
        for (k, leak, dy) in [(LANE_LEAK, true, 12.0), (LANE_BYPASS, false, 26.0)] {
            let n = c[k];
            if n == 0 {
                continue;
            }
            let what = if leak { "leaked" } else { "bypassed the tunnel" };
            let (cx, cy) = (x + bw / 2.0, y + dy);
            let r = 3.5 + 4.0 * (n as f64 / top_exposed as f64).sqrt();
            let d = r * 1.3;
            marks.push(Mark {
                x: px(cx),
                y: px(cy),
                r: px(r),
                leak,
                path: format!(
                    "M{} {}L{} {}L{} {}L{} {}Z",
                    px(cx),
                    px(cy - d),
                    px(cx + d),
                    px(cy),
                    px(cx),
                    px(cy + d),
                    px(cx - d),
                    px(cy)
                ),
                title: format!("{}: {} {what}", scale.bin_label(i), count(n)),
                label: (n > 1 && marks_total <= MAX_COUNTED_MARKS).then(|| count(n)),
                label_x: px(cx + d + 2.0),
            });
        }
    }
    let kind = l.kind.map_or("interface", IfaceKind::as_str);
    let sub = if exposed > 0 {
        format!("{kind} · {} exposed", count(exposed))
    } else {
        format!("{kind} · {} DNS", count(total))
    };
    LaneView {
        y: px(y),
        h: px(LANE_H),
        label: clip(&name, 20),
        full: name.clone(),
        sub,
        bands: bands(l, scale, y, span, &name),
        hist,
        marks,
    }
}

/// Up (green) and down (hatched red) bands of a tunnel, each from its change to the next (in
/// order of arrival: the files of a replay may overlap in time); where the state is not known
/// (before the interfaces were seen, between files) only the neutral track shows, as it does
/// for every other lane.
fn bands(l: &Lane, scale: &Scale, y: f64, span: (Ts, Ts), name: &str) -> Vec<Rect> {
    let mut out = vec![Rect::new(PLOT_X0, y, PLOT_X1 - PLOT_X0, LANE_H, "track", name.to_string())];
    if l.kind != Some(IfaceKind::Tunnel) {
        return out;
    }
    let end = scale.end();
    for (i, (t, state)) in l.changes.iter().enumerate() {
        let Some(up) = state else { continue };
        // From the first event on is from the chart's left edge; to the last, to its right.
        let from = if *t <= span.0 { scale.t0.min(t.0) } else { t.0 };
        let to = match l.changes.get(i + 1) {
            Some((next, _)) if *next < span.1 => next.0,
            _ => end,
        };
        if to <= from {
            continue;
        }
        let (x0, x1) = (scale.x(from), scale.x(to));
        let (class, word) = if *up { ("band-up", "up") } else { ("band-down", "DOWN") };
        let title =
            format!("tunnel {name} {word} from {} to {}", at(from.max(span.0 .0)), at(to.min(span.1 .0)));
        out.push(Rect::new(x0, y, (x1 - x0).max(1.0), LANE_H, class, title));
    }
    out
}

fn at(t: Nanos) -> String {
    format!("{} UTC", clock(t, 1))
}

fn notice_marks(
    notices: &[(usize, &crate::output::report::NoticeRow)],
    scale: &Scale,
    lanes_top: f64,
) -> Vec<NoticeMark> {
    let labelled = notices.len() <= MAX_LABELLED;
    let mut row_end = [f64::MIN; LABEL_ROWS];
    notices
        .iter()
        .map(|(num, n)| {
            let x = scale.x(n.ts.0);
            let severity = severity(n.code);
            let text = format!("{num} {}", n.code.replace('_', " "));
            let label = labelled.then(|| place(&mut row_end, x, &text, lanes_top)).flatten();
            NoticeMark {
                x: px(x),
                num: *num,
                severity,
                line: matches!(n.code, "tunnel_down" | "tunnel_up" | "kill_switch_failed") && labelled,
                title: format!("{num}. {}: {}", at(n.ts.0), clip(&escape(&n.text), 160)),
                label: label.map(|(lx, ly)| (px(lx), px(ly), text)),
            }
        })
        .collect()
}

/// The first label row (nearest the markers first) where `text` fits beside `x` without
/// overlapping, if any.
fn place(row_end: &mut [f64; LABEL_ROWS], x: f64, text: &str, lanes_top: f64) -> Option<(f64, f64)> {
    let w = text.chars().count() as f64 * 6.4 + 6.0;
    let lx = (x + 3.0).min(PLOT_X1 - w).max(PLOT_X0 - 60.0);
    let row = row_end.iter().position(|end| lx >= *end + 6.0)?;
    row_end[row] = lx + w;
    Some((lx, lanes_top - 14.0 - row as f64 * LABEL_ROW_H))
}

/// "20 ms", "5 s", "10 min", "2 h", "1 day".
pub fn duration(ns: Nanos) -> String {
    match ns {
        n if n < 1_000_000 => format!("{} µs", n / 1000),
        n if n < 1_000_000_000 => format!("{} ms", n / 1_000_000),
        n if n < 60_000_000_000 => format!("{} s", n / 1_000_000_000),
        n if n < 3_600_000_000_000 => format!("{} min", n / 60_000_000_000),
        n if n < 86_400_000_000_000 => format!("{} h", n / 3_600_000_000_000),
        n => format!("{} days", n / 86_400_000_000_000),
    }
}

/// DNS messages per verdict over time: one row per verdict that occurred.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictChart {
    pub height: f32,
    pub plot_x0: f32,
    pub plot_x1: f32,
    pub axis_y: f32,
    pub ticks: Vec<Tick>,
    pub rows: Vec<VerdictRow>,
    pub resolution: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VerdictRow {
    pub y: f32,
    pub h: f32,
    pub verdict: &'static str,
    pub total: String,
    /// "max 14 per 20 ms"
    pub max: String,
    pub bars: Vec<Rect>,
}

const ROW_H: f64 = 44.0;
const ROW_GAP: f64 = 10.0;
/// Leaks and bypasses first: they are what the reader looks for.
const ROW_ORDER: [Verdict; 5] =
    [Verdict::Leak, Verdict::Bypass, Verdict::Tunnel, Verdict::Local, Verdict::Multicast];

pub fn verdict_chart(data: &ReportData) -> Option<VerdictChart> {
    let span = data.span?;
    let scale = Scale::new(span, 120, PLOT_X0, PLOT_X1);
    let bins = rebin(data.over_time.iter().copied(), scale.t0, scale.width, scale.count);
    let bw = scale.bin_px();
    let gap = if bw > 4.0 { 1.0 } else { 0.0 };
    let mut rows = Vec::new();
    for v in ROW_ORDER {
        let k = v as usize;
        let total: u64 = bins.iter().map(|c| c[k]).sum();
        if total == 0 {
            continue;
        }
        let top = bins.iter().map(|c| c[k]).max().unwrap_or(1).max(1);
        let y = 8.0 + rows.len() as f64 * (ROW_H + ROW_GAP);
        let bars = bins
            .iter()
            .enumerate()
            .filter(|(_, c)| c[k] > 0)
            .map(|(i, c)| {
                let h = ((ROW_H - 13.0) * c[k] as f64 / top as f64).max(2.0);
                let title = format!("{}: {} {}", scale.bin_label(i), count(c[k]), v.as_str());
                Rect::new(scale.x0 + i as f64 * bw, y + ROW_H - h, (bw - gap).max(0.8), h, "", title)
            })
            .collect();
        rows.push(VerdictRow {
            y: px(y),
            h: px(ROW_H),
            verdict: v.as_str(),
            total: count(total),
            max: format!("max {} per {}", count(top), duration(scale.width)),
            bars,
        });
    }
    if rows.is_empty() {
        return None;
    }
    let bottom = 8.0 + rows.len() as f64 * (ROW_H + ROW_GAP) - ROW_GAP;
    Some(VerdictChart {
        height: px(bottom + 30.0),
        plot_x0: px(PLOT_X0),
        plot_x1: px(PLOT_X1),
        axis_y: px(bottom + 20.0),
        ticks: scale.ticks(8),
        rows,
        resolution: format!("each bar is {}", duration(scale.width)),
    })
}

/// Width of every chart's coordinate system.
pub fn chart_width() -> f32 {
    px(CHART_W)
}

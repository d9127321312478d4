//! Chart geometry: numbers the template turns into inline SVG. Nothing here writes markup;
//! labels and tooltips are plain text that the template escapes.

use dnsleak_core::Ts;

use super::bins::Nanos;
use crate::output::time::hms;

const NS_MS: Nanos = 1_000_000;
const NS_S: Nanos = 1_000_000_000;
const NS_MIN: Nanos = 60 * NS_S;
const NS_H: Nanos = 60 * NS_MIN;
const NS_DAY: Nanos = 24 * NS_H;

/// Widths a bin or a tick step may have: round numbers of a clock.
const NICE: &[Nanos] = &[
    NS_MS / 10,
    NS_MS / 5,
    NS_MS / 2,
    NS_MS,
    2 * NS_MS,
    5 * NS_MS,
    10 * NS_MS,
    20 * NS_MS,
    50 * NS_MS,
    100 * NS_MS,
    200 * NS_MS,
    500 * NS_MS,
    NS_S,
    2 * NS_S,
    5 * NS_S,
    10 * NS_S,
    15 * NS_S,
    30 * NS_S,
    NS_MIN,
    2 * NS_MIN,
    5 * NS_MIN,
    10 * NS_MIN,
    15 * NS_MIN,
    30 * NS_MIN,
    NS_H,
    2 * NS_H,
    3 * NS_H,
    6 * NS_H,
    12 * NS_H,
    NS_DAY,
    2 * NS_DAY,
    7 * NS_DAY,
    30 * NS_DAY,
    365 * NS_DAY,
];

/// The smallest nice width that cuts `len` into at most `n` pieces (or the largest).
fn nice_at_least(len: Nanos, n: usize) -> Nanos {
    let n = n.max(1) as i64;
    NICE.iter().copied().find(|w| len / w < n).unwrap_or_else(|| (len / n).max(NICE[NICE.len() - 1]))
}

/// Rounds to a tenth of a pixel (short attributes, stable snapshots).
pub fn px(v: f64) -> f32 {
    ((v * 10.0).round() / 10.0) as f32
}

/// A time axis cut into display bins: `count` bins of `width` from `t0`, drawn from `x0` to `x1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub t0: Nanos,
    pub width: Nanos,
    pub count: usize,
    pub x0: f64,
    pub x1: f64,
}

impl Scale {
    /// At most `max_bins` bins covering `span` (at least a second), on `x0..x1`.
    pub fn new(span: (Ts, Ts), max_bins: usize, x0: f64, x1: f64) -> Scale {
        let (a, b) = (span.0 .0.min(span.1 .0), span.0 .0.max(span.1 .0));
        let len = b.saturating_sub(a).max(NS_S);
        let width = nice_at_least(len, max_bins);
        let t0 = a.div_euclid(width).saturating_mul(width);
        let count =
            (b.saturating_sub(t0) / width + 1).max(len / width).clamp(1, max_bins as i64 + 1) as usize;
        Scale { t0, width, count, x0, x1 }
    }

    pub fn end(&self) -> Nanos {
        self.t0.saturating_add(self.width.saturating_mul(self.count as i64))
    }

    /// The x of a time (clamped to the axis).
    pub fn x(&self, t: Nanos) -> f64 {
        let len = self.end().saturating_sub(self.t0).max(1) as f64;
        let f = ((t.saturating_sub(self.t0)) as f64 / len).clamp(0.0, 1.0);
        self.x0 + f * (self.x1 - self.x0)
    }

    /// Pixels per display bin.
    pub fn bin_px(&self) -> f64 {
        (self.x1 - self.x0) / self.count as f64
    }

    /// Start time of display bin `i`.
    pub fn bin_start(&self, i: usize) -> Nanos {
        self.t0.saturating_add(self.width.saturating_mul(i as i64))
    }

    /// Tick marks with clock labels (UTC), about `n` of them.
    pub fn ticks(&self, n: usize) -> Vec<Tick> {
        let step = nice_at_least(self.end().saturating_sub(self.t0), n).max(NS_MS);
        let mut t = self.t0.div_euclid(step).saturating_add(1).saturating_mul(step);
        if self.t0.rem_euclid(step) == 0 {
            t = self.t0;
        }
        let mut out = Vec::new();
        while t <= self.end() && out.len() < 2 * n + 2 {
            out.push(Tick { x: px(self.x(t)), label: clock(t, step) });
            t = t.saturating_add(step);
        }
        out
    }

    /// "12:00:01.200 to 12:00:01.220 UTC" for display bin `i`.
    pub fn bin_label(&self, i: usize) -> String {
        let a = self.bin_start(i);
        format!("{} to {} UTC", clock(a, self.width), clock(a.saturating_add(self.width), self.width))
    }
}

/// A tick on a time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub x: f32,
    pub label: String,
}

/// A clock time with the precision `step` needs: `HH:MM:SS.mmm`, `HH:MM:SS`, `HH:MM`, `MM-DD`.
pub fn clock(t: Nanos, step: Nanos) -> String {
    let hms = hms(Ts(t));
    if step < NS_S {
        format!("{hms}.{:03}", t.div_euclid(NS_MS).rem_euclid(1000))
    } else if step < NS_MIN {
        hms
    } else if step < NS_DAY {
        hms[..5].to_string()
    } else {
        let full = crate::output::time::full_time(Ts(t));
        full.get(5..10).unwrap_or(&full).to_string()
    }
}

/// A rectangle with a class and a tooltip.
#[derive(Debug, Clone, PartialEq)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    pub class: &'static str,
    pub title: String,
}

impl Rect {
    pub fn new(x: f64, y: f64, w: f64, h: f64, class: &'static str, title: String) -> Rect {
        Rect { x: px(x), y: px(y), w: px(w.max(0.0)), h: px(h.max(0.0)), class, title }
    }
}

/// One horizontal bar chart: a label per row, a bar in stacked segments, the value at its end.
#[derive(Debug, Clone, PartialEq)]
pub struct HBars {
    pub id: &'static str,
    pub title: String,
    /// What a segment's class means, for the legend.
    pub legend: Vec<(&'static str, &'static str)>,
    pub height: f32,
    pub rows: Vec<HBarRow>,
    /// "and 12 more resolvers" under the chart.
    pub more: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HBarRow {
    /// Baseline of the row's text.
    pub y: f32,
    pub label: String,
    /// Full label, for the tooltip (the label may be clipped).
    pub full: String,
    pub segs: Vec<Rect>,
    pub value: String,
    pub value_x: f32,
}

/// Left edge of the bars, right edge of the chart.
pub const HBAR_X0: f64 = 300.0;
const HBAR_X1: f64 = 900.0;
const HBAR_ROW: f64 = 26.0;
pub const CHART_W: f64 = 1000.0;

/// One row of input: a label, the counts of each segment (with their classes), a tooltip text.
pub struct BarInput {
    pub label: String,
    pub segs: Vec<(&'static str, u64)>,
    pub what: String,
}

/// Lays out a bar chart of `rows` (already in the order to show, at most `max`).
pub fn hbars(id: &'static str, title: String, rows: Vec<BarInput>, max: usize) -> HBars {
    let more = rows.len().saturating_sub(max);
    let rows: Vec<BarInput> = rows.into_iter().take(max).collect();
    let top = rows.iter().map(|r| r.segs.iter().map(|s| s.1).sum::<u64>()).max().unwrap_or(0).max(1);
    let scale = (HBAR_X1 - HBAR_X0) / top as f64;
    let mut out = Vec::new();
    for (i, r) in rows.into_iter().enumerate() {
        let y = 8.0 + i as f64 * HBAR_ROW;
        let mut x = HBAR_X0;
        let mut segs = Vec::new();
        for (class, n) in r.segs.iter().filter(|s| s.1 > 0) {
            let w = (*n as f64 * scale).max(2.0);
            segs.push(Rect::new(
                x,
                y,
                w,
                HBAR_ROW - 8.0,
                class,
                format!("{}: {} {}", r.label, count(*n), r.what),
            ));
            x += w;
        }
        let total: u64 = r.segs.iter().map(|s| s.1).sum();
        out.push(HBarRow {
            y: px(y + HBAR_ROW - 12.0),
            label: clip(&r.label, 40),
            full: r.label,
            segs,
            value: count(total),
            value_x: px(x + 6.0),
        });
    }
    HBars {
        id,
        title,
        legend: Vec::new(),
        height: px(16.0 + out.len() as f64 * HBAR_ROW),
        rows: out,
        more: (more > 0).then(|| format!("and {} more not drawn (see the tables)", count(more as u64))),
    }
}

/// `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Cuts `text` to `width` characters with an ellipsis.
pub fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Nanos = 1_795_557_751_000_000_000;

    #[test]
    fn short_spans_get_fine_bins_and_millisecond_ticks() {
        let s = Scale::new((Ts(T), Ts(T + 2_900 * NS_MS)), 200, 100.0, 900.0);
        assert_eq!(s.width, 20 * NS_MS);
        assert!(s.count >= 145 && s.count <= 201, "{}", s.count);
        let ticks = s.ticks(8);
        assert!(ticks.len() >= 3 && ticks.len() <= 18);
        assert!(ticks[0].label.contains('.'), "{:?}", ticks[0]);
        assert!(ticks.windows(2).all(|w| w[0].x < w[1].x));
    }

    #[test]
    fn a_day_gets_hour_ticks_and_coarse_bins() {
        let s = Scale::new((Ts(T), Ts(T + NS_DAY)), 200, 0.0, 1000.0);
        assert!(s.width >= 5 * NS_MIN && s.width <= 10 * NS_MIN, "{}", s.width);
        let ticks = s.ticks(8);
        assert!(ticks.iter().all(|t| t.label.len() == 5), "{ticks:?}");
    }

    #[test]
    fn one_instant_and_reversed_spans_still_draw() {
        let s = Scale::new((Ts(T), Ts(T)), 100, 0.0, 100.0);
        assert!(s.count >= 1 && s.end() > s.t0);
        let r = Scale::new((Ts(T + NS_S), Ts(T)), 100, 0.0, 100.0);
        assert!(r.x(T) >= 0.0 && r.x(T + NS_S) <= 100.0);
        let extreme = Scale::new((Ts(i64::MIN), Ts(i64::MAX)), 100, 0.0, 100.0);
        assert!(extreme.count <= 101);
        assert!(!extreme.ticks(8).is_empty());
    }

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn bars_scale_to_the_largest_row() {
        let rows = vec![
            BarInput { label: "a".into(), segs: vec![("leak", 10), ("bypass", 0)], what: "x".into() },
            BarInput { label: "b".into(), segs: vec![("leak", 5)], what: "x".into() },
            BarInput { label: "c".into(), segs: vec![("leak", 1)], what: "x".into() },
        ];
        let c = hbars("t", "T".into(), rows, 2);
        assert_eq!(c.rows.len(), 2);
        assert_eq!(c.rows[0].segs.len(), 1);
        assert!((c.rows[0].segs[0].w - 600.0).abs() < 0.5);
        assert!((c.rows[1].segs[0].w - 300.0).abs() < 0.5);
        assert!(c.more.is_some());
    }
}

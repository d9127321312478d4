//! Counts over capture time in a fixed number of bins whose width doubles as the span grows,
//! so a 5-second capture keeps millisecond detail and a 24-hour one still fits the same memory.
//! Events may arrive out of time order (dumpcap writes each interface's packets in batches):
//! the window extends both ways.

/// Nanoseconds of capture time (`Ts.0`).
pub type Nanos = i64;

/// Width of a bin before any doubling: 2^20 ns, about a millisecond.
const START_WIDTH: Nanos = 1 << 20;
/// Times are clamped to ±LIMIT, so that 4 bins of width 2^61 always cover every time.
const LIMIT: Nanos = 1 << 62;

/// One bin that holds something: its start, width and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bin<const N: usize> {
    pub start: Nanos,
    pub width: Nanos,
    pub counts: [u64; N],
}

/// `N` counters per bin, at most `cap` bins, each `width` nanoseconds wide (a power of two).
#[derive(Debug, Clone)]
pub struct TimeBins<const N: usize> {
    cap: usize,
    width: Nanos,
    /// Absolute index (time / width) of `bins[0]`.
    base: i64,
    /// Lowest and highest absolute index holding something, when any does.
    used: Option<(i64, i64)>,
    bins: Vec<[u64; N]>,
}

impl<const N: usize> TimeBins<N> {
    /// `cap` is at least 4.
    pub fn new(cap: usize) -> Self {
        TimeBins { cap: cap.max(4), width: START_WIDTH, base: 0, used: None, bins: Vec::new() }
    }

    /// Adds `n` to counter `k` (ignored when `k >= N`) of the bin holding `ts`.
    pub fn add(&mut self, ts: Nanos, k: usize, n: u64) {
        if k >= N {
            return;
        }
        let i = self.slot(ts);
        self.bins[i][k] += n;
    }

    /// Bins that hold something, in time order.
    pub fn iter(&self) -> impl Iterator<Item = Bin<N>> + '_ {
        let (base, width) = (self.base, self.width);
        self.bins.iter().enumerate().filter(|(_, c)| c.iter().any(|n| *n > 0)).map(move |(i, c)| Bin {
            start: (base + i as i64).saturating_mul(width),
            width,
            counts: *c,
        })
    }

    /// Current bin width in nanoseconds.
    pub fn width(&self) -> Nanos {
        self.width
    }

    /// The index into `bins` for `ts`, after widening or moving the window as needed.
    fn slot(&mut self, ts: Nanos) -> usize {
        if self.bins.is_empty() {
            self.bins = vec![[0; N]; self.cap];
        }
        // Beyond ±2^62 ns (146 years) the bins would need a width that overflows.
        let ts = ts.clamp(-LIMIT, LIMIT);
        let mut idx = ts.div_euclid(self.width);
        let Some((lo, hi)) = self.used else {
            self.base = idx;
            self.used = Some((idx, idx));
            return 0;
        };
        let (mut lo, mut hi) = (lo.min(idx), hi.max(idx));
        while (hi - lo) as u128 >= self.cap as u128 {
            self.coarsen();
            idx = ts.div_euclid(self.width);
            let (l, h) = self.used.unwrap_or((idx, idx));
            (lo, hi) = (l.min(idx), h.max(idx));
        }
        let cap = self.cap as i64;
        if idx < self.base {
            // Extending to the left: leave as much room as possible on that side.
            self.rebase(hi - cap + 1);
        } else if idx >= self.base + cap {
            self.rebase(lo);
        }
        self.used = Some((lo, hi));
        (idx - self.base) as usize
    }

    /// Doubles the width, merging pairs of bins.
    fn coarsen(&mut self) {
        let mut merged = vec![[0u64; N]; self.cap];
        let new_base = self.base.div_euclid(2);
        for (i, c) in self.bins.iter().enumerate() {
            let j = ((self.base + i as i64).div_euclid(2) - new_base) as usize;
            for (m, n) in merged[j].iter_mut().zip(c) {
                *m += n;
            }
        }
        self.bins = merged;
        self.base = new_base;
        self.width = self.width.saturating_mul(2);
        self.used = self.used.map(|(lo, hi)| (lo.div_euclid(2), hi.div_euclid(2)));
    }

    /// Moves the window so that `bins[0]` is absolute index `base`; every used bin stays inside.
    fn rebase(&mut self, base: i64) {
        let mut moved = vec![[0u64; N]; self.cap];
        for (i, c) in self.bins.iter().enumerate() {
            let j = self.base + i as i64 - base;
            if let Some(slot) = usize::try_from(j).ok().and_then(|j| moved.get_mut(j)) {
                *slot = *c;
            }
        }
        self.bins = moved;
        self.base = base;
    }
}

/// Sums `bins` into `count` display bins of `width` from `t0` (each stored bin goes where its
/// middle falls; stored bins are never wider than display bins in practice).
pub fn rebin<const N: usize>(
    bins: impl IntoIterator<Item = Bin<N>>,
    t0: Nanos,
    width: Nanos,
    count: usize,
) -> Vec<[u64; N]> {
    let mut out = vec![[0u64; N]; count];
    if count == 0 || width <= 0 {
        return out;
    }
    for b in bins {
        let mid = b.start.saturating_add(b.width / 2);
        let i = (mid.saturating_sub(t0) / width).clamp(0, count as i64 - 1) as usize;
        for (o, n) in out[i].iter_mut().zip(b.counts) {
            *o += n;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total<const N: usize>(b: &TimeBins<N>) -> u64 {
        b.iter().map(|b| b.counts.iter().sum::<u64>()).sum()
    }

    #[test]
    fn short_captures_keep_millisecond_bins() {
        let mut b = TimeBins::<2>::new(64);
        for ms in 0..50 {
            b.add(1_700_000_000_000_000_000 + ms * 1_000_000, (ms % 2) as usize, 1);
        }
        assert_eq!(b.width(), START_WIDTH);
        assert_eq!(total(&b), 50);
        assert!(b.iter().count() >= 40);
    }

    #[test]
    fn a_day_fits_the_cap_and_counts_every_event() {
        let mut b = TimeBins::<1>::new(100);
        let t0 = 1_700_000_000_000_000_000i64;
        for s in (0..86_400).step_by(7) {
            b.add(t0 + s * 1_000_000_000, 0, 1);
        }
        assert_eq!(total(&b), (0..86_400).step_by(7).count() as u64);
        assert!(b.iter().count() <= 100);
        let span = 86_400 * 1_000_000_000i64;
        assert!(b.width() * 100 >= span && b.width() * 25 <= span, "width {}", b.width());
    }

    #[test]
    fn out_of_order_times_extend_both_ways() {
        let mut b = TimeBins::<1>::new(16);
        let t0 = 5_000_000_000i64;
        for (i, dt) in [0i64, -3, 7, -9, 2, 30, -40, 100].iter().enumerate() {
            b.add(t0 + dt * 1_000_000, 0, i as u64 + 1);
        }
        assert_eq!(total(&b), 36);
        let starts: Vec<_> = b.iter().map(|x| x.start).collect();
        assert!(starts.windows(2).all(|w| w[0] < w[1]));
        let first = b.iter().next().unwrap();
        assert!(first.start <= t0 - 40_000_000 && t0 - 40_000_000 < first.start + first.width);
    }

    #[test]
    fn negative_and_extreme_times_do_not_panic() {
        let mut b = TimeBins::<1>::new(4);
        for t in [i64::MIN, -1, 0, i64::MAX, i64::MIN / 2, i64::MAX / 3] {
            b.add(t, 0, 1);
        }
        b.add(0, 7, 1);
        assert_eq!(total(&b), 6);
        assert!(b.iter().count() <= 4);
    }

    #[test]
    fn rebin_sums_into_display_bins() {
        let mut b = TimeBins::<1>::new(64);
        for ms in 0..10 {
            b.add(5_000_000 + ms * 10_000_000, 0, 1);
        }
        let out = rebin(b.iter(), 0, 50_000_000, 2);
        assert_eq!(out, vec![[5], [5]]);
    }
}

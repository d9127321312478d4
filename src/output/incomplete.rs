//! What was dropped and why, in the words every output shares (the replay summary, the
//! monitor's final summary): the core's losses (`dnsleak_core::Loss`) and the frames the
//! capture side lost. Nothing here is said when nothing was dropped (issue #13).

use dnsleak_core::Loss;

use super::escape::escape;
use crate::counters::Counters;

/// One thing dropped: how many, what and why (escaped), and whether it had been judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub count: u64,
    pub why: String,
    /// What was dropped was never judged (a leak may hide in it).
    pub unjudged: bool,
}

/// Everything dropped so far, what was never judged first; empty when nothing was.
pub fn dropped(c: &Counters) -> Vec<Dropped> {
    let mut v: Vec<Dropped> = Loss::ALL
        .iter()
        .map(|l| Dropped { count: l.count(&c.core), why: l.why().to_string(), unjudged: l.unjudged() })
        .collect();
    for cc in &c.capture {
        let iface = escape(&cc.iface);
        let frames = [
            (cc.dropped_pipeline, "dnsleak's pipeline was full (it fell behind the capture)"),
            (cc.dropped_kernel, "the kernel's capture buffer was full"),
            (cc.dropped_iface, "the interface or its driver dropped them"),
        ];
        for (count, why) in frames {
            v.push(Dropped {
                count,
                why: format!("frames on {iface} dropped unread, never judged: {why}"),
                unjudged: true,
            });
        }
    }
    v.push(Dropped {
        count: c.dropped_at_stop,
        why: "frames still waiting when the monitor stopped, never judged (it gives them a bounded time, then stops)"
            .to_string(),
        unjudged: true,
    });
    v.retain(|d| d.count > 0);
    v.sort_by_key(|d| !d.unjudged);
    v
}

/// The heading of the section that lists them.
pub const HEADING: &str = "Incomplete: what was dropped and why";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::CaptureCounters;

    #[test]
    fn nothing_dropped_says_nothing() {
        assert!(dropped(&Counters::default()).is_empty());
    }

    #[test]
    fn unjudged_losses_come_first_and_interfaces_are_escaped() {
        let mut c = Counters::default();
        c.core.pairs.evicted = 9;
        c.core.tcp.flows_evicted = 5;
        c.core.tcp.evicted_holding = 5;
        c.capture.push(CaptureCounters {
            iface: "e\u{1b}]0;x".into(),
            dropped_kernel: 3,
            ..Default::default()
        });
        let d = dropped(&c);
        let counts: Vec<(u64, bool)> = d.iter().map(|d| (d.count, d.unjudged)).collect();
        assert_eq!(counts, [(5, true), (3, true), (9, false)]);
        assert!(d[1].why.contains("frames on e\\x1b]0;x dropped unread"), "{}", d[1].why);
        assert_eq!(c.unjudged(), 8);
    }
}

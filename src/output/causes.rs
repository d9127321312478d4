//! Leaks and bypasses grouped by cause, for the summaries (replay's, the monitor's final one,
//! `check`): how many of each, the first one's evidence, and the fix once per cause. Bounded:
//! one row per cause of the closed vocabulary.

use std::fmt::Write as _;

use dnsleak_core::cause::Advice;
use dnsleak_core::{Cause, IfaceName, Judged};

use super::escape::escape;

/// Leaks and bypasses of one cause: how many, and the first one's evidence and fix (made
/// once, when the row is made).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CauseRow {
    pub cause: Cause,
    pub count: u64,
    /// The interface of the first one.
    pub iface: IfaceName,
    pub detail: String,
    pub fix: Advice,
}

/// The rows, in the order their causes were first seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CauseTally {
    rows: Vec<CauseRow>,
}

impl CauseTally {
    /// Counts one judged event (only leaks and bypasses carry a cause).
    pub fn observe(&mut self, j: &Judged) {
        let Some(c) = &j.cause else { return };
        match self.rows.iter_mut().find(|r| r.cause == c.cause) {
            Some(r) => r.count += 1,
            None => self.rows.push(CauseRow {
                cause: c.cause,
                count: 1,
                iface: j.event.iface_name.clone(),
                detail: c.detail(&j.event),
                fix: c.fix(&j.event),
            }),
        }
    }

    /// Adds the next file's tally: counts add, a cause first seen there keeps its evidence.
    pub fn merge(&mut self, other: &CauseTally) {
        for o in &other.rows {
            match self.rows.iter_mut().find(|r| r.cause == o.cause) {
                Some(r) => r.count += o.count,
                None => self.rows.push(o.clone()),
            }
        }
    }

    pub fn rows(&self) -> &[CauseRow] {
        &self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The causes seen, most frequent first.
    pub fn by_count(&self) -> Vec<&CauseRow> {
        let mut v: Vec<&CauseRow> = self.rows.iter().collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.count));
        v
    }

    /// The rows as text, each line after `lead` (most frequent first): the count, the cause
    /// and its first evidence, then the fix and its commands, escaped.
    pub fn write(&self, s: &mut String, lead: &str) {
        for r in self.by_count() {
            let _ = writeln!(s, "{lead}{:>8}  {}: {}", r.count, r.cause.as_str(), escape(&r.detail));
            let _ = writeln!(s, "{lead}{:>10}fix: {}", "", escape(&r.fix.text));
            for c in &r.fix.commands {
                let _ = writeln!(s, "{lead}{:>15}{}", "", escape(c));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsleak_core::event::{Body, Message, MessageKind, Wire};
    use dnsleak_core::{Caused, Event, Transport, Ts, Verdict, L4};

    fn leak(cause: Cause) -> Judged {
        let wire = Wire {
            proto: L4::Udp,
            transport: Transport::Dns,
            src: "192.0.2.2".parse().unwrap(),
            sport: 40000,
            dst: "192.0.2.1".parse().unwrap(),
            dport: 53,
            encap: None,
            provider: None,
        };
        let body =
            Body::Message(Message { kind: MessageKind::Query, wire, dns: None, rtt_ns: None, owner: None });
        let mut j =
            Judged::unjudged(Event { ts: Ts(0), frame: 1, iface: 0, iface_name: "eth0".into(), body });
        j.verdict = Some(Verdict::Leak);
        j.cause = Some(Caused::new(cause, None, None));
        j
    }

    /// Two leaks without a tunnel: one row, counted twice, with its evidence and fix once.
    #[test]
    fn leaks_are_grouped_by_cause_with_the_fix_once() {
        let mut t = CauseTally::default();
        t.observe(&leak(Cause::NoTunnel));
        t.observe(&leak(Cause::NoTunnel));
        t.observe(&Judged { cause: None, ..leak(Cause::NoTunnel) });
        assert_eq!(t.rows().len(), 1, "{t:?}");
        assert_eq!((t.rows()[0].cause, t.rows()[0].count), (Cause::NoTunnel, 2));
        let mut s = String::new();
        t.write(&mut s, "");
        assert_eq!(s.matches("fix:").count(), 1, "{s}");
        assert!(s.contains("no_tunnel: no tunnel interface has been seen; eth0"), "{s}");
    }

    /// The next file's tally adds to the first: counts add, new causes keep first-seen order.
    #[test]
    fn merged_tallies_add_up_as_one_would() {
        let (mut a, mut b, mut one) = (CauseTally::default(), CauseTally::default(), CauseTally::default());
        a.observe(&leak(Cause::NoTunnel));
        b.observe(&leak(Cause::LanResolver));
        b.observe(&leak(Cause::NoTunnel));
        for c in [Cause::NoTunnel, Cause::LanResolver, Cause::NoTunnel] {
            one.observe(&leak(c));
        }
        a.merge(&b);
        assert_eq!(a, one);
    }
}

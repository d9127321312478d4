//! Which programs leaked: leaked queries and bypassing flows grouped by the program behind
//! them (the one a stub asked for, when a stub forwarded it), for the summaries, `check` and
//! the dashboard; and the words every text output uses for a message's program. Names and
//! paths are text a local user chose: everything here goes through `escape`.

use std::fmt::Write as _;

use smol_str::SmolStr;

use super::escape::escape;
use dnsleak_core::{Attribution, EventKind, Judged, Owner, Process, ProcessStats, Verdict};

/// Programs kept; more are counted in `overflow`.
pub const MAX_PROGRAMS: usize = 256;
/// Programs named in the one-line form before "+N more".
const LINE_PROGRAMS: usize = 8;

/// One program's exposures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramRow {
    pub pid: u32,
    pub name: SmolStr,
    pub exe: Option<SmolStr>,
    /// The stub that forwarded its queries (the latest seen), when one did.
    pub via: Option<SmolStr>,
    /// Leaked queries and bypassing flows.
    pub exposures: u64,
}

/// Exposures by program: bounded, in the order first seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Programs {
    rows: Vec<ProgramRow>,
    /// Exposures of programs beyond `MAX_PROGRAMS`.
    pub overflow: u64,
    /// Exposures from this host whose program is not known.
    pub unattributed: u64,
    /// Exposures of traffic that did not start on this host.
    pub not_from_host: u64,
}

impl Programs {
    /// Counts a leaked query or a bypassing flow that carries its program (anything else,
    /// and everything when attribution does not run, is left alone).
    pub fn observe(&mut self, j: &Judged) {
        let counted = matches!(
            (j.event.kind(), j.verdict),
            (EventKind::Query, Some(Verdict::Leak)) | (EventKind::Encrypted, Some(Verdict::Bypass))
        );
        let Some(owner) = j.event.owner().filter(|_| counted) else { return };
        let Some(p) = owner.program() else {
            match owner.process {
                Attribution::NotFromThisHost => self.not_from_host += 1,
                _ => self.unattributed += 1,
            }
            return;
        };
        let via = owner.on_behalf_of.as_ref().and_then(|_| owner.process.process()).map(|s| s.name.clone());
        // Few programs leak: a scan of the rows (newest first) is enough.
        if let Some(row) = self.rows.iter_mut().rev().find(|r| r.pid == p.pid && r.name == p.name) {
            row.exposures += 1;
            row.via = via.or(row.via.take());
            return;
        }
        if self.rows.len() >= MAX_PROGRAMS {
            self.overflow += 1;
            return;
        }
        self.rows.push(ProgramRow {
            pid: p.pid,
            name: p.name.clone(),
            exe: p.exe.clone(),
            via,
            exposures: 1,
        });
    }

    /// Adds the next file's table (`replay -j`): rows in first-seen order, counts added.
    pub fn merge(&mut self, other: &Programs) {
        for r in &other.rows {
            if let Some(row) = self.rows.iter_mut().find(|x| x.pid == r.pid && x.name == r.name) {
                row.exposures += r.exposures;
                row.via = r.via.clone().or(row.via.take());
            } else if self.rows.len() < MAX_PROGRAMS {
                self.rows.push(r.clone());
            } else {
                self.overflow += r.exposures;
            }
        }
        self.overflow += other.overflow;
        self.unattributed += other.unattributed;
        self.not_from_host += other.not_from_host;
    }

    /// Programs, most exposures first.
    pub fn rows(&self) -> Vec<&ProgramRow> {
        let mut v: Vec<&ProgramRow> = self.rows.iter().collect();
        v.sort_by(|a, b| b.exposures.cmp(&a.exposures).then(a.name.cmp(&b.name)).then(a.pid.cmp(&b.pid)));
        v
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.overflow + self.unattributed + self.not_from_host == 0
    }

    /// "dig (pid 4242) 3, firefox (pid 1200, via dnsmasq) 17, unknown program 2", or `None`
    /// when nothing was counted.
    pub fn line(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let rows = self.rows();
        let mut parts: Vec<String> = rows
            .iter()
            .take(LINE_PROGRAMS)
            .map(|r| {
                let via = r.via.as_deref().map(|v| format!(", via {}", escape(v))).unwrap_or_default();
                format!("{} (pid {}{via}) {}", escape(&r.name), r.pid, r.exposures)
            })
            .collect();
        let more: u64 = rows.iter().skip(LINE_PROGRAMS).map(|r| r.exposures).sum::<u64>() + self.overflow;
        if more > 0 {
            parts.push(format!("other programs {more}"));
        }
        if self.unattributed > 0 {
            parts.push(format!("unknown program {}", self.unattributed));
        }
        if self.not_from_host > 0 {
            parts.push(format!("not from this host {}", self.not_from_host));
        }
        Some(parts.join(", "))
    }
}

/// "dig (pid 4242)", escaped.
pub fn label(p: &Process) -> String {
    format!("{} (pid {})", escape(&p.name), p.pid)
}

/// A message's program in a few words: "dig (pid 4242)", "dnsmasq (pid 77) for dig (pid
/// 4242)", "unknown program", "not from this host".
pub fn owner_text(o: &Owner) -> String {
    let mut s = match &o.process {
        Attribution::Process(p) => label(p),
        Attribution::NotFromThisHost => "not from this host".to_string(),
        Attribution::Unknown => "unknown program".to_string(),
    };
    if let Some(p) = &o.on_behalf_of {
        let _ = write!(s, " for {}", label(p));
    }
    s
}

/// How much was attributed: "120 of 125 outgoing messages named, 3 unknown, 2 not from this
/// host" (`None` before any outgoing message).
pub fn coverage(s: &ProcessStats) -> Option<String> {
    if s.outgoing() == 0 {
        return None;
    }
    let mut t = format!("{} of {} outgoing messages named", s.attributed, s.outgoing());
    if s.unattributed > 0 {
        let _ = write!(t, ", {} unknown", s.unattributed);
    }
    if s.not_from_host > 0 {
        let _ = write!(t, ", {} not from this host", s.not_from_host);
    }
    if s.on_behalf_of > 0 {
        let _ = write!(t, ", {} forwarded for a program by a local stub", s.on_behalf_of);
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use dnsleak_core::event::{Body, Flow, Wire};
    use dnsleak_core::verdict::Reason;
    use dnsleak_core::{Event, Transport, Ts, L4};

    fn process(pid: u32, name: &str) -> Process {
        Process { pid, name: name.into(), exe: None, uid: None }
    }

    fn flow(owner: Owner, verdict: Verdict) -> Judged {
        let a = "192.0.2.1".parse().unwrap();
        let wire = Wire {
            proto: L4::Tcp,
            transport: Transport::Dot,
            src: a,
            sport: 1,
            dst: a,
            dport: 853,
            encap: None,
            provider: None,
        };
        let body = Body::Flow(Flow { wire, sni: None, owner: Some(Arc::new(owner)) });
        let event = Event { ts: Ts(0), frame: 1, iface: 0, iface_name: "eth0".into(), body };
        Judged { event, verdict: Some(verdict), reason: Reason::Notice, cause: None }
    }

    fn by(p: Process) -> Owner {
        Owner { process: Attribution::Process(p), on_behalf_of: None }
    }

    #[test]
    fn exposures_are_grouped_by_program_most_first() {
        let mut t = Programs::default();
        for _ in 0..3 {
            t.observe(&flow(by(process(4242, "dig")), Verdict::Bypass));
        }
        let forwarded = Owner {
            process: Attribution::Process(process(77, "dnsmasq")),
            on_behalf_of: Some(process(1200, "firefox")),
        };
        for _ in 0..5 {
            t.observe(&flow(forwarded.clone(), Verdict::Bypass));
        }
        t.observe(&flow(Owner { process: Attribution::Unknown, on_behalf_of: None }, Verdict::Bypass));
        t.observe(&flow(
            Owner { process: Attribution::NotFromThisHost, on_behalf_of: None },
            Verdict::Bypass,
        ));
        // Not an exposure: not counted.
        t.observe(&flow(by(process(1, "init")), Verdict::Tunnel));
        assert_eq!(
            t.line().unwrap(),
            "firefox (pid 1200, via dnsmasq) 5, dig (pid 4242) 3, unknown program 1, not from this host 1"
        );
    }

    #[test]
    fn merging_two_files_tables_is_feeding_one_in_order() {
        let files = [
            vec![(4242, "dig"), (1200, "firefox"), (4242, "dig")],
            vec![(1200, "firefox"), (9, "curl"), (4242, "dig")],
        ];
        let mut whole = Programs::default();
        let mut merged = Programs::default();
        for f in &files {
            let mut part = Programs::default();
            for &(pid, name) in f {
                whole.observe(&flow(by(process(pid, name)), Verdict::Bypass));
                part.observe(&flow(by(process(pid, name)), Verdict::Bypass));
            }
            part.observe(&flow(Owner { process: Attribution::Unknown, on_behalf_of: None }, Verdict::Bypass));
            whole
                .observe(&flow(Owner { process: Attribution::Unknown, on_behalf_of: None }, Verdict::Bypass));
            merged.merge(&part);
        }
        assert_eq!(merged, whole);
        assert_eq!(
            merged.line().unwrap(),
            "dig (pid 4242) 3, firefox (pid 1200) 2, curl (pid 9) 1, unknown program 2"
        );
    }

    #[test]
    fn names_are_escaped_and_the_table_is_bounded() {
        let mut t = Programs::default();
        t.observe(&flow(by(process(1, "evil\u{1b}[2J\u{202e}")), Verdict::Bypass));
        let line = t.line().unwrap();
        assert!(!line.contains('\u{1b}') && !line.contains('\u{202e}'), "{line}");
        for pid in 0..1000 {
            t.observe(&flow(by(process(pid + 10, "many")), Verdict::Bypass));
        }
        assert_eq!(t.rows().len(), MAX_PROGRAMS);
        assert_eq!(t.overflow, 1000 - (MAX_PROGRAMS as u64 - 1));
    }

    #[test]
    fn owners_read_as_words() {
        let fwd = Owner {
            process: Attribution::Process(process(77, "dnsmasq")),
            on_behalf_of: Some(process(4242, "dig")),
        };
        assert_eq!(owner_text(&fwd), "dnsmasq (pid 77) for dig (pid 4242)");
        assert_eq!(
            owner_text(&Owner { process: Attribution::Unknown, on_behalf_of: None }),
            "unknown program"
        );
        let s = ProcessStats { attributed: 120, unattributed: 3, not_from_host: 2, ..Default::default() };
        assert_eq!(
            coverage(&s).unwrap(),
            "120 of 125 outgoing messages named, 3 unknown, 2 not from this host"
        );
        assert_eq!(coverage(&ProcessStats::default()), None);
    }
}

//! The summary a person reads after a replay: one screen, most important first.
//!
//! Every string that came from the wire or the file (names, SNI, interface names, notices) is
//! shown through `output::escape`.

use std::fmt::Write as _;
use std::io::{self, Write};

use dnsleak_core::{Fact, FlowCarrier, FrameClass, Judged, Stats, Ts, Verdict};

use super::escape::escape;
use super::report::{Report, ReportLimits};
use super::Sink;
use crate::counters::Counters;

/// How to render.
#[derive(Debug, Clone, Copy)]
pub struct SummaryOptions {
    /// Leaked names listed.
    pub top: usize,
    pub color: bool,
}

/// One input file, for the heading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    /// "pcap", "pcap (nanoseconds)", "pcapng", with ", gzip".
    pub format: String,
    pub packets: u64,
    pub interfaces: usize,
}

/// Rows of each table shown before "+N more".
const MAX_ROWS: usize = 12;
const NAME_WIDTH: usize = 40;

/// Collects a replay into a [`Report`] and renders it.
pub struct SummarySink {
    pub report: Report,
    pub counters: Counters,
    first_ts: Option<Ts>,
    last_ts: Option<Ts>,
}

impl Default for SummarySink {
    fn default() -> Self {
        SummarySink::new()
    }
}

impl SummarySink {
    pub fn new() -> Self {
        SummarySink {
            report: Report::new(ReportLimits::default()),
            counters: Counters::default(),
            first_ts: None,
            last_ts: None,
        }
    }

    /// Adds the next file's summary (judged apart, by `replay -j N`) to this one.
    pub fn merge(&mut self, other: &SummarySink) {
        self.report.merge(&other.report);
        self.first_ts = self.first_ts.into_iter().chain(other.first_ts).min();
        self.last_ts = self.last_ts.into_iter().chain(other.last_ts).max();
    }

    /// Writes the summary.
    pub fn render(
        &self,
        w: &mut dyn Write,
        opts: &SummaryOptions,
        sources: &[Source],
        notes: &[String],
    ) -> io::Result<()> {
        let p = Painter(opts.color);
        let mut s = String::new();
        self.heading(&mut s, &p, sources);
        self.interfaces(&mut s, &p);
        self.resolvers(&mut s, &p);
        self.leaked(&mut s, &p, opts.top);
        self.bypasses(&mut s, &p);
        self.programs(&mut s, &p);
        self.why(&mut s, &p);
        self.unanswered_and_patterns(&mut s, &p);
        self.unparsed(&mut s, &p);
        self.encrypted_counts(&mut s, &p);
        self.incomplete(&mut s, &p);
        self.accounting(&mut s, &p);
        for n in notes {
            let _ = writeln!(s, "{} {}", p.bold("Note:"), escape(n));
        }
        w.write_all(s.as_bytes())?;
        w.flush()
    }

    fn heading(&self, s: &mut String, p: &Painter, sources: &[Source]) {
        for src in sources {
            let _ = writeln!(
                s,
                "{} {} ({}, {} interface{}, {} packets)",
                p.bold("dnsleak replay:"),
                escape(&src.name),
                src.format,
                src.interfaces,
                if src.interfaces == 1 { "" } else { "s" },
                src.packets
            );
        }
        if let (Some(a), Some(b)) = (self.first_ts, self.last_ts) {
            let _ = writeln!(s, "Events over {} of capture time.", duration(b.since(a)));
        }
        let st = &self.counters.core;
        let (leak, bypass) = (st.verdict_count(Verdict::Leak), st.verdict_count(Verdict::Bypass));
        let lost = self.counters.unjudged();
        let line = if leak + bypass == 0 && lost > 0 {
            p.red(&format!(
                "INCOMPLETE: no leak or bypass seen in what was judged, but {lost} packet{}, stream{} or datagram{} went unjudged (a leak may be among them; see \"Incomplete\" below).",
                plural(lost),
                plural(lost),
                plural(lost)
            ))
        } else if leak + bypass == 0 {
            p.green("No leak, no bypass: no DNS left outside a tunnel.")
        } else {
            p.red(&format!(
                "EXPOSED: {leak} plaintext DNS message{} left outside the tunnel (leak), {bypass} encrypted DNS flow{} went around it (bypass).",
                plural(leak),
                plural(bypass)
            ))
        };
        let _ = writeln!(s, "{line}\n");
    }

    fn interfaces(&self, s: &mut String, p: &Painter) {
        let all = self.report.interfaces();
        let rows: Vec<_> = all.iter().filter(|r| r.verdicts.iter().sum::<u64>() + r.malformed > 0).collect();
        if rows.is_empty() {
            let _ = writeln!(s, "No DNS message or encrypted DNS flow was seen.\n");
            return;
        }
        let _ = writeln!(
            s,
            "{}",
            p.bold(&format!(
                "{:<16} {:<9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9}",
                "Interface", "kind", "tunnel", "leak", "bypass", "local", "multicast", "malformed"
            ))
        );
        for r in rows.iter().take(MAX_ROWS) {
            let v = &r.verdicts;
            let kind = r.kind.map_or("?", |k| k.as_str());
            let _ = writeln!(
                s,
                "{:<16} {:<9} {:>8} {} {} {:>8} {:>9} {:>9}",
                clip(&escape(&r.name), 16),
                kind,
                v[Verdict::Tunnel as usize],
                p.count_red(v[Verdict::Leak as usize], 8),
                p.count_red(v[Verdict::Bypass as usize], 8),
                v[Verdict::Local as usize],
                v[Verdict::Multicast as usize],
                r.malformed
            );
        }
        more(s, rows.len());
        if all.len() > rows.len() {
            let _ = writeln!(s, "({} more interfaces in the file carried no DNS)", all.len() - rows.len());
        }
        s.push('\n');
    }

    fn resolvers(&self, s: &mut String, p: &Painter) {
        let all = self.report.resolvers();
        // Multicast peers (mDNS, LLMNR) are not resolvers.
        let mut rows: Vec<_> = all.iter().filter(|r| r.verdict() != Some(Verdict::Multicast)).collect();
        if rows.is_empty() {
            return;
        }
        rows.sort_by_key(|r| !matches!(r.verdict(), Some(Verdict::Leak | Verdict::Bypass)));
        let _ = writeln!(s, "{}", p.bold("Resolvers"));
        let _ = writeln!(
            s,
            "{}",
            p.bold(&format!(
                "{:<9} {:>7} {:>9} {:<9} {:<12} {:<12} {}",
                "verdict", "queries", "responses", "transport", "interface", "provider", "address"
            ))
        );
        for r in rows.iter().take(MAX_ROWS) {
            let verdict = p.verdict(r.verdict());
            let pad = 9usize.saturating_sub(r.verdict().map_or(1, |v| v.as_str().len()));
            let _ = writeln!(
                s,
                "{verdict}{:pad$} {:>7} {:>9} {:<9} {:<12} {:<12} {}",
                "",
                r.queries,
                r.responses,
                r.transport.as_str(),
                clip(&escape(&r.iface), 12),
                clip(r.provider.unwrap_or("-"), 12),
                r.addr
            );
        }
        more(s, rows.len());
        if self.report.resolvers_overflow > 0 {
            let _ =
                writeln!(s, "({} messages to resolvers beyond the table)", self.report.resolvers_overflow);
        }
        s.push('\n');
    }

    fn leaked(&self, s: &mut String, p: &Painter, top: usize) {
        let names = self.report.top_leaked(top);
        if names.is_empty() {
            return;
        }
        let (distinct, saturated) = self.report.leaked_distinct();
        let of = if saturated { format!("more than {distinct}") } else { distinct.to_string() };
        let _ = writeln!(
            s,
            "{}",
            p.bold(&format!(
                "Leaked names (top {} of {of} distinct, {} leaked queries)",
                names.len(),
                self.report.leaked_queries
            ))
        );
        for n in &names {
            let approx = if n.error > 0 { format!(" (±{})", n.error) } else { String::new() };
            let _ = writeln!(s, "{:>8}  {}{approx}", n.count, clip(&escape(&n.name), 64));
        }
        s.push('\n');
    }

    fn bypasses(&self, s: &mut String, p: &Painter) {
        let flows = self.report.bypass_flows();
        if flows.is_empty() {
            return;
        }
        let _ = writeln!(s, "{}", p.bold("Encrypted DNS bypassing the tunnel"));
        for f in flows.iter().take(MAX_ROWS) {
            let server = match f.server {
                std::net::IpAddr::V6(a) => format!("[{a}]:{}", f.port),
                a => format!("{a}:{}", f.port),
            };
            let sni = f.sni.as_deref().map_or("-".into(), |n| escape(n).into_owned());
            let _ = writeln!(
                s,
                "  frame {:<7} {:<12} {:<4} {} sni {}{}",
                f.frame,
                clip(&escape(&f.iface), 12),
                f.transport.as_str(),
                server,
                clip(&sni, NAME_WIDTH),
                f.provider.map_or(String::new(), |pr| format!(" ({pr})"))
            );
        }
        more(s, flows.len() + self.report.flows_overflow as usize);
        s.push('\n');
    }

    /// Leaks and bypasses grouped by cause, with the fix once per cause.
    fn why(&self, s: &mut String, p: &Painter) {
        let causes = &self.report.causes;
        if causes.is_empty() {
            return;
        }
        let _ = writeln!(s, "{}", p.bold("Why, and what to change (by cause)"));
        causes.write(s, "");
        s.push('\n');
    }

    /// Which programs leaked, and how many messages were named (a file dnsleak wrote with
    /// process attribution; nothing for other files).
    fn programs(&self, s: &mut String, p: &Painter) {
        let Some(stats) = &self.counters.core.processes else { return };
        if let Some(line) = self.report.programs.line() {
            let _ = writeln!(s, "{} {line}", p.bold("Leaked by:"));
        }
        let method = if stats.recorded > 0 { "recorded by dnsleak in the file" } else { "live" };
        let named = super::programs::coverage(stats).unwrap_or_else(|| "no outgoing message".into());
        let _ = writeln!(s, "{} {named} ({method}).\n", p.bold("Programs:"));
    }

    fn unanswered_and_patterns(&self, s: &mut String, p: &Painter) {
        let pairs = &self.counters.core.pairs;
        if pairs.unanswered + pairs.unmatched_responses > 0 {
            let _ = writeln!(
                s,
                "{} {} queries had no response; {} responses had no query seen.\n",
                p.bold("Unanswered:"),
                pairs.unanswered,
                pairs.unmatched_responses
            );
        }
        let (rows, counts) = self.report.notices();
        if counts.is_empty() {
            return;
        }
        let list: Vec<String> = counts.iter().map(|(c, n)| format!("{c} {n}")).collect();
        let _ = writeln!(s, "{} {}", p.bold("Patterns:"), list.join(", "));
        for r in rows.iter().take(MAX_ROWS) {
            let _ = writeln!(s, "  frame {:<7} {}", r.frame, clip(&escape(&r.text), 100));
        }
        more(s, counts.iter().map(|(_, n)| *n as usize).sum());
        s.push('\n');
    }

    fn unparsed(&self, s: &mut String, p: &Painter) {
        let st = &self.counters.core;
        let mut parts: Vec<String> =
            st.malformed.iter().map(|(m, n)| format!("{} {n}", m.as_str())).collect();
        let undecodable = st.frames_in(FrameClass::Undecodable);
        if undecodable > 0 {
            parts.push(format!("broken below DNS {undecodable}"));
        }
        let unsupported = st.frames_in(FrameClass::Unsupported);
        if unsupported > 0 {
            parts.push(format!("not IP or unsupported link type {unsupported}"));
        }
        if parts.is_empty() {
            return;
        }
        let _ = writeln!(s, "{} {}\n", p.bold("Could not parse:"), parts.join(", "));
    }

    /// Encrypted-DNS flows by carrier, and what detection could not finish: QUIC connections
    /// whose ClientHello could not be read whole (judged by port and address instead), and
    /// flow records dropped at the table's cap (such a flow may be reported again). Said only
    /// when there is something.
    fn encrypted_counts(&self, s: &mut String, p: &Painter) {
        let st = &self.counters.core;
        let mut parts = Vec::new();
        let flows = flows_by_carrier(st);
        if !flows.is_empty() {
            parts.push(format!("flows {flows}"));
        }
        if st.quic_given_up > 0 {
            parts.push(format!(
                "{} QUIC connection{} without a readable ClientHello (judged by port and address)",
                st.quic_given_up,
                plural(st.quic_given_up)
            ));
        }
        if st.encrypted_flows_evicted > 0 {
            let n = st.encrypted_flows_evicted;
            parts.push(format!("{n} flow record{} dropped at the table's cap", plural(n)));
        }
        if !parts.is_empty() {
            let _ = writeln!(s, "{} {}.\n", p.bold("Encrypted DNS:"), parts.join("; "));
        }
    }

    /// What the bounded tables and the capture dropped, and why: said only when something was.
    fn incomplete(&self, s: &mut String, p: &Painter) {
        let dropped = super::incomplete::dropped(&self.counters);
        if dropped.is_empty() {
            return;
        }
        let _ = writeln!(s, "{}", p.bold(&format!("{}:", super::incomplete::HEADING)));
        for d in &dropped {
            let count =
                if d.unjudged { p.red(&format!("{:>9}", d.count)) } else { format!("{:>9}", d.count) };
            let _ = writeln!(s, "  {count}  {}", d.why);
        }
        s.push('\n');
    }

    fn accounting(&self, s: &mut String, p: &Painter) {
        let st = &self.counters.core;
        let parts: Vec<String> = FrameClass::ALL
            .iter()
            .filter(|c| st.frames_in(**c) > 0 || **c == FrameClass::Dns)
            .map(|c| format!("{} {}", st.frames_in(*c), c.as_str()))
            .collect();
        let _ = writeln!(s, "{} {} read = {}", p.bold("Packets:"), st.frames, parts.join(" + "));
        // Files of several interfaces are put back in time order within a window; what fell
        // outside it is said (causes that look back at earlier messages may miss it).
        let o = &self.counters.order;
        if o.late + o.early > 0 {
            let _ = writeln!(
                s,
                "{} {} of {} frames came after a later one was judged, {} were judged before their window ended (the stage was full); stub_upstream and parallel_resolution may be missed there",
                p.bold("Time order:"),
                o.late,
                o.frames,
                o.early
            );
        }
    }
}

impl Sink for SummarySink {
    /// The summary counts names and verdicts; it never decodes answers.
    fn wants_payload(&self) -> bool {
        false
    }

    fn fact(&mut self, fact: &Fact) -> io::Result<()> {
        if let Some(topology) = fact.interfaces() {
            self.report.topology(topology);
        }
        Ok(())
    }

    fn event(&mut self, judged: &Judged, _file: Option<&str>) -> io::Result<()> {
        let ts = judged.event.ts;
        self.first_ts = Some(self.first_ts.map_or(ts, |t| t.min(ts)));
        self.last_ts = Some(self.last_ts.map_or(ts, |t| t.max(ts)));
        self.report.observe(judged);
        Ok(())
    }

    fn counters(&mut self, counters: &Counters) -> io::Result<()> {
        self.counters = counters.clone();
        Ok(())
    }

    fn finish(&mut self, counters: &Counters) -> io::Result<()> {
        self.counters = counters.clone();
        Ok(())
    }
}

/// "4.2 s", "12 min", "3.5 h", "41 days".
fn duration(ns: u64) -> String {
    let secs = ns as f64 / 1e9;
    match secs {
        s if s < 120.0 => format!("{s:.1} s"),
        s if s < 7200.0 => format!("{:.0} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.0} days", s / 86_400.0),
    }
}

/// Encrypted-DNS flows reported, by carrier (those seen only), with how many ran over QUIC:
/// `dot 1, doh/h3 2, dnscrypt 1 (2 over QUIC)`. Empty when there were none.
pub fn flows_by_carrier(st: &Stats) -> String {
    let parts: Vec<String> = FlowCarrier::ALL
        .into_iter()
        .filter(|&c| st.flows_over(c) > 0)
        .map(|c| format!("{} {}", c.as_str(), st.flows_over(c)))
        .collect();
    let mut text = parts.join(", ");
    let quic: u64 = FlowCarrier::ALL.into_iter().filter(|c| c.is_quic()).map(|c| st.flows_over(c)).sum();
    if quic > 0 {
        let _ = write!(text, " ({quic} over QUIC)");
    }
    text
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn more(s: &mut String, total: usize) {
    if total > MAX_ROWS {
        let _ = writeln!(s, "  ... and {} more", total - MAX_ROWS);
    }
}

/// At most `width` characters, with "…" when cut.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// ANSI colour, or none.
struct Painter(bool);

impl Painter {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(&self, t: &str) -> String {
        self.wrap("1", t)
    }
    fn red(&self, t: &str) -> String {
        self.wrap("1;31", t)
    }
    fn green(&self, t: &str) -> String {
        self.wrap("32", t)
    }
    fn count_red(&self, n: u64, width: usize) -> String {
        let text = format!("{n:>width$}");
        if n > 0 {
            self.red(&text)
        } else {
            text
        }
    }
    fn verdict(&self, v: Option<Verdict>) -> String {
        match v {
            Some(v @ (Verdict::Leak | Verdict::Bypass)) => self.red(v.as_str()),
            Some(Verdict::Tunnel) => self.green("tunnel"),
            Some(v) => v.as_str().to_string(),
            None => "-".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_marks_cuts() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }

    /// The summary of `sink` without colour.
    fn render(sink: &SummarySink) -> String {
        let mut out = Vec::new();
        sink.render(&mut out, &SummaryOptions { top: 5, color: false }, &[], &[]).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn encrypted_dns_counts_are_said_only_when_there_are_some() {
        let mut sink = SummarySink::new();
        assert!(!render(&sink).contains("Encrypted DNS:"));
        sink.counters.core.quic_given_up = 3;
        sink.counters.core.encrypted_flows_evicted = 1;
        assert!(render(&sink).contains(
            "Encrypted DNS: 3 QUIC connections without a readable ClientHello (judged by port \
             and address); 1 flow record dropped at the table's cap."
        ));
        sink.counters.core.encrypted_flows = [1, 0, 2, 1, 1];
        sink.counters.core.encrypted_flows_evicted = 0;
        assert!(render(&sink).contains(
            "Encrypted DNS: flows dot 1, doh/h3 2, doq 1, dnscrypt 1 (3 over QUIC); 3 QUIC \
             connections without a readable ClientHello (judged by port and address).\n"
        ));
    }

    /// The time-order stage's misses are said, and only when there are some.
    #[test]
    fn frames_out_of_time_order_are_said() {
        let mut sink = SummarySink::new();
        sink.counters.order.frames = 100;
        assert!(!render(&sink).contains("Time order:"));
        sink.counters.order.late = 2;
        sink.counters.order.early = 1;
        assert!(render(&sink).contains(
            "Time order: 2 of 100 frames came after a later one was judged, 1 were judged before their window ended"
        ));
    }

    #[test]
    fn no_colour_means_no_escape_sequences() {
        let mut out = Vec::new();
        let sink = SummarySink::new();
        sink.render(&mut out, &SummaryOptions { top: 5, color: false }, &[], &[]).unwrap();
        assert!(!out.contains(&0x1b));
        let mut out = Vec::new();
        sink.render(&mut out, &SummaryOptions { top: 5, color: true }, &[], &[]).unwrap();
        assert!(out.contains(&0x1b));
    }
}

//! `dnsleak check`: resolve a few unique names through the system resolver (getaddrinfo, for
//! IPv4, IPv6 and both) while capturing on every interface, drain the captures, and judge
//! from what was on the wire — whether or not the names resolved — which interfaces and
//! resolvers each lookup left by.

use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use crossbeam_channel::{bounded, Receiver, Sender};

use super::config::CheckConfig;
use super::monitor::capture_into;
use crate::cli::CheckArgs;
use crate::counters::Counters;
use crate::output::causes::CauseTally;
use crate::output::escape::{escape, Escaped};
use crate::output::facts::configured_json;
use crate::output::programs::{self, Programs};
use crate::output::Sink;
use crate::system::{privilege, sandbox};
use crate::Outcome;
use dnsleak_core::{EventKind, Fact, Judged, ResolverConfig, Verdict};

/// Events kept for the report (the check's own lookups are a handful).
const MAX_KEPT: usize = 4096;

/// The address family a lookup asks for (getaddrinfo's `ai_family`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
    /// Both (AF_UNSPEC): what most programs ask.
    Any,
}

/// One lookup the check makes.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub name: String,
    pub family: Family,
    pub label: &'static str,
}

/// What one lookup returned.
#[derive(Debug, Clone)]
pub enum Answer {
    Addrs(Vec<IpAddr>),
    Failed(String),
    /// Still waiting when the check ended.
    Pending,
}

/// The unique names of one check: a random token, one name per address family.
pub fn lookups(token: &str) -> Vec<Lookup> {
    [(Family::V4, "ipv4"), (Family::V6, "ipv6"), (Family::Any, "any")]
        .into_iter()
        .map(|(family, label)| Lookup { name: format!("dnsleak-{token}-{label}.example.com"), family, label })
        .collect()
}

/// Twelve random hex digits from the OS's random source (or the clock and pid if it fails).
fn random_token() -> String {
    let mut b = [0u8; 6];
    if getrandom::fill(&mut b).is_err() {
        let t = crate::system::clock::wall_now().0 as u64 ^ u64::from(std::process::id());
        b.copy_from_slice(&t.to_le_bytes()[..6]);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// getaddrinfo(3) for one family: the system resolver, as every program uses it.
pub fn getaddrinfo(name: &str, family: Family) -> Answer {
    use dns_lookup::{AddrFamily, AddrInfoHints, SockType};
    let hints = AddrInfoHints {
        address: match family {
            Family::V4 => AddrFamily::Inet.into(),
            Family::V6 => AddrFamily::Inet6.into(),
            Family::Any => 0,
        },
        socktype: SockType::DGram.into(),
        ..AddrInfoHints::default()
    };
    match dns_lookup::getaddrinfo(Some(name), None, Some(hints)) {
        Ok(infos) => {
            let mut out: Vec<IpAddr> = infos.filter_map(Result::ok).map(|i| i.sockaddr.ip()).collect();
            out.dedup();
            Answer::Addrs(out)
        }
        Err(e) => {
            let text = e.to_string();
            let reason = text.strip_prefix("failed to lookup address information: ").unwrap_or(&text);
            Answer::Failed(reason.to_string())
        }
    }
}

/// Keeps the events of the check window and the resolver configuration last read, and says
/// when capture is running.
struct Collector {
    events: Vec<Judged>,
    ready: Option<Sender<()>>,
    configured: Option<ResolverConfig>,
}

impl Sink for Collector {
    fn fact(&mut self, fact: &Fact) -> io::Result<()> {
        if let Fact::Resolvers(c) = fact {
            self.configured = Some((**c).clone());
        }
        // The first fact (the interfaces) comes once every capture is open: the lookups may
        // start.
        if let Some(tx) = self.ready.take() {
            let _ = tx.send(());
        }
        Ok(())
    }
    fn event(&mut self, judged: &Judged, _file: Option<&str>) -> io::Result<()> {
        if self.events.len() < MAX_KEPT {
            self.events.push(judged.clone());
        }
        Ok(())
    }
}

/// Runs the lookups once capture is ready, each in its own thread, and ends the capture when
/// all have returned or `timeout` has passed.
fn lookup_thread(
    ready: Receiver<()>,
    stop: Arc<AtomicBool>,
    list: Vec<Lookup>,
    timeout: Duration,
) -> Vec<Answer> {
    let start = Instant::now();
    if ready.recv_timeout(Duration::from_secs(5)).is_err() {
        stop.store(true, Ordering::Release);
        return vec![Answer::Pending; list.len()];
    }
    let (tx, rx) = bounded(list.len());
    for (i, l) in list.iter().enumerate() {
        let (tx, l) = (tx.clone(), l.clone());
        // A lookup that hangs is left behind: the process ends after the report.
        let _ = std::thread::Builder::new()
            .name("lookup".into())
            .spawn(move || tx.send((i, getaddrinfo(&l.name, l.family))));
    }
    drop(tx);
    let mut answers = vec![Answer::Pending; list.len()];
    let deadline = start + timeout;
    for _ in 0..list.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, a)) => answers[i] = a,
            Err(_) => break,
        }
    }
    stop.store(true, Ordering::Release);
    answers
}

/// Whether an event belongs to the check: one of its names, or an encrypted-DNS flow (the
/// system resolver may use DoT or DoH, where names are not visible).
fn is_ours(j: &Judged, token: &str) -> bool {
    match j.event.kind() {
        EventKind::Encrypted => true,
        EventKind::Query | EventKind::Response => {
            j.event.qname().is_some_and(|n| n.to_ascii_lowercase().contains(token))
        }
        _ => false,
    }
}

/// The check's findings.
pub struct Report {
    pub lookups: Vec<(Lookup, Answer)>,
    pub events: Vec<Judged>,
    pub counters: Counters,
    /// The resolver configuration read during the check (`None`: it could not be read).
    pub configured: Option<ResolverConfig>,
}

impl Report {
    pub fn exposures(&self) -> usize {
        self.events.iter().filter(|j| j.is_exposure()).count()
    }

    /// The check's leaks and bypasses by cause, with the fix once per cause.
    pub fn causes(&self) -> CauseTally {
        let mut t = CauseTally::default();
        self.events.iter().for_each(|j| t.observe(j));
        t
    }

    /// The resolvers the check's messages and flows went to, each with its interface, in
    /// the order first seen.
    pub fn used(&self) -> Vec<(String, IpAddr)> {
        let mut v: Vec<(String, IpAddr)> = Vec::new();
        for j in &self.events {
            let Some((addr, _)) = j.event.resolver() else { continue };
            let iface = j.event.iface_name.to_string();
            if !v.iter().any(|(i, a)| *i == iface && *a == addr) {
                v.push((iface, addr));
            }
        }
        v
    }
}

/// Captures while resolving; returns what was seen.
pub fn measure(cfg: &CheckConfig) -> anyhow::Result<Report> {
    privilege::check()?;
    // Before any thread starts (the process scan's, the lookups'): they inherit the smaller
    // bounding set.
    sandbox::prepare().context("shrinking the capability bounding set")?;
    // Before capture drops the capabilities loading eBPF needs.
    let procs = super::attribution::start(cfg.capture.processes)?;
    let token = random_token();
    let list = lookups(&token);
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = bounded(1);
    let timeout = cfg.timeout;
    let (st, l2) = (stop.clone(), list.clone());
    let lookups = std::thread::Builder::new()
        .name("lookups".into())
        .spawn(move || lookup_thread(ready_rx, st, l2, timeout))
        .context("starting the lookup thread")?;
    let mut sink = Collector { events: Vec::new(), ready: Some(ready_tx), configured: None };
    let result = capture_into(&cfg.capture, &mut sink, &stop, procs);
    stop.store(true, Ordering::Release);
    sink.ready.take(); // wakes the lookup thread if capture never started
    let answers = lookups.join().unwrap_or_default();
    let counters = result?.counters;
    let events = sink.events.into_iter().filter(|j| is_ours(j, &token)).collect();
    let configured = sink.configured;
    Ok(Report { lookups: list.into_iter().zip(answers).collect(), events, counters, configured })
}

/// `dnsleak check`.
pub fn run(args: &CheckArgs) -> anyhow::Result<Outcome> {
    let cfg = CheckConfig::new(args)?;
    let report = measure(&cfg)?;
    let mut out = io::stdout().lock();
    if cfg.json {
        write_json(&mut out, &report)?;
    } else {
        write_text(&mut out, &report)?;
    }
    out.flush()?;
    if report.events.is_empty() {
        bail!(
            "inconclusive: none of the check's {} lookups was seen on the wire (the resolver may have answered from a cache or over a connection opened earlier); run it again, or watch with `dnsleak monitor`",
            report.lookups.len()
        );
    }
    Ok(outcome(&report))
}

/// A leak of the check's own lookups wins; else a capture that dropped anything before it was
/// judged cannot say "no leak" (exit 2, issue #13).
fn outcome(report: &Report) -> Outcome {
    if report.exposures() > 0 {
        Outcome::Exposed
    } else {
        Outcome::clean_unless_incomplete(&report.counters)
    }
}

fn answer_text(a: &Answer) -> String {
    match a {
        Answer::Addrs(v) if v.is_empty() => "resolved, no addresses".into(),
        Answer::Addrs(v) => {
            format!("resolved: {}", v.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "))
        }
        Answer::Failed(e) => format!("did not resolve ({e})"),
        Answer::Pending => "no answer before the timeout".into(),
    }
}

/// One message or flow of the check (never a notice: `is_ours` keeps none).
fn event_line(j: &Judged) -> String {
    let e = &j.event;
    let (Some((peer, port)), Some(w)) = (e.resolver(), e.wire()) else { return String::new() };
    let verdict = j.verdict.map_or("-", Verdict::as_str);
    let arrow = if e.kind() == EventKind::Response { "<-" } else { "->" };
    let sni = e.sni().map(|s| format!(" sni={}", escape(s)));
    let by = e.owner().map(|o| format!(" by {}", programs::owner_text(o)));
    format!(
        "    {:<8} {:<9} {} {arrow} {peer}:{port} {}/{}{}{}  -- {}",
        verdict.to_uppercase(),
        e.kind().as_str(),
        escape(&e.iface_name),
        w.proto.as_str(),
        w.transport.as_str(),
        sni.unwrap_or_default(),
        by.unwrap_or_default(),
        Escaped(&j.reason)
    )
}

fn write_text(out: &mut impl Write, r: &Report) -> io::Result<()> {
    writeln!(out, "dnsleak check: {} unique names looked up through the system resolver", r.lookups.len())?;
    for (l, a) in &r.lookups {
        writeln!(out, "  {} ({}): {}", escape(&l.name), l.label, escape(&answer_text(a)))?;
        let mine: Vec<&Judged> = r
            .events
            .iter()
            .filter(|j| j.event.qname().is_some_and(|n| n.eq_ignore_ascii_case(&l.name)))
            .collect();
        if mine.is_empty() {
            writeln!(out, "    (not seen on the wire)")?;
        }
        for j in mine {
            writeln!(out, "{}", event_line(j))?;
            cause_line(out, j)?;
        }
    }
    let flows: Vec<&Judged> = r.events.iter().filter(|j| j.event.kind() == EventKind::Encrypted).collect();
    if !flows.is_empty() {
        writeln!(out, "  encrypted DNS flows during the check:")?;
        for j in flows {
            writeln!(out, "{}", event_line(j))?;
            cause_line(out, j)?;
        }
    }
    resolvers_text(out, r)?;
    let n = r.exposures();
    if r.events.is_empty() {
        writeln!(out, "INCONCLUSIVE: nothing of the check was seen on the wire")
    } else if n > 0 {
        let mut via: Vec<String> = r
            .events
            .iter()
            .filter(|j| j.is_exposure())
            .map(|j| {
                format!(
                    "{} to {}",
                    escape(&j.event.iface_name),
                    j.event.resolver().map_or(String::new(), |r| r.0.to_string())
                )
            })
            .collect();
        via.sort();
        via.dedup();
        writeln!(
            out,
            "LEAK: {n} DNS messages or flows of the check left outside the tunnel ({})",
            via.join(", ")
        )?;
        let mut by = Programs::default();
        r.events.iter().for_each(|j| by.observe(j));
        if let Some(line) = by.line() {
            writeln!(out, "  leaked by: {line}")?;
        }
        let mut why = String::new();
        r.causes().write(&mut why, "  ");
        write!(out, "Why, and what to change (by cause):\n{why}")
    } else {
        writeln!(out, "NO LEAK: every lookup of the check stayed in the tunnel or on this machine")
    }
}

/// A leak's or bypass's cause and its evidence, under its event line.
fn cause_line(out: &mut impl Write, j: &Judged) -> io::Result<()> {
    match &j.cause {
        Some(c) => writeln!(out, "      cause: {}: {}", c.cause.as_str(), escape(&c.detail(&j.event))),
        None => Ok(()),
    }
}

/// The resolvers the system is configured with beside the ones the check's lookups used.
fn resolvers_text(out: &mut impl Write, r: &Report) -> io::Result<()> {
    let configured = match &r.configured {
        None => "unknown (the resolver configuration could not be read)".to_string(),
        Some(c) if c.servers().is_empty() => format!("none named (managed by {})", c.manager()),
        Some(c) => {
            let v: Vec<String> = c
                .servers()
                .iter()
                .map(|(i, a)| i.as_ref().map_or(a.to_string(), |i| format!("{a} ({})", escape(i))))
                .collect();
            format!("{} (managed by {})", v.join(", "), c.manager())
        }
    };
    writeln!(out, "  resolvers configured: {configured}")?;
    let used: Vec<String> = r.used().iter().map(|(i, a)| format!("{a} ({})", escape(i))).collect();
    let used = if used.is_empty() { "none seen".to_string() } else { used.join(", ") };
    writeln!(out, "  resolvers the check used: {used}")
}

/// The causes of the check's leaks and bypasses, for its JSON line.
fn causes_json(r: &Report) -> Vec<serde_json::Value> {
    let causes = r.causes();
    causes
        .by_count()
        .iter()
        .map(|c| {
            serde_json::json!({"cause": c.cause.as_str(), "count": c.count, "detail": c.detail,
                "fix": c.fix.to_string()})
        })
        .collect()
}

fn write_json(out: &mut impl Write, r: &Report) -> io::Result<()> {
    let mut line = Vec::with_capacity(1024);
    for j in &r.events {
        line.clear();
        crate::output::json::write_event(&mut line, j, None);
        line.push(b'\n');
        out.write_all(&line)?;
    }
    let names: Vec<serde_json::Value> = r
        .lookups
        .iter()
        .map(|(l, a)| {
            serde_json::json!({
                "qname": l.name,
                "family": l.label,
                "result": answer_text(a),
                "seen": r.events.iter().filter(|j| j.event.qname().is_some_and(|n| n.eq_ignore_ascii_case(&l.name))).count(),
            })
        })
        .collect();
    let verdict = if r.events.is_empty() {
        "inconclusive"
    } else if r.exposures() > 0 {
        "leak"
    } else {
        "no_leak"
    };
    // The resolvers used, per interface, shaped as `configured` is.
    let mut used = serde_json::Map::new();
    for (iface, addr) in r.used() {
        if let serde_json::Value::Array(v) =
            used.entry(iface).or_insert_with(|| serde_json::Value::Array(Vec::new()))
        {
            v.push(addr.to_string().into());
        }
    }
    let summary = serde_json::json!({"kind": "check", "verdict": verdict, "exposures": r.exposures(), "lookups": names,
        "configured": r.configured.as_ref().map(configured_json), "used": used, "causes": causes_json(r)});
    writeln!(out, "{}", crate::output::json::harden(&summary.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_check_and_family() {
        let a = lookups("abc123");
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|l| l.name.contains("abc123")));
        assert_ne!(a[0].name, a[1].name);
        assert_ne!(random_token(), random_token());
    }

    /// A check that leaked once to the LAN's resolver, with resolv.conf naming it.
    fn leaked_report() -> Report {
        use dnsleak_core::dnsconfig::{Manager, ResolvConf};
        use dnsleak_core::{Cause, Caused};
        let list = lookups("tok");
        let mut j = crate::output::testing::judged(
            "eth0",
            EventKind::Query,
            Verdict::Leak,
            [192, 0, 2, 1],
            0,
            &list[0].name,
        );
        j.cause = Some(Caused::new(Cause::LanResolver, Some(true), None));
        let configured = ResolverConfig {
            resolv_conf: Some(ResolvConf {
                path: "/etc/resolv.conf".into(),
                owner: Some(Manager::Static),
                nameservers: vec!["192.0.2.1".parse().unwrap()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let answers = vec![Answer::Pending; list.len()];
        Report {
            lookups: list.into_iter().zip(answers).collect(),
            events: vec![j],
            counters: Counters::default(),
            configured: Some(configured),
        }
    }

    /// A leak shows its cause and the fix once; the configured resolvers stand beside the
    /// used ones, in text and in the JSON's last line.
    #[test]
    fn a_leak_says_its_cause_fix_and_the_configured_resolvers() {
        let r = leaked_report();
        let mut text = Vec::new();
        write_text(&mut text, &r).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("      cause: lan_resolver: "), "{text}");
        assert!(text.contains("  resolvers configured: 192.0.2.1 (managed by"), "{text}");
        assert!(text.contains("  resolvers the check used: 192.0.2.1 (eth0)"), "{text}");
        assert_eq!(text.matches("fix: ").count(), 1, "{text}");
        let mut json = Vec::new();
        write_json(&mut json, &r).unwrap();
        let json = String::from_utf8(json).unwrap();
        let last: serde_json::Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();
        assert_eq!(last["kind"], "check");
        assert_eq!(last["configured"], serde_json::json!({"": ["192.0.2.1"]}));
        assert_eq!(last["used"], serde_json::json!({"eth0": ["192.0.2.1"]}));
        assert_eq!(last["causes"][0]["cause"], "lan_resolver");
        assert_eq!(last["causes"][0]["count"], 1);
        assert!(last["causes"][0]["fix"].as_str().unwrap().contains("resolv.conf"), "{last}");
    }

    /// Regression (#13): a check whose capture dropped frames said "no leak" and exited 0.
    #[test]
    fn regression_a_check_that_dropped_frames_is_incomplete_not_clean() {
        let mut r = leaked_report();
        r.events.clear();
        assert_eq!(outcome(&r), Outcome::Clean);
        r.counters.dropped_at_stop = 3;
        let Outcome::Incomplete(why) = outcome(&r) else { panic!("{:?}", outcome(&r)) };
        assert!(why.contains("3 packets"), "{why}");
        // A leak of its own lookups still wins.
        assert_eq!(outcome(&leaked_report()), Outcome::Exposed);
    }

    #[test]
    fn getaddrinfo_resolves_localhost_from_files() {
        match getaddrinfo("localhost", Family::V4) {
            Answer::Addrs(v) => assert!(v.contains(&IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)), "{v:?}"),
            other => panic!("{other:?}"),
        }
    }
}

//! `dnsleak check`: resolve a few unique names through the system resolver (getaddrinfo, for
//! IPv4, IPv6 and both) while capturing on every interface, drain the captures, and judge
//! from what was on the wire — whether or not the names resolved — which interfaces and
//! resolvers each lookup left by.

use std::ffi::{CStr, CString};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use crossbeam_channel::{bounded, Receiver, Sender};

use crate::capture::live::capture_into;
use crate::cli::{CheckArgs, MonitorArgs};
use crate::output::escape::{escape, Escaped};
use crate::output::{Counters, Sink};
use crate::system::{privilege, sandbox};
use crate::Outcome;
use dnsleak_core::{EventKind, Judged, Topology, Verdict};

/// Events kept for the report (the check's own lookups are a handful).
const MAX_KEPT: usize = 4096;

/// One lookup the check makes.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub name: String,
    pub family: i32,
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
    [(libc::AF_INET, "ipv4"), (libc::AF_INET6, "ipv6"), (libc::AF_UNSPEC, "any")]
        .into_iter()
        .map(|(family, label)| Lookup { name: format!("dnsleak-{token}-{label}.example.com"), family, label })
        .collect()
}

fn random_token() -> String {
    let mut b = [0u8; 6];
    let ok =
        std::fs::File::open("/dev/urandom").and_then(|mut f| io::Read::read_exact(&mut f, &mut b)).is_ok();
    if !ok {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        b.copy_from_slice(&(t.as_nanos() as u64 ^ std::process::id() as u64).to_le_bytes()[..6]);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// getaddrinfo(3) for one family: the system resolver, as every program uses it.
pub fn getaddrinfo(name: &str, family: i32) -> Answer {
    let Ok(c) = CString::new(name) else { return Answer::Failed("name contains a NUL byte".into()) };
    // SAFETY: plain libc calls; the result list is walked while valid and freed once.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_family = family;
        hints.ai_socktype = libc::SOCK_DGRAM;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        let rc = libc::getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut res);
        if rc != 0 {
            let msg = CStr::from_ptr(libc::gai_strerror(rc)).to_string_lossy().into_owned();
            return Answer::Failed(msg);
        }
        let mut out = Vec::new();
        let mut p = res;
        while !p.is_null() {
            let ai = &*p;
            if !ai.ai_addr.is_null() {
                match ai.ai_family {
                    libc::AF_INET => {
                        let sa = &*(ai.ai_addr as *const libc::sockaddr_in);
                        out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr))));
                    }
                    libc::AF_INET6 => {
                        let sa = &*(ai.ai_addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            p = ai.ai_next;
        }
        libc::freeaddrinfo(res);
        out.dedup();
        Answer::Addrs(out)
    }
}

/// Keeps the events of the check window and says when capture is running.
struct Collector {
    events: Vec<Judged>,
    ready: Option<Sender<()>>,
}

impl Sink for Collector {
    fn topology(&mut self, _topology: &Topology) -> io::Result<()> {
        // The first topology comes once every capture is open: the lookups may start.
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
    match j.event.kind {
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
}

impl Report {
    pub fn exposures(&self) -> usize {
        self.events.iter().filter(|j| j.is_exposure()).count()
    }
}

/// Captures while resolving; returns what was seen.
pub fn measure(args: &CheckArgs) -> anyhow::Result<Report> {
    privilege::check()?;
    let token = random_token();
    let list = lookups(&token);
    let margs = MonitorArgs {
        interfaces: args.interfaces.clone(),
        judge: args.judge.clone(),
        json: false,
        no_tui: true,
        write: None,
        duration: Some(args.timeout.clamp(0.5, 30.0) + 2.0),
        color: Default::default(),
        sandbox: args.sandbox.clone(),
    };
    // Before the lookup thread starts: it inherits the smaller bounding set.
    sandbox::prepare().context("shrinking the capability bounding set")?;
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = bounded(1);
    let timeout = Duration::from_secs_f64(args.timeout.clamp(0.5, 30.0));
    let (st, l2) = (stop.clone(), list.clone());
    let lookups = std::thread::Builder::new()
        .name("lookups".into())
        .spawn(move || lookup_thread(ready_rx, st, l2, timeout))
        .context("starting the lookup thread")?;
    let mut sink = Collector { events: Vec::new(), ready: Some(ready_tx) };
    let result = capture_into(&margs, &mut sink, &stop);
    stop.store(true, Ordering::Release);
    sink.ready.take(); // wakes the lookup thread if capture never started
    let answers = lookups.join().unwrap_or_default();
    let counters = result?;
    let events = sink.events.into_iter().filter(|j| is_ours(j, &token)).collect();
    Ok(Report { lookups: list.into_iter().zip(answers).collect(), events, counters })
}

/// `dnsleak check`.
pub fn run(args: &CheckArgs) -> anyhow::Result<Outcome> {
    let report = measure(args)?;
    let mut out = io::stdout().lock();
    if args.json {
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
    Ok(if report.exposures() > 0 { Outcome::Exposed } else { Outcome::Clean })
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

fn event_line(j: &Judged) -> String {
    let e = &j.event;
    let (peer, port) = e.resolver();
    let verdict = j.verdict.map_or("-", Verdict::as_str);
    let arrow = if e.kind == EventKind::Response { "<-" } else { "->" };
    let sni = e.sni.as_deref().map(|s| format!(" sni={}", escape(s))).unwrap_or_default();
    format!(
        "    {:<8} {:<9} {} {arrow} {peer}:{port} {}/{}{sni}  -- {}",
        verdict.to_uppercase(),
        e.kind.as_str(),
        escape(&e.iface_name),
        e.proto.as_str(),
        e.transport.as_str(),
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
        }
    }
    let flows: Vec<&Judged> = r.events.iter().filter(|j| j.event.kind == EventKind::Encrypted).collect();
    if !flows.is_empty() {
        writeln!(out, "  encrypted DNS flows during the check:")?;
        for j in flows {
            writeln!(out, "{}", event_line(j))?;
        }
    }
    let n = r.exposures();
    if r.events.is_empty() {
        writeln!(out, "INCONCLUSIVE: nothing of the check was seen on the wire")
    } else if n > 0 {
        let mut via: Vec<String> = r
            .events
            .iter()
            .filter(|j| j.is_exposure())
            .map(|j| format!("{} to {}", escape(&j.event.iface_name), j.event.resolver().0))
            .collect();
        via.sort();
        via.dedup();
        writeln!(
            out,
            "LEAK: {n} DNS messages or flows of the check left outside the tunnel ({})",
            via.join(", ")
        )
    } else {
        writeln!(out, "NO LEAK: every lookup of the check stayed in the tunnel or on this machine")
    }
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
    let summary = serde_json::json!({"kind": "check", "verdict": verdict, "exposures": r.exposures(), "lookups": names});
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

    #[test]
    fn getaddrinfo_resolves_localhost_from_files() {
        match getaddrinfo("localhost", libc::AF_INET) {
            Answer::Addrs(v) => assert!(v.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)), "{v:?}"),
            other => panic!("{other:?}"),
        }
    }
}

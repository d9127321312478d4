//! ReportData -> the page's view: display strings and chart geometry. Wire and OS texts are
//! passed through `output::escape` here (control and bidi characters made visible); the
//! template engine then HTML-escapes every one of them.

use std::collections::HashMap;
use std::net::IpAddr;

use dnsleak_core::{FlowCarrier, FrameClass, IfaceKind, Transport, Verdict};

use super::chart::{self, count, hbars, BarInput, HBars};
use super::data::{carrier_name, carrier_what, Origin, ReportData};
use super::timeline::{self, Timeline, VerdictChart};
use crate::output::escape::escape;
use crate::output::report::{FlowRow, ResolverRow};
use crate::output::time::full_time;

/// Leaked names in the table before "all of them".
const TOP_NAMES: usize = 20;
/// Rows of the long tables (the rest are counted): resolvers, all leaked names.
const MAX_TABLE_ROWS: usize = 1000;
/// Groups of bypassing flows listed.
const MAX_FLOW_ROWS: usize = 500;
/// Bars per chart.
const MAX_BARS: usize = 12;

/// Everything the template shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub title: String,
    /// `leaking`, `clean` or `empty`: the banner's colour.
    pub status: &'static str,
    pub headline: String,
    pub figures: Vec<Figure>,
    pub span: Option<String>,
    pub live: bool,
    pub inputs: Vec<InputView>,
    pub notes: Vec<String>,
    pub timeline: Option<Timeline>,
    pub verdicts: Option<VerdictChart>,
    pub bars: Vec<HBars>,
    pub chart_w: f32,
    pub resolvers: Vec<ResolverView>,
    pub resolvers_more: Option<String>,
    pub show_configured: bool,
    pub names_top: Vec<NameView>,
    pub names_all: Vec<NameView>,
    pub names_note: String,
    pub flows: Vec<FlowView>,
    pub flows_more: Option<String>,
    pub encrypted: Vec<EncryptedView>,
    pub causes: Vec<CauseView>,
    pub notices: Vec<NoticeView>,
    pub notices_note: Option<String>,
    pub interfaces: Vec<IfaceView>,
    pub unparsed: Vec<(String, String)>,
    pub dropped: Vec<(String, String)>,
    pub packets: Vec<(String, String)>,
    pub generated: Option<String>,
    pub version: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub label: &'static str,
    pub value: String,
    /// `bad` when it counts against the user.
    pub class: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InputView {
    pub name: String,
    pub format: String,
    pub packets: String,
    pub size: String,
    pub sha256: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResolverView {
    pub addr: String,
    pub provider: String,
    pub iface: String,
    pub transport: &'static str,
    pub queries: String,
    pub responses: String,
    pub verdict: &'static str,
    pub configured: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NameView {
    pub name: String,
    pub count: String,
    /// Width of the in-cell bar, percent of the largest count.
    pub pct: u32,
    pub approx: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FlowView {
    /// First seen: time and frame.
    pub time: String,
    pub frame: u64,
    /// Flows to the same server, by the same interface, with the same server name.
    pub flows: String,
    pub iface: String,
    pub server: String,
    pub transport: &'static str,
    pub sni: String,
    pub provider: String,
}

/// Encrypted DNS flows of one protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct EncryptedView {
    pub name: &'static str,
    pub what: &'static str,
    pub first: String,
    pub tunnel: String,
    /// Flows around the tunnel (the bypasses), and whether there were any.
    pub bypass: String,
    pub exposed: bool,
    /// Local and multicast: on this machine or the link.
    pub local: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CauseView {
    pub cause: String,
    pub detail: Option<String>,
    pub fix: Option<String>,
    pub count: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NoticeView {
    pub num: usize,
    pub time: String,
    pub frame: u64,
    pub code: &'static str,
    pub severity: &'static str,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IfaceView {
    pub name: String,
    pub kind: &'static str,
    pub verdicts: Vec<String>,
    pub exposed: bool,
    pub malformed: String,
}

/// Builds the page of `data`.
pub fn page(data: &ReportData) -> Page {
    let st = &data.counters.core;
    let (leaks, bypasses) = (st.verdict_count(Verdict::Leak), st.verdict_count(Verdict::Bypass));
    let traffic: u64 = st.verdicts.iter().sum();
    let (status, headline) = banner(leaks, bypasses, traffic);
    let files = match &data.origin {
        Origin::Replay(f) => f.iter().map(|f| escape(&f.name).into_owned()).collect::<Vec<_>>().join(", "),
        Origin::Live => "live capture".to_string(),
    };
    let (names_top, names_all, names_note) = names(data);
    let (flows, flows_more) = flows(data);
    let (resolvers, resolvers_more) = resolvers(data);
    let (notices, notices_note) = notices(data);
    Page {
        title: format!("dnsleak audit: {} — {}", status_word(status), chart::clip(&files, 80)),
        status,
        headline,
        figures: figures(data),
        span: data.span.map(|(a, b)| format!("from {} to {}", full_time(a), full_time(b))),
        live: data.origin == Origin::Live,
        inputs: inputs(data),
        notes: data.notes.iter().map(|n| escape(n).into_owned()).collect(),
        timeline: timeline::timeline(data),
        verdicts: timeline::verdict_chart(data),
        bars: bar_charts(data),
        chart_w: timeline::chart_width(),
        show_configured: !data.configured.is_empty(),
        resolvers,
        resolvers_more,
        names_top,
        names_all,
        names_note,
        flows,
        flows_more,
        encrypted: encrypted(data),
        causes: causes(data),
        notices,
        notices_note,
        interfaces: interfaces(data),
        unparsed: unparsed(data),
        dropped: dropped(data),
        packets: FrameClass::ALL
            .iter()
            .filter(|c| st.frames_in(**c) > 0)
            .map(|c| (c.as_str().to_string(), count(st.frames_in(*c))))
            .chain([("total".to_string(), count(st.frames))])
            .collect(),
        generated: data.generated.map(full_time),
        version: env!("CARGO_PKG_VERSION"),
    }
}

fn status_word(status: &str) -> &'static str {
    match status {
        "leaking" => "LEAKING",
        "clean" => "clean",
        _ => "no DNS seen",
    }
}

fn banner(leaks: u64, bypasses: u64, traffic: u64) -> (&'static str, String) {
    if leaks + bypasses > 0 {
        let s = |n: u64| if n == 1 { "" } else { "s" };
        let mut parts = Vec::new();
        if leaks > 0 {
            parts.push(format!("{} plaintext DNS message{} left outside the tunnel", count(leaks), s(leaks)));
        }
        if bypasses > 0 {
            parts.push(format!("{} encrypted DNS flow{} went around it", count(bypasses), s(bypasses)));
        }
        ("leaking", format!("Leaking: {}", parts.join(", ")))
    } else if traffic > 0 {
        (
            "clean",
            format!(
                "Clean: all {} DNS messages and flows stayed in the tunnel or on this machine",
                count(traffic)
            ),
        )
    } else {
        ("empty", "No DNS seen: no DNS message or encrypted DNS flow was in the input".to_string())
    }
}

fn figures(data: &ReportData) -> Vec<Figure> {
    let st = &data.counters.core;
    let bad = |n: u64| if n > 0 { "bad" } else { "" };
    let leaks = st.verdict_count(Verdict::Leak);
    let bypasses = st.verdict_count(Verdict::Bypass);
    let messages =
        st.events_of(dnsleak_core::EventKind::Query) + st.events_of(dnsleak_core::EventKind::Response);
    let through = st.verdict_count(Verdict::Tunnel);
    let critical: u64 =
        data.notice_counts.iter().filter(|(c, _)| timeline::severity(c) == "bad").map(|(_, n)| n).sum();
    let mut v = vec![
        Figure { label: "leaked messages", value: count(leaks), class: bad(leaks) },
        Figure { label: "bypassing flows", value: count(bypasses), class: bad(bypasses) },
        Figure { label: "leaked names", value: leaked_distinct(data), class: bad(data.leaked.queries) },
        Figure { label: "DNS messages", value: count(messages), class: "" },
        Figure {
            label: "encrypted flows",
            value: count(st.events_of(dnsleak_core::EventKind::Encrypted)),
            class: "",
        },
        Figure { label: "through the tunnel", value: count(through), class: "" },
        Figure { label: "tunnel down / kill switch", value: count(critical), class: bad(critical) },
    ];
    if let Some((a, b)) = data.span {
        v.push(Figure { label: "capture time", value: span_text(b.since(a)), class: "" });
    }
    v
}

fn leaked_distinct(data: &ReportData) -> String {
    let d = count(data.leaked.distinct as u64);
    if data.leaked.saturated {
        format!("> {d}")
    } else {
        d
    }
}

/// "2.9 s", "12 min 5 s", "3 h 20 min", "2 days 4 h".
fn span_text(ns: u64) -> String {
    let s = ns / 1_000_000_000;
    match s {
        0..60 => format!("{:.1} s", ns as f64 / 1e9),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s / 60 % 60),
        _ => format!("{} days {} h", s / 86_400, s / 3600 % 24),
    }
}

fn inputs(data: &ReportData) -> Vec<InputView> {
    let Origin::Replay(files) = &data.origin else { return Vec::new() };
    files
        .iter()
        .map(|f| InputView {
            name: escape(&f.name).into_owned(),
            format: f.format.clone(),
            packets: count(f.packets),
            size: f.size.map_or("-".into(), |s| format!("{} bytes", count(s))),
            sha256: f.sha256.clone().unwrap_or_else(|| "-".into()),
            note: f.note.as_deref().map(|n| escape(n).into_owned()),
        })
        .collect()
}

fn addr_port(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V6(a) => format!("[{a}]:{port}"),
        a => format!("{a}:{port}"),
    }
}

fn resolvers(data: &ReportData) -> (Vec<ResolverView>, Option<String>) {
    let mut rows: Vec<&ResolverRow> = data.resolvers.iter().collect();
    rows.sort_by_key(|r| !matches!(r.verdict(), Some(Verdict::Leak | Verdict::Bypass)));
    let more = more(rows.len() as u64 + data.resolvers_overflow, MAX_TABLE_ROWS, "resolver rows");
    let views = rows
        .iter()
        .take(MAX_TABLE_ROWS)
        .map(|r| ResolverView {
            addr: addr_port(r.addr, r.port),
            provider: r.provider.unwrap_or("").to_string(),
            iface: escape(&r.iface).into_owned(),
            transport: transport_name(r.transport, None),
            queries: count(r.queries),
            responses: count(r.responses),
            verdict: r.verdict().map_or("", Verdict::as_str),
            configured: match data.configured.iter().find(|(a, _)| *a == r.addr) {
                Some((_, true)) => "yes",
                Some((_, false)) => "no",
                None => "",
            },
        })
        .collect();
    (views, more)
}

fn more(total: u64, shown: usize, what: &str) -> Option<String> {
    (total > shown as u64).then(|| format!("and {} more {what} not listed", count(total - shown as u64)))
}

fn names(data: &ReportData) -> (Vec<NameView>, Vec<NameView>, String) {
    let l = &data.leaked;
    let top = l.names.first().map_or(1, |n| n.count.max(1));
    let view = |n: &crate::output::report::NameCount| NameView {
        name: escape(&n.name).into_owned(),
        count: count(n.count),
        pct: ((n.count as f64 / top as f64) * 100.0).round().clamp(1.0, 100.0) as u32,
        approx: (n.error > 0).then(|| format!("between {} and {}", count(n.count - n.error), count(n.count))),
    };
    let all: Vec<NameView> = l.names.iter().take(MAX_TABLE_ROWS).map(view).collect();
    let note = if l.saturated {
        format!(
            "{} leaked queries; more than {} distinct names, so the table keeps the {} most frequent (a count may include up to the stated error of names it replaced).",
            count(l.queries),
            count(l.distinct as u64),
            count(l.names.len() as u64)
        )
    } else {
        let s = |n: u64| if n == 1 { "" } else { "s" };
        let (q, d) = (l.queries, l.distinct as u64);
        format!(
            "{} leaked quer{} for {} distinct name{}.",
            count(q),
            if q == 1 { "y" } else { "ies" },
            count(d),
            s(d)
        )
    };
    (
        all.iter().take(TOP_NAMES).cloned().collect(),
        if all.len() > TOP_NAMES { all } else { Vec::new() },
        note,
    )
}

/// A transport as the report names it: DoT, DoH, DoH3 (with `proto`: DoH on QUIC), DoQ,
/// DNSCrypt; plaintext ones DNS, mDNS, LLMNR.
fn transport_name(transport: Transport, proto: Option<dnsleak_core::L4>) -> &'static str {
    let proto = proto.unwrap_or(dnsleak_core::L4::Tcp);
    match FlowCarrier::of(transport, proto) {
        // Without the flow's protocol, DoH is DoH on either.
        Some(c) => carrier_name(c),
        None => match transport {
            Transport::Mdns => "mDNS",
            Transport::Llmnr => "LLMNR",
            _ => "DNS",
        },
    }
}

/// Every encrypted DNS flow by protocol and verdict.
fn encrypted(data: &ReportData) -> Vec<EncryptedView> {
    let n = |r: &[u64; 5], v: Verdict| r[v as usize];
    data.encrypted
        .iter()
        .map(|r| EncryptedView {
            name: carrier_name(r.protocol),
            what: carrier_what(r.protocol),
            first: full_time(r.first),
            tunnel: count(n(&r.verdicts, Verdict::Tunnel)),
            bypass: count(n(&r.verdicts, Verdict::Bypass) + n(&r.verdicts, Verdict::Leak)),
            exposed: n(&r.verdicts, Verdict::Bypass) + n(&r.verdicts, Verdict::Leak) > 0,
            local: count(n(&r.verdicts, Verdict::Local) + n(&r.verdicts, Verdict::Multicast)),
        })
        .collect()
}

/// Bypassing flows grouped by interface, server, transport and server name, in order of
/// first appearance.
fn flows(data: &ReportData) -> (Vec<FlowView>, Option<String>) {
    let mut groups: Vec<(&FlowRow, u64)> = Vec::new();
    let mut index: HashMap<(&str, IpAddr, u16, &str, Option<&str>), usize> = HashMap::new();
    for f in &data.flows {
        let key = (
            f.iface.as_str(),
            f.server,
            f.port,
            transport_name(f.transport, Some(f.proto)),
            f.sni.as_deref(),
        );
        match index.get(&key) {
            Some(i) => groups[*i].1 += 1,
            None => {
                index.insert(key, groups.len());
                groups.push((f, 1));
            }
        }
    }
    let views = groups
        .iter()
        .take(MAX_FLOW_ROWS)
        .map(|(f, n)| FlowView {
            time: chart::clock(f.ts.0, 1),
            frame: f.frame,
            flows: count(*n),
            iface: escape(&f.iface).into_owned(),
            server: addr_port(f.server, f.port),
            transport: transport_name(f.transport, Some(f.proto)),
            sni: f.sni.as_deref().map_or(String::new(), |s| escape(s).into_owned()),
            provider: f.provider.unwrap_or("").to_string(),
        })
        .collect();
    let mut note = more(groups.len() as u64, MAX_FLOW_ROWS, "groups of flows");
    if data.flows_overflow > 0 {
        let beyond = format!(
            "{} flows beyond the first {} were counted, not kept",
            count(data.flows_overflow),
            count(data.flows.len() as u64)
        );
        note = Some(note.map_or(beyond.clone(), |n| format!("{n}; {beyond}")));
    }
    (views, note)
}

fn causes(data: &ReportData) -> Vec<CauseView> {
    data.causes
        .iter()
        .map(|c| CauseView {
            cause: escape(&c.cause).into_owned(),
            detail: c.detail.as_deref().map(|d| escape(d).into_owned()),
            // Escaped line by line: the commands keep their lines (`white-space: pre-wrap`).
            fix: c.fix.as_deref().map(|d| d.lines().map(|l| escape(l)).collect::<Vec<_>>().join("\n")),
            count: count(c.count),
        })
        .collect()
}

fn notices(data: &ReportData) -> (Vec<NoticeView>, Option<String>) {
    let views: Vec<NoticeView> = timeline::numbered(data)
        .into_iter()
        .map(|(num, n)| NoticeView {
            num,
            time: chart::clock(n.ts.0, 1),
            frame: n.frame,
            code: n.code,
            severity: timeline::severity(n.code),
            text: escape(&n.text).into_owned(),
        })
        .collect();
    let all: u64 = data.notice_counts.iter().map(|(_, n)| n).sum();
    let note = (all > views.len() as u64).then(|| {
        let by: Vec<String> = data.notice_counts.iter().map(|(c, n)| format!("{c} {}", count(*n))).collect();
        format!("The first {} of {} notices are listed ({}).", views.len(), count(all), by.join(", "))
    });
    (views, note)
}

fn interfaces(data: &ReportData) -> Vec<IfaceView> {
    data.interfaces
        .iter()
        .filter(|r| r.verdicts.iter().sum::<u64>() + r.malformed > 0)
        .map(|r| IfaceView {
            name: escape(&r.name).into_owned(),
            kind: r.kind.map_or("", IfaceKind::as_str),
            verdicts: r.verdicts.iter().map(|n| count(*n)).collect(),
            exposed: r.verdicts[Verdict::Leak as usize] + r.verdicts[Verdict::Bypass as usize] > 0,
            malformed: count(r.malformed),
        })
        .collect()
}

/// Leaks by resolver, cause and program (the last two when the events carry them).
fn bar_charts(data: &ReportData) -> Vec<HBars> {
    // By address and provider: a LAN resolver that also answers DoH for a provider's name is
    // two rows, not one named after the provider.
    let mut by_addr: Vec<(IpAddr, Option<&str>, u64, u64)> = Vec::new();
    for r in &data.resolvers {
        let (l, b) = (r.verdicts[Verdict::Leak as usize], r.verdicts[Verdict::Bypass as usize]);
        if l + b == 0 {
            continue;
        }
        match by_addr.iter_mut().find(|e| e.0 == r.addr && e.1 == r.provider) {
            Some(e) => (e.2, e.3) = (e.2 + l, e.3 + b),
            None => by_addr.push((r.addr, r.provider, l, b)),
        }
    }
    by_addr.sort_by(|a, b| (b.2 + b.3).cmp(&(a.2 + a.3)).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
    let mut charts = Vec::new();
    if !by_addr.is_empty() {
        let rows = by_addr
            .iter()
            .map(|(a, p, l, b)| BarInput {
                label: p.map_or(a.to_string(), |p| format!("{a} ({p})")),
                segs: vec![("leak", *l), ("bypass", *b)],
                what: "leaked or bypassing messages and flows".into(),
            })
            .collect();
        let mut c = hbars("by-resolver", "Leaks and bypasses by resolver".into(), rows, MAX_BARS);
        c.legend = vec![("leak", "leak"), ("bypass", "bypass")];
        charts.push(c);
    }
    let simple = |id, title: &str, rows: Vec<(String, u64)>| {
        let rows = rows
            .into_iter()
            .map(|(label, n)| BarInput { label, segs: vec![("leak", n)], what: "exposures".into() })
            .collect();
        hbars(id, title.to_string(), rows, MAX_BARS)
    };
    if !data.causes.is_empty() {
        let rows = data.causes.iter().map(|c| (escape(&c.cause).into_owned(), c.count)).collect();
        charts.push(simple("by-cause", "Leaks and bypasses by cause", rows));
    }
    if !data.programs.is_empty() {
        let rows = data.programs.iter().map(|(p, n)| (escape(p).into_owned(), *n)).collect();
        charts.push(simple("by-program", "Leaks and bypasses by program", rows));
    }
    charts
}

fn unparsed(data: &ReportData) -> Vec<(String, String)> {
    let st = &data.counters.core;
    let mut v: Vec<(String, u64)> =
        st.malformed.iter().map(|(m, n)| (format!("DNS messages: {m}"), *n)).collect();
    v.push((
        "frames broken below DNS (link, IP or transport header)".into(),
        st.frames_in(FrameClass::Undecodable),
    ));
    v.push(("frames of an unsupported link type".into(), st.frames_in(FrameClass::Unsupported)));
    v.push(("holes in DNS-over-TCP streams".into(), st.tcp.gaps));
    v.push(("bytes lost in those holes".into(), st.tcp.bytes_lost));
    v.push(("IP datagrams whose fragments never all arrived".into(), st.frag.timed_out));
    v.push(("inconsistent IP fragments".into(), st.frag.invalid));
    v.push((
        "QUIC connections whose ClientHello could not be read whole (judged by port and address)".into(),
        st.quic_given_up,
    ));
    nonzero(v)
}

fn dropped(data: &ReportData) -> Vec<(String, String)> {
    let st = &data.counters.core;
    let mut v: Vec<(String, u64)> = vec![
        ("TCP streams dropped to keep memory bounded".into(), st.tcp.flows_evicted),
        ("IP datagrams in reassembly dropped to keep memory bounded".into(), st.frag.evicted),
        ("pending queries dropped to keep memory bounded".into(), st.pairs.evicted),
        ("encrypted-flow records dropped to keep memory bounded".into(), st.encrypted_flows_evicted),
        ("queries never answered".into(), st.pairs.unanswered),
        ("responses whose query was not seen".into(), st.pairs.unmatched_responses),
        ("messages to resolvers beyond the report's resolver table".into(), data.resolvers_overflow),
        ("bypassing flows beyond the report's flow table".into(), data.flows_overflow),
        ("events on interfaces beyond the timeline's lanes".into(), data.lanes_overflow),
        ("exposures whose cause did not fit the cause table".into(), data.causes_overflow),
        ("exposures whose program did not fit the program table".into(), data.programs_overflow),
    ];
    if let Some(h) = data.on_leak {
        v.push(("--on-leak commands not run (queue full, or the monitor stopping)".into(), h.dropped));
        v.push(("--on-leak commands that failed".into(), h.failed));
    }
    for c in &data.counters.capture {
        let name = escape(&c.iface);
        v.push((format!("{name}: frames dropped, dnsleak's pipeline full"), c.dropped_pipeline));
        v.push((format!("{name}: frames dropped by the kernel"), c.dropped_kernel));
        v.push((format!("{name}: frames dropped by the interface"), c.dropped_iface));
    }
    nonzero(v)
}

fn nonzero(v: Vec<(String, u64)>) -> Vec<(String, String)> {
    v.into_iter().filter(|(_, n)| *n > 0).map(|(s, n)| (s, count(n))).collect()
}

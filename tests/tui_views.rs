//! Every view of the dashboard, drawn from hand-made judged events on ratatui's TestBackend and
//! kept as insta snapshots: normal, leaking, tunnel down, detail, help, filter, narrow 80x24,
//! empty; plus colour, escaping and bounds.

mod support;
mod tui_common;

use dnsleak::counters::{CaptureCounters, Counters};
use dnsleak::tui::app::{App, Source, VerdictFilter};
use dnsleak::tui::keys::Action;
use dnsleak::tui::model::{Model, Safety, EVENT_CAP};
use dnsleak_core::{EventKind, Notice, Stats, Transport};
use ratatui::style::Color;
use tui_common::*;

fn counters() -> Counters {
    let core = Stats { frames: 1234, events: [20, 18, 1, 2, 1], ..Default::default() };
    Counters {
        core,
        capture: vec![CaptureCounters { iface: "eth0".into(), received: 900, ..Default::default() }],
        bytes_read: 4096,
        bytes_total: Some(4096),
        ..Default::default()
    }
}

/// A session through the tunnel: the normal view.
fn normal() -> (App, Model) {
    let topo = topology(true);
    let mut m = Model::new();
    tunnel_session(&mut m, &topo);
    m.apply_counters(&counters());
    let app = replay_app(&m);
    (app, m)
}

/// The tunnel drops and DNS leaks on eth0.
fn leaking() -> (App, Model) {
    let (_, mut m) = normal();
    let down = topology(false);
    m.apply_topology(&down);
    notice(&mut m, &down, 31.0, 1, Notice::TunnelDown { iface: "wg0".into(), none_up: true });
    notice(&mut m, &down, 32.0, 0, Notice::KillSwitchFailed { iface: "eth0".into() });
    leaks(&mut m, &down, 32.0);
    let app = replay_app(&m);
    (app, m)
}

fn screen(app: &App, m: &Model, w: u16, h: u16) -> String {
    draw(app, m, w, h).backend().to_string()
}

#[test]
fn view_normal_wide() {
    let (app, m) = normal();
    assert_eq!(m.safety(app.now), Safety::Safe);
    insta::assert_snapshot!(screen(&app, &m, 140, 40));
}

#[test]
fn view_normal_narrow_80x24() {
    let (app, m) = normal();
    insta::assert_snapshot!(screen(&app, &m, 80, 24));
}

#[test]
fn view_leaking() {
    let (app, m) = leaking();
    assert!(matches!(m.safety(app.now), Safety::Leaking(e) if e.count == 7));
    insta::assert_snapshot!(screen(&app, &m, 140, 40));
}

#[test]
fn view_leaking_narrow_80x24() {
    let (app, m) = leaking();
    insta::assert_snapshot!(screen(&app, &m, 80, 24));
}

#[test]
fn view_tunnel_down_without_leaks() {
    let (_, mut m) = normal();
    let down = topology(false);
    m.apply_topology(&down);
    notice(&mut m, &down, 31.0, 1, Notice::TunnelDown { iface: "wg0".into(), none_up: true });
    let app = replay_app(&m);
    assert!(matches!(m.safety(app.now), Safety::TunnelDown { since: Some(_) }));
    insta::assert_snapshot!(screen(&app, &m, 100, 30));
}

#[test]
fn view_detail_of_a_leaked_response() {
    let (mut app, m) = leaking();
    app.verdicts = VerdictFilter::Exposures;
    app.apply(Action::Down, &m); // from the DoH flow to the last leaked response
    app.apply(Action::Open, &m);
    assert!(app.detail);
    let s = screen(&app, &m, 100, 30);
    assert!(s.contains("plaintext response from 192.0.2.1 arrived by eth0"), "{s}");
    assert!(s.contains("192.0.2.80"), "the answer is decoded: {s}");
    // Why it leaked, the evidence, and the fix (the kill switch, for this tunnel).
    assert!(
        s.contains("cause     tunnel_down") && s.contains("evidence  no tunnel is up, after one was"),
        "{s}"
    );
    assert!(s.contains("fix       The VPN (wg0) went down") && s.contains("PostUp = iptables"), "{s}");
    insta::assert_snapshot!(s);
}

/// On a small terminal the detail is taller than its pane: it scrolls a page at a time with
/// PgUp/PgDn (the title says which rows), so the fix, shown last, can be read; another event
/// starts at its top.
#[test]
fn the_detail_scrolls_to_its_fix_on_a_small_terminal() {
    let (mut app, m) = leaking();
    app.verdicts = VerdictFilter::Exposures;
    app.apply(Action::Down, &m);
    app.apply(Action::Open, &m);
    let top = screen(&app, &m, 80, 16);
    assert!(top.contains("event     #34") && !top.contains("PreDown = iptables"), "{top}");
    assert!(top.contains("PgUp PgDn scroll: rows 1-"), "the title says it scrolls: {top}");
    let mut pages = 0;
    let bottom = loop {
        app.apply(Action::PageDown, &m);
        pages += 1;
        let s = screen(&app, &m, 80, 16);
        if s.contains("PreDown = iptables") || pages == 10 {
            break s;
        }
    };
    assert!(bottom.contains("PreDown = iptables") && bottom.contains("-j REJECT"), "{bottom}");
    assert!(!bottom.contains("event     #34"), "scrolled: {bottom}");
    // Past the end it stays at the end.
    app.apply(Action::PageDown, &m);
    assert_eq!(screen(&app, &m, 80, 16), bottom);
    for _ in 0..pages {
        app.apply(Action::PageUp, &m);
    }
    assert_eq!(screen(&app, &m, 80, 16), top, "back at the top");
    app.apply(Action::PageDown, &m);
    app.apply(Action::Up, &m);
    let other = screen(&app, &m, 80, 16);
    assert!(other.contains("event     #") && other.contains("rows 1-"), "{other}");
    assert!(app.detail, "the detail stays open on the other event");
}

#[test]
fn view_help_overlay() {
    let (mut app, m) = normal();
    app.apply(Action::ToggleHelp, &m);
    insta::assert_snapshot!(screen(&app, &m, 80, 24));
}

#[test]
fn view_filter_by_name_and_verdict() {
    let (mut app, m) = leaking();
    app.apply(Action::StartFilter, &m);
    for c in "secret1".chars() {
        app.apply(Action::FilterChar(c), &m);
    }
    let s = screen(&app, &m, 100, 30);
    assert!(s.contains("name: secret1"), "{s}");
    assert!(!s.contains("host3.example.com"), "{s}");
    insta::assert_snapshot!("filter_typing", s);
    app.apply(Action::FilterApply, &m);
    app.apply(Action::Back, &m); // clears the name
    app.apply(Action::CycleVerdict, &m);
    insta::assert_snapshot!("filter_leak_bypass", screen(&app, &m, 100, 30));
}

#[test]
fn view_empty() {
    let m = Model::new();
    let app = App::new(Source::Live { started: at(0.0) });
    let s = screen(&app, &m, 80, 24);
    assert!(s.contains("WAITING"), "{s}");
    assert!(s.contains("No DNS events yet"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn view_resolvers_and_interfaces_panes_narrow() {
    let (mut app, m) = leaking();
    app.apply(Action::NextPane, &m);
    insta::assert_snapshot!("pane_resolvers", screen(&app, &m, 80, 24));
    app.apply(Action::NextPane, &m);
    insta::assert_snapshot!("pane_interfaces", screen(&app, &m, 80, 24));
}

#[test]
fn leaking_is_said_in_colour_and_in_words() {
    let (app, m) = leaking();
    let t = draw(&app, &m, 100, 30);
    let buf = t.backend().buffer();
    assert_eq!(buf[(1, 0)].bg, Color::Red);
    let s = t.backend().to_string();
    assert!(s.contains("LEAKING since 10:00:32"), "{s}");
    // The leaked rows say LEAK in capitals and are red.
    let row = (0..30u16)
        .find(|y| (0..100u16).map(|x| buf[(x, *y)].symbol()).collect::<String>().contains("LEAK "))
        .unwrap();
    let x =
        (0..100u16).find(|x| buf[(*x, row)].symbol() == "L" && buf[(*x + 1, row)].symbol() == "E").unwrap();
    assert_eq!(buf[(x, row)].fg, Color::Red);
    let (app_ok, m_ok) = normal();
    assert_eq!(draw(&app_ok, &m_ok, 100, 30).backend().buffer()[(1, 0)].bg, Color::Green);
}

#[test]
fn names_with_escape_sequences_are_shown_escaped() {
    let topo = topology(true);
    let mut m = Model::new();
    m.apply_topology(&topo);
    feed(&mut m, &topo, query(1.0, 0, "192.0.2.10", "192.0.2.1", "evil\x1b[2J\x07.example"));
    let mut app = replay_app(&m);
    let s = screen(&app, &m, 100, 30);
    assert!(s.contains(r"evil\x1b[2J\x07.example"), "{s}");
    app.apply(Action::Open, &m);
    let t = draw(&app, &m, 100, 30);
    let s = t.backend().to_string();
    assert!(s.contains(r"evil\x1b[2J\x07.example"), "{s}");
    for cell in t.backend().buffer().content() {
        assert!(!cell.symbol().chars().any(|c| c.is_control()), "control character reached the screen");
    }
}

#[test]
fn the_event_ring_and_tables_stay_bounded() {
    let topo = topology(true);
    let mut m = Model::new();
    m.apply_topology(&topo);
    for i in 0..(EVENT_CAP + 500) {
        let server = format!("fd00::{:x}", i % 400);
        let mut s = query(i as f64 * 0.001, 0, "fd00::10", &server, "x.example");
        s.transport = if i % 2 == 0 { Transport::Dns } else { Transport::Dot };
        s.kind = if i % 2 == 0 { EventKind::Query } else { EventKind::Encrypted };
        feed(&mut m, &topo, s);
    }
    assert_eq!(m.events.len(), EVENT_CAP);
    assert_eq!(m.events_seen(), (EVENT_CAP + 500) as u64);
    assert!(m.tables.resolver_rows().len() <= dnsleak::tui::model::RESOLVER_CAP);
    assert!(m.tables.resolvers_overflow > 0);
    assert!(m.series.len() <= dnsleak::tui::model::SERIES_SECS);
}

#[test]
fn tiny_and_odd_terminal_sizes_never_panic() {
    let (mut app, m) = leaking();
    for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10), (79, 23), (119, 33), (120, 34), (300, 100)] {
        for detail in [false, true] {
            for help in [false, true] {
                app.detail = detail;
                app.help = help;
                draw(&app, &m, w, h);
            }
        }
    }
}

/// What live capture says while the dashboard owns the terminal (an interface it cannot open)
/// is counted and shown in the dashboard, escaped, instead of being printed over it.
#[test]
fn capture_diagnostics_are_shown_escaped_in_the_counters_line() {
    let (app, mut m) = normal();
    m.apply_diagnostic("cannot capture on eth9: No such device; it is not watched".into());
    m.apply_diagnostic("cannot capture on ev\u{1b}[2Jil: No such device; it is not watched".into());
    let text = screen(&app, &m, 160, 40);
    assert!(text.contains("warnings 2: cannot capture on ev\\x1b[2Jil"), "{text}");
    assert!(!text.contains('\u{1b}'), "no escape sequence reaches the terminal");
}

/// Live attribution: a program column after the name ("dig", "firefox via dnsmasq", "?"),
/// the method's coverage in the counters line, the sender in the detail pane; names escaped.
#[test]
fn programs_have_a_column_the_coverage_and_the_detail() {
    use dnsleak::counters::ProcessCounters;
    use dnsleak_core::{Attribution, Owner, Process, ProcessStats};
    use std::sync::Arc;
    let topo = topology(false);
    let mut m = Model::new();
    m.apply_topology(&topo);
    let p = |pid, name: &str, exe: Option<&str>| Process {
        pid,
        name: name.into(),
        exe: exe.map(Into::into),
        uid: Some(1000),
    };
    let owners = [
        Owner { process: Attribution::Process(p(4242, "dig", Some("/usr/bin/dig"))), on_behalf_of: None },
        Owner {
            process: Attribution::Process(p(77, "dnsmasq", None)),
            on_behalf_of: Some(p(1200, "fire\u{1b}[2Jfox", None)),
        },
        Owner { process: Attribution::Unknown, on_behalf_of: None },
    ];
    for (i, owner) in owners.into_iter().enumerate() {
        let name = format!("p{i}.example");
        let mut ev = event(&topo, &query(1.0 + i as f64, 0, "192.0.2.10", "192.0.2.1", &name));
        if let dnsleak_core::event::Body::Message(msg) = &mut ev.body {
            msg.owner = Some(Arc::new(owner));
        }
        m.apply_event(&judged(&topo, ev), None);
    }
    let mut c = counters();
    c.core.processes = Some(ProcessStats { attributed: 2, unattributed: 1, ..Default::default() });
    c.processes = Some(ProcessCounters { method: "ebpf", ..Default::default() });
    m.apply_counters(&c);
    let mut app = replay_app(&m);
    let s = screen(&app, &m, 140, 40);
    assert!(s.contains("program"), "{s}");
    assert!(s.contains("programs ebpf: 2/3 named"), "{s}");
    assert!(s.contains(r"fire\x1b[2Jfox") && !s.contains('\u{1b}'), "{s}");
    insta::assert_snapshot!(s);
    // Newest first: the unknown one, then (two down) dig with its pid, user and executable.
    app.apply(Action::Open, &m);
    assert!(screen(&app, &m, 140, 40).contains("program   unknown (no socket of this host"));
    app.apply(Action::Down, &m);
    assert!(screen(&app, &m, 140, 40).contains(r"for       fire\x1b[2Jfox (pid 1200, uid 1000)"));
    app.apply(Action::Down, &m);
    let s = screen(&app, &m, 140, 40);
    assert!(s.contains("dig (pid 4242, uid 1000) /usr/bin/dig"), "{s}");
    // Narrower than 136 columns the name keeps its room: no column (the detail has it).
    app.detail = false;
    let s = screen(&app, &m, 120, 30);
    assert!(s.contains("p0.example") && !s.contains(" program "), "{s}");
}

/// Encrypted flows by carrier, those judged without their QUIC ClientHello, and those dropped
/// at the flow table's cap are counted in the counters line (only when there are some).
#[test]
fn unfinished_encrypted_dns_is_shown_in_the_counters_line() {
    let (app, mut m) = normal();
    assert!(!screen(&app, &m, 160, 40).contains("QUIC unread"));
    let mut c = counters();
    c.core.quic_given_up = 4;
    c.core.encrypted_flows_evicted = 2;
    m.apply_counters(&c);
    let text = screen(&app, &m, 160, 40);
    assert!(text.contains("encrypted 1 (QUIC unread 4, evicted 2) · unparsed"), "{text}");
    c.core.encrypted_flows = [0, 0, 1, 0, 2];
    m.apply_counters(&c);
    let text = screen(&app, &m, 180, 40);
    assert!(text.contains("(doh/h3 1, dnscrypt 2 (1 over QUIC); QUIC unread 4, evicted 2)"), "{text}");
}

/// `r`: per interface, the servers the system is configured with beside the resolvers seen; a
/// resolver no configuration names is marked, and what could not be read is said. Text from
/// the OS is escaped.
#[test]
fn view_resolvers_configured_vs_seen() {
    use dnsleak_core::dnsconfig::{DnsScope, DnsServer, ResolvConf, ResolvedConfig, Source as From, Unread};
    let (mut app, mut m) = leaking();
    let ip = |s: &str| s.parse().unwrap();
    let link = |iface: &str, server: &str| DnsScope {
        ifindex: 3,
        iface: iface.into(),
        servers: vec![DnsServer::plain(ip(server))],
        ..Default::default()
    };
    m.apply_resolvers(Box::new(dnsleak_core::ResolverConfig {
        resolv_conf: Some(ResolvConf { nameservers: vec![ip("127.0.0.53")], ..Default::default() }),
        resolved: Some(ResolvedConfig {
            links: vec![link("wg0", "198.51.100.1"), link("eth0", "192.0.2.1")],
            ..Default::default()
        }),
        network_manager: None,
        unread: vec![Unread { source: From::NetworkManager, why: "not running\x1b[2J".into() }],
    }));
    app.apply(Action::ToggleConfigured, &m);
    let s = screen(&app, &m, 100, 34);
    assert!(s.contains("Resolvers: configured vs seen"), "{s}");
    assert!(s.contains("DNS managed by systemd-resolved"), "{s}");
    assert!(s.contains(r"not read: NetworkManager: not running\x1b[2J"), "{s}");
    let after = |what: &str| s.split(what).nth(1).unwrap_or("").to_string();
    assert!(after("eth0 (physical)").contains("configured 192.0.2.1"), "{s}");
    assert!(after("wg0 (tunnel)").contains("configured 198.51.100.1"), "{s}");
    assert!(
        after("eth0 (physical)").contains("203.0.113.53 doh (1 out, 0 back, 1 leaked) NOT CONFIGURED"),
        "{s}"
    );
    insta::assert_snapshot!(s);
    app.apply(Action::Back, &m);
    assert!(!app.configured);
    // Replay: nothing says what the system was configured with.
    let (mut app, m) = leaking();
    app.apply(Action::ToggleConfigured, &m);
    let s = screen(&app, &m, 100, 30);
    assert!(s.contains("Configured: not known (a capture file does not record"), "{s}");
    assert!(s.contains("configured unknown"), "{s}");
}

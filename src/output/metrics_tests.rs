use super::*;
use crate::counters::CaptureCounters;
use crate::output::testing::judged;
use dnsleak_core::cause::{Cause, Caused};
use dnsleak_core::{Event, IfaceFacts, Notice, Overrides, Stats};

fn message(iface: &str, kind: EventKind, verdict: Verdict, dst: [u8; 4], ts: i64) -> Judged {
    judged(iface, kind, verdict, dst, ts, "example.com")
}

fn text(t: &Tally) -> String {
    let published = Arc::new(Mutex::new(t.clone()));
    Exposition::text(&Exposition { published, hooks: None }.registry())
}

#[test]
fn messages_flows_and_resolvers_are_counted_by_their_labels() {
    let mut t = Tally::default();
    for _ in 0..3 {
        t.observe(&message("eth0", EventKind::Query, Verdict::Leak, [192, 0, 2, 1], 1000));
    }
    t.observe(&message("wg0", EventKind::Query, Verdict::Tunnel, [198, 51, 100, 1], 2000));
    t.observe(&message("eth0", EventKind::Encrypted, Verdict::Bypass, [192, 0, 2, 9], 3000));
    let out = text(&t);
    assert!(
        out.contains(
            r#"dnsleak_dns_messages_total{interface="eth0",kind="query",verdict="leak",transport="dns"} 3"#
        ),
        "{out}"
    );
    assert!(
        out.contains(
            r#"dnsleak_dns_messages_total{interface="wg0",kind="query",verdict="tunnel",transport="dns"} 1"#
        ),
        "{out}"
    );
    assert!(
        out.contains(r#"dnsleak_encrypted_flows_total{interface="eth0",verdict="bypass",transport="dot"} 1"#),
        "{out}"
    );
    assert!(
        out.contains(r#"dnsleak_leaks_by_resolver_total{resolver="192.0.2.1",verdict="leak"} 3"#),
        "{out}"
    );
    assert!(
        out.contains(r#"dnsleak_leaks_by_resolver_total{resolver="192.0.2.9",verdict="bypass"} 1"#),
        "{out}"
    );
    assert!(out.contains("dnsleak_last_leak_timestamp_seconds 3.0\n"), "{out}");
    assert!(
        out.contains(&format!("dnsleak_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
}

/// Leaks and bypasses carry their cause as a label (a closed vocabulary: bounded); other
/// verdicts go without it.
#[test]
fn leaks_are_counted_by_cause() {
    let mut t = Tally::default();
    for cause in [Cause::LanResolver, Cause::LanResolver, Cause::StubUpstream] {
        let mut j = message("eth0", EventKind::Query, Verdict::Leak, [192, 0, 2, 1], 1000);
        j.cause = Some(Caused::new(cause, None, None));
        t.observe(&j);
    }
    t.observe(&message("wg0", EventKind::Query, Verdict::Tunnel, [198, 51, 100, 1], 2000));
    let out = text(&t);
    let series = |cause: &str, n: u64| {
        format!(
            r#"dnsleak_dns_messages_total{{interface="eth0",kind="query",verdict="leak",transport="dns",cause="{cause}"}} {n}"#
        )
    };
    assert!(out.contains(&series("lan_resolver", 2)), "{out}");
    assert!(out.contains(&series("stub_upstream", 1)), "{out}");
    assert!(
        out.contains(
            r#"dnsleak_dns_messages_total{interface="wg0",kind="query",verdict="tunnel",transport="dns"} 1"#
        ),
        "{out}"
    );
    let labels = out.lines().filter_map(|l| l.split("cause=\"").nth(1)).filter_map(|r| r.split('"').next());
    for l in labels {
        assert!(Cause::ALL.iter().any(|c| c.as_str() == l), "{l} is in the vocabulary");
    }
}

#[test]
fn interface_and_resolver_labels_are_capped_with_an_other_bucket() {
    let mut t = Tally::default();
    for i in 0..MAX_IFACE_LABELS + 10 {
        t.observe(&message(&format!("if{i}"), EventKind::Query, Verdict::Leak, [192, 0, 2, i as u8], 0));
    }
    let out = text(&t);
    let messages = out.lines().filter(|l| l.starts_with("dnsleak_dns_messages_total{")).count();
    assert_eq!(messages, MAX_IFACE_LABELS + 1, "{out}");
    assert!(
        out.contains(
            r#"dnsleak_dns_messages_total{interface="other",kind="query",verdict="leak",transport="dns"} 10"#
        ),
        "{out}"
    );
    let resolvers = out.lines().filter(|l| l.starts_with("dnsleak_leaks_by_resolver_total{")).count();
    assert_eq!(resolvers, MAX_RESOLVER_LABELS + 1, "{out}");
    let other = (MAX_IFACE_LABELS + 10 - MAX_RESOLVER_LABELS).to_string();
    assert!(
        out.contains(&format!(
            "dnsleak_leaks_by_resolver_total{{resolver=\"other\",verdict=\"leak\"}} {other}"
        )),
        "{out}"
    );
}

#[test]
fn interface_names_are_escaped_in_labels() {
    let mut t = Tally::default();
    t.observe(&message("e\"v\u{1b}]0;x\n", EventKind::Query, Verdict::Leak, [192, 0, 2, 1], 0));
    let out = text(&t);
    assert!(!out.contains('\u{1b}'), "{out}");
    let line = out.lines().find(|l| l.starts_with("dnsleak_dns_messages_total{")).unwrap();
    assert!(line.contains(r#"interface="e\"v\\x1b]0;x\\n""#), "{line}");
}

#[test]
fn capture_counters_and_tunnels_and_pipeline_counts() {
    let mut t = Tally::default();
    let mut c = Counters { core: Stats::default(), ..Default::default() };
    c.core.pairs.unanswered = 4;
    c.core.count_malformed(Malformed::PointerLoop);
    c.capture = vec![
        CaptureCounters {
            iface: "eth0".into(),
            received: 10,
            dropped_pipeline: 1,
            dropped_kernel: 2,
            dropped_iface: 3,
        },
        CaptureCounters { iface: "eth0".into(), received: 5, ..Default::default() },
    ];
    t.counters(&c);
    // A forgotten capture must not make a counter go back.
    c.capture.truncate(1);
    t.counters(&c);
    let facts = |name: &str, up| IfaceFacts { name: name.into(), up, os_tunnel: true, ..Default::default() };
    t.topology(&Topology::from_facts(
        [(0, facts("wg0", true)), (1, facts("wg1", false))],
        &Overrides::default(),
    ));
    t.observe(&Judged::unjudged(Event::notice(
        Ts(0),
        1,
        0,
        IfaceName::new("wg0"),
        Notice::TunnelDown { iface: IfaceName::new("wg0"), none_up: true },
    )));
    let out = text(&t);
    for want in [
        r#"dnsleak_packets_captured_total{interface="eth0"} 15"#,
        r#"dnsleak_packets_dropped_total{interface="eth0",where="pipeline"} 1"#,
        r#"dnsleak_packets_dropped_total{interface="eth0",where="kernel"} 2"#,
        r#"dnsleak_packets_dropped_total{interface="eth0",where="interface"} 3"#,
        "dnsleak_unanswered_queries_total 4",
        r#"dnsleak_malformed_messages_total{reason="pointer_loop"} 1"#,
        r#"dnsleak_tunnel_up{interface="wg0"} 1"#,
        r#"dnsleak_tunnel_up{interface="wg1"} 0"#,
        r#"dnsleak_notices_total{notice="tunnel_down"} 1"#,
    ] {
        assert!(out.contains(want), "{want} missing from\n{out}");
    }
    // The tunnel vanishes from the topology: down.
    t.topology(&Topology::from_facts([(1, facts("wg1", false))], &Overrides::default()));
    assert!(text(&t).contains(r#"dnsleak_tunnel_up{interface="wg0"} 0"#));
}

#[test]
fn the_sink_publishes_on_counters() {
    let (mut sink, expo) = MetricsSink::new(None);
    let registry = expo.registry();
    sink.event(&message("eth0", EventKind::Query, Verdict::Leak, [192, 0, 2, 1], 0), None).unwrap();
    assert!(!Exposition::text(&registry).contains("dnsleak_dns_messages_total{"));
    sink.counters(&Counters::default()).unwrap();
    assert!(Exposition::text(&registry).contains("dnsleak_dns_messages_total{"));
}

/// `promtool check metrics` (Debian's prometheus package) finds nothing to say about the
/// exposition.
#[test]
#[ignore = "tool: needs promtool (apt-get install prometheus)"]
fn promtool_accepts_the_exposition() {
    let mut t = Tally::default();
    t.observe(&message("eth0", EventKind::Query, Verdict::Leak, [192, 0, 2, 1], 1000));
    t.observe(&message("eth0", EventKind::Encrypted, Verdict::Bypass, [192, 0, 2, 9], 3000));
    let mut c = Counters {
        capture: vec![CaptureCounters { iface: "eth0".into(), received: 10, ..Default::default() }],
        ..Default::default()
    };
    c.core.count_malformed(Malformed::PointerLoop);
    t.counters(&c);
    let out = text(&t);
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run promtool ({e}): install it with apt-get install prometheus"));
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(out.as_bytes()).unwrap();
    let said = child.wait_with_output().unwrap();
    let words = format!("{}{}", String::from_utf8_lossy(&said.stdout), String::from_utf8_lossy(&said.stderr));
    assert!(said.status.success() && words.trim().is_empty(), "promtool check metrics: {words}\n{out}");
}

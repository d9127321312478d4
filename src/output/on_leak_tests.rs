use super::*;
use crate::output::testing::judged;
use dnsleak_core::cause::{Cause, Caused};
use dnsleak_core::{EventKind, Verdict};

fn leak(ts_ms: i64, qname: &str) -> Judged {
    judged("eth0", EventKind::Query, Verdict::Leak, [192, 0, 2, 1], ts_ms, qname)
}

/// The runner's preparation in unit tests: none (the monitor gives up every capability).
fn nothing() -> io::Result<()> {
    Ok(())
}

#[test]
fn an_episode_starts_after_the_quiet_period_only() {
    let mut e = Episodes::new(Duration::from_secs(60));
    assert!(e.starts(&leak(0, "a")));
    assert!(!e.starts(&leak(30_000, "b")));
    // 59 s after the last leak: still the same episode.
    assert!(!e.starts(&leak(89_000, "c")));
    assert!(e.starts(&leak(149_000, "d")));
    let mut tunnel = leak(400_000, "e");
    tunnel.verdict = Some(Verdict::Tunnel);
    assert!(!e.starts(&tunnel), "only leaks and bypasses");
}

#[test]
fn wire_text_goes_only_into_escaped_variables() {
    let a = Alert::of(&leak(1500, "$(touch /tmp/pwned);rm -rf \u{1b}[2J"));
    let get = |k: &str| a.env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("DNSLEAK_QNAME"), Some("$(touch /tmp/pwned);rm -rf \\x1b[2J"));
    assert_eq!(get("DNSLEAK_VERDICT"), Some("leak"));
    assert_eq!(get("DNSLEAK_IFACE"), Some("eth0"));
    assert_eq!(get("DNSLEAK_RESOLVER"), Some("192.0.2.1"));
    assert_eq!(get("DNSLEAK_TRANSPORT"), Some("dns"));
    assert_eq!(get("DNSLEAK_TIME"), Some("1.500"));
    assert_eq!(get("DNSLEAK_CAUSE"), None, "a leak without a cause goes without the variable");
    assert!(a.env.iter().all(|(k, _)| ENV_NAMES.contains(k)));
}

/// A leak whose cause is known hands it to the command (the closed vocabulary's word).
#[test]
fn the_cause_goes_into_dnsleak_cause() {
    let mut j = leak(1500, "a.example");
    j.cause = Some(Caused::new(Cause::LanResolver, Some(true), None));
    let a = Alert::of(&j);
    let cause = a.env.iter().find(|(n, _)| *n == "DNSLEAK_CAUSE").map(|(_, v)| v.as_str());
    assert_eq!(cause, Some("lan_resolver"));
    let names: Vec<&str> = a.env.iter().map(|(n, _)| *n).collect();
    let mut ordered = names.clone();
    ordered.sort_by_key(|k| ENV_NAMES.iter().position(|n| n == k));
    assert_eq!(names, ordered, "in ENV_NAMES order");
}

/// The command runs once per episode, in its own process, with the variables; a name made to
/// look like shell syntax stays data.
#[test]
fn the_command_runs_once_per_episode_with_the_variables() {
    let dir = std::env::temp_dir().join(format!("dnsleak-on-leak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("calls");
    let pwned = dir.join("pwned");
    let command = format!("printf '%s|%s\\n' \"$DNSLEAK_QNAME\" \"$DNSLEAK_VERDICT\" >> '{}'", out.display());
    let opts = OnLeakOptions { command, quiet: Duration::from_secs(60), log: false };
    let mut sink = OnLeakSink::start(opts, nothing).unwrap();
    let evil = format!("$(touch {});x", pwned.display());
    sink.event(&leak(0, &evil), None).unwrap();
    sink.event(&leak(1000, "quiet.example"), None).unwrap();
    sink.event(&leak(100_000, "second.example"), None).unwrap();
    let stats = sink.stats();
    wait_for(|| stats.succeeded.load(Ordering::Relaxed) + stats.failed.load(Ordering::Relaxed) >= 2);
    sink.finish(&Counters::default()).unwrap();
    let calls = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(stats.episodes.load(Ordering::Relaxed), 2);
    assert_eq!(stats.succeeded.load(Ordering::Relaxed), 2, "{calls}");
    assert_eq!(calls.lines().count(), 2, "{calls}");
    assert!(calls.starts_with(&format!("{evil}|leak\n")), "{calls}");
    assert!(!calls.contains("quiet.example"), "{calls}");
    assert!(!pwned.exists(), "the name reached a shell");
}

#[test]
fn a_failing_command_is_counted() {
    let opts = OnLeakOptions { command: "exit 3".into(), quiet: Duration::from_secs(1), log: false };
    let mut sink = OnLeakSink::start(opts, nothing).unwrap();
    sink.event(&leak(0, "a"), None).unwrap();
    let stats = sink.stats();
    // Poll until it ran (finish would count a queued alert as dropped).
    wait_for(|| stats.failed.load(Ordering::Relaxed) > 0);
    sink.finish(&Counters::default()).unwrap();
    assert_eq!(stats.failed.load(Ordering::Relaxed), 1);
    assert!(stats.line().contains("1 failed"), "{}", stats.line());
}

/// Polls `cond` until it holds, for at most 10 s.
fn wait_for(cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() && Instant::now() < deadline {
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

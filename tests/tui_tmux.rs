//! The dashboard for real, in a terminal: `dnsleak replay --tui` runs in a detached tmux
//! session of a fixed size; the test sends keys and reads the screen with capture-pane, polling
//! for what a person would see (with a deadline, never a fixed sleep), quits with `q`, and checks
//! the exit status and that the terminal was restored (alternate screen left, cooked mode back).
//! Marked `tool: needs tmux`: run with `--include-ignored`, they fail naming the package when
//! tmux is missing.

use std::path::Path;
use std::process::Command;

mod support;
use support::poll;
use support::tmux::{ended, Tmux, DEADLINE};

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
    assert!(p.exists(), "fixture {} is missing", p.display());
    p.display().to_string()
}

#[test]
#[ignore = "tool: needs tmux"]
fn replay_tui_in_tmux_browse_filter_detail_help_quit() {
    let demo = fixture("demo.pcapng");
    let t = Tmux::start("browse", 100, 30, &["replay", "--tui", &demo]);
    t.wait_for("the whole file read", |s| {
        s.contains("done: demo.pcapng")
            && s.contains("LEAKING since")
            && s.contains("Events (newest first)")
            && s.contains("LEAK ")
    });
    assert_eq!(t.display("#{alternate_on}"), "1", "the dashboard uses the alternate screen");
    // (Its idle cost is measured on a release build by `.ci/perf`, not asserted here.)

    t.keys(&["/", "c", "o", "r", "p", "Enter"]);
    // capture-pane can read a screen halfway through a redraw: wait for the whole expected
    // screen rather than asserting on the first one that shows a heading.
    t.wait_for("the name filter", |s| {
        s.contains("name: corp") && s.contains("git.corp.example") && !s.contains("www.example.com")
    });
    t.keys(&["Enter"]);
    t.wait_for("the detail pane", |s| {
        s.contains("Detail (Esc back") && s.contains("reason") && s.contains("git.corp.example")
    });
    t.keys(&["Escape"]);
    t.wait_for("back to the list", |s| s.contains("Events (newest first)"));
    t.keys(&["?"]);
    t.wait_for("the help overlay", |s| s.contains("Help (? or Esc to close)"));
    t.keys(&["?", "Escape", "v"]);
    t.wait_for("the verdict filter", |s| s.contains("verdict: leak+bypass") && !s.contains("Help ("));
    t.keys(&["Tab"]);
    t.wait_for("the resolvers pane", |s| s.contains("Resolvers (") && s.contains("median"));
    t.keys(&["q"]);

    let status = t.wait_file("status");
    assert_eq!(status.trim(), "1", "exit status 1: the demo capture leaks");
    assert_eq!(t.display("#{alternate_on}"), "0", "the alternate screen was left");
    let stty = t.wait_file("stty");
    assert!(stty.contains(" icanon") && stty.contains(" echo"), "cooked mode restored: {stty}");
    let s = t.screen();
    assert!(!s.contains("Events (newest first)"), "the dashboard is gone from the screen: {s}");
    // Once the dashboard closes, the summary `replay` prints is printed too.
    assert!(s.contains("Packets: 129 read = 25 dns + 59 encrypted + 45 other"), "the summary follows: {s}");
}

/// Why it leaked, on a real terminal: the cause column of a wide dashboard, the detail's
/// cause, evidence and fix, and the view "resolvers: configured vs seen" (`r`), which on replay
/// says the configuration is not known.
#[test]
#[ignore = "tool: needs tmux"]
fn replay_tui_in_tmux_shows_causes_and_resolvers_configured_vs_seen() {
    let stub = fixture("stub-leak.pcapng");
    let t = Tmux::start("causes", 140, 40, &["replay", "--tui", &stub]);
    t.wait_for("the cause column", |s| {
        s.contains("done: stub-leak.pcapng")
            && s.contains(" why ")
            && s.lines().any(|l| l.contains("LEAK") && l.contains("stub") && l.contains("192.0.2.1"))
    });
    t.keys(&["r"]);
    t.wait_for("resolvers: configured vs seen", |s| {
        s.contains("Resolvers: configured vs seen")
            && s.contains("Configured: not known")
            && s.contains("eth0 (physical)")
            && s.contains("192.0.2.1 dns")
    });
    // `r` again closes it (Esc too; an Esc sent right before another key reads as Alt).
    t.keys(&["r"]);
    t.wait_for("back to the list", |s| s.contains("Events (newest first)"));
    t.keys(&["v"]);
    t.wait_for("the leaks", |s| s.contains("verdict: leak+bypass") && s.contains("Events (newest first)"));
    t.keys(&["Enter"]);
    t.wait_for("the cause in the detail", |s| {
        s.contains("cause     stub_upstream")
            && s.contains("evidence  stub.example.com A went to the local resolver 127.0.0.53")
            && s.contains("fix       ")
    });
    t.keys(&["q"]);
    let status = t.wait_file("status");
    assert_eq!(status.trim(), "1", "exit status 1: the capture leaks");
}

#[test]
#[ignore = "tool: needs tmux"]
fn replay_tui_with_speed_plays_in_capture_time_and_fits_80x24() {
    let f = fixture("tunnel-dies.pcapng");
    let t = Tmux::start("speed", 80, 24, &["replay", "--tui", "--speed", "1", &f]);
    let s = t.wait_for("playback", |s| s.contains("playing tunnel-dies.pcapng at x1"));
    assert!(!s.contains("done:"), "{s}");
    let s = t.wait_for("the end of the file", |s| {
        s.contains("done: tunnel-dies.pcapng") && s.contains("while-down.example.com")
    });
    for line in s.lines() {
        assert!(line.chars().count() <= 80, "line wider than the terminal: {line:?}");
    }
    t.keys(&["C-c"]);
    assert_eq!(t.wait_file("status").trim(), "1");
    assert_eq!(t.display("#{alternate_on}"), "0");
}

#[test]
#[ignore = "tool: needs tmux"]
fn replay_tui_of_a_missing_file_shows_the_error_then_exits_2() {
    let t = Tmux::start("missing", 80, 24, &["replay", "--tui", "/nonexistent/x.pcap"]);
    t.wait_for("the error", |s| s.contains("error:") && s.contains("x.pcap"));
    t.keys(&["q"]);
    assert_eq!(t.wait_file("status").trim(), "2");
    assert_eq!(t.display("#{alternate_on}"), "0");
    let s = t.screen();
    assert!(s.contains("dnsleak:"), "the error is printed after the terminal is restored: {s}");
}

/// The terminal comes back after a panic on either thread, and after SIGTERM.
#[test]
#[ignore = "tool: needs tmux"]
fn terminal_is_restored_after_a_panic_or_sigterm() {
    let demo = fixture("demo.pcapng");
    for (place, want) in [("ui", "101"), ("pipeline", "2")] {
        let env = format!("DNSLEAK_TEST_PANIC={place} ");
        let t = Tmux::start_env(&format!("panic-{place}"), 100, 30, &["replay", "--tui", &demo], &env);
        assert_eq!(t.wait_file("status").trim(), want, "exit status after a panic on the {place} thread");
        assert_eq!(t.display("#{alternate_on}"), "0", "{place}: the alternate screen was left");
        let stty = t.wait_file("stty");
        assert!(stty.contains(" icanon") && stty.contains(" echo"), "{place}: cooked mode restored: {stty}");
        let s = t.screen();
        assert!(s.contains("deliberate panic"), "{place}: the panic message is readable: {s}");
    }
    let t = Tmux::start("sigterm", 100, 30, &["replay", "--tui", &demo]);
    t.wait_for("the dashboard", |s| s.contains("done: demo.pcapng"));
    let pid = t.app_pid();
    assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
    assert_eq!(t.wait_file("status").trim(), "1", "ends as after q: the demo leaks");
    assert_eq!(t.display("#{alternate_on}"), "0");
    let stty = t.wait_file("stty");
    assert!(stty.contains(" icanon") && stty.contains(" echo"), "cooked mode restored: {stty}");
}

/// Regression: when its terminal went away (tmux killed, window closed, ssh dropped), the
/// dashboard spun forever at a fraction of a core inside crossterm's reader, which reads 0 bytes
/// from a hung-up terminal in a loop, and ignored SIGTERM. It must end on its own.
#[test]
#[ignore = "tool: needs tmux"]
fn dashboard_ends_when_its_terminal_goes_away() {
    let demo = fixture("demo.pcapng");
    let t = Tmux::start("hangup", 100, 30, &["replay", "--tui", &demo]);
    t.wait_for("the whole file read", |s| s.contains("done: demo.pcapng"));
    let pid = t.app_pid();
    let _ = t.cmd(&["kill-server"]).status();
    let gone = poll(DEADLINE, || ended(pid).then_some(()));
    assert!(gone.is_some(), "dnsleak (pid {pid}) still running after its terminal closed");
}

/// The open dashboard, idle (the file read, nothing changes), costs next to nothing: under 1 %
/// of a core over 4 s. Measured on a release build by `.ci/perf`.
#[test]
#[ignore = "perf: release build only, run by .ci/perf (needs tmux)"]
fn perf_idle_dashboard_costs_under_one_percent_of_a_core() {
    let demo = fixture("demo.pcapng");
    let t = Tmux::start("idle", 100, 30, &["replay", "--tui", &demo]);
    t.wait_for("the whole file read", |s| s.contains("done: demo.pcapng") && s.contains("LEAKING since"));
    let pid = t.app_pid();
    let hz = 100.0; // USER_HZ on Linux
    let (c0, w0) = (support::tmux::cpu_ticks(pid), std::time::Instant::now());
    let window = std::time::Duration::from_secs(4);
    while w0.elapsed() < window {
        std::thread::park_timeout(window - w0.elapsed());
    }
    let used = (support::tmux::cpu_ticks(pid) - c0) as f64 / hz;
    let pct = 100.0 * used / w0.elapsed().as_secs_f64();
    eprintln!("idle dashboard: {used:.2}s CPU over {:.1}s = {pct:.2}% of a core", w0.elapsed().as_secs_f64());
    assert!(pct < 1.0, "idle dashboard uses {pct:.2}% of a core");
    t.keys(&["q"]);
    assert_eq!(t.wait_file("status").trim(), "1");
}

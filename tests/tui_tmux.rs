//! The dashboard for real, in a terminal: `dnsleak replay --tui` runs in a detached tmux
//! session of a fixed size; the test sends keys and reads the screen with capture-pane, polling
//! for what a person would see (with a deadline, never a fixed sleep), quits with `q`, and checks
//! the exit status and that the terminal was restored (alternate screen left, cooked mode back).
//! It also measures the idle cost of the open dashboard. Skips with a message when tmux is
//! missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Generous: on a loaded machine a debug build takes seconds to draw; polling makes a fast run
/// no slower.
const DEADLINE: Duration = Duration::from_secs(60);

/// The tmux runs go one at a time: each measures or waits on a real process, and several
/// dashboards drawing at once on 2 cores made deadlines flaky.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Tmux {
    socket: String,
    dir: PathBuf,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Tmux {
    /// Starts `command` in a detached session of `w` x `h`; the pane stays after it exits.
    fn start(name: &str, w: u16, h: u16, args: &[&str]) -> Option<Tmux> {
        Tmux::start_env(name, w, h, args, "")
    }

    /// As `start`, with `env` (`NAME=value `) before the command.
    fn start_env(name: &str, w: u16, h: u16, args: &[&str], env: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("skipped: tmux is not installed");
            return None;
        }
        let socket = format!("dnsleak-test-{name}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&socket);
        std::fs::create_dir_all(&dir).unwrap();
        let bin = env!("CARGO_BIN_EXE_dnsleak");
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        let status = dir.join("status");
        let stty = dir.join("stty");
        let cmd = format!(
            "{env}'{bin}' {}; echo $? > '{}'; stty -a > '{}'; exec sleep 600",
            quoted.join(" "),
            status.display(),
            stty.display()
        );
        let serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let t = Tmux { socket, dir, _serial: serial };
        let ok = t
            .cmd(&[
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
            ])
            .arg(&cmd)
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .status()
            .unwrap();
        assert!(ok.success(), "tmux new-session failed");
        Some(t)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.socket).args(args);
        c
    }

    fn screen(&self) -> String {
        let out = self.cmd(&["capture-pane", "-p", "-t", "t"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn display(&self, format: &str) -> String {
        let out = self.cmd(&["display-message", "-p", "-t", "t", format]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status().unwrap().success());
    }

    /// Polls the screen until `pred` holds, or fails after the deadline showing the screen.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}; screen:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_file(&self, name: &str) -> String {
        let path = self.dir.join(name);
        let start = Instant::now();
        loop {
            if let Ok(s) = std::fs::read_to_string(&path) {
                if s.ends_with('\n') {
                    return s;
                }
            }
            assert!(start.elapsed() < DEADLINE, "timed out waiting for {}; screen:\n{}", name, self.screen());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The dnsleak process under the pane's shell.
    fn app_pid(&self) -> u32 {
        self.try_app_pid().expect("no dnsleak process under the tmux pane")
    }

    fn try_app_pid(&self) -> Option<u32> {
        let shell: u32 = self.display("#{pane_pid}").parse().ok()?;
        for e in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            let after = &stat[stat.rfind(')')? + 2..];
            let ppid: u32 = after.split(' ').nth(1)?.parse().ok()?;
            if ppid == shell && stat.contains("(dnsleak)") {
                return Some(pid);
            }
        }
        None
    }
}

/// Whether a process has ended (gone, or a zombie nobody reaped).
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rfind(')').is_some_and(|i| stat[i + 2..].starts_with('Z')),
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // The app first, by PID, so a failed test leaves no process behind.
        if let Some(pid) = self.try_app_pid() {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        let _ = self.cmd(&["kill-server"]).stderr(std::process::Stdio::null()).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
    assert!(p.exists(), "fixture {} is missing", p.display());
    p.display().to_string()
}

/// CPU time (user + system) of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 of stat (utime, stime), counted from the state field (3).
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn replay_tui_in_tmux_browse_filter_detail_help_quit() {
    let demo = fixture("demo.pcapng");
    let Some(t) = Tmux::start("browse", 100, 30, &["replay", "--tui", &demo]) else { return };
    t.wait_for("the whole file read", |s| {
        s.contains("done: demo.pcapng")
            && s.contains("LEAKING since")
            && s.contains("Events (newest first)")
            && s.contains("LEAK ")
    });
    assert_eq!(t.display("#{alternate_on}"), "1", "the dashboard uses the alternate screen");

    // Idle: the file is read, nothing changes; the dashboard should cost next to nothing.
    let pid = t.app_pid();
    let hz = 100.0; // USER_HZ on Linux
    let (c0, w0) = (cpu_ticks(pid), Instant::now());
    let window = Duration::from_secs(4);
    while w0.elapsed() < window {
        std::thread::park_timeout(window - w0.elapsed());
    }
    let used = (cpu_ticks(pid) - c0) as f64 / hz;
    let pct = 100.0 * used / w0.elapsed().as_secs_f64();
    eprintln!("idle dashboard: {used:.2}s CPU over {:.1}s = {pct:.2}% of a core", w0.elapsed().as_secs_f64());
    assert!(pct < 1.0, "idle dashboard uses {pct:.2}% of a core");

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
}

#[test]
fn replay_tui_with_speed_plays_in_capture_time_and_fits_80x24() {
    let f = fixture("tunnel-dies.pcapng");
    let Some(t) = Tmux::start("speed", 80, 24, &["replay", "--tui", "--speed", "1", &f]) else { return };
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
fn replay_tui_of_a_missing_file_shows_the_error_then_exits_2() {
    let Some(t) = Tmux::start("missing", 80, 24, &["replay", "--tui", "/nonexistent/x.pcap"]) else { return };
    t.wait_for("the error", |s| s.contains("error:") && s.contains("x.pcap"));
    t.keys(&["q"]);
    assert_eq!(t.wait_file("status").trim(), "2");
    assert_eq!(t.display("#{alternate_on}"), "0");
    let s = t.screen();
    assert!(s.contains("dnsleak:"), "the error is printed after the terminal is restored: {s}");
}

/// The terminal comes back after a panic on either thread, and after SIGTERM.
#[test]
fn terminal_is_restored_after_a_panic_or_sigterm() {
    let demo = fixture("demo.pcapng");
    for (place, want) in [("ui", "101"), ("pipeline", "2")] {
        let env = format!("DNSLEAK_TEST_PANIC={place} ");
        let Some(t) = Tmux::start_env(&format!("panic-{place}"), 100, 30, &["replay", "--tui", &demo], &env)
        else {
            return;
        };
        assert_eq!(t.wait_file("status").trim(), want, "exit status after a panic on the {place} thread");
        assert_eq!(t.display("#{alternate_on}"), "0", "{place}: the alternate screen was left");
        let stty = t.wait_file("stty");
        assert!(stty.contains(" icanon") && stty.contains(" echo"), "{place}: cooked mode restored: {stty}");
        let s = t.screen();
        assert!(s.contains("deliberate panic"), "{place}: the panic message is readable: {s}");
    }
    let Some(t) = Tmux::start("sigterm", 100, 30, &["replay", "--tui", &demo]) else { return };
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
fn dashboard_ends_when_its_terminal_goes_away() {
    let demo = fixture("demo.pcapng");
    let Some(t) = Tmux::start("hangup", 100, 30, &["replay", "--tui", &demo]) else { return };
    t.wait_for("the whole file read", |s| s.contains("done: demo.pcapng"));
    let pid = t.app_pid();
    let _ = t.cmd(&["kill-server"]).status();
    let deadline = Instant::now() + DEADLINE;
    while !ended(pid) {
        assert!(Instant::now() < deadline, "dnsleak (pid {pid}) still running after its terminal closed");
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

//! A tmux driver for tests of the dashboard in a real terminal: start dnsleak in a detached
//! session of a fixed size, send keys, read the screen, wait for what a person would see.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::poll;

/// Generous: on a loaded machine a debug build takes seconds to draw; polling makes a fast run
/// no slower.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The tmux runs go one at a time: each measures or waits on a real process, and several
/// dashboards drawing at once on 2 cores made deadlines flaky.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct Tmux {
    socket: String,
    dir: PathBuf,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Tmux {
    /// Starts `command` in a detached session of `w` x `h`; the pane stays after it exits.
    /// Fails the test, naming the package, when tmux is not installed.
    pub fn start(name: &str, w: u16, h: u16, args: &[&str]) -> Tmux {
        Tmux::start_env(name, w, h, args, "")
    }

    /// As `start`, with `env` (`NAME=value `) before the command.
    pub fn start_env(name: &str, w: u16, h: u16, args: &[&str], env: &str) -> Tmux {
        super::require_tool("tmux", "tmux");
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
        t
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.socket).args(args);
        c
    }

    pub fn screen(&self) -> String {
        let out = self.cmd(&["capture-pane", "-p", "-t", "t"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn display(&self, format: &str) -> String {
        let out = self.cmd(&["display-message", "-p", "-t", "t", format]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status().unwrap().success());
    }

    /// Polls the screen until `pred` holds, or fails after the deadline showing the screen.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let found = poll(DEADLINE, || {
            last = self.screen();
            pred(&last).then(|| last.clone())
        });
        found.unwrap_or_else(|| panic!("timed out waiting for {what}; screen:\n{last}"))
    }

    /// Polls the screen for `pred` for at most `within`.
    pub fn shows_within(&self, within: Duration, pred: impl Fn(&str) -> bool) -> bool {
        poll(within, || pred(&self.screen()).then_some(())).is_some()
    }

    /// Waits for a file the pane's shell writes after dnsleak exits (`status`, `stty`).
    pub fn wait_file(&self, name: &str) -> String {
        let path = self.dir.join(name);
        let found = poll(DEADLINE, || std::fs::read_to_string(&path).ok().filter(|s| s.ends_with('\n')));
        found.unwrap_or_else(|| panic!("timed out waiting for {name}; screen:\n{}", self.screen()))
    }

    /// The dnsleak process under the pane's shell.
    pub fn app_pid(&self) -> u32 {
        self.try_app_pid().expect("no dnsleak process under the tmux pane")
    }

    pub fn try_app_pid(&self) -> Option<u32> {
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
pub fn ended(pid: u32) -> bool {
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

/// CPU time (user + system) of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 of stat (utime, stime), counted from the state field (3).
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

//! `--on-leak CMD`: run the user's command when a leak episode starts.
//!
//! An episode starts with the first leak or bypass after a quiet period (`--on-leak-quiet`,
//! 60 s by default, in capture time) and lasts while leaks keep coming within it; the command
//! runs once per episode. What happened travels only in environment variables
//! ([`ENV_NAMES`]); `CMD` is the user's own text, run as `sh -c CMD`, so nothing from the wire
//! can reach the shell's parser. Values are escaped (`output::escape`) like every text shown.
//!
//! The sink (pipeline thread) never waits: it hands an [`Alert`] to a bounded queue
//! (`try_send`; a full queue is counted as `dropped`). A runner thread of its own takes them
//! one at a time, starts the command in its own process, and waits for it at most
//! [`TIMEOUT`] (then kills it). Failures are logged on standard error (unless the dashboard
//! owns the terminal) and counted ([`HookStats`], shown in the metrics and at exit).
//!
//! Privileges: the monitor runs the commands from a launcher process of its own
//! ([`on_leak_launcher`](super::on_leak_launcher)), started before it locks itself down, as
//! the unprivileged user it becomes, without any capability and with no_new_privs; the runner
//! thread only hands it alerts through a pipe (read, write: calls the monitor's system-call
//! filter allows). [`OnLeakSink::start`] runs the commands from the runner thread itself,
//! after the `prepare` it is given (for tests, and callers that do not lock down). System
//! calls of a command start (strace -f): clone3, wait4, kill (a command past its time),
//! openat (/dev/null), close, dup2, fcntl, rt_sigprocmask, execve: the launcher makes them,
//! outside the filter.

use std::io;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use super::escape::escape;
use super::on_leak_launcher::Launcher;
use super::Sink;
use crate::counters::Counters;
use dnsleak_core::{Judged, Ts};

/// The environment variables a command is given (any inherited ones are removed first).
pub const ENV_NAMES: [&str; 9] = [
    "DNSLEAK_VERDICT",
    "DNSLEAK_IFACE",
    "DNSLEAK_RESOLVER",
    "DNSLEAK_QNAME",
    "DNSLEAK_TRANSPORT",
    "DNSLEAK_CAUSE",
    "DNSLEAK_SNI",
    "DNSLEAK_REASON",
    "DNSLEAK_TIME",
];
/// Alerts waiting for the runner.
pub const QUEUE: usize = 4;
/// How long a command may run before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// How to run the command.
#[derive(Debug, Clone)]
pub struct OnLeakOptions {
    pub command: String,
    /// Capture time without a leak or bypass that ends an episode.
    pub quiet: Duration,
    /// Whether the command's output and failures go to standard error (not while the
    /// dashboard owns the terminal: then they are discarded and only counted).
    pub log: bool,
}

/// Counters of the runner; read by the metrics and the final summary.
#[derive(Debug, Default)]
pub struct HookStats {
    pub episodes: AtomicU64,
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
}

impl HookStats {
    /// (result, count) for succeeded, failed, dropped.
    pub fn snapshot(&self) -> [(&'static str, u64); 3] {
        [
            ("succeeded", self.succeeded.load(Ordering::Relaxed)),
            ("failed", self.failed.load(Ordering::Relaxed)),
            ("dropped", self.dropped.load(Ordering::Relaxed)),
        ]
    }

    /// The counts as the HTML report shows them.
    pub fn counts(&self) -> crate::output::html::OnLeakCounts {
        let [(_, succeeded), (_, failed), (_, dropped)] = self.snapshot();
        let episodes = self.episodes.load(Ordering::Relaxed);
        crate::output::html::OnLeakCounts { episodes, succeeded, failed, dropped }
    }

    /// One line for the summary at exit.
    pub fn line(&self) -> String {
        let [(_, ok), (_, failed), (_, dropped)] = self.snapshot();
        format!(
            "dnsleak: --on-leak: {} leak episodes, command run {} times: {ok} succeeded, {failed} failed, {dropped} not run (queue full or exiting)\n",
            self.episodes.load(Ordering::Relaxed),
            ok + failed
        )
    }
}

/// What one episode's first leak was, as environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub env: Vec<(&'static str, String)>,
}

impl Alert {
    pub fn of(j: &Judged) -> Alert {
        let ev = &j.event;
        let mut env = vec![
            ("DNSLEAK_VERDICT", j.verdict.map_or("", |v| v.as_str()).to_string()),
            ("DNSLEAK_IFACE", escape(&ev.iface_name).into_owned()),
            ("DNSLEAK_REASON", escape(&j.reason.to_string()).into_owned()),
            ("DNSLEAK_TIME", format!("{:.3}", ev.ts.as_secs_f64())),
        ];
        if let Some((addr, _)) = ev.resolver() {
            env.push(("DNSLEAK_RESOLVER", addr.to_string()));
        }
        if let Some(w) = ev.wire() {
            env.push(("DNSLEAK_TRANSPORT", w.transport.as_str().to_string()));
        }
        if let Some(q) = ev.qname() {
            env.push(("DNSLEAK_QNAME", escape(if q.is_empty() { "." } else { q }).into_owned()));
        }
        if let Some(c) = &j.cause {
            env.push(("DNSLEAK_CAUSE", c.cause.as_str().to_string()));
        }
        if let Some(sni) = ev.sni() {
            env.push(("DNSLEAK_SNI", escape(sni).into_owned()));
        }
        env.sort_by_key(|(k, _)| ENV_NAMES.iter().position(|n| n == k).unwrap_or(usize::MAX));
        Alert { env }
    }
}

/// Finds episode starts among judged events.
#[derive(Debug, Clone)]
pub struct Episodes {
    quiet_ns: u64,
    last: Option<Ts>,
}

impl Episodes {
    pub fn new(quiet: Duration) -> Episodes {
        Episodes { quiet_ns: quiet.as_nanos().min(u64::MAX as u128) as u64, last: None }
    }

    /// Whether `j` starts an episode (a leak or bypass after the quiet period).
    pub fn starts(&mut self, j: &Judged) -> bool {
        if !j.is_exposure() {
            return false;
        }
        let ts = j.event.ts;
        let start = self.last.is_none_or(|t| ts.since(t) >= self.quiet_ns);
        self.last = Some(self.last.map_or(ts, |t| t.max(ts)));
        start
    }
}

/// The sink: finds episodes and queues their alerts for the runner thread.
pub struct OnLeakSink {
    episodes: Episodes,
    tx: Option<Sender<Alert>>,
    stats: Arc<HookStats>,
    closing: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl OnLeakSink {
    /// Starts the runner thread, which runs the commands itself; it runs `prepare` first (and
    /// no command if that fails).
    pub fn start(opts: OnLeakOptions, prepare: fn() -> io::Result<()>) -> io::Result<OnLeakSink> {
        Self::with(opts, prepare, None)
    }

    /// Starts the runner thread, which has `launcher` run the commands.
    pub fn start_with_launcher(opts: OnLeakOptions, launcher: Launcher) -> io::Result<OnLeakSink> {
        Self::with(opts, || Ok(()), Some(launcher))
    }

    fn with(
        opts: OnLeakOptions,
        prepare: fn() -> io::Result<()>,
        launcher: Option<Launcher>,
    ) -> io::Result<Self> {
        let (tx, rx) = bounded(QUEUE);
        let stats = Arc::new(HookStats::default());
        let closing = Arc::new(AtomicBool::new(false));
        let runner = Runner {
            command: opts.command,
            log: opts.log,
            stats: stats.clone(),
            closing: closing.clone(),
            prepare,
            launcher,
        };
        let thread = std::thread::Builder::new().name("on-leak".into()).spawn(move || runner.run(rx))?;
        Ok(OnLeakSink {
            episodes: Episodes::new(opts.quiet),
            tx: Some(tx),
            stats,
            closing,
            thread: Some(thread),
        })
    }

    pub fn stats(&self) -> Arc<HookStats> {
        self.stats.clone()
    }
}

impl Sink for OnLeakSink {
    fn wants_payload(&self) -> bool {
        false
    }

    fn event(&mut self, judged: &Judged, _file: Option<&str>) -> io::Result<()> {
        if !self.episodes.starts(judged) {
            return Ok(());
        }
        self.stats.episodes.fetch_add(1, Ordering::Relaxed);
        let Some(tx) = &self.tx else { return Ok(()) };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(Alert::of(judged)) {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn finish(&mut self, _counters: &Counters) -> io::Result<()> {
        self.close();
        Ok(())
    }
}

impl OnLeakSink {
    /// Waits for the command that is running (at most `TIMEOUT`); alerts still queued are not
    /// run (counted as dropped).
    fn close(&mut self) {
        self.closing.store(true, Ordering::Release);
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for OnLeakSink {
    fn drop(&mut self) {
        self.close();
    }
}

struct Runner {
    command: String,
    log: bool,
    stats: Arc<HookStats>,
    closing: Arc<AtomicBool>,
    prepare: fn() -> io::Result<()>,
    launcher: Option<Launcher>,
}

impl Runner {
    fn run(mut self, rx: Receiver<Alert>) {
        if let Err(e) = (self.prepare)() {
            self.say(&format!("cannot drop privileges for --on-leak commands ({e}); none will run"));
            for _ in rx {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        for alert in rx {
            if self.closing.load(Ordering::Acquire) {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let ran = match &mut self.launcher {
                Some(l) => l.run(&alert),
                None => run_here(&self.command, self.log, &alert),
            };
            match ran {
                Ok(()) => self.stats.succeeded.fetch_add(1, Ordering::Relaxed),
                Err(why) => {
                    self.say(&format!("--on-leak command {why}"));
                    self.stats.failed.fetch_add(1, Ordering::Relaxed)
                }
            };
        }
    }

    fn say(&self, what: &str) {
        if self.log {
            eprintln!("dnsleak: {what}");
        }
    }
}

/// Runs `sh -c command` with the alert's variables, and waits for it (at most `TIMEOUT`).
/// `log`: its output goes to standard error (else nowhere).
pub fn run_here(command: &str, log: bool, alert: &Alert) -> Result<(), String> {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(command).stdin(Stdio::null());
    for name in ENV_NAMES {
        cmd.env_remove(name);
    }
    cmd.envs(alert.env.iter().map(|(k, v)| (k, v)));
    if log {
        cmd.stdout(io::stderr()).stderr(io::stderr());
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    let child = cmd.spawn().map_err(|e| format!("could not start /bin/sh: {e}"))?;
    match wait_at_most(child, TIMEOUT) {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("failed: {status}")),
        Err(e) => Err(e),
    }
}

/// Waits for `child`, killing it once `limit` has passed.
fn wait_at_most(mut child: Child, limit: Duration) -> Result<ExitStatus, String> {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(2);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("was killed after running for {} s", limit.as_secs()));
            }
            Ok(None) => {}
            Err(e) => return Err(format!("could not be waited for: {e}")),
        }
        std::thread::park_timeout(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

#[cfg(test)]
#[path = "on_leak_tests.rs"]
mod tests;

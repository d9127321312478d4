//! The monitor as a service: `--metrics` and `--on-leak` run beside whatever shows the events
//! (the dashboard, `--json`, lines, or nothing with `--quiet`). [`Service::start`] is called
//! before the capture session starts, so before captures open and privileges drop: the metrics
//! socket is bound and the `--on-leak` runner thread started there. The monitor then hands the
//! display's sink and the service to `output::Tee`, which gives both every fact, event and
//! counter on the pipeline thread, in order.

use std::io;
use std::sync::Arc;

use anyhow::Context;

use super::config::{OnLeakConfig, ServiceConfig};
use crate::counters::Counters;
use crate::output::metrics::MetricsSink;
use crate::output::on_leak::{HookStats, OnLeakOptions, OnLeakSink};
use crate::output::on_leak_launcher::{self, Launcher};
use crate::output::{metrics_http, Sink};
use crate::system::{privilege, sandbox};
use dnsleak_core::{Fact, Judged};

/// The sinks `--metrics` and `--on-leak` ask for (none when neither is given).
#[derive(Default)]
pub struct Service {
    metrics: Option<MetricsSink>,
    on_leak: Option<OnLeakSink>,
    /// Whether the `--on-leak` line goes to standard error at the end (not while the dashboard
    /// owns the terminal: the monitor prints its summary after it closes).
    log: bool,
}

impl Service {
    /// Starts what `cfg` asks for: binds the metrics listener (its HTTP threads start here)
    /// and starts the `--on-leak` runner. `log`: whether they may write to standard error
    /// (false while the dashboard owns the terminal).
    /// `sandbox`: how the monitor will lock itself down (the user `--on-leak` commands run as).
    pub fn start(cfg: &ServiceConfig, log: bool, sandbox: &sandbox::Options) -> anyhow::Result<Service> {
        let on_leak = cfg.on_leak.as_ref().map(|c| on_leak(c, log, sandbox)).transpose()?;
        let metrics = match cfg.metrics {
            Some(addr) => {
                let (sink, exposition) = MetricsSink::new(on_leak.as_ref().map(OnLeakSink::stats));
                metrics_http::serve(addr, exposition.registry())?;
                Some(sink)
            }
            None => None,
        };
        Ok(Service { metrics, on_leak, log })
    }

    /// The `--on-leak` counters (when given), for the final summary.
    pub fn hooks(&self) -> Option<Arc<HookStats>> {
        self.on_leak.as_ref().map(OnLeakSink::stats)
    }

    fn each(&mut self, mut f: impl FnMut(&mut dyn Sink) -> io::Result<()>) -> io::Result<()> {
        if let Some(m) = &mut self.metrics {
            f(m)?;
        }
        if let Some(h) = &mut self.on_leak {
            f(h)?;
        }
        Ok(())
    }
}

/// The `--on-leak` runner: a thread that hands alerts to a launcher process, started here
/// (before the monitor locks itself down) as the user the monitor becomes (`sandbox`); the
/// launcher gives up every capability and sets no_new_privs before it runs anything
/// ([`launcher`]), and is not under the monitor's system-call filter.
fn on_leak(c: &OnLeakConfig, log: bool, sandbox: &sandbox::Options) -> anyhow::Result<OnLeakSink> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let opts = OnLeakOptions { command: c.command.clone(), quiet: c.quiet, log };
    // This very program (through /proc, so it works whatever its path), as a launcher.
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("on-leak-launcher");
    if log {
        cmd.arg("--log");
    }
    cmd.arg("--").arg(&c.command).stdin(Stdio::piped()).stdout(Stdio::piped());
    cmd.stderr(if log { Stdio::inherit() } else { Stdio::null() });
    if let Some((uid, gid)) = sandbox::target_ids(sandbox)? {
        // std drops the supplementary groups, then sets the group and the user.
        cmd.uid(uid).gid(gid);
    }
    let child = cmd.spawn().context("cannot start the process that runs --on-leak commands")?;
    let launcher = Launcher::new(child).context("cannot start the process that runs --on-leak commands")?;
    OnLeakSink::start_with_launcher(opts, launcher)
        .context("cannot start the thread that runs --on-leak commands")
}

/// `dnsleak on-leak-launcher [--log] -- CMD` (hidden; started by the monitor for --on-leak):
/// gives up every capability, sets no_new_privs, then runs CMD for each alert read on standard
/// input, answering on standard output, until its input ends.
pub fn launcher(command: &str, log: bool) -> anyhow::Result<()> {
    privilege::give_up_all().context("giving up every capability before running --on-leak commands")?;
    on_leak_launcher::serve(command, log, io::stdin().lock(), io::stdout().lock())
        .context("reading --on-leak alerts from the monitor")
}

impl Sink for Service {
    fn fact(&mut self, fact: &Fact) -> io::Result<()> {
        self.each(|s| s.fact(fact))
    }

    fn wants_payload(&self) -> bool {
        false
    }

    fn event(&mut self, judged: &Judged, file: Option<&str>) -> io::Result<()> {
        self.each(|s| s.event(judged, file))
    }

    fn counters(&mut self, counters: &Counters) -> io::Result<()> {
        self.each(|s| s.counters(counters))
    }

    fn finish(&mut self, counters: &Counters) -> io::Result<()> {
        self.each(|s| s.finish(counters))?;
        if let (Some(hooks), true) = (self.hooks(), self.log) {
            eprint!("{}", hooks.line());
        }
        Ok(())
    }
}

/// Shows nothing (`monitor --quiet`).
pub struct Discard;

impl Sink for Discard {
    fn wants_payload(&self) -> bool {
        false
    }

    fn event(&mut self, _judged: &Judged, _file: Option<&str>) -> io::Result<()> {
        Ok(())
    }
}

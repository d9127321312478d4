//! The monitor as a service: `--metrics` and `--on-leak` run beside whatever shows the events
//! (the dashboard, `--json`, lines, or nothing with `--quiet`). [`Service::start`] is called
//! once captures are about to open, before privileges are dropped: the metrics socket is
//! bound and the `--on-leak` runner thread started there. [`Tee`] then hands every judged
//! event to the service's sinks and to the display's, on the pipeline thread, in order.

use std::io::{self, IsTerminal};
use std::time::Duration;

use anyhow::Context;

use crate::cli::MonitorArgs;
use crate::output::metrics::MetricsSink;
use crate::output::on_leak::{OnLeakOptions, OnLeakSink};
use crate::output::{metrics_http, Counters, Sink};
use dnsleak_core::{Judged, Topology};

/// Whether `monitor` shows the dashboard for these arguments.
pub fn dashboard(args: &MonitorArgs) -> bool {
    !args.json && !args.no_tui && !args.quiet && io::stdout().is_terminal()
}

/// The sinks `--metrics` and `--on-leak` ask for (none when neither is given).
#[derive(Default)]
pub struct Service {
    metrics: Option<MetricsSink>,
    on_leak: Option<OnLeakSink>,
    /// Whether the summary line of `--on-leak` goes to standard error at the end.
    log: bool,
}

impl Service {
    /// Starts what the arguments ask for: binds the metrics listener (its HTTP threads start
    /// here) and starts the `--on-leak` runner.
    pub fn start(args: &MonitorArgs) -> anyhow::Result<Service> {
        let log = !dashboard(args);
        let on_leak = match &args.on_leak {
            Some(command) => {
                if !args.on_leak_quiet.is_finite() || args.on_leak_quiet < 0.0 {
                    anyhow::bail!("--on-leak-quiet {} is not a number of seconds", args.on_leak_quiet);
                }
                let opts = OnLeakOptions {
                    command: command.clone(),
                    quiet: Duration::from_secs_f64(args.on_leak_quiet.min(1e9)),
                    log,
                };
                Some(
                    OnLeakSink::start(opts)
                        .context("cannot start the thread that runs --on-leak commands")?,
                )
            }
            None => None,
        };
        let metrics = match args.metrics {
            Some(addr) => {
                let (sink, exposition) = MetricsSink::new(on_leak.as_ref().map(OnLeakSink::stats));
                metrics_http::serve(addr, exposition.registry())?;
                Some(sink)
            }
            None => None,
        };
        Ok(Service { metrics, on_leak, log })
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

impl Sink for Service {
    fn topology(&mut self, topology: &Topology) -> io::Result<()> {
        self.each(|s| s.topology(topology))
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
        if let (Some(h), true) = (&self.on_leak, self.log) {
            eprint!("{}", h.stats().line());
        }
        Ok(())
    }
}

/// Every call to `side` first (it only looks), then to `main` (which may take the events).
pub struct Tee<'a> {
    pub main: &'a mut dyn Sink,
    pub side: &'a mut dyn Sink,
}

impl Sink for Tee<'_> {
    fn topology(&mut self, topology: &Topology) -> io::Result<()> {
        self.side.topology(topology)?;
        self.main.topology(topology)
    }

    fn wants_payload(&self) -> bool {
        self.main.wants_payload() || self.side.wants_payload()
    }

    fn event(&mut self, judged: &Judged, file: Option<&str>) -> io::Result<()> {
        self.side.event(judged, file)?;
        self.main.event(judged, file)
    }

    fn events(&mut self, judged: &mut Vec<Judged>, file: Option<&str>) -> io::Result<()> {
        judged.iter().try_for_each(|j| self.side.event(j, file))?;
        self.main.events(judged, file)
    }

    fn counters(&mut self, counters: &Counters) -> io::Result<()> {
        self.side.counters(counters)?;
        self.main.counters(counters)
    }

    fn finish(&mut self, counters: &Counters) -> io::Result<()> {
        self.side.finish(counters)?;
        self.main.finish(counters)
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

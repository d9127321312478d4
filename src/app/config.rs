//! The command line, validated once. `cli` holds the flags as clap parsed them (the "low"
//! arguments); each command turns them here into the decisions it runs on (the "high" ones:
//! durations checked, the DoH list read, the output chosen, colour decided) before anything
//! starts, so a mistake is reported before a capture opens or a file is read.

use std::ffi::OsStr;
use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::cli::{
    BenchArgs, CheckArgs, ColorChoice, JudgeArgs, MonitorArgs, ProcessMode, ReplayArgs, SandboxArgs,
};
use crate::output::summary::SummaryOptions;
use crate::system::sandbox;
use dnsleak_core::{Config, HashSeeds, Overrides};

/// DNS-over-TCP flows held at once: a file can hold any number of flows that never close, and
/// memory must stay flat; 4096 concurrent flows is far beyond a client's needs.
const MAX_TCP_FLOWS: usize = 4096;
/// Bounds of `check --timeout`, in seconds.
const CHECK_TIMEOUT: (f64, f64) = (0.5, 30.0);

/// How traffic is judged: the core's configuration (the bundled resolver list plus
/// `--doh-list`) and the user's interface overrides.
#[derive(Debug, Clone)]
pub struct Judging {
    pub core: Config,
    pub overrides: Overrides,
}

impl Judging {
    pub fn new(args: &JudgeArgs) -> anyhow::Result<Judging> {
        let mut core = Config::new();
        core.seeds = random_seeds();
        core.tcp.max_flows = core.tcp.max_flows.min(MAX_TCP_FLOWS);
        if let Some(path) = &args.doh_list {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the DoH list {}", path.display()))?;
            core.resolvers
                .add_user_list(&text)
                .with_context(|| format!("in the DoH list {}", path.display()))?;
        }
        let overrides = Overrides { tunnel: args.tunnel.clone(), physical: args.physical.clone() };
        Ok(Judging { core, overrides })
    }

    /// The core's configuration for a sink that does (or does not) read message bytes.
    pub fn core_for(&self, keep_payload: bool) -> Config {
        Config { keep_payload, ..self.core.clone() }
    }
}

/// Keys for the core's name and pairing hashes, from the OS's randomness (std's `RandomState`
/// is seeded from it): a flood cannot choose names or ports that collide.
pub fn random_seeds() -> HashSeeds {
    use std::hash::{BuildHasher, RandomState};
    let random = RandomState::new();
    HashSeeds::new(random.hash_one(1u8), random.hash_one(2u8))
}

/// What live capture needs: which interfaces, how to judge, where to save, how long.
#[derive(Debug, Clone)]
pub struct CaptureConfig {
    /// Interfaces asked for with `-i` (empty: every interface that is up).
    pub interfaces: Vec<String>,
    pub judging: Judging,
    /// `--write FILE.pcapng`.
    pub write: Option<PathBuf>,
    /// `--duration`: stop after this long.
    pub duration: Option<Duration>,
    /// What to give up once the first captures are open (`--user`, `--no-seccomp`).
    pub sandbox: sandbox::Options,
    /// `--processes`: how to name the program behind each message.
    pub processes: ProcessMode,
}

/// Where `monitor` shows what it judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorOutput {
    /// The dashboard (standard output is a terminal, and none of --json, --no-tui, --quiet).
    Dashboard,
    Json,
    Lines {
        color: bool,
    },
    /// `--quiet`: nothing on standard output (headless, with --metrics or --on-leak).
    Nothing,
}

/// `--on-leak CMD` and its quiet period.
#[derive(Debug, Clone)]
pub struct OnLeakConfig {
    pub command: String,
    /// Capture time without a leak or bypass that ends an episode.
    pub quiet: Duration,
}

/// What runs beside the monitor's output: `--metrics` and `--on-leak`.
#[derive(Debug, Clone, Default)]
pub struct ServiceConfig {
    pub metrics: Option<SocketAddr>,
    pub on_leak: Option<OnLeakConfig>,
}

#[derive(Debug, Clone)]
pub struct MonitorConfig {
    pub capture: CaptureConfig,
    pub output: MonitorOutput,
    /// `--report FILE.html`, written when the monitor stops.
    pub report: Option<PathBuf>,
    pub service: ServiceConfig,
    /// `--stats-interval`: a `stats` line this often in NDJSON.
    pub stats_every: Option<Duration>,
}

impl MonitorConfig {
    pub fn new(args: &MonitorArgs) -> anyhow::Result<MonitorConfig> {
        let duration = args.duration.map(|s| seconds("--duration", s)).transpose()?;
        let capture = CaptureConfig {
            interfaces: args.interfaces.clone(),
            judging: Judging::new(&args.judge)?,
            write: args.write.clone(),
            duration,
            sandbox: sandbox_options(&args.sandbox),
            processes: args.processes,
        };
        let output = if args.quiet {
            MonitorOutput::Nothing
        } else if args.json {
            MonitorOutput::Json
        } else if !args.no_tui && io::stdout().is_terminal() {
            MonitorOutput::Dashboard
        } else {
            MonitorOutput::Lines { color: use_color(args.color) }
        };
        let on_leak = match &args.on_leak {
            Some(command) => Some(OnLeakConfig {
                command: command.clone(),
                quiet: seconds("--on-leak-quiet", args.on_leak_quiet)?,
            }),
            None => None,
        };
        let service = ServiceConfig { metrics: args.metrics, on_leak };
        let report = report_path(args.report.as_deref(), args.write.as_slice())?;
        let stats_every = args.stats_interval.map(|s| seconds("--stats-interval", s)).transpose()?;
        Ok(MonitorConfig { capture, output, service, report, stats_every })
    }
}

/// Where `replay` shows what it judges.
#[derive(Debug, Clone, Copy)]
pub enum ReplayOutput {
    /// The summary a person reads.
    Summary(SummaryOptions),
    Json,
    /// `--tui`, played back at `speed` times capture speed when given; the summary once it
    /// closes.
    Dashboard {
        speed: Option<f64>,
        after: SummaryOptions,
    },
}

#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// The files, in the order they are judged (name order with `--continue`).
    pub files: Vec<PathBuf>,
    pub judging: Judging,
    pub output: ReplayOutput,
    /// `--report FILE.html`, beside any output.
    pub report: Option<PathBuf>,
    /// No progress bar.
    pub quiet: bool,
    /// `-j`: files judged at once (1 up to the number of files; by default the cores).
    pub jobs: usize,
    /// `--continue`: the files are one rotated capture; one pipeline is carried through them.
    pub carry: bool,
}

impl ReplayConfig {
    pub fn new(args: &ReplayArgs) -> anyhow::Result<ReplayConfig> {
        let summary = SummaryOptions { top: args.top, color: use_color(args.color) };
        let output = if args.json {
            ReplayOutput::Json
        } else if args.tui {
            let speed = match args.speed {
                Some(s) if !(s.is_finite() && s > 0.0) => {
                    bail!("--speed must be a number above 0 (times capture speed), got {s}")
                }
                s => s,
            };
            ReplayOutput::Dashboard { speed, after: summary }
        } else {
            ReplayOutput::Summary(summary)
        };
        // The dashboard shows the progress itself; a bar on standard error would scribble on it.
        let quiet = args.quiet || matches!(output, ReplayOutput::Dashboard { .. });
        let mut files = args.files.clone();
        if args.continue_ {
            // A ring buffer's files sort by their number and time.
            files.sort();
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let jobs = args.jobs.map_or(cores, usize::from).clamp(1, files.len().max(1));
        let report = report_path(args.report.as_deref(), &files)?;
        let judging = Judging::new(&args.judge)?;
        Ok(ReplayConfig { files, judging, output, report, quiet, jobs, carry: args.continue_ })
    }
}

#[derive(Debug, Clone)]
pub struct CheckConfig {
    pub capture: CaptureConfig,
    /// How long the lookups may take.
    pub timeout: Duration,
    pub json: bool,
}

impl CheckConfig {
    pub fn new(args: &CheckArgs) -> anyhow::Result<CheckConfig> {
        let timeout = seconds("--timeout", args.timeout)?;
        let timeout =
            timeout.clamp(Duration::from_secs_f64(CHECK_TIMEOUT.0), Duration::from_secs_f64(CHECK_TIMEOUT.1));
        let capture = CaptureConfig {
            interfaces: args.interfaces.clone(),
            judging: Judging::new(&args.judge)?,
            write: None,
            // Capture ends when the lookups are done; this is the bound if they hang.
            duration: Some(timeout + Duration::from_secs(2)),
            sandbox: sandbox_options(&args.sandbox),
            processes: args.processes,
        };
        Ok(CheckConfig { capture, timeout, json: args.json })
    }
}

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub file: Option<PathBuf>,
    /// Time to measure each contender.
    pub seconds: f64,
}

impl BenchConfig {
    pub fn new(args: &BenchArgs) -> anyhow::Result<BenchConfig> {
        if !(args.seconds.is_finite() && args.seconds >= 0.0) {
            bail!("--seconds must be a number of seconds, 0 or more (got {})", args.seconds);
        }
        Ok(BenchConfig { file: args.file.clone(), seconds: args.seconds })
    }
}

/// `--user` and `--no-seccomp`.
fn sandbox_options(args: &SandboxArgs) -> sandbox::Options {
    sandbox::Options { user: args.user.clone(), seccomp: !args.no_seccomp }
}

/// `--report PATH`: never one of `others` (the capture files read or written), which creating
/// the report would truncate, and never a directory.
fn report_path(path: Option<&Path>, others: &[PathBuf]) -> anyhow::Result<Option<PathBuf>> {
    let Some(path) = path else { return Ok(None) };
    if path.is_dir() {
        bail!("--report {} is a directory: give the report a file name (audit.html)", path.display());
    }
    let same = |other: &PathBuf| match (path.canonicalize(), other.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => path == other,
    };
    if others.iter().any(same) {
        bail!("--report {} is also a capture file: give the report another name", path.display());
    }
    Ok(Some(path.to_path_buf()))
}

/// A flag given in seconds: finite and not negative.
fn seconds(flag: &str, s: f64) -> anyhow::Result<Duration> {
    if !(s.is_finite() && s >= 0.0) {
        bail!("{flag} must be a number of seconds, 0 or more (got {s})");
    }
    Ok(Duration::from_secs_f64(s.min(1e9)))
}

/// Whether text output is coloured: `--color always|never`, else only when standard output is
/// a terminal and `NO_COLOR` is not set to a non-empty value (<https://no-color.org>: an empty
/// `NO_COLOR` does not count).
pub fn use_color(choice: ColorChoice) -> bool {
    color_for(choice, io::stdout().is_terminal(), std::env::var_os("NO_COLOR").as_deref())
}

fn color_for(choice: ColorChoice, terminal: bool, no_color: Option<&OsStr>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && no_color.is_none_or(OsStr::is_empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `monitor` turned colour off for an empty NO_COLOR while `replay` kept it;
    /// both follow the convention now (set and non-empty).
    #[test]
    fn no_color_counts_only_when_set_and_not_empty() {
        let auto = ColorChoice::Auto;
        assert!(color_for(auto, true, None));
        assert!(color_for(auto, true, Some(OsStr::new(""))), "an empty NO_COLOR does not count");
        assert!(!color_for(auto, true, Some(OsStr::new("1"))));
        assert!(!color_for(auto, false, None), "no colour off a terminal");
        assert!(color_for(ColorChoice::Always, false, Some(OsStr::new("1"))));
        assert!(!color_for(ColorChoice::Never, true, None));
    }

    #[test]
    fn durations_are_checked_once() {
        assert_eq!(seconds("--duration", 1.5).unwrap(), Duration::from_millis(1500));
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let err = seconds("--duration", bad).unwrap_err().to_string();
            assert!(err.starts_with("--duration must be a number of seconds"), "{err}");
        }
    }

    #[test]
    fn a_report_over_a_capture_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("dnsleak-report-path-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let capture = dir.join("in.pcapng");
        std::fs::write(&capture, b"").unwrap();
        let err = report_path(Some(&capture), std::slice::from_ref(&capture)).unwrap_err().to_string();
        assert!(err.contains("is also a capture file"), "{err}");
        // The same file by another spelling.
        let other = dir.join(".").join("in.pcapng");
        assert!(report_path(Some(&other), std::slice::from_ref(&capture)).is_err());
        let err = report_path(Some(&dir), &[]).unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
        let fine = dir.join("audit.html");
        assert_eq!(report_path(Some(&fine), &[capture]).unwrap(), Some(fine));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_doh_list_is_named() {
        let args = JudgeArgs { doh_list: Some("/nonexistent/doh.list".into()), ..Default::default() };
        let err = format!("{:#}", Judging::new(&args).unwrap_err());
        assert!(err.contains("cannot read the DoH list /nonexistent/doh.list"), "{err}");
    }
}

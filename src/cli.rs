//! The command line, defined once with clap: `--help`, completions and the man page all come
//! from these definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `--version`: the version, and whether this build names programs with eBPF.
#[cfg(dnsleak_ebpf)]
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (eBPF process attribution: built in)");
#[cfg(not(dnsleak_ebpf))]
pub const VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (eBPF process attribution: not built in, clang was missing)");

#[derive(Debug, Parser)]
#[command(
    name = "dnsleak",
    max_term_width = 100,
    version = VERSION,
    about = "Packet-level DNS leak monitor: is your DNS really going through the VPN?",
    long_about = "dnsleak watches every packet on every interface and says, for each DNS message, which \
interface it left by, to which resolver, over which transport, and whether that was through the \
tunnel (tunnel), a plaintext leak (leak), encrypted DNS going around the tunnel (bypass), loopback \
(local) or link-local multicast (multicast).",
    after_help = "Exit status: 0 no leak or bypass seen, 1 leak or bypass seen, 2 error, or no leak seen but\n\
the result incomplete (a flood filled a table or frames were dropped before their DNS was judged;\n\
the file or interface is named, and the summary says what was dropped and why).\n\
Live capture needs root, or once (cap_bpf and cap_perfmon let eBPF name the program behind each\n\
DNS message): sudo setcap cap_net_raw,cap_net_admin,cap_bpf,cap_perfmon=eip \"$(command -v dnsleak)\""
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch every interface live: a dashboard on a terminal, NDJSON with --json.
    Monitor(MonitorArgs),
    /// Audit capture files (pcap, pcapng, gzip, - for stdin).
    Replay(ReplayArgs),
    /// One-shot check: resolve unique names now and see which way they went.
    Check(CheckArgs),
    /// Measure the decoder on a capture (or a built-in mix) on this machine.
    Bench(BenchArgs),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output.
    Man,
    /// Debugging: print each socket fact (which program owns which DNS socket) as NDJSON.
    #[command(hide = true)]
    Procs(ProcsArgs),
    /// Print what dnsleak reads from this system: interfaces with prefixes, routes, the
    /// resolver configuration (a debugging aid).
    #[command(hide = true)]
    Facts(FactsArgs),
    /// Internal: runs `--on-leak` commands for a monitor (started by it, alerts on standard input).
    #[command(hide = true, name = "on-leak-launcher")]
    OnLeakLauncher {
        /// The commands' output goes to standard error.
        #[arg(long)]
        log: bool,
        /// The command, run as `sh -c CMD`.
        #[arg(last = true, required = true)]
        command: String,
    },
}

#[derive(Debug, Args)]
pub struct FactsArgs {
    /// One JSON object (with --watch, one line per change).
    #[arg(long)]
    pub json: bool,
    /// Also show the kernel's route to ADDR, as `ip route get` (repeatable).
    #[arg(long = "route", value_name = "ADDR")]
    pub route: Vec<std::net::IpAddr>,
    /// Read this file as the system's resolv.conf.
    #[arg(long, value_name = "PATH", default_value = "/etc/resolv.conf")]
    pub resolv_conf: PathBuf,
    /// Do not ask systemd-resolved and NetworkManager over D-Bus.
    #[arg(long)]
    pub no_dbus: bool,
    /// Keep running and print the resolver configuration again whenever it changes.
    #[arg(long)]
    pub watch: bool,
}

/// Options every command that judges traffic shares.
#[derive(Debug, Args, Clone, Default)]
pub struct JudgeArgs {
    /// Treat interface NAME as a VPN tunnel (repeatable).
    #[arg(long = "tunnel", value_name = "NAME")]
    pub tunnel: Vec<String>,
    /// Treat interface NAME as a physical link, never a tunnel (repeatable).
    #[arg(long = "physical", value_name = "NAME")]
    pub physical: Vec<String>,
    /// Extra DoH server names, one per line ("host [provider]"), added to the bundled list.
    #[arg(long, value_name = "FILE")]
    pub doh_list: Option<PathBuf>,
}

/// What live capture gives up once its first captures and files are open.
#[derive(Debug, Args, Clone, Default)]
pub struct SandboxArgs {
    /// Run as user NAME once the captures are open (default when run as root: nobody; root
    /// stays root). CAP_NET_RAW and CAP_NET_ADMIN are kept for interfaces that appear later.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Do not install the system-call filter (to check whether it refused a call).
    #[arg(long)]
    pub no_seccomp: bool,
}

/// How live capture names the program behind each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ProcessMode {
    // eBPF when it loads, else the sock_diag + /proc scan (long-lived sockets only).
    #[default]
    Auto,
    // eBPF or fail (every socket, short-lived ones included).
    Ebpf,
    // The sock_diag + /proc scan only.
    Scan,
    // Do not name programs.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args, Clone)]
pub struct MonitorArgs {
    /// Capture only on interface NAME (repeatable); default: every interface that is up.
    #[arg(short = 'i', long = "interface", value_name = "NAME")]
    pub interfaces: Vec<String>,
    #[command(flatten)]
    pub judge: JudgeArgs,
    /// Stream NDJSON events to stdout instead of the dashboard.
    #[arg(long)]
    pub json: bool,
    /// No dashboard: one line per event (NDJSON with --json).
    #[arg(long)]
    pub no_tui: bool,
    /// No events on standard output and no dashboard (headless, with --metrics or --on-leak);
    /// warnings and the summary at exit still go to standard error.
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (e.g. 127.0.0.1:9153).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Run `sh -c CMD` when a leak episode starts (the first leak or bypass after a quiet
    /// period), with what happened in DNSLEAK_* environment variables, never in CMD itself.
    #[arg(long, value_name = "CMD")]
    pub on_leak: Option<String>,
    /// Seconds without a leak or bypass that end an episode (for --on-leak).
    #[arg(long, value_name = "SECS", default_value_t = 60.0, requires = "on_leak")]
    pub on_leak_quiet: f64,
    /// Also save what was captured to a pcapng file (one interface block per interface).
    #[arg(short = 'w', long = "write", value_name = "FILE.pcapng")]
    pub write: Option<PathBuf>,
    /// Stop after this many seconds (default: until Ctrl-C / SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// With --json: a {"kind":"stats",...} line with every counter every SECS seconds (the
    /// final one is always written).
    #[arg(long, value_name = "SECS", requires = "json")]
    pub stats_interval: Option<f64>,
    /// Also write an HTML audit report (one self-contained page) when the monitor stops.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Name the program behind each message: eBPF, else a scan of /proc (long-lived sockets only)
    #[arg(long, value_enum, default_value_t, value_name = "HOW")]
    pub processes: ProcessMode,
    /// Colour in line output.
    #[arg(long, value_enum, default_value_t)]
    pub color: ColorChoice,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

#[derive(Debug, Args, Clone)]
pub struct ReplayArgs {
    /// Capture files: pcap, pcapng or gzip-compressed either; - reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub judge: JudgeArgs,
    /// One JSON object per line (NDJSON) per message, encrypted flow or notice.
    #[arg(long, conflicts_with = "tui")]
    pub json: bool,
    /// Browse the capture in the dashboard.
    #[arg(long)]
    pub tui: bool,
    /// With --tui: play back at N times capture speed instead of reading it all at once.
    #[arg(long, value_name = "N", requires = "tui")]
    pub speed: Option<f64>,
    /// Also write an HTML audit report (one self-contained page) of the capture; its files are
    /// then judged one after another, in order (-j does not apply).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// How many leaked names the summary lists.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Colour in the summary.
    #[arg(long, value_enum, default_value_t)]
    pub color: ColorChoice,
    /// No progress bar on standard error.
    #[arg(short, long)]
    pub quiet: bool,
    /// Judge up to N files at once (default: the number of cores); the output is the same,
    /// in the same order, whatever N.
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// The files are one rotated capture (dumpcap's ring buffer): judge them in name order as
    /// one, carrying tunnel state, pending queries and streams across files (one at a time).
    #[arg(long = "continue")]
    pub continue_: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Capture only on interface NAME (repeatable); default: every interface that is up.
    #[arg(short = 'i', long = "interface", value_name = "NAME")]
    pub interfaces: Vec<String>,
    #[command(flatten)]
    pub judge: JudgeArgs,
    /// Give up waiting for the lookups after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3.0)]
    pub timeout: f64,
    /// Report as NDJSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// Name the program behind each message: eBPF, else a scan of /proc (long-lived sockets only)
    #[arg(long, value_enum, default_value_t, value_name = "HOW")]
    pub processes: ProcessMode,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A capture to measure on (default: a built-in mix of DNS traffic).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Seconds to measure each contender.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub seconds: f64,
}

#[derive(Debug, Args)]
pub struct ProcsArgs {
    /// Do not try eBPF: use the sock_diag + /proc fallback.
    #[arg(long)]
    pub no_ebpf: bool,
    /// Stop after this many seconds (default: until Ctrl-C / SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
}

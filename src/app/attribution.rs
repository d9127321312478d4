//! Process attribution in a capture session (`monitor`, `check`): started before the
//! capabilities are dropped (loading eBPF needs CAP_BPF and CAP_PERFMON, which nothing keeps
//! afterwards), then drained by the session's thread right before each frame, so a frame's
//! socket facts reach the core before the frame does (`system::processes` says why that order
//! holds).

use anyhow::bail;

use crate::cli::ProcessMode;
use crate::counters::ProcessCounters;
use crate::system::processes::{Attributor, Method, Options};
use dnsleak_core::{Fact, Judged, Pipeline, SocketOwner};

/// A running attributor and what the session counts of it.
pub struct Attribution {
    attributor: Attributor,
    facts: Vec<SocketOwner>,
    counters: ProcessCounters,
}

/// What `start` gives a capture session.
#[derive(Default)]
pub struct Started {
    pub attribution: Option<Attribution>,
    /// Why programs are not named, for the user (`auto` when neither method works).
    pub note: Option<String>,
}

/// Starts attribution as `--processes` asks: nothing when it is off; with `auto`, a failure of
/// both methods is said in `note` (capture goes on without it); with `ebpf`, a failure to load
/// eBPF is an error.
pub fn start(mode: ProcessMode) -> anyhow::Result<Started> {
    let allow_ebpf = match mode {
        ProcessMode::Off => return Ok(Started::default()),
        ProcessMode::Auto | ProcessMode::Ebpf => true,
        ProcessMode::Scan => false,
    };
    let attributor = match Attributor::start(&Options { allow_ebpf, ..Options::default() }) {
        Ok(a) => a,
        Err(e) if mode == ProcessMode::Auto => {
            let note = format!("{e:#}; programs are not named (--processes off silences this)");
            return Ok(Started { attribution: None, note: Some(note) });
        }
        Err(e) => return Err(e.context("--processes")),
    };
    if mode == ProcessMode::Ebpf && attributor.method() != Method::Ebpf {
        bail!(
            "--processes ebpf: {}; use --processes auto to fall back to the /proc scan",
            attributor.describe()
        );
    }
    let counters = ProcessCounters {
        method: attributor.method().as_str(),
        note: attributor.describe(),
        ..ProcessCounters::default()
    };
    Ok(Started { attribution: Some(Attribution { attributor, facts: Vec::new(), counters }), note: None })
}

impl Attribution {
    /// Hands every socket fact waiting to the core (never waits, allocates nothing when there
    /// is none); what the core raises goes to `out`.
    pub fn drain_into(&mut self, pipeline: &mut Pipeline, out: &mut Vec<Judged>) {
        if self.attributor.drain(&mut self.facts) == 0 {
            return;
        }
        for f in self.facts.drain(..) {
            let ts = f.ts;
            pipeline.apply(Fact::Socket(f), ts, out);
        }
    }

    /// Why it is not eBPF, for the user (`None` with eBPF).
    pub fn warning(&self) -> Option<String> {
        (self.attributor.method() != Method::Ebpf).then(|| self.attributor.describe())
    }

    /// The method and the system side's counters now.
    pub fn counters(&mut self) -> ProcessCounters {
        let s = self.attributor.stats();
        self.counters.facts = s.facts;
        self.counters.lost = s.lost;
        self.counters.dropped = s.scan.dropped;
        self.counters.unnamed = s.unnamed;
        self.counters.clone()
    }
}

//! dnsleak: a packet-level DNS leak monitor.
//!
//! The pure core is the crate `dnsleak_core` (frames and facts in, judged events out). Around
//! it: `app` (one module per command), `system` (facts from the OS), `capture` (frames and
//! facts in), `output` and `tui` (judged events out). ARCHITECTURE.md draws it.

pub mod app;
pub mod capture;
pub mod cli;
pub mod counters;
pub mod output;
pub mod system;
pub mod tui;

/// How a command ended, for the exit status (as grep: 0 clean, 1 found, 2 error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No leak or bypass was seen.
    Clean,
    /// At least one leak or bypass was seen.
    Exposed,
}

impl Outcome {
    pub fn from_exposures(n: u64) -> Outcome {
        if n > 0 {
            Outcome::Exposed
        } else {
            Outcome::Clean
        }
    }
}

/// Whether the error is a closed pipe on output (`dnsleak replay --json f | head`), which ends
/// the program quietly with status 0.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

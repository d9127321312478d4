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

/// How a command ended, for the exit status (as grep: 0 clean, 1 found, 2 error or
/// incomplete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No leak or bypass was seen, and everything read was judged.
    Clean,
    /// At least one leak or bypass was seen.
    Exposed,
    /// No leak or bypass was seen, but something was dropped before it was judged (a flood
    /// filled a table, frames were dropped): a leak may hide in it. Says where and how much
    /// (not escaped).
    Incomplete(String),
}

impl Outcome {
    /// From the final counters: a leak or bypass wins; else anything dropped before it was
    /// judged makes the result incomplete (issue #13).
    pub fn of(c: &counters::Counters) -> Outcome {
        if c.core.exposures() > 0 {
            Outcome::Exposed
        } else {
            Outcome::clean_unless_incomplete(c)
        }
    }

    /// For a run whose leaks were counted elsewhere (`check` judges only its own lookups):
    /// clean, unless anything was dropped before it was judged.
    pub fn clean_unless_incomplete(c: &counters::Counters) -> Outcome {
        let lost = c.unjudged();
        if lost > 0 {
            Outcome::Incomplete(format!(
                "no leak seen, but the result is incomplete: {lost} packets, streams or datagrams in {} were dropped before their DNS was judged (a flood filled a table, or frames were dropped: see the summary's \"Incomplete\" lines); a leak may be among them",
                c.incomplete_where()
            ))
        } else {
            Outcome::Clean
        }
    }

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

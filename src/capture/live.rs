//! Live capture: one libpcap capture per interface, frames into the pipeline through a bounded
//! channel. TODO(live helper).

use std::sync::atomic::AtomicBool;

use crate::cli::MonitorArgs;
use crate::output::{Counters, Sink};
use crate::Outcome;

pub fn monitor(args: &MonitorArgs) -> anyhow::Result<Outcome> {
    if !args.json && !args.no_tui && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return crate::tui::monitor(args);
    }
    let _ = args;
    anyhow::bail!("live capture is not built yet")
}

/// Captures until `stop` is set (or `--duration` passes), feeding `sink` from the pipeline
/// thread. The dashboard uses this for `monitor` on a terminal.
pub fn capture_into(args: &MonitorArgs, sink: &mut dyn Sink, stop: &AtomicBool) -> anyhow::Result<Counters> {
    let _ = (args, sink, stop);
    anyhow::bail!("live capture is not built yet")
}

//! Live capture: one libpcap capture per interface, frames into the pipeline through a bounded
//! channel. TODO(live helper).

use crate::cli::MonitorArgs;
use crate::Outcome;

pub fn monitor(args: &MonitorArgs) -> anyhow::Result<Outcome> {
    let _ = args;
    anyhow::bail!("live capture is not built yet")
}

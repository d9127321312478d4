//! The dashboard: `monitor` on a terminal, `replay --tui`. TODO(tui helper).

use crate::cli::{MonitorArgs, ReplayArgs};
use crate::Outcome;

/// `dnsleak monitor` on a terminal.
pub fn monitor(args: &MonitorArgs) -> anyhow::Result<Outcome> {
    let _ = args;
    anyhow::bail!("the dashboard is not built yet")
}

/// `dnsleak replay --tui`.
pub fn replay(args: &ReplayArgs) -> anyhow::Result<Outcome> {
    let _ = args;
    anyhow::bail!("the dashboard is not built yet")
}

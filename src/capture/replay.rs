//! Replay: capture files through the core. TODO(replay helper).

use crate::cli::ReplayArgs;
use crate::Outcome;

pub fn run(args: &ReplayArgs) -> anyhow::Result<Outcome> {
    let _ = args;
    anyhow::bail!("replay is not built yet")
}

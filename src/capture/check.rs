//! `dnsleak check`: resolve unique names now while capturing, and judge what went where.
//! TODO(live helper).

use crate::cli::CheckArgs;
use crate::Outcome;

pub fn run(args: &CheckArgs) -> anyhow::Result<Outcome> {
    let _ = args;
    anyhow::bail!("check is not built yet")
}

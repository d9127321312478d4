//! `dnsleak bench`: the decoder's speed on the user's capture. TODO.

use crate::cli::BenchArgs;

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("bench is not built yet")
}

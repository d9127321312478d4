//! What the replay benches share: running the real binary and measuring what one run cost.
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run cost.
#[derive(Clone, Copy)]
pub struct Cost {
    pub wall: Duration,
    /// User + system CPU time of the child: what the machine's other load does not inflate.
    pub cpu: Duration,
    pub peak_rss: u64,
}

/// Runs a command with stdout to /dev/null; returns its wall time, CPU time and peak RSS
/// (wait4's resource usage of the child, through the `wait4` crate).
pub fn run(cmd: &mut Command) -> Cost {
    use wait4::Wait4;
    let start = Instant::now();
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
    let used = child.wait4().expect("wait4");
    let elapsed = start.elapsed();
    Cost { wall: elapsed, cpu: used.rusage.utime + used.rusage.stime, peak_rss: used.rusage.maxrss }
}

/// The run with the least CPU time.
pub fn best_of(n: usize, mut f: impl FnMut() -> Cost) -> Cost {
    (0..n).map(|_| f()).min_by_key(|r| r.cpu).unwrap()
}

/// The run with the least wall time (for comparisons of wall time: threads spend more CPU).
pub fn best_wall_of(n: usize, mut f: impl FnMut() -> Cost) -> Cost {
    (0..n).map(|_| f()).min_by_key(|r| r.wall).unwrap()
}

pub fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

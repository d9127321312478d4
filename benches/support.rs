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

pub fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// Runs a command with stdout to /dev/null; returns its wall time, CPU time and peak RSS.
#[allow(clippy::zombie_processes)] // reaped by wait4, which also gives its rusage
pub fn run(cmd: &mut Command) -> Cost {
    let start = Instant::now();
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in; the pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let elapsed = start.elapsed();
    assert_eq!(pid, child.id() as libc::pid_t, "wait4");
    Cost {
        wall: elapsed,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        peak_rss: usage.ru_maxrss as u64 * 1024,
    }
}

pub fn best_of(n: usize, mut f: impl FnMut() -> Cost) -> Cost {
    (0..n).map(|_| f()).min_by_key(|r| r.cpu).unwrap()
}

pub fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

/// The run with the least wall time (for comparisons of wall time: threads spend more CPU).
pub fn best_wall_of(n: usize, mut f: impl FnMut() -> Cost) -> Cost {
    (0..n).map(|_| f()).min_by_key(|r| r.wall).unwrap()
}

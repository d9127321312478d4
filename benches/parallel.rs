//! `dnsleak replay -j N` on several files: wall time against `-j 1` on the same files.
//!
//! `cargo bench --bench parallel` writes (not committed) 8 pcapng files of the built-in
//! traffic mix (`DNSLEAK_BENCH_PACKETS` packets each, 125,000 by default: 1 M in all, each
//! with its own seed), then times `dnsleak replay -j 1` and `-j 2` on all eight, for the summary
//! and for `--json > /dev/null`, best of three, and prints the speed-up (target: >= 1.8x with 2
//! cores) and the peak memory of each (target: `-j 2` within 2x of `-j 1`: N times one
//! file's). Criterion then keeps the history of `-j 1` and `-j 2`.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use dnsleak::app::bench::mix::write_pcapng;

mod support;
use support::{best_wall_of, mb, run, Cost};

const BIN: &str = env!("CARGO_BIN_EXE_dnsleak");
const FILES: u64 = 8;

fn files(packets: u64) -> Vec<PathBuf> {
    (1..=FILES)
        .map(|seed| {
            let path =
                Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("parallel-{packets}-{seed}.pcapng"));
            if !path.exists() {
                let tmp = path.with_extension("partial");
                let mut w = BufWriter::new(File::create(&tmp).unwrap());
                write_pcapng(&mut w, packets, seed).unwrap();
                drop(w);
                std::fs::rename(&tmp, &path).unwrap();
            }
            path
        })
        .collect()
}

fn replay(args: &[&str], jobs: u8, files: &[PathBuf]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("replay").arg("-q").args(args).arg("-j").arg(jobs.to_string()).args(files).env("NO_COLOR", "1");
    c
}

fn line(what: &str, c: &Cost) {
    println!(
        "  {what:<22} wall {:>7.3} s  cpu {:>7.3} s  peak {:>6.1} MB",
        c.wall.as_secs_f64(),
        c.cpu.as_secs_f64(),
        mb(c.peak_rss)
    );
}

/// The comparison the issue asks for, printed before criterion runs.
fn compare(packets: u64, files: &[PathBuf]) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("parallel replay bench: {FILES} files of {packets} packets, {cores} cores");
    for (mode, args) in [("summary", &[][..]), ("--json", &["--json"][..])] {
        let one = best_wall_of(3, || run(&mut replay(args, 1, files)));
        let two = best_wall_of(3, || run(&mut replay(args, 2, files)));
        line(&format!("{mode} -j 1"), &one);
        line(&format!("{mode} -j 2"), &two);
        println!(
            "  {mode}: -j 2 is {:.2}x faster than -j 1 (target 1.8x); peak memory {:.2}x (target <= 2x)",
            one.wall.as_secs_f64() / two.wall.as_secs_f64(),
            two.peak_rss as f64 / one.peak_rss.max(1) as f64
        );
    }
}

fn bench(c: &mut Criterion) {
    let packets: u64 =
        std::env::var("DNSLEAK_BENCH_PACKETS").ok().and_then(|v| v.parse().ok()).unwrap_or(125_000);
    let files = files(packets);
    compare(packets, &files);
    let mut g = c.benchmark_group("parallel");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    for jobs in [1u8, 2] {
        g.bench_function(format!("summary -j {jobs}"), |b| b.iter(|| run(&mut replay(&[], jobs, &files))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

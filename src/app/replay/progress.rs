//! The progress of a replay of several files: one bar for all of them (bytes read of their
//! total size, files written, packets and packets/s), fed by whichever threads read them
//! (`replay -j`'s workers, or the one thread of a replay one file after another).

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar, on a terminal and unless `--quiet`. Shared by the threads that read (indicatif
/// draws at most 20 times a second, whoever asks).
pub(crate) struct Progress {
    bar: ProgressBar,
    files: usize,
    started: Instant,
    bytes: AtomicU64,
    packets: AtomicU64,
    written: AtomicU64,
}

impl Progress {
    /// A bar over the size of every file (a spinner when one has no size: a pipe, standard
    /// input), or `None` when there is nobody to see it.
    pub fn new(quiet: bool, files: &[PathBuf]) -> Option<Progress> {
        if quiet || !io::stderr().is_terminal() {
            return None;
        }
        Some(Progress::to(ProgressDrawTarget::stderr(), files))
    }

    fn to(target: ProgressDrawTarget, files: &[PathBuf]) -> Progress {
        Progress {
            bar: bar(target, total_size(files)),
            files: files.len(),
            started: Instant::now(),
            bytes: AtomicU64::new(0),
            packets: AtomicU64::new(0),
            written: AtomicU64::new(0),
        }
    }

    /// Counts what a file read since it last said.
    pub fn add(&self, bytes: u64, packets: u64) {
        self.bytes.fetch_add(bytes, Relaxed);
        self.packets.fetch_add(packets, Relaxed);
        self.draw();
    }

    /// One more file's output is written.
    pub fn file_written(&self) {
        self.written.fetch_add(1, Relaxed);
        self.draw();
    }

    fn draw(&self) {
        self.bar.set_position(self.bytes.load(Relaxed));
        let (packets, written) = (self.packets.load(Relaxed), self.written.load(Relaxed));
        self.bar.set_message(message(packets, written, self.files, self.started.elapsed()));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A bar of bytes read out of `total` (a spinner when the size is not known), its message
/// left to the caller. Every replay bar looks so.
pub(super) fn bar(target: ProgressDrawTarget, total: Option<u64>) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(total, target);
    let template = match total {
        Some(_) => "{bar:30} {bytes}/{total_bytes} {msg} ({eta})",
        None => "{spinner} {bytes} read {msg}",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// `N packets, R packets/s`.
pub(super) fn packets(packets: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    format!("{packets} packets, {:.0} packets/s", packets as f64 / secs)
}

/// The sum of the files' sizes; `None` when one is not a regular file.
fn total_size(files: &[PathBuf]) -> Option<u64> {
    files.iter().try_fold(0u64, |sum, f| {
        let m = std::fs::metadata(f).ok().filter(std::fs::Metadata::is_file)?;
        Some(sum.saturating_add(m.len()))
    })
}

fn message(n: u64, written: u64, files: usize, elapsed: Duration) -> String {
    format!("{written}/{files} files written, {}", packets(n, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_is_the_sum_of_the_sizes_and_unknown_for_a_pipe() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, [0u8; 100]).unwrap();
        std::fs::write(&b, [0u8; 23]).unwrap();
        assert_eq!(total_size(&[a.clone(), b.clone()]), Some(123));
        assert_eq!(total_size(&[a.clone(), PathBuf::from("-")]), None, "standard input has no size");
        assert_eq!(total_size(&[a, PathBuf::from("/dev/null")]), None, "not a regular file");
    }

    #[test]
    fn the_bar_shows_what_the_readers_counted() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a");
        std::fs::write(&f, [0u8; 1000]).unwrap();
        let p = Progress::to(ProgressDrawTarget::hidden(), &[f.clone(), f]);
        p.add(600, 40);
        p.file_written();
        p.add(300, 2);
        assert_eq!(p.bar.length(), Some(2000));
        assert_eq!(p.bar.position(), 900);
        assert!(p.bar.message().starts_with("1/2 files written, 42 packets, "), "{}", p.bar.message());
    }

    #[test]
    fn the_rate_is_packets_over_elapsed_time() {
        assert_eq!(
            message(5000, 3, 8, Duration::from_secs(2)),
            "3/8 files written, 5000 packets, 2500 packets/s"
        );
    }
}

//! Helpers shared by the integration tests (each test file that needs them says `mod support;`).

#![allow(dead_code)]

pub mod tmux;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `shared/corpus` (the third-party captures and tshark's truth) beside the repository or any
/// directory above it: where CI's clone and every worktree find it.
pub fn find_corpus() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/corpus"))
        .find(|p| p.join("INDEX.tsv").exists())
}

/// The corpus, for tests that cannot do without it.
pub fn corpus() -> PathBuf {
    find_corpus().expect("the corpus (shared/corpus) next to the repository")
}

/// Calls `check` until it gives a value or `within` has passed: the one polling loop of these
/// tests (a short pause between looks, never a sleep standing in for a condition).
pub fn poll<T>(within: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if start.elapsed() >= within {
            return None;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

//! Helpers shared by the integration tests (each test file that needs them says `mod support;`).

#![allow(dead_code)]

pub mod tmux;

use std::path::{Path, PathBuf};

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

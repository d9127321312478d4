//! Every disagreement with tshark, each asserted by a named test in `corpus_truth.rs`.

use super::{Disagreement as D, Explained};

pub static EXPLAINED: &[Explained] = &[];

//! The shells that feed the core: files (replay), live capture, the one-shot check.

pub mod check;
pub mod live;
pub mod reader;
pub mod replay;

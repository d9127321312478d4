//! The shells that feed the core: files (replay), live capture, the one-shot check.

pub mod ahead;
pub mod check;
pub mod interfaces;
pub mod live;
pub mod privilege;
pub mod reader;
pub mod replay;

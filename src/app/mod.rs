//! One module per command: the command line becomes a validated configuration, sources and
//! sinks are picked and run, and the final summaries are printed.

pub mod attribution;
pub mod bench;
pub mod check;
pub mod config;
pub mod facts;
pub mod monitor;
pub mod parallel;
pub mod procs;
pub mod reorder;
pub mod replay;
pub mod service;

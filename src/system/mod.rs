//! Facts from the operating system: interfaces and privileges (next: routes, resolver
//! configuration, processes). Read here, handed to the core as plain data.

pub mod interfaces;
pub mod privilege;
pub mod sandbox;

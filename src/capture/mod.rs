//! Where frames come from: capture files (pcap, pcapng, gzip, stdin) and live libpcap captures.
//! This layer produces frames and interface changes, nothing else: commands in `app` wire it
//! to the core and the outputs.

pub mod ahead;
pub mod filter;
pub mod live;
pub mod order;
mod os_facts;
pub mod reader;

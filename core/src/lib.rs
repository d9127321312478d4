//! The pure core: bytes and facts in (frames; `Fact`s about the machine through
//! `Pipeline::apply`), judged events out.
//!
//! No pcap, no terminal, no netdev, no clock: trace time comes in with each frame, so replay
//! and live capture give the same verdicts, and everything here is tested without root.
//! The compiler keeps it that way: this crate's dependencies are an allowlist (no pcap,
//! terminal, netdev, libc or clock crate; `tests/house_rules.rs`), unsafe code is forbidden,
//! and `core/clippy.toml` forbids clocks, files, sockets, threads, processes, the environment
//! and the terminal.

#![forbid(unsafe_code)]

pub mod agemap;
pub mod cause;
pub mod config;
pub mod dns;
pub mod dnsconfig;
pub mod dnscrypt;
pub mod event;
pub mod fact;
pub mod frag;
pub mod frame;
pub mod ip;
pub mod link;
pub mod losses;
pub mod names;
pub mod net;
pub mod pipeline;
pub mod process;
pub mod quic;
pub mod reorder;
pub mod resolvers;
pub mod route;
pub mod stats;
pub mod tcp;
pub mod tls;
pub mod topology;
pub mod tracker;
pub mod verdict;

pub use cause::{Cause, Caused};
pub use config::{Config, HashSeeds};
pub use dnsconfig::{Manager, ResolverConfig};
pub use event::{Body, Encap, Event, EventKind, Judged, Notice, Transport, L4};
pub use fact::Fact;
pub use frame::{Frame, FrameRef, LinkType, Ts};
pub use losses::{Loss, Table};
pub use net::{Family, IfaceAddr, Prefix};
pub use pipeline::Pipeline;
pub use process::{
    Attribution, Owner, Process, ProcessStats, ProcessTable, Recorded, SockProto, SocketOwner,
};
pub use route::{LinkRoutes, RouteDecision, RouteKind};
pub use stats::{FlowCarrier, FrameClass, Stats};
pub use topology::{IfaceFacts, IfaceId, IfaceKind, IfaceName, Overrides, Topology};
pub use verdict::{Reason, Verdict};

//! The pure core: bytes and interface facts in, events and verdicts out.
//!
//! No pcap, no terminal, no netdev, no clock: trace time comes in with each frame, so replay
//! and live capture give the same verdicts, and everything here is tested without root.
//! (`tests/core_boundary.rs` keeps it that way.)

pub mod cause;
pub mod dns;
pub mod dnsconfig;
pub mod event;
pub mod frag;
pub mod frame;
pub mod ip;
pub mod link;
pub mod net;
pub mod pipeline;
pub mod reorder;
pub mod resolvers;
pub mod route;
pub mod stats;
pub mod tcp;
pub mod tls;
pub mod topology;
pub mod tracker;
pub mod verdict;

pub use cause::{Cause, Explanation, Situation};
pub use dnsconfig::{Manager, ResolverConfig};
pub use event::{Encap, Event, EventKind, Judged, Notice, Transport, L4};
pub use frame::{Frame, FrameRef, LinkType, Ts};
pub use net::{Family, IfaceAddr, Prefix};
pub use pipeline::{Config, Pipeline};
pub use route::{LinkRoutes, RouteDecision, RouteKind};
pub use stats::{FrameClass, Stats};
pub use topology::{IfaceFacts, IfaceId, IfaceKind, IfaceName, Overrides, Topology};
pub use verdict::{Reason, Verdict};

//! The pure core: bytes and interface facts in, events and verdicts out.
//!
//! No pcap, no terminal, no netdev, no clock: trace time comes in with each frame, so replay
//! and live capture give the same verdicts, and everything here is tested without root.
//! (`tests/core_boundary.rs` keeps it that way.)

pub mod agemap;
pub mod dns;
pub mod event;
pub mod frag;
pub mod frame;
pub mod ip;
pub mod link;
pub mod pipeline;
pub mod resolvers;
pub mod stats;
pub mod tcp;
pub mod tls;
pub mod topology;
pub mod tracker;
pub mod verdict;

pub use event::{Encap, Event, EventKind, Judged, Notice, Transport, L4};
pub use frame::{Frame, FrameRef, LinkType, Ts};
pub use pipeline::{Config, Pipeline};
pub use stats::{FrameClass, Stats};
pub use topology::{IfaceFacts, IfaceId, IfaceKind, IfaceName, Overrides, Topology};
pub use verdict::{Reason, Verdict};

//! Facts about the machine, handed to the core as plain data through one door:
//! `Pipeline::apply(fact, ts, out)`, in order with the frames, stamped with the trace time at
//! which they became true. The shells read them (live: `dnsleak::system`; replay: the capture
//! file's interface blocks); the core never asks the operating system anything.
//!
//! Each kind of fact is a variant here and one arm in `Pipeline::apply`.

use super::dnsconfig::ResolverConfig;
use super::process::{Recorded, SocketOwner};
use super::route::{LinkRoutes, RouteDecision};
use super::topology::Topology;

/// One fact, replacing what the core knew of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fact {
    /// Every interface as it is now (the whole set: one that is missing is gone).
    Interfaces(Topology),
    /// The resolver configuration as read now (resolv.conf, systemd-resolved, NetworkManager).
    Resolvers(Box<ResolverConfig>),
    /// Which address families each interface has routes for (the whole set); the routes
    /// changed, so every route decision known before is forgotten.
    LinkRoutes(Vec<LinkRoutes>),
    /// The kernel's route to one destination (asked as `ip route get` asks).
    Route(RouteDecision),
    /// This socket belongs to this process, from now on (live process attribution).
    Socket(SocketOwner),
    /// The sender of the next frame's message or flow, as a file dnsleak wrote recorded it.
    Recorded(Recorded),
}

impl Fact {
    /// The interfaces, when that is what this fact says.
    pub fn interfaces(&self) -> Option<&Topology> {
        match self {
            Fact::Interfaces(t) => Some(t),
            _ => None,
        }
    }
}

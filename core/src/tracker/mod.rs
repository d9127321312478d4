//! Pairing of queries with responses (response time, unanswered queries) and the patterns a
//! user cares about beyond single messages: parallel resolution inside and outside the tunnel,
//! DNS while no tunnel is up (kill switch failed), answers from an address other than the one
//! asked (hijack). Time is trace time; every table is capped.
//!
//! Pairing. A query is remembered under (interface, transport, L4 protocol, client address and
//! port, server port, id, first question) and the address it was sent to; a response looks up
//! the same key from its own side. Keeping the server's address out of the key lets a response
//! from another address be seen for what it is:
//! - unicast DNS answered from another address than the one asked: paired (the client got an
//!   answer) and a `Hijack` notice, once per (asked, answered from) pair;
//! - a query sent to a multicast group (LLMNR, one-shot mDNS from a port other than 5353) is
//!   answered by whoever holds the name, from the responder's own address: every such answer is
//!   paired with the query (each gets its response time), and the query stays until its timeout.
//!   Silence is how these protocols say "no such name", so an unanswered multicast query counts
//!   as `silent_multicast`, not as `unanswered`;
//! - ordinary mDNS (queries from port 5353) is answered to the group or to port 5353 without a
//!   question section (RFC 6762 section 6), so it cannot be paired: such queries are not kept,
//!   and such answers are not "unmatched".
//!
//! A query repeated with the same key and server (a retransmission) keeps the first send's time
//! and is one query. A query with no response after `query_timeout_ns` is unanswered: counted,
//! kept in a short list of recent ones, never a second event.
//!
//! The seams: `hash` (the keyed hashing the tables share), `pairing` (the slab of waiting
//! queries, their keys and chains), `patterns` (kill switch, parallel resolution, hijack).

mod hash;
mod pairing;
mod patterns;
#[cfg(test)]
mod tests;

use std::collections::hash_map::HashMap;
use std::collections::VecDeque;
use std::net::IpAddr;

use self::hash::PairKey;
pub(crate) use self::hash::{folded_multiply, lower_name_hash, Prehashed};
use self::pairing::{Due, Slot};
use self::patterns::NameSeen;
use crate::agemap::AgeMap;
use crate::config::HashSeeds;
use crate::event::{Body, Event, Judged, MessageKind, Notice, Transport, L4};
use crate::frame::Ts;
use crate::stats::PairStats;
use crate::topology::{IfaceId, IfaceName, Topology};

#[derive(Debug, Clone, Copy)]
pub struct TrackerLimits {
    /// Queries waiting for a response.
    pub max_pending: usize,
    /// A query with no response after this much trace time is unanswered.
    pub query_timeout_ns: u64,
    /// Window for "the same name inside and outside the tunnel".
    pub parallel_window_ns: u64,
    /// Names remembered for parallel resolution (each for about one window).
    pub max_names: usize,
    /// Recent unanswered queries kept for outputs to show.
    pub max_recent_unanswered: usize,
    /// (asked, answered from) pairs remembered so that a hijack is noticed once.
    pub max_hijack_pairs: usize,
    /// A hijack pair not seen for this long is forgotten (and noticed again if it comes back).
    pub hijack_memory_ns: u64,
}

impl Default for TrackerLimits {
    fn default() -> Self {
        TrackerLimits {
            max_pending: 65_536,
            query_timeout_ns: 5_000_000_000,
            parallel_window_ns: 1_000_000_000,
            max_names: 16_384,
            max_recent_unanswered: 64,
            max_hijack_pairs: 1_024,
            hijack_memory_ns: 3_600_000_000_000,
        }
    }
}

/// A query that got no response within the timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unanswered {
    /// When the query was sent (trace time) and the frame that carried it.
    pub ts: Ts,
    pub frame: u64,
    pub name: Box<str>,
    pub qtype: u16,
    pub transport: Transport,
    pub proto: L4,
    /// The address and port asked.
    pub resolver: IpAddr,
    pub port: u16,
    pub iface: IfaceId,
    pub iface_name: IfaceName,
}

/// When and where a message was seen: what a notice about it repeats.
#[derive(Clone, Copy)]
struct At<'a> {
    ts: Ts,
    frame: u64,
    iface: IfaceId,
    iface_name: &'a IfaceName,
}

impl At<'_> {
    fn notice(&self, notice: Notice) -> Event {
        Event::notice(self.ts, self.frame, self.iface, self.iface_name.clone(), notice)
    }
}

#[derive(Debug, Default)]
pub struct Tracker {
    limits: TrackerLimits,
    stats: PairStats,
    /// Seeds of the name and key hashes (the second one odd: a multiplier); random in the
    /// shells (`Config::seeds`).
    seeds: (u64, u64),
    /// Key -> first slot of its chain of asks.
    pending: HashMap<PairKey, u32, Prehashed>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Queries waiting, in the order sent; entries of answered queries are skipped lazily.
    queue: VecDeque<Due>,
    live: usize,
    seq: u64,
    recent: VecDeque<Unanswered>,
    /// By the keyed hash of the lower-cased name, least recently asked first.
    names: AgeMap<u64, NameSeen, 1, Prehashed>,
    /// (asked, answered from) -> last seen, least recently seen first.
    hijacks: AgeMap<(IpAddr, IpAddr), Ts>,
    /// The kill-switch notice of the current outage was given.
    outage_noticed: bool,
}

impl Tracker {
    /// A tracker with the fixed default seeds (tests).
    pub fn new(limits: TrackerLimits) -> Self {
        Tracker::seeded(limits, HashSeeds::default())
    }

    pub fn seeded(limits: TrackerLimits, seeds: HashSeeds) -> Self {
        Tracker { limits, seeds: seeds.pair(), ..Default::default() }
    }

    /// Looks at one judged query, response or encrypted flow, in capture order. Fills
    /// `rtt_ns` of a response paired with its query, and its `owner` (the query's program);
    /// appends notices (unjudged events of kind
    /// `Notice`) to `notices`.
    pub fn observe(&mut self, judged: &mut Judged, topology: &Topology, notices: &mut Vec<Event>) {
        let name = self.name_hash(judged.event.qname().unwrap_or(""));
        self.observe_named(judged, name, topology, notices);
    }

    /// [`observe`](Self::observe) with the keyed hash of the message's question name (of ""
    /// without one) already computed with this tracker's seeds (`HashSeeds::name_hash`): the
    /// pipeline computes it once per message for the tracker and the causes.
    pub fn observe_named(
        &mut self,
        judged: &mut Judged,
        name_hash: u64,
        topology: &Topology,
        notices: &mut Vec<Event>,
    ) {
        let Judged { event, verdict, reason, .. } = judged;
        let Event { ts, frame, iface, iface_name, body } = event;
        let Body::Message(msg) = body else { return };
        let at = At { ts: *ts, frame: *frame, iface: *iface, iface_name };
        match msg.kind {
            MessageKind::Query => {
                let Some(info) = msg.dns.as_ref() else { return };
                let name = info.question.as_ref().map_or("", |q| &q.name);
                self.kill_switch(&at, reason, notices);
                self.parallel(&at, *verdict, name, name_hash, topology, notices);
                self.track_query(&at, &msg.wire, info, name_hash, msg.owner.as_ref());
            }
            MessageKind::Response => {
                if let Some((rtt, owner)) = self.pair_response(&at, msg, name_hash, notices) {
                    msg.rtt_ns = Some(rtt);
                    msg.owner = owner;
                }
            }
            MessageKind::Malformed(_) => {}
        }
    }

    /// The interfaces changed: a tunnel that is up again ends the current outage, so the next
    /// one gets its own kill-switch notice.
    pub fn topology_changed(&mut self, topology: &Topology) {
        if topology.tunnels_up().next().is_some() {
            self.outage_noticed = false;
        }
    }

    /// Counts queries unanswered past the timeout at trace time `now`, and forgets what the
    /// patterns no longer need.
    pub fn expire(&mut self, now: Ts) {
        while let Some(due) = self.queue.front().copied() {
            if now.since(due.ts) <= self.limits.query_timeout_ns {
                break;
            }
            self.queue.pop_front();
            self.time_out(due);
        }
        self.expire_names(now);
        let memory = self.limits.hijack_memory_ns;
        while let Some((_, seen)) = self.hijacks.oldest(0) {
            if now.since(*seen) <= memory {
                break;
            }
            self.hijacks.pop_oldest(0);
        }
    }

    /// Forgets names last asked more than a window before `now`, least recently asked first
    /// (a name whose quiet time runs longer holds back those asked after it, by one window
    /// at most).
    fn expire_names(&mut self, now: Ts) {
        let window = self.limits.parallel_window_ns;
        while let Some((_, n)) = self.names.oldest(0) {
            if now.since(n.latest()) <= window {
                break;
            }
            self.names.pop_oldest(0);
        }
    }

    /// End of input: every query still pending is unanswered.
    pub fn finish(&mut self) {
        while let Some(due) = self.queue.pop_front() {
            self.time_out(due);
        }
        self.names.clear();
    }

    pub fn stats(&self) -> PairStats {
        self.stats
    }

    /// The most recent unanswered queries, oldest first (at most
    /// `TrackerLimits::max_recent_unanswered`).
    pub fn recent_unanswered(&self) -> std::collections::vec_deque::Iter<'_, Unanswered> {
        self.recent.iter()
    }

    /// Queries waiting for a response now.
    pub fn pending(&self) -> usize {
        self.live
    }
}

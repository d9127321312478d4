//! Pairing of queries with responses (response time, unanswered queries) and the patterns a
//! user cares about beyond single messages: parallel resolution inside and outside the tunnel,
//! DNS while no tunnel is up (kill switch failed), answers from an address other than the one
//! asked (hijack). Time is trace time; every table is capped.

use super::event::{Event, Judged};
use super::frame::Ts;
use super::stats::PairStats;
use super::topology::Topology;

#[derive(Debug, Clone, Copy)]
pub struct TrackerLimits {
    /// Queries waiting for a response.
    pub max_pending: usize,
    /// A query with no response after this much trace time is unanswered.
    pub query_timeout_ns: u64,
    /// Window for "the same name inside and outside the tunnel".
    pub parallel_window_ns: u64,
}

impl Default for TrackerLimits {
    fn default() -> Self {
        TrackerLimits {
            max_pending: 65_536,
            query_timeout_ns: 5_000_000_000,
            parallel_window_ns: 1_000_000_000,
        }
    }
}

#[derive(Debug, Default)]
pub struct Tracker {
    limits: TrackerLimits,
    stats: PairStats,
}

impl Tracker {
    pub fn new(limits: TrackerLimits) -> Self {
        Tracker { limits, stats: PairStats::default() }
    }

    /// Looks at one judged query, response or encrypted flow, in capture order. Fills
    /// `rtt_ns` of a response paired with its query; appends notices (unjudged events of kind
    /// `Notice`) to `notices`. TODO(tracker helper): implement.
    pub fn observe(&mut self, judged: &mut Judged, topology: &Topology, notices: &mut Vec<Event>) {
        let _ = (judged, topology, notices, &self.limits);
    }

    /// Counts queries unanswered past the timeout at trace time `now`.
    pub fn expire(&mut self, now: Ts) {
        let _ = now;
    }

    /// End of input: every query still pending is unanswered.
    pub fn finish(&mut self) {}

    pub fn stats(&self) -> PairStats {
        self.stats
    }
}

//! Everything the pipeline can be tuned with: the resolver list and each bounded table's caps.

use super::cause::CauseLimits;
use super::dnscrypt::DnscryptLimits;
use super::frag::FragLimits;
use super::resolvers::ResolverDb;
use super::tcp::TcpLimits;
use super::tracker::TrackerLimits;

/// Everything the pipeline can be tuned with.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub resolvers: ResolverDb,
    pub frag: FragLimits,
    pub tcp: TcpLimits,
    pub tracker: TrackerLimits,
    /// Encrypted-DNS flows remembered at once (one event per flow).
    pub max_encrypted_flows: usize,
    /// DNSCrypt flows and learned client magics remembered at once.
    pub dnscrypt: DnscryptLimits,
    /// Keep each message's bytes in its event (`DnsInfo::payload`) for outputs that decode
    /// answers and EDNS later (NDJSON, the dashboard). The shells set it from the sink
    /// (`Sink::wants_payload`): the replay summary never decodes answers, and turning it off
    /// saves a copy and an allocation per message.
    pub keep_payload: bool,
    /// The causes' tables (recent questions, route decisions).
    pub causes: CauseLimits,
    /// Name the program behind each outgoing message from the start (live capture with an
    /// attributor), counting what stays unattributed. Without it, attribution starts with the
    /// first `Fact::Socket` or `Fact::Recorded`, and a file without them costs nothing.
    pub attribute_processes: bool,
    /// Keys of the hashes of names and pairing keys (which hostile input chooses). The core
    /// draws no randomness of its own: the shells fill them from the OS (`HashSeeds::new` with
    /// two random words) so that collisions cannot be planned from the wire; the default is
    /// fixed, for tests and benches that want the same run every time.
    pub seeds: HashSeeds,
}

/// Keys of the multiply-fold hashes the tracker and the causes key their tables with: a seed
/// and an odd multiplier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashSeeds {
    seed: u64,
    mul: u64,
}

impl HashSeeds {
    /// Seeds from two words (the multiplier is made odd).
    pub const fn new(seed: u64, mul: u64) -> HashSeeds {
        HashSeeds { seed, mul: mul | 1 }
    }

    /// (seed, multiplier).
    pub const fn pair(self) -> (u64, u64) {
        (self.seed, self.mul)
    }

    /// The keyed hash of a name, ASCII case folded: what the tracker and the causes key
    /// names by.
    pub fn name_hash(self, name: &str) -> u64 {
        crate::tracker::lower_name_hash(self.pair(), name.as_bytes())
    }
}

impl Default for HashSeeds {
    /// Fixed seeds (digits of pi): deterministic runs for tests and benches.
    fn default() -> Self {
        HashSeeds::new(0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344)
    }
}

impl Config {
    pub fn new() -> Self {
        Config {
            resolvers: ResolverDb::builtin(),
            max_encrypted_flows: 65_536,
            keep_payload: true,
            ..Default::default()
        }
    }
}

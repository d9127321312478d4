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

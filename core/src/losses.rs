//! What the core's bounded tables dropped to stay within their caps, named once for every
//! output (summary, monitor, dashboard, NDJSON): a flood costs bounded memory and time, and
//! what it pushed out is counted and said, never silent (issue #13).
//!
//! A loss is *unjudged* when what was dropped had not been judged yet (part of a DNS-over-TCP
//! message, the fragments of a datagram, the start of a ClientHello): a leak may hide in it, so
//! a run with such a loss cannot end with "no leak". Other losses (a pending query forgotten
//! before its answer, a name not checked for parallel resolution) only make counts or patterns
//! less complete; every message was judged.

use crate::config::Config;
use crate::stats::Stats;

/// A bounded table of the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Fragments,
    TcpFlows,
    EncryptedFlows,
    DnscryptFlows,
    PendingQueries,
    Names,
    /// The recent questions the causes look back at (stub_upstream, parallel_resolution).
    CauseNames,
}

impl Table {
    pub const ALL: [Table; 7] = [
        Table::Fragments,
        Table::TcpFlows,
        Table::EncryptedFlows,
        Table::DnscryptFlows,
        Table::PendingQueries,
        Table::Names,
        Table::CauseNames,
    ];

    /// The table's name in NDJSON and notices.
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Fragments => "fragments",
            Table::TcpFlows => "tcp_flows",
            Table::EncryptedFlows => "encrypted_flows",
            Table::DnscryptFlows => "dnscrypt_flows",
            Table::PendingQueries => "pending_queries",
            Table::Names => "names",
            Table::CauseNames => "cause_names",
        }
    }

    /// Its caps in `config`: entries, and bytes (0 where only entries are capped).
    pub fn caps(self, config: &Config) -> (u64, u64) {
        let (n, bytes) = match self {
            Table::Fragments => (config.frag.max_datagrams, config.frag.max_bytes),
            Table::TcpFlows => (config.tcp.max_flows, config.tcp.max_total_bytes),
            Table::EncryptedFlows => (config.max_encrypted_flows, 0),
            Table::DnscryptFlows => (config.dnscrypt.max_flows, 0),
            Table::PendingQueries => (config.tracker.max_pending, 0),
            Table::Names => (config.tracker.max_names, 0),
            Table::CauseNames => (config.causes.max_names, 0),
        };
        (n as u64, bytes as u64)
    }

    /// What fills it, given its caps, and what happens then, in words.
    pub fn describe(self, cap: u64, cap_bytes: u64) -> String {
        let mib = cap_bytes >> 20;
        match self {
            Table::Fragments => format!(
                "the IP fragment table is full ({cap} datagrams or {mib} MiB): the oldest datagram waiting for its fragments is dropped to make room"
            ),
            Table::TcpFlows => format!(
                "the DNS-over-TCP flow table is full ({cap} flows or {mib} MiB held): the least recently seen flow is dropped to make room"
            ),
            Table::EncryptedFlows => format!(
                "the encrypted-DNS flow table is full ({cap} flows): the least recently seen flow is forgotten to make room"
            ),
            Table::DnscryptFlows => format!(
                "the DNSCrypt flow table is full ({cap} flows): the least recently seen flow is forgotten to make room"
            ),
            Table::PendingQueries => format!(
                "the table of queries waiting for an answer is full ({cap} queries): the oldest is forgotten to make room"
            ),
            Table::Names => format!(
                "the table of names checked for parallel resolution is full ({cap} names): new names are not checked"
            ),
            Table::CauseNames => format!(
                "the table of recent questions the causes look back at is full ({cap} names): the oldest is forgotten early, so a later leak of it may get a less specific cause"
            ),
        }
    }

    /// How many times the table dropped something so far.
    pub fn drops(self, s: &Stats) -> u64 {
        match self {
            Table::Fragments => s.frag.evicted,
            Table::TcpFlows => s.tcp.flows_evicted,
            Table::EncryptedFlows => s.encrypted_flows_evicted.saturating_sub(s.dnscrypt_flows_evicted),
            Table::DnscryptFlows => s.dnscrypt_flows_evicted,
            Table::PendingQueries => s.pairs.evicted,
            Table::Names => s.pairs.names_dropped,
            Table::CauseNames => s.cause_names_evicted,
        }
    }
}

/// Something the core dropped or evicted, and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Loss {
    /// Datagrams dropped before all their fragments came.
    FragmentsEvicted,
    /// DNS-over-TCP flows dropped while they held part of a message.
    TcpEvictedHolding,
    /// DNS-over-TCP flows dropped at a message boundary (their next message is found again).
    TcpEvictedIdle,
    /// Encrypted-DNS flows dropped holding part of a ClientHello or QUIC Initial (never judged).
    EncryptedEvictedPartial,
    /// Other encrypted-DNS flow records forgotten (a flow seen again is reported again).
    EncryptedFlowsEvicted,
    /// Queries forgotten before their answer (both were judged; the answer counts as unmatched).
    QueriesEvicted,
    /// Names not checked for parallel resolution.
    NamesDropped,
    /// Names the causes forgot early (a later leak of the name may get a less specific cause).
    CauseNamesEvicted,
}

impl Loss {
    pub const ALL: [Loss; 8] = [
        Loss::FragmentsEvicted,
        Loss::TcpEvictedHolding,
        Loss::EncryptedEvictedPartial,
        Loss::TcpEvictedIdle,
        Loss::EncryptedFlowsEvicted,
        Loss::QueriesEvicted,
        Loss::NamesDropped,
        Loss::CauseNamesEvicted,
    ];

    /// Its name in NDJSON and in the summary.
    pub fn key(self) -> &'static str {
        match self {
            Loss::FragmentsEvicted => "fragments_evicted",
            Loss::TcpEvictedHolding => "tcp_flows_evicted_holding",
            Loss::TcpEvictedIdle => "tcp_flows_evicted_idle",
            Loss::EncryptedEvictedPartial => "encrypted_flows_evicted_partial",
            Loss::EncryptedFlowsEvicted => "encrypted_flows_evicted",
            Loss::QueriesEvicted => "queries_evicted",
            Loss::NamesDropped => "names_dropped",
            Loss::CauseNamesEvicted => "cause_names_evicted",
        }
    }

    /// Whether what was dropped had not been judged yet (the result is then incomplete).
    pub fn unjudged(self) -> bool {
        matches!(self, Loss::FragmentsEvicted | Loss::TcpEvictedHolding | Loss::EncryptedEvictedPartial)
    }

    /// What was dropped and why, in words, after a count.
    pub fn why(self) -> &'static str {
        match self {
            Loss::FragmentsEvicted => {
                "IP datagrams dropped before all their fragments came (the fragment table was full)"
            }
            Loss::TcpEvictedHolding => {
                "DNS-over-TCP flows dropped holding part of a message, never judged (the TCP flow table was full)"
            }
            Loss::TcpEvictedIdle => {
                "DNS-over-TCP flows dropped between messages (the TCP flow table was full; their next message is still read)"
            }
            Loss::EncryptedEvictedPartial => {
                "encrypted flows dropped holding part of a TLS ClientHello or QUIC Initial, never judged (the encrypted-DNS flow table was full)"
            }
            Loss::EncryptedFlowsEvicted => {
                "encrypted-DNS flows forgotten (the flow table was full; a flow seen again is reported again)"
            }
            Loss::QueriesEvicted => {
                "queries forgotten before their answer (the pending-query table was full; both were judged, the answer counts as unmatched)"
            }
            Loss::NamesDropped => {
                "names not checked for parallel resolution (the names table was full of names asked within the last second)"
            }
            Loss::CauseNamesEvicted => {
                "names the causes forgot within their second (the recent-names table was full; a leak of such a name may get a less specific cause than stub_upstream or parallel_resolution)"
            }
        }
    }

    /// Its count in `s`.
    pub fn count(self, s: &Stats) -> u64 {
        match self {
            Loss::FragmentsEvicted => s.frag.evicted,
            Loss::TcpEvictedHolding => s.tcp.evicted_holding,
            Loss::TcpEvictedIdle => s.tcp.flows_evicted.saturating_sub(s.tcp.evicted_holding),
            Loss::EncryptedEvictedPartial => s.encrypted_evicted_partial,
            Loss::EncryptedFlowsEvicted => {
                s.encrypted_flows_evicted.saturating_sub(s.encrypted_evicted_partial)
            }
            Loss::QueriesEvicted => s.pairs.evicted,
            Loss::NamesDropped => s.pairs.names_dropped,
            Loss::CauseNamesEvicted => s.cause_names_evicted,
        }
    }
}

impl Stats {
    /// What was dropped before it was judged, summed over the unjudged losses: above zero, the
    /// result is incomplete.
    pub fn unjudged(&self) -> u64 {
        Loss::ALL.iter().filter(|l| l.unjudged()).map(|l| l.count(self)).sum()
    }

    /// What the tables forgot after it was judged (pending queries, names, reported flows).
    pub fn evicted_judged(&self) -> u64 {
        Loss::ALL.iter().filter(|l| !l.unjudged()).map(|l| l.count(self)).sum()
    }
}

/// Which tables have said they are full: a table's first drop raises a notice, once.
#[derive(Debug, Clone, Default)]
pub struct Fullness {
    /// The sum of every table's drops, as last looked at.
    seen: u64,
    told: [bool; Table::ALL.len()],
}

impl Fullness {
    /// Takes every table's drops so far (in `Table::ALL` order; cheap enough after every
    /// frame) and calls `full` for each table that dropped something for the first time.
    pub fn update(&mut self, drops: [u64; Table::ALL.len()], mut full: impl FnMut(Table)) {
        // The counters only grow, so a table dropped something new exactly when their sum
        // grew: a few additions after every frame, where comparing the arrays was a call to
        // memcmp.
        let sum = drops.iter().fold(0u64, |a, &n| a.wrapping_add(n));
        if sum == self.seen {
            return;
        }
        self.seen = sum;
        for ((t, told), n) in Table::ALL.iter().zip(&mut self.told).zip(drops) {
            if !*told && n > 0 {
                *told = true;
                full(*t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_unjudged_losses_are_the_partial_ones() {
        let mut keys: Vec<&str> = Loss::ALL.iter().map(|l| l.key()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), Loss::ALL.len());
        let unjudged: Vec<Loss> = Loss::ALL.iter().copied().filter(|l| l.unjudged()).collect();
        assert_eq!(
            unjudged,
            [Loss::FragmentsEvicted, Loss::TcpEvictedHolding, Loss::EncryptedEvictedPartial]
        );
    }

    #[test]
    fn tcp_evictions_split_into_holding_and_idle() {
        let mut s = Stats::default();
        s.tcp.flows_evicted = 10;
        s.tcp.evicted_holding = 4;
        assert_eq!((Loss::TcpEvictedHolding.count(&s), Loss::TcpEvictedIdle.count(&s)), (4, 6));
        s.pairs.evicted = 100;
        assert_eq!((s.unjudged(), s.evicted_judged()), (4, 106), "forgotten queries were judged");
        s.frag.evicted = 1;
        assert_eq!(s.unjudged(), 5);
        s.encrypted_flows_evicted = 7;
        s.encrypted_evicted_partial = 2;
        assert_eq!((s.unjudged(), Loss::EncryptedFlowsEvicted.count(&s)), (7, 5));
    }

    #[test]
    fn each_table_is_told_full_once() {
        let mut f = Fullness::default();
        let mut s = Stats::default();
        let drops = |s: &Stats| Table::ALL.map(|t| t.drops(s));
        let mut told = Vec::new();
        f.update(drops(&s), |t| told.push(t));
        assert!(told.is_empty());
        s.tcp.flows_evicted = 1;
        f.update(drops(&s), |t| told.push(t));
        assert_eq!(told, [Table::TcpFlows]);
        s.tcp.flows_evicted = 2;
        s.pairs.evicted = 1;
        f.update(drops(&s), |t| told.push(t));
        assert_eq!(told, [Table::TcpFlows, Table::PendingQueries]);
        s.tcp.flows_evicted = 3;
        f.update(drops(&s), |t| told.push(t));
        assert_eq!(told.len(), 2);
    }

    #[test]
    fn descriptions_name_the_cap() {
        let c = Config::new();
        let (n, bytes) = Table::TcpFlows.caps(&c);
        let text = Table::TcpFlows.describe(n, bytes);
        assert!(text.contains(&format!(
            "({} flows or {} MiB held)",
            c.tcp.max_flows,
            c.tcp.max_total_bytes >> 20
        )));
        for t in Table::ALL {
            let (n, bytes) = t.caps(&c);
            assert!(t.describe(n, bytes).contains(" is full ("), "{t:?}");
        }
    }
}

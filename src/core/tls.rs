//! Encrypted DNS: DoT (TCP 853), DoQ (UDP 853) and DoH (TLS ClientHello SNI on 443 matched
//! against the DoH list, or a well-known DoH address when no SNI is visible). One detection per
//! flow; ordinary HTTPS is never called DNS.

use super::event::{Transport, L4};
use super::frame::Ts;
use super::resolvers::ResolverDb;
use super::tcp::FlowKey;

/// An encrypted-DNS flow, reported once, on the packet that made it recognisable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedDns {
    pub transport: Transport,
    pub sni: Option<Box<str>>,
    pub provider: Option<&'static str>,
}

/// Result of looking at one packet of a possible encrypted-DNS flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Not encrypted DNS (ordinary HTTPS, or not a port we watch).
    NotDns,
    /// Part of a flow already reported.
    Known,
    /// A new encrypted-DNS flow: report it.
    New(EncryptedDns),
}

#[derive(Debug, Default)]
pub struct EncryptedFlows {}

impl EncryptedFlows {
    pub fn new(max_flows: usize) -> Self {
        let _ = max_flows;
        EncryptedFlows {}
    }

    /// Looks at one TCP or UDP packet to or from port 853 or 443.
    /// TODO(encrypted helper): implement.
    pub fn observe(&mut self, ts: Ts, key: FlowKey, l4: L4, payload: &[u8], db: &ResolverDb) -> Seen {
        let _ = (ts, key, l4, payload, db);
        Seen::NotDns
    }

    pub fn expire(&mut self, now: Ts) {
        let _ = now;
    }
}

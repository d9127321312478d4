//! DNSCrypt (protocol versions 1 and 2, <https://dnscrypt.info/protocol>), recognised without
//! decrypting anything, on any port:
//!
//! - the certificate query is plain DNS: a TXT question for `2.dnscrypt-cert.<provider>` (any
//!   `<n>.dnscrypt-cert.` label pair, v1 clients asked the same way), 12 bytes into the
//!   message;
//! - its answer holds certificates: TXT strings starting with `DNSC`, a 2-byte es-version, a
//!   2-byte minor version, a 64-byte signature, the 32-byte resolver key, then the 8-byte
//!   client magic that the client's encrypted queries will start with (learned here, bounded);
//! - encrypted answers start with the resolver magic `r6fnvWj8`;
//! - encrypted queries start with a learned client magic, sent to the resolver that announced
//!   it.
//!
//! A DNSCrypt flow is a client address talking to a resolver's address and port (clients use
//! a new source port per query), reported once while it stays active, with the provider name
//! when the certificate exchange was seen. Nothing else is DNSCrypt: ordinary traffic would
//! have to start with the 8-byte resolver magic, or with a magic learned from a certificate
//! and go to that certificate's resolver.

use std::net::IpAddr;

use super::agemap::AgeMap;
use super::dns;
use super::event::{Transport, L4};
use super::frame::Ts;
use super::tcp::FlowKey;
use super::tls::{EncryptedDns, Seen};
use super::topology::IfaceId;

/// What every encrypted answer starts with.
pub const RESOLVER_MAGIC: [u8; 8] = *b"r6fnvWj8";
/// What every certificate starts with.
pub const CERT_MAGIC: [u8; 4] = *b"DNSC";
/// Where the client magic is in a certificate: magic, es-version, minor, signature, key (an
/// X25519 key of 32 bytes; an X-Wing key of 1216 in the post-quantum es-version 3 that
/// encrypted-dns sends).
const CLIENT_MAGIC_AT: usize = 4 + 2 + 2 + 64 + 32;
const PQ_CLIENT_MAGIC_AT: usize = 4 + 2 + 2 + 64 + 1216;
const PQ_ES_VERSION: [u8; 2] = [0, 3];
/// Shortest encrypted query: client magic, client key (32), half nonce (12), tag (16).
const MIN_QUERY: usize = 8 + 32 + 12 + 16;
/// Shortest encrypted answer: resolver magic, nonce (24), tag (16).
const MIN_ANSWER: usize = 8 + 24 + 16;
/// The first two labels of a certificate name, after the DNS header, without the digit:
/// `\x01` `<digit>` `\x0d` `dnscrypt-cert`.
const CERT_LABEL: &[u8] = b"\x0ddnscrypt-cert";
const HEADER_LEN: usize = 12;
/// A flow or learned magic idle this long in trace time is forgotten.
const IDLE_TIMEOUT_NS: u64 = 300_000_000_000;
/// Longest provider name kept.
const MAX_PROVIDER: usize = 253;

/// Table sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnscryptLimits {
    /// Client magics learned from certificates.
    pub max_magics: usize,
    /// Flows remembered (reported, or announced by a certificate query).
    pub max_flows: usize,
}

impl Default for DnscryptLimits {
    fn default() -> Self {
        DnscryptLimits { max_magics: 1024, max_flows: 16_384 }
    }
}

/// A resolver: address and port.
type Server = (IpAddr, u16);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowId {
    iface: IfaceId,
    l4: L4,
    client: IpAddr,
    server: Server,
}

#[derive(Debug)]
struct Flow {
    provider: Option<Box<str>>,
    reported: bool,
    last_seen: Ts,
}

#[derive(Debug)]
struct Learned {
    provider: Option<Box<str>>,
    last_seen: Ts,
}

/// What one packet is, as DNSCrypt.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    CertQuery,
    CertAnswer,
    Query,
    Answer,
}

/// DNSCrypt flows and the client magics learned from certificates.
#[derive(Debug, Default)]
pub struct Dnscrypt {
    limits: DnscryptLimits,
    /// Both in age order (least recently seen first): eviction and expiry take the oldest.
    flows: AgeMap<FlowId, Flow>,
    magics: AgeMap<(Server, [u8; 8]), Learned>,
    evicted: u64,
}

impl Dnscrypt {
    pub fn new(limits: DnscryptLimits) -> Self {
        Dnscrypt { limits, ..Dnscrypt::default() }
    }

    /// A first look that costs a few byte compares: false when `observe` would surely say
    /// `None` (the resolver magic is not there, the question does not start with a one-byte
    /// label and a 13-byte one, and no client magic was learned).
    #[inline(always)]
    pub fn may_be(&self, p: &[u8]) -> bool {
        let Some(head) = p.first_chunk::<8>() else { return false };
        let magic = u64::from_ne_bytes(*head) == u64::from_ne_bytes(RESOLVER_MAGIC);
        let cert = matches!(p.get(HEADER_LEN..HEADER_LEN + 3), Some([1, _, 13]));
        magic || cert || (!self.magics.is_empty() && p.len() >= MIN_QUERY)
    }

    /// Looks at one UDP payload, or the first bytes of a TCP segment (after the 2-byte length):
    /// `None` when it is not DNSCrypt (the caller goes on with it as usual).
    pub fn observe(&mut self, ts: Ts, key: &FlowKey, l4: L4, payload: &[u8]) -> Option<Seen> {
        if !self.may_be(payload) {
            return None;
        }
        let kind = self.kind(key, payload)?;
        let from_client = matches!(kind, Kind::CertQuery | Kind::Query);
        let (client, server) = if from_client {
            ((key.src, key.sport), (key.dst, key.dport))
        } else {
            ((key.dst, key.dport), (key.src, key.sport))
        };
        let mut provider = None;
        if matches!(kind, Kind::CertQuery | Kind::CertAnswer) {
            provider = provider_name(payload);
        }
        if kind == Kind::CertAnswer {
            self.learn(ts, server, payload, provider.as_deref());
        }
        if kind == Kind::Query {
            let magic = first8(payload)?;
            if let Some(l) = self.magics.touch(&(server, magic), 0) {
                l.last_seen = ts;
                provider = l.provider.clone();
            }
        }
        let id = FlowId { iface: key.iface, l4, client: client.0, server };
        Some(self.flow(ts, id, client, provider))
    }

    /// Client magics learned now.
    pub fn magic_count(&self) -> usize {
        self.magics.len()
    }

    /// Flows remembered now.
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Flows and magics dropped to stay within the caps.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Forgets flows and magics idle longer than the timeout at trace time `now`.
    /// The least recently seen first: a trace whose time goes backwards keeps an entry until
    /// those seen before it have gone.
    pub fn expire(&mut self, now: Ts) {
        while self.flows.oldest(0).is_some_and(|(_, f)| now.since(f.last_seen) >= IDLE_TIMEOUT_NS) {
            self.flows.pop_oldest(0);
        }
        while self.magics.oldest(0).is_some_and(|(_, m)| now.since(m.last_seen) >= IDLE_TIMEOUT_NS) {
            self.magics.pop_oldest(0);
        }
    }

    fn kind(&self, key: &FlowKey, p: &[u8]) -> Option<Kind> {
        if p.len() >= MIN_ANSWER && p.starts_with(&RESOLVER_MAGIC) {
            return Some(Kind::Answer);
        }
        if is_cert_name(p) {
            let qr = p[2] & 0x80 != 0;
            return Some(if qr { Kind::CertAnswer } else { Kind::CertQuery });
        }
        if p.len() >= MIN_QUERY && !self.magics.is_empty() {
            let magic = first8(p)?;
            if self.magics.contains_key(&((key.dst, key.dport), magic)) {
                return Some(Kind::Query);
            }
        }
        None
    }

    /// Learns the client magics of the certificates in a certificate answer from `server`.
    fn learn(&mut self, ts: Ts, server: Server, payload: &[u8], provider: Option<&str>) {
        let mut found = Vec::new();
        let _ = dns::for_each_answer(payload, |record| {
            if let hickory_proto::rr::RData::TXT(txt) = &record.data {
                let cert: Vec<u8> = txt.txt_data.iter().flat_map(|s| s.iter().copied()).collect();
                if cert.starts_with(&CERT_MAGIC) {
                    let at = if cert.get(4..6) == Some(&PQ_ES_VERSION) {
                        PQ_CLIENT_MAGIC_AT
                    } else {
                        CLIENT_MAGIC_AT
                    };
                    if let Some(m) = cert.get(at..at + 8).and_then(first8) {
                        found.push(m);
                    }
                }
            }
        });
        for magic in found.into_iter().take(16) {
            if !self.magics.contains_key(&(server, magic))
                && self.magics.len() >= self.limits.max_magics.max(1)
            {
                self.evicted += u64::from(self.magics.pop_oldest(0).is_some());
            }
            let provider = provider.map(Box::from);
            self.magics.insert((server, magic), Learned { provider, last_seen: ts }, 0);
        }
    }

    /// Reports a flow the first time it is seen (again, once it has a provider name it lacked).
    fn flow(&mut self, ts: Ts, id: FlowId, client: (IpAddr, u16), provider: Option<Box<str>>) -> Seen {
        if !self.flows.contains_key(&id) {
            if self.flows.len() >= self.limits.max_flows.max(1) {
                self.evicted += u64::from(self.flows.pop_oldest(0).is_some());
            }
            self.flows.insert(id, Flow { provider: None, reported: false, last_seen: ts }, 0);
        }
        let Some(flow) = self.flows.touch(&id, 0) else { return Seen::Known };
        flow.last_seen = ts;
        if flow.provider.is_none() {
            flow.provider = provider;
        }
        if flow.reported {
            return Seen::Known;
        }
        flow.reported = true;
        Seen::New(EncryptedDns {
            client,
            transport: Transport::Dnscrypt,
            sni: flow.provider.clone(),
            provider: None,
        })
    }
}

/// Whether a DNS message asks (or answers) `<n>.dnscrypt-cert.<provider>`: one question,
/// and the name's first labels at fixed offsets.
fn is_cert_name(p: &[u8]) -> bool {
    let Some(head) = p.get(..HEADER_LEN + 2 + CERT_LABEL.len()) else { return false };
    let qdcount_one = head[4] == 0 && head[5] == 1;
    let version = head[HEADER_LEN] == 1 && head[HEADER_LEN + 1].is_ascii_digit();
    qdcount_one && version && head[HEADER_LEN + 2..].eq_ignore_ascii_case(CERT_LABEL)
}

/// The provider: the question name after `<n>.dnscrypt-cert.`.
fn provider_name(payload: &[u8]) -> Option<Box<str>> {
    let (_, question) = dns::decode_head(payload).ok()?;
    let name: &str = &question?.name;
    let mut labels = name.splitn(3, '.');
    let rest = labels.nth(2).filter(|r| !r.is_empty() && r.len() <= MAX_PROVIDER)?;
    Some(rest.into())
}

fn first8(p: &[u8]) -> Option<[u8; 8]> {
    p.get(..8)?.try_into().ok()
}

#[cfg(test)]
#[path = "dnscrypt_tests.rs"]
mod tests;

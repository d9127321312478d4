//! Encrypted DNS: DoT (TCP 853), DoQ (UDP 853) and DoH (TLS ClientHello SNI on 443 matched
//! against the DoH list, or a well-known DoH address when no SNI is visible). One detection per
//! flow; ordinary HTTPS is never called DNS.
//!
//! A connection is decided once, on the first packet that carries data:
//! - TCP 853 is DoT and UDP 853 is DoQ, whatever they carry (the ClientHello's server name is
//!   reported when it is in the first segment or the two first segments).
//! - TCP 443: the client's first data is parsed as a TLS ClientHello (with tls-parser). A server
//!   name in the DoH list makes the flow DoH; any other server name makes it ordinary HTTPS for
//!   good. When no name is visible (no SNI, Encrypted Client Hello, a resumed or mid-flow
//!   start, or the server speaking first in the capture), the flow is DoH only if the server is
//!   a well-known DoH resolver address.
//! - UDP 443 (QUIC, whose ClientHello is encrypted): DoH only to a well-known DoH address.
//!
//! A ClientHello that spans two segments is held (at most one TLS record, and a bounded total
//! over all flows) until the rest arrives. The table is capped; flows expire after an idle
//! time in trace time. Flows sit in an [`AgeMap`] by last packet, undecided ones apart from
//! reported ones, so eviction (the least recently seen flow not reported, else the least
//! recently seen reported one) and expiry take the oldest in O(1) however full the table is.

use std::net::IpAddr;

use super::agemap::AgeMap;

use tls_parser::{SNIType, TlsExtension, TlsMessage, TlsMessageHandshake};

use super::event::{Transport, L4};
use super::frame::Ts;
use super::resolvers::ResolverDb;
use super::tcp::FlowKey;
use super::topology::IfaceId;

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

const DOT_PORT: u16 = 853;
const HTTPS_PORT: u16 = 443;
/// A flow idle this long in trace time is forgotten.
const IDLE_TIMEOUT_NS: u64 = 300_000_000_000;
/// One TLS record (2^14 bytes plus the expansion TLS allows) and its 5-byte header.
const MAX_HELLO_BYTES: usize = 16_384 + 2_048 + 5;
/// Bytes of partial ClientHellos held over all flows.
const MAX_WAITING_BYTES: usize = 4 << 20;
/// Longest server name kept (a DNS name is at most 253 characters).
const MAX_SNI_LEN: usize = 255;
/// TLS extension type of Encrypted Client Hello (draft-ietf-tls-esni).
const EXT_ECH: u16 = 0xfe0d;

/// One connection, whichever direction a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ConnKey {
    iface: IfaceId,
    l4: L4,
    client: (IpAddr, u16),
    server: (IpAddr, u16),
}

#[derive(Debug)]
enum State {
    /// Nothing decided yet (only packets without data so far).
    Undecided,
    /// The first part of a ClientHello, waiting for the rest.
    Waiting(Vec<u8>),
    Reported,
    NotDns,
}

#[derive(Debug)]
struct Flow {
    state: State,
    last_seen: Ts,
}

/// The table's lists: flows not reported (evicted first), and reported flows.
const NOT_REPORTED: usize = 0;
const REPORTED: usize = 1;

/// What the client's first data says.
#[derive(Debug, PartialEq, Eq)]
enum Hello {
    /// A ClientHello: its server name, and whether Encrypted Client Hello hides the real one.
    Found { sni: Option<Box<str>>, ech: bool },
    /// The start of a TLS handshake record; the rest is in a later segment.
    Incomplete,
    /// Not a ClientHello.
    Other,
}

/// The encrypted-DNS flow table.
#[derive(Debug, Default)]
pub struct EncryptedFlows {
    max_flows: usize,
    /// By last packet, in the lists `NOT_REPORTED` and `REPORTED`.
    flows: AgeMap<ConnKey, Flow, 2>,
    waiting_bytes: usize,
    evicted: u64,
}

impl EncryptedFlows {
    pub fn new(max_flows: usize) -> Self {
        EncryptedFlows { max_flows: max_flows.max(1), ..EncryptedFlows::default() }
    }

    /// Looks at one TCP or UDP packet to or from port 853 or 443.
    pub fn observe(&mut self, ts: Ts, key: FlowKey, l4: L4, payload: &[u8], db: &ResolverDb) -> Seen {
        let Some((conn, from_client)) = conn_key(&key, l4) else { return Seen::NotDns };
        if l4 == L4::Udp && !self.flows.contains_key(&conn) {
            // UDP is decided by port and address alone; only reported flows are remembered.
            let found = decide_without_name(&conn, db);
            if found.is_some() {
                self.insert(ts, conn, State::Reported);
            }
            return found.map_or(Seen::NotDns, Seen::New);
        }
        if !self.flows.contains_key(&conn) {
            self.insert(ts, conn, State::Undecided);
        }
        let Some(slot) = self.flows.find(&conn) else { return Seen::NotDns };
        let Some(flow) = self.flows.value_mut(slot) else { return Seen::NotDns };
        flow.last_seen = ts;
        let state = std::mem::replace(&mut flow.state, State::Undecided);
        let (next, seen) = match state {
            State::Reported => (State::Reported, Seen::Known),
            State::NotDns => (State::NotDns, Seen::NotDns),
            _ if payload.is_empty() => (state, Seen::NotDns),
            State::Waiting(buf) if from_client => self.continue_hello(buf, &conn, payload, db),
            State::Undecided if from_client => self.first_data(&conn, payload, db),
            // The server's data first (a mid-flow start), or not the hello's continuation.
            other => {
                self.release(&other);
                settle(decide_without_name(&conn, db))
            }
        };
        let list = if matches!(next, State::Reported) { REPORTED } else { NOT_REPORTED };
        if let Some(flow) = self.flows.value_mut(slot) {
            flow.state = next;
        }
        self.flows.move_to(slot, list);
        seen
    }

    /// Forgets flows idle longer than the timeout at trace time `now` (the least recently seen
    /// of each list first; a trace whose time goes backwards keeps a flow until those seen
    /// before it have gone).
    pub fn expire(&mut self, now: Ts) {
        for list in [NOT_REPORTED, REPORTED] {
            while let Some((_, f)) = self.flows.oldest(list) {
                if now.since(f.last_seen) < IDLE_TIMEOUT_NS {
                    break;
                }
                if let Some((_, f)) = self.flows.pop_oldest(list) {
                    self.release(&f.state);
                }
            }
        }
    }

    /// Flows remembered now.
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Flows dropped to stay within the table's cap.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Bytes of partial ClientHellos held.
    pub fn waiting_bytes(&self) -> usize {
        self.waiting_bytes
    }

    fn insert(&mut self, ts: Ts, conn: ConnKey, state: State) {
        while self.flows.len() >= self.max_flows && self.evict_oldest() {}
        let list = if matches!(state, State::Reported) { REPORTED } else { NOT_REPORTED };
        self.flows.insert(conn, Flow { state, last_seen: ts }, list);
    }

    /// Drops the least recently seen flow, preferring one not reported (a reported flow
    /// forgotten could be reported again); false when the table is empty.
    fn evict_oldest(&mut self) -> bool {
        let Some((_, f)) = self.flows.pop_oldest(NOT_REPORTED).or_else(|| self.flows.pop_oldest(REPORTED))
        else {
            return false;
        };
        self.release(&f.state);
        self.evicted += 1;
        true
    }

    fn release(&mut self, state: &State) {
        if let State::Waiting(buf) = state {
            self.waiting_bytes = self.waiting_bytes.saturating_sub(buf.len());
        }
    }

    /// The client's first data: a ClientHello decides by name; half of one waits.
    fn first_data(&mut self, conn: &ConnKey, payload: &[u8], db: &ResolverDb) -> (State, Seen) {
        match parse_client_hello(payload) {
            Hello::Found { sni, ech } => settle(decide_with_name(conn, sni, ech, db)),
            Hello::Incomplete if self.waiting_bytes + payload.len() <= MAX_WAITING_BYTES => {
                self.waiting_bytes += payload.len();
                (State::Waiting(payload.to_vec()), Seen::NotDns)
            }
            _ => settle(decide_without_name(conn, db)),
        }
    }

    /// The client's next data after half a ClientHello.
    fn continue_hello(
        &mut self,
        mut buf: Vec<u8>,
        conn: &ConnKey,
        payload: &[u8],
        db: &ResolverDb,
    ) -> (State, Seen) {
        if buf.starts_with(payload) {
            // The first part again (a retransmission): keep waiting for the rest.
            return (State::Waiting(buf), Seen::NotDns);
        }
        if buf.len() + payload.len() > MAX_HELLO_BYTES {
            self.release(&State::Waiting(buf));
            return settle(decide_without_name(conn, db));
        }
        self.waiting_bytes += payload.len();
        buf.extend_from_slice(payload);
        match parse_client_hello(&buf) {
            Hello::Incomplete if self.waiting_bytes <= MAX_WAITING_BYTES => {
                (State::Waiting(buf), Seen::NotDns)
            }
            Hello::Found { sni, ech } => {
                self.release(&State::Waiting(buf));
                settle(decide_with_name(conn, sni, ech, db))
            }
            _ => {
                self.release(&State::Waiting(buf));
                settle(decide_without_name(conn, db))
            }
        }
    }
}

/// The connection a packet belongs to, and whether it goes from the client to the server.
fn conn_key(key: &FlowKey, l4: L4) -> Option<(ConnKey, bool)> {
    let watched = |p: u16| p == DOT_PORT || p == HTTPS_PORT;
    let from_client = if watched(key.dport) {
        true
    } else if watched(key.sport) {
        false
    } else {
        return None;
    };
    let (client, server) = if from_client {
        ((key.src, key.sport), (key.dst, key.dport))
    } else {
        ((key.dst, key.dport), (key.src, key.sport))
    };
    Some((ConnKey { iface: key.iface, l4, client, server }, from_client))
}

/// The state and answer for a decision.
fn settle(found: Option<EncryptedDns>) -> (State, Seen) {
    match found {
        Some(f) => (State::Reported, Seen::New(f)),
        None => (State::NotDns, Seen::NotDns),
    }
}

/// A flow whose ClientHello was read.
fn decide_with_name(
    conn: &ConnKey,
    sni: Option<Box<str>>,
    ech: bool,
    db: &ResolverDb,
) -> Option<EncryptedDns> {
    let by_name = sni.as_deref().and_then(|s| db.doh_host(s));
    let provider = by_name.and_then(|m| m.provider).or_else(|| db.provider(&conn.server.0));
    if conn.server.1 == DOT_PORT {
        return Some(EncryptedDns { transport: Transport::Dot, sni, provider });
    }
    if by_name.is_some() {
        return Some(EncryptedDns { transport: Transport::Doh, sni, provider });
    }
    if sni.is_none() || ech {
        // The name is hidden: only the address can tell.
        return decide_without_name(conn, db).map(|f| EncryptedDns { sni, ..f });
    }
    None
}

/// A flow whose server name cannot be seen.
fn decide_without_name(conn: &ConnKey, db: &ResolverDb) -> Option<EncryptedDns> {
    let provider = db.provider(&conn.server.0);
    let transport = match (conn.server.1, conn.l4) {
        (DOT_PORT, L4::Tcp) => Transport::Dot,
        (DOT_PORT, L4::Udp) => Transport::Doq,
        _ if db.is_encrypted_dns_addr(&conn.server.0) => Transport::Doh,
        _ => return None,
    };
    Some(EncryptedDns { transport, sni: None, provider })
}

/// Reads a TLS ClientHello at the start of `data` (one record).
fn parse_client_hello(data: &[u8]) -> Hello {
    // Record header: type 22 (handshake), version 3.x, length; then handshake type 1.
    let looks_like = match data {
        [] => false,
        [t] => *t == 0x16,
        [t, v, ..] => *t == 0x16 && *v == 3,
    };
    if !looks_like || data.get(5).is_some_and(|h| *h != 1) {
        return Hello::Other;
    }
    let Some(len) = data.get(3..5).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else {
        return Hello::Incomplete;
    };
    if 5 + len > MAX_HELLO_BYTES {
        return Hello::Other;
    }
    let Some(record) = data.get(..5 + len) else { return Hello::Incomplete };
    let Ok((_, plain)) = tls_parser::parse_tls_plaintext(record) else { return Hello::Other };
    for msg in &plain.msg {
        if let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) = msg {
            return hello_names(ch.ext.unwrap_or(&[]));
        }
    }
    Hello::Other
}

/// The server name and ECH presence in a ClientHello's extensions.
fn hello_names(ext: &[u8]) -> Hello {
    let (mut sni, mut ech) = (None, false);
    let Ok((_, exts)) = tls_parser::parse_tls_client_hello_extensions(ext) else {
        return Hello::Found { sni, ech };
    };
    for e in &exts {
        match e {
            TlsExtension::SNI(names) => {
                let host = names.iter().find(|(t, _)| *t == SNIType::HostName).map(|(_, n)| *n);
                sni = host
                    .filter(|n| !n.is_empty() && n.len() <= MAX_SNI_LEN)
                    .map(|n| String::from_utf8_lossy(n).into());
            }
            TlsExtension::Unknown(t, _) if t.0 == EXT_ECH => ech = true,
            _ => {}
        }
    }
    Hello::Found { sni, ech }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;

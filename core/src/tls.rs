//! Encrypted DNS: DoT, DoQ and DoH, told by the TLS ClientHello (server name and ALPN) on TCP
//! and in QUIC Initial packets, or by port and well-known address when no hello is seen. One
//! detection per flow; ordinary HTTPS and HTTP/3 are never called DNS.
//!
//! A connection is decided once, on the first packet that carries data:
//! - TCP, any port: the client's first data is parsed as a TLS ClientHello (with tls-parser).
//!   ALPN `dot` or port 853 makes the flow DoT; a server name in the DoH list makes it DoH; any
//!   other server name makes it ordinary TLS for good. When no name is visible (no SNI,
//!   Encrypted Client Hello, a resumed or mid-flow start, or the server speaking first in the
//!   capture), a flow on 853 is DoT, and one on 443 is DoH only if the server is a well-known
//!   DoH resolver address.
//! - UDP, any port: a client's QUIC Initial packets are decrypted (`quic`) and their CRYPTO
//!   frames reassembled into the ClientHello. ALPN `doq` (or a draft `doq-iNN`) or port 853 is
//!   DoQ; a server name in the DoH list with ALPN `h3` (or `h3-NN`, or none) is DoH over
//!   HTTP/3; anything else is not DNS, and is remembered as such. Without a readable hello
//!   (short-header packets only), UDP 853 is DoQ and UDP 443 is DoH to a well-known address.
//!
//! A ClientHello that spans several segments or packets is held (at most one TLS record or
//! handshake message, and a bounded total over all flows) until the rest arrives. The table is
//! capped; flows expire after an idle time in trace time. Flows on ports other than 443 and
//! 853 are remembered only once they are found to be DNS, or while their hello is incomplete.
//! Flows sit in an [`AgeMap`] by last packet, undecided ones apart from reported ones, so
//! eviction (the least recently seen flow not reported, else the least recently seen reported
//! one) and expiry take the oldest in O(1) however full the table is.

use std::net::IpAddr;

use super::agemap::AgeMap;

use tls_parser::{SNIType, TlsExtension, TlsMessage, TlsMessageHandshake};

use super::event::{Transport, L4};
use super::frame::Ts;
use super::quic;
use super::resolvers::ResolverDb;
use super::tcp::FlowKey;
use super::topology::IfaceId;

/// An encrypted-DNS flow, reported once, on the packet that made it recognisable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedDns {
    /// The client's address and port (the flow's event names it as the source).
    pub client: (IpAddr, u16),
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

/// Application protocols a ClientHello offers (ALPN, RFC 7301), as far as DNS is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Alpn {
    /// `dot` (RFC 7858, as registered by IANA).
    pub dot: bool,
    /// `doq`, or a draft `doq-i00` to `doq-i11` (RFC 9250).
    pub doq: bool,
    /// `h3`, or a draft `h3-NN` (HTTP/3).
    pub h3: bool,
    /// Anything else (`h2`, `http/1.1`, ...).
    pub other: bool,
}

impl Alpn {
    fn add(&mut self, proto: &[u8]) {
        let draft = |p: &[u8], prefix: &[u8]| {
            p.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
        };
        match proto {
            b"dot" => self.dot = true,
            b"doq" => self.doq = true,
            b"h3" => self.h3 = true,
            p if draft(p, b"doq-i") => self.doq = true,
            p if draft(p, b"h3-") => self.h3 = true,
            _ => self.other = true,
        }
    }

    /// Whether the client offered no protocol at all.
    pub fn is_empty(self) -> bool {
        self == Alpn::default()
    }
}

/// What a ClientHello says: its server name, whether Encrypted Client Hello hides the real one,
/// and the protocols it offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelloInfo {
    pub sni: Option<Box<str>>,
    pub ech: bool,
    pub alpn: Alpn,
}

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
    /// A QUIC connection whose ClientHello is not whole yet.
    Quic(Box<QuicHello>),
    Reported,
    NotDns,
}

impl State {
    /// Bytes of a partial ClientHello this state holds (counted in `waiting_bytes`).
    fn held(&self) -> usize {
        match self {
            State::Waiting(buf) => buf.len(),
            State::Quic(q) => q.crypto.held(),
            _ => 0,
        }
    }
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
    /// A ClientHello.
    Found(HelloInfo),
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
    /// Of those, flows evicted holding part of a ClientHello (TLS or QUIC) not yet decided.
    evicted_partial: u64,
    /// QUIC connections whose ClientHello could not be reassembled.
    quic_given_up: u64,
    /// Flows whose server port is neither 443 nor 853: while there are none, packets between
    /// other ports are not looked up.
    unwatched: usize,
    /// Decrypted QUIC packets (one buffer, reused).
    scratch: Vec<u8>,
}

impl EncryptedFlows {
    pub fn new(max_flows: usize) -> Self {
        EncryptedFlows { max_flows: max_flows.max(1), ..EncryptedFlows::default() }
    }

    /// A first look that costs a few compares: false when `observe` would surely say
    /// `NotDns` without remembering anything (no flow on another port than 443 or 853 is
    /// known, neither port is one of those, and the payload cannot start a TLS or QUIC hello).
    #[inline(always)]
    pub fn may_be(&self, l4: L4, sport: u16, dport: u16, payload: &[u8]) -> bool {
        let hello = match l4 {
            L4::Udp => payload.len() >= quic::MIN_CLIENT_DATAGRAM && payload[0] & 0x80 != 0,
            L4::Tcp => matches!(payload, [0x16, 3, ..]),
        };
        hello || self.unwatched != 0 || watched(sport) || watched(dport)
    }

    /// Looks at one TCP or UDP packet that is not plaintext DNS, on any port.
    pub fn observe(&mut self, ts: Ts, key: FlowKey, l4: L4, payload: &[u8], db: &ResolverDb) -> Seen {
        let (conn, from_client) = match self.known(&key, l4) {
            Some(found) => found,
            None => match self.first_sight(ts, &key, l4, payload, db) {
                Ok(found) => found,
                Err(seen) => return seen,
            },
        };
        let Some(flow) = self.flows.get_mut(&conn) else { return Seen::NotDns };
        flow.last_seen = ts;
        let state = std::mem::replace(&mut flow.state, State::Undecided);
        let (next, seen) = match state {
            State::Reported => (State::Reported, Seen::Known),
            State::NotDns => (State::NotDns, Seen::NotDns),
            State::Quic(q) => self.continue_quic(q, &conn, from_client, payload, db),
            _ if payload.is_empty() => (state, Seen::NotDns),
            State::Waiting(buf) if from_client => self.continue_hello(buf, &conn, payload, db),
            State::Undecided if from_client => self.first_data(&conn, payload, db),
            // The server's data first (a mid-flow start), or not the hello's continuation.
            other => {
                self.release(&other);
                settle(decide_without_name(&conn, db))
            }
        };
        if matches!(next, State::NotDns) && conn.l4 == L4::Tcp && !watched(conn.server.1) {
            // Ordinary TLS on another port: nothing to remember.
            if self.flows.remove(&conn).is_some() {
                self.unwatched -= 1;
            }
        } else {
            self.set_state(&conn, next);
        }
        seen
    }

    /// Gives a flow its next state and makes it the youngest of its list.
    fn set_state(&mut self, conn: &ConnKey, next: State) {
        let list = if matches!(next, State::Reported) { REPORTED } else { NOT_REPORTED };
        if let Some(flow) = self.flows.touch(conn, list) {
            flow.state = next;
        }
    }

    /// The flow a packet belongs to, in either direction, and whether it comes from the client.
    fn known(&self, key: &FlowKey, l4: L4) -> Option<(ConnKey, bool)> {
        if self.flows.is_empty() || (self.unwatched == 0 && !watched(key.sport) && !watched(key.dport)) {
            return None;
        }
        let fwd =
            ConnKey { iface: key.iface, l4, client: (key.src, key.sport), server: (key.dst, key.dport) };
        if self.flows.contains_key(&fwd) {
            return Some((fwd, true));
        }
        let rev = ConnKey { client: fwd.server, server: fwd.client, ..fwd };
        self.flows.contains_key(&rev).then_some((rev, false))
    }

    /// A packet of a connection not in the table: the flow to go on with, or the answer when
    /// nothing (more) is to be done with it.
    fn first_sight(
        &mut self,
        ts: Ts,
        key: &FlowKey,
        l4: L4,
        payload: &[u8],
        db: &ResolverDb,
    ) -> Result<(ConnKey, bool), Seen> {
        let fwd =
            ConnKey { iface: key.iface, l4, client: (key.src, key.sport), server: (key.dst, key.dport) };
        if l4 == L4::Udp {
            if payload.len() >= quic::MIN_CLIENT_DATAGRAM && quic::is_long_header(payload) {
                if let Some(seen) = self.first_quic(ts, fwd, payload, db) {
                    return Err(seen);
                }
            }
            // UDP without a readable hello is decided by port and address alone; only
            // reported flows are remembered.
            let Some((conn, _)) = conn_key(key, l4) else { return Err(Seen::NotDns) };
            let found = decide_without_name(&conn, db);
            if found.is_some() {
                self.insert(ts, conn, State::Reported);
            }
            return Err(found.map_or(Seen::NotDns, Seen::New));
        }
        if let Some(found) = conn_key(key, l4) {
            self.insert(ts, found.0, State::Undecided);
            return Ok(found);
        }
        // Another port: only a ClientHello (record type 22, handshake type 1) is worth a look.
        if matches!(payload, [0x16, 3, _, _, _, 1, ..]) {
            self.insert(ts, fwd, State::Undecided);
            return Ok((fwd, true));
        }
        Err(Seen::NotDns)
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
                if let Some((k, f)) = self.flows.pop_oldest(list) {
                    self.forget(&k, &f.state);
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

    /// Of the flows evicted, those that held part of a ClientHello (TLS, or a QUIC Initial's)
    /// not yet decided: what they were was never judged.
    pub fn evicted_partial(&self) -> u64 {
        self.evicted_partial
    }

    /// Bytes of partial ClientHellos held.
    pub fn waiting_bytes(&self) -> usize {
        self.waiting_bytes
    }

    fn insert(&mut self, ts: Ts, conn: ConnKey, state: State) {
        while self.flows.len() >= self.max_flows && self.evict_oldest() {}
        let list = if matches!(state, State::Reported) { REPORTED } else { NOT_REPORTED };
        if self.flows.insert(conn, Flow { state, last_seen: ts }, list).is_none() {
            self.unwatched += usize::from(!watched(conn.server.1));
        }
    }

    /// Drops the least recently seen flow, preferring one not reported (a reported flow
    /// forgotten could be reported again); false when the table is empty.
    fn evict_oldest(&mut self) -> bool {
        let Some((k, f)) = self.flows.pop_oldest(NOT_REPORTED).or_else(|| self.flows.pop_oldest(REPORTED))
        else {
            return false;
        };
        self.forget(&k, &f.state);
        self.evicted += 1;
        self.evicted_partial += u64::from(matches!(f.state, State::Waiting(_) | State::Quic(_)));
        true
    }

    /// Accounts for a flow taken out of the table.
    fn forget(&mut self, conn: &ConnKey, state: &State) {
        self.release(state);
        self.unwatched -= usize::from(!watched(conn.server.1));
    }

    fn release(&mut self, state: &State) {
        self.waiting_bytes = self.waiting_bytes.saturating_sub(state.held());
    }

    /// QUIC connections given up before their ClientHello was whole (too many packets, too
    /// scattered, the rest never seen).
    pub fn quic_given_up(&self) -> u64 {
        self.quic_given_up
    }

    /// The client's first data: a ClientHello decides by name; half of one waits.
    fn first_data(&mut self, conn: &ConnKey, payload: &[u8], db: &ResolverDb) -> (State, Seen) {
        match parse_client_hello(payload) {
            Hello::Found(info) => settle(decide_with_name(conn, info, db)),
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
            Hello::Found(info) => {
                self.release(&State::Waiting(buf));
                settle(decide_with_name(conn, info, db))
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

/// The ports whose flows are decided by port and address when no hello is read.
fn watched(port: u16) -> bool {
    port == DOT_PORT || port == HTTPS_PORT
}

/// The state and answer for a decision.
fn settle(found: Option<EncryptedDns>) -> (State, Seen) {
    match found {
        Some(f) => (State::Reported, Seen::New(f)),
        None => (State::NotDns, Seen::NotDns),
    }
}

/// A flow whose ClientHello was read.
fn decide_with_name(conn: &ConnKey, info: HelloInfo, db: &ResolverDb) -> Option<EncryptedDns> {
    let HelloInfo { sni, ech, alpn } = info;
    let by_name = sni.as_deref().and_then(|s| db.doh_host(s));
    let provider = by_name.and_then(|m| m.provider).or_else(|| db.provider(&conn.server.0));
    let dot_port = conn.server.1 == DOT_PORT;
    let transport = match conn.l4 {
        L4::Tcp if alpn.dot || dot_port => Some(Transport::Dot),
        L4::Udp if alpn.doq || dot_port => Some(Transport::Doq),
        L4::Tcp if by_name.is_some() => Some(Transport::Doh),
        // DoH over HTTP/3 (a client that offers no protocol at all is given the benefit).
        L4::Udp if by_name.is_some() && (alpn.h3 || alpn.is_empty()) => Some(Transport::Doh),
        _ => None,
    };
    if let Some(transport) = transport {
        return Some(EncryptedDns { client: conn.client, transport, sni, provider });
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
        (HTTPS_PORT, _) if db.is_encrypted_dns_addr(&conn.server.0) => Transport::Doh,
        _ => return None,
    };
    Some(EncryptedDns { client: conn.client, transport, sni: None, provider })
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
            return Hello::Found(hello_info(ch.ext.unwrap_or(&[])));
        }
    }
    Hello::Other
}

/// Reads the body of a ClientHello handshake message (after its 4-byte header), as QUIC
/// carries it in CRYPTO frames; `None` when it is not one.
pub fn client_hello_info(body: &[u8]) -> Option<HelloInfo> {
    let (_, ch) = tls_parser::parse_tls_handshake_client_hello(body).ok()?;
    Some(hello_info(ch.ext.unwrap_or(&[])))
}

/// The server name, ECH presence and ALPN in a ClientHello's extensions.
fn hello_info(ext: &[u8]) -> HelloInfo {
    let mut info = HelloInfo::default();
    let Ok((_, exts)) = tls_parser::parse_tls_client_hello_extensions(ext) else { return info };
    for e in &exts {
        match e {
            TlsExtension::SNI(names) => {
                let host = names.iter().find(|(t, _)| *t == SNIType::HostName).map(|(_, n)| *n);
                info.sni = host
                    .filter(|n| !n.is_empty() && n.len() <= MAX_SNI_LEN)
                    .map(|n| String::from_utf8_lossy(n).into());
            }
            TlsExtension::ALPN(protos) => protos.iter().for_each(|p| info.alpn.add(p)),
            TlsExtension::Unknown(t, _) if t.0 == EXT_ECH => info.ech = true,
            _ => {}
        }
    }
    info
}

#[path = "tls_quic.rs"]
mod quic_flows;
use quic_flows::QuicHello;

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;

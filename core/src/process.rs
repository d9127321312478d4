//! Which program sent a message: a bounded, expiring table from sockets to the processes that
//! own them, fed with plain facts (`Fact::Socket(SocketOwner)`, from eBPF or /proc on the
//! system side) in order with the frames, and asked by the pipeline for each outgoing query and
//! encrypted flow (a response takes its query's, through the tracker's pairing).
//!
//! - A socket is known by its flow (protocol, local address and port, remote address and port)
//!   or, for a socket that is not connected (what `/proc` and sock_diag show of an unconnected
//!   UDP socket), by its protocol and local port alone.
//! - A message whose source address is not this host's is "not from this host" (forwarded,
//!   bridged, another namespace's): nothing is guessed for it.
//! - A local stub resolver hides the program: its upstream query belongs to the stub. The
//!   process that asked a local resolver the same name and type within [`STUB_WINDOW`] before
//!   is the query's `on_behalf_of`; through a chain of stubs it is the first asker.
//! - Replay of a file dnsleak wrote: each outgoing message's sender was recorded beside its
//!   packet (`note`), and comes back as `Fact::Recorded` before the frame; the table then
//!   answers what was recorded instead of looking sockets up.
//! - Every table is capped and ages by trace time (two generations: an entry lives between one
//!   and two spans after its last use); what is dropped is counted. A miss costs a lookup and a
//!   counter, never a wait. Answers are shared (`Arc<Owner>`): a socket's owner is built once
//!   per fact, and each message of it costs a reference count.

mod aging;
pub mod note;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use smol_str::SmolStr;

use self::aging::Aging;
use crate::event::{Body, Event, MessageKind, QName, L4};
use crate::frame::Ts;
use crate::topology::Topology;

/// How long before an upstream query a local ask for the same name counts as its origin.
pub const STUB_WINDOW: u64 = 1_000_000_000;

/// The transport of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SockProto {
    Udp,
    Tcp,
}

impl SockProto {
    pub fn as_str(self) -> &'static str {
        match self {
            SockProto::Udp => "udp",
            SockProto::Tcp => "tcp",
        }
    }
}

/// A program as the OS names it. `name` is the program (the thread group leader's name, not
/// the sending thread's), `exe` its executable's path when known. Both are text a local user
/// controls: escape them before showing them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// The process id (thread group id) in the monitor's PID namespace.
    pub pid: u32,
    pub name: SmolStr,
    pub exe: Option<SmolStr>,
    pub uid: Option<u32>,
}

/// One fact from the system side: this socket belongs to this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOwner {
    pub proto: SockProto,
    /// The local address and port; an unspecified address means "any of this host's".
    pub local: SocketAddr,
    /// The remote address and port; unspecified with port 0 for a socket that is not
    /// connected (it is then known by its local port alone).
    pub remote: SocketAddr,
    pub process: Process,
    /// The socket's network namespace (inode number of its `/proc/PID/ns/net`), 0 if unknown.
    pub netns: u64,
    /// When the fact was true (the send or connect), in trace time.
    pub ts: Ts,
}

/// The answer for one outgoing message or flow.
/// The answer for one outgoing message or flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribution {
    /// Sent by this process.
    Process(Process),
    /// The source address is not this host's: forwarded, bridged or another namespace's.
    NotFromThisHost,
    /// From this host, but no socket fact names its owner (yet).
    Unknown,
}

impl Attribution {
    pub fn process(&self) -> Option<&Process> {
        match self {
            Attribution::Process(p) => Some(p),
            _ => None,
        }
    }

    /// The word outputs print (and the coverage counters' names).
    pub fn as_str(&self) -> &'static str {
        match self {
            Attribution::Process(_) => "attributed",
            Attribution::NotFromThisHost => "not_from_host",
            Attribution::Unknown => "unattributed",
        }
    }
}

/// An outgoing DNS query as the table needs to see it.
#[derive(Debug, Clone, Copy)]
pub struct QuerySeen<'a> {
    pub proto: SockProto,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// Whether `src` is one of this host's addresses (`Topology::is_local_addr` or loopback).
    pub src_is_local: bool,
    /// Whether the resolver asked is on this host (loopback or one of its addresses): a stub.
    pub dst_is_local: bool,
    /// The question's name as on the wire, without the trailing dot.
    pub name: &'a str,
    pub qtype: u16,
}

/// Who sent a message or flow, and for whom when it is a stub's upstream hop. Events carry it
/// shared (`Message::owner`, `Flow::owner`); a response carries its query's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub process: Attribution,
    pub on_behalf_of: Option<Process>,
}

impl Owner {
    /// The program a person would name for it: the one a stub asked for, else the sender.
    pub fn program(&self) -> Option<&Process> {
        self.on_behalf_of.as_ref().or(self.process.process())
    }
}

/// A sender as a file dnsleak wrote recorded it beside the packet (`note`): the flow, and
/// what was known of it live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub proto: SockProto,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub owner: Owner,
}

/// Limits of the tables.
#[derive(Debug, Clone, Copy)]
pub struct ProcessConfig {
    /// Entries per generation of the socket tables.
    pub max_sockets: usize,
    /// A socket entry unused for this long (trace time, nanoseconds) is forgotten (after one
    /// to two times this).
    pub socket_idle: u64,
    /// Local asks remembered per generation (a generation spans `STUB_WINDOW`).
    pub max_asks: usize,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig { max_sockets: 32_768, socket_idle: 300_000_000_000, max_asks: 8_192 }
    }
}

/// How much was attributed, and what the tables dropped. Counts outgoing queries and flows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessStats {
    /// Socket facts taken in.
    pub facts: u64,
    /// Senders recorded in the file replayed.
    pub recorded: u64,
    pub attributed: u64,
    pub unattributed: u64,
    pub not_from_host: u64,
    /// Upstream queries linked to the program that asked a local stub.
    pub on_behalf_of: u64,
    /// Entries forgotten because their table was full (before their time).
    pub evicted: u64,
    /// Entries forgotten because they were not used for their span.
    pub expired: u64,
}

impl ProcessStats {
    /// Outgoing queries and flows counted.
    pub fn outgoing(&self) -> u64 {
        self.attributed + self.unattributed + self.not_from_host
    }

    /// Adds another pipeline's counters (every field named, so none is forgotten).
    pub fn add(&mut self, other: &ProcessStats) {
        let ProcessStats {
            facts,
            recorded,
            attributed,
            unattributed,
            not_from_host,
            on_behalf_of,
            evicted,
            expired,
        } = *other;
        self.facts += facts;
        self.recorded += recorded;
        self.attributed += attributed;
        self.unattributed += unattributed;
        self.not_from_host += not_from_host;
        self.on_behalf_of += on_behalf_of;
        self.evicted += evicted;
        self.expired += expired;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    proto: SockProto,
    local: SocketAddr,
    remote: SocketAddr,
}

impl FlowKey {
    fn new(proto: SockProto, local: SocketAddr, remote: SocketAddr) -> FlowKey {
        FlowKey { proto, local: canonical(local), remote: canonical(remote) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PortKey {
    proto: SockProto,
    port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AskKey {
    name: QName,
    qtype: u16,
}

#[derive(Debug, Clone)]
struct Ask {
    ts: Ts,
    /// The program the ask was for: its sender, or whom the sender asked for.
    origin: Process,
    sender_pid: Option<u32>,
}

/// The table of socket owners and recent local asks (live), or of recorded senders (replay).
#[derive(Debug)]
pub struct ProcessTable {
    flows: Aging<FlowKey, Arc<Owner>>,
    ports: Aging<PortKey, Arc<Owner>>,
    asks: Aging<AskKey, Ask>,
    /// Replay of a file that recorded its senders: flows to what was recorded.
    recorded: Option<Aging<FlowKey, Arc<Owner>>>,
    socket_idle: u64,
    max_sockets: usize,
    unknown: Arc<Owner>,
    foreign: Arc<Owner>,
    stats: ProcessStats,
}

impl Default for ProcessTable {
    fn default() -> Self {
        ProcessTable::new(ProcessConfig::default())
    }
}

fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

fn any_ip(a: &SocketAddr) -> IpAddr {
    match a {
        SocketAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

fn shared(process: Attribution) -> Arc<Owner> {
    Arc::new(Owner { process, on_behalf_of: None })
}

impl ProcessTable {
    pub fn new(cfg: ProcessConfig) -> Self {
        ProcessTable {
            flows: Aging::new(cfg.socket_idle, cfg.max_sockets),
            ports: Aging::new(cfg.socket_idle, cfg.max_sockets),
            asks: Aging::new(STUB_WINDOW, cfg.max_asks),
            recorded: None,
            socket_idle: cfg.socket_idle,
            max_sockets: cfg.max_sockets,
            unknown: shared(Attribution::Unknown),
            foreign: shared(Attribution::NotFromThisHost),
            stats: ProcessStats::default(),
        }
    }

    /// Takes in one socket fact. A later fact for the same socket replaces the earlier one
    /// (a port reused by another program).
    pub fn insert(&mut self, owner: SocketOwner) {
        self.stats.facts += 1;
        let key = FlowKey::new(owner.proto, owner.local, owner.remote);
        let value = shared(Attribution::Process(owner.process));
        if key.remote.ip().is_unspecified() && key.remote.port() == 0 {
            self.ports.insert(PortKey { proto: owner.proto, port: key.local.port() }, value, owner.ts);
        } else {
            self.flows.insert(key, value, owner.ts);
        }
    }

    /// Takes in a sender recorded in a file; from now on the table answers what was recorded.
    pub fn record(&mut self, r: Recorded, now: Ts) {
        self.stats.recorded += 1;
        let (idle, cap) = (self.socket_idle, self.max_sockets);
        let table = self.recorded.get_or_insert_with(|| Aging::new(idle, cap));
        table.insert(FlowKey::new(r.proto, r.src, r.dst), Arc::new(r.owner), now);
    }

    /// Whether the answers come from a file's records rather than socket facts.
    pub fn is_recorded(&self) -> bool {
        self.recorded.is_some()
    }

    fn lookup(
        &mut self,
        proto: SockProto,
        local: SocketAddr,
        remote: SocketAddr,
        now: Ts,
    ) -> Option<&Arc<Owner>> {
        let exact = FlowKey::new(proto, local, remote);
        if self.flows.get(&exact, now).is_some() {
            return self.flows.new.get(&exact);
        }
        let wild = FlowKey { local: SocketAddr::new(any_ip(&exact.local), exact.local.port()), ..exact };
        if exact.local.ip() != wild.local.ip() && self.flows.get(&wild, now).is_some() {
            return self.flows.new.get(&wild);
        }
        self.ports.get(&PortKey { proto, port: exact.local.port() }, now)
    }

    /// The owner of the flow from `local` to `remote`, without counting (for a response, or
    /// a later packet of a flow already counted).
    pub fn owner(
        &mut self,
        proto: SockProto,
        local: SocketAddr,
        remote: SocketAddr,
        now: Ts,
    ) -> Option<&Process> {
        self.lookup(proto, local, remote, now)?.process.process()
    }

    fn count(&mut self, a: &Attribution) {
        match a {
            Attribution::Process(_) => self.stats.attributed += 1,
            Attribution::NotFromThisHost => self.stats.not_from_host += 1,
            Attribution::Unknown => self.stats.unattributed += 1,
        }
    }

    /// The sender of an outgoing message or flow from `src` to `dst`, counted. With recorded
    /// senders, what was recorded for the flow (unknown when nothing was).
    pub fn sender(
        &mut self,
        proto: SockProto,
        src: SocketAddr,
        dst: SocketAddr,
        src_is_local: bool,
        now: Ts,
    ) -> Arc<Owner> {
        let found = match &mut self.recorded {
            Some(rec) => rec.get(&FlowKey::new(proto, src, dst), now).cloned(),
            None if !src_is_local => Some(self.foreign.clone()),
            None => self.lookup(proto, src, dst, now).cloned(),
        };
        let owner = found.unwrap_or_else(|| self.unknown.clone());
        self.count(&owner.process);
        if owner.on_behalf_of.is_some() {
            self.stats.on_behalf_of += 1;
        }
        owner
    }

    /// Attributes an outgoing message or flow from `src` to `dst`, and counts the result.
    pub fn attribute(
        &mut self,
        proto: SockProto,
        src: SocketAddr,
        dst: SocketAddr,
        src_is_local: bool,
        now: Ts,
    ) -> Attribution {
        self.sender(proto, src, dst, src_is_local, now).process.clone()
    }

    /// The sender of an outgoing query, counted; links a stub's upstream hop to the program
    /// that asked the stub, and remembers a query to a local resolver as an ask.
    pub fn query_sender(&mut self, q: &QuerySeen<'_>, now: Ts) -> Arc<Owner> {
        let owner = self.sender(q.proto, q.src, q.dst, q.src_is_local, now);
        if self.recorded.is_some() || owner.process == Attribution::NotFromThisHost {
            return owner;
        }
        let key = AskKey { name: lowercase(q.name), qtype: q.qtype };
        let sender_pid = owner.process.process().map(|p| p.pid);
        let on_behalf_of = self.asker(&key, sender_pid, now);
        if q.dst_is_local {
            if let Some(origin) = on_behalf_of.clone().or_else(|| owner.process.process().cloned()) {
                self.asks.insert(key, Ask { ts: now, origin, sender_pid }, now);
            }
        }
        match on_behalf_of {
            Some(p) => {
                self.stats.on_behalf_of += 1;
                Arc::new(Owner { process: owner.process.clone(), on_behalf_of: Some(p) })
            }
            None => owner,
        }
    }

    /// As [`ProcessTable::query_sender`], as a value of its own.
    pub fn attribute_query(&mut self, q: &QuerySeen<'_>, now: Ts) -> Owner {
        Owner::clone(&self.query_sender(q, now))
    }

    /// The program that asked a local resolver for `key` within the window before `now`,
    /// unless that was the sender itself.
    fn asker(&mut self, key: &AskKey, sender_pid: Option<u32>, now: Ts) -> Option<Process> {
        let ask = self.asks.get(key, now)?;
        let fresh = ask.ts <= now && now.since(ask.ts) <= STUB_WINDOW;
        let other =
            sender_pid.is_none() || (ask.sender_pid != sender_pid && Some(ask.origin.pid) != sender_pid);
        (fresh && other).then(|| ask.origin.clone())
    }

    /// Names the program behind an outgoing query or flow (a response gets its query's from the
    /// tracker). An address of this host (or loopback) is local.
    pub fn attribute_event(&mut self, topology: &Topology, ev: &mut Event) {
        let is_local = |a: &IpAddr| a.is_loopback() || topology.is_local_addr(a);
        let recorded = self.is_recorded();
        let ts = ev.ts;
        match &mut ev.body {
            Body::Message(m) if m.kind == MessageKind::Query => {
                let w = &m.wire;
                let (src, dst) = (SocketAddr::new(w.src, w.sport), SocketAddr::new(w.dst, w.dport));
                let q = m.dns.as_ref().and_then(|d| d.question.as_ref());
                let seen = QuerySeen {
                    proto: w.proto.into(),
                    src,
                    dst,
                    src_is_local: recorded || is_local(&w.src),
                    dst_is_local: !recorded && is_local(&w.dst),
                    name: q.map_or("", |q| &q.name),
                    qtype: q.map_or(0, |q| q.qtype),
                };
                m.owner = Some(self.query_sender(&seen, ts));
            }
            Body::Flow(f) => {
                let w = &f.wire;
                let (src, dst) = (SocketAddr::new(w.src, w.sport), SocketAddr::new(w.dst, w.dport));
                let local = recorded || is_local(&w.src);
                f.owner = Some(self.sender(w.proto.into(), src, dst, local, ts));
            }
            _ => {}
        }
    }

    /// Counters, with what the tables dropped.
    pub fn stats(&self) -> ProcessStats {
        let rec = self.recorded.as_ref();
        ProcessStats {
            evicted: self.flows.evicted
                + self.ports.evicted
                + self.asks.evicted
                + rec.map_or(0, |r| r.evicted),
            expired: self.flows.expired
                + self.ports.expired
                + self.asks.expired
                + rec.map_or(0, |r| r.expired),
            ..self.stats
        }
    }

    /// Sockets, recorded senders and asks held now.
    pub fn len(&self) -> usize {
        self.flows.len() + self.ports.len() + self.asks.len() + self.recorded.as_ref().map_or(0, |r| r.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<L4> for SockProto {
    fn from(p: L4) -> SockProto {
        match p {
            L4::Udp => SockProto::Udp,
            L4::Tcp => SockProto::Tcp,
        }
    }
}

fn lowercase(name: &str) -> QName {
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut out = QName::new();
    for c in name.chars() {
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
#[path = "process/pipeline_tests.rs"]
mod pipeline_tests;
#[cfg(test)]
#[path = "process/tests.rs"]
mod tests;

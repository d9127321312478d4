//! Which program sent a message: a bounded, expiring table from sockets to the processes that
//! own them, fed with plain facts (`SocketOwner`, from eBPF or /proc on the system side) in
//! order with the frames, and asked for each outgoing query or encrypted flow.
//!
//! - A socket is known by its flow (protocol, local address and port, remote address and port)
//!   or, for a socket that is not connected (what `/proc` and sock_diag show of an unconnected
//!   UDP socket), by its protocol and local port alone.
//! - A message whose source address is not this host's is "not from this host" (forwarded,
//!   bridged, another namespace's): nothing is guessed for it.
//! - A local stub resolver hides the program: its upstream query belongs to the stub. The
//!   process that asked a local resolver the same name and type within [`STUB_WINDOW`] before
//!   is the query's `on_behalf_of`; through a chain of stubs it is the first asker.
//! - Every table is capped and ages by trace time (two generations: an entry lives between one
//!   and two spans after its last use); what is dropped is counted. A miss costs a lookup and a
//!   counter, never a wait.

use std::net::{IpAddr, SocketAddr};

use foldhash::HashMap;
use smol_str::SmolStr;

use crate::event::QName;
use crate::frame::Ts;

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

/// What is known of an outgoing query: who sent it, and for whom when it is a stub's hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryOwner {
    pub process: Attribution,
    pub on_behalf_of: Option<Process>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    proto: SockProto,
    local: SocketAddr,
    remote: SocketAddr,
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

/// A map that forgets by trace time in two generations: an entry lives between `span` and
/// `2 * span` after its last use; at most `cap` entries per generation (a full new generation
/// ages early, and what the old one held is counted as evicted).
#[derive(Debug)]
struct Aging<K, V> {
    new: HashMap<K, V>,
    old: HashMap<K, V>,
    rotated: Option<Ts>,
    span: u64,
    cap: usize,
    expired: u64,
    evicted: u64,
}

impl<K: std::hash::Hash + Eq, V> Aging<K, V> {
    fn new(span: u64, cap: usize) -> Self {
        Aging {
            new: HashMap::default(),
            old: HashMap::default(),
            rotated: None,
            span: span.max(1),
            cap: cap.max(1),
            expired: 0,
            evicted: 0,
        }
    }

    fn tick(&mut self, now: Ts) {
        let Some(at) = self.rotated else {
            self.rotated = Some(now);
            return;
        };
        let age = now.since(at);
        if age < self.span {
            return;
        }
        self.expired += self.old.len() as u64;
        std::mem::swap(&mut self.old, &mut self.new);
        self.new.clear();
        if age >= self.span.saturating_mul(2) {
            self.expired += self.old.len() as u64;
            self.old.clear();
        }
        self.rotated = Some(now);
    }

    fn rotate_early(&mut self, now: Ts) {
        self.evicted += self.old.len() as u64;
        std::mem::swap(&mut self.old, &mut self.new);
        self.new.clear();
        self.rotated = Some(now);
    }

    fn insert(&mut self, key: K, value: V, now: Ts) {
        self.tick(now);
        self.old.remove(&key);
        if self.new.len() >= self.cap && !self.new.contains_key(&key) {
            self.rotate_early(now);
        }
        self.new.insert(key, value);
    }

    /// The entry for `key`, refreshed (moved to the new generation) when found.
    fn get(&mut self, key: &K, now: Ts) -> Option<&V>
    where
        K: Clone,
    {
        self.tick(now);
        if !self.new.contains_key(key) {
            let value = self.old.remove(key)?;
            if self.new.len() >= self.cap {
                self.rotate_early(now);
            }
            self.new.insert(key.clone(), value);
        }
        self.new.get(key)
    }

    fn len(&self) -> usize {
        self.new.len() + self.old.len()
    }
}

/// The table of socket owners and recent local asks.
#[derive(Debug)]
pub struct ProcessTable {
    flows: Aging<FlowKey, Process>,
    ports: Aging<PortKey, Process>,
    asks: Aging<AskKey, Ask>,
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

impl ProcessTable {
    pub fn new(cfg: ProcessConfig) -> Self {
        ProcessTable {
            flows: Aging::new(cfg.socket_idle, cfg.max_sockets),
            ports: Aging::new(cfg.socket_idle, cfg.max_sockets),
            asks: Aging::new(STUB_WINDOW, cfg.max_asks),
            stats: ProcessStats::default(),
        }
    }

    /// Takes in one socket fact. A later fact for the same socket replaces the earlier one
    /// (a port reused by another program).
    pub fn insert(&mut self, owner: SocketOwner) {
        self.stats.facts += 1;
        let local = canonical(owner.local);
        let remote = canonical(owner.remote);
        if remote.ip().is_unspecified() && remote.port() == 0 {
            self.ports.insert(PortKey { proto: owner.proto, port: local.port() }, owner.process, owner.ts);
        } else {
            self.flows.insert(FlowKey { proto: owner.proto, local, remote }, owner.process, owner.ts);
        }
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
        let local = canonical(local);
        let remote = canonical(remote);
        let exact = FlowKey { proto, local, remote };
        if self.flows.get(&exact, now).is_some() {
            return self.flows.new.get(&exact);
        }
        let wild = FlowKey { proto, local: SocketAddr::new(any_ip(&local), local.port()), remote };
        if local.ip() != wild.local.ip() && self.flows.get(&wild, now).is_some() {
            return self.flows.new.get(&wild);
        }
        self.ports.get(&PortKey { proto, port: local.port() }, now)
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
        if !src_is_local {
            self.stats.not_from_host += 1;
            return Attribution::NotFromThisHost;
        }
        match self.owner(proto, src, dst, now).cloned() {
            Some(p) => {
                self.stats.attributed += 1;
                Attribution::Process(p)
            }
            None => {
                self.stats.unattributed += 1;
                Attribution::Unknown
            }
        }
    }

    /// Attributes an outgoing query, links a stub's upstream hop to the program that asked
    /// the stub, and remembers a query to a local resolver as an ask.
    pub fn attribute_query(&mut self, q: &QuerySeen<'_>, now: Ts) -> QueryOwner {
        let process = self.attribute(q.proto, q.src, q.dst, q.src_is_local, now);
        if matches!(process, Attribution::NotFromThisHost) {
            return QueryOwner { process, on_behalf_of: None };
        }
        let key = AskKey { name: lowercase(q.name), qtype: q.qtype };
        let sender_pid = process.process().map(|p| p.pid);
        let on_behalf_of = self.asker(&key, sender_pid, now);
        if on_behalf_of.is_some() {
            self.stats.on_behalf_of += 1;
        }
        if q.dst_is_local {
            if let Some(origin) = on_behalf_of.clone().or_else(|| process.process().cloned()) {
                self.asks.insert(key, Ask { ts: now, origin, sender_pid }, now);
            }
        }
        QueryOwner { process, on_behalf_of }
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

    /// Counters, with what the tables dropped.
    pub fn stats(&self) -> ProcessStats {
        ProcessStats {
            evicted: self.flows.evicted + self.ports.evicted + self.asks.evicted,
            expired: self.flows.expired + self.ports.expired + self.asks.expired,
            ..self.stats
        }
    }

    /// Sockets and asks held now.
    pub fn len(&self) -> usize {
        self.flows.len() + self.ports.len() + self.asks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
#[path = "process/tests.rs"]
mod tests;

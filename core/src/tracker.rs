//! Pairing of queries with responses (response time, unanswered queries) and the patterns a
//! user cares about beyond single messages: parallel resolution inside and outside the tunnel,
//! DNS while no tunnel is up (kill switch failed), answers from an address other than the one
//! asked (hijack). Time is trace time; every table is capped.
//!
//! Pairing. A query is remembered under (interface, transport, L4 protocol, client address and
//! port, server port, id, first question) and the address it was sent to; a response looks up
//! the same key from its own side. Keeping the server's address out of the key lets a response
//! from another address be seen for what it is:
//! - unicast DNS answered from another address than the one asked: paired (the client got an
//!   answer) and a `Hijack` notice, once per (asked, answered from) pair;
//! - a query sent to a multicast group (LLMNR, one-shot mDNS from a port other than 5353) is
//!   answered by whoever holds the name, from the responder's own address: every such answer is
//!   paired with the query (each gets its response time), and the query stays until its timeout.
//!   Silence is how these protocols say "no such name", so an unanswered multicast query counts
//!   as `silent_multicast`, not as `unanswered`;
//! - ordinary mDNS (queries from port 5353) is answered to the group or to port 5353 without a
//!   question section (RFC 6762 section 6), so it cannot be paired: such queries are not kept,
//!   and such answers are not "unmatched".
//!
//! A query repeated with the same key and server (a retransmission) keeps the first send's time
//! and is one query. A query with no response after `query_timeout_ns` is unanswered: counted,
//! kept in a short list of recent ones, never a second event.

use std::collections::hash_map::{Entry, HashMap, OccupiedEntry};
use std::collections::VecDeque;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::net::IpAddr;

use super::agemap::AgeMap;
use super::event::{DnsInfo, Event, EventKind, Judged, Notice, Transport, L4};
use super::frame::Ts;
use super::stats::PairStats;
use super::topology::{IfaceId, IfaceKind, IfaceName, Topology};
use super::verdict::{Dir, Reason, TunnelState, Verdict};

const MDNS_PORT: u16 = 5353;
/// Queries kept under one key that differ only by the server asked.
const MAX_ASKS_PER_KEY: usize = 4;
/// "No slot" in the chains of asks.
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
pub struct TrackerLimits {
    /// Queries waiting for a response.
    pub max_pending: usize,
    /// A query with no response after this much trace time is unanswered.
    pub query_timeout_ns: u64,
    /// Window for "the same name inside and outside the tunnel".
    pub parallel_window_ns: u64,
    /// Names remembered for parallel resolution (each for about one window).
    pub max_names: usize,
    /// Recent unanswered queries kept for outputs to show.
    pub max_recent_unanswered: usize,
    /// (asked, answered from) pairs remembered so that a hijack is noticed once.
    pub max_hijack_pairs: usize,
    /// A hijack pair not seen for this long is forgotten (and noticed again if it comes back).
    pub hijack_memory_ns: u64,
}

impl Default for TrackerLimits {
    fn default() -> Self {
        TrackerLimits {
            max_pending: 65_536,
            query_timeout_ns: 5_000_000_000,
            parallel_window_ns: 1_000_000_000,
            max_names: 16_384,
            max_recent_unanswered: 64,
            max_hijack_pairs: 1_024,
            hijack_memory_ns: 3_600_000_000_000,
        }
    }
}

/// A query that got no response within the timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unanswered {
    /// When the query was sent (trace time) and the frame that carried it.
    pub ts: Ts,
    pub frame: u64,
    pub name: Box<str>,
    pub qtype: u16,
    pub transport: Transport,
    pub proto: L4,
    /// The address and port asked.
    pub resolver: IpAddr,
    pub port: u16,
    pub iface: IfaceId,
    pub iface_name: IfaceName,
}

/// What a query and its response share. Hashed as one packed byte string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PairKey {
    /// Hash of all the fields below, computed once per message (see `PairKey::seal`); first,
    /// so that comparing two keys stops at once when they differ.
    hash: u64,
    iface: IfaceId,
    transport: Transport,
    proto: L4,
    client: IpAddr,
    client_port: u16,
    server_port: u16,
    id: u16,
    qtype: u16,
    qclass: u16,
    /// Keyed hash of the lower-cased question name.
    name: u64,
}

impl PairKey {
    /// Computes `hash`: the fields folded into the name's keyed hash with a keyed multiply-fold
    /// (as foldhash does), so the table's hash is computed once per message and still cannot be
    /// predicted from the wire (the name's hash is keyed SipHash).
    fn seal(mut self, (seed, mul): (u64, u64)) -> Self {
        let mut b = [0u8; 40];
        b[..4].copy_from_slice(&self.iface.to_le_bytes());
        b[4] = self.transport as u8;
        b[5] = self.proto as u8;
        match self.client {
            IpAddr::V4(a) => b[6..10].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => {
                b[6..22].copy_from_slice(&a.octets());
                b[22] = 1;
            }
        }
        for (i, v) in
            [self.client_port, self.server_port, self.id, self.qtype, self.qclass].iter().enumerate()
        {
            b[23 + 2 * i..25 + 2 * i].copy_from_slice(&v.to_le_bytes());
        }
        let mut h = self.name ^ seed;
        for w in b.chunks_exact(8) {
            let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            h = folded_multiply(h ^ w, mul);
        }
        self.hash = h;
        self
    }
}

impl Hash for PairKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

/// Sets bit 5 of every byte of `w` that is an ASCII capital (SWAR `to_ascii_lowercase`).
fn ascii_lower8(w: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low = w & LOW7;
    let at_least_a = low + 0x3f3f_3f3f_3f3f_3f3f; // bit 7 set where the byte is >= b'A'
    let beyond_z = low + 0x2525_2525_2525_2525; // bit 7 set where the byte is > b'Z'
    let upper = at_least_a & !beyond_z & !w & HIGH;
    w | (upper >> 2)
}

fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// The hasher of tables whose keys carry their own seeded hash: it passes that hash through.
#[derive(Debug, Default, Clone, Copy)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        // Not used by the keys here (they write one u64); folded so it stays a hash.
        for &b in bytes {
            self.0 = folded_multiply(self.0 ^ u64::from(b), 0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type Prehashed = BuildHasherDefault<PassThrough>;

/// One query waiting for its response. Slots are reused, and so is the name's buffer: the
/// common path allocates nothing once the table has warmed up.
#[derive(Debug)]
struct Slot {
    /// 0 when the slot is free; otherwise the query's sequence number.
    seq: u64,
    key: PairKey,
    server: IpAddr,
    /// Sent to a multicast or broadcast group: any responder answers it.
    group: bool,
    /// A group query that got at least one answer.
    answered: bool,
    ts: Ts,
    frame: u64,
    name: String,
    iface_name: IfaceName,
    /// Next query under the same key, or `NONE`.
    next: u32,
}

/// A query in the order it was sent, for timeouts and eviction.
#[derive(Debug, Clone, Copy)]
struct Due {
    ts: Ts,
    slot: u32,
    seq: u64,
}

/// Where a name was last asked inside and outside the tunnel.
#[derive(Debug, Default)]
struct NameSeen {
    tunnel: Option<(Ts, IfaceId)>,
    outside: Option<(Ts, IfaceId)>,
    /// No parallel-resolution notice for this name before this time.
    quiet_until: Ts,
}

impl NameSeen {
    fn latest(&self) -> Ts {
        let t = self.tunnel.as_ref().map_or(Ts(i64::MIN), |s| s.0);
        let o = self.outside.as_ref().map_or(Ts(i64::MIN), |s| s.0);
        t.max(o).max(self.quiet_until)
    }
}

#[derive(Debug, Default)]
pub struct Tracker {
    limits: TrackerLimits,
    stats: PairStats,
    /// Random seeds of the name and key hashes (the second one odd: a multiplier).
    seeds: (u64, u64),
    /// Key -> first slot of its chain of asks.
    pending: HashMap<PairKey, u32, Prehashed>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Queries waiting, in the order sent; entries of answered queries are skipped lazily.
    queue: VecDeque<Due>,
    live: usize,
    seq: u64,
    recent: VecDeque<Unanswered>,
    /// By the keyed hash of the lower-cased name, least recently asked first.
    names: AgeMap<u64, NameSeen, 1, Prehashed>,
    /// (asked, answered from) -> last seen, least recently seen first.
    hijacks: AgeMap<(IpAddr, IpAddr), Ts>,
    /// The kill-switch notice of the current outage was given.
    outage_noticed: bool,
}

impl Tracker {
    pub fn new(limits: TrackerLimits) -> Self {
        let random = RandomState::new();
        let seeds = (random.hash_one(1u8), random.hash_one(2u8) | 1);
        Tracker { limits, seeds, ..Default::default() }
    }

    /// Looks at one judged query, response or encrypted flow, in capture order. Fills
    /// `rtt_ns` of a response paired with its query; appends notices (unjudged events of kind
    /// `Notice`) to `notices`.
    pub fn observe(&mut self, judged: &mut Judged, topology: &Topology, notices: &mut Vec<Event>) {
        match judged.event.kind {
            EventKind::Query => {
                let Some(info) = judged.event.dns.as_ref() else { return };
                let name = info.question.as_ref().map_or("", |q| &q.name);
                let hash = self.name_hash(name);
                self.kill_switch(judged, notices);
                self.parallel(judged, name, hash, topology, notices);
                self.track_query(&judged.event, info, hash);
            }
            EventKind::Response => {
                judged.event.rtt_ns = self.pair_response(&judged.event, notices);
            }
            _ => {}
        }
    }

    /// The interfaces changed: a tunnel that is up again ends the current outage, so the next
    /// one gets its own kill-switch notice.
    pub fn topology_changed(&mut self, topology: &Topology) {
        if topology.tunnels_up().next().is_some() {
            self.outage_noticed = false;
        }
    }

    /// Counts queries unanswered past the timeout at trace time `now`, and forgets what the
    /// patterns no longer need.
    pub fn expire(&mut self, now: Ts) {
        while let Some(due) = self.queue.front().copied() {
            if now.since(due.ts) <= self.limits.query_timeout_ns {
                break;
            }
            self.queue.pop_front();
            self.time_out(due);
        }
        self.expire_names(now);
        let memory = self.limits.hijack_memory_ns;
        while let Some((_, seen)) = self.hijacks.oldest(0) {
            if now.since(*seen) <= memory {
                break;
            }
            self.hijacks.pop_oldest(0);
        }
    }

    /// Forgets names last asked more than a window before `now`, least recently asked first
    /// (a name whose quiet time runs longer holds back those asked after it, by one window
    /// at most).
    fn expire_names(&mut self, now: Ts) {
        let window = self.limits.parallel_window_ns;
        while let Some((_, n)) = self.names.oldest(0) {
            if now.since(n.latest()) <= window {
                break;
            }
            self.names.pop_oldest(0);
        }
    }

    /// End of input: every query still pending is unanswered.
    pub fn finish(&mut self) {
        while let Some(due) = self.queue.pop_front() {
            self.time_out(due);
        }
        self.names.clear();
    }

    pub fn stats(&self) -> PairStats {
        self.stats
    }

    /// The most recent unanswered queries, oldest first (at most
    /// `TrackerLimits::max_recent_unanswered`).
    pub fn recent_unanswered(&self) -> std::collections::vec_deque::Iter<'_, Unanswered> {
        self.recent.iter()
    }

    /// Queries waiting for a response now.
    pub fn pending(&self) -> usize {
        self.live
    }

    /// Seeded hash of the lower-cased name, eight bytes at a time (a multiply-fold as in
    /// foldhash; the seeds are random per tracker, so collisions cannot be planned from the wire).
    fn name_hash(&self, name: &str) -> u64 {
        let bytes = name.as_bytes();
        let mul = self.seeds.1;
        let mut h = self.seeds.0 ^ (bytes.len() as u64);
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            h = folded_multiply(h ^ ascii_lower8(w), mul);
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            h = folded_multiply(h ^ ascii_lower8(u64::from_le_bytes(buf)), mul);
        }
        folded_multiply(h, mul.rotate_left(29))
    }

    fn key(&self, ev: &Event, info: &DnsInfo, name: u64, query: bool) -> PairKey {
        let (qtype, mut qclass) = info.question.as_ref().map_or((0, 0), |q| (q.qtype, q.qclass));
        if ev.transport == Transport::Mdns {
            // The top bit of an mDNS question's class asks for a unicast answer.
            qclass &= 0x7fff;
        }
        let (client, client_port, server_port) =
            if query { (ev.src, ev.sport, ev.dport) } else { (ev.dst, ev.dport, ev.sport) };
        PairKey {
            iface: ev.iface,
            transport: ev.transport,
            proto: ev.proto,
            client,
            client_port,
            server_port,
            id: info.header.id,
            qtype,
            qclass,
            name,
            hash: 0,
        }
        .seal(self.seeds)
    }

    fn track_query(&mut self, ev: &Event, info: &DnsInfo, name: u64) {
        let group = is_group(&ev.dst);
        if group && ev.transport == Transport::Mdns && ev.sport == MDNS_PORT {
            return;
        }
        if self.limits.max_pending == 0 {
            self.stats.evicted += 1;
            return;
        }
        let key = self.key(ev, info, name, true);
        if self.live >= self.limits.max_pending {
            // (At the cap even a retransmission makes room: the table is overrun anyway.)
            self.evict_oldest();
        }
        let qname = info.question.as_ref().map_or("", |q| &q.name);
        let slot = self.fill_slot(ev, key, group, qname);
        match self.pending.entry(key) {
            Entry::Vacant(v) => {
                v.insert(slot);
            }
            Entry::Occupied(mut e) => {
                let (count, oldest, repeat) = chain_facts(&self.slots, *e.get(), &ev.dst);
                if repeat {
                    // A retransmission: the first send times the answer.
                    self.slots[slot as usize].seq = 0;
                    self.free.push(slot);
                    return;
                }
                if count < MAX_ASKS_PER_KEY {
                    self.slots[slot as usize].next = *e.get();
                    *e.get_mut() = slot;
                } else {
                    unlink(&mut self.slots, e, oldest);
                    self.free_slot(oldest);
                    self.stats.evicted += 1;
                    let old = self.pending.insert(key, slot).unwrap_or(NONE);
                    self.slots[slot as usize].next = old;
                }
            }
        }
        self.live += 1;
        self.queue.push_back(Due { ts: ev.ts, slot, seq: self.seq });
        self.compact_queue();
    }

    /// Takes a free slot (or a new one) and writes the query into it; returns its index.
    fn fill_slot(&mut self, ev: &Event, key: PairKey, group: bool, qname: &str) -> u32 {
        self.seq += 1;
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    seq: 0,
                    key,
                    server: ev.dst,
                    group,
                    answered: false,
                    ts: ev.ts,
                    frame: 0,
                    name: String::new(),
                    iface_name: ev.iface_name.clone(),
                    next: NONE,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[idx as usize];
        s.seq = self.seq;
        s.key = key;
        s.server = ev.dst;
        s.group = group;
        s.answered = false;
        s.ts = ev.ts;
        s.frame = ev.frame;
        s.name.clear();
        s.name.push_str(qname);
        s.iface_name = ev.iface_name.clone();
        s.next = NONE;
        idx
    }

    /// Unlinks slot `idx` from its key's chain and frees it.
    fn release(&mut self, idx: u32) {
        if let Entry::Occupied(entry) = self.pending.entry(self.slots[idx as usize].key) {
            unlink(&mut self.slots, entry, idx);
        }
        self.free_slot(idx);
    }

    fn free_slot(&mut self, idx: u32) {
        self.slots[idx as usize].seq = 0;
        self.free.push(idx);
        self.live -= 1;
    }

    fn evict(&mut self, idx: u32) {
        self.release(idx);
        self.stats.evicted += 1;
    }

    /// Drops the oldest query still waiting to keep the table within its cap.
    fn evict_oldest(&mut self) {
        while let Some(due) = self.queue.pop_front() {
            if self.slots[due.slot as usize].seq == due.seq {
                self.evict(due.slot);
                return;
            }
        }
    }

    /// Forgets the queue entries of queries already answered once they outnumber the live ones.
    fn compact_queue(&mut self) {
        if self.queue.len() > 2 * self.live + 4096 {
            let slots = &self.slots;
            self.queue.retain(|d| slots[d.slot as usize].seq == d.seq);
        }
    }

    /// The timeout of one query passed (or the input ended).
    fn time_out(&mut self, due: Due) {
        if self.slots[due.slot as usize].seq != due.seq {
            return; // answered or evicted since
        }
        self.count_timeout(due.slot);
        self.release(due.slot);
    }

    /// Counts the query in slot `idx` as unanswered (or as a silent group query).
    fn count_timeout(&mut self, idx: u32) {
        let s = &self.slots[idx as usize];
        if s.group {
            if !s.answered {
                self.stats.silent_multicast += 1;
            }
        } else {
            self.stats.unanswered += 1;
            if self.limits.max_recent_unanswered > 0 {
                if self.recent.len() >= self.limits.max_recent_unanswered {
                    self.recent.pop_front();
                }
                self.recent.push_back(Unanswered {
                    ts: s.ts,
                    frame: s.frame,
                    name: s.name.as_str().into(),
                    qtype: s.key.qtype,
                    transport: s.key.transport,
                    proto: s.key.proto,
                    resolver: s.server,
                    port: s.key.server_port,
                    iface: s.key.iface,
                    iface_name: s.iface_name.clone(),
                });
            }
        }
    }

    /// Pairs a response with its query; returns the response time.
    fn pair_response(&mut self, ev: &Event, notices: &mut Vec<Event>) -> Option<u64> {
        let info = ev.dns.as_ref()?;
        if is_group(&ev.dst) || (ev.transport == Transport::Mdns && ev.dport == MDNS_PORT) {
            return None; // mDNS answers to the group or to port 5353: not pairable by design
        }
        let name = self.name_hash(info.question.as_ref().map_or("", |q| &q.name));
        let key = self.key(ev, info, name, false);
        // One probe of the table: find the query and unlink it through the same entry.
        let Entry::Occupied(entry) = self.pending.entry(key) else {
            self.stats.unmatched_responses += 1;
            return None;
        };
        let idx = find_ask(&self.slots, *entry.get(), &ev.src);
        let s = &mut self.slots[idx as usize];
        let (asked, group) = (s.server, s.group);
        let rtt = ev.ts.since(s.ts);
        // Too late: the query had timed out already, whether or not a sweep noticed it.
        let late = rtt > self.limits.query_timeout_ns;
        if group && !late {
            s.answered = true; // other responders may answer too
        } else {
            unlink(&mut self.slots, entry, idx);
            if late {
                self.count_timeout(idx);
            }
            self.free_slot(idx);
        }
        if late {
            self.stats.unmatched_responses += 1;
            return None;
        }
        self.stats.paired += 1;
        if !group && asked != ev.src && ev.transport == Transport::Dns {
            self.hijack(asked, ev, notices);
        }
        Some(rtt)
    }

    fn hijack(&mut self, asked: IpAddr, ev: &Event, notices: &mut Vec<Event>) {
        let pair = (asked, ev.src);
        if let Some(seen) = self.hijacks.touch(&pair, 0) {
            *seen = ev.ts;
            return;
        }
        if self.hijacks.len() >= self.limits.max_hijack_pairs {
            // Forget the pair seen least recently.
            self.hijacks.pop_oldest(0);
        }
        self.hijacks.insert(pair, ev.ts, 0);
        let name = ev.qname().unwrap_or("").into();
        let notice = Notice::Hijack { asked, answered_from: ev.src, name };
        notices.push(Event::notice(ev.ts, ev.frame, ev.iface, ev.iface_name.clone(), notice));
    }

    /// Plaintext DNS leaving a physical interface while no tunnel is up, though one was seen.
    fn kill_switch(&mut self, judged: &Judged, notices: &mut Vec<Event>) {
        let Reason::Plaintext { dir: Dir::Out, kind: IfaceKind::Physical, tunnel: TunnelState::Down, .. } =
            &judged.reason
        else {
            return;
        };
        if self.outage_noticed {
            return;
        }
        self.outage_noticed = true;
        let ev = &judged.event;
        let notice = Notice::KillSwitchFailed { iface: ev.iface_name.clone() };
        notices.push(Event::notice(ev.ts, ev.frame, ev.iface, ev.iface_name.clone(), notice));
    }

    /// The same name asked through a tunnel and outside it within the window: one notice per
    /// name and window.
    fn parallel(
        &mut self,
        judged: &Judged,
        name: &str,
        hash: u64,
        topology: &Topology,
        notices: &mut Vec<Event>,
    ) {
        let inside = match judged.verdict {
            Some(Verdict::Tunnel) => true,
            Some(Verdict::Leak) => false,
            _ => return,
        };
        if !topology.has_tunnel() {
            return; // no tunnel known: nothing can be asked through one
        }
        let ev = &judged.event;
        let window = self.limits.parallel_window_ns;
        if !self.names.contains_key(&hash) {
            if self.names.len() >= self.limits.max_names {
                self.expire_names(ev.ts);
            }
            if self.names.len() >= self.limits.max_names {
                self.stats.names_dropped += 1;
                return;
            }
            self.names.insert(hash, NameSeen::default(), 0);
        }
        let Some(seen) = self.names.touch(&hash, 0) else { return };
        let mine = Some((ev.ts, ev.iface));
        let other = if inside {
            seen.tunnel = mine;
            &seen.outside
        } else {
            seen.outside = mine;
            &seen.tunnel
        };
        let Some((t, other_iface)) = other else { return };
        if ev.ts.since(*t) > window || ev.ts < seen.quiet_until {
            return;
        }
        let other_iface = match topology.get(*other_iface) {
            Some(i) => i.name.clone(),
            None => IfaceName::from(format!("if{other_iface}")),
        };
        seen.quiet_until = ev.ts.add_nanos(window);
        let (tunnel, outside) =
            if inside { (ev.iface_name.clone(), other_iface) } else { (other_iface, ev.iface_name.clone()) };
        let notice = Notice::ParallelResolution { name: name.into(), tunnel, outside };
        notices.push(Event::notice(ev.ts, ev.frame, ev.iface, ev.iface_name.clone(), notice));
    }
}

/// The query a response from `from` answers, in the chain starting at `head`: the one sent to
/// that address, else one sent to a group, else the oldest (answered from somewhere else).
fn find_ask(slots: &[Slot], head: u32, from: &IpAddr) -> u32 {
    let (mut at, mut group, mut oldest) = (head, NONE, head);
    while at != NONE {
        let s = &slots[at as usize];
        if s.server == *from {
            return at;
        }
        if s.group && group == NONE {
            group = at;
        }
        if s.seq < slots[oldest as usize].seq {
            oldest = at;
        }
        at = s.next;
    }
    if group != NONE {
        group
    } else {
        oldest
    }
}

/// Of the chain starting at `head`: how many queries, the oldest, and whether one was sent
/// to `server` already.
fn chain_facts(slots: &[Slot], head: u32, server: &IpAddr) -> (usize, u32, bool) {
    let (mut count, mut at, mut oldest) = (0, head, head);
    while at != NONE {
        let s = &slots[at as usize];
        if s.server == *server {
            return (count, oldest, true);
        }
        if s.seq < slots[oldest as usize].seq {
            oldest = at;
        }
        count += 1;
        at = s.next;
    }
    (count, oldest, false)
}

/// Takes slot `idx` out of the chain held by `entry` (removing the entry when it was the only
/// one). The slot itself is freed by the caller.
fn unlink(slots: &mut [Slot], mut entry: OccupiedEntry<'_, PairKey, u32>, idx: u32) {
    let next = slots[idx as usize].next;
    let head = *entry.get();
    if head == idx {
        if next == NONE {
            entry.remove();
        } else {
            *entry.get_mut() = next;
        }
        return;
    }
    let mut at = head;
    while at != NONE {
        let n = slots[at as usize].next;
        if n == idx {
            slots[at as usize].next = next;
            return;
        }
        at = n;
    }
}

/// A multicast or broadcast destination: anyone on the link may answer.
fn is_group(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_multicast(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{DnsHeader, Question};
    use crate::topology::{IfaceFacts, Overrides};
    use crate::verdict::{self, Context};

    const ETH: u32 = 0;
    const WG: u32 = 1;
    const S: i64 = 1_000_000_000;
    const MS: i64 = 1_000_000;

    fn topo(wg_up: bool) -> Topology {
        let f = |name: &str, up| IfaceFacts { name: name.into(), up, has_mac: true, ..Default::default() };
        Topology::from_facts(
            [(ETH, f("eth0", true)), (WG, f("wg0", wg_up)), (2, f("lo", true))],
            &Overrides::default(),
        )
    }

    fn topo_without_tunnel() -> Topology {
        let f = IfaceFacts { name: "eth0".into(), up: true, has_mac: true, ..Default::default() };
        Topology::from_facts([(ETH, f)], &Overrides::default())
    }

    /// A DNS message as the pipeline would hand it over (before judging).
    #[derive(Clone)]
    struct Msg {
        ts: i64,
        iface: u32,
        response: bool,
        transport: Transport,
        proto: L4,
        src: &'static str,
        sport: u16,
        dst: &'static str,
        dport: u16,
        id: u16,
        name: &'static str,
        qtype: u16,
    }

    fn q(ts: i64, src: &'static str, dst: &'static str, id: u16, name: &'static str) -> Msg {
        Msg {
            ts,
            iface: ETH,
            response: false,
            transport: Transport::Dns,
            proto: L4::Udp,
            src,
            sport: 40000,
            dst,
            dport: 53,
            id,
            name,
            qtype: 1,
        }
    }

    /// The response to `m` (swapped endpoints), at `ts`.
    fn r(m: &Msg, ts: i64) -> Msg {
        Msg { ts, response: true, src: m.dst, sport: m.dport, dst: m.src, dport: m.sport, ..m.clone() }
    }

    fn event(m: &Msg, topology: &Topology) -> Event {
        let name = topology.get(m.iface).map_or(IfaceName::new_static("?"), |i| i.name.clone());
        let mut e = Event::notice(Ts(m.ts), 1, m.iface, name, Notice::TunnelUp { iface: "x".into() });
        e.notice = None;
        e.kind = if m.response { EventKind::Response } else { EventKind::Query };
        e.transport = m.transport;
        e.proto = m.proto;
        e.src = m.src.parse().unwrap();
        e.sport = m.sport;
        e.dst = m.dst.parse().unwrap();
        e.dport = m.dport;
        let flags = if m.response { 0x8180 } else { 0x0100 };
        let header = DnsHeader { id: m.id, flags, qdcount: 1, ..Default::default() };
        let question =
            Some(Question { name: crate::event::QName::from_str(m.name), qtype: m.qtype, qclass: 1 });
        e.dns = Some(DnsInfo { header, question, payload: Box::new([]) });
        e
    }

    /// Feeds messages through verdict and tracker as the pipeline does; returns each message's
    /// rtt and the notices raised.
    fn run(t: &mut Tracker, topology: &Topology, msgs: &[Msg]) -> (Vec<Option<u64>>, Vec<Notice>) {
        let (mut rtts, mut notices) = (Vec::new(), Vec::new());
        for m in msgs {
            let ev = event(m, topology);
            let (v, reason) = verdict::judge(&ev, &Context { topology, tunnel_seen: true });
            let mut judged = Judged { event: ev, verdict: v, reason };
            let mut out = Vec::new();
            t.observe(&mut judged, topology, &mut out);
            rtts.push(judged.event.rtt_ns);
            notices.extend(out.into_iter().map(|e| e.notice.expect("notice events carry a notice")));
        }
        (rtts, notices)
    }

    fn tracker() -> Tracker {
        Tracker::new(TrackerLimits::default())
    }

    #[test]
    fn swar_lowercase_matches_std_on_every_byte() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut bytes = *b"Az@[`{\x80Z";
                bytes[pos] = b;
                let want = u64::from_le_bytes(bytes.map(|c| c.to_ascii_lowercase()));
                assert_eq!(ascii_lower8(u64::from_le_bytes(bytes)), want, "byte {b:#x} at {pos}");
            }
        }
    }

    #[test]
    fn name_hash_ignores_ascii_case_only() {
        let t = tracker();
        assert_eq!(t.name_hash("WWW.Example.COM"), t.name_hash("www.example.com"));
        assert_ne!(t.name_hash("www.example.com"), t.name_hash("www.example.co"));
        assert_ne!(t.name_hash("a"), t.name_hash("a\0"));
        assert_ne!(t.name_hash(""), t.name_hash("\0"));
        assert_ne!(t.name_hash("\u{e9}"), t.name_hash("\u{c9}"), "only ASCII folds");
    }

    #[test]
    fn pairing_table() {
        let base = q(0, "192.0.2.10", "192.0.2.1", 7, "example.com");
        let resp = r(&base, 20 * MS);
        #[rustfmt::skip]
        let cases: Vec<(&str, Msg, Option<u64>)> = vec![
            ("same key", resp.clone(), Some(20_000_000)),
            ("name in other case", Msg { name: "EXAMPLE.com", ..resp.clone() }, Some(20_000_000)),
            ("other id", Msg { id: 8, ..resp.clone() }, None),
            ("other name", Msg { name: "example.org", ..resp.clone() }, None),
            ("other type", Msg { qtype: 28, ..resp.clone() }, None),
            ("other client port", Msg { dport: 40001, ..resp.clone() }, None),
            ("other client address", Msg { dst: "192.0.2.11", ..resp.clone() }, None),
            ("other server port", Msg { sport: 5353, transport: Transport::Mdns, ..resp.clone() }, None),
            ("over tcp", Msg { proto: L4::Tcp, ..resp.clone() }, None),
            ("on another interface", Msg { iface: WG, ..resp.clone() }, None),
            ("before the timeout", Msg { ts: 5 * S, ..resp.clone() }, Some(5_000_000_000)),
            ("after the timeout", Msg { ts: 5 * S + 1, ..resp.clone() }, None),
        ];
        for (what, response, want) in cases {
            let mut t = tracker();
            let (rtts, notices) = run(&mut t, &topo(true), &[base.clone(), response]);
            assert_eq!(rtts, vec![None, want], "{what}");
            assert!(notices.is_empty(), "{what}: {notices:?}");
            let s = t.stats();
            let paired = u64::from(want.is_some());
            assert_eq!((s.paired, s.unmatched_responses), (paired, 1 - paired), "{what}");
            t.finish();
            assert_eq!(t.stats().unanswered, 1 - paired, "{what}: the query is counted once");
            assert_eq!(t.pending(), 0);
        }
    }

    #[test]
    fn ipv6_and_tcp_pair_on_their_own_keys() {
        let mut t = tracker();
        let udp6 = q(0, "fd00::10", "fd00::1", 1, "a.example");
        let tcp = Msg { proto: L4::Tcp, ..udp6.clone() };
        let (rtts, _) =
            run(&mut t, &topo(true), &[udp6.clone(), tcp.clone(), r(&tcp, 3 * MS), r(&udp6, 5 * MS)]);
        assert_eq!(rtts, vec![None, None, Some(3_000_000), Some(5_000_000)]);
        assert_eq!(t.stats().paired, 2);
    }

    #[test]
    fn a_retransmission_is_one_query_timed_from_the_first_send() {
        let mut t = tracker();
        let first = q(0, "192.0.2.10", "192.0.2.1", 7, "example.com");
        let again = Msg { ts: S, ..first.clone() };
        let (rtts, _) = run(&mut t, &topo(true), &[first.clone(), again, r(&first, 1500 * MS)]);
        assert_eq!(rtts[2], Some(1_500_000_000));
        t.finish();
        let s = t.stats();
        assert_eq!((s.paired, s.unanswered, s.unmatched_responses), (1, 0, 0));
    }

    #[test]
    fn timeout_counts_once_and_remembers_the_query() {
        let mut t = tracker();
        let query = q(0, "192.0.2.10", "192.0.2.1", 7, "slow.example");
        run(&mut t, &topo(true), std::slice::from_ref(&query));
        t.expire(Ts(5 * S));
        assert_eq!((t.stats().unanswered, t.pending()), (0, 1), "an answer at 5 s still counts");
        t.expire(Ts(5 * S + 1));
        assert_eq!((t.stats().unanswered, t.pending()), (1, 0));
        let (rtts, notices) = run(&mut t, &topo(true), &[r(&query, 6 * S)]);
        assert_eq!(rtts, vec![None]);
        assert!(notices.is_empty());
        t.expire(Ts(100 * S));
        t.finish();
        let s = t.stats();
        assert_eq!((s.unanswered, s.unmatched_responses, s.paired), (1, 1, 0));
        let recent: Vec<_> = t.recent_unanswered().collect();
        assert_eq!(recent.len(), 1);
        let u = recent[0];
        assert_eq!(
            (&*u.name, u.qtype, u.resolver, u.port),
            ("slow.example", 1, "192.0.2.1".parse().unwrap(), 53)
        );
        assert_eq!((u.iface, &*u.iface_name, u.ts, u.transport), (ETH, "eth0", Ts(0), Transport::Dns));
    }

    #[test]
    fn finish_counts_what_is_still_pending() {
        let mut t = tracker();
        let a = q(0, "192.0.2.10", "192.0.2.1", 1, "a.example");
        let b = q(1, "192.0.2.10", "192.0.2.1", 2, "b.example");
        run(&mut t, &topo(true), &[a.clone(), b, r(&a, 2)]);
        t.finish();
        assert_eq!((t.stats().unanswered, t.stats().paired), (1, 1));
        assert_eq!(t.recent_unanswered().map(|u| &*u.name).collect::<Vec<_>>(), ["b.example"]);
    }

    #[test]
    fn recent_unanswered_list_is_bounded_and_keeps_the_newest() {
        let limits = TrackerLimits { max_recent_unanswered: 3, ..Default::default() };
        let mut t = Tracker::new(limits);
        let names = ["n0", "n1", "n2", "n3", "n4"];
        let msgs: Vec<Msg> = names
            .iter()
            .enumerate()
            .map(|(i, n)| q(i as i64, "192.0.2.10", "192.0.2.1", i as u16, n))
            .collect();
        run(&mut t, &topo(true), &msgs);
        t.expire(Ts(10 * S));
        assert_eq!(t.stats().unanswered, 5);
        assert_eq!(t.recent_unanswered().map(|u| &*u.name).collect::<Vec<_>>(), ["n2", "n3", "n4"]);
    }

    #[test]
    fn pending_table_is_capped_and_evicts_the_oldest() {
        let limits = TrackerLimits { max_pending: 2, ..Default::default() };
        let mut t = Tracker::new(limits);
        let qs: Vec<Msg> = (0..3).map(|i| q(i, "192.0.2.10", "192.0.2.1", i as u16, "x.example")).collect();
        let mut msgs = qs.clone();
        msgs.extend(qs.iter().map(|m| r(m, 10)));
        let (rtts, _) = run(&mut t, &topo(true), &msgs);
        assert_eq!(&rtts[3..], [None, Some(9), Some(8)]);
        t.finish();
        let s = t.stats();
        assert_eq!((s.evicted, s.paired, s.unmatched_responses, s.unanswered), (1, 2, 1, 0));
    }

    #[test]
    fn many_answered_queries_keep_memory_flat() {
        let limits = TrackerLimits { max_pending: 16, ..Default::default() };
        let mut t = Tracker::new(limits);
        let topology = topo(true);
        for i in 0..20_000i64 {
            let m = q(i * MS, "192.0.2.10", "192.0.2.1", i as u16, "flat.example");
            run(&mut t, &topology, &[m.clone(), r(&m, i * MS + 1)]);
        }
        assert_eq!(t.stats().paired, 20_000);
        assert!(t.slots.len() <= 1, "slots reused: {}", t.slots.len());
        assert!(t.queue.len() <= 4096 + 2, "queue compacted: {}", t.queue.len());
    }

    #[test]
    fn queries_to_several_servers_under_one_key_pair_separately() {
        let mut t = tracker();
        let a = q(0, "192.0.2.10", "192.0.2.1", 7, "example.com");
        let b = Msg { dst: "192.0.2.2", ts: 10, ..a.clone() };
        let (rtts, notices) = run(&mut t, &topo(true), &[a.clone(), b.clone(), r(&b, 30), r(&a, 50)]);
        assert_eq!(rtts, vec![None, None, Some(20), Some(50)]);
        assert!(notices.is_empty(), "{notices:?}");
        // More servers than a key holds: the oldest is evicted.
        let mut t = tracker();
        let servers = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"];
        let msgs: Vec<Msg> = servers.iter().map(|s| Msg { dst: s, ..a.clone() }).collect();
        run(&mut t, &topo(true), &msgs);
        assert_eq!((t.stats().evicted, t.pending()), (1, 4));
    }

    #[test]
    fn standard_mdns_is_neither_pending_nor_unmatched() {
        let mut t = tracker();
        let query = Msg {
            transport: Transport::Mdns,
            sport: 5353,
            dport: 5353,
            ..q(0, "192.0.2.10", "224.0.0.251", 0, "printer.local")
        };
        // Answers go to the group, or to port 5353 (QU), from the responder's own address.
        let to_group = Msg { response: true, src: "192.0.2.20", dst: "224.0.0.251", ..query.clone() };
        let to_port = Msg { response: true, src: "192.0.2.21", dst: "192.0.2.10", ..query.clone() };
        let (rtts, notices) = run(&mut t, &topo(true), &[query, to_group, to_port]);
        assert_eq!(rtts, vec![None, None, None]);
        assert!(notices.is_empty());
        assert_eq!(t.pending(), 0);
        t.finish();
        assert_eq!(t.stats(), PairStats::default());
    }

    #[test]
    fn group_queries_pair_with_every_responder_and_silence_is_not_unanswered() {
        let mut t = tracker();
        let legacy = Msg {
            transport: Transport::Mdns,
            dport: 5353,
            ..q(0, "192.0.2.10", "224.0.0.251", 9, "printer.local")
        };
        let from = |src, ts| Msg { src, ..r(&legacy, ts) };
        let llmnr =
            Msg { transport: Transport::Llmnr, dport: 5355, ..q(0, "fe80::10", "ff02::1:3", 3, "nas") };
        let msgs = [legacy.clone(), from("192.0.2.20", 2 * MS), from("192.0.2.21", 3 * MS), llmnr];
        let (rtts, notices) = run(&mut t, &topo(true), &msgs);
        assert_eq!(rtts, vec![None, Some(2_000_000), Some(3_000_000), None]);
        assert!(notices.is_empty(), "a group query answered by anyone is no hijack: {notices:?}");
        t.expire(Ts(6 * S));
        let s = t.stats();
        assert_eq!((s.paired, s.unanswered, s.silent_multicast, s.unmatched_responses), (2, 0, 1, 0));
        assert_eq!(t.recent_unanswered().count(), 0);
    }

    #[test]
    fn hijack_is_noticed_once_per_pair() {
        let mut t = tracker();
        let topology = topo(true);
        let ask = |ts, id| q(ts, "192.0.2.10", "192.0.2.1", id, "bank.example");
        let forged = |m: &Msg, from| Msg { src: from, ..r(m, m.ts + 5) };
        let (a, b, c) = (ask(0, 1), ask(10, 2), ask(20, 3));
        let msgs = [
            a.clone(),
            forged(&a, "203.0.113.9"),
            b.clone(),
            forged(&b, "203.0.113.9"),
            c.clone(),
            forged(&c, "203.0.113.10"),
        ];
        let (rtts, notices) = run(&mut t, &topology, &msgs);
        assert_eq!(rtts, vec![None, Some(5), None, Some(5), None, Some(5)], "still an answer");
        let want = |from: &str| Notice::Hijack {
            asked: "192.0.2.1".parse().unwrap(),
            answered_from: from.parse().unwrap(),
            name: "bank.example".into(),
        };
        assert_eq!(notices, vec![want("203.0.113.9"), want("203.0.113.10")]);
        // Forgotten after a quiet hour, then noticed again.
        t.expire(Ts(3_700 * S));
        let d = ask(3_700 * S, 4);
        let (_, again) = run(&mut t, &topology, &[d.clone(), forged(&d, "203.0.113.9")]);
        assert_eq!(again, vec![want("203.0.113.9")]);
    }

    #[test]
    fn hijack_table_is_bounded() {
        let limits = TrackerLimits { max_hijack_pairs: 2, ..Default::default() };
        let mut t = Tracker::new(limits);
        let froms = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.1"];
        for (i, from) in froms.iter().enumerate() {
            let m = q(i as i64, "192.0.2.10", "192.0.2.1", i as u16, "x.example");
            let (_, n) = run(&mut t, &topo(true), &[m.clone(), Msg { src: from, ..r(&m, i as i64 + 1) }]);
            assert_eq!(n.len(), 1, "{from}: the first pair was forgotten to make room");
            assert!(t.hijacks.len() <= 2);
        }
    }

    /// The pair forgotten to make room is the one seen least recently (found without a scan
    /// of the table, issue #13).
    #[test]
    fn hijack_table_forgets_the_least_recently_seen_pair() {
        let limits = TrackerLimits { max_hijack_pairs: 2, ..Default::default() };
        let mut t = Tracker::new(limits);
        let froms = ["203.0.113.1", "203.0.113.2", "203.0.113.1", "203.0.113.3", "203.0.113.1"];
        let mut noticed = Vec::new();
        for (i, from) in froms.iter().enumerate() {
            let m = q(i as i64, "192.0.2.10", "192.0.2.1", i as u16, "x.example");
            let (_, n) = run(&mut t, &topo(true), &[m.clone(), Msg { src: from, ..r(&m, i as i64 + 1) }]);
            noticed.push(n.len());
        }
        assert_eq!(noticed, [1, 1, 0, 1, 0], ".1 was seen again, so .2 made room for .3");
    }

    #[test]
    fn mismatched_unicast_mdns_is_paired_without_a_hijack() {
        let mut t = tracker();
        let m = Msg {
            transport: Transport::Mdns,
            dport: 5353,
            ..q(0, "192.0.2.10", "192.0.2.20", 1, "tv.local")
        };
        let (rtts, notices) = run(&mut t, &topo(true), &[m.clone(), Msg { src: "192.0.2.21", ..r(&m, 4) }]);
        assert_eq!(rtts[1], Some(4));
        assert!(notices.is_empty());
    }

    fn parallel(name: &str, tunnel: &str, outside: &str) -> Notice {
        Notice::ParallelResolution { name: name.into(), tunnel: tunnel.into(), outside: outside.into() }
    }

    #[test]
    fn parallel_resolution_table() {
        let inside = |ts, name| Msg { iface: WG, ..q(ts, "10.2.0.2", "10.2.0.1", 1, name) };
        let outside = |ts, name| q(ts, "192.0.2.10", "192.0.2.1", 2, name);
        #[rustfmt::skip]
        let cases: Vec<(&str, Vec<Msg>, Vec<Notice>)> = vec![
            ("tunnel then outside", vec![inside(0, "a.example"), outside(300 * MS, "a.example")],
             vec![parallel("a.example", "wg0", "eth0")]),
            ("outside then tunnel", vec![outside(0, "a.example"), inside(S, "a.example")],
             vec![parallel("a.example", "wg0", "eth0")]),
            ("case differs", vec![outside(0, "A.Example"), inside(10, "a.example")],
             vec![parallel("a.example", "wg0", "eth0")]),
            ("too far apart", vec![inside(0, "a.example"), outside(S + 1, "a.example")], vec![]),
            ("other names", vec![inside(0, "a.example"), outside(10, "b.example")], vec![]),
            ("both inside", vec![inside(0, "a.example"), inside(10, "a.example")], vec![]),
            ("once per window", vec![
                inside(0, "a.example"), outside(10, "a.example"), inside(20, "a.example"),
                outside(30, "a.example"), outside(S, "a.example"), inside(S + 10, "a.example"),
            ], vec![parallel("a.example", "wg0", "eth0"), parallel("a.example", "wg0", "eth0")]),
            ("multicast outside is no leak", vec![
                inside(0, "a.example"),
                Msg { transport: Transport::Llmnr, dport: 5355, ..q(10, "192.0.2.10", "224.0.0.252", 3, "a.example") },
            ], vec![]),
        ];
        for (what, msgs, want) in cases {
            let mut t = tracker();
            let (_, notices) = run(&mut t, &topo(true), &msgs);
            assert_eq!(notices, want, "{what}");
        }
    }

    #[test]
    fn parallel_names_table_is_bounded_and_expires() {
        let limits = TrackerLimits { max_names: 2, ..Default::default() };
        let mut t = Tracker::new(limits);
        let topology = topo(true);
        let outside = |ts, name| q(ts, "192.0.2.10", "192.0.2.1", 2, name);
        run(&mut t, &topology, &[outside(0, "a"), outside(1, "b"), outside(2, "c")]);
        assert_eq!(t.names.len(), 2, "full: c is not remembered");
        assert_eq!(t.stats().names_dropped, 1, "and that is counted");
        t.expire(Ts(3 * S));
        assert!(t.names.is_empty());
        let (_, n) =
            run(&mut t, &topology, &[outside(3 * S, "c"), Msg { iface: WG, ..outside(3 * S + 1, "c") }]);
        assert_eq!(n, vec![parallel("c", "wg0", "eth0")]);
        assert!(t.names.len() <= 2);
    }

    #[test]
    fn no_tunnel_known_means_no_parallel_bookkeeping() {
        let mut t = tracker();
        run(&mut t, &topo_without_tunnel(), &[q(0, "192.0.2.10", "192.0.2.1", 2, "a")]);
        assert!(t.names.is_empty());
    }

    #[test]
    fn kill_switch_failed_once_per_outage() {
        let mut t = tracker();
        let leak = |ts| q(ts, "192.0.2.10", "192.0.2.1", ts as u16, "a.example");
        let down = topo(false);
        let up = topo(true);
        let ks = || Notice::KillSwitchFailed { iface: "eth0".into() };
        let (_, n) = run(&mut t, &up, &[leak(0)]);
        assert!(n.is_empty(), "tunnel up: a leak, not a failed kill switch");
        t.topology_changed(&down);
        let (_, n) = run(&mut t, &down, &[leak(1), leak(2), r(&leak(2), 3)]);
        assert_eq!(n, vec![ks()], "once per outage, and only for what leaves");
        t.topology_changed(&up);
        t.topology_changed(&down);
        let (_, n) = run(&mut t, &down, &[leak(4), leak(5)]);
        assert_eq!(n, vec![ks()], "a new outage");
        let loopback = Msg { iface: 2, ..q(6, "127.0.0.1", "127.0.0.53", 1, "a.example") };
        let mut fresh = tracker();
        let (_, n) = run(&mut fresh, &down, &[loopback]);
        assert!(n.is_empty(), "loopback is not a physical interface");
    }

    #[test]
    fn kill_switch_needs_a_tunnel_seen_before() {
        let mut t = tracker();
        let topology = topo_without_tunnel();
        let ev = event(&q(0, "192.0.2.10", "192.0.2.1", 1, "a"), &topology);
        let (v, reason) = verdict::judge(&ev, &Context { topology: &topology, tunnel_seen: false });
        let mut judged = Judged { event: ev, verdict: v, reason };
        let mut out = Vec::new();
        t.observe(&mut judged, &topology, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn encrypted_flows_and_malformed_messages_are_ignored() {
        let mut t = tracker();
        let topology = topo(true);
        for kind in [EventKind::Encrypted, EventKind::Malformed] {
            let mut ev = event(&q(0, "192.0.2.10", "192.0.2.1", 1, "a"), &topology);
            ev.kind = kind;
            let mut judged = Judged { event: ev, verdict: Some(Verdict::Bypass), reason: Reason::Notice };
            let mut out = Vec::new();
            t.observe(&mut judged, &topology, &mut out);
            assert!(out.is_empty());
        }
        assert_eq!(t.pending(), 0);
    }
}

//! The queries waiting for their responses: a slab of slots reused without allocating, keyed
//! by `PairKey` to a chain of the servers asked, with a queue in the order sent for timeouts
//! and eviction.

use std::collections::hash_map::{Entry, OccupiedEntry};
use std::net::IpAddr;
use std::sync::Arc;

use super::hash::PairKey;
use super::{At, Tracker, Unanswered};
use crate::event::{DnsInfo, Event, Message, Transport, Wire};
use crate::frame::Ts;
use crate::process::Owner;
use crate::topology::{IfaceId, IfaceName};

const MDNS_PORT: u16 = 5353;
/// Queries kept under one key that differ only by the server asked.
const MAX_ASKS_PER_KEY: usize = 4;
/// "No slot" in the chains of asks.
const NONE: u32 = u32::MAX;

/// One query waiting for its response. Slots are reused, and so is the name's buffer: the
/// common path allocates nothing once the table has warmed up.
#[derive(Debug)]
pub(super) struct Slot {
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
    /// The program that sent it (process attribution), for its response.
    owner: Option<Arc<Owner>>,
    /// Next query under the same key, or `NONE`.
    next: u32,
}

/// A query in the order it was sent, for timeouts and eviction.
#[derive(Debug, Clone, Copy)]
pub(super) struct Due {
    pub(super) ts: Ts,
    pub(super) slot: u32,
    pub(super) seq: u64,
}

impl Tracker {
    pub(super) fn key(&self, iface: IfaceId, w: &Wire, info: &DnsInfo, name: u64, query: bool) -> PairKey {
        let (qtype, mut qclass) = info.question.as_ref().map_or((0, 0), |q| (q.qtype, q.qclass));
        if w.transport == Transport::Mdns {
            // The top bit of an mDNS question's class asks for a unicast answer.
            qclass &= 0x7fff;
        }
        let (client, client_port, server_port) =
            if query { (w.src, w.sport, w.dport) } else { (w.dst, w.dport, w.sport) };
        PairKey {
            iface,
            transport: w.transport,
            proto: w.proto,
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

    pub(super) fn track_query(
        &mut self,
        at: &At<'_>,
        w: &Wire,
        info: &DnsInfo,
        name: u64,
        owner: Option<&Arc<Owner>>,
    ) {
        let group = is_group(&w.dst);
        if group && w.transport == Transport::Mdns && w.sport == MDNS_PORT {
            return;
        }
        if self.limits.max_pending == 0 {
            self.stats.evicted += 1;
            return;
        }
        let key = self.key(at.iface, w, info, name, true);
        if self.live >= self.limits.max_pending {
            // (At the cap even a retransmission makes room: the table is overrun anyway.)
            self.evict_oldest();
        }
        // The table is probed before the slot is written: the key was just computed, and
        // copying it into the slot at once stalled on its stores (a fifth of the tracker's time).
        let slot = self.take_slot(at, w.dst, key);
        let next = match self.pending.entry(key) {
            Entry::Vacant(v) => {
                v.insert(slot);
                NONE
            }
            Entry::Occupied(mut e) => {
                let (count, oldest, repeat) = chain_facts(&self.slots, *e.get(), &w.dst);
                if repeat {
                    // A retransmission: the first send times the answer.
                    self.free.push(slot);
                    return;
                }
                if count < MAX_ASKS_PER_KEY {
                    std::mem::replace(e.get_mut(), slot)
                } else {
                    unlink(&mut self.slots, e, oldest);
                    self.free_slot(oldest);
                    self.stats.evicted += 1;
                    self.pending.insert(key, slot).unwrap_or(NONE)
                }
            }
        };
        let qname = info.question.as_ref().map_or("", |q| &q.name);
        self.fill_slot(slot, at, w.dst, key, group, qname, next);
        self.slots[slot as usize].owner = owner.cloned();
        self.live += 1;
        self.queue.push_back(Due { ts: at.ts, slot, seq: self.seq });
        self.compact_queue();
    }

    /// A free slot (or a new one), still marked free (`seq` 0) until `fill_slot` writes it.
    fn take_slot(&mut self, at: &At<'_>, server: IpAddr, key: PairKey) -> u32 {
        if let Some(i) = self.free.pop() {
            return i;
        }
        self.slots.push(Slot {
            seq: 0,
            key,
            server,
            group: false,
            answered: false,
            ts: at.ts,
            frame: 0,
            name: String::new(),
            iface_name: at.iface_name.clone(),
            owner: None,
            next: NONE,
        });
        (self.slots.len() - 1) as u32
    }

    /// Writes the query into slot `idx`, ahead of `next` in its key's chain.
    #[allow(clippy::too_many_arguments)]
    fn fill_slot(
        &mut self,
        idx: u32,
        at: &At<'_>,
        server: IpAddr,
        key: PairKey,
        group: bool,
        qname: &str,
        next: u32,
    ) {
        self.seq += 1;
        let s = &mut self.slots[idx as usize];
        s.seq = self.seq;
        s.key = key;
        s.server = server;
        s.group = group;
        s.answered = false;
        s.ts = at.ts;
        s.frame = at.frame;
        s.name.clear();
        s.name.push_str(qname);
        s.iface_name = at.iface_name.clone();
        s.next = next;
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
        self.slots[idx as usize].owner = None;
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
    pub(super) fn time_out(&mut self, due: Due) {
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

    /// Pairs a response with its query; returns the response time and the query's program.
    pub(super) fn pair_response(
        &mut self,
        at: &At<'_>,
        msg: &Message,
        name_hash: u64,
        notices: &mut Vec<Event>,
    ) -> Option<(u64, Option<Arc<Owner>>)> {
        let (w, info) = (&msg.wire, msg.dns.as_ref()?);
        if is_group(&w.dst) || (w.transport == Transport::Mdns && w.dport == MDNS_PORT) {
            return None; // mDNS answers to the group or to port 5353: not pairable by design
        }
        let qname = info.question.as_ref().map_or("", |q| &q.name);
        let key = self.key(at.iface, w, info, name_hash, false);
        // One probe of the table: find the query and unlink it through the same entry.
        let Entry::Occupied(entry) = self.pending.entry(key) else {
            self.stats.unmatched_responses += 1;
            return None;
        };
        let idx = find_ask(&self.slots, *entry.get(), &w.src);
        let s = &mut self.slots[idx as usize];
        let (asked, group) = (s.server, s.group);
        let rtt = at.ts.since(s.ts);
        // Too late: the query had timed out already, whether or not a sweep noticed it.
        let late = rtt > self.limits.query_timeout_ns;
        let stays = group && !late;
        let owner = if stays {
            s.answered = true; // other responders may answer too
            s.owner.clone()
        } else {
            s.owner.take()
        };
        if !stays {
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
        if !group && asked != w.src && w.transport == Transport::Dns {
            self.hijack(at, asked, w.src, qname, notices);
        }
        Some((rtt, owner))
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

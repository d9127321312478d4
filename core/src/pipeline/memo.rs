//! Small fixed-size caches in front of the judge's per-message lookups. Messages come in runs
//! on one interface and to and from a few resolvers, so the interface's name and kind and the
//! resolver's provider are looked up once per run instead of once (or twice) per message. Both
//! are bounded (`IFACE_SLOTS` and `PROVIDER_SLOTS` entries) and a miss costs one lookup as before, so
//! a flood of new addresses or interfaces costs what it cost without them.

use std::net::IpAddr;

use crate::resolvers::ResolverDb;
use crate::topology::{IfaceId, IfaceKind, IfaceName, Topology};

/// What the events of one interface repeat: its id, name and kind.
pub(super) struct IfaceSeen {
    pub(super) id: IfaceId,
    pub(super) name: IfaceName,
    pub(super) kind: IfaceKind,
}

/// Interfaces remembered, direct-mapped by id (traffic alternates between a few: the
/// tunnel, the physical interface, loopback).
const IFACE_SLOTS: usize = 8;

/// The interfaces of recent events (`Topology::get` is a binary search over shared runs, and
/// both the event's name and its verdict need it). Cleared when the interfaces change.
#[derive(Default)]
pub(super) struct IfaceMemo {
    slots: [Option<IfaceSeen>; IFACE_SLOTS],
}

impl IfaceMemo {
    /// Interface `id` of `topology` (unknown to it: named `if{id}`, kind other).
    pub(super) fn get(&mut self, topology: &Topology, id: IfaceId) -> &IfaceSeen {
        let slot = &mut self.slots[id as usize % IFACE_SLOTS];
        if slot.as_ref().is_some_and(|l| l.id != id) {
            *slot = None;
        }
        slot.get_or_insert_with(|| match topology.get(id) {
            Some(i) => IfaceSeen { id, name: i.name.clone(), kind: i.kind },
            None => IfaceSeen { id, name: IfaceName::from(format!("if{id}")), kind: IfaceKind::Other },
        })
    }

    /// The topology changed: what was remembered may be wrong.
    pub(super) fn clear(&mut self) {
        self.slots = Default::default();
    }
}

/// Addresses remembered with their provider, direct-mapped by a hash of the address.
const PROVIDER_SLOTS: usize = 64;

type ProviderSlot = Option<(IpAddr, Option<&'static str>)>;

/// The providers of the resolvers asked lately (the list is fixed for the pipeline's life; a
/// lookup hashes an address into a map of about a thousand entries).
pub(super) struct ProviderMemo {
    slots: Box<[ProviderSlot; PROVIDER_SLOTS]>,
}

impl Default for ProviderMemo {
    fn default() -> Self {
        ProviderMemo { slots: Box::new([None; PROVIDER_SLOTS]) }
    }
}

impl ProviderMemo {
    /// `db.provider(addr)`, remembered.
    pub(super) fn provider(&mut self, db: &ResolverDb, addr: IpAddr) -> Option<&'static str> {
        let slot = &mut self.slots[slot_of(&addr)];
        match *slot {
            Some((a, provider)) if a == addr => provider,
            _ => {
                let provider = db.provider(&addr);
                *slot = Some((addr, provider));
                provider
            }
        }
    }
}

/// The slot of an address: a multiplicative hash of its bits (collisions only cost a lookup).
fn slot_of(addr: &IpAddr) -> usize {
    let x = match addr {
        IpAddr::V4(a) => u64::from(a.to_bits()),
        IpAddr::V6(a) => {
            let b = a.to_bits();
            (b as u64) ^ ((b >> 64) as u64).rotate_left(17)
        }
    };
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - PROVIDER_SLOTS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{IfaceFacts, Overrides};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn providers_are_the_lists_whatever_the_order_of_addresses() {
        let db = ResolverDb::builtin();
        let mut memo = ProviderMemo::default();
        // More addresses than slots, twice over, in two orders: every answer is the list's.
        let mut addrs: Vec<IpAddr> =
            ["9.9.9.9", "1.1.1.1", "8.8.8.8", "2620:fe::fe", "192.0.2.1"].iter().map(|s| ip(s)).collect();
        addrs.extend((0..200u32).map(|i| IpAddr::from((0xc633_6400u32 + i).to_be_bytes())));
        addrs.extend((0..200u16).map(|i| IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, i])));
        for pass in 0..2 {
            let order: Vec<&IpAddr> =
                if pass == 0 { addrs.iter().collect() } else { addrs.iter().rev().collect() };
            for a in order {
                assert_eq!(memo.provider(&db, *a), db.provider(a), "{a}");
            }
        }
        assert_eq!(memo.provider(&db, ip("9.9.9.9")), Some("Quad9"));
        assert_eq!(memo.provider(&db, ip("192.0.2.1")), None);
    }

    #[test]
    fn interfaces_are_the_topologys_until_cleared() {
        let facts =
            |name: &str| IfaceFacts { name: name.into(), up: true, has_mac: true, ..Default::default() };
        let t = Topology::from_facts([(0, facts("eth0")), (1, facts("wg0"))], &Overrides::default());
        let mut memo = IfaceMemo::default();
        let mut seen = |t: &Topology, id| {
            let i = memo.get(t, id);
            (i.name.to_string(), i.kind)
        };
        assert_eq!(seen(&t, 1), ("wg0".into(), IfaceKind::Tunnel));
        assert_eq!(seen(&t, 1), ("wg0".into(), IfaceKind::Tunnel), "remembered");
        assert_eq!(seen(&t, 0), ("eth0".into(), IfaceKind::Physical));
        assert_eq!(seen(&t, 7), ("if7".into(), IfaceKind::Other));
        let renamed = Topology::from_facts([(0, facts("tun0"))], &Overrides::default());
        assert_eq!(seen(&renamed, 0).0, "eth0", "remembered until cleared (the pipeline clears it)");
        assert_eq!(seen(&renamed, 8).0, "if8", "8 takes 0's slot");
        assert_eq!(seen(&renamed, 0).0, "tun0", "0 is looked up again");
        memo.clear();
        let i = memo.get(&t, 0);
        assert_eq!((&*i.name, i.kind), ("eth0", IfaceKind::Physical));
    }
}

//! What the causes remember between messages, bounded and expiring with trace time: the names
//! recently asked of a loopback resolver (a local stub) and through a tunnel, each with where
//! it went; the address families seen on each tunnel (replay's evidence that a tunnel carries
//! a family); and the current outage (since when no tunnel is up, how much left meanwhile).

use std::net::IpAddr;

use crate::agemap::AgeMap;
use crate::config::HashSeeds;
use crate::frame::Ts;
use crate::net::{is_link_local, Family};
use crate::route::LinkRoutes;
use crate::topology::{Iface, IfaceId, IfaceName, Topology};
use crate::tracker::{folded_multiply, Prehashed};

/// A name and type as the causes compare them: the keyed hash of the lower-cased name (a stub
/// may forward with the letters' case randomised, as unbound's 0x20 does; `HashSeeds::name_hash`,
/// computed once per message for the tracker and the causes) with the type folded in. The
/// seeds are random per pipeline, so a collision cannot be planned from the wire (and comes by
/// chance once in 2^64). Eight bytes, where a lower-cased copy of the name hashed as a string
/// and cloned into the order list cost a quarter of the pipeline's time in `dnsleak bench`.
type Key = u64;

/// Where a remembered question went, and how long before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit<T> {
    pub via: T,
    pub ago_ns: u64,
}

/// Names asked recently, each with where it last went; entries older than the window are
/// dropped, and at most `cap` are kept (the least recently noted go first, counted in
/// `evicted`). One age-ordered table keyed by the (already keyed) hash: a note is one lookup,
/// and expiry takes entries from the old end without looking them up.
#[derive(Debug)]
pub struct Recent<T> {
    window_ns: u64,
    cap: usize,
    /// Seeds of the name hash and of the key.
    seeds: HashSeeds,
    latest: AgeMap<Key, (Ts, T), 1, Prehashed>,
    pub evicted: u64,
}

impl<T: Clone> Recent<T> {
    /// A table with the fixed default seeds (tests).
    pub fn new(window_ns: u64, cap: usize) -> Self {
        Recent::seeded(window_ns, cap, HashSeeds::default())
    }

    pub fn seeded(window_ns: u64, cap: usize, seeds: HashSeeds) -> Self {
        Recent { window_ns, cap: cap.max(1), seeds, latest: AgeMap::default(), evicted: 0 }
    }

    /// The key of a name (by its `HashSeeds::name_hash` with this table's seeds) and type.
    fn key(&self, name_hash: u64, qtype: u16) -> Key {
        folded_multiply(name_hash ^ u64::from(qtype), self.seeds.pair().1.rotate_left(17))
    }

    /// The seeds the table was made with.
    pub fn seeds(&self) -> HashSeeds {
        self.seeds
    }

    fn name_hash(&self, name: &str) -> u64 {
        self.seeds().name_hash(name)
    }

    pub fn len(&self) -> usize {
        self.latest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    /// Remembers that `name`/`qtype` went `via` at `ts` (trace time, non-decreasing).
    pub fn note(&mut self, name: &str, qtype: u16, ts: Ts, via: T) {
        self.note_hashed(self.name_hash(name), qtype, ts, via);
    }

    /// [`note`](Self::note) with the name's hash computed already.
    pub fn note_hashed(&mut self, name_hash: u64, qtype: u16, ts: Ts, via: T) {
        self.expire(ts);
        let k = self.key(name_hash, qtype);
        if self.latest.len() >= self.cap && !self.latest.contains_key(&k) {
            self.latest.pop_oldest(0);
            self.evicted += 1;
        }
        self.latest.insert(k, (ts, via), 0);
    }

    /// Where `name`/`qtype` went within the window before `ts`, if it did.
    pub fn within(&mut self, name: &str, qtype: u16, ts: Ts) -> Option<Hit<T>> {
        self.within_hashed(self.name_hash(name), qtype, ts)
    }

    /// [`within`](Self::within) with the name's hash computed already.
    pub fn within_hashed(&mut self, name_hash: u64, qtype: u16, ts: Ts) -> Option<Hit<T>> {
        self.expire(ts);
        let (t, via) = self.latest.get(&self.key(name_hash, qtype))?;
        (*t <= ts).then(|| Hit { via: via.clone(), ago_ns: ts.since(*t) })
    }

    /// Drops what is older than the window at `now`.
    pub fn expire(&mut self, now: Ts) {
        while let Some((_, (t, _))) = self.latest.oldest(0) {
            if now.since(*t) <= self.window_ns {
                break;
            }
            self.latest.pop_oldest(0);
        }
    }
}

/// Which families a set of tunnels carries, and whether anything shows it at all: a capture
/// without interface addresses and without a message on the tunnel says nothing either way,
/// and then no family is said to be outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Families {
    pub v4: bool,
    pub v6: bool,
    /// Some evidence was there (an address, routes read from the OS, a message seen).
    pub known: bool,
}

impl Families {
    pub const fn new(v4: bool, v6: bool) -> Families {
        Families { v4, v6, known: true }
    }

    pub fn carries(&self, f: Family) -> bool {
        match f {
            Family::V4 => self.v4,
            Family::V6 => self.v6,
        }
    }

    /// The evidence shows that `f` is not carried.
    pub fn shows_outside(&self, f: Family) -> bool {
        self.known && !self.carries(f)
    }

    fn add(&mut self, f: Family) {
        match f {
            Family::V4 => self.v4 = true,
            Family::V6 => self.v6 = true,
        }
    }
}

/// A time without any tunnel up, after one was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    /// The tunnel that went (the first one, by name, when several went at once).
    pub tunnel: IfaceName,
    pub since: Ts,
    /// Leaks and bypasses judged during it.
    pub exposed: u64,
}

/// Families seen per tunnel interface (replay's evidence), and the outage, kept in step with
/// the topology.
#[derive(Debug, Default)]
pub struct TunnelEvidence {
    seen: Vec<(IfaceId, Families)>,
    outage: Option<Outage>,
    tunnels_up: Vec<IfaceName>,
}

impl TunnelEvidence {
    /// A message of `family` went by tunnel `iface`.
    pub fn seen_on_tunnel(&mut self, iface: IfaceId, family: Family) {
        match self.seen.iter_mut().find(|(i, _)| *i == iface) {
            Some((_, f)) => f.add(family),
            None => {
                let mut f = Families::new(false, false);
                f.add(family);
                self.seen.push((iface, f));
            }
        }
    }

    /// The interfaces changed at `ts`: forgets what was seen on tunnels that are no longer up,
    /// opens an outage when the last tunnel went, closes it when one is back.
    pub fn topology_changed(&mut self, topology: &Topology, ts: Ts) {
        let up: Vec<&Iface> = topology.tunnels_up().collect();
        self.seen.retain(|(id, _)| up.iter().any(|i| i.id == *id));
        if up.is_empty() {
            if self.outage.is_none() {
                if let Some(last) = self.tunnels_up.first() {
                    self.outage = Some(Outage { tunnel: last.clone(), since: ts, exposed: 0 });
                }
            }
        } else {
            self.outage = None;
        }
        let mut names: Vec<IfaceName> = up.iter().map(|i| i.name.clone()).collect();
        names.sort();
        self.tunnels_up = names;
    }

    /// A leak or bypass was judged: counted against the outage, if there is one.
    pub fn exposed(&mut self) {
        if let Some(o) = &mut self.outage {
            o.exposed += 1;
        }
    }

    pub fn outage(&self) -> Option<&Outage> {
        self.outage.as_ref()
    }

    /// The families the tunnels that are up carry: an address of the family other than
    /// link-local, a route of the family through it (live: `routes`, empty when not read), or
    /// a message of the family seen on it.
    pub fn carried(&self, topology: &Topology, routes: &[LinkRoutes]) -> Families {
        let mut out = Families { known: !routes.is_empty(), ..Families::default() };
        for t in topology.tunnels_up() {
            let f = self.families_of(t, routes);
            out.v4 |= f.v4;
            out.v6 |= f.v6;
            out.known |= f.known;
        }
        out
    }

    /// The families one tunnel carries, by the same evidence as [`carried`](Self::carried).
    pub fn families_of(&self, t: &Iface, routes: &[LinkRoutes]) -> Families {
        let mut out = Families::default();
        for a in t.facts.addrs.iter().filter(|a| !is_link_local(&a.addr) && !a.addr.is_loopback()) {
            out.add(Family::of(&a.addr));
            out.known = true;
        }
        let by_route =
            routes.iter().filter(|r| (t.facts.index != 0 && r.ifindex == t.facts.index) || r.iface == t.name);
        for r in by_route {
            out.v4 |= r.v4;
            out.v6 |= r.v6;
        }
        if let Some((_, f)) = self.seen.iter().find(|(id, _)| *id == t.id) {
            out.v4 |= f.v4;
            out.v6 |= f.v6;
            out.known = true;
        }
        out
    }
}

/// A resolver address is a loopback one (a local stub).
pub fn is_loopback_resolver(a: &IpAddr) -> bool {
    a.to_canonical().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::IfaceAddr;
    use crate::topology::{IfaceFacts, Overrides};

    const MS: u64 = 1_000_000;

    #[test]
    fn recent_names_expire_and_ignore_case() {
        let mut r: Recent<IpAddr> = Recent::new(1000 * MS, 16);
        let stub: IpAddr = "127.0.0.53".parse().unwrap();
        r.note("Www.Example.COM", 1, Ts(0), stub);
        assert_eq!(
            r.within("www.example.com", 1, Ts::from_millis(12)),
            Some(Hit { via: stub, ago_ns: 12 * MS })
        );
        assert_eq!(r.within("www.example.com", 28, Ts::from_millis(12)), None, "another type");
        assert_eq!(r.within("www.example.com", 1, Ts::from_millis(1001)), None, "outside the window");
        assert!(r.is_empty());
    }

    #[test]
    fn recent_is_capped_oldest_first() {
        let mut r: Recent<u8> = Recent::new(1000 * MS, 3);
        for (i, n) in ["a", "b", "c", "d"].iter().enumerate() {
            r.note(n, 1, Ts::from_millis(i as i64), i as u8);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.evicted, 1);
        assert!(r.within("a", 1, Ts::from_millis(5)).is_none());
        assert_eq!(r.within("d", 1, Ts::from_millis(5)).map(|h| h.via), Some(3));
        // The same name noted again and again stays one entry, and evicts nothing.
        for i in 0..1000 {
            r.note("d", 1, Ts::from_micros(10_000 + i), 9);
        }
        assert_eq!((r.len(), r.evicted), (3, 1));
        // A name noted again goes to the young end: the least recently noted goes first.
        r.note("b", 1, Ts::from_millis(20), 1);
        r.note("e", 1, Ts::from_millis(21), 4);
        assert!(r.within("c", 1, Ts::from_millis(22)).is_none(), "c was noted least recently");
        assert!(r.within("b", 1, Ts::from_millis(22)).is_some());
    }

    fn topo(wg: Option<(&str, bool)>) -> Topology {
        let mut facts =
            vec![(0, IfaceFacts { name: "eth0".into(), up: true, has_mac: true, ..Default::default() })];
        if let Some((addr, up)) = wg {
            let addrs = if addr.is_empty() { vec![] } else { vec![IfaceAddr::bare(addr.parse().unwrap())] };
            facts.push((1, IfaceFacts { name: "wg0".into(), index: 7, up, addrs, ..Default::default() }));
        }
        Topology::from_facts(facts, &Overrides::default())
    }

    #[test]
    fn families_from_addresses_routes_and_messages() {
        let mut e = TunnelEvidence::default();
        let t = topo(Some(("198.51.100.2", true)));
        e.topology_changed(&t, Ts(0));
        assert_eq!(e.carried(&t, &[]), Families::new(true, false));
        let ll = topo(Some(("fe80::1", true)));
        let nothing = e.carried(&ll, &[]);
        assert!(!nothing.known && !nothing.shows_outside(Family::V6), "link-local alone shows nothing");
        let routes = [LinkRoutes { ifindex: 7, iface: "wg0".into(), v6: true, ..Default::default() }];
        assert_eq!(e.carried(&ll, &routes), Families::new(false, true));
        let eth_only = [LinkRoutes { ifindex: 2, iface: "eth0".into(), v4: true, ..Default::default() }];
        assert!(e.carried(&ll, &eth_only).shows_outside(Family::V4), "live: routes read, none by the tunnel");
        let bare = topo(Some(("", true)));
        e.topology_changed(&bare, Ts(0));
        e.seen_on_tunnel(1, Family::V6);
        assert_eq!(e.carried(&bare, &[]), Families::new(false, true), "replay: seen on the tunnel");
    }

    #[test]
    fn an_outage_opens_when_the_last_tunnel_goes_and_closes_when_one_is_back() {
        let mut e = TunnelEvidence::default();
        e.topology_changed(&topo(None), Ts(0));
        assert!(e.outage().is_none(), "no tunnel ever: no outage");
        e.topology_changed(&topo(Some(("198.51.100.2", true))), Ts(1));
        e.seen_on_tunnel(1, Family::V4);
        e.topology_changed(&topo(Some(("198.51.100.2", false))), Ts::from_millis(5000));
        let o = e.outage().unwrap();
        assert_eq!((o.tunnel.as_str(), o.since), ("wg0", Ts::from_millis(5000)));
        e.exposed();
        e.exposed();
        assert_eq!(e.outage().unwrap().exposed, 2);
        assert!(!e.carried(&topo(Some(("", true))), &[]).known, "forgotten while down");
        e.topology_changed(&topo(Some(("198.51.100.2", true))), Ts::from_millis(9000));
        assert!(e.outage().is_none());
    }
}

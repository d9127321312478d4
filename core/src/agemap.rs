//! An age-ordered hash map: every table that evicts or expires by age (fragments, TCP
//! streams, encrypted flows, the tracker's names and hijack pairs) keeps its entries in one.
//!
//! Each entry sits in the hash map and in one of `N` doubly linked lists (intrusive, over a
//! slab of nodes), oldest first. Moving an entry to the young end of a list, taking the
//! oldest entry of a list and removing any entry are O(1); nothing ever walks the table, so a
//! flood that fills it costs the same per packet as a table with one entry.
//!
//! The lists let a table keep kinds of entries apart (for example TCP streams that buffer
//! bytes and those that do not) and evict from the kind it prefers; every node also carries a
//! stamp of when it last went to the young end, so the oldest entry over several lists can be
//! found from their heads ([`AgeMap::oldest_of`]).
//!
//! ```
//! use dnsleak_core::agemap::AgeMap;
//! let mut m: AgeMap<u32, &str> = AgeMap::new();
//! m.insert(1, "first", 0);
//! m.insert(2, "second", 0);
//! m.touch(&1, 0); // 1 is now the youngest
//! assert_eq!(m.pop_oldest(0), Some((2, "second")));
//! ```

use std::collections::hash_map::{Entry, HashMap};
use std::hash::{BuildHasher, Hash};

/// "No node" in the links.
const NIL: usize = usize::MAX;

/// Where an entry lives in the slab, valid until the entry is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(usize);

#[derive(Debug)]
struct Node<K, V> {
    /// `None` while the node is free.
    entry: Option<(K, V)>,
    prev: usize,
    /// Next node of the same list; for a free node, the next free node.
    next: usize,
    list: usize,
    stamp: u64,
}

#[derive(Debug, Clone, Copy)]
struct Ends {
    oldest: usize,
    youngest: usize,
    len: usize,
}

const EMPTY: Ends = Ends { oldest: NIL, youngest: NIL, len: 0 };

/// A hash map whose entries are ordered by age in `N` lists. See the module notes.
#[derive(Debug)]
pub struct AgeMap<K, V, const N: usize = 1, S = foldhash::fast::RandomState> {
    index: HashMap<K, usize, S>,
    nodes: Vec<Node<K, V>>,
    free: usize,
    lists: [Ends; N],
    stamp: u64,
}

impl<K, V, const N: usize, S: Default> Default for AgeMap<K, V, N, S> {
    fn default() -> Self {
        AgeMap { index: HashMap::default(), nodes: Vec::new(), free: NIL, lists: [EMPTY; N], stamp: 0 }
    }
}

impl<K: Hash + Eq + Clone, V, const N: usize, S: BuildHasher + Default> AgeMap<K, V, N, S> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries in all lists.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Entries in list `list`.
    pub fn list_len(&self, list: usize) -> usize {
        self.lists[list].len
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.index.contains_key(key)
    }

    /// The slot of `key`, for [`AgeMap::value_mut`] and [`AgeMap::move_to`] without a second
    /// lookup.
    pub fn find(&self, key: &K) -> Option<Slot> {
        self.index.get(key).map(|&i| Slot(i))
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.find(key).and_then(|s| self.value(s))
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.find(key).and_then(|s| self.value_mut(s))
    }

    pub fn value(&self, slot: Slot) -> Option<&V> {
        self.nodes.get(slot.0)?.entry.as_ref().map(|(_, v)| v)
    }

    pub fn value_mut(&mut self, slot: Slot) -> Option<&mut V> {
        self.nodes.get_mut(slot.0)?.entry.as_mut().map(|(_, v)| v)
    }

    /// The list the entry at `slot` is in.
    pub fn list_of(&self, slot: Slot) -> usize {
        self.nodes[slot.0].list
    }

    /// Inserts `key` as the youngest entry of `list`. An entry already there under `key` gets
    /// the new value and moves; its old value is returned.
    pub fn insert(&mut self, key: K, value: V, list: usize) -> Option<V> {
        self.insert_at(key, value, list).1
    }

    /// [`AgeMap::insert`], also telling where the entry went: one hash lookup either way.
    pub fn insert_at(&mut self, key: K, value: V, list: usize) -> (Slot, Option<V>) {
        let at = match self.index.entry(key) {
            Entry::Occupied(e) => {
                let at = *e.get();
                let old = self.nodes[at].entry.as_mut().map(|(_, v)| std::mem::replace(v, value));
                self.move_to(Slot(at), list);
                return (Slot(at), old);
            }
            Entry::Vacant(e) => {
                let node =
                    Node { entry: Some((e.key().clone(), value)), prev: NIL, next: NIL, list, stamp: 0 };
                let at = if self.free == NIL {
                    self.nodes.push(node);
                    self.nodes.len() - 1
                } else {
                    let at = self.free;
                    self.free = self.nodes[at].next;
                    self.nodes[at] = node;
                    at
                };
                e.insert(at);
                at
            }
        };
        self.push_young(at, list);
        (Slot(at), None)
    }

    /// Moves `key` to the young end of `list`; returns its value.
    pub fn touch(&mut self, key: &K, list: usize) -> Option<&mut V> {
        let slot = self.find(key)?;
        self.move_to(slot, list);
        self.value_mut(slot)
    }

    /// Moves the entry at `slot` to the young end of `list` (its own list or another).
    pub fn move_to(&mut self, slot: Slot, list: usize) {
        if self.nodes.get(slot.0).is_none_or(|n| n.entry.is_none()) {
            return;
        }
        self.unlink(slot.0);
        self.push_young(slot.0, list);
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let at = self.index.remove(key)?;
        self.unlink(at);
        self.release(at).map(|(_, v)| v)
    }

    /// The oldest entry of `list`.
    pub fn oldest(&self, list: usize) -> Option<(&K, &V)> {
        let at = self.lists[list].oldest;
        self.nodes.get(at)?.entry.as_ref().map(|(k, v)| (k, v))
    }

    /// Takes the oldest entry of `list` out.
    pub fn pop_oldest(&mut self, list: usize) -> Option<(K, V)> {
        let at = self.lists[list].oldest;
        let key = self.nodes.get(at)?.entry.as_ref()?.0.clone();
        self.index.remove(&key);
        self.unlink(at);
        self.release(at)
    }

    /// Of the lists in `lists`, the one whose oldest entry went to its young end first.
    pub fn oldest_of(&self, lists: &[usize]) -> Option<usize> {
        lists
            .iter()
            .copied()
            .filter_map(|l| self.nodes.get(self.lists[l].oldest).map(|n| (n.stamp, l)))
            .min()
            .map(|(_, l)| l)
    }

    /// Forgets every entry (keeping the memory for reuse).
    pub fn clear(&mut self) {
        self.index.clear();
        self.nodes.clear();
        self.free = NIL;
        self.lists = [EMPTY; N];
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.nodes.iter().filter_map(|n| n.entry.as_ref().map(|(k, v)| (k, v)))
    }

    /// The entries of `list`, oldest first.
    pub fn iter_list(&self, list: usize) -> impl Iterator<Item = (&K, &V)> {
        let mut at = self.lists[list].oldest;
        std::iter::from_fn(move || {
            let n = self.nodes.get(at)?;
            at = n.next;
            n.entry.as_ref().map(|(k, v)| (k, v))
        })
    }

    fn push_young(&mut self, at: usize, list: usize) {
        self.stamp += 1;
        let ends = &mut self.lists[list];
        let old_young = ends.youngest;
        {
            let n = &mut self.nodes[at];
            n.list = list;
            n.stamp = self.stamp;
            n.prev = old_young;
            n.next = NIL;
        }
        match old_young {
            NIL => ends.oldest = at,
            y => self.nodes[y].next = at,
        }
        ends.youngest = at;
        ends.len += 1;
    }

    fn unlink(&mut self, at: usize) {
        let (prev, next, list) = {
            let n = &self.nodes[at];
            (n.prev, n.next, n.list)
        };
        let ends = &mut self.lists[list];
        match prev {
            NIL => ends.oldest = next,
            p => self.nodes[p].next = next,
        }
        match next {
            NIL => ends.youngest = prev,
            n => self.nodes[n].prev = prev,
        }
        ends.len -= 1;
    }

    fn release(&mut self, at: usize) -> Option<(K, V)> {
        let n = &mut self.nodes[at];
        let entry = n.entry.take();
        n.prev = NIL;
        n.next = self.free;
        self.free = at;
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    type Map = AgeMap<u16, u32, 2>;

    fn keys(m: &Map, list: usize) -> Vec<u16> {
        m.iter_list(list).map(|(k, _)| *k).collect()
    }

    #[test]
    fn lists_keep_age_order_through_touch_move_and_remove() {
        let mut m = Map::new();
        for k in 1..=4 {
            m.insert(k, u32::from(k) * 10, 0);
        }
        m.touch(&2, 0);
        assert_eq!(keys(&m, 0), [1, 3, 4, 2]);
        m.touch(&3, 1);
        assert_eq!((keys(&m, 0), keys(&m, 1)), (vec![1, 4, 2], vec![3]));
        assert_eq!(m.remove(&4), Some(40));
        assert_eq!(m.oldest_of(&[0, 1]), Some(0), "1 went to its list's young end before 3");
        assert_eq!(m.pop_oldest(0), Some((1, 10)));
        assert_eq!(m.oldest_of(&[0, 1]), Some(0), "2 was touched before 3 moved");
        assert_eq!(m.insert(5, 50, 1), None);
        assert_eq!(m.insert(5, 51, 1), Some(50), "a key inserted again keeps one entry");
        assert_eq!((m.len(), m.list_len(0), m.list_len(1)), (3, 1, 2));
        assert_eq!(m.get(&5), Some(&51));
    }

    #[test]
    fn freed_nodes_are_reused() {
        let mut m: AgeMap<u32, u32> = AgeMap::new();
        for k in 0..10_000u32 {
            m.insert(k, k, 0);
            if m.len() > 8 {
                m.pop_oldest(0);
            }
        }
        assert_eq!(m.len(), 8);
        assert!(m.nodes.len() <= 9, "{} nodes for 8 entries", m.nodes.len());
        assert_eq!(m.iter_list(0).map(|(k, _)| *k).collect::<Vec<_>>(), (9_992..10_000).collect::<Vec<_>>());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, usize),
        Touch(u16, usize),
        Remove(u16),
        Pop(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let key = 0u16..24;
        let list = 0usize..2;
        prop_oneof![
            (key.clone(), list.clone()).prop_map(|(k, l)| Op::Insert(k, l)),
            (key.clone(), list.clone()).prop_map(|(k, l)| Op::Touch(k, l)),
            key.prop_map(Op::Remove),
            list.prop_map(Op::Pop),
        ]
    }

    proptest! {
        /// The map does what two plain queues of keys do, operation by operation.
        #[test]
        fn behaves_like_queues(ops in proptest::collection::vec(op(), 0..200)) {
            let mut m = Map::new();
            let mut model: [VecDeque<(u16, u32)>; 2] = [VecDeque::new(), VecDeque::new()];
            let take = |model: &mut [VecDeque<(u16, u32)>; 2], k: u16| {
                model.iter_mut().find_map(|q| q.iter().position(|e| e.0 == k).and_then(|p| q.remove(p)))
            };
            for (n, op) in ops.into_iter().enumerate() {
                let v = n as u32;
                match op {
                    Op::Insert(k, l) => {
                        let old = take(&mut model, k).map(|e| e.1);
                        model[l].push_back((k, v));
                        prop_assert_eq!(m.insert(k, v, l), old);
                    }
                    Op::Touch(k, l) => {
                        let found = take(&mut model, k);
                        if let Some(e) = found {
                            model[l].push_back(e);
                        }
                        prop_assert_eq!(m.touch(&k, l).copied(), found.map(|e| e.1));
                    }
                    Op::Remove(k) => prop_assert_eq!(m.remove(&k), take(&mut model, k).map(|e| e.1)),
                    Op::Pop(l) => prop_assert_eq!(m.pop_oldest(l), model[l].pop_front()),
                }
                for (l, q) in model.iter().enumerate() {
                    let got: Vec<(u16, u32)> = m.iter_list(l).map(|(k, v)| (*k, *v)).collect();
                    prop_assert_eq!(got, q.iter().copied().collect::<Vec<_>>());
                    prop_assert_eq!(m.list_len(l), q.len());
                }
                prop_assert_eq!(m.len(), model[0].len() + model[1].len());
            }
        }
    }
}

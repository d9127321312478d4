//! The leaked-names sketch of the report: Space-Saving heavy hitters, bounded memory.

use super::NameCount;

/// Space-Saving heavy hitters (Metwally et al.) with `capacity` counters, in O(log capacity)
/// per update and memory that never grows past the capacity.
///
/// Counters are kept sorted by count, largest first, in one array (`counts`, with `order` and
/// `pos` mapping positions and slots). Counts only ever grow by one, so an increment swaps
/// the counter with the first one of its run of equal counts (found by binary search) and the
/// array stays sorted; the smallest counter, the one Space-Saving replaces, is always last,
/// and a new counter (count 0) is appended.
/// Unlike a binary heap, replacing the minimum does not sift through every level of ties.
/// The name index holds slot numbers and compares through the slots' own names, so a name is
/// hashed once per update and stored once; an evicted slot's name buffer is reused.
#[derive(Debug, Clone)]
pub(super) struct SpaceSaving {
    capacity: usize,
    hasher: foldhash::fast::RandomState,
    index: hashbrown::HashTable<u32>,
    names: Vec<String>,
    /// Hash of each slot's name, to find its index entry when it is evicted.
    hashes: Vec<u64>,
    errors: Vec<u64>,
    /// Counts, largest first; `order[i]` is the slot at position `i`, `pos[slot]` its position.
    counts: Vec<u64>,
    order: Vec<u32>,
    pos: Vec<u32>,
    /// A name was evicted at least once (counts are estimates from then on).
    pub(super) saturated: bool,
}

impl SpaceSaving {
    pub(super) fn new(capacity: usize) -> Self {
        SpaceSaving {
            capacity: capacity.clamp(1, u32::MAX as usize),
            hasher: foldhash::fast::RandomState::default(),
            index: hashbrown::HashTable::new(),
            names: Vec::new(),
            hashes: Vec::new(),
            errors: Vec::new(),
            counts: Vec::new(),
            order: Vec::new(),
            pos: Vec::new(),
            saturated: false,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.names.len()
    }

    pub(super) fn add(&mut self, name: &str) {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(name);
        let names = &self.names;
        if let Some(&slot) = self.index.find(hash, |&s| names[s as usize] == name) {
            self.increment(self.pos[slot as usize] as usize);
            return;
        }
        let slot = if self.names.len() < self.capacity {
            // A new counter at count 0 goes last, then is incremented like any other.
            let slot = self.names.len() as u32;
            self.names.push(name.to_string());
            self.hashes.push(hash);
            self.errors.push(0);
            self.pos.push(self.counts.len() as u32);
            self.counts.push(0);
            self.order.push(slot);
            slot
        } else {
            // Replace the smallest counter: the newcomer inherits its count as error.
            self.saturated = true;
            let last = self.counts.len() - 1;
            let slot = self.order[last];
            let old = self.hashes[slot as usize];
            if let Ok(entry) = self.index.find_entry(old, |&s| s == slot) {
                entry.remove();
            }
            let s = slot as usize;
            self.names[s].clear();
            self.names[s].push_str(name);
            self.hashes[s] = hash;
            self.errors[s] = self.counts[last];
            slot
        };
        let hasher = &self.hasher;
        let names = &self.names;
        self.index.insert_unique(hash, slot, |&s| hasher.hash_one(&*names[s as usize]));
        self.increment(self.pos[slot as usize] as usize);
    }

    /// Adds one to the counter at position `at`, keeping `counts` sorted.
    fn increment(&mut self, at: usize) {
        let c = self.counts[at];
        // The first position holding count `c`: it, plus one, stays sorted.
        let first = self.counts[..at].partition_point(|&x| x > c);
        if first != at {
            self.counts.swap(at, first);
            self.order.swap(at, first);
            self.pos[self.order[at] as usize] = at as u32;
            self.pos[self.order[first] as usize] = first as u32;
        }
        self.counts[first] += 1;
    }

    pub(super) fn top(&self, n: usize) -> Vec<NameCount> {
        let mut v: Vec<(usize, u64)> =
            self.order.iter().zip(&self.counts).map(|(&s, &c)| (s as usize, c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| self.names[a.0].cmp(&self.names[b.0])));
        v.into_iter()
            .take(n)
            .map(|(s, count)| NameCount { name: self.names[s].as_str().into(), count, error: self.errors[s] })
            .collect()
    }
}

impl SpaceSaving {
    /// Every counter, largest first: its name, count and error.
    pub(super) fn entries(&self) -> impl Iterator<Item = (&str, u64, u64)> {
        self.order
            .iter()
            .zip(&self.counts)
            .map(|(&s, &c)| (self.names[s as usize].as_str(), c, self.errors[s as usize]))
    }

    /// `name` seen `count` more times, with `error` of its own (a weighted Space-Saving update).
    pub(super) fn add_weighted(&mut self, name: &str, count: u64, error: u64) {
        if count == 0 {
            return;
        }
        // The first of the `count` is an ordinary update (a new counter, or the smallest one
        // replaced); the rest raise that counter.
        self.add(name);
        let slot = self.slot_of(name).expect("a name just added has a counter");
        let at = self.pos[slot] as usize;
        self.errors[slot] += error;
        self.raise(at, count - 1);
    }

    fn slot_of(&self, name: &str) -> Option<usize> {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(name);
        self.index.find(hash, |&s| self.names[s as usize] == name).map(|&s| s as usize)
    }

    /// Adds `by` to the counter at position `at`, moving it ahead of the counters it passes.
    fn raise(&mut self, at: usize, by: u64) {
        if by == 0 {
            return;
        }
        let new = self.counts[at] + by;
        // The first position whose count is below the new one (as `increment`, ties keep
        // their order).
        let to = self.counts[..at].partition_point(|&x| x >= new);
        self.counts[to..=at].rotate_right(1);
        self.order[to..=at].rotate_right(1);
        self.counts[to] = new;
        for p in to..=at {
            self.pos[self.order[p] as usize] = p as u32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_updates_match_single_updates_below_capacity() {
        let mut one = SpaceSaving::new(16);
        let mut weighted = SpaceSaving::new(16);
        for (name, n) in [("a", 5u64), ("b", 3), ("c", 7), ("a", 2)] {
            for _ in 0..n {
                one.add(name);
            }
            weighted.add_weighted(name, n, 0);
        }
        assert_eq!(one.top(10), weighted.top(10));
        assert!(weighted.counts.is_sorted_by(|a, b| a >= b));
        for (slot, &p) in weighted.pos.iter().enumerate() {
            assert_eq!(weighted.order[p as usize] as usize, slot);
        }
    }

    #[test]
    fn space_saving_is_exact_below_capacity() {
        let mut s = SpaceSaving::new(8);
        for (name, n) in [("a", 5), ("b", 3), ("c", 7)] {
            for _ in 0..n {
                s.add(name);
            }
        }
        let top = s.top(2);
        assert_eq!(top[0], NameCount { name: "c".into(), count: 7, error: 0 });
        assert_eq!(top[1], NameCount { name: "a".into(), count: 5, error: 0 });
        assert!(!s.saturated);
    }

    #[test]
    fn space_saving_keeps_heavy_hitters_among_many_distinct_names() {
        let mut s = SpaceSaving::new(64);
        for i in 0..100_000u32 {
            s.add(&format!("noise{i}"));
            if i % 10 == 0 {
                s.add("heavy.example");
            }
            if i % 20 == 0 {
                s.add("second.example");
            }
        }
        assert_eq!(s.len(), 64, "memory bounded by the capacity");
        let top = s.top(2);
        assert_eq!(&*top[0].name, "heavy.example");
        assert_eq!(&*top[1].name, "second.example");
        // Space-Saving never underestimates: the true count is within [count - error, count].
        assert!(top[0].count >= 10_000 && top[0].count - top[0].error <= 10_000);
        assert_eq!(s.index.len(), 64);
        for (slot, &p) in s.pos.iter().enumerate() {
            assert_eq!(s.order[p as usize] as usize, slot);
        }
        assert!(s.counts.is_sorted_by(|a, b| a >= b), "counters stay sorted");
    }
}

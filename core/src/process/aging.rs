//! A map that forgets by trace time, for the process table's sockets, recorded senders and
//! local asks.

use foldhash::HashMap;

use crate::frame::Ts;

/// A map that forgets by trace time in two generations: an entry lives between `span` and
/// `2 * span` after its last use; at most `cap` entries per generation (a full new generation
/// ages early, and what the old one held is counted as evicted).
#[derive(Debug)]
pub(super) struct Aging<K, V> {
    pub(super) new: HashMap<K, V>,
    old: HashMap<K, V>,
    rotated: Option<Ts>,
    span: u64,
    cap: usize,
    pub(super) expired: u64,
    pub(super) evicted: u64,
}

impl<K: std::hash::Hash + Eq, V> Aging<K, V> {
    pub(super) fn new(span: u64, cap: usize) -> Self {
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

    pub(super) fn tick(&mut self, now: Ts) {
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

    pub(super) fn rotate_early(&mut self, now: Ts) {
        self.evicted += self.old.len() as u64;
        std::mem::swap(&mut self.old, &mut self.new);
        self.new.clear();
        self.rotated = Some(now);
    }

    pub(super) fn insert(&mut self, key: K, value: V, now: Ts) {
        self.tick(now);
        self.old.remove(&key);
        if self.new.len() >= self.cap && !self.new.contains_key(&key) {
            self.rotate_early(now);
        }
        self.new.insert(key, value);
    }

    /// The entry for `key`, refreshed (moved to the new generation) when found.
    pub(super) fn get(&mut self, key: &K, now: Ts) -> Option<&V>
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

    pub(super) fn len(&self) -> usize {
        self.new.len() + self.old.len()
    }
}

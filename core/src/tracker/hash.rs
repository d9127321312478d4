//! The keyed hashing the tracker's tables share: a query's pairing key hashed once per message
//! from a keyed hash of its name, and a hasher that passes that hash through.

use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::IpAddr;

use super::Tracker;
use crate::event::{Transport, L4};
use crate::topology::IfaceId;

/// What a query and its response share. Hashed as one packed byte string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PairKey {
    /// Hash of all the fields below, computed once per message (see `PairKey::seal`); first,
    /// so that comparing two keys stops at once when they differ.
    pub(super) hash: u64,
    pub(super) iface: IfaceId,
    pub(super) transport: Transport,
    pub(super) proto: L4,
    pub(super) client: IpAddr,
    pub(super) client_port: u16,
    pub(super) server_port: u16,
    pub(super) id: u16,
    pub(super) qtype: u16,
    pub(super) qclass: u16,
    /// Keyed hash of the lower-cased question name.
    pub(super) name: u64,
}

impl PairKey {
    /// Computes `hash`: the fields folded into the name's keyed hash with a keyed multiply-fold
    /// (as foldhash does), so the table's hash is computed once per message and still cannot be
    /// predicted from the wire (the name's hash is keyed SipHash).
    ///
    /// The fields are packed into five words with shifts (a byte buffer written field by field
    /// and read back as words stalled store forwarding: 8% of the pipeline's time).
    pub(super) fn seal(mut self, (seed, mul): (u64, u64)) -> Self {
        let (client, v6) = match self.client {
            IpAddr::V4(a) => (u128::from(a.to_bits()), 0u64),
            IpAddr::V6(a) => (a.to_bits(), 1),
        };
        let words = [
            u64::from(self.iface) | (self.transport as u64) << 32 | (self.proto as u64) << 40 | v6 << 48,
            client as u64,
            (client >> 64) as u64,
            u64::from(self.client_port)
                | u64::from(self.server_port) << 16
                | u64::from(self.id) << 32
                | u64::from(self.qtype) << 48,
            u64::from(self.qclass),
        ];
        let mut h = self.name ^ seed;
        for w in words {
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
pub(super) fn ascii_lower8(w: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low = w & LOW7;
    let at_least_a = low + 0x3f3f_3f3f_3f3f_3f3f; // bit 7 set where the byte is >= b'A'
    let beyond_z = low + 0x2525_2525_2525_2525; // bit 7 set where the byte is > b'Z'
    let upper = at_least_a & !beyond_z & !w & HIGH;
    w | (upper >> 2)
}

pub(crate) fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// The hasher of tables whose keys carry their own seeded hash: it passes that hash through.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PassThrough(u64);

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

pub(crate) type Prehashed = BuildHasherDefault<PassThrough>;

impl Tracker {
    /// Seeded hash of the lower-cased name (see [`lower_name_hash`]).
    pub(super) fn name_hash(&self, name: &str) -> u64 {
        lower_name_hash(self.seeds, name.as_bytes())
    }
}

/// Seeded hash of a lower-cased name, eight bytes at a time (a multiply-fold as in foldhash;
/// the seeds are random per pipeline (`Config::seeds`), the second odd, so collisions cannot
/// be planned from the wire). The tracker's names and pairing keys and the causes' recent
/// names key their tables with it, computed once per message.
pub(crate) fn lower_name_hash((seed, mul): (u64, u64), bytes: &[u8]) -> u64 {
    let mut h = seed ^ (bytes.len() as u64);
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

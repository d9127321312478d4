//! QUIC Initial packets: enough of RFC 9000 / 9001 / 9369 to read the client's TLS ClientHello.
//!
//! A client's first packets are Initial packets whose keys derive from the Destination
//! Connection ID it chose (RFC 9001 5.2): anyone on the path can remove their protection. This
//! module parses long headers (version 1, version 2 and drafts 29 to 34), derives the client's
//! Initial keys (RustCrypto's HKDF-SHA256, AES-128 and AES-128-GCM: no cipher here is written by
//! hand), removes header protection, decrypts, walks the frames an Initial packet may carry
//! (PADDING, PING, ACK, CRYPTO, CONNECTION_CLOSE) and reassembles the CRYPTO stream, which may
//! span several packets and datagrams and arrive out of order, into the ClientHello.
//!
//! Everything is bounded: a connection's CRYPTO buffer holds at most `MAX_HELLO_BYTES`, in at
//! most `MAX_RANGES` pieces; anything past that gives up (the caller counts it).

use aes::cipher::{generic_array::GenericArray, BlockEncrypt};
use aes::Aes128;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::Aes128Gcm;
use hkdf::Hkdf;
use sha2::Sha256;

use super::tls::{client_hello_info, HelloInfo};

/// QUIC version 1 (RFC 9000).
pub const V1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
pub const V2: u32 = 0x6b33_43cf;
/// The first and last IETF drafts read (draft-29 to draft-34).
const DRAFT_FIRST: u32 = 0xff00_001d;
const DRAFT_LAST: u32 = 0xff00_0022;

/// A client's datagram that carries an Initial packet is at least this long (RFC 9000 14.1).
pub const MIN_CLIENT_DATAGRAM: usize = 1200;
/// Longest ClientHello reassembled (one TLS handshake message; a hello with post-quantum key
/// shares is about 2 KB).
pub const MAX_HELLO_BYTES: usize = 16 * 1024;
/// Most separate pieces of CRYPTO data held before the hello is whole.
const MAX_RANGES: usize = 32;
/// Longest connection ID (RFC 9000 17.2).
const MAX_CID: usize = 20;
/// AEAD tag, and the header-protection sample, in bytes.
const TAG: usize = 16;
const SAMPLE: usize = 16;

const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc,
    0xbb, 0x7f, 0x0a,
];
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9,
    0xbd, 0x2e, 0xd9,
];
/// Drafts 29 to 32 (drafts 33 and 34 use version 1's salt).
const SALT_DRAFT_29: [u8; 20] = [
    0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43,
    0x90, 0xa8, 0x99,
];

/// What differs between the versions read: the salt, the labels and the Initial type bits.
#[derive(Debug, Clone, Copy)]
struct Flavour {
    salt: &'static [u8; 20],
    key: &'static [u8],
    iv: &'static [u8],
    hp: &'static [u8],
    initial_type: u8,
}

fn flavour(version: u32) -> Option<Flavour> {
    let v1 = |salt| Flavour { salt, key: b"quic key", iv: b"quic iv", hp: b"quic hp", initial_type: 0 };
    match version {
        V1 | 0xff00_0021 | DRAFT_LAST => Some(v1(&SALT_V1)),
        DRAFT_FIRST..=0xff00_0020 => Some(v1(&SALT_DRAFT_29)),
        V2 => Some(Flavour {
            salt: &SALT_V2,
            key: b"quicv2 key",
            iv: b"quicv2 iv",
            hp: b"quicv2 hp",
            initial_type: 1,
        }),
        _ => None,
    }
}

/// Whether a UDP payload starts with a QUIC long header of a version this module reads
/// (cheap: five bytes). Version negotiation, gQUIC and short headers are not.
pub fn is_long_header(payload: &[u8]) -> bool {
    match payload {
        [first, v0, v1, v2, v3, ..] => {
            first & 0x80 != 0 && flavour(u32::from_be_bytes([*v0, *v1, *v2, *v3])).is_some()
        }
        _ => false,
    }
}

/// One Initial packet inside a datagram, header parsed, still protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Initial<'a> {
    pub version: u32,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    /// The whole packet, header first.
    packet: &'a [u8],
    /// Where the (protected) packet number starts in `packet`.
    pn_offset: usize,
}

/// Reads a QUIC variable-length integer (RFC 9000 16) at the start of `b`.
pub fn varint(b: &[u8]) -> Option<(u64, &[u8])> {
    let first = *b.first()?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(..len)?;
    let mut v = u64::from(first & 0x3f);
    for x in &bytes[1..] {
        v = (v << 8) | u64::from(*x);
    }
    Some((v, &b[len..]))
}

/// The Initial packets of one datagram, coalesced packets included (Handshake and 0-RTT
/// packets between them are skipped; a short-header packet ends the datagram).
pub fn initials(datagram: &[u8]) -> impl Iterator<Item = Initial<'_>> {
    let mut rest = datagram;
    std::iter::from_fn(move || loop {
        let (packet, next) = split_long(rest)?;
        rest = next;
        if let Some(p) = packet {
            return Some(p);
        }
    })
}

/// The long-header packet at the start of `b`: `Some(initial)` when it is an Initial, `None`
/// for another type; and what follows it. `None` overall when no packet can be read.
#[allow(clippy::type_complexity)]
fn split_long(b: &[u8]) -> Option<(Option<Initial<'_>>, &[u8])> {
    let first = *b.first()?;
    if first & 0x80 == 0 {
        return None;
    }
    let version = u32::from_be_bytes(b.get(1..5)?.try_into().ok()?);
    let fl = flavour(version)?;
    let dcid_len = usize::from(*b.get(5)?);
    if dcid_len > MAX_CID {
        return None;
    }
    let dcid = b.get(6..6 + dcid_len)?;
    let at = 6 + dcid_len;
    let scid_len = usize::from(*b.get(at)?);
    if scid_len > MAX_CID {
        return None;
    }
    let scid = b.get(at + 1..at + 1 + scid_len)?;
    let mut rest = &b[at + 1 + scid_len..];
    let ty = (first >> 4) & 3;
    let retry = if fl.initial_type == 0 { 3 } else { 0 };
    if ty == retry {
        return None; // a Retry has no length: nothing after it can be read
    }
    if ty == fl.initial_type {
        let (token_len, r) = varint(rest)?;
        rest = r.get(usize::try_from(token_len).ok()?..)?;
    }
    let (len, r) = varint(rest)?;
    let pn_offset = b.len() - r.len();
    let end = pn_offset.checked_add(usize::try_from(len).ok()?)?;
    let packet = b.get(..end)?;
    let initial = (ty == fl.initial_type).then_some(Initial { version, dcid, scid, packet, pn_offset });
    Some((initial, &b[end..]))
}

/// The client's Initial keys for one version and Destination Connection ID.
pub struct Keys {
    version: u32,
    dcid: smallvec::SmallVec<[u8; MAX_CID]>,
    aead: Aes128Gcm,
    iv: [u8; 12],
    hp: Aes128,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("version", &self.version).field("dcid", &self.dcid).finish()
    }
}

impl Keys {
    /// Derives the client's Initial keys (RFC 9001 5.2, RFC 9369 3.3); `None` for a version
    /// this module does not read.
    pub fn client(version: u32, dcid: &[u8]) -> Option<Keys> {
        let fl = flavour(version)?;
        let (_, initial) = Hkdf::<Sha256>::extract(Some(fl.salt), dcid);
        let mut secret = [0u8; 32];
        expand_label(&initial, b"client in", &mut secret)?;
        let hk = Hkdf::<Sha256>::from_prk(&secret).ok()?;
        let (mut key, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
        expand_label(&hk, fl.key, &mut key)?;
        expand_label(&hk, fl.iv, &mut iv)?;
        expand_label(&hk, fl.hp, &mut hp)?;
        Some(Keys {
            version,
            dcid: dcid.into(),
            aead: Aes128Gcm::new_from_slice(&key).ok()?,
            iv,
            hp: Aes128::new_from_slice(&hp).ok()?,
        })
    }

    /// Whether these keys are the ones for `p`.
    pub fn fit(&self, p: &Initial<'_>) -> bool {
        self.version == p.version && self.dcid.as_slice() == p.dcid
    }

    /// Removes header protection and decrypts `p` into `buf` (cleared first); on success `buf`
    /// holds the frames and the packet number is returned. `None` when the packet is not the
    /// client's (another key) or is damaged.
    pub fn open(&self, p: &Initial<'_>, buf: &mut Vec<u8>) -> Option<u64> {
        let sample = p.packet.get(p.pn_offset + 4..p.pn_offset + 4 + SAMPLE)?;
        let mut mask = GenericArray::clone_from_slice(sample);
        self.hp.encrypt_block(&mut mask);
        buf.clear();
        buf.extend_from_slice(p.packet);
        buf[0] ^= mask[0] & 0x0f;
        let pn_len = usize::from(buf[0] & 3) + 1;
        let mut pn = 0u64;
        for i in 0..pn_len {
            buf[p.pn_offset + i] ^= mask[1 + i];
            pn = (pn << 8) | u64::from(buf[p.pn_offset + i]);
        }
        let header_len = p.pn_offset + pn_len;
        if buf.len() < header_len + TAG {
            return None;
        }
        // The first packets of a connection are numbered from 0, so the truncated number is
        // the whole one.
        let mut nonce = self.iv;
        for (n, b) in nonce.iter_mut().rev().zip(pn.to_le_bytes()) {
            *n ^= b;
        }
        let (header, body) = buf.split_at_mut(header_len);
        let (ciphertext, tag) = body.split_at_mut(body.len() - TAG);
        let tag = GenericArray::clone_from_slice(tag);
        self.aead
            .decrypt_in_place_detached(GenericArray::from_slice(&nonce), header, ciphertext, &tag)
            .ok()?;
        let plain = header_len..buf.len() - TAG;
        buf.copy_within(plain.clone(), 0);
        buf.truncate(plain.len());
        Some(pn)
    }
}

/// HKDF-Expand-Label of TLS 1.3 (RFC 8446 7.1) with an empty context.
fn expand_label(hk: &Hkdf<Sha256>, label: &[u8], out: &mut [u8]) -> Option<()> {
    let mut info = [0u8; 2 + 1 + 6 + 16 + 1];
    let len = u16::try_from(out.len()).ok()?;
    info[..2].copy_from_slice(&len.to_be_bytes());
    info[2] = u8::try_from(6 + label.len()).ok()?;
    info[3..9].copy_from_slice(b"tls13 ");
    info.get_mut(9..9 + label.len())?.copy_from_slice(label);
    let n = 9 + label.len() + 1; // and a zero-length context
    hk.expand(&info[..n], out).ok()
}

/// Calls `crypto(offset, data)` for each CRYPTO frame in a decrypted Initial payload. Stops at
/// the first frame an Initial packet may not carry; false when the frames did not all parse.
pub fn crypto_frames(mut b: &[u8], mut crypto: impl FnMut(u64, &[u8])) -> bool {
    while let Some((ty, rest)) = varint(b) {
        b = match ty {
            0x00 | 0x01 => rest, // PADDING, PING
            0x02 | 0x03 => match skip_ack(rest, ty == 0x03) {
                Some(r) => r,
                None => return false,
            },
            0x06 => {
                let Some((offset, r)) = varint(rest) else { return false };
                let Some((len, r)) = varint(r) else { return false };
                let Some(data) = usize::try_from(len).ok().and_then(|l| r.get(..l)) else {
                    return false;
                };
                crypto(offset, data);
                &r[data.len()..]
            }
            0x1c => {
                // CONNECTION_CLOSE: code, frame type, reason.
                let Some(r) = varint(rest).and_then(|(_, r)| varint(r)).and_then(|(_, r)| varint(r)) else {
                    return false;
                };
                return r.0.try_into().ok().and_then(|l: usize| r.1.get(l..)).is_some();
            }
            _ => return false,
        };
    }
    true
}

/// Skips an ACK frame's body (RFC 9000 19.3).
fn skip_ack(b: &[u8], ecn: bool) -> Option<&[u8]> {
    let (_, b) = varint(b)?; // largest acknowledged
    let (_, b) = varint(b)?; // delay
    let (ranges, mut b) = varint(b)?;
    let (_, r) = varint(b)?; // first range
    b = r;
    // Each range is at least two bytes: a count beyond that is a lie.
    if ranges > b.len() as u64 {
        return None;
    }
    for _ in 0..ranges * 2 + if ecn { 3 } else { 0 } {
        b = varint(b)?.1;
    }
    Some(b)
}

/// What the CRYPTO stream of one connection says so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Not whole yet.
    Incomplete,
    /// The ClientHello, read.
    Hello(HelloInfo),
    /// Not a ClientHello, or one too long or too scattered to hold: give up.
    GiveUp,
}

/// The CRYPTO stream of one connection's Initial packets, reassembled from pieces in any order.
#[derive(Debug, Default)]
pub struct Crypto {
    buf: Vec<u8>,
    /// Received byte ranges, sorted and merged.
    ranges: smallvec::SmallVec<[(usize, usize); 4]>,
    overflow: bool,
}

impl Crypto {
    /// Bytes held.
    pub fn held(&self) -> usize {
        self.buf.capacity()
    }

    /// Adds one CRYPTO frame's data.
    pub fn add(&mut self, offset: u64, data: &[u8]) {
        let end = usize::try_from(offset).ok().and_then(|o| o.checked_add(data.len()));
        let Some(end) = end.filter(|e| *e <= MAX_HELLO_BYTES) else {
            self.overflow = true;
            return;
        };
        let start = end - data.len();
        if data.is_empty() {
            return;
        }
        if self.buf.len() < end {
            // Exactly what is needed: doubling would hold up to twice the cap.
            self.buf.reserve_exact(end - self.buf.len());
            self.buf.resize(end, 0);
        }
        self.buf[start..end].copy_from_slice(data);
        self.ranges.push((start, end));
        self.ranges.sort_unstable();
        let mut merged: smallvec::SmallVec<[(usize, usize); 4]> = smallvec::SmallVec::new();
        for &(s, e) in &self.ranges {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.ranges = merged;
        if self.ranges.len() > MAX_RANGES {
            self.overflow = true;
        }
    }

    /// Whether the ClientHello is whole, and what it says.
    pub fn progress(&self) -> Progress {
        if self.overflow {
            return Progress::GiveUp;
        }
        let have = match self.ranges.first() {
            Some(&(0, end)) => end,
            _ => return Progress::Incomplete,
        };
        let b = &self.buf[..have];
        if b.first().is_some_and(|t| *t != 1) {
            return Progress::GiveUp; // a CRYPTO stream that does not start with a ClientHello
        }
        let Some(len) = b.get(1..4).map(|l| u32::from_be_bytes([0, l[0], l[1], l[2]]) as usize) else {
            return Progress::Incomplete;
        };
        if 4 + len > MAX_HELLO_BYTES {
            return Progress::GiveUp;
        }
        match b.get(4..4 + len) {
            Some(body) => client_hello_info(body).map_or(Progress::GiveUp, Progress::Hello),
            None => Progress::Incomplete,
        }
    }
}

#[cfg(test)]
#[path = "quic_tests.rs"]
pub(crate) mod tests;

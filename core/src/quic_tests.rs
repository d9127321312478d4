//! Unit tests of QUIC Initial decryption and CRYPTO reassembly.
//!
//! Packets are sealed here with fixed keys for the Destination Connection ID 0x8394c8f03e515708:
//! version 1's are those RFC 9001 appendix A.1 publishes; version 2's key is RFC 9369 appendix
//! A.1's, and its IV and header-protection key were computed with Python's `cryptography`
//! (OpenSSL's HMAC-SHA256) and aioquic's labels. So the key derivation is checked against other
//! implementations, not against itself. Packets recorded from real clients are in
//! `quic_tests_real.rs`.

use super::*;
use aes_gcm::aead::AeadInPlace;

pub(crate) const RFC_DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

/// The client's Initial key, IV and header-protection key of a version, from the RFCs.
pub(crate) struct RfcKeys {
    pub version: u32,
    pub key: [u8; 16],
    pub iv: [u8; 12],
    pub hp: [u8; 16],
}

fn hex<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

pub(crate) fn rfc9001() -> RfcKeys {
    RfcKeys {
        version: V1,
        key: hex("1f369613dd76d5467730efcbe3b1a22d"),
        iv: hex("fa044b2f42a3fd3b46fb255c"),
        hp: hex("9f50449e04a0e810283a1e9933adedd2"),
    }
}

pub(crate) fn rfc9369() -> RfcKeys {
    RfcKeys {
        version: V2,
        key: hex("8b1a0bc121284290a29e0971b5cd045d"),
        iv: hex("91f73e2351d8fa91660e909f"),
        hp: hex("45b95e15235d6f45a6b19cbcb0294ba9"),
    }
}

/// A CRYPTO frame.
pub(crate) fn crypto_frame(offset: u64, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06];
    f.extend_from_slice(&(0x8000_0000u32 | offset as u32).to_be_bytes());
    f.extend_from_slice(&(0x4000u16 | data.len() as u16).to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// A protected client Initial packet carrying `frames`, padded with PADDING frames to `size`
/// bytes (at least), sealed with `k` as RFC 9001 5.3 and 5.4 say.
pub(crate) fn seal(k: &RfcKeys, dcid: &[u8], pn: u32, frames: &[u8], size: usize) -> Vec<u8> {
    let initial_type = if k.version == V2 { 1 } else { 0 };
    let mut p = vec![0xc3 | (initial_type << 4)];
    p.extend_from_slice(&k.version.to_be_bytes());
    p.push(dcid.len() as u8);
    p.extend_from_slice(dcid);
    p.extend_from_slice(&[0, 0]); // no source connection ID, no token
    let header_len = p.len() + 2 + 4;
    let body_len = frames.len().max(size.saturating_sub(header_len + TAG)).max(20);
    p.extend_from_slice(&(0x4000u16 | (4 + body_len + TAG) as u16).to_be_bytes());
    let pn_offset = p.len();
    p.extend_from_slice(&pn.to_be_bytes());
    let mut body = frames.to_vec();
    body.resize(body_len, 0);
    let mut nonce = k.iv;
    for (n, b) in nonce.iter_mut().rev().zip(u64::from(pn).to_le_bytes()) {
        *n ^= b;
    }
    let aead = Aes128Gcm::new_from_slice(&k.key).expect("key");
    let tag = aead.encrypt_in_place_detached(GenericArray::from_slice(&nonce), &p, &mut body).expect("seal");
    p.extend_from_slice(&body);
    p.extend_from_slice(&tag);
    let hp = Aes128::new_from_slice(&k.hp).expect("hp key");
    let mut mask = GenericArray::clone_from_slice(&p[pn_offset + 4..pn_offset + 20]);
    hp.encrypt_block(&mut mask);
    p[0] ^= mask[0] & 0x0f;
    for i in 0..4 {
        p[pn_offset + i] ^= mask[1 + i];
    }
    p
}

/// A server-name extension (type 0) naming `name`.
pub(crate) fn sni_extension(name: &str) -> Vec<u8> {
    let n = name.as_bytes();
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&((n.len() + 5) as u16).to_be_bytes());
    ext.extend_from_slice(&((n.len() + 3) as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(n.len() as u16).to_be_bytes());
    ext.extend_from_slice(n);
    ext
}

/// The body of a ClientHello handshake message (type and length first) with a server name and
/// ALPN protocols.
pub(crate) fn hello_message(sni: Option<&str>, alpn: &[&str], pad: usize) -> Vec<u8> {
    let mut ext = Vec::new();
    if let Some(name) = sni {
        ext.extend_from_slice(&sni_extension(name));
    }
    if !alpn.is_empty() {
        let list: Vec<u8> = alpn.iter().flat_map(|a| [&[a.len() as u8][..], a.as_bytes()].concat()).collect();
        ext.extend_from_slice(&[0, 16]);
        ext.extend_from_slice(&((list.len() + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(list.len() as u16).to_be_bytes());
        ext.extend_from_slice(&list);
    }
    // QUIC transport parameters (0x39), as real clients send them, then padding.
    ext.extend_from_slice(&[0, 0x39, 0, 3, 0x04, 0x01, 0x00]);
    ext.extend_from_slice(&[0, 21]);
    ext.extend_from_slice(&(pad as u16).to_be_bytes());
    ext.extend(std::iter::repeat_n(0u8, pad));
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    hs
}

fn open_one(version: u32, datagram: &[u8]) -> Vec<u8> {
    let p = initials(datagram).next().expect("an Initial packet");
    let keys = Keys::client(version, p.dcid).expect("keys");
    let mut buf = Vec::new();
    keys.open(&p, &mut buf).expect("decrypts");
    buf
}

fn reassemble(datagrams: &[Vec<u8>], version: u32) -> Progress {
    let mut c = Crypto::default();
    let mut buf = Vec::new();
    for d in datagrams {
        for p in initials(d) {
            let keys = Keys::client(version, p.dcid).expect("keys");
            keys.open(&p, &mut buf).expect("decrypts");
            assert!(crypto_frames(&buf, |o, data| c.add(o, data)));
        }
    }
    c.progress()
}

fn found(sni: &str, alpn: &[&str]) -> Progress {
    let mut a = super::super::tls::Alpn::default();
    for p in alpn {
        match *p {
            "doq" => a.doq = true,
            "h3" => a.h3 = true,
            _ => a.other = true,
        }
    }
    Progress::Hello(HelloInfo { sni: Some(sni.into()), ech: false, alpn: a })
}

#[test]
fn v1_keys_are_rfc_9001s() {
    let hello = hello_message(Some("dns.example"), &["doq"], 0);
    let d = seal(&rfc9001(), &RFC_DCID, 2, &crypto_frame(0, &hello), 1200);
    assert!(d.len() >= MIN_CLIENT_DATAGRAM && is_long_header(&d));
    let plain = open_one(V1, &d);
    assert_eq!(&plain[..7 + hello.len()], &crypto_frame(0, &hello)[..]);
    assert_eq!(reassemble(&[d], V1), found("dns.example", &["doq"]));
}

#[test]
fn v2_keys_are_rfc_9369s() {
    let hello = hello_message(Some("doh.example"), &["h3"], 0);
    let d = seal(&rfc9369(), &RFC_DCID, 0, &crypto_frame(0, &hello), 1200);
    assert_eq!(initials(&d).next().map(|p| p.version), Some(V2));
    assert_eq!(reassemble(std::slice::from_ref(&d), V2), found("doh.example", &["h3"]));
    // Version 1's keys do not open a version 2 packet (nor the other way round).
    let mut as_v1 = d.clone();
    as_v1[1..5].copy_from_slice(&V1.to_be_bytes());
    let p = initials(&as_v1).next();
    assert!(p.is_none_or(|p| Keys::client(V1, p.dcid).expect("keys").open(&p, &mut Vec::new()).is_none()));
}

#[test]
fn drafts_29_to_34_are_read_and_older_ones_are_not() {
    for v in 0xff00_001du32..=0xff00_0022 {
        assert!(Keys::client(v, &RFC_DCID).is_some(), "{v:x}");
        assert!(is_long_header(&[0xc0, (v >> 24) as u8, (v >> 16) as u8, (v >> 8) as u8, v as u8]));
    }
    for v in [0xff00_001cu32, 0, 0x5130_3433 /* gQUIC Q043 */, 0x1a2a_3a4a /* greased */] {
        assert!(Keys::client(v, &RFC_DCID).is_none(), "{v:x}");
    }
    // Drafts 33 and 34 use version 1's salt, so their keys open a version 1 packet's payload.
    let d = seal(&rfc9001(), &RFC_DCID, 0, &crypto_frame(0, b"\x01"), 1200);
    let mut as_draft = d.clone();
    as_draft[1..5].copy_from_slice(&0xff00_0022u32.to_be_bytes());
    let p = initials(&as_draft).next().expect("parsed");
    // The version is in the authenticated header, so the tag fails, but the header protection
    // (same hp key) gives back the same packet number length: no panic, no success.
    assert!(Keys::client(0xff00_0022, p.dcid).expect("keys").open(&p, &mut Vec::new()).is_none());
}

#[test]
fn hello_split_over_packets_and_out_of_order() {
    let hello = hello_message(Some("dns.quad9.net"), &["h3"], 1500);
    let (a, b) = hello.split_at(900);
    let first = seal(&rfc9001(), &RFC_DCID, 0, &crypto_frame(0, a), 1200);
    let second = seal(&rfc9001(), &RFC_DCID, 1, &crypto_frame(900, b), 1200);
    let mut c = Crypto::default();
    let mut buf = Vec::new();
    let keys = Keys::client(V1, &RFC_DCID).expect("keys");
    for (i, d) in [&second, &first].into_iter().enumerate() {
        let p = initials(d).next().expect("initial");
        keys.open(&p, &mut buf).expect("opens");
        crypto_frames(&buf, |o, data| c.add(o, data));
        if i == 0 {
            assert_eq!(c.progress(), Progress::Incomplete, "the start is missing");
        }
    }
    assert_eq!(c.progress(), found("dns.quad9.net", &["h3"]));
}

#[test]
fn coalesced_packets_and_mixed_frames() {
    let hello = hello_message(Some("dns.example"), &["doq", "h3"], 0);
    let (a, b) = hello.split_at(40);
    // PING, ACK (with one extra range and ECN counts), PADDING, then the CRYPTO frames, in
    // reverse order of offset.
    let mut frames = vec![0x01, 0x03, 5, 0, 1, 0, 1, 1, 0, 0, 0, 0x00, 0x00];
    frames.extend_from_slice(&crypto_frame(40, b));
    frames.extend_from_slice(&crypto_frame(0, a));
    let one = seal(&rfc9001(), &RFC_DCID, 0, &frames, 0);
    // A Handshake packet (type 2) between two Initials is skipped by its length.
    let handshake = [0xe0, 0, 0, 0, 1, 0, 0, 3, 0xaa, 0xbb, 0xcc];
    let two = seal(&rfc9001(), &RFC_DCID, 1, &[0x01], 0);
    let datagram = [one.clone(), handshake.to_vec(), two].concat();
    assert_eq!(initials(&datagram).count(), 2);
    assert_eq!(reassemble(&[datagram], V1), found("dns.example", &["doq", "h3"]));
}

#[test]
fn frames_that_do_not_belong_stop_the_walk() {
    let mut seen = 0;
    assert!(!crypto_frames(&[0x01, 0x08, 0x01], |_, _| seen += 1), "STREAM is not allowed");
    assert!(!crypto_frames(&[0x06, 0x00, 0x05, 1, 2], |_, _| seen += 1), "cut CRYPTO");
    assert!(!crypto_frames(&[0x02, 0, 0, 0xff], |_, _| seen += 1), "an ACK claiming 63 ranges");
    assert!(crypto_frames(&[0x06, 0, 1, 9, 0x1c, 0, 0, 2, b'h', b'i'], |_, _| seen += 1));
    assert_eq!(seen, 1);
}

#[test]
fn crypto_stream_is_bounded() {
    let mut c = Crypto::default();
    c.add(MAX_HELLO_BYTES as u64, b"x");
    assert_eq!(c.progress(), Progress::GiveUp);
    let mut c = Crypto::default();
    c.add(u64::MAX - 1, b"xy");
    assert_eq!(c.progress(), Progress::GiveUp);
    let mut c = Crypto::default();
    for i in 0..=MAX_RANGES as u64 {
        c.add(10 + i * 4, b"ab");
    }
    assert_eq!(c.progress(), Progress::GiveUp, "too scattered");
    assert!(c.held() <= MAX_HELLO_BYTES + 64);
    let mut c = Crypto::default();
    c.add(0, &[1, 0xff, 0xff, 0xff]);
    assert_eq!(c.progress(), Progress::GiveUp, "a hello longer than the cap");
    let mut c = Crypto::default();
    c.add(0, &[2, 0, 0, 1, 0]);
    assert_eq!(c.progress(), Progress::GiveUp, "a ServerHello");
}

/// Regression (found by the `encrypted` fuzz target): the buffer grew by doubling, so a stream
/// filled in increasing pieces held up to twice `MAX_HELLO_BYTES`.
#[test]
fn regression_crypto_buffer_stays_within_its_cap() {
    let mut c = Crypto::default();
    c.add(0, &[7; 9000]);
    c.add(9000, &[7; 7000]);
    assert!(c.held() <= MAX_HELLO_BYTES, "{} bytes held", c.held());
}

#[test]
fn what_is_not_a_client_initial() {
    let keys = Keys::client(V1, &RFC_DCID).expect("keys");
    let mut buf = Vec::new();
    // Short header, version negotiation, truncated and oversized headers.
    for d in [
        &[0x40u8, 1, 2, 3, 4, 5][..],
        &[0xc0, 0, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0][..],
        &[0xc0, 0, 0, 0, 1][..],
        &[0xc0, 0, 0, 0, 1, 21][..],
        &[0xc0, 0, 0, 0, 1, 0, 0, 0, 0x7f, 0xff][..],
    ] {
        assert_eq!(initials(d).count(), 0, "{d:?}");
    }
    // The server's Initial (other keys) does not open with the client's.
    let server = RfcKeys { key: [9; 16], ..rfc9001() };
    let d = seal(&server, &RFC_DCID, 0, &crypto_frame(0, &[2, 0, 0, 0]), 1200);
    let p = initials(&d).next().expect("parsed");
    assert!(keys.open(&p, &mut buf).is_none());
    // A flipped bit anywhere fails the tag.
    let mut d = seal(&rfc9001(), &RFC_DCID, 0, &crypto_frame(0, b"x"), 1200);
    d[600] ^= 1;
    let p = initials(&d).next().expect("parsed");
    assert!(keys.open(&p, &mut buf).is_none());
}

#[test]
fn random_datagrams_do_not_panic() {
    let base = seal(&rfc9001(), &RFC_DCID, 0, &crypto_frame(0, &hello_message(Some("a.b"), &[], 0)), 1200);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut buf = Vec::new();
    for _ in 0..3_000 {
        let r = next();
        let mut d = base.clone();
        for _ in 0..r % 6 {
            let i = next() as usize % d.len();
            d[i] = next() as u8;
        }
        d.truncate((r >> 8) as usize % (d.len() + 1));
        for p in initials(&d) {
            if let Some(k) = Keys::client(p.version, p.dcid) {
                if k.open(&p, &mut buf).is_some() {
                    let mut c = Crypto::default();
                    crypto_frames(&buf, |o, data| c.add(o, data));
                    let _ = c.progress();
                }
            }
        }
    }
}

/// Client and server datagrams recorded from aioquic 1.7.2 (fixtures/quic-*.pcapng, see
/// fixtures/README.md): the UDP payloads, as sent.
mod real {
    pub const DOQ_V1: &[u8] = include_bytes!("testdata/quic/doq-v1.bin");
    pub const DOQ_V1_SERVER: &[u8] = include_bytes!("testdata/quic/doq-v1-server.bin");
    pub const DOQ_V1_SECOND: &[u8] = include_bytes!("testdata/quic/doq-v1-client-second.bin");
    pub const DOQ_V2: &[u8] = include_bytes!("testdata/quic/doq-v2.bin");
    pub const DOH3_V1_SPLIT: [&[u8]; 2] = [
        include_bytes!("testdata/quic/doh3-v1-split-1.bin"),
        include_bytes!("testdata/quic/doh3-v1-split-2.bin"),
    ];
    pub const DOH3_V2: &[u8] = include_bytes!("testdata/quic/doh3-v2.bin");
    pub const WEB_V1: &[u8] = include_bytes!("testdata/quic/web-v1.bin");
    pub const WEB_V2_SPLIT: [&[u8]; 2] = [
        include_bytes!("testdata/quic/web-v2-split-1.bin"),
        include_bytes!("testdata/quic/web-v2-split-2.bin"),
    ];
}

#[test]
fn real_doq_v1_and_v2_hellos() {
    assert_eq!(reassemble(&[real::DOQ_V1.to_vec()], V1), found("resolver.example", &["doq"]));
    assert_eq!(reassemble(&[real::DOQ_V2.to_vec()], V2), found("resolver.example", &["doq"]));
}

#[test]
fn real_split_hellos_in_and_out_of_order() {
    let [a, b] = real::DOH3_V1_SPLIT.map(<[u8]>::to_vec);
    assert_eq!(reassemble(&[a.clone(), b.clone()], V1), found("dns.google", &["h3"]));
    assert_eq!(reassemble(&[b, a], V1), found("dns.google", &["h3"]));
    let [a, b] = real::WEB_V2_SPLIT.map(<[u8]>::to_vec);
    assert_eq!(reassemble(&[b, a.clone()], V2), found("www.example.com", &["h3"]));
    // Half a hello is not a hello.
    let mut c = Crypto::default();
    let p = initials(&a).next().expect("initial");
    let mut buf = Vec::new();
    Keys::client(V2, p.dcid).expect("keys").open(&p, &mut buf).expect("opens");
    crypto_frames(&buf, |o, d| c.add(o, d));
    assert_eq!(c.progress(), Progress::Incomplete);
}

#[test]
fn real_coalesced_and_server_datagrams() {
    // The server's first datagram: an Initial and a Handshake packet, neither the client's.
    let server: Vec<_> = initials(real::DOQ_V1_SERVER).collect();
    assert_eq!(server.len(), 1, "the Handshake packet after the Initial is skipped");
    let keys = Keys::client(V1, server[0].dcid).expect("keys");
    assert!(keys.open(&server[0], &mut Vec::new()).is_none());
    // The client's second datagram (Initial with an ACK, then Handshake): its Initial opens
    // with the keys of the first Destination Connection ID, not of its own.
    let first = initials(real::DOQ_V1).next().expect("first");
    let second = initials(real::DOQ_V1_SECOND).next().expect("second");
    assert_ne!(first.dcid, second.dcid);
    let keys = Keys::client(V1, first.dcid).expect("keys");
    let mut buf = Vec::new();
    assert!(keys.open(&second, &mut buf).is_some());
    let mut crypto = 0;
    assert!(crypto_frames(&buf, |_, _| crypto += 1));
    assert_eq!(crypto, 0, "an ACK, no CRYPTO data");
}

mod flows {
    use super::real;
    use crate::event::{Transport, L4};
    use crate::frame::Ts;
    use crate::resolvers::ResolverDb;
    use crate::tcp::FlowKey;
    use crate::tls::{EncryptedDns, EncryptedFlows, Seen};
    use std::net::IpAddr;

    fn key(server: &str, dport: u16) -> FlowKey {
        FlowKey {
            iface: 1,
            src: IpAddr::from([192, 0, 2, 2]),
            sport: 51_112,
            dst: server.parse().expect("ip"),
            dport,
        }
    }

    fn udp(f: &mut EncryptedFlows, k: FlowKey, d: &[u8]) -> Seen {
        f.observe(Ts(1), k, L4::Udp, d, &ResolverDb::builtin())
    }

    fn new(seen: Seen) -> EncryptedDns {
        match seen {
            Seen::New(f) => f,
            other => panic!("expected a new flow, got {other:?}"),
        }
    }

    #[test]
    fn doq_on_any_port_with_its_name() {
        let mut f = EncryptedFlows::new(64);
        let k = key("192.0.2.1", 8853);
        let doq = new(udp(&mut f, k, real::DOQ_V1));
        assert_eq!(
            (doq.transport, doq.sni.as_deref(), doq.provider),
            (Transport::Doq, Some("resolver.example"), None)
        );
        assert_eq!(udp(&mut f, k.reverse(), real::DOQ_V1_SERVER), Seen::Known);
        assert_eq!(udp(&mut f, k, real::DOQ_V1_SECOND), Seen::Known);
        assert_eq!(udp(&mut f, k, &[0x41, 1, 2, 3]), Seen::Known, "a short-header packet");
        let v2 = new(udp(&mut f, key("198.51.100.1", 784), real::DOQ_V2));
        assert_eq!(v2.transport, Transport::Doq);
    }

    #[test]
    fn doh_over_http3_by_name_and_split_out_of_order() {
        let mut f = EncryptedFlows::new(64);
        let k = key("192.0.2.1", 4433);
        assert_eq!(udp(&mut f, k, real::DOH3_V1_SPLIT[1]), Seen::NotDns, "the second half first");
        let doh = new(udp(&mut f, k, real::DOH3_V1_SPLIT[0]));
        assert_eq!(
            (doh.transport, doh.sni.as_deref(), doh.provider),
            (Transport::Doh, Some("dns.google"), Some("Google"))
        );
        assert_eq!(udp(&mut f, k, real::DOH3_V1_SPLIT[1]), Seen::Known, "a retransmission");
        assert_eq!(new(udp(&mut f, key("192.0.2.1", 8853), real::DOH3_V2)).transport, Transport::Doh);
        assert_eq!(f.waiting_bytes(), 0);
    }

    #[test]
    fn ordinary_http3_is_decided_once_and_remembered() {
        let mut f = EncryptedFlows::new(64);
        let k = key("192.0.2.1", 4433);
        assert_eq!(udp(&mut f, k, real::WEB_V1), Seen::NotDns);
        assert_eq!(f.flow_count(), 1, "remembered as not DNS");
        assert_eq!(udp(&mut f, k, real::WEB_V1), Seen::NotDns);
        let k2 = key("192.0.2.1", 8853);
        assert_eq!(udp(&mut f, k2, real::WEB_V2_SPLIT[0]), Seen::NotDns);
        assert_eq!(udp(&mut f, k2, real::WEB_V2_SPLIT[1]), Seen::NotDns);
        assert_eq!((f.flow_count(), f.waiting_bytes(), f.quic_given_up()), (2, 0, 0));
        // Even to a well-known DoH address on 443: a name not in the list is not DoH.
        assert_eq!(udp(&mut f, key("8.8.8.8", 443), real::WEB_V1), Seen::NotDns);
    }

    #[test]
    fn random_udp_on_443_is_not_remembered_and_server_first_is_not_a_client() {
        let mut f = EncryptedFlows::new(64);
        let noise: Vec<u8> = (0..1300u32).map(|i| (i * 7 + 3) as u8 | 0x80).collect();
        assert_eq!(udp(&mut f, key("192.0.2.1", 443), &noise), Seen::NotDns);
        assert_eq!(udp(&mut f, key("192.0.2.1", 4433).reverse(), real::DOQ_V1_SERVER), Seen::NotDns);
        assert_eq!(f.flow_count(), 0);
    }

    #[test]
    fn half_a_hello_then_short_headers_is_given_up() {
        let mut f = EncryptedFlows::new(64);
        let k = key("192.0.2.1", 4433);
        assert_eq!(udp(&mut f, k, real::DOH3_V1_SPLIT[0]), Seen::NotDns);
        assert!(f.waiting_bytes() > 0);
        assert_eq!(udp(&mut f, k, &[0x41, 9, 9, 9]), Seen::NotDns);
        assert_eq!((f.quic_given_up(), f.waiting_bytes()), (1, 0));
        // The same on 443 to a well-known DoH address falls back to the address.
        let k = key("1.1.1.1", 443);
        udp(&mut f, k, real::DOH3_V1_SPLIT[0]);
        assert_eq!(new(udp(&mut f, k, &[0x41, 9, 9, 9])).transport, Transport::Doh);
    }

    /// Regression: expiry released the held bytes of TCP hellos only, so an expired half QUIC
    /// hello stayed counted in `waiting_bytes` for ever.
    #[test]
    fn regression_expired_quic_hello_releases_its_bytes() {
        let mut f = EncryptedFlows::new(64);
        udp(&mut f, key("192.0.2.1", 4434), real::DOH3_V1_SPLIT[0]);
        assert!(f.waiting_bytes() > 0);
        f.expire(Ts(i64::MAX));
        assert_eq!((f.flow_count(), f.waiting_bytes()), (0, 0));
    }

    /// Regression: a pending connection derived keys from each later packet's Destination
    /// Connection ID (the server's), so the rest of a hello sent after the server answered
    /// never decrypted. The keys stay those of the first DCID.
    #[test]
    fn regression_later_initials_use_the_first_dcid_keys() {
        use super::{crypto_frame, hello_message, rfc9001, seal, RFC_DCID};
        let hello = hello_message(Some("dns.google"), &["h3"], 1500);
        let (a, b) = hello.split_at(900);
        let first = seal(&rfc9001(), &RFC_DCID, 0, &crypto_frame(0, a), 1200);
        // Addressed to the server's connection ID, sealed with the first DCID's keys.
        let second = seal(&rfc9001(), &[9; 8], 1, &crypto_frame(900, b), 1200);
        let mut f = EncryptedFlows::new(64);
        let k = key("192.0.2.1", 4433);
        assert_eq!(udp(&mut f, k, &first), Seen::NotDns);
        assert_eq!(new(udp(&mut f, k, &second)).sni.as_deref(), Some("dns.google"));
    }
}

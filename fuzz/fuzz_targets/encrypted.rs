//! Encrypted-DNS detection on arbitrary bytes: QUIC long-header parsing and Initial key
//! derivation, the frame walk and CRYPTO reassembly of decrypted Initial payloads (the input
//! taken as if decrypted, so the fuzzer reaches the ClientHello parser without forging AEAD
//! tags), the flow table on UDP and TCP, and DNSCrypt recognition.
//!
//! Input: the bytes are used whole, then cut into datagrams of at most 1,400 bytes.
#![no_main]

use std::net::IpAddr;

use dnsleak_core::dnscrypt::{Dnscrypt, DnscryptLimits};
use dnsleak_core::quic;
use dnsleak_core::resolvers::ResolverDb;
use dnsleak_core::tcp::FlowKey;
use dnsleak_core::tls::EncryptedFlows;
use dnsleak_core::{Ts, L4};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = Vec::new();
    for p in quic::initials(data) {
        if let Some(keys) = quic::Keys::client(p.version, p.dcid) {
            let _ = keys.open(&p, &mut buf);
        }
    }
    let mut crypto = quic::Crypto::default();
    let _ = quic::crypto_frames(data, |offset, bytes| crypto.add(offset, bytes));
    let _ = crypto.progress();
    assert!(crypto.held() <= quic::MAX_HELLO_BYTES);

    let db = ResolverDb::builtin();
    let mut flows = EncryptedFlows::new(16);
    let mut dnscrypt = Dnscrypt::new(DnscryptLimits { max_magics: 4, max_flows: 4 });
    for (i, chunk) in data.chunks(1400).enumerate() {
        let sel = chunk.first().copied().unwrap_or(0);
        let mut key = FlowKey {
            iface: 0,
            src: IpAddr::from([192, 0, 2, 2]),
            sport: 40_000 + u16::from(sel & 3),
            dst: IpAddr::from([192, 0, 2, 1]),
            dport: [443, 853, 4433, 5353][usize::from(sel >> 6)],
        };
        if sel & 4 != 0 {
            key = key.reverse();
        }
        let l4 = if sel & 8 != 0 { L4::Tcp } else { L4::Udp };
        let ts = Ts(i as i64 * 1_000_000);
        let _ = flows.observe(ts, key, l4, chunk, &db);
        let _ = dnscrypt.observe(ts, &key, l4, chunk);
        assert!(flows.flow_count() <= 16 && dnscrypt.flow_count() <= 4 && dnscrypt.magic_count() <= 4);
    }
    flows.expire(Ts(i64::MAX));
    dnscrypt.expire(Ts(i64::MAX));
    assert_eq!((flows.flow_count(), flows.waiting_bytes()), (0, 0));
});

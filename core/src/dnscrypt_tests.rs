//! Unit tests of DNSCrypt recognition, on messages built here (real ones recorded from
//! encrypted-dns are in `dnscrypt_real_tests`, below).

use super::*;

const CLIENT: [u8; 4] = [192, 0, 2, 2];
const MAGIC: [u8; 8] = *b"qfZx7Lp2";

fn key(server: &str, dport: u16, sport: u16) -> FlowKey {
    FlowKey { iface: 1, src: IpAddr::from(CLIENT), sport, dst: server.parse().expect("ip"), dport }
}

/// A DNS message asking (or answering, with `certs` as TXT records) `name` TXT.
pub(crate) fn cert_message(name: &str, answer: bool, certs: &[Vec<u8>]) -> Vec<u8> {
    let flags: u16 = if answer { 0x8180 } else { 0x0100 };
    let mut m = vec![0x12, 0x34];
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, certs.len() as u8, 0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 16, 0, 1]);
    for cert in certs {
        m.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0x0e, 0x10]);
        m.extend_from_slice(&((cert.len() + 1) as u16).to_be_bytes());
        m.push(cert.len() as u8);
        m.extend_from_slice(cert);
    }
    m
}

/// A certificate (es-version 2) announcing `magic`.
pub(crate) fn cert(magic: [u8; 8]) -> Vec<u8> {
    let mut c = CERT_MAGIC.to_vec();
    c.extend_from_slice(&[0, 2, 0, 0]);
    c.extend_from_slice(&[0xaa; 64]); // signature
    c.extend_from_slice(&[0xbb; 32]); // resolver key
    c.extend_from_slice(&magic);
    c.extend_from_slice(&[0, 0, 0, 1, 0x60, 0, 0, 0, 0x70, 0, 0, 0]); // serial, start, end
    c
}

fn query(magic: [u8; 8]) -> Vec<u8> {
    let mut q = magic.to_vec();
    q.extend(std::iter::repeat_n(0x5a, 256));
    q
}

fn answer() -> Vec<u8> {
    let mut a = RESOLVER_MAGIC.to_vec();
    a.extend(std::iter::repeat_n(0x33, 120));
    a
}

fn new(seen: Option<Seen>) -> EncryptedDns {
    match seen {
        Some(Seen::New(f)) => f,
        other => panic!("expected a new flow, got {other:?}"),
    }
}

#[test]
fn certificate_exchange_then_encrypted_queries_and_answers() {
    let mut d = Dnscrypt::new(DnscryptLimits::default());
    let k = key("192.0.2.1", 5353, 40_000);
    let name = "2.dnscrypt-cert.resolver.example";
    let f = new(d.observe(Ts(1), &k, L4::Udp, &cert_message(name, false, &[])));
    assert_eq!(f.transport, Transport::Dnscrypt);
    assert_eq!((f.client, f.sni.as_deref()), ((IpAddr::from(CLIENT), 40_000), Some("resolver.example")));
    let reply = cert_message(name, true, &[cert(MAGIC), cert(*b"other-mg")]);
    assert_eq!(d.observe(Ts(2), &k.reverse(), L4::Udp, &reply), Some(Seen::Known));
    assert_eq!(d.magic_count(), 2);
    // Queries from new source ports belong to the same flow: client address to resolver.
    let k2 = key("192.0.2.1", 5353, 40_001);
    assert_eq!(d.observe(Ts(3), &k2, L4::Udp, &query(MAGIC)), Some(Seen::Known));
    assert_eq!(d.observe(Ts(3), &k2.reverse(), L4::Udp, &answer()), Some(Seen::Known));
    assert_eq!(d.flow_count(), 1);
}

#[test]
fn a_learned_magic_names_the_provider_of_a_new_client() {
    let mut d = Dnscrypt::new(DnscryptLimits::default());
    let k = key("198.51.100.1", 443, 40_000);
    let reply = cert_message("2.dnscrypt-cert.dns.example.net", true, &[cert(MAGIC)]);
    let f = new(d.observe(Ts(1), &k.reverse(), L4::Udp, &reply));
    assert_eq!((f.client.0, f.sni.as_deref()), (IpAddr::from(CLIENT), Some("dns.example.net")));
    let other = FlowKey { src: IpAddr::from([192, 0, 2, 3]), ..k };
    let f = new(d.observe(Ts(2), &other, L4::Udp, &query(MAGIC)));
    assert_eq!(f.sni.as_deref(), Some("dns.example.net"));
}

#[test]
fn an_answer_alone_is_enough_and_the_client_is_its_destination() {
    let mut d = Dnscrypt::new(DnscryptLimits::default());
    let k = key("203.0.113.9", 8443, 41_000);
    let f = new(d.observe(Ts(1), &k.reverse(), L4::Udp, &answer()));
    assert_eq!((f.client, f.sni), ((IpAddr::from(CLIENT), 41_000), None));
    // Without the certificate, the query's magic is unknown: not recognised by itself.
    assert_eq!(d.observe(Ts(2), &key("203.0.113.9", 8443, 41_001), L4::Udp, &query(MAGIC)), None);
}

#[test]
fn v1_style_names_and_case() {
    let mut d = Dnscrypt::new(DnscryptLimits::default());
    let q = cert_message("1.DNSCrypt-Cert.Old.Example", false, &[]);
    assert_eq!(
        new(d.observe(Ts(1), &key("192.0.2.1", 443, 1), L4::Udp, &q)).sni.as_deref(),
        Some("Old.Example")
    );
}

#[test]
fn what_is_not_dnscrypt() {
    let mut d = Dnscrypt::new(DnscryptLimits::default());
    let k = key("192.0.2.1", 443, 40_000);
    // Ordinary DNS, QUIC-looking bytes, random UDP on 443, a short resolver magic.
    let plain = cert_message("www.example.com", false, &[]);
    let noise: Vec<u8> = (0..300u32).map(|i| (i * 37 + 11) as u8).collect();
    for p in [
        &plain[..],
        &noise,
        &[0xc3, 0, 0, 0, 1],
        &answer()[..20],
        b"",
        &cert_message("2.dnscrypt-cert", false, &[])[..20],
    ] {
        assert_eq!(d.observe(Ts(1), &k, L4::Udp, p), None, "{p:?}");
    }
    // A learned magic only counts towards the resolver that announced it.
    let reply = cert_message("2.dnscrypt-cert.r.example", true, &[cert(MAGIC)]);
    d.observe(Ts(1), &k.reverse(), L4::Udp, &reply);
    assert_eq!(d.observe(Ts(2), &key("192.0.2.77", 443, 5), L4::Udp, &query(MAGIC)), None);
    assert_eq!(d.observe(Ts(2), &key("192.0.2.1", 444, 5), L4::Udp, &query(MAGIC)), None);
    // A certificate answer whose TXT is not a certificate teaches nothing.
    let mut d = Dnscrypt::new(DnscryptLimits::default());
    let bogus = cert_message("2.dnscrypt-cert.r.example", true, &[b"v=spf1 -all".to_vec()]);
    assert!(d.observe(Ts(1), &k.reverse(), L4::Udp, &bogus).is_some());
    assert_eq!(d.magic_count(), 0);
}

#[test]
fn tables_are_bounded_and_expire() {
    let limits = DnscryptLimits { max_magics: 4, max_flows: 8 };
    let mut d = Dnscrypt::new(limits);
    for i in 0..100u16 {
        let k = FlowKey { src: IpAddr::from([192, 0, 2, (i % 250) as u8]), ..key("192.0.2.1", 443, i) };
        let m = [b'm', b'g', 0, 0, 0, 0, (i >> 8) as u8, i as u8];
        let reply = cert_message("2.dnscrypt-cert.r.example", true, &[cert(m)]);
        d.observe(Ts(i64::from(i)), &k.reverse(), L4::Udp, &reply);
        assert!(d.magic_count() <= 4 && d.flow_count() <= 8);
    }
    assert!(d.evicted() > 0);
    d.expire(Ts(1_000_000_000_000));
    assert_eq!((d.magic_count(), d.flow_count()), (0, 0));
}

/// Regression (issue #13): eviction scanned every flow for the oldest eighth. Flows now sit in
/// age order: the least recently seen goes first, one per new flow, and a flow seen again
/// stays.
#[test]
fn the_least_recently_seen_flow_is_evicted() {
    let mut d = Dnscrypt::new(DnscryptLimits { max_magics: 4, max_flows: 3 });
    let flow = |i: u8| FlowKey { src: IpAddr::from([192, 0, 2, i]), ..key("198.51.100.1", 443, 1000) };
    for i in 0..3 {
        new(d.observe(Ts(i64::from(i)), &flow(i).reverse(), L4::Udp, &answer()));
    }
    // Flow 0 again: flow 1 is now the least recently seen.
    assert_eq!(d.observe(Ts(3), &flow(0).reverse(), L4::Udp, &answer()), Some(Seen::Known));
    new(d.observe(Ts(4), &flow(3).reverse(), L4::Udp, &answer()));
    assert_eq!((d.flow_count(), d.evicted()), (3, 1));
    assert_eq!(d.observe(Ts(5), &flow(0).reverse(), L4::Udp, &answer()), Some(Seen::Known));
    new(d.observe(Ts(6), &flow(1).reverse(), L4::Udp, &answer()));
    assert_eq!(d.evicted(), 2);
}

#[test]
fn random_payloads_do_not_panic() {
    let mut d = Dnscrypt::new(DnscryptLimits { max_magics: 16, max_flows: 16 });
    let base = cert_message("2.dnscrypt-cert.r.example", true, &[cert(MAGIC)]);
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..20_000 {
        let r = next();
        let mut p = base.clone();
        for _ in 0..r % 5 {
            let at = next() as usize % p.len();
            p[at] = next() as u8;
        }
        p.truncate((r >> 16) as usize % (p.len() + 1));
        let k = key("192.0.2.1", (r >> 40) as u16 % 4 + 443, (r >> 50) as u16);
        let k = if r & 1 == 0 { k } else { k.reverse() };
        let _ = d.observe(Ts(i), &k, L4::Udp, &p);
        assert!(d.magic_count() <= 16 && d.flow_count() <= 16);
    }
}

/// Packets recorded from encrypted-dns 0.9.22 (server) and tests/netns/dnscrypt_client.py
/// (client) in fixtures/dnscrypt.pcapng: UDP payloads, and TCP messages as the stream carried
/// them.
mod real {
    pub const CERT_QUERY: &[u8] = include_bytes!("testdata/dnscrypt/cert-query.bin");
    /// Truncated (TC): the classical certificate only.
    pub const CERT_ANSWER: &[u8] = include_bytes!("testdata/dnscrypt/cert-answer.bin");
    pub const QUERY: &[u8] = include_bytes!("testdata/dnscrypt/query.bin");
    pub const ANSWER: &[u8] = include_bytes!("testdata/dnscrypt/answer.bin");
    /// Over TCP, whole: the classical and the post-quantum (es-version 3) certificate.
    pub const TCP_CERT_ANSWER: &[u8] = include_bytes!("testdata/dnscrypt/tcp-cert-answer.bin");
    /// With its 2-byte length.
    pub const TCP_QUERY: &[u8] = include_bytes!("testdata/dnscrypt/tcp-query.bin");
}

#[test]
fn real_exchange_over_udp_on_5353() {
    let mut d = Dnscrypt::new(DnscryptLimits::default());
    let k = key("192.0.2.1", 5353, 45_071);
    let f = new(d.observe(Ts(1), &k, L4::Udp, real::CERT_QUERY));
    assert_eq!((f.transport, f.sni.as_deref()), (Transport::Dnscrypt, Some("resolver.example")));
    assert_eq!(d.observe(Ts(2), &k.reverse(), L4::Udp, real::CERT_ANSWER), Some(Seen::Known));
    assert_eq!(d.magic_count(), 1, "the classical certificate's client magic");
    let k2 = key("192.0.2.1", 5353, 34_013);
    assert_eq!(d.observe(Ts(3), &k2, L4::Udp, real::QUERY), Some(Seen::Known), "the learned magic");
    assert_eq!(d.observe(Ts(4), &k2.reverse(), L4::Udp, real::ANSWER), Some(Seen::Known));
    assert_eq!(d.flow_count(), 1);
}

#[test]
fn real_answer_alone_and_query_alone() {
    let mut d = Dnscrypt::new(DnscryptLimits::default());
    let k = key("192.0.2.1", 5353, 34_013);
    // A client query whose certificate exchange was not seen cannot be told from noise ...
    assert_eq!(d.observe(Ts(1), &k, L4::Udp, real::QUERY), None);
    // ... but the resolver's answer can.
    let f = new(d.observe(Ts(2), &k.reverse(), L4::Udp, real::ANSWER));
    assert_eq!((f.client, f.sni), ((IpAddr::from(CLIENT), 34_013), None));
}

#[test]
fn real_post_quantum_certificate_over_tcp() {
    let mut d = Dnscrypt::new(DnscryptLimits::default());
    let k = key("192.0.2.1", 5353, 52_808);
    let f = new(d.observe(Ts(1), &k.reverse(), L4::Tcp, real::TCP_CERT_ANSWER));
    assert_eq!(f.sni.as_deref(), Some("resolver.example"));
    assert_eq!(d.magic_count(), 2, "the classical and the X-Wing certificate");
    let k2 = key("192.0.2.1", 5353, 52_810);
    assert_eq!(d.observe(Ts(2), &k2, L4::Tcp, &real::TCP_QUERY[2..]), Some(Seen::Known));
}

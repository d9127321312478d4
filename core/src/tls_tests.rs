//! Unit tests of encrypted-DNS flow detection, on synthetic ClientHellos.

use super::*;

const CLIENT: [u8; 4] = [192, 0, 2, 10];
const CLIENT_END: (IpAddr, u16) = (IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10)), 50_000);

fn key(server: &str, dport: u16) -> FlowKey {
    FlowKey {
        iface: 1,
        src: IpAddr::from(CLIENT),
        sport: 50_000,
        dst: server.parse().expect("address"),
        dport,
    }
}

fn from_server(k: FlowKey) -> FlowKey {
    k.reverse()
}

/// A TLS 1.2-framed ClientHello with an optional server name, an optional ECH extension and
/// `pad` bytes of padding extension.
fn client_hello(sni: Option<&str>, ech: bool, pad: usize) -> Vec<u8> {
    let mut ext = Vec::new();
    if let Some(name) = sni {
        ext.extend_from_slice(&crate::quic::tests::sni_extension(name));
    }
    if ech {
        ext.extend_from_slice(&[0xfe, 0x0d, 0, 4, 0, 1, 2, 3]);
    }
    if pad > 0 {
        ext.extend_from_slice(&[0, 21]);
        ext.extend_from_slice(&(pad as u16).to_be_bytes());
        ext.extend(std::iter::repeat_n(0u8, pad));
    }
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

fn new_flow(seen: Seen) -> EncryptedDns {
    match seen {
        Seen::New(f) => f,
        other => panic!("expected a new flow, got {other:?}"),
    }
}

struct T {
    flows: EncryptedFlows,
    db: ResolverDb,
}

impl T {
    fn new() -> T {
        T { flows: EncryptedFlows::new(1024), db: ResolverDb::builtin() }
    }
    fn tcp(&mut self, k: FlowKey, payload: &[u8]) -> Seen {
        self.flows.observe(Ts(1_000), k, L4::Tcp, payload, &self.db)
    }
    fn udp(&mut self, k: FlowKey, payload: &[u8]) -> Seen {
        self.flows.observe(Ts(1_000), k, L4::Udp, payload, &self.db)
    }
}

#[test]
fn dot_is_reported_once_with_its_server_name() {
    let mut t = T::new();
    let k = key("8.8.8.8", 853);
    assert_eq!(t.tcp(k, &[]), Seen::NotDns, "the SYN decides nothing yet");
    assert_eq!(t.tcp(from_server(k), &[]), Seen::NotDns);
    let f = new_flow(t.tcp(k, &client_hello(Some("dns.google"), false, 0)));
    assert_eq!(
        f,
        EncryptedDns {
            client: CLIENT_END,
            transport: Transport::Dot,
            sni: Some("dns.google".into()),
            provider: Some("Google")
        }
    );
    assert_eq!(t.tcp(from_server(k), &[0x16, 3, 3, 0, 10]), Seen::Known);
    assert_eq!(t.tcp(k, &[0x17, 3, 3, 0, 1, 0]), Seen::Known);
    assert_eq!(t.tcp(k, &[]), Seen::Known);
}

#[test]
fn dot_seen_mid_flow_is_reported_without_a_name() {
    let mut t = T::new();
    let k = key("192.0.2.53", 853);
    let f = new_flow(t.tcp(from_server(k), &[0x17, 3, 3, 0, 2, 1, 2]));
    assert_eq!(f, EncryptedDns { client: CLIENT_END, transport: Transport::Dot, sni: None, provider: None });
    assert_eq!(t.tcp(k, &[0x17, 3, 3, 0, 2, 1, 2]), Seen::Known);
}

#[test]
fn doq_on_udp_853() {
    let mut t = T::new();
    let k = key("94.140.14.14", 853);
    let f = new_flow(t.udp(k, &[0xc0, 0, 0, 0, 1]));
    assert_eq!(
        f,
        EncryptedDns { client: CLIENT_END, transport: Transport::Doq, sni: None, provider: Some("AdGuard") }
    );
    assert_eq!(t.udp(from_server(k), &[0x40, 1]), Seen::Known);
}

#[test]
fn doh_by_server_name_suffix() {
    let mut t = T::new();
    let k = key("104.16.248.249", 443);
    t.tcp(k, &[]);
    let f = new_flow(t.tcp(k, &client_hello(Some("mozilla.cloudflare-dns.com"), false, 0)));
    assert_eq!(
        f,
        EncryptedDns {
            client: CLIENT_END,
            transport: Transport::Doh,
            sni: Some("mozilla.cloudflare-dns.com".into()),
            provider: Some("Cloudflare")
        }
    );
    assert_eq!(t.tcp(from_server(k), b"\x16\x03\x03\x00\x01\x02"), Seen::Known);
}

#[test]
fn ordinary_https_is_never_dns() {
    let mut t = T::new();
    let k = key("203.0.113.80", 443);
    assert_eq!(t.tcp(k, &client_hello(Some("www.example.com"), false, 0)), Seen::NotDns);
    assert_eq!(t.tcp(from_server(k), &[0x16, 3, 3, 0, 4, 2, 0, 0, 0]), Seen::NotDns);
    assert_eq!(t.tcp(k, &[0x17, 3, 3, 0, 1, 9]), Seen::NotDns);
    // A name that only ends like a DoH name.
    let k2 = key("203.0.113.81", 443);
    assert_eq!(t.tcp(k2, &client_hello(Some("notcloudflare-dns.com"), false, 0)), Seen::NotDns);
}

#[test]
fn named_https_to_a_doh_address_stays_ordinary() {
    // The name says what the flow is; later segments do not fall back to the address rule.
    let mut t = T::new();
    let k = key("1.1.1.1", 443);
    assert_eq!(t.tcp(k, &client_hello(Some("www.example.org"), false, 0)), Seen::NotDns);
    assert_eq!(t.tcp(from_server(k), &[0x17, 3, 3, 0, 1, 1]), Seen::NotDns);
}

#[test]
fn no_name_falls_back_to_the_address() {
    let mut t = T::new();
    let doh = key("2606:4700:4700::1111", 443);
    let f = new_flow(t.tcp(doh, &client_hello(None, false, 0)));
    assert_eq!(
        f,
        EncryptedDns {
            client: CLIENT_END,
            transport: Transport::Doh,
            sni: None,
            provider: Some("Cloudflare")
        }
    );
    let plain = key("203.0.113.5", 443);
    assert_eq!(t.tcp(plain, &client_hello(None, false, 0)), Seen::NotDns);
}

#[test]
fn encrypted_client_hello_uses_the_address() {
    let mut t = T::new();
    let k = key("1.1.1.1", 443);
    let f = new_flow(t.tcp(k, &client_hello(Some("cloudflare-ech.com"), true, 0)));
    assert_eq!(f.transport, Transport::Doh);
    assert_eq!(f.sni.as_deref(), Some("cloudflare-ech.com"));
    let other = key("203.0.113.7", 443);
    assert_eq!(t.tcp(other, &client_hello(Some("cloudflare-ech.com"), true, 0)), Seen::NotDns);
}

#[test]
fn mid_flow_https_uses_the_address() {
    let mut t = T::new();
    let k = key("8.8.4.4", 443);
    let f = new_flow(t.tcp(k, &[0x17, 3, 3, 0, 3, 1, 2, 3]));
    assert_eq!(
        f,
        EncryptedDns { client: CLIENT_END, transport: Transport::Doh, sni: None, provider: Some("Google") }
    );
    let other = key("203.0.113.9", 443);
    assert_eq!(t.tcp(from_server(other), &[0x17, 3, 3, 0, 1, 1]), Seen::NotDns);
}

#[test]
fn quic_on_443_by_address_only() {
    let mut t = T::new();
    let k = key("9.9.9.9", 443);
    let f = new_flow(t.udp(k, &[0xc3, 0, 0, 0, 1, 8]));
    assert_eq!(
        f,
        EncryptedDns { client: CLIENT_END, transport: Transport::Doh, sni: None, provider: Some("Quad9") }
    );
    assert_eq!(t.udp(from_server(k), &[0x40]), Seen::Known);
    let before = t.flows.flow_count();
    assert_eq!(t.udp(key("203.0.113.10", 443), &[0xc3, 0, 0, 0, 1]), Seen::NotDns);
    assert_eq!(t.flows.flow_count(), before, "ordinary QUIC is not remembered");
}

#[test]
fn client_hello_over_two_segments() {
    let mut t = T::new();
    let k = key("203.0.113.20", 443);
    let hello = client_hello(Some("doh.mullvad.net"), false, 1800);
    assert!(hello.len() > 1460);
    let (a, b) = hello.split_at(1400);
    assert_eq!(t.tcp(k, a), Seen::NotDns);
    assert_eq!(t.flows.waiting_bytes(), 1400);
    // The first segment retransmitted changes nothing.
    assert_eq!(t.tcp(k, a), Seen::NotDns);
    assert_eq!(t.flows.waiting_bytes(), 1400);
    let f = new_flow(t.tcp(k, b));
    assert_eq!(
        f,
        EncryptedDns {
            client: CLIENT_END,
            transport: Transport::Doh,
            sni: Some("doh.mullvad.net".into()),
            provider: Some("Mullvad")
        }
    );
    assert_eq!(t.flows.waiting_bytes(), 0);
}

#[test]
fn split_hello_with_a_bad_continuation() {
    let mut t = T::new();
    let k = key("203.0.113.21", 443);
    let hello = client_hello(Some("doh.mullvad.net"), false, 1800);
    assert_eq!(t.tcp(k, &hello[..100]), Seen::NotDns);
    // The record claims more than ever arrives: a stray byte, then the limit.
    let junk = vec![0u8; MAX_HELLO_BYTES];
    assert_eq!(t.tcp(k, &junk), Seen::NotDns);
    assert_eq!(t.flows.waiting_bytes(), 0);
    assert_eq!(t.tcp(k, &hello[100..]), Seen::NotDns, "decided for good");
}

#[test]
fn waiting_bytes_are_bounded() {
    let mut t = T::new();
    t.flows = EncryptedFlows::new(100_000);
    let hello = client_hello(Some("www.example.com"), false, 16_000);
    for i in 0..400u32 {
        let mut k = key("203.0.113.30", 443);
        k.sport = 1_000 + i as u16;
        t.tcp(k, &hello[..hello.len() - 1]);
        assert!(t.flows.waiting_bytes() <= MAX_WAITING_BYTES);
    }
}

#[test]
fn table_is_capped_and_expires() {
    let mut t = T::new();
    t.flows = EncryptedFlows::new(3);
    for i in 0..5u16 {
        let mut k = key("8.8.8.8", 853);
        k.sport = 2_000 + i;
        new_flow(t.tcp(k, &client_hello(Some("dns.google"), false, 0)));
    }
    assert_eq!(t.flows.flow_count(), 3);
    assert_eq!(t.flows.evicted(), 2);
    t.flows.expire(Ts(1_000 + IDLE_TIMEOUT_NS as i64 - 1));
    assert_eq!(t.flows.flow_count(), 3);
    t.flows.expire(Ts(1_000 + IDLE_TIMEOUT_NS as i64));
    assert_eq!(t.flows.flow_count(), 0);
}

#[test]
fn eviction_spares_reported_flows() {
    let mut t = T::new();
    t.flows = EncryptedFlows::new(3);
    let dot = key("8.8.8.8", 853);
    new_flow(t.tcp(dot, &client_hello(Some("dns.google"), false, 0)));
    for i in 0..4u16 {
        let mut k = key("203.0.113.40", 443);
        k.sport = 3_000 + i;
        assert_eq!(t.tcp(k, &client_hello(Some("www.example.com"), false, 0)), Seen::NotDns);
    }
    assert_eq!(t.flows.evicted(), 2);
    assert_eq!(t.tcp(dot, &[0x17, 3, 3, 0, 1, 1]), Seen::Known, "the DoT flow is still known");
}

/// Regression (issue #13): with every flow reported, eviction walked all of them to find
/// one not reported (replay of 100,000 DoT flows took 345 s). The least recently seen flow
/// goes, whatever is in the table; a flow seen again stays.
#[test]
fn a_table_of_reported_flows_evicts_the_least_recently_seen() {
    let mut t = T::new();
    t.flows = EncryptedFlows::new(100);
    let dot = |i: u16| FlowKey { sport: 10_000 + i, ..key("8.8.8.8", 853) };
    let at = |i: u16| Ts(1_000 + i64::from(i));
    let hello = client_hello(Some("dns.google"), false, 0);
    for i in 0..100 {
        new_flow(t.flows.observe(at(i), dot(i), L4::Tcp, &hello, &t.db));
    }
    // Flow 0 is seen again: flow 1 is now the least recently seen.
    assert_eq!(t.flows.observe(at(100), dot(0), L4::Tcp, &[0x17, 3, 3, 0, 1, 1], &t.db), Seen::Known);
    for i in 101..1_000 {
        new_flow(t.flows.observe(at(i), dot(i), L4::Tcp, &hello, &t.db));
        if i == 101 {
            let again = t.flows.observe(at(i), dot(1), L4::Tcp, &[0x17, 3, 3, 0, 1, 1], &t.db);
            assert!(matches!(again, Seen::New(_)), "flow 1 was evicted first: {again:?}");
        }
    }
    assert_eq!(t.flows.flow_count(), 100);
    assert_eq!(t.flows.evicted(), 900, "899 new flows and flow 1 again");
}

#[test]
fn doh_and_dot_on_any_tcp_port() {
    let mut t = T::new();
    let doh = new_flow(t.tcp(key("203.0.113.5", 8443), &client_hello(Some("dns.google"), false, 0)));
    assert_eq!(
        (doh.transport, doh.sni.as_deref(), doh.provider),
        (Transport::Doh, Some("dns.google"), Some("Google"))
    );
    assert_eq!(t.tcp(from_server(key("203.0.113.5", 8443)), b"\x17\x03\x03\x00\x01x"), Seen::Known);
    // ALPN "dot" on another port, to a name in no list.
    let hello = client_hello_alpn(Some("resolver.example"), &["dot"]);
    let dot = new_flow(t.tcp(key("203.0.113.6", 10853), &hello));
    assert_eq!((dot.transport, dot.sni.as_deref()), (Transport::Dot, Some("resolver.example")));
    // Ordinary TLS on another port is not remembered; neither is data that is no hello.
    let before = t.flows.flow_count();
    assert_eq!(
        t.tcp(key("203.0.113.7", 8443), &client_hello_alpn(Some("www.example"), &["h2"])),
        Seen::NotDns
    );
    assert_eq!(t.tcp(key("203.0.113.7", 8080), b"GET / HTTP/1.1\r\n\r\n"), Seen::NotDns);
    assert_eq!(t.tcp(key("1.1.1.1", 8443), &client_hello(None, false, 0)), Seen::NotDns, "no name, not 443");
    assert_eq!(t.flows.flow_count(), before);
}

#[test]
fn alpn_is_read_with_drafts() {
    let mut a = Alpn::default();
    for p in ["h2", "doq-i11", "h3-29", "doq-ix", "h3-"] {
        a.add(p.as_bytes());
    }
    assert_eq!(a, Alpn { dot: false, doq: true, h3: true, other: true });
    assert!(Alpn::default().is_empty());
    let Hello::Found(info) = parse_client_hello(&client_hello_alpn(Some("a.example"), &["dot", "h2"])) else {
        panic!("a hello")
    };
    assert!(info.alpn.dot && info.alpn.other && !info.alpn.doq);
}

/// A ClientHello record offering ALPN protocols.
fn client_hello_alpn(sni: Option<&str>, alpn: &[&str]) -> Vec<u8> {
    let hs = crate::quic::tests::hello_message(sni, alpn, 0);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[test]
fn hello_parser_cases() {
    assert_eq!(parse_client_hello(&[]), Hello::Other);
    assert_eq!(parse_client_hello(&[0x16]), Hello::Incomplete);
    assert_eq!(parse_client_hello(&[0x16, 3, 1]), Hello::Incomplete);
    assert_eq!(parse_client_hello(&[0x17, 3, 3, 0, 1, 0]), Hello::Other);
    assert_eq!(parse_client_hello(b"GET / HTTP/1.1\r\n"), Hello::Other);
    // A ServerHello is not a ClientHello.
    let mut server = client_hello(Some("x.example"), false, 0);
    server[5] = 2;
    assert_eq!(parse_client_hello(&server), Hello::Other);
    let hello = client_hello(Some("x.example"), false, 0);
    let found = HelloInfo { sni: Some("x.example".into()), ..HelloInfo::default() };
    assert_eq!(parse_client_hello(&hello), Hello::Found(found));
    assert_eq!(parse_client_hello(&hello[..hello.len() - 1]), Hello::Incomplete);
}

/// Random and mutated payloads on the watched ports: no panic, memory within bounds.
#[test]
fn random_payloads_do_not_panic() {
    let mut t = T::new();
    t.flows = EncryptedFlows::new(64);
    let base = client_hello(Some("dns.quad9.net"), true, 300);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20_000 {
        let r = next();
        let mut data =
            if r & 1 == 0 { base.clone() } else { (0..(r >> 8) % 400).map(|_| next() as u8).collect() };
        for _ in 0..(r >> 20) % 4 {
            if !data.is_empty() {
                let i = next() as usize % data.len();
                data[i] = next() as u8;
            }
        }
        data.truncate((r >> 30) as usize % (data.len() + 1));
        let mut k = key(
            if r & 2 == 0 { "1.1.1.1" } else { "203.0.113.1" },
            [443, 853, 4433, 8443][(r >> 2) as usize & 3],
        );
        k.sport = (r >> 40) as u16 % 50;
        let k = if r & 8 == 0 { k } else { from_server(k) };
        let _ = if r & 16 == 0 { t.tcp(k, &data) } else { t.udp(k, &data) };
        assert!(t.flows.flow_count() <= 64);
        assert!(t.flows.waiting_bytes() <= MAX_WAITING_BYTES);
        let unwatched = t.flows.flows.iter().filter(|(k, _)| !watched(k.server.1)).count();
        assert_eq!(t.flows.unwatched, unwatched);
        if r % 997 == 0 {
            t.flows.expire(Ts(2_000_000_000_000));
        }
    }
}

/// Issue #13: a flow evicted holding half a ClientHello is counted apart (what it was was
/// never judged); a decided flow evicted is not.
#[test]
fn evicting_half_a_client_hello_is_counted_as_partial() {
    let mut t = T::new();
    t.flows = EncryptedFlows::new(2);
    let hello = client_hello(Some("dns.google"), false, 1500);
    let (first, _) = hello.split_at(700);
    let half = |t: &mut T, i: u16| {
        let k = FlowKey { sport: 20_000 + i, ..key("203.0.113.9", 8853) };
        assert_eq!(t.tcp(k, first), Seen::NotDns);
    };
    half(&mut t, 0);
    half(&mut t, 1);
    assert_eq!((t.flows.evicted(), t.flows.evicted_partial()), (0, 0));
    half(&mut t, 2);
    assert_eq!((t.flows.evicted(), t.flows.evicted_partial()), (1, 1));
    new_flow(t.tcp(key("8.8.8.8", 853), &client_hello(Some("dns.google"), false, 0)));
    new_flow(t.tcp(FlowKey { sport: 1, ..key("8.8.8.8", 853) }, &client_hello(Some("dns.google"), false, 0)));
    assert_eq!(t.flows.evicted_partial(), 3, "both halves left before the decided flows");
    new_flow(t.tcp(FlowKey { sport: 2, ..key("8.8.8.8", 853) }, &client_hello(Some("dns.google"), false, 0)));
    assert_eq!((t.flows.evicted(), t.flows.evicted_partial()), (4, 3));
}

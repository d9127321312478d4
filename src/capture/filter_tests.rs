//! Unit tests of the live capture's BPF filter on encrypted DNS on any port: the compiled
//! program run on packets built here.

use pcap::Capture;

use super::*;

/// An IPv4 UDP packet from 192.0.2.2:40000 to 192.0.2.1:`dport` carrying `payload`.
fn udp_packet(dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 2, 192, 0, 2, 1];
    p.extend_from_slice(&40_000u16.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&((payload.len() + 8) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    let len = (p.len() as u16).to_be_bytes();
    p[2..4].copy_from_slice(&len);
    p
}

/// An IPv4 TCP segment (ACK, 20-byte header) to 192.0.2.1:`dport` carrying `payload`.
fn tcp_packet(dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 2, 192, 0, 2, 1];
    p.extend_from_slice(&40_000u16.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 0, 0, 0, 0, 0, 0]);
    p.extend_from_slice(payload);
    let len = (p.len() as u16).to_be_bytes();
    p[2..4].copy_from_slice(&len);
    p
}

/// A DNS query for `name` (TXT).
fn dns_query(name: &str) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.') {
        m.push(l.len() as u8);
        m.extend_from_slice(l.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 16, 0, 1]);
    m
}

#[test]
fn filter_passes_quic_long_headers_tls_hellos_and_dnscrypt_on_any_port() {
    let dead = Capture::dead(pcap::Linktype(12)).unwrap();
    let prog = dead.compile(BPF_FILTER, true).unwrap();
    let pass = |p: &[u8]| prog.filter(p);
    // QUIC long headers of versions 1, 2 and draft-29 on port 4433; not other versions,
    // not short headers, not RTP (first byte 0x80).
    for v in [1u32, 0x6b33_43cf, 0xff00_001d, 0xff00_0022] {
        let mut q = vec![0xc3];
        q.extend_from_slice(&v.to_be_bytes());
        q.extend_from_slice(&[8; 40]);
        assert!(pass(&udp_packet(4433, &q)), "{v:x}");
    }
    for first in [
        [0xc3, 0x51, 0x30, 0x34, 0x36],
        [0xc3, 0xff, 0, 0, 0x1c],
        [0x43, 0, 0, 0, 1],
        [0x80, 0x60, 0x12, 0x34, 0],
    ] {
        assert!(!pass(&udp_packet(4433, &[&first[..], &[0; 40]].concat())), "{first:x?}");
    }
    // DNSCrypt: an answer with the resolver magic, on UDP and after TCP's length; a
    // certificate query on 8443 (any case); not ordinary DNS-looking data on 8443.
    let answer = [&b"r6fnvWj8"[..], &[0; 60]].concat();
    assert!(pass(&udp_packet(8443, &answer)));
    assert!(pass(&tcp_packet(8443, &[&[0, 68][..], &answer].concat())));
    assert!(pass(&udp_packet(8443, &dns_query("2.dnscrypt-cert.resolver.example"))));
    assert!(pass(&udp_packet(443, &dns_query("2.DNSCrypt-Cert.resolver.example"))));
    let cert_tcp = dns_query("2.dnscrypt-cert.r.example");
    assert!(pass(&tcp_packet(8443, &[&(cert_tcp.len() as u16).to_be_bytes()[..], &cert_tcp].concat())));
    assert!(!pass(&udp_packet(8443, &dns_query("2.dnscrypt-corp.example"))));
    assert!(!pass(&udp_packet(8443, &[0x12; 80])));
    // TLS: a handshake record on any TCP port passes; application data does not.
    assert!(pass(&tcp_packet(8443, &[0x16, 3, 1, 0, 200, 1])));
    assert!(!pass(&tcp_packet(8443, &[0x17, 3, 3, 0, 200, 1])));
    assert!(!pass(&tcp_packet(8080, b"GET / HTTP/1.1")));
}

#[test]
fn filter_compiles_for_every_link_type_we_capture() {
    for link in
        [pcap::Linktype::ETHERNET, pcap::Linktype(12), pcap::Linktype::LINUX_SLL, pcap::Linktype::NULL]
    {
        let dead = Capture::dead(link).expect("a dead capture handle");
        dead.compile(BPF_FILTER, true).unwrap_or_else(|e| panic!("{link:?}: {e}"));
    }
}

#[test]
fn filter_passes_dns_and_fragments_and_drops_https_data() {
    let dead = Capture::dead(pcap::Linktype(12)).unwrap();
    let prog = dead.compile(BPF_FILTER, true).unwrap();
    // IPv4 + UDP to port 53.
    let mut udp53 = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 2, 192, 0, 2, 1];
    udp53.extend_from_slice(&[0xc0, 0x00, 0, 53, 0, 8, 0, 0]);
    assert!(prog.filter(&udp53));
    // A later fragment (offset 185 * 8), no ports visible.
    let mut frag = udp53.clone();
    frag[6] = 0;
    frag[7] = 185;
    frag[20..].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(prog.filter(&frag));
    // TCP from 443 carrying application data (ACK only): filtered out.
    let mut tcp = vec![0x45, 0, 0, 45, 0, 0, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2];
    tcp.extend_from_slice(&[1, 187, 0xc0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 0, 0, 0, 0, 0, 0]);
    tcp.extend_from_slice(&[0x17, 3, 3, 0, 0]);
    assert!(!prog.filter(&tcp));
    // A ClientHello to 443: passes.
    let mut hello = tcp.clone();
    hello[20..24].copy_from_slice(&[0xc0, 0, 1, 187]);
    hello[40] = 0x16;
    assert!(prog.filter(&hello));
}

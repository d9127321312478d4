//! IPv6 that carries DNS around a VPN inside IPv4: Teredo (UDP 3544) and 6in4 (IP protocol 41)
//! are decoded one level deep, and the inner DNS is judged by the interface the outer packet
//! was seen on.

use dnsleak_core::{
    Config, EventKind, FrameRef, IfaceFacts, Judged, LinkType, Overrides, Pipeline, Topology, Ts, Verdict,
};
use etherparse::{IpNumber, Ipv4Header, PacketBuilder};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

fn dns_query(name: &str) -> Vec<u8> {
    let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::AAAA));
    m.to_vec().unwrap()
}

/// IPv6 + UDP to port 53 carrying a query for `name`.
fn inner_ipv6(name: &str) -> Vec<u8> {
    let src = [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    let dst = [0xfd, 0, 0, 0x53, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53];
    let payload = dns_query(name);
    let b = PacketBuilder::ipv6(src, dst, 64).udp(40000, 53);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, &payload).unwrap();
    out
}

fn teredo_frame(name: &str) -> Vec<u8> {
    let inner = inner_ipv6(name);
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([192, 0, 2, 2], [203, 0, 113, 1], 64)
        .udp(50000, 3544);
    let mut out = Vec::with_capacity(b.size(inner.len()));
    b.write(&mut out, &inner).unwrap();
    out
}

fn six_in_four_frame(name: &str) -> Vec<u8> {
    let inner = inner_ipv6(name);
    let ip =
        Ipv4Header::new(inner.len() as u16, 64, IpNumber(41), [192, 0, 2, 2], [203, 0, 113, 41]).unwrap();
    let mut out = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    ip.write(&mut out).unwrap();
    out.extend_from_slice(&inner);
    out
}

fn judge(frame: &[u8]) -> Vec<Judged> {
    let facts = |name: &str| IfaceFacts { name: name.into(), up: true, has_mac: true, ..Default::default() };
    let topology = Topology::from_facts([(0, facts("eth0")), (1, facts("wg0"))], &Overrides::default());
    let mut p = Pipeline::new(Config::new(), topology);
    let mut out = Vec::new();
    let f = FrameRef {
        iface: 0,
        ts: Ts(1_000_000_000),
        link: LinkType::ETHERNET,
        number: 1,
        orig_len: 0,
        data: frame,
    };
    p.process(f, &mut out);
    p.finish(&mut out);
    out.retain(|j| j.event.kind() != EventKind::Notice);
    out
}

#[test]
fn dns_inside_teredo_is_judged_by_the_outer_interface() {
    let out = judge(&teredo_frame("teredo.example.com"));
    assert_eq!(out.len(), 1, "{out:?}");
    let j = &out[0];
    assert_eq!(j.event.kind(), EventKind::Query);
    assert_eq!(j.event.wire().and_then(|w| w.encap).map(|e| e.as_str()), Some("teredo"));
    assert_eq!(j.event.qname(), Some("teredo.example.com"));
    assert_eq!(j.event.wire().unwrap().dst.to_string(), "fd00:53::53", "inner addresses are reported");
    assert_eq!(&*j.event.iface_name, "eth0");
    assert_eq!(j.verdict, Some(Verdict::Leak), "IPv6 DNS tunnelled over the LAN went around wg0");
}

#[test]
fn dns_inside_6in4_is_judged_by_the_outer_interface() {
    let out = judge(&six_in_four_frame("sixinfour.example.com"));
    assert_eq!(out.len(), 1, "{out:?}");
    let j = &out[0];
    assert_eq!(j.event.wire().and_then(|w| w.encap).map(|e| e.as_str()), Some("6in4"));
    assert_eq!(j.event.qname(), Some("sixinfour.example.com"));
    assert_eq!(j.verdict, Some(Verdict::Leak));
}

//! The mix's packets on the wire: Ethernet (eth0) or raw IP (wg0) frames with UDP, TCP and ARP
//! built by etherparse, and the DNS records hickory-proto encodes for them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{ArpHardwareId, ArpOperation, ArpPacket, EtherType, PacketBuilder};
use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::rdata::{A, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record};

use super::{ETH0, HOST4, HOST6, MAC_GW, MAC_HOST, TUN4, TUN6};
use dnsleak_core::IfaceId;

pub(super) fn v6addr(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST))
}

pub(super) fn host_name(x: u64) -> Name {
    Name::from_ascii(format!("host-{}.example.net", x % 1000)).unwrap_or_else(|_| Name::root())
}

pub(super) fn soa(name: &Name, ttl: u32) -> Record {
    let zone = name.base_name();
    let mname = Name::from_ascii("ns1.example.net").unwrap_or_else(|_| Name::root());
    let rname = Name::from_ascii("hostmaster.example.net").unwrap_or_else(|_| Name::root());
    Record::from_rdata(zone, ttl, RData::SOA(SOA::new(mname, rname, 2024, 7200, 900, 1_209_600, 300)))
}

pub(super) fn mdns_answer(service: &Name, k: u64, x: u64) -> Message {
    let mut r = Message::new(0, MessageType::Response, OpCode::Query);
    r.metadata.authoritative = true;
    let label = format!("Living Room {}", k + 1 + x % 3);
    let instance = Name::from_labels([label.as_bytes()])
        .and_then(|n| n.append_domain(service))
        .unwrap_or_else(|_| service.clone());
    let host = Name::from_ascii(format!("device-{k}.local")).unwrap_or_else(|_| Name::root());
    r.add_answer(Record::from_rdata(service.clone(), 4500, RData::PTR(PTR(instance.clone()))));
    r.add_additional(Record::from_rdata(
        instance.clone(),
        120,
        RData::SRV(SRV::new(0, 0, 8009, host.clone())),
    ));
    r.add_additional(Record::from_rdata(instance, 4500, RData::TXT(TXT::new(vec![format!("id={x:016x}")]))));
    r.add_additional(Record::from_rdata(host, 120, RData::A(A(Ipv4Addr::new(192, 0, 2, 20 + k as u8)))));
    r
}

pub(super) fn encode(m: &Message) -> Vec<u8> {
    m.to_vec().unwrap_or_default()
}

pub(super) const FIN: u8 = 1;
pub(super) const SYN: u8 = 2;
pub(super) const PSH: u8 = 8;
pub(super) const ACK: u8 = 16;

/// The link layer of an interface: Ethernet on eth0, none (raw IP) on the tunnel.
pub(super) fn eth(
    iface: IfaceId,
    outgoing: bool,
) -> Option<etherparse::PacketBuilderStep<etherparse::Ethernet2Header>> {
    let (src, dst) = if outgoing { (MAC_HOST, MAC_GW) } else { (MAC_GW, MAC_HOST) };
    (iface == ETH0).then(|| PacketBuilder::ethernet2(src, dst))
}

pub(super) fn is_local(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.octets() == HOST4 || v4.octets() == TUN4,
        IpAddr::V6(v6) => [HOST6, TUN6, "fe80::10"].iter().any(|s| v6addr(s) == IpAddr::V6(*v6)),
    }
}

pub(super) fn udp_packet(
    iface: IfaceId,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 62);
    let res = match (eth(iface, is_local(&src)), src, dst) {
        (Some(e), IpAddr::V4(s), IpAddr::V4(d)) => {
            e.ipv4(s.octets(), d.octets(), 64).udp(sport, dport).write(&mut out, payload)
        }
        (Some(e), IpAddr::V6(s), IpAddr::V6(d)) => {
            e.ipv6(s.octets(), d.octets(), 64).udp(sport, dport).write(&mut out, payload)
        }
        (None, IpAddr::V4(s), IpAddr::V4(d)) => {
            PacketBuilder::ipv4(s.octets(), d.octets(), 64).udp(sport, dport).write(&mut out, payload)
        }
        (None, IpAddr::V6(s), IpAddr::V6(d)) => {
            PacketBuilder::ipv6(s.octets(), d.octets(), 64).udp(sport, dport).write(&mut out, payload)
        }
        _ => return out,
    };
    if res.is_err() {
        out.clear();
    }
    out
}

pub(super) fn tcp_packet(
    iface: IfaceId,
    (src, sport): (IpAddr, u16),
    (dst, dport): (IpAddr, u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut hdr = etherparse::TcpHeader::new(sport, dport, seq, 64_240);
    hdr.fin = flags & FIN != 0;
    hdr.syn = flags & SYN != 0;
    hdr.psh = flags & PSH != 0;
    hdr.ack = flags & ACK != 0;
    hdr.acknowledgment_number = ack;
    let mut out = Vec::with_capacity(payload.len() + 74);
    let res = match (eth(iface, is_local(&src)), src, dst) {
        (Some(e), IpAddr::V4(s), IpAddr::V4(d)) => {
            e.ipv4(s.octets(), d.octets(), 64).tcp_header(hdr).write(&mut out, payload)
        }
        (Some(e), IpAddr::V6(s), IpAddr::V6(d)) => {
            e.ipv6(s.octets(), d.octets(), 64).tcp_header(hdr).write(&mut out, payload)
        }
        (None, IpAddr::V4(s), IpAddr::V4(d)) => {
            PacketBuilder::ipv4(s.octets(), d.octets(), 64).tcp_header(hdr).write(&mut out, payload)
        }
        (None, IpAddr::V6(s), IpAddr::V6(d)) => {
            PacketBuilder::ipv6(s.octets(), d.octets(), 64).tcp_header(hdr).write(&mut out, payload)
        }
        _ => return out,
    };
    if res.is_err() {
        out.clear();
    }
    out
}

pub(super) fn arp_frame(target: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(42);
    let Ok(arp) = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        ArpOperation::REQUEST,
        &MAC_HOST,
        &HOST4,
        &[0; 6],
        &[192, 0, 2, target],
    ) else {
        return out;
    };
    if PacketBuilder::ethernet2(MAC_HOST, [0xff; 6]).arp(arp).write(&mut out).is_err() {
        out.clear();
    }
    out
}

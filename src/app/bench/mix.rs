//! A realistic, deterministic (seeded) traffic mix for benchmarks: what a laptop with a VPN
//! puts on the wire. Built with etherparse's `PacketBuilder` and hickory-proto's `Message`
//! encoding (which compresses names).
//!
//! Two interfaces: `eth0` (Ethernet, physical) and `wg0` (raw IP, the tunnel). Per transaction:
//! - 62 % UDP DNS through the tunnel, 14 % UDP DNS on eth0 (leaks), IPv4 and IPv6, questions
//!   A / AAAA / HTTPS / PTR / TXT / MX with answers (CNAME chains, several addresses, SVCB with
//!   ALPN and hints, NXDOMAIN / NODATA with an SOA), EDNS on most, the DO bit on some; about 1 %
//!   of queries get no answer;
//! - 3 % DNS over TCP (handshake, query, response, FINs);
//! - 7 % mDNS (queries to the group, answers without a question: PTR, SRV, TXT, A) and 1 % LLMNR;
//! - 13 % traffic that is not DNS: WireGuard datagrams on eth0, HTTPS (TCP 443) and QUIC
//!   (UDP 443) data, NTP, ARP.
//!
//! [`MixGen`] streams packets in time order with memory bounded by the transactions in flight,
//! so a million-packet capture costs no more than a small one ([`write_pcapng`]); [`Mix`] keeps
//! the packets in one buffer for timed loops.

mod wire;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::svcb::{Alpn, IpHint, SvcParamKey, SvcParamValue, SVCB};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, HTTPS, MX, PTR, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use self::wire::*;
use crate::output::pcapng::PcapngWriter;
use dnsleak_core::{IfaceFacts, IfaceId, LinkType, Overrides, Topology, Ts};

/// The physical interface of the mix (Ethernet).
pub const ETH0: IfaceId = 0;
/// The tunnel of the mix (raw IP).
pub const WG0: IfaceId = 1;

const MAC_HOST: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];
const MAC_GW: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const HOST4: [u8; 4] = [192, 0, 2, 10];
const TUN4: [u8; 4] = [198, 51, 100, 2];
/// Resolvers: the tunnel's, the ISP's, a public one.
const TUN_DNS4: [u8; 4] = [198, 51, 100, 1];
const ISP_DNS4: [u8; 4] = [192, 0, 2, 1];
const PUBLIC_DNS4: [u8; 4] = [203, 0, 113, 53];
const HOST6: &str = "fd00::10";
const TUN6: &str = "fd00:1::2";
const TUN_DNS6: &str = "fd00:1::1";
const ISP_DNS6: &str = "fd00::1";

/// An interface of the mix: its id, name and link type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixIface {
    pub id: IfaceId,
    pub name: &'static str,
    pub link: LinkType,
}

/// The mix's interfaces, in id order.
pub const IFACES: [MixIface; 2] = [
    MixIface { id: ETH0, name: "eth0", link: LinkType::ETHERNET },
    MixIface { id: WG0, name: "wg0", link: LinkType::RAW },
];

/// The interface facts of the mix (eth0 physical, wg0 a tunnel that is up).
pub fn topology() -> Topology {
    let facts = |i: &MixIface| IfaceFacts {
        name: i.name.to_string(),
        up: true,
        has_mac: i.link == LinkType::ETHERNET,
        link: Some(i.link),
        addrs: if i.id == ETH0 {
            vec![IpAddr::from(HOST4).into(), HOST6.parse::<IpAddr>().expect("constant").into()]
        } else {
            vec![IpAddr::from(TUN4).into(), TUN6.parse::<IpAddr>().expect("constant").into()]
        },
        ..Default::default()
    };
    Topology::from_facts(IFACES.iter().map(|i| (i.id, facts(i))), &Overrides::default())
}

/// One generated packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixPacket {
    pub ts: Ts,
    pub iface: IfaceId,
    pub data: Vec<u8>,
}

/// splitmix64: small, fast, good enough for traffic shapes, and the same on every machine.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    /// Skewed towards the front of `0..n`: popular names are asked often.
    fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        self.below(a + 1)
    }
    fn bytes(&mut self, out: &mut Vec<u8>, n: usize) {
        out.extend((0..n).map(|_| self.next_u64() as u8));
    }
}

const POPULAR: &[&str] = &[
    "www.example.com",
    "api.example.com",
    "cdn.example.net",
    "mail.example.org",
    "login.example.com",
    "static.example.net",
    "update.example.org",
    "time.example.com",
    "connectivity-check.example.net",
    "telemetry.example.com",
    "images.example.org",
    "push.example.com",
    "news.example.net",
    "video.example.com",
    "maps.example.org",
    "docs.example.net",
];
const WORDS: &[&str] = &[
    "app", "edge", "img", "static", "assets", "media", "auth", "sync", "files", "ws", "rt", "eu", "us",
    "cache", "px", "beacon", "fonts", "shop", "blog", "chat",
];
const DOMAINS: &[&str] = &["example.com", "example.net", "example.org", "test", "example"];
const MDNS_SERVICES: &[&str] =
    &["_googlecast._tcp.local", "_airplay._tcp.local", "_ipp._tcp.local", "_spotify-connect._tcp.local"];

/// Which interface, addresses and resolver a DNS exchange uses.
#[derive(Debug, Clone, Copy)]
struct Route {
    iface: IfaceId,
    client: IpAddr,
    server: IpAddr,
}

/// A packet waiting for its time.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Scheduled {
    ts: i64,
    seq: u64,
    iface: IfaceId,
    data: Vec<u8>,
}

/// Streams the mix in time order. Deterministic for a seed.
#[derive(Debug)]
pub struct MixGen {
    rng: Rng,
    /// Start of the next transaction (ns of trace time).
    now: i64,
    seq: u64,
    left: u64,
    heap: BinaryHeap<Reverse<Scheduled>>,
}

impl MixGen {
    /// A generator of exactly `packets` packets.
    pub fn new(packets: u64, seed: u64) -> Self {
        MixGen {
            rng: Rng(seed ^ 0x5eed_d15e_a5e5_0001),
            now: 1_700_000_000_000_000_000,
            seq: 0,
            left: packets,
            heap: BinaryHeap::new(),
        }
    }

    fn schedule(&mut self, ts: i64, iface: IfaceId, data: Vec<u8>) {
        self.seq += 1;
        self.heap.push(Reverse(Scheduled { ts, seq: self.seq, iface, data }));
    }

    /// Starts one transaction at `self.now` and moves `now` on.
    fn transaction(&mut self) {
        let t = self.now;
        match self.rng.below(100) {
            0..=61 => self.udp_dns(t, true),
            62..=75 => self.udp_dns(t, false),
            76..=78 => self.tcp_dns(t),
            79..=85 => self.mdns(t),
            86 => self.llmnr(t),
            _ => self.other(t),
        }
        // About 5,000 transactions per second of trace time.
        self.now += self.rng.range(20_000, 380_000) as i64;
    }

    fn route(&mut self, tunnel: bool, v6: bool) -> Route {
        let (iface, client, server) = match (tunnel, v6) {
            (true, false) => (WG0, IpAddr::from(TUN4), IpAddr::from(TUN_DNS4)),
            (true, true) => (WG0, v6addr(TUN6), v6addr(TUN_DNS6)),
            (false, false) => {
                (ETH0, IpAddr::from(HOST4), IpAddr::from(*self.rng.pick(&[ISP_DNS4, PUBLIC_DNS4])))
            }
            (false, true) => (ETH0, v6addr(HOST6), v6addr(ISP_DNS6)),
        };
        Route { iface, client, server }
    }

    fn name(&mut self) -> String {
        if self.rng.percent(60) {
            return POPULAR[self.rng.skewed(POPULAR.len() as u64) as usize].to_string();
        }
        let w = *self.rng.pick(WORDS);
        let n = self.rng.skewed(500);
        let d = *self.rng.pick(DOMAINS);
        if self.rng.percent(30) {
            format!("{w}-{n}.{}.{d}", self.rng.pick(WORDS))
        } else {
            format!("{w}{n}.{d}")
        }
    }

    /// A query and (usually) its response over UDP.
    fn udp_dns(&mut self, t: i64, tunnel: bool) {
        let v6 = self.rng.percent(30);
        let route = self.route(tunnel, v6);
        let (query, response) = self.exchange();
        let cport = self.rng.range(32_768, 60_999) as u16;
        let q = udp_packet(route.iface, route.client, cport, route.server, 53, &query);
        self.schedule(t, route.iface, q);
        if self.rng.percent(99) {
            let rtt = if tunnel { self.rng.range(8, 60) } else { self.rng.range(1, 25) } * 1_000_000;
            let r = udp_packet(route.iface, route.server, 53, route.client, cport, &response);
            self.schedule(t + rtt as i64, route.iface, r);
        }
    }

    /// A query and its response, encoded.
    fn exchange(&mut self) -> (Vec<u8>, Vec<u8>) {
        let id = self.rng.next_u64() as u16;
        let (name, qtype) = match self.rng.below(100) {
            0..=39 => (self.name(), RecordType::A),
            40..=69 => (self.name(), RecordType::AAAA),
            70..=84 => (self.name(), RecordType::HTTPS),
            85..=94 => (self.ptr_name(), RecordType::PTR),
            95..=97 => (self.name(), RecordType::TXT),
            _ => (self.name(), RecordType::MX),
        };
        let name = Name::from_ascii(&name).unwrap_or_else(|_| Name::root());
        let mut q = Message::new(id, MessageType::Query, OpCode::Query);
        q.metadata.recursion_desired = true;
        q.add_query(Query::query(name.clone(), qtype));
        if self.rng.percent(75) {
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            edns.set_dnssec_ok(self.rng.percent(10));
            q.set_edns(edns);
        }
        let mut r = q.clone();
        r.metadata.message_type = MessageType::Response;
        r.metadata.recursion_available = true;
        self.answer(&mut r, &name, qtype);
        (encode(&q), encode(&r))
    }

    fn ptr_name(&mut self) -> String {
        format!("{}.{}.51.198.in-addr.arpa", self.rng.below(256), self.rng.below(256))
    }

    /// Fills the answer of a response: records of the asked type, NXDOMAIN or NODATA.
    fn answer(&mut self, r: &mut Message, name: &Name, qtype: RecordType) {
        let ttl = self.rng.range(30, 3600) as u32;
        let roll = self.rng.below(100);
        if roll < 5 {
            r.metadata.response_code = ResponseCode::NXDomain;
            r.add_authority(soa(name, ttl));
            return;
        }
        if roll < 10 && qtype != RecordType::A {
            r.add_authority(soa(name, ttl)); // NODATA
            return;
        }
        let mut owner = name.clone();
        if matches!(qtype, RecordType::A | RecordType::AAAA) && self.rng.percent(25) {
            let target = Name::from_ascii(format!("{}.cdn.example.net", self.rng.pick(WORDS)))
                .unwrap_or_else(|_| Name::root());
            r.add_answer(Record::from_rdata(owner, ttl, RData::CNAME(CNAME(target.clone()))));
            owner = target;
        }
        let n = self.rng.range(1, 4);
        for _ in 0..n {
            let data = self.rdata(qtype);
            r.add_answer(Record::from_rdata(owner.clone(), ttl, data));
            if !matches!(qtype, RecordType::A | RecordType::AAAA) {
                break;
            }
        }
    }

    fn rdata(&mut self, qtype: RecordType) -> RData {
        let x = self.rng.next_u64();
        match qtype {
            RecordType::A => RData::A(A(Ipv4Addr::new(203, 0, 113, x as u8))),
            RecordType::AAAA => RData::AAAA(AAAA(Ipv6Addr::new(0xfd00, 0xbe, 0, 0, 0, 0, 0, x as u16))),
            RecordType::HTTPS => {
                let params = vec![
                    (SvcParamKey::Alpn, SvcParamValue::Alpn(Alpn(vec!["h3".into(), "h2".into()]))),
                    (
                        SvcParamKey::Ipv4Hint,
                        SvcParamValue::Ipv4Hint(IpHint(vec![A(Ipv4Addr::new(203, 0, 113, x as u8))])),
                    ),
                ];
                RData::HTTPS(HTTPS(SVCB::new(1, Name::root(), params)))
            }
            RecordType::PTR => RData::PTR(PTR(host_name(x))),
            RecordType::TXT => RData::TXT(TXT::new(vec![format!("v=spf1 ip4:192.0.2.0/24 ~all {x:x}")])),
            _ => RData::MX(MX::new(10, host_name(x))),
        }
    }

    /// A DNS exchange over TCP: handshake, query, response, FINs.
    fn tcp_dns(&mut self, t: i64) {
        let tunnel = self.rng.percent(50);
        let v6 = self.rng.percent(30);
        let route = self.route(tunnel, v6);
        let (query, response) = self.exchange();
        let (c, s) = (route.client, route.server);
        let cport = self.rng.range(32_768, 60_999) as u16;
        let (cseq, sseq) = (self.rng.next_u64() as u32, self.rng.next_u64() as u32);
        let ms = 1_000_000;
        let rtt = self.rng.range(2, 30) as i64 * ms;
        let framed = |m: &[u8]| {
            let mut v = (m.len() as u16).to_be_bytes().to_vec();
            v.extend_from_slice(m);
            v
        };
        let (q, r) = (framed(&query), framed(&response));
        let seg = |from, fp, to, tp, seq, ack, flags, data: &[u8]| {
            tcp_packet(route.iface, (from, fp), (to, tp), seq, ack, flags, data)
        };
        let c1 = cseq.wrapping_add(1);
        let s1 = sseq.wrapping_add(1);
        let cq = c1.wrapping_add(q.len() as u32);
        let sr = s1.wrapping_add(r.len() as u32);
        let pkts = [
            (0, seg(c, cport, s, 53, cseq, 0, SYN, &[])),
            (rtt, seg(s, 53, c, cport, sseq, c1, SYN | ACK, &[])),
            (rtt + ms / 10, seg(c, cport, s, 53, c1, s1, PSH | ACK, &q)),
            (2 * rtt + ms, seg(s, 53, c, cport, s1, cq, PSH | ACK, &r)),
            (2 * rtt + ms + ms / 5, seg(c, cport, s, 53, cq, sr, FIN | ACK, &[])),
            (3 * rtt + ms, seg(s, 53, c, cport, sr, cq.wrapping_add(1), FIN | ACK, &[])),
        ];
        for (dt, p) in pkts {
            self.schedule(t + dt, route.iface, p);
        }
    }

    /// An mDNS query to the group and one or two answers to the group (no question section).
    fn mdns(&mut self, t: i64) {
        let v6 = self.rng.percent(40);
        let (src, group) = if v6 {
            (v6addr("fe80::10"), v6addr("ff02::fb"))
        } else {
            (IpAddr::from(HOST4), IpAddr::from([224, 0, 0, 251]))
        };
        let service = Name::from_ascii(self.rng.pick(MDNS_SERVICES)).unwrap_or_else(|_| Name::root());
        let mut q = Message::new(0, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(service.clone(), RecordType::PTR));
        self.schedule(t, ETH0, udp_packet(ETH0, src, 5353, group, 5353, &encode(&q)));
        for k in 0..self.rng.range(1, 2) {
            let responder = if v6 {
                IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x20 + k as u16))
            } else {
                IpAddr::from([192, 0, 2, 20 + k as u8])
            };
            let r = mdns_answer(&service, k, self.rng.next_u64());
            let dt = self.rng.range(1, 120) as i64 * 1_000_000;
            self.schedule(t + dt, ETH0, udp_packet(ETH0, responder, 5353, group, 5353, &encode(&r)));
        }
    }

    /// An LLMNR query to the group; sometimes a unicast answer.
    fn llmnr(&mut self, t: i64) {
        let name = Name::from_ascii(format!("{}{}", self.rng.pick(WORDS), self.rng.below(20)))
            .unwrap_or_else(|_| Name::root());
        let id = self.rng.next_u64() as u16;
        let mut q = Message::new(id, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(name.clone(), RecordType::A));
        let port = self.rng.range(49_152, 65_535) as u16;
        let group = IpAddr::from([224, 0, 0, 252]);
        self.schedule(t, ETH0, udp_packet(ETH0, IpAddr::from(HOST4), port, group, 5355, &encode(&q)));
        if self.rng.percent(30) {
            let mut r = q.clone();
            r.metadata.message_type = MessageType::Response;
            r.add_answer(Record::from_rdata(name, 30, RData::A(A(Ipv4Addr::new(192, 0, 2, 30)))));
            let resp =
                udp_packet(ETH0, IpAddr::from([192, 0, 2, 30]), 5355, IpAddr::from(HOST4), port, &encode(&r));
            self.schedule(t + 2_000_000, ETH0, resp);
        }
    }

    /// Traffic that is not DNS.
    fn other(&mut self, t: i64) {
        let mut payload = Vec::new();
        let host = IpAddr::from(HOST4);
        let far = IpAddr::from([203, 0, 113, self.rng.below(256) as u8]);
        let (iface, data) = match self.rng.below(100) {
            0..=44 => {
                let n = self.rng.range(80, 1400) as usize;
                self.rng.bytes(&mut payload, n);
                (ETH0, udp_packet(ETH0, host, 51_820, IpAddr::from([203, 0, 113, 1]), 51_820, &payload))
            }
            45..=74 => {
                let n = self.rng.range(40, 1400) as usize;
                self.rng.bytes(&mut payload, n);
                let seq = self.rng.next_u64() as u32;
                (ETH0, tcp_packet(ETH0, (far, 443), (host, 50_000), seq, 1, PSH | ACK, &payload))
            }
            75..=89 => {
                let n = self.rng.range(30, 1200) as usize;
                self.rng.bytes(&mut payload, n);
                payload[0] = 0x40 | (payload[0] & 0x3f); // a QUIC short header
                (ETH0, udp_packet(ETH0, far, 443, host, 50_001, &payload))
            }
            90..=95 => {
                payload.extend_from_slice(&[0x23; 48]);
                (ETH0, udp_packet(ETH0, host, 123, far, 123, &payload))
            }
            _ => (ETH0, arp_frame(self.rng.below(256) as u8)),
        };
        self.schedule(t, iface, data);
    }
}

impl Iterator for MixGen {
    type Item = MixPacket;

    fn next(&mut self) -> Option<MixPacket> {
        if self.left == 0 {
            return None;
        }
        loop {
            if let Some(Reverse(top)) = self.heap.peek() {
                if top.ts <= self.now {
                    let Reverse(s) = self.heap.pop()?;
                    self.left -= 1;
                    return Some(MixPacket { ts: Ts(s.ts), iface: s.iface, data: s.data });
                }
            }
            self.transaction();
        }
    }
}

/// A mix held in memory: every packet in one buffer.
#[derive(Debug, Clone, Default)]
pub struct Mix {
    data: Vec<u8>,
    packets: Vec<(Ts, IfaceId, usize, usize)>,
}

impl Mix {
    /// Generates `packets` packets with `seed`.
    pub fn generate(packets: u64, seed: u64) -> Mix {
        let mut mix = Mix::default();
        for p in MixGen::new(packets, seed) {
            let start = mix.data.len();
            mix.data.extend_from_slice(&p.data);
            mix.packets.push((p.ts, p.iface, start, p.data.len()));
        }
        mix
    }

    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Bytes of all frames.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// The packets in order: (trace time, interface, link type, frame bytes).
    pub fn packets(&self) -> impl ExactSizeIterator<Item = (Ts, IfaceId, LinkType, &[u8])> + '_ {
        self.packets.iter().map(|&(ts, iface, start, len)| {
            let link = IFACES.get(iface as usize).map_or(LinkType::ETHERNET, |i| i.link);
            (ts, iface, link, &self.data[start..start + len])
        })
    }
}

/// Writes `packets` packets of the mix with `seed` as pcapng (one interface block per
/// interface, with its name, link type and nanosecond timestamps), streaming: memory stays
/// small whatever the count. Returns the number of packets written.
pub fn write_pcapng(out: &mut impl Write, packets: u64, seed: u64) -> io::Result<u64> {
    let mut w = PcapngWriter::new(out)?;
    for iface in IFACES {
        w.add_interface(iface.name, iface.link, &[])?;
    }
    let mut n = 0;
    for p in MixGen::new(packets, seed) {
        w.packet(p.iface, p.ts, p.data.len() as u32, &p.data, &[])?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_for_a_seed_and_different_across_seeds() {
        let a: Vec<_> = MixGen::new(500, 7).collect();
        let b: Vec<_> = MixGen::new(500, 7).collect();
        let c: Vec<_> = MixGen::new(500, 8).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 500);
        assert!(a.windows(2).all(|w| w[0].ts <= w[1].ts), "in time order");
        assert!(a.iter().all(|p| !p.data.is_empty()), "every packet was built");
    }

    #[test]
    fn dns_payloads_decode_with_hickory() {
        let mut kinds = std::collections::BTreeMap::new();
        for p in MixGen::new(3000, 1) {
            let link = IFACES[p.iface as usize].link;
            let sliced = if link == LinkType::ETHERNET {
                etherparse::SlicedPacket::from_ethernet(&p.data)
            } else {
                etherparse::SlicedPacket::from_ip(&p.data)
            };
            let Ok(s) = sliced else { panic!("undecodable frame") };
            if let Some(etherparse::TransportSlice::Udp(u)) = s.transport {
                if [53, 5353, 5355].contains(&u.source_port())
                    || [53, 5353, 5355].contains(&u.destination_port())
                {
                    let m = Message::from_vec(u.payload()).expect("valid DNS");
                    let key = m.queries.first().map_or("none".into(), |q| q.query_type().to_string());
                    *kinds.entry((key, m.answers.is_empty())).or_insert(0) += 1;
                }
            }
        }
        for want in ["A", "AAAA", "HTTPS", "PTR", "none"] {
            assert!(kinds.keys().any(|(k, _)| k == want), "{want} missing from {kinds:?}");
        }
        assert!(kinds.iter().any(|((_, empty), _)| !empty), "answers present");
    }

    #[test]
    fn pcapng_output_has_interfaces_and_every_packet() {
        let mut buf = Vec::new();
        assert_eq!(write_pcapng(&mut buf, 200, 3).unwrap(), 200);
        let mut epbs = 0;
        let mut idbs = 0;
        let mut at = 0;
        while at + 12 <= buf.len() {
            let kind = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap());
            let len = u32::from_le_bytes(buf[at + 4..at + 8].try_into().unwrap()) as usize;
            assert_eq!(len % 4, 0);
            assert_eq!(buf[at + len - 4..at + len], buf[at + 4..at + 8], "trailing length");
            match kind {
                1 => idbs += 1,
                6 => epbs += 1,
                _ => {}
            }
            at += len;
        }
        assert_eq!((at, idbs, epbs), (buf.len(), 2, 200));
    }
}

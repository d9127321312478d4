//! Process attribution through the whole pipeline: facts in, frames in, events that carry
//! their program out.

use std::net::{IpAddr, SocketAddr};

use crate::config::Config;
use crate::event::{EventKind, Judged};
use crate::fact::Fact;
use crate::frame::{FrameRef, LinkType, Ts};
use crate::pipeline::Pipeline;
use crate::process::{Attribution, Owner, Process, Recorded, SockProto, SocketOwner};
use crate::topology::{IfaceFacts, Overrides, Topology};

const HOST: &str = "192.0.2.2";

fn topology() -> Topology {
    let facts = IfaceFacts {
        name: "eth0".into(),
        up: true,
        has_mac: true,
        addrs: vec![HOST.parse::<std::net::IpAddr>().unwrap().into()],
        ..Default::default()
    };
    Topology::from_facts([(0, facts)], &Overrides::default())
}

fn dns(id: u16, response: bool, name: &str) -> Vec<u8> {
    let flags: u16 = if response { 0x8180 } else { 0x0100 };
    let mut b = Vec::new();
    for v in [id, flags, 1, 0, 0, 0] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    for label in name.split('.') {
        b.push(label.len() as u8);
        b.extend_from_slice(label.as_bytes());
    }
    b.extend_from_slice(&[0, 0, 1, 0, 1]);
    b
}

/// A raw IPv4 UDP packet.
fn udp(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let (s, d): (SocketAddr, SocketAddr) = (src.parse().unwrap(), dst.parse().unwrap());
    let ip = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(_) => unreachable!("IPv4 only here"),
    };
    let b = etherparse::PacketBuilder::ipv4(ip(s), ip(d), 64).udp(s.port(), d.port());
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

struct Run {
    p: Pipeline,
    out: Vec<Judged>,
    n: u64,
}

impl Run {
    fn new(attribute: bool) -> Run {
        let cfg = Config { attribute_processes: attribute, ..Config::new() };
        Run { p: Pipeline::new(cfg, topology()), out: Vec::new(), n: 0 }
    }

    fn frame(&mut self, ms: i64, data: &[u8]) -> &Judged {
        self.n += 1;
        let f = FrameRef {
            iface: 0,
            ts: Ts::from_millis(ms),
            link: LinkType::RAW,
            number: self.n,
            orig_len: data.len() as u32,
            data,
        };
        self.out.clear();
        self.p.process(f, &mut self.out);
        self.out.iter().find(|j| j.event.kind() != EventKind::Notice).expect("an event")
    }

    fn fact(&mut self, ms: i64, fact: Fact) {
        self.p.apply(fact, Ts::from_millis(ms), &mut Vec::new());
    }
}

fn dig() -> Process {
    Process { pid: 4242, name: "dig".into(), exe: Some("/usr/bin/dig".into()), uid: Some(0) }
}

fn socket(local: &str, remote: &str, process: Process) -> Fact {
    Fact::Socket(SocketOwner {
        proto: SockProto::Udp,
        local: local.parse().unwrap(),
        remote: remote.parse().unwrap(),
        process,
        netns: 1,
        ts: Ts::ZERO,
    })
}

fn pid(j: &Judged) -> Option<u32> {
    j.event.owner()?.process.process().map(|p| p.pid)
}

#[test]
fn a_query_and_its_response_carry_the_program_that_sent_it() {
    let mut r = Run::new(true);
    r.fact(0, socket("192.0.2.2:40000", "198.51.100.1:53", dig()));
    let q = r.frame(1, &udp("192.0.2.2:40000", "198.51.100.1:53", &dns(7, false, "a.example")));
    assert_eq!(pid(q), Some(4242));
    let resp = r.frame(2, &udp("198.51.100.1:53", "192.0.2.2:40000", &dns(7, true, "a.example")));
    assert_eq!(resp.event.kind(), EventKind::Response);
    assert_eq!(pid(resp), Some(4242), "the response carries its query's program");
    let s = r.p.stats().processes.unwrap();
    assert_eq!((s.facts, s.attributed, s.unattributed, s.not_from_host), (1, 1, 0, 0));
}

#[test]
fn a_query_from_another_host_is_not_guessed_and_an_unknown_socket_is_counted() {
    let mut r = Run::new(true);
    let fwd = r.frame(1, &udp("203.0.113.9:5000", "198.51.100.1:53", &dns(1, false, "b.example")));
    assert_eq!(fwd.event.owner().map(|o| &o.process), Some(&Attribution::NotFromThisHost));
    let unknown = r.frame(2, &udp("192.0.2.2:5001", "198.51.100.1:53", &dns(2, false, "c.example")));
    assert_eq!(unknown.event.owner().map(|o| &o.process), Some(&Attribution::Unknown));
    let s = r.p.stats().processes.unwrap();
    assert_eq!((s.attributed, s.unattributed, s.not_from_host), (0, 1, 1));
}

#[test]
fn the_stub_hop_names_the_program_that_asked_the_stub() {
    let mut r = Run::new(true);
    r.fact(0, socket("127.0.0.1:40000", "127.0.0.1:53", dig()));
    let stub = Process { pid: 77, name: "dnsmasq".into(), exe: None, uid: Some(65534) };
    r.fact(0, socket("192.0.2.2:33333", "198.51.100.1:53", stub));
    r.frame(1, &udp("127.0.0.1:40000", "127.0.0.1:53", &dns(3, false, "d.example")));
    let up = r.frame(2, &udp("192.0.2.2:33333", "198.51.100.1:53", &dns(9, false, "d.example")));
    let owner = up.event.owner().unwrap();
    assert_eq!(owner.process.process().map(|p| p.name.as_str()), Some("dnsmasq"));
    assert_eq!(owner.on_behalf_of.as_ref().map(|p| p.pid), Some(4242));
    assert_eq!(owner.program().map(|p| p.name.as_str()), Some("dig"));
}

#[test]
fn without_attribution_nothing_is_looked_up_or_counted() {
    let mut r = Run::new(false);
    let q = r.frame(1, &udp("192.0.2.2:40000", "198.51.100.1:53", &dns(7, false, "a.example")));
    assert!(q.event.owner().is_none());
    assert_eq!(r.p.stats().processes, None);
}

#[test]
fn recorded_senders_replace_the_socket_table() {
    // What replay of a file dnsleak wrote does: no socket facts, no host addresses needed.
    let mut r = Run::new(false);
    let rec = |src: &str, owner: Owner| {
        Fact::Recorded(Recorded {
            proto: SockProto::Udp,
            src: src.parse().unwrap(),
            dst: "198.51.100.1:53".parse().unwrap(),
            owner,
        })
    };
    let owner = Owner { process: Attribution::Process(dig()), on_behalf_of: None };
    r.fact(1, rec("10.9.9.9:40000", owner));
    let q = r.frame(1, &udp("10.9.9.9:40000", "198.51.100.1:53", &dns(7, false, "a.example")));
    assert_eq!(pid(q), Some(4242), "recorded, though 10.9.9.9 is no address of this topology");
    let foreign = Owner { process: Attribution::NotFromThisHost, on_behalf_of: None };
    r.fact(2, rec("10.9.9.8:40000", foreign));
    let f = r.frame(2, &udp("10.9.9.8:40000", "198.51.100.1:53", &dns(8, false, "a.example")));
    assert_eq!(f.event.owner().map(|o| &o.process), Some(&Attribution::NotFromThisHost));
    let none = r.frame(3, &udp("10.9.9.7:40000", "198.51.100.1:53", &dns(9, false, "a.example")));
    assert_eq!(none.event.owner().map(|o| &o.process), Some(&Attribution::Unknown));
    let s = r.p.stats().processes.unwrap();
    assert_eq!((s.recorded, s.attributed, s.not_from_host, s.unattributed), (2, 1, 1, 1));
}

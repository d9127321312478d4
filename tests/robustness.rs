//! Hostile input through the whole `Pipeline`: random frames on every link type, frames built
//! to reach the DNS, TCP, fragment and encrypted-DNS paths with random contents, and mutations
//! of every corpus frame. Asserts: no panic, events per frame bounded, every table within its
//! `Config` limit after every frame, nothing held after `finish`.

use std::sync::OnceLock;

mod support;

use dnsleak::capture::reader::{for_each_frame, Input};
use dnsleak_core::frag::FragLimits;
use dnsleak_core::pipeline::Held;
use dnsleak_core::tcp::TcpLimits;
use dnsleak_core::{Config, EventKind, FrameRef, IfaceFacts, LinkType, Overrides, Pipeline, Topology, Ts};
use proptest::prelude::*;

/// Every link type the core decodes, one it does not, and a random one.
const LINKS: [u32; 12] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147, 9999];

const LIMITS: Held =
    Held { frag_datagrams: 8, frag_bytes: 96 << 10, tcp_flows: 8, tcp_bytes: 96 << 10, pending_queries: 32 };

fn small_config() -> Config {
    let mut c = Config::new();
    c.frag = FragLimits {
        max_datagrams: LIMITS.frag_datagrams,
        max_bytes: LIMITS.frag_bytes,
        timeout_ns: 2_000_000_000,
    };
    c.tcp = TcpLimits {
        max_flows: LIMITS.tcp_flows,
        max_flow_bytes: 70 << 10,
        max_total_bytes: LIMITS.tcp_bytes,
        ..TcpLimits::default()
    };
    c.tracker.max_pending = LIMITS.pending_queries;
    c.max_encrypted_flows = 8;
    c
}

fn topology() -> Topology {
    let facts = |name: &str| IfaceFacts { name: name.into(), up: true, ..Default::default() };
    Topology::from_facts([(0, facts("eth0")), (1, facts("wg0")), (2, facts("lo"))], &Overrides::default())
}

/// Feeds frames (link type, bytes) in order, checking bounds after each; returns the events.
fn run(frames: &[(u32, Vec<u8>)]) -> usize {
    let mut p = Pipeline::new(small_config(), topology());
    let mut out = Vec::new();
    let mut events = 0;
    for (i, (link, data)) in frames.iter().enumerate() {
        let frame = FrameRef {
            iface: (i % 3) as u32,
            ts: Ts(i as i64 * 300_000_000),
            link: LinkType(*link),
            number: i as u64 + 1,
            orig_len: data.len() as u32,
            data,
        };
        out.clear();
        p.process(frame, &mut out);
        let messages = out.iter().filter(|j| j.event.kind() != EventKind::Notice).count();
        // A frame completes at most one datagram, or the TCP messages it and earlier buffered
        // bytes hold (each at least its 2-byte length prefix).
        let bound = 4 + (data.len() + LIMITS.tcp_bytes) / 2;
        assert!(messages <= bound, "frame {i}: {messages} events");
        assert!(out.len() <= messages + 8, "frame {i}: {} notices", out.len() - messages);
        events += out.len();
        check_held(p.held());
    }
    out.clear();
    p.finish(&mut out);
    let held = p.held();
    assert_eq!((held.frag_datagrams, held.frag_bytes, held.tcp_flows, held.tcp_bytes), (0, 0, 0, 0));
    let s = p.stats();
    assert_eq!(s.frames, frames.len() as u64);
    assert_eq!(s.frame_classes.iter().sum::<u64>(), s.frames);
    events + out.len()
}

fn check_held(h: Held) {
    assert!(h.frag_datagrams <= LIMITS.frag_datagrams, "{h:?}");
    assert!(h.frag_bytes <= LIMITS.frag_bytes, "{h:?}");
    assert!(h.tcp_flows <= LIMITS.tcp_flows, "{h:?}");
    assert!(h.tcp_bytes <= LIMITS.tcp_bytes, "{h:?}");
    assert!(h.pending_queries <= LIMITS.pending_queries, "{h:?}");
}

/// The link header for `link` in front of an IP packet of `version`.
fn link_header(link: u32, v6: bool) -> Vec<u8> {
    let et: [u8; 2] = if v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
    match link {
        0 => vec![if v6 { 30 } else { 2 }, 0, 0, 0],
        108 => vec![0, 0, 0, if v6 { 24 } else { 2 }],
        1 => [&[0u8; 12][..], &[0x81, 0, 0, 7], &et].concat(),
        113 => [&[0u8; 14][..], &et].concat(),
        276 => [&et[..], &[0u8; 18]].concat(),
        _ => Vec::new(),
    }
}

/// An IP packet: version, protocol, fragment (offset in 8-byte units, more), l4 bytes.
fn ip_packet(v6: bool, proto: u8, frag: Option<(u16, bool, u16)>, l4: &[u8]) -> Vec<u8> {
    if v6 {
        let mut ext = Vec::new();
        let next = if let Some((off, more, id)) = frag {
            ext.extend_from_slice(&[proto, 0]);
            ext.extend_from_slice(&((off << 3) | u16::from(more)).to_be_bytes());
            ext.extend_from_slice(&u32::from(id).to_be_bytes());
            44
        } else {
            proto
        };
        let len = (ext.len() + l4.len()) as u16;
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&len.to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        [p, ext, l4.to_vec()].concat()
    } else {
        let (off, more, id) = frag.unwrap_or((0, false, 1));
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&((u16::from(more) << 13) | (off & 0x1fff)).to_be_bytes());
        p.extend_from_slice(&[64, proto, 0, 0, 192, 0, 2, 1, 192, 0, 2, 53]);
        [p, l4.to_vec()].concat()
    }
}

fn l4(tcp: bool, sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    if tcp {
        h.extend_from_slice(&seq.to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    } else {
        h.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        h.extend_from_slice(&[0, 0]);
    }
    [h, payload.to_vec()].concat()
}

prop_compose! {
    /// A frame built to reach deep layers: DNS ports, TCP, fragments, 443/853, Teredo, 6in4.
    fn built_frame()(
        link in prop::sample::select(vec![0u32, 1, 101, 108, 113, 228, 229, 276]),
        v6 in any::<bool>(),
        tcp in any::<bool>(),
        ports in prop::sample::select(vec![53u16, 5353, 5355, 853, 443, 3544, 8053]),
        client in prop::sample::select(vec![40000u16, 40001, 40002]),
        seq in prop::sample::select(vec![0u32, 1, 14, 100, 1000, u32::MAX - 3]),
        flags in prop::sample::select(vec![0x18u8, 0x02, 0x01, 0x04, 0x10]),
        frag in prop::option::of((0u16..16, any::<bool>(), 0u16..4)),
        payload in payload(),
        six_in_four in prop::bool::weighted(0.05),
    ) -> (u32, Vec<u8>) {
        let (sport, dport) = if seq % 2 == 0 { (client, ports) } else { (ports, client) };
        let seg = l4(tcp, sport, dport, seq, flags, &payload);
        let proto = if tcp { 6 } else { 17 };
        let mut ip = ip_packet(v6 && link != 228, proto, frag, &seg);
        if six_in_four {
            ip = ip_packet(false, 41, None, &ip_packet(true, proto, frag, &seg));
        }
        let link = if link == 229 && ip.first().is_none_or(|b| b >> 4 != 6) { 228 } else { link };
        (link, [link_header(link, ip[0] >> 4 == 6), ip].concat())
    }
}

/// A valid DNS message: header, one question of random labels.
fn dns_message() -> impl Strategy<Value = Vec<u8>> {
    (any::<u16>(), any::<bool>(), prop::collection::vec("[a-z0-9]{1,12}", 0..4), any::<u16>()).prop_map(
        |(id, response, labels, qtype)| {
            let mut m = id.to_be_bytes().to_vec();
            m.extend_from_slice(&[if response { 0x81 } else { 0x01 }, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
            for l in &labels {
                m.push(l.len() as u8);
                m.extend_from_slice(l.as_bytes());
            }
            m.push(0);
            m.extend_from_slice(&qtype.to_be_bytes());
            m.extend_from_slice(&[0, 1]);
            m
        },
    )
}

/// Payloads: random bytes, a DNS message, or several with TCP length prefixes.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        dns_message(),
        prop::collection::vec(dns_message(), 1..4).prop_map(|ms| {
            ms.iter().flat_map(|m| [&(m.len() as u16).to_be_bytes()[..], m].concat()).collect()
        }),
    ]
}

/// Random bytes on a random link type.
fn random_frame() -> impl Strategy<Value = (u32, Vec<u8>)> {
    (prop::sample::select(LINKS.to_vec()), prop::collection::vec(any::<u8>(), 0..200))
}

/// Frames of every corpus capture (each capture's link types), loaded once.
fn corpus_frames() -> &'static [(u32, Vec<u8>)] {
    static FRAMES: OnceLock<Vec<(u32, Vec<u8>)>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let dir = support::corpus().join("captures");
        let mut frames = Vec::new();
        let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let mut links = Vec::new();
            for_each_frame(&path, |input| {
                match input {
                    Input::Interfaces { ifaces, .. } => links = ifaces.iter().map(|i| i.link.0).collect(),
                    Input::Frame(f) => frames.push((links[f.iface as usize], f.data.to_vec())),
                    Input::Note { .. } => {}
                }
                Ok(())
            })
            .unwrap();
        }
        frames
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Link(u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => prop::sample::select(LINKS.to_vec()).prop_map(Mutation::Link),
    ]
}

fn mutate((mut link, mut data): (u32, Vec<u8>), muts: &[Mutation]) -> (u32, Vec<u8>) {
    for m in muts {
        match m {
            Mutation::Set(i, b) if !data.is_empty() => {
                let i = i % data.len();
                data[i] = *b;
            }
            Mutation::Truncate(n) => data.truncate(n % (data.len() + 1)),
            Mutation::Insert(i, bytes) => {
                let at = i % (data.len() + 1);
                data.splice(at..at, bytes.iter().copied());
            }
            Mutation::Link(l) => link = *l,
            Mutation::Set(..) => {}
        }
    }
    (link, data)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_frames_on_every_link_type(frames in prop::collection::vec(random_frame(), 1..40)) {
        run(&frames);
    }

    #[test]
    fn built_frames_reach_every_layer(frames in prop::collection::vec(built_frame(), 1..60)) {
        run(&frames);
    }

    #[test]
    #[ignore = "corpus: needs /work/shared/corpus"]
    fn mutated_corpus_frames(
        picks in prop::collection::vec((any::<prop::sample::Index>(), prop::collection::vec(mutation(), 0..6)), 1..30)
    ) {
        let corpus = corpus_frames();
        let frames: Vec<_> = picks.iter().map(|(i, m)| mutate(corpus[i.index(corpus.len())].clone(), m)).collect();
        run(&frames);
    }
}

/// Every corpus frame, unmutated, in one pipeline with the small limits: bounded throughout.
#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn whole_corpus_within_small_limits() {
    let frames = corpus_frames();
    let events = run(frames);
    assert!(events > 1_500, "{events}");
}

/// The built frames do reach DNS: a well-formed query on every link type gives one event.
#[test]
fn built_query_gives_an_event_on_every_link_type() {
    let q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01";
    for link in [0u32, 1, 12, 14, 101, 108, 113, 228, 229, 276] {
        let v6 = link == 229;
        let ip = ip_packet(v6, 17, None, &l4(false, 40000, 53, 0, 0, q));
        let frame = [link_header(link, v6), ip].concat();
        let mut p = Pipeline::new(small_config(), topology());
        let mut out = Vec::new();
        let f = FrameRef { iface: 0, ts: Ts(1), link: LinkType(link), number: 1, orig_len: 0, data: &frame };
        p.process(f, &mut out);
        let kinds: Vec<_> = out.iter().map(|j| j.event.kind()).collect();
        assert!(kinds.contains(&EventKind::Query), "link {link}: {kinds:?}");
    }
}

/// The frame builder is not vacuous: its frames give DNS, malformed and encrypted events and
/// reassembled fragments.
#[test]
fn built_frames_reach_dns_tcp_and_fragments() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let frames: Vec<_> = (0..600).map(|_| built_frame().new_tree(&mut runner).unwrap().current()).collect();
    let mut p = Pipeline::new(small_config(), topology());
    let mut out = Vec::new();
    for (i, (link, data)) in frames.iter().enumerate() {
        let f = FrameRef {
            iface: 0,
            ts: Ts(i as i64),
            link: LinkType(*link),
            number: i as u64,
            orig_len: 0,
            data,
        };
        p.process(f, &mut out);
    }
    let s = p.stats();
    assert!(s.events_of(EventKind::Query) + s.events_of(EventKind::Response) > 10, "{s:?}");
    assert!(s.events_of(EventKind::Malformed) > 10, "{s:?}");
    assert!(s.tcp.flows > 0, "{s:?}");
    assert!(s.frag.reassembled + s.frag.overlaps + s.frag.invalid > 0, "{s:?}");
}

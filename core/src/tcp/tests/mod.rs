//! Unit tests of DNS-over-TCP stream handling, on synthetic segments.

mod limits;
mod table;

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Msg(Vec<u8>),
    Gap(u64),
}

fn key() -> FlowKey {
    FlowKey {
        iface: 0,
        src: IpAddr::from([192, 0, 2, 1]),
        sport: 40000,
        dst: IpAddr::from([192, 0, 2, 53]),
        dport: 53,
    }
}

fn key_n(n: u16) -> FlowKey {
    FlowKey { sport: 1000 + n, ..key() }
}

/// A DNS query for `name` (A, IN) with id `id`.
pub(in crate::tcp) fn query(id: u16, name: &str) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    m
}

/// `msg` with its 2-byte length prefix.
pub(in crate::tcp) fn framed(msg: &[u8]) -> Vec<u8> {
    let mut v = (msg.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}

fn ids(got: &[Got]) -> Vec<u16> {
    got.iter()
        .filter_map(|g| match g {
            Got::Msg(m) if m.len() >= 2 => Some(u16::from_be_bytes([m[0], m[1]])),
            _ => None,
        })
        .collect()
}

fn gaps(got: &[Got]) -> Vec<u64> {
    got.iter()
        .filter_map(|g| match g {
            Got::Gap(n) => Some(*n),
            _ => None,
        })
        .collect()
}

struct T {
    s: TcpStreams,
    ts: Ts,
}

impl T {
    fn new() -> T {
        T::with(TcpLimits::default())
    }
    fn with(limits: TcpLimits) -> T {
        T { s: TcpStreams::new(limits), ts: Ts::from_millis(1_000) }
    }
    fn tick(&mut self, ms: i64) {
        self.ts = Ts(self.ts.0 + ms * 1_000_000);
    }
    fn send(&mut self, k: FlowKey, seg: Segment<'_>) -> Vec<Got> {
        let mut got = Vec::new();
        self.s.segment(self.ts, k, &seg, &mut |item| match item {
            StreamItem::Message(m) => got.push(Got::Msg(m.to_vec())),
            StreamItem::Gap { lost } => got.push(Got::Gap(lost)),
        });
        got
    }
    fn syn(&mut self, k: FlowKey, isn: u32) -> Vec<Got> {
        self.send(k, Segment { seq: isn, ack: None, syn: true, fin: false, rst: false, payload: &[] })
    }
    fn data(&mut self, k: FlowKey, seq: u32, payload: &[u8]) -> Vec<Got> {
        self.send(k, Segment { seq, ack: None, syn: false, fin: false, rst: false, payload })
    }
    fn data_ack(&mut self, k: FlowKey, seq: u32, ack: u32, payload: &[u8]) -> Vec<Got> {
        self.send(k, Segment { seq, ack: Some(ack), syn: false, fin: false, rst: false, payload })
    }
    fn fin(&mut self, k: FlowKey, seq: u32) -> Vec<Got> {
        self.send(k, Segment { seq, ack: None, syn: false, fin: true, rst: false, payload: &[] })
    }
    fn stats(&self) -> TcpStats {
        self.s.stats()
    }
}

#[test]
fn one_message_in_one_segment() {
    let mut t = T::new();
    assert!(t.syn(key(), 100).is_empty());
    let q = query(7, "example.com");
    let got = t.data(key(), 101, &framed(&q));
    assert_eq!(got, vec![Got::Msg(q)]);
    assert_eq!(t.stats().flows, 1);
    assert_eq!(t.s.buffered_bytes(), 0);
}

#[test]
fn prefix_and_body_in_separate_segments() {
    // What dnscap__dnso1tcp-bighole's client does: 2 bytes, then the message.
    let mut t = T::new();
    t.syn(key(), 0);
    let q = query(1, "google.com");
    let f = framed(&q);
    assert!(t.data(key(), 1, &f[..2]).is_empty());
    assert_eq!(t.s.buffered_bytes(), 2);
    assert_eq!(t.data(key(), 3, &f[2..]), vec![Got::Msg(q)]);
    assert_eq!(t.s.buffered_bytes(), 0);
}

#[test]
fn message_split_over_many_segments() {
    let mut t = T::new();
    t.syn(key(), 5000);
    let q = query(2, "a-rather-long-name.with.several.labels.example.org");
    let f = framed(&q);
    let mut seq = 5001u32;
    let mut got = Vec::new();
    for chunk in f.chunks(3) {
        got.extend(t.data(key(), seq, chunk));
        seq += chunk.len() as u32;
    }
    assert_eq!(got, vec![Got::Msg(q)]);
}

#[test]
fn twenty_messages_in_one_segment() {
    // suricata-verify__dns-tcp-multirequest-buffer has 20 requests in one segment.
    let mut t = T::new();
    t.syn(key(), 0);
    let mut seg = Vec::new();
    for i in 0..20 {
        seg.extend(framed(&query(i, "multi.example")));
    }
    let got = t.data(key(), 1, &seg);
    assert_eq!(ids(&got), (0..20).collect::<Vec<_>>());
}

#[test]
fn boundaries_inside_segments() {
    // dnscap__dnsotcp-manyopkts: 45-byte segments carrying 30-byte framed messages.
    let mut t = T::new();
    t.syn(key(), 0);
    let mut stream = Vec::new();
    for i in 0..3 {
        stream.extend(framed(&query(i, "google.com")));
    }
    assert_eq!(stream.len(), 90);
    assert_eq!(ids(&t.data(key(), 1, &stream[..45])), vec![0]);
    assert_eq!(ids(&t.data(key(), 46, &stream[45..])), vec![1, 2]);
}

#[test]
fn whole_retransmission_is_dropped_and_counted() {
    let mut t = T::new();
    t.syn(key(), 10);
    let f = framed(&query(3, "retrans.example"));
    assert_eq!(ids(&t.data(key(), 11, &f)), vec![3]);
    assert!(t.data(key(), 11, &f).is_empty());
    assert_eq!(t.stats().retransmissions, 1);
}

#[test]
fn partial_overlap_is_trimmed() {
    let mut t = T::new();
    t.syn(key(), 10);
    let mut stream = framed(&query(4, "one.example"));
    stream.extend(framed(&query(5, "two.example")));
    let cut = 20;
    assert_eq!(ids(&t.data(key(), 11, &stream[..cut])), Vec::<u16>::new());
    // The sender repeats from byte 10 to the end.
    assert_eq!(ids(&t.data(key(), 11 + 10, &stream[10..])), vec![4, 5]);
    assert_eq!(t.stats().retransmissions, 1);
}

#[test]
fn out_of_order_segments_are_delivered_in_order() {
    let mut t = T::new();
    t.syn(key(), 1000);
    let a = framed(&query(10, "a.example"));
    let b = framed(&query(11, "b.example"));
    let c = framed(&query(12, "c.example"));
    let sa = 1001u32;
    let sb = sa + a.len() as u32;
    let sc = sb + b.len() as u32;
    assert!(t.data(key(), sc, &c).is_empty());
    assert!(t.data(key(), sb, &b).is_empty());
    // The same out-of-order segment again: a retransmission.
    assert!(t.data(key(), sb, &b).is_empty());
    assert_eq!(ids(&t.data(key(), sa, &a)), vec![10, 11, 12]);
    assert_eq!(t.stats().gaps, 0);
    assert_eq!(t.stats().retransmissions, 1);
    assert_eq!(t.s.buffered_bytes(), 0);
}

#[test]
fn out_of_order_inside_a_message() {
    let mut t = T::new();
    t.syn(key(), 0);
    let f = framed(&query(13, "split.example.net"));
    assert!(t.data(key(), 1 + 10, &f[10..]).is_empty());
    assert_eq!(ids(&t.data(key(), 1, &f[..10])), vec![13]);
}

#[test]
fn no_syn_starting_at_a_boundary() {
    let mut t = T::new();
    let f = framed(&query(20, "midstream.example"));
    assert_eq!(ids(&t.data(key(), 777_777, &f)), vec![20]);
    assert_eq!(t.stats().resyncs, 0);
    assert_eq!(t.stats().bytes_lost, 0);
}

#[test]
fn no_syn_starting_inside_a_message() {
    let mut t = T::new();
    let mut stream = framed(&query(21, "first.example"));
    stream.extend(framed(&query(22, "second.example")));
    let start = 9; // the capture began in the middle of the first message
    let got = t.data(key(), 50, &stream[start..]);
    let lost = framed(&query(21, "first.example")).len() - start;
    assert_eq!(got, vec![Got::Gap(lost as u64), Got::Msg(query(22, "second.example"))]);
    assert_eq!(t.stats().resyncs, 1);
    assert_eq!(t.stats().bytes_lost, lost as u64);
}

#[test]
fn no_syn_prefix_alone_waits_for_more() {
    let mut t = T::new();
    let f = framed(&query(23, "wait.example"));
    assert!(t.data(key(), 9, &f[..2]).is_empty());
    assert!(t.data(key(), 11, &f[2..8]).is_empty());
    assert_eq!(ids(&t.data(key(), 17, &f[8..])), vec![23]);
    assert_eq!(t.stats().bytes_lost, 0);
}

/// dnscap__dnso1tcp-bighole in small: the capture lost segments the receiver acknowledged; after
/// the hole comes the body of a message whose prefix was lost, then a whole message.
#[test]
fn gap_acknowledged_by_peer_resyncs_on_next_prefix() {
    let mut t = T::new();
    let rev = key().reverse();
    t.syn(key(), 0);
    t.syn(rev, 9000);
    let q1 = framed(&query(30, "before.example"));
    assert_eq!(ids(&t.data(key(), 1, &q1)), vec![30]);
    let next = 1 + q1.len() as u32;
    let lost = framed(&query(31, "lost.example"));
    let orphan = query(32, "orphan.example"); // its prefix was in the lost bytes
    let whole = framed(&query(33, "after.example"));
    let hole = lost.len() as u32 + 2;
    let after = next + hole;
    // The server acknowledges everything up to the orphan body.
    t.data_ack(rev, 9001, after, &[]);
    let mut seg = orphan.clone();
    seg.extend_from_slice(&whole);
    let got = t.data(key(), after, &seg);
    assert_eq!(
        got,
        vec![Got::Gap(hole as u64), Got::Gap(orphan.len() as u64), Got::Msg(query(33, "after.example"))]
    );
    let s = t.stats();
    assert_eq!((s.gaps, s.resyncs), (1, 1));
    assert_eq!(s.bytes_lost, (hole as usize + orphan.len()) as u64);
}

#[test]
fn zero_length_segment_reveals_a_hole() {
    // bighole's server: a bare ACK whose sequence number jumped, then data after it.
    let mut t = T::new();
    let rev = key().reverse();
    t.syn(key(), 0);
    t.syn(rev, 500);
    assert!(t.data(rev, 501 + 237, &[]).is_empty());
    assert_eq!(t.stats().gaps, 0);
    t.data_ack(key(), 1, 501 + 237, &[]);
    let r = framed(&query(40, "resp.example"));
    let got = t.data(rev, 501 + 237, &r);
    assert_eq!(got, vec![Got::Gap(237), Got::Msg(query(40, "resp.example"))]);
    assert_eq!(t.stats().resyncs, 1);
}

#[test]
fn hole_given_up_after_reorder_window() {
    let mut t = T::new();
    t.syn(key(), 0);
    let a = framed(&query(50, "a.example"));
    let b = framed(&query(51, "b.example"));
    let c = framed(&query(52, "c.example"));
    let sb = 1 + a.len() as u32;
    let sc = sb + b.len() as u32;
    assert!(t.data(key(), sc, &c).is_empty());
    t.tick(500);
    let sd = sc + c.len() as u32;
    let d = framed(&query(53, "d.example"));
    assert!(t.data(key(), sd, &d).is_empty());
    t.tick(2_000);
    let e = framed(&query(54, "e.example"));
    let got = t.data(key(), sd + d.len() as u32, &e);
    assert_eq!(got[0], Got::Gap((a.len() + b.len()) as u64));
    assert_eq!(ids(&got), vec![52, 53, 54]);
    // The lost bytes turn up late: a retransmission of what was given up on.
    assert!(t.data(key(), 1, &a).is_empty());
    assert_eq!(t.stats().retransmissions, 1);
}

#[test]
fn stale_hole_flushed_without_further_segments() {
    let mut t = T::new();
    t.syn(key(), 0);
    let a = framed(&query(55, "a.example"));
    let b = framed(&query(56, "b.example"));
    assert!(t.data(key(), 1 + a.len() as u32, &b).is_empty());
    let mut got = Vec::new();
    let mut flush = |s: &mut TcpStreams, now: Ts| {
        s.flush_stale(now, &mut |k, when, item| {
            assert_eq!((*k, when), (key(), now));
            got.push(match item {
                StreamItem::Message(m) => Got::Msg(m.to_vec()),
                StreamItem::Gap { lost } => Got::Gap(lost),
            });
        })
    };
    flush(&mut t.s, Ts(t.ts.0 + 1_999_000_000));
    flush(&mut t.s, Ts(t.ts.0 + 2_000_000_000));
    assert_eq!(got, vec![Got::Gap(a.len() as u64), Got::Msg(query(56, "b.example"))]);
    assert_eq!(t.s.buffered_bytes(), 0);
}

#[test]
fn end_of_input_flushes_every_hole_at_the_last_packet_time() {
    let mut t = T::new();
    t.syn(key(), 0);
    let b = framed(&query(57, "b.example"));
    t.data(key(), 10, &b);
    t.fin(key(), 10 + b.len() as u32);
    let last = t.ts;
    let mut got = Vec::new();
    t.s.flush_stale(Ts(i64::MAX), &mut |_, when, item| {
        if let StreamItem::Message(m) = item {
            got.push((when, m.to_vec()));
        }
    });
    assert_eq!(got, vec![(last, query(57, "b.example"))]);
    // The FIN waited for the hole: the direction is closed now.
    assert!(t.data(key(), 10, &b).is_empty());
    assert_eq!(t.stats().retransmissions, 1);
}

#[test]
fn sequence_numbers_wrap() {
    let mut t = T::new();
    let isn = u32::MAX - 20;
    t.syn(key(), isn);
    let mut stream = Vec::new();
    for i in 0..4 {
        stream.extend(framed(&query(70 + i, "wrap.example")));
    }
    let mut seq = isn.wrapping_add(1);
    let mut got = Vec::new();
    // Out of order across the wrap: second half first.
    let (first, second) = stream.split_at(25);
    got.extend(t.data(key(), seq.wrapping_add(25), second));
    got.extend(t.data(key(), seq, first));
    seq = seq.wrapping_add(stream.len() as u32);
    assert!(seq < isn, "the stream crossed 2^32");
    assert_eq!(ids(&got), vec![70, 71, 72, 73]);
    assert_eq!(t.stats().gaps, 0);
}

#[test]
fn fin_closes_and_late_retransmission_is_not_a_new_stream() {
    let mut t = T::new();
    t.syn(key(), 0);
    let f = framed(&query(80, "fin.example"));
    assert_eq!(ids(&t.data(key(), 1, &f)), vec![80]);
    t.fin(key(), 1 + f.len() as u32);
    assert!(t.data(key(), 1, &f).is_empty());
    assert_eq!(t.stats().retransmissions, 1);
    assert_eq!(t.stats().flows, 1);
}

#[test]
fn fin_with_unfinished_message_counts_lost_bytes() {
    let mut t = T::new();
    t.syn(key(), 0);
    let f = framed(&query(81, "cut.example"));
    assert!(t.data(key(), 1, &f[..10]).is_empty());
    t.fin(key(), 11);
    assert_eq!(t.stats().bytes_lost, 10);
    assert_eq!(t.s.buffered_bytes(), 0);
}

#[test]
fn rst_closes_both_directions() {
    let mut t = T::new();
    let rev = key().reverse();
    t.syn(key(), 0);
    t.syn(rev, 0);
    assert!(t.data(rev, 1, &framed(&query(82, "r.example"))[..5]).is_empty());
    let rst = Segment { seq: 1, ack: Some(6), syn: false, fin: false, rst: true, payload: &[] };
    t.send(key(), rst);
    assert_eq!(t.s.buffered_bytes(), 0);
    assert_eq!(t.stats().bytes_lost, 5);
}

#[test]
fn new_syn_on_same_ports_starts_over() {
    let mut t = T::new();
    t.syn(key(), 0);
    assert!(t.data(key(), 1, &framed(&query(90, "old.example"))[..7]).is_empty());
    t.syn(key(), 123_456);
    // Retransmitted SYN: no effect.
    t.syn(key(), 123_456);
    let f = framed(&query(91, "new.example"));
    assert_eq!(ids(&t.data(key(), 123_457, &f)), vec![91]);
    assert_eq!(t.stats().bytes_lost, 7);
}

#[test]
fn syn_after_a_flow_first_seen_without_one_starts_over() {
    let mut t = T::new();
    let f = framed(&query(92, "old.example"));
    assert_eq!(ids(&t.data(key(), 5_000, &f)), vec![92]);
    t.syn(key(), 9);
    assert_eq!(ids(&t.data(key(), 10, &framed(&query(93, "new.example")))), vec![93]);
    assert_eq!(t.stats().gaps, 0);
}

#[test]
fn short_message_makes_the_parser_hunt_again() {
    let mut t = T::new();
    t.syn(key(), 0);
    let mut stream = vec![0, 3, 1, 2, 3]; // a 3-byte "message": not DNS
    stream.extend_from_slice(&[9, 9, 9]);
    stream.extend(framed(&query(110, "back.example")));
    let got = t.data(key(), 1, &stream);
    assert_eq!(got, vec![Got::Msg(vec![1, 2, 3]), Got::Gap(3), Got::Msg(query(110, "back.example"))]);
    assert_eq!(t.stats().resyncs, 1);
}

//! The tracker's table tests: pairing, timeouts, caps, and each pattern.

use super::hash::ascii_lower8;
use super::*;
use crate::event::{DnsHeader, DnsInfo, Message, Question, Wire};
use crate::topology::{IfaceFacts, Overrides};
use crate::verdict::{self, Context};
use crate::verdict::{Reason, Verdict};

const ETH: u32 = 0;
const WG: u32 = 1;
const S: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;

fn topo(wg_up: bool) -> Topology {
    let f = |name: &str, up| IfaceFacts { name: name.into(), up, has_mac: true, ..Default::default() };
    Topology::from_facts(
        [(ETH, f("eth0", true)), (WG, f("wg0", wg_up)), (2, f("lo", true))],
        &Overrides::default(),
    )
}

fn topo_without_tunnel() -> Topology {
    let f = IfaceFacts { name: "eth0".into(), up: true, has_mac: true, ..Default::default() };
    Topology::from_facts([(ETH, f)], &Overrides::default())
}

/// A DNS message as the pipeline would hand it over (before judging).
#[derive(Clone)]
struct Msg {
    ts: i64,
    iface: u32,
    response: bool,
    transport: Transport,
    proto: L4,
    src: &'static str,
    sport: u16,
    dst: &'static str,
    dport: u16,
    id: u16,
    name: &'static str,
    qtype: u16,
}

fn q(ts: i64, src: &'static str, dst: &'static str, id: u16, name: &'static str) -> Msg {
    Msg {
        ts,
        iface: ETH,
        response: false,
        transport: Transport::Dns,
        proto: L4::Udp,
        src,
        sport: 40000,
        dst,
        dport: 53,
        id,
        name,
        qtype: 1,
    }
}

/// The response to `m` (swapped endpoints), at `ts`.
fn r(m: &Msg, ts: i64) -> Msg {
    Msg { ts, response: true, src: m.dst, sport: m.dport, dst: m.src, dport: m.sport, ..m.clone() }
}

fn event(m: &Msg, topology: &Topology) -> Event {
    let name = topology.get(m.iface).map_or(IfaceName::new_static("?"), |i| i.name.clone());
    let wire = Wire {
        proto: m.proto,
        transport: m.transport,
        src: m.src.parse().unwrap(),
        sport: m.sport,
        dst: m.dst.parse().unwrap(),
        dport: m.dport,
        encap: None,
        provider: None,
    };
    let flags = if m.response { 0x8180 } else { 0x0100 };
    let header = DnsHeader { id: m.id, flags, qdcount: 1, ..Default::default() };
    let question = Some(Question { name: crate::event::QName::from_str(m.name), qtype: m.qtype, qclass: 1 });
    let kind = if m.response { MessageKind::Response } else { MessageKind::Query };
    let dns = Some(DnsInfo { header, question, payload: Box::new([]) });
    let body = Body::Message(Message { kind, wire, dns, rtt_ns: None, owner: None });
    Event { ts: Ts(m.ts), frame: 1, iface: m.iface, iface_name: name, body }
}

/// Feeds messages through verdict and tracker as the pipeline does; returns each message's
/// rtt and the notices raised.
fn run(t: &mut Tracker, topology: &Topology, msgs: &[Msg]) -> (Vec<Option<u64>>, Vec<Notice>) {
    let (mut rtts, mut notices) = (Vec::new(), Vec::new());
    for m in msgs {
        let ev = event(m, topology);
        let (v, reason) = verdict::judge(&ev, &Context { topology, tunnel_seen: true });
        let mut judged = Judged { event: ev, verdict: v, reason, cause: None };
        let mut out = Vec::new();
        t.observe(&mut judged, topology, &mut out);
        rtts.push(judged.event.as_message().and_then(|m| m.rtt_ns));
        notices.extend(out.into_iter().map(|e| e.as_notice().expect("notice events carry a notice").clone()));
    }
    (rtts, notices)
}

fn tracker() -> Tracker {
    Tracker::new(TrackerLimits::default())
}

#[test]
fn swar_lowercase_matches_std_on_every_byte() {
    for b in 0..=255u8 {
        for pos in 0..8 {
            let mut bytes = *b"Az@[`{\x80Z";
            bytes[pos] = b;
            let want = u64::from_le_bytes(bytes.map(|c| c.to_ascii_lowercase()));
            assert_eq!(ascii_lower8(u64::from_le_bytes(bytes)), want, "byte {b:#x} at {pos}");
        }
    }
}

#[test]
fn name_hash_ignores_ascii_case_only() {
    let t = tracker();
    assert_eq!(t.name_hash("WWW.Example.COM"), t.name_hash("www.example.com"));
    assert_ne!(t.name_hash("www.example.com"), t.name_hash("www.example.co"));
    assert_ne!(t.name_hash("a"), t.name_hash("a\0"));
    assert_ne!(t.name_hash(""), t.name_hash("\0"));
    assert_ne!(t.name_hash("\u{e9}"), t.name_hash("\u{c9}"), "only ASCII folds");
}

#[test]
fn pairing_table() {
    let base = q(0, "192.0.2.10", "192.0.2.1", 7, "example.com");
    let resp = r(&base, 20 * MS);
    #[rustfmt::skip]
    let cases: Vec<(&str, Msg, Option<u64>)> = vec![
        ("same key", resp.clone(), Some(20_000_000)),
        ("name in other case", Msg { name: "EXAMPLE.com", ..resp.clone() }, Some(20_000_000)),
        ("other id", Msg { id: 8, ..resp.clone() }, None),
        ("other name", Msg { name: "example.org", ..resp.clone() }, None),
        ("other type", Msg { qtype: 28, ..resp.clone() }, None),
        ("other client port", Msg { dport: 40001, ..resp.clone() }, None),
        ("other client address", Msg { dst: "192.0.2.11", ..resp.clone() }, None),
        ("other server port", Msg { sport: 5353, transport: Transport::Mdns, ..resp.clone() }, None),
        ("over tcp", Msg { proto: L4::Tcp, ..resp.clone() }, None),
        ("on another interface", Msg { iface: WG, ..resp.clone() }, None),
        ("before the timeout", Msg { ts: 5 * S, ..resp.clone() }, Some(5_000_000_000)),
        ("after the timeout", Msg { ts: 5 * S + 1, ..resp.clone() }, None),
    ];
    for (what, response, want) in cases {
        let mut t = tracker();
        let (rtts, notices) = run(&mut t, &topo(true), &[base.clone(), response]);
        assert_eq!(rtts, vec![None, want], "{what}");
        assert!(notices.is_empty(), "{what}: {notices:?}");
        let s = t.stats();
        let paired = u64::from(want.is_some());
        assert_eq!((s.paired, s.unmatched_responses), (paired, 1 - paired), "{what}");
        t.finish();
        assert_eq!(t.stats().unanswered, 1 - paired, "{what}: the query is counted once");
        assert_eq!(t.pending(), 0);
    }
}

#[test]
fn ipv6_and_tcp_pair_on_their_own_keys() {
    let mut t = tracker();
    let udp6 = q(0, "fd00::10", "fd00::1", 1, "a.example");
    let tcp = Msg { proto: L4::Tcp, ..udp6.clone() };
    let (rtts, _) = run(&mut t, &topo(true), &[udp6.clone(), tcp.clone(), r(&tcp, 3 * MS), r(&udp6, 5 * MS)]);
    assert_eq!(rtts, vec![None, None, Some(3_000_000), Some(5_000_000)]);
    assert_eq!(t.stats().paired, 2);
}

#[test]
fn a_retransmission_is_one_query_timed_from_the_first_send() {
    let mut t = tracker();
    let first = q(0, "192.0.2.10", "192.0.2.1", 7, "example.com");
    let again = Msg { ts: S, ..first.clone() };
    let (rtts, _) = run(&mut t, &topo(true), &[first.clone(), again, r(&first, 1500 * MS)]);
    assert_eq!(rtts[2], Some(1_500_000_000));
    t.finish();
    let s = t.stats();
    assert_eq!((s.paired, s.unanswered, s.unmatched_responses), (1, 0, 0));
}

#[test]
fn timeout_counts_once_and_remembers_the_query() {
    let mut t = tracker();
    let query = q(0, "192.0.2.10", "192.0.2.1", 7, "slow.example");
    run(&mut t, &topo(true), std::slice::from_ref(&query));
    t.expire(Ts(5 * S));
    assert_eq!((t.stats().unanswered, t.pending()), (0, 1), "an answer at 5 s still counts");
    t.expire(Ts(5 * S + 1));
    assert_eq!((t.stats().unanswered, t.pending()), (1, 0));
    let (rtts, notices) = run(&mut t, &topo(true), &[r(&query, 6 * S)]);
    assert_eq!(rtts, vec![None]);
    assert!(notices.is_empty());
    t.expire(Ts(100 * S));
    t.finish();
    let s = t.stats();
    assert_eq!((s.unanswered, s.unmatched_responses, s.paired), (1, 1, 0));
    let recent: Vec<_> = t.recent_unanswered().collect();
    assert_eq!(recent.len(), 1);
    let u = recent[0];
    assert_eq!(
        (&*u.name, u.qtype, u.resolver, u.port),
        ("slow.example", 1, "192.0.2.1".parse().unwrap(), 53)
    );
    assert_eq!((u.iface, &*u.iface_name, u.ts, u.transport), (ETH, "eth0", Ts(0), Transport::Dns));
}

#[test]
fn finish_counts_what_is_still_pending() {
    let mut t = tracker();
    let a = q(0, "192.0.2.10", "192.0.2.1", 1, "a.example");
    let b = q(1, "192.0.2.10", "192.0.2.1", 2, "b.example");
    run(&mut t, &topo(true), &[a.clone(), b, r(&a, 2)]);
    t.finish();
    assert_eq!((t.stats().unanswered, t.stats().paired), (1, 1));
    assert_eq!(t.recent_unanswered().map(|u| &*u.name).collect::<Vec<_>>(), ["b.example"]);
}

#[test]
fn recent_unanswered_list_is_bounded_and_keeps_the_newest() {
    let limits = TrackerLimits { max_recent_unanswered: 3, ..Default::default() };
    let mut t = Tracker::new(limits);
    let names = ["n0", "n1", "n2", "n3", "n4"];
    let msgs: Vec<Msg> =
        names.iter().enumerate().map(|(i, n)| q(i as i64, "192.0.2.10", "192.0.2.1", i as u16, n)).collect();
    run(&mut t, &topo(true), &msgs);
    t.expire(Ts(10 * S));
    assert_eq!(t.stats().unanswered, 5);
    assert_eq!(t.recent_unanswered().map(|u| &*u.name).collect::<Vec<_>>(), ["n2", "n3", "n4"]);
}

#[test]
fn pending_table_is_capped_and_evicts_the_oldest() {
    let limits = TrackerLimits { max_pending: 2, ..Default::default() };
    let mut t = Tracker::new(limits);
    let qs: Vec<Msg> = (0..3).map(|i| q(i, "192.0.2.10", "192.0.2.1", i as u16, "x.example")).collect();
    let mut msgs = qs.clone();
    msgs.extend(qs.iter().map(|m| r(m, 10)));
    let (rtts, _) = run(&mut t, &topo(true), &msgs);
    assert_eq!(&rtts[3..], [None, Some(9), Some(8)]);
    t.finish();
    let s = t.stats();
    assert_eq!((s.evicted, s.paired, s.unmatched_responses, s.unanswered), (1, 2, 1, 0));
}

#[test]
fn many_answered_queries_keep_memory_flat() {
    let limits = TrackerLimits { max_pending: 16, ..Default::default() };
    let mut t = Tracker::new(limits);
    let topology = topo(true);
    for i in 0..20_000i64 {
        let m = q(i * MS, "192.0.2.10", "192.0.2.1", i as u16, "flat.example");
        run(&mut t, &topology, &[m.clone(), r(&m, i * MS + 1)]);
    }
    assert_eq!(t.stats().paired, 20_000);
    assert!(t.slots.len() <= 1, "slots reused: {}", t.slots.len());
    assert!(t.queue.len() <= 4096 + 2, "queue compacted: {}", t.queue.len());
}

#[test]
fn queries_to_several_servers_under_one_key_pair_separately() {
    let mut t = tracker();
    let a = q(0, "192.0.2.10", "192.0.2.1", 7, "example.com");
    let b = Msg { dst: "192.0.2.2", ts: 10, ..a.clone() };
    let (rtts, notices) = run(&mut t, &topo(true), &[a.clone(), b.clone(), r(&b, 30), r(&a, 50)]);
    assert_eq!(rtts, vec![None, None, Some(20), Some(50)]);
    assert!(notices.is_empty(), "{notices:?}");
    // More servers than a key holds: the oldest is evicted.
    let mut t = tracker();
    let servers = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"];
    let msgs: Vec<Msg> = servers.iter().map(|s| Msg { dst: s, ..a.clone() }).collect();
    run(&mut t, &topo(true), &msgs);
    assert_eq!((t.stats().evicted, t.pending()), (1, 4));
}

#[test]
fn standard_mdns_is_neither_pending_nor_unmatched() {
    let mut t = tracker();
    let query = Msg {
        transport: Transport::Mdns,
        sport: 5353,
        dport: 5353,
        ..q(0, "192.0.2.10", "224.0.0.251", 0, "printer.local")
    };
    // Answers go to the group, or to port 5353 (QU), from the responder's own address.
    let to_group = Msg { response: true, src: "192.0.2.20", dst: "224.0.0.251", ..query.clone() };
    let to_port = Msg { response: true, src: "192.0.2.21", dst: "192.0.2.10", ..query.clone() };
    let (rtts, notices) = run(&mut t, &topo(true), &[query, to_group, to_port]);
    assert_eq!(rtts, vec![None, None, None]);
    assert!(notices.is_empty());
    assert_eq!(t.pending(), 0);
    t.finish();
    assert_eq!(t.stats(), PairStats::default());
}

#[test]
fn group_queries_pair_with_every_responder_and_silence_is_not_unanswered() {
    let mut t = tracker();
    let legacy = Msg {
        transport: Transport::Mdns,
        dport: 5353,
        ..q(0, "192.0.2.10", "224.0.0.251", 9, "printer.local")
    };
    let from = |src, ts| Msg { src, ..r(&legacy, ts) };
    let llmnr = Msg { transport: Transport::Llmnr, dport: 5355, ..q(0, "fe80::10", "ff02::1:3", 3, "nas") };
    let msgs = [legacy.clone(), from("192.0.2.20", 2 * MS), from("192.0.2.21", 3 * MS), llmnr];
    let (rtts, notices) = run(&mut t, &topo(true), &msgs);
    assert_eq!(rtts, vec![None, Some(2_000_000), Some(3_000_000), None]);
    assert!(notices.is_empty(), "a group query answered by anyone is no hijack: {notices:?}");
    t.expire(Ts(6 * S));
    let s = t.stats();
    assert_eq!((s.paired, s.unanswered, s.silent_multicast, s.unmatched_responses), (2, 0, 1, 0));
    assert_eq!(t.recent_unanswered().count(), 0);
}

#[test]
fn hijack_is_noticed_once_per_pair() {
    let mut t = tracker();
    let topology = topo(true);
    let ask = |ts, id| q(ts, "192.0.2.10", "192.0.2.1", id, "bank.example");
    let forged = |m: &Msg, from| Msg { src: from, ..r(m, m.ts + 5) };
    let (a, b, c) = (ask(0, 1), ask(10, 2), ask(20, 3));
    let msgs = [
        a.clone(),
        forged(&a, "203.0.113.9"),
        b.clone(),
        forged(&b, "203.0.113.9"),
        c.clone(),
        forged(&c, "203.0.113.10"),
    ];
    let (rtts, notices) = run(&mut t, &topology, &msgs);
    assert_eq!(rtts, vec![None, Some(5), None, Some(5), None, Some(5)], "still an answer");
    let want = |from: &str| Notice::Hijack {
        asked: "192.0.2.1".parse().unwrap(),
        answered_from: from.parse().unwrap(),
        name: "bank.example".into(),
    };
    assert_eq!(notices, vec![want("203.0.113.9"), want("203.0.113.10")]);
    // Forgotten after a quiet hour, then noticed again.
    t.expire(Ts(3_700 * S));
    let d = ask(3_700 * S, 4);
    let (_, again) = run(&mut t, &topology, &[d.clone(), forged(&d, "203.0.113.9")]);
    assert_eq!(again, vec![want("203.0.113.9")]);
}

#[test]
fn hijack_table_is_bounded() {
    let limits = TrackerLimits { max_hijack_pairs: 2, ..Default::default() };
    let mut t = Tracker::new(limits);
    let froms = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.1"];
    for (i, from) in froms.iter().enumerate() {
        let m = q(i as i64, "192.0.2.10", "192.0.2.1", i as u16, "x.example");
        let (_, n) = run(&mut t, &topo(true), &[m.clone(), Msg { src: from, ..r(&m, i as i64 + 1) }]);
        assert_eq!(n.len(), 1, "{from}: the first pair was forgotten to make room");
        assert!(t.hijacks.len() <= 2);
    }
}

/// The pair forgotten to make room is the one seen least recently (found without a scan
/// of the table, issue #13).
#[test]
fn hijack_table_forgets_the_least_recently_seen_pair() {
    let limits = TrackerLimits { max_hijack_pairs: 2, ..Default::default() };
    let mut t = Tracker::new(limits);
    let froms = ["203.0.113.1", "203.0.113.2", "203.0.113.1", "203.0.113.3", "203.0.113.1"];
    let mut noticed = Vec::new();
    for (i, from) in froms.iter().enumerate() {
        let m = q(i as i64, "192.0.2.10", "192.0.2.1", i as u16, "x.example");
        let (_, n) = run(&mut t, &topo(true), &[m.clone(), Msg { src: from, ..r(&m, i as i64 + 1) }]);
        noticed.push(n.len());
    }
    assert_eq!(noticed, [1, 1, 0, 1, 0], ".1 was seen again, so .2 made room for .3");
}

#[test]
fn mismatched_unicast_mdns_is_paired_without_a_hijack() {
    let mut t = tracker();
    let m =
        Msg { transport: Transport::Mdns, dport: 5353, ..q(0, "192.0.2.10", "192.0.2.20", 1, "tv.local") };
    let (rtts, notices) = run(&mut t, &topo(true), &[m.clone(), Msg { src: "192.0.2.21", ..r(&m, 4) }]);
    assert_eq!(rtts[1], Some(4));
    assert!(notices.is_empty());
}

fn parallel(name: &str, tunnel: &str, outside: &str) -> Notice {
    Notice::ParallelResolution { name: name.into(), tunnel: tunnel.into(), outside: outside.into() }
}

#[test]
fn parallel_resolution_table() {
    let inside = |ts, name| Msg { iface: WG, ..q(ts, "10.2.0.2", "10.2.0.1", 1, name) };
    let outside = |ts, name| q(ts, "192.0.2.10", "192.0.2.1", 2, name);
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<Msg>, Vec<Notice>)> = vec![
        ("tunnel then outside", vec![inside(0, "a.example"), outside(300 * MS, "a.example")],
         vec![parallel("a.example", "wg0", "eth0")]),
        ("outside then tunnel", vec![outside(0, "a.example"), inside(S, "a.example")],
         vec![parallel("a.example", "wg0", "eth0")]),
        ("case differs", vec![outside(0, "A.Example"), inside(10, "a.example")],
         vec![parallel("a.example", "wg0", "eth0")]),
        ("too far apart", vec![inside(0, "a.example"), outside(S + 1, "a.example")], vec![]),
        ("other names", vec![inside(0, "a.example"), outside(10, "b.example")], vec![]),
        ("both inside", vec![inside(0, "a.example"), inside(10, "a.example")], vec![]),
        ("once per window", vec![
            inside(0, "a.example"), outside(10, "a.example"), inside(20, "a.example"),
            outside(30, "a.example"), outside(S, "a.example"), inside(S + 10, "a.example"),
        ], vec![parallel("a.example", "wg0", "eth0"), parallel("a.example", "wg0", "eth0")]),
        ("multicast outside is no leak", vec![
            inside(0, "a.example"),
            Msg { transport: Transport::Llmnr, dport: 5355, ..q(10, "192.0.2.10", "224.0.0.252", 3, "a.example") },
        ], vec![]),
    ];
    for (what, msgs, want) in cases {
        let mut t = tracker();
        let (_, notices) = run(&mut t, &topo(true), &msgs);
        assert_eq!(notices, want, "{what}");
    }
}

#[test]
fn parallel_names_table_is_bounded_and_expires() {
    let limits = TrackerLimits { max_names: 2, ..Default::default() };
    let mut t = Tracker::new(limits);
    let topology = topo(true);
    let outside = |ts, name| q(ts, "192.0.2.10", "192.0.2.1", 2, name);
    run(&mut t, &topology, &[outside(0, "a"), outside(1, "b"), outside(2, "c")]);
    assert_eq!(t.names.len(), 2, "full: c is not remembered");
    assert_eq!(t.stats().names_dropped, 1, "and that is counted");
    t.expire(Ts(3 * S));
    assert!(t.names.is_empty());
    let (_, n) = run(&mut t, &topology, &[outside(3 * S, "c"), Msg { iface: WG, ..outside(3 * S + 1, "c") }]);
    assert_eq!(n, vec![parallel("c", "wg0", "eth0")]);
    assert!(t.names.len() <= 2);
}

#[test]
fn no_tunnel_known_means_no_parallel_bookkeeping() {
    let mut t = tracker();
    run(&mut t, &topo_without_tunnel(), &[q(0, "192.0.2.10", "192.0.2.1", 2, "a")]);
    assert!(t.names.is_empty());
}

#[test]
fn kill_switch_failed_once_per_outage() {
    let mut t = tracker();
    let leak = |ts| q(ts, "192.0.2.10", "192.0.2.1", ts as u16, "a.example");
    let down = topo(false);
    let up = topo(true);
    let ks = || Notice::KillSwitchFailed { iface: "eth0".into() };
    let (_, n) = run(&mut t, &up, &[leak(0)]);
    assert!(n.is_empty(), "tunnel up: a leak, not a failed kill switch");
    t.topology_changed(&down);
    let (_, n) = run(&mut t, &down, &[leak(1), leak(2), r(&leak(2), 3)]);
    assert_eq!(n, vec![ks()], "once per outage, and only for what leaves");
    t.topology_changed(&up);
    t.topology_changed(&down);
    let (_, n) = run(&mut t, &down, &[leak(4), leak(5)]);
    assert_eq!(n, vec![ks()], "a new outage");
    let loopback = Msg { iface: 2, ..q(6, "127.0.0.1", "127.0.0.53", 1, "a.example") };
    let mut fresh = tracker();
    let (_, n) = run(&mut fresh, &down, &[loopback]);
    assert!(n.is_empty(), "loopback is not a physical interface");
}

#[test]
fn kill_switch_needs_a_tunnel_seen_before() {
    let mut t = tracker();
    let topology = topo_without_tunnel();
    let ev = event(&q(0, "192.0.2.10", "192.0.2.1", 1, "a"), &topology);
    let (v, reason) = verdict::judge(&ev, &Context { topology: &topology, tunnel_seen: false });
    let mut judged = Judged { event: ev, verdict: v, reason, cause: None };
    let mut out = Vec::new();
    t.observe(&mut judged, &topology, &mut out);
    assert!(out.is_empty());
}

#[test]
fn encrypted_flows_and_malformed_messages_are_ignored() {
    let mut t = tracker();
    let topology = topo(true);
    let query = event(&q(0, "192.0.2.10", "192.0.2.1", 1, "a"), &topology);
    let Body::Message(msg) = &query.body else { unreachable!() };
    let flow = Body::Flow(crate::event::Flow { wire: msg.wire, sni: None, owner: None });
    let malformed = Body::Message(Message {
        kind: MessageKind::Malformed(crate::event::Malformed::NotDns),
        ..msg.clone()
    });
    for body in [flow, malformed] {
        let ev = Event { body, ..query.clone() };
        let mut judged =
            Judged { event: ev, verdict: Some(Verdict::Bypass), reason: Reason::Notice, cause: None };
        let mut out = Vec::new();
        t.observe(&mut judged, &topology, &mut out);
        assert!(out.is_empty());
    }
    assert_eq!(t.pending(), 0);
}

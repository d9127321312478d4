//! The flow table under load: who is evicted, what expires, which holes are given up, and
//! that none of it walks the table (issue #13).

use super::*;

/// A flow that holds `n` bytes of an unfinished message.
fn holding(t: &mut T, k: FlowKey, n: usize) {
    t.syn(k, 0);
    t.data(k, 1, &framed(&query(1, "partial.example"))[..n]);
}

#[test]
fn byte_cap_evicts_the_least_recently_seen_flow_that_holds_bytes() {
    let limits = TcpLimits { max_total_bytes: 100, ..TcpLimits::default() };
    let mut t = T::with(limits);
    // Many flows that hold nothing come first: they are not what the byte cap evicts.
    for n in 0..1_000 {
        t.syn(key_n(n), 0);
    }
    for n in 1_000..1_003 {
        holding(&mut t, key_n(n), 30);
    }
    // 1,000 is seen again: 1,001 is now the least recently seen flow holding bytes.
    t.data(key_n(1_000), 31, &[]);
    holding(&mut t, key_n(1_003), 30);
    assert_eq!(t.stats().flows_evicted, 1);
    assert_eq!(t.s.flow_count(), 1_003);
    assert_eq!(t.s.buffered_bytes(), 90);
    let f = framed(&query(1, "partial.example"));
    assert_eq!(ids(&t.data(key_n(1_000), 31, &f[30..])), vec![1], "1,000 kept its bytes");
    assert!(ids(&t.data(key_n(1_001), 31, &f[30..])).is_empty(), "1,001 lost its bytes");
}

#[test]
fn flow_cap_evicts_closed_flows_first_then_the_least_recently_seen() {
    let limits = TcpLimits { max_flows: 4, ..TcpLimits::default() };
    let mut t = T::with(limits);
    for n in 0..4 {
        t.syn(key_n(n), 0);
    }
    t.fin(key_n(2), 1);
    t.data(key_n(0), 1, &[]);
    t.syn(key_n(4), 0);
    assert!(t.s.flows.get(&key_n(2)).is_none(), "the closed flow went first");
    t.syn(key_n(5), 0);
    assert!(t.s.flows.get(&key_n(1)).is_none(), "then the least recently seen");
    assert!(t.s.flows.get(&key_n(0)).is_some(), "0 was seen after 1");
    assert_eq!(t.stats().flows_evicted, 2);
}

#[test]
fn expiry_takes_closed_flows_after_their_linger_and_open_ones_after_the_idle_time() {
    let mut t = T::new();
    t.syn(key_n(0), 0);
    t.syn(key_n(1), 0);
    t.fin(key_n(1), 1);
    holding(&mut t, key_n(2), 10);
    t.s.expire(Ts(t.ts.0 + CLOSED_LINGER_NS as i64));
    assert_eq!(t.s.flow_count(), 2, "the closed flow lingered 10 s");
    t.s.expire(Ts(t.ts.0 + 120_000_000_000));
    assert_eq!(t.s.flow_count(), 0);
    assert_eq!(t.stats().flows_expired, 2);
    assert_eq!(t.s.buffered_bytes(), 0);
}

#[test]
fn stale_holes_are_given_up_oldest_first_and_filled_ones_are_skipped() {
    let mut t = T::new();
    let b = framed(&query(2, "b.example"));
    for n in 0..3 {
        t.syn(key_n(n), 0);
    }
    for n in [2, 0, 1] {
        t.data(key_n(n), 100, &b);
        t.tick(100);
    }
    // Flow 0's hole is filled: its entry in the hole queue is stale.
    let a = framed(&query(1, "a.example"));
    let mut filler = a.clone();
    filler.resize(99, 0);
    filler[..2].copy_from_slice(&(97u16).to_be_bytes());
    t.data(key_n(0), 1, &filler);
    let mut order = Vec::new();
    t.s.flush_stale(Ts(t.ts.0 + 3_000_000_000), &mut |k, _, item| {
        if let StreamItem::Message(_) = item {
            order.push(k.sport - 1000);
        }
    });
    assert_eq!(order, vec![2, 1]);
    assert_eq!(t.s.holes.len(), 0);
}

#[test]
fn a_flood_of_flows_with_holes_keeps_the_hole_queue_bounded() {
    let limits = TcpLimits { max_flows: 64, ..TcpLimits::default() };
    let mut t = T::with(limits);
    let b = framed(&query(2, "b.example"));
    for n in 0..10_000 {
        t.syn(key_n(n), 0);
        t.data(key_n(n), 50, &b);
        assert!(t.s.holes.len() <= 2 * 64 + 65, "{} entries", t.s.holes.len());
    }
    let mut delivered = 0;
    t.s.flush_stale(Ts(i64::MAX), &mut |_, _, item| {
        delivered += matches!(item, StreamItem::Message(_)) as u32
    });
    assert_eq!(delivered, 64, "every flow still held gives up its hole once");
    assert_eq!(t.stats().flows_evicted, 10_000 - 64);
}

//! The stream table's limits: per-flow and total memory caps, out-of-order budget, eviction
//! and expiry in trace time, and random input held within all of them.

use super::*;

#[test]
fn hole_given_up_when_budget_exceeded() {
    let limits = TcpLimits { max_flow_bytes: 200, ..TcpLimits::default() };
    let mut t = T::with(limits);
    t.syn(key(), 0);
    let lost = framed(&query(60, "lost.example"));
    let mut seq = 1 + lost.len() as u32;
    let mut got = Vec::new();
    for i in 0..10 {
        let f = framed(&query(61 + i, "queued.example"));
        got.extend(t.data(key(), seq, &f));
        seq += f.len() as u32;
    }
    assert_eq!(gaps(&got), vec![lost.len() as u64]);
    assert_eq!(ids(&got), (61..71).collect::<Vec<_>>());
    assert!(t.s.buffered_bytes() <= 200);
}

#[test]
fn too_many_out_of_order_segments() {
    let mut t = T::new();
    t.syn(key(), 0);
    let mut seq = 100u32;
    let mut got = Vec::new();
    for i in 0..(MAX_OOO_SEGMENTS as u16 + 1) {
        let f = framed(&query(i, "x.example"));
        got.extend(t.data(key(), seq, &f));
        seq += f.len() as u32 + 1; // a one-byte hole before each
    }
    // The first hole (99 bytes) is given up to stay within the segment cap; the rest wait.
    assert_eq!(gaps(&got), vec![99]);
    assert_eq!(ids(&got), vec![0]);
    let f = framed(&query(0, "x.example"));
    assert_eq!(t.s.buffered_bytes(), MAX_OOO_SEGMENTS * f.len());
}

#[test]
fn message_larger_than_flow_cap_is_dropped_then_resynced() {
    let limits = TcpLimits { max_flow_bytes: 64, ..TcpLimits::default() };
    let mut t = T::with(limits);
    t.syn(key(), 0);
    let big = framed(&query(100, &format!("{}.{}", "a".repeat(60), "b".repeat(60))));
    assert!(big.len() > 64);
    let small = framed(&query(101, "s.example"));
    let mut stream = big.clone();
    stream.extend_from_slice(&small);
    let mut got = Vec::new();
    let mut seq = 1u32;
    for chunk in stream.chunks(30) {
        got.extend(t.data(key(), seq, chunk));
        seq += chunk.len() as u32;
        assert!(t.s.buffered_bytes() <= 64);
    }
    assert_eq!(ids(&got), vec![101]);
    assert!(!gaps(&got).is_empty());
}

#[test]
fn total_cap_evicts_oldest_flows() {
    let limits = TcpLimits { max_total_bytes: 100, ..TcpLimits::default() };
    let mut t = T::with(limits);
    for n in 0..10 {
        t.syn(key_n(n), 0);
        t.data(key_n(n), 1, &framed(&query(n, "partial.example"))[..30]);
        assert!(t.s.buffered_bytes() <= 100);
    }
    assert_eq!(t.stats().flows_evicted, 7);
    assert_eq!(t.s.buffered_bytes(), 90);
    // The newest flow still works.
    let f = framed(&query(9, "partial.example"));
    assert_eq!(ids(&t.data(key_n(9), 31, &f[30..])), vec![9]);
}

#[test]
fn flow_cap_evicts_oldest_flow() {
    let limits = TcpLimits { max_flows: 4, ..TcpLimits::default() };
    let mut t = T::with(limits);
    for n in 0..6 {
        t.syn(key_n(n), 0);
    }
    assert_eq!(t.s.flow_count(), 4);
    assert_eq!(t.stats().flows_evicted, 2);
    assert_eq!(t.stats().flows, 6);
}

#[test]
fn idle_flows_expire_in_trace_time() {
    let mut t = T::new();
    t.syn(key(), 0);
    t.data(key(), 1, &[0, 40, 1, 2]);
    t.s.expire(Ts(t.ts.0 + 119_000_000_000));
    assert_eq!(t.s.flow_count(), 1);
    t.s.expire(Ts(t.ts.0 + 121_000_000_000));
    assert_eq!(t.s.flow_count(), 0);
    assert_eq!(t.stats().flows_expired, 1);
    assert_eq!(t.stats().bytes_lost, 4);
    assert_eq!(t.s.buffered_bytes(), 0);
}

#[test]
fn bare_acks_of_unknown_flows_create_nothing() {
    let mut t = T::new();
    t.data_ack(key(), 5, 6, &[]);
    t.fin(key(), 5);
    assert_eq!(t.s.flow_count(), 0);
}

/// Random segments, flags and sequence numbers: no panic, memory within the caps, and output
/// bounded by the input.
#[test]
fn random_segments_stay_within_bounds() {
    let limits =
        TcpLimits { max_flows: 8, max_flow_bytes: 2048, max_total_bytes: 8192, ..TcpLimits::default() };
    let mut t = T::with(limits);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let good = framed(&query(1, "noise.example"));
    let mut delivered = 0usize;
    let mut input = 0usize;
    for _ in 0..20_000 {
        let r = next();
        let k = key_n((r % 12) as u16);
        let len = (r >> 8) as usize % 300;
        let mut payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if r & 0x10000 != 0 && len >= good.len() {
            payload[..good.len()].copy_from_slice(&good);
        }
        let seq = if r & 0x20000 != 0 { (next() % 4096) as u32 } else { next() as u32 };
        let seg = Segment {
            seq,
            ack: (r & 0x40000 != 0).then(|| next() as u32 % 4096),
            syn: r % 97 == 0,
            fin: r % 89 == 0,
            rst: r % 83 == 0,
            payload: &payload,
        };
        input += len;
        t.tick((r % 300) as i64);
        delivered += t.send(k, seg).iter().filter(|g| matches!(g, Got::Msg(_))).count();
        assert!(t.s.buffered_bytes() <= 8192);
        assert!(t.s.flow_count() <= 8);
        if r % 1000 == 0 {
            t.s.expire(t.ts);
        }
    }
    assert!(delivered * 2 <= input);
}

//! Reassembly rules: order, sizes, overlaps, limits, time.

use super::*;
use crate::ip::FragInfo;

const A: [u8; 4] = [192, 0, 2, 1];
const B: [u8; 4] = [198, 51, 100, 1];

fn frag(id: u32, offset: u32, more: bool, payload: &[u8]) -> IpPacket<'_> {
    IpPacket {
        src: IpAddr::from(A),
        dst: IpAddr::from(B),
        proto: 17,
        payload,
        frag: Some(FragInfo { id, offset, more }),
    }
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Splits `whole` into fragments of `size` bytes: (offset, more, bytes).
fn split(whole: &[u8], size: usize) -> Vec<(u32, bool, &[u8])> {
    let n = whole.len().div_ceil(size);
    (0..n)
        .map(|i| ((i * size) as u32, i + 1 < n, &whole[i * size..((i + 1) * size).min(whole.len())]))
        .collect()
}

fn feed(d: &mut Defrag, id: u32, parts: &[(u32, bool, &[u8])]) -> Vec<Reassembled> {
    parts.iter().filter_map(|&(o, m, b)| d.push(Ts(1), 0, &frag(id, o, m, b))).collect()
}

#[test]
fn in_order_24_byte_fragments() {
    let whole = data(190);
    let mut d = Defrag::new(FragLimits::default());
    let got = feed(&mut d, 1, &split(&whole, 24));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, whole);
    assert_eq!(got[0].proto, 17);
    assert_eq!(d.stats().reassembled, 1);
    assert_eq!(d.pending(), (0, 0));
}

#[test]
fn out_of_order_completes_on_the_last_missing_piece() {
    let whole = data(1000);
    let mut parts = split(&whole, 8 * 17);
    parts.reverse();
    parts.swap(2, 5);
    let mut d = Defrag::new(FragLimits::default());
    let got = feed(&mut d, 9, &parts);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, whole);
}

#[test]
fn duplicates_and_overlaps_first_wins() {
    let whole = data(64);
    let mut d = Defrag::new(FragLimits::default());
    assert!(d.push(Ts(1), 0, &frag(3, 0, true, &whole[..32])).is_none());
    // duplicate of the first fragment
    assert!(d.push(Ts(1), 0, &frag(3, 0, true, &whole[..32])).is_none());
    // overlapping fragment with different bytes for 16..32: ignored there, fills 32..48
    let mut evil = vec![0xee; 16];
    evil.extend_from_slice(&whole[32..48]);
    assert!(d.push(Ts(1), 0, &frag(3, 16, true, &evil)).is_none());
    let got = d.push(Ts(1), 0, &frag(3, 48, false, &whole[48..])).unwrap();
    assert_eq!(got.payload, whole, "bytes held first are kept");
    assert_eq!(d.stats().overlaps, 2);
}

#[test]
fn inconsistent_fragments_are_invalid() {
    let mut d = Defrag::new(FragLimits::default());
    let x = [1u8; 16];
    assert!(d.push(Ts(1), 0, &frag(4, 16, false, &x)).is_none()); // end 32
    assert!(d.push(Ts(1), 0, &frag(4, 32, true, &x)).is_none()); // past the end
    assert!(d.push(Ts(1), 0, &frag(4, 0, false, &x)).is_none()); // a second, different end
    assert_eq!(d.stats().invalid, 2);
    // beyond 65,535 bytes
    assert!(d.push(Ts(1), 0, &frag(5, 65_528, true, &x)).is_none());
    assert_eq!(d.stats().invalid, 3);
    // the datagram still completes from its valid fragments
    assert_eq!(d.push(Ts(1), 0, &frag(4, 0, true, &x)).unwrap().payload.len(), 32);
}

#[test]
fn largest_datagram_is_reassembled() {
    let whole = data(MAX_DATAGRAM);
    let mut d = Defrag::new(FragLimits::default());
    let got = feed(&mut d, 6, &split(&whole, 1480));
    assert_eq!(got[0].payload.len(), MAX_DATAGRAM);
}

#[test]
fn keys_keep_datagrams_apart() {
    let mut d = Defrag::new(FragLimits::default());
    let (a, b) = ([1u8; 8], [2u8; 8]);
    assert!(d.push(Ts(1), 0, &frag(7, 0, true, &a)).is_none());
    assert!(d.push(Ts(1), 1, &frag(7, 8, false, &b)).is_none(), "other interface");
    assert!(d.push(Ts(1), 0, &frag(8, 8, false, &b)).is_none(), "other id");
    let mut other_proto = frag(7, 8, false, &b);
    other_proto.proto = 6;
    assert!(d.push(Ts(1), 0, &other_proto).is_none(), "other protocol");
    assert_eq!(d.push(Ts(1), 0, &frag(7, 8, false, &b)).unwrap().payload, [a, b].concat());
}

#[test]
fn ipv6_takes_the_protocol_of_the_first_fragment() {
    let mut d = Defrag::new(FragLimits::default());
    let v6 = |offset, more, proto, payload| IpPacket {
        src: "fd00::1".parse().unwrap(),
        dst: "fd00::2".parse().unwrap(),
        proto,
        payload,
        frag: Some(FragInfo { id: 1, offset, more }),
    };
    assert!(d.push(Ts(1), 0, &v6(8, false, 59, &[2; 8])).is_none());
    let got = d.push(Ts(1), 0, &v6(0, true, 17, &[1; 8])).unwrap();
    assert_eq!(got.proto, 17);
}

#[test]
fn timeout_in_trace_time() {
    let limits = FragLimits { timeout_ns: 1_000, ..Default::default() };
    let mut d = Defrag::new(limits);
    assert!(d.push(Ts(100), 0, &frag(1, 0, true, &[0; 8])).is_none());
    d.expire(Ts(1_100));
    assert_eq!(d.pending().0, 1, "not yet");
    d.expire(Ts(1_101));
    assert_eq!((d.pending(), d.stats().timed_out), ((0, 0), 1));
    // the late last fragment starts a new datagram, which end of input gives up
    assert!(d.push(Ts(2_000), 0, &frag(1, 8, false, &[0; 8])).is_none());
    d.expire(Ts(i64::MAX));
    assert_eq!((d.pending(), d.stats().timed_out), ((0, 0), 2));
}

#[test]
fn datagram_cap_evicts_the_oldest() {
    let limits = FragLimits { max_datagrams: 3, ..Default::default() };
    let mut d = Defrag::new(limits);
    for id in 0..5 {
        assert!(d.push(Ts(1), 0, &frag(id, 0, true, &[0; 8])).is_none());
    }
    assert_eq!(d.pending().0, 3);
    assert_eq!(d.stats().evicted, 2);
    // the newest survive: id 4 completes
    assert!(d.push(Ts(1), 0, &frag(4, 8, false, &[0; 8])).is_some());
    assert!(d.push(Ts(1), 0, &frag(0, 8, false, &[0; 8])).is_none(), "id 0 was evicted");
}

#[test]
fn byte_cap_holds() {
    let limits = FragLimits { max_bytes: 100_000, ..Default::default() };
    let mut d = Defrag::new(limits);
    for id in 0..50 {
        let _ = d.push(Ts(1), 0, &frag(id, 60_000, true, &[0; 8]));
        assert!(d.pending().1 <= 100_000);
    }
    assert!(d.stats().evicted >= 48);
    // a datagram that grows after creation is also kept within the cap
    let mut d = Defrag::new(limits);
    for id in 0..3 {
        let _ = d.push(Ts(1), 0, &frag(id, 0, true, &[0; 8]));
    }
    let _ = d.push(Ts(1), 0, &frag(0, 65_000, true, &[0; 8]));
    let _ = d.push(Ts(1), 0, &frag(1, 65_000, true, &[0; 8]));
    assert!(d.pending().1 <= 100_000);
}

#[test]
fn many_holes_are_bounded() {
    let mut d = Defrag::new(FragLimits::default());
    for i in 0..(MAX_HOLES as u32 + 10) {
        let _ = d.push(Ts(1), 0, &frag(1, i * 16, true, &[0; 8]));
    }
    assert!(d.stats().invalid >= 10);
}

proptest::proptest! {
    /// Fragments of one datagram in any order, overlapping, each with bytes of its own: the
    /// datagram completes exactly when every byte is held, with each byte from the first
    /// fragment that covered it (checked against a byte-by-byte model of the rules).
    #[test]
    fn overlapping_fragments_first_wins_against_a_model(
        len in 1usize..400,
        last_start in 0usize..400,
        parts in proptest::collection::vec((0usize..400, 0usize..120), 0..40),
    ) {
        let last_start = last_start % len;
        let mut frags: Vec<(usize, usize, bool)> =
            parts.into_iter().map(|(s, l)| (s % len, ((s % len) + l).min(len), true)).collect();
        let at = frags.len() / 2;
        frags.insert(at, (last_start, len, false));
        let mut d = Defrag::new(FragLimits::default());
        let mut model: Vec<Option<u8>> = vec![None; len];
        let mut got = None;
        let mut final_seen = false;
        for (n, &(s, e, more)) in frags.iter().enumerate() {
            let bytes: Vec<u8> = (s..e).map(|i| (n * 31 + i) as u8).collect();
            let out = d.push(Ts(1), 0, &frag(7, s as u32, more, &bytes));
            for (i, b) in (s..e).zip(&bytes) {
                model[i].get_or_insert(*b);
            }
            final_seen |= !more;
            let complete = final_seen && model.iter().all(Option::is_some);
            proptest::prop_assert_eq!(out.is_some(), complete && got.is_none(), "fragment {}", n);
            if let Some(r) = out {
                got = Some(r.payload);
            }
        }
        if let Some(payload) = got {
            let want: Vec<u8> = model.iter().map(|b| b.unwrap_or(0)).collect();
            proptest::prop_assert_eq!(payload, want);
        }
    }
}

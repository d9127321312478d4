//! `Pipeline::process` over arbitrary bytes and link types, several frames per input so that
//! fragment reassembly, TCP streams and pairing keep state between frames.
//!
//! Input: records of [link selector (1 byte)] [length (2 bytes, big-endian)] [frame bytes].
#![no_main]

use dnsleak_core::{Config, FrameRef, IfaceFacts, LinkType, Overrides, Pipeline, Topology, Ts};
use libfuzzer_sys::fuzz_target;

const LINKS: [u32; 12] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147, 65535];

fuzz_target!(|data: &[u8]| {
    let facts = |name: &str| IfaceFacts { name: name.into(), up: true, ..Default::default() };
    let topo = Topology::from_facts([(0, facts("eth0")), (1, facts("wg0"))], &Overrides::default());
    let mut p = Pipeline::new(Config::new(), topo);
    let mut out = Vec::new();
    let mut rest = data;
    let mut n = 0u64;
    while let [sel, hi, lo, tail @ ..] = rest {
        let len = (usize::from(*hi) << 8 | usize::from(*lo)).min(tail.len());
        let (frame, next) = tail.split_at(len);
        rest = next;
        n += 1;
        let link = LinkType(LINKS[usize::from(*sel) % LINKS.len()]);
        let f = FrameRef { iface: u32::from(*sel >> 7), ts: Ts(n as i64 * 100_000_000), link, number: n, orig_len: len as u32, data: frame };
        p.process(f, &mut out);
        assert!(out.len() < 100_000);
        out.clear();
    }
    p.finish(&mut out);
    let held = p.held();
    assert_eq!((held.frag_datagrams, held.tcp_flows), (0, 0));
});

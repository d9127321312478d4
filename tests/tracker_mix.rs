//! Pairing and patterns on the built-in traffic mix through the whole pipeline: the tracker's
//! counters add up against the events, responses carry their response time, and the patterns
//! the mix holds (a name asked through wg0 and by eth0 within a second) are noticed once per
//! name and window.

use std::collections::HashMap;

use dnsleak::app::bench::mix::{self, Mix};
use dnsleak_core::{Config, EventKind, FrameRef, Judged, Notice, Pipeline, Transport, Verdict};

fn run(packets: u64, seed: u64) -> (Pipeline, Vec<Judged>) {
    let m = Mix::generate(packets, seed);
    let mut p = Pipeline::new(Config::new(), mix::topology());
    let mut out = Vec::new();
    for (i, (ts, iface, link, data)) in m.packets().enumerate() {
        let frame = FrameRef { iface, ts, link, number: i as u64 + 1, orig_len: data.len() as u32, data };
        p.process(frame, &mut out);
    }
    p.finish(&mut out);
    (p, out)
}

fn transport(j: &Judged) -> Option<Transport> {
    j.event.wire().map(|w| w.transport)
}

fn rtt(j: &Judged) -> Option<u64> {
    j.event.as_message()?.rtt_ns
}

#[test]
fn responses_are_paired_and_counters_add_up() {
    let (p, events) = run(20_000, 11);
    let s = p.stats().pairs;
    let unicast_responses = events
        .iter()
        .filter(|j| j.event.kind() == EventKind::Response && transport(j) != Some(Transport::Mdns))
        .count() as u64;
    let with_rtt = events.iter().filter(|j| rtt(j).is_some()).count() as u64;
    assert_eq!(with_rtt, s.paired, "every pairing gives one response its rtt");
    assert_eq!(s.paired + s.unmatched_responses, unicast_responses, "{s:?}");
    assert!(s.paired * 100 >= unicast_responses * 99, "nearly all answers pair: {s:?}");
    // The mix leaves about 1 % of unicast queries unanswered, and 70 % of LLMNR queries silent.
    let unicast_queries = events
        .iter()
        .filter(|j| j.event.kind() == EventKind::Query && transport(j) == Some(Transport::Dns))
        .count() as u64;
    assert!(s.unanswered > 0 && s.unanswered * 100 < unicast_queries * 3, "{s:?} of {unicast_queries}");
    assert!(s.silent_multicast > 0, "{s:?}");
    assert_eq!(s.evicted, 0);
    assert_eq!(p.recent_unanswered().count(), 64.min(s.unanswered as usize));
    for j in &events {
        if let Some(rtt) = rtt(j) {
            assert!(rtt <= 5_000_000_000, "within the timeout: {rtt}");
        }
    }
}

#[test]
fn patterns_in_the_mix_are_noticed_once_per_name_and_window() {
    let (_, events) = run(20_000, 12);
    let mut last: HashMap<String, i64> = HashMap::new();
    let mut parallel = 0;
    for j in &events {
        match j.event.as_notice() {
            Some(Notice::ParallelResolution { name, tunnel, outside }) => {
                assert_eq!((&**tunnel, &**outside), ("wg0", "eth0"));
                if let Some(prev) = last.insert(name.to_string(), j.event.ts.0) {
                    assert!(j.event.ts.0 - prev >= 1_000_000_000, "{name} noticed twice within a window");
                }
                parallel += 1;
            }
            Some(n @ Notice::Hijack { .. }) => panic!("the mix holds no hijack: {n:?}"),
            Some(Notice::KillSwitchFailed { .. }) => panic!("wg0 stays up in the mix"),
            _ => {}
        }
    }
    assert!(parallel > 0, "popular names are asked inside and outside the tunnel");
    let leaks = events.iter().filter(|j| j.verdict == Some(Verdict::Leak)).count();
    assert!(parallel < leaks, "far fewer notices than leaked messages: {parallel} vs {leaks}");
}

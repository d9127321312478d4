//! A DoT flood beside real queries, live (root only; issue #13): tens of thousands of TCP
//! segments to port 853, each a new flow (more than the encrypted-flow table holds), sent from
//! the client namespace while it asks real queries over UDP. Every real query is reported or
//! counted as dropped (the final `stats` line), and the monitor stops on time after
//! `--duration` whatever its backlog.

mod netns;
mod support;

use std::net::{SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use netns::*;
use serde_json::Value;

/// Segments of the flood: each a new flow to port 853 (the encrypted-flow table holds 65,536).
const FLOOD: u32 = 70_000;
/// Real queries, one after every `FLOOD / REAL` segments.
const REAL: u32 = 700;
/// `--duration` of the monitor, and how late past it the monitor may stop.
const DURATION: Duration = Duration::from_secs(8);
const STOP_SLACK: Duration = Duration::from_secs(2);

/// A TCP segment (header and TLS application data) from the client's LAN address to
/// `dst:853`, with its checksum.
fn dot_segment(sport: u16, dst: [u8; 4]) -> Vec<u8> {
    let data = [0x17, 3, 3, 0, 4, 1, 2, 3, 4];
    let b = etherparse::PacketBuilder::ipv4([192, 0, 2, 2], dst, 64).tcp(sport, 853, 1, 65_535).psh().ack(1);
    let mut v = Vec::with_capacity(b.size(data.len()));
    b.write(&mut v, &data).expect("in memory");
    v.split_off(20)
}

/// In the client namespace: the flood through a raw TCP socket, and a real query to the LAN
/// resolver every `FLOOD / REAL` segments. Returns the names asked.
fn flood_with_queries() -> Vec<String> {
    use rustix::net::{ipproto, sendto, socket, AddressFamily, SendFlags, SocketType};
    let raw = socket(AddressFamily::INET, SocketType::RAW, Some(ipproto::TCP)).expect("a raw socket (root)");
    let udp = UdpSocket::bind("0.0.0.0:0").unwrap();
    let mut names = Vec::new();
    for i in 0..FLOOD {
        // 203.0.113.0/24 goes out the LAN (the split route): 70,000 distinct flows.
        let dst = [203, 0, 113, 100 + (i / 60_000) as u8];
        let segment = dot_segment(1024 + (i % 60_000) as u16, dst);
        let to = SocketAddrV4::new(dst.into(), 0);
        // A full socket buffer refuses a segment now and then: try again.
        while sendto(&raw, &segment, SendFlags::empty(), &to).is_err() {
            std::thread::yield_now();
        }
        if i % (FLOOD / REAL) == 0 {
            let name = format!("q{i}.flood.example.com");
            udp.send_to(&query(i as u16, &name), (LAN_RESOLVER, 53)).unwrap();
            names.push(name);
        }
    }
    names
}

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh)"]
fn every_real_query_beside_a_dot_flood_is_reported_or_counted_and_the_monitor_stops_on_time() {
    let w = World::up();
    let secs = DURATION.as_secs().to_string();
    let mut m = w.monitor(&["--duration", &secs]);
    let up = Instant::now();
    let started = Instant::now();
    let names = w.in_client(flood_with_queries);
    eprintln!("flood: {FLOOD} segments and {} queries sent in {:?}", names.len(), started.elapsed());
    assert!(started.elapsed() < DURATION, "the flood must end before the monitor's --duration");
    let stopped = support::poll(DURATION + STOP_SLACK * 5, || (!m.running()).then(Instant::now));
    let stopped = stopped.expect("the monitor ends after --duration");
    let took = stopped.duration_since(up);
    let (status, lines, err) = m.stop();
    eprintln!("monitor ended {took:?} after it started capturing (--duration {secs}); {err}");
    assert!(took <= DURATION + STOP_SLACK, "stopped {took:?} after starting, --duration {secs}: {err}");
    assert_eq!(status.code(), Some(1), "the real queries leaked on the LAN: 1 wins over incomplete\n{err}");
    let stats =
        lines.last().filter(|v| v["kind"] == "stats").unwrap_or_else(|| panic!("a final stats line: {err}"));
    let reported = names
        .iter()
        .filter(|n| lines.iter().any(|v| v["kind"] == "query" && v["qname"].as_str() == Some(n.as_str())))
        .count() as u64;
    let captures: u64 =
        stats["capture"].as_array().map(|a| a.iter().map(dropped_in).sum()).unwrap_or_default();
    let dropped = captures + stats["dropped_at_stop"].as_u64().unwrap_or_default();
    eprintln!("real queries: {} sent, {reported} reported, {dropped} frames counted dropped", names.len());
    assert!(
        reported + dropped >= names.len() as u64,
        "a real query neither reported nor counted as dropped: {reported} + {dropped} < {}",
        names.len()
    );
    assert!(
        stats["pairs"]["encrypted_flows_evicted"].as_u64() > Some(0),
        "the flood filled the table: {stats}"
    );
    assert!(notices(&lines, "table_full") >= 1, "a notice when the table first filled");
}

fn dropped_in(capture: &Value) -> u64 {
    ["dropped_pipeline", "dropped_kernel", "dropped_iface"].iter().filter_map(|k| capture[k].as_u64()).sum()
}

//! Live capture under load and abuse (root only): a burst of 2,000 distinct queries with their
//! answers loses nothing; garbage sent to port 53 is counted as malformed and the monitor
//! keeps running.

mod netns;
mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use netns::*;

const BURST: usize = 2000;

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh)"]
fn a_burst_of_2000_queries_and_answers_is_reported_in_full() {
    let w = World::up();
    // A responder of the test's own on the router (203.0.113.99, routed via the LAN), with a
    // buffer large enough that it answers every query of the burst.
    router_addr(&w, "203.0.113.99/32");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let responder = spawn_in_netns(&w.ns_r, move || {
        let sock = UdpSocket::bind("203.0.113.99:53").unwrap();
        big_rcvbuf(&sock);
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        ready_tx.send(()).unwrap();
        let mut buf = [0u8; 512];
        let mut answered = 0;
        while answered < BURST {
            let Ok((n, from)) = sock.recv_from(&mut buf) else { break };
            sock.send_to(&answer(&buf[..n]), from).unwrap();
            answered += 1;
        }
        answered
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).expect("responder ready");
    let m = w.monitor(&[]);
    let (sent_in, received) = w.in_client(|| {
        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        big_rcvbuf(&sock);
        sock.connect("203.0.113.99:53").unwrap();
        let queries: Vec<Vec<u8>> =
            (0..BURST).map(|i| query(i as u16, &format!("q{i}.burst.example.com"))).collect();
        let start = Instant::now();
        for q in &queries {
            sock.send(q).unwrap();
        }
        let sent_in = start.elapsed();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        let mut received = 0;
        while received < BURST && sock.recv(&mut buf).is_ok() {
            received += 1;
        }
        (sent_in, received)
    });
    let answered = responder.join().unwrap();
    eprintln!("burst: {BURST} queries sent in {sent_in:?}; {answered} answered; {received} answers received");
    assert_eq!(answered, BURST, "the test's responder answered every query");
    assert_eq!(received, BURST, "the client received every answer");
    let burst = |l: &[serde_json::Value], kind: &str| {
        l.iter()
            .filter(|v| {
                v["kind"] == kind && v["qname"].as_str().is_some_and(|n| n.ends_with(".burst.example.com"))
            })
            .count()
    };
    let ok =
        m.wait_for(Duration::from_secs(30), |l| burst(l, "query") >= BURST && burst(l, "response") >= BURST);
    let (_, lines, err) = m.stop();
    assert!(
        ok,
        "queries {} responses {} of {BURST}\n{err}",
        burst(&lines, "query"),
        burst(&lines, "response")
    );
    assert_eq!(burst(&lines, "query"), BURST, "each query reported once");
    assert_eq!(burst(&lines, "response"), BURST, "each response reported once");
    let mut names: Vec<&str> =
        lines.iter().filter(|v| v["kind"] == "query").filter_map(|v| v["qname"].as_str()).collect();
    names.sort();
    names.dedup();
    assert!(names.len() >= BURST, "2,000 distinct names");
    assert!(lines
        .iter()
        .filter(|v| v["kind"] == "query")
        .all(|v| v["verdict"] == "leak" && v["iface"] == w.lan.as_str()));
    assert!(err.contains(&format!("{}: ", w.lan)), "per-interface capture counters on stderr: {err}");
    assert!(!err.contains("dropped 1") && err.contains("dropped 0 (pipeline full), 0 (kernel)"), "{err}");
}

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh)"]
fn garbage_to_port_53_is_counted_malformed_and_the_monitor_keeps_running() {
    let w = World::up();
    let mut m = w.monitor(&[]);
    const BAD: usize = 40;
    w.in_client(|| {
        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        // Nobody listens at 203.0.113.7: the garbage only crosses the LAN.
        for i in 0..BAD {
            let junk: Vec<u8> = if i % 2 == 0 {
                vec![0xde, 0xad, i as u8] // shorter than a DNS header
            } else {
                // A header that promises a question and an answer that are not there.
                vec![0x12, i as u8, 0x01, 0x00, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 0xff]
            };
            sock.send_to(&junk, "203.0.113.7:53").unwrap();
        }
    });
    let malformed = |l: &[serde_json::Value]| l.iter().filter(|v| v["kind"] == "malformed").count();
    assert!(m.wait_for(Duration::from_secs(10), |l| malformed(l) >= BAD), "{:#?}", m.lines());
    assert!(m.running(), "the monitor survives garbage");
    w.dig(&["@192.0.2.1", "after.garbage.example.com", "A"]);
    assert!(m.wait_for(Duration::from_secs(10), |l| has_exchange(l, "after.garbage.example.com")));
    let (status, lines, err) = m.stop();
    assert_eq!(malformed(&lines), BAD, "each bad message counted once");
    assert!(lines
        .iter()
        .filter(|v| v["kind"] == "malformed")
        .all(|v| v["iface"] == w.lan.as_str() && v["dport"] == 53));
    assert!(err.contains(&format!("{BAD} malformed")), "{err}");
    assert_eq!(status.code(), Some(1), "the later query leaked\n{err}");
}

//! Encrypted DNS and DNS over TCP on the corpus, through the whole pipeline (the product's
//! capture reader, link and IP layers, stream reassembly, TLS detection, verdicts), plus the
//! `--doh-list` option on the real binary.

use std::path::PathBuf;
use std::process::{Command, Stdio};

mod support;

use dnsleak::capture::reader::{for_each_frame, topology_of, Input};
use dnsleak_core::{Config, EventKind, Fact, Judged, Overrides, Pipeline, Stats, Transport, Verdict, L4};

use support::corpus;

/// Every judged event of a capture, and the final counters.
fn judge(capture: &str, config: &Config) -> (Vec<Judged>, Stats) {
    let path = corpus().join("captures").join(capture);
    let mut pipeline: Option<Pipeline> = None;
    let mut out = Vec::new();
    for_each_frame(&path, |input| {
        match input {
            Input::Interfaces { ifaces, ts, .. } => {
                let topology = topology_of(ifaces, &Overrides::default());
                match &mut pipeline {
                    Some(p) => p.apply(Fact::Interfaces(topology), ts, &mut out),
                    None => pipeline = Some(Pipeline::new(config.clone(), topology)),
                }
            }
            Input::Frame(frame) => pipeline.as_mut().expect("interfaces come first").process(frame, &mut out),
            Input::Note { .. } => {}
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{capture}: {e:#}"));
    let mut p = pipeline.expect("a capture with interfaces");
    p.finish(&mut out);
    (out, p.stats())
}

fn encrypted(events: &[Judged]) -> Vec<&Judged> {
    events.iter().filter(|j| j.event.kind() == EventKind::Encrypted).collect()
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_dot_flow_reported_once() {
    let (events, stats) = judge("ndpi__dns_dot.pcap", &Config::new());
    let enc = encrypted(&events);
    assert_eq!(enc.len(), 1, "{enc:#?}");
    let e = &enc[0].event;
    let w = e.wire().expect("a flow has addresses");
    assert_eq!((w.transport, w.proto), (Transport::Dot, L4::Tcp));
    assert_eq!((w.src.to_string().as_str(), w.dst.to_string().as_str()), ("192.168.1.185", "8.8.8.8"));
    assert_eq!((w.sport, w.dport), (58290, 853));
    assert_eq!(e.frame, 4, "decided on the ClientHello");
    assert_eq!(w.provider, Some("Google"));
    assert_eq!(e.sni(), None, "this ClientHello carries no server name");
    assert_eq!(enc[0].verdict, Some(Verdict::Bypass));
    // Every packet of the flow after the decision belongs to it.
    assert_eq!(stats.frames_in(dnsleak_core::FrameClass::Encrypted), 21);
    assert!(events.iter().all(|j| !matches!(j.event.kind(), EventKind::Query | EventKind::Response)));
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_doh_flow_by_server_name() {
    let (events, _) = judge("ndpi__dns_doh.pcap", &Config::new());
    let enc = encrypted(&events);
    assert_eq!(enc.len(), 1, "{enc:#?}");
    let e = &enc[0].event;
    let w = e.wire().expect("a flow has addresses");
    assert_eq!(w.transport, Transport::Doh);
    assert_eq!(e.sni(), Some("mozilla.cloudflare-dns.com"));
    assert_eq!(w.provider, Some("Cloudflare"));
    assert_eq!((w.dst.to_string().as_str(), w.dport), ("104.16.248.249", 443));
    assert_eq!(e.frame, 4);
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_doh_flow_provider_from_a_user_list() {
    let mut config = Config::new();
    config.resolvers.add_user_list("mozilla.cloudflare-dns.com Firefox TRR\n").expect("a valid list");
    let (events, _) = judge("ndpi__dns_doh.pcap", &config);
    let enc = encrypted(&events);
    assert_eq!(enc.len(), 1);
    assert_eq!(enc[0].event.wire().and_then(|w| w.provider), Some("Firefox TRR"));
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_wireguard_is_not_dns() {
    let (events, _) = judge("ndpi__wireguard.pcap", &Config::new());
    assert!(encrypted(&events).is_empty());
}

/// Ordinary HTTPS (and QUIC) in the two large mixed captures is never called DNS: neither
/// holds a TLS or QUIC flow to a DoH server name or a well-known DoH address.
#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_ordinary_https_is_not_doh() {
    for capture in ["pcapplusplus__example.pcap", "ndpi__1kxun.pcap", "ndpi__anyconnect-vpn.pcap"] {
        let (events, stats) = judge(capture, &Config::new());
        let enc = encrypted(&events);
        assert!(enc.is_empty(), "{capture}: {:#?}", enc.iter().map(|j| &j.event).collect::<Vec<_>>());
        assert_eq!(stats.frames_in(dnsleak_core::FrameClass::Encrypted), 0, "{capture}");
    }
}

/// (frame, sport, dport, id, qr) of the TCP messages the pipeline reported.
fn tcp_rows(events: &[Judged]) -> Vec<(u64, u16, u16, u16, u8)> {
    events
        .iter()
        .filter_map(|j| Some((j.event.frame, j.event.as_message()?)))
        .filter(|(_, m)| m.wire.proto == L4::Tcp)
        .filter_map(|(frame, m)| {
            let d = m.dns.as_ref()?;
            Some((frame, m.wire.sport, m.wire.dport, d.header.id, d.header.qr() as u8))
        })
        .collect()
}

fn truth_tcp(capture: &str) -> Vec<(u64, u16, u16, u16, u8)> {
    let text = std::fs::read_to_string(corpus().join("truth").join(format!("{capture}.tsv"))).expect("truth");
    text.lines()
        .skip(1)
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f[5] == "tcp" && !f[8].is_empty())
        .map(|f| {
            let n = |i: usize| f[i].parse::<u64>().expect("number");
            (n(0), n(6) as u16, n(7) as u16, n(8) as u16, n(9) as u8)
        })
        .collect()
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_tcp_dns_through_the_pipeline_equals_tshark() {
    let captures = [
        "dnscap__dnsotcp-many1pkt.pcap",
        "dnscap__dnsotcp-manyopkts.pcap",
        "suricata-verify__dns-tcp-multirequest-buffer.pcap",
        "suricata-verify__dns-incomplete.pcap",
        "tcpdump__dns_tcp.pcap",
        "zeek__dns-edns-ecs.pcap",
        "dnsjit__tcp-response-with-trailing-junk.pcap",
        "ndpi__dns_fragmented.pcap",
    ];
    for capture in captures {
        let (events, stats) = judge(capture, &Config::new());
        assert_eq!(tcp_rows(&events), truth_tcp(capture), "{capture}");
        assert_eq!((stats.tcp.gaps, stats.tcp.bytes_lost), (0, 0), "{capture}");
    }
}

/// dnscap__dnso1tcp-bighole: tshark's 41 rows are all found on their frames; resynchronising
/// after the lost segments finds the 35 later queries tshark does not read.
#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_tcp_big_hole_through_the_pipeline() {
    let capture = "dnscap__dnso1tcp-bighole.pcap";
    let (events, stats) = judge(capture, &Config::new());
    let got = tcp_rows(&events);
    let want = truth_tcp(capture);
    for row in &want {
        assert!(got.contains(row), "{row:?} missing");
    }
    let extra: Vec<_> = got.iter().filter(|r| !want.contains(r)).collect();
    assert_eq!(extra.len(), 35);
    assert!(extra.iter().all(|r| r.0 >= 25 && r.2 == 53 && r.4 == 0), "{extra:?}");
    assert_eq!((stats.tcp.gaps, stats.tcp.resyncs), (2, 2), "one hole and one resync each way");
    assert!(events.iter().all(|j| j.event.kind() != EventKind::Malformed));
}

fn replay(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dnsleak"))
        .arg("replay")
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run dnsleak")
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("encrypted");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_doh_list_option_names_the_provider() {
    let list = temp_file("good.list", "# mine\nmozilla.cloudflare-dns.com My Resolver\n");
    let cap = corpus().join("captures/ndpi__dns_doh.pcap");
    let o = replay(&["--json", "--doh-list", list.to_str().expect("utf-8"), cap.to_str().expect("utf-8")]);
    let out = String::from_utf8_lossy(&o.stdout);
    let enc: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["transport"] == "doh")
        .collect();
    assert_eq!(enc.len(), 1, "{out}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(enc[0].to_string().contains("My Resolver"), "{}", enc[0]);
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_doh_list_option_error_names_the_line() {
    let list = temp_file("bad.list", "dns.example.net\n\nnot a/host\n");
    let cap = corpus().join("captures/ndpi__dns_doh.pcap");
    let o = replay(&["--doh-list", list.to_str().expect("utf-8"), cap.to_str().expect("utf-8")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("line 3") && err.contains("bad.list"), "{err}");
}

/// Frames for the stream tests: Ethernet, IPv4 192.0.2.10:40000 -> 192.0.2.53:53, TCP.
fn tcp_frame(seq: u32, syn: bool, payload: &[u8]) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([192, 0, 2, 10], [192, 0, 2, 53], 64)
        .tcp(40_000, 53, seq, 64_000);
    let b = if syn { b.syn() } else { b };
    let mut out = Vec::new();
    b.write(&mut out, payload).expect("build a frame");
    out
}

fn udp_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([192, 0, 2, 10], [192, 0, 2, 99], 64)
        .udp(40_001, 9)
        .write(&mut out, payload)
        .expect("build a frame");
    out
}

fn framed_query(id: u16) -> Vec<u8> {
    let mut m = vec![0, 29];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7]);
    m.extend_from_slice(b"example\x03com\x00\x00\x01\x00\x01");
    m
}

/// Runs frames (time in ms, bytes) through a pipeline with one Ethernet interface; returns the
/// (frame, ts in ms, id) of every query.
fn run_frames(frames: &[(i64, Vec<u8>)]) -> Vec<(u64, i64, u16)> {
    use dnsleak_core::{FrameRef, IfaceFacts, LinkType, Topology, Ts};
    let facts = IfaceFacts { name: "eth0".into(), up: true, has_mac: true, ..Default::default() };
    let topology = Topology::from_facts([(0, facts)], &Overrides::default());
    let mut p = Pipeline::new(Config::new(), topology);
    let mut out = Vec::new();
    for (i, (ms, data)) in frames.iter().enumerate() {
        let frame = FrameRef {
            iface: 0,
            ts: Ts::from_millis(*ms),
            link: LinkType::ETHERNET,
            number: i as u64 + 1,
            orig_len: data.len() as u32,
            data,
        };
        p.process(frame, &mut out);
    }
    p.finish(&mut out);
    out.iter()
        .filter(|j| j.event.kind() == EventKind::Query)
        .map(|j| (j.event.frame, j.event.ts.0 / 1_000_000, j.event.dns().expect("dns").header.id))
        .collect()
}

/// A hole that never fills (no acknowledgment seen, no later segment of the flow): what waits
/// behind it is delivered once the reorder window has passed in trace time, on the frame then
/// being read.
#[test]
fn tcp_hole_given_up_in_trace_time_between_segments() {
    let q1 = framed_query(1);
    let q2 = framed_query(2);
    let frames = vec![
        (1_000, tcp_frame(100, true, &[])),
        (1_010, tcp_frame(101 + q1.len() as u32, false, &q2)), // q1 was lost
        (2_000, udp_frame(b"x")),
        (3_500, udp_frame(b"y")),
    ];
    assert_eq!(run_frames(&frames), vec![(4, 3_500, 2)]);
}

/// At the end of input every hole is given up and what waited is delivered.
#[test]
fn tcp_hole_given_up_at_the_end_of_input() {
    let q1 = framed_query(1);
    let q2 = framed_query(2);
    let frames =
        vec![(1_000, tcp_frame(100, true, &[])), (1_010, tcp_frame(101 + q1.len() as u32, false, &q2))];
    assert_eq!(run_frames(&frames), vec![(2, 1_010, 2)]);
}

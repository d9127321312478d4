//! Every capture of the shared corpus through the `Pipeline`, compared message by message with
//! tshark's reading of it (`truth/*.tsv`, format in the corpus README): frame, addresses,
//! ports, transport, id, QR, opcode, rcode, the four counts, the first question's name and
//! type.
//!
//! Every disagreement is listed in `EXPLAINED` with the named test that asserts exactly it;
//! `every_disagreement_is_explained` fails on any disagreement not listed there, and on any
//! listed one that no longer happens.
//!
//! The corpus is found by walking up from the crate (`shared/corpus` beside the repository or
//! a worktree's parent). Every test here is marked `corpus:` and fails, saying so, without it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod support;

use dnsleak::capture::reader::{for_each_frame, topology_of, Input};
use dnsleak_core::dns;
use dnsleak_core::event::Malformed;
use dnsleak_core::{Config, EventKind, Fact, Judged, Overrides, Pipeline};

fn corpus() -> PathBuf {
    support::corpus()
}

/// The compared fields of one message, as tshark's truth writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Msg {
    frame: u64,
    src: String,
    dst: String,
    transport: String,
    sport: String,
    dport: String,
    id: String,
    qr: String,
    opcode: String,
    rcode: String,
    counts: [String; 4],
    qname: String,
    qtype: String,
    /// Not compared: why the pipeline called it malformed.
    malformed: Option<Malformed>,
    /// Not compared: the truth's `malformed`, `port_class`, `layers` and `ip_depth` columns.
    truth_malformed: bool,
    port_class: String,
    layers: String,
    ip_depth: String,
}

const FIELDS: [&str; 12] =
    ["src", "dst", "transport", "sport", "dport", "id", "qr", "opcode", "rcode", "counts", "qname", "qtype"];

impl Msg {
    fn values(&self) -> [String; 12] {
        [
            self.src.clone(),
            self.dst.clone(),
            self.transport.clone(),
            self.sport.clone(),
            self.dport.clone(),
            self.id.clone(),
            self.qr.clone(),
            self.opcode.clone(),
            self.rcode.clone(),
            self.counts.join(","),
            self.qname.clone(),
            self.qtype.clone(),
        ]
    }

    /// Names of the fields that differ.
    fn diff(&self, other: &Msg) -> Vec<&'static str> {
        let (a, b) = (self.values(), other.values());
        FIELDS.iter().zip(a.iter().zip(b.iter())).filter(|(_, (x, y))| x != y).map(|(f, _)| *f).collect()
    }
}

fn truth(dir: &Path, capture: &str) -> Vec<Msg> {
    let text = std::fs::read_to_string(dir.join("truth").join(format!("{capture}.tsv"))).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let s = |i: usize| f[i].to_string();
            Msg {
                frame: f[0].parse().unwrap(),
                src: s(3),
                dst: s(4),
                transport: s(5),
                sport: s(6),
                dport: s(7),
                id: s(8),
                qr: s(9),
                opcode: s(10),
                rcode: s(11),
                counts: [s(12), s(13), s(14), s(15)],
                qname: s(16),
                qtype: s(17),
                malformed: None,
                truth_malformed: f[18] == "1",
                port_class: s(20),
                layers: s(21),
                ip_depth: s(22),
            }
        })
        .collect()
}

/// A name as tshark prints it: A-Z lowercased, control bytes as C escapes.
fn tshark_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        match c {
            'A'..='Z' => out.push(c.to_ascii_lowercase()),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn msg_of(j: &Judged) -> Option<Msg> {
    let e = &j.event;
    let m = e.as_message()?;
    let (w, dns) = (&m.wire, m.dns.as_ref());
    let h = dns.map(|d| d.header);
    let hf = |f: &dyn Fn(&dnsleak_core::event::DnsHeader) -> String| h.as_ref().map(f).unwrap_or_default();
    let q = dns.and_then(|d| d.question.as_ref());
    Some(Msg {
        frame: e.frame,
        src: w.src.to_string(),
        dst: w.dst.to_string(),
        transport: w.proto.as_str().to_string(),
        sport: w.sport.to_string(),
        dport: w.dport.to_string(),
        id: hf(&|h| h.id.to_string()),
        qr: hf(&|h| u8::from(h.qr()).to_string()),
        opcode: hf(&|h| h.opcode().to_string()),
        rcode: hf(&|h| h.rcode().to_string()),
        counts: [
            hf(&|h| h.qdcount.to_string()),
            hf(&|h| h.ancount.to_string()),
            hf(&|h| h.nscount.to_string()),
            hf(&|h| h.arcount.to_string()),
        ],
        qname: q.map(|q| tshark_name(&q.name)).unwrap_or_default(),
        qtype: q.map(|q| q.qtype.to_string()).unwrap_or_default(),
        malformed: m.malformed(),
        truth_malformed: false,
        port_class: String::new(),
        layers: String::new(),
        ip_depth: String::new(),
    })
}

/// Runs one capture through the pipeline; returns the messages it found.
fn replay(dir: &Path, capture: &str) -> Vec<Msg> {
    judged(dir, capture).iter().filter_map(msg_of).collect()
}

/// Every judged event of a capture, in order.
fn judged(dir: &Path, capture: &str) -> Vec<Judged> {
    let mut pipeline: Option<Pipeline> = None;
    let mut out = Vec::new();
    let mut found = Vec::new();
    let drain = |out: &mut Vec<Judged>, found: &mut Vec<Judged>| found.append(out);
    for_each_frame(&dir.join("captures").join(capture), |input| {
        match input {
            Input::Interfaces { ifaces, ts } => {
                let topo = topology_of(ifaces, &Overrides::default());
                match pipeline.as_mut() {
                    Some(p) => p.apply(Fact::Interfaces(topo), ts, &mut out),
                    None => pipeline = Some(Pipeline::new(Config::new(), topo)),
                }
            }
            Input::Frame(f) => {
                if let Some(p) = pipeline.as_mut() {
                    p.process(f, &mut out);
                }
            }
            Input::Note { .. } => {}
        }
        drain(&mut out, &mut found);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{capture}: {e:#}"));
    if let Some(p) = pipeline.as_mut() {
        p.finish(&mut out);
    }
    drain(&mut out, &mut found);
    found
}

/// One disagreement between tshark and the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Disagreement {
    /// tshark saw this message (frame, position among the frame's rows); we did not.
    Missing(u64, usize),
    /// We saw a message tshark did not.
    Extra(u64, usize),
    /// Both saw it; these fields differ.
    Differs(u64, usize, Vec<&'static str>),
}

#[derive(Debug, Default)]
struct Comparison {
    matched: usize,
    disagreements: Vec<Disagreement>,
}

/// Pairs rows and messages frame by frame, in order within a frame.
fn compare(truth: &[Msg], ours: &[Msg]) -> Comparison {
    let mut by_frame: BTreeMap<u64, (Vec<&Msg>, Vec<&Msg>)> = BTreeMap::new();
    for t in truth {
        by_frame.entry(t.frame).or_default().0.push(t);
    }
    for o in ours {
        by_frame.entry(o.frame).or_default().1.push(o);
    }
    let mut c = Comparison::default();
    for (frame, (ts, os)) in by_frame {
        for i in 0..ts.len().max(os.len()) {
            match (ts.get(i), os.get(i)) {
                (Some(t), Some(o)) => {
                    let d = t.diff(o);
                    if d.is_empty() {
                        c.matched += 1;
                    } else {
                        c.disagreements.push(Disagreement::Differs(frame, i, d));
                    }
                }
                (Some(_), None) => c.disagreements.push(Disagreement::Missing(frame, i)),
                (None, Some(_)) => c.disagreements.push(Disagreement::Extra(frame, i)),
                (None, None) => {}
            }
        }
    }
    c
}

/// Our message at the place of a disagreement.
fn ours_at<'a>(ours: &'a [Msg], d: &Disagreement) -> Option<&'a Msg> {
    let (Disagreement::Missing(f, i) | Disagreement::Extra(f, i) | Disagreement::Differs(f, i, _)) = d;
    ours.iter().filter(|m| m.frame == *f).nth(*i)
}

fn captures(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap();
    text.lines().skip(1).map(|l| l.split('\t').next().unwrap().to_string()).collect()
}

fn compare_capture(dir: &Path, capture: &str) -> (Vec<Msg>, Vec<Msg>, Comparison) {
    let t = truth(dir, capture);
    let o = replay(dir, capture);
    let c = compare(&t, &o);
    (t, o, c)
}

#[path = "corpus_truth/explained.rs"]
mod explained;
use explained::{Shows, Why, EXPLAINED};

/// The disagreements `EXPLAINED` lists for a capture, with their reason.
fn explained_in(capture: &str) -> Vec<(Disagreement, Why)> {
    let mut v = Vec::new();
    for &(cap, why, places) in EXPLAINED.iter().filter(|e| e.0 == capture) {
        for &(f, i) in places {
            let d = match why.shows() {
                Shows::Differs(fields) => Disagreement::Differs(f, i, fields),
                Shows::Missing => Disagreement::Missing(f, i),
                Shows::Extra => Disagreement::Extra(f, i),
            };
            let _ = cap;
            v.push((d, why));
        }
    }
    v
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_every_disagreement_is_explained() {
    let dir = corpus();
    let mut unexplained = Vec::new();
    let mut stale = Vec::new();
    let (mut tm, mut tmiss, mut textra, mut tdiff, mut ttruth) = (0, 0, 0, 0, 0);
    println!(
        "{:<52} {:>6} {:>7} {:>7} {:>5} {:>6}",
        "capture", "truth", "matched", "missing", "extra", "differ"
    );
    for capture in captures(&dir) {
        let (t, o, c) = compare_capture(&dir, &capture);
        let count = |f: fn(&Disagreement) -> bool| c.disagreements.iter().filter(|d| f(d)).count();
        let missing = count(|d| matches!(d, Disagreement::Missing(..)));
        let extra = count(|d| matches!(d, Disagreement::Extra(..)));
        let differ = count(|d| matches!(d, Disagreement::Differs(..)));
        println!("{capture:<52} {:>6} {:>7} {missing:>7} {extra:>5} {differ:>6}", t.len(), c.matched);
        (tm, tmiss, textra, tdiff, ttruth) =
            (tm + c.matched, tmiss + missing, textra + extra, tdiff + differ, ttruth + t.len());
        let explained = explained_in(&capture);
        for d in &c.disagreements {
            if !explained.iter().any(|(e, _)| e == d) {
                unexplained.push(format!("{capture}: {d:?} ours {:?}", ours_at(&o, d)));
            }
        }
        for (e, why) in explained {
            if !c.disagreements.contains(&e) {
                stale.push(format!("{capture}: {e:?} ({why:?})"));
            }
        }
    }
    println!("{:<52} {ttruth:>6} {tm:>7} {tmiss:>7} {textra:>5} {tdiff:>6}", "TOTAL");
    assert!(
        unexplained.is_empty(),
        "{} unexplained disagreements:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
    assert!(stale.is_empty(), "explained disagreements that no longer happen:\n{}", stale.join("\n"));
}

/// For every listed disagreement of `why`: it happens, and `check` holds on tshark's row and
/// our message (None when either has none), with all of tshark's rows. Returns how many were checked.
fn check_explained(why: Why, check: impl Fn(Option<&Msg>, Option<&Msg>, &[Msg])) -> usize {
    let dir = corpus();
    let mut n = 0;
    for &(capture, _, _) in EXPLAINED.iter().filter(|e| e.1 == why) {
        let (truth, ours, c) = compare_capture(&dir, capture);
        for (d, _) in explained_in(capture).into_iter().filter(|(_, w)| *w == why) {
            let (Disagreement::Missing(f, i) | Disagreement::Differs(f, i, _) | Disagreement::Extra(f, i)) =
                d;
            assert!(c.disagreements.contains(&d), "{capture}: {d:?} no longer happens");
            let t = truth.iter().filter(|m| m.frame == f).nth(i);
            check(t, ours_at(&ours, &d), &truth);
            n += 1;
        }
    }
    n
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_dns_on_other_ports_is_found_only_by_tshark_heuristics() {
    let n = check_explained(Why::HeuristicPort, |t, ours, _| {
        let t = t.expect("tshark's row");
        assert_eq!(t.port_class, "other", "{t:?}");
        assert!(!t.layers.contains("http2"));
        assert!(ours.is_none());
    });
    assert!(n == 0 || n == 8, "{n}");
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_dns_inside_cleartext_http2_is_not_decoded() {
    let n = check_explained(Why::InsideHttp2, |t, ours, _| {
        let t = t.expect("tshark's row");
        assert_eq!((t.layers.as_str(), ours), ("eth/ip/tcp/http2", None));
    });
    assert!(n == 0 || n == 4, "{n}");
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_dns_inside_gtp_or_quoted_in_icmp_errors_is_not_reported() {
    let n = check_explained(Why::InsideTunnelOrIcmp, |t, ours, _| {
        let t = t.expect("tshark's row");
        assert_eq!(t.ip_depth, "2");
        assert!(t.layers.ends_with("gtp/ipv6/udp") || t.layers.contains("/icmp/"), "{}", t.layers);
        assert!(ours.is_none());
    });
    assert!(n == 0 || n == 2, "{n}");
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_extended_label_types_are_malformed_where_tshark_prints_a_placeholder() {
    let n = check_explained(Why::ExtendedLabel, |t, ours, _| {
        let t = t.expect("tshark's row");
        let ours = ours.expect("we report the message");
        assert_eq!(t.qname, "<unknown extended label>");
        assert_eq!(
            (ours.malformed, ours.qname.as_str(), ours.qtype.as_str()),
            (Some(Malformed::BadLabel), "", "")
        );
        assert_eq!((&ours.id, &ours.counts), (&t.id, &t.counts), "the header is still reported");
    });
    assert!(n == 0 || n == 14, "{n}");
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_pointer_loops_are_malformed_where_tshark_prints_a_placeholder() {
    let n = check_explained(Why::PointerLoop, |t, ours, _| {
        let t = t.expect("tshark's row");
        let ours = ours.expect("we report the message");
        assert_eq!(t.qname, "<name contains a pointer that loops>");
        assert!(!t.truth_malformed, "tshark raises no error for a loop");
        assert_eq!((ours.malformed, ours.qname.as_str()), (Some(Malformed::PointerLoop), ""));
    });
    assert!(n == 0 || n == 1, "{n}");
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_forward_pointers_in_the_question_are_malformed_for_hickory() {
    let n = check_explained(Why::ForwardPointer, |t, ours, _| {
        let t = t.expect("tshark's row");
        let ours = ours.expect("we report the message");
        assert!(["codemonkey.net", "<name too long>"].contains(&t.qname.as_str()), "{}", t.qname);
        assert_eq!((ours.malformed, ours.qname.as_str()), (Some(Malformed::BadPointer), ""));
        assert_eq!((&ours.id, &ours.counts), (&t.id, &t.counts));
    });
    assert!(n == 0 || n == 2, "{n}");
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_messages_shorter_than_a_header_have_no_header() {
    let n = check_explained(Why::ShortHeader, |t, ours, _| {
        let t = t.expect("tshark's row");
        let ours = ours.expect("we report the message");
        assert!(t.truth_malformed);
        assert!(t.counts.iter().any(String::is_empty), "tshark read part of the header: {t:?}");
        assert_eq!((ours.malformed, ours.id.as_str()), (Some(Malformed::ShortHeader), ""));
    });
    assert!(n == 0 || n == 2, "{n}");
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_queries_after_a_tcp_gap_are_recovered_where_tshark_stops() {
    let n = check_explained(Why::AfterTcpGap, |t, ours, truth| {
        assert!(t.is_none());
        let ours = ours.expect("our message");
        assert_eq!((ours.transport.as_str(), ours.qr.as_str(), ours.malformed), ("tcp", "0", None));
        assert!(ours.frame > 19, "after the hole at frame 19");
        let answered = truth.iter().any(|r| r.qr == "1" && r.id == ours.id && r.qname == ours.qname);
        assert!(answered, "tshark decoded the response to {ours:?}");
    });
    assert!(n == 0 || n == 35, "{n}");
}

/// NDJSON's `answers` and `TTLs` come from `dns::for_each_answer`, which reads the answer
/// section alone; the dashboard's detail uses `decode_full` (hickory's whole `Message`). On every
/// response of the corpus that `decode_full` reads, both give the same records, data and TTLs.
/// Where only the answer walker succeeds, a section after the answers did not decode.
#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn answer_walker_agrees_with_full_decode_on_every_corpus_response() {
    let dir = corpus();
    let (mut compared, mut records, mut walker_only) = (0, 0, 0);
    for capture in captures(&dir) {
        for j in judged(&dir, &capture) {
            let Some(info) = j.event.dns().filter(|_| j.event.kind() == EventKind::Response) else {
                continue;
            };
            let mut walked = Vec::new();
            let walk = dns::for_each_answer(&info.payload, |r| {
                let mut text = String::new();
                dns::rdata_text(&r.data, &mut text);
                walked.push((text, r.ttl));
            });
            match dns::decode_full(&info.payload) {
                Ok(full) => {
                    let expected: Vec<(String, u32)> =
                        full.answers.into_iter().map(|a| (a.data, a.ttl)).collect();
                    assert_eq!(walk, Ok(()), "{capture} frame {}", j.event.frame);
                    assert_eq!(walked, expected, "{capture} frame {}", j.event.frame);
                    compared += 1;
                    records += expected.len();
                }
                Err(_) => walker_only += usize::from(walk.is_ok()),
            }
        }
    }
    eprintln!("{compared} responses ({records} answer records) agree; {walker_only} read only by the walker");
    assert!(compared > 300 && records > 500, "{compared} responses, {records} records");
}

#[test]
fn tshark_name_conversion() {
    assert_eq!(tshark_name("WwW.Example.COM"), "www.example.com");
    assert_eq!(tshark_name("a\tb\u{0}c\u{1a}"), "a\\tb\\000c\\032");
    assert_eq!(tshark_name(",."), ",.");
}

//! `dnsleak replay` as a user and a script run it: the real binary on corpus captures and on
//! hostile files made from them.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_dnsleak");

fn corpus() -> PathBuf {
    support::corpus().join("captures")
}

fn capture(name: &str) -> PathBuf {
    corpus().join(name)
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("replay-cli-{tag}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `dnsleak replay ARGS` in `dir`, without colour.
fn replay_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("replay")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn replay(args: &[&str]) -> Output {
    replay_in(&corpus(), args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The events of NDJSON output: every line is JSON; the last is the `stats` line of counters,
/// left out.
fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    let mut lines: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    if o.status.code() != Some(2) || !lines.is_empty() {
        let last = lines.pop();
        assert!(
            last.as_ref().is_some_and(|v| v["kind"] == "stats"),
            "the last line is the stats line: {last:?}"
        );
    }
    assert!(lines.iter().all(|v| v["kind"] != "stats"), "one stats line, the last");
    lines
}

fn assert_no_panic(o: &Output) {
    let err = text(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_summary_of_a_multi_interface_pcapng() {
    let o = replay(&["pcapplusplus__many_interfaces-1.pcapng"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    insta::assert_snapshot!("summary_many_interfaces", text(&o.stdout));
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_summary_of_two_files() {
    let o = replay(&["zeek__pcapng-multi-interface.pcapng", "zeek__mdns.pcap", "--top", "3"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    insta::assert_snapshot!("summary_two_files", text(&o.stdout));
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_summary_accounts_for_every_packet() {
    for file in ["ndpi__1kxun.pcap", "dnscap__frags.pcap", "pcapplusplus__many_interfaces-1.pcapng"] {
        let o = replay(&[file]);
        let out = text(&o.stdout);
        let line = out.lines().find(|l| l.starts_with("Packets:")).expect("a Packets line");
        // "Packets: N read = a dns + b other ..."
        let (read, parts) = line["Packets:".len()..].split_once(" read = ").unwrap();
        let sum: u64 = parts.split(" + ").map(|p| p.split(' ').next().unwrap().parse::<u64>().unwrap()).sum();
        assert_eq!(read.trim().parse::<u64>().unwrap(), sum, "{file}: {line}");
    }
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_exit_status_is_0_clean_1_exposed_2_error() {
    // mDNS only: multicast, nothing leaves.
    assert_eq!(replay(&["zeek__mdns.pcap"]).status.code(), Some(0));
    assert_eq!(replay(&["zeek__dns-edns-ecs.pcap"]).status.code(), Some(1));
    // The same capture with its interface declared a tunnel: clean.
    assert_eq!(replay(&["zeek__dns-edns-ecs.pcap", "--tunnel", "if0"]).status.code(), Some(0));
    assert_eq!(replay(&["no-such-file.pcap"]).status.code(), Some(2));
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_unnamed_interface_default_is_said_and_overridable() {
    let o = replay(&["zeek__dns-edns-ecs.pcap"]);
    let out = text(&o.stdout);
    assert!(out.contains("does not name its interface, so it is called if0 and judged physical"), "{out}");
    let o = replay(&["zeek__dns-edns-ecs.pcap", "--tunnel", "if0"]);
    assert!(!text(&o.stdout).contains("does not name its interface"));
}

/// Keys every line has, and the keys of each kind, with their JSON types.
fn check_schema(v: &serde_json::Value) {
    use serde_json::Value as V;
    let o = v.as_object().unwrap();
    let kind = o["kind"].as_str().unwrap();
    assert!(o["ts"].is_f64(), "{v}");
    assert!(o["frame"].is_u64() && o["frame"].as_u64().unwrap() >= 1, "{v}");
    assert!(o["iface"].is_string() && o["reason"].is_string(), "{v}");
    assert!(["query", "response", "encrypted", "malformed", "notice"].contains(&kind), "{v}");
    if kind == "notice" {
        assert!(o["verdict"].is_null() && o["notice"].is_string() && o["message"].is_string(), "{v}");
        return;
    }
    let verdict = o["verdict"].as_str().unwrap();
    assert!(["tunnel", "leak", "bypass", "local", "multicast"].contains(&verdict), "{v}");
    assert!(["udp", "tcp"].contains(&o["proto"].as_str().unwrap()), "{v}");
    assert!(["dns", "mdns", "llmnr", "dot", "doh", "doq"].contains(&o["transport"].as_str().unwrap()), "{v}");
    for k in ["src", "dst"] {
        assert!(o[k].as_str().unwrap().parse::<std::net::IpAddr>().is_ok(), "{v}");
    }
    for k in ["sport", "dport"] {
        assert!(o[k].as_u64().is_some_and(|p| p <= 65535), "{v}");
    }
    assert!(o["provider"].is_string() || o["provider"].is_null());
    if kind == "encrypted" {
        assert!(o["sni"].is_string() || o["sni"].is_null(), "{v}");
        return;
    }
    let nums = ["trans_id", "opcode", "rcode", "qdcount", "ancount", "nscount", "arcount"];
    let header = !o["trans_id"].is_null();
    for k in nums {
        assert!(if header { o[k].is_u64() } else { o[k].is_null() }, "{k}: {v}");
    }
    for k in ["AA", "TC", "RD", "RA", "AD", "CD"] {
        assert!(if header { o[k].is_boolean() } else { o[k].is_null() }, "{k}: {v}");
    }
    for k in ["opcode_name", "rcode_name"] {
        assert!(if header { o[k].is_string() } else { o[k].is_null() }, "{k}: {v}");
    }
    if !o["qname"].is_null() {
        assert!(o["qname"].is_string() && o["qtype"].is_u64() && o["qclass"].is_u64(), "{v}");
        assert!(o["qtype_name"].is_string() && o["qclass_name"].is_string(), "{v}");
    }
    match (&o["answers"], &o["TTLs"]) {
        (V::Array(a), V::Array(t)) => {
            assert_eq!(kind, "response", "{v}");
            assert_eq!(a.len(), t.len(), "{v}");
            assert!(a.iter().all(V::is_string) && t.iter().all(V::is_u64), "{v}");
        }
        (V::Null, V::Null) => {}
        _ => panic!("answers and TTLs: {v}"),
    }
    assert!(o["rtt"].is_null() || (kind == "response" && o["rtt"].is_f64()), "{v}");
    assert!(o["malformed"].is_null() == (kind != "malformed"), "{v}");
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn ndjson_schema_holds_on_every_corpus_capture() {
    let mut kinds = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(corpus()).unwrap() {
        let path = entry.unwrap().path();
        let o = replay(&["--json", path.to_str().unwrap()]);
        assert!(matches!(o.status.code(), Some(0 | 1)), "{}: {}", path.display(), text(&o.stderr));
        let lines = json_lines(&o);
        let mut last = 0;
        for v in &lines {
            check_schema(v);
            assert!(v.get("file").is_none(), "file only with several files: {v}");
            let frame = v["frame"].as_u64().unwrap();
            assert!(frame >= last || v["kind"] == "notice", "capture order: {v}");
            last = last.max(frame);
            kinds.insert(v["kind"].as_str().unwrap().to_string());
        }
    }
    for k in ["query", "response", "malformed"] {
        assert!(kinds.contains(k), "no {k} line in the whole corpus: {kinds:?}");
    }
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_ndjson_example_line_has_the_documented_values() {
    let o = replay(&["--json", "zeek__dns-edns-ecs.pcap"]);
    let lines = json_lines(&o);
    let q = lines.iter().find(|v| v["frame"] == 2).unwrap();
    assert_eq!(q["kind"], "query");
    assert_eq!(q["verdict"], "leak");
    assert_eq!(q["qname"], "ns1.weberdns.de");
    assert_eq!(q["qtype"], 1);
    assert_eq!(q["qtype_name"], "A");
    assert_eq!(q["trans_id"], 42561);
    assert_eq!(q["dport"], 53);
    assert!((q["ts"].as_f64().unwrap() - 1463559982.617313).abs() < 1e-6, "{}", q["ts"]);
    let r = lines.iter().find(|v| v["frame"] == 3).unwrap();
    assert_eq!(r["answers"][0], "80.154.108.230");
    assert_eq!(r["rcode_name"], "NOERROR");
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_several_files_add_a_file_field() {
    let o = replay(&["--json", "zeek__mdns.pcap", "zeek__pcapng-multi-interface.pcapng"]);
    let lines = json_lines(&o);
    assert!(lines.iter().any(|v| v["file"] == "zeek__mdns.pcap"));
    assert!(lines.iter().any(|v| v["file"] == "zeek__pcapng-multi-interface.pcapng"));
    assert!(lines.iter().all(|v| v["file"].is_string()));
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_multi_interface_pcapng_judges_each_packet_by_its_interface() {
    let o = replay(&["--json", "zeek__pcapng-multi-interface.pcapng"]);
    let ifaces: std::collections::BTreeSet<String> =
        json_lines(&o).iter().map(|v| v["iface"].as_str().unwrap().to_string()).collect();
    assert!(ifaces.contains("eth0"), "{ifaces:?}");
    assert!(ifaces.iter().any(|i| i.starts_with("\\Device\\NPF_")), "{ifaces:?}");
    let o = replay(&["--json", "pcapplusplus__many_interfaces-1.pcapng"]);
    assert!(json_lines(&o).iter().all(|v| v["iface"] == "en0"));
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_stdin_and_gzip_give_the_same_lines() {
    let file = capture("zeek__dns-edns-ecs.pcap");
    // The events (the stats lines differ in the bytes read).
    let plain = json_lines(&replay(&["--json", file.to_str().unwrap()]));
    let gz_path = tempdir("gz").join("c.pcap.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&std::fs::read(&file).unwrap()).unwrap();
    let gz = enc.finish().unwrap();
    std::fs::write(&gz_path, &gz).unwrap();
    assert_eq!(json_lines(&replay(&["--json", gz_path.to_str().unwrap()])), plain);
    for input in [std::fs::read(&file).unwrap(), gz] {
        let mut child = Command::new(BIN)
            .args(["replay", "--json", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(json_lines(&out), plain);
    }
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_json_into_a_closed_pipe_ends_quietly_with_0() {
    let f = capture("ndpi__1kxun.pcap");
    let f = f.to_str().unwrap();
    let mut child = Command::new(BIN)
        .args(["replay", "--json"])
        .args(std::iter::repeat_n(f, 40))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    // The reader is dropped here: the pipe closes like `| head -1`.
    let status = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(first.starts_with("{\"ts\":"), "{first}");
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "{err}");
}

/// A hostile file made from a corpus capture: (name, bytes, what the message must say).
fn hostile_files() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let pcap = std::fs::read(capture("zeek__dns-edns-ecs.pcap")).unwrap();
    let ng = std::fs::read(capture("zeek__pcapng-multi-interface.pcapng")).unwrap();
    let mut corrupt_len = pcap.clone();
    // Record 3's caplen: walk two records from the 24-byte header.
    let mut at = 24;
    for _ in 0..2 {
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
    }
    corrupt_len[at + 8..at + 12].copy_from_slice(&0xfff0_0000u32.to_le_bytes());
    let mut snaplen = pcap.clone();
    snaplen[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut ng_bad = ng.clone();
    let last = ng.len() - 4;
    ng_bad[last..].copy_from_slice(&7u32.to_le_bytes());
    let mut random = vec![0u8; 4096];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for b in random.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    vec![
        ("empty.pcap", Vec::new(), "empty"),
        ("random.pcap", random, "not a pcap or pcapng"),
        ("header-only.pcap", pcap[..20].to_vec(), "cut short"),
        ("truncated.pcap", pcap[..pcap.len() / 2].to_vec(), "truncated"),
        ("corrupt-length.pcap", corrupt_len, "byte offset"),
        ("snaplen.pcap", snaplen, "snap length"),
        ("bad-block.pcapng", ng_bad, "byte offset"),
        ("truncated.pcapng", ng[..ng.len() - 30].to_vec(), "truncated"),
    ]
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_every_kind_of_bad_file_exits_2_with_a_message_naming_the_file() {
    let dir = tempdir("bad");
    for (name, bytes, says) in hostile_files() {
        std::fs::write(dir.join(name), bytes).unwrap();
        for json in [false, true] {
            let args: Vec<&str> = if json { vec!["--json", name] } else { vec![name] };
            let o = replay_in(&dir, &args);
            assert_no_panic(&o);
            let err = text(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{name}: {err}");
            assert!(err.starts_with(&format!("dnsleak: {name}: ")), "{name}: {err}");
            assert!(err.contains(says), "{name} should say {says:?}: {err}");
            assert_eq!(err.lines().count(), 1, "one line: {err}");
        }
    }
    let o = replay_in(&dir, &["missing.pcap"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("missing.pcap: cannot open the file: No such file"),
        "{}",
        text(&o.stderr)
    );
    let o = replay_in(dir.parent().unwrap(), &[dir.file_name().unwrap().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("Is a directory"), "{}", text(&o.stderr));
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_events_before_a_fault_are_printed_and_counted() {
    let src = capture("zeek__dns-edns-ecs.pcap");
    let whole = json_lines(&replay(&["--json", src.to_str().unwrap()]));
    let bytes = std::fs::read(&src).unwrap();
    let dir = tempdir("prefix");
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let o = replay_in(&dir, &["--json", "cut.pcap"]);
    assert_eq!(o.status.code(), Some(2));
    let part = json_lines(&o);
    assert!(!part.is_empty());
    let frames_before: Vec<&serde_json::Value> =
        whole.iter().filter(|v| v["kind"] != "notice").take(part.len()).collect();
    for (a, b) in part.iter().filter(|v| v["kind"] != "notice").zip(frames_before) {
        assert_eq!(a["frame"], b["frame"]);
        assert_eq!(a["qname"], b["qname"]);
    }
    // The summary still prints what was read, then the error.
    let o = replay_in(&dir, &["cut.pcap"]);
    let out = text(&o.stdout);
    assert!(out.contains("Leaked names") && out.contains("ended early"), "{out}");
    assert!(text(&o.stderr).contains("cut.pcap: truncated"), "{}", text(&o.stderr));
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_escape_sequences_on_the_wire_never_reach_the_terminal() {
    // packetq's capture has names with control bytes; the summary shows them escaped.
    let o = replay(&["packetq__sample-rfc1035escape.pcap", "--top", "50"]);
    assert_no_panic(&o);
    let out = &o.stdout;
    assert!(!out.iter().any(|b| *b < 0x20 && *b != b'\n'), "{}", text(out));
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_colour_only_when_asked_or_on_a_terminal() {
    let piped = replay(&["zeek__dns-edns-ecs.pcap"]);
    assert!(!piped.stdout.contains(&0x1b), "no colour when piped");
    let always = replay(&["zeek__dns-edns-ecs.pcap", "--color", "always"]);
    assert!(always.stdout.contains(&0x1b), "--color always colours");
    // No progress bar either: standard error is not a terminal here.
    assert!(piped.stderr.is_empty(), "{}", text(&piped.stderr));
}

//! Text from the wire, the OS and the command line never drives the terminal, and NDJSON
//! writes characters that reorder or hide text as codes (issue #13).

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use dnsleak::output::pcapng::PcapngWriter;
use dnsleak_core::{LinkType, Ts};

/// What issue #13 named an interface (Linux allows it): set the title, clear the screen.
const EVIL: &str = "d\u{1b}]0;PW\u{7}\u{1b}[2J";

fn dnsleak(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dnsleak")).args(args).env("NO_COLOR", "1").output().expect("run dnsleak")
}

fn assert_no_raw_controls(what: &str, text: &str) {
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{what} holds raw control characters: {text:?}"
    );
}

/// A pcapng with one interface named `iface` carrying one query for `name` to 192.0.2.1.
fn capture(tag: &str, iface: &str, name: &str) -> PathBuf {
    let dns = support::dns_message(0x1234, false, name, 1, &[]);
    let ip = support::ipv4_udp([192, 0, 2, 10], 40000, [192, 0, 2, 1], 53, &dns);
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    let id = w.add_interface(iface, LinkType::RAW, &[]).unwrap();
    w.packet(id, Ts(1_700_000_000_000_000_000), ip.len() as u32, &ip, &[]).unwrap();
    let path = std::env::temp_dir().join(format!("dnsleak-escaping-{}-{tag}.pcapng", std::process::id()));
    std::fs::write(&path, w.into_inner()).unwrap();
    path
}

/// Regression (issue #13): error messages printed file paths raw.
#[test]
fn an_error_naming_a_file_is_escaped() {
    let path = std::env::temp_dir().join(format!("missing-{EVIL}.pcap"));
    let o = dnsleak(&["replay", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_no_raw_controls("the error", &err);
    assert!(err.contains("missing-d\\x1b]0;PW\\x07\\x1b[2J.pcap"), "{err}");
}

#[test]
fn the_summary_shows_interface_names_escaped() {
    let path = capture("summary", EVIL, "leak.example");
    let o = dnsleak(&["replay", "--physical", EVIL, path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "a leak: {out}");
    assert_no_raw_controls("the summary", &out);
    assert!(out.contains("d\\x1b]0;PW"), "{out}");
}

/// Regression (issue #13): NDJSON left U+202E, U+200B and U+009B raw.
#[test]
fn ndjson_writes_bidi_zero_width_and_c1_characters_as_codes() {
    let iface = "eth\u{202e}0\u{200b}\u{9b}";
    let path = capture("ndjson", iface, "a\u{202e}b.example");
    let o = dnsleak(&["replay", "--json", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(!out.contains(['\u{202e}', '\u{200b}', '\u{9b}']), "{out}");
    assert!(out.contains("eth\\u202e0\\u200b\\u009b"), "{out}");
    assert!(out.contains("a\\u202eb.example"), "{out}");
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
        if let Some(name) = v.get("iface").and_then(|n| n.as_str()) {
            assert_eq!(name, iface, "the same name once decoded");
        }
    }
}

/// Regression (issue #13): `-i NAME` reached the terminal raw in error messages.
#[test]
#[ignore = "root: live capture (CAP_NET_RAW) to get past the capture check"]
fn an_interface_asked_for_on_the_command_line_is_escaped() {
    let o = dnsleak(&["monitor", "--json", "--duration", "0.2", "-i", EVIL]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("live capture is not allowed"), "run as root: {err}");
    assert_no_raw_controls("the error", &err);
    assert!(err.contains("d\\x1b]0;PW\\x07\\x1b[2J"), "{err}");
}

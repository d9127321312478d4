//! The HTML audit report (`replay --report`): the page's structure on fixtures (insta
//! snapshots of a DOM outline), hostile text from the wire checked in the parsed DOM, and the
//! size bound with every table full of the longest escaped text.

mod report_common;

use std::process::Command;

use dnsleak::output::html::{render, CauseRow, Collector, Limits, OnLeakCounts, Origin};
use dnsleak::output::report::ReportLimits;
use dnsleak::output::Sink;
use report_common::{event, fixture, outline, replay_report, tmp_dir};
use scraper::{Html, Selector};

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("a valid selector")
}

#[test]
fn demo_report_structure() {
    let dir = tmp_dir("structure-demo");
    let html = replay_report(&dir, &[&fixture("demo.pcapng")], &[]);
    insta::assert_snapshot!(outline(&html));
}

#[test]
fn tunnel_dies_report_structure() {
    let dir = tmp_dir("structure-tunnel-dies");
    let html = replay_report(&dir, &[&fixture("tunnel-dies.pcapng")], &[]);
    insta::assert_snapshot!(outline(&html));
}

#[test]
fn clean_tunnel_report_structure() {
    let dir = tmp_dir("structure-clean");
    let html = replay_report(&dir, &[&fixture("clean-tunnel.pcapng")], &[]);
    insta::assert_snapshot!(outline(&html));
}

#[test]
fn report_goes_with_json_and_keeps_the_exit_status() {
    let dir = tmp_dir("with-json");
    let out = dir.join("r.html");
    let run = Command::new(env!("CARGO_BIN_EXE_dnsleak"))
        .args(["replay", "--quiet", "--json", "--report"])
        .arg(&out)
        .arg(fixture("lan-leak.pcapng"))
        .output()
        .expect("run dnsleak");
    assert_eq!(run.status.code(), Some(1), "a leak: exit 1");
    let ndjson = String::from_utf8_lossy(&run.stdout);
    assert!(ndjson.lines().count() >= 4 && ndjson.contains("\"verdict\":\"leak\""));
    let html = std::fs::read_to_string(&out).expect("the report was written");
    assert!(html.contains("leaked.example.com"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unwritable_report_path_fails_before_reading() {
    let run = Command::new(env!("CARGO_BIN_EXE_dnsleak"))
        .args(["replay", "--quiet", "--report", "/nonexistent-dir/r.html"])
        .arg(fixture("demo.pcapng"))
        .output()
        .expect("run dnsleak");
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("cannot create the report /nonexistent-dir/r.html"), "{err}");
    assert!(run.stdout.is_empty(), "nothing replayed: {}", String::from_utf8_lossy(&run.stdout));
}

#[test]
fn the_report_never_overwrites_an_input() {
    let dir = tmp_dir("overwrite");
    let input = dir.join("in.pcapng");
    std::fs::copy(fixture("demo.pcapng"), &input).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_dnsleak"))
        .args(["replay", "--quiet", "--report"])
        .arg(&input)
        .arg(&input)
        .output()
        .expect("run dnsleak");
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("is also a capture file"));
    assert_eq!(std::fs::read(&input).unwrap(), std::fs::read(fixture("demo.pcapng")).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Names, server names, interface names and notices carrying markup, quotes and bidi
/// overrides: the parsed page holds them as text only.
#[test]
fn hostile_text_stays_text() {
    let script = "<script>alert(1)</script>.evil.example";
    let quotes = "q\"uo'te\"><img src=x onerror=alert(2)>.example";
    let bidi = "gnp\u{202e}exe.example";
    let iface = "eth<b>0</b>\"'";
    let sni = "\"><svg onload=alert(3)>";
    let mut c = Collector::new(Limits::default(), ReportLimits::default());
    for (i, name) in [script, quotes, bidi].iter().enumerate() {
        c.event(&event::leak(i as i64, iface, name), None).unwrap();
    }
    c.event(&event::bypass(10, iface, Some(sni)), None).unwrap();
    c.event(&event::parallel(20, "wg<i>0", iface, script), None).unwrap();
    let html = render(&c.data(Origin::Live, vec![format!("note <u>{bidi}</u>")], None)).unwrap();
    let doc = Html::parse_document(&html);

    for tag in ["script", "img", "b", "i", "u", "link", "iframe", "object", "embed"] {
        assert_eq!(doc.select(&sel(tag)).count(), 0, "a <{tag}> element reached the DOM");
    }
    // The only <svg> elements are the charts.
    assert!(doc.select(&sel("svg")).all(|s| s.value().attr("class") == Some("chart")));
    for el in doc.root_element().descendants().filter_map(scraper::ElementRef::wrap) {
        for (attr, value) in el.value().attrs() {
            assert!(!attr.starts_with("on"), "event handler {attr}={value} on <{}>", el.value().name());
            assert!(!(attr == "src" || (attr == "href" && !value.starts_with('#'))), "{attr}={value}");
        }
    }
    let names: Vec<String> = doc.select(&sel("#names td.name")).map(|e| e.text().collect()).collect();
    assert!(names.iter().any(|n| n == script), "{names:?}");
    assert!(names.iter().any(|n| n == quotes), "{names:?}");
    assert!(names.iter().any(|n| n == "gnp\\u{202e}exe.example"), "{names:?}");
    let text: String = doc.root_element().text().collect();
    assert!(!text.contains('\u{202e}'), "a bidi override reached the page's text");
    let flows: String = doc.select(&sel("#flows")).flat_map(|e| e.text()).collect();
    assert!(flows.contains(sni) && flows.contains(iface), "{flows}");
    let notices: String = doc.select(&sel("#notices")).flat_map(|e| e.text()).collect();
    assert!(notices.contains("wg<i>0") && notices.contains(script), "{notices}");
    let csp = doc.select(&sel("meta[http-equiv=Content-Security-Policy]")).next().expect("a CSP");
    assert!(csp.value().attr("content").unwrap_or("").starts_with("default-src 'none'"));
}

/// Every table at its cap, every text as long as the wire allows and made of characters the
/// escaping quadruples: the page stays under 5 MB.
#[test]
fn a_full_report_stays_under_five_megabytes() {
    let mut c = Collector::default();
    let long = |i: usize| format!("{i:06}{}", "<".repeat(240));
    let ifaces: Vec<String> = (0..40).map(|i| format!("{i:02}{}", "&".repeat(60))).collect();
    for i in 0..5000usize {
        let iface = &ifaces[i % ifaces.len()];
        let j = event::leak(i as i64 * 1_000_000_007, iface, &long(i));
        let j = event::to(j, std::net::IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]));
        c.event(&j, None).unwrap();
        let b = event::bypass(i as i64 * 999_999_937, iface, Some(&long(i)));
        let b = event::to(b, std::net::IpAddr::from([11, (i >> 16) as u8, (i >> 8) as u8, i as u8]));
        c.event(&b, None).unwrap();
        c.event(&event::parallel(i as i64 * 7_000_000_001, iface, iface, &long(i)), None).unwrap();
    }
    let data = c.data(Origin::Live, Vec::new(), None);
    assert_eq!(data.leaked.names.len(), ReportLimits::default().names);
    let html = render(&data).unwrap();
    if let Ok(path) = std::env::var("DNSLEAK_FULL_REPORT_TO") {
        std::fs::write(path, &html).unwrap();
    }
    assert!(html.len() < 5 << 20, "{} bytes", html.len());
    assert!(html.contains("more resolver rows not listed"));
}

/// A file cut short: replay exits 2 and the report still comes, saying so.
#[test]
fn a_truncated_capture_still_gets_its_report() {
    let dir = tmp_dir("truncated");
    let bytes = std::fs::read(fixture("demo.pcapng")).unwrap();
    let cut = dir.join("cut.pcapng");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let out = dir.join("r.html");
    let run = Command::new(env!("CARGO_BIN_EXE_dnsleak"))
        .args(["replay", "--quiet", "--report"])
        .arg(&out)
        .arg(&cut)
        .output()
        .expect("run dnsleak");
    assert_eq!(run.status.code(), Some(2), "{}", String::from_utf8_lossy(&run.stderr));
    let html = std::fs::read_to_string(&out).expect("the report was written");
    let doc = Html::parse_document(&html);
    let notes: String = doc.select(&sel(".notes")).flat_map(|e| e.text()).collect();
    assert!(notes.contains("The input ended early with an error"), "{notes}");
    let sha: String = doc.select(&sel("td.sha")).flat_map(|e| e.text()).collect();
    assert_eq!(sha.len(), 64, "{sha}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The data of a live capture that saw one leak.
fn one_leak() -> dnsleak::output::html::ReportData {
    let mut c = Collector::default();
    c.event(&event::leak(0, "eth0", "a.example"), None).unwrap();
    c.data(Origin::Live, Vec::new(), None)
}

/// Causes, fixes, programs and resolver configuration show when the events carry them (set
/// here on the data, as the facts and process work will), with their text escaped.
#[test]
fn optional_parts_show_when_present() {
    let mut data = one_leak();
    assert!(data.causes.is_empty() && data.programs.is_empty() && data.configured.is_empty());
    let bare = Html::parse_document(&render(&data).unwrap());
    for gone in ["#causes", "#by-cause", "#by-program"] {
        assert_eq!(bare.select(&sel(gone)).count(), 0, "{gone} shown without data");
    }
    assert!(!bare.select(&sel("#resolvers th")).any(|th| th.text().any(|t| t == "configured")));
    data.causes = vec![CauseRow {
        cause: "split route <via eth0>".into(),
        detail: Some("203.0.113.0/24 \"goes\" around the tunnel".into()),
        fix: Some("route 203.0.113.0/24 through wg0:\n    ip route del 203.0.113.0/24 dev eth0\u{1b}".into()),
        count: 3,
    }];
    data.programs = vec![("firefox<x>".into(), 2)];
    data.configured = vec![("192.0.2.1".parse().unwrap(), true)];
    let html = render(&data).unwrap();
    let doc = Html::parse_document(&html);
    let causes: String = doc.select(&sel("#causes")).flat_map(|e| e.text()).collect();
    assert!(causes.contains("split route <via eth0>") && causes.contains("route 203.0.113.0/24 through wg0"));
    assert!(causes.contains("203.0.113.0/24 \"goes\" around the tunnel"), "{causes}");
    // The fix keeps its lines (commands), each escaped; the page shows them as lines.
    let fix: String = doc.select(&sel("#causes td.fix")).flat_map(|e| e.text()).collect();
    assert_eq!(
        fix, "route 203.0.113.0/24 through wg0:\n    ip route del 203.0.113.0/24 dev eth0\\x1b",
        "{html}"
    );
    assert!(html.contains("td.fix{white-space:pre-wrap}"));
    let program: String = doc.select(&sel("#by-program text")).flat_map(|e| e.text()).collect();
    assert!(program.contains("firefox<x>"), "{program}");
    assert_eq!(doc.select(&sel("#by-cause")).count(), 1);
    let configured: Vec<String> =
        doc.select(&sel("#resolvers tbody td:last-child")).map(|e| e.text().collect()).collect();
    assert_eq!(configured, ["yes"]);
    assert_eq!(doc.select(&sel("x")).count(), 0);
}

/// Every encrypted DNS protocol the core tells apart has its row, DoH on HTTP/3 (QUIC) apart
/// from DoH over TCP, with flows through and around the tunnel counted (the fixtures'
/// summaries say the same).
#[test]
fn encrypted_protocols_are_told_apart() {
    let dir = tmp_dir("encrypted");
    let files: Vec<_> = ["demo.pcapng", "quic-doq.pcapng", "quic-doh3.pcapng", "dnscrypt.pcapng"]
        .iter()
        .map(|n| fixture(n))
        .collect();
    let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    let html = replay_report(&dir, &paths, &[]);
    let doc = Html::parse_document(&html);
    let rows: Vec<Vec<String>> = doc
        .select(&sel("#encrypted tbody tr"))
        .map(|tr| {
            let cells: Vec<String> = tr.select(&sel("td")).map(|td| td.text().collect()).collect();
            // protocol, through the tunnel, around it.
            vec![cells[0].clone(), cells[3].clone(), cells[4].clone()]
        })
        .collect();
    let want =
        [["DoT", "1", "1"], ["DoH", "0", "1"], ["DoH3", "0", "2"], ["DoQ", "1", "1"], ["DNSCrypt", "1", "2"]];
    assert_eq!(rows, want.map(|r| r.map(String::from).to_vec()).to_vec());
    let transports: Vec<String> = doc
        .select(&sel("#flows table:not(#encrypted) tbody td:nth-child(6)"))
        .map(|e| e.text().collect())
        .collect();
    for t in ["DoT", "DoH", "DoH3", "DoQ", "DNSCrypt"] {
        assert!(transports.iter().any(|x| x == t), "{t} not among the bypassing flows: {transports:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Counters of what was given up or dropped are shown when not zero, named.
#[test]
fn given_up_and_dropped_counters_are_named() {
    let mut data = one_leak();
    let html = render(&data).unwrap();
    assert!(html.contains("Nothing was dropped"), "nothing dropped, nothing said");
    data.counters.core.quic_given_up = 3;
    data.counters.core.encrypted_flows_evicted = 5;
    data.on_leak = Some(OnLeakCounts { episodes: 9, succeeded: 4, failed: 1, dropped: 4 });
    let doc = Html::parse_document(&render(&data).unwrap());
    let text: String = doc.select(&sel("#unparsed")).flat_map(|e| e.text()).collect();
    assert!(text.contains("QUIC connections whose ClientHello could not be read whole"), "{text}");
    assert!(text.contains("encrypted-flow records dropped to keep memory bounded"), "{text}");
    assert!(text.contains("--on-leak commands not run (queue full, or the monitor stopping)4"), "{text}");
    assert!(text.contains("--on-leak commands that failed1"), "{text}");
}

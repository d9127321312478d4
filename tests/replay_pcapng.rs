//! pcapng details that the corpus does not exercise, on files built here: an Interface
//! Statistics Block with `isb_endtime` (how `dnsleak monitor --write` records a tunnel that
//! vanished), a binary `if_tsresol`, several sections in one file, and interface addresses with
//! their prefixes (`if_IPv4addr` / `if_IPv6addr`).

use std::path::PathBuf;
use std::process::Command;

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_dnsleak");

fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let len = (body.len() + 12) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&body);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

fn option(code: u16, value: &[u8]) -> Vec<u8> {
    let mut o = Vec::new();
    o.extend_from_slice(&code.to_le_bytes());
    o.extend_from_slice(&(value.len() as u16).to_le_bytes());
    o.extend_from_slice(value);
    while o.len() % 4 != 0 {
        o.push(0);
    }
    o
}

fn shb() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    block(0x0a0d_0d0a, &body)
}

fn idb(link: u16, name: &str, tsresol: Option<u8>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&link.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend(option(2, name.as_bytes()));
    if let Some(r) = tsresol {
        body.extend(option(9, &[r]));
    }
    body.extend(option(0, &[]));
    block(1, &body)
}

fn epb(iface: u32, units: u64, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&iface.to_le_bytes());
    body.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(units as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    block(6, &body)
}

fn isb_end(iface: u32, units: u64) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&iface.to_le_bytes());
    body.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(units as u32).to_le_bytes());
    let mut end = Vec::new();
    end.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
    end.extend_from_slice(&(units as u32).to_le_bytes());
    body.extend(option(3, &end));
    body.extend(option(0, &[]));
    block(5, &body)
}

/// An IPv4/UDP DNS query for `name` from 192.0.2.2 to `dst`, without a link header.
fn dns_query_ip(name: &str, dst: [u8; 4], id: u16) -> Vec<u8> {
    udp_ip([192, 0, 2, 2], 40000, dst, 53, &support::dns_message(id, false, name, 1, &[]))
}

/// An IPv4/UDP packet carrying `payload`, without a link header.
fn udp_ip(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let total = (20 + udp_len) as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    let sum = checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

fn checksum(h: &[u8]) -> u16 {
    let mut s: u32 = h.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]]) as u32).sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn ethernet(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    f.extend_from_slice(ip);
    f
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("replay-pcapng");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn json(path: &PathBuf) -> (Vec<serde_json::Value>, Option<i32>) {
    let o = Command::new(BIN).args(["replay", "--json"]).arg(path).output().unwrap();
    // The events: the final `stats` line of counters left out.
    let lines = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] != "stats")
        .collect();
    (lines, o.status.code())
}

/// serde_json reads floats to within an ulp or two.
fn close(v: &serde_json::Value, want: f64) -> bool {
    (v.as_f64().unwrap() - want).abs() < 1e-6
}

const SEC: u64 = 1_000_000; // default resolution: microseconds

/// The tunnel's ISB carries an end time and a packet follows: the tunnel is down for it.
#[test]
fn isb_end_time_marks_the_tunnel_down_for_what_follows() {
    let mut f = shb();
    f.extend(idb(1, "eth0", None));
    f.extend(idb(101, "wg0", None));
    f.extend(epb(1, 1_700_000_000 * SEC, &dns_query_ip("before.example", [198, 51, 100, 1], 1)));
    f.extend(isb_end(1, 1_700_000_001 * SEC));
    f.extend(epb(0, 1_700_000_002 * SEC, &ethernet(&dns_query_ip("after.example", [198, 51, 100, 1], 2))));
    let (lines, code) = json(&write("isb.pcapng", &f));
    assert_eq!(code, Some(1));
    let kinds: Vec<(&str, &str)> =
        lines.iter().map(|v| (v["kind"].as_str().unwrap(), v["iface"].as_str().unwrap())).collect();
    assert_eq!(
        kinds,
        [("query", "wg0"), ("notice", "wg0"), ("query", "eth0"), ("notice", "eth0")],
        "{lines:?}"
    );
    assert_eq!(lines[0]["verdict"], "tunnel");
    assert_eq!(lines[1]["notice"], "tunnel_down");
    assert!(close(&lines[1]["ts"], 1_700_000_001.0));
    assert_eq!(lines[2]["verdict"], "leak");
    assert_eq!(lines[3]["notice"], "kill_switch_failed");
}

/// dumpcap writes an ISB with an end time for every interface when it closes a file: with no
/// packet after it, nothing changes.
#[test]
fn isb_at_the_end_of_a_file_changes_nothing() {
    let mut f = shb();
    f.extend(idb(101, "wg0", None));
    f.extend(epb(0, 1_700_000_000 * SEC, &dns_query_ip("q.example", [198, 51, 100, 1], 1)));
    f.extend(isb_end(0, 1_700_000_001 * SEC));
    let (lines, code) = json(&write("isb-end.pcapng", &f));
    assert_eq!(code, Some(0));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["verdict"], "tunnel");
}

#[test]
fn binary_and_decimal_time_resolutions() {
    let mut f = shb();
    // 2^-20 s units on wg0, nanoseconds on wg1.
    f.extend(idb(101, "wg0", Some(0x80 | 20)));
    f.extend(idb(101, "wg1", Some(9)));
    f.extend(epb(0, 1_700_000_000u64 << 20 | 1 << 19, &dns_query_ip("a.example", [198, 51, 100, 1], 1)));
    f.extend(epb(1, 1_700_000_000_250_000_000, &dns_query_ip("b.example", [198, 51, 100, 1], 2)));
    let (lines, _) = json(&write("tsresol.pcapng", &f));
    // Two interfaces: judged in time order, so b (0.25 s) comes before a (0.5 s).
    assert_eq!(
        (lines[0]["qname"].as_str(), lines[1]["qname"].as_str()),
        (Some("b.example"), Some("a.example"))
    );
    assert!(close(&lines[1]["ts"], 1_700_000_000.5), "{}", lines[1]["ts"]);
    assert!(close(&lines[0]["ts"], 1_700_000_000.25), "{}", lines[0]["ts"]);
}

/// A second section renumbers interfaces from 0; its packets are judged by its own blocks.
#[test]
fn a_second_section_has_its_own_interfaces() {
    let mut f = shb();
    f.extend(idb(101, "wg0", None));
    f.extend(epb(0, 1_700_000_000 * SEC, &dns_query_ip("one.example", [198, 51, 100, 1], 1)));
    f.extend(shb());
    f.extend(idb(1, "eth0", None));
    f.extend(epb(0, 1_700_000_001 * SEC, &ethernet(&dns_query_ip("two.example", [192, 0, 2, 1], 2))));
    let (lines, code) = json(&write("sections.pcapng", &f));
    assert_eq!(code, Some(1));
    let got: Vec<(&str, &str)> =
        lines.iter().map(|v| (v["iface"].as_str().unwrap(), v["verdict"].as_str().unwrap())).collect();
    assert_eq!(got, [("wg0", "tunnel"), ("eth0", "leak")]);
}

/// A packet on an interface no block declared is a corrupt file, reported with its offset.
#[test]
fn packet_on_an_undeclared_interface_is_an_error_after_what_came_before() {
    let mut f = shb();
    f.extend(idb(101, "wg0", None));
    f.extend(epb(0, 1_700_000_000 * SEC, &dns_query_ip("one.example", [198, 51, 100, 1], 1)));
    let offset = f.len();
    f.extend(epb(7, 1_700_000_001 * SEC, &dns_query_ip("two.example", [198, 51, 100, 1], 2)));
    let path = write("undeclared.pcapng", &f);
    let o = Command::new(BIN).args(["replay", "--json"]).arg(&path).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(out.lines().filter(|l| !l.starts_with(r#"{"kind":"stats""#)).count(), 1, "{out}");
    assert!(
        out.lines().last().is_some_and(|l| l.starts_with(r#"{"kind":"stats""#)),
        "counters even so: {out}"
    );
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains(&format!("byte offset {offset}")) && err.contains("interface 7"), "{err}");
}

/// The interfaces `for_each_frame` hands out for the file at `path`.
fn file_ifaces(path: &std::path::Path) -> Vec<dnsleak::capture::reader::FileIface> {
    use dnsleak::capture::reader::{for_each_frame, Input};
    let mut seen = Vec::new();
    for_each_frame(path, |input| {
        if let Input::Interfaces { ifaces, .. } = input {
            seen = ifaces.to_vec();
        }
        Ok(())
    })
    .unwrap();
    seen
}

/// `monitor --write` records each interface's addresses with their prefixes; replay reads them
/// back as they were (an address whose prefix is unknown is not written).
#[test]
fn interface_addresses_and_prefixes_round_trip() {
    use dnsleak::output::pcapng::PcapngWriter;
    use dnsleak_core::{IfaceAddr, LinkType, Ts};
    let a = |s: &str, p: Option<u8>| IfaceAddr::new(s.parse().unwrap(), p);
    let eth0 = [a("192.0.2.10", Some(24)), a("2001:db8:1::10", Some(64)), a("fe80::1", Some(64))];
    let wg0 = [a("10.64.0.2", Some(32)), a("fd00:64::2", Some(128)), a("203.0.113.9", None)];
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    w.add_interface("eth0", LinkType::ETHERNET, &eth0).unwrap();
    w.add_interface("wg0", LinkType::RAW, &wg0).unwrap();
    w.packet(
        0,
        Ts(1_700_000_000_000_000_000),
        0,
        &ethernet(&dns_query_ip("a.example", [192, 0, 2, 1], 1)),
        &[],
    )
    .unwrap();
    let path = write("addresses.pcapng", &w.into_inner());
    let ifaces = file_ifaces(&path);
    assert_eq!(ifaces.len(), 2);
    assert_eq!(ifaces[0].addrs, eth0);
    assert_eq!(ifaces[1].addrs, wg0[..2]);
    let topology = dnsleak::capture::reader::topology_of(&ifaces, &Default::default());
    let eth = topology.by_name("eth0").unwrap();
    assert_eq!(eth.facts.addrs[0].subnet().unwrap().to_string(), "192.0.2.0/24");
}

/// Regression: pcap-parser 0.17's `if_ipv6addr()` looks for option code 4 (IPv4) instead of 5,
/// so IPv6 addresses were never read and an interface with an IPv4 address lost both. A block
/// written by hand (as other tools write it) is read whole; a non-contiguous netmask gives the
/// address without a prefix, and a malformed option is skipped.
#[test]
fn ipv6_interface_addresses_are_read_despite_the_pcap_parser_option_code_bug() {
    let mut body = Vec::new();
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend(option(2, b"eth0"));
    body.extend(option(4, &[192, 0, 2, 10, 255, 255, 255, 0]));
    let mut v6 = "2001:db8::10".parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec();
    v6.push(48);
    body.extend(option(5, &v6));
    body.extend(option(4, &[198, 51, 100, 7, 255, 0, 255, 0]));
    body.extend(option(5, &[1, 2, 3]));
    body.extend(option(0, &[]));
    let mut f = shb();
    f.extend(block(1, &body));
    f.extend(epb(0, 1_700_000_000 * SEC, &ethernet(&dns_query_ip("a.example", [192, 0, 2, 1], 1))));
    let ifaces = file_ifaces(&write("v6-option.pcapng", &f));
    let got: Vec<String> = ifaces[0].addrs.iter().map(|a| a.to_string()).collect();
    assert_eq!(got, ["192.0.2.10/24", "2001:db8::10/48", "198.51.100.7"]);
}

/// `monitor --write` keeps each outgoing message's sender as a packet comment: replay names
/// the program again (a response its query's, a stub's upstream hop the program it asked
/// for), leaves packets without one `unattributed`, ignores comments of other tools, and
/// escapes a hostile name. A file without any comment has `process` null.
#[test]
fn recorded_senders_replay_as_programs() {
    use dnsleak::output::pcapng::PcapngWriter;
    use dnsleak_core::{LinkType, Ts};
    let (me, lan) = ([192, 0, 2, 2], [198, 51, 100, 1]);
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    let eth = w.add_interface("eth0", LinkType::ETHERNET, &[]).unwrap();
    let t = |n: i64| Ts(1_700_000_000_000_000_000 + n * 1_000_000);
    let q = |id, name, sport| {
        ethernet(&udp_ip(me, sport, lan, 53, &support::dns_message(id, false, name, 1, &[])))
    };
    let dig = "dnsleak.process udp 192.0.2.2:40000 198.51.100.1:53 attributed pid=4242 uid=0 name=dig exe=/usr/bin/dig";
    let stub = "dnsleak.process udp 192.0.2.2:40001 198.51.100.1:53 attributed pid=77 name=dnsmasq for.pid=1200 for.name=fire%1bfox";
    w.packet(eth, t(0), 0, &q(1, "a.example", 40000), &[dig.into(), "a comment of wireshark's".into()])
        .unwrap();
    let answer = ethernet(&udp_ip(
        lan,
        53,
        me,
        40000,
        &support::dns_message(1, true, "a.example", 1, &[[192, 0, 2, 9]]),
    ));
    w.packet(eth, t(1), 0, &answer, &[]).unwrap();
    w.packet(eth, t(2), 0, &q(2, "b.example", 40001), &[stub.into()]).unwrap();
    w.packet(eth, t(3), 0, &q(3, "c.example", 40002), &[]).unwrap();
    let path = write("programs.pcapng", &w.into_inner());
    let (lines, code) = json(&path);
    assert_eq!(code, Some(1), "{lines:?}");
    let by_name = |n: &str, kind: &str| {
        lines
            .iter()
            .find(|v| v["qname"] == n && v["kind"] == kind)
            .unwrap_or_else(|| panic!("{n} {kind}: {lines:?}"))
    };
    let a = by_name("a.example", "query");
    assert_eq!(
        a["process"],
        serde_json::json!({"pid": 4242, "name": "dig", "exe": "/usr/bin/dig", "uid": 0})
    );
    assert_eq!(
        (&a["on_behalf_of"], &a["attribution"]),
        (&serde_json::Value::Null, &serde_json::json!("attributed"))
    );
    assert_eq!(by_name("a.example", "response")["process"]["pid"], 4242);
    let b = by_name("b.example", "query");
    assert_eq!(
        (&b["process"]["name"], &b["on_behalf_of"]["pid"]),
        (&serde_json::json!("dnsmasq"), &serde_json::json!(1200))
    );
    assert_eq!(b["on_behalf_of"]["name"], "fire\u{1b}fox");
    let c = by_name("c.example", "query");
    assert_eq!(
        (&c["process"], &c["attribution"]),
        (&serde_json::Value::Null, &serde_json::json!("unattributed"))
    );
    // The summary groups the leaks by program and says where the names came from.
    let o = Command::new(BIN).args(["replay", "--color", "never"]).arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Leaked by: dig (pid 4242) 1"), "{text}");
    assert!(text.contains("unknown program 1"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(text.contains("Programs: 2 of 3 outgoing messages named, 1 unknown"), "{text}");
    // Other files: no comment, no program.
    let mut f = shb();
    f.extend(idb(101, "wg0", None));
    f.extend(epb(0, 1_700_000_000 * SEC, &dns_query_ip("q.example", [198, 51, 100, 1], 1)));
    let (lines, _) = json(&write("plain.pcapng", &f));
    assert_eq!(
        (&lines[0]["process"], &lines[0]["attribution"]),
        (&serde_json::Value::Null, &serde_json::Value::Null)
    );
}

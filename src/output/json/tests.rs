//! The NDJSON writer's unit tests.

use super::*;
use proptest::strategy::Strategy;

fn query(qtype: u16) -> Judged {
    use dnsleak_core::event::{MessageKind, QName, Question, Wire};
    use dnsleak_core::{Event, Transport, Ts, L4};
    let addr = |a: &str| a.parse().unwrap();
    let wire = Wire {
        proto: L4::Udp,
        transport: Transport::Dns,
        src: addr("192.0.2.2"),
        sport: 40000,
        dst: addr("192.0.2.1"),
        dport: 53,
        encap: None,
        provider: None,
    };
    let question = Some(Question { name: QName::from("example.com"), qtype, qclass: 1 });
    let header = DnsHeader { id: 7, flags: 0x0100, qdcount: 1, ..Default::default() };
    let dns = Some(DnsInfo { header, question, payload: Box::default() });
    let body = Body::Message(Message { kind: MessageKind::Query, wire, dns, rtt_ns: None, owner: None });
    Judged::unjudged(Event { ts: Ts(0), frame: 1, iface: 0, iface_name: "eth0".into(), body })
}

/// Regression: NDJSON said `TYPE10` for NULL (and the dashboard `TYPE17` for RP).
#[test]
fn ndjson_names_type_10_null_and_17_rp() {
    for (qtype, name) in [(10, "NULL"), (17, "RP")] {
        let mut b = Vec::new();
        write_event(&mut b, &query(qtype), None);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["qtype_name"], name, "{v}");
    }
}

#[test]
fn the_program_comes_last_as_objects() {
    use dnsleak_core::{Attribution, Owner, Process};
    let mut j = query(1);
    let Body::Message(m) = &mut j.event.body else { unreachable!() };
    let dig = Process { pid: 4242, name: "dig\u{1b}".into(), exe: Some("/usr/bin/dig".into()), uid: Some(0) };
    let stub = Process { pid: 77, name: "dnsmasq".into(), exe: None, uid: None };
    m.owner =
        Some(std::sync::Arc::new(Owner { process: Attribution::Process(stub), on_behalf_of: Some(dig) }));
    let mut b = Vec::new();
    write_event(&mut b, &j, None);
    let text = String::from_utf8(b).unwrap();
    assert!(
        text.ends_with(
            r#""rtt":null,"process":{"pid":77,"name":"dnsmasq","exe":null,"uid":null},"on_behalf_of":{"pid":4242,"name":"dig\u001b","exe":"/usr/bin/dig","uid":0},"attribution":"attributed","cause":null,"cause_detail":null,"fix":null,"resolver_configured":null}"#
        ),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["on_behalf_of"]["name"], "dig\u{1b}");
    // Without attribution: three nulls, after every field there was before (then the causes').
    let mut b = Vec::new();
    write_event(&mut b, &query(1), None);
    assert!(String::from_utf8(b)
        .unwrap()
        .ends_with(r#""rtt":null,"process":null,"on_behalf_of":null,"attribution":null,"cause":null,"cause_detail":null,"fix":null,"resolver_configured":null}"#));
}

#[test]
fn strings_escape_what_json_requires() {
    let mut b = Vec::new();
    string(&mut b, "a\"b\\c\n\x1b[2J\x7f é");
    assert_eq!(String::from_utf8(b).unwrap(), "\"a\\\"b\\\\c\\n\\u001b[2J\\u007f é\"");
}

/// Regression (issue #13): NDJSON left U+202E, U+200B and U+009B raw (legal JSON, but a
/// log viewer shows the line reversed or hides text). Every bidi control, zero-width
/// character and C1 control is written as \uXXXX; other non-ASCII text stays as it is.
#[test]
fn bidi_zero_width_and_c1_characters_are_written_as_codes() {
    let hidden = [
        '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}',
        '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}', '\u{200b}', '\u{200c}', '\u{200d}', '\u{feff}',
        '\u{80}', '\u{9b}', '\u{9f}',
    ];
    for c in hidden {
        let mut b = Vec::new();
        string(&mut b, &format!("x{c}y"));
        let text = String::from_utf8(b).unwrap();
        assert_eq!(text, format!("\"x\\u{:04x}y\"", c as u32));
        let back: String = serde_json::from_str(&text).unwrap();
        assert_eq!(back, format!("x{c}y"), "the same text once decoded");
        assert_eq!(harden(&serde_json::to_string(&format!("x{c}y")).unwrap()), text);
    }
    for plain in ["bücher.example", "пример.испытание", "例え.テスト", "© ½ ¡", "مثال", "—…€"]
    {
        let mut b = Vec::new();
        string(&mut b, plain);
        assert_eq!(String::from_utf8(b).unwrap(), format!("\"{plain}\""));
    }
}

/// The escaping a character at a time, as `string` did before it copied runs.
fn string_by_chars(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_hidden_or_control(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

proptest::proptest! {
    /// Any text, mixed from the characters that matter (marked lead bytes that start both
    /// hidden and plain characters, quotes, controls) and any other: as a character at a time.
    #[test]
    fn string_copies_runs_as_a_character_at_a_time(
        parts in proptest::collection::vec(proptest::prop_oneof![
            proptest::sample::select(vec![
                "\"", "\\", "\n", "\t", "\x1b", "\x7f", "\u{80}", "\u{9b}", "\u{a0}", "\u{e9}", "\u{600}",
                "\u{61c}", "\u{1000}", "\u{180e}", "\u{2014}", "\u{200b}", "\u{202e}", "\u{2192}", "\u{2069}",
                "\u{e000}", "\u{feff}", "\u{fff9}", "\u{fffd}", "\u{1f600}", "a", "example.com",
            ]).prop_map(String::from),
            proptest::prelude::any::<String>(),
        ], 0..12)
    ) {
        let text = parts.concat();
        let mut b = Vec::new();
        string(&mut b, &text);
        proptest::prop_assert_eq!(String::from_utf8(b).unwrap(), string_by_chars(&text));
    }
}

#[test]
fn numbers_and_addresses() {
    let mut b = Vec::new();
    let mut o = Obj::new(&mut b, 0);
    for v in [0, 7, 10, 65535, u64::MAX] {
        o.num(k!("n"), v);
    }
    o.addr(k!("a"), "192.0.2.255".parse().unwrap());
    o.addr(k!("b"), "fd00::53".parse().unwrap());
    o.addr(k!("c"), "0.0.0.0".parse().unwrap());
    o.end();
    assert_eq!(
        String::from_utf8(b).unwrap(),
        "{\"ts\":0.000000000,\"n\":0,\"n\":7,\"n\":10,\"n\":65535,\"n\":18446744073709551615,\
         \"a\":\"192.0.2.255\",\"b\":\"fd00::53\",\"c\":\"0.0.0.0\"}"
    );
}

#[test]
fn seconds_keep_nanoseconds() {
    let mut b = Vec::new();
    let mut o = Obj::new(&mut b, 1_700_000_000_123_456_789);
    o.secs(k!("neg"), -1_500_000_000);
    o.secs(k!("small"), 42);
    o.end();
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["ts"].as_f64(), Some(1_700_000_000.123_456_8));
    assert_eq!(
        String::from_utf8(b).unwrap(),
        "{\"ts\":1700000000.123456789,\"neg\":-1.500000000,\"small\":0.000000042}"
    );
}

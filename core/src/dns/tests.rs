//! Unit tests of the DNS decoders, on messages built byte by byte.

use super::*;

/// A message: header words, then `body` as is.
fn msg(id: u16, flags: u16, counts: [u16; 4], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    for w in [id, flags, counts[0], counts[1], counts[2], counts[3]] {
        m.extend_from_slice(&w.to_be_bytes());
    }
    m.extend_from_slice(body);
    m
}

/// `www.example.com` A IN, as a question.
const Q_WWW: &[u8] = b"\x03www\x07example\x03com\x00\x00\x01\x00\x01";

#[test]
fn query_header_and_question() {
    let m = msg(0x1234, 0x0100, [1, 0, 0, 0], Q_WWW);
    let info = decode_fast(&m).unwrap();
    assert_eq!(info.header.id, 0x1234);
    assert!(!info.header.qr());
    assert!(info.header.rd());
    let q = info.question.unwrap();
    assert_eq!((&*q.name, q.qtype, q.qclass), ("www.example.com", 1, 1));
    assert_eq!(&*info.payload, &m[..]);
}

#[test]
fn response_with_answer_full_decode() {
    // www.example.com A -> 192.0.2.9, answer name compressed to offset 12
    let mut body = Q_WWW.to_vec();
    body.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\xc0\x00\x02\x09");
    let m = msg(7, 0x8180, [1, 1, 0, 0], &body);
    let info = decode_fast(&m).unwrap();
    assert!(info.header.qr());
    assert_eq!(info.header.rcode(), 0);
    let full = decode_full(&m).unwrap();
    assert_eq!(
        full.answers,
        vec![Answer { name: "www.example.com".into(), rtype: 1, ttl: 300, data: "192.0.2.9".into() }]
    );
    assert_eq!(full.edns, None);
}

#[test]
fn full_decode_cname_ptr_txt_aaaa() {
    let mut body = Q_WWW.to_vec();
    // CNAME -> a.example.com (a + pointer to "example.com" at offset 16)
    body.extend_from_slice(b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x04\x01a\xc0\x10");
    // PTR -> www.example.com
    body.extend_from_slice(b"\xc0\x0c\x00\x0c\x00\x01\x00\x00\x00\x3c\x00\x02\xc0\x0c");
    // TXT "hi" "there"
    body.extend_from_slice(b"\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x3c\x00\x09\x02hi\x05there");
    // AAAA fd00::1
    body.extend_from_slice(b"\xc0\x0c\x00\x1c\x00\x01\x00\x00\x00\x3c\x00\x10");
    body.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    let m = msg(9, 0x8180, [1, 4, 0, 0], &body);
    let data: Vec<String> = decode_full(&m).unwrap().answers.into_iter().map(|a| a.data).collect();
    assert_eq!(data, ["a.example.com", "www.example.com", "hi there", "fd00::1"]);
}

#[test]
fn edns_udp_size_do_bit_subnet_and_extended_rcode() {
    let mut body = Q_WWW.to_vec();
    // OPT: root, type 41, class 1232, ttl: ext-rcode 1, version 0, DO; ECS 192.0.2.0/24
    body.extend_from_slice(b"\x00\x00\x29\x04\xd0\x01\x00\x80\x00\x00\x0b");
    body.extend_from_slice(b"\x00\x08\x00\x07\x00\x01\x18\x00\xc0\x00\x02");
    let m = msg(3, 0x8187, [1, 0, 0, 1], &body);
    let info = decode_fast(&m).unwrap();
    assert_eq!(info.header.rcode(), 7);
    let edns = decode_full(&m).unwrap().edns.unwrap();
    assert_eq!(edns.udp_size, 1232);
    assert!(edns.dnssec_ok);
    assert_eq!(edns.client_subnet.as_deref(), Some("192.0.2.0/24"));
    assert_eq!(edns.rcode_ext, 23); // BADCOOKIE: 7 | 1 << 4
}

#[test]
fn root_and_no_question() {
    let m = msg(1, 0, [1, 0, 0, 0], b"\x00\x00\x02\x00\x01");
    assert_eq!(&*decode_fast(&m).unwrap().question.unwrap().name, "");
    let m = msg(1, 0x8000, [0, 0, 0, 0], b"");
    assert_eq!(decode_fast(&m).unwrap().question, None);
}

#[test]
fn name_bytes_kept_as_text() {
    // one label ",." (a dot inside a label stays a dot), one with a tab, one not UTF-8
    let m = msg(1, 0, [1, 0, 0, 0], b"\x02,.\x02a\t\x01\xff\x00\x00\x01\x00\x01");
    let q = decode_fast(&m).unwrap().question.unwrap();
    assert_eq!(&*q.name, ",..a\t.\u{fffd}");
    // case is kept
    let m = msg(1, 0, [1, 0, 0, 0], b"\x03WwW\x00\x00\x01\x00\x01");
    assert_eq!(&*decode_fast(&m).unwrap().question.unwrap().name, "WwW");
}

fn reason(m: &[u8]) -> (Malformed, Option<DnsHeader>, bool) {
    let bad = decode_fast(m).unwrap_err();
    (bad.reason, bad.header, bad.question.is_some())
}

#[test]
fn short_header() {
    assert_eq!(reason(&[0; 11]), (Malformed::ShortHeader, None, false));
    assert_eq!(reason(&[]), (Malformed::ShortHeader, None, false));
}

#[test]
fn truncated_question_keeps_header() {
    let m = msg(5, 0, [1, 0, 0, 0], &Q_WWW[..10]);
    let (r, h, q) = reason(&m);
    assert_eq!((r, h.unwrap().id, q), (Malformed::Truncated, 5, false));
    let m = msg(5, 0, [1, 0, 0, 0], &Q_WWW[..Q_WWW.len() - 1]);
    assert_eq!(reason(&m).0, Malformed::Truncated);
    let m = msg(5, 0, [1, 0, 0, 0], b"");
    assert_eq!(reason(&m).0, Malformed::Truncated);
}

#[test]
fn pointer_faults() {
    // pointer beyond the message
    let m = msg(1, 0, [1, 0, 0, 0], b"\xc0\xff\x00\x01\x00\x01");
    assert_eq!(reason(&m).0, Malformed::BadPointer);
    // forward pointer to a name after the question
    let m = msg(1, 0, [1, 0, 0, 0], b"\xc0\x12\x00\x01\x00\x01\x01a\x00");
    assert_eq!(reason(&m).0, Malformed::BadPointer);
    // pointer to itself: a loop
    let m = msg(1, 0, [1, 0, 0, 0], b"\xc0\x0c\x00\x01\x00\x01");
    assert_eq!(reason(&m).0, Malformed::PointerLoop);
    // a label, then a pointer back to that label: a loop
    let m = msg(1, 0, [1, 0, 0, 0], b"\x01a\xc0\x0c\x00\x01\x00\x01");
    assert_eq!(reason(&m).0, Malformed::PointerLoop);
}

#[test]
fn long_backward_pointer_chains_end() {
    // A private-type record whose data is a root name followed by 2000 pointers, each to the
    // one before; then an answer named by the last pointer: 2000 hops, bounded, no blowup.
    let mut body = Q_WWW.to_vec();
    let rdata_at = 12 + body.len() + 12;
    let mut chain = vec![0u8];
    for k in 0..2000usize {
        let target = if k == 0 { rdata_at } else { rdata_at + 1 + 2 * (k - 1) };
        chain.extend_from_slice(&(0xc000 | target as u16).to_be_bytes());
    }
    body.extend_from_slice(b"\xc0\x0c\xff\x00\x00\x01\x00\x00\x00\x01");
    body.extend_from_slice(&(chain.len() as u16).to_be_bytes());
    body.extend_from_slice(&chain);
    let last = rdata_at + 1 + 2 * 1999;
    body.extend_from_slice(&(0xc000 | last as u16).to_be_bytes());
    body.extend_from_slice(b"\x00\x01\x00\x01\x00\x00\x00\x01\x00\x04\xc0\x00\x02\x01");
    let m = msg(1, 0x8000, [1, 2, 0, 0], &body);
    assert!(decode_fast(&m).is_ok());
    let full = decode_full(&m).unwrap();
    assert_eq!((full.answers[1].name.as_str(), full.answers[1].data.as_str()), ("", "192.0.2.1"));
}

#[test]
fn extended_and_reserved_label_types() {
    let m = msg(1, 0, [1, 0, 0, 0], b"\x41abc\x00\x00\x01\x00\x01");
    assert_eq!(reason(&m).0, Malformed::BadLabel);
    let m = msg(1, 0, [1, 0, 0, 0], b"\x81abc\x00\x00\x01\x00\x01");
    assert_eq!(reason(&m).0, Malformed::BadLabel);
}

#[test]
fn name_too_long() {
    let mut body = Vec::new();
    for _ in 0..5 {
        body.push(63);
        body.extend_from_slice(&[b'a'; 63]);
    }
    body.extend_from_slice(b"\x00\x00\x01\x00\x01");
    let m = msg(1, 0, [1, 0, 0, 0], &body);
    assert_eq!(reason(&m).0, Malformed::NameTooLong);
}

#[test]
fn counts_bigger_than_the_message_keep_the_question() {
    let m = msg(1, 0x8000, [1, 500, 0, 0], Q_WWW);
    let (r, h, q) = reason(&m);
    assert_eq!((r, h.unwrap().ancount, q), (Malformed::BadCounts, 500, true));
    let m = msg(1, 0, [65535, 0, 0, 0], Q_WWW);
    assert_eq!(reason(&m).0, Malformed::BadCounts);
    // exactly enough room for one minimal record is fine
    let m = msg(1, 0x8000, [1, 1, 0, 0], &[Q_WWW, b"\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x00"].concat());
    assert!(decode_fast(&m).is_ok());
}

#[test]
fn full_decode_errors() {
    assert_eq!(decode_full(&[0; 5]), Err(Malformed::ShortHeader));
    let m = msg(1, 0x8000, [1, 1, 0, 0], Q_WWW);
    assert_eq!(decode_full(&m), Err(Malformed::Truncated));
}

/// hickory's own `Name::read`, with the fault mapping the hot path used before it read names
/// itself: the reference `read_name` must agree with.
fn hickory_read(m: &[u8]) -> Result<(String, usize), Malformed> {
    use hickory_proto::serialize::binary::BinDecodable;
    let mut dec = BinDecoder::new(m);
    let _ = dec.read_slice(12);
    let start = dec.index();
    let r = Name::read(&mut dec).map(|n| name_text(&n).into()).map_err(|e| match e {
        DecodeError::InsufficientBytes => Malformed::Truncated,
        DecodeError::PointerNotPriorToLabel { idx, ptr } => {
            let ptr = usize::from(ptr);
            let looping = ptr >= start && ptr <= idx && ptr < m.len();
            if looping {
                Malformed::PointerLoop
            } else {
                Malformed::BadPointer
            }
        }
        DecodeError::LabelOverlapsWithOther { .. } => Malformed::PointerLoop,
        DecodeError::UnrecognizedLabelCode(_) | DecodeError::LabelBytesTooLong(_) => Malformed::BadLabel,
        DecodeError::DomainNameTooLong(_) => Malformed::NameTooLong,
        _ => Malformed::Truncated,
    });
    r.map(|text| (text, dec.index()))
}

fn ours_read(m: &[u8]) -> Result<(String, usize), Malformed> {
    let mut text = NameText::new();
    let end = read_name(m, 12, &mut text)?;
    Ok((String::from_utf8_lossy(text.as_bytes()).into_owned(), end))
}

#[derive(Debug, Clone)]
enum Tok {
    Label(Vec<u8>),
    Pointer(u16),
    Byte(u8),
    Root,
}

fn tokens() -> impl proptest::strategy::Strategy<Value = Vec<Tok>> {
    use proptest::prelude::*;
    let tok = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..70).prop_map(Tok::Label),
        2 => (0u16..200).prop_map(Tok::Pointer),
        1 => any::<u16>().prop_map(Tok::Pointer),
        1 => any::<u8>().prop_map(Tok::Byte),
        2 => Just(Tok::Root),
    ];
    prop::collection::vec(tok, 0..12)
}

fn bytes_of(toks: &[Tok]) -> Vec<u8> {
    let mut m = vec![0u8; 12];
    for t in toks {
        match t {
            Tok::Label(l) => {
                m.push(l.len() as u8);
                m.extend_from_slice(l);
            }
            Tok::Pointer(p) => m.extend_from_slice(&(0xc000 | p).to_be_bytes()),
            Tok::Byte(b) => m.push(*b),
            Tok::Root => m.push(0),
        }
    }
    m
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 3000, ..Default::default() })]

    /// The hot path's name reader gives what hickory's `Name::read` gives: the same text and
    /// the same position after the name, or the same fault. Skipping a name validates it the
    /// same way and ends at the same place.
    #[test]
    fn same_as_hickory_name_read(toks in tokens()) {
        let m = bytes_of(&toks);
        proptest::prop_assert_eq!(ours_read(&m), hickory_read(&m), "{:02x?}", m);
        proptest::prop_assert_eq!(read_name(&m, 12, &mut Skip), ours_read(&m).map(|(_, end)| end));
    }

    /// A question's name, copied in one piece when its labels follow one another and joined
    /// label by label when a pointer splits them, reads as the label-by-label text.
    #[test]
    fn question_text_same_as_label_by_label(toks in tokens()) {
        let mut m = bytes_of(&toks);
        m.extend_from_slice(&[0, 1, 0, 1]); // type and class, wherever the name ends
        let ours = ours_read(&m).and_then(|(text, end)| {
            if end + 4 <= m.len() { Ok((text, end + 4)) } else { Err(Malformed::Truncated) }
        });
        let question = read_question(&m, 12).map(|(q, end)| (q.name.to_string(), end));
        proptest::prop_assert_eq!(question, ours, "{:02x?}", m);
    }
}

#[test]
fn question_split_by_a_pointer_reads_whole() {
    // "com" at offset 2 (inside the header, before the question), then "a" and a pointer to it.
    let mut m = vec![0, 0, 3, b'c', b'o', b'm', 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&[1, b'a', 0xc0, 2, 0, 1, 0, 1]);
    let (q, end) = read_question(&m, 12).unwrap();
    assert_eq!((&*q.name, q.qtype, q.qclass, end), ("a.com", 1, 1, m.len()));
    // Labels in one run, one holding a dot and one not UTF-8.
    let mut m = vec![0; 12];
    m.extend_from_slice(&[3, b'a', b'.', b'b', 1, 0xff, 2, b'x', b'y', 0, 0, 28, 0, 1]);
    let (q, _) = read_question(&m, 12).unwrap();
    assert_eq!((&*q.name, q.qtype), ("a.b.\u{fffd}.xy", 28));
}

#[test]
fn same_as_hickory_on_long_names() {
    for n in 0..6 {
        for len in [1usize, 50, 62, 63] {
            let toks: Vec<Tok> = (0..n).map(|_| Tok::Label(vec![b'x'; len])).chain([Tok::Root]).collect();
            let m = bytes_of(&toks);
            assert_eq!(ours_read(&m), hickory_read(&m), "{n} labels of {len}");
        }
    }
}

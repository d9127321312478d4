//! Every disagreement with tshark, by capture, reason and (frame, position among the frame's
//! messages). Each reason has a named test in `corpus_truth.rs` that asserts exactly it.

/// Why we and tshark disagree on a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// tshark found DNS on a port other than 53/5353/5355 with its heuristic dissector; we
    /// decode DNS only on the standard ports (the corpus README marks these rows `other`).
    HeuristicPort,
    /// DNS inside cleartext HTTP/2 (DoH without TLS): tshark follows HTTP/2; we do not.
    InsideHttp2,
    /// DNS inside a GTP-U tunnel or quoted in an ICMP error (`ip_depth` 2): tshark follows
    /// them; we decode one level of Teredo/6in4 only and never report ICMP quotes as traffic.
    InsideTunnelOrIcmp,
    /// A label length byte with top bits 01 (extended label type): tshark prints a
    /// placeholder name and reads on; we call the message malformed (`bad_label`), no question.
    ExtendedLabel,
    /// A compression pointer that loops: tshark prints a placeholder name; we call the message
    /// malformed (`pointer_loop`), no question.
    PointerLoop,
    /// A forward compression pointer in the first question: tshark follows it; hickory (and so
    /// we) follow only backward pointers (RFC 1035 4.1.4): malformed (`bad_pointer`).
    ForwardPointer,
    /// A message shorter than the 12-byte header: tshark shows the header fields present; we
    /// give no header (`short_header`).
    ShortHeader,
    /// After lost TCP segments tshark stops decoding that direction of the connection; our
    /// stream reassembly resynchronises on the next message and finds the queries it skipped
    /// (their responses are in the truth).
    AfterTcpGap,
}

/// How a disagreement shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shows {
    Missing,
    Extra,
    Differs(Vec<&'static str>),
}

impl Why {
    pub fn shows(self) -> Shows {
        match self {
            Why::ExtendedLabel | Why::PointerLoop | Why::ForwardPointer => {
                Shows::Differs(vec!["qname", "qtype"])
            }
            Why::ShortHeader => Shows::Differs(vec!["id", "qr", "opcode", "rcode", "counts"]),
            Why::AfterTcpGap => Shows::Extra,
            _ => Shows::Missing,
        }
    }
}

/// (capture, reason, [(frame, position among the frame's messages)]).
pub type Entry = (&'static str, Why, &'static [(u64, usize)]);

#[rustfmt::skip]
pub static EXPLAINED: &[Entry] = &[
    ("arkime__ipv6-gtp6.pcap", Why::InsideTunnelOrIcmp, &[(1, 0)]),
    ("ndpi__KakaoTalk_chat.pcap", Why::InsideTunnelOrIcmp, &[(57, 0)]),
    ("ndpi__fuzz-2006-06-26-2594.pcap", Why::HeuristicPort, &[(8, 0), (29, 0), (109, 0), (352, 0), (355, 0), (571, 0)]),
    ("ndpi__fuzz-2006-06-26-2594.pcap", Why::ExtendedLabel, &[(25, 0), (111, 0), (246, 0), (288, 0), (382, 0), (384, 0), (391, 0), (450, 0), (517, 0), (536, 0), (569, 0), (579, 0), (605, 0), (671, 0)]),
    ("ndpi__fuzz-2006-06-26-2594.pcap", Why::ShortHeader, &[(269, 0), (311, 0)]),
    ("suricata-verify__dns-forward-pointer.pcap", Why::ForwardPointer, &[(1, 0)]),
    ("suricata-verify__dns-over-http2.pcap", Why::InsideHttp2, &[(9, 0), (11, 0), (17, 0), (22, 0)]),
    ("tcpdump__dns_fwdptr.pcap", Why::ForwardPointer, &[(1, 0)]),
    ("tcpdump__dns_udp_8053.pcap", Why::HeuristicPort, &[(1, 0), (2, 0)]),
    ("zeek__dns-invalid-names.pcap", Why::PointerLoop, &[(2, 0)]),
    ("dnscap__dnso1tcp-bighole.pcap", Why::AfterTcpGap, &[(25, 0), (30, 0), (35, 0), (40, 0), (45, 0), (50, 0), (55, 0), (60, 0), (65, 0), (70, 0), (75, 0), (80, 0), (85, 0), (90, 0), (95, 0), (100, 0), (105, 0), (110, 0), (115, 0), (120, 0), (125, 0), (130, 0), (135, 0), (140, 0), (145, 0), (150, 0), (155, 0), (160, 0), (165, 0), (170, 0), (175, 0), (180, 0), (185, 0), (190, 0), (195, 0)]),
];

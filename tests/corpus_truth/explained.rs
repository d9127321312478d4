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
    /// DNS over TCP: waits for the TCP stream reassembly (`core::tcp`, engineer "tcp"). Not
    /// required to stay a disagreement: each row matches once streams are reassembled.
    TcpPending,
}

impl Why {
    /// The fields that differ, for reasons where both sides saw the message.
    pub fn fields(self) -> Option<Vec<&'static str>> {
        match self {
            Why::ExtendedLabel | Why::PointerLoop | Why::ForwardPointer => Some(vec!["qname", "qtype"]),
            Why::ShortHeader => Some(vec!["id", "qr", "opcode", "rcode", "counts"]),
            _ => None,
        }
    }
}

/// (capture, reason, [(frame, position among the frame's messages)]).
pub type Entry = (&'static str, Why, &'static [(u64, usize)]);

#[rustfmt::skip]
pub static EXPLAINED: &[Entry] = &[
    ("arkime__ipv6-gtp6.pcap", Why::InsideTunnelOrIcmp, &[(1, 0)]),
    ("dnscap__dnso1tcp-bighole.pcap", Why::TcpPending, &[(6, 0), (8, 0), (12, 0), (14, 0), (17, 0), (22, 0), (27, 0), (32, 0), (37, 0), (42, 0), (47, 0), (52, 0), (57, 0), (62, 0), (67, 0), (72, 0), (77, 0), (82, 0), (87, 0), (92, 0), (97, 0), (102, 0), (107, 0), (112, 0), (117, 0), (122, 0), (127, 0), (132, 0), (137, 0), (142, 0), (147, 0), (152, 0), (157, 0), (162, 0), (167, 0), (172, 0), (177, 0), (182, 0), (187, 0), (192, 0), (197, 0)]),
    ("dnscap__dnsotcp-many1pkt.pcap", Why::TcpPending, &[(4, 0), (4, 1), (4, 2), (6, 0)]),
    ("dnscap__dnsotcp-manyopkts.pcap", Why::TcpPending, &[(4, 0), (6, 0), (6, 1)]),
    ("dnsjit__tcp-response-with-trailing-junk.pcap", Why::TcpPending, &[(12, 0), (14, 0)]),
    ("ndpi__KakaoTalk_chat.pcap", Why::InsideTunnelOrIcmp, &[(57, 0)]),
    ("ndpi__dns_fragmented.pcap", Why::TcpPending, &[(48, 0), (50, 0), (60, 0), (62, 0)]),
    ("ndpi__fuzz-2006-06-26-2594.pcap", Why::HeuristicPort, &[(8, 0), (29, 0), (109, 0), (352, 0), (355, 0), (571, 0)]),
    ("ndpi__fuzz-2006-06-26-2594.pcap", Why::ExtendedLabel, &[(25, 0), (111, 0), (246, 0), (288, 0), (382, 0), (384, 0), (391, 0), (450, 0), (517, 0), (536, 0), (569, 0), (579, 0), (605, 0), (671, 0)]),
    ("ndpi__fuzz-2006-06-26-2594.pcap", Why::ShortHeader, &[(269, 0), (311, 0)]),
    ("suricata-verify__dns-forward-pointer.pcap", Why::ForwardPointer, &[(1, 0)]),
    ("suricata-verify__dns-incomplete.pcap", Why::TcpPending, &[(5, 0), (7, 0), (11, 0), (13, 0)]),
    ("suricata-verify__dns-over-http2.pcap", Why::InsideHttp2, &[(9, 0), (11, 0), (17, 0), (22, 0)]),
    ("suricata-verify__dns-tcp-multirequest-buffer.pcap", Why::TcpPending, &[(4, 0), (4, 1), (4, 2), (4, 3), (4, 4), (4, 5), (4, 6), (4, 7), (4, 8), (4, 9), (4, 10), (4, 11), (4, 12), (4, 13), (4, 14), (4, 15), (4, 16), (4, 17), (4, 18), (4, 19), (8, 0), (10, 0), (12, 0), (14, 0), (16, 0), (18, 0), (20, 0), (22, 0), (24, 0), (26, 0), (28, 0), (30, 0), (32, 0), (34, 0), (36, 0), (38, 0), (40, 0), (42, 0), (44, 0), (46, 0)]),
    ("tcpdump__dns_fwdptr.pcap", Why::ForwardPointer, &[(1, 0)]),
    ("tcpdump__dns_tcp.pcap", Why::TcpPending, &[(4, 0), (6, 0)]),
    ("tcpdump__dns_udp_8053.pcap", Why::HeuristicPort, &[(1, 0), (2, 0)]),
    ("zeek__dns-edns-ecs.pcap", Why::TcpPending, &[(11, 0), (13, 0), (15, 0), (18, 0), (25, 0), (26, 0), (27, 0), (88, 0), (89, 0)]),
    ("zeek__dns-invalid-names.pcap", Why::PointerLoop, &[(2, 0)]),
];

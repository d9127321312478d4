//! What was on the wire: one `Event` per DNS message, encrypted-DNS flow or notice (its `Body`
//! says which, and carries only what that kind has), and the `Judged` pair of an event with its
//! verdict.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::cause::Caused;
use super::frame::Ts;
use super::losses::Table;
use super::process::Owner;
use super::topology::{IfaceId, IfaceName};
use super::verdict::{Reason, Verdict};

/// Layer-4 protocol carrying a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum L4 {
    Udp,
    Tcp,
}

impl L4 {
    pub fn as_str(self) -> &'static str {
        match self {
            L4::Udp => "udp",
            L4::Tcp => "tcp",
        }
    }
}

/// The DNS transport, by port and (for DoH) by server name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Dns,
    Mdns,
    Llmnr,
    Dot,
    Doh,
    Doq,
    /// DNSCrypt (certificate exchange, or packets with its magic numbers), on any port.
    Dnscrypt,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Dns => "dns",
            Transport::Mdns => "mdns",
            Transport::Llmnr => "llmnr",
            Transport::Dot => "dot",
            Transport::Doh => "doh",
            Transport::Doq => "doq",
            Transport::Dnscrypt => "dnscrypt",
        }
    }
    pub fn is_encrypted(self) -> bool {
        matches!(self, Transport::Dot | Transport::Doh | Transport::Doq | Transport::Dnscrypt)
    }
    /// Standard port of a plaintext transport, checked in this order: 53, 5353, 5355.
    pub fn from_ports(sport: u16, dport: u16) -> Option<Transport> {
        for p in [53u16, 5353, 5355] {
            if sport == p || dport == p {
                return Some(match p {
                    53 => Transport::Dns,
                    5353 => Transport::Mdns,
                    _ => Transport::Llmnr,
                });
            }
        }
        None
    }
}

/// What an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    Query,
    Response,
    Encrypted,
    Malformed,
    Notice,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Query => "query",
            EventKind::Response => "response",
            EventKind::Encrypted => "encrypted",
            EventKind::Malformed => "malformed",
            EventKind::Notice => "notice",
        }
    }
}

/// An outer layer DNS was found inside (decoded one level deep, judged by the outer interface).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encap {
    /// IPv6 in UDP 3544.
    Teredo,
    /// IPv6 in IPv4, IP protocol 41.
    SixInFour,
}

impl Encap {
    pub fn as_str(self) -> &'static str {
        match self {
            Encap::Teredo => "teredo",
            Encap::SixInFour => "6in4",
        }
    }
}

/// The DNS header, as written in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DnsHeader {
    pub id: u16,
    /// The raw 16-bit flags word.
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl DnsHeader {
    pub fn qr(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }
    pub fn aa(&self) -> bool {
        self.flags & 0x0400 != 0
    }
    pub fn tc(&self) -> bool {
        self.flags & 0x0200 != 0
    }
    pub fn rd(&self) -> bool {
        self.flags & 0x0100 != 0
    }
    pub fn ra(&self) -> bool {
        self.flags & 0x0080 != 0
    }
    pub fn ad(&self) -> bool {
        self.flags & 0x0020 != 0
    }
    pub fn cd(&self) -> bool {
        self.flags & 0x0010 != 0
    }
    /// The 4-bit header RCODE (without the extended bits an OPT record adds).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }
}

/// A question's name as text. Names up to 32 bytes (97% of those in the shared corpus) are
/// stored inline, so decoding a message allocates nothing for its name and dropping its event
/// frees nothing; longer names go to the heap.
pub type QName = smallstr::SmallString<[u8; 32]>;

/// The first question of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The name as on the wire, as text without the trailing dot; "" for the root. Bytes that
    /// are not printable ASCII are kept as they are here; outputs escape them.
    pub name: QName,
    pub qtype: u16,
    pub qclass: u16,
}

/// A DNS message as the hot path decoded it: header, first question, and the payload kept
/// so that answers and EDNS are decoded only when an output asks (`core::dns::decode_full`);
/// the payload is empty when the pipeline was told no output will (`Config::keep_payload`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsInfo {
    pub header: DnsHeader,
    pub question: Option<Question>,
    pub payload: Box<[u8]>,
}

/// Why a message could not be decoded. Matched by type, never by string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum Malformed {
    #[error("shorter than a DNS header")]
    ShortHeader,
    #[error("message ends inside a record or name")]
    Truncated,
    #[error("bad compression pointer")]
    BadPointer,
    #[error("compression pointers loop")]
    PointerLoop,
    #[error("label type not allowed")]
    BadLabel,
    #[error("name longer than 255 bytes")]
    NameTooLong,
    #[error("section counts larger than the message")]
    BadCounts,
    #[error("record data does not match its type")]
    BadRdata,
    #[error("UDP length larger than the packet")]
    BadUdpLength,
    #[error("bytes lost in the TCP stream")]
    TcpGap,
    #[error("not a DNS message")]
    NotDns,
}

impl Malformed {
    pub fn as_str(self) -> &'static str {
        match self {
            Malformed::ShortHeader => "short_header",
            Malformed::Truncated => "truncated",
            Malformed::BadPointer => "bad_pointer",
            Malformed::PointerLoop => "pointer_loop",
            Malformed::BadLabel => "bad_label",
            Malformed::NameTooLong => "name_too_long",
            Malformed::BadCounts => "bad_counts",
            Malformed::BadRdata => "bad_rdata",
            Malformed::BadUdpLength => "bad_udp_length",
            Malformed::TcpGap => "tcp_gap",
            Malformed::NotDns => "not_dns",
        }
    }
}

/// Things the core noticed beyond single messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A tunnel interface went down or vanished; `none_up` when no tunnel is left up.
    TunnelDown { iface: IfaceName, none_up: bool },
    /// A tunnel interface came (back) up.
    TunnelUp { iface: IfaceName },
    /// Plaintext DNS left a physical interface while no tunnel was up (kill switch failed).
    /// Raised once per outage, on the first such message.
    KillSwitchFailed { iface: IfaceName },
    /// The same name was asked through the tunnel and outside it within a second.
    ParallelResolution { name: Box<str>, tunnel: IfaceName, outside: IfaceName },
    /// A response came from an address other than the one the query was sent to.
    Hijack { asked: IpAddr, answered_from: IpAddr, name: Box<str> },
    /// An interface whose link type the core cannot decode (reported once per interface).
    UnknownLinkType { link: u32 },
    /// A bounded table dropped something for the first time (once per table): what it drops
    /// from now on is counted (`Stats`, `losses::Loss`). Its caps: entries, and bytes (0 where
    /// only entries are capped).
    TableFull { table: Table, cap: u64, cap_bytes: u64 },
}

impl Notice {
    pub fn code(&self) -> &'static str {
        match self {
            Notice::TunnelDown { .. } => "tunnel_down",
            Notice::TunnelUp { .. } => "tunnel_up",
            Notice::KillSwitchFailed { .. } => "kill_switch_failed",
            Notice::ParallelResolution { .. } => "parallel_resolution",
            Notice::Hijack { .. } => "hijack",
            Notice::UnknownLinkType { .. } => "unknown_link_type",
            Notice::TableFull { .. } => "table_full",
        }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::TunnelDown { iface, none_up: true } => {
                write!(f, "tunnel {iface} went down: no tunnel is up, the VPN looks down")
            }
            Notice::TunnelDown { iface, none_up: false } => write!(f, "tunnel {iface} went down"),
            Notice::TunnelUp { iface } => write!(f, "tunnel {iface} is up"),
            Notice::KillSwitchFailed { iface } => {
                write!(f, "plaintext DNS left {iface} while no tunnel was up: the kill switch failed")
            }
            Notice::ParallelResolution { name, tunnel, outside } => write!(
                f,
                "{name} was asked through tunnel {tunnel} and outside it by {outside} within a second (parallel resolution)"
            ),
            Notice::Hijack { asked, answered_from, name } => write!(
                f,
                "the answer for {name} came from {answered_from}, not from {asked} that was asked (hijack or transparent proxy)"
            ),
            Notice::UnknownLinkType { link } => write!(f, "link type {link} is not supported; its frames are skipped"),
            Notice::TableFull { table, cap, cap_bytes } => {
                write!(f, "{}; what is dropped is counted (a flood?)", table.describe(*cap, *cap_bytes))
            }
        }
    }
}

/// One thing on the wire (or noticed about it): where and when, and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub ts: Ts,
    /// 1-based frame number in its source; for a message spread over segments or fragments,
    /// the frame that completed it; for a notice, the frame (or interface change) that raised it.
    pub frame: u64,
    pub iface: IfaceId,
    pub iface_name: IfaceName,
    pub body: Body,
}

/// What an event is. A notice carries only what it says: no address, port or transport.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A DNS message: a query, a response, or a message that could not be decoded.
    Message(Message),
    /// An encrypted-DNS flow (DoT, DoH, DoQ): one event per flow.
    Flow(Flow),
    /// Something the core noticed beyond single messages.
    Notice(Notice),
}

/// Where a message or flow went: what every event on the wire has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wire {
    pub proto: L4,
    pub transport: Transport,
    /// For encrypted flows: the client.
    pub src: IpAddr,
    pub sport: u16,
    /// For encrypted flows: the server.
    pub dst: IpAddr,
    pub dport: u16,
    /// Set when the message was found inside Teredo or 6in4.
    pub encap: Option<Encap>,
    /// Who runs the resolver (a well-known public resolver), from the bundled list.
    pub provider: Option<&'static str>,
}

impl Wire {
    /// Placeholder values, overwritten before anyone sees them (the pipeline builds events in
    /// place from it).
    pub(crate) const TEMPLATE: Wire = Wire {
        proto: L4::Udp,
        transport: Transport::Dns,
        src: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        sport: 0,
        dst: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        dport: 0,
        encap: None,
        provider: None,
    };
}

/// Whether a DNS message asked, answered, or could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Query,
    Response,
    Malformed(Malformed),
}

/// A DNS message on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: MessageKind,
    pub wire: Wire,
    /// Header, first question and payload: always for queries and responses; for malformed
    /// messages when their header could be read.
    pub dns: Option<DnsInfo>,
    /// Response time, for a response paired with its query.
    pub rtt_ns: Option<u64>,
    /// Which program sent it (for a response: its query's), when process attribution runs
    /// (live with an attributor, or replay of a file that recorded it). Shared, not copied.
    pub owner: Option<Arc<Owner>>,
}

/// An encrypted-DNS flow; `wire.src` is the client, `wire.dst` the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub wire: Wire,
    /// TLS server name, when seen.
    pub sni: Option<Box<str>>,
    /// Which program opened it, when process attribution runs.
    pub owner: Option<Arc<Owner>>,
}

impl Message {
    pub fn is_response(&self) -> bool {
        self.kind == MessageKind::Response
    }

    pub fn malformed(&self) -> Option<Malformed> {
        match self.kind {
            MessageKind::Malformed(m) => Some(m),
            _ => None,
        }
    }

    pub fn question(&self) -> Option<&Question> {
        self.dns.as_ref()?.question.as_ref()
    }
}

impl Event {
    /// A notice, tied to the frame (or topology change) that raised it.
    pub fn notice(ts: Ts, frame: u64, iface: IfaceId, iface_name: IfaceName, notice: Notice) -> Event {
        Event { ts, frame, iface, iface_name, body: Body::Notice(notice) }
    }

    /// The event's kind, the word outputs print.
    pub fn kind(&self) -> EventKind {
        match &self.body {
            Body::Message(m) => match m.kind {
                MessageKind::Query => EventKind::Query,
                MessageKind::Response => EventKind::Response,
                MessageKind::Malformed(_) => EventKind::Malformed,
            },
            Body::Flow(_) => EventKind::Encrypted,
            Body::Notice(_) => EventKind::Notice,
        }
    }

    /// Addresses, ports and transport of a message or flow; `None` for a notice.
    pub fn wire(&self) -> Option<&Wire> {
        match &self.body {
            Body::Message(m) => Some(&m.wire),
            Body::Flow(f) => Some(&f.wire),
            Body::Notice(_) => None,
        }
    }

    pub fn as_message(&self) -> Option<&Message> {
        match &self.body {
            Body::Message(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_flow(&self) -> Option<&Flow> {
        match &self.body {
            Body::Flow(f) => Some(f),
            _ => None,
        }
    }

    pub fn as_notice(&self) -> Option<&Notice> {
        match &self.body {
            Body::Notice(n) => Some(n),
            _ => None,
        }
    }

    /// The DNS header, first question and payload of a message.
    pub fn dns(&self) -> Option<&DnsInfo> {
        self.as_message()?.dns.as_ref()
    }

    /// The resolver's side of the exchange: the destination of a query, the source of a
    /// response; for an encrypted flow the server. `None` for a notice.
    pub fn resolver(&self) -> Option<(IpAddr, u16)> {
        match &self.body {
            Body::Message(m) if m.is_response() => Some((m.wire.src, m.wire.sport)),
            Body::Message(Message { wire, .. }) | Body::Flow(Flow { wire, .. }) => {
                Some((wire.dst, wire.dport))
            }
            Body::Notice(_) => None,
        }
    }

    pub fn qname(&self) -> Option<&str> {
        self.as_message()?.question().map(|q| &*q.name)
    }

    /// The TLS server name of an encrypted flow, when seen.
    pub fn sni(&self) -> Option<&str> {
        self.as_flow()?.sni.as_deref()
    }

    /// Which program sent a message or opened a flow, when process attribution runs.
    pub fn owner(&self) -> Option<&Owner> {
        match &self.body {
            Body::Message(m) => m.owner.as_deref(),
            Body::Flow(f) => f.owner.as_deref(),
            Body::Notice(_) => None,
        }
    }
}

/// An event with its verdict. Notices carry no verdict; every DNS message and encrypted flow
/// carries exactly one.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub event: Event,
    pub verdict: Option<Verdict>,
    pub reason: Reason,
    /// Why a leak or bypass happened, with its evidence (`None` for every other verdict).
    /// The cause is inline and its evidence boxed only when there is some: a leak in a capture
    /// without a tunnel costs no allocation; the words and advice are made when shown.
    pub cause: Option<Caused>,
}

impl Judged {
    /// An event not judged yet (notices stay so: they carry no verdict).
    pub fn unjudged(event: Event) -> Judged {
        Judged { event, verdict: None, reason: Reason::Notice, cause: None }
    }

    /// Whether this counts against the user: a leak or a bypass of a real message or flow.
    pub fn is_exposure(&self) -> bool {
        matches!(self.verdict, Some(Verdict::Leak | Verdict::Bypass))
            && matches!(self.event.kind(), EventKind::Query | EventKind::Response | EventKind::Encrypted)
    }
}

//! Judged events for the outputs' unit tests.

use std::net::IpAddr;

use dnsleak_core::event::{Body, DnsInfo, Flow, Message, MessageKind, QName, Question, Wire};
use dnsleak_core::verdict::Reason;
use dnsleak_core::{Event, EventKind, IfaceName, Judged, Transport, Ts, Verdict, L4};

/// A query (or, for `EventKind::Encrypted`, a DoT flow; for `Response`, a response from
/// `resolver`) on `iface` at `ts_ms`, judged `verdict`.
pub fn judged(
    iface: &str,
    kind: EventKind,
    verdict: Verdict,
    resolver: [u8; 4],
    ts_ms: i64,
    qname: &str,
) -> Judged {
    let (client, server) = (IpAddr::from([192, 0, 2, 200]), IpAddr::from(resolver));
    let (src, dst) = if kind == EventKind::Response { (server, client) } else { (client, server) };
    let (sport, dport) = if kind == EventKind::Response { (53, 40000) } else { (40000, 53) };
    let transport = if kind == EventKind::Encrypted { Transport::Dot } else { Transport::Dns };
    let wire = Wire { proto: L4::Udp, transport, src, sport, dst, dport, encap: None, provider: None };
    let body = match kind {
        EventKind::Encrypted => Body::Flow(Flow { wire, sni: Some("dns.example".into()), owner: None }),
        _ => {
            let question = Some(Question { name: QName::from(qname), qtype: 1, qclass: 1 });
            let dns = Some(DnsInfo { header: Default::default(), question, payload: Box::default() });
            let kind = if kind == EventKind::Response { MessageKind::Response } else { MessageKind::Query };
            Body::Message(Message { kind, wire, dns, rtt_ns: None, owner: None })
        }
    };
    let event =
        Event { ts: Ts::from_millis(ts_ms), frame: 1, iface: 0, iface_name: IfaceName::new(iface), body };
    Judged { event, verdict: Some(verdict), reason: Reason::Notice, cause: None }
}

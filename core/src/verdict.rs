//! One verdict for every DNS message and encrypted-DNS flow, with a reason a person reads.

use std::fmt;
use std::net::IpAddr;

use super::event::{Body, Event, Transport, Wire};
use super::net::is_link_local;
use super::topology::{IfaceKind, IfaceName, Topology};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// Left or arrived by a tunnel interface.
    Tunnel,
    /// Plaintext DNS by a non-tunnel, non-loopback interface to a unicast address.
    Leak,
    /// Encrypted DNS by a non-tunnel interface.
    Bypass,
    /// Loopback.
    Local,
    /// mDNS, LLMNR, or any multicast or link-local destination.
    Multicast,
}

impl Verdict {
    pub const ALL: [Verdict; 5] =
        [Verdict::Tunnel, Verdict::Leak, Verdict::Bypass, Verdict::Local, Verdict::Multicast];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Tunnel => "tunnel",
            Verdict::Leak => "leak",
            Verdict::Bypass => "bypass",
            Verdict::Local => "local",
            Verdict::Multicast => "multicast",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the message went out (query, flow) or came in (response), for the wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Out,
    In,
}

/// What the tunnels were doing when a message was judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelState {
    /// A tunnel is up (the first one, by name).
    Up(IfaceName),
    /// A tunnel was known earlier and none is up now.
    Down,
    /// No tunnel interface has been seen at all.
    Unknown,
}

/// Why a verdict was given. Cheap to build on the hot path; the words come from `Display`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    ViaTunnel {
        iface: IfaceName,
        dir: Dir,
    },
    LoopbackIface {
        iface: IfaceName,
    },
    LoopbackAddrs,
    LinkLocalProtocol {
        transport: Transport,
    },
    MulticastDest {
        dst: IpAddr,
    },
    LinkLocalDest {
        dst: IpAddr,
    },
    Plaintext {
        peer: IpAddr,
        iface: IfaceName,
        dir: Dir,
        kind: IfaceKind,
        tunnel: TunnelState,
    },
    Encrypted {
        peer: IpAddr,
        iface: IfaceName,
        transport: Transport,
        tunnel: TunnelState,
    },
    /// Notices carry no verdict.
    Notice,
}

fn tunnel_clause(f: &mut fmt::Formatter<'_>, t: &TunnelState) -> fmt::Result {
    match t {
        TunnelState::Up(name) => write!(f, " while tunnel {name} is up"),
        TunnelState::Down => f.write_str("; no tunnel is up: the VPN looks down"),
        TunnelState::Unknown => f.write_str("; no tunnel interface is known"),
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ViaTunnel { iface, dir: Dir::Out } => write!(f, "left by tunnel {iface}"),
            Reason::ViaTunnel { iface, dir: Dir::In } => write!(f, "arrived by tunnel {iface}"),
            Reason::LoopbackIface { iface } => write!(f, "stayed on loopback interface {iface}"),
            Reason::LoopbackAddrs => f.write_str("source and destination are loopback addresses"),
            Reason::LinkLocalProtocol { transport } => {
                write!(f, "{} is link-local name resolution", transport.as_str())
            }
            Reason::MulticastDest { dst } => write!(f, "sent to multicast address {dst}"),
            Reason::LinkLocalDest { dst } => write!(f, "sent to link-local address {dst}"),
            Reason::Plaintext { peer, iface, dir, kind, tunnel } => {
                let what = match kind {
                    IfaceKind::Physical | IfaceKind::Loopback => "",
                    IfaceKind::Other | IfaceKind::Tunnel => " (interface kind unknown)",
                };
                match dir {
                    Dir::Out => write!(f, "plaintext query to {peer} left by {iface}{what}")?,
                    Dir::In => write!(f, "plaintext response from {peer} arrived by {iface}{what}")?,
                }
                tunnel_clause(f, tunnel)
            }
            Reason::Encrypted { peer, iface, transport, tunnel } => {
                write!(
                    f,
                    "encrypted DNS ({}) to {peer} went around the tunnel by {iface}",
                    transport.as_str()
                )?;
                tunnel_clause(f, tunnel)
            }
            Reason::Notice => f.write_str("notice"),
        }
    }
}

fn is_loopback(a: &IpAddr) -> bool {
    a.is_loopback()
}

fn is_multicast_or_broadcast(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_multicast(),
    }
}

/// What the verdict needs besides the event: the interfaces now, and whether a tunnel was ever
/// seen (so "the VPN looks down" is said only when there was one).
pub struct Context<'a> {
    pub topology: &'a Topology,
    pub tunnel_seen: bool,
}

impl Context<'_> {
    fn tunnel_state(&self) -> TunnelState {
        match self.topology.first_tunnel_up() {
            Some(t) => TunnelState::Up(t.name.clone()),
            None if self.tunnel_seen => TunnelState::Down,
            None => TunnelState::Unknown,
        }
    }
}

/// Judges one event. Notices get no verdict.
pub fn judge(ev: &Event, ctx: &Context<'_>) -> (Option<Verdict>, Reason) {
    let kind = ctx.topology.get(ev.iface).map(|i| i.kind).unwrap_or(IfaceKind::Other);
    judge_on(ev, kind, ctx)
}

/// [`judge`] with the kind of the event's interface already looked up (`Other` when the
/// topology does not know it): the pipeline keeps it for a run of messages on one interface.
pub fn judge_on(ev: &Event, kind: IfaceKind, ctx: &Context<'_>) -> (Option<Verdict>, Reason) {
    let (wire, dir) = match &ev.body {
        Body::Message(m) => (&m.wire, if m.is_response() { Dir::In } else { Dir::Out }),
        Body::Flow(f) => (&f.wire, Dir::Out),
        Body::Notice(_) => return (None, Reason::Notice),
    };
    let (verdict, reason) = judge_wire(wire, dir, kind, &ev.iface_name, ctx);
    (Some(verdict), reason)
}

/// The verdict on a message or flow that went `dir` by an interface of `kind` named
/// `iface_name`.
fn judge_wire(
    w: &Wire,
    dir: Dir,
    kind: IfaceKind,
    iface_name: &IfaceName,
    ctx: &Context<'_>,
) -> (Verdict, Reason) {
    let (peer, local_side) = if dir == Dir::In { (w.src, w.dst) } else { (w.dst, w.src) };

    if kind == IfaceKind::Loopback {
        return (Verdict::Local, Reason::LoopbackIface { iface: iface_name.clone() });
    }
    if is_loopback(&peer) && is_loopback(&local_side) {
        return (Verdict::Local, Reason::LoopbackAddrs);
    }
    if matches!(w.transport, Transport::Mdns | Transport::Llmnr) {
        return (Verdict::Multicast, Reason::LinkLocalProtocol { transport: w.transport });
    }
    // A message sent to a multicast or broadcast group stays on the link.
    if is_multicast_or_broadcast(&w.dst) {
        return (Verdict::Multicast, Reason::MulticastDest { dst: w.dst });
    }
    if is_link_local(&peer) {
        return (Verdict::Multicast, Reason::LinkLocalDest { dst: peer });
    }
    if kind == IfaceKind::Tunnel {
        return (Verdict::Tunnel, Reason::ViaTunnel { iface: iface_name.clone(), dir });
    }
    let tunnel = ctx.tunnel_state();
    let iface = iface_name.clone();
    if w.transport.is_encrypted() {
        return (Verdict::Bypass, Reason::Encrypted { peer, iface, transport: w.transport, tunnel });
    }
    (Verdict::Leak, Reason::Plaintext { peer, iface, dir, kind, tunnel })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, Flow, Message, MessageKind, Notice, L4};
    use crate::frame::Ts;
    use crate::topology::{IfaceFacts, Overrides, Topology};

    fn topo(wg_up: bool) -> Topology {
        let f =
            |name: &str, up: bool| IfaceFacts { name: name.into(), up, has_mac: true, ..Default::default() };
        Topology::from_facts(
            [(0, f("eth0", true)), (1, f("wg0", wg_up)), (2, f("lo", true)), (3, f("mystery", true))],
            &Overrides { tunnel: vec![], physical: vec![] },
        )
    }

    fn ev(iface: u32, name: &str, kind: EventKind, transport: Transport, src: &str, dst: &str) -> Event {
        let (sport, dport) = match kind {
            EventKind::Response => (53, 40000),
            _ => (40000, 53),
        };
        let wire = Wire {
            proto: L4::Udp,
            transport,
            src: src.parse().unwrap(),
            sport,
            dst: dst.parse().unwrap(),
            dport,
            encap: None,
            provider: None,
        };
        let body = match kind {
            EventKind::Encrypted => Body::Flow(Flow { wire, sni: None, owner: None }),
            EventKind::Notice => Body::Notice(Notice::TunnelUp { iface: name.into() }),
            k => {
                let kind = if k == EventKind::Response { MessageKind::Response } else { MessageKind::Query };
                Body::Message(Message { kind, wire, dns: None, rtt_ns: None, owner: None })
            }
        };
        Event { ts: Ts(0), frame: 1, iface, iface_name: name.into(), body }
    }

    #[test]
    fn verdict_table() {
        use EventKind::*;
        use Transport::*;
        let up = topo(true);
        let down = topo(false);
        #[rustfmt::skip]
        let cases: &[(&Topology, bool, Event, Verdict, &str)] = &[
            (&up, true, ev(1, "wg0", Query, Dns, "10.2.0.2", "10.2.0.1"), Verdict::Tunnel, "left by tunnel wg0"),
            (&up, true, ev(1, "wg0", Response, Dns, "10.2.0.1", "10.2.0.2"), Verdict::Tunnel, "arrived by tunnel wg0"),
            (&up, true, ev(0, "eth0", Query, Dns, "192.0.2.10", "192.0.2.1"), Verdict::Leak, "plaintext query to 192.0.2.1 left by eth0 while tunnel wg0 is up"),
            (&up, true, ev(0, "eth0", Response, Dns, "192.0.2.1", "192.0.2.10"), Verdict::Leak, "plaintext response from 192.0.2.1 arrived by eth0 while tunnel wg0 is up"),
            (&down, true, ev(0, "eth0", Query, Dns, "192.0.2.10", "192.0.2.1"), Verdict::Leak, "plaintext query to 192.0.2.1 left by eth0; no tunnel is up: the VPN looks down"),
            (&down, false, ev(0, "eth0", Query, Dns, "192.0.2.10", "192.0.2.1"), Verdict::Leak, "plaintext query to 192.0.2.1 left by eth0; no tunnel interface is known"),
            (&up, true, ev(0, "eth0", Encrypted, Dot, "192.0.2.10", "203.0.113.53"), Verdict::Bypass, "encrypted DNS (dot) to 203.0.113.53 went around the tunnel by eth0 while tunnel wg0 is up"),
            (&up, true, ev(1, "wg0", Encrypted, Doh, "10.2.0.2", "203.0.113.53"), Verdict::Tunnel, "left by tunnel wg0"),
            (&up, true, ev(2, "lo", Query, Dns, "127.0.0.1", "127.0.0.53"), Verdict::Local, "stayed on loopback interface lo"),
            (&up, true, ev(0, "eth0", Query, Dns, "127.0.0.1", "127.0.0.53"), Verdict::Local, "source and destination are loopback addresses"),
            (&up, true, ev(0, "eth0", Query, Mdns, "192.0.2.10", "224.0.0.251"), Verdict::Multicast, "mdns is link-local name resolution"),
            (&up, true, ev(0, "eth0", Query, Llmnr, "fe80::1", "ff02::1:3"), Verdict::Multicast, "llmnr is link-local name resolution"),
            (&up, true, ev(0, "eth0", Query, Dns, "192.0.2.10", "224.0.0.1"), Verdict::Multicast, "sent to multicast address 224.0.0.1"),
            (&up, true, ev(0, "eth0", Query, Dns, "fe80::2", "fe80::1"), Verdict::Multicast, "sent to link-local address fe80::1"),
            (&up, true, ev(3, "mystery", Query, Dns, "192.0.2.10", "192.0.2.1"), Verdict::Leak, "plaintext query to 192.0.2.1 left by mystery while tunnel wg0 is up"),
            (&up, true, ev(9, "gone", Query, Dns, "192.0.2.10", "192.0.2.1"), Verdict::Leak, "plaintext query to 192.0.2.1 left by gone (interface kind unknown) while tunnel wg0 is up"),
        ];
        for (topology, seen, e, want, text) in cases {
            let (v, r) = judge(e, &Context { topology, tunnel_seen: *seen });
            assert_eq!(v, Some(*want), "{text}");
            assert_eq!(r.to_string(), *text);
        }
    }

    #[test]
    fn notices_get_no_verdict() {
        let t = topo(true);
        let e = ev(0, "eth0", EventKind::Notice, Transport::Dns, "192.0.2.10", "192.0.2.1");
        assert_eq!(judge(&e, &Context { topology: &t, tunnel_seen: true }).0, None);
    }
}

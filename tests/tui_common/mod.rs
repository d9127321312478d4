//! Hand-made judged events and a dashboard drawn on ratatui's TestBackend, shared by the TUI
//! tests. Events are judged by the real core (`verdict::judge`) against a hand-made topology,
//! so the reasons shown are the core's own words.
#![allow(dead_code)]

use std::net::IpAddr;

use dnsleak::tui::app::{App, Source};
use dnsleak::tui::model::Model;
use dnsleak::tui::view::Dashboard;
use dnsleak_core::cause::{Evidence, Known, Proof};
use dnsleak_core::dns::decode_fast;
use dnsleak_core::event::{Body, Flow, Message, MessageKind, Wire};
use dnsleak_core::verdict::{judge, Context};
use dnsleak_core::{
    Cause, Caused, Event, EventKind, IfaceFacts, IfaceKind, Judged, Notice, Overrides, Prefix, Topology,
    Transport, Ts, Verdict, L4,
};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// 2026-11-24 10:00:00 UTC.
pub const T0: i64 = 1_795_514_400;

pub fn at(secs: f64) -> Ts {
    Ts(T0 * 1_000_000_000 + (secs * 1e9) as i64)
}

/// eth0 (physical, id 0), wg0 (tunnel, id 1, up or down), lo (loopback, id 2).
pub fn topology(wg_up: bool) -> Topology {
    let f = |name: &str, up: bool, mac: bool| IfaceFacts {
        name: name.into(),
        up,
        has_mac: mac,
        ..Default::default()
    };
    Topology::from_facts(
        [(0, f("eth0", true, true)), (1, f("wg0", wg_up, false)), (2, f("lo", true, false))],
        &Overrides::default(),
    )
}

/// A DNS message: header, one question, and A answers.
pub fn dns_payload(id: u16, response: bool, name: &str, qtype: u16, answers: &[[u8; 4]]) -> Vec<u8> {
    crate::support::dns_message(id, response, name, qtype, answers)
}

pub struct Spec<'a> {
    pub secs: f64,
    pub iface: u32,
    pub kind: EventKind,
    pub transport: Transport,
    pub client: &'a str,
    pub server: &'a str,
    pub name: &'a str,
    pub rtt_ms: Option<f64>,
}

pub fn event(topo: &Topology, s: &Spec<'_>) -> Event {
    let client: IpAddr = s.client.parse().unwrap();
    let server: IpAddr = s.server.parse().unwrap();
    let port = match s.transport {
        Transport::Dot => 853,
        Transport::Doh => 443,
        Transport::Mdns => 5353,
        _ => 53,
    };
    let response = s.kind == EventKind::Response;
    let (src, sport, dst, dport) =
        if response { (server, port, client, 40000) } else { (client, 40000, server, port) };
    let wire =
        Wire { proto: L4::Udp, transport: s.transport, src, sport, dst, dport, encap: None, provider: None };
    let body = match s.kind {
        EventKind::Query | EventKind::Response => {
            let answers: &[[u8; 4]] = if response { &[[192, 0, 2, 80]] } else { &[] };
            let mut info =
                decode_fast(&dns_payload(0x1234, response, s.name, 1, answers)).expect("valid message");
            // Keep the name exactly as given (even bytes the encoder above would mangle).
            if let Some(q) = info.question.as_mut() {
                q.name = s.name.into();
            }
            let kind = if response { MessageKind::Response } else { MessageKind::Query };
            let rtt_ns = s.rtt_ms.map(|ms| (ms * 1e6) as u64);
            Body::Message(Message { kind, wire, dns: Some(info), rtt_ns, owner: None })
        }
        EventKind::Encrypted => Body::Flow(Flow { wire, sni: Some(s.name.into()), owner: None }),
        other => panic!("tui_common::event makes messages and flows, not {other:?}"),
    };
    Event {
        ts: at(s.secs),
        frame: (s.secs * 10.0) as u64 + 1,
        iface: s.iface,
        iface_name: topo.get(s.iface).map(|i| i.name.clone()).unwrap_or_else(|| "if?".into()),
        body,
    }
}

/// Judged by the core. A leak or bypass gets the cause the pipeline gives these scenes, with
/// its evidence (the core's words are made from it): wg0 went down, or (wg0 up) the LAN's
/// resolver on 192.0.2.0/24, or an application's own encrypted DNS.
pub fn judged(topo: &Topology, ev: Event) -> Judged {
    let (verdict, reason) = judge(&ev, &Context { topology: topo, tunnel_seen: true });
    let tunnel_up = topo.iter().any(|i| i.kind == IfaceKind::Tunnel && i.facts.up);
    let lan = Prefix::new([192, 0, 2, 0].into(), 24).expect("a prefix");
    let (cause, proof) = match verdict {
        Some(Verdict::Leak | Verdict::Bypass) if !tunnel_up => (Cause::TunnelDown, Proof::Down),
        Some(Verdict::Leak) => (Cause::LanResolver, Proof::Lan { net: lan, assumed: true }),
        Some(Verdict::Bypass) => (Cause::AppEncryptedDns, Proof::Encrypted { lan: None, route: None }),
        _ => return Judged { event: ev, verdict, reason, cause: None },
    };
    let evidence = Evidence { tunnel: Some("wg0".into()), proof, known: Known::none(), routed: false };
    Judged { event: ev, verdict, reason, cause: Some(Caused::new(cause, None, Some(evidence))) }
}

pub fn feed(model: &mut Model, topo: &Topology, s: Spec<'_>) {
    let j = judged(topo, event(topo, &s));
    model.apply_event(&j, None);
}

pub fn query(secs: f64, iface: u32, client: &str, server: &str, name: &str) -> Spec<'static> {
    let (client, server, name) = leak(client, server, name);
    Spec {
        secs,
        iface,
        kind: EventKind::Query,
        transport: Transport::Dns,
        client,
        server,
        name,
        rtt_ms: None,
    }
}

pub fn response(secs: f64, iface: u32, client: &str, server: &str, name: &str, rtt: f64) -> Spec<'static> {
    let (client, server, name) = leak(client, server, name);
    Spec {
        secs,
        iface,
        kind: EventKind::Response,
        transport: Transport::Dns,
        client,
        server,
        name,
        rtt_ms: Some(rtt),
    }
}

fn leak(a: &str, b: &str, c: &str) -> (&'static str, &'static str, &'static str) {
    (Box::leak(a.into()), Box::leak(b.into()), Box::leak(c.into()))
}

/// Some seconds of DNS through wg0, with loopback and mDNS beside it.
pub fn tunnel_session(model: &mut Model, topo: &Topology) {
    model.apply_topology(topo);
    for i in 0..12 {
        let t = i as f64 * 2.5;
        let name = format!("host{i}.example.com");
        feed(model, topo, query(t, 1, "198.51.100.2", "198.51.100.1", &name));
        feed(model, topo, response(t + 0.02, 1, "198.51.100.2", "198.51.100.1", &name, 18.0 + i as f64));
    }
    feed(model, topo, query(28.0, 2, "127.0.0.1", "127.0.0.53", "local.example"));
    feed(
        model,
        topo,
        Spec {
            secs: 29.0,
            iface: 0,
            kind: EventKind::Query,
            transport: Transport::Mdns,
            client: "192.0.2.10",
            server: "224.0.0.251",
            name: "printer.local",
            rtt_ms: None,
        },
    );
}

/// Leaks on eth0 and a DoH bypass after the tunnel session.
pub fn leaks(model: &mut Model, topo: &Topology, from: f64) {
    for i in 0..3 {
        let t = from + i as f64;
        let name = format!("secret{i}.example.org");
        feed(model, topo, query(t, 0, "192.0.2.10", "192.0.2.1", &name));
        feed(model, topo, response(t + 0.03, 0, "192.0.2.10", "192.0.2.1", &name, 30.0));
    }
    feed(
        model,
        topo,
        Spec {
            secs: from + 3.5,
            iface: 0,
            kind: EventKind::Encrypted,
            transport: Transport::Doh,
            client: "192.0.2.10",
            server: "203.0.113.53",
            name: "doh.example.net",
            rtt_ms: None,
        },
    );
}

pub fn notice(model: &mut Model, topo: &Topology, secs: f64, iface: u32, n: Notice) {
    let name = topo.get(iface).map(|i| i.name.clone()).unwrap_or_else(|| "if?".into());
    let ev = Event::notice(at(secs), 0, iface, name, n);
    model.apply_event(&judged(topo, ev), None);
}

pub fn replay_app(model: &Model) -> App {
    let mut app = App::new(Source::Replay { files: "session.pcapng".into(), speed: None });
    app.progress = dnsleak::tui::app::Progress::Finished;
    app.now = model.last_ts.unwrap_or_default();
    app
}

/// Draws the dashboard on a TestBackend of `w` x `h`.
pub fn draw(app: &App, model: &Model, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| f.render_widget(Dashboard { app, model }, f.area())).unwrap();
    t
}

//! The pipeline: frames in, judged events out, in capture order.
//!
//! link -> ip (+ fragment reassembly) -> udp | tcp stream -> dns | encrypted-DNS detection
//! -> event -> verdict -> tracker (pairing, patterns) -> out.

use std::net::IpAddr;

mod inplace;
mod memo;

use self::memo::{IfaceMemo, ProviderMemo};
use super::cause::Causes;
use super::config::{Config, HashSeeds};
use super::dns;
use super::dnscrypt::Dnscrypt;
use super::event::{
    Body, DnsInfo, Encap, Event, EventKind, Flow, Judged, MessageKind, Notice, Transport, Wire, L4,
};
use super::frag::Defrag;
use super::frame::{FrameRef, LinkType, Ts};
use super::ip::{self, IpPacket};
use super::link::{self, LinkError, Network};
use super::losses::{Fullness, Table};
use super::process::ProcessTable;
use super::resolvers::ResolverDb;
use super::stats::{FrameClass, Stats};
use super::tcp::{FlowKey, Segment, StreamItem, TcpStreams};
use super::tls::{EncryptedFlows, Seen};
use super::topology::{IfaceId, IfaceName, Topology};
use super::tracker::{Tracker, Unanswered};
use super::verdict::{self, Reason};

mod facts;

const TEREDO_PORT: u16 = 3544;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_IPV6_IN_IPV4: u8 = 41;
/// Expiry sweeps run at most this often, in trace time.
const SWEEP_INTERVAL_NS: i64 = 1_000_000_000;

/// Where a packet came from, carried down the layers.
#[derive(Clone, Copy)]
struct Origin {
    ts: Ts,
    frame: u64,
    iface: IfaceId,
    encap: Option<Encap>,
}

/// The layer-4 facts of one message.
#[derive(Clone, Copy)]
struct Path {
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    proto: L4,
}

/// The parts of the pipeline that turn a decoded message into judged events. Split from the
/// decoders so a TCP stream can hand messages to it while the stream table is borrowed.
struct Judge {
    topology: Topology,
    tunnel_seen: bool,
    resolvers: ResolverDb,
    tracker: Tracker,
    stats: Stats,
    notices: Vec<Event>,
    keep_payload: bool,
    /// Why each leak or bypass happened.
    causes: Causes,
    /// Sockets to programs, once process attribution runs.
    processes: Option<Box<ProcessTable>>,
    /// The interfaces of recent events and the providers of recent resolvers.
    iface_memo: IfaceMemo,
    provider_memo: ProviderMemo,
    /// Keys of the name hash the tracker and the causes share.
    seeds: HashSeeds,
}

impl Judge {
    fn iface_name(&mut self, id: IfaceId) -> IfaceName {
        self.iface_memo.get(&self.topology, id).name.clone()
    }

    /// Where a message or flow went, with the resolver's provider looked up.
    fn wire(&mut self, o: Origin, p: Path, transport: Transport, resolver: IpAddr) -> Wire {
        Wire {
            proto: p.proto,
            transport,
            src: p.src,
            sport: p.sport,
            dst: p.dst,
            dport: p.dport,
            encap: o.encap,
            provider: self.provider_memo.provider(&self.resolvers, resolver),
        }
    }

    /// Decodes one DNS message and emits its event.
    fn message(
        &mut self,
        o: Origin,
        p: Path,
        transport: Transport,
        payload: &[u8],
        out: &mut Vec<Judged>,
    ) -> FrameClass {
        let kept = || if self.keep_payload { payload.into() } else { Box::default() };
        let (kind, dns, class) = match dns::decode_head(payload) {
            Ok((header, question)) => {
                let kind = if header.qr() { MessageKind::Response } else { MessageKind::Query };
                (kind, Some(DnsInfo { header, question, payload: kept() }), FrameClass::Dns)
            }
            Err(bad) => {
                let dns =
                    bad.header.map(|header| DnsInfo { header, question: bad.question, payload: kept() });
                self.stats.count_malformed(bad.reason);
                (MessageKind::Malformed(bad.reason), dns, FrameClass::Malformed)
            }
        };
        let resolver = if kind == MessageKind::Response { p.src } else { p.dst };
        let wire = self.wire(o, p, transport, resolver);
        self.push_message(o, kind, wire, dns, out);
        self.judge_last(out);
        class
    }

    /// Appends the event of an encrypted flow to `out` and judges it.
    fn flow(&mut self, o: Origin, wire: Wire, sni: Option<Box<str>>, out: &mut Vec<Judged>) {
        self.stats.count_flow(wire.transport, wire.proto);
        self.push_unjudged(o, Body::Flow(Flow { wire, sni, owner: None }), out);
        self.judge_last(out);
    }

    /// Appends an event with `body` at `o`, not judged yet (`judge_last` judges it in place).
    /// Inlined so the body is built in the push (a flow's; messages take `push_message`).
    #[inline(always)]
    fn push_unjudged(&mut self, o: Origin, body: Body, out: &mut Vec<Judged>) {
        let iface_name = self.iface_name(o.iface);
        out.push(Judged {
            event: Event { ts: o.ts, frame: o.frame, iface: o.iface, iface_name, body },
            verdict: None,
            reason: Reason::Notice,
            cause: None,
        });
    }

    /// Judges the event just pushed to `out`, lets the tracker see it, and appends any
    /// notices.
    ///
    /// Events are built in the vector they are handed out in, and judged there: an event is a
    /// few hundred bytes and every move is a copy. So `message` writes a template in place and
    /// moves its parts in (`push_message`), and `flow` writes the whole event in the `push`
    /// expression (a body built first and handed down was copied at every layer: replay 9%
    /// slower).
    fn judge_last(&mut self, out: &mut Vec<Judged>) {
        let Some(judged) = out.last_mut() else { return };
        if let Some(table) = self.processes.as_deref_mut() {
            table.attribute_event(&self.topology, &mut judged.event);
        }
        let kind = self.iface_memo.get(&self.topology, judged.event.iface).kind;
        let ctx = verdict::Context { topology: &self.topology, tunnel_seen: self.tunnel_seen };
        (judged.verdict, judged.reason) = verdict::judge_on(&judged.event, kind, &ctx);
        self.stats.count_event(judged.event.kind(), judged.verdict);
        // The question's name, hashed once for the tracker and the causes.
        let name_hash = match &judged.event.body {
            Body::Message(m) if m.malformed().is_none() => {
                self.seeds.name_hash(m.question().map_or("", |q| &q.name))
            }
            _ => 0,
        };
        self.tracker.observe_named(judged, name_hash, &self.topology, &mut self.notices);
        judged.cause = self.causes.observe_named(judged, name_hash, &self.topology);
        self.flush_notices(out);
    }

    /// Reports a new encrypted-DNS flow; counts a packet of a known one.
    fn flow_seen(&mut self, o: Origin, p: Path, seen: Seen, out: &mut Vec<Judged>) -> FrameClass {
        match seen {
            Seen::NotDns => FrameClass::Other,
            Seen::Known => FrameClass::Encrypted,
            Seen::New(found) => {
                // The flow's event names the client as src and the server as dst.
                let path = if (p.src, p.sport) == found.client {
                    p
                } else {
                    Path { src: p.dst, sport: p.dport, dst: p.src, dport: p.sport, proto: p.proto }
                };
                let mut wire = self.wire(o, path, found.transport, path.dst);
                wire.provider = found.provider.or(wire.provider);
                self.flow(o, wire, found.sni, out);
                FrameClass::Encrypted
            }
        }
    }

    /// One message of a TCP stream on a DNS port: DNSCrypt (its certificate exchange or an
    /// encrypted packet) or plaintext DNS.
    #[allow(clippy::too_many_arguments)]
    fn stream_message(
        &mut self,
        dnscrypt: &mut Dnscrypt,
        o: Origin,
        p: Path,
        transport: Transport,
        msg: &[u8],
        out: &mut Vec<Judged>,
    ) -> FrameClass {
        if !dnscrypt.may_be(msg) {
            return self.message(o, p, transport, msg, out);
        }
        let key = FlowKey { iface: o.iface, src: p.src, sport: p.sport, dst: p.dst, dport: p.dport };
        match dnscrypt.observe(o.ts, &key, L4::Tcp, msg) {
            Some(seen) => self.flow_seen(o, p, seen, out),
            None => self.message(o, p, transport, msg, out),
        }
    }

    fn notice(&mut self, ts: Ts, frame: u64, iface: IfaceId, notice: Notice, out: &mut Vec<Judged>) {
        let name = self.iface_name(iface);
        self.notices.push(Event::notice(ts, frame, iface, name, notice));
        self.flush_notices(out);
    }

    fn flush_notices(&mut self, out: &mut Vec<Judged>) {
        if self.notices.is_empty() {
            return; // the common case, without setting up a drain
        }
        for ev in self.notices.drain(..) {
            self.stats.count_event(EventKind::Notice, None);
            out.push(Judged::unjudged(ev));
        }
    }
}

/// Sizes of the pipeline's bounded tables, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    pub frag_datagrams: usize,
    pub frag_bytes: usize,
    pub tcp_flows: usize,
    pub tcp_bytes: usize,
    pub pending_queries: usize,
}

/// The core. Feed it frames (`process`) and facts (`apply`) in order; it appends judged events
/// to the vector you pass.
pub struct Pipeline {
    judge: Judge,
    defrag: Defrag,
    tcp: TcpStreams,
    encrypted: EncryptedFlows,
    dnscrypt: Dnscrypt,
    /// Interfaces whose unknown link type was already reported.
    warned_links: foldhash::HashSet<(IfaceId, LinkType)>,
    last_sweep: Option<Ts>,
    last_frame: u64,
    /// Which tables said they are full, and their caps (in `Table::ALL` order) for the notice.
    fullness: Fullness,
    caps: [(u64, u64); Table::ALL.len()],
}

impl Pipeline {
    pub fn new(config: Config, topology: Topology) -> Self {
        let tunnel_seen = topology.has_tunnel();
        let caps = Table::ALL.map(|t| t.caps(&config));
        let mut causes = Causes::seeded(config.causes, config.seeds);
        causes.set_topology(&topology, Ts::ZERO);
        Pipeline {
            judge: Judge {
                topology,
                tunnel_seen,
                resolvers: config.resolvers,
                tracker: Tracker::seeded(config.tracker, config.seeds),
                stats: Stats::default(),
                notices: Vec::new(),
                keep_payload: config.keep_payload,
                causes,
                processes: config.attribute_processes.then(Box::default),
                iface_memo: IfaceMemo::default(),
                provider_memo: ProviderMemo::default(),
                seeds: config.seeds,
            },
            defrag: Defrag::new(config.frag),
            tcp: TcpStreams::new(config.tcp),
            encrypted: EncryptedFlows::new(config.max_encrypted_flows),
            dnscrypt: Dnscrypt::new(config.dnscrypt),
            warned_links: Default::default(),
            last_sweep: None,
            last_frame: 0,
            fullness: Fullness::default(),
            caps,
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.judge.topology
    }

    /// Counters so far, with the reassembly, stream and pairing counters folded in.
    pub fn stats(&self) -> Stats {
        let mut s = self.judge.stats.clone();
        s.frag = self.defrag.stats();
        s.tcp = self.tcp.stats();
        s.encrypted_flows_evicted = self.encrypted.evicted() + self.dnscrypt.evicted();
        s.dnscrypt_flows_evicted = self.dnscrypt.evicted();
        s.encrypted_evicted_partial = self.encrypted.evicted_partial();
        s.quic_given_up = self.encrypted.quic_given_up();
        s.cause_names_evicted = self.judge.causes.names_evicted();
        s.pairs = self.judge.tracker.stats();
        s.processes = self.judge.processes.as_ref().map(|t| t.stats());
        s
    }

    /// What the pipeline's tables hold right now (each bounded by its `Config` limit).
    pub fn held(&self) -> Held {
        let (frag_datagrams, frag_bytes) = self.defrag.pending();
        Held {
            frag_datagrams,
            frag_bytes,
            tcp_flows: self.tcp.flow_count(),
            tcp_bytes: self.tcp.buffered_bytes(),
            pending_queries: self.judge.tracker.pending(),
        }
    }

    /// The most recent queries that got no response within the timeout, oldest first.
    pub fn recent_unanswered(&self) -> impl DoubleEndedIterator<Item = &Unanswered> + ExactSizeIterator {
        self.judge.tracker.recent_unanswered()
    }

    /// Decodes one frame and appends what it completed to `out`.
    pub fn process(&mut self, frame: FrameRef<'_>, out: &mut Vec<Judged>) {
        self.last_frame = frame.number;
        self.sweep(frame.ts, Some(out));
        let class = self.classify_frame(frame, out);
        self.judge.stats.count_frame(class, frame.data.len());
        self.tables_full(frame, out);
    }

    /// A notice for each table that dropped something for the first time (with this frame).
    fn tables_full(&mut self, frame: FrameRef<'_>, out: &mut Vec<Judged>) {
        let pairs = self.judge.tracker.stats();
        let drops = Table::ALL.map(|t| match t {
            Table::Fragments => self.defrag.stats().evicted,
            Table::TcpFlows => self.tcp.stats().flows_evicted,
            Table::EncryptedFlows => self.encrypted.evicted(),
            Table::DnscryptFlows => self.dnscrypt.evicted(),
            Table::PendingQueries => pairs.evicted,
            Table::Names => pairs.names_dropped,
            Table::CauseNames => self.judge.causes.names_evicted(),
        });
        let (judge, caps) = (&mut self.judge, &self.caps);
        self.fullness.update(drops, |table| {
            let (cap, cap_bytes) = caps[table as usize];
            let notice = Notice::TableFull { table, cap, cap_bytes };
            judge.notice(frame.ts, frame.number, frame.iface, notice, out);
        });
    }

    /// Expires what timed out up to trace time `now` (call it when time passes without frames).
    pub fn advance(&mut self, now: Ts) {
        self.sweep(now, None);
    }

    /// End of input: whatever is still pending (queries, fragments, streams) is counted as
    /// unanswered or incomplete.
    pub fn finish(&mut self, out: &mut Vec<Judged>) {
        let end = Ts(i64::MAX);
        self.defrag.expire(end);
        self.flush_tcp(end, out);
        self.tcp.expire(end);
        self.encrypted.expire(end);
        self.dnscrypt.expire(end);
        self.judge.tracker.finish();
        self.judge.flush_notices(out);
    }

    fn sweep(&mut self, now: Ts, out: Option<&mut Vec<Judged>>) {
        match self.last_sweep {
            Some(last) if now.0.saturating_sub(last.0) < SWEEP_INTERVAL_NS => {}
            _ => {
                self.last_sweep = Some(now);
                if let Some(out) = out {
                    self.flush_tcp(now, out);
                }
                self.defrag.expire(now);
                self.tcp.expire(now);
                self.encrypted.expire(now);
                self.dnscrypt.expire(now);
                self.judge.tracker.expire(now);
            }
        }
    }

    /// Delivers the TCP messages that waited behind holes older than the reorder window (all of
    /// them at the end of input), on the current frame.
    fn flush_tcp(&mut self, now: Ts, out: &mut Vec<Judged>) {
        let judge = &mut self.judge;
        let dnscrypt = &mut self.dnscrypt;
        let frame = self.last_frame;
        self.tcp.flush_stale(now, &mut |key, ts, item| {
            let (StreamItem::Message(msg), Some(transport)) =
                (item, Transport::from_ports(key.sport, key.dport))
            else {
                return;
            };
            let o = Origin { ts, frame, iface: key.iface, encap: None };
            let path =
                Path { src: key.src, sport: key.sport, dst: key.dst, dport: key.dport, proto: L4::Tcp };
            judge.stream_message(dnscrypt, o, path, transport, msg, out);
        });
    }

    fn classify_frame(&mut self, frame: FrameRef<'_>, out: &mut Vec<Judged>) -> FrameClass {
        let net = match link::decode(frame.link, frame.data) {
            Ok(Network::NotIp) => return FrameClass::Other,
            Ok(net) => net,
            Err(LinkError::Truncated(_)) => return FrameClass::Undecodable,
            Err(LinkError::Unsupported(lt)) => {
                self.warn_link(frame, lt, out);
                return FrameClass::Unsupported;
            }
        };
        let origin = Origin { ts: frame.ts, frame: frame.number, iface: frame.iface, encap: None };
        match ip::decode(net) {
            Ok(pkt) => self.ip_packet(origin, &pkt, out),
            Err(_) => FrameClass::Undecodable,
        }
    }

    fn warn_link(&mut self, frame: FrameRef<'_>, lt: u32, out: &mut Vec<Judged>) {
        let key = (frame.iface, LinkType(lt));
        // A set: a file may declare a thousand interfaces of unknown link types, and every
        // frame on them asks.
        if self.warned_links.len() < 1024 && self.warned_links.insert(key) {
            self.judge.notice(frame.ts, frame.number, frame.iface, Notice::UnknownLinkType { link: lt }, out);
        }
    }

    fn ip_packet(&mut self, o: Origin, pkt: &IpPacket<'_>, out: &mut Vec<Judged>) -> FrameClass {
        if pkt.frag.is_some() {
            let Some(d) = self.defrag.push(o.ts, o.iface, pkt) else {
                return FrameClass::Fragment;
            };
            // IPv6 extension headers may follow the fragment header: skip them now.
            let inner = if d.src.is_ipv6() {
                ip::skip_ipv6_extensions(d.proto, &d.payload)
            } else {
                Some((d.proto, &d.payload[..]))
            };
            return match inner {
                Some((proto, payload)) => self.transport(o, d.src, d.dst, proto, payload, out),
                None => FrameClass::Undecodable,
            };
        }
        self.transport(o, pkt.src, pkt.dst, pkt.proto, pkt.payload, out)
    }

    fn transport(
        &mut self,
        o: Origin,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        payload: &[u8],
        out: &mut Vec<Judged>,
    ) -> FrameClass {
        match proto {
            PROTO_UDP => self.udp(o, src, dst, payload, out),
            PROTO_TCP => self.tcp(o, src, dst, payload, out),
            PROTO_IPV6_IN_IPV4 if o.encap.is_none() => self.inner_ipv6(o, Encap::SixInFour, payload, out),
            _ => FrameClass::Other,
        }
    }

    /// IPv6 carried inside 6in4 or Teredo, decoded one level deep.
    fn inner_ipv6(&mut self, o: Origin, encap: Encap, payload: &[u8], out: &mut Vec<Judged>) -> FrameClass {
        match ip::decode(Network::Ipv6(payload)) {
            Ok(inner) => self.ip_packet(Origin { encap: Some(encap), ..o }, &inner, out),
            Err(_) if encap == Encap::Teredo => FrameClass::Other,
            Err(_) => FrameClass::Undecodable,
        }
    }

    fn udp(&mut self, o: Origin, src: IpAddr, dst: IpAddr, data: &[u8], out: &mut Vec<Judged>) -> FrameClass {
        let Some((sport, dport, payload)) = ip::udp_header(data) else {
            return FrameClass::Undecodable;
        };
        let path = Path { src, sport, dst, dport, proto: L4::Udp };
        // DNSCrypt first, on any port: a DNSCrypt resolver on 5353 is not malformed mDNS.
        if self.dnscrypt.may_be(payload) {
            if let Some(class) = self.dnscrypt(o, path, payload, out) {
                return class;
            }
        }
        if let Some(transport) = Transport::from_ports(sport, dport) {
            return self.judge.message(o, path, transport, payload, out);
        }
        if (sport == TEREDO_PORT || dport == TEREDO_PORT) && o.encap.is_none() {
            return self.inner_ipv6(o, Encap::Teredo, ip::teredo_payload(payload), out);
        }
        self.encrypted(o, path, payload, out)
    }

    fn tcp(&mut self, o: Origin, src: IpAddr, dst: IpAddr, data: &[u8], out: &mut Vec<Judged>) -> FrameClass {
        let Ok((hdr, payload)) = etherparse::TcpHeaderSlice::from_slice(data).map(|h| {
            let len = h.slice().len();
            (h, &data[len..])
        }) else {
            return FrameClass::Undecodable;
        };
        let path = Path { src, sport: hdr.source_port(), dst, dport: hdr.destination_port(), proto: L4::Tcp };
        let Some(transport) = Transport::from_ports(path.sport, path.dport) else {
            // DNSCrypt over TCP: each packet after a 2-byte length.
            let after_length = payload.get(2..).unwrap_or_default();
            if self.dnscrypt.may_be(after_length) {
                if let Some(class) = self.dnscrypt(o, path, after_length, out) {
                    return class;
                }
            }
            return self.encrypted(o, path, payload, out);
        };
        let seg = Segment {
            seq: hdr.sequence_number(),
            ack: hdr.ack().then(|| hdr.acknowledgment_number()),
            syn: hdr.syn(),
            fin: hdr.fin(),
            rst: hdr.rst(),
            payload,
        };
        let key = FlowKey { iface: o.iface, src, sport: path.sport, dst, dport: path.dport };
        let judge = &mut self.judge;
        let dnscrypt = &mut self.dnscrypt;
        let mut class = FrameClass::Dns;
        let mut saw_message = false;
        self.tcp.segment(o.ts, key, &seg, &mut |item| match item {
            StreamItem::Message(msg) => {
                let c = judge.stream_message(dnscrypt, o, path, transport, msg, out);
                // A segment is DNS if any message in it decoded.
                if !saw_message || c == FrameClass::Dns {
                    class = c;
                }
                saw_message = true;
            }
            StreamItem::Gap { .. } => {}
        });
        class
    }

    /// TLS on any TCP port and QUIC on any UDP port that is not plaintext DNS.
    fn encrypted(&mut self, o: Origin, p: Path, payload: &[u8], out: &mut Vec<Judged>) -> FrameClass {
        if !self.encrypted.may_be(p.proto, p.sport, p.dport, payload) {
            return FrameClass::Other; // most traffic that is not DNS, before building a key
        }
        let key = FlowKey { iface: o.iface, src: p.src, sport: p.sport, dst: p.dst, dport: p.dport };
        let seen = self.encrypted.observe(o.ts, key, p.proto, payload, &self.judge.resolvers);
        self.judge.flow_seen(o, p, seen, out)
    }

    /// DNSCrypt's certificate exchange or encrypted packets, on any port; `None` when the
    /// payload is not DNSCrypt.
    fn dnscrypt(&mut self, o: Origin, p: Path, payload: &[u8], out: &mut Vec<Judged>) -> Option<FrameClass> {
        let key = FlowKey { iface: o.iface, src: p.src, sport: p.sport, dst: p.dst, dport: p.dport };
        let seen = self.dnscrypt.observe(o.ts, &key, p.proto, payload)?;
        Some(self.judge.flow_seen(o, p, seen, out))
    }
}

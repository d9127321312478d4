//! Every bounded table under a flood of ten times its cap, against a normal load of the same
//! number of packets (issue #13): fragments, TCP streams, encrypted flows, DNSCrypt flows,
//! pending queries, parallel-resolution names, hijack pairs, the summary's aggregates, the
//! dashboard's model, and a file's interfaces. The same flood also runs against the table capped at a sixteenth:
//! if eviction or expiry walked the table, time per packet would grow with what it holds
//! (sixteen times); it must not. (The dashboard's caps are fixed; a file's interfaces are
//! capped by the reader at 4,096: there the flood is 4,096 interfaces against 256, with a
//! change of interfaces on every packet.)
//!
//! At the end, per table: time per packet of each contender and the ratios (flood / normal,
//! flood at the cap / flood at a sixteenth of it), from the time each took inside criterion.
//!
//! `cargo bench --bench tables` (a few minutes); `DNSLEAK_BENCH_TABLES=frag,tls` runs some.

#[path = "../tests/support/mod.rs"]
mod support;

use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use dnsleak::output::report::{Report, ReportLimits};
use dnsleak::tui::model::{Model, RESOLVER_CAP};
use dnsleak_core::frag::FragLimits;
use dnsleak_core::tcp::TcpLimits;
use dnsleak_core::tracker::TrackerLimits;
use dnsleak_core::{Config, Frame, IfaceFacts, Judged, LinkType, Overrides, Pipeline, Stats, Topology, Ts};

const ETH0: u32 = 0;
const WG0: u32 = 1;

/// Time and iterations one contender spent inside criterion (warm-up included).
#[derive(Default)]
struct Spent {
    time: Cell<Duration>,
    iters: Cell<u64>,
}

impl Spent {
    fn per_packet_ns(&self, packets: usize) -> f64 {
        self.time.get().as_nanos() as f64 / (self.iters.get().max(1) as f64 * packets as f64)
    }
}

fn topology() -> Topology {
    let facts = |name: &str, mac: bool| IfaceFacts {
        name: name.into(),
        up: true,
        has_mac: mac,
        ..Default::default()
    };
    Topology::from_facts([(ETH0, facts("eth0", true)), (WG0, facts("wg0", false))], &Overrides::default())
}

// ---- packets (raw IPv4) ----

fn addr(net: u8, i: usize) -> [u8; 4] {
    [net, (i >> 16) as u8, (i >> 8) as u8, i as u8]
}

/// One fragment of an IPv4 datagram: `bytes` at `offset` (a multiple of 8) of datagram `id`.
fn fragment(src: [u8; 4], dst: [u8; 4], id: u16, offset: u16, more: bool, bytes: &[u8]) -> Vec<u8> {
    let mut h = etherparse::Ipv4Header::new(bytes.len() as u16, 64, etherparse::IpNumber::UDP, src, dst)
        .expect("a small payload");
    h.identification = id;
    h.more_fragments = more;
    h.fragment_offset = etherparse::IpFragOffset::try_new(offset / 8).expect("a small offset");
    h.header_checksum = h.calc_header_checksum();
    let mut v = Vec::with_capacity(20 + bytes.len());
    h.write(&mut v).expect("in memory");
    v.extend_from_slice(bytes);
    v
}

/// A DNS message for `name` (A, IN), encoded by hickory-proto.
fn dns(id: u16, response: bool, name: &str) -> Vec<u8> {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RecordType};
    let kind = if response { MessageType::Response } else { MessageType::Query };
    let mut m = Message::new(id, kind, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).expect("a valid name"), RecordType::A));
    m.to_vec().expect("an encodable message")
}

fn framed(msg: &[u8]) -> Vec<u8> {
    let mut v = (msg.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}

/// Frames on `iface`, one microsecond apart.
fn frames(iface: u32, packets: impl Iterator<Item = Vec<u8>>) -> Vec<Frame> {
    packets
        .enumerate()
        .map(|(i, data)| Frame {
            iface,
            ts: Ts(1_700_000_000_000_000_000 + i as i64 * 1_000),
            link: LinkType::RAW,
            number: i as u64 + 1,
            orig_len: data.len() as u32,
            data,
        })
        .collect()
}

// ---- the loads: (normal, flood at 2x the cap, flood at 10x the cap), equal lengths per pair ----

/// One table's contest.
struct Contest {
    name: &'static str,
    cap: usize,
    /// Packets per table entry (a hijack pair takes a query and its answer).
    per_entry: usize,
    /// Builds `n` packets of the normal load, or of the flood.
    build: fn(usize, bool) -> Vec<Frame>,
    /// Sets the table's cap in a configuration.
    set_cap: fn(&mut Config, usize),
    /// What the table dropped to stay within its cap (none for a normal load, most of a flood).
    dropped: fn(&Stats) -> u64,
}

fn frag_load(n: usize, flood: bool) -> Vec<Frame> {
    // A UDP datagram (to port 9) of 72 bytes, in fragments of 40 and 32.
    let whole = support::ipv4_udp([10, 0, 0, 1], 40000, [198, 51, 100, 1], 9, &[0u8; 64]);
    let inner = &whole[20..];
    let dst = [198, 51, 100, 1];
    frames(
        ETH0,
        (0..n).map(|i| {
            if flood {
                // First fragments of datagrams that never complete.
                return fragment(addr(10, i), dst, i as u16, 0, true, &inner[..40]);
            }
            // Datagrams in two fragments, each completed by its second.
            let d = i / 2;
            match i % 2 {
                0 => fragment(addr(10, d % 64), dst, d as u16, 0, true, &inner[..40]),
                _ => fragment(addr(10, d % 64), dst, d as u16, 40, false, &inner[40..]),
            }
        }),
    )
}

fn tcp_load(n: usize, flood: bool) -> Vec<Frame> {
    let msg = framed(&dns(7, false, "partial.example"));
    let server = [10, 2, 0, 1];
    frames(
        WG0,
        (0..n).map(|i| {
            if flood {
                // A new stream per segment, each the first 30 bytes of a message.
                let (src, port) = (addr(10, i / 50_000), (i % 50_000) as u16 + 1024);
                return support::ipv4_tcp(src, port, server, 53, 1, &msg[..30]);
            }
            // 64 streams, each segment one whole message.
            let (flow, k) = (i % 64, (i / 64) as u32);
            support::ipv4_tcp(addr(10, 0), flow as u16 + 1024, server, 53, 1 + k * msg.len() as u32, &msg)
        }),
    )
}

fn tls_load(n: usize, flood: bool) -> Vec<Frame> {
    let data = [0x17, 3, 3, 0, 4, 1, 2, 3, 4];
    frames(
        WG0,
        (0..n).map(|i| {
            // Flood: a new DoT flow per segment (issue #13); normal: 64 long flows.
            let flow = if flood { i } else { i % 64 };
            let (src, port) = (addr(10, flow / 50_000), (flow % 50_000) as u16 + 1024);
            support::ipv4_tcp(src, port, [9, 9, 9, 9], 853, 1 + i as u32 * 9, &data)
        }),
    )
}

fn dnscrypt_load(n: usize, flood: bool) -> Vec<Frame> {
    // Encrypted DNSCrypt answers (the resolver magic): flood, a new client per packet (a new
    // flow each); normal, 64 clients.
    let mut answer = b"r6fnvWj8".to_vec();
    answer.extend(std::iter::repeat_n(0x33, 64));
    frames(
        WG0,
        (0..n).map(|i| {
            let client = if flood { i } else { i % 64 };
            support::ipv4_udp([9, 9, 9, 9], 443, addr(10, client), 40_000, &answer)
        }),
    )
}

fn pending_load(n: usize, flood: bool) -> Vec<Frame> {
    let (client, server) = ([10, 2, 0, 2], [10, 2, 0, 1]);
    let port = |i: usize| (i / 65_536) as u16 % 60_000 + 1024;
    frames(
        WG0,
        (0..n).map(|i| {
            if flood || i % 2 == 0 {
                // Flood: queries never answered; normal: each answered by the next packet.
                support::ipv4_udp(client, port(i), server, 53, &dns(i as u16, false, "name.example"))
            } else {
                support::ipv4_udp(server, 53, client, port(i - 1), &dns((i - 1) as u16, true, "name.example"))
            }
        }),
    )
}

fn names_load(n: usize, flood: bool) -> Vec<Frame> {
    // Leaked queries (eth0, a tunnel up): flood with distinct names, normal with 64.
    let mut v = frames(
        ETH0,
        (0..n).map(|i| {
            let name = format!("n{}.example", if flood { i } else { i % 64 });
            support::ipv4_udp([192, 0, 2, 10], 40000, [192, 0, 2, 1], 53, &dns(i as u16, false, &name))
        }),
    );
    if !flood {
        // Half of them through the tunnel: parallel resolution is what the table watches.
        for f in v.iter_mut().skip(1).step_by(2) {
            f.iface = WG0;
        }
    }
    v
}

fn hijack_load(n: usize, flood: bool) -> Vec<Frame> {
    frames(
        ETH0,
        (0..n).map(|i| {
            let (client, server) = ([192, 0, 2, 10], [192, 0, 2, 1]);
            let id = (i / 2) as u16;
            if i % 2 == 0 {
                support::ipv4_udp(client, 40000, server, 53, &dns(id, false, "bank.example"))
            } else {
                // Flood: each answer from another address than the one asked (a new pair).
                let from = if flood { addr(203, i / 2) } else { server };
                support::ipv4_udp(from, 53, client, 40000, &dns(id, true, "bank.example"))
            }
        }),
    )
}

fn contests() -> Vec<Contest> {
    let c = Config::new();
    let (frag, tcp, tracker) = (FragLimits::default(), TcpLimits::default(), TrackerLimits::default());
    vec![
        Contest {
            name: "frag",
            cap: frag.max_datagrams,
            per_entry: 1,
            build: frag_load,
            set_cap: |c, n| c.frag.max_datagrams = n,
            dropped: |s| s.frag.evicted,
        },
        Contest {
            name: "tcp",
            cap: tcp.max_flows,
            per_entry: 1,
            build: tcp_load,
            set_cap: |c, n| c.tcp.max_flows = n,
            dropped: |s| s.tcp.flows_evicted,
        },
        Contest {
            name: "tls",
            cap: c.max_encrypted_flows,
            per_entry: 1,
            build: tls_load,
            set_cap: |c, n| c.max_encrypted_flows = n,
            dropped: |s| s.encrypted_flows_evicted,
        },
        Contest {
            name: "dnscrypt",
            cap: c.dnscrypt.max_flows,
            per_entry: 1,
            build: dnscrypt_load,
            set_cap: |c, n| c.dnscrypt.max_flows = n,
            dropped: |s| s.encrypted_flows_evicted,
        },
        Contest {
            name: "pending",
            cap: tracker.max_pending,
            per_entry: 1,
            build: pending_load,
            set_cap: |c, n| c.tracker.max_pending = n,
            dropped: |s| s.pairs.evicted,
        },
        Contest {
            name: "names",
            cap: tracker.max_names,
            per_entry: 1,
            build: names_load,
            set_cap: |c, n| c.tracker.max_names = n,
            dropped: |s| s.pairs.names_dropped,
        },
        Contest {
            name: "hijacks",
            cap: tracker.max_hijack_pairs,
            per_entry: 2,
            build: hijack_load,
            set_cap: |c, n| c.tracker.max_hijack_pairs = n,
            // Forgotten pairs are not counted: a pair noticed again is only a second notice.
            dropped: |_| 0,
        },
    ]
}
/// The pipeline over `frames`; returns the events and the counters.
fn run(config: &Config, frames: &[Frame]) -> (usize, Stats) {
    let mut p = Pipeline::new(config.clone(), topology());
    let mut out = Vec::new();
    let mut events = 0;
    for f in frames {
        p.process(f.as_ref(), &mut out);
        events += out.len();
        out.clear();
    }
    p.finish(&mut out);
    (events + out.len(), p.stats())
}

/// Judged events of a flood of leaks to distinct resolvers (distinct names too), or of a
/// normal load to 16 resolvers, for the summary's and the dashboard's tables.
fn leaks(n: usize, flood: bool) -> Vec<Judged> {
    let packets = frames(
        ETH0,
        (0..n).map(|i| {
            let k = if flood { i } else { i % 16 };
            let q = dns(i as u16, false, &format!("n{k}.example"));
            support::ipv4_udp([192, 0, 2, 10], 40000, addr(198, k), 53, &q)
        }),
    );
    let mut p = Pipeline::new(Config { keep_payload: false, ..Config::new() }, topology());
    let mut out = Vec::new();
    for f in &packets {
        p.process(f.as_ref(), &mut out);
    }
    out
}

/// A file of `n` packets: with `changes`, packet i is on interface i, declared just before it
/// and ended by an ISB (issue #13: an interface change with every packet); without, all on one
/// interface.
fn interface_file(n: usize, changes: bool) -> std::path::PathBuf {
    use dnsleak::output::pcapng::{IfaceEnd, PcapngWriter};
    let mut w = PcapngWriter::new(Vec::new()).expect("in memory");
    let pkt = support::ipv4_udp([192, 0, 2, 10], 40000, [192, 0, 2, 1], 53, &dns(1, false, "a.example"));
    let mut id = 0;
    for i in 0..n {
        let ts = Ts(1_700_000_000_000_000_000 + i as i64 * 1_000);
        if changes {
            id = w.add_interface(&format!("eth{i}"), LinkType::RAW, &[]).expect("in memory");
            let end = IfaceEnd { start: None, end: ts, received: None, dropped: None };
            w.interface_end(id, end).expect("in memory");
        } else if i == 0 {
            id = w.add_interface("eth0", LinkType::RAW, &[]).expect("in memory");
        }
        w.packet(id, ts, pkt.len() as u32, &pkt, &[]).expect("in memory");
    }
    let path =
        std::env::temp_dir().join(format!("dnsleak-tables-{}-{n}-{changes}.pcapng", std::process::id()));
    std::fs::write(&path, w.into_inner()).expect("a temporary file");
    path
}

fn replay(path: &std::path::Path) -> u64 {
    use clap::Parser;
    let cli = dnsleak::cli::Cli::try_parse_from(["dnsleak", "replay", "--quiet", &path.to_string_lossy()])
        .expect("replay arguments");
    let dnsleak::cli::Command::Replay(args) = cli.command else { unreachable!("replay") };
    let cfg = dnsleak::app::config::ReplayConfig::new(&args).expect("replay configuration");
    let mut sink = dnsleak::output::summary::SummarySink::new();
    dnsleak::app::replay::judge_files(&cfg, &mut sink).expect("the file replays").core.frames
}

/// Times one contender inside criterion and adds it to `spent`.
fn bench<I>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    spent: &Spent,
    setup: impl Fn() -> I,
    work: impl Fn(I),
) {
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                let input = setup();
                let start = Instant::now();
                work(input);
                t += start.elapsed();
            }
            spent.time.set(spent.time.get() + t);
            spent.iters.set(spent.iters.get() + iters);
            t
        })
    });
}

/// Per-packet times (ns) of the normal load, the flood, and the flood with a sixteenth of the
/// cap (or a smaller flood).
type Row = (&'static str, usize, [f64; 3]);

const LABELS: [&str; 3] = ["normal", "flood_10x_cap", "flood_10x_cap_over_16"];

fn main() {
    let only = std::env::var("DNSLEAK_BENCH_TABLES").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o.split(',').any(|w| w == name));
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut rows: Vec<Row> = Vec::new();
    for t in contests().into_iter().filter(|t| wanted(t.name)) {
        let n = 10 * t.cap * t.per_entry;
        let (normal, flood) = ((t.build)(n, false), (t.build)(n, true));
        let base = Config { keep_payload: false, ..Config::new() };
        let mut small = base.clone();
        (t.set_cap)(&mut small, t.cap / 16);
        let runs = [(&normal, &base), (&flood, &base), (&flood, &small)];
        // The loads do what they say: the normal one fits, the floods overflow the table.
        let dropped = runs.map(|(load, config)| (t.dropped)(&run(config, load).1));
        assert_eq!(dropped[0], 0, "{}: the normal load dropped {}", t.name, dropped[0]);
        assert!(t.name == "hijacks" || dropped[1] > 0 && dropped[2] > dropped[1], "{}: {dropped:?}", t.name);
        let spent: [Spent; 3] = Default::default();
        let mut g = c.benchmark_group(format!("table_{}_cap_{}", t.name, t.cap));
        g.throughput(Throughput::Elements(n as u64));
        for ((&(load, config), label), s) in runs.iter().zip(LABELS).zip(&spent) {
            bench(
                &mut g,
                label,
                s,
                || (),
                |()| {
                    black_box(run(config, load));
                },
            );
        }
        g.finish();
        rows.push((t.name, t.cap, spent.each_ref().map(|s| s.per_packet_ns(n))));
    }
    for name in ["report", "model"].into_iter().filter(|n| wanted(n)) {
        rows.push(aggregates(&mut c, name));
    }
    if wanted("interfaces") {
        rows.push(interfaces(&mut c));
    }
    c.final_summary();
    println!("\ntime per packet (ns): normal load | flood of 10x the cap | the same flood, cap / 16");
    println!("(model: fixed caps, no third run; interfaces: one interface | a change per packet over");
    println!(" 4,096 interfaces | over 256: the reader's cap is 4,096)");
    for (name, cap, [normal, flood, small]) in rows {
        let (third, growth) = if small > 0.0 {
            (format!("{small:8.1}"), format!("{:5.2}", flood / small))
        } else {
            ("       -".to_string(), "    -".to_string())
        };
        println!(
            "{name:>10} cap {cap:>6}: {normal:8.1} | {flood:8.1} | {third}   flood / normal {:5.2}   cap / (cap / 16) {growth}",
            flood / normal
        );
    }
}

/// The summary's aggregates or the dashboard's model under leaks to distinct resolvers.
fn aggregates(c: &mut Criterion, name: &'static str) -> Row {
    let limits = ReportLimits::default();
    let cap = if name == "report" { limits.resolvers } else { RESOLVER_CAP };
    let n = 10 * cap;
    let (normal, flood) = (leaks(n, false), leaks(n, true));
    let small = ReportLimits {
        interfaces: limits.interfaces / 16,
        resolvers: limits.resolvers / 16,
        names: limits.names / 16,
        flows: limits.flows / 16,
        notices: limits.notices / 16,
        rtt_samples: limits.rtt_samples,
    };
    let runs = [(&normal, limits), (&flood, limits), (&flood, small)];
    let spent: [Spent; 3] = Default::default();
    let mut g = c.benchmark_group(format!("table_{name}_cap_{cap}"));
    g.throughput(Throughput::Elements(n as u64));
    let count = if name == "report" { 3 } else { 2 };
    for ((&(evs, limits), label), s) in runs.iter().zip(LABELS).zip(&spent).take(count) {
        if name == "report" {
            bench(&mut g, label, s, || Report::new(limits), |mut r| evs.iter().for_each(|j| r.observe(j)));
        } else {
            bench(&mut g, label, s, Model::new, |mut m| evs.iter().for_each(|j| m.apply_event(j, None)));
        }
    }
    g.finish();
    (name, cap, spent.each_ref().map(|s| s.per_packet_ns(n)))
}

/// Replay of a file whose every packet comes with an interface change, against one with a
/// single interface.
fn interfaces(c: &mut Criterion) -> Row {
    let cap = dnsleak::capture::reader::MAX_IFACES;
    let packets = [cap, cap, cap / 16];
    let files = [interface_file(cap, false), interface_file(cap, true), interface_file(cap / 16, true)];
    let spent: [Spent; 3] = Default::default();
    let mut g = c.benchmark_group(format!("table_interfaces_cap_{cap}"));
    let labels = ["normal", "flood_4096_interfaces", "flood_256_interfaces"];
    for (((file, label), s), n) in files.iter().zip(labels).zip(&spent).zip(packets) {
        g.throughput(Throughput::Elements(n as u64));
        bench(
            &mut g,
            label,
            s,
            || (),
            |()| {
                black_box(replay(file));
            },
        );
    }
    g.finish();
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
    ("interfaces", cap, [0, 1, 2].map(|i| spent[i].per_packet_ns(packets[i])))
}

//! The core's process table (`dnsleak_core::process`) on the path every outgoing query takes:
//! a burst of 2,000 queries from one socket attributed against a table holding 10,000 other
//! sockets, and the stub hop (a local ask, then the upstream query on its behalf).
//!
//! `cargo bench --bench process` (a few seconds).

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{Criterion, Throughput};
use dnsleak_core::process::{ProcessTable, QuerySeen, SockProto};
use dnsleak_core::{Process, SocketOwner, Ts};

fn owner(local: SocketAddr, remote: SocketAddr, pid: u32, name: &str) -> SocketOwner {
    SocketOwner {
        proto: SockProto::Udp,
        local,
        remote,
        process: Process { pid, name: name.into(), exe: Some("/usr/bin/x".into()), uid: Some(1000) },
        netns: 1,
        ts: Ts::ZERO,
    }
}

fn table() -> ProcessTable {
    let mut t = ProcessTable::default();
    let remote: SocketAddr = "192.0.2.1:53".parse().unwrap();
    for port in 10_000..20_000u16 {
        t.insert(owner(SocketAddr::from(([192, 0, 2, 2], port)), remote, port as u32, "other"));
    }
    t.insert(owner("192.0.2.2:40000".parse().unwrap(), remote, 42, "dig"));
    t.insert(owner("127.0.0.1:40001".parse().unwrap(), "127.0.0.53:53".parse().unwrap(), 42, "dig"));
    t.insert(owner("192.0.2.2:40002".parse().unwrap(), remote, 77, "dnsmasq"));
    t
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("process");
    let src: SocketAddr = "192.0.2.2:40000".parse().unwrap();
    let dst: SocketAddr = "192.0.2.1:53".parse().unwrap();
    g.throughput(Throughput::Elements(2000));
    g.bench_function("burst_2000_attributed", |b| {
        let mut t = table();
        b.iter(|| {
            let mut hits = 0;
            for i in 0..2000 {
                hits += t.attribute(SockProto::Udp, src, dst, true, Ts::from_millis(i)).process().is_some()
                    as u32;
            }
            black_box(hits)
        })
    });
    g.throughput(Throughput::Elements(2));
    g.bench_function("stub_hop", |b| {
        let mut t = table();
        let mut n = 0i64;
        b.iter(|| {
            n += 1;
            let now = Ts::from_millis(n);
            let ask = QuerySeen {
                proto: SockProto::Udp,
                src: "127.0.0.1:40001".parse().unwrap(),
                dst: "127.0.0.53:53".parse().unwrap(),
                src_is_local: true,
                dst_is_local: true,
                name: "www.example.com",
                qtype: 1,
            };
            black_box(t.attribute_query(&ask, now));
            let up = QuerySeen { src: "192.0.2.2:40002".parse().unwrap(), dst, dst_is_local: false, ..ask };
            black_box(t.attribute_query(&up, now))
        })
    });
    g.finish();
    c.final_summary();
}

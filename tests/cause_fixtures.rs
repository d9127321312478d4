//! The causes on the real captures of fixtures/ (made in the namespace network of
//! tests/netns/world.sh): the file is read, put in time order and judged by the pipeline,
//! which gives every leak and bypass its cause. None of these dumpcap files records interface addresses, so the LAN's network is
//! the assumed /24 and says so.

use std::path::Path;

mod support;

use dnsleak::capture::reader::{for_each_frame, topology_of, Input};
use dnsleak_core::{Config, Frame, Judged, Overrides, Pipeline};

/// What the file holds, in trace-time order: dumpcap writes each interface's packets in
/// batches (fixtures/README.md, "Frame order"), so a stub's question on lo can come after the
/// upstream query it caused. The causes that look back at other messages need time order;
/// replay will get it from a bounded reordering stage before the pipeline. Frames between two
/// interface changes are sorted by time (stable); interface changes stay where they are.
enum Item {
    Ifaces(dnsleak_core::Topology, dnsleak_core::Ts),
    Frame(Frame),
}

fn in_time_order(path: &Path) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    let mut segment: Vec<Frame> = Vec::new();
    for_each_frame(path, |input| {
        match input {
            Input::Interfaces { ifaces, ts } => {
                segment.sort_by_key(|f| f.ts);
                items.extend(segment.drain(..).map(Item::Frame));
                items.push(Item::Ifaces(topology_of(ifaces, &Overrides::default()), ts));
            }
            Input::Frame(f) => segment.push(Frame {
                iface: f.iface,
                ts: f.ts,
                link: f.link,
                number: f.number,
                orig_len: f.orig_len,
                data: f.data.to_vec(),
            }),
        }
        Ok(())
    })
    .unwrap();
    segment.sort_by_key(|f| f.ts);
    items.extend(segment.into_iter().map(Item::Frame));
    items
}

/// (iface, verdict, name, cause, detail) of one leak or bypass.
type Row = (String, String, String, String, String);

/// The rows of every leak and bypass in fixtures/`file`.
fn causes(file: &str) -> Vec<Row> {
    causes_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(file)).0
}

/// The causes of every leak and bypass in the file at `path`, and how many leaks and bypasses
/// the pipeline judged; whether the file had a tunnel interface.
fn causes_of(path: &Path) -> (Vec<Row>, usize, bool) {
    let mut exposures = 0;
    let mut tunnel = false;
    let mut pipeline: Option<Pipeline> = None;
    let mut out: Vec<Judged> = Vec::new();
    let mut got = Vec::new();
    let mut drain = |out: &mut Vec<Judged>| {
        for j in out.drain(..) {
            exposures += usize::from(j.is_exposure());
            if let Some(c) = &j.cause {
                let name = j.event.qname().map(str::to_string).or(j.event.sni().map(str::to_string));
                got.push((
                    j.event.iface_name.to_string(),
                    j.verdict.unwrap().as_str().to_string(),
                    name.unwrap_or_default(),
                    c.cause.as_str().to_string(),
                    c.detail(&j.event),
                ));
            }
        }
    };
    for item in in_time_order(path) {
        match item {
            Item::Ifaces(topology, ts) => {
                tunnel |= topology.iter().any(|i| i.kind == dnsleak_core::IfaceKind::Tunnel);
                match &mut pipeline {
                    Some(p) => p.apply(dnsleak_core::Fact::Interfaces(topology), ts, &mut out),
                    None => pipeline = Some(Pipeline::new(Config::new(), topology)),
                }
            }
            Item::Frame(f) => pipeline.as_mut().expect("interfaces come first").process(f.as_ref(), &mut out),
        }
        drain(&mut out);
    }
    let mut p = pipeline.unwrap();
    p.finish(&mut out);
    drain(&mut out);
    (got, exposures, tunnel)
}

fn row(
    iface: &str,
    verdict: &str,
    name: &str,
    cause: &str,
    detail: &str,
) -> (String, String, String, String, String) {
    (iface.into(), verdict.into(), name.into(), cause.into(), detail.into())
}

const LAN: &str = "192.0.2.1 is on eth0's network 192.0.2.0/24 (/24 assumed: the capture records no prefix)";

#[test]
fn lan_leak_is_lan_resolver() {
    let want = row("eth0", "leak", "leaked.example.com", "lan_resolver", LAN);
    assert_eq!(causes("lan-leak.pcapng"), [want.clone(), want]);
}

#[test]
fn split_route_leak_is_split_route() {
    let d = "it left by eth0 although wg0 carries IPv4 and 203.0.113.53 is not on eth0's network (no route recorded)";
    let want = row("eth0", "leak", "corp.example.net", "split_route", d);
    assert_eq!(causes("split-route-leak.pcapng"), [want.clone(), want]);
}

#[test]
fn ipv6_leak_is_ipv6_outside_tunnel() {
    let d = "wg0 carries no IPv6 (no IPv6 address or route but link-local), so it left by eth0";
    let want = row("eth0", "leak", "v6-leak.example.com", "ipv6_outside_tunnel", d);
    assert_eq!(causes("ipv6-leak.pcapng"), [want.clone(), want]);
}

#[test]
fn stub_leak_is_stub_upstream() {
    let got = causes("stub-leak.pcapng");
    assert_eq!(got.len(), 2, "{got:#?}");
    for g in &got {
        assert_eq!(
            (g.0.as_str(), g.2.as_str(), g.3.as_str()),
            ("eth0", "stub.example.com", "stub_upstream"),
            "{g:?}"
        );
        assert!(g.4.starts_with("stub.example.com A went to the local resolver 127.0.0.53 "), "{}", g.4);
        assert!(g.4.ends_with("before: a stub forwarded it to 192.0.2.1 by eth0"), "{}", g.4);
    }
}

#[test]
fn tunnel_dies_is_tunnel_down() {
    let got = causes("tunnel-dies.pcapng");
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(got.iter().all(|g| g.2 == "while-down.example.com" && g.3 == "tunnel_down"), "{got:#?}");
    assert!(got[0].4.starts_with("tunnel wg0 went down "), "{}", got[0].4);
    assert!(got[1].4.ends_with(" before; leaks and bypasses since, this one included: 2"), "{}", got[1].4);
}

#[test]
fn encrypted_bypasses_are_app_encrypted_dns_with_their_path() {
    let dot = causes("dot-bypass.pcapng");
    assert_eq!(dot.len(), 1, "{dot:#?}");
    assert_eq!(dot[0].3, "app_encrypted_dns");
    assert_eq!(dot[0].4, format!("an application's own dot to 192.0.2.1 by eth0 around wg0; {LAN}"));
    let doh = causes("doh-bypass.pcapng");
    assert_eq!(doh.len(), 1, "{doh:#?}");
    assert_eq!(
        doh[0].4,
        format!("an application's own doh to 192.0.2.1 (cloudflare-dns.com) by eth0 around wg0; {LAN}")
    );
}

/// tcp-leak holds no message on the tunnel and no interface address: nothing shows which
/// families wg0 carries, so the LAN (assumed /24) is the cause, not a family.
#[test]
fn tcp_leak_without_tunnel_evidence_is_lan_resolver() {
    let want = row("eth0", "leak", "tcp-leak.example.com", "lan_resolver", LAN);
    assert_eq!(causes("tcp-leak.pcapng"), [want.clone(), want]);
}

#[test]
fn the_clean_tunnel_has_no_causes() {
    assert_eq!(causes("clean-tunnel.pcapng"), []);
}

/// The README's quick-start capture: every kind of leak the network makes gets its cause. The
/// IPv6 leak of www.example.com AAAA comes 114 ms after the same question went through wg0, so
/// parallel resolution (the earlier row) is its cause.
#[test]
fn the_demo_mix_gets_a_cause_per_kind_of_leak() {
    let got = causes("demo.pcapng");
    let mut by_name: Vec<(&str, &str)> = got.iter().map(|g| (g.2.as_str(), g.3.as_str())).collect();
    by_name.dedup();
    assert_eq!(
        by_name,
        [
            ("printer-setup.example.net", "lan_resolver"),
            ("update.example.org", "lan_resolver"),
            ("www.example.com", "parallel_resolution"),
            ("git.corp.example", "split_route"),
            ("cloudflare-dns.com", "app_encrypted_dns"),
            ("", "app_encrypted_dns"),
            ("stub.example.com", "stub_upstream"),
        ]
    );
}

/// Every leak and bypass of the shared corpus (real third-party captures) gets exactly one
/// cause, and a capture without any tunnel interface gets no_tunnel for all of them.
#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn every_exposure_in_the_corpus_gets_one_cause() {
    let dir = support::corpus().join("captures");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 10, "{}", dir.display());
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for f in &files {
        let (got, exposures, tunnel) = causes_of(f);
        assert_eq!(got.len(), exposures, "{}", f.display());
        if !tunnel {
            assert!(got.iter().all(|g| g.3 == "no_tunnel"), "{}: {got:#?}", f.display());
        }
        for g in got {
            *counts.entry(g.3).or_default() += 1;
        }
    }
    eprintln!("causes over {} corpus captures: {counts:?}", files.len());
}

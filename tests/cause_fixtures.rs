//! The causes on the real captures of fixtures/ (made in the namespace network of
//! tests/netns/world.sh), read the way users read them: `dnsleak replay --json`, whose
//! time-order stage puts the interfaces' batches (dumpcap writes each interface's packets in
//! batches, fixtures/README.md "Frame order") back in time order before the pipeline gives
//! every leak and bypass its cause. None of these dumpcap files records interface addresses,
//! so the LAN's network is the assumed /24 and says so.

use std::path::Path;
use std::process::Command;

mod support;

use dnsleak::capture::reader::{for_each_frame, topology_of, Input};
use dnsleak_core::{IfaceKind, Overrides};
use serde_json::Value;

/// (iface, verdict, name, cause, detail) of one leak or bypass.
type Row = (String, String, String, String, String);

/// The rows of every leak and bypass in fixtures/`file`.
fn causes(file: &str) -> Vec<Row> {
    causes_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(file)).0
}

/// The causes of every leak and bypass `dnsleak replay --json` gives for the file at `path`,
/// how many leaks and bypasses it gave, and whether the file had a tunnel interface.
fn causes_of(path: &Path) -> (Vec<Row>, usize, bool) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_dnsleak")).args(["replay", "--json"]).arg(path).output().unwrap();
    assert_ne!(out.status.code(), Some(2), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut exposures = 0;
    let mut got = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        // Exposures (`Judged::is_exposure`): a leak or bypass of a message or flow; malformed
        // packets get a verdict but no cause.
        let exposure = ["query", "response", "encrypted"].contains(&v["kind"].as_str().unwrap_or_default());
        if !exposure || (v["verdict"] != "leak" && v["verdict"] != "bypass") {
            continue;
        }
        exposures += 1;
        if !v["cause"].is_null() {
            let name = if v["qname"].is_string() { &v["qname"] } else { &v["sni"] };
            got.push((
                text(&v["iface"]),
                text(&v["verdict"]),
                text(name),
                text(&v["cause"]),
                text(&v["cause_detail"]),
            ));
        }
    }
    let mut tunnel = false;
    for_each_frame(path, |input| {
        if let Input::Interfaces { ifaces, .. } = input {
            tunnel |= topology_of(ifaces, &Overrides::default()).iter().any(|i| i.kind == IfaceKind::Tunnel);
        }
        Ok(())
    })
    .unwrap();
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

/// Regression: replay judged this dumpcap file in file order (eth0's batch before lo's), so the
/// stub's question on lo came after its upstream leak and the cause was lan_resolver.
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

//! Live capture of QUIC in a real namespace network (root only), with real aioquic clients and
//! servers (tests/netns/quic_peer.py, Python from `.ci/venv` or `$DNSLEAK_PYTHON`): DoQ and DoH
//! over HTTP/3 to a resolver at an address in no list are `bypass` with the server name read
//! from the decrypted Initial packets, on ports 8853 and 4433; DoQ through the tunnel is
//! `tunnel`; HTTP/3 to a web server is nothing.

mod netns;
mod support;

use std::time::Duration;

use netns::*;

const WAIT: Duration = Duration::from_secs(15);

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh) and aioquic (.ci/venv)"]
fn doq_and_doh_over_http3_on_any_port_are_judged_and_http3_is_not_dns() {
    require_world();
    let python = quic_python();
    let w = World::up();
    w.quic_servers(&python);
    let m = w.monitor(&[]);
    // The web exchange first: once a later flow on the same interface is reported, the web
    // exchange's packets were judged too.
    w.quic_client(
        &python,
        &["--mode", "web", "--host", LAN_RESOLVER, "--port", "4433", "--sni", "www.example.com"],
    );
    w.quic_client(
        &python,
        &["--mode", "doq", "--host", LAN_RESOLVER, "--port", "8853", "--sni", "resolver.example"],
    );
    w.quic_client(
        &python,
        &[
            "--mode",
            "doh3",
            "--host",
            LAN_RESOLVER,
            "--port",
            "4433",
            "--sni",
            "dns.google",
            "--version",
            "2",
        ],
    );
    w.quic_client(
        &python,
        &["--mode", "doq", "--host", TUNNEL_RESOLVER, "--port", "784", "--sni", "resolver.example"],
    );
    let encrypted = |l: &[serde_json::Value]| l.iter().filter(|v| v["kind"] == "encrypted").count();
    let ok = m.wait_for(WAIT, |l| encrypted(l) >= 3);
    let (status, lines, err) = m.stop();
    assert!(ok, "not all seen: {lines:#?}\n{err}");
    let flows: Vec<_> = lines
        .iter()
        .filter(|v| v["kind"] == "encrypted")
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
            format!(
                "{} {} {} {}:{} {} {}",
                s("iface"),
                s("transport"),
                s("verdict"),
                s("dst"),
                v["dport"],
                s("sni"),
                s("provider")
            )
        })
        .collect();
    let (lan, wg) = (w.lan.as_str(), w.wg.as_str());
    assert_eq!(
        flows,
        [
            format!("{lan} doq bypass 192.0.2.1:8853 resolver.example -"),
            format!("{lan} doh bypass 192.0.2.1:4433 dns.google Google"),
            format!("{wg} doq tunnel 198.51.100.1:784 resolver.example -"),
        ],
        "{err}"
    );
    assert!(!lines.iter().any(|v| v["kind"] == "malformed" || v["kind"] == "query"), "{lines:#?}");
    assert_eq!(status.code(), Some(1), "a bypass was seen: exit 1\n{err}");
}

/// The encrypted-dns version `.ci/run` builds (a real DNSCrypt server).
const ENCRYPTED_DNS_VERSION: &str = "0.9.22";

/// encrypted-dns: `$ENCRYPTED_DNS`, else on `PATH`, else where `.ci/run` builds it. Fails naming
/// the fix when missing.
fn encrypted_dns() -> String {
    let built = std::env::var_os("HOME").map(|home| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map_or_else(|| std::path::Path::new(&home).join(".cache"), std::path::PathBuf::from);
        cache.join(format!("dnsleak-ci/encrypted-dns-{ENCRYPTED_DNS_VERSION}/bin/encrypted-dns"))
    });
    let on_path = || {
        let paths = std::env::var_os("PATH")?;
        std::env::split_paths(&paths).map(|d| d.join("encrypted-dns")).find(|p| p.is_file())
    };
    let found = std::env::var_os("ENCRYPTED_DNS")
        .map(std::path::PathBuf::from)
        .or_else(on_path)
        .or(built)
        .filter(|p| p.is_file());
    match found {
        Some(p) => p.display().to_string(),
        None => panic!(
            "needs encrypted-dns (a DNSCrypt server): run .ci/run, or `cargo install --locked \
             encrypted-dns --version {ENCRYPTED_DNS_VERSION}` and set ENCRYPTED_DNS to the binary"
        ),
    }
}

#[test]
#[ignore = "root: namespace test network and encrypted-dns (a DNSCrypt server .ci/run builds)"]
fn dnscrypt_on_5353_is_bypass_with_the_provider_and_not_mdns() {
    require_world();
    let server = encrypted_dns();
    let w = World::up();
    w.dnscrypt_server(&server);
    let m = w.monitor(&[]);
    let client = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns/dnscrypt_client.py");
    let client = client.to_str().unwrap_or_default();
    let provider = "2.dnscrypt-cert.resolver.example";
    for (host, port) in [(LAN_RESOLVER, "5353"), (TUNNEL_RESOLVER, "8443")] {
        let out = w.run(
            "python3",
            &[client, "--host", host, "--port", port, "--provider", provider, "--queries", "2"],
        );
        assert!(out.status.success(), "dnscrypt_client.py: {}", String::from_utf8_lossy(&out.stderr));
    }
    let ok = m.wait_for(WAIT, |l| l.iter().filter(|v| v["kind"] == "encrypted").count() >= 2);
    let (status, lines, err) = m.stop();
    assert!(ok, "not all seen: {lines:#?}\n{err}");
    let flows: Vec<_> = lines
        .iter()
        .filter(|v| v["kind"] != "notice" && v["kind"] != "stats")
        .map(|v| format!("{} {} {} {} {}", v["kind"], v["iface"], v["transport"], v["verdict"], v["sni"]))
        .collect();
    let (lan, wg) = (w.lan.as_str(), w.wg.as_str());
    assert_eq!(
        flows,
        [
            format!("\"encrypted\" \"{lan}\" \"dnscrypt\" \"bypass\" \"resolver.example\""),
            format!("\"encrypted\" \"{wg}\" \"dnscrypt\" \"tunnel\" \"resolver.example\""),
        ],
        "{err}"
    );
    assert_eq!(status.code(), Some(1), "{err}");
}

//! `dnsleak replay --json` on the QUIC and DNSCrypt captures in fixtures/ (real aioquic clients
//! and servers, encrypted-dns; see fixtures/README.md): DoQ and DoH over HTTP/3 on any port,
//! told by the ClientHello read from the decrypted Initial packets; ordinary HTTP/3 is nothing;
//! DNSCrypt on 5353 is DNSCrypt, not malformed mDNS.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_dnsleak");

/// (frame, iface, transport, verdict, dport, sni, provider) of every encrypted event, and the
/// exit status.
fn flows(file: &str) -> (Vec<String>, Option<i32>) {
    let o = Command::new(BIN)
        .args(["replay", "--json", file])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"))
        .output()
        .expect("runs dnsleak");
    let text = String::from_utf8(o.stdout).expect("utf-8");
    let mut rows = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        assert_ne!(v["kind"], "malformed", "{line}");
        assert_ne!(v["kind"], "query", "never plaintext DNS: {line}");
        if v["kind"] == "encrypted" {
            let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
            rows.push(format!(
                "{} {} {} {} {} {} {}",
                v["frame"],
                s("iface"),
                s("transport"),
                s("verdict"),
                v["dport"],
                s("sni"),
                s("provider")
            ));
        }
    }
    (rows, o.status.code())
}

#[test]
fn doq_v1_and_v2_on_any_port_with_the_server_name() {
    let (rows, code) = flows("quic-doq.pcapng");
    assert_eq!(
        rows,
        ["14 eth0 doq bypass 8853 resolver.example -", "34 wg0 doq tunnel 784 resolver.example -",]
    );
    assert_eq!(code, Some(1), "a bypass was seen");
}

#[test]
fn doh_over_http3_by_name_with_a_split_hello() {
    let (rows, code) = flows("quic-doh3.pcapng");
    assert_eq!(
        rows,
        [
            // Decided on the second datagram, which completes the ClientHello.
            "4 eth0 doh bypass 4433 dns.google Google",
            "13 eth0 doh bypass 8853 dns.google Google",
        ]
    );
    assert_eq!(code, Some(1));
}

#[test]
fn ordinary_http3_is_nothing() {
    let (rows, code) = flows("quic-web.pcapng");
    assert!(rows.is_empty(), "{rows:?}");
    assert_eq!(code, Some(0));
}

#[test]
fn dnscrypt_on_5353_udp_and_tcp_and_through_the_tunnel() {
    let (rows, code) = flows("dnscrypt.pcapng");
    assert_eq!(
        rows,
        [
            // Each decided on its certificate query; the encrypted packets that follow (two
            // queries from new source ports) belong to the same flow.
            "5 eth0 dnscrypt bypass 5353 resolver.example -",
            "12 wg0 dnscrypt tunnel 8443 resolver.example -",
            "22 eth0 dnscrypt bypass 5353 resolver.example -",
        ]
    );
    assert_eq!(code, Some(1));
}

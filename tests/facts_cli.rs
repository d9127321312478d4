//! `dnsleak facts` (the hidden debugging command) on this machine without D-Bus: interfaces
//! with their prefixes, a route decision as `ip route` prints it, resolv.conf and its owner.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dnsleak");

#[test]
fn facts_json_without_dbus() {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/resolver/networkmanager-resolv.conf");
    let o = Command::new(BIN)
        .args(["facts", "--json", "--no-dbus", "--route", "127.0.0.2", "--resolv-conf", conf])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let lo = v["interfaces"].as_array().unwrap().iter().find(|i| i["kind"] == "loopback").expect("lo");
    assert!(lo["addrs"].as_array().unwrap().iter().all(|a| a.as_str().unwrap().contains('/')), "{lo}");
    assert_eq!(v["routes"][0]["route"], "local 127.0.0.0/8 dev lo");
    assert_eq!(v["resolver"]["manager"], "NetworkManager");
    assert_eq!(v["resolver"]["resolv_conf"]["nameservers"][0], "192.0.2.1");
    assert_eq!(v["resolver"]["unread"].as_array().unwrap().len(), 0, "D-Bus was not asked");
}

#[test]
fn facts_text_names_what_it_read() {
    let o = Command::new(BIN)
        .args(["facts", "--no-dbus", "--resolv-conf", "/nonexistent/resolv.conf"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = String::from_utf8(o.stdout).unwrap();
    assert!(t.contains("interfaces:") && t.contains("(loopback, up)"), "{t}");
    assert!(t.contains("/etc/resolv.conf: not read: there is no /nonexistent/resolv.conf"), "{t}");
}

//! `dnsleak monitor --write` records each interface's addresses with their prefixes (root
//! only, in the namespace network of tests/netns/world.sh), so that a replay of the file finds
//! the LAN's network as live capture did.

mod netns;
mod support;

use std::time::Duration;

use dnsleak::capture::reader::{for_each_frame, Input};
use netns::*;

#[test]
#[ignore = "root: network namespaces, wireguard-go, dnsmasq, unbound (tests/netns/world.sh)"]
fn the_written_file_records_addresses_with_prefixes() {
    require_world();
    let w = World::up();
    let file = w.dir.join("addrs.pcapng");
    let m = w.monitor(&["--write", file.to_str().unwrap()]);
    w.dig(&["@192.0.2.1", "addrs.write.example.com", "A"]);
    assert!(m.wait_for(Duration::from_secs(10), |l| has_exchange(l, "addrs.write.example.com")));
    let (_, _, err) = m.stop();
    let mut ifaces = Vec::new();
    for_each_frame(&file, |input| {
        if let Input::Interfaces { ifaces: now, .. } = input {
            ifaces = now.to_vec();
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{err}"));
    let addrs = |name: &str| -> Vec<String> {
        let i = ifaces.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("{name}: {ifaces:#?}"));
        i.addrs.iter().map(|a| a.to_string()).collect()
    };
    let lan = addrs(&w.lan);
    assert!(
        lan.contains(&"192.0.2.2/24".to_string()) && lan.contains(&"fd00:1::2/64".to_string()),
        "{lan:?}"
    );
    assert!(addrs(&w.wg).contains(&"198.51.100.2/24".to_string()), "{:?}", addrs(&w.wg));
}

/// The first leak or bypass query about `qname`: its cause and cause_detail.
fn cause(lines: &[serde_json::Value], qname: &str) -> (String, String) {
    let v = cause_of(lines, qname);
    (v["cause"].as_str().unwrap_or("null").into(), v["cause_detail"].as_str().unwrap_or("").into())
}

/// The LAN is renumbered during the capture (a DHCP renewal with another netmask: 192.0.2.2/24
/// becomes 192.0.2.2/25). The file gets a second block for the LAN with the new prefix, and
/// its replay judges the queries after the change with it: the same cause and evidence as
/// live, before ("network 192.0.2.0/24") and after ("192.0.2.0/25"); with the first block's
/// addresses the query after would replay with the /24.
#[test]
#[ignore = "root: network namespaces, wireguard-go, dnsmasq, unbound (tests/netns/world.sh)"]
fn an_address_change_mid_capture_replays_with_the_addresses_of_its_time() {
    require_world();
    let w = World::up();
    let lan = w.lan.clone();
    let file = w.dir.join("renumbered.pcapng");
    let m = w.monitor(&["--write", file.to_str().unwrap()]);
    w.dig(&["@192.0.2.1", "before.renumber.example", "A"]);
    assert!(m.wait_for(Duration::from_secs(10), |l| has_exchange(l, "before.renumber.example")));
    for args in
        [&["addr", "add", "192.0.2.2/25", "dev", &lan][..], &["addr", "del", "192.0.2.2/24", "dev", &lan]]
    {
        let out = w.run("ip", args);
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // The monitor reads the interfaces again within half a second: ask until a query is judged
    // with the new prefix.
    let mut n = 0;
    let after = support::poll(Duration::from_secs(10), || {
        n += 1;
        let name = format!("after{n}.renumber.example");
        w.dig(&["@192.0.2.1", &name, "A"]);
        m.wait_for(Duration::from_secs(5), |l| has_exchange(l, &name));
        cause(&m.lines(), &name).1.contains("192.0.2.0/25").then_some(name)
    })
    .unwrap_or_else(|| panic!("no query judged with the new prefix: {:#?}", m.lines()));
    let (_, lines, err) = m.stop();
    let before = cause(&lines, "before.renumber.example");
    assert_eq!(before.0, "lan_resolver", "{err}");
    assert!(before.1.contains("192.0.2.0/24"), "{before:?}");
    let mut blocks = Vec::new();
    for_each_frame(&file, |input| {
        if let Input::Interfaces { ifaces, .. } = input {
            blocks = ifaces
                .iter()
                .filter(|i| i.name == lan)
                .map(|i| i.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>())
                .collect();
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{err}"));
    assert_eq!(blocks.len(), 2, "a second block for the renumbered LAN: {blocks:?}");
    assert!(blocks[1].contains(&"192.0.2.2/25".to_string()), "{blocks:?}");
    let out = std::process::Command::new(DNSLEAK).args(["replay", "--json"]).arg(&file).output().unwrap();
    let replayed: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(cause(&replayed, "before.renumber.example"), before);
    assert_eq!(
        cause(&replayed, &after),
        cause(&lines, &after),
        "the replay judges the query after the change with the new prefix"
    );
}

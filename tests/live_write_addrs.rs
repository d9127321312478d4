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

use super::*;
use crate::capture::reader::{for_each_frame, Input};
use dnsleak_core::{IfaceFacts, Overrides};

fn topology(eth0: &str) -> Topology {
    let facts = |name: &str, addr: &str, link| IfaceFacts {
        name: name.into(),
        up: true,
        link: Some(link),
        addrs: vec![IfaceAddr::new(addr.parse().unwrap(), Some(24))],
        ..IfaceFacts::default()
    };
    Topology::from_facts(
        [(0, facts("eth0", eth0, LinkType::ETHERNET)), (1, facts("wg0", "198.51.100.2", LinkType::RAW))],
        &Overrides::default(),
    )
}

/// Reads `bytes` back: every interface block (name and addresses) and the block each packet
/// names.
fn read(bytes: Vec<u8>) -> (Vec<(String, Vec<String>)>, Vec<u32>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("record.pcapng");
    std::fs::write(&path, bytes).unwrap();
    let (mut blocks, mut packets) = (Vec::new(), Vec::new());
    for_each_frame(&path, |input| {
        match input {
            Input::Interfaces { ifaces, .. } => {
                blocks = ifaces
                    .iter()
                    .map(|i| (i.name.clone(), i.addrs.iter().map(|a| a.to_string()).collect()))
                    .collect()
            }
            Input::Frame(f) => packets.push(f.iface),
            Input::Note { .. } => {}
        }
        Ok(())
    })
    .unwrap();
    (blocks, packets)
}

/// eth0's address changes during the capture: it gets a second block with the new address, and
/// its packets from then on name that block; a topology that changed nothing writes nothing.
#[test]
fn an_address_change_gets_a_new_block_for_the_packets_after_it() {
    let mut r = Recording::new(Vec::new(), "test".into()).unwrap();
    let packet = [0u8; 60];
    r.interfaces(&topology("192.0.2.2")).unwrap();
    r.packet(0, Ts(1), 60, &packet, &[]).unwrap();
    r.interfaces(&topology("192.0.2.2")).unwrap();
    r.packet(1, Ts(2), 20, &packet[..20], &[]).unwrap();
    r.interfaces(&topology("203.0.113.9")).unwrap();
    r.packet(0, Ts(3), 60, &packet, &[]).unwrap();
    r.packet(1, Ts(4), 20, &packet[..20], &[]).unwrap();
    // An interface never described gets a block of its own.
    r.packet(7, Ts(5), 60, &packet, &[]).unwrap();
    let (blocks, packets) = read(r.into_inner());
    let names: Vec<&str> = blocks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["eth0", "wg0", "eth0", "if7"]);
    assert_eq!(blocks[0].1, ["192.0.2.2/24"]);
    assert_eq!(blocks[2].1, ["203.0.113.9/24"]);
    assert_eq!(packets, [0, 1, 2, 1, 3]);
}

//! The machine's interfaces as the core's `IfaceFacts`, read with netdev (no root needed).

use netdev::interface::types::InterfaceType;
use netdev::MacAddr;

use std::net::IpAddr;

use dnsleak_core::{IfaceAddr, IfaceFacts};

/// Every interface the OS lists now, in its order.
pub fn list() -> Vec<IfaceFacts> {
    netdev::get_interfaces().into_iter().map(|i| facts_of(&i)).collect()
}

/// What netdev says about one interface, as facts. The link type is left unknown: the capture
/// that opens the interface fills it in.
pub fn facts_of(i: &netdev::Interface) -> IfaceFacts {
    let has_mac = i.mac_addr.is_some_and(|m| m != MacAddr::zero());
    // TUN devices (WireGuard, OpenVPN, wireguard-go) are point-to-point without broadcast;
    // PPP and kernel tunnels (ipip, gre, sit) say so in their type.
    let tun_like = i.is_point_to_point() && !i.is_broadcast() && !i.is_loopback();
    let os_tunnel = matches!(i.if_type, InterfaceType::Tunnel | InterfaceType::Ppp) || tun_like;
    IfaceFacts {
        name: i.name.clone(),
        index: i.index,
        up: i.is_up(),
        loopback: i.is_loopback(),
        point_to_point: i.is_point_to_point(),
        has_mac,
        os_tunnel,
        link: None,
        addrs: addrs_of(i),
    }
}

/// The interface's addresses with their prefix lengths, IPv4 first.
fn addrs_of(i: &netdev::Interface) -> Vec<IfaceAddr> {
    let v4 = i.ipv4.iter().map(|n| IfaceAddr::new(IpAddr::V4(n.addr()), Some(n.prefix_len())));
    let v6 = i.ipv6.iter().map(|n| IfaceAddr::new(IpAddr::V6(n.addr()), Some(n.prefix_len())));
    v4.chain(v6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_loopback_as_loopback() {
        let all = list();
        let lo = all.iter().find(|f| f.loopback).expect("every Linux network namespace has lo");
        assert!(!lo.has_mac);
        assert!(!lo.os_tunnel);
        assert!(lo.index > 0);
    }

    #[test]
    fn loopback_addresses_carry_their_prefixes() {
        let all = list();
        let lo = all.iter().find(|f| f.loopback).expect("every Linux network namespace has lo");
        let v4 = lo.addrs.iter().find(|a| a.addr == IpAddr::from([127, 0, 0, 1]));
        // An lo that is down or stripped of its address is possible; when 127.0.0.1 is there,
        // the kernel gives it /8.
        if let Some(a) = v4 {
            assert_eq!(a.prefix, Some(8), "{a}");
        }
        assert!(lo.addrs.iter().all(|a| a.prefix.is_some()), "{:?}", lo.addrs);
    }
}

//! The machine's interfaces as the core's `IfaceFacts`, read with netdev (no root needed).

use netdev::interface::types::InterfaceType;
use netdev::MacAddr;

use dnsleak_core::IfaceFacts;

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
        addrs: i.ip_addrs(),
    }
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
}

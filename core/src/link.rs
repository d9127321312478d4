//! Link layer: from a frame's bytes to the network-layer packet it carries.
//! Ethernet II (802.1Q / QinQ), Linux SLL and SLL2, raw IP, BSD NULL/LOOP.

use super::frame::LinkType;

/// The network-layer packet inside a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network<'a> {
    Ipv4(&'a [u8]),
    Ipv6(&'a [u8]),
    /// A frame that carries something other than IP (ARP, LLDP, ...).
    NotIp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("frame shorter than its {0} header")]
    Truncated(&'static str),
    #[error("link type {0} is not supported")]
    Unsupported(u32),
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.1Q, 802.1ad (QinQ outer tag) and the older pre-standard QinQ value.
const ETHERTYPE_VLAN: [u16; 3] = [0x8100, 0x88a8, 0x9100];
/// Tags followed at most (QinQ has two; more is garbage, and this bounds the work).
const MAX_VLAN_TAGS: usize = 8;

/// BSD address families of IPv4 and IPv6 (IPv6 differs between BSDs: NetBSD/OpenBSD 24,
/// FreeBSD 28, macOS 30, Linux 10).
const AF_INET: u32 = 2;
const AF_INET6: [u32; 4] = [10, 24, 28, 30];

/// Decodes the link header and returns the network-layer packet.
pub fn decode(link: LinkType, data: &[u8]) -> Result<Network<'_>, LinkError> {
    match link {
        LinkType::ETHERNET => ethernet(data),
        LinkType::LINUX_SLL => linux_sll(data),
        LinkType::LINUX_SLL2 => linux_sll2(data),
        LinkType::RAW | LinkType::RAW_ALT12 | LinkType::RAW_ALT14 => raw_ip(data),
        LinkType::IPV4 => Ok(Network::Ipv4(data)),
        LinkType::IPV6 => Ok(Network::Ipv6(data)),
        LinkType::NULL => bsd_loopback(data, true),
        LinkType::LOOP => bsd_loopback(data, false),
        other => Err(LinkError::Unsupported(other.0)),
    }
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Ethernet II: destination, source, EtherType (then VLAN tags).
fn ethernet(data: &[u8]) -> Result<Network<'_>, LinkError> {
    let hdr =
        etherparse::Ethernet2HeaderSlice::from_slice(data).map_err(|_| LinkError::Truncated("ethernet"))?;
    let rest = &data[hdr.slice().len()..];
    by_ethertype(hdr.ether_type().0, rest, "802.1Q")
}

/// Follows VLAN tags (4 bytes each: TCI, inner EtherType) to the IP packet.
fn by_ethertype<'a>(
    mut ethertype: u16,
    mut rest: &'a [u8],
    what: &'static str,
) -> Result<Network<'a>, LinkError> {
    for _ in 0..MAX_VLAN_TAGS {
        if !ETHERTYPE_VLAN.contains(&ethertype) {
            break;
        }
        ethertype = be16(rest, 2).ok_or(LinkError::Truncated(what))?;
        rest = &rest[4..];
    }
    Ok(match ethertype {
        ETHERTYPE_IPV4 => Network::Ipv4(rest),
        ETHERTYPE_IPV6 => Network::Ipv6(rest),
        _ => Network::NotIp,
    })
}

/// Linux cooked capture v1: packet type (2), ARPHRD type (2), address length (2), address (8),
/// protocol (2).
fn linux_sll(data: &[u8]) -> Result<Network<'_>, LinkError> {
    let proto = be16(data, 14).ok_or(LinkError::Truncated("linux-sll"))?;
    by_ethertype(proto, &data[16..], "linux-sll 802.1Q")
}

/// Linux cooked capture v2: protocol (2), reserved (2), interface index (4), ARPHRD type (2),
/// packet type (1), address length (1), address (8).
fn linux_sll2(data: &[u8]) -> Result<Network<'_>, LinkError> {
    if data.len() < 20 {
        return Err(LinkError::Truncated("linux-sll2"));
    }
    let proto = be16(data, 0).ok_or(LinkError::Truncated("linux-sll2"))?;
    by_ethertype(proto, &data[20..], "linux-sll2 802.1Q")
}

/// Raw IP: the version nibble decides.
fn raw_ip(data: &[u8]) -> Result<Network<'_>, LinkError> {
    match data.first().map(|b| b >> 4) {
        None => Err(LinkError::Truncated("raw-ip")),
        Some(4) => Ok(Network::Ipv4(data)),
        Some(6) => Ok(Network::Ipv6(data)),
        Some(_) => Ok(Network::NotIp),
    }
}

/// BSD NULL (address family in the capturing host's byte order: both orders are accepted,
/// as no valid family looks like another one byte-swapped) and OpenBSD LOOP (network order).
fn bsd_loopback(data: &[u8], any_order: bool) -> Result<Network<'_>, LinkError> {
    let Some(af) = data.get(..4) else {
        return Err(LinkError::Truncated(if any_order { "null" } else { "loop" }));
    };
    let af = [af[0], af[1], af[2], af[3]];
    let mut families = [u32::from_be_bytes(af), u32::from_be_bytes(af)];
    if any_order {
        families[1] = u32::from_le_bytes(af);
    }
    let rest = &data[4..];
    if families.contains(&AF_INET) {
        Ok(Network::Ipv4(rest))
    } else if families.iter().any(|f| AF_INET6.contains(f)) {
        Ok(Network::Ipv6(rest))
    } else {
        Ok(Network::NotIp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: [u8; 2] = [0x45, 0x00];
    const V6: [u8; 2] = [0x60, 0x00];

    fn eth(ethertype: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(ethertype);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn ethernet_ipv4_ipv6_and_other() {
        assert_eq!(decode(LinkType::ETHERNET, &eth(&[8, 0], &V4)), Ok(Network::Ipv4(&V4)));
        assert_eq!(decode(LinkType::ETHERNET, &eth(&[0x86, 0xdd], &V6)), Ok(Network::Ipv6(&V6)));
        assert_eq!(decode(LinkType::ETHERNET, &eth(&[8, 6], &[0; 28])), Ok(Network::NotIp));
        assert_eq!(decode(LinkType::ETHERNET, &[0; 13]), Err(LinkError::Truncated("ethernet")));
    }

    #[test]
    fn vlan_and_qinq_tags_are_followed() {
        let single = eth(&[0x81, 0x00], &[0, 11, 8, 0, 0x45, 0]);
        assert_eq!(decode(LinkType::ETHERNET, &single), Ok(Network::Ipv4(&V4)));
        let qinq = eth(&[0x88, 0xa8], &[0, 1, 0x81, 0, 0, 2, 0x86, 0xdd, 0x60, 0]);
        assert_eq!(decode(LinkType::ETHERNET, &qinq), Ok(Network::Ipv6(&V6)));
        let old = eth(&[0x91, 0x00], &[0, 1, 8, 0, 0x45, 0]);
        assert_eq!(decode(LinkType::ETHERNET, &old), Ok(Network::Ipv4(&V4)));
        let cut = eth(&[0x81, 0x00], &[0, 11]);
        assert!(matches!(decode(LinkType::ETHERNET, &cut), Err(LinkError::Truncated(_))));
    }

    #[test]
    fn endless_vlan_tags_stop() {
        let mut tags = Vec::new();
        for _ in 0..100 {
            tags.extend_from_slice(&[0, 1, 0x81, 0]);
        }
        assert_eq!(decode(LinkType::ETHERNET, &eth(&[0x81, 0], &tags)), Ok(Network::NotIp));
    }

    #[test]
    fn linux_sll_v1_and_v2() {
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[8, 0, 0x45, 0]);
        assert_eq!(decode(LinkType::LINUX_SLL, &sll), Ok(Network::Ipv4(&V4)));
        assert!(decode(LinkType::LINUX_SLL, &sll[..15]).is_err());
        let mut sll2 = vec![0x86, 0xdd];
        sll2.extend_from_slice(&[0; 18]);
        sll2.extend_from_slice(&V6);
        assert_eq!(decode(LinkType::LINUX_SLL2, &sll2), Ok(Network::Ipv6(&V6)));
        assert!(decode(LinkType::LINUX_SLL2, &sll2[..19]).is_err());
    }

    #[test]
    fn raw_ip_by_version_nibble() {
        for lt in [LinkType::RAW, LinkType::RAW_ALT12, LinkType::RAW_ALT14] {
            assert_eq!(decode(lt, &V4), Ok(Network::Ipv4(&V4)));
            assert_eq!(decode(lt, &V6), Ok(Network::Ipv6(&V6)));
            assert_eq!(decode(lt, &[0x10]), Ok(Network::NotIp));
            assert!(decode(lt, &[]).is_err());
        }
        assert_eq!(decode(LinkType::IPV4, &V4), Ok(Network::Ipv4(&V4)));
        assert_eq!(decode(LinkType::IPV6, &V6), Ok(Network::Ipv6(&V6)));
    }

    #[test]
    fn null_accepts_both_byte_orders_and_every_inet6_value() {
        assert_eq!(decode(LinkType::NULL, &[2, 0, 0, 0, 0x45, 0]), Ok(Network::Ipv4(&V4)));
        assert_eq!(decode(LinkType::NULL, &[0, 0, 0, 2, 0x45, 0]), Ok(Network::Ipv4(&V4)));
        for af in [10u8, 24, 28, 30] {
            assert_eq!(decode(LinkType::NULL, &[af, 0, 0, 0, 0x60, 0]), Ok(Network::Ipv6(&V6)));
            assert_eq!(decode(LinkType::NULL, &[0, 0, 0, af, 0x60, 0]), Ok(Network::Ipv6(&V6)));
        }
        assert_eq!(decode(LinkType::NULL, &[7, 0, 0, 0, 0]), Ok(Network::NotIp));
        assert!(decode(LinkType::NULL, &[2, 0, 0]).is_err());
    }

    #[test]
    fn loop_is_network_order_only() {
        assert_eq!(decode(LinkType::LOOP, &[0, 0, 0, 2, 0x45, 0]), Ok(Network::Ipv4(&V4)));
        assert_eq!(decode(LinkType::LOOP, &[0, 0, 0, 24, 0x60, 0]), Ok(Network::Ipv6(&V6)));
        assert_eq!(decode(LinkType::LOOP, &[2, 0, 0, 0, 0x45, 0]), Ok(Network::NotIp));
    }

    #[test]
    fn unknown_link_type_is_unsupported() {
        assert_eq!(decode(LinkType(147), &[0; 40]), Err(LinkError::Unsupported(147)));
    }
}

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

/// Decodes the link header. TODO(core-decode helper): implement.
pub fn decode(link: LinkType, data: &[u8]) -> Result<Network<'_>, LinkError> {
    let _ = data;
    Err(LinkError::Unsupported(link.0))
}

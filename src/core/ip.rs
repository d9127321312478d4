//! IPv4 and IPv6 (with extension headers), decoded with etherparse.

use std::net::IpAddr;

use super::link::Network;

/// Where a fragment sits in its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragInfo {
    /// IPv4 identification, or IPv6 fragment header identification.
    pub id: u32,
    /// Offset of this fragment's payload in the datagram, in bytes.
    pub offset: u32,
    pub more: bool,
}

/// One IP packet: addresses, the upper-layer protocol, and its payload (cut to the length the
/// IP header states). For a fragment, `payload` is this fragment's part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPacket<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Upper-layer protocol number (17 UDP, 6 TCP, 41 IPv6-in-IPv4, ...), after IPv6 extension
    /// headers.
    pub proto: u8,
    pub payload: &'a [u8],
    pub frag: Option<FragInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IpError {
    #[error("packet shorter than its IP header")]
    Truncated,
    #[error("invalid IP header")]
    Invalid,
}

/// Decodes an IP header. TODO(core-decode helper): implement.
pub fn decode(net: Network<'_>) -> Result<IpPacket<'_>, IpError> {
    let _ = net;
    Err(IpError::Invalid)
}

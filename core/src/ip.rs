//! IPv4 and IPv6 (with extension headers), decoded with etherparse; and what the pipeline
//! reads right above them: the UDP header, and Teredo's optional headers before IPv6.
//!
//! Lax where a capture's snap length cut the packet: the payload is what is present, cut to
//! the length the IP header states. IPv6 extension headers are walked here (with etherparse's
//! header slices) so that the walk stops at a fragment header: what follows it is the
//! fragmentable part, which only reassembly can read.

use std::net::IpAddr;

use etherparse::{IpNumber, Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6HeaderSlice};

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
    /// headers. For an IPv6 fragment, the fragment header's next header.
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

/// Decodes an IP header.
pub fn decode(net: Network<'_>) -> Result<IpPacket<'_>, IpError> {
    match net {
        Network::Ipv4(data) => ipv4(data),
        Network::Ipv6(data) => ipv6(data),
        Network::NotIp => Err(IpError::Invalid),
    }
}

fn ipv4(data: &[u8]) -> Result<IpPacket<'_>, IpError> {
    use etherparse::err::ipv4::HeaderSliceError;
    let hdr = Ipv4HeaderSlice::from_slice(data).map_err(|e| match e {
        HeaderSliceError::Len(_) => IpError::Truncated,
        HeaderSliceError::Content(_) => IpError::Invalid,
    })?;
    let hlen = hdr.slice().len();
    let total = usize::from(hdr.total_len());
    // A total length below the header is a bad header; above what is present, the snap
    // length cut the packet: use what is there.
    if total < hlen && total != 0 {
        return Err(IpError::Invalid);
    }
    let end = if total == 0 { data.len() } else { total.min(data.len()) };
    let payload = &data[hlen..end];
    let offset = u32::from(hdr.fragments_offset().value()) * 8;
    let more = hdr.more_fragments();
    let frag = (more || offset != 0).then(|| FragInfo { id: u32::from(hdr.identification()), offset, more });
    Ok(IpPacket {
        src: IpAddr::from(hdr.source()),
        dst: IpAddr::from(hdr.destination()),
        proto: hdr.protocol().0,
        payload,
        frag,
    })
}

fn ipv6(data: &[u8]) -> Result<IpPacket<'_>, IpError> {
    let hdr = Ipv6HeaderSlice::from_slice(data).map_err(|e| match e {
        etherparse::err::ipv6::HeaderSliceError::Len(_) => IpError::Truncated,
        etherparse::err::ipv6::HeaderSliceError::Content(_) => IpError::Invalid,
    })?;
    let rest = &data[hdr.slice().len()..];
    let plen = usize::from(hdr.payload_length());
    // Payload length 0 is a jumbogram (or an unset field): take what is present.
    let body = if plen == 0 { rest } else { &rest[..plen.min(rest.len())] };
    let (proto, payload, frag) = ipv6_extensions(hdr.next_header(), body)?;
    Ok(IpPacket {
        src: IpAddr::from(hdr.source()),
        dst: IpAddr::from(hdr.destination()),
        proto,
        payload,
        frag,
    })
}

/// Extension headers walked at most (each one is at least 8 bytes, so this also bounds work).
const MAX_EXTENSIONS: usize = 16;

/// Walks IPv6 extension headers up to the upper-layer protocol, or up to a fragment header
/// that fragments the payload (then the rest is the fragment's data).
fn ipv6_extensions(mut next: IpNumber, mut rest: &[u8]) -> Result<(u8, &[u8], Option<FragInfo>), IpError> {
    for _ in 0..MAX_EXTENSIONS {
        if next == IpNumber::IPV6_FRAGMENTATION_HEADER {
            let f = Ipv6FragmentHeaderSlice::from_slice(rest).map_err(|_| IpError::Truncated)?;
            rest = &rest[f.slice().len()..];
            next = f.next_header();
            if f.is_fragmenting_payload() {
                let info = FragInfo {
                    id: f.identification(),
                    offset: u32::from(f.fragment_offset().value()) * 8,
                    more: f.more_fragments(),
                };
                return Ok((next.0, rest, Some(info)));
            }
            continue;
        }
        if !is_extension(next) {
            return Ok((next.0, rest, None));
        }
        // Hop-by-hop, routing, destination options and AH all start with next header and a
        // length byte; only the length unit differs.
        let len = ext_len(next, rest)?;
        next = IpNumber(rest[0]);
        rest = &rest[len..];
    }
    Err(IpError::Invalid)
}

/// Skips the IPv6 extension headers at the start of a reassembled fragmentable part (they may
/// follow the fragment header) and returns the upper-layer protocol and its payload.
pub fn skip_ipv6_extensions(proto: u8, data: &[u8]) -> Option<(u8, &[u8])> {
    match ipv6_extensions(IpNumber(proto), data) {
        Ok((p, payload, None)) => Some((p, payload)),
        _ => None,
    }
}

fn is_extension(n: IpNumber) -> bool {
    matches!(
        n,
        IpNumber::IPV6_HEADER_HOP_BY_HOP
            | IpNumber::IPV6_ROUTE_HEADER
            | IpNumber::IPV6_DESTINATION_OPTIONS
            | IpNumber::AUTHENTICATION_HEADER
    )
}

/// Length of the one extension header at the start of `rest`.
fn ext_len(next: IpNumber, rest: &[u8]) -> Result<usize, IpError> {
    let b = rest.get(1).ok_or(IpError::Truncated)?;
    let len = if next == IpNumber::AUTHENTICATION_HEADER {
        (usize::from(*b) + 2) * 4
    } else {
        (usize::from(*b) + 1) * 8
    };
    if len > rest.len() {
        return Err(IpError::Truncated);
    }
    Ok(len)
}

/// Ports and payload of a UDP datagram. The payload is cut to the UDP length when the header
/// claims less than is present; when it claims more (a cut or forged length), what is present
/// is used, as tshark does.
pub fn udp_header(data: &[u8]) -> Option<(u16, u16, &[u8])> {
    let hdr = etherparse::UdpHeaderSlice::from_slice(data).ok()?;
    let len = hdr.length() as usize;
    if len < 8 && len != 0 {
        return None;
    }
    let end = if len == 0 { data.len() } else { len.min(data.len()) };
    Some((hdr.source_port(), hdr.destination_port(), &data[8..end]))
}

/// Teredo may put an authentication or origin-indication header before the IPv6 packet
/// (RFC 4380 5.1.1): skip them.
pub fn teredo_payload(mut p: &[u8]) -> &[u8] {
    // Authentication: 0x0001, id-len, auth-len, id, auth, nonce (8), confirmation (1).
    if p.len() >= 4 && p[0] == 0 && p[1] == 1 {
        let skip = 4 + p[2] as usize + p[3] as usize + 9;
        p = p.get(skip..).unwrap_or(&[]);
    }
    // Origin indication: 0x0000, port (2), address (4).
    if p.len() >= 8 && p[0] == 0 && p[1] == 0 {
        p = &p[8..];
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(proto: u8, flags_frag: u16, id: u16, payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&flags_frag.to_be_bytes());
        p.extend_from_slice(&[64, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7]);
        p.extend_from_slice(payload);
        p
    }

    fn v6(next: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(body.len() as u16).to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(body);
        p
    }

    #[test]
    fn ipv4_payload_cut_to_total_length() {
        let mut p = v4(17, 0, 1, b"abcd");
        p.extend_from_slice(&[0; 6]); // Ethernet padding
        let pkt = decode(Network::Ipv4(&p)).unwrap();
        assert_eq!(pkt.payload, b"abcd");
        assert_eq!(pkt.proto, 17);
        assert_eq!(pkt.src, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!(pkt.dst, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(pkt.frag, None);
    }

    #[test]
    fn ipv4_cut_by_snap_length_keeps_what_is_present() {
        let p = v4(17, 0, 1, b"abcdefgh");
        let pkt = decode(Network::Ipv4(&p[..24])).unwrap();
        assert_eq!(pkt.payload, b"abcd");
        assert_eq!(decode(Network::Ipv4(&p[..19])), Err(IpError::Truncated));
    }

    #[test]
    fn ipv4_fragments() {
        let first = decode_owned(&v4(17, 0x2000, 77, b"12345678"));
        assert_eq!(first, Some(FragInfo { id: 77, offset: 0, more: true }));
        let last = decode_owned(&v4(17, 3, 77, b"xy"));
        assert_eq!(last, Some(FragInfo { id: 77, offset: 24, more: false }));
    }

    fn decode_owned(p: &[u8]) -> Option<FragInfo> {
        decode(Network::Ipv4(p)).unwrap().frag
    }

    #[test]
    fn ipv4_bad_version_or_length() {
        let mut p = v4(17, 0, 1, b"ab");
        p[0] = 0x65;
        assert!(decode(Network::Ipv4(&p)).is_err());
        let mut p = v4(17, 0, 1, b"ab");
        p[2..4].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(decode(Network::Ipv4(&p)), Err(IpError::Invalid));
    }

    #[test]
    fn ipv6_plain_and_with_extensions() {
        let pkt = v6(17, b"udp!");
        let d = decode(Network::Ipv6(&pkt)).unwrap();
        assert_eq!((d.proto, d.payload, d.frag), (17, &b"udp!"[..], None));
        // hop-by-hop (8 bytes) then destination options (16 bytes) then UDP
        let mut body = vec![60, 0, 1, 4, 0, 0, 0, 0];
        body.extend_from_slice(&[17, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        body.extend_from_slice(b"data");
        let pkt = v6(0, &body);
        let d = decode(Network::Ipv6(&pkt)).unwrap();
        assert_eq!((d.proto, d.payload), (17, &b"data"[..]));
        assert_eq!(d.src, "fd00::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ipv6_fragment_header_stops_the_walk() {
        // fragment header: next 17, reserved, offset 2 (16 bytes) + M, id 0x01020304
        let mut body = vec![17, 0, 0, 16 | 1, 1, 2, 3, 4];
        body.extend_from_slice(&[60, 1, 2, 3]);
        let pkt = v6(44, &body);
        let d = decode(Network::Ipv6(&pkt)).unwrap();
        assert_eq!(d.frag, Some(FragInfo { id: 0x0102_0304, offset: 16, more: true }));
        assert_eq!((d.proto, d.payload), (17, &[60u8, 1, 2, 3][..]));
        // An atomic fragment (offset 0, no M) is not a fragment.
        let mut body = vec![17, 0, 0, 0, 0, 0, 0, 9];
        body.extend_from_slice(b"x");
        let pkt = v6(44, &body);
        let d = decode(Network::Ipv6(&pkt)).unwrap();
        assert_eq!((d.proto, d.payload, d.frag), (17, &b"x"[..], None));
    }

    #[test]
    fn ipv6_truncated_extension_is_an_error() {
        let pkt = v6(60, &[17, 3, 0, 0]);
        assert_eq!(decode(Network::Ipv6(&pkt)), Err(IpError::Truncated));
        assert_eq!(decode(Network::Ipv6(&pkt[..30])), Err(IpError::Truncated));
    }

    #[test]
    fn skipping_extensions_after_reassembly() {
        let mut data = vec![17, 0, 1, 4, 0, 0, 0, 0];
        data.extend_from_slice(b"udp");
        assert_eq!(skip_ipv6_extensions(60, &data), Some((17, &b"udp"[..])));
        assert_eq!(skip_ipv6_extensions(17, b"udp"), Some((17, &b"udp"[..])));
    }
}

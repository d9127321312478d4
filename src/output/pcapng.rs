//! A pcapng writer for `monitor --write`: one section, one interface description block per
//! interface (name, link type, nanosecond timestamps, its addresses with their prefixes as
//! `if_IPv4addr` / `if_IPv6addr`), enhanced packet blocks, and an
//! interface statistics block with `isb_endtime` when an interface goes away, so a replay of
//! the file knows when it went down; with process attribution, each packet that completed an
//! outgoing message carries its sender as a comment (`dnsleak_core::process::note`), which
//! replay reads back. Little-endian, as the machine that writes it.

use std::io::{self, Write};

use std::net::IpAddr;

use dnsleak_core::frame::SNAPLEN;
use dnsleak_core::{IfaceAddr, LinkType, Prefix, Ts};

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const EPB: u32 = 0x0000_0006;
const ISB: u32 = 0x0000_0005;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_IPV4ADDR: u16 = 4;
const IF_IPV6ADDR: u16 = 5;
const IF_TSRESOL: u16 = 9;
const ISB_STARTTIME: u16 = 2;
const ISB_ENDTIME: u16 = 3;
const ISB_IFRECV: u16 = 4;
const ISB_IFDROP: u16 = 5;

/// What an interface statistics block says.
#[derive(Debug, Clone, Copy, Default)]
pub struct IfaceEnd {
    pub start: Option<Ts>,
    pub end: Ts,
    pub received: Option<u64>,
    pub dropped: Option<u64>,
}

pub struct PcapngWriter<W: Write> {
    out: W,
    ifaces: u32,
    block: Vec<u8>,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the section header.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&(-1i64).to_le_bytes()); // section length unknown
        option(&mut b, SHB_USERAPPL, concat!("dnsleak ", env!("CARGO_PKG_VERSION")).as_bytes());
        option(&mut b, OPT_END, &[]);
        write_block(&mut out, SHB, &b)?;
        Ok(PcapngWriter { out, ifaces: 0, block: Vec::with_capacity(2048) })
    }

    /// Interfaces written so far; the next one gets this index.
    pub fn interfaces(&self) -> u32 {
        self.ifaces
    }

    /// Adds an interface with its addresses; returns its index in the file. An address whose
    /// prefix is unknown is left out: the option has no way to say "unknown", and a made-up
    /// netmask would put a replay's resolver on the wrong network.
    pub fn add_interface(&mut self, name: &str, link: LinkType, addrs: &[IfaceAddr]) -> io::Result<u32> {
        let b = &mut self.block;
        b.clear();
        b.extend_from_slice(&(link.0 as u16).to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&SNAPLEN.to_le_bytes());
        option(b, IF_NAME, name.as_bytes());
        for a in addrs {
            let Some(len) = a.prefix else { continue };
            match a.addr {
                IpAddr::V4(v4) => {
                    let mask = Prefix::new(IpAddr::V4(v4), len).map_or(0, |p| p.netmask_v4());
                    let mut v = [0u8; 8];
                    v[..4].copy_from_slice(&v4.octets());
                    v[4..].copy_from_slice(&mask.to_be_bytes());
                    option(b, IF_IPV4ADDR, &v);
                }
                IpAddr::V6(v6) => {
                    let mut v = [0u8; 17];
                    v[..16].copy_from_slice(&v6.octets());
                    v[16] = len;
                    option(b, IF_IPV6ADDR, &v);
                }
            }
        }
        option(b, IF_TSRESOL, &[9]);
        option(b, OPT_END, &[]);
        write_block(&mut self.out, IDB, b)?;
        self.ifaces += 1;
        Ok(self.ifaces - 1)
    }

    /// One packet on interface `iface` (an index `add_interface` returned), with a comment
    /// option for each of `comments`.
    pub fn packet(
        &mut self,
        iface: u32,
        ts: Ts,
        orig_len: u32,
        data: &[u8],
        comments: &[String],
    ) -> io::Result<()> {
        let data = &data[..data.len().min(SNAPLEN as usize)];
        let b = &mut self.block;
        b.clear();
        b.extend_from_slice(&iface.to_le_bytes());
        push_ts(b, ts);
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&orig_len.max(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        pad(b);
        for c in comments {
            option(b, OPT_COMMENT, c.as_bytes());
        }
        option(b, OPT_END, &[]);
        write_block(&mut self.out, EPB, b)
    }

    /// The interface's statistics, with the time it went away.
    pub fn interface_end(&mut self, iface: u32, end: IfaceEnd) -> io::Result<()> {
        let b = &mut self.block;
        b.clear();
        b.extend_from_slice(&iface.to_le_bytes());
        push_ts(b, end.end);
        if let Some(start) = end.start {
            let mut v = Vec::with_capacity(8);
            push_ts(&mut v, start);
            option(b, ISB_STARTTIME, &v);
        }
        let mut v = Vec::with_capacity(8);
        push_ts(&mut v, end.end);
        option(b, ISB_ENDTIME, &v);
        if let Some(n) = end.received {
            option(b, ISB_IFRECV, &n.to_le_bytes());
        }
        if let Some(n) = end.dropped {
            option(b, ISB_IFDROP, &n.to_le_bytes());
        }
        option(b, OPT_END, &[]);
        write_block(&mut self.out, ISB, b)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A timestamp in nanoseconds (if_tsresol 9) as the high and low 32-bit halves.
fn push_ts(b: &mut Vec<u8>, ts: Ts) {
    let ns = ts.0.max(0) as u64;
    b.extend_from_slice(&((ns >> 32) as u32).to_le_bytes());
    b.extend_from_slice(&(ns as u32).to_le_bytes());
}

fn pad(b: &mut Vec<u8>) {
    while b.len() % 4 != 0 {
        b.push(0);
    }
}

fn option(b: &mut Vec<u8>, code: u16, value: &[u8]) {
    let len = value.len().min(u16::MAX as usize - 3);
    b.extend_from_slice(&code.to_le_bytes());
    b.extend_from_slice(&(len as u16).to_le_bytes());
    b.extend_from_slice(&value[..len]);
    pad(b);
}

fn write_block<W: Write>(out: &mut W, kind: u32, body: &[u8]) -> io::Result<()> {
    let total = (12 + body.len()) as u32;
    out.write_all(&kind.to_le_bytes())?;
    out.write_all(&total.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&total.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(d: &[u8]) -> Vec<(u32, &[u8])> {
        let mut v = Vec::new();
        let mut o = 0;
        while o + 12 <= d.len() {
            let kind = u32::from_le_bytes(d[o..o + 4].try_into().unwrap());
            let len = u32::from_le_bytes(d[o + 4..o + 8].try_into().unwrap()) as usize;
            assert_eq!(len % 4, 0, "block length is a multiple of 4");
            let trailer = u32::from_le_bytes(d[o + len - 4..o + len].try_into().unwrap()) as usize;
            assert_eq!(len, trailer);
            v.push((kind, &d[o + 8..o + len - 4]));
            o += len;
        }
        assert_eq!(o, d.len());
        v
    }

    #[test]
    fn writes_interfaces_packets_and_end_times() {
        let mut w = PcapngWriter::new(Vec::new()).unwrap();
        assert_eq!(w.add_interface("eth0", LinkType::ETHERNET, &[]).unwrap(), 0);
        assert_eq!(w.add_interface("wg0", LinkType::RAW, &[]).unwrap(), 1);
        w.packet(1, Ts(1_700_000_000_123_456_789), 5, b"hello", &["dnsleak.process x".into()]).unwrap();
        w.interface_end(1, IfaceEnd { end: Ts(1_700_000_001_000_000_000), ..Default::default() }).unwrap();
        let d = w.into_inner();
        let b = blocks(&d);
        let kinds: Vec<u32> = b.iter().map(|x| x.0).collect();
        assert_eq!(kinds, [SHB, IDB, IDB, EPB, ISB]);
        let idb = b[2].1;
        assert_eq!(u16::from_le_bytes([idb[0], idb[1]]), 101);
        assert!(idb.windows(3).any(|w| w == b"wg0"));
        let epb = b[3].1;
        assert_eq!(u32::from_le_bytes(epb[0..4].try_into().unwrap()), 1);
        let hi = u32::from_le_bytes(epb[4..8].try_into().unwrap()) as u64;
        let lo = u32::from_le_bytes(epb[8..12].try_into().unwrap()) as u64;
        assert_eq!((hi << 32) | lo, 1_700_000_000_123_456_789);
        assert_eq!(&epb[20..25], b"hello");
        // The comment option after the padded data: code 1, length 17, the text.
        assert_eq!(&epb[28..32], &[1, 0, 17, 0]);
        assert_eq!(&epb[32..49], b"dnsleak.process x");
    }
}

//! The one type that crosses threads: a captured frame, plus its borrowed view.

use super::topology::IfaceId;

/// The most bytes of one frame dnsleak captures and writes (256 KiB: libpcap's largest
/// default snap length); longer packets are cut, and their `orig_len` says so.
pub const SNAPLEN: u32 = 262_144;

/// Capture time: nanoseconds since the Unix epoch, as the capture source stamped it.
/// The core has no clock of its own; every timeout follows this trace time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ts(pub i64);

impl Ts {
    pub const ZERO: Ts = Ts(0);

    pub fn from_secs_nanos(secs: i64, nanos: u32) -> Ts {
        Ts(secs.saturating_mul(1_000_000_000).saturating_add(nanos as i64))
    }
    pub fn from_micros(us: i64) -> Ts {
        Ts(us.saturating_mul(1_000))
    }
    pub fn from_millis(ms: i64) -> Ts {
        Ts(ms.saturating_mul(1_000_000))
    }
    /// Seconds since the epoch as a float (the JSON `ts` field).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// Nanoseconds from `earlier` to `self`, saturating at zero.
    pub fn since(self, earlier: Ts) -> u64 {
        self.0.saturating_sub(earlier.0).max(0) as u64
    }
    pub fn add_nanos(self, nanos: u64) -> Ts {
        Ts(self.0.saturating_add(nanos.min(i64::MAX as u64) as i64))
    }
}

/// Link-layer header type, by its LINKTYPE_* number (as in pcap and pcapng files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: 4-byte address family in host byte order of the capturing machine.
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (DLT_RAW as written into pcap files by most tools).
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
    /// DLT_RAW's value on some platforms (OpenBSD's 14, and 12 elsewhere) seen in files.
    pub const RAW_ALT12: LinkType = LinkType(12);
    pub const RAW_ALT14: LinkType = LinkType(14);

    /// A short name for messages and summaries.
    pub fn name(self) -> &'static str {
        match self {
            LinkType::NULL => "null",
            LinkType::ETHERNET => "ethernet",
            LinkType::RAW | LinkType::RAW_ALT12 | LinkType::RAW_ALT14 => "raw-ip",
            LinkType::LOOP => "loop",
            LinkType::LINUX_SLL => "linux-sll",
            LinkType::IPV4 => "raw-ipv4",
            LinkType::IPV6 => "raw-ipv6",
            LinkType::LINUX_SLL2 => "linux-sll2",
            _ => "unknown",
        }
    }

    /// Link types that carry IP with no link header (tunnel-like interfaces).
    pub fn is_raw_ip(self) -> bool {
        matches!(
            self,
            LinkType::RAW | LinkType::RAW_ALT12 | LinkType::RAW_ALT14 | LinkType::IPV4 | LinkType::IPV6
        )
    }
    pub fn is_loopback(self) -> bool {
        matches!(self, LinkType::NULL | LinkType::LOOP)
    }
}

/// An owned frame, as a capture thread or a file reader hands it to the pipeline.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The interface it was seen on (an id the shell assigned and described in the `Topology`).
    pub iface: IfaceId,
    pub ts: Ts,
    pub link: LinkType,
    /// 1-based position of the packet in its source (file, or live capture session).
    pub number: u64,
    /// Length of the packet on the wire (may exceed `data.len()` when the snap length cut it).
    pub orig_len: u32,
    pub data: Vec<u8>,
}

impl Frame {
    pub fn as_ref(&self) -> FrameRef<'_> {
        FrameRef {
            iface: self.iface,
            ts: self.ts,
            link: self.link,
            number: self.number,
            orig_len: self.orig_len,
            data: &self.data,
        }
    }
}

/// A borrowed frame: what the core's `Pipeline::process` reads. Replay builds these straight
/// from the file buffer, so the hot path copies nothing it does not keep.
#[derive(Debug, Clone, Copy)]
pub struct FrameRef<'a> {
    pub iface: IfaceId,
    pub ts: Ts,
    pub link: LinkType,
    pub number: u64,
    pub orig_len: u32,
    pub data: &'a [u8],
}

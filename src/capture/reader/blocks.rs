//! The record loop over pcap-parser: file records and pcapng blocks become interface changes
//! and frames, every declared length checked before it sizes anything; a record that cannot be
//! read becomes a `ReadError` that says where.

use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use pcap_parser::pcapng::{
    Block, EnhancedPacketBlock, InterfaceDescriptionBlock, InterfaceStatisticsBlock, OptionCode,
};
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{LegacyPcapBlock, PcapBlockOwned, PcapError, PcapHeader};

use super::{FileIface, Format, Input, ReadError, GZ, MAX_ADDRS, MAX_IFACES, MAX_RECORD};
use dnsleak_core::process::note;
use dnsleak_core::{FrameRef, IfaceAddr, IfaceId, LinkType, Ts};

/// The pcapng option code of `if_IPv6addr`.
const IF_IPV6ADDR: OptionCode = OptionCode(5);

/// dnsleak's comments read from one packet at most (one per message it completed).
const MAX_NOTES: usize = 16;

pub(super) fn header_error(e: &PcapError<&[u8]>) -> Step {
    Step::Read(match e {
        PcapError::Incomplete(_) | PcapError::UnexpectedEof | PcapError::Eof => {
            ReadError::Truncated { offset: 0, packets: 0, gz: "" }
        }
        other => {
            ReadError::Corrupt { offset: 0, packets: 0, what: format!("bad file header ({other:?})"), gz: "" }
        }
    })
}

/// How a read stopped early.
pub(super) enum Step {
    Read(ReadError),
    Sink(anyhow::Error),
}

impl From<ReadError> for Step {
    fn from(e: ReadError) -> Step {
        Step::Read(e)
    }
}

/// One pcapng section's interface numbering.
pub(super) struct SectionIface {
    global: usize,
    /// Units per second of the timestamps (if_tsresol).
    units: u64,
    offset_secs: i64,
}

/// Reader state across blocks.
pub(super) struct State {
    pub(super) format: Format,
    pub(super) gzip: bool,
    pub(super) last_error: Arc<Mutex<Option<io::Error>>>,
    pub(super) packets: u64,
    pub(super) bytes_read: u64,
    pub(super) ifaces: Vec<FileIface>,
    pub(super) section: Vec<SectionIface>,
    /// Legacy pcap: nanosecond timestamps and the header's snap length.
    pub(super) nanos: bool,
    /// pcapng: the current section is big-endian.
    pub(super) big_endian: bool,
    /// Interfaces added or changed since the last `Input::Interfaces` (ids, unsorted).
    pub(super) changed: Vec<IfaceId>,
    /// ISB end times waiting for a packet to follow them: (interface, time).
    pub(super) pending_down: Vec<(usize, Ts)>,
    pub(super) last_ts: Ts,
}

impl State {
    pub(super) fn new(gzip: bool, last_error: Arc<Mutex<Option<io::Error>>>) -> State {
        State {
            format: Format::Pcapng,
            gzip,
            last_error,
            packets: 0,
            bytes_read: 0,
            ifaces: Vec::new(),
            section: Vec::new(),
            nanos: false,
            big_endian: false,
            changed: Vec::new(),
            pending_down: Vec::new(),
            last_ts: Ts::ZERO,
        }
    }

    fn gz(&self) -> &'static str {
        if self.gzip {
            GZ
        } else {
            ""
        }
    }

    fn corrupt(&self, offset: u64, what: impl Into<String>) -> ReadError {
        ReadError::Corrupt { offset, packets: self.packets, what: what.into(), gz: self.gz() }
    }
}

/// What one call of the parser gave.
pub(super) enum Next {
    Consumed(usize),
    Eof,
    Refill,
    /// The record does not fit the buffer: check its length, then grow.
    TooSmall,
    /// The file ends inside a record.
    Truncated,
}

pub(super) fn drive<R: PcapReaderIterator>(
    mut rdr: R,
    state: &mut State,
    f: &mut dyn FnMut(Input<'_>) -> anyhow::Result<()>,
) -> Result<(), Step> {
    let mut stalled = 0u32;
    loop {
        let offset = rdr.consumed() as u64;
        let next = match rdr.next() {
            Ok((used, block)) => {
                handle_block(block, offset, state, f)?;
                Next::Consumed(used)
            }
            Err(e) => classify_error(e, offset, state)?,
        };
        match next {
            Next::Consumed(used) => {
                stalled = 0;
                rdr.consume(used);
            }
            Next::Eof => return Ok(()),
            Next::Refill => {
                stalled += 1;
                if stalled > 1_000_000 {
                    return Err(state.corrupt(offset, "the reader made no progress").into());
                }
                if rdr.refill().is_err() {
                    return Err(io_error(state, offset));
                }
            }
            Next::TooSmall => {
                let need = record_size(state, rdr.data()).unwrap_or(u64::MAX);
                if need > MAX_RECORD as u64 + 64 || stalled > 4 {
                    return Err(too_long(state, offset, rdr.data()));
                }
                stalled += 1;
                rdr.grow(need as usize * 2);
                if rdr.refill().is_err() {
                    return Err(io_error(state, offset));
                }
            }
            Next::Truncated => {
                if record_size(state, rdr.data()).is_some_and(|n| n > MAX_RECORD as u64 + 64) {
                    return Err(too_long(state, offset, rdr.data()));
                }
                return Err(ReadError::Truncated { offset, packets: state.packets, gz: state.gz() }.into());
            }
        }
    }
}

pub(super) fn too_long(state: &State, offset: u64, data: &[u8]) -> Step {
    let len = declared_len(state, data).unwrap_or(u64::MAX);
    Step::Read(ReadError::RecordTooLong { offset, packets: state.packets, len, gz: state.gz() })
}

/// Bytes the record at the start of `data` needs, headers included.
pub(super) fn record_size(state: &State, data: &[u8]) -> Option<u64> {
    let len = declared_len(state, data)?;
    Some(match state.format {
        Format::Pcap { .. } => len + 16,
        Format::Pcapng => len,
    })
}

pub(super) fn io_error(state: &State, offset: u64) -> Step {
    let source = state
        .last_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .unwrap_or_else(|| io::Error::other("the read failed"));
    if state.gzip && source.kind() == io::ErrorKind::UnexpectedEof {
        return Step::Read(ReadError::Truncated { offset, packets: state.packets, gz: state.gz() });
    }
    if state.gzip && matches!(source.kind(), io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData) {
        return Step::Read(state.corrupt(offset, format!("the gzip data is corrupt ({source})")));
    }
    Step::Read(ReadError::Io { offset, gz: state.gz(), source })
}

/// Turns a parser error into what to do next, checking the record's declared length.
pub(super) fn classify_error(e: PcapError<&[u8]>, offset: u64, state: &State) -> Result<Next, Step> {
    match e {
        PcapError::Eof => Ok(Next::Eof),
        PcapError::Incomplete(_) => Ok(Next::Refill),
        PcapError::BufferTooSmall => Ok(Next::TooSmall),
        PcapError::UnexpectedEof => Ok(Next::Truncated),
        PcapError::ReadError => Err(io_error(state, offset)),
        PcapError::HeaderNotRecognized => Err(state.corrupt(offset, "header not recognised").into()),
        PcapError::NomError(data, kind) => Err(state.corrupt(offset, nom_what(state, data, kind)).into()),
        PcapError::OwnedNomError(data, kind) => {
            Err(state.corrupt(offset, nom_what(state, &data, kind)).into())
        }
    }
}

pub(super) fn nom_what(state: &State, data: &[u8], kind: pcap_parser::nom::error::ErrorKind) -> String {
    match declared_len(state, data) {
        Some(len) => format!("a block of length {len} that does not parse ({kind:?})"),
        None => format!("the record does not parse ({kind:?})"),
    }
}

/// The length the record at the start of `data` claims, when it can be read.
pub(super) fn declared_len(state: &State, data: &[u8]) -> Option<u64> {
    let word = |at: usize, be: bool| -> Option<u64> {
        let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
        Some(if be { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) } as u64)
    };
    match state.format {
        Format::Pcap { big_endian, .. } => word(8, big_endian),
        Format::Pcapng => word(4, state.big_endian),
    }
}

pub(super) fn handle_block(
    block: PcapBlockOwned<'_>,
    offset: u64,
    state: &mut State,
    f: &mut dyn FnMut(Input<'_>) -> anyhow::Result<()>,
) -> Result<(), Step> {
    match block {
        PcapBlockOwned::LegacyHeader(h) => legacy_header(&h, state),
        PcapBlockOwned::Legacy(b) => legacy_packet(&b, offset, state, f),
        PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
            state.big_endian = shb.big_endian();
            state.section.clear();
            Ok(())
        }
        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => interface_block(&idb, offset, state),
        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => enhanced_packet(&epb, offset, state, f),
        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
            let Some(si) = state.section.first() else {
                return Err(state.corrupt(offset, "a simple packet block before any interface block").into());
            };
            let iface = si.global;
            let snap = state.ifaces[iface].snaplen as usize;
            let mut data = spb.packet_data();
            if snap > 0 && data.len() > snap {
                data = &data[..snap];
            }
            let ts = state.last_ts;
            emit_frame(state, iface, ts, spb.origlen, data, f)
        }
        PcapBlockOwned::NG(Block::InterfaceStatistics(isb)) => statistics_block(&isb, offset, state),
        PcapBlockOwned::NG(_) => Ok(()),
    }
}

pub(super) fn legacy_header(h: &PcapHeader, state: &mut State) -> Result<(), Step> {
    if h.snaplen as usize > MAX_RECORD {
        return Err(ReadError::Snaplen(h.snaplen as u64).into());
    }
    state.nanos = matches!(state.format, Format::Pcap { nanos: true, .. });
    let link = LinkType((h.network.0 as u32) & 0xffff);
    add_iface(state, None, link, h.snaplen, Vec::new(), 0)?;
    state.section.push(SectionIface { global: 0, units: 0, offset_secs: 0 });
    Ok(())
}

pub(super) fn legacy_packet(
    b: &LegacyPcapBlock<'_>,
    offset: u64,
    state: &mut State,
    f: &mut dyn FnMut(Input<'_>) -> anyhow::Result<()>,
) -> Result<(), Step> {
    if b.caplen as usize > MAX_RECORD {
        let e =
            ReadError::RecordTooLong { offset, packets: state.packets, len: b.caplen as u64, gz: state.gz() };
        return Err(e.into());
    }
    let frac = if state.nanos { b.ts_usec as u64 } else { b.ts_usec as u64 * 1000 };
    let ts = Ts(((b.ts_sec as i64) * 1_000_000_000).saturating_add(frac.min(i64::MAX as u64) as i64));
    emit_frame(state, 0, ts, b.origlen, b.data, f)
}

pub(super) fn interface_block(
    idb: &InterfaceDescriptionBlock<'_>,
    offset: u64,
    state: &mut State,
) -> Result<(), Step> {
    if idb.snaplen as usize > MAX_RECORD {
        return Err(state.corrupt(offset, format!("interface snap length {} is absurd", idb.snaplen)).into());
    }
    let name = idb
        .if_name()
        .and_then(Result::ok)
        .filter(|s| !s.is_empty())
        .or_else(|| idb.if_description().and_then(Result::ok).filter(|s| !s.is_empty()))
        .map(|s| s.chars().take(256).collect::<String>());
    let units = ts_units(idb.if_tsresol).ok_or_else(|| {
        state.corrupt(offset, format!("if_tsresol {:#x} is not a usable resolution", idb.if_tsresol))
    })?;
    let addrs = iface_addrs(idb);
    let link = LinkType(idb.linktype.0 as u32 & 0xffff);
    let global = add_iface(state, name, link, idb.snaplen, addrs, offset)?;
    state.section.push(SectionIface { global, units, offset_secs: idb.if_tsoffset });
    Ok(())
}

/// `if_IPv4addr` (address and netmask) and `if_IPv6addr` (address and prefix length) options,
/// at most `MAX_ADDRS`. A malformed option is skipped; a netmask that is not contiguous gives
/// the address without a prefix. IPv6 options are read here because pcap-parser 0.17's
/// `if_ipv6addr` matches the IPv4 option code (4) instead of 5: it finds no IPv6 address and
/// fails on every IPv4 one.
fn iface_addrs(idb: &InterfaceDescriptionBlock<'_>) -> Vec<IfaceAddr> {
    let mut addrs = Vec::new();
    for opt in &idb.options {
        if addrs.len() >= MAX_ADDRS {
            break;
        }
        let Ok(b) = opt.as_bytes() else { continue };
        if opt.code == OptionCode::IfIpv4Addr && b.len() == 8 {
            let addr = IpAddr::from([b[0], b[1], b[2], b[3]]);
            let mask = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            let prefix =
                (mask.leading_ones() + mask.trailing_zeros() == 32).then_some(mask.leading_ones() as u8);
            addrs.push(IfaceAddr::new(addr, prefix));
        } else if opt.code == IF_IPV6ADDR && b.len() == 17 {
            let octets: [u8; 16] = b[..16].try_into().expect("17 bytes checked");
            addrs.push(IfaceAddr::new(IpAddr::from(octets), Some(b[16])));
        }
    }
    addrs
}

pub(super) fn add_iface(
    state: &mut State,
    name: Option<String>,
    link: LinkType,
    snaplen: u32,
    addrs: Vec<IfaceAddr>,
    offset: u64,
) -> Result<usize, Step> {
    let global = state.ifaces.len();
    if global >= MAX_IFACES {
        return Err(state.corrupt(offset, format!("more than {MAX_IFACES} interfaces")).into());
    }
    let named = name.is_some();
    let name = name.unwrap_or_else(|| format!("if{global}"));
    state.ifaces.push(FileIface { id: global as IfaceId, name, named, link, snaplen, up: true, addrs });
    state.changed.push(global as IfaceId);
    Ok(global)
}

/// Units per second for an `if_tsresol` value (default 6: microseconds).
pub(super) fn ts_units(resol: u8) -> Option<u64> {
    if resol & 0x80 == 0 { 10u64.checked_pow(resol as u32) } else { 1u64.checked_shl((resol & 0x7f) as u32) }
        .filter(|u| *u > 0)
}

pub(super) fn pcapng_ts(si: &SectionIface, high: u32, low: u32) -> Ts {
    let units = ((high as u64) << 32) | low as u64;
    let ns = (units as u128) * 1_000_000_000 / (si.units.max(1) as u128);
    let ns = i64::try_from(ns).unwrap_or(i64::MAX);
    Ts(ns.saturating_add(si.offset_secs.saturating_mul(1_000_000_000)))
}

pub(super) fn section_iface(state: &State, if_id: u32, offset: u64) -> Result<usize, Step> {
    match state.section.get(if_id as usize) {
        Some(si) => Ok(si.global),
        None => Err(state
            .corrupt(offset, format!("a packet on interface {if_id}, which no interface block declared"))
            .into()),
    }
}

pub(super) fn enhanced_packet(
    epb: &EnhancedPacketBlock<'_>,
    offset: u64,
    state: &mut State,
    f: &mut dyn FnMut(Input<'_>) -> anyhow::Result<()>,
) -> Result<(), Step> {
    let global = section_iface(state, epb.if_id, offset)?;
    let ts = pcapng_ts(&state.section[epb.if_id as usize], epb.ts_high, epb.ts_low);
    let snap = state.ifaces[global].snaplen as usize;
    let mut data = epb.packet_data();
    if snap > 0 && data.len() > snap {
        data = &data[..snap];
    }
    // The sender dnsleak recorded beside the packet: before the frame, so it is known when
    // the frame's message is judged. Other comments are left alone.
    for opt in epb.options.iter().filter(|o| o.code == OptionCode::Comment).take(MAX_NOTES) {
        if let Ok(text) = opt.as_str() {
            if text.starts_with(note::PREFIX) {
                // The interfaces first, so the note meets a pipeline that knows them.
                announce(state, ts, f)?;
                f(Input::Note { text, ts }).map_err(Step::Sink)?;
            }
        }
    }
    emit_frame(state, global, ts, epb.origlen, data, f)
}

pub(super) fn statistics_block(
    isb: &InterfaceStatisticsBlock<'_>,
    offset: u64,
    state: &mut State,
) -> Result<(), Step> {
    let global = section_iface(state, isb.if_id, offset)?;
    if let Some(Ok((high, low))) = isb.isb_endtime() {
        let ts = pcapng_ts(&state.section[isb.if_id as usize], high, low);
        if state.pending_down.len() < MAX_IFACES {
            state.pending_down.push((global, ts));
        }
    }
    Ok(())
}

/// Hands out pending interface changes, then the frame.
pub(super) fn emit_frame(
    state: &mut State,
    iface: usize,
    ts: Ts,
    orig_len: u32,
    data: &[u8],
    f: &mut dyn FnMut(Input<'_>) -> anyhow::Result<()>,
) -> Result<(), Step> {
    announce(state, ts, f)?;
    state.packets += 1;
    state.last_ts = ts;
    let link = state.ifaces.get(iface).map_or(LinkType(u32::MAX), |i| i.link);
    let frame = FrameRef { iface: iface as IfaceId, ts, link, number: state.packets, orig_len, data };
    f(Input::Frame(frame)).map_err(Step::Sink)
}

/// Hands out the interfaces that changed (a block declared one, or one went down) before
/// anything that needs them: a frame, or dnsleak's note about the frame.
fn announce(
    state: &mut State,
    ts: Ts,
    f: &mut dyn FnMut(Input<'_>) -> anyhow::Result<()>,
) -> Result<(), Step> {
    let mut change_ts = ts;
    for (id, down_at) in state.pending_down.drain(..) {
        if let Some(i) = state.ifaces.get_mut(id) {
            if i.up {
                i.up = false;
                state.changed.push(i.id);
                change_ts = change_ts.min(down_at);
            }
        }
    }
    if !state.changed.is_empty() {
        state.changed.sort_unstable();
        state.changed.dedup();
        f(Input::Interfaces { ifaces: &state.ifaces, changed: &state.changed, ts: change_ts })
            .map_err(Step::Sink)?;
        state.changed.clear();
    }
    Ok(())
}

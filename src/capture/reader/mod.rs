//! The capture-file reader every shell and test shares: pcap (micro- and nanosecond, both byte
//! orders, the modified format), pcapng (several interfaces, each with its own link type, name
//! and time resolution; several sections; Interface Statistics Blocks), either of them
//! gzip-compressed, and `-` for standard input. Packet comments dnsleak wrote itself (who sent
//! the packet) come out as `Input::Note` before their frame; other comments are skipped.
//!
//! ```no_run
//! use dnsleak::capture::reader::{for_each_frame, Input};
//! let summary = for_each_frame("capture.pcapng".as_ref(), |input| {
//!     match input {
//!         Input::Interfaces { ifaces, changed, .. } => {
//!             println!("{} interfaces, {} changed", ifaces.len(), changed.len())
//!         }
//!         Input::Frame(frame) => println!("frame {} on {}", frame.number, frame.iface),
//!         Input::Note { text, .. } => println!("dnsleak recorded: {text}"),
//!     }
//!     Ok(())
//! })?;
//! println!("{} packets", summary.packets);
//! # anyhow::Ok(())
//! ```
//!
//! Frames are borrowed straight from the reader's buffer (no allocation per packet). The buffer
//! starts at 1 MiB and grows only for a record whose length was checked against
//! [`MAX_RECORD`]; every length in the file is checked before it sizes anything.
//!
//! Interface Statistics Blocks: when an ISB carries `isb_endtime`, the interface is down from
//! then for the packets that follow it (a file written by `dnsleak monitor --write` records a
//! vanished tunnel that way). ISBs after the last packet (dumpcap writes one per interface when
//! it closes a file) change nothing.

mod blocks;
mod digest;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pcap_parser::{LegacyPcapReader, PcapNGReader};

use self::blocks::{drive, header_error, State, Step};
pub use self::digest::{Digest, FileDigest};

use dnsleak_core::{FrameRef, IfaceAddr, IfaceFacts, IfaceId, LinkType, Overrides, Topology, Ts};

/// The largest record (packet or pcapng block) accepted, and the largest snap length.
pub const MAX_RECORD: usize = 16 << 20;
/// Interfaces one file may declare.
pub const MAX_IFACES: usize = 4096;
const GZ: &str = " of the decompressed data";
const BUF_START: usize = 1 << 20;
/// Bytes read before choosing a format, so that a short first read (a pipe, gzip) does not
/// hide the file header.
const PREFIX: usize = 64 << 10;
/// Addresses kept per interface from the interface block.
const MAX_ADDRS: usize = 32;

/// An interface as the file describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIface {
    /// Unique within one file (pcapng interface ids of later sections follow those of earlier
    /// ones).
    pub id: IfaceId,
    /// `if_name`, else `if_description`, else `if<id>`.
    pub name: String,
    /// Whether the name came from the file (false when it is the `if<id>` default).
    pub named: bool,
    pub link: LinkType,
    /// 0 when the file gives none.
    pub snaplen: u32,
    /// False once an ISB with `isb_endtime` was followed by more packets.
    pub up: bool,
    /// `if_IPv4addr` / `if_IPv6addr`, when the file gives them, with their prefix lengths.
    pub addrs: Vec<IfaceAddr>,
}

impl FileIface {
    /// The facts the core classifies.
    pub fn facts(&self) -> IfaceFacts {
        IfaceFacts {
            name: self.name.clone(),
            up: self.up,
            has_mac: matches!(self.link, LinkType::ETHERNET | LinkType::LINUX_SLL | LinkType::LINUX_SLL2),
            link: Some(self.link),
            addrs: self.addrs.clone(),
            ..Default::default()
        }
    }
}

/// The core's topology for the interfaces of a file, with the user's overrides.
pub fn topology_of(ifaces: &[FileIface], overrides: &Overrides) -> Topology {
    Topology::from_facts(ifaces.iter().map(|i| (i.id, i.facts())), overrides)
}

/// What the reader hands out, in file order.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// The interfaces changed (always before the first frame). `ts` is the trace time of the
    /// change: an ISB's end time, else the time of the frame that follows. `ifaces` are all of
    /// the file's interfaces so far (`ifaces[i].id == i`); `changed` the ids of those added or
    /// changed since the last `Interfaces`, in increasing order, so that a consumer can do
    /// work in proportion to the change rather than to every interface.
    Interfaces {
        ifaces: &'a [FileIface],
        changed: &'a [IfaceId],
        ts: Ts,
    },
    Frame(FrameRef<'a>),
    /// A packet comment of dnsleak's own (`dnsleak_core::process::note`: who sent the packet),
    /// handed out right before the frame it is attached to, with the frame's time.
    Note {
        text: &'a str,
        ts: Ts,
    },
}

/// The container format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pcap { nanos: bool, big_endian: bool },
    Pcapng,
}

/// What a finished read saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSummary {
    pub format: Format,
    pub gzip: bool,
    pub packets: u64,
    /// Bytes of the file read (compressed bytes for gzip).
    pub bytes_read: u64,
    pub ifaces: Vec<FileIface>,
}

/// Why a file could not be read to its end. Every variant says where.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot open the file")]
    Open(#[source] io::Error),
    #[error("read failed at byte offset {offset}{gz}")]
    Io {
        offset: u64,
        gz: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("the file is empty (0 bytes): not a capture")]
    Empty,
    #[error("not a pcap or pcapng capture (it starts with bytes {0}); give a .pcap, .pcapng or gzip of one")]
    NotCapture(String),
    #[error("the file header is cut short ({0} bytes): truncated capture")]
    ShortHeader(usize),
    #[error(
        "the snap length in the file header is {0}, more than the {MAX_RECORD} accepted: corrupt header"
    )]
    Snaplen(u64),
    #[error(
        "truncated: the record at byte offset {offset}{gz} (after packet {packets}) is cut short; \
         the packets before it were read"
    )]
    Truncated { offset: u64, packets: u64, gz: &'static str },
    #[error(
        "corrupt record at byte offset {offset}{gz} (after packet {packets}): its length {len} is \
         more than the {MAX_RECORD} accepted"
    )]
    RecordTooLong { offset: u64, packets: u64, len: u64, gz: &'static str },
    #[error("corrupt record at byte offset {offset}{gz} (after packet {packets}): {what}")]
    Corrupt { offset: u64, packets: u64, what: String, gz: &'static str },
}

/// Reads `path` (`-` for standard input) and hands every interface change and frame to `f`, in
/// file order. An error from `f` stops the read and is returned as is; a read error names the
/// file and where it happened, after every frame before it was handed out.
pub fn for_each_frame(
    path: &Path,
    f: impl FnMut(Input<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<ReadSummary> {
    let reader = CaptureReader::open(path)?;
    reader.for_each(f)
}

/// Bytes read so far, shared with a progress display.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    pub fn bytes(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counts the bytes read from the file (and hashes them, when asked) and keeps the last I/O
/// error (pcap-parser reports only that a read failed, not why).
struct Tap<R> {
    inner: R,
    /// None for the decompressed side, which only keeps errors.
    progress: Option<Progress>,
    digest: Option<Digest>,
    last_error: Arc<Mutex<Option<io::Error>>>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Ok(n) => {
                    if let Some(p) = &self.progress {
                        p.0.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    if let Some(d) = &self.digest {
                        d.update(&buf[..n], buf.len());
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let copy = io::Error::new(e.kind(), e.to_string());
                    *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(copy);
                    return Err(e);
                }
            }
        }
    }
}

/// An opened capture: call [`CaptureReader::for_each`] to read it.
pub struct CaptureReader {
    name: String,
    /// Decompressed stream, its first bytes already read into `prefix`.
    stream: Box<dyn Read + Send>,
    prefix: Vec<u8>,
    gzip: bool,
    progress: Progress,
    total: Option<u64>,
    digest: Option<Digest>,
    last_error: Arc<Mutex<Option<io::Error>>>,
}

/// How a file is named in messages.
pub fn display_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "standard input".to_string()
    } else {
        path.display().to_string()
    }
}

impl CaptureReader {
    /// Opens `path` (`-` is standard input), detects gzip and reads the first bytes.
    pub fn open(path: &Path) -> anyhow::Result<CaptureReader> {
        let name = display_name(path);
        Self::open_inner(path, None).map_err(|e| anyhow::Error::new(e).context(name))
    }

    /// As `open`, and the SHA-256 of every byte of the file computed as it is read
    /// ([`CaptureReader::digest`]).
    pub fn open_hashed(path: &Path) -> anyhow::Result<CaptureReader> {
        let name = display_name(path);
        Self::open_inner(path, Some(Digest::default())).map_err(|e| anyhow::Error::new(e).context(name))
    }

    fn open_inner(path: &Path, digest: Option<Digest>) -> Result<CaptureReader, ReadError> {
        let progress = Progress::default();
        let last_error = Arc::new(Mutex::new(None));
        let (raw, total): (Box<dyn Read + Send>, Option<u64>) = if path.as_os_str() == "-" {
            (Box::new(io::stdin()), None)
        } else {
            let file = File::open(path).map_err(ReadError::Open)?;
            let len = file.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
            (Box::new(file), len)
        };
        let tap = Tap {
            inner: raw,
            progress: Some(progress.clone()),
            digest: digest.clone(),
            last_error: last_error.clone(),
        };
        let mut buffered = BufReader::with_capacity(64 << 10, tap);
        let head = buffered.fill_buf().map_err(|source| ReadError::Io { offset: 0, gz: "", source })?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let mut stream: Box<dyn Read + Send> = if gzip {
            let decoder = flate2::read::MultiGzDecoder::new(buffered);
            Box::new(Tap { inner: decoder, progress: None, digest: None, last_error: last_error.clone() })
        } else {
            Box::new(buffered)
        };
        let (prefix, failed) = read_prefix(&mut stream, gzip)?;
        if let Some(error) = failed {
            // The stream failed within its first bytes (a gzip file cut short): the records
            // before the fault are read first, then the same fault ends the read.
            let failed = Failed { kind: error.kind(), message: error.to_string() };
            stream =
                Box::new(Tap { inner: failed, progress: None, digest: None, last_error: last_error.clone() });
        }
        let name = display_name(path);
        Ok(CaptureReader { name, stream, prefix, gzip, progress, total, digest, last_error })
    }

    /// The file's SHA-256 being computed, when opened with `open_hashed`: finish it once the
    /// read is over (also after an error).
    pub fn digest(&self) -> Option<Digest> {
        self.digest.clone()
    }

    /// Bytes read so far (compressed bytes for gzip), for a progress display.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// The file's size, when it is a regular file.
    pub fn total_bytes(&self) -> Option<u64> {
        self.total
    }

    /// Reads the whole capture, handing every interface change and frame to `f`.
    pub fn for_each(self, mut f: impl FnMut(Input<'_>) -> anyhow::Result<()>) -> anyhow::Result<ReadSummary> {
        let name = self.name.clone();
        let mut state = State::new(self.gzip, self.last_error.clone());
        let result = self.run(&mut state, &mut f);
        let summary = ReadSummary {
            format: state.format,
            gzip: state.gzip,
            packets: state.packets,
            bytes_read: state.bytes_read,
            ifaces: std::mem::take(&mut state.ifaces),
        };
        match result {
            Ok(()) => Ok(summary),
            Err(Step::Read(e)) => Err(anyhow::Error::new(e).context(name)),
            Err(Step::Sink(e)) => Err(e),
        }
    }

    fn run(self, state: &mut State, f: &mut dyn FnMut(Input<'_>) -> anyhow::Result<()>) -> Result<(), Step> {
        let progress = self.progress.clone();
        let format = detect(&self.prefix)?;
        state.format = format;
        let input = io::Cursor::new(self.prefix).chain(self.stream);
        let out = match format {
            Format::Pcap { .. } => {
                let rdr = LegacyPcapReader::new(BUF_START, input).map_err(|e| header_error(&e))?;
                drive(rdr, state, f)
            }
            Format::Pcapng => {
                let rdr = PcapNGReader::new(BUF_START, input).map_err(|e| header_error(&e))?;
                drive(rdr, state, f)
            }
        };
        state.bytes_read = progress.bytes();
        out
    }
}

/// A stream that failed: gives the same error at every read.
struct Failed {
    kind: io::ErrorKind,
    message: String,
}

impl Read for Failed {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(self.kind, self.message.clone()))
    }
}

/// Reads until `PREFIX` bytes or the end of the stream. When the stream fails after giving at
/// least a file header's worth, returns what it gave and the failure, for the records in it
/// to be read before the failure is reported (issue #13: a gzip file cut within its first
/// 64 KiB of decompressed data lost every packet).
fn read_prefix(stream: &mut dyn Read, gzip: bool) -> Result<(Vec<u8>, Option<io::Error>), ReadError> {
    let mut prefix = Vec::with_capacity(PREFIX);
    match stream.take(PREFIX as u64).read_to_end(&mut prefix) {
        Ok(_) => Ok((prefix, None)),
        Err(source) if prefix.len() >= 24 => Ok((prefix, Some(source))),
        Err(source) if gzip && source.kind() == io::ErrorKind::UnexpectedEof => {
            Err(ReadError::Truncated { offset: prefix.len() as u64, packets: 0, gz: GZ })
        }
        Err(source) => {
            let gz = if gzip { GZ } else { "" };
            Err(ReadError::Io { offset: prefix.len() as u64, gz, source })
        }
    }
}

fn detect(prefix: &[u8]) -> Result<Format, ReadError> {
    if prefix.is_empty() {
        return Err(ReadError::Empty);
    }
    let Some(magic) = prefix.get(..4) else {
        return Err(ReadError::ShortHeader(prefix.len()));
    };
    let format = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x34, 0xcd, 0xb2, 0xa1] => {
            Format::Pcap { nanos: false, big_endian: false }
        }
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0xcd, 0x34] => {
            Format::Pcap { nanos: false, big_endian: true }
        }
        [0x4d, 0x3c, 0xb2, 0xa1] => Format::Pcap { nanos: true, big_endian: false },
        [0xa1, 0xb2, 0x3c, 0x4d] => Format::Pcap { nanos: true, big_endian: true },
        [0x0a, 0x0d, 0x0d, 0x0a] => Format::Pcapng,
        _ => {
            let shown: Vec<String> = prefix.iter().take(8).map(|b| format!("{b:02x}")).collect();
            return Err(ReadError::NotCapture(shown.join(" ")));
        }
    };
    let header = if format == Format::Pcapng { 28 } else { 24 };
    if prefix.len() < header {
        return Err(ReadError::ShortHeader(prefix.len()));
    }
    Ok(format)
}

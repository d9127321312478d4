//! Outputs: NDJSON, the summary a person reads, the HTML audit report, the dashboard's model,
//! pcapng for `--write`.
//!
//! Every shell (replay, live capture, check) drives the same `Sink` interface, so an output
//! works the same on a file and on the wire.

pub mod background;
pub mod escape;
pub mod html;
pub mod json;
pub mod lines;
pub mod pcapng;
pub mod report;
pub mod summary;

use std::io;

use dnsleak_core::{Judged, Stats, Topology};

/// Capture-side counters of one interface (live capture). Each has one writer: the capture
/// thread (pipeline drops) or libpcap (kernel drops).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureCounters {
    pub iface: String,
    /// Frames the capture thread received from libpcap.
    pub received: u64,
    /// Frames dropped because the pipeline's channel was full.
    pub dropped_pipeline: u64,
    /// libpcap's own counts: dropped by the kernel, dropped by the interface.
    pub dropped_kernel: u64,
    pub dropped_iface: u64,
}

/// Everything counted so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub core: Stats,
    /// Per interface, live capture only.
    pub capture: Vec<CaptureCounters>,
    /// Replay: bytes of input read so far and in all (when known).
    pub bytes_read: u64,
    pub bytes_total: Option<u64>,
}

/// Where judged events go. Called from one thread, in capture order.
pub trait Sink {
    /// The interfaces changed (also called once before the first event).
    fn topology(&mut self, topology: &Topology) -> io::Result<()> {
        let _ = topology;
        Ok(())
    }
    /// Whether this sink reads a message's bytes (`DnsInfo::payload`, for answers and EDNS).
    /// A sink that never does lets the pipeline skip copying them (`Config::keep_payload`).
    fn wants_payload(&self) -> bool {
        true
    }
    /// One judged event. `file` names the input when several files are replayed.
    fn event(&mut self, judged: &Judged, file: Option<&str>) -> io::Result<()>;
    /// A run of judged events, in order. A sink may take them; the vector is left empty either
    /// way (by default each goes to `event`, then the vector is cleared).
    fn events(&mut self, judged: &mut Vec<Judged>, file: Option<&str>) -> io::Result<()> {
        let result = judged.iter().try_for_each(|j| self.event(j, file));
        judged.clear();
        result
    }
    /// Counters, now and then (at least once before `finish`).
    fn counters(&mut self, counters: &Counters) -> io::Result<()> {
        let _ = counters;
        Ok(())
    }
    /// End of input.
    fn finish(&mut self, counters: &Counters) -> io::Result<()> {
        let _ = counters;
        Ok(())
    }
}

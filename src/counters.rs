//! What the shells count beside the core's own `Stats`: each live capture's frames and drops,
//! how much of the input was read, and how the programs behind messages are found. Produced by the sources (capture, replay), consumed by
//! the sinks (summary, dashboard, final summary); plain data, in neither.

use dnsleak_core::Stats;

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
    /// The stage that puts frames of several interfaces back in time order.
    pub order: OrderCounters,
    /// Live capture with process attribution: the method and what the system side lost (the
    /// core counts attributed / unattributed / not from this host in `core.processes`).
    pub processes: Option<ProcessCounters>,
}

/// What the time-order stage did: frames that went through it, frames that came after a later
/// one had been judged (judged out of order), frames judged before their window ended because
/// the stage was full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderCounters {
    pub frames: u64,
    pub late: u64,
    pub early: u64,
}

impl OrderCounters {
    pub fn add(&mut self, o: &OrderCounters) {
        self.frames += o.frames;
        self.late += o.late;
        self.early += o.early;
    }
}

/// The system side of process attribution (live capture).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessCounters {
    /// `ebpf` or `sock_diag`.
    pub method: &'static str,
    /// One line for a person: the method, what it sees, and why eBPF is not used.
    pub note: String,
    /// Socket facts handed to the core.
    pub facts: u64,
    /// Records the kernel could not write (its ring was full).
    pub lost: u64,
    /// Facts the fallback scan found but could not hand over in time.
    pub dropped: u64,
    /// Processes named only by the thread that sent (gone before their name was read).
    pub unnamed: u64,
}

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
    /// Live capture: frames still waiting when the monitor stopped, beyond the bounded time
    /// it gives them (counted, never judged).
    pub dropped_at_stop: u64,
    /// Replay: the files in which something was dropped before it was judged, in order.
    pub incomplete_files: Vec<String>,
}

impl Counters {
    /// Frames the capture side lost: the pipeline's channel full, the kernel, the interface,
    /// and what was left when the monitor stopped.
    pub fn frames_dropped(&self) -> u64 {
        let captures: u64 =
            self.capture.iter().map(|c| c.dropped_pipeline + c.dropped_kernel + c.dropped_iface).sum();
        captures + self.dropped_at_stop
    }

    /// What was lost before it was judged (the core's unjudged losses and every frame
    /// dropped): above zero, "no leak" cannot be said.
    pub fn unjudged(&self) -> u64 {
        self.core.unjudged() + self.frames_dropped()
    }

    /// Where the result is incomplete, in words: the files (replay), or the interfaces
    /// (live: those that dropped frames, or every one when the core's tables dropped). Not
    /// escaped.
    pub fn incomplete_where(&self) -> String {
        if !self.incomplete_files.is_empty() {
            let s = if self.incomplete_files.len() == 1 { "" } else { "s" };
            return format!("file{s} {}", self.incomplete_files.join(", "));
        }
        let dropping = |c: &&CaptureCounters| c.dropped_pipeline + c.dropped_kernel + c.dropped_iface > 0;
        let mut names: Vec<&str> = self.capture.iter().filter(dropping).map(|c| c.iface.as_str()).collect();
        if names.is_empty() || self.core.unjudged() + self.dropped_at_stop > 0 {
            names = self.capture.iter().map(|c| c.iface.as_str()).collect();
        }
        names.dedup();
        match names.len() {
            0 => "the input".to_string(),
            1 => format!("interface {}", names[0]),
            _ => format!("interfaces {}", names.join(", ")),
        }
    }
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

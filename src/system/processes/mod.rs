//! Which program sent each DNS message: socket facts (`dnsleak_core::SocketOwner`) for the
//! core's process table, from eBPF when it loads, else from sock_diag and /proc.
//!
//! How a fact reaches the core in order with its packet: the eBPF program writes a socket's
//! record to a ring buffer when the kernel hands the socket's packet to a device, before any
//! packet socket (libpcap) can see it. The pipeline thread calls [`Attributor::drain`] right
//! before it processes each batch of frames, and takes the facts in before the frames: every
//! frame in the batch was captured after its record was written, so its record is already in
//! the ring. (A frame's capture happens-after the record's commit; the capture thread's channel
//! send happens-after the capture; the pipeline's receive happens-after the send; the ring's
//! producer position is published with release and read with acquire.) A miss (no record:
//! the fallback, a socket older than the loader, a full ring) is counted and never waited for.
//!
//! Methods and their coverage:
//! - `ebpf`: every UDP and TCP socket of the captured network namespace, from its first
//!   packet, however short its life; processes started before dnsleak are named from /proc.
//! - `sock_diag`: sockets that live longer than a scan interval (500 ms); `dig` is missed.

pub mod names;
pub mod procfs;
pub mod record;

#[cfg(dnsleak_ebpf)]
mod ebpf;
mod scan_thread;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use dnsleak_core::{SocketOwner, Ts};

use names::Programs;
use procfs::ScanStats;
use record::{Record, SockRec};
use scan_thread::ScanThread;

/// Whether this build has the eBPF program (clang was there at build time).
pub const EBPF_BUILT_IN: bool = cfg!(dnsleak_ebpf);

/// Peer ports whose sockets are attributed: DNS, DoT and DoQ, DoH and DoH3, mDNS, LLMNR.
pub const DNS_PORTS: [u16; 5] = [53, 853, 443, 5353, 5355];

/// How sockets are attributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Ebpf,
    SockDiag,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Ebpf => "ebpf",
            Method::SockDiag => "sock_diag",
        }
    }

    /// What the method sees, in a sentence.
    pub fn coverage(self) -> &'static str {
        match self {
            Method::Ebpf => "every socket from its first packet, short-lived ones included",
            Method::SockDiag => "only sockets that stay open across a scan (every 500 ms); short-lived programs such as dig are missed",
        }
    }
}

/// How to start an [`Attributor`].
#[derive(Debug, Clone)]
pub struct Options {
    /// The network namespace whose sockets are attributed (inode number); `None`: the calling
    /// thread's (the one being captured).
    pub netns: Option<u64>,
    pub ports: Vec<u16>,
    /// `false` goes straight to the fallback.
    pub allow_ebpf: bool,
    pub scan_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            netns: None,
            ports: DNS_PORTS.to_vec(),
            allow_ebpf: true,
            scan_interval: Duration::from_millis(500),
        }
    }
}

/// Counters of the system side (the core counts attributed / unattributed per message).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttributorStats {
    /// Records read from the kernel (eBPF).
    pub records: u64,
    /// Records the kernel wrote, and those it could not write (ring full).
    pub written: u64,
    pub lost: u64,
    /// Socket records whose owner was unknown (the socket predates the loader); each asks the
    /// fallback scan to look.
    pub unowned: u64,
    /// Records of another network namespace, dropped.
    pub foreign: u64,
    pub undecodable: u64,
    pub execs: u64,
    /// Facts handed out.
    pub facts: u64,
    /// Processes named by their thread only (gone before their name could be read).
    pub unnamed: u64,
    pub scan: ScanStats,
}

/// Converts the kernel's CLOCK_MONOTONIC to trace time (wall clock), as captures stamp it.
#[derive(Debug, Clone, Copy)]
struct Clock {
    offset_ns: i64,
}

impl Clock {
    fn now() -> Clock {
        let ns = |t: rustix::time::Timespec| t.tv_sec.saturating_mul(1_000_000_000).saturating_add(t.tv_nsec);
        // The wall clock read between two monotonic reads: their midpoint is its instant.
        let m1 = ns(rustix::time::clock_gettime(rustix::time::ClockId::Monotonic));
        let real = ns(rustix::time::clock_gettime(rustix::time::ClockId::Realtime));
        let m2 = ns(rustix::time::clock_gettime(rustix::time::ClockId::Monotonic));
        Clock { offset_ns: real.saturating_sub(m1 / 2 + m2 / 2) }
    }

    fn ts(self, mono_ns: u64) -> Ts {
        Ts((mono_ns.min(i64::MAX as u64) as i64).saturating_add(self.offset_ns))
    }

    fn wall_now(self) -> Ts {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        self.ts((t.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec as u64))
    }
}

/// The network namespace of the calling thread (inode number of /proc/thread-self/ns/net).
pub fn current_netns() -> std::io::Result<u64> {
    Ok(std::fs::metadata("/proc/thread-self/ns/net")?.ino())
}

/// Socket facts from the OS: start it (with the privileges to load eBPF, then drop them with
/// `privilege::keep_only_capture_caps`), and call [`Attributor::drain`] before each batch of
/// frames. Its scan thread keeps CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH for itself alone.
pub struct Attributor {
    method: Method,
    why_not_ebpf: Option<String>,
    netns: u64,
    clock: Clock,
    /// Whether `clock` was taken during this drain.
    clock_fresh: bool,
    programs: Programs,
    #[cfg(dnsleak_ebpf)]
    ebpf: Option<ebpf::Loaded>,
    scanner: ScanThread,
    stats: AttributorStats,
}

impl Attributor {
    /// Loads eBPF if it can, else starts the fallback; says why in [`Attributor::describe`].
    /// Fails only when neither works (no sock_diag either).
    pub fn start(opts: &Options) -> anyhow::Result<Attributor> {
        let netns = match opts.netns {
            Some(n) => n,
            None => current_netns()
                .map_err(|e| anyhow::anyhow!("reading this thread's network namespace: {e}"))?,
        };
        let (loaded, why_not_ebpf) = load_ebpf(opts, netns);
        let method = if loaded.is_some() { Method::Ebpf } else { Method::SockDiag };
        #[cfg(not(dnsleak_ebpf))]
        let _: Option<()> = loaded;
        // The fallback checks it can list sockets before it is relied on.
        if method == Method::SockDiag {
            procfs::dump_sockets().map_err(|e| {
                anyhow::anyhow!(
                    "process attribution is unavailable: eBPF: {}; sock_diag: {e:#}",
                    why_not_ebpf.as_deref().unwrap_or("not tried")
                )
            })?;
        }
        let periodic = (method == Method::SockDiag).then_some(opts.scan_interval);
        let scanner = ScanThread::start(&opts.ports, netns, periodic, opts.scan_interval)?;
        Ok(Attributor {
            method,
            why_not_ebpf,
            netns,
            clock: Clock::now(),
            clock_fresh: false,
            programs: Programs::new(8192),
            #[cfg(dnsleak_ebpf)]
            ebpf: loaded,
            scanner,
            stats: AttributorStats::default(),
        })
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// The network namespace attributed (inode number).
    pub fn netns(&self) -> u64 {
        self.netns
    }

    /// One line for the user: the method, what it covers, and why eBPF is not used.
    pub fn describe(&self) -> String {
        let mut s = format!("process attribution: {} ({})", self.method.as_str(), self.method.coverage());
        if let Some(why) = &self.why_not_ebpf {
            s.push_str(&format!("; eBPF not used: {why}"));
        }
        s
    }

    /// Appends every fact available now to `out` and returns how many; never blocks. Called
    /// before every frame: with nothing waiting it costs two reads of the ring's positions and
    /// a look at an empty channel, and allocates nothing.
    pub fn drain(&mut self, out: &mut Vec<SocketOwner>) -> usize {
        let before = out.len();
        // The wall clock may be slewed against the monotonic one (NTP): their offset is taken
        // anew for each batch of records (`take_sock`), so a record's time stays within
        // microseconds of its packet's capture time.
        self.clock_fresh = false;
        #[cfg(dnsleak_ebpf)]
        self.drain_ebpf(out);
        self.scanner.drain(out);
        let n = out.len() - before;
        self.stats.facts += n as u64;
        n
    }

    #[cfg(dnsleak_ebpf)]
    fn drain_ebpf(&mut self, out: &mut Vec<SocketOwner>) {
        // Taken out for the loop, so each record can be handed to `take` as it is read.
        let Some(mut loaded) = self.ebpf.take() else { return };
        loaded.drain(|r| self.take(r, out));
        self.ebpf = Some(loaded);
    }

    /// Takes in one record read from the kernel (`None`: it did not decode), appending the
    /// fact it gives, if any.
    pub fn take(&mut self, record: Option<Record>, out: &mut Vec<SocketOwner>) {
        self.stats.records += 1;
        match record {
            None => self.stats.undecodable += 1,
            Some(Record::Exec(e)) => {
                self.stats.execs += 1;
                self.programs.exec(e.tgid, &e.comm, &e.exe);
            }
            Some(Record::Sock(s)) => self.take_sock(s, out),
        }
    }

    fn take_sock(&mut self, s: SockRec, out: &mut Vec<SocketOwner>) {
        if u64::from(s.netns) != self.netns {
            self.stats.foreign += 1;
            return;
        }
        if s.tgid == 0 {
            self.stats.unowned += 1;
            self.scanner.poke();
            return;
        }
        if !self.clock_fresh {
            self.clock = Clock::now();
            self.clock_fresh = true;
        }
        let process = self.programs.process(s.tgid, Some(s.uid), &s.thread);
        out.push(SocketOwner {
            proto: s.proto,
            local: s.local,
            remote: s.remote,
            process,
            netns: self.netns,
            ts: self.clock.ts(s.mono_ns),
        });
    }

    /// The time now, in trace time (for facts that come without one).
    pub fn now(&self) -> Ts {
        self.clock.wall_now()
    }

    pub fn stats(&self) -> AttributorStats {
        let mut s = self.stats;
        #[cfg(dnsleak_ebpf)]
        if let Some(l) = &self.ebpf {
            let k = l.counts();
            s.written = k.written;
            s.lost = k.lost;
        }
        s.unnamed = self.programs.unnamed;
        s.scan = self.scanner.stats();
        s
    }
}

#[cfg(dnsleak_ebpf)]
fn load_ebpf(opts: &Options, netns: u64) -> (Option<ebpf::Loaded>, Option<String>) {
    if !opts.allow_ebpf {
        return (None, Some("turned off".into()));
    }
    let Ok(inum) = u32::try_from(netns) else {
        return (None, Some(format!("network namespace {netns} is not a 32-bit inode number")));
    };
    match ebpf::load(inum, &opts.ports) {
        Ok(l) => (Some(l), None),
        Err(e) => {
            let missing = crate::system::privilege::missing_for_ebpf();
            let why = if missing.is_empty() {
                format!("{e:#}")
            } else {
                let names: Vec<String> = missing.iter().map(|c| c.to_string()).collect();
                format!(
                    "{e:#} (this process lacks {}: {})",
                    names.join(" and "),
                    crate::system::privilege::HOW_TO_FIX
                )
            };
            (None, Some(why))
        }
    }
}

#[cfg(not(dnsleak_ebpf))]
fn load_ebpf(_: &Options, _: u64) -> (Option<()>, Option<String>) {
    (None, Some("this dnsleak was built without eBPF (clang was missing at build time)".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsleak_core::SockProto;
    use record::ExecRec;

    fn fallback() -> Attributor {
        let opts =
            Options { allow_ebpf: false, scan_interval: Duration::from_secs(3600), ..Options::default() };
        Attributor::start(&opts).expect("sock_diag works without privileges")
    }

    fn sock(netns: u64, tgid: u32) -> Record {
        Record::Sock(SockRec {
            proto: SockProto::Udp,
            local: "192.0.2.2:40000".parse().unwrap(),
            remote: "192.0.2.1:53".parse().unwrap(),
            netns: netns as u32,
            tgid,
            uid: 0,
            mono_ns: 5_000_000_000,
            cookie: 9,
            thread: "isc-net-0000".into(),
        })
    }

    #[test]
    fn a_record_becomes_a_fact_named_by_the_exec_before_it() {
        let mut a = fallback();
        assert_eq!(a.method(), Method::SockDiag);
        assert!(a.describe().contains("eBPF not used: turned off"), "{}", a.describe());
        let mut out = Vec::new();
        let exec = ExecRec {
            tgid: 4_000_001,
            netns: a.netns() as u32,
            mono_ns: 1,
            comm: "dig".into(),
            exe: "/usr/bin/dig".into(),
        };
        a.take(Some(Record::Exec(exec)), &mut out);
        a.take(Some(sock(a.netns(), 4_000_001)), &mut out);
        assert_eq!(out.len(), 1);
        let f = &out[0];
        assert_eq!(
            (f.process.pid, f.process.name.as_str(), f.process.exe.as_deref()),
            (4_000_001, "dig", Some("/usr/bin/dig"))
        );
        assert_eq!((f.proto, f.netns), (SockProto::Udp, a.netns()));
        // Monotonic 5 s is converted to the wall clock: well after the epoch.
        assert!(f.ts.as_secs_f64() > 1.0e9);
    }

    #[test]
    fn another_namespace_an_unknown_owner_and_garbage_are_counted_not_told() {
        let mut a = fallback();
        let mut out = Vec::new();
        a.take(Some(sock(a.netns() + 1, 4_000_002)), &mut out);
        a.take(Some(sock(a.netns(), 0)), &mut out);
        a.take(None, &mut out);
        assert!(out.is_empty());
        let s = a.stats();
        assert_eq!((s.records, s.foreign, s.unowned, s.undecodable), (3, 1, 1, 1));
    }
}

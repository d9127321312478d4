//! The fallback scan on a thread of its own, so its system calls (sock_diag, a walk of /proc)
//! never hold up the pipeline: it scans every interval (the fallback method) or when poked
//! (eBPF saw a socket older than itself), at most once per interval, and hands facts back
//! through a bounded channel (what does not fit is counted, never waited for). Start it before
//! the caller drops capabilities: it keeps CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH for itself.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use dnsleak_core::{SocketOwner, Ts};

use super::procfs::{ScanStats, Scanner};

const FACTS_IN_FLIGHT: usize = 4096;

/// A running scan thread; dropping it stops the thread.
pub struct ScanThread {
    facts: Receiver<SocketOwner>,
    poke: Option<Sender<()>>,
    shared: Arc<Mutex<ScanStats>>,
    handle: Option<JoinHandle<()>>,
}

fn wall_now() -> Ts {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Ts::from_secs_nanos(d.as_secs() as i64, d.subsec_nanos())
}

impl ScanThread {
    /// Starts the thread; `periodic` scans every that long, else only when poked.
    pub fn start(
        ports: &[u16],
        netns: u64,
        periodic: Option<Duration>,
        min_gap: Duration,
    ) -> anyhow::Result<ScanThread> {
        let (fact_tx, facts) = bounded(FACTS_IN_FLIGHT);
        let (poke, poked) = bounded(1);
        let shared = Arc::new(Mutex::new(ScanStats::default()));
        let mut scanner = Scanner::new(ports, netns);
        let sh = shared.clone();
        let handle = std::thread::Builder::new()
            .name("dnsleak-procs".into())
            .spawn(move || {
                // Capabilities are per thread: this one keeps what reading /proc/PID/fd of
                // other processes needs (and, until the monitor switches to `--user`, what
                // following that switch needs), and nothing else, whatever the caller keeps.
                settle_caps(&sh);
                run(&mut scanner, &poked, &fact_tx, &sh, periodic, min_gap)
            })
            .context("starting the process scan thread")?;
        Ok(ScanThread { facts, poke: Some(poke), shared, handle: Some(handle) })
    }

    /// Asks for a scan soon (a no-op when one is already asked for).
    pub fn poke(&self) {
        if let Some(p) = &self.poke {
            let _ = p.try_send(());
        }
    }

    /// Appends the facts found so far.
    pub fn drain(&self, out: &mut Vec<SocketOwner>) {
        out.extend(self.facts.try_iter());
    }

    pub fn stats(&self) -> ScanStats {
        self.shared.lock().map(|s| *s).unwrap_or_default()
    }
}

impl Drop for ScanThread {
    fn drop(&mut self) {
        // Closing the poke channel ends the thread's wait at once.
        self.poke = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// See `privilege::settle_scan_caps`; a failure is counted as a scan error.
fn settle_caps(shared: &Mutex<ScanStats>) {
    if crate::system::privilege::settle_scan_caps().is_err() {
        if let Ok(mut s) = shared.lock() {
            s.errors += 1;
        }
    }
}

fn run(
    scanner: &mut Scanner,
    poked: &Receiver<()>,
    facts: &Sender<SocketOwner>,
    shared: &Mutex<ScanStats>,
    periodic: Option<Duration>,
    min_gap: Duration,
) {
    let mut last: Option<Instant> = None;
    let mut batch = Vec::new();
    loop {
        let wait = periodic.unwrap_or(Duration::from_secs(3600));
        match poked.recv_timeout(wait) {
            Ok(()) => {}
            Err(RecvTimeoutError::Timeout) if periodic.is_some() => {}
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // Pokes closer together than min_gap wait for the gap to pass.
        if let Some(at) = last {
            let since = at.elapsed();
            if since < min_gap {
                if let Err(RecvTimeoutError::Disconnected) = poked.recv_timeout(min_gap - since) {
                    return;
                }
            }
        }
        last = Some(Instant::now());
        settle_caps(shared);
        batch.clear();
        let _ = scanner.scan(wall_now(), &mut batch);
        let mut dropped = 0;
        for f in batch.drain(..) {
            match facts.try_send(f) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => dropped += 1,
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        if let Ok(mut s) = shared.lock() {
            *s = ScanStats { dropped: s.dropped + dropped, ..scanner.stats };
        }
    }
}

//! Program names and executable paths by process id: from exec records (a program that ran
//! for a millisecond is gone from /proc before anyone looks) and, for processes older than the
//! monitor, from /proc/PID/comm and /proc/PID/exe, read once per process and cached. Bounded:
//! the oldest entries go first, and /proc answers are re-read after `PROC_TTL` (a pid is reused).

use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, Instant};

use dnsleak_core::Process;
use foldhash::HashMap;
use smol_str::SmolStr;

/// How long a name read from /proc is trusted.
const PROC_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
struct Entry {
    name: SmolStr,
    exe: Option<SmolStr>,
    /// When it was read from /proc; `None` for an exec record (exact until the next exec).
    read: Option<Instant>,
}

/// The cache of program names.
#[derive(Debug)]
pub struct Programs {
    proc_root: Box<Path>,
    by_pid: HashMap<u32, Entry>,
    order: VecDeque<u32>,
    cap: usize,
    /// Processes whose name came from nowhere but the thread that used the socket.
    pub unnamed: u64,
}

impl Programs {
    pub fn new(cap: usize) -> Self {
        Programs::with_proc_root(cap, Path::new("/proc"))
    }

    /// A cache reading another /proc (tests).
    pub fn with_proc_root(cap: usize, root: &Path) -> Self {
        Programs {
            proc_root: root.into(),
            by_pid: HashMap::default(),
            order: VecDeque::new(),
            cap: cap.max(1),
            unnamed: 0,
        }
    }

    fn put(&mut self, pid: u32, e: Entry) {
        if self.by_pid.insert(pid, e).is_none() {
            self.order.push_back(pid);
            while self.by_pid.len() > self.cap {
                let Some(old) = self.order.pop_front() else { break };
                self.by_pid.remove(&old);
            }
        }
    }

    /// Takes in an exec: from now on `pid` is this program.
    pub fn exec(&mut self, pid: u32, comm: &str, exe: &str) {
        let exe = (!exe.is_empty()).then(|| SmolStr::new(exe));
        let name = if comm.is_empty() { base_name(exe.as_deref().unwrap_or("")) } else { SmolStr::new(comm) };
        self.put(pid, Entry { name, exe, read: None });
    }

    /// The process `pid`, named as well as can be known; `thread` (the name of the thread
    /// that used the socket) when nothing better is.
    pub fn process(&mut self, pid: u32, uid: Option<u32>, thread: &str) -> Process {
        let fresh = |e: &Entry| e.read.is_none_or(|at| at.elapsed() < PROC_TTL);
        let entry = match self.by_pid.get(&pid) {
            Some(e) if fresh(e) => Some(e.clone()),
            _ => self.read_proc(pid),
        };
        match entry {
            Some(e) => Process { pid, name: e.name, exe: e.exe, uid },
            None => {
                self.unnamed += 1;
                Process { pid, name: SmolStr::new(thread), exe: None, uid }
            }
        }
    }

    fn read_proc(&mut self, pid: u32) -> Option<Entry> {
        let dir = self.proc_root.join(pid.to_string());
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        let exe = std::fs::read_link(dir.join("exe")).ok().map(|p| SmolStr::new(p.to_string_lossy()));
        let e = Entry { name: SmolStr::new(comm.trim_end_matches('\n')), exe, read: Some(Instant::now()) };
        self.put(pid, e.clone());
        Some(e)
    }

    pub fn len(&self) -> usize {
        self.by_pid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }
}

fn base_name(path: &str) -> SmolStr {
    SmolStr::new(path.rsplit('/').next().unwrap_or(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exec_names_the_program_not_the_thread() {
        let mut p = Programs::new(16);
        p.exec(4_000_000, "dig", "/usr/bin/dig");
        let got = p.process(4_000_000, Some(0), "isc-net-0000");
        assert_eq!((got.name.as_str(), got.exe.as_deref()), ("dig", Some("/usr/bin/dig")));
    }

    #[test]
    fn a_live_process_is_read_from_proc() {
        let mut p = Programs::new(16);
        let me = std::process::id();
        let got = p.process(me, None, "thread");
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(got.name, comm.trim_end());
        assert_eq!(got.exe.as_deref(), std::env::current_exe().ok().as_deref().and_then(|e| e.to_str()));
        assert_eq!(p.unnamed, 0);
    }

    #[test]
    fn a_process_gone_without_exec_is_named_by_its_thread() {
        let dir = std::env::temp_dir().join(format!("dnsleak-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut p = Programs::with_proc_root(16, &dir);
        let got = p.process(12345, None, "worker");
        assert_eq!(got.name, "worker");
        assert_eq!(p.unnamed, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_cache_is_bounded_oldest_first() {
        let mut p = Programs::new(3);
        for pid in 1..=10 {
            p.exec(4_000_000 + pid, "x", "/bin/x");
        }
        assert_eq!(p.len(), 3);
        assert!(p.by_pid.contains_key(&4_000_010));
        assert!(!p.by_pid.contains_key(&4_000_001));
    }

    #[test]
    fn an_exec_without_comm_takes_the_path_base_name() {
        let mut p = Programs::new(4);
        p.exec(4_000_001, "", "/usr/lib/firefox/firefox-bin");
        assert_eq!(p.process(4_000_001, None, "t").name, "firefox-bin");
    }
}

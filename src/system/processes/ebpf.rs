//! Loads bpf/attrib.bpf.c (compiled by build.rs) with aya, attaches it (cgroup-BPF on the
//! cgroup v2 root, BTF tracepoints), and reads its ring buffer without blocking.
//!
//! Everything is detached when `Loaded` is dropped (aya owns the links).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::{BtfTracePoint, CgroupAttachMode, CgroupSock, CgroupSockAddr};
use aya::{Btf, Ebpf, EbpfLoader};

use super::record::{self, Record};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/attrib.bpf.o"));

/// The loaded program and its maps.
pub struct Loaded {
    // Kept for its programs' links: dropping it detaches them.
    _ebpf: Ebpf,
    ring: RingBuf<MapData>,
    counts: PerCpuArray<MapData, u64>,
}

/// The kernel's counters: records lost (ring full) and written.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelCounts {
    pub lost: u64,
    pub written: u64,
}

/// Where cgroup v2 is mounted, as /proc/self/mountinfo says (/sys/fs/cgroup/unified on a
/// hybrid system, /sys/fs/cgroup on a pure v2 one). `ip netns exec` gives its programs a /sys of
/// their own without the cgroup mounts: then the nearest ancestor process that sees the mount
/// lends its view, through /proc/PID/root.
fn cgroup2_root() -> anyhow::Result<PathBuf> {
    let mut pid = "self".to_string();
    for _ in 0..64 {
        if let Some(p) = cgroup2_mount(&format!("/proc/{pid}/mountinfo")) {
            if pid == "self" {
                return Ok(p);
            }
            let through = Path::new("/proc").join(&pid).join("root").join(p.strip_prefix("/").unwrap_or(&p));
            if through.is_dir() {
                return Ok(through);
            }
        }
        match parent_of(&pid) {
            Some(ppid) if ppid != 0 => pid = ppid.to_string(),
            _ => break,
        }
    }
    Err(anyhow!("no cgroup v2 file system is mounted (mount -t cgroup2 none /sys/fs/cgroup/unified)"))
}

fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    let info = std::fs::read_to_string(mountinfo).ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mount_point = pre.split_whitespace().nth(4)?;
        (post.split_whitespace().next()? == "cgroup2").then(|| PathBuf::from(mount_point))
    })
}

/// The parent process id, from /proc/PID/stat (after the command name's closing parenthesis).
fn parent_of(pid: &str) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// Loads and attaches everything; only sockets of network namespace `netns` (an inode
/// number; 0: all) whose peer port is one of `ports` are reported.
pub fn load(netns: u32, ports: &[u16]) -> anyhow::Result<Loaded> {
    let btf = Btf::from_sys_fs().context("reading the kernel's BTF (/sys/kernel/btf/vmlinux)")?;
    let mut ebpf = EbpfLoader::new()
        .btf(Some(&btf))
        .set_global("target_netns", &netns, true)
        .load(OBJECT)
        .context("loading the eBPF object")?;
    let mut port_map: BpfHashMap<_, u16, u8> =
        BpfHashMap::try_from(ebpf.map_mut("ports").ok_or_else(|| anyhow!("no ports map"))?)?;
    for p in ports.iter().take(64) {
        port_map.insert(p, 1, 0).context("filling the ports map")?;
    }
    // Names first, then owners, then the packets that need both.
    attach_tracepoint(&mut ebpf, &btf, "exec", "sched_process_exec")?;
    // Attached as links (kernel 5.7 and later), which live beside any other program on the
    // cgroup: the kernel refuses an attach mode flag on a link, so none is given.
    let root = cgroup2_root()?;
    let cgroup = File::open(&root).with_context(|| format!("opening the cgroup {}", root.display()))?;
    for name in ["sock_create", "sock_release"] {
        let p: &mut CgroupSock = program(&mut ebpf, name)?.try_into()?;
        p.load().with_context(|| format!("loading {name}"))?;
        p.attach(&cgroup, CgroupAttachMode::Single)
            .with_context(|| format!("attaching {name} to {}", root.display()))?;
    }
    for name in ["connect4", "connect6", "sendmsg4", "sendmsg6"] {
        let p: &mut CgroupSockAddr = program(&mut ebpf, name)?.try_into()?;
        p.load().with_context(|| format!("loading {name}"))?;
        p.attach(&cgroup, CgroupAttachMode::Single)
            .with_context(|| format!("attaching {name} to {}", root.display()))?;
    }
    attach_tracepoint(&mut ebpf, &btf, "dev_queue", "net_dev_queue")?;
    let ring = RingBuf::try_from(ebpf.take_map("records").ok_or_else(|| anyhow!("no records map"))?)?;
    let counts = PerCpuArray::try_from(ebpf.take_map("counts").ok_or_else(|| anyhow!("no counts map"))?)?;
    Ok(Loaded { _ebpf: ebpf, ring, counts })
}

fn program<'a>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<&'a mut aya::programs::Program> {
    ebpf.program_mut(name).ok_or_else(|| anyhow!("the eBPF object has no program {name}"))
}

fn attach_tracepoint(ebpf: &mut Ebpf, btf: &Btf, name: &str, tracepoint: &str) -> anyhow::Result<()> {
    let p: &mut BtfTracePoint = program(ebpf, name)?.try_into()?;
    p.load(tracepoint, btf).with_context(|| format!("loading {name} for tracepoint {tracepoint}"))?;
    p.attach().with_context(|| format!("attaching {name} to tracepoint {tracepoint}"))?;
    Ok(())
}

impl Loaded {
    /// Hands every record waiting in the ring to `f` (and `None` for one that does not
    /// decode); returns how many were read. Never blocks.
    pub fn drain(&mut self, mut f: impl FnMut(Option<Record>)) -> usize {
        let mut n = 0;
        while let Some(item) = self.ring.next() {
            f(record::parse(&item));
            n += 1;
        }
        n
    }

    /// The kernel side's counters, summed over CPUs.
    pub fn counts(&self) -> KernelCounts {
        let sum = |i: u32| self.counts.get(&i, 0).map(|v| v.iter().sum()).unwrap_or(0);
        KernelCounts { lost: sum(0), written: sum(1) }
    }
}

//! Capture privileges: say exactly what is missing before anything starts, keep only what
//! capture needs once the first captures are open (`sandbox::lock_down` calls it), and say
//! why a `--write` file could not be created.

use anyhow::{bail, Context};
use caps::{CapSet, Capability, CapsHashSet};

/// How to give dnsleak what live capture needs, for error messages.
pub const HOW_TO_FIX: &str = "run it as root (sudo dnsleak ...), or let it capture without root once with: \
sudo setcap cap_net_raw,cap_net_admin,cap_bpf,cap_perfmon=eip \"$(command -v dnsleak)\"";

/// What naming the program behind each socket with eBPF needs besides capture's: loading
/// (CAP_BPF for the maps and programs, CAP_PERFMON for tracepoints that read kernel memory;
/// CAP_SYS_ADMIN instead of both before Linux 5.8). Attaching to the cgroup needs
/// CAP_NET_ADMIN, which capture keeps anyway.
pub fn ebpf_caps() -> CapsHashSet {
    [Capability::CAP_BPF, Capability::CAP_PERFMON].into_iter().collect()
}

/// The capabilities loading eBPF needs that this thread lacks (none when it has them, or
/// CAP_SYS_ADMIN), for the message that says why the fallback is used.
pub fn missing_for_ebpf() -> Vec<Capability> {
    let Ok(effective) = caps::read(None, CapSet::Effective) else { return ebpf_caps().into_iter().collect() };
    if effective.contains(&Capability::CAP_SYS_ADMIN) {
        return Vec::new();
    }
    let mut missing: Vec<Capability> = ebpf_caps().difference(&effective).copied().collect();
    missing.sort_by_key(|c| c.index());
    missing
}

/// The capabilities live capture keeps: packet sockets (NET_RAW) and interface settings that
/// libpcap may touch when it opens a new interface (NET_ADMIN).
pub fn capture_caps() -> CapsHashSet {
    [Capability::CAP_NET_RAW, Capability::CAP_NET_ADMIN].into_iter().collect()
}

/// Fails with a message naming what is missing and how to fix it when this process cannot
/// open packet captures.
pub fn check() -> anyhow::Result<()> {
    let effective = caps::read(None, CapSet::Effective)
        .context("cannot read this process's capabilities (is /proc mounted?)")?;
    if effective.contains(&Capability::CAP_NET_RAW) {
        return Ok(());
    }
    let uid = rustix::process::geteuid();
    let who = if uid.is_root() {
        "it runs as root but without the CAP_NET_RAW capability (a container or a capability bounding set took it away)".to_string()
    } else {
        format!("it runs as user id {} without the CAP_NET_RAW capability", uid.as_raw())
    };
    bail!("live capture is not allowed: {who}, and opening a packet capture needs CAP_NET_RAW: {HOW_TO_FIX}")
}

/// What the fallback's scan thread keeps to see which process holds a socket: reading
/// /proc/PID/fd of another user's process, or of one with more capabilities than dnsleak kept.
pub fn scan_caps() -> CapsHashSet {
    [Capability::CAP_SYS_PTRACE, Capability::CAP_DAC_READ_SEARCH].into_iter().collect()
}

/// What a thread started before the monitor switches to `--user` keeps until then beside its
/// own: glibc's setuid switches every thread, each with its own capabilities, and aborts the
/// process when one of them cannot follow (no CAP_SETUID or CAP_SETGID); CAP_SETPCAP lets the
/// switch shrink the bounding set once more.
pub fn switch_caps() -> CapsHashSet {
    [Capability::CAP_SETUID, Capability::CAP_SETGID, Capability::CAP_SETPCAP].into_iter().collect()
}

/// Set once the monitor has switched to `--user` (or decided to stay who it is).
static SWITCHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Says that the switch to `--user` is done (`sandbox::lock_down`).
pub fn mark_switched() {
    SWITCHED.store(true, std::sync::atomic::Ordering::Release);
}

/// For the process scan thread, before each scan: until the user switch, the scan's
/// capabilities and the switch's, kept across it (keep-caps, this thread's own); once switched,
/// only the scan's, raised again (a uid change from root clears the effective set).
pub fn settle_scan_caps() -> anyhow::Result<()> {
    if !SWITCHED.load(std::sync::atomic::Ordering::Acquire) {
        caps::securebits::set_keepcaps(true).context("keeping capabilities across the user switch")?;
        keep_only(&scan_caps().union(&switch_caps()).copied().collect())
    } else {
        keep_only(&scan_caps())
    }
}

/// Drops every capability but `keep` (those of them this thread has) from this thread's
/// effective, permitted and inheritable sets.
pub fn keep_only(keep: &CapsHashSet) -> anyhow::Result<()> {
    let keep: CapsHashSet = keep
        .intersection(&caps::read(None, CapSet::Permitted).context("reading permitted capabilities")?)
        .copied()
        .collect();
    caps::clear(None, CapSet::Inheritable).context("clearing inheritable capabilities")?;
    caps::set(None, CapSet::Effective, &keep).context("dropping effective capabilities")?;
    caps::set(None, CapSet::Permitted, &keep).context("dropping permitted capabilities")?;
    // Ambient capabilities are only in kernels since 4.3; their absence is not an error.
    let _ = caps::clear(None, CapSet::Ambient);
    Ok(())
}

/// Drops every capability but those capture needs from this thread's effective, permitted
/// and inheritable sets (threads started afterwards inherit that): everything root has, and
/// CAP_BPF and CAP_PERFMON that `setcap` gave for loading eBPF. Call it once the eBPF program
/// is loaded and before any other thread starts.
pub fn keep_only_capture_caps() -> anyhow::Result<()> {
    keep_only(&capture_caps())
}

/// Says why `--write FILE` could not be created, and how to fix it: which user dnsleak runs
/// as and what the directory allows.
pub fn explain_create_error(path: &std::path::Path, err: &std::io::Error) -> String {
    use std::os::unix::fs::MetadataExt;
    let uid = nix::unistd::geteuid();
    let who = user_name(uid.as_raw());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut out = format!("cannot create {} for --write: {err}", path.display());
    if err.kind() == std::io::ErrorKind::PermissionDenied {
        let owner = std::fs::metadata(&dir)
            .ok()
            .map(|m| format!(" (owner {}, mode {:o})", user_name(m.uid()), m.mode() & 0o7777));
        out.push_str(&format!(
            ": dnsleak runs as {who} (uid {uid}), and the directory {}{} does not let it create files; \
             give --write a path in a directory {who} may write to (the file is created before \
             dnsleak gives up root)",
            dir.display(),
            owner.unwrap_or_default(),
        ));
    }
    out
}

/// The name of user `uid` (from the user database), or `uid N`.
fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {uid}"), |u| u.name)
}

/// This thread (and every process it starts) holds no capability and cannot gain any through
/// execve: every set cleared and no_new_privs set. For the thread that runs `--on-leak`
/// commands (capabilities and no_new_privs are per thread, inherited by what it starts).
pub fn give_up_all() -> std::io::Result<()> {
    rustix::thread::set_no_new_privs(true)?;
    // Ambient capabilities exist since Linux 4.3; where they do not, there are none to clear.
    let _ = caps::clear(None, CapSet::Ambient);
    for set in [CapSet::Inheritable, CapSet::Effective, CapSet::Permitted] {
        caps::clear(None, set).map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_caps_are_raw_and_admin() {
        let c = capture_caps();
        assert_eq!(c.len(), 2);
        assert!(c.contains(&Capability::CAP_NET_RAW));
    }

    #[test]
    fn drop_keeps_only_capture_caps_in_a_thread() {
        // Capabilities are per thread on Linux: test in a thread of our own.
        std::thread::spawn(|| {
            keep_only_capture_caps().unwrap();
            let eff = caps::read(None, CapSet::Effective).unwrap();
            assert!(eff.is_subset(&capture_caps()), "{eff:?}");
            assert!(!eff.contains(&Capability::CAP_SYS_ADMIN));
            assert!(!eff.contains(&Capability::CAP_BPF));
            assert!(missing_for_ebpf().contains(&Capability::CAP_BPF));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_write_error_says_who_and_where() {
        let dir = std::env::temp_dir().join(format!("dnsleak-explain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.pcapng");
        let err = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let text = explain_create_error(&path, &err);
        let _ = std::fs::remove_dir(&dir);
        assert!(text.contains(&format!("cannot create {} for --write", path.display())), "{text}");
        assert!(text.contains("dnsleak runs as"), "{text}");
        assert!(text.contains(&format!("the directory {} (owner ", dir.display())), "{text}");
        assert!(text.contains("mode 755)") || text.contains("mode 775)"), "{text}");
        assert!(text.contains("give --write a path in a directory"), "{text}");
    }
}

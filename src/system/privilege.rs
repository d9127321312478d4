//! Capture privileges: say exactly what is missing before anything starts, and why a `--write`
//! file could not be created. Giving up privileges once captures are open is `sandbox`'s.

use anyhow::{bail, Context};
use caps::{CapSet, Capability, CapsHashSet};

/// How to give dnsleak what live capture needs, for error messages.
pub const HOW_TO_FIX: &str = "run it as root (sudo dnsleak ...), or let it capture without root once with: \
sudo setcap cap_net_raw,cap_net_admin=eip \"$(command -v dnsleak)\"";

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
    let uid = nix::unistd::geteuid().as_raw();
    let who = if uid == 0 {
        "it runs as root but without the CAP_NET_RAW capability (a container or a capability bounding set took it away)".to_string()
    } else {
        format!("it runs as user id {uid} without the CAP_NET_RAW capability")
    };
    bail!("live capture is not allowed: {who}, and opening a packet capture needs CAP_NET_RAW: {HOW_TO_FIX}")
}

/// Says why `--write FILE` could not be created, and how to fix it: which user dnsleak runs
/// as and what the directory allows.
pub fn explain_create_error(path: &std::path::Path, err: &std::io::Error) -> String {
    use std::os::unix::fs::MetadataExt;
    let uid = nix::unistd::geteuid();
    let who =
        nix::unistd::User::from_uid(uid).ok().flatten().map_or_else(|| format!("uid {uid}"), |u| u.name);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut out = format!("cannot create {} for --write: {err}", path.display());
    if err.kind() == std::io::ErrorKind::PermissionDenied {
        let owner = std::fs::metadata(&dir).ok().map(|m| {
            let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(m.uid()))
                .ok()
                .flatten()
                .map_or_else(|| format!("uid {}", m.uid()), |u| u.name);
            format!(" (owner {name}, mode {:o})", m.mode() & 0o7777)
        });
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

//! Root stays root no longer (issue #13): once its first captures are open, a monitor started
//! as root runs as an unprivileged user with CAP_NET_RAW and CAP_NET_ADMIN only (also in its
//! bounding set), `no_new_privs` set and a system-call filter, on every thread; it still
//! captures an interface that appears afterwards. And `--write` into a directory dnsleak may
//! not write to says so.

mod netns;
mod support;

use std::process::Command;
use std::time::Duration;

use netns::*;

const WAIT: Duration = Duration::from_secs(10);
/// CAP_NET_ADMIN (12) and CAP_NET_RAW (13).
const CAPTURE_CAPS: u64 = (1 << 12) | (1 << 13);
/// What process attribution's scan thread keeps beside them: CAP_DAC_READ_SEARCH and
/// CAP_SYS_PTRACE (reading /proc/PID/fd of other users' processes).
const SCAN_CAPS: u64 = (1 << 2) | (1 << 19);

/// The capabilities thread `name` may hold once locked down.
fn allowed(name: &str) -> u64 {
    if name == "dnsleak-procs" {
        CAPTURE_CAPS | SCAN_CAPS
    } else {
        CAPTURE_CAPS
    }
}

fn need_root(what: &str) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "{what} needs root (network namespaces, packet capture, a user switch): run the tests as root"
    );
}

/// The fields of a /proc status file that say who a thread is.
#[derive(Debug, PartialEq, Eq)]
struct Who {
    uid: Vec<u32>,
    gid: Vec<u32>,
    cap_eff: u64,
    cap_prm: u64,
    cap_inh: u64,
    cap_bnd: u64,
    no_new_privs: bool,
    seccomp: u8,
}

fn who(status: &str) -> Who {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {status}"))
            .trim()
            .to_string()
    };
    let ids = |name: &str| field(name).split_whitespace().map(|v| v.parse().unwrap()).collect();
    let caps = |name: &str| u64::from_str_radix(&field(name), 16).unwrap();
    Who {
        uid: ids("Uid"),
        gid: ids("Gid"),
        cap_eff: caps("CapEff"),
        cap_prm: caps("CapPrm"),
        cap_inh: caps("CapInh"),
        cap_bnd: caps("CapBnd"),
        no_new_privs: field("NoNewPrivs") == "1",
        seccomp: field("Seccomp").parse().unwrap(),
    }
}

/// Every thread of process `pid`, as /proc shows it.
fn threads(pid: u32) -> Vec<(String, Who)> {
    let mut v = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default().trim().to_string();
        if !status.is_empty() {
            v.push((name, who(&status)));
        }
    }
    v
}

fn uid_of(name: &str) -> u32 {
    nix::unistd::User::from_name(name).unwrap().unwrap_or_else(|| panic!("no user {name}")).uid.as_raw()
}

#[test]
#[ignore = "root: network namespaces, WireGuard (wireguard-go, wireguard-tools), dnsmasq, dnsutils"]
fn a_monitor_started_as_root_runs_as_nobody_locked_down_and_still_opens_new_interfaces() {
    need_root("a_monitor_started_as_root_runs_as_nobody_locked_down_and_still_opens_new_interfaces");
    let w = World::up();
    let m = w.monitor(&[]);
    let nobody = uid_of("nobody");
    // The lock-down comes right after the first captures open, before their threads start.
    let mut seen = Vec::new();
    let locked = wait_until(WAIT, || {
        seen = threads(m.pid());
        seen.len() > 1 && seen.iter().all(|(n, w)| w.seccomp == 2 && w.cap_prm & !allowed(n) == 0)
    });
    assert!(locked, "not every thread is filtered: {seen:#?}");
    for (name, t) in &seen {
        assert_eq!(t.uid, [nobody; 4], "{name}: {t:?}");
        assert!(t.no_new_privs, "{name}: {t:?}");
        assert_eq!(t.cap_bnd, CAPTURE_CAPS, "{name}: bounding set {:x}", t.cap_bnd);
        assert_eq!(t.cap_inh, 0, "{name}");
        assert_eq!(t.cap_eff & !allowed(name), 0, "{name}: effective {:x}", t.cap_eff);
        assert_eq!(t.cap_prm & !allowed(name), 0, "{name}: permitted {:x}", t.cap_prm);
    }
    // Capture threads (and the interface watcher, which opens new captures) keep what capture
    // needs.
    let capture: Vec<_> =
        seen.iter().filter(|(n, _)| n.starts_with("capture-") || n == "interfaces").collect();
    assert!(!capture.is_empty(), "{seen:#?}");
    for (name, t) in capture {
        assert_eq!((t.cap_eff, t.cap_prm), (CAPTURE_CAPS, CAPTURE_CAPS), "{name}: {t:?}");
    }
    // A tunnel that goes and comes back is a new interface, opened after the lock-down.
    w.tunnel_kill();
    assert!(m.wait_for(WAIT, |l| notices(l, "tunnel_down") >= 1), "{}", m.stderr());
    w.tunnel_start();
    assert!(m.wait_for(WAIT, |l| notices(l, "tunnel_up") >= 2), "{}", m.stderr());
    w.dig(&["@198.51.100.1", "after-lockdown.example.com", "A"]);
    assert!(
        m.wait_for(WAIT, |l| has_exchange(l, "after-lockdown.example.com")),
        "the new tunnel interface was not captured: {}",
        m.stderr()
    );
    let (status, lines, err) = m.stop();
    let via: Vec<_> =
        summary(&lines, "after-lockdown.example.com").into_iter().map(|(_, i, v, _)| (i, v)).collect();
    assert!(via.iter().all(|(i, v)| i == &w.wg && v == "tunnel"), "{via:?}");
    assert!(!err.contains("system-call filter"), "{err}");
    assert!(status.code() == Some(0) || status.code() == Some(1), "{err}");
}

#[test]
#[ignore = "root: network namespaces, WireGuard (wireguard-go, wireguard-tools), dnsmasq"]
fn user_names_the_unprivileged_user_and_root_stays_root_with_the_rest_locked_down() {
    need_root("user_names_the_unprivileged_user_and_root_stays_root_with_the_rest_locked_down");
    let w = World::up();
    let daemon = uid_of("daemon");
    for (user, uid) in [("daemon", daemon), ("root", 0)] {
        let m = w.monitor(&["--user", user]);
        let mut seen = Vec::new();
        let locked = wait_until(WAIT, || {
            seen = threads(m.pid());
            seen.iter().all(|(n, w)| w.seccomp == 2 && w.no_new_privs && w.cap_prm & !allowed(n) == 0)
        });
        assert!(locked, "--user {user}: {seen:#?}");
        for (name, t) in &seen {
            assert_eq!(t.uid, [uid; 4], "--user {user}: {name}");
            assert_eq!(t.cap_bnd, CAPTURE_CAPS, "--user {user}: {name}");
            assert_eq!(t.cap_prm & !allowed(name), 0, "--user {user}: {name} keeps no other capability");
        }
        let (_, _, err) = m.stop();
        assert!(!err.contains("cannot"), "--user {user}: {err}");
    }
}

/// `--write` is opened before dnsleak gives up root; when it cannot be created, the error says
/// as which user, in which directory, and what to do. Here dnsleak runs as nobody with the
/// capture capabilities (as after `setcap`), and the directory is root's.
#[test]
#[ignore = "root: setpriv (util-linux) to run dnsleak as nobody with CAP_NET_RAW"]
fn a_write_file_that_cannot_be_created_says_who_where_and_what_to_do() {
    need_root("a_write_file_that_cannot_be_created_says_who_where_and_what_to_do");
    let dir = std::env::temp_dir().join(format!("dnsleak-write-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let file = dir.join("capture.pcapng");
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .args(["--inh-caps=+net_raw,+net_admin", "--ambient-caps=+net_raw,+net_admin"])
        .arg(DNSLEAK)
        .args(["monitor", "--json", "--duration", "1", "-w"])
        .arg(&file)
        .output()
        .expect("setpriv (util-linux)");
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("cannot create {} for --write", file.display())), "{err}");
    assert!(err.contains("dnsleak runs as nobody"), "{err}");
    assert!(err.contains(&format!("the directory {} (owner root, mode 755)", dir.display())), "{err}");
    assert!(err.contains("give --write a path in a directory nobody may write to"), "{err}");
}

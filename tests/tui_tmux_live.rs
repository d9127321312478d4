//! `dnsleak monitor` on a terminal opens the dashboard, live: in the namespace test network
//! (`tests/netns/world.sh`, a real WireGuard tunnel and real resolvers), run in a detached tmux
//! session; `dig` through the tunnel and to the LAN resolver; the screen must show the tunnel up,
//! both names, and LEAKING; the tunnel is killed (DOWN, the kill-switch notice, the leak while
//! down) and restarted (up again); `q` ends it with status 1 and the terminal restored. The network is
//! always torn down (processes ended by PID). Marked `root:`: it needs root, tmux and the test
//! network's tools, and fails naming what is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod netns;
mod support;
use support::tmux::{Tmux, DEADLINE};

struct World {
    dir: PathBuf,
    ns_client: String,
    wg: String,
}

impl World {
    fn up(prefix: &str) -> World {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns/world.sh");
        let dir = std::env::temp_dir().join(format!("dnsleak-tui-world-{}", std::process::id()));
        let out = Command::new(&script).arg("up").arg(&dir).arg(prefix).output().unwrap();
        let world = World { dir, ns_client: format!("dl-{prefix}-client"), wg: format!("wg{prefix}") };
        assert!(out.status.success(), "world.sh up failed: {}", String::from_utf8_lossy(&out.stderr));
        // The client's system resolver is the tunnel's (`ip netns exec` mounts this file over
        // /etc/resolv.conf): the configured side of "resolvers: configured vs seen".
        let etc = Path::new("/etc/netns").join(&world.ns_client);
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("resolv.conf"), "nameserver 198.51.100.1\n").unwrap();
        world
    }

    fn client(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip").args(["netns", "exec", &self.ns_client]).args(args).output().unwrap()
    }
}

impl World {
    fn script(&self, what: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns/world.sh");
        let out = Command::new(script).arg(what).arg(&self.dir).output().unwrap();
        assert!(out.status.success(), "world.sh {what} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns/world.sh");
        let _ = Command::new(script).arg("down").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(&self.ns_client));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
#[ignore = "root: namespace test network (tests/netns/world.sh) and tmux"]
fn monitor_on_a_terminal_opens_the_live_dashboard() {
    netns::require_world();
    support::require_tool("tmux", "tmux");
    let prefix = format!("{}", 7000 + std::process::id() % 1000);
    let world = World::up(&prefix);
    let netns = format!("ip netns exec '{}' ", world.ns_client);
    let t = Tmux::start_env("live", 100, 30, &["monitor"], &netns);
    let wg_up = format!("{} up", world.wg);
    let s = t.wait_for("the tunnel up", |s| s.contains(&wg_up) || s.contains("error:"));
    assert!(s.contains(&wg_up), "{s}");
    // One lookup through the tunnel, one to the LAN resolver (a leak); retried until seen, as
    // captures start asynchronously.
    let start = Instant::now();
    let both = |s: &str| s.contains("leaked.example.com") && s.contains("through.example.com");
    loop {
        world.client(&["dig", "+tries=1", "+time=1", "@198.51.100.1", "through.example.com"]);
        world.client(&["dig", "+tries=1", "+time=1", "@192.0.2.1", "leaked.example.com"]);
        if t.shows_within(Duration::from_secs(2), both) {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "the lookups never showed; screen:\n{}", t.screen());
    }
    let s = t.wait_for("LEAKING", |s| s.contains("LEAKING since"));
    assert!(s.contains("LEAK "), "{s}");
    assert!(s.contains("tunnel "), "{s}");
    // `r`: the resolver configuration the monitor read beside the resolvers seen; the LAN
    // resolver is named by no configuration.
    t.keys(&["r"]);
    t.wait_for("resolvers: configured vs seen", |s| {
        s.contains("Resolvers: configured vs seen")
            && s.contains("configured 198.51.100.1")
            && s.contains("192.0.2.1 dns")
            && s.contains("NOT CONFIGURED")
    });
    t.keys(&["r"]);
    t.wait_for("back to the events", |s| s.contains("Events (newest first)"));

    // Every thread (the UI thread too) keeps at most what capture needs, CAP_NET_ADMIN (12) and
    // CAP_NET_RAW (13), and the threads that capture keep exactly that; the UI thread, which
    // opens nothing, lost everything when dnsleak became an unprivileged user (issue #13).
    // Process attribution's scan thread (dnsleak-procs) may keep what reading other processes'
    // /proc/PID/fd needs: CAP_DAC_READ_SEARCH (2), CAP_SYS_PTRACE (19).
    let pid = t.app_pid();
    let capture = (1u64 << 12) | (1 << 13);
    let mut capturing = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let name = status.lines().find_map(|l| l.strip_prefix("Name:")).unwrap_or_default().trim();
        if let Some(eff) = status.lines().find_map(|l| l.strip_prefix("CapEff:")) {
            let eff = u64::from_str_radix(eff.trim(), 16).unwrap();
            let allowed = if name == "dnsleak-procs" { capture | (1 << 2) | (1 << 19) } else { capture };
            assert_eq!(
                eff & !allowed,
                0,
                "thread {name} ({:?}) keeps capabilities {eff:#x}",
                task.file_name()
            );
            capturing += usize::from(eff == capture);
        }
    }
    assert!(capturing > 0, "no thread keeps the capture capabilities");

    // The tunnel dies: the header says so at once, and DNS that falls back to the LAN leaks.
    world.script("tunnel-kill");
    t.wait_for("TUNNEL DOWN or LEAKING with the tunnel down", |s| s.contains(&format!("{} DOWN", world.wg)));
    world.client(&["dig", "+tries=1", "+time=1", "@198.51.100.1", "while-down.example.com"]);
    let s = t.wait_for("the leak while down", |s| s.contains("while-down.example.com"));
    assert!(s.contains("KILL SWITCH FAILED"), "{s}");
    world.script("tunnel-start");
    t.wait_for("the tunnel back up", |s| s.contains(&wg_up));
    t.keys(&["q"]);
    assert_eq!(t.wait_file("status").trim(), "1", "a leak was seen: exit 1");
    assert_eq!(t.display("#{alternate_on}"), "0");
    let stty = t.wait_file("stty");
    assert!(stty.contains(" icanon") && stty.contains(" echo"), "cooked mode restored: {stty}");
    // Once the dashboard closes, the final summary is printed (it was not, before).
    let s = t.screen();
    assert!(
        s.contains("dnsleak: captured for") && s.contains("dnsleak: LEAK:"),
        "the final summary follows: {s}"
    );
    // With the leaks grouped by cause, the fix once per cause.
    assert!(s.contains("dnsleak: why, and what to change (by cause):"), "{s}");
    assert!(s.contains("tunnel_down") || s.contains("lan_resolver"), "{s}");
}

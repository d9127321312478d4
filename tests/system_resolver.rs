//! The resolver configuration read from real daemons (root only): systemd-resolved and
//! NetworkManager from their Debian packages, never installed, each running in a network +
//! mount namespace of its own with a private system bus (tests/netns/daemons.sh). What
//! `dnsleak facts --json` reads there is what `resolvectl` / the keyfile configured; a change
//! is seen by the watcher; a daemon that is not running is said to be not running.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

mod netns;
mod support;

use netns::require_root_and;

const DNSLEAK: &str = env!("CARGO_BIN_EXE_dnsleak");

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns/daemons.sh")
}

/// One daemon in its namespace; `Drop` kills everything by PID.
struct Daemon {
    state: PathBuf,
    deb: PathBuf,
}

impl Daemon {
    fn up(kind: &str) -> Daemon {
        require_root_and(
            "network and mount namespaces of its own",
            &[
                ("dbus-daemon", "dbus-daemon"),
                ("nsenter", "util-linux"),
                ("apt-get", "apt"),
                ("ip", "iproute2"),
            ],
        );
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let state = tmp.join(format!("daemons-{kind}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        let d = Daemon { state, deb: tmp.join("debs") };
        let out =
            Command::new("bash").arg(script()).args(["up", kind]).arg(&d.state).arg(&d.deb).output().unwrap();
        assert!(out.status.success(), "daemons.sh up {kind}: {}", String::from_utf8_lossy(&out.stderr));
        d
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("bash");
        c.arg(script()).arg("exec").arg(&self.state).arg(program);
        c
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let out = self.cmd(program).args(args).stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    fn resolvectl(&self, args: &[&str]) {
        let bin = self.deb.join("resolved/usr/bin/resolvectl");
        self.run(bin.to_str().unwrap(), args);
    }

    /// `dnsleak facts --json`'s resolver part, read inside.
    fn resolver(&self) -> Value {
        let out = self.run(DNSLEAK, &["facts", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["resolver"].clone()
    }

    fn pid(&self, name: &str) -> String {
        std::fs::read_to_string(self.state.join(format!("{name}.pid"))).unwrap().trim().to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("down").arg(&self.state).output();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

fn link<'a>(resolved: &'a Value, iface: &str) -> &'a Value {
    resolved["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["iface"] == iface)
        .unwrap_or_else(|| panic!("{iface}: {resolved:#}"))
}

fn unread<'a>(r: &'a Value, source: &str) -> &'a str {
    r["unread"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["source"] == source)
        .and_then(|u| u["why"].as_str())
        .unwrap_or("")
}

#[test]
#[ignore = "root: namespaces, dbus-daemon, systemd-resolved unpacked from its Debian package (apt-get download)"]
fn systemd_resolved_per_link_settings_are_read_over_dbus() {
    let d = Daemon::up("resolved");
    d.resolvectl(&["dns", "eth0", "192.0.2.1", "fd00:1::1"]);
    d.resolvectl(&["dns", "wg0", "198.51.100.1"]);
    d.resolvectl(&["domain", "wg0", "~.", "corp.example"]);
    d.resolvectl(&["default-route", "eth0", "false"]);
    d.resolvectl(&["dnsovertls", "wg0", "opportunistic"]);
    let r = d.resolver();
    assert_eq!(r["manager"], "systemd-resolved", "{r:#}");
    assert_eq!(r["resolv_conf"]["target"], "../run/systemd/resolve/stub-resolv.conf");
    assert_eq!(r["resolv_conf"]["owner"], "systemd-resolved");
    assert_eq!(r["resolv_conf"]["nameservers"], json!(["127.0.0.53"]));
    let resolved = &r["systemd_resolved"];
    assert_eq!(resolved["resolv_conf_mode"], "stub");
    let eth0 = link(resolved, "eth0");
    assert_eq!(eth0["servers"], json!(["192.0.2.1", "fd00:1::1"]));
    assert_eq!(eth0["default_route"], false);
    let wg0 = link(resolved, "wg0");
    assert_eq!(wg0["servers"], json!(["198.51.100.1"]));
    assert_eq!(wg0["routing_domains"], json!(["."]));
    assert_eq!(wg0["domains"], json!(["corp.example"]));
    assert_eq!(wg0["default_route"], true);
    assert_eq!(wg0["dns_over_tls"], "opportunistic");
    assert!(unread(&r, "NetworkManager").contains("NetworkManager is not running"), "{r:#}");
}

#[test]
#[ignore = "root: namespaces, dbus-daemon, systemd-resolved unpacked from its Debian package (apt-get download)"]
fn the_watcher_sees_resolved_change_and_stop() {
    let d = Daemon::up("resolved");
    let mut child: Child =
        d.cmd(DNSLEAK).args(["facts", "--json", "--watch"]).stdout(Stdio::piped()).spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(serde_json::from_str::<Value>(&line).unwrap()).is_err() {
                break;
            }
        }
    });
    let wait_for = |what: &str, cond: &dyn Fn(&Value) -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(v) if cond(&v) => return v,
                Ok(_) => continue,
                Err(_) => panic!("the watcher never said {what}"),
            }
        }
    };
    wait_for("anything", &|v| v["manager"] == "systemd-resolved");
    d.resolvectl(&["dns", "wg0", "198.51.100.53"]);
    wait_for("wg0's new server", &|v| {
        v["systemd_resolved"]["links"].as_array().is_some_and(|l| {
            l.iter().any(|l| l["iface"] == "wg0" && l["servers"] == json!(["198.51.100.53"]))
        })
    });
    let out = Command::new("kill").arg(d.pid("daemon")).output().unwrap();
    assert!(out.status.success());
    let v = wait_for("that systemd-resolved stopped", &|v| v["systemd_resolved"].is_null());
    assert!(unread(&v, "systemd-resolved").contains("systemd-resolved is not running"), "{v:#}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
#[ignore = "root: namespaces, dbus-daemon, NetworkManager unpacked from its Debian package (apt-get download)"]
fn network_manager_dns_configuration_is_read_over_dbus() {
    let d = Daemon::up("nm");
    let r = d.resolver();
    assert_eq!(r["manager"], "NetworkManager", "{r:#}");
    assert_eq!(r["resolv_conf"]["target"], "../run/NetworkManager/resolv.conf");
    assert_eq!(r["resolv_conf"]["nameservers"], json!(["192.0.2.1"]));
    let nm = &r["network_manager"];
    assert_eq!((nm["mode"].as_str(), nm["rc_manager"].as_str()), (Some("default"), Some("symlink")));
    assert_eq!(
        nm["entries"],
        json!([{"iface": "eth0", "servers": ["192.0.2.1"], "domains": ["home.example"], "priority": 100, "vpn": false}])
    );
    assert!(unread(&r, "systemd-resolved").contains("systemd-resolved is not running"), "{r:#}");
}

//! Test harness for live capture: a namespace test network per test (`world.sh`), torn down by
//! a Drop guard even when the test fails, and `dnsleak monitor --json` running inside the
//! client namespace with its NDJSON collected as it arrives. No sleeps as synchronisation:
//! every wait polls a condition with a deadline.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

pub const DNSLEAK: &str = env!("CARGO_BIN_EXE_dnsleak");

/// The network as `world.sh` describes it.
pub const TUNNEL_RESOLVER: &str = "198.51.100.1";
pub const LAN_RESOLVER: &str = "192.0.2.1";
pub const SPLIT_RESOLVER: &str = "203.0.113.53";
pub const V6_RESOLVER: &str = "fd00:53::53";

/// What the namespace test network runs: (command, Debian package).
pub const WORLD_TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("wireguard-go", "wireguard-go"),
    ("wg", "wireguard-tools"),
    ("dnsmasq", "dnsmasq"),
    ("unbound", "unbound"),
    ("openssl", "openssl"),
    ("dig", "dnsutils"),
    ("kdig", "knot-dnsutils"),
];

/// Fails the test, naming what is missing (root, or the Debian package to install), unless
/// the namespace test network can be built here.
pub fn require_world() {
    crate::support::require_root("network namespaces, a WireGuard tunnel and packet capture");
    for (command, package) in WORLD_TOOLS {
        crate::support::require_tool(command, package);
    }
}

/// Fails the test, naming what is missing, unless this runs as root (`why`: what for) with
/// every `(program, Debian package)` of `tools` installed.
pub fn require_root_and(why: &str, tools: &[(&str, &str)]) {
    crate::support::require_root(why);
    for (command, package) in tools {
        crate::support::require_tool(command, package);
    }
}

fn world_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns/world.sh")
}

/// A short prefix unique to this test process and test, for namespace and interface names
/// (interface names are at most 15 bytes; /var/run/wireguard is shared by all namespaces).
fn unique_prefix() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{:05x}{}", std::process::id() & 0xfffff, N.fetch_add(1, Ordering::Relaxed))
}

/// The Python that runs the QUIC peers: `$DNSLEAK_PYTHON`, else the virtualenv `.ci/run`
/// makes (`.ci/venv/bin/python`). Fails, naming the fix, when it is missing or lacks aioquic.
pub fn quic_python() -> String {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/venv/bin/python");
    let python = std::env::var("DNSLEAK_PYTHON").unwrap_or_else(|_| venv.display().to_string());
    let ok = Command::new(&python).args(["-c", "import aioquic"]).output().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{python} with aioquic is needed for the QUIC tests: run .ci/run, or python3 -m venv .ci/venv && \
         .ci/venv/bin/pip install -r .ci/requirements.txt (or set DNSLEAK_PYTHON)"
    );
    python
}

/// Polls `cond` every few milliseconds until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    crate::support::poll(timeout, || cond().then_some(())).is_some()
}

/// One test network; `Drop` tears it down (processes killed by PID, namespaces deleted).
pub struct World {
    pub dir: PathBuf,
    pub ns_c: String,
    pub ns_r: String,
    pub lan: String,
    pub wg: String,
}

impl World {
    pub fn up() -> World {
        require_world();
        let prefix = unique_prefix();
        let dir = std::env::temp_dir().join(format!("dnsleak-live-{prefix}"));
        // The guard exists before anything is built, so a failed build is torn down too.
        let mut w = World {
            dir: dir.clone(),
            ns_c: String::new(),
            ns_r: String::new(),
            lan: String::new(),
            wg: String::new(),
        };
        let out = Command::new("bash")
            .arg(world_script())
            .arg("up")
            .arg(&dir)
            .arg(&prefix)
            .output()
            .expect("running world.sh");
        assert!(
            out.status.success(),
            "world.sh up failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env = std::fs::read_to_string(dir.join("env")).expect("world env");
        let get = |k: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(|v| v.trim_matches('\'').to_string())
                .unwrap_or_else(|| panic!("{k} missing from world env"))
        };
        w.ns_c = get("NS_C");
        w.ns_r = get("NS_R");
        w.lan = get("LAN");
        w.wg = get("WG");
        w
    }

    fn script(&self, cmd: &str, extra: &[&str]) {
        let out = Command::new("bash")
            .arg(world_script())
            .arg(cmd)
            .arg(&self.dir)
            .args(extra)
            .output()
            .expect("world.sh");
        assert!(out.status.success(), "world.sh {cmd} failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Ends the client's wireguard-go; returns once the tunnel interface is gone.
    pub fn tunnel_kill(&self) {
        self.script("tunnel-kill", &[]);
    }

    /// Starts the client's tunnel again under the same name; returns once it carries traffic.
    pub fn tunnel_start(&self) {
        self.script("tunnel-start", &[]);
    }

    /// QUIC servers on the router (DoQ and HTTP/3 on UDP 784, 4433 and 8853, every address),
    /// run by `python` (with aioquic: see `quic_python`).
    pub fn quic_servers(&self, python: &str) {
        self.script("quic", &[python]);
    }

    /// A DNSCrypt server (encrypted-dns at `binary`) on the router's 192.0.2.1:5353 and
    /// 198.51.100.1:8443, provider `2.dnscrypt-cert.resolver.example`.
    pub fn dnscrypt_server(&self, binary: &str) {
        self.script("dnscrypt", &[binary]);
    }

    /// One exchange of the aioquic client (`tests/netns/quic_peer.py client ARGS`) in the client
    /// namespace; it must succeed.
    pub fn quic_client(&self, python: &str, args: &[&str]) {
        let peer = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns/quic_peer.py");
        let out = self
            .run("timeout", &[&["20", python, peer.to_str().unwrap_or_default(), "client"], args].concat());
        assert!(
            out.status.success(),
            "quic_peer.py client {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A dnsmasq stub on the client's 127.0.0.53 that forwards to `upstream`.
    pub fn stub(&self, upstream: &str) {
        self.script("stub", &[upstream]);
    }

    /// The system resolver of the client namespace (`ip netns exec` mounts it over
    /// /etc/resolv.conf).
    pub fn set_system_resolver(&self, addr: &str) {
        let dir = Path::new("/etc/netns").join(&self.ns_c);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("resolv.conf"), format!("nameserver {addr}\noptions timeout:1 attempts:1\n"))
            .unwrap();
    }

    /// A command run inside the client namespace.
    pub fn client(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns_c, program]);
        c
    }

    /// Runs a client command to its end and returns its output.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.client(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    /// `dig` with one try and a short timeout; its answer is not needed, only what it sends.
    pub fn dig(&self, args: &[&str]) -> Output {
        let mut a = vec!["+tries=1", "+timeout=2"];
        a.extend_from_slice(args);
        self.run("dig", &a)
    }

    pub fn kdig(&self, args: &[&str]) -> Output {
        let mut a = vec!["+timeout=2", "+retry=0"];
        a.extend_from_slice(args);
        self.run("kdig", &a)
    }

    /// Starts `dnsleak monitor --json ARGS` in the client namespace and waits until it
    /// captures (its first topology says the tunnel is up).
    pub fn monitor(&self, args: &[&str]) -> Monitor {
        let m = Monitor::start(self.client(DNSLEAK).arg("monitor").arg("--json").args(args));
        assert!(
            m.wait_for(Duration::from_secs(15), |l| notices(l, "tunnel_up") >= 1),
            "monitor did not start: {}",
            m.stderr()
        );
        m
    }

    /// Runs `f` on a thread inside the client namespace (sockets it opens live there).
    pub fn in_client<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        in_netns(&self.ns_c, f)
    }

    pub fn in_router<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        in_netns(&self.ns_r, f)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(world_script()).arg("down").arg(&self.dir).output();
        if !self.ns_c.is_empty() {
            let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(&self.ns_c));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `f` on a new thread that has entered network namespace `ns`, and waits for it.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    spawn_in_netns(ns, f).join().expect("namespace thread panicked")
}

/// A running `dnsleak monitor --json`; its lines are parsed as they arrive.
pub struct Monitor {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Monitor {
    pub fn start(cmd: &mut Command) -> Monitor {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting dnsleak");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let l2 = lines.clone();
        let r1 = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                // `--json` lines are objects; other output (`--no-tui`) is kept as a string.
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                l2.lock().unwrap().push(v);
            }
        });
        let mut err = child.stderr.take().unwrap();
        let e2 = stderr.clone();
        let r2 = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                e2.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Monitor { child: Some(child), lines, stderr, readers: vec![r1, r2] }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Polls the lines received so far until `cond` holds.
    pub fn wait_for(&self, timeout: Duration, mut cond: impl FnMut(&[Value]) -> bool) -> bool {
        wait_until(timeout, || cond(&self.lines.lock().unwrap()))
    }

    pub fn lines(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// SIGTERM by PID (unless it has ended already), then waits for the exit and for all
    /// output.
    pub fn stop(mut self) -> (ExitStatus, Vec<Value>, String) {
        let mut child = self.child.take().unwrap();
        if child.try_wait().unwrap().is_none() {
            let pid = rustix::process::Pid::from_child(&child);
            rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM to dnsleak");
        }
        let Some(status) = crate::support::poll(Duration::from_secs(20), || child.try_wait().unwrap()) else {
            let _ = child.kill();
            panic!("dnsleak did not end within 20 s of SIGTERM");
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        (status, self.lines(), self.stderr())
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// How many notices with this code were received.
pub fn notices(lines: &[Value], code: &str) -> usize {
    lines.iter().filter(|v| v["kind"] == "notice" && v["notice"] == code).count()
}

/// The DNS message events (queries and responses) about `qname`.
pub fn about<'a>(lines: &'a [Value], qname: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|v| (v["kind"] == "query" || v["kind"] == "response") && v["qname"].as_str() == Some(qname))
        .collect()
}

/// Whether both the query and the response for `qname` were received.
pub fn has_exchange(lines: &[Value], qname: &str) -> bool {
    let a = about(lines, qname);
    a.iter().any(|v| v["kind"] == "query") && a.iter().any(|v| v["kind"] == "response")
}

/// (kind, iface, verdict, proto) of every message about `qname`, for assertions.
pub fn summary(lines: &[Value], qname: &str) -> Vec<(String, String, String, String)> {
    about(lines, qname)
        .iter()
        .map(|v| {
            (
                v["kind"].as_str().unwrap_or("").to_string(),
                v["iface"].as_str().unwrap_or("").to_string(),
                v["verdict"].as_str().unwrap_or("").to_string(),
                v["proto"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// A DNS query for `name` (type A), with id `id`.
pub fn query(id: u16, name: &str) -> Vec<u8> {
    crate::support::dns_message(id, false, name, 1, &[])
}

/// The answer to `query`: the same question, one A record 203.0.113.80.
pub fn answer(query: &[u8]) -> Vec<u8> {
    let mut r = query.to_vec();
    r[2] = 0x81;
    r[3] = 0x80;
    r[7] = 1;
    r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 203, 0, 113, 80]);
    r
}

/// Starts `f` on a new thread inside network namespace `ns` and returns at once.
pub fn spawn_in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let fd = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let net = Some(rustix::thread::LinkNameSpaceType::Network);
        rustix::thread::move_into_link_name_space(fd.as_fd(), net)
            .unwrap_or_else(|e| panic!("setns {path}: {e}"));
        f()
    })
}

/// Gives a socket a large receive buffer (root may exceed rmem_max), so a burst is not lost
/// in the test's own sockets.
pub fn big_rcvbuf(sock: &std::net::UdpSocket) {
    rustix::net::sockopt::set_socket_recv_buffer_size_force(sock, 16 << 20)
        .unwrap_or_else(|e| panic!("SO_RCVBUFFORCE: {e}"));
}

/// Adds an address to the router's loopback (a resolver address of the test's own).
pub fn router_addr(w: &World, cidr: &str) {
    let out = Command::new("ip").args(["-n", &w.ns_r, "addr", "add", cidr, "dev", "lo"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The first leak or bypass query (or flow) about `qname` and its cause fields.
pub fn cause_of<'a>(lines: &'a [Value], qname: &str) -> &'a Value {
    lines
        .iter()
        .filter(|v| v["verdict"] == "leak" || v["verdict"] == "bypass")
        .find(|v| {
            (v["kind"] == "query" && v["qname"].as_str() == Some(qname))
                || (v["kind"] == "encrypted" && qname == "(flow)")
        })
        .unwrap_or_else(|| panic!("no leak or bypass for {qname}: {lines:#?}"))
}

//! Programs through the whole product: `dnsleak monitor --json --write FILE` in the client
//! namespace while real programs send; every outgoing query and encrypted flow must carry its
//! program in the NDJSON (a response its query's, the stub's upstream hop `on_behalf_of`), the
//! final summary must say who leaked, and `dnsleak replay` of the written file must show the
//! same programs.

use std::collections::HashMap;

use super::*;

/// One connected UDP socket asking every 200 ms until its standard input closes.
const PY_REPEAT: &str = r#"
import select, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], 53))
i = 0
while not select.select([sys.stdin], [], [], 0.2)[0] and i < 100:
    qn = b"".join(bytes([len(l)]) + l.encode() for l in ("r%d.fallback.test" % i).split(".")) + b"\0"
    s.send(struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + qn + struct.pack(">HH", 1, 1))
    i += 1
"#;

/// `(pid, name)` of an event's `process` (or `on_behalf_of`) object.
fn who(v: &Value, key: &str) -> Option<(u64, String)> {
    let p = &v[key];
    Some((p["pid"].as_u64()?, p["name"].as_str()?.to_string()))
}

/// The first event of `kind` about `qname` sent to `dst`.
fn event<'a>(lines: &'a [Value], kind: &str, qname: &str, dst: &str) -> Option<&'a Value> {
    lines.iter().find(|v| v["kind"] == kind && v["qname"] == qname && (v["dst"] == dst || v["src"] == dst))
}

fn flow(lines: &[Value], dport: u64) -> Option<&Value> {
    lines.iter().find(|v| v["kind"] == "encrypted" && v["dport"] == dport && v["dst"] == LAN_RESOLVER)
}

/// The NDJSON of `dnsleak replay --json FILE`.
fn replay_json(file: &Path) -> Vec<Value> {
    let out = Command::new(DNSLEAK).args(["replay", "--json", "--quiet"]).arg(file).output().unwrap();
    assert!(out.status.code() == Some(1), "the file holds leaks: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Each message and flow's (kind, src, sport, dst, dport, qname) with its program fields.
fn programs_by_event(lines: &[Value]) -> HashMap<String, (Value, Value, Value)> {
    lines
        .iter()
        .filter(|v| v["kind"] != "notice")
        .map(|v| {
            let key = format!(
                "{} {} {} {} {} {}",
                v["kind"], v["src"], v["sport"], v["dst"], v["dport"], v["qname"]
            );
            (key, (v["process"].clone(), v["on_behalf_of"].clone(), v["attribution"].clone()))
        })
        .collect()
}

#[test]
#[ignore = "root: network namespaces, WireGuard, eBPF (CAP_BPF, CAP_PERFMON), dig, kdig, dnsmasq, python3"]
fn monitor_names_every_program_and_its_file_replays_them() {
    require();
    require_ebpf();
    let w = World::up();
    w.stub(LAN_RESOLVER);
    let file = w.dir.join("programs.pcapng");
    let m = w.monitor(&["--write", file.to_str().unwrap()]);
    let lan = format!("@{LAN_RESOLVER}");
    let run = |program: &str, args: &[&str]| {
        let c = spawn_in(&w.ns_c, program, args);
        let pid = u64::from(c.id());
        finish(c);
        pid
    };
    let udp = run("dig", &["+tries=1", "+timeout=2", &lan, "udp.monitor.test"]);
    let tcp = run("dig", &["+tcp", "+tries=1", "+timeout=2", &lan, "tcp.monitor.test"]);
    let dot = run("kdig", &["+tls", "+timeout=2", "+retry=0", &lan, "dot.monitor.test"]);
    let py = run("/usr/bin/python3", &["-c", PY_SEND, "4", LAN_RESOLVER, "1"]);
    let stubbed = run("dig", &["+tries=1", "+timeout=3", "@127.0.0.53", "stub.monitor.test"]);
    // A query from the router to this host's address did not start here.
    finish(spawn_in(&w.ns_r, "dig", &["+tries=1", "+timeout=1", "@192.0.2.2", "inbound.monitor.test"]));
    let all_in = |l: &[Value]| {
        event(l, "response", "udp.monitor.test", LAN_RESOLVER).is_some()
            && event(l, "query", "tcp.monitor.test", LAN_RESOLVER).is_some()
            && flow(l, 853).is_some()
            && event(l, "query", "q0.burst.procs.test", LAN_RESOLVER).is_some()
            && event(l, "query", "stub.monitor.test", LAN_RESOLVER).is_some()
            && event(l, "query", "inbound.monitor.test", "192.0.2.2").is_some()
    };
    assert!(m.wait_for(WAIT, all_in), "not every event came: {:?}\n{}", m.lines(), m.stderr());
    let (status, lines, stderr) = m.stop();
    assert_eq!(status.code(), Some(1), "leaks were seen: {stderr}");

    let q = |name: &str, dst: &str| event(&lines, "query", name, dst).unwrap();
    let dig = |pid| Some((pid, "dig".to_string()));
    assert_eq!(who(q("udp.monitor.test", LAN_RESOLVER), "process"), dig(udp));
    assert!(q("udp.monitor.test", LAN_RESOLVER)["process"]["exe"].as_str().unwrap().ends_with("/dig"));
    assert_eq!(q("udp.monitor.test", LAN_RESOLVER)["attribution"], "attributed");
    let response = event(&lines, "response", "udp.monitor.test", LAN_RESOLVER).unwrap();
    assert_eq!(who(response, "process"), dig(udp), "a response carries its query's program");
    assert_eq!(who(q("tcp.monitor.test", LAN_RESOLVER), "process"), dig(tcp));
    assert_eq!(who(flow(&lines, 853).unwrap(), "process"), Some((dot, "kdig".to_string())));
    let py_name = who(q("q0.burst.procs.test", LAN_RESOLVER), "process").unwrap();
    assert!(py_name.0 == py && py_name.1.starts_with("python3"), "{py_name:?}");
    assert_eq!(who(q("stub.monitor.test", "127.0.0.53"), "process"), dig(stubbed));
    let upstream = q("stub.monitor.test", LAN_RESOLVER);
    assert_eq!(who(upstream, "process").map(|p| p.1), Some("dnsmasq".to_string()), "{upstream}");
    let asked = q("stub.monitor.test", "127.0.0.53");
    assert_eq!(who(upstream, "on_behalf_of"), dig(stubbed), "{upstream}\nASKED {asked}");
    let inbound = q("inbound.monitor.test", "192.0.2.2");
    assert_eq!((&inbound["process"], &inbound["attribution"]), (&Value::Null, &Value::from("not_from_host")));

    assert!(stderr.contains("dnsleak: programs (ebpf): "), "{stderr}");
    assert!(stderr.contains(&format!("dig (pid {udp}) 1")), "leaked by, per program: {stderr}");
    assert!(stderr.contains(&format!("dig (pid {stubbed}, via dnsmasq) 1")), "{stderr}");

    // The file keeps the programs: replay shows the same for every message and flow.
    let live = programs_by_event(&lines);
    let replayed = programs_by_event(&replay_json(&file));
    let named = live.values().filter(|(p, ..)| !p.is_null()).count();
    assert!(named >= 10, "{live:?}");
    for (key, programs) in &live {
        assert_eq!(replayed.get(key), Some(programs), "{key}");
    }
    let summary =
        Command::new(DNSLEAK).args(["replay", "--quiet", "--color", "never"]).arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&summary.stdout);
    assert!(text.contains("Leaked by: ") && text.contains(&format!("dig (pid {udp}) 1")), "{text}");
    assert!(text.contains("(recorded by dnsleak in the file)"), "{text}");
}

#[test]
#[ignore = "root: network namespaces, WireGuard, eBPF (CAP_BPF, CAP_PERFMON), python3"]
fn monitor_attributes_a_burst_of_2000_queries_from_one_socket_2000_times() {
    require();
    require_ebpf();
    let w = World::up();
    let file = w.dir.join("burst.pcapng");
    let m = w.monitor(&["--write", file.to_str().unwrap()]);
    let c = spawn_in(&w.ns_c, "/usr/bin/python3", &["-c", PY_SEND, "4", LAN_RESOLVER, "2000", "connect"]);
    let pid = u64::from(c.id());
    let out = finish(c);
    let port: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("the sender's port");
    let mine = |v: &&Value| v["kind"] == "query" && v["sport"] == port && v["dst"] == LAN_RESOLVER;
    let seen = |l: &[Value]| l.iter().filter(mine).count() >= 2000;
    assert!(m.wait_for(WAIT, seen), "{} queries seen; {}", m.lines().iter().filter(mine).count(), m.stderr());
    let (_, lines, stderr) = m.stop();
    let burst: Vec<&Value> = lines.iter().filter(mine).collect();
    assert_eq!(burst.len(), 2000, "{stderr}");
    let named = burst.iter().filter(|v| who(v, "process").is_some_and(|p| p.0 == pid)).count();
    assert_eq!(named, 2000, "{stderr}");
    let replayed = replay_json(&file);
    let again =
        replayed.iter().filter(mine).filter(|v| who(v, "process").is_some_and(|p| p.0 == pid)).count();
    assert_eq!(again, 2000, "replay of the written file");
}

#[test]
#[ignore = "root: network namespaces, WireGuard, setpriv (util-linux), python3, dig"]
fn monitor_without_bpf_capabilities_says_the_fallback_and_its_coverage() {
    require();
    let w = World::up();
    let mut cmd = w.client("setpriv");
    cmd.args(["--bounding-set", "-bpf,-perfmon,-sys_admin", "--", DNSLEAK, "monitor", "--json"]);
    let m = Monitor::start(&mut cmd);
    assert!(m.wait_for(WAIT, |l| notices(l, "tunnel_up") >= 1), "monitor did not start: {}", m.stderr());
    // A long-lived socket, asking again every 200 ms, is found by the scan; dig is not.
    let mut py = w
        .client("/usr/bin/python3")
        .args(["-c", PY_REPEAT, LAN_RESOLVER])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("python3");
    let py_pid = u64::from(py.id());
    let named = |l: &[Value]| {
        l.iter().any(|v| v["kind"] == "query" && who(v, "process").is_some_and(|p| p.0 == py_pid))
    };
    let found = m.wait_for(WAIT, named);
    drop(py.stdin.take());
    let _ = py.wait();
    assert!(found, "the scan did not name the long-lived socket: {}", m.stderr());
    w.dig(&[&format!("@{LAN_RESOLVER}"), "short.monitor.test"]);
    assert!(m.wait_for(WAIT, |l| event(l, "query", "short.monitor.test", LAN_RESOLVER).is_some()));
    let (_, lines, stderr) = m.stop();
    let short = event(&lines, "query", "short.monitor.test", LAN_RESOLVER).unwrap();
    assert_eq!(short["attribution"], "unattributed", "a socket of a millisecond escapes the scan: {short}");
    assert!(stderr.contains("process attribution: sock_diag"), "the method is said: {stderr}");
    assert!(stderr.contains("short-lived programs such as dig are missed"), "and its coverage: {stderr}");
    assert!(stderr.contains("dnsleak: programs (sock_diag): "), "{stderr}");
    assert!(stderr.contains(" unknown"), "what it missed is counted: {stderr}");
}

//! The monitor as a service, in the namespace test network (root): Debian's Prometheus
//! scrapes `dnsleak monitor --metrics` and its query API sees the counters rise by what dig
//! sent; `promtool check metrics` accepts the exposition; `--on-leak` runs its command once
//! per leak episode, never while quiet, and a name written as shell syntax stays data.

mod netns;
mod support;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use netns::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);
const METRICS: &str = "127.0.0.1:9153";
const PROMETHEUS: &str = "127.0.0.1:9090";

/// Fails (never skips) when the test cannot run here, naming what is missing.
fn require_root_and(tools: &[(&str, &str)]) {
    require_world();
    for (tool, package) in tools {
        support::require_tool(tool, package);
    }
}

/// Debian's Prometheus in the client namespace, scraping the monitor every second; killed by
/// PID when dropped.
struct Prometheus {
    child: Child,
    ns: String,
}

impl Prometheus {
    fn start(w: &World) -> Prometheus {
        let dir = w.dir.join("prometheus");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: dnsleak\n    static_configs:\n      - targets: ['{METRICS}']\n"
            ),
        )
        .unwrap();
        let child = w
            .client("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={PROMETHEUS}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("log")).unwrap())
            .spawn()
            .expect("starting prometheus: apt-get install prometheus");
        Prometheus { child, ns: w.ns_c.clone() }
    }

    /// The value of an instant query that returns one sample (None: no sample, or no answer).
    fn value(&self, query: &str) -> Option<f64> {
        let q = query.to_string();
        let body = http_get(&self.ns, &format!("http://{PROMETHEUS}/api/v1/query"), Some(("query", q)))?;
        let v: Value = serde_json::from_str(&body).ok()?;
        let result = v["data"]["result"].as_array()?;
        let sample = result.first()?;
        sample["value"][1].as_str()?.parse().ok()
    }

    /// Polls `query` until it returns `want`; returns the last value seen.
    fn wait_for(&self, query: &str, want: f64) -> Option<f64> {
        let mut last = None;
        wait_until(WAIT, || {
            last = self.value(query);
            last == Some(want)
        });
        last
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `url` from inside namespace `ns` (ureq: no hand-written HTTP).
fn http_get(ns: &str, url: &str, query: Option<(&'static str, String)>) -> Option<String> {
    let url = url.to_string();
    in_netns(ns, move || {
        let mut req = ureq::get(&url);
        if let Some((k, v)) = query {
            req = req.query(k, v);
        }
        req.call().ok()?.body_mut().read_to_string().ok()
    })
}

fn leaks(lines: &[Value]) -> usize {
    lines.iter().filter(|v| v["verdict"] == "leak").count()
}

#[test]
#[ignore = "root: network namespaces, WireGuard, packet capture; tool: needs prometheus (promtool)"]
fn prometheus_scrapes_the_counters_of_a_running_monitor() {
    require_root_and(&[("prometheus", "prometheus"), ("promtool", "prometheus")]);
    let w = World::up();
    let m = w.monitor(&["--no-tui", "--metrics", METRICS]);
    // The metrics are served with the monitor's system-call filter on (its default).
    let status = std::fs::read_to_string(format!("/proc/{}/status", m.pid())).unwrap_or_default();
    assert!(status.contains("Seccomp:\t2"), "the monitor runs under its filter: {status}");
    let prom = Prometheus::start(&w);
    let up = prom.wait_for("up{job=\"dnsleak\"}", 1.0);
    assert_eq!(up, Some(1.0), "Prometheus never scraped the monitor: {}", m.stderr());
    let leak_q = "sum(dnsleak_dns_messages_total{verdict=\"leak\"})";
    let before = prom.value(leak_q).unwrap_or(0.0);
    let by_resolver =
        format!("dnsleak_leaks_by_resolver_total{{resolver=\"{LAN_RESOLVER}\",verdict=\"leak\"}}");
    let resolver_before = prom.value(&by_resolver).unwrap_or(0.0);
    let names = ["one.metrics.example.com", "two.metrics.example.com", "three.metrics.example.com"];
    for n in names {
        w.dig(&[&format!("@{LAN_RESOLVER}"), n, "A"]);
    }
    w.dig(&[&format!("@{TUNNEL_RESOLVER}"), "tunnel.metrics.example.com", "A"]);
    let seen = m.wait_for(WAIT, |l| {
        names.iter().all(|n| has_exchange(l, n)) && has_exchange(l, "tunnel.metrics.example.com")
    });
    assert!(seen, "the monitor did not see every exchange: {:#?}", m.lines());
    let wanted = leaks(&m.lines()) as f64;
    assert_eq!(wanted, 6.0, "three queries and their responses leak: {:#?}", m.lines());
    let after = prom.wait_for(leak_q, before + wanted);
    assert_eq!(after, Some(before + wanted), "leaked messages in Prometheus");
    let resolver_after = prom.wait_for(&by_resolver, resolver_before + wanted);
    assert_eq!(resolver_after, Some(resolver_before + wanted), "leaks by resolver");
    let tunnel_q = format!("sum(dnsleak_dns_messages_total{{verdict=\"tunnel\",interface=\"{}\"}})", w.wg);
    assert_eq!(prom.wait_for(&tunnel_q, 2.0), Some(2.0), "the tunnel exchange");
    let tunnel_up = format!("dnsleak_tunnel_up{{interface=\"{}\"}}", w.wg);
    assert_eq!(prom.wait_for(&tunnel_up, 1.0), Some(1.0));
    let captured = format!("dnsleak_packets_captured_total{{interface=\"{}\"}}", w.lan);
    assert!(prom.value(&captured).is_some_and(|v| v >= wanted), "packets captured on {}", w.lan);
    assert!(prom.value("dnsleak_last_leak_timestamp_seconds").is_some_and(|t| t > 1.6e9));

    let exposition = http_get(&w.ns_c, &format!("http://{METRICS}/metrics"), None).expect("GET /metrics");
    let check = promtool_check(&exposition);
    assert!(check.is_empty(), "promtool check metrics: {check}\n{exposition}");
    let (status, _, err) = m.stop();
    assert_eq!(status.code(), Some(1), "leaks were seen: {err}");
}

/// What `promtool check metrics` says about `text` (nothing when it is clean).
fn promtool_check(text: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool: apt-get install prometheus");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        said.trim().to_string()
    } else {
        format!("exit {}: {said}", out.status)
    }
}

/// Sends one query for `name` (any bytes a label may hold) to the LAN resolver from the client.
fn send_query(w: &World, id: u16, name: &str) {
    let q = query(id, name);
    w.in_client(move || {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.send_to(&q, (LAN_RESOLVER, 53)).unwrap();
    });
}

fn calls(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

#[test]
#[ignore = "root: network namespaces, WireGuard, packet capture"]
fn on_leak_runs_once_per_episode_and_wire_text_stays_data() {
    require_root_and(&[]);
    let w = World::up();
    // The command runs as the user the monitor becomes (nobody): a directory it may write to.
    let hooks = w.dir.join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    for (dir, mode) in [(&w.dir, 0o755), (&hooks, 0o777)] {
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    let out: PathBuf = hooks.join("calls");
    let pwned = hooks.join("pwned");
    let hook = format!(
        "printf '%s|%s|%s|%s|%s|%s\\n' \"$DNSLEAK_VERDICT\" \"$DNSLEAK_IFACE\" \"$DNSLEAK_RESOLVER\" \"$DNSLEAK_TRANSPORT\" \"$DNSLEAK_CAUSE\" \"$DNSLEAK_QNAME\" >> '{}'",
        out.display()
    );
    // What the command holds, from its own /proc entry.
    let caps = hooks.join("caps");
    let hook = format!(
        "{hook}; grep -E '^(Uid|Cap(Inh|Prm|Eff|Amb)|NoNewPrivs|Seccomp):' /proc/$$/status > '{}'",
        caps.display()
    );
    let quiet = 2.0;
    let page = w.dir.join("report.html");
    let m = w.monitor(&[
        "--no-tui",
        "--on-leak",
        &hook,
        "--on-leak-quiet",
        &quiet.to_string(),
        "--report",
        page.to_str().unwrap(),
    ]);
    // One label holding shell syntax: command substitution, a separator, a quote.
    let evil = format!("$(touch {});rm -rf x'`id`", pwned.display());
    send_query(&w, 1, &format!("{evil}.example"));
    assert!(wait_until(WAIT, || calls(&out).len() == 1), "the hook did not run: {}", m.stderr());
    let monitor = std::fs::read_to_string(format!("/proc/{}/status", m.pid())).unwrap_or_default();
    assert!(monitor.contains("Seccomp:\t2"), "the monitor runs under its filter: {monitor}");
    // More leaks in the same episode: the hook is not run again.
    for n in ["quiet-one.example.com", "quiet-two.example.com"] {
        w.dig(&[&format!("@{LAN_RESOLVER}"), n, "A"]);
    }
    assert!(m.wait_for(WAIT, |l| has_exchange(l, "quiet-two.example.com")));
    // The quiet period itself must pass (capture time follows the wall clock live): this waits
    // for time, not for another thread.
    std::thread::sleep(Duration::from_secs_f64(quiet + 0.5));
    w.dig(&[&format!("@{LAN_RESOLVER}"), "second.episode.example.com", "A"]);
    assert!(wait_until(WAIT, || calls(&out).len() == 2), "no second call: {:?}\n{}", calls(&out), m.stderr());
    let (status, lines, err) = m.stop();
    assert_eq!(status.code(), Some(1));
    let got = calls(&out);
    let first: Vec<&str> = got[0].splitn(6, '|').collect();
    // The LAN's own resolver, on the LAN: its cause says so.
    assert_eq!(first[..5], ["leak", w.lan.as_str(), LAN_RESOLVER, "dns", "lan_resolver"], "{got:?}");
    assert_eq!(first[5], format!("{evil}.example"), "the name reaches the command as data");
    assert!(got[1].ends_with("|second.episode.example.com"), "{got:?}");
    assert!(!pwned.exists(), "the name reached a shell");
    assert!(err.contains("2 leak episodes, command run 2 times: 2 succeeded"), "{err}");
    // monitor --report: the page says what --on-leak did, counted once its runner stopped.
    let html = std::fs::read_to_string(&page).expect("monitor --report wrote its page");
    assert!(
        html.contains(
            "--on-leak: 2 leak episodes; the command ran 2 times (2 succeeded, 0 failed), 0 not run."
        ),
        "{html}"
    );
    assert!(leaks(&lines) >= 6, "{lines:#?}");
    // Run by root, the command still holds no capability and cannot gain one.
    let held = std::fs::read_to_string(&caps).unwrap_or_default();
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert!(held.contains(&format!("{set}:\t0000000000000000")), "{set}: {held}");
    }
    assert!(held.contains("NoNewPrivs:\t1"), "{held}");
    // It runs as the user the monitor became, outside the monitor's system-call filter (which
    // would refuse it fork and execve), while the monitor itself runs under it.
    let nobody = nix_free_uid("nobody");
    assert!(held.contains(&format!("Uid:\t{nobody}\t{nobody}\t{nobody}\t{nobody}")), "{held}");
    assert!(held.contains("Seccomp:\t0"), "{held}");
}

/// The uid of `name` from /etc/passwd.
fn nix_free_uid(name: &str) -> u32 {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd.lines().find(|l| l.starts_with(&format!("{name}:"))).expect("no such user");
    line.split(':').nth(2).unwrap().parse().unwrap()
}

/// The unit's command line, run with the unit's credentials (setpriv for systemd: an
/// unprivileged user, CAP_NET_RAW and CAP_NET_ADMIN as ambient capabilities and the only ones
/// bounded, no_new_privs), captures, judges and serves its metrics.
#[test]
#[ignore = "root: network namespaces, WireGuard, packet capture; tool: needs setpriv (util-linux)"]
fn the_units_command_runs_with_the_units_credentials() {
    require_root_and(&[("setpriv", "util-linux")]);
    let unit =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/dnsleak.service")).unwrap();
    let exec = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("ExecStart");
    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    let w = World::up();
    let mut cmd = w.client("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all,+net_raw,+net_admin",
        "--ambient-caps=+net_raw,+net_admin",
        "--bounding-set=-all,+net_raw,+net_admin",
        "--no-new-privs",
        DNSLEAK,
    ]);
    assert!(
        args.windows(2).any(|a| a == ["--metrics", METRICS]),
        "the unit serves metrics on {METRICS}: {exec}"
    );
    let m = Monitor::start(cmd.args(&args));
    assert!(m.wait_for(WAIT, |l| notices(l, "tunnel_up") >= 1), "did not start: {}", m.stderr());
    w.dig(&[&format!("@{LAN_RESOLVER}"), "unit.leak.example.com", "A"]);
    assert!(m.wait_for(WAIT, |l| has_exchange(l, "unit.leak.example.com")), "{}", m.stderr());
    let leaked = r#"verdict="leak",transport="dns",cause="lan_resolver"} 1"#;
    let scraped = wait_until(WAIT, || {
        http_get(&w.ns_c, &format!("http://{METRICS}/metrics"), None).is_some_and(|t| t.contains(leaked))
    });
    assert!(scraped, "metrics: {:?}", http_get(&w.ns_c, &format!("http://{METRICS}/metrics"), None));
    let (status, lines, err) = m.stop();
    assert_eq!(status.code(), Some(1), "{err}");
    let ours = about(&lines, "unit.leak.example.com");
    assert!(ours.iter().all(|v| v["verdict"] == "leak" && v["iface"] == w.lan.as_str()), "{ours:#?}");
}

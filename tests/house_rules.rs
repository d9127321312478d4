//! The house rules the compiler cannot check by itself, checked here so that a break fails the
//! tests instead of waiting for a review: the core's dependencies are an allowlist, the core's
//! purity lints (core/clippy.toml) really fire, modules depend one way, functions stay under 80
//! lines and files under 600 (or say at the top why not).

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The crates the core may depend on directly: decoders and small data structures. No pcap,
/// terminal, netdev, libc, clock, thread or async crate: what those do belongs to the shells.
const CORE_DEPENDENCIES: &[&str] = &[
    "etherparse",
    "hickory-proto",
    "tls-parser",
    "thiserror",
    "foldhash",
    "itoa",
    "smol_str",
    "smallstr",
    "smallvec",
    // QUIC Initial packets (RFC 9001 5.2): RustCrypto's key derivation, header protection and
    // AEAD, so no cipher is written by hand. Pure computation, no I/O.
    "hkdf",
    "sha2",
    "aes",
    "aes-gcm",
    // dev-dependencies
    "proptest",
];

/// Crates that must not reach the core even through a dependency.
const NEVER_IN_CORE: &[&str] = &[
    "pcap",
    "pcap-parser",
    "netdev",
    "ratatui",
    "crossterm",
    "caps",
    "rustix",
    "signal-hook",
    "aya",
    "netlink-sys",
    "netlink-packet-sock-diag",
    "tokio",
    "mio",
    "dnsleak",
];

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn metadata() -> serde_json::Value {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--offline", "--manifest-path"])
        .arg(Path::new(ROOT).join("Cargo.toml"))
        .output()
        .expect("running cargo metadata");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON")
}

#[test]
fn the_core_depends_only_on_its_allowlist() {
    let meta = metadata();
    let packages = meta["packages"].as_array().unwrap();
    let core = packages.iter().find(|p| p["name"] == "dnsleak-core").expect("the dnsleak-core package");
    let direct: Vec<&str> =
        core["dependencies"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    let extra: Vec<&&str> = direct.iter().filter(|d| !CORE_DEPENDENCIES.contains(d)).collect();
    assert!(
        extra.is_empty(),
        "dnsleak-core depends on {extra:?}, not in its allowlist: keep I/O, clocks and the OS in the \
         `dnsleak` crate, or add a pure decoder to CORE_DEPENDENCIES with a reason"
    );
    // Everything the core's normal dependencies pull in, by walking the resolved graph.
    let nodes = meta["resolve"]["nodes"].as_array().unwrap();
    let id_of = |name: &str| packages.iter().find(|p| p["name"] == name).map(|p| p["id"].clone());
    let mut todo = vec![id_of("dnsleak-core").unwrap()];
    let mut seen = Vec::new();
    while let Some(id) = todo.pop() {
        if seen.contains(&id) {
            continue;
        }
        let node = nodes.iter().find(|n| n["id"] == id).unwrap();
        for dep in node["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null());
            if normal {
                todo.push(dep["pkg"].clone());
            }
        }
        seen.push(id);
    }
    let names: Vec<&str> = seen
        .iter()
        .map(|id| packages.iter().find(|p| p["id"] == *id).unwrap()["name"].as_str().unwrap())
        .collect();
    let bad: Vec<&&str> = names.iter().filter(|n| NEVER_IN_CORE.contains(n) && **n != "dnsleak").collect();
    assert!(bad.is_empty(), "the core pulls in {bad:?} through its dependencies");
    assert!(!names.contains(&"dnsleak"), "the core must not depend on the shell crate");
}

/// A scratch crate under the core's clippy.toml: clean code passes, and each way of reaching
/// the outside world (renamed imports included) is reported by name.
#[test]
fn the_core_purity_lints_fire() {
    let dir = std::env::temp_dir().join(format!("dnsleak-purity-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::copy(Path::new(ROOT).join("core/clippy.toml"), dir.join("clippy.toml")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"purity-probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n[workspace]\n",
    )
    .unwrap();
    let clippy = |lib: &str| {
        std::fs::write(dir.join("src/lib.rs"), lib).unwrap();
        let out = cargo()
            .args(["clippy", "--quiet", "--offline", "--", "-D", "warnings"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", dir.join("target"))
            .env_remove("RUSTFLAGS")
            .output()
            .expect("running cargo clippy");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) = clippy("pub fn pure(a: u64, b: u64) -> u64 { a.saturating_sub(b) }\n");
    assert!(ok, "clean code must pass (is clippy installed? `rustup component add clippy`): {err}");
    let (ok, err) = clippy(
        "use std::{fs as f, time as t};\n\
         pub fn file() -> usize { f::read(\"x\").map_or(0, |v| v.len()) }\n\
         pub fn clock() -> bool { t::Instant::now().elapsed().as_secs() > 1 }\n\
         pub fn thread() { let _ = std::thread::spawn(|| ()); }\n\
         pub fn env() -> bool { std::env::var_os(\"HOME\").is_some() }\n\
         pub fn print() { println!(\"x\"); }\n",
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok, "the purity lints did not fire");
    for what in
        ["std::fs::read", "std::time::Instant", "std::thread::spawn", "std::env::var_os", "std::println"]
    {
        assert!(err.contains(what), "{what} not reported:\n{err}");
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every Rust file of the project (sources, tests, benches, fuzz targets).
fn project_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["src", "core/src", "tests", "benches", "fuzz/fuzz_targets"] {
        let d = Path::new(ROOT).join(dir);
        if d.exists() {
            rust_files(&d, &mut files);
        }
    }
    files.sort();
    files
}

/// No function outside tests is longer than 80 lines: short enough to read at a glance.
#[test]
fn functions_stay_short() {
    let mut long = Vec::new();
    for file in project_files().iter().filter(|f| {
        f.starts_with(Path::new(ROOT).join("src")) || f.starts_with(Path::new(ROOT).join("core/src"))
    }) {
        let text = std::fs::read_to_string(file).expect("read source");
        // Only code before the test module counts.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let lines: Vec<&str> = code.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let t = lines[i].trim_start();
            let is_fn = ["fn ", "pub fn ", "pub(crate) fn ", "pub(super) fn ", "const fn ", "pub const fn "]
                .iter()
                .any(|p| t.starts_with(p))
                && !t.ends_with(';');
            if !is_fn {
                i += 1;
                continue;
            }
            let indent = lines[i].len() - t.len();
            let start = i;
            // The function ends at the first line with its indentation that closes a brace.
            let mut j = i + 1;
            while j < lines.len() {
                let l = lines[j];
                let lt = l.trim_start();
                if l.len() - lt.len() == indent && lt.starts_with('}') {
                    break;
                }
                j += 1;
            }
            if j - start + 1 > 80 {
                long.push(format!("{}:{}: {} lines", file.display(), start + 1, j - start + 1));
            }
            i = j + 1;
        }
    }
    assert!(long.is_empty(), "functions over 80 lines:\n{}", long.join("\n"));
}

/// Which of the crate's modules each module may use (outside its tests): data flows one way,
/// system + capture -> core -> output / tui, and `app` wires them together. In particular no
/// cycle among capture, output and tui, the dashboard never reaches into capture or the
/// commands, and capture never prints or formats (it only produces frames, facts and
/// diagnostics).
const MAY_USE: &[(&str, &[&str])] = &[
    ("system", &[]),
    ("counters", &[]),
    ("cli", &[]),
    ("capture", &["system", "counters"]),
    ("output", &["counters"]),
    ("tui", &["output", "counters", "system"]),
    ("app", &["capture", "cli", "counters", "output", "system", "tui"]),
];

#[test]
fn modules_depend_one_way() {
    let src = Path::new(ROOT).join("src");
    let mut bad = Vec::new();
    for (module, allowed) in MAY_USE {
        let mut files = Vec::new();
        let dir = src.join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        let file = src.join(format!("{module}.rs"));
        if file.exists() {
            files.push(file);
        }
        assert!(!files.is_empty(), "src/{module} is missing");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            // Tests may use anything (a reader test writes its input with the pcapng writer).
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (n, line) in code.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for (at, _) in code.match_indices("crate::") {
                    let used: String =
                        code[at + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    let own = used == *module;
                    let shell = MAY_USE.iter().any(|(m, _)| *m == used);
                    if shell && !own && !allowed.contains(&used.as_str()) {
                        bad.push(format!("{}:{}: {module} uses crate::{used}", file.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(bad.is_empty(), "modules reaching the wrong way:\n{}", bad.join("\n"));
}
/// Files stay under 600 lines, or say in their first lines why they are longer.
#[test]
fn files_stay_short_or_say_why() {
    let mut long = Vec::new();
    for file in project_files() {
        let text = std::fs::read_to_string(&file).expect("read source");
        let lines = text.lines().count();
        let says_why = text.lines().take(12).any(|l| l.contains("over 600 lines"));
        if lines > 600 && !says_why {
            long.push(format!("{}: {lines} lines", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "files over 600 lines (split them, or say at the top why not with the words \"over 600 lines\"):\n{}",
        long.join("\n")
    );
}

/// Tests that cannot run everywhere say so: `#[ignore = "root: ..."]`, `"corpus: ..."`,
/// `"tool: ..."` or `"perf: ..."`, nothing else; `.ci/test` picks them by name, so a corpus
/// test has "corpus" in its name (and only corpus tests do) and a perf test starts with
/// `perf_` (and only perf tests do).
#[test]
fn ignored_tests_say_why_and_are_named_for_it() {
    let mut bad = Vec::new();
    for file in project_files() {
        let text = std::fs::read_to_string(&file).expect("read source");
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            if line.trim() != "#[test]" {
                continue;
            }
            let mut reason = None;
            let mut name = None;
            for next in lines.iter().skip(n + 1).take(6) {
                let t = next.trim();
                if let Some(r) = t.strip_prefix("#[ignore") {
                    reason = Some(r.trim_start_matches(" = \"").split(':').next().unwrap_or("").to_string());
                } else if let Some(rest) = t.strip_prefix("fn ").or_else(|| t.strip_prefix("pub fn ")) {
                    name = Some(rest.split('(').next().unwrap_or("").to_string());
                    break;
                }
            }
            let Some(name) = name else { continue };
            let at = format!("{}:{}: {name}", file.display(), n + 1);
            match reason.as_deref() {
                None | Some("root" | "tool") => {}
                Some("corpus") => {}
                Some("perf") => {}
                Some(other) => bad.push(format!("{at}: ignored for {other:?}, not root/corpus/tool/perf")),
            }
            if (reason.as_deref() == Some("corpus")) != name.contains("corpus") {
                bad.push(format!("{at}: \"corpus\" in the name if and only if marked corpus:"));
            }
            if (reason.as_deref() == Some("perf")) != name.starts_with("perf_") {
                bad.push(format!("{at}: perf_ names if and only if marked perf:"));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

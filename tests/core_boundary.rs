//! The core stays pure: no pcap, no terminal, no netdev, no clock. Checked on the source so that
//! a stray import fails the build's tests, not a code review.

use std::fs;
use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src/core") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_imports_nothing_from_the_outside_world() {
    let forbidden = [
        "pcap::",
        "pcap_parser",
        "ratatui",
        "crossterm",
        "netdev",
        "SystemTime",
        "Instant::now",
        "std::time::Instant",
        "std::net::UdpSocket",
        "std::net::TcpStream",
        "std::fs",
        "std::thread",
        "crate::capture",
        "crate::tui",
        "crate::output",
    ];
    let mut files = Vec::new();
    rust_files(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/core/src")), &mut files);
    assert!(files.len() >= 10, "expected the core's modules, found {}", files.len());
    let mut bad = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for f in forbidden {
                if code.contains(f) {
                    bad.push(format!("{}:{}: uses {f}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(bad.is_empty(), "the core must stay pure:\n{}", bad.join("\n"));
}

/// No function outside tests is longer than 80 lines: short enough to read at a glance.
#[test]
fn functions_stay_short() {
    let mut files = Vec::new();
    rust_files(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")), &mut files);
    let mut long = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("read source");
        // Only code before the test module counts.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let lines: Vec<&str> = code.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let t = lines[i].trim_start();
            let is_fn = (t.starts_with("fn ")
                || t.starts_with("pub fn ")
                || t.starts_with("pub(crate) fn ")
                || t.starts_with("async fn ")
                || t.starts_with("const fn ")
                || t.starts_with("pub const fn "))
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

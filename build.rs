//! Compiles the eBPF program that names the process behind each DNS socket
//! (src/system/processes/bpf/attrib.bpf.c) with clang, when clang and libbpf's headers are
//! there. Without them dnsleak builds all the same, without eBPF: process attribution then
//! falls back to sock_diag and /proc, and `dnsleak --version` says so.
//!
//! DNSLEAK_NO_EBPF=1 builds without eBPF on purpose; CLANG names the compiler (default clang).

use std::env;
use std::path::PathBuf;
use std::process::Command;

const SRC: &str = "src/system/processes/bpf/attrib.bpf.c";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(dnsleak_ebpf)");
    println!("cargo::rerun-if-changed={SRC}");
    println!("cargo::rerun-if-env-changed=DNSLEAK_NO_EBPF");
    println!("cargo::rerun-if-env-changed=CLANG");
    if env::var_os("DNSLEAK_NO_EBPF").is_some_and(|v| v != "0") {
        return;
    }
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let endian = env::var("CARGO_CFG_TARGET_ENDIAN").unwrap_or_default();
    let (target, arch_define) = match (arch.as_str(), endian.as_str()) {
        ("x86_64", _) => ("bpfel", "__TARGET_ARCH_x86"),
        ("aarch64", _) => ("bpfel", "__TARGET_ARCH_arm64"),
        (_, "big") => ("bpfeb", ""),
        _ => ("bpfel", ""),
    };
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("attrib.bpf.o");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let mut cmd = Command::new(&clang);
    cmd.args(["-O2", "-g", "-Wall", "-Werror", "-target", target]);
    if !arch_define.is_empty() {
        cmd.arg(format!("-D{arch_define}"));
    }
    // Debian keeps asm/types.h (needed by linux/types.h) in the multiarch directory.
    for dir in [format!("/usr/include/{arch}-linux-gnu"), "/usr/include".to_string()] {
        if std::path::Path::new(&dir).is_dir() {
            cmd.arg(format!("-idirafter{dir}"));
        }
    }
    cmd.args(["-c", SRC, "-o"]).arg(&out);
    match cmd.output() {
        Ok(o) if o.status.success() => println!("cargo::rustc-cfg=dnsleak_ebpf"),
        Ok(o) => println!(
            "cargo::warning=building without eBPF process attribution: {clang} failed on {SRC}: {} \
             (install clang and libbpf-dev, or set DNSLEAK_NO_EBPF=1 to silence this)",
            String::from_utf8_lossy(&o.stderr).lines().next().unwrap_or("").trim()
        ),
        Err(e) => println!(
            "cargo::warning=building without eBPF process attribution: cannot run {clang}: {e} \
             (install clang and libbpf-dev for it)"
        ),
    }
}

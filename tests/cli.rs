//! The command line as a user meets it: help that reads well (kept by snapshots), version,
//! completions and man page from the same definitions, usage errors with exit status 2.

use std::process::{Command, Output};

fn dnsleak(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dnsleak"))
        .args(args)
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1")
        .output()
        .expect("run dnsleak")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

#[test]
fn help_reads_well() {
    let o = dnsleak(&["--help"]);
    assert!(o.status.success());
    insta::assert_snapshot!("help", stdout(&o));
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["monitor", "replay", "check", "bench"] {
        let o = dnsleak(&[sub, "--help"]);
        assert!(o.status.success(), "{sub} --help failed");
        insta::assert_snapshot!(format!("help_{sub}"), stdout(&o));
    }
}

#[test]
fn version_names_the_program() {
    let o = dnsleak(&["--version"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o).trim(), format!("dnsleak {}", dnsleak::cli::VERSION));
    let ebpf = if cfg!(dnsleak_ebpf) { "eBPF process attribution: built in" } else { "not built in" };
    assert!(stdout(&o).contains(ebpf), "{}", stdout(&o));
}

#[test]
fn completions_come_from_the_same_definitions() {
    for (shell, marker) in
        [("bash", "_dnsleak()"), ("zsh", "#compdef dnsleak"), ("fish", "complete -c dnsleak")]
    {
        let o = dnsleak(&["completions", shell]);
        assert!(o.status.success(), "{shell}");
        let text = stdout(&o);
        assert!(text.contains(marker), "{shell} completion lacks {marker}");
        for sub in ["monitor", "replay", "check", "bench"] {
            assert!(text.contains(sub), "{shell} completion lacks {sub}");
        }
    }
}

#[test]
fn man_page_renders() {
    let o = dnsleak(&["man"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        text.starts_with(".ie") || text.contains(".TH dnsleak"),
        "not roff: {}",
        &text[..text.len().min(80)]
    );
    assert!(text.contains("replay") && text.contains("monitor"));
}

#[test]
fn usage_errors_exit_2() {
    let o = dnsleak(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let o = dnsleak(&["replay"]);
    assert_eq!(o.status.code(), Some(2), "replay without a file is a usage error");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("<FILE>"), "names the missing argument: {err}");
}

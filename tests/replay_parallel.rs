//! `dnsleak replay -j N FILE...`: the same bytes on standard output and standard error, and
//! the same exit status, whatever N (on the fixtures, on the corpus, with a bad file among
//! good ones), and the same NDJSON as the files judged one after the other; `--continue`
//! judges a rotated capture as one; on a terminal, one progress bar for all the files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_dnsleak");

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcapng"))
        .collect();
    v.sort();
    v
}

fn replay(args: &[&str], files: &[PathBuf]) -> Output {
    Command::new(BIN)
        .arg("replay")
        .args(args)
        .args(files)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Every `-j` gives what `-j 1` gives, byte for byte, summary and NDJSON.
fn same_for_every_j(files: &[PathBuf]) {
    for mode in [&[][..], &["--json"][..]] {
        let one = replay(&[mode, &["-j", "1"]].concat(), files);
        assert!(!one.stdout.is_empty(), "{mode:?}: no output");
        for j in ["2", "3", "8"] {
            let many = replay(&[mode, &["-j", j]].concat(), files);
            assert_eq!(many.status.code(), one.status.code(), "{mode:?} -j {j}: exit status");
            assert!(many.stdout == one.stdout, "{mode:?} -j {j}: standard output differs from -j 1");
            assert_eq!(
                String::from_utf8_lossy(&many.stderr),
                String::from_utf8_lossy(&one.stderr),
                "{mode:?} -j {j}"
            );
        }
    }
}

#[test]
fn fixtures_give_the_same_bytes_for_every_j() {
    let files = fixtures();
    assert!(files.len() >= 8, "{files:?}");
    same_for_every_j(&files);
    // Files given twice and in another order are judged as given.
    let mut again: Vec<PathBuf> = files.iter().rev().cloned().collect();
    again.extend(files.iter().take(3).cloned());
    same_for_every_j(&again);
}

/// NDJSON of the files judged one after the other, each standing alone, on this thread
/// (`replay::judge_files`, the path a single file and `--tui` take).
fn one_after_another(files: &[PathBuf]) -> Vec<u8> {
    use dnsleak::cli::{ColorChoice, JudgeArgs, ReplayArgs};
    let args = ReplayArgs {
        files: files.to_vec(),
        judge: JudgeArgs::default(),
        json: true,
        tui: false,
        speed: None,
        report: None,
        top: 10,
        color: ColorChoice::Never,
        quiet: true,
        jobs: Some(1),
        continue_: false,
    };
    let cfg = dnsleak::app::config::ReplayConfig::new(&args).unwrap();
    let mut out = Vec::new();
    let mut sink = dnsleak::output::json::JsonSink::new(&mut out);
    let _ = dnsleak::app::replay::judge_files(&cfg, &mut sink);
    out
}

/// Judged on several cores, the files give the NDJSON they give judged one after the other.
#[test]
fn several_files_give_what_one_after_another_gives() {
    let mut files = fixtures();
    files.extend(fixtures().into_iter().rev().take(3));
    let want = one_after_another(&files);
    assert!(!want.is_empty());
    for j in ["1", "2"] {
        let got = replay(&["--json", "-j", j], &files);
        assert!(got.stdout == want, "-j {j}: NDJSON differs from the files judged one after the other");
    }
}

#[test]
#[ignore = "corpus: needs /work/shared/corpus"]
fn corpus_captures_give_the_same_bytes_for_every_j() {
    let dir = support::corpus().join("captures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 40, "{files:?}");
    same_for_every_j(&files);
    let got = replay(&["--json", "-j", "2"], &files);
    assert!(got.stdout == one_after_another(&files), "NDJSON differs from the files one after the other");
}

/// A file that cannot be read stops the replay where a sequential one stops: everything
/// before it is written, nothing after it.
#[test]
fn a_bad_file_among_good_ones_ends_it_at_the_same_place() {
    let dir = std::env::temp_dir().join(format!("dnsleak-parallel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("not-a-capture.pcap");
    std::fs::write(&bad, b"this is not a capture file, only text").unwrap();
    let mut files = fixtures();
    files.insert(3, bad);
    let one = replay(&["--json", "-j", "1"], &files);
    same_for_every_j(&files);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(one.status.code(), Some(2));
    let err = String::from_utf8_lossy(&one.stderr);
    assert!(err.contains("not-a-capture.pcap"), "{err}");
    let out = String::from_utf8_lossy(&one.stdout);
    let named = |f: &Path| out.contains(&format!("\"file\":\"{}\"", f.display()));
    assert!(files[..3].iter().all(|f| named(f)), "the files before it are written");
    assert!(!files[4..].iter().any(|f| named(f)), "the files after it are not");
}

/// `--continue`: a capture cut into a ring of files (dumpcap's names sort in order) is judged
/// as the whole file is, whatever order the files are given in: a response in the next file
/// still pairs with its query, the tunnel's state carries over. Without it each file stands
/// alone.
#[test]
#[ignore = "tool: needs editcap (apt-get install wireshark-common)"]
fn continue_judges_a_rotated_capture_as_one() {
    let whole = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.pcapng");
    let dir = std::env::temp_dir().join(format!("dnsleak-continue-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let split = Command::new("editcap")
        .args(["-c", "10"])
        .arg(&whole)
        .arg(dir.join("ring.pcapng"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run editcap ({e}): apt-get install wireshark-common"));
    assert!(split.success());
    let mut parts: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    parts.sort();
    assert!(parts.len() >= 5, "{parts:?}");
    parts.reverse();
    let events = |o: &Output| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            // The final `stats` lines differ (bytes read), the events may not.
            .filter(|l| !l.starts_with(r#"{"kind":"stats""#))
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                // Frame numbers count within each file, and `file` names it.
                v.as_object_mut().unwrap().remove("frame");
                v.as_object_mut().unwrap().remove("file");
                v
            })
            .collect()
    };
    let one = replay(&["--json"], std::slice::from_ref(&whole));
    let ring = replay(&["--json", "--continue"], &parts);
    let alone = replay(&["--json"], &parts);
    let summary_one = replay(&[], std::slice::from_ref(&whole));
    let summary_ring = replay(&["--continue"], &parts);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(ring.status.code(), one.status.code());
    assert_eq!(events(&ring), events(&one), "--continue over the ring is the whole capture");
    assert_ne!(events(&alone), events(&one), "without --continue each file stands alone");
    let counts = |o: &Output| {
        let t = String::from_utf8_lossy(&o.stdout).into_owned();
        t.lines()
            .filter(|l| l.starts_with("EXPOSED") || l.starts_with("Unanswered"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(!counts(&summary_one).is_empty());
    assert_eq!(counts(&summary_ring), counts(&summary_one));
}

/// The transcript of `command` run by `sh` on a terminal (`script` from util-linux), its
/// terminal control sequences taken out and carriage returns made new lines.
fn on_a_terminal(command: &str) -> String {
    let out = Command::new("script")
        .args(["-qfec", command, "/dev/null"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("needs script (util-linux's bsdutils)");
    assert!(out.status.success() || out.status.code() == Some(1), "{command}: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ parameters, then a final letter.
                if chars.next_if_eq(&'[').is_some() {
                    while chars.next().is_some_and(|c| !c.is_ascii_alphabetic()) {}
                }
            }
            '\r' => plain.push('\n'),
            c => plain.push(c),
        }
    }
    plain
}

#[test]
fn several_files_show_one_progress_bar_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (1..=3)
        .map(|seed| {
            let path = dir.path().join(format!("mix-{seed}.pcapng"));
            let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            dnsleak::app::bench::mix::write_pcapng(&mut w, 20_000, seed).unwrap();
            path
        })
        .collect();
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let total: u64 = files.iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
    // indicatif writes the total in binary units.
    let mib = format!("{:.2} MiB", total as f64 / (1024.0 * 1024.0));
    let ndjson = dir.path().join("out.ndjson");
    // In parallel, and one file after another (--continue: one pipeline through them).
    for args in [&["--json", "-j", "2"][..], &["--json", "--continue"][..]] {
        let command = format!("{BIN} replay {} {} > {}", args.join(" "), names.join(" "), ndjson.display());
        let shown = on_a_terminal(&command);
        let bars: Vec<&str> = shown.lines().filter(|l| l.contains("files written")).collect();
        assert!(!bars.is_empty(), "{args:?}: no progress bar on the terminal:\n{shown}");
        for bar in &bars {
            assert!(bar.contains("/3 files written, "), "{args:?}: the bar counts all three files: {bar}");
            assert!(bar.contains(" packets/s"), "{args:?}: {bar}");
            assert!(bar.contains(&mib), "{args:?}: the files' total size {mib}: {bar}");
        }
        // The bar is on standard error only: the NDJSON is what it is without a terminal.
        let plain = replay(args, &files);
        assert!(std::fs::read(&ndjson).unwrap() == plain.stdout, "{args:?}: NDJSON differs on a terminal");

        let quiet =
            on_a_terminal(&format!("{BIN} replay -q {} {} > /dev/null", args.join(" "), names.join(" ")));
        assert!(!quiet.contains("files written"), "{args:?}: --quiet shows no bar:\n{quiet}");
    }
}

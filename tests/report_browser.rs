//! The HTML report in real tools: Debian's headless Chromium renders the report of
//! `fixtures/demo.pcapng` (with JavaScript on and off; screenshot compared loosely by pixel
//! statistics, DOM dumped and checked), and `tidy` finds no error or warning in the reports of
//! the fixtures and of a page full of hostile text.
//!
//! `DNSLEAK_REPORT_SCREENSHOT=docs/report-demo.png cargo test --test report_browser -- --ignored`
//! also writes the screenshot the README shows.

mod report_common;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use dnsleak::output::html::{render, CauseRow, Collector, Origin};
use dnsleak::output::Sink;
use report_common::{event, fixture, replay_report, tmp_dir};

/// Runs `cmd` to its end, or fails the test after `within`.
fn run_within(mut cmd: Command, within: Duration) -> Output {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start the tool");
    let pid = child.id();
    let reader = std::thread::spawn(move || {
        let out = child.wait_with_output();
        out.expect("the tool's output")
    });
    match support::poll(within, || reader.is_finished().then_some(())) {
        Some(()) => reader.join().expect("the waiting thread"),
        None => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("{cmd:?} did not finish within {within:?}");
        }
    }
}

fn need(tool: &str, package: &str) {
    let found = Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(
        found.is_ok_and(|s| s.success()),
        "tool: needs {tool} (Debian package {package}: apt-get install {package})"
    );
}

/// Chromium with the flags that keep it off the network and away from the user's profile.
fn chromium(profile: &Path, js: bool, args: &[&str]) -> Output {
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-color-profile=srgb",
        "--window-size=1200,2000",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    if !js {
        // The profile's content setting: headless Chromium writes no screenshot or DOM at all
        // with --blink-settings=scriptEnabled=false, and ignores --disable-javascript.
        let prefs = profile.join("Default");
        std::fs::create_dir_all(&prefs).expect("the profile directory");
        std::fs::write(
            prefs.join("Preferences"),
            r#"{"profile":{"default_content_setting_values":{"javascript":2}}}"#,
        )
        .expect("the profile's preferences");
    }
    cmd.args(args);
    let out = run_within(cmd, Duration::from_secs(120));
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// RGB pixels of a PNG: (width, height, bytes per pixel, data).
fn pixels(path: &Path) -> (usize, usize, usize, Vec<u8>) {
    let file = std::io::BufReader::new(std::fs::File::open(path).expect("the screenshot"));
    let mut reader = png::Decoder::new(file).read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a PNG of sane size")];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    buf.truncate(info.buffer_size());
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    (info.width as usize, info.height as usize, info.color_type.samples(), buf)
}

/// Counts pixels within `tol` of `rgb` in rows `y0..y1`.
fn count_near(
    img: &(usize, usize, usize, Vec<u8>),
    rows: std::ops::Range<usize>,
    rgb: [u8; 3],
    tol: u8,
) -> usize {
    let (w, h, bpp, data) = img;
    let rows = rows.start.min(*h)..rows.end.min(*h);
    data[rows.start * w * bpp..rows.end * w * bpp]
        .chunks(*bpp)
        .filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= tol))
        .count()
}

/// Not blank, the banner on top, and the charts' colours below it.
fn check_screenshot(path: &Path) {
    let img = pixels(path);
    let (w, h, bpp, data) = &img;
    assert!(*w >= 1000 && *h >= 1500, "{w}x{h}");
    let white = count_near(&img, 0..*h, [255, 255, 255], 3);
    assert!(white < w * h * 85 / 100, "the page is nearly blank: {white} of {} pixels white", w * h);
    let mut colours: Vec<[u8; 3]> = data.chunks(*bpp).map(|p| [p[0], p[1], p[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 200, "only {} colours", colours.len());
    // The banner (leaking: #a61d1d, its tiles lighter) fills the top.
    let banner = count_near(&img, 20..120, [0xa6, 0x1d, 0x1d], 24);
    assert!(banner > w * 100 * 40 / 100, "banner red in {banner} of {} top pixels", w * 100);
    // Below it: leak red, bypass orange and tunnel green in the timeline and charts.
    for (what, rgb, least) in [
        ("leak", [0xc6, 0x28, 0x28], 800),
        ("bypass", [0xd9, 0x63, 0x0b], 300),
        ("tunnel", [0x2e, 0x7d, 0x32], 300),
    ] {
        let n = count_near(&img, 300..*h, rgb, 16);
        assert!(n >= least, "{what}: {n} pixels of its colour, at least {least} expected");
    }
}

fn check_dom(dom: &str) {
    for text in [
        "Leaking: 10 plaintext DNS messages left outside the tunnel, 2 encrypted DNS flows went around it",
        "fixtures/demo.pcapng",
        "09cc44612f4ad4a0e30a01f7b75c5ef28a0855333089b34bdb25c43f6050eef4",
        "Timeline",
        "Leaks and bypasses by resolver",
        "git.corp.example",
        "cloudflare-dns.com",
        "192.0.2.1 (Cloudflare)",
        "parallel_resolution",
        "<svg class=\"chart\"",
    ] {
        assert!(dom.contains(text), "the DOM lacks {text:?}");
    }
    assert!(!dom.contains("<script"), "a script in the DOM");
}

#[test]
#[ignore = "tool: needs chromium"]
fn demo_report_renders_in_headless_chromium() {
    need("chromium", "chromium");
    let dir = tmp_dir("chromium");
    let html = replay_report(&dir, &[&fixture("demo.pcapng")], &[]);
    assert!(html.contains("demo.pcapng"));
    let url = format!("file://{}", dir.join("report.html").display());
    // A page whose script marks it: proves that JavaScript is on, then off.
    let probe = dir.join("probe.html");
    std::fs::write(
        &probe,
        "<!DOCTYPE html><title>p</title><p id=a>static</p><script>a.textContent='ran'</script>",
    )
    .unwrap();
    for js in [true, false] {
        let profile = dir.join(format!("profile-{js}"));
        let probed = chromium(&profile, js, &["--dump-dom", &format!("file://{}", probe.display())]);
        let expect = if js { ">ran<" } else { ">static<" };
        assert!(
            String::from_utf8_lossy(&probed.stdout).contains(expect),
            "JavaScript on: {js}, not {expect}"
        );
        let shot = dir.join(format!("shot-{js}.png"));
        let out = chromium(&profile, js, &[&format!("--screenshot={}", shot.display()), &url]);
        assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&out.stderr));
        check_screenshot(&shot);
        let dom = chromium(&profile, js, &["--dump-dom", &url]);
        check_dom(&String::from_utf8_lossy(&dom.stdout));
        if js {
            if let Some(to) = std::env::var_os("DNSLEAK_REPORT_SCREENSHOT") {
                let to = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(to);
                std::fs::copy(&shot, &to).expect("copy the screenshot");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tidy(path: &Path) {
    let mut cmd = Command::new("tidy");
    cmd.args(["-errors", "-quiet"]).arg(path);
    let out = run_within(cmd, Duration::from_secs(60));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(0) && said.trim().is_empty(),
        "tidy on {} (exit {:?}):\n{said}",
        path.display(),
        out.status.code()
    );
}

#[test]
#[ignore = "tool: needs tidy"]
fn reports_are_valid_html() {
    need("tidy", "tidy");
    let dir = tmp_dir("tidy");
    for name in ["demo", "tunnel-dies", "clean-tunnel", "mdns", "doh-bypass"] {
        replay_report(&dir, &[&fixture(&format!("{name}.pcapng"))], &[]);
        let page = dir.join(format!("{name}.html"));
        std::fs::rename(dir.join("report.html"), &page).unwrap();
        tidy(&page);
    }
    // A page with every optional part and hostile text.
    let mut c = Collector::default();
    c.event(&event::leak(0, "eth<0>", "<script>x</script>\u{202e}.example"), None).unwrap();
    c.event(&event::bypass(5, "eth\"0", Some("\"><a href=x>")), None).unwrap();
    c.event(&event::parallel(9, "wg'0", "eth0", "q\"uote"), None).unwrap();
    let mut data = c.data(Origin::Live, vec!["<note>".into()], None);
    data.causes = vec![CauseRow {
        cause: "<c>".into(),
        detail: Some("\"d\"".into()),
        fix: Some("'f'".into()),
        count: 1,
    }];
    data.programs = vec![("p<rog>".into(), 1)];
    data.configured = vec![("192.0.2.1".parse().unwrap(), false)];
    let page = dir.join("hostile.html");
    std::fs::write(&page, render(&data).unwrap()).unwrap();
    tidy(&page);
    let _ = std::fs::remove_dir_all(&dir);
}

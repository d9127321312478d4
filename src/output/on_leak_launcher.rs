//! `--on-leak`'s commands run from a launcher process of their own, so that they keep working
//! while the monitor runs locked down (issue #13).
//!
//! The monitor's system-call filter applies to every one of its threads and would be inherited
//! by any process they start (`sh` would get ENOSYS for fork, execve, file creation), and its
//! user switch (glibc's setuid, applied to every thread) aborts the process when a thread has
//! already given up the capabilities to follow. So the monitor starts the launcher, a second
//! `dnsleak` process (`dnsleak on-leak-launcher`, hidden), before it drops anything: started
//! as the user the monitor becomes (`--user`, `nobody` by default as root), it gives up every
//! capability and sets no_new_privs first, then runs `sh -c CMD` for each alert it is sent,
//! waiting at most `on_leak::TIMEOUT`. It is not under the filter: the command it runs can do
//! what the user's shell commands do, as that user, and nothing more.
//!
//! Protocol on the launcher's standard input and output (one alert at a time):
//! - monitor -> launcher: the alert's variables, one `NAME=value` line each, then an empty
//!   line. Values have been escaped (`output::escape`) and carry no line break; any that
//!   would is replaced by a space.
//! - launcher -> monitor: one line, `ok` or `failed: WHY`.

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout};

use super::on_leak::{run_here, Alert, ENV_NAMES};

/// Longest alert record accepted, in bytes (a few escaped names and addresses).
const MAX_RECORD: usize = 64 * 1024;

/// The monitor's side: a running launcher and its pipes.
pub struct Launcher {
    child: Child,
    /// Its standard input (None once closed).
    to: Option<ChildStdin>,
    from: BufReader<ChildStdout>,
}

impl Launcher {
    /// Takes a launcher started with piped standard input and output.
    pub fn new(mut child: Child) -> io::Result<Launcher> {
        let (Some(to), Some(from)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(io::Error::other("the --on-leak launcher was started without its pipes"));
        };
        Ok(Launcher { child, to: Some(to), from: BufReader::new(from) })
    }

    /// Has the launcher run the command for `alert`, and says how it went.
    pub fn run(&mut self, alert: &Alert) -> Result<(), String> {
        let lost = |e: io::Error| format!("could not be run: the --on-leak launcher is gone ({e})");
        let Some(to) = &mut self.to else {
            return Err("could not be run: the --on-leak launcher was closed".into());
        };
        to.write_all(&encode(alert)).and_then(|()| to.flush()).map_err(lost)?;
        let mut line = String::new();
        match self.from.read_line(&mut line) {
            Ok(0) => Err("could not be run: the --on-leak launcher exited".into()),
            Ok(_) => decode_result(line.trim_end_matches('\n')),
            Err(e) => Err(lost(e)),
        }
    }
}

impl Drop for Launcher {
    /// Closing its input ends the launcher (after the command it runs, if any); it is waited
    /// for so that it does not linger as a zombie.
    fn drop(&mut self) {
        self.to.take();
        let _ = self.child.wait();
    }
}

/// The record for `alert`.
fn encode(alert: &Alert) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    for (name, value) in &alert.env {
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend(value.bytes().map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b }));
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// The next alert on `input`; None at its end. Unknown names are refused.
fn decode<R: BufRead>(input: &mut R) -> io::Result<Option<Alert>> {
    let mut env = Vec::new();
    let mut size = 0;
    loop {
        let mut line = String::new();
        let n = io::Read::take(&mut *input, (MAX_RECORD - size + 1) as u64).read_line(&mut line)?;
        size += n;
        if n == 0 {
            return Ok(None);
        }
        if size > MAX_RECORD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "alert record too long"));
        }
        let line = line.trim_end_matches('\n');
        if line.is_empty() {
            return Ok(Some(Alert { env }));
        }
        let (name, value) = line.split_once('=').unwrap_or((line, ""));
        let Some(&known) = ENV_NAMES.iter().find(|&&k| k == name) else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown variable {name:?}")));
        };
        env.push((known, value.to_string()));
    }
}

fn decode_result(line: &str) -> Result<(), String> {
    match line.strip_prefix("failed: ") {
        None if line == "ok" => Ok(()),
        None => Err(format!("could not be run: the --on-leak launcher said {line:?}")),
        Some(why) => Err(why.to_string()),
    }
}

/// The launcher's loop: runs `sh -c command` for each alert on `input` and answers on
/// `output`, until `input` ends. `log`: the command's output goes to standard error.
pub fn serve(command: &str, log: bool, mut input: impl BufRead, mut output: impl Write) -> io::Result<()> {
    while let Some(alert) = decode(&mut input)? {
        let answer = match run_here(command, log, &alert) {
            Ok(()) => "ok\n".to_string(),
            Err(why) => format!("failed: {}\n", why.replace('\n', " ")),
        };
        output.write_all(answer.as_bytes())?;
        output.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        Alert {
            env: vec![
                ("DNSLEAK_VERDICT", "leak".into()),
                ("DNSLEAK_QNAME", "a\nDNSLEAK_SNI=x.example".into()),
            ],
        }
    }

    #[test]
    fn a_record_round_trips_and_a_line_break_cannot_add_a_variable() {
        let bytes = [encode(&alert()), encode(&alert())].concat();
        let mut input = io::Cursor::new(bytes);
        let got = decode(&mut input).unwrap().unwrap();
        assert_eq!(
            got.env,
            [("DNSLEAK_VERDICT", "leak".into()), ("DNSLEAK_QNAME", "a DNSLEAK_SNI=x.example".into())]
        );
        assert!(decode(&mut input).unwrap().is_some());
        assert!(decode(&mut input).unwrap().is_none());
    }

    #[test]
    fn unknown_names_and_endless_records_are_refused() {
        let mut bad = io::Cursor::new(b"PATH=/tmp\n\n".to_vec());
        assert!(decode(&mut bad).is_err());
        let mut long = io::Cursor::new(format!("DNSLEAK_QNAME={}\n\n", "a".repeat(MAX_RECORD)).into_bytes());
        assert!(decode(&mut long).is_err());
    }

    #[test]
    fn the_loop_runs_the_command_per_alert_and_answers() {
        let input = io::Cursor::new([encode(&alert()), encode(&alert())].concat());
        let mut out = Vec::new();
        serve("test \"$DNSLEAK_VERDICT\" = leak", false, input, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "ok\nok\n");
        let mut out = Vec::new();
        serve("exit 3", false, io::Cursor::new(encode(&alert())), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("failed: ") && text.contains('3'), "{text}");
        assert_eq!(decode_result(text.trim_end()), Err(text.trim_end()["failed: ".len()..].to_string()));
        assert_eq!(decode_result("ok"), Ok(()));
    }
}

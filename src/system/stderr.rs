//! Standard error turned into lines while the dashboard owns the terminal: a library that
//! prints there on its own (oxhttp, the HTTP server of `--metrics`, says so when a client
//! drops a connection mid-response) would scribble over the screen. [`divert`] points file
//! descriptor 2 at a pipe whose lines a thread hands to a callback (the dashboard shows them
//! as warnings); [`restore`] points it back, once, from wherever the terminal is restored
//! (also a panic hook, so a panic's message reaches the real standard error).
//!
//! Bounded: a line is cut at [`MAX_LINE`] bytes (the rest up to its newline is dropped and
//! the line marked as cut); the callback decides what it keeps. The reader thread ends when
//! every write end is closed (after [`restore`], and once a child process that inherited
//! it, an `--on-leak` command, exits). System calls of that thread: read, futex (the
//! callback's lock), and thread setup/exit (mmap, munmap, mprotect, rt_sigprocmask, rseq,
//! set_robust_list, sigaltstack, prctl, sched_getaffinity, exit).

use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;
use std::thread::JoinHandle;

/// Longest line handed on, in bytes.
pub const MAX_LINE: usize = 512;

/// Where standard error pointed before [`divert`] (taken by [`restore`]).
static SAVED: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// Points standard error at a pipe and calls `each_line` with every line written there (lossy
/// UTF-8, without its newline; unescaped: escape it before a terminal sees it), on a thread of
/// its own, until [`restore`]. Returns that thread (it ends soon after [`restore`]).
pub fn divert(mut each_line: impl FnMut(String) + Send + 'static) -> io::Result<JoinHandle<()>> {
    let mut saved = SAVED.lock().unwrap_or_else(|p| p.into_inner());
    if saved.is_some() {
        return Err(io::Error::other("standard error is already diverted"));
    }
    let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let mut reader = std::fs::File::from(reader);
    let original = io::stderr().as_fd().try_clone_to_owned()?;
    let thread = std::thread::Builder::new()
        .name("dnsleak-stderr".into())
        .spawn(move || read_lines(&mut reader, &mut each_line))?;
    rustix::stdio::dup2_stderr(&writer)?;
    *saved = Some(original);
    Ok(thread)
}

/// Points standard error back where it was before [`divert`] (nothing when it is not diverted).
pub fn restore() {
    let mut saved = SAVED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(original) = saved.take() {
        let _ = rustix::stdio::dup2_stderr(&original);
    }
}

/// Reads `from` until its end, calling `each_line` for every line (a last one without newline
/// too), each cut at `MAX_LINE` bytes.
fn read_lines(from: &mut impl Read, each_line: &mut impl FnMut(String)) {
    let mut line: Vec<u8> = Vec::with_capacity(MAX_LINE);
    let mut cut = false;
    let mut buf = [0u8; 4096];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                each_line(finish(&mut line, std::mem::take(&mut cut)));
            } else if line.len() < MAX_LINE {
                line.push(b);
            } else {
                cut = true;
            }
        }
    }
    if !line.is_empty() {
        each_line(finish(&mut line, cut));
    }
}

fn finish(line: &mut Vec<u8>, cut: bool) -> String {
    let mut text = String::from_utf8_lossy(line).into_owned();
    if cut {
        text.push_str(" [cut]");
    }
    line.clear();
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(input: &[u8]) -> Vec<String> {
        let mut got = Vec::new();
        read_lines(&mut &input[..], &mut |l| got.push(l));
        got
    }

    #[test]
    fn lines_are_split_cut_and_the_last_one_kept() {
        let long = "x".repeat(MAX_LINE + 100);
        let input = format!("one\ntwo\n{long}\nlast");
        let got = lines_of(input.as_bytes());
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!((got[0].as_str(), got[1].as_str(), got[3].as_str()), ("one", "two", "last"));
        assert_eq!(got[2], format!("{} [cut]", "x".repeat(MAX_LINE)));
        assert_eq!(lines_of(b"\xff\n"), vec!["\u{fffd}".to_string()]);
    }

    /// What is written on file descriptor 2 while diverted reaches the callback, and after
    /// `restore` the reader thread ends.
    #[test]
    fn standard_error_is_diverted_and_restored() {
        use std::io::Write;
        let got = std::sync::Arc::new(Mutex::new(Vec::new()));
        let into = got.clone();
        let thread = divert(move |l| into.lock().unwrap().push(l)).unwrap();
        assert!(divert(|_| {}).is_err(), "diverted twice");
        let mut fd2 = std::fs::File::from(io::stderr().as_fd().try_clone_to_owned().unwrap());
        fd2.write_all(b"from a library\n").unwrap();
        drop(fd2);
        restore();
        thread.join().unwrap();
        assert!(got.lock().unwrap().contains(&"from a library".to_string()), "{:?}", got.lock().unwrap());
    }
}

//! SHA-256 of a capture's bytes for the audit trail, computed as the reader reads them: every
//! byte of the file (compressed bytes for gzip) passes the reader's tap once, so a file is read
//! once and standard input, which cannot be read again, is hashed too.
//!
//! A read that stops before the end (a corrupt record, an output that closed) leaves the rest
//! unread: for a regular file [`Digest::finish`] reads just that rest, from where the tap
//! stopped; standard input is never drained (its writer may never stop), its digest says how
//! many bytes it covers instead.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest as _, Sha256};

/// The SHA-256 of what was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub sha256: [u8; 32],
    /// Bytes hashed.
    pub bytes: u64,
    /// The whole input (to its end), not only its first `bytes`.
    pub whole: bool,
}

impl FileDigest {
    /// Lowercase hex, as `sha256sum` prints it.
    pub fn hex(&self) -> String {
        use std::fmt::Write as _;
        self.sha256.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

#[derive(Default)]
struct State {
    sha: Sha256,
    bytes: u64,
    eof: bool,
}

/// A digest being computed by a reader's tap; shared with whoever finishes it.
#[derive(Clone, Default)]
pub struct Digest(Arc<Mutex<State>>);

impl Digest {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes the tap read (`n` > 0), or the end of the input (`n` == 0 for a non-empty buffer).
    pub(super) fn update(&self, data: &[u8], asked: usize) {
        let mut s = self.state();
        if data.is_empty() && asked > 0 {
            s.eof = true;
        }
        s.sha.update(data);
        s.bytes += data.len() as u64;
    }

    /// The digest, once the read is over. For a regular file the tap did not read to its end,
    /// the rest is read and hashed now; standard input (`-`) is left as it is.
    pub fn finish(self, path: &Path) -> io::Result<FileDigest> {
        let mut s = std::mem::take(&mut *self.state());
        if !s.eof && path.as_os_str() != "-" {
            let mut file = File::open(path)?;
            file.seek(SeekFrom::Start(s.bytes))?;
            let mut buf = vec![0u8; 256 << 10];
            loop {
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        s.sha.update(&buf[..n]);
                        s.bytes += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            s.eof = true;
        }
        Ok(FileDigest { sha256: s.sha.finalize().into(), bytes: s.bytes, whole: s.eof })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    /// A file holding `bytes`, removed with its directory when the guard drops (the test
    /// left a `dnsleak-digest-PID` directory in /tmp on every run before).
    fn tmp(name: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    #[test]
    fn a_whole_read_is_hashed_as_read() {
        let d = Digest::default();
        d.update(b"ab", 64);
        d.update(b"c", 64);
        d.update(b"", 64);
        let f = d.finish(Path::new("/nonexistent/never-opened")).unwrap();
        assert_eq!((f.hex().as_str(), f.bytes, f.whole), (ABC, 3, true));
    }

    #[test]
    fn a_file_read_part_way_is_finished_from_where_it_stopped() {
        let (_dir, path) = tmp("abc", b"abc");
        let d = Digest::default();
        d.update(b"a", 64);
        let f = d.finish(&path).unwrap();
        assert_eq!((f.hex().as_str(), f.bytes, f.whole), (ABC, 3, true));
    }

    #[test]
    fn standard_input_read_part_way_says_so() {
        let d = Digest::default();
        d.update(b"ab", 64);
        let f = d.finish(Path::new("-")).unwrap();
        assert_eq!((f.bytes, f.whole), (2, false));
    }
}

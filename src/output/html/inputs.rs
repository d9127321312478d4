//! The input files for the audit trail: size and SHA-256 of each, computed on a thread of its
//! own while the replay reads them (the hash does not slow the pipeline's thread).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use super::data::InputFile;
use crate::output::summary::Source;

/// What hashing one file found.
type Hashed = Result<(u64, String), String>;

/// Hashes being computed.
pub struct Hashes {
    names: Vec<String>,
    worker: Option<JoinHandle<Vec<Hashed>>>,
}

impl Hashes {
    /// Starts hashing `files` in order on a thread of its own; `names` are how replay names them.
    pub fn spawn(files: &[PathBuf], names: Vec<String>) -> Hashes {
        let paths = files.to_vec();
        let worker = std::thread::Builder::new()
            .name("report-sha256".into())
            .spawn(move || paths.iter().map(|p| hash(p)).collect())
            .ok();
        Hashes { names, worker }
    }

    /// Waits for the hashes and joins them with what replay read of each file.
    pub fn join(self, sources: &[Source]) -> Vec<InputFile> {
        let hashed = self.worker.and_then(|w| w.join().ok());
        self.names
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                let source = sources.iter().find(|s| s.name == name);
                let (size, sha256, note) = match hashed.as_ref().and_then(|h| h.get(i)) {
                    Some(Ok((size, sha))) => (Some(*size), Some(sha.clone()), None),
                    Some(Err(why)) => (None, None, Some(why.clone())),
                    None => (None, None, Some("not hashed: the hashing thread failed".to_string())),
                };
                InputFile {
                    format: source.map_or_else(|| "not read".to_string(), |s| s.format.clone()),
                    packets: source.map_or(0, |s| s.packets),
                    name,
                    size,
                    sha256,
                    note,
                }
            })
            .collect()
    }
}

/// Size and SHA-256 (lowercase hex) of the file at `path`.
fn hash(path: &Path) -> Hashed {
    if path.as_os_str() == "-" {
        return Err("not hashed: standard input can be read only once (save it to a file to hash it)".into());
    }
    let mut file = File::open(path).map_err(|e| format!("not hashed: {e}"))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("not hashed: read failed after {size} bytes: {e}")),
        }
    }
    Ok((size, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_text() {
        let dir = std::env::temp_dir().join(format!("dnsleak-sha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("abc.txt");
        std::fs::write(&path, b"abc").unwrap();
        let (size, sha) = hash(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(size, 3);
        assert_eq!(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn stdin_and_missing_files_say_why() {
        assert!(hash(Path::new("-")).unwrap_err().contains("standard input"));
        assert!(hash(Path::new("/nonexistent/x.pcap")).unwrap_err().starts_with("not hashed"));
    }

    #[test]
    fn join_matches_sources_by_name() {
        let h = Hashes::spawn(&[PathBuf::from("-")], vec!["standard input".into()]);
        let src = Source { name: "standard input".into(), format: "pcap".into(), packets: 7, interfaces: 1 };
        let files = h.join(&[src]);
        assert_eq!(files.len(), 1);
        assert_eq!((files[0].format.as_str(), files[0].packets), ("pcap", 7));
        assert!(files[0].sha256.is_none() && files[0].note.is_some());
    }
}

use super::*;
use crate::output::json::JsonSink;
use crate::output::testing::judged;
use dnsleak_core::{EventKind, Verdict};

/// Distinct events: each file's `n`-th is its own.
fn events(file: usize, n: usize) -> Vec<Judged> {
    (0..n)
        .map(|i| {
            let verdict = if i % 3 == 0 { Verdict::Leak } else { Verdict::Tunnel };
            judged(
                "eth0",
                EventKind::Query,
                verdict,
                [192, 0, 2, 1],
                i as i64,
                &format!("n{i}.f{file}.example"),
            )
        })
        .collect()
}

/// What a sequential `replay --json` writes for these files, one after another.
fn sequential(files: &[Vec<Judged>]) -> Vec<u8> {
    let mut sink = JsonSink::new(Vec::new());
    for (f, events) in files.iter().enumerate() {
        for j in events {
            sink.event(j, Some(&format!("file{f}"))).unwrap();
        }
    }
    sink.into_inner()
}

/// Files judged at once on `workers` threads, each given its events in runs of `run`, then
/// written in order as `parallel::collect` does.
fn parallel(files: &[Vec<Judged>], workers: usize, run: usize) -> Vec<u8> {
    let turns = Turns::new(Vec::new(), workers);
    let spools: Vec<Option<Spool>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .iter()
            .enumerate()
            .map(|(f, events)| {
                let turns = &turns;
                s.spawn(move || {
                    let mut out = FileOut::new(f, turns);
                    let label = format!("file{f}");
                    for chunk in events.chunks(run) {
                        out.events(&mut chunk.to_vec(), Some(&label)).unwrap();
                    }
                    out.finish(false).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (f, spool) in spools.into_iter().enumerate() {
        if let Some(spool) = spool {
            turns.write_spooled(f, spool, false).unwrap();
        }
    }
    turns.into_inner()
}

#[test]
fn a_spool_gives_back_what_it_took_in_order_across_the_spill() {
    let mut s = Spool::default();
    let mut want = Vec::new();
    let chunk: Vec<u8> = (0..=255u8).cycle().take(CHUNK).collect();
    for _ in 0..(SPOOL_MEMORY / CHUNK + 5) {
        s.push(chunk.clone(), &std::env::temp_dir()).unwrap();
        want.extend_from_slice(&chunk);
    }
    assert!(s.file.is_some(), "spilled to a file");
    let mut out = Output::new(Vec::new());
    s.copy_to(&mut out, &std::env::temp_dir()).unwrap();
    assert!(out.w == want, "{} bytes back of {}", out.w.len(), want.len());
}

/// A spool that cannot spill says where it tried and what to do (it said "No such file or
/// directory (os error 2)" alone).
#[test]
fn regression_a_spool_that_cannot_spill_names_the_directory_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("gone");
    let mut s = Spool::default();
    let chunk = vec![b'x'; CHUNK];
    let err = (0..=SPOOL_MEMORY / CHUNK)
        .map(|_| s.push(chunk.clone(), &missing))
        .find_map(Result::err)
        .expect("the spill fails");
    let text = err.to_string();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    for part in [&missing.display().to_string()[..], "cannot create a temporary file", "TMPDIR", "-j 1"] {
        assert!(text.contains(part), "{part:?} in {text:?}");
    }
}

/// Files judged at once, by one worker or several (then the turn's events are queued and
/// written by whoever is free): each file comes out whole, in order, byte for byte what one
/// sink fed every file in turn writes; also when files spill past the spool's memory.
#[test]
fn files_come_out_whole_and_in_order_whoever_writes_them() {
    let small: Vec<Vec<Judged>> = (0..5).map(|f| events(f, 200 + 150 * f)).collect();
    let want = sequential(&small);
    for workers in [1, 2, 3] {
        for run in [1, 7, 300] {
            assert!(parallel(&small, workers, run) == want, "{workers} workers, runs of {run}");
        }
    }
    // About 11 MB of lines per file: more than a spool keeps in memory.
    let big: Vec<Vec<Judged>> = (0..3).map(|f| events(f, 40_000)).collect();
    let want = sequential(&big);
    assert!(want.len() / 3 > SPOOL_MEMORY, "{} bytes a file", want.len() / 3);
    for workers in [1, 2] {
        assert!(parallel(&big, workers, 3) == want, "{workers} workers, spilled");
    }
}

/// A worker ahead of its turn whose spool is full writes the turn's queued batches, in order,
/// before its own lines; its own lines follow when its turn comes.
#[test]
fn a_worker_ahead_with_a_full_spool_writes_the_turns_batches() {
    let files = [events(0, 3 * BATCH + 10), events(1, 60_000)];
    let turns = Turns::new(Vec::new(), 2);
    let mut first = FileOut::new(0, &turns);
    let mut second = FileOut::new(1, &turns);
    for j in &files[0] {
        first.events(&mut vec![j.clone()], Some("file0")).unwrap();
    }
    assert_eq!(turns.queue().unwrap().batches.len(), 3, "the turn's events wait in batches");
    assert!(turns.lock().w.is_empty(), "nothing written yet");
    second.events(&mut files[1].clone(), Some("file1")).unwrap();
    assert_eq!(turns.queue().unwrap().batches.len(), 0, "the second worker wrote them");
    let written = turns.lock().w.len();
    assert!(written > 0 && second.spool.in_memory >= SPOOL_MEMORY - CHUNK, "{written} written");
    assert!(first.finish(false).unwrap().is_none());
    assert!(second.finish(false).unwrap().is_none(), "its turn came before it ended");
    assert!(turns.into_inner() == sequential(&files));
}

#[test]
fn a_failed_file_keeps_the_turn() {
    for workers in [1, 2] {
        let turns = Turns::new(Vec::new(), workers);
        let mut first = FileOut::new(0, &turns);
        let mut second = FileOut::new(1, &turns);
        first.events(&mut events(0, 3), Some("file0")).unwrap();
        second.events(&mut events(1, 3), Some("file1")).unwrap();
        assert!(first.finish(true).unwrap().is_none());
        let spool = second.finish(false).unwrap();
        assert!(spool.is_some(), "the second file never got the turn");
        assert!(turns.into_inner() == sequential(&[events(0, 3)]), "{workers} workers");
    }
}

/// An output that takes `left` bytes, then fails as a closed pipe does.
struct Closing {
    left: usize,
}

impl Write for Closing {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let n = b.len().min(self.left);
        self.left -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Regression: a write error met by a worker writing another file's batch reaches the file
/// whose turn it is (it ends with the error, without waiting for ever), and nothing more is
/// written.
#[test]
fn regression_a_write_error_met_by_a_helper_ends_the_turns_file() {
    let turns = Turns::new(Closing { left: 1000 }, 2);
    let mut first = FileOut::new(0, &turns);
    let mut second = FileOut::new(1, &turns);
    for j in events(0, 2 * BATCH) {
        first.events(&mut vec![j], Some("file0")).unwrap();
    }
    let helped = second.events(&mut events(1, 60_000), Some("file1"));
    assert_eq!(helped.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    let ended = first.finish(false);
    assert_eq!(ended.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
}

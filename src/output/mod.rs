//! Outputs: judged events in, text out — NDJSON, the summary a person reads, one line per
//! event, pcapng for `--write`, the HTML audit report, Prometheus metrics and `--on-leak`
//! commands. (The dashboard, `tui`, is a `Sink` too.)
//!
//! Every command (replay, monitor, check) drives the same `Sink` interface, so an output works
//! the same on a file and on the wire. Nothing here reads packets or the OS.

pub mod background;
pub mod causes;
pub mod escape;
pub mod facts;
pub mod html;
pub mod incomplete;
pub mod json;
pub mod lines;
pub mod metrics;
pub mod metrics_http;
pub mod on_leak;
pub mod on_leak_launcher;
pub mod pcapng;
pub mod programs;
pub mod report;
pub mod stats_line;
pub mod summary;
#[cfg(test)]
pub(crate) mod testing;
pub mod time;

use std::io;

use crate::counters::Counters;
use dnsleak_core::{Fact, Judged};

/// Where judged events go. Called from one thread, in capture order.
pub trait Sink {
    /// A fact about the machine reached the core (the interfaces: also once before the first
    /// event), in order with the events. Sinks take the facts they show and ignore the others.
    fn fact(&mut self, fact: &Fact) -> io::Result<()> {
        let _ = fact;
        Ok(())
    }
    /// Whether this sink reads a message's bytes (`DnsInfo::payload`, for answers and EDNS).
    /// A sink that never does lets the pipeline skip copying them (`Config::keep_payload`).
    fn wants_payload(&self) -> bool {
        true
    }
    /// One judged event. `file` names the input when several files are replayed.
    fn event(&mut self, judged: &Judged, file: Option<&str>) -> io::Result<()>;
    /// A run of judged events, in order. A sink may take them; the vector is left empty either
    /// way (by default each goes to `event`, then the vector is cleared).
    fn events(&mut self, judged: &mut Vec<Judged>, file: Option<&str>) -> io::Result<()> {
        let result = judged.iter().try_for_each(|j| self.event(j, file));
        judged.clear();
        result
    }
    /// Counters, now and then (at least once before `finish`).
    fn counters(&mut self, counters: &Counters) -> io::Result<()> {
        let _ = counters;
        Ok(())
    }
    /// End of input.
    fn finish(&mut self, counters: &Counters) -> io::Result<()> {
        let _ = counters;
        Ok(())
    }
    /// Something the source wants said that is not an event (an interface live capture cannot
    /// open). By default a line on standard error, escaped; the dashboard, which owns the
    /// terminal, shows it in its own way instead.
    fn diagnostic(&mut self, text: &str) -> io::Result<()> {
        use std::io::Write as _;
        writeln!(io::stderr(), "dnsleak: {}", escape::escape(text))
    }
}

/// Two sinks fed the same events, facts and counters (the dashboard and the summary printed
/// after it closes; any output and the HTML report). Diagnostics go to the first only.
pub struct Tee<A, B>(pub A, pub B);

impl<A: Sink, B: Sink> Sink for Tee<A, B> {
    fn fact(&mut self, fact: &Fact) -> io::Result<()> {
        self.0.fact(fact)?;
        self.1.fact(fact)
    }
    fn wants_payload(&self) -> bool {
        self.0.wants_payload() || self.1.wants_payload()
    }
    fn event(&mut self, judged: &Judged, file: Option<&str>) -> io::Result<()> {
        self.0.event(judged, file)?;
        self.1.event(judged, file)
    }
    /// The second sink sees each event first, by reference; the first then gets the run and
    /// may take it (NDJSON's output thread does).
    fn events(&mut self, judged: &mut Vec<Judged>, file: Option<&str>) -> io::Result<()> {
        judged.iter().try_for_each(|j| self.1.event(j, file))?;
        self.0.events(judged, file)
    }
    fn counters(&mut self, counters: &Counters) -> io::Result<()> {
        self.0.counters(counters)?;
        self.1.counters(counters)
    }
    fn finish(&mut self, counters: &Counters) -> io::Result<()> {
        self.0.finish(counters)?;
        self.1.finish(counters)
    }
    fn diagnostic(&mut self, text: &str) -> io::Result<()> {
        self.0.diagnostic(text)
    }
}

/// A sink that may not be there (an optional output such as `--report`): `None` takes
/// everything and does nothing, not even print a diagnostic.
impl<S: Sink> Sink for Option<S> {
    fn fact(&mut self, fact: &Fact) -> io::Result<()> {
        self.as_mut().map_or(Ok(()), |s| s.fact(fact))
    }
    fn wants_payload(&self) -> bool {
        self.as_ref().is_some_and(S::wants_payload)
    }
    fn event(&mut self, judged: &Judged, file: Option<&str>) -> io::Result<()> {
        self.as_mut().map_or(Ok(()), |s| s.event(judged, file))
    }
    fn events(&mut self, judged: &mut Vec<Judged>, file: Option<&str>) -> io::Result<()> {
        match self {
            Some(s) => s.events(judged, file),
            None => {
                judged.clear();
                Ok(())
            }
        }
    }
    fn counters(&mut self, counters: &Counters) -> io::Result<()> {
        self.as_mut().map_or(Ok(()), |s| s.counters(counters))
    }
    fn finish(&mut self, counters: &Counters) -> io::Result<()> {
        self.as_mut().map_or(Ok(()), |s| s.finish(counters))
    }
    fn diagnostic(&mut self, text: &str) -> io::Result<()> {
        self.as_mut().map_or(Ok(()), |s| s.diagnostic(text))
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn fact(&mut self, fact: &Fact) -> io::Result<()> {
        (**self).fact(fact)
    }
    fn wants_payload(&self) -> bool {
        (**self).wants_payload()
    }
    fn event(&mut self, judged: &Judged, file: Option<&str>) -> io::Result<()> {
        (**self).event(judged, file)
    }
    fn events(&mut self, judged: &mut Vec<Judged>, file: Option<&str>) -> io::Result<()> {
        (**self).events(judged, file)
    }
    fn counters(&mut self, counters: &Counters) -> io::Result<()> {
        (**self).counters(counters)
    }
    fn finish(&mut self, counters: &Counters) -> io::Result<()> {
        (**self).finish(counters)
    }
    fn diagnostic(&mut self, text: &str) -> io::Result<()> {
        (**self).diagnostic(text)
    }
}

//! The NDJSON writer's memory from line to line: its buffers, and the reasons and cause words
//! already made (a capture repeats few of them many times, and making one costs more than the
//! rest of a line).

use std::net::IpAddr;

use dnsleak_core::cause::Seen;
use dnsleak_core::verdict::Reason;
use dnsleak_core::{Caused, IfaceName, Transport};

use super::string;

/// Reasons already written, with their JSON text: a capture has few distinct reasons (one per
/// resolver, interface and direction) and formatting one costs more than the rest of a line.
const REASON_CACHE: usize = 16;

/// Buffers reused from line to line.
#[derive(Default)]
pub(super) struct Scratch {
    pub(super) text: String,
    pub(super) ttls: Vec<u32>,
    pub(super) answers: Vec<u8>,
    reasons: Vec<(Reason, Box<[u8]>)>,
    /// The next cache entry to replace once the cache is full.
    next_reason: usize,
    /// A cause's `cause_detail` and `fix` as JSON strings, by what their words are made of.
    causes: Vec<CauseWords>,
    next_cause: usize,
    /// `cause_detail` and `fix` of a cause whose words name the question, made for one line.
    once: (Vec<u8>, Vec<u8>),
}

/// A cause's key and its `cause_detail` and `fix` as JSON strings.
type CauseWords = (CauseKey, Box<[u8]>, Box<[u8]>);

/// What the words of a cause are made of: its evidence and the parts of the event they use
/// (never the question: words that name it are not cached).
struct CauseKey {
    caused: Caused,
    iface: IfaceName,
    resolver: IpAddr,
    transport: Transport,
    sni: Option<Box<str>>,
}

impl CauseKey {
    fn of(c: &Caused, s: &Seen<'_>) -> CauseKey {
        CauseKey {
            caused: c.clone(),
            iface: IfaceName::new(s.iface),
            resolver: s.resolver,
            transport: s.transport,
            sni: s.sni.map(Into::into),
        }
    }

    fn matches(&self, c: &Caused, s: &Seen<'_>) -> bool {
        self.resolver == s.resolver
            && self.transport == s.transport
            && *self.iface == *s.iface
            && self.sni.as_deref() == s.sni
            && self.caused == *c
    }
}

impl Scratch {
    /// `reason` as a JSON string, from the cache or formatted once.
    pub(super) fn reason(&mut self, reason: &Reason) -> &[u8] {
        let at = match self.reasons.iter().position(|(r, _)| r == reason) {
            Some(at) => at,
            None => {
                use std::fmt::Write as _;
                self.text.clear();
                let _ = write!(self.text, "{reason}");
                let mut json = Vec::with_capacity(self.text.len() + 2);
                string(&mut json, &self.text);
                let entry = (reason.clone(), json.into_boxed_slice());
                if self.reasons.len() < REASON_CACHE {
                    self.reasons.push(entry);
                    self.reasons.len() - 1
                } else {
                    let at = self.next_reason;
                    self.next_reason = (at + 1) % REASON_CACHE;
                    self.reasons[at] = entry;
                    at
                }
            }
        };
        &self.reasons[at].1
    }

    /// `cause_detail` and `fix` (the advice's words, then one command per line) as JSON
    /// strings, from the cache or made once: a replay repeats few causes many times.
    ///
    /// Words that name the question (a stub's, parallel resolution's) differ from message to
    /// message: they are made each time and never cached, where they would push out the
    /// causes that do repeat (two thirds of the bench mix's lookups missed so).
    pub(super) fn cause_words(&mut self, c: &Caused, s: &Seen<'_>) -> (&[u8], &[u8]) {
        if c.words_use_question() {
            let (detail, fix) = &mut self.once;
            detail.clear();
            fix.clear();
            words_into(c, s, &mut self.text, detail, fix);
            return (&self.once.0, &self.once.1);
        }
        let at = match self.causes.iter().position(|(k, _, _)| k.matches(c, s)) {
            Some(at) => at,
            None => {
                let (mut detail, mut fix) = (Vec::new(), Vec::new());
                words_into(c, s, &mut self.text, &mut detail, &mut fix);
                let entry = (CauseKey::of(c, s), detail.into_boxed_slice(), fix.into_boxed_slice());
                if self.causes.len() < REASON_CACHE {
                    self.causes.push(entry);
                    self.causes.len() - 1
                } else {
                    let at = self.next_cause;
                    self.next_cause = (at + 1) % REASON_CACHE;
                    self.causes[at] = entry;
                    at
                }
            }
        };
        let (_, d, f) = &self.causes[at];
        (d, f)
    }
}

/// A cause's words and advice as JSON strings, appended to `detail` and `fix` (`text`: room to
/// write the advice in first).
fn words_into(c: &Caused, s: &Seen<'_>, text: &mut String, detail: &mut Vec<u8>, fix: &mut Vec<u8>) {
    string(detail, &c.words(s));
    text.clear();
    {
        use std::fmt::Write as _;
        let _ = write!(text, "{}", c.advice(s));
    }
    string(fix, text);
}

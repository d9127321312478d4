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
                cache_in(&mut self.reasons, &mut self.next_reason, (reason.clone(), json.into_boxed_slice()))
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
                cache_in(&mut self.causes, &mut self.next_cause, entry)
            }
        };
        let (_, d, f) = &self.causes[at];
        (d, f)
    }
}

/// Puts `entry` in `cache` (up to `REASON_CACHE` entries, then in place of the one `next`
/// names, round robin) and says where.
fn cache_in<T>(cache: &mut Vec<T>, next: &mut usize, entry: T) -> usize {
    if cache.len() < REASON_CACHE {
        cache.push(entry);
        return cache.len() - 1;
    }
    let at = *next;
    *next = (at + 1) % REASON_CACHE;
    cache[at] = entry;
    at
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

#[cfg(test)]
mod tests {
    use super::*;

    /// More distinct reasons than the cache holds, asked for twice over: each comes back as its
    /// own text, whether it was still cached or had been pushed out.
    #[test]
    fn reasons_past_the_cache_keep_their_own_words() {
        let mut scratch = Scratch::default();
        let reasons: Vec<Reason> = (1..=3 * REASON_CACHE as u8)
            .map(|i| Reason::MulticastDest { dst: IpAddr::from([224, 0, 0, i]) })
            .collect();
        for _ in 0..2 {
            for r in &reasons {
                let mut want = Vec::new();
                string(&mut want, &r.to_string());
                assert_eq!(scratch.reason(r), &want[..], "{r}");
            }
        }
        assert_eq!(scratch.reasons.len(), REASON_CACHE);
    }

    #[test]
    fn the_cache_replaces_round_robin_once_full() {
        let (mut cache, mut next) = (Vec::new(), 0);
        let places: Vec<usize> = (0..REASON_CACHE + 3).map(|i| cache_in(&mut cache, &mut next, i)).collect();
        assert_eq!(places[..REASON_CACHE], (0..REASON_CACHE).collect::<Vec<_>>()[..]);
        assert_eq!(places[REASON_CACHE..], [0, 1, 2]);
        assert_eq!(cache[..4], [REASON_CACHE, REASON_CACHE + 1, REASON_CACHE + 2, 3]);
    }
}

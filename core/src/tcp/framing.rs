//! Message boundaries in a DNS-over-TCP byte stream: the 2-byte length prefix (RFC 1035
//! 4.2.2), and after a gap (or at the start of a stream seen without its SYN) the hunt for a
//! plausible prefix, one whose following bytes read as a DNS header with sane counts and a
//! well-formed first question.

use super::StreamItem;
use crate::stats::TcpStats;

/// The smallest message with a question: header, root name, type and class.
const MIN_QUESTION_MSG: usize = 12 + 1 + 4;

/// Where the parser stands in one direction's byte stream.
#[derive(Debug, Default)]
pub(super) struct Scan {
    /// At a message boundary (after a SYN, or after resynchronising).
    pub(super) synced: bool,
    /// Bytes were lost since the last boundary found (so the next one found is a resync).
    pub(super) after_loss: bool,
    /// Bytes skipped while hunting and not yet reported as a gap.
    pub(super) skipped: u64,
}

/// Delivers every whole message in `data`; returns how many bytes were used (the rest is an
/// unfinished message, or bytes the hunt needs more data to judge).
pub(super) fn extract(
    scan: &mut Scan,
    data: &[u8],
    stats: &mut TcpStats,
    sink: &mut dyn FnMut(StreamItem<'_>),
) -> usize {
    let mut pos = 0;
    loop {
        if !scan.synced {
            let (skip, found) = hunt(&data[pos..]);
            pos += skip;
            scan.skipped += skip as u64;
            stats.bytes_lost += skip as u64;
            if !found {
                return pos;
            }
            if scan.skipped > 0 {
                sink(StreamItem::Gap { lost: scan.skipped });
            }
            if scan.skipped > 0 || scan.after_loss {
                stats.resyncs += 1;
            }
            *scan = Scan { synced: true, after_loss: false, skipped: 0 };
        }
        let rest = &data[pos..];
        let Some(len) = rest.get(..2).map(|p| u16::from_be_bytes([p[0], p[1]]) as usize) else {
            return pos;
        };
        let Some(msg) = rest.get(2..2 + len) else {
            return pos;
        };
        sink(StreamItem::Message(msg));
        pos += 2 + len;
        if len < 12 {
            // Not a DNS message: the stream is not where the prefixes said; hunt again.
            scan.synced = false;
            scan.after_loss = true;
        }
    }
}

/// Looks for a plausible length prefix in `data`: returns (bytes to skip, found). When not
/// found, the bytes not skipped are those that need more data to judge.
fn hunt(data: &[u8]) -> (usize, bool) {
    for i in 0..data.len() {
        match plausible(&data[i..]) {
            Plausible::Yes => return (i, true),
            Plausible::No => {}
            Plausible::NeedMore => return (i, false),
        }
    }
    (data.len(), false)
}

#[derive(Debug, PartialEq, Eq)]
enum Plausible {
    Yes,
    No,
    NeedMore,
}

/// Whether `data` starts with a length prefix followed by a DNS header with sane counts and a
/// well-formed first question that fits the length.
fn plausible(data: &[u8]) -> Plausible {
    let Some(h) = data.get(..14) else { return Plausible::NeedMore };
    let len = u16::from_be_bytes([h[0], h[1]]) as usize;
    let flags = u16::from_be_bytes([h[4], h[5]]);
    let count = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]) as usize;
    let (qd, an, ns, ar) = (count(6), count(8), count(10), count(12));
    let opcode = (flags >> 11) & 0xf;
    let z = flags & 0x0040 != 0;
    if len < MIN_QUESTION_MSG || qd != 1 || z || !matches!(opcode, 0 | 1 | 2 | 4 | 5 | 6) {
        return Plausible::No;
    }
    if 12 + 5 + 11 * (an + ns + ar) > len {
        return Plausible::No;
    }
    // The first name: labels only (a pointer cannot point backwards from here).
    let msg_end = 2 + len;
    let mut at = 14;
    loop {
        if at >= msg_end || at - 14 > 255 {
            return Plausible::No;
        }
        let Some(&b) = data.get(at) else { return Plausible::NeedMore };
        if b == 0 {
            break;
        }
        if b & 0xc0 != 0 {
            return Plausible::No;
        }
        at += 1 + b as usize;
    }
    if at + 5 > msg_end {
        return Plausible::No;
    }
    let Some(tc) = data.get(at + 1..at + 5) else { return Plausible::NeedMore };
    let qtype = u16::from_be_bytes([tc[0], tc[1]]);
    let qclass = u16::from_be_bytes([tc[2], tc[3]]) & 0x7fff;
    if qtype == 0 || !matches!(qclass, 1 | 3 | 4 | 254 | 255) {
        return Plausible::No;
    }
    Plausible::Yes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::tests::{framed, query};

    #[test]
    fn plausibility_rules() {
        let q = framed(&query(1, "ok.example"));
        assert_eq!(plausible(&q), Plausible::Yes);
        assert_eq!(plausible(&q[..13]), Plausible::NeedMore);
        assert_eq!(plausible(&q[..16]), Plausible::NeedMore);
        let mut two_questions = q.clone();
        two_questions[7] = 2;
        assert_eq!(plausible(&two_questions), Plausible::No);
        let mut counts_too_big = q.clone();
        counts_too_big[9] = 50; // 50 answers cannot fit
        assert_eq!(plausible(&counts_too_big), Plausible::No);
        let mut pointer = q.clone();
        pointer[14] = 0xc0;
        assert_eq!(plausible(&pointer), Plausible::No);
        let mut name_past_end = q.clone();
        name_past_end[1] = 17;
        assert_eq!(plausible(&name_past_end), Plausible::No);
        let mut bad_class = q.clone();
        let n = bad_class.len();
        bad_class[n - 1] = 9;
        assert_eq!(plausible(&bad_class), Plausible::No);
    }
}

//! The NDJSON `stats` line: every counter, as one object, so a log that only keeps NDJSON
//! still says what was dropped (issue #13). Written last (`"final":true`), and in live
//! capture every `--stats-interval` (`"final":false`).
//!
//! `{"kind":"stats","final":true,"frames":N,"bytes":N,"frame_classes":{...},"events":{...},
//! "verdicts":{...},"malformed":{...},"fragments":{...},"tcp":{...},"pairs":{...},
//! "encrypted_flows":{...},"quic_given_up":N,"losses":{...},"unjudged":N,"incomplete":bool,
//! "capture":[{"iface":...,"received":N,"dropped_pipeline":N,"dropped_kernel":N,
//! "dropped_iface":N}],"dropped_at_stop":N,"incomplete_files":[...],"bytes_read":N}`

use std::io::{self, Write};

use dnsleak_core::{EventKind, FlowCarrier, FrameClass, Loss, Stats, Verdict};
use serde_json::{json, Map, Value};

use super::json::harden;
use crate::counters::Counters;

const KINDS: [EventKind; 5] =
    [EventKind::Query, EventKind::Response, EventKind::Encrypted, EventKind::Malformed, EventKind::Notice];

/// The line (without its newline).
pub fn line(c: &Counters, last: bool) -> String {
    let s = &c.core;
    let capture: Vec<Value> = c
        .capture
        .iter()
        .map(|cc| {
            json!({
                "iface": cc.iface,
                "received": cc.received,
                "dropped_pipeline": cc.dropped_pipeline,
                "dropped_kernel": cc.dropped_kernel,
                "dropped_iface": cc.dropped_iface,
            })
        })
        .collect();
    let v = json!({
        "frames": s.frames,
        "bytes": s.bytes,
        "frame_classes": map(FrameClass::ALL.iter().map(|k| (k.as_str(), s.frames_in(*k)))),
        "events": map(KINDS.iter().map(|k| (k.as_str(), s.events_of(*k)))),
        "verdicts": map(Verdict::ALL.iter().map(|v| (v.as_str(), s.verdict_count(*v)))),
        "malformed": map(s.malformed.iter().map(|(m, n)| (m.as_str(), *n))),
        "fragments": fragments(s),
        "tcp": tcp(s),
        "pairs": pairs(s),
        "encrypted_flows": map(FlowCarrier::ALL.iter().map(|k| (k.as_str(), s.flows_over(*k)))),
        "quic_given_up": s.quic_given_up,
        "time_order": json!({"frames": c.order.frames, "late": c.order.late, "early": c.order.early}),
        "losses": map(Loss::ALL.iter().map(|l| (l.key(), l.count(s)))),
        "unjudged": c.unjudged(),
        "incomplete": c.unjudged() > 0,
        "capture": capture,
        "dropped_at_stop": c.dropped_at_stop,
        "incomplete_files": c.incomplete_files,
        "bytes_read": c.bytes_read,
    });
    // `kind` and `final` first (the rest in key order): a log is grepped for the kind.
    let rest = v.to_string();
    let rest = rest.strip_prefix('{').unwrap_or(&rest);
    harden(&format!("{{\"kind\":\"stats\",\"final\":{last},{rest}")).into_owned()
}

/// Writes the line and its newline.
pub fn write(w: &mut dyn Write, c: &Counters, last: bool) -> io::Result<()> {
    let mut text = line(c, last);
    text.push('\n');
    w.write_all(text.as_bytes())
}

fn map<'a>(pairs: impl Iterator<Item = (&'a str, u64)>) -> Value {
    Value::Object(pairs.map(|(k, n)| (k.to_string(), Value::from(n))).collect::<Map<_, _>>())
}

fn fragments(s: &Stats) -> Value {
    let f = &s.frag;
    json!({
        "reassembled": f.reassembled,
        "timed_out": f.timed_out,
        "evicted": f.evicted,
        "overlaps": f.overlaps,
        "invalid": f.invalid,
    })
}

fn tcp(s: &Stats) -> Value {
    let t = &s.tcp;
    json!({
        "flows": t.flows,
        "flows_evicted": t.flows_evicted,
        "evicted_holding": t.evicted_holding,
        "flows_expired": t.flows_expired,
        "gaps": t.gaps,
        "bytes_lost": t.bytes_lost,
        "resyncs": t.resyncs,
        "retransmissions": t.retransmissions,
    })
}

fn pairs(s: &Stats) -> Value {
    let p = &s.pairs;
    json!({
        "paired": p.paired,
        "unanswered": p.unanswered,
        "unmatched_responses": p.unmatched_responses,
        "evicted": p.evicted,
        "silent_multicast": p.silent_multicast,
        "names_dropped": p.names_dropped,
        "encrypted_flows_evicted": s.encrypted_flows_evicted,
        "dnscrypt_flows_evicted": s.dnscrypt_flows_evicted,
        "encrypted_evicted_partial": s.encrypted_evicted_partial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::CaptureCounters;

    #[test]
    fn every_loss_is_a_key_and_wire_text_is_escaped() {
        let mut c = Counters::default();
        c.core.tcp.flows_evicted = 3;
        c.core.tcp.evicted_holding = 2;
        c.core.pairs.evicted = 7;
        c.capture.push(CaptureCounters {
            iface: "e\u{202e}x".into(),
            dropped_pipeline: 1,
            ..Default::default()
        });
        let text = line(&c, true);
        assert!(text.starts_with(r#"{"kind":"stats","final":true,"bytes":0,"#), "{text}");
        assert!(!text.contains('\u{202e}') && text.contains("\\u202e"), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!((v["kind"].as_str(), v["final"].as_bool()), (Some("stats"), Some(true)));
        for l in Loss::ALL {
            assert!(v["losses"][l.key()].is_u64(), "{}", l.key());
        }
        assert_eq!(v["losses"]["tcp_flows_evicted_holding"], 2);
        assert_eq!(v["losses"]["queries_evicted"], 7);
        assert_eq!((v["unjudged"].as_u64(), v["incomplete"].as_bool()), (Some(3), Some(true)));
        assert_eq!(v["capture"][0]["dropped_pipeline"], 1);
    }
}

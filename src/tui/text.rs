//! Small formatting helpers for the dashboard: times (UTC), durations, DNS type and code names,
//! programs.

use crate::output::escape::escape;
use dnsleak_core::{names, Attribution, Owner, Process, ProcessStats};

pub use crate::output::time::{full_time, hms, hms_ms};

/// A span as `H:MM:SS` (or `MM:SS` under an hour).
pub fn span(nanos: u64) -> String {
    let s = nanos / 1_000_000_000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// A response time, short: `850us`, `12.3ms`, `1.20s`.
pub fn rtt(nanos: u64) -> String {
    if nanos < 1_000_000 {
        format!("{}us", nanos / 1000)
    } else if nanos < 1_000_000_000 {
        format!("{:.1}ms", nanos as f64 / 1e6)
    } else {
        format!("{:.2}s", nanos as f64 / 1e9)
    }
}

/// The name of a record type (`A`, `AAAA`, ...), or `TYPE1234`: the same table as NDJSON's.
pub fn qtype(t: u16) -> String {
    names::qtype(t).into_owned()
}

/// The name of a class: IN, CH, HS, ANY, or `CLASS7`. mDNS's top bit (unicast response /
/// cache flush) is shown as `+QU`.
pub fn qclass(c: u16) -> String {
    let base = names::qclass(c & 0x7fff);
    if c & 0x8000 != 0 {
        format!("{base}+QU")
    } else {
        base.into_owned()
    }
}

/// The name of an RCODE.
pub fn rcode(code: u16) -> String {
    names::rcode(code).into_owned()
}

/// Cuts `s` to `max` characters, ending with `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The program column: the program a person would name ("dig"; "dig via dnsmasq" when a local
/// stub forwarded it), "?" when unknown, "other host" when it did not start here. Escaped.
pub fn program(o: &Owner) -> String {
    match (&o.process, &o.on_behalf_of) {
        (p, Some(asker)) => match p.process() {
            Some(stub) => format!("{} via {}", escape(&asker.name), escape(&stub.name)),
            None => format!("{} via ?", escape(&asker.name)),
        },
        (Attribution::Process(p), None) => escape(&p.name).into_owned(),
        (Attribution::Unknown, None) => "?".into(),
        (Attribution::NotFromThisHost, None) => "other host".into(),
    }
}

/// The method and its coverage for the counters line: "programs ebpf: 120/125 named, 2 other
/// host".
pub fn coverage(method: &str, s: &ProcessStats) -> String {
    let mut t = format!("programs {method}: {}/{} named", s.attributed, s.outgoing());
    if s.not_from_host > 0 {
        t.push_str(&format!(", {} other host", s.not_from_host));
    }
    t
}

/// A process for the detail pane: "dig (pid 4242, uid 0) /usr/bin/dig", escaped.
pub fn process_detail(p: &Process) -> String {
    let uid = p.uid.map(|u| format!(", uid {u}")).unwrap_or_default();
    let exe = p.exe.as_deref().map(|e| format!(" {}", escape(e))).unwrap_or_default();
    format!("{} (pid {}{uid}){exe}", escape(&p.name), p.pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_rtts() {
        assert_eq!(span(65_000_000_000), "01:05");
        assert_eq!(span(3_725_000_000_000), "1:02:05");
        assert_eq!(rtt(850_000), "850us");
        assert_eq!(rtt(12_340_000), "12.3ms");
        assert_eq!(rtt(1_200_000_000), "1.20s");
    }

    #[test]
    fn dns_names() {
        assert_eq!(qtype(1), "A");
        assert_eq!(qtype(28), "AAAA");
        assert_eq!(qtype(65_000), "TYPE65000");
        // Regression: the dashboard said TYPE17 for RP (hickory's table) while NDJSON said RP.
        assert_eq!((qtype(10), qtype(17)), ("NULL".to_string(), "RP".to_string()));
        assert_eq!(qclass(1), "IN");
        assert_eq!(qclass(0x8001), "IN+QU");
        assert_eq!(rcode(3), "NXDOMAIN");
        assert_eq!(rcode(99), "RCODE99");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}

//! The evidence of a cause in words: `cause_detail` in NDJSON, the detail pane, the summaries.

use std::fmt::Write;

use crate::net::Family;
use crate::route::RouteKind;

use super::{Cause, Caused, Proof, Seen};

fn question_words(s: &Seen<'_>) -> String {
    match s.question {
        Some((name, qtype)) => {
            format!("{} {}", if name.is_empty() { "." } else { name }, crate::names::qtype(qtype))
        }
        None => "the same question".to_string(),
    }
}

fn ms(ns: u64) -> String {
    format!("{} ms", ns / 1_000_000)
}

/// A duration as a person reads it: "40 ms", "2.5 s", "3 min".
pub(super) fn secs(ns: u64) -> String {
    match ns {
        n if n < 1_000_000_000 => ms(n),
        n if n < 120_000_000_000 => format!("{:.1} s", n as f64 / 1e9),
        n => format!("{} min", n / 60_000_000_000),
    }
}

/// The words of `c` for the message `s`.
pub(super) fn detail(c: &Caused, s: &Seen<'_>) -> String {
    let Some(e) = c.evidence() else {
        return format!(
            "no tunnel interface has been seen; {} is not one (name yours with --tunnel)",
            s.iface
        );
    };
    let tunnel = e.tunnel.as_deref().unwrap_or("the tunnel");
    let (iface, resolver) = (s.iface, s.resolver);
    match &e.proof {
        Proof::Outage { ago_ns, exposed } => format!(
            "tunnel {tunnel} went down {} before; leaks and bypasses since, this one included: {exposed}",
            secs(*ago_ns)
        ),
        Proof::Down => "no tunnel is up, after one was".to_string(),
        Proof::Stub(h) => format!(
            "{} went to the local resolver {} {} before: a stub forwarded it to {resolver} by {iface}",
            question_words(s),
            h.via,
            ms(h.ago_ns)
        ),
        Proof::Parallel(h) => {
            format!("{} was asked through {} {} before, and by {iface} here", question_words(s), h.via, ms(h.ago_ns))
        }
        Proof::Family(up) => {
            let f = Family::of(&resolver.to_canonical()).name();
            let tunnels = up.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ");
            let verb = if up.len() > 1 { "carry" } else { "carries" };
            format!("{tunnels} {verb} no {f} (no {f} address or route but link-local), so it left by {iface}")
        }
        Proof::Lan { net, assumed } => lan_words(s, *net, *assumed),
        Proof::Split { route: Some(r), .. } if r.kind == RouteKind::Unicast => {
            format!("route {r} takes it outside {tunnel}")
        }
        Proof::Split { route: Some(r), .. } => {
            format!("the kernel has no route to {resolver} ({r}), yet it left by {iface}")
        }
        Proof::Split { route: None, carries } => {
            let carries = if *carries {
                format!("{tunnel} carries {}", Family::of(&resolver.to_canonical()).name())
            } else {
                format!("{tunnel} is up")
            };
            format!(
                "it left by {iface} although {carries} and {resolver} is not on {iface}'s network (no route recorded)"
            )
        }
        Proof::Against(r) => format!(
            "the kernel routes {resolver} by {} ({r}), yet it left by {iface}: a socket bound to {iface} or a firewall mark?",
            r.dev.as_deref().unwrap_or("?"),
        ),
        Proof::Encrypted { lan, route } => {
            debug_assert_eq!(c.cause, Cause::AppEncryptedDns);
            let server = match s.sni {
                Some(n) => format!("{resolver} ({n})"),
                None => resolver.to_string(),
            };
            let mut d = format!(
                "an application's own {} to {server} by {iface} around {tunnel}",
                s.transport.as_str()
            );
            if let Some((net, assumed)) = lan {
                let _ = write!(d, "; {}", lan_words(s, *net, *assumed));
            } else if let Some(r) = route {
                let _ = write!(d, "; route {r} takes it outside {tunnel}");
            }
            d
        }
    }
}

fn lan_words(s: &Seen<'_>, net: crate::net::Prefix, assumed: bool) -> String {
    let mut d = format!("{} is on {}'s network {}", s.resolver, s.iface, net.network());
    if assumed {
        let _ = write!(d, " (/{} assumed: the capture records no prefix)", net.prefix_len());
    }
    d
}

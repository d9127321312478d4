//! The sender of a packet as `monitor --write` records it beside the packet (a pcapng packet
//! comment, readable in Wireshark), and as replay reads it back:
//!
//! ```text
//! dnsleak.process udp 192.0.2.2:40000 192.0.2.1:53 attributed pid=4242 uid=0 name=dig exe=/usr/bin/dig
//! dnsleak.process udp 192.0.2.2:33333 192.0.2.1:53 attributed pid=77 name=dnsmasq for.pid=4242 for.name=dig
//! dnsleak.process tcp [fd00::2]:41000 [fd00::53]:853 unattributed
//! ```
//!
//! The flow (protocol, source, destination), the attribution (`attributed`, `unattributed`,
//! `not_from_host`), then `key=value` fields of the process and, with a `for.` prefix, of the
//! program a stub asked for. Values are percent-encoded where they hold `%`, `=`, a space or a
//! control character, so a name cannot break the line. Reading is strict and bounded: a line
//! that does not parse is ignored (the packet replays with no sender), unknown keys are
//! skipped, names and paths are cut at `MAX_NAME` and `MAX_EXE` bytes.

use std::fmt::Write as _;
use std::net::SocketAddr;

use smol_str::SmolStr;

use super::{Attribution, Owner, Process, Recorded, SockProto};

/// What a recorded sender's comment starts with.
pub const PREFIX: &str = "dnsleak.process ";
/// Longest program name kept from a file (the kernel's is 15 bytes).
pub const MAX_NAME: usize = 256;
/// Longest executable path kept from a file (PATH_MAX).
pub const MAX_EXE: usize = 4096;
/// Fields read from one comment at most.
const MAX_FIELDS: usize = 16;

/// Appends the comment for `r` to `out`.
pub fn write(r: &Recorded, out: &mut String) {
    let _ = write!(out, "{PREFIX}{} {} {} {}", r.proto.as_str(), r.src, r.dst, r.owner.process.as_str());
    if let Some(p) = r.owner.process.process() {
        fields(out, "", p);
    }
    if let Some(p) = &r.owner.on_behalf_of {
        fields(out, "for.", p);
    }
}

fn fields(out: &mut String, prefix: &str, p: &Process) {
    let _ = write!(out, " {prefix}pid={}", p.pid);
    if let Some(uid) = p.uid {
        let _ = write!(out, " {prefix}uid={uid}");
    }
    let _ = write!(out, " {prefix}name=");
    encode(&p.name, out);
    if let Some(exe) = &p.exe {
        let _ = write!(out, " {prefix}exe=");
        encode(exe, out);
    }
}

fn encode(value: &str, out: &mut String) {
    for c in value.chars() {
        if c == '%' || c == '=' || c == ' ' || c.is_control() {
            let mut b = [0; 4];
            for byte in c.encode_utf8(&mut b).bytes() {
                let _ = write!(out, "%{byte:02X}");
            }
        } else {
            out.push(c);
        }
    }
}

fn decode(value: &str, max: usize) -> Option<SmolStr> {
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len().min(max));
    let mut i = 0;
    while i < b.len() && out.len() < max {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(SmolStr::new(String::from_utf8_lossy(&out)))
}

/// The sender recorded in `comment`, if it is one of dnsleak's and reads cleanly.
pub fn parse(comment: &str) -> Option<Recorded> {
    let rest = comment.strip_prefix(PREFIX)?;
    let mut words = rest.split(' ').filter(|w| !w.is_empty());
    let proto = match words.next()? {
        "udp" => SockProto::Udp,
        "tcp" => SockProto::Tcp,
        _ => return None,
    };
    let src: SocketAddr = words.next()?.parse().ok()?;
    let dst: SocketAddr = words.next()?.parse().ok()?;
    let status = words.next()?;
    let (mut sender, mut asker) = (Partial::default(), Partial::default());
    for word in words.take(MAX_FIELDS) {
        let (key, value) = word.split_once('=')?;
        let (target, key) = match key.strip_prefix("for.") {
            Some(k) => (&mut asker, k),
            None => (&mut sender, key),
        };
        target.set(key, value)?;
    }
    let process = match status {
        "attributed" => Attribution::Process(sender.process()?),
        "unattributed" => Attribution::Unknown,
        "not_from_host" => Attribution::NotFromThisHost,
        _ => return None,
    };
    let on_behalf_of = if asker.is_empty() { None } else { Some(asker.process()?) };
    Some(Recorded { proto, src, dst, owner: Owner { process, on_behalf_of } })
}

/// A process as its fields come in.
#[derive(Default)]
struct Partial {
    pid: Option<u32>,
    uid: Option<u32>,
    name: Option<SmolStr>,
    exe: Option<SmolStr>,
}

impl Partial {
    fn set(&mut self, key: &str, value: &str) -> Option<()> {
        match key {
            "pid" => self.pid = Some(value.parse().ok()?),
            "uid" => self.uid = Some(value.parse().ok()?),
            "name" => self.name = Some(decode(value, MAX_NAME)?),
            "exe" => self.exe = Some(decode(value, MAX_EXE)?),
            _ => {}
        }
        Some(())
    }

    fn is_empty(&self) -> bool {
        self.pid.is_none() && self.name.is_none()
    }

    fn process(self) -> Option<Process> {
        Some(Process { pid: self.pid?, name: self.name?, exe: self.exe, uid: self.uid })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(process: Attribution, on_behalf_of: Option<Process>) -> Recorded {
        Recorded {
            proto: SockProto::Udp,
            src: "192.0.2.2:40000".parse().unwrap(),
            dst: "[fd00::53]:53".parse().unwrap(),
            owner: Owner { process, on_behalf_of },
        }
    }

    fn dig() -> Process {
        Process { pid: 4242, name: "dig".into(), exe: Some("/usr/bin/dig".into()), uid: Some(0) }
    }

    fn round_trip(r: &Recorded) -> (String, Option<Recorded>) {
        let mut s = String::new();
        write(r, &mut s);
        let back = parse(&s);
        (s, back)
    }

    #[test]
    fn every_attribution_reads_back_as_written() {
        let hostile = Process {
            pid: 7,
            name: "a b=c%d\n\u{1b}[2J\u{202e}".into(),
            exe: Some("/tmp/x y/\tz".into()),
            uid: None,
        };
        for r in [
            rec(Attribution::Process(dig()), None),
            rec(Attribution::Process(hostile.clone()), Some(dig())),
            rec(Attribution::Unknown, Some(hostile)),
            rec(Attribution::NotFromThisHost, None),
        ] {
            let (text, back) = round_trip(&r);
            assert_eq!(back.as_ref(), Some(&r), "{text}");
            assert!(!text.contains('\n') && !text.contains('\u{1b}'), "{text}");
        }
    }

    #[test]
    fn the_line_reads_well() {
        let (text, _) = round_trip(&rec(Attribution::Process(dig()), None));
        assert_eq!(
            text,
            "dnsleak.process udp 192.0.2.2:40000 [fd00::53]:53 attributed pid=4242 uid=0 name=dig exe=/usr/bin/dig"
        );
    }

    #[test]
    fn other_comments_and_broken_lines_are_not_senders() {
        for bad in [
            "",
            "captured on my laptop",
            "dnsleak.process",
            "dnsleak.process sctp 192.0.2.2:1 192.0.2.1:53 unattributed",
            "dnsleak.process udp 192.0.2.2 192.0.2.1:53 unattributed",
            "dnsleak.process udp 192.0.2.2:1 192.0.2.1:53 maybe",
            "dnsleak.process udp 192.0.2.2:1 192.0.2.1:53 attributed name=dig",
            "dnsleak.process udp 192.0.2.2:1 192.0.2.1:53 attributed pid=x name=dig",
            "dnsleak.process udp 192.0.2.2:1 192.0.2.1:53 attributed pid=1 name=%G0",
            "dnsleak.process udp 192.0.2.2:1 192.0.2.1:53 attributed pid=1 name=%4",
            "dnsleak.process udp 192.0.2.2:1 192.0.2.1:53 attributed pid=1 name",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn long_names_are_cut_and_unknown_keys_skipped() {
        let long = "n".repeat(100_000);
        let text =
            format!("dnsleak.process tcp 192.0.2.2:1 192.0.2.1:853 attributed pid=1 name={long} colour=red");
        let r = parse(&text).unwrap();
        let p = r.owner.process.process().unwrap();
        assert_eq!(p.name.len(), MAX_NAME);
        assert_eq!(r.proto, SockProto::Tcp);
    }
}

//! The records the eBPF program writes to its ring buffer, read from bytes (no unsafe, no
//! assumption on alignment or length: a short or unknown record is refused, not trusted).
//! The layouts are `struct sock_rec` and `struct exec_rec` in bpf/attrib.bpf.c.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use dnsleak_core::SockProto;
use smol_str::SmolStr;

const KIND_UDP: u8 = 1;
const KIND_TCP: u8 = 2;
const KIND_EXEC: u8 = 3;
/// Bytes of a `struct sock_rec`.
pub const SOCK_REC_LEN: usize = 88;
/// Bytes of a `struct exec_rec` before its path.
const EXEC_HEAD_LEN: usize = 40;

/// A packet of a socket, as the kernel handed it to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SockRec {
    pub proto: SockProto,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Inode number of the socket's network namespace.
    pub netns: u32,
    /// The owning process (thread group id); 0 when the socket predates the loader.
    pub tgid: u32,
    pub uid: u32,
    /// CLOCK_MONOTONIC, nanoseconds.
    pub mono_ns: u64,
    pub cookie: u64,
    /// The name of the thread that created, connected or last sent with the socket.
    pub thread: SmolStr,
}

/// A successful exec: the program's name (as the kernel set it) and the path executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRec {
    pub tgid: u32,
    pub netns: u32,
    pub mono_ns: u64,
    pub comm: SmolStr,
    pub exe: SmolStr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Sock(SockRec),
    Exec(ExecRec),
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

/// Text up to the first NUL, with invalid UTF-8 replaced (escaping is for whoever shows it).
fn c_text(b: &[u8]) -> SmolStr {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    SmolStr::new(String::from_utf8_lossy(&b[..end]))
}

fn addr(family: u8, b: &[u8], port: u16) -> Option<SocketAddr> {
    let ip = match family {
        4 => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
        6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&b[..16]).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Reads one record; `None` for a record that is short or of an unknown kind.
pub fn parse(b: &[u8]) -> Option<Record> {
    match *b.first()? {
        KIND_UDP | KIND_TCP if b.len() >= SOCK_REC_LEN => {
            let family = b[1];
            Some(Record::Sock(SockRec {
                proto: if b[0] == KIND_UDP { SockProto::Udp } else { SockProto::Tcp },
                local: addr(family, &b[40..56], u16_at(b, 2))?,
                remote: addr(family, &b[56..72], u16_at(b, 4))?,
                netns: u32_at(b, 8),
                tgid: u32_at(b, 12),
                uid: u32_at(b, 16),
                mono_ns: u64_at(b, 24),
                cookie: u64_at(b, 32),
                thread: c_text(&b[72..88]),
            }))
        }
        KIND_EXEC if b.len() >= EXEC_HEAD_LEN => {
            let len = (u32_at(b, 12) as usize).min(b.len() - EXEC_HEAD_LEN);
            Some(Record::Exec(ExecRec {
                tgid: u32_at(b, 4),
                netns: u32_at(b, 8),
                mono_ns: u64_at(b, 16),
                comm: c_text(&b[24..40]),
                exe: c_text(&b[EXEC_HEAD_LEN..EXEC_HEAD_LEN + len]),
            }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock_bytes(kind: u8, family: u8) -> Vec<u8> {
        let mut b = vec![0u8; SOCK_REC_LEN];
        b[0] = kind;
        b[1] = family;
        b[2..4].copy_from_slice(&40000u16.to_le_bytes());
        b[4..6].copy_from_slice(&53u16.to_le_bytes());
        b[8..12].copy_from_slice(&4026531840u32.to_le_bytes());
        b[12..16].copy_from_slice(&4242u32.to_le_bytes());
        b[16..20].copy_from_slice(&1000u32.to_le_bytes());
        b[24..32].copy_from_slice(&123_456_789u64.to_le_bytes());
        b[32..40].copy_from_slice(&77u64.to_le_bytes());
        b[72..84].copy_from_slice(b"isc-net-0000");
        b
    }

    #[test]
    fn reads_an_ipv4_udp_record() {
        let mut b = sock_bytes(KIND_UDP, 4);
        b[40..44].copy_from_slice(&[192, 0, 2, 2]);
        b[56..60].copy_from_slice(&[192, 0, 2, 1]);
        let Some(Record::Sock(r)) = parse(&b) else { panic!("not a socket record") };
        assert_eq!(r.proto, SockProto::Udp);
        assert_eq!(r.local, "192.0.2.2:40000".parse().unwrap());
        assert_eq!(r.remote, "192.0.2.1:53".parse().unwrap());
        assert_eq!((r.netns, r.tgid, r.uid, r.mono_ns, r.cookie), (4026531840, 4242, 1000, 123_456_789, 77));
        assert_eq!(r.thread, "isc-net-0000");
    }

    #[test]
    fn reads_an_ipv6_tcp_record() {
        let mut b = sock_bytes(KIND_TCP, 6);
        b[40..56].copy_from_slice(&"fd00:1::2".parse::<Ipv6Addr>().unwrap().octets());
        b[56..72].copy_from_slice(&"fd00:53::53".parse::<Ipv6Addr>().unwrap().octets());
        let Some(Record::Sock(r)) = parse(&b) else { panic!("not a socket record") };
        assert_eq!(r.proto, SockProto::Tcp);
        assert_eq!(r.remote, "[fd00:53::53]:53".parse().unwrap());
    }

    #[test]
    fn reads_an_exec_record_and_bounds_its_length() {
        let mut b = vec![0u8; EXEC_HEAD_LEN + 256];
        b[0] = KIND_EXEC;
        b[4..8].copy_from_slice(&99u32.to_le_bytes());
        b[12..16].copy_from_slice(&12u32.to_le_bytes());
        b[24..27].copy_from_slice(b"dig");
        b[EXEC_HEAD_LEN..EXEC_HEAD_LEN + 12].copy_from_slice(b"/usr/bin/dig");
        let Some(Record::Exec(e)) = parse(&b) else { panic!("not an exec record") };
        assert_eq!((e.tgid, e.comm.as_str(), e.exe.as_str()), (99, "dig", "/usr/bin/dig"));
        // A length past the record's end is cut to the record.
        b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        b.truncate(EXEC_HEAD_LEN + 20);
        let Some(Record::Exec(e)) = parse(&b) else { panic!("not an exec record") };
        assert_eq!(e.exe, "/usr/bin/dig");
    }

    #[test]
    fn refuses_short_unknown_and_odd_records() {
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&sock_bytes(KIND_UDP, 4)[..SOCK_REC_LEN - 1]), None);
        assert_eq!(parse(&sock_bytes(9, 4)), None);
        assert_eq!(parse(&sock_bytes(KIND_UDP, 5)), None);
        assert_eq!(parse(&[KIND_EXEC; 10]), None);
    }
}

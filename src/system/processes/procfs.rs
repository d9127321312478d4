//! The fallback when eBPF cannot load: netlink sock_diag lists this network namespace's UDP
//! and TCP sockets (addresses, ports, owner uid, inode), and a walk of /proc/PID/fd finds the
//! process holding each new inode. It sees only sockets that live from one scan to the next
//! (every `interval`, 500 ms by default): long-lived resolvers, browsers and VPN clients, not
//! `dig`. Inodes already placed are cached, so /proc is walked only when a new DNS socket
//! appears; facts are sent again every `REFRESH` so the core's table keeps them.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dnsleak_core::{SockProto, SocketOwner, Ts};
use foldhash::HashMap;
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr as NlAddr};

use super::names::Programs;

/// How often a socket still open is told to the core again.
const REFRESH: Duration = Duration::from_secs(60);
/// At most this many sockets are taken from one dump (a host with a million sockets is
/// answered for the first ones, and the rest counted).
const MAX_SOCKETS: usize = 65_536;

/// One socket as sock_diag lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SockEntry {
    pub proto: SockProto,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub inode: u32,
    pub uid: u32,
}

impl SockEntry {
    /// Whether the socket can carry DNS: connected to a wanted port, or not connected (an
    /// unconnected UDP socket can send anywhere). Listening TCP sockets cannot.
    fn wanted(&self, ports: &[u16]) -> bool {
        match self.proto {
            SockProto::Tcp => ports.contains(&self.remote.port()),
            SockProto::Udp => self.remote.port() == 0 || ports.contains(&self.remote.port()),
        }
    }
}

/// Sockets of one dump, and how many were left out past `MAX_SOCKETS`.
#[derive(Debug, Default)]
pub struct Dump {
    pub sockets: Vec<SockEntry>,
    pub left_out: u64,
}

/// Every UDP and TCP socket of this network namespace, IPv4 and IPv6.
pub fn dump_sockets() -> anyhow::Result<Dump> {
    let mut sock = Socket::new(NETLINK_SOCK_DIAG).context("opening a NETLINK_SOCK_DIAG socket")?;
    sock.bind_auto().context("binding the sock_diag socket")?;
    sock.connect(&NlAddr::new(0, 0)).context("connecting the sock_diag socket")?;
    let mut all = Dump::default();
    for (family, proto) in
        [(AF_INET, IPPROTO_UDP), (AF_INET6, IPPROTO_UDP), (AF_INET, IPPROTO_TCP), (AF_INET6, IPPROTO_TCP)]
    {
        dump_one(&sock, family, proto, &mut all)
            .with_context(|| format!("listing sockets with sock_diag (family {family}, protocol {proto})"))?;
    }
    Ok(all)
}

fn dump_one(sock: &Socket, family: u8, proto: u8, out: &mut Dump) -> anyhow::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET { SocketId::new_v4() } else { SocketId::new_v6() };
    let request = InetRequest {
        family,
        protocol: proto,
        extensions: ExtensionFlags::empty(),
        states: StateFlags::all(),
        socket_id,
    };
    let mut packet = NetlinkMessage::new(header, SockDiagMessage::InetRequest(request).into());
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf[..]);
    sock.send(&buf[..], 0)?;
    let proto = if proto == IPPROTO_TCP { SockProto::Tcp } else { SockProto::Udp };
    let mut rx = Vec::with_capacity(64 * 1024);
    loop {
        rx.clear();
        let size = sock.recv(&mut rx, 0)?;
        let mut at = 0;
        while at < size {
            let msg = <NetlinkMessage<SockDiagMessage>>::deserialize(&rx[at..size])
                .map_err(|e| anyhow::anyhow!("a sock_diag answer does not decode: {e}"))?;
            match msg.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(_))
                    if out.sockets.len() >= MAX_SOCKETS =>
                {
                    out.left_out += 1;
                }
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    let id = &r.header.socket_id;
                    out.sockets.push(SockEntry {
                        proto,
                        local: SocketAddr::new(id.source_address, id.source_port),
                        remote: SocketAddr::new(id.destination_address, id.destination_port),
                        inode: r.header.inode,
                        uid: r.header.uid,
                    });
                }
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => bail!("sock_diag refused the dump: {e}"),
                _ => {}
            }
            let len = msg.header.length as usize;
            if len == 0 {
                break;
            }
            at += len;
        }
    }
}

/// Which process holds each of `wanted`'s socket inodes, by a walk of `/proc/*/fd`. Processes
/// that end or deny access meanwhile are skipped.
pub fn inode_owners(proc_root: &Path, wanted: &HashSet<u32>) -> HashMap<u32, u32> {
    let mut found = HashMap::default();
    let Ok(procs) = std::fs::read_dir(proc_root) else { return found };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else { continue };
            let Some(inode) = socket_inode(&target) else { continue };
            if wanted.contains(&inode) {
                found.entry(inode).or_insert(pid);
            }
        }
        if found.len() == wanted.len() {
            break;
        }
    }
    found
}

/// The inode of a `socket:[N]` link target.
fn socket_inode(target: &Path) -> Option<u32> {
    target.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// What the scans found, for the coverage line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub scans: u64,
    /// Walks of /proc (only when a new socket appeared).
    pub proc_walks: u64,
    /// DNS-capable sockets seen in the last scan.
    pub sockets: u64,
    /// Of those, sockets no process could be found for (ended, or another user's without
    /// the privilege to look).
    pub unowned: u64,
    pub facts: u64,
    pub errors: u64,
    /// Facts the pipeline did not take in time (its channel was full).
    pub dropped: u64,
    /// Sockets left out of the last dump (more than 65,536).
    pub left_out: u64,
}

#[derive(Debug)]
struct Known {
    pid: Option<u32>,
    sent: Option<Instant>,
}

/// The fallback's state between scans.
#[derive(Debug)]
pub struct Scanner {
    ports: Vec<u16>,
    proc_root: PathBuf,
    netns: u64,
    known: HashMap<(u32, SockProto, SocketAddr, SocketAddr), Known>,
    programs: Programs,
    pub stats: ScanStats,
}

impl Scanner {
    pub fn new(ports: &[u16], netns: u64) -> Scanner {
        Scanner {
            ports: ports.to_vec(),
            proc_root: PathBuf::from("/proc"),
            netns,
            known: HashMap::default(),
            programs: Programs::new(4096),
            stats: ScanStats::default(),
        }
    }

    /// One scan: appends a fact for each DNS-capable socket that is new (or not told for
    /// `REFRESH`) and whose process was found.
    pub fn scan(&mut self, now: Ts, out: &mut Vec<SocketOwner>) -> anyhow::Result<()> {
        self.stats.scans += 1;
        let socks = match dump_sockets() {
            Ok(s) => s,
            Err(e) => {
                self.stats.errors += 1;
                return Err(e);
            }
        };
        self.stats.left_out = socks.left_out;
        let socks: Vec<SockEntry> = socks.sockets.into_iter().filter(|s| s.wanted(&self.ports)).collect();
        let key = |s: &SockEntry| (s.inode, s.proto, s.local, s.remote);
        let live: HashSet<_> = socks.iter().map(key).collect();
        self.known.retain(|k, _| live.contains(k));
        let new: HashSet<u32> =
            socks.iter().filter(|s| !self.known.contains_key(&key(s))).map(|s| s.inode).collect();
        if !new.is_empty() {
            self.stats.proc_walks += 1;
            let owners = inode_owners(&self.proc_root, &new);
            for s in socks.iter().filter(|s| new.contains(&s.inode)) {
                self.known.insert(key(s), Known { pid: owners.get(&s.inode).copied(), sent: None });
            }
        }
        self.stats.sockets = socks.len() as u64;
        self.stats.unowned = 0;
        for s in &socks {
            let Some(k) = self.known.get_mut(&key(s)) else { continue };
            let Some(pid) = k.pid else {
                self.stats.unowned += 1;
                continue;
            };
            if k.sent.is_some_and(|at| at.elapsed() < REFRESH) {
                continue;
            }
            k.sent = Some(Instant::now());
            let process = self.programs.process(pid, Some(s.uid), "");
            out.push(SocketOwner {
                proto: s.proto,
                local: s.local,
                remote: s.remote,
                process,
                netns: self.netns,
                ts: now,
            });
            self.stats.facts += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn socket_links_give_their_inode() {
        assert_eq!(socket_inode(Path::new("socket:[12345]")), Some(12345));
        assert_eq!(socket_inode(Path::new("pipe:[12345]")), None);
        assert_eq!(socket_inode(Path::new("socket:[x]")), None);
    }

    #[test]
    fn a_connected_udp_socket_of_this_process_is_found() {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.connect("127.0.0.1:53").unwrap();
        let local = s.local_addr().unwrap();
        let mut scanner = Scanner::new(&[53], 0);
        let mut facts = Vec::new();
        scanner.scan(Ts::ZERO, &mut facts).unwrap();
        let mine = facts.iter().find(|f| f.local == local).expect("the socket is listed and placed");
        assert_eq!(mine.process.pid, std::process::id());
        assert_eq!(mine.remote, "127.0.0.1:53".parse().unwrap());
        assert_eq!(mine.proto, SockProto::Udp);
        // Told once; the next scan does not repeat it, nor walk /proc again for it.
        let walks = scanner.stats.proc_walks;
        facts.clear();
        scanner.scan(Ts::ZERO, &mut facts).unwrap();
        assert!(facts.iter().all(|f| f.local != local));
        assert!(scanner.stats.proc_walks <= walks + 1);
    }

    #[test]
    fn listening_tcp_and_other_ports_are_not_wanted() {
        let e = |proto, remote: &str| SockEntry {
            proto,
            local: "127.0.0.1:5000".parse().unwrap(),
            remote: remote.parse().unwrap(),
            inode: 1,
            uid: 0,
        };
        assert!(!e(SockProto::Tcp, "0.0.0.0:0").wanted(&[53]));
        assert!(e(SockProto::Tcp, "192.0.2.1:853").wanted(&[853]));
        assert!(e(SockProto::Udp, "0.0.0.0:0").wanted(&[53]));
        assert!(!e(SockProto::Udp, "192.0.2.1:123").wanted(&[53]));
    }
}

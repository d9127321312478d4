//! Routing facts from the kernel over rtnetlink (netlink-packet-route + netlink-sys): the route
//! it picks for a destination, asked as `ip route get` asks it so that policy rules (wg-quick's
//! `not fwmark 51820 table 51820`) are honoured, plus `fibmatch` for the entry that matched;
//! and which families each interface has routes for. Decisions are cached per destination and
//! dropped whenever the kernel announces a change of routes, rules, addresses or links.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_MULTIPART, NLM_F_REQUEST};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use dnsleak_core::{Family, IfaceName, LinkRoutes, Prefix, RouteDecision, RouteKind};

/// rtnetlink multicast groups (linux/rtnetlink.h, enum rtnetlink_groups): what invalidates a
/// cached decision.
const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_IPV4_IFADDR: u32 = 5;
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTNLGRP_IPV4_RULE: u32 = 8;
const RTNLGRP_IPV6_IFADDR: u32 = 9;
const RTNLGRP_IPV6_ROUTE: u32 = 11;
const RTNLGRP_IPV6_RULE: u32 = 19;
const WATCHED: [u32; 7] = [
    RTNLGRP_LINK,
    RTNLGRP_IPV4_IFADDR,
    RTNLGRP_IPV4_ROUTE,
    RTNLGRP_IPV4_RULE,
    RTNLGRP_IPV6_IFADDR,
    RTNLGRP_IPV6_ROUTE,
    RTNLGRP_IPV6_RULE,
];
/// errno values the kernel answers a route query with when the destination has no usable route.
const ENETUNREACH: i32 = 101;
const EHOSTUNREACH: i32 = 113;
const EACCES: i32 = 13;
/// Messages read from one dump at most (a full Internet table is about a million routes).
const MAX_DUMP: usize = 4_000_000;
/// Decisions kept; when full, the table is emptied and refilled on demand (counted).
const MAX_CACHED: usize = 4096;

/// One rtnetlink socket for requests, answered in order.
struct Netlink {
    sock: Socket,
    seq: u32,
}

impl Netlink {
    fn open() -> io::Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Netlink { sock, seq: 0 })
    }

    /// Sends `msg` and hands each answer to `each` until the kernel is done: one message for a
    /// plain request, a multipart series ended by DONE for a dump. Returns how many were handed.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        mut each: impl FnMut(RouteNetlinkMessage),
    ) -> io::Result<usize> {
        self.seq = self.seq.wrapping_add(1);
        let mut nl = NetlinkMessage::from(msg);
        nl.header.flags = NLM_F_REQUEST | flags;
        nl.header.sequence_number = self.seq;
        nl.finalize();
        let mut buf = vec![0; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        let mut handed = 0;
        loop {
            let (data, _) = self.sock.recv_from_full()?;
            for m in messages(&data)? {
                if m.header.sequence_number != self.seq {
                    continue; // an answer to an earlier request that was abandoned
                }
                let multipart = m.header.flags & NLM_F_MULTIPART != 0;
                match m.payload {
                    NetlinkPayload::Done(_) => return Ok(handed),
                    NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                    NetlinkPayload::Error(_) => return Ok(handed),
                    NetlinkPayload::InnerMessage(inner) => {
                        if handed < MAX_DUMP {
                            each(inner);
                        }
                        handed += 1;
                        if !multipart {
                            return Ok(handed);
                        }
                    }
                    NetlinkPayload::Noop | NetlinkPayload::Overrun(_) => {}
                    _ => {}
                }
            }
        }
    }
}

/// The netlink messages of one datagram, bounds-checked.
fn messages(data: &[u8]) -> io::Result<Vec<NetlinkMessage<RouteNetlinkMessage>>> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while data.len() - off >= 16 {
        let len = u32::from_ne_bytes(data[off..off + 4].try_into().expect("4 bytes")) as usize;
        if len < 16 || len > data.len() - off {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "netlink message length out of bounds"));
        }
        let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..off + len])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("netlink message: {e}")))?;
        out.push(m);
        off += (len + 3) & !3;
    }
    Ok(out)
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn kind_of(t: RouteType) -> RouteKind {
    match t {
        RouteType::Unicast => RouteKind::Unicast,
        RouteType::Local => RouteKind::Local,
        RouteType::Broadcast | RouteType::Anycast => RouteKind::Broadcast,
        RouteType::Multicast => RouteKind::Multicast,
        RouteType::Unreachable => RouteKind::Unreachable,
        RouteType::BlackHole => RouteKind::Blackhole,
        RouteType::Prohibit => RouteKind::Prohibit,
        RouteType::Throw => RouteKind::Throw,
        _ => RouteKind::Other,
    }
}

/// What one route message says: destination prefix, table, out interface and gateway (the
/// first hop of a multipath route), preferred source.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parsed {
    dst: Option<Prefix>,
    kind: RouteKind,
    table: u32,
    /// Every interface the route leaves by (more than one for multipath).
    oifs: Vec<u32>,
    gateway: Option<IpAddr>,
    src: Option<IpAddr>,
}

fn parse_route(m: &RouteMessage) -> Parsed {
    let family = match m.header.address_family {
        AddressFamily::Inet6 => Family::V6,
        _ => Family::V4,
    };
    let mut p = Parsed {
        dst: None,
        kind: kind_of(m.header.kind),
        table: u32::from(m.header.table),
        oifs: Vec::new(),
        gateway: None,
        src: None,
    };
    let len = m.header.destination_prefix_length;
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => p.dst = ip_of(d).and_then(|ip| Prefix::new(ip, len)),
            RouteAttribute::Table(t) => p.table = *t,
            RouteAttribute::Oif(i) => p.oifs.push(*i),
            RouteAttribute::Gateway(g) => p.gateway = p.gateway.or(ip_of(g)),
            RouteAttribute::PrefSource(s) => p.src = ip_of(s),
            RouteAttribute::MultiPath(hops) => {
                for h in hops {
                    p.oifs.push(h.interface_index);
                    for ha in &h.attributes {
                        if let RouteAttribute::Gateway(g) = ha {
                            p.gateway = p.gateway.or(ip_of(g));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if p.dst.is_none() && len == 0 {
        p.dst = Some(Prefix::default_route(family));
    }
    p
}

fn route_query(dst: IpAddr, flags: RouteFlags) -> RouteNetlinkMessage {
    let mut m = RouteMessage::default();
    let (family, len) = match dst {
        IpAddr::V4(_) => (AddressFamily::Inet, 32),
        IpAddr::V6(_) => (AddressFamily::Inet6, 128),
    };
    m.header.address_family = family;
    m.header.destination_prefix_length = len;
    m.header.table = RouteHeader::RT_TABLE_UNSPEC;
    m.header.flags = flags;
    m.attributes.push(RouteAttribute::Destination(RouteAddress::from(dst)));
    RouteNetlinkMessage::GetRoute(m)
}

/// Counters of the route cache, for a debug view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteStats {
    /// Decisions asked for.
    pub lookups: u64,
    /// Of those, answered by the kernel (the rest came from the cache).
    pub kernel: u64,
    /// Times the cache was emptied because routes, rules, addresses or links changed.
    pub invalidations: u64,
    /// Times the cache was emptied because it was full.
    pub evictions: u64,
}

/// Route decisions and per-interface route families, from the kernel of the network namespace
/// this was opened in.
pub struct Routes {
    nl: Netlink,
    /// Change notifications; `None` when the kernel refused the subscription (then every
    /// lookup asks the kernel).
    watch: Option<Socket>,
    names: HashMap<u32, IfaceName>,
    cache: HashMap<IpAddr, RouteDecision>,
    stats: RouteStats,
    /// A change came that `changed()` has not reported yet.
    unseen_change: bool,
}

impl Routes {
    /// Opens the netlink sockets (no privilege needed) and reads the interface names.
    pub fn open() -> io::Result<Routes> {
        let nl = Netlink::open()?;
        let watch = subscribe().ok();
        let mut r = Routes {
            nl,
            watch,
            names: HashMap::new(),
            cache: HashMap::new(),
            stats: RouteStats::default(),
            unseen_change: true,
        };
        r.read_names()?;
        Ok(r)
    }

    pub fn stats(&self) -> RouteStats {
        self.stats
    }

    /// Whether routes, rules, addresses or links changed since the last call (true at the
    /// first): the time to read `link_routes` again. Never blocks.
    pub fn changed(&mut self) -> bool {
        self.poll();
        std::mem::take(&mut self.unseen_change)
    }

    /// Reads the pending change notifications; on any, drops the cached decisions and names.
    /// Without a subscription nothing cached can be trusted, so nothing is kept.
    fn poll(&mut self) {
        let any = match &self.watch {
            None => true,
            Some(w) => {
                let mut any = false;
                loop {
                    match w.recv_from_full() {
                        Ok(_) => any = true,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        // ENOBUFS: notifications were lost; assume everything changed.
                        Err(_) => {
                            any = true;
                            break;
                        }
                    }
                }
                any
            }
        };
        if any {
            self.stats.invalidations += 1;
            self.cache.clear();
            self.names.clear();
            self.unseen_change = true;
        }
    }

    /// The kernel's route for `dst`, as `ip route get` reports it, with the matching entry
    /// (`fibmatch`). No route is a decision too (kind Unreachable); an error means the kernel
    /// could not be asked.
    pub fn decide(&mut self, dst: IpAddr) -> io::Result<RouteDecision> {
        self.poll();
        self.stats.lookups += 1;
        if let Some(d) = self.cache.get(&dst) {
            return Ok(d.clone());
        }
        self.stats.kernel += 1;
        let d = self.ask(dst)?;
        if self.cache.len() >= MAX_CACHED {
            self.stats.evictions += 1;
            self.cache.clear();
        }
        self.cache.insert(dst, d.clone());
        Ok(d)
    }

    fn ask(&mut self, dst: IpAddr) -> io::Result<RouteDecision> {
        let mut got = None;
        let asked = self.nl.request(route_query(dst, RouteFlags::LookupTable), 0, |m| {
            if let RouteNetlinkMessage::NewRoute(r) = m {
                got = Some(parse_route(&r));
            }
        });
        let p = match asked {
            Ok(_) => {
                got.ok_or_else(|| io::Error::other("the kernel answered a route query without a route"))?
            }
            Err(e) => return unroutable(dst, e),
        };
        // The entry that matched, and its table (the plain answer says "main" for an entry of
        // the local table); kernels before 4.13 do not know fibmatch.
        let mut fib = None;
        let _ = self.nl.request(route_query(dst, RouteFlags::FibMatch | RouteFlags::LookupTable), 0, |m| {
            if let RouteNetlinkMessage::NewRoute(r) = m {
                fib = Some(parse_route(&r));
            }
        });
        let ifindex = p.oifs.first().copied().unwrap_or(0);
        let dev = if ifindex == 0 { None } else { Some(self.name_of(ifindex)?) };
        Ok(RouteDecision {
            dst,
            kind: p.kind,
            dev,
            ifindex,
            gateway: p.gateway,
            src: p.src,
            table: fib.as_ref().map_or(p.table, |f| f.table),
            matched: fib.and_then(|f| f.dst),
        })
    }

    /// For every interface with routes: which families it routes beyond its link.
    pub fn link_routes(&mut self) -> io::Result<Vec<LinkRoutes>> {
        self.poll();
        let mut by_index: HashMap<u32, LinkRoutes> = HashMap::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut m = RouteMessage::default();
            m.header.address_family = family;
            let mut parsed = Vec::new();
            self.nl.request(RouteNetlinkMessage::GetRoute(m), NLM_F_DUMP, |msg| {
                if let RouteNetlinkMessage::NewRoute(r) = msg {
                    parsed.push(parse_route(&r));
                }
            })?;
            for p in parsed {
                let Some(dst) = p.dst else { continue };
                for &oif in &p.oifs {
                    by_index
                        .entry(oif)
                        .or_insert_with(|| LinkRoutes { ifindex: oif, ..Default::default() })
                        .add(p.kind, &dst);
                }
            }
        }
        let mut out: Vec<LinkRoutes> = by_index.into_values().collect();
        for l in &mut out {
            l.iface = self.name_of(l.ifindex)?;
        }
        out.sort_by_key(|l| l.ifindex);
        Ok(out)
    }

    fn name_of(&mut self, ifindex: u32) -> io::Result<IfaceName> {
        if !self.names.contains_key(&ifindex) {
            self.read_names()?;
        }
        Ok(self.names.get(&ifindex).cloned().unwrap_or_else(|| IfaceName::new(format!("if{ifindex}"))))
    }

    fn read_names(&mut self) -> io::Result<()> {
        let mut names = HashMap::new();
        self.nl.request(RouteNetlinkMessage::GetLink(LinkMessage::default()), NLM_F_DUMP, |m| {
            if let RouteNetlinkMessage::NewLink(l) = m {
                if let Some(name) = l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n),
                    _ => None,
                }) {
                    names.insert(l.header.index, IfaceName::new(name));
                }
            }
        })?;
        self.names = names;
        Ok(())
    }
}

/// A query the kernel refused because the destination has no usable route is a decision.
fn unroutable(dst: IpAddr, e: io::Error) -> io::Result<RouteDecision> {
    let kind = match e.raw_os_error().map(i32::abs) {
        Some(ENETUNREACH | EHOSTUNREACH) => RouteKind::Unreachable,
        Some(EACCES) => RouteKind::Prohibit,
        _ => return Err(io::Error::new(e.kind(), format!("asking the kernel for the route to {dst}: {e}"))),
    };
    Ok(RouteDecision { dst, kind, dev: None, ifindex: 0, gateway: None, src: None, table: 0, matched: None })
}

/// A non-blocking socket subscribed to route, rule, address and link changes.
fn subscribe() -> io::Result<Socket> {
    let mut s = Socket::new(NETLINK_ROUTE)?;
    s.bind_auto()?;
    for g in WATCHED {
        s.add_membership(g)?;
    }
    s.set_non_blocking(true)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::route::RouteNextHop;

    fn msg(family: AddressFamily, len: u8, kind: RouteType, attrs: Vec<RouteAttribute>) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = family;
        m.header.destination_prefix_length = len;
        m.header.table = 254;
        m.header.kind = kind;
        m.attributes = attrs;
        m
    }

    fn v4(s: &str) -> RouteAddress {
        RouteAddress::Inet(s.parse().unwrap())
    }

    #[test]
    fn parses_a_gateway_route_and_a_default_one() {
        let m = msg(
            AddressFamily::Inet,
            24,
            RouteType::Unicast,
            vec![
                RouteAttribute::Table(100),
                RouteAttribute::Destination(v4("203.0.113.0")),
                RouteAttribute::Gateway(v4("192.0.2.1")),
                RouteAttribute::Oif(2),
                RouteAttribute::PrefSource(v4("192.0.2.10")),
            ],
        );
        let p = parse_route(&m);
        assert_eq!(p.dst.unwrap().to_string(), "203.0.113.0/24");
        assert_eq!((p.table, p.oifs.as_slice()), (100, &[2][..]));
        assert_eq!(p.gateway, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(p.src, Some("192.0.2.10".parse().unwrap()));
        let d = parse_route(&msg(AddressFamily::Inet6, 0, RouteType::Unicast, vec![RouteAttribute::Oif(5)]));
        assert_eq!(d.dst.unwrap().to_string(), "::/0");
        assert_eq!(d.table, 254);
    }

    #[test]
    fn multipath_routes_name_every_interface() {
        let hop = |i: u32, gw: &str| {
            let mut h = RouteNextHop::default();
            h.interface_index = i;
            h.attributes = vec![RouteAttribute::Gateway(v4(gw))];
            h
        };
        let m = msg(
            AddressFamily::Inet,
            0,
            RouteType::Unicast,
            vec![RouteAttribute::MultiPath(vec![hop(3, "192.0.2.1"), hop(4, "192.0.2.2")])],
        );
        let p = parse_route(&m);
        assert_eq!(p.oifs, [3, 4]);
        assert_eq!(p.gateway, Some("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn truncated_netlink_data_is_an_error_not_a_panic() {
        assert!(messages(&[0u8; 8]).unwrap().is_empty());
        let mut bad = vec![0u8; 20];
        bad[0..4].copy_from_slice(&200u32.to_ne_bytes());
        assert!(messages(&bad).is_err());
        bad[0..4].copy_from_slice(&4u32.to_ne_bytes());
        assert!(messages(&bad).is_err());
    }

    #[test]
    fn unreachable_and_prohibited_are_decisions() {
        let dst: IpAddr = "198.51.100.9".parse().unwrap();
        let d = unroutable(dst, io::Error::from_raw_os_error(ENETUNREACH)).unwrap();
        assert_eq!((d.kind, d.dev), (RouteKind::Unreachable, None));
        assert_eq!(unroutable(dst, io::Error::from_raw_os_error(EACCES)).unwrap().kind, RouteKind::Prohibit);
        let e = unroutable(dst, io::Error::from_raw_os_error(22)).unwrap_err();
        assert!(e.to_string().contains("198.51.100.9"), "{e}");
    }

    /// Every network namespace has lo, and 127.0.0.2 is local by lo through the local table's
    /// 127.0.0.0/8 (127.0.0.1 has a /32 entry of its own): no root needed.
    #[test]
    fn decides_the_loopback_route_and_caches_it() {
        let mut r = Routes::open().expect("rtnetlink socket");
        let d = r.decide("127.0.0.2".parse().unwrap()).unwrap();
        assert_eq!(d.kind, RouteKind::Local);
        assert_eq!(d.dev.as_deref(), Some("lo"));
        assert_eq!(d.matched.map(|m| m.network().to_string()).as_deref(), Some("127.0.0.0/8"));
        let again = r.decide("127.0.0.2".parse().unwrap()).unwrap();
        assert_eq!(again, d);
        assert!(r.stats().lookups == 2 && r.stats().kernel <= 2);
    }
}

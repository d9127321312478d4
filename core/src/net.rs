//! Addresses with prefix lengths: an interface's address and the network it is on, and the
//! destination of a route. Plain values; no parsing of anything from the wire.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// "IPv4" / "IPv6", for sentences.
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    /// The longest prefix of this family.
    pub fn max_len(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// The prefix assumed for a network when nothing records it: /24 for IPv4, /64 for IPv6.
    pub fn assumed_len(self) -> u8 {
        match self {
            Family::V4 => 24,
            Family::V6 => 64,
        }
    }
}

/// Link-local unicast: 169.254.0.0/16 and fe80::/10. Such addresses never leave the link, so a
/// tunnel that has only one of them does not carry the family.
pub fn is_link_local(addr: &IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// An address and a prefix length: `192.0.2.10/24` on an interface, `198.51.100.0/24` as a
/// route's destination. The length never exceeds the family's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    /// `None` when `len` is longer than the family allows.
    pub fn new(addr: IpAddr, len: u8) -> Option<Prefix> {
        (len <= Family::of(&addr).max_len()).then_some(Prefix { addr, len })
    }

    /// The whole family: 0.0.0.0/0 or ::/0.
    pub fn default_route(family: Family) -> Prefix {
        let addr = match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        Prefix { addr, len: 0 }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }

    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// The network: the address with the host bits cleared.
    pub fn network(&self) -> Prefix {
        let addr = match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(self.len))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(self.len))),
        };
        Prefix { addr, len: self.len }
    }

    /// The IPv4 netmask of this length (255.255.255.0 for /24); 0 for an IPv6 prefix.
    pub fn netmask_v4(&self) -> u32 {
        match self.addr {
            IpAddr::V4(_) => mask32(self.len),
            IpAddr::V6(_) => 0,
        }
    }

    /// Whether `ip` is inside this prefix (always false across families; an IPv4-mapped IPv6
    /// address is compared as the IPv4 address it maps).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                u32::from(n) & mask32(self.len) == u32::from(a) & mask32(self.len)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                u128::from(n) & mask128(self.len) == u128::from(a) & mask128(self.len)
            }
            _ => false,
        }
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len.min(128))).unwrap_or(0)
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// One address of an interface, with its prefix length when the source gives one (the OS
/// always does; a capture file only when it records `if_IPv4addr` / `if_IPv6addr` masks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfaceAddr {
    pub addr: IpAddr,
    pub prefix: Option<u8>,
}

impl IfaceAddr {
    pub fn new(addr: IpAddr, prefix: Option<u8>) -> IfaceAddr {
        IfaceAddr { addr, prefix: prefix.filter(|&p| p <= Family::of(&addr).max_len()) }
    }

    /// An address whose prefix is unknown.
    pub fn bare(addr: IpAddr) -> IfaceAddr {
        IfaceAddr { addr, prefix: None }
    }

    /// The network the address is on, when its prefix is known.
    pub fn subnet(&self) -> Option<Prefix> {
        Prefix::new(self.addr, self.prefix?).map(|p| p.network())
    }

    /// The network the address is on, with /24 or /64 assumed when the prefix is unknown; the
    /// flag says whether it was assumed.
    pub fn subnet_or_assumed(&self) -> (Prefix, bool) {
        match self.subnet() {
            Some(net) => (net, false),
            None => {
                let len = Family::of(&self.addr).assumed_len();
                (Prefix { addr: self.addr, len }.network(), true)
            }
        }
    }
}

impl From<IpAddr> for IfaceAddr {
    fn from(addr: IpAddr) -> Self {
        IfaceAddr::bare(addr)
    }
}

impl fmt::Display for IfaceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix {
            Some(p) => write!(f, "{}/{p}", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_and_containment() {
        let p = Prefix::new(ip("192.0.2.10"), 24).unwrap();
        assert_eq!(p.network().to_string(), "192.0.2.0/24");
        assert!(p.contains(&ip("192.0.2.1")));
        assert!(!p.contains(&ip("192.0.3.1")));
        assert!(!p.contains(&ip("2001:db8::1")));
        assert!(p.contains(&ip("::ffff:192.0.2.200")), "IPv4-mapped compares as IPv4");
        let d = Prefix::default_route(Family::V4);
        assert!(d.contains(&ip("203.0.113.1")) && d.is_default());
        assert_eq!(d.to_string(), "0.0.0.0/0");
        assert_eq!(p.netmask_v4(), 0xffff_ff00);
        let h = Prefix::new(ip("198.51.100.53"), 32).unwrap();
        assert!(h.contains(&ip("198.51.100.53")) && !h.contains(&ip("198.51.100.54")));
        let v6 = Prefix::new(ip("fd00:1:2:3::99"), 64).unwrap();
        assert_eq!(v6.network().to_string(), "fd00:1:2:3::/64");
        assert!(v6.contains(&ip("fd00:1:2:3:ffff::1")));
        assert!(Prefix::new(ip("fd00::1"), 128).unwrap().contains(&ip("fd00::1")));
        assert!(Prefix::new(ip("192.0.2.1"), 33).is_none());
        assert!(Prefix::new(ip("fd00::1"), 129).is_none());
    }

    #[test]
    fn assumed_subnets_are_said() {
        let known = IfaceAddr::new(ip("192.0.2.10"), Some(25));
        assert_eq!(known.subnet_or_assumed(), (Prefix::new(ip("192.0.2.0"), 25).unwrap(), false));
        let bare = IfaceAddr::bare(ip("192.0.2.10"));
        assert_eq!(bare.subnet(), None);
        assert_eq!(bare.subnet_or_assumed().0.to_string(), "192.0.2.0/24");
        assert!(bare.subnet_or_assumed().1);
        assert_eq!(IfaceAddr::bare(ip("fd00::5")).subnet_or_assumed().0.to_string(), "fd00::/64");
        assert_eq!(IfaceAddr::new(ip("192.0.2.1"), Some(40)).prefix, None, "an absurd prefix is dropped");
        assert_eq!(known.to_string(), "192.0.2.10/25");
    }

    #[test]
    fn link_local_addresses() {
        assert!(is_link_local(&ip("fe80::1")));
        assert!(is_link_local(&ip("169.254.1.1")));
        assert!(!is_link_local(&ip("fd00::1")));
        assert!(!is_link_local(&ip("10.0.0.1")));
    }
}

//! Routing facts as plain data: the kernel's decision for one destination (what `ip route get`
//! says, policy rules included) and which address families each interface has routes for.
//! The shell asks the OS (netlink on Linux); the core only reads these values.

use std::fmt;
use std::net::IpAddr;

use super::net::{is_link_local, Family, Prefix};
use super::topology::IfaceName;

/// The main routing table's number (`ip route` without `table`).
pub const MAIN_TABLE: u32 = 254;

/// What kind of route the kernel picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// Sent out of an interface, directly or by a gateway.
    Unicast,
    /// The destination is this machine.
    Local,
    Broadcast,
    Multicast,
    Unreachable,
    Blackhole,
    Prohibit,
    Throw,
    Other,
}

impl RouteKind {
    /// The word `ip route` prints before the destination (nothing for unicast).
    pub fn word(self) -> &'static str {
        match self {
            RouteKind::Unicast => "",
            RouteKind::Local => "local",
            RouteKind::Broadcast => "broadcast",
            RouteKind::Multicast => "multicast",
            RouteKind::Unreachable => "unreachable",
            RouteKind::Blackhole => "blackhole",
            RouteKind::Prohibit => "prohibit",
            RouteKind::Throw => "throw",
            RouteKind::Other => "other",
        }
    }
}

/// The route the kernel chooses for one destination, asked as `ip route get` asks it (so
/// policy rules such as wg-quick's fwmark table are honoured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDecision {
    pub dst: IpAddr,
    pub kind: RouteKind,
    /// The interface it leaves by.
    pub dev: Option<IfaceName>,
    /// That interface's OS index, 0 when none.
    pub ifindex: u32,
    pub gateway: Option<IpAddr>,
    /// The source address the kernel would use.
    pub src: Option<IpAddr>,
    pub table: u32,
    /// The routing entry that matched (`ip route get fibmatch`), when the kernel says.
    pub matched: Option<Prefix>,
}

impl RouteDecision {
    /// Unicast without a gateway: the destination is on the interface's own link.
    pub fn on_link(&self) -> bool {
        self.kind == RouteKind::Unicast && self.gateway.is_none() && self.dev.is_some()
    }

    /// Whether packets to the destination leave by `iface`.
    pub fn leaves_by(&self, iface: &str) -> bool {
        self.kind == RouteKind::Unicast && self.dev.as_deref() == Some(iface)
    }
}

/// As `ip route` prints a route: `198.51.100.0/24 via 192.0.2.1 dev eth0 table 100`.
impl fmt::Display for RouteDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind != RouteKind::Unicast {
            write!(f, "{} ", self.kind.word())?;
        }
        match self.matched {
            Some(p) if p.is_default() => f.write_str("default")?,
            // A host route is printed as its address, as `ip route` does.
            Some(p) if p.prefix_len() == p.family().max_len() => write!(f, "{}", p.addr())?,
            Some(p) => write!(f, "{}", p.network())?,
            None => write!(f, "{}", self.dst)?,
        }
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(dev) = &self.dev {
            write!(f, " dev {dev}")?;
        }
        if self.table != MAIN_TABLE && self.table != 0 && self.kind != RouteKind::Local {
            write!(f, " table {}", self.table)?;
        }
        Ok(())
    }
}

/// Which families an interface has routes for, other than link-local, multicast and the
/// kernel's own local and broadcast entries: what it can carry beyond its link.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkRoutes {
    pub ifindex: u32,
    pub iface: IfaceName,
    pub v4: bool,
    pub v6: bool,
    /// It has a default route (0.0.0.0/0, ::/0) in some table.
    pub default_v4: bool,
    pub default_v6: bool,
}

impl LinkRoutes {
    pub fn carries(&self, family: Family) -> bool {
        match family {
            Family::V4 => self.v4,
            Family::V6 => self.v6,
        }
    }

    /// Adds one route through this interface (`kind` and destination as the kernel lists them).
    /// A prefix counts as link-local or multicast by its first address (fe80::/64, ff00::/8).
    pub fn add(&mut self, kind: RouteKind, dst: &Prefix) {
        if kind != RouteKind::Unicast || is_link_local(&dst.addr()) || is_multicast(&dst.addr()) {
            return;
        }
        let (carried, default) = match dst.family() {
            Family::V4 => (&mut self.v4, &mut self.default_v4),
            Family::V6 => (&mut self.v6, &mut self.default_v6),
        };
        *carried = true;
        *default |= dst.is_default();
    }
}

fn is_multicast(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_multicast(),
        IpAddr::V6(v6) => v6.is_multicast(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        let (a, l) = s.split_once('/').unwrap();
        Prefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
    }

    fn decision(matched: Option<&str>, gw: Option<&str>, dev: &str, table: u32) -> RouteDecision {
        RouteDecision {
            dst: "198.51.100.53".parse().unwrap(),
            kind: RouteKind::Unicast,
            dev: Some(dev.into()),
            ifindex: 2,
            gateway: gw.map(|g| g.parse().unwrap()),
            src: None,
            table,
            matched: matched.map(p),
        }
    }

    #[test]
    fn decisions_read_as_ip_route_prints_them() {
        let split = decision(Some("198.51.100.0/24"), Some("192.0.2.1"), "eth0", MAIN_TABLE);
        assert_eq!(split.to_string(), "198.51.100.0/24 via 192.0.2.1 dev eth0");
        assert!(!split.on_link() && split.leaves_by("eth0"));
        let wg = decision(Some("0.0.0.0/0"), None, "wg0", 51820);
        assert_eq!(wg.to_string(), "default dev wg0 table 51820");
        assert!(wg.on_link(), "a route without a gateway is on the link of its device");
        let host32 = decision(Some("198.51.100.53/32"), Some("192.0.2.1"), "eth0", MAIN_TABLE);
        assert_eq!(
            host32.to_string(),
            "198.51.100.53 via 192.0.2.1 dev eth0",
            "a host route as ip prints it"
        );
        let host = decision(None, Some("192.0.2.1"), "eth0", 0);
        assert_eq!(host.to_string(), "198.51.100.53 via 192.0.2.1 dev eth0");
        let unreachable = RouteDecision { kind: RouteKind::Unreachable, dev: None, ..host };
        assert_eq!(unreachable.to_string(), "unreachable 198.51.100.53 via 192.0.2.1");
        assert!(!unreachable.leaves_by("eth0"));
    }

    #[test]
    fn link_routes_ignore_link_local_and_multicast() {
        let mut wg = LinkRoutes { iface: "wg0".into(), ..Default::default() };
        wg.add(RouteKind::Unicast, &p("fe80::/64"));
        wg.add(RouteKind::Multicast, &p("ff00::/8"));
        wg.add(RouteKind::Unicast, &p("ff00::/8"));
        wg.add(RouteKind::Local, &p("10.64.0.2/32"));
        assert!(!wg.carries(Family::V4) && !wg.carries(Family::V6));
        wg.add(RouteKind::Unicast, &p("0.0.0.0/0"));
        assert!(wg.carries(Family::V4) && wg.default_v4 && !wg.v6);
        wg.add(RouteKind::Unicast, &p("fd00:64::/64"));
        assert!(wg.carries(Family::V6) && !wg.default_v6);
    }
}

//! Interface facts: plain data handed to the core. The core decides nothing from the OS;
//! the shells (netdev for live capture, pcapng interface blocks for replay) fill these in.

use std::net::IpAddr;
use std::sync::Arc;

use super::frame::LinkType;

/// An interface as the shell numbers it: a pcapng interface id in replay, a capture-session
/// id in live capture (a tunnel that comes back under the same name gets a new id).
pub type IfaceId = u32;

/// What an interface is, for verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IfaceKind {
    Physical,
    Tunnel,
    Loopback,
    Other,
}

impl IfaceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IfaceKind::Physical => "physical",
            IfaceKind::Tunnel => "tunnel",
            IfaceKind::Loopback => "loopback",
            IfaceKind::Other => "other",
        }
    }
}

/// What the OS (or a capture file) says about an interface. Every field is optional knowledge:
/// a file may give only a name, or nothing at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IfaceFacts {
    pub name: String,
    /// OS interface index, 0 when unknown.
    pub index: u32,
    pub up: bool,
    /// The OS flags it as loopback.
    pub loopback: bool,
    /// The OS flags it as point-to-point.
    pub point_to_point: bool,
    /// It has a hardware (MAC) address.
    pub has_mac: bool,
    /// The OS says it is a TUN / WireGuard / PPP / IPsec device.
    pub os_tunnel: bool,
    /// The link type frames from it carry, when known.
    pub link: Option<LinkType>,
    pub addrs: Vec<IpAddr>,
}

/// What the user said, which beats every heuristic: `--tunnel NAME`, `--physical NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub tunnel: Vec<String>,
    pub physical: Vec<String>,
}

/// Name prefixes that VPN software uses for its interfaces.
const TUNNEL_PREFIXES: &[&str] = &[
    "wg",
    "tun",
    "tap",
    "utun",
    "ppp",
    "ipsec",
    "tailscale",
    "nordlynx",
    "proton",
    "mullvad",
    "zt",
    "vti",
    "xfrm",
    "gpd",
    "cscotun",
    "nordtun",
    "pvpn",
    "ovpn",
    "wt",
    "ts",
    "expressvpn",
    "surfshark",
    "windscribe",
    "ivpn",
    "azirevpn",
    "nebula",
    "headscale",
    "netbird",
];
/// Names that are loopback whatever their link type says.
const LOOPBACK_NAMES: &[&str] = &["lo", "lo0", "loopback", "loopback0"];

fn has_tunnel_prefix(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    TUNNEL_PREFIXES.iter().any(|p| {
        lower.starts_with(p)
            && (p.len() >= 4
                || lower.len() == p.len()
                || lower[p.len()..]
                    .starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '_' || c == '.'))
    })
}

/// Decides an interface's kind from its facts and the user's overrides.
pub fn classify(facts: &IfaceFacts, overrides: &Overrides) -> IfaceKind {
    if overrides.tunnel.iter().any(|n| n == &facts.name) {
        return IfaceKind::Tunnel;
    }
    if overrides.physical.iter().any(|n| n == &facts.name) {
        return IfaceKind::Physical;
    }
    let lname = facts.name.to_ascii_lowercase();
    if facts.loopback || LOOPBACK_NAMES.contains(&lname.as_str()) {
        return IfaceKind::Loopback;
    }
    // Before the link type: macOS tunnels (utun) are captured with the loopback link type NULL.
    if facts.os_tunnel || has_tunnel_prefix(&facts.name) {
        return IfaceKind::Tunnel;
    }
    if facts.link.is_some_and(LinkType::is_loopback) {
        return IfaceKind::Loopback;
    }
    if facts.point_to_point && !facts.has_mac {
        return IfaceKind::Tunnel;
    }
    if facts.link.is_some_and(LinkType::is_raw_ip) && !facts.has_mac {
        return IfaceKind::Tunnel;
    }
    if facts.name == "any" || facts.name.is_empty() && facts.link.is_none() {
        return IfaceKind::Other;
    }
    IfaceKind::Physical
}

/// An interface's name as events and reasons carry it. Names up to 23 bytes (every Linux name,
/// most in capture files) are stored inline, so copying one into each event is a plain copy:
/// no allocation and no atomic reference count on the per-message path (longer names share
/// one allocation, as `Arc<str>` would).
pub type IfaceName = smol_str::SmolStr;

/// One interface as the core sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub id: IfaceId,
    pub name: IfaceName,
    pub kind: IfaceKind,
    pub facts: IfaceFacts,
}

/// See [`Topology::changes`].
pub struct Changes<'a> {
    old: &'a [Arc<Iface>],
    new: &'a [Arc<Iface>],
}

impl<'a> Iterator for Changes<'a> {
    type Item = (Option<&'a Iface>, Option<&'a Iface>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (o, n) = (self.old.first(), self.new.first());
            let step = match (o, n) {
                (None, None) => return None,
                (Some(o), Some(n)) if o.id == n.id => {
                    (self.old, self.new) = (&self.old[1..], &self.new[1..]);
                    if Arc::ptr_eq(o, n) || o == n {
                        continue;
                    }
                    (Some(&**o), Some(&**n))
                }
                (Some(o), Some(n)) if o.id < n.id => {
                    self.old = &self.old[1..];
                    (Some(&**o), None)
                }
                (Some(o), None) => {
                    self.old = &self.old[1..];
                    (Some(&**o), None)
                }
                (_, Some(n)) => {
                    self.new = &self.new[1..];
                    (None, Some(&**n))
                }
            };
            return Some(step);
        }
    }
}

fn is_tunnel_up(i: &Iface) -> bool {
    i.kind == IfaceKind::Tunnel && i.facts.up
}

/// All interfaces known at one moment. A change of topology is handed to the pipeline as an
/// event in the same stream as the frames, so its order against packets is kept.
///
/// What every message asks (the interface of an id, whether a tunnel is up) is answered
/// without walking the interfaces: they are kept sorted by id (found by binary search), and
/// the first tunnel that is up is remembered. A file may declare thousands of interfaces.
/// Interfaces are shared between copies, so a copy (each interface change hands one to the
/// pipeline and the outputs) costs a reference count per interface, not their facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    /// Sorted by id.
    ifaces: Vec<Arc<Iface>>,
    /// Position of the first tunnel that is up.
    first_tunnel_up: Option<usize>,
}

impl Topology {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a topology, classifying every interface.
    pub fn from_facts(facts: impl IntoIterator<Item = (IfaceId, IfaceFacts)>, overrides: &Overrides) -> Self {
        let mut t = Topology::new();
        for (id, f) in facts {
            t.upsert(id, f, overrides);
        }
        t
    }

    /// Adds or replaces the interface with this id (in O(1) when ids come in increasing order,
    /// as pcapng interface ids and live capture sessions do).
    pub fn upsert(&mut self, id: IfaceId, facts: IfaceFacts, overrides: &Overrides) {
        let kind = classify(&facts, overrides);
        let iface = Arc::new(Iface { id, name: IfaceName::new(&facts.name), kind, facts });
        let up = is_tunnel_up(&iface);
        let at = match self.ifaces.last() {
            Some(last) if last.id < id => Err(self.ifaces.len()),
            _ => self.ifaces.binary_search_by_key(&id, |i| i.id),
        };
        let first = self.first_tunnel_up;
        match at {
            Ok(pos) => {
                self.ifaces[pos] = iface;
                if up && first.is_none_or(|f| pos < f) {
                    self.first_tunnel_up = Some(pos);
                } else if !up && first == Some(pos) {
                    self.first_tunnel_up = self.find_tunnel_up(pos + 1);
                }
            }
            Err(pos) => {
                self.ifaces.insert(pos, iface);
                self.first_tunnel_up = match first {
                    _ if up && first.is_none_or(|f| pos <= f) => Some(pos),
                    Some(f) if f >= pos => Some(f + 1),
                    other => other,
                };
            }
        }
    }

    pub fn remove(&mut self, id: IfaceId) -> Option<Iface> {
        let pos = self.ifaces.binary_search_by_key(&id, |i| i.id).ok()?;
        let gone = self.ifaces.remove(pos);
        self.first_tunnel_up = self.find_tunnel_up(0);
        Some(Arc::unwrap_or_clone(gone))
    }

    fn find_tunnel_up(&self, from: usize) -> Option<usize> {
        self.ifaces.get(from..)?.iter().position(|i| is_tunnel_up(i)).map(|p| from + p)
    }

    pub fn get(&self, id: IfaceId) -> Option<&Iface> {
        let pos = self.ifaces.binary_search_by_key(&id, |i| i.id).ok()?;
        self.ifaces.get(pos).map(|i| &**i)
    }

    pub fn by_name(&self, name: &str) -> Option<&Iface> {
        self.iter().find(|i| &*i.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Iface> {
        self.ifaces.iter().map(|i| &**i)
    }

    pub fn len(&self) -> usize {
        self.ifaces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ifaces.is_empty()
    }

    /// Tunnel interfaces that are up now.
    pub fn tunnels_up(&self) -> impl Iterator<Item = &Iface> {
        let from = self.first_tunnel_up.unwrap_or(self.ifaces.len());
        self.ifaces[from..].iter().map(|i| &**i).filter(|i| is_tunnel_up(i))
    }

    /// The first tunnel that is up (by id), without looking at the others.
    pub fn first_tunnel_up(&self) -> Option<&Iface> {
        self.ifaces.get(self.first_tunnel_up?).map(|i| &**i)
    }

    /// The interfaces that differ between `self` and `new`, in id order: (before, after), with
    /// `None` for an interface added or gone. Interfaces `new` shares with `self` (a copy
    /// changed by `upsert`) are passed over with a pointer comparison, so a consumer that keeps
    /// the topology it saw last does work in proportion to what changed.
    pub fn changes<'a>(&'a self, new: &'a Topology) -> Changes<'a> {
        Changes { old: &self.ifaces, new: &new.ifaces }
    }

    /// Tunnels up in `self` but not in `new` (gone down or away), and those up in `new` but
    /// not in `self` (come up), in id order.
    pub fn tunnel_changes<'a>(&'a self, new: &'a Topology) -> (Vec<&'a Iface>, Vec<&'a Iface>) {
        let (mut down, mut up) = (Vec::new(), Vec::new());
        for (before, after) in self.changes(new) {
            let (was, is) = (before.is_some_and(is_tunnel_up), after.is_some_and(is_tunnel_up));
            match (before, after) {
                (Some(b), _) if was && !is => down.push(b),
                (_, Some(a)) if is && !was => up.push(a),
                _ => {}
            }
        }
        (down, up)
    }

    /// Whether `addr` is one of this machine's own addresses (on any interface).
    pub fn is_local_addr(&self, addr: &IpAddr) -> bool {
        self.iter().any(|i| i.facts.addrs.contains(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> IfaceFacts {
        IfaceFacts { name: name.into(), up: true, has_mac: true, ..Default::default() }
    }

    #[test]
    fn classifies_by_usual_names() {
        let o = Overrides::default();
        for n in [
            "wg0",
            "tun0",
            "tap1",
            "utun3",
            "ppp0",
            "ipsec0",
            "tailscale0",
            "nordlynx",
            "proton0",
            "mullvad-wg",
            "wg-abc",
        ] {
            assert_eq!(classify(&named(n), &o), IfaceKind::Tunnel, "{n}");
        }
        for n in ["eth0", "enp3s0", "wlan0", "wlp2s0", "en0", "tsunami0", "wgx"] {
            // "tsunami0" starts with "ts" but is not followed by a digit; "wgx" likewise.
            assert_eq!(classify(&named(n), &o), IfaceKind::Physical, "{n}");
        }
        for n in ["lo", "lo0"] {
            assert_eq!(classify(&named(n), &o), IfaceKind::Loopback, "{n}");
        }
    }

    #[test]
    fn classifies_by_facts() {
        let o = Overrides::default();
        let p2p = IfaceFacts { name: "vpn-office".into(), point_to_point: true, ..Default::default() };
        assert_eq!(classify(&p2p, &o), IfaceKind::Tunnel);
        let raw = IfaceFacts { name: "corp".into(), link: Some(LinkType::RAW), ..Default::default() };
        assert_eq!(classify(&raw, &o), IfaceKind::Tunnel);
        let null = IfaceFacts { name: "x".into(), link: Some(LinkType::NULL), ..Default::default() };
        assert_eq!(classify(&null, &o), IfaceKind::Loopback);
        let lo = IfaceFacts { name: "weird".into(), loopback: true, ..Default::default() };
        assert_eq!(classify(&lo, &o), IfaceKind::Loopback);
    }

    /// Regression: pcapplusplus__many_interfaces-1 (a macOS capture) has utun0 with link type
    /// NULL; it was judged loopback.
    #[test]
    fn utun_with_null_link_type_is_a_tunnel() {
        let o = Overrides::default();
        let utun = IfaceFacts { name: "utun0".into(), link: Some(LinkType::NULL), ..Default::default() };
        assert_eq!(classify(&utun, &o), IfaceKind::Tunnel);
        let lo0 = IfaceFacts { name: "lo0".into(), link: Some(LinkType::NULL), ..Default::default() };
        assert_eq!(classify(&lo0, &o), IfaceKind::Loopback);
    }

    #[test]
    fn overrides_win() {
        let o = Overrides { tunnel: vec!["eth1".into()], physical: vec!["wg0".into()] };
        assert_eq!(classify(&named("eth1"), &o), IfaceKind::Tunnel);
        assert_eq!(classify(&named("wg0"), &o), IfaceKind::Physical);
    }

    proptest::proptest! {
        /// Lookups by id and the first tunnel up, kept without walking the interfaces, agree
        /// with a walk of them after any sequence of changes.
        #[test]
        fn lookups_agree_with_a_walk(ops in proptest::collection::vec((0u32..12, 0u8..4), 0..60)) {
            let o = Overrides::default();
            let mut t = Topology::new();
            let mut model: Vec<Iface> = Vec::new();
            for (id, what) in ops {
                let before = t.clone();
                model.retain(|i| i.id != id);
                if what == 3 {
                    t.remove(id);
                } else {
                    let mut f = named(if what == 0 { "eth0" } else { "wg0" });
                    f.up = what != 2;
                    t.upsert(id, f.clone(), &o);
                    model.push(Iface { id, name: "x".into(), kind: classify(&f, &o), facts: f });
                }
                model.sort_by_key(|i| i.id);
                let ids = |it: &mut dyn Iterator<Item = &Iface>| it.map(|i| i.id).collect::<Vec<_>>();
                proptest::prop_assert_eq!(ids(&mut t.iter()), ids(&mut model.iter()));
                let up: Vec<IfaceId> = ids(&mut model.iter().filter(|i| is_tunnel_up(i)));
                proptest::prop_assert_eq!(ids(&mut t.tunnels_up()), up.clone());
                proptest::prop_assert_eq!(t.first_tunnel_up().map(|i| i.id), up.first().copied());
                let old_up: Vec<IfaceId> = before.tunnels_up().map(|i| i.id).collect();
                let (down, came) = before.tunnel_changes(&t);
                let want_down: Vec<IfaceId> = old_up.iter().copied().filter(|i| !up.contains(i)).collect();
                let want_up: Vec<IfaceId> = up.iter().copied().filter(|i| !old_up.contains(i)).collect();
                proptest::prop_assert_eq!(ids(&mut down.into_iter()), want_down);
                proptest::prop_assert_eq!(ids(&mut came.into_iter()), want_up);
                let changed: Vec<IfaceId> =
                    before.changes(&t).map(|(b, a)| b.or(a).map_or(u32::MAX, |i| i.id)).collect();
                let want: Vec<IfaceId> = (0..12).filter(|&i| before.get(i) != t.get(i)).collect();
                proptest::prop_assert_eq!(changed, want);
                for probe in 0..12 {
                    let want = model.iter().find(|i| i.id == probe).map(|i| i.facts.up);
                    proptest::prop_assert_eq!(t.get(probe).map(|i| i.facts.up), want);
                }
            }
        }
    }

    #[test]
    fn upsert_replaces_by_id() {
        let o = Overrides::default();
        let mut t = Topology::from_facts([(1, named("eth0")), (2, named("wg0"))], &o);
        assert_eq!(t.tunnels_up().count(), 1);
        let mut down = named("wg0");
        down.up = false;
        t.upsert(2, down, &o);
        assert_eq!(t.len(), 2);
        assert_eq!(t.tunnels_up().count(), 0);
        assert!(t.remove(2).is_some());
        assert!(t.get(2).is_none());
    }
}

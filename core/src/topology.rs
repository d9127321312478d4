//! Interface facts: plain data handed to the core. The core decides nothing from the OS;
//! the shells (netdev for live capture, pcapng interface blocks for replay) fill these in.

use std::net::IpAddr;
use std::sync::Arc;

use super::frame::LinkType;
use super::net::IfaceAddr;

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
    /// Its addresses, with prefix lengths when the source knows them.
    pub addrs: Vec<IfaceAddr>,
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

/// Interfaces per shared run of a topology (a run splits in two past twice this).
const RUN: usize = 64;

/// A run of interfaces, sorted by id, shared between copies of a topology until one changes.
type Run = Arc<Vec<Arc<Iface>>>;

fn is_tunnel_up(i: &Iface) -> bool {
    i.kind == IfaceKind::Tunnel && i.facts.up
}

/// All interfaces known at one moment. A change of topology is handed to the pipeline as an
/// event in the same stream as the frames, so its order against packets is kept.
///
/// A capture file may declare thousands of interfaces, and a change can come with every
/// packet, each handing a copy to the pipeline and the outputs. So nothing here walks the
/// interfaces: they are kept sorted by id in runs of about `RUN`, shared between copies (a
/// copy costs a reference count per run; a change copies the one run it touches); an
/// interface is found by binary search; the first tunnel up and the number of tunnels are
/// remembered; and [`Topology::changes`] passes over shared runs with a pointer comparison.
#[derive(Clone, Default)]
pub struct Topology {
    /// Never empty runs, in id order.
    runs: Vec<Run>,
    len: usize,
    /// Interfaces of kind tunnel, up or not.
    tunnels: usize,
    first_tunnel_up: Option<Arc<Iface>>,
}

impl PartialEq for Topology {
    fn eq(&self, other: &Topology) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for Topology {}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
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

    /// The run that holds `id` or would: (run, position in it or where it would go).
    fn locate(&self, id: IfaceId) -> (usize, Result<usize, usize>) {
        let run = self.runs.partition_point(|r| r.last().is_some_and(|i| i.id < id));
        match self.runs.get(run) {
            Some(r) => (run, r.binary_search_by_key(&id, |i| i.id)),
            // Past the last id: the end of the last run.
            None => {
                let last = self.runs.len().saturating_sub(1);
                (last, Err(self.runs.get(last).map_or(0, |r| r.len())))
            }
        }
    }

    /// Adds or replaces the interface with this id.
    pub fn upsert(&mut self, id: IfaceId, facts: IfaceFacts, overrides: &Overrides) {
        let kind = classify(&facts, overrides);
        let iface = Arc::new(Iface { id, name: IfaceName::new(&facts.name), kind, facts });
        let (at_run, at) = self.locate(id);
        let appending = at_run + 1 >= self.runs.len() && at == Err(self.runs.last().map_or(0, |r| r.len()));
        let old = if self.runs.is_empty() || (appending && self.runs[at_run].len() >= RUN) {
            self.runs.push(Arc::new(vec![iface.clone()]));
            None
        } else {
            let run = Arc::make_mut(&mut self.runs[at_run]);
            let old = match at {
                Ok(pos) => Some(std::mem::replace(&mut run[pos], iface.clone())),
                Err(pos) => {
                    run.insert(pos, iface.clone());
                    None
                }
            };
            if run.len() > 2 * RUN {
                let tail = run.split_off(RUN);
                self.runs.insert(at_run + 1, Arc::new(tail));
            }
            old
        };
        self.len += usize::from(old.is_none());
        self.count_tunnel(old.as_deref(), -1);
        self.count_tunnel(Some(&iface), 1);
        let first = self.first_tunnel_up.as_ref().map(|f| f.id);
        if is_tunnel_up(&iface) && first.is_none_or(|f| id <= f) {
            self.first_tunnel_up = Some(iface);
        } else if first == Some(id) {
            self.first_tunnel_up = self.find_tunnel_up(id);
        }
    }

    fn count_tunnel(&mut self, i: Option<&Iface>, by: isize) {
        if i.is_some_and(|i| i.kind == IfaceKind::Tunnel) {
            self.tunnels = self.tunnels.saturating_add_signed(by);
        }
    }

    pub fn remove(&mut self, id: IfaceId) -> Option<Iface> {
        let (at_run, Ok(pos)) = self.locate(id) else { return None };
        let run = Arc::make_mut(&mut self.runs[at_run]);
        let gone = run.remove(pos);
        if run.is_empty() {
            self.runs.remove(at_run);
        }
        self.len -= 1;
        self.count_tunnel(Some(&gone), -1);
        if self.first_tunnel_up.as_ref().is_some_and(|f| f.id == id) {
            self.first_tunnel_up = self.find_tunnel_up(id);
        }
        Some(Arc::unwrap_or_clone(gone))
    }

    /// The first tunnel up with an id of `from` or more (a walk: only when the first one
    /// stopped being up).
    fn find_tunnel_up(&self, from: IfaceId) -> Option<Arc<Iface>> {
        self.arcs_from(from).find(|i| is_tunnel_up(i)).cloned()
    }

    /// The interfaces with an id of `from` or more, in id order.
    fn arcs_from(&self, from: IfaceId) -> impl Iterator<Item = &Arc<Iface>> {
        let (at_run, at) = self.locate(from);
        let pos = at.unwrap_or_else(|p| p);
        self.runs
            .iter()
            .skip(at_run)
            .enumerate()
            .flat_map(move |(k, r)| r.iter().skip(if k == 0 { pos } else { 0 }))
    }

    pub fn get(&self, id: IfaceId) -> Option<&Iface> {
        let (at_run, Ok(pos)) = self.locate(id) else { return None };
        self.runs.get(at_run)?.get(pos).map(|i| &**i)
    }

    pub fn by_name(&self, name: &str) -> Option<&Iface> {
        self.iter().find(|i| &*i.name == name)
    }

    /// Every interface, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Iface> {
        self.runs.iter().flat_map(|r| r.iter()).map(|i| &**i)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether any interface is a tunnel (up or not).
    pub fn has_tunnel(&self) -> bool {
        self.tunnels > 0
    }

    /// Tunnel interfaces that are up now, in id order (from the first, without a walk to it).
    pub fn tunnels_up(&self) -> impl Iterator<Item = &Iface> {
        let from = self.first_tunnel_up.as_ref().map(|f| f.id);
        let arcs = from.map(|id| self.arcs_from(id));
        arcs.into_iter().flatten().map(|i| &**i).filter(|i| is_tunnel_up(i))
    }

    /// The first tunnel that is up (by id), without looking at the others.
    pub fn first_tunnel_up(&self) -> Option<&Iface> {
        self.first_tunnel_up.as_deref()
    }

    /// The interfaces that differ between `self` and `new`, in id order: (before, after), with
    /// `None` for an interface added or gone. Runs `new` shares with `self` (a copy changed by
    /// `upsert`) are passed over with a pointer comparison, so a consumer that keeps the
    /// topology it saw last does work in proportion to what changed.
    pub fn changes<'a>(&'a self, new: &'a Topology) -> Changes<'a> {
        Changes { old: Cursor::new(&self.runs), new: Cursor::new(&new.runs) }
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
        self.iter().any(|i| i.facts.addrs.iter().any(|a| a.addr == *addr))
    }
}

/// A position in a topology's runs.
struct Cursor<'a> {
    runs: &'a [Run],
    run: usize,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(runs: &'a [Run]) -> Self {
        Cursor { runs, run: 0, pos: 0 }
    }

    fn get(&self) -> Option<&'a Arc<Iface>> {
        self.runs.get(self.run)?.get(self.pos)
    }

    /// The run starting here, when the cursor is at a run's start.
    fn whole_run(&self) -> Option<&'a Run> {
        (self.pos == 0).then(|| self.runs.get(self.run)).flatten()
    }

    fn advance(&mut self) {
        self.pos += 1;
        if self.runs.get(self.run).is_none_or(|r| self.pos >= r.len()) {
            self.run += 1;
            self.pos = 0;
        }
    }
}

/// See [`Topology::changes`].
pub struct Changes<'a> {
    old: Cursor<'a>,
    new: Cursor<'a>,
}

impl<'a> Iterator for Changes<'a> {
    type Item = (Option<&'a Iface>, Option<&'a Iface>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let (Some(a), Some(b)) = (self.old.whole_run(), self.new.whole_run()) {
                if Arc::ptr_eq(a, b) {
                    (self.old.run, self.new.run) = (self.old.run + 1, self.new.run + 1);
                    continue;
                }
            }
            let step = match (self.old.get(), self.new.get()) {
                (None, None) => return None,
                (Some(o), Some(n)) if o.id == n.id => {
                    self.old.advance();
                    self.new.advance();
                    if Arc::ptr_eq(o, n) || o == n {
                        continue;
                    }
                    (Some(&**o), Some(&**n))
                }
                (Some(o), Some(n)) if o.id < n.id => {
                    self.old.advance();
                    (Some(&**o), None)
                }
                (Some(o), None) => {
                    self.old.advance();
                    (Some(&**o), None)
                }
                (_, Some(n)) => {
                    self.new.advance();
                    (None, Some(&**n))
                }
            };
            return Some(step);
        }
    }
}

#[cfg(test)]
#[path = "topology_tests.rs"]
mod tests;

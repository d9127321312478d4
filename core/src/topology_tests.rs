//! Classification, lookups and shared runs of the topology.

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

proptest::proptest! {
    /// Hundreds of interfaces in any order: runs split, copies share them, and every lookup
    /// and change list agrees with a plain sorted list.
    #[test]
    fn runs_split_and_are_shared(ops in proptest::collection::vec((0u32..400, 0u8..4), 0..600)) {
        let o = Overrides::default();
        let mut t = Topology::new();
        let mut model: std::collections::BTreeMap<IfaceId, IfaceFacts> = Default::default();
        let mut snapshot = (t.clone(), model.clone());
        for (n, (id, what)) in ops.into_iter().enumerate() {
            if what == 3 {
                proptest::prop_assert_eq!(t.remove(id).is_some(), model.remove(&id).is_some());
            } else {
                let mut f = named(if what == 0 { "eth0" } else { "wg0" });
                f.up = what != 2;
                f.index = n as u32;
                t.upsert(id, f.clone(), &o);
                model.insert(id, f);
            }
            if n % 50 == 49 {
                let (old_t, old_m) = &snapshot;
                let want: Vec<IfaceId> = old_m.keys().chain(model.keys()).copied()
                    .collect::<std::collections::BTreeSet<_>>().into_iter()
                    .filter(|id| old_m.get(id) != model.get(id)).collect();
                let got: Vec<IfaceId> =
                    old_t.changes(&t).map(|(b, a)| b.or(a).map_or(u32::MAX, |i| i.id)).collect();
                proptest::prop_assert_eq!(got, want);
                snapshot = (t.clone(), model.clone());
            }
        }
        let ids: Vec<IfaceId> = t.iter().map(|i| i.id).collect();
        proptest::prop_assert_eq!(&ids, &model.keys().copied().collect::<Vec<_>>());
        proptest::prop_assert_eq!(t.len(), model.len());
        proptest::prop_assert!(t.runs.iter().all(|r| !r.is_empty() && r.len() <= 2 * RUN));
        for id in 0..400 {
            proptest::prop_assert_eq!(t.get(id).map(|i| &i.facts), model.get(&id));
        }
        let up: Vec<IfaceId> = model.iter().filter(|(_, f)| f.up && f.name == "wg0").map(|(id, _)| *id).collect();
        proptest::prop_assert_eq!(t.tunnels_up().map(|i| i.id).collect::<Vec<_>>(), up.clone());
        proptest::prop_assert_eq!(t.first_tunnel_up().map(|i| i.id), up.first().copied());
        proptest::prop_assert_eq!(t.has_tunnel(), model.values().any(|f| f.name == "wg0"));
    }
}

/// A copy shares its runs; a change copies the one run it touches (issue #13: a file with
/// 4,096 interfaces and a change per packet).
#[test]
fn a_copy_shares_all_but_the_run_a_change_touches() {
    let o = Overrides::default();
    let t = Topology::from_facts((0..4096).map(|i| (i, named(&format!("eth{i}")))), &o);
    assert_eq!(t.runs.len(), 4096 / RUN);
    let mut copy = t.clone();
    copy.upsert(1000, named("wg0"), &o);
    copy.upsert(4096, named("wg1"), &o);
    let shared = t.runs.iter().zip(&copy.runs).filter(|(a, b)| Arc::ptr_eq(a, b)).count();
    assert_eq!(shared, 4096 / RUN - 1);
    let changed: Vec<IfaceId> = t.changes(&copy).map(|(_, a)| a.map_or(0, |i| i.id)).collect();
    assert_eq!(changed, [1000, 4096]);
    assert_eq!(copy.first_tunnel_up().map(|i| i.id), Some(1000));
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

use super::*;

fn proc(pid: u32, name: &str) -> Process {
    Process { pid, name: name.into(), exe: Some(format!("/usr/bin/{name}").into()), uid: Some(1000) }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn owner(proto: SockProto, local: &str, remote: &str, p: Process, ms: i64) -> SocketOwner {
    SocketOwner {
        proto,
        local: sa(local),
        remote: sa(remote),
        process: p,
        netns: 4026531840,
        ts: Ts::from_millis(ms),
    }
}

fn query<'a>(src: &str, dst: &str, name: &'a str) -> QuerySeen<'a> {
    let dst = sa(dst);
    QuerySeen {
        proto: SockProto::Udp,
        src: sa(src),
        dst,
        src_is_local: true,
        dst_is_local: dst.ip().is_loopback(),
        name,
        qtype: 1,
    }
}

#[test]
fn a_flow_fact_attributes_its_query() {
    let mut t = ProcessTable::default();
    t.insert(owner(SockProto::Udp, "192.0.2.2:40000", "192.0.2.1:53", proc(42, "dig"), 0));
    let a = t.attribute(SockProto::Udp, sa("192.0.2.2:40000"), sa("192.0.2.1:53"), true, Ts::from_millis(1));
    assert_eq!(a.process().map(|p| (p.pid, p.name.as_str())), Some((42, "dig")));
    // Another flow, another protocol: unknown.
    let b = t.attribute(SockProto::Tcp, sa("192.0.2.2:40000"), sa("192.0.2.1:53"), true, Ts::from_millis(1));
    assert_eq!(b, Attribution::Unknown);
    let s = t.stats();
    assert_eq!((s.facts, s.attributed, s.unattributed, s.not_from_host), (1, 1, 1, 0));
}

#[test]
fn a_source_that_is_not_local_is_not_from_this_host() {
    let mut t = ProcessTable::default();
    t.insert(owner(SockProto::Udp, "192.0.2.2:40000", "192.0.2.1:53", proc(42, "dig"), 0));
    let a = t.attribute(SockProto::Udp, sa("192.0.2.2:40000"), sa("192.0.2.1:53"), false, Ts::from_millis(1));
    assert_eq!(a, Attribution::NotFromThisHost);
    assert_eq!(t.stats().not_from_host, 1);
    assert_eq!(t.stats().attributed, 0);
}

#[test]
fn an_unconnected_socket_is_found_by_its_local_port() {
    let mut t = ProcessTable::default();
    // What sock_diag shows of an unconnected UDP socket bound to the wildcard address.
    t.insert(owner(SockProto::Udp, "0.0.0.0:5300", "0.0.0.0:0", proc(7, "resolver"), 0));
    for dst in ["192.0.2.1:53", "203.0.113.53:53"] {
        let a = t.attribute(SockProto::Udp, sa("192.0.2.2:5300"), sa(dst), true, Ts::from_millis(5));
        assert_eq!(a.process().map(|p| p.pid), Some(7), "{dst}");
    }
}

#[test]
fn a_flow_with_the_wildcard_local_address_matches_any_local_address() {
    let mut t = ProcessTable::default();
    t.insert(owner(SockProto::Tcp, "[::]:41000", "[fd00:53::53]:853", proc(9, "kdig"), 0));
    let a = t.attribute(
        SockProto::Tcp,
        sa("[fd00:1::2]:41000"),
        sa("[fd00:53::53]:853"),
        true,
        Ts::from_millis(1),
    );
    assert_eq!(a.process().map(|p| p.pid), Some(9));
}

#[test]
fn ipv4_mapped_addresses_match_plain_ipv4() {
    let mut t = ProcessTable::default();
    t.insert(owner(
        SockProto::Udp,
        "[::ffff:192.0.2.2]:40001",
        "[::ffff:192.0.2.1]:53",
        proc(5, "python3"),
        0,
    ));
    let a = t.attribute(SockProto::Udp, sa("192.0.2.2:40001"), sa("192.0.2.1:53"), true, Ts::from_millis(1));
    assert_eq!(a.process().map(|p| p.pid), Some(5));
}

#[test]
fn a_later_fact_for_the_same_socket_replaces_the_owner() {
    let mut t = ProcessTable::default();
    t.insert(owner(SockProto::Udp, "192.0.2.2:40000", "192.0.2.1:53", proc(42, "dig"), 0));
    t.insert(owner(SockProto::Udp, "192.0.2.2:40000", "192.0.2.1:53", proc(43, "host"), 10));
    let a = t.attribute(SockProto::Udp, sa("192.0.2.2:40000"), sa("192.0.2.1:53"), true, Ts::from_millis(11));
    assert_eq!(a.process().map(|p| p.pid), Some(43));
}

#[test]
fn a_burst_from_one_socket_is_attributed_every_time() {
    let mut t = ProcessTable::default();
    t.insert(owner(SockProto::Udp, "192.0.2.2:40000", "192.0.2.1:53", proc(42, "dig"), 0));
    let hits = (0..2000)
        .filter(|i| {
            let now = Ts::from_millis(*i);
            t.attribute(SockProto::Udp, sa("192.0.2.2:40000"), sa("192.0.2.1:53"), true, now)
                .process()
                .is_some()
        })
        .count();
    assert_eq!(hits, 2000);
    assert_eq!(t.stats().attributed, 2000);
}

#[test]
fn an_unused_socket_is_forgotten_and_counted() {
    let cfg = ProcessConfig { socket_idle: 1_000_000_000, ..ProcessConfig::default() };
    let mut t = ProcessTable::new(cfg);
    t.insert(owner(SockProto::Udp, "192.0.2.2:40000", "192.0.2.1:53", proc(42, "dig"), 0));
    // Used within its span, it stays.
    let at = |ms| Ts::from_millis(ms);
    assert!(t.owner(SockProto::Udp, sa("192.0.2.2:40000"), sa("192.0.2.1:53"), at(1500)).is_some());
    assert!(t.owner(SockProto::Udp, sa("192.0.2.2:40000"), sa("192.0.2.1:53"), at(2900)).is_some());
    // Unused for more than two spans, it is gone.
    assert!(t.owner(SockProto::Udp, sa("192.0.2.2:40000"), sa("192.0.2.1:53"), at(6000)).is_none());
    assert_eq!(t.stats().expired, 1);
    assert!(t.is_empty());
}

#[test]
fn a_full_table_stays_bounded_and_counts_what_it_evicts() {
    let cfg = ProcessConfig { max_sockets: 100, ..ProcessConfig::default() };
    let mut t = ProcessTable::new(cfg);
    for port in 0..1000u16 {
        let local = format!("192.0.2.2:{}", 10000 + port);
        t.insert(owner(SockProto::Udp, &local, "192.0.2.1:53", proc(1, "flood"), 0));
        assert!(t.len() <= 200);
    }
    // The newest are still there.
    assert!(t.owner(SockProto::Udp, sa("192.0.2.2:10999"), sa("192.0.2.1:53"), Ts::ZERO).is_some());
    let s = t.stats();
    assert_eq!(s.evicted as usize + t.len(), 1000);
}

#[test]
fn time_going_backwards_keeps_entries() {
    let mut t = ProcessTable::default();
    t.insert(owner(SockProto::Udp, "192.0.2.2:40000", "192.0.2.1:53", proc(42, "dig"), 10_000));
    assert!(t.owner(SockProto::Udp, sa("192.0.2.2:40000"), sa("192.0.2.1:53"), Ts::from_millis(0)).is_some());
}

#[test]
fn a_stub_upstream_query_is_on_behalf_of_the_program_that_asked_it() {
    let mut t = ProcessTable::default();
    t.insert(owner(SockProto::Udp, "127.0.0.1:40000", "127.0.0.53:53", proc(42, "dig"), 0));
    t.insert(owner(SockProto::Udp, "192.0.2.2:33333", "192.0.2.1:53", proc(77, "dnsmasq"), 2));
    let asked =
        t.attribute_query(&query("127.0.0.1:40000", "127.0.0.53:53", "Stub.Example.com"), Ts::from_millis(1));
    assert_eq!(asked.process.process().map(|p| p.pid), Some(42));
    assert_eq!(asked.on_behalf_of, None);
    let up =
        t.attribute_query(&query("192.0.2.2:33333", "192.0.2.1:53", "stub.example.com."), Ts::from_millis(3));
    assert_eq!(up.process.process().map(|p| p.name.as_str()), Some("dnsmasq"));
    assert_eq!(up.on_behalf_of.as_ref().map(|p| (p.pid, p.name.as_str())), Some((42, "dig")));
    assert_eq!(t.stats().on_behalf_of, 1);
}

#[test]
fn a_stub_hop_needs_the_same_type_and_the_window() {
    let mut t = ProcessTable::default();
    t.insert(owner(SockProto::Udp, "127.0.0.1:40000", "127.0.0.53:53", proc(42, "dig"), 0));
    t.attribute_query(&query("127.0.0.1:40000", "127.0.0.53:53", "x.example"), Ts::from_millis(0));
    let mut aaaa = query("192.0.2.2:33333", "192.0.2.1:53", "x.example");
    aaaa.qtype = 28;
    assert_eq!(t.attribute_query(&aaaa, Ts::from_millis(10)).on_behalf_of, None);
    let late =
        t.attribute_query(&query("192.0.2.2:33333", "192.0.2.1:53", "x.example"), Ts::from_millis(1001));
    assert_eq!(late.on_behalf_of, None);
    // An upstream query seen before the ask (clock order) is not on its behalf either.
    t.attribute_query(&query("127.0.0.1:40000", "127.0.0.53:53", "y.example"), Ts::from_millis(2000));
    let before =
        t.attribute_query(&query("192.0.2.2:33333", "192.0.2.1:53", "y.example"), Ts::from_millis(1999));
    assert_eq!(before.on_behalf_of, None);
}

#[test]
fn a_program_asking_twice_is_not_on_behalf_of_itself() {
    let mut t = ProcessTable::default();
    t.insert(owner(SockProto::Udp, "127.0.0.1:40000", "127.0.0.53:53", proc(42, "dig"), 0));
    t.insert(owner(SockProto::Udp, "192.0.2.2:40001", "192.0.2.1:53", proc(42, "dig"), 0));
    t.attribute_query(&query("127.0.0.1:40000", "127.0.0.53:53", "x.example"), Ts::from_millis(1));
    let direct =
        t.attribute_query(&query("192.0.2.2:40001", "192.0.2.1:53", "x.example"), Ts::from_millis(2));
    assert_eq!(direct.process.process().map(|p| p.pid), Some(42));
    assert_eq!(direct.on_behalf_of, None);
}

#[test]
fn a_chain_of_stubs_leads_to_the_first_asker() {
    let mut t = ProcessTable::default();
    t.insert(owner(SockProto::Udp, "127.0.0.1:40000", "127.0.0.53:53", proc(1200, "firefox"), 0));
    t.insert(owner(SockProto::Udp, "127.0.0.1:40002", "127.0.0.1:5353", proc(300, "systemd-resolve"), 0));
    t.insert(owner(SockProto::Udp, "192.0.2.2:40003", "192.0.2.1:53", proc(400, "dnsmasq"), 0));
    t.attribute_query(&query("127.0.0.1:40000", "127.0.0.53:53", "x.example"), Ts::from_millis(1));
    let hop = t.attribute_query(&query("127.0.0.1:40002", "127.0.0.1:5353", "x.example"), Ts::from_millis(2));
    assert_eq!(hop.on_behalf_of.as_ref().map(|p| p.pid), Some(1200));
    let up = t.attribute_query(&query("192.0.2.2:40003", "192.0.2.1:53", "x.example"), Ts::from_millis(3));
    assert_eq!(up.process.process().map(|p| p.pid), Some(400));
    assert_eq!(up.on_behalf_of.as_ref().map(|p| p.name.as_str()), Some("firefox"));
}

#[test]
fn an_unattributed_upstream_query_still_names_the_asker() {
    let mut t = ProcessTable::default();
    t.insert(owner(SockProto::Udp, "127.0.0.1:40000", "127.0.0.53:53", proc(42, "dig"), 0));
    t.attribute_query(&query("127.0.0.1:40000", "127.0.0.53:53", "x.example"), Ts::from_millis(1));
    let up = t.attribute_query(&query("192.0.2.2:33333", "192.0.2.1:53", "x.example"), Ts::from_millis(2));
    assert_eq!(up.process, Attribution::Unknown);
    assert_eq!(up.on_behalf_of.map(|p| p.pid), Some(42));
}

#[test]
fn forwarded_queries_are_not_linked_or_remembered() {
    let mut t = ProcessTable::default();
    let mut q = query("192.0.2.9:40000", "127.0.0.53:53", "x.example");
    q.src_is_local = false;
    let r = t.attribute_query(&q, Ts::from_millis(1));
    assert_eq!(r, Owner { process: Attribution::NotFromThisHost, on_behalf_of: None });
    assert!(t.is_empty());
}

#[test]
fn asks_stay_bounded_under_a_flood_of_names() {
    let cfg = ProcessConfig { max_asks: 64, ..ProcessConfig::default() };
    let mut t = ProcessTable::new(cfg);
    t.insert(owner(SockProto::Udp, "127.0.0.1:40000", "127.0.0.53:53", proc(42, "dig"), 0));
    for i in 0..10_000 {
        let name = format!("n{i}.example");
        t.attribute_query(&query("127.0.0.1:40000", "127.0.0.53:53", &name), Ts::from_millis(1));
        assert!(t.len() <= 1 + 128);
    }
    assert!(t.stats().evicted > 0);
}

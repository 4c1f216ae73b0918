//! Configs naming interfaces that do not exist, and the other keepalived 2.2.7 `-t` checks
//! that go with them: each expected message and exit code is what Debian's keepalived 2.2.7
//! printed for the same config in a network namespace with `eth0` (and `lo`).

use conf::{load_str, Category, LoadOptions};

/// Interfaces looked up, with `lo`, `eth0` and `eth1` the only ones that exist.
fn opts() -> LoadOptions {
    LoadOptions {
        config_id: Some("corpus".into()),
        check_interfaces: true,
        interface_names: Some(vec!["lo".into(), "eth0".into(), "eth1".into()]),
        ..Default::default()
    }
}

fn parse(text: &str) -> conf::Loaded {
    load_str("keepalived.conf", text, &opts())
}

/// Every diagnostic as `LINE: message` (`-` without a location).
fn lines(l: &conf::Loaded) -> Vec<String> {
    l.diags
        .list
        .iter()
        .map(|d| match &d.loc {
            Some(loc) => format!("{}: {}", loc.line, d.msg),
            None => format!("-: {}", d.msg),
        })
        .collect()
}

const BAD_IF: &str = "-: Non-existent interface specified in configuration";

/// An instance on eth0 whose body is `body`.
fn instance(name: &str, vrid: u8, body: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n state BACKUP\n interface eth0\n virtual_router_id {vrid}\n priority 100\n{body}}}\n"
    )
}

/// The config names an interface that does not exist: keepalived cannot run it.
fn assert_bad_if(l: &conf::Loaded) {
    assert!(lines(l).contains(&BAD_IF.to_string()), "{:?}", lines(l));
    assert!(l.diags.is_fatal());
    assert!(l.diags.refuses_reload());
    // The "doesn't exist" messages are general errors, the largest category: exit 5.
    assert_eq!(l.diags.test_exit_code(), 5);
}

#[test]
fn addresses_on_missing_interfaces() {
    // Case a: virtual_ipaddress, virtual_ipaddress_excluded and static_ipaddress.
    let l = parse(&format!(
        "{}static_ipaddress {{\n 10.99.1.1/24 dev nosuch4\n}}\n",
        instance(
            "VI_1",
            51,
            " virtual_ipaddress {\n  10.99.0.100/24 dev nosuch2\n  10.99.0.101/24\n }\n virtual_ipaddress_excluded {\n  10.99.0.102/24 dev nosuch3\n }\n"
        )
    ));
    assert_eq!(
        lines(&l),
        [
            "7: WARNING - interface nosuch2 for ip address 10.99.0.100/24 doesn't exist",
            "11: WARNING - interface nosuch3 for ip address 10.99.0.102/24 doesn't exist",
            "15: WARNING - interface nosuch4 for ip address 10.99.1.1/24 doesn't exist",
            BAD_IF,
        ]
    );
    assert_bad_if(&l);
    // The address is dropped at the device: what follows on its line is not read.
    let l = parse("static_ipaddress {\n 10.99.1.1/24 bogus dev nosuch4 label x\n}\n");
    assert_eq!(
        lines(&l),
        [
            "2: Unknown configuration entry 'bogus' for ip address - ignoring",
            "2: WARNING - interface nosuch4 for ip address 10.99.1.1/24 doesn't exist",
            BAD_IF,
        ]
    );
    // An existing device is fine.
    let l = parse("static_ipaddress {\n 10.99.1.1/24 dev eth0\n}\n");
    assert!(l.diags.list.is_empty(), "{:?}", lines(&l));
    assert_eq!(l.config.static_ipaddress.len(), 1);
}

#[test]
fn routes_and_rules_on_missing_interfaces() {
    // Case b.
    let l = parse(&format!(
        "static_routes {{\n 10.99.50.0/24 dev nosuch5\n 10.99.51.0/24 via 10.99.0.1 dev nosuch6\n 10.99.52.0/24 nexthop via 10.99.0.1 dev nosuch7 nexthop via 10.99.0.2 dev eth0\n}}\nstatic_rules {{\n from 10.99.0.0/24 table 100 iif nosuch8 priority 100\n from 10.99.1.0/24 table 100 oif nosuch9 priority 101\n from 10.99.2.0/24 table 100 dev nosuch10 priority 102\n}}\n{}",
        instance(
            "VI_1",
            51,
            " virtual_ipaddress {\n  10.99.0.100/24\n }\n virtual_routes {\n  10.99.60.0/24 dev nosuch11\n  10.99.61.0/24 via 10.99.0.1 oif nosuch12\n }\n virtual_rules {\n  from 10.99.3.0/24 table 100 iif nosuch13 priority 103\n }\n"
        )
    ));
    assert_eq!(
        lines(&l),
        [
            "2: WARNING - interface nosuch5 for VROUTE nexthop doesn't exist",
            "3: WARNING - interface nosuch6 for VROUTE nexthop doesn't exist",
            "4: WARNING - interface nosuch7 for VROUTE nexthop doesn't exist",
            // A next hop's device is not the route's: it cannot be tracked (static or not).
            "4: Warning - cannot track route 10.99.52.0/24 with no interface specified, not tracking",
            "7: WARNING - interface nosuch8 for rule doesn't exist",
            "8: WARNING - interface nosuch9 for rule doesn't exist",
            "9: WARNING - interface nosuch10 for rule doesn't exist",
            "20: WARNING - interface nosuch11 for VROUTE nexthop doesn't exist",
            "21: WARNING - interface nosuch12 for VROUTE nexthop doesn't exist",
            "24: WARNING - interface nosuch13 for rule doesn't exist",
            BAD_IF,
        ]
    );
    assert_bad_if(&l);
    // Only the route with the next hop is kept, and no rule.
    assert_eq!(l.config.static_routes.len(), 1);
    assert!(l.config.static_rules.is_empty());
    // A dropped rule takes no default preference.
    let l = parse("static_rules {\n from 10.99.0.0/24 table 100 iif nosuch8\n from 10.99.1.0/24 table 100\n}\n");
    assert_eq!(
        lines(&l),
        [
            "2: WARNING - interface nosuch8 for rule doesn't exist",
            "3: Rule has no preference specified - setting to 16384. This is probably not what you want.",
            BAD_IF,
        ]
    );
    // Existing devices are fine.
    let l = parse("static_routes {\n 10.99.50.0/24 dev eth0\n 10.99.52.0/24 dev eth0 nexthop via 10.99.0.1 dev eth0\n}\nstatic_rules {\n from 10.99.0.0/24 table 100 iif eth0 oif lo priority 100\n}\n");
    assert!(l.diags.list.is_empty(), "{:?}", lines(&l));
}

#[test]
fn route_and_rule_words_keepalived_rejects() {
    let l = parse("static_routes {\n foo dev eth0\n 10.99.3.0/24 fd00::/64 dev eth0\n 10.99.4.0/24 dev eth0 bar\n 10.99.1.0/24 10.99.2.0/24 dev eth0\n 10.99.54.0/24 bar dev nosuch9\n}\nstatic_rules {\n from 10.99.2.0/24 table 100 bogus iif nosuch10\n}\n");
    assert_eq!(
        lines(&l),
        [
            "2: VRRP parsed invalid IP foo. skipping IP...",
            "2: unknown route keyword foo",
            "3: Cannot mix IPv4 and IPv6 addresses for route (fd00::/64)",
            "4: VRRP parsed invalid IP bar. skipping IP...",
            "4: unknown route keyword bar",
            "6: VRRP parsed invalid IP bar. skipping IP...",
            "6: unknown route keyword bar",
            "9: Unknown rule option bogus",
        ]
    );
    // A later destination replaces an earlier one.
    let r = &l.config.static_routes;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].dst.map(|d| d.0.to_string()), Some("10.99.2.0".into()));
    assert_eq!(l.diags.test_exit_code(), 5);
    assert!(!l.diags.is_fatal());
}

#[test]
fn static_route_without_interface_is_not_tracked() {
    let l = parse("static_routes {\n 10.99.50.0/24 via 10.99.0.1\n 10.99.51.0/24 dev eth0\n 10.99.55.0/24 via 10.99.0.1 no_track\n}\n");
    assert_eq!(
        lines(&l),
        ["2: Warning - cannot track route 10.99.50.0/24 with no interface specified, not tracking"]
    );
}

#[test]
fn tracked_interfaces() {
    // Case c: in an instance and in a sync group.
    let l = parse(&format!(
        "vrrp_sync_group G1 {{\n group {{\n  VI_1\n }}\n track_interface {{\n  nosuch20\n }}\n}}\n{}",
        instance(
            "VI_1",
            51,
            " track_interface {\n  nosuch1\n  lo\n }\n virtual_ipaddress {\n  10.99.0.100/24\n }\n"
        )
    ));
    assert_eq!(
        lines(&l),
        [
            "6: (G1) tracked interface nosuch20 doesn't exist",
            "15: (VI_1) tracked interface nosuch1 doesn't exist",
            BAD_IF,
        ]
    );
    assert_bad_if(&l);
    assert_eq!(l.config.instances[0].track_interface.len(), 1);
    // keepalived's VRRP process stops before its checks: no sync group message.
    assert!(!l.diags.has("Sync group G1 has only 1 virtual router"));

    // alloc_track_if's other messages.
    let l = parse(&instance(
        "VI_1",
        51,
        " track_interface {\n  eth1 weight 300\n  eth1\n  lo weight -254 reverse\n }\n virtual_ipaddress {\n  10.99.0.100/24\n }\n",
    ));
    assert_eq!(
        lines(&l),
        [
            "7: number '300' outside range [-254, 254]",
            "7: (VI_1) weight 300 for eth1 must be between [-253..253] inclusive. Ignoring...",
            "8: (VI_1) duplicate track_interface eth1 - ignoring",
            "9: (VI_1) weight for lo cannot be +/-254. Setting to +/-253",
        ]
    );
    let t = &l.config.instances[0].track_interface;
    assert_eq!(
        t.iter()
            .map(|t| (t.name.as_str(), t.weight, t.reverse))
            .collect::<Vec<_>>(),
        [("eth1", None, false), ("lo", Some(-253), true)]
    );
    let l = parse(&instance(
        "VI_1",
        51,
        " track_interface {\n  eth1 weight\n  lo foo\n }\n virtual_ipaddress {\n  10.99.0.100/24\n }\n",
    ));
    assert_eq!(
        lines(&l),
        [
            "7: (VI_1) weight without value specified for track_interface eth1 - ignoring",
            "8: (VI_1) unknown track_interface lo option foo - ignoring",
        ]
    );
    assert!(l.config.instances[0].track_interface.is_empty());
    let l = parse(&instance(
        "VI_1",
        51,
        " track_interface {\n  eth1 weight 10 noreverse\n }\n virtual_ipaddress {\n  10.99.0.100/24\n }\n",
    ));
    // (keepalived's spelling)
    assert_eq!(
        lines(&l),
        ["7: (VI_1) unknown track_interace eth1 weight option noreverse - ignoring"]
    );
    assert_eq!(l.config.instances[0].track_interface[0].weight, Some(10));
}

#[test]
fn unicast_peer_of_the_other_family() {
    // Case d.
    let l = parse(&instance(
        "VI_1",
        51,
        " unicast_src_ip 10.99.0.11\n unicast_peer {\n  fd99::12\n }\n virtual_ipaddress {\n  10.99.0.100/24\n }\n",
    ));
    assert_eq!(
        lines(&l),
        [
            "8: Configuration error: VRRP instance[VI_1] and unicast peer address[fd99::12] MUST be of the same family !!! Skipping...",
            "-: (VI_1) A unicast keyword has been specified without any unicast peers. Defaulting to multicast. This usage is deprecated - please update your configuration.",
        ]
    );
    assert_eq!(l.diags.test_exit_code(), 5);
    assert!(!l.diags.is_fatal());
    let v = &l.config.instances[0];
    assert!(v.unicast_peers.is_empty() && !v.family6);
}

#[test]
fn instance_family_is_set_by_the_first_address() {
    let l = parse(&format!(
        "{}{}{}",
        instance(
            "VI_1",
            51,
            " mcast_src_ip 10.99.0.11\n mcast_dst_ip ff02::12\n virtual_ipaddress {\n  fd99::100/64\n  10.99.0.100/24\n }\n native_ipv6\n"
        ),
        instance(
            "VI_2",
            52,
            " native_ipv6\n unicast_src_ip 10.99.0.11\n unicast_peer {\n  10.99.0.12\n  fd99::13\n }\n virtual_ipaddress {\n  fd99::101/64\n  10.99.0.101/24\n }\n"
        ),
        instance(
            "VI_3",
            53,
            " check_unicast_src\n unicast_fault_no_peer\n virtual_ipaddress {\n  10.99.0.103/24\n }\n"
        ),
    ));
    assert_eq!(
        lines(&l),
        [
            "7: (VI_1) mcast dest address ff02::12 MUST match VRRP instance family. Skipping...",
            "9: (VI_1): address family must match VRRP instance [fd99::100/64] - ignoring",
            "12: (VI_1) Cannot specify native_ipv6 with IPv4 addresses",
            "20: Configuration error: VRRP instance[VI_2] and src address[10.99.0.11] MUST be of the same family !!! Skipping...",
            "22: Configuration error: VRRP instance[VI_2] and unicast peer address[10.99.0.12] MUST be of the same family !!! Skipping...",
            "27: (VI_2): address family must match VRRP instance [10.99.0.101/24] - ignoring",
        ]
    );
    let fam: Vec<bool> = l.config.instances.iter().map(|v| v.family6).collect();
    assert_eq!(fam, [false, true, false]);
    assert_eq!(l.config.instances[1].unicast_peers.len(), 1);
}

#[test]
fn interface_name_too_long() {
    // Case e: ignored (not looked up), so the instance has no interface.
    let l = parse(
        "vrrp_instance VI_1 {\n interface abcdefghijklmnopqrstuvwxyz\n virtual_router_id 51\n virtual_ipaddress {\n  10.99.0.100/24\n }\n}\n",
    );
    assert_eq!(
        lines(&l),
        [
            "2: Interface name 'abcdefghijklmnopqrstuvwxyz' too long - ignoring",
            "-: (VI_1) Unknown interface!",
        ]
    );
    assert!(!l.diags.is_fatal());
    // IFNAMSIZ - 1 bytes is a name that is looked up.
    let l = parse(
        "vrrp_instance VI_1 {\n interface abcdefghijklmno\n virtual_router_id 51\n virtual_ipaddress {\n  10.99.0.100/24\n }\n}\n",
    );
    assert_eq!(
        lines(&l),
        [
            "2: WARNING - interface abcdefghijklmno for vrrp_instance VI_1 doesn't exist",
            BAD_IF,
        ]
    );
    assert_bad_if(&l);
}

#[test]
fn duplicate_vrid_names_the_earlier_instance_first() {
    // Case f.
    let vip = |a: &str| format!(" virtual_ipaddress {{\n  {a}\n }}\n");
    let l = parse(&format!(
        "{}{}",
        instance("VI_1", 51, &vip("10.99.0.100/24")),
        instance("VI_2", 51, &vip("10.99.0.101/24"))
    ));
    assert_eq!(
        lines(&l),
        ["-: VI_1 and VI_2 both use VRID 51 with IPv4 on interface eth0"]
    );
}

#[test]
fn missing_instance_interface_stops_the_vrrp_checks() {
    let l = parse(
        "vrrp_instance VI_1 {\n interface nosuch\n virtual_router_id 51\n virtual_ipaddress {\n  10.99.0.100/24 dev nosuch2\n }\n}\nvrrp_instance VI_2 {\n interface eth0\n}\n",
    );
    assert_eq!(
        lines(&l),
        [
            "2: WARNING - interface nosuch for vrrp_instance VI_1 doesn't exist",
            "5: WARNING - interface nosuch2 for ip address 10.99.0.100/24 doesn't exist",
            BAD_IF,
        ]
    );
    assert_bad_if(&l);
    assert_eq!(
        l.diags
            .list
            .iter()
            .filter(|d| d.category == Category::BadInterface)
            .count(),
        1
    );
}

#[test]
fn dynamic_interfaces_allows_missing_interfaces() {
    let body = "vrrp_instance VI_1 {\n state BACKUP\n interface nosuch\n virtual_router_id 51\n track_interface {\n  nosuch1\n }\n virtual_ipaddress {\n  10.99.0.100/24 dev nosuch2\n }\n virtual_routes {\n  10.99.60.0/24 dev nosuch11\n }\n}\nstatic_ipaddress {\n 10.99.1.1/24 dev nosuch4\n}\n";
    let global = "global_defs {\n dynamic_interfaces\n}\n";
    // Before or after the sections that name the interfaces: keepalived knows the global
    // settings first.
    for text in [format!("{global}{body}"), format!("{body}{global}")] {
        let l = parse(&text);
        assert!(l.diags.list.is_empty(), "{:?}", lines(&l));
        let v = &l.config.instances[0];
        assert_eq!(v.interface.as_deref(), Some("nosuch"));
        assert_eq!(v.track_interface.len(), 1);
        assert_eq!(v.vips[0].dev.as_deref(), Some("nosuch2"));
        assert_eq!(v.vroutes.len(), 1);
        assert_eq!(l.config.static_ipaddress.len(), 1);
    }
}

#[test]
fn garp_group_and_vrf_interfaces() {
    let l = parse(&format!(
        "garp_group {{\n garp_interval 1\n interface nosuch30\n}}\ngarp_group {{\n garp_interval 1\n interfaces {{\n  eth0 nosuch31\n  nosuch32\n }}\n}}\n{}vrrp_instance VI_2 {{\n state BACKUP\n vrf nosuchvrf\n virtual_router_id 52\n virtual_ipaddress {{\n  10.99.0.101/24\n }}\n}}\n",
        instance("VI_1", 51, " vrf nosuch33\n virtual_ipaddress {\n  10.99.0.100/24\n }\n")
    ));
    assert_eq!(
        lines(&l),
        [
            "3: WARNING - interface nosuch30 specified for garp_group doesn't exist",
            // keepalived reads the whole block first, so it points at its `}`.
            "10: WARNING - interface nosuch31 specified for garp_group doesn't exist",
            "10: WARNING - interface nosuch32 specified for garp_group doesn't exist",
            "17: (VI_1) Cannot specify VRF interface and interface - ignoring",
            "24: (VI_2) WARNING - VRF interface nosuchvrf doesn't exist",
            BAD_IF,
        ]
    );
    assert_bad_if(&l);
}

#[test]
fn interfaces_are_not_looked_up_without_check_interfaces() {
    let l = load_str(
        "keepalived.conf",
        &instance(
            "VI_1",
            51,
            " track_interface {\n  nosuch1\n }\n virtual_ipaddress {\n  10.99.0.100/24 dev nosuch2\n }\n",
        ),
        &LoadOptions::default(),
    );
    assert!(l.diags.list.is_empty(), "{:?}", lines(&l));
    assert!(!l.diags.refuses_reload());
}

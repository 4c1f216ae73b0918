//! Printing the model back as keepalived.conf and parsing it again gives the same model.

use conf::model::*;
use conf::{load_str, LoadOptions};
use proptest::prelude::*;

fn opts() -> LoadOptions {
    LoadOptions {
        config_id: Some("corpus".into()),
        ..Default::default()
    }
}

fn roundtrip(c: &Config) -> Config {
    let text = conf::print::to_conf(c);
    let again = load_str("printed.conf", &text, &opts());
    let bad: Vec<_> = again
        .diags
        .list
        .iter()
        .filter(|d| {
            matches!(
                d.category,
                conf::Category::UnknownKeyword
                    | conf::Category::InvalidNumber
                    | conf::Category::MissingBob
            )
        })
        .collect();
    assert!(bad.is_empty(), "printed config has errors {bad:?}\n{text}");
    again.config
}

#[test]
fn corpus_models_survive_print_and_parse() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("keepalived.conf")
        {
            continue;
        }
        let first = conf::load(&path.to_string_lossy(), &opts()).config;
        let second = roundtrip(&first);
        assert_eq!(first, second, "{}", path.display());
        n += 1;
    }
    // keepalived's 25 samples and our 7 `keepalived.conf.local.*`.
    assert_eq!(n, 32);
}

fn ip4() -> impl Strategy<Value = std::net::IpAddr> {
    (1u8..=254, 0u8..=255).prop_map(|(a, b)| std::net::IpAddr::V4([10, 99, a, b].into()))
}

fn script() -> impl Strategy<Value = Script> {
    (
        "[a-z]{1,8}",
        proptest::collection::vec("[a-z0-9]{1,5}", 0..3),
    )
        .prop_map(|(name, args)| {
            let mut argv = vec![format!("/usr/lib/{name}")];
            argv.extend(args);
            Script::new(argv.join(" "), argv, None, None)
        })
}

prop_compose! {
    fn instance(i: usize)(prio in 1u8..=254, adv in 1u32..=10, vips in proptest::collection::vec(ip4(), 1..4),
                          nopreempt in any::<bool>(), auth in proptest::option::of("[a-z]{1,8}"),
                          notify in proptest::option::of(script()), garp in proptest::option::of(0u32..=255),
                          peers in proptest::collection::vec(ip4(), 0..3), smtp in proptest::option::of(any::<bool>()))
                         -> VrrpInstance {
        let mut v = VrrpInstance::new(&format!("VI_{i}"));
        v.interface = Some("eth0".into());
        v.vrid = (i + 1) as u8;
        v.priority = prio;
        v.advert_int = adv * 100;
        v.version = 2;
        v.nopreempt = nopreempt;
        v.auth = auth.map(|pass| Auth { auth_type: AuthType::Pass, pass });
        v.vips = vips.into_iter().map(|addr| IpAddress { addr, prefix: 32, dev: None, scope: None, brd: None, label: None, peer: None, flags: vec![], preferred_lft: None, track_group: None, no_track: false, use_vmac: false }).collect();
        v.notify.master = notify;
        v.garp.master_delay = garp;
        if !peers.is_empty() {
            v.unicast_src_ip = Some("10.99.0.1".parse().unwrap());
        }
        v.unicast_peers = peers.into_iter().map(|addr| UnicastPeer { addr, min_ttl: None, max_ttl: None }).collect();
        v.smtp_alert = smtp;
        v
    }
}

fn checker() -> impl Strategy<Value = Checker> {
    let kind = prop_oneof![
        Just(CheckKind::Tcp),
        (
            "/[a-z]{1,6}",
            proptest::option::of("[0-9a-f]{32}"),
            proptest::option::of((200u16..=299, 300u16..=399))
        )
            .prop_map(|(path, digest, sc)| CheckKind::Http {
                ssl: false,
                urls: vec![Url {
                    path: Some(path),
                    digest,
                    status_code: sc.into_iter().collect(),
                    ..Default::default()
                }],
                virtualhost: None,
                http_protocol: None,
                enable_sni: false,
                fast_recovery: false,
            }),
        script().prop_map(|s| CheckKind::Misc {
            path: Some(s),
            timeout: Some(5),
            dynamic: true,
            user: None
        }),
        Just(CheckKind::Dns {
            qtype: "A".into(),
            name: "example.org".into()
        }),
    ];
    (
        kind,
        proptest::option::of(1u16..=65535),
        proptest::option::of(1u64..=30),
        proptest::option::of(0u32..=5),
    )
        .prop_map(|(kind, port, to, retry)| {
            // MISC_CHECK takes no connection options (keepalived neither).
            let conn = if matches!(kind, CheckKind::Misc { .. }) {
                ConnOpts::default()
            } else {
                ConnOpts {
                    connect_port: port,
                    connect_timeout: to.map(|t| t * 1_000_000),
                    ..Default::default()
                }
            };
            Checker {
                kind,
                conn,
                retry: RetryOpts {
                    retry,
                    ..Default::default()
                },
            }
        })
}

prop_compose! {
    fn vserver(i: usize)(algo in prop_oneof![Just("rr"), Just("wrr"), Just("wlc"), Just("sh")],
                         dr in any::<bool>(), persist in proptest::option::of(1u32..=3600),
                         rs in proptest::collection::vec((1u8..=254, 1u32..=100, proptest::collection::vec(checker(), 0..3)), 1..5),
                         delay in 1u64..=60)
                        -> VirtualServer {
        let mut seen = std::collections::HashSet::new();
        let real_servers = rs.into_iter().filter(|(h, _, _)| seen.insert(*h)).map(|(h, weight, checkers)| RealServer {
            addr: std::net::IpAddr::V4([10, 99, 200, h].into()), port: 8080, weight, lvs_method: None, uthreshold: None, lthreshold: None,
            notify_up: None, notify_down: None, defaults: CheckDefaults::default(), snmp_name: None, checkers,
        }).collect::<Vec<_>>();
        let total: u32 = real_servers.iter().map(|r| r.weight).sum();
        VirtualServer {
            key: VsKey::Addr { addr: std::net::IpAddr::V4([10, 99, 100, i as u8].into()), port: 80 },
            protocol: Protocol::Tcp, protocol_set: true, lb_algo: algo.into(), lb_algo_set: true,
            lb_kind: if dr { LvsMethod::Dr } else { LvsMethod::Nat }, lb_kind_set: true,
            persistence_timeout: persist, persistence_granularity: None, persistence_engine: None, flags: vec![],
            ip_family6: None, ha_suspend: false, omega: None, quorum: 1.min(total), hysteresis: 0, quorum_up: None, quorum_down: None,
            sorry_server: None, sorry_server_inhibit: false, sorry_server_lvs_method: None, weight: 1,
            defaults: CheckDefaults { delay_loop: Some(delay * 1_000_000), ..Default::default() }, snmp_name: None, real_servers,
        }
    }
}

fn config() -> impl Strategy<Value = Config> {
    (
        proptest::collection::vec(0usize..1, 0..4),
        proptest::collection::vec(0usize..1, 0..4),
        proptest::option::of("[a-z]{1,10}"),
    )
        .prop_flat_map(|(ni, nv, rid)| {
            let insts: Vec<_> = (0..ni.len()).map(instance).collect();
            let vss: Vec<_> = (0..nv.len()).map(vserver).collect();
            (insts, vss, Just(rid))
        })
        .prop_map(|(instances, virtual_servers, router_id)| {
            let mut c = Config::default();
            c.global.router_id = router_id;
            c.instances = instances;
            c.virtual_servers = virtual_servers;
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn generated_configs_survive_print_and_parse(c in config()) {
        // First normalise through the parser (defaults applied), then check the fixed point.
        let first = roundtrip(&c);
        let second = roundtrip(&first);
        prop_assert_eq!(&first, &second);
        // Nothing generated was lost on the way.
        prop_assert_eq!(first.instances.len(), c.instances.len());
        prop_assert_eq!(first.virtual_servers.len(), c.virtual_servers.len());
        for (a, b) in c.instances.iter().zip(first.instances.iter()) {
            prop_assert_eq!(&a.vips, &b.vips);
            prop_assert_eq!(&a.auth, &b.auth);
            prop_assert_eq!(&a.notify, &b.notify);
            prop_assert_eq!(a.priority, b.priority);
        }
        for (a, b) in c.virtual_servers.iter().zip(first.virtual_servers.iter()) {
            prop_assert_eq!(&a.real_servers, &b.real_servers);
        }
    }
}

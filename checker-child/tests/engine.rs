//! The checker core in virtual time: when checks run, keepalived's retry rules, what each
//! real-server change asks of IPVS, and the log lines — without a network.

use checker_child::engine::{Action, Engine, Probe};
use conf::project::CheckerSnapshot;
use ipc::{IpvsOp, RsState};
use std::time::{Duration, Instant};

fn snap(body: &str) -> CheckerSnapshot {
    let loaded = conf::load_str("test.conf", body, &conf::LoadOptions::default());
    loaded.config.for_checker()
}

fn vs(rs_extra: &str, check: &str) -> String {
    format!(
        "virtual_server 10.99.0.10 80 {{\n delay_loop 5\n lb_algo rr\n lb_kind NAT\n protocol TCP\n\
         real_server 10.99.1.2 80 {{\n weight 3\n {rs_extra}\n {check}\n }}\n}}\n"
    )
}

const TCP: &str = "TCP_CHECK {\n connect_timeout 2\n retry 2\n delay_before_retry 1\n warmup 0\n }";

fn ops(a: &[Action]) -> Vec<IpvsOp> {
    a.iter()
        .filter_map(|x| match x {
            Action::Ipvs(o) => Some(o.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn logs(a: &[Action]) -> Vec<String> {
    a.iter()
        .filter_map(|x| match x {
            Action::Log(l) => Some(l.clone()),
            _ => None,
        })
        .collect()
}

/// The check started by `tick(at)`, asserting exactly one starts then.
fn runs(e: &mut Engine, at: Instant) -> usize {
    let a = e.tick(at);
    let runs: Vec<usize> = a
        .iter()
        .filter_map(|x| match x {
            Action::Run { check, .. } => Some(*check),
            _ => None,
        })
        .collect();
    assert_eq!(runs.len(), 1, "one check due at this instant: {a:?}");
    runs[0]
}

#[test]
fn a_real_server_is_added_at_start_and_probed_with_its_settings() {
    let t0 = Instant::now();
    let s = snap(&vs("", TCP));
    let (mut e, a) = Engine::load(&s, &[], t0, 7);
    let o = ops(&a);
    assert!(matches!(o[0], IpvsOp::AddService { .. }));
    assert!(matches!(o[1], IpvsOp::AddDest { weight: 3, .. }), "{o:?}");
    assert!(logs(&a).contains(&"Gained quorum 1+0=1 <= 3 for VS [10.99.0.10]:tcp:80".to_string()));
    assert_eq!(
        e.next_deadline(),
        Some(t0),
        "warmup 0: the first run is due at once"
    );
    let act = e.tick(t0);
    match &act[..] {
        [Action::Run {
            probe: Probe::Tcp { target, .. },
            timeout,
            ..
        }] => {
            assert_eq!(target.to_string(), "10.99.1.2:80");
            assert_eq!(*timeout, Duration::from_secs(2));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tcp_first_failure_removes_at_once_later_ones_after_the_retries() {
    let t0 = Instant::now();
    let s = snap(&vs("", TCP));
    let (mut e, _) = Engine::load(&s, &[], t0, 7);
    let c = runs(&mut e, t0);
    // First run fails: down at once ("failed.", no retries), next run after delay_loop.
    let a = e.result(c, false, "refused", t0);
    assert_eq!(
        logs(&a)[0],
        "TCP_CHECK on service [10.99.1.2]:tcp:80 failed. (refused)"
    );
    assert_eq!(
        logs(&a)[1],
        "Removing service [10.99.1.2]:tcp:80 from VS [10.99.0.10]:tcp:80"
    );
    assert!(matches!(ops(&a)[..], [IpvsOp::DelDest { .. }]));
    assert!(logs(&a)
        .iter()
        .any(|l| l.starts_with("Lost quorum 1-0=1 > 0")));
    assert_eq!(e.next_deadline(), Some(t0 + Duration::from_secs(5)));
    // Back up: added again at once.
    let t1 = t0 + Duration::from_secs(5);
    let c = runs(&mut e, t1);
    let a = e.result(c, true, "", t1);
    assert_eq!(logs(&a)[0], "TCP connection to [10.99.1.2]:tcp:80 success.");
    assert!(matches!(ops(&a)[..], [IpvsOp::AddDest { weight: 3, .. }]));
    // Up, then failing: two retries 1 s apart, removed on the third failure.
    let t2 = t1 + Duration::from_secs(5);
    let c = runs(&mut e, t2);
    assert!(ops(&e.result(c, false, "", t2)).is_empty());
    assert_eq!(e.next_deadline(), Some(t2 + Duration::from_secs(1)));
    let c = runs(&mut e, t2 + Duration::from_secs(1));
    assert!(ops(&e.result(c, false, "", t2 + Duration::from_secs(1))).is_empty());
    let t3 = t2 + Duration::from_secs(2);
    let c = runs(&mut e, t3);
    let a = e.result(c, false, "", t3);
    assert_eq!(
        logs(&a)[0],
        "TCP_CHECK on service [10.99.1.2]:tcp:80 failed after 2 retries."
    );
    assert!(matches!(ops(&a)[..], [IpvsOp::DelDest { .. }]));
    assert_eq!(e.next_deadline(), Some(t3 + Duration::from_secs(5)));
}

#[test]
fn alpha_starts_down_and_inhibit_uses_weight_zero() {
    let t0 = Instant::now();
    let s = snap(&vs(
        "inhibit_on_failure",
        &TCP.replace("warmup 0", "warmup 0\n alpha"),
    ));
    let (mut e, a) = Engine::load(&s, &[], t0, 7);
    // alpha + inhibit: in the table from the start, at weight 0.
    assert!(
        matches!(ops(&a)[1], IpvsOp::AddDest { weight: 0, .. }),
        "{:?}",
        ops(&a)
    );
    let c = runs(&mut e, t0);
    let a = e.result(c, true, "", t0);
    assert_eq!(
        logs(&a)[1],
        "Enabling service [10.99.1.2]:tcp:80 of VS [10.99.0.10]:tcp:80"
    );
    assert!(matches!(ops(&a)[..], [IpvsOp::EditDest { weight: 3, .. }]));
    let t1 = t0 + Duration::from_secs(5);
    let mut t = t1;
    for _ in 0..3 {
        let c = runs(&mut e, t);
        let a = e.result(c, false, "", t);
        if !ops(&a).is_empty() {
            assert!(matches!(ops(&a)[..], [IpvsOp::EditDest { weight: 0, .. }]));
            assert!(logs(&a)[1].starts_with("Disabling service"));
            return;
        }
        t += Duration::from_secs(1);
    }
    panic!("never disabled");
}

#[test]
fn a_resumed_state_is_kept_no_down_server_is_re_added() {
    let t0 = Instant::now();
    let s = snap(&vs("", TCP));
    let id = conf::project::rs_id(
        &s.virtual_servers[0].1,
        &s.virtual_servers[0].1.real_servers[0],
    );
    let (mut e, a) = Engine::load(
        &s,
        &[RsState {
            rs: id,
            up: false,
            weight: 3,
        }],
        t0,
        7,
    );
    assert!(
        matches!(
            ops(&a)[..],
            [IpvsOp::AddService { .. }, IpvsOp::DelDest { .. }]
        ),
        "the service, and the server known down is not in the table: {:?}",
        ops(&a)
    );
    // Still failing: nothing to do, no log line (it was already down).
    let c = runs(&mut e, t0);
    let a = e.result(c, false, "", t0);
    assert!(a.is_empty(), "{a:?}");
    let (_, a) = Engine::load(
        &s,
        &[RsState {
            rs: id,
            up: true,
            weight: 3,
        }],
        t0,
        7,
    );
    assert!(matches!(ops(&a)[1], IpvsOp::AddDest { weight: 3, .. }));
}

#[test]
fn http_first_failure_is_final_later_ones_retry_a_dead_server_waits() {
    let t0 = Instant::now();
    let http = "HTTP_GET {\n url {\n path /x\n digest 0123456789abcdef0123456789ABCDEF\n status_code 200\n }\n connect_timeout 1\n retry 1\n delay_before_retry 2\n warmup 0\n }";
    let s = snap(&vs("", http));
    let (mut e, _) = Engine::load(&s, &[], t0, 7);
    let act = e.tick(t0);
    let Action::Run {
        check,
        probe:
            Probe::Http {
                urls,
                host,
                protocol,
                ..
            },
        ..
    } = &act[0]
    else {
        panic!("{act:?}");
    };
    assert_eq!(host, "10.99.1.2:80");
    assert_eq!(protocol, "1.0");
    assert_eq!(
        urls[0].digest.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    let c = *check;
    let a = e.result(c, false, "", t0);
    assert_eq!(
        logs(&a)[0],
        "HTTP_CHECK on service [10.99.1.2]:tcp:80 failed after 1 retries."
    );
    assert!(
        matches!(ops(&a)[..], [IpvsOp::DelDest { .. }]),
        "first failure is final"
    );
    // Dead: no retries, the next try after max(delay_before_retry, delay_loop).
    assert_eq!(e.next_deadline(), Some(t0 + Duration::from_secs(5)));
    let t1 = t0 + Duration::from_secs(5);
    let c = runs(&mut e, t1);
    assert!(matches!(
        ops(&e.result(c, true, "", t1))[..],
        [IpvsOp::AddDest { .. }]
    ));
    // Up: one retry 2 s later, then down.
    let t2 = t1 + Duration::from_secs(5);
    let c = runs(&mut e, t2);
    assert!(ops(&e.result(c, false, "", t2)).is_empty());
    assert_eq!(e.next_deadline(), Some(t2 + Duration::from_secs(2)));
    let c = runs(&mut e, t2 + Duration::from_secs(2));
    assert!(matches!(
        ops(&e.result(c, false, "", t2 + Duration::from_secs(2)))[..],
        [IpvsOp::DelDest { .. }]
    ));
}

#[test]
fn warmup_spreads_first_runs_within_delay_loop() {
    let t0 = Instant::now();
    let mut body = String::from(
        "virtual_server 10.99.0.10 80 {\n delay_loop 4\n lb_algo rr\n lb_kind NAT\n protocol TCP\n",
    );
    for i in 0..50 {
        body.push_str(&format!(
            "real_server 10.99.1.{} 80 {{\n TCP_CHECK {{\n }}\n }}\n",
            i + 2
        ));
    }
    body.push_str("}\n");
    let (mut e, _) = Engine::load(&snap(&body), &[], t0, 12345);
    let early = e.tick(t0 + Duration::from_secs(2)).len();
    let all = early + e.tick(t0 + Duration::from_secs(4)).len();
    assert_eq!(all, 50, "every check runs within warmup = delay_loop");
    assert!(
        (5..45).contains(&early),
        "spread, not bunched: {early} of 50 in the first half"
    );
}

#[test]
fn the_sorry_server_stands_in_while_the_quorum_is_lost() {
    let t0 = Instant::now();
    let body = "virtual_server 10.99.0.10 80 {\n delay_loop 5\n lb_algo rr\n lb_kind NAT\n protocol TCP\n quorum 2\n sorry_server 10.99.1.9 80\n quorum_up /bin/true\n quorum_down /bin/false\n\
        real_server 10.99.1.2 80 {\n weight 1\n notify_down /bin/true\n TCP_CHECK {\n warmup 0\n retry 0\n }\n }\n\
        real_server 10.99.1.3 80 {\n weight 1\n TCP_CHECK {\n warmup 0\n retry 0\n }\n }\n}\n";
    let s = snap(body);
    let (mut e, a) = Engine::load(&s, &[], t0, 7);
    assert!(logs(&a).contains(&"Gained quorum 2+0=2 <= 2 for VS [10.99.0.10]:tcp:80".to_string()));
    let act = e.tick(t0);
    let checks: Vec<usize> = act
        .iter()
        .filter_map(|x| match x {
            Action::Run { check, .. } => Some(*check),
            _ => None,
        })
        .collect();
    // One server fails: quorum 1 < 2 is lost, the other server leaves, the sorry server comes.
    let a = e.result(checks[0], true, "", t0);
    assert!(ops(&a).is_empty());
    let a = e.result(checks[1], false, "", t0);
    let l = logs(&a);
    assert!(
        l.contains(&"Lost quorum 2-0=2 > 1 for VS [10.99.0.10]:tcp:80".to_string()),
        "{l:?}"
    );
    assert!(
        l.contains(&"Adding sorry server [10.99.1.9]:tcp:80 to VS [10.99.0.10]:tcp:80".to_string()),
        "{l:?}"
    );
    let o = ops(&a);
    assert!(matches!(o[0], IpvsOp::DelDest { .. }), "{o:?}");
    assert!(
        matches!(o[1], IpvsOp::DelDest { .. }),
        "the live server leaves too: {o:?}"
    );
    assert!(matches!(o[2], IpvsOp::AddSorry { weight: 1, .. }), "{o:?}");
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::Script(ipc::ScriptRef::Quorum { up: false, .. }))));
    // It comes back: quorum regained, sorry server out, both servers in.
    let t1 = t0 + Duration::from_secs(5);
    let _ = e.tick(t1);
    let a = e.result(checks[1], true, "", t1);
    let o = ops(&a);
    assert!(logs(&a)
        .iter()
        .any(|l| l.starts_with("Removing sorry server [10.99.1.9]:tcp:80 from VS")));
    assert!(
        o.iter().any(|x| matches!(x, IpvsOp::DelSorry { .. })),
        "{o:?}"
    );
    assert_eq!(
        o.iter()
            .filter(|x| matches!(x, IpvsOp::AddDest { .. }))
            .count(),
        2,
        "{o:?}"
    );
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::Script(ipc::ScriptRef::Quorum { up: true, .. }))));
}

#[test]
fn misc_dynamic_sets_the_weight_from_the_exit_status() {
    let t0 = Instant::now();
    let misc = "MISC_CHECK {\n misc_path /bin/true\n misc_dynamic\n warmup 0\n }";
    let s = snap(&vs("notify_down /bin/true", misc));
    let (mut e, _) = Engine::load(&s, &[], t0, 7);
    let act = e.tick(t0);
    let Action::Run {
        check,
        probe: Probe::Misc { checker: 0, .. },
        ..
    } = act[0]
    else {
        panic!("{act:?}");
    };
    let a = e.misc_result(check, Some(12), false, t0);
    assert_eq!(logs(&a)[0], "Changing weight from 3 to 10 for active service [10.99.1.2]:tcp:80 of VS [10.99.0.10]:tcp:80");
    assert!(matches!(ops(&a)[..], [IpvsOp::EditDest { weight: 10, .. }]));
    let t1 = t0 + Duration::from_secs(5);
    let _ = e.tick(t1);
    let a = e.misc_result(check, Some(1), false, t1);
    assert!(
        matches!(ops(&a)[..], [IpvsOp::DelDest { .. }]),
        "exit 1 is down"
    );
    assert!(a.iter().any(|x| matches!(
        x,
        Action::Script(ipc::ScriptRef::RsNotify { up: false, .. })
    )));
}

#[test]
fn every_network_checker_kind_is_run() {
    let t0 = Instant::now();
    let body =
        "virtual_server 10.99.0.10 53 {\n delay_loop 2\n lb_algo rr\n lb_kind NAT\n protocol UDP\n\
        real_server 10.99.1.2 53 {\n UDP_CHECK {\n warmup 0\n }\n }\n\
        real_server 10.99.1.3 53 {\n DNS_CHECK {\n warmup 0\n type A\n name example.org\n }\n }\n\
        real_server 10.99.1.4 53 {\n PING_CHECK {\n warmup 0\n }\n }\n\
        real_server 10.99.1.5 0 {\n SMTP_CHECK {\n warmup 0\n }\n }\n}\n";
    let (mut e, a) = Engine::load(&snap(body), &[], t0, 7);
    assert_eq!(ops(&a).len(), 5, "every server starts up: {:?}", ops(&a));
    let probes: Vec<String> = e
        .tick(t0)
        .iter()
        .filter_map(|x| match x {
            Action::Run { probe, .. } => Some(format!("{probe:?}")),
            _ => None,
        })
        .collect();
    assert_eq!(probes.len(), 4, "{probes:?}");
    assert!(probes.iter().any(|p| p.starts_with("Udp")));
    assert!(probes
        .iter()
        .any(|p| p.starts_with("Dns") && p.contains("qtype: 1")));
    assert!(probes.iter().any(|p| p.starts_with("Ping")));
    assert!(
        probes
            .iter()
            .any(|p| p.starts_with("Smtp") && p.contains("10.99.1.5:53")),
        "a NAT server inherits the service port: {probes:?}"
    );
}

#[test]
fn identical_probes_of_several_virtual_servers_run_once() {
    let t0 = Instant::now();
    let mut body = String::new();
    for port in [80, 81, 82] {
        body.push_str(&format!(
            "virtual_server 10.99.0.10 {port} {{\n delay_loop 5\n lb_algo rr\n lb_kind DR\n protocol TCP\n\
             real_server 10.99.1.2 {port} {{\n TCP_CHECK {{\n connect_port 8080\n warmup 0\n }}\n }}\n}}\n"
        ));
    }
    // A different port is another probe.
    body.push_str("virtual_server 10.99.0.11 80 {\n delay_loop 5\n lb_algo rr\n lb_kind DR\n protocol TCP\n real_server 10.99.1.2 80 {\n TCP_CHECK {\n warmup 0\n }\n }\n}\n");
    let (mut e, _) = Engine::load(&snap(&body), &[], t0, 7);
    assert_eq!(e.probe_count(), (4, 2));
    let act = e.tick(t0);
    let runs: Vec<usize> = act
        .iter()
        .filter_map(|x| match x {
            Action::Run { check, .. } => Some(*check),
            _ => None,
        })
        .collect();
    assert_eq!(runs.len(), 2, "{act:?}");
    let shared = runs[0];
    let a = e.result(shared, false, "", t0);
    assert_eq!(
        ops(&a)
            .iter()
            .filter(|o| matches!(o, IpvsOp::DelDest { .. }))
            .count(),
        3,
        "one probe, three real servers removed: {a:?}"
    );
    assert_eq!(
        logs(&a)
            .iter()
            .filter(|l| l.starts_with("TCP_CHECK on service [10.99.1.2]:tcp:8080 failed."))
            .count(),
        3
    );
}

#[test]
fn smtp_alert_mails_as_keepalived() {
    let t0 = Instant::now();
    let body = format!(
        "global_defs {{\n router_id lb1\n notification_email {{\n ops@lab\n }}\n smtp_server 10.99.9.9 25\n}}\n{}",
        vs("", TCP).replace(" lb_algo rr\n", " lb_algo rr\n smtp_alert\n")
    );
    let (mut e, a) = Engine::load(&snap(&body), &[], t0, 7);
    let mails = |a: &[Action]| -> Vec<(String, String)> {
        a.iter()
            .filter_map(|x| match x {
                Action::Mail { subject, body } => Some((subject.clone(), body.clone())),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        mails(&a),
        vec![(
            "[lb1] Virtualserver [10.99.0.10]:tcp:80 - UP".to_string(),
            "=> Starting with quorum up 1+0=1 <= 3 <=".to_string()
        )]
    );
    let c = runs(&mut e, t0);
    let a = e.result(c, false, "", t0);
    let m = mails(&a);
    assert_eq!(
        m[0].0,
        "[lb1] Realserver [10.99.1.2]:tcp:80 of virtual server [10.99.0.10]:tcp:80 - DOWN"
    );
    assert_eq!(m[0].1, "=> TCP CHECK failed on service <=");
    assert_eq!(m[1].0, "[lb1] Virtualserver [10.99.0.10]:tcp:80 - DOWN");
    // Without a server or recipients nothing is mailed.
    let (mut e, _) = Engine::load(&snap(&vs("", TCP)), &[], t0, 7);
    let c = runs(&mut e, t0);
    assert!(mails(&e.result(c, false, "", t0)).is_empty());
}

fn file_conf(tf_weight: &str, check: &str) -> String {
    format!(
        "track_file state {{\n file /run/rs-state\n {tf_weight}\n}}\n{}",
        vs("", check)
    )
}

#[test]
fn file_check_without_weight_fails_on_a_non_zero_value() {
    let t0 = Instant::now();
    let s = snap(&file_conf(
        "weight 0",
        "FILE_CHECK {\n track_file state\n }",
    ));
    // A non-zero value at start: the server is never added, and no probe is scheduled.
    let (mut e, a) = Engine::load_with(&s, &[], t0, 7, &|n| (n == "state") as i64, &|_| 1);
    assert_eq!(
        ops(&a)[1..],
        [IpvsOp::DelDest { rs: rs0(&s) }],
        "not in the table"
    );
    assert!(logs(&a).contains(&"[10.99.0.10]:tcp:80: Starting with quorum down".to_string()));
    assert_eq!(e.next_deadline(), None, "FILE_CHECK is not polled");
    let a = e.file_changed("state", 0);
    assert_eq!(
        ops(&a),
        vec![IpvsOp::AddDest {
            rs: rs0(&s),
            weight: 3
        }]
    );
    assert!(logs(&a)
        .contains(&"Adding service [10.99.1.2]:tcp:80 to VS [10.99.0.10]:tcp:80".to_string()));
    assert!(e.file_changed("other", 1).is_empty(), "another file");
    assert!(e.file_changed("state", 0).is_empty(), "no change");
    let a = e.file_changed("state", 7);
    assert_eq!(ops(&a), vec![IpvsOp::DelDest { rs: rs0(&s) }]);
    // reverse: zero is the failure.
    let s = snap(&file_conf(
        "weight 0 reverse",
        "FILE_CHECK {\n track_file state\n }",
    ));
    let (mut e, a) = Engine::load_with(&s, &[], t0, 7, &|_| 1, &|_| 1);
    assert_eq!(
        ops(&a).len(),
        2,
        "non-zero is up with reverse: {:?}",
        ops(&a)
    );
    assert_eq!(
        ops(&e.file_changed("state", 0)),
        vec![IpvsOp::DelDest { rs: rs0(&s) }]
    );
}

fn rs0(s: &CheckerSnapshot) -> conf::project::ObjId {
    conf::project::rs_id(
        &s.virtual_servers[0].1,
        &s.virtual_servers[0].1.real_servers[0],
    )
}

#[test]
fn file_check_weight_adds_value_times_weight_and_faults_at_the_bottom() {
    let t0 = Instant::now();
    // The checker's own weight overrides the track_file's.
    let s = snap(&file_conf(
        "weight 5",
        "FILE_CHECK {\n track_file state\n weight 2\n }",
    ));
    let (mut e, a) = Engine::load_with(&s, &[], t0, 7, &|_| 3, &|_| 1);
    assert_eq!(
        ops(&a)[1],
        IpvsOp::AddDest {
            rs: rs0(&s),
            weight: 9
        },
        "3 + 3 x 2"
    );
    let a = e.file_changed("state", 1);
    assert_eq!(
        logs(&a),
        vec!["Changing weight from 9 to 5 for active service [10.99.1.2]:tcp:80 of VS [10.99.0.10]:tcp:80"]
    );
    assert_eq!(
        ops(&a),
        vec![IpvsOp::EditDest {
            rs: rs0(&s),
            weight: 5
        }]
    );
    // A negative weight below zero is weight 0, still in the table.
    let a = e.file_changed("state", -10);
    assert_eq!(
        ops(&a),
        vec![IpvsOp::EditDest {
            rs: rs0(&s),
            weight: 0
        }]
    );
    // value x weight at i32::MIN or below is FAULT: removed; back at its weight after.
    let a = e.file_changed("state", -1_073_741_824);
    assert_eq!(ops(&a), vec![IpvsOp::DelDest { rs: rs0(&s) }]);
    let a = e.file_changed("state", 2);
    assert_eq!(
        ops(&a),
        vec![IpvsOp::AddDest {
            rs: rs0(&s),
            weight: 7
        }]
    );
    assert_eq!(e.states()[0].weight, 7);
    // reverse negates.
    let s = snap(&file_conf(
        "weight 2 reverse",
        "FILE_CHECK {\n track_file state\n }",
    ));
    let (_, a) = Engine::load_with(&s, &[], t0, 7, &|_| 1, &|_| 1);
    assert_eq!(
        ops(&a)[1],
        IpvsOp::AddDest {
            rs: rs0(&s),
            weight: 1
        },
        "3 - 1 x 2"
    );
}

#[test]
fn file_check_and_a_network_check_both_must_pass_and_resume_follows_the_file() {
    let t0 = Instant::now();
    let check = format!("FILE_CHECK {{\n track_file state\n }}\n {TCP}");
    let s = snap(&file_conf("weight 0", &check));
    let (mut e, _) = Engine::load_with(&s, &[], t0, 7, &|_| 0, &|_| 1);
    let c = runs(&mut e, t0);
    assert_eq!(
        ops(&e.result(c, false, "", t0)),
        vec![IpvsOp::DelDest { rs: rs0(&s) }]
    );
    assert!(ops(&e.file_changed("state", 1)).is_empty(), "already out");
    let t1 = t0 + Duration::from_secs(5);
    let c = runs(&mut e, t1);
    assert!(
        ops(&e.result(c, true, "", t1)).is_empty(),
        "the file still fails it"
    );
    assert_eq!(
        ops(&e.file_changed("state", 0)).len(),
        1,
        "both pass: added"
    );
    // A restarted checker resumes the TCP_CHECK from the parent's state, FILE_CHECK from the file.
    let up = RsState {
        rs: rs0(&s),
        up: true,
        weight: 3,
    };
    let (_, a) = Engine::load_with(&s, &[up], t0, 7, &|_| 1, &|_| 1);
    assert_eq!(
        ops(&a)[1..],
        [IpvsOp::DelDest { rs: rs0(&s) }],
        "the file says down"
    );
}

#[test]
fn file_check_naming_no_track_file_is_dropped_with_keepalived_s_error() {
    let body = file_conf("weight 0", "FILE_CHECK {\n track_file nosuch\n }");
    let loaded = conf::load_str("test.conf", &body, &conf::LoadOptions::default());
    let text = format!("{:?}", loaded.diags);
    assert!(text.contains("track_file nosuch not found"), "{text}");
    assert!(loaded.config.virtual_servers[0].real_servers[0]
        .checkers
        .is_empty());
    let loaded = conf::load_str(
        "test.conf",
        &vs("", "FILE_CHECK {\n }"),
        &conf::LoadOptions::default(),
    );
    assert!(
        format!("{:?}", loaded.diags).contains("FILE_CHECK has no track_file specified - ignoring")
    );
}

#[test]
fn misc_dynamic_status_zero_returns_to_the_configured_weight() {
    let t0 = Instant::now();
    let misc = "MISC_CHECK {\n misc_path /bin/true\n misc_dynamic\n warmup 0\n }";
    let s = snap(&vs("", misc));
    let (mut e, _) = Engine::load(&s, &[], t0, 7);
    let c = runs(&mut e, t0);
    let _ = e.misc_result(c, Some(12), false, t0);
    let t1 = t0 + Duration::from_secs(5);
    let c = runs(&mut e, t1);
    let a = e.misc_result(c, Some(0), false, t1);
    assert_eq!(
        ops(&a),
        vec![IpvsOp::EditDest {
            rs: rs0(&s),
            weight: 3
        }],
        "{a:?}"
    );
}

fn http(url_extra: &str) -> String {
    format!("HTTP_GET {{\n url {{\n path /\n {url_extra}\n }}\n warmup 0\n }}")
}

#[test]
fn http_regex_goes_to_the_probe_with_its_settings() {
    let t0 = Instant::now();
    let s = snap(&vs(
        "",
        &http("regex \"Status:\\\\s+OK\"\n regex_options caseless\n regex_no_match\n regex_min_offset 4\n regex_max_offset 100"),
    ));
    let (mut e, a) = Engine::load(&s, &[], t0, 7);
    assert!(matches!(ops(&a)[1], IpvsOp::AddDest { weight: 3, .. }));
    let act = e.tick(t0);
    let [Action::Run {
        probe: Probe::Http { urls, .. },
        ..
    }] = &act[..]
    else {
        panic!("{act:?}");
    };
    let re = urls[0].regex.as_ref().expect("the url's regex");
    assert_eq!(
        re.re.as_str(),
        "Status:\\s+OK",
        "keepalived's unescaping of the line"
    );
    assert!(re.re.is_match(b"status:  ok"), "caseless");
    assert_eq!((re.no_match, re.min, re.max), (true, 4, Some(100)));
}

#[test]
fn a_regex_the_matcher_cannot_take_is_reported_and_keeps_the_server_down() {
    let t0 = Instant::now();
    let body = vs("", &http("regex \"(a)\\\\1\""));
    let loaded = conf::load_str("test.conf", &body, &conf::LoadOptions::default());
    let text = format!("{:?}", loaded.diags);
    assert!(text.contains("Invalid regex: '(a)\\\\1'"), "{text}");
    let (mut e, a) = Engine::load(&snap(&body), &[], t0, 7);
    assert!(
        matches!(ops(&a)[1..], [IpvsOp::DelDest { .. }]),
        "down, never up because nothing checks it: {:?}",
        ops(&a)
    );
    assert!(
        e.tick(t0 + Duration::from_secs(100)).is_empty(),
        "nothing runs"
    );
    // keepalived's messages for misplaced regex settings.
    let loaded = conf::load_str(
        "t.conf",
        &vs("", &http("regex_no_match")),
        &conf::LoadOptions::default(),
    );
    assert!(format!("{:?}", loaded.diags).contains("regex parameters specified without regex"));
}

fn notifies(a: &[Action]) -> Vec<ipc::LvsEvent> {
    a.iter()
        .filter_map(|x| match x {
            Action::Notify(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn fifo_events_as_keepalived_sends_them() {
    use ipc::LvsEvent;
    let t0 = Instant::now();
    let s = snap(&vs("", TCP).replace(" protocol TCP\n", " protocol TCP\n omega\n"));
    let vid = s.virtual_servers[0].0;
    let (mut e, a) = Engine::load(&s, &[], t0, 7);
    // The quorum at start (do_vs_notifies with init), no line for servers added at start.
    assert_eq!(notifies(&a), vec![LvsEvent::Vs { vs: vid, up: true }]);
    let c = runs(&mut e, t0);
    let a = e.result(c, false, "", t0);
    assert_eq!(
        notifies(&a),
        vec![
            LvsEvent::Rs {
                rs: rs0(&s),
                up: false
            },
            LvsEvent::Vs { vs: vid, up: false }
        ],
        "the server, then the quorum it took with it"
    );
    let t1 = t0 + Duration::from_secs(5);
    let c = runs(&mut e, t1);
    let a = e.result(c, true, "", t1);
    assert_eq!(
        notifies(&a),
        vec![
            LvsEvent::Rs {
                rs: rs0(&s),
                up: true
            },
            LvsEvent::Vs { vs: vid, up: true }
        ]
    );
    // omega: at stop every server still up and every virtual server go DOWN.
    assert_eq!(
        notifies(&e.shutdown()),
        vec![
            LvsEvent::Rs {
                rs: rs0(&s),
                up: false
            },
            LvsEvent::Vs { vs: vid, up: false }
        ]
    );
    let (e, _) = Engine::load(&snap(&vs("", TCP)), &[], t0, 7);
    assert!(
        notifies(&e.shutdown()).is_empty(),
        "nothing at stop without omega"
    );
}

#[test]
fn ha_suspend_runs_checks_only_while_the_address_is_here() {
    let t0 = Instant::now();
    let body = vs("", TCP).replace(" protocol TCP\n", " protocol TCP\n ha_suspend\n");
    let s = snap(&body);
    let vip: std::net::IpAddr = "10.99.0.10".parse().unwrap();
    let (mut e, a) = Engine::load_with(&s, &[], t0, 7, &|_| 0, &|_| 0);
    assert!(logs(&a).contains(
        &"Deactivating healthchecker for service [10.99.1.2]:tcp:80 for VS [10.99.0.10]:tcp:80"
            .to_string()
    ));
    assert!(
        matches!(ops(&a)[1], IpvsOp::AddDest { .. }),
        "added at start, as keepalived"
    );
    // Suspended: due, but no probe; it comes back every delay_loop.
    assert!(e.tick(t0).is_empty());
    assert_eq!(e.next_deadline(), Some(t0 + Duration::from_secs(5)));
    // Another address changes nothing.
    assert!(e.address("10.99.0.11".parse().unwrap(), 1).is_empty());
    let a = e.address(vip, 1);
    assert_eq!(
        logs(&a),
        vec!["Activating healthchecker for service [10.99.1.2]:tcp:80 for VS [10.99.0.10]:tcp:80"]
    );
    let t1 = t0 + Duration::from_secs(5);
    let c = runs(&mut e, t1);
    assert_eq!(
        ops(&e.result(c, false, "", t1)),
        vec![IpvsOp::DelDest { rs: rs0(&s) }]
    );
    // Still on another interface: not suspended; gone everywhere: suspended.
    assert!(e.address(vip, 1).is_empty());
    let a = e.address(vip, 0);
    assert_eq!(
        logs(&a),
        vec!["Suspending healthchecker for service [10.99.1.2]:tcp:80 for VS [10.99.0.10]:tcp:80"]
    );
    let t2 = t1 + Duration::from_secs(5);
    assert!(e.tick(t2).is_empty(), "no probe while suspended");
    // Without ha_suspend the address does not matter.
    let (mut e, a) = Engine::load_with(&snap(&vs("", TCP)), &[], t0, 7, &|_| 0, &|_| 0);
    assert!(logs(&a).iter().any(|l| l.starts_with("Activating")));
    assert_eq!(runs(&mut e, t0), 0);
}

fn bfd_conf(check: &str) -> String {
    format!(
        "bfd_instance peer {{\n neighbor_ip 10.99.255.2\n}}\n{}",
        vs("", check)
    )
}

fn level(up: bool) -> Vec<ipc::BfdLevel> {
    vec![ipc::BfdLevel {
        bfd: conf::project::bfd_id("peer"),
        up,
    }]
}

const RS_NAME: &str = "[10.99.1.2]:tcp:80";

#[test]
fn bfd_check_follows_its_session_as_keepalived() {
    let t0 = Instant::now();
    let (mut e, a) = Engine::load(&snap(&bfd_conf("BFD_CHECK {\n name peer\n }")), &[], t0, 7);
    // Without alpha the real server starts up (check_bfd.c: is_up until an event says
    // otherwise), and nothing is polled: the session drives it.
    assert!(
        matches!(ops(&a)[1], IpvsOp::AddDest { weight: 3, .. }),
        "{a:?}"
    );
    assert_eq!(e.next_deadline(), None);
    assert!(
        !logs(&a)
            .iter()
            .any(|l| l.contains("ctivating healthchecker")),
        "BFD_CHECK has no thread to activate"
    );
    // keepalived's BFD child sends Down when it starts the session.
    let a = e.bfd(&level(false));
    assert_eq!(
        logs(&a),
        vec![
            format!("BFD check of [peer] RS({RS_NAME}) is DOWN"),
            format!("Removing service {RS_NAME} from VS [10.99.0.10]:tcp:80"),
            "Lost quorum 1-0=1 > 0 for VS [10.99.0.10]:tcp:80".to_string(),
        ]
    );
    assert!(matches!(ops(&a)[..], [IpvsOp::DelDest { .. }]), "{a:?}");
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::State(RsState { up: false, .. }))));
    // The same level again: nothing (the checker has run and agrees).
    assert!(e.bfd(&level(false)).is_empty());
    let a = e.bfd(&level(true));
    assert_eq!(
        logs(&a)[0],
        format!("BFD check of [peer] RS({RS_NAME}) is UP")
    );
    assert_eq!(
        logs(&a)[1],
        format!("Adding service {RS_NAME} to VS [10.99.0.10]:tcp:80")
    );
    assert!(
        matches!(ops(&a)[..], [IpvsOp::AddDest { weight: 3, .. }]),
        "{a:?}"
    );
    assert!(e.bfd(&level(true)).is_empty());
    // Another session's level is none of its business.
    let other = [ipc::BfdLevel {
        bfd: conf::project::bfd_id("other"),
        up: false,
    }];
    assert!(e.bfd(&other).is_empty());
}

#[test]
fn bfd_check_first_event_is_logged_even_when_it_agrees() {
    let t0 = Instant::now();
    let (mut e, _) = Engine::load(&snap(&bfd_conf("BFD_CHECK {\n name peer\n }")), &[], t0, 7);
    let a = e.bfd(&level(true));
    assert_eq!(
        logs(&a),
        vec![format!("BFD check of [peer] RS({RS_NAME}) is UP")]
    );
    assert!(ops(&a).is_empty(), "already in the table");
    assert!(e.bfd(&level(true)).is_empty());
}

#[test]
fn bfd_check_with_alpha_starts_down() {
    let t0 = Instant::now();
    for conf in [
        bfd_conf("BFD_CHECK {\n name peer\n alpha\n }"),
        // alpha of the real server is the checker's default
        bfd_conf("BFD_CHECK {\n name peer\n }").replace(" weight 3\n", " weight 3\n alpha\n"),
    ] {
        let (mut e, a) = Engine::load(&snap(&conf), &[], t0, 7);
        assert!(
            matches!(ops(&a)[1], IpvsOp::DelDest { .. }),
            "alpha: not in the table before the session is up: {a:?}"
        );
        let a = e.bfd(&level(false));
        assert_eq!(
            logs(&a),
            vec![format!("BFD check of [peer] RS({RS_NAME}) is DOWN")]
        );
        assert!(ops(&a).is_empty());
        let a = e.bfd(&level(true));
        assert!(
            matches!(ops(&a)[..], [IpvsOp::AddDest { weight: 3, .. }]),
            "{a:?}"
        );
    }
}

#[test]
fn bfd_check_and_another_checker_must_both_be_up() {
    let t0 = Instant::now();
    let check = format!("BFD_CHECK {{\n name peer\n }}\n {TCP}");
    let (mut e, _) = Engine::load(&snap(&bfd_conf(&check)), &[], t0, 7);
    let _ = e.bfd(&level(false));
    // The TCP_CHECK succeeds: still down while the session is.
    let c = runs(&mut e, t0);
    let a = e.result(c, true, "", t0);
    assert!(ops(&a).is_empty(), "{a:?}");
    let a = e.bfd(&level(true));
    assert!(
        matches!(ops(&a)[..], [IpvsOp::AddDest { weight: 3, .. }]),
        "{a:?}"
    );
    // The TCP_CHECK fails: out, though BFD is up; back when it succeeds.
    let c = runs(&mut e, t0 + Duration::from_secs(5));
    let a = e.result(c, false, "", t0 + Duration::from_secs(5));
    let c = runs(&mut e, t0 + Duration::from_secs(6));
    let a2 = e.result(c, false, "", t0 + Duration::from_secs(6));
    let c = runs(&mut e, t0 + Duration::from_secs(7));
    let a3 = e.result(c, false, "", t0 + Duration::from_secs(7));
    let all: Vec<Action> = a.into_iter().chain(a2).chain(a3).collect();
    assert!(matches!(ops(&all)[..], [IpvsOp::DelDest { .. }]), "{all:?}");
    let a = e.bfd(&level(false));
    assert!(ops(&a).is_empty(), "already out: {a:?}");
    assert_eq!(
        logs(&a),
        vec![format!("BFD check of [peer] RS({RS_NAME}) is DOWN")]
    );
}

#[test]
fn bfd_check_resumes_without_a_change() {
    let t0 = Instant::now();
    let s = snap(&bfd_conf("BFD_CHECK {\n name peer\n }"));
    let (e0, _) = Engine::load(&s, &[], t0, 7);
    let id = e0.states()[0].rs;
    let down = RsState {
        rs: id,
        up: false,
        weight: 3,
    };
    // A restarted checker: the parent's last state and the session's level agree.
    let (mut e, a) = Engine::load(&s, std::slice::from_ref(&down), t0, 7);
    assert!(matches!(ops(&a)[1], IpvsOp::DelDest { .. }), "{a:?}");
    assert!(
        e.bfd(&level(false)).is_empty(),
        "nothing to say, nothing to change"
    );
    let a = e.bfd(&level(true));
    assert!(matches!(ops(&a)[..], [IpvsOp::AddDest { .. }]), "{a:?}");
}

#[test]
fn bfd_check_mails_as_keepalived() {
    let t0 = Instant::now();
    let body = format!(
        "global_defs {{\n router_id lb1\n notification_email {{\n ops@lab\n }}\n smtp_server 10.99.9.9 25\n}}\n{}",
        bfd_conf("BFD_CHECK {\n name peer\n }")
    );
    let (mut e, _) = Engine::load(&snap(&body), &[], t0, 7);
    let a = e.bfd(&level(false));
    let m: Vec<(String, String)> = a
        .iter()
        .filter_map(|x| match x {
            Action::Mail { subject, body } => Some((subject.clone(), body.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        m[0],
        (
            format!("[lb1] Realserver {RS_NAME} of virtual server [10.99.0.10]:tcp:80 - DOWN"),
            "=> BFD CHECK peer failed on service <=".to_string()
        )
    );
}

fn rs_notify_scripts(a: &[Action]) -> Vec<bool> {
    a.iter()
        .filter_map(|x| match x {
            Action::Script(ipc::ScriptRef::RsNotify { up, .. }) => Some(*up),
            _ => None,
        })
        .collect()
}

#[test]
fn an_alpha_checker_whose_first_verdict_is_down_runs_notify_down_as_keepalived() {
    use ipc::LvsEvent;
    let t0 = Instant::now();
    let notify = "notify_up /bin/true\n notify_down /bin/true";
    // ipwrapper.c update_svr_checker_state: the first verdict agrees with the state the
    // checker started in (alpha: down): no change, but do_rs_notifies runs.
    let s = snap(&vs(notify, &TCP.replace("warmup 0", "warmup 0\n alpha")));
    let (mut e, _) = Engine::load(&s, &[], t0, 7);
    let c = runs(&mut e, t0);
    let a = e.result(c, false, "", t0);
    assert!(ops(&a).is_empty(), "nothing changes: {a:?}");
    assert_eq!(rs_notify_scripts(&a), vec![false], "{a:?}");
    assert!(
        matches!(notifies(&a)[..], [LvsEvent::Rs { up: false, .. }]),
        "{a:?}"
    );
    // Later verdicts that agree are silent.
    let t1 = t0 + Duration::from_secs(5);
    let c = runs(&mut e, t1);
    let a = e.result(c, false, "", t1);
    assert!(
        rs_notify_scripts(&a).is_empty() && notifies(&a).is_empty(),
        "{a:?}"
    );
    // Without alpha the first failure is a change: one notify, from the change.
    let s = snap(&vs(notify, TCP));
    let (mut e, _) = Engine::load(&s, &[], t0, 7);
    let c = runs(&mut e, t0);
    let a = e.result(c, false, "", t0);
    assert_eq!(rs_notify_scripts(&a), vec![false], "{a:?}");
    let rs_lines = notifies(&a)
        .iter()
        .filter(|n| matches!(n, LvsEvent::Rs { .. }))
        .count();
    assert_eq!(rs_lines, 1, "{a:?}");
    // A first success of a checker that started up is no change and runs nothing.
    let (mut e, _) = Engine::load(&s, &[], t0, 7);
    let c = runs(&mut e, t0);
    let a = e.result(c, true, "", t0);
    assert!(
        rs_notify_scripts(&a).is_empty() && notifies(&a).is_empty(),
        "{a:?}"
    );
    // BFD_CHECK with alpha: the session's first level, Down, runs notify_down too.
    let conf = bfd_conf("BFD_CHECK {\n name peer\n alpha\n }")
        .replace(" weight 3\n", &format!(" weight 3\n {notify}\n"));
    let (mut e, _) = Engine::load(&snap(&conf), &[], t0, 7);
    let a = e.bfd(&level(false));
    assert_eq!(rs_notify_scripts(&a), vec![false], "{a:?}");
    assert!(e.bfd(&level(false)).is_empty());
}

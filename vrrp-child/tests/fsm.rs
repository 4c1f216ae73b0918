//! The state machine with virtual time: RFC 5798 §6.4 transitions and keepalived's rules,
//! to the microsecond, without a network.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};
use vrrp_child::fsm::*;
use vrrp_child::packet::{Advert, Received};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 99, 0, last))
}

fn cfg(prio: u8) -> InstanceCfg {
    InstanceCfg::new("VI_1", 51, prio, 100, ip(11), vec![ip(100)])
}

fn advert_from(src: u8, prio: u8, version: u8, int: u16) -> Input {
    Input::Advert(Received {
        src: ip(src),
        dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
        ttl: 255,
        ah: None,
        advert: Advert {
            version,
            vrid: 51,
            priority: prio,
            adver_int: int,
            auth_type: 0,
            auth_data: [0; 8],
            addrs: vec![ip(100)],
        },
    })
}

fn v2(src: u8, prio: u8) -> Input {
    advert_from(src, prio, 2, 1)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn changed(a: &[Action], to: State) -> bool {
    a.iter()
        .any(|x| matches!(x, Action::Changed { to: t, .. } if *t == to))
}

fn logs(a: &[Action]) -> Vec<String> {
    a.iter()
        .filter_map(|x| {
            if let Action::Log(l) = x {
                Some(l.clone())
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn owner_takes_over_at_once() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(255));
    let a = i.handle(t0, Input::Start { resume: None });
    assert_eq!(i.state, State::Master);
    assert!(
        a.contains(&Action::SendAdvert { priority: 255 })
            && a.contains(&Action::SetVips)
            && a.contains(&Action::SendGarps { repeat: 5 })
    );
    assert!(logs(&a).contains(&"(VI_1) Entering MASTER STATE".to_string()));
}

#[test]
fn backup_becomes_master_after_master_down_interval_to_the_microsecond() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(150));
    let a = i.handle(t0, Input::Start { resume: None });
    assert_eq!(i.state, State::Backup);
    assert!(logs(&a).contains(&"(VI_1) Entering BACKUP STATE (init)".to_string()));
    // keepalived: "Master down timer = 3414062 usecs" for priority 150, advert 1 s.
    assert_eq!(i.master_down_interval(), Duration::from_micros(3_414_062));
    assert_eq!(
        i.next_deadline(),
        Some(t0 + Duration::from_micros(3_414_062))
    );
    let a = i.handle(t0 + Duration::from_micros(3_414_061), Input::Tick);
    assert!(a.is_empty() && i.state == State::Backup);
    let a = i.handle(t0 + Duration::from_micros(3_414_062), Input::Tick);
    assert_eq!(i.state, State::Master);
    let advert = a
        .iter()
        .position(|x| *x == Action::SendAdvert { priority: 150 });
    let vips = a.iter().position(|x| *x == Action::SetVips);
    assert!(
        advert.is_some() && advert < vips,
        "advert before VIPs: {a:?}"
    );
}

#[test]
fn v3_skew_scales_with_the_interval_and_backups_adopt_the_masters() {
    let t0 = Instant::now();
    let mut c = cfg(150);
    c.version = 3;
    c.adver_int = 10; // 100 ms
    let mut i = Instance::new(c);
    i.handle(t0, Input::Start { resume: None });
    // 3 × 100 ms + (256−150) × 100 ms / 256 = 341.40625 ms
    assert_eq!(i.master_down_interval(), Duration::from_micros(341_406));
    // A master advertising every 50 cs: the backup adopts it.
    i.handle(t0 + ms(100), advert_from(12, 200, 3, 50));
    assert_eq!(i.master_adver_int, 50);
    assert_eq!(
        i.next_deadline(),
        Some(t0 + ms(100) + Duration::from_micros(1_500_000 + 207_031))
    );
}

#[test]
fn higher_or_equal_adverts_reset_the_down_timer() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(150));
    i.handle(t0, Input::Start { resume: None });
    for k in 1..10u64 {
        i.handle(t0 + ms(1000 * k), v2(12, 200));
        assert_eq!(i.state, State::Backup);
    }
    assert_eq!(
        i.next_deadline(),
        Some(t0 + ms(9000) + Duration::from_micros(3_414_062))
    );
    // Equal priority is accepted too (RFC 5798 §6.4.2: "greater than or equal").
    i.handle(t0 + ms(10_000), v2(12, 150));
    assert_eq!(
        i.next_deadline(),
        Some(t0 + ms(10_000) + Duration::from_micros(3_414_062))
    );
}

#[test]
fn lower_priority_adverts_are_discarded_and_the_backup_preempts() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(150));
    i.handle(t0, Input::Start { resume: None });
    let a = i.handle(t0 + ms(1000), v2(12, 100));
    assert!(logs(&a).contains(
        &"(VI_1) received lower priority (100) advert from 10.99.0.12 - discarding".to_string()
    ));
    i.handle(t0 + ms(2000), v2(12, 100));
    i.handle(t0 + ms(3000), v2(12, 100));
    let a = i.handle(t0 + Duration::from_micros(3_414_062), Input::Tick);
    assert!(changed(&a, State::Master));
}

#[test]
fn nopreempt_accepts_a_lower_master() {
    let t0 = Instant::now();
    let mut c = cfg(150);
    c.nopreempt = true;
    let mut i = Instance::new(c);
    i.handle(t0, Input::Start { resume: None });
    for k in 1..20u64 {
        i.handle(t0 + ms(1000 * k), v2(12, 100));
    }
    assert_eq!(i.state, State::Backup);
}

#[test]
fn preempt_delay_holds_then_preempts() {
    let t0 = Instant::now();
    let mut c = cfg(150);
    c.preempt_delay = Duration::from_secs(5);
    let mut i = Instance::new(c);
    i.handle(t0, Input::Start { resume: None });
    for k in 1..=5u64 {
        i.handle(t0 + ms(1000 * k), v2(12, 100));
        assert_eq!(i.state, State::Backup);
    }
    // From t0+6 s the lower adverts are discarded: master down at t0+5 s + 3.414 s.
    let a = i.handle(t0 + ms(6000), v2(12, 100));
    assert!(logs(&a).iter().any(|l| l.contains("discarding")));
    let a = i.handle(
        t0 + ms(5000) + Duration::from_micros(3_414_062),
        Input::Tick,
    );
    assert!(changed(&a, State::Master));
}

#[test]
fn priority_zero_means_skew_time() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(150));
    i.handle(t0, Input::Start { resume: None });
    i.handle(t0 + ms(1000), v2(12, 200));
    i.handle(t0 + ms(1500), v2(12, 0));
    // Skew for 150: (256−150)/256 s = 414.0625 ms.
    assert_eq!(
        i.next_deadline(),
        Some(t0 + ms(1500) + Duration::from_micros(414_062))
    );
    let a = i.handle(t0 + ms(1500) + Duration::from_micros(414_062), Input::Tick);
    assert!(changed(&a, State::Master));
}

#[test]
fn master_advertises_every_interval_and_answers_priority_zero() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(255));
    i.handle(t0, Input::Start { resume: None });
    for k in 1..=3u64 {
        assert_eq!(i.next_deadline(), Some(t0 + ms(1000 * k)));
        let a = i.handle(t0 + ms(1000 * k), Input::Tick);
        assert_eq!(a, vec![Action::SendAdvert { priority: 255 }]);
    }
    let a = i.handle(t0 + ms(3500), v2(12, 0));
    assert_eq!(a, vec![Action::SendAdvert { priority: 255 }]);
    assert_eq!(i.next_deadline(), Some(t0 + ms(4500)));
}

#[test]
fn master_yields_to_higher_priority_and_to_equal_priority_with_higher_address() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(150));
    i.handle(t0, Input::Start { resume: None });
    i.handle(t0 + Duration::from_secs(4), Input::Tick);
    assert_eq!(i.state, State::Master);
    let a = i.handle(t0 + Duration::from_secs(5), v2(12, 200));
    assert!(logs(&a).contains(
        &"(VI_1) Master received advert from 10.99.0.12 with higher priority 200, ours 150"
            .to_string()
    ));
    assert!(a.contains(&Action::RemoveVips) && changed(&a, State::Backup));

    let mut i = Instance::new(cfg(150));
    i.handle(t0, Input::Start { resume: None });
    i.handle(t0 + Duration::from_secs(4), Input::Tick);
    let a = i.handle(t0 + Duration::from_secs(5), v2(12, 150)); // .12 > .11
    assert!(changed(&a, State::Backup), "{a:?}");
    let mut i = Instance::new(InstanceCfg::new(
        "VI_1",
        51,
        150,
        100,
        ip(13),
        vec![ip(100)],
    ));
    i.handle(t0, Input::Start { resume: None });
    i.handle(t0 + Duration::from_secs(4), Input::Tick);
    let a = i.handle(t0 + Duration::from_secs(5), v2(12, 150)); // .12 < .13
    assert!(logs(&a).contains(&"(VI_1) Received advert from 10.99.0.12 with lower priority 150, ours 150, forcing new election".to_string()));
    assert!(a.contains(&Action::SendAdvert { priority: 150 }));
    assert_eq!(i.state, State::Master);
}

#[test]
fn shutdown_sends_priority_zero_and_releases() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(255));
    i.handle(t0, Input::Start { resume: None });
    let a = i.handle(t0 + ms(10), Input::Shutdown);
    assert_eq!(a[0], Action::SendAdvert { priority: 0 });
    assert!(a.contains(&Action::RemoveVips) && changed(&a, State::Stop));
    assert_eq!(i.next_deadline(), None);
}

#[test]
fn fault_and_recovery() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(255));
    i.handle(t0, Input::Start { resume: None });
    let a = i.handle(t0 + ms(10), Input::Fault(true));
    assert!(a.contains(&Action::SendAdvert { priority: 0 }) && a.contains(&Action::RemoveVips));
    assert_eq!(i.state, State::Fault);
    // Adverts in FAULT are ignored.
    assert!(i.handle(t0 + ms(20), v2(12, 200)).is_empty());
    let a = i.handle(t0 + ms(30), Input::Fault(false));
    assert!(changed(&a, State::Backup));
}

#[test]
fn effective_priority_moves_the_running_down_timer_by_the_skew_difference() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(150));
    i.handle(t0, Input::Start { resume: None });
    let a = i.handle(t0 + ms(100), Input::Priority(90));
    assert!(logs(&a).contains(&"(VI_1) Changing effective priority from 150 to 90".to_string()));
    // Skew 150 → 414.0625 ms; 90 → 648.4375 ms: the deadline moves by 234.375 ms.
    assert_eq!(
        i.next_deadline(),
        Some(t0 + Duration::from_micros(3_414_062 + 234_375))
    );
    // The owner's priority never changes.
    let mut o = Instance::new(cfg(255));
    o.handle(t0, Input::Start { resume: None });
    assert!(o.handle(t0, Input::Priority(100)).is_empty());
    assert_eq!(o.effective, 255);
}

#[test]
fn a_resumed_master_advertises_at_once_without_a_transition() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(150));
    let a = i.handle(
        t0,
        Input::Start {
            resume: Some(State::Master),
        },
    );
    assert_eq!(i.state, State::Master);
    assert_eq!(a[0], Action::SendAdvert { priority: 150 });
    assert!(!a
        .iter()
        .any(|x| matches!(x, Action::Changed { .. } | Action::RemoveVips)));
}

#[test]
fn dropped_packets_are_counted_and_change_nothing() {
    use vrrp_child::packet::{encode_ipv4, Ipv4Send};
    use vrrp_child::rx::{Counter, Packet};
    let t0 = Instant::now();
    let mut c = cfg(150);
    c.auth = Some((1, pass_key("secret")));
    let mut i = Instance::new(c);
    i.handle(t0, Input::Start { resume: None });
    let before = i.next_deadline();
    let mk = |pass: &str, ttl: u8| {
        let a = Advert {
            version: 2,
            vrid: 51,
            priority: 255,
            adver_int: 1,
            auth_type: 1,
            auth_data: pass_key(pass),
            addrs: vec![ip(100)],
        };
        let s = Ipv4Send {
            src: Ipv4Addr::new(10, 99, 0, 12),
            dst: Ipv4Addr::new(224, 0, 0, 18),
            ttl,
            ip_id: 1,
            ah: None,
            unicast: false,
        };
        Input::Packet(Packet {
            bytes: encode_ipv4(&a, &s),
            six: None,
        })
    };
    for (input, counter) in [
        (mk("wrong", 255), Counter::AuthFailure),
        (mk("secret", 254), Counter::IpTtl),
    ] {
        let a = i.handle(t0 + ms(500), input);
        assert!(a.contains(&Action::Dropped(counter)), "{a:?}");
        assert!(!a.iter().any(|x| matches!(x, Action::Received { .. })));
        assert_eq!(i.state, State::Backup);
        assert_eq!(
            i.next_deadline(),
            before,
            "a dropped advert must not reset the timer"
        );
    }
    // The right password is accepted and counted.
    let a = i.handle(t0 + ms(500), mk("secret", 255));
    assert!(a.contains(&Action::Received {
        priority_zero: false
    }));
    assert_ne!(i.next_deadline(), before);
}

#[test]
fn a_sync_group_member_waits_for_its_group() {
    let t0 = Instant::now();
    let mut c = cfg(150);
    c.sync = true;
    let mut i = Instance::new(c);
    i.handle(t0, Input::Start { resume: None });
    let mdi = i.master_down_interval();
    // The down timer expires: it wants MASTER but stays BACKUP, timer re-armed.
    let a = i.handle(t0 + mdi, Input::Tick);
    assert!(a.contains(&Action::WantMaster), "{a:?}");
    assert!(!changed(&a, State::Master));
    assert_eq!(i.state, State::Backup);
    assert!(i.want_master);
    assert_eq!(i.next_deadline(), Some(t0 + mdi + mdi));
    // The group says go: MASTER with the usual entry actions.
    let a = i.handle(t0 + mdi + ms(1), Input::Sync(State::Master));
    assert!(changed(&a, State::Master) && a.contains(&Action::SetVips));
    // The group goes BACKUP: so does the member, releasing its VIPs.
    let a = i.handle(t0 + mdi + ms(2), Input::Sync(State::Backup));
    assert!(changed(&a, State::Backup) && a.contains(&Action::RemoveVips));
    assert!(!i.want_master);
    // A higher master's advert clears the wish.
    let a = i.handle(t0 + mdi * 3, Input::Tick);
    assert!(a.contains(&Action::WantMaster));
    i.handle(t0 + mdi * 3 + ms(1), v2(12, 200));
    assert!(!i.want_master);
}

#[test]
fn gratuitous_arp_bursts_delay_refresh_and_lower_priority() {
    let t0 = Instant::now();
    let mut c = cfg(255);
    c.garp = std::rc::Rc::new(Garp {
        repeat: 3,
        delay: ms(2000),
        refresh: ms(7000),
        refresh_repeat: 2,
        lower_prio_repeat: 4,
        lower_prio_delay: ms(1500),
    });
    let mut i = Instance::new(c);
    let garps = |a: &[Action]| -> Vec<u32> {
        a.iter()
            .filter_map(|x| match x {
                Action::SendGarps { repeat } => Some(*repeat),
                _ => None,
            })
            .collect()
    };
    let a = i.handle(t0, Input::Start { resume: None });
    assert_eq!(garps(&a), vec![3], "garp_master_repeat at the transition");
    // Nothing before garp_master_delay, the second burst at it, to the millisecond.
    let mut seen = Vec::new();
    let mut t = t0;
    while t < t0 + ms(14_100) {
        t += ms(1);
        let a = i.handle(t, Input::Tick);
        for r in garps(&a) {
            seen.push(((t - t0).as_millis(), r));
        }
    }
    assert_eq!(seen, vec![(2000, 3), (7000, 2), (14_000, 2)]);
    // A lower-priority advert: garp_lower_prio_repeat now and after garp_lower_prio_delay.
    let a = i.handle(t0 + ms(14_200), v2(12, 100));
    assert_eq!(garps(&a), vec![4]);
    assert!(garps(&i.handle(t0 + ms(15_699), Input::Tick)).is_empty());
    assert_eq!(garps(&i.handle(t0 + ms(15_700), Input::Tick)), vec![4]);
    // Leaving MASTER cancels what is pending.
    i.handle(t0 + ms(15_800), v2(12, 100));
    i.handle(t0 + ms(15_900), Input::Shutdown);
    assert!(garps(&i.handle(t0 + ms(17_400), Input::Tick)).is_empty());
}

/// A restarted child resumes BACKUP quietly (no transition, no notify) with a fresh down
/// timer, and an advert that came within it keeps it BACKUP.
#[test]
fn a_resumed_backup_resumes_without_a_transition() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(100));
    let a = i.handle(
        t0,
        Input::Start {
            resume: Some(State::Backup),
        },
    );
    assert_eq!(i.state, State::Backup);
    assert_eq!(logs(&a), ["(VI_1) Resuming BACKUP STATE"]);
    assert!(!a.iter().any(|x| matches!(x, Action::Changed { .. })));
    assert_eq!(i.next_deadline(), Some(t0 + i.master_down_interval()));
    // The master's advert, dated when it arrived (just before the timer), however late
    // the shell gets to it.
    let a = i.handle(t0 + i.master_down_interval() - ms(1), v2(12, 150));
    assert!(!changed(&a, State::Master));
    assert_eq!(i.state, State::Backup);
}

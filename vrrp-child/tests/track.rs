//! Effective priority and FAULT from tracker levels (keepalived §5.2), the tracked-file
//! number parser, process matching and the netlink link parser.

use conf::model::TrackProcess;
use vrrp_child::track::{contribution, evaluate, file_value, Level, TrackKey, Tracked};

fn t(key: TrackKey, weight: i32, reverse: bool) -> Tracked {
    Tracked {
        name: format!("{key:?}"),
        key,
        weight,
        reverse,
    }
}

#[test]
fn weights_follow_keepalived() {
    let up = Level::Up(true);
    let down = Level::Up(false);
    // w > 0 counts while up; w < 0 while down; reverse flips the sign, not the condition.
    assert_eq!(contribution(up, 10, false), Some(10));
    assert_eq!(contribution(down, 10, false), Some(0));
    assert_eq!(contribution(up, -60, false), Some(0));
    assert_eq!(contribution(down, -60, false), Some(-60));
    assert_eq!(contribution(up, 10, true), Some(-10));
    assert_eq!(contribution(down, 10, true), Some(0));
    assert_eq!(contribution(down, -60, true), Some(60));
    // Weight 0: FAULT while down, or while up with reverse.
    assert_eq!(contribution(down, 0, false), None);
    assert_eq!(contribution(up, 0, false), Some(0));
    assert_eq!(contribution(up, 0, true), None);
    // Files: value × weight × m, clamped to 253, FAULT at -254 or below; weight 0: non-zero
    // is FAULT (zero with reverse).
    assert_eq!(contribution(Level::Value(3), 5, false), Some(15));
    assert_eq!(contribution(Level::Value(3), 5, true), Some(-15));
    assert_eq!(contribution(Level::Value(100), 5, false), Some(253));
    assert_eq!(contribution(Level::Value(-254), 1, false), None);
    assert_eq!(contribution(Level::Value(-253), 1, false), Some(-253));
    assert_eq!(contribution(Level::Value(7), 0, false), None);
    assert_eq!(contribution(Level::Value(0), 0, false), Some(0));
    assert_eq!(contribution(Level::Value(0), 0, true), None);
}

#[test]
fn effective_priority_is_recomputed_clamped_and_owner_is_never_adjusted() {
    let a = t(TrackKey::Interface("eth1".into()), -60, false);
    let b = t(TrackKey::File("f".into()), 1, false);
    let c = t(TrackKey::Process("p".into()), 0, false);
    let (eff, fault) = evaluate(
        150,
        [
            (&a, Some(Level::Up(false))),
            (&b, Some(Level::Value(-200))),
            (&c, Some(Level::Up(true))),
        ],
    );
    assert_eq!((eff, fault), (1, None), "150 - 60 - 200 clamps to 1");
    let (eff, _) = evaluate(200, [(&b, Some(Level::Value(100)))]);
    assert_eq!(eff, 254, "clamped to 254");
    let (eff, _) = evaluate(255, [(&a, Some(Level::Up(false)))]);
    assert_eq!(eff, 255, "the owner is never adjusted");
    let (_, fault) = evaluate(255, [(&c, Some(Level::Up(false)))]);
    assert_eq!(fault, Some(&c.key), "but goes to FAULT");
    // Unknown levels (a script not yet run) count for nothing.
    assert_eq!(evaluate(100, [(&a, None)]), (100, None));
}

#[test]
fn file_numbers_as_strtol_base_0() {
    assert_eq!(file_value(b"  42\n"), Some(42));
    assert_eq!(file_value(b"-7 rest"), Some(-7));
    assert_eq!(file_value(b"0x10"), Some(16));
    assert_eq!(file_value(b"010"), Some(8));
    assert_eq!(file_value(b""), Some(0));
    assert_eq!(file_value(b"abc"), Some(0));
    assert_eq!(file_value(b"99999999999"), None);
}

#[test]
fn process_matching() {
    let mut p = TrackProcess {
        name: "web".into(),
        process: vec!["nginx".into()],
        ..Default::default()
    };
    assert!(vrrp_child::trackproc::matches(
        &p,
        "nginx",
        b"/usr/sbin/nginx\0-g\0"
    ));
    assert!(!vrrp_child::trackproc::matches(&p, "nginx-debug", b""));
    p.process = vec!["/usr/sbin/nginx".into(), "-g".into()];
    assert!(vrrp_child::trackproc::matches(
        &p,
        "nginx",
        b"/usr/sbin/nginx\0-g\0"
    ));
    assert!(!vrrp_child::trackproc::matches(
        &p,
        "nginx",
        b"/usr/sbin/nginx\0-g\0x\0"
    ));
    p.param_match = Some("initial".into());
    assert!(vrrp_child::trackproc::matches(
        &p,
        "nginx",
        b"/usr/sbin/nginx\0-g\0x\0"
    ));
}

#[test]
fn netlink_link_messages() {
    // RTM_NEWLINK for index 3 "eth0", IFF_UP|IFF_RUNNING, then NLMSG_DONE.
    let mut m = Vec::new();
    let attr = {
        let mut a = Vec::new();
        a.extend_from_slice(&9u16.to_ne_bytes());
        a.extend_from_slice(&3u16.to_ne_bytes());
        a.extend_from_slice(b"eth0\0\0\0\0");
        a
    };
    let len = 16 + 16 + 12;
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&16u16.to_ne_bytes());
    m.extend_from_slice(&[0; 10]);
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&3i32.to_ne_bytes());
    m.extend_from_slice(&((libc::IFF_UP | libc::IFF_RUNNING) as u32).to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&attr[..12]);
    m.extend_from_slice(&16u32.to_ne_bytes());
    m.extend_from_slice(&3u16.to_ne_bytes());
    m.extend_from_slice(&[0; 10]);
    let mut done = false;
    let links = vrrp_child::netlink::parse(&m, &mut done);
    assert!(done);
    assert_eq!(links.len(), 1);
    assert_eq!(
        (links[0].index, links[0].name.as_str(), links[0].up),
        (3, "eth0", true)
    );
    // Truncated input parses to nothing, without a panic.
    for n in 0..m.len() {
        let _ = vrrp_child::netlink::parse(&m[..n], &mut done);
    }
}

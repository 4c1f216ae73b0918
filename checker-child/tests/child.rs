//! The checker child's handling of the parent's BFD levels (BFD_CHECK), through its message
//! handler: levels in the snapshot, relayed changes, a level that came before the snapshot.

use checker_child::CheckerChild;
use ipc::child::{ChildProtocol, Step};
use ipc::{BfdLevel, CheckerToParent, IpvsOp, ParentToChecker, RsState};
use std::time::Instant;

fn nolog(_: &str) {}

const CONF: &str = "bfd_instance peer {\n neighbor_ip 10.99.255.2\n}\n\
    virtual_server 10.99.0.10 80 {\n delay_loop 5\n lb_algo rr\n lb_kind NAT\n protocol TCP\n\
    real_server 10.99.1.2 80 {\n weight 3\n BFD_CHECK {\n name peer\n }\n }\n}\n";

fn snapshot(resume: Vec<RsState>, bfd: Vec<BfdLevel>) -> ParentToChecker {
    let l = conf::load_str("t.conf", CONF, &conf::LoadOptions::default());
    ParentToChecker::Snapshot {
        generation: 1,
        snapshot: Box::new(l.config.for_checker()),
        resume,
        bfd,
    }
}

fn level(up: bool) -> Vec<BfdLevel> {
    vec![BfdLevel {
        bfd: conf::project::bfd_id("peer"),
        up,
    }]
}

fn out(s: Step<CheckerToParent>) -> Vec<CheckerToParent> {
    match s {
        Step::Continue(v) => v,
        _ => panic!("the child must go on"),
    }
}

/// The destination changes asked of the parent, in order.
fn dests(v: &[CheckerToParent]) -> Vec<IpvsOp> {
    v.iter()
        .filter_map(|m| match m {
            CheckerToParent::ApplyIpvs { ops, .. } => Some(ops.clone()),
            _ => None,
        })
        .flatten()
        .filter(|o| !matches!(o, IpvsOp::AddService { .. }))
        .collect()
}

#[test]
fn a_new_checker_takes_the_parents_bfd_levels() {
    let now = Instant::now();
    // A first checker, no level known yet: the real server starts up (no alpha).
    let mut c = CheckerChild::new(nolog);
    let v = out(c.handle(snapshot(vec![], vec![]), now));
    let rs = match &dests(&v)[..] {
        [IpvsOp::AddDest { rs, weight: 3 }] => *rs,
        other => panic!("{other:?}"),
    };
    // The relayed Down takes it out, Up puts it back.
    let v = out(c.handle(ParentToChecker::BfdState(level(false)), now));
    assert_eq!(dests(&v), vec![IpvsOp::DelDest { rs }]);
    let v = out(c.handle(ParentToChecker::BfdState(level(true)), now));
    assert_eq!(dests(&v), vec![IpvsOp::AddDest { rs, weight: 3 }]);

    // A restarted checker: the real server was down and the session still is - nothing
    // goes back in.
    let down = RsState {
        rs,
        up: false,
        weight: 3,
    };
    let mut c = CheckerChild::new(nolog);
    let v = out(c.handle(snapshot(vec![down.clone()], level(false)), now));
    assert_eq!(
        dests(&v),
        vec![IpvsOp::DelDest { rs }],
        "the whole desired table, down"
    );
    // The session came up while no checker ran: the parent's level says so.
    let mut c = CheckerChild::new(nolog);
    let v = out(c.handle(snapshot(vec![down], level(true)), now));
    assert_eq!(
        dests(&v),
        vec![IpvsOp::DelDest { rs }, IpvsOp::AddDest { rs, weight: 3 }]
    );
    // A level that came before the snapshot is kept for it.
    let mut c = CheckerChild::new(nolog);
    assert!(out(c.handle(ParentToChecker::BfdState(level(false)), now)).is_empty());
    let v = out(c.handle(snapshot(vec![], vec![]), now));
    assert_eq!(
        dests(&v),
        vec![IpvsOp::AddDest { rs, weight: 3 }, IpvsOp::DelDest { rs }]
    );
}

//! The checker child: it will run the health checks and compute the desired IPVS table
//! (issue 5). Today it runs the protocol with the parent — handshake, snapshot and
//! acknowledgement, liveness, dumps, orderly stop — and reports the real servers it was given.

use conf::project::CheckerSnapshot;
use ipc::child::{ChildError, ChildProtocol, Step};
use ipc::{Channel, CheckerToParent, Hello, ParentToChecker, RsState};
use std::time::Instant;

/// Capabilities this child keeps after start-up: none.
pub const CAPS: &[&str] = &[];

/// System calls beyond `ipc::sandbox::BASE_SYSCALLS` this child needs.
pub const SYSCALLS: &[i64] = &[];

/// syslog ident, as keepalived's.
pub const IDENT: &str = "Keepalived_healthcheckers";

#[derive(Default)]
pub struct CheckerChild {
    snapshot: Option<Box<CheckerSnapshot>>,
    states: Vec<RsState>,
    /// ICMP sockets from the parent for PING_CHECK.
    sockets: Vec<(ipc::FdKind, std::os::fd::OwnedFd)>,
}

impl ChildProtocol for CheckerChild {
    type Tx = CheckerToParent;
    type Rx = ParentToChecker;

    fn hello(&self) -> CheckerToParent {
        CheckerToParent::Hello(Hello::ours())
    }

    fn peer_hello<'a>(&self, msg: &'a ParentToChecker) -> Option<&'a Hello> {
        match msg {
            ParentToChecker::Hello(h) => Some(h),
            _ => None,
        }
    }

    fn sockets(&mut self, fds: Vec<(ipc::FdKind, std::os::fd::OwnedFd)>) {
        self.sockets = fds;
    }

    fn handle(&mut self, msg: ParentToChecker, _now: Instant) -> Step<CheckerToParent> {
        match msg {
            ParentToChecker::Snapshot {
                generation,
                snapshot,
                resume,
            } => {
                // The parent's last known states stand until a check says otherwise.
                self.states = resume;
                let mut extra = Vec::new();
                if ipc::child::test_fault() == Some("misc") {
                    // Ask for the first MISC_CHECK once (fault-injection tests of the runner).
                    let first = snapshot.virtual_servers.iter().find_map(|(_, vs)| {
                        vs.real_servers.iter().find_map(|rs| {
                            let i = rs.checkers.iter().position(|c| {
                                matches!(c.kind, conf::model::CheckKind::Misc { .. })
                            })?;
                            Some((conf::project::rs_id(vs, rs), i as u32))
                        })
                    });
                    if let Some((rs, checker)) = first {
                        extra.push(CheckerToParent::RunScript {
                            req_id: 1,
                            script: ipc::ScriptRef::Misc { rs, checker },
                        });
                    }
                }
                self.snapshot = Some(snapshot);
                {
                    let mut out = vec![
                        CheckerToParent::SnapshotAck { generation },
                        CheckerToParent::FullState(self.states.clone()),
                    ];
                    out.extend(extra);
                    Step::Continue(out)
                }
            }
            ParentToChecker::Ping { seq } => Step::Continue(vec![CheckerToParent::Pong { seq }]),
            ParentToChecker::Dump { kind } => {
                let n = self
                    .snapshot
                    .as_ref()
                    .map(|s| s.virtual_servers.len())
                    .unwrap_or(0);
                let text = format!("------< LVS Topology >------\n Virtual servers = {n}\n");
                Step::Continue(vec![CheckerToParent::DumpText { kind, text }])
            }
            ParentToChecker::Stop => Step::Exit(vec![CheckerToParent::Stopped]),
            ParentToChecker::Hello(_)
            | ParentToChecker::Sockets { .. }
            | ParentToChecker::ApplyIpvsResult { .. }
            | ParentToChecker::RunScriptResult { .. } => Step::Continue(Vec::new()),
        }
    }
}

/// The child's entry point, after `ipc::sandbox::enter`.
pub fn run(ch: Channel<CheckerToParent, ParentToChecker>) -> Result<(), ChildError> {
    ipc::child::run(ch, CheckerChild::default())
}

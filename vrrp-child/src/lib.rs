//! The VRRP child: it will hold the sans-IO VRRP state machines, packet codecs and the mio
//! shell (issue 4). Today it runs the protocol with the parent — handshake, snapshot and
//! acknowledgement, liveness, dumps, orderly stop — and reports every instance as INIT.

use conf::project::{ObjId, VrrpSnapshot};
use ipc::child::{ChildError, ChildProtocol, Step};
use ipc::{Channel, Hello, InstanceState, ParentToVrrp, VrrpState, VrrpToParent};
use std::time::Instant;

/// Capabilities this child keeps after start-up: none.
pub const CAPS: &[&str] = &[];

/// System calls beyond `ipc::sandbox::BASE_SYSCALLS` this child needs.
pub const SYSCALLS: &[i64] = &[];

/// syslog ident, as keepalived's.
pub const IDENT: &str = "Keepalived_vrrp";

#[derive(Default)]
pub struct VrrpChild {
    generation: u64,
    snapshot: Option<Box<VrrpSnapshot>>,
    states: Vec<InstanceState>,
}

impl VrrpChild {
    fn full_state(&self) -> VrrpToParent {
        VrrpToParent::FullState(self.states.clone())
    }
}

impl ChildProtocol for VrrpChild {
    type Tx = VrrpToParent;
    type Rx = ParentToVrrp;

    fn hello(&self) -> VrrpToParent {
        VrrpToParent::Hello(Hello::ours())
    }

    fn peer_hello<'a>(&self, msg: &'a ParentToVrrp) -> Option<&'a Hello> {
        match msg {
            ParentToVrrp::Hello(h) => Some(h),
            _ => None,
        }
    }

    fn handle(&mut self, msg: ParentToVrrp, _now: Instant) -> Step<VrrpToParent> {
        match msg {
            ParentToVrrp::Snapshot {
                generation,
                snapshot,
                resume,
            } => {
                self.generation = generation;
                // Keep what the parent knew (a restart resumes); anything new starts in INIT.
                self.states = snapshot
                    .instances
                    .iter()
                    .map(|(id, _)| {
                        resume
                            .iter()
                            .find(|s| s.instance == *id)
                            .cloned()
                            .unwrap_or(InstanceState {
                                instance: *id,
                                state: VrrpState::Init,
                                effective_priority: 0,
                            })
                    })
                    .collect();
                self.snapshot = Some(snapshot);
                let mut out = vec![VrrpToParent::SnapshotAck { generation }, self.full_state()];
                match ipc::child::test_fault() {
                    Some("unknown-id") => out.push(VrrpToParent::AddVips {
                        req_id: 1,
                        instance: ObjId(0xdead_beef),
                    }),
                    Some("add-vips") => {
                        if let Some(s) = self.states.first() {
                            out.push(VrrpToParent::AddVips {
                                req_id: 2,
                                instance: s.instance,
                            });
                        }
                    }
                    _ => {}
                }
                Step::Continue(out)
            }
            ParentToVrrp::Ping { seq } => Step::Continue(vec![VrrpToParent::Pong { seq }]),
            ParentToVrrp::Dump { kind } => {
                let mut text = String::from("------< VRRP Topology >------\n");
                if let Some(s) = &self.snapshot {
                    for (id, inst) in &s.instances {
                        let st = self
                            .states
                            .iter()
                            .find(|x| x.instance == *id)
                            .map(|x| x.state);
                        text.push_str(&format!(
                            " VRRP Instance = {}\n   State = {:?}\n",
                            inst.name,
                            st.unwrap_or(VrrpState::Init)
                        ));
                    }
                }
                Step::Continue(vec![VrrpToParent::DumpText { kind, text }])
            }
            ParentToVrrp::Stop => Step::Exit(vec![VrrpToParent::Stopped]),
            ParentToVrrp::Hello(_)
            | ParentToVrrp::Sockets { .. }
            | ParentToVrrp::AddVipsResult { .. }
            | ParentToVrrp::DelVipsResult { .. }
            | ParentToVrrp::RunScriptResult { .. } => Step::Continue(Vec::new()),
        }
    }
}

/// The child's entry point, after `ipc::sandbox::enter`.
pub fn run(ch: Channel<VrrpToParent, ParentToVrrp>) -> Result<(), ChildError> {
    ipc::child::run(ch, VrrpChild::default())
}

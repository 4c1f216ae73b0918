//! The messages: one enum per direction per channel. Requests carry a `req_id` and name
//! configuration objects by id; replies are named after their request.

use conf::project::{CheckerSnapshot, ObjId, VrrpSnapshot};
use serde::{Deserialize, Serialize};

/// First frame each way: a mismatch closes the channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub proto_version: u32,
    pub build_id: String,
}

impl Hello {
    pub fn ours() -> Self {
        Hello {
            proto_version: crate::PROTO_VERSION,
            build_id: crate::build_id(),
        }
    }
}

/// What a received descriptor must be; the receiver checks the socket it got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FdKind {
    /// Raw IPv4 socket, protocol 112 (VRRP).
    RawVrrp4,
    /// Raw IPv6 socket, protocol 112.
    RawVrrp6,
    /// Raw IPv4 socket, protocol 51 (keepalived's AH).
    RawAh4,
    /// AF_PACKET socket for gratuitous ARP.
    Packet,
    /// Raw ICMP / ICMPv6 socket for PING_CHECK.
    Icmp4,
    Icmp6,
    /// UDP socket bound to 0.0.0.0:3784 with IP_RECVTTL and IP_PKTINFO: BFD control
    /// packets (RFC 5881).
    Bfd4,
    /// UDP socket bound to [::]:3784 (IPv6 only) with IPV6_RECVHOPLIMIT and
    /// IPV6_RECVPKTINFO.
    Bfd6,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VrrpState {
    Init,
    Backup,
    Master,
    Fault,
    Stop,
}

/// An instance's state as the parent keeps it, and hands to a restarted child.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceState {
    pub instance: ObjId,
    pub state: VrrpState,
    pub effective_priority: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RsState {
    pub rs: ObjId,
    pub up: bool,
    pub weight: u32,
}

/// A `bfd_instance`'s session as the checker's BFD_CHECKs see it: Up or not (keepalived's
/// `bfd_event_t`, by id). The VRRP child runs the sessions and reports them; the parent
/// keeps the last one and relays it to the checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BfdLevel {
    pub bfd: ObjId,
    pub up: bool,
}

/// Outcome of a privileged request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    Done,
    /// The kernel lacks the facility (IPVS on a kernel without `ip_vs`).
    Unavailable,
    Failed(String),
}

/// Which script a child asks the parent to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScriptRef {
    /// A `vrrp_script` by id.
    Track(ObjId),
    /// An instance's notify script for a state (with keepalived's arguments).
    Notify { instance: ObjId, state: VrrpState },
    /// A real server's MISC_CHECK.
    Misc { rs: ObjId, checker: u32 },
    /// A real server's `notify_up` (`up`) or `notify_down`.
    RsNotify { rs: ObjId, up: bool },
    /// A virtual server's `quorum_up` (`up`) or `quorum_down`.
    Quorum { vs: ObjId, up: bool },
    /// A sync group's notify scripts for a state (`GROUP NAME STATE 0`), by group name.
    GroupNotify { group: String, state: VrrpState },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DumpKind {
    Data,
    Stats,
    Json,
    /// `keepalived_bfd.data`: the BFD sessions' part of a SIGUSR1 dump (the VRRP child
    /// runs them; keepalived's BFD child writes this file).
    BfdData,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ParentToVrrp {
    Hello(Hello),
    /// A configuration to run; `resume` carries the last known states (restart without flap),
    /// `bfd` the last known BFD sessions the checker follows (a restarted child keeps them
    /// until its own sessions know better).
    Snapshot {
        generation: u64,
        snapshot: Box<VrrpSnapshot>,
        resume: Vec<InstanceState>,
        bfd: Vec<BfdLevel>,
    },
    /// Sockets follow this message, one per manifest entry, in order.
    Sockets {
        manifest: Vec<FdKind>,
    },
    Ping {
        seq: u64,
    },
    AddVipsResult {
        req_id: u64,
        result: OpResult,
    },
    DelVipsResult {
        req_id: u64,
        result: OpResult,
    },
    RunScriptResult {
        req_id: u64,
        exit_status: Option<i32>,
        timed_out: bool,
    },
    Dump {
        kind: DumpKind,
    },
    /// Orderly stop: send priority 0, release, then exit.
    Stop,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VrrpToParent {
    Hello(Hello),
    SnapshotAck {
        generation: u64,
    },
    Pong {
        seq: u64,
    },
    AddVips {
        req_id: u64,
        instance: ObjId,
    },
    DelVips {
        req_id: u64,
        instance: ObjId,
    },
    RunScript {
        req_id: u64,
        script: ScriptRef,
    },
    StateChanged(InstanceState),
    FullState(Vec<InstanceState>),
    /// BFD sessions whose events go to the checker: after a configuration, on a change, and
    /// with each full state.
    BfdState(Vec<BfdLevel>),
    DumpText {
        kind: DumpKind,
        text: String,
    },
    Stopped,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ParentToChecker {
    Hello(Hello),
    /// `bfd`: the last known state of the BFD sessions BFD_CHECKs follow.
    Snapshot {
        generation: u64,
        snapshot: Box<CheckerSnapshot>,
        resume: Vec<RsState>,
        bfd: Vec<BfdLevel>,
    },
    Sockets {
        manifest: Vec<FdKind>,
    },
    Ping {
        seq: u64,
    },
    ApplyIpvsResult {
        req_id: u64,
        result: OpResult,
    },
    RunScriptResult {
        req_id: u64,
        exit_status: Option<i32>,
        timed_out: bool,
    },
    Dump {
        kind: DumpKind,
    },
    /// BFD sessions changed state (relayed from the VRRP child).
    BfdState(Vec<BfdLevel>),
    Stop,
    /// Exit without shutdown actions: a new checker takes over (`--restart-checker`).
    Handover,
}

/// One change to the kernel's IPVS table, by configuration id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpvsOp {
    AddService {
        vs: ObjId,
    },
    DelService {
        vs: ObjId,
    },
    AddDest {
        rs: ObjId,
        weight: u32,
    },
    EditDest {
        rs: ObjId,
        weight: u32,
    },
    DelDest {
        rs: ObjId,
    },
    /// The virtual server's `sorry_server`, at weight 1 (0 to disable it, with inhibit).
    AddSorry {
        vs: ObjId,
        weight: u32,
    },
    DelSorry {
        vs: ObjId,
    },
}

/// A real server or a virtual server's quorum went up or down: the parent writes
/// keepalived's FIFO line for it (`notify_fifo`, `lvs_notify_fifo`), named from its own config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LvsEvent {
    Rs { rs: ObjId, up: bool },
    Vs { vs: ObjId, up: bool },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckerToParent {
    Hello(Hello),
    SnapshotAck {
        generation: u64,
    },
    Pong {
        seq: u64,
    },
    ApplyIpvs {
        req_id: u64,
        generation: u64,
        ops: Vec<IpvsOp>,
    },
    RunScript {
        req_id: u64,
        script: ScriptRef,
    },
    RsChanged(RsState),
    FullState(Vec<RsState>),
    DumpText {
        kind: DumpKind,
        text: String,
    },
    /// For the notify FIFOs.
    LvsNotify(LvsEvent),
    Stopped,
}

/// Messages that carry a descriptor manifest (the channel attaches and checks the fds).
pub trait Manifest {
    fn manifest(&self) -> Option<&[FdKind]> {
        None
    }
}

impl Manifest for ParentToVrrp {
    fn manifest(&self) -> Option<&[FdKind]> {
        match self {
            ParentToVrrp::Sockets { manifest } => Some(manifest),
            _ => None,
        }
    }
}

impl Manifest for ParentToChecker {
    fn manifest(&self) -> Option<&[FdKind]> {
        match self {
            ParentToChecker::Sockets { manifest } => Some(manifest),
            _ => None,
        }
    }
}

impl Manifest for VrrpToParent {}
impl Manifest for CheckerToParent {}

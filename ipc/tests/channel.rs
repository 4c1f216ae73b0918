//! Frames, messages and descriptor passing over real socketpairs.

use conf::project::ObjId;
use ipc::codec::{self, CodecError, MAX_FRAME};
use ipc::*;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

type ParentSide = Channel<ParentToVrrp, VrrpToParent>;
type ChildSide = Channel<VrrpToParent, ParentToVrrp>;

fn pair() -> (ParentSide, ChildSide) {
    let (a, b) = ipc::channel::socketpair().unwrap();
    (Channel::new(a).unwrap(), Channel::new(b).unwrap())
}

fn recv_one<Tx: serde::Serialize, Rx: serde::de::DeserializeOwned + Manifest>(
    c: &mut Channel<Tx, Rx>,
) -> Result<Rx, ChannelError> {
    // The peer wrote already; wait until the bytes are readable.
    let fd = c.as_raw_fd();
    loop {
        if let Some(m) = c.recv()? {
            return Ok(m);
        }
        let mut p = [nix::poll::PollFd::new(
            unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
            nix::poll::PollFlags::POLLIN,
        )];
        nix::poll::poll(&mut p, nix::poll::PollTimeout::from(5000u16)).unwrap();
    }
}

/// The next message on `r`, flushing `w` while waiting (frames larger than the socket
/// holds need both ends to move).
fn pump<A: serde::Serialize, B: serde::de::DeserializeOwned + Manifest, C, D>(
    w: &mut Channel<C, D>,
    r: &mut Channel<A, B>,
) -> B
where
    C: serde::Serialize,
    D: serde::de::DeserializeOwned + Manifest,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        assert!(std::time::Instant::now() < deadline, "no message in 10 s");
        w.flush().unwrap();
        match r.recv().unwrap() {
            Some(m) => return m,
            None => std::thread::sleep(std::time::Duration::from_millis(1)),
        }
    }
}

fn snapshot() -> conf::project::VrrpSnapshot {
    let l = conf::load_str(
        "k.conf",
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress { 10.99.0.7 }\n}\n",
        &conf::LoadOptions::default(),
    );
    l.config.for_vrrp()
}

#[test]
fn every_parent_to_vrrp_variant_round_trips() {
    let (mut p, mut c) = pair();
    let st = InstanceState {
        instance: ObjId(9),
        state: VrrpState::Master,
        effective_priority: 150,
    };
    let msgs = vec![
        ParentToVrrp::Hello(Hello::ours()),
        ParentToVrrp::Snapshot {
            generation: 3,
            snapshot: Box::new(snapshot()),
            resume: vec![st],
            bfd: vec![BfdLevel {
                bfd: ObjId(7),
                up: true,
            }],
        },
        ParentToVrrp::Ping { seq: 42 },
        ParentToVrrp::AddVipsResult {
            req_id: 1,
            result: OpResult::Done,
        },
        ParentToVrrp::DelVipsResult {
            req_id: 2,
            result: OpResult::Failed("EPERM".into()),
        },
        ParentToVrrp::RunScriptResult {
            req_id: 3,
            exit_status: Some(1),
            timed_out: false,
        },
        ParentToVrrp::Dump {
            kind: DumpKind::Stats,
        },
        ParentToVrrp::Stop,
    ];
    for m in &msgs {
        p.send(m).unwrap();
    }
    for m in &msgs {
        assert_eq!(&recv_one(&mut c).unwrap(), m);
    }
}

#[test]
fn every_child_to_parent_variant_round_trips() {
    let (mut p, mut c) = pair();
    let st = InstanceState {
        instance: ObjId(1),
        state: VrrpState::Backup,
        effective_priority: 100,
    };
    let msgs = vec![
        VrrpToParent::Hello(Hello::ours()),
        VrrpToParent::SnapshotAck { generation: 3 },
        VrrpToParent::Pong { seq: 42 },
        VrrpToParent::AddVips {
            req_id: 1,
            instance: ObjId(1),
        },
        VrrpToParent::DelVips {
            req_id: 2,
            instance: ObjId(1),
        },
        VrrpToParent::RunScript {
            req_id: 3,
            script: ScriptRef::Notify {
                instance: ObjId(1),
                state: VrrpState::Master,
            },
        },
        VrrpToParent::StateChanged(st.clone()),
        VrrpToParent::FullState(vec![st]),
        VrrpToParent::BfdState(vec![BfdLevel {
            bfd: ObjId(7),
            up: false,
        }]),
        VrrpToParent::DumpText {
            kind: DumpKind::Data,
            text: "x".into(),
        },
        VrrpToParent::Stopped,
    ];
    for m in &msgs {
        c.send(m).unwrap();
    }
    for m in &msgs {
        assert_eq!(&recv_one(&mut p).unwrap(), m);
    }
    // Checker direction too.
    let (a, b) = ipc::channel::socketpair().unwrap();
    let mut cp: Channel<ParentToChecker, CheckerToParent> = Channel::new(a).unwrap();
    let mut cc: Channel<CheckerToParent, ParentToChecker> = Channel::new(b).unwrap();
    let up = vec![
        CheckerToParent::ApplyIpvs {
            req_id: 5,
            generation: 1,
            ops: vec![
                IpvsOp::AddService { vs: ObjId(2) },
                IpvsOp::AddDest {
                    rs: ObjId(3),
                    weight: 1,
                },
            ],
        },
        CheckerToParent::RsChanged(RsState {
            rs: ObjId(3),
            up: false,
            weight: 0,
        }),
        CheckerToParent::RunScript {
            req_id: 6,
            script: ScriptRef::Misc {
                rs: ObjId(3),
                checker: 0,
            },
        },
    ];
    for m in &up {
        cc.send(m).unwrap();
    }
    for m in &up {
        assert_eq!(&recv_one(&mut cp).unwrap(), m);
    }
    let relayed = ParentToChecker::BfdState(vec![BfdLevel {
        bfd: ObjId(7),
        up: true,
    }]);
    cp.send(&relayed).unwrap();
    assert_eq!(recv_one(&mut cc).unwrap(), relayed);
    cp.send(&ParentToChecker::ApplyIpvsResult {
        req_id: 5,
        result: OpResult::Unavailable,
    })
    .unwrap();
    assert_eq!(
        recv_one(&mut cc).unwrap(),
        ParentToChecker::ApplyIpvsResult {
            req_id: 5,
            result: OpResult::Unavailable
        }
    );
}

#[test]
fn oversized_length_is_refused_before_allocation() {
    let (a, b) = ipc::channel::socketpair().unwrap();
    let mut c: ChildSide = Channel::new(b).unwrap();
    let mut raw = std::fs::File::from(a);
    raw.write_all(&((MAX_FRAME as u32) + 1).to_le_bytes())
        .unwrap();
    match recv_one(&mut c) {
        Err(ChannelError::Codec(CodecError::TooLarge(n))) => assert_eq!(n, MAX_FRAME + 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_bodies_are_refused() {
    // Unknown variant tag.
    assert!(matches!(
        codec::decode::<ParentToVrrp>(&[200, 0, 0, 0]),
        Err(CodecError::Malformed(_))
    ));
    // Truncated body.
    let good = codec::encode(&ParentToVrrp::Ping { seq: 1 }).unwrap();
    assert!(codec::decode::<ParentToVrrp>(&good[4..good.len() - 1]).is_err());
    // Trailing bytes after a whole message.
    let mut long = good[4..].to_vec();
    long.push(0);
    assert!(codec::decode::<ParentToVrrp>(&long).is_err());
    // A vector claiming 2^60 elements must not allocate.
    let mut bomb = vec![7u8, 0, 0, 0]; // VrrpToParent::FullState
    bomb.extend_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(codec::decode::<VrrpToParent>(&bomb).is_err());
    // Through a channel: the error surfaces and nothing is returned.
    let (a, b) = ipc::channel::socketpair().unwrap();
    let mut c: ChildSide = Channel::new(b).unwrap();
    let mut raw = std::fs::File::from(a);
    raw.write_all(&[4, 0, 0, 0, 200, 0, 0, 0]).unwrap();
    assert!(matches!(
        recv_one(&mut c),
        Err(ChannelError::Codec(CodecError::Malformed(_)))
    ));
}

#[test]
fn eof_is_reported() {
    let (p, mut c) = pair();
    drop(p);
    assert!(matches!(c.recv(), Err(ChannelError::Closed)));
}

fn raw_socket(proto: i32) -> Option<OwnedFd> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
    let _ = proto;
    socket(
        AddressFamily::Inet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    )
    .ok()
}

#[test]
fn descriptors_follow_their_manifest() {
    let Some(sock) = raw_socket(1) else {
        eprintln!("skipped: raw sockets need CAP_NET_RAW");
        return;
    };
    let (mut p, mut c) = pair();
    p.send_with_fds(
        &ParentToVrrp::Sockets {
            manifest: vec![FdKind::Icmp4],
        },
        vec![sock],
    )
    .unwrap();
    assert!(matches!(
        recv_one(&mut c).unwrap(),
        ParentToVrrp::Sockets { .. }
    ));
    let fds = c.take_fds();
    assert_eq!(fds.len(), 1);
    assert_eq!(fds[0].0, FdKind::Icmp4);
}

#[test]
fn descriptors_of_the_wrong_kind_or_unannounced_are_refused() {
    // A pipe where a raw socket was announced.
    let (r, _w) = nix::unistd::pipe().unwrap();
    let (mut p, mut c) = pair();
    p.send_with_fds(
        &ParentToVrrp::Sockets {
            manifest: vec![FdKind::RawVrrp4],
        },
        vec![r],
    )
    .unwrap();
    assert!(matches!(recv_one(&mut c), Err(ChannelError::BadFds(_))));
    // A descriptor riding on a message that announces none.
    let (r, _w) = nix::unistd::pipe().unwrap();
    let (mut p, mut c) = pair();
    p.send_with_fds(&ParentToVrrp::Ping { seq: 1 }, vec![r])
        .unwrap();
    assert!(matches!(recv_one(&mut c), Err(ChannelError::BadFds(_))));
}

/// A peer that does not read: frames queue in one buffer, come out whole and in order with
/// the descriptors on their own frame, the bytes exactly `codec::encode`'s, and the
/// buffer is let go once drained.
#[test]
fn a_backlog_arrives_whole_in_order_and_is_released() {
    let (mut p, mut c) = pair();
    let mut seq = 0u64;
    let mut fd_at = None;
    while !p.has_pending_output() || seq < 20_000 {
        if seq == 10_000 {
            if let Some(sock) = raw_socket(1) {
                let m = ParentToVrrp::Sockets {
                    manifest: vec![FdKind::Icmp4],
                };
                p.send_with_fds(&m, vec![sock]).unwrap();
                fd_at = Some(seq);
            }
        }
        p.send(&ParentToVrrp::Ping { seq }).unwrap();
        seq += 1;
    }
    let mut next = 0u64;
    let mut got_fds = false;
    loop {
        match pump(&mut p, &mut c) {
            ParentToVrrp::Ping { seq: s } => {
                assert_eq!(s, next);
                next += 1;
                if next == seq {
                    break;
                }
            }
            ParentToVrrp::Sockets { .. } => {
                assert_eq!(Some(next), fd_at, "the descriptors' frame in its place");
                let fds = c.take_fds();
                assert_eq!(fds.len(), 1);
                got_fds = true;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got_fds, fd_at.is_some());
    assert!(p.flush().unwrap());
    assert!(!p.has_pending_output());
    assert!(p.take_released(), "the drained buffer was let go");
    assert!(!p.take_released());

    // The same frames byte for byte on a raw reader.
    let (a, b) = ipc::channel::socketpair().unwrap();
    let mut q: ParentSide = Channel::new(a).unwrap();
    let mut raw = std::fs::File::from(b);
    let msgs = [ParentToVrrp::Ping { seq: 7 }, ParentToVrrp::Stop];
    let mut bytes = Vec::new();
    for m in &msgs {
        q.send(m).unwrap();
        bytes.extend(codec::encode(m).unwrap());
    }
    let mut buf = vec![0u8; bytes.len()];
    std::io::Read::read_exact(&mut raw, &mut buf).unwrap();
    assert_eq!(buf, bytes);
}

/// A frame far larger than one read (a full state of 20,000 instances) arrives whole,
/// with small frames before and after it.
#[test]
fn a_large_frame_is_read_in_pieces() {
    let (mut p, mut c) = pair();
    let st = |i: u64| InstanceState {
        instance: ObjId(i),
        state: VrrpState::Backup,
        effective_priority: (i % 250) as u8,
    };
    let big: Vec<InstanceState> = (0..20_000).map(st).collect();
    c.send(&VrrpToParent::Pong { seq: 1 }).unwrap();
    c.send(&VrrpToParent::FullState(big.clone())).unwrap();
    c.send(&VrrpToParent::Pong { seq: 2 }).unwrap();
    let got: Vec<VrrpToParent> = (0..3).map(|_| pump(&mut c, &mut p)).collect();
    assert!(matches!(got[0], VrrpToParent::Pong { seq: 1 }));
    match &got[1] {
        VrrpToParent::FullState(v) => assert_eq!(*v, big),
        other => panic!("{other:?}"),
    }
    assert!(matches!(got[2], VrrpToParent::Pong { seq: 2 }));
}

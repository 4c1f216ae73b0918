//! `Channel<Tx, Rx>`: typed frames over a non-blocking Unix stream socket.
//!
//! Every read is a `recvmsg` with room for descriptors, so an fd attached to a frame is never
//! dropped silently; descriptors arriving without a message that announces them, or not
//! matching its manifest, close the channel (fail closed).

use crate::codec::{self, CodecError};
use crate::msg::{FdKind, Manifest};
use nix::cmsg_space;
use nix::sys::socket::{self, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::VecDeque;
use std::io::{IoSlice, IoSliceMut};
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

#[derive(Debug)]
pub enum ChannelError {
    /// The peer closed its end.
    Closed,
    Codec(CodecError),
    /// Descriptors that no message announced, or that do not match the manifest.
    BadFds(String),
    Io(std::io::Error),
}

impl std::fmt::Display for ChannelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChannelError::Closed => f.write_str("peer closed the channel"),
            ChannelError::Codec(e) => write!(f, "{e}"),
            ChannelError::BadFds(e) => write!(f, "descriptor check failed: {e}"),
            ChannelError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<CodecError> for ChannelError {
    fn from(e: CodecError) -> Self {
        ChannelError::Codec(e)
    }
}

impl From<nix::Error> for ChannelError {
    fn from(e: nix::Error) -> Self {
        ChannelError::Io(e.into())
    }
}

/// A queued frame that carries descriptors: its bytes are `obuf[start..end]`, written by a
/// `sendmsg` of their own with the descriptors attached to the first byte.
struct WithFds {
    start: usize,
    end: usize,
    fds: Vec<OwnedFd>,
}

/// Most descriptors one frame may carry.
const MAX_FDS: usize = 16;

/// An input or output buffer above this is not kept once empty (see `recv`, `flush`): the
/// common messages are far smaller (a full state of 1000 VRRP instances is 13 kB).
const KEEP_BUF: usize = 16 << 10;
/// An output buffer above this was a burst (`take_released`).
const BURST_BUF: usize = 64 << 10;

pub struct Channel<Tx, Rx> {
    sock: OwnedFd,
    rbuf: Vec<u8>,
    fds_in: VecDeque<OwnedFd>,
    received: Vec<(FdKind, OwnedFd)>,
    /// Frames not yet written, back to back, from `osent` on: one buffer rather than one
    /// allocation per message (a child's burst of thousands of reports at start-up queued
    /// a 56-byte entry and a small buffer per message, and kept the queue's 224 kB).
    obuf: Vec<u8>,
    osent: usize,
    ofds: VecDeque<WithFds>,
    /// An output buffer above `BURST_BUF` drained and was let go (`take_released`).
    released: bool,
    _dir: PhantomData<fn(Tx) -> Rx>,
}

impl<Tx: Serialize, Rx: DeserializeOwned + Manifest> Channel<Tx, Rx> {
    /// Wrap a connected Unix stream socket (made non-blocking here).
    pub fn new(sock: OwnedFd) -> Result<Self, ChannelError> {
        let fl = nix::fcntl::fcntl(&sock, nix::fcntl::FcntlArg::F_GETFL)?;
        let fl = nix::fcntl::OFlag::from_bits_truncate(fl) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&sock, nix::fcntl::FcntlArg::F_SETFL(fl))?;
        Ok(Channel {
            sock,
            rbuf: Vec::new(),
            fds_in: VecDeque::new(),
            received: Vec::new(),
            obuf: Vec::new(),
            osent: 0,
            ofds: VecDeque::new(),
            released: false,
            _dir: PhantomData,
        })
    }

    /// The child's end, inherited at `CHILD_FD`.
    ///
    /// # Safety
    /// The caller must own descriptor `fd` (the parent put the socket there before exec).
    pub unsafe fn from_inherited(fd: RawFd) -> Result<Self, ChannelError> {
        // SAFETY: ownership of `fd` is the caller's promise (see above).
        Self::new(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Queue a message and try to send it.
    pub fn send(&mut self, msg: &Tx) -> Result<(), ChannelError> {
        self.send_with_fds(msg, Vec::new())
    }

    /// Queue a message with descriptors attached to its first byte.
    pub fn send_with_fds(&mut self, msg: &Tx, fds: Vec<OwnedFd>) -> Result<(), ChannelError> {
        if fds.len() > MAX_FDS {
            return Err(ChannelError::BadFds(format!(
                "{} descriptors in one frame",
                fds.len()
            )));
        }
        self.compact();
        let start = self.obuf.len();
        codec::encode_into(&mut self.obuf, msg)?;
        if !fds.is_empty() {
            let end = self.obuf.len();
            self.ofds.push_back(WithFds { start, end, fds });
        }
        self.flush()?;
        Ok(())
    }

    /// Drop the bytes already written from the front of the output buffer once they are
    /// at least half of it (a peer that never quite catches up must not grow it forever).
    fn compact(&mut self) {
        let k = self.osent;
        if k < 4096 || k * 2 < self.obuf.len() {
            return;
        }
        self.obuf.drain(..k);
        self.osent = 0;
        for f in self.ofds.iter_mut() {
            f.start -= k;
            f.end -= k;
        }
    }

    /// Write what the socket takes. `Ok(true)` when nothing is left queued.
    pub fn flush(&mut self) -> Result<bool, ChannelError> {
        while self.osent < self.obuf.len() {
            // Up to the next frame with descriptors, or that frame alone (they go with
            // its first byte, in a `sendmsg` of its own).
            let (end, with_fds) = match self.ofds.front() {
                Some(f) if f.start == self.osent => (f.end, true),
                Some(f) => (f.start, false),
                None => (self.obuf.len(), false),
            };
            let raw: Vec<RawFd> = match self.ofds.front() {
                Some(f) if with_fds => f.fds.iter().map(|f| f.as_raw_fd()).collect(),
                _ => Vec::new(),
            };
            let iov = [IoSlice::new(&self.obuf[self.osent..end])];
            let cmsg = [ControlMessage::ScmRights(&raw)];
            let cm: &[ControlMessage] = if with_fds { &cmsg } else { &[] };
            match socket::sendmsg::<()>(
                self.sock.as_raw_fd(),
                &iov,
                cm,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(n) => {
                    if with_fds {
                        // The kernel holds its own references now; the rest of the frame
                        // (if the socket took only part) goes without them.
                        self.ofds.pop_front();
                    }
                    self.osent += n;
                }
                Err(nix::Error::EAGAIN) => return Ok(false),
                Err(nix::Error::EPIPE) | Err(nix::Error::ECONNRESET) => {
                    return Err(ChannelError::Closed)
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.obuf.clear();
        self.osent = 0;
        if self.obuf.capacity() > KEEP_BUF {
            self.released |= self.obuf.capacity() > BURST_BUF;
            self.obuf = Vec::new();
        }
        Ok(true)
    }

    /// Whether an output buffer above `BURST_BUF` drained and was let go since the last call (a
    /// burst is over: a moment to give the allocator's free memory back).
    pub fn take_released(&mut self) -> bool {
        std::mem::take(&mut self.released)
    }

    /// Queue bytes that are not a frame: only fault-injection tests use this.
    #[doc(hidden)]
    pub fn send_raw_for_tests(&mut self, bytes: &[u8]) -> Result<(), ChannelError> {
        self.compact();
        self.obuf.extend_from_slice(bytes);
        self.flush()?;
        Ok(())
    }

    pub fn has_pending_output(&self) -> bool {
        self.osent < self.obuf.len()
    }

    /// Read what is available (without blocking) and return the next whole message, if any.
    pub fn recv(&mut self) -> Result<Option<Rx>, ChannelError> {
        loop {
            if let Some(range) = codec::next_frame(&self.rbuf)? {
                let msg: Rx = codec::decode(&self.rbuf[range.clone()])?;
                self.rbuf.drain(..range.end);
                // A snapshot of 10,000 real servers is megabytes (of 1000 VRRP instances,
                // 700 kB; a burst of state reports, as much): keep no such buffer around.
                if self.rbuf.is_empty() && self.rbuf.capacity() > KEEP_BUF {
                    self.rbuf = Vec::new();
                }
                self.take_manifest(&msg)?;
                return Ok(Some(msg));
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Descriptors that came with the last message that had a manifest.
    pub fn take_fds(&mut self) -> Vec<(FdKind, OwnedFd)> {
        std::mem::take(&mut self.received)
    }

    fn take_manifest(&mut self, msg: &Rx) -> Result<(), ChannelError> {
        let kinds = msg.manifest().unwrap_or(&[]);
        if self.fds_in.len() < kinds.len() {
            return Err(ChannelError::BadFds(format!(
                "manifest lists {} descriptors, {} arrived",
                kinds.len(),
                self.fds_in.len()
            )));
        }
        for &k in kinds {
            let fd = self
                .fds_in
                .pop_front()
                .ok_or_else(|| ChannelError::BadFds("missing descriptor".into()))?;
            check_fd(k, fd.as_fd())?;
            self.received.push((k, fd));
        }
        if !self.fds_in.is_empty() && self.rbuf.is_empty() {
            return Err(ChannelError::BadFds(format!(
                "{} descriptors no message announced",
                self.fds_in.len()
            )));
        }
        Ok(())
    }

    /// Bytes the next read asks for: what the frame at the front still lacks, at least
    /// 4 kB and at most 64 kB.
    fn read_size(&self) -> usize {
        let lacks = match self.rbuf.get(..codec::HEADER) {
            Some(&[a, b, c, d]) => codec::frame_len([a, b, c, d])
                .map_or(0, |n| (codec::HEADER + n).saturating_sub(self.rbuf.len())),
            _ => 0,
        };
        lacks.clamp(4 << 10, 64 << 10)
    }

    /// One `recvmsg`, straight into `rbuf` (a 64 kB buffer on the stack kept 64 kB of every
    /// process's stack resident). `Ok(false)` when nothing was available.
    fn fill(&mut self) -> Result<bool, ChannelError> {
        let mut cmsg = cmsg_space!([RawFd; MAX_FDS]);
        let start = self.rbuf.len();
        let want = self.read_size();
        self.rbuf.resize(start + want, 0);
        let got = {
            let mut iov = [IoSliceMut::new(&mut self.rbuf[start..])];
            socket::recvmsg::<()>(
                self.sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .map(|r| {
                let mut fds = Vec::new();
                if let Ok(cmsgs) = r.cmsgs() {
                    for c in cmsgs {
                        if let ControlMessageOwned::ScmRights(list) = c {
                            fds.extend(list);
                        }
                    }
                }
                (r.bytes, fds, r.flags.contains(MsgFlags::MSG_CTRUNC))
            })
        };
        let (n, fds, truncated) = match got {
            Ok(x) => x,
            Err(e) => {
                self.rbuf.truncate(start);
                return match e {
                    nix::Error::EAGAIN => Ok(false),
                    nix::Error::ECONNRESET => Err(ChannelError::Closed),
                    e => Err(e.into()),
                };
            }
        };
        self.rbuf.truncate(start + n.min(want));
        for fd in fds {
            // SAFETY: SCM_RIGHTS just installed this descriptor in our table; we own it.
            self.fds_in.push_back(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        if truncated {
            return Err(ChannelError::BadFds(
                "control data truncated (too many descriptors)".into(),
            ));
        }
        if n == 0 {
            return Err(ChannelError::Closed);
        }
        Ok(true)
    }
}

impl<Tx, Rx> AsRawFd for Channel<Tx, Rx> {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// A connected pair of stream sockets (close-on-exec).
pub fn socketpair() -> Result<(OwnedFd, OwnedFd), ChannelError> {
    Ok(socket::socketpair(
        socket::AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
}

/// The descriptor must be the kind of socket the manifest says.
fn check_fd(kind: FdKind, fd: BorrowedFd<'_>) -> Result<(), ChannelError> {
    use nix::sys::socket::sockopt;
    let ty = socket::getsockopt(&fd, sockopt::SockType)
        .map_err(|e| ChannelError::BadFds(format!("{kind:?}: not a socket ({e})")))?;
    let want = match kind {
        FdKind::Packet
        | FdKind::RawVrrp4
        | FdKind::RawVrrp6
        | FdKind::RawAh4
        | FdKind::Icmp4
        | FdKind::Icmp6 => SockType::Raw,
        FdKind::Bfd4 | FdKind::Bfd6 => SockType::Datagram,
    };
    if ty != want {
        return Err(ChannelError::BadFds(format!(
            "{kind:?}: socket type {ty:?}, expected {want:?}"
        )));
    }
    Ok(())
}

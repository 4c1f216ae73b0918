//! The event loop shell both children share: the handshake, then messages in and replies
//! out on one mio loop, until the parent says stop or goes away.

use crate::channel::{Channel, ChannelError};
use crate::msg::{Hello, Manifest};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use serde::{de::DeserializeOwned, Serialize};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// What a child does after handling a message.
pub enum Step<Tx> {
    Continue(Vec<Tx>),
    /// Send these, then exit.
    Exit(Vec<Tx>),
}

/// How a child's protocol plugs into the shared loop.
pub trait ChildProtocol {
    type Tx: Serialize;
    type Rx: DeserializeOwned + Manifest;
    fn hello(&self) -> Self::Tx;
    fn peer_hello<'a>(&self, msg: &'a Self::Rx) -> Option<&'a Hello>;
    fn handle(&mut self, msg: Self::Rx, now: Instant) -> Step<Self::Tx>;
    /// The earliest time `tick` wants to run.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
    fn tick(&mut self, _now: Instant) -> Vec<Self::Tx> {
        Vec::new()
    }
    /// Sockets the parent handed over (already checked against the message's manifest).
    fn sockets(&mut self, _fds: Vec<(crate::msg::FdKind, std::os::fd::OwnedFd)>) {}
    /// Descriptors (besides the channel) the loop should watch for input.
    fn fds(&self) -> Vec<std::os::fd::RawFd> {
        Vec::new()
    }
    /// One of `fds` is readable.
    fn readable(&mut self, _fd: std::os::fd::RawFd, _now: Instant) -> Vec<Self::Tx> {
        Vec::new()
    }
    /// Register the protocol's own event sources (sockets it opened itself), with tokens
    /// from `OWN_TOKEN_BASE` up; called before every wait.
    fn register(&mut self, _registry: &mio::Registry) {}
    /// An event on one of the protocol's own sources.
    fn event(&mut self, _token: usize, _ev: &mio::event::Event, _now: Instant) -> Vec<Self::Tx> {
        Vec::new()
    }
    /// At most one turn of the loop per this much time: events and due timers gather and
    /// are handled together (fewer wake-ups for a child that starts thousands of probes a
    /// second; its timers get this much slack).
    fn quantum(&self) -> Option<Duration> {
        None
    }
    /// Send what the protocol batched this turn of the loop (before anything goes to the
    /// parent, and before the loop waits).
    fn flush(&mut self) {}
    /// A burst is over (`BURST` or more messages to or from the parent in one turn of the
    /// loop, or an output buffer above 64 kB drained): what it allocated is free again.
    fn burst_over(&mut self) {}
}

/// Messages in one turn of the loop that make a burst (`ChildProtocol::burst_over`).
pub const BURST: usize = 1024;

/// First token of the sources a protocol registers itself (`ChildProtocol::register`).
pub const OWN_TOKEN_BASE: usize = 1 << 32;

#[derive(Debug)]
pub enum ChildError {
    Channel(ChannelError),
    Handshake(String),
    Io(std::io::Error),
}

impl std::fmt::Display for ChildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChildError::Channel(e) => write!(f, "channel: {e}"),
            ChildError::Handshake(e) => write!(f, "handshake: {e}"),
            ChildError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<ChannelError> for ChildError {
    fn from(e: ChannelError) -> Self {
        ChildError::Channel(e)
    }
}

impl From<std::io::Error> for ChildError {
    fn from(e: std::io::Error) -> Self {
        ChildError::Io(e)
    }
}

const CHANNEL: Token = Token(0);
/// Tokens of the child's own descriptors: this plus the descriptor number.
const FD_TOKEN_BASE: usize = 1000;

/// Run a child until the parent stops it (`Ok`) or the channel fails (`Err`).
pub fn run<P: ChildProtocol>(
    mut ch: Channel<P::Tx, P::Rx>,
    mut proto: P,
) -> Result<(), ChildError> {
    let mut poll = Poll::new()?;
    let fd = ch.as_raw_fd();
    poll.registry().register(
        &mut SourceFd(&fd),
        CHANNEL,
        Interest::READABLE | Interest::WRITABLE,
    )?;
    let mut events = Events::with_capacity(256);
    ch.send(&proto.hello())?;
    let mut greeted = false;
    let mut watched: Vec<std::os::fd::RawFd> = Vec::new();
    // The channel is read until it would block, and again only after it says readable.
    let mut chan_ready = true;
    loop {
        // Messages sent and received this turn.
        let mut sent = 0usize;
        // Watch the child's own descriptors (sockets handed over, for instance).
        let want = proto.fds();
        for fd in want.iter().filter(|fd| !watched.contains(fd)) {
            poll.registry().register(
                &mut SourceFd(fd),
                Token(FD_TOKEN_BASE + *fd as usize),
                Interest::READABLE,
            )?;
        }
        watched = want;
        proto.register(poll.registry());
        let timeout = proto
            .next_deadline()
            .map(|d| d.saturating_duration_since(Instant::now()));
        match poll.poll(
            &mut events,
            timeout.map(|t| t.max(Duration::from_millis(1))),
        ) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        let now = Instant::now();
        for ev in events.iter() {
            if ev.token() == CHANNEL && (ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
                chan_ready = true;
            } else if ev.token().0 >= OWN_TOKEN_BASE {
                for m in proto.event(ev.token().0, ev, now) {
                    ch.send(&m)?;
                    sent += 1;
                }
            } else if ev.token().0 >= FD_TOKEN_BASE {
                let fd = (ev.token().0 - FD_TOKEN_BASE) as std::os::fd::RawFd;
                for m in proto.readable(fd, now) {
                    ch.send(&m)?;
                    sent += 1;
                }
            }
        }
        for m in proto.tick(now) {
            ch.send(&m)?;
            sent += 1;
        }
        proto.flush();
        ch.flush()?;
        while chan_ready {
            let Some(msg) = ch.recv()? else {
                chan_ready = false;
                break;
            };
            if !greeted {
                let Some(h) = proto.peer_hello(&msg) else {
                    return Err(ChildError::Handshake("first message is not Hello".into()));
                };
                if *h != Hello::ours() {
                    return Err(ChildError::Handshake(format!(
                        "peer is {h:?}, we are {:?}",
                        Hello::ours()
                    )));
                }
                greeted = true;
                if test_fault() == Some("malformed-frame") {
                    // A frame whose body is no message: the parent must refuse it.
                    ch.send_raw_for_tests(&[4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])?;
                }
                continue;
            }
            sent += 1;
            let fds = ch.take_fds();
            if !fds.is_empty() {
                proto.sockets(fds);
            }
            match proto.handle(msg, now) {
                Step::Continue(out) => {
                    for m in out {
                        ch.send(&m)?;
                        sent += 1;
                    }
                }
                Step::Exit(out) => {
                    proto.flush();
                    for m in out {
                        ch.send(&m)?;
                    }
                    // Best effort, bounded: the parent may already be gone.
                    let deadline = Instant::now() + Duration::from_secs(2);
                    while ch.has_pending_output() {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero()
                            || poll.poll(&mut events, Some(left)).is_err()
                            || ch.flush().is_err()
                        {
                            break;
                        }
                    }
                    return Ok(());
                }
            }
        }
        proto.flush();
        ch.flush()?;
        if ch.take_released() || sent >= BURST {
            proto.burst_over();
        }
        if let Some(q) = proto.quantum() {
            let spent = now.elapsed();
            if spent < q {
                std::thread::sleep(q - spent);
            }
        }
    }
}

/// Fault injection for the integration tests (debug builds only): the value of
/// `KEEPALIVED_RS_TEST_FAULT` when it names this child's role, as `ROLE:FAULT` with FAULT
/// `malformed-frame` or `unknown-id`.
pub fn test_fault() -> Option<&'static str> {
    if !cfg!(debug_assertions) {
        return None;
    }
    static FAULT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    FAULT
        .get_or_init(|| {
            let v = std::env::var("KEEPALIVED_RS_TEST_FAULT").ok()?;
            let (role, fault) = v.split_once(':')?;
            (std::env::args().nth(2).as_deref() == Some(role)).then(|| fault.to_string())
        })
        .as_deref()
}

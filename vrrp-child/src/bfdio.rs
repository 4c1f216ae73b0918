//! The BFD sessions' I/O in the VRRP child (keepalived runs them in a BFD child and pipes
//! state events to VRRP; here the events go straight to the trackers). The parent hands
//! over the sockets bound to UDP 3784 (`FdKind::Bfd4`, `FdKind::Bfd6`); each session opens
//! its own send socket, bound to a source port in 49152–65535 (RFC 5881 §4), with TTL 255
//! (hop limit 64 for IPv6, as keepalived). All protocol logic is in [`crate::bfd`].

use crate::bfd::{self, Action, Datagram, Random, Sessions, XorShift};
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

pub struct Bfd {
    /// The receive sockets, IPv4 and IPv6.
    rx: Option<UdpSocket>,
    rx6: Option<UdpSocket>,
    sessions: Sessions,
    /// Per session (same index): its send socket, and whether the last send failed.
    tx: Vec<Tx>,
    /// Per session: whether VRRP hears its events (keepalived: unless `checker` alone),
    /// and whether the checker does (unless `vrrp` alone).
    to_vrrp: Vec<bool>,
    to_checker: Vec<bool>,
    rng: XorShift,
    /// What the trackers know: per `bfd_instance` name, Up or not (Down from the start,
    /// as keepalived's `bfd_up = false`). Unknown (`None`, counting for nothing) after a
    /// restart of this child until the session comes up or `RESUME_GRACE` idle intervals
    /// pass: the sessions start again from Down, and the instances the parent resumed must
    /// not drop to FAULT meanwhile.
    up: Vec<(String, Option<bool>)>,
    /// When an unknown level becomes Down.
    grace: Vec<(String, Instant)>,
    /// A configuration came before (the parent's socket, if any, came with the first).
    loaded: bool,
}

impl Default for Bfd {
    fn default() -> Self {
        let mut seed = [0u8; 8];
        // SAFETY: getrandom writes at most the length given into the buffer.
        let n = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
        let mut s = u64::from_ne_bytes(seed);
        if n != 8 {
            s = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64);
        }
        Bfd {
            rx: None,
            rx6: None,
            sessions: Sessions::default(),
            tx: Vec::new(),
            to_vrrp: Vec::new(),
            to_checker: Vec::new(),
            rng: XorShift(s | 1),
            up: Vec::new(),
            grace: Vec::new(),
            loaded: false,
        }
    }
}

/// Idle transmit intervals a restarted child waits for a session to come back up before
/// counting it down: enough for the Down, Init, Up exchange at the idle rate.
pub const RESUME_GRACE: u32 = 4;

/// A send socket and whether its last send failed.
type Tx = (Option<UdpSocket>, bool);
/// What a send socket depends on: session name, source address, TTL, IPv6.
type TxKey = (String, Option<IpAddr>, u8, bool);

fn key(c: &bfd::Config) -> TxKey {
    (c.name.clone(), c.source, c.ttl, c.neighbor.is_ipv6())
}

/// Changes of a session's level: (instance name, up). Who hears of them is
/// [`Bfd::to_vrrp`] and [`Bfd::to_checker`].
pub type Changes = Vec<(String, bool)>;

/// A send socket: UDP from `source` (or any address) and a free port of 49152–65535,
/// starting at a random one; TTL as configured.
fn open_tx(cfg: &bfd::Config, rng: &mut dyn Random) -> std::io::Result<UdpSocket> {
    let any = if cfg.neighbor.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    let ip = cfg.source.unwrap_or(any);
    let span = u32::from(bfd::SRC_PORT_MAX - bfd::SRC_PORT_MIN) + 1;
    let first = rng.next_u32() % span;
    let mut last = None;
    for k in 0..span {
        let port = bfd::SRC_PORT_MIN + ((first + k) % span) as u16;
        match UdpSocket::bind(SocketAddr::new(ip, port)) {
            Ok(s) => {
                if cfg.neighbor.is_ipv4() {
                    s.set_ttl(u32::from(cfg.ttl))?;
                } else {
                    socket2::SockRef::from(&s).set_unicast_hops_v6(u32::from(cfg.ttl))?;
                }
                s.set_nonblocking(true)?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::AddrInUse)))
}

impl Bfd {
    pub fn set_socket(&mut self, v6: bool, fd: OwnedFd) {
        if v6 {
            self.rx6 = Some(UdpSocket::from(fd));
        } else {
            self.rx = Some(UdpSocket::from(fd));
        }
    }

    pub fn fds(&self) -> Vec<RawFd> {
        self.rx
            .iter()
            .chain(self.rx6.iter())
            .filter(|_| !self.sessions.list.is_empty())
            .map(|s| s.as_raw_fd())
            .collect()
    }

    /// Whether a `bfd_instance` is Up, for `track_bfd`: one whose events do not go to VRRP
    /// counts as down.
    pub fn level(&self, name: &str) -> Option<bool> {
        let e = self.up.iter().find(|(n, _)| n == name)?;
        if self.to_vrrp(name) {
            e.1
        } else {
            Some(false)
        }
    }

    fn session_flag(&self, name: &str, flags: &[bool]) -> bool {
        self.sessions
            .list
            .iter()
            .position(|s| s.cfg.name == name)
            .and_then(|i| flags.get(i).copied())
            .unwrap_or(false)
    }

    /// The `keepalived_bfd.data` text (SIGUSR1), or `None` without sessions.
    pub fn dump(&self, now: Instant) -> Option<String> {
        if self.sessions.list.is_empty() {
            return None;
        }
        let flag = |flags: &[bool], i: usize| flags.get(i).copied().unwrap_or(false);
        Some(self.sessions.dump(now, std::time::SystemTime::now(), |i| {
            (flag(&self.to_vrrp, i), flag(&self.to_checker, i))
        }))
    }

    /// Whether the session's events go to VRRP's `track_bfd`.
    pub fn to_vrrp(&self, name: &str) -> bool {
        self.session_flag(name, &self.to_vrrp)
    }

    /// Whether they go to the checker's BFD_CHECK.
    pub fn to_checker(&self, name: &str) -> bool {
        self.session_flag(name, &self.to_checker)
    }

    /// The known level of every running session whose events go to the checker (one still
    /// unknown after a restart of this child is left out: the parent keeps the last one).
    pub fn checker_levels(&self) -> Vec<(String, bool)> {
        self.sessions
            .list
            .iter()
            .zip(&self.to_checker)
            .filter(|(_, c)| **c)
            .filter_map(|(s, _)| {
                let up = self.up.iter().find(|(n, _)| *n == s.cfg.name)?.1?;
                Some((s.cfg.name.clone(), up))
            })
            .collect()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.sessions
            .next_deadline()
            .into_iter()
            .chain(self.grace.iter().map(|g| g.1))
            .min()
    }

    /// Sessions for a configuration (a reload keeps the state of a session of the same
    /// name); new ones start at once. `resuming`: the parent handed over instance states
    /// (this child restarted), so new sessions get the grace of `up`.
    pub fn configure(
        &mut self,
        conf: &[conf::model::BfdInstance],
        now: Instant,
        resuming: bool,
        log: fn(&str),
    ) {
        let mut cfgs = Vec::new();
        let mut vrrp = Vec::new();
        let mut checker = Vec::new();
        for b in conf {
            match bfd::Config::from_conf(b) {
                Some(c)
                    if cfgs.iter().any(|o: &bfd::Config| {
                        o.neighbor == c.neighbor && o.source == c.source
                    }) =>
                {
                    log(&match c.source {
                        Some(s) => format!(
                            "Configuration error: BFD instance {} has duplicate source/neighbor address {s}/{}, ignoring instance",
                            c.name, c.neighbor
                        ),
                        None => format!(
                            "Configuration error: BFD instance {} has duplicate neighbor address {}, ignoring instance",
                            c.name, c.neighbor
                        ),
                    });
                }
                Some(c) => {
                    cfgs.push(c);
                    vrrp.push(b.to_vrrp());
                    checker.push(b.to_checker());
                }
                None => log(&format!(
                    "Configuration error: BFD instance {} has no neighbor address - ignoring",
                    b.name
                )),
            }
        }
        let before: Vec<String> = self
            .sessions
            .list
            .iter()
            .map(|s| s.cfg.name.clone())
            .collect();
        // A send socket is kept for a session of the same name, source and TTL.
        let mut old_tx: Vec<(TxKey, Tx)> = self
            .sessions
            .list
            .iter()
            .map(|s| key(&s.cfg))
            .zip(std::mem::take(&mut self.tx))
            .collect();
        self.sessions.configure(cfgs, &mut self.rng);
        self.to_vrrp = vrrp;
        self.to_checker = checker;
        let mut fresh = Vec::new();
        for (i, s) in self.sessions.list.iter_mut().enumerate() {
            let kept = old_tx
                .iter()
                .position(|(k, _)| *k == key(&s.cfg))
                .map(|k| old_tx.swap_remove(k).1);
            let sock = match kept {
                Some(t) if t.0.is_some() => t,
                _ => match open_tx(&s.cfg, &mut self.rng) {
                    Ok(t) => (Some(t), false),
                    Err(e) => {
                        log(&format!("({}) socket() error ({e})", s.cfg.name));
                        log(&format!(
                            "({}) Unable to open output socket, disabling instance",
                            s.cfg.name
                        ));
                        (None, false)
                    }
                },
            };
            if !before.contains(&s.cfg.name) {
                fresh.push(i);
            }
            if sock.0.is_none() && s.state != bfd::State::AdminDown {
                let mut out = Vec::new();
                s.admin_down(&mut out);
                for a in out {
                    if let Action::Log(l) = a {
                        log(&l);
                    }
                }
            }
            self.tx.push(sock);
        }
        self.up.retain(|(n, _)| conf.iter().any(|b| b.name == *n));
        self.grace
            .retain(|(n, _)| conf.iter().any(|b| b.name == *n));
        for b in conf {
            if self.up.iter().any(|(n, _)| *n == b.name) {
                continue;
            }
            if resuming {
                self.up.push((b.name.clone(), None));
                let idle = Duration::from_millis(u64::from(b.idle_tx.max(1)));
                self.grace.push((b.name.clone(), now + idle * RESUME_GRACE));
            } else {
                self.up.push((b.name.clone(), Some(false)));
            }
        }
        // No socket from the parent (a reload brought the first bfd_instance of a family):
        // port 3784 needs no privilege.
        let want = |v6: bool| {
            self.sessions
                .list
                .iter()
                .any(|s| s.cfg.neighbor.is_ipv6() == v6)
        };
        let (want4, want6) = (want(false), want(true));
        if self.loaded && want4 && self.rx.is_none() {
            match open_rx(false) {
                Ok(s) => self.rx = Some(s),
                Err(e) => log(&format!("Unable to open listening socket ({e})")),
            }
        }
        if self.loaded && want6 && self.rx6.is_none() {
            match open_rx(true) {
                Ok(s) => self.rx6 = Some(s),
                Err(e) => log(&format!("Unable to open listening socket ({e})")),
            }
        }
        self.loaded = true;
        let mut out = Vec::new();
        for i in fresh {
            let mut v = Vec::new();
            self.sessions.list[i].start(now, &mut self.rng, &mut v);
            out.extend(v.into_iter().map(|a| (i, a)));
        }
        self.apply(out, log);
    }

    /// Carry out the sessions' actions; the changes the trackers must hear.
    fn apply(&mut self, out: bfd::Out, log: fn(&str)) -> Changes {
        let mut changes = Vec::new();
        for (i, a) in out {
            let Some(s) = self.sessions.list.get(i) else {
                continue;
            };
            match a {
                Action::Log(l) => log(&l),
                Action::Send(p) => {
                    let Some((Some(sock), err)) = self.tx.get_mut(i) else {
                        continue;
                    };
                    let to = SocketAddr::new(s.cfg.neighbor, bfd::PORT);
                    match sock.send_to(&p.encode(), to) {
                        Ok(_) => *err = false,
                        Err(e) => {
                            if !*err {
                                log(&format!("sendto() error ({e})"));
                                log(&format!("({}) Error sending packet", s.cfg.name));
                            }
                            *err = true;
                        }
                    }
                }
                Action::Event { up } => {
                    let name = s.cfg.name.clone();
                    if let Some(e) = self.up.iter_mut().find(|(n, _)| *n == name) {
                        // While unknown, only Up counts (Down is the fresh start).
                        if e.1 != Some(up) && (up || e.1.is_some()) {
                            e.1 = Some(up);
                            changes.push((name.clone(), up));
                        }
                        if up {
                            self.grace.retain(|(n, _)| *n != name);
                        }
                    }
                }
            }
        }
        changes
    }

    pub fn tick(&mut self, now: Instant, log: fn(&str)) -> Changes {
        if self.next_deadline().is_none_or(|t| t > now) {
            return Vec::new();
        }
        let mut out = Vec::new();
        self.sessions.tick(now, &mut self.rng, &mut out);
        let mut changes = self.apply(out, log);
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.grace)
            .into_iter()
            .partition(|g| g.1 <= now);
        self.grace = keep;
        for (name, _) in due {
            if let Some(e) = self.up.iter_mut().find(|(n, _)| *n == name) {
                if e.1.is_none() {
                    e.1 = Some(false);
                    changes.push((name, false));
                }
            }
        }
        changes
    }

    /// Read every waiting control packet.
    pub fn readable(&mut self, fd: RawFd, now: Instant, log: fn(&str)) -> Changes {
        let mut changes = Vec::new();
        let v6 = self.rx6.as_ref().is_some_and(|s| s.as_raw_fd() == fd);
        // Longer than any length field can say: a truncated datagram fails decoding.
        let mut buf = [0u8; 256];
        while let Some((len, src, dst, ttl)) = if v6 {
            recv6(fd, &mut buf)
        } else {
            recv(fd, &mut buf)
        } {
            let d = Datagram {
                buf: &buf[..len],
                src,
                dst,
                ttl,
            };
            let mut out = Vec::new();
            // keepalived reports discarded packets only with -D (detailed logging).
            let _ = self.sessions.receive(&d, now, &mut self.rng, &mut out);
            changes.extend(self.apply(out, log));
        }
        changes
    }
}

fn open_rx(v6: bool) -> std::io::Result<UdpSocket> {
    use nix::sys::socket::{setsockopt, sockopt};
    use socket2::{Domain, Protocol, Socket, Type};
    let s = if v6 {
        let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        s.set_only_v6(true)?;
        setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true)?;
        setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true)?;
        s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, bfd::PORT)).into())?;
        s
    } else {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        setsockopt(&s, sockopt::Ipv4RecvTtl, &true)?;
        setsockopt(&s, sockopt::Ipv4PacketInfo, &true)?;
        s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, bfd::PORT)).into())?;
        s
    };
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// One datagram with its source, destination (IP_PKTINFO) and TTL (IP_RECVTTL, 0 when the
/// kernel gave none); `None` when nothing is waiting.
fn recv(fd: RawFd, buf: &mut [u8]) -> Option<(usize, IpAddr, Option<IpAddr>, u8)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrIn};
    let mut cmsg = nix::cmsg_space!(libc::c_int, libc::in_pktinfo);
    let mut iov = [IoSliceMut::new(buf)];
    let m = recvmsg::<SockaddrIn>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT).ok()?;
    let src = IpAddr::V4(m.address?.ip());
    let mut dst = None;
    let mut ttl = 0u8;
    if let Ok(cm) = m.cmsgs() {
        for c in cm {
            match c {
                ControlMessageOwned::Ipv4Ttl(t) => ttl = t.clamp(0, 255) as u8,
                ControlMessageOwned::Ipv4PacketInfo(pi) => {
                    dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr))))
                }
                _ => {}
            }
        }
    }
    if m.flags.contains(MsgFlags::MSG_TRUNC) {
        return Some((buf.len(), src, dst, ttl));
    }
    Some((m.bytes, src, dst, ttl))
}

/// `recv` for IPv6: the hop limit (IPV6_RECVHOPLIMIT) and destination (IPV6_RECVPKTINFO).
fn recv6(fd: RawFd, buf: &mut [u8]) -> Option<(usize, IpAddr, Option<IpAddr>, u8)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrIn6};
    let mut cmsg = nix::cmsg_space!(libc::c_int, libc::in6_pktinfo);
    let mut iov = [IoSliceMut::new(buf)];
    let m = recvmsg::<SockaddrIn6>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT).ok()?;
    let src = IpAddr::V6(m.address?.ip());
    let mut dst = None;
    let mut ttl = 0u8;
    if let Ok(cm) = m.cmsgs() {
        for c in cm {
            match c {
                ControlMessageOwned::Ipv6HopLimit(t) => ttl = t.clamp(0, 255) as u8,
                ControlMessageOwned::Ipv6PacketInfo(pi) => {
                    dst = Some(IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)))
                }
                _ => {}
            }
        }
    }
    if m.flags.contains(MsgFlags::MSG_TRUNC) {
        return Some((buf.len(), src, dst, ttl));
    }
    Some((m.bytes, src, dst, ttl))
}

//! Probes in flight: non-blocking TCP connects and HTTP GETs on the child's mio loop, each
//! with its deadline. The HTTP request and response handling are pure functions
//! (`http_request`, `HttpReply`), shared with `genhash`-style digests.

use crate::engine::{BodyRegex, HttpUrl, Probe};
use md5::{Digest, Md5};
use mio::net::{TcpStream, UdpSocket};
use mio::{Interest, Registry, Token};
use socket2::{Domain, Socket, Type};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// keepalived's request: `GET <path> HTTP/1.x`, its User-Agent, `Connection: close` for
/// 1.0C and 1.1, then `Host:`.
pub fn http_request(path: &str, host: &str, protocol: &str) -> Vec<u8> {
    let (version, close) = match protocol {
        "1.1" => ("1.1", true),
        "1.0C" => ("1.0", true),
        _ => ("1.0", false),
    };
    let mut r = format!("GET {path} HTTP/{version}\r\nUser-Agent: KeepAliveClient\r\n");
    if close {
        r.push_str("Connection: close\r\n");
    }
    r.push_str(&format!("Host: {host}\r\n\r\n"));
    r.into_bytes()
}

/// A response read as it streams in: the status line and headers, then the body hashed.
#[derive(Default)]
pub struct HttpReply {
    head: Vec<u8>,
    pub status: Option<u16>,
    content_length: Option<usize>,
    body_len: usize,
    md5: Md5,
    /// A malformed or oversized header.
    pub bad: bool,
    /// The url's regex, matched as the body streams in.
    scan: Option<Scan>,
}

const MAX_HEAD: usize = 64 * 1024;

/// keepalived's read buffer (`MAX_BUFFER_LENGTH`): what of the body is kept between pieces,
/// so a match spanning two reads is found.
const REGEX_KEEP: usize = 4096;

/// A body regex over a streamed body: the last `REGEX_KEEP` bytes and each new piece are
/// searched together; offsets count from the start of the body.
struct Scan {
    re: BodyRegex,
    buf: Vec<u8>,
    /// Body offset of `buf[0]`.
    base: usize,
    /// Body offset of the first newline, for `firstline`.
    first_nl: Option<usize>,
    matched: bool,
    /// No match can count any more (past max_offset, or past the first line).
    done: bool,
}

impl Scan {
    fn feed(&mut self, data: &[u8]) {
        if self.matched || self.done || data.is_empty() {
            return;
        }
        if self.first_nl.is_none() {
            if let Some(p) = data.iter().position(|&b| b == b'\n') {
                self.first_nl = Some(self.base + self.buf.len() + p);
            }
        }
        self.buf.extend_from_slice(data);
        self.search(false);
        // Keep REGEX_KEEP bytes, and one more before them as context (so `^` and `\b` see
        // the byte before, not a start of the body).
        if self.buf.len() > REGEX_KEEP + 1 {
            let cut = self.buf.len() - REGEX_KEEP - 1;
            self.buf.drain(..cut);
            self.base += cut;
        }
        if self.re.max.is_some_and(|m| self.base > m) {
            self.done = true;
        }
    }

    /// The body is complete: a match may now end where it ends.
    fn finish(&mut self) {
        if !self.matched && !self.done {
            self.search(true);
        }
    }

    /// The leftmost match from min_offset; one that reaches the end of what has arrived
    /// waits for more (the next read may extend it, or undo a `$`), unless `last`.
    fn search(&mut self, last: bool) {
        let from = self
            .re
            .min
            .saturating_sub(self.base)
            .max(usize::from(self.base > 0));
        let Some((start, end)) = self.re.re.find_at(&self.buf, from) else {
            return;
        };
        if end == self.buf.len() && !last {
            return;
        }
        let at = self.base + start;
        let limit = match (self.re.max, self.re.firstline.then_some(self.first_nl)) {
            (Some(a), Some(Some(b))) => Some(a.min(b)),
            (a, Some(b)) => a.or(b),
            (a, None) => a,
        };
        // The leftmost match is past the limit: so is every later one.
        match limit {
            Some(l) if at > l => self.done = true,
            _ => self.matched = true,
        }
    }
}

impl HttpReply {
    /// A reply for `url`: with its regex, the body is matched as it streams in.
    pub fn for_url(url: &HttpUrl) -> Self {
        HttpReply {
            scan: url.regex.clone().map(|re| Scan {
                re,
                buf: Vec::new(),
                base: 0,
                first_nl: None,
                matched: false,
                done: false,
            }),
            ..Default::default()
        }
    }

    /// Feed bytes; `true` once the whole body (by Content-Length) has arrived.
    pub fn feed(&mut self, data: &[u8]) -> bool {
        let body: &[u8] = if self.status.is_none() {
            self.head.extend_from_slice(data);
            let Some(end) = self.head.windows(4).position(|w| w == b"\r\n\r\n") else {
                if self.head.len() > MAX_HEAD {
                    self.bad = true;
                    return true;
                }
                return false;
            };
            let head = String::from_utf8_lossy(&self.head[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let status = lines
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|c| c.parse::<u16>().ok());
            let Some(status) = status else {
                self.bad = true;
                return true;
            };
            self.status = Some(status);
            for l in lines {
                if let Some((k, v)) = l.split_once(':') {
                    if k.trim().eq_ignore_ascii_case("content-length") {
                        self.content_length = v.trim().parse().ok();
                    }
                }
            }
            let rest = self.head.split_off(end + 4);
            self.md5.update(&rest);
            self.body_len += rest.len();
            if let Some(s) = &mut self.scan {
                s.feed(&rest);
            }
            return self.complete();
        } else {
            data
        };
        self.md5.update(body);
        self.body_len += body.len();
        if let Some(s) = &mut self.scan {
            s.feed(body);
        }
        self.complete()
    }

    fn complete(&self) -> bool {
        self.content_length.is_some_and(|n| self.body_len >= n)
    }

    /// The body's MD5, lower-case hex (what keepalived's `digest` and genhash print).
    pub fn digest(self) -> String {
        self.md5
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The verdict on one URL's reply.
pub fn judge(url: &HttpUrl, reply: HttpReply) -> Result<(), String> {
    if reply.bad {
        return Err("malformed HTTP reply".into());
    }
    let Some(status) = reply.status else {
        return Err("no HTTP reply".into());
    };
    if !url.status.iter().any(|&(a, b)| (a..=b).contains(&status)) {
        return Err(format!(
            "HTTP status code error to {} , status_code [{status}]",
            url.path
        ));
    }
    let mut reply = reply;
    let matched = reply.scan.as_mut().map(|s| {
        s.finish();
        s.matched
    });
    if let Some(want) = &url.digest {
        let got = reply.digest();
        if &got != want {
            return Err(format!("MD5 digest error to {}, MD5SUM [{got}]", url.path));
        }
    }
    // check_http.c: after the digest, "Regex match failed" when the match is (or with
    // regex_no_match is not) missing.
    if let (Some(m), Some(re)) = (matched, &url.regex) {
        if m == re.no_match {
            return Err(format!("Regex match failed to {}", url.path));
        }
    }
    Ok(())
}

enum Phase {
    Connecting,
    Writing {
        buf: Vec<u8>,
        at: usize,
    },
    Reading(HttpReply),
    /// SMTP: `stage` 0 = waiting for the 220 banner, 1 = for the 250 to HELO.
    Smtp {
        stage: u8,
        inbuf: Vec<u8>,
    },
    /// UDP and DNS: the datagram goes out when the socket is writable, then the reply.
    DgramSend,
    DgramWait {
        id: u16,
    },
    /// An smtp_alert mail.
    Mail(Box<ipc::smtp::Conversation>),
    /// SSL_GET: the request and the reply through TLS.
    Tls {
        conn: Box<rustls::ClientConnection>,
        reply: HttpReply,
    },
}

enum Sock {
    Tcp(TcpStream),
    Udp(UdpSocket),
}

/// The `check` of a flight that carries a mail, not a probe.
pub const MAIL: usize = usize::MAX;

pub struct Flight {
    pub check: usize,
    pub deadline: Instant,
    pub timeout: Duration,
    probe: Probe,
    /// Index of the URL being fetched (HTTP).
    url: usize,
    sock: Sock,
    phase: Phase,
    registered: bool,
    /// The loop token of a socket taken from the `Pool` (registered under it already).
    pub token: Option<usize>,
}

/// Idle TCP_CHECK sockets: disconnected (`connect(AF_UNSPEC)`, which resets an established
/// connection as the zero linger close did) and still registered with the loop under
/// their token. A check takes one and connects it again: two system calls per check
/// (disconnect, connect) instead of five (socket, setsockopt, connect, epoll_ctl, close).
/// A stale readiness of a reused socket cannot mislead: epoll reports a socket's state
/// when it is harvested, so an idle socket's event finds no flight and is dropped, and a
/// reused one's reports the new connection.
#[derive(Default)]
pub struct Pool {
    idle: Vec<(TcpStream, usize, bool)>,
}

impl Pool {
    /// More idle sockets than this are closed (a burst of timeouts needs many at once).
    const MAX_IDLE: usize = 1024;

    fn take(&mut self, v6: bool) -> Option<(TcpStream, usize)> {
        let i = self.idle.iter().rposition(|(_, _, f)| *f == v6)?;
        let (s, t, _) = self.idle.swap_remove(i);
        Some((s, t))
    }

    /// Keep a finished flight's socket for the next check, if it is a plain TCP_CHECK one.
    pub fn put(&mut self, f: Flight, token: usize) {
        if self.idle.len() >= Self::MAX_IDLE || f.check == MAIL || !f.registered {
            return;
        }
        let Probe::Tcp { target, bind: None } = f.probe else {
            return;
        };
        let Sock::Tcp(s) = f.sock else { return };
        // SAFETY: sockaddr is plain data; AF_UNSPEC with its size asks connect(2) to
        // dissolve the association of our own socket.
        let ok = unsafe {
            let mut sa: libc::sockaddr = std::mem::zeroed();
            sa.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
            libc::connect(
                std::os::fd::AsRawFd::as_raw_fd(&s),
                &sa,
                std::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
            ) == 0
        };
        if ok {
            self.idle.push((s, token, target.is_ipv6()));
        }
    }

    pub fn len(&self) -> usize {
        self.idle.len()
    }

    pub fn is_empty(&self) -> bool {
        self.idle.is_empty()
    }
}

/// How a probe step ended.
pub enum Outcome {
    Pending,
    Done(Result<(), String>),
}

fn socket(
    target: SocketAddr,
    bind: Option<SocketAddr>,
    ty: Type,
    hold_ack: bool,
) -> std::io::Result<Socket> {
    // Non-blocking and close-on-exec from the start: no fcntl calls per probe.
    let s = Socket::new(
        Domain::for_address(target),
        ty.nonblocking().cloexec(),
        None,
    )?;
    if let Some(b) = bind {
        s.bind(&b.into())?;
    }
    if hold_ack {
        hold_final_ack(&s)?;
    }
    match s.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(s)
}

/// A TCP_CHECK only needs the SYN-ACK: connect(2) completes on it, which is keepalived's
/// test too. With TCP_DEFER_ACCEPT set on a connecting socket, Linux holds the handshake's
/// last ACK back (for data to carry it); the check then resets the half-open connection
/// at once, so the real server drops its request socket instead of creating a connection,
/// queueing it for accept(2) and tearing it down again: about half of the kernel's work
/// per check, on both hosts, and no connection the real server's application sees.
fn hold_final_ack(s: &Socket) -> std::io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: a valid socket and an int option of the size given.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(s),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn connect(
    target: SocketAddr,
    bind: Option<SocketAddr>,
    hold_ack: bool,
) -> std::io::Result<TcpStream> {
    let s = socket(target, bind, Type::STREAM, hold_ack)?;
    // Close with a reset, as HAProxy's checks do: no FIN handshake and no TIME_WAIT socket
    // left on the director per check (10,000 checks every 5 s keep ~20,000 of them).
    s.set_linger(Some(Duration::ZERO))?;
    Ok(TcpStream::from_std(s.into()))
}

fn target_of(p: &Probe) -> Option<(SocketAddr, Option<SocketAddr>)> {
    match p {
        Probe::Tcp { target, bind }
        | Probe::Http { target, bind, .. }
        | Probe::Smtp { target, bind, .. }
        | Probe::Dns { target, bind, .. }
        | Probe::Udp { target, bind, .. } => Some((*target, *bind)),
        Probe::Misc { .. } | Probe::Ping { .. } => None,
    }
}

/// A DNS query: our id, RD, one question of `qtype` IN for `name`.
pub fn dns_query(id: u16, qtype: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes());
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let l = &label.as_bytes()[..label.len().min(63)];
        q.push(l.len() as u8);
        q.extend_from_slice(l);
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// keepalived's check of a DNS reply: long enough, our id, a response, RCODE 0.
pub fn dns_reply_ok(id: u16, r: &[u8]) -> Result<(), String> {
    if r.len() < 12 {
        return Err(format!("too small message. ({} bytes)", r.len()));
    }
    if u16::from_be_bytes([r[0], r[1]]) != id {
        return Err("ID does not match".into());
    }
    let flags = u16::from_be_bytes([r[2], r[3]]);
    if flags & 0x8000 == 0 {
        return Err("receive query message?".into());
    }
    match flags & 0xf {
        0 => Ok(()),
        rc => Err(format!("read error occurred. (rcode = {rc})")),
    }
}

/// A UDP reply against `require_reply`'s nibble pattern and the length bounds.
pub fn udp_reply_ok(pat: &[Option<u8>], min: usize, max: usize, r: &[u8]) -> Result<(), String> {
    if r.len() < min || r.len() > max {
        return Err(format!("reply length {} outside {min}..{max}", r.len()));
    }
    for (i, want) in pat.iter().enumerate() {
        let Some(b) = r.get(i / 2) else {
            return Err("reply data mismatch".into());
        };
        let nib = if i % 2 == 0 { b >> 4 } else { b & 0xf };
        if want.is_some_and(|w| w != nib) {
            return Err("reply data mismatch".into());
        }
    }
    Ok(())
}

fn io_err(what: &str, e: std::io::Error) -> Outcome {
    Outcome::Done(Err(format!("{what}: {e}")))
}

impl Flight {
    /// An `smtp_alert` mail to `server` (its own flight, `check` = `MAIL`).
    pub fn mail(
        server: SocketAddr,
        conv: ipc::smtp::Conversation,
        timeout: Duration,
        now: Instant,
    ) -> Result<Self, String> {
        let stream = connect(server, None, false).map_err(|e| format!("connect: {e}"))?;
        Ok(Flight {
            check: MAIL,
            deadline: now + timeout,
            timeout,
            probe: Probe::Tcp {
                target: server,
                bind: None,
            },
            url: 0,
            sock: Sock::Tcp(stream),
            phase: Phase::Mail(Box::new(conv)),
            registered: false,
            token: None,
        })
    }

    /// Start a network probe; an immediate failure is returned as `Err`.
    pub fn start(
        check: usize,
        probe: Probe,
        timeout: Duration,
        now: Instant,
        pool: &mut Pool,
    ) -> Result<Self, String> {
        let (target, bind) = target_of(&probe).ok_or("not a network probe")?;
        if let (Probe::Tcp { bind: None, .. }, Some((s, token))) =
            (&probe, pool.take(target.is_ipv6()))
        {
            match socket2::SockRef::from(&s).connect(&target.into()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                // Dropped: closing it takes it out of the loop too.
                Err(e) => return Err(format!("connect: {e}")),
            }
            return Ok(Flight {
                check,
                deadline: now + timeout,
                timeout,
                probe,
                url: 0,
                sock: Sock::Tcp(s),
                phase: Phase::Connecting,
                registered: true,
                token: Some(token),
            });
        }
        let (sock, phase) = match probe {
            Probe::Dns { .. } | Probe::Udp { .. } => {
                let s = socket(target, bind, Type::DGRAM, false)
                    .map_err(|e| format!("connect: {e}"))?;
                (Sock::Udp(UdpSocket::from_std(s.into())), Phase::DgramSend)
            }
            _ => {
                // Not where the server speaks first (SMTP): it waits for that ACK.
                let hold_ack = matches!(probe, Probe::Tcp { .. });
                let s = connect(target, bind, hold_ack).map_err(|e| format!("connect: {e}"))?;
                (Sock::Tcp(s), Phase::Connecting)
            }
        };
        Ok(Flight {
            check,
            deadline: now + timeout,
            timeout,
            probe,
            url: 0,
            sock,
            phase,
            registered: false,
            token: None,
        })
    }

    pub fn register(&mut self, reg: &Registry, token: Token) -> std::io::Result<()> {
        if !self.registered {
            let i = Interest::READABLE | Interest::WRITABLE;
            match &mut self.sock {
                Sock::Tcp(s) => reg.register(s, token, i)?,
                Sock::Udp(s) => reg.register(s, token, i)?,
            }
            self.registered = true;
        }
        Ok(())
    }

    pub fn needs_register(&self) -> bool {
        !self.registered
    }

    /// The deadline passed: a failure, except for a UDP check that wants no reply (no ICMP
    /// error in time is its success, as keepalived's).
    pub fn on_deadline(&self) -> Result<(), String> {
        match (&self.probe, &self.phase) {
            (Probe::Udp { reply: None, .. }, Phase::DgramWait { .. }) => Ok(()),
            (_, Phase::Connecting) => Err("connection timeout".into()),
            _ => Err("timeout".into()),
        }
    }

    /// Drive the probe after an event (`writable`, `errored`: what the event said).
    pub fn step(&mut self, now: Instant, writable: bool, errored: bool) -> Outcome {
        match &mut self.sock {
            Sock::Udp(_) => self.step_dgram(),
            Sock::Tcp(_) => self.step_stream(now, writable, errored),
        }
    }

    /// One URL's reply is complete: judge it, then the next URL on a new connection with a
    /// fresh timeout, or done.
    fn url_done(&mut self, reply: HttpReply, now: Instant) -> Outcome {
        let Probe::Http { urls, .. } = &self.probe else {
            return Outcome::Done(Err("internal".into()));
        };
        if let Err(e) = judge(&urls[self.url], reply) {
            return Outcome::Done(Err(e));
        }
        self.url += 1;
        if self.url >= urls.len() {
            return Outcome::Done(Ok(()));
        }
        match target_of(&self.probe).map(|(t, b)| connect(t, b, false)) {
            Some(Ok(s)) => {
                self.sock = Sock::Tcp(s);
                self.phase = Phase::Connecting;
                self.registered = false;
                self.deadline = now + self.timeout;
                Outcome::Pending
            }
            Some(Err(e)) => io_err("connect", e),
            None => Outcome::Done(Err("internal".into())),
        }
    }

    fn step_dgram(&mut self) -> Outcome {
        let Sock::Udp(sock) = &self.sock else {
            return Outcome::Pending;
        };
        loop {
            match &self.phase {
                Phase::DgramSend => {
                    let (id, data) = match &self.probe {
                        Probe::Dns { qtype, name, .. } => {
                            let id =
                                (std::process::id() as u16) ^ (self.check as u16).rotate_left(7);
                            (id, dns_query(id, *qtype, name))
                        }
                        Probe::Udp { payload, .. } => (0, payload.clone()),
                        _ => return Outcome::Done(Err("internal".into())),
                    };
                    match sock.send(&data) {
                        Ok(_) => self.phase = Phase::DgramWait { id },
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return Outcome::Pending,
                        Err(e) => return io_err("send", e),
                    }
                }
                Phase::DgramWait { id } => {
                    let mut buf = [0u8; 4096];
                    let n = match sock.recv(&mut buf) {
                        Ok(n) => n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return Outcome::Pending,
                        // ICMP unreachable: down.
                        Err(e) => return io_err("recv", e),
                    };
                    let r = &buf[..n];
                    return Outcome::Done(match &self.probe {
                        Probe::Dns { .. } => dns_reply_ok(*id, r),
                        Probe::Udp {
                            reply: Some(pat),
                            min_len,
                            max_len,
                            ..
                        } => udp_reply_ok(pat, *min_len, *max_len, r),
                        // A reply where none is needed is fine.
                        _ => Ok(()),
                    });
                }
                _ => return Outcome::Done(Err("internal".into())),
            }
        }
    }

    fn step_stream(&mut self, now: Instant, writable: bool, errored: bool) -> Outcome {
        let Sock::Tcp(stream) = &mut self.sock else {
            return Outcome::Pending;
        };
        loop {
            match &mut self.phase {
                Phase::Connecting => {
                    // The connect completed when the socket turned writable without an error
                    // (epoll says so: no SO_ERROR read on the way that almost every check
                    // takes); an error flag, or no writability, asks the socket itself.
                    if !writable || errored {
                        match stream.take_error() {
                            Ok(Some(e)) | Err(e) => return io_err("connect", e),
                            Ok(None) if errored => {
                                return Outcome::Done(Err("connect: connection failed".into()))
                            }
                            Ok(None) => return Outcome::Pending,
                        }
                    }
                    match &self.probe {
                        // Closing is enough (the drop sends the FIN).
                        Probe::Tcp { .. } => return Outcome::Done(Ok(())),
                        Probe::Http {
                            urls,
                            host,
                            protocol,
                            tls,
                            ..
                        } => {
                            let Some(u) = urls.get(self.url) else {
                                return Outcome::Done(Ok(()));
                            };
                            let h = u.host.as_deref().unwrap_or(host);
                            let req = http_request(&u.path, h, protocol);
                            self.phase = match tls {
                                None => Phase::Writing { buf: req, at: 0 },
                                Some(sni) => {
                                    match crate::tls::client(
                                        sni.as_deref(),
                                        stream.peer_addr().ok(),
                                        &req,
                                    ) {
                                        Ok(conn) => Phase::Tls {
                                            conn: Box::new(conn),
                                            reply: HttpReply::for_url(u),
                                        },
                                        Err(e) => return Outcome::Done(Err(e)),
                                    }
                                }
                            };
                        }
                        Probe::Smtp { .. } => {
                            self.phase = Phase::Smtp {
                                stage: 0,
                                inbuf: Vec::new(),
                            }
                        }
                        _ => return Outcome::Done(Err("internal".into())),
                    }
                }
                Phase::Mail(conv) => {
                    let mut buf = [0u8; 1024];
                    let n = match stream.read(&mut buf) {
                        Ok(0) => {
                            let sent = conv.sent();
                            return Outcome::Done(if sent {
                                Ok(())
                            } else {
                                Err("the server closed the connection".into())
                            });
                        }
                        Ok(n) => n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return Outcome::Pending,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(e) => return io_err("read", e),
                    };
                    match conv.feed(&buf[..n]) {
                        Ok(ipc::smtp::Step::Wait) => {}
                        Ok(ipc::smtp::Step::Send(b)) => {
                            // Short commands on a fresh connection: the socket buffer takes them.
                            if let Err(e) = stream.write_all(&b) {
                                return io_err("write", e);
                            }
                        }
                        Ok(ipc::smtp::Step::Done) => return Outcome::Done(Ok(())),
                        Err(e) => return Outcome::Done(Err(e)),
                    }
                }
                Phase::Smtp { stage, inbuf } => {
                    let mut buf = [0u8; 1024];
                    match stream.read(&mut buf) {
                        Ok(0) => return Outcome::Done(Err("connection closed".into())),
                        Ok(n) => inbuf.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return Outcome::Pending,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(e) => return io_err("read", e),
                    }
                    if inbuf.len() > 8192 {
                        return Outcome::Done(Err("reply too long".into()));
                    }
                    let Some(code) = ipc::smtp::reply_code(inbuf) else {
                        continue;
                    };
                    inbuf.clear();
                    let Probe::Smtp { helo, .. } = &self.probe else {
                        return Outcome::Done(Err("internal".into()));
                    };
                    match (*stage, code) {
                        (0, 220) => {
                            // Small writes on a fresh connection: the socket buffer takes them.
                            let msg = format!("HELO {helo}\r\n");
                            if let Err(e) = stream.write_all(msg.as_bytes()) {
                                return io_err("write", e);
                            }
                            *stage = 1;
                        }
                        (0, c) => return Outcome::Done(Err(format!("Bad greeting banner ({c})"))),
                        (_, 250) => {
                            let _ = stream.write_all(b"QUIT\r\n");
                            return Outcome::Done(Ok(()));
                        }
                        (_, c) => return Outcome::Done(Err(format!("Bad HELO response ({c})"))),
                    }
                }
                Phase::Tls { conn, reply } => match crate::tls::drive(conn, stream, reply) {
                    Ok(false) => return Outcome::Pending,
                    Ok(true) => {
                        let Phase::Tls { reply, .. } =
                            std::mem::replace(&mut self.phase, Phase::Connecting)
                        else {
                            return Outcome::Done(Err("internal".into()));
                        };
                        return self.url_done(reply, now);
                    }
                    Err(e) => return Outcome::Done(Err(e)),
                },
                Phase::Writing { buf, at } => match stream.write(&buf[*at..]) {
                    Ok(n) => {
                        *at += n;
                        if *at >= buf.len() {
                            let reply = match &self.probe {
                                Probe::Http { urls, .. } => {
                                    urls.get(self.url).map(HttpReply::for_url)
                                }
                                _ => None,
                            };
                            self.phase = Phase::Reading(reply.unwrap_or_default());
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Outcome::Pending,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return io_err("write", e),
                },
                Phase::Reading(reply) => {
                    let mut buf = [0u8; 16384];
                    let finished = match stream.read(&mut buf) {
                        Ok(0) => true,
                        Ok(n) => reply.feed(&buf[..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return Outcome::Pending,
                        Err(e) if e.kind() == ErrorKind::Interrupted => false,
                        Err(e) => return io_err("read", e),
                    };
                    if !finished {
                        continue;
                    }
                    let Phase::Reading(reply) =
                        std::mem::replace(&mut self.phase, Phase::Connecting)
                    else {
                        return Outcome::Done(Err("internal".into()));
                    };
                    return self.url_done(reply, now);
                }
                Phase::DgramSend | Phase::DgramWait { .. } => {
                    return Outcome::Done(Err("internal".into()))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_query_and_reply_rules() {
        let q = dns_query(0x1234, 6, "example.org");
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(&q[12..], b"\x07example\x03org\x00\x00\x06\x00\x01");
        assert_eq!(dns_query(1, 6, ".")[12..], [0, 0, 6, 0, 1], "the root");
        let mut r = q.clone();
        r[2] |= 0x80;
        assert_eq!(dns_reply_ok(0x1234, &r), Ok(()));
        assert!(dns_reply_ok(0x1235, &r).is_err());
        assert!(dns_reply_ok(0x1234, &q).is_err(), "not a response");
        r[3] |= 3;
        assert!(dns_reply_ok(0x1234, &r).unwrap_err().contains("rcode = 3"));
        assert!(dns_reply_ok(0x1234, &r[..5]).is_err());
    }

    #[test]
    fn udp_reply_pattern_with_wildcards() {
        let pat: Vec<Option<u8>> = "4X6c"
            .chars()
            .map(|c| c.to_digit(16).map(|d| d as u8))
            .collect();
        assert_eq!(udp_reply_ok(&pat, 0, 255, b"Ol!"), Ok(()));
        assert!(udp_reply_ok(&pat, 0, 255, b"Pl").is_err());
        assert!(udp_reply_ok(&pat, 0, 1, b"Ol").is_err(), "too long");
        assert!(
            udp_reply_ok(&pat, 0, 255, b"O").is_err(),
            "too short for the pattern"
        );
    }

    #[test]
    fn smtp_replies_complete_on_the_last_line() {
        use ipc::smtp::reply_code;
        assert_eq!(reply_code(b"220 mail ESMTP\r\n"), Some(220));
        assert_eq!(reply_code(b"250-mail\r\n"), None);
        assert_eq!(reply_code(b"250-mail\r\n250 OK\r\n"), Some(250));
        assert_eq!(reply_code(b"220 partial"), None);
    }

    #[test]
    fn request_is_keepalived_s() {
        assert_eq!(
            http_request("/index.html", "10.99.1.2:80", "1.0"),
            b"GET /index.html HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.99.1.2:80\r\n\r\n"
        );
        assert_eq!(
            http_request("/", "www", "1.1"),
            b"GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www\r\n\r\n"
        );
    }

    fn url(digest: Option<&str>) -> HttpUrl {
        HttpUrl {
            path: "/".into(),
            digest: digest.map(str::to_string),
            status: vec![(200, 299)],
            host: None,
            regex: None,
        }
    }

    fn rurl(re: &str, opts: &[&str], no_match: bool, min: usize, max: Option<usize>) -> HttpUrl {
        let options: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
        HttpUrl {
            regex: Some(BodyRegex {
                re: conf::body_regex::compile(re, &options).unwrap(),
                firstline: opts.contains(&"firstline"),
                options,
                no_match,
                min,
                max,
            }),
            ..url(None)
        }
    }

    /// The verdict on `body` sent after the header in pieces of `piece` bytes.
    fn fetch(u: &HttpUrl, body: &[u8], piece: usize) -> Result<(), String> {
        let mut r = HttpReply::for_url(u);
        r.feed(b"HTTP/1.0 200 OK\r\n\r\n");
        for c in body.chunks(piece) {
            r.feed(c);
        }
        judge(u, r)
    }

    #[test]
    fn regex_matches_the_body_across_reads() {
        let u = rurl("Status: (OK|GOOD)", &[], false, 0, None);
        let mut body = vec![b'x'; 10_000];
        body.extend_from_slice(b"Status: GOOD");
        body.extend_from_slice(&[b'y'; 10_000]);
        for piece in [1, 7, 4096, 100_000] {
            assert_eq!(fetch(&u, &body, piece), Ok(()), "pieces of {piece}");
        }
        let e = fetch(&u, b"Status: BAD", 3).unwrap_err();
        assert_eq!(e, "Regex match failed to /");
        // Only the body is searched, never the header.
        let mut r = HttpReply::for_url(&u);
        r.feed(b"HTTP/1.0 200 OK\r\nX-State: Status: OK\r\n\r\nnothing");
        assert!(judge(&u, r).is_err());
        // regex_no_match: the server is good while the body does not match.
        let n = rurl("ERROR", &[], true, 0, None);
        assert_eq!(fetch(&n, b"all fine", 2), Ok(()));
        assert!(fetch(&n, b"an ERROR here", 2).is_err());
    }

    #[test]
    fn anchors_mean_the_body_s_start_and_end_whatever_the_reads() {
        let mut body = vec![b'A'; 5000];
        body.push(b'B');
        body.extend_from_slice(&[b'C'; 5000]);
        for piece in [1, 3, 4096, 4097, 5000, 5001, 20_000] {
            assert_eq!(
                fetch(&rurl("^A", &[], false, 0, None), &body, piece),
                Ok(())
            );
            assert!(
                fetch(&rurl("^B", &[], false, 0, None), &body, piece).is_err(),
                "{piece}"
            );
            assert!(
                fetch(&rurl("B$", &[], false, 0, None), &body, piece).is_err(),
                "{piece}"
            );
            assert_eq!(
                fetch(&rurl("C$", &[], false, 0, None), &body, piece),
                Ok(())
            );
            assert!(fetch(&rurl("\\bB", &[], false, 0, None), &body, piece).is_err());
            assert_eq!(
                fetch(&rurl("AB+C", &[], false, 0, None), &body, piece),
                Ok(())
            );
        }
    }

    #[test]
    fn regex_offsets_and_firstline_bound_where_a_match_may_start() {
        let body = b"0123456789OK3456789OK";
        // OK at 10 and 19.
        assert_eq!(
            fetch(&rurl("OK", &[], false, 11, None), body, 4),
            Ok(()),
            "the second"
        );
        assert!(fetch(&rurl("OK", &[], false, 20, None), body, 4).is_err());
        assert_eq!(fetch(&rurl("OK", &[], false, 0, Some(10)), body, 4), Ok(()));
        assert!(fetch(&rurl("OK", &[], false, 0, Some(9)), body, 4).is_err());
        assert!(fetch(&rurl("OK", &[], false, 11, Some(18)), body, 3).is_err());
        assert_eq!(
            fetch(&rurl("OK", &[], false, 11, Some(19)), body, 3),
            Ok(())
        );
        let fl = rurl("OK", &["firstline"], false, 0, None);
        assert_eq!(fetch(&fl, b"xx OK\nyy", 2), Ok(()));
        assert!(fetch(&fl, b"xx\nOK", 2).is_err());
        // A digest is checked first, then the regex.
        let mut both = rurl("OK", &[], false, 0, None);
        both.digest = Some("00000000000000000000000000000000".into());
        assert!(fetch(&both, b"OK", 1)
            .unwrap_err()
            .contains("MD5 digest error"));
    }

    #[test]
    fn digest_over_the_raw_body_in_pieces() {
        // md5("hello\n") = b1946ac92492d2347c6235b4d2611184
        let mut r = HttpReply::default();
        assert!(!r.feed(b"HTTP/1.0 200 OK\r\nContent-Len"));
        assert!(!r.feed(b"gth: 6\r\n\r\nhel"));
        assert!(r.feed(b"lo\n"));
        assert_eq!(
            judge(&url(Some("b1946ac92492d2347c6235b4d2611184")), r),
            Ok(())
        );
        let mut r = HttpReply::default();
        r.feed(b"HTTP/1.0 200 OK\r\n\r\nhello\n");
        assert!(judge(&url(Some("00000000000000000000000000000000")), r)
            .unwrap_err()
            .contains("MD5 digest error"));
    }

    #[test]
    fn status_outside_the_ranges_fails() {
        let mut r = HttpReply::default();
        r.feed(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n");
        assert!(judge(&url(None), r)
            .unwrap_err()
            .contains("status_code [503]"));
        let mut r = HttpReply::default();
        r.feed(b"garbage\r\n\r\n");
        assert!(judge(&url(None), r).is_err());
    }
}

//! Probes in flight: non-blocking TCP connects and HTTP GETs on the child's mio loop, each
//! with its deadline. The HTTP request and response handling are pure functions
//! (`http_request`, `HttpReply`), shared with `genhash`-style digests.

use crate::engine::{HttpUrl, Probe};
use md5::{Digest, Md5};
use mio::net::TcpStream;
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
}

const MAX_HEAD: usize = 64 * 1024;

impl HttpReply {
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
            return self.complete();
        } else {
            data
        };
        self.md5.update(body);
        self.body_len += body.len();
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
    if let Some(want) = &url.digest {
        let got = reply.digest();
        if &got != want {
            return Err(format!("MD5 digest error to {}, MD5SUM [{got}]", url.path));
        }
    }
    Ok(())
}

enum Phase {
    Connecting,
    Writing { buf: Vec<u8>, at: usize },
    Reading(HttpReply),
}

pub struct Flight {
    pub check: usize,
    pub deadline: Instant,
    timeout: Duration,
    probe: Probe,
    /// Index of the URL being fetched (HTTP).
    url: usize,
    stream: TcpStream,
    phase: Phase,
    registered: bool,
}

/// How a probe step ended.
pub enum Outcome {
    Pending,
    Done(Result<(), String>),
}

fn connect(target: SocketAddr, bind: Option<SocketAddr>) -> std::io::Result<TcpStream> {
    let s = Socket::new(Domain::for_address(target), Type::STREAM, None)?;
    s.set_nonblocking(true)?;
    if let Some(b) = bind {
        s.bind(&b.into())?;
    }
    match s.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(s.into()))
}

fn target_of(p: &Probe) -> Option<(SocketAddr, Option<SocketAddr>)> {
    match p {
        Probe::Tcp { target, bind } | Probe::Http { target, bind, .. } => Some((*target, *bind)),
        Probe::Misc { .. } => None,
    }
}

impl Flight {
    /// Start a network probe; an immediate failure is returned as `Err`.
    pub fn start(
        check: usize,
        probe: Probe,
        timeout: Duration,
        now: Instant,
    ) -> Result<Self, String> {
        let (target, bind) = target_of(&probe).ok_or("not a network probe")?;
        let stream = connect(target, bind).map_err(|e| format!("connect: {e}"))?;
        Ok(Flight {
            check,
            deadline: now + timeout,
            timeout,
            probe,
            url: 0,
            stream,
            phase: Phase::Connecting,
            registered: false,
        })
    }

    pub fn register(&mut self, reg: &Registry, token: Token) -> std::io::Result<()> {
        if !self.registered {
            reg.register(
                &mut self.stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            self.registered = true;
        }
        Ok(())
    }

    pub fn deregister(&mut self, reg: &Registry) {
        if self.registered {
            let _ = reg.deregister(&mut self.stream);
            self.registered = false;
        }
    }

    /// Drive the probe after an event (or a deadline check).
    pub fn step(&mut self, now: Instant) -> Outcome {
        loop {
            match &mut self.phase {
                Phase::Connecting => {
                    match self.stream.take_error() {
                        Ok(Some(e)) => return Outcome::Done(Err(format!("connect: {e}"))),
                        Err(e) => return Outcome::Done(Err(format!("connect: {e}"))),
                        Ok(None) => {}
                    }
                    match self.stream.peer_addr() {
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::NotConnected => return Outcome::Pending,
                        Err(e) => return Outcome::Done(Err(format!("connect: {e}"))),
                    }
                    match &self.probe {
                        Probe::Tcp { .. } => {
                            let _ = self.stream.shutdown(std::net::Shutdown::Both);
                            return Outcome::Done(Ok(()));
                        }
                        Probe::Http {
                            urls,
                            host,
                            protocol,
                            ..
                        } => {
                            let Some(u) = urls.get(self.url) else {
                                return Outcome::Done(Ok(()));
                            };
                            let h = u.host.as_deref().unwrap_or(host);
                            self.phase = Phase::Writing {
                                buf: http_request(&u.path, h, protocol),
                                at: 0,
                            };
                        }
                        Probe::Misc { .. } => return Outcome::Done(Err("misc".into())),
                    }
                }
                Phase::Writing { buf, at } => match self.stream.write(&buf[*at..]) {
                    Ok(n) => {
                        *at += n;
                        if *at >= buf.len() {
                            self.phase = Phase::Reading(HttpReply::default());
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Outcome::Pending,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Outcome::Done(Err(format!("write: {e}"))),
                },
                Phase::Reading(reply) => {
                    let mut buf = [0u8; 16384];
                    let finished = match self.stream.read(&mut buf) {
                        Ok(0) => true,
                        Ok(n) => reply.feed(&buf[..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return Outcome::Pending,
                        Err(e) if e.kind() == ErrorKind::Interrupted => false,
                        Err(e) => return Outcome::Done(Err(format!("read: {e}"))),
                    };
                    if !finished {
                        continue;
                    }
                    let Phase::Reading(reply) =
                        std::mem::replace(&mut self.phase, Phase::Connecting)
                    else {
                        return Outcome::Done(Err("internal".into()));
                    };
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
                    // The next URL on a new connection, with a fresh timeout.
                    return match target_of(&self.probe).map(|(t, b)| connect(t, b)) {
                        Some(Ok(s)) => {
                            self.stream = s;
                            self.registered = false;
                            self.deadline = now + self.timeout;
                            Outcome::Pending
                        }
                        Some(Err(e)) => Outcome::Done(Err(format!("connect: {e}"))),
                        None => Outcome::Done(Err("internal".into())),
                    };
                }
            }
        }
    }

    pub fn needs_register(&self) -> bool {
        !self.registered
    }

    /// A probe whose connection closed before a full reply: judge what arrived.
    pub fn timed_out(&self) -> String {
        match self.phase {
            Phase::Connecting => "connection timeout".into(),
            _ => "timeout".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        }
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

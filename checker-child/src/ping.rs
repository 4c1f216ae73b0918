//! PING_CHECK: ICMP / ICMPv6 echo on the raw sockets the parent opened (the child has no
//! capability to open them). One socket per family serves every check; replies are matched
//! by identifier and sequence number.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Instant;

const PAYLOAD: &[u8] = b"keepalived-rs PING_CHECK";

fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in b.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request; ICMPv6's checksum is the kernel's (raw ICMPv6 sockets compute it).
pub fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    if !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// (id, seq) of an echo reply: IPv4 raw sockets deliver the IP header, ICMPv6 ones do not.
pub fn echo_reply(v6: bool, pkt: &[u8]) -> Option<(u16, u16)> {
    let icmp = if v6 {
        pkt
    } else {
        let ihl = (*pkt.first()? & 0xf) as usize * 4;
        pkt.get(ihl..)?
    };
    if icmp.len() < 8 || icmp[0] != if v6 { 129 } else { 0 } {
        return None;
    }
    Some((
        u16::from_be_bytes([icmp[4], icmp[5]]),
        u16::from_be_bytes([icmp[6], icmp[7]]),
    ))
}

/// The address in a sockaddr the kernel filled.
fn source(sa: &libc::sockaddr_storage) -> Option<IpAddr> {
    match sa.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: ss_family says this storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(sa as *const _ as *const libc::sockaddr_in) };
            Some(IpAddr::from(u32::from_be(a.sin_addr.s_addr).to_be_bytes()))
        }
        libc::AF_INET6 => {
            // SAFETY: ss_family says this storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(sa as *const _ as *const libc::sockaddr_in6) };
            Some(IpAddr::from(a.sin6_addr.s6_addr))
        }
        _ => None,
    }
}

#[derive(Default)]
pub struct Pinger {
    v4: Option<OwnedFd>,
    v6: Option<OwnedFd>,
    id: u16,
    seq: u16,
    /// (family v6, seq) -> (check, from, deadline)
    waiting: HashMap<(bool, u16), (usize, IpAddr, Instant)>,
}

impl Pinger {
    pub fn new(fds: Vec<(ipc::FdKind, OwnedFd)>) -> Self {
        let mut p = Pinger {
            id: std::process::id() as u16,
            ..Default::default()
        };
        for (k, fd) in fds {
            match k {
                ipc::FdKind::Icmp4 => p.v4 = Some(fd),
                ipc::FdKind::Icmp6 => p.v6 = Some(fd),
                _ => {}
            }
        }
        p
    }

    pub fn fds(&self) -> Vec<RawFd> {
        [&self.v4, &self.v6]
            .into_iter()
            .flatten()
            .map(|f| f.as_raw_fd())
            .collect()
    }

    /// Send an echo for `check`; `Err` when it cannot go out.
    pub fn send(&mut self, check: usize, to: IpAddr, deadline: Instant) -> Result<(), String> {
        let v6 = to.is_ipv6();
        let fd = if v6 { &self.v6 } else { &self.v4 };
        let Some(fd) = fd else {
            return Err("no ICMP socket from the parent".into());
        };
        self.seq = self.seq.wrapping_add(1);
        let pkt = echo_request(v6, self.id, self.seq);
        let addr = socket2::SockAddr::from(SocketAddr::new(to, 0));
        // SAFETY: sendto on a valid fd with a buffer and an address we own.
        let n = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                pkt.as_ptr().cast(),
                pkt.len(),
                libc::MSG_DONTWAIT,
                addr.as_ptr().cast(),
                addr.len(),
            )
        };
        if n < 0 {
            return Err(format!(
                "send ICMP packet fail: {}",
                std::io::Error::last_os_error()
            ));
        }
        self.waiting.insert((v6, self.seq), (check, to, deadline));
        Ok(())
    }

    /// Replies on `fd`: the checks they answer.
    pub fn readable(&mut self, fd: RawFd) -> Vec<usize> {
        let v6 = self.v6.as_ref().is_some_and(|f| f.as_raw_fd() == fd);
        let mut done = Vec::new();
        let mut buf = [0u8; 2048];
        loop {
            // SAFETY: all-zero is a valid sockaddr_storage.
            let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: recvfrom into buffers we own, lengths given.
            let n = unsafe {
                libc::recvfrom(
                    fd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut from as *mut libc::sockaddr_storage).cast(),
                    &mut len,
                )
            };
            if n <= 0 {
                break;
            }
            let Some((id, seq)) = echo_reply(v6, &buf[..n as usize]) else {
                continue;
            };
            if id != self.id {
                continue;
            }
            let src = source(&from);
            if let Some((check, to, _)) = self.waiting.get(&(v6, seq)).copied() {
                if src == Some(to) {
                    self.waiting.remove(&(v6, seq));
                    done.push(check);
                }
            }
        }
        done
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.waiting.values().map(|w| w.2).min()
    }

    /// Echoes not answered by `now`.
    pub fn expired(&mut self, now: Instant) -> Vec<usize> {
        let gone: Vec<(bool, u16)> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.2 <= now)
            .map(|(k, _)| *k)
            .collect();
        gone.into_iter()
            .filter_map(|k| self.waiting.remove(&k).map(|w| w.0))
            .collect()
    }

    pub fn in_flight(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksums_and_reply_parsing() {
        let p = echo_request(false, 0x1234, 7);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        let mut reply = vec![0x45u8; 1];
        reply.extend_from_slice(&[0; 19]);
        let mut icmp = p.clone();
        icmp[0] = 0;
        reply.extend_from_slice(&icmp);
        assert_eq!(echo_reply(false, &reply), Some((0x1234, 7)));
        assert_eq!(echo_reply(false, &reply[..22]), None, "truncated");
        let mut six = echo_request(true, 9, 3);
        assert_eq!(echo_reply(true, &six), None, "a request is no reply");
        six[0] = 129;
        assert_eq!(echo_reply(true, &six), Some((9, 3)));
    }
}

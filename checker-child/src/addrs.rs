//! The host's addresses, for `ha_suspend`: an rtnetlink socket bound to the IPv4 and IPv6
//! address groups (no capability needed), a dump of every address at start, then
//! `RTM_NEWADDR`/`RTM_DELADDR` events. keepalived's checker keeps the same watch
//! (`keepalived_netlink.c` → `update_checker_activity`), counting an address once per
//! interface that has it; so do we, from the set of (interface, address) pairs.

use std::collections::HashSet;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const NLMSG_DONE: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

/// One address event: interface index, address, added (else removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrEvent {
    pub index: u32,
    pub addr: IpAddr,
    pub added: bool,
}

/// Address messages in a buffer of netlink messages; `done` is set at the dump's end.
/// The address is `IFA_LOCAL` when there is one, else `IFA_ADDRESS` (as keepalived reads
/// it). Malformed messages end the parse.
pub fn parse(buf: &[u8], done: &mut bool) -> Vec<AddrEvent> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 16 <= buf.len() {
        let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]) as usize;
        let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
        if len < 16 || off + len > buf.len() {
            break;
        }
        let msg = &buf[off + 16..off + len];
        if ty == NLMSG_DONE {
            *done = true;
        } else if (ty == RTM_NEWADDR || ty == RTM_DELADDR) && msg.len() >= 8 {
            // struct ifaddrmsg { u8 family, prefixlen, flags, scope; u32 index; }
            let family = i32::from(msg[0]);
            let index = u32::from_ne_bytes([msg[4], msg[5], msg[6], msg[7]]);
            let (mut local, mut address) = (None, None);
            let mut a = 8;
            while a + 4 <= msg.len() {
                let alen = usize::from(u16::from_ne_bytes([msg[a], msg[a + 1]]));
                let aty = u16::from_ne_bytes([msg[a + 2], msg[a + 3]]);
                if alen < 4 || a + alen > msg.len() {
                    break;
                }
                let v = &msg[a + 4..a + alen];
                let ip = match (family, v.len()) {
                    (libc::AF_INET, 4) => Some(IpAddr::from([v[0], v[1], v[2], v[3]])),
                    (libc::AF_INET6, 16) => {
                        let mut b = [0u8; 16];
                        b.copy_from_slice(v);
                        Some(IpAddr::from(b))
                    }
                    _ => None,
                };
                match aty {
                    IFA_LOCAL => local = ip.or(local),
                    IFA_ADDRESS => address = ip.or(address),
                    _ => {}
                }
                a += (alen + 3) & !3;
            }
            if let Some(addr) = local.or(address) {
                out.push(AddrEvent {
                    index,
                    addr,
                    added: ty == RTM_NEWADDR,
                });
            }
        }
        off += (len + 3) & !3;
    }
    out
}

/// The socket and the addresses it has seen.
pub struct Addrs {
    fd: OwnedFd,
    present: HashSet<(u32, IpAddr)>,
}

impl Addrs {
    /// Open, subscribe to address events, and read the dump of every address (bounded by a
    /// 1 s receive timeout) so checks start knowing which virtual addresses are here.
    pub fn open() -> std::io::Result<Addrs> {
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain data, zeroed then filled; sizes match.
        unsafe {
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            sa.nl_groups = (libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
            if libc::bind(
                raw,
                &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            ) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        socket2::SockRef::from(&fd).set_read_timeout(Some(std::time::Duration::from_secs(1)))?;
        // RTM_GETADDR dump: nlmsghdr + ifaddrmsg (family AF_UNSPEC: both).
        let mut req = [0u8; 24];
        req[0..4].copy_from_slice(&24u32.to_ne_bytes());
        req[4..6].copy_from_slice(&RTM_GETADDR.to_ne_bytes());
        let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
        req[6..8].copy_from_slice(&flags.to_ne_bytes());
        req[8..12].copy_from_slice(&1u32.to_ne_bytes());
        // SAFETY: send of a local buffer on our socket (the kernel is the default peer).
        if unsafe { libc::send(raw, req.as_ptr() as *const libc::c_void, req.len(), 0) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut a = Addrs {
            fd,
            present: HashSet::new(),
        };
        let mut done = false;
        let mut buf = vec![0u8; 32768];
        while !done {
            // SAFETY: recv into a buffer we own, of the length passed.
            let n = unsafe { libc::recv(raw, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
            if n <= 0 {
                return Err(std::io::Error::last_os_error());
            }
            for ev in parse(&buf[..n as usize], &mut done) {
                a.apply(&ev);
            }
        }
        socket2::SockRef::from(&a.fd).set_nonblocking(true)?;
        Ok(a)
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// On how many interfaces `addr` is.
    pub fn count(&self, addr: IpAddr) -> u32 {
        self.present.iter().filter(|(_, a)| *a == addr).count() as u32
    }

    fn apply(&mut self, ev: &AddrEvent) -> bool {
        if ev.added {
            self.present.insert((ev.index, ev.addr))
        } else {
            self.present.remove(&(ev.index, ev.addr))
        }
    }

    /// Every event waiting: the addresses whose count changed, with the new count.
    pub fn read(&mut self) -> Vec<(IpAddr, u32)> {
        let mut changed: Vec<IpAddr> = Vec::new();
        let mut buf = vec![0u8; 32768];
        loop {
            // SAFETY: recv into a buffer we own, of the length passed.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n <= 0 {
                break;
            }
            let mut done = false;
            for ev in parse(&buf[..n as usize], &mut done) {
                if self.apply(&ev) && !changed.contains(&ev.addr) {
                    changed.push(ev.addr);
                }
            }
        }
        changed.into_iter().map(|a| (a, self.count(a))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ty: u16, family: u8, index: u32, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = vec![family, 24, 0, 0];
        body.extend_from_slice(&index.to_ne_bytes());
        for (t, v) in attrs {
            let l = 4 + v.len();
            body.extend_from_slice(&(l as u16).to_ne_bytes());
            body.extend_from_slice(&t.to_ne_bytes());
            body.extend_from_slice(v);
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn addresses_from_new_and_del_messages() {
        let mut buf = msg(
            RTM_NEWADDR,
            libc::AF_INET as u8,
            2,
            &[(IFA_ADDRESS, &[10, 0, 0, 9]), (IFA_LOCAL, &[10, 0, 0, 1])],
        );
        let v6: [u8; 16] = "fd00::1".parse::<std::net::Ipv6Addr>().unwrap().octets();
        buf.extend(msg(
            RTM_DELADDR,
            libc::AF_INET6 as u8,
            3,
            &[(IFA_ADDRESS, &v6)],
        ));
        buf.extend(msg(NLMSG_DONE, 0, 0, &[]));
        let mut done = false;
        let evs = parse(&buf, &mut done);
        assert!(done);
        assert_eq!(
            evs,
            vec![
                AddrEvent {
                    index: 2,
                    addr: "10.0.0.1".parse().unwrap(),
                    added: true
                },
                AddrEvent {
                    index: 3,
                    addr: "fd00::1".parse().unwrap(),
                    added: false
                }
            ],
            "IFA_LOCAL first (a point-to-point peer is IFA_ADDRESS)"
        );
        let mut short = buf.clone();
        short.truncate(20);
        assert!(parse(&short, &mut false).is_empty(), "truncated: nothing");
    }
}

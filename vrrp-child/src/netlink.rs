//! Link state from the kernel: an rtnetlink socket bound to `RTMGRP_LINK` (no capability
//! needed), a dump of every link at start, then `RTM_NEWLINK`/`RTM_DELLINK` events.
//! keepalived's "up" is `IFF_UP` and `IFF_RUNNING` (carrier).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A link as netlink reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub up: bool,
    /// `RTM_DELLINK`: the link is gone.
    pub deleted: bool,
}

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const NLMSG_DONE: u16 = 3;
const IFLA_IFNAME: u16 = 3;

/// Links in a buffer of netlink messages; `done` is set when the dump's end was seen.
/// Malformed messages end the parse (the kernel never sends them).
pub fn parse(buf: &[u8], done: &mut bool) -> Vec<Link> {
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
        } else if (ty == RTM_NEWLINK || ty == RTM_DELLINK) && msg.len() >= 16 {
            let index = i32::from_ne_bytes([msg[4], msg[5], msg[6], msg[7]]) as u32;
            let flags = u32::from_ne_bytes([msg[8], msg[9], msg[10], msg[11]]);
            let want = (libc::IFF_UP | libc::IFF_RUNNING) as u32;
            let mut name = String::new();
            let mut a = 16;
            while a + 4 <= msg.len() {
                let alen = usize::from(u16::from_ne_bytes([msg[a], msg[a + 1]]));
                let aty = u16::from_ne_bytes([msg[a + 2], msg[a + 3]]);
                if alen < 4 || a + alen > msg.len() {
                    break;
                }
                if aty == IFLA_IFNAME {
                    let v = &msg[a + 4..a + alen];
                    let v = v.split(|b| *b == 0).next().unwrap_or(v);
                    name = String::from_utf8_lossy(v).into_owned();
                }
                a += (alen + 3) & !3;
            }
            out.push(Link {
                index,
                name,
                up: flags & want == want,
                deleted: ty == RTM_DELLINK,
            });
        }
        off += (len + 3) & !3;
    }
    out
}

/// The socket, open for events.
pub struct Links {
    fd: OwnedFd,
}

impl Links {
    /// Open, subscribe to link events, and read the dump of every link (blocking, bounded
    /// by a 1 s receive timeout) so instances start knowing their links.
    pub fn open() -> std::io::Result<(Links, Vec<Link>)> {
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
            sa.nl_groups = libc::RTMGRP_LINK as u32;
            if libc::bind(
                raw,
                &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            ) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        let sock = socket2::SockRef::from(&fd);
        sock.set_read_timeout(Some(std::time::Duration::from_secs(1)))?;
        // RTM_GETLINK dump: nlmsghdr + ifinfomsg (family AF_UNSPEC).
        let mut req = [0u8; 32];
        req[0..4].copy_from_slice(&32u32.to_ne_bytes());
        req[4..6].copy_from_slice(&RTM_GETLINK.to_ne_bytes());
        let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
        req[6..8].copy_from_slice(&flags.to_ne_bytes());
        req[8..12].copy_from_slice(&1u32.to_ne_bytes());
        // SAFETY: send of a local buffer on our socket (the kernel is the default peer).
        if unsafe { libc::send(raw, req.as_ptr() as *const libc::c_void, req.len(), 0) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut links = Vec::new();
        let mut done = false;
        let mut buf = vec![0u8; 32768];
        while !done {
            // SAFETY: recv into a buffer we own, of the length passed.
            let n = unsafe { libc::recv(raw, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
            if n <= 0 {
                return Err(std::io::Error::last_os_error());
            }
            links.extend(parse(&buf[..n as usize], &mut done));
        }
        sock.set_nonblocking(true)?;
        Ok((Links { fd }, links))
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Every event waiting on the socket.
    pub fn read(&self) -> Vec<Link> {
        let mut out = Vec::new();
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
                return out;
            }
            let mut done = false;
            out.extend(parse(&buf[..n as usize], &mut done));
        }
    }
}

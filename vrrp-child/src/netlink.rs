//! Link state from the kernel: an rtnetlink socket bound to `RTMGRP_LINK` (no capability
//! needed), a dump of every link at start, then `RTM_NEWLINK`/`RTM_DELLINK` events.
//! keepalived's "up" is `IFF_UP` and `IFF_RUNNING` (carrier).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

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
        let mut links = Vec::new();
        // RTM_GETLINK dump: an ifinfomsg of family AF_UNSPEC.
        let fd = ipc::rtnl::open_dump(libc::RTMGRP_LINK as u32, RTM_GETLINK, 16, |m, done| {
            links.extend(parse(m, done))
        })?;
        Ok((Links { fd }, links))
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Every event waiting on the socket.
    pub fn read(&self) -> Vec<Link> {
        let mut out = Vec::new();
        ipc::rtnl::drain(&self.fd, |m| {
            let mut done = false;
            out.extend(parse(m, &mut done));
        });
        out
    }
}

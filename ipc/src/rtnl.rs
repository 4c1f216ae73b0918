//! Netlink sockets; and a read-only rtnetlink watch, as both children keep one (links in the VRRP child,
//! addresses in the checker for `ha_suspend`): a `NETLINK_ROUTE` socket bound to some
//! multicast groups (no capability needed), one dump at start, then the events.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Datagrams are read into a buffer of this size (a dump comes in several).
const BUF: usize = 32768;

/// A netlink socket of `protocol` (`NETLINK_ROUTE`, `NETLINK_NETFILTER`, …), close-on-exec.
pub fn socket(protocol: libc::c_int) -> std::io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the descriptor is owned at once.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Open a socket subscribed to `groups`, ask for a dump of `msg_type` (its family header is
/// `body_len` zero bytes: every family), and give each datagram of the answer to `each`,
/// which sets its flag on `NLMSG_DONE`. The dump is read blocking, bounded by a 1 s receive
/// timeout; the socket is non-blocking afterwards.
pub fn open_dump(
    groups: u32,
    msg_type: u16,
    body_len: usize,
    mut each: impl FnMut(&[u8], &mut bool),
) -> std::io::Result<OwnedFd> {
    let fd = socket(libc::NETLINK_ROUTE)?;
    let raw = fd.as_raw_fd();
    // SAFETY: sockaddr_nl is plain data, zeroed then filled; sizes match.
    unsafe {
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as u16;
        sa.nl_groups = groups;
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
    // nlmsghdr + the family header, zeroed.
    let len = 16 + body_len;
    let mut req = vec![0u8; len];
    req[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    req[4..6].copy_from_slice(&msg_type.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    req[6..8].copy_from_slice(&flags.to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    // SAFETY: send of a local buffer on our socket (the kernel is the default peer).
    if unsafe { libc::send(raw, req.as_ptr() as *const libc::c_void, req.len(), 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut done = false;
    let mut buf = vec![0u8; BUF];
    while !done {
        // SAFETY: recv into a buffer we own, of the length passed.
        let n = unsafe { libc::recv(raw, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        if n <= 0 {
            return Err(std::io::Error::last_os_error());
        }
        each(&buf[..n as usize], &mut done);
    }
    sock.set_nonblocking(true)?;
    Ok(fd)
}

/// Every datagram waiting on the socket, each given to `each`.
pub fn drain(fd: &OwnedFd, mut each: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; BUF];
    loop {
        // SAFETY: recv into a buffer we own, of the length passed.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n <= 0 {
            return;
        }
        each(&buf[..n as usize]);
    }
}

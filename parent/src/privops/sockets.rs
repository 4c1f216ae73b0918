//! The privileged sockets the children need, opened by the parent and handed over with
//! SCM_RIGHTS: raw VRRP (IP protocol 112) per family, keepalived's AH (51), AF_PACKET for
//! gratuitous ARP, and raw ICMP/ICMPv6 for PING_CHECK.

use conf::model::{AuthType, CheckKind, Config};
use ipc::FdKind;
use socket2::{Domain, Protocol, Socket, Type};
use std::os::fd::OwnedFd;

fn open(kind: FdKind) -> std::io::Result<OwnedFd> {
    let s = match kind {
        FdKind::RawVrrp4 => Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))),
        FdKind::RawVrrp6 => Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(112))),
        FdKind::RawAh4 => Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(51))),
        FdKind::Packet => Socket::new(Domain::PACKET, Type::RAW, None),
        FdKind::Icmp4 => Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)),
        FdKind::Icmp6 => Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)),
    }?;
    s.set_nonblocking(true)?;
    if matches!(kind, FdKind::RawVrrp4 | FdKind::RawVrrp6 | FdKind::RawAh4) {
        // One socket carries every instance's adverts: 1000 instances advertising at once
        // overflow the default 208 KiB (rmem_max), and a backup that loses the tail of
        // every burst takes over. SO_RCVBUFFORCE needs CAP_NET_ADMIN, which we hold here.
        let size: libc::c_int = RAW_RCVBUF;
        // SAFETY: setsockopt with a pointer to a local c_int of the size passed.
        unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&s),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &size as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        // Receive timestamps from the start (the child dates adverts by them; the kernel
        // stamps only a moment after the first socket asks).
        let _ =
            nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::ReceiveTimestampns, &true);
    }
    Ok(s.into())
}

/// Receive buffer of the raw VRRP sockets (the kernel doubles it for its bookkeeping).
const RAW_RCVBUF: libc::c_int = 8 << 20;

/// What the VRRP child needs for this config.
pub fn vrrp_kinds(cfg: &Config) -> Vec<FdKind> {
    let mut k = Vec::new();
    if cfg.instances.iter().any(|v| !v.family6) {
        k.push(FdKind::RawVrrp4);
    }
    if !cfg.instances.is_empty() {
        // Gratuitous ARPs and unsolicited neighbour adverts both leave as Ethernet frames.
        k.push(FdKind::Packet);
    }
    if cfg.instances.iter().any(|v| v.family6) {
        k.push(FdKind::RawVrrp6);
    }
    if cfg
        .instances
        .iter()
        .any(|v| v.auth.as_ref().is_some_and(|a| a.auth_type == AuthType::Ah))
    {
        k.push(FdKind::RawAh4);
    }
    k
}

/// What the checker child needs for this config.
pub fn checker_kinds(cfg: &Config) -> Vec<FdKind> {
    let mut four = false;
    let mut six = false;
    for vs in &cfg.virtual_servers {
        for rs in &vs.real_servers {
            if rs
                .checkers
                .iter()
                .any(|c| matches!(c.kind, CheckKind::Ping))
            {
                if rs.addr.is_ipv6() {
                    six = true;
                } else {
                    four = true;
                }
            }
        }
    }
    [(four, FdKind::Icmp4), (six, FdKind::Icmp6)]
        .into_iter()
        .filter(|(w, _)| *w)
        .map(|(_, k)| k)
        .collect()
}

/// Open every socket of `kinds`; the ones that fail are logged and left out.
pub fn open_all(kinds: &[FdKind]) -> (Vec<FdKind>, Vec<OwnedFd>) {
    let mut ks = Vec::new();
    let mut fds = Vec::new();
    for &k in kinds {
        match open(k) {
            Ok(fd) => {
                ks.push(k);
                fds.push(fd);
            }
            Err(e) => crate::log!("Unable to open a {k:?} socket: {e}"),
        }
    }
    (ks, fds)
}

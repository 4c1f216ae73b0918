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
    Ok(s.into())
}

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

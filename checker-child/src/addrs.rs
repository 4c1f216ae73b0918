//! The host's addresses, for `ha_suspend`: an rtnetlink socket bound to the IPv4 and IPv6
//! address groups (no capability needed), a dump of every address at start, then
//! `RTM_NEWADDR`/`RTM_DELADDR` events. keepalived's checker keeps the same watch
//! (`keepalived_netlink.c` → `update_checker_activity`), counting an address once per
//! interface that has it; so do we, from the set of (interface, address) pairs.

use std::collections::HashSet;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

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
        let mut present = HashSet::new();
        let groups = (libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
        // RTM_GETADDR dump: an ifaddrmsg of family AF_UNSPEC (both).
        let fd = ipc::rtnl::open_dump(groups, RTM_GETADDR, 8, |m, done| {
            for ev in parse(m, done) {
                apply(&mut present, &ev);
            }
        })?;
        Ok(Addrs { fd, present })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// On how many interfaces `addr` is.
    pub fn count(&self, addr: IpAddr) -> u32 {
        self.present.iter().filter(|(_, a)| *a == addr).count() as u32
    }

    /// Every event waiting: the addresses whose count changed, with the new count.
    pub fn read(&mut self) -> Vec<(IpAddr, u32)> {
        let mut changed: Vec<IpAddr> = Vec::new();
        let present = &mut self.present;
        ipc::rtnl::drain(&self.fd, |m| {
            let mut done = false;
            for ev in parse(m, &mut done) {
                if apply(present, &ev) && !changed.contains(&ev.addr) {
                    changed.push(ev.addr);
                }
            }
        });
        changed.into_iter().map(|a| (a, self.count(a))).collect()
    }
}

/// Record an event; whether it changed the set.
fn apply(present: &mut HashSet<(u32, IpAddr)>, ev: &AddrEvent) -> bool {
    if ev.added {
        present.insert((ev.index, ev.addr))
    } else {
        present.remove(&(ev.index, ev.addr))
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

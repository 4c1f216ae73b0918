//! Virtual and static addresses over rtnetlink (neli's synchronous socket; no threads).

use conf::model::IpAddress;
use neli::consts::nl::NlmF;
use neli::consts::rtnl::{Ifa, RtAddrFamily, RtScope, Rtm};
use neli::consts::socket::NlFamily;
use neli::nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder};
use neli::rtnl::{Ifaddrmsg, IfaddrmsgBuilder, RtattrBuilder};
use neli::socket::synchronous::NlSocketHandle;
use neli::types::RtBuffer;
use neli::utils::Groups;
use std::net::IpAddr;

pub struct Rtnl {
    sock: NlSocketHandle,
    seq: u32,
}

/// What went wrong, with the errno when the kernel said it.
#[derive(Debug)]
pub struct NlError {
    pub errno: i32,
    pub text: String,
}

impl std::fmt::Display for NlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

pub fn err(text: impl Into<String>) -> NlError {
    NlError {
        errno: 0,
        text: text.into(),
    }
}

fn scope(name: Option<&str>) -> Result<RtScope, NlError> {
    Ok(match name {
        None | Some("global") | Some("universe") => RtScope::Universe,
        Some("site") => RtScope::Site,
        Some("link") => RtScope::Link,
        Some("host") => RtScope::Host,
        Some("nowhere") => RtScope::Nowhere,
        Some(o) => return Err(err(format!("unknown scope {o}"))),
    })
}

pub fn octets(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

/// The broadcast address a spec asks for: `brd IP`, `brd +` (all host bits set), or none.
fn broadcast(a: &IpAddress) -> Result<Option<Vec<u8>>, NlError> {
    let IpAddr::V4(v4) = a.addr else {
        return Ok(None);
    };
    match a.brd.as_deref() {
        None | Some("-") => Ok(None),
        Some("+") => {
            let mask = if a.prefix == 0 {
                0
            } else {
                u32::MAX << (32 - a.prefix as u32)
            };
            Ok(Some((u32::from(v4) | !mask).to_be_bytes().to_vec()))
        }
        Some(ip) => match ip.parse::<std::net::Ipv4Addr>() {
            Ok(b) => Ok(Some(b.octets().to_vec())),
            Err(_) => Err(err(format!("invalid broadcast address {ip}"))),
        },
    }
}

impl Rtnl {
    pub fn connect() -> Result<Self, NlError> {
        let sock = NlSocketHandle::connect(NlFamily::Route, None, Groups::empty())
            .map_err(|e| err(format!("netlink: {e}")))?;
        Ok(Rtnl { sock, seq: 0 })
    }

    fn ifaddrmsg(a: &IpAddress, dev: &str, with_attrs: bool) -> Result<Ifaddrmsg, NlError> {
        let ifindex = nix::net::if_::if_nametoindex(dev).map_err(|e| NlError {
            errno: e as i32,
            text: format!("interface {dev}: {e}"),
        })?;
        let mut attrs = RtBuffer::new();
        let addr = octets(a.addr);
        let attr = |t: Ifa, payload: &[u8]| {
            RtattrBuilder::default()
                .rta_type(t)
                .rta_payload(payload)
                .build()
                .map_err(|e| err(e.to_string()))
        };
        attrs.push(attr(Ifa::Local, &addr)?);
        let address = match a.peer.as_deref() {
            Some(p) => octets(
                p.split('/')
                    .next()
                    .unwrap_or(p)
                    .parse::<IpAddr>()
                    .map_err(|_| err(format!("invalid peer {p}")))?,
            ),
            None => addr.clone(),
        };
        attrs.push(attr(Ifa::Address, &address)?);
        if with_attrs {
            if let Some(b) = broadcast(a)? {
                attrs.push(attr(Ifa::Broadcast, &b)?);
            }
            if let Some(label) = &a.label {
                let l = RtattrBuilder::default()
                    .rta_type(Ifa::Label)
                    .rta_payload(label.as_str())
                    .build()
                    .map_err(|e| err(e.to_string()))?;
                attrs.push(l);
            }
        }
        IfaddrmsgBuilder::default()
            .ifa_family(if a.addr.is_ipv4() {
                RtAddrFamily::Inet
            } else {
                RtAddrFamily::Inet6
            })
            .ifa_prefixlen(a.prefix)
            .ifa_scope(scope(a.scope.as_deref())?)
            .ifa_index(ifindex)
            .rtattrs(attrs)
            .build()
            .map_err(|e| err(e.to_string()))
    }

    /// One request, answered by an ACK or the kernel's error.
    pub fn request<P>(&mut self, rtm: Rtm, flags: NlmF, msg: P) -> Result<(), NlError>
    where
        P: neli::Size + neli::ToBytes + neli::FromBytesWithInput<Input = usize> + std::fmt::Debug,
    {
        self.seq = self.seq.wrapping_add(1);
        let hdr = NlmsghdrBuilder::default()
            .nl_type(rtm)
            .nl_flags(NlmF::REQUEST | NlmF::ACK | flags)
            .nl_seq(self.seq)
            .nl_payload(NlPayload::Payload(msg))
            .build()
            .map_err(|e| err(e.to_string()))?;
        self.sock
            .send(&hdr)
            .map_err(|e| err(format!("netlink send: {e}")))?;
        loop {
            let (iter, _) = self
                .sock
                .recv::<Rtm, P>()
                .map_err(|e| err(format!("netlink recv: {e}")))?;
            for m in iter {
                let m: Nlmsghdr<Rtm, P> = m.map_err(|e| err(format!("netlink parse: {e}")))?;
                if *m.nl_seq() != self.seq {
                    continue;
                }
                match m.nl_payload() {
                    NlPayload::Ack(_) => return Ok(()),
                    NlPayload::Err(e) => {
                        let errno = -*e.error();
                        return Err(NlError {
                            errno,
                            text: std::io::Error::from_raw_os_error(errno).to_string(),
                        });
                    }
                    _ => {}
                }
            }
        }
    }

    /// Add an address (`ip addr add`), as keepalived: an address already there is fine.
    pub fn add(&mut self, a: &IpAddress, default_dev: &str) -> Result<(), NlError> {
        let dev = a.dev.as_deref().unwrap_or(default_dev);
        let msg = Self::ifaddrmsg(a, dev, true)?;
        match self.request(Rtm::Newaddr, NlmF::CREATE | NlmF::EXCL, msg) {
            Err(e) if e.errno == libc::EEXIST => Ok(()),
            r => r,
        }
    }

    /// Remove an address; one already gone is fine.
    pub fn del(&mut self, a: &IpAddress, default_dev: &str) -> Result<(), NlError> {
        let dev = a.dev.as_deref().unwrap_or(default_dev);
        let msg = Self::ifaddrmsg(a, dev, false)?;
        match self.request(Rtm::Deladdr, NlmF::empty(), msg) {
            Err(e) if e.errno == libc::EADDRNOTAVAIL || e.errno == libc::ENODEV => Ok(()),
            r => r,
        }
    }
}

/// keepalived's `Sending/queueing gratuitous ARPs`-era log format of an address.
pub fn show(a: &IpAddress) -> String {
    format!("{}/{}", a.addr, a.prefix)
}

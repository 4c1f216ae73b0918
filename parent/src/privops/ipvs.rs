//! IPVS over generic netlink (family `IPVS`, `include/uapi/linux/ip_vs.h`), on neli's
//! synchronous socket. The message bodies are encoded and decoded here by pure functions
//! (`encode_*`, `decode_*`), so they are tested byte by byte without a kernel; the socket
//! part is a thin request/ack and dump loop.
//!
//! What keepalived's `libipvs.c` sends, we send: a service is AF + (FWMARK | PROTOCOL, ADDR,
//! PORT) + SCHED_NAME + FLAGS{flags, mask ~0} + TIMEOUT + NETMASK (+ PE_NAME); a destination
//! is ADDR + PORT + FWD_METHOD + WEIGHT + U_THRESH + L_THRESH (+ ADDR_FAMILY, TUN_*).

use super::addr::{err, NlError};
use conf::model::{LvsMethod, Protocol, RealServer, VirtualServer, VsGroup, VsKey, VsgEntry};
use neli::consts::nl::NlmF;
use neli::consts::socket::NlFamily;
use neli::nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder};
use neli::socket::synchronous::NlSocketHandle;
use neli::types::Buffer;
use neli::utils::Groups;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// Commands (enum in ip_vs.h, from IPVS_CMD_UNSPEC = 0).
const CMD_NEW_SERVICE: u8 = 1;
const CMD_SET_SERVICE: u8 = 2;
const CMD_DEL_SERVICE: u8 = 3;
const CMD_GET_SERVICE: u8 = 4;
const CMD_NEW_DEST: u8 = 5;
const CMD_SET_DEST: u8 = 6;
const CMD_DEL_DEST: u8 = 7;
const CMD_GET_DEST: u8 = 8;
const CMD_NEW_DAEMON: u8 = 9;
const CMD_DEL_DAEMON: u8 = 10;
const CMD_SET_CONFIG: u8 = 12;
const CMD_GET_CONFIG: u8 = 13;
const CMD_FLUSH: u8 = 17;
const GENL_VERSION: u8 = 1;

// First-level attributes.
const CMD_ATTR_SERVICE: u16 = 1;
const CMD_ATTR_DEST: u16 = 2;
const CMD_ATTR_DAEMON: u16 = 3;
const CMD_ATTR_TIMEOUT_TCP: u16 = 4;
const CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
const CMD_ATTR_TIMEOUT_UDP: u16 = 6;

// Sync daemon attributes.
const DAEMON_STATE: u16 = 1;
const DAEMON_MCAST_IFN: u16 = 2;
const DAEMON_SYNC_ID: u16 = 3;
const DAEMON_SYNC_MAXLEN: u16 = 4;
const DAEMON_MCAST_GROUP: u16 = 5;
const DAEMON_MCAST_GROUP6: u16 = 6;
const DAEMON_MCAST_PORT: u16 = 7;
const DAEMON_MCAST_TTL: u16 = 8;
/// IP_VS_STATE_MASTER / IP_VS_STATE_BACKUP.
pub const SYNC_MASTER: u32 = 1;
pub const SYNC_BACKUP: u32 = 2;

// Service attributes.
const SVC_AF: u16 = 1;
const SVC_PROTOCOL: u16 = 2;
const SVC_ADDR: u16 = 3;
const SVC_PORT: u16 = 4;
const SVC_FWMARK: u16 = 5;
const SVC_SCHED_NAME: u16 = 6;
const SVC_FLAGS: u16 = 7;
const SVC_TIMEOUT: u16 = 8;
const SVC_NETMASK: u16 = 9;
const SVC_PE_NAME: u16 = 11;

// Destination attributes.
const DEST_ADDR: u16 = 1;
const DEST_PORT: u16 = 2;
const DEST_FWD_METHOD: u16 = 3;
const DEST_WEIGHT: u16 = 4;
const DEST_U_THRESH: u16 = 5;
const DEST_L_THRESH: u16 = 6;
const DEST_ADDR_FAMILY: u16 = 11;
const DEST_TUN_TYPE: u16 = 13;
const DEST_TUN_PORT: u16 = 14;
const DEST_TUN_FLAGS: u16 = 15;

// nlctrl, to resolve the family id.
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

const NLA_F_NESTED: u16 = 1 << 15;

// Service flags (IP_VS_SVC_F_*).
pub const F_PERSISTENT: u32 = 0x0001;
pub const F_HASHED: u32 = 0x0002;
pub const F_ONEPACKET: u32 = 0x0004;
pub const F_SCHED1: u32 = 0x0008;
pub const F_SCHED2: u32 = 0x0010;
pub const F_SCHED3: u32 = 0x0020;

// Forwarding methods (IP_VS_CONN_F_*).
pub const FWD_MASQ: u32 = 0;
pub const FWD_TUNNEL: u32 = 2;
pub const FWD_DROUTE: u32 = 3;

const AF_INET: u16 = libc::AF_INET as u16;
const AF_INET6: u16 = libc::AF_INET6 as u16;

/// How the kernel tells one service from another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SvcKey {
    Fwmark { af: u16, mark: u32 },
    Addr { proto: u16, addr: IpAddr, port: u16 },
}

impl SvcKey {
    pub fn af(&self) -> u16 {
        match self {
            SvcKey::Fwmark { af, .. } => *af,
            SvcKey::Addr { addr, .. } => af_of(*addr),
        }
    }
}

impl std::fmt::Display for SvcKey {
    /// keepalived's service format: `[IP]:tcp:PORT`, `FWM n`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SvcKey::Fwmark { mark, .. } => write!(f, "FWM {mark}"),
            SvcKey::Addr { proto, addr, port } => {
                let p = match *proto as i32 {
                    libc::IPPROTO_TCP => "tcp",
                    libc::IPPROTO_UDP => "udp",
                    libc::IPPROTO_SCTP => "sctp",
                    _ => "?",
                };
                write!(f, "[{addr}]:{p}:{port}")
            }
        }
    }
}

/// One IPVS service as the kernel holds it (the fields we set and compare).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub key: SvcKey,
    pub sched: String,
    /// IP_VS_SVC_F_* without HASHED (the kernel's own bookkeeping bit).
    pub flags: u32,
    pub timeout: u32,
    /// IPv4: the mask's octets as a native u32 (as the kernel stores it); IPv6: prefix length.
    pub netmask: u32,
    pub pe_name: Option<String>,
}

/// One destination (real server) of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dest {
    pub addr: IpAddr,
    pub port: u16,
    pub fwd: u32,
    pub weight: u32,
    pub u_thresh: u32,
    pub l_thresh: u32,
    pub tun_type: Option<u8>,
    pub tun_port: Option<u16>,
    pub tun_flags: Option<u16>,
}

impl Dest {
    pub fn key(&self) -> (IpAddr, u16) {
        (self.addr, self.port)
    }
}

/// The kernel's table (or the part of it we know), services with their destinations.
pub type Table = BTreeMap<SvcKey, (Service, BTreeMap<(IpAddr, u16), Dest>)>;

fn af_of(a: IpAddr) -> u16 {
    if a.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    }
}

// ---- attribute encoding ---------------------------------------------------------------

fn put(buf: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(payload);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

fn put_nested(buf: &mut Vec<u8>, ty: u16, inner: &[u8]) {
    put(buf, ty | NLA_F_NESTED, inner);
}

/// A nested attribute whose payload `fill` writes in place (no buffer of its own).
fn nest(buf: &mut Vec<u8>, ty: u16, fill: impl FnOnce(&mut Vec<u8>)) {
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    fill(buf);
    let len = (buf.len() - at) as u16;
    buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    buf[at + 2..at + 4].copy_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
}

fn put_str(buf: &mut Vec<u8>, ty: u16, s: &str) {
    let len = 4 + s.len() + 1;
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// 16 bytes, as `union nf_inet_addr`.
fn addr16(a: IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match a {
        IpAddr::V4(v) => out[..4].copy_from_slice(&v.octets()),
        IpAddr::V6(v) => out = v.octets(),
    }
    out
}

/// The nested service attributes: the key alone (`full` false, for DEL and dest commands)
/// or everything NEW/SET_SERVICE needs.
#[cfg(test)]
pub fn encode_service(s: &Service, full: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(96);
    service_into(&mut b, s, full);
    b
}

fn service_into(b: &mut Vec<u8>, s: &Service, full: bool) {
    put(b, SVC_AF, &s.key.af().to_ne_bytes());
    match s.key {
        SvcKey::Fwmark { mark, .. } => put(b, SVC_FWMARK, &mark.to_ne_bytes()),
        SvcKey::Addr { proto, addr, port } => {
            put(b, SVC_PROTOCOL, &proto.to_ne_bytes());
            put(b, SVC_ADDR, &addr16(addr));
            put(b, SVC_PORT, &port.to_be_bytes());
        }
    }
    if full {
        put_str(b, SVC_SCHED_NAME, &s.sched);
        if let Some(pe) = &s.pe_name {
            put_str(b, SVC_PE_NAME, pe);
        }
        let mut flags = [0u8; 8];
        flags[..4].copy_from_slice(&s.flags.to_ne_bytes());
        flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
        put(b, SVC_FLAGS, &flags);
        put(b, SVC_TIMEOUT, &s.timeout.to_ne_bytes());
        put(b, SVC_NETMASK, &s.netmask.to_ne_bytes());
    }
}

#[cfg(test)]
pub fn encode_dest(d: &Dest, full: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(96);
    dest_into(&mut b, d, full);
    b
}

fn dest_into(b: &mut Vec<u8>, d: &Dest, full: bool) {
    put(b, DEST_ADDR, &addr16(d.addr));
    put(b, DEST_PORT, &d.port.to_be_bytes());
    if full {
        put(b, DEST_ADDR_FAMILY, &af_of(d.addr).to_ne_bytes());
        put(b, DEST_FWD_METHOD, &d.fwd.to_ne_bytes());
        put(b, DEST_WEIGHT, &d.weight.to_ne_bytes());
        put(b, DEST_U_THRESH, &d.u_thresh.to_ne_bytes());
        put(b, DEST_L_THRESH, &d.l_thresh.to_ne_bytes());
        if let Some(t) = d.tun_type {
            put(b, DEST_TUN_TYPE, &[t]);
        }
        if let Some(p) = d.tun_port {
            put(b, DEST_TUN_PORT, &p.to_be_bytes());
        }
        if let Some(f) = d.tun_flags {
            put(b, DEST_TUN_FLAGS, &f.to_ne_bytes());
        }
    }
}

/// A generic-netlink body: genl header, then attributes.
fn genl(cmd: u8, attrs: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(4 + attrs.len());
    b.extend_from_slice(&[cmd, GENL_VERSION, 0, 0]);
    b.extend_from_slice(attrs);
    b
}

/// Service and destination commands are built in one buffer each (10,000 of them at
/// start: no attribute gets a buffer of its own).
pub fn service_msg(cmd: u8, s: &Service, full: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(if full { 112 } else { 56 });
    service_msg_into(&mut b, cmd, s, full);
    b
}

/// [`service_msg`] appended to `b` (bodies queued back to back in one buffer).
pub fn service_msg_into(b: &mut Vec<u8>, cmd: u8, s: &Service, full: bool) {
    b.extend_from_slice(&[cmd, GENL_VERSION, 0, 0]);
    nest(b, CMD_ATTR_SERVICE, |b| service_into(b, s, full));
}

#[cfg(test)]
pub fn dest_msg(cmd: u8, s: &Service, d: &Dest, full: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(160);
    dest_msg_into(&mut b, cmd, s, d, full);
    b
}

/// [`dest_msg`] appended to `b`.
pub fn dest_msg_into(b: &mut Vec<u8>, cmd: u8, s: &Service, d: &Dest, full: bool) {
    b.extend_from_slice(&[cmd, GENL_VERSION, 0, 0]);
    nest(b, CMD_ATTR_SERVICE, |b| service_into(b, s, false));
    nest(b, CMD_ATTR_DEST, |b| dest_into(b, d, full));
}

// ---- attribute decoding ---------------------------------------------------------------

/// Attributes of one level: (type without flags, payload). Malformed input ends the walk.
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & !(3 << 14);
        if len < 4 || len > b.len() {
            break;
        }
        out.push((ty, &b[4..len]));
        let next = (len + 3) & !3;
        b = b.get(next..).unwrap_or(&[]);
    }
    out
}

fn get<'a>(a: &[(u16, &'a [u8])], ty: u16) -> Option<&'a [u8]> {
    a.iter().find(|(t, _)| *t == ty).map(|(_, p)| *p)
}

fn u16_ne(p: Option<&[u8]>) -> Option<u16> {
    Some(u16::from_ne_bytes(p?.get(..2)?.try_into().ok()?))
}

fn u16_be(p: Option<&[u8]>) -> Option<u16> {
    Some(u16::from_be_bytes(p?.get(..2)?.try_into().ok()?))
}

fn u32_ne(p: Option<&[u8]>) -> Option<u32> {
    Some(u32::from_ne_bytes(p?.get(..4)?.try_into().ok()?))
}

fn addr_of(af: u16, p: Option<&[u8]>) -> Option<IpAddr> {
    let p = p?;
    if af == AF_INET6 {
        let o: [u8; 16] = p.get(..16)?.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(o)))
    } else {
        let o: [u8; 4] = p.get(..4)?.try_into().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(o)))
    }
}

fn cstr(p: Option<&[u8]>) -> Option<String> {
    let p = p?;
    let end = p.iter().position(|&c| c == 0).unwrap_or(p.len());
    String::from_utf8(p[..end].to_vec()).ok()
}

/// A service from the nested attributes of a GET_SERVICE reply.
pub fn decode_service(nested: &[u8]) -> Option<Service> {
    let a = attrs(nested);
    let af = u16_ne(get(&a, SVC_AF))?;
    let key = match u32_ne(get(&a, SVC_FWMARK)) {
        Some(mark) if mark != 0 => SvcKey::Fwmark { af, mark },
        _ => SvcKey::Addr {
            proto: u16_ne(get(&a, SVC_PROTOCOL))?,
            addr: addr_of(af, get(&a, SVC_ADDR))?,
            port: u16_be(get(&a, SVC_PORT))?,
        },
    };
    Some(Service {
        key,
        sched: cstr(get(&a, SVC_SCHED_NAME)).unwrap_or_default(),
        flags: u32_ne(get(&a, SVC_FLAGS)).unwrap_or(0) & !F_HASHED,
        timeout: u32_ne(get(&a, SVC_TIMEOUT)).unwrap_or(0),
        netmask: u32_ne(get(&a, SVC_NETMASK)).unwrap_or(0),
        pe_name: cstr(get(&a, SVC_PE_NAME)).filter(|s| !s.is_empty()),
    })
}

/// A destination from the nested attributes of a GET_DEST reply (`svc_af` when the kernel
/// gives no ADDR_FAMILY).
pub fn decode_dest(nested: &[u8], svc_af: u16) -> Option<Dest> {
    let a = attrs(nested);
    let af = u16_ne(get(&a, DEST_ADDR_FAMILY)).unwrap_or(svc_af);
    let fwd = u32_ne(get(&a, DEST_FWD_METHOD))? & 7;
    let tunnel = fwd == FWD_TUNNEL;
    Some(Dest {
        addr: addr_of(af, get(&a, DEST_ADDR))?,
        port: u16_be(get(&a, DEST_PORT))?,
        fwd,
        weight: u32_ne(get(&a, DEST_WEIGHT))?,
        u_thresh: u32_ne(get(&a, DEST_U_THRESH)).unwrap_or(0),
        l_thresh: u32_ne(get(&a, DEST_L_THRESH)).unwrap_or(0),
        tun_type: get(&a, DEST_TUN_TYPE)
            .and_then(|p| p.first().copied())
            .filter(|_| tunnel),
        tun_port: u16_be(get(&a, DEST_TUN_PORT)).filter(|_| tunnel),
        tun_flags: u16_ne(get(&a, DEST_TUN_FLAGS)).filter(|_| tunnel),
    })
}

/// The nested payload of first-level attribute `ty` in a genl body (after the 4-byte header).
fn nested_of(body: &[u8], ty: u16) -> Option<&[u8]> {
    get(&attrs(body.get(4..)?), ty)
}

// ---- from the configuration -----------------------------------------------------------

fn proto_num(p: Protocol) -> u16 {
    (match p {
        Protocol::Tcp => libc::IPPROTO_TCP,
        Protocol::Udp => libc::IPPROTO_UDP,
        Protocol::Sctp => libc::IPPROTO_SCTP,
    }) as u16
}

/// keepalived's flag words to IP_VS_SVC_F_* bits.
fn flag_bits(words: &[String]) -> u32 {
    words.iter().fold(0, |f, w| {
        f | match w.as_str() {
            "ops" => F_ONEPACKET,
            "flag-1" | "sh-fallback" | "mh-fallback" => F_SCHED1,
            "flag-2" | "sh-port" | "mh-port" => F_SCHED2,
            "flag-3" => F_SCHED3,
            _ => 0,
        }
    })
}

fn netmask(vs: &VirtualServer, af: u16) -> u32 {
    if af == AF_INET6 {
        return vs
            .persistence_granularity
            .as_deref()
            .and_then(|g| g.trim_start_matches('/').parse::<u32>().ok())
            .unwrap_or(128);
    }
    vs.persistence_granularity
        .as_deref()
        .and_then(|g| g.parse::<Ipv4Addr>().ok())
        .map(|m| u32::from_ne_bytes(m.octets()))
        .unwrap_or(u32::MAX)
}

/// The family of a fwmark service: `ip_family`, else that of its real servers.
fn fwmark_af(vs: &VirtualServer, family6: Option<bool>) -> u16 {
    let six = family6
        .or(vs.ip_family6)
        .or_else(|| vs.real_servers.first().map(|r| r.addr.is_ipv6()))
        .unwrap_or(false);
    if six {
        AF_INET6
    } else {
        AF_INET
    }
}

/// Every kernel service a virtual server stands for: one, or one per group entry (each
/// address of a range).
pub fn services_of(vs: &VirtualServer, groups: &[VsGroup]) -> Vec<Service> {
    let proto = proto_num(vs.protocol);
    let mut keys = Vec::new();
    match &vs.key {
        VsKey::Addr { addr, port } => keys.push(SvcKey::Addr {
            proto,
            addr: *addr,
            port: *port,
        }),
        VsKey::Fwmark(mark) => keys.push(SvcKey::Fwmark {
            af: fwmark_af(vs, None),
            mark: *mark,
        }),
        VsKey::Group(name) => {
            for g in groups.iter().filter(|g| &g.name == name) {
                for e in &g.entries {
                    match e {
                        VsgEntry::Range { first, last, port } => {
                            for addr in range(*first, *last) {
                                keys.push(SvcKey::Addr {
                                    proto,
                                    addr,
                                    port: *port,
                                });
                            }
                        }
                        VsgEntry::Fwmark { mark, family6 } => keys.push(SvcKey::Fwmark {
                            af: fwmark_af(vs, *family6),
                            mark: *mark,
                        }),
                    }
                }
            }
        }
    }
    let mut flags = flag_bits(&vs.flags);
    if vs.persistence_timeout.is_some() {
        flags |= F_PERSISTENT;
    }
    keys.into_iter()
        .map(|key| Service {
            key,
            sched: vs.lb_algo.clone(),
            flags,
            timeout: vs.persistence_timeout.unwrap_or(0),
            netmask: netmask(vs, key.af()),
            pe_name: vs.persistence_engine.clone(),
        })
        .collect()
}

/// Addresses from `first` to `last` inclusive (at most 65536, as a guard).
fn range(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a)..=u32::from(b).max(u32::from(a)))
            .take(65536)
            .map(|n| IpAddr::V4(Ipv4Addr::from(n)))
            .collect(),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a)..=u128::from(b).max(u128::from(a)))
            .take(65536)
            .map(|n| IpAddr::V6(Ipv6Addr::from(n)))
            .collect(),
        _ => vec![first],
    }
}

/// The destination a real server stands for, at `weight`, in service `svc`.
pub fn dest_of(vs: &VirtualServer, rs: &RealServer, svc: &Service, weight: u32) -> Dest {
    let method = rs.lvs_method.as_ref().unwrap_or(&vs.lb_kind);
    let (fwd, tun) = match method {
        LvsMethod::Nat => (FWD_MASQ, None),
        LvsMethod::Dr => (FWD_DROUTE, None),
        LvsMethod::Tun(opts) => (FWD_TUNNEL, Some(tunnel(opts))),
    };
    // A non-NAT real server of a fwmark service has no port (keepalived clears it); of an
    // address service it takes the service's port.
    let port = match (fwd, svc.key) {
        (FWD_MASQ, _) => rs.port,
        (_, SvcKey::Fwmark { .. }) => 0,
        (_, SvcKey::Addr { port, .. }) => port,
    };
    Dest {
        addr: rs.addr,
        port,
        fwd,
        weight,
        u_thresh: rs.uthreshold.unwrap_or(0),
        l_thresh: rs.lthreshold.unwrap_or(0),
        tun_type: tun.map(|t| t.0),
        tun_port: tun.map(|t| t.1),
        tun_flags: tun.map(|t| t.2),
    }
}

/// `TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]` → (type, port, flags).
fn tunnel(opts: &[String]) -> (u8, u16, u16) {
    let (mut ty, mut port, mut flags) = (0u8, 0u16, 0u16);
    let mut it = opts.iter().map(String::as_str);
    while let Some(w) = it.next() {
        match w {
            "type" => {
                ty = match it.next() {
                    Some("gue") => 1,
                    Some("gre") => 2,
                    _ => 0,
                }
            }
            "port" => port = it.next().and_then(|p| p.parse().ok()).unwrap_or(0),
            "csum" => flags = 1,
            "remcsum" => flags = 2,
            _ => {}
        }
    }
    (ty, port, flags)
}

// ---- the socket -----------------------------------------------------------------------

pub struct Ipvs {
    sock: NlSocketHandle,
    family: u16,
    seq: u32,
}

/// One reply message: its type and body.
struct Reply {
    ty: u16,
    body: Vec<u8>,
}

impl Ipvs {
    /// Connect and resolve the `IPVS` family; `Ok(None)` when the kernel has no IPVS.
    pub fn connect() -> Result<Option<Self>, NlError> {
        let sock = NlSocketHandle::connect(NlFamily::Generic, None, Groups::empty())
            .map_err(|e| err(format!("netlink: {e}")))?;
        let _ = sock.set_recv_buffer_size(1 << 20);
        let mut me = Ipvs {
            sock,
            family: GENL_ID_CTRL,
            seq: 0,
        };
        let mut a = Vec::new();
        put_str(&mut a, CTRL_ATTR_FAMILY_NAME, "IPVS");
        let body = genl(CTRL_CMD_GETFAMILY, &a);
        let replies = match me.talk(GENL_ID_CTRL, NlmF::empty(), body) {
            Ok(r) => r,
            Err(e) if e.errno == libc::ENOENT => return Ok(None),
            Err(e) => return Err(e),
        };
        let id = replies
            .iter()
            .find(|r| r.ty == GENL_ID_CTRL)
            .and_then(|r| u16_ne(get(&attrs(r.body.get(4..)?), CTRL_ATTR_FAMILY_ID)))
            .ok_or_else(|| err("nlctrl gave no IPVS family id"))?;
        me.family = id;
        Ok(Some(me))
    }

    /// Send one request and collect its replies up to the ACK (or DONE, for a dump).
    fn talk(&mut self, ty: u16, flags: NlmF, body: Vec<u8>) -> Result<Vec<Reply>, NlError> {
        self.seq = self.seq.wrapping_add(1);
        let dump = flags.contains(NlmF::DUMP);
        let hdr = NlmsghdrBuilder::default()
            .nl_type(ty)
            .nl_flags(NlmF::REQUEST | NlmF::ACK | flags)
            .nl_seq(self.seq)
            .nl_payload(NlPayload::Payload(Buffer::from(body)))
            .build()
            .map_err(|e| err(e.to_string()))?;
        self.sock
            .send(&hdr)
            .map_err(|e| err(format!("netlink send: {e}")))?;
        let mut out = Vec::new();
        loop {
            let (iter, _) = self
                .sock
                .recv::<u16, Buffer>()
                .map_err(|e| err(format!("netlink recv: {e}")))?;
            for m in iter {
                let m: Nlmsghdr<u16, Buffer> = m.map_err(|e| err(format!("netlink parse: {e}")))?;
                if *m.nl_seq() != self.seq {
                    continue;
                }
                match m.nl_payload() {
                    NlPayload::Ack(_) if !dump => return Ok(out),
                    NlPayload::Err(e) => {
                        let errno = -*e.error();
                        return Err(NlError {
                            errno,
                            text: format!("{} ({errno})", std::io::Error::from_raw_os_error(errno)),
                        });
                    }
                    NlPayload::Payload(p) if *m.nl_type() != libc::NLMSG_DONE as u16 => {
                        out.push(Reply {
                            ty: *m.nl_type(),
                            body: p.as_ref().to_vec(),
                        })
                    }
                    _ if *m.nl_type() == libc::NLMSG_DONE as u16 => return Ok(out),
                    _ => {}
                }
            }
        }
    }

    fn cmd(&mut self, body: Vec<u8>, flags: NlmF) -> Result<Vec<Reply>, NlError> {
        self.talk(self.family, flags, body)
    }

    /// The kernel's whole table.
    pub fn dump(&mut self) -> Result<Table, NlError> {
        let mut table = Table::new();
        let replies = self.cmd(genl(CMD_GET_SERVICE, &[]), NlmF::DUMP)?;
        for r in replies {
            let Some(s) = nested_of(&r.body, CMD_ATTR_SERVICE).and_then(decode_service) else {
                continue;
            };
            table.insert(s.key, (s, BTreeMap::new()));
        }
        let keys: Vec<SvcKey> = table.keys().copied().collect();
        for k in keys {
            let Some((svc, dests)) = table.get_mut(&k) else {
                continue;
            };
            let body = service_msg(CMD_GET_DEST, svc, false);
            for r in self.cmd(body, NlmF::DUMP)? {
                if let Some(d) =
                    nested_of(&r.body, CMD_ATTR_DEST).and_then(|n| decode_dest(n, k.af()))
                {
                    dests.insert(d.key(), d);
                }
            }
        }
        Ok(table)
    }

    /// Many requests at once: up to `BATCH` per send, then each one's ACK or error, in order
    /// (the kernel handles the messages of one send one after the other).
    pub fn batch<B: AsRef<[u8]>>(&mut self, bodies: &[B]) -> Vec<Result<(), NlError>> {
        const BATCH: usize = 256;
        let mut out = Vec::with_capacity(bodies.len());
        for chunk in bodies.chunks(BATCH) {
            let first = self.seq.wrapping_add(1);
            let mut buf = Vec::with_capacity(chunk.len() * 128);
            for (i, b) in chunk.iter().enumerate() {
                let b = b.as_ref();
                self.seq = self.seq.wrapping_add(1);
                // Only the last request of a chunk asks for an ACK: the kernel handles the
                // messages of one send in order, so its ACK says every earlier one is done,
                // and a failed one still answers with its error.
                let flags = if i + 1 == chunk.len() {
                    libc::NLM_F_REQUEST | libc::NLM_F_ACK
                } else {
                    libc::NLM_F_REQUEST
                };
                buf.extend_from_slice(&((16 + b.len()) as u32).to_ne_bytes());
                buf.extend_from_slice(&self.family.to_ne_bytes());
                buf.extend_from_slice(&(flags as u16).to_ne_bytes());
                buf.extend_from_slice(&self.seq.to_ne_bytes());
                buf.extend_from_slice(&0u32.to_ne_bytes());
                buf.extend_from_slice(b);
                while !buf.len().is_multiple_of(4) {
                    buf.push(0);
                }
            }
            let mut res: Vec<Option<Result<(), NlError>>> =
                (0..chunk.len()).map(|_| None).collect();
            // SAFETY: send on the socket's own descriptor, from a buffer we own.
            let n = unsafe {
                libc::send(
                    std::os::fd::AsRawFd::as_raw_fd(&self.sock),
                    buf.as_ptr().cast(),
                    buf.len(),
                    0,
                )
            };
            if n < 0 || n as usize != buf.len() {
                let e = std::io::Error::last_os_error();
                out.extend((0..chunk.len()).map(|_| Err(err(format!("netlink send: {e}")))));
                continue;
            }
            let last = chunk.len() - 1;
            while res[last].is_none() {
                let iter = match self.sock.recv::<u16, Buffer>() {
                    Ok((iter, _)) => iter,
                    Err(e) => {
                        // Unknown outcome for the whole chunk: the caller re-reads the table.
                        for r in res.iter_mut() {
                            *r = Some(Err(err(format!("netlink recv: {e}"))));
                        }
                        break;
                    }
                };
                for m in iter {
                    let Ok(m) = m else { continue };
                    let m: Nlmsghdr<u16, Buffer> = m;
                    let i = m.nl_seq().wrapping_sub(first) as usize;
                    let Some(slot) = res.get_mut(i) else { continue };
                    let r = match m.nl_payload() {
                        NlPayload::Ack(_) => Ok(()),
                        NlPayload::Err(e) => {
                            let errno = -*e.error();
                            Err(NlError {
                                errno,
                                text: format!(
                                    "{} ({errno})",
                                    std::io::Error::from_raw_os_error(errno)
                                ),
                            })
                        }
                        _ => continue,
                    };
                    *slot = Some(r);
                }
            }
            // No answer before the last one's ACK means done.
            out.extend(res.into_iter().map(|r| r.unwrap_or(Ok(()))));
        }
        out
    }
}

/// The connection sync daemon's settings (`lvs_sync_daemon`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncDaemon {
    pub ifname: String,
    pub syncid: u32,
    pub maxlen: Option<u16>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
    pub group: Option<IpAddr>,
}

pub fn daemon_msg(cmd: u8, state: u32, d: Option<&SyncDaemon>) -> Vec<u8> {
    let mut n = Vec::new();
    put(&mut n, DAEMON_STATE, &state.to_ne_bytes());
    if let Some(d) = d {
        put_str(&mut n, DAEMON_MCAST_IFN, &d.ifname);
        put(&mut n, DAEMON_SYNC_ID, &d.syncid.to_ne_bytes());
        if let Some(m) = d.maxlen {
            put(&mut n, DAEMON_SYNC_MAXLEN, &m.to_ne_bytes());
        }
        match d.group {
            Some(IpAddr::V4(g)) => put(&mut n, DAEMON_MCAST_GROUP, &g.octets()),
            Some(IpAddr::V6(g)) => put(&mut n, DAEMON_MCAST_GROUP6, &g.octets()),
            None => {}
        }
        if let Some(p) = d.port {
            put(&mut n, DAEMON_MCAST_PORT, &p.to_be_bytes());
        }
        if let Some(t) = d.ttl {
            put(&mut n, DAEMON_MCAST_TTL, &[t]);
        }
    }
    let mut a = Vec::new();
    put_nested(&mut a, CMD_ATTR_DAEMON, &n);
    genl(cmd, &a)
}

/// IPVS connection timeouts in seconds: TCP, TCP FIN, UDP (0 = unchanged when setting).
pub type Timeouts = (u32, u32, u32);

pub fn timeouts_msg(t: Timeouts) -> Vec<u8> {
    let mut a = Vec::new();
    put(&mut a, CMD_ATTR_TIMEOUT_TCP, &t.0.to_ne_bytes());
    put(&mut a, CMD_ATTR_TIMEOUT_TCP_FIN, &t.1.to_ne_bytes());
    put(&mut a, CMD_ATTR_TIMEOUT_UDP, &t.2.to_ne_bytes());
    genl(CMD_SET_CONFIG, &a)
}

impl Ipvs {
    /// Every service and destination of the kernel's table (`lvs_flush`).
    pub fn flush_all(&mut self) -> Result<(), NlError> {
        self.cmd(genl(CMD_FLUSH, &[]), NlmF::empty()).map(drop)
    }

    pub fn get_timeouts(&mut self) -> Result<Timeouts, NlError> {
        let r = self.cmd(genl(CMD_GET_CONFIG, &[]), NlmF::empty())?;
        let body = r.first().ok_or_else(|| err("no IPVS config reply"))?;
        let a = attrs(body.body.get(4..).unwrap_or(&[]));
        Ok((
            u32_ne(get(&a, CMD_ATTR_TIMEOUT_TCP)).unwrap_or(0),
            u32_ne(get(&a, CMD_ATTR_TIMEOUT_TCP_FIN)).unwrap_or(0),
            u32_ne(get(&a, CMD_ATTR_TIMEOUT_UDP)).unwrap_or(0),
        ))
    }

    pub fn set_timeouts(&mut self, t: Timeouts) -> Result<(), NlError> {
        self.cmd(timeouts_msg(t), NlmF::empty()).map(drop)
    }

    pub fn start_daemon(&mut self, state: u32, d: &SyncDaemon) -> Result<(), NlError> {
        match self.cmd(daemon_msg(CMD_NEW_DAEMON, state, Some(d)), NlmF::empty()) {
            Err(e) if e.errno == libc::EEXIST => Ok(()),
            r => r.map(drop),
        }
    }

    pub fn stop_daemon(&mut self, state: u32) -> Result<(), NlError> {
        match self.cmd(daemon_msg(CMD_DEL_DAEMON, state, None), NlmF::empty()) {
            Err(e) if e.errno == libc::ESRCH || e.errno == libc::ENOENT => Ok(()),
            r => r.map(drop),
        }
    }
}

/// The C library's text for an errno, as keepalived prints it (no "(os error N)").
pub fn strerror(errno: i32) -> String {
    let t = std::io::Error::from_raw_os_error(errno).to_string();
    match t.find(" (os error") {
        Some(i) => t[..i].to_string(),
        None => t,
    }
}

/// keepalived's name of an IPVS command in `IPVS cmd %s(%d) error` lines.
pub fn cmd_name(cmd: u8) -> &'static str {
    match cmd {
        CMD_NEW_SERVICE => "IPVS_CMD_NEW_SERVICE",
        CMD_SET_SERVICE => "IPVS_CMD_SET_SERVICE",
        CMD_DEL_SERVICE => "IPVS_CMD_DEL_SERVICE",
        CMD_NEW_DEST => "IPVS_CMD_NEW_DEST",
        CMD_SET_DEST => "IPVS_CMD_SET_DEST",
        CMD_DEL_DEST => "IPVS_CMD_DEL_DEST",
        _ => "IPVS_CMD",
    }
}

pub const NEW_SERVICE: u8 = CMD_NEW_SERVICE;
pub const SET_SERVICE: u8 = CMD_SET_SERVICE;
pub const DEL_SERVICE: u8 = CMD_DEL_SERVICE;
pub const NEW_DEST: u8 = CMD_NEW_DEST;
pub const SET_DEST: u8 = CMD_SET_DEST;
pub const DEL_DEST: u8 = CMD_DEL_DEST;

#[cfg(test)]
mod tests {
    use super::*;

    fn svc() -> Service {
        Service {
            key: SvcKey::Addr {
                proto: 6,
                addr: "10.99.0.10".parse().unwrap(),
                port: 80,
            },
            sched: "rr".into(),
            flags: F_PERSISTENT,
            timeout: 50,
            netmask: u32::MAX,
            pe_name: None,
        }
    }

    #[test]
    fn service_attributes_are_keepalived_s() {
        let b = encode_service(&svc(), true);
        let a = attrs(&b);
        let types: Vec<u16> = a.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            types,
            vec![
                SVC_AF,
                SVC_PROTOCOL,
                SVC_ADDR,
                SVC_PORT,
                SVC_SCHED_NAME,
                SVC_FLAGS,
                SVC_TIMEOUT,
                SVC_NETMASK
            ]
        );
        assert_eq!(
            get(&a, SVC_PORT),
            Some(&[0u8, 80][..]),
            "port in network order"
        );
        assert_eq!(get(&a, SVC_ADDR).map(<[u8]>::len), Some(16));
        assert_eq!(get(&a, SVC_SCHED_NAME), Some(&b"rr\0"[..]));
        let flags = get(&a, SVC_FLAGS).unwrap();
        assert_eq!(&flags[4..], &[0xff; 4], "mask ~0");
        assert_eq!(decode_service(&b), Some(svc()));
        // The key alone for DEL / dest commands.
        assert_eq!(attrs(&encode_service(&svc(), false)).len(), 4);
    }

    #[test]
    fn messages_built_in_place_are_the_nested_attributes() {
        // Each attribute in a buffer of its own, then nested: what the in-place builders
        // must produce byte for byte (odd-length names get their padding).
        fn nested_by_parts(cmd: u8, s: &Service, d: Option<&Dest>, full: bool) -> Vec<u8> {
            let mut a = Vec::new();
            let str_attr = |b: &mut Vec<u8>, ty, v: &str| {
                let mut p = v.as_bytes().to_vec();
                p.push(0);
                put(b, ty, &p);
            };
            let mut sv = Vec::new();
            put(&mut sv, SVC_AF, &s.key.af().to_ne_bytes());
            if let SvcKey::Addr { proto, addr, port } = s.key {
                put(&mut sv, SVC_PROTOCOL, &proto.to_ne_bytes());
                put(&mut sv, SVC_ADDR, &addr16(addr));
                put(&mut sv, SVC_PORT, &port.to_be_bytes());
            }
            if full && d.is_none() {
                str_attr(&mut sv, SVC_SCHED_NAME, &s.sched);
                if let Some(pe) = &s.pe_name {
                    str_attr(&mut sv, SVC_PE_NAME, pe);
                }
                let mut f = s.flags.to_ne_bytes().to_vec();
                f.extend_from_slice(&u32::MAX.to_ne_bytes());
                put(&mut sv, SVC_FLAGS, &f);
                put(&mut sv, SVC_TIMEOUT, &s.timeout.to_ne_bytes());
                put(&mut sv, SVC_NETMASK, &s.netmask.to_ne_bytes());
            }
            put_nested(&mut a, CMD_ATTR_SERVICE, &sv);
            if let Some(d) = d {
                put_nested(&mut a, CMD_ATTR_DEST, &encode_dest(d, full));
            }
            genl(cmd, &a)
        }
        let mut s = svc();
        for (sched, pe) in [("rr", None), ("wlc", Some("sip")), ("sh", Some("x"))] {
            s.sched = sched.into();
            s.pe_name = pe.map(str::to_string);
            for full in [true, false] {
                assert_eq!(
                    service_msg(NEW_SERVICE, &s, full),
                    nested_by_parts(NEW_SERVICE, &s, None, full)
                );
                assert_eq!(
                    dest_msg(NEW_DEST, &s, &dest_of_test(), full),
                    nested_by_parts(NEW_DEST, &s, Some(&dest_of_test()), full)
                );
            }
        }
        let b = service_msg(NEW_SERVICE, &s, true);
        assert_eq!(
            nested_of(&b, CMD_ATTR_SERVICE).and_then(decode_service),
            Some(s)
        );
    }

    #[test]
    fn dest_round_trip_and_hashed_flag_ignored() {
        let d = Dest {
            addr: "fd99::5".parse().unwrap(),
            port: 8080,
            fwd: FWD_TUNNEL,
            weight: 3,
            u_thresh: 10,
            l_thresh: 2,
            tun_type: Some(1),
            tun_port: Some(6080),
            tun_flags: Some(1),
        };
        assert_eq!(decode_dest(&encode_dest(&d, true), AF_INET), Some(d));
        let mut s = svc();
        s.flags |= F_HASHED;
        let back = decode_service(&encode_service(&s, true)).unwrap();
        assert_eq!(back.flags, F_PERSISTENT);
    }

    #[test]
    fn truncated_attributes_do_not_panic() {
        let b = dest_msg(NEW_DEST, &svc(), &dest_of_test(), true);
        for n in 0..b.len() {
            let _ = nested_of(&b[..n], CMD_ATTR_DEST).and_then(|x| decode_dest(x, AF_INET));
            let _ = nested_of(&b[..n], CMD_ATTR_SERVICE).and_then(decode_service);
        }
    }

    fn dest_of_test() -> Dest {
        Dest {
            addr: "10.99.1.2".parse().unwrap(),
            port: 80,
            fwd: FWD_MASQ,
            weight: 1,
            u_thresh: 0,
            l_thresh: 0,
            tun_type: None,
            tun_port: None,
            tun_flags: None,
        }
    }

    #[test]
    fn groups_expand_to_one_service_per_address() {
        let cfg = "virtual_server_group G {\n 10.99.0.10-12 80\n fwmark 7\n}\nvirtual_server group G {\n lb_algo rr\n lb_kind DR\n protocol TCP\n persistence_timeout 30\n persistence_granularity 255.255.255.0\n real_server 10.99.1.2 80 {\n }\n}\n";
        let dir = std::env::temp_dir().join(format!("ipvs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("k.conf");
        std::fs::write(&f, cfg).unwrap();
        let loaded = conf::load(f.to_str().unwrap(), &conf::LoadOptions::default());
        std::fs::remove_dir_all(&dir).unwrap();
        let vs = &loaded.config.virtual_servers[0];
        let svcs = services_of(vs, &loaded.config.vs_groups);
        assert_eq!(svcs.len(), 4);
        assert_eq!(svcs[0].key.to_string(), "[10.99.0.10]:tcp:80");
        assert_eq!(svcs[2].key.to_string(), "[10.99.0.12]:tcp:80");
        assert_eq!(
            svcs[3].key,
            SvcKey::Fwmark {
                af: AF_INET,
                mark: 7
            }
        );
        assert_eq!(svcs[0].netmask.to_ne_bytes(), [255, 255, 255, 0]);
        assert_eq!(svcs[0].flags, F_PERSISTENT);
        let d = dest_of(vs, &vs.real_servers[0], &svcs[3], 1);
        assert_eq!(
            (d.fwd, d.port),
            (FWD_DROUTE, 0),
            "DR dest of a fwmark service has no port"
        );
    }
}

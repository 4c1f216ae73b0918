//! keepalived's accept-mode firewall (`vrrp_nftables.c`): for an instance that is not the
//! address owner and runs with `no_accept` (the default under `vrrp_strict`), its VIPs are
//! put in the set `vips` of the nftables table `keepalived` while it is MASTER, and the
//! table's rules drop traffic to and from them:
//!
//! ```text
//! table ip keepalived {
//!     set vips { type ipv4_addr }
//!     chain in  { type filter hook input priority -1; policy accept; ip daddr @vips drop }
//!     chain out { type filter hook output priority -1; policy accept; ip saddr @vips drop }
//! }
//! table ip6 keepalived {
//!     set vips { type ipv6_addr }
//!     set neighbor-discovery { type icmpv6_type; flags constant; elements = { 135, 136 } }
//!     chain in  { …; icmpv6 type @neighbor-discovery accept; ip6 daddr @vips drop }
//!     chain out { …; icmpv6 type @neighbor-discovery accept; ip6 saddr @vips drop }
//! }
//! ```
//!
//! (keepalived also sends link-local IPv6 VIPs through chains of their own keyed by
//! interface; we leave link-local VIPs out of the set.) Messages go over NETLINK_NETFILTER
//! in one batch per change, built by the pure `*_msgs` functions below; the table is
//! deleted at stop, and a stale one (a killed daemon's) at the first use.

use super::addr::{err, NlError};
use std::collections::HashSet;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};

pub const TABLE: &str = "keepalived";
/// keepalived's `vrrp_nf_chain_priority` default.
const CHAIN_PRIORITY: i32 = -1;

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_NEWSET: u16 = 9;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;

const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLA_F_NESTED: u16 = 0x8000;
const NLMSG_ERROR: u16 = 2;

const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;
const NF_INET_LOCAL_IN: u32 = 1;
const NF_INET_LOCAL_OUT: u32 = 3;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;

// nftables' own data type numbers (`include/datatype.h`), which `nft list` shows by name.
const TYPE_IPADDR: u32 = 7;
const TYPE_IP6ADDR: u32 = 8;
const TYPE_ICMP6_TYPE: u32 = 29;
const NFT_SET_CONSTANT: u32 = 2;

/// One netlink attribute, nested ones built from their children.
fn attr(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len() + (4 - len % 4) % 4, 0);
}
fn nest(out: &mut Vec<u8>, ty: u16, build: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    build(&mut inner);
    attr(out, ty | NLA_F_NESTED, &inner);
}
fn strz(out: &mut Vec<u8>, ty: u16, s: &str) {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    attr(out, ty, &b);
}
fn be32(out: &mut Vec<u8>, ty: u16, v: u32) {
    attr(out, ty, &v.to_be_bytes());
}

/// One message: nlmsghdr + nfgenmsg(family, v0, res_id) + attributes.
fn msg(ty: u16, flags: u16, seq: u32, family: u8, res_id: u16, attrs: &[u8]) -> Vec<u8> {
    let len = 16 + 4 + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.push(family);
    m.push(0);
    m.extend_from_slice(&res_id.to_be_bytes());
    m.extend_from_slice(attrs);
    m
}

fn nft(ty: u16) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | ty
}

/// A batch: BEGIN, the messages (each with the next sequence number and ACK), END.
/// Returns the bytes and how many acknowledgements to expect.
pub fn batch(seq: &mut u32, msgs: Vec<(u16, u16, u8, Vec<u8>)>) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    *seq += 1;
    out.extend(msg(
        NFNL_MSG_BATCH_BEGIN,
        0,
        *seq,
        0,
        NFNL_SUBSYS_NFTABLES,
        &[],
    ));
    let n = msgs.len();
    for (ty, flags, family, attrs) in msgs {
        *seq += 1;
        out.extend(msg(nft(ty), flags | NLM_F_ACK, *seq, family, 0, &attrs));
    }
    *seq += 1;
    out.extend(msg(
        NFNL_MSG_BATCH_END,
        0,
        *seq,
        0,
        NFNL_SUBSYS_NFTABLES,
        &[],
    ));
    (out, n)
}

fn expr(out: &mut Vec<u8>, name: &str, data: impl FnOnce(&mut Vec<u8>)) {
    nest(out, 1 /* NFTA_LIST_ELEM */, |e| {
        strz(e, 1 /* NFTA_EXPR_NAME */, name);
        nest(e, 2 /* NFTA_EXPR_DATA */, data);
    });
}
fn payload(out: &mut Vec<u8>, base: u32, offset: u32, len: u32) {
    expr(out, "payload", |d| {
        be32(d, 1, 1); // DREG = NFT_REG_1
        be32(d, 2, base);
        be32(d, 3, offset);
        be32(d, 4, len);
    });
}
fn lookup(out: &mut Vec<u8>, set: &str, set_id: u32) {
    expr(out, "lookup", |d| {
        strz(d, 1, set);
        be32(d, 2, 1); // SREG = NFT_REG_1
        be32(d, 4, set_id);
    });
}
fn verdict(out: &mut Vec<u8>, code: u32) {
    expr(out, "immediate", |d| {
        be32(d, 1, 0); // DREG = NFT_REG_VERDICT
        nest(d, 2, |v| {
            nest(v, 2 /* NFTA_DATA_VERDICT */, |c| be32(c, 1, code))
        });
    });
}

fn rule(chain: &str, exprs: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut a = Vec::new();
    strz(&mut a, 1, TABLE);
    strz(&mut a, 2, chain);
    nest(&mut a, 4 /* NFTA_RULE_EXPRESSIONS */, exprs);
    a
}

/// The messages that set up one family's table (keepalived `nft_setup_ipv4_vips` /
/// `nft_setup_ipv6_vips`, without the link-local chains).
pub fn setup_msgs(six: bool) -> Vec<(u16, u16, u8, Vec<u8>)> {
    let fam = if six { NFPROTO_IPV6 } else { NFPROTO_IPV4 };
    let create = NLM_F_CREATE;
    let mut v = Vec::new();
    let mut t = Vec::new();
    strz(&mut t, 1, TABLE);
    v.push((NFT_MSG_NEWTABLE, create, fam, t));
    // keepalived creates `out` with the table, `in` with the set.
    for (name, hook) in [("out", NF_INET_LOCAL_OUT), ("in", NF_INET_LOCAL_IN)] {
        let mut c = Vec::new();
        strz(&mut c, 1, TABLE);
        strz(&mut c, 3, name);
        nest(&mut c, 4, |h| {
            be32(h, 1, hook);
            be32(h, 2, CHAIN_PRIORITY as u32);
        });
        be32(&mut c, 5, NF_ACCEPT);
        strz(&mut c, 7, "filter");
        v.push((NFT_MSG_NEWCHAIN, create, fam, c));
    }
    let mut s = Vec::new();
    strz(&mut s, 1, TABLE);
    strz(&mut s, 2, "vips");
    be32(&mut s, 4, if six { TYPE_IP6ADDR } else { TYPE_IPADDR });
    be32(&mut s, 5, if six { 16 } else { 4 });
    be32(&mut s, 10, 1);
    v.push((NFT_MSG_NEWSET, create, fam, s));
    if six {
        // Neighbour discovery to and from the VIPs keeps working.
        let mut s = Vec::new();
        strz(&mut s, 1, TABLE);
        strz(&mut s, 2, "neighbor-discovery");
        be32(&mut s, 3, NFT_SET_CONSTANT);
        be32(&mut s, 4, TYPE_ICMP6_TYPE);
        be32(&mut s, 5, 1);
        be32(&mut s, 10, 2);
        v.push((NFT_MSG_NEWSET, create, fam, s));
        v.push((
            NFT_MSG_NEWSETELEM,
            create,
            fam,
            elems("neighbor-discovery", &[vec![135], vec![136]]),
        ));
        for chain in ["in", "out"] {
            let r = rule(chain, |e| {
                expr(e, "meta", |d| {
                    be32(d, 2, 16); // KEY = NFT_META_L4PROTO
                    be32(d, 1, 1);
                });
                expr(e, "cmp", |d| {
                    be32(d, 1, 1);
                    be32(d, 2, 0); // NFT_CMP_EQ
                    nest(d, 3, |x| attr(x, 1, &[58]));
                });
                payload(e, 2 /* transport header */, 0, 1);
                lookup(e, "neighbor-discovery", 2);
                verdict(e, NF_ACCEPT);
            });
            v.push((NFT_MSG_NEWRULE, create | NLM_F_APPEND, fam, r));
        }
    }
    // ip daddr @vips drop (in), ip saddr @vips drop (out).
    let (src, dst, len) = if six { (8, 24, 16) } else { (12, 16, 4) };
    for (chain, off) in [("in", dst), ("out", src)] {
        let r = rule(chain, |e| {
            payload(e, 1 /* network header */, off, len);
            lookup(e, "vips", 1);
            verdict(e, NF_DROP);
        });
        v.push((NFT_MSG_NEWRULE, create | NLM_F_APPEND, fam, r));
    }
    v
}

fn elems(set: &str, keys: &[Vec<u8>]) -> Vec<u8> {
    let mut a = Vec::new();
    strz(&mut a, 1, TABLE);
    strz(&mut a, 2, set);
    nest(&mut a, 3, |l| {
        for k in keys {
            nest(l, 1, |e| {
                nest(e, 1 /* KEY */, |d| attr(d, 1 /* VALUE */, k))
            });
        }
    });
    a
}

/// Add (or delete) VIPs as elements of one family's `vips` set.
pub fn elem_msg(six: bool, add: bool, addrs: &[IpAddr]) -> (u16, u16, u8, Vec<u8>) {
    let keys: Vec<Vec<u8>> = addrs.iter().map(|a| super::addr::octets(*a)).collect();
    let fam = if six { NFPROTO_IPV6 } else { NFPROTO_IPV4 };
    if add {
        (
            NFT_MSG_NEWSETELEM,
            NLM_F_CREATE | NLM_F_EXCL,
            fam,
            elems("vips", &keys),
        )
    } else {
        (NFT_MSG_DELSETELEM, 0, fam, elems("vips", &keys))
    }
}

fn deltable(six: bool) -> (u16, u16, u8, Vec<u8>) {
    let mut t = Vec::new();
    strz(&mut t, 1, TABLE);
    (
        NFT_MSG_DELTABLE,
        0,
        if six { NFPROTO_IPV6 } else { NFPROTO_IPV4 },
        t,
    )
}

/// The netfilter socket and what we put in the kernel.
pub struct Nft {
    fd: OwnedFd,
    seq: u32,
    /// Tables set up, by family (false = IPv4, true = IPv6).
    setup: [bool; 2],
    /// VIPs in the sets.
    present: HashSet<IpAddr>,
}

impl Nft {
    pub fn open() -> Result<Nft, NlError> {
        let fd = ipc::rtnl::socket(libc::NETLINK_NETFILTER)
            .map_err(|e| err(format!("cannot open a netfilter socket: {e}")))?;
        let tv = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        // SAFETY: setsockopt with a pointer to a local timeval of the size passed.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            );
        }
        Ok(Nft {
            fd,
            seq: std::process::id(),
            setup: [false; 2],
            present: HashSet::new(),
        })
    }

    /// Send one batch and wait for its acknowledgements; the first error is returned
    /// (the kernel then applies none of the batch).
    fn exchange(&mut self, msgs: Vec<(u16, u16, u8, Vec<u8>)>) -> Result<(), NlError> {
        let (bytes, mut want) = batch(&mut self.seq, msgs);
        // SAFETY: sockaddr_nl is plain data; zeroed then the family set (pid 0 = kernel).
        let r = unsafe {
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            libc::sendto(
                self.fd.as_raw_fd(),
                bytes.as_ptr() as *const libc::c_void,
                bytes.len(),
                0,
                &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if r < 0 {
            return Err(err(format!(
                "nftables: {}",
                std::io::Error::last_os_error()
            )));
        }
        let mut buf = vec![0u8; 16384];
        while want > 0 {
            let n = nix::sys::socket::recv(
                self.fd.as_raw_fd(),
                &mut buf,
                nix::sys::socket::MsgFlags::empty(),
            )
            .map_err(|e| err(format!("nftables: no answer from the kernel: {e}")))?;
            let mut off = 0;
            while off + 16 <= n {
                let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
                    as usize;
                let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
                if len < 16 || off + len > n {
                    break;
                }
                if ty == NLMSG_ERROR && len >= 20 {
                    let code = i32::from_ne_bytes([
                        buf[off + 16],
                        buf[off + 17],
                        buf[off + 18],
                        buf[off + 19],
                    ]);
                    if code != 0 {
                        return Err(NlError {
                            errno: -code,
                            text: format!("nftables: {}", std::io::Error::from_raw_os_error(-code)),
                        });
                    }
                    want -= 1;
                }
                off += (len + 3) & !3;
            }
        }
        Ok(())
    }

    fn ensure(&mut self, six: bool) -> Result<(), NlError> {
        if self.setup[usize::from(six)] {
            return Ok(());
        }
        // A table a killed daemon left behind goes first (keepalived
        // `check_and_delete_tables`); none there is no error.
        if let Err(e) = self.exchange(vec![deltable(six)]) {
            if e.errno != libc::ENOENT {
                return Err(e);
            }
        }
        self.exchange(setup_msgs(six))?;
        self.setup[usize::from(six)] = true;
        Ok(())
    }

    /// Put `addrs` in the drop sets (`add`) or take them out. Link-local IPv6 addresses
    /// are left out (see the module comment).
    pub fn update(&mut self, addrs: &[IpAddr], add: bool) -> Result<(), NlError> {
        for six in [false, true] {
            let todo: Vec<IpAddr> = addrs
                .iter()
                .copied()
                .filter(|a| a.is_ipv6() == six)
                .filter(|a| !matches!(a, IpAddr::V6(v) if (v.segments()[0] & 0xffc0) == 0xfe80))
                .filter(|a| self.present.contains(a) != add)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            if todo.is_empty() {
                continue;
            }
            self.ensure(six)?;
            self.exchange(vec![elem_msg(six, add, &todo)])?;
            for a in todo {
                if add {
                    self.present.insert(a);
                } else {
                    self.present.remove(&a);
                }
            }
        }
        Ok(())
    }

    /// At stop: the tables go (keepalived `nft_cleanup`).
    pub fn cleanup(&mut self) {
        for six in [false, true] {
            if std::mem::take(&mut self.setup[usize::from(six)]) {
                let _ = self.exchange(vec![deltable(six)]);
            }
        }
        self.present.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(mut b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut v = Vec::new();
        while b.len() >= 4 {
            let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
            let ty = u16::from_ne_bytes([b[2], b[3]]);
            v.push((ty, b[4..len].to_vec()));
            b = &b[((len + 3) & !3).min(b.len())..];
        }
        v
    }

    #[test]
    fn a_batch_is_framed_with_begin_and_end() {
        let mut seq = 0;
        let (b, n) = batch(
            &mut seq,
            vec![elem_msg(false, true, &["10.99.0.100".parse().unwrap()])],
        );
        assert_eq!(n, 1);
        // BEGIN (20 bytes): type 16, res_id NFNL_SUBSYS_NFTABLES big-endian.
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), 16);
        assert_eq!(&b[18..20], &[0, 10]);
        let len = u32::from_ne_bytes([b[20], b[21], b[22], b[23]]) as usize;
        let m = &b[20..20 + len];
        assert_eq!(
            u16::from_ne_bytes([m[4], m[5]]),
            (10 << 8) | 12,
            "NEWSETELEM"
        );
        assert_eq!(m[16], 2, "NFPROTO_IPV4");
        let a = attrs(&m[20..]);
        assert_eq!(a[0], (1, b"keepalived\0".to_vec()));
        assert_eq!(a[1], (2, b"vips\0".to_vec()));
        // ELEMENTS > LIST_ELEM > KEY > VALUE = the address.
        let l = attrs(&a[2].1);
        let e = attrs(&l[0].1);
        let k = attrs(&e[0].1);
        assert_eq!(k[0], (1, vec![10, 99, 0, 100]));
        let end = &b[20 + len..];
        assert_eq!(u16::from_ne_bytes([end[4], end[5]]), 17);
        assert_eq!(seq, 3);
    }

    #[test]
    fn the_ipv4_table_is_keepalived_s() {
        let m = setup_msgs(false);
        let kinds: Vec<u16> = m.iter().map(|x| x.0).collect();
        assert_eq!(
            kinds,
            [0, 3, 3, 9, 6, 6],
            "table, out, in, set vips, two rules"
        );
        let chain = attrs(&m[1].3);
        assert!(chain.contains(&(3, b"out\0".to_vec())));
        assert!(chain.contains(&(7, b"filter\0".to_vec())));
        let hook = attrs(&chain.iter().find(|a| a.0 == 4 | NLA_F_NESTED).unwrap().1);
        assert_eq!(hook[0], (1, 3u32.to_be_bytes().to_vec()), "output hook");
        assert_eq!(hook[1], (2, (-1i32).to_be_bytes().to_vec()), "priority -1");
    }
}

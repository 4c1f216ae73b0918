//! VRRP packet codecs, pure functions on typed values (RFC 3768 v2, RFC 5798 v3, keepalived's
//! IPsec-AH), with keepalived's receive checks in its order (reference §6.5). Every decode
//! error maps to one counter of keepalived's statistics.

use hmac::{Hmac, Mac};
use md5::Md5;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const IPPROTO_VRRP: u8 = 112;
pub const IPPROTO_AH: u8 = 51;
pub const VRRP_MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const VRRP_MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Traffic class / TOS keepalived uses (network control).
pub const TOS: u8 = 0xc0;
pub const AH_LEN: usize = 24;
const ICV_LEN: usize = 12;
const V2_AUTH_LEN: usize = 8;

/// What the VRRP header says (the addresses are the VIPs it carries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advert {
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    /// v2: seconds; v3: centiseconds (12 bits).
    pub adver_int: u16,
    /// v2 only: 0 none, 1 PASS, 2 AH.
    pub auth_type: u8,
    /// v2 only: the 8 authentication-data bytes (password, or zeros).
    pub auth_data: [u8; 8],
    pub addrs: Vec<IpAddr>,
}

/// keepalived's AH fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ah {
    pub spi: u32,
    pub seq: u32,
}

/// A decoded IPv4 packet: header fields the checks need, and the advert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    pub ah: Option<Ah>,
    pub advert: Advert,
}

/// Why a packet was dropped; each maps to one of keepalived's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the headers need (`IPv4 VRRP packet too short - N bytes`).
    TooShort(usize),
    /// Not VRRP (nor AH carrying VRRP).
    NotVrrp,
    /// Total length does not match header + count × address (+ auth) — `packet_len_err`.
    Length {
        got: usize,
        want: usize,
    },
    /// IPv4 total-length field against the bytes received — `packet_len_err`.
    TotLen {
        field: usize,
        got: usize,
    },
    WrongVersion(u8),
    /// `invalid_type_rcvd`.
    WrongType(u8),
    /// `invalid_authtype`.
    InvalidAuthType(u8),
    /// IPv4 header checksum.
    IpChecksum,
    /// VRRP checksum — keepalived's `chk_err`.
    Checksum,
    /// AH: ICV does not verify — `auth_failure`.
    AhIcv,
    /// AH: SPI is not the source address — `auth_failure`.
    AhSpi {
        spi: u32,
        want: u32,
    },
}

impl DecodeError {
    /// The keepalived statistics counter this error increments, if any.
    pub fn counter(&self) -> Option<&'static str> {
        Some(match self {
            DecodeError::Length { .. } | DecodeError::TotLen { .. } => "packet_len_err",
            DecodeError::WrongType(_) => "invalid_type_rcvd",
            DecodeError::InvalidAuthType(_) => "invalid_authtype",
            DecodeError::AhIcv | DecodeError::AhSpi { .. } => "auth_failure",
            DecodeError::Checksum | DecodeError::IpChecksum => "chk_err",
            _ => return None,
        })
    }
}

/// Internet checksum (RFC 1071) over several slices, as one stream.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for p in parts {
        for &b in p.iter() {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn addr_len(v6: bool) -> usize {
    if v6 {
        16
    } else {
        4
    }
}

/// The VRRP message (header, addresses, v2 auth data) with its checksum. For v3 the
/// checksum covers the pseudo-header of `src`/`dst`; for v2 it does not (RFC 3768).
pub fn encode_vrrp(a: &Advert, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let v6 = src.is_ipv6();
    let mut m = Vec::with_capacity(8 + a.addrs.len() * addr_len(v6) + V2_AUTH_LEN);
    m.push((a.version << 4) | 1);
    m.push(a.vrid);
    m.push(a.priority);
    m.push(a.addrs.len() as u8);
    if a.version == 2 {
        m.push(a.auth_type);
        m.push(a.adver_int as u8);
    } else {
        m.extend_from_slice(&(a.adver_int & 0x0fff).to_be_bytes());
    }
    m.extend_from_slice(&[0, 0]);
    for ip in &a.addrs {
        match ip {
            IpAddr::V4(x) => m.extend_from_slice(&x.octets()),
            IpAddr::V6(x) => m.extend_from_slice(&x.octets()),
        }
    }
    if a.version == 2 {
        m.extend_from_slice(&a.auth_data);
    }
    let c = if a.version == 3 {
        checksum(&[&pseudo_header(src, dst, m.len()), &m])
    } else {
        checksum(&[&m])
    };
    m[6..8].copy_from_slice(&c.to_be_bytes());
    m
}

/// The checksum pseudo-header of RFC 5798 §5.2.8 (IPv4) or RFC 8200 §8.1 (IPv6).
pub fn pseudo_header(src: IpAddr, dst: IpAddr, len: usize) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut p = Vec::with_capacity(12);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&[0, IPPROTO_VRRP]);
            p.extend_from_slice(&(len as u16).to_be_bytes());
            p
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut p = Vec::with_capacity(40);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&(len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, IPPROTO_VRRP]);
            p
        }
        _ => Vec::new(),
    }
}

/// The 8-byte key keepalived uses: the password zero-padded (or cut) to 8 bytes.
pub fn auth_key(pass: &str) -> [u8; 8] {
    let mut k = [0u8; 8];
    for (d, s) in k.iter_mut().zip(pass.bytes()) {
        *d = s;
    }
    k
}

/// How an IPv4 advert is sent.
#[derive(Clone, Debug)]
pub struct Ipv4Send {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub ip_id: u16,
    /// AH key and sequence number when `auth_type AH`.
    pub ah: Option<([u8; 8], u32)>,
    /// Unicast: the AH ICV is computed with the TTL zeroed.
    pub unicast: bool,
}

/// The whole IPv4 packet (keepalived builds the header itself, `IP_HDRINCL`).
pub fn encode_ipv4(a: &Advert, s: &Ipv4Send) -> Vec<u8> {
    let vrrp = encode_vrrp(a, IpAddr::V4(s.src), IpAddr::V4(s.dst));
    let ah_len = if s.ah.is_some() { AH_LEN } else { 0 };
    let total = 20 + ah_len + vrrp.len();
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, TOS]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&s.ip_id.to_be_bytes());
    p.extend_from_slice(&[
        0,
        0,
        s.ttl,
        if s.ah.is_some() {
            IPPROTO_AH
        } else {
            IPPROTO_VRRP
        },
        0,
        0,
    ]);
    p.extend_from_slice(&s.src.octets());
    p.extend_from_slice(&s.dst.octets());
    let c = checksum(&[&p[..20]]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    if let Some((key, seq)) = s.ah {
        let mut ah = [0u8; AH_LEN];
        ah[0] = IPPROTO_VRRP;
        ah[1] = 4; // payload length in 32-bit words, minus 2
        ah[4..8].copy_from_slice(&s.src.octets());
        ah[8..12].copy_from_slice(&seq.to_be_bytes());
        let icv = ah_icv(&key, &p[..20], &ah, &vrrp, s.unicast);
        ah[12..24].copy_from_slice(&icv);
        p.extend_from_slice(&ah);
    }
    p.extend_from_slice(&vrrp);
    p
}

/// keepalived's ICV: HMAC-MD5 over the IP header (TOS, fragment field and checksum zeroed;
/// TTL too for unicast), the AH header with a zero ICV, and the VRRP message; 96 bits.
pub fn ah_icv(key: &[u8; 8], ip: &[u8], ah: &[u8], vrrp: &[u8], unicast: bool) -> [u8; ICV_LEN] {
    let mut iph = [0u8; 20];
    iph.copy_from_slice(&ip[..20]);
    iph[1] = 0;
    iph[6] = 0;
    iph[7] = 0;
    iph[10] = 0;
    iph[11] = 0;
    if unicast {
        iph[8] = 0;
    }
    let mut ahz = [0u8; AH_LEN];
    ahz.copy_from_slice(&ah[..AH_LEN]);
    ahz[12..].fill(0);
    let Ok(mut mac) = <Hmac<Md5> as Mac>::new_from_slice(key) else {
        return [0; ICV_LEN];
    };
    mac.update(&iph);
    mac.update(&ahz);
    mac.update(vrrp);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; ICV_LEN];
    out.copy_from_slice(&full[..ICV_LEN]);
    out
}

/// Decode an IPv4 packet as received on the raw socket (IP header included). Checks the
/// structure, lengths, checksums and the AH ICV/SPI (with `ah_key`, when the instance uses
/// AH); the per-instance checks (version, auth type, password, interval, VIP list, TTL) are
/// the state machine's, against its configuration.
pub fn decode_ipv4(
    p: &[u8],
    ah_key: Option<&[u8; 8]>,
    unicast: bool,
) -> Result<Received, DecodeError> {
    if p.len() < 20 {
        return Err(DecodeError::TooShort(p.len()));
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    if p[0] >> 4 != 4 || ihl < 20 || p.len() < ihl {
        return Err(DecodeError::TooShort(p.len()));
    }
    if checksum(&[&p[..ihl]]) != 0 {
        return Err(DecodeError::IpChecksum);
    }
    let proto = p[9];
    let ttl = p[8];
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let mut off = ihl;
    let mut ah = None;
    if proto == IPPROTO_AH {
        if p.len() < ihl + AH_LEN + 8 {
            return Err(DecodeError::TooShort(p.len()));
        }
        let h = &p[ihl..ihl + AH_LEN];
        if h[0] != IPPROTO_VRRP {
            return Err(DecodeError::NotVrrp);
        }
        let spi = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        let seq = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
        if let Some(key) = ah_key {
            let icv = ah_icv(key, &p[..ihl], h, &p[ihl + AH_LEN..], unicast);
            if !constant_eq(&icv, &h[12..24]) {
                return Err(DecodeError::AhIcv);
            }
            if spi != u32::from(src) {
                return Err(DecodeError::AhSpi {
                    spi,
                    want: u32::from(src),
                });
            }
        }
        ah = Some(Ah { spi, seq });
        off += AH_LEN;
    } else if proto != IPPROTO_VRRP {
        return Err(DecodeError::NotVrrp);
    }
    let tot_len = usize::from(u16::from_be_bytes([p[2], p[3]]));
    let advert = decode_vrrp(&p[off..], IpAddr::V4(src), IpAddr::V4(dst))?;
    let want = off + 8 + advert.addrs.len() * 4 + if advert.version == 2 { V2_AUTH_LEN } else { 0 };
    if p.len() != want {
        return Err(DecodeError::Length { got: p.len(), want });
    }
    if tot_len != p.len() {
        return Err(DecodeError::TotLen {
            field: tot_len,
            got: p.len(),
        });
    }
    Ok(Received {
        src: IpAddr::V4(src),
        dst: IpAddr::V4(dst),
        ttl,
        ah,
        advert,
    })
}

/// Decode a VRRP message (what an IPv6 raw socket delivers, or the IPv4 payload).
pub fn decode_vrrp(m: &[u8], src: IpAddr, dst: IpAddr) -> Result<Advert, DecodeError> {
    if m.len() < 8 {
        return Err(DecodeError::TooShort(m.len()));
    }
    let version = m[0] >> 4;
    let ty = m[0] & 0x0f;
    if version != 2 && version != 3 {
        return Err(DecodeError::WrongVersion(version));
    }
    let count = usize::from(m[3]);
    let alen = addr_len(src.is_ipv6());
    let auth_len = if version == 2 { V2_AUTH_LEN } else { 0 };
    let want = 8 + count * alen + auth_len;
    if m.len() != want {
        return Err(DecodeError::Length { got: m.len(), want });
    }
    if ty != 1 {
        return Err(DecodeError::WrongType(ty));
    }
    let (auth_type, adver_int) = if version == 2 {
        (m[4], u16::from(m[5]))
    } else {
        (0, u16::from_be_bytes([m[4], m[5]]) & 0x0fff)
    };
    if version == 2 && auth_type > 2 {
        return Err(DecodeError::InvalidAuthType(auth_type));
    }
    let ok = if version == 3 {
        checksum(&[&pseudo_header(src, dst, m.len()), m]) == 0
    } else {
        checksum(&[m]) == 0
    };
    if !ok {
        return Err(DecodeError::Checksum);
    }
    let addrs = addresses(&m[8..8 + count * alen], alen == 16);
    let mut auth_data = [0u8; 8];
    if version == 2 {
        auth_data.copy_from_slice(&m[8 + count * alen..]);
    }
    Ok(Advert {
        version,
        vrid: m[1],
        priority: m[2],
        adver_int,
        auth_type,
        auth_data,
        addrs,
    })
}

/// The address list of an advert (4 or 16 bytes each).
pub fn addresses(b: &[u8], v6: bool) -> Vec<IpAddr> {
    if v6 {
        b.chunks_exact(16)
            .map(|a| {
                let mut o = [0u8; 16];
                o.copy_from_slice(a);
                IpAddr::V6(Ipv6Addr::from(o))
            })
            .collect()
    } else {
        b.chunks_exact(4)
            .map(|a| IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])))
            .collect()
    }
}

/// Compare without an early exit (passwords and ICVs).
pub fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A gratuitous ARP request for `ip` from `mac` (the ARP part; Ethernet added by the sender).
pub fn garp(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let mut a = Vec::with_capacity(28);
    a.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    a.extend_from_slice(&mac);
    a.extend_from_slice(&ip.octets());
    a.extend_from_slice(&[0xff; 6]);
    a.extend_from_slice(&ip.octets());
    a
}

/// An unsolicited neighbour advertisement for `ip` from `mac`, as keepalived sends it: from
/// the VIP itself to ff02::1, Override flag only, with a target link-layer address option.
/// Returns the whole IPv6 packet.
pub fn unsolicited_na(mac: [u8; 6], ip: Ipv6Addr) -> Vec<u8> {
    let dst = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let mut icmp = Vec::with_capacity(32);
    icmp.extend_from_slice(&[136, 0, 0, 0, 0x20, 0, 0, 0]);
    icmp.extend_from_slice(&ip.octets());
    icmp.extend_from_slice(&[2, 1]);
    icmp.extend_from_slice(&mac);
    let mut pseudo = Vec::with_capacity(40);
    pseudo.extend_from_slice(&ip.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    let c = checksum(&[&pseudo, &icmp]);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut p = Vec::with_capacity(40 + icmp.len());
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    p.extend_from_slice(&[58, 255]);
    p.extend_from_slice(&ip.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&icmp);
    p
}

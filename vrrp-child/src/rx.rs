//! keepalived's receive validation of one advert for one instance, check by check in its
//! order (`vrrp_check_packet`, reference §6.5), each with keepalived's log line and one
//! counter. Pure: the packet and the instance's settings in, a validated advert or the
//! reason out.

use crate::packet::{self, Advert, Ah, Received, IPPROTO_AH, IPPROTO_VRRP};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A packet as a raw socket delivered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// IPv4: the whole IP packet (header included); IPv6: the VRRP message.
    pub bytes: Vec<u8>,
    /// IPv6 only: what the kernel says in ancillary data.
    pub six: Option<Six>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Six {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// `IPV6_HOPLIMIT`, when the kernel reported it.
    pub hop_limit: Option<u8>,
}

/// The counters a drop can bump: keepalived's `keepalived.stats` fields, its SNMP-only
/// ones (`chk_err`, `vers_err`), and ours for the checks keepalived counts nowhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    PacketLen,
    IpTtl,
    InvalidType,
    AdvertInterval,
    AddrList,
    InvalidAuthType,
    AuthTypeMismatch,
    AuthFailure,
    Checksum,
    Version,
    /// keepalived-rs: `unicast source address … not a unicast peer` (keepalived: uncounted).
    UnicastSrc,
    /// keepalived-rs: an AH header for another protocol (keepalived drops it silently).
    Other,
}

/// Why an advert was dropped: the counter, keepalived's log line (`None`: silent), and
/// whether keepalived had already counted it as a received advert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub counter: Counter,
    pub log: Option<String>,
    pub received: bool,
}

/// What the checks need from the instance.
#[derive(Clone, Debug)]
pub struct RxCfg<'a> {
    pub name: &'a str,
    pub vrid: u8,
    pub version: u8,
    /// v2: 1 PASS, 2 AH, with the 8-byte key.
    pub auth: Option<(u8, [u8; 8])>,
    /// Centiseconds.
    pub adver_int: u32,
    pub vips: &'a [IpAddr],
    pub unicast: bool,
    /// `(peer, min_ttl, max_ttl)`.
    pub peers: &'a [(IpAddr, u8, u8)],
    pub check_unicast_src: bool,
}

/// Bytes to the VRRP header and the smallest packet keepalived reads at all
/// (`vrrp_get_header`); `Err` is its log line.
pub fn header_offset(p: &Packet) -> Result<usize, String> {
    let b = &p.bytes;
    if p.six.is_some() {
        if b.len() < 8 {
            return Err(format!("IPv6 VRRP packet too short - {} bytes", b.len()));
        }
        return Ok(0);
    }
    let ihl = b.first().map(|v| usize::from(v & 0x0f) * 4).unwrap_or(0);
    if b.len() < 20 || ihl < 20 || b.len() < ihl + 8 {
        return Err(format!("IPv4 VRRP packet too short - {} bytes", b.len()));
    }
    if b[9] == IPPROTO_AH {
        if b.len() < ihl + packet::AH_LEN + 8 {
            return Err(format!(
                "IPv4 VRRP packet with AH too short - {} bytes",
                b.len()
            ));
        }
        return Ok(ihl + packet::AH_LEN);
    }
    Ok(ihl)
}

fn reject(counter: Counter, log: String) -> Reject {
    Reject {
        counter,
        log: Some(log),
        received: false,
    }
}

/// keepalived's `vrrp_check_packet`. `check_vip_addr` is false only for a BACKUP with
/// `skip_check_adv_addr` hearing its current master. `ah_seq` is the last AH sequence
/// number accepted (moved forward on success).
pub fn check(
    cfg: &RxCfg,
    p: &Packet,
    check_vip_addr: bool,
    ah_seq: &mut u32,
) -> Result<Received, Reject> {
    let name = cfg.name;
    let b = &p.bytes[..];
    let off = header_offset(p).map_err(|l| reject(Counter::PacketLen, l))?;
    let six = p.six;
    let (src, dst, ttl, ihl) = match six {
        Some(s) => (IpAddr::V6(s.src), IpAddr::V6(s.dst), s.hop_limit, 0),
        None => (
            IpAddr::V4(Ipv4Addr::new(b[12], b[13], b[14], b[15])),
            IpAddr::V4(Ipv4Addr::new(b[16], b[17], b[18], b[19])),
            Some(b[8]),
            usize::from(b[0] & 0x0f) * 4,
        ),
    };
    let want_ah = cfg.auth.is_some_and(|(t, _)| t == 2);
    if six.is_none() {
        let has_ah = b[9] == IPPROTO_AH;
        if has_ah != want_ah {
            return Err(reject(
                Counter::AuthTypeMismatch,
                if has_ah {
                    format!("({name}) Received AH header but auth type not AH")
                } else {
                    format!("({name}) No AH header but auth type is AH")
                },
            ));
        }
    }
    let hd = &b[off..];
    let version = hd[0] >> 4;
    let naddr = usize::from(hd[3]);
    let alen = if six.is_some() { 16 } else { 4 };
    let expected = off + 8 + naddr * alen + if six.is_none() && version == 2 { 8 } else { 0 };
    if b.len() != expected {
        return Err(reject(
            Counter::PacketLen,
            format!(
                "({name}) vrrp packet too {}, length {} and expect {expected}",
                if b.len() > expected { "long" } else { "short" },
                b.len()
            ),
        ));
    }
    if let Some(t) = ttl.filter(|&t| !cfg.unicast && t != 255) {
        return Err(reject(
            Counter::IpTtl,
            format!("({name}) invalid TTL/HL. Received {t} and expect 255"),
        ));
    }
    if version != cfg.version {
        return Err(reject(
            Counter::Version,
            format!(
                "({name}) wrong version. Received {version} and expect {}",
                cfg.version
            ),
        ));
    }
    let mut ah = None;
    if version == 2 {
        let auth_type = hd[4];
        if auth_type > 2 {
            return Err(reject(
                Counter::InvalidAuthType,
                format!("({name}) Invalid auth type: {auth_type}"),
            ));
        }
        let (want, key) = cfg.auth.unwrap_or((0, [0; 8]));
        if auth_type != want {
            return Err(reject(
                Counter::AuthTypeMismatch,
                format!("({name}) received a {auth_type} auth, expecting {want}!"),
            ));
        }
        if want == 1 && !packet::constant_eq(&b[b.len() - 8..], &key) {
            return Err(reject(
                Counter::AuthFailure,
                format!("({name}) received an invalid passwd!"),
            ));
        }
        if want == 2 {
            let h = &b[ihl..ihl + packet::AH_LEN];
            if h[0] != IPPROTO_VRRP {
                // An AH header for some other protocol: not ours (keepalived: silent).
                return Err(Reject {
                    counter: Counter::Other,
                    log: None,
                    received: false,
                });
            }
            let icv = packet::ah_icv(&key, &b[..ihl], h, &b[off..], cfg.unicast);
            if !packet::constant_eq(&icv, &h[12..24]) {
                return Err(reject(Counter::AuthFailure, format!("({name}) IPSEC-AH : invalid IPSEC HMAC-MD5 value. Due to fields mutation or bad password !")));
            }
            let spi = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
            let saddr = u32::from_be_bytes([b[12], b[13], b[14], b[15]]);
            if spi != saddr {
                // keepalived prints the two the other way round; so do we.
                return Err(reject(
                    Counter::AuthFailure,
                    format!("IPSEC AH : invalid IPSEC SPI value. {saddr} and expect {spi}"),
                ));
            }
            let seq = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
            if seq <= *ah_seq {
                return Err(reject(Counter::AuthFailure, format!("({name}) IPSEC-AH : sequence number {seq} already processed. Packet dropped. Local({})", *ah_seq)));
            }
            ah = Some(Ah { spi, seq });
        }
        if u32::from(hd[5]) * 100 != cfg.adver_int {
            // keepalived drops it without counting; we count it where its name says.
            return Err(reject(
                Counter::AdvertInterval,
                format!(
                    "({name}) advertisement interval mismatch mine={} sec rcv'd={} sec",
                    cfg.adver_int / 100,
                    hd[5]
                ),
            ));
        }
    }
    let ty = hd[0] & 0x0f;
    if ty != 1 {
        return Err(reject(
            Counter::InvalidType,
            format!("({name}) Invalid packet type. {ty} and expect 1"),
        ));
    }
    if check_vip_addr && naddr != cfg.vips.len() {
        return Err(reject(
            Counter::AddrList,
            format!(
                "({name}) received an unexpected ip number count {naddr}, expected {}!",
                cfg.vips.len()
            ),
        ));
    }
    if six.is_none() {
        let tot_len = usize::from(u16::from_be_bytes([b[2], b[3]]));
        if tot_len != b.len() {
            return Err(reject(
                Counter::PacketLen,
                format!(
                    "({name}) ip_tot_len mismatch against received length. {tot_len} and received {}",
                    b.len()
                ),
            ));
        }
        // The kernel checks IPv6 checksums (IPV6_CHECKSUM); IPv4 ones are ours.
        let m = &b[off..];
        let ok = if version == 3 {
            packet::checksum(&[&packet::pseudo_header(src, dst, m.len()), m]) == 0
        } else {
            packet::checksum(&[m]) == 0
        };
        if !ok {
            return Err(reject(
                Counter::Checksum,
                format!("({name}) Invalid VRRPv{version} checksum"),
            ));
        }
    }
    let multicast = match dst {
        IpAddr::V4(d) => d.is_multicast(),
        IpAddr::V6(d) => d.is_multicast(),
    };
    if multicast == cfg.unicast {
        let (want, got) = if cfg.unicast {
            ("un", "mult")
        } else {
            ("mult", "un")
        };
        return Err(reject(
            Counter::AddrList,
            format!("({name}) Expected {want}icast packet but received {got}icast packet"),
        ));
    }
    // From here keepalived counts the packet as a received advert.
    let addrs = packet::addresses(&hd[8..8 + naddr * alen], six.is_some());
    let counted = |counter, log| Reject {
        counter,
        log: Some(log),
        received: true,
    };
    if check_vip_addr {
        if let Some(missing) = cfg.vips.iter().find(|v| !addrs.contains(v)) {
            return Err(counted(
                Counter::AddrList,
                format!(
                    "({name}) ip address associated with VRID {} not present in MASTER advert: {missing}",
                    cfg.vrid
                ),
            ));
        }
        if cfg.unicast && cfg.check_unicast_src {
            let Some(&(_, min, max)) = cfg.peers.iter().find(|(a, _, _)| *a == src) else {
                return Err(counted(
                    Counter::UnicastSrc,
                    format!("({name}) unicast source address {src} not a unicast peer"),
                ));
            };
            if let Some(t) = ttl.filter(|&t| t < min || t > max) {
                return Err(counted(
                    Counter::IpTtl,
                    format!("({name}) TTL/HL {t} not in range {min} - {max}"),
                ));
            }
        }
    }
    if let Some(a) = ah {
        *ah_seq = a.seq;
    }
    let mut auth_data = [0u8; 8];
    if version == 2 {
        auth_data.copy_from_slice(&b[b.len() - 8..]);
    }
    Ok(Received {
        src,
        dst,
        ttl: ttl.unwrap_or(255),
        ah,
        advert: Advert {
            version,
            vrid: hd[1],
            priority: hd[2],
            adver_int: if version == 2 {
                u16::from(hd[5])
            } else {
                u16::from_be_bytes([hd[4], hd[5]]) & 0x0fff
            },
            auth_type: if version == 2 { hd[4] } else { 0 },
            auth_data,
            addrs,
        },
    })
}

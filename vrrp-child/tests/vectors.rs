//! keepalived 2.2.7's own packets (tests/vectors, see ORIGIN.md): decoding each gives the
//! configured fields, encoding the same configuration gives the same bytes (IPv6 flow label
//! masked; IP ID taken from the capture), and AH ICVs verify.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use vrrp_child::packet::*;

fn hex(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    let text: String = std::fs::read_to_string(&path)
        .unwrap()
        .split_whitespace()
        .collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

const H1: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 11);
const H2: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 12);

fn vip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 99, 0, last))
}

fn v2(vrid: u8, prio: u8, auth_type: u8, pass: &str) -> Advert {
    let auth_data = if auth_type == 1 {
        auth_key(pass)
    } else {
        [0; 8]
    };
    Advert {
        version: 2,
        vrid,
        priority: prio,
        adver_int: 1,
        auth_type,
        auth_data,
        addrs: vec![vip(100)],
    }
}

fn ip_id(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[4], p[5]])
}

fn send(dst: Ipv4Addr, p: &[u8], ah: Option<([u8; 8], u32)>) -> Ipv4Send {
    Ipv4Send {
        src: H1,
        dst,
        ttl: 255,
        ip_id: ip_id(p),
        ah,
        unicast: dst != VRRP_MCAST_V4,
    }
}

#[test]
fn v2_ipv4_noauth_pass_prio0_unicast_vmac() {
    for (name, vrid, prio, auth, pass, dst) in [
        ("v2-ipv4-noauth", 51, 150, 0, "", VRRP_MCAST_V4),
        ("v2-ipv4-pass", 51, 150, 1, "lab-pass", VRRP_MCAST_V4),
        ("v2-ipv4-prio0", 51, 0, 0, "", VRRP_MCAST_V4),
        ("v2-ipv4-unicast", 55, 150, 0, "", H2),
        ("v2-ipv4-vmac", 57, 150, 0, "", VRRP_MCAST_V4),
    ] {
        let p = hex(name);
        let r =
            decode_ipv4(&p, None, dst != VRRP_MCAST_V4).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let want = v2(vrid, prio, auth, pass);
        assert_eq!(r.advert, want, "{name}");
        assert_eq!(
            (r.src, r.dst, r.ttl),
            (IpAddr::V4(H1), IpAddr::V4(dst), 255),
            "{name}"
        );
        assert_eq!(
            encode_ipv4(&want, &send(dst, &p, None)),
            p,
            "{name}: our bytes differ"
        );
    }
}

#[test]
fn v2_ipv4_ah_icv_verifies_and_reencodes() {
    let key = auth_key("lab-ah");
    for (name, prio) in [("v2-ipv4-ah", 150), ("v2-ipv4-ah-prio0", 0)] {
        let p = hex(name);
        let r = decode_ipv4(&p, Some(&key), false).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let ah = r.ah.expect("AH header");
        assert_eq!(ah.spi, u32::from(H1));
        assert_eq!(r.advert, v2(51, prio, 2, ""), "{name}");
        assert_eq!(
            encode_ipv4(&r.advert, &send(VRRP_MCAST_V4, &p, Some((key, ah.seq)))),
            p,
            "{name}"
        );
        // A wrong key, or a flipped bit, fails the ICV.
        assert_eq!(
            decode_ipv4(&p, Some(&auth_key("wrong")), false),
            Err(DecodeError::AhIcv)
        );
        let mut bad = p.clone();
        let n = bad.len() - 1;
        bad[n] ^= 1;
        assert_eq!(
            decode_ipv4(&bad, Some(&key), false).unwrap_err(),
            DecodeError::AhIcv
        );
    }
}

#[test]
fn v3_ipv4_vectors() {
    for (name, vrid, prio, int, vips, dst) in [
        ("v3-ipv4", 52, 150, 100, 1, VRRP_MCAST_V4),
        ("v3-ipv4-prio0", 52, 0, 100, 1, VRRP_MCAST_V4),
        ("v3-ipv4-100ms", 52, 150, 10, 1, VRRP_MCAST_V4),
        ("v3-ipv4-5vip", 54, 150, 100, 5, VRRP_MCAST_V4),
        ("v3-ipv4-unicast", 56, 150, 100, 1, H2),
    ] {
        let p = hex(name);
        let r =
            decode_ipv4(&p, None, dst != VRRP_MCAST_V4).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let want = Advert {
            version: 3,
            vrid,
            priority: prio,
            adver_int: int,
            auth_type: 0,
            auth_data: [0; 8],
            addrs: (0..vips).map(|i| vip(100 + i)).collect(),
        };
        assert_eq!(r.advert, want, "{name}");
        assert_eq!(
            encode_ipv4(&want, &send(dst, &p, None)),
            p,
            "{name}: our bytes differ"
        );
    }
}

#[test]
fn v3_ipv6_vectors() {
    let src: Ipv6Addr = "fe80::99:ff:fe00:b".parse().unwrap();
    for (name, prio, vips) in [
        ("v3-ipv6", 150, 1),
        ("v3-ipv6-prio0", 0, 1),
        ("v3-ipv6-3vip", 150, 3),
    ] {
        let p = hex(name);
        // IPv6 header (40 bytes) is the kernel's; check it, then the VRRP message.
        assert_eq!(p[0] >> 4, 6);
        assert_eq!(((p[0] & 0x0f) << 4) | (p[1] >> 4), TOS, "traffic class");
        assert_eq!((p[6], p[7]), (IPPROTO_VRRP, 255), "next header, hop limit");
        let dst = VRRP_MCAST_V6;
        let msg = &p[40..];
        let a = decode_vrrp(msg, IpAddr::V6(src), IpAddr::V6(dst))
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let addrs: Vec<IpAddr> = (0..vips)
            .map(|i| IpAddr::V6(Ipv6Addr::new(0xfd99, 0, 0, 0, 0, 0, 0, 0x100 + i)))
            .collect();
        let want = Advert {
            version: 3,
            vrid: 53,
            priority: prio,
            adver_int: 100,
            auth_type: 0,
            auth_data: [0; 8],
            addrs,
        };
        assert_eq!(a, want, "{name}");
        assert_eq!(
            encode_vrrp(&want, IpAddr::V6(src), IpAddr::V6(dst)),
            msg,
            "{name}: our bytes differ"
        );
    }
}

#[test]
fn garp_and_unsolicited_na() {
    let mac = [0x02, 0x99, 0, 0, 0, 0x0b];
    assert_eq!(garp(mac, Ipv4Addr::new(10, 99, 0, 100)), hex("garp-ipv4"));
    assert_eq!(
        garp([0, 0, 0x5e, 0, 1, 57], Ipv4Addr::new(10, 99, 0, 100)),
        hex("garp-ipv4-vmac")
    );
    assert_eq!(
        unsolicited_na(mac, "fd99::100".parse().unwrap()),
        hex("na-ipv6")
    );
}

#[test]
fn hostile_packets_are_refused() {
    let p = hex("v2-ipv4-noauth");
    // Truncated anywhere.
    for n in 0..p.len() {
        assert!(
            decode_ipv4(&p[..n], None, false).is_err(),
            "truncated to {n}"
        );
    }
    // Bad VRRP checksum.
    let mut bad = p.clone();
    bad[20 + 6] ^= 0xff;
    assert_eq!(
        decode_ipv4(&bad, None, false).unwrap_err(),
        DecodeError::Checksum
    );
    // Bad IP header checksum.
    let mut bad = p.clone();
    bad[10] ^= 0xff;
    assert_eq!(
        decode_ipv4(&bad, None, false).unwrap_err(),
        DecodeError::IpChecksum
    );
    // Wrong address count: the length no longer matches.
    let mut bad = p.clone();
    bad[20 + 3] = 2;
    assert!(matches!(
        decode_ipv4(&bad, None, false).unwrap_err(),
        DecodeError::Length { .. }
    ));
    // Wrong version.
    let mut bad = p.clone();
    bad[20] = 0x51;
    assert_eq!(
        decode_ipv4(&bad, None, false).unwrap_err(),
        DecodeError::WrongVersion(5)
    );
    // Invalid auth type.
    let a = Advert {
        auth_type: 7,
        ..v2(51, 150, 0, "")
    };
    let enc = encode_ipv4(&a, &send(VRRP_MCAST_V4, &p, None));
    assert_eq!(
        decode_ipv4(&enc, None, false).unwrap_err(),
        DecodeError::InvalidAuthType(7)
    );
    // Not VRRP.
    let mut bad = p.clone();
    bad[9] = 6;
    let c = checksum(&[&{
        let mut h = bad[..20].to_vec();
        h[10] = 0;
        h[11] = 0;
        h
    }]);
    bad[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(
        decode_ipv4(&bad, None, false).unwrap_err(),
        DecodeError::NotVrrp
    );
    // Counters as keepalived's.
    assert_eq!(
        DecodeError::Length { got: 1, want: 2 }.counter(),
        Some("packet_len_err")
    );
    assert_eq!(DecodeError::AhIcv.counter(), Some("auth_failure"));
}

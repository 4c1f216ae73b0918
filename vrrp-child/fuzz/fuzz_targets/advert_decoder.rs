//! The advert decoders and the receive checks on arbitrary bytes: never a panic; whatever
//! decodes re-encodes to a packet that decodes to the same advert; whatever passes the
//! receive checks (the path adverts take in the daemon) carries the instance's VRID.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use vrrp_child::packet::*;

fuzz_target!(|data: &[u8]| {
    let key = auth_key("lab-ah");
    for k in [None, Some(&key)] {
        if let Ok(r) = decode_ipv4(data, k, false) {
            if let (IpAddr::V4(src), IpAddr::V4(dst)) = (r.src, r.dst) {
                let s = Ipv4Send { src, dst, ttl: r.ttl, ip_id: 1, ah: r.ah.map(|a| (key, a.seq)), unicast: false };
                let again = encode_ipv4(&r.advert, &s);
                let back = decode_ipv4(&again, k, false).expect("our own packet decodes");
                assert_eq!(back.advert, r.advert);
            }
        }
    }
    let src = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
    let dst = IpAddr::V6(VRRP_MCAST_V6);
    if let Ok(a) = decode_vrrp(data, src, dst) {
        assert_eq!(decode_vrrp(&encode_vrrp(&a, src, dst), src, dst).expect("re-decodes"), a);
    }
    let _ = decode_vrrp(data, IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V4(VRRP_MCAST_V4));

    // keepalived's receive checks for a few instance flavours, IPv4 and IPv6.
    use vrrp_child::rx::{check, header_offset, Packet, RxCfg, Six};
    let vips = [IpAddr::V4(Ipv4Addr::new(10, 99, 0, 100))];
    let peers = [(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 12)), 0u8, 255u8)];
    for (version, auth, unicast) in [(2, None, false), (2, Some((1, key)), false), (2, Some((2, key)), false), (3, None, true)] {
        let cfg = RxCfg {
            name: "VI_1",
            vrid: 51,
            version,
            auth,
            adver_int: 100,
            vips: &vips,
            unicast,
            peers: &peers,
            check_unicast_src: unicast,
        };
        let p = Packet { bytes: data.to_vec(), six: None };
        if header_offset(&p).is_ok() {
            let mut seq = 0;
            let _ = check(&cfg, &p, true, &mut seq);
            let _ = check(&cfg, &p, false, &mut seq);
        }
    }
    let six = Packet {
        bytes: data.to_vec(),
        six: Some(Six { src: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2), dst: VRRP_MCAST_V6, hop_limit: Some(255) }),
    };
    let v6 = [IpAddr::V6(Ipv6Addr::new(0xfd99, 0, 0, 0, 0, 0, 0, 0x100))];
    let cfg6 = RxCfg { name: "VI_6", vrid: 51, version: 3, auth: None, adver_int: 100, vips: &v6, unicast: false, peers: &[], check_unicast_src: false };
    if header_offset(&six).is_ok() {
        let _ = check(&cfg6, &six, true, &mut 0);
    }
});

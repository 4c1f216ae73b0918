//! The advert decoders on arbitrary bytes: never a panic; whatever decodes re-encodes to a
//! packet that decodes to the same advert.
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
});

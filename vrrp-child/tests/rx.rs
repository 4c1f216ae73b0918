//! keepalived's receive checks (reference §6.5) one by one, in its order: each bad packet
//! is dropped with keepalived's log line and one counter; a good one passes.

use std::net::{IpAddr, Ipv4Addr};
use vrrp_child::packet::{auth_key, encode_ipv4, Advert, Ipv4Send};
use vrrp_child::rx::{check, Counter, Packet, Reject, RxCfg};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 99, 0, last))
}

const MCAST: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

fn advert(auth_type: u8, pass: &str) -> Advert {
    Advert {
        version: 2,
        vrid: 51,
        priority: 200,
        adver_int: 1,
        auth_type,
        auth_data: if auth_type == 1 {
            auth_key(pass)
        } else {
            [0; 8]
        },
        addrs: vec![ip(100)],
    }
}

fn send(dst: Ipv4Addr) -> Ipv4Send {
    Ipv4Send {
        src: Ipv4Addr::new(10, 99, 0, 12),
        dst,
        ttl: 255,
        ip_id: 1,
        ah: None,
        unicast: !dst.is_multicast(),
    }
}

fn pkt(b: Vec<u8>) -> Packet {
    Packet {
        bytes: b,
        six: None,
    }
}

/// Fix the IPv4 header checksum after editing the header (the kernel checks it on receipt).
fn fix_ip(b: &mut [u8]) {
    b[10] = 0;
    b[11] = 0;
    let c = vrrp_child::packet::checksum(&[&b[..20]]);
    b[10..12].copy_from_slice(&c.to_be_bytes());
}

fn run(cfg: &RxCfg, b: Vec<u8>) -> Result<(), Reject> {
    let mut seq = 0;
    check(cfg, &pkt(b), true, &mut seq).map(|_| ())
}

fn expect(cfg: &RxCfg, b: Vec<u8>, counter: Counter, line: &str) {
    let e = run(cfg, b).expect_err(line);
    assert_eq!(e.counter, counter, "{line}");
    assert_eq!(e.log.as_deref(), Some(line));
}

#[test]
fn v2_pass_checks_in_keepalived_order() {
    let vips = [ip(100)];
    let cfg = RxCfg {
        name: "VI_1",
        vrid: 51,
        version: 2,
        auth: Some((1, auth_key("secret"))),
        adver_int: 100,
        vips: &vips,
        unicast: false,
        peers: &[],
        check_unicast_src: false,
    };
    let good = encode_ipv4(&advert(1, "secret"), &send(MCAST));
    assert!(run(&cfg, good.clone()).is_ok());

    let mut b = good.clone();
    b.truncate(b.len() - 4);
    expect(
        &cfg,
        b,
        Counter::PacketLen,
        "(VI_1) vrrp packet too short, length 36 and expect 40",
    );
    let mut b = good.clone();
    b[8] = 64;
    fix_ip(&mut b);
    expect(
        &cfg,
        b,
        Counter::IpTtl,
        "(VI_1) invalid TTL/HL. Received 64 and expect 255",
    );
    // A v3 advert (no auth data: its length is right for v3).
    let mut a = advert(0, "");
    a.version = 3;
    a.adver_int = 100;
    expect(
        &cfg,
        encode_ipv4(&a, &send(MCAST)),
        Counter::Version,
        "(VI_1) wrong version. Received 3 and expect 2",
    );
    let mut b = good.clone();
    b[24] = 7;
    expect(
        &cfg,
        b,
        Counter::InvalidAuthType,
        "(VI_1) Invalid auth type: 7",
    );
    expect(
        &cfg,
        encode_ipv4(&advert(0, ""), &send(MCAST)),
        Counter::AuthTypeMismatch,
        "(VI_1) received a 0 auth, expecting 1!",
    );
    expect(
        &cfg,
        encode_ipv4(&advert(1, "wrong"), &send(MCAST)),
        Counter::AuthFailure,
        "(VI_1) received an invalid passwd!",
    );
    let mut a = advert(1, "secret");
    a.adver_int = 3;
    expect(
        &cfg,
        encode_ipv4(&a, &send(MCAST)),
        Counter::AdvertInterval,
        "(VI_1) advertisement interval mismatch mine=1 sec rcv'd=3 sec",
    );
    let mut b = good.clone();
    b[20] = 0x22;
    expect(
        &cfg,
        b,
        Counter::InvalidType,
        "(VI_1) Invalid packet type. 2 and expect 1",
    );
    let mut a = advert(1, "secret");
    a.addrs.push(ip(101));
    expect(
        &cfg,
        encode_ipv4(&a, &send(MCAST)),
        Counter::AddrList,
        "(VI_1) received an unexpected ip number count 2, expected 1!",
    );
    let mut b = good.clone();
    b[3] += 1;
    fix_ip(&mut b);
    expect(
        &cfg,
        b,
        Counter::PacketLen,
        "(VI_1) ip_tot_len mismatch against received length. 41 and received 40",
    );
    let mut b = good.clone();
    b[26] ^= 0xff;
    expect(&cfg, b, Counter::Checksum, "(VI_1) Invalid VRRPv2 checksum");
    expect(
        &cfg,
        encode_ipv4(&advert(1, "secret"), &send(Ipv4Addr::new(10, 99, 0, 11))),
        Counter::AddrList,
        "(VI_1) Expected multicast packet but received unicast packet",
    );
    let mut a = advert(1, "secret");
    a.addrs = vec![ip(101)];
    let e = run(&cfg, encode_ipv4(&a, &send(MCAST))).unwrap_err();
    assert_eq!(
        (e.counter, e.received, e.log.as_deref()),
        (
            Counter::AddrList,
            true,
            Some("(VI_1) ip address associated with VRID 51 not present in MASTER advert: 10.99.0.100")
        )
    );
}

#[test]
fn ah_icv_spi_and_replay() {
    let vips = [ip(100)];
    let key = auth_key("secret");
    let cfg = RxCfg {
        name: "VI_1",
        vrid: 51,
        version: 2,
        auth: Some((2, key)),
        adver_int: 100,
        vips: &vips,
        unicast: false,
        peers: &[],
        check_unicast_src: false,
    };
    let mk = |k: [u8; 8], seq: u32| {
        let mut s = send(MCAST);
        s.ah = Some((k, seq));
        pkt(encode_ipv4(&advert(2, ""), &s))
    };
    let mut seq = 0;
    assert!(check(&cfg, &mk(key, 5), true, &mut seq).is_ok());
    assert_eq!(seq, 5);
    let e = check(&cfg, &mk(key, 5), true, &mut seq).unwrap_err();
    assert_eq!(e.counter, Counter::AuthFailure);
    assert_eq!(
        e.log.as_deref(),
        Some("(VI_1) IPSEC-AH : sequence number 5 already processed. Packet dropped. Local(5)")
    );
    let e = check(&cfg, &mk(auth_key("wrong"), 6), true, &mut seq).unwrap_err();
    assert_eq!(e.log.as_deref(), Some("(VI_1) IPSEC-AH : invalid IPSEC HMAC-MD5 value. Due to fields mutation or bad password !"));
    // No AH on an AH instance, and AH on a PASS one.
    let e = check(
        &cfg,
        &pkt(encode_ipv4(&advert(2, ""), &send(MCAST))),
        true,
        &mut seq,
    )
    .unwrap_err();
    assert_eq!(
        (e.counter, e.log.as_deref()),
        (
            Counter::AuthTypeMismatch,
            Some("(VI_1) No AH header but auth type is AH")
        )
    );
    let mut pass = cfg.clone();
    pass.auth = Some((1, key));
    let e = check(&pass, &mk(key, 7), true, &mut seq).unwrap_err();
    assert_eq!(
        e.log.as_deref(),
        Some("(VI_1) Received AH header but auth type not AH")
    );
}

#[test]
fn unicast_source_and_ttl_range() {
    let vips = [ip(100)];
    let peers = [(ip(12), 250u8, 255u8)];
    let cfg = RxCfg {
        name: "VI_1",
        vrid: 51,
        version: 2,
        auth: None,
        adver_int: 100,
        vips: &vips,
        unicast: true,
        peers: &peers,
        check_unicast_src: true,
    };
    let dst = Ipv4Addr::new(10, 99, 0, 11);
    assert!(run(&cfg, encode_ipv4(&advert(0, ""), &send(dst))).is_ok());
    let mut s = send(dst);
    s.src = Ipv4Addr::new(10, 99, 0, 13);
    let e = run(&cfg, encode_ipv4(&advert(0, ""), &s)).unwrap_err();
    assert_eq!(
        (e.counter, e.log.as_deref()),
        (
            Counter::UnicastSrc,
            Some("(VI_1) unicast source address 10.99.0.13 not a unicast peer")
        )
    );
    let mut s = send(dst);
    s.ttl = 64;
    let e = run(&cfg, encode_ipv4(&advert(0, ""), &s)).unwrap_err();
    assert_eq!(
        (e.counter, e.log.as_deref()),
        (
            Counter::IpTtl,
            Some("(VI_1) TTL/HL 64 not in range 250 - 255")
        )
    );
    // Without check_unicast_src neither is checked (keepalived).
    let mut open = cfg.clone();
    open.check_unicast_src = false;
    assert!(run(&open, encode_ipv4(&advert(0, ""), &s)).is_ok());
    expect(
        &cfg,
        encode_ipv4(&advert(0, ""), &send(MCAST)),
        Counter::AddrList,
        "(VI_1) Expected unicast packet but received multicast packet",
    );
}

#[test]
fn too_short_packets_never_reach_an_instance() {
    for n in [0usize, 19, 27] {
        let e = vrrp_child::rx::header_offset(&pkt(vec![0x45; n])).unwrap_err();
        assert_eq!(e, format!("IPv4 VRRP packet too short - {n} bytes"));
    }
    let mut b = vec![0x45; 40];
    b[9] = 51;
    assert_eq!(
        vrrp_child::rx::header_offset(&pkt(b)).unwrap_err(),
        "IPv4 VRRP packet with AH too short - 40 bytes"
    );
}

#!/usr/bin/env python3
"""Send one hand-made VRRP advert (IPv4, raw socket with our own IP header) on an interface:
the hostile-input test's forger. Every field can be wrong on purpose.

  vrrp-forge.py --dev eth0 --src 10.99.0.12 --dst 224.0.0.18 --vrid 51 --prio 254 \
      --auth pass --key secret [--ttl 64] [--version 3] [--type 2] [--vips A,B] \
      [--auth-type N] [--bad-checksum] [--truncate N] [--seq N] [--count 1]
"""
import argparse
import hashlib
import hmac
import ipaddress
import socket
import struct


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--dst", default="224.0.0.18")
    ap.add_argument("--ttl", type=int, default=255)
    ap.add_argument("--version", type=int, default=2)
    ap.add_argument("--type", type=int, default=1)
    ap.add_argument("--vrid", type=int, required=True)
    ap.add_argument("--prio", type=int, default=254)
    ap.add_argument("--int", type=int, default=1, help="v2 seconds, v3 centiseconds")
    ap.add_argument("--vips", default="")
    ap.add_argument("--auth", choices=["none", "pass", "ah"], default="none")
    ap.add_argument("--key", default="")
    ap.add_argument("--auth-type", type=int, help="the auth type byte (default: from --auth)")
    ap.add_argument("--seq", type=int, default=1, help="AH sequence number")
    ap.add_argument("--bad-checksum", action="store_true")
    ap.add_argument("--truncate", type=int, default=0, help="drop this many bytes at the end")
    a = ap.parse_args()

    src = ipaddress.IPv4Address(a.src).packed
    dst = ipaddress.IPv4Address(a.dst).packed
    vips = [ipaddress.IPv4Address(v).packed for v in a.vips.split(",") if v]
    key = a.key.encode()[:8].ljust(8, b"\0")
    auth_type = a.auth_type if a.auth_type is not None else {"none": 0, "pass": 1, "ah": 2}[a.auth]

    if a.version == 2:
        hdr = struct.pack("!BBBBBBH", 0x20 | a.type, a.vrid, a.prio, len(vips), auth_type, a.int, 0)
        msg = bytearray(hdr + b"".join(vips) + (key if a.auth == "pass" else b"\0" * 8))
        c = csum(bytes(msg))
    else:
        hdr = struct.pack("!BBBBHH", 0x30 | a.type, a.vrid, a.prio, len(vips), a.int & 0xFFF, 0)
        msg = bytearray(hdr + b"".join(vips))
        pseudo = src + dst + struct.pack("!BBH", 0, 112, len(msg))
        c = csum(pseudo + bytes(msg))
    if a.bad_checksum:
        c ^= 0x5A5A
    msg[6:8] = struct.pack("!H", c)

    ah = b""
    proto = 112
    if a.auth == "ah":
        proto = 51
    total = 20 + (24 if a.auth == "ah" else 0) + len(msg)
    # The kernel fills in the IP checksum (and the id when it is 0): give it an id.
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, total, 4242, 0, a.ttl, proto, 0, src, dst)
    if a.auth == "ah":
        ah0 = struct.pack("!BBHII", 112, 4, 0, int.from_bytes(src, "big"), a.seq) + b"\0" * 12
        # keepalived's ICV: the IP header with TOS, fragment field and checksum zeroed.
        ipz = bytearray(ip)
        ipz[1] = 0
        ipz[6:8] = b"\0\0"
        ipz[10:12] = b"\0\0"
        icv = hmac.new(key, bytes(ipz) + ah0 + bytes(msg), hashlib.md5).digest()[:12]
        ah = ah0[:12] + icv
    pkt = ip + ah + bytes(msg)
    if a.truncate:
        pkt = pkt[: len(pkt) - a.truncate]
        pkt = pkt[:2] + struct.pack("!H", len(pkt)) + pkt[4:]

    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, a.dev.encode())
    s.sendto(pkt, (a.dst, 0))


if __name__ == "__main__":
    main()

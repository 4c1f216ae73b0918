#!/usr/bin/env bash
# Hostile adverts on the wire (issue 4): ours runs three MASTER instances in a network
# namespace (v2 PASS multicast, v2 AH multicast, v2 unicast with check_unicast_src); a
# forger on the same bridge (tests/vrrp-forge.py, raw socket with its own IP header) sends
# priority-254/255 adverts that are wrong in one way each. Every one must be dropped with
# keepalived's log line, counted in our SIGUSR2 statistics, and move nothing: the instances
# stay MASTER with their VIPs. Then a valid forged advert of each kind must make its
# instance yield (so the forger is right and the test can fail).
# Usage: sudo tests/vrrp-hostile.sh [OUR_BINARY]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
# shellcheck source=tests/vrrp-lib.sh
source "$ROOT/tests/vrrp-lib.sh"
vrrp_setup vrrp-hostile kvh "${1:-$ROOT/target/debug/keepalived}"
FORGE=$ROOT/tests/vrrp-forge.py

cat >"$TMP/ours.conf" <<'CONF'
global_defs {
    router_id hostile
    log_unknown_vrids
}
vrrp_instance VI_PASS {
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    version 2
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        10.99.0.101/24
    }
}
vrrp_instance VI_AH {
    interface eth0
    virtual_router_id 52
    priority 100
    advert_int 1
    version 2
    authentication {
        auth_type AH
        auth_pass secret
    }
    virtual_ipaddress {
        10.99.0.102/24
    }
}
vrrp_instance VI_UNI {
    interface eth0
    virtual_router_id 53
    priority 100
    advert_int 1
    version 2
    unicast_src_ip 10.99.0.11
    unicast_peer {
        10.99.0.12
    }
    check_unicast_src
    virtual_ipaddress {
        10.99.0.103/24
    }
}
CONF

make_lab "$LAB"
: >"$TMP/ours.log"
run ours a ours
check "all three instances become MASTER" "$(wait_for 3 "$TMP/ours.log" 'Entering MASTER STATE' 8 &&
    wait_addr "$LAB-a" 10.99.0.101 2 && wait_addr "$LAB-a" 10.99.0.102 2 && wait_addr "$LAB-a" 10.99.0.103 2; echo $?)"

# forge ARGS...: one advert from host b (source 10.99.0.12 unless --src is given again).
forge() {
    ip netns exec "$LAB-b" python3 "$FORGE" --dev eth0 --src 10.99.0.12 "$@"
}
PASS=(--vrid 51 --auth pass --key secret --vips 10.99.0.101)
AH=(--vrid 52 --auth ah --key secret --vips 10.99.0.102)
UNI=(--vrid 53 --dst 10.99.0.11 --vips 10.99.0.103)

# hostile LABEL LOG-LINE FORGE-ARGS...: send it; keepalived's line must appear in our log.
hostile() {
    local label=$1 line=$2
    shift 2
    forge "$@"
    check "$label: dropped with '$line'" "$(wait_for 1 "$TMP/ours.log" "$line" 3; echo $?)"
}
hostile "TTL 64" '\(VI_PASS\) invalid TTL/HL\. Received 64 and expect 255' "${PASS[@]}" --ttl 64
hostile "bad checksum" '\(VI_PASS\) Invalid VRRPv2 checksum' "${PASS[@]}" --bad-checksum
hostile "version 3 to a v2 instance" '\(VI_PASS\) wrong version\. Received 3 and expect 2' --vrid 51 --version 3 --int 100 --vips 10.99.0.101
hostile "unknown VRID" 'Unknown VRID\(99\) received on interface\(eth0\)\. ignoring\.\.\.' --vrid 99 --vips 10.99.0.101
hostile "wrong password" '\(VI_PASS\) received an invalid passwd!' --vrid 51 --auth pass --key guess --vips 10.99.0.101
hostile "truncated" '\(VI_PASS\) vrrp packet too short, length 36 and expect 40' "${PASS[@]}" --truncate 4
hostile "too short for a header" 'IPv4 VRRP packet too short - 24 bytes' "${PASS[@]}" --truncate 16
hostile "two addresses for one VIP" '\(VI_PASS\) received an unexpected ip number count 2, expected 1!' --vrid 51 --auth pass --key secret --vips 10.99.0.101,10.99.0.104
hostile "forged priority 255 without auth (PASS)" '\(VI_PASS\) received a 0 auth, expecting 1!' --vrid 51 --prio 255 --vips 10.99.0.101
hostile "forged priority 255 without AH" '\(VI_AH\) No AH header but auth type is AH' --vrid 52 --prio 255 --auth-type 2 --vips 10.99.0.102
hostile "AH with a wrong key" '\(VI_AH\) IPSEC-AH : invalid IPSEC HMAC-MD5 value' --vrid 52 --auth ah --key guess --vips 10.99.0.102
hostile "unicast from a non-peer" '\(VI_UNI\) unicast source address 10\.99\.0\.13 not a unicast peer' "${UNI[@]}" --src 10.99.0.13

stats ours
cp "$TMP/keepalived.stats" "$TMP/hostile.stats"
expect_stat() { # expect_stat INSTANCE SECTION FIELD VALUE
    local got
    got=$(stat_of "$1" "$2" "$3")
    check "stats: $1 ${2:+$2 / }$3 = $4" "$([[ $got == "$4" ]] || echo "got '$got'" >&2; [[ $got == "$4" ]]; echo $?)"
}
expect_stat VI_PASS 'Packet Errors' TTL 1
expect_stat VI_PASS 'Packet Errors' Length 1
expect_stat VI_PASS 'Packet Errors' 'Address List' 1
expect_stat VI_PASS 'Other Errors' Checksum 1
expect_stat VI_PASS 'Other Errors' Version 1
expect_stat VI_PASS 'Authentication Errors' Failure 1
expect_stat VI_PASS 'Authentication Errors' 'Type Mismatch' 1
expect_stat VI_PASS 'Advertisements' Received 0
expect_stat VI_AH 'Authentication Errors' 'Type Mismatch' 1
expect_stat VI_AH 'Authentication Errors' Failure 1
expect_stat VI_UNI 'Other Errors' 'Unicast Source' 1
expect_stat VI_UNI 'Advertisements' Received 1
expect_stat '*' '' 'Too Short' 1
expect_stat '*' '' 'Unknown VRID' 1
# The JSON dump (keepalived's --signum=JSON, SIGRTMIN+2) carries the same counters.
rm -f "$TMP/keepalived.json"
kill -s RTMIN+2 "$(cat "$TMP/ours.pid")"
check "JSON dump: valid, three instances MASTER, VI_PASS counters as above" "$(wait_for 1 "$TMP/keepalived.json" 'iname' 5 &&
    python3 - "$TMP/keepalived.json" <<'PY'
import json, sys
d = {i["data"]["iname"]: i for i in json.load(open(sys.argv[1]))}
p = d["VI_PASS"]["stats"]
assert sorted(d) == ["VI_AH", "VI_PASS", "VI_UNI"], sorted(d)
assert all(i["data"]["state"] == 2 for i in d.values())
assert (p["ip_ttl_err"], p["packet_len_err"], p["auth_failure"], p["authtype_mismatch"], p["advert_rcvd"]) == (1, 1, 1, 1, 0), p
assert d["VI_PASS"]["data"]["vips"] == ["10.99.0.101"] and d["VI_PASS"]["data"]["auth_type"] == 1
PY
    echo $?)"
check "no hostile advert changed a state or moved a VIP" "$(! grep -qE 'Entering (BACKUP|FAULT) STATE$' "$TMP/ours.log" &&
    wait_addr "$LAB-a" 10.99.0.101 1 && wait_addr "$LAB-a" 10.99.0.102 1 && wait_addr "$LAB-a" 10.99.0.103 1; echo $?)"

# The same adverts made right: each instance yields to priority 254 (the forger is right).
forge "${PASS[@]}"
check "control: a valid PASS advert at 254 takes VI_PASS to BACKUP" "$(wait_for 1 "$TMP/ours.log" '\(VI_PASS\) Master received advert from 10\.99\.0\.12 with higher priority 254, ours 100' 3 &&
    wait_addr "$LAB-a" 10.99.0.101 3 absent; echo $?)"
forge "${AH[@]}" --seq 7
check "control: a valid AH advert at 254 takes VI_AH to BACKUP" "$(wait_for 1 "$TMP/ours.log" '\(VI_AH\) Master received advert from 10\.99\.0\.12 with higher priority 254, ours 100' 3 &&
    wait_addr "$LAB-a" 10.99.0.102 3 absent; echo $?)"
forge "${UNI[@]}"
check "control: a valid unicast advert from the peer takes VI_UNI to BACKUP" "$(wait_for 1 "$TMP/ours.log" '\(VI_UNI\) Master received advert from 10\.99\.0\.12 with higher priority 254, ours 100' 3 &&
    wait_addr "$LAB-a" 10.99.0.103 3 absent; echo $?)"
# A replayed AH advert (same sequence number) is dropped.
forge "${AH[@]}" --seq 7
check "a replayed AH advert is dropped" "$(wait_for 1 "$TMP/ours.log" '\(VI_AH\) IPSEC-AH : sequence number 7 already processed' 3; echo $?)"
stop ours

echo "vrrp-hostile: $passed passed, $failed failed"
((failed == 0))

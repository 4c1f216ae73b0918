#!/usr/bin/env bash
# Accept mode at run time (issue 4): Debian's keepalived and ours in turn on host a, each
# becoming MASTER of one VRRPv3 instance; the peer host pings the VIP.
#   no_accept (non-owner):        the ping is dropped; nftables table `keepalived` holds the
#                                 VIP (the same ruleset as keepalived's); gone at stop
#   accept:                       the ping is answered; no table
#   vrrp_strict, non-owner:       no_accept by default: dropped
#   vrrp_strict, owner (255):     accept: answered
# Usage: sudo tests/vrrp-accept.sh [OUR_BINARY]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
# shellcheck source=tests/vrrp-lib.sh
source "$ROOT/tests/vrrp-lib.sh"
vrrp_setup vrrp-accept kva "${1:-$ROOT/target/debug/keepalived}" theirs
command -v nft >/dev/null || { echo "vrrp-accept: need nft (Debian package nftables)" >&2; exit 2; }
command -v ping >/dev/null || { echo "vrrp-accept: need ping (Debian package iputils-ping)" >&2; exit 2; }

conf() { # conf NAME GLOBAL PRIORITY MODE
    cat >"$TMP/$1.conf" <<CONF
global_defs {
    router_id accept
    $2
}
vrrp_instance VI_1 {
    version 3
    interface eth0
    virtual_router_id 51
    priority $3
    advert_int 0.1
    $4
    virtual_ipaddress {
        10.99.0.100/24
    }
}
CONF
}

pings() { ip netns exec "$LAB-b" ping -c 2 -i 0.2 -W 1 "$1" >/dev/null 2>&1; }
ruleset() { ip netns exec "$LAB-a" nft list ruleset 2>/dev/null; }

make_lab "$LAB"

# case LABEL GLOBAL PRIORITY MODE EXPECT(answered|dropped)
case_() {
    local label=$1 who want=$5 n=0
    for who in theirs ours; do
        n=$((n + 1))
        conf "$who$n" "$2" "$3" "$4"
        : >"$TMP/$who$n.log"
        run "$who" a "$who$n"
        wait_for 1 "$TMP/$who$n.log" 'Entering MASTER STATE' 10 || true
        wait_addr "$LAB-a" 10.99.0.100 5 || true
        ruleset >"$TMP/$who$n.nft"
        local got=dropped
        pings 10.99.0.100 && got=answered
        check "$who, $label: a ping to the VIP on the master is $want" "$([[ $got == "$want" ]]; echo $?)"
        check "$who, $label: the master's own address still answers" "$(pings 10.99.0.11; echo $?)"
        if [[ $want == dropped ]]; then
            check "$who, $label: the VIP is in the nftables set keepalived/vips" \
                "$(grep -q 'elements = { 10.99.0.100 }' "$TMP/$who$n.nft"; echo $?)"
        else
            check "$who, $label: no nftables table" "$([[ ! -s $TMP/$who$n.nft ]]; echo $?)"
        fi
        stop "$who$n" || true
        check "$who, $label: no table left after the stop" "$([[ -z $(ruleset) ]]; echo $?)"
    done
    [[ $want == dropped ]] && check "$label: our ruleset is keepalived's" \
        "$(diff "$TMP/theirs1.nft" "$TMP/ours2.nft" >&2; echo $?)"
    return 0
}

case_ "no_accept" "" 100 no_accept dropped
case_ "accept" "" 100 accept answered
case_ "vrrp_strict, priority 100" vrrp_strict 100 "" dropped
case_ "vrrp_strict, address owner" vrrp_strict 255 "" answered

echo "vrrp-accept: $passed passed, $failed failed"
((failed == 0))

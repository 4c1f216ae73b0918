#!/usr/bin/env bash
# VRRP interop against Debian's keepalived 2.2.7 (issue 4): two hosts in network namespaces
# on a bridge, ours on one and keepalived on the other, for each wire flavour:
#   ours MASTER / keepalived BACKUP: keepalived accepts our adverts (no rejection logged),
#   SIGTERM sends priority 0 and keepalived takes over, restarting ours pre-empts back;
#   keepalived MASTER / ours BACKUP: ours stays BACKUP, takes over when keepalived's link
#   goes down (time measured against Master_Down_Interval and printed).
# Usage: sudo tests/vrrp-interop.sh [OUR_BINARY]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
# shellcheck source=tests/vrrp-lib.sh
source "$ROOT/tests/vrrp-lib.sh"
OURS=$(realpath -- "${1:-$ROOT/target/debug/keepalived}")
THEIRS=${REF_KEEPALIVED:-/usr/sbin/keepalived}
[[ -x $OURS && -x $THEIRS ]] || { echo "vrrp-interop: need $OURS and $THEIRS" >&2; exit 2; }
((EUID == 0)) || { echo "vrrp-interop: must run as root" >&2; exit 2; }

LAB="kvi$$"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vrrp-interop.XXXXXX")
trap vrrp_cleanup EXIT

# conf NAME PRIO BODY: a config with one instance VI_1, VRID 51, VIP 10.99.0.100.
conf() {
    cat >"$TMP/$1.conf" <<CONF
global_defs {
    router_id $1
    script_user nobody
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority $2
    advert_int 1
$3
    virtual_ipaddress {
        $VIP
    }
}
CONF
}
VIP=10.99.0.100/24

REJECT='invalid|mismatch|wrong version|unexpected|not present|Invalid|discarding|CONFIGURATION ERROR'

scenario() { # scenario LABEL CONFIG-BODY-A CONFIG-BODY-B [VIP]
    local label=$1 body_a=$2 body_b=$3 t0 t1
    VIP=${4:-10.99.0.100/24}
    local vip=${VIP%/*}
    echo "--- $label"
    make_lab "$LAB"
    local f
    for f in ours-m theirs-b theirs-m ours-b; do
        : >"$TMP/$f.log"
    done

    # Ours MASTER (150), keepalived BACKUP (100).
    conf ours-m 150 "$body_a"
    conf theirs-b 100 "$body_b"
    run theirs b theirs-b
    run ours a ours-m
    check "$label: ours becomes MASTER, keepalived stays BACKUP" "$(wait_for 1 "$TMP/ours-m.log" 'Entering MASTER STATE' 6 &&
        wait_vip "$LAB-a" "$vip" 3 && sleep 1.5 && ! grep -q 'Entering MASTER' "$TMP/theirs-b.log"; echo $?)"
    check "$label: keepalived logs no rejection of our adverts" "$(! grep -E "$REJECT" "$TMP/theirs-b.log"; echo $?)"
    kill -HUP "$(cat "$TMP/ours-m.pid")"
    wait_for 1 "$TMP/ours-m.log" 'acknowledged configuration generation 2' 5
    sleep 4.5 # longer than keepalived's Master_Down_Interval (3.609 s): nothing may move
    rm -f "$TMP/keepalived.stats"
    kill -USR2 "$(cat "$TMP/ours-m.pid")"
    check "$label: SIGUSR2 writes keepalived's stats (adverts sent, became master)" "$(wait_for 1 "$TMP/keepalived.stats" '^VRRP Instance: VI_1$' 5 &&
        grep -qE '^    Sent: [1-9]' "$TMP/keepalived.stats" && grep -q '^  Became master: 1$' "$TMP/keepalived.stats"; echo $?)"
    check "$label: a reload of ours moves nothing" "$(! grep -q 'Entering MASTER' "$TMP/theirs-b.log" && wait_vip "$LAB-a" "$vip" 1; echo $?)"
    t0=$(now_ms)
    stop ours-m
    wait_vip "$LAB-b" "$vip" 5
    t1=$(now_ms)
    echo "     priority 0 on our SIGTERM: keepalived held the VIP after $((t1 - t0)) ms (skew 0.609 s + stop)"
    check "$label: priority 0 hands the VIP to keepalived within skew + 0.5 s" "$([[ $((t1 - t0)) -le 1109 ]] && ! ip -n "$LAB-a" addr show dev eth0 | grep -q "$vip/"; echo $?)"
    : >"$TMP/ours-m.log"
    run ours a ours-m
    check "$label: restarting ours pre-empts keepalived" "$(wait_for 1 "$TMP/theirs-b.log" 'Master received advert from [^ ]+ with higher priority 150' 6 &&
        wait_vip "$LAB-a" "$vip" 3 && wait_vip "$LAB-b" "$vip" 3 absent; echo $?)"
    stop ours-m
    stop theirs-b

    # keepalived MASTER (150), ours BACKUP (100).
    conf theirs-m 150 "$body_b"
    conf ours-b 100 "$body_a"
    run theirs b theirs-m
    wait_for 1 "$TMP/theirs-m.log" 'Entering MASTER STATE' 6
    run ours a ours-b
    # Nothing may happen for longer than Master_Down_Interval (3.609 s): a sleep is the test.
    sleep 5
    check "$label: ours stays BACKUP under keepalived" "$(! grep -q 'Entering MASTER' "$TMP/ours-b.log" && ! grep -E "$REJECT" "$TMP/ours-b.log"; echo $?)"
    t0=$(now_ms)
    ip -n "$LAB-b" link set eth0 down
    wait_vip "$LAB-a" "$vip" 6
    t1=$(now_ms)
    echo "     keepalived's link down: ours held the VIP after $((t1 - t0)) ms (Master_Down_Interval 3609 ms, less the time since keepalived's last advert)"
    check "$label: ours takes over within Master_Down_Interval + 100 ms" "$([[ $((t1 - t0)) -le 3709 ]]; echo $?)"
    stop ours-b
    stop theirs-m
    del_lab "$LAB"
}

scenario "v2 multicast, no auth" "    version 2" "    version 2"
scenario "v2 multicast, PASS" "    version 2
    authentication {
        auth_type PASS
        auth_pass secret
    }" "    version 2
    authentication {
        auth_type PASS
        auth_pass secret
    }"
scenario "v2 unicast" "    version 2
    unicast_src_ip 10.99.0.11
    unicast_peer {
        10.99.0.12
    }" "    version 2
    unicast_src_ip 10.99.0.12
    unicast_peer {
        10.99.0.11
    }"
scenario "v2 multicast, AH" "    version 2
    authentication {
        auth_type AH
        auth_pass secret
    }" "    version 2
    authentication {
        auth_type AH
        auth_pass secret
    }"
scenario "v3 multicast" "    version 3" "    version 3"
scenario "v3 unicast" "    version 3
    unicast_src_ip 10.99.0.11
    unicast_peer {
        10.99.0.12
    }" "    version 3
    unicast_src_ip 10.99.0.12
    unicast_peer {
        10.99.0.11
    }"
scenario "v3 IPv6 multicast" "    version 3" "    version 3" fd99::100/64

# A failing track script with a negative weight hands the VIP over, as in the tutorials.
track_scenario() {
    echo "--- track_script weight -60"
    make_lab "$LAB"
    chmod 755 "$TMP"
    touch "$TMP/service-up"
    local f
    for f in ours-t theirs-t; do
        : >"$TMP/$f.log"
    done
    VIP=10.99.0.100/24
    conf ours-t 150 "    vrrp_script_placeholder"
    # The track script goes before the instance; the instance tracks it.
    sed -i "s|^vrrp_instance VI_1 {|vrrp_script chk_service {\n    script \"/usr/bin/test -e $TMP/service-up\"\n    interval 1\n    weight -60\n}\nvrrp_instance VI_1 {|; s|    vrrp_script_placeholder|    track_script {\n        chk_service\n    }|" "$TMP/ours-t.conf"
    conf theirs-t 100 ""
    run theirs b theirs-t
    run ours a ours-t
    check "track: ours is MASTER while the service is up" "$(wait_vip "$LAB-a" 10.99.0.100 8; echo $?)"
    rm "$TMP/service-up"
    check "track: the script fails, priority 150 -> 90, keepalived takes the VIP" "$(wait_for 1 "$TMP/ours-t.log" 'Changing effective priority from 150 to 90' 5 &&
        wait_vip "$LAB-b" 10.99.0.100 8 && wait_vip "$LAB-a" 10.99.0.100 3 absent; echo $?)"
    touch "$TMP/service-up"
    check "track: the script recovers, ours pre-empts back" "$(wait_for 1 "$TMP/ours-t.log" 'Changing effective priority from 90 to 150' 5 &&
        wait_vip "$LAB-a" 10.99.0.100 8 && wait_vip "$LAB-b" 10.99.0.100 3 absent; echo $?)"
    stop ours-t
    stop theirs-t
    del_lab "$LAB"
}
track_scenario

echo "vrrp-interop: $passed passed, $failed failed"
((failed == 0))

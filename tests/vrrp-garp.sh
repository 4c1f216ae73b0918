#!/usr/bin/env bash
# Gratuitous ARP bursts on the wire (issue 4), counted by tcpdump on the peer's interface:
# an address owner with two VIPs, garp_master_repeat 3, garp_master_delay 2,
# garp_master_refresh 4 with repeat 2, garp_lower_prio_repeat 2 with delay 1, and
# vrrp_garp_interval 0.1 (every frame at least 100 ms after the previous one).
# Expected, from the first GARP at T0: 6 frames from T0, 6 from T0+2 s, 4 at the refresh
# T0+4 s and T0+8 s, and for a lower-priority advert sent at about T0+5 s: 4 at once and 4
# a second later. Bursts are told apart by gaps of more than 400 ms; each must start on
# time (-20..+50 ms).
# Usage: sudo tests/vrrp-garp.sh [OUR_BINARY]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
# shellcheck source=tests/vrrp-lib.sh
source "$ROOT/tests/vrrp-lib.sh"
vrrp_setup vrrp-garp kvg "${1:-$ROOT/target/debug/keepalived}"

cat >"$TMP/ours.conf" <<'CONF'
global_defs {
    router_id garp
    vrrp_garp_interval 0.1
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 255
    advert_int 1
    garp_master_repeat 3
    garp_master_delay 2
    garp_master_refresh 4
    garp_master_refresh_repeat 2
    garp_lower_prio_repeat 2
    garp_lower_prio_delay 1
    virtual_ipaddress {
        10.99.0.100/24
        10.99.0.101/24
    }
}
CONF

# The interpreter itself (a pyenv shim would add a second of start-up).
PY=$(python3 -c 'import sys; print(sys.executable)')
make_lab "$LAB"
: >"$TMP/arp.err"
ip netns exec "$LAB-b" tcpdump -i eth0 --immediate-mode -tt -n -l -U 'arp or ip proto 112' >"$TMP/arp.cap" 2>"$TMP/arp.err" &
CAP_PIDS+=($!)
wait_for 1 "$TMP/arp.err" 'listening on' 5
: >"$TMP/ours.log"
run ours a ours
wait_for 1 "$TMP/arp.cap" 'who-has 10.99.0.10[01] .*tell 10.99.0.10[01]' 5
t0=$(awk '/who-has 10.99.0.10[01] .*tell 10.99.0.10[01]/ { print $1; exit }' "$TMP/arp.cap")
# The lower-priority advert at T0 + 5 s: a point in time, not a wait for an event.
sleep "$(awk -v t0="$t0" -v now="$EPOCHREALTIME" 'BEGIN { d = t0 + 5 - now; print (d > 0 ? d : 0) }')"
ip netns exec "$LAB-b" "$PY" "$ROOT/tests/vrrp-forge.py" --dev eth0 --src 10.99.0.12 --vrid 51 --prio 100 --vips 10.99.0.100,10.99.0.101
sleep "$(awk -v t0="$t0" -v now="$EPOCHREALTIME" 'BEGIN { d = t0 + 9.5 - now; print (d > 0 ? d : 0) }')"
stop ours
cap_stop arp

# Frame times relative to T0, in ms.
awk -v t0="$t0" '/who-has 10.99.0.10[01] .*tell 10.99.0.10[01]/ { printf "%d\n", ($1 - t0) * 1000 + 0.5 }' "$TMP/arp.cap" >"$TMP/rel"
# Bursts: "start size" for runs of frames less than 400 ms apart.
awk 'NR == 1 || $1 - prev > 400 { if (NR > 1) print start, n; start = $1; n = 0 } { n++; prev = $1 } END { print start, n }' "$TMP/rel" >"$TMP/bursts"
echo "     frames (ms from the first): $(tr '\n' ' ' <"$TMP/rel")"
echo "     bursts (start size): $(tr '\n' ',' <"$TMP/bursts")"
mapfile -t B <"$TMP/bursts"
burst() { # burst LABEL INDEX SIZE [FROM TARGET]: burst INDEX has SIZE frames and, with
    # FROM and TARGET, starts TARGET ms (-20..+50) after burst FROM.
    local b=${B[$2]:-} start size
    start=${b% *} size=${b#* }
    local ok=1
    if [[ -n $b && $size == "$3" ]]; then
        ok=0
        if [[ -n ${4:-} ]]; then
            local d=$((start - ${B[$4]% *}))
            ((d >= $5 - 20 && d <= $5 + 50)) || ok=1
        fi
    fi
    check "$1" "$ok"
}
check "six bursts" "$( ((${#B[@]} == 6)); echo $?)"
# The forged lower-priority advert, on the wire.
adv=$(awk -v t0="$t0" '/prio 100,/ { printf "%d\n", ($1 - t0) * 1000 + 0.5; exit }' "$TMP/arp.cap")
b3=${B[3]:-}
check "the lower-priority burst starts within 50 ms of the advert (advert at ${adv:-?} ms)" "$([[ -n $adv && -n $b3 ]] && ((${b3% *} - adv >= 0 && ${b3% *} - adv <= 50)); echo $?)"
burst "on becoming MASTER: garp_master_repeat 3 x 2 VIPs" 0 6
burst "garp_master_delay 2: the same again 2 s later" 1 6 0 2000
burst "garp_master_refresh 4: garp_master_refresh_repeat 2 x 2 VIPs at 4 s" 2 4 0 4000
burst "a lower-priority advert: garp_lower_prio_repeat 2 x 2 VIPs at once" 3 4
burst "garp_lower_prio_delay 1: the same again 1 s later" 4 4 3 1000
burst "the refresh again at 8 s" 5 4 0 8000
gaps=$(awk 'NR > 1 && $1 - prev < 95 { bad++ } { prev = $1 } END { print bad + 0 }' "$TMP/rel")
check "vrrp_garp_interval 0.1: no two frames closer than 100 ms (5 ms slack)" "$( ((gaps == 0)); echo $?)"

echo "vrrp-garp: $passed passed, $failed failed"
((failed == 0))

#!/usr/bin/env bash
# VRRP child restarts with many instances (issue 4, the soak's flap): a master (150) and a
# backup (100) of ours with N VRRPv3 instances at 0.1 s (250 per link). The backup starts
# once the master holds every VIP; then the backup's VRRP child is SIGKILLed, later the
# master's. After each restart the instances resume their states: no transition at all
# (the backup's "Resuming BACKUP STATE", the master's "Resuming MASTER STATE"), and
# every VIP stays on the master. (Before the fix, adverts that queued while a thousand
# instances started were handled after their down timers had run out: every backup
# instance went MASTER at once, and the two hosts fought.)
# Usage: sudo tests/vrrp-restart.sh [OUR_BINARY]   env: N (default 500)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
# shellcheck source=tests/vrrp-lib.sh
source "$ROOT/tests/vrrp-lib.sh"
vrrp_setup vrrp-restart kvr "${1:-$ROOT/target/debug/keepalived}"
N=${N:-500}
PER_LINK=250
LINKS=$(((N + PER_LINK - 1) / PER_LINK))

make_lab "$LAB"
for ((k = 1; k < LINKS; k++)); do
    ip -n "$LAB-br" link add "br$k" type bridge
    ip -n "$LAB-br" link set "br$k" up
    for n in a b; do
        ip -n "$LAB-$n" link add "eth$k" type veth peer name "p$n$k" netns "$LAB-br"
        ip -n "$LAB-br" link set "p$n$k" master "br$k"
        ip -n "$LAB-br" link set "p$n$k" up
        ip -n "$LAB-$n" link set "eth$k" up
    done
    ip -n "$LAB-a" addr add "10.99.$k.11/24" dev "eth$k"
    ip -n "$LAB-b" addr add "10.99.$k.12/24" dev "eth$k"
done

conf() { # conf NAME PRIO
    local i k v
    {
        printf 'global_defs {\n    router_id %s\n}\n' "$1"
        for ((i = 0; i < N; i++)); do
            k=$((i / PER_LINK)) v=$((i % PER_LINK + 1))
            printf 'vrrp_instance VI_%s_%s {\n    version 3\n    interface eth%s\n    virtual_router_id %s\n    priority %s\n    advert_int 0.1\n    virtual_ipaddress {\n        10.99.%s.%s/32\n    }\n}\n' \
                "$k" "$v" "$k" "$v" "$2" $((100 + k)) "$v"
        done
    } >"$TMP/$1.conf"
}
vip_count() {
    local out
    out=$(ip -n "$LAB-$1" -4 -o addr show 2>/dev/null) || out=
    awk '$4 ~ /^10\.99\.1[0-9][0-9]\./' <<<"$out" | wc -l
}
wait_vips() { # wait_vips HOST COUNT SECONDS
    local deadline=$((SECONDS + $3))
    while (($(vip_count "$1") != $2)); do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}
# changes NAME FROM: state changes NAME logged after line FROM.
changes() { tail -n +"$(($2 + 1))" "$TMP/$1.log" | grep -c 'Entering' || true; }
lines() { wc -l <"$TMP/$1.log"; }
child() { cat "$TMP/$1.vrrp.pid"; }

conf m 150
conf b 100
: >"$TMP/m.log"
: >"$TMP/b.log"
TMPDIR=$TMP ip netns exec "$LAB-a" "$OURS" -n -l -P -f "$TMP/m.conf" -p "$TMP/m.pid" -r "$TMP/m.vrrp.pid" >>"$TMP/m.log" 2>&1 &
PIDFILES+=("$TMP/m.pid")
check "the master holds all $N VIPs" "$(wait_vips a "$N" 120; echo $?)"
l0m=$(lines m)
TMPDIR=$TMP ip netns exec "$LAB-b" "$OURS" -n -l -P -f "$TMP/b.conf" -p "$TMP/b.pid" -r "$TMP/b.vrrp.pid" >>"$TMP/b.log" 2>&1 &
PIDFILES+=("$TMP/b.pid")
wait_for "$N" "$TMP/b.log" 'Entering BACKUP STATE \(init\)' 120 || true
sleep 3
check "the backup's start: no transition on either host beyond its $N (init) lines" \
    "$( (($(changes m "$l0m") == 0 && $(changes b 0) == N)); echo $?)"

for who in b m; do
    l0m=$(lines m) l0b=$(lines b)
    old=$(child "$who")
    kill -KILL "$old"
    for _ in $(seq 100); do [[ $(child "$who" 2>/dev/null) != "$old" ]] && break; sleep 0.05; done
    name=backup state=BACKUP
    [[ $who == m ]] && name=master state=MASTER
    wait_for "$N" "$TMP/$who.log" "Resuming $state STATE" 60 || true
    sleep 3
    check "the $name's VRRP child restarted: $N instances resumed $state" \
        "$( (($(tail -n +"$(($([[ $who == m ]] && echo "$l0m" || echo "$l0b") + 1))" "$TMP/$who.log" | grep -c "Resuming $state STATE") == N)); echo $?)"
    check "after the $name's restart: no state change on either host ($(changes m "$l0m") / $(changes b "$l0b"))" \
        "$( (($(changes m "$l0m") == 0 && $(changes b "$l0b") == 0)); echo $?)"
    check "after the $name's restart: all $N VIPs on the master, none on the backup" \
        "$( (($(vip_count a) == N && $(vip_count b) == 0)); echo $?)"
done

echo "vrrp-restart: $passed passed, $failed failed"
((failed == 0))

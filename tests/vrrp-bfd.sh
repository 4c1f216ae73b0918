#!/usr/bin/env bash
# BFD against Debian's keepalived (RFC 5880/5881 on UDP 3784): ours (10.99.0.11, priority
# 150) and keepalived (10.99.0.12, priority 100) each run a bfd_instance pointing at the
# other; our VRRP instance tracks ours.
#   track_bfd (weight 0): the instance is in FAULT until the session is Up, then MASTER;
#     keepalived stopped: our session expires within the detection time, the instance goes
#     to FAULT and releases the VIP; keepalived back: Up again, MASTER again. A reload keeps
#     the session Up (and polls keepalived with a new min_tx); a SIGKILL of our VRRP child
#     puts nothing in FAULT.
#   IPv6 (fd99::11 / fd99::12, hop limit 64): Up with keepalived, MASTER, expiry, FAULT.
#   track_bfd weight -60: with keepalived's BFD child frozen, our session expires, we drop
#     to 90 and keepalived's VRRP (100) takes the VIP; thawed, we are back at 150 and
#     pre-empt.
# Usage: sudo tests/vrrp-bfd.sh [OUR_BINARY]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
# shellcheck source=tests/vrrp-lib.sh
source "$ROOT/tests/vrrp-lib.sh"
vrrp_setup vrrp-bfd kvb "${1:-$ROOT/target/debug/keepalived}" theirs
BFD_PID=
# A frozen keepalived BFD child must be thawed to end.
trap '[[ -z $BFD_PID ]] || kill -CONT "$BFD_PID" 2>/dev/null || true; vrrp_cleanup' EXIT

VIP=10.99.0.100
# Detection time at each end: the peer's multiplier (3) × max(our min_rx, its min_tx) = 300 ms.
BFD_TIMERS="    min_rx 100
    min_tx 100
    multiplier 3"

# conf NAME PRIO NEIGHBOR [TRACK-LINES]
conf() {
    cat >"$TMP/$1.conf" <<CONF
global_defs {
    router_id $1
}
bfd_instance bfd_$1 {
    neighbor_ip $3
$BFD_TIMERS
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority $2
    advert_int 1
${4:-}
    virtual_ipaddress {
        $VIP/24
    }
}
CONF
}

# run_bg WHO HOST NAME: as vrrp-lib's run, without waiting for a VRRP state.
run_bg() {
    local who=$1 host=$2 name=$3 bin=$OURS
    [[ $who == theirs ]] && bin=$THEIRS
    local args=(-n -l -P -f "$TMP/$name.conf" -p "$TMP/$name.pid" -r "$TMP/$name.vrrp.pid")
    if [[ $who == ours ]]; then
        args+=(-G -c "$TMP/$name.check.pid")
    else
        args+=(-b "$TMP/$name.bfd.pid")
    fi
    TMPDIR=$TMP ip netns exec "$LAB-$host" "$bin" "${args[@]}" >>"$TMP/$name.log" 2>&1 &
    PIDFILES+=("$TMP/$name.pid")
}

make_lab "$LAB"

echo "--- track_bfd (weight 0)"
: >"$TMP/ours.log"
: >"$TMP/theirs.log"
conf ours 150 10.99.0.12 "    track_bfd {
        bfd_ours
    }"
conf theirs 100 10.99.0.11
run_bg ours a ours
check "ours starts in FAULT while the session is down" "$(wait_for 1 "$TMP/ours.log" 'Entering FAULT STATE' 10; echo $?)"
check "no VIP while in FAULT" "$(wait_addr "$LAB-a" $VIP 1 absent; echo $?)"
run_bg theirs b theirs
check "ours: session Up with keepalived" "$(wait_for 1 "$TMP/ours.log" '\(bfd_ours\) Entering Up state' 10; echo $?)"
check "keepalived: session Up with ours" "$(wait_for 1 "$TMP/theirs.log" '\(bfd_theirs\) Entering Up state' 5; echo $?)"
check "ours: tracked BFD reported UP" "$(wait_for 1 "$TMP/ours.log" 'VRRP_Instance\(VI_1\) Tracked BFD instance bfd_ours is UP' 3; echo $?)"
check "ours: MASTER with the VIP once BFD is up" "$(wait_for 1 "$TMP/ours.log" 'Entering MASTER STATE' 8 &&
    wait_addr "$LAB-a" $VIP 3; echo $?)"
# Both ends settle at the fast rate: detection time 300 ms logged by both.
check "ours: detection time 300 ms after the poll sequence" "$(wait_for 1 "$TMP/ours.log" 'Detection time is 300000 us' 3; echo $?)"
check "keepalived: detection time 300 ms" "$(wait_for 1 "$TMP/theirs.log" 'Detection time is 300000 us' 3; echo $?)"
sleep 2
check "no expiry while both run" "$(grep -c 'Expired after' "$TMP/ours.log" "$TMP/theirs.log" | awk -F: '{s += $2} END {print (s == 0) ? 0 : 1}')"
# SIGUSR1 writes keepalived's BFD dump file beside keepalived.data, as its BFD child does.
rm -f "$TMP/keepalived_bfd.data"
kill -USR1 "$(cat "$TMP/ours.pid")"
check "SIGUSR1: keepalived_bfd.data shows the session Up, events to VRRP" "$(wait_for 1 "$TMP/keepalived_bfd.data" '^   last seen = [0-9]+\.[0-9]{6} \(' 5 &&
    grep -q '^ BFD Instance = bfd_ours$' "$TMP/keepalived_bfd.data" && grep -q '^   local state = Up$' "$TMP/keepalived_bfd.data" &&
    grep -q '^   remote state = Up$' "$TMP/keepalived_bfd.data" && grep -q '^   send event to VRRP process = Yes$' "$TMP/keepalived_bfd.data"; echo $?)"

# Reload with a slower min_tx: the session stays Up (keepalived keeps sessions by name) and
# a poll sequence tells keepalived, whose detection time becomes 3 × 200 ms.
sed -i 's/^    min_tx 100$/    min_tx 200/' "$TMP/ours.conf"
kill -HUP "$(cat "$TMP/ours.pid")"
check "reload: keepalived acknowledges our new min_tx (detection time 600 ms)" "$(wait_for 1 "$TMP/theirs.log" 'Detection time is 600000 us' 5; echo $?)"
sleep 1
check "reload: the session stayed Up, VRRP untouched" "$(
    ! grep -qE '\(bfd_ours\) Entering Down|Tracked BFD instance bfd_ours is DOWN|Expired after' "$TMP/ours.log" "$TMP/theirs.log" &&
        wait_addr "$LAB-a" $VIP 1; echo $?)"

# SIGKILL of our VRRP child: the parent restarts it and the instance resumes MASTER. The
# new child's session starts from Down (keepalived's side sees it go down and up again),
# but a resumed instance waits for it instead of falling to FAULT.
l0=$(wc -l <"$TMP/ours.log")
old=$(cat "$TMP/ours.vrrp.pid")
kill -KILL "$old"
for _ in $(seq 100); do [[ $(cat "$TMP/ours.vrrp.pid" 2>/dev/null) != "$old" ]] && break; sleep 0.05; done
check "VRRP child restart: resumed MASTER" "$(wait_for 1 "$TMP/ours.log" 'Resuming MASTER STATE' 10; echo $?)"
check "VRRP child restart: the new session comes Up" "$(wait_for 2 "$TMP/ours.log" '\(bfd_ours\) Entering Up state' 5; echo $?)"
sleep 1
check "VRRP child restart: no FAULT, the VIP never left" "$(
    ! tail -n +"$((l0 + 1))" "$TMP/ours.log" | grep -qE 'Entering FAULT STATE|removing VIPs|Tracked BFD instance bfd_ours is DOWN' &&
        wait_addr "$LAB-a" $VIP 1; echo $?)"

stop theirs
check "ours: session expires after keepalived stops" "$(wait_for 1 "$TMP/ours.log" '\(bfd_ours\) Expired after' 3; echo $?)"
ms=$(sed -n 's/.*(bfd_ours) Expired after \([0-9]*\) ms.*/\1/p' "$TMP/ours.log" | head -n 1)
check "ours: expired within the detection time (after ${ms:-?} ms, want 300..350)" "$( ((${ms:-0} >= 300 && ${ms:-0} <= 350)); echo $?)"
check "ours: Down with 'Control Detection Time Expired'" "$(wait_for 1 "$TMP/ours.log" '\(bfd_ours\) Entering Down state \(Local diagnostic - Control Detection Time Expired' 1; echo $?)"
check "ours: tracked BFD reported DOWN" "$(wait_for 1 "$TMP/ours.log" 'Tracked BFD instance bfd_ours is DOWN' 1; echo $?)"
check "ours: FAULT and the VIP released" "$(wait_for 2 "$TMP/ours.log" 'Entering FAULT STATE' 2 &&
    wait_addr "$LAB-a" $VIP 2 absent; echo $?)"

: >"$TMP/theirs.log"
run_bg theirs b theirs
check "keepalived back: session Up again" "$(wait_for 3 "$TMP/ours.log" '\(bfd_ours\) Entering Up state' 10; echo $?)"
check "ours: MASTER again with the VIP" "$(wait_for 2 "$TMP/ours.log" 'Entering MASTER STATE' 8 &&
    wait_addr "$LAB-a" $VIP 3; echo $?)"
stop ours
stop theirs

echo "--- track_bfd weight -60"
mv "$TMP/ours.log" "$TMP/ours.1.log"
mv "$TMP/theirs.log" "$TMP/theirs.1.log"
: >"$TMP/ours.log"
: >"$TMP/theirs.log"
conf ours 150 10.99.0.12 "    track_bfd {
        bfd_ours weight -60
    }"
conf theirs 100 10.99.0.11
run_bg theirs b theirs
wait_for 1 "$TMP/theirs.log" 'Entering (BACKUP|MASTER) STATE' 10 || true
run_bg ours a ours
check "weight: BFD Up, priority 90 -> 150 (the session down at start counted -60)" "$(wait_for 1 "$TMP/ours.log" 'Changing effective priority from 90 to 150' 10; echo $?)"
check "weight: ours MASTER with the VIP" "$(wait_for 1 "$TMP/ours.log" 'Entering MASTER STATE' 8 &&
    wait_addr "$LAB-a" $VIP 3; echo $?)"
# keepalived's BFD child frozen (SIGSTOP: killed, keepalived would respawn it at once and
# the new one's Down packet brings our session down and up again), its VRRP side running:
# our session expires, we drop to 90 and keepalived's VRRP at 100 pre-empts.
BFD_PID=$(cat "$TMP/theirs.bfd.pid")
kill -STOP "$BFD_PID"
check "weight: session expires, 150 -> 90" "$(wait_for 1 "$TMP/ours.log" 'Changing effective priority from 150 to 90' 3; echo $?)"
check "weight: keepalived (100) takes the VIP from our 90" "$(wait_addr "$LAB-b" $VIP 6 && wait_addr "$LAB-a" $VIP 3 absent; echo $?)"
kill -CONT "$BFD_PID"
BFD_PID=
check "weight: keepalived's BFD thawed, session Up, 90 -> 150" "$(wait_for 2 "$TMP/ours.log" 'Changing effective priority from 90 to 150' 10; echo $?)"
check "weight: ours pre-empts back" "$(wait_addr "$LAB-a" $VIP 6 && wait_addr "$LAB-b" $VIP 3 absent; echo $?)"
stop ours
stop theirs

echo "--- IPv6 (hop limit 64)"
mv "$TMP/ours.log" "$TMP/ours.2.log"
mv "$TMP/theirs.log" "$TMP/theirs.2.log"
: >"$TMP/ours.log"
: >"$TMP/theirs.log"
ip -n "$LAB-a" addr add fd99::11/64 dev eth0 nodad
ip -n "$LAB-b" addr add fd99::12/64 dev eth0 nodad
conf ours 150 fd99::12 "    track_bfd {
        bfd_ours
    }"
conf theirs 100 fd99::11
run_bg theirs b theirs
run_bg ours a ours
check "IPv6: ours Up with keepalived" "$(wait_for 1 "$TMP/ours.log" '\(bfd_ours\) Entering Up state' 10; echo $?)"
check "IPv6: keepalived Up with ours" "$(wait_for 1 "$TMP/theirs.log" '\(bfd_theirs\) Entering Up state' 5; echo $?)"
check "IPv6: ours MASTER once BFD is up" "$(wait_for 1 "$TMP/ours.log" 'Entering MASTER STATE' 8 &&
    wait_addr "$LAB-a" $VIP 3; echo $?)"
stop theirs
check "IPv6: expiry after keepalived stops, FAULT" "$(wait_for 1 "$TMP/ours.log" '\(bfd_ours\) Expired after' 3 &&
    wait_for 2 "$TMP/ours.log" 'Entering FAULT STATE' 2; echo $?)"
stop ours

echo "vrrp-bfd: $passed passed, $failed failed"
((failed == 0))

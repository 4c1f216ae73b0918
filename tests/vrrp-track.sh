#!/usr/bin/env bash
# Trackers on the wire (issue 4): ours (priority 150) against Debian's keepalived (100) on a
# bridge; one tracked object fails and the VIP must move to keepalived, then recovers and
# the VIP must come back:
#   track_interface eth1 weight -60 (a veth set down / up: 150 -> 90 -> 150)
#   track_file weight -10 (the file says 6, then 0: 150 -> 90 -> 150)
#   track_process weight 0 (the process ends: FAULT; it returns: BACKUP, then pre-empts)
#   the instance's own interface (eth0 down: FAULT, VIP released; up: back to MASTER)
# Usage: sudo tests/vrrp-track.sh [OUR_BINARY]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
# shellcheck source=tests/vrrp-lib.sh
source "$ROOT/tests/vrrp-lib.sh"
vrrp_setup vrrp-track kvt "${1:-$ROOT/target/debug/keepalived}" theirs
PROC_PID=
trap '[[ -z $PROC_PID ]] || end_pids "$PROC_PID"; vrrp_cleanup' EXIT

VIP=10.99.0.100
# conf NAME PRIO [BLOCKS [INSTANCE-LINES]]: one instance VI_1, VRID 51.
conf() {
    cat >"$TMP/$1.conf" <<CONF
global_defs {
    router_id $1
}
${3:-}
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

# tracker LABEL BLOCKS INSTANCE-LINES FAIL-CMD FAIL-LOG RESTORE-CMD RESTORE-LOG
tracker() {
    local label=$1 blocks=$2 lines=$3 fail=$4 fail_log=$5 restore=$6 restore_log=$7
    echo "--- $label"
    make_lab "$LAB"
    veth_up a eth1
    : >"$TMP/ours.log"
    : >"$TMP/theirs.log"
    conf ours 150 "$blocks" "$lines"
    conf theirs 100
    run theirs b theirs
    run ours a ours
    check "$label: ours is MASTER while the tracked object is fine" "$(wait_for 1 "$TMP/ours.log" 'Entering MASTER STATE' 6 &&
        wait_addr "$LAB-a" $VIP 3; echo $?)"
    eval "$fail"
    check "$label: failure logged ('$fail_log'), keepalived takes the VIP" "$(wait_for 1 "$TMP/ours.log" "$fail_log" 5 &&
        wait_addr "$LAB-b" $VIP 6 && wait_addr "$LAB-a" $VIP 3 absent; echo $?)"
    eval "$restore"
    check "$label: recovery logged ('$restore_log'), ours takes the VIP back" "$(wait_for 1 "$TMP/ours.log" "$restore_log" 5 &&
        wait_addr "$LAB-a" $VIP 8 && wait_addr "$LAB-b" $VIP 3 absent; echo $?)"
    stop ours
    stop theirs
    del_lab "$LAB"
}

tracker "track_interface weight -60" "" "    track_interface {
        eth1 weight -60
    }" \
    'ip -n "$LAB-a" link set eth1 down' \
    'Changing effective priority from 150 to 90' \
    'ip -n "$LAB-a" link set eth1 up' 'Changing effective priority from 90 to 150'

echo 0 >"$TMP/weight"
chmod 644 "$TMP/weight"
tracker "track_file weight -10" "track_file tf {
    file $TMP/weight
    weight -10
}" "    track_file {
        tf
    }" \
    'echo 6 >"$TMP/weight.new" && mv "$TMP/weight.new" "$TMP/weight"' 'Changing effective priority from 150 to 90' \
    'echo 0 >"$TMP/weight"' 'Changing effective priority from 90 to 150'

# A process with a name no other process has: a copy of sleep.
cp "$(command -v sleep)" "$TMP/kvtrackproc"
"$TMP/kvtrackproc" 1000 &
PROC_PID=$!
tracker "track_process weight 0" "vrrp_track_process tp {
    process kvtrackproc
    weight 0
}" "    track_process {
        tp
    }" \
    'end_pids "$PROC_PID"; PROC_PID=' 'Quorum lost for tracked process tp' \
    '"$TMP/kvtrackproc" 1000 & PROC_PID=$!' 'Quorum gained for tracked process tp'

tracker "own interface" "" "" \
    'ip -n "$LAB-a" link set eth0 down' 'Netlink reports eth0 down' \
    'ip -n "$LAB-a" link set eth0 up' 'Netlink reports eth0 up'

echo "vrrp-track: $passed passed, $failed failed"
((failed == 0))

#!/usr/bin/env bash
# vrrp_sync_group on the wire (issue 4): ours runs VI_1 and VI_2 (priority 150) in sync
# group G, VI_1 tracking a link eth1; Debian's keepalived runs the same two instances.
#   start: the group goes MASTER together (`Syncing instances to MASTER state`)
#   eth1 down: one member's fault puts both in FAULT; both VIPs go to keepalived
#   eth1 up: both come back
#   keepalived restarted with VI_1 at 200: VI_1 goes BACKUP and takes VI_2 with it, and
#     VI_2 stays BACKUP although its peer is lower (prefer BACKUP to thrashing)
# The group's notify script must see `GROUP G MASTER|FAULT|BACKUP 0` each time.
# Usage: sudo tests/vrrp-sync.sh [OUR_BINARY]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
# shellcheck source=tests/vrrp-lib.sh
source "$ROOT/tests/vrrp-lib.sh"
vrrp_setup vrrp-sync kvs "${1:-$ROOT/target/debug/keepalived}" theirs

mkdir -m 1777 "$TMP/out"
cat >"$TMP/notify.sh" <<EOF
#!/bin/sh
echo "\$*" >>$TMP/out/notify.log
EOF
chmod 755 "$TMP/notify.sh"
# notify_fifo with its script: keepalived's FIFO lines, as a reader sees them.
cat >"$TMP/fifo.sh" <<EOF
#!/bin/sh
while read -r line; do echo "\$line" >>$TMP/out/fifo.log; done <"\$1"
EOF
chmod 755 "$TMP/fifo.sh"

# conf NAME PRIO1 PRIO2 [GROUP]: VI_1 (VRID 51, .100) and VI_2 (VRID 52, .101).
conf() {
    {
        printf 'global_defs {\n    router_id %s\n' "$1"
        [[ -n ${4:-} ]] && printf '    notify_fifo %s\n    notify_fifo_script %s\n' "$TMP/notify.fifo" "$TMP/fifo.sh"
        printf '}\n'
        if [[ -n ${4:-} ]]; then
            printf 'vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n    notify %s\n}\n' "$TMP/notify.sh"
        fi
        local n p
        for n in 1 2; do
            p=$2
            ((n == 2)) && p=$3
            printf 'vrrp_instance VI_%s {\n    interface eth0\n    virtual_router_id 5%s\n    priority %s\n    advert_int 1\n' "$n" "$n" "$p"
            [[ -n ${4:-} && $n == 1 ]] && printf '    track_interface {\n        eth1\n    }\n'
            printf '    virtual_ipaddress {\n        10.99.0.10%s/24\n    }\n}\n' "$((n - 1))"
        done
    } >"$TMP/$1.conf"
}

notified() { # notified STATE COUNT: the group notify ran COUNT times for STATE
    wait_for "$2" "$TMP/out/notify.log" "^GROUP G $1 0$" 5
}
fifo_has() { # fifo_has COUNT LINE: the FIFO reader saw LINE (a regex) COUNT times
    wait_for "$1" "$TMP/out/fifo.log" "^$2$" 5
}

make_lab "$LAB"
veth_up a eth1
: >"$TMP/ours.log"
: >"$TMP/theirs.log"
conf ours 150 150 group
conf theirs 100 100
run theirs b theirs
run ours a ours
check "the group starts BACKUP, then goes MASTER together" "$(notified BACKUP 1 &&
    wait_for 1 "$TMP/ours.log" 'VRRP_Group\(G\) Syncing instances to MASTER state' 8 &&
    wait_addr "$LAB-a" 10.99.0.100 3 && wait_addr "$LAB-a" 10.99.0.101 3 && notified MASTER 1; echo $?)"
check "notify_fifo: keepalived's lines for the group and both instances" "$(fifo_has 1 'GROUP "G" BACKUP 0' &&
    fifo_has 1 'INSTANCE "VI_1" BACKUP 150' && fifo_has 1 'GROUP "G" MASTER 0' &&
    fifo_has 1 'INSTANCE "VI_1" MASTER 150' && fifo_has 1 'INSTANCE "VI_2" MASTER 150'; echo $?)"

ip -n "$LAB-a" link set eth1 down
check "VI_1's link down puts the whole group in FAULT; keepalived takes both VIPs" "$(wait_for 1 "$TMP/ours.log" 'VRRP_Group\(G\) Syncing instances to FAULT state' 5 &&
    wait_for 2 "$TMP/ours.log" 'Entering FAULT STATE' 3 && notified FAULT 1 &&
    wait_addr "$LAB-b" 10.99.0.100 6 && wait_addr "$LAB-b" 10.99.0.101 6 &&
    wait_addr "$LAB-a" 10.99.0.100 1 absent && wait_addr "$LAB-a" 10.99.0.101 1 absent; echo $?)"
check "notify_fifo: FAULT lines" "$(fifo_has 1 'GROUP "G" FAULT 0' && fifo_has 1 'INSTANCE "VI_2" FAULT 150'; echo $?)"

ip -n "$LAB-a" link set eth1 up
check "the link back: the group comes back MASTER" "$(wait_for 2 "$TMP/ours.log" 'VRRP_Group\(G\) Syncing instances to MASTER state' 8 &&
    notified MASTER 2 && wait_addr "$LAB-a" 10.99.0.100 3 && wait_addr "$LAB-a" 10.99.0.101 3; echo $?)"

stop theirs
: >"$TMP/theirs.log"
conf theirs 200 100
run theirs b theirs
check "a higher VI_1 on keepalived: VI_1 goes BACKUP and takes VI_2 with it" "$(wait_for 1 "$TMP/ours.log" 'VRRP_Group\(G\) Syncing instances to BACKUP state' 8 &&
    notified BACKUP 2 && wait_addr "$LAB-a" 10.99.0.100 3 absent && wait_addr "$LAB-a" 10.99.0.101 3 absent &&
    wait_addr "$LAB-b" 10.99.0.101 6; echo $?)"
# VI_2's peer is lower, but the group prefers BACKUP: nothing may move for longer than
# Master_Down_Interval (3.4 s at 150): a sleep is the test.
sleep 5
check "VI_2 stays BACKUP with its group" "$(wait_addr "$LAB-a" 10.99.0.101 1 absent && [[ $(grep -c 'Syncing instances to MASTER' "$TMP/ours.log") == 2 ]]; echo $?)"
stop ours
stop theirs
sed 's/^/     group notify: /' "$TMP/out/notify.log"
sed 's/^/     fifo: /' "$TMP/out/fifo.log"
check "the FIFO we made is gone after the stop" "$([[ ! -e $TMP/notify.fifo ]]; echo $?)"

echo "vrrp-sync: $passed passed, $failed failed"
((failed == 0))

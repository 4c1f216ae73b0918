#!/usr/bin/env bash
# Fault injection (issue 6): restarts, reloads and crashes that must never move a VIP.
#
# Usage: sudo tests/faults.sh [--full] [--host-only | --vm-only] [OUR_BINARY]
#
# Host part, in network namespaces on a bridge: ours MASTER (priority 150, advert 1 s) on
# host a, Debian's keepalived BACKUP (priority 100) on host b, `ip monitor address` on both
# and a capture of every advert on the bridge:
#   vrrp-kill    SIGKILL our VRRP child N times (each after the new one reported ready):
#                keepalived never enters MASTER, the VIP never leaves a, no advert missed
#   reload-master reloads of the unchanged MASTER: no advert later than one interval
#   bad-reload   SIGHUP with 15 configs keepalived rejects (12 of them stop its start-up, the
#                other 3 are braces that do not balance): each refused with its file:line,
#                the running config keeps working
#   reload-remove a reload adds an instance (ours becomes its MASTER), the next removes it:
#                priority 0 sent, its VIP removed, the other instance untouched
#   crash-loop   the VRRP child killed as soon as it starts: the VIPs leave a within
#                Master_Down_Interval + 1 s and keepalived holds them; then it recovers
#   kill-all     SIGKILL parent and child, keepalived takes over, start ours again: no
#                duplicate VIP on the segment for longer than one advert interval
#   sigterm      priority 0 sent, VIPs removed, exit 0 within 2 s
#   reload-backup ours restarted as BACKUP under keepalived's MASTER and reloaded: no
#                transition (no "Entering" line, no notify), keepalived keeps the VIP
#   reload-tracker ours (150) held at 90 by a failing track script (weight -60) under
#                keepalived's 100, reloaded: the priority is recomputed, ours never pre-empts
# VM part (tests/faults/vm, Debian's cloud kernel with IPVS under qemu): the same pair
# plus a virtual server with three real servers (one down):
#   checker-kill SIGKILL our checker N times: no VIP move, no missed advert, `ipvsadm -Sn`
#                identical, no IPVS change at all (counted by the kernel), the down real
#                server never re-added
#   reload       N SIGHUPs alternating two configs differing in one VRRP instance's VIPs
#                and one real server's weight: exactly one IPVS change per reload, the
#                changed instance gains/loses its VIP as keepalived does, the unchanged
#                one never changes state, masters never miss an advert
#   sigterm-ipvs priority 0 sent, VIPs and every IPVS entry removed, exit 0 within 2 s
#
# Counts: CI (default) 3 VRRP kills, 10 checker kills, 6 reloads; --full (the README's
# command) 20, 100 and 50 as issue 6 asks. Prints a summary table and
# `faults: N passed, M failed`.
set -euo pipefail
{ # read the whole script before running it: editing it during a run is harmless
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
FULL=0 PARTS="host vm"
while [[ $# -gt 0 ]]; do
    case $1 in
        --full) FULL=1; shift ;;
        --host-only) PARTS=host; shift ;;
        --vm-only) PARTS=vm; shift ;;
        -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        -*) echo "faults: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
if ((FULL)); then VRRP_KILLS=20 CHECKER_KILLS=100 RELOADS=50 HOST_RELOADS=10; else VRRP_KILLS=3 CHECKER_KILLS=10 RELOADS=6 HOST_RELOADS=3; fi

# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
# shellcheck source=tests/vrrp-lib.sh
source "$ROOT/tests/vrrp-lib.sh"
vrrp_setup faults kft "${1:-$ROOT/target/debug/keepalived}" theirs

SUMMARY=()
# scenario NAME RUNS FUNCTION FIGURES: run FUNCTION, then a summary row (FIGURES is expanded
# afterwards, so it may name what FUNCTION measured).
scenario() {
    local f0=$failed
    "$3"
    row "$1" "$2" "$(verdict "$f0")" "$(eval "echo \"$4\"")"
}
# row SCENARIO RUNS RESULT FIGURES: one line of the closing table.
row() { SUMMARY+=("$(printf '%-14s %5s  %-4s  %s' "$1" "$2" "$3" "$4")"); }
# verdict BEFORE: "ok" if no check failed since the failure count was BEFORE.
verdict() { if ((failed == $1)); then echo ok; else echo FAIL; fi; }

VIP=10.99.0.100
# conf NAME PRIO [EXTRA-INSTANCE-LINES] [TAIL]: one instance VI_1, VRID 51.
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
${3:-}
    virtual_ipaddress {
        $VIP/24
    }
}
${4:-}
CONF
}

# start_ours: ours on host a (VRRP only, foreground), OURS_PID its pid; returns once VI_1
# entered a state.
start_ours() {
    TMPDIR=$TMP ip netns exec "$LAB-a" "$OURS" -n -l -G -P -f "$TMP/ours.conf" -p "$TMP/ours.pid" \
        -r "$TMP/ours.vrrp.pid" -c "$TMP/ours.check.pid" >>"$TMP/ours.log" 2>&1 &
    OURS_PID=$!
    PIDFILES+=("$TMP/ours.pid")
    wait_for "$((${1:-0} + 1))" "$TMP/ours.log" 'Entering (BACKUP|MASTER|FAULT) STATE' 10
}

# ready_count: how many times a VRRP child reported ready in our log.
ready_count() { grep -c 'VRRP child process ready' "$TMP/ours.log" || true; }

# wait_new_child OLD-PID N: until the VRRP pid file names another process and the log has
# N "ready" lines.
wait_new_child() {
    local deadline=$((SECONDS + 10)) p
    while ((SECONDS < deadline)); do
        p=$(cat "$TMP/ours.vrrp.pid" 2>/dev/null) || p=
        [[ -n $p && $p != "$1" && $(ready_count) -ge $2 ]] && return 0
        sleep 0.01
    done
    return 1
}

# max_gap CAPTURE SRC: the longest time (ms) between two adverts from SRC in a capture.
max_gap() {
    awk -v src="$2" '$0 ~ (" " src " > ") && /VRRP/ { if (last != "") { g = ($1 - last) * 1000; if (g > m) m = g } last = $1 }
        END { printf "%d\n", m + 0.5 }' "$TMP/$1.cap"
}

# vip_events MONITOR: lines of an `ip monitor address` file about the VIP.
vip_events() { grep -E "inet $VIP/" "$TMP/$1.mon" || true; }

host_part() {
    make_lab "$LAB"
    : >"$TMP/ours.log"
    : >"$TMP/theirs-b.log"
    conf ours 150
    conf theirs-b 100
    run theirs b theirs-b
    start_ours
    check "pair: ours MASTER, keepalived BACKUP" "$(wait_for 1 "$TMP/ours.log" 'Entering MASTER STATE' 6 &&
        wait_addr "$LAB-a" "$VIP" 3 && wait_for 1 "$TMP/theirs-b.log" 'Entering BACKUP STATE' 3; echo $?)" "$TMP/ours.log"

    # --- vrrp-kill
    local f0=$failed i old n t0 gap
    cap_start kill
    mon_start a kill-a
    mon_start b kill-b
    sleep 1.2 # an advert before the first kill
    t0=$SECONDS
    for ((i = 1; i <= VRRP_KILLS; i++)); do
        old=$(cat "$TMP/ours.vrrp.pid")
        n=$(($(ready_count) + 1))
        kill -KILL "$old"
        wait_new_child "$old" "$n" || { check "vrrp-kill $i: a new VRRP child reported ready" 1 "$TMP/ours.log"; break; }
        # Kill at a random point of the advert cycle, not always right after a resumption.
        sleep "0.$((RANDOM % 90 + 10))"
    done
    sleep 1.2
    cap_stop kill
    mon_stop
    gap=$(max_gap kill 10.99.0.11)
    check "vrrp-kill: $VRRP_KILLS SIGKILLs, each followed by a ready child" "$( ((i > VRRP_KILLS)); echo $?)"
    check "vrrp-kill: keepalived never entered MASTER" "$(! grep -q 'Entering MASTER STATE' "$TMP/theirs-b.log"; echo $?)" "$TMP/theirs-b.log"
    check "vrrp-kill: the VIP never left the master, never came on the backup" "$([[ -z $(vip_events kill-a) && -z $(vip_events kill-b) ]] &&
        wait_addr "$LAB-a" "$VIP" 0; echo $?)" "$TMP/kill-a.mon"
    check "vrrp-kill: no advert missed (longest gap ${gap} ms < 1500)" "$( ((gap > 0 && gap < 1500)); echo $?)"
    row vrrp-kill "$VRRP_KILLS" "$(verdict "$f0")" "longest advert gap ${gap} ms over $((SECONDS - t0)) s; VIP moves 0"

    scenario reload-master "$HOST_RELOADS" reload_master 'longest advert gap $MASTER_GAP ms (advert 1 s)'

    scenario bad-reload 15 bad_reloads "each refused with file:line; VRRP child pid unchanged"

    scenario reload-remove 1 reload_remove '$REMOVE_FIG'

    scenario crash-loop 1 crash_loop '$CRASH_FIG'

    scenario kill-all 1 kill_all '$KILLALL_FIG'

    scenario sigterm 1 sigterm '$TERM_FIG'

    scenario reload-backup "$HOST_RELOADS" reload_backup "no transition, keepalived stays MASTER"

    scenario reload-tracker "$HOST_RELOADS" reload_tracker "priority stays 150 - 60 across reloads; no pre-emption"
    stop theirs-b || true
    del_lab "$LAB"
}

# reload_refused N LABEL PATTERN: after the Nth refusal, the log names the problem (PATTERN,
# a fixed string) and the running instance is untouched.
bad_reloads() {
    local vp good n=0 label pat
    vp=$(cat "$TMP/ours.vrrp.pid")
    cp "$TMP/ours.conf" "$TMP/good.conf"
    cap_start bad
    mon_start a bad-a
    mon_start b bad-b
    # bad LABEL PATTERN: SIGHUP with $TMP/ours.conf as prepared by the caller.
    bad() {
        n=$((n + 1))
        # Debian's keepalived rejects it too (-t exits non-zero; all but the brace cases
        # also stop its start-up).
        local krc=0
        [[ -e $c ]] && { ip netns exec "$LAB-a" "$THEIRS" -t -f "$c" >/dev/null 2>&1 || krc=$?; }
        [[ -e $c ]] || krc=missing
        kill -HUP "$OURS_PID"
        check "bad-reload $n ($1): refused, '$2' logged (keepalived -t: exit $krc)" "$(wait_for "$n" "$TMP/ours.log" 'Reload refused' 5 &&
            grep -qF -- "$2" "$TMP/ours.log" && [[ $krc != 0 ]]; echo $?)" "$TMP/ours.log"
        cp "$TMP/good.conf" "$TMP/ours.conf"
        sleep 0.3 # the ten refusals span a few adverts
    }
    local c=$TMP/ours.conf i=$TMP/inc.conf
    # 1. an include that does not exist, with keepalived's include_check (without it a
    #    missing include is only reported, by keepalived and by us)
    { sed 's/^    router_id .*/&\n    include_check/' "$TMP/good.conf"; echo "include $TMP/nosuch.conf"; } >"$c"
    bad "missing include (include_check)" "($c: Line 17, col 1) Config files missing '$TMP/nosuch.conf'"
    # 2. a block never closed
    sed '$d' "$TMP/good.conf" >"$c"
    printf 'vrrp_instance VI_2 {\n    interface eth0\n' >>"$c"
    bad "unclosed brace" "There are 1 missing '}'s or extra '{'s"
    # 3. a '}' too many
    { cat "$TMP/good.conf"; echo "}"; } >"$c"
    bad "extra brace" "($c: Line 16, col 1) Extra '}' found"
    # 4. an instance on an interface that does not exist
    sed 's/interface eth0/interface nosuch0/' "$TMP/good.conf" >"$c"
    bad "missing interface" "($c: Line 6, col 5) WARNING - interface nosuch0 for vrrp_instance VI_1 doesn't exist"
    # 5. the same in an included file
    printf 'vrrp_instance VI_3 {\n    interface nosuch3\n    virtual_router_id 53\n    virtual_ipaddress {\n        10.99.0.103/24\n    }\n}\n' >"$i"
    { cat "$TMP/good.conf"; echo "include $i"; } >"$c"
    bad "missing interface in an include" "($i: Line 2, col 5) WARNING - interface nosuch3 for vrrp_instance VI_3 doesn't exist"
    # 6. braces that do not balance in an included file
    printf 'vrrp_instance VI_3 {\n    interface eth0\n    virtual_router_id 53\n' >"$i"
    { cat "$TMP/good.conf"; echo "include $i"; } >"$c"
    bad "unclosed brace in an include" "($i: Line 1, col 20) note: this '{' is never closed"
    # 7. the main config file gone
    rm -f "$c"
    bad "config file missing" "Config files missing '$c'"
    # 8. a VIP on an interface that does not exist
    sed "s|$VIP/24|$VIP/24 dev nosuch2|" "$TMP/good.conf" >"$c"
    bad "VIP on a missing interface" "($c: Line 12, col 9) WARNING - interface nosuch2 for ip address $VIP/24 doesn't exist"
    # 9. a tracked interface that does not exist
    sed 's/^    advert_int 1$/    advert_int 1\n    track_interface {\n        nosuch1\n    }/' "$TMP/good.conf" >"$c"
    bad "tracked interface missing" "(VI_1) tracked interface nosuch1 doesn't exist"
    # 10. a static route through an interface that does not exist
    { cat "$TMP/good.conf"; printf 'static_routes {\n    10.99.50.0/24 dev nosuch5\n}\n'; } >"$c"
    bad "route on a missing interface" "WARNING - interface nosuch5 for VROUTE nexthop doesn't exist"
    # 11. a static address on an interface that does not exist
    { cat "$TMP/good.conf"; printf 'static_ipaddress {\n    10.99.1.1/24 dev nosuch4\n}\n'; } >"$c"
    bad "static address on a missing interface" "($c: Line 17, col 5) WARNING - interface nosuch4 for ip address 10.99.1.1/24 doesn't exist"
    # 12. a virtual route through an interface that does not exist
    sed 's|^    advert_int 1$|    advert_int 1\n    virtual_routes {\n        10.99.60.0/24 dev nosuch6\n    }|' "$TMP/good.conf" >"$c"
    bad "virtual route on a missing interface" "($c: Line 11, col 9) WARNING - interface nosuch6 for VROUTE nexthop doesn't exist"
    # 13. a rule with an output interface that does not exist
    { cat "$TMP/good.conf"; printf 'static_rules {\n    from 10.99.70.0/24 table 100 oif nosuch7\n}\n'; } >"$c"
    bad "rule on a missing interface" "($c: Line 17, col 5) WARNING - interface nosuch7 for rule doesn't exist"
    # 14. a sync group tracking an interface that does not exist
    { cat "$TMP/good.conf"; printf 'vrrp_sync_group G1 {\n    group {\n        VI_1\n    }\n    track_interface {\n        nosuch8\n    }\n}\n'; } >"$c"
    bad "sync group tracking a missing interface" "(G1) tracked interface nosuch8 doesn't exist"
    # 15. a garp_group on an interface that does not exist
    { cat "$TMP/good.conf"; printf 'garp_group {\n    garp_interval 0.1\n    interface nosuch9\n}\n'; } >"$c"
    bad "garp_group on a missing interface" "WARNING - interface nosuch9 specified for garp_group doesn't exist"
    BAD_COUNT=$n
    sleep 1.2
    cap_stop bad
    mon_stop
    local gap
    gap=$(max_gap bad 10.99.0.11)
    check "bad-reload: VRRP child untouched, still MASTER with the VIP" "$([[ $(cat "$TMP/ours.vrrp.pid") == "$vp" ]] &&
        wait_addr "$LAB-a" "$VIP" 0 && [[ -z $(vip_events bad-a) && -z $(vip_events bad-b) ]]; echo $?)" "$TMP/ours.log"
    check "bad-reload: keepalived never entered MASTER, no advert missed (longest gap $gap ms)" "$(! grep -q 'Entering MASTER STATE' "$TMP/theirs-b.log" &&
        ((gap > 0 && gap < 1500)); echo $?)"
    kill -HUP "$OURS_PID"
    check "bad-reload: the good config reloads afterwards" "$(wait_for 1 "$TMP/ours.log" 'Reload complete' 5; echo $?)" "$TMP/ours.log"
}

# reload_master: reloads of an unchanged MASTER: it keeps its state and advertises on time
# (a reload never delays an advert: the resumed instance sends one at once).
reload_master() {
    local i acks
    cap_start rmaster
    mon_start a rmaster-a
    sleep 1.1
    for ((i = 1; i <= HOST_RELOADS; i++)); do
        acks=$(grep -c 'VRRP child process acknowledged configuration generation' "$TMP/ours.log" || true)
        kill -HUP "$OURS_PID"
        wait_for $((acks + 1)) "$TMP/ours.log" 'VRRP child process acknowledged configuration generation' 5 || break
        sleep "0.$((RANDOM % 60 + 30))"
    done
    sleep 1.1
    cap_stop rmaster
    mon_stop
    MASTER_GAP=$(max_gap rmaster 10.99.0.11)
    check "reload-master: $HOST_RELOADS reloads acknowledged" "$( ((i > HOST_RELOADS)); echo $?)" "$TMP/ours.log"
    check "reload-master: no gap between adverts over one interval + 20 ms (longest $MASTER_GAP ms)" "$( ((MASTER_GAP > 0 && MASTER_GAP <= 1020)); echo $?)"
    check "reload-master: the VIP never moved, keepalived never MASTER" "$([[ -z $(vip_events rmaster-a) ]] && ! grep -q 'Entering MASTER STATE' "$TMP/theirs-b.log"; echo $?)"
}

# reload_remove: a reload adds VI_2 (VRID 52, 10.99.0.102; keepalived has no such instance, so
# ours becomes its MASTER), the next one removes it: priority 0 for VRID 52, its VIP gone, VI_1
# untouched.
reload_remove() {
    local t0 ms
    cp "$TMP/ours.conf" "$TMP/good.conf"
    conf ours 150 "" "vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    priority 150
    advert_int 1
    virtual_ipaddress {
        10.99.0.102/24
    }
}"
    mon_start a rm-a
    kill -HUP "$OURS_PID"
    check "reload-remove: an added instance becomes MASTER" "$(wait_for 1 "$TMP/ours.log" '\(VI_2\) Entering MASTER STATE' 8 &&
        wait_addr "$LAB-a" 10.99.0.102 2; echo $?)" "$TMP/ours.log"
    cap_start rm
    wait_for 1 "$TMP/rm.cap" 'vrid 52, prio 150,' 3 || true
    cp "$TMP/good.conf" "$TMP/ours.conf"
    t0=$EPOCHREALTIME
    kill -HUP "$OURS_PID"
    wait_addr "$LAB-a" 10.99.0.102 3 absent || true
    ms=$(ms_between "$t0" "$EPOCHREALTIME")
    cap_stop rm 'vrid 52, prio 0,'
    mon_stop
    check "reload-remove: the removed MASTER sent priority 0" "$(grep -q '10.99.0.11 > .*vrid 52, prio 0,' "$TMP/rm.cap"; echo $?)" "$TMP/ours.log"
    check "reload-remove: its VIP removed ($ms ms after the SIGHUP)" "$(wait_addr "$LAB-a" 10.99.0.102 0 absent; echo $?)" "$TMP/ours.log"
    check "reload-remove: VI_1 untouched (VIP never moved, keepalived never MASTER)" "$([[ -z $(vip_events rm-a) ]] &&
        wait_addr "$LAB-a" "$VIP" 0 && ! grep -q 'Entering MASTER STATE' "$TMP/theirs-b.log"; echo $?)" "$TMP/ours.log"
    REMOVE_FIG="priority 0 sent, VIP gone ${ms} ms after the SIGHUP"
}

# Master_Down_Interval of ours (priority 150, advert 1 s): 3 s + (256 - 150) / 256 s.
MDI_OURS_MS=3414
crash_loop() {
    local killer t0 t_gone ms
    mon_start a loop-a
    cap_start loop
    # The killer: every VRRP child the parent starts is SIGKILLed as soon as its pid file
    # appears (polled every 0.2 ms, so before it can have reported ready and advertised).
    python3 -c '
import os, signal, sys, time
path, last = sys.argv[1], None
while True:
    try:
        with open(path) as f:
            p = int(f.read().strip() or 0)
    except (OSError, ValueError):
        p = 0
    if p and p != last:
        try:
            os.kill(p, signal.SIGKILL)
            last = p
        except ProcessLookupError:
            pass
    time.sleep(0.0002)
' "$TMP/ours.vrrp.pid" &
    killer=$!
    CAP_PIDS+=("$killer")
    t0=$EPOCHREALTIME
    wait_addr "$LAB-a" "$VIP" 8 absent || true
    t_gone=$EPOCHREALTIME
    ms=$(ms_between "$t0" "$t_gone")
    check "crash-loop: VIP gone from the master within MDI + 1 s ($ms ms <= $((MDI_OURS_MS + 1000)))" "$( ((ms <= MDI_OURS_MS + 1000)); echo $?)" "$TMP/ours.log"
    check "crash-loop: '(VI_1) removing VIPs.' logged" "$(grep -q '(VI_1) removing VIPs\.' "$TMP/ours.log"; echo $?)" "$TMP/ours.log"
    check "crash-loop: keepalived holds the VIP" "$(wait_addr "$LAB-b" "$VIP" 3; echo $?)" "$TMP/theirs-b.log"
    kill -TERM "$killer"
    wait "$killer" 2>/dev/null || true
    unset 'CAP_PIDS[-1]'
    # Once children live again, ours (150) pre-empts keepalived (100).
    check "crash-loop: once children survive, ours is MASTER again" "$(wait_addr "$LAB-a" "$VIP" 90 && wait_addr "$LAB-b" "$VIP" 3 absent; echo $?)" "$TMP/ours.log"
    cap_stop loop
    mon_stop
    CRASH_FIG="VIP gone from the master ${ms} ms after the first kill (MDI $MDI_OURS_MS ms)"
}

# kill_all: SIGKILL the parent and the VRRP child at once; keepalived takes over (both hosts
# have the VIP: ours left it); start ours again.
kill_all() {
    local vp t_start t_del t_add t_bdel d1 d2
    vp=$(cat "$TMP/ours.vrrp.pid")
    : >"$TMP/theirs-b.log.mark"
    local masters
    masters=$(grep -c 'Entering MASTER STATE' "$TMP/theirs-b.log" || true)
    kill -KILL "$OURS_PID" "$vp"
    wait "$OURS_PID" 2>/dev/null || true
    check "kill-all: keepalived takes over, ours left the VIP behind" "$(wait_for "$((masters + 1))" "$TMP/theirs-b.log" 'Entering MASTER STATE' 6 &&
        wait_addr "$LAB-b" "$VIP" 2 && wait_addr "$LAB-a" "$VIP" 0; echo $?)" "$TMP/theirs-b.log"
    mon_start a all-a
    mon_start b all-b
    sleep 0.3
    local states
    states=$(grep -cE 'Entering (BACKUP|MASTER|FAULT) STATE' "$TMP/ours.log" || true)
    t_start=$EPOCHREALTIME
    start_ours "$states"
    wait_addr "$LAB-b" "$VIP" 8 absent || true
    wait_addr "$LAB-a" "$VIP" 2 || true
    sleep 0.2
    mon_stop
    # Duplicates after our start: from the start until ours removed its stale VIP, and from
    # ours adding it again (as MASTER) until keepalived removed its copy.
    t_del=$(grep -F Deleted "$TMP/all-a.mon" | grep -E "inet $VIP/" | head -n 1 | sed -n 's/^\[\([^]]*\)\].*/\1/p')
    [[ -n $t_del ]] && t_del=$(date -d "$t_del" +%s.%6N)
    t_add=$(vip_added all-a "$VIP")
    t_bdel=$(grep -F Deleted "$TMP/all-b.mon" | grep -E "inet $VIP/" | head -n 1 | sed -n 's/^\[\([^]]*\)\].*/\1/p')
    [[ -n $t_bdel ]] && t_bdel=$(date -d "$t_bdel" +%s.%6N)
    d1=$(ms_between "$t_start" "$t_del")
    d2=$(ms_between "$t_add" "$t_bdel")
    check "kill-all: our stale VIP removed ${d1:-?} ms after our start (<= 1000)" "$([[ -n $d1 ]] && ((d1 <= 1000)); echo $?)" "$TMP/ours.log"
    check "kill-all: VIP on both hosts for ${d2:-?} ms while ours pre-empts (<= 1000)" "$([[ -n $d2 ]] && ((d2 <= 1000)); echo $?)" "$TMP/ours.log"
    check "kill-all: ours MASTER again, keepalived BACKUP" "$(wait_addr "$LAB-a" "$VIP" 0 && wait_addr "$LAB-b" "$VIP" 0 absent; echo $?)"
    KILLALL_FIG="duplicate after our start: ${d1:-?} ms (stale VIP), ${d2:-?} ms (pre-emption)"
}

sigterm() {
    local t0 rc ms
    cap_start term
    wait_for 1 "$TMP/term.cap" '10.99.0.11 > .*prio 150,' 3 || true
    t0=$EPOCHREALTIME
    kill -TERM "$OURS_PID"
    rc=0
    wait "$OURS_PID" || rc=$?
    ms=$(ms_between "$t0" "$EPOCHREALTIME")
    cap_stop term 'prio 0,'
    check "sigterm: exit 0 within 2 s (exit $rc after $ms ms)" "$( ((rc == 0 && ms <= 2000)); echo $?)" "$TMP/ours.log"
    check "sigterm: priority 0 sent" "$(grep -q '10.99.0.11 > .*prio 0,' "$TMP/term.cap"; echo $?)"
    check "sigterm: VIP removed, pid files removed" "$(wait_addr "$LAB-a" "$VIP" 0 absent && [[ ! -e $TMP/ours.pid && ! -e $TMP/ours.vrrp.pid ]]; echo $?)"
    check "sigterm: keepalived takes over" "$(wait_addr "$LAB-b" "$VIP" 3; echo $?)"
    TERM_FIG="exit $rc after $ms ms"
}

# reload_backup: ours BACKUP (priority 50) under keepalived's MASTER, reloaded: an unchanged
# BACKUP is no transition (no "Entering" line, no notify), and keepalived keeps the VIP.
reload_backup() {
    local i
    conf ours 50
    : >"$TMP/ours.log"
    start_ours
    for ((i = 1; i <= HOST_RELOADS; i++)); do
        kill -HUP "$OURS_PID"
        wait_for 1 "$TMP/ours.log" "VRRP child process acknowledged configuration generation $((i + 1))\$" 5 || break
        sleep 0.3
    done
    check "reload-backup: $HOST_RELOADS reloads of a BACKUP acknowledged" "$( ((i > HOST_RELOADS)); echo $?)" "$TMP/ours.log"
    check "reload-backup: one 'Entering BACKUP STATE' (the start), no other transition" "$([[ $(grep -c 'Entering' "$TMP/ours.log") == 1 ]] &&
        grep -q 'Entering BACKUP STATE' "$TMP/ours.log"; echo $?)" "$TMP/ours.log"
    check "reload-backup: keepalived still MASTER with the VIP" "$(wait_addr "$LAB-b" "$VIP" 0 && wait_addr "$LAB-a" "$VIP" 0 absent; echo $?)"
    stop ours || true
}

# reload_tracker: ours at priority 150 with a failing track script of weight -60 (effective
# 90) stays BACKUP under keepalived's 100; reloads recompute 90 from the tracker's state
# instead of starting again from 150 (keepalived #1009), so ours never pre-empts.
reload_tracker() {
    local i
    # (the script before the instance: keepalived ignores a track_script named before its
    # vrrp_script, and so do we)
    conf ours 150 "    track_script {
        chk_down
    }"
    sed -i 's|^vrrp_instance VI_1 {$|vrrp_script chk_down {\n    script "/bin/false"\n    interval 1\n    weight -60\n}\n&|' "$TMP/ours.conf"
    : >"$TMP/ours.log"
    start_ours
    check "reload-tracker: the failing script lowers ours to 90, BACKUP" "$(wait_for 1 "$TMP/ours.log" 'VRRP_Script\(chk_down\) failed' 5 &&
        wait_for 1 "$TMP/ours.log" 'Entering BACKUP STATE' 1; echo $?)" "$TMP/ours.log"
    sleep 1.5
    for ((i = 1; i <= HOST_RELOADS; i++)); do
        kill -HUP "$OURS_PID"
        wait_for 1 "$TMP/ours.log" "VRRP child process acknowledged configuration generation $((i + 1))\$" 5 || break
        sleep 0.5
    done
    sleep 4 # longer than Master_Down_Interval: a priority reset to 150 would pre-empt by now
    check "reload-tracker: $HOST_RELOADS reloads, ours never MASTER, keepalived keeps the VIP" "$( ((i > HOST_RELOADS)) &&
        ! grep -q 'Entering MASTER STATE' "$TMP/ours.log" && wait_addr "$LAB-b" "$VIP" 0 && wait_addr "$LAB-a" "$VIP" 0 absent; echo $?)" "$TMP/ours.log"
    stop ours || true
}

vm_part() {
    local out rc=0 line
    out=$(mktemp -d "$TMP/vm.XXXXXX")
    "$ROOT/tests/faults/vm.sh" --out "$out" "$OURS" "$CHECKER_KILLS" "$RELOADS" >"$TMP/vm.log" 2>&1 || rc=$?
    grep -aE '^(ok|not ok) - |^# ' "$TMP/vm.log" | sed 's/^/     /' || true
    passed=$((passed + $(grep -ac '^ok - ' "$TMP/vm.log" || true)))
    failed=$((failed + $(grep -ac '^not ok - ' "$TMP/vm.log" || true)))
    if ! grep -aq '^faults-vm-guest: ' "$TMP/vm.log"; then
        check "vm: the VM run finished (exit $rc)" 1 "$TMP/vm.log"
    fi
    while IFS= read -r line; do SUMMARY+=("$line"); done < <(sed -n 's/^ROW //p' "$TMP/vm.log")
}

for part in $PARTS; do
    echo "--- $part part"
    "${part}_part"
done

echo
printf '%-14s %5s  %-4s  %s\n' scenario runs res figures
for line in "${SUMMARY[@]}"; do echo "$line"; done
echo
echo "faults: $passed passed, $failed failed"
((failed == 0))
exit
}

# shellcheck shell=bash
# Helpers the VRRP netns tests share (sourced after tests/lib.sh). The caller sets OURS,
# THEIRS (Debian's keepalived), LAB (namespace prefix) and TMP (a directory it owns), and
# calls `vrrp_cleanup` on exit.

PIDFILES=()
passed=0 failed=0

# vrrp_cleanup: end every daemon we started (by its pid file), remove the lab and TMP.
vrrp_cleanup() {
    local f p
    for p in "${CAP_PIDS[@]}" "${MON_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for f in "${PIDFILES[@]}"; do
        p=$(cat "$f" 2>/dev/null) || continue
        kill -TERM "$p" 2>/dev/null || true
    done
    for f in "${PIDFILES[@]}"; do
        p=$(cat "$f" 2>/dev/null) || continue
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.02; done
        kill -KILL "$p" 2>/dev/null || true
    done
    del_lab "$LAB"
    # KEEP=1 keeps the logs and captures for a look.
    if [[ -n ${KEEP:-} ]]; then echo "kept $TMP" >&2; else rm -rf --one-file-system -- "$TMP"; fi
}

# check LABEL STATUS: count and print one result (STATUS 0 = pass).
check() {
    if [[ $2 == 0 ]]; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}

# run WHO HOST NAME: start ours or theirs in LAB-HOST with $TMP/NAME.conf, logging to
# $TMP/NAME.log; returns once an instance entered BACKUP or MASTER.
run() {
    local who=$1 host=$2 name=$3 bin
    bin=$OURS
    [[ $who == theirs ]] && bin=$THEIRS
    local args=(-n -l -P -f "$TMP/$name.conf" -p "$TMP/$name.pid" -r "$TMP/$name.vrrp.pid")
    [[ $who == ours ]] && args+=(-G -c "$TMP/$name.check.pid")
    TMPDIR=$TMP ip netns exec "$LAB-$host" "$bin" "${args[@]}" >>"$TMP/$name.log" 2>&1 &
    PIDFILES+=("$TMP/$name.pid")
    wait_for 1 "$TMP/$name.log" 'Entering (BACKUP|MASTER|FAULT) STATE' 10
}

# stop NAME: SIGTERM and wait for the exit.
stop() {
    local p
    p=$(cat "$TMP/$1.pid")
    kill -TERM "$p"
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.01; done
    return 1
}

# stats NAME: SIGUSR2 to NAME and wait for a fresh keepalived.stats in $TMP.
stats() {
    rm -f "$TMP/keepalived.stats"
    kill -USR2 "$(cat "$TMP/$1.pid")"
    # The last line of our stats file.
    wait_for 1 "$TMP/keepalived.stats" '^  Unknown VRID: ' 5
}

# stat_of INSTANCE SECTION FIELD: a counter from $TMP/keepalived.stats, e.g.
# `stat_of VI_1 'Packet Errors' TTL`; SECTION '' for the instance's top-level lines.
stat_of() {
    awk -v inst="$1" -v sec="$2" -v field="$3" '
        /^VRRP Instance: / { cur = substr($0, 16); section = ""; next }
        /^VRRP \(all instances\):/ { cur = "*"; section = ""; next }
        /^  [A-Za-z ]+:$/ { s = $0; sub(/^  /, "", s); sub(/:$/, "", s); section = s; next }
        /^  [A-Za-z ]+: / && cur == inst && sec == "" { s = $0; sub(/^  /, "", s); split(s, kv, ": "); if (kv[1] == field) { print kv[2]; exit } }
        /^    / && cur == inst && section == sec { s = $0; sub(/^    /, "", s); split(s, kv, ": "); if (kv[1] == field) { print kv[2]; exit } }
    ' "$TMP/keepalived.stats"
}

CAP_PIDS=()
# cap_start NAME: capture VRRP and AH packets on the lab bridge (every port: unicast too) into $TMP/NAME.cap
# (tcpdump -tt: kernel receive times); returns once tcpdump listens.
cap_start() {
    : >"$TMP/$1.cap.err"
    ip netns exec "$LAB-br" tcpdump -i any --immediate-mode -tt -n -l -U 'ip proto 112 or ip proto 51 or ip6 proto 112' \
        >"$TMP/$1.cap" 2>"$TMP/$1.cap.err" &
    CAP_PIDS+=($!)
    wait_for 1 "$TMP/$1.cap.err" 'listening on' 5
}

# cap_stop NAME [PATTERN]: once capture NAME has a line matching PATTERN (if given), end it.
cap_stop() {
    local p=${CAP_PIDS[-1]}
    [[ -z ${2:-} ]] || wait_for 1 "$TMP/$1.cap" "$2" 3 || true
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    unset 'CAP_PIDS[-1]'
}

# wire_gap NAME OLD NEW: milliseconds on the wire from the old master's last advert
# (priority matching the regex OLD, e.g. '150|0') to the new master's first (priority NEW)
# in capture NAME; empty if either is missing.
wire_gap() {
    awk -v old="^($2)\$" -v new="^($3)\$" '
        match($0, /prio [0-9]+/) {
            p = substr($0, RSTART + 5, RLENGTH - 5)
            if (p ~ old && !done) last = $1
            else if (p ~ new && last != "" && !done) { first = $1; done = 1 }
        }
        END { if (done) printf "%d\n", (first - last) * 1000 + 0.5 }
    ' "$TMP/$1.cap"
}

MON_PIDS=()
# mon_start HOST NAME: `ip -ts monitor address` in LAB-HOST into $TMP/NAME.mon (event times
# of VIPs coming and going). Stopped by mon_stop or vrrp_cleanup.
mon_start() {
    ip -n "$LAB-$1" -ts monitor address >"$TMP/$2.mon" 2>&1 &
    MON_PIDS+=($!)
}

mon_stop() {
    local p
    for p in "${MON_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    MON_PIDS=()
}

# vip_added NAME ADDR: epoch seconds (with microseconds) at which ADDR was first added in
# monitor NAME; empty if never.
vip_added() {
    local ts
    ts=$(grep -vF Deleted "$TMP/$1.mon" | grep -E "inet6? $2/" | head -n 1 | sed -n 's/^\[\([^]]*\)\].*/\1/p')
    [[ -n $ts ]] && date -d "$ts" +%s.%6N
}

# last_advert NAME PRIOS: epoch seconds of the last advert with a priority matching the
# regex PRIOS before the first one of another priority, in capture NAME.
last_advert() {
    awk -v old="^($2)\$" '
        match($0, /prio [0-9]+/) {
            p = substr($0, RSTART + 5, RLENGTH - 5)
            if (p ~ old) last = $1; else if (last != "") exit
        }
        END { print last }
    ' "$TMP/$1.cap"
}

# ms_between T0 T1: whole milliseconds from epoch T0 to epoch T1 (empty if either is).
ms_between() {
    [[ -n $1 && -n $2 ]] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%d\n", (b - a) * 1000 + 0.5 }'
}

# wait_addr NS ADDR SECONDS [absent]: tests/lib.sh's wait_vip without its pipe: under
# `pipefail`, `ip … | grep -q` fails when grep exits before ip has written everything,
# which read as "absent" at random; and a deadline in microseconds, not whole seconds.
wait_addr() {
    local ns=$1 addr=$2 secs=$3 want=${4:-present} out
    local deadline=$((${EPOCHREALTIME/./} + secs * 1000000))
    while :; do
        out=$(ip -n "$ns" addr show dev eth0 2>/dev/null) || out=
        if [[ $out =~ inet6?\ $addr/ ]]; then
            [[ $want == present ]] && return 0
        else
            [[ $want == absent ]] && return 0
        fi
        ((${EPOCHREALTIME/./} < deadline)) || return 1
        sleep 0.005
    done
}

# vrrp_setup NAME LAB-PREFIX BINARY [theirs]: OURS (and THEIRS, Debian's keepalived, with
# "theirs"), the root check, LAB, TMP (mode 755: the VRRP child's own uid reads tracked
# files there) and the cleanup trap.
vrrp_setup() {
    OURS=$(realpath -- "$3")
    THEIRS=${REF_KEEPALIVED:-/usr/sbin/keepalived}
    [[ -x $OURS ]] || { echo "$1: need $OURS" >&2; exit 2; }
    [[ -z ${4:-} || -x $THEIRS ]] || { echo "$1: need $THEIRS" >&2; exit 2; }
    ((EUID == 0)) || { echo "$1: must run as root" >&2; exit 2; }
    LAB="$2$$"
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    chmod 755 "$TMP"
    trap vrrp_cleanup EXIT
}

# veth_up HOST IF: a veth pair IF / IFp inside LAB-HOST, both up (a link to track).
veth_up() {
    ip -n "$LAB-$1" link add "$2" type veth peer name "$2p"
    ip -n "$LAB-$1" link set "$2p" up
    ip -n "$LAB-$1" link set "$2" up
}

# shellcheck shell=bash
# Helpers the VRRP netns tests share (sourced after tests/lib.sh). The caller sets OURS,
# THEIRS (Debian's keepalived), LAB (namespace prefix) and TMP (a directory it owns), and
# calls `vrrp_cleanup` on exit.

PIDFILES=()
passed=0 failed=0

# vrrp_cleanup: end every daemon we started (by its pid file), remove the lab and TMP.
vrrp_cleanup() {
    local f p
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
    rm -rf --one-file-system -- "$TMP"
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

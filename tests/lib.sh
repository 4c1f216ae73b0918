# shellcheck shell=bash
# Shared helpers for the shell test harnesses (sourced, not run).
# Everything a test creates is named with its pid and removed by `cleanup`.

# make_netns NAME: a namespace with lo, eth0..eth3 (veth pairs whose peers stay inside),
# and a macvlan eth0.1 on eth0, all up.
make_netns() {
    local ns=$1 i
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    for i in 0 1 2 3; do
        ip -n "$ns" link add "eth$i" type veth peer name "veth${i}p"
        ip -n "$ns" link set "veth${i}p" up
        ip -n "$ns" link set "eth$i" up
    done
    ip -n "$ns" link add link eth0 name eth0.1 type macvlan mode bridge
    ip -n "$ns" link set eth0.1 up
}

# end_pids PID...: SIGTERM each, wait up to 5 s for it to go, then SIGKILL. Only pids the
# caller started.
end_pids() {
    local p
    for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "$@"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$p" 2>/dev/null || true
    done
}

# wait_for COUNT FILE PATTERN SECONDS: until FILE has at least COUNT lines matching the
# extended regex PATTERN; fails after SECONDS. Polls every 20 ms (there is no event to
# await on a log file short of inotify, which the machine may not have).
wait_for() {
    local want=$1 file=$2 pat=$3 secs=$4 n
    local deadline=$((SECONDS + secs))
    while :; do
        n=$(grep -cE -- "$pat" "$file" 2>/dev/null || true)
        ((n >= want)) && return 0
        ((SECONDS < deadline)) || {
            echo "timeout after ${secs}s waiting for $want x '$pat' in $file (have $n)" >&2
            return 1
        }
        sleep 0.02
    done
}

# status_field PID FIELD: the first word of FIELD in /proc/PID/status.
status_field() {
    awk -v k="$2:" '$1 == k { print $2; exit }' "/proc/$1/status"
}

# make_lab PREFIX: two hosts PREFIX-a (10.99.0.11/24) and PREFIX-b (10.99.0.12/24), each
# with eth0 on a bridge in PREFIX-br. Remove with `del_lab PREFIX`.
make_lab() {
    local p=$1 n
    ip netns add "$p-br"
    ip -n "$p-br" link add br0 type bridge
    ip -n "$p-br" link set br0 up
    for n in a b; do
        ip netns add "$p-$n"
        # No duplicate address detection: link-local addresses are usable at once.
        ip netns exec "$p-$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
        ip -n "$p-$n" link add eth0 type veth peer name "p$n" netns "$p-br"
        ip -n "$p-br" link set "p$n" master br0
        ip -n "$p-br" link set "p$n" up
        ip -n "$p-$n" link set lo up
        ip -n "$p-$n" link set eth0 up
    done
    ip -n "$p-a" addr add 10.99.0.11/24 dev eth0
    ip -n "$p-b" addr add 10.99.0.12/24 dev eth0
}

del_lab() {
    local n
    for n in a b br; do ip netns del "$1-$n" 2>/dev/null || true; done
}

# has GREP-ARGS...: `… | has PATTERN` instead of `… | grep -q PATTERN`. Under `pipefail`,
# grep -q exits at the first match and the writer (ip, say) may die of SIGPIPE, which
# fails the pipeline at random; has reads everything.
has() {
    grep "$@" >/dev/null
}

# wait_vip NS ADDR SECONDS [absent]: until ADDR is (or, with "absent", is not) on NS's eth0.
wait_vip() {
    local ns=$1 addr=$2 secs=$3 want=${4:-present}
    local deadline=$((SECONDS + secs))
    while :; do
        if ip -n "$ns" addr show dev eth0 | has -E "inet6? $addr/"; then
            [[ $want == present ]] && return 0
        else
            [[ $want == absent ]] && return 0
        fi
        ((SECONDS < deadline)) || return 1
        sleep 0.005
    done
}

# now_ms: milliseconds since the epoch.
now_ms() {
    date +%s%3N
}

# check NAME STATUS: one check, passed when STATUS is 0; counts in the caller's `passed` and
# `failed` (set them to 0 first) and prints `ok   NAME` or `FAIL NAME`.
# check NAME RESULT [FILE]: count and print one check; on failure show FILE's last lines
# (the daemon's log, say) so that a failure in CI can be read.
check() {
    if [[ $2 == 0 ]]; then
        passed=$((passed + 1)); echo "ok   $1"
    else
        failed=$((failed + 1)); echo "FAIL $1"
        if [[ -n ${3:-} && -f $3 ]]; then
            tail -n 25 "$3" | sed 's/^/     | /'
        fi
    fi
}

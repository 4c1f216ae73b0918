#!/usr/bin/env bash
# Benchmark (not a test): CPU and system calls per TCP_CHECK of our checker, natively, in a
# network namespace of its own. The host has no IPVS, so the parent answers the checker
# "unavailable" and only the checks run: this measures the checker, not IPVS (Debian's
# keepalived stops without IPVS, so the side-by-side figures come from tests/bench-ipvs.sh).
#
# Usage: sudo tests/bench-checker.sh [BINARY...]     (default: target/release/keepalived)
# Environment:
#   SIZE    NxM virtual x real servers, one TCP_CHECK each, delay_loop 5 (default 500x20)
#   STEADY  seconds sampled (default 20)
#   STRACE  1: also count the checker's system calls for STEADY s with strace -c (slows it)
#
# Real servers: every address of 10.99.128.0/17 is local in the namespace (AnyIP) and
# tests/ipvs/bench/acceptd accepts on port 80 of all of them; checks are counted by the
# namespace's TCP counters (PassiveOpens + AttemptFails, see accepted()).
# Prints per binary: checks completed per second, checker CPU per check (us, from
# /proc/PID/stat utime+stime), parent CPU per check, checker RSS; with STRACE=1 the system
# calls per check by name.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
SIZE=${SIZE:-500x20}
STEADY=${STEADY:-20}
STRACE=${STRACE:-0}
((EUID == 0)) || { echo "bench-checker: run as root (network namespace)" >&2; exit 2; }
BINS=("$@")
((${#BINS[@]})) || BINS=("$ROOT/target/release/keepalived")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-checker.XXXXXX")
NS=kabench-$$
ACCEPTD=""
cleanup() {
    [[ -n $ACCEPTD ]] && kill "$ACCEPTD" 2>/dev/null
    ip netns del "$NS" 2>/dev/null || true
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
cc -O2 -Wall -o "$WORK/acceptd" "$ROOT/tests/ipvs/bench/acceptd.c"
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" route add local 10.99.128.0/17 dev lo
ip netns exec "$NS" sh -c 'echo 65535 > /proc/sys/net/core/somaxconn; echo 65535 > /proc/sys/net/ipv4/tcp_max_syn_backlog'
ip netns exec "$NS" "$WORK/acceptd" "$WORK/accepted" 80 > "$WORK/acceptd.log" 2>&1 &
ACCEPTD=$!
for _ in $(seq 50); do grep -q listening "$WORK/acceptd.log" && break; sleep 0.1; done

n=${SIZE%x*} m=${SIZE#*x}
awk -v n="$n" -v m="$m" 'BEGIN {
    r = 0
    for (i = 0; i < n; i++) {
        printf "virtual_server 10.99.%d.%d 80 {\n delay_loop 5\n lb_algo wlc\n lb_kind NAT\n protocol TCP\n", 64 + int(i / 250), i % 250 + 1
        for (j = 0; j < m; j++) {
            printf " real_server 10.99.%d.%d 80 {\n  weight 1\n  TCP_CHECK {\n   connect_timeout 3\n  }\n }\n", 128 + int(r / 250), r % 250 + 1
            r++
        }
        print "}"
    }
}' > "$WORK/bench.conf"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
uticks() { awk '{print $14}' "/proc/$1/stat"; }
# Checks answered by the real servers, from the namespace's TCP counters: a check that
# completes the handshake is a passive open; one reset before its last ACK (ours) is a
# failed attempt on the real server's side. acceptd's own count would miss the second kind.
accepted() { ip netns exec "$NS" awk '$1 == "Tcp:" && $2 ~ /^[0-9]/ { print $7 + $8 }' /proc/net/snmp; }
hz=$(getconf CLK_TCK)
echo "# $SIZE: $((n * m)) TCP_CHECKs, delay_loop 5 ($((n * m / 5)) checks/s asked), $STEADY s sampled, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-40s %10s %12s %12s %12s %10s\n' binary checks/s "checker us" "(user us)" "parent us" "RSS kB"
for bin in "${BINS[@]}"; do
    ip netns exec "$NS" "$bin" --dont-fork --log-console --no-syslog --check -f "$WORK/bench.conf" \
        -p "$WORK/pid" -c "$WORK/cpid" -r "$WORK/vpid" > "$WORK/daemon.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do [[ -s $WORK/cpid ]] && break; sleep 0.1; done
    checker=$(cat "$WORK/cpid")
    sleep 8   # the first round is spread over warmup = delay_loop
    c0=$(ticks "$checker") u0=$(uticks "$checker") p0=$(ticks "$pid") a0=$(accepted) t0=$(date +%s%N)
    sleep "$STEADY"
    c1=$(ticks "$checker") u1=$(uticks "$checker") p1=$(ticks "$pid") a1=$(accepted) t1=$(date +%s%N)
    checks=$((a1 - a0)) el_ms=$(( (t1 - t0) / 1000000 ))
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$checker/status")
    printf '%-40s %10d %12d %12d %12d %10d\n' "${bin#"$ROOT"/}" $((checks * 1000 / el_ms)) \
        $(( (c1 - c0) * 1000000 / hz / (checks + 1) )) $(( (u1 - u0) * 1000000 / hz / (checks + 1) )) \
        $(( (p1 - p0) * 1000000 / hz / (checks + 1) )) "$rss"
    if [[ $STRACE = 1 ]]; then
        a0=$(accepted)
        timeout -s INT "$STEADY" strace -c -f -p "$checker" -o "$WORK/strace.txt" 2>/dev/null || true
        a1=$(accepted)
        sc=$((a1 - a0 + 1))
        awk -v c="$sc" '$1 ~ /^[0-9.]+$/ && $NF != "total" { n[$NF] = $4; all += $4 }
            END { for (k in n) printf "    %-16s %6.2f per check\n", k, n[k] / c
                  printf "    %-16s %6.2f per check (%d checks under strace)\n", "(all)", all / c, c }' \
            "$WORK/strace.txt" | sort -k2 -rn
    fi
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    rm -f "$WORK/pid" "$WORK/cpid" "$WORK/vpid"
    echo "    failed lines in the log: $(grep -c failed "$WORK/daemon.log" || true)"
done

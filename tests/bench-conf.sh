#!/usr/bin/env bash
# Benchmark (not a test): time and peak memory of `keepalived -t` on a large
# generated configuration, Debian's keepalived 2.2.7 versus keepalived-rs.
#
# Usage: sudo tests/bench-conf.sh [OUR_BINARY]
#   OUR_BINARY  our keepalived (default: target/release/keepalived in the repo);
#               if it does not exist only Debian's keepalived is measured.
# Environment:
#   RUNS            timed runs per binary (default: 5)
#   REF_KEEPALIVED  reference binary (default: /usr/sbin/keepalived)
#   KEEP_CONF       if set, copy the generated config to this path
#   BENCH_CONF      if set, measure this config instead of generating one
#
# The generated keepalived.conf (about 85,000 lines) has a global_defs block,
# 500 vrrp_instance blocks (250 on eth0 and 250 on eth1, VRIDs 1..250 on each,
# so there is no VRID clash) with 2 virtual addresses each, and 1,000
# virtual_server blocks with 10 real_servers using TCP_CHECK each. All
# addresses are in 10.99.0.0/16. Each binary runs once untimed (warm-up, and
# its messages are shown if it does not exit 0), then RUNS times under
# /usr/bin/time inside a private network namespace that has eth0 and eth1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
THEIRS=${REF_KEEPALIVED:-/usr/sbin/keepalived}
RUNS=${RUNS:-5}
NS="kabench-$$"

die() {
    echo "bench-conf: error: $*" >&2
    exit 2
}

# --- arguments and prerequisites -------------------------------------------

(($# <= 1)) || die "usage: $0 [OUR_BINARY]"
OURS=${1:-$ROOT/target/release/keepalived}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$RUNS'"
[[ -x $THEIRS ]] || die "reference keepalived '$THEIRS' not found (apt-get install keepalived)"
((EUID == 0)) || die "must run as root (it creates a network namespace)"
command -v ip >/dev/null || die "'ip' not found (apt-get install iproute2)"
if [[ ! -x /usr/bin/time ]]; then
    echo "bench-conf: installing GNU time (/usr/bin/time)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null ||
        die "could not install the 'time' package"
fi

BINARIES=("$THEIRS")
if [[ -f $OURS && -x $OURS ]]; then
    OURS=$(realpath -- "$OURS")
    BINARIES+=("$OURS")
else
    echo "bench-conf: our binary '$OURS' does not exist; measuring only $THEIRS"
    echo "            (build it with: cargo build --release -p keepalived)"
fi

# --- temporary files and network namespace, removed on any exit ------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-conf.XXXXXX")
cleanup() {
    ip netns del "$NS" 2>/dev/null || true
    rm -rf --one-file-system -- "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Namespace with lo, eth0 and eth1 (veth, both ends inside, peers vethNp), up.
ip netns add "$NS"
ip -n "$NS" link set lo up
for i in 0 1; do
    ip -n "$NS" link add "eth$i" type veth peer name "veth${i}p"
    ip -n "$NS" link set "veth${i}p" up
    ip -n "$NS" link set "eth$i" up
done

# --- generate the configuration ---------------------------------------------

# addr VAR BASE INDEX: set VAR to the INDEXth address of a block of /24s
# starting at 10.99.BASE.0, using host numbers 1..250 of each /24. (Sets a
# variable rather than printing, to avoid a subshell per address.)
addr() {
    printf -v "$1" '10.99.%d.%d' $(($2 + $3 / 250)) $(($3 % 250 + 1))
}

# Address plan: VRRP virtual addresses 10.99.1-4.x (1,000), virtual servers
# 10.99.10-13.x (1,000), real servers 10.99.20-59.x (10,000).
generate() {
    local i v r a b
    printf 'global_defs {\n    router_id bench\n}\n'
    for ((i = 0; i < 500; i++)); do
        printf '\nvrrp_instance VI_%d {\n' "$((i + 1))"
        printf '    state BACKUP\n'
        printf '    interface eth%d\n' "$((i / 250))"
        printf '    virtual_router_id %d\n' "$((i % 250 + 1))"
        printf '    priority 100\n'
        printf '    advert_int 1\n'
        printf '    authentication {\n        auth_type PASS\n        auth_pass bench\n    }\n'
        addr a 1 $((2 * i))
        addr b 1 $((2 * i + 1))
        printf '    virtual_ipaddress {\n        %s\n        %s\n    }\n}\n' "$a" "$b"
    done
    for ((v = 0; v < 1000; v++)); do
        addr a 10 "$v"
        printf '\nvirtual_server %s 80 {\n' "$a"
        printf '    delay_loop 6\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n'
        for ((r = 0; r < 10; r++)); do
            addr a 20 $((10 * v + r))
            printf '    real_server %s 8080 {\n' "$a"
            printf '        weight 1\n'
            printf '        TCP_CHECK {\n'
            printf '            connect_timeout 3\n            connect_port 8080\n'
            printf '        }\n    }\n'
        done
        printf '}\n'
    done
}

CONF="$TMP/keepalived.conf"
if [[ -n ${BENCH_CONF:-} ]]; then
    [[ -f $BENCH_CONF ]] || die "BENCH_CONF '$BENCH_CONF' not found"
    cp -- "$BENCH_CONF" "$CONF"
    echo "using $BENCH_CONF: $(wc -l <"$CONF") lines, $(wc -c <"$CONF") bytes"
else
    generate >"$CONF"
    echo "generated $CONF: $(wc -l <"$CONF") lines, $(wc -c <"$CONF") bytes"
fi
if [[ -n ${KEEP_CONF:-} ]]; then
    cp -- "$CONF" "$KEEP_CONF"
    echo "copied to $KEEP_CONF"
fi

# --- measure ----------------------------------------------------------------

# Warm-up run (untimed): fills the page cache and shows what the binary says
# about the config if it does not accept it cleanly.
warm_up() {
    local rc=0
    ip netns exec "$NS" "$1" -t -f "$CONF" >"$TMP/out" 2>&1 </dev/null || rc=$?
    if ((rc != 0)); then
        echo "note: $1 -t exited $rc on the generated config; its first messages:"
        head -n 20 "$TMP/out" | sed 's/^/    /'
    fi
}

# measure BINARY: RUNS timed runs; prints one table row.
measure() {
    local bin=$1 n rc secs kb
    local -a times=() rss=() codes=()
    for ((n = 0; n < RUNS; n++)); do
        rc=0
        ip netns exec "$NS" /usr/bin/time -f '%e %M' -o "$TMP/time" \
            "$bin" -t -f "$CONF" >"$TMP/out" 2>&1 </dev/null || rc=$?
        # GNU time writes "Command exited with non-zero status N" first when
        # the command fails; the measurements are on the last line.
        read -r secs kb < <(tail -n 1 "$TMP/time")
        times+=("$secs")
        rss+=("$kb")
        codes+=("$rc")
    done
    # median/min/max seconds, median/max RSS in MB, distinct exit codes
    local t_stats m_stats exits
    t_stats=$(printf '%s\n' "${times[@]}" | sort -g |
        awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.2f %.2f %.2f", m, v[1], v[NR] }')
    m_stats=$(printf '%s\n' "${rss[@]}" | sort -g |
        awk '{ v[NR] = $1 / 1024 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.1f %.1f", m, v[NR] }')
    exits=$(printf '%s\n' "${codes[@]}" | sort -un | paste -sd, -)
    # shellcheck disable=SC2059,SC2086 # constant format; split stats into columns
    printf "$FMT" "$bin" "$RUNS" $t_stats $m_stats "$exits"
}

for bin in "${BINARIES[@]}"; do
    warm_up "$bin"
done

echo
FMT='%-40s %4s %9s %7s %7s %10s %7s %5s\n'
# shellcheck disable=SC2059 # FMT is a constant format string
printf "$FMT" BINARY RUNS MEDIAN_S MIN_S MAX_S MEDIAN_MB MAX_MB EXIT
for bin in "${BINARIES[@]}"; do
    measure "$bin"
done

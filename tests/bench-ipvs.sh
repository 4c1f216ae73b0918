#!/usr/bin/env bash
# Benchmark (not a test): the checker and IPVS at scale, ours and Debian's keepalived 2.2.7
# side by side in one qemu VM run (tests/ipvs/vm.sh: Debian's cloud kernel under TCG).
#
# Usage: sudo tests/bench-ipvs.sh [OUR_BINARY]
#   OUR_BINARY  default: target/release/keepalived (built if missing)
# Environment:
#   CONFIGS  space-separated NxM (virtual x real servers), default "100x10 500x20"
#   RUNS     runs per daemon and configuration (default 3)
#   STEADY   seconds of steady state sampled per run (default 20)
#   BASELINE another build of ours (e.g. before a change) run in turn with the two in the
#            same VM, printed as a third column: the host's load moves every column alike
#
# Each run starts in a network namespace of its own (an empty IPVS table and dest trash).
# A first round on the largest configuration, one start of each daemon, is not counted: the
# VM's first start pays for translating the kernel's IPVS code.
# Per run: the daemon's exec -> every real server in the kernel (ms, tests/ipvs/bench/progtime.c); then, after one delay_loop, STEADY s:
# checks completed per second (counted by the real servers' TCP counters), CPU
# per completed check (parent + checker, us, emulated CPU), CPU (% of one vCPU), RSS of all
# the daemon's processes; SIGTERM -> process gone and IPVS empty (ms); the whole VM's busy
# time per check (every process and softirq: the director's and the real servers' kernel
# work for a check, which veth runs inline and /proc charges to whichever process sent the
# packet). Printed as median [min-max] over the runs. TCG is 15-35x slower than the host
# and shared with whatever else runs (a loaded host slows keepalived more than ours and
# flatters our ratios): compare the columns of one quiet run, not absolute figures.
# Also printed: the floor under any start, fork + exec + exit of each binary with --version
# (tests/ipvs/bench/exectime.c, 20 times), and where our start-up time went per run (exec ->
# main, the parse, the kernel's adds) from our KEEPALIVED_RS_TIMING marks.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
OURS=${1:-$ROOT/target/release/keepalived}
CONFIGS=${CONFIGS:-"100x10 500x20"}
RUNS=${RUNS:-3}
STEADY=${STEADY:-20}
((EUID == 0)) || { echo "bench-ipvs: run as root (qemu, apt-get download)" >&2; exit 2; }
if [[ ! -x $OURS ]]; then
    (cd "$ROOT" && cargo build --release -p keepalived)
fi
command -v cc >/dev/null || { echo "bench-ipvs: needs a C compiler with static libc (build-essential)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-ipvs.XXXXXX")
trap 'rm -rf --one-file-system "$WORK"' EXIT
mkdir -p "$WORK/payload" "$WORK/out"
cp "$ROOT/tests/ipvs/bench/run.sh" "$WORK/payload/"
cc -O2 -Wall -static -o "$WORK/payload/acceptd" "$ROOT/tests/ipvs/bench/acceptd.c"
cc -O2 -Wall -static -o "$WORK/payload/progtime" "$ROOT/tests/ipvs/bench/progtime.c"
cc -O2 -Wall -static -o "$WORK/payload/exectime" "$ROOT/tests/ipvs/bench/exectime.c"
if [[ -n ${BASELINE:-} ]]; then
    cp "$BASELINE" "$WORK/payload/keepalived-baseline"
fi

bash "$ROOT/tests/ipvs/vm.sh" --smp 2 --mem 2048 --timeout 3600 --bin "$OURS" \
    --out "$WORK/out" "$WORK/payload" "$CONFIGS" "$RUNS" "$STEADY" >"$WORK/console.log" 2>&1 || {
    tail -30 "$WORK/console.log"
    echo "bench-ipvs: the VM run failed" >&2
    exit 1
}
grep '^#' "$WORK/out/bench.txt" || true
# The uncounted warm-up round (tests/ipvs/bench/run.sh), for the record.
awk '$1 == "WARMUP" { printf "warm-up, not counted: %s %s start -> all in IPVS %s ms\n", $2, $3, $4 }' "$WORK/out/bench.txt"
# The floor: what starting and ending each binary costs in this VM, before any configuration.
awk '$1 == "EXEC" { printf "fork + exec + exit of %s --version: %s ms median [%s-%s] of 20\n", $2, $4, $3, $5 }' "$WORK/out/bench.txt"
# Where our start-up time went, per counted run (KEEPALIVED_RS_TIMING marks).
awk '$1 == "BREAKDOWN" && $2 == "RESULT" { printf "keepalived-rs %s start: exec -> main %s ms, parse %s ms, kernel adds %s ms\n", $4, $5, $6, $7 }' "$WORK/out/bench.txt"
# RESULT who config programmed_ms checks/s cpu_us/check cpu% rss_kb stop_ms vs_left vm_us/check
awk '
function stat(key,    n, i, j, t, v, out) {
    n = split(vals[key], v, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    if (n == 0) return "-"
    out = v[int((n + 1) / 2)]
    if (n > 1) out = out " [" v[1] "-" v[n] "]"
    return out
}
$1 == "RESULT" {
    who = $2; c = $3; seen[c] = 1; if (who == "baseline") base = 1
    for (f = 4; f <= 11; f++) vals[c SUBSEP who SUBSEP f] = vals[c SUBSEP who SUBSEP f] " " $f
}
END {
    split("start -> all real servers in IPVS (ms)|checks completed per second|CPU per completed check (us)|CPU (% of one vCPU)|RSS of all processes (kB)|SIGTERM -> gone, IPVS empty (ms)|services left after stop|whole VM busy per check (us)", name, "|")
    for (c in seen) {
        printf "\n%s\n%-42s %-26s %-26s%s\n", c, "", "keepalived-rs", "keepalived 2.2.7", base ? " baseline (ours)" : ""
        for (f = 4; f <= 11; f++)
            printf "%-42s %-26s %-26s %s\n", name[f - 3], stat(c SUBSEP "ours" SUBSEP f), stat(c SUBSEP "keepalived" SUBSEP f), base ? stat(c SUBSEP "baseline" SUBSEP f) : ""
    }
}' "$WORK/out/bench.txt"

#!/usr/bin/env bash
# Regenerates parent/hot-functions.txt: the functions a running daemon executes once it has
# loaded its configuration, which parent/build.rs hands to lld as --symbol-ordering-file so
# they sit together at the start of .text. A process maps its code in 64 KiB runs (the
# kernel's fault-around), so with the steady-state code spread over the 3.9 MB of .text a
# VRRP child kept ~1 MB of it resident, the parent ~1.3 MB; laid out together, ~400 kB and
# ~330 kB. Not a test: a maintainer's tool (needs perf, from Debian's linux-perf).
#
# Each round builds the release binary, runs the VRRP bench's scale part (1000 instances,
# master and backup, advert 1 s and 0.1 s) under system-wide perf, takes every function of
# our binary that faulted a page in or was sampled on a CPU after its thread's last
# madvise (ipc::mem::trim, the end of a load), and appends the ones not listed yet. A
# function first run after being laid out hot can reveal the next (it no longer shares a
# 64 KiB run with a hot one), so rounds go on until one finds nothing new.
# Symbol names carry hashes that change with the crate's metadata (dependencies, version):
# a stale line is skipped by the linker (--no-warn-symbol-ordering) and only costs memory.
#
# Usage: sudo tests/hot-functions.sh [MAX_ROUNDS]   (default 6)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
LIST=$ROOT/parent/hot-functions.txt
BIN=$ROOT/target/release/keepalived
((EUID == 0)) || { echo "hot-functions: run as root (perf -a, network namespaces)" >&2; exit 2; }
command -v perf >/dev/null || { echo "hot-functions: needs perf (apt-get install linux-perf)" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hot-functions.XXXXXX")
trap 'rm -rf --one-file-system "$WORK"' EXIT
touch "$LIST"

for ((round = 1; round <= ${1:-6}; round++)); do
    (cd "$ROOT" && cargo build --release -p keepalived)
    SKIP_FAILOVER=1 SIZES=1000 ADVERTS="1 0.1" WINDOW=15 ONLY_OURS=1 \
        perf record -q -a -e syscalls:sys_enter_madvise -e minor-faults/period=1/ \
        -e cpu-clock/freq=1000/ -o "$WORK/perf.data" -- \
        bash "$ROOT/tests/bench-vrrp.sh" "$BIN" >"$WORK/bench.txt" 2>&1
    perf script --no-demangle -i "$WORK/perf.data" -F tid,time,event,ip,sym,dso 2>/dev/null |
        python3 -c '
import sys, collections
bin = "(" + sys.argv[1] + ")"
rows = [l.split() for l in sys.stdin]
last = {}
for r in rows:
    if any("madvise" in x for x in r):
        last[r[0]] = float(r[1].rstrip(":"))
seen = collections.Counter()
for r in rows:
    if r[0] in last and float(r[1].rstrip(":")) > last[r[0]] and r[-1] == bin and r[-2] != "[unknown]":
        seen[r[-2]] += 1
for name, _ in seen.most_common():
    print(name)
' "$BIN" >"$WORK/round.txt"
    grep -vxF -f "$LIST" "$WORK/round.txt" >"$WORK/new.txt" || true
    new=$(wc -l <"$WORK/new.txt")
    cat "$WORK/new.txt" >>"$LIST"
    echo "round $round: $(wc -l <"$WORK/round.txt") functions ran, $new new, $(wc -l <"$LIST") listed"
    grep '^| 1000' "$WORK/bench.txt" || true
    ((new > 0)) || break
done
(cd "$ROOT" && cargo build --release -p keepalived)

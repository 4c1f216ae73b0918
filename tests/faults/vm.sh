#!/usr/bin/env bash
# tests/faults/vm.sh - the VM part of tests/faults.sh: our daemon (VRRP + checker + IPVS)
# against Debian's keepalived as VRRP peer, in one qemu VM with Debian's cloud kernel
# (tests/ipvs/vm.sh boots it; tests/ipvs/guest/lib.sh has the guest helpers).
#
# Usage: tests/faults/vm.sh [--out DIR] BINARY CHECKER_KILLS RELOADS
#
# Prints the guest's "ok - ..." / "not ok - ..." lines, "ROW ..." summary rows and
# "faults-vm-guest: N passed, M failed"; exit status non-zero on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=""
[[ ${1:-} == --out ]] && { OUT=$2; shift 2; }
[[ $# -eq 3 ]] || { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2; }
BIN=$(readlink -f "$1")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/faults-vm.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
P=$WORK/payload
mkdir -p "$P/bin"
cp "$ROOT/tests/faults/vm/run.sh" "$P/"
${CC:-cc} -O2 -Wall -static -o "$P/bin/rsd" "$ROOT/tests/ipvs/guest/rsd.c"
echo tcpdump >"$P/host-bins"
# Adverts at 1 s, CHECKER_KILLS kills ~0.5 s apart, RELOADS of ~2 s each, in TCG.
"$ROOT/tests/ipvs/vm.sh" --bin "$BIN" --timeout $((300 + $2 + 8 * $3)) --log "$WORK/console.log" \
    ${OUT:+--out "$OUT"} "$P" "$2" "$3" >"$WORK/vm.out" 2>&1 || tail -n 20 "$WORK/vm.out" >&2
grep -aE '^(ok|not ok) - |^# |^ROW |^faults-vm-guest: ' "$WORK/console.log" || true
grep -aq '^faults-vm-guest: [0-9]* passed, 0 failed' "$WORK/console.log"

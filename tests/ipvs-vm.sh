#!/usr/bin/env bash
# tests/ipvs-vm.sh - our daemon against Debian's keepalived on real IPVS, in one qemu VM.
#
# Usage: tests/ipvs-vm.sh [--quick] [--break-ours] [--out DIR] [--phases "P..."] [--vm-opt OPT]... BINARY [SCENARIO...]
#
#   BINARY       our keepalived (e.g. target/debug/keepalived); /usr/sbin/keepalived
#                makes "ours" Debian's keepalived too: a self-test of the harness
#   SCENARIO     names from tests/ipvs/configs/ (NAME.conf, without .conf);
#                default: all of them (--quick: the three seed-style ones and
#                file-check, http-regex, ha-suspend)
#   --quick      those scenarios, one round of each failure case, one 10,000-RS
#                stop (CI); the default is the full set
#   --break-ours self-test of the harness: ours gets each scenario's config with one
#                weight changed, so every scenario comparison must fail
#   --out DIR    keep what the guest returns (tables, daemon logs, timing) in DIR
#   --phases P   the phases after the scenarios, of "timing restart stop10k bfd"
#                (default all; "" for none)
#   --vm-opt OPT pass OPT to tests/ipvs/vm.sh (repeatable; e.g. --vm-opt --keep)
#
# Needs no root on the host (qemu runs unprivileged; everything privileged
# happens in the guest), but the tools of tests/ipvs/vm.sh, a C compiler with
# static libc (the rsd real-server helper) and openssl (a TLS certificate for
# the SSL_GET scenarios). A full run takes ~8-9 min, --quick ~3 min.
#
# Inside the VM (tests/ipvs/payload/run.sh): sites "ka" and "ours" with the same
# addresses; for each scenario both daemons run the same config, settle, and
# `ipvsadm -Sn | sort` of ours must equal keepalived's (and keepalived's must
# equal NAME.expect where there is one); then failure times (timing.conf),
# restart over a populated table and reload (ours), and stops with 10,000 real
# servers (ours). One "ok - ..." / "not ok - ..." line per check, then
# "ipvs-vm: N passed, M failed"; the exit status is non-zero on any failure.

set -euo pipefail
{ # read the whole script before running it: editing it during a run is harmless
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T=$ROOT/tests/ipvs

QUICK=0 BREAK="" OUT="" PHASES="timing restart stop10k bfd" VMOPTS=()
usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) QUICK=1; shift ;;
        --break-ours) BREAK=,break; shift ;;
        --out) OUT=$2; shift 2 ;;
        --phases) PHASES=$2; shift 2 ;;
        --vm-opt) VMOPTS+=("$2"); shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "ipvs-vm: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[[ $# -ge 1 ]] || { usage >&2; exit 2; }
BIN=$(readlink -f "$1"); shift
[[ -x $BIN ]] || { echo "ipvs-vm: $BIN is not an executable" >&2; exit 2; }
SCENARIOS=("$@")
if [[ ${#SCENARIOS[@]} -eq 0 ]]; then
    if [[ $QUICK = 1 ]]; then
        SCENARIOS=(seed-nat-rr-tcp seed-dr-wrr-persist seed-http-digest file-check http-regex ha-suspend)
    else
        for f in "$T/configs/"*.conf; do
            f=${f##*/}
            # the phases' own configs
            [[ $f = timing.conf || $f = restart.conf || $f = bfd.conf || $f = bfd-peer.conf ]] && continue
            SCENARIOS+=("${f%.conf}")
        done
    fi
fi
for s in "${SCENARIOS[@]}"; do
    [[ -f $T/configs/$s.conf ]] || { echo "ipvs-vm: no scenario $s (tests/ipvs/configs/$s.conf)" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ipvs-vm-payload.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
P=$WORK/payload
mkdir -p "$P/bin" "$P/configs" "$P/tls"
cp "$T/payload/run.sh" "$P/"
cp "$T/payload/bin/"*.sh "$P/bin/"
cp -a "$T/www" "$P/www"
${CC:-cc} -O2 -Wall -static -o "$P/bin/rsd" "$T/guest/rsd.c"
if command -v openssl >/dev/null; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=rs.ipvs-vm \
        -keyout "$P/tls/key.pem" -out "$P/tls/cert.pem" 2>/dev/null
else
    echo "ipvs-vm: no openssl on the host: the SSL_GET scenarios will have no TLS server" >&2
fi
# @MD5:path@ in a config: the digest of tests/ipvs/www/path, i.e. the exact body
# busybox httpd (or openssl s_server -WWW) sends
for f in "$T/configs/"*.conf "$T/configs/"*.expect; do
    [[ -f $f ]] || continue
    cp "$f" "$P/configs/"
done
while read -r ref; do
    sum=$(md5sum < "$T/www/$ref" | cut -d' ' -f1)
    sed -i "s|@MD5:$ref@|$sum|g" "$P/configs/"*.conf
done < <(grep -oh '@MD5:[^@]*@' "$T/configs/"*.conf | sort -u | sed 's/^@MD5:\(.*\)@$/\1/')

MODE=full; [[ $QUICK = 1 ]] && MODE=quick
LOG=$WORK/console.log
echo "ipvs-vm: $BIN; ${#SCENARIOS[@]} scenario(s); phases: ${PHASES:-none}; mode $MODE"
T0=$SECONDS
set +e
# shellcheck disable=SC2086  # (PHASES is a word list)
"$T/vm.sh" --bin "$BIN" --timeout 1500 --log "$LOG" ${OUT:+--out "$OUT"} "${VMOPTS[@]+"${VMOPTS[@]}"}" \
    "$P" "$MODE$BREAK" "${SCENARIOS[@]}" -- ${PHASES:-none}
rc=$?
set -e
pass=$(grep -ac '^ok - ' "$LOG" || true)
fail=$(grep -ac '^not ok - ' "$LOG" || true)
if ! grep -aq '^ipvs-vm-guest: [0-9]* passed' "$LOG"; then
    echo "not ok - the VM run did not finish (vm.sh exit $rc)"
    fail=$((fail + 1))
elif [[ $rc != 0 && $fail = 0 ]]; then
    echo "not ok - the payload exited $rc without a failed check"
    fail=$((fail + 1))
fi
echo "# wall time $((SECONDS - T0)) s"
echo "ipvs-vm: $pass passed, $fail failed"
[[ $fail = 0 ]]
}

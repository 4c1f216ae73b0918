#!/usr/bin/env bash
# Config-parser conformance test: run `keepalived -t` of keepalived-rs and of
# Debian's keepalived 2.2.7 on every sample in conf/tests/corpus/ and compare
# (a) the exit codes and (b) the sets of diagnostics (line + message).
#
# Usage: sudo tests/conf-corpus.sh [OUR_BINARY]
#   OUR_BINARY  our keepalived (default: target/debug/keepalived in the repo)
# Environment:
#   REF_KEEPALIVED  reference binary (default: /usr/sbin/keepalived)
#   RUN_TIMEOUT     seconds before one `-t` run is killed (default: 60)
#
# Both binaries run inside a private network namespace that has eth0..eth3
# (veth) and eth0.1 (macvlan on eth0), so interface lookups in the samples give
# the same answers on every machine. Both get the same absolute config path and
# `-i corpus`, so the hostname cannot influence `@id` conditional lines.
#
# Our diagnostics may carry a column, `(/path: Line 13, col 5) msg`; the
# `, col N` is deleted before comparing. Accepted differences are listed in
# tests/conf-corpus.known (format described in that file).
#
# Prints one table row per sample (same / known-diff / DIFF), the unexpected
# lines of each DIFF, and finally `conf-corpus: N passed, M failed`.
# Exit status: 0 all passed, 1 some sample failed, 2 usage/setup error.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
CORPUS_DIR="$ROOT/conf/tests/corpus"
KNOWN_FILE="$ROOT/tests/conf-corpus.known"
THEIRS=${REF_KEEPALIVED:-/usr/sbin/keepalived}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
NS="kacorpus-$$"
TAB=$'\t'

die() {
    echo "conf-corpus: error: $*" >&2
    exit 2
}

# --- arguments and prerequisites -------------------------------------------

(($# <= 1)) || die "usage: $0 [OUR_BINARY]"
if (($# == 1)); then
    OURS=$1 # relative to the caller's directory, as usual for arguments
else
    OURS="$ROOT/target/debug/keepalived"
fi
if [[ $OURS != */* ]]; then
    # A bare name: look it up in PATH.
    OURS=$(command -v -- "$OURS") || die "our binary '$1' is not in PATH"
fi
[[ -e $OURS ]] || die "our binary '$OURS' does not exist (build it with: cargo build -p keepalived)"
[[ -f $OURS && -x $OURS ]] || die "our binary '$OURS' is not an executable file"
OURS=$(realpath -- "$OURS")
[[ -x $THEIRS ]] || die "reference keepalived '$THEIRS' not found (apt-get install keepalived)"
((EUID == 0)) || die "must run as root (it creates a network namespace)"
command -v ip >/dev/null || die "'ip' not found (apt-get install iproute2)"

shopt -s nullglob
SAMPLES=("$CORPUS_DIR"/keepalived.conf.*)
shopt -u nullglob
((${#SAMPLES[@]} > 0)) || die "no samples found in $CORPUS_DIR"

# --- temporary files and network namespace, removed on any exit ------------

# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/conf-corpus.XXXXXX")
cleanup() {
    ip netns del "$NS" 2>/dev/null || true
    rm -rf --one-file-system -- "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Namespace with lo, eth0..eth3 and a macvlan eth0.1 on eth0, all up.
make_netns "$NS"

# --- accepted differences ---------------------------------------------------

# KNOWN["sample<TAB>kind<TAB>text"] is set for each entry of the known file;
# KNOWN_USED records which entries matched, to report stale ones at the end.
declare -A KNOWN=() KNOWN_USED=()
if [[ -f $KNOWN_FILE ]]; then
    lineno=0
    while IFS= read -r line || [[ -n $line ]]; do
        lineno=$((lineno + 1))
        [[ $line =~ ^[[:space:]]*$ || $line == '#'* ]] && continue
        where="${KNOWN_FILE#"$ROOT"/}:$lineno"
        tabs=${line//[^$TAB]/}
        ((${#tabs} >= 3)) || die "$where: expected SAMPLE<TAB>KIND<TAB>TEXT<TAB>REASON"
        sample=${line%%"$TAB"*}
        rest=${line#*"$TAB"}
        kind=${rest%%"$TAB"*}
        rest=${rest#*"$TAB"}
        text=${rest%"$TAB"*} # TEXT ends at the last tab, REASON follows it
        reason=${rest##*"$TAB"}
        case $kind in
        exit) [[ $text =~ ^[0-9]+-\>[0-9]+$ ]] || die "$where: exit TEXT must look like 5->0" ;;
        only-theirs | only-ours) ;;
        *) die "$where: KIND must be exit, only-theirs or only-ours, not '$kind'" ;;
        esac
        [[ -f $CORPUS_DIR/$sample ]] || die "$where: no sample '$sample' in the corpus"
        [[ -n ${reason//[[:space:]]/} ]] || die "$where: REASON is empty"
        KNOWN["$sample$TAB$kind$TAB$text"]=1
    done <"$KNOWN_FILE"
fi

# --- helpers ----------------------------------------------------------------

# run_check BINARY CONF OUTFILE: run `BINARY -t` in the namespace, output to
# OUTFILE, and print the exit code.
run_check() {
    local rc=0
    ip netns exec "$NS" timeout -k 5 "$RUN_TIMEOUT" "$1" -t -f "$2" -i corpus \
        >"$3" 2>&1 </dev/null || rc=$?
    echo "$rc"
}

# normalise FILE STRIP_COL: print the set of FILE's diagnostics (sorted, each
# once), with the corpus directory replaced by @CORPUS@ and, if STRIP_COL is 1,
# `, col N` removed from the leading `(file: Line N, col N)` and our `note:`
# lines (extra hints keepalived does not print) dropped.
# keepalived -t parses the file once per process (parent, VRRP, checker, BFD)
# and prints a message once per pass that sees it, the parent pass as
# `(Line N) msg` and the others as `(FILE: Line N) msg`; we read the file once.
# So both sides become `(Line N) msg` (every sample is a single file) and the
# comparison is of sets.
COL_RE='^(\([^)]*: Line [0-9]+), col [0-9]+\)(.*)$'
FILE_RE='^\([^)]*: (Line [0-9]+)\)(.*)$'
normalise() {
    local line
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line//"$CORPUS_DIR"/@CORPUS@}
        if [[ $2 == 1 ]]; then
            [[ $line == *"note: "* ]] && continue
            if [[ $line =~ $COL_RE ]]; then
                line="${BASH_REMATCH[1]})${BASH_REMATCH[2]}"
            fi
        fi
        if [[ $line =~ $FILE_RE ]]; then
            line="(${BASH_REMATCH[1]})${BASH_REMATCH[2]}"
        fi
        printf '%s\n' "$line"
    done <"$1" | LC_ALL=C sort -u
}

# is_known SAMPLE KIND TEXT: true (and marks the entry used) if accepted.
is_known() {
    local key="$1$TAB$2$TAB$3"
    [[ -n ${KNOWN[$key]:-} ]] || return 1
    KNOWN_USED[$key]=1
}

# --- compare every sample ---------------------------------------------------

echo "reference: $THEIRS"
echo "ours:      $OURS"
echo "corpus:    $CORPUS_DIR (${#SAMPLES[@]} samples)"
echo
FMT='%-40s %-10s %-5s %s\n'
# shellcheck disable=SC2059 # FMT is a constant format string
printf "$FMT" SAMPLE KEEPALIVED OURS RESULT
DETAILS="$TMP/details"
: >"$DETAILS"
passed=0 failed=0

for conf in "${SAMPLES[@]}"; do
    name=${conf##*/}
    rc_theirs=$(run_check "$THEIRS" "$conf" "$TMP/theirs.out")
    rc_ours=$(run_check "$OURS" "$conf" "$TMP/ours.out")
    normalise "$TMP/theirs.out" 0 >"$TMP/theirs.sorted"
    normalise "$TMP/ours.out" 1 >"$TMP/ours.sorted"

    differs=0 # any difference, accepted or not
    bad=()    # unexpected differences, in diff -u notation
    if [[ $rc_theirs != "$rc_ours" ]]; then
        differs=1
        is_known "$name" exit "$rc_theirs->$rc_ours" ||
            bad+=("@@ exit code: keepalived $rc_theirs, ours $rc_ours @@")
    fi
    while IFS= read -r line; do
        differs=1
        is_known "$name" only-theirs "$line" || bad+=("-$line")
    done < <(LC_ALL=C comm -23 "$TMP/theirs.sorted" "$TMP/ours.sorted")
    while IFS= read -r line; do
        differs=1
        is_known "$name" only-ours "$line" || bad+=("+$line")
    done < <(LC_ALL=C comm -13 "$TMP/theirs.sorted" "$TMP/ours.sorted")

    if ((${#bad[@]} > 0)); then
        result=DIFF
        failed=$((failed + 1))
        {
            echo "=== $name: unexpected differences (output lines sorted, @CORPUS@ = $CORPUS_DIR)"
            echo "--- $THEIRS -t (exit $rc_theirs)"
            echo "+++ $OURS -t (exit $rc_ours)"
            printf '%s\n' "${bad[@]}"
            echo
        } >>"$DETAILS"
    elif ((differs)); then
        result=known-diff
        passed=$((passed + 1))
    else
        result=same
        passed=$((passed + 1))
    fi
    # shellcheck disable=SC2059
    printf "$FMT" "$name" "$rc_theirs" "$rc_ours" "$result"
done

echo
cat "$DETAILS"

# Entries of the known file that no longer match anything: warn only.
for key in "${!KNOWN[@]}"; do
    [[ -n ${KNOWN_USED[$key]:-} ]] ||
        echo "warning: stale entry in ${KNOWN_FILE#"$ROOT"/} (difference no longer seen): ${key//"$TAB"/ | }"
done

echo "conf-corpus: $passed passed, $failed failed"
((failed == 0)) || exit 1

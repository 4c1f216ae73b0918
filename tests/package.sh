#!/usr/bin/env bash
# The Debian package (issue 7), as a user meets it:
#   1. build the .deb with cargo-deb (installs lintian, debootstrap and cargo-deb if missing)
#   2. lintian: no error (E:) allowed
#   3. a fresh root of the host's Debian release (debootstrap --variant=minbase, cached as a
#      tarball under ${XDG_CACHE_HOME:-$HOME/.cache}/keepalived-rs/ with the few .debs steps
#      4 and 5 need, so a rerun works offline), dpkg -i of the package in a chroot, and there:
#      keepalived --version, keepalived -t on the shipped config, genhash --help and a real
#      genhash fetch, the three users, the registered conffiles, the enabled unit; then
#      purge and install again over a keepalived.conf of the user's: kept, no prompt
#   4. systemd-analyze verify on the installed unit, in the chroot (systemd, procps and
#      man-db installed there after our package, offline from the cache)
#   5. systemd-analyze security --offline=yes on ours and on Debian keepalived's unit (from
#      `apt-get download keepalived`, dpkg-deb -x): ours must score lower
# Prints one line per check and `package: N passed, M failed`.
#
# Usage: sudo tests/package.sh [DEB]   (DEB: a package already built; default: build it)
# Only proc is ever mounted in the chroot (fresh, never a bind mount), it is unmounted on any
# exit, and the work directory is deleted with --one-file-system only once nothing is
# mounted below it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
((EUID == 0)) || { echo "package: must run as root (debootstrap, chroot)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/package-test.XXXXXX")
CHROOT=$WORK/root
SERVER_PID=
# Every mount point below WORK, deepest first.
mounts_below() {
    findmnt -rn -o TARGET | awk -v w="$WORK/" 'index($0 "/", w) == 1' | sort -r
}
cleanup() {
    local m
    [[ -z $SERVER_PID ]] || kill "$SERVER_PID" 2>/dev/null || true
    for m in $(mounts_below); do
        umount "$m" || umount -l "$m" || true
    done
    if [[ -n $(mounts_below) ]]; then
        echo "package: still mounted below $WORK, not deleting it:" >&2
        mounts_below >&2
        return
    fi
    rm -rf --one-file-system -- "$WORK"
}
trap cleanup EXIT

passed=0 failed=0
check() { # check NAME CONDITION-EXIT-STATUS
    if [[ $2 == 0 ]]; then
        passed=$((passed + 1)); echo "ok   $1"
    else
        failed=$((failed + 1)); echo "FAIL $1"
    fi
}
in_root() { chroot "$CHROOT" "$@"; }
# with_proc CMD...: run CMD in the chroot with a fresh proc mounted (apt and dpkg want it).
with_proc() {
    mount -t proc proc "$CHROOT/proc"
    local rc=0
    in_root env DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
    umount "$CHROOT/proc"
    return $rc
}

# --- prerequisites ------------------------------------------------------------------------
need=()
command -v lintian >/dev/null || need+=(lintian)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
    echo "installing: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" ||
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"; }
fi

# --- 1. build -----------------------------------------------------------------------------
# Under sudo from an ordinary user, cargo runs as that user (their toolchain; target/ stays
# theirs), as in tests/run.
as_builder() {
    if [[ -n ${SUDO_USER:-} && $SUDO_USER != root ]]; then
        local home
        home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
        runuser -u "$SUDO_USER" -- env HOME="$home" PATH="$home/.cargo/bin:$PATH" "$@"
    else
        "$@"
    fi
}
DEB=${1:-}
if [[ -z $DEB ]]; then
    if ! as_builder cargo deb --version >/dev/null 2>&1; then
        echo "cargo-deb missing: cargo install cargo-deb --locked"
        as_builder cargo install cargo-deb --locked
    fi
    DEB=$(as_builder cargo deb -p keepalived | grep '\.deb$' | tail -n 1)
fi
[[ -f $DEB ]] || { echo "package: no .deb at '$DEB'" >&2; exit 2; }
echo "package: $DEB"

# --- 2. lintian ---------------------------------------------------------------------------
# lintian exits non-zero for an error tag (its default --fail-on) or when it cannot run.
lintian "$DEB" >"$WORK/lintian.txt" 2>&1 && lrc=0 || lrc=$?
errors=$(grep -c '^E: ' "$WORK/lintian.txt" || true)
warnings=$(grep -c '^W: ' "$WORK/lintian.txt" || true)
grep -E '^(E|W): ' "$WORK/lintian.txt" || true
echo "lintian: $errors errors, $warnings warnings (exit $lrc)"
check "lintian reports no error" "$([[ $lrc == 0 && $errors == 0 ]]; echo $?)"

# --- 3. a fresh Debian root, the package installed ---------------------------------------
# shellcheck source=/dev/null
RELEASE=$(. /etc/os-release && echo "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}")
ARCH=$(dpkg --print-architecture)
# The Debian mirror apt uses (one-line or deb822 sources), not its security or other archives.
MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE '^(deb|URIs:)[[:space:]]+(\[[^]]*\][[:space:]]+)?https?://[^[:space:]]+' |
    grep -oE 'https?://[^[:space:]]+' | grep -E '/debian/?$' | head -n 1 || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/keepalived-rs
CACHE=$CACHE_DIR/debootstrap-minbase-$RELEASE-$ARCH.tar.gz
# Fetched into the cached root, installed only after our package (whose postinst must work
# without systemd-sysusers): what steps 4 and 5 need.
LATER=(systemd procps man-db)

mkdir -p "$CHROOT"
if [[ -f $CACHE ]]; then
    echo "root: $CACHE"
    tar -C "$CHROOT" -xzpf "$CACHE"
else
    echo "root: debootstrap --variant=minbase $RELEASE $MIRROR (cached as $CACHE)"
    debootstrap --variant=minbase "$RELEASE" "$CHROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
        { tail -n 20 "$WORK/debootstrap.log" >&2; exit 2; }
    [[ -z $(mounts_below) ]] || { echo "package: debootstrap left mounts behind" >&2; exit 2; }
    with_proc apt-get install -y -q --download-only --no-install-recommends "${LATER[@]}" >/dev/null
    mkdir -p "$CHROOT/var/cache/keepalived-rs-test"
    with_proc sh -c 'cd /var/cache/keepalived-rs-test && apt-get download -q keepalived' >/dev/null 2>&1
    mkdir -p "$CACHE_DIR"
    tar -C "$CHROOT" -czpf "$CACHE.tmp" . && mv "$CACHE.tmp" "$CACHE"
fi
check "the fresh root has no systemd-sysusers (postinst must do without)" \
    "$([[ ! -e $CHROOT/usr/bin/systemd-sysusers && ! -e $CHROOT/bin/systemd-sysusers ]]; echo $?)"
# Nothing started from maintainer scripts in here.
printf '#!/bin/sh\nexit 101\n' >"$CHROOT/usr/sbin/policy-rc.d"
chmod 755 "$CHROOT/usr/sbin/policy-rc.d"

cp "$DEB" "$CHROOT/tmp/keepalived-rs.deb"
rc=0
with_proc dpkg -i /tmp/keepalived-rs.deb >"$WORK/dpkg.log" 2>&1 ||
    with_proc apt-get install -y -q -f >>"$WORK/dpkg.log" 2>&1 || rc=$?
[[ $rc == 0 ]] || cat "$WORK/dpkg.log"
check "dpkg -i in a fresh $RELEASE minbase chroot" "$rc"
# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
st=$(in_root dpkg-query -W -f='${db:Status-Status}' keepalived-rs 2>/dev/null || true)
check "keepalived-rs is installed (status: ${st:-none})" "$([[ $st == installed ]]; echo $?)"

out=$(in_root keepalived --version 2>&1) && rc=0 || rc=$?
echo "     ${out%%$'\n'*}"
check "keepalived --version" "$([[ $rc == 0 && $out == Keepalived-rs* ]]; echo $?)"
in_root keepalived -t -f /etc/keepalived/keepalived.conf && rc=0 || rc=$?
check "keepalived -t -f /etc/keepalived/keepalived.conf exits 0" "$rc"
out=$(in_root genhash --help 2>&1) && rc=0 || rc=$?
check "genhash --help" "$([[ $rc == 0 && $out == Usage:* ]]; echo $?)"
check "/usr/bin/genhash is a link to /usr/sbin/keepalived" \
    "$([[ $(in_root readlink -f /usr/bin/genhash) == /usr/sbin/keepalived ]]; echo $?)"

# genhash fetches for real: a web server on the host (same network), a known body.
mkdir -p "$WORK/www"
head -c 3000 /dev/urandom >"$WORK/www/page"
python3 -c '
import http.server, socketserver, sys, os
os.chdir(sys.argv[1])
h = http.server.SimpleHTTPRequestHandler
h.log_message = lambda *a: None
s = socketserver.TCPServer(("127.0.0.1", 0), h)
open(sys.argv[2], "w").write(str(s.server_address[1]))
s.serve_forever()' "$WORK/www" "$WORK/port" &
SERVER_PID=$!
for _ in $(seq 100); do [[ -s $WORK/port ]] && break; sleep 0.05; done
got=$(in_root genhash -s 127.0.0.1 -p "$(cat "$WORK/port")" -u /page 2>&1) || true
want=$(md5sum <"$WORK/www/page" | cut -d' ' -f1)
check "genhash prints the MD5 of the page ($got)" "$([[ $got == "$want" ]]; echo $?)"

for u in keepalived-vrrp keepalived-check keepalived_script; do
    ent=$(in_root getent passwd "$u" || true)
    uid=$(cut -d: -f3 <<<"$ent")
    check "user $u exists: system uid, no login shell (${ent:-missing})" \
        "$([[ -n $ent && $uid -lt 1000 && $ent == *:/usr/sbin/nologin ]]; echo $?)"
done
# shellcheck disable=SC2016
conffiles=$(in_root dpkg-query -W -f='${Conffiles}' keepalived-rs)
for f in /etc/keepalived/keepalived.conf /etc/default/keepalived; do
    check "conffile $f registered" "$([[ $conffiles == *" $f "* ]]; echo $?)"
done
check "keepalived.service enabled (multi-user.target.wants)" \
    "$([[ -L $CHROOT/etc/systemd/system/multi-user.target.wants/keepalived.service ]]; echo $?)"

# A user who already has a keepalived.conf (Debian's keepalived ships none, only a .sample)
# keeps it, without a conffile prompt (stdin is not a terminal here: a prompt fails dpkg),
# and gets ours as .dpkg-dist.
mine='# my own keepalived.conf, from before keepalived-rs'
with_proc dpkg --purge keepalived-rs >>"$WORK/dpkg.log" 2>&1
mkdir -p "$CHROOT/etc/keepalived"
echo "$mine" >"$CHROOT/etc/keepalived/keepalived.conf"
with_proc dpkg -i /tmp/keepalived-rs.deb </dev/null >"$WORK/dpkg2.log" 2>&1 && rc=0 || rc=$?
[[ $rc == 0 ]] || cat "$WORK/dpkg2.log"
check "dpkg -i over an existing keepalived.conf: no prompt" "$rc"
check "the existing keepalived.conf is kept, ours is keepalived.conf.dpkg-dist" \
    "$([[ $(cat "$CHROOT/etc/keepalived/keepalived.conf") == "$mine" ]] &&
        cmp -s "$CHROOT/etc/keepalived/keepalived.conf.dpkg-dist" "$ROOT/dist/keepalived.conf"; echo $?)"

# --- 4. systemd-analyze verify, where the unit's binaries and man pages are installed ------
with_proc apt-get install -y -q --no-download --no-install-recommends "${LATER[@]}" >"$WORK/later.log" 2>&1 ||
    { tail -n 20 "$WORK/later.log" >&2; exit 2; }
out=$(in_root systemd-analyze verify keepalived.service 2>&1) && rc=0 || rc=$?
[[ -z $out ]] || echo "$out"
check "systemd-analyze verify keepalived.service: exit 0, no message" "$([[ $rc == 0 && -z $out ]]; echo $?)"

# --- 5. exposure scores -------------------------------------------------------------------
# exposure UNITFILE: the overall exposure level systemd-analyze gives the unit file.
exposure() {
    systemd-analyze security --offline=yes "$1" 2>/dev/null |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}
debian_deb='' theirs_unit='' theirs=''
for f in "$CHROOT"/var/cache/keepalived-rs-test/keepalived_*.deb; do
    [[ -f $f ]] && debian_deb=$f
done
mkdir -p "$WORK/debian"
[[ -z $debian_deb ]] || dpkg-deb -x "$debian_deb" "$WORK/debian"
for f in "$WORK"/debian/{lib,usr/lib}/systemd/system/keepalived.service; do
    [[ -f $f ]] && theirs_unit=$f
done
ours=$(exposure "$CHROOT/usr/lib/systemd/system/keepalived.service")
[[ -z $theirs_unit ]] || theirs=$(exposure "$theirs_unit")
echo "exposure: keepalived-rs ${ours:-?}, Debian keepalived ${theirs:-?} ($(basename "${debian_deb:-none}"))"
check "our unit's exposure (${ours:-?}) is lower than Debian keepalived's (${theirs:-?})" \
    "$([[ -n $ours && -n $theirs ]] && awk -v a="$ours" -v b="$theirs" 'BEGIN { exit !(a < b) }'; echo $?)"

echo "package: $passed passed, $failed failed"
((failed == 0))

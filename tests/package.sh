#!/usr/bin/env bash
# The Debian package (issue 7), as a user meets it:
#   1. build the .deb with cargo-deb (installs lintian, debootstrap and cargo-deb if missing)
#   2. lintian: no error (E:) allowed
#   3. a fresh root of the host's Debian release (debootstrap --variant=minbase, cached as a
#      tarball under ${XDG_CACHE_HOME:-$HOME/.cache}/keepalived-rs/ with the few .debs steps
#      4 and 5 need, so a rerun works offline), dpkg -i of the package in a chroot, and there:
#      keepalived --version, keepalived -t on the shipped config, genhash --help and a real
#      genhash fetch, the three users, the registered conffiles, the enabled unit; then
#      purge, install Debian's keepalived and a keepalived.conf of the user's, and dpkg -i
#      ours over them: Debian's goes, the user's file is kept, no prompt
#   4. systemd-analyze verify on the installed unit, in the chroot (systemd, procps and
#      man-db installed there after our package, offline from the cache)
#   5. systemd-analyze security --offline=yes on ours and on Debian keepalived's unit (from
#      `apt-get download keepalived`, dpkg-deb -x): ours must score lower
#   6. the unit for real: the root booted with systemd-nspawn (its own network: a veth pair,
#      nothing reaches the host's), a VRRP instance with a track and a notify script; the
#      service starts (READY), takes the VIP, has the parent's privileges, runs the script as
#      keepalived_script, reloads without moving the VIP or restarting a child, dumps into its
#      private /tmp, is restarted once by an upgrade (dpkg -i again), and stops with the VIP
#      and the pid links gone
# Prints one line per check and `package: N passed, M failed`.
#
# Usage: sudo tests/package.sh [DEB]   (DEB: a package already built; default: build it)
# Only proc is ever mounted in the chroot (fresh, never a bind mount), it is unmounted on any
# exit, and the work directory is deleted with --one-file-system only once nothing is
# mounted below it (systemd-nspawn mounts in a namespace of its own, and is stopped first).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
((EUID == 0)) || { echo "package: must run as root (debootstrap, chroot)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/package-test.XXXXXX")
CHROOT=$WORK/root
SERVER_PID='' NSPAWN_PID=''
MACHINE=kart-$$
# Every mount point below WORK, deepest first.
mounts_below() {
    findmnt -rn -o TARGET | awk -v w="$WORK/" 'index($0 "/", w) == 1' | sort -r
}
cleanup() {
    local m
    [[ -z $SERVER_PID ]] || kill "$SERVER_PID" 2>/dev/null || true
    if [[ -n $NSPAWN_PID ]] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
        kill "$NSPAWN_PID" 2>/dev/null || true # SIGTERM: nspawn shuts the container down
        for _ in $(seq 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$NSPAWN_PID" 2>/dev/null || true
    fi
    # nspawn leaves its (empty) propagation directory behind when /run is not a tmpfs.
    rm -rf --one-file-system -- "/run/systemd/nspawn/propagate/$MACHINE"
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
in_root() { chroot "$CHROOT" "$@"; }
# pkg_field PKG FIELD: a dpkg-query field of PKG in the chroot (empty if unknown).
pkg_field() { in_root dpkg-query -W -f="\${$2}" "$1" 2>/dev/null || true; }
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
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
if ((${#need[@]})); then
    echo "installing: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" ||
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"; }
fi

# --- 1. build -----------------------------------------------------------------------------
echo "--- 1. build (at ${SECONDS}s)"
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
echo "--- 2. lintian (at ${SECONDS}s)"
# lintian exits non-zero for an error tag (its default --fail-on) or when it cannot run.
lintian "$DEB" >"$WORK/lintian.txt" 2>&1 && lrc=0 || lrc=$?
errors=$(grep -c '^E: ' "$WORK/lintian.txt" || true)
warnings=$(grep -c '^W: ' "$WORK/lintian.txt" || true)
grep -E '^(E|W): ' "$WORK/lintian.txt" || true
echo "lintian: $errors errors, $warnings warnings (exit $lrc)"
check "lintian reports no error" "$([[ $lrc == 0 && $errors == 0 ]]; echo $?)"

# --- 3. a fresh Debian root, the package installed ---------------------------------------
echo "--- 3. a fresh root, dpkg -i (at ${SECONDS}s)"
# shellcheck source=/dev/null
RELEASE=$(. /etc/os-release && echo "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}")
ARCH=$(dpkg --print-architecture)
# The Debian mirror apt uses (one-line or deb822 sources), not its security or other archives.
MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE '^(deb|URIs:)[[:space:]]+(\[[^]]*\][[:space:]]+)?https?://[^[:space:]]+' |
    grep -oE 'https?://[^[:space:]]+' | grep -E '/debian/?$' | head -n 1 || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/keepalived-rs
# Fetched into the cached root, installed only after our package (whose postinst must work
# without systemd-sysusers): what steps 4 to 6 need. The list names the cache.
LATER=(systemd procps man-db iproute2)
# Debian's keepalived, which a user replaces with ours (step 3).
FETCH=("${LATER[@]}" keepalived)
CACHE=$CACHE_DIR/debootstrap-minbase-$RELEASE-$ARCH-$(echo "${FETCH[*]}" | md5sum | cut -c1-8).tar.gz

mkdir -p "$CHROOT"
if [[ -f $CACHE ]]; then
    echo "root: $CACHE"
    tar -C "$CHROOT" -xzpf "$CACHE"
else
    echo "root: debootstrap --variant=minbase $RELEASE $MIRROR (cached as $CACHE)"
    debootstrap --variant=minbase "$RELEASE" "$CHROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
        { tail -n 20 "$WORK/debootstrap.log" >&2; exit 2; }
    [[ -z $(mounts_below) ]] || { echo "package: debootstrap left mounts behind" >&2; exit 2; }
    with_proc apt-get install -y -q --download-only --no-install-recommends "${FETCH[@]}" >/dev/null
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
st=$(pkg_field keepalived-rs db:Status-Status)
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
conffiles=$(pkg_field keepalived-rs Conffiles)
for f in /etc/keepalived/keepalived.conf /etc/default/keepalived; do
    check "conffile $f registered" "$([[ $conffiles == *" $f "* ]]; echo $?)"
done
check "keepalived.service enabled (multi-user.target.wants)" \
    "$([[ -L $CHROOT/etc/systemd/system/multi-user.target.wants/keepalived.service ]]; echo $?)"

# The drop-in case: a host running Debian's keepalived with its own keepalived.conf (Debian
# ships none, only a .sample) gets ours with dpkg -i. Debian's package goes (Conflicts,
# Replaces), the file is kept without a conffile prompt (stdin is not a terminal: a prompt
# fails dpkg), ours lands as keepalived.conf.dpkg-dist.
mine='# my own keepalived.conf, from before keepalived-rs'
with_proc dpkg --purge keepalived-rs >>"$WORK/dpkg.log" 2>&1
with_proc apt-get install -y -q --no-download --no-install-recommends keepalived >>"$WORK/dpkg.log" 2>&1 ||
    { tail -n 20 "$WORK/dpkg.log" >&2; exit 2; }
echo "     over: $(in_root keepalived --version 2>&1 | sed -n 1p)"
theirs_digest=$(in_root keepalived --genhash -s 127.0.0.1 -p "$(cat "$WORK/port")" -u /page 2>&1) || true
check "Debian keepalived's genhash gives the same digest as ours (${theirs_digest%%$'\n'*})" \
    "$([[ $theirs_digest == "$want" ]]; echo $?)"
echo "$mine" >"$CHROOT/etc/keepalived/keepalived.conf"
with_proc dpkg -i /tmp/keepalived-rs.deb </dev/null >"$WORK/dpkg2.log" 2>&1 && rc=0 || rc=$?
[[ $rc == 0 ]] || cat "$WORK/dpkg2.log"
check "dpkg -i over Debian's keepalived and a keepalived.conf of the user's: no prompt" "$rc"
st=$(pkg_field keepalived db:Status-Status)
check "Debian's keepalived is gone (status: ${st:-none}), /usr/sbin/keepalived is ours" \
    "$([[ $st != installed && $(in_root keepalived --version 2>&1) == Keepalived-rs* ]]; echo $?)"
check "the user's keepalived.conf is kept, ours is keepalived.conf.dpkg-dist" \
    "$([[ $(cat "$CHROOT/etc/keepalived/keepalived.conf") == "$mine" ]] &&
        cmp -s "$CHROOT/etc/keepalived/keepalived.conf.dpkg-dist" "$ROOT/dist/keepalived.conf"; echo $?)"
conffiles=$(pkg_field keepalived-rs Conffiles)
check "/etc/default/keepalived is now our conffile" "$([[ $conffiles == *" /etc/default/keepalived "* ]]; echo $?)"

# --- 4. systemd-analyze verify, where the unit's binaries and man pages are installed ------
echo "--- 4. systemd-analyze verify (at ${SECONDS}s)"
# man-db indexes every page when it is installed; verify only needs man to find ours.
echo "man-db man-db/auto-update boolean false" | in_root debconf-set-selections
with_proc apt-get install -y -q --no-download --no-install-recommends "${LATER[@]}" >"$WORK/later.log" 2>&1 ||
    { tail -n 20 "$WORK/later.log" >&2; exit 2; }
out=$(in_root systemd-analyze verify keepalived.service 2>&1) && rc=0 || rc=$?
[[ -z $out ]] || echo "$out"
check "systemd-analyze verify keepalived.service: exit 0, no message" "$([[ $rc == 0 && -z $out ]]; echo $?)"

# --- 5. exposure scores -------------------------------------------------------------------
echo "--- 5. exposure scores (at ${SECONDS}s)"
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
ours=$(exposure "$CHROOT/lib/systemd/system/keepalived.service")
[[ -z $theirs_unit ]] || theirs=$(exposure "$theirs_unit")
echo "exposure: keepalived-rs ${ours:-?}, Debian keepalived ${theirs:-?} ($(basename "${debian_deb:-none}"))"
check "our unit's exposure (${ours:-?}) is lower than Debian keepalived's (${theirs:-?})" \
    "$([[ -n $ours && -n $theirs ]] && awk -v a="$ours" -v b="$theirs" 'BEGIN { exit !(a < b) }'; echo $?)"

# --- 6. the unit for real, in a booted container ---------------------------------------------
echo "--- 6. the unit in a booted container (at ${SECONDS}s)"
# A veth pair made at boot (before keepalived), the VRRP instance on it, a notify script that
# writes who it ran as into the service's private /tmp.
cat >"$CHROOT/etc/systemd/system/kart-veth.service" <<'UNIT'
[Unit]
Description=veth pair for the keepalived-rs package test
Before=keepalived.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/ip link add kart0 type veth peer name kart1
ExecStart=/bin/ip link set kart1 up
ExecStart=/bin/ip link set kart0 up
ExecStart=/bin/ip addr add 10.77.0.1/24 dev kart0
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/kart-veth.service "$CHROOT/etc/systemd/system/multi-user.target.wants/"
cat >"$CHROOT/usr/local/bin/kart-notify" <<'SCRIPT'
#!/bin/sh
echo "master uid=$(id -u)" >/tmp/kart-notify.out
SCRIPT
chmod 755 "$CHROOT/usr/local/bin/kart-notify"
cat >"$CHROOT/etc/keepalived/keepalived.conf" <<'CONF'
global_defs {
    router_id kart
    enable_script_security
}
vrrp_script chk {
    script "/bin/true"
    interval 1
}
vrrp_instance VI_1 {
    state MASTER
    interface kart0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.77.0.100/24
    }
    track_script {
        chk
    }
    notify_master /usr/local/bin/kart-notify
}
CONF
rm -f "$CHROOT/usr/sbin/policy-rc.d"
cp "$DEB" "$CHROOT/var/cache/keepalived-rs-test/keepalived-rs.deb"

systemd-nspawn -q --register=no --keep-unit --machine="$MACHINE" -D "$CHROOT" --private-network -b \
    </dev/null >"$WORK/nspawn.log" 2>&1 &
NSPAWN_PID=$!
# The container's init: nspawn's child once it runs systemd.
LEADER=''
for _ in $(seq 200); do
    LEADER=$(pgrep -P "$NSPAWN_PID" -x systemd || true)
    [[ -n $LEADER ]] && break
    sleep 0.05
done
in_box() { nsenter -t "$LEADER" -a "$@"; }
booted=1
if [[ -n $LEADER ]]; then
    # systemctl talks to init over /run/systemd/private, there from early boot on.
    for _ in $(seq 200); do in_box test -S /run/systemd/private && break; sleep 0.05; done
    # "degraded" is fine here (a container lacks what some boot units want).
    state=$(timeout 60 nsenter -t "$LEADER" -a systemctl is-system-running --wait 2>&1 || true)
    echo "container $MACHINE: ${state:-no answer}"
fi
[[ -n $LEADER ]] && in_box systemctl is-active -q keepalived.service && booted=0
[[ $booted == 0 ]] || { tail -n 20 "$WORK/nspawn.log"; [[ -z $LEADER ]] || in_box journalctl -u keepalived --no-pager -n 30; }
check "container booted, keepalived.service active (Type=notify: READY=1 arrived)" "$booted"
if [[ $booted == 0 ]]; then
    # vip_present: the VIP is on kart0 (0) or not (1).
    vip_present() { in_box ip -4 -o addr show dev kart0 | has ' 10\.77\.0\.100/'; }
    for _ in $(seq 100); do vip_present && break; sleep 0.1; done
    vip_present && rc=0 || rc=$?
    check "MASTER: the VIP is on kart0" "$rc"
    main=$(in_box systemctl show -p MainPID --value keepalived.service)
    child=$(in_box cat /run/vrrp.pid 2>/dev/null || true)
    check "/run/keepalived.pid (a link into /run/keepalived/) names the main pid $main" \
        "$([[ $(in_box cat /run/keepalived.pid 2>/dev/null) == "$main" &&
            $(in_box readlink /run/keepalived.pid) == keepalived/keepalived.pid ]]; echo $?)"
    caps=$(in_box keepalived --caps 2>&1 || true)
    while read -r line; do echo "     $line"; done <<<"$caps"
    vrrp_uid=$(in_box id -u keepalived-vrrp)
    check "parent: CapBnd 31e0, no_new_privs, seccomp (the unit's); VRRP child: uid keepalived-vrrp, no capability" \
        "$(awk -v u="$vrrp_uid" '$1 == "parent" && $6 ~ /31e0$/ && $7 == 1 && $8 == 2 { p = 1 }
            $1 == "vrrp" && $3 == u && $4 ~ /^0+$/ { v = 1 } END { exit !(p && v) }' <<<"$caps"; echo $?)"
    script_uid=$(in_box id -u keepalived_script)
    for _ in $(seq 50); do in_box test -s "/proc/$main/root/tmp/kart-notify.out" && break; sleep 0.1; done
    note=$(in_box cat "/proc/$main/root/tmp/kart-notify.out" 2>/dev/null || true)
    check "notify_master ran as keepalived_script, in the private /tmp (${note:-nothing})" \
        "$([[ $note == "master uid=$script_uid" ]]; echo $?)"

    in_box systemctl reload keepalived.service && rc=0 || rc=$?
    lost=0
    for _ in $(seq 20); do vip_present || lost=$((lost + 1)); sleep 0.1; done
    check "systemctl reload: exit 0, the VIP never absent in 2 s (absent $lost times)" \
        "$([[ $rc == 0 && $lost == 0 ]]; echo $?)"
    check "after the reload: same main pid, same VRRP child (nothing restarted)" \
        "$([[ $(in_box systemctl show -p MainPID --value keepalived.service) == "$main" && $(in_box cat /run/vrrp.pid) == "$child" ]]; echo $?)"
    in_box kill -USR1 "$main"
    for _ in $(seq 50); do in_box test -s "/proc/$main/root/tmp/keepalived.data" && break; sleep 0.1; done
    in_box test -s "/proc/$main/root/tmp/keepalived.data" && rc=0 || rc=$?
    check "SIGUSR1: keepalived.data in the service's /tmp (/proc/PID/root/tmp)" "$rc"

    # An upgrade (the same package again: postinst configure with the old version) restarts
    # the running daemon once, as Debian's keepalived does, and keeps the configuration.
    conf_before=$(md5sum <"$CHROOT/etc/keepalived/keepalived.conf")
    in_box dpkg -i /var/cache/keepalived-rs-test/keepalived-rs.deb </dev/null >"$WORK/upgrade.log" 2>&1 && rc=0 || rc=$?
    [[ $rc == 0 ]] || cat "$WORK/upgrade.log"
    new_main=$(in_box systemctl show -p MainPID --value keepalived.service)
    for _ in $(seq 100); do vip_present && break; sleep 0.1; done
    check "upgrade: dpkg -i exits 0, the daemon restarted (pid $main -> $new_main), VIP back, config untouched" \
        "$([[ $rc == 0 && $new_main != "$main" && $new_main != 0 ]] && vip_present &&
            [[ $(md5sum <"$CHROOT/etc/keepalived/keepalived.conf") == "$conf_before" ]]; echo $?)"
    main=$new_main

    in_box systemctl stop keepalived.service && rc=0 || rc=$?
    gone=1
    vip_present || gone=0
    check "systemctl stop: exit 0, inactive, VIP removed, no /run/*.pid links left" \
        "$([[ $rc == 0 && $gone == 0 ]] &&
            ! in_box systemctl is-active -q keepalived.service && ! in_box test -L /run/keepalived.pid; echo $?)"
    in_box systemctl poweroff >/dev/null 2>&1 || true
fi
for _ in $(seq 200); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done

echo "--- done in ${SECONDS}s"
echo "package: $passed passed, $failed failed"
((failed == 0))

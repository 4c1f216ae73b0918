#!/usr/bin/env bash
# tests/ipvs/vm.sh - boot a throwaway qemu VM whose kernel has IPVS and run a payload in it.
#
# Usage: tests/ipvs/vm.sh [options] PAYLOAD_DIR [ARGS...]
#
# PAYLOAD_DIR holds run.sh (POSIX sh). In the guest it is copied to /payload and
# run as root with ARGS, cwd /payload, after /init has mounted /proc /sys /dev
# /tmp /run and the tracefs, loaded ip_vs (all schedulers), nf_conntrack, veth
# and dummy, and brought lo up. Its exit status is vm.sh's. Files it writes
# under /out come back to the host (--out DIR). Helpers for payloads are in
# /etc/ipvs-vm/lib.sh (tests/ipvs/guest/lib.sh).
#
# Options:
#   --bin PATH        our keepalived binary (default: $KEEPALIVED_RS); copied with
#                     its shared libraries to /usr/local/sbin/keepalived-rs (debug
#                     info stripped: a smaller initrd unpacks faster)
#   --extra CMD       another host command to copy in with its libraries (repeatable)
#   --out DIR         unpack the guest's /out into DIR
#   --timeout S       overall limit for the VM, boot included (default 900); exit 124
#   --boot-timeout S  the guest must print VM_READY within S s of qemu starting
#                     (default 90; a boot takes ~10 s under TCG)
#   --boot-retries N  boot again after a hung boot, up to N times (default 1)
#   --smp N           vCPUs (default 2; TCG runs one host thread per vCPU)
#   --mem MB          guest memory (default 1536)
#   --accel A         qemu accelerator (default tcg: KVM hangs on the lab hosts)
#   --append STR      extra kernel command line
#   --log FILE        keep the whole console log in FILE
#   --keep            keep the temporary work dir (printed at the end)
#   --build-only      build the kernel cache and the initrd, print the qemu command, don't boot
#   -h, --help        this text
#
# PAYLOAD_DIR may also hold host-bins: host commands (one per line, # comments)
# to copy in with their libraries, like --extra.
#
# Environment: KEEPALIVED_RS (as --bin); IPVS_VM_CACHE (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/keepalived-rs/ipvs-vm): the kernel .deb, its
# extracted tree and the cached base initramfs; IPVS_VM_KERNEL_PKG (default:
# what linux-image-cloud-amd64 depends on in this host's apt lists);
# IPVS_VM_KERNEL_DEB (a linux-image .deb to use instead of downloading);
# IPVS_VM_QEMU (default qemu-system-x86_64).
#
# The kernel is fetched once with `apt-get download` (Debian's package, ~27 MB).
# Host tools needed: qemu-system-x86, busybox-static, cpio, gzip, kmod (depmod,
# modprobe), dpkg-deb, dash, iproute2, ipvsadm, keepalived (for the reference
# daemon and genhash; skipped if absent), base64, md5sum, tar.
#
# Exit status: run.sh's; 124 when --timeout hit; 125 when the guest never got
# to VM_READY (after the retries) or stopped without reporting a status;
# 2 on usage or build errors; 130 when interrupted.

set -euo pipefail
{ # read the whole script before running it: editing it during a run is harmless

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${IPVS_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keepalived-rs/ipvs-vm}
QEMU=${IPVS_VM_QEMU:-qemu-system-x86_64}

# Loaded by /init (dependencies come along through modprobe).
BOOT_MODULES="ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh
 ip_vs_sh ip_vs_mh ip_vs_sed ip_vs_nq ip_vs_fo ip_vs_ovf veth dummy"
# Host commands for the base image; the optional ones are skipped when missing.
BASE_CMDS="dash ip ipvsadm"
OPTIONAL_CMDS="ss keepalived genhash openssl"

BIN=${KEEPALIVED_RS:-} OUT="" TIMEOUT=900 BOOT_TIMEOUT=90 BOOT_RETRIES=1 SMP=2 MEM=1536
ACCEL=tcg APPEND="" LOGFILE="" KEEP=0 BUILD_ONLY=0
EXTRA=()

say() { printf '[vm.sh] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }
usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
elapsed() { echo $(( $(date +%s%N) / 1000000 - $1 )) | awk '{printf "%.1f", $1 / 1000}'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

need_arg() { [[ $# -ge 2 ]] || die "$1 needs an argument"; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --bin) need_arg "$@"; BIN=$2; shift 2 ;;
        --extra) need_arg "$@"; EXTRA+=("$2"); shift 2 ;;
        --out) need_arg "$@"; OUT=$2; shift 2 ;;
        --timeout) need_arg "$@"; TIMEOUT=$2; shift 2 ;;
        --boot-timeout) need_arg "$@"; BOOT_TIMEOUT=$2; shift 2 ;;
        --boot-retries) need_arg "$@"; BOOT_RETRIES=$2; shift 2 ;;
        --smp) need_arg "$@"; SMP=$2; shift 2 ;;
        --mem) need_arg "$@"; MEM=$2; shift 2 ;;
        --accel) need_arg "$@"; ACCEL=$2; shift 2 ;;
        --append) need_arg "$@"; APPEND="$APPEND $2"; shift 2 ;;
        --log) need_arg "$@"; LOGFILE=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --build-only) BUILD_ONLY=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) break ;;
    esac
done
[[ $# -ge 1 ]] || { usage >&2; exit 2; }
[[ -f $1/run.sh ]] || die "$1 has no run.sh"
PAYLOAD=$(cd "$1" && pwd)
shift
for v in TIMEOUT BOOT_TIMEOUT BOOT_RETRIES SMP MEM; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "--${v,,} wants a number, not '${!v}'"
done
for t in "$QEMU" busybox cpio gzip dpkg-deb depmod modprobe ldd timeout base64 md5sum tar; do
    command -v "$t" >/dev/null || die "missing host tool: $t"
done
busybox --list >/dev/null 2>&1 || die "busybox has no applet list (install busybox-static)"
if [[ -n $BIN ]]; then
    [[ -x $BIN ]] || die "--bin $BIN: not an executable file"
    BIN=$(readlink -f "$BIN")
fi

T_START=$(now_ms)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ipvs-vm.XXXXXX")
QEMU_PID=""
# shellcheck disable=SC2317  # (called by the traps)
cleanup() {
    [[ -n $QEMU_PID ]] && kill "$QEMU_PID" 2>/dev/null
    if [[ $KEEP = 1 ]]; then say "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# ------------------------------------------------------------------ kernel ---
# KVER, KTREE (extracted package, depmod'ed), VMLINUZ
get_kernel() {
    local pkg deb=${IPVS_VM_KERNEL_DEB:-} kdir=$CACHE/kernel
    mkdir -p "$kdir"
    if [[ -n $deb ]]; then
        [[ -f $deb ]] || die "IPVS_VM_KERNEL_DEB=$deb: no such file"
        pkg=$(dpkg-deb -f "$deb" Package)
    else
        pkg=${IPVS_VM_KERNEL_PKG:-$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
            awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')}
        [[ -n $pkg ]] || die "cannot resolve linux-image-cloud-amd64: run apt-get update (or set IPVS_VM_KERNEL_PKG / IPVS_VM_KERNEL_DEB)"
    fi
    KVER=${pkg#linux-image-}
    KTREE=$kdir/$KVER
    VMLINUZ=$KTREE/boot/vmlinuz-$KVER
    [[ -f $KTREE/.complete ]] && return
    if [[ -z $deb ]]; then
        deb=$(find "$kdir" -maxdepth 1 -name "${pkg}_*.deb" | sort | tail -1)
        if [[ -z $deb ]]; then
            say "apt-get download $pkg (into $kdir)"
            (cd "$kdir" && apt-get download "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) ||
                die "apt-get download $pkg failed"
            deb=$(find "$kdir" -maxdepth 1 -name "${pkg}_*.deb" | sort | tail -1)
            [[ -n $deb ]] || die "apt-get download left no .deb"
        fi
    fi
    rm -rf "$KTREE.tmp"
    dpkg-deb -x "$deb" "$KTREE.tmp"
    [[ -f $KTREE.tmp/boot/vmlinuz-$KVER ]] || die "$deb has no boot/vmlinuz-$KVER"
    depmod -b "$KTREE.tmp" "$KVER"          # the .deb ships no modules.dep
    rm -rf "$KTREE"; mv "$KTREE.tmp" "$KTREE"
    touch "$KTREE/.complete"
}

# ------------------------------------------------------------ image tree ---
# add_cmd TREE CMD [DEST]: a host command and the shared libraries it needs
add_cmd() {
    local tree=$1 cmd=$2 dest=${3:-} path lib
    path=$(command -v "$cmd" 2>/dev/null) || path=$cmd
    [[ -f $path ]] || die "no such command: $cmd"
    path=$(readlink -f "$path")
    [[ -n $dest ]] || dest=$(command -v "$cmd")
    mkdir -p "$tree$(dirname "$dest")"
    cp -L "$path" "$tree$dest"
    while read -r lib; do
        [[ -e $tree$lib ]] && continue
        mkdir -p "$tree$(dirname "$lib")"
        cp -L "$lib" "$tree$lib"
    done < <(ldd "$path" 2>/dev/null | awk '/=> \// { print $3 } /^[ \t]*\/[^ ]+ \(/ { print $1 }')
}

build_base() {
    local tree=$1 mdir=$KTREE/lib/modules/$KVER m c
    mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,etc/ipvs-vm,lib,lib64,proc,sys,dev,tmp,run,root,out}
    for c in $BASE_CMDS; do add_cmd "$tree" "$c"; done
    for c in $OPTIONAL_CMDS; do
        if command -v "$c" >/dev/null; then add_cmd "$tree" "$c"; else say "note: no $c on the host, the guest has none"; fi
    done
    # /bin/sh is dash: Debian's busybox-static ash prefers its own applets to PATH
    # (its `ip` would shadow iproute2's)
    ln -sf "$(command -v dash)" "$tree/bin/sh"
    cp -L "$(command -v busybox)" "$tree/bin/busybox"
    for c in $(busybox --list); do
        [[ -e $tree/bin/$c || -e $tree/sbin/$c || -e $tree/usr/bin/$c || -e $tree/usr/sbin/$c ]] ||
            ln -s busybox "$tree/bin/$c"
    done
    [[ -e $tree/sbin/modprobe ]] || ln -s /bin/modprobe "$tree/sbin/modprobe"   # the kernel's usermode helper

    # modules: all of net/netfilter/ipvs plus the boot list, with their dependencies
    local mods deps=$WORK/deps
    mods="$BOOT_MODULES $(find "$mdir/kernel/net/netfilter/ipvs" -name '*.ko*' -printf '%f\n' | sed 's/\.ko.*//')"
    : > "$deps"
    for m in $mods; do
        modprobe -d "$KTREE" -S "$KVER" --show-depends "$m" >> "$deps" || die "kernel $KVER has no module $m"
    done
    awk '$1 == "insmod" { print $2 }' "$deps" | sort -u | while read -r m; do
        local rel=${m#"$mdir"/}
        mkdir -p "$tree/lib/modules/$KVER/$(dirname "$rel")"
        cp "$m" "$tree/lib/modules/$KVER/$rel"
    done
    for m in modules.order modules.builtin modules.builtin.modinfo; do
        [[ -f $mdir/$m ]] && cp "$mdir/$m" "$tree/lib/modules/$KVER/"
    done
    depmod -b "$tree" "$KVER"
    echo "$BOOT_MODULES" | tr -s ' ' '\n' | sed '/^$/d' > "$tree/etc/ipvs-vm/modules"

    install -m 755 "$HERE/guest/init" "$tree/init"
    install -m 644 "$HERE/guest/lib.sh" "$tree/etc/ipvs-vm/lib.sh"
    printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' > "$tree/etc/passwd"
    printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' > "$tree/etc/group"
    printf '%s\n' '127.0.0.1 localhost ipvs-vm' '::1 localhost' > "$tree/etc/hosts"
    printf '%s\n' 'passwd: files' 'group: files' 'hosts: files' 'services: files' 'protocols: files' > "$tree/etc/nsswitch.conf"
    for m in /etc/protocols /etc/services; do [[ -f $m ]] && cp -L "$m" "$tree$m"; done
    mkdir -p "$tree/etc/keepalived" "$tree/etc/iproute2" "$tree/var/run" "$tree/var/tmp" "$tree/var/log"
    echo "$KVER" > "$tree/etc/ipvs-vm/kernel"
}

pack() { (cd "$1" && find . -mindepth 1 -print0 | LC_ALL=C sort -z | cpio -o -0 -H newc -R +0:+0 --quiet) | gzip -1 -n; }

get_kernel
mkdir -p "$CACHE/initramfs"
build_base "$WORK/base"
KEY=$( (cd "$WORK/base" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum &&
        find . ! -type f -printf '%y %P %l\n' | LC_ALL=C sort) | sha256sum | cut -c1-16)
BASE=$CACHE/initramfs/base-$KVER-$KEY.cpio.gz
if [[ ! -f $BASE ]]; then
    pack "$WORK/base" > "$BASE.$$" && mv "$BASE.$$" "$BASE"
    say "built $(basename "$BASE") ($(du -sh "$WORK/base" | cut -f1) unpacked)"
    find "$CACHE/initramfs" -name 'base-*.cpio.gz' -mtime +7 -delete 2>/dev/null || true
fi
touch "$BASE"

# ---------------------------------------------------------------- payload ---
# A second archive appended to the base one: the kernel unpacks both.
PT=$WORK/payload
mkdir -p "$PT/payload" "$PT/etc/ipvs-vm"
cp -a "$PAYLOAD/." "$PT/payload/"
if [[ -n $BIN ]]; then
    add_cmd "$PT" "$BIN" /usr/local/sbin/keepalived-rs
    # debug info only makes the initrd big (and the guest's unpacking slow)
    if command -v objcopy >/dev/null; then objcopy --strip-debug "$PT/usr/local/sbin/keepalived-rs" 2>/dev/null || true; fi
fi
if [[ -f $PAYLOAD/host-bins ]]; then
    while read -r c _; do [[ -z $c || $c == \#* ]] || EXTRA+=("$c"); done < "$PAYLOAD/host-bins"
fi
for c in "${EXTRA[@]+"${EXTRA[@]}"}"; do add_cmd "$PT" "$c"; done
{ for a in "$@"; do printf "'%s' " "${a//\'/\'\\\'\'}"; done; echo; } > "$PT/etc/ipvs-vm/args"
INITRD=$WORK/initrd.gz
{ cat "$BASE"; pack "$PT"; } > "$INITRD"

CMDLINE="console=ttyS0 panic=-1 quiet mitigations=off$APPEND"
QARGS=(-accel "$ACCEL" -cpu max -smp "$SMP" -m "$MEM" -nodefaults -no-user-config -display none
       -no-reboot -kernel "$VMLINUZ" -initrd "$INITRD" -append "$CMDLINE")
for d in $("$QEMU" -L help 2>/dev/null); do
    [[ -f $d/qboot.rom ]] && { QARGS+=(-bios qboot.rom); break; }     # starts the kernel sooner than SeaBIOS
done
say "kernel $KVER, initrd $(du -h "$INITRD" | cut -f1), prepared in $(elapsed "$T_START") s"
if [[ $BUILD_ONLY = 1 ]]; then
    KEEP=1
    printf '%q ' "$QEMU" "${QARGS[@]}" -serial mon:stdio; echo
    exit 0
fi

# ------------------------------------------------------------------- boot ---
LOG=${LOGFILE:-$WORK/console.log}
AWK=(awk); awk -W version 2>&1 | grep -q mawk && AWK=(awk -W interactive)   # mawk buffers pipes otherwise

# boot: one qemu run; the console goes to stdout (without the /out archive) and to
# $LOG. Sets RC (qemu's status) and HUNG=1 if VM_READY did not come in time.
boot() {
    local t0 limit
    : > "$LOG"; rm -f "$WORK/qemu.pid" "$WORK/qemu.rc"
    t0=$SECONDS
    limit=$(( TIMEOUT - (SECONDS - T_BOOT0) ))
    (( limit > 0 )) || limit=1
    # shellcheck disable=SC2016  # (awk program)
    { timeout -k 5 "$limit" "$QEMU" "${QARGS[@]}" -pidfile "$WORK/qemu.pid" -serial stdio </dev/null 2>&1
      echo $? > "$WORK/qemu.rc"; } |
        "${AWK[@]}" -v logf="$LOG" '
            { gsub(/\r/, ""); gsub(/\033\[[0-9;?]*[A-Za-z]/, ""); gsub(/\033c/, ""); print >> logf; fflush(logf) }
            /^==OUT-BEGIN / { printf "[vm.sh] receiving /out (%s bytes)\n", $2; fflush(); hide = 1; next }
            hide { if (/^==OUT-END==/) hide = 0; next }
            { print; fflush() }' &
    local pipe=$!
    HUNG=0
    while [[ ! -e $WORK/qemu.rc ]] && kill -0 "$pipe" 2>/dev/null; do
        [[ -z $QEMU_PID && -s $WORK/qemu.pid ]] && QEMU_PID=$(cat "$WORK/qemu.pid")
        if [[ $HUNG = 0 ]] && (( SECONDS - t0 >= BOOT_TIMEOUT )) && ! grep -aq '^VM_READY' "$LOG"; then
            say "no VM_READY within $BOOT_TIMEOUT s: the boot hung, killing qemu"
            HUNG=1
            [[ -n $QEMU_PID ]] && kill "$QEMU_PID" 2>/dev/null
        fi
        sleep 0.25
    done
    [[ -e $WORK/qemu.rc ]] || { [[ -n $QEMU_PID ]] && kill "$QEMU_PID" 2>/dev/null; }   # the console reader died
    wait "$pipe" || true
    QEMU_PID=""
    RC=$(cat "$WORK/qemu.rc" 2>/dev/null || echo 125)
}

say "booting: $SMP vCPU, $MEM MiB, -accel $ACCEL, timeout $TIMEOUT s (host: $(nproc) CPU, load $(cut -d' ' -f1-3 /proc/loadavg))"
T_BOOT0=$SECONDS
T_QEMU=$(now_ms)
set +e
attempt=0
while :; do
    boot
    [[ $HUNG = 1 && $attempt -lt $BOOT_RETRIES && $((SECONDS - T_BOOT0)) -lt $TIMEOUT ]] || break
    attempt=$((attempt + 1))
    say "boot attempt $((attempt + 1)) of $((BOOT_RETRIES + 1))"
    T_QEMU=$(now_ms)
done
set -e

STATUS=$(grep -ao '^VM_EXIT=[0-9]*' "$LOG" | tail -1 | cut -d= -f2 || true)
READY=$(grep -ao '^VM_READY uptime=[0-9.]*' "$LOG" | tail -1 | cut -d= -f2 || true)

# /out comes back as one base64'd tar.gz between ==OUT-BEGIN size md5== and ==OUT-END==
if grep -aq '^==OUT-BEGIN ' "$LOG"; then
    read -r _ size sum _ < <(grep -a '^==OUT-BEGIN ' "$LOG" | tail -1)
    awk '/^==OUT-BEGIN / { on = 1; buf = ""; next } /^==OUT-END==/ { on = 0; next } on { print }' "$LOG" |
        base64 -d > "$WORK/out.tar.gz" 2>/dev/null || true
    if [[ $(md5sum < "$WORK/out.tar.gz" | cut -d' ' -f1) != "$sum" ]]; then
        say "warning: /out arrived damaged ($(wc -c < "$WORK/out.tar.gz") of $size bytes)"
    elif [[ -n $OUT ]]; then
        mkdir -p "$OUT"
        tar -xzf "$WORK/out.tar.gz" -C "$OUT" --no-same-owner
        say "/out unpacked into $OUT ($(tar -tzf "$WORK/out.tar.gz" | grep -vc '/$') files)"
    else
        say "/out not kept (--out DIR keeps it)"
    fi
fi

if [[ -n $STATUS ]]; then
    say "exit $STATUS; VM ran $(elapsed "$T_QEMU") s, guest ready at ${READY:-?} s uptime; whole run $(elapsed "$T_START") s"
    exit "$STATUS"
elif [[ $RC = 124 || $RC = 137 ]]; then
    say "timeout: the VM was killed after $TIMEOUT s"
    exit 124
elif [[ $HUNG = 1 ]]; then
    say "the boot hung $((attempt + 1)) time(s); console above"
    exit 125
fi
say "the VM stopped without reporting a status (qemu exit $RC); console above"
exit 125
}

#!/usr/bin/env bash
# Logs keep flowing after the syslog daemon restarts (issue 3): parent and child idents.
# Runs in a private mount namespace whose /dev is a tmpfs holding only what the daemon needs
# and a /dev/log served by tests/syslog-server.py, which the test kills and starts again.
#
# Usage: sudo tests/syslog-reconnect.sh [OUR_BINARY]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
OURS=$(realpath -- "${1:-$ROOT/target/debug/keepalived}")
[[ -x $OURS ]] || { echo "syslog-reconnect: no binary $OURS" >&2; exit 2; }
((EUID == 0)) || { echo "syslog-reconnect: must run as root" >&2; exit 2; }
command -v python3 >/dev/null || { echo "syslog-reconnect: python3 missing" >&2; exit 2; }

if [[ ${1:-} != --inside && -z ${SYSLOG_RECONNECT_INSIDE:-} ]]; then
    # Re-run this script in a private mount namespace.
    SYSLOG_RECONNECT_INSIDE=1 exec unshare --mount --propagation private "$0" "$OURS"
fi

# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
NS="kasl-$$"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/syslog-reconnect.XXXXXX")
PIDS=()
cleanup() {
    end_pids "${PIDS[@]}"
    ip netns del "$NS" 2>/dev/null || true
    rm -rf --one-file-system -- "$TMP"
}
trap cleanup EXIT

# A /dev of our own (this mount namespace only): a tmpfs with fresh null, zero, random and
# urandom nodes, and room for /dev/log. Nothing of the real /dev is mounted anywhere we
# delete from.
mount -t tmpfs -o mode=755 tmpfs /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/random c 1 8
mknod -m 666 /dev/urandom c 1 9
ln -s /proc/self/fd /dev/fd
make_netns "$NS"

serve() { # serve LOGFILE: start a syslog server on /dev/log
    python3 "$ROOT/tests/syslog-server.py" /dev/log "$1" &
    SERVER=$!
    PIDS+=("$SERVER")
    wait_for 1 "$1" '^# listening' 5
}

cat >"$TMP/keepalived.conf" <<CONF
global_defs {
    script_user nobody
    enable_script_security
}
vrrp_script chk {
    script "/bin/true"
    interval 1
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 60
    virtual_ipaddress {
        10.99.0.60
    }
    track_script {
        chk
    }
}
CONF

passed=0 failed=0
check() {
    if [[ $2 == 0 ]]; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}

serve "$TMP/syslog1.log"
ip netns exec "$NS" "$OURS" -n -f "$TMP/keepalived.conf" -p "$TMP/k.pid" -r "$TMP/v.pid" -c "$TMP/c.pid" &
PIDS+=($!)
check "parent logs to syslog as Keepalived" "$(wait_for 1 "$TMP/syslog1.log" '^<30>Keepalived\[[0-9]+\]: Startup complete$' 10; echo $?)"
check "VRRP child logs as Keepalived_vrrp" "$(wait_for 1 "$TMP/syslog1.log" '^<30>Keepalived_vrrp\[[0-9]+\]: VRRP_Script\(chk\) succeeded$' 10; echo $?)"

# Restart the syslog daemon, then make both processes log again.
kill -TERM "$SERVER"
wait "$SERVER" 2>/dev/null || true
serve "$TMP/syslog2.log"
sed -i 's|script "/bin/true"|script "/bin/false"|' "$TMP/keepalived.conf"
kill -HUP "$(cat "$TMP/k.pid")"
check "parent's logs flow after the syslog restart" "$(wait_for 1 "$TMP/syslog2.log" '^<30>Keepalived\[[0-9]+\]: Reload complete' 10; echo $?)"
check "child's logs flow after the syslog restart" "$(wait_for 1 "$TMP/syslog2.log" '^<30>Keepalived_vrrp\[[0-9]+\]: VRRP_Script\(chk\) failed \(exited with status 1\)$' 10; echo $?)"

echo "syslog-reconnect: $passed passed, $failed failed"
((failed == 0))

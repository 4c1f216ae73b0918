#!/usr/bin/env bash
# Two-node demo: builds keepalived-rs, makes two hosts (network namespaces on a bridge), runs
# our daemon on both with a typical failover config (VIP, PASS authentication, a track
# script), shows the VIP on the master, stops the master, shows the VIP move, cleans up.
# Usage: sudo dist/demo.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
((EUID == 0)) || { echo "demo: run as root (it creates network namespaces)" >&2; exit 2; }

echo "== building"
(cd "$ROOT" && cargo build --release -p keepalived --quiet)
BIN="$ROOT/target/release/keepalived"

LAB="kdemo$$"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/keepalived-demo.XXXXXX")
cleanup() {
    local h p
    for h in a b; do
        p=$(cat "$TMP/$h.pid" 2>/dev/null) || continue
        kill -TERM "$p" 2>/dev/null || true
        for _ in $(seq 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.01; done
    done
    del_lab "$LAB"
    rm -rf --one-file-system -- "$TMP"
}
trap cleanup EXIT
make_lab "$LAB"

for h in a b; do
    if [[ $h == a ]]; then prio=150; else prio=100; fi
    cat >"$TMP/$h.conf" <<CONF
global_defs {
    router_id node-$h
    script_user nobody
    enable_script_security
}
vrrp_script chk_service {
    script "/bin/true"
    interval 2
    weight -60
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority $prio
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass demo1234
    }
    virtual_ipaddress {
        10.99.0.100/24
    }
    track_script {
        chk_service
    }
}
CONF
    ip netns exec "$LAB-$h" "$BIN" -n -l -G -f "$TMP/$h.conf" -p "$TMP/$h.pid" -r "$TMP/$h.vrrp.pid" \
        -c "$TMP/$h.check.pid" >"$TMP/$h.log" 2>&1 &
done

echo "== node-a (priority 150) and node-b (priority 100) started; waiting for an election"
wait_vip "$LAB-a" 10.99.0.100 10
echo "-- node-a (master):"; ip -n "$LAB-a" -4 addr show dev eth0 | sed -n 's/^ *inet /   /p'
echo "-- node-b (backup):"; ip -n "$LAB-b" -4 addr show dev eth0 | sed -n 's/^ *inet /   /p'
echo "-- node-a log:"; sed 's/^/   /' "$TMP/a.log"

echo "== stopping node-a (SIGTERM: it sends priority 0)"
t0=$(now_ms)
kill -TERM "$(cat "$TMP/a.pid")"
wait_vip "$LAB-b" 10.99.0.100 10
echo "-- the VIP moved to node-b after $(($(now_ms) - t0)) ms:"
ip -n "$LAB-b" -4 addr show dev eth0 | sed -n 's/^ *inet /   /p'
echo "-- node-b log:"; sed 's/^/   /' "$TMP/b.log"
echo "== done; cleaning up"

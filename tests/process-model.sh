#!/usr/bin/env bash
# Process model, privilege drop and supervision, as a user sees them (issue 3 acceptance).
# Starts our daemon as root in a network namespace and checks /proc of every process,
# restarts, the watchdog, refusals of bad child input, and reloads.
#
# Usage: sudo tests/process-model.sh [OUR_BINARY]   (default: target/debug/keepalived;
# a debug build is needed for the fault-injection cases)
# Prints one line per check and `process-model: N passed, M failed`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
OURS=$(realpath -- "${1:-$ROOT/target/debug/keepalived}")
[[ -x $OURS ]] || { echo "process-model: no binary $OURS (cargo build -p keepalived)" >&2; exit 2; }
((EUID == 0)) || { echo "process-model: must run as root" >&2; exit 2; }

NS="kapm-$$"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/process-model.XXXXXX")
DAEMONS=()
cleanup() {
    end_pids "${DAEMONS[@]}"
    ip netns del "$NS" 2>/dev/null || true
    rm -rf --one-file-system -- "$TMP"
}
trap cleanup EXIT
make_netns "$NS"

passed=0 failed=0

cat >"$TMP/keepalived.conf" <<CONF
global_defs {
    router_id pm-test
    enable_script_security
    script_user nobody
}
vrrp_script chk_true {
    script "/bin/true"
    interval 2
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        10.99.0.100/24
    }
    track_script {
        chk_true
    }
}
virtual_server 10.99.0.100 80 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    real_server 10.99.0.2 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
CONF

# start NAME READY-PATTERN [ENV=VALUE...]: run the daemon in the namespace, logging to
# $TMP/NAME.log, and wait for READY-PATTERN in the log.
start() {
    local name=$1 ready=$2
    shift 2
    env "$@" ip netns exec "$NS" "$OURS" -n -l -G -f "$TMP/keepalived.conf" \
        -p "$TMP/$name.pid" -r "$TMP/$name.vrrp.pid" -c "$TMP/$name.check.pid" >"$TMP/$name.log" 2>&1 &
    DAEMONS+=($!)
    wait_for 1 "$TMP/$name.log" "$ready" 20
}

stop() { # stop NAME: SIGTERM, wait for exit
    local pid
    pid=$(cat "$TMP/$1.pid")
    kill -TERM "$pid"
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.01; done
    return 1
}

# --- privilege table --------------------------------------------------------------------
start main "Startup complete"
P=$(cat "$TMP/main.pid") V=$(cat "$TMP/main.vrrp.pid") C=$(cat "$TMP/main.check.pid")
for who in V C; do
    pid=${!who}
    check "$who child: CapEff = CapPrm = 0" "$([[ $(status_field "$pid" CapEff) == 0000000000000000 && $(status_field "$pid" CapPrm) == 0000000000000000 ]]; echo $?)"
    check "$who child: empty bounding set" "$([[ $(status_field "$pid" CapBnd) == 0000000000000000 ]]; echo $?)"
    check "$who child: NoNewPrivs 1, Seccomp 2 (filter)" "$([[ $(status_field "$pid" NoNewPrivs) == 1 && $(status_field "$pid" Seccomp) == 2 ]]; echo $?)"
    check "$who child: non-root uid" "$([[ $(status_field "$pid" Uid) != 0 ]]; echo $?)"
    check "$who child: named keepalived (ps -C, pgrep, check_procs)" "$([[ $(cat "/proc/$pid/comm") == keepalived ]]; echo $?)"
done
check "children have distinct uids" "$([[ $(status_field "$V" Uid) != "$(status_field "$C" Uid)" ]]; echo $?)"
check "parent runs as root without no_new_privs" "$([[ $(status_field "$P" Uid) == 0 && $(status_field "$P" NoNewPrivs) == 0 ]]; echo $?)"
# README table: KILL SETGID SETUID SETPCAP NET_ADMIN NET_RAW = 0x31e0 when no script runs as root.
check "parent keeps only the README table's capabilities" "$([[ $(status_field "$P" CapEff) == 00000000000031e0 && $(status_field "$P" CapPrm) == 00000000000031e0 && $(status_field "$P" CapBnd) == 00000000000031e0 ]]; echo $?)"
"$OURS" --caps -p "$TMP/main.pid" -r "$TMP/main.vrrp.pid" -c "$TMP/main.check.pid" >"$TMP/caps.txt"
check "--caps lists the three processes" "$([[ $(grep -cE '^(parent|vrrp|checker) ' "$TMP/caps.txt") == 3 ]]; echo $?)"
check "daemon runs on this kernel without IPVS" "$(kill -0 "$P" && kill -0 "$C"; echo $?)"
# Descriptors: 0-2, the channel at 3, its own epoll, the raw sockets the parent handed over,
# and its own rtnetlink socket for link events (track_interface, the instance's interface).
fds_v=$(find "/proc/$V/fd" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n | tr '\n' ' ')
check "VRRP child holds only 0-2, its channel at 3, its epoll, the handed-over sockets and its link-event socket ($fds_v)" "$([[ $fds_v == "0 1 2 3 4 5 6 7 " ]] &&
    grep -q 'Received sockets from the parent: RawVrrp4, Packet' "$TMP/main.log"; echo $?)"

# --- checker SIGKILLed ten times after ready ----------------------------------------------
ok=0
for i in $(seq 10); do
    c=$(cat "$TMP/main.check.pid")
    kill -KILL "$c"
    wait_for $((i + 1)) "$TMP/main.log" 'Healthcheck child process ready' 5 || { ok=1; break; }
    [[ $(cat "$TMP/main.check.pid") != "$c" ]] || { ok=1; break; }
done
check "checker killed 10 times comes back ready each time" $ok
check "VRRP child pid never changed" "$([[ $(cat "$TMP/main.vrrp.pid") == "$V" ]] && kill -0 "$V"; echo $?)"
check "VRRP child never missed a ping" "$(! grep -q 'VRRP child process([0-9]*) not responding' "$TMP/main.log"; echo $?)"
check "no back-off for a child that was ready" "$(! grep -q 'Restart of Healthcheck process delayed' "$TMP/main.log"; echo $?)"

# --- a hung checker is restarted by the watchdog ------------------------------------------
c=$(cat "$TMP/main.check.pid")
t0=$SECONDS
kill -STOP "$c"
wait_for 1 "$TMP/main.log" "Healthcheck child process\\($c\\) not responding" 6
elapsed=$((SECONDS - t0))
wait_for 12 "$TMP/main.log" 'Healthcheck child process ready' 5
echo "     watchdog restarted the stopped checker after ${elapsed}s (deadline: 1 s ping + 3 s)"
check "hung checker restarted within 5 s" "$([[ $elapsed -le 5 ]]; echo $?)"

# --- reloads ------------------------------------------------------------------------------
cp "$TMP/keepalived.conf" "$TMP/good.conf"
mv "$TMP/keepalived.conf" "$TMP/moved.conf"
kill -HUP "$P"
wait_for 1 "$TMP/main.log" 'Reload refused' 5
check "SIGHUP with a missing config is refused with the file named" "$(grep -q "Config files missing '$TMP/keepalived.conf'" "$TMP/main.log"; echo $?)"
check "children untouched by the refused reload" "$([[ $(cat "$TMP/main.vrrp.pid") == "$V" ]] && kill -0 "$V"; echo $?)"
printf 'vrrp_instance VI_1 {\n interface eth0\n' >"$TMP/keepalived.conf"
kill -HUP "$P"
wait_for 2 "$TMP/main.log" 'Reload refused' 5
check "SIGHUP with unbalanced braces is refused" "$(grep -q "missing '}'s" "$TMP/main.log"; echo $?)"
cp "$TMP/good.conf" "$TMP/keepalived.conf"
kill -HUP "$P"
check "SIGHUP with a good config is acknowledged by both children" "$(wait_for 1 "$TMP/main.log" 'VRRP child process acknowledged configuration generation 2' 5 &&
    wait_for 1 "$TMP/main.log" 'Healthcheck child process acknowledged configuration generation 2' 5; echo $?)"

# --- orderly stop ---------------------------------------------------------------------------
stop main
check "SIGTERM stops the daemon and removes the pid files" "$([[ ! -e $TMP/main.pid && ! -e $TMP/main.vrrp.pid && ! -e $TMP/main.check.pid ]]; echo $?)"

# --- refusals of bad child input (debug builds inject the faults) --------------------------
start bad 'VRRP child process ready' KEEPALIVED_RS_TEST_FAULT=checker:malformed-frame
V=$(cat "$TMP/bad.vrrp.pid")
check "malformed frame: refused, logged, checker restarted" "$(wait_for 1 "$TMP/bad.log" 'Healthcheck child process\([0-9]+\) sent a bad frame' 5 &&
    wait_for 2 "$TMP/bad.log" 'Starting Healthcheck child process' 5; echo $?)"
check "malformed frame: VRRP child untouched" "$(kill -0 "$V" && ! grep -q 'VRRP child process([0-9]*) sent' "$TMP/bad.log"; echo $?)"
stop bad
start unknown 'Healthcheck child process ready' KEEPALIVED_RS_TEST_FAULT=vrrp:unknown-id
C=$(cat "$TMP/unknown.check.pid")
check "unknown-id request: refused, logged, VRRP child restarted" "$(wait_for 1 "$TMP/unknown.log" 'VRRP child process\([0-9]+\) asked for VIPs of unknown instance' 5 &&
    wait_for 2 "$TMP/unknown.log" 'Starting VRRP child process' 5; echo $?)"
check "unknown-id request: checker untouched" "$(kill -0 "$C"; echo $?)"
stop unknown

# --- privileged operations: VIPs asked for by the VRRP child, static addresses ------------
cat >"$TMP/vips.conf" <<CONF
static_ipaddress {
    10.99.1.1/24 dev eth1
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 52
    virtual_ipaddress {
        10.99.0.100/24 dev eth0 label eth0:vip brd +
    }
}
CONF
cp "$TMP/vips.conf" "$TMP/keepalived.conf"
start vips 'Startup complete' KEEPALIVED_RS_TEST_FAULT=vrrp:add-vips
check "VIP set by the parent on the VRRP child's request (label, brd)" "$(wait_for 1 "$TMP/vips.log" '\(VI_1\) setting VIPs\.' 5 &&
    ip -n "$NS" -4 addr show dev eth0 | has -E 'inet 10.99.0.100/24 brd 10.99.0.255 scope global( secondary)? eth0:vip'; echo $?)"
check "static_ipaddress set at start" "$(ip -n "$NS" -4 addr show dev eth1 | has 'inet 10.99.1.1/24'; echo $?)"
stop vips
check "SIGTERM removes the VIPs and static addresses" "$(! ip -n "$NS" addr show | has -E '10\.99\.0\.100|10\.99\.1\.1'; echo $?)"

# --- scripts: startup_script and vrrp_script as script_user nobody, and one as root --------
chmod 755 "$TMP"
mkdir -m 1777 "$TMP/out"
cat >"$TMP/record.sh" <<'SH'
#!/bin/sh
# Records who ran it: the first argument, the uid and the effective capabilities.
echo "$1 uid=$(id -u) $(grep CapEff /proc/self/status | tr -d '\t')" >>"$(dirname "$0")/out/record.log"
SH
chmod 755 "$TMP/record.sh"
cat >"$TMP/keepalived.conf" <<CONF
global_defs {
    enable_script_security
    script_user nobody
    startup_script "$TMP/record.sh startup"
}
vrrp_script chk_nobody {
    script "$TMP/record.sh vrrp"
    interval 1
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 53
    virtual_ipaddress {
        10.99.0.53
    }
    track_script {
        chk_nobody
    }
}
CONF
start scripts 'Startup complete'
check "startup_script ran as nobody with no capabilities" "$(grep -q '^startup uid=65534 CapEff:0000000000000000$' "$TMP/out/record.log"; echo $?)"
check "vrrp_script ran as nobody with no capabilities, and succeeded" "$(wait_for 1 "$TMP/scripts.log" 'VRRP_Script\(chk_nobody\) succeeded' 5 &&
    grep -q '^vrrp uid=65534 CapEff:0000000000000000$' "$TMP/out/record.log"; echo $?)"
stop scripts
sed -i 's/interval 1/interval 1\n    user root/; s/script "\(.*\) vrrp"/script "\1 root"/' "$TMP/keepalived.conf"
start rootscript 'Startup complete'
check "a root vrrp_script ran as root with root's capabilities" "$(wait_for 1 "$TMP/out/record.log" '^root uid=0 ' 5 &&
    [[ $(sed -n 's/^root uid=0 CapEff://p' "$TMP/out/record.log" | head -1) == "$(status_field "$(cat "$TMP/rootscript.pid")" CapEff)" ]]; echo $?)"
check "with a root script the parent keeps its full set, and says so" "$([[ $(status_field "$(cat "$TMP/rootscript.pid")" CapEff) != 00000000000031e0 ]] &&
    grep -q 'Scripts run as root' "$TMP/rootscript.log"; echo $?)"
stop rootscript

# --- scheduling and memory locking applied to the VRRP child -------------------------------
cat >"$TMP/keepalived.conf" <<CONF
global_defs {
    script_user nobody
    vrrp_rt_priority 50
    vrrp_no_swap
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 54
    virtual_ipaddress {
        10.99.0.54
    }
}
CONF
start sched 'Startup complete'
V=$(cat "$TMP/sched.vrrp.pid")
check "vrrp_rt_priority: VRRP child runs SCHED_RR at 50" "$(chrt -p "$V" | has 'SCHED_RR' && chrt -p "$V" | has 'priority: 50$'; echo $?)"
check "vrrp_no_swap: VRRP child's memory is locked, and it still has no capability" "$([[ $(awk '$1 == "VmLck:" { print $2 }' "/proc/$V/status") -gt 0 && $(status_field "$V" CapEff) == 0000000000000000 ]]; echo $?)"
stop sched

# --- use_vmac: the parent creates the VMAC, sets keepalived's sysctls, undoes both at stop --
cat >"$TMP/keepalived.conf" <<CONF
global_defs {
    script_user nobody
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 55
    use_vmac
    promote_secondaries
    virtual_ipaddress {
        10.99.0.55/24
    }
}
CONF
start vmac 'Startup complete' KEEPALIVED_RS_TEST_FAULT=vrrp:add-vips
check "use_vmac: macvlan vrrp.55 in private mode with MAC 00:00:5e:00:01:37" "$(ip -n "$NS" -d link show vrrp.55 | has 'link/ether 00:00:5e:00:01:37' &&
    ip -n "$NS" -d link show vrrp.55 | has 'macvlan mode private'; echo $?)"
check "use_vmac: the VIP goes on the VMAC" "$(wait_for 1 "$TMP/vmac.log" '\(VI_1\) setting VIPs' 5 && ip -n "$NS" addr show dev vrrp.55 | has 'inet 10.99.0.55/24'; echo $?)"
check "use_vmac: sysctls as keepalived (arp_ignore on the VMAC, arp_filter on the base)" "$([[ $(ip netns exec "$NS" cat /proc/sys/net/ipv4/conf/vrrp.55/arp_ignore) == 1 &&
    $(ip netns exec "$NS" cat /proc/sys/net/ipv4/conf/eth0/arp_filter) == 1 && $(ip netns exec "$NS" cat /proc/sys/net/ipv4/conf/eth0/promote_secondaries) == 1 ]]; echo $?)"
stop vmac
check "stop deletes the VMAC and restores the sysctls" "$(! ip -n "$NS" link show vrrp.55 >/dev/null 2>&1 &&
    [[ $(ip netns exec "$NS" cat /proc/sys/net/ipv4/conf/eth0/arp_filter) == 0 && $(ip netns exec "$NS" cat /proc/sys/net/ipv4/conf/eth0/promote_secondaries) == 0 ]]; echo $?)"

# --- routes and rules: static ones at start, virtual ones with the VIPs, all gone at stop --
cat >"$TMP/keepalived.conf" <<CONF
global_defs {
    script_user nobody
}
static_routes {
    10.99.50.0/24 dev eth1
}
static_rules {
    from 10.99.60.0/24 table 100 preference 1000
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 56
    virtual_ipaddress {
        10.99.0.56/24
    }
    virtual_routes {
        10.99.70.0/24 dev eth0 metric 5
    }
    virtual_rules {
        to 10.99.72.0/24 table 200 preference 2000
    }
}
CONF
start routes 'Startup complete' KEEPALIVED_RS_TEST_FAULT=vrrp:add-vips
check "static route and rule set at start (proto keepalived)" "$(ip -n "$NS" route show 10.99.50.0/24 | has -E 'dev eth1 proto (keepalived|18)' &&
    ip -n "$NS" rule show | has '^1000:.*from 10.99.60.0/24 lookup 100'; echo $?)" "$TMP/routes.log"
check "virtual route and rule set with the VIPs" "$(wait_for 1 "$TMP/routes.log" '\(VI_1\) setting VIPs' 5 &&
    ip -n "$NS" route show 10.99.70.0/24 | has 'metric 5' && ip -n "$NS" rule show | has '^2000:.*to 10.99.72.0/24 lookup 200'; echo $?)" "$TMP/routes.log"
stop routes
check "stop removes routes and rules" "$(! ip -n "$NS" route show table all | has -E '10\.99\.(50|70)\.' && ! ip -n "$NS" rule show | has -E '^(1000|2000):'; echo $?)"

# --- MISC_CHECK: the checker asks, the parent runs the real server's script as script_user --
cat >"$TMP/keepalived.conf" <<CONF
global_defs {
    script_user nobody
    enable_script_security
}
virtual_server 10.99.0.80 80 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    real_server 10.99.0.81 80 {
        MISC_CHECK {
            misc_path "$TMP/record.sh misc"
        }
    }
}
CONF
start misc 'Startup complete' KEEPALIVED_RS_TEST_FAULT=checker:misc
check "MISC_CHECK asked for by the checker ran as nobody with no capabilities" "$(wait_for 1 "$TMP/out/record.log" '^misc uid=65534 CapEff:0000000000000000$' 5; echo $?)"
stop misc

# --- notify scripts of one instance: event order; a slow one holds the next for 5 s at most --
cat >"$TMP/notify.sh" <<'SH'
#!/bin/sh
# notify.sh NAME SECONDS: record the start, take SECONDS, record the end.
echo "start $1" >>"$(dirname "$0")/out/notify.log"
sleep "$2"
echo "end $1" >>"$(dirname "$0")/out/notify.log"
SH
chmod 755 "$TMP/notify.sh"
cat >"$TMP/keepalived.conf" <<CONF
global_defs {
    script_user nobody
    enable_script_security
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 57
    virtual_ipaddress {
        10.99.0.57
    }
    notify_master "$TMP/notify.sh master 6"
    notify_backup "$TMP/notify.sh backup 0"
}
CONF
start notify 'Startup complete' KEEPALIVED_RS_TEST_FAULT=vrrp:notify
check "a notify script still running after 5 s lets the next start, with a log line" "$(wait_for 1 "$TMP/notify.log" 'notify script still running after 5 s' 8 &&
    wait_for 2 "$TMP/out/notify.log" '^end backup' 5; echo $?)"
check "notify scripts start in event order and are not killed" "$(wait_for 1 "$TMP/out/notify.log" '^end master' 5 &&
    [[ $(grep '^start' "$TMP/out/notify.log" | tr '\n' ' ') == "start master start backup start backup " ]]; echo $?)"
stop notify

# --- reloads that need a child, or sockets, the daemon did not start with ------------------
# grow_conf PARTS...: vrrp (VI_1, IPv4), vs (a virtual_server), v6 (VI_6, VRRPv3 over IPv6).
grow_conf() {
    local part
    for part in "$@"; do
        case $part in
        vrrp) printf 'vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 60\n priority 150\n advert_int 1\n virtual_ipaddress {\n  10.99.0.60/24\n }\n}\n' ;;
        v6) printf 'vrrp_instance VI_6 {\n version 3\n interface eth0\n virtual_router_id 61\n priority 150\n advert_int 1\n virtual_ipaddress {\n  fd99::61/64\n }\n}\n' ;;
        vs) printf 'virtual_server 10.99.0.60 80 {\n protocol TCP\n real_server 10.99.0.2 80 {\n  TCP_CHECK {\n   connect_timeout 1\n  }\n }\n}\n' ;;
        esac
    done >"$TMP/keepalived.conf"
}
ip -n "$NS" addr add 10.99.0.1/24 dev eth0   # VRRPv2 over IPv4 needs a source address
grow_conf vrrp
start grow 'Startup complete'
check "VRRP only at start: no checker child" "$(wait_for 1 "$TMP/grow.log" '\(VI_1\) Entering MASTER STATE' 10 && [[ ! -e $TMP/grow.check.pid ]]; echo $?)"
grow_conf vrrp vs
kill -HUP "$(cat "$TMP/grow.pid")"
check "a reload adding the first virtual_server starts the checker child (as keepalived)" "$(wait_for 1 "$TMP/grow.log" 'Starting Healthcheck child process' 5 &&
    wait_for 1 "$TMP/grow.log" 'Healthcheck child process ready' 5 && kill -0 "$(cat "$TMP/grow.check.pid")"; echo $?)"
V1=$(cat "$TMP/grow.vrrp.pid")
grow_conf vrrp vs v6
kill -HUP "$(cat "$TMP/grow.pid")"
check "a reload adding the first IPv6 instance gives a new VRRP child the IPv6 socket" "$(wait_for 1 "$TMP/grow.log" 'sockets the VRRP child lacks' 5 &&
    wait_for 2 "$TMP/grow.log" 'Starting VRRP child process' 5 && [[ $(cat "$TMP/grow.vrrp.pid") != "$V1" ]]; echo $?)"
check "the new IPv6 instance becomes MASTER with its VIP" "$(wait_for 1 "$TMP/grow.log" '\(VI_6\) Entering MASTER STATE' 10 &&
    ip -n "$NS" -6 addr show dev eth0 | has 'inet6 fd99::61/64'; echo $?)"
check "the IPv4 instance kept its VIP through the restart, with no transition (only BACKUP at start, then MASTER)" "$(ip -n "$NS" -4 addr show dev eth0 | has 'inet 10.99.0.60/24' &&
    ! grep -q '(VI_1) removing VIPs' "$TMP/grow.log" && [[ $(grep -c '(VI_1) Entering' "$TMP/grow.log") == 2 ]]; echo $?)"
stop grow
grow_conf vs
start growv 'Startup complete'
check "checker only at start: no VRRP child" "$([[ ! -e $TMP/growv.vrrp.pid ]] && ! grep -q 'Starting VRRP child' "$TMP/growv.log"; echo $?)"
grow_conf vs vrrp
kill -HUP "$(cat "$TMP/growv.pid")"
check "checker only at start, a reload adding a vrrp_instance starts the VRRP child, which takes the VIP" "$(wait_for 1 "$TMP/growv.log" 'Starting VRRP child process' 5 && wait_for 1 "$TMP/growv.log" '\(VI_1\) Entering MASTER STATE' 10 &&
    ip -n "$NS" -4 addr show dev eth0 | has 'inet 10.99.0.60/24'; echo $?)"
stop growv
ip -n "$NS" addr del 10.99.0.1/24 dev eth0

echo "process-model: $passed passed, $failed failed"
((failed == 0))

# Helpers for tests/ipvs payloads: `. /etc/ipvs-vm/lib.sh` (POSIX sh plus `local`; /bin/sh is dash).
# shellcheck shell=dash disable=SC2034
# (SC2034: LAST_PID, STOP_MS, CHANGES... are set for the payloads)
#
# Functions keep their variables local (dash has `local`).
# Conventions: every process a helper starts is recorded by pid (STARTED_PIDS,
# and the helper sets LAST_PID); stop them with stop_pids PID... (never by name).
# Times are milliseconds since boot from /proc/uptime (10 ms resolution; under
# TCG the guest clock follows real time).

STARTED_PIDS=""

now_ms() {
    read -r _up _ < /proc/uptime
    _s=${_up%.*} _f=${_up#*.}
    echo $(( _s * 1000 + ${_f#0} * 10 ))
}

log() {
    read -r _up _ < /proc/uptime
    echo "[$_up] $*"
}

# ms_to_s 1234 -> 1.23
ms_to_s() { printf '%d.%02d' $(( $1 / 1000 )) $(( ($1 % 1000) / 10 )); }

# wait_until TIMEOUT_MS CMD...: poll CMD until it
# succeeds (every 50 ms): 0, or 1 after TIMEOUT_MS. WAITED_MS is the time it took.
wait_until() {
    local _lim _t0
    _lim=$1; shift
    _t0=$(now_ms)
    while :; do
        if "$@" >/dev/null 2>&1; then WAITED_MS=$(( $(now_ms) - _t0 )); return 0; fi
        WAITED_MS=$(( $(now_ms) - _t0 ))
        [ "$WAITED_MS" -ge "$_lim" ] && return 1
        sleep 0.05
    done
}

# ---------------------------------------------------------------- processes ---

# track PID: remember a pid this payload started
track() { LAST_PID=$1; STARTED_PIDS="$STARTED_PIDS $1"; }

# stop_pids PID...: SIGTERM, up to 10 s for each to exit, then SIGKILL; reaps them.
stop_pids() {
    local _p _n
    for _p in "$@"; do kill -TERM "$_p" 2>/dev/null; done
    for _p in "$@"; do
        _n=0
        while kill -0 "$_p" 2>/dev/null && [ $_n -lt 200 ]; do
            # a zombie child of ours counts as gone once wait reaps it
            case $(cut -d' ' -f3 "/proc/$_p/stat" 2>/dev/null) in Z) break ;; esac
            sleep 0.05; _n=$((_n + 1))
        done
        kill -KILL "$_p" 2>/dev/null
        wait "$_p" 2>/dev/null
        STARTED_PIDS=$(echo " $STARTED_PIDS " | sed "s/ $_p / /")
    done
}

# stop_all: everything still recorded in STARTED_PIDS (end of a payload)
stop_all() {
    # shellcheck disable=SC2086
    [ -n "${STARTED_PIDS# }" ] && stop_pids $STARTED_PIDS
    STARTED_PIDS=""
}

# ------------------------------------------------------------------ network ---
# A "site" is a load balancer namespace NAME and its real-server namespace
# NAME-rs, joined by a veth pair. Every site has the same addressing:
#   NAME    eth1 10.99.255.1/24, fd99::1:0:1/128, fe80::1
#           10.99.0.0/17 via 10.99.255.2, fd99::/96 via fe80::2
#   NAME-rs eth0 10.99.255.2/24, fe80::2; 10.99.0.0/17 and fd99::/96 are local
#           routes on lo (AnyIP: every real-server address exists, and a server
#           is "down" when nothing listens on its ADDR:PORT -> RST), nonlocal bind on
# so one config runs unchanged on every site. Only 10.99.0.0/16 and fd99::/64 are used.
site_create() {
    local _lb _rs _ns
    _lb=$1 _rs=$1-rs
    ip netns add "$_lb"
    ip netns add "$_rs"
    ip -n "$_lb" link set lo up
    ip -n "$_rs" link set lo up
    ip -n "$_lb" link add eth1 type veth peer name eth0 netns "$_rs"
    for _ns in "$_lb" "$_rs"; do
        ip netns exec "$_ns" sh -c 'echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad' 2>/dev/null
    done
    ip -n "$_lb" addr add 10.99.255.1/24 dev eth1
    ip -n "$_lb" addr add fe80::1/64 dev eth1 nodad
    ip -n "$_lb" addr add fd99::1:0:1/128 dev eth1 nodad
    ip -n "$_lb" link set eth1 up
    ip -n "$_rs" addr add 10.99.255.2/24 dev eth0
    ip -n "$_rs" addr add fe80::2/64 dev eth0 nodad
    ip -n "$_rs" link set eth0 up
    ip -n "$_lb" route add 10.99.0.0/17 via 10.99.255.2
    ip -n "$_lb" -6 route add fd99::/96 via fe80::2 dev eth1
    ip -n "$_rs" route add local 10.99.0.0/17 dev lo
    ip -n "$_rs" -6 route add local fd99::/96 dev lo
    ip -n "$_rs" -6 route add fd99::1:0:1/128 via fe80::1 dev eth0
    ip netns exec "$_rs" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind; echo 1 > /proc/sys/net/ipv6/ip_nonlocal_bind'
}

site_delete() { ip netns del "$1" 2>/dev/null; ip netns del "$1-rs" 2>/dev/null; }

# --------------------------------------------------------------- real servers ---
# Each starts one listener in namespace NS and waits until it accepts (from the
# site's LB namespace, NS without -rs); LAST_PID is its pid.

# rs_http NS ADDR PORT DOCROOT: busybox httpd serving DOCROOT (known files)
rs_http() {
    local _hp
    case $2 in *:*) _hp="[$2]:$3" ;; *) _hp="$2:$3" ;; esac
    ip netns exec "$1" httpd -f -p "$_hp" -h "$4" >> "/tmp/rs-$1.log" 2>&1 &
    track $!
    _rs_ready "$1" "$2" "$3"
}

# rs_tcp / rs_smtp / rs_udp NS ADDR PORT: the rsd helper (accept+close; SMTP dialogue; UDP echo)
rs_tcp()  { _rsd tcp "$@"; }
rs_smtp() { _rsd smtp "$@"; }
rs_udp()  { _rsd udp "$@"; }
_rsd() {
    ip netns exec "$2" "${RSD:-/payload/bin/rsd}" "$1" "$3" "$4" >> "/tmp/rs-$2.log" 2>&1 &
    track $!
    [ "$1" = udp ] && { wait_until 3000 _udp_bound "$2" "$4"; return; }
    _rs_ready "$2" "$3" "$4"
}

# rs_tls NS ADDR PORT DOCROOT CERT KEY: openssl s_server -WWW (files relative to DOCROOT)
rs_tls() {
    local _hp
    case $2 in *:*) _hp="[$2]:$3" ;; *) _hp="$2:$3" ;; esac
    (cd "$4" && exec ip netns exec "$1" openssl s_server -quiet -accept "$_hp" -WWW -cert "$5" -key "$6" \
        >> "/tmp/rs-$1.log" 2>&1 < /dev/null) &
    track $!
    _rs_ready "$1" "$2" "$3"
}

# _rs_ready NS ADDR PORT: the listener is in LISTEN state (its namespace's /proc/net/tcp[6])
_rs_ready() { wait_until 10000 tcp_listening "$@" || { log "listener $2:$3 in $1 did not come up"; return 1; }; }
tcp_listening() {
    local _hx
    _hx=$(hexport "$3")
    ip netns exec "$1" cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        awk -v p=":$_hx" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }'
}
_udp_bound() { ip netns exec "$1" cat /proc/net/udp /proc/net/udp6 | grep -q ":$(hexport "$2") "; }
hexport() { printf '%04X' "$1"; }

# --------------------------------------------------------------------- IPVS ---

# ipvs_save NS: the table of NS, as `ipvsadm -Sn | sort`
ipvs_save() { ip netns exec "$1" ipvsadm -Sn | sort; }

# ipvs_counts NS: "VS RS" numbers of NS's table (from /proc/net/ip_vs)
ipvs_counts() {
    ip netns exec "$1" cat /proc/net/ip_vs | awk '/^(TCP|UDP|SCTP|FWM) / { v++ } /->/ { r++ } END { print v + 0, r - 1 }'
}

# hex4 A.B.C.D:PORT -> 0A630102:0050 (the form of /proc/net/ip_vs)
hex4() {
    local _a
    _a=${1%:*}
    # shellcheck disable=SC2046,SC2183
    printf '%02X%02X%02X%02X:%04X' $(echo "$_a" | tr . ' ') "${1##*:}"
}

# rs_weight PROTO VIP:PORT RS:PORT: prints the real server's weight, or "absent",
# from /proc/net/ip_vs of the current namespace (IPv4 only); no fork.
rs_weight() {
    local _svc _dst _in _w _a _b _c _d _
    _svc=$(hex4 "$2") _dst=$(hex4 "$3") _in=0 _w=absent
    while read -r _a _b _c _d _; do
        case $_a in
            TCP|UDP|SCTP|FWM) if [ "$_a $_b" = "$1 $_svc" ]; then _in=1; else _in=0; fi ;;
            "->") [ $_in = 1 ] && [ "$_b" = "$_dst" ] && _w=$_d ;;
        esac
    done < /proc/net/ip_vs
    echo "$_w"
}

# watch_rs NS PROTO VIP:PORT RS:PORT WANT T0_MS LIMIT_MS OUTFILE &
# In namespace NS, polls /proc/net/ip_vs every 20 ms until the real server is
# WANT (gone = absent or weight 0; serving = present with weight > 0), then
# writes the ms since T0_MS (or "timeout") to OUTFILE.
watch_rs() {
    ip netns exec "$1" sh -c '. /etc/ipvs-vm/lib.sh; _watch "$@"' watch "$2" "$3" "$4" "$5" "$6" "$7" "$8"
}
_watch() {
    local _w
    while :; do
        _w=$(rs_weight "$1" "$2" "$3")
        case $4,$_w in
            gone,absent|gone,0|serving,[1-9]*) echo $(( $(now_ms) - $5 )) > "$7"; return 0 ;;
        esac
        [ $(( $(now_ms) - $5 )) -ge "$6" ] && { echo timeout > "$7"; return 1; }
        sleep 0.02
    done
}

# ------------------------------------------------------------------ daemons ---
# daemon_start WHO NS TAG CONF [FLAGS...]: run a keepalived in namespace NS, checker
# only, in the foreground, logging to the console (no syslog in the VM), with
# pid files /run/TAG.pid, /run/TAG-checkers.pid, /run/TAG-vrrp.pid and its log
# appended to /tmp/TAG.log. WHO: ka = Debian's keepalived, ours = keepalived-rs.
# LAST_PID is the daemon's (parent's) pid.
daemon_start() {
    local _bin _ns _tag _conf
    case $1 in
        ka) _bin=${KA_BIN:-keepalived} ;;
        ours) _bin=${OURS_BIN:-/usr/local/sbin/keepalived-rs} ;;
        *) echo "daemon_start: WHO is ka or ours" >&2; return 2 ;;
    esac
    _ns=$2 _tag=$3 _conf=$4; shift 4
    rm -f "/run/$_tag.pid" "/run/$_tag-checkers.pid" "/run/$_tag-vrrp.pid"
    echo "=== $(now_ms) ms: start $_bin $*" >> "/tmp/$_tag.log"
    ip netns exec "$_ns" "$_bin" --dont-fork --log-console --no-syslog --check "$@" \
        -f "$_conf" -p "/run/$_tag.pid" -c "/run/$_tag-checkers.pid" -r "/run/$_tag-vrrp.pid" \
        >> "/tmp/$_tag.log" 2>&1 < /dev/null &
    track $!
}

# daemon_stop PID [SIGNAL] [LIMIT_MS]: signal (default TERM) and wait for the exit;
# 0 if it exited within LIMIT_MS (default 60000), 1 if it had to be SIGKILLed.
# STOP_MS is how long it took.
daemon_stop() {
    local _t0 _r
    _t0=$(now_ms)
    kill "-${2:-TERM}" "$1" 2>/dev/null
    if wait_until "${3:-60000}" _exited "$1"; then _r=0; else _r=1; kill -KILL "$1" 2>/dev/null; fi
    wait "$1" 2>/dev/null
    STOP_MS=$(( $(now_ms) - _t0 ))
    STARTED_PIDS=$(echo " $STARTED_PIDS " | sed "s/ $1 / /")
    return $_r
}
_exited() { ! kill -0 "$1" 2>/dev/null || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]; }

# -------------------------------------------------------------- IPVS changes ---
# The kernel's own count of IPVS changes, from kprobes on ip_vs.ko's mutating
# functions: successful ip_vs_add_service / ip_vs_edit_service / ip_vs_add_dest /
# ip_vs_edit_dest (kretprobes, return 0 only), every ip_vs_unlink_service (a
# service deleted, by DEL_SERVICE or FLUSH), __ip_vs_del_dest (a destination
# deleted), ip_vs_zero_service / ip_vs_zero_all, ip_vs_set_timeout. An add of
# something that exists (EEXIST) is not a change. Requests through netlink and
# the old sockopt interface end in the same functions. The count is for every
# namespace: keep other daemons quiet while counting.
TRACE=/sys/kernel/tracing
changes_arm() {
    local _f
    [ -w $TRACE/kprobe_events ] || { echo "changes_arm: no tracefs/kprobe_events" >&2; return 1; }
    echo 0 > $TRACE/tracing_on
    for _f in add_service edit_service add_dest edit_dest set_timeout; do
        echo "r:ipvs/$_f ip_vs:ip_vs_$_f ret=\$retval:s32" >> $TRACE/kprobe_events || return 1
        echo 'ret == 0' > "$TRACE/events/ipvs/$_f/filter"
    done
    for _f in unlink_service:ip_vs_unlink_service del_dest:__ip_vs_del_dest \
              zero_service:ip_vs_zero_service zero_all:ip_vs_zero_all; do
        echo "p:ipvs/${_f%%:*} ip_vs:${_f#*:}" >> $TRACE/kprobe_events || return 1
    done
    echo 1 > $TRACE/events/ipvs/enable
    echo 4096 > $TRACE/buffer_size_kb
    : > $TRACE/trace
    echo 1 > $TRACE/tracing_on
}
changes_reset() { : > $TRACE/trace; }
# changes_count: sets CHANGES (number of changes since the last reset) and
# CHANGES_WHAT (them by kind, "add_dest x2, edit_dest x1")
changes_count() {
    grep -v '^#' $TRACE/trace > /tmp/changes.trace
    CHANGES=$(wc -l < /tmp/changes.trace)
    CHANGES_WHAT=$(sed -n 's/.* \([a-z_]*\): (.*/\1/p' /tmp/changes.trace | sort | uniq -c |
        awk '{ printf "%s%s x%s", s, $2, $1; s = ", " }')
}

#!/bin/sh
# shellcheck shell=dash
# The guest side of tests/ipvs-vm.sh (which stages this directory with the
# configs, the web pages, a TLS certificate and the rsd helper, and boots it
# with tests/ipvs/vm.sh).
#
# Usage (in the guest): run.sh quick|full[,break] SCENARIO... [-- PHASE...]
#   ,break    self-test: ours runs each scenario with one weight changed (must fail)
#   SCENARIO  a config name in configs/ (without .conf), compared side by side
#   PHASE     timing restart stop10k bfd (default: all four)
#
# Two sites with the same addressing (lib.sh site_create): netns "ka" + "ka-rs"
# runs Debian's keepalived, netns "ours" + "ours-rs" runs keepalived-rs. Every
# check prints one "ok - ..." or "not ok - ..." line.
# shellcheck source-path=SCRIPTDIR source=../guest/lib.sh
. /etc/ipvs-vm/lib.sh

MODE=${1%,break}; BREAK=""; [ "$1" != "$MODE" ] && BREAK=1; shift
SCENARIOS=""
while [ $# -gt 0 ] && [ "$1" != -- ]; do SCENARIOS="$SCENARIOS $1"; shift; done
[ "${1:-}" = -- ] && shift
PHASES=${*:-timing restart stop10k bfd}     # "none": no phase
REPS=1; [ "$MODE" = full ] && REPS=2
SITES="ka ours"
CONF=/payload/configs
mkdir -p /out/tables /out/logs /out/configs

PASS=0 FAIL=0
ok()     { PASS=$((PASS + 1)); echo "ok - $*"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
check()  { _what=$1; shift; if "$@"; then ok "$_what"; else not_ok "$_what"; fi; }
note()   { echo "# $*"; }

for s in $SITES; do
    site_create "$s"
    rm -rf "/srv/$s"; mkdir -p "/srv/$s"; cp -a /payload/www "/srv/$s/www"
done
changes_arm || note "no kprobe change counter: the restart checks will fail"
note "keepalived: $(keepalived --version 2>&1 | head -1); ours: $(keepalived-rs --version 2>&1 | head -1)"
if cmp -s /usr/local/sbin/keepalived-rs "$(command -v keepalived)"; then
    note "NOTE: 'ours' is Debian's keepalived (a harness self-test)"
fi

# ------------------------------------------------------------- scenario parts ---

# serve_config CONF SITE: start the real servers the config's "# ipvs-test serve" lines name
serve_config() {
    grep '^# ipvs-test serve ' "$1" > /tmp/serve.list
    while read -r _ _ _ kind addr port; do
        case $kind in
            http) rs_http "$2-rs" "$addr" "$port" "/srv/$2/www" ;;
            tls)  rs_tls "$2-rs" "$addr" "$port" "/srv/$2/www" /payload/tls/cert.pem /payload/tls/key.pem ;;
            tcp|smtp|udp) "rs_$kind" "$2-rs" "$addr" "$port" ;;
            *) echo "unknown server kind $kind in $1" >&2 ;;
        esac
        echo "$LAST_PID" >> "/tmp/servers-$2"
    done < /tmp/serve.list
}
# setup_config CONF [later-]: do what its "# ipvs-test [later-]file PATH CONTENT" and
# "# ipvs-test [later-]addr ADDR/LEN" lines say (without later-: before the daemons
# start; with: after the first comparison). file: write PATH world-readable (our
# checker reads it with its own uid); addr: add ADDR/LEN to lo of each LB namespace.
setup_config() {
    grep -E "^# ipvs-test ${2:-}(file|addr) " "$1" > /tmp/setup.list
    while read -r _ _ what a b; do
        case ${what#later-} in
            file) mkdir -p "${a%/*}"; chmod 755 "${a%/*}"; echo "$b" > "$a"; chmod 644 "$a" ;;
            addr) for _s in $SITES; do ip -n "$_s" addr add "$a" dev lo; done ;;
        esac
    done < /tmp/setup.list
}
# unsetup_config CONF: remove the addresses setup_config added
unsetup_config() {
    grep -E '^# ipvs-test (later-)?addr ' "$1" > /tmp/setup.list
    while read -r _ _ _ a _; do
        for _s in $SITES; do ip -n "$_s" addr del "$a" dev lo 2>/dev/null; done
    done < /tmp/setup.list
}
# unserve: stop the real servers of every site (their pids are in /tmp/servers-SITE)
unserve() {
    for _s in $SITES; do
        [ -f "/tmp/servers-$_s" ] || continue
        # shellcheck disable=SC2046
        stop_pids $(cat "/tmp/servers-$_s")
        rm -f "/tmp/servers-$_s"
    done
}

# config_times CONF: sets SETTLE_B (ms by which every checker has run once and a
# failing one has used its retries: largest delay_loop (= the largest warmup) +
# largest retry x largest delay_before_retry + 1 s) and SETTLE_W (ms the table
# must then stay unchanged: 2 x the largest delay_loop). Defaults as
# keepalived's: retry 1, delay_before_retry 3 s (HTTP), delay_loop 60 s.
config_times() {
    # shellcheck disable=SC2046
    set -- $(awk '
        { sub(/[#!].*/, "") }
        $1 == "delay_loop" && $2 + 0 > dl { dl = $2 + 0 }
        ($1 == "retry" || $1 == "nb_get_retry") && $2 + 0 > r { r = $2 + 0 }
        $1 == "delay_before_retry" && $2 + 0 > d { d = $2 + 0 }
        END { if (!dl) dl = 60; if (!r) r = 1; if (!d) d = 3; print dl, r, d }' "$1")
    SETTLE_B=$(( ($1 + $2 * $3 + 1) * 1000 ))
    SETTLE_W=$(( 2 * $1 * 1000 ))
}

# settle LIMIT_MS SITE...: wait until each SITE's table has been unchanged for
# SETTLE_W ms, counted from no earlier than SETTLE_B ms after the call (the
# daemons were started just before). Polls `ipvsadm -Sn | sort` every ~250 ms.
# Sets SETTLED_<site> to the ms when it was last seen changing (or "no" when the
# limit ran out) and returns 1 if any site did not settle.
settle() {
    local _lim _t0 _now _all _s _c _from
    _lim=$1; shift
    _t0=$(now_ms)
    for _s in "$@"; do ipvs_save "$_s" > "/tmp/settle-$_s"; eval "_chg_$_s=0 SETTLED_$_s=no"; done
    while :; do
        _now=$(( $(now_ms) - _t0 )) _all=1
        for _s in "$@"; do
            ipvs_save "$_s" > "/tmp/settle-$_s.new"
            if ! cmp -s "/tmp/settle-$_s" "/tmp/settle-$_s.new"; then
                mv "/tmp/settle-$_s.new" "/tmp/settle-$_s"; eval "_chg_$_s=$_now"
            fi
            eval "_c=\$_chg_$_s"
            _from=$_c; [ "$_from" -lt "$SETTLE_B" ] && _from=$SETTLE_B
            if [ $(( _now - _from )) -ge "$SETTLE_W" ]; then eval "SETTLED_$_s=$_c"; else eval "SETTLED_$_s=no"; _all=0; fi
        done
        [ $_all = 1 ] && return 0
        [ "$_now" -ge "$_lim" ] && return 1
        sleep 0.25
    done
}

table_empty() { [ "$(ipvs_counts "$1")" = "0 0" ]; }

# ------------------------------------------------------------------ scenarios ---
# For each: both daemons start on the same config, settle, and `ipvsadm -Sn | sort`
# of ours must equal keepalived's; keepalived's must equal configs/NAME.expect
# (reviewed by hand: the harness and the config say what they mean); then both
# stop (SIGTERM) and must leave their tables empty.
# compare_tables NAME [SUFFIX]: settle both sites, then ours must equal keepalived's
# and keepalived's NAME[SUFFIX].expect where there is one; tables in /out/tables
compare_tables() {
    _n=$1 _sfx=${2:-}
    settle 90000 ka ours
    # shellcheck disable=SC2154  # (set by settle through eval)
    note "$_n$_sfx: settled (last change seen) keepalived ${SETTLED_ka} ms, ours ${SETTLED_ours} ms (B $SETTLE_B ms, W $SETTLE_W ms)"
    for s in $SITES; do ipvs_save "$s" > "/out/tables/$_n$_sfx.$s"; done
    if [ -f "$CONF/$_n$_sfx.expect" ]; then
        if diff -u "$CONF/$_n$_sfx.expect" "/out/tables/$_n$_sfx.ka" > /tmp/diff; then
            ok "$_n$_sfx: keepalived's table is $_n$_sfx.expect ($(ipvs_counts ka | awk '{ print $1 " services, " $2 " real servers" }'))"
        else
            not_ok "$_n$_sfx: keepalived's table differs from $_n$_sfx.expect (harness or config problem)"; sed 's/^/#   /' /tmp/diff
        fi
    fi
    if diff -u "/out/tables/$_n$_sfx.ka" "/out/tables/$_n$_sfx.ours" > /tmp/diff; then
        ok "$_n$_sfx: ipvsadm -Sn of ours equals keepalived's ($(wc -l < "/out/tables/$_n$_sfx.ka") lines)"
    else
        not_ok "$_n$_sfx: ipvsadm -Sn of ours differs from keepalived's (- keepalived, + ours)"; sed 's/^/#   /' /tmp/diff
    fi
}

run_scenario() {
    _n=$1 _c=$CONF/$1.conf
    [ -f "$_c" ] || { not_ok "$_n: no such scenario"; return; }
    log "=== scenario $_n"
    cp "$_c" "/out/configs/$_n.conf"
    for s in $SITES; do : > "/tmp/servers-$s"; serve_config "$_c" "$s"; done
    setup_config "$_c"
    config_times "$_c"
    # @SITE@ in a config is the site's name (its own FIFO paths, for instance)
    _kc=/tmp/ka-$_n.conf _oc=/tmp/ours-$_n.conf
    sed 's/@SITE@/ka/g' "$_c" > "$_kc"
    sed 's/@SITE@/ours/g' "$_c" > "$_oc"
    grep '^# ipvs-test fifo ' "$_c" | while read -r _ _ _ path; do
        rm -f "$(echo "$path" | sed 's/@SITE@/ka/g').log" "$(echo "$path" | sed 's/@SITE@/ours/g').log"
    done
    daemon_start ka ka "ka-$_n" "$_kc"; KA=$LAST_PID
    if [ -n "$BREAK" ]; then    # harness self-test: ours gets a config with one weight changed
        awk '!done && $1 == "weight" { $2 = $2 + 1; done = 1 } { print }' "$_oc" > "$_oc.broken"
        mv "$_oc.broken" "$_oc"
    fi
    daemon_start ours ours "ours-$_n" "$_oc"; OURS=$LAST_PID
    compare_tables "$_n"
    if grep -q '^# ipvs-test later-' "$_c"; then
        setup_config "$_c" later-
        compare_tables "$_n" .later
    fi
    if kill -0 "$OURS" 2>/dev/null; then :; else not_ok "$_n: our daemon exited by itself"; fi
    daemon_stop "$KA" TERM 30000 || note "$_n: keepalived did not stop within 30 s"
    daemon_stop "$OURS" TERM 30000 || not_ok "$_n: our daemon did not stop within 30 s of SIGTERM"
    check "$_n: keepalived's stop emptied its table" table_empty ka
    # not vacuous: an empty table before the stop is no evidence
    if [ -s "/out/tables/$_n.ours" ]; then
        check "$_n: our stop emptied our table ($(wc -l < "/out/tables/$_n.ours") lines before)" table_empty ours
    else
        not_ok "$_n: our stop emptied our table (there was no table to empty)"
    fi
    # "# ipvs-test fifo PATH": the lines the FIFO's script saved in PATH.log, sorted
    # (servers of one round change in any order), ours must equal keepalived's
    grep '^# ipvs-test fifo ' "$_c" > /tmp/fifos.list
    while read -r _ _ _ path; do
        sleep 0.5    # the scripts copy the last lines out
        for s in $SITES; do
            sort "$(echo "$path" | sed "s/@SITE@/$s/g").log" > "/out/tables/$_n.fifo.$s" 2>/dev/null
        done
        if [ ! -s "/out/tables/$_n.fifo.ka" ]; then
            not_ok "$_n: keepalived wrote nothing to $path"
        elif diff -u "/out/tables/$_n.fifo.ka" "/out/tables/$_n.fifo.ours" > /tmp/diff; then
            ok "$_n: our FIFO lines equal keepalived's ($(wc -l < "/out/tables/$_n.fifo.ka") lines)"
        else
            not_ok "$_n: our FIFO lines differ from keepalived's (- keepalived, + ours)"; sed 's/^/#   /' /tmp/diff
        fi
    done < /tmp/fifos.list
    unserve
    unsetup_config "$_c"
    for s in $SITES; do
        ip netns exec "$s" ipvsadm -C
        cp "/tmp/$s-$_n.log" "/out/logs/$s-$_n.log" 2>/dev/null
    done
}

for sc in $SCENARIOS; do run_scenario "$sc"; done

# ------------------------------------------------------------- failure times ---
# timing.conf on both sites. For each case, the fault is made on both sites
# (each timed from its own fault), then a watcher per site polls /proc/net/ip_vs
# every 20 ms until the real server is gone (absent, or weight 0 with inhibit);
# then repaired (timed from when the port listens again / the body is back),
# until it serves again.
T_ROWS=/tmp/timing-rows
: > $T_ROWS
VIP_TCP=10.99.1.100:80 RS_TCP=10.99.5.1:80
VIP_HTTP=10.99.1.101:80 RS_HTTP=10.99.5.2:80
VIP_DIG=10.99.1.102:80 RS_DIG=10.99.5.3:80
VIP_INH=10.99.1.103:80 RS_INH=10.99.5.4:80

# listener pids per site and real server, for closing one port
listener_pid() { sed -n "s/^$2 $3 //p" "/tmp/timing-listeners-$1"; }

fault() { # fault CASE SITE
    case $1 in
        tcp-close)  stop_pids "$(listener_pid "$2" tcp "$RS_TCP")" ;;
        http-close) stop_pids "$(listener_pid "$2" http "$RS_HTTP")" ;;
        inhibit)    stop_pids "$(listener_pid "$2" tcp "$RS_INH")" ;;
        digest)     echo "probe: sick" > "/srv/$2/www/probe.html" ;;
        tcp-timeout) # SYNs to 10.99.5.1 go to a MAC nobody has: connects time out
            ip -n "$2" neigh replace 10.99.255.99 lladdr 02:00:00:00:00:99 dev eth1 nud permanent
            ip -n "$2" route replace 10.99.5.1/32 via 10.99.255.99 ;;
    esac
}
repair() { # repair CASE SITE: returns when the server listens again
    case $1 in
        tcp-close)  rs_tcp "$2-rs" "${RS_TCP%:*}" 80;  sed -i "/^tcp $RS_TCP /d" "/tmp/timing-listeners-$2"; echo "tcp $RS_TCP $LAST_PID" >> "/tmp/timing-listeners-$2" ;;
        inhibit)    rs_tcp "$2-rs" "${RS_INH%:*}" 80;  sed -i "/^tcp $RS_INH /d" "/tmp/timing-listeners-$2"; echo "tcp $RS_INH $LAST_PID" >> "/tmp/timing-listeners-$2" ;;
        http-close) rs_http "$2-rs" "${RS_HTTP%:*}" 80 "/srv/$2/www"; sed -i "/^http $RS_HTTP /d" "/tmp/timing-listeners-$2"; echo "http $RS_HTTP $LAST_PID" >> "/tmp/timing-listeners-$2" ;;
        digest)     cp /payload/www/probe.html "/srv/$2/www/probe.html" ;;
        tcp-timeout) ip -n "$2" route del 10.99.5.1/32; ip -n "$2" neigh del 10.99.255.99 dev eth1 ;;
    esac
}

# measure CASE VIP RS BOUND_DOWN_MS BOUND_UP_MS
measure() {
    _case=$1 _vip=$2 _rs=$3 _bd=$4 _bu=$5
    for _i in $(seq 1 "$REPS"); do
        sleep "0.$(( (_i * 37) % 10 ))"        # another phase against the check timers
        # not vacuous: a site whose real server is not serving before the fault is not measured ("n/a")
        _pre=""
        for s in $SITES; do
            # shellcheck disable=SC2016
            _w=$(ip netns exec "$s" sh -c '. /etc/ipvs-vm/lib.sh; rs_weight TCP "$1" "$2"' w "$_vip" "$_rs")
            case $_w in [1-9]*) eval "_ok_$s=1" ;; *) eval "_ok_$s=0"; _pre="$_pre $s:$_w" ;; esac
        done
        for s in $SITES; do
            _t=$(now_ms); fault "$_case" "$s"
            if eval "[ \$_ok_$s = 1 ]"; then
                watch_rs "$s" TCP "$_vip" "$_rs" gone "$_t" 30000 "/tmp/down-$s" &
                eval "_w_$s=\$!"
            else
                echo n/a > "/tmp/down-$s"; eval "_w_$s="
            fi
        done
        for s in $SITES; do eval "[ -z \"\$_w_$s\" ] || wait \$_w_$s"; done
        sleep 0.5
        for s in $SITES; do
            repair "$_case" "$s"; _t=$(now_ms)
            if eval "[ \$_ok_$s = 1 ]"; then
                watch_rs "$s" TCP "$_vip" "$_rs" serving "$_t" 30000 "/tmp/up-$s" &
                eval "_w_$s=\$!"
            else
                echo n/a > "/tmp/up-$s"; eval "_w_$s="
            fi
        done
        for s in $SITES; do eval "[ -z \"\$_w_$s\" ] || wait \$_w_$s"; done
        _kd=$(cat /tmp/down-ka) _od=$(cat /tmp/down-ours) _ku=$(cat /tmp/up-ka) _ou=$(cat /tmp/up-ours)
        fmt() { case $1 in timeout) echo ">30 s" ;; n/a) echo "n/a" ;; *) echo "$(ms_to_s "$1") s" ;; esac; }
        printf '%-28s | %-10s | %-10s | %s\n' "$_case #$_i: gone after" "$(fmt "$_kd")" "$(fmt "$_od")" "$(ms_to_s "$_bd") s" >> $T_ROWS
        printf '%-28s | %-10s | %-10s | %s\n' "$_case #$_i: back after" "$(fmt "$_ku")" "$(fmt "$_ou")" "$(ms_to_s "$_bu") s" >> $T_ROWS
        _within() { case $1 in timeout|n/a) return 1 ;; esac; [ "$1" -le "$2" ]; }
        [ -n "$_pre" ] && _pre=" (not serving before the fault:$_pre)"
        if _within "$_od" "$_bd"; then ok "$_case #$_i: ours removed $_rs within $(ms_to_s "$_bd") s ($(fmt "$_od"); keepalived $(fmt "$_kd"))"
        else not_ok "$_case #$_i: ours removed $_rs within $(ms_to_s "$_bd") s ($(fmt "$_od"); keepalived $(fmt "$_kd"))$_pre"; fi
        if _within "$_ou" "$_bu"; then ok "$_case #$_i: ours restored $_rs within $(ms_to_s "$_bu") s ($(fmt "$_ou"); keepalived $(fmt "$_ku"))"
        else not_ok "$_case #$_i: ours restored $_rs within $(ms_to_s "$_bu") s ($(fmt "$_ou"); keepalived $(fmt "$_ku"))$_pre"; fi
        case $_kd in timeout|n/a) note "$_case: keepalived's time is $_kd (harness problem?)" ;; esac
    done
}

phase_timing() {
    log "=== failure times"
    _c=$CONF/timing.conf
    cp "$_c" /out/configs/timing.conf
    for s in $SITES; do
        : > "/tmp/servers-$s"; : > "/tmp/timing-listeners-$s"
        rs_tcp "$s-rs" "${RS_TCP%:*}" 80;  echo "tcp $RS_TCP $LAST_PID" >> "/tmp/timing-listeners-$s"
        rs_http "$s-rs" "${RS_HTTP%:*}" 80 "/srv/$s/www"; echo "http $RS_HTTP $LAST_PID" >> "/tmp/timing-listeners-$s"
        rs_http "$s-rs" "${RS_DIG%:*}" 80 "/srv/$s/www"; echo "http $RS_DIG $LAST_PID" >> "/tmp/timing-listeners-$s"
        rs_tcp "$s-rs" "${RS_INH%:*}" 80;  echo "tcp $RS_INH $LAST_PID" >> "/tmp/timing-listeners-$s"
    done
    config_times "$_c"
    daemon_start ka ka ka-timing "$_c"; KA=$LAST_PID
    daemon_start ours ours ours-timing "$_c"; OURS=$LAST_PID
    settle 60000 ka ours
    for s in $SITES; do ipvs_save "$s" > "/out/tables/timing.$s"; done
    # gone: delay_loop 2 + retry 1 x delay_before_retry 1 (+ 2 attempts x connect_timeout 2
    #       when connects time out) + 0.5 s
    # back: TCP_CHECK: the next check, delay_loop 2 + 0.5 s; HTTP_GET: keepalived re-adds after
    #       two good checks one delay_loop apart (no fast_recovery): 2 x 2 + 0.5 s
    measure tcp-close "$VIP_TCP" "$RS_TCP" 3500 2500
    measure http-close "$VIP_HTTP" "$RS_HTTP" 3500 4500
    measure digest "$VIP_DIG" "$RS_DIG" 3500 4500
    if [ "$MODE" = full ]; then
        measure inhibit "$VIP_INH" "$RS_INH" 3500 2500
        measure tcp-timeout "$VIP_TCP" "$RS_TCP" 7500 2500
    fi
    daemon_stop "$KA" TERM 30000; daemon_stop "$OURS" TERM 30000
    for s in $SITES; do
        # shellcheck disable=SC2046
        stop_pids $(awk '{ print $3 }' "/tmp/timing-listeners-$s")
        ip netns exec "$s" ipvsadm -C
        cp "/tmp/$s-timing.log" "/out/logs/$s-timing.log" 2>/dev/null
    done
    echo "# failure times (gone = removed, or weight 0 with inhibit_on_failure; back = serving again)"
    printf '# %-28s | %-10s | %-10s | %s\n' scenario keepalived ours bound
    sed 's/^/# /' $T_ROWS
    cp $T_ROWS /out/timing.txt
}

# ---------------------------------------------------- restart over the table ---
# Ours only, keepalived's site idle (the kernel counter sees every namespace).
# kill9_family PID: SIGKILL the parent only, wait until it and its children are gone
kill9_family() {
    _kids=$(for _p in /proc/[0-9]*; do
        [ "$(cut -d' ' -f4 "$_p/stat" 2>/dev/null)" = "$1" ] && echo "${_p#/proc/}"; done)
    kill -KILL "$1"; wait "$1" 2>/dev/null
    for _k in $_kids; do wait_until 10000 _exited "$_k" || note "child $_k survived its parent's SIGKILL"; done
    STARTED_PIDS=$(echo " $STARTED_PIDS " | sed "s/ $1 / /")
}

# start_settled TAG CONF [FLAGS]: start ours, wait until settled; OURS is its pid
start_settled() {
    _tag=$1 _cf=$2; shift 2
    daemon_start ours ours "$_tag" "$_cf" "$@"; OURS=$LAST_PID
    settle 60000 ours || note "$_tag: our table did not settle within 60 s"
}

phase_restart() {
    log "=== restart over a populated table, reload (ours)"
    _c=/tmp/restart.conf
    cp "$CONF/restart.conf" $_c
    cp $_c /out/configs/restart.conf
    : > /tmp/servers-ours
    serve_config $_c ours
    config_times $_c
    start_settled ours-restart $_c --dont-release-ipvs
    ipvs_save ours > /out/tables/restart.before
    if ! cmp -s /out/tables/restart.before "$CONF/restart.expect"; then
        not_ok "restart: our table before the restart is not restart.expect: the restart checks would prove nothing"
        diff -u "$CONF/restart.expect" /out/tables/restart.before | sed 's/^/#   /'
        for _chk in "restart after SIGKILL: zero IPVS changes" "restart after SIGKILL: the table is as before" \
                    "a stop with -I (--dont-release-ipvs) leaves the table" "restart after a stop with -I: zero IPVS changes" \
                    "reload changing one real server's weight: exactly one IPVS change" \
                    "reload: the table differs by that weight only" "restart: our last stop emptied the table"; do
            not_ok "$_chk (not run)"
        done
        daemon_stop "$OURS" TERM 30000
        unserve
        ip netns exec ours ipvsadm -C
        cp /tmp/ours-restart.log /out/logs/ 2>/dev/null
        return
    fi
    ok "restart: our table before the restart is restart.expect ($(ipvs_counts ours | awk '{ print $1 " services, " $2 " real servers" }'))"

    kill9_family "$OURS"
    changes_reset
    start_settled ours-restart $_c --dont-release-ipvs
    changes_count
    ipvs_save ours > /out/tables/restart.after-kill
    check "restart after SIGKILL: zero IPVS changes ($CHANGES${CHANGES_WHAT:+: $CHANGES_WHAT})" test "$CHANGES" = 0
    check "restart after SIGKILL: the table is as before" cmp -s /out/tables/restart.before /out/tables/restart.after-kill

    daemon_stop "$OURS" TERM 30000
    ipvs_save ours > /out/tables/restart.after-I-stop
    check "a stop with -I (--dont-release-ipvs) leaves the table" cmp -s /out/tables/restart.before /out/tables/restart.after-I-stop
    changes_reset
    start_settled ours-restart $_c
    changes_count
    check "restart after a stop with -I: zero IPVS changes ($CHANGES${CHANGES_WHAT:+: $CHANGES_WHAT})" test "$CHANGES" = 0

    # reload that changes one real server's weight: one change
    sed -i 's/weight 3   # ipvs-test reload/weight 5   # ipvs-test reload/' $_c
    changes_reset
    kill -HUP "$OURS"
    settle 60000 ours
    changes_count
    ipvs_save ours > /out/tables/restart.after-reload
    check "reload changing one real server's weight: exactly one IPVS change ($CHANGES${CHANGES_WHAT:+: $CHANGES_WHAT})" \
        test "$CHANGES" = 1 -a "$CHANGES_WHAT" = "edit_dest x1"
    _gone=$(grep -vxF -f /out/tables/restart.after-reload /out/tables/restart.before)
    _new=$(grep -vxF -f /out/tables/restart.before /out/tables/restart.after-reload)
    check "reload: the table differs by that weight only" \
        test "$_gone|$_new" = "-a -t 10.99.1.200:80 -r 10.99.6.1:80 -m -w 3|-a -t 10.99.1.200:80 -r 10.99.6.1:80 -m -w 5"
    daemon_stop "$OURS" TERM 30000
    check "restart: our last stop emptied the table" table_empty ours
    unserve
    ip netns exec ours ipvsadm -C
    cp /tmp/ours-restart.log /out/logs/ 2>/dev/null
}

# ------------------------------------------------------- stop with 10,000 RS ---
# 500 virtual servers x 20 real servers, no checkers (the real servers are up
# and nothing removes them before the stop). Each round: start, wait for all
# 10,000 in the table, SIGTERM, wait for the exit: the table must be empty.
phase_stop10k() {
    log "=== stop with 10,000 real servers (ours)"
    _c=/tmp/10k.conf
    awk 'BEGIN {
        print "global_defs {\n    router_id IPVS_TEST_10K\n}"
        for (i = 0; i < 500; i++) {
            printf "virtual_server 10.99.%d.%d 80 {\n    delay_loop 60\n    lb_algo wlc\n    lb_kind NAT\n    protocol TCP\n", 40 + int(i / 250), i % 250 + 1
            for (j = 0; j < 20; j++) { k = i * 20 + j; printf "    real_server 10.99.%d.%d 80 {\n        weight 1\n    }\n", 50 + int(k / 250), k % 250 + 1 }
            print "}"
        }
    }' > $_c
    _rounds=1; [ "$MODE" = full ] && _rounds=3
    for _round in $(seq 1 $_rounds); do
        _t0=$(now_ms)
        daemon_start ours ours ours-10k $_c; OURS=$LAST_PID
        _full=0
        # up to 180 s; but a daemon that has not added a single service after 60 s is not coming
        while [ $(( $(now_ms) - _t0 )) -lt 180000 ] && kill -0 "$OURS" 2>/dev/null; do
            _cnt=$(ipvs_counts ours)
            [ "$_cnt" = "500 10000" ] && { _full=1; break; }
            [ "${_cnt% *}" = 0 ] && [ $(( $(now_ms) - _t0 )) -ge 60000 ] && break
            sleep 1
        done
        if [ $_full = 0 ]; then
            not_ok "stop10k #$_round: our table never held the 500 VS + 10,000 RS (after $(ms_to_s $(( $(now_ms) - _t0 ))) s it has VS RS: $(ipvs_counts ours))"
            daemon_stop "$OURS" TERM 60000
            ip netns exec ours ipvsadm -C
            break
        fi
        note "stop10k #$_round: 500 VS + 10,000 RS in the table $(ms_to_s $(( $(now_ms) - _t0 ))) s after the start"
        if daemon_stop "$OURS" TERM 120000; then
            note "stop10k #$_round: SIGTERM -> exit in $(ms_to_s "$STOP_MS") s"
        else
            not_ok "stop10k #$_round: our daemon did not exit within 120 s of SIGTERM (killed)"
        fi
        check "stop10k #$_round: the table is empty after our stop (left: $(ipvs_counts ours))" table_empty ours
        ip netns exec ours ipvsadm -C
    done
    cp /tmp/ours-10k.log /out/logs/ 2>/dev/null
}

# ------------------------------------------------------------------ BFD_CHECK ---
# bfd.conf on both sites, each with a BFD peer (Debian's keepalived with bfd-peer.conf) in
# its real-server namespace. While the session is Up the BFD_CHECK real servers are in the
# table (ours equal to keepalived's, keepalived's = bfd.expect); the peers stop (SIGTERM,
# no AdminDown: the session expires) and each site is timed from its own peer's stop until
# 10.99.5.10 is gone (bound: detection time 600 ms + 0.5 s), then the tables must be
# bfd.down.expect; our checker child is SIGKILLed and its successor must keep that table;
# the peers start again and each site is timed until it serves again
# (bound 10 s: the peer's start-up and the Down/Init/Up exchange at the idle rate), then
# bfd.expect again. Both daemons stop and must leave their tables empty.
BFD_VIP=10.99.1.110:80 BFD_RS=10.99.5.10:80

# bfd_tables_are SUFFIX: each site's table is bfd${SUFFIX}.expect
bfd_tables_are() {
    for _s in $SITES; do ipvs_save "$_s" | cmp -s - "$CONF/bfd$1.expect" || return 1; done
}

# bfd_compare WHAT SUFFIX: within 10 s both tables are bfd${SUFFIX}.expect; ours equals keepalived's
bfd_compare() {
    wait_until 10000 bfd_tables_are "$2"
    for _s in $SITES; do ipvs_save "$_s" > "/out/tables/bfd$2.$_s"; done
    if diff -u "$CONF/bfd$2.expect" /out/tables/bfd$2.ka > /tmp/diff; then
        ok "bfd: $1: keepalived's table is bfd$2.expect"
    else
        not_ok "bfd: $1: keepalived's table differs from bfd$2.expect (harness or config problem)"; sed 's/^/#   /' /tmp/diff
    fi
    if diff -u /out/tables/bfd$2.ka /out/tables/bfd$2.ours > /tmp/diff; then
        ok "bfd: $1: ipvsadm -Sn of ours equals keepalived's ($(wc -l < /out/tables/bfd$2.ka) lines)"
    else
        not_ok "bfd: $1: ipvsadm -Sn of ours differs from keepalived's (- keepalived, + ours)"; sed 's/^/#   /' /tmp/diff
    fi
}

# _bfd_checker_again: our daemon said twice that a checker is ready
_bfd_checker_again() { [ "$(grep -c 'Healthcheck child process ready' /tmp/ours-bfd.log)" -ge 2 ]; }

bfd_peers_start() {
    for s in $SITES; do
        daemon_start ka "$s-rs" "peer-$s" "$CONF/bfd-peer.conf" -b "/run/peer-$s-bfd.pid"
        eval "_peer_$s=\$LAST_PID"
        eval "_peer_t0_$s=\$(now_ms)"
    done
}

# bfd_watch WANT: per site, from its peer's start or stop, until BFD_RS is WANT; sets _bfd_ka, _bfd_ours
bfd_watch() {
    for s in $SITES; do
        eval "_t=\$_peer_t0_$s"
        watch_rs "$s" TCP "$BFD_VIP" "$BFD_RS" "$1" "$_t" 30000 "/tmp/bfd-$s" &
        eval "_w_$s=\$!"
    done
    for s in $SITES; do eval "wait \$_w_$s"; done
    _bfd_ka=$(cat /tmp/bfd-ka) _bfd_ours=$(cat /tmp/bfd-ours)
}

phase_bfd() {
    log "=== BFD_CHECK"
    _t0=$(now_ms)
    _c=$CONF/bfd.conf
    cp "$_c" /out/configs/bfd.conf
    cp "$CONF/bfd-peer.conf" /out/configs/bfd-peer.conf
    for s in $SITES; do : > "/tmp/servers-$s"; serve_config "$_c" "$s"; done
    bfd_peers_start
    daemon_start ka ka ka-bfd "$_c" -b /run/ka-bfd-bfd.pid; KA=$LAST_PID
    daemon_start ours ours ours-bfd "$_c" -b /run/ours-bfd-bfd.pid; OURS=$LAST_PID
    if wait_until 20000 bfd_tables_are ""; then
        note "bfd: sessions up, tables complete $(ms_to_s $(( $(now_ms) - _t0 ))) s after the start"
    fi
    bfd_compare "session Up" ""
    fmt() { case $1 in timeout) echo ">30 s" ;; *) echo "$(ms_to_s "$1") s" ;; esac; }
    _within() { case $1 in timeout) return 1 ;; esac; [ "$1" -le "$2" ]; }

    for s in $SITES; do
        eval "_p=\$_peer_$s"
        eval "_peer_t0_$s=\$(now_ms)"
        kill -TERM "$_p"
    done
    bfd_watch gone
    for s in $SITES; do eval "daemon_stop \$_peer_$s TERM 10000"; done
    _bd=1100
    if _within "$_bfd_ours" $_bd; then
        ok "bfd: peer stopped: ours removed $BFD_RS within $(ms_to_s $_bd) s ($(fmt "$_bfd_ours"); keepalived $(fmt "$_bfd_ka"))"
    else
        not_ok "bfd: peer stopped: ours removed $BFD_RS within $(ms_to_s $_bd) s ($(fmt "$_bfd_ours"); keepalived $(fmt "$_bfd_ka"))"
    fi
    printf '%-28s | %-10s | %-10s | %s\n' "bfd peer stop: gone after" "$(fmt "$_bfd_ka")" "$(fmt "$_bfd_ours")" "$(ms_to_s $_bd) s" > /tmp/bfd-rows
    bfd_compare "session Down" .down

    # Our checker killed while the session is Down: the new one gets the level from the
    # parent, keeps the server out, and follows the session when it comes back.
    _old=$(cat /run/ours-bfd-checkers.pid 2>/dev/null)
    kill -KILL "$_old" 2>/dev/null
    if wait_until 10000 _bfd_checker_again; then
        ok "bfd: our checker restarted (pid $_old -> $(cat /run/ours-bfd-checkers.pid))"
    else
        not_ok "bfd: our checker restarted after SIGKILL"
    fi
    check "bfd: after the checker restart our table is still bfd.down.expect" sh -c "ip netns exec ours ipvsadm -Sn | sort | cmp -s - $CONF/bfd.down.expect"

    bfd_peers_start
    bfd_watch serving
    _bu=10000
    if _within "$_bfd_ours" $_bu; then
        ok "bfd: peer back: ours restored $BFD_RS within $(ms_to_s $_bu) s ($(fmt "$_bfd_ours"); keepalived $(fmt "$_bfd_ka"))"
    else
        not_ok "bfd: peer back: ours restored $BFD_RS within $(ms_to_s $_bu) s ($(fmt "$_bfd_ours"); keepalived $(fmt "$_bfd_ka"))"
    fi
    printf '%-28s | %-10s | %-10s | %s\n' "bfd peer start: back after" "$(fmt "$_bfd_ka")" "$(fmt "$_bfd_ours")" "$(ms_to_s $_bu) s" >> /tmp/bfd-rows
    bfd_compare "session Up again" ""

    if kill -0 "$OURS" 2>/dev/null; then :; else not_ok "bfd: our daemon exited by itself"; fi
    daemon_stop "$KA" TERM 30000 || note "bfd: keepalived did not stop within 30 s"
    daemon_stop "$OURS" TERM 30000 || not_ok "bfd: our daemon did not stop within 30 s of SIGTERM"
    check "bfd: keepalived's stop emptied its table" table_empty ka
    check "bfd: our stop emptied our table" table_empty ours
    for s in $SITES; do eval "daemon_stop \$_peer_$s TERM 10000"; done
    unserve
    for s in $SITES; do
        ip netns exec "$s" ipvsadm -C
        cp "/tmp/$s-bfd.log" "/out/logs/$s-bfd.log" 2>/dev/null
        cp "/tmp/peer-$s.log" "/out/logs/peer-$s.log" 2>/dev/null
    done
    echo "# BFD_CHECK times (from each site's own peer stop / start)"
    printf '# %-28s | %-10s | %-10s | %s\n' event keepalived ours bound
    sed 's/^/# /' /tmp/bfd-rows
    cat /tmp/bfd-rows >> /out/timing.txt
    note "bfd: phase took $(ms_to_s $(( $(now_ms) - _t0 ))) s"
}

phase_none() { :; }
for ph in $PHASES; do "phase_$ph"; done

stop_all
for s in $SITES; do site_delete "$s"; done
echo "ipvs-vm-guest: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]

#!/usr/bin/env bash
# VRRP benchmark, ours and Debian's keepalived side by side in the same run (a README
# command, not a CI test):
#   1. failover: two hosts running the same daemon (master 150, backup 100, VRRPv3), the
#      master's link goes down; the backup's first advert after the master's last one (on
#      the wire) and the VIP on the backup (ip monitor), against Master_Down_Interval, at
#      advert_int 1 s, 0.1 s and 0.05 s (REPS repetitions each, median and range);
#   2. scale: N instances (VRRPv2 at 1 s, VRRPv3 at 0.1 s; 250 per link) on a master and a
#      backup of the same daemon; over WINDOW seconds the CPU (utime+stime of every process
#      of the daemon, per advert sent on the master and per advert received on the
#      backup), the RSS of all processes, and the state changes logged (there must be none).
# Usage: sudo tests/bench-vrrp.sh OUR_BINARY   (build it with cargo build --release)
#   env: REPS (3), WINDOW (30 s), SIZES ("1 100 1000"), ADVERTS ("1 0.1"), SKIP_FAILOVER=1,
#   SKIP_SCALE=1, ONLY_OURS=1 (e.g. SIZES=1000 ADVERTS=0.1 WINDOW=600 ONLY_OURS=1 for the
#   ten-minute run), RESTART=m|b (SIGKILL the master's or backup's VRRP child 2 s into
#   the window: the state changes column then counts what the restart caused)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
# shellcheck source=tests/vrrp-lib.sh
source "$ROOT/tests/vrrp-lib.sh"
vrrp_setup bench-vrrp kvb "${1:?usage: bench-vrrp.sh OUR_BINARY}" theirs
REPS=${REPS:-3} WINDOW=${WINDOW:-30} SIZES=${SIZES:-"1 100 1000"} ADVERTS=${ADVERTS:-"1 0.1"}
WHO="ours theirs"
[[ -z ${ONLY_OURS:-} ]] || WHO=ours
HZ=$(getconf CLK_TCK)
PER_LINK=250

# start WHO HOST NAME: as `run`, but without waiting (thousands of instances take a while).
start() {
    local who=$1 host=$2 name=$3 bin=$OURS
    [[ $who == theirs ]] && bin=$THEIRS
    mkdir -p "$TMP/$name.d"
    : >"$TMP/$name.log"
    TMPDIR=$TMP/$name.d ip netns exec "$LAB-$host" "$bin" -n -l -P -f "$TMP/$name.conf" -p "$TMP/$name.pid" \
        -r "$TMP/$name.vrrp.pid" -c "$TMP/$name.check.pid" >>"$TMP/$name.log" 2>&1 &
    PIDFILES+=("$TMP/$name.pid")
}

# finish NAME: SIGTERM, up to 30 s to exit (thousands of instances), then SIGKILL.
finish() {
    local p
    p=$(cat "$TMP/$1.pid" 2>/dev/null) || return 0
    kill -TERM "$p" 2>/dev/null || return 0
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
}

# pids NAME: the daemon's pid and its children's.
pids() {
    local p
    p=$(cat "$TMP/$1.pid")
    echo "$p" $(ps -o pid= --ppid "$p")
}

cpu_ticks() { # cpu_ticks PID...: utime+stime summed
    local p s t=0
    for p in "$@"; do
        s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        s=${s##*) }
        # shellcheck disable=SC2086
        set -- $s
        t=$((t + ${12} + ${13}))
    done
    echo "$t"
}
mem_kb() { # mem_kb PID...: "RSS PSS ANON" summed in kB (VmRSS counts the binary's and the
    # libraries' pages once per process; PSS shares them out; RssAnon is private memory)
    local p r=0 s=0 a=0 v
    for p in "$@"; do
        v=$(awk '$1 == "VmRSS:" { r = $2 } $1 == "RssAnon:" { a = $2 } END { print r + 0, a + 0 }' "/proc/$p/status" 2>/dev/null) || continue
        r=$((r + ${v% *})) a=$((a + ${v#* }))
        v=$(awk '$1 == "Pss:" { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) || v=0
        s=$((s + ${v:-0}))
    done
    echo "$r $s $a"
}
pkts() { # pkts HOST rx|tx: packets over the host's eth* interfaces
    ip netns exec "$LAB-$1" cat /proc/net/dev | awk -v c="$2" -F'[: ]+' '$2 ~ /^eth[0-9]+$/ { s += (c == "rx") ? $4 : $12 } END { print s + 0 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%d (%d-%d)", v[int((NR + 1) / 2)], v[1], v[NR]; else printf "?" }'; }

# --- 1. failover -------------------------------------------------------------------------

failover_conf() { # failover_conf NAME PRIO ADVERT
    cat >"$TMP/$1.conf" <<CONF
global_defs {
    router_id $1
}
vrrp_instance VI_1 {
    version 3
    interface eth0
    virtual_router_id 51
    priority $2
    advert_int $3
    virtual_ipaddress {
        10.99.0.100/24
    }
}
CONF
}

failover() { # failover WHO ADVERT: REPS link-down failovers; prints "gap vip" per rep
    local who=$1 adv=$2 rep t_fail last gap t_vip
    make_lab "$LAB"
    failover_conf m 150 "$adv"
    failover_conf b 100 "$adv"
    start "$who" b b
    wait_for 1 "$TMP/b.log" 'Entering BACKUP STATE' 20
    start "$who" a m
    wait_addr "$LAB-a" 10.99.0.100 20
    wait_addr "$LAB-b" 10.99.0.100 10 absent
    for rep in $(seq "$REPS"); do
        cap_start "f$rep"
        mon_start b "f$rep"
        wait_for 1 "$TMP/f$rep.cap" 'prio 150,' 3 || true
        # A random phase in the advert cycle.
        sleep "$(awk -v a="$adv" -v s="$RANDOM" 'BEGIN { srand(s); printf "%.3f", rand() * a }')"
        t_fail=$EPOCHREALTIME
        ip -n "$LAB-a" link set eth0 down
        wait_addr "$LAB-b" 10.99.0.100 10 || true
        cap_stop "f$rep" 'prio 100,'
        mon_stop
        last=$(last_advert "f$rep" 150)
        gap=$(wire_gap "f$rep" 150 100)
        t_vip=$(vip_added "f$rep" 10.99.0.100)
        echo "${gap:-?} $(ms_between "$t_fail" "$t_vip") $(ms_between "$last" "$t_vip")"
        ip -n "$LAB-a" link set eth0 up
        wait_addr "$LAB-a" 10.99.0.100 20 || true
        wait_addr "$LAB-b" 10.99.0.100 20 absent || true
    done
    finish m
    finish b
    del_lab "$LAB"
}

if [[ -z ${SKIP_FAILOVER:-} ]]; then
    echo "## Failover (VRRPv3, master 150 loses its link, backup 100; ms, median (min-max) of $REPS)"
    echo
    echo "| advert | MDI(100) | daemon | master's last advert -> backup's first | link down -> VIP on backup | last advert -> VIP |"
    echo "|---|---|---|---|---|---|"
    for adv in ${FAILOVER_ADVERTS:-1 0.1 0.05}; do
        mdi=$(awk -v a="$adv" 'BEGIN { printf "%.1f", (3 * a + 156 / 256 * a) * 1000 }')
        for who in $WHO; do
            failover "$who" "$adv" >"$TMP/fo.$who.$adv"
            printf '| %s s | %s | %s | %s | %s | %s |\n' "$adv" "$mdi" "$who" \
                "$(awk '{ print $1 }' "$TMP/fo.$who.$adv" | median)" \
                "$(awk '{ print $2 }' "$TMP/fo.$who.$adv" | median)" \
                "$(awk '{ print $3 }' "$TMP/fo.$who.$adv" | median)"
        done
    done
    echo
fi

# --- 2. scale ------------------------------------------------------------------------------

# scale_lab LINKS: hosts a and b with eth0..eth(LINKS-1), each link its own bridge.
scale_lab() {
    local links=$1 k n
    make_lab "$LAB"
    for ((k = 1; k < links; k++)); do
        ip -n "$LAB-br" link add "br$k" type bridge
        ip -n "$LAB-br" link set "br$k" up
        for n in a b; do
            ip -n "$LAB-$n" link add "eth$k" type veth peer name "p$n$k" netns "$LAB-br"
            ip -n "$LAB-br" link set "p$n$k" master "br$k"
            ip -n "$LAB-br" link set "p$n$k" up
            ip -n "$LAB-$n" link set "eth$k" up
        done
        ip -n "$LAB-a" addr add "10.99.$k.11/24" dev "eth$k"
        ip -n "$LAB-b" addr add "10.99.$k.12/24" dev "eth$k"
    done
}

scale_conf() { # scale_conf NAME N PRIO ADVERT
    local i k v ver=2
    [[ $4 == 1 ]] || ver=3
    {
        printf 'global_defs {\n    router_id %s\n}\n' "$1"
        for ((i = 0; i < $2; i++)); do
            k=$((i / PER_LINK)) v=$((i % PER_LINK + 1))
            printf 'vrrp_instance VI_%s_%s {\n    version %s\n    interface eth%s\n    virtual_router_id %s\n    priority %s\n    advert_int %s\n    virtual_ipaddress {\n        10.99.%s.%s/32\n    }\n}\n' \
                "$k" "$v" "$ver" "$k" "$v" "$3" "$4" $((100 + k)) "$v"
        done
    } >"$TMP/$1.conf"
}

vip_count() { ip -n "$LAB-$1" -4 -o addr show 2>/dev/null | awk '$4 ~ /^10\.99\.1[0-9][0-9]\./' | wc -l; }
wait_vips() { # wait_vips HOST COUNT SECONDS
    local deadline=$((SECONDS + $3))
    while (($(vip_count "$1") != $2)); do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

scale() { # scale WHO N ADVERT: prints one table row
    local who=$1 n=$2 adv=$3 links
    links=$(((n + PER_LINK - 1) / PER_LINK))
    scale_lab "$links"
    scale_conf m "$n" 150 "$adv"
    scale_conf b "$n" 100 "$adv"
    # The master first (a backup alone would take every instance over, and the two would
    # then fight it out), then the backup once the master holds every VIP.
    local ok=yes
    start "$who" a m
    wait_vips a "$n" 120 || ok="no: $(vip_count a) VIPs on the master"
    start "$who" b b
    wait_for "$n" "$TMP/b.log" 'Entering BACKUP STATE' 120 || ok="no: the backup did not start"
    wait_vips b 0 30 || ok="no: $(vip_count b) VIPs on the backup"
    sleep 3
    local pm pb c0m c0b c1m c1b tx0 rx0 tx rx l0m l0b changes
    read -ra pm <<<"$(pids m)"
    read -ra pb <<<"$(pids b)"
    l0m=$(wc -l <"$TMP/m.log") l0b=$(wc -l <"$TMP/b.log")
    c0m=$(cpu_ticks "${pm[@]}") c0b=$(cpu_ticks "${pb[@]}")
    tx0=$(pkts a tx) rx0=$(pkts b rx)
    if [[ -n ${RESTART:-} ]]; then
        # RESTART=m|b: SIGKILL that host's VRRP child 2 s into the window (the parent
        # starts a new one at once, which resumes the states it knew).
        sleep 2
        kill -KILL "$(cat "$TMP/$RESTART.vrrp.pid")"
        sleep "$((WINDOW - 2))"
    else
        sleep "$WINDOW"
    fi
    c1m=$(cpu_ticks "${pm[@]}") c1b=$(cpu_ticks "${pb[@]}")
    tx=$(($(pkts a tx) - tx0)) rx=$(($(pkts b rx) - rx0))
    changes=$(($(tail -n +"$((l0m + 1))" "$TMP/m.log" | grep -c 'Entering' || true) + $(tail -n +"$((l0b + 1))" "$TMP/b.log" | grep -c 'Entering' || true)))
    local mm mb
    read -ra mm <<<"$(mem_kb "${pm[@]}")"
    read -ra mb <<<"$(mem_kb "${pb[@]}")"
    awk -v n="$n" -v adv="$adv" -v who="$who" -v hz="$HZ" -v w="$WINDOW" -v cm="$((c1m - c0m))" -v cb="$((c1b - c0b))" \
        -v tx="$tx" -v rx="$rx" -v mem="${mm[0]} / ${mb[0]} | ${mm[1]} / ${mb[1]} | ${mm[2]} / ${mb[2]}" -v pn="${#pm[@]}" -v ch="$changes" -v ok="$ok" \
        'BEGIN { printf "| %s | %s s | %s | %d | %.1f / %.1f | %.2f / %.2f | %s | %d | %d | %s |\n",
            n, adv, who, tx / w, 100 * cm / hz / w, 100 * cb / hz / w,
            tx ? cm / hz * 1e6 / tx : 0, rx ? cb / hz * 1e6 / rx : 0, mem, pn, ch, ok }'
    finish m
    finish b
    del_lab "$LAB"
}

if [[ -z ${SKIP_SCALE:-} ]]; then
    echo "## Scale (master 150 and backup 100 of the same daemon, ${WINDOW} s window; CPU of every process of the daemon)"
    echo
    echo "| instances | advert | daemon | packets/s sent | CPU % master / backup | CPU µs per packet sent / received | VmRSS kB master / backup | PSS kB | RssAnon kB | processes | state changes | all VIPs |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    for adv in $ADVERTS; do
        for n in $SIZES; do
            for who in $WHO; do
                scale "$who" "$n" "$adv"
            done
        done
    done
    echo
    echo "(CPU ticks are 1/$HZ s; the machine is shared, so small figures are noisy)"
fi

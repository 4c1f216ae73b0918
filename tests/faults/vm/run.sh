#!/bin/sh
# shellcheck shell=dash
# The guest side of tests/faults/vm.sh. Usage (in the guest): run.sh CHECKER_KILLS RELOADS
#
#   netns m     ours: VRRP master (VI_1 10.99.200.100, VI_2 10.99.200.102; priority 150,
#               advert 1 s) and a virtual server 10.99.200.100:80 over three real servers
#               in m-rs (10.99.2.1 and .2 serve, .3 is down: nothing listens)
#   netns p     Debian's keepalived, the same two instances at priority 100
#   m eth0 <-> p eth0 (veth): 10.99.200.11 / .12
#
# checker-kill, reload and sigterm-ipvs as tests/faults.sh describes; "ok - " / "not ok - "
# lines, "ROW " summary rows, then "faults-vm-guest: N passed, M failed".
# shellcheck source=../../ipvs/guest/lib.sh
. /etc/ipvs-vm/lib.sh

KILLS=$1 RELOADS=$2
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
check() { _what=$1; shift; if "$@"; then ok "$_what"; else not_ok "$_what"; fi; }
note() { echo "# $*"; }
row() { printf 'ROW %-14s %5s  %-4s  %s\n' "$1" "$2" "$3" "$4"; }
verdict() { if [ "$FAIL" = "$1" ]; then echo ok; else echo FAIL; fi; }
mkdir -p /out

# ------------------------------------------------------------------ network ---
site_create m
ip netns add p
ip -n p link set lo up
ip -n m link add eth0 type veth peer name eth0 netns p
ip -n m addr add 10.99.200.11/24 dev eth0
ip -n p addr add 10.99.200.12/24 dev eth0
ip -n m link set eth0 up
ip -n p link set eth0 up
rs_tcp m-rs 10.99.2.1 80
rs_tcp m-rs 10.99.2.2 80

# ------------------------------------------------------------------ configs ---
# vrrp PRIO PRIO-OF-VI_2 VI_2-EXCLUDED-VIP: the two instances.
vrrp() {
    cat <<EOF
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority $1
    advert_int 1
    virtual_ipaddress {
        10.99.200.100/24
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    priority $2
    advert_int 1
    virtual_ipaddress {
        10.99.200.102/24
    }
    virtual_ipaddress_excluded {
        $3
    }
}
EOF
}
# ours_conf FILE WEIGHT-OF-10.99.2.2 PRIO-OF-VI_2 VI_2-EXCLUDED-VIP: config A (1, 150, "")
# or B (2, 160, .103): B changes one real server and one instance (its priority, and an
# address not in the adverts, so that keepalived's config needs no change).
ours_conf() {
    {
        printf 'global_defs {\n    router_id ours\n}\n'
        vrrp 150 "$3" "$4"
        cat <<EOF
virtual_server 10.99.200.100 80 {
    delay_loop 2
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.99.2.1 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 2
        }
    }
    real_server 10.99.2.2 80 {
        weight $2
        TCP_CHECK {
            connect_timeout 2
        }
    }
    real_server 10.99.2.3 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 2
        }
    }
}
EOF
    } >"$1"
}
ours_conf /tmp/a.conf 1 150 ""
ours_conf /tmp/b.conf 2 160 "10.99.200.103/24"
cp /tmp/a.conf /tmp/ours.conf
{ printf 'global_defs {\n    router_id peer\n}\n'; vrrp 100 100 ""; } >/tmp/peer.conf
# The tables ours must keep: A, and B (one weight changed).
table() {
    printf '%s\n' "-A -t 10.99.200.100:80 -s rr" "-a -t 10.99.200.100:80 -r 10.99.2.1:80 -m -w 1" \
        "-a -t 10.99.200.100:80 -r 10.99.2.2:80 -m -w $1" | sort
}
table 1 >/tmp/table-a
table 2 >/tmp/table-b

# ------------------------------------------------------------------ daemons ---
start_ours() {
    ip netns exec m keepalived-rs --dont-fork --log-console --no-syslog -f /tmp/ours.conf \
        -p /run/ours.pid -r /run/ours-vrrp.pid -c /run/ours-checkers.pid >>/tmp/ours.log 2>&1 </dev/null &
    track $!
    OURS=$LAST_PID
}
start_ours
vip_on() { ip -n "$1" addr show dev eth0 | grep -q "inet $2/"; }
vip_off() { ! vip_on "$@"; }
settled_a() { ipvs_save m | cmp -s - /tmp/table-a; }
check "pair: ours MASTER for both instances" \
    wait_until 30000 sh -c "grep -c 'Entering MASTER STATE' /tmp/ours.log | grep -qx 2 && ip -n m addr show dev eth0 | grep -q 'inet 10.99.200.102/'"
check "pair: ours' table settled (the down real server removed)" wait_until 30000 settled_a
# The peer starts once ours is MASTER (BACKUP then, as in a rolling start).
ip netns exec p keepalived --dont-fork --log-console --no-syslog --vrrp -f /tmp/peer.conf \
    -p /run/peer.pid -r /run/peer-vrrp.pid -c /run/peer-checkers.pid >/tmp/peer.log 2>&1 </dev/null &
track $!
wait_until 10000 sh -c "[ \$(grep -c 'Entering BACKUP STATE' /tmp/peer.log) -ge 2 ]"
sleep 2
check "pair: keepalived BACKUP for both instances" sh -c "[ \$(grep -c 'Entering BACKUP STATE' /tmp/peer.log) -ge 2 ] && ! grep -q 'Entering MASTER STATE' /tmp/peer.log"
note "start-up: ours $(grep -c 'Entering MASTER STATE' /tmp/ours.log) MASTER transitions; table $(wc -l </tmp/table-a) lines"

# ----------------------------------------------------------------- monitors ---
ip netns exec p tcpdump -i eth0 -tt -n -l -U -Z root 'ip proto 112' >/tmp/adverts.cap 2>/tmp/tcpdump.err &
track $!
CAP=$LAST_PID
ip -n m monitor address >/tmp/mon-m 2>&1 &
track $!
MON_M=$LAST_PID
ip -n p monitor address >/tmp/mon-p 2>&1 &
track $!
MON_P=$LAST_PID
wait_until 5000 grep -q 'listening on' /tmp/tcpdump.err || note "tcpdump did not start: $(cat /tmp/tcpdump.err)"
# The down real server must never be in the kernel again: a watcher in m.
: >/tmp/seen-down
ip netns exec m sh -c '. /etc/ipvs-vm/lib.sh
    while [ ! -e /tmp/stop-watch ]; do
        w=$(rs_weight TCP 10.99.200.100:80 10.99.2.3:80)
        [ "$w" = absent ] || echo "$(now_ms) $w" >> /tmp/seen-down
        sleep 0.02
    done' &
track $!
WATCH=$LAST_PID
changes_arm || note "no kprobe change counter"
changes_reset
sleep 1.2

# max_gap VRID: the longest time (ms) between two of our adverts for VRID in the capture.
max_gap() {
    awk -v v="vrid $1," '/10\.99\.200\.11 > / && index($0, v) { if (l != "") { g = ($1 - l) * 1000; if (g > m) m = g } l = $1 }
        END { printf "%d\n", m + 0.5 }' /tmp/adverts.cap
}
lt() { [ "$1" -gt 0 ] && [ "$1" -lt "$2" ]; }
vip_events() { grep -E "inet 10\.99\.200\.10[02]/" "/tmp/mon-$1" || true; }
ready() { grep -c "$1 child process ready" /tmp/ours.log; }

# ------------------------------------------------------------- checker-kill ---
F0=$FAIL
T0=$(now_ms)
i=0 bad=0
while [ $i -lt "$KILLS" ]; do
    i=$((i + 1))
    old=$(cat /run/ours-checkers.pid)
    want=$(($(ready Healthcheck) + 1))
    kill -KILL "$old"
    if ! wait_until 15000 sh -c "[ \"\$(cat /run/ours-checkers.pid 2>/dev/null)\" != $old ] && [ \$(grep -c 'Healthcheck child process ready' /tmp/ours.log) -ge $want ]"; then
        bad=1
        break
    fi
    sleep "0.$((i * 37 % 9 + 1))"
done
KILL_S=$(( ($(now_ms) - T0) / 1000 ))
sleep 4.5 # two delay_loops: a real server wrongly re-added would show, so would a late change
changes_count
check "checker-kill: $KILLS SIGKILLs, each followed by a ready checker" [ $bad = 0 ]
check "checker-kill: ipvsadm -Sn identical before and after" settled_a
check "checker-kill: no IPVS change at all (kernel count $CHANGES${CHANGES_WHAT:+: $CHANGES_WHAT})" [ "$CHANGES" = 0 ]
check "checker-kill: the down real server never re-added" [ ! -s /tmp/seen-down ]
check "checker-kill: no VIP moved" sh -c "[ -z \"\$(grep -E 'inet 10\.99\.200\.10[02]/' /tmp/mon-m /tmp/mon-p)\" ] && ! grep -q 'Entering MASTER STATE' /tmp/peer.log"
G1=$(max_gap 51) G2=$(max_gap 52)
check "checker-kill: no advert missed (longest gaps $G1 / $G2 ms < 1500)" sh -c "[ $G1 -gt 0 ] && [ $G1 -lt 1500 ] && [ $G2 -gt 0 ] && [ $G2 -lt 1500 ]"
[ -z "$(cat /tmp/seen-down)" ] || note "down real server seen: $(head -3 /tmp/seen-down | tr '\n' ' ')"
row checker-kill "$KILLS" "$(verdict "$F0")" "IPVS changes $CHANGES; advert gaps $G1/$G2 ms over $KILL_S s; VIP moves 0"

# ------------------------------------------------------------------- reload ---
F0=$FAIL
: >/tmp/adverts.cap
GEN=$(sed -n 's/.*Reload complete (configuration generation \([0-9]*\)).*/\1/p' /tmp/ours.log | tail -n 1)
GEN=${GEN:-1}
entering0=$(grep -c 'Entering' /tmp/ours.log)
one=0 vips_ok=0 n=0
while [ $n -lt "$RELOADS" ]; do
    n=$((n + 1))
    GEN=$((GEN + 1))
    if [ $((n % 2)) = 1 ]; then cp /tmp/b.conf /tmp/ours.conf; want=/tmp/table-b; vip=on prio=160
    else cp /tmp/a.conf /tmp/ours.conf; want=/tmp/table-a; vip=off prio=150; fi
    changes_reset
    kill -HUP "$OURS"
    wait_until 10000 sh -c "grep -q 'VRRP child process acknowledged configuration generation $GEN' /tmp/ours.log && grep -q 'Healthcheck child process acknowledged configuration generation $GEN' /tmp/ours.log" ||
        note "reload $n: generation $GEN not acknowledged by both children"
    wait_until 5000 sh -c "ip netns exec m ipvsadm -Sn | sort | cmp -s - $want" || note "reload $n: table is not $want"
    if wait_until 3000 "vip_$vip" m 10.99.200.103 && wait_until 3000 sh -c "tail -n 4 /tmp/adverts.cap | grep 'vrid 52,' | grep -q 'prio $prio,'"; then
        vips_ok=$((vips_ok + 1))
    fi
    sleep 0.3
    changes_count
    [ "$CHANGES" = 1 ] && [ "$CHANGES_WHAT" = "edit_dest x1" ] && one=$((one + 1))
    [ "$CHANGES" = 1 ] || note "reload $n: $CHANGES IPVS changes ($CHANGES_WHAT)"
    sleep "0.$((n * 37 % 9 + 1))"
done
sleep 1.2
G1=$(max_gap 51) G2=$(max_gap 52)
check "reload: $RELOADS reloads, each exactly one IPVS change (edit_dest): $one" [ $one = "$RELOADS" ]
check "reload: the changed instance advertised its new priority and gained/lost its excluded VIP: $vips_ok/$RELOADS" [ $vips_ok = "$RELOADS" ]
check "reload: no instance changed state (no 'Entering' line), keepalived never MASTER" sh -c "[ \$(grep -c 'Entering' /tmp/ours.log) = $entering0 ] && ! grep -q 'Entering MASTER STATE' /tmp/peer.log"
check "reload: the unchanged VIPs never moved" sh -c "[ -z \"\$(grep -E 'inet 10\.99\.200\.10[02]/' /tmp/mon-m /tmp/mon-p)\" ]"
check "reload: masters never missed an advert (longest gaps $G1 / $G2 ms < 1500)" sh -c "[ $G1 -gt 0 ] && [ $G1 -lt 1500 ] && [ $G2 -gt 0 ] && [ $G2 -lt 1500 ]"
row reload "$RELOADS" "$(verdict "$F0")" "IPVS changes 1 per reload in $one/$RELOADS; advert gaps $G1/$G2 ms"

# ------------------------------------------------------------- sigterm-ipvs ---
F0=$FAIL
stop_pids "$MON_M" "$MON_P"
: >/tmp/adverts.cap
sleep 1.1
T0=$(now_ms)
kill -TERM "$OURS"
wait "$OURS"
RC=$?
MS=$(($(now_ms) - T0))
STARTED_PIDS=$(echo " $STARTED_PIDS " | sed "s/ $OURS / /")
sleep 0.5
check "sigterm-ipvs: exit 0 within 2 s (exit $RC after $MS ms)" [ "$RC" = 0 -a "$MS" -le 2000 ]
check "sigterm-ipvs: priority 0 sent for both instances" sh -c "grep '10.99.200.11 > ' /tmp/adverts.cap | grep 'prio 0,' | grep -q 'vrid 51,' && grep '10.99.200.11 > ' /tmp/adverts.cap | grep 'prio 0,' | grep -q 'vrid 52,'"
check "sigterm-ipvs: every IPVS entry removed" sh -c "[ -z \"\$(ip netns exec m ipvsadm -Sn)\" ]"
check "sigterm-ipvs: VIPs removed" sh -c "! ip -n m addr show dev eth0 | grep -q 'inet 10.99.200.10'"
check "sigterm-ipvs: keepalived takes over" wait_until 3000 vip_on p 10.99.200.100
row sigterm-ipvs 1 "$(verdict "$F0")" "exit $RC after $MS ms; table empty"

touch /tmp/stop-watch
stop_all
cp /tmp/ours.log /tmp/peer.log /tmp/adverts.cap /tmp/mon-m /tmp/mon-p /out/ 2>/dev/null
echo "faults-vm-guest: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]

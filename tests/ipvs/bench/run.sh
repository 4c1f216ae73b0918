#!/bin/sh
# The IPVS benchmark's payload (POSIX sh; run inside the VM by tests/ipvs/vm.sh, see
# tests/bench-ipvs.sh): ours and Debian's keepalived in turn on the same configurations,
# RUNS times each, figures to /out/bench.txt.
#
# Args: CONFIGS RUNS STEADY_S   e.g. "100x10 500x20" 3 20
set -u
CONFIGS=${1:-"100x10 500x20"}
RUNS=${2:-3}
STEADY=${3:-20}
OURS=/usr/local/sbin/keepalived-rs
THEIRS=/usr/sbin/keepalived
BASELINE=/payload/keepalived-baseline   # present when tests/bench-ipvs.sh got BASELINE
DAEMONS="ours keepalived"
[ -x "$BASELINE" ] && DAEMONS="$DAEMONS baseline"
OUT=/out/bench.txt
: > "$OUT"
mkdir -p /out

now_ms() { read -r up _ < /proc/uptime; echo "${up%.*}${up#*.}0"; }
say() { echo "$*"; echo "$*" >> "$OUT"; }
# The table of the run's network namespace, read through a process that lives in it.
vs_in_ipvs() { grep -c -E '^(TCP|UDP|FWM) ' "/proc/$HOLD/net/ip_vs"; }
ticks() { [ -n "$1" ] && [ -r "/proc/$1/stat" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }   # utime+stime, 1/100 s
# The whole VM's busy time (user, nice, system, irq, softirq of every CPU), 1/100 s.
busy() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
rss_kb() { [ -n "$1" ] && [ -r "/proc/$1/status" ] && awk '/^VmRSS:/ {print $2}' "/proc/$1/status" || echo 0; }
children_of() { for p in /proc/[0-9]*; do [ "$(awk '{print $4}' "$p/stat" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"; done; }

# Real servers: every one has its own address in 10.99.128.0/17, routed through a veth
# into netns "rs", where the whole prefix is local (AnyIP) and acceptd accepts on port 80.
echo 1 > /proc/sys/net/ipv4/ip_forward
ip netns add rs
ip link add vlb type veth peer name vrs netns rs
ip addr add 10.99.1.1/30 dev vlb; ip link set vlb up
ip -n rs addr add 10.99.1.2/30 dev vrs; ip -n rs link set vrs up; ip -n rs link set lo up
ip route add 10.99.128.0/17 via 10.99.1.2
ip -n rs route add local 10.99.128.0/17 dev lo
ip netns exec rs sh -c 'echo 65535 > /proc/sys/net/core/somaxconn; echo 65535 > /proc/sys/net/ipv4/tcp_max_syn_backlog'
ip netns exec rs ./acceptd /tmp/accepted 80 > /tmp/acceptd.log 2>&1 &
ACCEPTD=$!
i=0; while ! grep -q listening /tmp/acceptd.log 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done

# Every run gets a fresh network namespace "lb" (its own, empty IPVS table), joined to "rs"
# by a veth: the kernel keeps deleted real servers in a per-namespace trash for minutes and
# every add walks it, so in a shared namespace each daemon's start would pay for the run
# before it (4.4 s instead of 0.3 s for 10,500 entries after a config-order stop).
lb_up() {
    ip netns add lb
    ip -n lb link set lo up
    ip -n lb link add vlb type veth peer name vrs2 netns rs
    ip -n lb addr add 10.99.2.1/30 dev vlb; ip -n lb link set vlb up
    ip -n rs addr add 10.99.2.2/30 dev vrs2; ip -n rs link set vrs2 up
    ip -n lb route add 10.99.128.0/17 via 10.99.2.2
    ip netns exec lb sleep 1000000 &
    HOLD=$!
}
lb_down() {
    kill "$HOLD"; wait "$HOLD" 2>/dev/null
    ip netns del lb
}

# gen N M: N virtual servers x M real servers, one TCP_CHECK each, delay_loop 5.
gen() {
    awk -v n="$1" -v m="$2" 'BEGIN {
        r = 0
        for (i = 0; i < n; i++) {
            printf "virtual_server 10.99.%d.%d 80 {\n delay_loop 5\n lb_algo wlc\n lb_kind NAT\n protocol TCP\n", 64 + int(i / 250), i % 250 + 1
            for (j = 0; j < m; j++) {
                printf " real_server 10.99.%d.%d 80 {\n  weight 1\n  TCP_CHECK {\n   connect_timeout 3\n  }\n }\n", 128 + int(r / 250), r % 250 + 1
                r++
            }
            print "}"
        }
    }'
}

# Checks the real servers answered, from netns rs's TCP counters: a check that completes the
# handshake is a passive open (keepalived's), one reset before its last ACK a failed attempt
# on the real server's side (ours); acceptd's count of accepts would miss the second kind.
answered() { ip netns exec rs awk '$1 == "Tcp:" && $2 ~ /^[0-9]/ { print $7 + $8 }' /proc/net/snmp; }

# one WHO CONF TOTAL: start, time until every real server is in IPVS, STEADY s of steady
# state, stop; prints "WHO CONFIG programmed_ms checks_per_s cpu_us_per_check cpu_pct rss_kb stop_ms"
one() {
    who=$1 conf=$2 total=$3 label=$4
    case $who in ours) bin=$OURS ;; baseline) bin=$BASELINE ;; *) bin=$THEIRS ;; esac
    lb_up
    # progtime joins "lb", forks and execs the daemon there and reads the namespace's
    # /proc/net/ip_vs every 2 ms: the start is the daemon's exec, the end the first read
    # listing every real server (a shell loop of grep + sleep took 20-90 ms per look under
    # TCG, and `ip netns exec` ~70 ms before the daemon started; both counted as the daemon's).
    # It prints "MS PID" and stays the daemon's parent until it ends.
    rm -f /tmp/progtime.out
    # Ours also marks its start-up steps on stderr (KEEPALIVED_RS_TIMING, same clock as
    # progtime's start line): where its time goes, printed as a BREAKDOWN line.
    timing=; [ "$who" = ours ] && timing=1
    KEEPALIVED_RS_TIMING=$timing ./progtime /run/netns/lb "$total" 120000 "/tmp/$who.log" -- \
        "$bin" --dont-fork --log-console --no-syslog --check -f "$conf" -p /run/b.pid -c /run/b.check.pid \
        > /tmp/progtime.out 2> /tmp/progtime.err &
    pt=$!
    prog=-1 pid=
    while kill -0 "$pt" 2>/dev/null && ! read -r prog pid < /tmp/progtime.out 2>/dev/null; do sleep 0.05; done
    [ -n "$pid" ] || { read -r prog pid < /tmp/progtime.out 2>/dev/null || prog=-1; }
    sleep 5   # let the first round of checks (spread over warmup = delay_loop) pass
    checker=$(cat /run/b.check.pid 2>/dev/null)
    c0=$(ticks "$checker"); p0=$(ticks "$pid"); a0=$(answered); b0=$(busy); s0=$(now_ms)
    sleep "$steady"
    c1=$(ticks "$checker"); p1=$(ticks "$pid"); a1=$(answered); b1=$(busy); s1=$(now_ms)
    el=$((s1 - s0)); checks=$((a1 - a0)); cpu=$(( (c1 - c0) + (p1 - p0) ))
    rss=$(rss_kb "$pid"); for ch in $(children_of "$pid"); do rss=$((rss + $(rss_kb "$ch"))); done
    t2=$(now_ms)
    [ -n "$pid" ] && kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null || [ "$(vs_in_ipvs)" -gt 0 ]; do
        [ $(( $(now_ms) - t2 )) -gt 60000 ] && break
        sleep 0.02
    done
    stop=$(( $(now_ms) - t2 ))
    left=$(vs_in_ipvs)
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    wait "$pt" 2>/dev/null
    # What went wrong, if anything: restarts, failed checks, the log's first lines.
    restarts=$(grep -c -i "died\|not responding" "/tmp/$who.log")
    failed=$(grep -c "failed" "/tmp/$who.log")
    [ "$prog" -lt 0 ] && { echo "== $who never programmed the table; its log:"; head -20 "/tmp/$who.log"; }
    say "NOTE $who $label restarts=$restarts failed_lines=$failed"
    if [ -n "$timing" ]; then
        # exec -> main, main -> config parsed, the kernel's share (one batch of adds)
        awk -v kind="$kind" -v label="$label" '
            FNR == NR { if ($1 == "progtime:" && $2 == "start") t0 = $3; next }
            $1 == "TIMING" { step = $3; for (i = 4; i <= NF && $i !~ /^\(/; i++) step = step " " $i
                             if (!(step in at)) at[step] = $2 }   # the parent marks first
            END { printf "BREAKDOWN %s ours %s %d %d %d\n", kind, label, at["main"] - t0,
                  at["config loaded"] - at["main"], at["ipvs flushed"] - at["ipvs queued"] }
        ' /tmp/progtime.err "/tmp/$who.log" >> "$OUT"
    fi
    say "$kind $who $label $prog $((checks * 1000 / el)) $(( cpu * 10000 / (checks + 1) )) $(( cpu * 1000 / el )) $rss $stop $left $(( (b1 - b0) * 10000 / (checks + 1) ))"
    lb_down
    rm -f /run/b.pid /run/b.check.pid
}

# (POSIX sh has no local variables: the loops below use names one() does not.)
# Warm-up, not counted: every daemon once on the largest configuration. The first start in
# a fresh VM pays for translating the kernel's IPVS code (TCG) and growing its per-CPU
# allocations, 2-3 times the table's programming time of the runs after it; without this
# round the daemon that runs first pays it alone.
kind=WARMUP steady=2
for cfg in $CONFIGS; do :; done
n=${cfg%x*}; m=${cfg#*x}; all=$((n * m))
gen "$n" "$m" > /tmp/bench-warmup.conf
for daemon in $DAEMONS; do one "$daemon" /tmp/bench-warmup.conf "$all" "$cfg"; done
# The floor under every start: fork, exec and exit of each daemon with --version, 20 times.
for daemon in $DAEMONS; do
    case $daemon in ours) bin=$OURS ;; baseline) bin=$BASELINE ;; *) bin=$THEIRS ;; esac
    say "EXEC $daemon $(./exectime 20 "$bin" --version)"
done
kind=RESULT steady=$STEADY
for cfg in $CONFIGS; do
    n=${cfg%x*}; m=${cfg#*x}; all=$((n * m))
    gen "$n" "$m" > "/tmp/bench-$cfg.conf"
    say "# $cfg: $n virtual servers x $m real servers, $all TCP_CHECKs, delay_loop 5 ($((all / 5)) checks/s asked)"
    run=1
    while [ $run -le "$RUNS" ]; do
        for daemon in $DAEMONS; do one "$daemon" "/tmp/bench-$cfg.conf" "$all" "$cfg"; done
        run=$((run + 1))
    done
done
kill "$ACCEPTD" 2>/dev/null
exit 0

#!/usr/bin/env bash
# smtp_alert mail from the VRRP child (issue 4): a tiny SMTP sink on the peer host, an
# instance with smtp_alert and a sync group with smtp_alert; Debian's keepalived and ours
# run the same config in turn, and the mails each sends up to MASTER are compared: the same
# subjects ("[mailtest] VRRP Instance VI_1 - Entering MASTER state", …), bodies, sender,
# recipients and HELO.
# Usage: sudo tests/vrrp-mail.sh [OUR_BINARY]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh"
# shellcheck source=tests/vrrp-lib.sh
source "$ROOT/tests/vrrp-lib.sh"
vrrp_setup vrrp-mail kvm "${1:-$ROOT/target/debug/keepalived}" theirs

conf() { # conf NAME
    cat >"$TMP/$1.conf" <<'CONF'
global_defs {
    router_id mailtest
    smtp_helo_name lb1.lab.example
    notification_email {
        ops@lab.example
        oncall@lab.example
    }
    notification_email_from ka@lab.example
    smtp_server 10.99.0.12 2525
    smtp_connect_timeout 5
}
vrrp_sync_group G1 {
    group {
        VI_2
        VI_3
    }
    smtp_alert
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    smtp_alert
    virtual_ipaddress {
        10.99.0.100/24
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.99.0.102/24
    }
}
vrrp_instance VI_3 {
    interface eth0
    virtual_router_id 53
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.99.0.103/24
    }
}
CONF
}

PY=$(python3 -c 'import sys; print(sys.executable)')
make_lab "$LAB"

# mails WHO: run WHO on host a until its three instances are MASTER and two MASTER mails
# came, then keep the sink's file as $TMP/WHO.mail.
mails() {
    local who=$1
    : >"$TMP/$who.sink"
    : >"$TMP/$who.sink.out"
    ip netns exec "$LAB-b" "$PY" "$ROOT/tests/smtp-sink.py" 10.99.0.12 2525 "$TMP/$who.sink" 30 >"$TMP/$who.sink.out" 2>&1 &
    CAP_PIDS+=($!)
    wait_for 1 "$TMP/$who.sink.out" listening 5
    conf "$who"
    : >"$TMP/$who.log"
    run "$who" a "$who"
    wait_for 3 "$TMP/$who.log" 'Entering MASTER STATE' 15 || true
    wait_for 2 "$TMP/$who.sink" '^Subject: .* - Entering MASTER state' 10 || true
    sleep 0.5
    cp "$TMP/$who.sink" "$TMP/$who.mail"
    stop "$who" || true
    kill -TERM "${CAP_PIDS[-1]}" 2>/dev/null || true
    wait "${CAP_PIDS[-1]}" 2>/dev/null || true
    unset 'CAP_PIDS[-1]'
}

mails theirs
mails ours

# digest FILE: each mail's envelope and headers but the date, sorted (mails of several
# instances may come in any order).
digest() {
    awk '/^=== end/ { print m; m = ""; next } !/^Date: / { m = m "|" $0 }' "$1" | sort
}
subjects() { grep '^Subject: ' "$1" | sort; }

for s in "Subject: [mailtest] VRRP Instance VI_1 - Entering BACKUP state" \
    "Subject: [mailtest] VRRP Instance VI_1 - Entering MASTER state" \
    "Subject: [mailtest] VRRP Group G1 - Entering MASTER state"; do
    check "keepalived sends '$s'" "$(grep -qxF "$s" "$TMP/theirs.mail"; echo $?)"
    check "ours sends '$s'" "$(grep -qxF "$s" "$TMP/ours.mail"; echo $?)"
done
check "ours: the MASTER mail's body is keepalived's" \
    "$(grep -qxF '=> VRRP Instance is now owning VRRP VIPs <=' "$TMP/ours.mail"; echo $?)"
check "ours: HELO, MAIL FROM and both RCPT TO as keepalived's" \
    "$(grep -qxF 'HELO lb1.lab.example' "$TMP/ours.mail" && grep -qxF 'MAIL FROM:<ka@lab.example>' "$TMP/ours.mail" &&
        grep -qxF 'RCPT TO:<ops@lab.example>' "$TMP/ours.mail" && grep -qxF 'RCPT TO:<oncall@lab.example>' "$TMP/ours.mail"; echo $?)"
check "the same subjects as keepalived ($(subjects "$TMP/ours.mail" | wc -l) mails)" \
    "$(diff <(subjects "$TMP/theirs.mail") <(subjects "$TMP/ours.mail") >&2; echo $?)"
check "the same mails as keepalived but the date (envelope, headers, body)" \
    "$(diff <(digest "$TMP/theirs.mail") <(digest "$TMP/ours.mail") >&2; echo $?)"
check "ours logs 'SMTP alert successfully sent.'" "$(grep -q 'SMTP alert successfully sent\.' "$TMP/ours.log"; echo $?)"

echo "vrrp-mail: $passed passed, $failed failed"
((failed == 0))

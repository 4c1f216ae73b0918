#!/bin/sh
# tests/ipvs/vm.sh tests/ipvs/smoke: is the VM usable? IPVS over genetlink, both
# daemons' binaries, the kprobe change counter, a site with a real server, /out.
# shellcheck source-path=SCRIPTDIR source=../guest/lib.sh
. /etc/ipvs-vm/lib.sh
fail=0
check() { if "$@" > /tmp/check.out 2>&1; then echo "ok - $*"; else echo "not ok - $*"; sed 's/^/#   /' /tmp/check.out; fail=1; fi; }

check ipvsadm -A -t 10.99.1.1:80 -s rr
check ipvsadm -a -t 10.99.1.1:80 -r 10.99.2.1:80 -m -w 3
check sh -c 'ipvsadm -Sn | grep -q -- "-a -t 10.99.1.1:80 -r 10.99.2.1:80 -m -w 3"'
check changes_arm
changes_reset
ipvsadm -e -t 10.99.1.1:80 -r 10.99.2.1:80 -m -w 4
ipvsadm -A -t 10.99.1.1:80 -s rr 2>/dev/null       # exists: no change
ipvsadm -C
changes_count
check test "$CHANGES" = 3 -a "$CHANGES_WHAT" = "del_dest x1, edit_dest x1, unlink_service x1"
echo "# changes: $CHANGES ($CHANGES_WHAT)"
sed 's/^/#   /' /tmp/changes.trace
check keepalived --version
[ -x /usr/local/sbin/keepalived-rs ] && check /usr/local/sbin/keepalived-rs --version
site_create s1
check rs_http s1-rs 10.99.2.1 80 /etc
check ip netns exec s1 wget -q -O /dev/null http://10.99.2.1/hosts
stop_all
site_delete s1
ipvsadm -Sn > /out/table.txt
echo "smoke done" > /out/smoke.txt
exit $fail

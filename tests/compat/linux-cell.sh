#!/bin/sh
# One Linux cell of the compatibility matrix (make compat, doc/compat.md): the Linux test
# guest (virtio-net on a tap on a bridge, virtio-blk with a writer that fsyncs, the guest
# agent, its memory check) booted under QEMU OLD with libcpr, moved with cpr-agent transfer
# to a new QEMU from NEW (the old side's machine type made explicit). One JSON line appended
# to OUT, with the same members as tests/compat/compat's.
#
# usage: tests/compat/linux-cell.sh OLD NEW OUT
#
# "moved" needs: the agent says transferred, the old QEMU is gone, the new one runs the
# guest, the memory check goes on with no error, the guest answers ping and guest-ping, and
# every block the writer had acknowledged is on the disk when QEMU is ended. "refused" and
# "rolled-back" need the guest to go on the same way in the old QEMU. Exit 0 unless the
# outcome is "failed" (77: a prerequisite is missing, no line).
top=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -eq 3 ] || { echo "usage: $0 OLD NEW OUT" >&2; exit 2; }
old_bin=$1 new_bin=$2 out=$3
# the harness starts $CPR_TEST_QEMU
CPR_TEST_QEMU=$old_bin
. "$top/tests/harness/linux-guest.sh"
IP=10.0.2.15
BLOCKS=64

outcome=failed reason="" machine="" tier="" tier_reason="" pause=-1
# the line, whatever happens after this point (fail exits through the EXIT trap)
line() {
	"$python" - "$out" "$old_bin" "$new_bin" "$machine" "$outcome" "$reason" "$tier" \
		"$tier_reason" "$pause" <<'EOF'
import json, subprocess, sys, re
out, old_bin, new_bin, machine, outcome, reason, tier, tier_reason, pause = sys.argv[1:]
def version(b):
    try:
        l = subprocess.run([b, "--version"], capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin"}).stdout.splitlines()[0]
    except Exception:
        return "?", ""
    m = re.match(r"QEMU emulator version (\d+\.\d+\.\d+)(?: \((.*)\))?", l)
    return (m.group(1), m.group(2) or "") if m else ("?", "")
ov, ob = version(old_bin)
nv, nb = version(new_bin)
with open(out, "a") as f:
    f.write(json.dumps({"old": ov, "new": nv, "old-bin": old_bin, "new-bin": new_bin,
                        "old-build": ob, "new-build": nb, "config": "linux",
                        "machine": machine, "outcome": outcome, "reason": reason,
                        "tier": tier, "tier-reason": tier_reason,
                        "pause-ms": float(pause or -1)}) + "\n")
print("cell: %s -> %s linux on %s: %s%s" % (ov, nv, machine, outcome,
                                             ": " + reason if reason else ""))
EOF
}

lg_setup compat
trap '[ "$outcome" != failed ] || reason=${fail_reason:-"see the log"}; line; lg_cleanup' EXIT
truncate -s 1M "$dir/disk.img"
netns_add_tap "$ns" tap0 || fail "cannot add tap0 to $ns"
qmpsock=$dir/qmp.sock
guest_args() {
	guest_cmdline "$1" "cpr.ip=$IP/24 cpr.qga=1 cpr.mem=128:20 cpr.fsync=/dev/vda:$BLOCKS:200" \
		${2:+-machine "$2"} \
		-netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device virtio-net-pci,netdev=n0 \
		-drive "file=$dir/disk.img,format=raw,if=none,id=d0,cache=none" \
		-device virtio-blk-pci,drive=d0 \
		-chardev "socket,id=qga0,path=$dir/qga.sock,server=on,wait=off" \
		-device virtio-serial-pci -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0 \
		-qmp "unix:$qmpsock,server=on,wait=off"
}
guest_args old
qemu_start old libcpr
old=$pid
wait_ready
machine=$(qmp "$qmpsock" '{"execute":"qom-get","arguments":{"path":"/machine","property":"type"}}' |
	sed -n 's/.*"return": "\(.*\)-machine".*/\1/p')
[ -n "$machine" ] || fail "the old QEMU does not say its machine type"

mem_ok() { console | grep -c '^mem ok'; }
more_mem_ok() { [ "$(mem_ok)" -gt "$1" ]; }
guest_fine() { # WHERE: memory passes go on with no error, ping and qemu-ga answer
	_n=$(mem_ok)
	until_ok 120 "memory passes after $_n $1" more_mem_ok "$_n"
	[ "$(console | grep -c '^mem bad')" -eq 0 ] || fail "memory errors $1"
	until_ok 60 "ping $IP $1" in_ns "$guest/busybox" ping -c 1 -W 1 "$IP" >/dev/null
	[ "$("$python" "$client" qga "$dir/qga.sock")" = '{"return": {}}' ] ||
		fail "no answer to guest-ping $1"
	echo "$1: $(mem_ok) memory passes, 0 errors; ping and guest-ping answered"
}
last_ack() { console | sed -n 's/^ack \([0-9]*\)$/\1/p' | tail -n 1; }
acked() { [ -n "$(last_ack)" ]; }
until_ok 60 "the first fsync ack" acked
guest_fine "before"

qemu=$new_bin
guest_args new "$machine"
agent_transfer new "$qmpsock"
rc=$?
tier=$(report tier) tier_reason=$(report tier-reason) pause=$(report pause-ms)
case $rc in
0)
	[ "$(report result)" = transferred ] || fail "the report says '$(report result)'"
	qemu_gone "$old" || fail "the old QEMU $old runs on"
	guest_fine "in the new QEMU"
	outcome=moved
	cur=$new_pid
	;;
1 | 3)
	reason=$(report error)
	guest_fine "in the old QEMU"
	outcome=$([ $rc -eq 1 ] && echo refused || echo rolled-back)
	cur=$old
	;;
*) fail "cpr-agent exited $rc: $(report error)" ;;
esac
kill "$cur"
qemu_gone "$cur" || fail "QEMU $cur did not exit on SIGTERM"
ack=$(last_ack)
"$guest/fsync-writer" check "$dir/disk.img" "$BLOCKS" "$ack" ||
	fail "acknowledged blocks up to $ack missing from the disk"

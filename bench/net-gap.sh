#!/bin/sh
# The network across a move: the Linux test guest (tests/linux-guest) on a tap on bridge
# br0 in a network namespace of this script; a UDP datagram every 2 ms from the namespace
# to the guest's echo and back, from before the move until a second after it. Per run:
# datagrams lost, the longest gap between two echoes, the pause. Methods:
#
#   libcpr    cpr-agent transfer with the very same command line (the tap by name, the QMP
#             path): both QEMUs under libcpr
#   live      what an operator has without libcpr: live migration (precopy) over a UNIX
#             socket to a new plain QEMU on a new tap (tap1) on the same bridge;
#             max-bandwidth unlimited, downtime-limit QEMU's default 300 ms
#   stopcopy  the same, the source stopped before the migration starts, `cont` on the
#             destination once it completed
#
# pause: libcpr: the agent's report (STOP to RESUME); live: QEMU's downtime; stopcopy:
# stop to the reply of cont. Each run boots the guest afresh and moves it once, so that
# every method starts from the same state. Prints a markdown table of medians (min-max);
# each run's figures go to stderr.
#
# usage: bench/net-gap.sh [-r RUNS] [-m METHOD,...]   (root; RUNS 5, all methods)
# Run from a built tree (make), or with CPR_BUILDDIR set to the build directory.
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/harness/linux-guest.sh"
IP=10.0.2.15
runs=5
methods=libcpr,live,stopcopy
while getopts r:m: o; do
	case $o in
	r) runs=$OPTARG ;;
	m) methods=$OPTARG ;;
	*) echo "usage: $0 [-r RUNS] [-m libcpr,live,stopcopy]" >&2; exit 2 ;;
	esac
done

lg_setup netgap
[ -f "$libcpr" ] || fail "no $libcpr (make first, or set CPR_BUILDDIR)"
netns_add_tap "$ns" tap0 && netns_add_tap "$ns" tap1 || fail "cannot add taps to $ns"
for side in 0 1; do
	guest_cmdline "tap$side" "cpr.ip=$IP/24 cpr.udpecho=1" \
		-netdev "tap,id=n0,ifname=tap$side,script=no,downscript=no" \
		-device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56 \
		-qmp "unix:$dir/qmp$side.sock,server=on,wait=off"
done
results=$dir/results
: >"$results"

echo_ok() { in_ns "$python" "$client" echo "$IP" 7777; }
# record METHOD PAUSE: the stream's figures of this run
record() {
	set -- "$1" "$2" $stream_result
	echo "bench: $1 run $run: lost $8, longest gap ${10} ms, pause $2 ms" >&2
	echo "$1 $8 ${10} $2" >>"$results"
}

for method in $(echo "$methods" | tr , ' '); do
	case $method in libcpr | live | stopcopy) ;; *) fail "unknown method $method" ;; esac
	run=1
	while [ "$run" -le "$runs" ]; do
		rm -f "$dir/console.log" "$dir/mig.sock"
		qemu_start tap0 "$([ "$method" = libcpr ] && echo libcpr || echo plain)"
		old=$pid
		wait_ready >&2
		until_ok 60 "udp echo from the guest" echo_ok
		stream_start "$IP"
		sleep 0.5
		if [ "$method" = libcpr ]; then
			agent_transfer tap0 "$dir/qmp0.sock" >"$dir/agent.out" ||
				fail "transfer: $(cat "$dir/agent.out")"
			pause=$(report pause-ms) new=$new_pid
		else
			qemu_start tap1 plain -incoming "unix:$dir/mig.sock"
			new=$pid
			until_ok 60 "the destination's migration socket" test -S "$dir/mig.sock"
			out=$("$python" "$client" migrate "$dir/qmp0.sock" "$dir/qmp1.sock" \
				"unix:$dir/mig.sock" "$([ "$method" = live ] && echo live || echo stopped)") ||
				fail "migration: $out"
			pause=${out#pause-ms }
		fi
		sleep 1
		stream_stop
		record "$method" "$pause"
		qemu_gone "$old" || fail "the old QEMU $old did not exit"
		kill "$new"
		qemu_gone "$new" || fail "QEMU $new did not exit"
		run=$((run + 1))
	done
done

# median and range of column $2 of method $1's lines
summary() {
	awk -v m="$1" '$1 == m { print $'"$2"' }' "$results" | sort -n | awk '
		{ v[NR] = $1 }
		END { if (!NR) exit
			med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%g (%g-%g)", med, v[1], v[NR] }'
}
echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC'): \`bench/net-gap.sh -r $runs\`, $(nproc) cores," \
	"$("$qemu" --version | head -n 1), accel $accel, a datagram every 2 ms," \
	"medians (min-max) of $runs moves."
echo
echo "| method | datagrams lost | longest gap ms | pause ms |"
echo "|---|---|---|---|"
for method in $(echo "$methods" | tr , ' '); do
	echo "| $method | $(summary "$method" 2) | $(summary "$method" 3) | $(summary "$method" 4) |"
done

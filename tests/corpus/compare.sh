#!/bin/bash
# Run one QEMU command line under the plain QEMU and under libcpr (LD_PRELOAD), each with -S
# and QMP on stdio, and compare what an operator sees: whether it starts, its error text,
# and its RAM blocks (`info ramblock`: name, page size, used and total size).
#
# usage: tests/corpus/compare.sh [-d DIR] -- QEMU-ARGS...     (exit 0 same, 1 different)
# env:   CPR_TEST_QEMU (default /usr/bin/qemu-system-x86_64), CPR_TEST_LIBCPR (libcpr.so),
#        CPR_COMPARE_ENV: extra VAR=VAL words for the libcpr run (e.g. CPR_PROMOTE=off)
# Prints the difference when there is one; DIR keeps each run's stdout/stderr/blocks.
#
# Sourced (with COMPARE_LIB=1), it defines compare_run and compare_show for other scripts.
set -u

QEMU=${CPR_TEST_QEMU:-/usr/bin/qemu-system-x86_64}
LIBCPR=$(realpath "${CPR_TEST_LIBCPR:-.libs/libcpr.so}")
QMP_IN='{"execute":"qmp_capabilities"}
{"execute":"human-monitor-command","arguments":{"command-line":"info ramblock"}}
{"execute":"quit"}'

# compare_run OUT MODE ARGS...: one QEMU run in the current directory; writes OUT.status
# (started / exit N / timeout), OUT.err (stderr without libcpr's lines and timestamps) and
# OUT.blocks. The commands go through a fifo held open until QEMU exits: at EOF on its
# stdio QMP, QEMU would drop requests not yet dispatched.
# QEMU runs with no descriptor of ours but 0-2: make's jobserver pipes and the like are open
# in the callers under make -j, and a command line that names fd:7 (libvirt's restore) would
# read whatever is there, differently from run to run.
only_std_fds() {
	bash -c 'for f in /proc/$$/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] 2>/dev/null && eval "exec $n>&-"; done; exec "$@"' only_std_fds "$@"
}

compare_run() {
	local out=$1 mode=$2 rc pid
	shift 2
	rm -f "$out.fifo"
	mkfifo "$out.fifo"
	if [ "$mode" = libcpr ]; then
		only_std_fds env LD_PRELOAD="$LIBCPR" ${CPR_COMPARE_ENV:-} timeout -k 5 20 "$QEMU" "$@" \
			<"$out.fifo" >"$out.out" 2>"$out.raw" &
	else
		only_std_fds env -u LD_PRELOAD timeout -k 5 20 "$QEMU" "$@" <"$out.fifo" >"$out.out" \
			2>"$out.raw" &
	fi
	pid=$!
	exec 9>"$out.fifo"
	printf '%s\n' "$QMP_IN" >&9 2>/dev/null
	wait "$pid"
	rc=$?
	exec 9>&-
	rm -f "$out.fifo"
	# libcpr's own log lines, and -msg timestamp=on's prefix
	grep -av '^libcpr\[' "$out.raw" |
		sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z //' >"$out.err"
	grep -a '"return": "' "$out.out" | grep -a 'Block Name' |
		sed -e 's/^.*"return": "//' -e 's/"}$//' -e 's/\\r\\n/\n/g' |
		awk 'NF >= 6 && $1 != "Block" { print $1, $2 $3, $5, $6 }' | sort >"$out.blocks"
	if [ -s "$out.blocks" ]; then
		echo started >"$out.status"
	elif [ "$rc" -ge 124 ]; then
		echo "timeout or signal" >"$out.status" # 124 or 137: when timeout gave up
	else
		echo "exit $rc" >"$out.status"
	fi
}

# compare_show A B: 0 when runs A and B look the same to the operator, else prints how not.
compare_show() {
	local a=$1 b=$2 same=0
	for f in status err blocks; do
		if ! cmp -s "$a.$f" "$b.$f"; then
			same=1
			echo "  $f differs:"
			diff "$a.$f" "$b.$f" | sed 's/^/    /' | head -n 20
		fi
	done
	return $same
}

[ -n "${COMPARE_LIB:-}" ] && return 0

dir=
if [ "${1:-}" = -d ]; then
	dir=$2
	shift 2
fi
[ "${1:-}" = -- ] && shift
if [ -z "$dir" ]; then
	dir=$(mktemp -d)
	trap 'rm -rf "$dir"' EXIT
fi
mkdir -p "$dir"
cd "$dir" || exit 2
compare_run plain plain "$@"
compare_run libcpr libcpr "$@"
echo "plain: $(cat plain.status); libcpr: $(cat libcpr.status)"
sed 's/^/  plain block: /' plain.blocks
grep -a 'promotion' libcpr.raw | sed 's/^/  /' | cut -c1-400
if compare_show plain libcpr; then
	echo same
	exit 0
fi
echo different
exit 1

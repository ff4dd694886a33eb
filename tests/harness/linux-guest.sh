# The Linux test guest's tests (tests/linux-guest) under the real QEMU in a network
# namespace of their own (POSIX sh, sourced; root only). The test sets $top (the source
# tree) first, then:
#
#   lg_setup NAME            prerequisites (skip without them), the guest, a temporary
#                            $dir, a namespace $ns with bridge br0 (netns.sh), cleanup on exit
#   skip WHY / fail WHY      exit 77 (99 under CI=true: a missing prerequisite is a failure
#                            there) / exit 1 with the guest's console (WHY in $fail_reason,
#                            for an EXIT trap)
#   now, past T, deadline S, since T
#                            seconds since the epoch; whether T passed; now + S; now - T
#   until_ok S WHAT CMD...   run CMD until it succeeds, at most S seconds, else fail WHAT
#   guest_cmdline NAME KEYS ARGS...
#                            the guest's QEMU command line (-m 512, one vCPU unless ARGS
#                            say -smp): kernel keys KEYS (cpr.ip=...), devices ARGS; the
#                            console on $dir/console.log (appended to, so a new QEMU with
#                            the same line keeps the old one's lines). One word a line in
#                            $dir/NAME.cmdline: qemu_start and agent_transfer both run
#                            exactly it
#   qemu_start NAME plain|libcpr [ARGS...]
#                            start it (ARGS appended) in $ns, under libcpr or not; $pid
#   wait_ready [PID]         until the console says ready (fail if that QEMU dies first)
#   console, console_has RE  the console without CRs; whether a line matches RE
#   agent_transfer NAME QMP [OPTIONS...]
#                            cpr-agent transfer --json --qmp QMP --libcpr LIBCPR OPTIONS --
#                            NAME's command line, in $ns; prints its messages and report
#                            ($dir/agent.json), sets $new_pid; returns the agent's status
#   report KEY               a member of that report
#   qemu_gone PID            wait (bounded) until PID exited; reaps it if it is our child
#   qmp PATH CMD...          $client qmp (see linux-guest.py): "peer PID", then the replies
#   in_ns CMD...             CMD in $ns
#
#   stream_start IP / stream_stop
#                            a UDP datagram every 2 ms to IP:7777 and back, from $ns, until
#                            stream_stop, which sets $stream_result ("sent S received R
#                            lost L longest-gap-ms G")
# Every QEMU started here or by the agent runs in $ns; cleanup kills what is left in it
# (by pid) and deletes it.
. "$top/tests/harness/netns.sh"
qemu=${CPR_TEST_QEMU:-/usr/bin/qemu-system-x86_64}
accel=${CPR_TEST_ACCEL:-tcg}
builddir=${CPR_BUILDDIR:-$top}
libcpr=${CPR_TEST_LIBCPR:-$builddir/.libs/libcpr.so}
agent=$builddir/cpr-agent
python=$(command -v python3)
client="$top/tests/harness/linux-guest.py"
dir=""
ns=""

skip() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $* (a prerequisite; required under CI=true)"
		exit 99
	fi
	echo "SKIP: $*"
	exit 77
}
fail() {
	fail_reason=$*
	echo "FAIL: $*"
	[ -z "$dir" ] || [ ! -f "$dir/console.log" ] ||
		{ echo "--- guest console (last lines):"; console | tail -n 20; }
	exit 1
}

lg_setup() {
	[ "$(id -u)" -eq 0 ] || skip "not root (network namespaces and taps need root)"
	netns_available || skip "no network namespaces or taps here (ip netns, /dev/net/tun)"
	[ -x "$qemu" ] || skip "no $qemu (apt-get install qemu-system-x86)"
	[ -n "$python" ] || skip "no python3 (apt-get install python3)"
	guest=$(sh "$top/tests/linux-guest/build.sh" | tail -n 1) && [ -f "$guest/initrd.img" ] ||
		skip "cannot build the linux guest (tests/linux-guest/build.sh said why above)"
	dir=$(mktemp -d)
	trap lg_cleanup EXIT
	trap 'exit 1' INT TERM
	ns=$(netns_create "$1") || fail "cannot create a network namespace"
}

lg_cleanup() {
	# Every process in the namespace is one of ours (QEMUs we or the agent started, UDP
	# clients): TERM, then KILL what is left after 5 s. Pids outside it are never killed:
	# one that exited long ago may name another process by now.
	if [ -n "$ns" ]; then
		_left=$(ip netns pids "$ns" 2>/dev/null)
		[ -z "$_left" ] || kill $_left 2>/dev/null
		_end=$(deadline 5)
		while [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && ! past "$_end"; do sleep 0.05; done
		_left=$(ip netns pids "$ns" 2>/dev/null)
		[ -z "$_left" ] || kill -9 $_left 2>/dev/null
		wait
		netns_delete "$ns"
	fi
	[ -z "$dir" ] || rm -rf "$dir"
}

# Seconds since the epoch, with a fraction (date +%s.%N is GNU; fine on Debian).
now() { date +%s.%N; }
past() { awk -v a="$(now)" -v b="$1" 'BEGIN { exit !(a > b) }'; }
deadline() { awk -v a="$(now)" -v s="$1" 'BEGIN { printf "%.3f", a + s }'; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }
until_ok() {
	_end=$(deadline "$1") _what="$2 (within $1 s)"
	shift 2
	until "$@"; do
		past "$_end" && fail "$_what"
		sleep 0.1
	done
}

# Whether PID is a zombie (exited, not yet reaped by its parent).
zombie() { [ "$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
exited() { ! kill -0 "$1" 2>/dev/null || zombie "$1"; }
qemu_gone() {
	_end=$(deadline 10)
	until exited "$1"; do
		past "$_end" && return 1
		sleep 0.05
	done
	wait "$1" 2>/dev/null
	return 0
}

in_ns() { netns_exec "$ns" "$@"; }

guest_cmdline() {
	_name=$1 _keys=$2
	shift 2
	printf '%s\n' "$qemu" -accel "$accel" -m 512 -nodefaults -display none \
		-kernel "$guest/vmlinuz" -initrd "$guest/initrd.img" \
		-append "console=ttyS0 quiet $_keys" \
		-chardev "file,id=con0,path=$dir/console.log,append=on" -serial chardev:con0 \
		"$@" >"$dir/$_name.cmdline"
}

# argv_of NAME [WORDS...]: NAME's command line, then WORDS, one word a line in $dir/argv
argv_of() {
	_file=$dir/$1.cmdline
	shift
	{ cat "$_file"; [ $# -eq 0 ] || printf '%s\n' "$@"; } >"$dir/argv"
}

qemu_start() {
	_name=$1 _mode=$2
	shift 2
	case $_mode in
	libcpr) _env=LD_PRELOAD=$libcpr ;;
	plain) _env=LD_PRELOAD= ;;
	*) fail "qemu_start: mode '$_mode'" ;;
	esac
	argv_of "$_name" "$@"
	set --
	while IFS= read -r _w; do set -- "$@" "$_w"; done <"$dir/argv"
	# ip execs env, env execs QEMU: $! is QEMU's pid (a function run with & would leave a
	# subshell in between)
	ip netns exec "$ns" env "$_env" "$@" >>"$dir/qemu.log" 2>&1 &
	pid=$!
}

# The console's lines end in CR LF (the tty's onlcr).
console() { tr -d '\r' 2>/dev/null <"$dir/console.log"; }
console_has() { console | grep -q "$1"; }
guest_ready() {
	console_has '^cpr-linux-guest fail' && fail "the guest says a service failed"
	exited "$1" && fail "QEMU $1 exited before the guest was ready (see $dir/qemu.log):
$(cat "$dir/qemu.log")"
	console_has '^cpr-linux-guest ready'
}
wait_ready() {
	_start=$(now)
	# QEMU under TCG on a loaded machine: a generous deadline, polled every 0.1 s.
	until_ok 300 "the guest's ready line" guest_ready "${1:-$pid}"
	echo "guest ready after $(since "$_start") s"
}

agent_transfer() {
	_name=$1 _qmp=$2
	shift 2
	argv_of "$_name"
	set -- "$@" --
	while IFS= read -r _w; do set -- "$@" "$_w"; done <"$dir/argv"
	in_ns "$agent" transfer --json --qmp "$_qmp" --libcpr "$libcpr" "$@" \
		>"$dir/agent.json" 2>"$dir/agent.log"
	_rc=$?
	cat "$dir/agent.log" "$dir/agent.json"
	new_pid=$(report new-pid)
	return $_rc
}

report() {
	"$python" -c 'import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2], "")
print(v if not isinstance(v, float) else "%.2f" % v)' "$dir/agent.json" "$1" 2>/dev/null
}

qmp() { "$python" "$client" qmp "$@"; }

stream_start() {
	# ip execs python: $! is the client's pid
	ip netns exec "$ns" "$python" "$client" stream "$1" 7777 2 >"$dir/stream.out" 2>&1 &
	stream=$!
	until_ok 30 "the UDP stream's first echo" grep -q flowing "$dir/stream.out"
}
stream_stop() {
	kill "$stream"
	wait "$stream"
	stream_result=$(tail -n 1 "$dir/stream.out")
	case $stream_result in sent*) ;; *) fail "the UDP stream failed: $(cat "$dir/stream.out")" ;; esac
}

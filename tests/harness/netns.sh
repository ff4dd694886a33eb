# Network namespaces for tests that give QEMU a tap (POSIX sh, sourced; root only).
#
#   ns=$(netns_create)              fresh namespace: lo up, bridge br0 with 10.0.2.1/24
#                                   ($CPR_NETNS_ADDR), prints its unique name
#   netns_add_tap "$ns" tap0 [multi_queue]   a tap on br0, up (QEMU opens it by name)
#   netns_exec "$ns" CMD ARGS...    run CMD inside (ping, a UDP client, ...). For a process
#                                   to kill later (QEMU), use "ip netns exec $ns CMD ... &"
#                                   directly: ip execs CMD, so $! is its pid, whereas a
#                                   function run with & leaves a subshell in between
#   netns_delete "$ns"              the namespace and all in it (taps, bridge) go away
#   netns_available                 whether this machine can do all of the above
#
# Nothing here creates a link or a route out of the namespace (no veth, no default route):
# the only addresses reachable from inside are those on br0's subnet and lo, so a guest or
# a test can reach nothing outside. Kill every process inside (QEMU) before netns_delete:
# a namespace lives on, unnamed, while a process is in it.

# Whether ip netns and taps work here: root, iproute2, /dev/net/tun.
netns_available() {
	[ "$(id -u)" -eq 0 ] && command -v ip >/dev/null 2>&1 && [ -c /dev/net/tun ] || return 1
	_ns=$(netns_create probe) || return 1
	_rc=0
	netns_add_tap "$_ns" probe0 multi_queue || _rc=1
	netns_delete "$_ns"
	return $_rc
}

netns_create() {
	_ns="cpr-${1:-test}-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
	ip netns add "$_ns" || return 1
	if ! { ip -n "$_ns" link set lo up &&
		ip -n "$_ns" link add br0 type bridge &&
		ip -n "$_ns" addr add "${CPR_NETNS_ADDR:-10.0.2.1/24}" dev br0 &&
		ip -n "$_ns" link set br0 up; }; then
		echo "netns: cannot set up br0 in $_ns" >&2
		ip netns delete "$_ns"
		return 1
	fi
	echo "$_ns"
}

# netns_add_tap NS TAP [multi_queue]
netns_add_tap() {
	ip -n "$1" tuntap add dev "$2" mode tap ${3:+"$3"} &&
		ip -n "$1" link set "$2" master br0 &&
		ip -n "$1" link set "$2" up
}

netns_exec() {
	_ns=$1
	shift
	ip netns exec "$_ns" "$@"
}

netns_delete() {
	ip netns delete "$1"
}

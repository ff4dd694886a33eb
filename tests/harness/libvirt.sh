# A real libvirt for the tests (POSIX sh, sourced after linux-guest.sh; root only): Debian's
# libvirt daemon, started by the test inside its network namespace, and one domain of the
# Linux test guest armed with libcpr through <qemu:env>, as doc/libvirt.md says.
#
#   lv_hook=yes          before lv_setup: the package's libvirt hook
#                        (contrib/libvirt/libvirt-qemu-hook) linked into
#                        /etc/libvirt/hooks/qemu.d before the daemon starts, as
#                        doc/packaging.md enables it; lv_armed KEY prints KEY of its record
#                        of the domain; the link and the record go at cleanup
#   lv_setup NAME        lg_setup NAME, then libvirt's programs (skip without them), no
#                        libvirt daemon already running (the test starts its own; fail
#                        under CI=true), one libvirt test at a time on the host; $dir made
#                        readable by libvirt-qemu with the guest's kernel and initrd and
#                        libcpr.so; virtlogd and libvirtd started in $ns (nsenter --net:
#                        the host's mount namespace, as a daemon of the host runs)
#   lv_define KEYS       define domain $dom: 512 MiB, two vCPUs, kernel keys KEYS, ACPI; a
#                        virtio-blk disk on $dir/disk.img, virtio-net on a tap libvirt adds
#                        to br0, the console on $dir/console.log, the guest agent channel;
#                        on two CPUs or more, vCPU 1 pinned to CPU $lv_pin (<vcpupin>)
#   virsh ARGS...        virsh -c qemu:///system ARGS
#   lv_pid               the QEMU pid libvirt's status file names
#   lv_qemus             the pids of the QEMUs in $ns, one a line
#   lv_daemon            the libvirtd pid in $ns (empty when none runs)
#   lv_crash_lines       the lines of the domain's log where libvirt tore the domain down
#   lv_vcpus_placed PID  whether each vCPU thread of QEMU PID the status file records sits
#                        in libvirt's cgroup of its vCPU (vcpuN) with the pinned affinity
# Cleanup destroys and undefines the domain before lg_cleanup ends what runs in $ns.
libvirtd=${CPR_TEST_LIBVIRTD:-/usr/sbin/libvirtd}
virtlogd=${CPR_TEST_VIRTLOGD:-/usr/sbin/virtlogd}
dom=""

virsh() { command virsh -q -c qemu:///system "$@"; }
lv_pid() { sed -n "s/^<domstatus .* pid='\([0-9]*\)'.*/\1/p" "/run/libvirt/qemu/$dom.xml" 2>/dev/null; }
lv_qemus() {
	for _p in $(ip netns pids "$ns" 2>/dev/null); do
		case $(cat "/proc/$_p/comm" 2>/dev/null) in qemu-system*)
			zombie "$_p" || echo "$_p" ;;
		esac
	done
}
lv_daemon() {
	for _p in $(ip netns pids "$ns" 2>/dev/null); do
		[ "$(cat "/proc/$_p/comm" 2>/dev/null)" = libvirtd ] && ! zombie "$_p" && echo "$_p"
	done
}
# libvirt writes "shutting down, reason=..." when it stops a domain (qemuProcessStop)
lv_crash_lines() { grep 'shutting down' "/var/log/libvirt/qemu/$dom.log" 2>/dev/null; }

# libvirt puts each vCPU thread in the cgroup vcpuN under the machine's and pins it
lv_pin=$(($(nproc) - 1))
lv_vcpus_placed() {
	_n=0
	for _v in $(sed -n "s/^ *<vcpu id='\([0-9]*\)' pid='\([0-9]*\)'.*/\1:\2/p" "/run/libvirt/qemu/$dom.xml"); do
		_id=${_v%%:*} _tid=${_v#*:}
		_cg=$(grep -E '^[0-9]+:([^:]*,)?cpu(,[^:]*)?:' "/proc/$1/task/$_tid/cgroup" 2>/dev/null)
		[ -n "$_cg" ] || _cg=$(grep '^0::' "/proc/$1/task/$_tid/cgroup" 2>/dev/null) # cgroup v2
		case $_cg in */vcpu"$_id") ;; *)
			echo "vCPU $_id (thread $_tid of $1) in cgroup '${_cg#*:*:}', not vcpu$_id"; return 1 ;;
		esac
		_cpus=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "/proc/$1/task/$_tid/status")
		if [ "$_id" = 1 ] && [ "$lv_pin" -gt 0 ] && [ "$_cpus" != "$lv_pin" ]; then
			echo "vCPU 1 (thread $_tid of $1) may run on CPUs $_cpus, not on $lv_pin as pinned"
			return 1
		fi
		_n=$((_n + 1))
	done
	[ $_n -eq 2 ] || { echo "the status file records $_n vCPU threads, not 2"; return 1; }
}

lv_hook=${lv_hook:-}
lv_hooks=/etc/libvirt/hooks/qemu.d
lv_armed() { sed -n "s/^$1=//p" "/var/lib/cpr/libvirt-armed/$dom" 2>/dev/null; }

lv_setup() {
	lg_setup "$1"
	for _b in "$libvirtd" "$virtlogd"; do
		[ -x "$_b" ] || skip "no $_b (apt-get install libvirt-daemon-system libvirt-clients)"
	done
	command -v virsh >/dev/null || skip "no virsh (apt-get install libvirt-clients)"
	id libvirt-qemu >/dev/null 2>&1 || skip "no libvirt-qemu user (apt-get install libvirt-daemon-system)"
	[ -f "$libcpr" ] || skip "no $libcpr (make first)"
	# one libvirt test at a time: each starts and stops the host's one daemon
	exec 9>/run/lock/cpr-test-libvirt.lock
	flock 9
	for _p in $(pgrep -x libvirtd) $(pgrep -x virtqemud); do
		zombie "$_p" ||
			skip "a libvirt daemon runs on this host already: the test starts its own (stop it)"
	done
	dom=cpr-test-$$
	trap lv_cleanup EXIT
	chmod 755 "$dir"
	cp "$guest/vmlinuz" "$guest/initrd.img" "$libcpr" "$dir/" || fail "cannot copy the guest"
	truncate -s 64M "$dir/disk.img"
	chmod 644 "$dir/vmlinuz" "$dir/initrd.img" "$dir/libcpr.so" "$dir/disk.img"
	# the log directory: so the domain's log is the test's alone
	rm -f "/var/log/libvirt/qemu/$dom.log"
	if [ -n "$lv_hook" ]; then # libvirt reads its hooks as it starts
		mkdir -p "$lv_hooks" && ln -sf "$top/contrib/libvirt/libvirt-qemu-hook" "$lv_hooks/$dom" ||
			fail "cannot link the hook into $lv_hooks"
	fi
	nsenter --net="/run/netns/$ns" "$virtlogd" -d || fail "virtlogd did not start"
	nsenter --net="/run/netns/$ns" "$libvirtd" -d || fail "libvirtd did not start"
	until_ok 30 "libvirtd answers" virsh version >/dev/null 2>&1
}

lv_cleanup() {
	if [ -n "$dom" ]; then
		virsh destroy "$dom" >/dev/null 2>&1
		virsh undefine "$dom" >/dev/null 2>&1
		rm -f "/run/libvirt/qemu/$dom.xml" "/run/libvirt/qemu/$dom.pid" \
			"/var/log/libvirt/qemu/$dom.log"
		rm -f "$lv_hooks/$dom" "/var/lib/cpr/libvirt-armed/$dom"
		rmdir "$lv_hooks" /var/lib/cpr/libvirt-armed 2>/dev/null
	fi
	lg_cleanup
}

lv_define() {
	cat >"$dir/domain.xml" <<EOF
<domain type='$([ "$accel" = kvm ] && echo kvm || echo qemu)' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$dom</name>
  <memory unit='MiB'>512</memory>
  <vcpu>2</vcpu>
$([ "$lv_pin" -gt 0 ] && echo "  <cputune><vcpupin vcpu='1' cpuset='$lv_pin'/></cputune>")
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$dir/vmlinuz</kernel>
    <initrd>$dir/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet $1</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <emulator>$qemu</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='$dir/disk.img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='bridge'>
      <source bridge='br0'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path='$dir/console.log' append='on'/>
    </serial>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:env name='LD_PRELOAD' value='$dir/libcpr.so'/>
  </qemu:commandline>
</domain>
EOF
	virsh define "$dir/domain.xml" >/dev/null || fail "virsh define failed"
}

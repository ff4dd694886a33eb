#!/bin/sh
# Quick start on Debian 12: install what is missing, build, then run the main job (demo)
# or the whole test suite (test). Run from anywhere inside the source tree.
set -eu

usage() { echo "usage: $0 demo|test" >&2; exit 2; }
[ $# -eq 1 ] || usage
case "$1" in demo|test) ;; *) usage ;; esac
cd "$(dirname "$0")/.."

# Debian packages: the build, the unit-test framework, the QMP JSON library, the real
# QEMU the demo and the integration tests drive, and cpio (the Linux test guest's initrd)
# and python3 (its tests' UDP, QMP and guest-agent clients), and qemu-utils (qemu-img:
# linux-disk-transfer gives the guest a qcow2 disk and reads it back as raw). The guest's
# own kernel, busybox and qemu-guest-agent are downloaded and unpacked by
# tests/linux-guest/build.sh, not installed. For the suite only, libvirt's daemon and virsh:
# the libvirt tests start their own libvirtd in a network namespace (tests/harness/libvirt.sh).
# And the Debian packaging tools: tests/package/deb.test builds the packages from the
# tracked files (git) and checks them with lintian.
PACKAGES="build-essential autoconf automake libtool pkg-config libcmocka-dev libjansson-dev
          qemu-system-x86 cpio python3 qemu-utils"
[ "$1" = demo ] || PACKAGES="$PACKAGES libvirt-daemon-system libvirt-clients
          git dpkg-dev debhelper lintian"
missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "quickstart: missing Debian packages:$missing (run as root, or apt-get install them)" >&2
		exit 1
	fi
	echo "quickstart: installing$missing"
	# Without systemd, installing libvirt-daemon-system would start libvirtd and virtlogd
	# from their init scripts, and the libvirt tests refuse to run beside a daemon they did
	# not start. A policy-rc.d that forbids starting services, only for this install.
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
	if [ -n "$policy" ]; then rm -f "$policy"; trap - EXIT; fi
fi

jobs=$(nproc 2>/dev/null || echo 2)
[ -x configure ] || autoreconf -fi
# --enable-sanitizers builds only what make check runs in-process (unit tests, fuzz
# regression drivers) with ASan and UBSan; libcpr.so, cpr-agent and the demo are the same
# either way. A tree configured without it is reconfigured for the test suite, from clean:
# make does not rebuild objects when only the flags change.
if [ ! -f Makefile ]; then
	./configure --enable-sanitizers
elif [ "$1" = test ] && ! grep -q -e '--enable-sanitizers' config.status; then
	make clean >/dev/null
	./configure --enable-sanitizers
fi
make -j"$jobs"

if [ "$1" = demo ]; then
	exec ./cpr-demo
fi

# QEMU 10.0 from bookworm-backports, unpacked beside 7.2 (nothing installed): the target of
# the upgrade tests. Without it they skip, or fail under CI=true.
if q10=$(sh scripts/qemu10.sh); then
	CPR_TEST_QEMU10=$(echo "$q10" | tail -n 1)
	export CPR_TEST_QEMU10
else
	echo "quickstart: no QEMU 10 (see above): the upgrade tests will skip" >&2
fi

# Debian's 7.2+deb12u15 from bookworm-security, unpacked (nothing installed): the QEMU the
# fleet-upgrade test's guests start under before the system's 7.2 and QEMU 10 replace it
# (Makefile.am names the same version). Without it that test skips, or fails under CI=true.
if qold=$(sh scripts/qemu-deb.sh 1:7.2+dfsg-7+deb12u15); then
	CPR_TEST_QEMU_OLD=$(echo "$qold" | tail -n 1)
	export CPR_TEST_QEMU_OLD
else
	echo "quickstart: no QEMU 7.2+deb12u15 (see above): fleet-upgrade will skip" >&2
fi

# The Linux test guest (cached in ~/.cache/libcpr/linux-guest): without it,
# linux-guest-boot skips, or fails under CI=true.
sh tests/linux-guest/build.sh >/dev/null ||
	echo "quickstart: no Linux test guest (see above): linux-guest-boot will skip" >&2

status=0
make -j"$jobs" check || status=$?
# What a failing test printed last, where a CI that keeps only the output's tail sees it.
if [ "$status" -ne 0 ]; then
	for log in $(find tests fuzz -name '*.log'); do
		if grep -q '^:test-result: \(FAIL\|ERROR\)' "${log%.log}.trs" 2>/dev/null; then
			echo "=== the end of $log"
			tail -n 25 "$log"
		fi
	done
fi
# One closing line any CI can read, whatever the test driver printed above.
if [ -f test-suite.log ]; then
	count() { sed -n "s/^# $1: *//p" test-suite.log | head -n 1; }
	pass=$(count PASS) fail=$(count FAIL) err=$(count ERROR) skip=$(count SKIP)
	echo "$pass passed, $((fail + err)) failed, $skip skipped"
fi
exit $status

#!/bin/sh
# make package-install-check: the packages tests/package/deb.test builds and checks, installed
# as an operator would (apt-get install ./libcpr_*.deb ./cpr-agent_*.deb, which brings their
# dependencies and recommended qemu-system-x86 from Debian) into a fresh Debian 12 root made
# with mmdebstrap; then, in that root (a mount namespace of its own, /dev /proc /sys bound,
# /tmp and /run empty): cpr-agent --version, the three man pages, cpr-agent doctor, the demo
# (a guest moved to a new QEMU, memory check PASS), and a purge that leaves no file of theirs.
# Root; about 300 MB downloaded from deb.debian.org and two minutes; not in make check.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
mirror=${CPR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
tmp=""
fail() { echo "FAIL: $*"; exit 1; }
trap '[ -z "$tmp" ] || rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

[ "$(id -u)" -eq 0 ] || fail "run as root (mmdebstrap's root mode, chroot, unshare)"
if ! command -v mmdebstrap >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap ||
		fail "cannot install mmdebstrap"
fi
# not under /tmp: the root gets an empty /tmp of its own
tmp=$(mktemp -d /var/tmp/cpr-install-XXXXXX) || exit 1
mkdir "$tmp/debs"
CPR_DEB_KEEP=$tmp/debs sh "$top/tests/package/deb.test" || fail "deb.test (above)"
r=$tmp/root
mmdebstrap --quiet --variant=apt --include=man-db bookworm "$r" "$mirror" ||
	fail "mmdebstrap bookworm"
cp "$tmp"/debs/*.deb "$r/srv/"

# a command in the root, in a mount namespace of its own
in_root() {
	unshare --mount --propagation private sh -c '
		r=$1; shift
		mount --rbind /dev "$r/dev" && mount -t proc proc "$r/proc" &&
		mount --rbind /sys "$r/sys" && mount -t tmpfs tmpfs "$r/tmp" &&
		mount -t tmpfs tmpfs "$r/run" && exec chroot "$r" "$@"' sh "$r" "$@"
}
# mmdebstrap leaves no package lists behind
in_root sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q /srv/libcpr_*.deb /srv/cpr-agent_*.deb' ||
	fail "apt-get install of the packages"
v=$(in_root cpr-agent --version) || fail "cpr-agent --version"
echo "installed: $v, $(in_root qemu-system-x86_64 --version | head -n 1)"
in_root man -w cpr-agent libcpr cpr-arm-proxmox || fail "man pages"
in_root sh -c 'MANPAGER=cat man cpr-agent' | grep -q '^ *doctor' || fail "man cpr-agent has no doctor"
in_root cpr-agent doctor
[ $? -le 1 ] || fail "cpr-agent doctor failed"
out=$(in_root /usr/libexec/libcpr/cpr-demo 2>&1)
rc=$?
echo "$out" | tail -n 16
[ $rc -eq 0 ] && echo "$out" | grep -q '^memory check: PASS' || fail "the installed demo (exit $rc)"
in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q cpr-agent libcpr' >/dev/null ||
	fail "apt-get purge"
left=$(cd "$r" && ls -d usr/lib/*/libcpr usr/libexec/libcpr usr/bin/cpr-agent var/lib/cpr 2>/dev/null)
[ -z "$left" ] || fail "left after the purge: $left"
echo "PASS: installed on a fresh Debian 12, demo and doctor run, purged clean"

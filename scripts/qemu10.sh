#!/bin/sh
# QEMU 10.0 from Debian's bookworm-backports, unpacked beside the system's QEMU 7.2 (nothing
# is installed): the upgrade target of the tests and the native cpr-transfer anchor of the
# benchmark. Idempotent; run as root the first time (it adds the apt source). The unpacking
# is scripts/qemu-suite.sh's (bookworm-backports); this keeps the folder the tests look in.
#
# usage: scripts/qemu10.sh [DIR]      DIR: $CPR_QEMU10_DIR, else ~/.cache/libcpr/qemu10
#        scripts/qemu10.sh --mirror   print the Debian mirror the apt sources name, and exit
#
# The mirror comes from the apt sources this system already has (/etc/apt/sources.list,
# sources.list.d/*.list and *.sources; $CPR_APT_ETC instead of /etc/apt for the tests): no
# host is written here.
# DIR/qemu-system-x86_64 is a wrapper that runs the unpacked binary with its own firmware
# and modules; its path is the last line printed.
set -eu

ME=qemu10
. "$(dirname "$0")/debian-unpack.sh"

if [ "${1:-}" = --mirror ]; then
	print_mirror
	exit 0
fi
DIR=${1:-${CPR_QEMU10_DIR:-${HOME:-/root}/.cache/libcpr/qemu10}}

out=$(sh "$(dirname "$0")/qemu-suite.sh" bookworm-backports "$DIR")
wrapper=$(echo "$out" | tail -n 1)
version=$(qemu_version "$wrapper")
case $version in
*"version 10.0"*) ;;
*) die "$wrapper does not run QEMU 10.0: $version" ;;
esac
echo "$wrapper"

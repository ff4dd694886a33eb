#!/bin/sh
# QEMU 10.0 from Debian's bookworm-backports, unpacked beside the system's QEMU 7.2 (nothing
# is installed): the upgrade target of the tests and the native cpr-transfer anchor of the
# benchmark. Idempotent; run as root the first time (it adds the apt source).
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

SUITE=bookworm-backports
PACKAGES="qemu-system-x86 qemu-system-data qemu-system-common"
DIR=${1:-${CPR_QEMU10_DIR:-${HOME:-/root}/.cache/libcpr/qemu10}}
WRAPPER=$DIR/qemu-system-x86_64
STAMP=$DIR/.unpacked

ME=qemu10
. "$(dirname "$0")/debian-unpack.sh"

case $DIR in
/*) ;;
*) DIR=$(pwd)/$DIR WRAPPER=$(pwd)/$WRAPPER STAMP=$(pwd)/$STAMP ;;
esac
case $DIR in *"'"*) die "$DIR: a folder name with a quote cannot go into the wrapper" ;; esac

# Done before: the wrapper still starts QEMU 10 (no apt, no network).
if [ -f "$STAMP" ] && [ -x "$WRAPPER" ] &&
	env -u LD_PRELOAD "$WRAPPER" --version 2>/dev/null | grep -q 'version 10\.0'; then
	echo "$WRAPPER"
	exit 0
fi

deb_check_dir "$DIR" "$STAMP" "$WRAPPER"

if [ "${1:-}" = --mirror ]; then
	print_mirror
	exit 0
fi

apt_suite "$SUITE" qemu-system-x86
deb_workdir
say "downloading $PACKAGES from $SUITE"
deb_fetch $(for p in $PACKAGES; do echo "$p/$SUITE"; done)

# The binary's shared libraries that this system lacks or has too old: their newer
# packages (backports first) are unpacked too, and found through LD_LIBRARY_PATH.
libs=$(deb_missing_libs "$DEB_WORK"/qemu-system-x86_*.deb "$SUITE")
if [ -n "$libs" ]; then
	say "also unpacking libraries this system lacks: $libs"
	deb_fetch $libs
fi

deb_unpack "$DIR"

libpath=""
if [ -n "$libs" ]; then
	libpath="$DIR/usr/lib/x86_64-linux-gnu:$DIR/lib/x86_64-linux-gnu"
fi
# exec: QEMU keeps the wrapper's pid (cpr-agent checks who serves the QMP socket) and its
# environment (LD_PRELOAD, CPR_INHERIT). libcpr stays passive in the shell. The firmware
# path comes first; the system's /usr/share/seabios is still searched after it.
{
	echo '#!/bin/sh'
	echo "# QEMU 10.0 unpacked by libcpr's scripts/qemu10.sh from $SUITE."
	if [ -n "$libpath" ]; then
		echo "LD_LIBRARY_PATH='$libpath'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
		echo 'export LD_LIBRARY_PATH'
	fi
	echo "QEMU_MODULE_DIR='$DIR/usr/lib/x86_64-linux-gnu/qemu'"
	echo 'export QEMU_MODULE_DIR'
	echo "exec '$DIR/usr/bin/qemu-system-x86_64' -L '$DIR/usr/share/qemu' \"\$@\""
} >"$WRAPPER"
chmod 755 "$WRAPPER"

missing=$(LD_LIBRARY_PATH=$libpath ldd "$DIR/usr/bin/qemu-system-x86_64" | grep 'not found' || true)
[ -z "$missing" ] || die "QEMU 10 still lacks libraries: $missing"
version=$(env -u LD_PRELOAD "$WRAPPER" --version | head -n 1)
echo "$version" | grep -q 'version 10\.0' || die "$WRAPPER does not run QEMU 10.0: $version"
echo "$version" >"$STAMP"
say "$version"
echo "$WRAPPER"

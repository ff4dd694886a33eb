#!/bin/sh
# The qemu-system-x86 of one Debian suite, unpacked beside the system's QEMU (nothing is
# installed) with the shared libraries of that suite which this system lacks or has too old:
# QEMU 5.2 of Debian 11 (bullseye), an old QEMU the tests upgrade from under Debian 12, and
# QEMU 10.0 of bookworm-backports (scripts/qemu10.sh calls this for it). Idempotent; run as
# root the first time (it adds the suite's apt source on the mirror the apt sources name:
# scripts/debian-unpack.sh, apt_suite).
#
# usage: scripts/qemu-suite.sh SUITE [DIR]
#        SUITE: bullseye, bookworm-backports, ... A release's name (no '-', not sid) brings
#        its security suite along (bullseye-security): the higher version of the two is taken.
#        DIR: $CPR_QEMU_SUITE_DIR/SUITE, else ~/.cache/libcpr/qemu-SUITE
#
# The mirror comes from the apt sources this system already has; no host is written here. A
# suite newer than the system's release is refused (its apt source would upgrade the
# system); for one whose QEMU needs a newer C library, scripts/qemu-root.sh makes a root.
#
# DIR/qemu-system-x86_64 is a wrapper, its path the last line printed: it execs the unpacked
# binary (same pid, fds and environment, LD_PRELOAD included) with the suite's data files
# (-L) and modules (QEMU_MODULE_DIR), and the unpacked libraries found through
# LD_LIBRARY_PATH (bullseye's: libxen* 4.14, liburing1, libvirglrenderer1, and theirs).
# Both variables stay in the QEMU's environment, which cpr-agent gives the QEMU it starts
# in its place: a wrapper sets its own QEMU_MODULE_DIR, and puts its own libraries before
# the inherited ones; those of this unpack are only what the system lacks.
set -eu

ME=qemu-suite
. "$(dirname "$0")/debian-unpack.sh"

suite_args "bullseye, bookworm-backports" CPR_QEMU_SUITE_DIR qemu "$@"
case $DIR in *"'"*) die "$DIR: a folder name with a quote cannot go into the wrapper" ;; esac
WRAPPER=$DIR/qemu-system-x86_64
BIN=$DIR/usr/bin/qemu-system-x86_64
STAMP=$DIR/.unpacked

# Done before: the wrapper still starts the QEMU it started then (no apt, no network).
if [ -f "$STAMP" ] && [ -x "$WRAPPER" ] && [ "$(qemu_version "$WRAPPER")" = "$(cat "$STAMP")" ]; then
	echo "$WRAPPER"
	exit 0
fi
deb_check_dir "$DIR" "$STAMP" "$WRAPPER"

! newer_release "$SUITE" ||
	die "$SUITE is newer than this system's Debian release (its apt source would upgrade the system): scripts/qemu-root.sh $SUITE runs its QEMU in a Debian root"
SUITES=$SUITE
case $SUITE in
*-* | sid | unstable | testing | experimental) ;;
*)
	if [ -n "$(debian_mirror debian-security)" ]; then
		SUITES="$SUITE-security $SUITE"
	else
		say "no debian-security entry in the apt sources: $SUITE without $SUITE-security"
	fi
	;;
esac
for s in $SUITES; do
	apt_suite "$s" qemu-system-x86
done
VERSION=$(suite_version qemu-system-x86 $SUITES)
[ -n "$VERSION" ] || die "apt knows no qemu-system-x86 in $SUITES"
specs=""
for p in qemu-system-x86 qemu-system-common qemu-system-data; do
	if apt-cache show "$p=$VERSION" 2>/dev/null | grep -q "^Package:"; then
		specs="$specs $p=$VERSION"
	fi
done

deb_workdir
say "downloading qemu-system-x86 $VERSION (with its -common and -data) from $SUITES"
deb_fetch $specs
case " $(deb_missing_libs "$DEB_WORK"/qemu-system-x86_*.deb) " in
*" libc6 "* | *" libc6/"*)
	die "qemu-system-x86 $VERSION needs a newer C library than this system's: scripts/qemu-root.sh $SUITE runs it in a Debian root" ;;
esac
# The shared libraries this system lacks or has too old (the suite's, security first), and
# theirs: unpacked too, found through LD_LIBRARY_PATH.
libs=$(deb_fetch_libs $SUITES)
[ -z "$libs" ] || say "also unpacking libraries this system lacks: $libs"
deb_unpack "$DIR"
deb_link_firmware "$DIR"

libpath=""
if [ -n "$libs" ]; then
	for d in "$DIR/usr/lib/x86_64-linux-gnu" "$DIR/lib/x86_64-linux-gnu"; do
		[ ! -d "$d" ] || libpath=${libpath:+$libpath:}$d
	done
fi
# exec: QEMU keeps the wrapper's pid (cpr-agent checks who serves the QMP socket) and its
# environment (LD_PRELOAD, CPR_INHERIT). libcpr stays passive in the shell. The firmware
# path comes first; the system's /usr/share/seabios is still searched after it.
{
	echo '#!/bin/sh'
	echo "# QEMU $VERSION unpacked by libcpr's scripts/qemu-suite.sh from $SUITES."
	if [ -n "$libpath" ]; then
		echo "LD_LIBRARY_PATH='$libpath'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
		echo 'export LD_LIBRARY_PATH'
	fi
	echo "QEMU_MODULE_DIR='$DIR/usr/lib/x86_64-linux-gnu/qemu'"
	echo 'export QEMU_MODULE_DIR'
	echo "exec '$BIN' -L '$DIR/usr/share/qemu' \"\$@\""
} >"$WRAPPER"
chmod 755 "$WRAPPER"

missing=$(LD_LIBRARY_PATH=$libpath ldd "$BIN" | grep 'not found' || true)
[ -z "$missing" ] || die "$BIN still lacks libraries: $missing"
wrapper_ready "$WRAPPER" "(Debian $VERSION)" "qemu-system-x86 $VERSION" "$STAMP"

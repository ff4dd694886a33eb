#!/bin/sh
# One Debian version of qemu-system-x86 (e.g. 1:7.2+dfsg-7+deb12u15 from bookworm-security),
# unpacked beside the system's QEMU (nothing is installed): the QEMU a test's guests run
# under before the system's binary replaces it, as apt upgrade does. Idempotent.
#
# usage: scripts/qemu-deb.sh VERSION [DIR]
#        DIR: $CPR_QEMU_DEB_DIR/VERSION, else ~/.cache/libcpr/qemu-deb/VERSION (VERSION
#        without its epoch)
#
# The binary's path is the last line printed: DIR/usr/bin/qemu-system-x86_64, a plain
# binary that runs as it is. QEMU finds its modules and data relative to where its binary
# lies (DIR/usr/bin/../lib/x86_64-linux-gnu/qemu, ../share/qemu, ...), and QEMU 7.2 loads
# only modules of its own build (accel-tcg-x86_64.so among them: no TCG without it), so
# qemu-system-common of the same version is unpacked too; the data files are the system's
# (qemu-system-data, seabios, ipxe-qemu), linked into DIR/usr. A copy of the binary
# elsewhere needs the same around it: PREFIX/bin/qemu-system-x86_64 looks in
# PREFIX/lib/x86_64-linux-gnu/qemu, PREFIX/share/qemu, PREFIX/share/seabios and
# PREFIX/lib/ipxe/qemu.
set -eu

ME=qemu-deb
. "$(dirname "$0")/debian-unpack.sh"

[ $# -ge 1 ] && [ $# -le 2 ] && [ -n "$1" ] || {
	echo "usage: $0 VERSION [DIR]   (VERSION: e.g. 1:7.2+dfsg-7+deb12u15)" >&2
	exit 2
}
VERSION=$1
PACKAGES="qemu-system-x86 qemu-system-common"
DIR=${2:-${CPR_QEMU_DEB_DIR:-${HOME:-/root}/.cache/libcpr/qemu-deb}/${VERSION#*:}}
case $DIR in /*) ;; *) DIR=$(pwd)/$DIR ;; esac
BIN=$DIR/usr/bin/qemu-system-x86_64
STAMP=$DIR/.unpacked

# What --version says for it: "... (Debian 1:7.2+dfsg-7+deb12u15)"
runs() {
	env -u LD_PRELOAD "$BIN" --version 2>/dev/null | head -n 1 | grep -qF "(Debian $VERSION)"
}

# Done before: the binary still runs and is that version (no apt, no network).
if [ -f "$STAMP" ] && [ -x "$BIN" ] && runs; then
	echo "$BIN"
	exit 0
fi
deb_check_dir "$DIR" "$STAMP"

for d in /usr/share/qemu /usr/share/seabios /usr/lib/ipxe/qemu; do
	[ -d "$d" ] || die "no $d: the unpacked QEMU uses the system's data files (apt-get install qemu-system-x86)"
done
for p in $PACKAGES; do
	apt_version "$p" "$VERSION" "the suite that has it (for Debian 12's security updates: bookworm-security) must be in the apt sources"
done
deb_workdir
say "downloading $PACKAGES $VERSION"
deb_fetch $(for p in $PACKAGES; do echo "$p=$VERSION"; done)
libs=$(deb_missing_libs "$DEB_WORK"/qemu-system-x86_*.deb)
[ -z "$libs" ] || die "qemu-system-x86 $VERSION needs libraries this system lacks or has too old: $libs"
deb_unpack "$DIR"

# The system's data files where the unpacked binary looks for them (the unpacked
# usr/share/qemu holds only trace-events-all and a vhost-user description).
rm -rf "$DIR/usr/share/qemu"
ln -s /usr/share/qemu "$DIR/usr/share/qemu"
deb_link_firmware "$DIR"

missing=$(ldd "$BIN" | grep 'not found' || true)
[ -z "$missing" ] || die "$BIN lacks libraries: $missing"
runs || die "$BIN does not run $VERSION: $(env -u LD_PRELOAD "$BIN" --version 2>&1 | head -n 1)"
# A machine under TCG: the accelerator is a module, the BIOS a data file.
qemu_tcg_check "$BIN"
env -u LD_PRELOAD "$BIN" --version | head -n 1 >"$STAMP"
say "$(cat "$STAMP")"
echo "$BIN"

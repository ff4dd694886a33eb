#!/bin/sh
# The libcpr linux test guest: Debian 12's kernel, busybox and qemu-guest-agent, plus the
# static helpers of this folder, as OUTDIR/vmlinuz and OUTDIR/initrd.img. Nothing is
# installed but missing build tools (gcc, libc6-dev, binutils, cpio); the guest's packages
# are downloaded and unpacked. Idempotent: rebuilds only when this script, init, a helper
# source or guest/pattern.h changed (OUTDIR/key). Prints OUTDIR as its last line.
# OUTDIR also gets busybox and fsync-writer, static, for the host side of the tests.
#
# usage: tests/linux-guest/build.sh [OUTDIR]   OUTDIR: $CPR_LINUX_GUEST_DIR, else
#                                              ~/.cache/libcpr/linux-guest
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-${CPR_LINUX_GUEST_DIR:-${HOME:-/root}/.cache/libcpr/linux-guest}}
case $OUT in /*) ;; *) OUT=$(pwd)/$OUT ;; esac
# Drivers of the devices the tests give the guest; their dependencies come with them.
MODULES="virtio virtio_ring virtio_pci virtio_pci_modern_dev virtio_pci_legacy_dev
	virtio_net net_failover failover virtio_blk virtio_scsi scsi_mod sd_mod virtio_console"

say() { echo "linux-guest: $*" >&2; }
die() { say "$*"; exit 1; }

# The helpers share the freestanding guest's page pattern (mem-check).
PATTERN=$HERE/../../guest/pattern.h
key=$(cd "$HERE" && cat build.sh init ./*.c "$PATTERN" | sha256sum | cut -d' ' -f1)
# Tests run in parallel (make -j check) build it once: the others wait for the lock here.
mkdir -p "$OUT"
exec 9>"$OUT/lock"
flock 9
if [ -f "$OUT/key" ] && [ "$(cat "$OUT/key")" = "$key" ] &&
	[ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ]; then
	echo "$OUT"
	exit 0
fi

# Build tools: installed when missing (root only).
missing=""
command -v gcc >/dev/null 2>&1 || missing="$missing gcc"
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || missing="$missing libc6-dev"
command -v objcopy >/dev/null 2>&1 || missing="$missing binutils"
command -v cpio >/dev/null 2>&1 || missing="$missing cpio"
if [ -n "$missing" ]; then
	[ "$(id -u)" -eq 0 ] || die "missing build tools:$missing (run as root, or apt-get install them)"
	say "installing$missing"
	apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2
fi

mkdir -p "$OUT"
DEBS=$OUT/debs
PKG=$OUT/pkg
mkdir -p "$DEBS"

# Download packages "$@" into DEBS unless there already; one apt-get update and retry
# when the package lists are stale.
download() {
	need=""
	for p in "$@"; do
		ls "$DEBS/${p}_"*.deb >/dev/null 2>&1 || need="$need $p"
	done
	[ -n "$need" ] || return 0
	say "downloading$need"
	# apt downloads as _apt when run as root: into a folder it can write (OUTDIR may be
	# under root's private home), then moved.
	dl=$(mktemp -d)
	id _apt >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && chown _apt "$dl"
	if ! (cd "$dl" && apt-get download -q $need) >&2; then
		apt-get update -q >&2 || { rm -rf "$dl"; die "apt-get update failed (run as root?)"; }
		(cd "$dl" && apt-get download -q $need) >&2 || { rm -rf "$dl"; die "cannot download$need"; }
	fi
	mv "$dl"/*.deb "$DEBS/"
	rm -rf "$dl"
}
deb() { ls "$DEBS/${1}_"*.deb | tail -n 1; }

download linux-image-amd64 busybox-static qemu-guest-agent
# The meta package names the real one (linux-image-6.1.0-N-amd64).
kpkg=$(dpkg-deb -f "$(deb linux-image-amd64)" Depends | sed 's/[ ,(].*//')
[ -n "$kpkg" ] || die "$(deb linux-image-amd64): no kernel package in its Depends"
download "$kpkg"

rm -rf "$PKG"
mkdir -p "$PKG"
for p in "$kpkg" busybox-static qemu-guest-agent; do
	dpkg-deb -x "$(deb "$p")" "$PKG"
done
kver=${kpkg#linux-image-}
MODDIR=$PKG/lib/modules/$kver
[ -f "$PKG/boot/vmlinuz-$kver" ] || die "$(deb "$kpkg") has no boot/vmlinuz-$kver"
[ -f "$MODDIR/modules.order" ] || die "$(deb "$kpkg") has no modules.order"

ROOT=$OUT/root
rm -rf "$ROOT"
mkdir -p "$ROOT/bin" "$ROOT/dev" "$ROOT/proc" "$ROOT/sys" "$ROOT/run" "$ROOT/tmp" \
	"$ROOT/lib/modules" "$ROOT/var"
ln -s ../run "$ROOT/var/run"
cp "$PKG/bin/busybox" "$ROOT/bin/busybox"
for a in $("$ROOT/bin/busybox" --list); do
	case $a in busybox | modprobe | depmod) ;; *) ln -s busybox "$ROOT/bin/$a" ;; esac
done
cp "$HERE/init" "$ROOT/init"
chmod 755 "$ROOT/init"
# qemu-ga's guest-shutdown runs /sbin/shutdown -h -P +0 MESSAGE (libvirt's shutdown --mode
# agent): power off at once, as the guest has nothing to stop first.
mkdir -p "$ROOT/sbin"
printf '#!/bin/sh\nsync\nexec /bin/poweroff -f\n' >"$ROOT/sbin/shutdown"
chmod 755 "$ROOT/sbin/shutdown"
for c in "$HERE"/*.c; do
	b=$(basename "$c" .c)
	gcc -static -O2 -Wall -Wextra -I"$(dirname "$PATTERN")" -o "$ROOT/bin/$b" "$c" ||
		die "cannot compile $c"
done

# Modules, dependencies first: Debian's package has no modules.dep (depmod makes it on
# install), so each module's depends= field (its .modinfo section) gives the order.
norm() { echo "$1" | tr - _; }
# path of module $1 under MODDIR, from modules.order or modules.builtin ($2)
modpath() {
	awk -v m="$1" '{ b = $0; sub(/.*\//, "", b); sub(/\.ko.*/, "", b); gsub(/-/, "_", b)
		if (b == m) { print; exit } }' "$MODDIR/$2"
}
moddeps() {
	objcopy -O binary --only-section=.modinfo "$MODDIR/$(modpath "$1" modules.order)" /dev/stdout |
		tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '
}
seen=" "
order=""
# Positional parameters are each call's own: this recursion needs no locals.
add_module() {
	set -- "$(norm "$1")"
	case $seen in *" $1 "*) return 0 ;; esac
	seen="$seen$1 "
	[ -z "$(modpath "$1" modules.builtin)" ] || return 0
	[ -n "$(modpath "$1" modules.order)" ] || die "kernel $kver has no module $1"
	for d in $(moddeps "$1"); do
		add_module "$d"
	done
	order="$order $1"
}
for m in $MODULES; do
	add_module "$m"
done
: >"$ROOT/lib/modules/modules.load"
for m in $order; do
	p=$MODDIR/$(modpath "$m" modules.order)
	case $p in
	*.ko) cp "$p" "$ROOT/lib/modules/$m.ko" ;;
	*.ko.xz) xz -dc "$p" >"$ROOT/lib/modules/$m.ko" ;;
	*) die "$p: unknown module compression" ;;
	esac
	echo "$m.ko" >>"$ROOT/lib/modules/modules.load"
done
say "modules:$order"

# qemu-ga and the shared libraries it needs: the host's copies when installed, else its
# library packages unpacked into LIBS (never installed).
QGA=$PKG/usr/sbin/qemu-ga
LIBS=$OUT/libs
libpath="$LIBS/lib/x86_64-linux-gnu:$LIBS/usr/lib/x86_64-linux-gnu"
if LD_LIBRARY_PATH=$libpath ldd "$QGA" | grep -q 'not found'; then
	rm -rf "$LIBS"
	mkdir -p "$LIBS"
	todo=qemu-guest-agent done=" "
	while [ -n "$todo" ]; do
		next=""
		for p in $todo; do
			for d in $(dpkg-deb -f "$(deb "$p")" Depends | tr ',' '\n' |
				sed -n 's/^ *\(lib[^ |]*\).*/\1/p'); do
				case $done in *" $d "*) continue ;; esac
				done="$done$d "
				dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q 'install ok installed' &&
					continue
				download "$d"
				dpkg-deb -x "$(deb "$d")" "$LIBS"
				next="$next $d"
			done
		done
		todo=$next
	done
fi
lddout=$(LD_LIBRARY_PATH=$libpath ldd "$QGA")
if echo "$lddout" | grep 'not found' >&2; then
	die "qemu-ga still lacks the libraries above"
fi
for lib in $(echo "$lddout" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p'); do
	dest=${lib#"$LIBS"}
	mkdir -p "$ROOT$(dirname "$dest")"
	cp -L "$lib" "$ROOT$dest"
done
cp "$QGA" "$ROOT/bin/qemu-ga"

# newc cpio, gzip: what the kernel unpacks (CONFIG_RD_GZIP)
(cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9 >"$OUT/initrd.img.new"
cp "$PKG/boot/vmlinuz-$kver" "$OUT/vmlinuz.new"
mv "$OUT/initrd.img.new" "$OUT/initrd.img"
mv "$OUT/vmlinuz.new" "$OUT/vmlinuz"
# For the host side of the tests: busybox (ping) and fsync-writer (checks a disk image),
# both static. The unpacked packages go: the .debs stay for the next build.
cp "$ROOT/bin/busybox" "$ROOT/bin/fsync-writer" "$OUT/"
rm -rf "$ROOT" "$PKG"
echo "$key" >"$OUT/key"
say "built $kpkg ($(du -k "$OUT/initrd.img" | cut -f1) KiB initrd)"
echo "$OUT"

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

say() { echo "qemu10: $*" >&2; }
die() { say "$*"; exit 1; }

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

# Unpacking replaces DIR: never a folder that holds anything but an earlier unpack.
if [ -d "$DIR" ] && [ -n "$(ls -A "$DIR")" ] && [ ! -f "$STAMP" ] && [ ! -f "$WRAPPER" ]; then
	die "$DIR is not empty and holds no earlier QEMU 10 of this script: choose another folder"
fi

# The Debian mirror the configured apt sources use: the first URI that ends in /debian, in
# one-line (.list) or deb822 (.sources) form. Empty if there is none.
APT_ETC=${CPR_APT_ETC:-/etc/apt}
debian_mirror() {
	{
		sed -n 's/^[[:space:]]*deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\).*/\2/p' \
			"$APT_ETC/sources.list" "$APT_ETC"/sources.list.d/*.list 2>/dev/null || :
		sed -n 's/^URIs:[[:space:]]*//p' "$APT_ETC"/sources.list.d/*.sources 2>/dev/null |
			tr ' \t' '\n\n' || :
	} | grep -E '^[a-z+]+://[^[:space:]]+/debian/?$' | head -n 1
}
if [ "${1:-}" = --mirror ]; then
	m=$(debian_mirror)
	[ -n "$m" ] || die "no Debian apt source in $APT_ETC (sources.list, sources.list.d/*.list or *.sources): add one that names your Debian mirror"
	echo "$m"
	exit 0
fi

# The apt source for $SUITE, on the mirror the system's own Debian entry uses; .list and
# .sources are the only files apt reads.
has_source() {
	grep -qs "^[^#]*$SUITE" "$APT_ETC/sources.list" "$APT_ETC"/sources.list.d/*.list \
		"$APT_ETC"/sources.list.d/*.sources
}
if ! has_source; then
	[ "$(id -u)" -eq 0 ] || die "no $SUITE apt source: run this once as root"
	mirror=$(debian_mirror)
	[ -n "$mirror" ] || die "no Debian apt source in $APT_ETC to take the mirror from: add the one for your Debian release (it names the mirror), then run this again"
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	say "adding the $SUITE apt source ($mirror)"
	{
		echo "Types: deb"
		echo "URIs: $mirror"
		echo "Suites: $SUITE"
		echo "Components: main"
		[ ! -f "$keyring" ] || echo "Signed-By: $keyring"
	} >"$APT_ETC/sources.list.d/$SUITE.sources"
	apt-get update -q >&2
elif ! apt-cache show "qemu-system-x86/$SUITE" >/dev/null 2>&1; then
	[ "$(id -u)" -eq 0 ] || die "apt knows no qemu-system-x86 in $SUITE: run apt-get update as root"
	apt-get update -q >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt downloads as _apt: it must be able to write there
id _apt >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && chown _apt "$work"

# Whether the installed version of package $1 satisfies "$2 $3" (a Depends relation).
satisfied() {
	inst=$(dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null |
		sed -n 's/^install ok installed //p')
	[ -n "$inst" ] || return 1
	[ -n "$2" ] || return 0
	case $2 in
	'>=') op=ge ;; '<=') op=le ;; '>>') op=gt ;; '<<') op=lt ;; *) op=eq ;;
	esac
	dpkg --compare-versions "$inst" "$op" "$3"
}

say "downloading $PACKAGES from $SUITE"
(cd "$work" && apt-get download -q $(for p in $PACKAGES; do echo "$p/$SUITE"; done)) >&2

# The binary's shared libraries that this system lacks or has too old: their newer
# packages (backports first) are unpacked too, and found through LD_LIBRARY_PATH.
libs=""
deps=$(dpkg-deb -f "$work"/qemu-system-x86_*.deb Depends | tr ',' '\n' | sed 's/|.*//')
for dep in $(echo "$deps" | sed -n 's/^ *\(lib[^ ]*\) *\(([^)]*)\)\{0,1\} *$/\1:\2/p' |
	tr -d ' ()'); do
	pkg=${dep%%:*} rel=${dep#*:}
	op=$(echo "$rel" | sed 's/[^<>=].*//') ver=$(echo "$rel" | sed 's/^[<>=]*//')
	satisfied "$pkg" "$op" "$ver" && continue
	if apt-cache show "$pkg/$SUITE" >/dev/null 2>&1; then
		libs="$libs $pkg/$SUITE"
	else
		libs="$libs $pkg"
	fi
done
if [ -n "$libs" ]; then
	say "also unpacking libraries this system lacks:$libs"
	(cd "$work" && apt-get download -q $libs) >&2
fi

rm -rf "$DIR"
mkdir -p "$DIR"
for deb in "$work"/*.deb; do
	dpkg-deb -x "$deb" "$DIR"
done

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

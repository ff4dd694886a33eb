#!/bin/sh
# The QEMU of a Debian suite whose binaries need a newer C library than this system's
# (trixie: QEMU 10.0.x, sid: QEMU 11.x), in a small Debian root made with mmdebstrap
# (minbase, qemu-system-x86, no recommends, no docs: about 200 MB), behind a wrapper that
# runs it like a binary of the host: the upgrade targets newer than scripts/qemu-suite.sh can
# unpack beside the system's QEMU. Nothing is installed on the host but mmdebstrap (when it
# is missing), and no apt source is added to it. Idempotent; run as root (mmdebstrap's root
# mode, and the wrapper's mount namespace).
#
# usage: scripts/qemu-root.sh SUITE [DIR]
#        SUITE: trixie, sid, ... A release's name (no '-', not sid) gets its security suite
#        too (trixie-security) when the apt sources name a security mirror.
#        DIR: $CPR_QEMU_ROOT_DIR/SUITE, else ~/.cache/libcpr/root-SUITE
#
# The mirror comes from the apt sources this system already has; no host is written here.
#
# DIR is the root; DIR/qemu-system-x86_64 the wrapper, its path the last line printed. It
# execs all the way, so that QEMU is the process that was started (one pid: cpr-agent waits
# on it and signals it), with its file descriptors (the agent's socketpair and the fds it
# passes) and its environment (LD_PRELOAD: a libcpr.so built on the host loads in the root's
# QEMU; the root's glibc is newer). It sets QEMU_MODULE_DIR to the root's modules, as the
# other wrappers set theirs. Its steps, each an exec: unshare --mount (no fork) gives the
# process a mount namespace of its own; there the root is bound on itself (a mount point,
# so that a wrapper started inside it can do the same), and the host's /dev, /proc, /sys,
# /run, /tmp (with what is mounted below: /dev/shm, /dev/hugepages, hugetlbfs under /tmp),
# ~/.cache/libcpr (the other QEMUs, the test guest, this root), the folder of DIR, the
# folders of LD_PRELOAD's libraries, the working directory and the paths of
# $CPR_ROOT_BINDS (colon-separated) are bound at the same paths inside it; unshare --root
# makes it the process's root, in the same working directory, and execs the root's QEMU.
# Nothing stays mounted: the binds live and die with the QEMU's namespace, and nothing is
# mounted on the host's side (DIR can be removed like any folder). A path the root has
# itself (/usr, /etc, /bin, /sbin, /lib*) is never hidden by a host path.
#
# What the agent sees from the host: /proc/PID/exe is DIR/usr/bin/qemu-system-x86_64,
# /proc/PID/root is DIR (readable through /proc/PID/root/...), /proc/PID/cmdline starts with
# /usr/bin/qemu-system-x86_64 (the path inside the root), a unix socket the QEMU makes in
# /tmp is the host's /tmp's, and /proc/PID/cwd reads DIR/tmp for a QEMU working in /tmp (the
# mount point of the bind, not the path inside: /tmp). A QEMU the agent starts "as the old one
# was launched" joins that namespace and root, where DIR and ~/.cache/libcpr are at their host
# paths too (a wrapper of another root works there; a binary built for this system does not).
#
# The Valid-Until of the suite's Release file is not checked (its signature is): a mirror
# that is a snapshot serves a sid whose Release file has expired.
set -eu

ME=qemu-root
. "$(dirname "$0")/debian-unpack.sh"

suite_args "trixie, sid" CPR_QEMU_ROOT_DIR root "$@"
case $DIR in *"'"* | "" | /) die "$DIR: not a folder for a Debian root" ;; esac
CACHE=${HOME:-/root}/.cache/libcpr
case $CACHE in *"'"*) die "$CACHE: a folder name with a quote cannot go into the wrapper" ;; esac
WRAPPER=$DIR/qemu-system-x86_64
STAMP=$DIR/.cpr-root
BUILT=$DIR/.cpr-root-built
PARTIAL=$DIR.partial

# Done before: the wrapper still starts the QEMU it started then (no apt, no network).
if [ -f "$STAMP" ] && [ -x "$WRAPPER" ] && [ "$(qemu_version "$WRAPPER")" = "$(cat "$STAMP")" ]; then
	echo "$WRAPPER"
	exit 0
fi
[ "$(id -u)" -eq 0 ] || die "run this as root (mmdebstrap's root mode; the wrapper's unshare --mount)"
deb_check_dir "$DIR" "$STAMP" "$BUILT"

# Whether something is mounted at or below $1 (mmdebstrap, killed, may leave /dev, /proc or
# /sys mounted in the root it was making): rm -rf would go into it.
mounted_below() {
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' \
		/proc/self/mountinfo
}

if [ ! -f "$BUILT" ]; then
	for d in "$DIR" "$PARTIAL"; do
		! mounted_below "$d" || die "something is mounted below $d (findmnt -R $d): unmount it first"
	done
	rm -rf --one-file-system "$DIR" "$PARTIAL"
	if ! command -v mmdebstrap >/dev/null 2>&1; then
		say "installing mmdebstrap"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap >&2
	fi
	mirror=$(print_mirror)
	set -- "deb $mirror $SUITE main"
	case $SUITE in
	*-* | sid | unstable | testing | experimental) ;;
	*)
		secmirror=$(debian_mirror debian-security)
		if [ -n "$secmirror" ]; then
			set -- "$@" "deb $secmirror $SUITE-security main"
		fi
		;;
	esac
	say "making a Debian $SUITE root with qemu-system-x86 in $DIR (mmdebstrap, from $mirror)"
	# Signatures are checked, Valid-Until is not (see above).
	mmdebstrap --variant=minbase --include=qemu-system-x86,mount,util-linux \
		--aptopt='APT::Install-Recommends "false"' --aptopt='APT::Sandbox::User "root"' \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		"$SUITE" "$PARTIAL" "$@" >&2 ||
		die "mmdebstrap failed (what it printed is above); $PARTIAL is left to look at"
	! mounted_below "$PARTIAL" || die "mmdebstrap left mounts below $PARTIAL"
	[ -x "$PARTIAL/usr/bin/qemu-system-x86_64" ] || die "the $SUITE root has no qemu-system-x86_64"
	: >"$PARTIAL/.cpr-root-built"
	mv "$PARTIAL" "$DIR"
fi

# The mount points of the folders bound at the same path in the root (the rest are there).
parent=${DIR%/*}
mkdir -p "$DIR$CACHE" "$DIR${parent:-/}"
[ -n "$parent" ] || parent=$CACHE # DIR right below /: nothing more to bind
{
	echo '#!/bin/sh'
	echo "# QEMU of Debian $SUITE in the Debian root $DIR, made by libcpr's"
	echo "# scripts/qemu-root.sh: run as the host's binary would be (its header says how)."
	echo "# Extra host paths to see inside: CPR_ROOT_BINDS=/path:/other/path. Root only."
	echo "root='$DIR'"
	echo "cache='$CACHE'"
	echo "parent='$parent'"
	cat <<'EOF'
# 1: a mount namespace of this process's own (unshare without --fork keeps the pid).
if [ "${1-}" != --cpr-root-ns ]; then
	exec unshare --mount --propagation slave -- /bin/sh "$0" --cpr-root-ns "$@"
fi
shift
fail() {
	echo "$0: $*" >&2
	exit 1
}
set -f
# same A B: whether A and B are one file (test -ef is not POSIX).
same() {
	[ -e "$1" ] && [ "$(stat -L -c %d:%i -- "$1")" = "$(stat -L -c %d:%i -- "$2")" ]
}
# 2: the binds, in this namespace only.
mount --bind "$root" "$root" || fail "cannot bind $root on itself"
mount --bind "$cache" "$root$cache" || fail "cannot bind $cache into $root"
if ! same "$root$parent" "$parent"; then
	mount --bind "$parent" "$root$parent" || fail "cannot bind $parent into $root"
fi
for d in /dev /proc /sys /run /tmp; do
	[ -d "$d" ] || continue
	mount --rbind "$d" "$root$d" || fail "cannot bind $d into $root"
done
# bind PATH [required]: the host's PATH at the same path in the root, unless it is there
# already or would hide the root's own system.
bind() {
	case $1 in /*) ;; *) [ -z "${2-}" ] || fail "CPR_ROOT_BINDS: $1 is not an absolute path"; return 0 ;; esac
	if [ ! -e "$1" ]; then
		[ -z "${2-}" ] || fail "CPR_ROOT_BINDS: no $1"
		return 0
	fi
	! same "$root$1" "$1" || return 0
	case $1 in
	/ | /usr | /usr/* | /etc | /etc/* | /bin | /bin/* | /sbin | /sbin/* | /lib | /lib/* | /lib32* | /lib64* | /libx32*)
		if [ -e "$root$1" ] || [ -L "$root$1" ]; then
			[ -z "${2-}" ] || fail "CPR_ROOT_BINDS: $1 would hide the root's own"
			return 0
		fi
		;;
	esac
	if [ -d "$1" ]; then
		mkdir -p "$root$1"
	else
		mkdir -p "$root${1%/*}" && : >>"$root$1"
	fi || fail "cannot make the mount point of $1 in $root"
	mount --rbind "$1" "$root$1" || fail "cannot bind $1 into $root"
}
cwd=$(pwd -P 2>/dev/null) || cwd=/
bind "$cwd"
for p in $(printf '%s\n' "${LD_PRELOAD-}" | tr ' :' '\n\n'); do
	bind "${p%/*}"
done
IFS=:
for p in ${CPR_ROOT_BINDS-}; do
	unset IFS
	bind "$p" required
	IFS=:
done
unset IFS
[ -d "$root$cwd" ] || cwd=/
# 3: the root's QEMU, in the root, in the same working directory.
QEMU_MODULE_DIR=/usr/lib/x86_64-linux-gnu/qemu
export QEMU_MODULE_DIR
exec unshare --root="$root" --wd="$cwd" /usr/bin/qemu-system-x86_64 "$@"
EOF
} >"$WRAPPER"
chmod 755 "$WRAPPER"

wrapper_ready "$WRAPPER" "(Debian " "the root's QEMU" "$STAMP"

# Debian packages fetched with apt-get download and unpacked with dpkg-deb -x (nothing is
# installed), and Debian roots made with mmdebstrap: what scripts/qemu-suite.sh (and
# qemu10.sh, its caller), qemu-deb.sh and qemu-root.sh share. Sourced, after ME (the name
# messages start with) is set.
#
# The mirror comes from the apt sources this system already has (/etc/apt/sources.list,
# sources.list.d/*.list and *.sources; $CPR_APT_ETC instead of /etc/apt for the tests): no
# host is written here.

say() { echo "$ME: $*" >&2; }
die() { say "$*"; exit 1; }

APT_ETC=${CPR_APT_ETC:-/etc/apt}

# The Debian mirror the configured apt sources use: the first URI that ends in /debian (or
# /$1: debian-security for the security archive), in one-line (.list) or deb822 (.sources)
# form. Empty if there is none.
debian_mirror() {
	archive=${1:-debian}
	{
		sed -n 's/^[[:space:]]*deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\).*/\2/p' \
			"$APT_ETC/sources.list" "$APT_ETC"/sources.list.d/*.list 2>/dev/null || :
		sed -n 's/^URIs:[[:space:]]*//p' "$APT_ETC"/sources.list.d/*.sources 2>/dev/null |
			tr ' \t' '\n\n' || :
	} | grep -E "^[a-z+]+://[^[:space:]]+/$archive/?\$" | head -n 1
}

# The mirror, or exit saying there is none (--mirror of the scripts).
print_mirror() {
	m=$(debian_mirror)
	[ -n "$m" ] || die "no Debian apt source in $APT_ETC (sources.list, sources.list.d/*.list or *.sources): add one that names your Debian mirror"
	echo "$m"
}

# suite_args EXAMPLES DIRVAR PREFIX "$@": the SUITE [DIR] arguments of qemu-suite.sh and
# qemu-root.sh (usage with EXAMPLES and exit 2 otherwise): sets SUITE, and DIR to the given
# one, else $DIRVAR/SUITE when that variable is set, else ~/.cache/libcpr/PREFIX-SUITE; an
# absolute path without a trailing slash.
suite_args() {
	sa_examples=$1 sa_var=$2 sa_prefix=$3
	shift 3
	[ $# -ge 1 ] && [ $# -le 2 ] && [ -n "$1" ] || {
		echo "usage: $0 SUITE [DIR]   (SUITE: e.g. $sa_examples)" >&2
		exit 2
	}
	SUITE=$1
	case $SUITE in *[!a-z0-9-]* | -*) die "$SUITE: not a Debian suite name" ;; esac
	DIR=${2:-}
	if [ -z "$DIR" ]; then
		eval "sa_base=\${$sa_var:-}"
		if [ -n "$sa_base" ]; then
			DIR=$sa_base/$SUITE
		else
			DIR=${HOME:-/root}/.cache/libcpr/$sa_prefix-$SUITE
		fi
	fi
	case $DIR in /*) ;; *) DIR=$(pwd)/$DIR ;; esac
	DIR=${DIR%/}
}

# newer_release SUITE: whether SUITE (its release: bullseye for bullseye-security) is newer
# than this system's Debian release (VERSION_CODENAME of /etc/os-release, in the order of
# distro-info-data's debian.csv; sid, testing and a release that list does not know count as
# newer). An apt source for it would make apt upgrade the system to it.
newer_release() {
	nr_code=${1%%-*}
	case $nr_code in sid | unstable | testing | experimental | rc) return 0 ;; esac
	nr_own=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"')
	nr_csv=/usr/share/distro-info/debian.csv
	[ -n "$nr_own" ] && [ "$nr_code" != "$nr_own" ] && [ -f "$nr_csv" ] || return 1
	awk -F, -v own="$nr_own" -v code="$nr_code" \
		'$3 == own { o = NR } $3 == code { c = NR } END { exit !(c == 0 || c > o) }' "$nr_csv"
}

# apt_has PKG SUITE: whether apt knows PKG in SUITE (apt-cache show PKG/SUITE exits 0 even
# when it does not, printing nothing).
apt_has() {
	apt-cache show "$1/$2" 2>/dev/null | grep -q '^Package:'
}

# apt_suite SUITE PKG: apt knows PKG in SUITE afterwards. Without an apt source for SUITE,
# one is added on the mirror the system's own Debian entry uses (root only); a SUITE-security
# on the mirror of its security entry. .list and .sources are the only files apt reads. A
# suite is matched as a word (bullseye is not bullseye-security).
apt_suite() {
	if ! grep -Eqs "^[^#]*[[:space:]]$1([[:space:]]|\$)" "$APT_ETC/sources.list" \
		"$APT_ETC"/sources.list.d/*.list "$APT_ETC"/sources.list.d/*.sources; then
		! newer_release "$1" ||
			die "$1 is newer than this system's Debian release: an apt source for it would upgrade the system (scripts/qemu-root.sh ${1%%-*} runs its QEMU in a Debian root instead)"
		[ "$(id -u)" -eq 0 ] || die "no $1 apt source: run this once as root"
		case $1 in
		*-security) mirror=$(debian_mirror debian-security) ;;
		*) mirror=$(debian_mirror) ;;
		esac
		[ -n "$mirror" ] || die "no Debian apt source in $APT_ETC to take the mirror from: add the one for your Debian release (it names the mirror; its security entry, the security mirror), then run this again"
		keyring=/usr/share/keyrings/debian-archive-keyring.gpg
		say "adding the $1 apt source ($mirror)"
		{
			echo "Types: deb"
			echo "URIs: $mirror"
			echo "Suites: $1"
			echo "Components: main"
			[ ! -f "$keyring" ] || echo "Signed-By: $keyring"
		} >"$APT_ETC/sources.list.d/$1.sources"
		apt-get update -q >&2
	elif ! apt_has "$2" "$1"; then
		[ "$(id -u)" -eq 0 ] || die "apt knows no $2 in $1: run apt-get update as root"
		apt-get update -q >&2
	fi
}

# apt_version PKG VERSION [HINT]: apt knows that version of PKG afterwards (one apt-get
# update as root if it did not), else exit naming the versions it knows.
apt_versions() {
	apt-cache madison "$1" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}'
}
apt_version() {
	apt_versions "$1" | grep -qxF "$2" && return 0
	if [ "$(id -u)" -eq 0 ]; then
		apt-get update -q >&2
		apt_versions "$1" | grep -qxF "$2" && return 0
	fi
	die "apt knows no $1 $2 (it knows: $(apt_versions "$1" | tr '\n' ' '))${3:+; $3}"
}

# A scratch folder for the downloads, DEB_WORK, removed on exit. apt downloads as _apt: it
# must be able to write there.
deb_workdir() {
	DEB_WORK=$(mktemp -d)
	trap 'rm -rf "$DEB_WORK"' EXIT
	if id _apt >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
		chown _apt "$DEB_WORK"
	fi
}

# deb_fetch SPEC...: apt-get download the packages (pkg, pkg/suite or pkg=version) into
# DEB_WORK.
deb_fetch() {
	(cd "$DEB_WORK" && apt-get download -q "$@") >&2
}

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

# deb_missing_libs DEB [SUITE...]: the shared-library packages DEB depends on that this
# system lacks or has too old, as apt-get download specs (pkg/SUITE for the first SUITE that
# has it).
deb_missing_libs() {
	libs=""
	deps=$(dpkg-deb -f "$1" Depends | tr ',' '\n' | sed 's/|.*//')
	shift
	for dep in $(echo "$deps" | sed -n 's/^ *\(lib[^ ]*\) *\(([^)]*)\)\{0,1\} *$/\1:\2/p' |
		tr -d ' ()'); do
		pkg=${dep%%:*} rel=${dep#*:}
		op=$(echo "$rel" | sed 's/[^<>=].*//') ver=$(echo "$rel" | sed 's/^[<>=]*//')
		satisfied "$pkg" "$op" "$ver" && continue
		spec=$pkg
		for suite in "$@"; do
			if apt_has "$pkg" "$suite"; then
				spec=$pkg/$suite
				break
			fi
		done
		libs="$libs $spec"
	done
	echo $libs
}

# deb_fetch_libs SUITE...: the shared-library packages that the .debs of DEB_WORK depend on
# and this system lacks or has too old (deb_missing_libs), fetched into DEB_WORK, and
# theirs, until none is missing. Prints their download specs (empty: none was missing).
deb_fetch_libs() {
	fl_seen="" fl_all=""
	while :; do
		fl_new=""
		for fl_deb in "$DEB_WORK"/*.deb; do
			case " $fl_seen " in *" $fl_deb "*) continue ;; esac
			fl_seen="$fl_seen $fl_deb"
			for fl_spec in $(deb_missing_libs "$fl_deb" "$@"); do
				case " $fl_all $fl_new " in *" $fl_spec "*) continue ;; esac
				fl_new="$fl_new $fl_spec"
			done
		done
		[ -n "$fl_new" ] || break
		deb_fetch $fl_new
		fl_all="$fl_all$fl_new"
	done
	echo $fl_all
}

# suite_version PKG SUITE...: the highest version of PKG that apt knows in these suites
# (empty if none has it).
suite_version() {
	sv_pkg=$1 sv_best=""
	shift
	for sv_suite in "$@"; do
		sv_v=$(apt-cache show "$sv_pkg/$sv_suite" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
		[ -n "$sv_v" ] || continue
		if [ -z "$sv_best" ] || dpkg --compare-versions "$sv_v" gt "$sv_best"; then
			sv_best=$sv_v
		fi
	done
	echo "$sv_best"
}

# deb_check_dir DIR STAMP: unpacking replaces DIR, so never a folder that holds anything
# but an earlier unpack (one that has STAMP, or the file a failed unpack leaves, $3).
deb_check_dir() {
	if [ -d "$1" ] && [ -n "$(ls -A "$1")" ] && [ ! -f "$2" ] && [ ! -e "${3:-$2}" ]; then
		die "$1 is not empty and holds no earlier unpack of this script: choose another folder"
	fi
}

# deb_unpack DIR: DIR replaced by every .deb of DEB_WORK, unpacked.
deb_unpack() {
	rm -rf "$1"
	mkdir -p "$1"
	for deb in "$DEB_WORK"/*.deb; do
		dpkg-deb -x "$deb" "$1"
	done
}

# deb_link_firmware DIR: the system's firmware (seabios, ipxe-qemu) where a QEMU unpacked
# into DIR looks for it (DIR/usr/share/seabios, DIR/usr/lib/ipxe/qemu), unless the unpack
# has its own.
deb_link_firmware() {
	if [ -d /usr/share/seabios ] && [ ! -e "$1/usr/share/seabios" ]; then
		ln -s /usr/share/seabios "$1/usr/share/seabios"
	fi
	if [ -d /usr/lib/ipxe/qemu ] && [ ! -e "$1/usr/lib/ipxe/qemu" ]; then
		mkdir -p "$1/usr/lib/ipxe"
		ln -s /usr/lib/ipxe/qemu "$1/usr/lib/ipxe/qemu"
	fi
}

# qemu_version QEMU: the first line of its --version (libcpr not preloaded), empty if it
# does not run.
qemu_version() {
	env -u LD_PRELOAD "$1" --version 2>/dev/null | head -n 1 || :
}

# qemu_tcg_check QEMU: it starts a pc machine under TCG (the accelerator may be a module,
# the BIOS is a data file) and quits over QMP, else exit saying why.
qemu_tcg_check() {
	out=$(printf '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n' |
		env -u LD_PRELOAD timeout 60 "$1" -accel tcg -machine pc -nodefaults -display none \
			-S -qmp stdio 2>&1) ||
		die "$1 does not start a TCG machine: $(echo "$out" | grep -v '^{' | head -n 3)"
}

# wrapper_ready WRAPPER EXPECT WHAT STAMP: WRAPPER runs a QEMU whose --version holds EXPECT
# (else exit saying it does not run WHAT) and starts a TCG machine; that version goes into
# STAMP and is said, and WRAPPER's path is printed last (what the callers read).
wrapper_ready() {
	wr_version=$(qemu_version "$1")
	case $wr_version in
	*"$2"*) ;;
	*) die "$1 does not run $3: $(env -u LD_PRELOAD "$1" --version 2>&1 | head -n 3)" ;;
	esac
	qemu_tcg_check "$1"
	echo "$wr_version" >"$4"
	say "$wr_version"
	echo "$1"
}

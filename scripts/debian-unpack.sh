# Debian packages fetched with apt-get download and unpacked with dpkg-deb -x (nothing is
# installed): what scripts/qemu10.sh and scripts/qemu-deb.sh share. Sourced, after ME (the
# name messages start with) is set.
#
# The mirror comes from the apt sources this system already has (/etc/apt/sources.list,
# sources.list.d/*.list and *.sources; $CPR_APT_ETC instead of /etc/apt for the tests): no
# host is written here.

say() { echo "$ME: $*" >&2; }
die() { say "$*"; exit 1; }

APT_ETC=${CPR_APT_ETC:-/etc/apt}

# The Debian mirror the configured apt sources use: the first URI that ends in /debian, in
# one-line (.list) or deb822 (.sources) form. Empty if there is none.
debian_mirror() {
	{
		sed -n 's/^[[:space:]]*deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\).*/\2/p' \
			"$APT_ETC/sources.list" "$APT_ETC"/sources.list.d/*.list 2>/dev/null || :
		sed -n 's/^URIs:[[:space:]]*//p' "$APT_ETC"/sources.list.d/*.sources 2>/dev/null |
			tr ' \t' '\n\n' || :
	} | grep -E '^[a-z+]+://[^[:space:]]+/debian/?$' | head -n 1
}

# The mirror, or exit saying there is none (--mirror of the scripts).
print_mirror() {
	m=$(debian_mirror)
	[ -n "$m" ] || die "no Debian apt source in $APT_ETC (sources.list, sources.list.d/*.list or *.sources): add one that names your Debian mirror"
	echo "$m"
}

# apt_suite SUITE PKG: apt knows PKG in SUITE afterwards. Without an apt source for SUITE,
# one is added on the mirror the system's own Debian entry uses (root only); .list and
# .sources are the only files apt reads.
apt_suite() {
	if ! grep -qs "^[^#]*$1" "$APT_ETC/sources.list" "$APT_ETC"/sources.list.d/*.list \
		"$APT_ETC"/sources.list.d/*.sources; then
		[ "$(id -u)" -eq 0 ] || die "no $1 apt source: run this once as root"
		mirror=$(debian_mirror)
		[ -n "$mirror" ] || die "no Debian apt source in $APT_ETC to take the mirror from: add the one for your Debian release (it names the mirror), then run this again"
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
	elif ! apt-cache show "$2/$1" >/dev/null 2>&1; then
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

# deb_missing_libs DEB [SUITE]: the shared-library packages DEB depends on that this system
# lacks or has too old, as apt-get download specs (pkg/SUITE where SUITE has it).
deb_missing_libs() {
	libs=""
	deps=$(dpkg-deb -f "$1" Depends | tr ',' '\n' | sed 's/|.*//')
	for dep in $(echo "$deps" | sed -n 's/^ *\(lib[^ ]*\) *\(([^)]*)\)\{0,1\} *$/\1:\2/p' |
		tr -d ' ()'); do
		pkg=${dep%%:*} rel=${dep#*:}
		op=$(echo "$rel" | sed 's/[^<>=].*//') ver=$(echo "$rel" | sed 's/^[<>=]*//')
		satisfied "$pkg" "$op" "$ver" && continue
		if [ -n "${2:-}" ] && apt-cache show "$pkg/$2" >/dev/null 2>&1; then
			libs="$libs $pkg/$2"
		else
			libs="$libs $pkg"
		fi
	done
	echo $libs
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

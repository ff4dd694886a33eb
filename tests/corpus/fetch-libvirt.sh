#!/bin/sh
# libvirt's own test command lines (tests/qemuxmlconfdata/*.x86_64-*.args) from its Debian
# source package in bookworm-backports, cached outside git. apt runs with a configuration
# of its own (source list, lists, cache under the cache folder), so the machine's apt state
# stays as it is; the mirror is the one the system's Debian sources already use.
#
# usage: tests/corpus/fetch-libvirt.sh [DIR]   DIR: $CPR_CORPUS_DIR, else ~/.cache/libcpr/corpus
# Prints the folder holding the .args files.
set -eu

SUITE=bookworm-backports
DIR=${1:-${CPR_CORPUS_DIR:-${HOME:-/root}/.cache/libcpr/corpus}}
ARGS=$DIR/libvirt-args
say() { echo "fetch-libvirt: $*" >&2; }
die() { say "$*"; exit 1; }

if [ -f "$ARGS/.done" ]; then
	echo "$ARGS"
	exit 0
fi

# The Debian mirror of the system's own sources: deb822 "URIs:" or one-line "deb URI suite".
mirror=$(sed -n 's|^URIs: *\([^ ]*/debian/\{0,1\}\)$|\1|p' /etc/apt/sources.list.d/*.sources \
	2>/dev/null | head -n 1)
[ -n "$mirror" ] || mirror=$(sed -n 's|^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*/debian/\{0,1\}\) .*|\2|p' \
	/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1)
[ -n "$mirror" ] || die "no Debian mirror in /etc/apt's sources: add one, or fetch the corpus elsewhere"

apt=$DIR/apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts" "$DIR/src"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb-src [signed-by=$keyring] $mirror $SUITE main" >"$apt/sources.list"
aptq() {
	apt-get -q -o Dir::Etc::sourcelist="$apt/sources.list" -o Dir::Etc::sourceparts="$apt/parts" \
		-o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" \
		-o APT::Sandbox::User=root "$@"
}
say "reading the $SUITE source index from $mirror"
aptq update >&2
say "downloading libvirt's source package"
# The test data is upstream's, in the orig tarball (apt checks its hash against the signed
# index); a mirror without the .dsc or the Debian diff still serves what is needed.
(cd "$DIR/src" && aptq source --download-only "libvirt/$SUITE") >&2 ||
	say "apt did not fetch every part of the source package; looking for the orig tarball"
orig=$(ls "$DIR"/src/libvirt_*.orig.tar.* 2>/dev/null | head -n 1)
[ -n "$orig" ] || die "no libvirt orig tarball in $DIR/src"
rm -rf "$ARGS" "$DIR/x"
mkdir -p "$ARGS" "$DIR/x"
tar -xf "$orig" -C "$DIR/x" --wildcards '*/tests/qemuxmlconfdata/*.x86_64-*.args'
find "$DIR/x" -name '*.args' -exec mv {} "$ARGS/" \;
rm -rf "$DIR/x"
n=$(ls "$ARGS" | wc -l)
[ "$n" -gt 0 ] || die "$orig holds no tests/qemuxmlconfdata/*.x86_64-*.args"
basename "$orig" >"$ARGS/.done"
say "$n command lines from $(basename "$orig")"
echo "$ARGS"

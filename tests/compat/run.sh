#!/bin/sh
# The QEMU version matrix (`make compat`): every QEMU from Debian's archive that runs here,
# a transfer for each pair (old, new) with new not older than old, in each configuration
# with the built-in test guest (tests/compat/compat) and with the Linux test guest
# (tests/compat/linux-cell.sh); then doc/compat.md from the cells (tests/compat/table.py).
#
# usage: tests/compat/run.sh [fast]
#   fast: the subset CI runs (tests/compat/fast.test): Debian 11's 5.2 and this system's 7.2
#         into this system's 7.2 and bookworm-backports' 10.0, plain and memfd, and no
#         doc/compat.md (the cells are checked, not tabled)
# Run by make compat, which sets CPR_BUILDDIR and the CPR_TEST_* variables. The QEMUs come
# from scripts/qemu-suite.sh, scripts/qemu-deb.sh and scripts/qemu-root.sh (a Debian root
# for those that need a newer C library); one that cannot be had here is left out, and the
# table says so. Cells go to $CPR_COMPAT_OUT (default build dir's compat-cells.jsonl).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
: "${CPR_BUILDDIR:?run it with make compat}"
mode=${1:-all}
out=${CPR_COMPAT_OUT:-$CPR_BUILDDIR/compat-cells.jsonl}
hosts=$out.qemus
logs=$CPR_BUILDDIR/compat-logs
: >"$out"
: >"$hosts"
rm -rf "$logs"
mkdir -p "$logs"

# add LABEL FROM CMD...: the QEMU that CMD prints last (a script's output), if it runs; its
# version ("7.2.22") asked once
labels=""
add() {
	_label=$1 _from=$2
	shift 2
	if _bin=$("$@" 2>"$logs/get-$_label.log" | tail -n 1) && [ -x "$_bin" ] &&
		_ver=$(env -u LD_PRELOAD "$_bin" --version 2>/dev/null |
			sed -n '1s/.*version \([0-9.]*\).*/\1/p') && [ -n "$_ver" ]; then
		printf '%s\t%s\t%s\n' "$_label" "$_bin" "$_from" >>"$hosts"
		labels="$labels $_label"
		eval "bin_$(echo "$_label" | tr -c 'a-z0-9\n' _)=\$_bin"
		eval "ver_$(echo "$_label" | tr -c 'a-z0-9\n' _)=\$_ver"
	else
		echo "compat: no QEMU $_label ($_from): $(tail -n 1 "$logs/get-$_label.log")" >&2
		printf '%s\t-\t%s: not available here (%s)\n' "$_label" "$_from" \
			"$(tail -n 1 "$logs/get-$_label.log")" >>"$hosts"
	fi
}
bin_of() { eval "echo \"\$bin_$(echo "$1" | tr -c 'a-z0-9\n' _)\""; }
ver_of() { eval "echo \"\$ver_$(echo "$1" | tr -c 'a-z0-9\n' _)\""; }
# whether version $1 <= $2
not_newer() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]; }

system=$(command -v qemu-system-x86_64)
add 5.2-bullseye "Debian 11 (bullseye, bullseye-security)" sh "$top/scripts/qemu-suite.sh" bullseye
if [ "$mode" = fast ]; then
	add 7.2-bookworm "Debian 12, installed" echo "$system"
	add 10.0-bpo "bookworm-backports" sh "$top/scripts/qemu10.sh"
	configs="plain memfd"
	linux=""
else
	add 7.2-deb12u15 "bookworm-security's 7.2+dfsg-7+deb12u15 (the build before the host's)" \
		sh "$top/scripts/qemu-deb.sh" 1:7.2+dfsg-7+deb12u15
	add 7.2-bookworm "Debian 12, installed" echo "$system"
	add 10.0-bpo "bookworm-backports" sh "$top/scripts/qemu10.sh"
	add 10.0-trixie "Debian 13 (trixie), in a Debian root" sh "$top/scripts/qemu-root.sh" trixie
	add 11.1-sid "Debian unstable (sid), in a Debian root" sh "$top/scripts/qemu-root.sh" sid
	configs=${CPR_COMPAT_CONFIGS:-plain q35 memfd hugetlb numa daemonize sandbox tap i440fx-4.0}
	linux=yes
fi

failed=0 cells=0
for o in $labels; do
	for n in $labels; do
		not_newer "$(ver_of "$o")" "$(ver_of "$n")" || continue
		# two builds of one version: only the older into the newer (the update)
		[ "$(ver_of "$o")" = "$(ver_of "$n")" ] && [ "$o" != "$n" ] &&
			case "$o $n" in "7.2-bookworm 7.2-deb12u15") continue ;; esac
		for c in $configs; do
			cells=$((cells + 1))
			"$CPR_BUILDDIR/tests/compat/compat" "$(bin_of "$o")" "$(bin_of "$n")" "$c" "$out" \
				>"$logs/$o-$n-$c.log" 2>&1
			rc=$?
			[ $rc -eq 0 ] || [ $rc -eq 77 ] || failed=$((failed + 1))
			grep '^cell:' "$logs/$o-$n-$c.log" || echo "cell: $o -> $n $c: exit $rc, no line (see $logs/$o-$n-$c.log)"
		done
		[ -z "$linux" ] && continue
		cells=$((cells + 1))
		sh "$top/tests/compat/linux-cell.sh" "$(bin_of "$o")" "$(bin_of "$n")" "$out" \
			>"$logs/$o-$n-linux.log" 2>&1
		rc=$?
		[ $rc -eq 0 ] || [ $rc -eq 77 ] || failed=$((failed + 1))
		grep '^cell:' "$logs/$o-$n-linux.log" || echo "cell: $o -> $n linux: exit $rc, no line (see $logs/$o-$n-linux.log)"
	done
done
echo "compat: $cells cells, $failed failed; logs in $logs, cells in $out"
if [ "$mode" != fast ]; then
	python3 "$top/tests/compat/table.py" "$out" "$hosts" >"$top/doc/compat.md" &&
		echo "compat: doc/compat.md written"
fi
[ "$failed" -eq 0 ]

#!/bin/sh
# The whole benchmark in one command (`make bench`): every method side by side, 3 runs each
# at 1, 4 and 8 GiB, unless cpr-bench options given here say otherwise. Writes the table
# to bench/results.md, the plot to bench/results.png (with gnuplot) and puts the table into
# bench/README.md between its "make bench" markers. Needs CPR_BUILDDIR and the CPR_TEST_*
# variables that `make bench` sets.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
table=$here/results.md
[ -n "${CPR_BUILDDIR:-}" ] || { echo "run.sh: run it with 'make bench'" >&2; exit 2; }
started=$(date -u '+%Y-%m-%d %H:%M UTC')
"$CPR_BUILDDIR/bench/cpr-bench" -o "$table.new" "$@"
mv "$table.new" "$table"
if command -v gnuplot >/dev/null; then
	sh "$here/plot.sh" "$table" "$here/results.png"
else
	echo "run.sh: no gnuplot (apt-get install gnuplot-nox): no plot" >&2
fi
qemu=$(qemu-system-x86_64 --version | head -1)
{
	echo "Run of $started: \`make bench${*:+ BENCH_ARGS=\"$*\"}\`, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $qemu, accel ${CPR_TEST_ACCEL:-tcg}."
	echo
	cat "$table"
} > "$table.block"
awk -v block="$table.block" '
	/<!-- make bench: begin -->/ { print; while ((getline l < block) > 0) print l; skip = 1; next }
	/<!-- make bench: end -->/ { skip = 0 }
	!skip' "$here/README.md" > "$here/README.md.new"
mv "$here/README.md.new" "$here/README.md"
rm -f "$table.block"
echo "bench: table in $table and bench/README.md"

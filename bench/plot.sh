#!/bin/sh
# Plot a cpr-bench table (markdown, from -o FILE): pause and peak extra host memory against
# guest RAM, one line per method. Needs gnuplot (apt-get install gnuplot-nox).
# usage: bench/plot.sh TABLE.md OUT.png
set -eu
[ $# -eq 2 ] || { echo "usage: $0 TABLE.md OUT.png" >&2; exit 2; }
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot is missing (apt-get install gnuplot-nox)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# rows "| method | 4G | pause | gap | total | peak | ok |" -> $tmp/METHOD.dat "GiB pause peak"
awk -F'|' -v dir="$tmp" '
	NR > 2 && $3 ~ /[0-9][GM] *$/ && $4 !~ /-/ {
		gsub(/ /, "", $2); size = $3; gsub(/ /, "", size)
		gib = size ~ /M$/ ? size / 1024 : size + 0
		printf "%s %s %s\n", gib, $4 + 0, $7 / 1024 >> (dir "/" $2 ".dat")
	}' "$1"
plots_pause="" plots_mem=""
for f in "$tmp"/*.dat; do
	m=$(basename "$f" .dat)
	plots_pause="$plots_pause${plots_pause:+, }'$f' using 1:2 with linespoints title '$m'"
	plots_mem="$plots_mem${plots_mem:+, }'$f' using 1:3 with linespoints title '$m'"
done
gnuplot <<GP
set terminal pngcairo size 1200,500 noenhanced
set output '$2'
set multiplot layout 1,2 title 'Moving a running guest to a new QEMU on this host (QEMU 7.2/10.0, TCG)'
set xlabel 'guest RAM (GiB)'
set grid
set key below horizontal
set logscale y
set ylabel 'pause, STOP to RESUME (ms, log scale)'
plot $plots_pause
unset logscale y
set ylabel 'peak extra host memory (GiB)'
plot $plots_mem
unset multiplot
GP
echo "wrote $2"

#!/bin/sh
# Build every libFuzzer harness of fuzz/ with clang (ASan + UBSan) from the repo's own
# sources, run each for SECONDS (default 60), and print a table of executions and crashes
# (the one in doc/fuzzing.md). Crashing inputs land in fuzz/out/crashes/PARSER/: fix the
# parser, then keep the input in fuzz/regressions/PARSER/ so `make check` replays it.
# Usage: fuzz/run.sh [SECONDS [PARSER...]]; exit 1 if any harness crashed.
set -eu

secs=${1:-60}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/.."
out=fuzz/out

# clang, and libFuzzer's runtime (libclang_rt.fuzzer), which Debian 12 ships for clang 14
# in libclang-rt-14-dev; jansson for the QMP client.
PACKAGES="clang libclang-rt-14-dev libjansson-dev pkg-config"
missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "fuzz: missing Debian packages:$missing (run as root, or apt-get install them)" >&2
		exit 1
	fi
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

# The sources include config.h, and the lists below come from the Makefile: configure.
if [ ! -f Makefile ]; then
	[ -x configure ] || autoreconf -fi
	./configure
fi
make -s Makefile >/dev/null # regenerated first if Makefile.am changed, quietly

CC=${FUZZ_CC:-clang}
CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined -Wall -Wextra -Wno-unused-parameter -I."

# A variable of the Makefile, expanded.
# shellcheck disable=SC2016 # $(...) is make's, not the shell's
makevar() {
	printf 'print:\n\t@echo $(%s)\n' "$1" | make -s -f Makefile -f - print
}

# What harness NAME links besides fuzz/fuzz-NAME.c: the same as its regression driver
# fuzz/regress-NAME in Makefile.am, less the driver itself, so the two never drift apart.
harness_sources() {
	v=$(echo "$1" | tr - _)
	for f in $(makevar "fuzz_regress_${v}_SOURCES"); do
		case "$f" in fuzz/*|*.h) ;; *) printf '%s ' "$f" ;; esac
	done
	echo "$(makevar "fuzz_regress_${v}_LDADD") $(makevar JANSSON_CFLAGS)"
}

all=$(makevar FUZZ_REGRESS | sed 's|fuzz/regress-||g')
parsers=${*:-$all}
for p in $parsers; do
	case " $all " in *" $p "*) ;; *) echo "fuzz: no harness named $p (have: $all)" >&2; exit 2 ;; esac
done
mkdir -p "$out"
for p in $parsers; do
	echo "fuzz: building fuzz-$p"
	# shellcheck disable=SC2086,SC2046 # word splitting of the flag lists is wanted
	$CC $CFLAGS -o "$out/fuzz-$p" "fuzz/fuzz-$p.c" $(harness_sources "$p")
done

table="| harness | seconds | executions | crashes | corpus inputs at the end |
|---|---|---|---|---|"
crashed=0
for p in $parsers; do
	work="$out/corpus/$p" crashes="$out/crashes/$p"
	mkdir -p "$work" "$crashes"
	seeds="fuzz/corpus/$p"
	[ -d "fuzz/regressions/$p" ] && seeds="$seeds fuzz/regressions/$p"
	echo "fuzz: running fuzz-$p for $secs s (log: $out/$p.log)"
	before=$(ls "$crashes" | wc -l)
	# -timeout: an input taking 10 s is a hang (generous: a benchmark may share the
	# machine); the first crash ends the run.
	# shellcheck disable=SC2086
	"$out/fuzz-$p" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$crashes/" "$work" $seeds \
		>"$out/$p.log" 2>&1 || true
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$p.log" | tail -n 1)
	found=$(($(ls "$crashes" | wc -l) - before))
	units=$(ls "$work" | wc -l)
	echo "fuzz-$p: ${execs:-?} executions, $found crashes"
	if [ "$found" -gt 0 ]; then
		crashed=1
		ls "$crashes" | sed "s|^|    $crashes/|"
		grep -m 1 -E "ERROR: |runtime error:|invariant broken" "$out/$p.log" | sed 's/^/    /' || true
	fi
	table="$table
| \`fuzz-$p\` | $secs | ${execs:-?} | $found | $units |"
done
echo
echo "$table"
exit $crashed

#!/bin/bash
# Measure what a plain migration (or savevm) costs an idle guest whose RAM is shmem: QEMU's
# migration reads every page to find zero pages, and a read of a hole in a shared shmem
# mapping allocates a page (shmem_fault), where anonymous private memory maps the shared zero
# page. Starts QEMU 7.2 with -S (the guest never writes), reads RssShmem/RssAnon, migrates to
# a file, reads them again. Prints one line per mode: plain QEMU, libcpr promoted, libcpr
# with CPR_PROMOTE=off (converted anonymous RAM).
#
# usage: tests/measure-shmem-reads.sh [SIZE]     SIZE: -m of the guest (default 512M)
# env:   CPR_TEST_QEMU, CPR_TEST_LIBCPR as tests/corpus/compare.sh
set -eu
QEMU=${CPR_TEST_QEMU:-/usr/bin/qemu-system-x86_64}
LIBCPR=$(realpath "${CPR_TEST_LIBCPR:-.libs/libcpr.so}")
SIZE=${1:-512M}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# kB of field $2 in /proc/$1/status
kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# qmp CMD: send one command, print its answer (events skipped)
qmp() {
	printf '%s\n' "$1" >&"${Q[1]}"
	local line
	while read -r line <&"${Q[0]}"; do
		case $line in *'"return"'* | *'"error"'*) echo "$line"; return ;; esac
	done
}

measure() {
	local mode=$1 pid before_s before_a after_s after_a st
	shift
	coproc Q { exec env "$@" "$QEMU" -S -display none -accel tcg -m "$SIZE" -qmp stdio 2>"$work/err"; }
	pid=$Q_PID
	read -r _ <&"${Q[0]}" # greeting
	qmp '{"execute":"qmp_capabilities"}' >/dev/null
	before_s=$(kb "$pid" RssShmem) before_a=$(kb "$pid" RssAnon)
	qmp "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"exec:cat > $work/state\"}}" >/dev/null
	# the migration's end is a state QEMU reports: poll for it
	while :; do
		st=$(qmp '{"execute":"query-migrate"}')
		case $st in *'"completed"'* | *'"failed"'*) break ;; esac
		sleep 0.1
	done
	after_s=$(kb "$pid" RssShmem) after_a=$(kb "$pid" RssAnon)
	qmp '{"execute":"quit"}' >/dev/null
	wait "$pid" || true
	case $st in *completed*) ;; *) echo "$mode: migration did not complete: $st"; return ;; esac
	printf '%-28s RssShmem %7s -> %7s kB   RssAnon %7s -> %7s kB\n' "$mode (-m $SIZE):" \
		"$before_s" "$after_s" "$before_a" "$after_a"
}

measure "plain QEMU" -u LD_PRELOAD
measure "libcpr, promoted" LD_PRELOAD="$LIBCPR"
measure "libcpr, CPR_PROMOTE=off" LD_PRELOAD="$LIBCPR" CPR_PROMOTE=off

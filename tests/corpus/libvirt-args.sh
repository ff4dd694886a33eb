#!/bin/bash
# libvirt's own QEMU command lines (tests/qemuxmlconfdata/*.x86_64-*.args, fetched and cached
# by fetch-libvirt.sh) under the plain QEMU 7.2 and under libcpr: each must start, or fail
# with the same error, and show the same RAM blocks (compare.sh). libvirt writes memory
# backends as JSON -object, which promotion leaves alone; so each line that has one runs a
# second time with its memory backends in key=value form, as Proxmox and hand-written
# command lines have them, which promotion rewrites.
#
# usage: tests/corpus/libvirt-args.sh [-j JOBS] [--sample] [NAME...]
#   --sample: the fixed small sample `make check` runs (SAMPLE below); NAME: args files
#   without .x86_64-*.args, else the whole corpus. Writes a summary and the differences
#   to stdout; exit 0 when there is no difference but those of KNOWN below.
# env: CPR_TEST_QEMU, CPR_TEST_LIBCPR (as compare.sh), CPR_CORPUS_DIR (fetch-libvirt.sh).
#
# Each line gets the same rewrites in both runs, so that it can start here: QMP on stdio in
# place of libvirt's monitor fd; TCG for KVM; scratch files for the domain's master key, for
# every file or host device a -blockdev opens (an empty 1 MiB file: image formats on it
# fail, the same way) and for memory backends' mem-path (a folder in /dev/shm); host NUMA
# node 0 for every memory backend's host-nodes. Other paths
# and fd numbers that cannot exist here fail the same way in both runs.
set -u
here=$(cd "$(dirname "$0")" && pwd)
COMPARE_LIB=1 . "$here/compare.sh"

# A fixed sample for make check: memory backends of every kind, NUMA, hugepages, -m forms,
# and a line that names an fd number nobody passed (vhostfd=3: libcpr's own descriptors
# must not be found there: preload/highfd.c). Not restore-v2-fd: its -incoming fd:7 is
# QEMU's own eventfd (plain QEMU as well), and whether QEMU reads a count from it
# ("Not a migration stream") depends on when its threads signal it: a race in QEMU.
SAMPLE="numatune-memnode hugepages-numa-default-2M memfd-memory-numa
numatune-auto-prefer pc-i440fx-acpi-root-hotplug-disable q35-default-devices-only
cpu-numa-memshared memorybacking-set hostdev-scsi-vhost-scsi-pcie"

# Differences with their reason: "NAME FORM: reason" (doc/corpus.md). None now.
KNOWN=""

jobs=1 sample=0 names=()
while [ $# -gt 0 ]; do
	case $1 in
	-j) jobs=$2; shift 2 ;;
	--sample) sample=1; shift ;;
	*) names+=("$1"); shift ;;
	esac
done
corpus=$(sh "$here/fetch-libvirt.sh") || exit 99
[ $sample = 1 ] && names=($SAMPLE)
if [ ${#names[@]} = 0 ]; then
	files=("$corpus"/*.args)
else
	files=()
	for n in "${names[@]}"; do
		f=$(ls "$corpus/$n".x86_64-*.args 2>/dev/null | head -n 1)
		[ -n "$f" ] || { echo "no args file for $n in $corpus"; exit 99; }
		files+=("$f")
	done
fi

# The words of an args file (a shell command with quotes and line continuations), NUL-separated,
# without the environment assignments and the binary. Read with xargs, never evaluated.
words() {
	sed -e ':a' -e '/\\$/{N;s/\\\n//;ba' -e '}' "$1" | xargs printf '%s\0' |
		awk 'BEGIN { RS = "\0"; ORS = "\0" } !bin && /^[A-Z_]+=/ { next } !bin { bin = 1; next } { print }'
}

# A JSON memory backend {"qom-type":"memory-backend-x","id":"m","size":1,...} in key=value
# form: strings as they are (commas doubled), true/false as on/off, lists as repeated keys.
json_to_kv() {
	local s=${1#\{} out="" key val
	s=${s%\}}
	while [[ $s =~ ^\"([^\"]+)\":(\"[^\"]*\"|\[[^]]*\]|[^,]*)(,(.*))?$ ]]; do
		key=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]} s=${BASH_REMATCH[4]}
		case $val in
		\"*) val=${val#\"}; val=${val%\"}; val=${val//,/,,} ;;
		true) val=on ;;
		false) val=off ;;
		\[*) val=${val#\[}; val=${val%\]}; val=${val//,/,$key=} ;;
		esac
		if [ "$key" = qom-type ]; then out=$val${out:+,$out}; else out=${out:+$out,}$key=$val; fi
	done
	[ -z "$s" ] && echo "$out"
}

# What promotion did in the libcpr run (CPR_LOG=info): "promoted" or "not-promoted".
promotion() {
	if grep -q 'promotion: guest main RAM' libcpr.raw; then echo promoted; else echo not-promoted; fi
}

# One args file, both forms: prints "NAME FORM same|different" and the difference.
one() {
	local f=$1 name work form arg kv has_backend=0 monitor=0 prev=
	local -a in=() args=() kvargs=()
	name=$(basename "$f" .args)
	work=$(mktemp -d /dev/shm/libcpr-corpus.XXXXXX)
	head -c 32 /dev/urandom >"$work/master-key.aes"
	truncate -s 1M "$work/disk"
	mapfile -d '' in < <(words "$f")
	for ((i = 0; i < ${#in[@]}; i++)); do
		arg=${in[i]}
		arg=$(printf '%s' "$arg" | sed -E \
			-e "s#/var/lib/libvirt/qemu/domain-[^/\"]*/master-key.aes#$work/master-key.aes#g" \
			-e "s#\"mem-path\":\"/[^\"]*\"#\"mem-path\":\"$work\"#g" \
			-e 's#"host-nodes":\[[^]]*\]#"host-nodes":[0]#g')
		if [ "$prev" = -blockdev ]; then
			arg=$(printf '%s' "$arg" | sed -E -e 's#"driver":"host_(device|cdrom)"#"driver":"file"#' \
				-e "s#\"filename\":\"/[^\"]*\"#\"filename\":\"$work/disk\"#")
		fi
		case $arg in
		-enable-kvm) continue ;;
		*accel=kvm*) arg=${arg//accel=kvm/accel=tcg} ;;
		esac
		if [ "$arg" = kvm ] && [ "$prev" = -accel ]; then arg=tcg; fi
		if [ "$prev" = -chardev ] && [[ $arg == *id=charmonitor* ]]; then
			arg=stdio,id=charmonitor
			monitor=1
		fi
		args+=("$arg")
		if [ "$prev" = -object ] && [[ $arg == \{*\"qom-type\":\"memory-backend-* ]]; then
			kv=$(json_to_kv "$arg")
			if [ -n "$kv" ]; then arg=$kv; has_backend=1; fi
		fi
		kvargs+=("$arg")
		prev=${in[i]}
	done
	[ $monitor = 1 ] || { args+=(-qmp stdio); kvargs+=(-qmp stdio); }
	for form in json kv; do
		[ $form = kv ] && [ $has_backend = 0 ] && continue
		(
			cd "$work" || exit 2
			if [ $form = json ]; then set -- "${args[@]}"; else set -- "${kvargs[@]}"; fi
			compare_run plain plain "$@"
			compare_run libcpr libcpr "$@"
			if compare_show plain libcpr >diff; then
				echo "$name $form same $(cat plain.status) $(promotion)"
				[ -s plain.err ] && head -n 1 plain.err | sed 's/^/  error: /' 
			else
				echo "$name $form different plain:$(cat plain.status) libcpr:$(cat libcpr.status) $(promotion)"
				sed 's/^/  /' diff
			fi
		)
	done
	rm -rf "$work"
}
export -f one words json_to_kv compare_run compare_show promotion only_std_fds
export QEMU LIBCPR QMP_IN
export CPR_COMPARE_ENV="CPR_LOG=info ${CPR_COMPARE_ENV:-}"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
printf '%s\0' "${files[@]}" | xargs -0 -P "$jobs" -I{} bash -c 'one "$1"' _ {} >"$out"
# Parallel runs can collide on what the lines fix (a SPICE or VNC port): each difference is
# run again alone, and counts only if it stays.
if [ "$jobs" != 1 ]; then
	for n in $(grep ' different ' "$out" | awk '{ print $1 }' | sort -u); do
		awk -v n="$n" '$0 ~ "^" n " " { p = 1; next } /^[^ ]/ { p = 0 } !p' "$out" >"$out.keep"
		one "$corpus/$n.args" >>"$out.keep"
		mv "$out.keep" "$out"
	done
fi
cat "$out"
runs=$(grep -c ' \(same\|different\) ' "$out")
diffs=$(grep ' different ' "$out" | awk '{ print $1, $2 }')
unknown=0
while read -r n f; do
	[ -n "$n" ] || continue
	if printf '%s\n' "$KNOWN" | grep -q "^$n $f:"; then continue; fi
	unknown=$((unknown + 1))
done <<<"$diffs"
echo "corpus: ${#files[@]} args files, $runs runs ($(grep -c ' kv ' "$out") in key=value form)," \
	"$(grep -c ' same started' "$out") started the same, $(grep -c ' same exit' "$out")" \
	"failed the same, $(grep -c ' same timeout' "$out") timed out the same," \
	"$(grep -c ' different ' "$out") different ($unknown not known);" \
	"promoted: $(grep -c ' json .* promoted$' "$out") in JSON form, $(grep -c ' kv .* promoted$' "$out") in key=value form"
[ $unknown = 0 ]

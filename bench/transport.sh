#!/usr/bin/env bash
# bench/transport.sh - what the FUSE transport itself costs: zcached against
# ext4 on zram, with reads the daemon answers in ~0.3 us (issue 13).
#
#   bash bench/transport.sh [--corpus TAR] [--build DIR] [--seconds S]
#                           [--rounds N] [--dev]
#
# A 64 MiB file that is all holes (truncate -s 64M) on a zcached mount: a READ
# of it finds no page and answers zeros, so its 4 KiB O_DIRECT random reads run
# at the ceiling of the round trip itself.  Each reader runs twice: free to run
# on any CPU, then pinned to CPU 0 (taskset -c 0).  Linux 6.18's fuse wakes the
# requester with a plain wake_up() when a reply is committed; the io_uring
# thread that commits runs on the requester's CPU (one queue per CPU, its
# thread pinned), so the scheduler may move the woken requester to the idle
# CPU.  Pinning keeps the reader where the reply lands, as upstream's "fuse:
# wake on current cpu" (wake_up_on_current_cpu for io_uring requests) would.
#
# Per round, on the default transport (io_uring where the kernel has it: the
# fuse module's enable_uring set to Y under the kernel-settings lock,
# bench/common/lock.sh, the old value put back at exit) and with --dev also
# over /dev/fuse (uring=off; its figures carry the suffix _dev):
#  - ext4 on /dev/zram0 (lz4, reset afterwards) and zcached (compressor=lz4):
#    untar of the corpus, the time including sync (as bench/fs.sh), tar free,
#    then that tree removed and tar pinned; fio 4 KiB O_DIRECT random reads
#    (psync, one job, --readonly, S seconds) of a 64 MiB file written from the
#    corpus' head, caches dropped, free then pinned;
#    (bench/fs.sh's randread_vs_zram reads a file fio wrote, 50% compressible,
#    which zram reads faster: about 515K IOPS here against 310-365K for the
#    corpus' head, so the two scripts' randread figures differ);
#  - zcached also: the all-holes file, free then pinned; the daemon's mean
#    READ service time (/.zcache/fuse: receive to reply) of each read run, and
#    the free untar's FUSE requests per file of the corpus.
# Each fio run prints the reader's CPU migrations and context switches per
# request (perf stat, when perf is installed): near one migration per request
# means the reply's wakeup moved the reader to the other CPU every time.
# Figures, per round (ratios against zram+ext4 in the same round, pinned
# against zram pinned):
#   figure null_read_vs_zram R         all-holes read IOPS / zram's random read IOPS
#   figure null_read_pinned_vs_zram R  the same, both readers pinned
#   figure randread_vs_zram R          real-data random read IOPS / zram's
#   figure randread_pinned_vs_zram R   the same, pinned
#   figure untar_vs_zram R             untar time / zram's (issue 13: <= 1.0)
#   figure untar_pinned_vs_zram R      the same, tar pinned
#   figure null_read_us N              1e6 / all-holes IOPS: one round trip, us
#   figure null_read_pinned_us N       the same, pinned
# First a line says whether the kernel has the wake fix: its patch exports
# __wake_up_on_current_cpu, which /proc/kallsyms shows as
# __ksymtab___wake_up_on_current_cpu if it lists export entries at all; when
# it lists none (this VM's 6.18 does not), the line says the symbols cannot
# tell and the migrations per request are the evidence.
#
# At main 67ae87c on this 2-CPU VM (three runs, --dev): zram+ext4 untar
# 0.33-0.36 s, random reads 309-324K IOPS.  io_uring: all-holes reads 31-32K
# IOPS free (0.74-0.77 migrations per request, READ service 0.9-1.0 us), 212-
# 222K pinned (0 migrations, 0.3 us): null_read_us 31-32 vs 4.5-4.7 pinned;
# real-data reads 134-138K free, 143-148K pinned (0 migrations either way,
# READ service 2.3-2.6 us): randread_vs_zram 0.42-0.44, pinned 0.44-0.46;
# untar 0.65-0.68 s free, 0.55-0.58 s pinned, 12.40 requests per file:
# untar_vs_zram 1.85-1.97, pinned 1.46-1.71.  /dev/fuse: null reads 86-96K
# free or pinned (10.3-11.6 us), real data 61-80K, untar 1.97-2.41 s.
# Needs root (mounts, zram0, drop_caches); mounts live in a temporary
# directory and are always unmounted on exit.  Wrap it in flock
# /work/.bench.lock.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/common/lock.sh"
build="$here/build/release"
corpus=""
seconds=5
rounds=1
dev=0
while [ $# -gt 0 ]; do
	case "$1" in
	--corpus) corpus=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--dev) dev=1; shift ;;
	-h|--help) sed -n '2,/^# \/work\/.bench.lock/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "transport.sh: unknown argument: $1" >&2; exit 2 ;;
	esac
done
[ -n "$corpus" ] || corpus="$build/corpus/tree.tar"
zcached="$build/zcached"
die() { echo "transport.sh: $*" >&2; exit 2; }
[ -r "$corpus" ] || die "no corpus at $corpus (build the 'corpus' target or pass --corpus)"
[ -x "$zcached" ] || die "no zcached at $zcached (build it or pass --build)"
[ "$(id -u)" -eq 0 ] || die "needs root (mounts, zram0)"
command -v fio > /dev/null || die "needs fio"
command -v taskset > /dev/null || die "needs taskset"
if [ ! -e /sys/block/zram0 ] || [ "$(cat /sys/block/zram0/disksize)" != 0 ] ||
   grep -q '^/dev/zram0 ' /proc/mounts || grep -q zram0 /proc/swaps; then
	die "/sys/block/zram0 missing or in use: no zram+ext4 to compare with"
fi

uring_param=/sys/module/fuse/parameters/enable_uring
uring_old=""
uring_opt=""
work=$(mktemp -d /tmp/zcached-transport.XXXXXX)
zc_pid=""
zram_used=0
cleanup() {
	set +e
	if [ -n "$zc_pid" ]; then
		fusermount3 -u "$work/mnt" 2>/dev/null || fusermount3 -u -z "$work/mnt"
		for _ in $(seq 50); do kill -0 "$zc_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$zc_pid" 2>/dev/null
	fi
	mountpoint -q "$work/mnt" && { umount "$work/mnt" || umount -l "$work/mnt"; }
	[ "$zram_used" = 1 ] && echo 1 > /sys/block/zram0/reset
	rm -rf "$work"
	[ -n "$uring_old" ] && echo "$uring_old" > "$uring_param"
}
trap cleanup EXIT
mkdir -p "$work/mnt"
if [ -w "$uring_param" ]; then
	kernel_lock
	uring_old=$(cat "$uring_param")
	echo Y > "$uring_param"
	uring_opt=",uring=on"
else
	echo "note: no writable $uring_param: the default transport is /dev/fuse"
fi

if ! grep -q ' __ksymtab_' /proc/kallsyms; then
	echo "wake fix: kernel $(uname -r): /proc/kallsyms lists no __ksymtab_ export" \
		"entries, so the symbols cannot tell; see migrations/request below"
elif grep -q ' __ksymtab___wake_up_on_current_cpu$' /proc/kallsyms; then
	echo "wake fix: kernel $(uname -r) exports __wake_up_on_current_cpu: likely has it"
else
	echo "wake fix: kernel $(uname -r) does not export __wake_up_on_current_cpu: no"
fi

now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }'; }
val() { local n=$1; printf '%s' "${!n:-}"; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
# The READ line of /.zcache/fuse as "count total_us", and the requests of
# every opcode; zeros on zram.
reads() {
	[ -n "$zc_pid" ] || { echo "0 0"; return; }
	awk '$1 == "read" { print $2, $3; f = 1 } END { if (!f) print "0 0" }' "$work/mnt/.zcache/fuse"
}
requests() {
	[ -n "$zc_pid" ] || { echo 0; return; }
	awk '$1 != "op" && $1 != "all" && $1 != "transport" { s += $2 } END { print s + 0 }' \
		"$work/mnt/.zcache/fuse"
}
# fio_read FILE PIN: 4 KiB O_DIRECT random reads of FILE, pinned to CPU 0
# when PIN is 1; prints "IOPS migrations/request switches/request".
fio_read() {
	local pin=() perf=() iops st="$work/perf.stat"
	[ "$2" = 1 ] && pin=(taskset -c 0)
	: > "$st"
	command -v perf > /dev/null &&
		perf=(perf stat -x ';' -e 'cpu-migrations,context-switches' -o "$st" --)
	iops=$("${perf[@]}" "${pin[@]}" fio --name=tr --filename="$1" --size=64M \
		--rw=randread --bs=4k --ioengine=psync --direct=1 --readonly \
		--runtime="$seconds" --time_based --output-format=terse --terse-version=3 \
		2>/dev/null | awk -F';' '{ print $8 }')
	awk -F';' -v n="$iops" -v s="$seconds" '$3 == "cpu-migrations" { m = $1 }
		$3 == "context-switches" { c = $1 }
		END { r = n * s; if (r > 0 && m != "" && c != "")
			printf "%d %.2f %.2f\n", n, m / r, c / r; else printf "%d - -\n", n }' "$st"
}
# read_run NAME FILE PIN VAR: fio_read, a line for it, the IOPS in VAR.
read_run() {
	local r0 r1 out n m c
	r0=$(reads)
	out=$(fio_read "$2" "$3")
	read -r n m c <<< "$out"
	r1=$(reads)
	printf -v "$4" '%s' "$n"
	printf '  %-26s %8s IOPS  %5s migrations/req  %5s switches/req%s\n' "$1" "$n" "$m" "$c" \
		"$(awk -v a="$r0" -v b="$r1" 'BEGIN { split(a, x, " "); split(b, y, " ");
			if (y[1] > x[1]) printf "  READ service %.2f us", (y[2] - x[2]) / (y[1] - x[1]) }')"
}
# untar DIR PIN: the corpus untarred into a new DIR, sync included; prints
# the seconds.
untar() {
	local pin=() t0 t1
	[ "$2" = 1 ] && pin=(taskset -c 0)
	cat "$corpus" > /dev/null
	mkdir "$1"
	sync
	t0=$(now)
	"${pin[@]}" tar -xf "$corpus" -C "$1"
	sync
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

files=$(tar -tf "$corpus" | grep -vc '/$' || true)
# one K [OPTS]: K is zram (ext4 on zram0) or a zcached mount with OPTS; sets
# K_untar, K_untarp, K_rr, K_rrp and, on zcached, K_nr, K_nrp.
one() {
	local k=$1 q0 q1 t f="$work/mnt/rand.dat"
	if [ "$k" = zram ]; then
		echo lz4 > /sys/block/zram0/comp_algorithm
		echo 8G > /sys/block/zram0/disksize
		zram_used=1
		mkfs.ext4 -q -F /dev/zram0
		mount -t ext4 /dev/zram0 "$work/mnt"
		echo " zram+ext4 (lz4)"
	else
		"$zcached" -f -o "compressor=lz4,mem_limit=8G$2" "$work/mnt" 2> "$work/zcached.log" &
		zc_pid=$!
		for _ in $(seq 200); do mountpoint -q "$work/mnt" && break; sleep 0.05; done
		mountpoint -q "$work/mnt" || { cat "$work/zcached.log" >&2; die "zcached did not mount"; }
		echo " zcached lz4, transport" \
			"$(awk '$1 == "transport" { print $2 }' "$work/mnt/.zcache/stats")"
	fi
	q0=$(requests)
	t=$(untar "$work/mnt/t1" 0)
	printf -v "${k}_untar" '%s' "$t"
	q1=$(requests)
	rm -rf "$work/mnt/t1"
	t=$(untar "$work/mnt/t2" 1)
	printf -v "${k}_untarp" '%s' "$t"
	rm -rf "$work/mnt/t2"
	echo "  untar: $(val "${k}_untar") s, pinned $(val "${k}_untarp") s$( [ "$k" = zram ] ||
		awk -v a="$q0" -v b="$q1" -v f="$files" \
			'BEGIN { printf "; %.2f FUSE requests per file", (b - a) / f }')"
	head -c 64M "$corpus" > "$f"
	drop
	read_run "real data" "$f" 0 "${k}_rr"
	read_run "real data, pinned" "$f" 1 "${k}_rrp"
	if [ "$k" != zram ]; then
		truncate -s 64M "$work/mnt/holes"
		read_run "all holes" "$work/mnt/holes" 0 "${k}_nr"
		read_run "all holes, pinned" "$work/mnt/holes" 1 "${k}_nrp"
		fusermount3 -u "$work/mnt"
		wait "$zc_pid" || true
		zc_pid=""
	else
		umount "$work/mnt"
		echo 1 > /sys/block/zram0/reset
		zram_used=0
	fi
}
# figures SUFFIX K: the figures of zcached mount K against zram.
figures() {
	local x=$1 k=$2
	echo "figure null_read_vs_zram$x $(ratio "$(val "${k}_nr")" "$(val zram_rr)")"
	echo "figure null_read_pinned_vs_zram$x $(ratio "$(val "${k}_nrp")" "$(val zram_rrp)")"
	echo "figure randread_vs_zram$x $(ratio "$(val "${k}_rr")" "$(val zram_rr)")"
	echo "figure randread_pinned_vs_zram$x $(ratio "$(val "${k}_rrp")" "$(val zram_rrp)")"
	echo "figure untar_vs_zram$x $(ratio "$(val "${k}_untar")" "$(val zram_untar)")"
	echo "figure untar_pinned_vs_zram$x $(ratio "$(val "${k}_untarp")" "$(val zram_untarp)")"
	echo "figure null_read_us$x $(ratio 1000000 "$(val "${k}_nr")")"
	echo "figure null_read_pinned_us$x $(ratio 1000000 "$(val "${k}_nrp")")"
}

echo "corpus: $corpus ($files files); fio runs of $seconds s; pinned = taskset -c 0 on $(nproc) CPUs"
for r in $(seq "$rounds"); do
	echo "round $r:"
	one zram
	one zc "$uring_opt"
	[ "$dev" = 0 ] || one zc_dev ",uring=off"
	figures "" zc
	[ "$dev" = 0 ] || figures _dev zc_dev
done

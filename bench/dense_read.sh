#!/usr/bin/env bash
# bench/dense_read.sh - random 4 KiB reads of a densified file against the
# same file plain: bench/fs.sh's randread_dense_vs_plain alone, in a minute.
#
#   bash bench/dense_read.sh [--corpus TAR] [--build DIR] [--seconds S]
#                            [--compressor lz4|zstd] [--rounds N] [--perf FILE]
#                            [--dev]
#
# One zcached mount (the transport bench/fs.sh uses: io_uring when the fuse
# module has enable_uring, set to Y under the kernel-settings lock and put
# back at exit; --dev: over /dev/fuse, the setting untouched).  Each round does what bench/fs.sh's densify_round does for
# the random reads: the corpus' first 64 MiB written to a file, caches
# dropped, fio 4 KiB O_DIRECT random reads (psync, one job, --readonly) for
# S seconds; the file removed, written again, densified (/.zcache/densify),
# caches dropped, the same fio.  It prints per round the IOPS of both
# sides, the daemon's CPU time per read (user + system, from /proc), the
# mean service time of a READ (/.zcache/fuse: receive to reply; steadier
# than IOPS on a shared machine, where the round trip swings) and
#   figure randread_dense_vs_plain R   densified IOPS / plain IOPS
# (figure randread_dense_vs_plain_zstd with --compressor zstd), and at the
# end the pam counters of unit reads (/.zcache/compress: unit_decodes,
# unit_partial_decodes, unit_cache_hits, unit_short_copies).  --perf FILE
# records the daemon (perf record -g) during the last round's densified
# reads.
# Needs root (mounts); the mount lives in a temporary directory and is
# always unmounted on exit.  Wrap it in flock /work/.bench.lock.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/common/lock.sh"
build="$here/build/release"
corpus=""
seconds=10
comp=lz4
rounds=1
perf_out=""
dev=0
while [ $# -gt 0 ]; do
	case "$1" in
	--corpus) corpus=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--compressor) comp=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--perf) perf_out=$2; shift 2 ;;
	--dev) dev=1; shift ;;
	-h|--help) sed -n '2,/^# always unmounted/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "dense_read.sh: unknown argument: $1" >&2; exit 2 ;;
	esac
done
[ -n "$corpus" ] || corpus="$build/corpus/tree.tar"
zcached="$build/zcached"
[ -r "$corpus" ] || { echo "dense_read.sh: no corpus at $corpus" >&2; exit 2; }
[ -x "$zcached" ] || { echo "dense_read.sh: no zcached at $zcached" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "dense_read.sh: needs root (mounts)" >&2; exit 2; }

uring_param=/sys/module/fuse/parameters/enable_uring
uring_old=""
uring_opt=""
work=$(mktemp -d /tmp/zcached-dense.XXXXXX)
zc_pid=""
cleanup() {
	set +e
	if [ -n "$zc_pid" ]; then
		fusermount3 -u "$work/mnt" 2>/dev/null || fusermount3 -u -z "$work/mnt"
		for _ in $(seq 50); do kill -0 "$zc_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$zc_pid" 2>/dev/null
	fi
	rm -rf "$work"
	[ -n "$uring_old" ] && echo "$uring_old" > "$uring_param"
}
trap cleanup EXIT
mkdir -p "$work/mnt"
if [ "$dev" = 0 ] && [ -w "$uring_param" ]; then
	kernel_lock
	uring_old=$(cat "$uring_param")
	echo Y > "$uring_param"
	uring_opt=",uring=on"
fi

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
clk_tck=$(getconf CLK_TCK)
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
rand() {
	fio --name=dr --filename="$1" --size=64M --rw=randread --bs=4k --ioengine=psync \
		--direct=1 --readonly --runtime="$seconds" --time_based --output-format=terse \
		--terse-version=3 2>/dev/null | awk -F';' '{ print $8 }'
}
# The READ line of /.zcache/fuse: "count total_us".
reads() { awk '$1 == "read" { print $2, $3 }' "$work/mnt/.zcache/fuse"; }
# measure FILE: fio on FILE; prints "IOPS us-of-daemon-CPU-per-read
# mean-READ-service-us" (service: the daemon's receive to reply).
measure() {
	local c0 c1 n r0 r1
	r0=$(reads)
	c0=$(cpu_ticks "$zc_pid")
	n=$(rand "$1")
	c1=$(cpu_ticks "$zc_pid")
	r1=$(reads)
	awk -v n="$n" -v c=$((c1 - c0)) -v t="$clk_tck" -v s="$seconds" -v a="$r0" -v b="$r1" \
		'BEGIN { split(a, x, " "); split(b, y, " ");
			 printf "%d %.1f %.2f", n, (n > 0 ? c / t / (n * s) * 1e6 : 0),
				(y[1] > x[1] ? (y[2] - x[2]) / (y[1] - x[1]) : 0) }'
}

"$zcached" -f -o "compressor=$comp,mem_limit=2G$uring_opt" "$work/mnt" 2>"$work/zcached.log" &
zc_pid=$!
for _ in $(seq 200); do mountpoint -q "$work/mnt" && break; sleep 0.05; done
mountpoint -q "$work/mnt" || { echo "dense_read.sh: zcached did not mount" >&2; cat "$work/zcached.log" >&2; exit 1; }
f="$work/mnt/rand.dat"
suffix=""
[ "$comp" = zstd ] && suffix=_zstd
for r in $(seq "$rounds"); do
	head -c 64M "$corpus" > "$f"
	drop
	read -r pi pc ps <<< "$(measure "$f")"
	rm -f "$f"
	head -c 64M "$corpus" > "$f"
	echo 1 > "$work/mnt/.zcache/densify"
	drop
	if [ -n "$perf_out" ] && [ "$r" = "$rounds" ]; then
		perf record -q -g -p "$zc_pid" -o "$perf_out" -- sleep "$seconds" 2>/dev/null &
		perf_pid=$!
		read -r di dc ds <<< "$(measure "$f")"
		wait "$perf_pid" || true
	else
		read -r di dc ds <<< "$(measure "$f")"
	fi
	rm -f "$f"
	echo "round $r: plain $pi IOPS ($pc us daemon CPU/read, READ service $ps us)," \
		"dense $di IOPS ($dc us daemon CPU/read, READ service $ds us)"
	echo "figure randread_dense_vs_plain$suffix $(awk -v a="$di" -v b="$pi" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }')"
done
grep -E '^unit_(decodes|partial_decodes|cache_hits|short_copies) ' "$work/mnt/.zcache/compress" |
	sed 's/^/    /'

#!/usr/bin/env bash
# bench/fs.sh - the filesystem benchmark (DESIGN.md §4): zcached against
# tmpfs (the ceiling) and ext4 on zram (the kernel peer), side by side in
# one run.
#
#   bash bench/fs.sh [--corpus TAR] [--build DIR] [--seconds S] [--size MiB]
#
# For each filesystem: untar the corpus (time includes sync, so ext4 on zram
# has written its data to zram), read every file back with cold caches
# (drop_caches, or POSIX_FADV_DONTNEED on every file where drop_caches is
# not allowed), and fio 4 KiB random reads and writes (O_DIRECT, one job,
# compressible data).  Filesystems: (a) tmpfs, (b) ext4 on /sys/block/zram0
# with lz4 when that device exists and is unused (it is reset afterwards),
# (c) zcached with lz4 on its default transport, (d) the same over /dev/fuse
# (uring=off), (e) zcached with zstd.  The default transport is io_uring
# where the kernel has FUSE over io_uring: the script sets the fuse module's
# enable_uring to Y for its run (under the lock ZC_KERNEL_LOCK, default
# ../.kernel.lock beside the checkout) and puts the old value back when it
# exits; (c) and (e) then mount with uring=on.  Memory: zram's
# mem_used_total (mm_stat), zcached's mem_used_bytes and the daemon's RSS
# growth over its idle RSS.  zcached's own CPU time for the untar and the
# read-all is printed too: on a shared machine the wall clock is mostly
# FUSE round-trip latency and scheduling, the CPU time is steadier.
#
# zcached's FUSE requests (/.zcache/fuse, read before and after each phase)
# are printed per file of the corpus, by opcode, with the daemon's mean
# service time (receive to reply) for the untar and the read-all of the lz4
# mount; the read-all starts once the FORGETs that drop_caches sends have
# stopped arriving (they are the cost of dropping the caches, not of the
# reads).  At main 6963812 (issue 12's "today") the untar took 12.40
# requests per file (WRITE 3.19, SETATTR 3.00, GETXATTR 2.00, LOOKUP 1.17,
# GETATTR 1.01, CREATE 1.00, RELEASE 1.00) and the read-all 3.15 (READ 1.01,
# OPEN 1.00, RELEASE 1.00, READDIRPLUS 0.07, OPENDIR 0.03, RELEASEDIR 0.03;
# 3.47 with the FORGETs of drop_caches counted in).
#
# Headline figures (ratios, see DESIGN.md §4), of zcached lz4 on its default
# transport; each but the mem_vs_ ones and the request tables also with the
# suffix _dev, the same over /dev/fuse (untar_vs_zram_dev, ...):
#   figure untar_vs_zram R      zcached lz4 untar time / zram+ext4's (target <= 1.0)
#   figure readall_vs_zram R    cold read-all time ratio (target <= 1.5)
#   figure untar_requests_per_file N    FUSE requests of the lz4 untar / files
#   figure readall_requests_per_file N  the same for the cold read-all
#   figure randwrite_vs_zram R  fio 4 KiB random write IOPS, zcached lz4 / zram+ext4
#   figure randread_vs_zram R   the same for random reads
#   figure write_service_us N   the daemon's mean service time of a WRITE in the
#                               lz4 random-write run, µs (the rest of a request's
#                               latency is the round trip)
#   figure read_service_us N    the same for READ in the random-read run
#   figure mem_vs_zram_lz4 R    zcached lz4 mem_used / zram mem_used_total (<= 0.95)
#   figure mem_vs_zram_zstd R   the same with zstd (<= 0.75)
#   figure untar_vs_tmpfs R     zcached lz4 untar time / tmpfs's
#   figure rss_vs_mem_used R    daemon RSS growth / mem_used_bytes, lz4 (<= 1.10)
# Densify (issue 14; densify_round below): after the read-all, the lz4 and zstd
# mounts are densified (/.zcache/densify) and measured again, and from then on
# mem_<kind> is the memory after densify, so mem_vs_zram_lz4 (<= 0.85) and
# mem_vs_zram_zstd (<= 0.65) are the densified figures; also
#   figure mem_plain_vs_zram_lz4 R   (and _zstd) the same before densify
#   figure readall_dense_vs_plain R  cold read-all, densified / before (<= 1.1)
#   figure randread_dense_vs_plain R 4 KiB O_DIRECT random reads of one
#                                    64 MiB file (the corpus' head), IOPS
#                                    densified / plain, lz4 (>= 0.7)
# ZC_BENCH_OPTS (environment): more mount options for every zcached mount,
# e.g. ZC_BENCH_OPTS=open=off (the no-open mode, fuse/ops.h).
# Needs root (mounts, zram); mounts live in a temporary directory and are
# always unmounted on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/common/lock.sh"
build="$here/build/release"
corpus=""
seconds=10
fio_size=256
while [ $# -gt 0 ]; do
	case "$1" in
	--corpus) corpus=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--size) fio_size=$2; shift 2 ;;
	-h|--help) sed -n '2,/^# always unmounted/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "fs.sh: unknown argument: $1" >&2; exit 2 ;;
	esac
done
[ -n "$corpus" ] || corpus="$build/corpus/tree.tar"
zcached="$build/zcached"
[ -r "$corpus" ] || { echo "fs.sh: no corpus at $corpus (build the 'corpus' target or pass --corpus)" >&2; exit 2; }
[ -x "$zcached" ] || { echo "fs.sh: no zcached at $zcached (build it or pass --build)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "fs.sh: needs root (mounts)" >&2; exit 2; }

uring_param=/sys/module/fuse/parameters/enable_uring
uring_old=""
uring_opt=""
work=$(mktemp -d /tmp/zcached-bench.XXXXXX)
zc_pid=""
zram_used=0
cleanup() {
	set +e
	if [ -n "$zc_pid" ]; then
		fusermount3 -u "$work/mnt" 2>/dev/null || fusermount3 -u -z "$work/mnt"
		for _ in $(seq 50); do kill -0 "$zc_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$zc_pid" 2>/dev/null
		zc_pid=""
	fi
	mountpoint -q "$work/mnt" && umount "$work/mnt"
	if [ "$zram_used" = 1 ]; then
		echo 1 > /sys/block/zram0/reset
		zram_used=0
	fi
	rm -rf "$work"
	[ -n "$uring_old" ] && echo "$uring_old" > "$uring_param"
}
trap cleanup EXIT
mkdir -p "$work/mnt"

# FUSE over io_uring for this run (fuse/uring.h): enable_uring Y, under
# the kernel-settings lock, the old value put back by cleanup.
if [ -w "$uring_param" ]; then
	kernel_lock
	uring_old=$(cat "$uring_param")
	echo Y > "$uring_param"
	uring_opt=",uring=on"
else
	echo "note: no writable $uring_param: every zcached runs over /dev/fuse"
fi

now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }'; }

drop_caches() {
	sync
	if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
		cache_mode="drop_caches"
	else
		# Containers may not write drop_caches: evict each file's pages.
		cache_mode="fadvise"
		python3 - "$1" <<'EOF'
import os, sys
for root, dirs, files in os.walk(sys.argv[1]):
    for f in files:
        p = os.path.join(root, f)
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
EOF
	fi
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# CPU time (user + system) of a process in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
clk_tck=$(getconf CLK_TCK)

# fio: 4 KiB random writes (fio_write) then random reads (fio_read) of one
# file, O_DIRECT; each prints its IOPS.
fio_write() {
	fio --name=w --filename="$1/fio.dat" --size="${fio_size}M" --rw=randwrite --bs=4k \
		--ioengine=psync --direct=1 --runtime="$seconds" --time_based \
		--buffer_compress_percentage=50 --refill_buffers --output-format=terse \
		--terse-version=3 2>/dev/null | awk -F';' '{ print $49 }'
}
fio_read() {
	fio --name=r --filename="$1/fio.dat" --size="${fio_size}M" --rw=randread --bs=4k \
		--ioengine=psync --direct=1 --runtime="$seconds" --time_based \
		--output-format=terse --terse-version=3 2>/dev/null | awk -F';' '{ print $8 }'
	rm -f "$1/fio.dat"
}

# zcached's request statistics.  fuse_snap NAME copies /.zcache/fuse of the
# zcached being measured to $work/NAME (nothing for the other kinds);
# fuse_diff A B prints "op count total_us" for every opcode served between
# the two snapshots.
fuse_snap() {
	[ -z "$zc_pid" ] || cp "$work/mnt/.zcache/fuse" "$work/$1"
}
fuse_diff() {
	awk 'NR == FNR { if ($1 != "op") { c[$1] = $2; t[$1] = $3 } next }
	     $1 != "op" && $1 != "all" && $2 > c[$1] { printf "%s %d %d\n", $1, $2 - c[$1], $3 - t[$1] }' \
		"$work/$1" "$work/$2"
}
# fuse_table TITLE A B: the requests between snapshots A and B per file of
# the corpus, by opcode (most first), with the mean service time; sets
# fuse_per_file to the total per file.
fuse_table() {
	fuse_diff "$2" "$3" | sort -k2,2nr > "$work/fuse.diff"
	fuse_per_file=$(awk -v f="$files" '{ s += $2 } END { printf "%.3f", s / f }' "$work/fuse.diff")
	echo "$1: $fuse_per_file FUSE requests per file (op, per file, mean service time)"
	awk -v f="$files" '{ printf "    %-16s %8.3f %10.1f us\n", $1, $2 / f, $3 / $2 }' "$work/fuse.diff"
}
# fuse_mean A B OP: the mean service time of OP between A and B, µs.
fuse_mean() {
	fuse_diff "$1" "$2" | awk -v op="$3" '$1 == op { printf "%.1f", $3 / $2; found = 1 }
		END { if (!found) print "nan" }'
}
# The FORGETs that drop_caches makes the kernel send keep coming for a
# moment: wait until fewer than 10 arrive in 0.2 s (at most 10 s).
fuse_settle() {
	local a b
	[ -n "$zc_pid" ] || return 0
	a=$(awk '$1 == "forget" || $1 == "batch_forget" { s += $2 } END { print s + 0 }' \
		"$work/mnt/.zcache/fuse")
	for _ in $(seq 50); do
		sleep 0.2
		b=$(awk '$1 == "forget" || $1 == "batch_forget" { s += $2 } END { print s + 0 }' \
			"$work/mnt/.zcache/fuse")
		[ $((b - a)) -lt 10 ] && return 0
		a=$b
	done
}

# ---- densify (issue 14) -----------------------------------------------
# densify_round KIND: on a zcached mount whose tree was untarred and read
# once (read_KIND, the plain cold read-all): random reads of a plain file
# (then removed), write 1 to /.zcache/densify (returns when every file is
# densified, and compacts), memory after, the densified tree's cold
# read-all, then the same file written again, densified, and read at
# random.  Sets plainmem_KIND, densemem_KIND (and mem_KIND = densemem_KIND),
# dread_KIND, rplain_KIND, rdense_KIND.
densify_rand() {
	fio --name=dr --filename="$1" --size=64M --rw=randread --bs=4k --ioengine=psync \
		--direct=1 --readonly --runtime="$seconds" --time_based --output-format=terse \
		--terse-version=3 2>/dev/null | awk -F';' '{ print $8 }'
}
densify_round() {
	local kind="$1" st="$work/mnt/.zcache/stats" t0 t1 c0 c1 m1 f="$work/mnt/rand.dat"
	head -c 64M "$corpus" > "$f"
	drop_caches "$f"
	c0=$(cpu_ticks "$zc_pid")
	eval "rplain_$kind=$(densify_rand "$f")"
	c1=$(cpu_ticks "$zc_pid")
	echo "$kind daemon CPU per plain random read: $(awk -v c=$((c1 - c0)) -v t="$clk_tck" \
		-v n="$(eval echo "\$rplain_$kind")" -v s="$seconds" \
		'BEGIN { if (n > 0) printf "%.1f", c / t / (n * s) * 1e6; else print "nan" }') us"
	rm -f "$f"
	eval "plainmem_$kind=\$mem_$kind"
	c0=$(cpu_ticks "$zc_pid")
	t0=$(now)
	echo 1 > "$work/mnt/.zcache/densify"
	t1=$(now)
	c1=$(cpu_ticks "$zc_pid")
	m1=$(awk '$1 == "mem_used_bytes" { print $2 }' "$st")
	eval "densemem_$kind=$m1 mem_$kind=$m1"
	echo "$kind densify: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s," \
		"daemon CPU $(ratio $((c1 - c0)) "$clk_tck") s; mem_used_bytes" \
		"$(eval echo "\$plainmem_$kind") before, $m1 after"
	grep -E '^(units|unit_pages|densified_files|densified_bytes|densify_saved_bytes|densify_seconds) ' \
		"$st" | sed "s/^/    $kind /"
	drop_caches "$work/mnt/t"
	c0=$(cpu_ticks "$zc_pid")
	t0=$(now)
	find "$work/mnt/t" -type f -print0 | xargs -0 cat > /dev/null
	t1=$(now)
	c1=$(cpu_ticks "$zc_pid")
	eval "dread_$kind=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
	echo "$kind daemon CPU: read-all of the densified tree $(ratio $((c1 - c0)) "$clk_tck") s"
	head -c 64M "$corpus" > "$f"
	echo 1 > "$work/mnt/.zcache/densify"
	drop_caches "$f"
	c0=$(cpu_ticks "$zc_pid")
	eval "rdense_$kind=$(densify_rand "$f")"
	c1=$(cpu_ticks "$zc_pid")
	echo "$kind daemon CPU per densified random read: $(awk -v c=$((c1 - c0)) -v t="$clk_tck" \
		-v n="$(eval echo "\$rdense_$kind")" -v s="$seconds" \
		'BEGIN { if (n > 0) printf "%.1f", c / t / (n * s) * 1e6; else print "nan" }') us"
	rm -f "$f"
	echo "$kind densified: read-all $(eval echo "\$read_$kind") -> $(eval echo "\$dread_$kind") s;" \
		"4k random reads $(eval echo "\$rplain_$kind") -> $(eval echo "\$rdense_$kind") IOPS"
}
densify_figures() {
	if [[ " $kinds " == *" zram "* ]]; then
		echo "figure mem_plain_vs_zram_lz4 $(ratio "$plainmem_zcached_lz4" "$mem_zram")"
		echo "figure mem_plain_vs_zram_zstd $(ratio "$plainmem_zcached_zstd" "$mem_zram")"
	fi
	echo "figure readall_dense_vs_plain $(ratio "$dread_zcached_lz4" "$read_zcached_lz4")"
	echo "figure readall_dense_vs_plain_zstd $(ratio "$dread_zcached_zstd" "$read_zcached_zstd")"
	echo "figure randread_dense_vs_plain $(ratio "$rdense_zcached_lz4" "$rplain_zcached_lz4")"
	echo "figure randread_dense_vs_plain_zstd $(ratio "$rdense_zcached_zstd" "$rplain_zcached_zstd")"
}

# One filesystem: mount it (by kind), untar, read back, fio.  Sets the
# variables untar_<kind>, read_<kind>, mem_<kind>, rss_<kind>, wiops_, riops_.
bench_one() {
	local kind="$1" t0 t1 mem=0 rss0=0 rss1=0 c0=0 c1=0 c2=0 cu=0
	case "$kind" in
	tmpfs)
		mount -t tmpfs -o size=8G tmpfs "$work/mnt" ;;
	zram)
		echo lz4 > /sys/block/zram0/comp_algorithm
		echo 8G > /sys/block/zram0/disksize
		zram_used=1
		mkfs.ext4 -q -F /dev/zram0
		mount -t ext4 /dev/zram0 "$work/mnt" ;;
	zcached_*)
		local comp=lz4 tr=$uring_opt
		[ "$kind" = zcached_zstd ] && comp=zstd
		[ "$kind" = zcached_lz4_dev ] && tr=",uring=off"
		"$zcached" -f -o "compressor=$comp,mem_limit=8G$tr${ZC_BENCH_OPTS:+,$ZC_BENCH_OPTS}" \
			"$work/mnt" 2>"$work/$kind.log" &
		zc_pid=$!
		for _ in $(seq 200); do mountpoint -q "$work/mnt" && break; sleep 0.05; done
		mountpoint -q "$work/mnt" || { echo "fs.sh: zcached did not mount" >&2; cat "$work/$kind.log" >&2; exit 1; }
		rss0=$(rss_kb "$zc_pid") ;;
	esac
	mkdir "$work/mnt/t"
	# The previous round's drop_caches evicted the tarball: read it into
	# the page cache again so no round times the disk.
	cat "$corpus" > /dev/null
	sync
	[ -n "$zc_pid" ] && c0=$(cpu_ticks "$zc_pid")
	fuse_snap "$kind.fuse0"
	t0=$(now)
	tar -xf "$corpus" -C "$work/mnt/t"
	sync
	t1=$(now)
	[ -n "$zc_pid" ] && c1=$(cpu_ticks "$zc_pid")
	fuse_snap "$kind.fuse1"
	eval "untar_$kind=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
	case "$kind" in
	zram) mem=$(awk '{ print $3 }' /sys/block/zram0/mm_stat)
		echo "zram mm_stat after untar: $(cat /sys/block/zram0/mm_stat)" ;;
	tmpfs) mem=$(df -B1 --output=used "$work/mnt" | tail -1) ;;
	zcached_*)
		mem=$(awk '$1 == "mem_used_bytes" { print $2 }' "$work/mnt/.zcache/stats")
		rss1=$(rss_kb "$zc_pid")
		eval "rss_$kind=$(( (rss1 - rss0) * 1024 ))" ;;
	esac
	eval "mem_$kind=$mem"
	drop_caches "$work/mnt/t"
	fuse_settle
	fuse_snap "$kind.fuse2"
	[ -n "$zc_pid" ] && cu=$(cpu_ticks "$zc_pid")
	t0=$(now)
	find "$work/mnt/t" -type f -print0 | xargs -0 cat > /dev/null
	t1=$(now)
	fuse_snap "$kind.fuse3"
	if [ -n "$zc_pid" ]; then
		c2=$(cpu_ticks "$zc_pid")
		# The daemon's own CPU time: steadier than the wall clock on a
		# shared machine, where round-trip latency is most of the time.
		echo "$kind daemon CPU: untar $(ratio $((c1 - c0)) "$clk_tck") s," \
			"read-all $(ratio $((c2 - cu)) "$clk_tck") s"
	fi
	eval "read_$kind=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
	# Densify before fio: fio's file grows the xcf pools' page tables,
	# which never shrink, so memory after densify would count them.  The
	# random-write window starts after it (fuse3w), so densify's own
	# requests stay out of the service means; the /dev/fuse run skips it.
	case "$kind" in zcached_lz4 | zcached_zstd) densify_round "$kind" ;; esac
	fuse_snap "$kind.fuse3w"
	eval "wiops_$kind=$(fio_write "$work/mnt")"
	fuse_snap "$kind.fuse4"
	eval "riops_$kind=$(fio_read "$work/mnt")"
	fuse_snap "$kind.fuse5"
	if [ -n "$zc_pid" ]; then
		cp "$work/mnt/.zcache/stats" "$work/$kind.stats"
		fusermount3 -u "$work/mnt"
		wait "$zc_pid" || true
		zc_pid=""
	else
		umount "$work/mnt"
	fi
	if [ "$kind" = zram ]; then
		echo 1 > /sys/block/zram0/reset
		zram_used=0
	fi
}

kinds="tmpfs"
if [ -e /sys/block/zram0 ] && [ "$(cat /sys/block/zram0/disksize)" = 0 ] &&
   ! grep -q '^/dev/zram0 ' /proc/mounts && ! grep -q zram0 /proc/swaps; then
	kinds="$kinds zram"
else
	echo "note: /sys/block/zram0 missing or in use: no zram+ext4 peer in this run"
fi
kinds="$kinds zcached_lz4 zcached_lz4_dev zcached_zstd"

bytes=$(tar -tvf "$corpus" | awk '{ s += $3 } END { print s }')
files=$(tar -tf "$corpus" | grep -vc '/$' || true)
echo "corpus: $corpus ($files entries, $bytes bytes of file data)"
for k in $kinds; do
	bench_one "$k"
done
echo "cold caches by: $cache_mode"
printf '%-16s %9s %10s %9s %10s %10s %10s %12s %12s\n' fs untar_s untar_MB/s read_s read_MB/s \
	rand_w_iops rand_r_iops mem_bytes rss_growth
for k in $kinds; do
	eval "u=\$untar_$k r=\$read_$k m=\$mem_$k w=\$wiops_$k rr=\$riops_$k rs=\${rss_$k:-}"
	printf '%-16s %9s %10s %9s %10s %10s %10s %12s %12s\n' "$k" "$u" \
		"$(awk -v b="$bytes" -v t="$u" 'BEGIN { printf "%.1f", b / t / 1e6 }')" "$r" \
		"$(awk -v b="$bytes" -v t="$r" 'BEGIN { printf "%.1f", b / t / 1e6 }')" "$w" "$rr" "$m" "${rs:--}"
done
densify_figures
echo "zcached lz4 stats after the run:"
sed 's/^/    /' "$work/zcached_lz4.stats" | head -12

for k in $kinds; do
	case "$k" in
	zcached_*) echo "$k transport: $(awk '$1 == "transport" { print $2 }' "$work/$k.stats")" ;;
	esac
done

# figures SUFFIX KIND: the ratio figures of one zcached lz4 run.
figures() {
	local x=$1 k=$2
	# rss against the memory of the tree as untarred (before densify).
	eval "local u=\$untar_$k r=\$read_$k w=\$wiops_$k rr=\$riops_$k rs=\$rss_$k"
	eval "local m=\${plainmem_$k:-\$mem_$k}"
	if [[ " $kinds " == *" zram "* ]]; then
		echo "figure untar_vs_zram$x $(ratio "$u" "$untar_zram")"
		echo "figure readall_vs_zram$x $(ratio "$r" "$read_zram")"
		echo "figure randwrite_vs_zram$x $(ratio "$w" "$wiops_zram")"
		echo "figure randread_vs_zram$x $(ratio "$rr" "$riops_zram")"
	fi
	echo "figure untar_vs_tmpfs$x $(ratio "$u" "$untar_tmpfs")"
	echo "figure rss_vs_mem_used$x $(ratio "$rs" "$m")"
	echo "figure write_service_us$x $(fuse_mean $k.fuse3w $k.fuse4 write)"
	echo "figure read_service_us$x $(fuse_mean $k.fuse4 $k.fuse5 read)"
}
fuse_table "zcached lz4 untar" zcached_lz4.fuse0 zcached_lz4.fuse1
untar_rpf=$fuse_per_file
fuse_table "zcached lz4 cold read-all" zcached_lz4.fuse2 zcached_lz4.fuse3
readall_rpf=$fuse_per_file
write_us=$(fuse_mean zcached_lz4.fuse3w zcached_lz4.fuse4 write)
read_us=$(fuse_mean zcached_lz4.fuse4 zcached_lz4.fuse5 read)
echo "zcached lz4 mean service time: WRITE $write_us us (random writes), READ $read_us us (random reads)"

echo "figure untar_requests_per_file $untar_rpf"
echo "figure readall_requests_per_file $readall_rpf"
figures "" zcached_lz4
figures _dev zcached_lz4_dev
if [[ " $kinds " == *" zram "* ]]; then
	echo "figure mem_vs_zram_lz4 $(ratio "$mem_zcached_lz4" "$mem_zram")"
	echo "figure mem_vs_zram_zstd $(ratio "$mem_zcached_zstd" "$mem_zram")"
fi

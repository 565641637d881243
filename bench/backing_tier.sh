#!/usr/bin/env bash
# bench/backing_tier.sh - the backing tier (fuse/tier.h) on a mounted
# zcached: the rate of writeback, the rate of reading cold pages back from
# the backing file against reading the same bytes straight from a file on
# the same disk, and the RAM the tier holds per GB kept in the file.
#
#   flock /work/.bench.lock bash bench/backing_tier.sh [--build DIR]
#         [--corpus PAGE_IMAGE] [--size MiB]
#
# Everything lives in a scratch directory in the build tree (the checkout's
# disk: the tier refuses tmpfs), removed at exit.  Steps:
#   1. the peer: --size MiB (default 512) of the page corpus (copies of
#      pages.img) written to a plain file there, synced;
#   2. zcached mounted with a memory limit larger than the data
#      (mem_limit=4G) and backing=the scratch directory; the same bytes
#      written to one file of the root pool (persistent), synced;
#   3. writeback: /.zcache/mem_limit set to 64 MiB, and timed until the
#      thread has brought mem_used_bytes under the high watermark (90%);
#      the rate is the compressed bytes written to the file per second
#      (backing_write_bytes), and the pages moved per second as original
#      bytes;
#   4. cold reads: the plain file and the zcached file each read with dd
#      bs=1M, alternately, three times each, the page cache dropped before
#      each read (drop_caches, or POSIX_FADV_DONTNEED through dd where that
#      is not allowed); the best rate of each is compared (the host's own
#      cache of the disk, on a VM, is not ours to drop, and the machine is
#      shared).  Most of the zcached file comes from the backing file each
#      time (promotion stops at the high watermark; backing_reads and
#      backing_promotions are printed);
#   5. compaction: three pages in four of the zcached file punched out
#      (scattered: every segment of the file is left a quarter live), then
#      one write of 1 to /.zcache/backing_compact, timed; the mount has
#      backing_compact=off so the thread does not start it first.
# The machine is shared and noisy: run it 2-3 times and quote the range.
#
# Headline figures:
#   figure backing_writeback_MBps  compressed MB (1e6) written back per second
#   figure backing_read_vs_disk    cold read rate of the zcached file / the
#                                  plain file's (aim >= 0.8)
#   figure backing_ram_MB_per_GB   RAM the backing file's tables take
#                                  (backing_meta_bytes less its 1 MiB write
#                                  buffer) per GB (1e9) of records in it
#   figure backing_held_MB_per_GB  RAM held for the pages in the file per GB
#                                  (1e9) of their original bytes: the file's
#                                  tables (as above) plus the store's and
#                                  the namespace's metadata (meta_bytes; it
#                                  covers the pages still in RAM too, so
#                                  this is an upper bound)
#   figure compact_MBps            record MB (1e6) compaction moved per second
#                                  of the compaction (backing_compact_bytes)
#   figure compact_reclaimed_MB    file MB (1e6) it gave back
#                                  (backing_compact_reclaimed_bytes)
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/release
corpus=
size=512
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--corpus) corpus=$2; shift 2 ;;
	--size) size=$2; shift 2 ;;
	*) echo "usage: $0 [--build DIR] [--corpus PAGE_IMAGE] [--size MiB]" >&2; exit 2 ;;
	esac
done
corpus=${corpus:-$build/corpus/pages.img}
[ -x "$build/zcached" ] || { echo "no $build/zcached: build first" >&2; exit 1; }
[ -f "$corpus" ] || { echo "no corpus $corpus (cmake --build $build builds it)" >&2; exit 1; }

work=$(mktemp -d "$PWD/$build/bench-tier.XXXXXX")
mnt=$work/mnt
pid=
cleanup() {
	if [ -n "$pid" ]; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$mnt" "$work/backing"

now() { date +%s.%N; }
stat_of() { awk -v n="$1" '$1 == n { print $2 }' "$mnt/.zcache/stats"; }
drop() {
	sync
	if ! echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
		for f in "$@"; do dd if="$f" iflag=nocache count=0 status=none; done
	fi
}
# Write $size MiB of the corpus to $1.
fill() {
	local left=$size cmib
	cmib=$(( $(stat -c %s "$corpus") >> 20 ))
	: > "$1"
	while [ "$left" -gt 0 ]; do
		local n=$(( left < cmib ? left : cmib ))
		head -c $(( n << 20 )) "$corpus" >> "$1"
		left=$(( left - n ))
	done
	sync "$1"
}

echo "# backing tier: $size MiB of $(basename "$corpus"), scratch $work"
fill "$work/plain.img"

"$build/zcached" -f -o "mem_limit=4G,backing_compact=off,backing=$work/backing" "$mnt" \
	2>"$work/zcached.log" &
pid=$!
for _ in $(seq 100); do
	mountpoint -q "$mnt" && break
	sleep 0.1
done
mountpoint -q "$mnt" || { cat "$work/zcached.log"; echo "zcached did not mount" >&2; exit 1; }
t0=$(now)
fill "$mnt/data"
t1=$(now)
echo "write into RAM: $(awk -v s="$size" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f MiB/s", s / (b - a) }'), mem_used $(( $(stat_of mem_used_bytes) >> 20 )) MiB"

# Writeback: a 64 MiB limit, timed until mem_used is under 90% of it.
limit=$(( 64 << 20 ))
wb0=$(stat_of backing_write_bytes)
t0=$(now)
echo "$limit" > "$mnt/.zcache/mem_limit"
while [ "$(stat_of mem_used_bytes)" -gt $(( limit / 10 * 9 )) ]; do
	sleep 0.05
done
t1=$(now)
wb1=$(stat_of backing_write_bytes)
pages=$(stat_of backing_pages)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
echo "writeback: $(( (wb1 - wb0) >> 20 )) MiB of records ($pages pages, $(( pages * 4096 >> 20 )) MiB original) in ${secs}s"
echo "  original bytes moved: $(awk -v p="$pages" -v s="$secs" 'BEGIN { printf "%.0f MB/s", p * 4096 / s / 1e6 }')"
echo "figure backing_writeback_MBps $(awk -v b=$(( wb1 - wb0 )) -v s="$secs" 'BEGIN { printf "%.1f", b / s / 1e6 }')"

meta=$(stat_of backing_meta_bytes)
bbytes=$(stat_of backing_bytes)
used=$(stat_of mem_used_bytes)
smeta=$(stat_of meta_bytes)
echo "in the file: $(( bbytes >> 20 )) MiB of records; backing_meta_bytes $meta; meta_bytes $smeta; mem_used_bytes $used"
echo "figure backing_ram_MB_per_GB $(awk -v m="$meta" -v b="$bbytes" 'BEGIN { printf "%.2f", (m - 1048576) / 1e6 / (b / 1e9) }')"
echo "figure backing_held_MB_per_GB $(awk -v m="$meta" -v s="$smeta" -v p="$pages" 'BEGIN { printf "%.2f", (m - 1048576 + s) / 1e6 / (p * 4096 / 1e9) }')"

# Cold reads, alternately: the plain file, then the zcached one; the best
# of three each.
rate() {	# MiB/s of one cold dd of $1
	local t0 t1
	drop "$1"
	sleep 1	# the FORGETs that drop_caches sends
	t0=$(now)
	dd if="$1" of=/dev/null bs=1M status=none
	t1=$(now)
	awk -v s="$size" -v a="$t0" -v b="$t1" 'BEGIN { print s / (b - a) }'
}
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
plain=0 tier=0
r0=$(stat_of backing_reads)
for k in 1 2 3; do
	p=$(rate "$work/plain.img")
	z=$(rate "$mnt/data")
	echo "cold read $k: plain file $(printf %.0f "$p") MiB/s, zcached $(printf %.0f "$z") MiB/s"
	plain=$(best "$plain" "$p")
	tier=$(best "$tier" "$z")
done
r1=$(stat_of backing_reads)
echo "cold read, best: plain file $(printf %.0f "$plain") MiB/s, zcached $(printf %.0f "$tier") MiB/s ($(( r1 - r0 )) pages read from the backing file, $(stat_of backing_promotions) brought back)"
echo "figure backing_read_vs_disk $(awk -v a="$tier" -v b="$plain" 'BEGIN { printf "%.3f", a / b }')"
[ "$(stat_of backing_read_failures)" = 0 ] || { echo "backing read failures!" >&2; exit 1; }

# Compaction: punch three pages in four (python3's ctypes: fallocate
# PUNCH_HOLE | KEEP_SIZE, page by page), then compact at once, timed.
python3 - "$mnt/data" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
fd = os.open(sys.argv[1], os.O_WRONLY)
pages = os.fstat(fd).st_size // 4096
for i in range(pages):
    if i % 4 and libc.fallocate(fd, 3, i * 4096, 4096) != 0:
        sys.exit("fallocate: " + os.strerror(ctypes.get_errno()))
os.close(fd)
PY
sleep 0.3	# the frees are done by the punches; let the trims land
d0=$(stat_of backing_disk_bytes)
s0=$(stat_of backing_sparse_bytes)
m0=$(stat_of backing_compact_bytes)
c0=$(stat_of backing_compact_reclaimed_bytes)
t0=$(now)
echo 1 > "$mnt/.zcache/backing_compact"
t1=$(now)
d1=$(stat_of backing_disk_bytes)
m1=$(stat_of backing_compact_bytes)
c1=$(stat_of backing_compact_reclaimed_bytes)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
echo "compaction: $(stat_of backing_compactions) segments emptied in ${secs}s, $(( (m1 - m0) >> 20 )) MiB moved, $(( s0 >> 20 )) MiB dead before; file on disk $(( d0 >> 20 )) -> $(( d1 >> 20 )) MiB"
echo "figure compact_MBps $(awk -v b=$(( m1 - m0 )) -v s="$secs" 'BEGIN { printf "%.1f", b / s / 1e6 }')"
echo "figure compact_reclaimed_MB $(awk -v b=$(( c1 - c0 )) 'BEGIN { printf "%.1f", b / 1e6 }')"
[ "$(stat_of backing_compact_failures)" = 0 ] || { echo "compaction failures!" >&2; exit 1; }
# Every page left reads back (the punched ones as zeros) against the plain file.
python3 - "$mnt/data" "$work/plain.img" <<'PY'
import sys
with open(sys.argv[1], "rb") as z, open(sys.argv[2], "rb") as p:
    i = 0
    zero = bytes(4096)
    while True:
        a, b = z.read(4096), p.read(4096)
        if not b:
            break
        if a != (b if i % 4 == 0 else zero):
            sys.exit("page %d differs after compaction" % i)
        i += 1
PY
echo "compaction: every page reads back"

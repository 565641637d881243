#!/usr/bin/env bash
# bench/spill_fs.sh - the far tier through a mount (fuse/far.h, spill=):
# how fast evicted ephemeral files go to memcached and come back, against
# reading the same files from RAM.
#
#   flock ../.bench.lock bash bench/spill_fs.sh [--build DIR] [--files N]
#
# One memcached of its own (1 GiB, on a free loopback port, never 11211,
# stopped by pid) and one zcached mount (pool=ephemeral, mem_limit=2G,
# spill= that server).  The corpus's pages.img (64 MiB of real memory
# pages, ../shared/corpus) is cut into N files of 1 MiB (default 64) in
# the pool "eph".  Then, timed with Python's monotonic clock:
#   read_ram   every file read while it is in RAM (the kernel's page cache
#              dropped first with POSIX_FADV_DONTNEED);
#   spill      a write to .zcache/drop_ephemeral spills every file; timed
#              until the server acknowledged all of them (.zcache/spill:
#              queue_depth 0);
#   fetch      every file opened and read again: each open fetches the
#              file's image with one multi-get and restores its pages;
#   reopen     one 1 MiB file spilled alone (the others held open, so
#              pinned) and opened, 21 times: the median open(2) time.
# Rates are the files' bytes (not the images') per second of wall clock.
#
# Headline figures:
#   figure spill_MBps X          files' MB/s spilled to the server
#   figure fetch_MBps X          files' MB/s fetched back by open+read
#   figure read_ram_MBps X       the same reads from RAM, for comparison
#   figure fetch_vs_ram R        fetch_MBps / read_ram_MBps
#   figure reopen_spilled_ms X   median open(2) of a spilled 1 MiB file
#
# Run it under the shared benchmark lock, as bench/fs.sh, so no two
# benchmarks overlap; it needs root (mount, and memcached then runs as
# nobody) and the fuse module.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build/release"
nfiles=64
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$(cd "$2" && pwd); shift 2 ;;
	--files) nfiles=$2; shift 2 ;;
	*) echo "usage: bash bench/spill_fs.sh [--build DIR] [--files N]" >&2; exit 2 ;;
	esac
done
[ -x "$build/zcached" ] || { echo "spill_fs: $build/zcached not built" >&2; exit 1; }
corpus="$root/../shared/corpus/pages.img.zst"
[ -r "$corpus" ] || { echo "spill_fs: $corpus missing" >&2; exit 1; }
command -v memcached >/dev/null || { echo "spill_fs: memcached not installed (.ci/deps)" >&2; exit 1; }

work=$(mktemp -d /tmp/zc-spill-bench.XXXXXX)
mnt="$work/mnt"
mkdir "$mnt"
mc_pid=
zc_pid=
cleanup() {
	set +e
	if mountpoint -q "$mnt" 2>/dev/null; then
		fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
	fi
	if [ -n "$zc_pid" ]; then
		kill "$zc_pid" 2>/dev/null
		wait "$zc_pid" 2>/dev/null
	fi
	if [ -n "$mc_pid" ]; then
		kill -9 "$mc_pid" 2>/dev/null
		wait "$mc_pid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# A loopback port nothing listens on (never 11211).
port=$(python3 -c '
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p != 11211:
        print(p); break')
user=()
[ "$(id -u)" -eq 0 ] && user=(-u nobody)
memcached -l 127.0.0.1 -p "$port" -U 0 -m 1024 -t 2 "${user[@]}" &
mc_pid=$!
for _ in $(seq 100); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2).close()" \
		2>/dev/null && break
	sleep 0.05
done

"$build/zcached" -f -o "mem_limit=2G,pool=ephemeral,spill=127.0.0.1:$port" "$mnt" \
	>"$work/zcached.log" 2>&1 &
zc_pid=$!
for _ in $(seq 100); do
	mountpoint -q "$mnt" && break
	sleep 0.05
done
mountpoint -q "$mnt" || { cat "$work/zcached.log" >&2; exit 1; }
mkdir "$mnt/eph"

zstd -q -dc "$corpus" | head -c $((nfiles * 1048576)) >"$work/pages.img"
python3 - "$mnt" "$nfiles" "$work/pages.img" <<'EOF'
import os, statistics, sys, time

mnt, n, img = sys.argv[1], int(sys.argv[2]), sys.argv[3]
files = ["%s/eph/f%03d" % (mnt, i) for i in range(n)]
MB = 1e6

def ctl(name):
    out = {}
    with open("%s/.zcache/%s" % (mnt, name)) as f:
        for line in f:
            k, _, v = line.partition(" ")
            if v.strip().isdigit():
                out[k] = int(v)
    return out

def drop_page_cache():
    # Opens only files that are local (an open of a spilled one restores it).
    for p in files:
        fd = os.open(p, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)

def read_all():
    t = time.monotonic()
    total = 0
    for p in files:
        with open(p, "rb", buffering=0) as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                total += len(b)
    return total, time.monotonic() - t

def spill_all():
    t = time.monotonic()
    with open("%s/.zcache/drop_ephemeral" % mnt, "w") as f:
        f.write("1")
    while True:
        s = ctl("spill")
        if s["queue_depth"] == 0:
            return time.monotonic() - t, s
        time.sleep(0.0005)

with open(img, "rb") as src:
    for p in files:
        with open(p, "wb") as f:
            f.write(src.read(1 << 20))
drop_page_cache()
total, t_ram = read_all()
drop_page_cache()
before = ctl("spill")["spill_files_stored"]
t_spill, s = spill_all()
stored = s["spill_files_stored"] - before
if stored != n or ctl("stats")["evictions"] != 0:
    sys.exit("spill_fs: %d of %d files spilled, %d evicted" % (stored, n, ctl("stats")["evictions"]))
image_bytes = s["spilled_bytes"]
hits = ctl("spill")["spill_fetch_hits"]
got, t_fetch = read_all()
if got != total or ctl("spill")["spill_fetch_hits"] - hits != n:
    sys.exit("spill_fs: the fetch read %d bytes, %d restores" %
             (got, ctl("spill")["spill_fetch_hits"] - hits))
# Reopen one spilled 1 MiB file: the others held open (pinned: never
# spilled), so each drop_ephemeral spills that one alone.
held = [os.open(p, os.O_RDONLY) for p in files[1:]]
times = []
for k in range(21):
    fd = os.open(files[0], os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    before = ctl("spill")["spill_files_stored"]
    spill_all()
    if ctl("spill")["spill_files_stored"] - before != 1:
        sys.exit("spill_fs: the reopen round spilled %d files"
                 % (ctl("spill")["spill_files_stored"] - before))
    t = time.monotonic()
    fd = os.open(files[0], os.O_RDONLY)
    times.append(time.monotonic() - t)
    os.close(fd)
for fd in held:
    os.close(fd)
print("spill_fs: %d files, %.1f MB, images %.1f MB (%.2fx), memcached on loopback"
      % (n, total / MB, image_bytes / MB, total / image_bytes))
print("spill_fs: read_ram %.3f s, spill %.3f s, fetch %.3f s" % (t_ram, t_spill, t_fetch))
print("figure spill_MBps %.1f" % (total / MB / t_spill))
print("figure fetch_MBps %.1f" % (total / MB / t_fetch))
print("figure read_ram_MBps %.1f" % (total / MB / t_ram))
print("figure fetch_vs_ram %.3f" % ((total / t_fetch) / (total / t_ram)))
print("figure reopen_spilled_ms %.3f" % (statistics.median(times) * 1e3))
EOF

#!/usr/bin/env bash
# bench/restart.sh - the restart benchmark (issue 15): how fast zcached
# writes its state image at a clean stop and loads it at the next start
# (-o snapshot=PATH, fuse/state.h).
#
#   flock /work/.bench.lock bash bench/restart.sh [--corpus TAR] [--build DIR] [--runs N]
#
# The corpus (default: BUILD/corpus/tree.tar) is untarred into a fresh
# zcached mount (lz4, /dev/fuse) and densified (/.zcache/densify, as an
# idle mount would be), so the image holds every page form, units
# included; then the daemon is stopped and started N times (default 3).
# The snapshot lives in /dev/shm, so the figures are the page cache's
# (tmpfs: the fsync costs nothing); on a disk the fsync of the image adds
# the disk's write time.  The daemon times its own save and load (from the
# unmount to the rename, from opening the image to the last page stored)
# and logs them; the script reads those lines.
#
# Figures, per MB (10^6 bytes) of stored data (the pages' stored forms:
# compressed bytes, raw pages, units' payloads; what the image carries):
#   figure snapshot_save_MBps N   best of the runs (aim: > 1000)
#   figure snapshot_load_MBps N   best of the runs (aim: > 1000)
#   figure reload_gap_ms N        best of the runs (aim: < 300)
#   figure reload_gap_ms_uring N  the same over the io_uring transport
#                                 (the hold included: daemon/reload.h)
# and every run's figures on lines of their own.  For the io_uring runs the
# script sets the fuse module's enable_uring to Y under the kernel-settings
# lock (ZC_KERNEL_LOCK, default ../.kernel.lock beside the checkout) and
# puts the old value back; without a writable parameter they are skipped
# (said on a line, no figure).
#
# The reload's gap is measured from outside: with the corpus loaded (and
# the snapshot started from), a loop opens and closes a file of the mount
# as fast as it can (open(2) always reaches the daemon; stat(2) could be
# answered from the kernel's cache) while the daemon gets SIGHUP; the gap
# is the longest time between two opens that returned, which spans the
# last request the old process served to the first the new one served
# (daemon/reload.h).  Each run sends one SIGHUP and waits for the new
# process's "adopted" line.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/common/lock.sh"
build="$here/build/release"
corpus=""
runs=3
while [ $# -gt 0 ]; do
	case $1 in
	--corpus) corpus=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	*) echo "usage: restart.sh [--corpus TAR] [--build DIR] [--runs N]" >&2; exit 2 ;;
	esac
done
[ -n "$corpus" ] || corpus="$build/corpus/tree.tar"
[ -r "$corpus" ] || { echo "restart.sh: no corpus at $corpus" >&2; exit 2; }
zcached="$build/zcached"
[ -x "$zcached" ] || { echo "restart.sh: no $zcached (build first)" >&2; exit 2; }

work=$(mktemp -d /tmp/zc-restart-bench.XXXXXX)
snap=$(mktemp -u /dev/shm/zc-restart-bench.XXXXXX)
mnt="$work/mnt"
log="$work/zcached.log"
pid=""
transport=uring=off
uring_param=/sys/module/fuse/parameters/enable_uring
uring_old=""
cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -uz "$mnt" || true; fi
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work" "$snap" "$snap.tmp"
	[ -n "$uring_old" ] && echo "$uring_old" > "$uring_param"
	true
}
trap cleanup EXIT
mkdir -p "$mnt"

start() {
	"$zcached" -f -o "snapshot=$snap,$transport,compressor=lz4" "$mnt" >>"$log" 2>&1 &
	pid=$!
	for _ in $(seq 1 600); do
		mountpoint -q "$mnt" && return 0
		kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
		sleep 0.05
	done
	echo "restart.sh: zcached did not mount" >&2
	exit 1
}

stop() {
	fusermount3 -u "$mnt"
	wait "$pid"
	pid=""
}

# "... N stored bytes in T ms" of the last line matching $1.
rate() {
	grep "$1" "$log" | tail -1 |
		sed -E 's/.* ([0-9]+) stored bytes in ([0-9.]+) ms.*/\1 \2/' |
		awk '{ printf "%.0f %.1f %.0f\n", $1 / 1e6, $2, ($1 / 1e6) / ($2 / 1e3) }'
}

start
tar -xf "$corpus" -C "$mnt"
echo 1 > "$mnt/.zcache/densify"
echo "corpus: $corpus, $(grep -E '^(pages|compr_data_bytes) ' "$mnt/.zcache/stats" | tr -s ' ' | tr '\n' ' ')"
stop
best_save=0
best_load=0
for r in $(seq 1 "$runs"); do
	read -r mb ms save < <(rate "wrote snapshot")
	echo "run $r: save $mb MB stored in $ms ms = $save MB/s (image $(stat -c %s "$snap") bytes)"
	start
	read -r mb ms load < <(rate "loaded snapshot")
	echo "run $r: load $mb MB stored in $ms ms = $load MB/s"
	stop
	[ "$save" -gt "$best_save" ] && best_save=$save
	[ "$load" -gt "$best_load" ] && best_load=$load
done
# The reload's gap: one SIGHUP per run, the open loop timing it; the best
# gap of the runs is left in $work/best_gap.
gaps() {
	start
	target=$(find "$mnt" -path "$mnt/.zcache" -prune -o -type f -size +0 -print | head -1)
	best_gap=""
	for r in $(seq 1 "$runs"); do
		n0=$(grep -c "reload: adopted" "$log" || true)
		gap=$(python3 - "$target" "$pid" "$log" "$n0" <<'PY'
import os, signal, sys, threading, time
path, pid, log, n0 = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
done = threading.Event()
stamps = []
def loop():
    while not done.is_set():
        fd = os.open(path, os.O_RDONLY)
        os.close(fd)
        stamps.append(time.monotonic())
t = threading.Thread(target=loop)
t.start()
time.sleep(0.3)
os.kill(pid, signal.SIGHUP)
for _ in range(3000):
    with open(log) as f:
        if sum("reload: adopted" in l for l in f) > n0:
            break
    time.sleep(0.01)
time.sleep(0.3)
done.set()
t.join()
print("%.1f" % (max(b - a for a, b in zip(stamps, stamps[1:])) * 1e3))
PY
)
		echo "run $r: reload gap $gap ms ($(grep "reload: .*handed over" "$log" | tail -1 | sed -E 's/.*handles \(([0-9]+) bytes\) handed over in ([0-9.]+) ms.*/image \1 bytes written in \2 ms/'))"
		if [ -z "$best_gap" ] || awk "BEGIN { exit !($gap < $best_gap) }"; then best_gap=$gap; fi
	done
	echo "$best_gap" > "$work/best_gap"
	stop
}
gaps
echo "figure snapshot_save_MBps $best_save"
echo "figure snapshot_load_MBps $best_load"
echo "figure reload_gap_ms $(cat "$work/best_gap")"
if [ -w "$uring_param" ]; then
	kernel_lock
	uring_old=$(cat "$uring_param")
	echo Y > "$uring_param"
	transport=uring=on
	echo "over io_uring:"
	gaps
	echo "$uring_old" > "$uring_param"
	uring_old=""
	kernel_unlock
	echo "figure reload_gap_ms_uring $(cat "$work/best_gap")"
else
	echo "note: no writable $uring_param: no io_uring reload figure"
fi

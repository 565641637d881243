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
# and every run's figures on lines of their own.  The reload's gap
# (figure reload_gap_ms) belongs to the SIGHUP reload, which is not built
# yet: this script prints no such figure.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
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
cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -uz "$mnt" || true; fi
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work" "$snap" "$snap.tmp"
}
trap cleanup EXIT
mkdir -p "$mnt"

start() {
	"$zcached" -f -o "snapshot=$snap,uring=off,compressor=lz4" "$mnt" >>"$log" 2>&1 &
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
echo "figure snapshot_save_MBps $best_save"
echo "figure snapshot_load_MBps $best_load"

#!/usr/bin/env bash
# bench/fdstore.sh - the gap of a restart through systemd's file descriptor
# store (issue 15 step 2, daemon/fdstore.h): how long a mount serves no
# request while one zcached hands its mount and state to the store
# (SIGUSR2, the unit's RestartKillSignal=) and the next one, started with
# them, takes over.
#
#   flock /work/.bench.lock bash bench/fdstore.sh [--corpus TAR] [--build DIR] [--runs N]
#
# A small Python manager plays systemd's side, as tests/fdstore.c does: it
# binds a $NOTIFY_SOCKET, starts zcached -f (lz4, /dev/fuse) there, waits
# for READY=1, untars the corpus (default: BUILD/corpus/tree.tar) into the
# mount and densifies it; then N times (default 3): a loop opens and closes
# a file of the mount as fast as it can (open(2) always reaches the
# daemon), the manager sends SIGUSR2, receives FDSTORE=1 with the two
# descriptors, reaps the old process (status 75), starts the next with
# LISTEN_FDS/LISTEN_FDNAMES/LISTEN_PID and waits for its READY=1.  The gap
# is the longest time between two opens that returned: from the last
# request the old process served to the first the new one served,
# including the new process's exec and start (systemd's own work between
# the two is not in it).
#
# Figures:
#   figure fdstore_gap_ms N         best of the runs
#   figure fdstore_gap_ms_uring N   the same over the io_uring transport
#                                   (three descriptors stored: the ring's too)
# and every run's gap on a line of its own.  For the io_uring runs the
# script sets the fuse module's enable_uring to Y under the kernel-settings
# lock (ZC_KERNEL_LOCK, default ../.kernel.lock beside the checkout) and
# puts the old value back; without a writable parameter they are skipped
# (said on a line, no figure).
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
	*) echo "usage: fdstore.sh [--corpus TAR] [--build DIR] [--runs N]" >&2; exit 2 ;;
	esac
done
[ -n "$corpus" ] || corpus="$build/corpus/tree.tar"
[ -r "$corpus" ] || { echo "fdstore.sh: no corpus at $corpus" >&2; exit 2; }
zcached="$build/zcached"
[ -x "$zcached" ] || { echo "fdstore.sh: no $zcached (build first)" >&2; exit 2; }

work=$(mktemp -d /tmp/zc-fdstore-bench.XXXXXX)
mnt="$work/mnt"
uring_param=/sys/module/fuse/parameters/enable_uring
uring_old=""
cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -uz "$mnt" || true; fi
	if [ -f "$work/pid" ]; then
		p=$(cat "$work/pid")
		# Only our own daemon (the pid file's process must be zcached).
		case $(readlink "/proc/$p/exe" 2>/dev/null) in
		*zcached*) kill "$p" 2>/dev/null || true ;;
		esac
	fi
	rm -rf "$work"
	[ -n "$uring_old" ] && echo "$uring_old" > "$uring_param"
	true
}
trap cleanup EXIT
mkdir -p "$mnt"

# One transport's runs: $1 its -o (uring=off, uring=on), $2 the figure's
# suffix, $3 how many descriptors a hand-over stores.
bench() {
python3 - "$zcached" "$mnt" "$corpus" "$runs" "$work" "$1" "$2" "$3" <<'PY'
import array, os, signal, socket, subprocess, sys, threading, time

zcached, mnt, corpus, runs, work = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
opts, suffix, nstored = sys.argv[6], sys.argv[7], int(sys.argv[8])
if os.path.exists(os.path.join(work, "notify")):
    os.unlink(os.path.join(work, "notify"))
log = open(os.path.join(work, "zcached.log"), "ab")
path = os.path.join(work, "notify")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
sock.bind(path)
store = {}
proc = None

def start(fds):
    global proc
    def child():
        # The stored descriptors at 3, 4, ...; LISTEN_PID is this process.
        high = [os.dup2(fd, 100 + k) for k, fd in enumerate(fds)]
        for k, fd in enumerate(high):
            os.dup2(fd, 3 + k)
            os.close(fd)
        if fds:
            os.environ["LISTEN_FDS"] = str(len(fds))
            os.environ["LISTEN_FDNAMES"] = ":".join(names)
            os.environ["LISTEN_PID"] = str(os.getpid())
    names = list(store.keys())
    env = dict(os.environ, NOTIFY_SOCKET=path)
    for k in ("LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PID"):
        env.pop(k, None)
    os.environ.clear()
    os.environ.update(env)
    proc = subprocess.Popen([zcached, "-f", "-o", opts + ",compressor=lz4", mnt],
                            stdout=log, stderr=log, close_fds=False, preexec_fn=child)
    with open(os.path.join(work, "pid"), "w") as f:
        f.write("%d\n" % proc.pid)

def messages(until, idle=False):
    """Handle messages as systemd would until until() holds; with idle, check
    it only once no message is waiting (so the last ones are read too)."""
    while idle or not until():
        sock.settimeout(0.05)
        try:
            msg, anc, flags, addr = sock.recvmsg(4096, socket.CMSG_SPACE(64))
        except socket.timeout:
            if idle and until():
                return
            if not idle and proc.poll() is not None:
                sys.exit("zcached exited with status %d, see %s/zcached.log" % (proc.returncode, work))
            continue
        fds = array.array("i")
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
        fields = dict(l.split("=", 1) for l in msg.decode().split("\n") if "=" in l)
        if fields.get("READY") == "1":
            state["ready"] = True
        if fields.get("FDSTORE") == "1":
            name = fields["FDNAME"]
            if name in store:
                os.close(store[name])
            store[name] = fds.pop(0)
        if fields.get("FDSTOREREMOVE") == "1":
            name = fields["FDNAME"]
            if name in store:
                os.close(store.pop(name))
        for fd in fds:
            os.close(fd)

def exited():
    return proc.poll() is not None

state = {"ready": False}
start([])
messages(lambda: state["ready"])
subprocess.run(["tar", "-xf", corpus, "-C", mnt], check=True)
with open(os.path.join(mnt, ".zcache/densify"), "w") as f:
    f.write("1\n")
stats = open(os.path.join(mnt, ".zcache/stats")).read().split("\n")
print("corpus: %s, %s" % (corpus, " ".join(l.split()[0] + " " + l.split()[1] for l in stats
                                          if l.split()[:1] in (["pages"], ["compr_data_bytes"]))))
target = None
for root, dirs, files in os.walk(mnt):
    dirs[:] = [d for d in dirs if d != ".zcache"]
    for f in files:
        p = os.path.join(root, f)
        if os.path.isfile(p) and os.path.getsize(p) > 0:
            target = p
            break
    if target:
        break
best = None
for r in range(1, runs + 1):
    done = threading.Event()
    stamps = []
    def loop():
        while not done.is_set():
            fd = os.open(target, os.O_RDONLY)
            os.close(fd)
            stamps.append(time.monotonic())
    t = threading.Thread(target=loop)
    t.start()
    time.sleep(0.3)
    proc.send_signal(signal.SIGUSR2)
    messages(exited, idle=True)
    if proc.returncode != 75 or len(store) != nstored:
        done.set()
        t.join()
        sys.exit("the hand-over failed: status %d, %d stored, see %s/zcached.log"
                 % (proc.returncode, len(store), work))
    state["ready"] = False
    start(list(store.values()))
    messages(lambda: state["ready"] and not store)
    time.sleep(0.3)
    done.set()
    t.join()
    gap = max(b - a for a, b in zip(stamps, stamps[1:])) * 1e3
    lines = [l for l in open(os.path.join(work, "zcached.log"), errors="replace")
             if "handed to the fd store" in l]
    print("run %d: fd store restart gap %.1f ms (%s)" % (r, gap, lines[-1].split("restart: ")[1].strip()))
    best = gap if best is None else min(best, gap)
proc.send_signal(signal.SIGTERM)
proc.wait()
print("figure fdstore_gap_ms%s %.1f" % (suffix, best))
PY
}
bench uring=off "" 2
if [ -w "$uring_param" ]; then
	kernel_lock
	uring_old=$(cat "$uring_param")
	echo Y > "$uring_param"
	echo "over io_uring:"
	bench uring=on _uring 3
	echo "$uring_old" > "$uring_param"
	uring_old=""
	kernel_unlock
else
	echo "note: no writable $uring_param: no io_uring restart figure"
fi

/* session.h - the session loop of the filesystem and its transport: the
 * worker threads that receive FUSE requests from /dev/fuse and hand them
 * to the handlers (fuse/ops.h), and the choice of the io_uring transport
 * (fuse/uring.h) beside it.
 *
 * Design.  A fixed set of workers (the calling thread is one), each
 * receiving into its own buffer of ZFS_MAX_IO plus a header page from the
 * buddy allocator, and processing what it received (libfuse's
 * fuse_session_receive_buf / fuse_session_process_buf).  Workers block
 * SIGTERM, SIGINT and SIGHUP, so a termination signal interrupts the
 * calling thread's read, whose libfuse handler marks the session exited.
 * When the calling thread's worker stops, the others are woken with
 * SIGUSR1 (a handler that does nothing is installed meanwhile: its only
 * job is to make their read return EINTR) and joined before anything
 * closes the device.  The notifier thread (fuse/notify.h) runs beside them.
 *
 * Transport.  The session's reads and writes of /dev/fuse go through this
 * file (fuse_session_custom_io), for one reason: libfuse 3.14 cannot ask
 * for FUSE_HANDLE_KILLPRIV_V2 and leaves FUSE_PARALLEL_DIROPS and
 * FUSE_HANDLE_KILLPRIV out of its INIT reply, whatever conn->want says,
 * which cost an untar a GETXATTR per write(2) and a GETATTR per chown (a
 * third of its requests).  The read notes the INIT request's unique and
 * the flags the kernel offers; the writev adds those flags (the ones
 * offered) to that one reply.  Every other message passes unchanged; errors
 * are read(2)'s and writev(2)'s.  So the filesystem clears
 * set-user-ID/set-group-ID and security.capability itself (fuse/ns.h
 * zfs_ns_kill_suid, zfs_ns_kill_caps), as the VFS would.
 *
 * Choosing the transport.  The same INIT reply chooses FUSE over io_uring
 * (fuse/uring.h) when the kernel offers it (flags2 bit
 * FUK_INIT_FLAGS2_OVER_IO_URING: /sys/module/fuse/parameters/enable_uring
 * was Y at mount) and cfg.uring is not off: the writev sets the bit in the
 * reply and, once it is written, starts the ring (one queue per possible
 * CPU) and publishes it in fs->uring.  If the ring cannot start, the
 * transport makes the kernel give it up (zfs_uring_disable) and /dev/fuse
 * serves everything: logged with uring=auto, the end of the session with
 * uring=on (as is a kernel that does not offer it; the daemon also refuses
 * uring=on before mounting when enable_uring is not Y).  The choice is
 * logged once (cfg.log).  While the ring runs, the writev offers every
 * reply to it first (zfs_uring_reply): a reply to a ring request is
 * committed from the ring, anything else (replies to /dev/fuse requests,
 * notifications) goes to the device.  The /dev/fuse workers keep reading:
 * FORGET and INTERRUPT still come that way.
 *
 * Dispatch.  Both transports hand every request they receive to one
 * function (zfs_session_dispatch in session.c, on the receiving thread):
 * it answers INTERRUPTs itself and passes the rest to libfuse.  libfuse
 * 3.14 cannot find a ring request in its own list, so the session keeps
 * the uniques of recent INTERRUPTs and of parked requests (only the debug
 * stall of debug builds parks: a GETXATTR of user.zcache.debug.stall
 * waits until interrupted); an INTERRUPT answers the request it names with
 * EINTR if parked, and the session's end answers every parked request.
 *
 * Request counting.  Every transport counts each request it dispatches
 * into the filesystem's request statistics (fuse/reqstat.h, fs->reqstats):
 * a worker (a /dev/fuse worker, an io_uring queue's thread) takes a
 * counter block of its own when it starts (zfs_session_stats_get) and
 * hands it back when it stops; around each request zfs_session_dispatch
 * calls zfs_session_req_begin once the request is received
 * (before the handler runs) and zfs_session_req_end once the handler has
 * returned, its reply written (requests without a reply, FORGET: the
 * handler's return).  That span is the request's "service time" in
 * /.zcache/fuse, metrics and stats.json; the kernel's side of the round
 * trip is not in it.  The cost is two clock reads and a few stores into
 * the worker's own block per request.  Since a request is counted after
 * its reply, its caller may see the reply a moment before a reader of the
 * statistics sees the count.
 *
 * Threads: zfs_session_loop is called once, by the daemon's main thread;
 * the counting functions by the worker that owns the block.
 */
#ifndef ZC_FUSE_SESSION_H
#define ZC_FUSE_SESSION_H

#include <stddef.h>
#include <stdint.h>

struct zfs;
struct fuse_session;
struct zfs_reqstat_thread;
struct zfs_uring_region;

/* Run the session on `threads` workers (the calling thread is one of them)
 * until it ends: a termination signal caught by libfuse's handlers on the
 * calling thread, or an unmount.  The session's device I/O is replaced
 * first (see "Transport").  When every worker has stopped, the notifier is
 * stopped and stop(arg) is called (to unmount; the device is never closed
 * under a worker's read); a notifier the kernel holds inside an
 * invalidation is joined after stop(arg) instead; the io_uring transport,
 * if it ran, is stopped after the workers and freed at the end - unless
 * fs->uring_keep was set (a hand-over, daemon/reload.h): then it is left
 * serving and published, for the caller's zfs_uring_hold.  A ring that is
 * published but not running when the loop starts (adopted by
 * zfs_session_adopt_ring, or held for a hand-over that did not happen)
 * is started first and serves what it holds.  Returns 0, -ENOMEM,
 * -EAGAIN when the notifier cannot be started, -EOPNOTSUPP or the ring's
 * error when uring=on could not be honoured or a published ring's
 * threads could not start, or the first negative errno a worker met. */
int zfs_session_loop(struct zfs *fs, struct fuse_session *se, unsigned threads,
		     void (*stop)(void *arg), void *arg);

/* Adopt a mount whose INIT another process answered (the SIGHUP reload,
 * fuse/reload.h): `se` is mounted on the inherited /dev/fuse descriptor
 * (fuse_session_mount of "/dev/fd/N").  Installs the session's custom I/O
 * (see "Transport") and replays the kernel's INIT argument (`init_in`,
 * `len` bytes, as zfs_io_read kept it in fs->init_in) through libfuse's
 * own INIT handling, so libfuse negotiates exactly what it did the first
 * time (same offer, same handlers, same options) and marks the session
 * initialised; its reply is kept back from the device (the kernel had its
 * reply long ago).  The io_uring transport is never started here.  Call
 * before zfs_session_loop.  Returns 0, -EINVAL (a short argument), -EBADF
 * (no device) or -EPROTO (libfuse refused the INIT). */
int zfs_session_adopt(struct zfs *fs, struct fuse_session *se, const void *init_in, size_t len);

/* After zfs_session_adopt, when the process before served the mount over
 * io_uring and handed its ring region over (fuse/uring.h "Hand-over";
 * `reg` mapped by zfs_uring_region_adopt): the connection is io_uring for
 * good, whatever cfg.uring says.  Creates the transport on the region and
 * publishes it in fs->uring; zfs_session_loop starts it (its threads
 * serve the held requests first).  Returns 0 (the region is the
 * transport's) or a negative errno (the caller frees the region). */
int zfs_session_adopt_ring(struct zfs *fs, struct fuse_session *se,
			   struct zfs_uring_region *reg);

/* The end of a ring left published (fs->uring_keep) by a session that
 * will not run again: after a hand-over refused, then a stop, a held ring
 * first serves its held requests through `se`; with `se` NULL (handed
 * over: they are the next process's) it does not.  Then it is stopped
 * and freed.  Nothing without a ring.  Main thread, no session running. */
void zfs_session_ring_end(struct zfs *fs, struct fuse_session *se);

/* ---- the mount's readahead ---------------------------------------------------- */

/* The readahead zcached asks for on its mount, KiB: one READ of ZFS_MAX_IO
 * (1 MiB, the INIT reply's max_readahead) instead of the bdi default's
 * 128 KiB, so a sequential read of a large file takes a quarter of the
 * requests. */
#define ZFS_SESSION_READAHEAD_KB 1024u

/* Set the readahead of the FUSE mount on `mountpoint` (canonical, as
 * /proc/self/mountinfo shows it: realpath(3) it before mounting) to `kb`
 * KiB: /sys/class/bdi/MAJOR:MINOR/read_ahead_kb of that mount's device
 * (the last fuse mount listed on that path, i.e. the one just made).  The
 * setting belongs to the mount's own backing device and goes away with it;
 * no other mount and no global setting is touched.  The kernel takes
 * min(this, max_readahead of the INIT reply), so it may be called before
 * the INIT request is answered.  Asks the kernel nothing through the mount
 * (no request, so it cannot wait on the session).  Returns 0, -ENOENT (no
 * fuse mount there), or the errno of reading mountinfo or writing the
 * sysfs file (-EACCES without root). */
int zfs_session_set_readahead(const char *mountpoint, unsigned kb);

/* ---- request counting (see "Request counting") ---------------------------- */

/* One request being served: filled by zfs_session_req_begin. */
struct zfs_session_req {
	struct zfs_reqstat_thread *stats;	/* the worker's block; NULL counts nothing */
	uint32_t opcode;			/* the kernel's (linux/fuse.h) */
	uint64_t t0_ns;				/* CLOCK_MONOTONIC when received */
};

/* A counter block for the calling worker, from fs->reqstats; NULL when
 * none could be allocated (its requests are then not counted). */
struct zfs_reqstat_thread *zfs_session_stats_get(struct zfs *fs);

/* Hand the worker's block back when it stops (its counts stay).  NULL is
 * accepted. */
void zfs_session_stats_put(struct zfs *fs, struct zfs_reqstat_thread *t);

/* A request of `len` bytes at `msg` (starting with its struct
 * fuse_in_header) was received by the worker owning `t`: note its opcode
 * and the time.  A message shorter than the header is counted as opcode 0
 * ("other"). */
void zfs_session_req_begin(struct zfs_session_req *r, struct zfs_reqstat_thread *t,
			   const void *msg, size_t len);

/* The request's handler has returned (its reply written): count it with
 * its service time. */
void zfs_session_req_end(struct zfs_session_req *r);

#endif /* ZC_FUSE_SESSION_H */

/* uring.h - zcached's FUSE-over-io_uring transport (Linux 6.14+), on
 * libfuse 3.14, which has none.
 *
 * What it is.  Over /dev/fuse every request costs the daemon a read(2) and
 * a writev(2), and wakes a worker on whichever CPU the scheduler picks.
 * With FUSE over io_uring (fuse/fuse_uring_kernel.h) the kernel puts each
 * request into a buffer the daemon registered beforehand, on the queue of
 * the CPU the requesting task runs on, and the daemon answers and asks for
 * the next request in one io_uring submission.  This module is that
 * transport: one queue per possible CPU, each served by one thread pinned
 * to its CPU with its own io_uring, each holding `depth` ring entries.  A
 * request is handed to the session (the config's `process`, which calls
 * fuse_session_process_buf), so libfuse's handlers run unchanged; their
 * replies, which libfuse writes through the session's custom writev,
 * come back here (zfs_uring_reply) and are committed from the ring.
 *
 * What stays on /dev/fuse: INIT (the FUSE_OVER_IO_URING flag is negotiated
 * there; the session starts this transport once the INIT reply is
 * written), FORGET and INTERRUPT (the kernel sends them there), and every
 * notification (the ring refuses unique 0).  So the session keeps reading
 * /dev/fuse while the ring runs.
 *
 * Memory.  Every entry's block lies in one region: a memfd
 * ("zcached-ring", MAP_SHARED), so that it can pass to the next process
 * (see "Hand-over").  Its first page(s) hold a self-describing table
 * (magic, version, the mapping's address, block size, queues, depth, and
 * per entry whether it holds a request for the next process and that
 * request's commit_id); then one block per entry, queue by queue: a
 * header page (the 288-byte struct fuk_req_header at its start) followed
 * by the payload buffer of `max_payload` bytes (the kernel asks for at
 * least max(8192, max_write, max_pages * 4096): 1 MiB for zcached).  The
 * kernel copies only what a request or reply holds, so pages of a payload
 * buffer that no request reached are never touched (nor allocated: the
 * memfd is sparse).  A request is laid out for
 * libfuse without copying its payload: the fuse_in_header and the opcode's
 * fixed argument are copied into the end of the header page, just before
 * the payload, so [in header][op argument][payload] is one buffer and a
 * WRITE's data reaches the handler where the kernel put it.  A reply whose
 * body already lies in the entry's payload buffer (zfs_uring_payload) is
 * committed without a copy; any other is gathered into it.
 *
 * Threads.  A queue's thread is the only one that submits to its ring
 * (IORING_SETUP_SINGLE_ISSUER; the kernel runs a queue's completions as
 * task work of the thread that submitted the command, so it must be the
 * one waiting on the ring).  A reply made on the queue's own thread is
 * committed at the thread's next submission, with every other completion
 * it handled since; a reply made on any other thread is copied into its
 * entry by that thread and handed to the queue's thread (a lock-free list
 * and the queue's eventfd, which the ring waits on).  A request's handler
 * may reply later from any thread: its entry stays with the daemon until
 * then, so the other entries of its queue keep serving.
 *
 * Lock order: none; each queue's state is its thread's, entries change
 * hands through atomics (an entry's `unique`: set by the queue's thread
 * when a request arrives, taken back to 0 by the one reply), and the
 * start/stop handshake uses the transport's mutex, a leaf.
 *
 * Teardown.  zfs_uring_stop wakes every queue thread; each commits the
 * replies it holds, then exits, which cancels its parked commands (the
 * kernel completes them with -ENOTCONN, as at unmount).  Requests still
 * queued in the kernel then wait for the unmount, which ends them.
 *
 * Hand-over (a SIGHUP reload or a restart through the fd store,
 * daemon/reload.h).  The kernel's ring entry keeps the user addresses of
 * its buffers from REGISTER and copies a request into them as task work
 * of the thread whose command it holds; it takes a COMMIT_AND_FETCH for a
 * request from any io_uring of any process, copying the reply from the
 * same addresses in the committing process.  An entry waiting for a
 * request when its thread dies (execve kills every other thread) may get
 * one that is never copied nor answered: the requester would hang.  So
 * the only safe hand-over is one where no entry waits: zfs_uring_hold
 * puts every queue thread in hold mode, where a request that arrives is
 * not served but kept in its entry's buffers (the table marks it held,
 * with its commit_id), while replies to requests being served are still
 * committed (and the request each commit fetches is held too); a caller's
 * `poke` (daemon/reload.h: a process with `depth` lookups pinned to each
 * online CPU) makes requests arrive on idle queues.  Once every entry of
 * every queue of an online CPU is held, the threads exit with nothing the
 * kernel could give them (queues of offline CPUs get no requests; their
 * cancelled entries are registered anew by the next process).  The next
 * process maps the region at the same address (zfs_uring_region_adopt,
 * early, before the address space fills) and creates its transport on it
 * (cfg.adopt): each queue thread serves every held entry from its
 * buffers and commits it with COMMIT_AND_FETCH on its own ring, which
 * revives the kernel's entry and takes whatever queued meanwhile, and
 * registers every other entry anew.  A hand-over refused after the hold
 * resumes the same way in the same process (zfs_uring_start again); a
 * hold that does not complete in time serves its held entries in place.
 *
 * Errors: negative errno; nothing is left running or allocated on failure.
 */
#ifndef ZC_FUSE_URING_H
#define ZC_FUSE_URING_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct zfs_uring;
struct zfs_uring_region;		/* a ring memfd, mapped (see "Memory") */

/* -o uring=auto|on|off: whether the session uses this transport (auto:
 * when the kernel offers it in INIT; on: the mount fails without it). */
enum zfs_uring_mode {
	ZFS_URING_AUTO = 0,
	ZFS_URING_ON,
	ZFS_URING_OFF,
};

/* The transport's counters, declared once: X(name, help). */
#define ZFS_URING_STATS_FIELDS(X)					\
	X(queues, "ring queues (one per possible CPU), 0 when the ring is not running") \
	X(depth, "ring entries per queue")				\
	X(pinned, "queue threads running on their own CPU only")	\
	X(requests, "requests received through the ring, ever")	\
	X(remote_replies, "replies committed for a thread other than the queue's, ever") \
	X(copied_replies, "replies gathered into the entry's payload buffer, ever") \
	X(errors, "ring commands that failed (other than at unmount), ever") \
	X(held, "requests held in their buffers at the last hand-over (this process's, or the one before it)") \
	X(revived, "held requests served from their buffers, ever")

#define ZFS_URING_STATS_DECLARE(name, help) uint64_t name;
struct zfs_uring_stats {
	ZFS_URING_STATS_FIELDS(ZFS_URING_STATS_DECLARE)
};
#undef ZFS_URING_STATS_DECLARE

/* What the session hands to zfs_uring_create. */
struct zfs_uring_config {
	int fd;				/* required: the session's /dev/fuse */
	unsigned depth;			/* entries per queue, 1..ZFS_URING_MAX_DEPTH */
	size_t max_payload;		/* payload bytes an entry must hold */
	/* NULL: a fresh region.  Else the region of the process before
	 * (zfs_uring_region_adopt), whose depth and payload size replace the
	 * two above; the transport owns it once created. */
	struct zfs_uring_region *adopt;
	/* Called on a queue's thread for every request, with one buffer
	 * holding the fuse_in_header, the op argument and the payload, and
	 * the thread's context (thread_begin's, or NULL): the session
	 * dispatches it as it does a request read from /dev/fuse (and
	 * counts it).  The reply may be made during the call or later from
	 * any thread. */
	void (*process)(void *arg, void *tctx, const struct fuse_buf *buf);
	/* Optional: called on each queue's thread once its queue is
	 * registered, before its first request (the return value is the
	 * thread's context), and as it leaves, with that context. */
	void *(*thread_begin)(void *arg);
	void (*thread_end)(void *arg, void *tctx);
	void *arg;
};

#define ZFS_URING_MAX_DEPTH 64u

/* Possible CPUs (the kernel's num_possible_cpus(), from
 * /sys/devices/system/cpu/possible): the number of queues.  At least 1. */
unsigned zfs_uring_nr_queues(void);

/* The online CPUs (/sys/devices/system/cpu/online) in *set. */
void zfs_uring_online(cpu_set_t *set);

/* Map a ring memfd handed over by the process before at the address its
 * table records (MAP_FIXED_NOREPLACE), as early as possible in the
 * process.  Returns the region (the descriptor is then its own, set
 * FD_CLOEXEC), or NULL with errno EEXIST (the address is taken: execute
 * the binary again), EINVAL (not a ring table of this version), or
 * mmap's error. */
struct zfs_uring_region *zfs_uring_region_adopt(int fd);

/* How many entries the region's table says are held. */
unsigned zfs_uring_region_held(const struct zfs_uring_region *r);

/* Unmap and close a region no transport took.  NULL does nothing. */
void zfs_uring_region_free(struct zfs_uring_region *r);

/* Allocate a transport: its queues, entries and their region (a fresh
 * one, or cfg.adopt), no thread or ring yet.  Returns NULL with errno
 * EINVAL (bad config; an adopted region made for another number of
 * queues) or ENOMEM, or memfd/mmap's error. */
struct zfs_uring *zfs_uring_create(const struct zfs_uring_config *cfg);

/* Start the queues: after the INIT reply that accepted FUSE_OVER_IO_URING
 * has been written (the kernel refuses registration before it).  Creates
 * each queue's thread, which pins itself to its CPU, sets its ring up and
 * registers its entries; returns once every queue did.  Returns 0, or a
 * negative errno (-ENOMEM, -EAGAIN: no thread; or what the ring setup or
 * the registration met, e.g. -EOPNOTSUPP when enable_uring went N
 * meanwhile, -EINVAL) with every thread stopped again: the kernel then
 * serves the session over /dev/fuse (a failed registration turns the ring
 * off for the connection).  Held entries (an adopted region, or a hold
 * whose hand-over was refused) are served from their buffers and
 * committed, every other entry is registered; a transport that ran once
 * or was handed over is not given up on failure (the kernel uses its
 * ring: the caller must end the session).  Call again only after
 * zfs_uring_stop or a completed zfs_uring_hold. */
int zfs_uring_start(struct zfs_uring *u);

/* After an INIT reply that accepted FUSE_OVER_IO_URING, when no transport
 * will serve the ring (zfs_uring_create failed): make the kernel give the
 * ring up for the connection on `fd`, so /dev/fuse serves every request
 * (zfs_uring_start does this itself when it fails).  Best effort. */
void zfs_uring_disable(int fd);

/* Whether the kernel offers FUSE over io_uring to new mounts: 1 when
 * /sys/module/fuse/parameters/enable_uring reads Y, 0 when N, -ENOENT when
 * the kernel has no such parameter (no FUSE over io_uring).  Reads only;
 * zcached never changes the setting. */
int zfs_uring_available(void);

/* Whether the ring serves the mount: from the start of zfs_uring_start
 * (the kernel holds requests for the ring from the INIT reply on, and
 * serves one as soon as every queue has an entry, which may be before
 * zfs_uring_start returns) until it fails or zfs_uring_stop is called (a
 * completed hold stops it).  A relaxed read: for statistics, and exact
 * for the thread that starts and stops the transport. */
int zfs_uring_running(const struct zfs_uring *u);

/* Commit a reply if it answers a ring request.  iov[0] holds the
 * fuse_out_header (as libfuse's writev gives it), iov[1..count-1] the
 * body.  Returns the reply's length when the reply was taken (committed,
 * or handed to its queue's thread), -ENOENT when its unique is no ring
 * request awaiting a reply (the caller writes it to /dev/fuse: any
 * notification, any /dev/fuse request), or -EINVAL for a malformed reply
 * (then the request is answered with EIO instead).  Thread safe; any
 * thread. */
ssize_t zfs_uring_reply(struct zfs_uring *u, const struct iovec *iov, int count);

/* The payload buffer of the ring request the calling thread is serving
 * (inside `process`, on a queue's thread), and its size in *len; NULL
 * anywhere else.  A handler may build its reply body there (e.g. READ's
 * data) and reply with that pointer: the reply is then committed without
 * a copy.  The request's own arguments in the payload (names, write data)
 * are overwritten, so only once they are no longer needed. */
void *zfs_uring_payload(struct zfs_uring *u, size_t *len);

/* Stop every queue: each thread commits the replies it holds and exits
 * (its parked commands are cancelled).  Afterwards zfs_uring_reply returns
 * -ENOENT for everything (the caller's write of a late ring reply to
 * /dev/fuse fails with ENOENT, harmlessly: the unmount ends the request).
 * Idempotent; no-op on a transport never started. */
void zfs_uring_stop(struct zfs_uring *u);

/* Hold every queue for a hand-over (see "Hand-over"): hold mode, then
 * poke(arg) (may be NULL; a negative errno from it gives up), then wait
 * up to timeout_ms until every entry of every online CPU's queue holds a
 * request; then the queue threads are stopped and the region
 * (zfs_uring_fd) is ready to pass.  Returns 0; or -ETIMEDOUT, poke's
 * error, -EINVAL (not running), with one line in err naming the queue
 * that did not fill, and the transport serving again (its threads serve
 * what they held).  Main thread only. */
int zfs_uring_hold(struct zfs_uring *u, unsigned timeout_ms, int (*poke)(void *arg), void *arg,
		   char *err, size_t errlen);

/* Whether a completed hold left the transport stopped, its held entries
 * waiting in the region (until zfs_uring_start). */
int zfs_uring_held(const struct zfs_uring *u);

/* Whether the transport waits for zfs_uring_start to serve: held (a
 * completed hold whose hand-over did not happen) or adopted and not yet
 * started.  Not a transport whose start failed (the kernel then serves
 * the connection over /dev/fuse).  Starter's thread only. */
int zfs_uring_pending(const struct zfs_uring *u);

/* The region's memfd (FD_CLOEXEC; the transport's), or -1. */
int zfs_uring_fd(const struct zfs_uring *u);

/* Stop, then unmap the region and free the transport.  zfs_uring_destroy(NULL)
 * does nothing. */
void zfs_uring_destroy(struct zfs_uring *u);

/* Fill *out (approximate: relaxed reads while queues run). */
void zfs_uring_stats(const struct zfs_uring *u, struct zfs_uring_stats *out);

#endif /* ZC_FUSE_URING_H */

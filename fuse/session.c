/* session.c - the session loop, the /dev/fuse transport and the choice of
 * the io_uring one (see session.h for the design).
 *
 * The custom I/O pair zfs_io_read/zfs_io_writev patches the INIT reply
 * (and accepts the ring there, starting it once the reply is written),
 * hands replies to the ring first while it runs and passes everything else
 * through; the workers are plain threads around
 * fuse_session_receive_buf and zfs_session_dispatch, stopped by a signal
 * that does nothing but interrupt their read; the ring's queue threads call
 * zfs_session_dispatch too (zfs_ring_process).
 */
#define FUSE_USE_VERSION 312
#include "fuse/session.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "alloc/buddy.h"
#include "fuse/fuse_uring_kernel.h"
#include "fuse/notify.h"
#include "fuse/reqstat.h"
#include "fuse/uring.h"
#include "fuse/zfs.h"

/* ---- the INIT reply (see "Transport" in session.h) ------------------------ */

/* What the INIT reply gains when the kernel offers it. */
#define ZFS_INIT_ADD (FUSE_PARALLEL_DIROPS | FUSE_HANDLE_KILLPRIV | FUSE_HANDLE_KILLPRIV_V2)
/* Ring entries per queue: 8 (measured: 1, 2, 8 and 32 serve an untar and
 * a read-all alike; more room lets a queue go on while replies are
 * deferred), fewer on machines with many CPUs so that all queues hold at
 * most ZFS_URING_ENTRIES (each entry is a 2 MiB block of address space,
 * of which only what requests reach is ever touched). */
#define ZFS_URING_DEPTH 8u
#define ZFS_URING_ENTRIES 64u

static void zfs_session_log(struct zfs *fs, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void zfs_session_log(struct zfs *fs, int level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!fs->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fs->cfg.log(fs->cfg.log_arg, level, msg);
}

/* The length of the last read of the calling worker (0 for none or an
 * error).  libfuse 3.14's fuse_session_receive_buf returns 0 and drops a
 * request it read once the session is marked exited (a signal between the
 * read and its check); the worker then serves it itself from this length
 * (zfs_worker_run), since after a SIGHUP reload nobody else would and its
 * caller would wait forever. */
static _Thread_local ssize_t zfs_last_read;

static ssize_t zfs_io_read(int fd, void *buf, size_t len, void *userdata)
{
	struct zfs *fs = userdata;
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *in = buf;

	zfs_last_read = n > 0 ? n : 0;

	if (n >= (ssize_t)(sizeof(*in) + offsetof(struct fuse_init_in, flags2)) &&
	    in->opcode == FUSE_INIT) {
		const struct fuse_init_in *arg = (const void *)(in + 1);
		uint32_t flags2 = 0;

		if ((arg->flags & FUSE_INIT_EXT) &&
		    n >= (ssize_t)(sizeof(*in) + offsetof(struct fuse_init_in, flags2) +
				   sizeof(arg->flags2)))
			flags2 = arg->flags2;
		atomic_store(&fs->init_offer, arg->flags);
		atomic_store(&fs->init_offer2, flags2);
		fs->init_in_len = (uint32_t)((size_t)n - sizeof(*in) < sizeof(fs->init_in)
					     ? (size_t)n - sizeof(*in) : sizeof(fs->init_in));
		memcpy(fs->init_in, arg, fs->init_in_len);
		atomic_store(&fs->init_unique, in->unique);
	}
	return n;
}

static void zfs_session_dispatch(struct zfs *fs, struct zfs_reqstat_thread *stats,
				 const struct fuse_buf *buf);

/* The ring transport's `process`: every ring request, dispatched and
 * counted as the /dev/fuse workers dispatch and count theirs, in the
 * queue thread's own counter block (zfs_ring_thread_begin). */
static void zfs_ring_process(void *arg, void *tctx, const struct fuse_buf *buf)
{
	zfs_session_dispatch(arg, tctx, buf);
}

static void *zfs_ring_thread_begin(void *arg)
{
	return zfs_session_stats_get(arg);
}

static void zfs_ring_thread_end(void *arg, void *tctx)
{
	zfs_session_stats_put(arg, tctx);
}

static unsigned zfs_ring_depth(void)
{
	unsigned d = ZFS_URING_ENTRIES / zfs_uring_nr_queues();

	return d > ZFS_URING_DEPTH ? ZFS_URING_DEPTH : d < 2 ? 2 : d;
}

/* What a ring of this session's, new or adopted, is built with. */
static void zfs_ring_config(struct zfs *fs, int fd, struct zfs_uring_config *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->process = zfs_ring_process;
	c->thread_begin = zfs_ring_thread_begin;
	c->thread_end = zfs_ring_thread_end;
	c->arg = fs;
}

/* The INIT reply that accepted the ring is written: start the transport.
 * On failure the kernel falls back to /dev/fuse (zfs_uring_start and
 * zfs_uring_disable see to it); with uring=on the session then ends. */
static void zfs_ring_begin(struct zfs *fs, int fd, const struct fuse_init_out *init)
{
	struct zfs_uring_config c;
	struct zfs_uring *u;
	size_t max_payload = 8192;
	int ret;

	/* What the kernel requires of a payload buffer. */
	if (init->max_write > max_payload)
		max_payload = init->max_write;
	if ((init->flags & FUSE_MAX_PAGES) && (size_t)init->max_pages * 4096 > max_payload)
		max_payload = (size_t)init->max_pages * 4096;
	zfs_ring_config(fs, fd, &c);
	c.depth = zfs_ring_depth();
	c.max_payload = max_payload;
	u = zfs_uring_create(&c);
	if (!u) {
		ret = -errno;
		zfs_uring_disable(fd);
	} else {
		/* Published first: its threads serve (and reply) at once. */
		atomic_store(&fs->uring, u);
		ret = zfs_uring_start(u);
	}
	if (ret == 0) {
		zfs_session_log(fs, 2, "transport: io_uring, %u queues of %u entries",
				zfs_uring_nr_queues(), c.depth);
		return;
	}
	if (fs->cfg.uring == ZFS_URING_ON) {
		zfs_session_log(fs, 0, "uring=on: the io_uring transport did not start: %s",
				strerror(-ret));
		atomic_store(&fs->session_err, ret);
		fuse_session_exit(fs->se);
	} else {
		zfs_session_log(fs, 1, "transport: /dev/fuse (the io_uring transport did not start: %s)",
				strerror(-ret));
	}
}

static ssize_t zfs_io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct zfs *fs = userdata;
	uint64_t unique = atomic_load_explicit(&fs->init_unique, memory_order_relaxed);
	struct zfs_uring *u = atomic_load_explicit(&fs->uring, memory_order_acquire);
	const struct fuse_out_header *out = iov[0].iov_base;
	struct fuse_init_out init;
	struct iovec v[2];
	uint32_t offer2;
	int ring = 0;
	ssize_t ret;

	if (u) {
		ret = zfs_uring_reply(u, iov, count);
		if (ret != -ENOENT) {
			if (ret >= 0)
				return ret;
			errno = (int)-ret;
			return -1;
		}
	}
	if (unique && atomic_load(&fs->init_replay) && out->unique == unique && out->error) {
		atomic_store(&fs->init_replay, 0);	/* refused: never to the device */
		return (ssize_t)iov[0].iov_len;
	}
	if (!unique || count != 2 || iov[0].iov_len != sizeof(*out) || out->unique != unique ||
	    out->error || iov[1].iov_len < offsetof(struct fuse_init_out, max_background) ||
	    iov[1].iov_len > sizeof(init))
		return writev(fd, iov, count);
	memcpy(&init, iov[1].iov_base, iov[1].iov_len);
	init.flags |= atomic_load(&fs->init_offer) & ZFS_INIT_ADD;
	if (atomic_load(&fs->init_replay)) {
		/* The kernel has had its INIT reply from the process before us
		 * (zfs_session_adopt): this one stays here. */
		atomic_store(&fs->init_flags, init.flags);
		atomic_store(&fs->init_unique, 0);
		return (ssize_t)(iov[0].iov_len + iov[1].iov_len);
	}
	offer2 = atomic_load(&fs->init_offer2);
	if (fs->cfg.uring != ZFS_URING_OFF && (offer2 & FUK_INIT_FLAGS2_OVER_IO_URING) &&
	    (init.flags & FUSE_INIT_EXT) &&
	    iov[1].iov_len >= offsetof(struct fuse_init_out, flags2) + sizeof(init.flags2)) {
		init.flags2 |= FUK_INIT_FLAGS2_OVER_IO_URING;
		ring = 1;
	} else if (fs->cfg.uring == ZFS_URING_ON) {
		zfs_session_log(fs, 0, "uring=on: the kernel does not offer FUSE over io_uring"
				" (is /sys/module/fuse/parameters/enable_uring Y?)");
		atomic_store(&fs->session_err, -EOPNOTSUPP);
		fuse_session_exit(fs->se);
	} else if (fs->cfg.uring == ZFS_URING_AUTO) {
		zfs_session_log(fs, 2, "transport: /dev/fuse (the kernel does not offer FUSE over"
				" io_uring: /sys/module/fuse/parameters/enable_uring is not Y)");
	}
	atomic_store(&fs->init_flags, init.flags);
	atomic_store(&fs->init_unique, 0);
	v[0] = iov[0];
	v[1].iov_base = &init;
	v[1].iov_len = iov[1].iov_len;
	ret = writev(fd, v, 2);
	if (ret > 0 && ring)
		zfs_ring_begin(fs, fd, &init);
	return ret;
}

/* Install the custom I/O (see "Transport") once per session. */
static void zfs_session_io(struct zfs *fs, struct fuse_session *se)
{
	static const struct fuse_custom_io io = { .read = zfs_io_read, .writev = zfs_io_writev };

	if (!fs->io_set && fuse_session_fd(se) >= 0 &&
	    fuse_session_custom_io(se, &io, fuse_session_fd(se)) == 0)
		fs->io_set = 1;
}

_Static_assert(sizeof(((struct zfs *)0)->init_in) >= sizeof(struct fuse_init_in),
	       "init_in holds the kernel's INIT argument");

int zfs_session_adopt(struct zfs *fs, struct fuse_session *se, const void *init_in, size_t len)
{
	struct {
		struct fuse_in_header h;
		unsigned char arg[sizeof(fs->init_in)];
	} msg;
	struct fuse_buf buf;
	const struct fuse_init_in *arg = init_in;
	uint32_t flags2 = 0;

	if (len < offsetof(struct fuse_init_in, flags2) || len > sizeof(msg.arg))
		return -EINVAL;
	fs->se = se;
	zfs_session_io(fs, se);
	if (!fs->io_set)
		return -EBADF;
	memset(&msg, 0, sizeof(msg));
	msg.h.len = (uint32_t)(sizeof(msg.h) + len);
	msg.h.opcode = FUSE_INIT;
	msg.h.unique = 1;	/* any: the reply is kept here */
	msg.h.nodeid = 0;
	memcpy(msg.arg, init_in, len);
	if ((arg->flags & FUSE_INIT_EXT) && len >= offsetof(struct fuse_init_in, flags2) + 4)
		memcpy(&flags2, msg.arg + offsetof(struct fuse_init_in, flags2), 4);
	memcpy(fs->init_in, init_in, len);
	fs->init_in_len = (uint32_t)len;
	atomic_store(&fs->init_offer, arg->flags);
	atomic_store(&fs->init_offer2, flags2);
	atomic_store(&fs->init_flags, 0);
	atomic_store(&fs->init_unique, msg.h.unique);
	atomic_store(&fs->init_replay, 1);
	memset(&buf, 0, sizeof(buf));
	buf.mem = &msg;
	buf.size = msg.h.len;
	fuse_session_process_buf(se, &buf);
	atomic_store(&fs->init_replay, 0);
	fs->se = NULL;
	/* libfuse answered with its INIT reply (init_flags set) unless it
	 * refused the replayed INIT (an error reply, also kept here). */
	if (atomic_load(&fs->init_unique) != 0 || fuse_session_exited(se))
		return -EPROTO;
	return 0;
}

int zfs_session_adopt_ring(struct zfs *fs, struct fuse_session *se,
			   struct zfs_uring_region *reg)
{
	struct zfs_uring_config c;
	struct zfs_uring_stats st;
	struct zfs_uring *u;

	zfs_ring_config(fs, fuse_session_fd(se), &c);
	c.adopt = reg;
	u = zfs_uring_create(&c);
	if (!u)
		return -errno;
	atomic_store(&fs->uring, u);
	zfs_uring_stats(u, &st);
	zfs_session_log(fs, 2, "transport: io_uring, adopted: %u queues of %llu entries, %llu requests "
			"held by the process before", zfs_uring_nr_queues(),
			(unsigned long long)st.depth, (unsigned long long)st.held);
	return 0;
}

/* Stop and free the ring at the session's end; a held one (a hand-over
 * that did not happen) first serves what it held, so no request waits
 * for a process that will not come. */
static void zfs_ring_end(struct zfs *fs, struct fuse_session *se)
{
	struct zfs_uring *u = atomic_load(&fs->uring);
	struct zfs_uring_stats us;

	if (!u)
		return;
	if (zfs_uring_held(u) && se) {
		struct fuse_session *old = fs->se;

		fs->se = se;
		if (zfs_uring_start(u) < 0)
			zfs_session_log(fs, 0, "io_uring: the held requests could not be served");
		zfs_uring_stop(u);
		fs->se = old;
	}
	zfs_uring_stop(u);
	atomic_store(&fs->uring, NULL);
	zfs_uring_stats(u, &us);
	zfs_session_log(fs, 2, "io_uring: %llu requests, %llu remote replies, %llu copied, %llu errors",
			(unsigned long long)us.requests, (unsigned long long)us.remote_replies,
			(unsigned long long)us.copied_replies, (unsigned long long)us.errors);
	zfs_uring_destroy(u);
}

void zfs_session_ring_end(struct zfs *fs, struct fuse_session *se)
{
	zfs_ring_end(fs, se);
}

/* ---- interrupts ---------------------------------------------------------------- */

/* INTERRUPTs never reach libfuse: it looks the named request up in its own
 * list, which a ring request may not have entered yet, and its answer
 * (EAGAIN, "ask again") goes to /dev/fuse, where the kernel cannot find a
 * ring request either, so the interrupt would be lost.  Instead the
 * session answers them itself.  A request that cannot be answered yet is
 * parked (zfs_park): the session keeps its unique, and the INTERRUPT that
 * names it answers it with EINTR, on the thread that read the INTERRUPT,
 * whatever transport carries the request; so do the session's end
 * (zfs_park_release_all) and an INTERRUPT that came first (the uniques of
 * the last interrupts are kept).  No handler of zcached waits for
 * anything, so only the debug stall below parks; every other interrupt is
 * ignored, as the protocol allows (its request completes normally). */
#define ZFS_INTR_RECENT (sizeof(((struct zfs *)0)->intr_recent) / sizeof(uint64_t))
#define ZFS_PARK_SLOTS (sizeof(((struct zfs *)0)->parked) / sizeof(uint64_t))

/* Answer request `unique` with `error` (negative) through whichever
 * transport carries it. */
static void zfs_reply_error(struct zfs *fs, uint64_t unique, int error)
{
	struct fuse_out_header h = { .len = sizeof(h), .error = error, .unique = unique };
	struct iovec v = { .iov_base = &h, .iov_len = sizeof(h) };

	zfs_io_writev(fuse_session_fd(fs->se), &v, 1, fs);
}

static void zfs_interrupt_note(struct zfs *fs, uint64_t unique)
{
	int found = 0;
	unsigned i;

	atomic_fetch_add_explicit(&fs->interrupts, 1, memory_order_relaxed);
	pthread_mutex_lock(&fs->intr_lock);
	for (i = 0; i < ZFS_PARK_SLOTS && !found; i++) {
		if (fs->parked[i] == unique) {
			fs->parked[i] = 0;
			found = 1;
		}
	}
	if (!found)
		fs->intr_recent[fs->intr_next++ % ZFS_INTR_RECENT] = unique;
	pthread_mutex_unlock(&fs->intr_lock);
	if (found) {
		atomic_fetch_sub(&fs->nparked, 1);
		zfs_reply_error(fs, unique, -EINTR);
	}
}

/* Park request `unique` until an INTERRUPT names it or the session ends
 * (then it is answered EINTR); answered at once with EINTR when it was
 * interrupted already, with EAGAIN when every slot is taken. */
static __attribute__((unused)) void zfs_park(struct zfs *fs, uint64_t unique)
{
	int error = -EAGAIN;
	unsigned i;

	pthread_mutex_lock(&fs->intr_lock);
	for (i = 0; i < ZFS_INTR_RECENT; i++)
		if (fs->intr_recent[i] == unique)
			error = -EINTR;
	if (fs->intr_stop)
		error = -EINTR;
	for (i = 0; i < ZFS_PARK_SLOTS && error == -EAGAIN; i++) {
		if (!fs->parked[i]) {
			fs->parked[i] = unique;
			atomic_fetch_add(&fs->nparked, 1);
			error = 0;
		}
	}
	pthread_mutex_unlock(&fs->intr_lock);
	if (error)
		zfs_reply_error(fs, unique, error);
}

/* The session ends: answer every parked request, and park no more. */
static void zfs_park_release_all(struct zfs *fs)
{
	uint64_t parked[ZFS_PARK_SLOTS];
	unsigned i, n = 0;

	pthread_mutex_lock(&fs->intr_lock);
	fs->intr_stop = 1;
	for (i = 0; i < ZFS_PARK_SLOTS; i++) {
		if (fs->parked[i])
			parked[n++] = fs->parked[i];
		fs->parked[i] = 0;
	}
	pthread_mutex_unlock(&fs->intr_lock);
	for (i = 0; i < n; i++) {
		atomic_fetch_sub(&fs->nparked, 1);
		zfs_reply_error(fs, parked[i], -EINTR);
	}
}

#ifdef ZC_DEBUG
#define ZFS_DEBUG_STALL_XATTR "user.zcache.debug.stall"
#define ZFS_DEBUG_STALLED_XATTR "user.zcache.debug.stalled"

/* Debug builds: a GETXATTR of ZFS_DEBUG_STALL_XATTR is parked until it is
 * interrupted (or the session ends) and then answered EINTR, from the
 * thread that read the INTERRUPT: a request that blocks, for the interrupt
 * tests of both transports (tests/fs.c), which also makes an io_uring
 * reply come from a thread other than its queue's.  A GETXATTR of
 * ZFS_DEBUG_STALLED_XATTR answers how many requests are parked now (a
 * decimal string), so a test knows its request reached the daemon before
 * it signals the caller.  Returns 1 when it took the request. */
static int zfs_debug_stall(struct zfs *fs, const struct fuse_in_header *in, size_t size)
{
	const size_t at = sizeof(*in) + sizeof(struct fuse_getxattr_in);
	const struct fuse_getxattr_in *arg = (const void *)(in + 1);
	const char *name = (const char *)in + at;

	if (in->opcode != FUSE_GETXATTR || size <= at || name[size - at - 1] != '\0')
		return 0;
	if (!strcmp(name, ZFS_DEBUG_STALLED_XATTR)) {
		struct fuse_out_header h = { .unique = in->unique };
		struct fuse_getxattr_out out = { 0 };
		struct iovec v[2] = { { &h, sizeof(h) } };
		char num[24];

		snprintf(num, sizeof(num), "%u", atomic_load(&fs->nparked));
		if (arg->size == 0) {
			out.size = (uint32_t)strlen(num);
			v[1].iov_base = &out;
			v[1].iov_len = sizeof(out);
		} else if (arg->size < strlen(num)) {
			h.error = -ERANGE;
		} else {
			v[1].iov_base = num;
			v[1].iov_len = strlen(num);
		}
		h.len = (uint32_t)(sizeof(h) + (h.error ? 0 : v[1].iov_len));
		zfs_io_writev(fuse_session_fd(fs->se), v, h.error ? 1 : 2, fs);
		return 1;
	}
	if (strcmp(name, ZFS_DEBUG_STALL_XATTR))
		return 0;
	zfs_park(fs, in->unique);
	return 1;
}
#else
static int zfs_debug_stall(struct zfs *fs, const struct fuse_in_header *in, size_t size)
{
	(void)fs;
	(void)in;
	(void)size;
	return 0;
}
#endif

/* ---- dispatch --------------------------------------------------------------- */

/* Every request of either transport, on the thread that received it (a
 * /dev/fuse worker, or an io_uring queue's thread), counted in that
 * thread's block `stats` (NULL: not counted; see "Request counting" in
 * session.h): INTERRUPTs are answered here (see above), the rest goes to
 * libfuse, whose handler replies through zfs_io_writev.  The one place
 * both transports hand a request over. */
static void zfs_session_dispatch(struct zfs *fs, struct zfs_reqstat_thread *stats,
				 const struct fuse_buf *buf)
{
	const struct fuse_in_header *in = (buf->flags & FUSE_BUF_IS_FD) ? NULL : buf->mem;
	struct zfs_session_req req;

	/* Splice is off, so the request is in buf->mem; were it not, it
	 * would be counted as "other" and handed to libfuse as it is. */
	zfs_session_req_begin(&req, stats, in, buf->size);
	if (in && buf->size >= sizeof(*in) + sizeof(struct fuse_interrupt_in) &&
	    in->opcode == FUSE_INTERRUPT) {
		const struct fuse_interrupt_in *arg = (const void *)(in + 1);

		zfs_interrupt_note(fs, arg->unique);
	} else if (!in || !zfs_debug_stall(fs, in, buf->size)) {
		fuse_session_process_buf(fs->se, buf);
	}
	zfs_session_req_end(&req);
}

/* ---- the mount's readahead (see session.h) ------------------------------------ */

/* Undo mountinfo's octal escapes (\040 for a space, \011, \012, \134) in
 * place. */
static void zfs_unescape_mountinfo(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

int zfs_session_set_readahead(const char *mountpoint, unsigned kb)
{
	char *line = NULL, dev[32] = "", path[96];
	size_t cap = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int ret;

	if (!f)
		return -errno;
	/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE ..." */
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *majmin, *mnt, *tok;

		if (!strtok_r(line, " ", &save) || !strtok_r(NULL, " ", &save))
			continue;
		majmin = strtok_r(NULL, " ", &save);
		if (!majmin || !strtok_r(NULL, " ", &save))
			continue;
		mnt = strtok_r(NULL, " ", &save);
		if (!mnt)
			continue;
		while ((tok = strtok_r(NULL, " ", &save)) && strcmp(tok, "-"))
			;
		tok = tok ? strtok_r(NULL, " \n", &save) : NULL;
		if (!tok || strncmp(tok, "fuse", 4) || (tok[4] && tok[4] != '.'))
			continue;
		zfs_unescape_mountinfo(mnt);
		if (!strcmp(mnt, mountpoint) && strlen(majmin) < sizeof(dev))
			strcpy(dev, majmin);	/* the last one listed is on top */
	}
	free(line);
	fclose(f);
	if (!dev[0])
		return -ENOENT;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	ret = fprintf(f, "%u\n", kb) < 0 ? -EIO : 0;
	if (fclose(f) != 0 && !ret)
		ret = -errno;
	return ret;
}

/* ---- request counting (see session.h) --------------------------------------- */

struct zfs_reqstat_thread *zfs_session_stats_get(struct zfs *fs)
{
	return fs->reqstats ? zfs_reqstat_thread_get(fs->reqstats) : NULL;
}

void zfs_session_stats_put(struct zfs *fs, struct zfs_reqstat_thread *t)
{
	if (fs->reqstats)
		zfs_reqstat_thread_put(fs->reqstats, t);
}

static uint64_t zfs_session_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void zfs_session_req_begin(struct zfs_session_req *r, struct zfs_reqstat_thread *t,
			   const void *msg, size_t len)
{
	const struct fuse_in_header *in = msg;

	r->stats = t;
	r->opcode = msg && len >= sizeof(*in) ? in->opcode : 0;
	r->t0_ns = t ? zfs_session_now_ns() : 0;
}

void zfs_session_req_end(struct zfs_session_req *r)
{
	uint64_t now;

	if (!r->stats)
		return;
	now = zfs_session_now_ns();
	zfs_reqstat_add(r->stats, r->opcode, now > r->t0_ns ? now - r->t0_ns : 0);
}

/* ---- the session loop -------------------------------------------------------- */

/* libfuse reads a request of up to FUSE_MAX_MAX_PAGES pages plus a header
 * page into the buffer it is given (its se->bufsize); our requests are at
 * most ZFS_MAX_IO, so this is what a receive buffer must hold. */
#define ZFS_RECV_BUF (ZFS_MAX_IO + 4096)
#define ZFS_WAKE_SIGNAL SIGUSR1

struct zfs_worker {
	struct zfs *fs;
	struct fuse_session *se;
	pthread_t tid;
	int started;
	int ret;
};

/* One worker: receive into a buffer from the buddy allocator, process,
 * until the session ends (a signal on the main thread, or ENODEV once the
 * filesystem is unmounted).  Every request is counted in the worker's own
 * block (see "Request counting" in session.h). */
static void *zfs_worker_run(void *arg)
{
	struct zfs_worker *w = arg;
	struct zfs_reqstat_thread *stats;
	struct fuse_buf buf;

	memset(&buf, 0, sizeof(buf));
	buf.mem = buddy_alloc(w->fs->cfg.buddy, ZFS_RECV_BUF);
	if (!buf.mem) {
		w->ret = -ENOMEM;
		fuse_session_exit(w->se);
		return NULL;
	}
	stats = zfs_session_stats_get(w->fs);
	while (!fuse_session_exited(w->se)) {
		int res;

		zfs_last_read = 0;
		res = fuse_session_receive_buf(w->se, &buf);
		if (res == 0 && zfs_last_read >= (ssize_t)sizeof(struct fuse_in_header)) {
			/* Read, then dropped by libfuse as the session ended
			 * (see zfs_last_read): answer it before stopping. */
			buf.size = (size_t)zfs_last_read;
			zfs_session_dispatch(w->fs, stats, &buf);
			break;
		}
		if (res == -EINTR)
			continue;
		if (res <= 0) {
			if (res < 0)
				w->ret = res;
			break;
		}
		zfs_session_dispatch(w->fs, stats, &buf);
	}
	zfs_session_stats_put(w->fs, stats);
	buddy_free(w->fs->cfg.buddy, buf.mem, ZFS_RECV_BUF);
	return NULL;
}

/* The wake-up signal's handler: nothing to do, its only job is to make a
 * worker's read() return EINTR. */
static void zfs_wake_handler(int sig)
{
	(void)sig;
}

/* The interrupt state, fresh; its lock made anew unless a ring kept
 * serving since the last session (then the lock lives on). */
static int zfs_intr_init(struct zfs *fs)
{
	if (!fs->intr_kept && pthread_mutex_init(&fs->intr_lock, NULL))
		return -ENOMEM;
	fs->intr_kept = 0;
	pthread_mutex_lock(&fs->intr_lock);
	memset(fs->intr_recent, 0, sizeof(fs->intr_recent));
	memset(fs->parked, 0, sizeof(fs->parked));
	atomic_store(&fs->nparked, 0);
	fs->intr_next = 0;
	fs->intr_stop = 0;
	pthread_mutex_unlock(&fs->intr_lock);
	return 0;
}

int zfs_session_loop(struct zfs *fs, struct fuse_session *se, unsigned threads,
		     void (*stop)(void *arg), void *arg)
{
	struct sigaction sa, old_sa;
	struct zfs_worker *w;
	struct zfs_uring *u;
	sigset_t block, old;
	int notifier_joined, keep = 0;
	unsigned k;
	int ret = 0;

	if (threads < 1)
		threads = 1;
	fs->se = se;
	if (zfs_intr_init(fs) < 0)
		return -ENOMEM;
	atomic_store(&fs->session_err, 0);
	zfs_session_io(fs, se);
	/* A ring handed over by the process before (zfs_session_adopt_ring),
	 * or held for a hand-over that did not happen: its threads start and
	 * serve what it holds.  If they cannot, nobody would serve the ring:
	 * the session ends (and its process with it, which aborts the
	 * connection). */
	u = atomic_load(&fs->uring);
	if (zfs_uring_pending(u)) {
		ret = zfs_uring_start(u);
		if (ret < 0) {
			zfs_session_log(fs, 0, "io_uring: the ring's threads did not start: %s",
					strerror(-ret));
			goto out_intr;
		}
	}
	w = calloc(threads, sizeof(*w));
	if (!w) {
		ret = -ENOMEM;
		goto out_intr;
	}
	/* ZFS_WAKE_SIGNAL interrupts a worker blocked in read() when the
	 * session ends (no SA_RESTART). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = zfs_wake_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(ZFS_WAKE_SIGNAL, &sa, &old_sa);
	/* Workers block the termination signals, so the main thread's read is
	 * the one a signal interrupts (libfuse's handler marks the session
	 * exited). */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if (zfs_notify_start(&fs->notify) < 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		sigaction(ZFS_WAKE_SIGNAL, &old_sa, NULL);
		free(w);
		ret = -EAGAIN;
		goto out_intr;
	}
	for (k = 0; k < threads; k++) {
		w[k].fs = fs;
		w[k].se = se;
		if (k > 0 && pthread_create(&w[k].tid, NULL, zfs_worker_run, &w[k]) == 0)
			w[k].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	zfs_worker_run(&w[0]);
	fuse_session_exit(se);
	/* Parked requests are answered (either transport; the ring's
	 * threads commit those answers before they stop, below). */
	zfs_park_release_all(fs);
	/* Wake the other workers and wait for them before anything closes
	 * the device; a worker between its exit check and read() misses one
	 * signal, so keep signalling until it is gone. */
	for (k = 1; k < threads; k++) {
		if (!w[k].started)
			continue;
		for (;;) {
			struct timespec ts;

			pthread_kill(w[k].tid, ZFS_WAKE_SIGNAL);
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 10 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (pthread_timedjoin_np(w[k].tid, NULL, &ts) == 0)
				break;
		}
	}
	sigaction(ZFS_WAKE_SIGNAL, &old_sa, NULL);
	/* The ring's threads commit what they hold and leave; unless the ring
	 * is to be handed over (fs->uring_keep): then it serves on, for the
	 * caller's hold (fuse/uring.h zfs_uring_hold). */
	u = atomic_load(&fs->uring);
	keep = atomic_exchange(&fs->uring_keep, 0) && u;
	if (!keep)
		zfs_uring_stop(u);
	/* The notifier exits at once unless the kernel holds it inside an
	 * invalidation; then the unmount aborts the connection and frees it. */
	notifier_joined = zfs_notify_stop(&fs->notify, 200);
	if (stop)
		stop(arg);
	if (!notifier_joined)
		zfs_notify_join(&fs->notify);
	if (!keep)
		zfs_ring_end(fs, NULL);
	for (k = 0; k < threads; k++)
		if (w[k].ret < 0 && !ret)
			ret = w[k].ret;
	if (atomic_load(&fs->session_err) < 0)
		ret = atomic_load(&fs->session_err);
	free(w);
out_intr:
	if (keep) {
		/* The ring serves on until the hold: its handlers need the
		 * session and the interrupt state (zfs_intr_init keeps it). */
		fs->intr_kept = 1;
		return ret;
	}
	pthread_mutex_destroy(&fs->intr_lock);
	fs->se = NULL;
	return ret;
}


/* session.c - the session loop and the /dev/fuse transport (see
 * session.h for the design).
 *
 * The custom I/O pair zfs_io_read/zfs_io_writev patches the INIT reply and
 * passes everything else through; the workers are plain threads around
 * fuse_session_receive_buf/process_buf, stopped by a signal that does
 * nothing but interrupt their read.
 */
#define FUSE_USE_VERSION 312
#include "fuse/session.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "alloc/buddy.h"
#include "fuse/notify.h"
#include "fuse/zfs.h"

/* ---- the INIT reply (see "Transport" in session.h) ------------------------ */

/* What the INIT reply gains when the kernel offers it. */
#define ZFS_INIT_ADD (FUSE_PARALLEL_DIROPS | FUSE_HANDLE_KILLPRIV | FUSE_HANDLE_KILLPRIV_V2)

static ssize_t zfs_io_read(int fd, void *buf, size_t len, void *userdata)
{
	struct zfs *fs = userdata;
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *in = buf;

	if (n >= (ssize_t)(sizeof(*in) + offsetof(struct fuse_init_in, flags2)) &&
	    in->opcode == FUSE_INIT) {
		const struct fuse_init_in *arg = (const void *)(in + 1);

		atomic_store(&fs->init_offer, arg->flags);
		atomic_store(&fs->init_unique, in->unique);
	}
	return n;
}

static ssize_t zfs_io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct zfs *fs = userdata;
	uint64_t unique = atomic_load_explicit(&fs->init_unique, memory_order_relaxed);
	const struct fuse_out_header *out = iov[0].iov_base;
	struct fuse_init_out init;
	struct iovec v[2];

	if (!unique || count != 2 || iov[0].iov_len != sizeof(*out) || out->unique != unique ||
	    out->error || iov[1].iov_len < offsetof(struct fuse_init_out, max_background) ||
	    iov[1].iov_len > sizeof(init))
		return writev(fd, iov, count);
	memcpy(&init, iov[1].iov_base, iov[1].iov_len);
	init.flags |= atomic_load(&fs->init_offer) & ZFS_INIT_ADD;
	atomic_store(&fs->init_flags, init.flags);
	atomic_store(&fs->init_unique, 0);
	v[0] = iov[0];
	v[1].iov_base = &init;
	v[1].iov_len = iov[1].iov_len;
	return writev(fd, v, 2);
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
 * filesystem is unmounted). */
static void *zfs_worker_run(void *arg)
{
	struct zfs_worker *w = arg;
	struct fuse_buf buf;

	memset(&buf, 0, sizeof(buf));
	buf.mem = buddy_alloc(w->fs->cfg.buddy, ZFS_RECV_BUF);
	if (!buf.mem) {
		w->ret = -ENOMEM;
		fuse_session_exit(w->se);
		return NULL;
	}
	while (!fuse_session_exited(w->se)) {
		int res = fuse_session_receive_buf(w->se, &buf);

		if (res == -EINTR)
			continue;
		if (res <= 0) {
			if (res < 0)
				w->ret = res;
			break;
		}
		fuse_session_process_buf(w->se, &buf);
	}
	buddy_free(w->fs->cfg.buddy, buf.mem, ZFS_RECV_BUF);
	return NULL;
}

/* The wake-up signal's handler: nothing to do, its only job is to make a
 * worker's read() return EINTR. */
static void zfs_wake_handler(int sig)
{
	(void)sig;
}

int zfs_session_loop(struct zfs *fs, struct fuse_session *se, unsigned threads,
		     void (*stop)(void *arg), void *arg)
{
	struct sigaction sa, old_sa;
	struct zfs_worker *w;
	sigset_t block, old;
	int notifier_joined;
	unsigned k;
	int ret = 0;

	if (threads < 1)
		threads = 1;
	{
		static const struct fuse_custom_io io = { .read = zfs_io_read,
							  .writev = zfs_io_writev };

		if (fuse_session_fd(se) >= 0)
			fuse_session_custom_io(se, &io, fuse_session_fd(se));
	}
	w = calloc(threads, sizeof(*w));
	if (!w)
		return -ENOMEM;
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
		return -EAGAIN;
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
	/* The notifier exits at once unless the kernel holds it inside an
	 * invalidation; then the unmount aborts the connection and frees it. */
	notifier_joined = zfs_notify_stop(&fs->notify, 200);
	if (stop)
		stop(arg);
	if (!notifier_joined)
		zfs_notify_join(&fs->notify);
	for (k = 0; k < threads; k++)
		if (w[k].ret < 0 && !ret)
			ret = w[k].ret;
	free(w);
	return ret;
}


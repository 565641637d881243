/* fdstore.c - restart through systemd's file descriptor store: the
 * hand-over at the restart signal and the adoption at the next start (see
 * fdstore.h for the design).
 *
 * The four calls into libsystemd (store, remove, barrier, listen) are the
 * zfds_sd_* functions, defined twice: with libsystemd, and without it as
 * "no service manager" (every hand-over falls back to a plain stop).
 * Everything runs on the main thread, with the session stopped or not yet
 * started.
 */
#define FUSE_USE_VERSION 312
#include "daemon/fdstore.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "fuse/uring.h"
#include "fuse/zfs.h"

/* How long the hand-over waits for the manager to read its messages. */
#define ZFDS_BARRIER_USEC (10ull * 1000 * 1000)

#ifdef ZC_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

/* Store `fd` under `name`.  Returns > 0 sent, 0 no $NOTIFY_SOCKET, or
 * -errno. */
static int zfds_sd_store(int fd, const char *name)
{
	char msg[64];

	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	return sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
}

static int zfds_sd_remove(const char *name)
{
	char msg[64];

	snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	return sd_notify(0, msg);
}

/* Wait until the manager has read every message sent before. */
static int zfds_sd_barrier(void)
{
	return sd_notify_barrier(0, ZFDS_BARRIER_USEC);
}

/* The passed descriptors (from SD_LISTEN_FDS_START) and their names;
 * unsets LISTEN_*.  Returns their number or -errno. */
static int zfds_sd_listen(char ***names)
{
	return sd_listen_fds_with_names(1, names);
}

#define ZFDS_LISTEN_START SD_LISTEN_FDS_START
#else
static int zfds_sd_store(int fd, const char *name)
{
	(void)fd;
	(void)name;
	return -ENOSYS;
}

static int zfds_sd_remove(const char *name)
{
	(void)name;
	return 0;
}

static int zfds_sd_barrier(void)
{
	return 0;
}

static int zfds_sd_listen(char ***names)
{
	*names = NULL;
	return 0;
}

#define ZFDS_LISTEN_START 3
#endif

static const char zfds_after[] = "stopping as SIGTERM does (unmounting)";

int zd_fdstore_hand(struct zd_reload *r, struct zfs *fs, struct fuse_session *se,
		    struct zd_log *log)
{
	struct zd_reload_image img;
	const char *ns = getenv("NOTIFY_SOCKET");
	int mfd, rfd, ret;

	r->requested = 0;
	if (!ns || !*ns) {
		zd_log_printf(log, ZD_LOG_ERR, "restart through the fd store refused, %s: "
			      "$NOTIFY_SOCKET is not set (not started by systemd)", zfds_after);
		return -1;
	}
	if (zd_reload_hold(r, fs, log, "restart through the fd store", zfds_after) < 0)
		return -1;
	mfd = zd_reload_image(r, fs, log, "restart through the fd store", zfds_after, &img);
	if (mfd < 0)
		return -1;
	ret = zfds_sd_store(mfd, ZD_FDSTORE_STATE);
	close(mfd);
	if (ret <= 0) {
		zd_log_printf(log, ZD_LOG_ERR, "restart through the fd store refused, %s: "
			      "storing the state: %s", zfds_after,
			      ret ? strerror(-ret) : "no $NOTIFY_SOCKET");
		return -1;
	}
	ret = zfds_sd_store(fuse_session_fd(se), ZD_FDSTORE_FUSE);
	if (ret <= 0) {
		zfds_sd_remove(ZD_FDSTORE_STATE);
		zd_log_printf(log, ZD_LOG_ERR, "restart through the fd store refused, %s: "
			      "storing /dev/fuse: %s", zfds_after,
			      ret ? strerror(-ret) : "no $NOTIFY_SOCKET");
		return -1;
	}
	rfd = zfs_uring_held(atomic_load(&fs->uring)) ? zfs_uring_fd(atomic_load(&fs->uring)) : -1;
	if (rfd >= 0) {
		ret = zfds_sd_store(rfd, ZD_FDSTORE_RING);
		if (ret <= 0) {
			zfds_sd_remove(ZD_FDSTORE_STATE);
			zfds_sd_remove(ZD_FDSTORE_FUSE);
			zd_log_printf(log, ZD_LOG_ERR, "restart through the fd store refused, %s: "
				      "storing the io_uring ring: %s", zfds_after,
				      ret ? strerror(-ret) : "no $NOTIFY_SOCKET");
			return -1;
		}
	}
	ret = zfds_sd_barrier();
	if (ret < 0)
		zd_log_printf(log, ZD_LOG_WARN, "restart: the service manager did not confirm the "
			      "fd store messages (%s); exiting as handed over", strerror(-ret));
	zd_log_printf(log, ZD_LOG_INFO,
		      "restart: %llu inodes, %llu pages, %llu open handles (%llu bytes) handed to "
		      "the fd store in %.1f ms; exiting without unmounting",
		      (unsigned long long)img.sfig.inodes, (unsigned long long)img.sfig.pages,
		      (unsigned long long)img.fig.handles,
		      (unsigned long long)(img.sfig.file_bytes + img.fig.header_bytes),
		      zd_reload_image_ms(&img));
	return 0;
}

/* Whether the connection behind a /dev/fuse descriptor is alive (POLLERR:
 * unmounted or aborted). */
static int zfds_alive(int fd)
{
	struct pollfd p = { .fd = fd, .events = 0 };

	return !(poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLNVAL)));
}

int zd_fdstore_take(struct zd_reload *r, struct zd_log *log, const char *mountpoint)
{
	char **names = NULL;
	int n = zfds_sd_listen(&names);
	int fuse = -1, state = -1;
	const char *what;

	if (n < 0)
		zd_log_printf(log, ZD_LOG_WARN, "restart: LISTEN_FDS not usable: %s", strerror(-n));
	for (int k = 0; k < n; k++) {
		const char *name = names && names[k] ? names[k] : "";
		int fd = ZFDS_LISTEN_START + k;

		if (!strcmp(name, ZD_FDSTORE_FUSE) && fuse < 0) {
			fuse = fd;
		} else if (!strcmp(name, ZD_FDSTORE_STATE) && state < 0) {
			state = fd;
		} else if (!strcmp(name, ZD_FDSTORE_RING) && r->ring) {
			/* Mapped already (daemon/ringover.h zd_ringover_early),
			 * the region's own descriptor. */
			r->ring_stored = 1;
		} else {
			zd_log_printf(log, ZD_LOG_WARN, "restart: closing passed descriptor %d "
				      "(\"%s\"): not one of ours", fd, name);
			close(fd);
		}
	}
	for (int k = 0; names && names[k]; k++)
		free(names[k]);
	free(names);
	if (fuse < 0 && state < 0 && !r->ring)
		return 0;
	if (fuse >= 0 && state >= 0 && zfds_alive(fuse)) {
		r->fuse_fd = fuse;
		r->state_fd = state;
		r->from_store = 1;
		return 1;
	}
	what = fuse < 0 && state < 0 ? "an io_uring ring without its mount"
	     : fuse < 0 ? "a state without its mount" : state < 0 ? "a mount without its state"
	     : "a mount whose connection is gone";
	zd_log_printf(log, ZD_LOG_ERR, "restart: the fd store holds %s: dropped (unmounted), "
		      "starting empty", what);
	if (fuse >= 0) {
		(void)zd_reload_unmount(mountpoint, fuse);
		close(fuse);
		zfds_sd_remove(ZD_FDSTORE_FUSE);
	}
	if (state >= 0) {
		close(state);
		zfds_sd_remove(ZD_FDSTORE_STATE);
	}
	if (r->ring) {
		zfs_uring_region_free(r->ring);
		r->ring = NULL;
		zfds_sd_remove(ZD_FDSTORE_RING);
	}
	return 0;
}

void zd_fdstore_adopted(struct zd_reload *r, struct zd_log *log)
{
	int a, b;

	if (!r->from_store)
		return;
	a = zfds_sd_remove(ZD_FDSTORE_STATE);
	b = zfds_sd_remove(ZD_FDSTORE_FUSE);
	if (r->ring_stored && zfds_sd_remove(ZD_FDSTORE_RING) <= 0 && a > 0)
		a = -EIO;
	if (a <= 0 || b <= 0)
		zd_log_printf(log, ZD_LOG_WARN, "restart: cannot remove the adopted descriptors "
			      "from the fd store: %s", a < 0 ? strerror(-a) : b < 0 ? strerror(-b)
			      : "no $NOTIFY_SOCKET");
}

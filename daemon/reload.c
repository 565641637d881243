/* reload.c - the SIGHUP reload: signal, hand-over, probe, execve, and the
 * adopting side (see reload.h for the design).
 *
 * Everything here runs on the main thread with the session stopped,
 * except zd_reload_handler (async-signal-safe: flag stores, an atomic
 * load, pthread_kill, write(2), and libfuse's handler, which only marks
 * the session exited).
 */
#define FUSE_USE_VERSION 312
#include "daemon/reload.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/ringover.h"
#include "fuse/reload.h"
#include "fuse/state.h"
#include "fuse/uring.h"
#include "fuse/zfs.h"

extern char **environ;

/* The handler's context (see "Globals" in reload.h). */
static struct zd_reload *zd_reload_self;

/* End the session's loop as libfuse's handler for `sig` would: through
 * that handler when libfuse installed one (it also records the signal),
 * else directly (the signal was ignored when libfuse looked). */
static void zd_reload_end_loop(struct zd_reload *r, const struct sigaction *lib, int sig)
{
	if (lib->sa_handler != SIG_DFL && lib->sa_handler != SIG_IGN)
		lib->sa_handler(sig);
	else
		fuse_session_exit(r->se);
}

/* The restart signal (ZD_RESTART_SIGNAL): a stop that hands the mount to
 * systemd's fd store (daemon/fdstore.h); the session ends as for SIGTERM
 * (zd_reload_end_loop), its io_uring transport kept for the hold. */
static void zd_reload_restart(struct zd_reload *r)
{
	atomic_store(&r->fs->uring_keep, 1);
	r->requested = ZD_RELOAD_STORE;
	zd_reload_end_loop(r, &r->term, SIGTERM);
}

static void zd_reload_handler(int sig)
{
	struct zd_reload *r = zd_reload_self;
	int saved = errno;

	if (!r)
		return;
	if (!pthread_equal(pthread_self(), r->main)) {
		pthread_kill(r->main, sig);
		errno = saved;
		return;
	}
	if (sig == ZD_RESTART_SIGNAL) {
		zd_reload_restart(r);
		errno = saved;
		return;
	}
	atomic_store(&r->fs->uring_keep, 1);
	r->requested = ZD_RELOAD_EXEC;
	zd_reload_end_loop(r, &r->old, sig);
	errno = saved;
}

/* Map a whole descriptor read-only.  Returns 0 or -errno. */
static int zd_reload_map(int fd, void **p, size_t *len)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size <= 0)
		return -EINVAL;
	*p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (*p == MAP_FAILED)
		return -errno;
	*len = (size_t)st.st_size;
	return 0;
}

int zd_reload_probe_main(void)
{
	const char *s = getenv(ZD_RELOAD_PROBE_ENV);
	char err[512];
	void *p;
	size_t len;
	int ret;

	if (!s)
		return -1;
	ret = zd_reload_map(atoi(s), &p, &len);
	if (ret < 0) {
		fprintf(stderr, "cannot map the reload image: %s\n", strerror(-ret));
		return 1;
	}
	ret = zfs_reload_probe(p, len, err, sizeof(err));
	munmap(p, len);
	if (ret < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return 0;
}

int zd_reload_init(struct zd_reload *r, char **argv)
{
	ssize_t n;

	memset(r, 0, sizeof(*r));
	r->fuse_fd = -1;
	r->state_fd = -1;
	r->argv = argv;
	r->main = pthread_self();
	n = readlink("/proc/self/exe", r->exe, sizeof(r->exe) - 1);
	if (n <= 0) {
		r->exe[0] = 0;
		return -errno;
	}
	r->exe[n] = 0;
	/* A binary replaced on disk since (an upgrade) is the one to run. */
	n = (ssize_t)strlen(r->exe);
	if (n > 10 && !strcmp(r->exe + n - 10, " (deleted)"))
		r->exe[n - 10] = 0;
	return 0;
}

int zd_reload_from_env(struct zd_reload *r)
{
	const char *s = getenv(ZD_RELOAD_ENV);
	int f, st, ring, n = 0;

	if (!s)
		return 0;
	/* FUSE,STATE or FUSE,STATE,RING (the ring is mapped already:
	 * daemon/ringover.h zd_ringover_early). */
	if ((sscanf(s, "%d,%d%n", &f, &st, &n) != 2 || s[n]) &&
	    (sscanf(s, "%d,%d,%d%n", &f, &st, &ring, &n) != 3 || s[n] || !r->ring))
		n = -1;
	if (n < 0 || f < 0 || st < 0 || fcntl(f, F_GETFD) < 0 || fcntl(st, F_GETFD) < 0) {
		unsetenv(ZD_RELOAD_ENV);
		return -EINVAL;
	}
	unsetenv(ZD_RELOAD_ENV);
	/* Not for whatever this process starts later. */
	fcntl(f, F_SETFD, FD_CLOEXEC);
	fcntl(st, F_SETFD, FD_CLOEXEC);
	r->fuse_fd = f;
	r->state_fd = st;
	return 1;
}

static double zd_reload_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

int zd_reload_load(struct zd_reload *r, struct zfs *fs, struct zd_log *log, void *init_in,
		   size_t *init_len)
{
	struct zfs_state_figures sfig;
	struct zfs_reload_figures fig;
	struct timespec t0;
	char err[512];
	void *p;
	size_t len;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = zd_reload_map(r->state_fd, &p, &len);
	if (ret < 0) {
		zd_log_printf(log, ZD_LOG_ERR, "%s: cannot map the state: %s",
			      r->from_store ? "restart: state refused, exiting" : "reload",
			      strerror(-ret));
		return -1;
	}
	ret = zfs_reload_load(fs, p, len, init_in, init_len, &fig, &sfig, err, sizeof(err));
	munmap(p, len);
	close(r->state_fd);
	r->state_fd = -1;
	if (ret < 0 && r->from_store) {
		zd_log_printf(log, ZD_LOG_ERR, "restart: state refused, exiting; the mount and its "
			      "state stay in systemd's fd store (accesses wait) until a zcached that "
			      "reads them starts or the unit stops: %s", err);
		return -1;
	}
	if (ret < 0) {
		zd_log_printf(log, ZD_LOG_ERR, "reload: state refused, exiting (the mount fails with "
			      "ENOTCONN until unmounted): %s", err);
		return -1;
	}
	zd_log_printf(log, ZD_LOG_INFO,
		      "%s: adopted the mount%s (/dev/fuse fd %d): %llu inodes, %llu pages, "
		      "%llu open handles in %.1f ms", r->from_store ? "restart" : "reload",
		      r->from_store ? " from the fd store" : "",
		      r->fuse_fd, (unsigned long long)sfig.inodes, (unsigned long long)sfig.pages,
		      (unsigned long long)fig.handles, zd_reload_ms(&t0));
	return 0;
}

int zd_reload_signals(struct zd_reload *r, struct zfs *fs, struct fuse_session *se)
{
	struct sigaction sa;
	sigset_t hup;

	r->fs = fs;
	r->se = se;
	r->main = pthread_self();
	zd_reload_self = r;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = zd_reload_handler;
	sigemptyset(&sa.sa_mask);
	/* libfuse's SIGTERM handler, which the restart signal calls. */
	if (sigaction(SIGTERM, NULL, &r->term) < 0 || sigaction(SIGHUP, &sa, &r->old) < 0) {
		zd_reload_self = NULL;
		return -errno;
	}
	if (sigaction(ZD_RESTART_SIGNAL, &sa, &r->old_restart) < 0) {
		int ret = -errno;

		sigaction(SIGHUP, &r->old, NULL);
		zd_reload_self = NULL;
		return ret;
	}
	r->installed = 1;
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	sigaddset(&hup, ZD_RESTART_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &hup, NULL);
	return 0;
}

void zd_reload_signals_fini(struct zd_reload *r)
{
	if (!r->installed)
		return;
	sigaction(ZD_RESTART_SIGNAL, &r->old_restart, NULL);
	sigaction(SIGHUP, &r->old, NULL);
	r->installed = 0;
	zd_reload_self = NULL;
}

/* Ask the binary whether it reads the image on `fd` (see reload.h, step
 * 2).  Returns 0, or -1 with its line (or why it did not run) in err. */
static int zd_reload_probe(struct zd_reload *r, int fd, char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	char env[64], *argv[2] = { r->exe, NULL };
	char **envp;
	size_t n = 0, k = 0;
	int pfd[2], status, ret;
	pid_t pid;
	ssize_t got;

	while (environ[n])
		n++;
	envp = calloc(n + 2, sizeof(*envp));
	if (!envp || pipe2(pfd, O_CLOEXEC) < 0) {
		free(envp);
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	snprintf(env, sizeof(env), "%s=%d", ZD_RELOAD_PROBE_ENV, fd);
	for (size_t j = 0; j < n; j++)
		envp[k++] = environ[j];
	envp[k++] = env;
	envp[k] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDERR_FILENO);
	ret = posix_spawn(&pid, r->exe, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
	close(pfd[1]);
	if (ret != 0) {
		close(pfd[0]);
		snprintf(err, errlen, "cannot run %.300s: %s", r->exe, strerror(ret));
		return -1;
	}
	got = read(pfd[0], err, errlen - 1);
	err[got > 0 ? got : 0] = 0;
	err[strcspn(err, "\n")] = 0;
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (!err[0])
		snprintf(err, errlen, "%.300s ended with status %d", r->exe, status);
	return -1;
}

int zd_reload_image(struct zd_reload *r, struct zfs *fs, struct zd_log *log, const char *what,
		    const char *after, struct zd_reload_image *img)
{
	char err[512];
	int mfd, ret;

	memset(img, 0, sizeof(*img));
	clock_gettime(CLOCK_MONOTONIC, &img->t0);
	if (!r->exe[0]) {
		zd_log_printf(log, ZD_LOG_ERR, "%s refused, %s: the binary's path is unknown", what, after);
		return -1;
	}
	mfd = memfd_create("zcached-reload", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0) {
		zd_log_printf(log, ZD_LOG_ERR, "%s refused, %s: memfd_create: %s", what, after,
			      strerror(errno));
		return -1;
	}
	ret = zfs_reload_save(fs, mfd, &img->fig, &img->sfig, err, sizeof(err));
	if (ret < 0) {
		zd_log_printf(log, ZD_LOG_ERR, "%s refused, %s: %s", what, after, err);
		close(mfd);
		return -1;
	}
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0 ||
	    fcntl(mfd, F_SETFD, 0) < 0) {
		zd_log_printf(log, ZD_LOG_ERR, "%s refused, %s: sealing the state: %s", what, after,
			      strerror(errno));
		close(mfd);
		return -1;
	}
	if (zd_reload_probe(r, mfd, err, sizeof(err)) < 0) {
		zd_log_printf(log, ZD_LOG_ERR, "%s refused by %s, %s: %s", what, r->exe, after, err);
		close(mfd);
		return -1;
	}
	fcntl(mfd, F_SETFD, FD_CLOEXEC);
	img->fd = mfd;
	return mfd;
}

int zd_reload_hold(struct zd_reload *r, struct zfs *fs, struct zd_log *log, const char *what,
		   const char *after)
{
	struct zfs_uring *u = atomic_load(&fs->uring);
	struct zfs_uring_stats st;
	struct timespec t0;
	struct zd_poke poke;
	char err[512];
	int ret;

	/* No ring serving (none, or one whose start failed: the kernel
	 * serves the connection over /dev/fuse): nothing to hold. */
	if (!zfs_uring_running(u))
		return 0;
	if (!r->mountpoint) {
		zd_log_printf(log, ZD_LOG_ERR, "%s refused, %s: the mount point is unknown", what,
			      after);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	zfs_uring_stats(u, &st);
	/* The running image, not the binary on disk: an older one there
	 * may have no poker mode (the reload's new binary is another's
	 * business: the probe asks it). */
	poke.exe = "/proc/self/exe";
	poke.depth = (unsigned)st.depth;
	/* While the ring serves: the walk to the root asks nothing anyway. */
	poke.root = open(r->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ret = zfs_uring_hold(u, ZD_RINGOVER_HOLD_MS, zd_ringover_poke, &poke, err, sizeof(err));
	if (poke.root >= 0)
		close(poke.root);
	if (ret < 0) {
		zd_log_printf(log, ZD_LOG_ERR, "%s refused, %s: io_uring hold: %s", what, after, err);
		return -1;
	}
	zfs_uring_stats(u, &st);
	zd_log_printf(log, ZD_LOG_INFO, "%s: io_uring held in %.1f ms: %llu requests wait in their "
		      "ring buffers for the next process", what, zd_reload_ms(&t0),
		      (unsigned long long)st.held);
	return 0;
}

double zd_reload_image_ms(const struct zd_reload_image *img)
{
	return zd_reload_ms(&img->t0);
}

int zd_reload_exec(struct zd_reload *r, struct zfs *fs, struct fuse_session *se,
		   struct zd_log *log)
{
	struct zd_reload_image img;
	char val[64];
	int ffd = fuse_session_fd(se);
	int mfd, rfd, ret;
	sigset_t hup, old;

	r->requested = 0;
	if (zd_reload_hold(r, fs, log, "reload", "still serving") < 0)
		return -1;
	mfd = zd_reload_image(r, fs, log, "reload", "still serving", &img);
	if (mfd < 0)
		return -1;
	/* The ring passes only held (zd_reload_hold). */
	rfd = zfs_uring_held(atomic_load(&fs->uring)) ? zfs_uring_fd(atomic_load(&fs->uring)) : -1;
	zd_log_printf(log, ZD_LOG_INFO,
		      "reload: %llu inodes, %llu pages, %llu open handles (%llu bytes) handed over in "
		      "%.1f ms; executing %s",
		      (unsigned long long)img.sfig.inodes, (unsigned long long)img.sfig.pages,
		      (unsigned long long)img.fig.handles,
		      (unsigned long long)(img.sfig.file_bytes + img.fig.header_bytes),
		      zd_reload_image_ms(&img), r->exe);
	if (rfd >= 0)
		snprintf(val, sizeof(val), "%d,%d,%d", ffd, mfd, rfd);
	else
		snprintf(val, sizeof(val), "%d,%d", ffd, mfd);
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	sigaddset(&hup, ZD_RESTART_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &hup, &old);
	if (setenv(ZD_RELOAD_ENV, val, 1) == 0 && fcntl(mfd, F_SETFD, 0) == 0 &&
	    fcntl(ffd, F_SETFD, 0) == 0 && (rfd < 0 || fcntl(rfd, F_SETFD, 0) == 0))
		execv(r->exe, r->argv);
	ret = errno;
	fcntl(ffd, F_SETFD, FD_CLOEXEC);
	if (rfd >= 0)
		fcntl(rfd, F_SETFD, FD_CLOEXEC);
	unsetenv(ZD_RELOAD_ENV);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(mfd);
	zd_log_printf(log, ZD_LOG_ERR, "reload failed, still serving: execve %s: %s", r->exe,
		      strerror(ret));
	return -1;
}

int zd_reload_unmount(const char *mountpoint, int fd)
{
	struct pollfd p = { .fd = fd, .events = 0 };
	char *argv[] = { "fusermount3", "-u", "-q", "-z", "--", (char *)mountpoint, NULL };
	pid_t pid;
	int status;

	/* POLLERR: the connection is gone (unmounted or aborted already). */
	if (fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLERR))
		return 0;
	if (umount2(mountpoint, MNT_DETACH) == 0)
		return 0;
	if (errno != EPERM)
		return -errno;
	if (posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ) != 0)
		return -EPERM;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPERM;
}

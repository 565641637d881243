/* reload.h - the SIGHUP reload of the daemon: the mount stays, the process
 * image is replaced by the zcached binary on disk (so an upgrade takes
 * effect), and every file, inode number, lookup count and open handle the
 * kernel holds means the same afterwards.
 *
 * Design.  SIGHUP (what `systemctl reload` sends, ExecReload= in the unit)
 * is caught by zd_reload_handler on the main thread (another thread that
 * catches it forwards it there): it ends the session the way SIGTERM does
 * (libfuse's handler), but marks it a reload, so the session loop stops
 * its workers - every request read has been answered, the rest wait in
 * the kernel's queue - without unmounting.  The daemon then stops its
 * threads and calls zd_reload_exec:
 *   1. the reload image (fuse/reload.h) is written into a memfd, which is
 *      sealed (F_SEAL_SHRINK, GROW, WRITE, SEAL);
 *   2. the binary is asked whether it reads that image: it runs as a
 *      short-lived child with ZCACHED_RELOAD_PROBE=FD (zd_reload_probe_main,
 *      fuse/reload.h zfs_reload_probe: headers and versions), and its one
 *      line of refusal is logged;
 *   3. the memfd and the /dev/fuse descriptor lose FD_CLOEXEC, SIGHUP and
 *      ZD_RESTART_SIGNAL are blocked (the mask survives execve, so one in
 *      the gap waits for the new process instead of killing it), ZCACHED_RELOAD_FDS=FUSE,STATE
 *      is set, and the binary is execve'd by the absolute path it was
 *      started from (/proc/self/exe read at start) with the same argv.
 * Over the io_uring transport the handler marks the session's ring to be
 * kept (fs->uring_keep: the session loop leaves it serving), and before
 * step 1 the ring is held (zd_reload_hold; fuse/uring.h "Hand-over",
 * daemon/ringover.h): every entry of every online CPU's queue gets a
 * request that stays unanswered in its buffers (a poker process makes
 * requests arrive on idle queues), then the queue threads stop; the ring
 * region's memfd is handed over as a third number, ZCACHED_RELOAD_FDS=
 * FUSE,STATE,RING.  The new process maps it at the same address first
 * thing in main (zd_ringover_early), and its session serves the held
 * requests from their buffers (fuse/session.h zfs_session_adopt_ring).
 * The requests made during the gap wait in the kernel's queues and are
 * served as each held one is committed.  A hold that does not complete
 * within ZD_RINGOVER_HOLD_MS (a CPU the daemon may not run on) refuses
 * the reload; a reload refused after the hold serves the held requests in
 * the old process (the session loop starts the ring again).
 * If any step fails the old process logs one line and goes on serving
 * (main.c restarts its threads and the session loop).  The new process
 * finds ZCACHED_RELOAD_FDS (zd_reload_from_env), loads the image in place
 * of a snapshot (zd_reload_load), mounts its session on "/dev/fd/FUSE"
 * (libfuse 3.14 takes that descriptor without mounting) and replays the
 * INIT (fuse/session.h zfs_session_adopt), then serves.  A new process
 * that cannot load the image after all exits with status 1, which closes
 * the last /dev/fuse descriptor: the kernel aborts the connection and
 * every access to the mount fails with ENOTCONN until it is unmounted -
 * never a hung mount.
 *
 * Refused reloads, one line each and the old process serves on: a hold
 * of the io_uring transport that does not complete, a /.zcache file or
 * an unlinked file open, a binary that does not read the image, memfd or
 * execve failures.
 *
 * Unmounting.  A session adopted by "/dev/fd/N" has no mount point in
 * libfuse, so a stop of the new process unmounts itself
 * (zd_reload_unmount: lazily, unless the kernel already dropped the
 * connection).
 *
 * The restart signal.  ZD_RESTART_SIGNAL (SIGUSR2; the unit's
 * RestartKillSignal=) is caught by the same handler: it ends the session
 * as SIGTERM does (it calls libfuse's SIGTERM handler) but marks the stop
 * ZD_RELOAD_STORE, so the session stops its workers without unmounting,
 * and main.c hands the mount and the image (zd_reload_image, the same
 * image, seal and probe as a reload's) to systemd's fd store
 * (daemon/fdstore.h), over either transport (the ring held as for a
 * reload).
 *
 * Globals: the handler needs to find its context, so one static pointer
 * (set by zd_reload_signals, cleared by zd_reload_signals_fini) is the
 * file's only mutable global, as libfuse's own fuse_instance is.
 */
#ifndef ZC_DAEMON_RELOAD_H
#define ZC_DAEMON_RELOAD_H

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <time.h>

#include "fuse/reload.h"
#include "fuse/state.h"

struct zfs;
struct fuse_session;
struct zd_log;
struct zfs_uring_region;

#define ZD_RELOAD_ENV "ZCACHED_RELOAD_FDS"
#define ZD_RELOAD_PROBE_ENV "ZCACHED_RELOAD_PROBE"

/* The signal of a stop that is part of a restart (daemon/fdstore.h). */
#define ZD_RESTART_SIGNAL SIGUSR2

/* What a signal asked for (zd_reload.requested). */
enum {
	ZD_RELOAD_EXEC = 1,		/* SIGHUP: reload in place */
	ZD_RELOAD_STORE = 2,		/* ZD_RESTART_SIGNAL: hand over to the fd store */
};

struct zd_reload {
	char exe[PATH_MAX];		/* the binary, absolute ("" if unknown) */
	char **argv;			/* main's argv, kept for execve */
	struct zfs *fs;			/* for the handler's transport check */
	struct fuse_session *se;	/* whose loop the handler ends */
	pthread_t main;			/* the thread whose read a signal interrupts */
	volatile sig_atomic_t requested;	/* 0 or ZD_RELOAD_EXEC, ZD_RELOAD_STORE */
	struct sigaction old;		/* libfuse's SIGHUP handler */
	struct sigaction old_restart;	/* ZD_RESTART_SIGNAL's before ours */
	struct sigaction term;		/* libfuse's SIGTERM handler */
	int installed;
	/* Inherited by an adopting process (zd_reload_from_env, or
	 * daemon/fdstore.h zd_fdstore_take), else -1. */
	int fuse_fd;
	int state_fd;
	int from_store;			/* they came from systemd's fd store */
	/* The io_uring ring region handed over with them, mapped at its
	 * address (daemon/ringover.h zd_ringover_early) until the session
	 * takes it (fuse/session.h zfs_session_adopt_ring), else NULL. */
	struct zfs_uring_region *ring;
	int ring_stored;		/* the ring came from the fd store too */
	const char *mountpoint;		/* as the options give it: for the poker */
};

/* A written, sealed and probed image (zd_reload_image). */
struct zd_reload_image {
	int fd;				/* the sealed memfd, FD_CLOEXEC */
	struct zfs_reload_figures fig;
	struct zfs_state_figures sfig;
	struct timespec t0;		/* when the writing began */
};

/* If ZCACHED_RELOAD_PROBE is set, this process is a probe: check the
 * image on that descriptor, print a refusal line to stderr, and return
 * the exit status (0 reads it, 1 does not).  Otherwise -1. */
int zd_reload_probe_main(void);

/* Remember the binary and argv (call at start).  Returns 0 or -errno
 * (reloads then fail, logged, and the process serves on). */
int zd_reload_init(struct zd_reload *r, char **argv);

/* An inherited hand-over: parses and removes ZCACHED_RELOAD_FDS.  Returns
 * 1 (r->fuse_fd, r->state_fd set), 0 (none) or -EINVAL (a malformed
 * value, or descriptors that are not open). */
int zd_reload_from_env(struct zd_reload *r);

/* Load the inherited image into the fresh `fs` (fuse/reload.h), close the
 * state descriptor; init_in (ZFS_RELOAD_INIT_MAX bytes) and *init_len get
 * the INIT argument.  Returns 0 or -1 (logged: one line why). */
int zd_reload_load(struct zd_reload *r, struct zfs *fs, struct zd_log *log, void *init_in,
		   size_t *init_len);

/* Catch SIGHUP and ZD_RESTART_SIGNAL (after fuse_set_signal_handlers,
 * whose SIGHUP and SIGTERM handlers they chain) and unblock them.  libfuse
 * leaves a signal alone that was ignored when the daemon started (nohup,
 * a supervisor that ignores SIGHUP); then there is no handler to chain and
 * ours ends `se`'s loop itself (fuse_session_exit), so a reload or a
 * restart never waits for the next stop to happen.  Returns 0 or -errno. */
int zd_reload_signals(struct zd_reload *r, struct zfs *fs, struct fuse_session *se);

/* Put libfuse's SIGHUP handler (and ZD_RESTART_SIGNAL's) back.  Safe
 * when not installed. */
void zd_reload_signals_fini(struct zd_reload *r);

/* Steps 1 and 2 of the Design, for a reload and for a restart through the
 * fd store alike: write the image of the quiet `fs` into a memfd, seal it
 * and ask the binary on disk whether it reads it.  Returns the memfd
 * (img->fd, FD_CLOEXEC; the caller closes it) or -1 with one line logged,
 * "WHAT refused, AFTER: why" (e.g. "reload refused, still serving: ..."),
 * nothing left open. */
int zd_reload_image(struct zd_reload *r, struct zfs *fs, struct zd_log *log, const char *what,
		    const char *after, struct zd_reload_image *img);

/* Over io_uring, before the image (zd_reload_image): hold the ring for the
 * hand-over (fuse/uring.h zfs_uring_hold, with daemon/ringover.h's
 * poker).  Returns 0 (no ring, or held: its threads stopped, every
 * request of an online CPU's queue waiting in its buffers) or -1 with one
 * line logged, "WHAT refused, AFTER: why", the ring serving again. */
int zd_reload_hold(struct zd_reload *r, struct zfs *fs, struct zd_log *log, const char *what,
		   const char *after);

/* Milliseconds since the image's writing began. */
double zd_reload_image_ms(const struct zd_reload_image *img);

/* Hand over and execve (see Design).  Call with the session stopped
 * (zfs_session_loop returned, the mount kept), the densifier and policy
 * threads stopped.  Returns only on failure: -1, logged, everything as
 * before (the descriptors keep FD_CLOEXEC, SIGHUP unblocked, the request
 * cleared). */
int zd_reload_exec(struct zd_reload *r, struct zfs *fs, struct fuse_session *se,
		   struct zd_log *log);

/* Unmount the mount of an adopted session (`fd` its /dev/fuse descriptor,
 * `mountpoint` as the options give it): nothing if the kernel already
 * aborted the connection, else umount2(MNT_DETACH), or fusermount3 -u -z
 * without the privilege.  Returns 0 or -errno. */
int zd_reload_unmount(const char *mountpoint, int fd);

#endif /* ZC_DAEMON_RELOAD_H */

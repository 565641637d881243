/* main.c - zcached: parse the command line, build the store, mount, run
 * the FUSE session, tear everything down.  Kept to wiring: the pieces live
 * in daemon/options.c, daemon/log.c, daemon/policy.c, fuse/ and, for the
 * store and everything under it, tmem/stack.h.
 *
 * One context struct (struct zcd) owns everything the daemon builds; there
 * is no mutable global.  Exit status: 0 after a clean unmount (also on
 * SIGTERM/SIGINT/SIGHUP, which libfuse's handlers turn into a session
 * exit), 2 for a bad command line (nothing mounted), 1 for any other
 * failure, ZD_FDSTORE_EXIT (75) after handing the mount to systemd's fd
 * store (daemon/fdstore.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc/backing.h"
#include "daemon/fdstore.h"
#include "daemon/log.h"
#include "daemon/options.h"
#include "daemon/policy.h"
#include "daemon/reload.h"
#include "daemon/ringover.h"
#include "fuse/ops.h"
#include "fuse/reload.h"
#include "fuse/session.h"
#include "fuse/state.h"
#include "fuse/uring.h"
#include "fuse/zfs.h"
#include "tmem/stack.h"

#ifdef ZC_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
static void zcd_notify(const char *state)
{
	sd_notify(0, state);
}
#else
static void zcd_notify(const char *state)
{
	(void)state;
}
#endif

struct zcd {
	struct zd_options opt;
	struct zd_log log;
	struct zc_stack *stack;		/* the store and what it is built on */
	struct zfs *fs;
	struct fuse_session *se;
	struct zd_policy *policy;	/* the memory policy thread, while mounted */
	struct backing *backing;	/* -o backing's file (fuse/tier.h), or NULL */
	int mounted;
	int handlers;
	struct zd_reload reload;	/* SIGHUP reload (daemon/reload.h) */
	char *mount_abs;		/* the mount point, absolute (for the io_uring hold) */
	int adopted;			/* the mount came from the process before us */
};

static uint64_t zcd_ram_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long size = sysconf(_SC_PAGESIZE);

	return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

/* The session's log lines (fuse/zfs.h, cfg.log). */
static void zcd_session_log(void *arg, int level, const char *msg)
{
	struct zcd *d = arg;

	zd_log_printf(&d->log, level <= 0 ? ZD_LOG_ERR : level == 1 ? ZD_LOG_WARN : ZD_LOG_INFO,
		      "%s", msg);
}

/* Build the store (tmem/stack.h: the daemon's configuration is the
 * stack's default) and the filesystem on it. */
static int zcd_build(struct zcd *d)
{
	struct zfs_config cfg;

	d->stack = zc_stack_create(NULL);
	if (!d->stack)
		return -errno;
	memset(&cfg, 0, sizeof(cfg));
	cfg.store = d->stack->store;
	cfg.buddy = d->stack->buddy;
	cfg.sgv = d->stack->sgv;
	cfg.pam = d->stack->pam;
	cfg.slabs = d->stack->slabs;
	cfg.nslabs = ZC_STACK_NSLABS;
	cfg.codec = d->opt.codec;
	cfg.ephemeral = d->opt.ephemeral;
	cfg.mem_limit = d->opt.mem_limit;
	cfg.densify = d->opt.densify;
	cfg.densify_idle = d->opt.densify_idle;
	cfg.spill = d->opt.spill;
	cfg.uid = getuid();
	cfg.gid = getgid();
	cfg.uring = d->opt.uring;
	cfg.no_open = d->opt.no_open;
	cfg.backing = d->backing;
	cfg.backing_limit = d->opt.backing_limit;
	cfg.backing_budget = d->opt.backing_budget;
	cfg.backing_high = d->opt.backing_high;
	cfg.backing_low = d->opt.backing_low;
	cfg.backing_compact = d->opt.backing_compact;
	cfg.log = zcd_session_log;
	cfg.log_arg = d;
	d->fs = zfs_create(&cfg);
	if (!d->fs)
		return -errno;
	return 0;
}

#ifdef ZC_DEBUG
/* Debug builds verify every structure once the session is over (the fs
 * suite runs the daemon under the asan preset, which has ZC_DEBUG on, and
 * checks its exit status). */
static int zcd_check(struct zcd *d)
{
	int ret = zfs_check(d->fs);

	if (ret == 0)
		ret = zc_stack_check(d->stack);
	if (ret < 0)
		zd_log_printf(&d->log, ZD_LOG_ERR, "invariant check failed at exit: %s",
			      strerror(-ret));
	return ret;
}
#else
static int zcd_check(struct zcd *d)
{
	(void)d;
	return 0;
}
#endif

/* Milliseconds since *t0 (CLOCK_MONOTONIC), for the log. */
static double zcd_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* snapshot=PATH, at the start: load PATH into the fresh filesystem if it
 * exists (fuse/state.h).  A bad image stops the start (one line naming
 * the file, the offset and the problem) and is left as it is; so is a
 * missing one, which only means a first start.  Returns 0 or -1 (logged). */
static int zcd_snapshot_load(struct zcd *d)
{
	struct zfs_state_figures fig;
	struct timespec t0;
	char err[512];
	int ret;

	if (!d->opt.snapshot)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = zfs_state_load_file(d->fs, d->opt.snapshot, &fig, err, sizeof(err));
	if (ret == -ENOENT) {
		zd_log_printf(&d->log, ZD_LOG_INFO, "no snapshot %s yet: starting empty",
			      d->opt.snapshot);
		return 0;
	}
	if (ret < 0) {
		zd_log_printf(&d->log, ZD_LOG_ERR, "snapshot not loaded, not mounting: %s", err);
		return -1;
	}
	if (d->opt.no_open && zfs_ephemeral_pools(d->fs)) {
		zd_log_printf(&d->log, ZD_LOG_ERR, "snapshot %s has ephemeral pools, which open=off "
			      "cannot serve (eviction must know the open files); not mounting",
			      d->opt.snapshot);
		return -1;
	}
	zd_log_printf(&d->log, ZD_LOG_INFO,
		      "loaded snapshot %s: %llu inodes, %llu pages, %llu stored bytes in %.1f ms",
		      d->opt.snapshot, (unsigned long long)fig.inodes,
		      (unsigned long long)fig.pages, (unsigned long long)fig.stored_bytes,
		      zcd_ms_since(&t0));
	return 0;
}

/* snapshot=PATH, at a clean stop (unmounted, every worker, the policy
 * thread and the densifier stopped): write the state beside PATH and
 * rename it over (fuse/state.h).  Returns 0 or -1 (logged; the previous
 * snapshot, if any, is whole). */
static int zcd_snapshot_save(struct zcd *d)
{
	struct zfs_state_figures fig;
	struct timespec t0;
	char err[512];

	if (!d->opt.snapshot)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (zfs_state_save_file(d->fs, d->opt.snapshot, &fig, err, sizeof(err)) < 0) {
		zd_log_printf(&d->log, ZD_LOG_ERR, "snapshot not written: %s", err);
		return -1;
	}
	zd_log_printf(&d->log, ZD_LOG_INFO,
		      "wrote snapshot %s: %llu inodes, %llu pages, %llu stored bytes in %.1f ms "
		      "(file %llu bytes; %llu spilled files fetched back, %llu found gone)",
		      d->opt.snapshot, (unsigned long long)fig.inodes,
		      (unsigned long long)fig.pages, (unsigned long long)fig.stored_bytes,
		      zcd_ms_since(&t0), (unsigned long long)fig.file_bytes,
		      (unsigned long long)fig.fetched, (unsigned long long)fig.lost);
	return 0;
}

static void zcd_adopted_unmount(struct zcd *d);

/* Tear down in reverse order; safe on a partly built context. */
static void zcd_teardown(struct zcd *d)
{
	zd_policy_stop(d->policy);
	d->policy = NULL;
	zd_reload_signals_fini(&d->reload);
	/* A ring kept for a hand-over that did not happen serves what it
	 * held, then stops (fuse/session.h). */
	if (d->fs && d->se)
		zfs_session_ring_end(d->fs, d->se);
	zfs_uring_region_free(d->reload.ring);
	d->reload.ring = NULL;
	if (d->handlers)
		fuse_remove_signal_handlers(d->se);
	if (d->mounted)
		fuse_session_unmount(d->se);
	if (d->se)
		zcd_adopted_unmount(d);
	if (d->se)
		fuse_session_destroy(d->se);
	zfs_destroy(d->fs);
	/* The stack's teardown checks print any violation; the exit status
	 * stays zcd_check's (debug builds), as before the stack existed. */
	(void)zc_stack_destroy(d->stack);
	/* After the store: its backed pages free their records. */
	backing_close(d->backing);
	zd_log_close(&d->log);
	free(d->mount_abs);
	d->mount_abs = NULL;
	zd_options_free(&d->opt);
}

/* The mount point made absolute against the start's working directory
 * (a daemon in the background works in /), without resolving it: that
 * would ask an adopted mount, which nobody serves yet.  NULL on ENOMEM. */
static char *zcd_mount_abs(const char *mp)
{
	char cwd[PATH_MAX], *p;

	if (mp[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(mp);
	p = malloc(strlen(cwd) + strlen(mp) + 2);
	if (p)
		sprintf(p, "%s/%s", cwd, mp);
	return p;
}

/* Create the session from our options (argv for libfuse's parser). */
static int zcd_session(struct zcd *d, const char *prog)
{
	static const char prefix[] = "fsname=zcached,subtype=zcached,";
	char *fargv[6];
	int fargc = 0;
	char *opts;
	struct fuse_args args;

	/* As long as the options are: a fixed buffer cut long lists silently. */
	opts = malloc(sizeof(prefix) + strlen(d->opt.fuse_opts));
	if (!opts)
		return -ENOMEM;
	memcpy(opts, prefix, sizeof(prefix) - 1);
	strcpy(opts + sizeof(prefix) - 1, d->opt.fuse_opts);
	fargv[fargc++] = (char *)prog;
	fargv[fargc++] = "-o";
	fargv[fargc++] = opts;
	if (d->opt.debug)
		fargv[fargc++] = "-d";
	fargv[fargc] = NULL;
	args = (struct fuse_args)FUSE_ARGS_INIT(fargc, fargv);
	d->se = fuse_session_new(&args, &zfs_lowlevel_ops, sizeof(zfs_lowlevel_ops), d->fs);
	fuse_opt_free_args(&args);
	free(opts);
	if (!d->se)
		return -EINVAL;
	zfs_set_session(d->fs, d->se);
	return 0;
}

/* A mount adopted in a reload has no mount point in libfuse: unmount it
 * ourselves (daemon/reload.h zd_reload_unmount). */
static void zcd_adopted_unmount(struct zcd *d)
{
	int ret;

	if (!d->adopted)
		return;
	d->adopted = 0;
	ret = zd_reload_unmount(d->opt.mountpoint, fuse_session_fd(d->se));
	if (ret < 0)
		zd_log_printf(&d->log, ZD_LOG_WARN, "cannot unmount %s: %s", d->opt.mountpoint,
			      strerror(-ret));
}

/* Called by the session loop once the main worker stops. */
static void zcd_unmount(void *arg)
{
	struct zcd *d = arg;

	if (d->reload.requested)	/* the mount goes on (daemon/reload.h) */
		return;
	if (d->mounted) {
		fuse_session_unmount(d->se);
		d->mounted = 0;
	}
	zcd_adopted_unmount(d);
}

/* Start the memory policy thread (daemon/policy.h) with its defaults. */
static struct zd_policy *zcd_policy(struct zcd *d)
{
	struct zd_policy_config pc;
	struct zd_policy *p;

	memset(&pc, 0, sizeof(pc));
	pc.mem = &d->fs->mem;
	pc.store = d->stack->store;
	pc.sgv = d->stack->sgv;
	pc.buddy = d->stack->buddy;
	pc.pam = d->stack->pam;
	pc.log = &d->log;
	p = zd_policy_start(&pc);
	if (!p) {
		zd_log_printf(&d->log, ZD_LOG_ERR, "cannot start the memory policy thread: %s",
			      strerror(errno));
	} else {
		struct zd_policy_stats st;

		zd_policy_stats(p, &st);
		zd_log_printf(&d->log, ZD_LOG_DEBUG, "memory pressure: %s%s",
			      st.psi_mode == ZD_PSI_TRIGGER ? "PSI trigger"
			      : st.psi_mode == ZD_PSI_AVG10 ? "PSI avg10 polled" : "no PSI",
			      st.have_events ? ", cgroup memory.events" : "");
	}
	return p;
}

/* LeakSanitizer's suppressions (read by the sanitizer runtime in the asan
 * preset; an unused function elsewhere).  libfuse 3.14 frees the mount
 * point it copies in fuse_session_mount only in fuse_session_unmount,
 * which unmounts: a process that hands its mount to the fd store
 * (zcd_fdstore) must not call it, so those bytes stay allocated at its
 * exit - libfuse's, once per process, not a leak of ours. */
const char *__lsan_default_suppressions(void);
__attribute__((used)) const char *__lsan_default_suppressions(void)
{
	return "leak:fuse_session_mount\n";
}

/* The restart signal (daemon/fdstore.h): hand the mount to systemd's fd
 * store and end with ZD_FDSTORE_EXIT, the mount kept; or, when that cannot
 * be (logged), go on as a stop: unmounted here, the caller writes the
 * snapshot and tears down.  Call with the session, the policy thread and
 * the densifier stopped.  Returns the exit status, or -1 for "stop". */
static int zcd_fdstore(struct zcd *d)
{
	int ret = ZD_FDSTORE_EXIT;

	if (zd_fdstore_hand(&d->reload, d->fs, d->se, &d->log) < 0) {
		zfs_session_ring_end(d->fs, d->se);
		zcd_unmount(d);
		return -1;
	}
	d->mounted = 0;		/* systemd holds the mount now */
	d->adopted = 0;
	zfs_session_ring_end(d->fs, NULL);	/* its held requests are the next start's */
	if (zcd_check(d) < 0)
		ret = 1;
	zcd_teardown(d);
	return ret;
}

static int zcd_run(struct zcd *d)
{
	return zfs_session_loop(d->fs, d->se, d->opt.threads, zcd_unmount, d);
}

/* Mount, then give the mount its own readahead (fuse/session.h
 * zfs_session_set_readahead; its path is resolved before mounting, since
 * resolving it after would ask the session, which is not running yet).
 * Without root the readahead stays the kernel's default: logged, not an
 * error.  Returns 0 or -1 (logged). */
static int zcd_mount(struct zcd *d)
{
	char *canon = realpath(d->opt.mountpoint, NULL);
	int ret = canon ? 0 : -errno;

	if (fuse_session_mount(d->se, d->opt.mountpoint) != 0) {
		zd_log_printf(&d->log, ZD_LOG_ERR, "cannot mount on %s", d->opt.mountpoint);
		free(canon);
		return -1;
	}
	d->mounted = 1;
	if (canon)
		ret = zfs_session_set_readahead(canon, ZFS_SESSION_READAHEAD_KB);
	if (ret < 0)
		zd_log_printf(&d->log, ZD_LOG_INFO, "readahead of %s left at the default: %s",
			      d->opt.mountpoint, strerror(-ret));
	free(canon);
	return 0;
}

/* Take the mount over from the process before us (daemon/reload.h): the
 * session on the inherited /dev/fuse descriptor, the kernel's INIT
 * replayed into it.  Returns 0 or -1 (logged). */
static int zcd_adopt(struct zcd *d, const void *init_in, size_t init_len)
{
	char dev[32];
	int ret;

	snprintf(dev, sizeof(dev), "/dev/fd/%d", d->reload.fuse_fd);
	if (fuse_session_mount(d->se, dev) != 0) {
		zd_log_printf(&d->log, ZD_LOG_ERR, "reload: cannot adopt %s", dev);
		return -1;
	}
	d->reload.fuse_fd = -1;		/* the session's now */
	d->adopted = 1;
	ret = zfs_session_adopt(d->fs, d->se, init_in, init_len);
	if (ret < 0) {
		zd_log_printf(&d->log, ZD_LOG_ERR, "reload: the INIT replay failed: %s",
			      strerror(-ret));
		return -1;
	}
	/* Served over io_uring before us: the ring is ours now. */
	if (d->reload.ring) {
		ret = zfs_session_adopt_ring(d->fs, d->se, d->reload.ring);
		if (ret < 0) {
			zd_log_printf(&d->log, ZD_LOG_ERR, "reload: cannot adopt the io_uring ring: "
				      "%s", strerror(-ret));
			return -1;
		}
		d->reload.ring = NULL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct zcd d;
	char err[256];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int ret;

	uint8_t init_in[ZFS_RELOAD_INIT_MAX];
	size_t init_len = 0;
	struct zfs_uring_region *ring;
	int adopt;

	/* A reload's probe of a new image (daemon/reload.h) ends here, and
	 * so does the poker of an io_uring hold (daemon/ringover.h). */
	ret = zd_reload_probe_main();
	if (ret >= 0)
		return ret;
	ret = zd_ringover_poke_main();
	if (ret >= 0)
		return ret;
	/* A ring handed over is mapped at its address before anything else
	 * takes address space (daemon/ringover.h). */
	if (zd_ringover_early(argv, &ring) < 0)
		return 1;
	memset(&d, 0, sizeof(d));
	zd_log_init(&d.log, "zcached", ZD_LOG_INFO);
	ret = zd_options_parse(&d.opt, argc, argv, zcd_ram_bytes(), ncpu > 0 ? (unsigned)ncpu : 1,
			       err, sizeof(err));
	if (ret == -EINVAL) {
		fprintf(stderr, "zcached: %s\n", err);
		return ZD_EXIT_USAGE;
	}
	if (ret < 0) {
		fprintf(stderr, "zcached: %s\n", strerror(-ret));
		return 1;
	}
	if (d.opt.help) {
		fputs(zd_options_usage(), stdout);
		zd_options_free(&d.opt);
		return 0;
	}
	if (d.opt.version) {
		printf("zcached %s (libfuse %s)\n", ZC_VERSION, fuse_pkgversion());
		zd_options_free(&d.opt);
		return 0;
	}
	if (d.opt.debug)
		d.log.level = ZD_LOG_DEBUG;
	ret = zd_reload_init(&d.reload, argv);
	if (ret < 0)
		zd_log_printf(&d.log, ZD_LOG_WARN, "cannot find this binary (%s): SIGHUP will not reload",
			      strerror(-ret));
	d.reload.ring = ring;
	adopt = zd_reload_from_env(&d.reload);
	if (adopt < 0) {
		zd_log_printf(&d.log, ZD_LOG_ERR, "%s is malformed or names closed descriptors",
			      ZD_RELOAD_ENV);
		zfs_uring_region_free(d.reload.ring);
		zd_options_free(&d.opt);
		return 1;
	}
	if (adopt == 0)	/* a restart through the fd store (daemon/fdstore.h)? */
		adopt = zd_fdstore_take(&d.reload, &d.log, d.opt.mountpoint);
	/* uring=on refuses to mount when the kernel will not offer the ring
	 * (the INIT reply checks again); zcached never changes the setting. */
	if (!adopt && d.opt.uring == ZFS_URING_ON && zfs_uring_available() != 1) {
		zd_log_printf(&d.log, ZD_LOG_ERR,
			      "uring=on: the kernel does not offer FUSE over io_uring (%s); not mounting",
			      zfs_uring_available() < 0 ? "no /sys/module/fuse/parameters/enable_uring"
			      : "/sys/module/fuse/parameters/enable_uring is N, see zcached(8)");
		zd_options_free(&d.opt);
		return 1;
	}
	/* The backing file is opened before anything is built, so a path it
	 * refuses (tmpfs, FUSE, no O_DIRECT: alloc/backing.h) is one line and
	 * exit status 2, nothing mounted.  Its I/O buffers come from its own
	 * allocator: the file outlives the stack's. */
	if (d.opt.backing) {
		struct backing_config bc = BACKING_CONFIG_DEFAULT;

		if (d.opt.backing_budget)
			bc.write_budget = d.opt.backing_budget;
		err[0] = '\0';
		d.backing = backing_open(d.opt.backing, d.opt.backing_limit, &bc, err, sizeof(err));
		if (!d.backing) {
			if (err[0])
				fprintf(stderr, "zcached: %s\n", err);
			else
				fprintf(stderr, "zcached: backing: %s: %s\n", d.opt.backing,
					strerror(errno));
			zd_options_free(&d.opt);
			return ZD_EXIT_USAGE;
		}
	}
	ret = zcd_build(&d);
	if (ret < 0) {
		zd_log_printf(&d.log, ZD_LOG_ERR, "cannot build the store: %s", strerror(-ret));
		goto fail;
	}
	if (adopt ? zd_reload_load(&d.reload, d.fs, &d.log, init_in, &init_len) < 0
		  : zcd_snapshot_load(&d) < 0)
		goto fail;
	ret = zcd_session(&d, argv[0]);
	if (ret == -ENOMEM) {
		zd_log_printf(&d.log, ZD_LOG_ERR, "cannot create the session: %s", strerror(-ret));
		goto fail;
	}
	if (ret < 0) {
		/* libfuse printed what it did not like. */
		zcd_teardown(&d);
		return ZD_EXIT_USAGE;
	}
	if (fuse_set_signal_handlers(d.se) != 0) {
		zd_log_printf(&d.log, ZD_LOG_ERR, "cannot install signal handlers");
		goto fail;
	}
	d.handlers = 1;
	if (zd_reload_signals(&d.reload, d.fs, d.se) < 0) {
		zd_log_printf(&d.log, ZD_LOG_ERR, "cannot install the SIGHUP handler");
		goto fail;
	}
	/* Before fuse_daemonize leaves the working directory. */
	d.mount_abs = zcd_mount_abs(d.opt.mountpoint);
	d.reload.mountpoint = d.mount_abs;
	if (adopt) {
		if (zcd_adopt(&d, init_in, init_len) < 0)
			goto fail;
		zd_fdstore_adopted(&d.reload, &d.log);
		if (!d.opt.foreground)
			zd_log_detach(&d.log);
	} else if (zcd_mount(&d) < 0) {
		goto fail;
	} else if (!d.opt.foreground) {
		if (fuse_daemonize(0) != 0)
			goto fail;
		zd_log_detach(&d.log);
	}
	zd_log_printf(&d.log, ZD_LOG_INFO, "mounted on %s (mem_limit %llu bytes, %u threads)",
		      d.opt.mountpoint, (unsigned long long)d.opt.mem_limit, d.opt.threads);
	d.policy = zcd_policy(&d);
	if (!d.policy)
		goto fail;
	if (zfs_start(d.fs) < 0) {
		zd_log_printf(&d.log, ZD_LOG_ERR, "cannot start the densifier thread");
		goto fail;
	}
	for (;;) {
		zcd_notify("READY=1");
		ret = zcd_run(&d);
		if (d.reload.requested != ZD_RELOAD_EXEC)
			break;
		/* SIGHUP: hand over and execve; back here only if that failed
		 * (logged), to serve on (daemon/reload.h). */
		zcd_notify("RELOADING=1");
		zd_policy_stop(d.policy);
		d.policy = NULL;
		zfs_stop(d.fs);
		zd_reload_exec(&d.reload, d.fs, d.se, &d.log);
		fuse_session_reset(d.se);
		d.policy = zcd_policy(&d);
		if (!d.policy || zfs_start(d.fs) < 0) {
			zd_log_printf(&d.log, ZD_LOG_ERR, "cannot restart after the failed reload");
			goto fail;
		}
	}
	zcd_notify("STOPPING=1");
	zd_policy_stop(d.policy);
	d.policy = NULL;
	zfs_stop(d.fs);
	if (d.reload.requested == ZD_RELOAD_STORE) {
		int st = zcd_fdstore(&d);

		if (st >= 0)
			return st;
	}
	if (ret < 0)
		zd_log_printf(&d.log, ZD_LOG_WARN, "session ended: %s", strerror(-ret));
	zd_log_printf(&d.log, ZD_LOG_INFO, "unmounted %s", d.opt.mountpoint);
	if (zcd_snapshot_save(&d) < 0)
		goto fail;
	if (zcd_check(&d) < 0)
		goto fail;
	zcd_teardown(&d);
	return 0;
fail:
	zcd_teardown(&d);
	return 1;
}

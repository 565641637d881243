/* main.c - zcached: parse the command line, build the store, mount, run
 * the FUSE session, tear everything down.  Kept to wiring: the pieces live
 * in daemon/options.c, daemon/log.c, daemon/policy.c and fuse/.
 *
 * One context struct (struct zcd) owns everything the daemon builds; there
 * is no mutable global.  Exit status: 0 after a clean unmount (also on
 * SIGTERM/SIGINT/SIGHUP, which libfuse's handlers turn into a session
 * exit), 2 for a bad command line (nothing mounted), 1 for any other
 * failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "alloc/slab.h"
#include "alloc/xcf.h"
#include "compress/pam.h"
#include "daemon/log.h"
#include "daemon/options.h"
#include "daemon/policy.h"
#include "fuse/zfs.h"
#include "tmem/tmem.h"

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

#define ZCD_RAW_THRESHOLD 3584u	/* bytes: 7/8 page */

struct zcd {
	struct zd_options opt;
	struct zd_log log;
	struct buddy *buddy;
	struct sgv_ctx *sgv;
	struct slab_cache *descs;	/* xcf descriptors */
	struct pam *pam;
	struct tmem_slab_host *host;	/* tmem's objects and objnodes */
	struct slab_cache *slabs[3];	/* for /.zcache/alloc/slabinfo */
	struct tmem_store *store;
	struct zfs *fs;
	struct fuse_session *se;
	struct zd_policy *policy;	/* the memory policy thread, while mounted */
	int mounted;
	int handlers;
};

static uint64_t zcd_ram_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long size = sysconf(_SC_PAGESIZE);

	return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

/* Build the store and the filesystem on it. */
static int zcd_build(struct zcd *d)
{
	struct zfs_config cfg;

	d->buddy = buddy_create(BUDDY_DEFAULT_RESERVE);
	if (!d->buddy)
		return -errno;
	d->sgv = sgv_ctx_create(d->buddy);
	if (!d->sgv)
		return -errno;
	d->descs = slab_create("xcf_desc", XCF_DESC_SIZE, 0, d->buddy);
	if (!d->descs)
		return -errno;
	/* Pages that compress to 3/4..7/8 of a page still save memory in xcf
	 * (tree.tar: 1.4 MB less than with PAM's default of 3/4). */
	d->pam = pam_create(&(struct pam_config){ .raw_threshold = ZCD_RAW_THRESHOLD }, d->buddy,
			    d->sgv, d->descs);
	if (!d->pam)
		return -errno;
	d->host = tmem_slab_host_create(d->buddy);
	if (!d->host)
		return -errno;
	d->store = tmem_store_create(&pam_tmem_ops, d->pam, &tmem_slab_hostops, d->host);
	if (!d->store)
		return -errno;
	memset(&cfg, 0, sizeof(cfg));
	cfg.store = d->store;
	cfg.buddy = d->buddy;
	cfg.sgv = d->sgv;
	cfg.pam = d->pam;
	d->slabs[0] = tmem_slab_host_cache(d->host, 0);
	d->slabs[1] = tmem_slab_host_cache(d->host, 1);
	d->slabs[2] = d->descs;
	cfg.slabs = d->slabs;
	cfg.nslabs = 3;
	cfg.codec = d->opt.codec;
	cfg.ephemeral = d->opt.ephemeral;
	cfg.mem_limit = d->opt.mem_limit;
	cfg.uid = getuid();
	cfg.gid = getgid();
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
		ret = pam_check(d->pam);
	if (ret == 0)
		ret = sgv_ctx_check(d->sgv);
	if (ret == 0)
		ret = buddy_check(d->buddy);
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

/* Tear down in reverse order; safe on a partly built context. */
static void zcd_teardown(struct zcd *d)
{
	zd_policy_stop(d->policy);
	d->policy = NULL;
	if (d->handlers)
		fuse_remove_signal_handlers(d->se);
	if (d->mounted)
		fuse_session_unmount(d->se);
	if (d->se)
		fuse_session_destroy(d->se);
	zfs_destroy(d->fs);
	tmem_store_destroy(d->store);
	tmem_slab_host_destroy(d->host);
	pam_destroy(d->pam);
	slab_destroy(d->descs);
	sgv_ctx_destroy(d->sgv);
	buddy_destroy(d->buddy);
	zd_log_close(&d->log);
	zd_options_free(&d->opt);
}

/* Create the session from our options (argv for libfuse's parser). */
static int zcd_session(struct zcd *d, const char *prog)
{
	char *fargv[6];
	int fargc = 0;
	char opts[4096];
	struct fuse_args args;

	snprintf(opts, sizeof(opts), "fsname=zcached,subtype=zcached,%s", d->opt.fuse_opts);
	fargv[fargc++] = (char *)prog;
	fargv[fargc++] = "-o";
	fargv[fargc++] = opts;
	if (d->opt.debug)
		fargv[fargc++] = "-d";
	fargv[fargc] = NULL;
	args = (struct fuse_args)FUSE_ARGS_INIT(fargc, fargv);
	d->se = fuse_session_new(&args, &zfs_lowlevel_ops, sizeof(zfs_lowlevel_ops), d->fs);
	fuse_opt_free_args(&args);
	if (!d->se)
		return -EINVAL;
	zfs_set_session(d->fs, d->se);
	return 0;
}

/* Called by the session loop once the main worker stops. */
static void zcd_unmount(void *arg)
{
	struct zcd *d = arg;

	if (d->mounted) {
		fuse_session_unmount(d->se);
		d->mounted = 0;
	}
}

/* Start the memory policy thread (daemon/policy.h) with its defaults. */
static struct zd_policy *zcd_policy(struct zcd *d)
{
	struct zd_policy_config pc;
	struct zd_policy *p;

	memset(&pc, 0, sizeof(pc));
	pc.fs = d->fs;
	pc.store = d->store;
	pc.sgv = d->sgv;
	pc.buddy = d->buddy;
	pc.pam = d->pam;
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

static int zcd_run(struct zcd *d)
{
	return zfs_session_loop(d->fs, d->se, d->opt.threads, zcd_unmount, d);
}

int main(int argc, char **argv)
{
	struct zcd d;
	char err[256];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int ret;

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
	ret = zcd_build(&d);
	if (ret < 0) {
		zd_log_printf(&d.log, ZD_LOG_ERR, "cannot build the store: %s", strerror(-ret));
		goto fail;
	}
	ret = zcd_session(&d, argv[0]);
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
	if (fuse_session_mount(d.se, d.opt.mountpoint) != 0) {
		zd_log_printf(&d.log, ZD_LOG_ERR, "cannot mount on %s", d.opt.mountpoint);
		goto fail;
	}
	d.mounted = 1;
	if (!d.opt.foreground) {
		if (fuse_daemonize(0) != 0)
			goto fail;
		zd_log_detach(&d.log);
	}
	zd_log_printf(&d.log, ZD_LOG_INFO, "mounted on %s (mem_limit %llu bytes, %u threads)",
		      d.opt.mountpoint, (unsigned long long)d.opt.mem_limit, d.opt.threads);
	d.policy = zcd_policy(&d);
	if (!d.policy)
		goto fail;
	zcd_notify("READY=1");
	ret = zcd_run(&d);
	zcd_notify("STOPPING=1");
	zd_policy_stop(d.policy);
	d.policy = NULL;
	if (ret < 0)
		zd_log_printf(&d.log, ZD_LOG_WARN, "session ended: %s", strerror(-ret));
	zd_log_printf(&d.log, ZD_LOG_INFO, "unmounted %s", d.opt.mountpoint);
	if (zcd_check(&d) < 0)
		goto fail;
	zcd_teardown(&d);
	return 0;
fail:
	zcd_teardown(&d);
	return 1;
}

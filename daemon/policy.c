/* policy.c - the daemon's memory policy thread (see policy.h): SGV purges,
 * automatic compaction, mem_used_max, idle trimming, and the reaction to
 * system memory pressure (PSI triggers, avg10, the cgroup's memory.events).
 */
#include "daemon/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "compress/pam.h"
#include "daemon/log.h"
#include "fuse/mem.h"
#include "tmem/tmem.h"

struct zd_policy {
	struct zd_policy_config cfg;	/* immutable after start; paths copied below */
	char psi_path[256];
	char events_path[512];
	int stop_fd;			/* eventfd: the stop request */
	int psi_fd;			/* trigger descriptor, or -1; thread only */
	pthread_t thread;
	/* Thread only. */
	uint64_t last_activity;		/* puts + gets + flushes at the last tick */
	unsigned idle;			/* ticks without activity */
	uint64_t events_high, events_max;
	double last_reaction;		/* seconds, CLOCK_MONOTONIC */
	int pending;			/* pressure seen inside the rate limit */
	/* Read by zd_policy_stats. */
	_Atomic uint64_t ticks, pressure_signals, reactions;
	_Atomic int psi_mode, have_events;
};

static double zd_policy_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- parsing --------------------------------------------------------------- */

int zd_policy_parse_psi(const char *text, double *avg10)
{
	const char *line = text;

	while (line && *line) {
		double v;

		if (!strncmp(line, "some ", 5)) {
			const char *a = strstr(line, "avg10=");

			if (a && sscanf(a + 6, "%lf", &v) == 1 && v >= 0.0) {
				*avg10 = v;
				return 0;
			}
			return -EINVAL;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -EINVAL;
}

int zd_policy_parse_events(const char *text, uint64_t *high, uint64_t *max)
{
	const char *line = text;
	uint64_t h = 0, m = 0;
	int found = 0;

	while (line && *line) {
		unsigned long long v;

		if (sscanf(line, "high %llu", &v) == 1 && !strncmp(line, "high ", 5)) {
			h = v;
			found = 1;
		} else if (sscanf(line, "max %llu", &v) == 1 && !strncmp(line, "max ", 4)) {
			m = v;
			found = 1;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	if (!found)
		return -EINVAL;
	*high = h;
	*max = m;
	return 0;
}

/* Read a small file into buf (NUL-terminated).  Returns 0 or -errno. */
static int zd_policy_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int zd_policy_cgroup_events_path(char *buf, unsigned len)
{
	char text[4096], *line;
	int ret = zd_policy_read("/proc/self/cgroup", text, sizeof(text));

	if (ret < 0)
		return ret;
	for (line = text; line && *line;) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (!strncmp(line, "0::", 3)) {
			const char *rel = line + 3;
			int n = snprintf(buf, len, "/sys/fs/cgroup%s%smemory.events", rel,
					 rel[0] && rel[strlen(rel) - 1] == '/' ? "" : "/");

			return n < 0 || (unsigned)n >= len ? -ENAMETOOLONG : 0;
		}
		line = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

/* ---- watches ----------------------------------------------------------------- */

/* Open the PSI file and arm the trigger; else decide the fallback. */
static void zd_policy_open_psi(struct zd_policy *p)
{
	const char *trig = p->cfg.psi_trigger ? p->cfg.psi_trigger : ZD_POLICY_PSI_TRIGGER;
	char text[512];
	double v;
	int fd;

	p->psi_fd = -1;
	atomic_store(&p->psi_mode, ZD_PSI_NONE);
	if (!p->psi_path[0])
		return;
	for (int k = 0; k < 2 && trig[0]; k++) {
		/* A trigger belongs to the descriptor it was written to: a new
		 * one for each try. */
		fd = open(p->psi_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			break;
		if (write(fd, trig, strlen(trig) + 1) >= 0) {
			p->psi_fd = fd;
			atomic_store(&p->psi_mode, ZD_PSI_TRIGGER);
			return;
		}
		close(fd);
		/* Without CAP_SYS_RESOURCE the window must be a multiple of
		 * 2 s (EINVAL otherwise): the default has a second form. */
		if (p->cfg.psi_trigger)
			break;
		trig = ZD_POLICY_PSI_TRIGGER_UNPRIV;
	}
	/* No trigger: read avg10 each tick, if the file reads as PSI. */
	if (zd_policy_read(p->psi_path, text, sizeof(text)) == 0 &&
	    zd_policy_parse_psi(text, &v) == 0)
		atomic_store(&p->psi_mode, ZD_PSI_AVG10);
}

static void zd_policy_open_events(struct zd_policy *p)
{
	char text[1024];

	atomic_store(&p->have_events, 0);
	if (!p->events_path[0])
		return;
	if (zd_policy_read(p->events_path, text, sizeof(text)) == 0 &&
	    zd_policy_parse_events(text, &p->events_high, &p->events_max) == 0)
		atomic_store(&p->have_events, 1);
}

/* The fallback checks of a tick: 1 when they see pressure. */
static int zd_policy_poll_pressure(struct zd_policy *p)
{
	char text[1024];
	int pressure = 0;

	if (atomic_load(&p->psi_mode) == ZD_PSI_AVG10) {
		double v;

		if (zd_policy_read(p->psi_path, text, sizeof(text)) == 0 &&
		    zd_policy_parse_psi(text, &v) == 0) {
			double thr = p->cfg.psi_avg10 > 0 ? p->cfg.psi_avg10 : ZD_POLICY_PSI_AVG10;

			pressure |= v >= thr;
		}
	}
	if (atomic_load(&p->have_events)) {
		uint64_t high, max;

		if (zd_policy_read(p->events_path, text, sizeof(text)) == 0 &&
		    zd_policy_parse_events(text, &high, &max) == 0) {
			pressure |= high > p->events_high || max > p->events_max;
			p->events_high = high;
			p->events_max = max;
		}
	}
	return pressure;
}

/* ---- actions ------------------------------------------------------------------ */

static void zd_policy_count_sgv(struct zd_policy *p, uint64_t pages)
{
	if (pages) {
		zfs_mem_policy_count(p->cfg.mem, ZFS_PC_SGV_PURGES, 1);
		zfs_mem_policy_count(p->cfg.mem, ZFS_PC_SGV_PURGED_PAGES, pages);
	}
}

static void zd_policy_trim(struct zd_policy *p, unsigned keep)
{
	size_t bytes = buddy_trim(p->cfg.buddy, keep);

	if (bytes) {
		zfs_mem_policy_count(p->cfg.mem, ZFS_PC_BUDDY_TRIMS, 1);
		zfs_mem_policy_count(p->cfg.mem, ZFS_PC_BUDDY_TRIMMED_BYTES, bytes);
	}
}

static void zd_policy_tick(struct zd_policy *p)
{
	struct tmem_stats ts;
	unsigned idle_ticks = p->cfg.idle_ticks ? p->cfg.idle_ticks : ZD_POLICY_IDLE_TICKS;
	uint64_t activity;

	atomic_fetch_add(&p->ticks, 1);
	zd_policy_count_sgv(p, sgv_ctx_purge(p->cfg.sgv, sgv_ctx_now(p->cfg.sgv)));
	zfs_mem_compact_auto(p->cfg.mem,
			 p->cfg.compact_percent ? p->cfg.compact_percent : ZD_POLICY_COMPACT_PERCENT,
			 p->cfg.compact_min_bytes ? p->cfg.compact_min_bytes
						  : ZD_POLICY_COMPACT_MIN_BYTES);
	zfs_mem_used(p->cfg.mem);
	tmem_stats(p->cfg.store, &ts);
	activity = ts.puts + ts.gets + ts.flushes;
	if (activity != p->last_activity) {
		p->last_activity = activity;
		p->idle = 0;
	} else if (++p->idle == idle_ticks) {
		if (p->cfg.pam)
			pam_shrink(p->cfg.pam);
		zd_policy_trim(p, 1);
	}
}

/* React to system memory pressure, at most once per period: a signal
 * inside that time is kept pending and acted on once the period is over. */
static void zd_policy_react(struct zd_policy *p)
{
	double now = zd_policy_now(), period = (p->cfg.period_ms ? p->cfg.period_ms
								 : ZD_POLICY_PERIOD_MS) / 1000.0;
	uint64_t used, want, files, before;
	size_t xcf = 0;

	if (atomic_load(&p->reactions) && now - p->last_reaction < period) {
		p->pending = 1;
		return;
	}
	p->pending = 0;
	p->last_reaction = now;
	atomic_fetch_add(&p->reactions, 1);
	zfs_mem_policy_count(p->cfg.mem, ZFS_PC_PRESSURE_EVENTS, 1);
	before = zfs_mem_used(p->cfg.mem);
	zd_policy_count_sgv(p, sgv_ctx_shrink(p->cfg.sgv, UINT64_MAX, sgv_ctx_now(p->cfg.sgv)));
	if (p->cfg.pam)
		xcf = pam_shrink(p->cfg.pam);
	zfs_mem_compact_auto(p->cfg.mem, ZFS_COMPACT_LIMIT_PERCENT, ZFS_COMPACT_MIN_BYTES);
	used = zfs_mem_used(p->cfg.mem);
	want = used / 8 > ZD_POLICY_EVICT_MIN ? used / 8 : ZD_POLICY_EVICT_MIN;
	files = zfs_mem_evict_bytes(p->cfg.mem, want);
	zfs_mem_policy_count(p->cfg.mem, ZFS_PC_PRESSURE_EVICTIONS, files);
	zd_policy_trim(p, 0);
	if (p->cfg.log)
		zd_log_printf(p->cfg.log, ZD_LOG_INFO,
			      "memory pressure: mem_used %llu -> %llu bytes, %llu ephemeral files "
			      "evicted, %zu reserve bytes returned",
			      (unsigned long long)before,
			      (unsigned long long)zfs_mem_used(p->cfg.mem),
			      (unsigned long long)files, xcf);
}

/* ---- the thread ---------------------------------------------------------------- */

static void *zd_policy_main(void *arg)
{
	struct zd_policy *p = arg;
	unsigned period_ms = p->cfg.period_ms ? p->cfg.period_ms : ZD_POLICY_PERIOD_MS;
	double next = zd_policy_now() + period_ms / 1000.0;

	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = p->stop_fd, .events = POLLIN },
			{ .fd = p->psi_fd, .events = POLLPRI },
		};
		double now = zd_policy_now(), wake = next;
		int timeout, n, pressure = 0;

		/* The next tick, or the end of the rate limit of a pending
		 * reaction, whichever comes first. */
		if (p->pending && p->last_reaction + period_ms / 1000.0 < wake)
			wake = p->last_reaction + period_ms / 1000.0;
		timeout = now >= wake ? 0 : (int)((wake - now) * 1000.0) + 1;
		n = poll(fds, p->psi_fd >= 0 ? 2 : 1, timeout);

		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && (fds[0].revents & POLLIN))
			break;
		if (p->psi_fd >= 0 && (fds[1].revents & (POLLERR | POLLNVAL | POLLHUP))) {
			/* The trigger went away: fall back to reading avg10. */
			close(p->psi_fd);
			p->psi_fd = -1;
			atomic_store(&p->psi_mode, ZD_PSI_AVG10);
		} else if (p->psi_fd >= 0 && (fds[1].revents & POLLPRI)) {
			pressure = 1;
		}
		now = zd_policy_now();
		if (now >= next) {
			zfs_mem_policy_count(p->cfg.mem, ZFS_PC_RUNS, 1);
			zd_policy_tick(p);
			pressure |= zd_policy_poll_pressure(p);
			zfs_mem_policy_count(p->cfg.mem, ZFS_PC_RUNS, 1);
			next += period_ms / 1000.0;
			if (next < now)
				next = now + period_ms / 1000.0;
		}
		if (pressure)
			atomic_fetch_add(&p->pressure_signals, 1);
		if (pressure || p->pending) {
			zfs_mem_policy_count(p->cfg.mem, ZFS_PC_RUNS, 1);
			zd_policy_react(p);
			zfs_mem_policy_count(p->cfg.mem, ZFS_PC_RUNS, 1);
		}
	}
	if (p->psi_fd >= 0)
		close(p->psi_fd);
	p->psi_fd = -1;
	return NULL;
}

struct zd_policy *zd_policy_start(const struct zd_policy_config *cfg)
{
	struct zd_policy *p;
	int ret;

	if (!cfg || !cfg->mem || !cfg->store || !cfg->sgv || !cfg->buddy) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->psi_fd = -1;
	snprintf(p->psi_path, sizeof(p->psi_path), "%s",
		 cfg->psi_path ? cfg->psi_path : ZD_POLICY_PSI_PATH);
	if (cfg->events_path)
		snprintf(p->events_path, sizeof(p->events_path), "%s", cfg->events_path);
	else if (zd_policy_cgroup_events_path(p->events_path, sizeof(p->events_path)) < 0)
		p->events_path[0] = '\0';
	p->cfg.psi_path = p->psi_path;
	p->cfg.events_path = p->events_path;
	p->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (p->stop_fd < 0)
		goto err_free;
	/* Before the thread exists, so zd_policy_stats tells the watches at
	 * once; the thread owns psi_fd from here on. */
	zd_policy_open_psi(p);
	zd_policy_open_events(p);
	ret = pthread_create(&p->thread, NULL, zd_policy_main, p);
	if (ret) {
		errno = ret;
		goto err_close;
	}
	return p;
err_close:
	if (p->psi_fd >= 0)
		close(p->psi_fd);
	close(p->stop_fd);
err_free:
	ret = errno;
	free(p);
	errno = ret;
	return NULL;
}

void zd_policy_stop(struct zd_policy *p)
{
	uint64_t one = 1;

	if (!p)
		return;
	while (write(p->stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(p->thread, NULL);
	close(p->stop_fd);
	free(p);
}

void zd_policy_stats(struct zd_policy *p, struct zd_policy_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->ticks = atomic_load(&p->ticks);
	out->pressure_signals = atomic_load(&p->pressure_signals);
	out->reactions = atomic_load(&p->reactions);
	out->psi_mode = atomic_load(&p->psi_mode);
	out->have_events = atomic_load(&p->have_events);
}

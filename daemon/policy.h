/* policy.h - the daemon's memory policy thread: keeps the store within its
 * means while it runs, and gives memory back when the system runs short.
 *
 * Design.  One thread, owned by the daemon context (struct zcd), started
 * after the mount and joined before the store is torn down.  It sleeps in
 * poll() on an eventfd (the stop request) and, where permitted, a PSI
 * trigger, and wakes once per period (default 1 s) for a tick:
 *   1. sgv_ctx_purge(now): frees SGV vectors idle for their pool's purge
 *      interval (the cache's own timestamps; zfs-io and the PAM scratch
 *      pools);
 *   2. zfs_mem_compact_auto(compact_percent, compact_min_bytes): compacts the
 *      xcf pools when the free bytes inside their partly used pages are at
 *      least compact_percent of those pages and at least compact_min_bytes
 *      (zsmalloc's shrinker idea: compaction runs when it frees pages, not
 *      on a clock);
 *   3. zfs_mem_used(): samples mem_used so mem_used_max_bytes follows the
 *      store even when nobody reads the stats;
 *   4. after idle_ticks ticks without a put, get or flush: pam_shrink (the
 *      xcf reserve pages) and buddy_trim down to one spare chunk, once per
 *      idle stretch;
 *   5. without a PSI trigger: the fallback pressure checks below.
 * System memory pressure.  At start the thread opens psi_path
 * (/proc/pressure/memory) read-write and writes the trigger ("some 150000
 * 1000000": tasks stalled on memory for 150 ms within any 1 s window; a
 * process without CAP_SYS_RESOURCE may only use windows that are multiples
 * of 2 s, so the default trigger is retried as "some 150000 2000000"); the
 * kernel then raises POLLPRI on that descriptor.  Where triggers are not
 * permitted (no PSI, an unprivileged process before Linux 6.5, a read-only
 * /proc) it falls back to reading the file each tick and reacting when
 * "some avg10" is at least psi_avg10 percent.  Independently, when the
 * service's cgroup has a memory.events file (cgroup v2: the path comes from
 * /proc/self/cgroup), each tick compares its "high" and "max" counters with
 * the last reading: a rise means the cgroup hit memory.high (throttled) or
 * memory.max (reclaim before the OOM killer) - a pressure event too.
 * A reaction, at most one per period (a signal inside the period is kept
 * and acted on when it ends): shrink the SGV caches (sgv_ctx_shrink
 * of everything idle for SGV_MIN_SHRINK_INTERVAL), pam_shrink, compact if
 * it pays even a little (ZFS_COMPACT_LIMIT_PERCENT), evict closed files of
 * ephemeral pools, least recently used first, for an eighth of mem_used
 * (at least 1 MiB; persistent pools never lose data), and buddy_trim to no
 * spare chunk; logged at level info.
 * Every action is counted in the filesystem's policy counters
 * (zfs_mem_policy_count), which /.zcache/stats, metrics and stats.json show.
 *
 * Threads and locks: the policy thread holds no lock of its own while it
 * calls the modules, which are all thread safe against the FUSE workers;
 * struct zd_policy's fields are written by the thread only, except the
 * stats (atomics).  zd_policy_start and zd_policy_stop are called by the
 * daemon's main thread only.
 */
#ifndef ZC_DAEMON_POLICY_H
#define ZC_DAEMON_POLICY_H

#include <stdint.h>

struct zfs_mem;
struct sgv_ctx;
struct pam;
struct buddy;
struct tmem_store;
struct zd_log;

#define ZD_POLICY_PERIOD_MS 1000u
#define ZD_POLICY_COMPACT_PERCENT 25u			/* of partly used xcf pages */
#define ZD_POLICY_COMPACT_MIN_BYTES ((uint64_t)1 << 20)	/* free inside them */
#define ZD_POLICY_IDLE_TICKS 5u
#define ZD_POLICY_PSI_PATH "/proc/pressure/memory"
#define ZD_POLICY_PSI_TRIGGER "some 150000 1000000"
#define ZD_POLICY_PSI_TRIGGER_UNPRIV "some 150000 2000000"	/* no CAP_SYS_RESOURCE */
#define ZD_POLICY_PSI_AVG10 10.0			/* percent, fallback */
#define ZD_POLICY_EVICT_MIN ((uint64_t)1 << 20)		/* per reaction */

/* What zd_policy_start needs; every pointer must outlive the thread.
 * Zero fields take the defaults above. */
struct zd_policy_config {
	struct zfs_mem *mem;		/* required: the filesystem's memory account
					   (fuse/mem.h) */
	struct tmem_store *store;	/* required: idleness (puts/gets/flushes) */
	struct sgv_ctx *sgv;		/* required */
	struct buddy *buddy;		/* required */
	struct pam *pam;		/* optional: reserve shrinking */
	struct zd_log *log;		/* optional */
	unsigned period_ms;
	unsigned compact_percent;
	uint64_t compact_min_bytes;
	unsigned idle_ticks;
	const char *psi_path;		/* NULL: ZD_POLICY_PSI_PATH; "": no PSI */
	const char *psi_trigger;	/* NULL: ZD_POLICY_PSI_TRIGGER; "": no trigger,
					   read avg10 every tick */
	double psi_avg10;		/* fallback threshold, percent */
	const char *events_path;	/* NULL: the cgroup's memory.events; "": none */
};

/* How pressure is watched. */
enum zd_policy_psi_mode {
	ZD_PSI_NONE = 0,	/* no PSI file */
	ZD_PSI_TRIGGER = 1,	/* a kernel trigger, poll()ed */
	ZD_PSI_AVG10 = 2,	/* the avg10 figure, read every tick */
};

/* The thread's own figures (the actions' counters live in the filesystem's
 * stats).  Read without a lock: each field is exact on its own. */
struct zd_policy_stats {
	uint64_t ticks;			/* periods run */
	uint64_t pressure_signals;	/* pressure seen (reactions may be fewer) */
	uint64_t reactions;		/* reactions run */
	int psi_mode;			/* enum zd_policy_psi_mode */
	int have_events;		/* a memory.events file is watched */
};

struct zd_policy;

/* Start the thread (its first tick one period later).  Returns the policy,
 * or NULL with errno EINVAL (a required pointer missing) or the error of
 * eventfd or pthread_create; nothing is left running or open then.  A
 * missing PSI file or cgroup file is no error: that watch is left out (see
 * zd_policy_stats). */
struct zd_policy *zd_policy_start(const struct zd_policy_config *cfg);

/* Stop the thread (wake it, join it) and free the policy.  Returns after
 * any tick or reaction in progress has finished.  zd_policy_stop(NULL)
 * does nothing. */
void zd_policy_stop(struct zd_policy *p);

/* Fill *out.  Thread safe. */
void zd_policy_stats(struct zd_policy *p, struct zd_policy_stats *out);

/* Parse the text of a PSI file (/proc/pressure/memory): the avg10 figure of
 * its "some" line into *avg10.  Returns 0 or -EINVAL (*avg10 untouched).
 * Pure; exposed for tests. */
int zd_policy_parse_psi(const char *text, double *avg10);

/* Parse the text of a cgroup memory.events file: the "high" and "max"
 * counters into *high and *max (0 when a line is absent).  Returns 0, or
 * -EINVAL when neither line is present.  Pure; exposed for tests. */
int zd_policy_parse_events(const char *text, uint64_t *high, uint64_t *max);

/* The memory.events path of the cgroup v2 this process runs in, from
 * /proc/self/cgroup ("0::/PATH" -> /sys/fs/cgroup/PATH/memory.events),
 * into buf.  Returns 0 or a negative errno (-ENOENT: no cgroup v2 entry,
 * -ENAMETOOLONG). */
int zd_policy_cgroup_events_path(char *buf, unsigned len);

#endif /* ZC_DAEMON_POLICY_H */

/* options.h - the command line of zcached: parse, validate, explain.
 *
 * zcached takes the mount(8)-style command line that mount.fuse3 and fstab
 * produce as well as the one people type:
 *
 *     zcached [-f] [-d] [-s] [-o OPT[,OPT...]] MOUNTPOINT
 *     zcached SOURCE MOUNTPOINT -o OPTS          (mount -t fuse.zcached, fstab)
 *
 * Options of our own (DESIGN.md §2): mem_limit=SIZE (K/M/G/T suffixes, binary,
 * or N% of physical RAM; default 50%; 0 = no limit), compressor=NAME (as
 * codec_parse reads it), pool=persistent|ephemeral (the kind of new pools),
 * threads=N (FUSE worker threads, default: the number of CPUs),
 * uring=auto|on|off (the FUSE-over-io_uring transport, fuse/uring.h;
 * default auto: used when the kernel offers it),
 * densify=auto|off|CODEC (what idle files are repacked with, fuse/densify.h;
 * default auto) and densify_idle=SECONDS (how long a closed file must stay
 * unwritten first; default ZFS_DENSIFY_IDLE_DEFAULT, 0 = never in the
 * background), snapshot=PATH (the state image loaded before mounting
 * and written at a clean stop, fuse/state.h; a relative PATH is made
 * absolute against the working directory), and the backing tier's
 * backing=PATH, backing_limit=SIZE, backing_budget=SIZE, backing_high=PCT,
 * backing_low=PCT and backing_compact=SIZE|off (fuse/tier.h; the path is only checked when the
 * daemon opens it).  FUSE's and
 * the VFS's own mount options (allow_other, ro, noatime, ...) are checked
 * against a list of the ones we accept and passed on to libfuse in
 * `fuse_opts`; default_permissions is always added.  mount(8)'s bookkeeping
 * options (defaults, auto, noauto, user, nouser, users, _netdev, nofail,
 * x-*, comment=...) are accepted and dropped.
 *
 * Everything parsed lands in one struct zd_options that the daemon context
 * owns; there is no global state.  Parsing never prints: a bad command line
 * yields -EINVAL and a one-line message naming the bad option in `err`; the
 * caller prints it and exits with status 2 (nothing is mounted).
 */
#ifndef ZC_DAEMON_OPTIONS_H
#define ZC_DAEMON_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

/* Exit status for a bad command line (as mount(8) and the brief want). */
#define ZD_EXIT_USAGE 2

struct zd_options {
	char *mountpoint;	/* owned; NULL until parsed */
	char *fuse_opts;	/* owned: comma list for fuse_session_new */
	int foreground;		/* -f: stay in the foreground */
	int debug;		/* -d: FUSE debug output (implies -f) */
	int help;		/* -h, --help */
	int version;		/* -V, --version */
	uint64_t mem_limit;	/* bytes; 0 = unlimited */
	unsigned codec;		/* codec id (compress/codec.h) for new pools */
	int ephemeral;		/* pool=ephemeral: new pools are ephemeral */
	unsigned threads;	/* FUSE worker threads, >= 1 */
	int uring;		/* uring=auto|on|off: enum zfs_uring_mode */
	uint64_t densify;	/* densify= (fuse/densify.h zfs_densify_parse) */
	unsigned densify_idle;	/* densify_idle=, seconds; 0 = no background densify */
	char *spill;		/* owned: spill= memcached servers (fuse/spill.h
				   list, checked), NULL = no far tier */
	int no_open;		/* open=off: OPEN answered ENOSYS (fuse/ops.h) */
	char *snapshot;		/* snapshot=PATH, made absolute; owned; NULL: none */
	/* The backing tier (fuse/tier.h): backing=PATH (owned; NULL: none),
	 * backing_limit=SIZE (0: the disk's), backing_budget=SIZE (bytes
	 * writeback may write, zram's writeback_limit; 0: no budget),
	 * backing_high=PCT and backing_low=PCT (watermarks, % of mem_limit;
	 * 0: ZFS_TIER_HIGH_DEFAULT and ZFS_TIER_LOW_DEFAULT). */
	char *backing;
	uint64_t backing_limit;
	uint64_t backing_budget;
	unsigned backing_high, backing_low;
	/* backing_compact=SIZE|off: sparse dead bytes that start compaction
	 * (fuse/tier.h zfs_tier_config.compact_min; 0: the default). */
	uint64_t backing_compact;
};

/* Fill *o with the defaults for a machine with `ram_bytes` of physical RAM
 * and `ncpus` CPUs, then parse argv[1..argc-1] over them.
 * Returns 0 on success (o->mountpoint may still be NULL when help or
 * version was asked for), -EINVAL for a bad command line with a one-line
 * message in err (NUL-terminated, truncated to errlen) such as
 *     bad value for mem_limit: "12Q" (expected SIZE[K|M|G|T] or N%)
 * or -ENOMEM.  On failure *o holds nothing that needs freeing.
 * Thread safe (no shared state). */
int zd_options_parse(struct zd_options *o, int argc, char **argv, uint64_t ram_bytes,
		     unsigned ncpus, char *err, size_t errlen);

/* Free what zd_options_parse allocated; the struct may be parsed again.
 * zd_options_free(NULL) does nothing. */
void zd_options_free(struct zd_options *o);

/* The text of --help (no trailing newline handling needed: it ends in one). */
const char *zd_options_usage(void);

#endif /* ZC_DAEMON_OPTIONS_H */

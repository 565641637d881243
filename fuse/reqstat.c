/* reqstat.c - FUSE request statistics (see reqstat.h).
 *
 * The registry is a mutex and a singly linked list of per-thread blocks,
 * newest first.  Blocks are only ever added (or handed out again), never
 * unlinked before zfs_reqstats_destroy, so a sum walks a list that only
 * grows at its head.
 */
#include "fuse/reqstat.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct zfs_reqstats {
	pthread_mutex_t lock;
	struct zfs_reqstat_thread *blocks;	/* protected by lock */
};

struct zfs_reqstats *zfs_reqstats_create(void)
{
	struct zfs_reqstats *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return NULL;
	if (pthread_mutex_init(&rs->lock, NULL) != 0) {
		free(rs);
		return NULL;
	}
	return rs;
}

void zfs_reqstats_destroy(struct zfs_reqstats *rs)
{
	struct zfs_reqstat_thread *t;

	if (!rs)
		return;
	while ((t = rs->blocks)) {
		rs->blocks = t->next;
		free(t);
	}
	pthread_mutex_destroy(&rs->lock);
	free(rs);
}

struct zfs_reqstat_thread *zfs_reqstat_thread_get(struct zfs_reqstats *rs)
{
	struct zfs_reqstat_thread *t;

	pthread_mutex_lock(&rs->lock);
	for (t = rs->blocks; t; t = t->next)
		if (!t->in_use)
			break;
	if (!t) {
		/* calloc: all-zero bytes are zero atomics on every target we build for. */
		t = calloc(1, sizeof(*t));
		if (t) {
			t->next = rs->blocks;
			rs->blocks = t;
		}
	}
	if (t)
		t->in_use = 1;
	pthread_mutex_unlock(&rs->lock);
	return t;
}

void zfs_reqstat_thread_put(struct zfs_reqstats *rs, struct zfs_reqstat_thread *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&rs->lock);
	t->in_use = 0;
	pthread_mutex_unlock(&rs->lock);
}

void zfs_reqstats_sum(struct zfs_reqstats *rs, struct zfs_reqstat_sum *out)
{
	struct zfs_reqstat_thread *t;
	unsigned k, b;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&rs->lock);
	for (t = rs->blocks; t; t = t->next) {
		for (k = 0; k < ZFS_REQSTAT_NOPS; k++) {
			const struct zfs_reqstat_cell *c = &t->op[k];
			struct zfs_reqstat_op *o = &out->op[k];
			uint64_t max = atomic_load_explicit(&c->max_ns, memory_order_relaxed);

			o->count += atomic_load_explicit(&c->count, memory_order_relaxed);
			o->total_ns += atomic_load_explicit(&c->total_ns, memory_order_relaxed);
			if (max > o->max_ns)
				o->max_ns = max;
			for (b = 0; b < ZFS_REQSTAT_BUCKETS; b++)
				o->hist[b] += atomic_load_explicit(&c->hist[b], memory_order_relaxed);
		}
	}
	pthread_mutex_unlock(&rs->lock);
}

void zfs_reqstat_total(const struct zfs_reqstat_sum *s, struct zfs_reqstat_op *out)
{
	unsigned k, b;

	memset(out, 0, sizeof(*out));
	for (k = 0; k < ZFS_REQSTAT_NOPS; k++) {
		const struct zfs_reqstat_op *o = &s->op[k];

		out->count += o->count;
		out->total_ns += o->total_ns;
		if (o->max_ns > out->max_ns)
			out->max_ns = o->max_ns;
		for (b = 0; b < ZFS_REQSTAT_BUCKETS; b++)
			out->hist[b] += o->hist[b];
	}
}

/* linux/fuse.h's opcodes, by number (the names are the protocol's; the
 * numbers do not change). */
static const char *const zfs_reqstat_names[ZFS_REQSTAT_NOPS] = {
	[1] = "lookup",		[2] = "forget",		[3] = "getattr",
	[4] = "setattr",	[5] = "readlink",	[6] = "symlink",
	[8] = "mknod",		[9] = "mkdir",		[10] = "unlink",
	[11] = "rmdir",		[12] = "rename",	[13] = "link",
	[14] = "open",		[15] = "read",		[16] = "write",
	[17] = "statfs",	[18] = "release",	[20] = "fsync",
	[21] = "setxattr",	[22] = "getxattr",	[23] = "listxattr",
	[24] = "removexattr",	[25] = "flush",		[26] = "init",
	[27] = "opendir",	[28] = "readdir",	[29] = "releasedir",
	[30] = "fsyncdir",	[31] = "getlk",		[32] = "setlk",
	[33] = "setlkw",	[34] = "access",	[35] = "create",
	[36] = "interrupt",	[37] = "bmap",		[38] = "destroy",
	[39] = "ioctl",		[40] = "poll",		[41] = "notify_reply",
	[42] = "batch_forget",	[43] = "fallocate",	[44] = "readdirplus",
	[45] = "rename2",	[46] = "lseek",		[47] = "copy_file_range",
	[48] = "setupmapping",	[49] = "removemapping",	[50] = "syncfs",
	[51] = "tmpfile",	[52] = "statx",		[53] = "copy_file_range_64",
	/* Numbers the protocol does not use (yet): named by number. */
	[7] = "op7",		[19] = "op19",		[54] = "op54",
	[55] = "op55",		[56] = "op56",		[57] = "op57",
	[58] = "op58",		[59] = "op59",		[60] = "op60",
	[61] = "op61",		[62] = "op62",		[63] = "op63",
};

const char *zfs_reqstat_opname(uint32_t opcode)
{
	if (opcode == 0 || opcode >= ZFS_REQSTAT_NOPS)
		return "other";
	return zfs_reqstat_names[opcode];
}

uint64_t zfs_reqstat_bucket_le_us(unsigned b)
{
	return b + 1 < ZFS_REQSTAT_BUCKETS ? (uint64_t)1 << b : 0;
}

/* zfs.c - the zcached filesystem object: create, destroy, check (see zfs.h).
 *
 * zfs_create sets the parts up bottom first (the root pool, the namespace,
 * the notifier, the memory account, the data path, the request
 * statistics, the densifier, with a backing file the tier, the /.zcache
 * tree, the table of open handles) and unwinds in reverse on failure;
 * zfs_start starts the densifier's thread, the tier's writeback thread
 * and, with spill=, the far tier (after the daemon's fork, which threads
 * would not survive); zfs_destroy stops them and tears the parts down in
 * reverse.
 * The namespace's callbacks are the data path's (fuse/data.h), wrapped
 * here so a released file's spilled image is forgotten too (fuse/far.h).
 */
#include "fuse/zfs.h"

#include <errno.h>
#include <stdlib.h>

#include "compress/codec.h"
#include "fuse/far.h"
#include "fuse/reqstat.h"
#include "fuse/spill.h"
#include "tmem/tmem.h"

/* ---- the namespace's callbacks: the data path's, and the far tier's ---- */

static void zfs_fs_inode_release(void *priv, struct zfs_inode *inode)
{
	struct zfs *fs = priv;
	struct zfs_far *far = atomic_load(&fs->mem.far);

	zfs_data_ns_ops.inode_release(fs->cfg.store, inode);
	if (far)
		zfs_far_forget(far, inode->ino);
}

static void zfs_fs_pool_release(void *priv, struct zfs_pool *pool)
{
	struct zfs *fs = priv;

	zfs_data_ns_ops.pool_release(fs->cfg.store, pool);
}

static uint64_t zfs_fs_blocks(void *priv, struct zfs_inode *inode)
{
	struct zfs *fs = priv;

	return zfs_data_ns_ops.blocks(fs->cfg.store, inode);
}

static void zfs_fs_inode_move(void *priv, struct zfs_inode *inode, struct zfs_pool *from,
			      struct zfs_pool *to)
{
	struct zfs *fs = priv;

	zfs_data_ns_ops.inode_move(fs->cfg.store, inode, from, to);
}

static void zfs_fs_pool_adopt(void *priv, struct zfs_pool *pool)
{
	struct zfs *fs = priv;

	zfs_data_ns_ops.pool_adopt(fs->cfg.store, pool);
}

static const struct zfs_ns_ops zfs_fs_ns_ops = {
	.inode_release = zfs_fs_inode_release,
	.pool_release = zfs_fs_pool_release,
	.blocks = zfs_fs_blocks,
	.inode_move = zfs_fs_inode_move,
	.pool_adopt = zfs_fs_pool_adopt,
};

/* A spill= list must parse (zfs_start makes the tier). */
static int zfs_check_spill(const struct zfs_config *cfg)
{
	struct zfs_spill_addr a[ZFS_SPILL_SERVERS_MAX];

	if (!cfg->spill)
		return 0;
	return zfs_spill_parse_servers(cfg->spill, a, ZFS_SPILL_SERVERS_MAX, NULL, 0) < 0
		       ? -EINVAL : 0;
}

struct zfs *zfs_create(const struct zfs_config *cfg)
{
	struct zfs_ctl_config cc;
	struct zfs *fs;
	struct zfs_pool *root;
	int err = ENOMEM;

	if (!cfg || !cfg->store || !cfg->buddy || !cfg->sgv) {
		errno = EINVAL;
		return NULL;
	}
	if (codec_valid(cfg->codec) < 0 || zfs_check_spill(cfg) < 0 ||
	    (cfg->no_open && (cfg->ephemeral || cfg->spill))) {
		errno = EINVAL;
		return NULL;
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		goto err;
	fs->cfg = *cfg;
	/* The root is the default pool and always persistent (DESIGN.md §2);
	 * cfg->ephemeral is the kind of the pools made under it. */
	root = zfs_data_pool_new(cfg->store, 0, cfg->codec);
	if (!root) {
		err = errno;
		goto err_free;
	}
	fs->ns = zfs_ns_create(root, cfg->uid, cfg->gid, &zfs_fs_ns_ops, fs,
			       ZFS_CTL_NAME, ZFS_CTL_INO_ROOT);
	if (!fs->ns) {
		zfs_data_pool_discard(cfg->store, root);
		goto err_free;
	}
	if (cfg->no_open)
		zfs_ns_keep_known(fs->ns);
	if (zfs_notify_init(&fs->notify) < 0)
		goto err_ns;
	if (zfs_mem_init(&fs->mem, cfg->store, cfg->pam, fs->ns, &fs->notify, cfg->mem_limit) < 0)
		goto err_notify;
	err = -zfs_data_init(&fs->data, cfg->store, cfg->sgv, fs->ns, &fs->mem);
	if (err)
		goto err_mem;
	fs->data.ring = &fs->uring;
	fs->reqstats = zfs_reqstats_create();
	if (!fs->reqstats) {
		err = ENOMEM;
		goto err_data;
	}
	err = -zfs_densify_init(&fs->densify, cfg->store, fs->ns, cfg->densify_idle,
				cfg->densify ? cfg->densify
					     : zfs_densify_setting(ZFS_DENSIFY_AUTO, 0));
	if (err)
		goto err_reqstats;
	if (cfg->backing) {
		struct zfs_tier_config tc = {
			.backing = cfg->backing,
			.limit_bytes = cfg->backing_limit,
			.budget_bytes = cfg->backing_budget,
			.high = cfg->backing_high,
			.low = cfg->backing_low,
			.compact_min = cfg->backing_compact,
		};

		err = -zfs_tier_init(&fs->tier, cfg->store, cfg->pam, fs->ns, &fs->mem, &tc);
		if (err)
			goto err_densify;
		fs->have_tier = 1;
		zfs_mem_set_room(&fs->mem, zfs_tier_make_room, &fs->tier);
	}
	cc = (struct zfs_ctl_config){
		.store = cfg->store,
		.buddy = cfg->buddy,
		.sgv = cfg->sgv,
		.pam = cfg->pam,
		.slabs = cfg->slabs,
		.nslabs = cfg->nslabs,
		.codec = cfg->codec,
		.ns = fs->ns,
		.mem = &fs->mem,
		.io_pool = fs->data.io_pool,
		.ring = &fs->uring,
		.interrupts = &fs->interrupts,
		.reqstats = fs->reqstats,
		.densify = &fs->densify,
		.tier = fs->have_tier ? &fs->tier : NULL,
		.no_open = cfg->no_open,
	};
	err = -zfs_ctl_init(&fs->ctl, &cc);
	if (err)
		goto err_tier;
	err = -zfs_handles_init(&fs->handles);
	if (err) {
		zfs_ctl_fini(&fs->ctl);
		goto err_tier;
	}
	return fs;
err_tier:
	if (fs->have_tier)
		zfs_tier_fini(&fs->tier);
err_densify:
	zfs_densify_fini(&fs->densify);
err_reqstats:
	zfs_reqstats_destroy(fs->reqstats);
err_data:
	zfs_data_fini(&fs->data);
err_mem:
	zfs_mem_fini(&fs->mem);
err_notify:
	zfs_notify_fini(&fs->notify);
err_ns:
	/* ns frees its pools without callbacks: the root's tmem pool is ours. */
	tmem_destroy_pool(cfg->store, root->store_id);
	zfs_ns_destroy(fs->ns);
	err = err ? err : ENOMEM;
err_free:
	free(fs);
err:
	errno = err;
	return NULL;
}

static int zfs_destroy_pool_cb(void *arg, struct zfs_pool *pool)
{
	tmem_destroy_pool(arg, pool->store_id);
	return 0;
}

void zfs_destroy(struct zfs *fs)
{
	if (!fs)
		return;
	zfs_densify_fini(&fs->densify);	/* stops the thread first */
	if (fs->have_tier)
		zfs_tier_fini(&fs->tier);	/* its thread too */
	/* The far tier before the namespace: its pending stores complete. */
	zfs_far_destroy(atomic_exchange(&fs->mem.far, NULL));
	zfs_handles_fini(&fs->handles);
	zfs_ctl_fini(&fs->ctl);
	zfs_reqstats_destroy(fs->reqstats);
	/* Pools still listed (live ones; removed ones were released). */
	zfs_ns_pools_foreach(fs->ns, zfs_destroy_pool_cb, fs->cfg.store);
	zfs_ns_destroy(fs->ns);
	zfs_data_fini(&fs->data);
	zfs_mem_fini(&fs->mem);
	zfs_notify_fini(&fs->notify);
	free(fs);
}

/* Make the far tier (spill=) and publish it to eviction. */
static int zfs_start_far(struct zfs *fs)
{
	struct zfs_far_config fc = {
		.servers = fs->cfg.spill,
		.store = fs->cfg.store,
		.pam = fs->cfg.pam,
		.ns = fs->ns,
		.notify = &fs->notify,
		.evict_lock = &fs->mem.evict_lock,
	};
	struct zfs_far *far;

	if (!fs->cfg.spill || atomic_load(&fs->mem.far))
		return 0;
	far = zfs_far_create(&fc, NULL, 0);
	if (!far)
		return -errno;
	atomic_store(&fs->mem.far, far);
	return 0;
}

int zfs_start(struct zfs *fs)
{
	int ret = zfs_start_far(fs);

	if (ret == 0)
		ret = zfs_densify_start(&fs->densify);
	if (ret == 0 && fs->have_tier)
		ret = zfs_tier_start(&fs->tier);
	return ret;
}

void zfs_stop(struct zfs *fs)
{
	zfs_densify_stop(&fs->densify);
	if (fs->have_tier)
		zfs_tier_stop(&fs->tier);
}

static int zfs_ephemeral_cb(void *arg, struct zfs_pool *p)
{
	if (p->ephemeral)
		(*(unsigned *)arg)++;
	return 0;
}

unsigned zfs_ephemeral_pools(struct zfs *fs)
{
	unsigned n = 0;

	zfs_ns_pools_foreach(fs->ns, zfs_ephemeral_cb, &n);
	return n;
}

void zfs_set_session(struct zfs *fs, struct fuse_session *se)
{
	fs->notify.se = se;
}

int zfs_check(struct zfs *fs)
{
	struct zfs_far *far = atomic_load(&fs->mem.far);
	int ret = zfs_ns_check(fs->ns);

	if (ret == 0)
		ret = tmem_check(fs->cfg.store);
	if (ret == 0 && far)
		ret = zfs_far_check(far);
	return ret;
}

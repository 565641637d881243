/* ns_int.h - the namespace's private header: the structures and helpers
 * its files share (ns.c, ns_names.c, ns_xattr.c, ns_check.c).  Nothing
 * outside fuse/ns*.c includes it; ns.h is the manual.
 *
 * Design.  The namespace is one struct zfs_ns (the inode table, the
 * pools, the figures, the inodes' striped locks) and, per directory, a
 * struct zfs_dir of struct zfs_dirent (ns.h).  The helpers below are the
 * shared vocabulary of its files: the inode table (_zfs_ns_find,
 * _zfs_ns_table_*), a directory's two indexes (_zfs_ns_dir_*), inodes'
 * birth and death (_zfs_ns_inode_new, _zfs_ns_maybe_reap, _zfs_ns_reap) and
 * their attributes (_zfs_ns_stat_locked).  Every one of them expects
 * ns->lock held as it says (ns.h, the lock order); none takes it.
 */
#ifndef ZC_FUSE_NS_INT_H
#define ZC_FUSE_NS_INT_H

#include <assert.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "fuse/ns.h"

/* One per name; the name follows the 28-byte header unpadded. */
struct zfs_dirent {
	struct zfs_dirent *hnext;	/* name hash chain */
	uint64_t ino;
	uint64_t cookie;
	uint16_t namelen;		/* <= ZFS_NAME_MAX */
	uint16_t type;			/* S_IFMT bits of the inode */
	char name[];
};

#define ZFS_DIRENT_SIZE(n) (offsetof(struct zfs_dirent, name) + (n) + 1)
static_assert(ZFS_NAME_MAX <= UINT16_MAX && (S_IFMT >> 16) == 0, "dirent fields too small");
static_assert(sizeof(struct zfs_inode) == 152, "zfs_inode grew (1 spare byte at its end)");

struct zfs_ns {
	struct zfs_stripe stripes[ZFS_NS_STRIPES];	/* the inodes' locks */
	pthread_rwlock_t lock;
	struct zfs_inode **table;	/* protected by lock */
	size_t nbuckets;		/* power of two; protected by lock */
	uint64_t ninodes;		/* protected by lock */
	uint64_t next_ino;		/* protected by lock */
	uint64_t next_pool_id;		/* protected by lock */
	struct zfs_pool *pools;		/* protected by lock */
	uint64_t npools;		/* live pools; protected by lock */
	uint64_t count[4];		/* files, dirs, symlinks, others; protected by lock */
	uint64_t xattr_bytes;		/* protected by lock */
	uint64_t dirent_bytes;		/* protected by lock */
	_Atomic uint64_t ncaps;		/* security.capability attributes held;
					   changed under lock held, read without */
	struct zfs_ns_ops ops;		/* immutable */
	void *priv;			/* immutable */
	char *virt_name;		/* immutable */
	int keep_known;			/* zfs_ns_keep_known; set before serving */
	uint64_t virt_ino;		/* immutable */
};

struct zfs_reap {
	struct zfs_inode *inodes;	/* to free, chained through hnext */
	struct zfs_inode *data;		/* to release data only, chained through rnext */
	int pools;			/* a pool may have lost its last reference */
};

#define ZFS_FIRST_COOKIE 4

/* ---- small helpers (no lock needed) ---------------------------------------- */

static inline void _zfs_ns_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

/* The index of a type in ns->count: files, dirs, symlinks, others. */
static inline int _zfs_ns_type_index(mode_t mode)
{
	if (S_ISREG(mode))
		return 0;
	if (S_ISDIR(mode))
		return 1;
	if (S_ISLNK(mode))
		return 2;
	return 3;
}

/* Set an inode's ctime to now (takes its lock). */
static inline void _zfs_ns_ctime(struct zfs_inode *i)
{
	pthread_mutex_lock(&i->stripe->lock);
	_zfs_ns_now(&i->ctime);
	pthread_mutex_unlock(&i->stripe->lock);
}

/* The inode table's hash of a number (its bits from 32 up pick the bucket). */
static inline uint64_t _zfs_ns_hash_ino(uint64_t ino)
{
	return ino * 0x9e3779b97f4a7c15ull;
}

/* ---- the inode table (caller holds ns->lock; exclusively to change it) ----- */

/* The inode numbered `ino`, or NULL. */
struct zfs_inode *_zfs_ns_find(struct zfs_ns *ns, uint64_t ino);

/* Double the table.  Returns 0 or -ENOMEM (unchanged). */
int _zfs_ns_table_grow(struct zfs_ns *ns);

/* Hook an inode into the table (grown before, when it needed to). */
void _zfs_ns_table_insert(struct zfs_ns *ns, struct zfs_inode *i);

/* ---- directories (caller holds ns->lock; exclusively to change one) -------- */

/* The entry `name` of a directory, or NULL. */
struct zfs_dirent *_zfs_ns_dir_find(struct zfs_inode *dir, const char *name);

/* Make room for one more entry (both indexes) before anything changes.
 * Returns 0 or -ENOMEM. */
int _zfs_ns_dir_reserve(struct zfs_inode *dir);

/* A new entry (malloc: free it, or hand it to _zfs_ns_dir_add), or NULL. */
struct zfs_dirent *_zfs_ns_dirent_new(const char *name, uint64_t ino, mode_t type);

/* Add an entry; _zfs_ns_dir_reserve must have succeeded just before. */
void _zfs_ns_dir_add(struct zfs_ns *ns, struct zfs_inode *dir, struct zfs_dirent *d);

/* Unhook an entry from both indexes (the caller frees it). */
void _zfs_ns_dir_del(struct zfs_ns *ns, struct zfs_inode *dir, struct zfs_dirent *d);

/* ---- inodes ---------------------------------------------------------------- */

/* A new inode (not in the table yet, no pool), or NULL. */
struct zfs_inode *_zfs_ns_inode_new(struct zfs_ns *ns, mode_t mode, uid_t uid, gid_t gid,
				    dev_t rdev);

/* Free an inode and what it owns (its xattrs, target or directory). */
void _zfs_ns_inode_free(struct zfs_inode *i);

/* Put an inode on the reap list when no name, lookup or open is left
 * (its data only, when the kernel still knows it).  Caller must hold
 * ns->lock exclusively. */
void _zfs_ns_maybe_reap(struct zfs_ns *ns, struct zfs_inode *i, struct zfs_reap *r);

/* A regular file's data is gone for good: tell the filesystem layer, and
 * count the file out of its pool. */
void _zfs_ns_release_data(struct zfs_ns *ns, struct zfs_inode *i);

/* Run after dropping ns->lock: release, free, then unreference pools. */
void _zfs_ns_reap(struct zfs_ns *ns, struct zfs_reap *r);

/* Fill *st from an inode.  Caller must hold ns->lock (nlink). */
void _zfs_ns_stat_locked(struct zfs_ns *ns, struct zfs_inode *i, struct stat *st);

#endif /* ZC_FUSE_NS_INT_H */

/* ns_check.c - the namespace's invariants, walked and checked
 * (zfs_ns_check, see ns.h for the list).
 *
 * Design.  One pass under ns->lock held exclusively: pools and their
 * reference counts, then every inode of the table (its directory's
 * entries, parents, cookies, hash chains, nlink, the rule of homes), then
 * the figures (counts, bytes).  The first violation is printed to stderr
 * and ends the walk with -EUCLEAN.  O(n log n) in inodes and entries: for
 * tests and debug builds.
 */
#define FUSE_USE_VERSION 312
#include "fuse/ns_int.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

/* ---- invariants ------------------------------------------------------------ */

static int zfs_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#define ZFS_CHECK(cond, ...)                                                     \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "zfs_ns_check: " __VA_ARGS__);             \
			fputc('\n', stderr);                                       \
			ret = -EUCLEAN;                                            \
			goto out;                                                  \
		}                                                                  \
	} while (0)

int zfs_ns_check(struct zfs_ns *ns)
{
	uint64_t n = 0, counts[4] = { 0, 0, 0, 0 }, npools = 0, ncaps = 0;
	struct zfs_pool *p;
	size_t b, k;
	int ret = 0;

	pthread_rwlock_wrlock(&ns->lock);
	for (p = ns->pools; p; p = p->next) {
		if (!p->dir_gone)
			npools++;
	}
	ZFS_CHECK(npools == ns->npools, "npools %llu, list says %llu",
		  (unsigned long long)ns->npools, (unsigned long long)npools);
	/* Reference counts: every inode counts once in its pool. */
	for (p = ns->pools; p; p = p->next) {
		uint64_t refs = 0, files = 0;

		for (b = 0; b < ns->nbuckets; b++)
			for (struct zfs_inode *i = ns->table[b]; i; i = i->hnext)
				if (i->pool == p) {
					refs++;
					files += S_ISREG(i->mode) && !i->data_released;
				}
		/* (a file being reaped has left the table but is still counted
		 * until its release: at least, not exactly) */
		ZFS_CHECK(files <= atomic_load(&p->files), "pool %llu: %llu files at home, counter %llu",
			  (unsigned long long)p->id, (unsigned long long)files,
			  (unsigned long long)atomic_load(&p->files));
		ZFS_CHECK(refs <= p->refs, "pool %llu: %llu inodes but refs %llu",
			  (unsigned long long)p->id, (unsigned long long)refs,
			  (unsigned long long)p->refs);
		if (!p->dir_gone) {
			struct zfs_inode *d = _zfs_ns_find(ns, p->dir_ino);

			ZFS_CHECK(d && S_ISDIR(d->mode) && d->pool == p && d->nlink &&
					  (p->id == 0 ? d->ino == ZFS_ROOT_INO
						      : d->dx->parent == ZFS_ROOT_INO),
				  "pool %llu: its directory is not a live top-level directory of it",
				  (unsigned long long)p->id);
		}
	}
	for (b = 0; b < ns->nbuckets; b++) {
		for (struct zfs_inode *i = ns->table[b]; i; i = i->hnext) {
			uint64_t subdirs = 0;
			int found = 0;

			n++;
			counts[_zfs_ns_type_index(i->mode)]++;
			ZFS_CHECK((_zfs_ns_hash_ino(i->ino) >> 32 & (ns->nbuckets - 1)) == b,
				  "inode %llu in the wrong bucket", (unsigned long long)i->ino);
			ZFS_CHECK(i->ino < ns->next_ino, "inode %llu beyond the counter",
				  (unsigned long long)i->ino);
			for (p = ns->pools; p; p = p->next)
				found |= p == i->pool;
			ZFS_CHECK(found, "inode %llu: pool not in the list",
				  (unsigned long long)i->ino);
			ZFS_CHECK(i->nlink || atomic_load(&i->nlookup) || atomic_load(&i->nopen) ||
				  i->ino == ZFS_ROOT_INO,
				  "inode %llu unreferenced but alive", (unsigned long long)i->ino);
			for (struct zfs_xattr *x = i->xattrs; x; x = x->next)
				ncaps += !strcmp(x->name, ZFS_XATTR_CAPS);
			if (!S_ISDIR(i->mode))
				continue;
			for (k = 0; k < i->dx->dcount; k++) {
				struct zfs_dirent *d = i->dx->dents[k];
				struct zfs_inode *c = _zfs_ns_find(ns, d->ino);

				ZFS_CHECK(c, "dir %llu: entry %s names a dead inode",
					  (unsigned long long)i->ino, d->name);
				ZFS_CHECK(_zfs_ns_dir_find(i, d->name) == d,
					  "dir %llu: entry %s not in the name hash",
					  (unsigned long long)i->ino, d->name);
				ZFS_CHECK(k == 0 || i->dx->dents[k - 1]->cookie < d->cookie,
					  "dir %llu: cookies out of order", (unsigned long long)i->ino);
				ZFS_CHECK(d->cookie < i->dx->dnext_cookie && d->cookie >= ZFS_FIRST_COOKIE,
					  "dir %llu: cookie out of range", (unsigned long long)i->ino);
				ZFS_CHECK(d->type == (c->mode & S_IFMT), "dir %llu: %s has a stale type",
					  (unsigned long long)i->ino, d->name);
				ZFS_CHECK(c->nlink > 0, "dir %llu: %s names an unlinked inode",
					  (unsigned long long)i->ino, d->name);
				if (S_ISDIR(c->mode)) {
					subdirs++;
					ZFS_CHECK(c->dx->parent == i->ino, "dir %llu: parent of %s is %llu",
						  (unsigned long long)i->ino, d->name,
						  (unsigned long long)c->dx->parent);
				}
				ZFS_CHECK(!S_ISDIR(c->mode) ||
						  c->pool == (i->ino == ZFS_ROOT_INO ? c->pool : i->pool),
					  "dir %llu: directory %s in the wrong pool",
					  (unsigned long long)i->ino, d->name);
				ZFS_CHECK(!S_ISDIR(c->mode) || i->ino != ZFS_ROOT_INO ||
						  (c->pool->dir_ino == c->ino && !c->pool->dir_gone),
					  "directory %s of the root is not a live pool's", d->name);
			}
			ZFS_CHECK(subdirs == i->dx->nsubdirs, "dir %llu: nsubdirs %llu, found %llu",
				  (unsigned long long)i->ino, (unsigned long long)i->dx->nsubdirs,
				  (unsigned long long)subdirs);
			ZFS_CHECK(i->nlink == 0 || i->nlink == 2 + subdirs,
				  "dir %llu: nlink %llu with %llu subdirectories",
				  (unsigned long long)i->ino, (unsigned long long)i->nlink,
				  (unsigned long long)subdirs);
		}
	}
	ZFS_CHECK(ncaps == atomic_load(&ns->ncaps), "%llu capability attributes, counter %llu",
		  (unsigned long long)ncaps, (unsigned long long)atomic_load(&ns->ncaps));
	ZFS_CHECK(n == ns->ninodes, "table holds %llu inodes, counter says %llu",
		  (unsigned long long)n, (unsigned long long)ns->ninodes);
	for (k = 0; k < 4; k++)
		ZFS_CHECK(counts[k] == ns->count[k], "type %zu: %llu inodes, counter %llu", k,
			  (unsigned long long)counts[k], (unsigned long long)ns->count[k]);
	/* Non-directory link counts equal the names found, and homes keep
	 * their rule (ns.h, "Homes"): hnames is the number of names in the
	 * home, at least one while the file has names, and a file with a name
	 * in a persistent pool is at home in a persistent pool.  Every
	 * non-directory entry's number and pool, sorted, then counted in runs
	 * (O(n log n)). */
	{
		struct zfs_name_ref {
			uint64_t ino;
			struct zfs_pool *pool;
		} *names;
		uint64_t total = 0, pos = 0;

		for (b = 0; b < ns->nbuckets; b++)
			for (struct zfs_inode *d = ns->table[b]; d; d = d->hnext)
				total += S_ISDIR(d->mode) ? d->dx->dcount : 0;
		names = malloc((total ? total : 1) * sizeof(*names));
		ZFS_CHECK(names, "out of memory");
		for (b = 0; b < ns->nbuckets; b++)
			for (struct zfs_inode *d = ns->table[b]; d; d = d->hnext)
				for (k = 0; S_ISDIR(d->mode) && k < d->dx->dcount; k++)
					if (!S_ISDIR(d->dx->dents[k]->type)) {
						names[pos].ino = d->dx->dents[k]->ino;
						names[pos++].pool = d->pool;
					}
		total = pos;
		qsort(names, total, sizeof(*names), zfs_cmp_u64);	/* ino is the first field */
		for (b = 0; b < ns->nbuckets && ret == 0; b++) {
			for (struct zfs_inode *i = ns->table[b]; i && ret == 0; i = i->hnext) {
				uint64_t lo = 0, hi = total, count = 0, home = 0, pers = 0;

				if (S_ISDIR(i->mode))
					continue;
				while (lo < hi) {	/* first entry >= ino */
					uint64_t mid = lo + (hi - lo) / 2;

					if (names[mid].ino < i->ino)
						lo = mid + 1;
					else
						hi = mid;
				}
				for (; lo + count < total && names[lo + count].ino == i->ino; count++) {
					home += names[lo + count].pool == i->pool;
					pers += !names[lo + count].pool->ephemeral;
				}
				if (count != i->nlink || home != i->hnames || (count && !home) ||
				    (pers && i->pool->ephemeral)) {
					fprintf(stderr,
						"zfs_ns_check: inode %llu: nlink %llu, names %llu, "
						"%llu at home (hnames %llu), %llu in persistent pools, "
						"home %s\n",
						(unsigned long long)i->ino, (unsigned long long)i->nlink,
						(unsigned long long)count, (unsigned long long)home,
						(unsigned long long)i->hnames, (unsigned long long)pers,
						i->pool->ephemeral ? "ephemeral" : "persistent");
					ret = -EUCLEAN;
				}
			}
		}
		free(names);
	}
out:
	pthread_rwlock_unlock(&ns->lock);
	return ret;
}


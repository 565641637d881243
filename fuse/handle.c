/* handle.c - the file handle table (see handle.h).
 *
 * An fh is generation << 32 | (index + 1).  A slot's generation is odd
 * while it is open and even while free, and moves on at every open and
 * close, so an fh names exactly one open of one slot: after its close (or
 * the slot's reuse) the generations differ and zfs_handle_get answers
 * NULL.  Generations wrap after 2^31 opens of one slot; an fh kept that
 * long would be a kernel bug.
 */
#include "fuse/handle.h"

#include <errno.h>
#include <stdlib.h>

int zfs_handles_init(struct zfs_handles *h)
{
	for (unsigned k = 0; k < ZFS_HANDLE_CHUNKS; k++)
		atomic_init(&h->chunks[k], NULL);
	h->nslots = 0;
	h->free_head = 0;
	atomic_init(&h->open, 0);
	return pthread_mutex_init(&h->lock, NULL) ? -ENOMEM : 0;
}

void zfs_handles_fini(struct zfs_handles *h)
{
	for (unsigned k = 0; k < ZFS_HANDLE_CHUNKS; k++)
		free(atomic_load(&h->chunks[k]));
	pthread_mutex_destroy(&h->lock);
}

static struct zfs_handle_slot *zfs_handle_slot(struct zfs_handles *h, uint32_t idx)
{
	struct zfs_handle_slot *c;

	if (idx >= ZFS_HANDLE_CHUNK * ZFS_HANDLE_CHUNKS)
		return NULL;
	c = atomic_load_explicit(&h->chunks[idx / ZFS_HANDLE_CHUNK], memory_order_acquire);
	return c ? &c[idx % ZFS_HANDLE_CHUNK] : NULL;
}

int zfs_handle_open(struct zfs_handles *h, struct zfs_inode *inode, uint64_t *fh)
{
	struct zfs_handle_slot *s;
	uint32_t idx, gen;

	pthread_mutex_lock(&h->lock);
	if (h->free_head) {
		idx = h->free_head - 1;
		s = zfs_handle_slot(h, idx);
		h->free_head = s->next_free;
	} else {
		idx = h->nslots;
		if (idx >= ZFS_HANDLE_CHUNK * ZFS_HANDLE_CHUNKS) {
			pthread_mutex_unlock(&h->lock);
			return -ENFILE;
		}
		if (idx % ZFS_HANDLE_CHUNK == 0) {
			struct zfs_handle_slot *c = calloc(ZFS_HANDLE_CHUNK, sizeof(*c));

			if (!c) {
				pthread_mutex_unlock(&h->lock);
				return -ENOMEM;
			}
			atomic_store_explicit(&h->chunks[idx / ZFS_HANDLE_CHUNK], c,
					      memory_order_release);
		}
		h->nslots++;
		s = zfs_handle_slot(h, idx);
	}
	s->next_free = 0;
	atomic_store_explicit(&s->inode, inode, memory_order_relaxed);
	gen = atomic_load_explicit(&s->gen, memory_order_relaxed) + 1;	/* odd: open */
	atomic_store_explicit(&s->gen, gen, memory_order_release);
	pthread_mutex_unlock(&h->lock);
	atomic_fetch_add_explicit(&h->open, 1, memory_order_relaxed);
	*fh = (uint64_t)gen << 32 | (idx + 1);
	return 0;
}

struct zfs_inode *zfs_handle_get(struct zfs_handles *h, uint64_t fh)
{
	uint32_t idx = (uint32_t)fh, gen = (uint32_t)(fh >> 32);
	struct zfs_handle_slot *s;
	struct zfs_inode *inode;

	if (idx == 0 || !(gen & 1))
		return NULL;
	s = zfs_handle_slot(h, idx - 1);
	if (!s || atomic_load_explicit(&s->gen, memory_order_acquire) != gen)
		return NULL;
	inode = atomic_load_explicit(&s->inode, memory_order_relaxed);
	/* A close between the two loads moves the generation on. */
	return atomic_load_explicit(&s->gen, memory_order_acquire) == gen ? inode : NULL;
}

struct zfs_inode *zfs_handle_close(struct zfs_handles *h, uint64_t fh)
{
	uint32_t idx = (uint32_t)fh, gen = (uint32_t)(fh >> 32);
	struct zfs_handle_slot *s;
	struct zfs_inode *inode = NULL;

	if (idx == 0 || !(gen & 1))
		return NULL;
	pthread_mutex_lock(&h->lock);
	s = zfs_handle_slot(h, idx - 1);
	if (s && atomic_load_explicit(&s->gen, memory_order_relaxed) == gen) {
		inode = atomic_load_explicit(&s->inode, memory_order_relaxed);
		atomic_store_explicit(&s->inode, NULL, memory_order_relaxed);
		atomic_store_explicit(&s->gen, gen + 1, memory_order_release);	/* even: free */
		s->next_free = h->free_head;
		h->free_head = idx;
	}
	pthread_mutex_unlock(&h->lock);
	if (inode)
		atomic_fetch_sub_explicit(&h->open, 1, memory_order_relaxed);
	return inode;
}

int zfs_handle_each(struct zfs_handles *h, int (*fn)(void *arg, uint64_t fh,
						     struct zfs_inode *inode), void *arg)
{
	int ret = 0;

	pthread_mutex_lock(&h->lock);
	for (uint32_t idx = 0; idx < h->nslots && ret == 0; idx++) {
		struct zfs_handle_slot *s = zfs_handle_slot(h, idx);
		uint32_t gen = atomic_load_explicit(&s->gen, memory_order_relaxed);

		if (gen & 1)
			ret = fn(arg, (uint64_t)gen << 32 | (idx + 1),
				 atomic_load_explicit(&s->inode, memory_order_relaxed));
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

int zfs_handle_adopt(struct zfs_handles *h, uint64_t fh, struct zfs_inode *inode)
{
	uint32_t idx = (uint32_t)fh, gen = (uint32_t)(fh >> 32);
	struct zfs_handle_slot *s;
	int ret = 0;

	if (idx == 0 || !(gen & 1) || idx > ZFS_HANDLE_CHUNK * ZFS_HANDLE_CHUNKS || !inode)
		return -EINVAL;
	idx--;
	pthread_mutex_lock(&h->lock);
	for (uint32_t c = 0; c <= idx / ZFS_HANDLE_CHUNK; c++) {
		if (atomic_load_explicit(&h->chunks[c], memory_order_relaxed))
			continue;
		s = calloc(ZFS_HANDLE_CHUNK, sizeof(*s));
		if (!s) {
			ret = -ENOMEM;
			goto out;
		}
		atomic_store_explicit(&h->chunks[c], s, memory_order_release);
	}
	s = zfs_handle_slot(h, idx);
	if (atomic_load_explicit(&s->gen, memory_order_relaxed) & 1) {
		ret = -EEXIST;
		goto out;
	}
	atomic_store_explicit(&s->inode, inode, memory_order_relaxed);
	atomic_store_explicit(&s->gen, gen, memory_order_release);
	if (idx >= h->nslots)
		h->nslots = idx + 1;
	atomic_fetch_add_explicit(&h->open, 1, memory_order_relaxed);
out:
	pthread_mutex_unlock(&h->lock);
	return ret;
}

void zfs_handle_adopt_done(struct zfs_handles *h)
{
	pthread_mutex_lock(&h->lock);
	h->free_head = 0;
	for (uint32_t idx = h->nslots; idx-- > 0; ) {
		struct zfs_handle_slot *s = zfs_handle_slot(h, idx);

		if (atomic_load_explicit(&s->gen, memory_order_relaxed) & 1)
			continue;
		s->next_free = h->free_head;
		h->free_head = idx + 1;
	}
	pthread_mutex_unlock(&h->lock);
}

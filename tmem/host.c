/* host.c - tmem's hostops: where the store's own nodes come from, on
 * malloc (tests, callers without caches) or on slab caches over a buddy
 * allocator (the daemon).
 *
 * Design note.  tmem never allocates its objects, objnodes and bucket
 * arrays itself: it calls the struct tmem_hostops it was created with,
 * under a bucket lock, so an allocator here must not call back into tmem.
 * The slab host keeps two caches, "tmem_obj" and "tmem_objnode", 8-byte
 * aligned so objects keep their exact sizes (96 and 136 bytes), and takes
 * bucket arrays (a power of two of bytes, 4 KiB and up) straight from the
 * buddy allocator, which wastes nothing on them.
 */
#include "tmem/tmem.h"

#include "alloc/buddy.h"
#include "alloc/slab.h"

#include <errno.h>
#include <stdlib.h>

/* ---- malloc hostops ------------------------------------------------- */

static void *tmem_malloc_obj_alloc(void *ctx)
{
	(void)ctx;
	return malloc(TMEM_OBJ_SIZE);
}

static void *tmem_malloc_objnode_alloc(void *ctx)
{
	(void)ctx;
	return malloc(TMEM_OBJNODE_SIZE);
}

static void tmem_malloc_node_free(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

static void *tmem_malloc_mem_alloc(void *ctx, size_t bytes)
{
	(void)ctx;
	return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
}

static void tmem_malloc_mem_free(void *ctx, void *p, size_t bytes)
{
	(void)ctx;
	(void)bytes;
	free(p);
}

const struct tmem_hostops tmem_malloc_hostops = {
	.obj_alloc = tmem_malloc_obj_alloc,
	.obj_free = tmem_malloc_node_free,
	.objnode_alloc = tmem_malloc_objnode_alloc,
	.objnode_free = tmem_malloc_node_free,
	.mem_alloc = tmem_malloc_mem_alloc,
	.mem_free = tmem_malloc_mem_free,
};

/* ---- slab hostops --------------------------------------------------- */

struct tmem_slab_host {
	struct buddy *b;
	struct slab_cache *objs;
	struct slab_cache *nodes;
};

static void *tmem_slab_obj_alloc(void *ctx)
{
	return slab_alloc(((struct tmem_slab_host *)ctx)->objs);
}

static void tmem_slab_obj_free(void *ctx, void *p)
{
	slab_free(((struct tmem_slab_host *)ctx)->objs, p);
}

static void *tmem_slab_objnode_alloc(void *ctx)
{
	return slab_alloc(((struct tmem_slab_host *)ctx)->nodes);
}

static void tmem_slab_objnode_free(void *ctx, void *p)
{
	slab_free(((struct tmem_slab_host *)ctx)->nodes, p);
}

static void *tmem_slab_mem_alloc(void *ctx, size_t bytes)
{
	return buddy_alloc(((struct tmem_slab_host *)ctx)->b, bytes);
}

static void tmem_slab_mem_free(void *ctx, void *p, size_t bytes)
{
	buddy_free(((struct tmem_slab_host *)ctx)->b, p, bytes);
}

const struct tmem_hostops tmem_slab_hostops = {
	.obj_alloc = tmem_slab_obj_alloc,
	.obj_free = tmem_slab_obj_free,
	.objnode_alloc = tmem_slab_objnode_alloc,
	.objnode_free = tmem_slab_objnode_free,
	.mem_alloc = tmem_slab_mem_alloc,
	.mem_free = tmem_slab_mem_free,
};

struct tmem_slab_host *tmem_slab_host_create(struct buddy *b)
{
	struct tmem_slab_host *h = calloc(1, sizeof(*h));
	if (!h)
		goto err;
	h->b = b;
	/* 8-byte alignment keeps the objects at their exact sizes. */
	h->objs = slab_create("tmem_obj", TMEM_OBJ_SIZE, 8, b);
	if (!h->objs)
		goto err_host;
	h->nodes = slab_create("tmem_objnode", TMEM_OBJNODE_SIZE, 8, b);
	if (!h->nodes)
		goto err_objs;
	return h;

err_objs:
	slab_destroy(h->objs);
err_host:
	free(h);
err:
	errno = ENOMEM;
	return NULL;
}

void tmem_slab_host_destroy(struct tmem_slab_host *h)
{
	if (!h)
		return;
	slab_destroy(h->nodes);
	slab_destroy(h->objs);
	free(h);
}

struct slab_cache *tmem_slab_host_cache(struct tmem_slab_host *h, int which)
{
	return which == 0 ? h->objs : which == 1 ? h->nodes : NULL;
}

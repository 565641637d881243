/* reqstat.h - FUSE request statistics: for every opcode, how many requests
 * were served, their total and longest service time, and a log2 histogram
 * of service times.
 *
 * Design.  Counting must cost nothing a benchmark can see, so there is no
 * shared counter: each thread that serves requests (a transport's worker)
 * owns a block of counters, struct zfs_reqstat_thread, that only it writes
 * - plain loads and stores (relaxed atomics, so a reader may look at any
 * time), no lock, no read-modify-write on a shared line.  The blocks are
 * registered in a list in the struct zfs_reqstats they came from; a reader
 * (the /.zcache/fuse file, metrics, stats.json) sums them under the list's
 * mutex, which writers never take.  A thread that stops hands its block
 * back (zfs_reqstat_thread_put); the counts stay in the sum, and the next
 * thread that asks for a block gets that one, so the list is as long as
 * the most threads that ever served at once.
 *
 * What a request's "service time" is: from the moment the transport has
 * received it to the moment its handler has returned, the reply written
 * (for requests that get none, like FORGET: the handler's return).  The
 * transport measures it (fuse/session.h: zfs_session_req_begin/_end, which
 * every transport calls, so /dev/fuse and io_uring report alike).  The
 * time the request spends in the kernel and the caller's wake-up are not
 * in it: a round trip is longer.
 *
 * Histogram: bucket 0 counts service times under 1 µs, bucket b (1 .. 22)
 * those from 2^(b-1) µs up to 2^b µs, bucket 23 those of 2^22 µs (4.2 s)
 * and more.  Opcodes are the kernel's (linux/fuse.h); an opcode of
 * ZFS_REQSTAT_NOPS or more is counted in slot 0, "other".
 *
 * Threads: zfs_reqstat_add only from the thread that owns the block;
 * everything else from any thread.
 */
#ifndef ZC_FUSE_REQSTAT_H
#define ZC_FUSE_REQSTAT_H

#include <stdatomic.h>
#include <stdint.h>

#define ZFS_REQSTAT_NOPS 64u		/* opcode slots; 0 = other */
#define ZFS_REQSTAT_BUCKETS 24u		/* log2 µs histogram, see above */

/* The figures kept per opcode, declared once: X(field, help). */
#define ZFS_REQSTAT_FIELDS(X)							\
	X(count, "requests served")						\
	X(total_ns, "their service times added, in nanoseconds")		\
	X(max_ns, "the longest service time, in nanoseconds")

/* One opcode's figures, summed. */
struct zfs_reqstat_op {
#define ZFS_REQSTAT_FIELD(f, help) uint64_t f;
	ZFS_REQSTAT_FIELDS(ZFS_REQSTAT_FIELD)
#undef ZFS_REQSTAT_FIELD
	uint64_t hist[ZFS_REQSTAT_BUCKETS];
};

/* Every opcode's figures, summed over the threads. */
struct zfs_reqstat_sum {
	struct zfs_reqstat_op op[ZFS_REQSTAT_NOPS];
};

/* One thread's block: written by its owner only (see the design note). */
struct zfs_reqstat_cell {
	_Atomic uint64_t count, total_ns, max_ns;
	_Atomic uint64_t hist[ZFS_REQSTAT_BUCKETS];
};

struct zfs_reqstat_thread {
	struct zfs_reqstat_cell op[ZFS_REQSTAT_NOPS];
	struct zfs_reqstat_thread *next;	/* the registry's list; protected by its lock */
	int in_use;				/* handed out; protected by the registry's lock */
};

struct zfs_reqstats;

/* A registry with no blocks.  Returns NULL on allocation failure. */
struct zfs_reqstats *zfs_reqstats_create(void);

/* Free the registry and every block.  No thread may still use a block.
 * NULL is accepted. */
void zfs_reqstats_destroy(struct zfs_reqstats *rs);

/* A block for the calling thread: one handed back earlier (its counts go
 * on adding up), else a new zeroed one.  Returns NULL on allocation
 * failure (the caller then counts nothing).  Thread safe. */
struct zfs_reqstat_thread *zfs_reqstat_thread_get(struct zfs_reqstats *rs);

/* Hand a block back; its counts stay in every sum.  NULL is accepted.
 * Thread safe. */
void zfs_reqstat_thread_put(struct zfs_reqstats *rs, struct zfs_reqstat_thread *t);

/* The histogram bucket of a service time of `ns` nanoseconds. */
static inline unsigned zfs_reqstat_bucket(uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned b = us ? 64u - (unsigned)__builtin_clzll(us) : 0u;

	return b < ZFS_REQSTAT_BUCKETS ? b : ZFS_REQSTAT_BUCKETS - 1;
}

/* Count one request of `opcode` served in `ns` nanoseconds.  Only the
 * thread that owns `t`; t == NULL counts nothing. */
static inline void zfs_reqstat_add(struct zfs_reqstat_thread *t, uint32_t opcode, uint64_t ns)
{
	struct zfs_reqstat_cell *c;
	unsigned b = zfs_reqstat_bucket(ns);

	if (!t)
		return;
	c = &t->op[opcode < ZFS_REQSTAT_NOPS ? opcode : 0];
	/* The owner is the only writer: load + store, no locked instruction. */
	atomic_store_explicit(&c->count, atomic_load_explicit(&c->count, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&c->total_ns,
			      atomic_load_explicit(&c->total_ns, memory_order_relaxed) + ns,
			      memory_order_relaxed);
	if (ns > atomic_load_explicit(&c->max_ns, memory_order_relaxed))
		atomic_store_explicit(&c->max_ns, ns, memory_order_relaxed);
	atomic_store_explicit(&c->hist[b],
			      atomic_load_explicit(&c->hist[b], memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* Sum every block into *out (overwritten).  Read while the owners count:
 * each figure is exact for some moment, but a request being counted may
 * show in one figure (count) and not yet in another (its bucket).  Thread
 * safe; takes the registry's lock, which no writer takes. */
void zfs_reqstats_sum(struct zfs_reqstats *rs, struct zfs_reqstat_sum *out);

/* Sum all opcodes of *s into one line (max is the largest). */
void zfs_reqstat_total(const struct zfs_reqstat_sum *s, struct zfs_reqstat_op *out);

/* The opcode's name as the statistics print it: lower case, as in
 * linux/fuse.h without the FUSE_ prefix ("lookup", "batch_forget"); "opN"
 * for a number the protocol does not use; "other" for slot 0 (opcodes of
 * ZFS_REQSTAT_NOPS and more).  Never NULL; distinct for every slot. */
const char *zfs_reqstat_opname(uint32_t opcode);

/* Upper bound of histogram bucket b in microseconds (1, 2, 4, ...), or 0
 * for the last one, which has none. */
uint64_t zfs_reqstat_bucket_le_us(unsigned b);

#endif /* ZC_FUSE_REQSTAT_H */

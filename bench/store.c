/* bench/store - the store (tmem + PAM + xcf + SGV + slab + buddy, built by
 * tmem/stack.h exactly as the daemon builds it, its raw threshold of 7/8
 * page included) against raw lz4 on the same pages in the same run.
 *
 *     build/bench/store [--corpus PAGE_IMAGE] [--seconds S]
 *
 * Every page of the image is put under (oid = page / 256, index = page %
 * 256), i.e. 1 MiB objects, then got back (a timed pass into a reused
 * buffer; an untimed pass verifies every page with memcmp), then flushed
 * object by object; with one thread, and with two threads on disjoint halves
 * (two persistent workers; their pages live under other object ids of the
 * same store).  The peer compresses every page with LZ4_compress_default and
 * decompresses it with LZ4_decompress_safe, per page, into a reused buffer.
 * A pass goes in chunks of 8 objects, and per chunk the peer, the one-thread
 * store and the two-thread store take turns (in alternating order), so all
 * three see the same machine and, on average, the same cache state; a
 * measurement repeats the pass until the peer has taken about --seconds
 * (default 0.5); every measurement is taken three times and the best
 * throughput of each kept (the machine is shared).  CPU-time ratios are
 * printed beside the wall-clock ones: on a busy machine they show what the
 * code costs, and the CPUs the two-thread run actually got.  Raw compression
 * on two threads (same halves, same turns) is measured too: its scaling is
 * the ceiling the machine allows put_2t_scaling at that moment.
 *
 * The store is measured warm: one untimed put + flush cycle (of both id
 * spaces) runs first and the buddy allocator keeps its freed chunks (a
 * reserve of BUDDY_KEEP chunks, the one setting that differs from the
 * daemon's stack), so the timed passes do not pay the kernel's first-touch
 * page faults (a long-running daemon does not either).  The cold first put
 * is printed too, as a plain line.
 *
 * Headline figures (lz4):
 *   put_vs_lz4                store put MB/s / LZ4_compress_default MB/s, 1 thread
 *   get_vs_lz4                store get MB/s / LZ4_decompress_safe MB/s, 1 thread
 *   put_2t_scaling            store put MB/s with 2 threads / with 1 thread
 *   store_mem_vs_compressed   store memory / sum of compressed page sizes
 * Store memory is everything the store holds for the data: xcf pool pages
 * (reserve included), raw pages, the xcf descriptor slabs and page tables,
 * tmem's object and objnode slabs and hash tables (PAM keeps no per-page
 * metadata: the pampd is all of it).  The sum of compressed sizes counts a
 * same-filled page as 0 bytes and a page that does not shrink below the
 * store's raw threshold (ZC_STACK_RAW_THRESHOLD, 7/8 page) as 4096, the
 * rule the store itself follows (the corpus README uses 3/4 page).  The
 * same numbers for zstd level 1 (peer: ZSTD_compressCCtx /
 * ZSTD_decompressDCtx) are printed as plain lines.
 *
 * Units (multi-page units, tmem_densify): the image is put with lz4, then
 * every object is densified group by group (16 pages: one zstd unit, or
 * lz4 units of runs of 4 pages in a full group and 8 in others,
 * tmem/stack.h; units only where they save memory) with the dense codec;
 * the peer compresses the same
 * pages in 64 KiB blocks with the same codec into a reused buffer (the
 * unit's own work, without the store around it), chunk by chunk in turn
 * with the store.  Then the dense objects are read back page by page in
 * order (the per-thread cache decodes each unit once) against the peer
 * decompressing each 64 KiB block, and one page at a time at random (a
 * unit decoded per read, lz4 only up to the page) against the peer
 * decompressing a random whole block per page:
 *   unit_put_vs_raw           densify MB/s / raw 64 KiB compress MB/s
 *   unit_get_vs_raw           in-order get MB/s / raw 64 KiB decompress MB/s
 *   unit_randget_vs_raw       random 4 KiB gets/s / raw 64 KiB decompresses/s
 * for lz4hc:9, the dense codec of an lz4 pool; zstd:9 (that of a zstd pool)
 * and lz4 are printed as plain lines, with the memory before and after.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lz4.h>
#include <lz4hc.h>
#include <zstd.h>

#include "alloc/slab.h"
#include "alloc/xcf.h"
#include "bench.h"
#include "compress/codec.h"
#include "compress/pam.h"
#include "tmem/stack.h"
#include "tmem/tmem.h"

#define PAGE 4096u
#define OBJ_PAGES 256u		/* 1 MiB objects */
#define REPS 3
#define CHUNK_OBJS 8		/* objects per chunk of a pass: 8 MiB */
#define CHUNK (CHUNK_OBJS * OBJ_PAGES)
#define BUDDY_KEEP 256		/* chunks kept mapped when free: the warm store */

static const char usage[] =
	"usage: store [--corpus PAGE_IMAGE] [--seconds S]\n"
	"Puts every 4 KiB page of the image into the store (tmem + PAM), gets and\n"
	"verifies every page, flushes, with one and two threads, and compares with\n"
	"raw lz4 (and zstd -1) on the same pages; then densifies 16-page groups\n"
	"into units (the daemon's: lz4 in runs of 4 or 8 pages, zstd whole)\n"
	"and reads them back against the raw codec on 64 KiB. Prints the figures\n"
	"put_vs_lz4, get_vs_lz4, put_2t_scaling, store_mem_vs_compressed,\n"
	"unit_put_vs_raw, unit_get_vs_raw and unit_randget_vs_raw.\n"
	"--seconds S: least time per measurement (default 0.5).\n";

static void die(const char *what, int err)
{
	fprintf(stderr, "store: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

/* ---- the store, as the daemon builds it ---------------------------------- */

struct rig {
	struct zc_stack *stack;
	struct pam *pam;		/* stack->pam */
	struct tmem_store *store;	/* stack->store */
	int pool;
};

static void rig_open(struct rig *r, unsigned codec)
{
	struct zc_stack_config cfg = { .buddy_reserve = BUDDY_KEEP };
	int rc;

	memset(r, 0, sizeof(*r));
	r->stack = zc_stack_create(&cfg);
	if (!r->stack)
		die("zc_stack_create", errno);
	r->pam = r->stack->pam;
	r->store = r->stack->store;
	r->pool = tmem_new_pool(r->store, TMEM_POOL_PERSISTENT);
	if (r->pool < 0)
		die("tmem_new_pool", r->pool);
	rc = tmem_pool_set_codec(r->store, r->pool, codec);
	if (rc)
		die("tmem_pool_set_codec", rc);
}

static void rig_close(struct rig *r)
{
	int rc = zc_stack_destroy(r->stack);

	if (rc < 0)
		die("zc_stack_destroy (a teardown check failed)", rc);
}

/* ---- the passes ------------------------------------------------------------ */

/* CPU seconds (summed over threads) of the last timed run, for the plain
 * lines that show how much of a wall-clock gap is the machine being shared. */
static double last_cpu;

enum op { OP_PUT, OP_GET, OP_VERIFY, OP_FLUSH, OP_PEER_COMPRESS };

#define PEER_SLOT (PAGE + 1024)

/* The peer's compression of one page into dst (PEER_SLOT bytes). */
static int peer_compress_page(unsigned codec, ZSTD_CCtx *cctx, const unsigned char *src,
			      unsigned char *dst)
{
	if (codec_id_type(codec) == CODEC_LZ4)
		return LZ4_compress_default((const char *)src, (char *)dst, PAGE, PEER_SLOT);
	return (int)ZSTD_compressCCtx(cctx, dst, PEER_SLOT, src, PAGE, codec_id_param(codec));
}

/* The peer's compression pass over pages [first, last), into a reused
 * buffer. */
static void peer_compress_pages(unsigned codec, ZSTD_CCtx *cctx, const unsigned char *img,
				size_t first, size_t last)
{
	unsigned char buf[PEER_SLOT];

	for (size_t i = first; i < last; i++)
		if (peer_compress_page(codec, cctx, img + i * PAGE, buf) <= 0)
			die("peer compress", EIO);
}

/* Object `obj` of id space `space`: the one-thread and two-thread runs keep
 * their pages in different spaces of the same store. */
static struct tmem_oid oid_of(size_t obj, unsigned space)
{
	struct tmem_oid o = { { (uint64_t)obj, space, 0 } };

	return o;
}

/* Pages [first, last) for put/get/verify; objects [first, last) for flush. */
static void run_op(struct rig *r, const unsigned char *img, enum op op, unsigned space,
		   size_t first, size_t last)
{
	unsigned char out[PAGE] __attribute__((aligned(64)));
	int rc;

	for (size_t i = first; i < last; i++) {
		struct tmem_oid o = oid_of(op == OP_FLUSH ? i : i / OBJ_PAGES, space);

		switch (op) {
		case OP_PUT:
			rc = tmem_put(r->store, r->pool, &o, (uint32_t)(i % OBJ_PAGES),
				      img + i * PAGE);
			if (rc)
				die("tmem_put", rc);
			break;
		case OP_GET:
			rc = tmem_get(r->store, r->pool, &o, (uint32_t)(i % OBJ_PAGES), out, 0);
			if (rc)
				die("tmem_get", rc);
			break;
		case OP_VERIFY:
			rc = tmem_get(r->store, r->pool, &o, (uint32_t)(i % OBJ_PAGES), out, 0);
			if (rc)
				die("tmem_get", rc);
			if (memcmp(out, img + i * PAGE, PAGE) != 0) {
				fprintf(stderr, "store: page %zu read back differs\n", i);
				exit(1);
			}
			break;
		case OP_FLUSH:
			if (tmem_flush_object(r->store, r->pool, &o) < 0)
				die("tmem_flush_object", -ENOENT);
			break;
		case OP_PEER_COMPRESS:
			die("run_op", EINVAL);	/* the team runs it itself */
		}
	}
}

/* The calling thread's CPU time, seconds. */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Run `op` on the calling thread; returns the wall time. */
static double timed_run(struct rig *r, const unsigned char *img, enum op op, unsigned space,
			size_t first, size_t last)
{
	double c0 = cpu_now(), t0 = bench_now(), t1;

	run_op(r, img, op, space, first, last);
	t1 = bench_now();
	last_cpu = cpu_now() - c0;
	return t1 - t0;
}

/* Two persistent worker threads that run one task each per round. */
struct task {
	struct rig *r;
	const unsigned char *img;
	enum op op;
	unsigned space;
	size_t first, last;
	double t0, t1, cpu;	/* the worker's own start, end and CPU seconds */
};

struct team {
	pthread_t th[2];
	pthread_barrier_t go, done;
	struct task task[2];
	int quit;
	unsigned codec;		/* for OP_PEER_COMPRESS */
	ZSTD_CCtx *cctx[2];	/* each worker's, for the zstd peer */
};

struct member {
	struct team *team;
	int id;
};

static void *member_main(void *arg)
{
	struct member *m = arg;
	struct team *tm = m->team;

	for (;;) {
		struct task *t = &tm->task[m->id];
		double c0;

		pthread_barrier_wait(&tm->go);
		if (tm->quit)
			break;
		c0 = cpu_now();
		t->t0 = bench_now();
		if (t->op == OP_PEER_COMPRESS)
			peer_compress_pages(tm->codec, tm->cctx[m->id], t->img, t->first, t->last);
		else
			run_op(t->r, t->img, t->op, t->space, t->first, t->last);
		t->t1 = bench_now();
		t->cpu = cpu_now() - c0;
		pthread_barrier_wait(&tm->done);
	}
	return NULL;
}

static struct member team_members[2];

static void team_start(struct team *tm, unsigned codec)
{
	memset(tm, 0, sizeof(*tm));
	tm->codec = codec;
	for (int i = 0; i < 2; i++) {
		tm->cctx[i] = ZSTD_createCCtx();
		if (!tm->cctx[i])
			die("ZSTD_createCCtx", ENOMEM);
	}
	pthread_barrier_init(&tm->go, NULL, 3);
	pthread_barrier_init(&tm->done, NULL, 3);
	for (int i = 0; i < 2; i++) {
		team_members[i] = (struct member){ .team = tm, .id = i };
		if (pthread_create(&tm->th[i], NULL, member_main, &team_members[i]))
			die("pthread_create", EAGAIN);
	}
}

static void team_stop(struct team *tm)
{
	tm->quit = 1;
	pthread_barrier_wait(&tm->go);
	for (int i = 0; i < 2; i++)
		pthread_join(tm->th[i], NULL);
	pthread_barrier_destroy(&tm->go);
	pthread_barrier_destroy(&tm->done);
	for (int i = 0; i < 2; i++)
		ZSTD_freeCCtx(tm->cctx[i]);
}

/* Run `op` over [first, last) with the two workers on disjoint halves (page
 * ranges split at an object boundary).  Returns the wall time from the
 * first worker's start to the last one's end (the main thread may be
 * descheduled meanwhile on a busy machine). */
static double team_run(struct team *tm, struct rig *r, const unsigned char *img, enum op op,
		       unsigned space, size_t first, size_t last)
{
	size_t mid = first + (last - first) / 2;
	double t0, t1;

	if (op != OP_FLUSH && op != OP_PEER_COMPRESS)
		mid = (mid + OBJ_PAGES - 1) / OBJ_PAGES * OBJ_PAGES;
	if (mid > last)
		mid = last;
	for (int i = 0; i < 2; i++)
		tm->task[i] = (struct task){ .r = r, .img = img, .op = op, .space = space,
					     .first = i ? mid : first, .last = i ? last : mid };
	pthread_barrier_wait(&tm->go);
	pthread_barrier_wait(&tm->done);
	t0 = tm->task[0].t0 < tm->task[1].t0 ? tm->task[0].t0 : tm->task[1].t0;
	t1 = tm->task[0].t1 > tm->task[1].t1 ? tm->task[0].t1 : tm->task[1].t1;
	last_cpu = tm->task[0].cpu + tm->task[1].cpu;
	return t1 - t0;
}

/* ---- the peer ---------------------------------------------------------------- */

struct peer {
	unsigned codec;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	unsigned char *comp;	/* every page compressed, packed */
	size_t *off;		/* where page i's bytes start in comp */
	int *len;
	size_t n;
};

static int peer_compress(struct peer *p, const unsigned char *src, unsigned char *dst)
{
	return peer_compress_page(p->codec, p->cctx, src, dst);
}

/* Compress pages [first, last) one by one into a reused buffer. */
static double peer_compress_run(struct peer *p, const unsigned char *img, size_t first,
				size_t last)
{
	double c0 = cpu_now(), t0 = bench_now(), t1;

	peer_compress_pages(p->codec, p->cctx, img, first, last);
	t1 = bench_now();
	last_cpu = cpu_now() - c0;
	return t1 - t0;
}

/* Decompress pages [first, last) one by one into a reused buffer. */
static double peer_decompress_run(struct peer *p, size_t first, size_t last)
{
	static unsigned char out[PAGE] __attribute__((aligned(64)));
	double c0 = cpu_now(), t0 = bench_now(), t1;

	for (size_t i = first; i < last; i++) {
		const unsigned char *c = p->comp + p->off[i];
		size_t got;

		if (codec_id_type(p->codec) == CODEC_LZ4)
			got = (size_t)LZ4_decompress_safe((const char *)c, (char *)out, p->len[i], PAGE);
		else
			got = ZSTD_decompressDCtx(p->dctx, out, PAGE, c, (size_t)p->len[i]);
		if (got != PAGE)
			die("peer decompress", EIO);
	}
	t1 = bench_now();
	last_cpu = cpu_now() - c0;
	return t1 - t0;
}

static int same_filled(const unsigned char *page)
{
	for (size_t i = 8; i < PAGE; i += 8)
		if (memcmp(page, page + i, 8) != 0)
			return 0;
	return 1;
}

/* ---- memory ------------------------------------------------------------------ */

struct mem {
	uint64_t pool_pages;	/* xcf pages, reserve included */
	uint64_t raw_pages;	/* bytes of raw pages */
	uint64_t xcf_meta;	/* descriptor slabs + page tables */
	uint64_t tmem_meta;	/* object and objnode slabs + hash tables */
	uint64_t total;
	uint64_t scratch;	/* SGV scratch (a cache, reported apart) */
	struct pam_stats ps;
};

static void measure_mem(struct rig *r, struct mem *m)
{
	struct tmem_stats ts;
	struct slab_stats ss;
	uint64_t tables;

	memset(m, 0, sizeof(*m));
	pam_stats(r->pam, &m->ps);
	tmem_stats(r->store, &ts);
	m->raw_pages = m->ps.raw_pages * PAGE;
	m->pool_pages = m->ps.pool_bytes - m->raw_pages;
	for (unsigned i = 0; i < pam_pool_count(r->pam); i++) {
		struct xcf_stats xs;

		xcf_stats(pam_xcf_pool(r->pam, i), &xs);
		m->xcf_meta += xs.table_bytes;
	}
	slab_stats(r->stack->descs, &ss);
	m->xcf_meta += ss.bytes;
	tables = ts.meta_bytes - ts.objects * TMEM_OBJ_SIZE - ts.objnodes * TMEM_OBJNODE_SIZE;
	for (int k = 0; k < 2; k++) {
		slab_stats(tmem_slab_host_cache(r->stack->host, k), &ss);
		m->tmem_meta += ss.bytes;
	}
	m->tmem_meta += tables;
	m->total = m->pool_pages + m->raw_pages + m->xcf_meta + m->tmem_meta;
	m->scratch = m->ps.scratch_bytes;
}

/* ---- one codec ------------------------------------------------------------------ */

struct result {
	double raw_c, raw_d;		/* MB/s, best */
	double raw_c2;			/* peer compression with 2 threads */
	double put1, get1, flush1;	/* store, 1 thread */
	double put2, get2, flush2;	/* store, 2 threads */
	double cold_put1;
	double cpu_put, cpu_get;	/* the same ratios in CPU time, best */
	double cpus_2t;			/* CPUs the 2-thread put had on average */
	double eff_2t;			/* 1-thread / 2-thread CPU seconds for a put pass */
	double mem_ratio;
};

static double best(double a, double b)
{
	return a > b ? a : b;
}

static void run_codec(const char *label, unsigned codec, const unsigned char *img, size_t n,
		      double min_seconds, struct result *res)
{
	struct peer p = { .codec = codec, .n = n };
	const double mb = (double)n * PAGE / 1e6;
	uint64_t compressed_sum = 0;
	size_t nfill = 0, nraw = 0;
	const size_t nobj = (n + OBJ_PAGES - 1) / OBJ_PAGES;
	unsigned cycles;
	struct team team;
	struct rig r;
	struct mem m;
	double t;

	memset(res, 0, sizeof(*res));
	p.cctx = ZSTD_createCCtx();
	p.dctx = ZSTD_createDCtx();
	p.comp = malloc(n * PEER_SLOT);
	p.off = malloc(n * sizeof(*p.off));
	p.len = malloc(n * sizeof(*p.len));
	if (!p.cctx || !p.dctx || !p.comp || !p.off || !p.len)
		die("peer setup", ENOMEM);

	/* The peer's compressed pages (for its decompression pass) and the sum
	 * of compressed sizes the memory figure is measured against. */
	for (size_t i = 0, off = 0; i < n; i++) {
		p.off[i] = off;
		p.len[i] = peer_compress(&p, img + i * PAGE, p.comp + off);
		if (p.len[i] <= 0)
			die("peer compress", EIO);
		off += (size_t)p.len[i];
		if (same_filled(img + i * PAGE)) {
			nfill++;
		} else if ((unsigned)p.len[i] >= ZC_STACK_RAW_THRESHOLD) {
			nraw++;
			compressed_sum += PAGE;
		} else {
			compressed_sum += (uint64_t)p.len[i];
		}
	}
	/* Passes per measurement: enough for the peer's compression to take
	 * min_seconds. */
	t = peer_compress_run(&p, img, 0, n);
	cycles = (unsigned)(min_seconds / (t > 1e-6 ? t : 1e-6)) + 1;

	rig_open(&r, codec);
	team_start(&team, codec);
	/* Cold put (fresh memory), the memory figure, then flush: this is also
	 * the warm-up. */
	t = timed_run(&r, img, OP_PUT, 1, 0, n);
	res->cold_put1 = mb / t;
	timed_run(&r, img, OP_VERIFY, 1, 0, n);
	measure_mem(&r, &m);
	team_run(&team, &r, img, OP_PUT, 2, 0, n);	/* the second id space, warm too */
	timed_run(&r, img, OP_FLUSH, 1, 0, nobj);
	timed_run(&r, img, OP_FLUSH, 2, 0, nobj);
	res->mem_ratio = compressed_sum ? (double)m.total / (double)compressed_sum : 0;

	/* Each pass goes in chunks of CHUNK_OBJS objects; per chunk the peer,
	 * the one-thread store (id space 1) and the two-thread store (space 2)
	 * take turns, in alternating order, so all three see the same machine
	 * and the same cache state on average. */
	for (int rep = 0; rep < REPS; rep++) {
		double tc = 0, td = 0, tp1 = 0, tg1 = 0, tf1 = 0, tp2 = 0, tg2 = 0, tf2 = 0;
		double tc2 = 0;
		double cc = 0, cd = 0, cp = 0, cg = 0, cp2 = 0;

		for (unsigned c = 0; c < cycles; c++) {
			for (size_t k = 0; k * CHUNK < n; k++) {
				size_t a = k * CHUNK, e = a + CHUNK < n ? a + CHUNK : n;

				for (int turn = 0; turn < 4; turn++) {
					switch (k & 1 ? 3 - turn : turn) {
					case 0:
						tc += peer_compress_run(&p, img, a, e);
						cc += last_cpu;
						break;
					case 1:
						tp1 += timed_run(&r, img, OP_PUT, 1, a, e);
						cp += last_cpu;
						break;
					case 2:
						tp2 += team_run(&team, &r, img, OP_PUT, 2, a, e);
						cp2 += last_cpu;
						break;
					default:
						tc2 += team_run(&team, &r, img, OP_PEER_COMPRESS, 0,
								a, e);
						break;
					}
				}
			}
			for (size_t k = 0; k * CHUNK < n; k++) {
				size_t a = k * CHUNK, e = a + CHUNK < n ? a + CHUNK : n;

				for (int turn = 0; turn < 3; turn++) {
					switch (k & 1 ? 2 - turn : turn) {
					case 0:
						td += peer_decompress_run(&p, a, e);
						cd += last_cpu;
						break;
					case 1:
						tg1 += timed_run(&r, img, OP_GET, 1, a, e);
						cg += last_cpu;
						break;
					default:
						tg2 += team_run(&team, &r, img, OP_GET, 2, a, e);
						break;
					}
				}
			}
			if (c == 0) {
				timed_run(&r, img, OP_VERIFY, 1, 0, n);
				timed_run(&r, img, OP_VERIFY, 2, 0, n);
			}
			for (size_t k = 0; k * CHUNK_OBJS < nobj; k++) {
				size_t a = k * CHUNK_OBJS;
				size_t e = a + CHUNK_OBJS < nobj ? a + CHUNK_OBJS : nobj;

				tf1 += timed_run(&r, img, OP_FLUSH, 1, a, e);
				tf2 += team_run(&team, &r, img, OP_FLUSH, 2, a, e);
			}
		}
		res->raw_c = best(res->raw_c, mb * cycles / tc);
		res->raw_c2 = best(res->raw_c2, mb * cycles / tc2);
		res->raw_d = best(res->raw_d, mb * cycles / td);
		res->put1 = best(res->put1, mb * cycles / tp1);
		res->get1 = best(res->get1, mb * cycles / tg1);
		res->flush1 = best(res->flush1, mb * cycles / tf1);
		res->put2 = best(res->put2, mb * cycles / tp2);
		res->get2 = best(res->get2, mb * cycles / tg2);
		res->flush2 = best(res->flush2, mb * cycles / tf2);
		res->cpu_put = best(res->cpu_put, cc / cp);
		res->cpus_2t = best(res->cpus_2t, cp2 / tp2);
		res->eff_2t = best(res->eff_2t, cp / cp2);
		res->cpu_get = best(res->cpu_get, cd / cg);
		printf("%s: rep %d: raw compress %.0f MB/s, store put %.0f MB/s (%.3f, CPU time "
		       "%.3f); raw decompress %.0f MB/s, store get %.0f MB/s (%.3f, CPU time %.3f); "
		       "put 2t %.0f MB/s (%.3f; raw compress 2t scales %.3f)\n",
		       label, rep + 1, mb * cycles / tc, mb * cycles / tp1, tc / tp1, cc / cp,
		       mb * cycles / td, mb * cycles / tg1, td / tg1, cd / cg, mb * cycles / tp2,
		       tp1 / tp2, tc / tc2);
	}
	team_stop(&team);
	rig_close(&r);
	codec_thread_release();

	printf("%s: %zu pages (%.1f MB), %u passes per measurement, best of %d\n", label, n, mb,
	       cycles, REPS);
	printf("%s: raw compress %.0f MB/s (2 threads: %.0f MB/s, scaling %.3f: what the "
	       "machine allows now), raw decompress %.0f MB/s\n", label, res->raw_c, res->raw_c2,
	       res->raw_c2 / res->raw_c, res->raw_d);
	printf("%s: store 1 thread: put %.0f MB/s (cold first put %.0f MB/s), get %.0f MB/s, "
	       "flush %.0f MB/s\n", label, res->put1, res->cold_put1, res->get1, res->flush1);
	printf("%s: store 2 threads: put %.0f MB/s, get %.0f MB/s, flush %.0f MB/s\n", label,
	       res->put2, res->get2, res->flush2);
	printf("%s: pages: %llu same-filled (peer: %zu), %llu raw (peer: %zu), %llu compressed\n",
	       label, (unsigned long long)m.ps.same_filled_pages, nfill,
	       (unsigned long long)m.ps.raw_pages, nraw,
	       (unsigned long long)m.ps.compressed_pages);
	printf("%s: memory: xcf pages %llu + raw pages %llu + xcf descriptors/tables %llu + "
	       "tmem objects/objnodes/tables %llu = %llu bytes (SGV scratch, a cache: %llu)\n",
	       label, (unsigned long long)m.pool_pages, (unsigned long long)m.raw_pages,
	       (unsigned long long)m.xcf_meta, (unsigned long long)m.tmem_meta,
	       (unsigned long long)m.total, (unsigned long long)m.scratch);
	printf("%s: sum of compressed sizes %llu bytes (store's own count %llu), "
	       "ratio %.2f:1 stored, %.2f:1 counting memory\n", label,
	       (unsigned long long)compressed_sum, (unsigned long long)m.ps.compr_bytes,
	       compressed_sum ? (double)n * PAGE / (double)compressed_sum : 0,
	       m.total ? (double)n * PAGE / (double)m.total : 0);
	printf("%s: put %.3f of raw, get %.3f of raw, 2-thread put scaling %.3f, "
	       "memory / compressed %.4f\n", label, res->put1 / res->raw_c, res->get1 / res->raw_d,
	       res->put2 / res->put1, res->mem_ratio);
	printf("%s: in CPU time (what a shared machine distorts least): put %.3f of raw, "
	       "get %.3f of raw; the 2-thread put ran on %.2f CPUs on average and spent "
	       "%.3f of the 1-thread CPU time per page (1.0 = no cost of sharing)\n", label,
	       res->cpu_put, res->cpu_get, res->cpus_2t, res->eff_2t);
	ZSTD_freeCCtx(p.cctx);
	ZSTD_freeDCtx(p.dctx);
	free(p.comp);
	free(p.off);
	free(p.len);
}

/* ---- units ------------------------------------------------------------------ */

#define UNIT_PAGES TMEM_UNIT_PAGES
#define UNIT_BYTES (UNIT_PAGES * PAGE)
#define UNIT_SLOT (UNIT_BYTES + UNIT_BYTES / 8)	/* lz4 and zstd bounds fit */

struct unit_result {
	double put, raw_c;		/* MB/s */
	double get, raw_d;		/* MB/s */
	double rget, raw_rd;		/* pages/s, 64 KiB blocks/s */
	uint64_t mem_before, mem_after, units;
};

/* The peer's 64 KiB compression of `src` into dst (UNIT_SLOT bytes). */
static int peer_unit_compress(unsigned codec, ZSTD_CCtx *cctx, void *lz4hc, const void *src,
			      void *dst)
{
	switch (codec_id_type(codec)) {
	case CODEC_LZ4:
		return LZ4_compress_default(src, dst, UNIT_BYTES, UNIT_SLOT);
	case CODEC_LZ4HC:
		return LZ4_compress_HC_extStateHC(lz4hc, src, dst, UNIT_BYTES, UNIT_SLOT,
						  codec_id_param(codec));
	default:
		return (int)ZSTD_compressCCtx(cctx, dst, UNIT_SLOT, src, UNIT_BYTES,
					      codec_id_param(codec));
	}
}

static int peer_unit_decompress(unsigned codec, ZSTD_DCtx *dctx, const void *src, size_t len,
				void *dst)
{
	if (codec_decode_type(codec) == CODEC_LZ4)
		return LZ4_decompress_safe(src, dst, (int)len, UNIT_BYTES);
	return (int)ZSTD_decompressDCtx(dctx, dst, UNIT_BYTES, src, len);
}

/* The store's memory as measure_mem counts it, plus the unit descriptors. */
static uint64_t store_mem(struct rig *r)
{
	struct slab_stats ss;
	struct mem m;

	measure_mem(r, &m);
	slab_stats(pam_unit_cache(r->pam), &ss);
	return m.total + ss.bytes;
}

/* Densify every object of space 1 overlapping pages [a, e). */
static void densify_objects(struct rig *r, unsigned dense, void *buf, size_t a, size_t e)
{
	for (size_t obj = a / OBJ_PAGES; obj < (e + OBJ_PAGES - 1) / OBJ_PAGES; obj++) {
		struct tmem_oid o = oid_of(obj, 1);
		struct tmem_densify_result dr;
		uint64_t from = 0;
		int rc = 0;

		while (from <= UINT32_MAX &&
		       (rc = tmem_densify(r->store, r->pool, &o, (uint32_t)from, dense, buf,
					  &dr)) >= 0)
			from = dr.next;
		if (rc != -ENOENT && rc < 0)
			die("tmem_densify", rc);
	}
}

static uint64_t bench_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void run_units(const char *label, unsigned dense, const unsigned char *img, size_t n,
		      double min_seconds, struct unit_result *res)
{
	const size_t nunits = n / UNIT_PAGES, nobj = (n + OBJ_PAGES - 1) / OBJ_PAGES;
	const size_t npages = nunits * UNIT_PAGES;
	const double mb = (double)npages * PAGE / 1e6;
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	void *lz4hc = malloc((size_t)LZ4_sizeofStateHC());
	unsigned char *comp = malloc(nunits * UNIT_SLOT), *out = malloc(UNIT_BYTES);
	void *buf = malloc(TMEM_DENSIFY_BUF);
	int *len = malloc(nunits * sizeof(*len));
	uint64_t rng = 0x2545f4914f6cdd1dull;
	struct rig r;

	memset(res, 0, sizeof(*res));
	if (!cctx || !dctx || !lz4hc || !comp || !out || !buf || !len)
		die("unit setup", ENOMEM);
	for (size_t u = 0; u < nunits; u++) {
		len[u] = peer_unit_compress(dense, cctx, lz4hc, img + u * UNIT_BYTES,
					    comp + u * UNIT_SLOT);
		if (len[u] <= 0)
			die("peer unit compress", EIO);
	}
	rig_open(&r, CODEC_DEFAULT);
	for (int rep = 0; rep < REPS; rep++) {
		double tc = 0, tp = 0, td = 0, tg = 0, trd = 0, trg = 0, passes = 0;
		size_t rgets = 0;

		/* Densify, and the peer's compression, chunk by chunk. */
		run_op(&r, img, OP_PUT, 1, 0, npages);
		if (rep == 0)
			res->mem_before = store_mem(&r);
		for (size_t k = 0; k * CHUNK < npages; k++) {
			size_t a = k * CHUNK, e = a + CHUNK < npages ? a + CHUNK : npages;
			double t0 = bench_now();

			for (size_t u = a / UNIT_PAGES; u < e / UNIT_PAGES; u++)
				if (peer_unit_compress(dense, cctx, lz4hc, img + u * UNIT_BYTES,
						       comp + u * UNIT_SLOT) <= 0)
					die("peer unit compress", EIO);
			tc += bench_now() - t0;
			t0 = bench_now();
			densify_objects(&r, dense, buf, a, e);
			tp += bench_now() - t0;
		}
		if (rep == 0) {
			struct pam_stats ps;

			res->mem_after = store_mem(&r);
			pam_stats(r.pam, &ps);
			res->units = ps.units;
			timed_run(&r, img, OP_VERIFY, 1, 0, npages);
		}
		/* In order, and at random, against the peer, until the peer
		 * has taken min_seconds. */
		while (td + trd < min_seconds) {
			double t0 = bench_now();

			for (size_t u = 0; u < nunits; u++)
				if (peer_unit_decompress(dense, dctx, comp + u * UNIT_SLOT,
							 (size_t)len[u], out) != (int)UNIT_BYTES)
					die("peer unit decompress", EIO);
			td += bench_now() - t0;
			tg += timed_run(&r, img, OP_GET, 1, 0, npages);
			t0 = bench_now();
			for (size_t i = 0; i < nunits; i++) {
				size_t u = (size_t)(bench_rand(&rng) % nunits);

				if (peer_unit_decompress(dense, dctx, comp + u * UNIT_SLOT,
							 (size_t)len[u], out) != (int)UNIT_BYTES)
					die("peer unit decompress", EIO);
			}
			trd += bench_now() - t0;
			t0 = bench_now();
			for (size_t i = 0; i < nunits; i++) {
				size_t pg = (size_t)(bench_rand(&rng) % npages);
				struct tmem_oid o = oid_of(pg / OBJ_PAGES, 1);

				if (tmem_get(r.store, r.pool, &o, (uint32_t)(pg % OBJ_PAGES), out, 0))
					die("tmem_get", EIO);
			}
			trg += bench_now() - t0;
			rgets += nunits;
			passes++;
		}
		timed_run(&r, img, OP_FLUSH, 1, 0, nobj);
		res->raw_c = best(res->raw_c, mb / tc);
		res->put = best(res->put, mb / tp);
		res->raw_d = best(res->raw_d, mb * passes / td);
		res->get = best(res->get, mb * passes / tg);
		res->raw_rd = best(res->raw_rd, (double)rgets / trd);
		res->rget = best(res->rget, (double)rgets / trg);
		printf("units %s: rep %d: raw 64 KiB compress %.1f MB/s, densify %.1f MB/s (%.3f); "
		       "raw 64 KiB decompress %.0f MB/s, in-order get %.0f MB/s (%.3f); at random: "
		       "raw %.0f blocks/s, store %.0f pages/s (%.3f)\n", label, rep + 1, mb / tc,
		       mb / tp, tc / tp, mb * passes / td, mb * passes / tg, td / tg,
		       (double)rgets / trd, (double)rgets / trg, trd / trg);
	}
	rig_close(&r);
	codec_thread_release();
	pam_thread_release();
	printf("units %s: store memory %llu bytes page by page (lz4), %llu densified "
	       "(%llu units): %.3f\n", label, (unsigned long long)res->mem_before,
	       (unsigned long long)res->mem_after, (unsigned long long)res->units,
	       (double)res->mem_after / (double)res->mem_before);
	printf("units %s: densify %.3f of raw, in-order get %.3f of raw, random get %.3f of "
	       "raw (best of %d)\n", label, res->put / res->raw_c, res->get / res->raw_d,
	       res->rget / res->raw_rd, REPS);
	ZSTD_freeCCtx(cctx);
	ZSTD_freeDCtx(dctx);
	free(lz4hc);
	free(comp);
	free(out);
	free(buf);
	free(len);
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct result lz4, zstd;
	unsigned char *img;
	size_t len, n;

	bench_parse(argc, argv, "pages.img", usage, &o);
	img = bench_load(o.corpus, &len);
	n = len / PAGE;
	if (n == 0) {
		fprintf(stderr, "store: %s holds no whole page\n", o.corpus);
		return 1;
	}
	printf("store: corpus %s, %zu pages\n", o.corpus, n);
	run_codec("lz4", CODEC_DEFAULT, img, n, o.min_seconds, &lz4);
	bench_figure("put_vs_lz4", lz4.put1 / lz4.raw_c);
	bench_figure("get_vs_lz4", lz4.get1 / lz4.raw_d);
	bench_figure("put_2t_scaling", lz4.put2 / lz4.put1);
	bench_figure("store_mem_vs_compressed", lz4.mem_ratio);
	run_codec("zstd-1", codec_make(CODEC_ZSTD, 1), img, n, o.min_seconds, &zstd);
	{
		struct unit_result u;

		run_units("lz4hc:9", codec_make(CODEC_LZ4HC, 9), img, n, o.min_seconds, &u);
		bench_figure("unit_put_vs_raw", u.put / u.raw_c);
		bench_figure("unit_get_vs_raw", u.get / u.raw_d);
		bench_figure("unit_randget_vs_raw", u.rget / u.raw_rd);
		run_units("zstd:9", codec_make(CODEC_ZSTD, 9), img, n, o.min_seconds, &u);
		run_units("lz4", CODEC_DEFAULT, img, n, o.min_seconds, &u);
	}
	free(img);
	return 0;
}

/* tests/fault.c - allocation-failure injection through the store's put and
 * densify paths.
 *
 * A store is built as the daemon builds it (tmem/stack.h: buddy, SGV
 * context, a slab cache of xcf descriptors, PAM, tmem on slab hostops),
 * with two xcf pools and the test's own buddy allocator, and a known
 * set of corpus pages is put, and then the allocators are told to fail (see
 * "fault injection" in alloc/buddy.h and alloc/slab.h): the Nth page
 * allocation, or the Nth object allocation of one slab cache, or every Mth
 * after the Nth, for N over a range.  While they fail the test keeps
 * putting new pages, replacing pages and reading pages back, against a
 * model of what each key holds, and asserts:
 *   - every put returns 0 or -ENOMEM, nothing else; a failed put leaves the
 *     old page (or no page) in place, a successful one stores the new page;
 *   - every get returns the model's page (a failed allocation never shows
 *     as wrong data);
 *   - afterwards tmem_check, pam_check, xcf_check, slab_check, sgv_ctx_check
 *     and buddy_check pass, every page put before is intact, and the store
 *     takes new pages again once the faults stop.
 * A second test arms the faults through the environment variables
 * (ZC_FAULT_BUDDY, ZC_FAULT_SLAB), so that building the store fails too, and
 * a third runs two threads putting under periodic faults.  A fourth
 * densifies objects (tmem_densify: units of 16 pages) while the page
 * allocator, the xcf descriptor cache or the unit descriptor cache fail:
 * every densify returns 1, 0 or -ENOMEM, a failed one leaves its group as
 * it was, every page reads back, every check passes, memory only shrinks,
 * and once the faults stop everything densifies.
 *
 * Fault injection exists only in ZC_DEBUG builds (the asan and debug
 * presets).  In other builds buddy_fault_set/slab_fault_set return
 * -EOPNOTSUPP and no fault fires: the same tests then assert exactly that
 * (every put succeeds, no fault counted), which is all a release build can
 * show.  Each test prints "faults injected: N" (the figure for the README's
 * RELIABILITY section) with the puts that failed and the pages verified.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/buddy.h"
#include "alloc/slab.h"
#include "compress/codec.h"
#include "compress/pam.h"
#include "testutil.h"
#include "tmem/stack.h"
#include "tmem/tmem.h"

#define PAGE TMEM_PAGE_SIZE
#define NKNOWN 160		/* pages put before the faults start */
#define NKEYS 512		/* keys the model tracks */
#define NOPS 160		/* operations under faults per position */

#ifdef ZC_DEBUG
#define FAULTS_ON true
#else
#define FAULTS_ON false
#endif

/* ------------------------------------------------------------------------ */
/* The corpus: a few thousand real pages (code, text, heaps, zero pages ...). */

static unsigned char *corpus;
static size_t corpus_pages;

static void corpus_load(void)
{
	size_t len;

	if (corpus)
		return;
	corpus = zc_load_file(zc_corpus_path("pages.img"), &len);
	corpus_pages = len / PAGE;
	ck_assert_uint_gt(corpus_pages, 1024);
}

/* Content number c (0 .. corpus_pages-1) of the model. */
static const unsigned char *content(long c)
{
	return corpus + (size_t)c * PAGE;
}

/* ------------------------------------------------------------------------ */
/* The store. */

/* The stack, on the test's own buddy allocator (armed from the
 * environment or by buddy_fault_set); the other pointers are the stack's
 * pieces, for short. */
struct store {
	struct buddy *b;
	struct zc_stack *stack;
	struct slab_cache *descs;
	struct pam *pam;
	struct tmem_slab_host *host;
	struct tmem_store *s;
	int pool;
};

/* Build a store.  Returns 0, or the negative errno of the step that failed
 * (with faults armed from the environment any step may); on failure
 * whatever was built is torn down again. */
static int store_open(struct store *st)
{
	struct zc_stack_config cfg = { .pam = { .pools = 2 } };
	int rc = -ENOMEM;

	memset(st, 0, sizeof(*st));
	st->pool = -1;
	st->b = buddy_create(BUDDY_DEFAULT_RESERVE);
	ck_assert_ptr_nonnull(st->b);	/* malloc only: never injected */
	cfg.buddy = st->b;
	st->stack = zc_stack_create(&cfg);
	if (!st->stack) {
		rc = -errno;
		goto err;
	}
	st->descs = st->stack->descs;
	st->pam = st->stack->pam;
	st->host = st->stack->host;
	st->s = st->stack->store;
	rc = tmem_new_pool(st->s, TMEM_POOL_PERSISTENT);
	if (rc < 0)
		goto err;
	st->pool = rc;
	return 0;
err:
	ck_assert_int_eq(rc, -ENOMEM);
	(void)zc_stack_destroy(st->stack);
	ck_assert_int_eq(buddy_check(st->b), 0);
	buddy_destroy(st->b);
	memset(st, 0, sizeof(*st));
	return rc;
}

/* Every structure of the store passes its check: tmem_check, pam_check
 * (with xcf_check of each pool), slab_check of the three caches,
 * sgv_ctx_check and buddy_check (zc_stack_check runs exactly these). */
static void store_check(struct store *st)
{
	ck_assert_int_eq(zc_stack_check(st->stack), 0);
}

/* Faults injected into every allocator of the store so far. */
static uint64_t store_faults(struct store *st)
{
	return buddy_fault_count(st->b) + slab_fault_count(st->descs) +
	       slab_fault_count(tmem_slab_host_cache(st->host, 0)) +
	       slab_fault_count(tmem_slab_host_cache(st->host, 1)) +
	       slab_fault_count(pam_unit_cache(st->pam));
}

/* Stop every fault. */
static void store_disarm(struct store *st)
{
	int want = FAULTS_ON ? 0 : -EOPNOTSUPP;

	ck_assert_int_eq(buddy_fault_set(st->b, 0, 0), want);
	ck_assert_int_eq(slab_fault_set(st->descs, 0, 0), want);
	ck_assert_int_eq(slab_fault_set(tmem_slab_host_cache(st->host, 0), 0, 0), want);
	ck_assert_int_eq(slab_fault_set(tmem_slab_host_cache(st->host, 1), 0, 0), want);
	ck_assert_int_eq(slab_fault_set(pam_unit_cache(st->pam), 0, 0), want);
}

static void store_close(struct store *st)
{
	store_check(st);
	/* slab_check of the descriptor cache once PAM is gone, sgv_ctx_check
	 * once its scratch pools are: zc_stack_destroy runs them. */
	ck_assert_int_eq(zc_stack_destroy(st->stack), 0);
	ck_assert_int_eq(buddy_check(st->b), 0);
	buddy_destroy(st->b);
	codec_thread_release();
}

/* ------------------------------------------------------------------------ */
/* The model: key k is (oid {k / 4, 1, 2}, index k % 4 * 17): four pages an
 * object, far enough apart to need radix nodes, so that keys beyond the
 * known set need new objects and nodes; model[k] is the corpus page it
 * holds, or -1. */

struct model {
	long page[NKEYS];
	uint64_t puts, failed_puts, gets, pages_verified;
};

static struct tmem_oid key_oid(unsigned k)
{
	struct tmem_oid o = { { k / 4, 1, 2 } };
	return o;
}

static uint32_t key_index(unsigned k)
{
	return (uint32_t)(k % 4 * 17);
}

/* Read key k and compare it with the model. */
static void model_verify(struct store *st, struct model *m, unsigned k)
{
	static _Thread_local unsigned char out[PAGE];
	struct tmem_oid o = key_oid(k);
	int rc = tmem_get(st->s, st->pool, &o, key_index(k), out, 0);

	m->gets++;
	if (m->page[k] < 0) {
		ck_assert_msg(rc == -ENOENT, "key %u: get %d, expected -ENOENT", k, rc);
		return;
	}
	ck_assert_msg(rc == 0, "key %u: get %d", k, rc);
	ck_assert_msg(memcmp(out, content(m->page[k]), PAGE) == 0,
		      "key %u: page differs from corpus page %ld", k, m->page[k]);
	m->pages_verified++;
}

static void model_verify_all(struct store *st, struct model *m)
{
	for (unsigned k = 0; k < NKEYS; k++)
		model_verify(st, m, k);
}

/* Put corpus page c under key k.  Returns the put's result after checking
 * that it is 0 or -ENOMEM, and updates the model. */
static int model_put(struct store *st, struct model *m, unsigned k, long c)
{
	struct tmem_oid o = key_oid(k);
	int rc = tmem_put(st->s, st->pool, &o, key_index(k), content(c));

	m->puts++;
	ck_assert_msg(rc == 0 || rc == -ENOMEM, "key %u: put %d", k, rc);
	if (rc == 0)
		m->page[k] = c;
	else
		m->failed_puts++;
	return rc;
}

static void model_init(struct model *m)
{
	memset(m, 0, sizeof(*m));
	for (unsigned k = 0; k < NKEYS; k++)
		m->page[k] = -1;
}

/* The known set: keys 0 .. NKNOWN-1, pages chosen by the seed. */
static void put_known(struct store *st, struct model *m, uint64_t *rng)
{
	for (unsigned k = 0; k < NKNOWN; k++)
		ck_assert_int_eq(model_put(st, m, k, (long)zc_rand_below(rng, corpus_pages)), 0);
}

/* NOPS random operations: replace a page, put a new key, read a key back,
 * or flush a page now and then (frees, so later allocations succeed). */
static void run_ops(struct store *st, struct model *m, uint64_t *rng, unsigned nops)
{
	for (unsigned i = 0; i < nops; i++) {
		unsigned r = (unsigned)zc_rand_below(rng, 100);
		unsigned k = (unsigned)zc_rand_below(rng, NKEYS);

		if (r < 80) {
			model_put(st, m, k, (long)zc_rand_below(rng, corpus_pages));
			model_verify(st, m, k);
		} else if (r < 95) {
			model_verify(st, m, k);
		} else {
			struct tmem_oid o = key_oid(k);
			int rc = tmem_flush_page(st->s, st->pool, &o, key_index(k));

			ck_assert_int_eq(rc, m->page[k] < 0 ? -ENOENT : 0);
			m->page[k] = -1;
		}
	}
}

/* What a test did, printed for the README's RELIABILITY figures. */
struct tally {
	uint64_t faults, stores, puts, failed_puts, pages_verified;
};

static void tally_add(struct tally *t, struct store *st, const struct model *m)
{
	t->faults += store_faults(st);
	t->stores++;
	t->puts += m->puts;
	t->failed_puts += m->failed_puts;
	t->pages_verified += m->pages_verified;
}

static void tally_print(const char *what, const struct tally *t)
{
	fprintf(stderr,
		"fault %s: faults injected: %llu; stores built %llu, puts %llu, "
		"failed with -ENOMEM %llu, pages verified %llu (%llu bytes)%s\n",
		what, (unsigned long long)t->faults, (unsigned long long)t->stores,
		(unsigned long long)t->puts, (unsigned long long)t->failed_puts,
		(unsigned long long)t->pages_verified,
		(unsigned long long)t->pages_verified * PAGE,
		FAULTS_ON ? "" : " [release build: fault injection compiled out]");
}

/* ------------------------------------------------------------------------ */
/* Sweep: for each position N, a fresh store, the known set, then faults. */

enum target { T_BUDDY, T_DESCS, T_OBJS, T_OBJNODES, T_NTARGETS };
static const char *const target_name[T_NTARGETS] = { "buddy", "xcf descriptors",
						     "tmem objects", "tmem objnodes" };

static int arm(struct store *st, enum target t, uint64_t nth, uint64_t every)
{
	switch (t) {
	case T_BUDDY:
		return buddy_fault_set(st->b, nth, every);
	case T_DESCS:
		return slab_fault_set(st->descs, nth, every);
	case T_OBJS:
		return slab_fault_set(tmem_slab_host_cache(st->host, 0), nth, every);
	default:
		return slab_fault_set(tmem_slab_host_cache(st->host, 1), nth, every);
	}
}

static void sweep(enum target t, uint64_t first, uint64_t last, uint64_t step,
		  uint64_t every, uint64_t seed, struct tally *tally)
{
	for (uint64_t n = first; n <= last; n += step) {
		struct store st;
		struct model m;
		uint64_t rng = seed ^ (n * 0x9e3779b97f4a7c15ull) ^ t;
		uint64_t before, failed_before;
		struct tmem_stats ts;

		ck_assert_int_eq(store_open(&st), 0);
		model_init(&m);
		put_known(&st, &m, &rng);
		store_check(&st);

		ck_assert_int_eq(arm(&st, t, n, every), FAULTS_ON ? 0 : -EOPNOTSUPP);
		before = store_faults(&st);
		failed_before = m.failed_puts;
		run_ops(&st, &m, &rng, NOPS);
		if (!FAULTS_ON) {
			ck_assert_uint_eq(store_faults(&st), 0);
			ck_assert_uint_eq(m.failed_puts, 0);
		} else {
			/* Every injected failure surfaces as exactly one
			 * put's -ENOMEM: no put fails without a fault, and no
			 * fault is retried or swallowed (the gets above show
			 * that no put that succeeded lost data).  The one
			 * place allowed to absorb a failure, a tmem hash
			 * table that cannot grow, is not reached: 128
			 * objects stay under the first doubling at 512. */
			ck_assert_msg(m.failed_puts - failed_before == store_faults(&st) - before,
				      "%s N=%llu/%llu: %llu faults, %llu failed puts", target_name[t],
				      (unsigned long long)n, (unsigned long long)every,
				      (unsigned long long)(store_faults(&st) - before),
				      (unsigned long long)(m.failed_puts - failed_before));
		}
		tmem_stats(st.s, &ts);
		ck_assert_uint_eq(ts.failed_puts, m.failed_puts);
		store_check(&st);

		/* The faults stop: everything put before is intact, and the
		 * store takes pages again. */
		store_disarm(&st);
		model_verify_all(&st, &m);
		for (unsigned k = NKEYS - 8; k < NKEYS; k++) {
			ck_assert_int_eq(model_put(&st, &m, k, (long)(k * 7 % corpus_pages)), 0);
			model_verify(&st, &m, k);
		}
		tally_add(tally, &st, &m);
		store_close(&st);
	}
}

START_TEST(test_sweep_once)
{
	uint64_t seed = zc_test_seed();
	struct tally t = { 0 };

	corpus_load();
	/* One failure at every position in the first 120 allocations. */
	for (int tg = 0; tg < T_NTARGETS; tg++)
		sweep((enum target)tg, 1, 120, 1, 0, seed, &t);
	if (FAULTS_ON)
		ck_assert_uint_ge(t.faults, 4 * 60);
	tally_print("once", &t);
}
END_TEST

START_TEST(test_sweep_periodic)
{
	uint64_t seed = zc_test_seed() + 1;
	struct tally t = { 0 };

	corpus_load();
	/* The Nth and then every Mth allocation fails: many failures in a
	 * row, on every path at once. */
	for (int tg = 0; tg < T_NTARGETS; tg++)
		for (uint64_t every = 2; every <= 7; every += 5)
			sweep((enum target)tg, 1, 40, 3, every, seed, &t);
	if (FAULTS_ON)
		ck_assert_uint_gt(t.failed_puts, 100);
	tally_print("periodic", &t);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Faults armed through the environment, before the store exists: building
 * it may fail (with -ENOMEM, cleanly), and so may the known set's puts. */

START_TEST(test_env)
{
	uint64_t rng = zc_test_seed() + 2;
	struct tally t = { 0 };
	uint64_t build_failures = 0;
	char val[32];

	corpus_load();
	for (unsigned n = 1; n <= 60; n++) {
		struct store st;
		struct model m;
		uint64_t failed;
		int rc;

		snprintf(val, sizeof(val), "%u/%u", n, 3 + n % 5);
		ck_assert_int_eq(setenv(n % 2 ? "ZC_FAULT_BUDDY" : "ZC_FAULT_SLAB", val, 1), 0);
		rc = store_open(&st);
		ck_assert_int_eq(unsetenv("ZC_FAULT_BUDDY"), 0);
		ck_assert_int_eq(unsetenv("ZC_FAULT_SLAB"), 0);
		if (rc < 0) {
			ck_assert_int_eq(rc, -ENOMEM);
			ck_assert(FAULTS_ON);
			build_failures++;
			continue;
		}
		model_init(&m);
		for (unsigned k = 0; k < NKNOWN; k++)
			model_put(&st, &m, k, (long)zc_rand_below(&rng, corpus_pages));
		if (FAULTS_ON)
			ck_assert_uint_gt(store_faults(&st), 0);
		else
			ck_assert_uint_eq(m.failed_puts, 0);
		store_check(&st);
		model_verify_all(&st, &m);
		store_disarm(&st);
		failed = m.failed_puts;
		run_ops(&st, &m, &rng, 40);
		ck_assert_uint_eq(m.failed_puts, failed);	/* no fault any more */
		model_verify_all(&st, &m);
		tally_add(&t, &st, &m);
		store_close(&st);
	}
	/* A malformed value is ignored (and reported on stderr). */
	ck_assert_int_eq(setenv("ZC_FAULT_BUDDY", "12x", 1), 0);
	ck_assert_int_eq(setenv("ZC_FAULT_SLAB", "/3", 1), 0);
	{
		struct store st;
		struct model m;

		ck_assert_int_eq(store_open(&st), 0);
		ck_assert_int_eq(unsetenv("ZC_FAULT_BUDDY"), 0);
		ck_assert_int_eq(unsetenv("ZC_FAULT_SLAB"), 0);
		model_init(&m);
		put_known(&st, &m, &rng);
		ck_assert_uint_eq(store_faults(&st), 0);
		model_verify_all(&st, &m);
		store_close(&st);
	}
	fprintf(stderr, "fault env: %llu store builds failed with -ENOMEM\n",
		(unsigned long long)build_failures);
	tally_print("env", &t);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Two threads putting, replacing and reading their own keys while every
 * 5th page allocation and every 7th descriptor allocation fails. */

struct worker {
	struct store *st;
	struct model m;
	unsigned base;		/* the thread's keys: base, base + 2, ... */
	uint64_t rng;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	for (unsigned i = 0; i < 3000; i++) {
		unsigned k = w->base + 2 * (unsigned)zc_rand_below(&w->rng, NKEYS / 2);

		model_put(w->st, &w->m, k, (long)zc_rand_below(&w->rng, corpus_pages));
		model_verify(w->st, &w->m, k);
		if (i % 16 == 0)
			model_verify(w->st, &w->m,
				     w->base + 2 * (unsigned)zc_rand_below(&w->rng, NKEYS / 2));
	}
	return NULL;
}

START_TEST(test_threads)
{
	uint64_t seed = zc_test_seed() + 3;
	struct store st;
	struct worker w[2];
	pthread_t th[2];
	struct tally t = { 0 };

	corpus_load();
	ck_assert_int_eq(store_open(&st), 0);
	for (int i = 0; i < 2; i++) {
		model_init(&w[i].m);
		w[i].st = &st;
		w[i].base = (unsigned)i;
		w[i].rng = seed + (uint64_t)i;
	}
	ck_assert_int_eq(buddy_fault_set(st.b, 5, 5), FAULTS_ON ? 0 : -EOPNOTSUPP);
	ck_assert_int_eq(slab_fault_set(st.descs, 7, 7), FAULTS_ON ? 0 : -EOPNOTSUPP);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	store_check(&st);
	store_disarm(&st);
	for (int i = 0; i < 2; i++) {
		/* Each model holds only its own keys; the other's stay -1
		 * there, so verify just the own ones. */
		for (unsigned k = w[i].base; k < NKEYS; k += 2)
			model_verify(&st, &w[i].m, k);
		if (FAULTS_ON)
			ck_assert_uint_gt(w[i].m.failed_puts, 0);
		else
			ck_assert_uint_eq(w[i].m.failed_puts, 0);
		t.puts += w[i].m.puts;
		t.failed_puts += w[i].m.failed_puts;
		t.pages_verified += w[i].m.pages_verified;
	}
	t.faults = store_faults(&st);
	t.stores = 1;
	store_close(&st);
	tally_print("threads", &t);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Densify under faults: DOBJS objects of DPAGES text-like corpus pages
 * (oid {1000 + j, 3, 4}), densified group by group while allocations fail. */

#define DOBJS 6
#define DPAGES 40

static long dense_content(unsigned j, unsigned i)
{
	/* pages.map: the C text runs at 1088 and 1600, ELF at 128 */
	static const long runs[] = { 1088, 1600, 128 };

	return runs[j % 3] + (long)((j * 7 + i) % 64);
}

static struct tmem_oid dense_oid(unsigned j)
{
	struct tmem_oid o = { { 1000 + j, 3, 4 } };
	return o;
}

static uint64_t store_mem(struct store *st)
{
	struct pam_stats ps;

	pam_stats(st->pam, &ps);
	return ps.xcf_used_bytes + ps.raw_pages * PAGE + ps.units * PAM_UNIT_DESC_SIZE;
}

static void dense_verify(struct store *st)
{
	unsigned char out[PAGE];

	for (unsigned j = 0; j < DOBJS; j++) {
		struct tmem_oid o = dense_oid(j);

		for (unsigned i = 0; i < DPAGES; i++) {
			ck_assert_int_eq(tmem_get(st->s, st->pool, &o, i, out, 0), 0);
			ck_assert_msg(memcmp(out, content(dense_content(j, i)), PAGE) == 0,
				      "object %u page %u differs after densify", j, i);
		}
	}
}

/* Densify every object; returns the -ENOMEM count, checks each result and
 * that the stored bytes never grow. */
static uint64_t dense_all(struct store *st, void *buf, uint64_t *made)
{
	uint64_t enomem = 0;

	for (unsigned j = 0; j < DOBJS; j++) {
		struct tmem_oid o = dense_oid(j);
		struct tmem_densify_result res;
		uint64_t from = 0;
		int rc;

		for (;;) {
			uint64_t before = store_mem(st);

			rc = tmem_densify(st->s, st->pool, &o, (uint32_t)from,
					  codec_make(CODEC_LZ4HC, 9), buf, &res);
			if (rc == -ENOENT)
				break;
			ck_assert_msg(rc == 0 || rc == 1 || rc == -ENOMEM, "densify: %d", rc);
			if (rc == -ENOMEM)
				enomem++;
			if (rc == 1) {
				(*made)++;
				ck_assert_uint_lt(res.new_bytes, res.old_bytes);
			}
			ck_assert_uint_le(store_mem(st), before);
			from = res.next;
		}
	}
	return enomem;
}

START_TEST(test_densify)
{
	static const char *const names[] = { "buddy", "xcf descriptors", "unit descriptors" };
	void *buf = malloc(TMEM_DENSIFY_BUF);
	uint64_t faults = 0, enomem = 0, made = 0, runs = 0, tfaults[3] = { 0 };

	ck_assert_ptr_nonnull(buf);
	corpus_load();
	for (int t = 0; t < 3; t++) {
		for (uint64_t n = 1; n <= 24; n++) {
			struct store st;
			uint64_t every = n % 3 ? 0 : 4, before, dm = 0;
			int rc;

			ck_assert_int_eq(store_open(&st), 0);
			for (unsigned j = 0; j < DOBJS; j++) {
				struct tmem_oid o = dense_oid(j);

				for (unsigned i = 0; i < DPAGES; i++)
					ck_assert_int_eq(tmem_put(st.s, st.pool, &o, i,
								  content(dense_content(j, i))), 0);
			}
			rc = t == 0 ? buddy_fault_set(st.b, n, every)
			     : t == 1 ? slab_fault_set(st.descs, n, every)
				      : slab_fault_set(pam_unit_cache(st.pam), n, every);
			ck_assert_int_eq(rc, FAULTS_ON ? 0 : -EOPNOTSUPP);
			before = store_faults(&st);
			enomem += dense_all(&st, buf, &dm);
			faults += store_faults(&st) - before;
			tfaults[t] += store_faults(&st) - before;
			store_check(&st);
			dense_verify(&st);
			/* The faults stop: whatever was left densifies now. */
			store_disarm(&st);
			ck_assert_uint_eq(dense_all(&st, buf, &dm), 0);
			made += dm;
			dense_verify(&st);
			{
				struct pam_stats ps;

				pam_stats(st.pam, &ps);
				ck_assert_uint_ge(ps.units, DOBJS * 2);
				ck_assert_uint_eq(ps.compressed_pages, 0);
			}
			runs++;
			store_close(&st);
			pam_thread_release();
		}
	}
	for (int t = 0; t < 3; t++)
		ck_assert_msg(FAULTS_ON ? tfaults[t] > 0 : tfaults[t] == 0, "%s: %llu faults",
			      names[t], (unsigned long long)tfaults[t]);
	/* Every injected failure surfaced as exactly one densify's -ENOMEM. */
	ck_assert_uint_eq(enomem, faults);
	if (FAULTS_ON)
		ck_assert_uint_gt(enomem, 0);
	fprintf(stderr, "fault densify: faults injected: %llu; stores %llu, groups repacked %llu, "
		"densify calls failed with -ENOMEM %llu%s\n", (unsigned long long)faults,
		(unsigned long long)runs, (unsigned long long)made, (unsigned long long)enomem,
		FAULTS_ON ? "" : " [release build: fault injection compiled out]");
	free(buf);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The hooks themselves: which call fails, N/M, re-arming, counting. */

START_TEST(test_hooks)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c;
	void *p[16];

	ck_assert_ptr_nonnull(b);
	c = slab_create("fault_hook", 64, 0, b);
	ck_assert_ptr_nonnull(c);
	if (!FAULTS_ON) {
		ck_assert_int_eq(buddy_fault_set(b, 1, 1), -EOPNOTSUPP);
		ck_assert_int_eq(slab_fault_set(c, 1, 1), -EOPNOTSUPP);
		for (int i = 0; i < 16; i++) {
			p[i] = buddy_alloc(b, PAGE);
			ck_assert_ptr_nonnull(p[i]);
		}
		for (int i = 0; i < 16; i++)
			buddy_free(b, p[i], PAGE);
		ck_assert_uint_eq(buddy_fault_count(b), 0);
		ck_assert_uint_eq(slab_fault_count(c), 0);
		goto out;
	}
	/* "3/4": calls 3, 7, 11, 15 fail. */
	ck_assert_int_eq(buddy_fault_set(b, 3, 4), 0);
	for (int i = 0; i < 16; i++) {
		struct buddy_stats bs;
		uint64_t failed;

		buddy_stats(b, &bs);
		failed = bs.failed;
		errno = 0;
		p[i] = buddy_alloc(b, PAGE);
		buddy_stats(b, &bs);
		if ((i + 1) % 4 == 3) {
			ck_assert_ptr_null(p[i]);
			ck_assert_int_eq(errno, ENOMEM);
			ck_assert_uint_eq(bs.failed, failed + 1);
		} else {
			ck_assert_ptr_nonnull(p[i]);
		}
	}
	ck_assert_uint_eq(buddy_fault_count(b), 4);
	ck_assert_int_eq(buddy_check(b), 0);
	for (int i = 0; i < 16; i++)
		buddy_free(b, p[i], PAGE);
	/* A direct map counts too; size 0 does not. */
	ck_assert_int_eq(buddy_fault_set(b, 2, 0), 0);
	ck_assert_ptr_null(buddy_alloc(b, 0));
	p[0] = buddy_alloc(b, BUDDY_CHUNK_SIZE * 2);
	ck_assert_ptr_nonnull(p[0]);
	errno = 0;
	ck_assert_ptr_null(buddy_alloc(b, BUDDY_CHUNK_SIZE * 2));
	ck_assert_int_eq(errno, ENOMEM);
	p[1] = buddy_alloc(b, BUDDY_CHUNK_SIZE * 2);	/* "N" alone: once */
	ck_assert_ptr_nonnull(p[1]);
	buddy_free(b, p[0], BUDDY_CHUNK_SIZE * 2);
	buddy_free(b, p[1], BUDDY_CHUNK_SIZE * 2);
	ck_assert_uint_eq(buddy_fault_count(b), 5);
	ck_assert_int_eq(buddy_fault_set(b, 0, 0), 0);

	/* Slab: the 1st call fails, then every 2nd; re-arming restarts. */
	ck_assert_int_eq(slab_fault_set(c, 1, 2), 0);
	for (int i = 0; i < 8; i++) {
		errno = 0;
		p[i] = slab_alloc(c);
		if (i % 2 == 0) {
			ck_assert_ptr_null(p[i]);
			ck_assert_int_eq(errno, ENOMEM);
		} else {
			ck_assert_ptr_nonnull(p[i]);
		}
	}
	ck_assert_int_eq(slab_fault_set(c, 2, 0), 0);
	p[0] = slab_alloc(c);
	ck_assert_ptr_nonnull(p[0]);
	ck_assert_ptr_null(slab_alloc(c));
	p[2] = slab_alloc(c);
	ck_assert_ptr_nonnull(p[2]);
	ck_assert_uint_eq(slab_fault_count(c), 5);
	ck_assert_int_eq(slab_check(c), 0);
	for (int i = 0; i < 8; i++)
		slab_free(c, p[i]);	/* the NULLs are no-ops */
	ck_assert_int_eq(slab_check(c), 0);
out:
	slab_destroy(c);
	ck_assert_int_eq(buddy_check(b), 0);
	buddy_destroy(b);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = tcase_create("fault");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_hooks);
	tcase_add_test(tc, test_sweep_once);
	tcase_add_test(tc, test_sweep_periodic);
	tcase_add_test(tc, test_env);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_densify);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}

/* tests/reqstat.c - the FUSE request statistics (fuse/reqstat.c): buckets,
 * per-thread blocks summed exactly, blocks handed back and reused with
 * their counts, names, and sums taken while other threads count (the
 * threads case is what the tsan preset is for).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuse/reqstat.h"
#include "testutil.h"

START_TEST(test_buckets)
{
	ck_assert_uint_eq(zfs_reqstat_bucket(0), 0);
	ck_assert_uint_eq(zfs_reqstat_bucket(999), 0);		/* < 1 µs */
	ck_assert_uint_eq(zfs_reqstat_bucket(1000), 1);		/* [1, 2) µs */
	ck_assert_uint_eq(zfs_reqstat_bucket(1999), 1);
	ck_assert_uint_eq(zfs_reqstat_bucket(2000), 2);		/* [2, 4) µs */
	ck_assert_uint_eq(zfs_reqstat_bucket(3999), 2);
	ck_assert_uint_eq(zfs_reqstat_bucket(4000), 3);
	ck_assert_uint_eq(zfs_reqstat_bucket(((uint64_t)1 << 21) * 1000 + 5), 22);
	ck_assert_uint_eq(zfs_reqstat_bucket(((uint64_t)1 << 22) * 1000), 23);
	ck_assert_uint_eq(zfs_reqstat_bucket(UINT64_MAX), ZFS_REQSTAT_BUCKETS - 1);
	/* Every bucket's bound is what zfs_reqstat_bucket puts under it. */
	for (unsigned b = 0; b + 1 < ZFS_REQSTAT_BUCKETS; b++) {
		uint64_t le = zfs_reqstat_bucket_le_us(b);

		ck_assert_uint_eq(le, (uint64_t)1 << b);
		ck_assert_uint_eq(zfs_reqstat_bucket(le * 1000 - 1), b);
		ck_assert_uint_eq(zfs_reqstat_bucket(le * 1000), b + 1);
	}
	ck_assert_uint_eq(zfs_reqstat_bucket_le_us(ZFS_REQSTAT_BUCKETS - 1), 0);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(zfs_reqstat_opname(1), "lookup");
	ck_assert_str_eq(zfs_reqstat_opname(15), "read");
	ck_assert_str_eq(zfs_reqstat_opname(16), "write");
	ck_assert_str_eq(zfs_reqstat_opname(42), "batch_forget");
	ck_assert_str_eq(zfs_reqstat_opname(44), "readdirplus");
	ck_assert_str_eq(zfs_reqstat_opname(0), "other");
	ck_assert_str_eq(zfs_reqstat_opname(4096), "other");
	/* One distinct name per slot: the renderers print one row each. */
	for (unsigned a = 0; a < ZFS_REQSTAT_NOPS; a++) {
		ck_assert_ptr_nonnull(zfs_reqstat_opname(a));
		for (unsigned b = a + 1; b < ZFS_REQSTAT_NOPS; b++)
			ck_assert_str_ne(zfs_reqstat_opname(a), zfs_reqstat_opname(b));
	}
}
END_TEST

START_TEST(test_add_and_sum)
{
	struct zfs_reqstats *rs = zfs_reqstats_create();
	struct zfs_reqstat_thread *a, *b;
	struct zfs_reqstat_sum *s = malloc(sizeof(*s));
	struct zfs_reqstat_op all;

	ck_assert_ptr_nonnull(rs);
	a = zfs_reqstat_thread_get(rs);
	b = zfs_reqstat_thread_get(rs);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	zfs_reqstat_add(a, 15, 500);		/* read, < 1 µs */
	zfs_reqstat_add(a, 15, 3000);		/* read, [2, 4) µs */
	zfs_reqstat_add(b, 15, 70000);		/* read, [64, 128) µs */
	zfs_reqstat_add(b, 16, 1000);		/* write */
	zfs_reqstat_add(b, 4096, 1);		/* cuse_init: other */
	zfs_reqstat_add(NULL, 15, 1);		/* counts nothing */
	zfs_reqstats_sum(rs, s);
	ck_assert_uint_eq(s->op[15].count, 3);
	ck_assert_uint_eq(s->op[15].total_ns, 73500);
	ck_assert_uint_eq(s->op[15].max_ns, 70000);
	ck_assert_uint_eq(s->op[15].hist[0], 1);
	ck_assert_uint_eq(s->op[15].hist[2], 1);
	ck_assert_uint_eq(s->op[15].hist[7], 1);
	ck_assert_uint_eq(s->op[16].count, 1);
	ck_assert_uint_eq(s->op[16].hist[1], 1);
	ck_assert_uint_eq(s->op[0].count, 1);
	zfs_reqstat_total(s, &all);
	ck_assert_uint_eq(all.count, 5);
	ck_assert_uint_eq(all.total_ns, 73500 + 1000 + 1);
	ck_assert_uint_eq(all.max_ns, 70000);
	ck_assert_uint_eq(all.hist[0], 2);
	/* A block handed back keeps its counts and is the next one handed out. */
	zfs_reqstat_thread_put(rs, a);
	zfs_reqstat_thread_put(rs, NULL);
	ck_assert_ptr_eq(zfs_reqstat_thread_get(rs), a);
	zfs_reqstat_add(a, 15, 10);
	zfs_reqstats_sum(rs, s);
	ck_assert_uint_eq(s->op[15].count, 4);
	free(s);
	zfs_reqstats_destroy(rs);
	zfs_reqstats_destroy(NULL);
}
END_TEST

enum { THREADS = 4, PER_THREAD = 200000 };

struct counter_arg {
	struct zfs_reqstats *rs;
	unsigned id;
};

static void *counter(void *p)
{
	struct counter_arg *c = p;
	struct zfs_reqstat_thread *t = zfs_reqstat_thread_get(c->rs);

	ck_assert_ptr_nonnull(t);
	for (unsigned k = 0; k < PER_THREAD; k++)
		zfs_reqstat_add(t, 1 + (k % 3), (uint64_t)(k % 5000) * 1000 + c->id);
	zfs_reqstat_thread_put(c->rs, t);
	return NULL;
}

/* Threads count while the main thread sums: every sum is a plausible one
 * (nothing goes backwards, nothing exceeds the final figure), and the
 * final sum is exact. */
START_TEST(test_threads)
{
	struct zfs_reqstats *rs = zfs_reqstats_create();
	struct counter_arg args[THREADS];
	pthread_t tid[THREADS];
	struct zfs_reqstat_sum *s = malloc(sizeof(*s));
	struct zfs_reqstat_op all;
	uint64_t last = 0, hist = 0;

	for (unsigned k = 0; k < THREADS; k++) {
		args[k].rs = rs;
		args[k].id = k;
		ck_assert_int_eq(pthread_create(&tid[k], NULL, counter, &args[k]), 0);
	}
	for (int r = 0; r < 50; r++) {
		zfs_reqstats_sum(rs, s);
		zfs_reqstat_total(s, &all);
		ck_assert_uint_ge(all.count, last);
		ck_assert_uint_le(all.count, (uint64_t)THREADS * PER_THREAD);
		last = all.count;
	}
	for (unsigned k = 0; k < THREADS; k++)
		pthread_join(tid[k], NULL);
	zfs_reqstats_sum(rs, s);
	zfs_reqstat_total(s, &all);
	ck_assert_uint_eq(all.count, (uint64_t)THREADS * PER_THREAD);
	for (unsigned b = 0; b < ZFS_REQSTAT_BUCKETS; b++)
		hist += all.hist[b];
	ck_assert_uint_eq(hist, all.count);
	ck_assert_uint_eq(all.max_ns, 4999u * 1000 + THREADS - 1);
	for (unsigned op = 1; op <= 3; op++)
		ck_assert_uint_ge(s->op[op].count, (uint64_t)THREADS * (PER_THREAD / 3));
	free(s);
	zfs_reqstats_destroy(rs);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("reqstat");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_buckets);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_add_and_sum);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}

/* tests/zfs_handle.c - the file handle table (fuse/handle.h): handles are
 * never 0, name their inode until closed, are refused once closed or when
 * forged, are reused with a new generation, and the table grows across
 * chunks; several threads open and close at once; handles walked and
 * adopted by a second table (the SIGHUP reload) mean the same there. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuse/handle.h"
#include "testutil.h"

/* Fake inodes: the table never dereferences them. */
#define INODE(k) ((struct zfs_inode *)(uintptr_t)(0x1000 + 16 * (uintptr_t)(k)))

START_TEST(test_basic)
{
	struct zfs_handles h;
	uint64_t a, b, c;

	ck_assert_int_eq(zfs_handles_init(&h), 0);
	ck_assert_int_eq(zfs_handle_open(&h, INODE(1), &a), 0);
	ck_assert_int_eq(zfs_handle_open(&h, INODE(2), &b), 0);
	ck_assert_uint_ne(a, 0);
	ck_assert_uint_ne(a, b);
	ck_assert_ptr_eq(zfs_handle_get(&h, a), INODE(1));
	ck_assert_ptr_eq(zfs_handle_get(&h, b), INODE(2));
	ck_assert_uint_eq(atomic_load(&h.open), 2);
	/* Forged and stale values. */
	ck_assert_ptr_null(zfs_handle_get(&h, 0));
	ck_assert_ptr_null(zfs_handle_get(&h, a + 1000));
	ck_assert_ptr_null(zfs_handle_get(&h, a ^ ((uint64_t)2 << 32)));
	ck_assert_ptr_null(zfs_handle_get(&h, UINT64_MAX));
	ck_assert_ptr_eq(zfs_handle_close(&h, a), INODE(1));
	ck_assert_ptr_null(zfs_handle_get(&h, a));
	ck_assert_ptr_null(zfs_handle_close(&h, a));
	/* The slot comes back with another generation. */
	ck_assert_int_eq(zfs_handle_open(&h, INODE(3), &c), 0);
	ck_assert_uint_eq((uint32_t)c, (uint32_t)a);
	ck_assert_uint_ne(c, a);
	ck_assert_ptr_null(zfs_handle_get(&h, a));
	ck_assert_ptr_eq(zfs_handle_get(&h, c), INODE(3));
	ck_assert_ptr_eq(zfs_handle_close(&h, b), INODE(2));
	ck_assert_ptr_eq(zfs_handle_close(&h, c), INODE(3));
	ck_assert_uint_eq(atomic_load(&h.open), 0);
	zfs_handles_fini(&h);
}
END_TEST

START_TEST(test_many)
{
	enum { N = 3 * ZFS_HANDLE_CHUNK + 17 };
	struct zfs_handles h;
	uint64_t *fh = malloc(N * sizeof(*fh));
	uint64_t rs = zc_test_seed();

	ck_assert_int_eq(zfs_handles_init(&h), 0);
	for (unsigned k = 0; k < N; k++)
		ck_assert_int_eq(zfs_handle_open(&h, INODE(k), &fh[k]), 0);
	for (unsigned r = 0; r < 4 * N; r++) {
		unsigned k = (unsigned)zc_rand_below(&rs, N);

		ck_assert_ptr_eq(zfs_handle_get(&h, fh[k]), INODE(k));
		ck_assert_ptr_eq(zfs_handle_close(&h, fh[k]), INODE(k));
		ck_assert_ptr_null(zfs_handle_get(&h, fh[k]));
		ck_assert_int_eq(zfs_handle_open(&h, INODE(k), &fh[k]), 0);
	}
	for (unsigned k = 0; k < N; k++)
		ck_assert_ptr_eq(zfs_handle_close(&h, fh[k]), INODE(k));
	ck_assert_uint_eq(h.nslots, N);
	ck_assert_uint_eq(atomic_load(&h.open), 0);
	zfs_handles_fini(&h);
	free(fh);
}
END_TEST

struct worker {
	struct zfs_handles *h;
	unsigned id;
	int bad;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	uint64_t fh[64];

	for (unsigned r = 0; r < 2000; r++) {
		for (unsigned k = 0; k < 64; k++)
			if (zfs_handle_open(w->h, INODE(w->id * 64 + k), &fh[k]) < 0)
				w->bad++;
		for (unsigned k = 0; k < 64; k++) {
			if (zfs_handle_get(w->h, fh[k]) != INODE(w->id * 64 + k))
				w->bad++;
			if (zfs_handle_close(w->h, fh[k]) != INODE(w->id * 64 + k))
				w->bad++;
		}
	}
	return NULL;
}

static int collect(void *arg, uint64_t fh, struct zfs_inode *inode)
{
	struct zfs_handles *to = arg;

	return zfs_handle_adopt(to, fh, inode);
}

START_TEST(test_adopt)
{
	struct zfs_handles h, g;
	uint64_t fh[6000], x;
	unsigned n = 6000;

	ck_assert_int_eq(zfs_handles_init(&h), 0);
	ck_assert_int_eq(zfs_handles_init(&g), 0);
	for (unsigned k = 0; k < n; k++)
		ck_assert_int_eq(zfs_handle_open(&h, INODE(k), &fh[k]), 0);
	/* Holes, and slots reopened with later generations. */
	for (unsigned k = 0; k < n; k += 3)
		ck_assert_ptr_eq(zfs_handle_close(&h, fh[k]), INODE(k));
	for (unsigned k = 0; k < n; k += 9)
		ck_assert_int_eq(zfs_handle_open(&h, INODE(k), &fh[k]), 0);
	ck_assert_int_eq(zfs_handle_each(&h, collect, &g), 0);
	zfs_handle_adopt_done(&g);
	ck_assert_uint_eq(atomic_load(&g.open), atomic_load(&h.open));
	for (unsigned k = 0; k < n; k++) {
		int open = k % 3 != 0 || k % 9 == 0;

		ck_assert_ptr_eq(zfs_handle_get(&g, fh[k]), open ? INODE(k) : NULL);
	}
	/* Refused: taken slot, free generation, 0, NULL inode. */
	ck_assert_int_eq(zfs_handle_adopt(&g, fh[1], INODE(1)), -EEXIST);
	ck_assert_int_eq(zfs_handle_adopt(&g, fh[1] + ((uint64_t)1 << 32), INODE(1)), -EINVAL);
	ck_assert_int_eq(zfs_handle_adopt(&g, 0, INODE(1)), -EINVAL);
	ck_assert_int_eq(zfs_handle_adopt(&g, fh[1], NULL), -EINVAL);
	/* New opens take the free slots, never an adopted one. */
	for (unsigned k = 0; k < n / 3; k++) {
		ck_assert_int_eq(zfs_handle_open(&g, INODE(n + k), &x), 0);
		ck_assert_ptr_eq(zfs_handle_get(&g, x), INODE(n + k));
	}
	for (unsigned k = 0; k < n; k++)
		if (k % 3 != 0 || k % 9 == 0)
			ck_assert_ptr_eq(zfs_handle_get(&g, fh[k]), INODE(k));
	zfs_handles_fini(&h);
	zfs_handles_fini(&g);
}
END_TEST

START_TEST(test_threads)
{
	struct zfs_handles h;
	struct worker w[4];
	pthread_t t[4];

	ck_assert_int_eq(zfs_handles_init(&h), 0);
	for (unsigned k = 0; k < 4; k++) {
		w[k] = (struct worker){ .h = &h, .id = k };
		ck_assert_int_eq(pthread_create(&t[k], NULL, worker_run, &w[k]), 0);
	}
	for (unsigned k = 0; k < 4; k++) {
		pthread_join(t[k], NULL);
		ck_assert_int_eq(w[k].bad, 0);
	}
	ck_assert_uint_eq(atomic_load(&h.open), 0);
	zfs_handles_fini(&h);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("zfs_handle");
	TCase *tc = tcase_create("table");

	tcase_add_test(tc, test_basic);
	tcase_add_test(tc, test_many);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_adopt);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}

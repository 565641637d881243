/* tests/crc32c.c - libcheck suite of alloc/crc32c: the standard check
 * values, the hardware and table walks agreeing at every offset and
 * length, and chaining over any split (what the record, image and item
 * formats of the backing file, the state image and the far tier rely on).
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "alloc/crc32c.h"
#include "testutil.h"

START_TEST(test_check_values)
{
	static const unsigned char zeros[32];
	unsigned char ones[32], inc[32];

	/* RFC 3720 B.4 (iSCSI) and the usual "123456789". */
	memset(ones, 0xff, sizeof(ones));
	for (unsigned i = 0; i < sizeof(inc); i++)
		inc[i] = (unsigned char)i;
	ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(crc32c(0, zeros, 32), 0x8a9136aau);
	ck_assert_uint_eq(crc32c(0, ones, 32), 0x62a8ab43u);
	ck_assert_uint_eq(crc32c(0, inc, 32), 0x46dd794eu);
	ck_assert_uint_eq(crc32c_sw(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(crc32c_sw(0, zeros, 32), 0x8a9136aau);
	ck_assert_uint_eq(crc32c_sw(0, ones, 32), 0x62a8ab43u);
	ck_assert_uint_eq(crc32c_sw(0, inc, 32), 0x46dd794eu);
	/* Nothing leaves the CRC as it was, NULL included. */
	ck_assert_uint_eq(crc32c(0, "", 0), 0u);
	ck_assert_uint_eq(crc32c(0x12345678u, NULL, 0), 0x12345678u);
	ck_assert_uint_eq(crc32c_sw(0x12345678u, NULL, 0), 0x12345678u);
}
END_TEST

START_TEST(test_walks_agree_and_chain)
{
	uint64_t rng = zc_test_seed();
	unsigned char buf[5000];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)zc_rand(&rng);
	for (int k = 0; k < 3000; k++) {
		size_t off = zc_rand_below(&rng, 64), len = zc_rand_below(&rng, sizeof(buf) - 64);
		size_t cut = len ? zc_rand_below(&rng, len) : 0;
		uint32_t whole = crc32c(0, buf + off, len);

		ck_assert_uint_eq(whole, crc32c_sw(0, buf + off, len));
		ck_assert_uint_eq(whole, crc32c(crc32c(0, buf + off, cut), buf + off + cut, len - cut));
		ck_assert_uint_eq(whole, crc32c_sw(crc32c_sw(0, buf + off, cut), buf + off + cut,
						   len - cut));
		/* One walk may start what the other finishes. */
		ck_assert_uint_eq(whole, crc32c_sw(crc32c(0, buf + off, cut), buf + off + cut,
						   len - cut));
	}
}
END_TEST

/* Long spans go through the three-lane walk (alloc/crc32c.c): every length
 * around its steps of 768 bytes, at every alignment, agrees with the table
 * walk, and so does a walk continued from any register. */
START_TEST(test_lanes_agree)
{
	static unsigned char buf[70000];
	uint64_t rng = zc_test_seed();
	static const size_t lens[] = { 767, 768, 769, 775, 776, 1535, 1536, 1537, 2304,
				       4096, 4108, 65536, 65536 + 12, 69000 };

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)zc_rand(&rng);
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++)
		for (size_t off = 0; off < 9; off++) {
			uint32_t start = (uint32_t)zc_rand(&rng);

			ck_assert_uint_eq(crc32c(0, buf + off, lens[k]),
					  crc32c_sw(0, buf + off, lens[k]));
			ck_assert_uint_eq(crc32c(start, buf + off, lens[k]),
					  crc32c_sw(start, buf + off, lens[k]));
		}
	for (int k = 0; k < 300; k++) {
		size_t off = zc_rand_below(&rng, 64), len = zc_rand_below(&rng, sizeof(buf) - 64);

		ck_assert_uint_eq(crc32c(0, buf + off, len), crc32c_sw(0, buf + off, len));
	}
}
END_TEST

/* The tables are built on first use by whichever thread comes first. */
static void *first_use(void *arg)
{
	uint32_t *out = arg;

	static const unsigned char zeros[4096];

	*out = crc32c_sw(0, "123456789", 9);
	/* The hardware walk's lane tables too (a span of three lanes). */
	if (crc32c(0, zeros, sizeof(zeros)) != crc32c_sw(0, zeros, sizeof(zeros)))
		*out = 0;
	return NULL;
}

START_TEST(test_first_use_from_threads)
{
	pthread_t t[4];
	uint32_t got[4];

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, first_use, &got[i]), 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_uint_eq(got[i], 0xe3069283u);
	}
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("crc32c");
	TCase *tc = tcase_create("crc32c");

	tcase_add_test(tc, test_first_use_from_threads);
	tcase_add_test(tc, test_check_values);
	tcase_add_test(tc, test_walks_agree_and_chain);
	tcase_add_test(tc, test_lanes_agree);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}

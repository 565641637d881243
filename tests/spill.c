/* tests/spill.c - the far tier's client (fuse/spill.c) against real
 * memcached servers of its own.
 *
 * Every test that needs servers starts three (tests/mcutil.c) on loopback
 * ports of its own and stops them by pid, even when an assertion fails.
 * What is checked is outcomes, never time: a fetch returns exactly the
 * bytes stored or -ENOENT, whatever was done to the items or the servers
 * behind the client's back (items deleted, overwritten, swapped, copied
 * from another file or mount; servers killed, restarted empty, stopped,
 * never there).  Waits that depend on the servers' clocks (the TTL test,
 * a retried server) poll for the outcome with a generous bound.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc/crc32c.h"
#include "fuse/spill.h"
#include "mcutil.h"
#include "testutil.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static unsigned char *random_image(uint64_t *seed, size_t len)
{
	unsigned char *p = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = zc_rand(seed);

		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
	return p;
}

/* A context on cluster c with test-friendly timeouts; fields of `over`
 * that are set win. */
static struct zfs_spill *open_spill(const struct mc_cluster *c, const struct zfs_spill_config *over)
{
	char servers[512], err[256];
	struct zfs_spill_config cfg = { 0 };
	struct zfs_spill *sp;

	if (over)
		cfg = *over;
	if (!cfg.servers) {
		mc_server_list(c, servers, sizeof(servers));
		cfg.servers = servers;
	}
	if (!cfg.connect_timeout_ms)
		cfg.connect_timeout_ms = 1000;
	if (!cfg.poll_timeout_ms)
		cfg.poll_timeout_ms = 2000;
	if (!cfg.retry_ms)
		cfg.retry_ms = 200;
	sp = zfs_spill_create(&cfg, err, sizeof(err));
	ck_assert_msg(sp != NULL, "zfs_spill_create: %s (%s)", err, strerror(errno));
	ck_assert_int_eq(zfs_spill_check(sp), 0);
	return sp;
}

static void start_cluster(struct mc_cluster *c, int n)
{
	ck_assert_msg(mc_start(c, n, 64) == 0, "could not start memcached");
}

/* Fetch and require exactly `image`. */
static void expect_hit(struct zfs_spill *sp, uint64_t ino, uint64_t gen, const void *image,
		       size_t len)
{
	void *got = NULL;
	int ret = zfs_spill_fetch_sync(sp, ino, gen, len, &got);

	ck_assert_msg(ret == 0, "fetch of ino %" PRIu64 " (%zu bytes): %d", ino, len, ret);
	ck_assert_ptr_nonnull(got);
	ck_assert_msg(memcmp(got, image, len) == 0, "fetch of ino %" PRIu64 ": wrong bytes", ino);
	free(got);
}

static void expect_miss(struct zfs_spill *sp, uint64_t ino, uint64_t gen, size_t len)
{
	void *got = (void *)1;
	int ret = zfs_spill_fetch_sync(sp, ino, gen, len, &got);

	ck_assert_msg(ret == -ENOENT, "fetch of ino %" PRIu64 ": %d, expected -ENOENT", ino, ret);
	ck_assert_ptr_null(got);
}

/* The server holding item k of (ino, gen), by asking every server. */
static int where(struct zfs_spill *sp, const struct mc_cluster *c, uint64_t ino, uint64_t gen,
		 int64_t k)
{
	char key[ZFS_SPILL_KEY_MAX];

	zfs_spill_key(sp, ino, gen, k, key, sizeof(key));
	return mc_find(c, key);
}

/* ---- pieces without servers ------------------------------------------------ */

START_TEST(test_header_roundtrip)
{
	struct zfs_spill_item_header h = {
		.magic = ZFS_SPILL_MAGIC, .version = ZFS_SPILL_VERSION,
		.header_size = ZFS_SPILL_HEADER_SIZE, .mount_id = 0x0123456789abcdefull,
		.ino = 42, .gen = 7, .index = 3, .count = 9, .total_len = 123456789012ull,
		.payload_len = 4096, .payload_crc = 0xdeadbeef, .image_crc = 0xcafef00d,
	}, back;
	unsigned char wire[ZFS_SPILL_HEADER_SIZE];

	zfs_spill_encode_header(&h, wire);
	ck_assert_int_eq(memcmp(wire, "ZCSP", 4), 0);	/* magic as bytes on the wire */
	zfs_spill_decode_header(wire, &back);
	ck_assert_uint_eq(back.header_crc, crc32c(0, wire, 60));
	h.header_crc = back.header_crc;
	ck_assert_int_eq(memcmp(&h, &back, sizeof(h)), 0);
}
END_TEST

START_TEST(test_parse_servers)
{
	static const struct {
		const char *list;
		int n;
		const char *first;	/* formatted first server */
	} good[] = {
		{ "127.0.0.1:11311", 1, "127.0.0.1:11311" },
		{ "cache1", 1, "cache1:11211" },
		{ "cache-1.example.org:1+10.0.0.2:2+[::1]:3", 3, "cache-1.example.org:1" },
		{ "[fe80::1]", 1, "[fe80::1]:11211" },
		{ "[2001:db8::17]:65535+node_2:1", 2, "[2001:db8::17]:65535" },
	};
	static const struct {
		const char *list;
		const char *msg;	/* the whole expected message */
	} bad[] = {
		{ "", "empty spill server list" },
		{ "a:1++b:2", "empty server in spill server list \"a:1++b:2\"" },
		{ "a:1+", "empty server in spill server list \"a:1+\"" },
		{ "a:1+b:99999", "bad spill server \"b:99999\": port must be 1..65535" },
		{ "a:0", "bad spill server \"a:0\": port must be 1..65535" },
		{ "a:", "bad spill server \"a:\": empty port" },
		{ "a:12x", "bad spill server \"a:12x\": port must be a number 1..65535" },
		{ ":5", "bad spill server \":5\": empty host" },
		{ "::1:11211", "bad spill server \"::1:11211\": an IPv6 address goes in brackets,"
			       " as [::1]:11211" },
		{ "[::1", "bad spill server \"[::1\": missing ']' after an IPv6 address" },
		{ "[::g]:1", "bad spill server \"[::g]:1\": bad IPv6 address" },
		{ "[::1]x", "bad spill server \"[::1]x\": expected ':PORT' after ']'" },
		{ "300.1.1.1:5", "bad spill server \"300.1.1.1:5\": bad IPv4 address" },
		{ "-a:5", "bad spill server \"-a:5\": host name label starts with '-'" },
		{ "a..b:5", "bad spill server \"a..b:5\": empty label in host name" },
		{ "a b:5", "bad spill server \"a b:5\": bad character in host name" },
		{ "h:1+x:2+h:1", "bad spill server \"h:1\": listed twice" },
	};
	struct zfs_spill_addr addr[ZFS_SPILL_SERVERS_MAX];
	char err[256], name[ZFS_SPILL_NAME_MAX], *many;
	size_t off = 0;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int n = zfs_spill_parse_servers(good[i].list, addr, ZFS_SPILL_SERVERS_MAX,
						err, sizeof(err));

		ck_assert_msg(n == good[i].n, "%s: %d (%s)", good[i].list, n, err);
		zfs_spill_format_addr(&addr[0], name, sizeof(name));
		ck_assert_str_eq(name, good[i].first);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_int_eq(zfs_spill_parse_servers(bad[i].list, addr, ZFS_SPILL_SERVERS_MAX,
							 err, sizeof(err)), -EINVAL);
		ck_assert_str_eq(err, bad[i].msg);
	}
	/* 65 servers: one too many. */
	many = malloc(65 * 16);
	ck_assert_ptr_nonnull(many);
	for (int i = 0; i < 65; i++)
		off += (size_t)sprintf(many + off, "%sh%d:1", i ? "+" : "", i);
	ck_assert_int_eq(zfs_spill_parse_servers(many, addr, ZFS_SPILL_SERVERS_MAX, err,
						 sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "bad spill server \"h64:1\": more than 64 servers");
	free(many);
}
END_TEST

START_TEST(test_bad_config)
{
	static const struct {
		struct zfs_spill_config cfg;
		const char *msg;
	} bad[] = {
		{ { .servers = "a:1", .ttl_s = ZFS_SPILL_TTL_MAX + 1 },
		  "spill ttl (seconds) must be 1..2592000 (got 2592001)" },
		{ { .servers = "a:1", .item_size = 100 },
		  "spill item size (bytes) must be 1024..1044480 (got 100)" },
		{ { .servers = "a:1", .poll_timeout_ms = 60001 },
		  "spill poll timeout (ms) must be 1..60000 (got 60001)" },
		{ { .servers = "a:1", .threads = 65 }, "spill threads must be 1..64 (got 65)" },
		{ { .servers = "a:1+a:1" }, "bad spill server \"a:1\": listed twice" },
		{ { .servers = NULL }, "empty spill server list" },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		ck_assert_ptr_null(zfs_spill_create(&bad[i].cfg, err, sizeof(err)));
		ck_assert_int_eq(errno, EINVAL);
		ck_assert_str_eq(err, bad[i].msg);
	}
	/* destroy(NULL) is fine. */
	zfs_spill_destroy(NULL);
}
END_TEST

/* ---- round trips ------------------------------------------------------------ */

struct async_count {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done, ok;
	int bad;		/* callbacks with an unexpected result */
};

static void count_store_done(void *arg, int ret)
{
	struct async_count *a = arg;

	pthread_mutex_lock(&a->lock);
	a->done++;
	if (ret == 0)
		a->ok++;
	else
		a->bad++;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

START_TEST(test_roundtrip)
{
	struct mc_cluster c;
	struct zfs_spill *sp;
	struct zfs_spill_stats st;
	struct zfs_spill_server srv[3];
	uint64_t seed = zc_test_seed();
	const size_t item = ZFS_SPILL_ITEM_DEFAULT;
	const size_t sizes[] = { 0, 1, 63, 64, 4095, item - 1, item, item + 1,
				 3 * item + 17, 3 * MiB, 7 * MiB + 5 };
	const size_t nsizes = sizeof(sizes) / sizeof(sizes[0]);
	unsigned char *img[sizeof(sizes) / sizeof(sizes[0])];
	uint64_t items = 0, bytes = 0;

	start_cluster(&c, 3);
	sp = open_spill(&c, NULL);
	ck_assert_uint_eq(zfs_spill_nitems(sp, 0), 1);
	ck_assert_uint_eq(zfs_spill_nitems(sp, item), 1);
	ck_assert_uint_eq(zfs_spill_nitems(sp, item + 1), 2);
	for (size_t i = 0; i < nsizes; i++) {
		img[i] = random_image(&seed, sizes[i]);
		ck_assert_int_eq(zfs_spill_store_sync(sp, 100 + i, 1, img[i], sizes[i]), 0);
		ck_assert_int_eq(zfs_spill_check(sp), 0);
		items += zfs_spill_nitems(sp, sizes[i]);
		bytes += sizes[i];
	}
	for (size_t i = 0; i < nsizes; i++) {
		expect_hit(sp, 100 + i, 1, img[i], sizes[i]);
		ck_assert_int_eq(zfs_spill_check(sp), 0);
	}
	/* Another generation of the same inode is another image. */
	expect_miss(sp, 100, 2, 0);
	/* A length other than the stored one is not this image. */
	expect_miss(sp, 101, 1, 0);
	expect_miss(sp, 100 + nsizes - 1, 1, sizes[nsizes - 1] - 1);
	zfs_spill_stats(sp, &st);
	ck_assert_uint_eq(st.files_spilled, nsizes);
	ck_assert_uint_eq(st.files_now, nsizes);
	ck_assert_uint_eq(st.bytes_spilled, bytes);
	ck_assert_uint_eq(st.bytes_now, bytes);
	ck_assert_uint_eq(st.items_set, items);
	ck_assert_uint_eq(st.fetch_hits, nsizes);
	ck_assert_uint_eq(st.fetch_bytes, bytes);
	ck_assert_uint_eq(st.fetch_misses, 3);
	ck_assert_uint_eq(st.store_errors, 0);
	ck_assert_uint_eq(st.remote_errors, 0);
	ck_assert_uint_eq(st.queue_depth, 0);
	ck_assert_uint_eq(st.queue_bytes, 0);
	ck_assert_int_eq(zfs_spill_servers(sp, NULL, 0), 3);
	ck_assert_int_eq(zfs_spill_servers(sp, srv, 3), 3);
	for (int i = 0; i < 3; i++) {
		char want[64];

		snprintf(want, sizeof(want), "127.0.0.1:%d", c.port[i]);
		ck_assert_str_eq(srv[i].name, want);
		ck_assert_int_eq(srv[i].state, ZFS_SPILL_SERVER_UP);
		ck_assert_uint_eq(srv[i].errors, 0);
		ck_assert_str_eq(srv[i].last_error, "");
	}
	/* Deleting every image empties the servers and the "now" figures. */
	for (size_t i = 0; i < nsizes; i++)
		ck_assert_int_eq(zfs_spill_delete(sp, 100 + i, 1, sizes[i]), 0);
	zfs_spill_destroy(sp);	/* runs or drops the queued deletes */
	sp = open_spill(&c, NULL);	/* a new mount id: the old items are unreachable */
	expect_miss(sp, 100, 1, 0);
	zfs_spill_destroy(sp);
	for (size_t i = 0; i < nsizes; i++)
		free(img[i]);
	mc_stop_all(&c);
}
END_TEST

/* Many stores in flight at once, and multi-gets in batches: a small item
 * size makes a 300-item image. */
START_TEST(test_async_and_batches)
{
	struct async_count a = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0 };
	struct zfs_spill_config cfg = { .item_size = 1024, .threads = 3, .fetch_threads = 3 };
	struct mc_cluster c;
	struct zfs_spill *sp;
	struct zfs_spill_stats st;
	uint64_t seed = zc_test_seed();
	enum { N = 40 };
	unsigned char *img[N];
	size_t len[N];

	start_cluster(&c, 3);
	sp = open_spill(&c, &cfg);
	for (int i = 0; i < N; i++) {
		len[i] = i == 0 ? 300 * 1024 - 5 : (size_t)zc_rand_below(&seed, 40000);
		img[i] = random_image(&seed, len[i]);
		ck_assert_int_eq(zfs_spill_store(sp, (uint64_t)i, 9, img[i], len[i],
						 count_store_done, &a), 0);
	}
	pthread_mutex_lock(&a.lock);
	while (a.done < N)
		pthread_cond_wait(&a.cond, &a.lock);
	pthread_mutex_unlock(&a.lock);
	ck_assert_int_eq(a.ok, N);
	ck_assert_int_eq(zfs_spill_check(sp), 0);
	ck_assert_uint_eq(zfs_spill_nitems(sp, len[0]), 300);
	for (int i = 0; i < N; i++)
		expect_hit(sp, (uint64_t)i, 9, img[i], len[i]);
	zfs_spill_stats(sp, &st);
	ck_assert_uint_eq(st.fetch_hits, N);
	ck_assert_uint_eq(st.corrupt_items, 0);
	zfs_spill_destroy(sp);
	for (int i = 0; i < N; i++)
		free(img[i]);
	mc_stop_all(&c);
}
END_TEST

/* Every item sits on exactly one server, all items of an image on the same
 * one, and the images spread over all three. */
START_TEST(test_spread)
{
	struct zfs_spill_config cfg = { .mount_id = 0x5eed5eed5eed5eedull, .item_size = 4096 };
	struct mc_cluster c;
	struct zfs_spill *sp;
	struct zfs_spill_server srv[3];
	uint64_t seed = 11;
	int per_server[3] = { 0, 0, 0 };
	enum { N = 60 };

	start_cluster(&c, 3);
	sp = open_spill(&c, &cfg);
	ck_assert_uint_eq(zfs_spill_mount_id(sp), cfg.mount_id);
	for (int i = 0; i < N; i++) {
		size_t len = 3 * 4096 - 100;
		unsigned char *img = random_image(&seed, len);
		int s0;

		ck_assert_int_eq(zfs_spill_store_sync(sp, 1000 + (uint64_t)i, 1, img, len), 0);
		s0 = where(sp, &c, 1000 + (uint64_t)i, 1, 0);
		ck_assert_int_ge(s0, 0);
		for (int k = 1; k < 3; k++)
			ck_assert_int_eq(where(sp, &c, 1000 + (uint64_t)i, 1, k), s0);
		per_server[s0]++;
		free(img);
	}
	ck_assert_int_eq(zfs_spill_servers(sp, srv, 3), 3);
	for (int s = 0; s < 3; s++) {
		ck_assert_msg(per_server[s] > 0, "server %d holds no image", s);
		ck_assert_uint_eq(mc_stat(c.port[s], "curr_items"), (long long)per_server[s] * 3);
		ck_assert_uint_eq(srv[s].requests, (uint64_t)per_server[s] * 3);
	}
	zfs_spill_destroy(sp);
	mc_stop_all(&c);
}
END_TEST

/* ---- damage behind the client's back ---------------------------------------- */

START_TEST(test_missing_item)
{
	struct mc_cluster c;
	struct zfs_spill *sp;
	struct zfs_spill_stats st;
	uint64_t seed = zc_test_seed();
	size_t len = 2 * 4096 + 10;
	unsigned char *a = random_image(&seed, len), *b = random_image(&seed, len);
	struct zfs_spill_config cfg = { .item_size = 4096 };
	char key[ZFS_SPILL_KEY_MAX];
	int s;

	start_cluster(&c, 3);
	sp = open_spill(&c, &cfg);
	ck_assert_int_eq(zfs_spill_store_sync(sp, 1, 1, a, len), 0);
	ck_assert_int_eq(zfs_spill_store_sync(sp, 2, 1, b, len), 0);
	expect_hit(sp, 1, 1, a, len);
	/* Remove the middle item with a raw delete. */
	s = where(sp, &c, 1, 1, 1);
	ck_assert_int_ge(s, 0);
	zfs_spill_key(sp, 1, 1, 1, key, sizeof(key));
	ck_assert_int_eq(mc_delete(c.port[s], key), 1);
	expect_miss(sp, 1, 1, len);
	expect_hit(sp, 2, 1, b, len);
	/* The last item only. */
	s = where(sp, &c, 2, 1, 2);
	zfs_spill_key(sp, 2, 1, 2, key, sizeof(key));
	ck_assert_int_eq(mc_delete(c.port[s], key), 1);
	expect_miss(sp, 2, 1, len);
	zfs_spill_stats(sp, &st);
	ck_assert_uint_eq(st.fetch_misses, 2);
	ck_assert_uint_eq(st.fetch_hits, 2);
	ck_assert_uint_eq(st.corrupt_items, 0);
	ck_assert_int_eq(zfs_spill_check(sp), 0);
	zfs_spill_destroy(sp);
	free(a);
	free(b);
	mc_stop_all(&c);
}
END_TEST

/* Read item k's raw value. */
static void *raw_item(struct zfs_spill *sp, const struct mc_cluster *c, uint64_t ino,
		      uint64_t gen, int64_t k, size_t *len, int *server)
{
	char key[ZFS_SPILL_KEY_MAX];
	void *val;

	*server = where(sp, c, ino, gen, k);
	ck_assert_int_ge(*server, 0);
	zfs_spill_key(sp, ino, gen, k, key, sizeof(key));
	ck_assert_int_eq(mc_get(c->port[*server], key, &val, len), 1);
	return val;
}

static void put_item(struct zfs_spill *sp, const struct mc_cluster *c, int server, uint64_t ino,
		     uint64_t gen, int64_t k, const void *val, size_t len)
{
	char key[ZFS_SPILL_KEY_MAX];

	zfs_spill_key(sp, ino, gen, k, key, sizeof(key));
	ck_assert_int_eq(mc_set(c->port[server], key, val, len, 3600), 0);
}

START_TEST(test_corrupt_items)
{
	struct zfs_spill_config cfg = { .item_size = 4096 };
	struct mc_cluster c;
	struct zfs_spill *sp, *other;
	struct zfs_spill_stats st;
	uint64_t seed = zc_test_seed();
	const size_t len = 3 * 4096 - 1;
	unsigned char *img = random_image(&seed, len), *img2 = random_image(&seed, len);
	unsigned char *v0, *v1, *v;
	size_t l0, l1, l;
	int s, s1;
	uint64_t ino = 1;

	start_cluster(&c, 3);
	sp = open_spill(&c, &cfg);

	/* 1. one payload byte flipped */
	ck_assert_int_eq(zfs_spill_store_sync(sp, ino, 1, img, len), 0);
	v = raw_item(sp, &c, ino, 1, 1, &l, &s);
	v[ZFS_SPILL_HEADER_SIZE + 100] ^= 0x01;
	put_item(sp, &c, s, ino, 1, 1, v, l);
	expect_miss(sp, ino, 1, len);
	free(v);

	/* 2. one header byte flipped (the ino's low byte) */
	ino++;
	ck_assert_int_eq(zfs_spill_store_sync(sp, ino, 1, img, len), 0);
	v = raw_item(sp, &c, ino, 1, 0, &l, &s);
	v[16] ^= 0x80;
	put_item(sp, &c, s, ino, 1, 0, v, l);
	expect_miss(sp, ino, 1, len);
	free(v);

	/* 3. items 0 and 1 swapped (each valid, at the wrong index) */
	ino++;
	ck_assert_int_eq(zfs_spill_store_sync(sp, ino, 1, img, len), 0);
	v0 = raw_item(sp, &c, ino, 1, 0, &l0, &s);
	v1 = raw_item(sp, &c, ino, 1, 1, &l1, &s1);
	ck_assert_int_eq(s, s1);
	put_item(sp, &c, s, ino, 1, 0, v1, l1);
	put_item(sp, &c, s, ino, 1, 1, v0, l0);
	expect_miss(sp, ino, 1, len);
	free(v0);
	free(v1);

	/* 4. item 0 of another file copied under this file's key */
	ino++;
	ck_assert_int_eq(zfs_spill_store_sync(sp, ino, 1, img, len), 0);
	ck_assert_int_eq(zfs_spill_store_sync(sp, 999, 1, img, len), 0);
	v = raw_item(sp, &c, 999, 1, 0, &l, &s1);
	s = where(sp, &c, ino, 1, 0);
	put_item(sp, &c, s, ino, 1, 0, v, l);
	expect_miss(sp, ino, 1, len);
	expect_hit(sp, 999, 1, img, len);
	free(v);

	/* 5. the same (ino, gen) from another mount */
	ino++;
	ck_assert_int_eq(zfs_spill_store_sync(sp, ino, 1, img, len), 0);
	other = open_spill(&c, &cfg);
	ck_assert_int_eq(zfs_spill_store_sync(other, ino, 1, img, len), 0);
	v = raw_item(other, &c, ino, 1, 2, &l, &s1);
	s = where(sp, &c, ino, 1, 2);
	put_item(sp, &c, s, ino, 1, 2, v, l);
	expect_miss(sp, ino, 1, len);
	expect_hit(other, ino, 1, img, len);
	free(v);
	zfs_spill_destroy(other);

	/* 6. a truncated item and an empty one */
	ino++;
	ck_assert_int_eq(zfs_spill_store_sync(sp, ino, 1, img, len), 0);
	v = raw_item(sp, &c, ino, 1, 1, &l, &s);
	put_item(sp, &c, s, ino, 1, 1, v, l - 1);
	expect_miss(sp, ino, 1, len);
	put_item(sp, &c, s, ino, 1, 1, v, 0);
	expect_miss(sp, ino, 1, len);
	free(v);

	/* 7. items of two images stored under one name (a caller bug): every
	 * item is valid alone, but the image checksums disagree. */
	ino++;
	ck_assert_int_eq(zfs_spill_store_sync(sp, ino, 1, img, len), 0);
	v = raw_item(sp, &c, ino, 1, 0, &l, &s);
	ck_assert_int_eq(zfs_spill_store_sync(sp, ino, 1, img2, len), 0);
	put_item(sp, &c, s, ino, 1, 0, v, l);
	expect_miss(sp, ino, 1, len);
	free(v);

	/* 8. the same with item 0 swapped in from an image whose bytes differ
	 * only where item 0 lies: the per-item CRCs all pass, only the whole
	 * image's CRC (carried by every item) tells. */
	ino++;
	memcpy(img2 + 4096, img + 4096, len - 4096);
	ck_assert_int_eq(zfs_spill_store_sync(sp, ino, 1, img, len), 0);
	v = raw_item(sp, &c, ino, 1, 0, &l, &s);
	ck_assert_int_eq(zfs_spill_store_sync(sp, ino, 1, img2, len), 0);
	put_item(sp, &c, s, ino, 1, 0, v, l);
	expect_miss(sp, ino, 1, len);
	free(v);

	zfs_spill_stats(sp, &st);
	ck_assert_uint_eq(st.fetch_misses, 9);
	ck_assert_uint_ge(st.corrupt_items, 9);
	ck_assert_uint_eq(st.fetch_hits, 1);
	ck_assert_int_eq(zfs_spill_check(sp), 0);
	zfs_spill_destroy(sp);
	free(img);
	free(img2);
	mc_stop_all(&c);
}
END_TEST

/* ---- servers that die, come back empty, hang, or were never there --------- */

struct reader {
	struct zfs_spill *sp;
	int n;
	unsigned char **img;
	size_t *len;
	atomic_int stop;
	atomic_long fetches, hits, misses, wrong, other;
	uint64_t seed;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	while (!atomic_load(&r->stop)) {
		int i = (int)zc_rand_below(&r->seed, (uint64_t)r->n);
		void *got;
		int ret = zfs_spill_fetch_sync(r->sp, 500 + (uint64_t)i, 3, r->len[i], &got);

		if (ret == 0) {
			atomic_fetch_add(&r->hits, 1);
			if (memcmp(got, r->img[i], r->len[i]))
				atomic_fetch_add(&r->wrong, 1);
			free(got);
		} else if (ret == -ENOENT) {
			atomic_fetch_add(&r->misses, 1);
		} else {
			atomic_fetch_add(&r->other, 1);
		}
		atomic_fetch_add(&r->fetches, 1);
	}
	return NULL;
}

static void wait_fetches(struct reader *r, long more)
{
	long target = atomic_load(&r->fetches) + more;

	while (atomic_load(&r->fetches) < target)
		sleep_ms(5);
}

START_TEST(test_kill_and_restart)
{
	struct zfs_spill_config cfg = { .mount_id = 0x00c0ffee00c0ffeeull, .retry_ms = 100,
					.fetch_threads = 2 };
	struct mc_cluster c;
	struct reader r = { 0 };
	struct zfs_spill_server srv[3];
	struct zfs_spill_stats st;
	pthread_t tid;
	enum { N = 45, VICTIM = 1 };
	int home[N], victims = 0;
	uint64_t seed = zc_test_seed();
	bool stored_on_victim = false;

	start_cluster(&c, 3);
	r.sp = open_spill(&c, &cfg);
	r.n = N;
	r.img = calloc(N, sizeof(*r.img));
	r.len = calloc(N, sizeof(*r.len));
	r.seed = seed;
	for (int i = 0; i < N; i++) {
		r.len[i] = (size_t)zc_rand_below(&seed, 1536 * KiB);
		r.img[i] = random_image(&seed, r.len[i]);
		ck_assert_int_eq(zfs_spill_store_sync(r.sp, 500 + (uint64_t)i, 3, r.img[i],
						      r.len[i]), 0);
		home[i] = where(r.sp, &c, 500 + (uint64_t)i, 3, 0);
		ck_assert_int_ge(home[i], 0);
		victims += home[i] == VICTIM;
	}
	ck_assert_msg(victims > 0 && victims < N, "the victim holds %d of %d images", victims, N);
	ck_assert_int_eq(pthread_create(&tid, NULL, reader_main, &r), 0);
	wait_fetches(&r, 60);
	ck_assert_int_eq(atomic_load(&r.misses), 0);

	/* Kill one node while the reader loops. */
	mc_signal(&c, VICTIM, SIGKILL);
	wait_fetches(&r, 150);
	/* Back, empty, on the same port. */
	ck_assert_int_eq(mc_start_one(&c, VICTIM), 0);
	wait_fetches(&r, 150);
	atomic_store(&r.stop, 1);
	pthread_join(tid, NULL);
	fprintf(stderr, "kill_and_restart: %ld fetches while a node died and came back:"
		" %ld exact, %ld ENOENT, %ld wrong, %ld other\n", atomic_load(&r.fetches),
		atomic_load(&r.hits), atomic_load(&r.misses), atomic_load(&r.wrong),
		atomic_load(&r.other));
	ck_assert_int_eq(atomic_load(&r.wrong), 0);
	ck_assert_int_eq(atomic_load(&r.other), 0);
	ck_assert_int_gt(atomic_load(&r.misses), 0);
	ck_assert_int_gt(atomic_load(&r.hits), 0);

	/* Now: the victim's images are gone (no stale data), the others are
	 * all there. */
	for (int i = 0; i < N; i++) {
		if (home[i] == VICTIM)
			expect_miss(r.sp, 500 + (uint64_t)i, 3, r.len[i]);
		else
			expect_hit(r.sp, 500 + (uint64_t)i, 3, r.img[i], r.len[i]);
	}
	zfs_spill_servers(r.sp, srv, 3);
	fprintf(stderr, "kill_and_restart: %s is %s after %" PRIu64 " errors, the last: %s\n",
		srv[VICTIM].name, zfs_spill_server_state_name(srv[VICTIM].state),
		srv[VICTIM].errors, srv[VICTIM].last_error);
	ck_assert_uint_gt(srv[VICTIM].errors, 0);
	ck_assert_str_ne(srv[VICTIM].last_error, "");
	ck_assert_uint_eq(srv[0].errors, 0);
	ck_assert_uint_eq(srv[2].errors, 0);
	zfs_spill_stats(r.sp, &st);
	ck_assert_uint_gt(st.remote_errors, 0);

	/* The restarted node serves new images again (once retried): store
	 * new generations until one lands on it (a generation's server is
	 * only known from where its items went). */
	for (uint64_t gen = 4, t = 0; t < 400 && !stored_on_victim; t++) {
		int ret = zfs_spill_store_sync(r.sp, 500, gen, r.img[0], r.len[0]);

		ck_assert_msg(ret == 0 || ret == -EHOSTDOWN, "store: %d", ret);
		if (ret != 0) {
			sleep_ms(50);	/* it maps to the victim, not retried yet */
			continue;
		}
		expect_hit(r.sp, 500, gen, r.img[0], r.len[0]);
		stored_on_victim = where(r.sp, &c, 500, gen, 0) == VICTIM;
		gen++;
	}
	ck_assert(stored_on_victim);
	zfs_spill_servers(r.sp, srv, 3);
	ck_assert_int_eq(srv[VICTIM].state, ZFS_SPILL_SERVER_UP);
	ck_assert_int_eq(zfs_spill_check(r.sp), 0);
	zfs_spill_destroy(r.sp);
	for (int i = 0; i < N; i++)
		free(r.img[i]);
	free(r.img);
	free(r.len);
	mc_stop_all(&c);
}
END_TEST

struct ret_log {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int n, done;
	int ret[64];
	int calls[64];
};

struct ret_slot {
	struct ret_log *log;
	int i;
};

static void log_store_done(void *arg, int ret)
{
	struct ret_slot *s = arg;

	pthread_mutex_lock(&s->log->lock);
	s->log->ret[s->i] = ret;
	s->log->calls[s->i]++;
	s->log->done++;
	pthread_cond_broadcast(&s->log->cond);
	pthread_mutex_unlock(&s->log->lock);
}

static void log_wait(struct ret_log *l, int n)
{
	pthread_mutex_lock(&l->lock);
	while (l->done < n)
		pthread_cond_wait(&l->cond, &l->lock);
	pthread_mutex_unlock(&l->lock);
}

/* One server of three is a port nobody listens on. */
START_TEST(test_dead_port)
{
	struct zfs_spill_config cfg = { .mount_id = 0xdeadull << 48 };
	struct ret_log log = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, { 0 },
			       { 0 } };
	struct ret_slot slot[40];
	struct mc_cluster c;
	struct zfs_spill *sp;
	struct zfs_spill_server srv[3];
	struct zfs_spill_stats st;
	char servers[256];
	uint64_t seed = zc_test_seed();
	unsigned char *img[40];
	int ok = 0, failed = 0, dead;

	start_cluster(&c, 2);
	dead = mc_free_port();
	snprintf(servers, sizeof(servers), "127.0.0.1:%d+127.0.0.1:%d+127.0.0.1:%d",
		 c.port[0], dead, c.port[1]);
	cfg.servers = servers;
	sp = open_spill(&c, &cfg);
	for (int i = 0; i < 40; i++) {
		img[i] = random_image(&seed, 20000 + (size_t)i);
		slot[i] = (struct ret_slot){ &log, i };
		ck_assert_int_eq(zfs_spill_store(sp, (uint64_t)i, 1, img[i], 20000 + (size_t)i,
						 log_store_done, &slot[i]), 0);
	}
	log_wait(&log, 40);
	for (int i = 0; i < 40; i++) {
		ck_assert_int_eq(log.calls[i], 1);
		ck_assert_msg(log.ret[i] == 0 || log.ret[i] == -EHOSTDOWN, "store %d: %d",
			      i, log.ret[i]);
		if (log.ret[i] == 0) {
			ok++;
			expect_hit(sp, (uint64_t)i, 1, img[i], 20000 + (size_t)i);
		} else {
			failed++;
			expect_miss(sp, (uint64_t)i, 1, 20000 + (size_t)i);
		}
	}
	ck_assert_int_gt(ok, 0);
	ck_assert_int_gt(failed, 0);
	zfs_spill_servers(sp, srv, 3);
	ck_assert_int_ne(srv[1].state, ZFS_SPILL_SERVER_UP);
	ck_assert_uint_gt(srv[1].errors, 0);
	ck_assert_str_ne(srv[1].last_error, "");
	ck_assert_int_eq(srv[0].state, ZFS_SPILL_SERVER_UP);
	ck_assert_int_eq(srv[2].state, ZFS_SPILL_SERVER_UP);
	zfs_spill_stats(sp, &st);
	ck_assert_uint_eq(st.store_errors, (uint64_t)failed);
	ck_assert_uint_eq(st.files_now, (uint64_t)ok);
	ck_assert_int_eq(zfs_spill_check(sp), 0);
	zfs_spill_destroy(sp);
	for (int i = 0; i < 40; i++)
		free(img[i]);
	mc_stop_all(&c);
}
END_TEST

/* A hung server (SIGSTOP): its requests time out, the others go on; once
 * it runs again it serves again. */
START_TEST(test_hung_server)
{
	struct zfs_spill_config cfg = { .mount_id = 0x4b4e47ull, .poll_timeout_ms = 300,
					.retry_ms = 100, .item_size = 1024 };
	struct mc_cluster c;
	struct zfs_spill *sp;
	struct zfs_spill_server srv[3];
	struct zfs_spill_stats st;
	uint64_t seed = zc_test_seed();
	enum { N = 24, HUNG = 2 };
	unsigned char *img[N];
	int home[N], timeouts = 0, back = 0;
	const size_t len = 64 * 1024;

	start_cluster(&c, 3);
	sp = open_spill(&c, &cfg);
	for (int i = 0; i < N; i++) {
		img[i] = random_image(&seed, len);
		ck_assert_int_eq(zfs_spill_store_sync(sp, (uint64_t)i, 1, img[i], len), 0);
		home[i] = where(sp, &c, (uint64_t)i, 1, 0);
	}
	mc_signal(&c, HUNG, SIGSTOP);
	/* Storing the same images again under the same names goes to the same
	 * servers. */
	for (int i = 0; i < N; i++) {
		int ret = zfs_spill_store_sync(sp, (uint64_t)i, 1, img[i], len);

		if (home[i] == HUNG) {
			ck_assert_msg(ret == -ETIMEDOUT || ret == -EHOSTDOWN || ret == -EIO,
				      "store to the hung server: %d", ret);
			timeouts += ret == -ETIMEDOUT;
			expect_miss(sp, (uint64_t)i, 1, len);
		} else {
			ck_assert_int_eq(ret, 0);
			expect_hit(sp, (uint64_t)i, 1, img[i], len);
		}
	}
	zfs_spill_stats(sp, &st);
	ck_assert_int_gt(timeouts, 0);
	ck_assert_uint_gt(st.timeouts, 0);
	zfs_spill_servers(sp, srv, 3);
	ck_assert_uint_gt(srv[HUNG].errors, 0);
	ck_assert_int_ne(srv[HUNG].state, ZFS_SPILL_SERVER_UP);
	mc_signal(&c, HUNG, SIGCONT);
	/* It answers again: an image that maps to it is stored and read. */
	for (int i = 0; i < N && !back; i++) {
		if (home[i] != HUNG)
			continue;
		for (int t = 0; t < 200 && !back; t++) {
			int ret = zfs_spill_store_sync(sp, (uint64_t)i, 1, img[i], len);

			if (ret == 0)
				back = 1;
			else
				sleep_ms(50);
		}
		if (back)
			expect_hit(sp, (uint64_t)i, 1, img[i], len);
	}
	ck_assert(back);
	ck_assert_int_eq(zfs_spill_check(sp), 0);
	zfs_spill_destroy(sp);
	for (int i = 0; i < N; i++)
		free(img[i]);
	mc_stop_all(&c);
}
END_TEST

/* ---- TTL, delete, queues, shutdown ------------------------------------------------- */

START_TEST(test_ttl)
{
	struct zfs_spill_config lon = { .ttl_s = 3600, .item_size = 4096 };
	struct zfs_spill_config shrt = { .ttl_s = 1, .item_size = 4096 };
	struct mc_cluster c;
	struct zfs_spill *a, *b;
	uint64_t seed = zc_test_seed();
	const size_t len = 3 * 4096;
	unsigned char *img = random_image(&seed, len);
	char key[ZFS_SPILL_KEY_MAX];
	int gone = 0;

	start_cluster(&c, 3);
	a = open_spill(&c, &lon);
	b = open_spill(&c, &shrt);
	ck_assert_int_eq(zfs_spill_store_sync(a, 1, 1, img, len), 0);
	/* Every item carries the TTL. */
	for (int k = 0; k < 3; k++) {
		int s = where(a, &c, 1, 1, k);
		long t;

		zfs_spill_key(a, 1, 1, k, key, sizeof(key));
		t = mc_ttl(c.port[s], key);
		ck_assert_msg(t > 3000 && t <= 3600, "item %d ttl %ld", k, t);
	}
	ck_assert_int_eq(zfs_spill_store_sync(b, 1, 1, img, len), 0);
	/* The short-lived copy expires (memcached's clock ticks once a
	 * second: poll for the outcome). */
	for (int t = 0; t < 300 && !gone; t++) {
		void *got;
		int ret = zfs_spill_fetch_sync(b, 1, 1, len, &got);

		if (ret == 0) {
			ck_assert_int_eq(memcmp(got, img, len), 0);
			free(got);
			sleep_ms(100);
		} else {
			ck_assert_int_eq(ret, -ENOENT);
			gone = 1;
		}
	}
	ck_assert_msg(gone, "items with a 1 s TTL still there after 30 s");
	expect_hit(a, 1, 1, img, len);
	zfs_spill_destroy(a);
	zfs_spill_destroy(b);
	free(img);
	mc_stop_all(&c);
}
END_TEST

START_TEST(test_delete_and_cancel)
{
	struct zfs_spill_config cfg = { .item_size = 4096, .threads = 1 };
	struct ret_log log = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, { 0 },
			       { 0 } };
	struct ret_slot slot[2] = { { &log, 0 }, { &log, 1 } };
	struct mc_cluster c;
	struct zfs_spill *sp;
	struct zfs_spill_stats st;
	uint64_t seed = zc_test_seed();
	const size_t len = 3 * 4096, big = 8 * MiB;
	unsigned char *img = random_image(&seed, len), *bigimg = random_image(&seed, big);

	start_cluster(&c, 3);
	sp = open_spill(&c, &cfg);
	ck_assert_int_eq(zfs_spill_store_sync(sp, 1, 1, img, len), 0);
	ck_assert_int_eq(zfs_spill_delete(sp, 1, 1, len), 0);
	zfs_spill_stats(sp, &st);
	ck_assert_uint_eq(st.files_now, 0);
	ck_assert_uint_eq(st.bytes_now, 0);
	/* The delete runs on the one spill thread: a store queued after it
	 * completes after it. */
	ck_assert_int_eq(zfs_spill_store_sync(sp, 2, 1, img, len), 0);
	for (int k = 0; k < 3; k++)
		ck_assert_int_eq(where(sp, &c, 1, 1, k), -1);
	zfs_spill_stats(sp, &st);
	ck_assert_uint_eq(st.deletes, 1);
	ck_assert_uint_eq(st.items_deleted, 3);

	/* A delete of an image whose store is queued (behind a big one on the
	 * only thread) or running cancels it; either way nothing of it stays. */
	ck_assert_int_eq(zfs_spill_store(sp, 3, 1, bigimg, big, log_store_done, &slot[0]), 0);
	ck_assert_int_eq(zfs_spill_store(sp, 4, 1, img, len, log_store_done, &slot[1]), 0);
	ck_assert_int_eq(zfs_spill_delete(sp, 4, 1, len), 0);
	log_wait(&log, 2);
	ck_assert_int_eq(log.ret[0], 0);
	ck_assert_int_eq(log.ret[1], -ECANCELED);
	ck_assert_int_eq(log.calls[1], 1);
	ck_assert_int_eq(zfs_spill_store_sync(sp, 5, 1, img, len), 0);	/* a barrier */
	for (int k = 0; k < 3; k++)
		ck_assert_int_eq(where(sp, &c, 4, 1, k), -1);
	/* And while it runs: cancel the big one mid-way or after it. */
	log.done = 0;
	ck_assert_int_eq(zfs_spill_store(sp, 6, 1, bigimg, big, log_store_done, &slot[0]), 0);
	ck_assert_int_eq(zfs_spill_delete(sp, 6, 1, big), 0);
	log_wait(&log, 1);
	ck_assert_int_eq(log.ret[0], -ECANCELED);
	ck_assert_int_eq(zfs_spill_store_sync(sp, 7, 1, img, len), 0);	/* a barrier */
	for (uint32_t k = 0; k < zfs_spill_nitems(sp, big); k++)
		ck_assert_int_eq(where(sp, &c, 6, 1, k), -1);
	zfs_spill_stats(sp, &st);
	ck_assert_uint_eq(st.store_cancelled, 2);
	ck_assert_uint_eq(st.files_now, 4);	/* 2, 3, 5, 7 stored; 1 deleted */
	ck_assert_int_eq(zfs_spill_check(sp), 0);
	zfs_spill_destroy(sp);
	free(img);
	free(bigimg);
	mc_stop_all(&c);
}
END_TEST

struct fetch_log {
	atomic_int calls, ok, shutdown, other;
};

static void log_fetch_done(void *arg, int ret, void *image, size_t len)
{
	struct fetch_log *l = arg;

	(void)len;
	atomic_fetch_add(&l->calls, 1);
	if (ret == 0)
		atomic_fetch_add(&l->ok, 1);
	else if (ret == -ESHUTDOWN)
		atomic_fetch_add(&l->shutdown, 1);
	else
		atomic_fetch_add(&l->other, 1);
	free(image);
}

/* A stopped server holds the only spill thread; the queue fills and
 * refuses at once; destroy completes the queued stores with -ESHUTDOWN. */
START_TEST(test_queue_full_and_destroy)
{
	struct zfs_spill_config cfg = { .threads = 1, .fetch_threads = 1, .queue_max = 4,
					.queue_bytes = 8 * MiB, .poll_timeout_ms = 3000 };
	struct ret_log log = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, { 0 },
			       { 0 } };
	struct ret_slot slot[16];
	struct mc_cluster c;
	struct zfs_spill *sp;
	struct zfs_spill_stats st;
	uint64_t seed = zc_test_seed();
	unsigned char *img = random_image(&seed, 1 * MiB);
	int accepted = 0, eagain = 0, last = -1;
	bool taken[10] = { false };

	start_cluster(&c, 1);
	sp = open_spill(&c, &cfg);
	ck_assert_int_eq(zfs_spill_store(sp, 1, 1, img, 9 * MiB, log_store_done, &slot[0]), -EFBIG);
	ck_assert_int_eq(zfs_spill_fetch(sp, 1, 1, 9 * MiB, log_fetch_done, NULL), -EFBIG);
	ck_assert_int_eq(zfs_spill_fetch(sp, 1, 1, 10, NULL, NULL), -EINVAL);
	ck_assert_int_eq(zfs_spill_store(sp, 1, 1, img, 10, NULL, NULL), -EINVAL);
	mc_signal(&c, 0, SIGSTOP);
	for (int i = 0; i < 10; i++) {
		int ret;

		slot[i] = (struct ret_slot){ &log, i };
		ret = zfs_spill_store(sp, (uint64_t)i, 1, img, 1 * MiB, log_store_done, &slot[i]);
		ck_assert_msg(ret == 0 || ret == -EAGAIN, "store %d: %d", i, ret);
		/* Which ones are taken depends on when the spill thread picks
		 * the first from the queue: a refusal may come before the
		 * thread makes room for one more. */
		taken[i] = ret == 0;
		if (ret == 0)
			last = i;
		accepted += ret == 0;
		eagain += ret == -EAGAIN;
	}
	/* Four wait in the queue, at most one more runs. */
	ck_assert_int_ge(accepted, 4);
	ck_assert_int_le(accepted, 5);
	ck_assert_int_eq(eagain, 10 - accepted);
	zfs_spill_stats(sp, &st);
	ck_assert_uint_eq(st.store_rejected, 1 + (uint64_t)eagain);	/* with the -EFBIG */
	ck_assert_int_eq(zfs_spill_check(sp), 0);
	zfs_spill_destroy(sp);
	/* Every accepted store got exactly one callback: the running one its
	 * timeout, the queued ones -ESHUTDOWN. */
	ck_assert_int_eq(log.done, accepted);
	for (int i = 0; i < 10; i++) {
		if (taken[i]) {
			ck_assert_int_eq(log.calls[i], 1);
			ck_assert_msg(log.ret[i] < 0, "store %d to a stopped server: %d",
				      i, log.ret[i]);
		} else {
			ck_assert_int_eq(log.calls[i], 0);
		}
	}
	ck_assert_int_eq(log.ret[last], -ESHUTDOWN);
	mc_signal(&c, 0, SIGCONT);
	mc_stop_all(&c);
	free(img);
}
END_TEST

/* Destroy right after queueing lots of work on a live cluster: every
 * callback runs exactly once, with a result or -ESHUTDOWN. */
START_TEST(test_destroy_busy)
{
	struct zfs_spill_config cfg = { .queue_max = 200, .queue_bytes = 256 * MiB };
	struct fetch_log f = { 0 };
	struct ret_log log = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, { 0 },
			       { 0 } };
	struct ret_slot slot[64];
	struct mc_cluster c;
	struct zfs_spill *sp;
	uint64_t seed = zc_test_seed();
	unsigned char *img = random_image(&seed, 1 * MiB);

	start_cluster(&c, 3);
	sp = open_spill(&c, &cfg);
	ck_assert_int_eq(zfs_spill_store_sync(sp, 1, 1, img, 1 * MiB), 0);
	for (int i = 0; i < 64; i++) {
		slot[i] = (struct ret_slot){ &log, i };
		ck_assert_int_eq(zfs_spill_store(sp, 100 + (uint64_t)i, 1, img, 1 * MiB,
						 log_store_done, &slot[i]), 0);
		ck_assert_int_eq(zfs_spill_fetch(sp, 1, 1, 1 * MiB, log_fetch_done, &f), 0);
		ck_assert_int_eq(zfs_spill_delete(sp, 1000 + (uint64_t)i, 1, 10), 0);
	}
	zfs_spill_destroy(sp);
	ck_assert_int_eq(log.done, 64);
	for (int i = 0; i < 64; i++) {
		ck_assert_int_eq(log.calls[i], 1);
		ck_assert_msg(log.ret[i] == 0 || log.ret[i] == -ESHUTDOWN, "store %d: %d",
			      i, log.ret[i]);
	}
	ck_assert_int_eq(atomic_load(&f.calls), 64);
	ck_assert_int_eq(atomic_load(&f.other), 0);
	ck_assert_int_eq(atomic_load(&f.ok) + atomic_load(&f.shutdown), 64);
	free(img);
	mc_stop_all(&c);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("spill");
	TCase *t = tcase_create("spill");

	tcase_set_timeout(t, 600);
	tcase_add_test(t, test_header_roundtrip);
	tcase_add_test(t, test_parse_servers);
	tcase_add_test(t, test_bad_config);
	tcase_add_test(t, test_roundtrip);
	tcase_add_test(t, test_async_and_batches);
	tcase_add_test(t, test_spread);
	tcase_add_test(t, test_missing_item);
	tcase_add_test(t, test_corrupt_items);
	tcase_add_test(t, test_kill_and_restart);
	tcase_add_test(t, test_dead_port);
	tcase_add_test(t, test_hung_server);
	tcase_add_test(t, test_ttl);
	tcase_add_test(t, test_delete_and_cancel);
	tcase_add_test(t, test_queue_full_and_destroy);
	tcase_add_test(t, test_destroy_busy);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	char path[] = "/tmp/zc-spill-pids.XXXXXX";
	int fd = mkstemp(path), ret;

	if (fd >= 0) {
		close(fd);
		mc_track_file(path);
	}
	ret = zc_test_main(make_suite());
	mc_cleanup_file();
	return ret;
}

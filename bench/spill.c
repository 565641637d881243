/* bench/spill - the far tier's client (fuse/spill.c) against three memcached
 * servers of its own on loopback, beside a RAM copy of the same bytes.
 *
 *     build/bench/spill [--corpus PAGE_IMAGE] [--seconds S]
 *
 * The page image is cut into 1 MiB files (256 pages); each file's image is
 * what the fuse layer will spill: its pages compressed one by one with lz4
 * (compress/codec.h), serialized as a page count, the compressed lengths and
 * the compressed bytes.  Three servers (`memcached -m 256 -t 1`, loopback
 * ports found free) and one context with the default settings (2 spill and
 * 2 fetch threads, 511 KiB items) are started; then
 *   - spill: every image is queued at once and the time until the last
 *     acknowledgement taken (repeated until --seconds, best of 3);
 *   - fetch: every image is fetched at once (the same way), and once more,
 *     untimed, compared byte for byte with what was stored;
 *   - fetch_1MiB_ms: one image fetched at a time, synchronously: the
 *     median time from the request to the whole verified image, what a
 *     reopen of a spilled 1 MiB file will wait for on top of decoding it;
 *   - the peer: memcpy of the same images into one buffer (best of 3).
 * Rates are of compressed image bytes.
 *
 * Figures: spill_MBps, fetch_MBps, fetch_1MiB_ms, ram_copy_MBps.
 * Loopback has no wire: these are the client's and the servers' CPU costs
 * (checksums, copies, syscalls), an upper bound for a real network.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "compress/codec.h"
#include "fuse/spill.h"
#include "mcutil.h"

#define PAGE 4096u
#define FILE_PAGES 256u
#define REPS 3

static const char usage[] =
	"usage: spill [--corpus PAGE_IMAGE] [--seconds S]\n"
	"Starts three memcached servers on loopback, spills lz4-compressed images of\n"
	"1 MiB files of the page image through fuse/spill and fetches them back.\n"
	"Prints the figures spill_MBps, fetch_MBps, fetch_1MiB_ms and ram_copy_MBps.\n";

struct image {
	unsigned char *data;
	size_t len;
};

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int left;	/* protected by lock */
	int failed;	/* protected by lock */
};

static void die(const char *what, int err)
{
	fprintf(stderr, "spill: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static void store_done(void *arg, int ret)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->lock);
	w->failed += ret != 0;
	if (--w->left == 0)
		pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void fetch_done(void *arg, int ret, void *image, size_t len)
{
	(void)len;
	free(image);
	store_done(arg, ret);
}

static void wait_all(struct waiter *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->left > 0)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

/* Serialize a file's pages, each compressed with lz4. */
static struct image make_image(const unsigned char *pages, size_t npages)
{
	size_t cap = 4 + 4 * npages + npages * codec_bound(CODEC_DEFAULT, PAGE);
	unsigned char *out = malloc(cap);
	size_t off = 4 + 4 * npages;
	struct image im;

	if (!out)
		die("malloc", ENOMEM);
	memcpy(out, &(uint32_t){ (uint32_t)npages }, 4);
	for (size_t p = 0; p < npages; p++) {
		int n = codec_compress(CODEC_DEFAULT, pages + p * PAGE, PAGE, out + off, cap - off);
		uint32_t n32;

		if (n < 0)
			die("codec_compress", n);
		n32 = (uint32_t)n;
		memcpy(out + 4 + 4 * p, &n32, 4);
		off += (size_t)n;
	}
	im.data = out;
	im.len = off;
	return im;
}

/* One timed pass: store (fetch = 0) or fetch every image at once. */
static double pass(struct zfs_spill *sp, struct image *im, int n, int fetch)
{
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, n, 0 };
	double t0 = bench_now();

	for (int i = 0; i < n; i++) {
		int ret = fetch ? zfs_spill_fetch(sp, (uint64_t)i + 1, 1, im[i].len, fetch_done, &w)
				: zfs_spill_store(sp, (uint64_t)i + 1, 1, im[i].data, im[i].len,
						  store_done, &w);

		if (ret)
			die(fetch ? "zfs_spill_fetch" : "zfs_spill_store", ret);
	}
	wait_all(&w);
	if (w.failed)
		die(fetch ? "a fetch failed" : "a store failed", EIO);
	return bench_now() - t0;
}

/* Best rate (MB/s) of REPS measurements of at least min_seconds each. */
static double rate(struct zfs_spill *sp, struct image *im, int n, size_t bytes, int fetch,
		   double min_seconds)
{
	double best = 0;

	for (int r = 0; r < REPS; r++) {
		double t = 0;
		size_t done = 0;

		while (t < min_seconds) {
			t += pass(sp, im, n, fetch);
			done += bytes;
		}
		if (done / t / 1e6 > best)
			best = done / t / 1e6;
	}
	return best;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct mc_cluster c;
	struct zfs_spill_config cfg = { .queue_max = 4096, .queue_bytes = (size_t)1 << 30 };
	struct zfs_spill *sp;
	struct zfs_spill_stats st;
	struct image *im;
	unsigned char *corpus, *dst;
	size_t clen, bytes = 0, raw;
	char servers[256], err[256];
	double lat[200], best_copy = 0, spill_mbps, fetch_mbps;
	int n, nlat = 0;

	bench_parse(argc, argv, "pages.img", usage, &o);
	corpus = bench_load(o.corpus, &clen);
	n = (int)(clen / (FILE_PAGES * PAGE));
	if (n < 1)
		die("the corpus is smaller than one 1 MiB file", EINVAL);
	raw = (size_t)n * FILE_PAGES * PAGE;
	im = calloc((size_t)n, sizeof(*im));
	for (int i = 0; i < n; i++) {
		im[i] = make_image(corpus + (size_t)i * FILE_PAGES * PAGE, FILE_PAGES);
		bytes += im[i].len;
	}
	printf("corpus %s: %d files of 1 MiB, images %.1f MB (lz4 %.2f:1)\n", o.corpus, n,
	       bytes / 1e6, (double)raw / (double)bytes);

	if (mc_start(&c, 3, 256))
		die("could not start memcached", EIO);
	mc_server_list(&c, servers, sizeof(servers));
	cfg.servers = servers;
	sp = zfs_spill_create(&cfg, err, sizeof(err));
	if (!sp) {
		fprintf(stderr, "spill: %s\n", err);
		exit(1);
	}

	/* Warm up (connections, the servers' slabs), then verify a fetch. */
	pass(sp, im, n, 0);
	for (int i = 0; i < n; i++) {
		void *got;
		int ret = zfs_spill_fetch_sync(sp, (uint64_t)i + 1, 1, im[i].len, &got);

		if (ret)
			die("zfs_spill_fetch_sync", ret);
		if (memcmp(got, im[i].data, im[i].len))
			die("a fetched image differs", EIO);
		free(got);
	}

	spill_mbps = rate(sp, im, n, bytes, 0, o.min_seconds);
	fetch_mbps = rate(sp, im, n, bytes, 1, o.min_seconds);
	for (int k = 0; k < (int)(sizeof(lat) / sizeof(lat[0])); k++) {
		int i = k % n;
		void *got;
		double t0 = bench_now();
		int ret = zfs_spill_fetch_sync(sp, (uint64_t)i + 1, 1, im[i].len, &got);

		lat[nlat++] = (bench_now() - t0) * 1e3;
		if (ret)
			die("zfs_spill_fetch_sync", ret);
		free(got);
	}
	qsort(lat, (size_t)nlat, sizeof(lat[0]), cmp_double);

	dst = malloc(bytes);
	if (!dst)
		die("malloc", ENOMEM);
	for (int r = 0; r < REPS; r++) {
		double t = 0, t0;
		size_t done = 0;

		while (t < o.min_seconds) {
			size_t off = 0;

			t0 = bench_now();
			for (int i = 0; i < n; i++) {
				memcpy(dst + off, im[i].data, im[i].len);
				off += im[i].len;
			}
			t += bench_now() - t0;
			done += bytes;
		}
		if (done / t / 1e6 > best_copy)
			best_copy = done / t / 1e6;
	}

	zfs_spill_stats(sp, &st);
	printf("spill %.0f MB/s, fetch %.0f MB/s, one image: median %.3f ms (min %.3f, p90 %.3f)"
	       ", RAM copy %.0f MB/s\n", spill_mbps, fetch_mbps, lat[nlat / 2], lat[0],
	       lat[nlat * 9 / 10], best_copy);
	printf("stats: %llu images spilled, %llu items, %llu fetch hits, %llu misses, "
	       "%llu remote errors\n", (unsigned long long)st.files_spilled,
	       (unsigned long long)st.items_set, (unsigned long long)st.fetch_hits,
	       (unsigned long long)st.fetch_misses, (unsigned long long)st.remote_errors);
	bench_figure("spill_MBps", spill_mbps);
	bench_figure("fetch_MBps", fetch_mbps);
	bench_figure("fetch_1MiB_ms", lat[nlat / 2]);
	bench_figure("ram_copy_MBps", best_copy);

	for (int i = 0; i < n; i++)
		zfs_spill_delete(sp, (uint64_t)i + 1, 1, im[i].len);
	zfs_spill_destroy(sp);
	mc_stop_all(&c);
	for (int i = 0; i < n; i++)
		free(im[i].data);
	free(im);
	free(dst);
	free(corpus);
	return 0;
}

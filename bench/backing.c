/* bench/backing - the backing file (alloc/backing) against plain O_DIRECT
 * reads of the same bytes from a file on the same disk, in the same run.
 *
 *     build/bench/backing [--corpus PAGE_IMAGE] [--seconds S]
 *
 * The objects are what the writeback of a store would move: every page of
 * the image compressed with lz4 (compress/codec), as PAM keeps it - a
 * same-filled page is skipped (it lives in its pampd), a page that does not
 * compress below 3/4 page is written raw (4096 bytes).  The files go in
 * $ZC_BENCH_DIR, or else the directory of this binary (the build tree, on
 * the checkout's disk; the module refuses tmpfs).
 *
 * Write: all objects in batches of about a segment's worth of bytes (1 MiB,
 * ~450 objects: what a writeback thread should hand over; backing_write
 * writes through, one pwrite per segment a call touches, so smaller
 * batches mean smaller pwrites), one thread; the same with batches of 64
 * objects for a plain line.  A pass ends with every object freed again
 * (segments die, their space is punched, the next pass reuses them);
 * passes repeat for --seconds (default 0.5), three measurements, the best.
 * A plain line gives the rate of 1 MiB O_DIRECT pwrites of the same bytes
 * to a fresh plain file.
 *
 * Read, cold: the objects written by a last pass are read back in one
 * random order.  The peer is a plain file holding the same objects packed
 * back to back (no headers), opened with O_DIRECT, each object read with
 * one pread of the aligned span that covers it into an aligned buffer -
 * what any O_DIRECT reader of those bytes must do.  Both files are dropped
 * from the page cache first (posix_fadvise DONTNEED; O_DIRECT bypasses it
 * anyway; the disk's own cache, or the host's on a VM, is not ours to
 * drop).  Reads alternate in chunks of 1024 objects between the backing
 * file and the peer, in alternating order, so both see the same machine;
 * three measurements, the best of each.
 *
 * Headline figures:
 *   backing_write_MBps      compressed bytes written per second (MB = 1e6),
 *                           batches of ~1 MiB
 *   backing_read_vs_disk    backing_read objects/s / the peer's objects/s
 *                           (aim >= 0.8)
 *   backing_ram_MB_per_GB   RAM the module holds per GB (1e9 bytes) of
 *                           records in the file, its two 1 MiB buffers left
 *                           out (they do not grow with the file)
 * Plain lines: objects, compression, read rates, compaction of a file with
 * a random half freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc/backing.h"
#include "bench.h"
#include "compress/codec.h"

#define PAGE 4096u
#define RAW_THRESHOLD (PAGE * 3 / 4)
#define SMALL_BATCH 64			/* objects */
#define MAX_BATCH 4096			/* objects, for the 1 MiB batches */
#define READ_CHUNK 1024
#define REPS 3

static const char usage[] =
	"usage: backing [--corpus PAGE_IMAGE] [--seconds S]\n"
	"Writes every page of the image, compressed with lz4, to a backing file\n"
	"(alloc/backing) in batches of 64, reads them back cold in random order and\n"
	"compares with O_DIRECT reads of the same bytes from a plain file on the same\n"
	"disk. Prints the figures backing_write_MBps, backing_read_vs_disk and\n"
	"backing_ram_MB_per_GB. Files go in $ZC_BENCH_DIR (default: this binary's\n"
	"directory).\n"
	"--seconds S: least time per write measurement (default 0.5).\n";

static void die(const char *what, int err)
{
	fprintf(stderr, "backing: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

struct objs {
	unsigned char *data;	/* all objects, back to back */
	size_t *off;		/* where object i starts in data (and in the peer file) */
	uint32_t *len;
	size_t n, bytes, pages;
};

static bool same_filled(const unsigned char *p)
{
	for (size_t i = 8; i < PAGE; i += 8)
		if (memcmp(p, p + i, 8) != 0)
			return false;
	return true;
}

static void make_objects(const unsigned char *img, size_t len, struct objs *o)
{
	size_t pages = len / PAGE;

	o->data = malloc(pages * PAGE);
	o->off = malloc(pages * sizeof(*o->off));
	o->len = malloc(pages * sizeof(*o->len));
	if (!o->data || !o->off || !o->len)
		die("objects", ENOMEM);
	o->n = o->bytes = 0;
	o->pages = pages;
	for (size_t i = 0; i < pages; i++) {
		const unsigned char *p = img + i * PAGE;
		int c;

		if (same_filled(p))
			continue;
		c = codec_compress(CODEC_DEFAULT, p, PAGE, o->data + o->bytes, RAW_THRESHOLD - 1);
		if (c == -ENOSPC) {
			memcpy(o->data + o->bytes, p, PAGE);
			c = PAGE;
		} else if (c < 0) {
			die("codec_compress", c);
		}
		o->off[o->n] = o->bytes;
		o->len[o->n] = (uint32_t)c;
		o->bytes += (size_t)c;
		o->n++;
	}
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Write every object in batches of `batch` objects, or (batch 0) of about
 * a segment's worth of bytes; locs get their locations.  Returns the wall
 * time; *cpu gets the CPU time. */
static double write_all(struct backing *b, const struct objs *o, uint64_t *locs, size_t batch,
			double *cpu)
{
	static struct backing_obj v[MAX_BATCH];
	double c0 = cpu_now(), t0 = bench_now(), t1;

	for (size_t i = 0; i < o->n;) {
		size_t k = 0, bytes = 0;
		int rc;

		while (i + k < o->n && k < MAX_BATCH &&
		       (batch ? k < batch : bytes + o->len[i + k] <= BACKING_SEG_SIZE)) {
			v[k] = (struct backing_obj){ .data = o->data + o->off[i + k],
						     .len = o->len[i + k], .tag = i + k };
			bytes += o->len[i + k];
			k++;
		}
		rc = backing_write(b, v, k, locs + i);
		if (rc)
			die("backing_write", rc);
		i += k;
	}
	t1 = bench_now();
	*cpu = cpu_now() - c0;
	return t1 - t0;
}

static void free_all(struct backing *b, const struct objs *o, const uint64_t *locs)
{
	for (size_t i = 0; i < o->n; i++)
		if (backing_free(b, locs[i]))
			die("backing_free", EINVAL);
	backing_trim(b);
}

/* Read objects order[first..last) from the backing file. */
static void read_backing(struct backing *b, const struct objs *o, const uint64_t *locs,
			 const size_t *order, size_t first, size_t last, unsigned char *buf)
{
	for (size_t k = first; k < last; k++) {
		size_t i = order[k];
		int rc = backing_read(b, locs[i], i, buf, BACKING_OBJ_MAX);

		if (rc != (int)o->len[i])
			die("backing_read", rc < 0 ? rc : -EIO);
	}
}

/* The peer: one aligned O_DIRECT pread per object. */
static void read_peer(int fd, const struct objs *o, const size_t *order, size_t first,
		      size_t last, unsigned char *abuf, size_t align)
{
	for (size_t k = first; k < last; k++) {
		size_t i = order[k];
		size_t start = o->off[i] & ~(align - 1);
		size_t end = (o->off[i] + o->len[i] + align - 1) & ~(align - 1);

		ssize_t r = pread(fd, abuf, end - start, (off_t)start);

		/* Short only at the end of the file, past the object. */
		if (r < (ssize_t)(o->off[i] + o->len[i] - start))
			die("peer pread", r < 0 ? errno : EIO);
	}
}

/* The O_DIRECT alignment of fd, as alloc/backing finds it. */
static size_t dio_align(int fd)
{
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align) {
		size_t a = sx.stx_dio_offset_align > sx.stx_dio_mem_align ? sx.stx_dio_offset_align
									 : sx.stx_dio_mem_align;

		return a < 512 ? 512 : a;
	}
	return 4096;
}

/* The directory of this binary. */
static void bench_dir(char *buf, size_t len)
{
	const char *env = getenv("ZC_BENCH_DIR");
	ssize_t n;
	char *slash;

	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", buf, len - 1);
	if (n <= 0)
		die("readlink /proc/self/exe", errno);
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
}

struct relo {
	uint64_t *locs;
	uint64_t taken;
};

static bool relocate(void *arg, uint64_t tag, const void *data, uint32_t len,
			   uint64_t old_loc, uint64_t new_loc)
{
	(void)data;
	(void)len;
	struct relo *r = arg;

	if (r->locs[tag] != old_loc)
		return false;
	r->locs[tag] = new_loc;
	r->taken++;
	return true;
}

int main(int argc, char **argv)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], peer_path[PATH_MAX + 32], err[512];
	struct bench_opts opts;
	struct objs o;
	struct backing *b;
	struct backing_stats st;
	unsigned char *img, *buf, *abuf;
	uint64_t *locs, rng = 0x5eed;
	size_t *order, len, align = 4096;
	double best_w = 0, best_b = 0, best_p = 0, cpu;
	int fd, peer;

	bench_parse(argc, argv, "pages.img", usage, &opts);
	img = bench_load(opts.corpus, &len);
	make_objects(img, len, &o);
	free(img);
	printf("corpus %s: %zu pages, %zu objects (same-filled pages skipped), %.1f MB compressed "
	       "(lz4, raw above 3/4 page)\n", opts.corpus, o.pages, o.n, (double)o.bytes / 1e6);

	bench_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/backing-bench.file", dir);
	snprintf(peer_path, sizeof(peer_path), "%s/backing-bench.plain", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die(path, errno);
	b = backing_open(path, 0, NULL, err, sizeof(err));
	if (!b) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	locs = malloc(o.n * sizeof(*locs));
	order = malloc(o.n * sizeof(*order));
	buf = malloc(BACKING_OBJ_MAX);
	if (posix_memalign((void **)&abuf, 4096, 2 * PAGE + 65536) || !locs || !order || !buf)
		die("buffers", ENOMEM);

	/* Write: passes of write-all + free-all, repeated for min_seconds;
	 * batches of 64 objects, then of a segment's worth (the figure). */
	write_all(b, &o, locs, 0, &cpu);	/* warm-up: the file exists, buffers mapped */
	free_all(b, &o, locs);
	for (int size = 0; size < 2; size++) {
		double best = 0, best_cpu = 0;

		for (int rep = 0; rep < REPS; rep++) {
			double t = 0, c = 0;
			unsigned passes = 0;

			while (t < opts.min_seconds || passes == 0) {
				t += write_all(b, &o, locs, size ? 0 : SMALL_BATCH, &cpu);
				c += cpu;
				passes++;
				if (t < opts.min_seconds || rep + 1 < REPS || size == 0)
					free_all(b, &o, locs);
			}
			if ((double)o.bytes * passes / t / 1e6 > best) {
				best = (double)o.bytes * passes / t / 1e6;
				best_cpu = c / t;
			}
		}
		printf("write, batches of %s: %.1f MB/s of compressed objects (%.0f pages/s), "
		       "%.2f CPUs busy\n", size ? "~1 MiB" : "64 objects", best,
		       best * 1e6 / ((double)o.bytes / (double)o.n), best_cpu);
		if (size)
			best_w = best;
	}
	backing_stats(b, &st);
	printf("%.2f%% of the file's record bytes are headers and padding\n",
	       100.0 * (double)(st.live_bytes - o.bytes) / (double)st.live_bytes);

	/* The peer file: the same bytes, packed, on the same disk, written with
	 * 1 MiB O_DIRECT pwrites (from an aligned copy) for a plain line. */
	{
		size_t cap = (o.bytes + BACKING_SEG_SIZE - 1) & ~((size_t)BACKING_SEG_SIZE - 1);
		unsigned char *al;
		double t = 1e30;

		if (posix_memalign((void **)&al, 4096, cap))
			die("peer buffer", ENOMEM);
		memcpy(al, o.data, o.bytes);
		memset(al + o.bytes, 0, cap - o.bytes);
		for (int rep = 0; rep < REPS; rep++) {
			double t0;

			peer = open(peer_path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0600);
			if (peer < 0)
				die(peer_path, errno);
			t0 = bench_now();
			for (size_t off = 0; off < cap; off += BACKING_SEG_SIZE)
				if (pwrite(peer, al + off, BACKING_SEG_SIZE, (off_t)off) != BACKING_SEG_SIZE)
					die("peer write", errno ? errno : EIO);
			t0 = bench_now() - t0;
			t = t0 < t ? t0 : t;
			if (ftruncate(peer, (off_t)o.bytes) != 0)
				die("peer truncate", errno);
			close(peer);
		}
		printf("plain O_DIRECT file, 1 MiB pwrites of the same bytes: %.1f MB/s "
		       "(backing_write: %.2f of it, on a fresh file each time)\n",
		       (double)o.bytes / t / 1e6, best_w / ((double)o.bytes / t / 1e6));
		free(al);
	}
	peer = open(peer_path, O_RDONLY | O_DIRECT);
	if (peer < 0)
		die("peer O_DIRECT open", errno);
	align = dio_align(peer);

	/* Cold reads in one random order, alternating in chunks. */
	for (size_t i = 0; i < o.n; i++)
		order[i] = i;
	for (size_t i = o.n; i > 1; i--) {
		size_t j = (size_t)(rng = rng * 6364136223846793005ull + 1442695040888963407ull) % i;
		size_t t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
	for (int rep = 0; rep < REPS; rep++) {
		double tb = 0, tp = 0;

		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		posix_fadvise(peer, 0, 0, POSIX_FADV_DONTNEED);
		for (size_t c = 0, k = 0; c < o.n; c += READ_CHUNK, k++) {
			size_t last = c + READ_CHUNK < o.n ? c + READ_CHUNK : o.n;

			for (int side = 0; side < 2; side++) {
				double t0 = bench_now();

				if ((side ^ (int)(k & 1)) == 0) {
					read_backing(b, &o, locs, order, c, last, buf);
					tb += bench_now() - t0;
				} else {
					read_peer(peer, &o, order, c, last, abuf, align);
					tp += bench_now() - t0;
				}
			}
		}
		if ((double)o.n / tb > best_b)
			best_b = (double)o.n / tb;
		if ((double)o.n / tp > best_p)
			best_p = (double)o.n / tp;
	}
	printf("cold random reads: backing %.0f objects/s (%.1f MB/s), plain O_DIRECT file %.0f "
	       "objects/s (%.1f MB/s)\n", best_b, best_b * (double)o.bytes / (double)o.n / 1e6,
	       best_p, best_p * (double)o.bytes / (double)o.n / 1e6);

	/* Memory per GB held, without the two fixed 1 MiB buffers. */
	backing_stats(b, &st);
	{
		double var = (double)st.meta_bytes - (double)BACKING_SEG_SIZE;

		printf("memory: %llu bytes of tables for %llu bytes of records in %llu segments\n",
		       (unsigned long long)(st.meta_bytes - BACKING_SEG_SIZE),
		       (unsigned long long)st.live_bytes, (unsigned long long)st.segments_used);
		bench_figure("backing_write_MBps", best_w);
		bench_figure("backing_read_vs_disk", best_b / best_p);
		bench_figure("backing_ram_MB_per_GB", var / ((double)st.live_bytes / 1e9) / 1e6);
	}

	/* Compaction: free a random half, compact everything sparse. */
	{
		struct relo r = { .locs = locs };
		double t0;
		int emptied;
		uint64_t moved0 = st.compact_bytes;

		for (size_t i = 0; i < o.n; i += 2) {
			if (backing_free(b, locs[order[i]]))
				die("backing_free", EINVAL);
			locs[order[i]] = 0;
		}
		t0 = bench_now();
		emptied = backing_compact(b, SIZE_MAX, relocate, &r);
		t0 = bench_now() - t0;
		if (emptied < 0)
			die("backing_compact", emptied);
		backing_stats(b, &st);
		printf("compaction: %d segments emptied, %.1f MB moved in %.3f s (%.1f MB/s); "
		       "%llu segments used for %.1f MB live\n", emptied,
		       (double)(st.compact_bytes - moved0) / 1e6, t0,
		       (double)(st.compact_bytes - moved0) / 1e6 / t0,
		       (unsigned long long)st.segments_used, (double)st.live_bytes / 1e6);
		for (size_t i = 1; i < o.n; i += 2) {
			size_t k = order[i];

			if (backing_read(b, locs[k], k, buf, BACKING_OBJ_MAX) != (int)o.len[k] ||
			    memcmp(buf, o.data + o.off[k], o.len[k]) != 0)
				die("read after compaction", EIO);
		}
	}
	if (backing_check(b))
		die("backing_check", EUCLEAN);
	backing_close(b);
	close(fd);
	close(peer);
	unlink(path);
	unlink(peer_path);
	free(locs);
	free(order);
	free(buf);
	free(abuf);
	free(o.data);
	free(o.off);
	free(o.len);
	codec_thread_release();
	return 0;
}

/* codec.h - the page codecs of zcached: lz4, lz4hc, zstd and none.
 *
 * A codec is named by a `codec id`, one unsigned integer that packs the
 * codec's type and its parameter, so that it fits a tmem pool's codec field
 * and pamops.create's argument and can be compared with ==:
 *
 *     bits 0..7   type   (enum codec_type)
 *     bits 8..31  param  (signed 24-bit: lz4 acceleration - 1, so 0..65536;
 *                         lz4hc level 1..12; zstd level 1..19 or
 *                         -1..ZSTD_minCLevel(); none: 0)
 *
 * The lz4 acceleration is stored less one so that id 0 is lz4 with
 * acceleration 1, zcached's default codec (CODEC_DEFAULT): a tmem pool,
 * whose codec id starts at 0, compresses with the default unless told
 * otherwise.  Use codec_make() and codec_id_param(), which hide the bias.
 *
 * Only the type is needed to decompress (neither the lz4 acceleration nor the
 * zstd level changes the format), which is why the PAM backend records only
 * the type in each pampd (CODEC_TYPE_BITS bits).  lz4hc is LZ4's
 * high-compression encoder (liblz4's lz4hc.h): slower to compress (tens of
 * MB/s at level 9), denser (tree.tar in 64 KiB runs: 33.3 MB against lz4's
 * 38.7 MB), and its output is ordinary LZ4 data, read by the same decoder
 * at the same speed; so its decode type (codec_decode_type) is CODEC_LZ4
 * and a pampd records it as lz4.  zcached uses it where compression time
 * matters little and reads must stay fast: densifying idle files.
 *
 * Contexts are per thread.  The first compression or decompression of a type
 * in a thread allocates that thread's context (an LZ4 state of
 * LZ4_sizeofState() bytes, a ZSTD_CCtx or a ZSTD_DCtx) and keeps it in
 * thread-local storage; they are freed when the thread exits (a pthread key
 * destructor) or when the thread calls codec_thread_release().  That key,
 * created once per process by pthread_once, is the module's only process-wide
 * state; it never changes after creation.  So every function here is thread
 * safe, takes no lock, and the same thread may interleave codecs and levels
 * freely.
 *
 * Decompression is safe on corrupt or hostile input: it never reads past
 * `srclen` input bytes or writes past `dstlen` output bytes, and it succeeds
 * only when the input decodes to exactly `dstlen` bytes (LZ4_decompress_safe
 * with the exact capacity; ZSTD_decompressDCtx whose result must equal it).
 *
 * Errors: negative errno values; the output buffer's contents are
 * unspecified after a failed call, nothing else changes.
 */
#ifndef ZC_COMPRESS_CODEC_H
#define ZC_COMPRESS_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum codec_type {
	CODEC_LZ4 = 0,		/* param: acceleration, 1 (best ratio) .. 65537 */
	CODEC_ZSTD = 1,		/* param: level 1..19, or a negative fast level */
	CODEC_NONE = 2,		/* stored as is */
	CODEC_LZ4HC = 3,	/* param: level 1..12; decoded as CODEC_LZ4 */
	CODEC_NTYPES
};

/* Bits a pampd (or anyone) needs to remember a codec type for decoding. */
#define CODEC_TYPE_BITS 2
_Static_assert(CODEC_NTYPES <= (1 << CODEC_TYPE_BITS), "codec type must fit CODEC_TYPE_BITS");

#define CODEC_LZ4_ACCEL_MAX 65537
#define CODEC_ZSTD_LEVEL_MAX 19
#define CODEC_ZSTD_LEVEL_DEFAULT 3	/* "zstd" alone means zstd:3, as zstd(1) does */
#define CODEC_LZ4HC_LEVEL_MAX 12
#define CODEC_LZ4HC_LEVEL_DEFAULT 9	/* "lz4hc" alone: lz4(1) -9, LZ4HC_CLEVEL_DEFAULT */

/* Longest name codec_format() writes, with its NUL ("zstd:-131072"). */
#define CODEC_NAME_MAX 16

/* Make a codec id from a type and a parameter.  Does not validate: use
 * codec_valid() for ids that come from outside. */
static inline unsigned codec_make(enum codec_type type, int param)
{
	if (type == CODEC_LZ4)
		param -= 1;
	return ((unsigned)type & 0xffu) | (((unsigned)param & 0xffffffu) << 8);
}

/* The type of a codec id (may be >= CODEC_NTYPES for a bad id). */
static inline unsigned codec_id_type(unsigned id)
{
	return id & 0xffu;
}

/* The type whose decoder reads what `id` produces: CODEC_LZ4 for lz4hc,
 * the id's own type otherwise.  This is what a stored page records. */
static inline unsigned codec_decode_type(unsigned id)
{
	unsigned t = codec_id_type(id);

	return t == CODEC_LZ4HC ? (unsigned)CODEC_LZ4 : t;
}

/* The parameter of a codec id (the lz4 acceleration, the zstd level). */
static inline int codec_id_param(unsigned id)
{
	int32_t p = (int32_t)(id >> 8);

	p = p >= 0x800000 ? p - 0x1000000 : p;
	return (int)(codec_id_type(id) == CODEC_LZ4 ? p + 1 : p);
}

/* The default codec of zcached: lz4 with acceleration 1, which is id 0. */
#define CODEC_DEFAULT 0u

/* 0 when `id` names a codec this build supports with a parameter in range,
 * else -EINVAL.  Thread safe. */
int codec_valid(unsigned id);

/* Parse a codec name: "lz4", "lz4:ACCEL", "lz4hc", "lz4hc:LEVEL" (1..12),
 * "zstd", "zstd:LEVEL" (1..19 or a negative fast level down to
 * ZSTD_minCLevel()), or "none"; type names are
 * matched without regard to case.  On success stores the id in *id and
 * returns 0.  On failure returns -EINVAL, leaves *id alone and, when `err` is
 * not NULL, writes a one-line message (NUL-terminated, truncated to
 * `errlen`) that quotes the bad input, e.g.
 *     unknown compressor "lz5" (expected lz4[:ACCEL], lz4hc[:LEVEL],
 *     zstd[:LEVEL] or none)
 * Thread safe. */
int codec_parse(const char *name, unsigned *id, char *err, size_t errlen);

/* Write the canonical name of `id` ("lz4", "lz4:8", "lz4hc:9", "zstd:3",
 * "none"), which
 * codec_parse() reads back to the same id.  Returns the length written
 * (without the NUL), -EINVAL for an invalid id, or -ENOSPC when `len` is too
 * small (CODEC_NAME_MAX always suffices).  Thread safe. */
int codec_format(unsigned id, char *buf, size_t len);

/* The name of a codec type alone ("none", "lz4", "zstd", "lz4hc"), or "?" for a bad
 * type.  Returns a static string. */
const char *codec_type_name(unsigned type);

/* The largest output codec_compress() can produce for `srclen` input bytes
 * with `id` (so a buffer that large never gives -ENOSPC), or 0 for an invalid
 * id. */
size_t codec_bound(unsigned id, size_t srclen);

/* Compress `srclen` bytes (1 .. 1 MiB) from `src` into `dst`, which holds
 * `dstcap` bytes, with the calling thread's context for the codec.
 * Returns the compressed size (> 0) on success;
 *   -ENOSPC when the output would not fit in `dstcap` (callers use that to
 *           stop early: PAM passes its raw-page threshold to lz4 as the
 *           capacity).  lz4 and none are exact; zstd may also refuse an
 *           output that would fit within a few bytes of `dstcap` (it needs
 *           room to try a block before falling back to storing it), so
 *           give zstd slack, or codec_bound() bytes for an exact answer;
 *   -EINVAL for an invalid id or size;
 *   -ENOMEM when the thread's context cannot be allocated.
 * `none` copies the bytes (-ENOSPC unless dstcap >= srclen).
 * Never runs under any lock of this module; thread safe. */
int codec_compress(unsigned id, const void *src, size_t srclen, void *dst, size_t dstcap);

/* Decompress `srclen` bytes from `src` (produced by codec_compress with a
 * codec of the same type as `id`; only codec_id_type(id) is used) into exactly
 * `dstlen` bytes at `dst`.  Returns 0 on success;
 *   -EIO when the input is corrupt, truncated, has trailing bytes or decodes
 *        to any length other than `dstlen` (no byte outside src[0..srclen)
 *        is read, none outside dst[0..dstlen) is written);
 *   -EINVAL for a bad type;
 *   -ENOMEM when the thread's context cannot be allocated.
 * Thread safe. */
int codec_decompress(unsigned id, const void *src, size_t srclen, void *dst, size_t dstlen);

/* Decompress at least the first `want` bytes (1 .. dstlen) of what
 * codec_decompress would produce into dst (dstlen bytes, the whole
 * output's size): for lz4 (and lz4hc) the decoder stops once `want` bytes
 * are out (LZ4_decompress_safe_partial), so reading the start of a long
 * block costs only that start; zstd and none decode everything.  Returns
 * the number of leading bytes of dst that are now valid (want ..
 * dstlen), or -EIO (corrupt input, or it ends before `want` bytes),
 * -EINVAL, -ENOMEM as codec_decompress.  A prefix decode checks less than
 * a whole one: corrupt bytes past the prefix go unnoticed until a decode
 * reaches them.  For lz4, `src` may also be only the first srclen bytes of
 * the compressed block (the caller copied out no more): what comes out is
 * still exact, and -EIO then also means "not enough input for `want`
 * bytes" - the caller tries again with the whole block, whose answer is
 * the one that counts.  Thread safe. */
int codec_decompress_prefix(unsigned id, const void *src, size_t srclen, void *dst,
			    size_t want, size_t dstlen);

/* Free the calling thread's codec contexts now (they are re-created on the
 * next use).  Threads need not call this: contexts are freed at thread exit.
 * It is useful for the main thread before a leak check. */
void codec_thread_release(void);

/* Per-thread figures of the calling thread (they describe this thread
 * only; there is no process-wide counter to keep the hot path lock-free). */
struct codec_stats {
	uint64_t contexts;	/* contexts this thread holds now (0..4) */
	uint64_t context_bytes;	/* their memory, as the libraries report it */
};

/* Fill *out with the calling thread's figures. */
void codec_stats(struct codec_stats *out);

#endif /* ZC_COMPRESS_CODEC_H */

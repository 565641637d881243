/* codec.c - lz4, lz4hc, zstd and none behind one id (see codec.h for the
 * contract).
 *
 * Design: the hot path is one thread-local lookup and one library call.  Each
 * thread keeps its contexts in `codec_tls` (static thread-local storage, so
 * reaching it costs one %fs-relative load); the first context a thread makes
 * also registers the thread with a pthread key whose destructor frees them
 * at thread exit.  lz4 compresses with LZ4_compress_fast_extState() on the
 * thread's state (the same work LZ4_compress_default() does on its stack
 * state, without the 16 KiB stack frame), lz4hc with
 * LZ4_compress_HC_extStateHC() on the thread's HC state (256 KiB, made only
 * by threads that use lz4hc: the densifier), zstd with ZSTD_compressCCtx()
 * on the thread's CCtx.  Decompression uses only bounds-checked entry
 * points.
 */
#include "compress/codec.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lz4.h>
#include <lz4hc.h>
#include <zstd.h>
#include <zstd_errors.h>

/* The calling thread's contexts.  Owned by the thread; no lock. */
struct codec_tls {
	void *lz4;		/* LZ4 state, LZ4_sizeofState() bytes */
	void *lz4hc;		/* LZ4 HC state, LZ4_sizeofStateHC() bytes */
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	int registered;		/* the pthread key points at this thread's block */
};

static _Thread_local struct codec_tls codec_tls;

/* Process-wide and immutable once created: the key whose destructor frees a
 * thread's contexts when it exits. */
static pthread_once_t codec_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t codec_key;
static int codec_key_ok;

static void codec_tls_free(struct codec_tls *t)
{
	free(t->lz4);
	free(t->lz4hc);
	ZSTD_freeCCtx(t->cctx);
	ZSTD_freeDCtx(t->dctx);
	t->lz4 = NULL;
	t->lz4hc = NULL;
	t->cctx = NULL;
	t->dctx = NULL;
}

static void codec_key_destructor(void *arg)
{
	struct codec_tls *t = arg;

	codec_tls_free(t);
	t->registered = 0;
}

static void codec_key_init(void)
{
	codec_key_ok = pthread_key_create(&codec_key, codec_key_destructor) == 0;
}

/* Make sure this thread's contexts are freed at its exit.  Returns 0 or
 * -ENOMEM (the key could not be made or set). */
static int codec_tls_register(struct codec_tls *t)
{
	if (t->registered)
		return 0;
	pthread_once(&codec_key_once, codec_key_init);
	if (!codec_key_ok || pthread_setspecific(codec_key, t) != 0)
		return -ENOMEM;
	t->registered = 1;
	return 0;
}

static void *codec_lz4_state(void)
{
	struct codec_tls *t = &codec_tls;
	void *s;

	if (t->lz4)
		return t->lz4;
	if (codec_tls_register(t))
		return NULL;
	/* LZ4_stream_t wants pointer alignment; malloc gives 16 bytes. */
	s = malloc((size_t)LZ4_sizeofState());
	t->lz4 = s;
	return s;
}

static void *codec_lz4hc_state(void)
{
	struct codec_tls *t = &codec_tls;

	if (t->lz4hc)
		return t->lz4hc;
	if (codec_tls_register(t))
		return NULL;
	/* LZ4_streamHC_t wants pointer alignment too. */
	t->lz4hc = malloc((size_t)LZ4_sizeofStateHC());
	return t->lz4hc;
}

static ZSTD_CCtx *codec_zstd_cctx(void)
{
	struct codec_tls *t = &codec_tls;

	if (t->cctx)
		return t->cctx;
	if (codec_tls_register(t))
		return NULL;
	t->cctx = ZSTD_createCCtx();
	return t->cctx;
}

static ZSTD_DCtx *codec_zstd_dctx(void)
{
	struct codec_tls *t = &codec_tls;

	if (t->dctx)
		return t->dctx;
	if (codec_tls_register(t))
		return NULL;
	t->dctx = ZSTD_createDCtx();
	return t->dctx;
}

void codec_thread_release(void)
{
	codec_tls_free(&codec_tls);
}

void codec_stats(struct codec_stats *out)
{
	const struct codec_tls *t = &codec_tls;

	memset(out, 0, sizeof(*out));
	if (t->lz4) {
		out->contexts++;
		out->context_bytes += (uint64_t)LZ4_sizeofState();
	}
	if (t->lz4hc) {
		out->contexts++;
		out->context_bytes += (uint64_t)LZ4_sizeofStateHC();
	}
	if (t->cctx) {
		out->contexts++;
		out->context_bytes += ZSTD_sizeof_CCtx(t->cctx);
	}
	if (t->dctx) {
		out->contexts++;
		out->context_bytes += ZSTD_sizeof_DCtx(t->dctx);
	}
}

/* ------------------------------------------------------------------------ */
/* Ids and names */

int codec_valid(unsigned id)
{
	int p = codec_id_param(id);

	switch (codec_id_type(id)) {
	case CODEC_NONE:
		return p == 0 ? 0 : -EINVAL;
	case CODEC_LZ4:
		return p >= 1 && p <= CODEC_LZ4_ACCEL_MAX ? 0 : -EINVAL;
	case CODEC_LZ4HC:
		return p >= 1 && p <= CODEC_LZ4HC_LEVEL_MAX ? 0 : -EINVAL;
	case CODEC_ZSTD:
		if (p >= 1 && p <= CODEC_ZSTD_LEVEL_MAX)
			return 0;
		return p < 0 && p >= ZSTD_minCLevel() ? 0 : -EINVAL;
	default:
		return -EINVAL;
	}
}

const char *codec_type_name(unsigned type)
{
	switch (type) {
	case CODEC_NONE:
		return "none";
	case CODEC_LZ4:
		return "lz4";
	case CODEC_ZSTD:
		return "zstd";
	case CODEC_LZ4HC:
		return "lz4hc";
	default:
		return "?";
	}
}

static void codec_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void codec_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Parse a decimal integer that must fill all of s (an optional sign, then
 * digits, nothing else).  Returns 0 and *out, or -EINVAL. */
static int codec_parse_int(const char *s, long *out)
{
	const char *p = s;
	long v = 0;
	int neg = 0;

	if (*p == '-' || *p == '+') {
		neg = *p == '-';
		p++;
	}
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (v > (LONG_MAX - 9) / 10)
			return -EINVAL;	/* absurdly long: out of every range */
		v = v * 10 + (*p - '0');
	}
	*out = neg ? -v : v;
	return 0;
}

int codec_parse(const char *name, unsigned *id, char *err, size_t errlen)
{
	static const char expected[] =
		"expected lz4[:ACCEL], lz4hc[:LEVEL], zstd[:LEVEL] or none";
	const char *colon;
	const char *arg = NULL;
	size_t tlen;
	long v;

	if (!name || !*name) {
		codec_err(err, errlen, "empty compressor name (%s)", expected);
		return -EINVAL;
	}
	colon = strchr(name, ':');
	tlen = colon ? (size_t)(colon - name) : strlen(name);
	if (colon)
		arg = colon + 1;

	if (tlen == 4 && strncasecmp(name, "none", 4) == 0) {
		if (arg) {
			codec_err(err, errlen, "compressor \"%s\": none takes no parameter", name);
			return -EINVAL;
		}
		*id = codec_make(CODEC_NONE, 0);
		return 0;
	}
	if (tlen == 3 && strncasecmp(name, "lz4", 3) == 0) {
		if (!arg) {
			*id = codec_make(CODEC_LZ4, 1);
			return 0;
		}
		if (codec_parse_int(arg, &v) || v < 1 || v > CODEC_LZ4_ACCEL_MAX) {
			codec_err(err, errlen,
				  "bad lz4 acceleration \"%s\" in compressor \"%s\" (expected 1..%d)",
				  arg, name, CODEC_LZ4_ACCEL_MAX);
			return -EINVAL;
		}
		*id = codec_make(CODEC_LZ4, (int)v);
		return 0;
	}
	if (tlen == 5 && strncasecmp(name, "lz4hc", 5) == 0) {
		if (!arg) {
			*id = codec_make(CODEC_LZ4HC, CODEC_LZ4HC_LEVEL_DEFAULT);
			return 0;
		}
		if (codec_parse_int(arg, &v) || v < 1 || v > CODEC_LZ4HC_LEVEL_MAX) {
			codec_err(err, errlen,
				  "bad lz4hc level \"%s\" in compressor \"%s\" (expected 1..%d)",
				  arg, name, CODEC_LZ4HC_LEVEL_MAX);
			return -EINVAL;
		}
		*id = codec_make(CODEC_LZ4HC, (int)v);
		return 0;
	}
	if (tlen == 4 && strncasecmp(name, "zstd", 4) == 0) {
		if (!arg) {
			*id = codec_make(CODEC_ZSTD, CODEC_ZSTD_LEVEL_DEFAULT);
			return 0;
		}
		if (codec_parse_int(arg, &v) || v == 0 || v > CODEC_ZSTD_LEVEL_MAX ||
		    v < ZSTD_minCLevel()) {
			codec_err(err, errlen,
				  "bad zstd level \"%s\" in compressor \"%s\" (expected 1..%d or %d..-1)",
				  arg, name, CODEC_ZSTD_LEVEL_MAX, ZSTD_minCLevel());
			return -EINVAL;
		}
		*id = codec_make(CODEC_ZSTD, (int)v);
		return 0;
	}
	codec_err(err, errlen, "unknown compressor \"%s\" (%s)", name, expected);
	return -EINVAL;
}

int codec_format(unsigned id, char *buf, size_t len)
{
	unsigned type = codec_id_type(id);
	int p = codec_id_param(id);
	int n;

	if (codec_valid(id))
		return -EINVAL;
	if (type == CODEC_NONE || (type == CODEC_LZ4 && p == 1))
		n = snprintf(buf, len, "%s", codec_type_name(type));
	else
		n = snprintf(buf, len, "%s:%d", codec_type_name(type), p);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

size_t codec_bound(unsigned id, size_t srclen)
{
	if (codec_valid(id))
		return 0;
	switch (codec_id_type(id)) {
	case CODEC_LZ4:
	case CODEC_LZ4HC:
		return (size_t)LZ4_compressBound((int)srclen);
	case CODEC_ZSTD:
		return ZSTD_compressBound(srclen);
	default:
		return srclen;
	}
}

/* ------------------------------------------------------------------------ */
/* Compression */

#define CODEC_MAX_INPUT ((size_t)1 << 20)

int codec_compress(unsigned id, const void *src, size_t srclen, void *dst, size_t dstcap)
{
	unsigned type = codec_id_type(id);
	int p = codec_id_param(id);

	if (srclen == 0 || srclen > CODEC_MAX_INPUT)
		return -EINVAL;
	if (type == CODEC_LZ4) {
		/* The hot path: checked first and without codec_valid(). */
		void *state;
		int n;

		if (p < 1 || p > CODEC_LZ4_ACCEL_MAX)
			return -EINVAL;
		state = codec_tls.lz4;
		if (__builtin_expect(!state, 0)) {
			state = codec_lz4_state();
			if (!state)
				return -ENOMEM;
		}
		if (dstcap > INT_MAX)
			dstcap = INT_MAX;
		n = LZ4_compress_fast_extState(state, src, dst, (int)srclen, (int)dstcap, p);
		return n > 0 ? n : -ENOSPC;
	}
	if (type == CODEC_ZSTD) {
		ZSTD_CCtx *cctx;
		size_t n;

		if (codec_valid(id))
			return -EINVAL;
		cctx = codec_zstd_cctx();
		if (!cctx)
			return -ENOMEM;
		n = ZSTD_compressCCtx(cctx, dst, dstcap, src, srclen, p);
		if (ZSTD_isError(n)) {
			if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
				return -ENOSPC;
			if (ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation)
				return -ENOMEM;
			return -EINVAL;
		}
		if (n > INT_MAX)
			return -ENOSPC;
		return (int)n;
	}
	if (type == CODEC_LZ4HC) {
		void *state;
		int n;

		if (p < 1 || p > CODEC_LZ4HC_LEVEL_MAX)
			return -EINVAL;
		state = codec_lz4hc_state();
		if (!state)
			return -ENOMEM;
		if (dstcap > INT_MAX)
			dstcap = INT_MAX;
		n = LZ4_compress_HC_extStateHC(state, src, dst, (int)srclen, (int)dstcap, p);
		return n > 0 ? n : -ENOSPC;
	}
	if (type == CODEC_NONE && p == 0) {
		if (dstcap < srclen)
			return -ENOSPC;
		memcpy(dst, src, srclen);
		return (int)srclen;
	}
	return -EINVAL;
}

int codec_decompress(unsigned id, const void *src, size_t srclen, void *dst, size_t dstlen)
{
	unsigned type = codec_decode_type(id);

	if (dstlen == 0 || dstlen > CODEC_MAX_INPUT)
		return -EINVAL;
	if (type == CODEC_LZ4) {
		int n;

		if (srclen == 0 || srclen > INT_MAX)
			return -EIO;
		n = LZ4_decompress_safe(src, dst, (int)srclen, (int)dstlen);
		return n == (int)dstlen ? 0 : -EIO;
	}
	if (type == CODEC_ZSTD) {
		ZSTD_DCtx *dctx = codec_zstd_dctx();
		size_t n;

		if (!dctx)
			return -ENOMEM;
		n = ZSTD_decompressDCtx(dctx, dst, dstlen, src, srclen);
		if (ZSTD_isError(n)) {
			if (ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation)
				return -ENOMEM;
			return -EIO;
		}
		return n == dstlen ? 0 : -EIO;
	}
	if (type == CODEC_NONE) {
		if (srclen != dstlen)
			return -EIO;
		memcpy(dst, src, dstlen);
		return 0;
	}
	return -EINVAL;
}

int codec_decompress_prefix(unsigned id, const void *src, size_t srclen, void *dst,
			    size_t want, size_t dstlen)
{
	int n;

	if (dstlen == 0 || dstlen > CODEC_MAX_INPUT || want == 0 || want > dstlen)
		return -EINVAL;
	if (codec_decode_type(id) != CODEC_LZ4 || want == dstlen) {
		n = codec_decompress(id, src, srclen, dst, dstlen);
		return n < 0 ? n : (int)dstlen;
	}
	if (srclen == 0 || srclen > INT_MAX)
		return -EIO;
	n = LZ4_decompress_safe_partial(src, dst, (int)srclen, (int)want, (int)dstlen);
	return n >= (int)want ? n : -EIO;
}

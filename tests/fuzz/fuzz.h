/* tests/fuzz/fuzz.h - what every fuzz target shares: reading the input as a
 * stream of small integers, and the patterns written into allocations.
 *
 * Each target interprets its input bytes as a program (a sequence of
 * operations with their arguments) run against the module and a simple
 * model of what it should hold; the input running out just ends the program,
 * so every byte string is a valid program and libFuzzer's mutations stay
 * meaningful.  A broken invariant aborts through FZ_ASSERT with a message
 * (libFuzzer then saves the input as a crash file); memory errors are
 * AddressSanitizer's, undefined behaviour UBSan's.
 */
#ifndef ZC_FUZZ_H
#define ZC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The input, consumed from the front. */
struct fz {
	const uint8_t *p;
	size_t n;
};

static inline int fz_more(const struct fz *f)
{
	return f->n > 0;
}

/* The next byte, or 0 once the input is used up. */
static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t lo = fz_u8(f);
	return (uint16_t)(lo | (uint16_t)fz_u8(f) << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t lo = fz_u16(f);
	return lo | (uint32_t)fz_u16(f) << 16;
}

static inline uint64_t fz_u64(struct fz *f)
{
	uint64_t lo = fz_u32(f);
	return lo | (uint64_t)fz_u32(f) << 32;
}

/* Fail loudly: libFuzzer reports the abort and keeps the input. */
#define FZ_ASSERT(cond, ...)							\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "%s:%d: FZ_ASSERT(%s) failed: ",	\
				__FILE__, __LINE__, #cond);			\
			fprintf(stderr, __VA_ARGS__);				\
			fputc('\n', stderr);					\
			abort();						\
		}								\
	} while (0)

/* splitmix64, as tests/testutil.h has it. */
static inline uint64_t fz_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Fill n bytes with the pattern of `seed` (every byte depends on the seed
 * and its offset, so a block that overlaps another is caught). */
static inline void fz_fill(void *dst, size_t n, uint64_t seed)
{
	unsigned char *d = dst;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t v = fz_mix(seed ^ i);
		memcpy(d + i, &v, 8);
	}
	if (i < n) {
		uint64_t v = fz_mix(seed ^ i);
		memcpy(d + i, &v, n - i);
	}
}

/* Whether n bytes hold the pattern of `seed`. */
static inline int fz_holds(const void *src, size_t n, uint64_t seed)
{
	const unsigned char *s = src;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t v = fz_mix(seed ^ i);
		if (memcmp(s + i, &v, 8) != 0)
			return 0;
	}
	if (i < n) {
		uint64_t v = fz_mix(seed ^ i);
		if (memcmp(s + i, &v, n - i) != 0)
			return 0;
	}
	return 1;
}

/* Large blocks: a 16-byte stamp at the start of every 4 KiB page and the
 * last 8 bytes (when they do not touch the last stamp), instead of every
 * byte (a 4 MiB block would cost 4 MiB of writes per operation).  Two blocks
 * that overlap share a page, so one of the stamps is overwritten. */
static inline int fz_has_tail(size_t n)
{
	return n >= 8 && n - 8 >= (n - 1) / 4096 * 4096 + 16;
}

static inline void fz_stamp(void *dst, size_t n, uint64_t seed)
{
	unsigned char *d = dst;

	for (size_t off = 0; off < n; off += 4096)
		fz_fill(d + off, n - off < 16 ? n - off : 16, seed ^ (off << 20));
	if (fz_has_tail(n))
		fz_fill(d + n - 8, 8, ~seed);
}

static inline int fz_stamped(const void *src, size_t n, uint64_t seed)
{
	const unsigned char *s = src;

	for (size_t off = 0; off < n; off += 4096)
		if (!fz_holds(s + off, n - off < 16 ? n - off : 16, seed ^ (off << 20)))
			return 0;
	return !fz_has_tail(n) || fz_holds(s + n - 8, 8, ~seed);
}

#endif /* ZC_FUZZ_H */

/* crc32c.c - CRC-32C: SSE4.2's crc32 instruction, else slice-by-8 tables
 * (see crc32c.h for the contract).
 *
 * Implementation notes:
 *
 * - Reflected polynomial 0x82f63b78.  Table t holds the CRC of a byte
 *   followed by t zero bytes, so the software walk folds 8 bytes into the
 *   register with 8 lookups (the bytes are read little endian: the low 32
 *   bits of the 8-byte word meet the register).
 * - The hardware walk first steps byte by byte to an 8-byte boundary, then
 *   takes whole 8-byte words (unaligned loads go through memcpy, which the
 *   compiler turns into one mov).
 * - The crc32 instruction takes 3 cycles but a new one can start every
 *   cycle, so one register walked alone uses a third of it.  Spans of at
 *   least 3 * CRC_LANE bytes are walked as three lanes of CRC_LANE bytes at
 *   once (three independent registers), then joined: the register is
 *   linear in its start value and in the data, so the walk of A then B
 *   from r is Z(walk of A from r) ^ (walk of B from 0), where Z is the
 *   walk of CRC_LANE zero bytes - a linear map of 32 bits, applied with 4
 *   table lookups (crc_lane, one table per byte of the register, built
 *   once from the table walk over zeros).  Three lanes: r = Z(Z(a) ^ b) ^ c.
 */
#include "alloc/crc32c.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#define CRC32C_POLY 0x82f63b78u

#define CRC_LANE 256u

static uint32_t crc_tab[8][256];
static uint32_t crc_lane[4][256];	/* Z: the walk of CRC_LANE zero bytes */
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static uint32_t crc_walk_sw(uint32_t c, const unsigned char *p, size_t len);

static void crc_tab_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
	/* Z of each register bit, then of each byte value by linearity. */
	static const unsigned char zeros[CRC_LANE];
	uint32_t bit[32];

	for (int b = 0; b < 32; b++)
		bit[b] = crc_walk_sw((uint32_t)1 << b, zeros, CRC_LANE);
	for (int k = 0; k < 4; k++)
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t z = 0;

			for (int b = 0; b < 8; b++)
				if (i & (1u << b))
					z ^= bit[8 * k + b];
			crc_lane[k][i] = z;
		}
}

/* Z(c): the register c through CRC_LANE zero bytes. */
static uint32_t crc_shift(uint32_t c)
{
	return crc_lane[0][c & 0xff] ^ crc_lane[1][(c >> 8) & 0xff] ^
	       crc_lane[2][(c >> 16) & 0xff] ^ crc_lane[3][c >> 24];
}

/* The register c (already inverted) through len bytes at p. */
static uint32_t crc_walk_sw(uint32_t c, const unsigned char *p, size_t len)
{
	for (; len >= 8; len -= 8, p += 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		w ^= c;
		c = crc_tab[7][w & 0xff] ^ crc_tab[6][(w >> 8) & 0xff] ^
		    crc_tab[5][(w >> 16) & 0xff] ^ crc_tab[4][(w >> 24) & 0xff] ^
		    crc_tab[3][(w >> 32) & 0xff] ^ crc_tab[2][(w >> 40) & 0xff] ^
		    crc_tab[1][(w >> 48) & 0xff] ^ crc_tab[0][w >> 56];
	}
	for (; len; len--)
		c = (c >> 8) ^ crc_tab[0][(c ^ *p++) & 0xff];
	return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
static uint32_t crc_walk_hw(uint32_t c, const unsigned char *p, size_t len)
{
	uint64_t c64;

	for (; len && ((uintptr_t)p & 7); len--)
		c = _mm_crc32_u8(c, *p++);
	c64 = c;
	if (len >= 3 * CRC_LANE)
		pthread_once(&crc_once, crc_tab_init);
	for (; len >= 3 * CRC_LANE; len -= 3 * CRC_LANE, p += 3 * CRC_LANE) {
		uint64_t a = c64, b = 0, d = 0;

		for (size_t i = 0; i < CRC_LANE; i += 8) {
			uint64_t wa, wb, wd;

			memcpy(&wa, p + i, 8);
			memcpy(&wb, p + CRC_LANE + i, 8);
			memcpy(&wd, p + 2 * CRC_LANE + i, 8);
			a = _mm_crc32_u64(a, wa);
			b = _mm_crc32_u64(b, wb);
			d = _mm_crc32_u64(d, wd);
		}
		c64 = crc_shift(crc_shift((uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)d;
	}
	for (; len >= 8; len -= 8, p += 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c64 = _mm_crc32_u64(c64, w);
	}
	c = (uint32_t)c64;
	for (; len; len--)
		c = _mm_crc32_u8(c, *p++);
	return c;
}

static bool crc_have_hw(void)
{
	return __builtin_cpu_supports("sse4.2");
}
#else
static uint32_t crc_walk_hw(uint32_t c, const unsigned char *p, size_t len)
{
	return crc_walk_sw(c, p, len);
}

static bool crc_have_hw(void)
{
	return false;
}
#endif

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (len == 0)
		return crc;
	if (crc_have_hw())
		return ~crc_walk_hw(~crc, p, len);
	pthread_once(&crc_once, crc_tab_init);
	return ~crc_walk_sw(~crc, p, len);
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	if (len == 0)
		return crc;
	pthread_once(&crc_once, crc_tab_init);
	return ~crc_walk_sw(~crc, buf, len);
}

/* crc32c.h - CRC-32C (Castagnoli), the one checksum of zcached's formats.
 *
 * Design
 * ------
 * Every format zcached writes and reads back checks its bytes with the
 * same checksum: the backing file's records (alloc/backing.c), the state
 * and reload images (fuse/state.c, fuse/reload.c) and the far tier's items
 * (fuse/spill.c).  CRC-32C is the polynomial iSCSI, ext4 and btrfs use,
 * reflected, with the register inverted on the way in and out (so
 * crc32c(0, "123456789", 9) == 0xe3069283, the standard check value).
 *
 * Two implementations give the same values: SSE4.2's crc32 instruction,
 * 8 bytes a step (spans of 768 bytes or more as three interleaved lanes,
 * about three times as fast), chosen at each call when the CPU has it
 * (x86-64 only), and a portable slice-by-8 table walk.  Their 12 KiB of
 * tables are built once per process (pthread_once) and never written
 * afterwards.
 *
 * Every function here is pure and thread safe.
 */
#ifndef ZC_ALLOC_CRC32C_H
#define ZC_ALLOC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of len bytes at buf, continuing from `crc`: start with 0;
 * crc32c(crc32c(0, a, n), b, m) is the CRC of a followed by b, so a
 * record may be checked in pieces.  buf may be NULL when len is 0.  Uses
 * the CPU's crc32 instruction where there is one, else crc32c_sw. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The same values from the portable table walk alone (for the tests, which
 * compare the two on every machine that has both). */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif /* ZC_ALLOC_CRC32C_H */

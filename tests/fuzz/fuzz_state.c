/* tests/fuzz/fuzz_state.c - the state image reader (fuse/state.h) on
 * arbitrary bytes.
 *
 * Each input is loaded into a fresh filesystem on a fresh store, as a
 * start with -o snapshot= does.  Before that, the input is resealed: every
 * record whose bounds lie inside the input gets its checksum recomputed,
 * and so does the header, so mutations reach the parsers of the records'
 * payloads instead of stopping at the first checksum (which is all a
 * damaged byte would meet otherwise; tests/state.c covers that gate).
 * The reader must refuse or accept without a memory error, a leak or
 * undefined behaviour, refuse with one line "NAME: offset N: ...", and
 * whatever it accepts must pass every invariant check of the namespace,
 * the store and the backend (zfs_check, zc_stack_check) and tear down
 * cleanly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc/crc32c.h"
#include "fuse/state.h"
#include "fuse/zfs.h"
#include "fuzz.h"
#include "tmem/stack.h"

/* Recompute the header's and every in-bounds record's checksum. */
static void reseal(uint8_t *b, size_t n)
{
	size_t off = 32;
	uint32_t crc;

	if (n < 32)
		return;
	crc = crc32c(0, b, 28);
	memcpy(b + 28, &crc, 4);
	while (n - off >= 12) {
		uint32_t len;

		memcpy(&len, b + off + 4, 4);
		if (len > n - off - 12)
			break;
		crc = crc32c(0, b + off, 8 + (size_t)len);
		memcpy(b + off + 8 + len, &crc, 4);
		off += 12 + (size_t)len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zc_stack *stack = zc_stack_create(NULL);
	struct zfs_config cfg;
	struct zfs *fs;
	char err[512] = "";
	uint8_t *img;
	int ret;

	FZ_ASSERT(stack, "zc_stack_create");
	memset(&cfg, 0, sizeof(cfg));
	cfg.store = stack->store;
	cfg.buddy = stack->buddy;
	cfg.sgv = stack->sgv;
	cfg.pam = stack->pam;
	cfg.uid = getuid();
	cfg.gid = getgid();
	fs = zfs_create(&cfg);
	FZ_ASSERT(fs, "zfs_create");
	img = malloc(size ? size : 1);
	FZ_ASSERT(img, "malloc");
	memcpy(img, data, size);
	reseal(img, size);
	ret = zfs_state_load(fs, img, size, "in", NULL, err, sizeof(err));
	if (ret < 0) {
		FZ_ASSERT(!strncmp(err, "in: offset ", 11) && !strchr(err, '\n'), "message: %s", err);
	} else {
		FZ_ASSERT(zfs_check(fs) == 0, "accepted an image that breaks the namespace or store");
		FZ_ASSERT(zc_stack_check(stack) == 0, "accepted an image that breaks the backend");
	}
	free(img);
	zfs_destroy(fs);
	FZ_ASSERT(zc_stack_destroy(stack) == 0, "teardown");
	return 0;
}

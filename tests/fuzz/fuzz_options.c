/* tests/fuzz/fuzz_options.c - the command line parser of zcached
 * (daemon/options.c) fed arbitrary argument vectors.
 *
 * Input: byte 0 picks the machine (physical RAM, CPUs), byte 1 the size of
 * the error buffer (0 passes none), the rest is the argument vector, split
 * on NUL bytes (at most 32 arguments after argv[0]).  Each argument lives in
 * a heap buffer of exactly its length and the error buffer is exactly as
 * large as claimed, so AddressSanitizer catches a read or write past either.
 *
 * What must hold (daemon/options.h):
 *   - the result is 0, -EINVAL or -ENOMEM; parsing the same vector again
 *     gives the same result and the same options;
 *   - on failure nothing is left to free (mountpoint and fuse_opts NULL)
 *     and the message is NUL-terminated inside the buffer, and not empty
 *     when there is room for one character;
 *   - on success without -h or -V: a mount point (the last positional
 *     argument), threads in 1..1024, a valid codec whose canonical name
 *     parses back to the same codec, and a FUSE option list that ends in
 *     default_permissions, holds it once, and whose every other item,
 *     split on commas the way libfuse splits it (a backslash escapes the
 *     next character), is an option that the parser passes to FUSE
 *     unchanged when given alone: nothing reaches libfuse that was not
 *     checked against the accepted list, and a value with an escaped comma
 *     or backslash reaches it as the user wrote it.
 */
#include <errno.h>

#include "compress/codec.h"
#include "daemon/options.h"
#include "fuzz.h"

#define MAX_ARGS 33

static void same_options(const struct zd_options *a, const struct zd_options *b)
{
	FZ_ASSERT((a->mountpoint == NULL) == (b->mountpoint == NULL) &&
		  (!a->mountpoint || !strcmp(a->mountpoint, b->mountpoint)), "mountpoint differs");
	FZ_ASSERT((a->fuse_opts == NULL) == (b->fuse_opts == NULL) &&
		  (!a->fuse_opts || !strcmp(a->fuse_opts, b->fuse_opts)), "fuse_opts differ");
	FZ_ASSERT(a->foreground == b->foreground && a->debug == b->debug && a->help == b->help &&
		  a->version == b->version && a->mem_limit == b->mem_limit &&
		  a->codec == b->codec && a->ephemeral == b->ephemeral &&
		  a->threads == b->threads, "options differ");
}

/* Parse {"zcached", "-o", opt, "/mnt"} and return the result; *out holds
 * the options (free them). */
static int parse_one(const char *opt, struct zd_options *out)
{
	char *argv[5] = { "zcached", "-o", (char *)opt, "/mnt", NULL };
	char err[256];

	return zd_options_parse(out, 4, argv, (uint64_t)1 << 30, 2, err, sizeof(err));
}

/* Every item of a successful parse's FUSE option list. */
static void check_fuse_opts(const char *list)
{
	size_t n = strlen(list), start = 0, ndefault = 0;
	char *items = malloc(n + 1);

	FZ_ASSERT(items, "out of memory");
	memcpy(items, list, n + 1);
	FZ_ASSERT(n >= 19 && !strcmp(list + n - 19, "default_permissions"),
		  "fuse_opts \"%s\" does not end in default_permissions", list);
	for (size_t i = 0; i <= n; i++) {
		struct zd_options one;
		char want[600];
		char *item;
		int rc;

		/* Split as libfuse does: a backslash escapes the next
		 * character (a comma, a backslash, ...). */
		if (items[i] == '\\' && items[i + 1]) {
			i++;
			continue;
		}
		if (items[i] != ',' && items[i] != '\0')
			continue;
		items[i] = '\0';
		item = items + start;
		start = i + 1;
		FZ_ASSERT(*item, "empty item in fuse_opts \"%s\"", list);
		if (!strcmp(item, "default_permissions")) {
			ndefault++;
			continue;
		}
		if (strlen(item) > 256)
			continue;	/* too long to compare in `want` */
		/* Alone, the item must be passed to FUSE unchanged: then it
		 * was one of the accepted FUSE options, not a piece of a
		 * value that happened to contain a comma. */
		rc = parse_one(item, &one);
		FZ_ASSERT(rc == 0, "fuse_opts item \"%s\" (of \"%s\") is refused alone: %d",
			  item, list, rc);
		snprintf(want, sizeof(want), "%s,default_permissions", item);
		FZ_ASSERT(one.fuse_opts && !strcmp(one.fuse_opts, want),
			  "fuse_opts item \"%s\" alone gives \"%s\"", item,
			  one.fuse_opts ? one.fuse_opts : "(null)");
		zd_options_free(&one);
	}
	FZ_ASSERT(ndefault == 1, "default_permissions %zu times in \"%s\"", ndefault, list);
	free(items);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t rams[4] = { 0, (uint64_t)1 << 30, (uint64_t)24 << 30, UINT64_MAX };
	struct fz f = { data, size };
	uint8_t machine = fz_u8(&f);
	size_t errlen = fz_u8(&f);
	uint64_t ram = rams[machine & 3];
	unsigned ncpus = machine >> 2;
	char *argv[MAX_ARGS + 1];
	const char *last_pos = NULL;
	struct zd_options o, again;
	char *err = errlen ? malloc(errlen) : NULL;
	int argc = 1, rc, rc2;

	FZ_ASSERT(!errlen || err, "out of memory");
	argv[0] = "zcached";
	while (fz_more(&f) && argc < MAX_ARGS) {
		const uint8_t *end = memchr(f.p, 0, f.n);
		size_t len = end ? (size_t)(end - f.p) : f.n;
		char *a = malloc(len + 1);

		FZ_ASSERT(a, "out of memory");
		memcpy(a, f.p, len);
		a[len] = '\0';
		f.p += len + (end != NULL);
		f.n -= len + (end != NULL);
		argv[argc++] = a;
	}
	argv[argc] = NULL;

	rc = zd_options_parse(&o, argc, argv, ram, ncpus, err, errlen);
	FZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -ENOMEM, "zd_options_parse %d", rc);
	if (err) {
		FZ_ASSERT(memchr(err, '\0', errlen), "message not NUL-terminated in %zu bytes", errlen);
		if (rc == -EINVAL && errlen > 1)
			FZ_ASSERT(err[0], "no message for a bad command line");
	}
	rc2 = zd_options_parse(&again, argc, argv, ram, ncpus, NULL, 0);
	FZ_ASSERT(rc2 == rc, "second parse %d, first %d", rc2, rc);
	if (rc < 0) {
		FZ_ASSERT(!o.mountpoint && !o.fuse_opts, "a failed parse left memory behind");
		goto out;
	}
	same_options(&o, &again);
	zd_options_free(&again);
	FZ_ASSERT(codec_valid(o.codec) == 0, "invalid codec id %#x", o.codec);
	{
		char name[CODEC_NAME_MAX], opt[CODEC_NAME_MAX + 16];
		struct zd_options c;

		FZ_ASSERT(codec_format(o.codec, name, sizeof(name)) > 0, "codec_format");
		snprintf(opt, sizeof(opt), "compressor=%s", name);
		FZ_ASSERT(parse_one(opt, &c) == 0 && c.codec == o.codec,
			  "codec name \"%s\" does not parse back", name);
		zd_options_free(&c);
	}
	FZ_ASSERT(o.threads >= 1 && o.threads <= 1024,
		  "threads %u", o.threads);
	if (o.help || o.version)
		goto out_free;
	for (int i = 1; i < argc; i++) {
		/* The last argument that is no option and no -o's value. */
		if (!strcmp(argv[i], "-o")) {
			i++;
			continue;
		}
		if (argv[i][0] != '-' || !argv[i][1])
			last_pos = argv[i];
	}
	FZ_ASSERT(o.mountpoint && last_pos && !strcmp(o.mountpoint, last_pos),
		  "mountpoint \"%s\", expected \"%s\"", o.mountpoint ? o.mountpoint : "(null)",
		  last_pos ? last_pos : "(null)");
	FZ_ASSERT(o.fuse_opts, "no fuse_opts");
	check_fuse_opts(o.fuse_opts);
out_free:
	zd_options_free(&o);
	zd_options_free(&o);	/* the struct may be freed (and parsed) again */
out:
	zd_options_free(NULL);
	for (int i = 1; i < argc; i++)
		free(argv[i]);
	free(err);
	return 0;
}

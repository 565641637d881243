/* tests/backing_fs.c - alloc/backing against real filesystems: the ones it
 * refuses and one that fills up.
 *
 * - tmpfs (one mounted here, and /dev/shm when it is tmpfs): refused by
 *   name, for a directory and for a named file;
 * - ramfs, which has no O_DIRECT: refused by the O_DIRECT check; this is
 *   the one filesystem at hand where O_DIRECT fails (tmpfs supports it since
 *   Linux 6.6, which is why tmpfs is refused by its statfs type first);
 * - a zcached mount (the daemon of this build): refused as fuse.zcached;
 * - a 16 MiB ext4 on a loop device: writes go on until the filesystem
 *   reports ENOSPC; that write stores nothing, every object written before
 *   reads back intact, and once objects are freed and their segments
 *   punched out, writes succeed again.
 * Needs root (mount, losetup); CI runs as root.  Every mount lives under
 * the suite's base directory; each test unmounts and detaches what it set
 * up (an atexit handler covers failed assertions) and main() sweeps the
 * base afterwards (mounts under it, loop devices of images in it) so a
 * test killed by its timeout leaves nothing behind either.
 */
#include "alloc/backing.h"

#include "fsutil.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

/* What the running test set up, for its atexit cleanup. */
static struct {
	struct fs_loop m;	/* mounted here (tmpfs, ramfs, the loop's ext4) */
	int atexit_done;
} cur;

static void cleanup_cur(void)
{
	fs_loop_release(&cur.m);
}

static void at_exit_cleanup(void)
{
	if (!cur.atexit_done) {
		atexit(cleanup_cur);
		cur.atexit_done = 1;
	}
}

static void mount_fs(const char *type, const char *src, const char *opts)
{
	snprintf(cur.m.mnt, sizeof(cur.m.mnt), "%s/%s.XXXXXX", fs_base, type);
	ck_assert_ptr_nonnull(mkdtemp(cur.m.mnt));
	at_exit_cleanup();
	ck_assert_msg(mount(src, cur.m.mnt, type, 0, opts) == 0, "mount -t %s on %s: %s", type,
		      cur.m.mnt, strerror(errno));
}

/* backing_open must refuse `path` with errno `e` and a one-line message
 * that names the path and contains `why`. */
static void refused(const char *path, int e, const char *why)
{
	char err[512];
	struct backing *b = backing_open(path, 0, NULL, err, sizeof(err));

	if (b)
		backing_close(b);
	ck_assert_msg(b == NULL, "%s was accepted", path);
	ck_assert_msg(e == 0 || errno == e, "%s: errno %d, expected %d", path, errno, e);
	ck_assert_msg(strstr(err, path) != NULL, "message does not name %s: %s", path, err);
	ck_assert_msg(strstr(err, why) != NULL, "message for %s does not say \"%s\": %s", path,
		      why, err);
	ck_assert_msg(strchr(err, '\n') == NULL, "more than one line: %s", err);
	fprintf(stderr, "refused: %s\n", err);
}

static void make_file(char *buf, size_t len, const char *dir, const char *name)
{
	int fd;

	snprintf(buf, len, "%s/%s", dir, name);
	fd = open(buf, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_msg(fd >= 0, "create %s: %s", buf, strerror(errno));
	ck_assert_int_eq(write(fd, "keep me", 7), 7);
	close(fd);
}

START_TEST(test_refuse_tmpfs)
{
	char file[400];
	struct statfs sf;
	struct stat st;

	mount_fs("tmpfs", "zc-backing-test", "size=8m");
	refused(cur.m.mnt, EINVAL, "tmpfs");
	make_file(file, sizeof(file), cur.m.mnt, "file");
	refused(file, EINVAL, "tmpfs");
	/* Refused before it was touched. */
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_eq(st.st_size, 7);
	if (statfs("/dev/shm", &sf) == 0 && sf.f_type == TMPFS_MAGIC)
		refused("/dev/shm", EINVAL, "tmpfs");
	cleanup_cur();
}
END_TEST

START_TEST(test_refuse_no_odirect)
{
	char file[400];
	struct stat st;

	mount_fs("ramfs", "zc-backing-test", NULL);
	make_file(file, sizeof(file), cur.m.mnt, "file");
	refused(file, EINVAL, "O_DIRECT");
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_eq(st.st_size, 7);
	/* A directory: no unnamed O_DIRECT file there either (whichever of
	 * O_TMPFILE and O_DIRECT fails first is named). */
	refused(cur.m.mnt, 0, "O_");
	cleanup_cur();
}
END_TEST

START_TEST(test_refuse_zcached)
{
	char sub[400];

	fs_mount(NULL);
	refused(fs_cur.dir, EINVAL, "zcached mount (fuse.zcached)");
	snprintf(sub, sizeof(sub), "%s/pool", fs_cur.dir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	refused(sub, EINVAL, "fuse.zcached");
	ck_assert_int_eq(rmdir(sub), 0);
	fs_finish();
}
END_TEST

static uint64_t stats_of_objects(struct backing *b)
{
	struct backing_stats st;

	backing_stats(b, &st);
	return st.objects;
}

START_TEST(test_enospc_loop)
{
	enum { CAP = 20000, BATCH = 32 };
	uint64_t *locs = calloc(CAP, sizeof(*locs)), rng = zc_test_seed();
	uint32_t *lens = calloc(CAP, sizeof(*lens));
	struct backing_obj o[BATCH];
	unsigned char *data = malloc(BACKING_OBJ_MAX), *got = malloc(BACKING_OBJ_MAX);
	struct backing_stats st;
	struct backing *b;
	char err[512];
	size_t n = 0, freed = 0;
	int rc;

	ck_assert(locs && lens && data && got);
	for (size_t i = 0; i < BACKING_OBJ_MAX; i++)
		data[i] = (unsigned char)zc_rand(&rng);
	at_exit_cleanup();
	fs_loop_ext4(&cur.m, 16);

	b = backing_open(cur.m.mnt, 0, NULL, err, sizeof(err));
	ck_assert_msg(b != NULL, "%s", err);
	/* Batches of objects (each a slice of `data` tagged with its index)
	 * until the filesystem is full. */
	for (;;) {
		uint64_t before;

		for (int i = 0; i < BATCH; i++) {
			uint32_t len = 1 + (uint32_t)zc_rand_below(&rng, zc_rand_below(&rng, 8) ? 4096 : 65536);

			lens[n + (size_t)i] = len;
			o[i] = (struct backing_obj){ .data = data + (n + (size_t)i) % 1000, .len = len,
						     .tag = n + (size_t)i };
		}
		ck_assert_uint_lt(n + BATCH, CAP);
		before = stats_of_objects(b);
		rc = backing_write(b, o, BATCH, locs + n);
		if (rc != 0) {
			ck_assert_int_eq(rc, -ENOSPC);
			ck_assert_uint_eq(stats_of_objects(b), before);
			break;
		}
		n += BATCH;
	}
	backing_stats(b, &st);
	fprintf(stderr, "loop: %zu objects, %llu bytes in the file when ext4 filled up\n", n,
		(unsigned long long)st.live_bytes);
	ck_assert_uint_eq(st.write_failures, 1);	/* the filesystem said ENOSPC */
	ck_assert_uint_eq(st.enospc, 1);
	ck_assert_uint_gt(st.live_bytes, 8u << 20);
	ck_assert_int_eq(backing_check(b), 0);
	/* Everything acknowledged reads back. */
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(backing_read(b, locs[i], i, got, BACKING_OBJ_MAX), (int)lens[i]);
		ck_assert(memcmp(got, data + i % 1000, lens[i]) == 0);
	}
	/* Free the first half: whole segments die and are punched out; the
	 * filesystem has room again. */
	for (; freed < n / 2; freed++)
		ck_assert_int_eq(backing_free(b, locs[freed]), 0);
	backing_trim(b);
	backing_stats(b, &st);
	ck_assert_uint_gt(st.holes_punched, 0);
	rc = backing_write(b, o, BATCH, locs + n);
	ck_assert_int_eq(rc, 0);
	for (int i = 0; i < BATCH; i++) {
		ck_assert_int_eq(backing_read(b, locs[n + (size_t)i], n + (size_t)i, got,
					      BACKING_OBJ_MAX), (int)o[i].len);
		ck_assert(memcmp(got, o[i].data, o[i].len) == 0);
	}
	for (size_t i = freed; i < n; i++) {
		ck_assert_int_eq(backing_read(b, locs[i], i, got, BACKING_OBJ_MAX), (int)lens[i]);
		ck_assert(memcmp(got, data + i % 1000, lens[i]) == 0);
	}
	ck_assert_int_eq(backing_check(b), 0);
	backing_close(b);
	cleanup_cur();
	free(locs);
	free(lens);
	free(data);
	free(got);
}
END_TEST

/* After the suite: whatever a killed test left mounted under the base or
 * attached to an image in it. */
static void sweep_base(void)
{
	char line[4096], cmd[1200];
	FILE *f;

	for (int pass = 0; pass < 2; pass++) {
		f = fopen("/proc/self/mountinfo", "r");
		if (!f)
			break;
		while (fgets(line, sizeof(line), f)) {
			char mnt[1024];

			if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) == 1 &&
			    strncmp(mnt, fs_base, strlen(fs_base)) == 0 && strstr(mnt, "/mnt.") == NULL)
				umount2(mnt, MNT_DETACH);
		}
		fclose(f);
	}
	snprintf(cmd, sizeof(cmd),
		 "losetup -j '%s/ext4.img' 2>/dev/null | cut -d: -f1 | xargs -r -n1 losetup -d", fs_base);
	fs_run(cmd);
}

static Suite *make_suite(void)
{
	Suite *s = suite_create("backing_fs");
	TCase *refuse = tcase_create("refusals");
	TCase *fill = tcase_create("fill");

	tcase_add_test(refuse, test_refuse_tmpfs);
	tcase_add_test(refuse, test_refuse_no_odirect);
	tcase_add_test(refuse, test_refuse_zcached);
	tcase_add_test(fill, test_enospc_loop);
	suite_add_tcase(s, refuse);
	suite_add_tcase(s, fill);
	return s;
}

int main(void)
{
	int ret;

	if (geteuid() != 0) {
		fprintf(stderr, "backing_fs: needs root (mount, losetup), skipping\n");
		return 77;
	}
	if (access("/dev/fuse", R_OK | W_OK) != 0 || access(ZCACHED, X_OK) != 0) {
		fprintf(stderr, "/dev/fuse or %s not usable, skipping\n", ZCACHED);
		return 77;
	}
	snprintf(fs_base, sizeof(fs_base), "/tmp/zcached-backing-test.XXXXXX");
	if (!mkdtemp(fs_base)) {
		perror("mkdtemp");
		return 1;
	}
	chmod(fs_base, 0755);
	ret = zc_test_main(make_suite());
	sweep_base();
	fs_cleanup_base();
	return ret;
}

/* treeutil.h - a tree of a mount recorded and checked again, for the suites
 * that stop or replace the daemon under it (restart: snapshots, reload:
 * SIGHUP): each entry's name, inode number, link count, size, mode, mtime
 * and, for a regular file, the FNV-1a of its bytes.  Paths are relative to
 * the current mount (tests/fsutil.h fs_path).  Failures are libcheck
 * assertions naming the entry.
 */
#ifndef ZC_TESTS_TREEUTIL_H
#define ZC_TESTS_TREEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define FS_TREE_MAX 96

struct fs_tree_entry {
	char rel[64];
	ino_t ino;
	nlink_t nlink;
	off_t size;
	mode_t mode;
	struct timespec mtime;
	uint64_t sum;		/* FNV-1a of the bytes (regular files), else 0 */
};

struct fs_tree {
	struct fs_tree_entry e[FS_TREE_MAX];
	unsigned n;
};

/* FNV-1a, 64 bits, of n bytes. */
uint64_t fs_fnv(const void *p, size_t n);
/* Append `rel` as it is now (lstat, and the bytes of a regular file). */
void fs_tree_record(struct fs_tree *t, const char *rel);
/* Assert that every recorded entry is there with the same inode number,
 * link count, size, mode and bytes, and with `mtimes` nonzero the same
 * mtime (not for a test that changes a directory after recording it). */
void fs_tree_verify(const struct fs_tree *t, int mtimes);
/* Make the top-level directory `name` a pool of kind `kind` ("persistent",
 * "ephemeral") and compressor `codec`. */
void fs_make_pool(const char *name, const char *kind, const char *codec);

#endif /* ZC_TESTS_TREEUTIL_H */

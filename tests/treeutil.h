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

/* The mixed tree the reload and fd-store suites replace the daemon under:
 * pools keep (persistent, zstd:1, with a directory keep/sub) and tmp
 * (ephemeral, lz4); `nfiles` (at most FS_TREE_MAX - 4) files
 * fs_tree_file(k), whose pages are in turn text (`text`, repeated),
 * random and same-filled: 1 to max_pages pages long, every 4th one
 * big_pages more; a hard link tmp/link-to-f0, a symlink sym and an xattr
 * on keep/f0; everything recorded in t (files first, in order). */
void fs_tree_build_mixed(struct fs_tree *t, unsigned nfiles, unsigned max_pages,
			 unsigned big_pages, const char *text, uint64_t *rs);
/* File k of that tree, relative to the mount: keep/fK, keep/sub/fK or
 * tmp/fK (a static buffer, overwritten by the next call). */
const char *fs_tree_file(unsigned k);

#endif /* ZC_TESTS_TREEUTIL_H */

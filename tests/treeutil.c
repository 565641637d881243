/* treeutil.c - a tree of a mount recorded and checked again (treeutil.h). */
#include "treeutil.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsutil.h"
#include "testutil.h"

uint64_t fs_fnv(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ull;
	return h;
}

void fs_tree_record(struct fs_tree *t, const char *rel)
{
	struct fs_tree_entry *e;
	char p[1024];
	struct stat st;

	ck_assert_uint_lt(t->n, FS_TREE_MAX);
	e = &t->e[t->n++];
	snprintf(e->rel, sizeof(e->rel), "%s", rel);
	fs_path(p, sizeof(p), rel);
	ck_assert_msg(lstat(p, &st) == 0, "%s: %s", rel, strerror(errno));
	e->ino = st.st_ino;
	e->nlink = st.st_nlink;
	e->size = st.st_size;
	e->mode = st.st_mode;
	e->mtime = st.st_mtim;
	e->sum = 0;
	if (S_ISREG(st.st_mode)) {
		size_t len;
		char *b = fs_read_file(rel, &len);

		ck_assert_uint_eq(len, (size_t)st.st_size);
		e->sum = fs_fnv(b, len);
		free(b);
	}
}

void fs_tree_verify(const struct fs_tree *t, int mtimes)
{
	for (unsigned k = 0; k < t->n; k++) {
		const struct fs_tree_entry *e = &t->e[k];
		char p[1024];
		struct stat st;

		fs_path(p, sizeof(p), e->rel);
		ck_assert_msg(lstat(p, &st) == 0, "%s: %s", e->rel, strerror(errno));
		ck_assert_msg(st.st_ino == e->ino, "%s: inode %llu, was %llu", e->rel,
			      (unsigned long long)st.st_ino, (unsigned long long)e->ino);
		ck_assert_uint_eq(st.st_nlink, e->nlink);
		ck_assert_int_eq(st.st_size, e->size);
		ck_assert_uint_eq(st.st_mode, e->mode);
		if (mtimes) {
			ck_assert_int_eq(st.st_mtim.tv_sec, e->mtime.tv_sec);
			ck_assert_int_eq(st.st_mtim.tv_nsec, e->mtime.tv_nsec);
		}
		if (S_ISREG(st.st_mode)) {
			size_t len;
			char *b = fs_read_file(e->rel, &len);

			ck_assert_msg(fs_fnv(b, len) == e->sum, "%s: bytes differ", e->rel);
			free(b);
		}
	}
}

void fs_make_pool(const char *name, const char *kind, const char *codec)
{
	char p[1024];

	fs_path(p, sizeof(p), name);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(setxattr(p, "user.zcache.kind", kind, strlen(kind), 0), 0);
	ck_assert_int_eq(setxattr(p, "user.zcache.compressor", codec, strlen(codec), 0), 0);
}

const char *fs_tree_file(unsigned k)
{
	static char rel[64];

	snprintf(rel, sizeof(rel), "%s/f%u", k % 3 == 0 ? "keep" : k % 3 == 1 ? "keep/sub" : "tmp",
		 k);
	return rel;
}

void fs_tree_build_mixed(struct fs_tree *t, unsigned nfiles, unsigned max_pages,
			 unsigned big_pages, const char *text, uint64_t *rs)
{
	const size_t tlen = strlen(text);
	char p[1024], q[1024];

	ck_assert_uint_le(nfiles + 4, FS_TREE_MAX);
	fs_make_pool("keep", "persistent", "zstd:1");
	fs_make_pool("tmp", "ephemeral", "lz4");
	fs_path(p, sizeof(p), "keep/sub");
	ck_assert_int_eq(mkdir(p, 0750), 0);
	for (unsigned k = 0; k < nfiles; k++) {
		size_t n = (size_t)(zc_rand(rs) % ((size_t)max_pages * PAGE)) +
			   (k % 4 == 0 ? (size_t)big_pages * PAGE : 1);
		unsigned char *b = malloc(n);

		ck_assert_ptr_nonnull(b);
		for (size_t i = 0; i < n; i++) {
			unsigned kind = (unsigned)((k + i / PAGE) % 3);

			b[i] = kind == 0 ? (unsigned char)text[(i + k) % tlen]
			     : kind == 1 ? (unsigned char)zc_rand(rs) : (unsigned char)k;
		}
		fs_write_file(fs_tree_file(k), b, n);
		free(b);
	}
	fs_path(p, sizeof(p), "keep/f0");
	fs_path(q, sizeof(q), "tmp/link-to-f0");
	ck_assert_int_eq(link(p, q), 0);
	fs_path(q, sizeof(q), "sym");
	ck_assert_int_eq(symlink("keep/f0", q), 0);
	ck_assert_int_eq(setxattr(p, "user.note", "kept", 4, 0), 0);
	t->n = 0;
	for (unsigned k = 0; k < nfiles; k++)
		fs_tree_record(t, fs_tree_file(k));
	fs_tree_record(t, "tmp/link-to-f0");
	fs_tree_record(t, "sym");
	fs_tree_record(t, "keep");
	fs_tree_record(t, "keep/sub");
}

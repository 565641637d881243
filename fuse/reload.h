/* reload.h - the reload image: what one zcached process hands the next
 * across the execve of a SIGHUP reload (daemon/reload.h): the kernel's
 * INIT argument, the open file handles, and the whole state image with the
 * kernel's lookup and open counts (fuse/state.h, ZFS_STATE_KERNEL).
 *
 * Design.  The old process writes the image into a sealed memfd once its
 * session is quiet (no request in flight, the densifier and the policy
 * thread stopped); the new one maps it, checks it, loads the state into a
 * fresh filesystem, opens again every file the kernel holds a handle for
 * (pinning it in the store as zfs_data_open does) and puts each handle
 * back in the slot and generation the kernel knows (fuse/handle.h
 * zfs_handle_adopt), so every fh, inode number, lookup count and open
 * count means after the reload what it meant before.  Then the session
 * replays the INIT argument (fuse/session.h zfs_session_adopt).
 *
 * Format (version 1, little-endian):
 *
 *   "ZCRELOAD" (8), u32 version (1), u32 INIT argument length N (at most
 *   64), 64 bytes holding the argument (fuse_init_in as the kernel sent
 *   it, zero padded), u32 handle count H, u32 0, H times u64 fh and u64
 *   inode number, u32 CRC32C of all the bytes before it; then a state
 *   image (fuse/state.h) to the end.
 *
 * What refuses a reload (zfs_reload_save answers -EBUSY or -EOPNOTSUPP
 * with one line, and the old process goes on serving): the io_uring
 * transport running and not held (the daemon holds it first,
 * fuse/uring.h "Hand-over": its region passes beside the image, not in
 * it); a /.zcache file open (its handle
 * is the address of a rendered text); an open file that has been unlinked
 * (the state image holds only named inodes); no INIT seen yet; no-open
 * mode (open=off, fuse/ops.h: the daemon does not know which files are
 * open, nor which /.zcache snapshots the kernel holds).
 *
 * Faults (debug builds): ZC_FAULT_RELOAD_VERSION=1 in the environment of
 * the process that reads an image makes it see a format version it does
 * not read (tests/reload.c: a new binary that refuses the state).
 *
 * Threads: both ends need the filesystem quiet (see fuse/state.h).
 * Errors: negative errno, and one line in the caller's buffer.
 */
#ifndef ZC_FUSE_RELOAD_H
#define ZC_FUSE_RELOAD_H

#include <stddef.h>
#include <stdint.h>

struct zfs;
struct zfs_state_figures;

#define ZFS_RELOAD_VERSION 1u
#define ZFS_RELOAD_INIT_MAX 64u

/* What a save or a load handed over. */
struct zfs_reload_figures {
	uint64_t handles;		/* open file handles */
	uint64_t header_bytes;		/* the reload header */
};

/* Write the reload image of the quiet `fs` to `fd` (from its position).
 * Returns 0; -EOPNOTSUPP (the io_uring transport runs, not held), -EBUSY (a
 * /.zcache file or an unlinked file is open), -EAGAIN (no INIT seen) or
 * -ENOMEM, with err saying why, nothing written; or zfs_state_save's
 * error (err says so; fd holds part of an image).  fig and sfig may be
 * NULL. */
int zfs_reload_save(struct zfs *fs, int fd, struct zfs_reload_figures *fig,
		    struct zfs_state_figures *sfig, char *err, size_t errlen);

/* Check the image of `len` bytes at `buf` without loading it: the
 * header, its checksum, its version and the state image's header and
 * version.  Returns 0 or -EINVAL with one line in err. */
int zfs_reload_probe(const void *buf, size_t len, char *err, size_t errlen);

/* Load the image into `fs`, fresh from zfs_create and used by nobody:
 * the state (zfs_state_load), then every handle (the file opened again
 * and the handle adopted).  Copies the INIT argument to init_in (at least
 * ZFS_RELOAD_INIT_MAX bytes) and its length to *init_len.  On failure err
 * holds one line and fs part of the state: destroy it.  Returns 0,
 * -EINVAL (a bad image; or a handle naming no file of the state), or
 * zfs_state_load's and zfs_data_open's errors. */
int zfs_reload_load(struct zfs *fs, const void *buf, size_t len, void *init_in,
		    size_t *init_len, struct zfs_reload_figures *fig,
		    struct zfs_state_figures *sfig, char *err, size_t errlen);

#endif /* ZC_FUSE_RELOAD_H */

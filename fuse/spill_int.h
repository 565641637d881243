/* spill_int.h - the far tier's private header: what spill.c and
 * spill_wire.c share.  Nothing outside fuse/spill*.c includes it; spill.h
 * is the manual.
 *
 * Design.  The client's two files word their configuration errors the same
 * way (one line into the caller's buffer, -EINVAL returned), so the
 * formatter has one home, in spill_wire.c beside the server list parser
 * that uses it most.
 */
#ifndef ZC_FUSE_SPILL_INT_H
#define ZC_FUSE_SPILL_INT_H

#include <stddef.h>

/* Word one line of a configuration error into err (when err is not NULL
 * and errlen > 0; truncated to fit, as snprintf does) and return -EINVAL,
 * so a check reads `return _zfs_spill_fail(err, errlen, "...", ...);`.
 * Thread safe; touches nothing else. */
int _zfs_spill_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* ZC_FUSE_SPILL_INT_H */

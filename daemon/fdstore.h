/* fdstore.h - restart through systemd's file descriptor store: a stop that
 * is part of `systemctl restart` hands the mount and the whole state to
 * systemd, and the next start takes them back, so the mount never goes
 * away and every file, inode number, lookup count and open handle means
 * the same afterwards (as a SIGHUP reload, daemon/reload.h, but across two
 * processes that systemd starts).
 *
 * Design.  SIGTERM alone cannot tell a restart from a stop, so the unit
 * sets RestartKillSignal=SIGUSR2 (systemd >= 244; ZD_RESTART_SIGNAL) and
 * FileDescriptorStoreMax=.  On that signal the session stops as for a
 * reload (daemon/reload.h: every request read is answered, the rest wait
 * in the kernel's queue; nothing is unmounted), and zd_fdstore_hand:
 *   1. writes, seals and probes the reload image (zd_reload_image: one
 *      home for that behaviour);
 *   2. sends it to the service manager over $NOTIFY_SOCKET as
 *      "FDSTORE=1\nFDNAME=zcached-state", then the /dev/fuse descriptor as
 *      "FDSTORE=1\nFDNAME=zcached-fuse" (sd_pid_notify_with_fds), over the
 *      io_uring transport then the held ring's region as
 *      "FDSTORE=1\nFDNAME=zcached-ring" (held before step 1, as for a
 *      reload: daemon/reload.h zd_reload_hold), and waits until the
 *      manager has read them (sd_notify_barrier);
 *   3. main.c exits with ZD_FDSTORE_EXIT without unmounting.  The unit's
 *      ExecStopPost= recognises that status ($EXIT_STATUS) and leaves the
 *      mount alone (its check would stat a mount that nobody serves until
 *      the next start, and hang).
 * The next start (zd_fdstore_take, before anything is built) finds both
 * names in LISTEN_FDNAMES (sd_listen_fds_with_names) and adopts them on
 * the reload's path (zd_reload_load, main.c zcd_adopt); a "zcached-ring"
 * among them was mapped before anything else (daemon/ringover.h
 * zd_ringover_early reads LISTEN_FDNAMES itself).  Once adopted,
 * zd_fdstore_adopted removes them all from the store (FDSTOREREMOVE=1): a
 * later crash must not hand a stale image to the start after it, and the
 * connection must abort when this process dies, as any mount's does.
 *
 * When the hand-over cannot happen, the restart signal is a plain stop:
 * the mount is unmounted, a snapshot= written, and one line says why - no
 * $NOTIFY_SOCKET, a send that fails (what was sent is taken back from the
 * store with FDSTOREREMOVE=1 if a later send fails), or what refuses a
 * reload: a hold of the io_uring transport that does not complete, a
 * /.zcache or an unlinked file open, a binary that does not read the
 * image.  A ring held for it first serves what it held (main.c).
 *
 * A start that cannot read the image (zd_reload_load fails: a corrupt
 * memfd, a binary of another format version) exits 1 with one line and
 * removes nothing from the store: systemd keeps both descriptors, so the
 * mount stays (accesses wait, killable) and the state stays whole until a
 * zcached that reads it starts (a binary put back, then `systemctl
 * restart`), or until the unit is fully stopped with no job queued, when
 * systemd closes them: the connection aborts, the mount answers ENOTCONN
 * and ExecStopPost= unmounts it; that loss is the journal's lines, never
 * silent.  A start that finds only one of the two names, or a /dev/fuse
 * descriptor whose connection is gone, logs a line, unmounts what is
 * there, drops them from the store and starts empty.
 *
 * Requires systemd (libsystemd); without it zd_fdstore_hand always falls
 * back and zd_fdstore_take finds nothing.  No threads: main thread only.
 */
#ifndef ZC_DAEMON_FDSTORE_H
#define ZC_DAEMON_FDSTORE_H

#include "daemon/reload.h"

struct zfs;
struct fuse_session;
struct zd_log;

#define ZD_FDSTORE_FUSE "zcached-fuse"
#define ZD_FDSTORE_STATE "zcached-state"
#define ZD_FDSTORE_RING "zcached-ring"	/* the io_uring ring region, over io_uring */

/* The exit status of a process that handed its mount to the fd store
 * (the unit lists it in SuccessExitStatus=; ExecStopPost= tests it). */
#define ZD_FDSTORE_EXIT 75

/* Hand the mount over (see Design).  Call with the session stopped
 * (zfs_session_loop returned, the mount kept), the densifier and policy
 * threads stopped.  Returns 0 (handed over: exit ZD_FDSTORE_EXIT without
 * unmounting) or -1 (logged: stop as SIGTERM does, unmounting). */
int zd_fdstore_hand(struct zd_reload *r, struct zfs *fs, struct fuse_session *se,
		    struct zd_log *log);

/* At start: take a stored mount from LISTEN_FDS/LISTEN_FDNAMES (which are
 * unset).  Returns 1 (r->fuse_fd, r->state_fd and r->from_store set, and
 * r->ring_stored when r->ring came from the store: adopt them), 0
 * (nothing to adopt; descriptors of other names are closed, a lone or
 * dead one unmounted and dropped, a mapped ring freed, logged). */
int zd_fdstore_take(struct zd_reload *r, struct zd_log *log, const char *mountpoint);

/* After a successful adoption from the store: remove its names from it
 * (logged if that fails).  Nothing when r->from_store is 0. */
void zd_fdstore_adopted(struct zd_reload *r, struct zd_log *log);

#endif /* ZC_DAEMON_FDSTORE_H */

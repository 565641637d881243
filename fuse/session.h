/* session.h - the session loop of the filesystem and its transport: the
 * worker threads that receive FUSE requests from /dev/fuse and hand them
 * to the handlers (fuse/ops.h).
 *
 * Design.  A fixed set of workers (the calling thread is one), each
 * receiving into its own buffer of ZFS_MAX_IO plus a header page from the
 * buddy allocator, and processing what it received (libfuse's
 * fuse_session_receive_buf / fuse_session_process_buf).  Workers block
 * SIGTERM, SIGINT and SIGHUP, so a termination signal interrupts the
 * calling thread's read, whose libfuse handler marks the session exited.
 * When the calling thread's worker stops, the others are woken with
 * SIGUSR1 (a handler that does nothing is installed meanwhile: its only
 * job is to make their read return EINTR) and joined before anything
 * closes the device.  The notifier thread (fuse/notify.h) runs beside them.
 *
 * Transport.  The session's reads and writes of /dev/fuse go through this
 * file (fuse_session_custom_io), for one reason: libfuse 3.14 cannot ask
 * for FUSE_HANDLE_KILLPRIV_V2 and leaves FUSE_PARALLEL_DIROPS and
 * FUSE_HANDLE_KILLPRIV out of its INIT reply, whatever conn->want says,
 * which cost an untar a GETXATTR per write(2) and a GETATTR per chown (a
 * third of its requests).  The read notes the INIT request's unique and
 * the flags the kernel offers; the writev adds those flags (the ones
 * offered) to that one reply.  Every other message passes unchanged; errors
 * are read(2)'s and writev(2)'s.  So the filesystem clears
 * set-user-ID/set-group-ID and security.capability itself (fuse/ns.h
 * zfs_ns_kill_suid, zfs_ns_kill_caps), as the VFS would.
 *
 * Threads: zfs_session_loop is called once, by the daemon's main thread.
 */
#ifndef ZC_FUSE_SESSION_H
#define ZC_FUSE_SESSION_H

struct zfs;
struct fuse_session;

/* Run the session on `threads` workers (the calling thread is one of them)
 * until it ends: a termination signal caught by libfuse's handlers on the
 * calling thread, or an unmount.  The session's device I/O is replaced
 * first (see "Transport").  When every worker has stopped, the notifier is
 * stopped and stop(arg) is called (to unmount; the device is never closed
 * under a worker's read); a notifier the kernel holds inside an
 * invalidation is joined after stop(arg) instead.  Returns 0, -ENOMEM,
 * -EAGAIN when the notifier cannot be started, or the first negative errno
 * a worker met. */
int zfs_session_loop(struct zfs *fs, struct fuse_session *se, unsigned threads,
		     void (*stop)(void *arg), void *arg);

#endif /* ZC_FUSE_SESSION_H */

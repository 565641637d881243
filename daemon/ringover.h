/* ringover.h - the process side of handing the io_uring transport over
 * (fuse/uring.h "Hand-over") across a SIGHUP reload or a restart through
 * the fd store (daemon/reload.h, daemon/fdstore.h): the poker that fills
 * idle queues during the hold, and the early mapping of the ring region
 * in the process that adopts it.
 *
 * Design.  The hold waits until every entry of every online CPU's queue
 * holds a request; queues nobody uses get none.  So the old process runs
 * a poker: the zcached binary itself (the running image,
 * /proc/self/exe, even if an upgrade replaced the file), spawned with
 * ZCACHED_URING_POKE set
 * (zd_ringover_poke_main), which forks once and lets its parent exit at
 * once (the daemon reaps that parent: the poker is then nobody's child to
 * wait for) and in the grandchild starts, for every online CPU, `depth`
 * threads pinned to it, each doing one fstatat() of a unique name that
 * does not exist (".zcached-hold-PID-CPU-N") in the mount's root (its
 * descriptor is passed as fd 3): a LOOKUP that always reaches the daemon,
 * lands on that CPU's queue and is answered ENOENT by whichever process
 * serves next; the poker then exits.  It must not be a thread of the
 * daemon: a thread killed by execve while its request waits for an
 * answer waits uninterruptibly, and execve would never finish.
 *
 * The adopting process must map the region at the address the kernel's
 * ring entries name, before its address space fills
 * (zd_ringover_early, first thing in main): it finds the ring memfd in
 * ZCACHED_RELOAD_FDS (its third number) or in LISTEN_FDNAMES
 * ("zcached-ring"), maps it (fuse/uring.h zfs_uring_region_adopt), and
 * when the address is taken executes /proc/self/exe again with the same
 * argv, descriptors and environment (ZCACHED_RING_TRIES counts), giving
 * up after ZD_RINGOVER_TRIES with one line and exit status 1, which
 * aborts the connection: never a hung mount.
 *
 * Faults (debug builds): ZC_FAULT_POKE_OFF=1 in the daemon's environment
 * makes its pokers ask nothing (tests/reload.c: a hold that times out);
 * ZC_FAULT_RING_TAKEN=N makes the first N tries to map a ring handed over
 * find its address taken (the new process executes itself again, or
 * gives up after ZD_RINGOVER_TRIES).
 *
 * No threads of the daemon's own here; the poker's are its own process's.
 */
#ifndef ZC_DAEMON_RINGOVER_H
#define ZC_DAEMON_RINGOVER_H

struct zfs_uring_region;

#define ZD_RINGOVER_POKE_ENV "ZCACHED_URING_POKE"
#define ZD_RINGOVER_TRIES_ENV "ZCACHED_RING_TRIES"
#define ZD_RINGOVER_TRIES 5
/* How long a hold may take before the hand-over is refused. */
#define ZD_RINGOVER_HOLD_MS 5000u

/* What the poker needs (zd_ringover_poke's argument). */
struct zd_poke {
	const char *exe;		/* the zcached binary ("/proc/self/exe") */
	int root;			/* an O_PATH descriptor of the mount's root */
	unsigned depth;			/* entries per queue */
};

/* If ZCACHED_URING_POKE is set, this process is a poker (see Design):
 * returns its exit status (0).  Otherwise -1. */
int zd_ringover_poke_main(void);

/* fuse/uring.h zfs_uring_hold's `poke`: spawn the poker (arg: struct
 * zd_poke) and reap its first process.  Returns 0 or -errno. */
int zd_ringover_poke(void *arg);

/* First thing in main: map a handed-over ring region (see Design).
 * Returns 0 with *reg the region or NULL (no ring handed over), or -1
 * with one line on stderr (a bad table, or the address taken
 * ZD_RINGOVER_TRIES times): exit 1.  Returns nothing when it executes the
 * binary again. */
int zd_ringover_early(char **argv, struct zfs_uring_region **reg);

#endif /* ZC_DAEMON_RINGOVER_H */

/* fsutil.h - mounting the built zcached: the one harness of every suite
 * that runs the daemon (fs, fsx, hardening, policy, zcachectl).
 *
 * Cleanup that survives failures.  libcheck runs each test in a child
 * process and a failed assertion exits that child at once, so:
 *   - each test mounts with fs_mount() (a fresh directory) or fs_mount_at()
 *     (a directory of its own choosing, e.g. to mount again where a killed
 *     daemon was), which record the daemon's pid and mount point and
 *     register an atexit handler that unmounts and stops the daemon (it
 *     runs on a failed assertion too);
 *   - the suite has one base directory, made by fs_suite_main() (or
 *     fs_base_init() for a suite that mounts in only some tests), where
 *     fs_mount() makes its mount points and every mount records its pid
 *     and directory; after the suite fs_cleanup_base() unmounts whatever a
 *     recorded daemon still has mounted (lazily), kills the recorded
 *     daemons (only zcached processes) and removes the base, so even a
 *     test killed by its timeout leaves nothing behind.
 * A suite's main() is: return fs_suite_main(make_suite());
 */
#ifndef ZC_TESTS_FSUTIL_H
#define ZC_TESTS_FSUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ZCACHED ZC_BINARY_DIR "/zcached"
#define PAGE 4096

/* The suite's base directory (set by fs_suite_main). */
extern char fs_base[128];

/* The mount of the running test (a test's own process state). */
struct fs_mount_state {
	char dir[200];
	pid_t pid;
	int atexit_done;
};
extern struct fs_mount_state fs_cur;

/* Run the suite with a fresh base directory and clean up after it; returns
 * the exit status (77, "skipped", when /dev/fuse or zcached is unusable). */
int fs_suite_main(Suite *s);
/* For suites with their own main(): make the base directory (0, or -1 with
 * a message on stderr); call fs_cleanup_base() after the suite. */
int fs_base_init(void);
/* Whether this machine can mount the built zcached (/dev/fuse usable and
 * zcached built). */
int fs_can_mount(void);

/* The transport every mount of the suite uses, from the environment:
 * ZC_TRANSPORT=uring adds uring=on to the daemon's options, =dev adds
 * uring=off, anything else nothing (the daemon's default, auto); a mount
 * whose options name uring= itself keeps them.  NULL or the option.  ctest runs the filesystem suites once per transport. */
const char *fs_transport_opt(void);
/* 0 when ZC_TRANSPORT=uring but the kernel does not offer the ring
 * (enable_uring is not Y): fs_suite_main then skips the suite. */
int fs_transport_usable(void);

/* buf = the mount point + "/" + rel. */
void fs_path(char *buf, size_t len, const char *rel);
/* Whether dir is a mount point (per /proc/self/mountinfo). */
int fs_is_mounted(const char *dir);
/* system(cmd); returns the exit status, or 128 + signal. */
int fs_run(const char *cmd);
/* Wait for a child for up to `ms` milliseconds (two minutes at least: a
 * bound only ends a failure, see fsutil.c); returns its status or -1. */
int fs_wait(pid_t pid, int ms);
/* Start zcached -f with `opts` (may be NULL) on a fresh directory under
 * the base and wait until it is mounted (fs_cur describes it). */
void fs_mount(const char *opts);
/* The same on the existing directory `dir` (any path; the daemon's output
 * is appended to dir.log). */
void fs_mount_at(const char *dir, const char *opts);
/* The super-block options of the mount on `dir` (mountinfo's last field,
 * e.g. "rw,default_permissions,allow_other") into out[1024]; asserts that
 * dir is mounted. */
void fs_super_opts(const char *dir, char out[1024]);
/* Unmount at the end of a test and assert that the daemon exited with
 * status 0 (under the sanitizers: no leak, no error, invariants held). */
void fs_finish(void);
/* Unmount (lazily if need be) and stop the daemon, asserting nothing. */
void fs_unmount_now(void);
/* Create or truncate rel in the mount and write data to it. */
void fs_write_file(const char *rel, const void *data, size_t len);
/* Read a whole file of the mount (malloc'ed, NUL-terminated). */
char *fs_read_file(const char *rel, size_t *len);
/* Write up to `chunks` chunks of `chunk` incompressible bytes (zc_rand
 * words from `seed`; `chunk` a multiple of 8) to fd from offset 0 until a
 * pwrite fails; every pwrite that succeeds must be whole (asserted).
 * Returns the failed pwrite's errno, or 0 when all went in; *written is the
 * bytes written. */
int fs_fill_random(int fd, uint64_t seed, size_t chunk, int chunks, off_t *written);
/* Assert that fd holds exactly the `len` bytes fs_fill_random(seed) wrote
 * (read with pread: fd must be open for reading). */
void fs_check_random(int fd, uint64_t seed, off_t len);
/* The value of `name` in /.zcache/stats. */
uint64_t fs_stat_value(const char *name);
/* The value of `name` in /.zcache/FILE (e.g. "compress",
 * "pools/NAME/stats"). */
uint64_t fs_ctl_value(const char *file, const char *name);
/* Write `value` to the control file /.zcache/FILE (the caller is root);
 * asserts that the write took all of it. */
void fs_ctl_write(const char *file, const char *value);
/* Does the daemon still have file `rel`?  Asked with open(2), which always
 * reaches the daemon (stat(2) may answer from the kernel's cache of an
 * evicted file's name until the daemon's invalidation arrives). */
int fs_daemon_has(const char *rel);
/* Files of pool `pool` ("default": the root's) open now, as the daemon
 * sees them: a close reaches it asynchronously (the kernel's RELEASE). */
uint64_t fs_open_files(const char *pool);
/* Wait until the daemon has seen the last close of every file of `pool`
 * (a closed file of an ephemeral pool becomes evictable, and joins the
 * LRU, only then). */
void fs_wait_closed(const char *pool);
/* Run fn(arg) in a child as uid/gid 65534; returns the child's exit status
 * (fn returns an errno, 0 for success). */
int fs_as_nobody(int (*fn)(void *), void *arg);
/* Lines of the current daemon's log (fs_mount's DIR.log) that contain
 * `what` (0 when there is no log yet). */
unsigned fs_log_count(const char *what);
/* Wait (bounded, not timed: 60 s is only against a hang) until that log
 * has `n` lines containing `what`; asserts it has. */
void fs_wait_log(const char *what, unsigned n);
/* A small ext4 on a loop device under the base, for a backing disk that
 * fills: fs_loop_ext4 makes BASE/ext4.img of `mib` MiB, attaches it and
 * mounts it on a fresh directory (l->mnt), asserting each step;
 * fs_loop_release unmounts, detaches and removes the directory, and does
 * nothing for what was not set up (safe from an atexit handler). */
struct fs_loop {
	char dev[128];		/* the attached loop device, "" when none */
	char mnt[300];		/* where its ext4 is mounted, "" when not */
};
void fs_loop_ext4(struct fs_loop *l, unsigned mib);
void fs_loop_release(struct fs_loop *l);
/* After a suite: unmount anything left under the base, stop recorded
 * daemons, remove the directories (kept when $ZC_FS_KEEP is set). */
void fs_cleanup_base(void);

#endif /* ZC_TESTS_FSUTIL_H */

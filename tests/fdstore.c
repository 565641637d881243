/* tests/fdstore.c - restart through systemd's file descriptor store
 * (issue 15 step 2, daemon/fdstore.h) with this suite playing systemd's
 * side of the protocol: a unix datagram $NOTIFY_SOCKET (SO_PASSCRED) that
 * reads READY=1, FDSTORE=1/FDNAME= with the descriptors (SCM_RIGHTS),
 * FDSTOREREMOVE=1 and BARRIER=1, a store that holds the descriptors
 * between two processes, and the next start given LISTEN_FDS,
 * LISTEN_FDNAMES and LISTEN_PID (set in the child, the new process's pid)
 * with the descriptors at 3 and 4.
 *
 *   restart    a tree with checksums in pools of both kinds, a file held
 *              open mid-read and one mid-write, a child reading every file
 *              in a loop and one with its working directory inside: after
 *              each of several restart signals (SIGUSR2) the old process
 *              stores both descriptors (sent by itself) and exits 75 with
 *              the mount still there, the next start adopts them and takes
 *              them out of the store, and every byte, inode number, link
 *              count and mode is as before, the held descriptors go on, the
 *              children saw no error, the store's figures are unchanged;
 *              then SIGTERM unmounts (status 0);
 *   plain      SIGTERM with a store at hand stores nothing and unmounts;
 *   nonotify   the restart signal without $NOTIFY_SOCKET is a plain stop:
 *              unmounted, status 0, the snapshot= written, one line why;
 *   nolistener the same when the manager is gone (sending the state fails);
 *   refusedstop the same when the image is refused (a /.zcache file open);
 *   badstate   a next start given a state memfd it cannot read exits 1
 *              with one line, removes nothing from the store, and the
 *              mount is still there; a start given the stored state
 *              adopts it with every file intact;
 *   lone       a store holding the mount without its state: the next start
 *              says so, unmounts it, drops it and mounts empty;
 *   uring      (when the kernel offers FUSE over io_uring) the restart
 *              case over io_uring: the ring region is stored as a third
 *              descriptor (zcached-ring, given back first on the next
 *              start), the requests held across each gap are served by
 *              the next start; and the refused stop over io_uring.
 * Every mount is unmounted at the end, also on a failed assertion (the
 * atexit handler and the suite's pid files, tests/fsutil.h).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsutil.h"
#include "testutil.h"
#include "treeutil.h"

#define NFILES 18
#define HANDOVER_EXIT 75	/* daemon/fdstore.h ZD_FDSTORE_EXIT */
#define NAME_FUSE "zcached-fuse"
#define NAME_STATE "zcached-state"
#define NAME_RING "zcached-ring"	/* over io_uring */

/* ---- systemd's side -------------------------------------------------------- */

struct mgr {
	int sock;			/* the notify socket */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pid_t pid;			/* the service's main process, 0 when gone */
	int status;			/* its exit status once reaped */
	int ready;			/* READY=1 seen since the last start */
	int fuse, state, ring;		/* the fd store, -1 when empty */
	const char *opts;		/* the daemon's -o (its transport) */
	int uring;			/* it is "uring=on": the ring is stored too */
	unsigned stored, removed;	/* FDSTORE=1 and FDSTOREREMOVE=1 messages */
	pid_t sender;			/* the credentials of the last message */
};

static void mgr_init(struct mgr *m)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int one = 1;

	memset(m, 0, sizeof(*m));
	m->fuse = m->state = m->ring = -1;
	m->opts = "uring=off";
	ck_assert_uint_lt(strlen(fs_base) + 8, sizeof(m->path));
	memcpy(m->path, fs_base, strlen(fs_base));
	memcpy(m->path + strlen(fs_base), "/notify", 8);
	unlink(m->path);
	m->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(m->sock, 0);
	ck_assert_int_eq(setsockopt(m->sock, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", m->path);
	ck_assert_int_eq(bind(m->sock, (struct sockaddr *)&a, sizeof(a)), 0);
}

/* The value of field `key` ("FDNAME=") in a message, copied to out. */
static int field(const char *msg, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);

	for (const char *l = msg; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!strncmp(l, key, kl)) {
			size_t n = strcspn(l + kl, "\n");

			snprintf(out, len, "%.*s", (int)n, l + kl);
			return 1;
		}
	}
	return 0;
}

static int *slot(struct mgr *m, const char *name)
{
	return !strcmp(name, NAME_FUSE) ? &m->fuse : !strcmp(name, NAME_STATE) ? &m->state
	     : !strcmp(name, NAME_RING) ? &m->ring : NULL;
}

/* Act on one message as systemd would. */
static void mgr_handle(struct mgr *m, const char *msg, int *fds, int nfds)
{
	char name[256];
	int *s;

	if (strstr(msg, "READY=1"))
		m->ready = 1;
	if (strstr(msg, "BARRIER=1")) {
		for (int k = 0; k < nfds; k++)
			close(fds[k]);
		return;
	}
	if (strstr(msg, "FDSTOREREMOVE=1")) {
		ck_assert_msg(field(msg, "FDNAME=", name, sizeof(name)), "FDSTOREREMOVE without FDNAME");
		s = slot(m, name);
		ck_assert_msg(s != NULL, "FDSTOREREMOVE of unknown name %s", name);
		if (*s >= 0)
			close(*s);
		*s = -1;
		m->removed++;
	}
	if (strstr(msg, "FDSTORE=1\n") || !strcmp(msg, "FDSTORE=1")) {
		ck_assert_msg(field(msg, "FDNAME=", name, sizeof(name)), "FDSTORE without FDNAME");
		s = slot(m, name);
		ck_assert_msg(s != NULL, "FDSTORE of unknown name %s", name);
		ck_assert_int_eq(nfds, 1);
		if (*s >= 0)
			close(*s);
		*s = fds[0];
		m->stored++;
		return;
	}
	for (int k = 0; k < nfds; k++)
		close(fds[k]);
}

/* Receive and handle messages until done(m) holds or the main process has
 * exited and every message it sent is read (then it is reaped).  Bounded
 * (60 s) only against a hang, not timed. */
static void mgr_run(struct mgr *m, int (*done)(struct mgr *))
{
	for (int t = 0; t < 6000 && !(done && done(m)); t++) {
		struct pollfd p = { .fd = m->sock, .events = POLLIN };
		char buf[4096];
		union {
			char b[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(8 * sizeof(int))];
			struct cmsghdr align;
		} c;
		struct iovec iov = { buf, sizeof(buf) - 1 };
		struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
				    .msg_controllen = sizeof(c.b) };
		int fds[8], nfds = 0;
		ssize_t n;

		if (poll(&p, 1, 10) != 1) {
			int st;

			if (m->pid && waitpid(m->pid, &st, WNOHANG) == m->pid) {
				m->status = st;
				m->pid = 0;
				fs_cur.pid = 0;
			}
			if (!m->pid)
				return;	/* exited, and nothing left to read */
			continue;
		}
		n = recvmsg(m->sock, &h, MSG_CMSG_CLOEXEC);
		ck_assert_int_ge(n, 0);
		buf[n] = 0;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&h); cm; cm = CMSG_NXTHDR(&h, cm)) {
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				nfds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
				memcpy(fds, CMSG_DATA(cm), (size_t)nfds * sizeof(int));
			} else if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS) {
				struct ucred u;

				memcpy(&u, CMSG_DATA(cm), sizeof(u));
				m->sender = u.pid;
			}
		}
		ck_assert_msg(!(h.msg_flags & MSG_CTRUNC), "control data truncated");
		mgr_handle(m, buf, fds, nfds);
	}
	ck_assert_msg(done && done(m), "the service did not get there (see %s.log)", fs_cur.dir);
}

static int is_ready(struct mgr *m)
{
	return m->ready;
}

/* Start zcached on fs_cur.dir as a Type=notify service: NOTIFY_SOCKET
 * (when `notify`), and `nfds` descriptors from 3 on named by `names`
 * (LISTEN_FDNAMES, ':'-separated), LISTEN_PID this very process's.  Waits
 * for READY=1 (or, without `notify`, the mount) unless the process exits
 * first (m->pid is then 0). */
static void mgr_start(struct mgr *m, const char *opts, int notify, int nfds, const int *fds,
		      const char *names)
{
	char log[300], pidfile[300];
	pid_t pid;
	FILE *f;

	snprintf(log, sizeof(log), "%s.log", fs_cur.dir);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		char v[32];

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		unsetenv("NOTIFY_SOCKET");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		unsetenv("LISTEN_PID");
		if (notify)
			setenv("NOTIFY_SOCKET", m->path, 1);
		if (nfds) {
			int high[8];

			/* Above them all first, so that none lands on another. */
			for (int k = 0; k < nfds; k++)
				if ((high[k] = fcntl(fds[k], F_DUPFD, 100)) < 0)
					_exit(126);
			for (int k = 0; k < nfds; k++) {
				if (dup2(high[k], 3 + k) != 3 + k)
					_exit(126);
				close(high[k]);
			}
			snprintf(v, sizeof(v), "%d", nfds);
			setenv("LISTEN_FDS", v, 1);
			setenv("LISTEN_FDNAMES", names, 1);
			snprintf(v, sizeof(v), "%d", (int)getpid());
			setenv("LISTEN_PID", v, 1);
		}
		execl(ZCACHED, "zcached", "-f", "-o", opts, fs_cur.dir, (char *)NULL);
		_exit(127);
	}
	m->pid = pid;
	m->ready = 0;
	fs_cur.pid = pid;
	/* The suite's record, so a test killed midway leaves nothing. */
	snprintf(pidfile, sizeof(pidfile), "%s.pid", fs_cur.dir);
	f = fopen(pidfile, "w");
	if (f) {
		fprintf(f, "%d\n%s\n", (int)pid, fs_cur.dir);
		fclose(f);
	}
	if (notify)
		mgr_run(m, is_ready);
	else
		for (int t = 0; t < 6000 && !fs_is_mounted(fs_cur.dir); t++)
			usleep(10000);
}

/* After a failed assertion too: stop the daemon and unmount; a mount
 * handed over (no daemon) is unmounted lazily. */
static void at_exit(void)
{
	char cmd[300];

	fs_unmount_now();
	if (fs_cur.dir[0] && fs_is_mounted(fs_cur.dir)) {
		snprintf(cmd, sizeof(cmd), "fusermount3 -u -z '%s' 2>/dev/null", fs_cur.dir);
		fs_run(cmd);
	}
}

/* A fresh mount point under the base (fs_cur.dir). */
static void new_dir(void)
{
	static int registered;

	snprintf(fs_cur.dir, sizeof(fs_cur.dir), "%s/mnt.XXXXXX", fs_base);
	ck_assert_ptr_nonnull(mkdtemp(fs_cur.dir));
	if (!registered) {
		atexit(at_exit);
		registered = 1;
	}
}

/* ---- the tree ----------------------------------------------------------------- */

static const char adopted[] = "restart: adopted the mount from the fd store";
static const char handed[] = "handed to the fd store";
static const char refused[] = "restart through the fd store refused";

/* The figures that must not move across a restart. */
static const char *const fig_names[] = {
	"pools", "pages", "same_filled_pages", "orig_data_bytes", "compr_data_bytes",
	"mem_used_max_bytes",
};
#define NFIG (sizeof(fig_names) / sizeof(fig_names[0]))

static void figures(uint64_t *v)
{
	for (unsigned k = 0; k < NFIG; k++)
		v[k] = fs_stat_value(fig_names[k]);
}

/* A child that reads every file of the tree in a loop until `stop` can be
 * read from; exits 0 if every read matched, else 1. */
static pid_t reader(const struct fs_tree *t, int stop)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid)
		return pid;
	for (;;) {
		struct pollfd p = { .fd = stop, .events = POLLIN };

		for (unsigned k = 0; k < NFILES; k++) {
			char path[1024];
			unsigned char *b = malloc((size_t)t->e[k].size + 1);
			ssize_t n;
			int fd;

			fs_path(path, sizeof(path), t->e[k].rel);
			fd = open(path, O_RDONLY);
			if (fd < 0)
				_exit(1);
			n = read(fd, b, (size_t)t->e[k].size + 1);
			close(fd);
			if (n != t->e[k].size || fs_fnv(b, (size_t)n) != t->e[k].sum)
				_exit(1);
			free(b);
		}
		if (poll(&p, 1, 0) == 1)
			_exit(0);
	}
}

/* A child whose cwd is keep/sub: on a byte from `go` it opens f1 by its
 * relative name and checks its bytes and getcwd; exits 0 when all held. */
static pid_t cwd_child(const struct fs_tree_entry *f1, int go)
{
	pid_t pid = fork();
	char p[1024];

	ck_assert_int_ge(pid, 0);
	if (pid)
		return pid;
	fs_path(p, sizeof(p), "keep/sub");
	if (chdir(p) < 0)
		_exit(2);
	for (;;) {
		char c, cwd[1024];
		unsigned char *b;
		ssize_t n;
		int fd;

		if (read(go, &c, 1) != 1)
			_exit(3);
		if (c == 'q')
			_exit(0);
		if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, p))
			_exit(4);
		fd = open(strrchr(f1->rel, '/') + 1, O_RDONLY);
		if (fd < 0)
			_exit(5);
		b = malloc((size_t)f1->size + 1);
		n = read(fd, b, (size_t)f1->size + 1);
		close(fd);
		if (n != f1->size || fs_fnv(b, (size_t)n) != f1->sum)
			_exit(6);
		free(b);
	}
}

/* The restart signal, and systemd's side until the old process is gone:
 * both descriptors stored, sent by that process, status 75, the mount
 * still there. */
static void restart_out(struct mgr *m)
{
	pid_t old = m->pid;
	unsigned stored = m->stored;

	ck_assert_int_eq(kill(old, SIGUSR2), 0);
	mgr_run(m, NULL);
	ck_assert_msg(WIFEXITED(m->status) && WEXITSTATUS(m->status) == HANDOVER_EXIT,
		      "status %d, see %s.log", m->status, fs_cur.dir);
	ck_assert_uint_eq(m->stored, stored + (m->uring ? 3 : 2));
	ck_assert_int_eq(m->sender, old);
	ck_assert_int_ge(m->fuse, 0);
	ck_assert_int_ge(m->state, 0);
	if (m->uring)
		ck_assert_int_ge(m->ring, 0);
	ck_assert(fs_is_mounted(fs_cur.dir));
}

/* The next start, given the store: adopted, and the store emptied by the
 * new process. */
static void restart_in(struct mgr *m, unsigned nth)
{
	unsigned removed = m->removed;

	int fds[3] = { m->fuse, m->state, m->ring };

	/* The ring first over io_uring: its number differs from the old
	 * process's, as systemd's order may. */
	if (m->uring) {
		int rfds[3] = { m->ring, m->fuse, m->state };

		mgr_start(m, m->opts, 1, 3, rfds, NAME_RING ":" NAME_FUSE ":" NAME_STATE);
	} else {
		mgr_start(m, m->opts, 1, 2, fds, NAME_FUSE ":" NAME_STATE);
	}
	ck_assert_msg(m->pid, "the next start exited with status %d, see %s.log", m->status,
		      fs_cur.dir);
	ck_assert_uint_eq(fs_log_count(adopted), nth);
	ck_assert_uint_eq(m->removed, removed + (m->uring ? 3 : 2));
	ck_assert_int_eq(m->fuse, -1);
	ck_assert_int_eq(m->state, -1);
	ck_assert_int_eq(m->ring, -1);
}

/* SIGTERM: unmounted, status 0, nothing stored. */
static void plain_stop(struct mgr *m)
{
	unsigned stored = m->stored;

	ck_assert_int_eq(kill(m->pid, SIGTERM), 0);
	mgr_run(m, NULL);
	ck_assert_msg(WIFEXITED(m->status) && WEXITSTATUS(m->status) == 0, "status %d", m->status);
	ck_assert_uint_eq(m->stored, stored);
	ck_assert(!fs_is_mounted(fs_cur.dir));
}

/* The restart case on a transport ("uring=off" or "uring=on"). */
static void restart_case(const char *opts)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));
	uint64_t before[NFIG], after[NFIG];
	const struct fs_tree_entry *big = NULL;
	int stop[2], go[2], rfd, wfd;
	unsigned char *want, *got, *w;
	size_t half, len, wlen = 9 * PAGE + 123;
	struct mgr m;
	pid_t rd, cw;
	char p[1024];

	new_dir();
	mgr_init(&m);
	m.opts = opts;
	m.uring = !strcmp(opts, "uring=on");
	mgr_start(&m, m.opts, 1, 0, NULL, NULL);
	ck_assert(fs_is_mounted(fs_cur.dir));
	fs_tree_build_mixed(t, NFILES, 16, 48, "zcached fd store test ", &rs);
	figures(before);
	for (unsigned k = 0; k < NFILES && !big; k++)
		if (t->e[k].size > 32 * PAGE)
			big = &t->e[k];
	ck_assert_ptr_nonnull(big);
	/* Held open (O_CLOEXEC: not inherited by the daemons this process
	 * starts): one mid-read, one mid-write. */
	fs_path(p, sizeof(p), big->rel);
	rfd = open(p, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(rfd, 0);
	want = (unsigned char *)fs_read_file(big->rel, &len);
	half = (size_t)big->size / 2 + 17;
	got = malloc((size_t)big->size);
	ck_assert_int_eq(read(rfd, got, half), (ssize_t)half);
	w = malloc(wlen);
	for (size_t i = 0; i < wlen; i++)
		w[i] = (unsigned char)(i * 7 + 3);
	fs_path(p, sizeof(p), "written");
	wfd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(wfd, 0);
	ck_assert_int_eq(write(wfd, w, wlen / 2), (ssize_t)(wlen / 2));
	ck_assert(pipe2(stop, O_CLOEXEC) == 0 && pipe2(go, O_CLOEXEC) == 0);
	rd = reader(t, stop[0]);
	cw = cwd_child(&t->e[1], go[0]);
	for (unsigned r = 1; r <= 3; r++) {
		restart_out(&m);
		restart_in(&m, r);
		ck_assert_int_eq(write(go[1], "c", 1), 1);
		fs_tree_verify(t, 0);
	}
	ck_assert_uint_eq(fs_log_count(handed), 3);
	ck_assert_uint_eq(fs_log_count(refused), 0);
	/* The held descriptors carry on where they were. */
	ck_assert_int_eq(read(rfd, got + half, (size_t)big->size), (ssize_t)((size_t)big->size - half));
	ck_assert_int_eq(pread(rfd, got, half, 0), (ssize_t)half);
	ck_assert(!memcmp(got, want, (size_t)big->size));
	ck_assert_int_eq(write(wfd, w + wlen / 2, wlen - wlen / 2), (ssize_t)(wlen - wlen / 2));
	ck_assert_int_eq(close(wfd), 0);
	close(rfd);
	{
		unsigned char *b = (unsigned char *)fs_read_file("written", &len);

		ck_assert_uint_eq(len, wlen);
		ck_assert(!memcmp(b, w, wlen));
		free(b);
	}
	/* The children saw no error. */
	ck_assert_int_eq(write(go[1], "q", 1), 1);
	ck_assert_int_eq(fs_wait(cw, 60000), 0);
	ck_assert_int_eq(write(stop[1], "x", 1), 1);
	ck_assert_int_eq(fs_wait(rd, 60000), 0);
	/* The store's figures (measured before the written file existed). */
	fs_path(p, sizeof(p), "written");
	ck_assert_int_eq(unlink(p), 0);
	fs_wait_closed("default");
	figures(after);
	for (unsigned k = 0; k < NFIG; k++) {
		if (!strcmp(fig_names[k], "mem_used_max_bytes"))
			ck_assert_uint_ge(after[k], before[k]);
		else
			ck_assert_msg(after[k] == before[k], "%s: %llu, was %llu", fig_names[k],
				      (unsigned long long)after[k], (unsigned long long)before[k]);
	}
	if (m.uring) {
		/* Requests crossed each gap in the ring's buffers. */
		ck_assert_uint_eq(fs_log_count("requests wait in their ring buffers"), 3);
		ck_assert_uint_eq(fs_log_count("transport: io_uring, adopted"), 3);
		ck_assert_uint_gt(fs_stat_value("uring_held"), 0);
		ck_assert_uint_eq(fs_stat_value("uring_revived"), fs_stat_value("uring_held"));
		ck_assert_uint_gt(fs_stat_value("uring_queues"), 0);
	}
	plain_stop(&m);
	rmdir(fs_cur.dir);
	close(m.sock);
	free(want);
	free(got);
	free(w);
	free(t);
}

START_TEST(test_restart)
{
	restart_case("uring=off");
}
END_TEST

START_TEST(test_plain)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));
	struct mgr m;

	new_dir();
	mgr_init(&m);
	mgr_start(&m, "uring=off", 1, 0, NULL, NULL);
	fs_tree_build_mixed(t, NFILES, 16, 48, "zcached fd store test ", &rs);
	plain_stop(&m);
	ck_assert_uint_eq(m.stored, 0);
	ck_assert_int_eq(m.fuse, -1);
	ck_assert_int_eq(m.state, -1);
	rmdir(fs_cur.dir);
	close(m.sock);
	free(t);
}
END_TEST

START_TEST(test_nonotify)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));
	char snap[300], opts[400];
	struct mgr m;
	int st;

	snprintf(snap, sizeof(snap), "%s/nonotify.snap", fs_base);
	snprintf(opts, sizeof(opts), "uring=off,snapshot=%s", snap);
	new_dir();
	mgr_init(&m);
	mgr_start(&m, opts, 0, 0, NULL, NULL);
	ck_assert(fs_is_mounted(fs_cur.dir));
	fs_tree_build_mixed(t, NFILES, 16, 48, "zcached fd store test ", &rs);
	ck_assert_int_eq(kill(m.pid, SIGUSR2), 0);
	st = fs_wait(m.pid, 60000);
	fs_cur.pid = m.pid = 0;
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
	ck_assert(!fs_is_mounted(fs_cur.dir));
	ck_assert_uint_eq(fs_log_count("$NOTIFY_SOCKET is not set"), 1);
	ck_assert_uint_eq(fs_log_count("wrote snapshot"), 1);
	/* Nothing lost: the snapshot brings every file back. */
	mgr_start(&m, opts, 0, 0, NULL, NULL);
	ck_assert(fs_is_mounted(fs_cur.dir));
	fs_tree_verify(t, 0);
	fs_finish();
	unlink(snap);
	close(m.sock);
	free(t);
}
END_TEST

/* The refused-stop case on a transport ("uring=off" or "uring=on"). */
static void refusedstop_case(const char *opts)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));
	struct mgr m;
	char p[1024];
	int fd;

	new_dir();
	mgr_init(&m);
	mgr_start(&m, opts, 1, 0, NULL, NULL);
	fs_tree_build_mixed(t, NFILES, 16, 48, "zcached fd store test ", &rs);
	/* A /.zcache file open refuses the image, as it refuses a reload. */
	fs_path(p, sizeof(p), ".zcache/stats");
	fd = open(p, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(kill(m.pid, SIGUSR2), 0);
	mgr_run(&m, NULL);
	close(fd);
	ck_assert_msg(WIFEXITED(m.status) && WEXITSTATUS(m.status) == 0, "status %d", m.status);
	ck_assert_uint_eq(m.stored, 0);
	ck_assert(!fs_is_mounted(fs_cur.dir));
	ck_assert_uint_eq(fs_log_count("refused, stopping as SIGTERM does (unmounting): a /.zcache file is open"), 1);
	rmdir(fs_cur.dir);
	close(m.sock);
	free(t);
}

START_TEST(test_refusedstop)
{
	refusedstop_case("uring=off");
}
END_TEST

START_TEST(test_nolistener)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));
	struct mgr m;
	int st;

	new_dir();
	mgr_init(&m);
	mgr_start(&m, "uring=off", 1, 0, NULL, NULL);
	fs_tree_build_mixed(t, NFILES, 16, 48, "zcached fd store test ", &rs);
	/* The manager is gone: the daemon's FDSTORE=1 cannot be sent. */
	close(m.sock);
	unlink(m.path);
	ck_assert_int_eq(kill(m.pid, SIGUSR2), 0);
	st = fs_wait(m.pid, 60000);
	fs_cur.pid = m.pid = 0;
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
	ck_assert(!fs_is_mounted(fs_cur.dir));
	ck_assert_uint_eq(fs_log_count("refused, stopping as SIGTERM does (unmounting): storing the state"), 1);
	rmdir(fs_cur.dir);
	free(t);
}
END_TEST

/* A memfd holding `len` bytes that are no reload image (its magic, then
 * nonsense). */
static int bad_state(size_t len)
{
	int fd = memfd_create("bad-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	char *b = malloc(len);

	ck_assert_int_ge(fd, 0);
	memset(b, 'x', len);
	memcpy(b, "ZCRELOAD", 8);
	ck_assert_int_eq(write(fd, b, len), (ssize_t)len);
	free(b);
	return fd;
}

START_TEST(test_badstate)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));
	struct mgr m;
	int bad;

	new_dir();
	mgr_init(&m);
	mgr_start(&m, "uring=off", 1, 0, NULL, NULL);
	fs_tree_build_mixed(t, NFILES, 16, 48, "zcached fd store test ", &rs);
	restart_out(&m);
	/* A start that cannot read the state: one line, status 1, the
	 * store left as it was, the mount still there. */
	bad = bad_state(4096);
	{
		int fds[2] = { m.fuse, bad };

		mgr_start(&m, "uring=off", 1, 2, fds, NAME_FUSE ":" NAME_STATE);
	}
	close(bad);
	ck_assert_int_eq(m.pid, 0);
	ck_assert_msg(WIFEXITED(m.status) && WEXITSTATUS(m.status) == 1, "status %d", m.status);
	ck_assert_uint_eq(fs_log_count("restart: state refused, exiting"), 1);
	ck_assert_uint_eq(m.removed, 0);
	ck_assert_int_ge(m.fuse, 0);
	ck_assert_int_ge(m.state, 0);
	ck_assert(fs_is_mounted(fs_cur.dir));
	/* The stored state is whole: the next start serves every file. */
	restart_in(&m, 1);
	fs_tree_verify(t, 0);
	plain_stop(&m);
	rmdir(fs_cur.dir);
	close(m.sock);
	free(t);
}
END_TEST

START_TEST(test_lone)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));
	struct mgr m;

	new_dir();
	mgr_init(&m);
	mgr_start(&m, "uring=off", 1, 0, NULL, NULL);
	fs_tree_build_mixed(t, NFILES, 16, 48, "zcached fd store test ", &rs);
	restart_out(&m);
	/* The state gone from the store (as if its FDSTORE had failed, or
	 * the mount alone were left): the start drops the mount and mounts
	 * empty. */
	close(m.state);
	m.state = -1;
	mgr_start(&m, "uring=off", 1, 1, &m.fuse, NAME_FUSE);
	ck_assert_msg(m.pid, "status %d, see %s.log", m.status, fs_cur.dir);
	ck_assert_uint_eq(fs_log_count("restart: the fd store holds"), 1);
	ck_assert_uint_eq(fs_log_count(adopted), 0);
	ck_assert(fs_is_mounted(fs_cur.dir));
	ck_assert(!fs_daemon_has("keep/f0"));
	ck_assert_int_eq(m.fuse, -1);	/* removed from the store */
	fs_write_file("new", "fresh mount\n", 12);
	plain_stop(&m);
	rmdir(fs_cur.dir);
	close(m.sock);
	free(t);
}
END_TEST

/* Whether the kernel offers FUSE over io_uring to new mounts. */
static int uring_offered(void)
{
	char c = 0;
	FILE *f = fopen("/sys/module/fuse/parameters/enable_uring", "r");

	if (f) {
		if (fread(&c, 1, 1, f) != 1)
			c = 0;
		fclose(f);
	}
	return c == 'Y';
}

/* Over io_uring: the restart case (the ring region stored as a third
 * descriptor, held requests served by the next start), and a restart
 * refused after the hold: a plain stop. */
START_TEST(test_uring)
{
	if (!uring_offered()) {
		fprintf(stderr, "fdstore: enable_uring is not Y, the io_uring case is not tested\n");
		return;
	}
	restart_case("uring=on");
	refusedstop_case("uring=on");
	ck_assert_uint_eq(fs_log_count("requests wait in their ring buffers"), 1);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("fdstore");
	TCase *tc = tcase_create("fdstore");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_restart);
	tcase_add_test(tc, test_plain);
	tcase_add_test(tc, test_nonotify);
	tcase_add_test(tc, test_nolistener);
	tcase_add_test(tc, test_refusedstop);
	tcase_add_test(tc, test_badstate);
	tcase_add_test(tc, test_lone);
	tcase_add_test(tc, test_uring);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fs_suite_main(make_suite());
}

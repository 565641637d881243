/* mcutil.c - memcached servers of a test's own (see mcutil.h).  Linked into
 * every suite and into bench/spill; only those that start servers use it. */
#include "mcutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The servers this process started (for the atexit handler) and the file
 * every process of the suite appends "pid port" lines to (set by
 * mc_track_file before the tests fork, so the children inherit it). */
#define MC_TRACK 64
static pid_t mc_live[MC_TRACK];
static int mc_atexit_done;
static char mc_pidfile[256];

static void mc_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void mc_track(pid_t pid, int port)
{
	for (int i = 0; i < MC_TRACK; i++) {
		if (!mc_live[i]) {
			mc_live[i] = pid;
			break;
		}
	}
	if (mc_pidfile[0]) {
		FILE *f = fopen(mc_pidfile, "a");

		if (f) {
			fprintf(f, "%d %d\n", (int)pid, port);
			fclose(f);
		}
	}
}

static void mc_untrack(pid_t pid)
{
	for (int i = 0; i < MC_TRACK; i++)
		if (mc_live[i] == pid)
			mc_live[i] = 0;
}

static void mc_atexit(void)
{
	for (int i = 0; i < MC_TRACK; i++) {
		if (mc_live[i] > 0) {
			kill(mc_live[i], SIGKILL);
			waitpid(mc_live[i], NULL, 0);
			mc_live[i] = 0;
		}
	}
}

int mc_free_port(void)
{
	for (int tries = 0; tries < 100; tries++) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t alen = sizeof(a);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int port = -1;

		if (fd < 0)
			return -1;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		    getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
			port = ntohs(a.sin_port);
		close(fd);
		if (port > 0 && port != 11211)
			return port;
	}
	return -1;
}

static int mc_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { 10, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int mc_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* A buffered reader over one connection. */
struct mc_rd {
	int fd;
	char buf[65536];
	size_t pos, end;
};

static int mc_fill(struct mc_rd *r)
{
	ssize_t n;

	if (r->pos == r->end)
		r->pos = r->end = 0;
	n = recv(r->fd, r->buf + r->end, sizeof(r->buf) - r->end, 0);
	if (n <= 0)
		return -1;
	r->end += (size_t)n;
	return 0;
}

/* One line without its "\r\n" into line (cap bytes). */
static int mc_line(struct mc_rd *r, char *line, size_t cap)
{
	size_t n = 0;

	for (;;) {
		while (r->pos < r->end) {
			char c = r->buf[r->pos++];

			if (c == '\n') {
				if (n && line[n - 1] == '\r')
					n--;
				line[n] = '\0';
				return 0;
			}
			if (n + 1 >= cap)
				return -1;
			line[n++] = c;
		}
		if (mc_fill(r))
			return -1;
	}
}

static int mc_bytes(struct mc_rd *r, void *out, size_t len)
{
	char *o = out;

	while (len) {
		size_t k;

		if (r->pos == r->end && mc_fill(r))
			return -1;
		k = r->end - r->pos < len ? r->end - r->pos : len;
		memcpy(o, r->buf + r->pos, k);
		o += k;
		r->pos += k;
		len -= k;
	}
	return 0;
}

/* Send a one-line command and read one reply line. */
static int mc_simple(int port, const char *cmd, char *reply, size_t cap)
{
	struct mc_rd *r = calloc(1, sizeof(*r));
	int ret = -1;

	if (!r)
		return -1;
	r->fd = mc_connect(port);
	if (r->fd >= 0 && !mc_send(r->fd, cmd, strlen(cmd)) && !mc_line(r, reply, cap))
		ret = 0;
	if (r->fd >= 0)
		close(r->fd);
	free(r);
	return ret;
}

int mc_start_one(struct mc_cluster *c, int i)
{
	for (int tries = 0; tries < 20; tries++) {
		char port[16], mem[16];
		pid_t pid;
		int ready = 0;

		if (!c->port[i] || tries > 0)
			c->port[i] = mc_free_port();
		if (c->port[i] <= 0)
			return -1;
		snprintf(port, sizeof(port), "%d", c->port[i]);
		snprintf(mem, sizeof(mem), "%d", c->mem_mb);
		pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			int fd = open("/dev/null", O_RDWR);

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (fd >= 0) {
				dup2(fd, 0);
				dup2(fd, 1);
				dup2(fd, 2);
			}
			/* As root memcached insists on a user to become. */
			execlp("memcached", "memcached", "-l", "127.0.0.1", "-p", port, "-U", "0",
			       "-m", mem, "-t", "1", "-u", "nobody", (char *)NULL);
			_exit(127);
		}
		c->pid[i] = pid;
		mc_track(pid, c->port[i]);
		if (!mc_atexit_done) {
			atexit(mc_atexit);
			mc_atexit_done = 1;
		}
		for (int t = 0; t < 1000; t++) {	/* up to ~10 s */
			char reply[128];
			int st;

			if (waitpid(pid, &st, WNOHANG) == pid) {
				mc_untrack(pid);
				c->pid[i] = 0;
				if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
					fprintf(stderr, "mcutil: cannot run memcached\n");
					return -1;
				}
				break;	/* most likely the port was taken: another one */
			}
			if (mc_simple(c->port[i], "version\r\n", reply, sizeof(reply)) == 0 &&
			    !strncmp(reply, "VERSION ", 8)) {
				ready = 1;
				break;
			}
			mc_sleep_ms(10);
		}
		if (ready)
			return 0;
		if (c->pid[i]) {
			mc_signal(c, i, SIGKILL);
		}
	}
	fprintf(stderr, "mcutil: memcached did not start\n");
	return -1;
}

int mc_start(struct mc_cluster *c, int n, int mem_mb)
{
	memset(c, 0, sizeof(*c));
	if (n < 1 || n > MC_MAX)
		return -1;
	c->n = n;
	c->mem_mb = mem_mb > 0 ? mem_mb : 64;
	for (int i = 0; i < n; i++)
		if (mc_start_one(c, i))
			return -1;
	return 0;
}

void mc_signal(struct mc_cluster *c, int i, int sig)
{
	if (!c->pid[i])
		return;
	kill(c->pid[i], sig);
	if (sig == SIGKILL) {
		waitpid(c->pid[i], NULL, 0);
		mc_untrack(c->pid[i]);
		c->pid[i] = 0;
	}
}

void mc_stop_all(struct mc_cluster *c)
{
	for (int i = 0; i < c->n; i++)
		mc_signal(c, i, SIGKILL);
}

void mc_server_list(const struct mc_cluster *c, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < c->n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s127.0.0.1:%d", i ? "+" : "",
					c->port[i]);
}

int mc_get(int port, const char *key, void **val, size_t *len)
{
	struct mc_rd *r = calloc(1, sizeof(*r));
	char line[512];
	int ret = -1;

	*val = NULL;
	*len = 0;
	if (!r)
		return -1;
	r->fd = mc_connect(port);
	snprintf(line, sizeof(line), "get %s\r\n", key);
	if (r->fd < 0 || mc_send(r->fd, line, strlen(line)) || mc_line(r, line, sizeof(line)))
		goto out;
	if (!strcmp(line, "END")) {
		ret = 0;
	} else if (!strncmp(line, "VALUE ", 6)) {
		unsigned long long n;
		char crlf[2];
		char *v;

		if (sscanf(line, "VALUE %*s %*u %llu", &n) != 1)
			goto out;
		v = malloc(n ? n : 1);
		if (!v)
			goto out;
		if (mc_bytes(r, v, n) || mc_bytes(r, crlf, 2) || mc_line(r, line, sizeof(line)) ||
		    strcmp(line, "END")) {
			free(v);
			goto out;
		}
		*val = v;
		*len = n;
		ret = 1;
	}
out:
	if (r->fd >= 0)
		close(r->fd);
	free(r);
	return ret;
}

int mc_set(int port, const char *key, const void *val, size_t len, unsigned ttl)
{
	char line[512];
	int fd = mc_connect(port), ret = -1;
	struct mc_rd *r = calloc(1, sizeof(*r));

	if (fd < 0 || !r)
		goto out;
	r->fd = fd;
	snprintf(line, sizeof(line), "set %s 0 %u %zu\r\n", key, ttl, len);
	if (mc_send(fd, line, strlen(line)) || mc_send(fd, val, len) || mc_send(fd, "\r\n", 2) ||
	    mc_line(r, line, sizeof(line)))
		goto out;
	ret = strcmp(line, "STORED") ? -1 : 0;
out:
	if (fd >= 0)
		close(fd);
	free(r);
	return ret;
}

int mc_delete(int port, const char *key)
{
	char cmd[512], reply[128];

	snprintf(cmd, sizeof(cmd), "delete %s\r\n", key);
	if (mc_simple(port, cmd, reply, sizeof(reply)))
		return -1;
	if (!strcmp(reply, "DELETED"))
		return 1;
	return strcmp(reply, "NOT_FOUND") ? -1 : 0;
}

long mc_ttl(int port, const char *key)
{
	char cmd[512], reply[128];
	long t;

	snprintf(cmd, sizeof(cmd), "mg %s t\r\n", key);
	if (mc_simple(port, cmd, reply, sizeof(reply)))
		return -1;
	if (!strcmp(reply, "EN"))
		return -3;
	if (sscanf(reply, "HD t%ld", &t) != 1)
		return -1;
	return t == -1 ? -2 : t;
}

long long mc_stat(int port, const char *name)
{
	struct mc_rd *r = calloc(1, sizeof(*r));
	char line[512];
	long long v = -1;
	size_t nlen = strlen(name);

	if (!r)
		return -1;
	r->fd = mc_connect(port);
	if (r->fd >= 0 && !mc_send(r->fd, "stats\r\n", 7)) {
		while (!mc_line(r, line, sizeof(line)) && strcmp(line, "END")) {
			if (!strncmp(line, "STAT ", 5) && !strncmp(line + 5, name, nlen) &&
			    line[5 + nlen] == ' ')
				v = atoll(line + 6 + nlen);
		}
	}
	if (r->fd >= 0)
		close(r->fd);
	free(r);
	return v;
}

int mc_find(const struct mc_cluster *c, const char *key)
{
	int found = -1;

	for (int i = 0; i < c->n; i++) {
		if (!c->pid[i])
			continue;
		if (mc_ttl(c->port[i], key) != -3) {
			if (found >= 0)
				return -2;
			found = i;
		}
	}
	return found;
}

void mc_track_file(const char *path)
{
	snprintf(mc_pidfile, sizeof(mc_pidfile), "%s", path);
}

/* Kill what a test killed by its timeout left behind: pids from the file
 * whose command line is still memcached on the recorded port. */
void mc_cleanup_file(void)
{
	FILE *f = mc_pidfile[0] ? fopen(mc_pidfile, "r") : NULL;
	int pid, port;

	if (!f)
		return;
	while (fscanf(f, "%d %d", &pid, &port) == 2) {
		char path[64], cmd[512] = "", want[32];
		FILE *cf;
		size_t n;

		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		cf = fopen(path, "r");
		if (!cf)
			continue;
		n = fread(cmd, 1, sizeof(cmd) - 1, cf);
		fclose(cf);
		for (size_t i = 0; i < n; i++)
			if (cmd[i] == '\0')
				cmd[i] = ' ';
		cmd[n] = '\0';
		snprintf(want, sizeof(want), " -p %d ", port);
		if (!strncmp(cmd, "memcached ", 10) && strstr(cmd, want))
			kill(pid, SIGKILL);
	}
	fclose(f);
	unlink(mc_pidfile);
	mc_pidfile[0] = '\0';
}

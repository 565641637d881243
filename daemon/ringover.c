/* ringover.c - the poker and the early mapping of the io_uring hand-over
 * (see ringover.h for the design).
 */
#include "daemon/ringover.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/fdstore.h"
#include "daemon/reload.h"
#include "fuse/uring.h"

extern char **environ;

/* The poker's descriptor of the mount's root. */
#define ZD_POKE_ROOT_FD 3

struct zd_poke_thread {
	pthread_t tid;
	unsigned cpu, n;
};

static void *zd_poke_one(void *arg)
{
	struct zd_poke_thread *t = arg;
	char name[96];
	struct stat st;

	snprintf(name, sizeof(name), ".zcached-hold-%ld-%u-%u", (long)getpid(), t->cpu, t->n);
	/* ENOENT is the answer; any other is as good: the request was made. */
	(void)fstatat(ZD_POKE_ROOT_FD, name, &st, AT_SYMLINK_NOFOLLOW);
	return NULL;
}

#ifdef ZC_DEBUG
/* ZC_FAULT_POKE_OFF=1 (debug builds): the poker makes no request, so a
 * hold on an idle mount never completes (tests/reload.c: the hold's
 * timeout refuses the reload and the held requests are served in place). */
static int zd_poke_off(void)
{
	const char *s = getenv("ZC_FAULT_POKE_OFF");

	return s && *s == '1';
}
#else
static int zd_poke_off(void)
{
	return 0;
}
#endif

#ifdef ZC_DEBUG
/* ZC_FAULT_RING_TAKEN=N (debug builds): the first N tries to map a ring
 * handed over find its address taken (tests/reload.c: the new process
 * executes itself again, or gives up). */
static int zd_ring_taken(int tries)
{
	const char *s = getenv("ZC_FAULT_RING_TAKEN");

	return s && tries < atoi(s);
}
#else
static int zd_ring_taken(int tries)
{
	(void)tries;
	return 0;
}
#endif

int zd_ringover_poke_main(void)
{
	const char *s = getenv(ZD_RINGOVER_POKE_ENV);
	struct zd_poke_thread *t;
	unsigned depth, cpu, k, n = 0;
	cpu_set_t online;
	pid_t pid;

	if (!s)
		return -1;
	depth = (unsigned)strtoul(s, NULL, 10);
	if (depth < 1 || depth > ZFS_URING_MAX_DEPTH)
		return 2;
	/* The spawner reaps this process at once; the grandchild is nobody's
	 * to wait for, and ends when its lookups are answered. */
	pid = fork();
	if (pid != 0)
		return pid < 0 ? 1 : 0;
	unsetenv(ZD_RINGOVER_POKE_ENV);
	if (zd_poke_off())
		_exit(0);
	zfs_uring_online(&online);
	t = calloc((size_t)CPU_COUNT(&online) * depth, sizeof(*t));
	if (!t)
		_exit(1);
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		pthread_attr_t attr;
		cpu_set_t one;

		if (!CPU_ISSET(cpu, &online))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 64 * 1024);
		/* Pinned before it runs: its request goes to cpu's queue.  A
		 * CPU this process may not use fails here (the hold then times
		 * out and the hand-over is refused). */
		if (pthread_attr_setaffinity_np(&attr, sizeof(one), &one) == 0) {
			for (k = 0; k < depth; k++) {
				t[n].cpu = cpu;
				t[n].n = k;
				if (pthread_create(&t[n].tid, &attr, zd_poke_one, &t[n]) == 0)
					n++;
			}
		}
		pthread_attr_destroy(&attr);
	}
	for (k = 0; k < n; k++)
		pthread_join(t[k].tid, NULL);
	free(t);
	_exit(0);
}

int zd_ringover_poke(void *arg)
{
	const struct zd_poke *p = arg;
	posix_spawn_file_actions_t fa;
	char env[64], *argv[2] = { (char *)p->exe, NULL };
	char **envp;
	size_t n = 0, k = 0;
	int ret, status;
	pid_t pid;

	if (p->root < 0)
		return -EBADF;
	while (environ[n])
		n++;
	envp = calloc(n + 2, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	snprintf(env, sizeof(env), "%s=%u", ZD_RINGOVER_POKE_ENV, p->depth);
	for (size_t j = 0; j < n; j++)
		if (strncmp(environ[j], ZD_RELOAD_ENV "=", sizeof(ZD_RELOAD_ENV)))
			envp[k++] = environ[j];
	envp[k++] = env;
	envp[k] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p->root, ZD_POKE_ROOT_FD);
	ret = posix_spawn(&pid, p->exe, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
	if (ret != 0)
		return -ret;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

/* The ring memfd handed over, or -1: ZCACHED_RELOAD_FDS's third number,
 * or "zcached-ring" in LISTEN_FDNAMES (for this pid). */
static int zd_ringover_find(void)
{
	const char *s = getenv(ZD_RELOAD_ENV), *names, *pid;
	int f, st, ring, n = 0, k = 0;

	if (s)
		return sscanf(s, "%d,%d,%d%n", &f, &st, &ring, &n) == 3 && !s[n] && ring >= 0 ? ring
										     : -1;
	pid = getenv("LISTEN_PID");
	names = getenv("LISTEN_FDNAMES");
	if (!pid || !names || strtol(pid, NULL, 10) != (long)getpid())
		return -1;
	for (const char *p = names; *p; k++) {
		size_t len = strcspn(p, ":");

		if (len == strlen(ZD_FDSTORE_RING) && !strncmp(p, ZD_FDSTORE_RING, len))
			return 3 + k;	/* SD_LISTEN_FDS_START */
		p += len;
		if (*p == ':')
			p++;
	}
	return -1;
}

int zd_ringover_early(char **argv, struct zfs_uring_region **reg)
{
	const char *s = getenv(ZD_RINGOVER_TRIES_ENV);
	int fd = zd_ringover_find(), tries = s ? atoi(s) : 0;
	char val[16];

	*reg = NULL;
	if (fd < 0) {
		unsetenv(ZD_RINGOVER_TRIES_ENV);
		return 0;
	}
	if (zd_ring_taken(tries)) {
		errno = EEXIST;
		*reg = NULL;
	} else {
		*reg = zfs_uring_region_adopt(fd);
	}
	if (*reg) {
		unsetenv(ZD_RINGOVER_TRIES_ENV);
		return 0;
	}
	if (errno != EEXIST) {
		fprintf(stderr, "zcached: cannot map the io_uring ring handed over (descriptor %d): %s;"
			" exiting (the connection aborts)\n", fd,
			errno == EINVAL ? "not a ring table this binary reads" : strerror(errno));
		return -1;
	}
	if (tries + 1 >= ZD_RINGOVER_TRIES) {
		fprintf(stderr, "zcached: the address of the io_uring ring handed over is taken in this "
			"process (%d tries); exiting (the connection aborts)\n", tries + 1);
		return -1;
	}
	/* Another layout of the address space may leave it free. */
	fprintf(stderr, "zcached: the address of the io_uring ring handed over is taken: executing "
		"again (try %d of %d)\n", tries + 2, ZD_RINGOVER_TRIES);
	snprintf(val, sizeof(val), "%d", tries + 1);
	setenv(ZD_RINGOVER_TRIES_ENV, val, 1);
	execv("/proc/self/exe", argv);
	fprintf(stderr, "zcached: cannot execute /proc/self/exe to map the io_uring ring: %s; "
		"exiting (the connection aborts)\n", strerror(errno));
	return -1;
}

/* mcutil.h - memcached servers of a test's (or a benchmark's) own.
 *
 * mc_start() runs `memcached -l 127.0.0.1 -p PORT -U 0 -m MB -t 1` for each
 * server on a loopback port found free (bind port 0, read it, close; a
 * server that fails to listen - someone took the port meanwhile - is
 * started again on another; 11211 is never used) and waits until each
 * answers `version`.  Servers are stopped by pid only, never by name:
 *   - mc_stop_all() at the end of a test, and an atexit handler that the
 *     first mc_start() registers, so a failed assertion (which exits the
 *     test's process) stops them too;
 *   - each server gets PR_SET_PDEATHSIG (SIGKILL when the starting thread
 *     dies; memcached keeps it unless it changes user, which it does only
 *     when started as root: then `-u nobody`);
 *   - after mc_track_file(PATH), every pid is recorded with its port in
 *     that file, and mc_cleanup_file() (after the suite) kills any still
 *     alive whose command line is memcached on that port (a test killed by
 *     its timeout runs no atexit handler).
 * The raw helpers speak memcached's text protocol over a fresh connection
 * each (10 s receive timeout), to look at or damage items behind the
 * client's back.  Nothing here uses libcheck: functions return errors and
 * print why on stderr; the suites assert.
 */
#ifndef ZC_TESTS_MCUTIL_H
#define ZC_TESTS_MCUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MC_MAX 8

struct mc_cluster {
	int n;
	int mem_mb;
	int port[MC_MAX];
	pid_t pid[MC_MAX];	/* 0: not running */
};

/* Start n servers of mem_mb MiB each.  Returns 0, or -1 (printed). */
int mc_start(struct mc_cluster *c, int n, int mem_mb);
/* (Re)start server i on its port (a fresh one if port[i] is 0); empty. */
int mc_start_one(struct mc_cluster *c, int i);
/* Send sig to server i; SIGKILL also reaps it (pid[i] becomes 0). */
void mc_signal(struct mc_cluster *c, int i, int sig);
/* SIGKILL and reap every server of c. */
void mc_stop_all(struct mc_cluster *c);
/* "127.0.0.1:P0+127.0.0.1:P1+..." */
void mc_server_list(const struct mc_cluster *c, char *buf, size_t len);
/* A loopback TCP port nothing listens on right now (never 11211). */
int mc_free_port(void);

/* Raw protocol on 127.0.0.1:port.  Each returns -1 on a connection or
 * protocol failure. */
/* get: 1 and a malloc()ed *val of *len bytes, 0 when missing. */
int mc_get(int port, const char *key, void **val, size_t *len);
/* set with the given ttl (0: none): 0 when STORED. */
int mc_set(int port, const char *key, const void *val, size_t len, unsigned ttl);
/* delete: 1 when DELETED, 0 when NOT_FOUND. */
int mc_delete(int port, const char *key);
/* Remaining TTL of a key in seconds ("mg KEY t"): >= 0, -2 when the item
 * never expires, -3 when missing. */
long mc_ttl(int port, const char *key);
/* A number from `stats` (e.g. "curr_items"), or -1. */
long long mc_stat(int port, const char *name);
/* The index of the one server of c holding key, -1 when none does, -2
 * when several do. */
int mc_find(const struct mc_cluster *c, const char *key);

/* Record every server started from now on (by this process and the
 * children it forks later) in `path`, which must exist. */
void mc_track_file(const char *path);
/* Kill the servers recorded in the file that still run, remove the file. */
void mc_cleanup_file(void);

#endif /* ZC_TESTS_MCUTIL_H */

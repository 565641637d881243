/* log.h - the daemon's log: leveled lines on stderr, and on syslog once
 * the daemon has detached from its terminal.
 *
 * A struct zd_log lives inside the daemon context (no global logger).  Each
 * line is "zcached: LEVEL: message" on stderr; after zd_log_detach() the same
 * message goes to syslog (LOG_DAEMON facility) with the matching priority,
 * since stderr then points at /dev/null.  Messages above the configured
 * level are dropped.
 *
 * Threads: zd_log_printf may be called from any thread; one line is written
 * with a single write()/syslog() call, so lines never interleave.  The
 * level and the syslog flag are set before worker threads start and read
 * without a lock afterwards.
 */
#ifndef ZC_DAEMON_LOG_H
#define ZC_DAEMON_LOG_H

enum zd_log_level {
	ZD_LOG_ERR = 0,
	ZD_LOG_WARN = 1,
	ZD_LOG_INFO = 2,
	ZD_LOG_DEBUG = 3,
};

struct zd_log {
	enum zd_log_level level;	/* messages above this are dropped */
	int use_syslog;			/* set by zd_log_detach */
	const char *ident;		/* program name, not owned */
};

/* Set up a log writing to stderr at `level`. Never fails. */
void zd_log_init(struct zd_log *log, const char *ident, enum zd_log_level level);

/* Route later messages to syslog as well (call after detaching). */
void zd_log_detach(struct zd_log *log);

/* Close syslog if it was opened.  zd_log_close(NULL) does nothing. */
void zd_log_close(struct zd_log *log);

/* Write one message (a trailing newline is added).  Thread safe. */
void zd_log_printf(struct zd_log *log, enum zd_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The name of a level ("error", "warning", "info", "debug"). */
const char *zd_log_level_name(enum zd_log_level level);

#endif /* ZC_DAEMON_LOG_H */

/* log.c - leveled log lines on stderr and syslog (see log.h). */
#include "daemon/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

void zd_log_init(struct zd_log *log, const char *ident, enum zd_log_level level)
{
	log->level = level;
	log->use_syslog = 0;
	log->ident = ident ? ident : "zcached";
}

void zd_log_detach(struct zd_log *log)
{
	if (log->use_syslog)
		return;
	openlog(log->ident, LOG_PID, LOG_DAEMON);
	log->use_syslog = 1;
}

void zd_log_close(struct zd_log *log)
{
	if (!log || !log->use_syslog)
		return;
	closelog();
	log->use_syslog = 0;
}

const char *zd_log_level_name(enum zd_log_level level)
{
	switch (level) {
	case ZD_LOG_ERR: return "error";
	case ZD_LOG_WARN: return "warning";
	case ZD_LOG_INFO: return "info";
	default: return "debug";
	}
}

void zd_log_printf(struct zd_log *log, enum zd_log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char msg[1024], line[1200];
	va_list ap;
	int n;

	if (level > log->level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = snprintf(line, sizeof(line), "%s: %s: %s\n", log->ident, zd_log_level_name(level), msg);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
	if (log->use_syslog)
		syslog(prio[level <= ZD_LOG_DEBUG ? level : ZD_LOG_DEBUG], "%s", msg);
}

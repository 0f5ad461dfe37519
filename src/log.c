#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static enum log_level g_level = LOG_INFO;
static enum log_format g_format = LOG_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_setup(enum log_level level, enum log_format format)
{
	g_level = level;
	g_format = format;
}

bool log_enabled(enum log_level level)
{
	return level <= g_level;
}

/* JSON string escaping for the json log format; messages are ours, but
 * may quote user-supplied names, so escape everything that needs it. */
static void json_escape(struct strbuf *sb, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			sb_adds(sb, "\\\"");
			break;
		case '\\':
			sb_adds(sb, "\\\\");
			break;
		case '\n':
			sb_adds(sb, "\\n");
			break;
		case '\t':
			sb_adds(sb, "\\t");
			break;
		default:
			if (*p < 0x20)
				sb_addf(sb, "\\u%04x", *p);
			else
				sb_addc(sb, (char)*p);
		}
	}
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	int saved = errno;
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One event, one line: fold any newline a message might contain. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	struct strbuf sb = STRBUF_INIT;
	if (g_format == LOG_JSON) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		char when[32];
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		sb_addf(
		    &sb,
		    "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"logger\":\"vaultexec\",\"msg\":\"",
		    when, ts.tv_nsec / 1000000, level_names[level]);
		json_escape(&sb, msg);
		sb_adds(&sb, "\"}\n");
	} else {
		sb_addf(&sb, "vaultexec: %s: %s\n", level_names[level], msg);
	}
	/* A single write keeps lines whole when many processes share stderr. */
	ssize_t r = write(STDERR_FILENO, sb.buf, sb.len);
	(void)r;
	sb_wipe(&sb);
	errno = saved;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

_Noreturn void die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(code);
}

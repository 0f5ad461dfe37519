#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "strutil.h"

static enum log_level g_level = LOG_INFO;
static enum log_format g_format = LOG_TEXT;
static bool g_quiet;
static bool g_once;
static log_rename_fn g_rename;

/* log_once: the warnings and errors said lately, by a hash of their text. */
#define ONCE_SLOTS 16
#define ONCE_REMIND_S 300
static struct {
	uint64_t hash;
	time_t said; /* monotonic seconds; 0: a free slot */
	unsigned more;
} g_said[ONCE_SLOTS];

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_setup(enum log_level level, enum log_format format)
{
	g_level = level;
	g_format = format;
}

void log_quiet(bool on)
{
	g_quiet = on;
}

void log_once(bool on)
{
	g_once = on;
}

/* Whether msg (a warning or an error) is to be said now, under log_once:
 * not when it was said in the last ONCE_REMIND_S seconds (it is counted);
 * a reminder after that says how often it came meanwhile, in note. */
static bool once_say(const char *msg, char *note, size_t notelen)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (const char *p = msg; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	time_t now = ts.tv_sec + 1; /* never 0 */
	size_t slot = 0;
	for (size_t i = 0; i < ONCE_SLOTS; i++) {
		if (g_said[i].said && g_said[i].hash == h) {
			if (now - g_said[i].said < ONCE_REMIND_S) {
				g_said[i].more++;
				return false;
			}
			if (g_said[i].more)
				snprintf(note, notelen, " (again; %u more time%s in the last %ds)",
				         g_said[i].more, g_said[i].more == 1 ? "" : "s",
				         (int)(now - g_said[i].said));
			g_said[i].said = now;
			g_said[i].more = 0;
			return true;
		}
		if (g_said[i].said < g_said[slot].said)
			slot = i;
	}
	g_said[slot].hash = h;
	g_said[slot].said = now;
	g_said[slot].more = 0;
	return true;
}

void log_set_rename(log_rename_fn fn)
{
	g_rename = fn;
}

static bool is_opt_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* msg with every "--name" that starts a word passed through g_rename. */
static void rename_options(const char *msg, char *out, size_t outn)
{
	size_t o = 0;
	for (const char *p = msg; *p && o + 1 < outn;) {
		bool word = p == msg || !(is_opt_char(p[-1]) || (p[-1] >= 'A' && p[-1] <= 'Z'));
		char name[64];
		if (word && p[0] == '-' && p[1] == '-' && p[2] >= 'a' && p[2] <= 'z') {
			size_t n = 2;
			while (is_opt_char(p[n]))
				n++;
			if (g_rename(p + 2, n - 2, name, sizeof(name))) {
				o += (size_t)snprintf(out + o, outn - o, "%s", name);
				p += n;
				continue;
			}
		}
		out[o++] = *p++;
	}
	out[o < outn ? o : outn - 1] = '\0';
}

bool log_enabled(enum log_level level)
{
	return level <= g_level;
}

/* One line in a stack buffer: logging must not allocate (the allocator
 * logs when it fails) nor depend on the modules that do. */
static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	int saved = errno;
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (g_rename) {
		char plain[sizeof(msg)];
		memcpy(plain, msg, sizeof(msg));
		rename_options(plain, msg, sizeof(msg));
		mbedtls_platform_zeroize(plain, sizeof(plain));
	}
	/* One event, one line: fold any newline a message might contain. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	char note[80] = "";
	if (g_once && level <= LOG_WARN && !once_say(msg, note, sizeof(note))) {
		if (!log_enabled(LOG_DEBUG)) {
			mbedtls_platform_zeroize(msg, sizeof(msg));
			errno = saved;
			return;
		}
		level = LOG_DEBUG;
	}
	/* Room for every byte of msg escaped as \u00XX, and the frame. */
	char line[sizeof(msg) * 6 + 160];
	/* RFC 3339 in UTC with milliseconds, in both formats: a line read out
	 * of `docker logs` or a file says when it happened. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[32];
	size_t w = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + w, sizeof(when) - w, ".%03ldZ", ts.tv_nsec / 1000000);
	int n;
	if (g_format == LOG_JSON) {
		n = snprintf(
		    line, sizeof(line),
		    "{\"time\":\"%s\",\"level\":\"%s\",\"logger\":\"vaultexec\",\"msg\":\"", when,
		    level_names[level]);
		size_t len = (size_t)n;
		for (const char *p = msg; *p; p++)
			len += json_escape_byte((unsigned char)*p, line + len);
		for (const char *p = note; *p; p++)
			len += json_escape_byte((unsigned char)*p, line + len);
		memcpy(line + len, "\"}\n", 4); /* with its NUL */
		n = (int)(len + 3);
	} else {
		n = snprintf(line, sizeof(line), "%s vaultexec: %s: %s%s\n", when,
		             level_names[level], msg, note);
	}
	/* A single write keeps lines whole when many processes share stderr. */
	ssize_t r = write(STDERR_FILENO, line, (size_t)n);
	(void)r;
	mbedtls_platform_zeroize(line, sizeof(line));
	errno = saved;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (g_quiet)
		level = LOG_DEBUG;
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

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "log.h"

_Noreturn void xalloc_failed(void)
{
	die(EXIT_SOFTWARE, "out of memory");
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		xalloc_failed();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		xalloc_failed();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		xalloc_failed();
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	va_list again;
	va_copy(again, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	if (n < 0)
		xalloc_failed();
	char *p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, again);
	va_end(again);
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

void *array_grow(void *p, size_t n, size_t size)
{
	if (p && n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return p;
	size_t cap = 4;
	while (cap <= n) {
		if (cap > SIZE_MAX / 2 / size)
			xalloc_failed();
		cap *= 2;
	}
	return xrealloc(p, cap * size);
}

void wipe_free(void *p)
{
	if (!p)
		return;
	mbedtls_platform_zeroize(p, malloc_usable_size(p));
	free(p);
}

void *wipe_realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	size_t have = malloc_usable_size(p);
	if (n <= have)
		return p; /* never shrunk: the tail would be freed unwiped */
	void *q = malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, have);
	wipe_free(p);
	return q;
}

void secure_free(void *p, size_t n)
{
	if (!p)
		return;
	mbedtls_platform_zeroize(p, n);
	free(p);
}

void secure_free_str(char *s)
{
	if (s)
		secure_free(s, strlen(s));
}

void freep(void *pp)
{
	free(*(void **)pp);
}

void close_fdp(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

void secure_free_strp(char **s)
{
	secure_free_str(*s);
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!s || !*s)
		return -1;
	uint64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_duration_ms(const char *s, uint64_t *out_ms)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
	const uint64_t max_ms = 24ULL * 3600000;
	if (!s)
		return -1;
	size_t n = strlen(s), digits = 0;
	while (digits < n && s[digits] >= '0' && s[digits] <= '9')
		digits++;
	if (digits == 0 || digits > 12)
		return -1;
	char num[13];
	memcpy(num, s, digits);
	num[digits] = '\0';
	uint64_t v;
	if (parse_u64(num, 0, UINT64_MAX, &v) < 0)
		return -1;
	uint64_t mult = 0;
	if (digits == n) {
		mult = 1000; /* a bare number is seconds, as VAULT_CLIENT_TIMEOUT */
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(units); i++)
			if (strcmp(s + digits, units[i].suffix) == 0)
				mult = units[i].ms;
	}
	if (mult == 0)
		return -1;
	if (v > max_ms / mult)
		return -2;
	*out_ms = v * mult;
	return 0;
}

int parse_go_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
	if (!s)
		return -1;
	for (size_t i = 0; i < 6; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t random_u64(void)
{
	uint64_t v;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	v = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
	/* splitmix64 finaliser so nearby seeds diverge */
	v += 0x9e3779b97f4a7c15ULL;
	v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ULL;
	v = (v ^ (v >> 27)) * 0x94d049bb133111ebULL;
	return v ^ (v >> 31);
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	/* Names we compare are short; anything long is no typo of anything. */
	if (la > 256 || lb > 256)
		return SIZE_MAX;
	size_t row[257];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (lower(a[i - 1]) != lower(b[j - 1]));
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *closest_name(const char *want, const char *const *names, size_t n)
{
	size_t limit = strlen(want) / 3;
	if (limit < 2)
		limit = 2;
	const char *best = NULL;
	size_t bestd = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(want, names[i]);
		if (d < bestd) {
			bestd = d;
			best = names[i];
		}
	}
	return bestd <= limit ? best : NULL;
}

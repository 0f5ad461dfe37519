/* Small shared helpers: memory, bounded number parsing, durations, time.
 * Nothing here knows about Vault.  Strings: strutil.h and strbuf.h. */
#ifndef VAULTEXEC_UTIL_H
#define VAULTEXEC_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes (sysexits.h meanings), documented in --help, README and man page. */
enum exit_code {
	EXIT_OK = 0,
	EXIT_USAGE = 64,       /* usage or configuration syntax */
	EXIT_DATA = 65,        /* secret or field missing, deleted, not representable */
	EXIT_UNAVAILABLE = 69, /* Vault not ready or unreachable before the deadline */
	EXIT_SOFTWARE = 70,    /* internal error */
	EXIT_IOERR = 74,       /* a file could not be written */
	EXIT_NOPERM = 77,      /* permission denied or login refused */
	EXIT_CONFIG = 78,      /* configuration that cannot be used */
	EXIT_NOEXEC = 126,     /* command not executable */
	EXIT_NOTFOUND = 127,   /* command not found */
};

#define UNUSED __attribute__((unused))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Makes room for element n of an array that holds n elements.  The
 * capacity is implied by n (the power of two above n, at least 4), so an
 * array needs only its count: ARRAY_GROW(v, n); v[n++] = x.  Every push
 * to one array must go through it (never a plain realloc to n + 1). */
void *array_grow(void *p, size_t n, size_t size);
#define ARRAY_GROW(a, n) ((a) = array_grow((a), (n), sizeof(*(a))))

/* Allocation failure is fatal: there is nothing sensible to fall back to. */
_Noreturn void xalloc_failed(void);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* nonnull: GCC 12 with -fsanitize=undefined otherwise warns of a "null
 * format string" reaching vsnprintf, which breaks the sanitizer build. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2), nonnull(1)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0), nonnull(1)));

/* free() and realloc() for libraries that hold our secrets in their own
 * buffers (libcurl, cJSON): the block is wiped whole (its usable size)
 * before it is freed, and realloc never leaves the old block unwiped. */
void wipe_free(void *p);
void *wipe_realloc(void *p, size_t n);

/* Wipe then free; for anything that may hold a secret. */
void secure_free(void *p, size_t n);
void secure_free_str(char *s);

void freep(void *pp); /* pp is a pointer to a heap pointer */
void close_fdp(int *fd);
void secure_free_strp(char **s);
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_secret_ __attribute__((cleanup(secure_free_strp)))
#define _cleanup_close_ __attribute__((cleanup(close_fdp)))

/* Hand a value out of a scope that would otherwise clean it up. */
static inline void *steal_ptr_impl(void *pp)
{
	void **p = pp;
	void *v = *p;
	*p = NULL;
	return v;
}
#define steal_pointer(pp) steal_ptr_impl(pp)

/* Bounded unsigned integer parse of the whole string, decimal only.
 * Returns 0 on success, -1 on empty, junk, or out of [min, max]. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Durations: "500ms", "30s", "2m", "1h", or a bare number of seconds.
 * Result in milliseconds, at most one day (DURATION_MAX_TEXT).  Returns 0,
 * -1 when s is no duration, or -2 when it is one over the limit. */
#define DURATION_MAX_TEXT "24h"
int parse_duration_ms(const char *s, uint64_t *out_ms);

/* Go's strconv.ParseBool spellings only.  Returns 0 or -1. */
int parse_go_bool(const char *s, bool *out);

/* Monotonic clock in milliseconds. */
uint64_t now_ms(void);

/* Random 64-bit value from getrandom(); falls back to time and pid. */
uint64_t random_u64(void);

/* Levenshtein distance, ignoring ASCII case; SIZE_MAX for names over 256
 * bytes.  For "did you mean" hints. */
size_t edit_distance(const char *a, const char *b);

/* The name in names nearest to want, or NULL when none is near enough to
 * be a plausible typo (distance at most a third of want, at least 2). */
const char *closest_name(const char *want, const char *const *names, size_t n);

#endif

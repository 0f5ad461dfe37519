/* String helpers that allocate nothing and import nothing: control
 * characters, slash trimming, and the per-byte rules of the JSON and
 * percent escapes.  The strbuf module builds on them; log.c uses them
 * without a strbuf (it must not depend on the allocator, which logs). */
#ifndef VAULTEXEC_STRUTIL_H
#define VAULTEXEC_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* The first control character (below 0x20, or DEL) of s[0..n), or NULL. */
const char *find_ctl(const char *s, size_t n);
static inline bool has_ctl(const char *s, size_t n)
{
	return find_ctl(s, n) != NULL;
}

/* Drops leading and trailing '/' of the string (*s, *n) in place. */
void trim_slashes(const char **s, size_t *n);

/* Writes the JSON string form of byte c to out (1 to 6 bytes, no NUL) and
 * returns its length.  Quote, backslash and the short escapes as JSON
 * spells them; other controls and DEL as \u00XX; everything else, bytes
 * >= 0x80 included, as is (left to the consumer's UTF-8 decoder). */
size_t json_escape_byte(unsigned char c, char out[6]);

/* RFC 3986 unreserved: kept as is by percent-encoding. */
bool pct_unreserved(unsigned char c);

#endif

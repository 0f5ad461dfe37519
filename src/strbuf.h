/* A growable byte buffer, always NUL-terminated, that never leaves a copy
 * of its content in freed memory (it grows by copy and wipe, never by
 * realloc), with the JSON and percent escapes.  Buffers that held secrets
 * are released with sb_wipe(). */
#ifndef VAULTEXEC_STRBUF_H
#define VAULTEXEC_STRBUF_H

#include <stddef.h>

#include "strutil.h"

struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
};
#define STRBUF_INIT        \
	{                  \
		NULL, 0, 0 \
	}
void sb_grow(struct strbuf *sb, size_t extra);
void sb_add(struct strbuf *sb, const void *data, size_t n);
void sb_adds(struct strbuf *sb, const char *s);
void sb_addc(struct strbuf *sb, char c);
void sb_addf(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), nonnull(2)));
char *sb_steal(struct strbuf *sb); /* returns buf (never NULL), resets sb */
void sb_reset(struct strbuf *sb);  /* keeps the allocation, wipes content */
void sb_wipe(struct strbuf *sb);   /* zeroize and free */

/* s[0..n) JSON-escaped (json_escape_byte), without the quotes. */
void sb_add_json(struct strbuf *sb, const char *s, size_t n);
/* s[0..n) percent-encoded: all but the unreserved bytes, as %XX. */
void sb_add_pct(struct strbuf *sb, const char *s, size_t n);
/* A '/'-separated path with each segment percent-encoded (an API path). */
void sb_add_path(struct strbuf *sb, const char *path);

#endif

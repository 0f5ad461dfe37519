#include "strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "util.h"

void sb_grow(struct strbuf *sb, size_t extra)
{
	if (extra > SIZE_MAX / 2 - sb->len - 1)
		xalloc_failed();
	size_t need = sb->len + extra + 1;
	if (need <= sb->cap)
		return;
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < need)
		cap *= 2;
	/* Never realloc: the old block may hold a secret that must be wiped. */
	char *nb = xmalloc(cap);
	if (sb->buf) {
		memcpy(nb, sb->buf, sb->len);
		secure_free(sb->buf, sb->cap);
	}
	sb->buf = nb;
	sb->cap = cap;
	sb->buf[sb->len] = '\0';
}

void sb_add(struct strbuf *sb, const void *data, size_t n)
{
	sb_grow(sb, n);
	if (n)
		memcpy(sb->buf + sb->len, data, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void sb_adds(struct strbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

void sb_addc(struct strbuf *sb, char c)
{
	sb_add(sb, &c, 1);
}

void sb_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	/* The formatted text may be a secret: wipe the temporary copy. */
	char *p = xvasprintf(fmt, ap);
	va_end(ap);
	sb_adds(sb, p);
	secure_free_str(p);
}

char *sb_steal(struct strbuf *sb)
{
	if (!sb->buf)
		sb_grow(sb, 0);
	char *p = sb->buf;
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	return p;
}

void sb_reset(struct strbuf *sb)
{
	if (sb->buf)
		mbedtls_platform_zeroize(sb->buf, sb->cap);
	sb->len = 0;
}

void sb_wipe(struct strbuf *sb)
{
	secure_free(sb->buf, sb->cap);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

void sb_add_json(struct strbuf *sb, const char *s, size_t n)
{
	char esc[6];
	for (size_t i = 0; i < n; i++)
		sb_add(sb, esc, json_escape_byte((unsigned char)s[i], esc));
}

void sb_add_pct(struct strbuf *sb, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (pct_unreserved(c)) {
			sb_addc(sb, (char)c);
		} else {
			char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
			sb_add(sb, enc, 3);
		}
	}
}

void sb_add_path(struct strbuf *sb, const char *path)
{
	for (const char *seg = path;;) {
		const char *slash = strchr(seg, '/');
		size_t n = slash ? (size_t)(slash - seg) : strlen(seg);
		sb_add_pct(sb, seg, n);
		if (!slash)
			return;
		sb_addc(sb, '/');
		seg = slash + 1;
	}
}

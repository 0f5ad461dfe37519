#include "secref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "util.h"

/* The version after the second '#': a positive integer. */
static int parse_version(const char *p, size_t n, uint64_t *out, char *err, size_t errlen)
{
	char num[24];
	if (n == 0 || n >= sizeof(num)) {
		snprintf(err, errlen, "bad version after second '#'");
		return -1;
	}
	memcpy(num, p, n);
	num[n] = '\0';
	if (parse_u64(num, 1, INT64_MAX, out) < 0) {
		snprintf(err, errlen, "bad version '%s' (a positive integer)", num);
		return -1;
	}
	return 0;
}

/* PATH?PARAMS: a write.  The parameters are checked now so that a bad one
 * is a usage error before any request.  *out gets a copy of them. */
static int parse_params(const char *p, size_t n, char **out, char *err, size_t errlen)
{
	if (n == 0) {
		snprintf(err, errlen, "no parameters after '?'");
		return -1;
	}
	_cleanup_free_ char *params = xstrndup(p, n);
	struct strbuf name = STRBUF_INIT, val = STRBUF_INIT;
	const char *it = params;
	int k;
	while ((k = secref_param_next(&it, &name, &val, err, errlen)) == 1) {
		sb_reset(&name);
		sb_reset(&val);
	}
	sb_wipe(&name);
	sb_wipe(&val);
	if (k < 0)
		return -1;
	*out = steal_pointer(&params);
	return 0;
}

int secref_parse(const char *s, size_t len, struct secref *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (len == 0) {
		snprintf(err, errlen, "empty field reference");
		return -1;
	}
	if (has_ctl(s, len)) {
		snprintf(err, errlen, "control character in field reference");
		return -1;
	}
	const char *h1 = memchr(s, '#', len);
	if (!h1) {
		out->field = xstrndup(s, len);
		return 0;
	}
	const char *end = s + len;
	const char *h2 = memchr(h1 + 1, '#', (size_t)(end - h1 - 1));
	const char *fend = h2 ? h2 : end;
	if (h1 == s) {
		snprintf(err, errlen, "empty secret path before '#'");
		return -1;
	}
	if (fend == h1 + 1) {
		snprintf(err, errlen, "empty field name after '#'");
		return -1;
	}
	if (h2 && parse_version(h2 + 1, (size_t)(end - h2 - 1), &out->version, err, errlen) < 0)
		return -1;
	const char *q = memchr(s, '?', (size_t)(h1 - s));
	if (q && parse_params(q + 1, (size_t)(h1 - q - 1), &out->params, err, errlen) < 0)
		return -1;
	/* Trim slashes at both ends of the path: "/secret/x/" means secret/x. */
	const char *ps = s;
	size_t plen = (size_t)((q ? q : h1) - s);
	trim_slashes(&ps, &plen);
	const char *pe = ps + plen;
	if (ps == pe || !secpath_valid(ps, (size_t)(pe - ps))) {
		snprintf(err, errlen,
		         ps == pe ? "empty secret path before '#'"
		                  : "bad secret path (an empty, '.' or '..' segment)");
		free(out->params);
		out->params = NULL;
		return -1;
	}
	if (out->params && out->version) {
		snprintf(err, errlen, "a write (PATH?PARAMS) has no version");
		free(out->params);
		out->params = NULL;
		return -1;
	}
	out->path = xstrndup(ps, (size_t)(pe - ps));
	out->field = xstrndup(h1 + 1, (size_t)(fend - h1 - 1));
	return 0;
}

int secpath_valid(const char *path, size_t len)
{
	trim_slashes(&path, &len);
	if (len == 0 || has_ctl(path, len))
		return 0;
	const char *end = path + len;
	for (const char *seg = path; seg <= end;) {
		const char *slash = memchr(seg, '/', (size_t)(end - seg));
		size_t n = slash ? (size_t)(slash - seg) : (size_t)(end - seg);
		if (n == 0 || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		if (!slash)
			break;
		seg = slash + 1;
	}
	return 1;
}

void secref_clear(struct secref *r)
{
	free(r->path);
	free(r->field);
	free(r->params);
	memset(r, 0, sizeof(*r));
}

void secref_copy(struct secref *dst, const struct secref *src)
{
	dst->path = src->path ? xstrdup(src->path) : NULL;
	dst->field = xstrdup(src->field);
	dst->version = src->version;
	dst->params = src->params ? xstrdup(src->params) : NULL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes n bytes of s into out; -1 on a bad or NUL escape. */
static int pct_decode(const char *s, size_t n, struct strbuf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			sb_addc(out, s[i]);
			continue;
		}
		if (n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
			return -1;
		char c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
		if (c == '\0')
			return -1;
		sb_addc(out, c);
		i += 2;
	}
	return 0;
}

int secref_param_next(const char **pos, struct strbuf *name, struct strbuf *value, char *err,
                      size_t errlen)
{
	const char *p = *pos;
	if (!*p)
		return 0;
	const char *amp = strchr(p, '&');
	size_t n = amp ? (size_t)(amp - p) : strlen(p);
	const char *eq = memchr(p, '=', n);
	if (n == 0 || !eq || eq == p) {
		snprintf(err, errlen, "parameter %s is not NAME=VALUE",
		         n == 0    ? "(empty)"
		         : eq == p ? "'=...'"
		                   : "without '='");
		return -1;
	}
	if (pct_decode(p, (size_t)(eq - p), name) < 0) {
		snprintf(err, errlen, "parameter name: bad %%-escape (want %%XX, not %%00)");
		return -1;
	}
	if (pct_decode(eq + 1, n - (size_t)(eq + 1 - p), value) < 0) {
		snprintf(err, errlen,
		         "parameter %s: bad %%-escape in its value (want %%XX, not %%00)",
		         name->buf);
		return -1;
	}
	*pos = amp ? amp + 1 : p + n;
	if (amp && !*(amp + 1)) {
		snprintf(err, errlen, "parameter list ends with '&'");
		return -1;
	}
	return 1;
}

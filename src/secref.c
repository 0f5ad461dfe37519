#include "secref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int has_ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
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
	if (h2) {
		char num[24];
		size_t vn = (size_t)(end - h2 - 1);
		uint64_t v;
		if (vn == 0 || vn >= sizeof(num)) {
			snprintf(err, errlen, "bad version after second '#'");
			return -1;
		}
		memcpy(num, h2 + 1, vn);
		num[vn] = '\0';
		if (parse_u64(num, 1, INT64_MAX, &v) < 0) {
			snprintf(err, errlen, "bad version '%s' (a positive integer)", num);
			return -1;
		}
		out->version = v;
	}
	/* Trim slashes at both ends of the path: "/secret/x/" means secret/x. */
	const char *ps = s, *pe = h1;
	while (ps < pe && *ps == '/')
		ps++;
	while (pe > ps && pe[-1] == '/')
		pe--;
	if (ps == pe) {
		snprintf(err, errlen, "empty secret path before '#'");
		return -1;
	}
	if (!secpath_valid(ps, (size_t)(pe - ps))) {
		snprintf(err, errlen, "bad secret path (an empty, '.' or '..' segment)");
		return -1;
	}
	out->path = xstrndup(ps, (size_t)(pe - ps));
	out->field = xstrndup(h1 + 1, (size_t)(fend - h1 - 1));
	return 0;
}

int secpath_valid(const char *path, size_t len)
{
	while (len && path[0] == '/')
		path++, len--;
	while (len && path[len - 1] == '/')
		len--;
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
	memset(r, 0, sizeof(*r));
}

void secref_copy(struct secref *dst, const struct secref *src)
{
	dst->path = src->path ? xstrdup(src->path) : NULL;
	dst->field = xstrdup(src->field);
	dst->version = src->version;
}

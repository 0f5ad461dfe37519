/* Field references and the path handling around them: secref_parse (the
 * FIELD, PATH#FIELD, PATH#FIELD#VERSION and PATH?PARAMS#FIELD of --map, templates and
 * vault: references), plan_api_path (KV path to API path, every segment
 * escaped), sb_add_pct and render_map_all_name.
 *
 * Input: REF \0 MOUNT \0 PREFIX; a missing piece is taken as empty. */
#include <stdbool.h>
#include <string.h>

#include "fuzz_common.h"
#include "http.h"
#include "plan.h"
#include "render.h"
#include "secref.h"
#include "strbuf.h"

static bool unreserved(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Escaped output: unreserved bytes, '/' between segments, %XX. */
static void check_escaped(const char *s, bool slashes)
{
	for (const char *p = s; *p; p++) {
		if (*p == '%') {
			FUZZ_CHECK(strchr("0123456789ABCDEF", p[1]) && p[1]);
			FUZZ_CHECK(strchr("0123456789ABCDEF", p[2]) && p[2]);
			p += 2;
			continue;
		}
		FUZZ_CHECK(unreserved(*p) || (slashes && *p == '/'));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The reference goes in as bytes with a length, NULs included. */
	const uint8_t *nul = memchr(data, 0, size);
	size_t reflen = nul ? (size_t)(nul - data) : size;
	struct secref r;
	char err[128] = "";
	if (secref_parse((const char *)data, reflen, &r, err, sizeof(err)) == 0) {
		FUZZ_CHECK(r.field && r.field[0] && !strchr(r.field, '#'));
		FUZZ_CHECK(strlen(r.field) < reflen + 1);
		if (r.path) {
			size_t n = strlen(r.path);
			FUZZ_CHECK(n > 0 && r.path[0] != '/' && r.path[n - 1] != '/');
			FUZZ_CHECK(!strchr(r.path, '#'));
		} else {
			FUZZ_CHECK(r.version == 0 && strlen(r.field) == reflen);
		}
		FUZZ_CHECK(r.version <= INT64_MAX);
		if (r.params) {
			/* A write: a path, no version, and parameters that decode
			 * to the end, as checked at parse time. */
			FUZZ_CHECK(r.path && !strchr(r.path, '?') && r.version == 0 && r.params[0]);
			const char *it = r.params;
			struct strbuf n = STRBUF_INIT, v = STRBUF_INIT;
			int k;
			while ((k = secref_param_next(&it, &n, &v, err, sizeof(err))) == 1) {
				FUZZ_CHECK(n.len > 0 && strlen(n.buf) == n.len);
				FUZZ_CHECK(v.len == 0 || strlen(v.buf) == v.len);
				sb_reset(&n);
				sb_reset(&v);
			}
			FUZZ_CHECK(k == 0);
			sb_wipe(&n);
			sb_wipe(&v);
		}
		struct secref c;
		secref_copy(&c, &r);
		FUZZ_CHECK(!strcmp(c.field, r.field) && c.version == r.version);
		FUZZ_CHECK(!c.path == !r.path && (!c.path || !strcmp(c.path, r.path)));
		FUZZ_CHECK(!c.params == !r.params && (!c.params || !strcmp(c.params, r.params)));
		secref_clear(&c);
	} else {
		FUZZ_CHECK(r.path == NULL && r.field == NULL && r.params == NULL);
		FUZZ_CHECK(err[0] != '\0');
	}

	struct fz_split s;
	fz_split_init(&s, data, size);
	const char *mount = s.n > 1 ? s.v[1] : "";
	const char *prefix = s.n > 2 ? s.v[2] : "";
	const char *path = r.path ? r.path : s.v[0];

	if (*mount) {
		for (int kv = 1; kv <= 2; kv++) {
			char *api = plan_api_path(mount, kv, path);
			check_escaped(api, true);
			free(api);
		}
	}
	struct strbuf sb = STRBUF_INIT;
	sb_add_pct(&sb, s.v[0], strlen(s.v[0]));
	if (sb.buf)
		check_escaped(sb.buf, false);
	sb_wipe(&sb);

	char *name = render_map_all_name(prefix, r.field ? r.field : s.v[0]);
	if (name) {
		FUZZ_CHECK(name[0] && !(name[0] >= '0' && name[0] <= '9'));
		for (const char *p = name + strlen(prefix); *p; p++)
			FUZZ_CHECK((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			           *p == '_');
		free(name);
	}

	secref_clear(&r);
	fz_split_free(&s);
	return 0;
}

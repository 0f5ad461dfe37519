#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "jsonval.h"
#include "log.h"

enum sec_state { S_PENDING, S_OK, S_MISSING, S_DELETED, S_DESTROYED };

struct secret {
	char *path;            /* as the user wrote it, slashes trimmed */
	uint64_t version;      /* 0 = current; part of the lookup key */
	uint64_t meta_version; /* the version Vault reported, for messages */
	struct secret *same;   /* another entry that resolved to the same read */
	char *api_path;        /* v1/... path, for messages and dedup */
	int kv;                /* 1 or 2 */
	enum sec_state state;
	struct jdoc *doc;
	const cJSON *data; /* the field map */
};

struct mount_info {
	char *mount; /* no trailing slash */
	int kv;
};

struct plan {
	const struct config *cfg;
	struct secret *s;
	size_t n;
	struct mount_info *mounts;
	size_t nmounts;
	struct strbuf *vals; /* looked-up values, wiped at the end */
	size_t nvals;
};

struct plan *plan_new(const struct config *cfg)
{
	struct plan *p = xcalloc(1, sizeof(*p));
	p->cfg = cfg;
	return p;
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->s[i].path);
		free(p->s[i].api_path);
		jdoc_free(p->s[i].doc);
	}
	free(p->s);
	for (size_t i = 0; i < p->nmounts; i++)
		free(p->mounts[i].mount);
	free(p->mounts);
	for (size_t i = 0; i < p->nvals; i++)
		sb_wipe(&p->vals[i]);
	free(p->vals);
	free(p);
}

static char *trimmed(const char *path)
{
	while (*path == '/')
		path++;
	size_t n = strlen(path);
	while (n && path[n - 1] == '/')
		n--;
	return xstrndup(path, n);
}

static struct secret *find(struct plan *p, const char *path, uint64_t version)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->s[i].version == version && strcmp(p->s[i].path, path) == 0)
			return &p->s[i];
	return NULL;
}

void plan_add(struct plan *p, const struct secref *ref)
{
	_cleanup_free_ char *path = trimmed(ref->path ? ref->path : p->cfg->default_path);
	if (find(p, path, ref->version))
		return;
	p->s = xrealloc(p->s, (p->n + 1) * sizeof(*p->s));
	p->s[p->n] = (struct secret){.path = steal_pointer(&path), .version = ref->version};
	p->n++;
}

static void add_escaped_path(struct strbuf *sb, const char *path)
{
	const char *seg = path;
	for (;;) {
		const char *slash = strchr(seg, '/');
		size_t n = slash ? (size_t)(slash - seg) : strlen(seg);
		http_escape_segment(sb, seg, n);
		if (!slash)
			break;
		sb_addc(sb, '/');
		seg = slash + 1;
	}
}

char *plan_api_path(const char *mount, int kv_version, const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	size_t ml = strlen(mount);
	const char *rest = path;
	if (strncmp(path, mount, ml) == 0 && (path[ml] == '/' || path[ml] == '\0'))
		rest = path + ml;
	while (*rest == '/')
		rest++;
	add_escaped_path(&sb, mount);
	if (kv_version == 2) {
		/* The KV v2 form secret/data/x is accepted as it is. */
		if (strncmp(rest, "data/", 5) == 0)
			rest += 5;
		sb_adds(&sb, "/data");
	}
	if (*rest) {
		sb_addc(&sb, '/');
		add_escaped_path(&sb, rest);
	}
	return sb_steal(&sb);
}

/* The mount of a path when the KV version is given: --kv-mount when the
 * path lies under it, else the path's first segment. */
static char *guess_mount(const struct config *cfg, const char *path)
{
	size_t ml = strlen(cfg->kv_mount);
	if (strncmp(path, cfg->kv_mount, ml) == 0 && (path[ml] == '/' || path[ml] == '\0'))
		return xstrdup(cfg->kv_mount);
	const char *slash = strchr(path, '/');
	return xstrndup(path, slash ? (size_t)(slash - path) : strlen(path));
}

/* --kv-version auto: ask sys/internal/ui/mounts, which answers for the
 * longest mount prefix of the path (vault-api.md section 2). */
static int detect_mount(struct plan *p, struct vault *v, const char *path, struct mount_info *mi)
{
	for (size_t i = 0; i < p->nmounts; i++) {
		size_t ml = strlen(p->mounts[i].mount);
		if (strncmp(path, p->mounts[i].mount, ml) == 0 &&
		    (path[ml] == '/' || path[ml] == '\0')) {
			*mi = p->mounts[i];
			return 0;
		}
	}
	struct strbuf api = STRBUF_INIT;
	sb_adds(&api, "sys/internal/ui/mounts/");
	add_escaped_path(&api, path);
	struct vault_reply rep;
	int r = vault_request(v, "GET", api.buf, NULL, NULL, 0, &rep);
	sb_wipe(&api);
	if (r)
		return r;
	struct mount_info found = {0};
	if (rep.code == 200) {
		const cJSON *data = json_get(jdoc_root(rep.doc), "data");
		const char *mp = json_get_string(data, "path");
		const cJSON *o = json_get(data, "options");
		const char *ver = json_get_string(o, "version");
		if (!mp || !*mp) {
			log_error("%s: sys/internal/ui/mounts gave no mount path", path);
			vault_reply_clear(&rep);
			return EXIT_DATA;
		}
		found.mount = trimmed(mp);
		found.kv = ver && strcmp(ver, "2") == 0 ? 2 : 1;
	} else if (rep.code == 404) {
		/* Vault older than 0.10 has no such endpoint: KV v1. */
		found.mount = guess_mount(p->cfg, path);
		found.kv = 1;
	} else {
		const char *m = vault_error_message(&rep);
		log_error("%s: cannot detect the KV version (HTTP %ld%s%s): no permission on the "
		          "mount or no such mount; give --kv-version 1 or 2",
		          path, rep.code, m ? ": " : "", m ? m : "");
		vault_reply_clear(&rep);
		return rep.code == 403 ? EXIT_NOPERM : EXIT_DATA;
	}
	vault_reply_clear(&rep);
	log_debug("%s: mount %s is KV v%d", path, found.mount, found.kv);
	p->mounts = xrealloc(p->mounts, (p->nmounts + 1) * sizeof(*p->mounts));
	p->mounts[p->nmounts++] = found;
	*mi = found;
	return 0;
}

static int resolve(struct plan *p, struct vault *v, struct secret *s)
{
	struct mount_info mi;
	_cleanup_free_ char *guessed = NULL;
	if (p->cfg->kv_version == KV_AUTO) {
		int r = detect_mount(p, v, s->path, &mi);
		if (r)
			return r;
	} else {
		guessed = guess_mount(p->cfg, s->path);
		mi.mount = guessed;
		mi.kv = (int)p->cfg->kv_version;
	}
	s->kv = mi.kv;
	s->api_path = plan_api_path(mi.mount, mi.kv, s->path);
	if (s->version && s->kv == 1) {
		log_error("%s#...#%llu: versions exist only in KV v2", s->path,
		          (unsigned long long)s->version);
		return EXIT_USAGE;
	}
	return 0;
}

/* A KV v2 404 with data.data null is a deleted or destroyed version; a
 * bare 404 is a missing secret (vault-api.md section 2). */
static void read_v2_deleted(struct secret *s, const struct vault_reply *rep)
{
	const cJSON *data = json_get(jdoc_root(rep->doc), "data");
	const cJSON *meta = json_get(data, "metadata");
	if (meta && cJSON_IsNull(json_get(data, "data"))) {
		s->state = cJSON_IsTrue(json_get(meta, "destroyed")) ? S_DESTROYED : S_DELETED;
		const cJSON *ver = json_get(meta, "version");
		/* In range before the cast: 1e999 (inf) or 1e300 would be UB. */
		if (cJSON_IsNumber(ver) && ver->valuedouble >= 0 &&
		    ver->valuedouble < 9223372036854775808.0)
			s->meta_version = (uint64_t)ver->valuedouble;
	} else {
		s->state = S_MISSING;
	}
}

static int fetch_one(struct plan *p, struct vault *v, struct secret *s)
{
	char query[40] = "";
	if (s->version)
		snprintf(query, sizeof(query), "version=%llu", (unsigned long long)s->version);
	struct vault_reply rep;
	int r = vault_request(v, "GET", s->api_path, s->version ? query : NULL, NULL,
	                      VREQ_KV_UPGRADE, &rep);
	if (r)
		return r;
	const char *m = vault_error_message(&rep);
	switch (rep.code) {
	case 200: {
		const cJSON *data = json_get(jdoc_root(rep.doc), "data");
		if (s->kv == 2)
			data = json_get(data, "data");
		if (!rep.doc) {
			log_error("%s: the answer is not valid JSON", s->api_path);
			r = EXIT_DATA;
		} else if (s->kv == 2 && cJSON_IsNull(data)) {
			read_v2_deleted(s, &rep);
		} else if (!cJSON_IsObject(data)) {
			log_error("%s: the answer has no data object%s", s->api_path,
			          s->kv == 2 ? " (is this a KV v1 mount? try --kv-version 1)" : "");
			r = EXIT_DATA;
		} else {
			s->state = S_OK;
			s->data = data;
			s->doc = steal_pointer(&rep.doc);
		}
		break;
	}
	case 204:
	case 404:
		if (s->kv == 2 && rep.doc)
			read_v2_deleted(s, &rep);
		else
			s->state = S_MISSING;
		break;
	case 403:
		log_error("%s: permission denied%s%s", s->api_path, m ? ": " : "", m ? m : "");
		r = EXIT_NOPERM;
		break;
	default:
		log_error("%s: HTTP %ld%s%s", s->api_path, rep.code, m ? ": " : "", m ? m : "");
		r = rep.code == 401 ? EXIT_NOPERM : EXIT_DATA;
	}
	(void)p;
	vault_reply_clear(&rep);
	return r;
}

int plan_fetch(struct plan *p, struct vault *v)
{
	for (size_t i = 0; i < p->n; i++) {
		struct secret *s = &p->s[i];
		int r = resolve(p, v, s);
		if (r)
			return r;
		/* secret/x and secret/data/x are the same read. */
		for (size_t j = 0; j < i; j++)
			if (!p->s[j].same && p->s[j].version == s->version &&
			    strcmp(p->s[j].api_path, s->api_path) == 0) {
				s->same = &p->s[j];
				break;
			}
		if (s->same)
			continue;
		r = fetch_one(p, v, s);
		if (r)
			return r;
		log_debug("%s: read", s->api_path);
	}
	return 0;
}

static struct secret *target(struct plan *p, const char *path, uint64_t version)
{
	_cleanup_free_ char *t = trimmed(path ? path : p->cfg->default_path);
	struct secret *s = find(p, t, version);
	while (s && s->same)
		s = s->same;
	return s;
}

static int missing_reason(const struct secret *s, char *why, size_t whylen)
{
	uint64_t v = s->version ? s->version : s->meta_version;
	const char *what = s->state == S_DESTROYED ? "destroyed" : "deleted";
	switch (s->state) {
	case S_DELETED:
	case S_DESTROYED:
		if (v)
			snprintf(why, whylen, "%s: version %llu is %s", s->api_path,
			         (unsigned long long)v, what);
		else
			snprintf(why, whylen, "%s: the current version is %s", s->api_path, what);
		break;
	default:
		if (s->version)
			snprintf(why, whylen, "%s: no such secret or version %llu", s->api_path,
			         (unsigned long long)s->version);
		else
			snprintf(why, whylen, "%s: no such secret", s->api_path);
	}
	return 1;
}

int plan_lookup(struct plan *p, const struct secref *ref, const char **val, size_t *len, char *why,
                size_t whylen)
{
	struct secret *s = target(p, ref->path, ref->version);
	if (!s) {
		log_error("internal error: the secret of field %s was not read", ref->field);
		return EXIT_SOFTWARE;
	}
	if (s->state != S_OK)
		return missing_reason(s, why, whylen);
	const cJSON *node = json_get(s->data, ref->field);
	if (!node || cJSON_IsNull(node)) {
		snprintf(why, whylen, "%s: no field '%s'%s", s->api_path, ref->field,
		         node ? " (it is null)" : "");
		return 1;
	}
	struct strbuf sb = STRBUF_INIT;
	enum jval_result jr = jval_to_text(s->doc, node, &sb);
	if (jr == JVAL_HAS_NUL) {
		sb_wipe(&sb);
		log_error("%s: field '%s' holds a NUL byte, which no environment variable or "
		          "file template can carry",
		          s->api_path, ref->field);
		return EXIT_DATA;
	}
	p->vals = xrealloc(p->vals, (p->nvals + 1) * sizeof(*p->vals));
	if (!sb.buf)
		sb_grow(&sb, 0);
	p->vals[p->nvals++] = sb;
	*val = sb.buf;
	*len = sb.len;
	return 0;
}

int plan_each_default_field(struct plan *p, plan_field_fn fn, void *ctx, char *why, size_t whylen)
{
	struct secret *s = target(p, NULL, 0);
	if (!s)
		return EXIT_SOFTWARE;
	if (s->state != S_OK)
		return missing_reason(s, why, whylen);
	const cJSON *f;
	cJSON_ArrayForEach(f, s->data)
	{
		if (jval_key_has_nul(s->doc, f)) {
			log_error("%s: a field name holds a NUL byte", s->api_path);
			return EXIT_DATA;
		}
		int r = fn(ctx, f->string);
		if (r)
			return r;
	}
	return 0;
}

void plan_describe(const struct plan *p, struct strbuf *out)
{
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (p->s[i].same || !p->s[i].api_path)
			continue;
		sb_adds(out, k++ ? ", " : "");
		sb_adds(out, p->s[i].api_path);
		if (p->s[i].version)
			sb_addf(out, "?version=%llu", (unsigned long long)p->s[i].version);
	}
}

size_t plan_count(const struct plan *p)
{
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++)
		if (!p->s[i].same && p->s[i].api_path)
			k++;
	return k;
}

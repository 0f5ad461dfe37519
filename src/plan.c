#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "jsonval.h"
#include "lease.h"
#include "log.h"
#include "strbuf.h"

enum sec_state { S_PENDING, S_OK, S_MISSING, S_DELETED, S_DESTROYED, S_NO_DATA };

/* How a path is read: KV v1 and a plain read are the same GET whose fields
 * are "data"; KV v2 inserts data/ after the mount and nests the fields
 * one level deeper.  A write is a POST with the parameters as body. */
enum sec_kind { K_PLAIN = 0, K_KV1 = 1, K_KV2 = 2 };

struct secret {
	char *path;            /* as the user wrote it, slashes trimmed */
	uint64_t version;      /* 0 = current; part of the lookup key */
	char *params;          /* raw PATH?PARAMS text (a write); part of the key */
	char *body;            /* the write's JSON body (may hold a secret) */
	uint64_t meta_version; /* the version Vault reported, for messages */
	char *meta_path;       /* KV v2: <mount>/metadata/<rest>, for change polls */
	bool meta_refused;     /* the metadata read was refused: poll by reading */
	struct secret *same;   /* another entry that resolved to the same read */
	char *api_path;        /* v1/... path, for dedup */
	char *disp;            /* api_path and the namespace, for messages */
	char *hint;            /* why a miss may not be one: Vault's words, the flag */
	bool nowhere;          /* the miss is a missing mount or namespace */
	bool engine_known;     /* the mounts lookup named a non-KV engine */
	int kv;                /* enum sec_kind */
	enum sec_state state;
	struct jdoc *doc;
	const cJSON *data; /* the field map */
};

struct mount_info {
	char *mount; /* no trailing slash; NULL when the lookup was refused */
	int kv;      /* enum sec_kind */
	char *type;  /* the engine's type as the lookup said ("kv", "database") */
};

struct plan {
	const struct config *cfg;
	struct secret *s;
	size_t n;
	struct mount_info *mounts;
	size_t nmounts;
	struct strbuf *vals; /* looked-up values, wiped at the end */
	size_t nvals;
	struct lease_set leases;
	void (*on_first_lease)(void);
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
		free(p->s[i].params);
		secure_free_str(p->s[i].body);
		free(p->s[i].api_path);
		free(p->s[i].meta_path);
		free(p->s[i].disp);
		free(p->s[i].hint);
		jdoc_free(p->s[i].doc);
	}
	free(p->s);
	for (size_t i = 0; i < p->nmounts; i++) {
		free(p->mounts[i].mount);
		free(p->mounts[i].type);
	}
	free(p->mounts);
	lease_set_clear(&p->leases);
	for (size_t i = 0; i < p->nvals; i++)
		sb_wipe(&p->vals[i]);
	free(p->vals);
	free(p);
}

static char *trimmed(const char *path)
{
	size_t n = strlen(path);
	trim_slashes(&path, &n);
	return xstrndup(path, n);
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static struct secret *find(struct plan *p, const char *path, uint64_t version, const char *params)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->s[i].version == version && strcmp(p->s[i].path, path) == 0 &&
		    same_str(p->s[i].params, params))
			return &p->s[i];
	return NULL;
}

void plan_add(struct plan *p, const struct secref *ref)
{
	_cleanup_free_ char *path = trimmed(ref->path ? ref->path : p->cfg->default_path);
	if (find(p, path, ref->version, ref->params))
		return;
	ARRAY_GROW(p->s, p->n);
	p->s[p->n] = (struct secret){.path = steal_pointer(&path),
	                             .version = ref->version,
	                             .params = ref->params ? xstrdup(ref->params) : NULL};
	p->n++;
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
	sb_add_path(&sb, mount);
	if (kv_version == 2) {
		/* The KV v2 form secret/data/x is accepted as it is. */
		if (strncmp(rest, "data/", 5) == 0)
			rest += 5;
		sb_adds(&sb, "/data");
	}
	if (*rest) {
		sb_addc(&sb, '/');
		sb_add_path(&sb, rest);
	}
	return sb_steal(&sb);
}

static bool under(const char *path, const char *mount)
{
	size_t ml = strlen(mount);
	return strncmp(path, mount, ml) == 0 && (path[ml] == '/' || path[ml] == '\0');
}

/* The mount of a path when the KV version is given: --kv-mount when the
 * path lies under it, else the path's first segment. */
static char *guess_mount(const struct config *cfg, const char *path)
{
	if (under(path, cfg->kv_mount))
		return xstrdup(cfg->kv_mount);
	const char *slash = strchr(path, '/');
	return xstrndup(path, slash ? (size_t)(slash - path) : strlen(path));
}

/* Asks sys/internal/ui/mounts, which answers for the longest mount prefix
 * of the path with the engine's type (doc/vault-api.md, "Reading secrets"), once per
 * mount.  Returns 0 with *mi filled (mi->mount NULL: the lookup was
 * refused, with the status in *refused), or an exit code after logging. */
static int lookup_mount(struct plan *p, struct vault *v, const char *path, struct mount_info *mi,
                        long *refused, char *why, size_t whylen)
{
	for (size_t i = 0; i < p->nmounts; i++)
		if (under(path, p->mounts[i].mount)) {
			*mi = p->mounts[i];
			return 0;
		}
	struct strbuf api = STRBUF_INIT;
	sb_adds(&api, "sys/internal/ui/mounts/");
	sb_add_path(&api, path);
	struct vault_reply rep;
	int r = vault_request(v, "GET", api.buf, NULL, NULL, 0, &rep);
	sb_wipe(&api);
	if (r)
		return r;
	struct mount_info found = {0};
	if (rep.code == 200) {
		const cJSON *data = json_get(jdoc_root(rep.doc), "data");
		const char *mp = json_get_string(data, "path");
		const char *type = json_get_string(data, "type");
		const char *ver = json_get_string(json_get(data, "options"), "version");
		if (!mp || !*mp) {
			log_error("%s: sys/internal/ui/mounts gave no mount path", path);
			vault_reply_clear(&rep);
			return EXIT_DATA;
		}
		found.mount = trimmed(mp);
		found.type = xstrdup(type ? type : "?");
		/* "generic" is what very old Vault called KV. */
		if (type && (strcmp(type, "kv") == 0 || strcmp(type, "generic") == 0))
			found.kv = ver && strcmp(ver, "2") == 0 ? K_KV2 : K_KV1;
		else
			found.kv = K_PLAIN;
	} else if (rep.code == 404) {
		/* Vault older than 0.10 has no such endpoint: KV v1, which is
		 * read like any other path. */
		found.mount = guess_mount(p->cfg, path);
		found.type = xstrdup("kv");
		found.kv = K_KV1;
	} else {
		char m[300];
		vault_error_line(&rep, m, sizeof(m));
		snprintf(why, whylen, "HTTP %ld%s%s", rep.code, *m ? ": " : "", m);
		*refused = rep.code;
		vault_reply_clear(&rep);
		memset(mi, 0, sizeof(*mi));
		return 0;
	}
	vault_reply_clear(&rep);
	log_debug("%s: mount %s is %s%s", path, found.mount, found.type,
	          found.kv == K_KV2   ? " (KV v2)"
	          : found.kv == K_KV1 ? " (KV v1)"
	                              : "");
	ARRAY_GROW(p->mounts, p->nmounts);
	p->mounts[p->nmounts++] = found;
	*mi = found;
	return 0;
}

/* The JSON body of a write: every parameter as a string. */
static char *params_body(const char *params)
{
	cJSON *o = cJSON_CreateObject();
	struct strbuf n = STRBUF_INIT, val = STRBUF_INIT;
	char err[160];
	const char *it = params;
	/* Checked by secref_parse already: cannot fail here. */
	while (secref_param_next(&it, &n, &val, err, sizeof(err)) == 1) {
		cJSON_DeleteItemFromObjectCaseSensitive(o, n.buf);
		cJSON_AddItemToObject(o, n.buf, cJSON_CreateString(val.buf ? val.buf : ""));
		sb_reset(&n);
		sb_reset(&val);
	}
	sb_wipe(&n);
	sb_wipe(&val);
	char *text = cJSON_PrintUnformatted(o);
	if (!text)
		die(EXIT_SOFTWARE, "out of memory");
	/* cJSON frees without wiping: the values may be secrets. */
	for (cJSON *c = o->child; c; c = c->next)
		if (c->valuestring) {
			secure_free_str(c->valuestring);
			c->valuestring = NULL;
		}
	cJSON_Delete(o);
	return text;
}

/* The request path of s read as kind kv under mount (NULL: as written),
 * and the name messages use for it. */
static void set_api_path(struct plan *p, struct secret *s, const char *mount, int kv)
{
	free(s->api_path);
	free(s->disp);
	s->kv = kv;
	if (kv == K_PLAIN || !mount) {
		struct strbuf sb = STRBUF_INIT;
		sb_add_path(&sb, s->path);
		s->api_path = sb_steal(&sb);
	} else {
		s->api_path = plan_api_path(mount, kv, s->path);
	}
	free(s->meta_path);
	s->meta_path = NULL;
	if (kv == K_KV2 && mount) {
		/* <escaped mount>/data/<rest> -> <escaped mount>/metadata/<rest> */
		_cleanup_free_ char *m = plan_api_path(mount, K_KV1, mount);
		size_t ml = strlen(m);
		if (strncmp(s->api_path + ml, "/data", 5) == 0)
			s->meta_path = xasprintf("%s/metadata%s", m, s->api_path + ml + 5);
	}
	/* The same path is another secret in another namespace. */
	const char *ns = p->cfg->namespace_;
	s->disp =
	    ns && *ns ? xasprintf("%s (namespace %s)", s->api_path, ns) : xstrdup(s->api_path);
}

/* Which request reads a secret.  A path under --kv-mount follows the KV
 * rules (--kv-version, or the lookup with auto); any other path is looked
 * up: a KV mount follows the KV rules (--kv-version when given, else the
 * mount's own version), any other engine is a plain GET, and a refused
 * lookup reads the path as written.  A path with parameters is a POST. */
static int resolve(struct plan *p, struct vault *v, struct secret *s)
{
	const struct config *cfg = p->cfg;
	struct mount_info mi = {0};
	_cleanup_free_ char *guessed = NULL;
	bool kv_mount = under(s->path, cfg->kv_mount);
	char why[360] = "";
	long refused = 0;
	int r;
	if (s->params && kv_mount) {
		log_error("%s?...: a write (PATH?PARAMS) to the KV mount %s would overwrite a "
		          "secret; drop the parameters to read it",
		          s->path, cfg->kv_mount);
		return EXIT_USAGE;
	}
	if (kv_mount && cfg->kv_version != KV_AUTO) {
		guessed = guess_mount(cfg, s->path);
		mi.mount = guessed;
		mi.kv = (int)cfg->kv_version;
	} else if ((r = lookup_mount(p, v, s->path, &mi, &refused, why, sizeof(why)))) {
		return r;
	} else if (!mi.mount && kv_mount && refused == 403 && vault_token_check(v) == 0) {
		/* A dead token is refused everything: no KV-version advice. */
		return vault_token_invalid_error(v, s->path);
	} else if (!mi.mount && kv_mount) {
		log_error("%s: cannot detect the KV version (%s): no permission on the mount or no "
		          "such mount; give --kv-version 1 or 2",
		          s->path, why);
		return refused == 403 ? EXIT_NOPERM : EXIT_DATA;
	} else if (!mi.mount && cfg->kv_version_given && cfg->kv_version != KV_AUTO && !s->params) {
		/* As before the lookup existed: a forced version, the mount
		 * guessed from the first segment. */
		guessed = guess_mount(cfg, s->path);
		mi.mount = guessed;
		mi.kv = (int)cfg->kv_version;
		log_debug("%s: the mounts lookup was refused (%s); reading it as KV v%d "
		          "(--kv-version)",
		          s->path, why, mi.kv);
	} else if (!mi.mount) {
		log_debug("%s: the mounts lookup was refused (%s); reading the path as written",
		          s->path, why);
	} else if (mi.kv != K_PLAIN && !kv_mount && cfg->kv_version_given &&
	           cfg->kv_version != KV_AUTO) {
		mi.kv = (int)cfg->kv_version;
	}
	if (s->params && mi.kv != K_PLAIN) {
		log_error("%s?...: a write (PATH?PARAMS) to the KV mount %s would overwrite a "
		          "secret; drop the parameters to read it",
		          s->path, mi.mount);
		return EXIT_USAGE;
	}
	set_api_path(p, s, mi.mount, mi.kv);
	s->engine_known = mi.mount && mi.kv == K_PLAIN;
	if (s->params)
		s->body = params_body(s->params);
	if (s->version && s->kv != K_KV2) {
		log_error("%s#...#%llu: versions exist only in KV v2 (this is %s)", s->path,
		          (unsigned long long)s->version,
		          s->kv == K_KV1 ? "KV v1"
		          : mi.type      ? mi.type
		                         : "not a KV v2 mount");
		return EXIT_USAGE;
	}
	return 0;
}

/* A KV v2 404 with data.data null is a deleted or destroyed version; a
 * bare 404 is a missing secret (doc/vault-api.md, "Reading secrets"). */
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

static const char *method_of(const struct secret *s)
{
	return s->params ? "POST" : "GET";
}

/* What a 404 says beyond "missing": OpenBao explains some misses only in
 * its answer ("Invalid path for a versioned K/V secrets engine" among the
 * warnings, "no handler for route" or "namespace not found" as errors). */
static void miss_hint(struct plan *p, struct secret *s, const struct vault_reply *rep)
{
	struct strbuf w = STRBUF_INIT;
	vault_error_text(rep, &w);
	free(s->hint);
	s->hint = NULL;
	s->nowhere = true;
	if (strstr(w.buf, "namespace not found") && p->cfg->namespace_)
		s->hint = xasprintf("namespace %s does not exist", p->cfg->namespace_);
	else if (strstr(w.buf, "no handler for route"))
		s->hint = xstrdup("no secrets engine is mounted there");
	else
		s->nowhere = false;
	if (!s->hint) {
		sb_reset(&w);
		vault_warnings_text(rep, &w);
		s->hint = w.len ? xasprintf("OpenBao says: %s", w.buf) : NULL;
	}
	sb_wipe(&w);
}

/* A 200 answer to a read or write: its data, or why it has none. */
static int read_ok(struct secret *s, struct vault_reply *rep)
{
	int r = 0;
	const cJSON *data = json_get(jdoc_root(rep->doc), "data");
	if (s->kv == K_KV2)
		data = json_get(data, "data");
	if (!rep->doc) {
		log_error("%s: the answer is not valid JSON", s->disp);
		r = EXIT_DATA;
	} else if (s->kv == K_KV2 && cJSON_IsNull(data)) {
		read_v2_deleted(s, rep);
	} else if (s->kv == K_PLAIN && (!data || cJSON_IsNull(data))) {
		s->state = S_NO_DATA;
	} else if (!cJSON_IsObject(data)) {
		log_error("%s: the answer has no data object%s", s->disp,
		          s->kv == K_KV2 ? " (is this a KV v1 mount? try --kv-version 1)" : "");
		r = EXIT_DATA;
	} else {
		s->state = S_OK;
		s->data = data;
		if (s->kv == K_KV2) {
			const cJSON *ver = json_get(
			    json_get(json_get(jdoc_root(rep->doc), "data"), "metadata"), "version");
			if (cJSON_IsNumber(ver) && ver->valuedouble >= 0 &&
			    ver->valuedouble < 9223372036854775808.0)
				s->meta_version = (uint64_t)ver->valuedouble;
		}
		s->doc = steal_pointer(&rep->doc);
	}
	return r;
}

/* A 403 on a dynamic path (database/creds/ROLE, pki/issue/ROLE) is most
 * often a mistyped role: the policy names the right one, and Vault says
 * only "permission denied".  When the token may list the mount's roles,
 * say whether ROLE is one of them; NULL when there is nothing to add. */
static char *role_hint(struct plan *p, struct vault *v, const struct secret *s)
{
	const struct mount_info *m = NULL;
	for (size_t i = 0; i < p->nmounts && !m; i++)
		if (p->mounts[i].mount && p->mounts[i].kv == K_PLAIN &&
		    under(s->path, p->mounts[i].mount))
			m = &p->mounts[i];
	if (!m)
		return NULL;
	const char *kind = s->path + strlen(m->mount) + 1, *role = strchr(kind, '/');
	if (!role || strchr(role + 1, '/') || !role[1])
		return NULL;
	size_t kl = (size_t)(role++ - kind);
	static const char *const kinds[][2] = {{"creds", "roles"},
	                                       {"static-creds", "static-roles"},
	                                       {"issue", "roles"},
	                                       {"sign", "roles"}};
	const char *list = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(kinds) && !list; i++)
		if (strlen(kinds[i][0]) == kl && strncmp(kind, kinds[i][0], kl) == 0)
			list = kinds[i][1];
	if (!list)
		return NULL;
	struct strbuf api = STRBUF_INIT;
	sb_add_path(&api, m->mount);
	sb_addf(&api, "/%s", list);
	struct vault_reply rep;
	if (vault_request(v, "GET", api.buf, "list=true", NULL, 0, &rep)) {
		sb_wipe(&api);
		return NULL;
	}
	char *hint = NULL;
	const cJSON *keys = json_get(json_get(jdoc_root(rep.doc), "data"), "keys");
	if (rep.code == 200 && cJSON_IsArray(keys)) {
		struct strbuf names = STRBUF_INIT;
		bool found = false;
		int shown = 0;
		const cJSON *it;
		cJSON_ArrayForEach(it, keys)
		{
			if (!cJSON_IsString(it))
				continue;
			found |= strcmp(it->valuestring, role) == 0;
			if (shown++ < 10)
				sb_addf(&names, "%s%s", names.len ? ", " : "", it->valuestring);
		}
		if (!found)
			hint = xasprintf("no such role? %s lists %s%s", api.buf, names.buf,
			                 shown > 10 ? ", ..." : "");
		sb_wipe(&names);
	} else if (rep.code == 404) {
		hint = xasprintf("no such role? %s lists none", api.buf);
	} else {
		hint =
		    xasprintf("or the path is mistyped: no role '%s'? (the token may not list %s)",
		              role, api.buf);
	}
	vault_reply_clear(&rep);
	sb_wipe(&api);
	return hint;
}

static int fetch_one(struct plan *p, struct vault *v, struct secret *s)
{
	char query[40] = "";
	if (s->version)
		snprintf(query, sizeof(query), "version=%llu", (unsigned long long)s->version);
	struct vault_reply rep;
	int r = vault_request(v, method_of(s), s->api_path, s->version ? query : NULL, s->body,
	                      s->kv == K_PLAIN ? 0 : VREQ_KV_UPGRADE, &rep);
	if (r)
		return r;
	/* Remembered first, whatever follows: a lease taken must be revocable
	 * even when its answer turns out to be unusable. */
	if (rep.code >= 200 && rep.code < 300) {
		time_t end;
		if (lease_take(&p->leases, &rep, s->path, method_of(s), s->api_path, s->body)) {
			if (lease_count(&p->leases) == 1 && p->on_first_lease)
				p->on_first_lease();
		} else if (s->kv == K_PLAIN &&
		           lease_expiry_of(json_get(jdoc_root(rep.doc), "data"), &end)) {
			/* A certificate without a lease: its own end is its clock. */
			lease_take_expiry(&p->leases, end, s->path, method_of(s), s->api_path,
			                  s->body);
		}
	}
	switch (rep.code) {
	case 200:
		r = read_ok(s, &rep);
		break;
	case 204:
		s->state = s->kv == K_PLAIN ? S_NO_DATA : S_MISSING;
		break;
	case 404:
		if (s->kv == K_KV2 && rep.doc)
			read_v2_deleted(s, &rep);
		else
			s->state = S_MISSING;
		if (s->state == S_MISSING)
			miss_hint(p, s, &rep);
		break;
	case 401:
	case 403: {
		_cleanup_free_ char *what = xasprintf("%s %s", method_of(s), s->disp);
		_cleanup_free_ char *hint = role_hint(p, v, s);
		r = vault_explain_denied(v, what, s->api_path, s->params ? "update" : "read", &rep,
		                         hint);
		break;
	}
	default: {
		/* 405 on a GET: an endpoint that only takes writes, such as
		 * pki/issue/ROLE. */
		char m[300];
		vault_error_line(&rep, m, sizeof(m));
		log_error("%s %s: HTTP %ld%s%s%s", method_of(s), s->disp, rep.code, *m ? ": " : "",
		          m,
		          rep.code == 405 && !s->params
		              ? " (an endpoint that needs parameters? PATH?NAME=VALUE#FIELD writes)"
		              : "");
		r = EXIT_DATA;
	}
	}
	vault_reply_clear(&rep);
	return r;
}

/* A miss with a fixed --kv-version (v2 is the default) is often the
 * other version's mount: the mounts lookup after the miss tells, and the
 * secret is then read the right way, with a warning naming the flag.
 * When the lookup is refused, the message names the flag instead. */
static int recheck_kv_version(struct plan *p, struct vault *v, struct secret *s)
{
	struct mount_info mi = {0};
	long refused = 0;
	char why[360] = "";
	int r = lookup_mount(p, v, s->path, &mi, &refused, why, sizeof(why));
	if (r)
		return r;
	int other = s->kv == K_KV2 ? K_KV1 : K_KV2;
	_cleanup_free_ char *flag = NULL;
	if (!mi.mount) {
		_cleanup_free_ char *guess = guess_mount(p->cfg, s->path);
		flag = xasprintf("if %s is a KV v%d mount, give --kv-version %d (or auto)", guess,
		                 other, other);
	} else if (mi.kv == K_PLAIN) {
		flag =
		    xasprintf("%s is a %s mount, not KV", mi.mount, mi.type ? mi.type : "non-KV");
	} else if (mi.kv != s->kv && !(s->version && mi.kv == K_KV1)) {
		log_warn("%s: %s is a KV v%d mount, not v%d: reading it as v%d (give --kv-version "
		         "%d or auto to say so)",
		         s->path, mi.mount, mi.kv, s->kv, mi.kv, mi.kv);
		set_api_path(p, s, mi.mount, mi.kv);
		free(s->hint);
		s->hint = NULL;
		return fetch_one(p, v, s);
	}
	if (flag) {
		char *h = s->hint ? xasprintf("%s; %s", s->hint, flag) : steal_pointer(&flag);
		free(s->hint);
		s->hint = h;
	}
	return 0;
}

int plan_fetch(struct plan *p, struct vault *v)
{
	for (size_t i = 0; i < p->n; i++) {
		struct secret *s = &p->s[i];
		int r = resolve(p, v, s);
		if (r)
			return r;
		/* secret/x and secret/data/x are the same read; a write is
		 * the same only with the same parameters. */
		for (size_t j = 0; j < i; j++)
			if (!p->s[j].same && p->s[j].version == s->version &&
			    strcmp(p->s[j].api_path, s->api_path) == 0 &&
			    same_str(p->s[j].params, s->params)) {
				s->same = &p->s[j];
				break;
			}
		if (s->same)
			continue;
		r = fetch_one(p, v, s);
		if (!r && s->state == S_MISSING && (s->kv == K_KV1 || s->kv == K_KV2) &&
		    p->cfg->kv_version != KV_AUTO && !s->nowhere)
			r = recheck_kv_version(p, v, s);
		if (r)
			return r;
		log_debug("%s %s: %s", method_of(s), s->api_path, s->params ? "written" : "read");
	}
	return 0;
}

static bool leased(const struct plan *p, const struct secret *s, const struct lease *only)
{
	/* (an empty set may have no array; says so to clang-tidy's analyzer too) */
	for (size_t i = 0; p->leases.v && i < p->leases.n; i++) {
		const struct lease *l = &p->leases.v[i];
		if ((only ? l == only : !l->revoked && !l->replaced) &&
		    strcmp(l->api_path, s->api_path) == 0 && same_str(l->body, s->body))
			return true;
	}
	return false;
}

/* What a poll reads again: KV, reads of a mount the lookup could not
 * name (it may be KV), and static credentials (database/static-creds,
 * ldap/static-cred: the answer tells their rotation), whose password
 * changes in place, on schedule or by rotate-role.  A write (a
 * certificate issued, a decryption) is done again only by its expiry,
 * never at each poll; another engine's read without a lease or expiry is
 * read once per run. */
static bool polled(const struct secret *s)
{
	return !s->params && (!s->engine_known || json_get(s->data, "last_vault_rotation") ||
	                      json_get(s->data, "rotation_period"));
}

void plan_outlook(const struct plan *p, struct plan_outlook *o)
{
	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < p->n; i++) {
		const struct secret *s = &p->s[i];
		if (s->same || !s->api_path)
			continue;
		/* A lease is renewed and replaced at its end, a value with an
		 * expiry (in the set too) fetched again; a polled read of the
		 * current version may change; a pinned version never does, nor
		 * what is read once per run. */
		if (leased(p, s, NULL) || (polled(s) && !s->version))
			o->can_change = true;
	}
}

/* KV v2 change polls read the metadata, not the values: 1 when the
 * current version is still the one read (not deleted, not destroyed), 0
 * when it changed or cannot be told (then the secret is read again). */
static int kv2_unchanged(struct vault *v, struct secret *s)
{
	if (s->kv != K_KV2 || s->version || !s->meta_path || s->meta_refused || s->state != S_OK ||
	    !s->meta_version)
		return 0;
	struct vault_reply rep;
	if (vault_request(v, "GET", s->meta_path, NULL, NULL, 0, &rep))
		return -1;
	int same = 0;
	if (rep.code == 200) {
		const cJSON *data = json_get(jdoc_root(rep.doc), "data");
		const cJSON *cur = json_get(data, "current_version");
		char key[24];
		snprintf(key, sizeof(key), "%llu", (unsigned long long)s->meta_version);
		const cJSON *ver = json_get(json_get(data, "versions"), key);
		const char *del = json_get_string(ver, "deletion_time");
		same = cJSON_IsNumber(cur) && cur->valuedouble == (double)s->meta_version &&
		       !cJSON_IsTrue(json_get(ver, "destroyed")) && (!del || !*del);
	} else {
		/* Policies often grant data/ but not metadata/: read instead. */
		log_debug("%s: HTTP %ld; polling by reading the secret", s->meta_path, rep.code);
		s->meta_refused = true;
	}
	vault_reply_clear(&rep);
	return same;
}

size_t plan_polled_count(const struct plan *p)
{
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++)
		if (!p->s[i].same && p->s[i].api_path && polled(&p->s[i]) &&
		    !leased(p, &p->s[i], NULL))
			k++;
	return k;
}

int plan_refetch(struct plan *p, struct vault *v, size_t lease_index)
{
	for (size_t i = 0; i < p->nvals; i++)
		sb_wipe(&p->vals[i]);
	p->nvals = 0;
	/* Picked before any fetch: a fetch may add leases (and move the set). */
	bool *pick = xcalloc(p->n + 1, sizeof(*pick));
	const struct lease *only = lease_index < p->leases.n ? &p->leases.v[lease_index] : NULL;
	for (size_t i = 0; i < p->n; i++) {
		const struct secret *s = &p->s[i];
		if (!s->same && s->api_path)
			pick[i] = only ? leased(p, s, only) : polled(s) && !leased(p, s, NULL);
	}
	int r = 0;
	for (size_t i = 0; i < p->n && !r; i++) {
		if (!pick[i])
			continue;
		struct secret *s = &p->s[i];
		if (!only) {
			int same = kv2_unchanged(v, s);
			if (same < 0) {
				r = EXIT_UNAVAILABLE;
				break;
			}
			if (same)
				continue;
		}
		struct secret fresh = *s;
		fresh.doc = NULL;
		fresh.data = NULL;
		fresh.state = S_PENDING;
		fresh.meta_version = 0;
		r = fetch_one(p, v, &fresh);
		s = &p->s[i];
		if (r) {
			jdoc_free(fresh.doc);
			break;
		}
		jdoc_free(s->doc);
		s->doc = fresh.doc;
		s->data = fresh.data;
		s->state = fresh.state;
		s->meta_version = fresh.meta_version;
	}
	free(pick);
	if (!r && lease_index < p->leases.n)
		p->leases.v[lease_index].replaced = true;
	return r;
}

struct lease_set *plan_leases(struct plan *p)
{
	return p ? &p->leases : NULL;
}

void plan_on_first_lease(struct plan *p, void (*fn)(void))
{
	p->on_first_lease = fn;
}

static struct secret *target(struct plan *p, const char *path, uint64_t version, const char *params)
{
	_cleanup_free_ char *t = trimmed(path ? path : p->cfg->default_path);
	struct secret *s = find(p, t, version, params);
	while (s && s->same)
		s = s->same;
	return s;
}

static void missing_reason(const struct secret *s, char *why, size_t whylen)
{
	uint64_t v = s->version ? s->version : s->meta_version;
	const char *what = s->state == S_DESTROYED ? "destroyed" : "deleted";
	switch (s->state) {
	case S_DELETED:
	case S_DESTROYED:
		if (v)
			snprintf(why, whylen, "%s: version %llu is %s", s->disp,
			         (unsigned long long)v, what);
		else
			snprintf(why, whylen, "%s: the current version is %s", s->disp, what);
		break;
	case S_NO_DATA:
		snprintf(why, whylen, "%s %s: the answer has no data", method_of(s), s->disp);
		break;
	default:
		if (s->version)
			snprintf(why, whylen, "%s: no such secret or version %llu", s->disp,
			         (unsigned long long)s->version);
		else
			snprintf(why, whylen, "%s: no such secret%s%s%s", s->disp,
			         s->hint ? " (" : "", s->hint ? s->hint : "", s->hint ? ")" : "");
	}
}

/* For a field that is not there: the closest name and the names the
 * secret has (names only; a field name is no secret, its value is). */
static void field_hint(const struct secret *s, const char *want, struct strbuf *out)
{
	size_t n = (size_t)cJSON_GetArraySize(s->data);
	const char **names = xcalloc(n + 1, sizeof(*names));
	size_t k = 0;
	const cJSON *f;
	cJSON_ArrayForEach(f, s->data)
	{
		if (f->string && !jval_key_has_nul(s->doc, f))
			names[k++] = f->string;
	}
	const char *near = closest_name(want, names, k);
	sb_adds(out, " (");
	if (near)
		sb_addf(out, "did you mean '%s'? ", near);
	if (k == 0) {
		sb_adds(out, "the secret has no fields)");
	} else {
		sb_adds(out, "the secret's fields: ");
		size_t shown = 0;
		for (; shown < k && shown < 20 && out->len < 200; shown++)
			sb_addf(out, "%s%s", shown ? ", " : "", names[shown]);
		if (shown < k)
			sb_addf(out, " and %zu more", k - shown);
		sb_addc(out, ')');
	}
	free(names);
}

enum lookup_result plan_lookup(struct plan *p, const struct secref *ref, const char **val,
                               size_t *len, char *why, size_t whylen)
{
	struct secret *s = target(p, ref->path, ref->version, ref->params);
	if (!s) {
		log_error("internal error: the secret of field %s was not read", ref->field);
		return LOOKUP_BUG;
	}
	if (s->state != S_OK) {
		missing_reason(s, why, whylen);
		return LOOKUP_MISSING;
	}
	const cJSON *node = json_get(s->data, ref->field);
	if (!node) {
		struct strbuf sb = STRBUF_INIT;
		field_hint(s, ref->field, &sb);
		snprintf(why, whylen, "%s: no field '%s'%s", s->disp, ref->field, sb.buf);
		sb_wipe(&sb);
		return LOOKUP_MISSING;
	}
	if (cJSON_IsNull(node)) {
		snprintf(why, whylen, "%s: no field '%s' (it is null)", s->disp, ref->field);
		return LOOKUP_MISSING;
	}
	struct strbuf sb = STRBUF_INIT;
	enum jval_result jr = jval_to_text(s->doc, node, &sb);
	if (jr == JVAL_HAS_NUL) {
		sb_wipe(&sb);
		log_error("%s: field '%s' holds a NUL byte, which no environment variable or "
		          "file template can carry",
		          s->disp, ref->field);
		return LOOKUP_FAILED;
	}
	ARRAY_GROW(p->vals, p->nvals);
	if (!sb.buf)
		sb_grow(&sb, 0);
	p->vals[p->nvals++] = sb;
	*val = sb.buf;
	*len = sb.len;
	return LOOKUP_FOUND;
}

int lookup_exit_code(enum lookup_result r)
{
	return r == LOOKUP_FAILED ? EXIT_DATA : r == LOOKUP_BUG ? EXIT_SOFTWARE : 0;
}

enum lookup_result plan_secret_state(struct plan *p, const struct secref *ref, char *why,
                                     size_t whylen)
{
	struct secret *s = target(p, ref->path, ref->version, ref->params);
	if (!s) {
		log_error("internal error: the secret %s was not read", ref->path ? ref->path : "");
		return LOOKUP_BUG;
	}
	if (s->state == S_OK)
		return LOOKUP_FOUND;
	missing_reason(s, why, whylen);
	return LOOKUP_MISSING;
}

int plan_each_field(struct plan *p, const struct secref *ref, plan_field_fn fn, void *ctx)
{
	struct secret *s = target(p, ref->path, ref->version, ref->params);
	if (!s || s->state != S_OK)
		return EXIT_SOFTWARE; /* plan_secret_state says FOUND first */
	const cJSON *f;
	cJSON_ArrayForEach(f, s->data)
	{
		if (jval_key_has_nul(s->doc, f)) {
			log_error("%s: a field name holds a NUL byte", s->disp);
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
		if (p->s[i].params)
			sb_adds(out, "POST ");
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

#include "render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "strbuf.h"

/* One inherited variable with references: either the whole value is
 * vault:PATH#FIELD[#VERSION], or ${vault:PATH#FIELD} appears inside it. */
struct envref {
	char *name;
	char *value; /* the original value (references only, no secret) */
	struct secref *refs;
	size_t nrefs;
	bool whole;
};

static const char inline_open[] = "${vault:";

static int parse_envref(const char *entry, struct envref *out)
{
	const char *eq = strchr(entry, '=');
	/* "=value" names no variable: passed on untouched, never resolved
	 * (found by tests/fuzz/fuzz_kv). */
	if (!eq || eq == entry)
		return 0;
	const char *val = eq + 1;
	bool whole = strncmp(val, "vault:", 6) == 0;
	if (!whole && !strstr(val, inline_open))
		return 0;
	memset(out, 0, sizeof(*out));
	out->name = xstrndup(entry, (size_t)(eq - entry));
	out->value = xstrdup(val);
	out->whole = whole;
	char err[128];
	if (whole) {
		out->refs = xcalloc(1, sizeof(*out->refs));
		if (secref_parse(val + 6, strlen(val + 6), &out->refs[0], err, sizeof(err)) < 0 ||
		    !out->refs[0].path) {
			log_error("%s: bad vault: reference (%s; want vault:PATH#FIELD[#VERSION])",
			          out->name, out->refs[0].field ? "no '#FIELD'" : err);
			secref_clear(&out->refs[0]);
			return EXIT_USAGE;
		}
		out->nrefs = 1;
		return 1;
	}
	for (const char *p = strstr(val, inline_open); p; p = strstr(p, inline_open)) {
		const char *s = p + sizeof(inline_open) - 1;
		const char *e = strchr(s, '}');
		if (!e) {
			log_error("%s: unterminated ${vault: reference at column %zu", out->name,
			          (size_t)(p - val) + 1);
			return EXIT_USAGE;
		}
		ARRAY_GROW(out->refs, out->nrefs);
		struct secref *r = &out->refs[out->nrefs];
		int unparsable = secref_parse(s, (size_t)(e - s), r, err, sizeof(err)) < 0;
		if (unparsable || !r->path) {
			log_error("%s: bad ${vault:PATH#FIELD} reference at column %zu: %s",
			          out->name, (size_t)(p - val) + 1,
			          unparsable ? err : "no '#FIELD'");
			secref_clear(r);
			return EXIT_USAGE;
		}
		out->nrefs++;
		p = e + 1;
	}
	return 1;
}

static void envref_clear(struct envref *r)
{
	free(r->name);
	free(r->value);
	for (size_t i = 0; i < r->nrefs; i++)
		secref_clear(&r->refs[i]);
	free(r->refs);
}

static bool set_by_flags(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nmaps; i++)
		if (strcmp(cfg->maps[i].env, name) == 0)
			return true;
	for (size_t i = 0; i < cfg->nenvs; i++)
		if (strcmp(cfg->envs[i].name, name) == 0)
			return true;
	return false;
}

int job_prepare(struct job *j, const struct config *cfg, char **environ_, struct plan *p)
{
	memset(j, 0, sizeof(*j));
	j->cfg = cfg;
	j->inherited = environ_;
	char err[256];
	if (cfg->default_path) {
		struct secref def = {NULL, (char *)"", 0, NULL};
		plan_add(p, &def);
	}
	for (size_t i = 0; i < cfg->nmaps; i++)
		plan_add(p, &cfg->maps[i].ref);
	for (size_t i = 0; i < cfg->nfrom_paths; i++)
		plan_add(p, &cfg->from_paths[i]);
	j->env_t = xcalloc(cfg->nenvs, sizeof(*j->env_t));
	j->file_t = xcalloc(cfg->nfiles, sizeof(*j->file_t));
	for (int kind = 0; kind < 2; kind++) {
		const struct tmpl_spec *specs = kind ? cfg->files : cfg->envs;
		size_t n = kind ? cfg->nfiles : cfg->nenvs;
		struct tmpl **out = kind ? j->file_t : j->env_t;
		for (size_t i = 0; i < n; i++) {
			if (tmpl_parse(specs[i].text, &out[i], err, sizeof(err)) < 0) {
				log_error("%s: template %s", specs[i].origin, err);
				return EXIT_USAGE;
			}
			for (size_t k = 0; k < tmpl_ref_count(out[i]); k++) {
				const struct secref *r = tmpl_ref(out[i], k);
				if (!r->path && !cfg->default_path) {
					log_error(
					    "%s: {{ %s }} reads the default secret, but neither "
					    "--service nor --secret is given",
					    specs[i].origin, r->field);
					return EXIT_USAGE;
				}
				plan_add(p, r);
			}
		}
	}
	if (!cfg->env_refs)
		return 0;
	for (char **e = environ_; e && *e; e++) {
		if (strncmp(*e, "VAULTEXEC_", 10) == 0)
			continue;
		struct envref r;
		int k = parse_envref(*e, &r);
		if (k == 0)
			continue;
		if (k != 1) {
			envref_clear(&r);
			return k;
		}
		/* A --map or --env of the same name wins: its reference is not
		 * read, so a secret it names need not exist. */
		if (set_by_flags(cfg, r.name)) {
			envref_clear(&r);
			continue;
		}
		ARRAY_GROW(j->refs, j->nrefs);
		j->refs[j->nrefs++] = r;
		for (size_t i = 0; i < r.nrefs; i++)
			plan_add(p, &r.refs[i]);
	}
	return 0;
}

static void add_var(struct job *j, const char *name, struct strbuf *val, bool from_ref)
{
	ARRAY_GROW(j->vars, j->nvars);
	struct outvar *v = &j->vars[j->nvars++];
	v->name = xstrdup(name);
	v->from_env_ref = from_ref;
	if (val) {
		v->len = val->len;
		v->value = sb_steal(val);
	} else {
		v->value = NULL;
		v->len = 0;
	}
}

static bool var_set(const struct job *j, const char *name)
{
	for (size_t i = 0; i < j->nvars; i++)
		if (strcmp(j->vars[i].name, name) == 0)
			return true;
	return false;
}

/* What to do with a missing value: with --allow-missing a warning and
 * the variable (or file) left out (true), else an error (false: the run
 * fails with EXIT_DATA). */
static bool left_unset(const struct job *j, const char *what, const char *why)
{
	if (j->cfg->allow_missing) {
		log_warn("%s: left unset: %s", what, why);
		return true;
	}
	log_error("%s: %s", what, why);
	return false;
}

static int render_maps(struct job *j, struct plan *p)
{
	char why[512];
	for (size_t i = 0; i < j->cfg->nmaps; i++) {
		const struct map_spec *m = &j->cfg->maps[i];
		const char *val;
		size_t len;
		enum lookup_result lr = plan_lookup(p, &m->ref, &val, &len, why, sizeof(why));
		if (lr == LOOKUP_MISSING) {
			char what[300];
			snprintf(what, sizeof(what), "--map %s%s%s=%s",
			         m->ref.path ? m->ref.path : "", m->ref.path ? "#" : "",
			         m->ref.field, m->env);
			if (!left_unset(j, what, why))
				return EXIT_DATA;
			add_var(j, m->env, NULL, false);
			continue;
		}
		if (lr != LOOKUP_FOUND)
			return lookup_exit_code(lr);
		struct strbuf sb = STRBUF_INIT;
		sb_add(&sb, val, len);
		add_var(j, m->env, &sb, false);
	}
	return 0;
}

struct map_all_ctx {
	struct job *j;
	struct plan *p;
	size_t first; /* index of the first variable --map-all added */
};

char *render_map_all_name(const char *prefix, const char *field)
{
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, prefix ? prefix : "");
	for (const char *c = field; *c; c++) {
		char ch = *c;
		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		else if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'))
			ch = '_';
		sb_addc(&sb, ch);
	}
	if (sb.len == 0 || (sb.buf[0] >= '0' && sb.buf[0] <= '9')) {
		sb_wipe(&sb);
		return NULL;
	}
	return sb_steal(&sb);
}

/* One field of a whole-secret export (--map-all, VAULT_ENV_FROM_PATH) as
 * variable NAME; a null field sets nothing. */
static int add_field_var(struct job *j, struct plan *p, const struct secref *ref, const char *name)
{
	const char *val;
	size_t len;
	char why[512];
	enum lookup_result lr = plan_lookup(p, ref, &val, &len, why, sizeof(why));
	if (lr == LOOKUP_MISSING)
		return 0; /* null: nothing to set */
	if (lr != LOOKUP_FOUND)
		return lookup_exit_code(lr);
	struct strbuf sb = STRBUF_INIT;
	sb_add(&sb, val, len);
	add_var(j, name, &sb, false);
	return 0;
}

static int map_all_field(void *vctx, const char *field)
{
	struct map_all_ctx *c = vctx;
	_cleanup_free_ char *name = render_map_all_name(c->j->cfg->map_all_prefix, field);
	if (!name) {
		log_warn("--map-all: field '%s' gives no valid variable name; skipped (use --map)",
		         field);
		return 0;
	}
	for (size_t i = c->first; i < c->j->nvars; i++)
		if (strcmp(c->j->vars[i].name, name) == 0) {
			log_error(
			    "--map-all: two fields of %s both give variable %s; map them with "
			    "--map",
			    c->j->cfg->default_path, name);
			return EXIT_DATA;
		}
	/* An explicit --map or --env of the same name wins. */
	if (var_set(c->j, name))
		return 0;
	for (size_t i = 0; i < c->j->cfg->nenvs; i++)
		if (strcmp(c->j->cfg->envs[i].name, name) == 0)
			return 0;
	struct secref ref = {NULL, (char *)field, 0, NULL};
	return add_field_var(c->j, c->p, &ref, name);
}

struct lookup_ctx {
	struct plan *p;
	char why[512];
};

static int tmpl_lookup(void *vctx, const struct secref *ref, const char **val, size_t *len)
{
	struct lookup_ctx *c = vctx;
	/* The template callback's protocol: 0 found, 1 missing, else an exit code. */
	enum lookup_result lr = plan_lookup(c->p, ref, val, len, c->why, sizeof(c->why));
	return lr == LOOKUP_MISSING ? 1 : lookup_exit_code(lr);
}

static int render_templates(struct job *j, struct plan *p)
{
	char err[512];
	for (int kind = 0; kind < 2; kind++) {
		const struct tmpl_spec *specs = kind ? j->cfg->files : j->cfg->envs;
		size_t n = kind ? j->cfg->nfiles : j->cfg->nenvs;
		struct tmpl **ts = kind ? j->file_t : j->env_t;
		for (size_t i = 0; i < n; i++) {
			struct lookup_ctx lc = {p, ""};
			struct strbuf out = STRBUF_INIT;
			int r = tmpl_render(ts[i], tmpl_lookup, &lc, &out, err, sizeof(err));
			if (r == 1) {
				sb_wipe(&out);
				if (!left_unset(j, specs[i].origin, lc.why[0] ? lc.why : err))
					return EXIT_DATA;
			} else if (r == TMPL_FILTER_FAILED) {
				sb_wipe(&out);
				log_error("%s: %s", specs[i].origin, err);
				return EXIT_DATA;
			} else if (r) {
				sb_wipe(&out);
				return r;
			}
			if (kind == 0) {
				add_var(j, specs[i].name, r == 1 ? NULL : &out, false);
				continue;
			}
			if (r == 0 && out.len != strlen(out.buf ? out.buf : "")) {
				/* cannot happen: values never hold NUL */
				sb_wipe(&out);
				return EXIT_SOFTWARE;
			}
			ARRAY_GROW(j->files, j->nfiles);
			struct outfile *f = &j->files[j->nfiles++];
			f->path = xstrdup(specs[i].name);
			f->len = r == 1 ? 0 : out.len;
			f->content = r == 1 ? NULL : sb_steal(&out);
		}
	}
	return 0;
}

static int render_envrefs(struct job *j, struct plan *p)
{
	char why[512];
	for (size_t i = 0; i < j->nrefs; i++) {
		const struct envref *e = &j->refs[i];
		struct strbuf sb = STRBUF_INIT;
		const char *val;
		size_t len;
		enum lookup_result lr = LOOKUP_FOUND;
		if (e->whole) {
			lr = plan_lookup(p, &e->refs[0], &val, &len, why, sizeof(why));
			if (lr == LOOKUP_FOUND)
				sb_add(&sb, val, len);
		} else {
			const char *s = e->value;
			for (size_t k = 0; k < e->nrefs && lr == LOOKUP_FOUND; k++) {
				const char *o = strstr(s, inline_open);
				const char *close = strchr(o, '}');
				sb_add(&sb, s, (size_t)(o - s));
				lr = plan_lookup(p, &e->refs[k], &val, &len, why, sizeof(why));
				if (lr == LOOKUP_FOUND)
					sb_add(&sb, val, len);
				s = close + 1;
			}
			if (lr == LOOKUP_FOUND)
				sb_adds(&sb, s);
		}
		if (lr != LOOKUP_FOUND)
			sb_wipe(&sb);
		if (lr == LOOKUP_MISSING) {
			if (!left_unset(j, e->name, why))
				return EXIT_DATA;
			add_var(j, e->name, NULL, true);
			continue;
		}
		if (lr != LOOKUP_FOUND)
			return lookup_exit_code(lr);
		if (var_set(j, e->name)) {
			sb_wipe(&sb);
			continue; /* --map / --env of the same name wins */
		}
		add_var(j, e->name, &sb, true);
	}
	return 0;
}

struct from_path_ctx {
	struct job *j;
	struct plan *p;
	const struct secref *ref;
};

/* vault-env's VAULT_ENV_FROM_PATH: each field a variable of the same name
 * (not upper-cased).  A variable already set, inherited or by a reference,
 * stays: vault-env appends a duplicate, which getenv() does not see. */
static int from_path_field(void *vctx, const char *field)
{
	struct from_path_ctx *c = vctx;
	if (!*field || strchr(field, '=')) {
		log_warn("VAULT_ENV_FROM_PATH %s: field '%s' cannot be a variable name; skipped",
		         c->ref->path, field);
		return 0;
	}
	if (var_set(c->j, field) || env_lookup(c->j->inherited, field)) {
		log_warn("VAULT_ENV_FROM_PATH %s: variable %s is already set; field '%s' skipped",
		         c->ref->path, field, field);
		return 0;
	}
	struct secref ref = {c->ref->path, (char *)field, c->ref->version, NULL};
	return add_field_var(c->j, c->p, &ref, field);
}

static int render_from_path(struct job *j, struct plan *p, const struct secref *ref)
{
	struct from_path_ctx c = {j, p, ref};
	char why[512];
	enum lookup_result lr = plan_secret_state(p, ref, why, sizeof(why));
	if (lr == LOOKUP_MISSING) {
		_cleanup_free_ char *what = xasprintf("VAULT_ENV_FROM_PATH %s", ref->path);
		return left_unset(j, what, why) ? 0 : EXIT_DATA;
	}
	if (lr != LOOKUP_FOUND)
		return lookup_exit_code(lr);
	return plan_each_field(p, ref, from_path_field, &c);
}

int job_render(struct job *j, struct plan *p)
{
	int r = render_maps(j, p);
	if (!r)
		r = render_templates(j, p);
	if (!r && j->cfg->map_all) {
		struct map_all_ctx c = {j, p, j->nvars};
		char why[512];
		struct secref def = {NULL, (char *)"", 0, NULL};
		enum lookup_result lr = plan_secret_state(p, &def, why, sizeof(why));
		if (lr == LOOKUP_MISSING)
			r = left_unset(j, "--map-all", why) ? 0 : EXIT_DATA;
		else if (lr != LOOKUP_FOUND)
			r = lookup_exit_code(lr);
		else
			r = plan_each_field(p, &def, map_all_field, &c);
	}
	if (!r)
		r = render_envrefs(j, p);
	for (size_t i = 0; !r && i < j->cfg->nfrom_paths; i++)
		r = render_from_path(j, p, &j->cfg->from_paths[i]);
	return r;
}

void job_free(struct job *j)
{
	if (j->env_t)
		for (size_t i = 0; i < j->cfg->nenvs; i++)
			tmpl_free(j->env_t[i]);
	if (j->file_t)
		for (size_t i = 0; i < j->cfg->nfiles; i++)
			tmpl_free(j->file_t[i]);
	free(j->env_t);
	free(j->file_t);
	for (size_t i = 0; i < j->nrefs; i++)
		envref_clear(&j->refs[i]);
	free(j->refs);
	for (size_t i = 0; i < j->nvars; i++) {
		free(j->vars[i].name);
		if (j->vars[i].value)
			secure_free(j->vars[i].value, j->vars[i].len);
	}
	free(j->vars);
	for (size_t i = 0; i < j->nfiles; i++) {
		free(j->files[i].path);
		if (j->files[i].content)
			secure_free(j->files[i].content, j->files[i].len);
	}
	free(j->files);
	memset(j, 0, sizeof(*j));
}

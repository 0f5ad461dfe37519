#include "template.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>

#include "jsonval.h"
#include "log.h"
#include "strbuf.h"

enum filter_kind {
	F_URLENCODE,
	F_BASE64,
	F_JSON,
	F_DEFAULT,
	F_TRIM,
	F_UPPER,
	F_LOWER,
	F_JOIN,
	F_BASE64DECODE,
};

static const struct {
	const char *name;
	enum filter_kind kind;
} filter_names[] = {
    {"urlencode", F_URLENCODE}, {"base64", F_BASE64}, {"json", F_JSON},
    {"default", F_DEFAULT},     {"trim", F_TRIM},     {"upper", F_UPPER},
    {"lower", F_LOWER},         {"join", F_JOIN},     {"base64decode", F_BASE64DECODE},
};

struct filter {
	enum filter_kind kind;
	char *arg; /* default's value; NULL for the others */
	size_t arglen;
};

#define NO_REF SIZE_MAX

/* A text node is literal output.  An expression node takes its value from
 * a ref, or from a string literal held in text, then runs its filters. */
struct node {
	bool is_expr;
	char *text;
	size_t len;
	size_t ref; /* index into tmpl.refs, or NO_REF */
	struct filter *filters;
	size_t nfilters;
};

struct ref_entry {
	struct secref ref;
	bool has_default;
};

struct tmpl {
	struct node *nodes;
	size_t nnodes;
	struct ref_entry *refs;
	size_t nrefs;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static struct node *add_node(struct tmpl *t)
{
	ARRAY_GROW(t->nodes, t->nnodes);
	struct node *n = &t->nodes[t->nnodes++];
	memset(n, 0, sizeof(*n));
	n->ref = NO_REF;
	return n;
}

static void flush_text(struct tmpl *t, struct strbuf *text)
{
	if (text->len == 0)
		return;
	struct node *n = add_node(t);
	n->len = text->len;
	n->text = sb_steal(text);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static const char *skip_space(const char *p)
{
	while (is_space(*p))
		p++;
	return p;
}

static bool at_close(const char *p)
{
	return p[0] == '}' && p[1] == '}';
}

static size_t col(const char *text, const char *p)
{
	return (size_t)(p - text) + 1;
}

/* Names quoted back in errors are the user's own text, but keep a
 * runaway token from filling the message. */
static int name_len(size_t n)
{
	return n > 64 ? 64 : (int)n;
}

/* A double-quoted literal starting at *pp (on the quote); the escapes are
 * \" \\ and \n \t (for join's separator), the text is otherwise verbatim. */
static int parse_string(const char *text, const char **pp, struct strbuf *out, char *err,
                        size_t errlen)
{
	const char *q = *pp, *p = q + 1;
	for (;;) {
		if (*p == '\0') {
			set_err(err, errlen, "column %zu: unterminated string", col(text, q));
			return -1;
		}
		if (*p == '"')
			break;
		if (*p == '\\') {
			if (p[1] != '"' && p[1] != '\\' && p[1] != 'n' && p[1] != 't') {
				set_err(err, errlen,
				        "column %zu: bad escape in string (only \\\" \\\\ \\n \\t)",
				        col(text, p));
				return -1;
			}
			p++;
			sb_addc(out, *p == 'n' ? '\n' : *p == 't' ? '\t' : *p);
			p++;
			continue;
		}
		sb_addc(out, *p);
		p++;
	}
	*pp = p + 1;
	return 0;
}

/* Filters of one expression, from just after its value up to and
 * including the closing braces.  open points at the expression's "{{". */
static int parse_filters(const char *text, const char *open, const char **pp, struct node *n,
                         bool *has_default, char *err, size_t errlen)
{
	const char *p = skip_space(*pp);
	for (;;) {
		if (*p == '\0') {
			set_err(err, errlen, "column %zu: unterminated '{{'", col(text, open));
			return -1;
		}
		if (at_close(p)) {
			*pp = p + 2;
			return 0;
		}
		if (*p != '|') {
			set_err(err, errlen, "column %zu: expected '|' or '}}'", col(text, p));
			return -1;
		}
		p = skip_space(p + 1);
		const char *name = p;
		while (*p && !is_space(*p) && *p != '|' && *p != '"' && !at_close(p))
			p++;
		size_t nlen = (size_t)(p - name);
		if (nlen == 0) {
			if (*p == '\0')
				set_err(err, errlen, "column %zu: unterminated '{{'",
				        col(text, open));
			else
				set_err(err, errlen, "column %zu: missing filter name after '|'",
				        col(text, name));
			return -1;
		}
		size_t k;
		for (k = 0; k < ARRAY_SIZE(filter_names); k++)
			if (strlen(filter_names[k].name) == nlen &&
			    memcmp(filter_names[k].name, name, nlen) == 0)
				break;
		if (k == ARRAY_SIZE(filter_names)) {
			set_err(err, errlen, "column %zu: unknown filter '%.*s'", col(text, name),
			        name_len(nlen), name);
			return -1;
		}
		ARRAY_GROW(n->filters, n->nfilters);
		struct filter *f = &n->filters[n->nfilters++];
		f->kind = filter_names[k].kind;
		f->arg = NULL;
		f->arglen = 0;
		p = skip_space(p);
		if (f->kind == F_DEFAULT || f->kind == F_JOIN) {
			if (*p != '"') {
				set_err(err, errlen,
				        "column %zu: %s needs a quoted string argument",
				        col(text, p), filter_names[k].name);
				return -1;
			}
			struct strbuf arg = STRBUF_INIT;
			if (parse_string(text, &p, &arg, err, errlen) < 0) {
				sb_wipe(&arg);
				return -1;
			}
			f->arglen = arg.len;
			f->arg = sb_steal(&arg);
			if (f->kind == F_DEFAULT)
				*has_default = true;
			p = skip_space(p);
		} else if (*p == '"') {
			set_err(err, errlen, "column %zu: filter '%s' takes no argument",
			        col(text, p), filter_names[k].name);
			return -1;
		}
	}
}

/* One expression; *pp points just past its "{{" and is left just past
 * the matching "}}". */
static int parse_expr(struct tmpl *t, const char *text, const char **pp, struct strbuf *lit,
                      char *err, size_t errlen)
{
	const char *open = *pp - 2;
	const char *p = skip_space(*pp);
	if (*p == '\0') {
		set_err(err, errlen, "column %zu: unterminated '{{'", col(text, open));
		return -1;
	}
	if (at_close(p) || *p == '|') {
		set_err(err, errlen, "column %zu: empty expression", col(text, p));
		return -1;
	}

	struct node tmp = {.is_expr = true, .ref = NO_REF};
	struct secref ref = {0};
	bool is_ref = false, has_default = false;
	struct strbuf sval = STRBUF_INIT;
	if (*p == '"') {
		if (parse_string(text, &p, &sval, err, errlen) < 0)
			goto fail;
	} else {
		const char *tok = p;
		while (*p && !is_space(*p) && *p != '|' && !at_close(p))
			p++;
		if (*p == '\0') {
			set_err(err, errlen, "column %zu: unterminated '{{'", col(text, open));
			goto fail;
		}
		char why[160];
		if (secref_parse(tok, (size_t)(p - tok), &ref, why, sizeof(why)) < 0) {
			set_err(err, errlen, "column %zu: %s", col(text, tok), why);
			goto fail;
		}
		is_ref = true;
	}
	if (parse_filters(text, open, &p, &tmp, &has_default, err, errlen) < 0)
		goto fail;

	/* A bare string literal is just more text, e.g. {{ "{{" }}. */
	if (!is_ref && tmp.nfilters == 0) {
		sb_add(lit, sval.buf, sval.len);
		sb_wipe(&sval);
		*pp = p;
		return 0;
	}
	flush_text(t, lit);
	if (is_ref) {
		ARRAY_GROW(t->refs, t->nrefs);
		tmp.ref = t->nrefs;
		t->refs[t->nrefs].ref = ref;
		t->refs[t->nrefs].has_default = has_default;
		t->nrefs++;
	} else {
		tmp.len = sval.len;
		tmp.text = sb_steal(&sval);
	}
	*add_node(t) = tmp;
	*pp = p;
	return 0;

fail:
	for (size_t i = 0; i < tmp.nfilters; i++)
		free(tmp.filters[i].arg);
	free(tmp.filters);
	secref_clear(&ref);
	sb_wipe(&sval);
	return -1;
}

int tmpl_parse(const char *text, struct tmpl **out, char *err, size_t errlen)
{
	struct tmpl *t = xcalloc(1, sizeof(*t));
	struct strbuf lit = STRBUF_INIT;
	const char *p = text;
	while (*p) {
		if (p[0] == '{' && p[1] == '{') {
			p += 2;
			if (parse_expr(t, text, &p, &lit, err, errlen) < 0) {
				sb_wipe(&lit);
				tmpl_free(t);
				*out = NULL;
				return -1;
			}
		} else {
			sb_addc(&lit, *p++);
		}
	}
	flush_text(t, &lit);
	sb_wipe(&lit); /* {{ "" }} can leave an empty allocation behind */
	*out = t;
	return 0;
}

void tmpl_free(struct tmpl *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nnodes; i++) {
		struct node *n = &t->nodes[i];
		for (size_t j = 0; j < n->nfilters; j++)
			free(n->filters[j].arg);
		free(n->filters);
		free(n->text);
	}
	free(t->nodes);
	for (size_t i = 0; i < t->nrefs; i++)
		secref_clear(&t->refs[i].ref);
	free(t->refs);
	free(t);
}

size_t tmpl_ref_count(const struct tmpl *t)
{
	return t->nrefs;
}

const struct secref *tmpl_ref(const struct tmpl *t, size_t i)
{
	return i < t->nrefs ? &t->refs[i].ref : NULL;
}

int tmpl_ref_has_default(const struct tmpl *t, size_t i)
{
	return i < t->nrefs && t->refs[i].has_default;
}

static void f_base64(struct strbuf *dst, const char *s, size_t n)
{
	if (n == 0)
		return;
	/* No overflow: n came from a strbuf, so it is below SIZE_MAX / 2. */
	size_t need = (n + 2) / 3 * 4;
	sb_grow(dst, need);
	size_t olen = 0;
	/* Cannot fail: the buffer has room for the output and its NUL. */
	mbedtls_base64_encode((unsigned char *)dst->buf + dst->len, need + 1, &olen,
	                      (const unsigned char *)s, n);
	dst->len += olen;
	dst->buf[dst->len] = '\0';
}

static void f_json(struct strbuf *dst, const char *s, size_t n)
{
	sb_addc(dst, '"');
	sb_add_json(dst, s, n);
	sb_addc(dst, '"');
}

static void f_trim(struct strbuf *dst, const char *s, size_t n)
{
	size_t a = 0, b = n;
	while (a < b && is_space(s[a]))
		a++;
	while (b > a && is_space(s[b - 1]))
		b--;
	sb_add(dst, s + a, b - a);
}

/* ASCII only, independent of the locale, so UTF-8 bytes pass unchanged. */
static void f_case(struct strbuf *dst, const char *s, size_t n, bool upper)
{
	sb_grow(dst, n);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (upper && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!upper && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		dst->buf[dst->len++] = c;
	}
	dst->buf[dst->len] = '\0';
}

static void f_upper(struct strbuf *dst, const char *s, size_t n)
{
	f_case(dst, s, n, true);
}

static void f_lower(struct strbuf *dst, const char *s, size_t n)
{
	f_case(dst, s, n, false);
}

/* default "x" applies to the value when it is missing; a present value
 * passes through. */
static void f_default(struct strbuf *dst, const char *s, size_t n)
{
	sb_add(dst, s, n);
}

/* An array value reaches templates as compact JSON text (jsonval.h):
 * parse it back and join the elements' own text.  Returns -1 with err set
 * when the value is not an array of representable values. */
static int f_join(const struct filter *f, struct strbuf *dst, const char *s, size_t n, char *err,
                  size_t errlen)
{
	struct jdoc *d = NULL;
	const cJSON *root = NULL;
	if (n && s[0] == '[' && jdoc_parse(s, n, &d) == 0)
		root = jdoc_root(d);
	if (!root || !cJSON_IsArray(root)) {
		jdoc_free(d);
		set_err(err, errlen, "join needs an array (a field like ca_chain)");
		return -1;
	}
	int r = 0;
	size_t i = 0;
	for (const cJSON *c = root->child; c; c = c->next, i++) {
		if (i)
			sb_add(dst, f->arg, f->arglen);
		if (jval_to_text(d, c, dst) == JVAL_HAS_NUL) {
			set_err(err, errlen, "join: element %zu holds a NUL byte", i);
			r = -1;
			break;
		}
	}
	jdoc_free(d);
	return r;
}

/* Standard base64 (transit's plaintext); a NUL byte in the result could
 * not reach an environment variable or be told apart in a file. */
static int f_base64decode(struct strbuf *dst, const char *s, size_t n, char *err, size_t errlen)
{
	size_t olen = 0;
	if (mbedtls_base64_decode(NULL, 0, &olen, (const unsigned char *)s, n) ==
	    MBEDTLS_ERR_BASE64_INVALID_CHARACTER) {
		set_err(err, errlen, "base64decode: the value is not base64");
		return -1;
	}
	sb_grow(dst, olen);
	if (mbedtls_base64_decode((unsigned char *)dst->buf + dst->len, olen + 1, &olen,
	                          (const unsigned char *)s, n) != 0) {
		set_err(err, errlen, "base64decode: the value is not base64");
		return -1;
	}
	if (memchr(dst->buf + dst->len, '\0', olen)) {
		mbedtls_platform_zeroize(dst->buf + dst->len, olen);
		set_err(err, errlen, "base64decode: the decoded value holds a NUL byte");
		return -1;
	}
	dst->len += olen;
	dst->buf[dst->len] = '\0';
	return 0;
}

static int apply_filter(const struct filter *f, struct strbuf *dst, const struct strbuf *src,
                        char *err, size_t errlen)
{
	/* The filters that cannot fail only transform bytes. */
	static void (*const plain[])(struct strbuf *, const char *, size_t) = {
	    [F_URLENCODE] = sb_add_pct, [F_BASE64] = f_base64, [F_JSON] = f_json,
	    [F_DEFAULT] = f_default,    [F_TRIM] = f_trim,     [F_UPPER] = f_upper,
	    [F_LOWER] = f_lower,
	};
	const char *s = src->buf ? src->buf : "";
	if (f->kind == F_JOIN)
		return f_join(f, dst, s, src->len, err, errlen);
	if (f->kind == F_BASE64DECODE)
		return f_base64decode(dst, s, src->len, err, errlen);
	plain[f->kind](dst, s, src->len);
	return 0;
}

static void missing_err(const struct secref *r, char *err, size_t errlen)
{
	if (!r->path)
		set_err(err, errlen, "missing field '%s'", r->field);
	else if (r->version)
		set_err(err, errlen, "missing field '%s' of %s version %llu", r->field, r->path,
		        (unsigned long long)r->version);
	else
		set_err(err, errlen, "missing field '%s' of %s", r->field, r->path);
}

/* Computes one expression's value into cur, using tmp as scratch.  A
 * missing value flows through the filters untouched until a default
 * supplies one; the filters after it then apply as usual. */
static int render_expr(const struct tmpl *t, const struct node *n, tmpl_lookup_fn lookup, void *ctx,
                       struct strbuf *cur, struct strbuf *tmp, char *err, size_t errlen)
{
	bool missing = false;
	sb_reset(cur);
	if (n->ref == NO_REF) {
		sb_add(cur, n->text, n->len);
	} else {
		const struct secref *r = &t->refs[n->ref].ref;
		const char *val = NULL;
		size_t len = 0;
		int rc = lookup(ctx, r, &val, &len);
		if (rc == 1) {
			missing = true;
		} else if (rc < 0) {
			set_err(err, errlen, "internal error looking up field '%s'", r->field);
			return EXIT_SOFTWARE;
		} else if (rc > 1) {
			return rc;
		} else {
			sb_add(cur, val ? val : "", val ? len : 0);
		}
	}
	for (size_t i = 0; i < n->nfilters; i++) {
		const struct filter *f = &n->filters[i];
		if (f->kind == F_DEFAULT && missing) {
			sb_add(cur, f->arg, f->arglen);
			missing = false;
			continue;
		}
		if (missing)
			continue;
		sb_reset(tmp);
		if (apply_filter(f, tmp, cur, err, errlen) < 0)
			return TMPL_FILTER_FAILED;
		struct strbuf swap = *cur;
		*cur = *tmp;
		*tmp = swap;
	}
	if (missing) {
		missing_err(&t->refs[n->ref].ref, err, errlen);
		return 1;
	}
	return 0;
}

/* Renders into a private buffer first so that out is left untouched, and
 * no partial secret lingers in it, when a lookup fails midway. */
int tmpl_render(const struct tmpl *t, tmpl_lookup_fn lookup, void *ctx, struct strbuf *out,
                char *err, size_t errlen)
{
	struct strbuf res = STRBUF_INIT, cur = STRBUF_INIT, tmp = STRBUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < t->nnodes && rc == 0; i++) {
		const struct node *n = &t->nodes[i];
		if (!n->is_expr) {
			sb_add(&res, n->text, n->len);
			continue;
		}
		rc = render_expr(t, n, lookup, ctx, &cur, &tmp, err, errlen);
		if (rc == 0)
			sb_add(&res, cur.buf, cur.len);
	}
	if (rc == 0)
		sb_add(out, res.buf, res.len);
	sb_wipe(&res);
	sb_wipe(&cur);
	sb_wipe(&tmp);
	return rc;
}

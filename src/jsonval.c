#include "jsonval.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum tok_kind { TOK_STRING, TOK_NUMBER };

struct tok {
	enum tok_kind kind;
	int has_nul;       /* strings: the literal held \u0000 */
	size_t start, len; /* numbers: the literal's span in the text */
};

struct jdoc {
	cJSON *root;
	const char *text;
	/* Numbers: literal text per node.  NUL flags: nodes whose value or key
	 * held a NUL.  Both are small and looked up linearly. */
	struct numlit {
		const cJSON *node;
		char *text;
	} * nums;
	size_t nnums;
	const cJSON **nul_values, **nul_keys;
	size_t nnul_values, nnul_keys;
};

struct scan {
	struct tok *toks;
	size_t n;
};

static void push_tok(struct scan *s, struct tok t)
{
	ARRAY_GROW(s->toks, s->n);
	s->toks[s->n++] = t;
}

/* Records strings and numbers in document order.  It does not validate:
 * it runs only on text cJSON has already accepted. */
static void scan_tokens(const char *p, size_t len, struct scan *s)
{
	size_t i = 0;
	while (i < len) {
		char c = p[i];
		if (c == '"') {
			struct tok t = {TOK_STRING, 0, i, 0};
			i++;
			while (i < len && p[i] != '"') {
				if (p[i] == '\\' && i + 1 < len) {
					if (p[i + 1] == 'u' && i + 5 < len &&
					    memcmp(p + i + 2, "0000", 4) == 0)
						t.has_nul = 1;
					i += 2;
				} else {
					i++;
				}
			}
			i++;
			push_tok(s, t);
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			size_t st = i;
			while (i < len && (strchr("0123456789+-.eE", p[i]) && p[i] != '\0'))
				i++;
			push_tok(s, (struct tok){TOK_NUMBER, 0, st, i - st});
		} else {
			i++;
		}
	}
}

static void add_node(const cJSON ***arr, size_t *n, const cJSON *node)
{
	ARRAY_GROW(*arr, *n);
	(*arr)[(*n)++] = node;
}

/* Walks the tree in document order, consuming one token per key, string
 * and number.  Returns -1 if the two views disagree (should not happen). */
static int match(struct jdoc *d, const struct scan *s, size_t *k, const cJSON *node, int keyed)
{
	if (keyed) {
		if (*k >= s->n || s->toks[*k].kind != TOK_STRING)
			return -1;
		if (s->toks[*k].has_nul)
			add_node(&d->nul_keys, &d->nnul_keys, node);
		(*k)++;
	}
	if (cJSON_IsString(node)) {
		if (*k >= s->n || s->toks[*k].kind != TOK_STRING)
			return -1;
		if (s->toks[*k].has_nul)
			add_node(&d->nul_values, &d->nnul_values, node);
		(*k)++;
	} else if (cJSON_IsNumber(node)) {
		if (*k >= s->n || s->toks[*k].kind != TOK_NUMBER)
			return -1;
		ARRAY_GROW(d->nums, d->nnums);
		d->nums[d->nnums].node = node;
		d->nums[d->nnums].text = xstrndup(d->text + s->toks[*k].start, s->toks[*k].len);
		d->nnums++;
		(*k)++;
	} else if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
		int obj = cJSON_IsObject(node);
		for (const cJSON *c = node->child; c; c = c->next)
			if (match(d, s, k, c, obj) < 0)
				return -1;
	}
	return 0;
}

int jdoc_parse(const char *text, size_t len, struct jdoc **out)
{
	/* A raw NUL byte in the body would make cJSON stop early. */
	if (memchr(text, '\0', len))
		return -1;
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
	if (!root)
		return -1;
	struct jdoc *d = xcalloc(1, sizeof(*d));
	d->root = root;
	d->text = text;
	struct scan s = {0};
	scan_tokens(text, len, &s);
	size_t k = 0;
	int r = match(d, &s, &k, root, 0);
	free(s.toks);
	d->text = NULL; /* the caller owns the text; do not keep a pointer */
	if (r < 0 || k != s.n) {
		jdoc_free(d);
		return -1;
	}
	*out = d;
	return 0;
}

const cJSON *jdoc_root(const struct jdoc *d)
{
	return d ? d->root : NULL;
}

/* Strings in the tree may be secrets: wipe them before cJSON frees them.
 * Recursion depth is bounded by cJSON's nesting limit. */
static void wipe_tree(cJSON *n)
{
	for (; n; n = n->next) {
		if (n->valuestring) {
			secure_free_str(n->valuestring);
			n->valuestring = NULL;
		}
		wipe_tree(n->child);
	}
}

void jdoc_free(struct jdoc *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nnums; i++)
		secure_free_str(d->nums[i].text);
	free(d->nums);
	free(d->nul_values);
	free(d->nul_keys);
	wipe_tree(d->root);
	cJSON_Delete(d->root);
	free(d);
}

static int in_list(const cJSON *const *arr, size_t n, const cJSON *node)
{
	for (size_t i = 0; i < n; i++)
		if (arr[i] == node)
			return 1;
	return 0;
}

int jval_key_has_nul(const struct jdoc *d, const cJSON *node)
{
	return in_list(d->nul_keys, d->nnul_keys, node);
}

static const char *num_text(const struct jdoc *d, const cJSON *node)
{
	for (size_t i = 0; i < d->nnums; i++)
		if (d->nums[i].node == node)
			return d->nums[i].text;
	return NULL;
}

static void add_json_string(struct strbuf *out, const char *s)
{
	sb_addc(out, '"');
	sb_add_json(out, s, strlen(s));
	sb_addc(out, '"');
}

/* Compact JSON with numbers as their original literal text. */
static enum jval_result add_compact(const struct jdoc *d, const cJSON *node, struct strbuf *out)
{
	if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
		int obj = cJSON_IsObject(node);
		sb_addc(out, obj ? '{' : '[');
		for (const cJSON *c = node->child; c; c = c->next) {
			if (c != node->child)
				sb_addc(out, ',');
			if (obj) {
				if (jval_key_has_nul(d, c))
					return JVAL_HAS_NUL;
				add_json_string(out, c->string);
				sb_addc(out, ':');
			}
			enum jval_result r = add_compact(d, c, out);
			if (r == JVAL_HAS_NUL)
				return r;
		}
		sb_addc(out, obj ? '}' : ']');
		return JVAL_OK;
	}
	if (cJSON_IsNull(node))
		sb_adds(out, "null");
	else if (!cJSON_IsString(node))
		return jval_to_text(d, node, out);
	else if (in_list(d->nul_values, d->nnul_values, node))
		return JVAL_HAS_NUL;
	else
		add_json_string(out, node->valuestring);
	return JVAL_OK;
}

enum jval_result jval_to_text(const struct jdoc *d, const cJSON *node, struct strbuf *out)
{
	if (!node || cJSON_IsNull(node))
		return JVAL_NULL;
	if (cJSON_IsString(node)) {
		if (in_list(d->nul_values, d->nnul_values, node))
			return JVAL_HAS_NUL;
		sb_adds(out, node->valuestring);
		return JVAL_OK;
	}
	if (cJSON_IsNumber(node)) {
		const char *t = num_text(d, node);
		if (t)
			sb_adds(out, t);
		else
			sb_addf(out, "%.17g", node->valuedouble); /* not reached */
		return JVAL_OK;
	}
	if (cJSON_IsTrue(node)) {
		sb_adds(out, "true");
		return JVAL_OK;
	}
	if (cJSON_IsFalse(node)) {
		sb_adds(out, "false");
		return JVAL_OK;
	}
	size_t mark = out->len;
	enum jval_result r = add_compact(d, node, out);
	if (r != JVAL_OK) {
		/* Do not leave half a secret behind in the caller's buffer. */
		memset(out->buf + mark, 0, out->len - mark);
		out->len = mark;
	}
	return r;
}

const cJSON *json_get(const cJSON *obj, const char *key)
{
	if (!cJSON_IsObject(obj))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

const char *json_get_string(const cJSON *obj, const char *key)
{
	const cJSON *v = json_get(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

void json_wipe_on_free(void)
{
	cJSON_Hooks hooks = {malloc, wipe_free};
	cJSON_InitHooks(&hooks);
}

void json_print_flat(const cJSON *obj, struct strbuf *out)
{
	/* Every byte escaped as \u00XX at worst, quotes, colon, comma, braces,
	 * and the 5 spare bytes cJSON_PrintPreallocated asks for. */
	size_t need = 8;
	const cJSON *it;
	cJSON_ArrayForEach(it, obj)
	{
		need += 6 * strlen(it->string) + 4;
		if (!cJSON_IsString(it))
			die(EXIT_SOFTWARE, "json_print_flat: member %s is not a string",
			    it->string);
		need += 6 * strlen(it->valuestring) + 2;
	}
	if (need > INT_MAX)
		die(EXIT_SOFTWARE, "out of memory");
	sb_grow(out, need);
	if (!cJSON_PrintPreallocated((cJSON *)obj, out->buf, (int)out->cap, false))
		die(EXIT_SOFTWARE, "cannot print a JSON body");
	out->len = strlen(out->buf);
}

/* The template engine: tmpl_parse on fuzz text, then tmpl_render with a
 * lookup that answers from fuzz-derived values.
 *
 * Input: TEMPLATE \0 ANSWER \0 ANSWER ...  Each lookup takes the next
 * answer, cycling: an empty answer means "missing", one starting with
 * \x01 makes the callback abort with 65, anything else is the value. */
#include <stdbool.h>
#include <string.h>

#include "fuzz_common.h"
#include "template.h"
#include "strbuf.h"

struct answers {
	struct fz_split *s;
	size_t next;
	size_t calls;
};

static int lookup(void *vctx, const struct secref *ref, const char **val, size_t *len)
{
	struct answers *a = vctx;
	FUZZ_CHECK(ref && ref->field && ref->field[0]);
	a->calls++;
	if (a->s->n < 2)
		return 1;
	const char *v = a->s->v[1 + a->next++ % (a->s->n - 1)];
	if (!*v)
		return 1;
	if (v[0] == '\x01')
		return EXIT_DATA;
	*val = v;
	*len = strlen(v);
	return 0;
}

static void check_refs(const struct tmpl *t)
{
	size_t n = tmpl_ref_count(t);
	for (size_t i = 0; i < n; i++) {
		const struct secref *r = tmpl_ref(t, i);
		FUZZ_CHECK(r && r->field && r->field[0]);
		FUZZ_CHECK(!strchr(r->field, '#'));
		(void)tmpl_ref_has_default(t, i);
	}
	FUZZ_CHECK(tmpl_ref(t, n) == NULL);
	FUZZ_CHECK(!tmpl_ref_has_default(t, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_split s;
	fz_split_init(&s, data, size);
	const char *text = s.v[0];

	struct tmpl *t = NULL;
	char err[256] = "";
	if (tmpl_parse(text, &t, err, sizeof(err)) < 0) {
		FUZZ_CHECK(t == NULL);
		FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)));
		fz_split_free(&s);
		return 0;
	}
	FUZZ_CHECK(t != NULL);
	check_refs(t);

	struct answers a = {&s, 0, 0};
	struct strbuf out = STRBUF_INIT;
	sb_adds(&out, "prefix:");
	size_t before = out.len;
	err[0] = '\0';
	int rc = tmpl_render(t, lookup, &a, &out, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == 1 || rc == EXIT_DATA || rc == TMPL_FILTER_FAILED);
	FUZZ_CHECK(a.calls <= tmpl_ref_count(t));
	if (rc != 0)
		FUZZ_CHECK(out.len == before); /* failure leaves out untouched */
	if (rc == 1 || rc == TMPL_FILTER_FAILED) /* join, base64decode */
		FUZZ_CHECK(err[0] != '\0');
	FUZZ_CHECK(memcmp(out.buf, "prefix:", before) == 0);
	FUZZ_CHECK(out.buf[out.len] == '\0');

	/* Text without "{{" is literal: it renders to itself. */
	if (!strstr(text, "{{")) {
		FUZZ_CHECK(rc == 0 && tmpl_ref_count(t) == 0);
		FUZZ_CHECK(out.len - before == strlen(text));
		FUZZ_CHECK(memcmp(out.buf + before, text, out.len - before) == 0);
	}

	/* Rendering has no hidden state: a second run with the same answers
	 * gives the same result. */
	if (rc == 0) {
		struct answers b = {&s, 0, 0};
		struct strbuf again = STRBUF_INIT;
		FUZZ_CHECK(tmpl_render(t, lookup, &b, &again, err, sizeof(err)) == 0);
		FUZZ_CHECK(again.len == out.len - before);
		FUZZ_CHECK(again.len == 0 || memcmp(again.buf, out.buf + before, again.len) == 0);
		sb_wipe(&again);
	}

	sb_wipe(&out);
	tmpl_free(t);
	fz_split_free(&s);
	return 0;
}

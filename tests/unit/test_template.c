#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "template.h"
#include "strbuf.h"
#include "util.h"

struct kv {
	const char *path; /* NULL: the default secret */
	const char *field;
	uint64_t version;
	const char *val;
};

static const struct kv secrets[] = {
    {NULL, "username", 0, "app"},
    {NULL, "password", 0, "p@ss:w/rd%#? \"'"},
    {NULL, "utf8", 0, "h\xc3\xa9llo\xe2\x82\xac"},
    {NULL, "empty", 0, ""},
    {NULL, "bin", 0, "\x01\x02\xfe\xff"},
    {NULL, "text", 0, "hello\n\tworld\x01\x7f"},
    {NULL, "ctl", 0, "a\"b\\c\nd\te\r\b\f\x01\x1f\x7f\xc3\xa9"},
    {NULL, "spaced", 0, " \t hi there \r\n"},
    {NULL, "mixed", 0, "MiXeD-\xc3\xa9"},
    {"secret/redis-1", "password", 0, "s3cr3t!"},
    {"secret/db", "password", 2, "old-v2"},
    {"secret/db", "password", 0, "current"},
    {"pki/issue/web", "ca_chain", 0, "[\"-----A-----\\nx\",\"B\",12345678901234567890]"},
    {"pki/issue/web", "one", 0, "[\"only\"]"},
    {"pki/issue/web", "none", 0, "[]"},
    {"pki/issue/web", "obj", 0, "{\"a\":1}"},
    {"pki/issue/web", "nul", 0, "[\"a\\u0000b\"]"},
    {"transit/decrypt/k", "plaintext", 0, "aGVsbG8gd29ybGQ="},
    {"transit/decrypt/k", "nulpt", 0, "YQBi"},
    {"transit/decrypt/k", "notb64", 0, "a*b"},
};
#define NSECRETS (sizeof(secrets) / sizeof(secrets[0]))

struct ctx {
	int fail_rc; /* when nonzero, every lookup returns it */
	int calls;
};

static int same_path(const char *a, const char *b)
{
	return (a && b) ? strcmp(a, b) == 0 : a == b;
}

static int lookup(void *vctx, const struct secref *r, const char **val, size_t *len)
{
	struct ctx *c = vctx;
	c->calls++;
	if (c->fail_rc)
		return c->fail_rc;
	for (size_t i = 0; i < NSECRETS; i++) {
		const struct kv *k = &secrets[i];
		if (same_path(k->path, r->path) && strcmp(k->field, r->field) == 0 &&
		    k->version == r->version) {
			*val = k->val;
			*len = strlen(k->val);
			return 0;
		}
	}
	return 1;
}

static struct strbuf result = STRBUF_INIT;
static int last_rc;

/* Parses and renders text; returns the output, or "parse: <err>" or
 * "rc N: <err>" so one is_str covers both outcomes. */
static const char *render_ctx(const char *text, struct ctx *c)
{
	char err[256] = "";
	struct tmpl *t = NULL;
	sb_wipe(&result);
	if (tmpl_parse(text, &t, err, sizeof(err)) < 0) {
		last_rc = -1;
		sb_addf(&result, "parse: %s", err);
		return result.buf;
	}
	struct strbuf out = STRBUF_INIT;
	last_rc = tmpl_render(t, lookup, c, &out, err, sizeof(err));
	if (last_rc == 0)
		sb_add(&result, out.buf ? out.buf : "", out.len);
	else
		sb_addf(&result, "rc %d: %s", last_rc, err);
	sb_wipe(&out);
	tmpl_free(t);
	return result.buf;
}

static const char *R(const char *text)
{
	struct ctx c = {0, 0};
	return render_ctx(text, &c);
}

/* Parse only: the error message, or "ok". */
static const char *PE(const char *text)
{
	static char err[256], sentinel;
	struct tmpl *t = (struct tmpl *)&sentinel; /* must be reset to NULL on failure */
	if (tmpl_parse(text, &t, err, sizeof(err)) == 0) {
		tmpl_free(t);
		return "ok";
	}
	if (t != NULL)
		return "out not cleared";
	return err;
}

static void test_plain(void)
{
	is_str(R(""), "", "empty template");
	is_str(R("hello world"), "hello world", "plain text");
	is_str(R("a }} b } c { d"), "a }} b } c { d", "stray braces are literal");
	is_str(R("line1\nline2\n"), "line1\nline2\n", "newlines kept");
	is_str(R("trailing {"), "trailing {", "single brace at end");
	is_str(R("caf\xc3\xa9"), "caf\xc3\xa9", "UTF-8 text kept");
}

static void test_refs(void)
{
	is_str(R("{{ username }}"), "app", "single ref");
	is_str(R("{{username}}"), "app", "no whitespace needed");
	is_str(R("{{\tusername\n}}"), "app", "any whitespace");
	is_str(R("postgresql://{{ username }}:{{ password | urlencode "
	         "}}@postgres:5432/postgres?sslmode=disable"),
	       "postgresql://app:p%40ss%3Aw%2Frd%25%23%3F%20%22%27@postgres:5432/"
	       "postgres?sslmode=disable",
	       "postgres URL");
	is_str(R("{{username}}{{username}}-{{ empty }}-"), "appapp--", "adjacent and empty refs");
	is_str(R("{{ secret/redis-1#password }}"), "s3cr3t!", "PATH#FIELD");
	is_str(R("{{ /secret/redis-1/#password }}"), "s3cr3t!", "path slashes trimmed");
	is_str(R("{{ secret/db#password#2 }}"), "old-v2", "PATH#FIELD#VERSION");
	is_str(R("{{ secret/db#password }}"), "current", "PATH#FIELD is the current version");

	char err[128];
	struct tmpl *t;
	is_int(tmpl_parse("x{{ username }}{{ secret/db#password#2|upper }}{{ username }}", &t, err,
	                  sizeof(err)),
	       0, "parse for ref list");
	is_int(tmpl_ref_count(t), 3, "duplicates kept");
	ok(tmpl_ref(t, 0)->path == NULL, "default secret has NULL path");
	is_str(tmpl_ref(t, 0)->field, "username", "ref 0 field");
	is_str(tmpl_ref(t, 1)->path, "secret/db", "ref 1 path");
	is_str(tmpl_ref(t, 1)->field, "password", "ref 1 field");
	is_int(tmpl_ref(t, 1)->version, 2, "ref 1 version");
	is_int(tmpl_ref(t, 2)->version, 0, "ref 2 current version");
	ok(tmpl_ref(t, 3) == NULL, "out of range ref is NULL");
	tmpl_free(t);

	is_int(tmpl_parse("just text {{ \"{{\" }}", &t, err, sizeof(err)), 0, "parse literal only");
	is_int(tmpl_ref_count(t), 0, "no refs in literal-only template");
	tmpl_free(t);
	tmpl_free(NULL);
}

static void test_literals(void)
{
	is_str(R("{{ \"{{\" }}"), "{{", "{{ \"{{\" }} yields {{");
	is_str(R("a{{\"{{\"}}b }}"), "a{{b }}", "literal braces between text");
	is_str(R("{{ \"}}\" }}"), "}}", "closing braces inside a string");
	is_str(R("{{ \"q\\\"\\\\\" }}"), "q\"\\", "string escapes");
	is_str(R("{{ \"\" }}"), "", "empty string literal");
	is_str(R("{{ \"abc\" | upper }}"), "ABC", "filters on a literal");
	is_str(R("{{ \"{{ username }}\" }}"), "{{ username }}", "literal is not re-parsed");
}

static void test_urlencode(void)
{
	is_str(R("{{ password | urlencode }}"), "p%40ss%3Aw%2Frd%25%23%3F%20%22%27",
	       "urlencode reserved characters");
	is_str(R("{{ utf8 | urlencode }}"), "h%C3%A9llo%E2%82%AC", "urlencode UTF-8 bytes");
	is_str(R("{{ \"AZaz09-._~\" | urlencode }}"), "AZaz09-._~", "unreserved kept");
	is_str(R("{{ \"+&=\" | urlencode }}"), "%2B%26%3D", "uppercase hex");
	is_str(R("{{ empty | urlencode }}"), "", "urlencode empty");
	is_str(R("{{ bin | urlencode }}"), "%01%02%FE%FF", "urlencode binary");
}

static void test_base64(void)
{
	is_str(R("{{ empty | base64 }}"), "", "base64 of empty");
	is_str(R("{{ \"a\" | base64 }}"), "YQ==", "base64 two pads");
	is_str(R("{{ \"ab\" | base64 }}"), "YWI=", "base64 one pad");
	is_str(R("{{ \"abc\" | base64 }}"), "YWJj", "base64 no pad");
	is_str(R("{{ bin | base64 }}"), "AQL+/w==", "base64 of binary, standard alphabet");
	is_str(R("{{ text | base64 }}"), "aGVsbG8KCXdvcmxkAX8=", "base64 of binary-ish text");
	is_str(R("{{ password | base64 }}"), "cEBzczp3L3JkJSM/ICIn", "base64 of password");
}

static void test_json(void)
{
	is_str(R("{{ password | json }}"), "\"p@ss:w/rd%#? \\\"'\"", "json quotes");
	is_str(R("{{ ctl | json }}"),
	       "\"a\\\"b\\\\c\\nd\\te\\r\\b\\f\\u0001\\u001f\\u007f\xc3\xa9\"",
	       "json escapes control characters, keeps UTF-8");
	is_str(R("{{ empty | json }}"), "\"\"", "json of empty");
	is_str(R("{{ utf8 | json }}"), "\"h\xc3\xa9llo\xe2\x82\xac\"", "json passes UTF-8");
}

static void test_case_trim(void)
{
	is_str(R("{{ spaced | trim }}"), "hi there", "trim");
	is_str(R("{{ \"   \" | trim }}"), "", "trim all blanks");
	is_str(R("{{ username | trim }}"), "app", "trim nothing");
	is_str(R("{{ mixed | upper }}"), "MIXED-\xc3\xa9", "upper is ASCII only");
	is_str(R("{{ mixed | lower }}"), "mixed-\xc3\xa9", "lower is ASCII only");
	is_str(R("{{ utf8 | upper }}"), "H\xc3\xa9LLO\xe2\x82\xac", "upper keeps UTF-8 bytes");
}

static void test_default(void)
{
	is_str(R("{{ nope | default \"x\" }}"), "x", "default used when missing");
	is_str(R("{{ username | default \"x\" }}"), "app", "default not used when present");
	is_str(R("{{ empty | default \"x\" }}"), "", "empty value is not missing");
	is_str(R("{{ nope | default \"\" }}"), "", "empty default");
	is_str(R("{{ nope|default\"a\\\"b\\\\c\" }}"), "a\"b\\c", "default with escapes");
	is_str(R("{{ nope | default \"a b\" | urlencode }}"), "a%20b", "filters after default");
	is_str(R("{{ nope | upper | default \"x\" }}"), "x", "filters before default skipped");
	is_str(R("{{ username | upper | default \"x\" }}"), "APP", "present: filters apply");
	is_str(R("{{ secret/gone#f | default \"}}\" }}"), "}}", "default with braces");
	is_str(R("{{ nope | default \"a\" | default \"b\" }}"), "a", "first default wins");

	char err[128];
	struct tmpl *t;
	is_int(tmpl_parse("{{ a }}{{ b | default \"\" }}{{ c | upper | default \"x\" }}{{ \"l\" }}",
	                  &t, err, sizeof(err)),
	       0, "parse for has_default");
	is_int(tmpl_ref_count(t), 3, "three refs");
	is_int(tmpl_ref_has_default(t, 0), 0, "ref 0 has no default");
	is_int(tmpl_ref_has_default(t, 1), 1, "ref 1 has default");
	is_int(tmpl_ref_has_default(t, 2), 1, "ref 2 default after another filter");
	is_int(tmpl_ref_has_default(t, 3), 0, "out of range has no default");
	tmpl_free(t);
}

static void test_chains(void)
{
	is_str(R("{{ spaced | trim | upper | urlencode }}"), "HI%20THERE", "trim|upper|urlencode");
	is_str(R("{{ password | json | base64 }}"), "InBAc3M6dy9yZCUjPyBcIici", "json|base64");
	is_str(R("{{ mixed|lower|upper|lower }}"), "mixed-\xc3\xa9", "repeated filters");
	is_str(R("{{ username | base64 | json }}"), "\"YXBw\"", "base64|json");
}

static int no_value_in(const char *s)
{
	for (size_t i = 0; i < NSECRETS; i++)
		if (secrets[i].val[0] && strstr(s, secrets[i].val))
			return 0;
	return 1;
}

static void test_missing(void)
{
	is_str(R("{{ username }}{{ password }}{{ nope }}"), "rc 1: missing field 'nope'",
	       "missing default-secret field");
	ok(no_value_in(result.buf), "missing error carries no value");
	is_str(R("{{ secret/redis-1#password }}:{{ secret/redis-1#user }}"),
	       "rc 1: missing field 'user' of secret/redis-1", "missing field of a path");
	ok(no_value_in(result.buf), "missing error carries no value (path)");
	is_str(R("{{ secret/db#password#3 | upper }}"),
	       "rc 1: missing field 'password' of secret/db version 3", "missing version");
	is_str(R("{{ nope | upper }}"), "rc 1: missing field 'nope'", "filters don't hide missing");

	/* out is left as it was when rendering fails midway. */
	char err[128];
	struct tmpl *t;
	struct ctx c = {0, 0};
	struct strbuf out = STRBUF_INIT;
	sb_adds(&out, "KEY=");
	is_int(tmpl_parse("{{ password }}-{{ nope }}", &t, err, sizeof(err)), 0, "parse");
	is_int(tmpl_render(t, lookup, &c, &out, err, sizeof(err)), 1, "render fails");
	is_str(out.buf, "KEY=", "out untouched on failure");
	ok(no_value_in(err), "err has no value");
	tmpl_free(t);

	is_int(tmpl_parse("{{ username }}@{{ nope | default \"h\" }}", &t, err, sizeof(err)), 0,
	       "parse");
	is_int(tmpl_render(t, lookup, &c, &out, err, sizeof(err)), 0, "render appends");
	is_str(out.buf, "KEY=app@h", "appended to existing content");
	tmpl_free(t);
	sb_wipe(&out);

	struct ctx fail = {69, 0};
	is_str(render_ctx("a{{ username }}b{{ password }}", &fail),
	       "rc 69: ", "callback's exit code passed through");
	is_int(fail.calls, 1, "rendering stops at the first failure");
	struct ctx count = {0, 0};
	render_ctx("{{ username }}{{ username }}{{ \"x\" }}{{ nope | default \"d\" }}", &count);
	is_int(count.calls, 3, "one lookup per ref, none for literals");

	/* A tiny err buffer truncates rather than overflows. */
	char small[8];
	is_int(tmpl_parse("{{ nope }}", &t, err, sizeof(err)), 0, "parse");
	is_int(tmpl_render(t, lookup, &c, &out, small, sizeof(small)), 1, "missing");
	is_str(small, "missing", "error truncated to the buffer");
	tmpl_free(t);
	sb_wipe(&out);
}

static void test_parse_errors(void)
{
	is_str(PE("a {{ x"), "column 3: unterminated '{{'", "unterminated after ref");
	is_str(PE("{{"), "column 1: unterminated '{{'", "unterminated at end");
	is_str(PE("ab {{ "), "column 4: unterminated '{{'", "unterminated after blanks");
	is_str(PE("{{ x | upper"), "column 1: unterminated '{{'", "unterminated after filter");
	is_str(PE("{{ x |"), "column 1: unterminated '{{'", "unterminated after pipe");
	is_str(PE("{{ x | default \"a\""), "column 1: unterminated '{{'",
	       "unterminated after default");
	is_str(PE("{{ x }"), "column 6: expected '|' or '}}'", "single closing brace");
	is_str(PE("{{ x}"), "column 1: unterminated '{{'", "single closing brace in ref");
	is_str(PE("abcd{{  }}"), "column 9: empty expression", "empty expression");
	is_str(PE("{{}}"), "column 3: empty expression", "empty expression, no blanks");
	is_str(PE("{{ | upper }}"), "column 4: empty expression", "filter without value");
	is_str(PE("{{ password | urlencod }}"), "column 15: unknown filter 'urlencod'",
	       "unknown filter");
	is_str(PE("{{ x | Upper }}"), "column 8: unknown filter 'Upper'", "filters are lowercase");
	is_str(PE("{{ x | }}"), "column 8: missing filter name after '|'", "missing filter name");
	is_str(PE("{{ x || upper }}"), "column 7: missing filter name after '|'", "double pipe");
	is_str(PE("{{ x | default }}"), "column 16: default needs a quoted string argument",
	       "default without argument");
	is_str(PE("{{ x | default 5 }}"), "column 16: default needs a quoted string argument",
	       "default with unquoted argument");
	is_str(PE("{{ x | default | upper }}"), "column 16: default needs a quoted string argument",
	       "default followed by pipe");
	is_str(PE("{{ x | default \"abc }}"), "column 16: unterminated string",
	       "unterminated default argument");
	is_str(PE("{{ \"abc }}"), "column 4: unterminated string", "unterminated literal");
	is_str(PE("{{ \"a\\xb\" }}"), "column 6: bad escape in string (only \\\" \\\\ \\n \\t)",
	       "unknown escape");
	is_str(PE("{{ x | upper \"a\" }}"), "column 14: filter 'upper' takes no argument",
	       "argument to a filter without one");
	is_str(PE("{{ x y }}"), "column 6: expected '|' or '}}'", "two refs");
	is_str(PE("{{ \"a\" \"b\" }}"), "column 8: expected '|' or '}}'", "two literals");
	is_str(PE("{{ \"a\"b }}"), "column 7: expected '|' or '}}'", "junk after literal");
	is_str(PE("{{ x | default \"a\" \"b\" }}"), "column 20: expected '|' or '}}'",
	       "two default arguments");
	is_str(PE("{{ #f }}"), "column 4: empty secret path before '#'", "ref without path");
	is_str(PE("{{ p# }}"), "column 4: empty field name after '#'", "ref without field");
	is_str(PE("{{ p#f#0 }}"), "column 4: bad version '0' (a positive integer)", "version zero");
	is_str(PE("text {{ ok }} {{ p#f#x }}"), "column 18: bad version 'x' (a positive integer)",
	       "column counts earlier expressions");
	is_str(PE("{{ a\x01b }}"), "column 4: control character in field reference",
	       "control character in ref");
	is_str(PE("x}}y{{ ok }}"), "ok", "stray closing braces before an expression");
}

static void test_join_base64decode(void)
{
	is_str(R("{{ pki/issue/web#ca_chain | join \"\\n\" }}"),
	       "-----A-----\nx\nB\n12345678901234567890", "join with a newline, numbers exact");
	is_str(R("{{ pki/issue/web#ca_chain | join \", \" | upper }}"),
	       "-----A-----\nX, B, 12345678901234567890", "join then another filter");
	is_str(R("{{ pki/issue/web#one | join \"-\" }}"), "only", "join of one");
	is_str(R("[{{ pki/issue/web#none | join \"-\" }}]"), "[]", "join of none");
	is_str(R("{{ pki/issue/web#obj | join \"-\" }}"),
	       "rc -1: join needs an array (a field like ca_chain)", "join of an object");
	is_str(R("{{ username | join \"-\" }}"),
	       "rc -1: join needs an array (a field like ca_chain)", "join of a string");
	is_str(R("{{ pki/issue/web#nul | join \"-\" }}"), "rc -1: join: element 0 holds a NUL byte",
	       "join of a NUL");
	is_str(PE("{{ x | join }}"), "column 13: join needs a quoted string argument",
	       "join without separator");
	is_str(R("{{ transit/decrypt/k#plaintext | base64decode }}"), "hello world",
	       "base64decode");
	is_str(R("{{ transit/decrypt/k#plaintext | base64decode | base64 }}"),
	       "aGVsbG8gd29ybGQ=", "base64decode round trip");
	is_str(R("{{ transit/decrypt/k#nulpt | base64decode }}"),
	       "rc -1: base64decode: the decoded value holds a NUL byte", "NUL after decoding");
	is_str(R("{{ transit/decrypt/k#notb64 | base64decode }}"),
	       "rc -1: base64decode: the value is not base64", "not base64");
	is_str(R("[{{ empty | base64decode }}]"), "[]", "empty base64");
	is_str(R("{{ \"a\\tb\" }}"), "a\tb", "tab escape");
}

int main(void)
{
	test_plain();
	test_refs();
	test_literals();
	test_urlencode();
	test_base64();
	test_json();
	test_case_trim();
	test_default();
	test_chains();
	test_missing();
	test_parse_errors();
	test_join_base64decode();
	sb_wipe(&result);
	return tap_done();
}

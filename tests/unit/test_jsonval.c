#include <stdlib.h>
#include <string.h>

#include "jsonval.h"
#include "tap.h"
#include "strbuf.h"
#include "util.h"

static struct strbuf result = STRBUF_INIT;

/* Parses text and renders its root as jval_to_text would for the
 * environment: the text, or "null", "has-nul", "parse-error". */
static const char *T(const char *text)
{
	struct jdoc *d = NULL;
	sb_wipe(&result);
	if (jdoc_parse(text, strlen(text), &d) < 0) {
		sb_adds(&result, "parse-error");
		return result.buf;
	}
	struct strbuf out = STRBUF_INIT;
	enum jval_result r = jval_to_text(d, jdoc_root(d), &out);
	if (r == JVAL_OK)
		sb_add(&result, out.buf ? out.buf : "", out.len);
	else if (r == JVAL_NULL)
		sb_adds(&result, out.len ? "null, but appended" : "null");
	else
		sb_adds(&result, out.len ? "has-nul, but appended" : "has-nul");
	sb_wipe(&out);
	jdoc_free(d);
	return result.buf;
}

/* The text of member key of the root object, or an outcome as in T(). */
static const char *M(const char *text, const char *key)
{
	struct jdoc *d = NULL;
	sb_wipe(&result);
	if (jdoc_parse(text, strlen(text), &d) < 0) {
		sb_adds(&result, "parse-error");
		return result.buf;
	}
	const cJSON *v = json_get(jdoc_root(d), key);
	struct strbuf out = STRBUF_INIT;
	enum jval_result r = v ? jval_to_text(d, v, &out) : JVAL_NULL;
	if (!v)
		sb_adds(&result, "absent");
	else if (r == JVAL_OK)
		sb_add(&result, out.buf ? out.buf : "", out.len);
	else
		sb_adds(&result, r == JVAL_NULL ? "null" : "has-nul");
	sb_wipe(&out);
	jdoc_free(d);
	return result.buf;
}

static int parses(const char *text, size_t len)
{
	struct jdoc *d = (struct jdoc *)&result; /* must stay untouched on failure */
	int r = jdoc_parse(text, len, &d);
	if (r == 0)
		jdoc_free(d);
	else if (d != (struct jdoc *)&result)
		return -2;
	return r;
}

static void test_strings(void)
{
	is_str(T("\"hello\""), "hello", "plain string");
	is_str(T("\"\""), "", "empty string");
	is_str(T("\"a\\nb\""), "a\nb", "\\n unescaped");
	is_str(T("\"q\\\"q\""), "q\"q", "\\\" unescaped");
	is_str(T("\"b\\\\s\""), "b\\s", "\\\\ unescaped");
	is_str(T("\"\\t\\r\\b\\f\\/\""), "\t\r\b\f/", "other escapes");
	is_str(T("\"\\u00e9\\u20ac\""), "\xc3\xa9\xe2\x82\xac", "\\u escapes to UTF-8");
	is_str(T("\"\\ud83d\\ude00\""), "\xf0\x9f\x98\x80", "surrogate pair to 4-byte UTF-8");
	is_str(T("\"x\\uD83D\\uDE00y\""), "x\xf0\x9f\x98\x80y", "upper-case hex surrogates");
	is_str(T("\"caf\xc3\xa9\""), "caf\xc3\xa9", "raw UTF-8 kept");
	is_str(T("\"\\\\u0000\""), "\\u0000", "escaped backslash then u0000 is not a NUL");
	is_str(T("  \"pad\"\n\t "), "pad", "surrounding whitespace allowed");
}

static void test_numbers(void)
{
	is_str(T("12345678901234567890"), "12345678901234567890", "big integer kept exactly");
	is_str(T("1.50"), "1.50", "trailing zero kept");
	is_str(T("1e3"), "1e3", "exponent kept");
	is_str(T("-0"), "-0", "negative zero kept");
	is_str(T("0.1E-5"), "0.1E-5", "capital exponent with sign kept");
	is_str(T("0"), "0", "zero");
	is_str(T("-17"), "-17", "negative");
	is_str(T("3.141592653589793238462643383279"), "3.141592653589793238462643383279",
	       "more digits than a double holds");
	is_str(M("{\"n\": 9007199254740993, \"m\": 2.0}", "n"), "9007199254740993",
	       "member number beyond 2^53");
	is_str(M("{\"n\": 9007199254740993, \"m\": 2.0}", "m"), "2.0", "second member number");
}

static void test_literals(void)
{
	is_str(T("true"), "true", "true");
	is_str(T("false"), "false", "false");
	is_str(T("null"), "null", "null is JVAL_NULL, nothing appended");
	is_str(M("{\"a\": null}", "a"), "null", "member null is JVAL_NULL");
	is_str(M("{\"a\": true, \"b\": false}", "b"), "false", "member false");

	struct jdoc *d;
	const char *text = "{\"a\": 1}";
	is_int(jdoc_parse(text, strlen(text), &d), 0, "parse for NULL node");
	struct strbuf out = STRBUF_INIT;
	is_int(jval_to_text(d, NULL, &out), JVAL_NULL, "a NULL node is JVAL_NULL");
	is_int(out.len, 0, "nothing appended for a NULL node");
	sb_adds(&out, "X=");
	is_int(jval_to_text(d, json_get(jdoc_root(d), "a"), &out), JVAL_OK, "append a number");
	is_str(out.buf, "X=1", "text appended after existing content");
	sb_wipe(&out);
	jdoc_free(d);
}

static void test_compact(void)
{
	is_str(T("{\"a\": [1, 2.0, \"x\\\"y\"]}"), "{\"a\":[1,2.0,\"x\\\"y\"]}",
	       "object compacted, literals and escapes kept");
	is_str(T("[ ]"), "[]", "empty array");
	is_str(T("{ }"), "{}", "empty object");
	is_str(T("[true, false, null, -0, 1E+2]"), "[true,false,null,-0,1E+2]",
	       "array of literals");
	is_str(T("{\"k\\n\": \"v\\t\\u0001\\\\\"}"), "{\"k\\n\":\"v\\t\\u0001\\\\\"}",
	       "keys and control characters re-escaped");
	is_str(T("{\"u\": \"\\ud83d\\ude00\\u00e9\"}"), "{\"u\":\"\xf0\x9f\x98\x80\xc3\xa9\"}",
	       "non-ASCII written as UTF-8");
	is_str(T("{\"a\": {\"b\": [12345678901234567890, {\"c\": 0.1E-5}]}, \"d\": \"e\"}"),
	       "{\"a\":{\"b\":[12345678901234567890,{\"c\":0.1E-5}]},\"d\":\"e\"}",
	       "nested containers keep literal numbers");
	is_str(M("{\"o\": {\"x\": 1.50}, \"s\": \"t\"}", "o"), "{\"x\":1.50}",
	       "member object compacted");
	is_str(T("{\"a\": 1, \"a\": 2}"), "{\"a\":1,\"a\":2}", "duplicate keys kept in order");
}

static void test_nul(void)
{
	is_str(T("\"a\\u0000b\""), "has-nul", "\\u0000 in a string");
	is_str(T("\"\\u0000\""), "has-nul", "only \\u0000");
	is_str(M("{\"a\": \"x\", \"b\": \"y\\u0000\"}", "a"), "x", "a NUL elsewhere is harmless");
	is_str(M("{\"a\": \"x\", \"b\": \"y\\u0000\"}", "b"), "has-nul", "the member with a NUL");
	is_str(T("{\"a\": {\"b\": [1, \"\\u0000\"]}}"), "has-nul", "NUL nested in an object");
	is_str(T("[\"ok\", \"n\\u0000\"]"), "has-nul", "NUL nested in an array");
	is_str(M("{\"o\": {\"in\": \"\\u0000\"}, \"p\": 1}", "o"), "has-nul",
	       "member object with a NUL inside");
	is_str(M("{\"o\": {\"in\": \"\\u0000\"}, \"p\": 1}", "p"), "1",
	       "sibling after the NUL still matched");
	is_str(T("{\"k\\u0000ey\": 1}"), "has-nul", "NUL in a key of the value");

	/* Partial output is taken back out of the caller's buffer. */
	struct jdoc *d;
	const char *text = "[\"secret\", \"x\\u0000\"]";
	is_int(jdoc_parse(text, strlen(text), &d), 0, "parse array with NUL");
	struct strbuf out = STRBUF_INIT;
	sb_adds(&out, "K=");
	is_int(jval_to_text(d, jdoc_root(d), &out), JVAL_HAS_NUL, "JVAL_HAS_NUL");
	is_str(out.buf, "K=", "nothing of the value left behind");
	is_int(out.len, 2, "length restored");
	sb_wipe(&out);
	jdoc_free(d);

	text = "{\"pl\\u0000ain\": \"v\", \"ok\": \"w\", \"n\": {\"in\\u0000\": 2}}";
	is_int(jdoc_parse(text, strlen(text), &d), 0, "parse keys with NUL");
	const cJSON *root = jdoc_root(d);
	const cJSON *first = root->child;
	ok(first != NULL, "first member exists");
	is_int(jval_key_has_nul(d, first), 1, "key with \\u0000 flagged");
	is_int(jval_key_has_nul(d, first->next), 0, "plain key not flagged");
	is_str(first->next->string, "ok", "second member is ok");
	const cJSON *n = json_get(root, "n");
	ok(n && n->child, "nested object exists");
	is_int(jval_key_has_nul(d, n->child), 1, "nested key with \\u0000 flagged");
	is_int(jval_key_has_nul(d, n), 0, "its parent's key not flagged");
	is_int(jval_key_has_nul(d, root), 0, "root has no key");
	out = (struct strbuf)STRBUF_INIT;
	is_int(jval_to_text(d, first, &out), JVAL_OK, "the value under a NUL key is fine alone");
	is_str(out.buf, "v", "its text");
	sb_wipe(&out);
	jdoc_free(d);
}

static void test_malformed(void)
{
	is_int(parses("", 0), -1, "empty input");
	is_int(parses("   \n", 4), -1, "whitespace only");
	is_int(parses("{", 1), -1, "unterminated object");
	is_int(parses("{\"a\":}", 6), -1, "missing value");
	is_int(parses("{\"a\" 1}", 7), -1, "missing colon");
	is_int(parses("[1,]", 4), -1, "trailing comma");
	is_int(parses("\"abc", 4), -1, "unterminated string");
	is_int(parses("{a: 1}", 6), -1, "unquoted key");
	is_int(parses("tru", 3), -1, "truncated literal");
	is_int(parses("[1e]", 4), -1, "bad exponent");
	is_int(parses("-", 1), -1, "lone minus");
	is_int(parses("{} x", 4), -1, "trailing garbage");
	is_int(parses("{}{}", 4), -1, "two values");
	is_int(parses("1 2", 3), -1, "two numbers");
	is_int(parses("\"a\" ,", 5), -1, "trailing comma after a value");
	is_int(parses("{\"a\":1}", 7), 0, "the same text without garbage parses");

	static const char with_nul[] = "{\"a\":\"x\0y\"}";
	is_int(parses(with_nul, sizeof(with_nul) - 1), -1, "raw NUL byte inside a string");
	static const char nul_after[] = "{\"a\":1}\0junk";
	is_int(parses(nul_after, sizeof(nul_after) - 1), -1, "raw NUL byte after the value");

	/* Nesting far beyond any real answer must fail cleanly, not crash. */
	size_t depth = 5000;
	char *deep = xmalloc(2 * depth + 1);
	memset(deep, '[', depth);
	memset(deep + depth, ']', depth);
	deep[2 * depth] = '\0';
	is_int(parses(deep, 2 * depth), -1, "5000 nested arrays refused");
	deep[depth] = '\0';
	is_int(parses(deep, depth), -1, "5000 unterminated arrays refused");
	free(deep);

	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 5000; i++)
		sb_adds(&sb, "{\"a\":");
	sb_adds(&sb, "1");
	for (int i = 0; i < 5000; i++)
		sb_addc(&sb, '}');
	is_int(parses(sb.buf, sb.len), -1, "5000 nested objects refused");
	sb_wipe(&sb);

	/* A moderate depth is fine. */
	for (int i = 0; i < 50; i++)
		sb_addc(&sb, '[');
	sb_adds(&sb, "7");
	for (int i = 0; i < 50; i++)
		sb_addc(&sb, ']');
	struct strbuf want = STRBUF_INIT;
	sb_add(&want, sb.buf, sb.len);
	is_str(T(sb.buf), want.buf, "50 nested arrays round-trip");
	sb_wipe(&sb);
	sb_wipe(&want);
}

static void test_get(void)
{
	struct jdoc *d;
	const char *text = "{\"s\": \"str\", \"n\": 5, \"o\": {\"i\": \"in\"}, \"a\": [\"x\"], "
	                   "\"z\": null, \"Case\": \"c\"}";
	is_int(jdoc_parse(text, strlen(text), &d), 0, "parse envelope");
	const cJSON *root = jdoc_root(d);
	ok(cJSON_IsObject(root), "root is an object");
	is_str(json_get_string(root, "s"), "str", "json_get_string on a string member");
	ok(json_get_string(root, "n") == NULL, "json_get_string on a number is NULL");
	ok(json_get_string(root, "o") == NULL, "json_get_string on an object is NULL");
	ok(json_get_string(root, "z") == NULL, "json_get_string on null is NULL");
	ok(json_get_string(root, "missing") == NULL, "json_get_string on absent is NULL");
	ok(json_get_string(root, "case") == NULL, "keys are case-sensitive");
	is_str(json_get_string(root, "Case"), "c", "exact case found");
	is_str(json_get_string(json_get(root, "o"), "i"), "in", "nested lookup");
	ok(json_get(json_get(root, "s"), "x") == NULL, "json_get on a string is NULL");
	ok(json_get(json_get(root, "n"), "x") == NULL, "json_get on a number is NULL");
	ok(json_get(json_get(root, "a"), "0") == NULL, "json_get on an array is NULL");
	ok(json_get(json_get(root, "z"), "x") == NULL, "json_get on null is NULL");
	ok(json_get(NULL, "x") == NULL, "json_get on NULL is NULL");
	ok(json_get_string(NULL, "x") == NULL, "json_get_string on NULL is NULL");
	ok(json_get_string(json_get(root, "a"), "x") == NULL, "json_get_string on an array");
	ok(cJSON_IsNull(json_get(root, "z")), "json_get returns a null member");
	jdoc_free(d);

	text = "[{\"s\": \"x\"}]";
	is_int(jdoc_parse(text, strlen(text), &d), 0, "parse array root");
	ok(json_get(jdoc_root(d), "s") == NULL, "json_get on an array root is NULL");
	jdoc_free(d);
	jdoc_free(NULL);
}

int main(void)
{
	test_strings();
	test_numbers();
	test_literals();
	test_compact();
	test_nul();
	test_malformed();
	test_get();
	sb_wipe(&result);
	return tap_done();
}

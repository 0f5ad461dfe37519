#include <stdint.h>
#include <string.h>

#include "secref.h"
#include "tap.h"
#include "strbuf.h"

static struct secref ref;
static char err[128];

static int parse(const char *s)
{
	secref_clear(&ref);
	err[0] = '\0';
	return secref_parse(s, strlen(s), &ref, err, sizeof(err));
}

/* Checks a ref that must parse into the given parts. */
static void good(const char *s, const char *path, const char *field, uint64_t version)
{
	int rc = parse(s);
	is_int(rc, 0, "'%s' parses", s);
	if (rc != 0) {
		printf("#   err: %s\n", err);
		return;
	}
	is_str(ref.path, path, "'%s' path", s);
	is_str(ref.field, field, "'%s' field", s);
	is_int(ref.version, version, "'%s' version", s);
}

static void bad(const char *name, const char *s, const char *why)
{
	is_int(parse(s), -1, "%s rejected", name);
	is_str(err, why, "%s reason", name);
	ok(ref.path == NULL && ref.field == NULL, "%s leaves no allocation", name);
}

int main(void)
{
	good("password", NULL, "password", 0);
	good("secret/app#password", "secret/app", "password", 0);
	good("secret/app#password#3", "secret/app", "password", 3);
	good("p#f#3", "p", "f", 3);
	good("p#f#007", "p", "f", 7);
	good("p#f#9223372036854775807", "p", "f", INT64_MAX);
	good("/secret/app/#pw", "secret/app", "pw", 0);
	good("//a//#f", "a", "f", 0);
	/* An empty, "." or ".." segment would reach another API path. */
	bad("x//y", "/x//y/#f", "bad secret path (an empty, '.' or '..' segment)");
	bad("dotdot", "secret/../sys/x#f", "bad secret path (an empty, '.' or '..' segment)");
	bad("dot", "secret/./x#f", "bad secret path (an empty, '.' or '..' segment)");
	good("kv/data/a-b_c.d#user.name", "kv/data/a-b_c.d", "user.name", 0);
	good("caf\xc3\xa9#f", "caf\xc3\xa9", "f", 0);

	/* Only len bytes count, so callers can parse a token in place. */
	secref_clear(&ref);
	is_int(secref_parse("abc#def", 3, &ref, err, sizeof(err)), 0, "length-limited parse");
	is_str(ref.field, "abc", "only len bytes used");
	ok(ref.path == NULL, "no path within len");
	secref_clear(&ref);

	bad("empty", "", "empty field reference");
	bad("'#f'", "#f", "empty secret path before '#'");
	bad("'/#f'", "/#f", "empty secret path before '#'");
	bad("'///#f'", "///#f", "empty secret path before '#'");
	bad("'p#'", "p#", "empty field name after '#'");
	bad("'p##3'", "p##3", "empty field name after '#'");
	bad("'p#f#'", "p#f#", "bad version after second '#'");
	bad("'p#f#0'", "p#f#0", "bad version '0' (a positive integer)");
	bad("'p#f#abc'", "p#f#abc", "bad version 'abc' (a positive integer)");
	bad("'p#f#-1'", "p#f#-1", "bad version '-1' (a positive integer)");
	bad("'p#f#3#4'", "p#f#3#4", "bad version '3#4' (a positive integer)");
	bad("'p#f#9223372036854775808'", "p#f#9223372036854775808",
	    "bad version '9223372036854775808' (a positive integer)");
	bad("long version", "p#f#123456789012345678901234567890", "bad version after second '#'");
	bad("tab", "a\tb", "control character in field reference");
	bad("newline in field", "p#f\n", "control character in field reference");
	bad("DEL", "p\x7f#f", "control character in field reference");
	bad("escape", "\x1b[0m", "control character in field reference");

	struct secref a, b;
	is_int(secref_parse("s/x#f#2", 7, &a, err, sizeof(err)), 0, "parse for copy");
	secref_copy(&b, &a);
	ok(b.path != a.path && b.field != a.field, "copy owns its strings");
	is_str(b.path, "s/x", "copied path");
	is_str(b.field, "f", "copied field");
	is_int(b.version, 2, "copied version");
	secref_clear(&a);
	ok(a.path == NULL && a.field == NULL && a.version == 0, "clear resets");
	is_str(b.path, "s/x", "copy survives clearing the original");
	secref_clear(&b);

	is_int(secref_parse("fld", 3, &a, err, sizeof(err)), 0, "parse default-secret ref");
	secref_copy(&b, &a);
	ok(b.path == NULL, "copy keeps NULL path");
	is_str(b.field, "fld", "copied field");
	secref_clear(&a);
	secref_clear(&b);

	/* Writes: PATH?PARAMS#FIELD. */
	good("pki/issue/web?common_name=a.example&ttl=24h#certificate", "pki/issue/web",
	     "certificate", 0);
	is_str(ref.params, "common_name=a.example&ttl=24h", "params kept raw");
	good("transit/decrypt/k?ciphertext=vault:v1:ab+c/d==#plaintext", "transit/decrypt/k",
	     "plaintext", 0);
	is_str(ref.params, "ciphertext=vault:v1:ab+c/d==", "'+', '/', '=' and ':' in a value");
	good("secret/app#pw", "secret/app", "pw", 0);
	ok(ref.params == NULL, "no params on a read");
	bad("no params", "pki/issue/web?#certificate", "no parameters after '?'");
	bad("no '='", "pki/issue/web?common_name#certificate",
	    "parameter without '=' is not NAME=VALUE");
	bad("empty name", "p?=x#f", "parameter '=...' is not NAME=VALUE");
	bad("trailing &", "p?a=1&#f", "parameter list ends with '&'");
	bad("empty item", "p?a=1&&b=2#f", "parameter (empty) is not NAME=VALUE");
	bad("bad escape", "p?a=%zz#f",
	    "parameter a: bad %-escape in its value (want %XX, not %00)");
	bad("NUL escape", "p?a=%00#f",
	    "parameter a: bad %-escape in its value (want %XX, not %00)");
	bad("short escape", "p?a=%4#f",
	    "parameter a: bad %-escape in its value (want %XX, not %00)");
	bad("version on a write", "p?a=1#f#2", "a write (PATH?PARAMS) has no version");
	bad("empty path", "?a=1#f", "empty secret path before '#'");

	/* Decoding, one parameter at a time. */
	const char *it = "a%20b=c%26d&e=%2B+&x=";
	struct strbuf n = STRBUF_INIT, v = STRBUF_INIT;
	is_int(secref_param_next(&it, &n, &v, err, sizeof(err)), 1, "first param");
	is_str(n.buf, "a b", "name decoded");
	is_str(v.buf, "c&d", "value decoded");
	sb_reset(&n), sb_reset(&v);
	is_int(secref_param_next(&it, &n, &v, err, sizeof(err)), 1, "second param");
	is_str(v.buf, "++", "'+' stays '+'");
	sb_reset(&n), sb_reset(&v);
	is_int(secref_param_next(&it, &n, &v, err, sizeof(err)), 1, "third param");
	ok(v.len == 0, "empty value");
	is_int(secref_param_next(&it, &n, &v, err, sizeof(err)), 0, "end");
	sb_wipe(&n);
	sb_wipe(&v);

	secref_clear(&ref);
	return tap_done();
}

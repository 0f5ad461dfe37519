/* Regressions for bugs the fuzzers found, one check each, written the way
 * the unit tests are.  The inputs that found them are replayed as well
 * (regressions/<harness>/ through the harnesses, by run.sh and by the
 * replay-* meson tests); this file says in plain C what each one was.
 *
 * Vault is the fake server of ../fakeserver.c on a unix socket. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fakeserver.h"
#include "http.h"
#include "jsonval.h"
#include "plan.h"
#include "render.h"
#include "tap.h"
#include "vault.h"

static char *addr;

static void serve_one(const char *status_and_body)
{
	const char *body = strchr(status_and_body, ' ') + 1;
	char *ans = xasprintf("HTTP/1.1 %.3s X\r\nContent-Type: application/json\r\n"
	                      "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	                      status_and_body, strlen(body), body);
	size_t len = strlen(ans);
	fakeserver_set((const char *const *)&ans, &len, 1);
	free(ans);
}

/* Reads PATH#a with the given KV version setting against one answer;
 * returns plan_fetch's code and, when it is 0, plan_lookup's. */
static int read_field(enum kv_version kv, const char *answer, char *why, size_t whylen)
{
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.addr = addr;
	cfg.kv_mount = (char *)"secret";
	cfg.kv_version = kv;
	cfg.request_timeout_ms = 2000;
	struct secref ref = {(char *)"secret/app", (char *)"a", 0, NULL};
	struct plan *p = plan_new(&cfg);
	plan_add(p, &ref);
	struct vault *v = NULL;
	int r = vault_open(&v, &cfg);
	if (r == 0) {
		serve_one(answer);
		r = plan_fetch(p, v);
	}
	if (r == 0) {
		const char *val;
		size_t len;
		r = plan_lookup(p, &ref, &val, &len, why, whylen);
	}
	vault_close(v);
	plan_free(p);
	return r;
}

/* fuzz_kv: a 200 whose body is empty or not JSON (a proxy's error page)
 * crashed: fetch_one and detect_mount called jdoc_root(NULL) before
 * checking for a document.  jdoc_root now answers NULL for NULL. */
static void test_200_without_json(void)
{
	ok(jdoc_root(NULL) == NULL, "jdoc_root(NULL) is NULL");
	ok(json_get(jdoc_root(NULL), "data") == NULL, "json_get on it is NULL");
	char why[256] = "";
	is_int(read_field(KV_V2, "200 ", why, sizeof(why)), EXIT_DATA, "KV v2: 200, empty body");
	is_int(read_field(KV_V1, "200 <html>bad gateway</html>", why, sizeof(why)), EXIT_DATA,
	       "KV v1: 200, HTML body");
	is_int(read_field(KV_AUTO, "200 nope", why, sizeof(why)), EXIT_DATA,
	       "--kv-version auto: mounts answer 200, not JSON");
}

/* fuzz_kv: metadata.version of a deleted KV v2 version was cast from
 * double to uint64_t unchecked; 1e999 (inf) or 1e300 is undefined
 * behaviour (UBSan: "outside the range of representable values"). */
static void test_deleted_version_out_of_range(void)
{
	static const char *const answers[] = {
	    "404 {\"data\":{\"data\":null,\"metadata\":{\"version\":1e999}}}",
	    "404 {\"data\":{\"data\":null,\"metadata\":{\"version\":1e300}}}",
	    "200 {\"data\":{\"data\":null,\"metadata\":{\"version\":-1e300,\"destroyed\":true}}}",
	    "404 {\"data\":{\"data\":null,\"metadata\":{\"version\":18446744073709551616}}}",
	};
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		char why[256] = "";
		is_int(read_field(KV_V2, answers[i], why, sizeof(why)), 1,
		       "deleted version, out-of-range metadata.version #%zu: missing", i);
		ok(strstr(why, "is deleted") || strstr(why, "is destroyed"), "  why: %s", why);
	}
	char why[256] = "";
	read_field(KV_V2, "404 {\"data\":{\"data\":null,\"metadata\":{\"version\":7}}}", why,
	           sizeof(why));
	ok(strstr(why, "version 7 is deleted") != NULL, "an in-range version is reported: %s", why);
}

/* fuzz_config: config_parse reset getopt with optind = 1, which keeps
 * glibc's (and musl's) position inside the previous argv: after "-xV"
 * failed on x, the next call read the freed "V" and printed the version.
 * Now optind = 0 (found while writing the harness, fixed in cli.c). */
static void test_getopt_state_reset(void)
{
	char a0[] = "vaultexec", a1[] = "-xV";
	char *first[] = {a0, a1, NULL};
	char *envp[] = {NULL};
	struct config cfg;
	is_int(config_parse(&cfg, 2, first, envp), EXIT_USAGE, "-xV: unknown option x");
	config_free(&cfg);
	memset(a1, 'Z', sizeof(a1) - 1); /* as if freed and reused */
	char b0[] = "vaultexec", b1[] = "--service", b2[] = "app", b3[] = "true";
	char *second[] = {b0, b1, b2, b3, NULL};
	is_int(config_parse(&cfg, 4, second, envp), CLI_OK, "the next call starts afresh");
	is_str(cfg.default_path, "secret/app", "and parses its own argv");
	config_free(&cfg);
}

/* fuzz_http: libcurl 7.88 (Debian 12) keeps a pointer to the last header
 * of the previous response on a reused handle; a response whose first
 * header line is folded (starts with a space) makes it read and free that
 * stale header (curl#11101, fixed in curl 8.1.0).  http.c now takes a
 * fresh handle per request and keeps connections in a share.  Under ASan
 * the old code fails here with heap-use-after-free. */
static void test_folded_header_on_reused_handle(void)
{
	static const char first[] = "HTTP/1.1 500 X\x10\nContent-Type: application/json\r\n"
	                            "Content-Length: 23\x0c\n\r\n{\"errors\":[\"internal\"]}";
	static const char second[] = "HTTP/1.1 200\n \rXCogth: 2\r\n\r\n{}";
	const char *ans[] = {first, second};
	size_t lens[] = {sizeof(first) - 1, sizeof(second) - 1};
	struct http_tls tls = {0};
	struct http_client *c = NULL;
	ok(http_client_new(&c, &tls, strchr(addr, '/') + 2) == 0, "http client on the socket");
	fakeserver_set(ans, lens, 2);
	struct http_response resp = {0, STRBUF_INIT, NULL, -1};
	char err[256];
	enum http_status st = http_request(c, "GET", "http://localhost/v1/a", NULL, NULL, 2000,
	                                   &resp, err, sizeof(err));
	ok(st == HTTP_OK && resp.code == 500, "first answer: 500");
	st = http_request(c, "GET", "http://localhost/v1/a", NULL, NULL, 2000, &resp, err,
	                  sizeof(err));
	ok(st == HTTP_OK || st == HTTP_E_OTHER || st == HTTP_E_CONNECT,
	   "second answer, folded header first: no crash (status %d)", (int)st);
	http_response_clear(&resp);
	http_client_free(c);
}

/* fuzz_kv: an inherited entry with an empty name ("=vault:PATH#FIELD")
 * was resolved, giving the child a nameless "=<secret>" entry.  Such
 * entries name no variable; they are passed on untouched. */
static void test_envref_with_empty_name(void)
{
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.kv_mount = (char *)"secret";
	cfg.kv_version = KV_V2;
	cfg.env_refs = true;
	char e1[] = "=vault:secret/x#y", e2[] = "=a${vault:secret/x#y}b",
	     e3[] = "OK=vault:secret/x#y";
	char *environ_[] = {e1, e2, e3, NULL};
	struct plan *p = plan_new(&cfg);
	struct job j;
	is_int(job_prepare(&j, &cfg, environ_, p), 0, "job_prepare accepts nameless entries");
	is_int(j.nrefs, 1, "only OK=vault:... is a reference");
	job_free(&j);
	plan_free(p);
}

int main(void)
{
	/* Unbuffered: a sanitizer report ends the process, and the TAP lines
	 * before it should show how far it got.  (Log lines of the failing
	 * cases go to stderr, which TAP ignores.) */
	setvbuf(stdout, NULL, _IONBF, 0);
	addr = xasprintf("unix://%s", fakeserver_start());
	test_200_without_json();
	test_deleted_version_out_of_range();
	test_getopt_state_reset();
	test_folded_header_on_reused_handle();
	test_envref_with_empty_name();
	free(addr);
	return tap_done();
}

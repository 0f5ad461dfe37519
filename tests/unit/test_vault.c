/* The pure policy of vault.c: health classification, which answers are
 * retried, backoff windows and jitter bounds, redirect targets, and the
 * one-line error text. */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "vault.h"

static void test_health(void)
{
	static const struct {
		long code;
		enum vault_health want;
	} cases[] = {
	    {200, VH_READY},  {429, VH_READY},    {473, VH_READY},    {501, VH_UNINITIALIZED},
	    {503, VH_SEALED}, {472, VH_UNUSABLE}, {530, VH_UNUSABLE}, {500, VH_ERROR},
	    {502, VH_ERROR},  {504, VH_ERROR},    {412, VH_ERROR},    {474, VH_ERROR},
	    {400, VH_NONE},   {403, VH_NONE},     {404, VH_NONE},     {307, VH_NONE},
	    {204, VH_NONE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(vault_health_of(cases[i].code), cases[i].want, "sys/health %ld",
		       cases[i].code);
}

static void test_retryable(void)
{
	static const long yes[] = {412, 429, 500, 502, 503, 504, 530, 599};
	static const long no[] = {200, 204, 301, 307, 400, 401, 403, 404, 405, 409, 501};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ok(vault_retryable_code(yes[i]), "HTTP %ld is retried", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ok(!vault_retryable_code(no[i]), "HTTP %ld is not retried", no[i]);
}

static void test_backoff(void)
{
	is_int(vault_backoff_window_ms(0), 200, "first window 200 ms");
	is_int(vault_backoff_window_ms(1), 400, "doubles");
	is_int(vault_backoff_window_ms(3), 1600, "doubles again");
	is_int(vault_backoff_window_ms(4), 3000, "capped at 3 s");
	is_int(vault_backoff_window_ms(1000), 3000, "stays capped, no overflow");

	/* Full jitter: every delay within [0, window], and the draws spread
	 * over the window rather than sitting at one end. */
	uint64_t seed = 0x1234567890abcdefULL;
	for (unsigned attempt = 0; attempt < 8; attempt++) {
		uint64_t w = vault_backoff_window_ms(attempt), lo = w, hi = 0;
		int inside = 1;
		for (int k = 0; k < 2000; k++) {
			uint64_t d = vault_jitter_ms(&seed, attempt);
			inside &= d <= w;
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
		ok(inside, "attempt %u: every delay within [0, %llu]", attempt,
		   (unsigned long long)w);
		ok(lo < w / 10 && hi > w - w / 10, "attempt %u: delays spread over the window",
		   attempt);
	}
	uint64_t a = 1, b = 2;
	int differ = 0;
	for (int k = 0; k < 10; k++)
		differ |= vault_jitter_ms(&a, 5) != vault_jitter_ms(&b, 5);
	ok(differ, "different seeds give different delays (no lock-step)");
}

static const char *target(const char *url, const char *loc)
{
	static char buf[512];
	char err[256] = "", *out = NULL;
	if (vault_redirect_target(url, loc, &out, err, sizeof(err)) < 0) {
		snprintf(buf, sizeof(buf), "refused: %s", err);
	} else {
		snprintf(buf, sizeof(buf), "%s", out);
		free(out);
	}
	return buf;
}

static void test_redirects(void)
{
	is_str(target("http://a:8200/v1/secret/data/x", "http://b:8200/v1/secret/data/x"),
	       "http://b:8200/v1/secret/data/x", "absolute target");
	is_str(target("https://a:8200/v1/secret/data/x?version=2", "/v1/secret/data/x?version=2"),
	       "https://a:8200/v1/secret/data/x?version=2", "relative target keeps the query");
	is_str(target("https://a:8200/v1/x", "https://b/v1/x"), "https://b/v1/x", "https to https");
	is_str(target("http://a/v1/x", "https://b/v1/x"), "https://b/v1/x", "http to https");
	is_str(target("https://a:8200/v1/x", "http://b:8200/v1/x"),
	       "refused: redirect from https to http refused (protocol downgrade)",
	       "https to http refused");
	ok(strncmp(target("https://a/v1/x", "ftp://b/x"), "refused: ", 9) == 0,
	   "https to ftp refused");
	ok(strncmp(target("http://a/v1/x", "http://[::1"), "refused: ", 9) == 0,
	   "unusable Location refused");
}

static void test_error_line(void)
{
	struct vault_reply r = {0};
	char body[] = "{\"errors\":[\"1 error occurred:\\n\\t* permission denied\\n\\n\"]}";
	r.code = 403;
	jdoc_parse(body, strlen(body), &r.doc);
	char line[64];
	vault_error_line(&r, line, sizeof(line));
	is_str(line, "permission denied", "multierror count and bullet dropped");
	char tiny[8];
	vault_error_line(&r, tiny, sizeof(tiny));
	is_int(strlen(tiny), 7, "cut to the buffer");
	jdoc_free(r.doc);
	struct strbuf sb = STRBUF_INIT;
	vault_clean_error("2 errors occurred:\n\t* a  b\n\t* c\r\n\n", &sb);
	is_str(sb.buf, "a b; c", "items joined by '; ', blanks folded");
	sb_wipe(&sb);
	vault_clean_error("x\xe2\x80\xa8y\x01z", &sb);
	is_str(sb.buf, "x y z", "Unicode line separator and controls become spaces");
	sb_wipe(&sb);
	struct vault_reply none = {0};
	vault_error_line(&none, line, sizeof(line));
	is_str(line, "", "no body: empty");
}

int main(void)
{
	test_health();
	test_retryable();
	test_backoff();
	test_redirects();
	test_error_line();
	return tap_done();
}

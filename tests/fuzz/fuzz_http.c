/* The HTTP response handling above libcurl: header callbacks (Location,
 * Retry-After), the redirect rule, retries, body size limit, JSON parsing
 * of bodies and Vault error messages, through vault_wait_ready and
 * vault_request against a fake server on a unix socket (see
 * fakeserver.h).  The fuzzer writes whole raw HTTP responses.
 *
 * Input: MODE, then answers separated by "--VXNEXT--".  MODE bits 0-1:
 * 0 vault_wait_ready, 1 GET with the KV-upgrade retry, 2 plain GET,
 * 3 POST login-style (no token); bit 2: a short --wait deadline (so
 * retries and Retry-After run) instead of a single attempt; bit 3: a
 * namespace. */
#include <string.h>

#include "config.h"
#include "fakeserver.h"
#include "fuzz_common.h"
#include "vault.h"

static const char sep[] = "--VXNEXT--";
static char *addr;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	addr = xasprintf("unix://%s", fakeserver_start());
	return 0;
}

static void queue_answers(const uint8_t *data, size_t size)
{
	const char *ans[64];
	size_t lens[64], n = 0;
	const char *p = (const char *)data, *end = p + size;
	while (n < 64) {
		const char *m = memmem(p, (size_t)(end - p), sep, sizeof(sep) - 1);
		ans[n] = p;
		lens[n] = m ? (size_t)(m - p) : (size_t)(end - p);
		n++;
		if (!m)
			break;
		p = m + sizeof(sep) - 1;
	}
	fakeserver_set(ans, lens, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned mode = data[0];
	queue_answers(data + 1, size - 1);

	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.addr = addr;
	cfg.wait_ms = (mode & 4) ? 5 : 0;
	cfg.tls_skip_verify = true; /* a redirect to https: no CA bundle to load */
	cfg.request_timeout_ms = 2000;
	cfg.namespace_ = (mode & 8) ? (char *)"ns1/team" : NULL;

	struct vault *v = NULL;
	FUZZ_CHECK(vault_open(&v, &cfg) == 0);
	vault_set_token(v, "s.fuzztoken");
	int r;
	if ((mode & 3) == 0) {
		r = vault_wait_ready(v);
		FUZZ_CHECK(r == 0 || r == EXIT_UNAVAILABLE || r == EXIT_NOPERM || r == EXIT_CONFIG);
	} else {
		struct vault_reply rep;
		static const char *const paths[] = {"", "secret/data/app", "secret/app",
		                                    "auth/approle/login"};
		int flags = (mode & 3) == 1 ? VREQ_KV_UPGRADE : (mode & 3) == 3 ? VREQ_NO_TOKEN : 0;
		r = vault_request(v, (mode & 3) == 3 ? "POST" : "GET", paths[mode & 3],
		                  (mode & 16) ? "version=2" : NULL, (mode & 3) == 3 ? "{}" : NULL,
		                  flags, &rep);
		FUZZ_CHECK(r == 0 || r == EXIT_UNAVAILABLE || r == EXIT_CONFIG || r == EXIT_DATA);
		if (r == 0) {
			FUZZ_CHECK(rep.body && rep.body[rep.body_len] == '\0');
			FUZZ_CHECK(rep.body_len <= HTTP_MAX_BODY);
			const char *m = vault_error_message(&rep);
			if (m)
				FUZZ_CHECK(rep.doc != NULL);
		} else {
			FUZZ_CHECK(rep.body == NULL && rep.doc == NULL);
		}
		vault_reply_clear(&rep);
	}
	vault_close(v);
	return 0;
}

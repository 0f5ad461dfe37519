/* The Vault (and OpenBao) HTTP API: URLs, headers, the readiness wait, and
 * the retry policy.  doc/vault-api.md says what it relies on. */
#ifndef VAULTEXEC_VAULT_H
#define VAULTEXEC_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "http.h"
#include "jsonval.h"

struct vault;

/* Builds the client from the configuration; reads CA files.  Returns 0
 * or an exit code after logging. */
int vault_open(struct vault **out, const struct config *cfg);
void vault_close(struct vault *v);

/* Waits until sys/health says the node can serve, within the deadline.
 * vault_request runs it by itself when its first request meets no
 * answer from Vault (unreachable, sealed, a 5xx, another server's page),
 * then asks again; an answer from Vault skips it. */
int vault_wait_ready(struct vault *v);
/* vault_wait_ready unless an answer from Vault came already: before a
 * request whose body must be read after any wait, and for a run that
 * asked Vault nothing (it still waits for a ready Vault). */
int vault_ensure_ready(struct vault *v);

/* A new deadline for the requests from now on: wait_ms from now, or 0
 * for a single attempt each (the supervisor retries on its own clock). */
void vault_set_wait(struct vault *v, uint64_t wait_ms);

/* Every request from now on can be abandoned: http_set_interrupt. */
void vault_set_interrupt(struct vault *v, int fd, bool (*stop)(void *arg), void *arg);

/* The token used from now on (copied; wiped on close). */
void vault_set_token(struct vault *v, const char *token);

struct vault_reply {
	long code;
	struct jdoc *doc; /* parsed body, NULL when empty or not JSON */
	char *body;       /* raw body (may hold secrets), NUL-terminated */
	size_t body_len;
	bool quotes_credential; /* its messages quote the token or a login's body: not shown */
};
void vault_reply_clear(struct vault_reply *r);

enum vault_req_flags {
	VREQ_NO_TOKEN = 1,   /* login requests carry no X-Vault-Token */
	VREQ_KV_UPGRADE = 2, /* retry KV's "Upgrading from non-versioned" 400 */
};

/* method on /v1/<api_path>[?query].  api_path is already escaped.  Retries
 * transport errors, 412, 429 and 5xx but 501 until the deadline, follows
 * one redirect.  Returns 0 with the final answer in *reply (any status),
 * or an exit code after logging (69 deadline, 78 TLS, ...). */
int vault_request(struct vault *v, const char *method, const char *api_path, const char *query,
                  const char *body, int flags, struct vault_reply *reply);

/* The first message of an {"errors":[...]} body, or NULL. */
const char *vault_error_message(const struct vault_reply *r);
/* Vault's error text as one line: go-multierror's "1 error occurred:" and
 * bullets dropped, items joined by "; ", control characters, Unicode line
 * separators and runs of blanks folded to one space.  Appends to out. */
void vault_clean_error(const char *in, struct strbuf *out);
/* Every message of the answer's "errors" (or "warnings") array, cleaned
 * and joined by "; ", appended to out (empty string when there is none);
 * a fixed note instead when one quotes a credential of the request. */
void vault_error_text(const struct vault_reply *r, struct strbuf *out);
void vault_warnings_text(const struct vault_reply *r, struct strbuf *out);
/* vault_error_text into a fixed buffer (truncated); "" when there is none. */
void vault_error_line(const struct vault_reply *r, char *buf, size_t n);

/* The namespace (NULL when none), for messages. */
const char *vault_namespace(const struct vault *v);

/* Whether the token is valid: 1 yes, 0 no (auth/token/lookup-self is
 * refused), -1 unknown (Vault unreachable or a strange answer). */
int vault_token_check(struct vault *v);
/* Logs "WHAT: permission denied: the token is not valid ..." naming where
 * the token came from; returns EXIT_NOPERM. */
int vault_token_invalid_error(struct vault *v, const char *what);

/* After a 403 in rep on api_path: logs one line saying whether the token
 * is not valid (one auth/token/lookup-self tells) or lacks CAPABILITY on
 * api_path, and what to change, then HINT (if not NULL) when the token is
 * valid.  what starts the line.  Returns 77. */
int vault_explain_denied(struct vault *v, const char *what, const char *api_path,
                         const char *capability, const struct vault_reply *rep, const char *hint);

/* ---- pure policy, exposed for tests/unit/test_vault.c ---- */

/* What a sys/health status code says (doc/vault-api.md, "Health"). */
enum vault_health {
	VH_NONE,          /* not a health answer: fail at once */
	VH_UNREACHABLE,   /* (transport failure) */
	VH_UNINITIALIZED, /* 501 */
	VH_SEALED,        /* 503 */
	VH_UNUSABLE,      /* 472, 530 */
	VH_ERROR,         /* other 5xx, 412, 474 */
	VH_READY,         /* 200, 429, 473 */
};
enum vault_health vault_health_of(long code);
/* Whether an answer to a request is worth asking again: 412, 429, 5xx but 501. */
bool vault_retryable_code(long code);
/* The backoff window of an attempt: 200 ms doubling, at most 3 s. */
uint64_t vault_backoff_window_ms(unsigned attempt);
/* A delay in [0, window] from the xorshift state *seed (full jitter). */
uint64_t vault_jitter_ms(uint64_t *seed, unsigned attempt);
/* Resolves a Location header against url into *out (allocated); refuses
 * https to anything else and unusable targets with a reason in err.
 * Returns 0 or -1. */
int vault_redirect_target(const char *url, const char *loc, char **out, char *err, size_t errlen);

/* For log lines: the address without any userinfo. */
const char *vault_addr(const struct vault *v);

#endif

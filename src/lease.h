/* Leases: every answer that carries a lease_id (database credentials, PKI
 * certificates of a role with a lease, ...) is remembered here with the
 * request that produced it, so that the leases can be described on the
 * success line, revoked when the run fails or after --check, and, by a
 * resident process, renewed or fetched again.
 *
 * Lease IDs are secrets of a kind (whoever holds one and a token with
 * sys/leases rights can revoke the credentials): they are never logged. */
#ifndef VAULTEXEC_LEASE_H
#define VAULTEXEC_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "strbuf.h"
#include "util.h"
#include "vault.h"

struct lease {
	char *path; /* for messages: the path as written, without parameters */
	/* Never logged.  NULL for an answer without a lease that says when
	 * its values end (a PKI certificate of a role without generate_lease):
	 * kept here only for its clock, fetched again, never renewed or
	 * revoked. */
	char *lease_id;
	uint64_t duration_s; /* lease_duration as answered */
	bool renewable;
	/* The request that produced it, to fetch again: method, API path
	 * (after /v1/, escaped) and the JSON body of a write (may hold a
	 * secret; NULL for a read). */
	char *method;
	char *api_path;
	char *body;
	uint64_t taken_ms; /* monotonic clock when the answer came */
	time_t taken_at;   /* wall clock, for "expires at" */
	bool revoked;
	/* The supervisor's schedule (supervise.c); zero until it plans. */
	uint64_t expires_ms; /* monotonic end of the last grant */
	uint64_t due_ms;     /* next renewal or fetch */
	bool refetch;        /* at due_ms fetch fresh values, else renew */
	bool replaced;       /* fresh values fetched: revoke once the command has them */
	uint64_t revoke_ms;  /* replaced: when to revoke it (0: not yet known) */
	bool expiry_logged;
	unsigned failures;
};

struct lease_set {
	struct lease *v;
	size_t n;
};

/* Records the lease of an answer, if it has one (a non-empty lease_id).
 * Returns the new lease or NULL.  Strings are copied. */
struct lease *lease_take(struct lease_set *ls, const struct vault_reply *rep, const char *path,
                         const char *method, const char *api_path, const char *body);

/* An answer without a lease whose values end at end (wall clock): a
 * lease_id-less entry with that clock.  Returns it, or NULL when end has
 * passed already (warned). */
struct lease *lease_take_expiry(struct lease_set *ls, time_t end, const char *path,
                                const char *method, const char *api_path, const char *body);

/* When the values of an answer's data end, without a lease: PKI's
 * "expiration" (Unix seconds), else the earliest notAfter of the fields
 * that hold a PEM certificate.  Returns false when there is neither. */
bool lease_expiry_of(const cJSON *data, time_t *end);

/* PUT sys/leases/revoke for one lease.  Returns 0 when revoked (or when
 * there is nothing to revoke: no lease ID), EXIT_UNAVAILABLE when Vault
 * could not be reached (worth another try), 1 when Vault refused (logged
 * as a warning saying what is left behind and for how long). */
int lease_revoke(struct vault *v, struct lease *l);

/* Revokes every lease not yet revoked, best effort; why says which step
 * asked for it ("the run failed", "--check").  Returns how many are left. */
size_t lease_revoke_all(struct vault *v, struct lease_set *ls, const char *why);

/* How many entries are real leases (with a lease ID), not revoked. */
size_t lease_count(const struct lease_set *ls);

/* The lease that ends first (NULL when there is none). */
const struct lease *lease_shortest(const struct lease_set *ls);

/* For the success line: "1 lease (database/creds/ro, 1h, renewable)" or
 * "3 leases (shortest pki/issue/web, 24h, not renewable)"; with expiry,
 * "; expires 2026-11-29 21:05:00 UTC, nothing renews it" is added.
 * token_end (wall clock, 0: none) is when the token ends: a lease ends
 * with its token, so the earlier of the two is said. */
void lease_describe(const struct lease_set *ls, bool expiry, time_t token_end, struct strbuf *out);

/* "1h", "90s", "2h30m", "0s" */
void lease_format_duration(uint64_t s, struct strbuf *out);

void lease_set_clear(struct lease_set *ls);

/* Forgets the leases already revoked (their strings wiped). */
void lease_set_drop_revoked(struct lease_set *ls);

#endif

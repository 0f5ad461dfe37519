/* The secrets a run needs: every reference from --map, --map-all, --env,
 * --file and environment references is registered first, so each secret
 * path is read once however many fields come from it; then they are
 * fetched, then looked up field by field. */
#ifndef VAULTEXEC_PLAN_H
#define VAULTEXEC_PLAN_H

#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "secref.h"
#include "vault.h"
#include "strbuf.h"

struct plan;

struct plan *plan_new(const struct config *cfg);
void plan_free(struct plan *p);

/* Registers the secret a reference reads (path NULL: the default one). */
void plan_add(struct plan *p, const struct secref *ref);

/* Reads every registered secret.  Returns 0 or an exit code after
 * logging (77 permission denied, 69 unreachable, ...).  A missing or
 * deleted secret is not an error here: lookups report it. */
int plan_fetch(struct plan *p, struct vault *v);

/* What a lookup found. */
enum lookup_result {
	LOOKUP_FOUND,   /* *val and *len are set (valid until plan_free) */
	LOOKUP_MISSING, /* the secret or field is missing: why names them, never a value */
	LOOKUP_FAILED,  /* logged: the value cannot be represented (a NUL byte) */
	LOOKUP_BUG,     /* logged: an internal error (the secret was never read) */
};
enum lookup_result plan_lookup(struct plan *p, const struct secref *ref, const char **val,
                               size_t *len, char *why, size_t whylen);
/* The exit code of a failed lookup (65 or 70); 0 for FOUND and MISSING. */
int lookup_exit_code(enum lookup_result r);

/* Whether the secret ref names (its path, NULL for the default secret,
 * and version; the field is ignored) was read: LOOKUP_FOUND, or
 * LOOKUP_MISSING with why set, or LOOKUP_BUG (logged). */
enum lookup_result plan_secret_state(struct plan *p, const struct secref *ref, char *why,
                                     size_t whylen);
/* Calls fn for every field of that secret, in order, and stops at the
 * first non-zero (exit code) it returns.  Returns 0 or an exit code. */
typedef int (*plan_field_fn)(void *ctx, const char *field);
int plan_each_field(struct plan *p, const struct secref *ref, plan_field_fn fn, void *ctx);

/* For a resident process: reads again, in place, either every polled
 * secret whose answer carried no lease or expiry (lease_index SIZE_MAX), or the secrets
 * whose lease is leases.v[lease_index], which is then marked replaced
 * (the new lease is added to the set).  Values looked up before are
 * forgotten (jobs hold their own copies).  A secret is only replaced
 * when its read succeeds.  Returns 0 or an exit code after logging. */
int plan_refetch(struct plan *p, struct vault *v, size_t lease_index);

/* For --supervise at start: whether anything read can change while the
 * command runs (a lease, a value with an expiry, a read of a current
 * version). */
struct plan_outlook {
	bool can_change;
};
void plan_outlook(const struct plan *p, struct plan_outlook *o);

/* How many secrets the polls read again: KV (and reads of a mount the
 * lookup could not name) without a lease or expiry.  Writes and other
 * engines' reads without either are done once per run. */
size_t plan_polled_count(const struct plan *p);

/* The leases the reads took (see lease.h); owned by the plan. */
struct lease_set *plan_leases(struct plan *p);

/* Called once, when the first lease is taken (main holds termination
 * signals from then on, so that a lease is revoked before we go). */
void plan_on_first_lease(struct plan *p, void (*fn)(void));

/* "secret/data/a, POST pki/issue/web" for the success line. */
void plan_describe(const struct plan *p, struct strbuf *out);
size_t plan_count(const struct plan *p);

/* KV path resolution, exposed for unit tests: the API path (after /v1/)
 * of a secret for a known mount and version, segments escaped. */
char *plan_api_path(const char *mount, int kv_version, const char *path);

#endif

/* Login: a table of methods, each turning configuration into a token.
 *
 * token takes VAULT_TOKEN / BAO_TOKEN or --token-file as it is; approle,
 * kubernetes, jwt and cert POST to auth/<mount>/login without any token
 * and keep auth.client_token.  Credentials live only in struct
 * auth_state, wiped by auth_clear; none of them reaches the child. */
#ifndef VAULTEXEC_AUTH_H
#define VAULTEXEC_AUTH_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "vault.h"

struct auth_state;

struct auth_method {
	const char *name;
	/* Reads credential files and checks options before any request, so
	 * a missing file fails at once (78) instead of after the wait. */
	int (*prepare)(const struct config *cfg, struct auth_state *st);
	/* Fills the body of POST auth/<mount>/login; may make requests of
	 * its own (unwrapping).  NULL for the token method: no login. */
	int (*login_body)(struct vault *v, const struct config *cfg, struct auth_state *st,
	                  cJSON *body);
	/* Variables that carry this method's credentials; never passed on.
	 * (VAULTEXEC_* and the tokens are withheld whatever the method.) */
	const char *const *scrub_env;
};

const struct auth_method *auth_find(const char *name);

/* The state between prepare and exec; holds secrets, wiped by auth_clear. */
struct auth_state {
	const struct auth_method *method;
	char *mount;   /* auth mount, without surrounding slashes */
	char *cred[2]; /* prepared credentials; their meaning is the method's */
	char *token;
	bool logged_in; /* token obtained by a login (not given to us) */
};

int auth_prepare(const struct config *cfg, struct auth_state *st);
int auth_login(struct vault *v, const struct config *cfg, struct auth_state *st);

/* The last step before exec: writes --token-sink, then revokes the token
 * with --revoke-token (only one we obtained by login).  check: --check,
 * nothing is written but the token is still revoked. */
int auth_handoff(struct vault *v, const struct config *cfg, struct auth_state *st, bool check);

/* POST auth/token/revoke-self for a token vaultexec got by logging in
 * (never one it was given); why names the step in messages.  Returns 0
 * when revoked or when there is nothing of ours to revoke, else an exit
 * code after a warning (the token then ends at its TTL). */
int auth_revoke_login(struct vault *v, struct auth_state *st, const char *why);

/* What auth/token/lookup-self says of the token in use. */
struct token_info {
	bool known;     /* false: the lookup was refused (no default policy) */
	uint64_t ttl_s; /* 0: no TTL (a root token) */
	bool renewable;
	uint64_t creation_ttl_s; /* what each renewal asks for */
	uint64_t max_left_s;     /* explicit max TTL left from now; 0: none said */
};
/* Returns 0 (info->known false when Vault refused, logged at debug),
 * EXIT_NOPERM when the token is not valid (403), or EXIT_UNAVAILABLE. */
int auth_lookup_self(struct vault *v, struct token_info *info);

void auth_clear(struct auth_state *st);

/* Reads a credential file: trailing newlines (LF, CRLF) and surrounding
 * spaces trimmed, any other control character (a tab too) refused.  what names the
 * option in messages.  Returns 0 or EXIT_CONFIG after logging. */
int auth_read_secret_file(const char *what, const char *path, char **out);

/* Pure rules, exposed for tests/unit/test_auth.c. */
/* --auth-mount without surrounding slashes (allocated), or NULL when it is
 * empty or has an empty, "." or ".." segment or a control character. */
char *auth_mount_parse(const char *mount);
/* Whether a wrapping token's creation path is auth/MOUNT/role/ROLE/secret-id
 * (any ROLE when role is NULL). */
bool auth_creation_path_ok(const char *path, const char *mount, const char *role);

#endif

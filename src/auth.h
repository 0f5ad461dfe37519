/* Login: a table of methods, each turning configuration into a token.
 * The token method reads VAULT_TOKEN / BAO_TOKEN or --token-file; the
 * other methods log in through Vault. */
#ifndef VAULTEXEC_AUTH_H
#define VAULTEXEC_AUTH_H

#include <stdbool.h>

#include "config.h"
#include "vault.h"

struct auth_method {
	const char *name;
	/* Reads credentials and checks options before any request, so a
	 * missing file fails at once instead of after the wait. */
	int (*prepare)(const struct config *cfg, char **credential);
	/* Turns the prepared credential into a token. */
	int (*login)(struct vault *v, const struct config *cfg, const char *credential,
		     char **token);
	/* Variables that carry this method's credentials; never passed on. */
	const char *const *scrub_env;
};

const struct auth_method *auth_find(const char *name);

/* The state between prepare and login; holds secrets, wiped by auth_clear. */
struct auth_state {
	const struct auth_method *method;
	char *credential;
	char *token;
	bool logged_in; /* token obtained by a login (not given to us) */
};

int auth_prepare(const struct config *cfg, struct auth_state *st);
int auth_login(struct vault *v, const struct config *cfg, struct auth_state *st);
void auth_clear(struct auth_state *st);

/* Reads a credential file: one trailing LF or CRLF trimmed, any other
 * control character refused.  what names the option in messages. */
int auth_read_secret_file(const char *what, const char *path, char **out);

#endif

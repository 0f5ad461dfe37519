/* vault-env mode.  bank-vaults' webhook copies a binary named vault-env
 * into the pod and runs /vault/vault-env COMMAND ARGS..., configured only
 * by environment variables.  Started under that name, vaultexec reads
 * vault-env's variables: this module translates them into vaultexec's own
 * configuration (VAULTEXEC_* settings for config_parse, plus the few
 * settings no option has) and into the environment the command inherits,
 * with vault-env's scrub list applied.  The normal pipeline does the rest. */
#ifndef VAULTEXEC_VAULTENV_H
#define VAULTEXEC_VAULTENV_H

#include <stdbool.h>

#include "config.h"

struct vaultenv {
	bool active;      /* started as vault-env */
	char **env;       /* what the command inherits and references are read from */
	char **owned_env; /* env when it was built here (freed, wiped) */
	char **parse_env; /* what config_parse read (freed, wiped) */
};

/* Whether argv[0] names vault-env (basename "vault-env"). */
bool vaultenv_named(const char *argv0);

/* config_parse, preceded in vault-env mode by the translation.  Returns
 * what config_parse returns, or an exit code after logging.  ve->env is
 * environ_ itself outside vault-env mode. */
int vaultenv_config(struct config *cfg, struct vaultenv *ve, int argc, char **argv,
                    char **environ_);
void vaultenv_free(struct vaultenv *ve);

/* Exposed for unit tests: the Go-template key of a vault-env reference
 * (text with ${.field | fn} actions) as a vaultexec template reading PATH
 * (and VERSION, 0 = current).  Returns the template, or NULL with a reason
 * in err. */
char *vaultenv_template(const char *path, unsigned long long version, const char *key, char *err,
                        size_t errlen);

#endif

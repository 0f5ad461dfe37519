/* The child's environment, built as data (an envp array), never with
 * setenv: ours minus tokens, VAULTEXEC_* and login credentials, plus the
 * rendered variables. */
#ifndef VAULTEXEC_ENV_H
#define VAULTEXEC_ENV_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "render.h"

/* Whether an inherited variable is withheld from the child.  name is not
 * NUL-terminated (n bytes); method_scrub is the login method's list. */
bool env_withheld(const char *name, size_t n, const struct config *cfg,
                  const char *const *method_scrub);

/* A NULL-terminated "NAME=VALUE" array.  With --user HOME is the user's
 * (cfg->run_as.home).  With cfg->keep_fds it holds
 * LISTEN_FDS and a LISTEN_PID for exec_set_listen_pid to fill in.  Warns when a rendered variable
 * replaces an inherited one.  token: the Vault token, handed on as
 * VAULT_TOKEN when cfg->token_to_env (vault-env's VAULT_TOKEN=vault:login).
 * Free with env_free (wipes). */
char **env_build(char **inherited, const struct config *cfg, const char *const *method_scrub,
                 const char *token, const struct outvar *vars, size_t nvars);
void env_free(char **envp);

/* Our own environment block is what /proc/PID/environ shows: the strings
 * the kernel put on our stack at exec, whatever envp points to later.
 * Each credential variable of envp (config_credential_var) is moved to
 * the heap, where the run still reads it (--keep-env), and its value in
 * the block is zeroed. */
void env_wipe_credentials(char **envp);

#endif

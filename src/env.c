#include "env.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "log.h"
#include "strbuf.h"
#include "util.h"

static bool name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(name, want, n) == 0;
}

bool env_withheld(const char *name, size_t n, const struct config *cfg,
                  const char *const *method_scrub)
{
	for (size_t i = 0; i < cfg->keep_env.n; i++)
		if (name_is(name, n, cfg->keep_env.v[i]))
			return false;
	/* Tokens go whatever the login method: a child that needs one asks
	 * for it with --keep-env or --token-sink. */
	if (name_is(name, n, "VAULT_TOKEN") || name_is(name, n, "BAO_TOKEN"))
		return true;
	if (n >= 10 && memcmp(name, "VAULTEXEC_", 10) == 0)
		return true;
	/* --user sets the user's own, as su-exec does. */
	if (cfg->run_as.set && name_is(name, n, "HOME"))
		return true;
	/* --keep-fds sets its own (the command's pid, not the one systemd
	 * started); without it an inherited pair passes as it is. */
	if (cfg->keep_fds && (name_is(name, n, "LISTEN_FDS") || name_is(name, n, "LISTEN_PID")))
		return true;
	for (const char *const *s = method_scrub; s && *s; s++)
		if (name_is(name, n, *s))
			return true;
	return false;
}

static const struct outvar *rendered(const struct outvar *vars, size_t nvars, const char *name,
                                     size_t n)
{
	for (size_t i = 0; i < nvars; i++)
		if (name_is(name, n, vars[i].name))
			return &vars[i];
	return NULL;
}

char **env_build(char **inherited, const struct config *cfg, const char *const *method_scrub,
                 const char *token, const struct outvar *vars, size_t nvars)
{
	size_t ninh = 0;
	while (inherited && inherited[ninh])
		ninh++;
	char **envp = xcalloc(ninh + nvars + 5, sizeof(*envp));
	size_t k = 0;
	for (size_t i = 0; i < ninh; i++) {
		const char *e = inherited[i];
		const char *eq = strchr(e, '=');
		if (!eq)
			continue; /* not NAME=VALUE: drop, as execve callers should */
		size_t n = (size_t)(eq - e);
		if (env_withheld(e, n, cfg, method_scrub))
			continue;
		const struct outvar *v = rendered(vars, nvars, e, n);
		if (v) {
			if (!v->from_env_ref && v->value)
				log_warn("%s: the inherited value is replaced by the mapped one",
				         v->name);
			continue;
		}
		envp[k++] = xstrdup(e);
	}
	for (size_t i = 0; i < nvars; i++) {
		if (!vars[i].value)
			continue; /* missing with --allow-missing: left unset */
		struct strbuf sb = STRBUF_INIT;
		sb_adds(&sb, vars[i].name);
		sb_addc(&sb, '=');
		sb_add(&sb, vars[i].value, vars[i].len);
		envp[k++] = sb_steal(&sb);
	}
	if (cfg->token_to_env && token)
		envp[k++] = xasprintf("VAULT_TOKEN=%s", token);
	if (cfg->run_as.set)
		envp[k++] = xasprintf("HOME=%s", cfg->run_as.home ? cfg->run_as.home : "/");
	if (cfg->keep_fds) {
		envp[k++] = xasprintf("LISTEN_FDS=%u", cfg->keep_fds);
		/* Room for any pid: exec_set_listen_pid writes it in place. */
		envp[k++] = xasprintf("LISTEN_PID=%20s", "");
	}
	envp[k] = NULL;
	return envp;
}

void env_free(char **envp)
{
	if (!envp)
		return;
	for (char **e = envp; *e; e++)
		secure_free_str(*e);
	free(envp);
}

void env_wipe_credentials(char **envp)
{
	for (char **e = envp; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || !config_credential_var(*e, (size_t)(eq - *e)))
			continue;
		char *block = *e;
		*e = xstrdup(block);
		mbedtls_platform_zeroize(block + (eq - block) + 1, strlen(eq + 1));
	}
}

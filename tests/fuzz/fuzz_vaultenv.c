/* vault-env mode's translation: vaultenv_config with argv "vault-env
 * /bin/true" and an envp built from the input split on NUL bytes.  Every
 * run must end in success or a documented exit code, and every template
 * the translation made (Go-template keys, writes, transit) must parse as a
 * vaultexec template: a translation that produced text the template parser
 * refuses would be a bug of vaultenv.c, not a user error.
 *
 * Input: NAME=VALUE \0 NAME=VALUE ...  stderr (log lines) is noise here. */
#include <string.h>

#include "config.h"
#include "fuzz_common.h"
#include "template.h"
#include "vaultenv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fz_has_at_path(data, size))
		return 0;
	struct fz_split s;
	fz_split_init(&s, data, size);
	char **envp = xcalloc(s.n + 1, sizeof(*envp));
	size_t ne = 0;
	for (size_t i = 0; i < s.n; i++)
		/* HOME and the token paths would make it read files: keep it pure.
		 * VAULTEXEC_* are config_parse's (fuzz_config): a VAULTEXEC_ENV
		 * template is the user's, parsed later, not the translation's. */
		if (strncmp(s.v[i], "HOME=", 5) != 0 &&
		    strncmp(s.v[i], "VAULT_TOKEN_PATH=", 17) != 0 &&
		    strncmp(s.v[i], "VAULTEXEC_", 10) != 0)
			envp[ne++] = xstrdup(s.v[i]);
	envp[ne] = NULL;

	char *argv[] = {"vault-env", "/bin/true", NULL};
	struct config cfg;
	struct vaultenv ve;
	int r = vaultenv_config(&cfg, &ve, 2, argv, envp);
	FUZZ_CHECK(r == CLI_OK || (r >= 64 && r <= 78));
	if (r == CLI_OK) {
		FUZZ_CHECK(ve.active && ve.env);
		for (size_t i = 0; i < cfg.nenvs; i++) {
			struct tmpl *t = NULL;
			char err[256];
			FUZZ_CHECK(tmpl_parse(cfg.envs[i].text, &t, err, sizeof(err)) == 0);
			tmpl_free(t);
		}
		/* vault-env's own switches never reach the command unless passed through. */
		static const char *const own[] = {"VAULT_ENV_DAEMON=", "VAULT_ENV_FROM_PATH=",
		                                  "VAULT_ENV_DELAY=", "VAULT_ENV_PASSTHROUGH="};
		const char *pass = env_lookup(envp, "VAULT_ENV_PASSTHROUGH");
		for (char **e = ve.env; *e; e++)
			for (size_t k = 0; k < sizeof(own) / sizeof(own[0]); k++)
				FUZZ_CHECK(strncmp(*e, own[k], strlen(own[k])) != 0 || pass);
	}
	config_free(&cfg);
	vaultenv_free(&ve);
	for (size_t k = 0; k < ne; k++)
		free(envp[k]);
	free(envp);
	fz_split_free(&s);
	return 0;
}

/* Option and VAULTEXEC_* parsing: config_parse with an argv and an envp
 * built from the input split on NUL bytes.
 *
 * Input: ARG \0 ARG ... \0 \0 NAME=VALUE \0 NAME=VALUE ...  The first empty
 * piece ends argv (argv[0] "vaultexec" is added); the rest is envp.
 * stdout (--help, --version) and stderr (log lines) are noise here; run
 * with -close_fd_mask=3. */
#include <string.h>

#include "config.h"
#include "fuzz_common.h"

static void check_config(const struct config *cfg)
{
	FUZZ_CHECK(cfg->addr && cfg->kv_mount && cfg->auth_method);
	/* --install copies the binary and runs nothing: no command, and the
	 * other options are not finished. */
	if (cfg->install_dir) {
		FUZZ_CHECK(cfg->install_dir[0] && !(cfg->child_argv && cfg->child_argv[0]));
		return;
	}
	FUZZ_CHECK(cfg->child_argv && cfg->child_argv[0]);
	FUZZ_CHECK(cfg->service == NULL); /* turned into default_path */
	FUZZ_CHECK(!cfg->map_all || cfg->default_path);
	FUZZ_CHECK((cfg->file_mode & ~0777u) == 0);
	FUZZ_CHECK(cfg->request_timeout_ms > 0 && cfg->request_timeout_ms <= 86400000);
	FUZZ_CHECK(cfg->wait_ms <= 86400000);
	for (size_t i = 0; i < cfg->nmaps; i++) {
		const struct map_spec *m = &cfg->maps[i];
		FUZZ_CHECK(m->ref.field && m->ref.field[0] && m->env && m->env[0]);
		FUZZ_CHECK(m->ref.path || cfg->default_path);
	}
	for (size_t i = 0; i < cfg->nenvs; i++)
		FUZZ_CHECK(cfg->envs[i].name && cfg->envs[i].text && cfg->envs[i].origin);
	for (size_t i = 0; i < cfg->nfiles; i++)
		FUZZ_CHECK(cfg->files[i].name && cfg->files[i].text && cfg->files[i].origin);
	for (size_t i = 0; i < cfg->keep_env.n; i++)
		FUZZ_CHECK(cfg->keep_env.v[i] && cfg->keep_env.v[i][0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fz_has_at_path(data, size))
		return 0;
	struct fz_split s;
	fz_split_init(&s, data, size);

	/* argv: "vaultexec", then pieces up to the first empty one. */
	char **argv = xcalloc(s.n + 2, sizeof(*argv));
	int argc = 0;
	argv[argc++] = xstrdup("vaultexec");
	size_t i = 0;
	for (; i < s.n && s.v[i][0]; i++)
		argv[argc++] = xstrdup(s.v[i]);
	argv[argc] = NULL;
	/* envp: the rest (the parser copes with entries that lack '='). */
	char **envp = xcalloc(s.n + 1, sizeof(*envp));
	size_t ne = 0;
	for (i++; i < s.n; i++)
		envp[ne++] = xstrdup(s.v[i]);
	envp[ne] = NULL;

	struct config cfg;
	int r = config_parse(&cfg, argc, argv, envp);
	FUZZ_CHECK(r == CLI_OK || r == CLI_EXIT_SUCCESS || (r >= 64 && r <= 78));
	if (r == CLI_OK)
		check_config(&cfg);
	config_free(&cfg);

	for (int k = 0; k < argc; k++)
		free(argv[k]);
	free(argv);
	for (size_t k = 0; k < ne; k++)
		free(envp[k]);
	free(envp);
	fz_split_free(&s);
	return 0;
}

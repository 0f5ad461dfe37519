/* Environment references (vault:PATH#FIELD and ${vault:PATH#FIELD}) and
 * the templates of --env and --file, as job_prepare reads them: a config
 * and an environ made from the input, and a plan.  No network: nothing is
 * fetched.
 *
 * Input: FLAGS \0 PIECE \0 PIECE ...  FLAGS' first byte: bit 0 a default
 * secret, bit 1 --no-env-refs.  A piece "E:NAME=TEXT" is an --env, a piece
 * "F:DEST=TEXT" a --file, anything else an environ entry. */
#include <string.h>

#include "config.h"
#include "fuzz_common.h"
#include "plan.h"
#include "render.h"

static void add_spec(struct tmpl_spec **arr, size_t *n, const char *piece, const char *kind)
{
	const char *eq = strchr(piece, '=');
	size_t nlen = eq ? (size_t)(eq - piece) : strlen(piece);
	*arr = xrealloc(*arr, (*n + 1) * sizeof(**arr));
	struct tmpl_spec *sp = &(*arr)[(*n)++];
	sp->name = xstrndup(piece, nlen);
	sp->text = xstrdup(eq ? eq + 1 : "");
	sp->origin = xasprintf("%s %s", kind, sp->name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_split s;
	fz_split_init(&s, data, size);
	unsigned flags = (unsigned char)s.v[0][0];

	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.kv_mount = xstrdup("secret");
	cfg.kv_version = KV_V2;
	cfg.env_refs = !(flags & 2);
	if (flags & 1)
		cfg.default_path = xstrdup("secret/app");

	char **environ_ = xcalloc(s.n + 1, sizeof(*environ_));
	size_t ne = 0;
	for (size_t i = 1; i < s.n; i++) {
		const char *p = s.v[i];
		if (strncmp(p, "E:", 2) == 0)
			add_spec(&cfg.envs, &cfg.nenvs, p + 2, "--env");
		else if (strncmp(p, "F:", 2) == 0)
			add_spec(&cfg.files, &cfg.nfiles, p + 2, "--file");
		else
			environ_[ne++] = s.v[i];
	}
	environ_[ne] = NULL;

	struct plan *p = plan_new(&cfg);
	struct job j;
	int r = job_prepare(&j, &cfg, environ_, p);
	FUZZ_CHECK(r == 0 || r == EXIT_USAGE);
	if (r == 0 && !cfg.env_refs)
		FUZZ_CHECK(j.nrefs == 0);
	job_free(&j);
	plan_free(p);

	for (size_t i = 0; i < cfg.nenvs; i++) {
		free(cfg.envs[i].name);
		free(cfg.envs[i].text);
		free(cfg.envs[i].origin);
	}
	free(cfg.envs);
	for (size_t i = 0; i < cfg.nfiles; i++) {
		free(cfg.files[i].name);
		free(cfg.files[i].text);
		free(cfg.files[i].origin);
	}
	free(cfg.files);
	free(cfg.kv_mount);
	free(cfg.default_path);
	free(environ_);
	fz_split_free(&s);
	return 0;
}

/* From options to the child's environment with canned Vault answers, the
 * steps of main() but exec: config_parse, job_prepare, auth_prepare and
 * auth_login (approle with or without a wrapped secret ID: login and
 * unwrap answers), plan_fetch (KV v1 and v2 shapes, deleted and destroyed
 * versions, --kv-version auto's mount lookup), job_render (--map,
 * --map-all, --env, --file, vault: references), auth_handoff
 * (--revoke-token) and env_build, with every request answered by the fake
 * server (fakeserver.h).
 *
 * Input, split on NUL: ARG... \0\0 ENV... \0\0 ANSWER...  argv gets
 * "vaultexec" in front and the command "true" at the end.  An answer is
 * a JSON body, optionally preceded by a status and a space ("404 {}");
 * it is sent with Content-Length.  Options that would make the harness
 * read or write files or leave the socket are dropped after parsing (the
 * token method then gets a made-up token). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "env.h"
#include "fakeserver.h"
#include "fuzz_common.h"
#include "plan.h"
#include "render.h"
#include "vault.h"
#include "strbuf.h"

static const char *sock;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	sock = fakeserver_start();
	return 0;
}

static void drop(char **p)
{
	free(*p);
	*p = NULL;
}

static void queue_answers(char **pieces, size_t n)
{
	char **ans = xcalloc(n + 1, sizeof(*ans));
	size_t *lens = xcalloc(n + 1, sizeof(*lens));
	for (size_t i = 0; i < n; i++) {
		const char *body = pieces[i];
		int code = 200;
		if (strlen(body) >= 4 && body[0] >= '1' && body[0] <= '5' && body[1] >= '0' &&
		    body[1] <= '9' && body[2] >= '0' && body[2] <= '9' && body[3] == ' ') {
			code = (body[0] - '0') * 100 + (body[1] - '0') * 10 + (body[2] - '0');
			body += 4;
		}
		ans[i] = xasprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		                   code, strlen(body), body);
		lens[i] = strlen(ans[i]);
	}
	fakeserver_set((const char *const *)ans, lens, n);
	for (size_t i = 0; i < n; i++)
		free(ans[i]);
	free(ans);
	free(lens);
}

/* Tokens and VAULTEXEC_* never pass through from our own environment,
 * unless --keep-env names them or a mapped variable sets them anew. */
static void check_envp(char **envp, const struct config *cfg, const struct job *j)
{
	for (size_t i = 0; envp[i]; i++) {
		const char *eq = strchr(envp[i], '=');
		FUZZ_CHECK(eq != NULL);
		size_t n = (size_t)(eq - envp[i]);
		bool kept = false;
		for (size_t k = 0; k < cfg->keep_env.n; k++)
			kept |= strlen(cfg->keep_env.v[k]) == n &&
			        !memcmp(cfg->keep_env.v[k], envp[i], n);
		for (size_t k = 0; k < j->nvars; k++)
			kept |=
			    strlen(j->vars[k].name) == n && !memcmp(j->vars[k].name, envp[i], n);
		if (!kept) {
			FUZZ_CHECK(strncmp(envp[i], "VAULTEXEC_", 10) != 0);
			FUZZ_CHECK(strncmp(envp[i], "VAULT_TOKEN=", 12) != 0);
			FUZZ_CHECK(strncmp(envp[i], "BAO_TOKEN=", 10) != 0);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fz_has_at_path(data, size))
		return 0;
	struct fz_split s;
	fz_split_init(&s, data, size);

	char **argv = xcalloc(s.n + 3, sizeof(*argv));
	int argc = 0;
	argv[argc++] = xstrdup("vaultexec");
	size_t i = 0;
	for (; i < s.n && s.v[i][0]; i++)
		argv[argc++] = xstrdup(s.v[i]);
	argv[argc++] = xstrdup("true");
	argv[argc] = NULL;
	char **envp = xcalloc(s.n + 1, sizeof(*envp));
	size_t ne = 0;
	for (i++; i < s.n && s.v[i][0]; i++)
		envp[ne++] = s.v[i];
	envp[ne] = NULL;
	i++;
	queue_answers(i < s.n ? s.v + i : NULL, i < s.n ? s.n - i : 0);

	struct config cfg;
	int r = config_parse(&cfg, argc, argv, envp);
	if (r != CLI_OK)
		goto out_cfg;
	free(cfg.addr);
	cfg.addr = xasprintf("unix://%s", sock);
	drop(&cfg.ca_cert);
	drop(&cfg.ca_path);
	drop(&cfg.client_cert);
	drop(&cfg.client_key);
	drop(&cfg.tls_server_name);
	drop(&cfg.token_file);
	drop(&cfg.role_id_file);
	drop(&cfg.secret_id_file);
	drop(&cfg.jwt_file);
	drop(&cfg.token_sink);
	if (!cfg.token)
		cfg.token = xstrdup("s.fuzztoken");
	cfg.tls_skip_verify = false;
	cfg.wait_ms = 0;
	cfg.request_timeout_ms = 2000;

	struct plan *p = plan_new(&cfg);
	struct job j;
	struct auth_state auth = {0};
	struct vault *v = NULL;
	r = job_prepare(&j, &cfg, envp, p);
	if (r == 0)
		r = auth_prepare(&cfg, &auth);
	if (r == 0)
		r = vault_open(&v, &cfg);
	if (r == 0)
		r = auth_login(v, &cfg, &auth);
	if (r == 0)
		r = plan_fetch(p, v);
	if (r == 0)
		r = job_render(&j, p);
	if (r == 0)
		r = auth_handoff(v, &cfg, &auth, true);
	FUZZ_CHECK(r >= 0 && r <= 78);
	if (r == 0) {
		struct strbuf sb = STRBUF_INIT;
		plan_describe(p, &sb);
		FUZZ_CHECK(plan_count(p) <= fakeserver_served());
		sb_wipe(&sb);
		for (size_t k = 0; k < j.nvars; k++) {
			FUZZ_CHECK(j.vars[k].name && j.vars[k].name[0]);
			if (j.vars[k].value)
				FUZZ_CHECK(strlen(j.vars[k].value) == j.vars[k].len);
			/* A name may repeat only as "left unset" (--allow-missing). */
			for (size_t m = 0; m < k; m++)
				if (strcmp(j.vars[k].name, j.vars[m].name) == 0)
					FUZZ_CHECK(!j.vars[k].value || !j.vars[m].value);
		}
		for (size_t k = 0; k < j.nfiles; k++)
			FUZZ_CHECK(!j.files[k].content ||
			           strlen(j.files[k].content) == j.files[k].len);
		FUZZ_CHECK(auth.method && auth.token && auth.token[0]);
		char **child =
		    env_build(envp, &cfg, auth.method->scrub_env, auth.token, j.vars, j.nvars);
		check_envp(child, &cfg, &j);
		env_free(child);
	}
	auth_clear(&auth);
	vault_close(v);
	job_free(&j);
	plan_free(p);
out_cfg:
	config_free(&cfg);
	for (int k = 0; k < argc; k++)
		free(argv[k]);
	free(argv);
	free(envp);
	fz_split_free(&s);
	return 0;
}

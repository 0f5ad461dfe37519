/* vaultexec: wait for Vault, log in, read secrets, put them into the
 * environment and files, then exec the command in our place. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "auth.h"
#include "config.h"
#include "env.h"
#include "exec.h"
#include "files.h"
#include "lease.h"
#include "log.h"
#include "plan.h"
#include "privs.h"
#include "render.h"
#include "supervise.h"
#include "vaultenv.h"
#include "vault.h"
#include "strbuf.h"

extern char **environ;

/* As PID 1 in a container, signals with the default action are ignored;
 * handle them so `docker stop` during the wait ends us at once. */
static void on_signal(int sig)
{
	/* Only async-signal-safe calls here: a fixed message and _exit. */
	static const char msg[] = "vaultexec: error: terminated by a signal; the command was not "
	                          "started\n";
	ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)w;
	_exit(128 + sig);
}

/* Between writing the first --file and the exec, a signal would leave a
 * temporary file (holding a secret) behind or files without the command:
 * hold termination signals back until exec_command restores the mask,
 * which delivers a pending one before the exec. */
static void hold_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

/* Once a lease is taken, termination signals are held (hold_signals):
 * one that came meanwhile ends the run here, through the failure path
 * that revokes the leases, instead of in the handler, which cannot. */
static int stop_if_signalled(void)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	sigset_t set;
	if (sigpending(&set) < 0)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		if (sigismember(&set, sigs[i]) == 1) {
			log_error("terminated by a signal; the command was not started");
			return 128 + sigs[i];
		}
	return 0;
}

static void install_signal_handlers(void)
{
	exec_save_signals();
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void print_check(const struct job *j)
{
	for (size_t i = 0; i < j->nvars; i++)
		if (j->vars[i].value)
			printf("env %s\n", j->vars[i].name);
	for (size_t i = 0; i < j->nfiles; i++)
		if (j->files[i].content)
			printf("file %s\n", j->files[i].path);
	fflush(stdout);
}

/* --check: every destination the run would write (the --file outputs and
 * the --token-sink) is tried the way the run writes it, and removed. */
static int probe_files(const struct job *j, const struct config *cfg)
{
	for (size_t i = 0; i < j->nfiles; i++)
		if (j->files[i].content) {
			int r = file_probe(j->files[i].path, cfg->file_mode, &cfg->run_as);
			if (r)
				return r;
		}
	if (cfg->token_sink && file_probe(cfg->token_sink, 0600, &cfg->run_as)) {
		log_error("--token-sink %s: the token could not be written", cfg->token_sink);
		return EXIT_IOERR;
	}
	return 0;
}

/* The child's environment, built before any file is written so that a
 * value the kernel would refuse (E2BIG) fails the run, and --check, with
 * 65 and no file. */
static int child_env(const struct config *cfg, const struct auth_state *auth, const struct job *j,
                     char **inherited, const char *cmd, char ***envp)
{
	*envp = env_build(inherited, cfg, auth->method->scrub_env, auth->token, j->vars, j->nvars);
	struct exec_limits limits;
	exec_limits_get(&limits);
	return exec_check_limits(cmd, cfg->child_argv, *envp, &limits);
}

/* what: "exec", "supervise" or NULL for --check. */
static void log_success(const struct plan *p, const struct job *j, const char *cmd,
                        const char *what, time_t token_end)
{
	bool check = what == NULL;
	size_t nvars = 0, nfiles = 0;
	for (size_t i = 0; i < j->nvars; i++)
		nvars += j->vars[i].value != NULL;
	for (size_t i = 0; i < j->nfiles; i++)
		nfiles += j->files[i].content != NULL;
	struct strbuf sb = STRBUF_INIT, ls = STRBUF_INIT;
	plan_describe(p, &sb);
	/* Nothing renews a lease once we are gone: say when the values end
	 * (with --check they are revoked right after this line). */
	lease_describe(plan_leases((struct plan *)p), !check && strcmp(what, "exec") == 0,
	               token_end, &ls);
	log_info("read %zu secret%s%s%s%s%s%s, set %zu variable%s, %s %zu file%s; %s %s",
	         plan_count(p), plan_count(p) == 1 ? "" : "s", sb.len ? " (" : "",
	         sb.len ? sb.buf : "", sb.len ? ")" : "", ls.len ? ", " : "", ls.len ? ls.buf : "",
	         nvars, nvars == 1 ? "" : "s", check ? "would write" : "wrote", nfiles,
	         nfiles == 1 ? "" : "s", check ? "check only, not running" : what, cmd);
	sb_wipe(&sb);
	sb_wipe(&ls);
}

/* A lease ends with the token that took it.  When the token ends first
 * (its TTL after an exec, where nothing renews it; under --supervise its
 * TTL or max TTL when no login can replace it) say so now, and return
 * that end for the success line (wall clock; 0: none before a lease). */
static time_t token_end_of(const struct config *cfg, struct vault *v, const struct auth_state *auth,
                           struct plan *p)
{
	const struct lease_set *ls = plan_leases(p);
	struct token_info ti;
	if (!lease_count(ls) || auth_lookup_self(v, &ti) || !ti.known || !ti.ttl_s)
		return 0;
	uint64_t left = ti.ttl_s;
	const char *why = "its TTL";
	if (cfg->supervise) {
		if (auth->method->login_body && !cfg->secret_id_wrapped)
			return 0; /* the supervisor logs in again before the end */
		if (ti.renewable && !ti.max_left_s)
			return 0; /* renewed; its max TTL shows only when a renewal is capped */
		if (ti.renewable) {
			left = ti.max_left_s;
			why = "its max TTL";
		}
	}
	const struct lease *outlived = NULL;
	for (size_t i = 0; i < ls->n; i++)
		if (ls->v[i].lease_id && !ls->v[i].revoked && ls->v[i].duration_s > left &&
		    (!outlived || ls->v[i].duration_s > outlived->duration_s))
			outlived = &ls->v[i];
	if (!outlived)
		return 0;
	struct strbuf tl = STRBUF_INIT, ll = STRBUF_INIT;
	lease_format_duration(left, &tl);
	lease_format_duration(outlived->duration_s, &ll);
	log_warn("the token ends in %s (%s), before the lease of %s (%s): a lease is revoked with "
	         "the token that took it; %s",
	         tl.buf, why, outlived->path, ll.buf,
	         cfg->supervise ? "vaultexec cannot log in again (--on-token-expiry says what "
	                          "happens then)"
	                        : "give the token a longer TTL, or use --supervise");
	sb_wipe(&tl);
	sb_wipe(&ll);
	return time(NULL) + (time_t)left;
}

/* Revoking the login token revokes every lease it took, so the command
 * would start with credentials that are already dead. */
static int check_revoke_token(const struct config *cfg, const struct auth_state *auth,
                              const struct lease_set *ls)
{
	/* With --check too: it exits with what the run would (issue 13). */
	size_t n = lease_count(ls);
	if (!cfg->revoke_token || !auth->logged_in || n == 0)
		return 0;
	log_error("--revoke-token: refused: %s is leased to the login token, and revoking the "
	          "token revokes its leases, so the command would get dead credentials; drop "
	          "--revoke-token (the token then ends at its TTL)%s",
	          lease_shortest(ls)->path, n > 1 ? " (and other leases)" : "");
	return EXIT_CONFIG;
}

/* --check: everything but the exec, and no lease taken home. */
static int finish_check(const struct config *cfg, struct vault *vault, struct auth_state *auth,
                        struct plan *plan, const struct job *job, const char *cmd)
{
	int r = probe_files(job, cfg);
	if (r)
		return r;
	log_success(plan, job, cmd, NULL, 0);
	print_check(job);
	lease_revoke_all(vault, plan_leases(plan), "--check takes no lease home");
	return auth_handoff(vault, cfg, auth, true);
}

/* VAULT_ENV_DELAY: vault-env's pause before the exec. */
static void exec_delay(uint64_t ms)
{
	if (!ms)
		return;
	log_info("waiting %llu ms before the exec (VAULT_ENV_DELAY)", (unsigned long long)ms);
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct auth_state auth = {0};
	struct vault *vault = NULL;
	struct plan *plan = NULL;
	struct job job = {0};
	char *cmd = NULL;
	char **envp = NULL;
	struct vaultenv ve;

	privs_harden();
	int r = vaultenv_config(&cfg, &ve, argc, argv, environ);
	env_wipe_credentials(environ);
	if (r == CLI_EXIT_SUCCESS) {
		r = 0;
		goto out;
	}
	if (r)
		goto out;
	if (cfg.install_dir) {
		r = file_install_self(cfg.install_dir);
		goto out;
	}
	install_signal_handlers();
	json_wipe_on_free();

	plan = plan_new(&cfg);
	plan_on_first_lease(plan, hold_signals);
	if ((r = privs_check(&cfg.run_as)) ||
	    (r = exec_resolve(cfg.child_argv[0], getenv("PATH"), &cmd)) ||
	    (r = job_prepare(&job, &cfg, ve.env, plan)) || (r = auth_prepare(&cfg, &auth)) ||
	    (r = vault_open(&vault, &cfg)) || (r = auth_login(vault, &cfg, &auth)) ||
	    (r = plan_fetch(plan, vault)) || (r = vault_ensure_ready(vault)) ||
	    (r = job_render(&job, plan)) ||
	    (r = check_revoke_token(&cfg, &auth, plan_leases(plan))) || (r = stop_if_signalled()))
		goto out;

	if ((r = child_env(&cfg, &auth, &job, ve.env, cmd, &envp)))
		goto out;
	if (cfg.check) {
		r = finish_check(&cfg, vault, &auth, plan, &job, cmd);
		goto out;
	}
	time_t token_end = token_end_of(&cfg, vault, &auth, plan);
	exec_delay(cfg.exec_delay_ms);
	hold_signals();
	if ((r = files_write_all(job.files, job.nfiles, cfg.file_mode, &cfg.run_as)) ||
	    (r = auth_handoff(vault, &cfg, &auth, false)) || (r = stop_if_signalled()))
		goto out;
	log_success(plan, &job, cmd, cfg.supervise ? "supervise" : "exec", token_end);
	if (cfg.supervise) {
		r = supervise_run(&cfg, vault, &auth, &plan, &job, cmd, ve.env);
		/* The command ran: its code is no failed run of ours, and its
		 * leases are --revoke-on-exit's to revoke. */
		vault_close(vault);
		vault = NULL;
		goto out;
	}

	/* --user: dropped while a failure can still revoke the leases. */
	if ((r = privs_for_command(&cfg.run_as)))
		goto out;
	/* Nothing of ours outlives the exec: wipe secrets, close handles. */
	vault_close(vault);
	vault = NULL;
	plan_free(plan);
	plan = NULL;
	auth_clear(&auth);
	job_free(&job);
	curl_global_cleanup();
	if (cfg.keep_fds)
		exec_set_listen_pid(envp, getpid()); /* the command's pid is ours */
	r = exec_command(cmd, cfg.child_argv, envp);

out:
	/* A failed run takes no lease home and leaves no token of its login
	 * behind: a crash-looping container would otherwise pile up database
	 * users and tokens.  A token it was given is not its to revoke.  Best
	 * effort, logged. */
	if (r && vault && plan)
		lease_revoke_all(vault, plan_leases(plan), "the run failed");
	if (r && vault)
		auth_revoke_login(vault, &auth, "the run failed");
	env_free(envp);
	free(cmd);
	job_free(&job);
	plan_free(plan);
	auth_clear(&auth);
	vault_close(vault);
	config_free(&cfg);
	vaultenv_free(&ve);
	return r;
}

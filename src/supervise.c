#include "supervise.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "env.h"
#include "exec.h"
#include "files.h"
#include "http.h"
#include "jsonval.h"
#include "lease.h"
#include "log.h"
#include "proc.h"
#include "signame.h"
#include "strutil.h"
#include "util.h"

/* Signals that stay with their default action: the ones the kernel raises
 * for our own faults (blocking them would hang or kill us obscurely), the
 * two that cannot be caught, and SIGPIPE, which is ours (curl sockets). */
static bool never_forwarded(int sig)
{
	switch (sig) {
	case SIGKILL:
	case SIGSTOP:
	case SIGSEGV:
	case SIGBUS:
	case SIGFPE:
	case SIGILL:
	case SIGTRAP:
	case SIGSYS:
	case SIGABRT:
	case SIGPIPE:
		return true;
	default:
		return false;
	}
}

enum token_step { TOK_NONE, TOK_RENEW, TOK_LOGIN };

struct sv {
	const struct config *cfg;
	struct vault *v;
	struct auth_state *auth;
	struct plan **plan;
	struct job *job;
	const char *cmd;
	char **environ_;
	int sfd;

	int ifd; /* inotify on --token-file's directory, or -1 */
	struct proc child;
	bool stopping;
	bool restarting; /* the stop signal was sent for a restart */

	/* values read but not applied yet (--debounce) */
	struct job next_job;
	bool pending;
	uint64_t apply_at;

	uint64_t poll_at;
	enum token_step tok_step;
	uint64_t tok_at;
	unsigned tok_failures;
	uint64_t creation_ttl_s;
	uint64_t tok_end_ms;  /* when the token ends unless renewed (0: no TTL, unknown) */
	bool tok_doomed;      /* nothing renews it past tok_end_ms, no login replaces it */
	bool tok_dead;        /* it has ended and nothing replaced it (--on-token-expiry) */
	bool login_refused;   /* the last login was refused (not: Vault away) */
	bool end_said;        /* the token's coming end was warned about */
	bool lookup_works;    /* lookup-self answered for this token once */
	struct stat tok_file; /* --token-file as last read */
	int exit_code;        /* ours instead of the command's (--on-token-expiry=exit) */

	bool vault_away;
	/* A stop, or the command's end, came while Vault work was under way:
	 * the request in flight and any after it are abandoned, not retried. */
	bool abandon;
	unsigned away_probes;
	uint64_t probe_at;   /* while away: the next request that asks whether it is back */
	bool render_refused; /* the last new values were refused: said once */
	struct http_client *reload_http;
	uint64_t reload_probe_at; /* 0: --reload-url was reached, or none */
	unsigned reload_probes;
};

static uint64_t num_field(const cJSON *o, const char *key)
{
	const cJSON *n = json_get(o, key);
	if (!cJSON_IsNumber(n) || n->valuedouble < 0 || n->valuedouble > 1e12)
		return 0;
	return (uint64_t)n->valuedouble;
}

/* Between 1/8 below and 1/8 above ms, so replicas do not act in step. */
static uint64_t jittered(uint64_t ms)
{
	uint64_t span = ms / 4;
	return ms - ms / 8 + (span ? random_u64() % (span + 1) : 0);
}

static uint64_t backoff_ms(unsigned failures)
{
	uint64_t ms = 1000;
	for (unsigned i = 1; i < failures && ms < 30000; i++)
		ms *= 2;
	return jittered(ms < 30000 ? ms : 30000);
}

/* Vault's availability as the background work sees it: the first failure
 * is logged (with the request's own error line before it), the retries
 * are quiet, and the way back is one line. */
static void catch_up(struct sv *s);
static void token_check(struct sv *s);

static void begin_vault_work(struct sv *s)
{
	log_quiet(s->vault_away);
	/* The same failure at every poll is one line, then a reminder. */
	log_once(true);
}

/* While Vault is away the work waits, and one request at a time (the
 * probe, with backoff to 5 s) asks whether it is back: the moment it is,
 * everything that came due meanwhile is done at once (catch_up). */
static void end_vault_work(struct sv *s, int r, const char *what)
{
	log_quiet(false);
	log_once(false);
	if (s->abandon) {
		log_info("%s: the request to Vault was abandoned: %s is stopping; not retried",
		         what, s->cmd);
		return;
	}
	if (r == EXIT_UNAVAILABLE) {
		if (!s->vault_away)
			log_warn(
			    "%s: Vault is unavailable; the command keeps running with the values "
			    "it has, retrying",
			    what);
		s->vault_away = true;
		s->away_probes++;
		uint64_t ms = backoff_ms(s->away_probes);
		s->probe_at = now_ms() + (ms < 5000 ? ms : jittered(5000));
	} else if (s->vault_away) {
		s->vault_away = false;
		s->away_probes = 0;
		log_info("Vault is reachable again");
		catch_up(s);
	}
}

static int start_child(struct sv *s)
{
	char **envp = env_build(s->environ_, s->cfg, s->auth->method->scrub_env, s->auth->token,
	                        s->job->vars, s->job->nvars);
	int r = proc_start(&s->child, s->cmd, s->cfg->child_argv, envp);
	env_free(envp);
	return r;
}

static void on_signal(struct sv *s, int sig)
{
	if (sig == SIGCHLD) {
		pid_t was = s->child.pid;
		proc_reap(&s->child);
		/* The command's own end (not an orphan's, not a restart's). */
		if (was && !s->child.pid && !s->restarting)
			s->abandon = true;
		return;
	}
	log_debug("forwarding %s to pid %ld", signal_name(sig), (long)s->child.pid);
	/* A termination signal stops the command's whole tree, with SIGKILL
	 * after --stop-timeout; during a restart it ends the restart too: the
	 * command is not started again after it stops. */
	if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
		s->stopping = s->abandon = true;
		proc_stop(&s->child, sig, s->cfg->stop_timeout_ms);
		return;
	}
	proc_signal(&s->child, sig);
}

static void read_signals(struct sv *s)
{
	struct signalfd_siginfo si;
	while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		on_signal(s, (int)si.ssi_signo);
}

/* Asked by every request while it waits on the network (and before it
 * starts): the signals are handled at once, so the command gets what it is
 * sent within moments whatever Vault does.  A stop, or the command's end,
 * abandons the request; the lines its failure would log are debug. */
static bool interrupted(void *arg)
{
	struct sv *s = arg;
	read_signals(s);
	if (s->abandon)
		log_quiet(true);
	return s->abandon;
}

static void restart(struct sv *s, const char *why)
{
	if (s->restarting)
		return;
	log_info("restarting %s: %s; sending %s", s->cmd, why, signal_name(s->cfg->stop_signal));
	s->restarting = true;
	proc_stop(&s->child, s->cfg->stop_signal, s->cfg->stop_timeout_ms);
}

/* The --reload-url client, as interruptible as the Vault requests. */
static int reload_client(struct sv *s)
{
	struct http_tls tls = {0};
	if (s->reload_http)
		return 0;
	if (http_client_new(&s->reload_http, &tls, NULL))
		return -1;
	http_set_interrupt(s->reload_http, s->sfd, interrupted, s);
	return 0;
}

static void reload(struct sv *s, const char *why)
{
	const struct config *cfg = s->cfg;
	if (cfg->reload_signal) {
		log_info("reloading %s: %s; sending %s", s->cmd, why,
		         signal_name(cfg->reload_signal));
		proc_signal(&s->child, cfg->reload_signal);
		return;
	}
	if (reload_client(s)) {
		log_error("--reload-url: cannot set up the HTTP client; restarting instead");
		restart(s, why);
		return;
	}
	static const char *const hdrs[] = {"Content-Type: text/plain", NULL};
	struct http_response resp = {0, STRBUF_INIT, NULL, -1};
	char err[256];
	enum http_status st = http_request(s->reload_http, "POST", cfg->reload_url, hdrs, "", 10000,
	                                   &resp, err, sizeof(err));
	if (st == HTTP_E_ABANDONED) {
		log_quiet(false);
		log_info("reload of %s: %s; the --reload-url request was abandoned: stopping",
		         s->cmd, why);
		http_response_clear(&resp);
		return;
	}
	if (st == HTTP_OK && resp.code >= 200 && resp.code < 300)
		log_info("reloaded %s: %s; --reload-url answered HTTP %ld", s->cmd, why, resp.code);
	else if (st == HTTP_OK)
		log_warn("reload of %s: %s; --reload-url answered HTTP %ld; restarting instead",
		         s->cmd, why, resp.code);
	else
		log_warn("reload of %s: %s; --reload-url failed (%s); restarting instead", s->cmd,
		         why, err);
	bool ok = st == HTTP_OK && resp.code >= 200 && resp.code < 300;
	http_response_clear(&resp);
	if (!ok)
		restart(s, why);
}

static bool same_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	if (!a || !b)
		return a == b;
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* Names (never values) of what differs between the running job and the
 * new one, into why; returns whether any variable / file differs. */
static void diff_jobs(const struct job *old, const struct job *nw, bool *vars, bool *files,
                      struct strbuf *why)
{
	*vars = *files = false;
	for (size_t i = 0; i < nw->nvars; i++) {
		const struct outvar *n = &nw->vars[i], *o = NULL;
		for (size_t k = 0; k < old->nvars && !o; k++)
			if (strcmp(old->vars[k].name, n->name) == 0)
				o = &old->vars[k];
		if (o && same_bytes(o->value, o->len, n->value, n->len))
			continue;
		sb_addf(why, "%s%s", why->len ? ", " : "", n->name);
		*vars = true;
	}
	if (old->nvars != nw->nvars)
		*vars = true;
	for (size_t i = 0; i < nw->nfiles && i < old->nfiles; i++) {
		if (same_bytes(old->files[i].content, old->files[i].len, nw->files[i].content,
		               nw->files[i].len))
			continue;
		sb_addf(why, "%s%s", why->len ? ", " : "", nw->files[i].path);
		*files = true;
	}
}

static void drop_pending(struct sv *s)
{
	if (!s->pending)
		return;
	job_free(&s->next_job);
	s->pending = false;
}

static void schedule_leases(struct sv *s);

/* The replaced leases the command has let go of are revoked after
 * delay_ms: 0 once a restarted command runs on the new values, or
 * --revoke-delay after a reload, as the command may still be finishing
 * requests made with the old ones. */
static void schedule_revokes(struct sv *s, uint64_t delay_ms)
{
	struct lease_set *ls = plan_leases(*s->plan);
	uint64_t at = now_ms() + delay_ms;
	for (size_t i = 0; i < ls->n; i++)
		if (ls->v[i].replaced && !ls->v[i].revoked && !ls->v[i].revoke_ms) {
			ls->v[i].revoke_ms = at ? at : 1;
			ls->v[i].failures = 0;
		}
}

/* Revokes the replaced leases whose time has come.  One that Vault could
 * not be reached for stays in the set and is tried again with backoff
 * (and at exit) until it has ended by itself; one that Vault refused is
 * left for its TTL to end (no retry would change the answer). */
static void revoke_due(struct sv *s)
{
	struct lease_set *ls = plan_leases(*s->plan);
	size_t n = 0;
	for (size_t i = 0; i < ls->n; i++) {
		struct lease *l = &ls->v[i];
		uint64_t now = now_ms();
		if (!l->replaced || l->revoked || !l->revoke_ms || now < l->revoke_ms)
			continue;
		n++;
		if (l->lease_id && l->expires_ms && now >= l->expires_ms) {
			log_debug("%s: the replaced lease has ended by itself", l->path);
			l->revoked = true;
			continue;
		}
		_cleanup_free_ char *path = xstrdup(l->path);
		begin_vault_work(s);
		int r = lease_revoke(s->v, l);
		end_vault_work(s, r == EXIT_UNAVAILABLE ? r : 0, path);
		if (r == EXIT_UNAVAILABLE) {
			l->failures++;
			l->revoke_ms = now_ms() + backoff_ms(l->failures);
		} else {
			l->revoked = true;
		}
	}
	if (n)
		lease_set_drop_revoked(ls);
}

/* Would the command start with j's environment (no E2BIG)?  Checked
 * before the running command is stopped for it. */
static bool fits_exec(struct sv *s, const struct job *j)
{
	/* env_build's warnings were given at the first start. */
	log_quiet(true);
	char **envp = env_build(s->environ_, s->cfg, s->auth->method->scrub_env, s->auth->token,
	                        j->vars, j->nvars);
	log_quiet(s->render_refused);
	struct exec_limits limits;
	exec_limits_get(&limits);
	int r = exec_check_limits(s->cmd, s->cfg->child_argv, envp, &limits);
	env_free(envp);
	return r == 0;
}

/* Renders from the plan as it is now; a result that differs from what the
 * command has (or from what is already waiting) waits --debounce. */
static void rerender(struct sv *s, const char *cause, uint64_t latest)
{
	struct job j = {0};
	/* Values refused once are refused again at each poll: said once. */
	log_quiet(s->render_refused);
	int r = job_prepare(&j, s->cfg, s->environ_, *s->plan);
	if (!r)
		r = job_render(&j, *s->plan);
	if (r) {
		log_warn("%s: the templates could not be rendered; keeping the old values", cause);
	} else if (!fits_exec(s, &j)) {
		log_warn("%s: the new environment would not fit execve(); keeping the old values",
		         cause);
		r = EXIT_DATA;
	}
	log_quiet(false);
	s->render_refused = r != 0;
	if (r) {
		job_free(&j);
		return;
	}
	const struct job *cur = s->pending ? &s->next_job : s->job;
	bool vars, files;
	struct strbuf why = STRBUF_INIT;
	diff_jobs(cur, &j, &vars, &files, &why);
	if (!vars && !files) {
		job_free(&j);
		sb_wipe(&why);
		if (!s->pending)
			schedule_revokes(s, 0);
		return;
	}
	log_info("%s: %s changed; applying in %llums", cause, why.buf,
	         (unsigned long long)s->cfg->debounce_ms);
	sb_wipe(&why);
	if (!s->pending)
		s->apply_at = now_ms() + s->cfg->debounce_ms;
	/* --debounce never outlasts the values the command has. */
	if (latest && latest < s->apply_at)
		s->apply_at = latest;
	drop_pending(s);
	s->next_job = j;
	s->pending = true;
}

/* Every --poll: the secrets without a lease are read again. */
static void refresh(struct sv *s)
{
	begin_vault_work(s);
	int r = plan_refetch(*s->plan, s->v, SIZE_MAX);
	end_vault_work(s, r, "re-reading the secrets");
	if (r == EXIT_NOPERM)
		token_check(s);
	if (r)
		return;
	log_debug("poll: the secrets were checked");
	rerender(s, "poll", 0);
}

static void apply(struct sv *s)
{
	bool vars, files;
	struct strbuf why = STRBUF_INIT;
	diff_jobs(s->job, &s->next_job, &vars, &files, &why);
	if (files && files_write_all(s->next_job.files, s->next_job.nfiles, s->cfg->file_mode,
	                             &s->cfg->run_as)) {
		/* All or none: the command keeps the old files and values; the
		 * next poll tries again. */
		log_error("the new files could not be written; keeping the old values");
		drop_pending(s);
		sb_wipe(&why);
		return;
	}
	job_free(s->job);
	*s->job = s->next_job;
	memset(&s->next_job, 0, sizeof(s->next_job));
	s->pending = false;
	_cleanup_free_ char *msg = xasprintf("%s changed", why.buf);
	sb_wipe(&why);
	if (vars || (!s->cfg->reload_signal && !s->cfg->reload_url))
		restart(s, msg);
	else if (files)
		reload(s, msg);
	/* After a restart: once the new command runs (the loop). */
	if (!s->restarting)
		schedule_revokes(s, s->cfg->revoke_delay_ms);
}

/* --- what the start can tell ---------------------------------------------- */

/* Mistakes that otherwise show only when something changes, hours later. */
static void warn_at_start(struct sv *s)
{
	const struct config *cfg = s->cfg;
	struct plan_outlook o;
	plan_outlook(*s->plan, &o);
	if (!o.can_change && !cfg->token_sink)
		log_warn("--supervise: nothing read can change while %s runs (no lease, every "
		         "read a pinned KV version or a write without an expiry); the supervisor "
		         "only forwards signals: without --supervise the command runs the same",
		         s->cmd);
	/* (A certificate is not a matter of --poll: its own expiry is its
	 * clock.) */
	if (cfg->reload_url)
		s->reload_probe_at = now_ms() + 1000;
}

/* --reload-url is usually served by the command itself: it is tried
 * (HEAD, which changes nothing) for the command's first 30 s, and a URL
 * never reached is said once, before a reload falls back to a restart. */
static void probe_reload_url(struct sv *s)
{
	if (reload_client(s)) {
		s->reload_probe_at = 0;
		return;
	}
	struct http_response resp = {0, STRBUF_INIT, NULL, -1};
	char err[256];
	enum http_status st = http_request(s->reload_http, "HEAD", s->cfg->reload_url, NULL, NULL,
	                                   2000, &resp, err, sizeof(err));
	http_response_clear(&resp);
	if (st == HTTP_E_ABANDONED) {
		log_quiet(false);
		s->reload_probe_at = 0;
	} else if (st == HTTP_OK) {
		log_debug("--reload-url %s answers", s->cfg->reload_url);
		s->reload_probe_at = 0;
	} else if (++s->reload_probes >= 10) {
		log_warn("--reload-url %s cannot be reached (%s) 30s after %s started; a reload "
		         "will restart the command instead until it can",
		         s->cfg->reload_url, err, s->cmd);
		s->reload_probe_at = 0;
	} else {
		s->reload_probe_at = now_ms() + 3000;
	}
}

/* --- leases -------------------------------------------------------------- */

/* After a grant of granted_s seconds at start: renew at 2/3 when the
 * grant was all that was asked; otherwise fetch fresh values at 85-90% of
 * the lease's whole life, jittered so that replicas do not rotate in
 * step.  Values without a lease but with an end (a certificate) are
 * fetched again at 60-67% of their life: nothing can renew them, and the
 * new ones must reach the command well before the old ones expire. */
static void plan_lease(struct lease *l, uint64_t start, uint64_t granted_s, bool renewable)
{
	l->failures = 0;
	l->expiry_logged = false;
	l->expires_ms = start + granted_s * 1000;
	if (!l->lease_id) {
		l->refetch = true;
		l->due_ms = l->taken_ms + granted_s * (600 + random_u64() % 67);
	} else if (renewable && granted_s >= l->duration_s) {
		l->refetch = false;
		l->due_ms = start + granted_s * 1000 * 2 / 3;
	} else {
		l->refetch = true;
		uint64_t life = l->expires_ms - l->taken_ms;
		l->due_ms = l->taken_ms + life * (850 + random_u64() % 51) / 1000;
	}
}

static void schedule_leases(struct sv *s)
{
	struct lease_set *ls = plan_leases(*s->plan);
	for (size_t i = 0; i < ls->n; i++) {
		struct lease *l = &ls->v[i];
		/* A lease of 0s has no clock to keep (lease_take warned). */
		if (!l->due_ms && l->duration_s && !l->revoked && !l->replaced)
			plan_lease(l, l->taken_ms, l->duration_s, l->renewable);
	}
}

static int lease_renew(struct sv *s, struct lease *l)
{
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "lease_id", l->lease_id);
	cJSON_AddNumberToObject(body, "increment", (double)l->duration_s);
	char *text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	if (!text)
		die(EXIT_SOFTWARE, "out of memory");
	struct vault_reply rep;
	int r = vault_request(s->v, "PUT", "sys/leases/renew", NULL, text, 0, &rep);
	secure_free_str(text);
	if (r)
		return r;
	if (rep.code != 200) {
		/* Gone or refused: fresh values are the way on.  Vault's message
		 * may quote the lease ID, so it is not repeated. */
		log_warn("%s: renewing the lease: HTTP %ld; fetching fresh values", l->path,
		         rep.code);
		l->refetch = true;
		l->due_ms = now_ms();
		vault_reply_clear(&rep);
		return 0;
	}
	const cJSON *root = jdoc_root(rep.doc);
	uint64_t granted = num_field(root, "lease_duration");
	log_info("%s: renewed the lease for %llus%s", l->path, (unsigned long long)granted,
	         granted < l->duration_s ? " (less than asked: fresh values before it ends)" : "");
	plan_lease(l, now_ms(), granted, cJSON_IsTrue(json_get(root, "renewable")));
	vault_reply_clear(&rep);
	return 0;
}

static void lease_tick(struct sv *s)
{
	for (size_t i = 0; i < plan_leases(*s->plan)->n; i++) {
		struct lease *l = &plan_leases(*s->plan)->v[i];
		uint64_t now = now_ms();
		if (l->revoked || l->replaced || !l->due_ms || now < l->due_ms)
			continue;
		bool refetch = l->refetch;
		_cleanup_free_ char *path = xstrdup(l->path);
		begin_vault_work(s);
		int r = refetch ? plan_refetch(*s->plan, s->v, i) : lease_renew(s, l);
		end_vault_work(s, r, path);
		if (s->abandon)
			return;
		l = &plan_leases(*s->plan)->v[i]; /* the set may have moved */
		if (!r && refetch) {
			/* Applied halfway to the old lease's end at the latest. */
			uint64_t end = l->expires_ms, t = now_ms();
			schedule_leases(s);
			_cleanup_free_ char *cause = xasprintf("%s: fresh values", path);
			rerender(s, cause, end > t ? t + (end - t) / 2 : t);
			continue;
		}
		if (!r)
			continue;
		l->failures++;
		l->due_ms = now_ms() + backoff_ms(l->failures);
		if (now >= l->expires_ms && !l->expiry_logged) {
			l->expiry_logged = true;
			log_warn("%s: the lease has ended with no replacement; still trying", path);
		}
		if (r == EXIT_NOPERM)
			token_check(s);
		/* The rest waits for Vault (the probe), or for a new token. */
		if (s->vault_away || s->tok_dead)
			return;
	}
}

/* --- the token ----------------------------------------------------------- */

static bool can_login(const struct sv *s)
{
	/* A wrapped secret ID is spent by the first login. */
	return s->auth->method->login_body && !s->cfg->secret_id_wrapped;
}

/* A token vaultexec reads from a file (--token-file, VAULT_TOKEN_FILE,
 * an agent's sink) can be replaced by whoever writes the file. */
static const char *token_file(const struct sv *s)
{
	return s->auth->method->login_body ? NULL : s->cfg->token_file;
}

/* What happens at the end of a token nothing can renew or replace. */
static void say_token_end(const struct sv *s, struct strbuf *out)
{
	if (token_file(s))
		sb_addf(out, "a new token written to %s is used; without one, ", token_file(s));
	if (s->cfg->token_expiry_keep)
		sb_addf(out, "%s runs on with the values it has (--on-token-expiry=keep)", s->cmd);
	else
		sb_addf(out, "vaultexec then stops %s and exits with 77 (--on-token-expiry=exit)",
		        s->cmd);
}

/* What to do next with a token of ttl_s seconds that asked for want_s. */
static void schedule_token(struct sv *s, uint64_t ttl_s, bool renewable, uint64_t want_s)
{
	s->tok_failures = 0;
	s->tok_doomed = false;
	if (ttl_s == 0) {
		s->tok_step = TOK_NONE; /* a token without TTL (root) needs nothing */
		s->tok_end_ms = 0;
		return;
	}
	uint64_t now = now_ms(), at = now + ttl_s * 1000 * 2 / 3;
	s->tok_end_ms = now + ttl_s * 1000;
	/* Granted less than asked: the max TTL is near. */
	bool capped = want_s && ttl_s < want_s;
	if (renewable && !capped) {
		s->tok_step = TOK_RENEW;
	} else if (can_login(s)) {
		s->tok_step = TOK_LOGIN;
		log_debug("the token %s; logging in again in %llus",
		          renewable ? "nears its max TTL" : "is not renewable",
		          (unsigned long long)ttl_s * 2 / 3);
	} else {
		s->tok_step = TOK_NONE;
		s->tok_doomed = true;
		if (s->end_said)
			return;
		s->end_said = true;
		struct strbuf then = STRBUF_INIT;
		say_token_end(s, &then);
		log_warn("the token expires in %llus and %s; vaultexec cannot log in again with "
		         "--auth %s, and the leases it took end with it: %s",
		         (unsigned long long)ttl_s,
		         renewable ? "nears its max TTL" : "is not renewable",
		         s->auth->method->name, then.buf);
		sb_wipe(&then);
		return;
	}
	s->tok_at = at;
}

/* The leases end with the token that took them: under a new token each is
 * fetched anew, soon and spread over 2 s. */
static void refetch_leases_soon(struct sv *s)
{
	struct lease_set *ls = plan_leases(*s->plan);
	for (size_t i = 0; i < ls->n; i++)
		if (ls->v[i].lease_id && !ls->v[i].revoked && !ls->v[i].replaced &&
		    ls->v[i].due_ms) {
			ls->v[i].refetch = true;
			ls->v[i].due_ms = now_ms() + random_u64() % 2000;
		}
}

static void token_dead(struct sv *s, const char *why);

/* lookup-self refused (403): a token gone, or one without the default
 * policy, which Vault answers the same way.  It is taken as gone only
 * when a lookup of this token worked before. */
static bool refused_means_gone(const struct sv *s)
{
	return s->lookup_works;
}

static int token_lookup(struct sv *s)
{
	struct token_info ti;
	int r = auth_lookup_self(s->v, &ti);
	/* The token was just used (at start) or just obtained: a refusal here
	 * is a token without the default policy, not one gone. */
	if (r && r != EXIT_NOPERM)
		return r;
	s->lookup_works = ti.known;
	if (!ti.known) {
		/* Without the default policy there is no lookup; keep the token
		 * as it is (vault-api.md: not fatal). */
		log_warn("auth/token/lookup-self is refused; the token is not renewed");
		s->tok_step = TOK_NONE;
		return 0;
	}
	s->creation_ttl_s = ti.creation_ttl_s;
	schedule_token(s, ti.ttl_s, ti.renewable, 0);
	/* A max TTL the token states: its end is known now, not only when a
	 * renewal comes back short. */
	if (ti.renewable && ti.max_left_s && !can_login(s) && !s->end_said) {
		s->end_said = true;
		struct strbuf then = STRBUF_INIT;
		say_token_end(s, &then);
		log_warn("the token reaches its max TTL in %llus; vaultexec cannot log in again "
		         "with --auth %s, and the leases it took end with it: %s",
		         (unsigned long long)ti.max_left_s, s->auth->method->name, then.buf);
		sb_wipe(&then);
	}
	return 0;
}

/* --token-file changed and holds another token: it replaces ours.
 * Returns whether it did. */
static bool token_file_tick(struct sv *s)
{
	const char *path = token_file(s);
	struct stat st;
	if (!path || stat(path, &st) != 0)
		return false;
	if (st.st_ino == s->tok_file.st_ino && st.st_dev == s->tok_file.st_dev &&
	    st.st_size == s->tok_file.st_size && st.st_mtim.tv_sec == s->tok_file.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == s->tok_file.st_mtim.tv_nsec)
		return false;
	s->tok_file = st;
	char *tok = NULL;
	log_once(true);
	int r = auth_read_secret_file(s->cfg->token_origin, path, &tok);
	log_once(false);
	if (r || !*tok || strcmp(tok, s->auth->token) == 0) {
		secure_free_str(tok);
		return false;
	}
	log_info("--token-file %s holds a new token; using it", path);
	secure_free_str(s->auth->token);
	s->auth->token = tok;
	vault_set_token(s->v, tok);
	s->tok_dead = false;
	s->tok_doomed = false;
	s->end_said = false;
	s->lookup_works = false;
	s->tok_end_ms = 0;
	refetch_leases_soon(s);
	/* Whatever the polls missed while the token was dead. */
	s->poll_at = now_ms() + random_u64() % 1000;
	begin_vault_work(s);
	r = token_lookup(s);
	end_vault_work(s, r, "looking up the new token");
	return true;
}

/* The token has ended: logged in again when possible, else a new token
 * from --token-file, else --on-token-expiry. */
static void token_dead(struct sv *s, const char *why)
{
	if (s->tok_dead || token_file_tick(s))
		return;
	if (can_login(s) && !s->login_refused) {
		s->tok_step = TOK_LOGIN;
		s->tok_at = now_ms();
		return;
	}
	s->tok_dead = true;
	s->tok_step = TOK_NONE;
	if (s->cfg->token_expiry_keep) {
		log_warn("the token has ended (%s), and the leases it took with it; %s runs on "
		         "with the values it has (--on-token-expiry=keep); vaultexec makes no "
		         "request until %s",
		         why, s->cmd,
		         token_file(s) ? "a new token is written to --token-file" : "it ends");
		return;
	}
	log_error("the token has ended (%s), and the leases it took with it; nothing can "
	          "replace it: stopping %s and exiting with 77 (--on-token-expiry=exit), so that "
	          "it is started again with a new token",
	          why, s->cmd);
	s->exit_code = EXIT_NOPERM;
	s->stopping = true;
	proc_stop(&s->child, s->cfg->stop_signal, s->cfg->stop_timeout_ms);
}

/* One lookup of the token: after a refused request, is it the token
 * (then it has ended)?  While Vault is away, the probe that asks whether
 * it is back (end_vault_work says so and catches up). */
static void token_check(struct sv *s)
{
	struct token_info ti;
	begin_vault_work(s);
	int r = auth_lookup_self(s->v, &ti);
	end_vault_work(s, r == EXIT_NOPERM ? 0 : r,
	               s->vault_away ? "asking whether Vault is back" : "looking up the token");
	if (r == EXIT_NOPERM && refused_means_gone(s))
		token_dead(s, "Vault does not know it: expired or revoked");
}

static int token_renew(struct sv *s)
{
	struct vault_reply rep;
	int r = vault_request(s->v, "POST", "auth/token/renew-self", NULL, "{}", 0, &rep);
	if (r)
		return r;
	const cJSON *auth = json_get(jdoc_root(rep.doc), "auth");
	if (rep.code != 200 || !auth) {
		char msg[300];
		vault_error_line(&rep, msg, sizeof(msg));
		log_warn("renewing the token: HTTP %ld%s%s", rep.code, *msg ? ": " : "", msg);
		long code = rep.code;
		vault_reply_clear(&rep);
		if (can_login(s)) {
			s->tok_step = TOK_LOGIN;
			s->tok_at = now_ms();
			return 0;
		}
		/* renew-self is in the default policy: a 403 is a token gone. */
		if (code == 403 && refused_means_gone(s)) {
			token_dead(s, "Vault does not know it: expired or revoked");
			return 0;
		}
		return EXIT_NOPERM;
	}
	uint64_t ttl = num_field(auth, "lease_duration");
	log_info("renewed the token: TTL %llus", (unsigned long long)ttl);
	schedule_token(s, ttl, cJSON_IsTrue(json_get(auth, "renewable")), s->creation_ttl_s);
	vault_reply_clear(&rep);
	return 0;
}

static int token_login(struct sv *s)
{
	struct auth_state st = {0};
	int r = auth_prepare(s->cfg, &st);
	if (!r)
		r = auth_login(s->v, s->cfg, &st);
	if (r) {
		auth_clear(&st);
		vault_set_token(s->v, s->auth->token);
		return r;
	}
	/* The old token is left to expire, not revoked: leases it created
	 * would go with it.  They go all the same when it expires, so every
	 * lease is fetched anew under the new token before then. */
	auth_clear(s->auth);
	*s->auth = st;
	s->tok_dead = false;
	refetch_leases_soon(s);
	if (s->cfg->token_sink && (r = auth_handoff(s->v, s->cfg, s->auth, false)))
		log_warn("--token-sink %s: the new token could not be written", s->cfg->token_sink);
	return token_lookup(s);
}

static void token_tick(struct sv *s)
{
	bool login = s->tok_step == TOK_LOGIN;
	begin_vault_work(s);
	int r = login ? token_login(s) : token_renew(s);
	end_vault_work(s, r, login ? "logging in again" : "renewing the token");
	if (login)
		s->login_refused = r && r != EXIT_UNAVAILABLE;
	if (r) {
		/* A renewal refused near the max TTL (OpenBao answers 500) or
		 * for a token that is gone: a new login is the way on. */
		if (s->tok_step == TOK_RENEW && can_login(s))
			s->tok_step = TOK_LOGIN;
		s->tok_failures++;
		s->tok_at = now_ms() + (s->tok_failures == 1 ? 0 : backoff_ms(s->tok_failures));
	}
}

/* --- after an outage ----------------------------------------------------- */

/* Vault answered again: every lease that ended or came due meanwhile,
 * every revoke and poll that waited and the token's own work are done
 * within 1 s, spread at random over 0-800 ms so that replicas coming back
 * together do not all ask in the same instant. */
static void catch_up(struct sv *s)
{
	uint64_t now = now_ms();
	struct lease_set *ls = plan_leases(*s->plan);
	for (size_t i = 0; i < ls->n; i++) {
		struct lease *l = &ls->v[i];
		uint64_t *at = l->replaced ? &l->revoke_ms : &l->due_ms;
		if (!l->revoked && *at && *at > now + 1000) {
			/* Not due yet: keeps its clock, unless it is near its end. */
			if (l->replaced || !l->expires_ms || l->expires_ms > now + 10000)
				continue;
		}
		if (!l->revoked && *at)
			*at = now + random_u64() % 800;
	}
	if (s->poll_at <= now + 1000)
		s->poll_at = now + random_u64() % 800;
	if (s->tok_step != TOK_NONE && s->tok_at <= now + 1000)
		s->tok_at = now + random_u64() % 800;
}

/* --- the loop ------------------------------------------------------------ */

static int setup_signals(struct sv *s)
{
	sigset_t set;
	sigemptyset(&set);
	for (int sig = 1; sig <= SIGRTMAX; sig++)
		if (!never_forwarded(sig))
			sigaddset(&set, sig); /* refuses libc's own real-time signals */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (s->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		log_error("--supervise: cannot set up signal handling: %s", strerror(errno));
		return EXIT_SOFTWARE;
	}
	/* As PID 1 orphans come to us anyway; elsewhere ask for them. */
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		log_warn("--supervise: cannot become a child subreaper: %s", strerror(errno));
	return 0;
}

static uint64_t next_deadline(struct sv *s)
{
	/* While the command stops, only its end (a signal) or the SIGKILL
	 * deadline matter; once it has ended, its group every 100 ms too. */
	uint64_t wake = s->child.pid ? now_ms() + 3600000 : now_ms() + 100;
	if (s->child.kill_at && s->child.kill_at < wake)
		wake = s->child.kill_at;
	if (s->stopping || s->restarting || !s->child.pid)
		return wake;
	uint64_t d = wake;
	if (s->pending && s->apply_at < d)
		d = s->apply_at;
	if (s->child.kill_at && s->child.kill_at < d)
		d = s->child.kill_at;
	if (s->reload_probe_at && s->reload_probe_at < d)
		d = s->reload_probe_at;
	/* A token that nothing renews: its file is looked at every second. */
	if ((s->tok_doomed || s->tok_dead) && token_file(s) && now_ms() + 1000 < d)
		d = now_ms() + 1000;
	/* A dead token makes no requests; while Vault is away only the probe
	 * does. */
	if (s->tok_dead)
		return d;
	if (s->tok_end_ms && s->tok_end_ms < d)
		d = s->tok_end_ms;
	if (s->vault_away)
		return s->probe_at < d ? s->probe_at : d;
	if (s->poll_at < d)
		d = s->poll_at;
	if (s->tok_step != TOK_NONE && s->tok_at < d)
		d = s->tok_at;
	const struct lease_set *ls = plan_leases(*s->plan);
	for (size_t i = 0; i < ls->n; i++) {
		const struct lease *l = &ls->v[i];
		uint64_t at = l->replaced ? l->revoke_ms : l->due_ms;
		if (!l->revoked && at && at < d)
			d = at;
	}
	return d;
}

/* --token-file's directory is watched (an agent replaces its sink by a
 * rename): a new token is taken up at once, not at the next deadline. */
static void watch_token_file(struct sv *s)
{
	s->ifd = -1;
	const char *path = token_file(s);
	if (!path)
		return;
	if (stat(path, &s->tok_file) != 0)
		memset(&s->tok_file, 0, sizeof(s->tok_file));
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
	s->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->ifd >= 0 &&
	    inotify_add_watch(s->ifd, *dir ? dir : "/",
	                      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ATTRIB) < 0) {
		/* The once-a-second look of a dying token remains. */
		log_debug("--token-file: cannot watch %s: %s", dir, strerror(errno));
		close(s->ifd);
		s->ifd = -1;
	}
}

static void wait_event(struct sv *s)
{
	/* An abandoned request made its failure lines quiet (interrupted());
	 * what comes next (the command's end) is said again. */
	log_quiet(false);
	uint64_t now = now_ms(), d = next_deadline(s);
	uint64_t ms = d > now ? d - now : 0;
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	struct pollfd pfd[2] = {{s->sfd, POLLIN, 0}, {s->ifd, POLLIN, 0}};
	if (ppoll(pfd, s->ifd >= 0 ? 2 : 1, &ts, NULL) <= 0)
		return;
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	if (s->ifd >= 0 && (pfd[1].revents & POLLIN))
		while (read(s->ifd, ev, sizeof(ev)) > 0)
			; /* what changed is told by token_file_tick's stat */
	read_signals(s);
}

/* At exit the replaced leases still waiting (for --revoke-delay, or for
 * Vault to answer) get their last try, with or without --revoke-on-exit:
 * nothing uses them any more. */
static void revoke_replaced_at_exit(struct sv *s)
{
	struct lease_set *ls = plan_leases(*s->plan);
	for (size_t i = 0; i < ls->n; i++)
		if (ls->v[i].replaced && !ls->v[i].revoked)
			lease_revoke(s->v, &ls->v[i]);
	lease_set_drop_revoked(ls);
}

static void revoke_on_exit(struct sv *s)
{
	if (s->tok_dead) {
		log_info("--revoke-on-exit: the token has ended, and its leases with it");
		return;
	}
	lease_revoke_all(s->v, plan_leases(*s->plan), "--revoke-on-exit");
	if (!s->auth->logged_in) {
		log_info("--revoke-on-exit: the token was given to vaultexec, not created by it; "
		         "it is not revoked");
		return;
	}
	auth_revoke_login(s->v, s->auth, "--revoke-on-exit");
}

int supervise_run(const struct config *cfg, struct vault *v, struct auth_state *auth,
                  struct plan **plan, struct job *job, const char *cmd, char **environ_)
{
	struct sv s = {.cfg = cfg,
	               .v = v,
	               .auth = auth,
	               .plan = plan,
	               .job = job,
	               .cmd = cmd,
	               .environ_ = environ_,
	               .sfd = -1,
	               .ifd = -1,
	               .child = {.cmd = cmd, .run_as = &cfg->run_as, .keep_fds = cfg->keep_fds}};
	int r = setup_signals(&s);
	if (r)
		return r;
	/* From now on each request is one attempt: the loop retries on its own
	 * clock, and a signal is never kept waiting by a backoff sleep. */
	vault_set_wait(v, 0);
	/* ... nor by a request: every one polls the signalfd too. */
	vault_set_interrupt(v, s.sfd, interrupted, &s);
	if ((r = start_child(&s))) {
		vault_set_interrupt(v, -1, NULL, NULL);
		close(s.sfd);
		return r;
	}
	s.poll_at = now_ms() + jittered(cfg->poll_ms);
	watch_token_file(&s);
	warn_at_start(&s);
	schedule_leases(&s);
	begin_vault_work(&s);
	/* Not r: a lookup that failed (or was abandoned because the command
	 * ended at once) is no exit code of ours; the command's is. */
	int lr = token_lookup(&s);
	end_vault_work(&s, lr, "looking up the token");
	if (lr) { /* try again as a renewal soon */
		s.tok_step = TOK_RENEW;
		s.tok_at = now_ms() + backoff_ms(1);
	}

	while (s.child.pgid) {
		wait_event(&s);
		/* Its group is looked at again at each wake (every 100 ms once the
		 * command has ended): a member can end without a SIGCHLD to us. */
		if (!s.child.pid)
			proc_reap(&s.child);
		if (!s.child.pid && s.child.pgid && !s.child.kill_at) {
			/* The command ended and left processes in its group:
			 * nothing of it outlives vaultexec or a restart. */
			log_info("%s ended; stopping what is left of its process group (%s)", cmd,
			         signal_name(cfg->stop_signal));
			proc_stop(&s.child, cfg->stop_signal, cfg->stop_timeout_ms);
		}
		if (!s.child.pgid) {
			if (!s.restarting || s.stopping)
				break;
			s.restarting = false;
			if ((r = start_child(&s)))
				break;
			schedule_revokes(&s, 0);
			revoke_due(&s);
			continue;
		}
		uint64_t now = now_ms();
		proc_tick(&s.child, now);
		if (s.stopping || s.restarting || !s.child.pid)
			continue;
		/* After an abandoned request nothing more is asked of Vault. */
		if (s.reload_probe_at && now_ms() >= s.reload_probe_at)
			probe_reload_url(&s);
		if (!s.abandon && s.pending && now_ms() >= s.apply_at)
			apply(&s);
		if (s.abandon)
			continue;
		token_file_tick(&s);
		if (!s.tok_dead && s.tok_end_ms && now >= s.tok_end_ms) {
			s.tok_end_ms = 0; /* said once; a login or a new token sets it anew */
			token_dead(&s, "its TTL ran out");
		}
		if (s.tok_dead || s.stopping || s.abandon)
			continue;
		if (s.vault_away) {
			if (now_ms() >= s.probe_at)
				token_check(&s);
			continue;
		}
		if (s.tok_step != TOK_NONE && now >= s.tok_at)
			token_tick(&s);
		if (!s.abandon && !s.vault_away)
			lease_tick(&s);
		if (!s.abandon && !s.vault_away)
			revoke_due(&s);
		if (!s.abandon && !s.vault_away && now_ms() >= s.poll_at) {
			refresh(&s);
			s.poll_at = now_ms() + jittered(cfg->poll_ms);
		}
	}
	drop_pending(&s);
	http_client_free(s.reload_http);
	if (s.ifd >= 0)
		close(s.ifd);
	if (!r)
		r = s.exit_code ? s.exit_code : proc_exit_code(s.child.status);
	/* The command has ended: only a stop signal from now on abandons what
	 * is left to revoke. */
	s.abandon = false;
	if (cfg->revoke_on_exit)
		revoke_on_exit(&s);
	else
		revoke_replaced_at_exit(&s);
	log_quiet(false);
	if (s.abandon)
		log_info("revoking at exit: abandoned by a stop signal; what was not revoked ends "
		         "with its TTL");
	vault_set_interrupt(v, -1, NULL, NULL);
	close(s.sfd);
	return r;
}

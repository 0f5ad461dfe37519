#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>

#include "fileio.h"
#include "files.h"
#include "jsonval.h"
#include "log.h"
#include "secref.h"
#include "strbuf.h"

#define K8S_JWT_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount/token"

int auth_read_secret_file(const char *what, const char *path, char **out)
{
	char *text;
	size_t len;
	if (read_file_limited(path, 64u << 10, &text, &len) < 0) {
		log_error("%s %s: cannot read: %s", what, path,
		          errno == EFBIG ? "file too large" : strerror(errno));
		return EXIT_CONFIG;
	}
	/* Editors and `echo` add a newline, Kubernetes secrets sometimes a
	 * CRLF, and copy-paste spaces; a tab or any other control character
	 * is more likely a broken file than padding, so it is refused. */
	size_t full = len, start = 0;
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		len--;
	while (start < len && text[start] == ' ')
		start++;
	const char *ctl = find_ctl(text + start, len - start);
	if (ctl) {
		log_error("%s %s: control character at byte %zu (only a trailing newline and "
		          "surrounding spaces are allowed)",
		          what, path, (size_t)(ctl - text) + 1);
		secure_free(text, full);
		return EXIT_CONFIG;
	}
	if (start == len) {
		log_error("%s %s: file is empty", what, path);
		secure_free(text, full);
		return EXIT_CONFIG;
	}
	memmove(text, text + start, len - start);
	mbedtls_platform_zeroize(text + (len - start), full - (len - start));
	*out = text;
	return 0;
}

/* ---- messages ---------------------------------------------------------- */

/* The reason to log for a refused request (Vault's messages are held
 * back when they quote the credential: vault_error_text). */
static void refusal_reason(const struct vault_reply *rep, char *buf, size_t n)
{
	char msg[400];
	vault_error_line(rep, msg, sizeof(msg));
	snprintf(buf, n, "HTTP %ld%s%s", rep->code, *msg ? ": " : "", msg);
}

/* Whose JWT was refused, for the message: the role asked for and the
 * token's "sub" claim, read without checking the signature (the server
 * did that).  A Kubernetes service account token's subject
 * system:serviceaccount:NS:NAME is shown as "service account NS/NAME".
 * Empty when the body holds no JWT. */
static void jwt_whose(const cJSON *body, char *buf, size_t n)
{
	const char *jwt = json_get_string(body, "jwt");
	const char *role = json_get_string(body, "role");
	const char *dot = jwt ? strchr(jwt, '.') : NULL;
	const char *end = dot ? strchr(dot + 1, '.') : NULL;
	buf[0] = '\0';
	if (!end || end - dot > 16384)
		return;
	struct strbuf b64 = STRBUF_INIT, raw = STRBUF_INIT;
	sb_add(&b64, dot + 1, (size_t)(end - dot - 1));
	for (size_t i = 0; i < b64.len; i++)
		b64.buf[i] = b64.buf[i] == '-' ? '+' : b64.buf[i] == '_' ? '/' : b64.buf[i];
	while (b64.len % 4)
		sb_addc(&b64, '=');
	size_t olen = 0;
	sb_grow(&raw, b64.len + 1);
	struct jdoc *doc = NULL;
	const char *sub = NULL;
	if (mbedtls_base64_decode((unsigned char *)raw.buf, b64.len + 1, &olen,
	                          (const unsigned char *)b64.buf, b64.len) == 0) {
		raw.buf[olen] = '\0';
		if (jdoc_parse(raw.buf, olen, &doc) == 0)
			sub = json_get_string(jdoc_root(doc), "sub");
	}
	if (sub && has_ctl(sub, strlen(sub)))
		sub = NULL;
	const char *sa = sub && strncmp(sub, "system:serviceaccount:", 22) == 0 ? sub + 22 : NULL;
	const char *colon = sa ? strchr(sa, ':') : NULL;
	if (colon)
		snprintf(buf, n, " (role %s, service account %.*s/%s)", role ? role : "(none)",
		         (int)(colon - sa), sa, colon + 1);
	else
		snprintf(buf, n, " (role %s, subject %s)", role ? role : "(none)",
		         sub ? sub : "(none)");
	jdoc_free(doc);
	sb_wipe(&b64);
	sb_wipe(&raw);
}

static void wipe_json(cJSON *obj)
{
	cJSON *it;
	cJSON_ArrayForEach(it, obj)
	{
		if (cJSON_IsString(it) && it->valuestring)
			mbedtls_platform_zeroize(it->valuestring, strlen(it->valuestring));
	}
}

static void add_string(cJSON *obj, const char *key, const char *val)
{
	if (!cJSON_AddStringToObject(obj, key, val))
		die(EXIT_SOFTWARE, "out of memory");
}

/* ---- token ------------------------------------------------------------- */

static int token_prepare(const struct config *cfg, struct auth_state *st)
{
	if (cfg->token_file)
		return auth_read_secret_file(cfg->token_origin, cfg->token_file, &st->cred[0]);
	if (!cfg->token) {
		log_error("no token: set VAULT_TOKEN (or BAO_TOKEN), give --token-file, or log in "
		          "with --auth approle|kubernetes|jwt|cert");
		return EXIT_CONFIG;
	}
	if (has_ctl(cfg->token, strlen(cfg->token))) {
		log_error("%s: control character in the token", cfg->token_origin);
		return EXIT_CONFIG;
	}
	st->cred[0] = xstrdup(cfg->token);
	return 0;
}

static const char *const token_scrub[] = {"VAULT_TOKEN", "BAO_TOKEN", NULL};

/* ---- approle ----------------------------------------------------------- */

/* cred[0] role ID, cred[1] secret ID or, with --secret-id-wrapped, the
 * response-wrapping token that holds it. */
static int approle_prepare(const struct config *cfg, struct auth_state *st)
{
	if (cfg->role_id && cfg->role_id_file) {
		log_error("--role-id and --role-id-file: give one of them");
		return EXIT_USAGE;
	}
	if (cfg->secret_id && cfg->secret_id_file) {
		log_error("--secret-id and --secret-id-file: give one of them");
		return EXIT_USAGE;
	}
	if (!cfg->role_id && !cfg->role_id_file) {
		log_error("--auth approle needs --role-id-file or --role-id");
		return EXIT_USAGE;
	}
	if (cfg->secret_id_wrapped && !cfg->secret_id && !cfg->secret_id_file) {
		log_error("--secret-id-wrapped needs --secret-id-file holding the wrapping token");
		return EXIT_USAGE;
	}
	if (cfg->role_id_file) {
		int r = auth_read_secret_file("--role-id-file", cfg->role_id_file, &st->cred[0]);
		if (r)
			return r;
	} else {
		st->cred[0] = xstrdup(cfg->role_id);
	}
	if (cfg->secret_id_file)
		return auth_read_secret_file("--secret-id-file", cfg->secret_id_file, &st->cred[1]);
	if (cfg->secret_id) {
		if (has_ctl(cfg->secret_id, strlen(cfg->secret_id))) {
			log_error("--secret-id: control character in the value");
			return EXIT_CONFIG;
		}
		st->cred[1] = xstrdup(cfg->secret_id);
	}
	/* No secret ID at all suits a role with bind_secret_id=false. */
	return 0;
}

/* Whether a wrapping token's creation path is the secret-id endpoint of
 * our mount: of --role if given, else of any role (the role ID already
 * pins the role: a secret ID of another role does not log in with it). */
bool auth_creation_path_ok(const char *path, const char *mount, const char *role)
{
	size_t ml = strlen(mount);
	if (strncmp(path, "auth/", 5) != 0 || strncmp(path + 5, mount, ml) != 0 ||
	    strncmp(path + 5 + ml, "/role/", 6) != 0)
		return false;
	const char *name = path + 5 + ml + 6;
	const char *end = strchr(name, '/');
	if (!end || end == name || strcmp(end, "/secret-id") != 0)
		return false;
	return !role ||
	       (strlen(role) == (size_t)(end - name) && memcmp(name, role, strlen(role)) == 0);
}

static int wrapping_refused(const char *what, const char *step, const struct vault_reply *rep)
{
	char msg[400];
	vault_error_line(rep, msg, sizeof(msg));
	if (rep->code == 400)
		log_error(
		    "%s: the response-wrapping token is not valid (%s: HTTP 400%s%s): it was "
		    "already unwrapped, has expired, or never existed.  If nothing else "
		    "should have unwrapped it, it may have been intercepted: treat the secret "
		    "ID as compromised and revoke it",
		    what, step, *msg ? ": " : "", msg);
	else
		log_error("%s: %s failed: HTTP %ld%s%s", what, step, rep->code, *msg ? ": " : "",
		          msg);
	return EXIT_NOPERM;
}

/* One call to sys/wrapping/...; 0 with a 200 answer in *rep, else the
 * exit code after logging (rep released). */
static int wrapping_call(struct vault *v, const char *what, const char *step, const char *body,
                         int flags, struct vault_reply *rep)
{
	int r = vault_request(v, "POST", step, NULL, body, flags, rep);
	if (r || rep->code == 200)
		return r;
	r = wrapping_refused(what, step, rep);
	vault_reply_clear(rep);
	return r;
}

static const char *reply_data_string(const struct vault_reply *rep, const char *key)
{
	return json_get_string(json_get(rep->doc ? jdoc_root(rep->doc) : NULL, "data"), key);
}

/* Looks the wrapping token up (without using it), checks where it was
 * made, then unwraps it, as the Vault agent does.  The unwrap sends the
 * wrapping token as X-Vault-Token and no body: sending it in both burns it. */
static int approle_unwrap(struct vault *v, const struct config *cfg, struct auth_state *st)
{
	_cleanup_free_ char *what = cfg->secret_id_file
	                                ? xasprintf("--secret-id-file %s", cfg->secret_id_file)
	                                : xstrdup("--secret-id");
	cJSON *req = cJSON_CreateObject();
	if (!req)
		die(EXIT_SOFTWARE, "out of memory");
	add_string(req, "token", st->cred[1]);
	struct strbuf body = STRBUF_INIT;
	json_print_flat(req, &body);
	wipe_json(req);
	cJSON_Delete(req);
	struct vault_reply rep;
	int r = wrapping_call(v, what, "sys/wrapping/lookup", body.buf, VREQ_NO_TOKEN, &rep);
	sb_wipe(&body);
	if (r)
		return r;
	const char *cpath = reply_data_string(&rep, "creation_path");
	if (!cpath || !auth_creation_path_ok(cpath, st->mount, cfg->role)) {
		if (cfg->role)
			log_error("%s: the wrapping token was made by %s, not by "
			          "auth/%s/role/%s/secret-id: refusing to unwrap it (it may be a "
			          "substitute)",
			          what, cpath ? cpath : "(no creation_path)", st->mount, cfg->role);
		else
			log_error(
			    "%s: the wrapping token was made by %s, not by "
			    "auth/%s/role/<role>/secret-id: refusing to unwrap it (it may be a "
			    "substitute)",
			    what, cpath ? cpath : "(no creation_path)", st->mount);
		vault_reply_clear(&rep);
		return EXIT_NOPERM;
	}
	log_debug("%s: wrapping token made by %s; unwrapping", what, cpath);
	vault_reply_clear(&rep);

	vault_set_token(v, st->cred[1]);
	r = wrapping_call(v, what, "sys/wrapping/unwrap", NULL, 0, &rep);
	vault_set_token(v, NULL);
	if (r)
		return r;
	const char *sid = reply_data_string(&rep, "secret_id");
	if (!sid || !*sid) {
		log_error("%s: the unwrapped response holds no data.secret_id", what);
		vault_reply_clear(&rep);
		return EXIT_NOPERM;
	}
	secure_free_str(st->cred[1]);
	st->cred[1] = xstrdup(sid);
	vault_reply_clear(&rep);
	return 0;
}

static int approle_body(struct vault *v, const struct config *cfg, struct auth_state *st,
                        cJSON *body)
{
	if (cfg->secret_id_wrapped) {
		int r = approle_unwrap(v, cfg, st);
		if (r)
			return r;
	}
	add_string(body, "role_id", st->cred[0]);
	if (st->cred[1])
		add_string(body, "secret_id", st->cred[1]);
	return 0;
}

/* ---- kubernetes and jwt ------------------------------------------------ */

static const char *jwt_path(const struct config *cfg, const struct auth_state *st)
{
	if (cfg->jwt_file)
		return cfg->jwt_file;
	return strcmp(st->method->name, "kubernetes") == 0 ? K8S_JWT_DEFAULT : NULL;
}

static int jwt_prepare(const struct config *cfg, struct auth_state *st)
{
	bool k8s = strcmp(st->method->name, "kubernetes") == 0;
	if (k8s && !cfg->role) {
		log_error("--auth kubernetes needs --role");
		return EXIT_USAGE;
	}
	if (!k8s && !cfg->jwt_file) {
		log_error("--auth jwt needs --jwt-file");
		return EXIT_USAGE;
	}
	/* Only a check: the token is read again at login, after the wait,
	 * since projected service-account tokens rotate. */
	char *jwt = NULL;
	int r = auth_read_secret_file("--jwt-file", jwt_path(cfg, st), &jwt);
	secure_free_str(jwt);
	return r;
}

static int jwt_body(struct vault *v, const struct config *cfg, struct auth_state *st, cJSON *body)
{
	/* Read once Vault is ready, not before a wait that can be long:
	 * projected service-account tokens rotate, and a login retried
	 * after the wait sends the body it was given. */
	int r = vault_ensure_ready(v);
	if (r)
		return r;
	_cleanup_secret_ char *jwt = NULL;
	r = auth_read_secret_file("--jwt-file", jwt_path(cfg, st), &jwt);
	if (r)
		return r;
	if (cfg->role)
		add_string(body, "role", cfg->role);
	add_string(body, "jwt", jwt);
	return 0;
}

/* ---- cert -------------------------------------------------------------- */

static int cert_prepare(const struct config *cfg, struct auth_state *st)
{
	(void)st;
	if (!cfg->client_cert) {
		log_error("--auth cert needs --client-cert and --client-key (or VAULT_CLIENT_CERT "
		          "and VAULT_CLIENT_KEY)");
		return EXIT_USAGE;
	}
	if (strncmp(cfg->addr, "https://", 8) != 0) {
		log_error("--auth cert needs an https:// --addr: the certificate is presented in "
		          "the TLS handshake");
		return EXIT_USAGE;
	}
	return 0;
}

static int cert_body(struct vault *v, const struct config *cfg, struct auth_state *st, cJSON *body)
{
	(void)v;
	(void)st;
	if (cfg->cert_role)
		add_string(body, "name", cfg->cert_role);
	return 0;
}

/* ---- the table --------------------------------------------------------- */

static const struct auth_method methods[] = {
    {"token", token_prepare, NULL, token_scrub}, {"approle", approle_prepare, approle_body, NULL},
    {"kubernetes", jwt_prepare, jwt_body, NULL}, {"jwt", jwt_prepare, jwt_body, NULL},
    {"cert", cert_prepare, cert_body, NULL},
};

const struct auth_method *auth_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

/* Options that only some methods read: given to another, they are
 * probably a mistake, but a shared environment may carry them. */
static void warn_unused_options(const struct config *cfg, const char *m)
{
	static const struct {
		const char *opt;
		const char *methods;
	} uses[] = {
	    {"--role-id", " approle "},           {"--role-id-file", " approle "},
	    {"--secret-id", " approle "},         {"--secret-id-file", " approle "},
	    {"--secret-id-wrapped", " approle "}, {"--role", " approle kubernetes jwt "},
	    {"--jwt-file", " kubernetes jwt "},   {"--cert-role", " cert "},
	};
	const bool given[] = {
	    cfg->role_id != NULL,        cfg->role_id_file != NULL, cfg->secret_id != NULL,
	    cfg->secret_id_file != NULL, cfg->secret_id_wrapped,    cfg->role != NULL,
	    cfg->jwt_file != NULL,       cfg->cert_role != NULL,
	};
	char key[32];
	snprintf(key, sizeof(key), " %s ", m);
	for (size_t i = 0; i < ARRAY_SIZE(uses); i++)
		if (given[i] && !strstr(uses[i].methods, key))
			log_warn("%s is ignored with --auth %s", uses[i].opt, m);
}

/* The mount without surrounding slashes, or NULL for what Vault's router
 * would redirect or misread (empty, "." or ".." segments, controls). */
char *auth_mount_parse(const char *mount)
{
	size_t n = strlen(mount);
	trim_slashes(&mount, &n);
	return n && secpath_valid(mount, n) ? xstrndup(mount, n) : NULL;
}

static int mount_of(const struct config *cfg, const char *method, char **out)
{
	*out = auth_mount_parse(cfg->auth_mount ? cfg->auth_mount : method);
	if (*out)
		return 0;
	log_error("--auth-mount '%s' is not a mount path like approle or k8s/cluster1",
	          cfg->auth_mount);
	return EXIT_USAGE;
}

int auth_prepare(const struct config *cfg, struct auth_state *st)
{
	memset(st, 0, sizeof(*st));
	st->method = auth_find(cfg->auth_method);
	if (!st->method) {
		log_error("--auth %s: unknown login method (token, approle, kubernetes, jwt, cert)",
		          cfg->auth_method);
		return EXIT_USAGE;
	}
	if (cfg->revoke_token && !st->method->login_body) {
		log_error("--revoke-token revokes only a token vaultexec got by logging in; with "
		          "--auth token the token is not ours to revoke");
		return EXIT_USAGE;
	}
	if (cfg->revoke_token && cfg->token_sink) {
		log_error("--revoke-token and --token-sink: the sink would hold a revoked token");
		return EXIT_USAGE;
	}
	int r = mount_of(cfg, st->method->name, &st->mount);
	if (r)
		return r;
	warn_unused_options(cfg, st->method->name);
	return st->method->prepare(cfg, st);
}

static void describe_auth(const cJSON *auth, const char *who)
{
	struct strbuf sb = STRBUF_INIT;
	const cJSON *pol = json_get(auth, "token_policies");
	if (!cJSON_IsArray(pol))
		pol = json_get(auth, "policies");
	const cJSON *it;
	cJSON_ArrayForEach(it, pol)
	{
		if (cJSON_IsString(it))
			sb_addf(&sb, "%s%s", sb.len ? "," : "", it->valuestring);
	}
	const cJSON *ttl = json_get(auth, "lease_duration");
	double secs = cJSON_IsNumber(ttl) ? ttl->valuedouble : 0;
	if (secs > 0)
		log_info("logged in with %s: policies %s; token TTL %.0fs", who,
		         sb.len ? sb.buf : "(none)", secs);
	else
		log_info("logged in with %s: policies %s; token without TTL", who,
		         sb.len ? sb.buf : "(none)");
	sb_wipe(&sb);
}

/* Whether a login refused with a bare 403 "permission denied" went to a
 * mount where nothing is enabled: Vault gives that answer for an unknown
 * mount (to hide which exist), and the kubernetes method gives it for a
 * token the API server rejects.  An empty login tells them apart: an
 * enabled method answers it with its own reason (400, "missing role"). */
static bool bare_denial(struct vault *v, const char *path, const struct vault_reply *rep)
{
	const char *msg = vault_error_message(rep);
	if (rep->code != 403 || (msg && strcmp(msg, "permission denied") != 0))
		return false;
	struct vault_reply probe = {0};
	bool none = vault_request(v, "POST", path, NULL, "{}", VREQ_NO_TOKEN, &probe) == 0 &&
	            probe.code == 403;
	vault_reply_clear(&probe);
	return none;
}

static int login_request(struct vault *v, const struct config *cfg, struct auth_state *st)
{
	/* The same mount is another one in another namespace: say which. */
	const char *ns = vault_namespace(v);
	_cleanup_free_ char *who = xasprintf("%s at auth/%s%s%s%s", st->method->name, st->mount,
	                                     ns ? " (namespace " : "", ns ? ns : "", ns ? ")" : "");
	cJSON *body = cJSON_CreateObject();
	if (!body)
		die(EXIT_SOFTWARE, "out of memory");
	int r = st->method->login_body(v, cfg, st, body);
	struct strbuf text = STRBUF_INIT;
	if (!r)
		json_print_flat(body, &text);

	struct strbuf path = STRBUF_INIT;
	sb_adds(&path, "auth/");
	sb_add_path(&path, st->mount);
	sb_adds(&path, "/login");

	struct vault_reply rep = {0};
	if (!r)
		r = vault_request(v, "POST", path.buf, NULL, text.buf, VREQ_NO_TOKEN, &rep);
	sb_wipe(&text);
	if (r)
		goto out;
	const cJSON *auth = json_get(rep.doc ? jdoc_root(rep.doc) : NULL, "auth");
	if (rep.code == 404 || rep.code == 405) {
		char reason[480];
		refusal_reason(&rep, reason, sizeof(reason));
		log_error("login with %s: %s (is the %s method enabled at auth/%s%s?)", who, reason,
		          st->method->name, st->mount, ns ? ", in that namespace" : "");
		r = EXIT_CONFIG;
		goto out;
	}
	if (rep.code < 200 || rep.code > 299) {
		char reason[480], whose[320];
		refusal_reason(&rep, reason, sizeof(reason));
		jwt_whose(body, whose, sizeof(whose));
		log_error(
		    "login with %s refused: %s%s%s", who, reason, whose,
		    bare_denial(v, path.buf, &rep)
		        ? " (nothing seems enabled there: an empty login is refused the same way)"
		        : "");
		r = EXIT_NOPERM;
		goto out;
	}
	const cJSON *mfa = json_get(auth, "mfa_requirement");
	if (mfa && !cJSON_IsNull(mfa)) {
		log_error("login with %s needs multi-factor authentication (auth.mfa_requirement), "
		          "which vaultexec cannot answer",
		          who);
		r = EXIT_NOPERM;
		goto out;
	}
	const char *tok = json_get_string(auth, "client_token");
	if (!tok || !*tok || has_ctl(tok, strlen(tok))) {
		log_error("login with %s: HTTP %ld without a usable auth.client_token", who,
		          rep.code);
		r = EXIT_NOPERM;
		goto out;
	}
	st->token = xstrdup(tok);
	describe_auth(auth, who);
out:
	vault_reply_clear(&rep);
	sb_wipe(&path);
	wipe_json(body);
	cJSON_Delete(body);
	return r;
}

int auth_login(struct vault *v, const struct config *cfg, struct auth_state *st)
{
	int r;
	if (st->method->login_body) {
		r = login_request(v, cfg, st);
		st->logged_in = r == 0;
	} else {
		st->token = xstrdup(st->cred[0]);
		r = 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(st->cred); i++) {
		secure_free_str(st->cred[i]);
		st->cred[i] = NULL;
	}
	if (r)
		return r;
	vault_set_token(v, st->token);
	return 0;
}

int auth_handoff(struct vault *v, const struct config *cfg, struct auth_state *st, bool check)
{
	if (cfg->token_sink && !check) {
		int r = file_write_atomic(cfg->token_sink, st->token, strlen(st->token), 0600,
		                          &cfg->run_as);
		if (r) {
			log_error("--token-sink %s: the token could not be written",
			          cfg->token_sink);
			return r;
		}
		log_debug("--token-sink: wrote the token to %s", cfg->token_sink);
	}
	/* Not fatal: the token stays valid until its TTL either way, and the
	 * command should not be kept from starting by a tidy-up step. */
	if (cfg->revoke_token)
		auth_revoke_login(v, st, "--revoke-token");
	return 0;
}

int auth_revoke_login(struct vault *v, struct auth_state *st, const char *why)
{
	if (!st->logged_in || !st->token)
		return 0;
	struct vault_reply rep;
	int r = vault_request(v, "POST", "auth/token/revoke-self", NULL, NULL, 0, &rep);
	if (r) {
		log_warn("%s: could not revoke the login token; it stays valid until its TTL ends",
		         why);
		return r;
	}
	if (rep.code == 200 || rep.code == 204) {
		log_info("revoked the login token (%s)", why);
		/* Nothing left to revoke, and nothing to use it for. */
		st->logged_in = false;
		vault_set_token(v, NULL);
	} else {
		char msg[400];
		vault_error_line(&rep, msg, sizeof(msg));
		log_warn("%s: auth/token/revoke-self answered HTTP %ld%s%s; the token stays valid "
		         "until its TTL ends",
		         why, rep.code, *msg ? ": " : "", msg);
		r = rep.code == 403 ? EXIT_NOPERM : EXIT_DATA;
	}
	vault_reply_clear(&rep);
	return r;
}

void auth_clear(struct auth_state *st)
{
	for (size_t i = 0; i < ARRAY_SIZE(st->cred); i++)
		secure_free_str(st->cred[i]);
	secure_free_str(st->token);
	free(st->mount);
	memset(st, 0, sizeof(*st));
}

static uint64_t seconds_of(const cJSON *n)
{
	return cJSON_IsNumber(n) && n->valuedouble > 0 && n->valuedouble < 1e12
	           ? (uint64_t)n->valuedouble
	           : 0;
}

int auth_lookup_self(struct vault *v, struct token_info *info)
{
	memset(info, 0, sizeof(*info));
	struct vault_reply rep;
	int r = vault_request(v, "GET", "auth/token/lookup-self", NULL, NULL, 0, &rep);
	if (r)
		return r;
	if (rep.code == 403) {
		vault_reply_clear(&rep);
		return EXIT_NOPERM;
	}
	const cJSON *data = json_get(jdoc_root(rep.doc), "data");
	if (rep.code != 200 || !data) {
		log_debug("auth/token/lookup-self answered HTTP %ld", rep.code);
		vault_reply_clear(&rep);
		return 0;
	}
	info->known = true;
	info->ttl_s = seconds_of(json_get(data, "ttl"));
	info->renewable = cJSON_IsTrue(json_get(data, "renewable"));
	info->creation_ttl_s = seconds_of(json_get(data, "creation_ttl"));
	uint64_t max = seconds_of(json_get(data, "explicit_max_ttl"));
	/* (creation_time is Unix seconds; issue_time the same in RFC 3339) */
	uint64_t issued = seconds_of(json_get(data, "creation_time"));
	time_t now = time(NULL);
	if (max && issued && (uint64_t)now < issued + max)
		info->max_left_s = issued + max - (uint64_t)now;
	vault_reply_clear(&rep);
	return 0;
}

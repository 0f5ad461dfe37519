/* vault-env mode: bank-vaults vault-env's environment contract on top of
 * vaultexec's own configuration (see vaultenv.h and README "Replacing
 * vault-env").  Nothing here talks to Vault: the translation only decides
 * which settings config_parse sees, which variables the command inherits,
 * and adds the references vault-env's value forms stand for. */
#include "vaultenv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/platform_util.h>

#include "env.h"
#include "fileio.h"
#include "http.h"
#include "log.h"
#include "strbuf.h"
#include "util.h"

#define K8S_JWT_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount/token"

/* The names vault-env removes from the command's environment, in its
 * order.  With VAULT_TOKEN=vault:login the first LOGIN_KEPT stay, so the
 * command can talk to Vault with the token it is handed. */
static const char *const scrub_names[] = {
    "VAULT_TOKEN",
    "VAULT_ADDR",
    "VAULT_AGENT_ADDR",
    "VAULT_CACERT",
    "VAULT_CAPATH",
    "VAULT_CLIENT_CERT",
    "VAULT_CLIENT_KEY",
    "VAULT_CLIENT_TIMEOUT",
    "VAULT_SRV_LOOKUP",
    "VAULT_SKIP_VERIFY",
    "VAULT_NAMESPACE",
    "VAULT_TLS_SERVER_NAME",
    "VAULT_WRAP_TTL",
    "VAULT_MFA",
    "VAULT_MAX_RETRIES",
    "VAULT_CLUSTER_ADDR",
    "VAULT_REDIRECT_ADDR",
    "VAULT_CLI_NO_COLOR",
    "VAULT_RATE_LIMIT",
    "VAULT_ROLE",
    "VAULT_PATH",
    "VAULT_AUTH_METHOD",
    "VAULT_TRANSIT_KEY_ID",
    "VAULT_TRANSIT_PATH",
    "VAULT_TRANSIT_BATCH_SIZE",
    "VAULT_IGNORE_MISSING_SECRETS",
    "VAULT_ENV_PASSTHROUGH",
    "VAULT_JSON_LOG",
    "VAULT_LOG_LEVEL",
    "VAULT_REVOKE_TOKEN",
    "VAULT_ENV_DAEMON",
    "VAULT_ENV_FROM_PATH",
    "VAULT_ENV_DELAY",
};
enum { NSCRUB = ARRAY_SIZE(scrub_names), LOGIN_KEPT = 15 };

/* vault-env's login methods that vaultexec has no equivalent for. */
static const char *const unsupported_auth[] = {"aws-ec2", "aws-iam", "gcp-gce",
                                               "gcp-iam", "azure",   "namespaced"};

static const char login_value[] = "vault:login";

bool vaultenv_named(const char *argv0)
{
	if (!argv0)
		return false;
	const char *slash = strrchr(argv0, '/');
	return strcmp(slash ? slash + 1 : argv0, "vault-env") == 0;
}

/* ---- small helpers ------------------------------------------------------ */

struct envlist {
	char **v;
	size_t n;
};

static void el_add(struct envlist *l, char *entry)
{
	ARRAY_GROW(l->v, l->n + 1); /* and the NULL after it */
	l->v[l->n++] = entry;
	l->v[l->n] = NULL;
}

static char **el_finish(struct envlist *l)
{
	if (!l->v)
		l->v = xcalloc(1, sizeof(*l->v));
	return steal_pointer(&l->v);
}

static bool name_is(const char *entry, const char *name)
{
	size_t n = strlen(name);
	return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

static const char *nonempty(char **env, const char *name)
{
	const char *v = env_lookup(env, name);
	return v && *v ? v : NULL;
}

/* vault-env reads its switches with Go's strconv.ParseBool and takes
 * anything else as false; a typo here is refused instead. */
static int get_bool(char **env, const char *name, bool *out)
{
	*out = false;
	const char *v = nonempty(env, name);
	if (v && parse_go_bool(v, out) < 0) {
		log_error("%s: '%s' is not a boolean (true/false/1/0/t/f)", name, v);
		return EXIT_USAGE;
	}
	return 0;
}

/* Whether NAME is listed in VAULT_ENV_PASSTHROUGH (comma-separated,
 * blanks around names ignored, as vault-env trims them). */
static bool passthrough(const char *list, const char *name, size_t n)
{
	for (const char *p = list; p && *p;) {
		const char *c = strchr(p, ',');
		const char *e = c ? c : p + strlen(p);
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		const char *t = e;
		while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if ((size_t)(t - p) == n && memcmp(p, name, n) == 0)
			return true;
		p = c ? c + 1 : e;
	}
	return false;
}

/* ---- Go-template keys --------------------------------------------------- */

/* The sprig/text-template functions vault-env keys use that have an exact
 * (or, for urlquery, a stricter) vaultexec filter. */
static const struct {
	const char *go;
	const char *ours;
} funcs[] = {
    {"b64enc", "base64"}, {"b64dec", "base64decode"}, {"urlquery", "urlencode"},
    {"upper", "upper"},   {"lower", "lower"},         {"trim", "trim"},
};

static const char supported_keys[] =
    "supported: ${.FIELD} with optional | b64enc, b64dec, urlquery, upper, lower, trim";

static bool ident_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static void add_ref(struct strbuf *t, const char *path, unsigned long long version, const char *f,
                    size_t n)
{
	sb_addf(t, "{{ %s#%.*s", path, (int)n, f);
	if (version)
		sb_addf(t, "#%llu", version);
}

char *vaultenv_template(const char *path, unsigned long long version, const char *key, char *err,
                        size_t errlen)
{
	struct strbuf t = STRBUF_INIT;
	for (const char *p = key; *p;) {
		if (!(p[0] == '$' && p[1] == '{')) {
			/* A literal '{' could open a vaultexec expression. */
			if (*p == '{')
				sb_adds(&t, "{{ \"{\" }}");
			else
				sb_addc(&t, *p);
			p++;
			continue;
		}
		const char *s = p + 2, *e = strchr(s, '}');
		if (!e) {
			snprintf(err, errlen, "unterminated ${ in template key");
			goto bad;
		}
		while (s < e && *s == ' ')
			s++;
		const char *f = s + 1;
		size_t n = 0;
		while (f + n < e && ident_char(f[n]))
			n++;
		if (*s != '.' || n == 0) {
			snprintf(err, errlen, "'%.*s' is not plain field access; %s",
			         (int)(e - p + 1), p, supported_keys);
			goto bad;
		}
		add_ref(&t, path, version, f, n);
		for (const char *q = f + n; q < e;) {
			while (q < e && *q == ' ')
				q++;
			if (q == e)
				break;
			if (*q != '|') {
				snprintf(err, errlen, "'%.*s' is not plain field access; %s",
				         (int)(e - p + 1), p, supported_keys);
				goto bad;
			}
			q++;
			while (q < e && *q == ' ')
				q++;
			const char *fn = q;
			while (q < e && *q != ' ' && *q != '|')
				q++;
			size_t k = 0, nfuncs = ARRAY_SIZE(funcs);
			while (k < nfuncs && !(strlen(funcs[k].go) == (size_t)(q - fn) &&
			                       memcmp(funcs[k].go, fn, (size_t)(q - fn)) == 0))
				k++;
			if (k == nfuncs) {
				snprintf(err, errlen,
				         "function '%.*s' in '%.*s' is not available; %s",
				         (int)(q - fn), fn, (int)(e - p + 1), p, supported_keys);
				goto bad;
			}
			sb_addf(&t, " | %s", funcs[k].ours);
		}
		sb_adds(&t, " }}");
		p = e + 1;
	}
	return sb_steal(&t);
bad:
	sb_wipe(&t);
	return NULL;
}

/* ---- value forms -------------------------------------------------------- */

/* Where transit ciphertexts are decrypted (VAULT_TRANSIT_PATH, KEY_ID). */
struct transit {
	const char *path;
	const char *key;
};

/* vault-env's transit test: vault:v<digits>:<something>. */
static bool is_transit(const char *v, size_t n)
{
	if (n < 9 || strncmp(v, "vault:v", 7) != 0)
		return false;
	size_t i = 7;
	while (i < n && v[i] >= '0' && v[i] <= '9')
		i++;
	return i > 7 && i + 1 < n && v[i] == ':';
}

/* The next inline reference in s: "${vault:" or "${>>vault:". */
static const char *next_inline(const char *s)
{
	const char *a = strstr(s, "${vault:"), *b = strstr(s, "${>>vault:");
	return !a ? b : !b ? a : a < b ? a : b;
}

/* The end of an inline reference opened at s (just after "${"), as
 * vault-env's pattern \${(>{0,2}vault:.*?#*}?)} finds it: the first '}',
 * or the one right after it (a template key's or a JSON body's own '}'
 * comes first). */
static const char *inline_end(const char *s)
{
	const char *close = strchr(s, '}');
	return close && close[1] == '}' ? close + 1 : close;
}

static bool has_template(const char *key)
{
	return strstr(key, "${") && strchr(key, '}');
}

static void add_literal(struct strbuf *t, const char *s, size_t n)
{
	/* A literal '{' could open a vaultexec expression. */
	for (size_t i = 0; i < n; i++)
		if (s[i] == '{')
			sb_adds(t, "{{ \"{\" }}");
		else
			sb_addc(t, s[i]);
}

/* A >>vault: write's JSON body as PATH?NAME=VALUE&... (what vaultexec
 * sends as POST with a JSON body of strings).  Flat objects only. */
static int write_path(const char *name, const char *path, const char *body, struct strbuf *out)
{
	cJSON *o = cJSON_Parse(body);
	int r = 0;
	if (!cJSON_IsObject(o)) {
		log_error("%s: the body of a >>vault: write is not a JSON object", name);
		r = EXIT_USAGE;
	} else if (!o->child) {
		log_error(
		    "%s: a >>vault: write with an empty body ({}): vaultexec's writes need at "
		    "least one parameter",
		    name);
		r = EXIT_USAGE;
	}
	sb_adds(out, path);
	for (cJSON *c = o ? o->child : NULL; c && !r; c = c->next) {
		_cleanup_secret_ char *num = NULL;
		const char *v = cJSON_IsString(c) ? c->valuestring : NULL;
		if (cJSON_IsNumber(c) || cJSON_IsBool(c))
			v = num = cJSON_PrintUnformatted(c);
		if (!v) {
			log_error(
			    "%s: >>vault: body field '%s': only strings, numbers and booleans are "
			    "supported",
			    name, c->string);
			r = EXIT_USAGE;
			break;
		}
		sb_addc(out, c == o->child ? '?' : '&');
		sb_add_pct(out, c->string, strlen(c->string));
		sb_addc(out, '=');
		sb_add_pct(out, v, strlen(v));
	}
	/* cJSON frees without wiping: the body may hold a secret. */
	for (cJSON *c = o ? o->child : NULL; c; c = c->next)
		if (cJSON_IsString(c) && c->valuestring)
			mbedtls_platform_zeroize(c->valuestring, strlen(c->valuestring));
	cJSON_Delete(o);
	return r;
}

/* Whether PATH#FIELD can be written as a vaultexec template reference: a
 * reference ends at whitespace, '|' or "}}", and must parse as one. */
static int check_ref(const char *name, const char *path, const char *field)
{
	_cleanup_free_ char *tok = xasprintf("%s#%s", path, field);
	char why[160] = "";
	struct secref ref;
	bool ok = tok[0] != '"' && !strstr(tok, "}}") && !strpbrk(tok, "| ") &&
	          !has_ctl(tok, strlen(tok));
	if (ok && secref_parse(tok, strlen(tok), &ref, why, sizeof(why)) == 0) {
		secref_clear(&ref);
		return 0;
	}
	log_error("%s: vaultexec cannot read '%s'%s%s (no blanks, '|', '}}' or '.'/'..' segments "
	          "in a path or key)",
	          name, path, *why ? ": " : "", why);
	return EXIT_USAGE;
}

/* One reference (ref: "vault:..." or ">>vault:...", n bytes) as template
 * text: a transit ciphertext, a write, or a read, with a plain or a
 * Go-template key. */
static int ref_template(const struct transit *tr, const char *name, const char *ref, size_t n,
                        struct strbuf *out)
{
	if (is_transit(ref, n)) {
		if (!tr->key) {
			log_error("%s: a transit ciphertext, but VAULT_TRANSIT_KEY_ID is not set",
			          name);
			return EXIT_USAGE;
		}
		/* vault-env posts to TRANSIT_PATH/decrypt/KEY and decodes the
		 * Base64 plaintext; so does this template. */
		_cleanup_free_ char *dec = xasprintf("%s/decrypt/%s", tr->path, tr->key);
		if (check_ref(name, dec, "plaintext"))
			return EXIT_USAGE;
		sb_addf(out, "{{ %s?ciphertext=", dec);
		sb_add_pct(out, ref, n);
		sb_adds(out, "#plaintext | base64decode }}");
		return 0;
	}
	bool write = ref[0] == '>';
	const char *r = ref + (write ? 8 : 6);
	size_t rn = n - (write ? 8 : 6);
	const char *h1 = memchr(r, '#', rn), *end = r + rn;
	if (!h1 || h1 == r || h1 + 1 == end) {
		log_error("%s: bad vault: reference (want vault:PATH#KEY[#VERSION])", name);
		return EXIT_USAGE;
	}
	/* PATH#KEY#VERSION, or for a write PATH#KEY#BODY (the rest). */
	const char *h2 = memchr(h1 + 1, '#', (size_t)(end - h1 - 1));
	_cleanup_free_ char *path = xstrndup(r, (size_t)(h1 - r));
	_cleanup_secret_ char *key = xstrndup(h1 + 1, (size_t)((h2 ? h2 : end) - h1 - 1));
	_cleanup_secret_ char *third = h2 ? xstrndup(h2 + 1, (size_t)(end - h2 - 1)) : NULL;
	struct strbuf req = STRBUF_INIT;
	uint64_t version = 0;
	int rc = 0;
	if (write) {
		if (!third) {
			log_error(
			    "%s: a >>vault: write with an empty body ({}): vaultexec's writes "
			    "need at least one parameter",
			    name);
			return EXIT_USAGE;
		}
		rc = write_path(name, path, third, &req);
	} else if (strchr(path, '?')) {
		/* vaultexec reads PATH?PARAMS as a write: a read's '?' would
		 * turn it into one. */
		log_error("%s: '?' in the path of a vault: read; a write is "
		          ">>vault:PATH#KEY#{JSON body}",
		          name);
		rc = EXIT_USAGE;
	} else {
		sb_adds(&req, path);
		if (third && parse_u64(third, 0, INT64_MAX, &version) < 0) {
			log_error("%s: bad version '%s' after the second '#' (a number)", name,
			          third);
			rc = EXIT_USAGE;
		}
	}
	if (!rc)
		rc = check_ref(name, req.buf, has_template(key) ? "x" : key);
	if (!rc && !has_template(key)) {
		add_ref(out, req.buf, version, key, strlen(key));
		sb_adds(out, " }}");
	} else if (!rc) {
		char err[300];
		_cleanup_secret_ char *t =
		    vaultenv_template(req.buf, version, key, err, sizeof(err));
		if (t)
			sb_adds(out, t);
		else {
			log_error("%s: template key: %s", name, err);
			rc = EXIT_USAGE;
		}
	}
	sb_wipe(&req);
	return rc;
}

/* Whether a value needs a template: a Go-template key, a write or a
 * transit ciphertext anywhere.  Plain vault:PATH#KEY[#VERSION] and
 * ${vault:PATH#KEY} are left to vaultexec's own reference parser. */
static bool needs_template(const char *val)
{
	if (strncmp(val, ">>vault:", 8) == 0 || is_transit(val, strlen(val)))
		return true;
	if (strncmp(val, "vault:", 6) == 0) {
		const char *h = strchr(val, '#');
		return h && has_template(h);
	}
	for (const char *p = next_inline(val); p; p = next_inline(p + 2)) {
		const char *e = inline_end(p + 2);
		if (!e)
			return false; /* vaultexec's parser names the column */
		const char *h = memchr(p, '#', (size_t)(e - p));
		if (p[2] == '>' || is_transit(p + 2, (size_t)(e - p - 2)) ||
		    (h && strstr(h, "${") && strstr(h, "${") < e))
			return true;
	}
	return false;
}

/* A value as one vaultexec template: literal text kept, each reference
 * an expression. */
static int value_template(const struct transit *tr, const char *name, const char *val, char **out)
{
	struct strbuf t = STRBUF_INIT;
	int rc = 0;
	if (strncmp(val, "vault:", 6) == 0 || strncmp(val, ">>vault:", 8) == 0) {
		rc = ref_template(tr, name, val, strlen(val), &t);
	} else {
		const char *p = val;
		for (const char *o = next_inline(p); o && !rc; o = next_inline(p)) {
			add_literal(&t, p, (size_t)(o - p));
			const char *e = inline_end(o + 2);
			if (!e) {
				log_error("%s: unterminated ${vault: reference at column %zu", name,
				          (size_t)(o - val) + 1);
				rc = EXIT_USAGE;
				break;
			}
			rc = ref_template(tr, name, o + 2, (size_t)(e - o - 2), &t);
			p = e + 1;
		}
		if (!rc)
			add_literal(&t, p, strlen(p));
	}
	if (rc) {
		sb_wipe(&t);
		return rc;
	}
	*out = sb_steal(&t);
	return 0;
}

/* ---- settings ----------------------------------------------------------- */

/* VAULTEXEC_* settings derived from vault-env's variables; a VAULTEXEC_
 * variable the user set wins (its own options keep working), except for
 * the list-valued ones, which get ours added. */
struct settings {
	struct envlist add;
	char token_origin[64]; /* the variable the token came from, for messages */
	char token_note[320];  /* the token source, said once at start */
};

static void set(struct settings *s, char **in, const char *name, const char *val)
{
	const char *mine = env_lookup(in, name);
	if (mine && !*mine)
		mine = NULL; /* empty counts as unset (config_parse agrees) */
	if (mine && strcmp(name, "VAULTEXEC_KEEP_ENV") != 0)
		return;
	el_add(&s->add,
	       mine ? xasprintf("%s=%s\n%s", name, mine, val) : xasprintf("%s=%s", name, val));
}

/* slog's level names (case-insensitive, with an optional +N/-N offset);
 * anything else means info, as in vault-env. */
static const char *log_level_of(const char *v)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {{"debug", -4}, {"info", 0}, {"warn", 4}, {"error", 8}};
	for (size_t i = 0; v && i < ARRAY_SIZE(names); i++) {
		size_t n = strlen(names[i].name);
		if (strncasecmp(v, names[i].name, n) != 0)
			continue;
		int level = names[i].level;
		if (v[n]) {
			uint64_t off;
			if ((v[n] != '+' && v[n] != '-') || parse_u64(v + n + 1, 0, 100, &off) < 0)
				return "info";
			level += v[n] == '+' ? (int)off : -(int)off;
		}
		return level < 0 ? "debug" : level < 4 ? "info" : level < 8 ? "warn" : "error";
	}
	return "info";
}

/* The login vault-env would do: VAULT_TOKEN_FILE, then VAULT_TOKEN, then
 * the token file at VAULT_TOKEN_PATH (default ~/.vault-token), then a JWT
 * login.  Sets *logs_in when vaultexec will log in. */
static int auth_settings(struct settings *s, char **in, bool login, bool *logs_in)
{
	const char *own = nonempty(in, "VAULTEXEC_AUTH");
	*logs_in = own && strcmp(own, "token") != 0;
	if (own || nonempty(in, "VAULTEXEC_TOKEN_FILE")) {
		snprintf(s->token_note, sizeof(s->token_note),
		         "the login from vaultexec's own VAULTEXEC_AUTH / VAULTEXEC_TOKEN_FILE");
		return 0; /* vaultexec's own login options */
	}
	const char *tf = nonempty(in, "VAULT_TOKEN_FILE");
	if (tf) {
		set(s, in, "VAULTEXEC_TOKEN_FILE", tf);
		snprintf(s->token_origin, sizeof(s->token_origin), "VAULT_TOKEN_FILE");
		snprintf(s->token_note, sizeof(s->token_note), "the token in VAULT_TOKEN_FILE (%s)",
		         tf);
		return 0;
	}
	const char *tok = nonempty(in, "VAULT_TOKEN");
	if (tok && !login) {
		snprintf(s->token_note, sizeof(s->token_note), "the token in VAULT_TOKEN");
		return 0;
	}
	_cleanup_free_ char *home_token = NULL;
	const char *tp = env_lookup(in, "VAULT_TOKEN_PATH");
	if (!tp) {
		const char *home = env_lookup(in, "HOME");
		tp = home_token = xasprintf("%s/.vault-token", home ? home : "");
	}
	char *text = NULL;
	size_t len;
	if (*tp && read_file_limited(tp, 64u << 10, &text, &len) == 0) {
		secure_free(text, len);
		set(s, in, "VAULTEXEC_TOKEN_FILE", tp);
		const char *from =
		    env_lookup(in, "VAULT_TOKEN_PATH") ? "VAULT_TOKEN_PATH" : "~/.vault-token";
		snprintf(s->token_origin, sizeof(s->token_origin), "%s", from);
		snprintf(s->token_note, sizeof(s->token_note), "the token in %s (%s)", tp, from);
		return 0;
	}
	const char *m = nonempty(in, "VAULT_AUTH_METHOD");
	for (size_t i = 0; m && i < ARRAY_SIZE(unsupported_auth); i++)
		if (strcmp(m, unsupported_auth[i]) == 0) {
			log_error("VAULT_AUTH_METHOD=%s: vaultexec cannot log in with %s; use jwt "
			          "(the default) or kubernetes, give a token (VAULT_TOKEN, "
			          "VAULT_TOKEN_FILE), or VAULTEXEC_AUTH=approle or cert",
			          m, m);
			return EXIT_USAGE;
		}
	if (m && strcmp(m, "jwt") != 0 && strcmp(m, "kubernetes") != 0) {
		log_error("VAULT_AUTH_METHOD=%s: unknown login method (jwt, the default, or "
		          "kubernetes)",
		          m);
		return EXIT_USAGE;
	}
	const char *jwt = nonempty(in, "KUBERNETES_SERVICE_ACCOUNT_TOKEN");
	if (!jwt)
		jwt = nonempty(in, "VAULT_JWT_FILE");
	const char *path = nonempty(in, "VAULT_PATH");
	const char *role = nonempty(in, "VAULT_ROLE");
	/* Both send {"role","jwt"} to auth/<VAULT_PATH>/login, as vault-env. */
	set(s, in, "VAULTEXEC_AUTH", m ? m : "jwt");
	set(s, in, "VAULTEXEC_AUTH_MOUNT", path ? path : "kubernetes");
	set(s, in, "VAULTEXEC_ROLE", role ? role : "default");
	set(s, in, "VAULTEXEC_JWT_FILE", jwt ? jwt : K8S_JWT_DEFAULT);
	snprintf(s->token_note, sizeof(s->token_note),
	         "a %s login at auth/%s as role %s (VAULT_AUTH_METHOD, VAULT_PATH, VAULT_ROLE; no "
	         "VAULT_TOKEN, VAULT_TOKEN_FILE or token file at %s)",
	         m ? m : "jwt", path ? path : "kubernetes", role ? role : "default", tp);
	*logs_in = true;
	return 0;
}

/* Options said the way a vault-env user sets them: vault-env's own
 * variable, else the Vault client's, else VAULTEXEC_<NAME>. */
static char g_token_origin[64];

static bool vaultenv_name(const char *name, size_t n, char *out, size_t outn)
{
	static const char *const own[][2] = {
	    {"supervise", "VAULT_ENV_DAEMON"},
	    {"revoke-token", "VAULT_REVOKE_TOKEN"},
	    {"revoke-on-exit", "VAULT_REVOKE_TOKEN"},
	    {"allow-missing", "VAULT_IGNORE_MISSING_SECRETS"},
	    {"log-level", "VAULT_LOG_LEVEL"},
	    {"log-format", "VAULT_JSON_LOG"},
	    {"auth", "VAULT_AUTH_METHOD"},
	    {"auth-mount", "VAULT_PATH"},
	    {"role", "VAULT_ROLE"},
	    {"jwt-file", "VAULT_JWT_FILE"},
	    {"token-file", g_token_origin},
	};
	for (size_t i = 0; i < ARRAY_SIZE(own); i++)
		if (strlen(own[i][0]) == n && strncmp(own[i][0], name, n) == 0 && *own[i][1]) {
			snprintf(out, outn, "%s", own[i][1]);
			return true;
		}
	return config_option_var(name, n, out, outn);
}

/* ---- the translation ---------------------------------------------------- */

struct extras {
	struct secref *from;
	size_t nfrom;
	struct tmpl_spec *envs;
	size_t nenvs;
	bool login;
	uint64_t delay_ms;
};

static void extras_free(struct extras *x)
{
	for (size_t i = 0; i < x->nfrom; i++)
		secref_clear(&x->from[i]);
	free(x->from);
	for (size_t i = 0; i < x->nenvs; i++) {
		free(x->envs[i].name);
		secure_free_str(x->envs[i].text);
		free(x->envs[i].origin);
	}
	free(x->envs);
	memset(x, 0, sizeof(*x));
}

/* VAULT_ENV_FROM_PATH: PATH[#VERSION],... */
static int from_paths(char **in, struct extras *x)
{
	const char *list = nonempty(in, "VAULT_ENV_FROM_PATH");
	for (const char *p = list; p && *p;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n) {
			const char *h = memchr(p, '#', n);
			size_t pl = h ? (size_t)(h - p) : n;
			uint64_t v = 0;
			if (h) {
				_cleanup_free_ char *num = xstrndup(h + 1, n - pl - 1);
				if (parse_u64(num, 0, INT64_MAX, &v) < 0) {
					log_error(
					    "VAULT_ENV_FROM_PATH: '%.*s': bad version '%s' (a "
					    "number)",
					    (int)n, p, num);
					return EXIT_USAGE;
				}
			}
			const char *ps = p;
			while (pl && *ps == '/')
				ps++, pl--;
			while (pl && ps[pl - 1] == '/')
				pl--;
			if (!pl || !secpath_valid(ps, pl)) {
				log_error(
				    "VAULT_ENV_FROM_PATH: '%.*s' is not a secret path (no empty, "
				    "'.' or '..' segments)",
				    (int)n, p);
				return EXIT_USAGE;
			}
			ARRAY_GROW(x->from, x->nfrom);
			x->from[x->nfrom++] =
			    (struct secref){xstrndup(ps, pl), xstrdup(""), v, NULL};
		}
		p = c ? c + 1 : p + n;
		if (!c)
			break;
	}
	return 0;
}

static bool scrubbed(const char *entry, const char *pass, bool login)
{
	const char *eq = strchr(entry, '=');
	if (!eq)
		return true;
	size_t n = (size_t)(eq - entry);
	for (size_t i = login ? LOGIN_KEPT : 0; i < NSCRUB; i++)
		if (strlen(scrub_names[i]) == n && memcmp(entry, scrub_names[i], n) == 0)
			return !passthrough(pass, entry, n);
	return false;
}

static int translate(char **in, struct settings *s, struct envlist *child, struct extras *x)
{
	const char *tok = env_lookup(in, "VAULT_TOKEN");
	x->login = tok && strcmp(tok, login_value) == 0;
	const char *pass = env_lookup(in, "VAULT_ENV_PASSTHROUGH");
	bool daemon, revoke, ignore, json;
	int r;
	if ((r = get_bool(in, "VAULT_ENV_DAEMON", &daemon)) ||
	    (r = get_bool(in, "VAULT_REVOKE_TOKEN", &revoke)) ||
	    (r = get_bool(in, "VAULT_IGNORE_MISSING_SECRETS", &ignore)) ||
	    (r = get_bool(in, "VAULT_JSON_LOG", &json)))
		return r;
	const char *delay = nonempty(in, "VAULT_ENV_DELAY");
	if (delay && parse_duration_ms(delay, &x->delay_ms) < 0) {
		log_error("VAULT_ENV_DELAY: '%s' is not a duration like 500ms, 5s or 2m (at most "
		          "24h)",
		          delay);
		return EXIT_USAGE;
	}
	bool logs_in;
	if ((r = auth_settings(s, in, x->login, &logs_in)))
		return r;
	if (revoke && x->login) {
		log_error("VAULT_REVOKE_TOKEN with VAULT_TOKEN=vault:login: the command would be "
		          "handed a revoked token; drop one of them");
		return EXIT_USAGE;
	}
	/* Daemon mode is vaultexec's supervisor: it renews, and fetches again
	 * at the end of a lease instead of stopping the command. */
	if (daemon)
		set(s, in, "VAULTEXEC_SUPERVISE", "true");
	/* The supervisor keeps using its token: revoke it when the command
	 * ends.  --revoke-on-exit revokes the leases whoever made the token,
	 * and the token only when it is ours (the README: it "means
	 * --revoke-on-exit"). */
	if (revoke && daemon)
		set(s, in, "VAULTEXEC_REVOKE_ON_EXIT", "true");
	else if (revoke && logs_in)
		set(s, in, "VAULTEXEC_REVOKE_TOKEN", "true");
	else if (revoke)
		log_warn("VAULT_REVOKE_TOKEN: the token was given to vaultexec (VAULT_TOKEN or a "
		         "token file), not obtained by its login; it is not revoked");
	set(s, in, "VAULTEXEC_KV_VERSION", "auto");
	if (ignore)
		set(s, in, "VAULTEXEC_ALLOW_MISSING", "true");
	if (json)
		set(s, in, "VAULTEXEC_LOG_FORMAT", "json");
	if (env_lookup(in, "VAULT_LOG_LEVEL"))
		set(s, in, "VAULTEXEC_LOG_LEVEL", log_level_of(env_lookup(in, "VAULT_LOG_LEVEL")));
	if (passthrough(pass, "VAULT_TOKEN", 11) && !x->login)
		set(s, in, "VAULTEXEC_KEEP_ENV", "VAULT_TOKEN");
	if ((r = from_paths(in, x)))
		return r;
	const char *tpath = nonempty(in, "VAULT_TRANSIT_PATH");
	struct transit tr = {tpath ? tpath : "transit", nonempty(in, "VAULT_TRANSIT_KEY_ID")};

	for (char **e = in; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || eq == *e || strncmp(*e, "VAULTEXEC_", 10) == 0)
			continue;
		if (x->login && name_is(*e, "VAULT_TOKEN"))
			continue; /* the token itself is added at the end */
		if (scrubbed(*e, pass, x->login))
			continue;
		_cleanup_free_ char *name = xstrndup(*e, (size_t)(eq - *e));
		if (needs_template(eq + 1)) {
			char *text;
			if ((r = value_template(&tr, name, eq + 1, &text)))
				return r;
			ARRAY_GROW(x->envs, x->nenvs);
			x->envs[x->nenvs++] =
			    (struct tmpl_spec){xstrdup(name), text, xstrdup(name)};
			continue;
		}
		el_add(child, xstrdup(*e));
	}
	return 0;
}

/* The environment config_parse reads: ours without BAO_* (vault-env's Go
 * client reads only VAULT_*) and without VAULT_TOKEN=vault:login, plus
 * the derived settings. */
static char **parse_environ(char **in, struct settings *s, bool login)
{
	struct envlist out = {0};
	for (char **e = in; e && *e; e++) {
		if (strncmp(*e, "BAO_", 4) == 0 || (login && name_is(*e, "VAULT_TOKEN")))
			continue;
		bool replaced = false;
		for (size_t i = 0; i < s->add.n && !replaced; i++) {
			const char *eq = strchr(s->add.v[i], '=');
			replaced = strncmp(*e, s->add.v[i], (size_t)(eq - s->add.v[i]) + 1) == 0;
		}
		if (!replaced)
			el_add(&out, xstrdup(*e));
	}
	for (size_t i = 0; i < s->add.n; i++)
		el_add(&out, xstrdup(s->add.v[i]));
	return el_finish(&out);
}

/* The settings no option has, once config_parse has filled cfg.  An
 * explicit --env or --map of the same name wins over a reference. */
static int apply_extras(struct config *cfg, struct extras *x)
{
	for (size_t i = 0; i < x->nenvs; i++) {
		bool taken = false;
		for (size_t j = 0; j < cfg->nenvs && !taken; j++)
			taken = strcmp(cfg->envs[j].name, x->envs[i].name) == 0;
		for (size_t j = 0; j < cfg->nmaps && !taken; j++)
			taken = strcmp(cfg->maps[j].env, x->envs[i].name) == 0;
		if (taken)
			continue;
		ARRAY_GROW(cfg->envs, cfg->nenvs);
		cfg->envs[cfg->nenvs++] = x->envs[i];
		memset(&x->envs[i], 0, sizeof(x->envs[i]));
	}
	cfg->from_paths = steal_pointer(&x->from);
	cfg->nfrom_paths = x->nfrom;
	x->nfrom = 0;
	cfg->token_to_env = x->login;
	cfg->exec_delay_ms = x->delay_ms;
	if (cfg->token_to_env && cfg->revoke_token) {
		log_error(
		    "--revoke-token with VAULT_TOKEN=vault:login: the command would be handed "
		    "a revoked token");
		return EXIT_USAGE;
	}
	return 0;
}

int vaultenv_config(struct config *cfg, struct vaultenv *ve, int argc, char **argv, char **environ_)
{
	memset(ve, 0, sizeof(*ve));
	ve->env = environ_;
	if (argc < 1 || !vaultenv_named(argv[0]))
		return config_parse(cfg, argc, argv, environ_);
	ve->active = true;
	memset(cfg, 0, sizeof(*cfg));
	/* Messages before config_parse already follow VAULT_JSON_LOG. */
	const char *j = nonempty(environ_, "VAULT_JSON_LOG");
	bool json = false;
	if (j && parse_go_bool(j, &json) == 0 && json)
		log_setup(LOG_INFO, LOG_JSON);

	struct settings s = {0};
	struct envlist child = {0};
	struct extras x = {0};
	int r = translate(environ_, &s, &child, &x);
	ve->owned_env = el_finish(&child);
	ve->env = ve->owned_env;
	snprintf(g_token_origin, sizeof(g_token_origin), "%s",
	         *s.token_origin ? s.token_origin : "VAULT_TOKEN_FILE");
	log_set_rename(vaultenv_name);
	if (!r) {
		ve->parse_env = parse_environ(environ_, &s, x.login);
		r = config_parse(cfg, argc, argv, ve->parse_env);
	}
	if (!r)
		r = apply_extras(cfg, &x);
	if (!r && *s.token_origin)
		snprintf(cfg->token_origin, sizeof(cfg->token_origin), "%s", s.token_origin);
	if (!r && *s.token_note)
		log_info("vault-env: using %s", s.token_note);
	env_free(el_finish(&s.add));
	extras_free(&x);
	return r;
}

void vaultenv_free(struct vaultenv *ve)
{
	env_free(ve->owned_env);
	env_free(ve->parse_env);
	memset(ve, 0, sizeof(*ve));
}

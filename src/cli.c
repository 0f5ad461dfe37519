/* Option parsing: argv and VAULTEXEC_* variables into struct config.
 *
 * Every option is one row of opts[] below; its VAULTEXEC_<NAME> variable
 * and its --help line are derived from that row, so the three cannot
 * drift apart.  Environment values are applied first and flags second,
 * so a flag wins over its variable; repeatable options collect both. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "util.h"

enum opt_id {
	OPT_HELP = 'h',
	OPT_VERSION = 'V',
	OPT_ADDR = 256,
	OPT_NAMESPACE,
	OPT_CA_CERT,
	OPT_CA_PATH,
	OPT_CLIENT_CERT,
	OPT_CLIENT_KEY,
	OPT_TLS_SERVER_NAME,
	OPT_TLS_SKIP_VERIFY,
	OPT_WAIT,
	OPT_REQUEST_TIMEOUT,
	OPT_AUTH,
	OPT_AUTH_MOUNT,
	OPT_TOKEN_FILE,
	OPT_ROLE_ID,
	OPT_ROLE_ID_FILE,
	OPT_SECRET_ID,
	OPT_SECRET_ID_FILE,
	OPT_SECRET_ID_WRAPPED,
	OPT_ROLE,
	OPT_JWT_FILE,
	OPT_CERT_ROLE,
	OPT_REVOKE_TOKEN,
	OPT_TOKEN_SINK,
	OPT_SERVICE,
	OPT_SECRET,
	OPT_KV_MOUNT,
	OPT_KV_VERSION,
	OPT_MAP,
	OPT_MAP_ALL,
	OPT_ENV,
	OPT_FILE,
	OPT_FILE_MODE,
	OPT_NO_ENV_REFS,
	OPT_ALLOW_MISSING,
	OPT_KEEP_ENV,
	OPT_CHECK,
	OPT_LOG_LEVEL,
	OPT_LOG_FORMAT,
};

enum opt_kind { K_VALUE, K_BOOL, K_REPEAT, K_OPTIONAL, K_ACTION };

struct opt_def {
	const char *name;
	enum opt_id id;
	enum opt_kind kind;
	const char *arg;     /* placeholder in --help */
	const char *section; /* --help heading, printed when it changes */
	const char *help;
	const char *also; /* other variables read, lowest precedence last */
};

static const struct opt_def opts[] = {
    {"addr", OPT_ADDR, K_VALUE, "URL", "Connection",
     "Vault address; a path prefix is kept; unix:///path.sock for a socket "
     "(default https://127.0.0.1:8200)",
     "BAO_AGENT_ADDR, VAULT_AGENT_ADDR, BAO_ADDR, VAULT_ADDR"},
    {"namespace", OPT_NAMESPACE, K_VALUE, "NS", NULL, "namespace, sent as X-Vault-Namespace",
     "BAO_NAMESPACE, VAULT_NAMESPACE"},
    {"ca-cert", OPT_CA_CERT, K_VALUE, "FILE", NULL,
     "PEM bundle of trusted CAs; replaces the system roots", "BAO_CACERT, VAULT_CACERT"},
    {"ca-path", OPT_CA_PATH, K_VALUE, "DIR", NULL,
     "directory of PEM CA files (every file, recursively)", "BAO_CAPATH, VAULT_CAPATH"},
    {"client-cert", OPT_CLIENT_CERT, K_VALUE, "FILE", NULL, "PEM client certificate for TLS",
     "BAO_CLIENT_CERT, VAULT_CLIENT_CERT"},
    {"client-key", OPT_CLIENT_KEY, K_VALUE, "FILE", NULL, "PEM private key of --client-cert",
     "BAO_CLIENT_KEY, VAULT_CLIENT_KEY"},
    {"tls-server-name", OPT_TLS_SERVER_NAME, K_VALUE, "NAME", NULL,
     "server name for SNI and certificate checks", "BAO_TLS_SERVER_NAME, VAULT_TLS_SERVER_NAME"},
    {"tls-skip-verify", OPT_TLS_SKIP_VERIFY, K_BOOL, "[=BOOL]", NULL,
     "do not verify the server certificate (insecure; warned every time)",
     "BAO_SKIP_VERIFY, VAULT_SKIP_VERIFY"},
    {"wait", OPT_WAIT, K_VALUE, "DURATION", NULL,
     "deadline for Vault to be ready and for all reads (default 60s; 0 = one attempt)", NULL},
    {"request-timeout", OPT_REQUEST_TIMEOUT, K_VALUE, "DURATION", NULL,
     "timeout of each request (default 60s)", "BAO_CLIENT_TIMEOUT, VAULT_CLIENT_TIMEOUT"},
    {"auth", OPT_AUTH, K_VALUE, "METHOD", "Login",
     "login method: token (default), approle, kubernetes, jwt, cert", NULL},
    {"auth-mount", OPT_AUTH_MOUNT, K_VALUE, "PATH", NULL,
     "mount path of the login method (default: the method's name)", NULL},
    {"token-file", OPT_TOKEN_FILE, K_VALUE, "FILE", NULL,
     "read the token from FILE (else BAO_TOKEN or VAULT_TOKEN)", "VAULT_TOKEN_FILE"},
    {"role-id", OPT_ROLE_ID, K_VALUE, "ID", NULL, "approle: the role ID", NULL},
    {"role-id-file", OPT_ROLE_ID_FILE, K_VALUE, "FILE", NULL, "approle: read the role ID from FILE",
     NULL},
    {"secret-id-file", OPT_SECRET_ID_FILE, K_VALUE, "FILE", NULL,
     "approle: read the secret ID from FILE", "VAULT_SECRET_ID_FILE"},
    {"secret-id", OPT_SECRET_ID, K_VALUE, "SECRET", NULL,
     "approle: the secret ID; blanked from argv, but visible until then: use a file", NULL},
    {"secret-id-wrapped", OPT_SECRET_ID_WRAPPED, K_BOOL, "[=BOOL]", NULL,
     "approle: the secret ID is a response-wrapping token; its creation path is checked "
     "(auth/MOUNT/role/ROLE/secret-id, any ROLE without --role), then it is unwrapped",
     NULL},
    {"role", OPT_ROLE, K_VALUE, "NAME", NULL,
     "kubernetes (required), jwt (else the default role), approle (checks the wrapping "
     "token)",
     NULL},
    {"jwt-file", OPT_JWT_FILE, K_VALUE, "FILE", NULL,
     "kubernetes, jwt: the JWT, read at login (kubernetes default "
     "/var/run/secrets/kubernetes.io/serviceaccount/token)",
     NULL},
    {"cert-role", OPT_CERT_ROLE, K_VALUE, "NAME", NULL,
     "cert: the certificate role (else any that matches --client-cert)", NULL},
    {"revoke-token", OPT_REVOKE_TOKEN, K_BOOL, "[=BOOL]", NULL,
     "revoke the login token before exec; off by default because revoking also revokes "
     "every lease the token created (refused when the run took a lease)",
     NULL},
    {"token-sink", OPT_TOKEN_SINK, K_VALUE, "FILE", NULL,
     "write the token to FILE (0600, atomically) for the command; otherwise it never "
     "leaves vaultexec",
     NULL},
    {"service", OPT_SERVICE, K_VALUE, "NAME", "Secrets",
     "default secret is <kv-mount>/NAME (GET /v1/secret/data/NAME)", NULL},
    {"secret", OPT_SECRET, K_VALUE, "PATH", NULL,
     "default secret as a path: secret/app or secret/data/app", NULL},
    {"kv-mount", OPT_KV_MOUNT, K_VALUE, "MOUNT", NULL, "KV mount (default secret)", NULL},
    {"kv-version", OPT_KV_VERSION, K_VALUE, "1|2|auto", NULL,
     "KV engine version (default 2; auto asks sys/internal/ui/mounts)", NULL},
    {"map", OPT_MAP, K_REPEAT, "FIELD=ENV", NULL,
     "field into a variable; FIELD may be PATH#FIELD[#VERSION], or PATH?NAME=VALUE&...#FIELD "
     "for a write (POST, e.g. pki/issue/ROLE?common_name=x); a=A,b=B lists",
     NULL},
    {"map-all", OPT_MAP_ALL, K_OPTIONAL, "[=PREFIX]", NULL,
     "every field of the default secret, upper-cased, [^A-Z0-9_] as _", NULL},
    {"env", OPT_ENV, K_REPEAT, "NAME=TEMPLATE", NULL,
     "compose a variable: {{ field | urlencode }}, filters urlencode base64 json "
     "default \"x\" trim upper lower join \"SEP\" base64decode",
     NULL},
    {"file", OPT_FILE, K_REPEAT, "DEST=TEMPLATE", NULL,
     "render a file (DEST=@TEMPLATE_FILE reads the template), written atomically", NULL},
    {"file-mode", OPT_FILE_MODE, K_VALUE, "OCTAL", NULL, "mode of --file files (default 0600)",
     NULL},
    {"no-env-refs", OPT_NO_ENV_REFS, K_BOOL, "", NULL,
     "do not resolve inherited vault:PATH#FIELD and ${vault:PATH#FIELD} values", NULL},
    {"allow-missing", OPT_ALLOW_MISSING, K_BOOL, "", NULL,
     "a missing secret or field leaves its variable unset, with a warning", NULL},
    {"keep-env", OPT_KEEP_ENV, K_REPEAT, "NAME", NULL,
     "pass NAME to the child though it would be removed (e.g. VAULT_TOKEN)", NULL},
    {"check", OPT_CHECK, K_BOOL, "", "Control",
     "do everything but exec; print the names of variables and files; revoke the leases "
     "taken",
     NULL},
    {"log-level", OPT_LOG_LEVEL, K_VALUE, "LEVEL", NULL, "error, warn, info (default), debug",
     NULL},
    {"log-format", OPT_LOG_FORMAT, K_VALUE, "FORMAT", NULL, "text (default) or json", NULL},
    {"version", OPT_VERSION, K_ACTION, "", NULL, "print the version and exit", NULL},
    {"help", OPT_HELP, K_ACTION, "", NULL, "print this help and exit", NULL},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const char engines_help[] =
    "Secrets engines: a path outside --kv-mount has its mount's type looked up\n"
    "(sys/internal/ui/mounts); KV follows the KV rules, any other engine is read\n"
    "with GET /v1/PATH.  PATH?NAME=VALUE&...#FIELD is a write: POST with the\n"
    "parameters as a JSON body of strings.  Each distinct request is made once.\n"
    "Leases: every lease taken is on the success line with its expiry (nothing\n"
    "renews it after the exec); a failed run and --check revoke them\n"
    "(sys/leases/revoke).\n\n";

static const char exit_codes_help[] =
    "Exit codes:\n"
    "  64   usage or configuration syntax\n"
    "  65   secret or field missing, deleted, or not representable\n"
    "  69   Vault not ready or unreachable before the --wait deadline\n"
    "  70   internal error\n"
    "  74   a --file could not be written\n"
    "  77   permission denied or login refused\n"
    "  78   configuration that cannot be used (unreadable CA or token file, TLS "
    "verification failed)\n"
    "  126  command not executable\n"
    "  127  command not found\n"
    "  After exec the exit code is the command's own.\n";

static void env_name_of(const struct opt_def *o, char *buf, size_t n)
{
	size_t j = (size_t)snprintf(buf, n, "VAULTEXEC_");
	for (const char *p = o->name; *p && j + 1 < n; p++)
		buf[j++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	buf[j] = '\0';
}

/* One option per entry: the flag in a 28-column gutter, the text wrapped
 * at 79 columns so --help reads well in an 80-column terminal. */
static void print_wrapped(const char *left, const char *text)
{
	enum { GUTTER = 31, WIDTH = 79 };
	printf("  %-28s ", left);
	size_t col = GUTTER;
	if (strlen(left) > 28) {
		printf("\n%*s", GUTTER, "");
	}
	const char *p = text;
	while (*p) {
		const char *sp = strchr(p, ' ');
		size_t w = sp ? (size_t)(sp - p) : strlen(p);
		if (col > GUTTER && col + 1 + w > WIDTH) {
			printf("\n%*s", GUTTER, "");
			col = GUTTER;
		} else if (col > GUTTER) {
			putchar(' ');
			col++;
		}
		printf("%.*s", (int)w, p);
		col += w;
		p += w;
		while (*p == ' ')
			p++;
	}
	putchar('\n');
}

static void print_help(void)
{
	printf("Usage: vaultexec [OPTIONS] [--] COMMAND [ARG...]\n\n"
	       "Waits for Vault or OpenBao, reads secrets, puts fields into the environment\n"
	       "(and files), then execs COMMAND in its own place.  Options stop at COMMAND.\n");
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_def *o = &opts[i];
		if (o->section)
			printf("\n%s:\n", o->section);
		char left[64];
		const char *sep = o->kind == K_VALUE || o->kind == K_REPEAT ? " " : "";
		snprintf(left, sizeof(left), "--%s%s%s", o->name, sep, o->arg);
		if (o->id == OPT_HELP || o->id == OPT_VERSION)
			snprintf(left, sizeof(left), "-%c, --%s", (char)o->id, o->name);
		char text[400];
		snprintf(text, sizeof(text), "%s%s", o->help,
		         o->kind == K_REPEAT ? " (repeatable)" : "");
		print_wrapped(left, text);
	}
	printf("\nEnvironment (a flag wins over its variable; repeatable options take a\n"
	       "newline-separated list and add to the flags; booleans take Go's spellings):\n");
	for (size_t i = 0; i < NOPTS; i++) {
		if (opts[i].kind == K_ACTION)
			continue;
		char env[64];
		env_name_of(&opts[i], env, sizeof(env));
		printf("  %-28s --%s%s%s\n", env, opts[i].name, opts[i].also ? ", then " : "",
		       opts[i].also ? opts[i].also : "");
	}
	printf("  %-28s the token (BAO_TOKEN wins when set)\n", "BAO_TOKEN, VAULT_TOKEN");
	printf("\nThe child's environment is ours minus VAULT_TOKEN, BAO_TOKEN, VAULTEXEC_* and\n"
	       "login credentials, plus the mapped variables.\n\n%s%s",
	       engines_help, exit_codes_help);
}

static void strlist_add(struct strlist *l, const char *s)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrdup(s);
}

static void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void set_str(char **dst, const char *val)
{
	free(*dst);
	*dst = xstrdup(val);
}

/* A valid environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
static int valid_env_name(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return 0;
	}
	return 1;
}

static int bad(const char *origin, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(const char *origin, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s: %s", origin, msg);
	return EXIT_USAGE;
}

/* One FIELD=ENV item of --map (the list is split on commas first). */
static int add_map(struct config *cfg, const char *item, size_t n, const char *origin)
{
	const char *eq = NULL;
	for (size_t i = n; i > 0; i--)
		if (item[i - 1] == '=') {
			eq = item + i - 1;
			break;
		}
	_cleanup_free_ char *copy = xstrndup(item, n);
	if (!eq)
		return bad(origin, "'%s' is not FIELD=ENV", copy);
	const char *env = eq + 1;
	size_t envlen = n - (size_t)(env - item);
	if (!valid_env_name(env, envlen))
		return bad(origin, "'%s': ENV must be a variable name ([A-Za-z_][A-Za-z0-9_]*)",
		           copy);
	char err[128];
	struct secref ref;
	if (secref_parse(item, (size_t)(eq - item), &ref, err, sizeof(err)) < 0) {
		log_error("%s: '%s': %s", origin, copy, err);
		return EXIT_USAGE;
	}
	cfg->maps = xrealloc(cfg->maps, (cfg->nmaps + 1) * sizeof(*cfg->maps));
	cfg->maps[cfg->nmaps].ref = ref;
	cfg->maps[cfg->nmaps].env = xstrndup(env, envlen);
	cfg->nmaps++;
	return 0;
}

static int add_tmpl(struct tmpl_spec **arr, size_t *n, const char *val, const char *origin,
                    int is_file)
{
	const char *eq = strchr(val, '=');
	if (!eq || eq == val)
		return bad(origin, "'%s' is not NAME=TEMPLATE", is_file ? "DEST" : val);
	size_t nlen = (size_t)(eq - val);
	if (!is_file && !valid_env_name(val, nlen)) {
		_cleanup_free_ char *name = xstrndup(val, nlen);
		return bad(origin, "'%s' is not a variable name", name);
	}
	struct tmpl_spec sp = {xstrndup(val, nlen), NULL, NULL};
	const char *text = eq + 1;
	if (is_file && text[0] == '@') {
		size_t len;
		if (read_file_limited(text + 1, 1 << 20, &sp.text, &len) < 0) {
			log_error("%s %s: cannot read template file %s: %s", origin, sp.name,
			          text + 1, strerror(errno));
			free(sp.name);
			return EXIT_CONFIG;
		}
		if (strlen(sp.text) != len) {
			log_error("%s %s: template file %s holds a NUL byte", origin, sp.name,
			          text + 1);
			free(sp.name);
			free(sp.text);
			return EXIT_USAGE;
		}
	} else {
		sp.text = xstrdup(text);
	}
	sp.origin = xasprintf("%s %s", origin, sp.name);
	*arr = xrealloc(*arr, (*n + 1) * sizeof(**arr));
	(*arr)[(*n)++] = sp;
	return 0;
}

static int apply(struct config *cfg, enum opt_id id, const char *val, const char *origin)
{
	uint64_t v;
	switch (id) {
	case OPT_ADDR:
		set_str(&cfg->addr, val);
		break;
	case OPT_NAMESPACE:
		set_str(&cfg->namespace_, val);
		break;
	case OPT_CA_CERT:
		set_str(&cfg->ca_cert, val);
		break;
	case OPT_CA_PATH:
		set_str(&cfg->ca_path, val);
		break;
	case OPT_CLIENT_CERT:
		set_str(&cfg->client_cert, val);
		break;
	case OPT_CLIENT_KEY:
		set_str(&cfg->client_key, val);
		break;
	case OPT_TLS_SERVER_NAME:
		set_str(&cfg->tls_server_name, val);
		break;
	case OPT_WAIT:
		if (parse_duration_ms(val, &cfg->wait_ms) < 0)
			return bad(origin,
			           "'%s' is not a duration (500ms, 30s, 2m, 1h, or seconds)", val);
		break;
	case OPT_REQUEST_TIMEOUT:
		if (parse_duration_ms(val, &v) < 0 || v == 0)
			return bad(
			    origin,
			    "'%s' is not a positive duration (500ms, 30s, 2m, 1h, or seconds)",
			    val);
		cfg->request_timeout_ms = v;
		break;
	case OPT_AUTH:
		set_str(&cfg->auth_method, val);
		break;
	case OPT_AUTH_MOUNT:
		set_str(&cfg->auth_mount, val);
		break;
	case OPT_TOKEN_FILE:
		set_str(&cfg->token_file, val);
		break;
	case OPT_ROLE_ID:
		secure_free_str(cfg->role_id);
		cfg->role_id = xstrdup(val);
		break;
	case OPT_ROLE_ID_FILE:
		set_str(&cfg->role_id_file, val);
		break;
	case OPT_SECRET_ID:
		secure_free_str(cfg->secret_id);
		cfg->secret_id = xstrdup(val);
		break;
	case OPT_SECRET_ID_FILE:
		set_str(&cfg->secret_id_file, val);
		break;
	case OPT_ROLE:
		set_str(&cfg->role, val);
		break;
	case OPT_JWT_FILE:
		set_str(&cfg->jwt_file, val);
		break;
	case OPT_CERT_ROLE:
		set_str(&cfg->cert_role, val);
		break;
	case OPT_TOKEN_SINK:
		set_str(&cfg->token_sink, val);
		break;
	case OPT_SERVICE:
		if (!*val || strchr(val, '#') || !secpath_valid(val, strlen(val)))
			return bad(origin, "'%s' is not a service name", val);
		free(cfg->service);
		cfg->service = xstrdup(val);
		free(cfg->default_path);
		cfg->default_path = NULL;
		break;
	case OPT_SECRET: {
		size_t n = strlen(val);
		while (n && val[n - 1] == '/')
			n--;
		while (n && *val == '/')
			val++, n--;
		if (!n || memchr(val, '#', n) || !secpath_valid(val, n))
			return bad(origin,
			           "'%s' is not a secret path (no '#', '.' or '..' segments)", val);
		free(cfg->default_path);
		cfg->default_path = xstrndup(val, n);
		free(cfg->service);
		cfg->service = NULL;
		break;
	}
	case OPT_KV_MOUNT: {
		size_t n = strlen(val);
		while (n && val[n - 1] == '/')
			n--;
		while (n && *val == '/')
			val++, n--;
		if (!n || !secpath_valid(val, n))
			return bad(origin, "'%s' is not a mount path", val);
		free(cfg->kv_mount);
		cfg->kv_mount = xstrndup(val, n);
		break;
	}
	case OPT_KV_VERSION:
		if (strcmp(val, "1") == 0)
			cfg->kv_version = KV_V1;
		else if (strcmp(val, "2") == 0)
			cfg->kv_version = KV_V2;
		else if (strcmp(val, "auto") == 0)
			cfg->kv_version = KV_AUTO;
		else
			return bad(origin, "'%s' is not 1, 2 or auto", val);
		cfg->kv_version_given = true;
		break;
	case OPT_MAP: {
		const char *p = val;
		for (;;) {
			const char *c = strchr(p, ',');
			size_t n = c ? (size_t)(c - p) : strlen(p);
			int r = add_map(cfg, p, n, origin);
			if (r)
				return r;
			if (!c)
				break;
			p = c + 1;
		}
		break;
	}
	case OPT_MAP_ALL:
		cfg->map_all = true;
		if (val && *val && !valid_env_name(val, strlen(val)))
			return bad(origin, "prefix '%s' is not the start of a variable name", val);
		set_str(&cfg->map_all_prefix, val ? val : "");
		break;
	case OPT_ENV:
		return add_tmpl(&cfg->envs, &cfg->nenvs, val, origin, 0);
	case OPT_FILE:
		return add_tmpl(&cfg->files, &cfg->nfiles, val, origin, 1);
	case OPT_FILE_MODE: {
		unsigned m = 0;
		size_t n = strlen(val);
		if (n == 0 || n > 4)
			return bad(origin, "'%s' is not an octal mode like 0600", val);
		for (size_t i = 0; i < n; i++) {
			if (val[i] < '0' || val[i] > '7')
				return bad(origin, "'%s' is not an octal mode like 0600", val);
			m = m * 8 + (unsigned)(val[i] - '0');
		}
		if (m & 07000)
			return bad(origin, "'%s': setuid, setgid and sticky bits are refused", val);
		cfg->file_mode = (mode_t)m;
		break;
	}
	case OPT_KEEP_ENV:
		if (!valid_env_name(val, strlen(val)))
			return bad(origin, "'%s' is not a variable name", val);
		strlist_add(&cfg->keep_env, val);
		break;
	case OPT_LOG_LEVEL: {
		static const char *const names[] = {"error", "warn", "info", "debug"};
		for (int i = 0; i < 4; i++)
			if (strcmp(val, names[i]) == 0) {
				cfg->log_level = (enum log_level)i;
				log_setup(cfg->log_level, cfg->log_format);
				return 0;
			}
		return bad(origin, "'%s' is not error, warn, info or debug", val);
	}
	case OPT_LOG_FORMAT:
		if (strcmp(val, "text") == 0)
			cfg->log_format = LOG_TEXT;
		else if (strcmp(val, "json") == 0)
			cfg->log_format = LOG_JSON;
		else
			return bad(origin, "'%s' is not text or json", val);
		log_setup(cfg->log_level, cfg->log_format);
		break;
	default:
		return EXIT_SOFTWARE;
	}
	return 0;
}

static int apply_bool(struct config *cfg, enum opt_id id, bool on)
{
	switch (id) {
	case OPT_TLS_SKIP_VERIFY:
		cfg->tls_skip_verify = on;
		break;
	case OPT_NO_ENV_REFS:
		cfg->env_refs = !on;
		break;
	case OPT_ALLOW_MISSING:
		cfg->allow_missing = on;
		break;
	case OPT_CHECK:
		cfg->check = on;
		break;
	case OPT_SECRET_ID_WRAPPED:
		cfg->secret_id_wrapped = on;
		break;
	case OPT_REVOKE_TOKEN:
		cfg->revoke_token = on;
		break;
	default:
		return EXIT_SOFTWARE;
	}
	return 0;
}

static int apply_def(struct config *cfg, const struct opt_def *o, const char *val,
                     const char *origin)
{
	if (o->kind == K_BOOL) {
		bool on = true;
		if (val && parse_go_bool(val, &on) < 0)
			return bad(origin, "'%s' is not a boolean (true/false/1/0/t/f)", val);
		return apply_bool(cfg, o->id, on);
	}
	return apply(cfg, o->id, val, origin);
}

/* BAO_X wins over VAULT_X when present, even empty, as OpenBao's client. */
static const char *bao_or_vault(char **envp, const char *suffix)
{
	char name[64];
	snprintf(name, sizeof(name), "BAO_%s", suffix);
	const char *v = env_lookup(envp, name);
	if (v)
		return v;
	snprintf(name, sizeof(name), "VAULT_%s", suffix);
	return env_lookup(envp, name);
}

const char *env_lookup(char **envp, const char *name)
{
	size_t n = strlen(name);
	for (char **e = envp; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static int apply_env_vars(struct config *cfg, char **envp)
{
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_def *o = &opts[i];
		if (o->kind == K_ACTION)
			continue;
		char name[64];
		env_name_of(o, name, sizeof(name));
		const char *val = env_lookup(envp, name);
		if (!val)
			continue;
		int r = 0;
		if (o->kind == K_REPEAT) {
			/* One item per line; blank lines and CRs are ignored. */
			for (const char *p = val; *p && !r;) {
				const char *nl = strchr(p, '\n');
				size_t n = nl ? (size_t)(nl - p) : strlen(p);
				_cleanup_free_ char *line = xstrndup(p, n);
				if (n && line[n - 1] == '\r')
					line[n - 1] = '\0';
				if (*line)
					r = apply_def(cfg, o, line, name);
				p += n + (nl ? 1 : 0);
			}
		} else {
			r = apply_def(cfg, o, val, name);
		}
		if (r)
			return r;
	}
	return 0;
}

/* Fallbacks from the Vault/OpenBao client's own variables. */
static int apply_vault_vars(struct config *cfg, char **envp, const bool *seen)
{
	static const struct {
		enum opt_id id;
		const char *suffix;
	} map[] = {
	    {OPT_ADDR, "ADDR"},
	    {OPT_NAMESPACE, "NAMESPACE"},
	    {OPT_CA_CERT, "CACERT"},
	    {OPT_CA_PATH, "CAPATH"},
	    {OPT_CLIENT_CERT, "CLIENT_CERT"},
	    {OPT_CLIENT_KEY, "CLIENT_KEY"},
	    {OPT_TLS_SERVER_NAME, "TLS_SERVER_NAME"},
	    {OPT_REQUEST_TIMEOUT, "CLIENT_TIMEOUT"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (seen[map[i].id - OPT_ADDR])
			continue;
		const char *v = bao_or_vault(envp, map[i].suffix);
		/* As the Go client: an agent address replaces the server's. */
		if (map[i].id == OPT_ADDR) {
			const char *agent = bao_or_vault(envp, "AGENT_ADDR");
			if (agent && *agent)
				v = agent;
		}
		if (!v || !*v)
			continue;
		char origin[64];
		/* Name the variable the value came from (BAO_ wins when present). */
		snprintf(origin, sizeof(origin), "BAO_%s", map[i].suffix);
		if (!env_lookup(envp, origin))
			snprintf(origin, sizeof(origin), "VAULT_%s", map[i].suffix);
		/* VAULT_CLIENT_TIMEOUT=0 means "the default" in Vault's client. */
		if (map[i].id == OPT_REQUEST_TIMEOUT && strcmp(v, "0") == 0)
			continue;
		int r = apply(cfg, map[i].id, v, origin);
		if (r)
			return r;
	}
	if (!seen[OPT_TLS_SKIP_VERIFY - OPT_ADDR]) {
		const char *v = bao_or_vault(envp, "SKIP_VERIFY");
		if (v && *v && parse_go_bool(v, &cfg->tls_skip_verify) < 0)
			return bad(env_lookup(envp, "BAO_SKIP_VERIFY") ? "BAO_SKIP_VERIFY"
			                                               : "VAULT_SKIP_VERIFY",
			           "'%s' is not a boolean (true/false/1/0/t/f)", v);
	}
	if (!seen[OPT_TOKEN_FILE - OPT_ADDR] && !cfg->token_file) {
		const char *tok = bao_or_vault(envp, "TOKEN");
		if (tok && *tok)
			cfg->token = xstrdup(tok);
		else if ((tok = env_lookup(envp, "VAULT_TOKEN_FILE")) && *tok)
			cfg->token_file = xstrdup(tok);
	}
	if (!seen[OPT_SECRET_ID_FILE - OPT_ADDR] && !cfg->secret_id_file && !cfg->secret_id) {
		const char *f = env_lookup(envp, "VAULT_SECRET_ID_FILE");
		if (f && *f)
			cfg->secret_id_file = xstrdup(f);
	}
	return 0;
}

static void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->wait_ms = 60000;
	cfg->request_timeout_ms = 60000;
	cfg->kv_version = KV_V2;
	cfg->file_mode = 0600;
	cfg->env_refs = true;
	cfg->log_level = LOG_INFO;
	cfg->log_format = LOG_TEXT;
}

static int finish(struct config *cfg)
{
	if (!cfg->addr)
		cfg->addr = xstrdup("https://127.0.0.1:8200");
	if (!cfg->kv_mount)
		cfg->kv_mount = xstrdup("secret");
	if (!cfg->auth_method)
		cfg->auth_method = xstrdup("token");
	if (cfg->service) {
		cfg->default_path = xasprintf("%s/%s", cfg->kv_mount, cfg->service);
		free(cfg->service);
		cfg->service = NULL;
	}
	if ((cfg->client_cert == NULL) != (cfg->client_key == NULL)) {
		log_error("--client-cert and --client-key: both or neither must be given");
		return EXIT_USAGE;
	}
	if (cfg->map_all && !cfg->default_path) {
		log_error("--map-all needs a default secret (--service or --secret)");
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < cfg->nmaps; i++) {
		if (!cfg->maps[i].ref.path && !cfg->default_path) {
			log_error("--map %s=%s: field of the default secret, but neither --service "
			          "nor --secret is given",
			          cfg->maps[i].ref.field, cfg->maps[i].env);
			return EXIT_USAGE;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->maps[i].env, cfg->maps[j].env) == 0) {
				log_error("--map: variable %s is mapped twice", cfg->maps[i].env);
				return EXIT_USAGE;
			}
	}
	for (size_t i = 0; i < cfg->nenvs; i++) {
		for (size_t j = 0; j < cfg->nmaps; j++)
			if (strcmp(cfg->envs[i].name, cfg->maps[j].env) == 0) {
				log_error("--env %s: variable is also set by --map",
				          cfg->envs[i].name);
				return EXIT_USAGE;
			}
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->envs[i].name, cfg->envs[j].name) == 0) {
				log_error("--env %s: variable is set twice", cfg->envs[i].name);
				return EXIT_USAGE;
			}
	}
	for (size_t i = 0; i < cfg->nfiles; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->files[i].name, cfg->files[j].name) == 0) {
				log_error("--file %s: file is written twice", cfg->files[i].name);
				return EXIT_USAGE;
			}
	if (!cfg->child_argv || !cfg->child_argv[0]) {
		log_error(
		    "no command given (vaultexec [OPTIONS] [--] COMMAND [ARG...]; see --help)");
		return EXIT_USAGE;
	}
	return 0;
}

int config_parse(struct config *cfg, int argc, char **argv, char **envp)
{
	config_defaults(cfg);
	log_setup(cfg->log_level, cfg->log_format);

	struct option longopts[NOPTS + 1];
	for (size_t i = 0; i < NOPTS; i++) {
		int has = opts[i].kind == K_VALUE || opts[i].kind == K_REPEAT ? required_argument
		          : opts[i].kind == K_ACTION                          ? no_argument
		                                                              : optional_argument;
		if (opts[i].id == OPT_NO_ENV_REFS || opts[i].id == OPT_ALLOW_MISSING ||
		    opts[i].id == OPT_CHECK)
			has = no_argument;
		longopts[i] = (struct option){opts[i].name, has, NULL, (int)opts[i].id};
	}
	longopts[NOPTS] = (struct option){NULL, 0, NULL, 0};

	/* Log options first, so messages about everything else use them. */
	const char *lv = env_lookup(envp, "VAULTEXEC_LOG_FORMAT");
	if (lv && strcmp(lv, "json") == 0)
		log_setup(cfg->log_level, LOG_JSON);

	int r = apply_env_vars(cfg, envp);
	if (r)
		return r;

	bool seen[OPT_LOG_FORMAT - OPT_ADDR + 1] = {0};
	opterr = 0;
	/* 0, not 1: glibc and musl then also drop their position inside the
	 * previous call's argv (after "-hV" it still points at the "V"). */
	optind = 0;
	int c, idx;
	/* '+': stop at the first non-option, the child's own flags stay its own. */
	while ((c = getopt_long(argc, argv, "+:hV", longopts, &idx)) != -1) {
		if (c == 'h') {
			print_help();
			return CLI_EXIT_SUCCESS;
		}
		if (c == 'V') {
			printf("vaultexec %s (%s)\n", VAULTEXEC_VERSION, curl_version());
			return CLI_EXIT_SUCCESS;
		}
		if (c == '?' || c == ':') {
			const char *arg = argv[optind - 1];
			if (c == ':')
				log_error("%s: needs a value (see --help)", arg);
			else if (optopt >= OPT_ADDR || optopt == OPT_HELP || optopt == OPT_VERSION)
				/* a long option given =VALUE: -h and -V themselves are valid */
				log_error("%s: takes no value (see --help)", arg);
			else if (optopt)
				log_error("-%c: unknown option (see --help)", optopt);
			else
				log_error("%s: unknown option (see --help)", arg);
			return EXIT_USAGE;
		}
		const struct opt_def *o = NULL;
		for (size_t i = 0; i < NOPTS; i++)
			if ((int)opts[i].id == c)
				o = &opts[i];
		if (!o)
			return EXIT_SOFTWARE;
		char origin[64];
		snprintf(origin, sizeof(origin), "--%s", o->name);
		if (o->kind == K_BOOL && optarg == NULL)
			r = apply_bool(cfg, o->id, true);
		else
			r = apply_def(cfg, o, optarg, origin);
		if (c == OPT_SECRET_ID && optarg) {
			/* As curl's cleanarg(): other users can read our argv in
			 * /proc/PID/cmdline; blank the copy there at once. */
			memset(optarg, ' ', strlen(optarg));
			log_warn("--secret-id: a secret on the command line is visible to other "
			         "processes until blanked; use --secret-id-file");
		}
		if (r)
			return r;
		if (c >= OPT_ADDR)
			seen[c - OPT_ADDR] = true;
	}
	/* A VAULTEXEC_ variable counts as given, so VAULT_* do not override it. */
	for (size_t i = 0; i < NOPTS; i++) {
		char name[64];
		env_name_of(&opts[i], name, sizeof(name));
		if (opts[i].id >= OPT_ADDR && env_lookup(envp, name))
			seen[opts[i].id - OPT_ADDR] = true;
	}
	r = apply_vault_vars(cfg, envp, seen);
	if (r)
		return r;
	cfg->child_argv = argv + optind;
	return finish(cfg);
}

static void tmpl_specs_free(struct tmpl_spec *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].name);
		free(a[i].text);
		free(a[i].origin);
	}
	free(a);
}

void config_free(struct config *cfg)
{
	char **strs[] = {
	    &cfg->addr,         &cfg->namespace_, &cfg->ca_cert,         &cfg->ca_path,
	    &cfg->client_cert,  &cfg->client_key, &cfg->tls_server_name, &cfg->auth_method,
	    &cfg->auth_mount,   &cfg->token_file, &cfg->role_id_file,    &cfg->secret_id_file,
	    &cfg->role,         &cfg->jwt_file,   &cfg->cert_role,       &cfg->token_sink,
	    &cfg->default_path, &cfg->service,    &cfg->kv_mount,        &cfg->map_all_prefix};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	secure_free_str(cfg->token);
	secure_free_str(cfg->role_id);
	secure_free_str(cfg->secret_id);
	for (size_t i = 0; i < cfg->nmaps; i++) {
		secref_clear(&cfg->maps[i].ref);
		free(cfg->maps[i].env);
	}
	free(cfg->maps);
	tmpl_specs_free(cfg->envs, cfg->nenvs);
	tmpl_specs_free(cfg->files, cfg->nfiles);
	strlist_free(&cfg->keep_env);
	memset(cfg, 0, sizeof(*cfg));
}

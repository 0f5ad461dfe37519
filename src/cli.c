/* Option parsing: argv and VAULTEXEC_* variables into struct config.
 *
 * Every option is one row of opts[] below: its kind says how a value is
 * parsed, its offset where it goes in struct config, its default and its
 * BAO_/VAULT_ fallback variables.  The VAULTEXEC_<NAME> variable, the
 * --help lines, the fallbacks and config_free are all derived from the
 * rows, so they cannot drift apart.  Environment values are applied first
 * and flags second, so a flag wins over its variable; repeatable options
 * collect both.  Only options with real special cases have a function. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fileio.h"
#include "signame.h"
#include "util.h"

enum opt_kind {
	K_STR,      /* char *, replaced by a later value */
	K_SECRET,   /* char *, the old value wiped when replaced or freed */
	K_DURATION, /* uint64_t milliseconds */
	K_BOOL,     /* bool; --flag alone means true, --flag=BOOL takes Go's spellings */
	K_MODE,     /* mode_t, octal, no setuid/setgid/sticky */
	K_LIST,     /* struct strlist, one item per value */
	K_CUSTOM,   /* parsed by the row's own function */
	K_ACTION,   /* -h / -V: done in config_parse */
};

enum opt_flag {
	F_REPEAT = 1 << 0,     /* repeatable; the variable holds a newline-separated list */
	F_BLANK = 1 << 1,      /* the value is blanked in argv at once (a secret) */
	F_NO_VALUE = 1 << 2,   /* a bool that takes no =BOOL on the command line */
	F_OPTIONAL = 1 << 3,   /* a custom option whose value may be left out */
	F_NEGATE = 1 << 4,     /* a bool stored inverted (--no-X) */
	F_POSITIVE = 1 << 5,   /* a duration that must not be 0 */
	F_VAR_NAME = 1 << 6,   /* each list item must be a variable name */
	F_VAULT_ONLY = 1 << 7, /* only the VAULT_ form of the fallback exists */
	F_ZERO_UNSET = 1 << 8, /* a fallback of "0" means "the default" (VAULT_CLIENT_TIMEOUT) */
};

struct opt_def;
typedef int (*opt_fn)(struct config *cfg, const char *val, const char *origin);

struct opt_def {
	const char *name;
	char short_name; /* K_ACTION only: -h, -V */
	enum opt_kind kind;
	size_t off; /* destination in struct config (not for K_CUSTOM, K_ACTION) */
	unsigned flags;
	const char *def;     /* default, parsed as a value of the option; NULL: none */
	const char *fb[2];   /* fallbacks BAO_<x> then VAULT_<x>; the first non-empty wins */
	opt_fn fn;           /* K_CUSTOM only */
	const char *arg;     /* placeholder in --help */
	const char *section; /* --help heading, printed when it changes */
	const char *help;
};

#define OFF(field) offsetof(struct config, field)

/* The origin of a default value in messages; custom options compare the
 * pointer to tell a default from a value the user gave. */
static const char default_origin[] = "default";

static int set_service(struct config *cfg, const char *val, const char *origin);
static int set_secret(struct config *cfg, const char *val, const char *origin);
static int set_kv_mount(struct config *cfg, const char *val, const char *origin);
static int set_kv_version(struct config *cfg, const char *val, const char *origin);
static int add_maps(struct config *cfg, const char *val, const char *origin);
static int set_map_all(struct config *cfg, const char *val, const char *origin);
static int add_env(struct config *cfg, const char *val, const char *origin);
static int add_file(struct config *cfg, const char *val, const char *origin);
static int set_log_level(struct config *cfg, const char *val, const char *origin);
static int set_log_format(struct config *cfg, const char *val, const char *origin);
static int set_stop_signal(struct config *cfg, const char *val, const char *origin);
static int set_on_token_expiry(struct config *cfg, const char *val, const char *origin);
static int set_reload_signal(struct config *cfg, const char *val, const char *origin);
static int set_user(struct config *cfg, const char *val, const char *origin);
static int set_keep_fds(struct config *cfg, const char *val, const char *origin);

static const struct opt_def opts[] = {
    {.name = "addr",
     .kind = K_STR,
     .off = OFF(addr),
     .def = "https://127.0.0.1:8200",
     .fb = {"AGENT_ADDR", "ADDR"},
     .arg = "URL",
     .section = "Connection",
     .help = "Vault address; a path prefix is kept; unix:///path.sock for a socket "
             "(default https://127.0.0.1:8200)"},
    {.name = "namespace",
     .kind = K_STR,
     .off = OFF(namespace_),
     .fb = {"NAMESPACE"},
     .arg = "NS",
     .help = "namespace, sent as X-Vault-Namespace"},
    {.name = "ca-cert",
     .kind = K_STR,
     .off = OFF(ca_cert),
     .fb = {"CACERT"},
     .arg = "FILE",
     .help = "PEM bundle of trusted CAs; replaces the system roots"},
    {.name = "ca-path",
     .kind = K_STR,
     .off = OFF(ca_path),
     .fb = {"CAPATH"},
     .arg = "DIR",
     .help = "directory of PEM CA files (every file, recursively)"},
    {.name = "client-cert",
     .kind = K_STR,
     .off = OFF(client_cert),
     .fb = {"CLIENT_CERT"},
     .arg = "FILE",
     .help = "PEM client certificate for TLS"},
    {.name = "client-key",
     .kind = K_STR,
     .off = OFF(client_key),
     .fb = {"CLIENT_KEY"},
     .arg = "FILE",
     .help = "PEM private key of --client-cert"},
    {.name = "tls-server-name",
     .kind = K_STR,
     .off = OFF(tls_server_name),
     .fb = {"TLS_SERVER_NAME"},
     .arg = "NAME",
     .help = "server name for SNI and certificate checks"},
    {.name = "tls-skip-verify",
     .kind = K_BOOL,
     .off = OFF(tls_skip_verify),
     .fb = {"SKIP_VERIFY"},
     .arg = "[=BOOL]",
     .help = "do not verify the server certificate (insecure; warned every time)"},
    {.name = "wait",
     .kind = K_DURATION,
     .off = OFF(wait_ms),
     .def = "60s",
     .arg = "DURATION",
     .help = "deadline for Vault to be ready and for all reads (default 60s; 0 = one "
             "attempt)"},
    {.name = "request-timeout",
     .kind = K_DURATION,
     .off = OFF(request_timeout_ms),
     .flags = F_POSITIVE | F_ZERO_UNSET,
     .def = "60s",
     .fb = {"CLIENT_TIMEOUT"},
     .arg = "DURATION",
     .help = "timeout of each request (default 60s)"},

    {.name = "auth",
     .kind = K_STR,
     .off = OFF(auth_method),
     .def = "token",
     .arg = "METHOD",
     .section = "Login",
     .help = "login method: token (default), approle, kubernetes, jwt, cert"},
    {.name = "auth-mount",
     .kind = K_STR,
     .off = OFF(auth_mount),
     .arg = "PATH",
     .help = "mount path of the login method (default: the method's name)"},
    {.name = "token-file",
     .kind = K_STR,
     .off = OFF(token_file),
     .flags = F_VAULT_ONLY,
     .fb = {"TOKEN_FILE"},
     .arg = "FILE",
     .help = "read the token from FILE (else BAO_TOKEN or VAULT_TOKEN)"},
    {.name = "role-id",
     .kind = K_SECRET,
     .off = OFF(role_id),
     .flags = F_BLANK,
     .arg = "ID",
     .help = "approle: the role ID; blanked from argv, but visible until then: use a file"},
    {.name = "role-id-file",
     .kind = K_STR,
     .off = OFF(role_id_file),
     .arg = "FILE",
     .help = "approle: read the role ID from FILE"},
    {.name = "secret-id-file",
     .kind = K_STR,
     .off = OFF(secret_id_file),
     .flags = F_VAULT_ONLY,
     .fb = {"SECRET_ID_FILE"},
     .arg = "FILE",
     .help = "approle: read the secret ID from FILE"},
    {.name = "secret-id",
     .kind = K_SECRET,
     .off = OFF(secret_id),
     .flags = F_BLANK,
     .arg = "SECRET",
     .help = "approle: the secret ID; blanked from argv, but visible until then: use a file"},
    {.name = "secret-id-wrapped",
     .kind = K_BOOL,
     .off = OFF(secret_id_wrapped),
     .arg = "[=BOOL]",
     .help = "approle: the secret ID is a response-wrapping token; its creation path is "
             "checked (auth/MOUNT/role/ROLE/secret-id, any ROLE without --role), then it is "
             "unwrapped"},
    {.name = "role",
     .kind = K_STR,
     .off = OFF(role),
     .arg = "NAME",
     .help = "kubernetes (required), jwt (else the default role), approle (checks the "
             "wrapping token)"},
    {.name = "jwt-file",
     .kind = K_STR,
     .off = OFF(jwt_file),
     .arg = "FILE",
     .help = "kubernetes, jwt: the JWT, read at login (kubernetes default "
             "/var/run/secrets/kubernetes.io/serviceaccount/token)"},
    {.name = "cert-role",
     .kind = K_STR,
     .off = OFF(cert_role),
     .arg = "NAME",
     .help = "cert: the certificate role (else any that matches --client-cert)"},
    {.name = "revoke-token",
     .kind = K_BOOL,
     .off = OFF(revoke_token),
     .arg = "[=BOOL]",
     .help = "revoke the login token before exec; off by default because revoking also "
             "revokes every lease the token created (refused when the run took a lease)"},
    {.name = "token-sink",
     .kind = K_STR,
     .off = OFF(token_sink),
     .arg = "FILE",
     .help = "write the token to FILE (0600, atomically) for the command; otherwise it "
             "never leaves vaultexec"},

    {.name = "service",
     .kind = K_CUSTOM,
     .fn = set_service,
     .arg = "NAME",
     .section = "Secrets",
     .help = "default secret is <kv-mount>/NAME (GET /v1/secret/data/NAME)"},
    {.name = "secret",
     .kind = K_CUSTOM,
     .fn = set_secret,
     .arg = "PATH",
     .help = "default secret as a path: secret/app or secret/data/app"},
    {.name = "kv-mount",
     .kind = K_CUSTOM,
     .fn = set_kv_mount,
     .def = "secret",
     .arg = "MOUNT",
     .help = "KV mount (default secret)"},
    {.name = "kv-version",
     .kind = K_CUSTOM,
     .fn = set_kv_version,
     .def = "2",
     .arg = "1|2|auto",
     .help = "KV engine version (default 2; auto asks sys/internal/ui/mounts)"},
    {.name = "map",
     .kind = K_CUSTOM,
     .fn = add_maps,
     .flags = F_REPEAT,
     .arg = "FIELD=ENV",
     .help = "field into a variable; FIELD may be PATH#FIELD[#VERSION], or "
             "PATH?NAME=VALUE&...#FIELD for a write (POST, e.g. "
             "pki/issue/ROLE?common_name=x); a=A,b=B lists"},
    {.name = "map-all",
     .kind = K_CUSTOM,
     .fn = set_map_all,
     .flags = F_OPTIONAL,
     .arg = "[=PREFIX]",
     .help = "every field of the default secret, upper-cased, [^A-Z0-9_] as _"},
    {.name = "env",
     .kind = K_CUSTOM,
     .fn = add_env,
     .flags = F_REPEAT,
     .arg = "NAME=TEMPLATE",
     .help = "compose a variable: {{ field | urlencode }}, filters urlencode base64 json "
             "default \"x\" trim upper lower join \"SEP\" base64decode"},
    {.name = "file",
     .kind = K_CUSTOM,
     .fn = add_file,
     .flags = F_REPEAT,
     .arg = "DEST=TEMPLATE",
     .help = "render a file (DEST=@TEMPLATE_FILE reads the template), written atomically"},
    {.name = "file-mode",
     .kind = K_MODE,
     .off = OFF(file_mode),
     .def = "0600",
     .arg = "OCTAL",
     .help = "mode of --file files (default 0600)"},
    {.name = "no-env-refs",
     .kind = K_BOOL,
     .off = OFF(env_refs),
     .flags = F_NO_VALUE | F_NEGATE,
     .def = "false",
     .arg = "",
     .help = "do not resolve inherited vault:PATH#FIELD and ${vault:PATH#FIELD} values"},
    {.name = "allow-missing",
     .kind = K_BOOL,
     .off = OFF(allow_missing),
     .flags = F_NO_VALUE,
     .arg = "",
     .help = "a missing secret or field leaves its variable unset, with a warning"},
    {.name = "keep-env",
     .kind = K_LIST,
     .off = OFF(keep_env),
     .flags = F_REPEAT | F_VAR_NAME,
     .arg = "NAME",
     .help = "pass NAME to the child though it would be removed (e.g. VAULT_TOKEN)"},

    {.name = "supervise",
     .kind = K_BOOL,
     .off = OFF(supervise),
     .arg = "[=BOOL]",
     .section = "Supervise",
     .help = "stay the command's parent (an init: forwards signals, reaps zombies); renew "
             "the token and leases, read secrets again, restart or reload the command when "
             "values change"},
    {.name = "poll",
     .kind = K_DURATION,
     .off = OFF(poll_ms),
     .flags = F_POSITIVE,
     .def = "1m",
     .arg = "DURATION",
     .help = "how often KV secrets are checked: KV v2 by its metadata version, KV v1 by "
             "reading it again; writes follow their expiry (default 1m)"},
    {.name = "stop-signal",
     .kind = K_CUSTOM,
     .fn = set_stop_signal,
     .def = "TERM",
     .arg = "SIG",
     .help = "signal that stops the command's process group for a restart (default TERM)"},
    {.name = "stop-timeout",
     .kind = K_DURATION,
     .off = OFF(stop_timeout_ms),
     .def = "10s",
     .arg = "DURATION",
     .help = "SIGKILL to the group after this long when it has not stopped (default 10s)"},
    {.name = "reload-signal",
     .kind = K_CUSTOM,
     .fn = set_reload_signal,
     .arg = "SIG",
     .help = "when only files changed, send SIG instead of restarting (e.g. HUP)"},
    {.name = "reload-url",
     .kind = K_STR,
     .off = OFF(reload_url),
     .arg = "URL",
     .help = "when only files changed, POST to URL instead of restarting (e.g. "
             "http://127.0.0.1:9104/-/reload)"},
    {.name = "debounce",
     .kind = K_DURATION,
     .off = OFF(debounce_ms),
     .def = "2s",
     .arg = "DURATION",
     .help = "changes within this time make one restart (default 2s)"},
    {.name = "revoke-delay",
     .kind = K_DURATION,
     .off = OFF(revoke_delay_ms),
     .arg = "DURATION",
     .help = "after a reload, revoke the replaced lease this much later, once the command "
             "has finished with it (default: --stop-timeout)"},
    {.name = "on-token-expiry",
     .kind = K_CUSTOM,
     .fn = set_on_token_expiry,
     .def = "exit",
     .arg = "exit|keep",
     .help = "when the token has ended and nothing can replace it (no login, --token-file "
             "unchanged): exit: stop the command and exit with 77 (default); keep: the "
             "command runs on with the values it has"},
    {.name = "revoke-on-exit",
     .kind = K_BOOL,
     .off = OFF(revoke_on_exit),
     .arg = "[=BOOL]",
     .help = "when the command has ended, revoke its leases and the login token"},

    {.name = "user",
     .kind = K_CUSTOM,
     .fn = set_user,
     .arg = "USER[:GROUP]",
     .section = "Command",
     .help = "run the command (only) as USER, numeric or from /etc/passwd, and GROUP (else "
             "the user's); supplementary groups are dropped, HOME is the user's; needs root"},
    {.name = "keep-fds",
     .kind = K_CUSTOM,
     .fn = set_keep_fds,
     .arg = "N",
     .help = "pass inherited fds 3..3+N-1 to the command (socket activation) and set "
             "LISTEN_FDS=N and LISTEN_PID to its pid; other inherited fds are closed with "
             "--supervise"},

    {.name = "check",
     .kind = K_BOOL,
     .off = OFF(check),
     .flags = F_NO_VALUE,
     .arg = "",
     .section = "Control",
     .help = "do everything but exec; print the names of variables and files; revoke the "
             "leases taken"},
    {.name = "install",
     .kind = K_STR,
     .off = OFF(install_dir),
     .arg = "DIR",
     .help = "copy this binary to DIR/vaultexec (mode 0555, atomically) and exit: a scratch "
             "image as its own init container"},
    {.name = "log-level",
     .kind = K_CUSTOM,
     .fn = set_log_level,
     .def = "info",
     .arg = "LEVEL",
     .help = "error, warn, info (default), debug"},
    {.name = "log-format",
     .kind = K_CUSTOM,
     .fn = set_log_format,
     .def = "text",
     .arg = "FORMAT",
     .help = "text (default) or json"},
    {.name = "version",
     .short_name = 'V',
     .kind = K_ACTION,
     .arg = "",
     .help = "print the version and exit"},
    {.name = "help",
     .short_name = 'h',
     .kind = K_ACTION,
     .arg = "",
     .help = "print this help and exit"},
};
#define NOPTS (ARRAY_SIZE(opts))
/* getopt_long's value for row i; below it are the short options. */
#define OPT_VAL_BASE 256

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
    "  74   a --file or the --install copy could not be written\n"
    "  77   permission denied, login refused, or --user not possible\n"
    "  78   configuration that cannot be used (unreadable CA or token file, TLS "
    "verification failed, unknown --user)\n"
    "  126  command not executable\n"
    "  127  command not found\n"
    "  After exec the exit code is the command's own.\n";

/* No snprintf: this runs for every row on every start (see config_parse). */
static void env_name_of(const struct opt_def *o, char *buf, size_t n)
{
	static const char prefix[] = "VAULTEXEC_";
	size_t j = sizeof(prefix) - 1 < n ? sizeof(prefix) - 1 : n - 1;
	memcpy(buf, prefix, j);
	for (const char *p = o->name; *p && j + 1 < n; p++)
		buf[j++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	buf[j] = '\0';
}

bool config_option_var(const char *name, size_t n, char *out, size_t outn)
{
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_def *o = &opts[i];
		if (o->kind == K_ACTION || strlen(o->name) != n || strncmp(o->name, name, n) != 0)
			continue;
		/* The client's own variable when it has one (VAULT_ADDR rather
		 * than VAULT_AGENT_ADDR), else ours. */
		const char *fb = o->fb[1] ? o->fb[1] : o->fb[0];
		if (fb)
			snprintf(out, outn, "VAULT_%s", fb);
		else
			env_name_of(o, out, outn);
		return true;
	}
	return false;
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

/* "BAO_X, VAULT_X" for each fallback of o, or "" */
static void fallback_names(const struct opt_def *o, char *buf, size_t n)
{
	size_t j = 0;
	buf[0] = '\0';
	for (size_t k = 0; k < 2 && o->fb[k] && j < n; k++) {
		const char *sep = k ? ", " : "";
		if (o->flags & F_VAULT_ONLY)
			j += (size_t)snprintf(buf + j, n - j, "%sVAULT_%s", sep, o->fb[k]);
		else
			j += (size_t)snprintf(buf + j, n - j, "%sBAO_%s, VAULT_%s", sep, o->fb[k],
			                      o->fb[k]);
	}
}

static bool takes_value(const struct opt_def *o)
{
	switch (o->kind) {
	case K_BOOL:
	case K_ACTION:
		return false;
	case K_CUSTOM:
		return !(o->flags & F_OPTIONAL);
	default:
		return true;
	}
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
		snprintf(left, sizeof(left), "--%s%s%s", o->name, takes_value(o) ? " " : "",
		         o->arg);
		if (o->short_name)
			snprintf(left, sizeof(left), "-%c, --%s", o->short_name, o->name);
		char text[400];
		snprintf(text, sizeof(text), "%s%s", o->help,
		         o->flags & F_REPEAT ? " (repeatable)" : "");
		print_wrapped(left, text);
	}
	printf("\nEnvironment (a flag wins over its variable; repeatable options take a\n"
	       "newline-separated list and add to the flags; booleans take Go's spellings):\n");
	for (size_t i = 0; i < NOPTS; i++) {
		if (opts[i].kind == K_ACTION)
			continue;
		char env[64], also[128];
		env_name_of(&opts[i], env, sizeof(env));
		fallback_names(&opts[i], also, sizeof(also));
		printf("  %-28s --%s%s%s\n", env, opts[i].name, *also ? ", then " : "", also);
	}
	printf("  %-28s the token (BAO_TOKEN wins when set)\n", "BAO_TOKEN, VAULT_TOKEN");
	printf("\nThe child's environment is ours minus VAULT_TOKEN, BAO_TOKEN, VAULTEXEC_* and\n"
	       "login credentials, plus the mapped variables.\n\n%s%s",
	       engines_help, exit_codes_help);
}

static void strlist_add(struct strlist *l, const char *s)
{
	ARRAY_GROW(l->v, l->n);
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
	ARRAY_GROW(cfg->maps, cfg->nmaps);
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
	ARRAY_GROW(*arr, *n);
	(*arr)[(*n)++] = sp;
	return 0;
}

static int set_service(struct config *cfg, const char *val, const char *origin)
{
	if (!*val || strchr(val, '#') || !secpath_valid(val, strlen(val)))
		return bad(origin, "'%s' is not a service name", val);
	set_str(&cfg->service, val);
	free(cfg->default_path);
	cfg->default_path = NULL;
	return 0;
}

/* *val without surrounding slashes (allocated), or NULL when it is empty,
 * holds a byte of refused, or is no valid path; *val moves past leading
 * slashes either way, for the message. */
static char *clean_path(const char **val, const char *refused)
{
	size_t n = strlen(*val);
	trim_slashes(val, &n);
	if (!n || strcspn(*val, refused) < n || !secpath_valid(*val, n))
		return NULL;
	return xstrndup(*val, n);
}

static int set_secret(struct config *cfg, const char *val, const char *origin)
{
	char *path = clean_path(&val, "#?");
	if (!path)
		return bad(origin,
		           "'%s' is not a secret path (no '#', '?', '.' or '..' segments; a write "
		           "PATH?NAME=VALUE goes in --map or a template)",
		           val);
	free(cfg->default_path);
	cfg->default_path = path;
	free(cfg->service);
	cfg->service = NULL;
	return 0;
}

static int set_kv_mount(struct config *cfg, const char *val, const char *origin)
{
	char *mount = clean_path(&val, "");
	if (!mount)
		return bad(origin, "'%s' is not a mount path", val);
	free(cfg->kv_mount);
	cfg->kv_mount = mount;
	return 0;
}

static int set_kv_version(struct config *cfg, const char *val, const char *origin)
{
	if (strcmp(val, "1") == 0)
		cfg->kv_version = KV_V1;
	else if (strcmp(val, "2") == 0)
		cfg->kv_version = KV_V2;
	else if (strcmp(val, "auto") == 0)
		cfg->kv_version = KV_AUTO;
	else
		return bad(origin, "'%s' is not 1, 2 or auto", val);
	/* Only a value the user gave forces the version of other KV mounts. */
	cfg->kv_version_given = origin != default_origin;
	return 0;
}

/* --map a=A,b=B: a comma-separated list of FIELD=ENV items. */
static int add_maps(struct config *cfg, const char *val, const char *origin)
{
	for (const char *p = val;;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		int r = add_map(cfg, p, n, origin);
		if (r || !c)
			return r;
		p = c + 1;
	}
}

static int set_map_all(struct config *cfg, const char *val, const char *origin)
{
	cfg->map_all = true;
	if (val && *val && !valid_env_name(val, strlen(val)))
		return bad(origin, "prefix '%s' is not the start of a variable name", val);
	set_str(&cfg->map_all_prefix, val ? val : "");
	return 0;
}

static int add_env(struct config *cfg, const char *val, const char *origin)
{
	return add_tmpl(&cfg->envs, &cfg->nenvs, val, origin, 0);
}

static int add_file(struct config *cfg, const char *val, const char *origin)
{
	return add_tmpl(&cfg->files, &cfg->nfiles, val, origin, 1);
}

static int set_log_level(struct config *cfg, const char *val, const char *origin)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	for (int i = 0; i < 4; i++)
		if (strcmp(val, names[i]) == 0) {
			cfg->log_level = (enum log_level)i;
			log_setup(cfg->log_level, cfg->log_format);
			return 0;
		}
	return bad(origin, "'%s' is not error, warn, info or debug", val);
}

static int set_log_format(struct config *cfg, const char *val, const char *origin)
{
	if (strcmp(val, "text") == 0)
		cfg->log_format = LOG_TEXT;
	else if (strcmp(val, "json") == 0)
		cfg->log_format = LOG_JSON;
	else
		return bad(origin, "'%s' is not text or json", val);
	log_setup(cfg->log_level, cfg->log_format);
	return 0;
}

static int set_on_token_expiry(struct config *cfg, const char *val, const char *origin)
{
	if (strcmp(val, "exit") == 0)
		cfg->token_expiry_keep = false;
	else if (strcmp(val, "keep") == 0)
		cfg->token_expiry_keep = true;
	else
		return bad(origin, "'%s' is not exit or keep", val);
	return 0;
}

static int set_signal(int *dst, const char *val, const char *origin)
{
	int sig = signal_parse(val);
	if (sig <= 0)
		return bad(origin, "'%s' is not a signal that can be sent (TERM, SIGHUP, 10, ...)",
		           val);
	*dst = sig;
	return 0;
}

static int set_stop_signal(struct config *cfg, const char *val, const char *origin)
{
	return set_signal(&cfg->stop_signal, val, origin);
}

static int set_reload_signal(struct config *cfg, const char *val, const char *origin)
{
	return set_signal(&cfg->reload_signal, val, origin);
}

static int set_user(struct config *cfg, const char *val, const char *origin)
{
	char err[300];
	if (privs_parse_user(val, "/etc/passwd", "/etc/group", &cfg->run_as, err, sizeof(err)) <
	    0) {
		log_error("%s %s: %s", origin, val, err);
		return EXIT_CONFIG;
	}
	return 0;
}

static int set_keep_fds(struct config *cfg, const char *val, const char *origin)
{
	uint64_t n;
	if (parse_u64(val, 0, 65536, &n) < 0)
		return bad(origin, "'%s' is not a number of descriptors (0 to 65536)", val);
	/* Checked now, before we open anything that could take a free slot. */
	for (int fd = 3; fd < 3 + (int)n; fd++)
		if (fcntl(fd, F_GETFD) < 0) {
			log_error("%s %s: descriptor %d is not open (socket activation passes "
			          "fds 3 to 3+LISTEN_FDS-1; give the number passed)",
			          origin, val, fd);
			return EXIT_USAGE;
		}
	cfg->keep_fds = (unsigned)n;
	return 0;
}

static int set_duration(uint64_t *dst, const struct opt_def *o, const char *val, const char *origin)
{
	bool positive = o->flags & F_POSITIVE;
	uint64_t v;
	int k = parse_duration_ms(val, &v);
	if (k == -2)
		return bad(origin, "'%s' is over the limit of %s; give at most %s", val,
		           DURATION_MAX_TEXT, DURATION_MAX_TEXT);
	if (k < 0 || (positive && v == 0))
		return bad(origin, "'%s' is not a %sduration (500ms, 30s, 2m, 1h, or seconds)", val,
		           positive ? "positive " : "");
	*dst = v;
	return 0;
}

static int set_mode(mode_t *dst, const char *val, const char *origin)
{
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
	*dst = (mode_t)m;
	return 0;
}

/* One value of option o (NULL for a bool or optional value left out). */
static int apply(struct config *cfg, const struct opt_def *o, const char *val, const char *origin)
{
	void *dst = (char *)cfg + o->off;
	bool on = true;
	switch (o->kind) {
	case K_STR:
		set_str(dst, val);
		if (o->off == OFF(token_file))
			snprintf(cfg->token_origin, sizeof(cfg->token_origin), "%s", origin);
		return 0;
	case K_SECRET:
		secure_free_str(*(char **)dst);
		*(char **)dst = xstrdup(val);
		return 0;
	case K_DURATION:
		return set_duration(dst, o, val, origin);
	case K_BOOL:
		if (val && parse_go_bool(val, &on) < 0)
			return bad(origin, "'%s' is not a boolean (true/false/1/0/t/f)", val);
		*(bool *)dst = (o->flags & F_NEGATE) ? !on : on;
		return 0;
	case K_MODE:
		return set_mode(dst, val, origin);
	case K_LIST:
		if ((o->flags & F_VAR_NAME) && !valid_env_name(val, strlen(val)))
			return bad(origin, "'%s' is not a variable name", val);
		strlist_add(dst, val);
		return 0;
	case K_CUSTOM:
		return o->fn(cfg, val, origin);
	case K_ACTION:
		break;
	}
	return EXIT_SOFTWARE;
}

/* The value of the variable named a followed by b, without building the
 * name. */
static const char *env_find(char **envp, const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	for (char **e = envp; e && *e; e++)
		if (strncmp(*e, a, na) == 0 && strncmp(*e + na, b, nb) == 0 && (*e)[na + nb] == '=')
			return *e + na + nb + 1;
	return NULL;
}

const char *env_lookup(char **envp, const char *name)
{
	return env_find(envp, name, "");
}

/* The entries of envp that can configure vaultexec (VAULTEXEC_, VAULT_,
 * BAO_), NULL-terminated, pointing into envp: every row of the table
 * looks its variables up, and a container's environment holds many that
 * are not ours. */
static char **client_vars(char **envp)
{
	static const char *const prefixes[] = {"VAULTEXEC_", "VAULT_", "BAO_"};
	size_t n = 0;
	for (char **e = envp; e && *e; e++)
		n++;
	char **out = xcalloc(n + 1, sizeof(*out));
	n = 0;
	for (char **e = envp; e && *e; e++)
		for (size_t k = 0; k < ARRAY_SIZE(prefixes); k++)
			if (strncmp(*e, prefixes[k], strlen(prefixes[k])) == 0) {
				out[n++] = *e;
				break;
			}
	return out;
}

bool config_credential_var(const char *name, size_t n)
{
	char buf[64];
	if ((n == 11 && memcmp(name, "VAULT_TOKEN", 11) == 0) ||
	    (n == 9 && memcmp(name, "BAO_TOKEN", 9) == 0))
		return true;
	for (size_t i = 0; i < NOPTS; i++) {
		if (opts[i].kind != K_SECRET)
			continue;
		env_name_of(&opts[i], buf, sizeof(buf));
		if (strlen(buf) == n && memcmp(buf, name, n) == 0)
			return true;
	}
	return false;
}

/* VAULTEXEC_* variables; a variable that is present marks its option as
 * given, so the BAO_/VAULT_ fallbacks do not override it. */
static int apply_env_vars(struct config *cfg, char **envp, bool *given)
{
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_def *o = &opts[i];
		if (o->kind == K_ACTION)
			continue;
		char name[64];
		env_name_of(o, name, sizeof(name));
		/* Empty counts as unset, as for VAULT_ variables: Compose's
		 * `VAULTEXEC_TOKEN_FILE: ${TOKEN_FILE:-}` gives no file.  Not
		 * for an optional value, where empty means "given, no value"
		 * (VAULTEXEC_MAP_ALL= maps every field without a prefix). */
		const char *val = env_lookup(envp, name);
		if (!val || (!*val && !(o->flags & F_OPTIONAL)))
			continue;
		given[i] = true;
		int r = 0;
		if (o->flags & F_REPEAT) {
			/* One item per line; blank lines and CRs are ignored. */
			for (const char *p = val; *p && !r;) {
				const char *nl = strchr(p, '\n');
				size_t n = nl ? (size_t)(nl - p) : strlen(p);
				_cleanup_free_ char *line = xstrndup(p, n);
				if (n && line[n - 1] == '\r')
					line[n - 1] = '\0';
				if (*line)
					r = apply(cfg, o, line, name);
				p += n + (nl ? 1 : 0);
			}
		} else {
			r = apply(cfg, o, val, name);
		}
		if (r)
			return r;
	}
	return 0;
}

/* BAO_X wins over VAULT_X when present, even empty, as OpenBao's client;
 * name receives the variable's name. */
static const char *bao_or_vault(char **envp, const char *suffix, bool vault_only, char *name,
                                size_t n)
{
	const char *prefix = "BAO_", *v = vault_only ? NULL : env_find(envp, prefix, suffix);
	if (!v) {
		prefix = "VAULT_";
		v = env_find(envp, prefix, suffix);
	}
	/* Named only when found: this runs for every row on every start. */
	if (v)
		snprintf(name, n, "%s%s", prefix, suffix);
	return v;
}

static size_t opt_index(const char *name)
{
	size_t i = 0;
	while (i < NOPTS - 1 && strcmp(opts[i].name, name) != 0)
		i++;
	return i;
}

/* Fallbacks from the Vault/OpenBao client's own variables, for options
 * given neither as a flag nor as a VAULTEXEC_ variable.  The first
 * non-empty fallback of a row wins (as the Go client, an agent address
 * replaces the server's). */
static int apply_fallbacks(struct config *cfg, char **envp, bool *given)
{
	char name[64];
	/* The token is no option: BAO_TOKEN or VAULT_TOKEN, unless a token
	 * file is given; it then also wins over VAULT_TOKEN_FILE. */
	if (!given[opt_index("token-file")]) {
		const char *tok = bao_or_vault(envp, "TOKEN", false, name, sizeof(name));
		if (tok && *tok) {
			cfg->token = xstrdup(tok);
			snprintf(cfg->token_origin, sizeof(cfg->token_origin), "%s", name);
		}
	}
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_def *o = &opts[i];
		if (given[i] || (o->off == OFF(token_file) && cfg->token) ||
		    (o->off == OFF(secret_id_file) && cfg->secret_id))
			continue;
		for (size_t k = 0; k < 2 && o->fb[k]; k++) {
			const char *v = bao_or_vault(envp, o->fb[k], o->flags & F_VAULT_ONLY, name,
			                             sizeof(name));
			if (!v || !*v)
				continue;
			/* VAULT_CLIENT_TIMEOUT=0 means "the default" in Vault's client. */
			if ((o->flags & F_ZERO_UNSET) && strcmp(v, "0") == 0)
				break;
			int r = apply(cfg, o, v, name);
			if (r)
				return r;
			given[i] = true;
			break;
		}
	}
	return 0;
}

/* Every default comes from the table, parsed as a value would be. */
static int config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].def && apply(cfg, &opts[i], opts[i].def, default_origin))
			return EXIT_SOFTWARE;
	return 0;
}

static size_t opt_index(const char *name);

/* Options that only mean something to the supervisor, and the ones that
 * contradict it. */
static int finish_supervise(struct config *cfg, const bool *given)
{
	static const char *const only[] = {"poll",          "stop-signal",    "stop-timeout",
	                                   "reload-signal", "reload-url",     "debounce",
	                                   "revoke-delay",  "revoke-on-exit", "on-token-expiry"};
	if (!cfg->supervise) {
		for (size_t i = 0; i < ARRAY_SIZE(only); i++)
			if (given[opt_index(only[i])]) {
				log_error("--%s needs --supervise", only[i]);
				return EXIT_USAGE;
			}
		return 0;
	}
	if (!given[opt_index("revoke-delay")])
		cfg->revoke_delay_ms = cfg->stop_timeout_ms;
	if (cfg->poll_ms < 100)
		return bad("--poll", "%llums is too short (at least 100ms)",
		           (unsigned long long)cfg->poll_ms);
	if (cfg->reload_url && strncmp(cfg->reload_url, "http://", 7) != 0 &&
	    strncmp(cfg->reload_url, "https://", 8) != 0)
		return bad("--reload-url", "'%s' is not an http:// or https:// URL",
		           cfg->reload_url);
	if (cfg->reload_signal && cfg->reload_url) {
		log_error("--reload-signal and --reload-url: give one way to reload, not both");
		return EXIT_USAGE;
	}
	if (cfg->revoke_token) {
		log_error("--revoke-token with --supervise: the supervisor keeps using its token; "
		          "use --revoke-on-exit");
		return EXIT_USAGE;
	}
	return 0;
}

static int finish(struct config *cfg, const bool *given)
{
	/* --install runs nothing: the other options do not matter. */
	if (cfg->install_dir) {
		if (!*cfg->install_dir) {
			log_error("--install: give the directory to copy vaultexec into");
			return EXIT_USAGE;
		}
		if (cfg->child_argv && cfg->child_argv[0]) {
			log_error(
			    "--install %s copies vaultexec and exits; it runs no command (drop "
			    "%s...)",
			    cfg->install_dir, cfg->child_argv[0]);
			return EXIT_USAGE;
		}
		return 0;
	}
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
	int r = finish_supervise(cfg, given);
	if (r)
		return r;
	if (!cfg->child_argv || !cfg->child_argv[0]) {
		log_error(
		    "no command given (vaultexec [OPTIONS] [--] COMMAND [ARG...]; see --help)");
		return EXIT_USAGE;
	}
	return 0;
}

static void build_longopts(struct option *longopts)
{
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_def *o = &opts[i];
		int has = takes_value(o)                                   ? required_argument
		          : o->kind == K_ACTION || (o->flags & F_NO_VALUE) ? no_argument
		                                                           : optional_argument;
		int val = o->short_name ? o->short_name : OPT_VAL_BASE + (int)i;
		longopts[i] = (struct option){o->name, has, NULL, val};
	}
	longopts[NOPTS] = (struct option){NULL, 0, NULL, 0};
}

/* An unknown long option, with the nearest real one when it looks like
 * a typo of it. */
static void unknown_option(const char *arg)
{
	const char *name = arg;
	while (*name == '-')
		name++;
	_cleanup_free_ char *want = xstrndup(name, strcspn(name, "="));
	const char *names[NOPTS];
	for (size_t i = 0; i < NOPTS; i++)
		names[i] = opts[i].name;
	const char *near = closest_name(want, names, NOPTS);
	if (near)
		log_error("%s: unknown option; did you mean --%s? (see --help)", arg, near);
	else
		log_error("%s: unknown option (see --help)", arg);
}

/* --log-format json anywhere before "--" applies to the messages about the
 * options before it too: a container's log collector wants every line as
 * JSON, including the one saying why it did not start. */
static bool json_wanted(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--log-format=json") == 0)
			return true;
		if (strcmp(argv[i], "--log-format") == 0 && i + 1 < argc &&
		    strcmp(argv[i + 1], "json") == 0)
			return true;
	}
	return false;
}

static int getopt_error(int c, char **argv)
{
	const char *arg = argv[optind - 1];
	if (c == ':')
		log_error("%s: needs a value (see --help)", arg);
	else if (optopt >= OPT_VAL_BASE || optopt == 'h' || optopt == 'V')
		/* a long option given =VALUE: -h and -V themselves are valid */
		log_error("%s: takes no value (see --help)", arg);
	else if (optopt)
		log_error("-%c: unknown option (see --help)", optopt);
	else
		unknown_option(arg);
	return EXIT_USAGE;
}

/* One flag of the command line, row o. */
static int apply_flag(struct config *cfg, const struct opt_def *o, char *arg)
{
	char origin[64];
	snprintf(origin, sizeof(origin), "--%s", o->name);
	int r = apply(cfg, o, arg, origin);
	if ((o->flags & F_BLANK) && arg) {
		/* As curl's cleanarg(): other users can read our argv in
		 * /proc/PID/cmdline; blank the copy there at once. */
		memset(arg, ' ', strlen(arg));
		log_warn("--%s: a secret on the command line is visible to other processes until "
		         "blanked; use --%s-file",
		         o->name, o->name);
	}
	return r;
}

int config_parse(struct config *cfg, int argc, char **argv, char **envp)
{
	int r = config_defaults(cfg);
	if (r)
		return r;
	log_setup(cfg->log_level, cfg->log_format);

	struct option longopts[NOPTS + 1];
	build_longopts(longopts);

	_cleanup_free_ char **vars = client_vars(envp);

	/* Log options first, so messages about everything else use them. */
	const char *lv = env_lookup(vars, "VAULTEXEC_LOG_FORMAT");
	if ((lv && strcmp(lv, "json") == 0) || json_wanted(argc, argv))
		log_setup(cfg->log_level, LOG_JSON);

	bool given[NOPTS] = {0};
	r = apply_env_vars(cfg, vars, given);
	if (r)
		return r;

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
		if (c == '?' || c == ':')
			return getopt_error(c, argv);
		if (c < OPT_VAL_BASE || c >= OPT_VAL_BASE + (int)NOPTS)
			return EXIT_SOFTWARE;
		r = apply_flag(cfg, &opts[c - OPT_VAL_BASE], optarg);
		if (r)
			return r;
		given[c - OPT_VAL_BASE] = true;
	}
	r = apply_fallbacks(cfg, vars, given);
	if (r)
		return r;
	cfg->addr_default = !given[opt_index("addr")];
	cfg->child_argv = argv + optind;
	return finish(cfg, given);
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
	for (size_t i = 0; i < NOPTS; i++) {
		void *dst = (char *)cfg + opts[i].off;
		if (opts[i].kind == K_STR)
			free(*(char **)dst);
		else if (opts[i].kind == K_SECRET)
			secure_free_str(*(char **)dst);
		else if (opts[i].kind == K_LIST)
			strlist_free(dst);
	}
	/* What the custom options and the token fallback own. */
	secure_free_str(cfg->token);
	free(cfg->run_as.home);
	free(cfg->default_path);
	free(cfg->service);
	free(cfg->kv_mount);
	free(cfg->map_all_prefix);
	for (size_t i = 0; i < cfg->nmaps; i++) {
		secref_clear(&cfg->maps[i].ref);
		free(cfg->maps[i].env);
	}
	free(cfg->maps);
	for (size_t i = 0; i < cfg->nfrom_paths; i++)
		secref_clear(&cfg->from_paths[i]);
	free(cfg->from_paths);
	tmpl_specs_free(cfg->envs, cfg->nenvs);
	tmpl_specs_free(cfg->files, cfg->nfiles);
	memset(cfg, 0, sizeof(*cfg));
}

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"
#include "util.h"

/* argv and envp are copied to the heap and freed before the next parse,
 * so ASan notices anything (getopt's state included) that keeps pointing
 * into an earlier call's arguments. */
static struct config cfg;
static char **av, **ev;
static int parsed;

static char **dup_list(const char *const *l, const char *first)
{
	size_t n = 0;
	while (l[n])
		n++;
	char **v = xcalloc(n + 2, sizeof(*v));
	size_t k = 0;
	if (first)
		v[k++] = xstrdup(first);
	for (size_t i = 0; i < n; i++)
		v[k++] = xstrdup(l[i]);
	return v;
}

static void free_list(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

static void reset(void)
{
	if (parsed)
		config_free(&cfg);
	parsed = 0;
	free_list(av);
	free_list(ev);
	av = ev = NULL;
}

/* Parses "vaultexec ARGS..." with environment ENV; cfg stays valid until
 * the next call. */
static int P(const char *const *args, const char *const *env)
{
	reset();
	av = dup_list(args, "vaultexec");
	ev = dup_list(env, NULL);
	int argc = 0;
	while (av[argc])
		argc++;
	parsed = 1;
	return config_parse(&cfg, argc, av, ev);
}

/* The same with stdout sent to /dev/null, for --help and --version. */
static int P_quiet(const char *const *args, const char *const *env)
{
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	int null = open("/dev/null", O_WRONLY);
	dup2(null, STDOUT_FILENO);
	close(null);
	int rc = P(args, env);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	return rc;
}

/* Parses with stderr captured and stdout discarded; returns what was
 * logged. */
static char logged[1024];
/* Copies text log lines from IN to OUT without their leading RFC 3339
 * timestamp ("2026-01-02T03:04:05.678Z "), which every line must carry;
 * a line without one is kept whole so the comparison shows it. */
static void strip_timestamps(const char *in, char *out)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
	while (*in) {
		size_t k = 0;
		while (shape[k] && in[k] &&
		       (shape[k] == 'd' ? (in[k] >= '0' && in[k] <= '9') : in[k] == shape[k]))
			k++;
		if (!shape[k])
			in += k;
		while (*in && *in != '\n')
			*out++ = *in++;
		if (*in)
			*out++ = *in++;
	}
	*out = '\0';
}

static const char *P_err(int *rc, const char *const *args, const char *const *env)
{
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	FILE *f = tmpfile();
	dup2(fileno(f), STDERR_FILENO);
	*rc = P_quiet(args, env);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	char raw[sizeof(logged)];
	size_t n = fread(raw, 1, sizeof(raw) - 1, f);
	fclose(f);
	raw[n] = '\0';
	strip_timestamps(raw, logged);
	return logged;
}

#define A(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOENV ((const char *const[]){NULL})

/* The child's argv joined with spaces, or "(none)". */
static const char *child(void)
{
	static char buf[256];
	buf[0] = '\0';
	if (!cfg.child_argv || !cfg.child_argv[0])
		return "(none)";
	for (char **a = cfg.child_argv; *a; a++) {
		if (a != cfg.child_argv)
			strncat(buf, " ", sizeof(buf) - strlen(buf) - 1);
		strncat(buf, *a, sizeof(buf) - strlen(buf) - 1);
	}
	return buf;
}

/* A map as PATH#FIELD#VERSION=ENV, PATH "-" for the default secret. */
static const char *map_str(size_t i)
{
	static char buf[256];
	if (i >= cfg.nmaps)
		return "(no such map)";
	const struct map_spec *m = &cfg.maps[i];
	snprintf(buf, sizeof(buf), "%s#%s#%llu=%s", m->ref.path ? m->ref.path : "-", m->ref.field,
	         (unsigned long long)m->ref.version, m->env);
	return buf;
}

static void test_defaults(void)
{
	is_int(P(A("cmd"), NOENV), 0, "bare command parses");
	is_str(cfg.addr, "https://127.0.0.1:8200", "default addr");
	is_int(cfg.wait_ms, 60000, "default wait");
	is_int(cfg.request_timeout_ms, 60000, "default request timeout");
	is_int(cfg.kv_version, KV_V2, "default kv v2");
	is_str(cfg.kv_mount, "secret", "default mount");
	is_int(cfg.file_mode, 0600, "default file mode");
	is_str(cfg.auth_method, "token", "default auth method");
	ok(cfg.default_path == NULL, "no default secret");
	ok(cfg.token == NULL, "no token");
	ok(cfg.token_file == NULL, "no token file");
	ok(!cfg.tls_skip_verify, "TLS verified");
	ok(cfg.env_refs, "env refs on");
	ok(!cfg.map_all && !cfg.allow_missing && !cfg.check, "booleans off");
	is_int(cfg.nmaps, 0, "no maps");
	is_str(child(), "cmd", "child argv");
	ok(cfg.child_argv == av + 1, "child argv points into argv");
}

static void test_service(void)
{
	is_int(P(A("--service", "app", "cmd"), NOENV), 0, "--service");
	is_str(cfg.default_path, "secret/app", "service under the default mount");
	ok(cfg.service == NULL, "service folded into default_path");
	is_int(P(A("--service", "app", "--kv-mount", "kv", "cmd"), NOENV), 0,
	       "--service then --kv-mount");
	is_str(cfg.default_path, "kv/app", "mount given after the service");
	is_int(P(A("--kv-mount", "kv", "--service", "app", "cmd"), NOENV), 0,
	       "--kv-mount then --service");
	is_str(cfg.default_path, "kv/app", "mount given before the service");
	is_int(P(A("--kv-mount", "/team/kv/", "--service", "app", "cmd"), NOENV), 0,
	       "nested mount with slashes");
	is_str(cfg.kv_mount, "team/kv", "mount slashes trimmed");
	is_str(cfg.default_path, "team/kv/app", "nested mount default path");
	is_int(P(A("--kv-mount", "//", "cmd"), NOENV), 64, "mount of slashes only");
	is_int(P(A("--service", "", "cmd"), NOENV), 64, "empty service");
	is_int(P(A("--service", "a#b", "cmd"), NOENV), 64, "service with '#'");

	is_int(P(A("--secret", "/secret/app/", "cmd"), NOENV), 0, "--secret with slashes");
	is_str(cfg.default_path, "secret/app", "--secret slashes trimmed");
	is_int(P(A("--secret", "secret/data/app", "cmd"), NOENV), 0, "--secret v2 form");
	is_str(cfg.default_path, "secret/data/app", "--secret kept as given");
	is_int(P(A("--secret", "///", "cmd"), NOENV), 64, "--secret of slashes only");
	is_int(P(A("--secret", "", "cmd"), NOENV), 64, "empty --secret");
	is_int(P(A("--secret", "s/a#f", "cmd"), NOENV), 64, "--secret with '#'");
	is_int(P(A("--service", "svc", "--secret", "x/y", "cmd"), NOENV), 0, "service then secret");
	is_str(cfg.default_path, "x/y", "the later --secret wins");
	is_int(P(A("--secret", "x/y", "--service", "svc", "cmd"), NOENV), 0, "secret then service");
	is_str(cfg.default_path, "secret/svc", "the later --service wins");
}

static void test_map(void)
{
	is_int(P(A("--service", "s", "--map", "a=A,b=B", "cmd"), NOENV), 0, "--map list");
	is_int(cfg.nmaps, 2, "two maps");
	is_str(map_str(0), "-#a#0=A", "first of the list");
	is_str(map_str(1), "-#b#0=B", "second of the list");

	is_int(P(A("--map", "secret/db#pw#3=DB", "--map", "/secret/db/#user=U", "cmd"), NOENV), 0,
	       "PATH#FIELD refs need no default secret");
	is_str(map_str(0), "secret/db#pw#3=DB", "PATH#F#3");
	is_str(map_str(1), "secret/db#user#0=U", "path slashes trimmed");
	is_int(P(A("--service", "s", "--map", "a=b=C", "cmd"), NOENV), 0, "'=' in a field");
	is_str(map_str(0), "-#a=b#0=C", "the last '=' separates ENV");
	is_int(P(A("--service", "s", "--map", "f=A", "--map", "f=B", "cmd"), NOENV), 0,
	       "one field into two variables");
	is_int(cfg.nmaps, 2, "both kept");

	is_int(P(A("--service", "s", "--map", "noequals", "cmd"), NOENV), 64, "no '='");
	is_int(P(A("--service", "s", "--map", "a=1A", "cmd"), NOENV), 64,
	       "ENV starting with digit");
	is_int(P(A("--service", "s", "--map", "a=A-B", "cmd"), NOENV), 64, "ENV with '-'");
	is_int(P(A("--service", "s", "--map", "a=", "cmd"), NOENV), 64, "empty ENV");
	is_int(P(A("--service", "s", "--map", "=A", "cmd"), NOENV), 64, "empty field");
	is_int(P(A("--service", "s", "--map", "a=A,,b=B", "cmd"), NOENV), 64, "empty list item");
	is_int(P(A("--service", "s", "--map", "a=A,", "cmd"), NOENV), 64, "trailing comma");
	is_int(P(A("--map", "#f=A", "cmd"), NOENV), 64, "empty path");
	is_int(P(A("--map", "p#=A", "cmd"), NOENV), 64, "empty field after '#'");
	is_int(P(A("--map", "p#f#0=A", "cmd"), NOENV), 64, "version 0");
	is_int(P(A("--map", "p#f#x=A", "cmd"), NOENV), 64, "version not a number");
	is_int(P(A("--map", "a=A", "cmd"), NOENV), 64, "default-secret field with no default");
	is_int(P(A("--service", "s", "--map", "a=X", "--map", "b=X", "cmd"), NOENV), 64,
	       "variable mapped twice");
	is_int(P(A("--service", "s", "--map", "a=X,p#b=X", "cmd"), NOENV), 64,
	       "variable mapped twice in one list");
	is_int(P(A("--service", "s", "--map", "a=X", "--env", "X=v", "cmd"), NOENV), 64,
	       "--env of a mapped variable");
	is_int(P(A("--env", "X=v", "--env", "X=w", "cmd"), NOENV), 64, "--env twice");
	is_int(P(A("--env", "X=v{{ a }}", "cmd"), NOENV), 0, "--env parses");
	is_int(cfg.nenvs, 1, "one --env");
	is_str(cfg.nenvs ? cfg.envs[0].text : NULL, "v{{ a }}", "--env template kept");
	is_int(P(A("--env", "1X=v", "cmd"), NOENV), 64, "--env bad name");
	is_int(P(A("--env", "=v", "cmd"), NOENV), 64, "--env empty name");
}

static void test_stop_at_command(void)
{
	is_int(P(A("--service", "s", "cmd", "--map", "x=y"), NOENV), 0, "stops at the command");
	is_int(cfg.nmaps, 0, "the child's --map is not ours");
	is_str(child(), "cmd --map x=y", "child keeps its flags");
	is_int(P(A("--service", "s", "--", "--map", "x=y"), NOENV), 0, "'--' ends options");
	is_int(cfg.nmaps, 0, "nothing mapped after '--'");
	is_str(child(), "--map x=y", "child argv after '--'");
	is_int(P(A("--", "cmd", "--", "-h"), NOENV), 0, "later '--' is the child's");
	is_str(child(), "cmd -- -h", "child gets the second '--'");
	is_int(P(A("--"), NOENV), 64, "'--' with no command");
	is_int(P(A("--wait", "1s"), NOENV), 64, "no command");
	is_int(P(NOENV, NOENV), 64, "no arguments at all");
	is_int(P(A("sh", "-c", "echo hi"), NOENV), 0, "child's short options");
	is_str(child(), "sh -c echo hi", "child argv intact");
}

static void test_bad_options(void)
{
	is_int(P(A("--bogus", "cmd"), NOENV), 64, "unknown long option");
	is_int(P(A("-x", "cmd"), NOENV), 64, "unknown short option");
	is_int(P(A("--ca", "x", "cmd"), NOENV), 64, "ambiguous abbreviation");
	is_int(P(A("--service"), NOENV), 64, "missing value at the end");
	is_int(P(A("--service", "s", "--map"), NOENV), 64, "missing --map value");
	is_int(P(A("--check=yes", "cmd"), NOENV), 64, "value for a flag that takes none");
	is_int(P(A("--kv-version", "3", "cmd"), NOENV), 64, "kv version 3");
	is_int(P(A("--kv-version", "1", "cmd"), NOENV), 0, "kv version 1");
	is_int(cfg.kv_version, KV_V1, "v1 set");
	is_int(P(A("--kv-version", "auto", "cmd"), NOENV), 0, "kv version auto");
	is_int(cfg.kv_version, KV_AUTO, "auto set");
	is_int(P(A("--keep-env", "A-B", "cmd"), NOENV), 64, "--keep-env bad name");
	is_int(P(A("--log-level", "loud", "cmd"), NOENV), 64, "bad log level");
	is_int(P(A("--log-format", "xml", "cmd"), NOENV), 64, "bad log format");
	is_int(P(A("--client-cert", "c.pem", "cmd"), NOENV), 64, "client cert without key");
	is_int(P(A("--client-cert", "c.pem", "--client-key", "k.pem", "cmd"), NOENV), 0,
	       "client cert and key");
}

static void test_messages(void)
{
	int rc;
	is_str(P_err(&rc, A("--check=yes", "cmd"), NOENV),
	       "vaultexec: error: --check=yes: takes no value (see --help)\n",
	       "value for a no-value long option");
	is_int(rc, 64, "exit 64");
	is_str(P_err(&rc, A("--help=x", "cmd"), NOENV),
	       "vaultexec: error: --help=x: takes no value (see --help)\n", "--help=x");
	is_int(rc, 64, "exit 64");
	is_str(P_err(&rc, A("-x", "cmd"), NOENV),
	       "vaultexec: error: -x: unknown option (see --help)\n", "unknown short option");
	is_str(P_err(&rc, A("--check", "-hx"), NOENV), "", "-h wins in a cluster, nothing logged");
	is_int(rc, CLI_EXIT_SUCCESS, "help printed");
	is_str(P_err(&rc, A("--bogus", "cmd"), NOENV),
	       "vaultexec: error: --bogus: unknown option (see --help)\n", "unknown long option");
	is_str(P_err(&rc, A("--wait"), NOENV),
	       "vaultexec: error: --wait: needs a value (see --help)\n", "missing value");
	is_str(P_err(&rc, A("cmd"), A("BAO_CLIENT_TIMEOUT=5x")),
	       "vaultexec: error: BAO_CLIENT_TIMEOUT: '5x' is not a positive duration (500ms, 30s, "
	       "2m, 1h, or seconds)\n",
	       "the BAO_ variable is named");
	is_int(rc, 64, "exit 64");
	is_str(P_err(&rc, A("cmd"), A("VAULT_CLIENT_TIMEOUT=5x")),
	       "vaultexec: error: VAULT_CLIENT_TIMEOUT: '5x' is not a positive duration (500ms, "
	       "30s, 2m, 1h, or seconds)\n",
	       "the VAULT_ variable is named");
	is_str(P_err(&rc, A("cmd"), A("BAO_SKIP_VERIFY=yes")),
	       "vaultexec: error: BAO_SKIP_VERIFY: 'yes' is not a boolean (true/false/1/0/t/f)\n",
	       "BAO_SKIP_VERIFY named");
	is_str(P_err(&rc, A("cmd"), A("VAULT_SKIP_VERIFY=yes")),
	       "vaultexec: error: VAULT_SKIP_VERIFY: 'yes' is not a boolean (true/false/1/0/t/f)\n",
	       "VAULT_SKIP_VERIFY named");
	is_str(P_err(&rc, A("cmd"), A("VAULTEXEC_WAIT=x")),
	       "vaultexec: error: VAULTEXEC_WAIT: 'x' is not a duration (500ms, 30s, 2m, 1h, or "
	       "seconds)\n",
	       "VAULTEXEC_ variable named");
}

static void test_durations(void)
{
	is_int(P(A("--wait", "500ms", "cmd"), NOENV), 0, "--wait 500ms");
	is_int(cfg.wait_ms, 500, "500 ms");
	is_int(P(A("--wait", "2m", "cmd"), NOENV), 0, "--wait 2m");
	is_int(cfg.wait_ms, 120000, "2 minutes");
	is_int(P(A("--wait", "7", "cmd"), NOENV), 0, "--wait in bare seconds");
	is_int(cfg.wait_ms, 7000, "7 seconds");
	is_int(P(A("--wait", "0", "cmd"), NOENV), 0, "--wait 0");
	is_int(cfg.wait_ms, 0, "one attempt");
	is_int(P(A("--wait", "soon", "cmd"), NOENV), 64, "bad duration");
	is_int(P(A("--wait", "5x", "cmd"), NOENV), 64, "bad unit");
	is_int(P(A("--wait", "-1s", "cmd"), NOENV), 64, "negative duration");
	is_int(P(A("--wait", "", "cmd"), NOENV), 64, "empty duration");
	is_int(P(A("--request-timeout", "1500ms", "cmd"), NOENV), 0, "--request-timeout");
	is_int(cfg.request_timeout_ms, 1500, "request timeout set");
	is_int(P(A("--request-timeout", "0", "cmd"), NOENV), 64, "request timeout 0 refused");
}

static void test_bools(void)
{
	is_int(P(A("--tls-skip-verify", "cmd"), NOENV), 0, "--tls-skip-verify");
	ok(cfg.tls_skip_verify, "skip on");
	is_int(P(A("--tls-skip-verify=false", "cmd"), NOENV), 0, "--tls-skip-verify=false");
	ok(!cfg.tls_skip_verify, "skip off");
	is_int(P(A("--tls-skip-verify=1", "cmd"), NOENV), 0, "--tls-skip-verify=1");
	ok(cfg.tls_skip_verify, "skip on with 1");
	is_int(P(A("--tls-skip-verify=yes", "cmd"), NOENV), 64, "=yes is not a Go bool");
	is_int(P(A("--tls-skip-verify=", "cmd"), NOENV), 64, "empty value");
	/* The value of an optional argument must be attached with '=': a
	 * separate word is the command. */
	is_int(P(A("--tls-skip-verify", "false", "x"), NOENV), 0, "separate word");
	ok(cfg.tls_skip_verify, "skip on");
	is_str(child(), "false x", "the word is the command");
	is_int(P(A("--no-env-refs", "--allow-missing", "--check", "cmd"), NOENV), 0, "flags");
	ok(!cfg.env_refs && cfg.allow_missing && cfg.check, "flags set");
}

static void test_env_forms(void)
{
	is_int(P(A("cmd"), A("VAULTEXEC_SERVICE=app", "VAULTEXEC_KV_MOUNT=kv", "VAULTEXEC_WAIT=2m",
	                     "VAULTEXEC_TLS_SKIP_VERIFY=true", "VAULTEXEC_FILE_MODE=0640",
	                     "VAULTEXEC_KV_VERSION=1", "VAULTEXEC_CHECK=1")),
	       0, "VAULTEXEC_* variables");
	is_str(cfg.default_path, "kv/app", "VAULTEXEC_SERVICE and _KV_MOUNT");
	is_int(cfg.wait_ms, 120000, "VAULTEXEC_WAIT");
	ok(cfg.tls_skip_verify, "VAULTEXEC_TLS_SKIP_VERIFY");
	is_int(cfg.file_mode, 0640, "VAULTEXEC_FILE_MODE");
	is_int(cfg.kv_version, KV_V1, "VAULTEXEC_KV_VERSION");
	ok(cfg.check, "VAULTEXEC_CHECK");

	is_int(
	    P(A("--map", "d=D", "cmd"),
	      A("VAULTEXEC_SERVICE=s", "VAULTEXEC_MAP=a=A\r\n\r\n\nb=B,c=C\nsecret/x#e#2=E\r\n")),
	    0, "VAULTEXEC_MAP with CRLF and blank lines");
	is_int(cfg.nmaps, 5, "four from the variable, one flag");
	is_str(map_str(0), "-#a#0=A", "CR stripped");
	is_str(map_str(1), "-#b#0=B", "blank lines skipped");
	is_str(map_str(2), "-#c#0=C", "commas inside a line");
	is_str(map_str(3), "secret/x#e#2=E", "last line with CRLF");
	is_str(map_str(4), "-#d#0=D", "flags add after the variable");
	is_int(P(A("cmd"), A("VAULTEXEC_SERVICE=s", "VAULTEXEC_MAP=a=A\nbad line")), 64,
	       "bad VAULTEXEC_MAP line");
	is_int(P(A("cmd"), A("VAULTEXEC_KEEP_ENV=VAULT_TOKEN\n\nX_Y")), 0, "VAULTEXEC_KEEP_ENV");
	is_int(cfg.keep_env.n, 2, "two kept names");
	is_str(cfg.keep_env.n == 2 ? cfg.keep_env.v[1] : NULL, "X_Y", "second kept name");
	is_int(P(A("--wait", "1s", "cmd"), A("VAULTEXEC_WAIT=bogus")), 64,
	       "bad variable fails even when a flag overrides it");
	is_int(P(A("--wait", "1s", "cmd"), A("VAULTEXEC_WAIT=5s")), 0, "flag over VAULTEXEC_WAIT");
	is_int(cfg.wait_ms, 1000, "the flag wins");
	is_int(P(A("cmd"), A("VAULTEXEC_TLS_SKIP_VERIFY=yes")), 64, "VAULTEXEC bool 'yes'");
	is_int(P(A("cmd"), A("VAULTEXEC_SECRET=/a/b/")), 0, "VAULTEXEC_SECRET");
	is_str(cfg.default_path, "a/b", "trimmed");
	is_int(P(A("cmd"), A("VAULTEXEC_MAP_ALL=", "VAULTEXEC_SERVICE=s")), 0,
	       "VAULTEXEC_MAP_ALL empty: every field, no prefix");
	is_int(cfg.map_all, 1, "empty VAULTEXEC_MAP_ALL is given");
	is_int(P(A("cmd"), A("VAULTEXEC_TOKEN_FILE=", "VAULT_TOKEN=t")), 0,
	       "empty VAULTEXEC_TOKEN_FILE counts as unset");
	ok(cfg.token_file == NULL, "no token file from an empty variable");
	is_str(cfg.token_origin, "VAULT_TOKEN", "the token's origin");
	is_int(P(A("cmd"), A("VAULTEXEC_WAIT=")), 0, "empty VAULTEXEC_WAIT: the default");
	is_int(P(A("cmd"), A("VAULTEXEC_MAP_ALL=APP_", "VAULTEXEC_SERVICE=s")), 0,
	       "VAULTEXEC_MAP_ALL with a prefix");
	ok(cfg.map_all, "map-all on");
	is_str(cfg.map_all_prefix, "APP_", "prefix");
	is_int(P(A("cmd"), A("NOTVAULTEXEC_WAIT=5s", "VAULTEXEC_WAITX=5s")), 0,
	       "near-miss names are ignored");
	is_int(cfg.wait_ms, 60000, "wait unchanged");
}

static void test_addr_precedence(void)
{
	is_int(P(A("cmd"), A("VAULT_ADDR=http://v:1")), 0, "VAULT_ADDR");
	is_str(cfg.addr, "http://v:1", "VAULT_ADDR used");
	is_int(P(A("cmd"), A("VAULT_ADDR=http://v:1", "BAO_ADDR=http://b:2")), 0, "BAO_ADDR");
	is_str(cfg.addr, "http://b:2", "BAO_ADDR beats VAULT_ADDR");
	is_int(P(A("cmd"),
	         A("VAULT_ADDR=http://v:1", "BAO_ADDR=http://b:2", "VAULTEXEC_ADDR=http://x:3")),
	       0, "VAULTEXEC_ADDR");
	is_str(cfg.addr, "http://x:3", "VAULTEXEC_ADDR beats BAO_ADDR");
	is_int(P(A("--addr", "http://f:4", "cmd"),
	         A("VAULT_ADDR=http://v:1", "BAO_ADDR=http://b:2", "VAULTEXEC_ADDR=http://x:3")),
	       0, "--addr");
	is_str(cfg.addr, "http://f:4", "the flag beats everything");

	/* apply_vault_vars reads BAO_ADDR whenever it is present, even empty
	 * (as OpenBao's own client does), then skips an empty value.  So an
	 * empty BAO_ADDR masks VAULT_ADDR and the default address is used. */
	is_int(P(A("cmd"), A("BAO_ADDR=", "VAULT_ADDR=http://v:1")), 0, "empty BAO_ADDR");
	is_str(cfg.addr, "https://127.0.0.1:8200", "empty BAO_ADDR masks VAULT_ADDR");
	is_int(P(A("cmd"), A("VAULT_ADDR=")), 0, "empty VAULT_ADDR");
	is_str(cfg.addr, "https://127.0.0.1:8200", "empty VAULT_ADDR means the default");

	is_int(P(A("cmd"), A("VAULT_NAMESPACE=ns1", "BAO_CACERT=/ca.pem", "VAULT_CACERT=/v.pem",
	                     "VAULT_TLS_SERVER_NAME=sni")),
	       0, "other client variables");
	is_str(cfg.namespace_, "ns1", "VAULT_NAMESPACE");
	is_str(cfg.ca_cert, "/ca.pem", "BAO_CACERT beats VAULT_CACERT");
	is_str(cfg.tls_server_name, "sni", "VAULT_TLS_SERVER_NAME");
	is_int(P(A("--namespace", "flag", "cmd"), A("VAULT_NAMESPACE=ns1")), 0, "--namespace");
	is_str(cfg.namespace_, "flag", "flag beats VAULT_NAMESPACE");
}

static void test_vault_vars(void)
{
	is_int(P(A("cmd"), A("VAULT_SKIP_VERIFY=yes")), 64, "VAULT_SKIP_VERIFY=yes refused");
	is_int(P(A("cmd"), A("VAULT_SKIP_VERIFY=true")), 0, "VAULT_SKIP_VERIFY=true");
	ok(cfg.tls_skip_verify, "skip from VAULT_SKIP_VERIFY");
	is_int(P(A("cmd"), A("VAULT_SKIP_VERIFY=1", "BAO_SKIP_VERIFY=false")), 0,
	       "BAO_SKIP_VERIFY");
	ok(!cfg.tls_skip_verify, "BAO_SKIP_VERIFY beats VAULT_SKIP_VERIFY");
	is_int(P(A("--tls-skip-verify=false", "cmd"), A("VAULT_SKIP_VERIFY=1")), 0, "flag");
	ok(!cfg.tls_skip_verify, "flag beats VAULT_SKIP_VERIFY");
	is_int(P(A("cmd"), A("VAULTEXEC_TLS_SKIP_VERIFY=0", "VAULT_SKIP_VERIFY=1")), 0,
	       "VAULTEXEC_TLS_SKIP_VERIFY");
	ok(!cfg.tls_skip_verify, "VAULTEXEC_ beats VAULT_SKIP_VERIFY");
	is_int(P(A("cmd"), A("VAULT_SKIP_VERIFY=")), 0, "empty VAULT_SKIP_VERIFY ignored");
	ok(!cfg.tls_skip_verify, "still verified");

	is_int(P(A("cmd"), A("VAULT_CLIENT_TIMEOUT=0")), 0, "VAULT_CLIENT_TIMEOUT=0");
	is_int(cfg.request_timeout_ms, 60000, "0 means the default");
	is_int(P(A("cmd"), A("VAULT_CLIENT_TIMEOUT=30")), 0, "VAULT_CLIENT_TIMEOUT=30");
	is_int(cfg.request_timeout_ms, 30000, "bare seconds");
	is_int(P(A("cmd"), A("VAULT_CLIENT_TIMEOUT=5x")), 64, "bad VAULT_CLIENT_TIMEOUT");

	is_int(P(A("cmd"), A("VAULT_TOKEN=vt")), 0, "VAULT_TOKEN");
	is_str(cfg.token, "vt", "token from VAULT_TOKEN");
	is_int(P(A("cmd"), A("VAULT_TOKEN=vt", "BAO_TOKEN=bt")), 0, "BAO_TOKEN");
	is_str(cfg.token, "bt", "BAO_TOKEN beats VAULT_TOKEN");
	is_int(P(A("--token-file", "/run/tok", "cmd"), A("VAULT_TOKEN=vt", "BAO_TOKEN=bt")), 0,
	       "--token-file");
	ok(cfg.token == NULL, "--token-file beats the env token");
	is_str(cfg.token_file, "/run/tok", "token file set");
	is_int(P(A("cmd"), A("VAULTEXEC_TOKEN_FILE=/t", "VAULT_TOKEN=vt")), 0,
	       "VAULTEXEC_TOKEN_FILE");
	ok(cfg.token == NULL, "VAULTEXEC_TOKEN_FILE beats the env token");
	is_str(cfg.token_file, "/t", "token file from VAULTEXEC_TOKEN_FILE");
	is_int(P(A("cmd"), A("VAULT_TOKEN_FILE=/vf")), 0, "VAULT_TOKEN_FILE");
	is_str(cfg.token_file, "/vf", "token file from VAULT_TOKEN_FILE");
	is_int(P(A("cmd"), A("VAULT_TOKEN_FILE=/vf", "VAULT_TOKEN=vt")), 0, "both");
	is_str(cfg.token, "vt", "VAULT_TOKEN beats VAULT_TOKEN_FILE");
	ok(cfg.token_file == NULL, "VAULT_TOKEN_FILE not used then");
	/* As for the address, a present but empty BAO_TOKEN masks VAULT_TOKEN. */
	is_int(P(A("cmd"), A("BAO_TOKEN=", "VAULT_TOKEN=vt")), 0, "empty BAO_TOKEN");
	ok(cfg.token == NULL, "empty BAO_TOKEN masks VAULT_TOKEN");
}

static void test_secret_blanking(void)
{
	/* The argv copies are ours (see P), so blanking them is allowed. */
	P(A("--auth", "approle", "--role-id", "r", "--secret-id", "s3cr3t", "cmd"), NOENV);
	is_str(cfg.secret_id, "s3cr3t", "--secret-id value kept");
	is_str(av[6], "      ", "--secret-id value blanked in argv");
	is_str(av[5], "--secret-id", "the option itself kept");
	P(A("--auth", "approle", "--role-id", "r", "--secret-id=abc", "cmd"), NOENV);
	is_str(cfg.secret_id, "abc", "--secret-id=VALUE kept");
	is_str(av[5], "--secret-id=   ", "--secret-id=VALUE blanked after '='");
}

static void test_file_mode(void)
{
	is_int(P(A("--file-mode", "0640", "cmd"), NOENV), 0, "--file-mode 0640");
	is_int(cfg.file_mode, 0640, "mode 0640");
	is_int(P(A("--file-mode", "444", "cmd"), NOENV), 0, "three digits");
	is_int(cfg.file_mode, 0444, "mode 0444");
	is_int(P(A("--file-mode", "4755", "cmd"), NOENV), 64, "setuid refused");
	is_int(P(A("--file-mode", "1777", "cmd"), NOENV), 64, "sticky refused");
	is_int(P(A("--file-mode", "9", "cmd"), NOENV), 64, "9 is not octal");
	is_int(P(A("--file-mode", "0x1ff", "cmd"), NOENV), 64, "hex refused");
	is_int(P(A("--file-mode", "", "cmd"), NOENV), 64, "empty mode");
	is_int(P(A("--file-mode", "00600", "cmd"), NOENV), 64, "five digits");
	is_int(P(A("--file-mode", "-600", "cmd"), NOENV), 64, "negative");
}

static void test_map_all(void)
{
	is_int(P(A("--map-all", "cmd"), NOENV), 64, "--map-all needs a default secret");
	is_int(P(A("--service", "s", "--map-all", "cmd"), NOENV), 0, "--map-all");
	ok(cfg.map_all, "map-all on");
	is_str(cfg.map_all_prefix, "", "empty prefix");
	is_int(P(A("--secret", "a/b", "--map-all=APP_", "cmd"), NOENV), 0, "--map-all=PREFIX");
	is_str(cfg.map_all_prefix, "APP_", "prefix kept");
	is_int(P(A("--service", "s", "--map-all=1X", "cmd"), NOENV), 64, "prefix with a digit");
	is_int(P(A("--service", "s", "--map-all=A-", "cmd"), NOENV), 64, "prefix with '-'");
}

static void test_help_version(void)
{
	is_int(P_quiet(A("--help"), NOENV), CLI_EXIT_SUCCESS, "--help");
	is_int(P_quiet(A("-h", "cmd"), NOENV), CLI_EXIT_SUCCESS, "-h");
	is_int(P_quiet(A("--version"), NOENV), CLI_EXIT_SUCCESS, "--version");
	is_int(P_quiet(A("-V"), NOENV), CLI_EXIT_SUCCESS, "-V");
	is_int(P_quiet(A("--service", "s", "--version", "--bogus"), NOENV), CLI_EXIT_SUCCESS,
	       "--version before a bad option");
	is_int(P_quiet(A("cmd", "--help"), NOENV), 0, "the child's --help is not ours");
	/* Stopping inside "-hV" leaves getopt mid-argument: the next parse
	 * must start over rather than finish the old cluster. */
	is_int(P_quiet(A("-hV"), NOENV), CLI_EXIT_SUCCESS, "-hV");
	is_int(P(A("--wait", "1s", "cmd"), NOENV), 0, "a parse after -hV");
	is_int(cfg.wait_ms, 1000, "and its options are read");
	is_str(child(), "cmd", "and its command");
}

int main(void)
{
	test_defaults();
	test_service();
	test_map();
	test_stop_at_command();
	test_bad_options();
	test_messages();
	test_durations();
	test_bools();
	test_env_forms();
	test_addr_precedence();
	test_vault_vars();
	test_secret_blanking();
	test_file_mode();
	test_map_all();
	test_help_version();
	reset();
	return tap_done();
}

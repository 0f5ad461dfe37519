/* vault-env mode: the name check, Go-template keys, and the translation of
 * vault-env's variables into vaultexec's configuration and the command's
 * inherited environment (no Vault: vaultenv_config stops at config_parse). */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "tap.h"
#include "util.h"
#include "vaultenv.h"

#define L(...) ((char *[]){__VA_ARGS__, NULL})

static void test_named(void)
{
	ok(vaultenv_named("vault-env"), "bare name");
	ok(vaultenv_named("/vault/vault-env"), "webhook path");
	ok(!vaultenv_named("/vault/vaultexec"), "own name");
	ok(!vaultenv_named("vault-env2"), "other name");
	ok(!vaultenv_named(NULL), "no argv[0]");
}

static void test_template(void)
{
	char err[300];
	char *t = vaultenv_template("secret/data/a", 0, "${.password}", err, sizeof(err));
	is_str(t, "{{ secret/data/a#password }}", "plain field access");
	free(t);
	t = vaultenv_template("s/data/a", 3, "u=${ .user | upper }:{${.pw|urlquery|b64enc}}", err,
	                      sizeof(err));
	is_str(
	    t,
	    "u={{ s/data/a#user#3 | upper }}:{{ \"{\" }}{{ s/data/a#pw#3 | urlencode | base64 }}}",
	    "literals, version, functions, an escaped '{'");
	free(t);
	t = vaultenv_template("s/a", 0, "${.pw | sha256sum}", err, sizeof(err));
	ok(!t && strstr(err, "sha256sum") && strstr(err, "supported: ${.FIELD}"),
	   "unknown function names what is supported: %s", err);
	t = vaultenv_template("s/a", 0, "${index . \"a-b\"}", err, sizeof(err));
	ok(!t && strstr(err, "not plain field access"), "index refused: %s", err);
	t = vaultenv_template("s/a", 0, "${.a", err, sizeof(err));
	ok(!t && strstr(err, "unterminated"), "unterminated: %s", err);
}

/* Runs the translation on ENV with argv vault-env CMD; returns the exit
 * code, cfg and ve filled (caller frees). */
static int run(struct config *cfg, struct vaultenv *ve, char **env)
{
	char *argv[] = {"/vault/vault-env", "/bin/true", NULL};
	return vaultenv_config(cfg, ve, 2, argv, env);
}

static bool has(char **env, const char *entry)
{
	for (char **e = env; e && *e; e++)
		if (strcmp(*e, entry) == 0)
			return true;
	return false;
}

static bool has_name(char **env, const char *name)
{
	return env_lookup(env, name) != NULL;
}

static void test_scrub_and_login(void)
{
	struct config cfg;
	struct vaultenv ve;
	int r = run(&cfg, &ve,
	            L("VAULT_ADDR=http://v:8200", "VAULT_TOKEN=t0k3n-t0k3n", "VAULT_ROLE=r",
	              "VAULT_ENV_PASSTHROUGH=VAULT_ROLE", "VAULT_OTHER=o", "BAO_TOKEN=b",
	              "A=vault:secret/data/a#k"));
	is_int(r, 0, "token in VAULT_TOKEN");
	is_str(cfg.addr, "http://v:8200", "VAULT_ADDR read");
	is_str(cfg.token, "t0k3n-t0k3n", "VAULT_TOKEN read (not BAO_TOKEN)");
	is_str(cfg.auth_method, "token", "token method");
	ok(cfg.kv_version == KV_AUTO, "KV version looked up");
	ok(!has_name(ve.env, "VAULT_ADDR") && !has_name(ve.env, "VAULT_TOKEN"), "scrubbed");
	ok(has(ve.env, "VAULT_ROLE=r"), "passthrough kept");
	ok(has(ve.env, "VAULT_OTHER=o") && has(ve.env, "A=vault:secret/data/a#k"), "others kept");
	ok(!cfg.token_to_env, "no handoff");
	config_free(&cfg);
	vaultenv_free(&ve);

	r = run(&cfg, &ve,
	        L("VAULT_ADDR=http://v:8200", "VAULT_TOKEN=vault:login", "VAULT_PATH=k8s",
	          "VAULT_ROLE=app", "KUBERNETES_SERVICE_ACCOUNT_TOKEN=/t", "VAULT_JWT_FILE=/j",
	          "HOME=/nonexistent"));
	is_int(r, 0, "vault:login with a JWT login");
	is_str(cfg.auth_method, "jwt", "jwt by default");
	is_str(cfg.auth_mount, "k8s", "VAULT_PATH");
	is_str(cfg.role, "app", "VAULT_ROLE");
	is_str(cfg.jwt_file, "/t", "KUBERNETES_SERVICE_ACCOUNT_TOKEN first");
	ok(cfg.token_to_env, "token handed on");
	ok(has(ve.env, "VAULT_ADDR=http://v:8200"), "connection kept with vault:login");
	ok(!has_name(ve.env, "VAULT_TOKEN") && !has_name(ve.env, "VAULT_PATH"), "token, path not");
	config_free(&cfg);
	vaultenv_free(&ve);

	r = run(&cfg, &ve, L("HOME=/nonexistent"));
	is_int(r, 0, "every default");
	is_str(cfg.auth_mount, "kubernetes", "default VAULT_PATH");
	is_str(cfg.role, "default", "default VAULT_ROLE");
	is_str(cfg.jwt_file, "/var/run/secrets/kubernetes.io/serviceaccount/token", "default JWT");
	config_free(&cfg);
	vaultenv_free(&ve);

	r = run(&cfg, &ve, L("HOME=/nonexistent", "VAULT_AUTH_METHOD=gcp-iam"));
	is_int(r, 64, "unsupported method");
	config_free(&cfg);
	vaultenv_free(&ve);

	r = run(&cfg, &ve, L("VAULT_TOKEN=x", "VAULTEXEC_AUTH=approle", "VAULTEXEC_ROLE_ID=rid"));
	is_int(r, 0, "own options");
	is_str(cfg.auth_method, "approle", "VAULTEXEC_AUTH wins");
	config_free(&cfg);
	vaultenv_free(&ve);
}

static void test_values(void)
{
	struct config cfg;
	struct vaultenv ve;
	int r = run(&cfg, &ve,
	            L("VAULT_TOKEN=t", "T=vault:s/data/a#${.u | upper}#2",
	              "W=>>vault:pki/issue/r#certificate#{\"common_name\":\"a b&c\",\"ttl\":3600}",
	              "C=vault:v1:abc=", "VAULT_TRANSIT_KEY_ID=k", "I=x${vault:s/data/a#p}y",
	              "VAULT_ENV_FROM_PATH=s/data/a, s/data/b#4", "VAULT_IGNORE_MISSING_SECRETS=1",
	              "VAULT_ENV_DELAY=2s", "VAULT_JSON_LOG=true", "VAULT_LOG_LEVEL=WARN+4",
	              "VAULT_ENV_DAEMON=true"));
	is_int(r, 0, "value forms");
	is_int(cfg.nenvs, 3, "three templates");
	for (size_t i = 0; i < cfg.nenvs; i++) {
		const char *n = cfg.envs[i].name, *t = cfg.envs[i].text;
		if (strcmp(n, "T") == 0)
			is_str(t, "{{ s/data/a#u#2 | upper }}", "template key with version");
		else if (strcmp(n, "W") == 0)
			is_str(t, "{{ pki/issue/r?common_name=a%20b%26c&ttl=3600#certificate }}",
			       "write");
		else
			is_str(t,
			       "{{ transit/decrypt/k?ciphertext=vault%3Av1%3Aabc%3D#plaintext | "
			       "base64decode }}",
			       "transit");
	}
	ok(!has_name(ve.env, "T") && !has_name(ve.env, "W") && !has_name(ve.env, "C"),
	   "templated variables are not inherited");
	ok(has(ve.env, "I=x${vault:s/data/a#p}y"), "plain inline left to the reference parser");
	is_int(cfg.nfrom_paths, 2, "two paths");
	is_str(cfg.from_paths[1].path, "s/data/b", "trimmed path");
	is_int(cfg.from_paths[1].version, 4, "version");
	ok(cfg.allow_missing, "ignore missing");
	is_int(cfg.exec_delay_ms, 2000, "delay");
	ok(cfg.supervise, "daemon mode is the supervisor");
	ok(cfg.log_format == LOG_JSON && cfg.log_level == LOG_ERROR, "JSON, slog WARN+4 = error");
	config_free(&cfg);
	vaultenv_free(&ve);

	const char *bad[] = {"VAULT_ENV_DELAY=soon", "VAULT_REVOKE_TOKEN=yes",
	                     "VAULT_ENV_DAEMON=yes", "C=vault:v1:abc", "W=>>vault:p#k",
	                     "W=>>vault:p#k#{\"a\":{}}", "F=vault:s/a#${.x | sha1sum}",
	                     "VAULT_ENV_FROM_PATH=a/../b",
	                     /* found by tests/fuzz/fuzz_vaultenv: a key no template can hold */
	                     "B=x${vault:s/a#${.p | urlquery}#2", "W=>>vault:p q#k#{\"a\":1}",
	                     /* a read with '?' would have become a write with a version */
	                     "Q=vault:s/a?x=1#${.p | urlquery}#2"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *env[] = {"VAULT_TOKEN=t", (char *)bad[i], NULL};
		is_int(run(&cfg, &ve, env), 64, "refused: %s", bad[i]);
		config_free(&cfg);
		vaultenv_free(&ve);
	}
}

int main(void)
{
	log_setup(LOG_ERROR + 0, LOG_TEXT);
	test_named();
	test_template();
	test_scrub_and_login();
	test_values();
	return tap_done();
}

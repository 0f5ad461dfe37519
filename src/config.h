/* The whole configuration, parsed from argv and the environment into one
 * struct that owns every string it holds (freed by config_free). */
#ifndef VAULTEXEC_CONFIG_H
#define VAULTEXEC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "log.h"
#include "privs.h"
#include "secref.h"

enum kv_version { KV_AUTO = 0, KV_V1 = 1, KV_V2 = 2 };

struct strlist {
	char **v;
	size_t n;
};

/* --map FIELD=ENV */
struct map_spec {
	struct secref ref;
	char *env;
};

/* --env NAME=TEMPLATE and --file DEST=TEMPLATE (template text, parsed later) */
struct tmpl_spec {
	char *name;   /* variable name or destination path */
	char *text;   /* template source */
	char *origin; /* for messages: "--env NAME" or "--file DEST" */
};

struct config {
	/* connection */
	char *addr;
	bool addr_default; /* none given: messages say so */
	char *namespace_;
	char *ca_cert;
	char *ca_path;
	char *client_cert;
	char *client_key;
	char *tls_server_name;
	bool tls_skip_verify;
	uint64_t wait_ms;
	uint64_t request_timeout_ms;

	/* login */
	char *auth_method;
	char *auth_mount;
	char *token; /* from BAO_TOKEN / VAULT_TOKEN; a secret */
	char *token_file;
	char *role_id;
	char *role_id_file;
	char *secret_id; /* a secret; blanked from argv */
	char *secret_id_file;
	bool secret_id_wrapped;
	char *role;
	char *jwt_file;
	char *cert_role;
	bool revoke_token;
	char *token_sink;
	/* Where the token (or its file) came from, for messages: "VAULT_TOKEN",
	 * "--token-file", "VAULT_TOKEN_FILE"...; empty with a login method. */
	char token_origin[64];

	/* secrets */
	char *service;      /* --service NAME, turned into default_path at the end */
	char *default_path; /* from --service or --secret; NULL if neither */
	char *kv_mount;
	enum kv_version kv_version;
	bool kv_version_given; /* forces the version of KV mounts outside kv_mount too */
	struct map_spec *maps;
	size_t nmaps;
	bool map_all;
	char *map_all_prefix;
	struct tmpl_spec *envs;
	size_t nenvs;
	struct tmpl_spec *files;
	size_t nfiles;
	mode_t file_mode;
	bool env_refs;
	bool allow_missing;
	struct strlist keep_env;

	/* vault-env mode only (src/vaultenv.c); no option of their own */
	struct secref *from_paths; /* VAULT_ENV_FROM_PATH: every field, named as it is */
	size_t nfrom_paths;
	bool token_to_env;      /* VAULT_TOKEN=vault:login: the command gets the token */
	uint64_t exec_delay_ms; /* VAULT_ENV_DELAY: sleep before the exec */

	/* supervise: stay the command's parent (see supervise.h) */
	bool supervise;
	uint64_t poll_ms;
	int stop_signal;
	uint64_t stop_timeout_ms;
	int reload_signal; /* 0: none */
	char *reload_url;
	uint64_t debounce_ms;
	uint64_t revoke_delay_ms; /* default: stop_timeout_ms */
	bool token_expiry_keep;   /* --on-token-expiry=keep (default exit) */
	bool revoke_on_exit;

	/* the command's process */
	struct runas run_as; /* --user */
	unsigned keep_fds;   /* --keep-fds: fds 3..3+keep_fds-1 passed on */

	/* control */
	bool check;
	char *install_dir; /* --install: copy ourselves there and exit */
	enum log_level log_level;
	enum log_format log_format;

	/* the child's argv (points into the caller's argv; not owned) */
	char **child_argv;
};

enum cli_result { CLI_OK = 0, CLI_EXIT_SUCCESS = -1 /* --help / --version done */ };

/* Parses argv and environ into cfg.  Returns CLI_OK, CLI_EXIT_SUCCESS
 * after printing help or version, or an exit code after logging one line.
 * May blank secret-bearing arguments in argv. */
int config_parse(struct config *cfg, int argc, char **argv, char **envp);
void config_free(struct config *cfg);

/* The variable that sets option NAME (N bytes, no leading "--"), for
 * messages to users who configure by environment (vault-env mode): the
 * Vault client's VAULT_ name when it has one, else its VAULTEXEC_ name.
 * False when NAME is no option or has no variable (--help). */
bool config_option_var(const char *name, size_t n, char *out, size_t outn);

/* Whether the variable NAME (n bytes, not NUL-terminated) holds a
 * credential vaultexec reads: BAO_TOKEN, VAULT_TOKEN and the VAULTEXEC_
 * form of every secret option (VAULTEXEC_SECRET_ID, VAULTEXEC_ROLE_ID). */
bool config_credential_var(const char *name, size_t n);

/* The value of NAME in envp (NULL if absent). */
const char *env_lookup(char **envp, const char *name);

#endif

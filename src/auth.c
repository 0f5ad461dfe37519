#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int auth_read_secret_file(const char *what, const char *path, char **out)
{
	char *text;
	size_t len;
	if (read_file_limited(path, 64u << 10, &text, &len) < 0) {
		log_error("%s %s: cannot read: %s", what, path,
			  errno == EFBIG ? "file too large" : strerror(errno));
		return EXIT_CONFIG;
	}
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) {
			log_error("%s %s: control character at byte %zu (only a trailing newline is "
				  "allowed)",
				  what, path, i + 1);
			secure_free(text, len);
			return EXIT_CONFIG;
		}
	if (len == 0) {
		log_error("%s %s: file is empty", what, path);
		secure_free(text, len);
		return EXIT_CONFIG;
	}
	*out = text;
	return 0;
}

static int token_prepare(const struct config *cfg, char **credential)
{
	if (cfg->token_file)
		return auth_read_secret_file("--token-file", cfg->token_file, credential);
	if (!cfg->token) {
		log_error("no token: set VAULT_TOKEN (or BAO_TOKEN), or give --token-file");
		return EXIT_CONFIG;
	}
	for (const char *p = cfg->token; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			log_error("VAULT_TOKEN: control character in the token");
			return EXIT_CONFIG;
		}
	*credential = xstrdup(cfg->token);
	return 0;
}

static int token_login(struct vault *v, const struct config *cfg, const char *credential,
		       char **token)
{
	(void)v;
	(void)cfg;
	*token = xstrdup(credential);
	return 0;
}

static const char *const token_scrub[] = {"VAULT_TOKEN", "BAO_TOKEN", NULL};

static const struct auth_method methods[] = {
	{"token", token_prepare, token_login, token_scrub},
};

const struct auth_method *auth_find(const char *name)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

int auth_prepare(const struct config *cfg, struct auth_state *st)
{
	memset(st, 0, sizeof(*st));
	st->method = auth_find(cfg->auth_method);
	if (!st->method) {
		log_error("--auth %s: unknown login method (see --help)", cfg->auth_method);
		return EXIT_USAGE;
	}
	return st->method->prepare(cfg, &st->credential);
}

int auth_login(struct vault *v, const struct config *cfg, struct auth_state *st)
{
	int r = st->method->login(v, cfg, st->credential, &st->token);
	secure_free_str(st->credential);
	st->credential = NULL;
	if (r)
		return r;
	st->logged_in = strcmp(st->method->name, "token") != 0;
	vault_set_token(v, st->token);
	return 0;
}

void auth_clear(struct auth_state *st)
{
	secure_free_str(st->credential);
	secure_free_str(st->token);
	memset(st, 0, sizeof(*st));
}

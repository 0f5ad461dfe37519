/* The pure rules of auth.c: the creation path a wrapping token must have,
 * --auth-mount parsing, and how credential files are trimmed and checked. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "tap.h"

static void test_creation_path(void)
{
	static const struct {
		const char *path, *mount, *role;
		bool want;
		const char *what;
	} cases[] = {
	    {"auth/approle/role/web/secret-id", "approle", "web", true, "the role's endpoint"},
	    {"auth/approle/role/web/secret-id", "approle", NULL, true, "any role without --role"},
	    {"auth/team/ar/role/r1/secret-id", "team/ar", "r1", true, "a nested mount"},
	    {"auth/approle/role/web/secret-id", "approle", "db", false, "another role"},
	    {"auth/approle/role/webx/secret-id", "approle", "web", false, "a longer role name"},
	    {"auth/approle/role/we/secret-id", "approle", "web", false, "a prefix of --role"},
	    {"sys/wrapping/wrap", "approle", NULL, false, "sys/wrapping/wrap"},
	    {"auth/other/role/web/secret-id", "approle", NULL, false, "another mount"},
	    {"auth/approle2/role/web/secret-id", "approle", NULL, false, "a longer mount name"},
	    {"auth/approle/role//secret-id", "approle", NULL, false, "an empty role"},
	    {"auth/approle/role/web/secret-id/x", "approle", NULL, false, "a longer path"},
	    {"auth/approle/role/web/custom-secret-id", "approle", NULL, false, "custom-secret-id"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(auth_creation_path_ok(cases[i].path, cases[i].mount, cases[i].role),
		       cases[i].want, "creation path: %s", cases[i].what);
}

static void test_mount(void)
{
	static const struct {
		const char *in, *want; /* want NULL: refused */
	} cases[] = {
	    {"approle", "approle"},
	    {"/k8s/cluster1/", "k8s/cluster1"},
	    {"//a//", "a"},
	    {"", NULL},
	    {"///", NULL},
	    {"a//b", NULL},
	    {"a/./b", NULL},
	    {"../x", NULL},
	    {"a\nb", NULL},
	    {"a\x7f", NULL},
	    {"my..mount", "my..mount"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = auth_mount_parse(cases[i].in);
		is_str(got, cases[i].want, "--auth-mount case %zu", i);
		free(got);
	}
}

static char tmpdir[] = "/tmp/vaultexec-test-auth-XXXXXX";

static int read_cred(const char *content, size_t len, char **out)
{
	*out = NULL;
	char path[128];
	snprintf(path, sizeof(path), "%s/cred", tmpdir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, content, len) != (ssize_t)len)
		return -1;
	close(fd);
	return auth_read_secret_file("--x-file", path, out);
}

static void test_secret_file(void)
{
	char *v = NULL;
	is_int(read_cred("s.abc\n", 6, &v), 0, "trailing newline");
	is_str(v, "s.abc", "newline trimmed");
	free(v);
	is_int(read_cred("  s.abc \r\n", 10, &v), 0, "spaces and CRLF");
	is_str(v, "s.abc", "surrounding spaces and CRLF trimmed");
	free(v);
	is_int(read_cred("s.a\tbc\n", 7, &v), 78, "inner tab refused");
	is_int(read_cred("s.a\x1b[0m\n", 9, &v), 78, "escape sequence refused");
	is_int(read_cred("s.ab\0c\n", 7, &v), 78, "NUL refused");
	is_int(read_cred(" \n\n", 3, &v), 78, "blank file refused");
	is_int(read_cred("", 0, &v), 78, "empty file refused");
}

int main(void)
{
	log_setup(LOG_ERROR + 0, LOG_TEXT);
	test_creation_path();
	test_mount();
	if (!mkdtemp(tmpdir))
		return 1;
	test_secret_file();
	char path[128];
	snprintf(path, sizeof(path), "%s/cred", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return tap_done();
}

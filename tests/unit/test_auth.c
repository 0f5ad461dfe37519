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
	ok(auth_creation_path_ok("auth/approle/role/web/secret-id", "approle", "web"),
	   "the role's secret-id endpoint");
	ok(auth_creation_path_ok("auth/approle/role/web/secret-id", "approle", NULL),
	   "any role without --role");
	ok(auth_creation_path_ok("auth/team/ar/role/r1/secret-id", "team/ar", "r1"),
	   "a nested mount");
	ok(!auth_creation_path_ok("auth/approle/role/web/secret-id", "approle", "db"),
	   "another role refused");
	ok(!auth_creation_path_ok("auth/approle/role/webx/secret-id", "approle", "web"),
	   "a role that only starts with --role refused");
	ok(!auth_creation_path_ok("auth/approle/role/we/secret-id", "approle", "web"),
	   "a prefix of --role refused");
	ok(!auth_creation_path_ok("sys/wrapping/wrap", "approle", NULL),
	   "sys/wrapping/wrap refused");
	ok(!auth_creation_path_ok("auth/other/role/web/secret-id", "approle", NULL),
	   "another mount refused");
	ok(!auth_creation_path_ok("auth/approle2/role/web/secret-id", "approle", NULL),
	   "a mount that only starts with ours refused");
	ok(!auth_creation_path_ok("auth/approle/role//secret-id", "approle", NULL),
	   "an empty role refused");
	ok(!auth_creation_path_ok("auth/approle/role/web/secret-id/x", "approle", NULL),
	   "a longer path refused");
	ok(!auth_creation_path_ok("auth/approle/role/web/custom-secret-id", "approle", NULL),
	   "custom-secret-id is another endpoint");
}

static const char *mount(const char *m)
{
	static char buf[128];
	char *p = auth_mount_parse(m);
	snprintf(buf, sizeof(buf), "%s", p ? p : "(refused)");
	free(p);
	return buf;
}

static void test_mount(void)
{
	is_str(mount("approle"), "approle", "plain");
	is_str(mount("/k8s/cluster1/"), "k8s/cluster1", "slashes trimmed");
	is_str(mount("//a//"), "a", "repeated outer slashes trimmed");
	is_str(mount(""), "(refused)", "empty");
	is_str(mount("///"), "(refused)", "only slashes");
	is_str(mount("a//b"), "(refused)", "empty segment");
	is_str(mount("a/./b"), "(refused)", "'.' segment");
	is_str(mount("../x"), "(refused)", "'..' segment");
	is_str(mount("a\nb"), "(refused)", "control character");
	is_str(mount("a\x7f"), "(refused)", "DEL");
	is_str(mount("my..mount"), "my..mount", "dots inside a segment are fine");
}

static char tmpdir[] = "/tmp/vaultexec-test-auth-XXXXXX";

static int read_cred(const char *content, size_t len, char **out)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/cred", tmpdir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, content, len) != (ssize_t)len)
		return -1;
	close(fd);
	*out = NULL;
	return auth_read_secret_file("--x-file", path, out);
}

static void test_secret_file(void)
{
	char *v;
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

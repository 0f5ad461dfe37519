#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "privs.h"
#include "tap.h"

static char passwd[] = "/tmp/vx-test-passwd-XXXXXX", group[] = "/tmp/vx-test-group-XXXXXX";

static void write_file(char *tmpl, const char *text)
{
	int fd = mkstemp(tmpl);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0) {
		perror(tmpl);
		exit(1);
	}
}

static char err[300];
static struct runas ra;

/* "uid:gid", or "error: REASON". */
static const char *U(const char *spec)
{
	static char buf[340];
	free(ra.home);
	memset(&ra, 0, sizeof(ra));
	if (privs_parse_user(spec, passwd, group, &ra, err, sizeof(err)) < 0)
		snprintf(buf, sizeof(buf), "error: %s", err);
	else
		snprintf(buf, sizeof(buf), "%lu:%lu", (unsigned long)ra.uid, (unsigned long)ra.gid);
	return buf;
}

int main(void)
{
	write_file(passwd, "root:x:0:0:root:/root:/bin/sh\n"
	                   "# a comment\n"
	                   "broken line\n"
	                   "app:x:1000:1001:App,,,:/home/app:/bin/sh\n"
	                   "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin");
	write_file(group, "root:x:0:\nstaff:x:50:app,other\napp:x:1001:\n");

	is_str(U("app"), "1000:1001", "a name: its uid and group from passwd");
	ok(ra.set, "set");
	is_str(ra.home, "/home/app", "and its home");
	is_str(U("1000"), "1000:1001", "a number with an entry: the entry's group");
	is_str(U("4242"), "4242:4242", "a number without one: the same number, never root's");
	is_str(ra.home, "/", "and / as its home");
	is_str(U("nobody"), "65534:65534", "the last line without a newline");
	is_str(ra.home, "/nonexistent", "its home");
	is_str(U("app:staff"), "1000:50", "a group name");
	is_str(U("app:7"), "1000:7", "a group number");
	is_str(U("4242:4243"), "4242:4243", "both numbers");
	is_str(U("0"), "0:0", "root by number");
	ok(strstr(U("ghost"), "no user ghost in") != NULL, "an unknown user names the file");
	ok(strstr(U("app:ghosts"), "no group ghosts in") != NULL, "an unknown group");
	ok(strstr(U(""), "the user is empty") != NULL, "an empty user");
	ok(strstr(U("app:"), "the group is empty") != NULL, "an empty group");
	ok(strstr(U("4294967295"), "no user 4294967295") != NULL, "(uid_t)-1 is no uid");
	ok(strstr(U("broken"), "no user broken") != NULL, "a line without fields matches nothing");
	unlink(group);
	ok(strstr(U("app:staff"), "cannot read") != NULL, "an unreadable group file");
	is_str(U("app:50"), "1000:50", "numbers need no file");

	struct runas none = {0};
	is_int(privs_check(&none), 0, "no --user: nothing to check");
	struct runas self = {true, getuid(), getgid(), NULL};
	if (geteuid() != 0 || getuid() == 0)
		is_int(privs_check(&self), 0, "switching to what we are is always possible");
	unlink(passwd);
	free(ra.home);
	return tap_done();
}

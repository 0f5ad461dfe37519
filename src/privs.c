#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "util.h"

/* The core size limit we were started with, for the command. */
static struct rlimit saved_core;
static bool core_lowered;

void privs_harden(void)
{
	/* Non-dumpable: /proc/PID/mem, environ, maps and ptrace are refused
	 * to anything without CAP_SYS_PTRACE, the command included. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_warn("cannot make the process non-dumpable: %s", strerror(errno));
	/* With fs.suid_dumpable=2 a non-dumpable process still dumps core
	 * (root-owned); a limit of 0 stops that for files. */
	if (getrlimit(RLIMIT_CORE, &saved_core) == 0 && saved_core.rlim_cur != 0) {
		struct rlimit none = {0, saved_core.rlim_max};
		core_lowered = setrlimit(RLIMIT_CORE, &none) == 0;
	}
}

/* The record of an /etc/passwd or /etc/group file whose name (field 1) is
 * name, or whose id (field 3) is id when name is NULL: field 3 into *id;
 * for passwd (gid not NULL) field 4 into *gid and the home directory
 * (field 6, allocated) into *home.  Returns 0, -1 when there is none, -2
 * when the file cannot be read (errno). */
static int etc_find(const char *path, const char *name, uint64_t *id, uint64_t *gid, char **home)
{
	char *text;
	size_t len;
	if (read_file_limited(path, 16u << 20, &text, &len) < 0)
		return -2;
	int r = -1;
	for (char *line = text; *line && r < 0;) {
		char *end = line + strcspn(line, "\n");
		char *next = *end ? end + 1 : end;
		*end = '\0';
		char *f[7] = {line};
		for (int i = 1; i < 7 && f[i - 1]; i++) {
			char *c = strchr(f[i - 1], ':');
			if (c) {
				*c = '\0';
				f[i] = c + 1;
			}
		}
		uint64_t v, g = 0;
		bool ok = f[2] && parse_u64(f[2], 0, UINT32_MAX - 1, &v) == 0;
		if (gid)
			ok = ok && f[3] && parse_u64(f[3], 0, UINT32_MAX - 1, &g) == 0;
		if (ok && (name ? strcmp(f[0], name) == 0 : v == *id)) {
			*id = v;
			if (gid) {
				*gid = g;
				*home = xstrdup(f[5] && *f[5] ? f[5] : "/");
			}
			r = 0;
		}
		line = next;
	}
	free(text);
	return r;
}

/* One half of USER[:GROUP]: a number, or a name found in path. */
static int resolve(const char *path, const char *what, const char *s, uint64_t *id, uint64_t *gid,
                   char **home, bool *found, char *err, size_t errlen)
{
	*found = false;
	if (!*s) {
		snprintf(err, errlen, "the %s is empty", what);
		return -1;
	}
	bool numeric = parse_u64(s, 0, UINT32_MAX - 1, id) == 0;
	int r = etc_find(path, numeric ? NULL : s, id, gid, home);
	*found = r == 0;
	if (numeric || r == 0)
		return 0;
	if (r == -2)
		snprintf(err, errlen, "%s %s: cannot read %s (%s); give a number", what, s, path,
		         strerror(errno));
	else
		snprintf(err, errlen, "no %s %s in %s; give a number or add it there", what, s,
		         path);
	return -1;
}

int privs_parse_user(const char *spec, const char *passwd, const char *group, struct runas *out,
                     char *err, size_t errlen)
{
	const char *colon = strchr(spec, ':');
	_cleanup_free_ char *user = colon ? xstrndup(spec, (size_t)(colon - spec)) : xstrdup(spec);
	_cleanup_free_ char *home = NULL;
	uint64_t uid, gid = 0;
	bool in_passwd;
	if (resolve(passwd, "user", user, &uid, &gid, &home, &in_passwd, err, errlen) < 0)
		return -1;
	if (colon) {
		bool in_group;
		if (resolve(group, "group", colon + 1, &gid, NULL, NULL, &in_group, err, errlen) <
		    0)
			return -1;
	} else if (!in_passwd) {
		gid = uid; /* a bare number: its own group, never root's */
	}
	free(out->home);
	*out = (struct runas){true, (uid_t)uid, (gid_t)gid,
	                      home ? steal_pointer(&home) : xstrdup("/")};
	return 0;
}

int privs_check(const struct runas *ra)
{
	if (!ra->set || geteuid() == 0 ||
	    (ra->uid == getuid() && ra->uid == geteuid() && ra->gid == getgid() &&
	     ra->gid == getegid()))
		return 0;
	log_error("--user %lu:%lu: switching user needs root, and vaultexec runs as uid %lu; run "
	          "it as root or drop --user",
	          (unsigned long)ra->uid, (unsigned long)ra->gid, (unsigned long)geteuid());
	return EXIT_NOPERM;
}

int privs_for_command(const struct runas *ra)
{
	if (core_lowered)
		setrlimit(RLIMIT_CORE, &saved_core);
	if (!ra->set)
		return 0;
	/* su-exec's order, which cannot stop half-way with more than asked:
	 * the groups go while we still may drop them, the uid last. */
	const char *step = NULL;
	if (setgroups(0, NULL) < 0 && (errno != EPERM || getgroups(0, NULL) != 0))
		step = "setgroups";
	else if (setgid(ra->gid) < 0)
		step = "setgid";
	else if (setuid(ra->uid) < 0)
		step = "setuid";
	if (!step)
		return 0;
	log_error("--user %lu:%lu: %s failed: %s; the command is not started",
	          (unsigned long)ra->uid, (unsigned long)ra->gid, step, strerror(errno));
	return EXIT_NOPERM;
}

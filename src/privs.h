/* What vaultexec keeps from its command and what the command gets back.
 * At start the process is made non-dumpable with no core file (it holds
 * the token and every secret: /proc/PID/mem, environ and ptrace then need
 * CAP_SYS_PTRACE, even for the same uid); right before the command's
 * execve the core limit comes back and, with --user, the user and group
 * change.  execve gives the command its own dumpable state. */
#ifndef VAULTEXEC_PRIVS_H
#define VAULTEXEC_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* --user USER[:GROUP], resolved. */
struct runas {
	bool set;
	uid_t uid;
	gid_t gid;
	char *home; /* the user's home in /etc/passwd, else "/": the command's HOME */
};

/* First thing in main: PR_SET_DUMPABLE 0 and a core size limit of 0 (the
 * soft limit only; the old one is kept for the command). */
void privs_harden(void);

/* USER[:GROUP]: numbers, or names from /etc/passwd and /etc/group (read by
 * hand: a static binary has no NSS).  Without GROUP the group is the
 * user's in /etc/passwd, or for a number it has no entry for, the same
 * number (never ours).  out->home (freed first, then allocated) is the
 * user's home directory, "/" without one.  Returns 0, or -1 with a reason
 * in err. */
int privs_parse_user(const char *spec, const char *passwd, const char *group, struct runas *out,
                     char *err, size_t errlen);

/* Before Vault is asked anything: whether this process can switch to ra
 * at all (root, or ra is what we already are).  Returns 0 or EXIT_NOPERM
 * after logging. */
int privs_check(const struct runas *ra);

/* In the process that execs the command (ourselves in exec mode, the
 * forked child with --supervise), right before execve: the core limit
 * back, then with ra->set setgroups (none), setgid, setuid, each checked.
 * Returns 0 or EXIT_NOPERM after logging: the command must not start. */
int privs_for_command(const struct runas *ra);

#endif

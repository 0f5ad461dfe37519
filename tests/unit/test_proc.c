/* proc.c: the command's process tree.  A shell with two background
 * children is started in its own group; a stop ends the whole group, and
 * a group that ignores the stop signal is SIGKILLed at the deadline.  The
 * test is a child subreaper, as the supervisor is, so the shell's orphans
 * are reaped here. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "tap.h"
#include "util.h"

/* Reaps until the group is gone or ms have passed; ticks the deadline. */
static void reap_for(struct proc *p, uint64_t ms)
{
	uint64_t end = now_ms() + ms;
	while (p->pgid && now_ms() < end) {
		proc_reap(p);
		proc_tick(p, now_ms());
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static void tree(const char *script, int stop_sig, uint64_t timeout_ms, int want_code,
                 const char *what)
{
	char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
	char *envp[] = {"PATH=/usr/bin:/bin", NULL};
	struct proc p = {.cmd = "/bin/sh"};
	is_int(proc_start(&p, "/bin/sh", argv, envp), 0, "%s: started", what);
	pid_t pgid = p.pgid;
	ok(pgid == p.pid && pgid > 0, "%s: the command leads its own group", what);
	ok(getpgid(p.pid) != getpgrp() || errno == ESRCH, "%s: not in our group", what);
	reap_for(&p, 300); /* the children are running */
	ok(kill(-pgid, 0) == 0, "%s: the group runs", what);
	proc_stop(&p, stop_sig, timeout_ms);
	reap_for(&p, timeout_ms + 3000);
	is_int(p.pgid, 0, "%s: no process of the group is left", what);
	ok(kill(-pgid, 0) < 0 && errno == ESRCH, "%s: the kernel agrees", what);
	is_int(proc_exit_code(p.status), want_code, "%s: the command's exit code", what);
}

int main(void)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	tree("sleep 30 & sleep 30 & wait", SIGTERM, 5000, 128 + SIGTERM, "TERM");
	/* The shell and both sleeps ignore TERM: only SIGKILL at the deadline. */
	tree("trap '' TERM; sleep 30 & sleep 30 & wait", SIGTERM, 300, 128 + SIGKILL,
	     "ignores TERM");
	/* The shell exits by itself, leaving its children in the group. */
	tree("sleep 30 & sleep 30 & exit 3", SIGTERM, 5000, 3, "leftovers");
	is_int(proc_exit_code(0), 0, "exit 0");
	is_int(proc_exit_code(3 << 8), 3, "exit 3");
	is_int(proc_exit_code(SIGKILL), 128 + SIGKILL, "killed by SIGKILL");
	return tap_done();
}

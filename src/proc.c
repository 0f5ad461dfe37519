#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "exec.h"
#include "log.h"
#include "signame.h"
#include "util.h"

/* Every fd from first on; below it the inherited ones --keep-fds passes
 * on, made to survive the exec. */
static void close_inherited_fds(unsigned first)
{
	for (unsigned fd = 3; fd < first; fd++)
		fcntl((int)fd, F_SETFD, 0);
#ifdef SYS_close_range
	if (syscall(SYS_close_range, first, ~0U, 0U) == 0)
		return;
#endif
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = (int)first; fd < max; fd++)
		close(fd);
}

/* In the child, between fork and exec: what the command's process gets
 * that the supervisor does not have.  Every signal is still blocked here
 * (the supervisor's mask), SIGTTOU included, so tcsetpgrp from what is
 * for a moment a background group does not stop us.  Returns 0, or an
 * exit code after logging: the command never runs half set up. */
static int child_setup(const struct proc *p, pid_t parent, char *const envp[])
{
	/* Our Vault connections and the signalfd are not the child's. */
	close_inherited_fds(3 + p->keep_fds);
	if (p->keep_fds)
		exec_set_listen_pid(envp, getpid());
	/* Its own group, so a stop reaches every process it starts; the
	 * parent does the same, whichever runs first. */
	setpgid(0, 0);
	if (p->tty)
		tcsetpgrp(STDIN_FILENO, getpid());
	/* --user: the command cannot signal or read a supervisor of another
	 * uid.  Above PR_SET_PDEATHSIG: the kernel clears the parent-death
	 * signal on a uid or gid change. */
	static const struct runas none;
	int r = privs_for_command(p->run_as ? p->run_as : &none);
	if (r)
		return r;

	/* A SIGKILLed supervisor takes its command along.  Only the command
	 * itself gets it: its own children are ended with the group by a
	 * living supervisor, or by the kernel with vaultexec's PID namespace
	 * when vaultexec is PID 1 (a container). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
		log_error("cannot start %s: PR_SET_PDEATHSIG: %s", p->cmd, strerror(errno));
		return EXIT_SOFTWARE;
	}
	if (getppid() != parent) /* the supervisor died before the line above */
		return EXIT_SOFTWARE;
	return 0;
}

static const struct proc *live; /* for kill_at_exit */

/* vaultexec ending on a path that does not wait for the group (die() on
 * out of memory, say) still leaves nothing of the command behind. */
static void kill_at_exit(void)
{
	if (live && live->pgid > 0)
		kill(-live->pgid, SIGKILL);
}

int proc_start(struct proc *p, const char *path, char *const argv[], char *const envp[])
{
	/* The terminal goes to the command only when it is ours to give. */
	p->tty = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		int r = child_setup(p, parent, envp);
		_exit(r ? r : exec_command(path, argv, envp));
	}
	if (pid < 0) {
		log_error("cannot start %s: fork: %s", p->cmd, strerror(errno));
		return EXIT_SOFTWARE;
	}
	/* EACCES once the child has exec'd: it did this itself by then. */
	setpgid(pid, pid);
	if (p->tty)
		tcsetpgrp(STDIN_FILENO, pid);
	if (!live)
		atexit(kill_at_exit);
	live = p;
	p->pid = p->pgid = pid;
	p->kill_at = 0;
	log_info("started %s (pid %ld)", p->cmd, (long)pid);
	return 0;
}

static void send_to(pid_t target, int sig, pid_t shown)
{
	if (kill(target, sig) < 0 && errno != ESRCH)
		log_warn("cannot send %s to %s %ld: %s", signal_name(sig),
		         target < 0 ? "process group" : "pid", (long)shown, strerror(errno));
}

void proc_signal(struct proc *p, int sig)
{
	if (p->pid > 0)
		send_to(p->pid, sig, p->pid);
}

static void signal_group(struct proc *p, int sig)
{
	if (p->pgid > 0)
		send_to(-p->pgid, sig, p->pgid);
	/* A command that left its group (setsid) is still ours to stop. */
	if (p->pid > 0 && getpgid(p->pid) != p->pgid)
		send_to(p->pid, sig, p->pid);
}

void proc_stop(struct proc *p, int sig, uint64_t timeout_ms)
{
	if (!p->kill_at)
		p->kill_at = now_ms() + timeout_ms;
	signal_group(p, sig);
}

void proc_tick(struct proc *p, uint64_t now)
{
	if (!p->kill_at || now < p->kill_at)
		return;
	if (p->pid)
		log_warn("%s (pid %ld) did not stop within --stop-timeout; sending SIGKILL to "
		         "its process group",
		         p->cmd, (long)p->pid);
	else
		log_warn("processes of %s's group (pgid %ld) did not stop within --stop-timeout; "
		         "sending SIGKILL",
		         p->cmd, (long)p->pgid);
	signal_group(p, SIGKILL);
	p->kill_at = UINT64_MAX; /* sent: no second stop, no second SIGKILL */
}

int proc_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EXIT_SOFTWARE;
}

/* Once the command's process group is empty: the tree is gone, and the
 * terminal's foreground comes back to us. */
static void check_group(struct proc *p)
{
	if (p->pid || !p->pgid || kill(-p->pgid, 0) == 0 || errno != ESRCH)
		return;
	log_debug("no process of %s's group is left", p->cmd);
	p->pgid = 0;
	p->kill_at = 0;
	if (p->tty)
		tcsetpgrp(STDIN_FILENO, getpgrp());
	p->tty = false;
}

void proc_reap(struct proc *p)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			break;
		if (pid != p->pid) {
			log_debug("reaped orphan pid %ld", (long)pid);
			continue;
		}
		p->pid = 0;
		p->status = status;
		if (WIFSIGNALED(status))
			log_info("%s (pid %ld) was killed by %s", p->cmd, (long)pid,
			         signal_name(WTERMSIG(status)));
		else
			log_info("%s (pid %ld) exited with code %d", p->cmd, (long)pid,
			         proc_exit_code(status));
	}
	check_group(p);
}

#include "proc.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"
#include "log.h"
#include "signame.h"
#include "util.h"

static void close_inherited_fds(void)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
		return;
#endif
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = 3; fd < max; fd++)
		close(fd);
}

/* In the child, between fork and exec: everything the command's process
 * gets that the supervisor does not have.  Returns 0, or an exit code
 * after logging (the child then ends with it, never running the command
 * half set up). */
static int child_setup(void)
{
	/* Our Vault connections and the signalfd are not the child's. */
	close_inherited_fds();
	return 0;
}

int proc_start(struct proc *p, const char *path, char *const argv[], char *const envp[])
{
	pid_t pid = fork();
	if (pid == 0) {
		int r = child_setup();
		_exit(r ? r : exec_command(path, argv, envp));
	}
	if (pid < 0) {
		log_error("cannot start %s: fork: %s", p->cmd, strerror(errno));
		return EXIT_SOFTWARE;
	}
	p->pid = pid;
	log_info("started %s (pid %ld)", p->cmd, (long)pid);
	return 0;
}

void proc_signal(struct proc *p, int sig)
{
	if (p->pid > 0 && kill(p->pid, sig) < 0 && errno != ESRCH)
		log_warn("cannot send %s to pid %ld: %s", signal_name(sig), (long)p->pid,
		         strerror(errno));
}

void proc_stop(struct proc *p, int sig, uint64_t timeout_ms)
{
	p->kill_at = now_ms() + timeout_ms;
	proc_signal(p, sig);
}

void proc_tick(struct proc *p, uint64_t now)
{
	if (!p->kill_at || now < p->kill_at)
		return;
	log_warn("%s (pid %ld) did not stop within --stop-timeout; sending SIGKILL", p->cmd,
	         (long)p->pid);
	proc_signal(p, SIGKILL);
	p->kill_at = 0;
}

int proc_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EXIT_SOFTWARE;
}

void proc_reap(struct proc *p)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		if (pid != p->pid) {
			log_debug("reaped orphan pid %ld", (long)pid);
			continue;
		}
		p->pid = 0;
		p->status = status;
		p->kill_at = 0;
		if (WIFSIGNALED(status))
			log_info("%s (pid %ld) was killed by %s", p->cmd, (long)pid,
			         signal_name(WTERMSIG(status)));
		else
			log_info("%s (pid %ld) exited with code %d", p->cmd, (long)pid,
			         proc_exit_code(status));
	}
}

/* The command's process tree under --supervise: started in its own
 * process group (fork, child setup, exec), signalled, stopped with a
 * SIGKILL deadline, reaped until no process of the group is left.  Knows
 * nothing of Vault or secrets; supervise.c decides when. */
#ifndef VAULTEXEC_PROC_H
#define VAULTEXEC_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "privs.h"

struct proc {
	const char *cmd;            /* for log lines */
	pid_t pid;                  /* the command; 0 once it has ended */
	pid_t pgid;                 /* its process group; 0 once no process is left in it */
	int status;                 /* the command's wait status */
	uint64_t kill_at;           /* SIGKILL deadline of a stop; 0: none; UINT64_MAX: sent */
	bool tty;                   /* the command has the terminal's foreground */
	const struct runas *run_as; /* --user: the command's uid and gid */
	unsigned keep_fds;          /* --keep-fds: inherited fds 3.. passed on */
};

/* Starts path with argv and envp in a child that leads a new process
 * group (and takes the terminal's foreground when vaultexec has it).
 * Returns 0, or EXIT_SOFTWARE after logging. */
int proc_start(struct proc *p, const char *path, char *const argv[], char *const envp[]);

/* Sends sig to the command alone: forwarded and reload signals, which the
 * command passes on as it sees fit. */
void proc_signal(struct proc *p, int sig);

/* Sends sig to the command's whole process group, and SIGKILL to the group
 * timeout_ms from now (a deadline already set is kept). */
void proc_stop(struct proc *p, int sig, uint64_t timeout_ms);

/* SIGKILL to the group once the stop deadline has passed (logged). */
void proc_tick(struct proc *p, uint64_t now);

/* Reaps every child that has ended: the command (pid becomes 0, its status
 * kept and logged) and every orphan re-parented to us as PID 1 or child
 * subreaper.  pgid becomes 0 once the group is empty. */
void proc_reap(struct proc *p);

/* The exit code a wait status stands for: the code, or 128+N for signal N. */
int proc_exit_code(int status);

#endif

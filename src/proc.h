/* The command's process under --supervise: started (fork, child setup,
 * exec), signalled, stopped with a deadline, reaped.  Knows nothing of
 * Vault or secrets; supervise.c decides when. */
#ifndef VAULTEXEC_PROC_H
#define VAULTEXEC_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct proc {
	const char *cmd;  /* for log lines */
	pid_t pid;        /* 0: none running */
	int status;       /* last wait status */
	uint64_t kill_at; /* SIGKILL deadline of a stop; 0: none */
};

/* Starts path with argv and envp in a child.  Returns 0, or
 * EXIT_SOFTWARE after logging. */
int proc_start(struct proc *p, const char *path, char *const argv[], char *const envp[]);

/* Sends sig to the command (nothing when none runs). */
void proc_signal(struct proc *p, int sig);

/* Sends sig and sets the SIGKILL deadline timeout_ms from now. */
void proc_stop(struct proc *p, int sig, uint64_t timeout_ms);

/* SIGKILL once the stop deadline has passed (logged).  */
void proc_tick(struct proc *p, uint64_t now);

/* Reaps every child that has ended: the command (p->pid becomes 0 and its
 * status is kept, logged), and as PID 1 or child subreaper any orphan. */
void proc_reap(struct proc *p);

/* The exit code a wait status stands for: the code, or 128+N for signal N. */
int proc_exit_code(int status);

#endif

/* Replacing ourselves with the command. */
#ifndef VAULTEXEC_EXEC_H
#define VAULTEXEC_EXEC_H

/* Finds argv0 the way execvp does (through PATH unless it holds a '/'),
 * without a shell fallback.  Returns 0 with the path, or 127 / 126 after
 * logging. */
int exec_resolve(const char *argv0, const char *path_env, char **out);

/* Remembers which signals we were started with ignored, so that
 * exec_command gives the child the same; called before we set any. */
void exec_save_signals(void);

/* Restores what the child should inherit (signal mask and dispositions,
 * fds 0-2) and execve()s.  Returns only on failure: 126 or 127. */
int exec_command(const char *path, char *const argv[], char *const envp[]);

#include <stddef.h>
#include <sys/types.h>

/* Writes pid into the LISTEN_PID entry that env_build left room for with
 * --keep-fds (no allocation: called between fork and exec). */
void exec_set_listen_pid(char *const envp[], pid_t pid);

/* What execve() accepts, in bytes including each string's NUL. */
struct exec_limits {
	size_t max_string; /* one argument or NAME=VALUE string */
	size_t max_total;  /* all strings plus the pointer arrays */
};
/* The limits of the running kernel and our stack rlimit. */
void exec_limits_get(struct exec_limits *l);

/* Would execve(path, argv, envp) fail with E2BIG?  Checked before any
 * file is written and in --check, so the answer is 65 naming the variable
 * and its size rather than 126 from the kernel.  Returns 0 or EXIT_DATA
 * after logging (never a value). */
int exec_check_limits(const char *path, char *const argv[], char *const envp[],
                      const struct exec_limits *l);

#endif

/* Replacing ourselves with the command. */
#ifndef VAULTEXEC_EXEC_H
#define VAULTEXEC_EXEC_H

/* Finds argv0 the way execvp does (through PATH unless it holds a '/'),
 * without a shell fallback.  Returns 0 with the path, or 127 / 126 after
 * logging. */
int exec_resolve(const char *argv0, const char *path_env, char **out);

/* Restores what the child should inherit (signal mask and dispositions,
 * fds 0-2) and execve()s.  Returns only on failure: 126 or 127. */
int exec_command(const char *path, char *const argv[], char *const envp[]);

#endif

#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* 0 if executable; else errno-like reason. */
static int check_exec(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return errno;
	if (S_ISDIR(st.st_mode))
		return EISDIR;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return EACCES;
	return 0;
}

int exec_resolve(const char *argv0, const char *path_env, char **out)
{
	if (!*argv0) {
		log_error("empty command name");
		return EXIT_NOTFOUND;
	}
	if (strchr(argv0, '/')) {
		int e = check_exec(argv0);
		if (e == 0) {
			*out = xstrdup(argv0);
			return 0;
		}
		log_error("%s: %s", argv0, e == ENOENT ? "command not found" : strerror(e));
		return e == ENOENT || e == ENOTDIR ? EXIT_NOTFOUND : EXIT_NOEXEC;
	}
	if (!path_env)
		path_env = "/usr/local/bin:/usr/bin:/bin";
	bool denied = false;
	for (const char *p = path_env;;) {
		const char *c = strchr(p, ':');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		/* An empty PATH entry means the current directory. */
		_cleanup_free_ char *cand =
		    n ? xasprintf("%.*s/%s", (int)n, p, argv0) : xasprintf("./%s", argv0);
		int e = check_exec(cand);
		if (e == 0) {
			*out = steal_pointer(&cand);
			return 0;
		}
		if (e == EACCES || e == EISDIR)
			denied = true;
		if (!c)
			break;
		p = c + 1;
	}
	if (denied) {
		log_error("%s: found in PATH but not executable", argv0);
		return EXIT_NOEXEC;
	}
	log_error("%s: command not found in PATH", argv0);
	return EXIT_NOTFOUND;
}

static void ensure_std_fds(void)
{
	/* A child expects 0-2 open; if we were started without them, give
	 * it /dev/null rather than let its first open() become stdout. */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
			if (n >= 0 && n != fd) {
				dup2(n, fd);
				close(n);
			}
		}
}

int exec_command(const char *path, char *const argv[], char *const envp[])
{
	ensure_std_fds();
	/* Unblock first, while our handlers are still in place: a signal held
	 * back since the files were written ends us here, before the exec (as
	 * PID 1 a default disposition would ignore it). */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Caught signals go back to default by themselves on execve; ignored
	 * ones (SIGPIPE) do not. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	int sigs[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);

	execve(path, argv, envp);
	int e = errno;
	if (e == ENOEXEC)
		log_error("%s: not an executable format (a script without a #! line? there is no "
		          "shell fallback)",
		          path);
	else
		log_error("%s: cannot execute: %s", path, strerror(e));
	return e == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC;
}

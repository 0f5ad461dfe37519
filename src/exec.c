#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

/* The dispositions exec_command hands back, and which of them were
 * SIG_IGN when we started (bit i for restored_signals[i]). */
static const int restored_signals[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT};
static unsigned inherited_ignored;

void exec_save_signals(void)
{
	struct sigaction old;
	inherited_ignored = 0;
	for (size_t i = 0; i < ARRAY_SIZE(restored_signals); i++)
		if (sigaction(restored_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			inherited_ignored |= 1u << i;
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
	 * ones (our SIGPIPE) do not.  Each gets back what we were given: a
	 * signal ignored by whoever started us (nohup, a shell's background
	 * job) stays ignored, as it would with no vaultexec in between. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(restored_signals); i++) {
		sa.sa_handler = (inherited_ignored & (1u << i)) ? SIG_IGN : SIG_DFL;
		sigaction(restored_signals[i], &sa, NULL);
	}

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

void exec_limits_get(struct exec_limits *l)
{
	/* Linux: one string at most 32 pages (MAX_ARG_STRLEN); all strings
	 * plus the pointer arrays at most a quarter of the stack rlimit,
	 * capped at 6 MiB and never under 128 KiB (fs/exec.c). */
	long page = sysconf(_SC_PAGESIZE);
	l->max_string = (size_t)(page > 0 ? page : 4096) * 32;
	size_t total = (size_t)6 << 20;
	struct rlimit rl;
	if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < total)
		total = (size_t)(rl.rlim_cur / 4);
	if (total < 131072)
		total = 131072;
	l->max_total = total;
}

int exec_check_limits(const char *path, char *const argv[], char *const envp[],
                      const struct exec_limits *l)
{
	size_t total = strlen(path) + 1, nptr = 0;
	const char *largest = NULL;
	size_t largest_len = 0;
	for (int pass = 0; pass < 2; pass++) {
		char *const *v = pass ? envp : argv;
		for (size_t i = 0; v && v[i]; i++) {
			size_t len = strlen(v[i]) + 1;
			total += len;
			nptr++;
			const char *eq = pass ? strchr(v[i], '=') : NULL;
			int nlen = eq ? (int)(eq - v[i]) : 0;
			if (len > l->max_string) {
				if (pass)
					log_error(
					    "variable %.*s is %zu bytes, over the kernel's "
					    "limit of %zu bytes for one NAME=VALUE string: pass "
					    "it in a file with --file instead",
					    nlen, v[i], len - 2 - (size_t)nlen, l->max_string);
				else
					log_error(
					    "argument %zu of the command is %zu bytes, over "
					    "the kernel's limit of %zu bytes for one argument",
					    i, len - 1, l->max_string);
				return EXIT_DATA;
			}
			if (pass && len > largest_len) {
				largest = v[i];
				largest_len = len;
			}
		}
	}
	size_t need = total + nptr * sizeof(char *);
	if (need > l->max_total) {
		const char *eq = largest ? strchr(largest, '=') : NULL;
		log_error(
		    "the environment and arguments of the command come to %zu bytes, over the "
		    "kernel's limit of %zu (a quarter of the stack size limit, ulimit -s); "
		    "the largest variable is %.*s (%zu bytes): pass large values in files "
		    "with --file instead",
		    need, l->max_total, eq ? (int)(eq - largest) : 0, largest ? largest : "",
		    eq ? largest_len - 2 - (size_t)(eq - largest) : 0);
		return EXIT_DATA;
	}
	return 0;
}

void exec_set_listen_pid(char *const envp[], pid_t pid)
{
	for (char *const *e = envp; e && *e; e++) {
		if (strncmp(*e, "LISTEN_PID=", 11) != 0)
			continue;
		char digits[24];
		size_t n = 0;
		for (unsigned long v = (unsigned long)pid; n == 0 || v; v /= 10)
			digits[n++] = (char)('0' + v % 10);
		char *out = *e + 11;
		while (n)
			*out++ = digits[--n];
		*out = '\0';
		return;
	}
}

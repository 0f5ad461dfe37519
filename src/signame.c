#include "signame.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <strings.h>

#include "util.h"

static const struct {
	int sig;
	const char *name;
} sig_names[] = {
    {SIGHUP, "HUP"},   {SIGINT, "INT"},       {SIGQUIT, "QUIT"}, {SIGUSR1, "USR1"},
    {SIGUSR2, "USR2"}, {SIGTERM, "TERM"},     {SIGKILL, "KILL"}, {SIGALRM, "ALRM"},
    {SIGCONT, "CONT"}, {SIGSTOP, "STOP"},     {SIGTSTP, "TSTP"}, {SIGTTIN, "TTIN"},
    {SIGTTOU, "TTOU"}, {SIGWINCH, "WINCH"},   {SIGURG, "URG"},   {SIGXCPU, "XCPU"},
    {SIGXFSZ, "XFSZ"}, {SIGVTALRM, "VTALRM"}, {SIGPROF, "PROF"}, {SIGIO, "IO"},
    {SIGPWR, "PWR"},   {SIGPIPE, "PIPE"},     {SIGCHLD, "CHLD"}, {SIGABRT, "ABRT"},
    {SIGSEGV, "SEGV"}, {SIGBUS, "BUS"},       {SIGFPE, "FPE"},   {SIGILL, "ILL"},
    {SIGTRAP, "TRAP"}, {SIGSYS, "SYS"},
};
#define NSIGNAMES (ARRAY_SIZE(sig_names))

int signal_parse(const char *s)
{
	uint64_t n;
	if (parse_u64(s, 1, (uint64_t)SIGRTMAX, &n) == 0)
		return (int)n;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < NSIGNAMES; i++)
		if (strcasecmp(s, sig_names[i].name) == 0)
			return sig_names[i].sig;
	return -1;
}

const char *signal_name(int sig)
{
	static char buf[32];
	for (size_t i = 0; i < NSIGNAMES; i++)
		if (sig_names[i].sig == sig) {
			snprintf(buf, sizeof(buf), "SIG%s", sig_names[i].name);
			return buf;
		}
	snprintf(buf, sizeof(buf), "signal %d", sig);
	return buf;
}
